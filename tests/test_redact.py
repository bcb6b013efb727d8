"""No secret and no local path in anything meant to be shared (``hdtf.redact``): the rules, then every file that a
prepare (CLI and builder) + export (both formats) + save_pretrained run writes, scanned for the secrets of its URL
template and for the absolute folder it ran in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fixtures.sources import hdtf_sources  # noqa: F401

from hdtf.redact import MASK, hide_credentials, redact_text, redact_url, scrub, shareable_path

PASSWORD, TOKEN, SIGNATURE = "pa55-w0rd-9f3e", "tok-4c1d8b77e0", "sig-0a9b8c7d"


@pytest.mark.parametrize("url, want", [
    ("http://user:pw@host:8080/v/{name}.mp4", "http://user:***@host:8080/v/{name}.mp4"),
    ("https://ghp_abc123@github.com/x/y", "https://***@github.com/x/y"),
    ("https://h/{subset}_{name}.mp4?token=abc&v={youtube_id}",
     "https://h/{subset}_{name}.mp4?token=***&v={youtube_id}"),
    ("https://b.s3.amazonaws.com/k.mp4?X-Amz-Credential=AK%2F1&X-Amz-Signature=ff&x=1",
     "https://b.s3.amazonaws.com/k.mp4?X-Amz-Credential=***&X-Amz-Signature=***&x=1"),
    ("https://a.blob.core.windows.net/c/v.mp4?sv=2020&sig=abc%3D&se=2030",
     "https://a.blob.core.windows.net/c/v.mp4?sv=2020&sig=***&se=2030"),
    ("https://h/x?api_key=1&apikey=2&access_token=3&key=4",
     "https://h/x?api_key=***&apikey=***&access_token=***&key=***"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ"),
    ("socks5://proxyuser:hunter2@10.0.0.1:1080", "socks5://proxyuser:***@10.0.0.1:1080"),
    # a proxy as yt-dlp takes it, without a scheme
    ("alice:hunter2@proxy.example:3128", "alice:***@proxy.example:3128"),
    ("tok-4c1d@proxy.example:3128", "***@proxy.example:3128"),
    ("alice:p/w#x?y)z@proxy.example:3128", "alice:***@proxy.example:3128"),
    # signed-URL and token query keys
    ("https://cdn.example/v.mp4?jwt=eyJh.eyJz.sg&hmac=9f3e&x=1", "https://cdn.example/v.mp4?jwt=***&hmac=***&x=1"),
    ("https://a.akamaized.net/v.mp4?hdnts=exp=1~acl=/*~hmac=ab12&hdnea=st=1~hmac=cd",
     "https://a.akamaized.net/v.mp4?hdnts=***&hdnea=***"),
    # fragments: never sent, often a key
    ("https://h/cb#access_token=ya29.a0&token_type=Bearer", "https://h/cb#***"),
    ("https://mega.example/file/ID#KEY-Abc_123", "https://mega.example/file/ID#***"),
    # passwords written with / # ? ) unescaped
    ("https://alice:pa/ss@host/v/{name}.mp4", "https://alice:***@host/v/{name}.mp4"),
    ("https://alice:pa#ss@host:8080/v.mp4?x=1", "https://alice:***@host:8080/v.mp4?x=1"),
    ("https://alice:pa?ss@host/v.mp4", "https://alice:***@host/v.mp4"),
    ("https://alice:pa)ss@host/v.mp4", "https://alice:***@host/v.mp4"),
    ("https://alice:p@/?#)s@[::1]:8080/v.mp4", "https://alice:***@[::1]:8080/v.mp4"),
    # no credentials: as written, '@' in paths and queries included
    ("https://host:8080/v.mp4?email=a@b.example", "https://host:8080/v.mp4?email=a@b.example"),
    ("https://medium.example/@someone/post", "https://medium.example/@someone/post"),
    ("user/repo", "user/repo"),
    ("C:/videos/x.mp4", "C:/videos/x.mp4"),
])
def test_redact_url(url, want):
    assert redact_url(url) == want


def test_redact_text_finds_a_password_with_brackets_and_slashes():
    text = "ERROR: proxy http://alice:pa)s/s#w?d@proxy:3128 refused (see https://h/a.mp4?hdnts=exp~hmac=1)."
    assert redact_text(text) == (f"ERROR: proxy http://alice:{MASK}@proxy:3128 refused "
                                 f"(see https://h/a.mp4?hdnts={MASK}).")
    # what urllib3 says of a proxy it cannot parse: a piece of it, found through the proxy it was given
    said = "Failed to parse: 'alice:pa)s' is not a valid host or port"
    hidden = hide_credentials(said, "alice:pa)s/s#w?d@proxy:3128")
    assert hidden == f"Failed to parse: 'alice:{MASK}' is not a valid host or port"


def test_redact_text_urls_root_and_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    root = tmp_path / "prepared"
    text = (f"ERROR: unable to fetch http://u:{PASSWORD}@h/a.mp4?token={TOKEN}: 404; wrote {root}/raw/a.mp4 "
            f"in {root}. Also {root}2/x and /home/someone/cookies.txt")
    got = redact_text(text, root)
    assert got == (f"ERROR: unable to fetch http://u:{MASK}@h/a.mp4?token={MASK}: 404; wrote raw/a.mp4 in .. "
                   f"Also {root}2/x and ~/cookies.txt")
    assert scrub({"a": [text, 3, None], "b": {"c": text}}, root) == {"a": [got, 3, None], "b": {"c": got}}


def test_shareable_path(tmp_path):
    assert shareable_path(tmp_path / "out", tmp_path / "out") == "."
    assert shareable_path(tmp_path / "out" / "raw" / "x.mp4", tmp_path / "out") == "raw/x.mp4"
    assert shareable_path(tmp_path / "elsewhere" / "cookies.txt", tmp_path / "out") == "cookies.txt"
    assert shareable_path(None, tmp_path) is None


@pytest.fixture(scope="module")
def shared_run(hdtf_sources, tmp_path_factory):  # noqa: F811
    """Everything a user shares, made under one folder with a URL template that carries a password, a token and a
    signature, a raw-video folder and a cookies file."""
    import datasets

    import hdtf  # noqa: F401 - registers the builders
    from hdtf.cli import main
    from hdtf.loopback import serve_directory
    from hdtf.modeling.generator import HDTFGenerator

    root = tmp_path_factory.mktemp("shared-run")
    (root / "raw-videos").mkdir()
    cookies = root / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n")
    served: list = []
    with serve_directory(hdtf_sources.served, served) as base:
        template = (base.replace("http://", f"http://hdtf:{PASSWORD}@") + "/{subset}_{name}.mp4"
                    f"?token={TOKEN}&sig={SIGNATURE}")
        prepare = ["prepare", "--metadata-dir", str(hdtf_sources.metadata), "--output", str(root / "prepared"),
                   "--url-template", template, "--raw-dir", str(root / "raw-videos"), "--cookies", str(cookies),
                   "--keep-raw"]
        assert main(prepare) == 0
        # Again: the job compares the recorded (redacted) URL of the unavailable video with the one it would fetch.
        first = len(served)
        assert main(prepare) == 0
        (root / "again.json").write_text(json.dumps([r.path for r in served[first:]]))
        built = datasets.load_dataset("hdtf", "clips", split="train", metadata_dir=str(hdtf_sources.metadata),
                                      url_template=template, output_dir=str(root / "built"),
                                      cache_dir=str(tmp_path_factory.mktemp("cache")))
    assert len(built) == 3
    for to in ("parquet", "webdataset"):
        assert main(["export", str(root / "prepared"), "--to", to, "--output", str(root / f"export-{to}")]) == 0
    generator = HDTFGenerator.from_preset("tiny", seed=0)
    generator.save_pretrained(root / "model")
    HDTFGenerator.from_pretrained(root / "model").save_pretrained(root / "model-again")
    return root


def test_no_secret_and_no_local_path_in_any_shared_file(shared_run):
    root = shared_run
    shared = [p for p in sorted(root.rglob("*")) if p.is_file() and p.name not in ("cookies.txt", "again.json")]
    names = {p.relative_to(root).as_posix() for p in shared}
    # what is scanned: bookkeeping of both writers, clips, both exports with their cards, both model folders
    assert {"prepared/manifest.json", "built/manifest.json", "prepared/status/RD_Gamma.json",
            "export-parquet/README.md", "export-parquet/LICENSE.md", "export-webdataset/README.md",
            "model/README.md", "model/generator_config.json", "model-again/animation2video/config.json",
            "model-again/README.md"} <= names
    assert any(n.startswith("export-webdataset/train-") for n in names)
    assert any(n.startswith("prepared/raw/") for n in names), "--keep-raw: the raw downloads are scanned too"
    secrets = [PASSWORD, TOKEN, SIGNATURE, str(root), str(root.resolve())]
    for path in shared:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{path.relative_to(root)} holds {secret!r}"


def test_the_record_still_says_where_and_how(shared_run):
    """Redacted, not erased: the shape of the URL, the option values and the failure reasons stay readable."""
    manifest = json.loads((shared_run / "prepared" / "manifest.json").read_text())
    options = manifest["options"]
    assert options["url_template"].startswith(f"http://hdtf:{MASK}@127.0.0.1:")
    assert options["url_template"].endswith(f"/{{subset}}_{{name}}.mp4?token={MASK}&sig={MASK}")
    assert (options["output_dir"], options["raw_dir"], options["cookies"]) == (".", "raw-videos", "cookies.txt")
    gamma = json.loads((shared_run / "prepared" / "status" / "RD_Gamma.json").read_text())
    assert gamma["status"] == "unavailable" and "404" in gamma["reason"]
    assert gamma["download"]["url"].endswith(f"/RD_Gamma.mp4?token={MASK}&sig={MASK}")
    alpha = json.loads((shared_run / "prepared" / "status" / "RD_Alpha.json").read_text())
    assert [c["path"] for c in alpha["clips"]] == ["clips/RD_Alpha_000.mp4", "clips/RD_Alpha_001.mp4"]


def test_an_unavailable_video_is_not_tried_again_with_a_redacted_record(shared_run):
    requested = json.loads((shared_run / "again.json").read_text())
    assert not [path for path in requested if "Gamma" in path], "recorded as unavailable: not requested again"


def test_model_cards_say_how_the_weights_were_made(shared_run):
    text = (shared_run / "model" / "README.md").read_text()
    meta = yaml.safe_load(text.split("---\n", 2)[1])
    assert meta["library_name"] == "hdtf" and meta["pipeline_tag"] == "image-to-video"
    assert meta["license"] == "apache-2.0" and "hdtf" in meta["tags"] and "talking-face" in meta["tags"]
    assert "## How the weights were made" in text and "Untrained" in text
    assert 'HDTFGenerator.from_pretrained("PATH_OR_REPO")' in text, "a usage snippet"


def test_trained_generator_card_names_data_steps_and_hardware():
    from hdtf.modeling.model_card import build_model_card, describe_hardware, generator_origin

    facts = {"stage": "animation2video", "steps": 30, "train_batch_size": 2, "gradient_accumulation_steps": 1,
             "learning_rate": 1e-4, "resolution": 128, "data": "user/hdtf-clips (clips)", "clips": 3,
             "seconds": 90.0, "dataset": "user/hdtf-clips", "hardware": describe_hardware()}
    origin = generator_origin({"trained": True, "training": facts})
    card = build_model_card("G", "s", {}, "x = 1", origin=origin, library_name="hdtf", pipeline_tag="image-to-video")
    meta = yaml.safe_load(card.split("---\n", 2)[1])
    assert meta["datasets"] == ["user/hdtf-clips"] and meta["pipeline_tag"] == "image-to-video"
    assert "30 optimisation steps on 3 clip(s) of user/hdtf-clips (clips)" in card
    assert f"on {describe_hardware()}, in 1.5 min" in card and "CPU (" in describe_hardware()


def test_options_manifest_record_is_shareable(tmp_path):
    from hdtf.options import PrepareOptions

    options = PrepareOptions(output_dir=tmp_path / "out", raw_dir=tmp_path / "out" / "mine",
                             cookies=tmp_path / "c.txt", proxy=f"http://me:{PASSWORD}@proxy:3128",
                             url_template=f"https://cdn/{{name}}.mp4?key={TOKEN}")
    data = options.to_json()
    assert (data["output_dir"], data["raw_dir"], data["cookies"]) == (".", "mine", "c.txt")
    assert data["proxy"] == f"http://me:{MASK}@proxy:3128"
    assert data["url_template"] == f"https://cdn/{{name}}.mp4?key={MASK}"
    assert str(tmp_path) not in json.dumps(data)
    assert options.output_dir == tmp_path / "out", "only the record is redacted, not the options themselves"


def test_status_and_manifest_writers_redact(tmp_path):
    from hdtf.layout import Layout
    from hdtf.records import VideoSpec

    layout = Layout(tmp_path / "run")
    layout.make_dirs()
    video = VideoSpec("hdtf", "RD", "X", f"https://h/x?token={TOKEN}", "x", None, ())
    layout.write_status(video, "failed", f"ffmpeg: {layout.root}/raw/x.mp4: Invalid data", [],
                        download={"url": f"http://u:{PASSWORD}@h/x.mp4"})
    text = layout.status_file(video.key).read_text()
    assert TOKEN not in text and PASSWORD not in text and str(tmp_path) not in text
    status = json.loads(text)
    assert status["reason"] == "ffmpeg: raw/x.mp4: Invalid data"
    assert status["download"]["url"] == f"http://u:{MASK}@h/x.mp4"
    layout.write_manifest({"note": f"see {layout.root}/status"})
    assert json.loads(layout.manifest_file.read_text()) == {"note": "see status"}


def test_shared_paths_are_relative(shared_run):
    """Paths a record keeps are relative to the folder they live in, so the folder can move or be shared."""
    for path in (shared_run / "prepared" / "status").glob("*.json"):
        for clip in json.loads(path.read_text())["clips"]:
            for key in ("path", "audio_path", "landmarks_path"):
                assert clip.get(key) is None or not Path(clip[key]).is_absolute()


def test_shareable_name(tmp_path):
    from hdtf.redact import shareable_name

    (tmp_path / "my-model").mkdir()
    assert shareable_name(tmp_path / "my-model") == "my-model"
    assert shareable_name("user/hdtf-generator") == "user/hdtf-generator"
    assert shareable_name(f"https://me:{PASSWORD}@h/x?token={TOKEN}") == f"https://me:{MASK}@h/x?token={MASK}"


@pytest.mark.parametrize("proxy", [f"alice:{PASSWORD}@127.0.0.1:9", f"http://alice:{PASSWORD}/#?)x@127.0.0.1:9"])
def test_the_proxy_is_recorded_without_its_password(hdtf_sources, tmp_path, proxy):  # noqa: F811
    """A run through a proxy (here one that refuses, so the video fails): the manifest keeps the proxy's shape, and
    neither it nor a status holds the password."""
    from hdtf.cli import main

    out = tmp_path / "prepared"
    assert main(["prepare", "--metadata-dir", str(hdtf_sources.metadata), "--subsets", "RD", "--videos", "Alpha",
                 "--url-template", "http://127.0.0.1:9/{subset}_{name}.mp4", "--output", str(out), "--proxy", proxy,
                 "--no-progress"]) != 0
    recorded = json.loads((out / "manifest.json").read_text())["options"]["proxy"]
    assert recorded == ("alice:" if "://" not in proxy else "http://alice:") + f"{MASK}@127.0.0.1:9"
    status = json.loads((out / "status" / "RD_Alpha.json").read_text())
    assert status["status"] == "failed" and status["reason"]
    for path in (out / "manifest.json", *(out / "status").iterdir()):
        assert PASSWORD.encode() not in path.read_bytes(), path.name
