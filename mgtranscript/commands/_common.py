"""What the subcommands share: options, sample-sheet and h5ad reading, progress, gseapy's logs.

The argument checks themselves live in :mod:`mgtranscript.pipeline` (the API checks its arguments the
same way); a command imports them when it runs, so that building the parser (``mgtranscript --help``)
loads no analysis library. Each check raises :class:`~mgtranscript.errors.UsageError` (exit status 2) with one line
naming the argument, the problem and the fix.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from .._settings import settings
from ..errors import InputDataError, UsageError

__all__ = ["parse_samples", "read_h5ad", "progress_flag", "add_catalog_option", "catalog_context",
           "gseapy_logs_as_ours"]

CATALOG_HELP = ("a cohort catalog (TOML, the schema of the bundled cohorts.toml) merged over the bundled "
                "one; its cohorts can then be named like the bundled ones")


def add_catalog_option(p) -> None:
    """``--catalog FILE`` (one user catalog merged over the bundled one)."""
    p.add_argument("--catalog", metavar="FILE", help=CATALOG_HELP)


def catalog_context(args):
    """Check ``--catalog`` (UsageError before any work) and return the context that applies it."""
    from ..datasets import use_catalog
    from ..pipeline import check_catalog

    return use_catalog(check_catalog(getattr(args, "catalog", None)))


def parse_samples(values: list[str] | None, *, option: str = "--samples") -> dict[str, Path]:
    """``["GSE77314=sheet.csv", ...]`` -> ``{"GSE77314": Path("sheet.csv")}``."""
    out: dict[str, Path] = {}
    for v in values or []:
        acc, sep, path = v.partition("=")
        acc = acc.strip().upper()
        if not sep or not acc or not path.strip():
            raise UsageError(f"{option} expects ACCESSION=SHEET (e.g. {option} GSE77314=SraRunTable.csv), got {v!r}")
        if acc in out:
            raise UsageError(f"{option} names {acc} twice; give one sample sheet per cohort")
        out[acc] = Path(path.strip()).expanduser()
    return out


def read_h5ad(path: str | os.PathLike, *, option: str = "input", backed: bool = False):
    """``anndata.read_h5ad`` with one clear error for a missing, empty or corrupt file."""
    import anndata as ad

    from ..pipeline import check_input_file

    p = check_input_file(path, option, ".h5ad file")
    if p.stat().st_size == 0:
        raise InputDataError(f"{p} is empty (0 bytes); it is not an .h5ad file. Write it again "
                             "(e.g. mgtranscript fetch ACC --out FILE.h5ad)")
    try:
        return ad.read_h5ad(p, backed="r" if backed else None)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputDataError(f"{p} is not a readable .h5ad file ({first}); is it truncated or another "
                             "format? Write it again (e.g. mgtranscript fetch ACC --out FILE.h5ad)") from exc


def progress_flag(no_progress: bool = False) -> bool | None:
    """``False`` when bars are off (``--no-progress``, ``-q``, ``settings.progress`` False), else None."""
    if no_progress or not settings.progress:
        return False
    return None


class _Forward(logging.Handler):
    """Hands a gseapy record to the ``mgtranscript.gseapy`` logger (our format, our verbosity)."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger("mgtranscript.gseapy").log(record.levelno, "gseapy: %s", record.getMessage())


@contextlib.contextmanager
def gseapy_logs_as_ours() -> Iterator[None]:
    """While running, gseapy's own console lines ("2026-... [WARNING] ...") become our log lines
    (``warning: gseapy: ...`` on stderr, shown per -v/-q like every other line).

    gseapy gives every call a logger of its own with a timestamped stream handler; its
    ``log_init`` is wrapped so that logger forwards to ours instead (and writes no log file).
    """
    try:
        import gseapy.base as gbase
    except Exception:  # noqa: BLE001 - gseapy absent or broken: nothing to route
        yield
        return
    orig = getattr(gbase, "log_init", None)
    if orig is None:
        yield
        return

    def log_init(name, log_level=logging.INFO, filename=None):
        lg = orig(name, log_level=log_level, filename=None)
        for h in lg.handlers[:]:
            lg.removeHandler(h)
            h.close()
        fwd = _Forward(level=log_level)
        lg.addHandler(fwd)
        lg.propagate = False
        return lg

    gbase.log_init = log_init
    try:
        yield
    finally:
        gbase.log_init = orig
