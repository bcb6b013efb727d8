"""The list parsers' fast paths give exactly what the parsers gave before them: on seeded lists of each format with
malformed entries mixed among good ones (bad ids, times, boxes, flags, header lines, edge rows, blank lines, quoted
fields, invalid UTF-8, duplicates), the videos, clips (ids, windows, fields, where each file is) and every line of
the parse report are compared, as one digest, with the digest the parsers before the speed-up gave (recorded from
commit 7c0154c), so that a faster parse can never change a clip id, a window or a report count."""

from __future__ import annotations

import hashlib
import json
import random
import string
import zipfile
from pathlib import Path

import pytest

from hdtf.sources import avspeech, celebv_hq, csv_clips
from hdtf.sources import voxceleb2 as vox

ALPHABET = string.ascii_letters + string.digits + "_-"
# sha256 of repr((videos, report issues)) of each generated list, the temporary folder's path written as TMP, as
# the parsers of commit 7c0154c gave them.
EXPECTED = {
    "celebv_hq": "1adaa0b21a740bf56983bd568ddac8d5c162e39876a0fc0e20e8a21ed89cc3de",
    "voxceleb2-folder": "5949ccac4161858b47ef02e78cfad1d368f026e067efd42ae232c8a0e1894abd",
    "voxceleb2-zip": "700d87f7bb32dbcdbf1671b61b67947059997f293a054d5e65eb5c2816bae07d",
    "avspeech": "a84f5463521e1d3f2fb6edaaa5504da554874fcc187f69ce50dc648d84862000",
    "csv": "beda0624133dab0f6238919e57de7244d947d66f2d5da00d4b4a5cbbc1fcd6a3",
}


def _ids(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(string.ascii_letters) + "".join(rng.choices(ALPHABET, k=10)) for _ in range(n)]


def _celebv(rng: random.Random, folder: Path) -> Path:
    ids = _ids(rng, 40)
    clips: dict[str, object] = {}
    for index in range(400):
        youtube_id = rng.choice(ids)
        start = round(rng.uniform(0, 300), rng.choice((0, 1, 3)))
        record: dict[str, object] = {
            "ytb_id": youtube_id, "duration": {"start_sec": start, "end_sec": start + rng.choice((2, 3.5, 10.04))},
            "bbox": {"top": 0.1, "bottom": 0.6, "left": round(rng.uniform(0, 0.5), 3), "right": 0.8},
            "attributes": {"appearance": [rng.randint(0, 1) for _ in range(39)],
                           "action": [rng.randint(0, 1) for _ in range(35)],
                           "emotion": {"sep_flag": False, "labels": rng.choice(("neutral", "happy"))}},
            "version": "v0.1"}
        bad = rng.random()
        if bad < 0.03:
            record = [1, 2]
        elif bad < 0.06:
            record["ytb_id"] = rng.choice(("short", 12345678901, None, youtube_id + "x"))
        elif bad < 0.09:
            record["duration"] = rng.choice(({"start_sec": 5, "end_sec": 2}, {"start_sec": "1", "end_sec": 2},
                                             {"start_sec": True, "end_sec": 2}, None, {"start_sec": -1, "end_sec": 2},
                                             {"start_sec": 1}))
        elif bad < 0.12:
            record["bbox"] = rng.choice(({"top": 0.7, "bottom": 0.6, "left": 0.1, "right": 0.5},
                                         {"top": 0.1, "bottom": 1.2, "left": 0.1, "right": 0.5},
                                         {"top": 0.1, "bottom": 0.5, "left": 0.1}, "box"))
        elif bad < 0.2:
            attributes = record["attributes"]
            assert isinstance(attributes, dict)
            key = rng.choice(("appearance", "action"))
            attributes[key] = rng.choice(([0, 1.0], [0, True, False], [0, 2], "flags", None, [0, "1"], [], [[0]]))
        elif bad < 0.28:
            attributes = record["attributes"]
            assert isinstance(attributes, dict)
            attributes["emotion"] = rng.choice((
                {"sep_flag": True, "labels": [["neutral", 0, 1.5], ["happy", 1.5, 3.0]]},
                {"sep_flag": True, "labels": [["neutral", 0, "x"]]}, {"labels": 3}, None, {},
                {"sep_flag": True, "labels": [["sad", 0.5, 2]]}))
        elif bad < 0.3:
            record.pop("attributes")
        clips[rng.choice((f"{youtube_id}_{index}", f"clip {index}", f"-{index}(1)", f"c[{index}]"))] = record
    path = folder / "celebvhq_info.json"
    path.write_text(json.dumps({"meta_info": {}, "clips": clips}))
    return path


