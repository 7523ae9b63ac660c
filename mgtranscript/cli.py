"""The ``mgtranscript`` command line.

Each subcommand lives in its own module under :mod:`mgtranscript.commands`, which
defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.

Conventions
-----------
- ``-v``/``-q`` may come before or after the subcommand (``-vv``: debug; ``-q``: errors only,
  no progress bars).
- Results go to stdout; log messages and warnings go to stderr, one line each
  (``warning: ...``), without source lines.
- Every anticipated failure is one line on stderr, ``mgtranscript CMD: error: ...``, and a
  non-zero exit: 2 for usage errors (bad arguments, checked before any work), 1 otherwise,
  130 when interrupted. Tracebacks only with ``-v`` or ``MGTRANSCRIPT_DEBUG=1``.
- A closed stdout (``mgtranscript cache list | head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import traceback
import warnings
import zlib
from collections.abc import Iterator

from . import __version__
from ._settings import settings
from .errors import MgTranscriptError, SettingsError, UsageError

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

_LOGGER = "mgtranscript"


class _Parser(argparse.ArgumentParser):
    """Usage errors: usage and one error line on stderr, exit status 2 (argparse's rule)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}{did_you_mean(message)}\n")


def did_you_mean(message: str) -> str:
    """`` (did you mean 'fetch'?)`` for argparse's "invalid choice: 'fecth' (choose from ...)"; else ""."""
    import difflib
    import re

    m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if not m:
        return ""
    choices = re.findall(r"'([^']*)'", m.group(2))
    close = difflib.get_close_matches(m.group(1), choices, n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


def _verbosity_options(p: argparse.ArgumentParser, suffix: str = "") -> None:
    g = p.add_argument_group("output")
    g.add_argument("-v", "--verbose", action="count", default=0, dest=f"verbose{suffix}",
                   help="more log output (-vv for debug); tracebacks on errors")
    g.add_argument("-q", "--quiet", action="count", default=0, dest=f"quiet{suffix}",
                   help="errors only, no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mgtranscript",
        description="Magnesium-homeostasis transcriptomics in liver disease.",
        epilog="Options -v/-q may also follow the command. Environment: MGTRANSCRIPT_CACHE, "
               "MGTRANSCRIPT_MIRROR, MGTRANSCRIPT_OFFLINE=1, MGTRANSCRIPT_PROGRESS=0, MGTRANSCRIPT_DEBUG=1.",
    )
    parser.add_argument("--version", action="version", version=f"mgtranscript {__version__}")
    _verbosity_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, modname in COMMANDS.items():
        try:
            mod = importlib.import_module(f"mgtranscript.commands.{modname}")
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name != f"mgtranscript.commands.{modname}":
                raise
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        _verbosity_options(p, "_sub")
        p.set_defaults(_run=mod.run)
    return parser


# --------------------------------------------------------------------------- logging


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest's capture, a redirect)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


class _OnceFilter(logging.Filter):
    """A warning whose text was already shown in this command is not shown again (e.g. the same
    "genes constant" note from scoring two families of sets of one cohort)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        msg = record.getMessage()
        if msg in self.seen:
            return False
        self.seen.add(msg)
        return True


class _Formatter(logging.Formatter):
    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        level = record.levelname.lower()
        if self.debug:
            return f"{level} {record.name}: {msg}"
        return msg if record.levelno == logging.INFO else f"{level}: {msg}"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings become one log line: no file name, line number or source line."""
    text = str(message).strip()
    if category is not UserWarning and not issubclass(category, MgTranscriptError):
        text = f"{category.__name__}: {text}"
    logging.getLogger(_LOGGER).warning("%s", text)


@contextlib.contextmanager
def _cli_environment(verbosity: int) -> Iterator[None]:
    """Logging to stderr, warnings as log lines, progress bars off with -q (``settings.progress``,
    never the environment); undone on exit."""
    log = logging.getLogger(_LOGGER)
    handler = _StderrHandler()
    handler.setFormatter(_Formatter(debug=verbosity >= 2))
    handler.addFilter(_OnceFilter())
    old_level = log.level
    level = {-2: logging.CRITICAL + 1, -1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(-2, min(verbosity, 2)), logging.DEBUG)
    log.addHandler(handler)
    log.setLevel(level)
    old_show = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        with settings.override(**({"progress": False} if verbosity < 0 else {})):
            yield
    finally:
        warnings.showwarning = old_show
        log.removeHandler(handler)
        log.setLevel(old_level)


# --------------------------------------------------------------------------- errors


def _debug(verbosity: int) -> bool:
    """Tracebacks on errors: with -v, or ``settings.debug`` (``MGTRANSCRIPT_DEBUG=1``)."""
    return verbosity > 0 or settings.debug


def _one_line(exc: BaseException) -> tuple[str, str]:
    text = str(exc).strip() or type(exc).__name__
    first, _, rest = text.partition("\n")
    return first, rest


def _error(command: str | None, message: str) -> None:
    prefix = f"mgtranscript {command}" if command else "mgtranscript"
    print(f"{prefix}: error: {message}", file=sys.stderr)


def _anticipated(exc: BaseException) -> str | None:
    """A one-line explanation for failures that are not bugs (files, data, memory), else None."""
    import pandas as pd

    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename or exc}"
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename or exc} is a folder; a file was expected"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}"
    if isinstance(exc, (EOFError, zlib.error)) or type(exc).__name__ == "BadGzipFile":
        return (f"a file ended early or is corrupt ({type(exc).__name__}: {exc}); if it is a cached "
                "download, run `mgtranscript cache verify --remove-bad` and try again")
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not text in the expected encoding ({exc}); check the file"
    if isinstance(exc, (pd.errors.ParserError, pd.errors.EmptyDataError)):
        return f"a table could not be parsed ({_one_line(exc)[0]}); check the file"
    if isinstance(exc, MemoryError):
        return "out of memory; use a smaller input or a machine with more memory"
    if isinstance(exc, OSError):
        name = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return f"{name}{exc.strerror or exc}"
    return None


