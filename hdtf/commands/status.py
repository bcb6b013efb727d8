"""``hdtf status DIR``: what a prepare run has done so far (counts per status, reasons grouped)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hdtf.sync_check import MIN_CONFIDENCE

HELP = "summarise a prepared dataset folder: clips per status and why clips are not done"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", type=Path, help="the folder given to hdtf prepare --output")
    parser.add_argument("--max-reasons", type=int, default=20, help="distinct reasons to list (default 20)")
    parser.add_argument("--min-sync-confidence", type=float, default=MIN_CONFIDENCE,
                        help=f"count sync-checked clips (hdtf prepare --sync-check) whose SyncNet confidence is below "
                             f"this (default {MIN_CONFIDENCE:g}, LatentSync's cut)")


def run(args: argparse.Namespace) -> int:
    from hdtf.manifest import summarize

    print(summarize(args.output, max_reasons=args.max_reasons, min_sync_confidence=args.min_sync_confidence))
    return 0
