"""``hdtf status DIR``: what a prepare run has done so far (counts per status, reasons grouped)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "summarise a prepared dataset folder: clips per status and why clips are not done"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", type=Path, help="the folder given to hdtf prepare --output")
    parser.add_argument("--max-reasons", type=int, default=20, help="distinct reasons to list (default 20)")
    parser.add_argument("--write-manifest", action="store_true",
                        help="also rewrite manifest.json from the status files (after the last shard of a sharded "
                             "run, or when runs on several machines wrote into one folder)")


def run(args: argparse.Namespace) -> int:
    from hdtf.manifest import summarize, write_manifest

    print(summarize(args.output, max_reasons=args.max_reasons))
    if args.write_manifest:
        print(f"manifest: {write_manifest(args.output)}")
    return 0