def _row(frame: int, rng: random.Random) -> str:
    return f"{frame:06d} \t{rng.uniform(0, 0.5):.3f} \t{rng.uniform(0, 0.5):.3f} \t0.200 \t0.356 "


def _utterance(rng: random.Random, speaker: str, youtube_id: str) -> bytes:
    first = rng.randint(0, 3000)
    rows = [_row(f, rng) for f in range(first, first + rng.choice((1, 2, 9, 30)))]
    head = [f"Identity  : \t{speaker}", f"Reference : \t{youtube_id}", f"Offset    : \t{rng.randint(-3, 3)}",
            "FV Conf   : \t17.179\t(1)", "ASD Conf  : \t4.920", "", "FRAME \tX \tY \tW \tH "]
    newline, bad = "\n", rng.random()
    if bad < 0.04:
        rows[0] = "00x100 \t0.1 \t0.1 \t0.1 \t0.1 "
    elif bad < 0.08:
        rows[-1] = rng.choice(("000100 \t0.1 \t0.1", "000100 \t0.1 \t0.1 \t0 \t0.1 ", ""))
    elif bad < 0.1:
        rows = [rng.choice(("bad", "1 2 3", ""))] * 25 + rows + ["x"] * 20  # the good rows beyond both edges
    elif bad < 0.12:
        rows = ["garbage"] * 3
    elif bad < 0.14:
        rows.reverse()
    elif bad < 0.17:
        head[2] = rng.choice(("Offset    : \tone", "Offset    :", "Offset    : \t"))
    elif bad < 0.2:
        head.insert(rng.randint(0, 4), rng.choice(("Whatever  : \t3", "no colon here", "Offset    : \t7")))
    elif bad < 0.22:
        head.pop(rng.randint(0, 1))
    elif bad < 0.24:
        head[1] = rng.choice(("Reference : \tnot-an-id", f"Reference : \t{youtube_id[::-1]}"))
    elif bad < 0.26:
        head[0] = f"Identity  : \tid{rng.randint(0, 9):05d}"
    elif bad < 0.28:
        head = head[:5]  # no FRAME line
    elif bad < 0.31:
        newline = "\r\n"
    elif bad < 0.33:
        rows += ["", "  "]
    text = newline.join(head + rows) + rng.choice((newline, "", newline))
    data = text.encode()
    if rng.random() < 0.03:
        data = data.replace(b"FV Conf", b"FV \xff Conf") if rng.random() < 0.5 else data + b"\xfe\n"
    return data


def _vox_files(rng: random.Random) -> dict[str, bytes]:
    ids = _ids(rng, 30)
    files: dict[str, bytes] = {}
    for _ in range(300):
        youtube_id = rng.choice(ids)
        speaker = f"id{ids.index(youtube_id) % 9:05d}"
        split = rng.choice(("dev",) * 9 + ("test",))
        name = f"{split}/txt/{speaker}/{youtube_id}/{rng.randint(1, 60):05d}.txt"
        files[name] = _utterance(rng, speaker, youtube_id)
    files["notes/readme.txt"] = b"not an utterance\n"
    files["dev/txt/loose.txt"] = b"FRAME\n"
    files["dev/txt/id00001/readme.md"] = b"not a list file\n"
    return files


def _vox_folder(rng: random.Random, folder: Path) -> Path:
    root = folder / "vox"
    for name, data in _vox_files(rng).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _vox_zip(rng: random.Random, folder: Path) -> Path:
    path = folder / "vox2_txt.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for index, (name, data) in enumerate(_vox_files(rng).items()):
            method = zipfile.ZIP_STORED if index % 5 == 0 else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=method)
    return path


def _avspeech(rng: random.Random, folder: Path) -> Path:
    ids = _ids(rng, 40)
    lines = []
    for _ in range(500):
        start = round(rng.uniform(0, 600), 6)
        cells = [rng.choice(ids), f"{start:.6f}", f"{start + rng.uniform(3, 10):.6f}", f"{rng.random():.6f}",
                 f"{rng.random():.6f}"]
        bad = rng.random()
        if bad < 0.03:
            cells = cells[:3]
        elif bad < 0.06:
            cells[0] = rng.choice(("bad id", cells[0][:-1], ""))
        elif bad < 0.09:
            cells[rng.randint(1, 4)] = rng.choice(("one", "", "nan", "-1", "1.5"))
        elif bad < 0.12:
            cells[1] = " " + cells[1] + " "
        elif bad < 0.14:
            cells[0] = f'"{cells[0]}"'
        elif bad < 0.16:
            cells[1], cells[2] = cells[2], cells[1]
        elif bad < 0.18:
            lines.append(rng.choice(("", " , ,", lines[-1] if lines else "")))
        lines.append(",".join(cells))
    path = folder / "avspeech_train.csv"
    path.write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode().replace(b"nan", b"n\xffan"))
    return path


