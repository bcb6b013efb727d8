"""VoxCeleb2: the release's txt sample parses to the reference counts, malformed lines are reported and skipped, and
``hdtf prepare --source voxceleb2`` cuts utterances over loopback (frames 25 fps -> seconds, the union window, the
audio, the face track), then ``load_dataset("voxceleb2")`` reads them back and a re-run does nothing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
from fixtures.voxceleb import (FPS, WIDTH, WINDOW, box_rows, make_video, pitch, read_numbers, utterance_text,
                               write_tree, write_zip)

from hdtf.cli import main
from hdtf.decode import decode_clip
from hdtf.errors import HDTFError
from hdtf.loopback import ServedRequest, serve_directory
from hdtf.sources import voxceleb2 as vox

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "source_samples" / "voxceleb2_sample"
if not SAMPLE.is_dir():
    SAMPLE = Path("/work/shared/source_samples/voxceleb2_sample")
VIDEO = "AAAAAAAAAAA"
DASH = "-bBBBBBBBBB"  # a YouTube id may begin with '-'


def _clips(videos):
    return {clip.video_name: clip for video in videos for clip in video.clips}


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="the shared VoxCeleb2 sample is not here")
def test_the_sample_parses_to_the_reference_counts(tmp_path):
    videos, report = vox.parse_metadata(SAMPLE, "dev")
    clips = _clips(videos)
    assert len(videos) == 3 and len(clips) == 4
    assert {c.fields["speaker"] for c in clips.values()} == {"id90001", "id90002"}
    (issue,) = report.issues
    assert issue.file.endswith("id90002/CCCCCCCCCCC/00002.txt") and "no readable FRAME row" in issue.reason
    clip = clips["id90001/AAAAAAAAAAA/00001"]
    assert (clip.start, clip.end) == (1.0, 6.0)  # frames 25..149 at 25 fps, end exclusive of frame 150
    assert (clip.fields["first_frame"], clip.fields["last_frame"], clip.fields["release_av_offset"]) == (25, 149, 1)
    assert clip.fields["fv_conf"] == pytest.approx(17.179) and clip.fields["asd_conf"] == pytest.approx(4.92)
    assert clip.id == "id90001_AAAAAAAAAAA_00001" and clip.subset == "dev"
    assert clips["id90001/BBBBBBBBBBB/00001"].fields["release_av_offset"] == -2
    assert vox.parse_metadata(SAMPLE, "test")[0] == []  # the sample has no test split

    # the same files zipped (as the release ships them) parse alike, read in place
    archive = tmp_path / "vox2_dev_txt.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(SAMPLE.rglob("*.txt")):
            zf.write(path, path.relative_to(SAMPLE).as_posix())
    zipped, zreport = vox.parse_metadata(archive, "dev")
    assert {k: (c.id, c.start, c.end, c.fields) for k, c in _clips(zipped).items()} == {
        k: (c.id, c.start, c.end, c.fields) for k, c in clips.items()}
    assert len(zreport.issues) == 1


def test_malformed_lines_are_reported_not_fatal(tmp_path):
    rows = box_rows(25, 60)
    files = {
        f"dev/txt/id00001/{VIDEO}/00001.txt": utterance_text("id00001", VIDEO, rows),
        # a bad first row (the span starts at the next), a bad header value, and one line that is no header
        f"dev/txt/id00001/{VIDEO}/00002.txt": utterance_text("id00001", VIDEO, box_rows(100, 140)).replace(
            "Offset    : \t1", "Offset    : \tone").replace("000100 \t", "00x100 \t").replace(
            "ASD Conf", "Whatever  : \t3\nASD Conf"),
        f"dev/txt/id00001/{VIDEO}/00003.txt": "Identity  : \tid00001\nReference : \tnot-an-id\n\nFRAME \tX \tY \tW \tH \n"
                                              "000001 \t0.1 \t0.1 \t0.1 \t0.1 \n",
        f"dev/txt/id00001/{VIDEO}/00004.txt": "garbage\n",
        f"dev/txt/id00002/{DASH}/00001.txt": utterance_text("id00002", DASH, rows),
        "test/txt/id00009/CCCCCCCCCCC/00001.txt": utterance_text("id00009", "CCCCCCCCCCC", rows),
        "notes/readme.txt": "not an utterance\n",
    }
    root = write_tree(tmp_path / "vox", files)
    videos, report = vox.parse_metadata(root, "dev")
    clips = _clips(videos)
    assert sorted(clips) == [f"id00001/{VIDEO}/00001", f"id00001/{VIDEO}/00002", f"id00002/{DASH}/00001"]
    assert sorted(v.name for v in videos) == sorted([VIDEO, DASH])
    assert all(not v.key.startswith("-") for v in videos) and clips[f"id00002/{DASH}/00001"].id.startswith("id00002_-")
    second = clips[f"id00001/{VIDEO}/00002"]
    assert second.fields["first_frame"] == 101 and second.fields["release_av_offset"] is None
    reasons = [(Path(i.file).name, i.line, i.action, i.reason) for i in report.issues]
    assert ("00002.txt", 9, "skipped", "FRAME must be a whole number and X Y W H numbers") in reasons
    assert any(r[0] == "00002.txt" and r[1] == 3 and "Offset is not a number" in r[3] for r in reasons)
    assert any(r[0] == "00002.txt" and "not a header line" in r[3] for r in reasons)
    assert any(r[0] == "00003.txt" and "not an 11-character YouTube id" in r[3] for r in reasons)
    assert any(r[0] == "00004.txt" and "no FRAME X Y W H line" in r[3] for r in reasons)
    assert any("1 .txt file(s) are not at" in i.reason for i in report.issues)  # notes/readme.txt
    assert not any("CCCCCCCCCCC" in i.file for i in report.issues)  # the test split is another list
    assert len(vox.parse_metadata(root, "test")[0]) == 1

    # the ids stay when the list grows: a new utterance of a new speaker in the same video changes none of them
    write_tree(root, {f"dev/txt/id00003/{VIDEO}/00001.txt": utterance_text("id00003", VIDEO, box_rows(5, 20))})
    grown = _clips(vox.parse_metadata(root, "dev")[0])
    assert all(grown[name].id == clip.id and grown[name].to_row() == clip.to_row() for name, clip in clips.items())
    assert grown[f"id00003/{VIDEO}/00001"].id == f"id00003_{VIDEO}_00001"

    with pytest.raises(HDTFError, match="not one of dev, test"):
        vox.parse_metadata(root, "train")
    with pytest.raises(HDTFError, match="not found"):
        vox.parse_metadata(tmp_path / "nowhere", "dev")


def test_a_zip_bomb_member_is_one_line_and_the_rest_is_read(tmp_path):
    archive = tmp_path / "vox2_dev_txt.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"dev/txt/id00001/{VIDEO}/00001.txt", utterance_text("id00001", VIDEO, box_rows(25, 60)))
        zf.writestr(f"dev/txt/id00001/{VIDEO}/00002.txt", b"0" * (vox.MAX_TXT_BYTES + 1))
    videos, report = vox.parse_metadata(archive, "dev")
    assert len(_clips(videos)) == 1
    (issue,) = report.issues
    assert "00002.txt" in issue.file and "zip bomb" in issue.reason


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    web = tmp_path_factory.mktemp("vox_web")
    make_video(web / f"{VIDEO}.mp4", 9.0)
    return web


def _lists(tmp_path: Path) -> dict[str, str]:
    return {
        f"dev/txt/id00001/{VIDEO}/00001.txt": utterance_text("id00001", VIDEO, box_rows(25, 149), offset=2),
        # an interior row is malformed: the parse never reads it, the job skips it and says so on the clip
        f"dev/txt/id00002/{VIDEO}/00001.txt": utterance_text("id00002", VIDEO, box_rows(160, 190), offset=-1,
                                                             extra_rows=["000161 \t0.4x \t0.3 \t0.1 \t0.1 "]),
    }


@pytest.mark.parametrize("packed", ["folder", "zip"])
def test_prepare_over_loopback_cuts_frames_window_audio_and_track(served, tmp_path, capsys, packed):
    files = _lists(tmp_path)
    metadata = (write_tree(tmp_path / "vox", files) if packed == "folder"
                else write_zip(tmp_path / "vox2_dev_txt.zip", files))
    out = tmp_path / "out"
    args = ["prepare", "--source", "voxceleb2", "--metadata", str(metadata), "--split", "dev", "--output", str(out),
            "--size", "64", "--no-progress"]
    with serve_directory(served) as base:
        code = main([*args, "--url-template", base + "/{youtube_id}.mp4"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    manifest = json.loads((out / "manifest.json").read_text())
    done = {c["speaker"]: c for c in manifest["clips"] if c["status"] == "done"}
    assert sorted(done) == ["id00001", "id00002"], manifest["clips"]
    first = done["id00001"]
    assert (first["start"], first["end"]) == (1.0, 6.0) and first["applied_crop"] == list(WINDOW)
    assert first["release_av_offset"] == 2 and done["id00002"]["release_av_offset"] == -1

    # the frames: exactly 25..149 (the counter the video shows), cut from the window (green edges, no black)
    decoded = decode_clip(out / first["path"])
    assert read_numbers(decoded.frames, WINDOW) == list(range(25, 150))
    edges = np.concatenate([decoded.frames[:, 1:3].reshape(-1, 3), decoded.frames[:, -3:-1].reshape(-1, 3),
                            decoded.frames[:, :, 1:3].reshape(-1, 3), decoded.frames[:, :, -3:-1].reshape(-1, 3)])
    green = edges.mean(axis=0)
    assert green[1] > 150 and green[0] < 60 and green[2] < 60, green  # inside the window: green; outside: black

    # the audio: the tone of seconds 1..6 (300 Hz at the start, 700 Hz at the end), 5 s long
    audio, rate = soundfile.read(out / first["audio_path"])
    assert len(audio) == pytest.approx(5 * rate, abs=rate * 0.05)
    assert pitch(audio[: rate // 2], rate) == pytest.approx(300, abs=10)
    assert pitch(audio[-rate // 2:], rate) == pytest.approx(700, abs=10)

    # the face track: one box per listed frame, in the clip's pixels, times from the clip's start
    with np.load(out / first["face_track_path"]) as track:
        frames, times, boxes = track["frames"], track["times"], track["boxes"]
    assert frames.tolist() == list(range(25, 150)) and times[0] == 0 and times[-1] == pytest.approx(124 / FPS)
    scale = 64 / WINDOW[2]
    assert boxes[0] == pytest.approx([(0.44 * WIDTH - WINDOW[0]) * scale, (108 - WINDOW[1]) * scale,
                                      0.1 * WIDTH * scale, 0.178 * 360 * scale], abs=0.01)
    assert boxes[-1][0] == pytest.approx((0.46 * WIDTH - WINDOW[0]) * scale, abs=0.01)
    (note,) = [n for n in done["id00002"]["adjustments"] if n.startswith("face track")]
    assert "1 malformed row(s)" in note and "line 9" in note
    with np.load(out / done["id00002"]["face_track_path"]) as track:
        assert len(track["frames"]) == 31  # 160..190; the malformed row skipped

    # load_dataset("voxceleb2", ...): rows with the source's facts and the face track, from the finished clips
    import datasets

    ds = datasets.load_dataset("voxceleb2", "clips", metadata=str(metadata), splits=["dev"], split="dev", size=64,
                               output_dir=str(out), url_template="http://127.0.0.1:9/unreachable/{youtube_id}.mp4",
                               cache_dir=str(tmp_path / "hf"))
    row = next(r for r in ds if r["speaker"] == "id00001")
    assert row["release_av_offset"] == 2 and row["first_frame"] == 25 and row["video"]["bytes"] == (
        out / first["path"]).read_bytes()
    assert len(row["face_track"]) == 125 and row["face_track"][0][0] == 0
    assert row["face_track"][-1][1] == pytest.approx(float(boxes[-1][0]), abs=0.01)
    meta = datasets.load_dataset("voxceleb2", "metadata", metadata=str(metadata), split="dev",
                                 cache_dir=str(tmp_path / "hf"))
    assert sorted(meta["speaker"]) == ["id00001", "id00002"] and set(meta["start"]) == {1.0, 6.4}
    assert "face_track" not in meta.column_names  # a file of the finished clip, not a fact of the list

    # an export's parquet rows are the builder's: the facts and the face track read from the track file
    from hdtf.export import export

    shards = export(out, tmp_path / "shards").files
    exported = datasets.load_dataset("parquet", data_files=[str(p) for p in shards], split="train",
                                     cache_dir=str(tmp_path / "hf"))
    again = next(r for r in exported if r["speaker"] == "id00001")
    assert again["face_track"] == row["face_track"] and again["release_av_offset"] == 2


def test_a_rerun_over_a_finished_output_downloads_and_cuts_nothing(served, tmp_path, capsys):
    metadata = write_tree(tmp_path / "vox", _lists(tmp_path))
    out = tmp_path / "out"
    args = ["prepare", "--source", "voxceleb2", "--metadata", str(metadata), "--output", str(out), "--size", "64",
            "--no-progress"]
    with serve_directory(served) as base:
        assert main([*args, "--url-template", base + "/{youtube_id}.mp4"]) == 0
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino)
              for folder in ("clips", "status") for p in (out / folder).iterdir()}
    assert sum(name.endswith(".mp4") for name in before) == 2
    requests: list[ServedRequest] = []
    with serve_directory(served, record=requests) as base:
        assert main([*args, "--url-template", base + "/{youtube_id}.mp4"]) == 0
    printed = capsys.readouterr().out
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino)
             for folder in ("clips", "status") for p in (out / folder).iterdir()}
    assert requests == [] and after == before, "nothing downloaded, cut or rewritten"
    assert "downloaded 0 video(s)" in printed

    # the list's file changed under a finished clip: that clip alone is made again
    changed = metadata / f"dev/txt/id00002/{VIDEO}/00001.txt"
    changed.write_text(changed.read_text().replace("Offset    : \t-1", "Offset    : \t0"))
    with serve_directory(served, record=requests) as base:
        assert main([*args, "--url-template", base + "/{youtube_id}.mp4"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {c["speaker"]: c["release_av_offset"] for c in manifest["clips"]} == {"id00001": 2, "id00002": 0}
    assert requests, "the video is fetched again for the changed clip"
    first = next(c for c in manifest["clips"] if c["speaker"] == "id00001")
    assert (out / first["path"]).stat().st_mtime_ns == before[Path(first["path"]).name][1]
