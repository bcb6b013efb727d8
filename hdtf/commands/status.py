"""``hdtf status OUTPUT``: what a prepare run has done so far (counts per status, reasons grouped, notes by kind);
OUTPUT is a folder or a storage URL (``s3://bucket/prefix``)."""

from __future__ import annotations

import argparse
import os
import sys

from hdtf.sync_check import MIN_CONFIDENCE

HELP = "summarise a prepared dataset (folder or URL): clips per status, why clips are not done, notes on done clips"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", help="the folder or URL given to hdtf prepare --output")
    parser.add_argument("--max-reasons", type=int, default=20, help="distinct reasons to list (default 20)")
    parser.add_argument("--min-sync-confidence", type=float, default=MIN_CONFIDENCE,
                        help=f"count sync-checked clips (hdtf prepare --sync-check) whose SyncNet confidence is below "
                             f"this (default {MIN_CONFIDENCE:g}, LatentSync's cut)")
    parser.add_argument("--write-manifest", action="store_true",
                        help="also rewrite manifest.json from the status files (after the last shard of a sharded "
                             "run, or when runs on several machines wrote into one folder)")


def run(args: argparse.Namespace) -> int:
    from hdtf.manifest import summarize, write_manifest

    text = summarize(args.output, max_reasons=args.max_reasons, min_sync_confidence=args.min_sync_confidence)
    if args.write_manifest:
        text += f"\nmanifest: {write_manifest(args.output)}"
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`hdtf status DIR | head`): fine. Point stdout at /dev/null so that the
        # interpreter's last flush at exit does not fail on the closed pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 0
