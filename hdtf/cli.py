"""``hdtf`` console script: thin sub-commands over library calls.

Each sub-command lives in ``hdtf/commands/<module>.py`` with ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``
(and ``OWN_HELP = True`` when it adds its own ``-h/--help``).
Those modules import nothing heavy at top level, so ``hdtf --help`` is instant; heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hdtf import __version__
from hdtf.errors import HDTFError

# command name -> module under hdtf.commands
COMMANDS: dict[str, str] = {
    "prepare": "prepare",
    "status": "status",
    "export": "export",
    "init-model": "init_model",
    "convert-checkpoint": "convert_checkpoint",
    "generate": "generate",
    "fit-expression-basis": "fit_expression_basis",
    "evaluate": "evaluate",
    "doctor": "doctor",
}


def _available() -> dict[str, object]:
    modules = {}
    for name, module in COMMANDS.items():
        try:
            modules[name] = importlib.import_module(f"hdtf.commands.{module}")
        except ModuleNotFoundError as exc:  # a command whose module is not there (yet) is simply not offered
            if exc.name != f"hdtf.commands.{module}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hdtf", description="High-resolution talking-face data and models.")
    parser.add_argument("--version", action="version", version=f"hdtf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module in _available().items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP,
                           add_help=not getattr(module, "OWN_HELP", False))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except HDTFError as exc:
        print(f"hdtf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hdtf {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
