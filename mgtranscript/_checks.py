"""Argument checks shared by the API (:func:`mgtranscript.pipeline.run_analysis`) and the CLI.

Each check raises :class:`~mgtranscript.errors.UsageError` with one line naming the argument
(``option``: ``--method`` on the command line, ``method=`` in Python), the problem and the fix.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from .errors import MgTranscriptError, UsageError

__all__ = ["check_method", "check_cohorts", "check_samples", "check_input_file", "known_cohorts", "check_catalog"]


def _suggest(value: str, choices) -> str:
    choices = list(choices)
    lower = {c.lower(): c for c in choices}
    hit = lower.get(value.lower()) or next(iter(difflib.get_close_matches(value, choices, n=1)), None)
    return f" (did you mean {hit!r}?)" if hit else ""


def check_method(method: str, *, option: str = "--method") -> str:
    """The scoring method must be one of :data:`mgtranscript.tl.METHODS` (names are exact)."""
    from .tl import METHODS

    if method not in METHODS:
        raise UsageError(f"{option} {method!r} is not a scoring method{_suggest(method, METHODS)}; "
                         f"choose one of: {', '.join(METHODS)}")
    return method


def known_cohorts() -> list[str]:
    """Accessions the analysis plan knows: the catalog's and the plan's defaults."""
    from .datasets import catalog

    known = list(catalog()["accession"])
    try:
        from .pipeline import DEFAULT_COHORTS
    except ImportError:  # pragma: no cover - the plan is being rewritten
        DEFAULT_COHORTS = ()
    return list(dict.fromkeys([*known, *DEFAULT_COHORTS]))


def check_cohorts(cohorts: list[str] | None, *, option: str = "--cohorts") -> list[str] | None:
    """Upper-cased cohort accessions, each known to the catalog; None stays None (all cohorts)."""
    if cohorts is None:
        return None
    known = known_cohorts()
    out = []
    for c in cohorts:
        acc = c.strip().upper()
        if acc not in known:
            raise UsageError(f"{option} {c!r} is not a cohort of the catalog{_suggest(acc, known)}; known: "
                             f"{', '.join(known)} (`mgtranscript datasets` lists them)")
        if acc not in out:
            out.append(acc)
    return out


def check_catalog(path: str | os.PathLike | None, *, option: str = "--catalog") -> Path | None:
    """A user cohort catalog exists and passes the schema (unknown keys, rules, expected counts)."""
    if path is None:
        return None
    from .datasets import load_catalog

    p = check_input_file(path, option, "catalog TOML file")
    try:
        load_catalog(p)
    except MgTranscriptError as exc:
        raise UsageError(f"{option} {str(exc).splitlines()[0]}") from exc
    return p


def check_input_file(path: str | os.PathLike, option: str, what: str = "file") -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise UsageError(f"{option} {p}: no such {what}")
    if p.is_dir():
        raise UsageError(f"{option} {p} is a folder; give a {what}")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{option} {p}: permission denied")
    return p


def check_samples(samples: dict[str, Path], cohorts: list[str] | None, *,
                  option: str = "--samples") -> dict[str, Path]:
    """Every sheet exists and reads as a table; every accession is one the run will analyse."""
    from .datasets import read_sample_sheet

    targets = cohorts if cohorts is not None else known_cohorts()
    for acc, path in samples.items():
        if acc not in targets:
            where = "--cohorts" if cohorts is not None else "the catalog"
            raise UsageError(f"{option} {acc}={path}: {acc} is not among the cohorts analysed ({where}: "
                             f"{', '.join(targets)}){_suggest(acc, targets)}; the sheet would be ignored")
        check_input_file(path, f"{option} {acc}=", "sample sheet")
        try:
            read_sample_sheet(path)
        except MgTranscriptError as exc:
            raise UsageError(f"{option} {acc}={path}: {str(exc).splitlines()[0]}") from exc
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"{option} {acc}={path}: not a readable CSV/TSV sample sheet ({exc})") from exc
    return samples
