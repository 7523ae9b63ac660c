"""Argument checks shared by the subcommands: every argument is checked before any work.

Each check raises :class:`~mgtranscript.errors.UsageError` (exit status 2) with one line
naming the argument, the problem and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._checks import check_catalog, check_cohorts, check_input_file, check_method, check_samples, known_cohorts
from ..errors import InputDataError, UsageError

__all__ = ["parse_samples", "check_method", "check_cohorts", "check_samples", "check_input_file",
           "known_cohorts", "read_h5ad", "progress_flag", "check_catalog", "add_catalog_option", "catalog_context"]

CATALOG_HELP = ("a cohort catalog (TOML, the schema of the bundled cohorts.toml) merged over the bundled "
                "one; its cohorts can then be named like the bundled ones")


def add_catalog_option(p) -> None:
    """``--catalog FILE`` (one user catalog merged over the bundled one)."""
    p.add_argument("--catalog", metavar="FILE", help=CATALOG_HELP)


def catalog_context(args):
    """Check ``--catalog`` (UsageError before any work) and return the context that applies it."""
    from ..datasets.catalog import use_catalog

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
    """``False`` when bars are off (``--no-progress``, ``-q``, ``MGTRANSCRIPT_PROGRESS=0``), else None."""
    if no_progress or os.environ.get("MGTRANSCRIPT_PROGRESS", "1").strip() == "0":
        return False
    return None