def _csv(rng: random.Random, folder: Path) -> Path:
    ids = _ids(rng, 40)
    lines = ["url,youtube_id,Start Timecode,End Timecode,top,bottom,left,right,person,split,caption"]
    for index in range(500):
        youtube_id, start = rng.choice(ids), rng.randint(0, 3000)
        url = rng.choice((f"https://www.youtube.com/watch?v={youtube_id}", f"https://youtu.be/{youtube_id}",
                          f"http://youtube.com/watch?v={youtube_id}&t=3",
                          f"https://www.youtube.com/shorts/{youtube_id}",
                          f"https://www.youtube.com/watch?v={youtube_id}#x", f"https://example.org/{index % 7}.mp4",
                          f"https://www.youtube.com/watch?v={youtube_id}x", "https://www.youtube.com/watch?v=%41bc"))
        cells = [url, rng.choice(("", "", "", youtube_id)),
                 rng.choice((f"00:{start // 60 % 60:02d}:{start % 60:02d}", str(start), f"{start}.25")),
                 rng.choice((f"00:{start // 60 % 60:02d}:{start % 60:02d}.5", str(start + 4))),
                 *rng.choice((("0.1", "0.6", "0.2", "0.7"), ("", "", "", ""))),
                 rng.choice(("ann", "bob", "", "Zoë")), rng.choice(("", "", "train", "val", "holdout")),
                 rng.choice(("hello", '"hello, world"', '"two\nlines"', "", '"a ""quote"""'))]
        bad = rng.random()
        if bad < 0.03:
            cells = cells[:5]
        elif bad < 0.06:
            cells[2] = rng.choice(("00:61:00", "abc", "-1", ""))
        elif bad < 0.08:
            cells[0], cells[1] = "", ""
        elif bad < 0.1:
            cells[1] = "not an id"
        elif bad < 0.12:
            cells[4] = "0.9"
        elif bad < 0.14:
            lines.append(rng.choice(("", ",,,,,,,,,,", lines[-1])))
        elif bad < 0.16:
            cells[2], cells[3] = cells[3], cells[2]
        lines.append(",".join(cells))
    path = folder / "own.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode().replace(b"Zo\xc3\xab", b"Zo\xeb"))
    return path


def _all_splits(module, path: Path):
    opts = module.Options(metadata=path)
    videos, report = [], None
    for split in module.selected_splits(opts):
        part, report = module.list_videos(opts, split, fetch_dir=path.parent)
        videos += part
    return videos, report


def _vox(path: Path):
    dev, dev_report = vox.parse_metadata(path, "dev")
    test, test_report = vox.parse_metadata(path, "test")
    return dev + test, [*dev_report.issues, *test_report.issues]


CASES = {
    "celebv_hq": (_celebv, lambda p: _all_splits(celebv_hq, p)),
    "voxceleb2-folder": (_vox_folder, _vox),
    "voxceleb2-zip": (_vox_zip, _vox),
    "avspeech": (_avspeech, lambda p: _all_splits(avspeech, p)),
    "csv": (_csv, lambda p: _all_splits(csv_clips, p)),
}


def digest(name: str, folder: Path) -> tuple[str, int, int]:
    """(digest, clips, report lines) of the parse of format ``name``'s seeded list written under ``folder``."""
    write, parse = CASES[name]
    folder = folder / "lists"  # no split's name in the folder's words (VoxCeleb2 reads them)
    folder.mkdir()
    videos, issues = parse(write(random.Random(f"identity-{name}"), folder))
    issues = issues.issues if hasattr(issues, "issues") else issues
    text = repr((videos, issues)).replace(str(folder), "TMP")
    return hashlib.sha256(text.encode()).hexdigest(), sum(len(v.clips) for v in videos), len(issues)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_fast_parse_gives_exactly_what_the_parse_gave_before(name, tmp_path):
    for module in (celebv_hq, avspeech, csv_clips):  # each file parsed afresh, not the cached parse of another
        (module.parse_info if module is celebv_hq else module.parse_list).cache_clear()
    found, clips, issues = digest(name, tmp_path)
    assert clips > 100 and issues > 10  # the list has good entries and malformed ones
    assert found == EXPECTED[name], f"{name}: {clips} clips, {issues} report lines"