def _quiet_broken_pipe() -> None:
    """stdout was closed by the reader (``| head``): stop writing, exit without noise."""
    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (already printed to stderr)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    command = getattr(args, "command", None)
    if not getattr(args, "_run", None):
        parser.print_usage(sys.stderr)
        print(f"mgtranscript: error: a command is required: {', '.join(COMMANDS)} "
              "(`mgtranscript COMMAND -h` for its options)", file=sys.stderr)
        return 2
    verbosity = args.verbose + args.verbose_sub - args.quiet - args.quiet_sub
    try:
        debug = _debug(verbosity)
    except SettingsError as exc:  # an unreadable MGTRANSCRIPT_DEBUG
        _error(command, str(exc))
        return 2
    with _cli_environment(verbosity):
        try:
            code = int(args._run(args) or 0)
            sys.stdout.flush()
            return code
        except BrokenPipeError:
            _quiet_broken_pipe()
            return 0
        except KeyboardInterrupt:
            print("\ninterrupted; earlier outputs were left as they were", file=sys.stderr)
            return 130
        except MgTranscriptError as exc:
            if debug:
                traceback.print_exc()
            first, rest = _one_line(exc)
            _error(command, first)
            if rest:
                if verbosity > 0:
                    print(rest, file=sys.stderr)
                else:
                    print("  (-v for details)", file=sys.stderr)
            return 2 if isinstance(exc, UsageError) else 1
        except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
            if debug:
                traceback.print_exc()
            explained = _anticipated(exc)
            if explained is not None:
                _error(command, explained)
                return 1
            _error(command, f"internal error: {type(exc).__name__}: {_one_line(exc)[0]}. This is a bug; "
                            "rerun with -v (or MGTRANSCRIPT_DEBUG=1) for the traceback and report it")
            return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
