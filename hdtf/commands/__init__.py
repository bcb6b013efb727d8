"""One module per ``hdtf`` sub-command (see ``hdtf.cli``), and the options they share."""

from __future__ import annotations

import argparse


def add_push_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--push-to-hub REPO`` and ``--private`` for a command whose output ``what`` can be uploaded afterwards."""
    parser.add_argument("--push-to-hub", metavar="REPO", default=None,
                        help=f"afterwards upload {what} to this Hub repo (needs network and a write token, checked "
                             "before any work)")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")


def check_push(args: argparse.Namespace) -> None:
    """With ``--push-to-hub``: one line now (no token, offline, token refused), not a traceback after the work."""
    if args.push_to_hub:
        from hdtf.hub import check_can_push

        check_can_push(args.push_to_hub)
