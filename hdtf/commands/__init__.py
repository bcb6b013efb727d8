"""One module per ``hdtf`` sub-command (see ``hdtf.cli``), and the options they share."""

from __future__ import annotations

import argparse


def add_push_arguments(parser: argparse.ArgumentParser, what: str, *, private_because: str | None = None) -> None:
    """``--push-to-hub REPO`` and the visibility of a repo it creates for a command whose output ``what`` can be
    uploaded afterwards: ``--private``, or, when ``private_because`` says why a repo is private by default,
    ``--private`` (the default) and ``--public``. Either way ``args.private`` holds the choice."""
    parser.add_argument("--push-to-hub", metavar="REPO", default=None,
                        help=f"afterwards upload {what} to this Hub repo (needs network and a write token, checked "
                             "before any work)")
    if private_because is None:
        parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
        return
    visibility = parser.add_mutually_exclusive_group()
    visibility.add_argument("--private", dest="private", action="store_true", default=True,
                            help=f"create the Hub repo as private (the default: {private_because}); an existing repo "
                                 "keeps its visibility")
    visibility.add_argument("--public", dest="private", action="store_false",
                            help="create the Hub repo as public, when you may share what is uploaded")


def check_push(args: argparse.Namespace) -> None:
    """With ``--push-to-hub``: one line now (no token, offline, token refused), not a traceback after the work."""
    if args.push_to_hub:
        from hdtf.hub import check_can_push

        check_can_push(args.push_to_hub)
