"""Argument checks shared by the API (:func:`mgtranscript.pipeline.run_analysis`) and the CLI,
and the cohorts of the default plan (:data:`DEFAULT_COHORTS`, from the catalog).

Each check raises :class:`~mgtranscript.errors.UsageError` with one line naming the argument
(``option``: ``--method`` on the command line, ``method=`` in Python), the problem and the fix.
:func:`check_arguments` checks every argument of a run once, before any work.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MgTranscriptError, UsageError

__all__ = ["check_method", "check_cohorts", "check_samples", "check_input_file", "known_cohorts", "check_catalog",
           "check_arguments", "RunArguments", "default_cohorts", "DEFAULT_COHORTS", "PYTHON_NAMES", "CLI_NAMES"]


def default_cohorts() -> tuple[str, ...]:
    """The cohorts the default plan tries, in order: the bundled catalog's entries with a
    ``plan_order`` (all of them today; TCGA needs the GDC)."""
    from ..datasets import catalog, cohort_info

    with_order = [(cohort_info(a).get("plan_order"), a) for a in catalog()["accession"]]
    return tuple(a for o, a in sorted((o, a) for o, a in with_order if o is not None))


#: Cohorts the default plan tries, in order (``plan_order`` in the bundled ``cohorts.toml``). The
#: array cohorts GSE48452 ... GSE36376 are not in the offline mirror: there they are "unavailable"
#: in a moment.
DEFAULT_COHORTS: tuple[str, ...] = default_cohorts()


def _suggest(value: str, choices) -> str:
    choices = list(choices)
    lower = {c.lower(): c for c in choices}
    hit = lower.get(value.lower()) or next(iter(difflib.get_close_matches(value, choices, n=1)), None)
    return f" (did you mean {hit!r}?)" if hit else ""


def check_method(method: str, *, option: str = "--method") -> str:
    """The scoring method must be one of :data:`mgtranscript.tl.METHODS` (names are exact)."""
    from ..tl import METHODS

    if method not in METHODS:
        raise UsageError(f"{option} {method!r} is not a scoring method{_suggest(method, METHODS)}; "
                         f"choose one of: {', '.join(METHODS)}")
    return method


def known_cohorts() -> list[str]:
    """Accessions the analysis plan knows: the catalog's and the plan's defaults."""
    from ..datasets import catalog

    known = list(catalog()["accession"])
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
    from ..datasets import load_catalog

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
    from ..datasets import read_sample_sheet

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


@dataclass(frozen=True)
class RunArguments:
    """The arguments of a run, checked and normalised by :func:`check_arguments`.

    :func:`~mgtranscript.pipeline.run_analysis` takes them as ``arguments=`` and runs them
    without checking again (the command line checks its options, then runs).
    """

    cohorts: tuple[str, ...]
    samples: dict[str, Path] = field(default_factory=dict)
    method: str = "ssgsea"
    permutations: int = 1000
    jobs: int | None = None
    catalog: Any = None


#: How each argument is named in errors: in Python (default) and on the command line.
PYTHON_NAMES = {"method": "method=", "cohorts": "cohorts=", "samples": "samples=", "catalog": "catalog=",
                "permutations": "permutations=", "jobs": "jobs="}
CLI_NAMES = {"method": "--method", "cohorts": "--cohorts", "samples": "--samples", "catalog": "--catalog",
             "permutations": "--permutations", "jobs": "--jobs"}


def check_arguments(*, cohorts=None, samples=None, method: str = "ssgsea", permutations: int = 1000,
                    catalog=None, jobs: int | None = None, names: dict[str, str] | None = None) -> RunArguments:
    """Check the arguments of :func:`~mgtranscript.pipeline.run_analysis` before any work.

    Parameters
    ----------
    cohorts, samples, method, permutations, catalog, jobs
        As for :func:`~mgtranscript.pipeline.run_analysis`.
    names
        How the arguments are named in errors (default :data:`PYTHON_NAMES`, e.g. ``method=``;
        the command line passes :data:`CLI_NAMES`, e.g. ``--method``).

    Returns
    -------
    RunArguments
        The cohorts to try (without ``cohorts``: the default plan and every cohort of a user
        catalog), sample sheets by upper-case accession, and the other arguments as given.

    Raises
    ------
    UsageError
        Unknown scoring method or cohort, a sample sheet that does not exist, cannot be read or
        names a cohort that is not analysed, a negative number of permutations, a number of jobs
        below 1, a user catalog that does not exist or breaks the schema (one line each, naming
        the argument and the fix).
    """
    from ..datasets import use_catalog

    n = {**PYTHON_NAMES, **(names or {})}
    check_method(method, option=n["method"])
    if not isinstance(permutations, (int, np.integer)) or isinstance(permutations, bool) or permutations < 0:
        raise UsageError(f"{n['permutations']} must be a non-negative integer, got {permutations!r}")
    if jobs is not None and (not isinstance(jobs, (int, np.integer)) or isinstance(jobs, bool) or jobs < 1):
        raise UsageError(f"{n['jobs']} must be a positive number of processes (or none: as many as the usable "
                         f"cores), got {jobs!r}")
    if catalog is not None and not isinstance(catalog, dict):
        catalog = check_catalog(catalog, option=n["catalog"])
    with use_catalog(catalog) as entries:
        # without cohorts=: the default plan plus every cohort a user catalog adds
        default = list(DEFAULT_COHORTS) + [a for a, e in entries.items()
                                           if e.get("catalog_file", "bundled") != "bundled" and a not in DEFAULT_COHORTS]
        chosen = check_cohorts(list(cohorts), option=n["cohorts"]) if cohorts else default
        sheets = check_samples({str(k).strip().upper(): Path(v).expanduser() for k, v in (samples or {}).items()},
                               chosen if cohorts else None, option=n["samples"])
    return RunArguments(cohorts=tuple(chosen), samples=sheets, method=method, permutations=int(permutations),
                        jobs=None if jobs is None else int(jobs), catalog=catalog)
