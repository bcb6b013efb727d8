"""``hdtf status OUTPUT``: what a prepare run has done so far (counts per status, reasons grouped, notes by kind);
OUTPUT is a folder or a storage URL (``s3://bucket/prefix``)."""

from __future__ import annotations

import argparse
import os
import sys

HELP = "summarise a prepared dataset (folder or URL): clips per status, why clips are not done, notes on done clips"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output", help="the folder or URL given to hdtf prepare --output")
    parser.add_argument("--max-reasons", type=int, default=20, help="distinct reasons to list (default 20)")


def run(args: argparse.Namespace) -> int:
    from hdtf.manifest import summarize

    text = summarize(args.output, max_reasons=args.max_reasons)
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
