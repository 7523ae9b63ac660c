"""The ``mgtranscript`` command line.

Each subcommand lives in its own module under :mod:`mgtranscript.commands`, which
defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__
from .errors import MgTranscriptError

#: subcommand name -> module under mgtranscript.commands
COMMANDS = {
    "run": "run",
    "fetch": "fetch",
    "datasets": "datasets",
    "cache": "cache",
    "score": "score",
    "genesets": "genesets",
    "claims": "claims",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mgtranscript",
        description="Magnesium-homeostasis transcriptomics in liver disease.",
    )
    parser.add_argument("--version", action="version", version=f"mgtranscript {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, modname in COMMANDS.items():
        try:
            mod = importlib.import_module(f"mgtranscript.commands.{modname}")
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name != f"mgtranscript.commands.{modname}":
                raise
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    # The CLI (not the library) configures logging, and only for mgtranscript's loggers.
    level = logging.WARNING - 10 * min(args.verbose, 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger("mgtranscript")
    log.addHandler(handler)
    log.setLevel(level)
    try:
        return int(args._run(args) or 0)
    except MgTranscriptError as exc:
        print(f"mgtranscript {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
