"""``python -m hdtf.splits METADATA_DIR [--version v1]``: print the test list a split version gives on that metadata
(how ``hdtf/splits/hdtf_v1_test.txt`` was made from the pinned HDTF lists)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hdtf.sources.hdtf import parse_metadata
from hdtf.splits import CURRENT, RULES, render_test_list


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hdtf.splits", description=__doc__.splitlines()[0])
    parser.add_argument("metadata_dir", type=Path, help="folder with the 15 HDTF metadata files")
    parser.add_argument("--version", choices=tuple(RULES), default=CURRENT)
    args = parser.parse_args(argv)
    videos, _ = parse_metadata(args.metadata_dir)
    clips = [(clip.id, clip.subset, clip.video_name) for video in videos for clip in video.clips]
    print(render_test_list(clips, args.version), end="")


if __name__ == "__main__":
    main()
