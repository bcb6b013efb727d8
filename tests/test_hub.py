"""Hub round trips end to end, against the loopback Hub stand-in (tests/fixtures/hub_server.py) with the unmodified
``huggingface_hub``, ``transformers`` and ``datasets`` clients: they pin today's behaviour of every place hdtf talks to
the Hub (``HDTFGenerator.push_to_hub``/``save_pretrained(push_to_hub=True)``/``from_pretrained``, ``examples/train.py
--push_to_hub``, ``hdtf export --push-to-hub``, ``hdtf convert-checkpoint --push-to-hub``) so that moving that code
can be shown harmless.

Every client runs in a subprocess with the environment of ``client_env`` (the clients read ``HF_ENDPOINT`` and the
offline flags at import, and this session runs offline): see the stand-in's docstring. What was pushed is read from
the stand-in's memory; what a client pulled comes back through files the subprocess writes.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fixtures.hdtf_clips import hdtf_clips  # noqa: F401
from fixtures.hub_server import TOKEN, USER, client_env
from fixtures.prepared_faces import prepared_faces  # noqa: F401
from fixtures.sources import hdtf_sources  # noqa: F401

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300


def _python(hub, home: Path, code: str, *args, token: str | None = TOKEN, offline: bool = False,
            argv0: tuple[str, ...] = ("-c",)) -> subprocess.CompletedProcess:
    """Run ``code`` (or a script/module given by ``argv0``) as a Hub client: fresh interpreter, this stand-in, ``home``
    as HF_HOME and working directory (so a repo id never names a local folder by accident)."""
    home.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, *argv0, *([textwrap.dedent(code)] if code else []), *map(str, args)]
    return subprocess.run(command, env=client_env(hub.endpoint, home, token=token, offline=offline), cwd=home,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)


def _hdtf(hub, home: Path, *argv, token: str | None = TOKEN) -> subprocess.CompletedProcess:
    return _python(hub, home, "", *argv, token=token, argv0=("-m", "hdtf.cli"))


def _ok(done: subprocess.CompletedProcess, hub) -> subprocess.CompletedProcess:
    """A client run that succeeded, without calling a route the stand-in does not serve (a new client endpoint)."""
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert not hub.state.unknown, f"clients called routes the stand-in does not serve: {hub.state.unknown}"
    return done


def _pushed(hub, repo_id: str, repo_type: str = "model", revision: str = "main") -> dict[str, bytes]:
    """The files of a repo revision as the stand-in holds them (without the Hub's own .gitattributes)."""
    commit = hub.state.repos[(repo_type, repo_id)].resolve(revision)
    return {path: blob.data for path, blob in commit.files.items() if path != ".gitattributes"}


def _local(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_clear_line(message: str, *names: str) -> None:
    """The project's error standard: one line that names the thing (``names``) and says why."""
    assert message.strip() and "\n" not in message.strip(), f"not one line:\n{message}"
    for name in names:
        assert name in message, f"{name!r} not named in: {message}"


# ---- the generator: push, pull by branch and by commit, offline from the cache, errors --------------------------

# Frames that depend on every part of a generator (feature extractor, audio model, basis, renderer), from fixed inputs.
_RENDER = """
import json, os, sys
from pathlib import Path
import numpy as np
from hdtf.modeling.generator import HDTFGenerator

def frames(g):
    size = g.image_size
    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    reference = g.expression_basis.mean * (0.22 * size) + size / 2
    t = np.arange(3200) / 16000  # 0.2 s of a modulated tone: 5 frames
    speech = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    points, _, _ = g.animate_from_audio(reference, speech, 16000, seed=0)
    return g.render(image, reference, points)["frames"]

def attempt(call):
    try:
        call()
    except Exception as exc:
        return {"type": type(exc).__name__, "message": str(exc)}
    return {"type": None, "message": ""}
"""

_ROUND_TRIP = _RENDER + """
import copy
import torch
from hdtf.modeling import HDTFAnimationToVideo, HDTFAnimationToVideoConfig
from hdtf.modeling.convert_original import hdtf_to_original

out, repo = Path(sys.argv[1]), sys.argv[2]
a = HDTFGenerator.from_preset("tiny", seed=0)
b = copy.deepcopy(a)  # another model: both networks' weights moved
torch.manual_seed(1)
with torch.no_grad():
    for p in [*b.audio2animation.parameters(), *b.animation2video.parameters()]:
        p.add_(0.05 * torch.randn_like(p))
url_a = a.push_to_hub(repo)  # commit 1: model A
b.save_pretrained(out / "b", push_to_hub=True, repo_id=repo)  # commit 2: model B, through save_pretrained
url_private = a.push_to_hub(repo + "-private", private=True)
sha_a = url_a.rstrip("/").rsplit("/", 1)[-1]
main = HDTFGenerator.from_pretrained(repo)
at_a = HDTFGenerator.from_pretrained(repo, revision=sha_a)
np.savez(out / "frames.npz", a=frames(a), b=frames(b), main=frames(main), at_a=frames(at_a))
# transformers' own Hub download (hf_hub_download through cached_file) of one component
a2v = HDTFAnimationToVideo.from_pretrained(repo, subfolder="animation2video")
pairs = zip(a2v.state_dict().values(), b.animation2video.state_dict().values(), strict=True)
diff = max(float((p - q).abs().max()) for p, q in pairs)

errors = {
    "missing_repo": attempt(lambda: HDTFGenerator.from_pretrained("tester/no-such-model")),
    "missing_revision": attempt(lambda: HDTFGenerator.from_pretrained(repo, revision="no-such-branch")),
}
token = os.environ.pop("HF_TOKEN")  # huggingface_hub reads HF_TOKEN at each call: from here on the user has no token
errors["missing_token"] = attempt(lambda: a.push_to_hub("tester/pushed-without-token"))
os.environ["HF_TOKEN"] = token
# save_pretrained(push_to_hub=True) without repo_id: the repo is named after the folder (in the user's namespace)
errors["default_repo_id"] = attempt(lambda: a.save_pretrained(out / "default-name", push_to_hub=True))

# an original-format animation2video checkpoint (small widths that its shapes tell) for hdtf convert-checkpoint
torch.manual_seed(0)
small = HDTFAnimationToVideo(HDTFAnimationToVideoConfig(image_size=128, block_expansion=8, num_bottleneck_blocks=1,
                                                        hourglass_num_blocks=3, hourglass_block_expansion=8))
torch.save({"state_dict": {"net_g": hdtf_to_original(small.state_dict()), "net_d": {}}, "epoch": 1},
           out / "checkpoint_animation2video.pth")
(out / "result.json").write_text(json.dumps({"url_a": url_a, "sha_a": sha_a, "url_private": url_private,
                                             "transformers_max_diff": diff, "errors": errors}))
"""


@dataclass(frozen=True)
class RoundTrip:
    home: Path  # the client's HF_HOME (its Hub cache holds the pulled snapshots)
    out: Path
    repo: str
    result: dict
    frames: dict[str, np.ndarray]


@pytest.fixture(scope="module")
def round_trip(hub, tmp_path_factory) -> RoundTrip:
    home = tmp_path_factory.mktemp("generator-client")
    out = home / "out"
    out.mkdir()
    repo = f"{USER}/tiny-talker"
    _ok(_python(hub, home, _ROUND_TRIP, out, repo), hub)
    with np.load(out / "frames.npz") as data:
        frames = {k: data[k] for k in data.files}
    return RoundTrip(home, out, repo, json.loads((out / "result.json").read_text()), frames)


def test_generator_push_then_from_pretrained_renders_the_same_frames(round_trip, hub):
    f = round_trip.frames
    assert f["a"].shape == (5, 128, 128, 3) and f["a"].dtype == np.uint8
    assert not np.array_equal(f["a"], f["b"]), "two seeds, two models: the comparison below can fail"
    np.testing.assert_array_equal(f["main"], f["b"])  # main is the latest push
    np.testing.assert_array_equal(f["at_a"], f["a"])  # revision=<sha of the first push>
    assert round_trip.result["transformers_max_diff"] == 0.0

    repo = hub.state.repos[("model", round_trip.repo)]
    sha_a = round_trip.result["sha_a"]
    assert round_trip.result["url_a"] == f"{hub.endpoint}/{round_trip.repo}/commit/{sha_a}"
    history = [repo.commits[repo.branches["main"]]]
    while history[-1].parent:
        history.append(repo.commits[history[-1].parent])
    assert [c.title for c in history] == ["Upload HDTFGenerator", "Upload HDTFGenerator", "initial commit"]
    assert history[1].sha == sha_a and not repo.private
    # what was pushed is what save_pretrained writes, byte for byte; weights went through LFS, text inline
    assert _pushed(hub, round_trip.repo) == _local(round_trip.out / "b")
    files = repo.resolve("main").files
    assert files["animation2video/model.safetensors"].lfs and files["expression_basis.safetensors"].lfs
    assert files["generator_config.json"].lfs is None and files["README.md"].lfs is None


def test_push_to_hub_private_creates_a_private_repo(round_trip, hub):
    repo = hub.state.repos[("model", f"{round_trip.repo}-private")]
    assert repo.private and round_trip.result["url_private"].startswith(f"{hub.endpoint}/{round_trip.repo}-private/")
    # the same model as the first public push (safetensors headers may order their metadata differently per save)
    pushed = _pushed(hub, f"{round_trip.repo}-private")
    public = _pushed(hub, round_trip.repo, revision=round_trip.result["sha_a"])
    assert sorted(pushed) == sorted(public) and pushed["generator_config.json"] == public["generator_config.json"]


_OFFLINE = _RENDER + """
out, repo, sha_a = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
main, at_a = HDTFGenerator.from_pretrained(repo), HDTFGenerator.from_pretrained(repo, revision=sha_a)
np.savez(out / "offline.npz", main=frames(main), at_a=frames(at_a))
(out / "offline.json").write_text(json.dumps(attempt(lambda: HDTFGenerator.from_pretrained("tester/never-pulled"))))
"""


def test_pulled_model_loads_again_offline_from_the_cache(round_trip, hub):
    before = len(hub.state.log)
    _ok(_python(hub, round_trip.home, _OFFLINE, round_trip.out, round_trip.repo, round_trip.result["sha_a"],
                offline=True), hub)
    assert len(hub.state.log) == before, "HF_HUB_OFFLINE=1: not one request reached the Hub"
    with np.load(round_trip.out / "offline.npz") as data:
        np.testing.assert_array_equal(data["main"], round_trip.frames["b"])
        np.testing.assert_array_equal(data["at_a"], round_trip.frames["a"])
    never = json.loads((round_trip.out / "offline.json").read_text())
    assert never["type"] == "HDTFError"
    _one_clear_line(never["message"], "tester/never-pulled")


def test_missing_repo_is_one_clear_line(round_trip):
    error = round_trip.result["errors"]["missing_repo"]
    assert error["type"] == "HDTFError"
    _one_clear_line(error["message"], "tester/no-such-model")
    assert "notfound" in error["message"].lower().replace(" ", ""), error["message"]


def test_missing_revision_is_one_clear_line(round_trip):
    error = round_trip.result["errors"]["missing_revision"]
    assert error["type"] == "HDTFError"
    _one_clear_line(error["message"], round_trip.repo, "no-such-branch")


def test_missing_token_is_one_clear_line(round_trip):
    error = round_trip.result["errors"]["missing_token"]
    assert error["type"] == "HDTFError"
    _one_clear_line(error["message"], "tester/pushed-without-token")
    assert "token" in error["message"].lower()


def test_save_pretrained_push_without_repo_id_uses_the_folder_name(round_trip, hub):
    assert round_trip.result["errors"]["default_repo_id"] == {"type": None, "message": ""}
    assert _pushed(hub, f"{USER}/default-name") == _local(round_trip.out / "default-name")


# ---- examples/train.py --push_to_hub ------------------------------------------------------------------------------

def test_train_push_to_hub_uploads_the_model_without_checkpoints(prepared_faces, hub, tmp_path):  # noqa: F811
    out, repo = tmp_path / "run", f"{USER}/trained-tiny"
    done = _ok(_python(hub, tmp_path, "", "--train_data_dir", prepared_faces.root, "--output_dir", out,
                       "--model_preset", "tiny", "--stage", "animation2video", "--train_batch_size", "2",
                       "--samples_per_clip", "4", "--max_train_steps", "2", "--checkpointing_steps", "1",
                       "--validation_steps", "2", "--num_validation_images", "1", "--push_to_hub",
                       "--hub_model_id", repo, argv0=(str(REPO_ROOT / "examples" / "train.py"),)), hub)
    assert f"pushed to {hub.endpoint}/{repo}/commit/" in done.stderr
    local = _local(out)
    assert any(p.startswith("checkpoint-") for p in local) and any(p.startswith("validation/") for p in local)
    kept = {p: data for p, data in local.items()
            if not p.startswith(("checkpoint-", ".", "logs/", "data_cache/", "validation/"))}
    assert _pushed(hub, repo) == kept
    assert {"generator_config.json", "animation2video/model.safetensors", "README.md"} <= set(kept)
    assert "## Training" in kept["README.md"].decode()


# ---- hdtf convert-checkpoint --push-to-hub -------------------------------------------------------------------------

def test_convert_checkpoint_push_to_hub(round_trip, hub, tmp_path):
    repo = f"{USER}/converted-a2v"
    converted = tmp_path / "converted"
    _ok(_hdtf(hub, tmp_path, "convert-checkpoint", round_trip.out / "checkpoint_animation2video.pth", converted,
              "--push-to-hub", repo), hub)
    assert (converted / "model.safetensors").is_file()
    assert _pushed(hub, repo) == _local(converted)
    card = (converted / "README.md").read_text()  # honest about where the weights come from and their licence
    assert "license: other\nlicense_name: hdtf-original-release\nlicense_link: https://github.com/MRzzm/HDTF" in card
    assert "pipeline_tag: image-to-image" in card and "## How the weights were made" in card
    assert "checkpoint_animation2video.pth" in card and str(round_trip.out) not in card


# ---- hdtf export --push-to-hub -> load_dataset(repo id) -----------------------------------------------------------

@dataclass(frozen=True)
class PushedExport:
    to: str
    repo: str
    home: Path
    out: Path
    done: subprocess.CompletedProcess


# Files in an export folder that the export did not write: a push must leave them out.
STRAYS = {"notes.txt": b"private notes\n", "other-00000-of-00001.tar": b"someone else's tar",
          "data/other-00000-of-00001.parquet": b"PAR1 someone else's parquet"}


def _exported(out: Path) -> dict[str, bytes]:
    """The files an export wrote into ``out``: those its manifest names."""
    from hdtf.export import MANIFEST

    names = json.loads((out / MANIFEST).read_text())["files"]
    return {name: (out / name).read_bytes() for name in names}


@pytest.fixture(scope="module")
def pushed_export(hub, hdtf_clips, tmp_path_factory):  # noqa: F811
    """``hdtf export --to FORMAT`` into a folder that then gets stray files, then ``hdtf export --to FORMAT
    --push-to-hub`` into it, once per format (parquet: with ``--public``; webdataset: the private default)."""
    cache: dict[str, PushedExport] = {}

    def push(to: str) -> PushedExport:
        if to not in cache:
            home = tmp_path_factory.mktemp(f"export-{to}")
            repo, out = f"{USER}/hdtf-clips-{to}", home / "export"
            args = ["export", hdtf_clips.prepared, "--to", to, "--output", out, "--shard-size", "2"]
            _ok(_hdtf(hub, home, *args), hub)
            for name, data in STRAYS.items():
                (out / name).parent.mkdir(exist_ok=True)
                (out / name).write_bytes(data)
            extra = ["--public"] if to == "parquet" else []
            cache[to] = PushedExport(to, repo, home, out, _hdtf(hub, home, *args, "--push-to-hub", repo, *extra))
        return cache[to]

    return push


@pytest.mark.parametrize("to", ["parquet", "webdataset"])
def test_export_push_to_hub_uploads_exactly_the_exported_files(pushed_export, hub, to):
    from hdtf.export import MANIFEST

    pushed = pushed_export(to)
    _ok(pushed.done, hub)
    repo = hub.state.repos[("dataset", pushed.repo)]
    head = repo.branches["main"]
    assert f"pushed to {hub.endpoint}/datasets/{pushed.repo}/commit/{head}" in pushed.done.stdout
    assert repo.private == (to == "webdataset"), "a created repo is private unless --public"
    files = _pushed(hub, pushed.repo, "dataset")
    assert files == _exported(pushed.out)
    assert sorted(files) == sorted(
        ["README.md", "LICENSE.md", *({"parquet": "data/train-0000{}-of-00002.parquet",
                                       "webdataset": "train-0000{}-of-00002.tar"}[to].format(i) for i in range(2))])
    local = _local(pushed.out)
    assert set(local) - set(files) == {*STRAYS, MANIFEST}, "strays and the manifest stay local"
    assert all(local[name] == data for name, data in STRAYS.items())
    shards = sorted(p for p in files if p.endswith((".parquet", ".tar")))
    assert len(shards) == 2 and all(repo.resolve("main").files[p].lfs for p in shards)


_LOAD = """
import pickle, sys
import datasets
repo, out = sys.argv[1], sys.argv[2]
result = {}
for mode in ("map", "streaming"):
    try:
        ds = datasets.load_dataset(repo, split="train", streaming=mode == "streaming")
        result[mode] = [dict(row) for row in ds]
    except Exception as exc:
        result[mode] = f"{type(exc).__name__}: {exc}"
pickle.dump(result, open(out, "wb"))
"""


def _content(row: dict) -> tuple[str, bytes, np.ndarray]:
    """(clip id, mp4 bytes, float32 waveform) of a loaded row: parquet's ``id``/``video``/``audio`` columns, or a
    webdataset sample's ``__key__``/``mp4``/``wav`` members (bytes, or a ``{"bytes": ...}``/``{"array": ...}`` dict)."""
    import io

    import soundfile as sf

    def raw(value):
        return value.get("bytes") if isinstance(value, dict) and "bytes" in value else value

    key = row.get("id") or row.get("__key__")
    video = raw(row.get("video", row.get("mp4")))
    audio = row.get("audio", row.get("wav"))
    if isinstance(audio, dict) and "array" in audio:
        audio = audio["array"]
    elif isinstance(raw(audio), bytes):
        audio = sf.read(io.BytesIO(raw(audio)), dtype="float32")[0]
    return key, video, np.asarray(audio, dtype=np.float32)


@pytest.mark.parametrize("to", ["parquet", "webdataset"])
def test_export_loads_from_the_hub_with_the_local_rows(pushed_export, hub, hdtf_clips, to):  # noqa: F811
    pushed = pushed_export(to)
    _ok(pushed.done, hub)
    _ok(_python(hub, pushed.home, _LOAD, pushed.repo, pushed.home / "rows.pkl"), hub)
    with open(pushed.home / "rows.pkl", "rb") as f:
        result = pickle.load(f)
    local = [_content(row) for row in hdtf_clips.dataset]
    assert len(local) == 3
    for mode in ("map", "streaming"):
        rows = result[mode]
        assert isinstance(rows, list), f"load_dataset({pushed.repo!r}, {mode}) failed: {rows}"
        loaded = [_content(row) for row in rows]
        assert [c[0] for c in loaded] == [c[0] for c in local]
        for (key, video, audio), (_, want_video, want_audio) in zip(loaded, local, strict=True):
            assert video == want_video, f"{key}: video bytes differ ({mode})"
            np.testing.assert_array_equal(audio, want_audio, err_msg=f"{key}: audio differs ({mode})")


def test_export_push_without_token_is_one_clear_line(hdtf_clips, hub, tmp_path):  # noqa: F811
    repo = f"{USER}/pushed-without-token"
    done = _hdtf(hub, tmp_path, "export", hdtf_clips.prepared, "--output", tmp_path / "export", "--push-to-hub", repo,
                 token=None)
    assert done.returncode == 2
    err = done.stderr.strip()
    _one_clear_line(err, "hdtf export: error:", repo)
    assert "token" in err.lower()
    assert ("dataset", repo) not in hub.state.repos
    assert not (tmp_path / "export").exists(), "the token is checked before the export starts"


def test_export_push_replaces_the_shards_of_an_earlier_export(hdtf_clips, hub, tmp_path):  # noqa: F811
    from fixtures.hub_server import Blob

    repo_id = f"{USER}/hdtf-clips-repushed"
    repo = hub.state.create("dataset", repo_id, private=False)  # an earlier export of 9 shards, pushed before
    hub.state.commit(repo, "main", "Upload HDTF clips (hdtf export)",
                     {**{f"data/train-{i:05d}-of-00009.parquet": Blob(b"PAR1 old shard") for i in range(9)},
                      "docs/notes.md": Blob(b"the owner's notes")}, [])
    out = tmp_path / "export"
    _ok(_hdtf(hub, tmp_path, "export", hdtf_clips.prepared, "--output", out, "--shard-size", "2",
              "--push-to-hub", repo_id), hub)
    assert _pushed(hub, repo_id, "dataset") == {**_exported(out), "docs/notes.md": b"the owner's notes"}
    assert repo.private is False, "an existing repo keeps its visibility"
