"""One cohort of a run, start to finish: find its sample sheet, load it (or take it from the
parsed-cohort cache), say why it cannot be analysed when it cannot, analyse it
(:func:`~._cohort.analyse_cohort`) and keep the result for the next run.

A :class:`CohortTask` holds everything a cohort needs, so :func:`run_task` runs the same in
the calling process, in a worker process or on a ``dask.distributed`` worker
(:mod:`._parallel`). Cohorts that cannot be obtained are reported with the reason, never fatal.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import LabelsMissing, MgTranscriptError
from ._result import CohortResult

logger = logging.getLogger(__name__)

__all__ = ["CohortTask", "run_task", "find_sample_sheet", "status_row", "short_reason"]


def find_sample_sheet(accession: str, search: list[Path] | None = None) -> Path | None:
    """A user sample sheet for ``accession``: ``<dir>/<ACC>*.csv|tsv|txt``.

    Directories searched, in order: ``search``; ``settings.samples_dir``
    (``MGTRANSCRIPT_SAMPLES``); and, when ``settings.mirror`` is a directory, a ``samples/``
    folder beside it (the layout of a shared data folder holding ``mirror/`` and ``samples/``).
    """
    from .._settings import settings

    dirs: list[Path] = list(search or [])
    if settings.samples_dir is not None:
        dirs.append(settings.samples_dir)
    mirror = settings.mirror
    if mirror and not mirror.startswith(("http://", "https://")):
        dirs.append(Path(mirror).expanduser().resolve().parent / "samples")
    for d in dirs:
        if d.is_file() and d.name.upper().startswith(accession.upper()):
            return d
        if d.is_dir():
            for ext in ("csv", "tsv", "txt"):
                hits = sorted(d.glob(f"{accession}*.{ext}"))
                if hits:
                    return hits[0]
    return None


# --------------------------------------------------------------------------- status


def _labels_disagree(adata) -> bool:
    return (adata.uns.get("labels", {}).get("check") or {}).get("status") == "labels disagree"


def _label_counts(adata) -> dict[str, int]:
    if "condition" not in adata.obs:
        return {}
    return {str(k): int(v) for k, v in adata.obs["condition"].value_counts().items() if v}


_KIND_WORDS = {"OfflineError": "not in the mirror (offline)", "AccessionNotFound": "not found on the server",
               "FetchError": "download failed", "DownloadCorrupt": "download corrupt"}


def short_reason(text, limit: int = 120) -> str:
    """One line for a reason: which files a loader could not obtain and why, compactly."""
    text = text if isinstance(text, str) else ""
    tried = re.findall(r"(https?://\S+?) \((\w+)\)", text)
    if tried:
        by_kind: dict[str, list[str]] = {}
        for url, kind in tried:
            name = url.rstrip("/").rsplit("file=", 1)[-1].rsplit("/", 1)[-1] + ("/" if url.endswith("/") else "")
            by_kind.setdefault(_KIND_WORDS.get(kind, kind), [])
            if name not in by_kind[_KIND_WORDS.get(kind, kind)]:
                by_kind[_KIND_WORDS.get(kind, kind)].append(name)
        first = text.split(":", 1)[0].strip() + ": " + "; ".join(f"{k}: {', '.join(v)}" for k, v in by_kind.items())
    else:
        first = text.splitlines()[0].split("; ")[0] if text else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def status_row(accession: str, entry: dict, *, status: str = "", reason: str = "", sheet: Any = None) -> dict:
    """A cohort's row of ``cohorts.tsv`` from its catalog entry (``entry``: a row of
    :func:`mgtranscript.datasets.catalog`)."""
    return {"accession": accession, "disease_area": entry["disease_area"], "status": status, "reason": reason,
            "reason_short": reason, "n_samples": 0, "sample_sheet": str(sheet or ""), "title": entry["title"],
            "citation": entry["citation"], "design": entry["design"], "data_source": entry["data_source"],
            "technology": entry["technology"], "groups": ""}


# --------------------------------------------------------------------------- the task


@dataclass
class CohortTask:
    """What one cohort of a run needs (plain data: it travels to worker processes).

    ``entry`` is the cohort's catalog row, ``catalog`` the user catalog of the run (applied in
    the worker), ``params`` the parameters the result depends on (the result cache's key),
    ``cache`` which caches to use (``parsed``, ``results``). ``settings`` is where the
    package settings of the calling process travel to a worker (``None``: the worker's own,
    i.e. its environment; a worker process started here inherits the caller's).
    """

    accession: str
    entry: dict
    sheet: str | None = None
    method: str = "ssgsea"
    permutations: int = 1000
    seed: int = 0
    claims: pd.DataFrame | None = None
    mechanisms: dict | None = None
    catalog: Any = None
    params: dict = field(default_factory=dict)
    cache: dict = field(default_factory=lambda: {"parsed": True, "results": True})
    settings: dict | None = None


@contextlib.contextmanager
def _worker_context(task: CohortTask):
    """The calling process's context, in whichever process runs the task: the user catalog
    (and, where ``task.settings`` is given, the package settings)."""
    from ..datasets import use_catalog

    with use_catalog(task.catalog):
        yield


def run_task(task: CohortTask) -> CohortResult:
    """Obtain and analyse one cohort (see the module docstring); never raises for a cohort that
    cannot be obtained or analysed: its ``status`` says why."""
    t0 = time.perf_counter()
    with _worker_context(task):
        cr = _run(task)
    cr.timings["cohort"] = time.perf_counter() - t0
    return cr


def _load(task: CohortTask, cache) -> tuple[Any, bool]:
    """The cohort as loaded by :func:`mgtranscript.datasets.load_cohort`, from the parsed-cohort
    cache when an earlier run parsed the same files; and whether it came from there."""
    from .. import datasets

    adata = cache.get_parsed(task.accession, task.sheet)
    if adata is not None:
        return adata, True
    adata = datasets.load_cohort(task.accession, samples=task.sheet)
    cache.put_parsed(task.accession, task.sheet, adata)
    return adata, False


def _run(task: CohortTask) -> CohortResult:
    from ..datasets import format_counts
    from ._cache import Cache, files_of
    from ._cohort import analyse_cohort
    from ._provenance import recorded_inputs

    acc, sheet = task.accession, task.sheet
    cr = CohortResult(accession=acc, status=status_row(acc, task.entry, sheet=sheet))
    row = cr.status
    cache = Cache(**task.cache)
    t0 = time.perf_counter()
    try:
        adata, parsed = _load(task, cache)
    except LabelsMissing as exc:  # e.g. GSE77314 without its sample sheet: say what is missing
        row.update(status="no labels", reason=str(exc), reason_short=short_reason(str(exc)))
        logger.warning("%s", short_reason(str(exc), 300))
        return cr
    except MgTranscriptError as exc:
        _metadata_only(task, cr, str(exc))
        return cr
    finally:
        cr.timings["load"] = time.perf_counter() - t0
    cr.loaded = True
    cr.input_records = recorded_inputs(adata)
    files = files_of(adata)
    counts = _label_counts(adata)
    row.update(n_samples=adata.n_obs, groups=" · ".join(f"{k} {v}" for k, v in counts.items()))
    if set(counts) <= {"unlabelled"}:
        row.update(status="no labels", reason="no sample matched a catalog label rule; pass a sample sheet",
                   reason_short="no sample matched a label rule; pass a sample sheet")
        return cr
    if _labels_disagree(adata):  # a wrong rule mislabels quietly: such a cohort is not analysed
        check = adata.uns["labels"]["check"]
        row.update(status="labels disagree", reason=f"{acc}: labels disagree: {check['reason']}",
                   reason_short=short_reason(f"expected {format_counts(check['expected'])}; labelled "
                                             f"{format_counts(check['observed'])}", 120))
        cr.sample_counts = [{"accession": acc, "condition": k, "n": v, "analysed": False} for k, v in counts.items()]
        return cr  # load_cohort has warned with the full reason
    n_un = counts.get("unlabelled", 0)
    if n_un:  # counted and reported, never silently dropped
        row.update(reason=f"{n_un} of {adata.n_obs} samples match no label rule: kept as 'unlabelled', "
                          "counted in sample_counts.tsv and left out of the group comparisons",
                   reason_short=f"{n_un} samples unlabelled (counted, not compared)")
    cr.sample_counts = [{"accession": acc, "condition": k, "n": v, "analysed": True} for k, v in counts.items()]
    try:
        done = analyse_cohort(adata, acc, method=task.method, mechanisms=task.mechanisms,
                              permutations=task.permutations, seed=task.seed, claims=task.claims)
    except MgTranscriptError as exc:
        row.update(status="failed", reason=str(exc), reason_short=short_reason(str(exc)))
        logger.error("%s: analysis failed: %s", acc, exc)
        return cr
    except Exception as exc:  # noqa: BLE001 - one cohort's bug must not sink the run
        row.update(status="failed", reason=f"{type(exc).__name__}: {exc}",
                   reason_short=short_reason(f"{type(exc).__name__}: {exc}"))
        logger.error("%s: analysis failed: %s: %s (details with -v)", acc, type(exc).__name__, exc)
        logger.debug("%s: analysis failed:\n%s", acc, traceback.format_exc())
        return cr
    row.update(status="analysed")
    for name in ("tables", "de", "de_contrast", "ranking", "features", "km", "gene_sets"):
        setattr(cr, name, getattr(done, name))
    cr.timings.update(done.timings)
    cr.source = "computed (parsed cohort from the cache)" if parsed else "computed"
    cache.put_result(acc, sheet, task.params, cr, files)
    return cr


def _metadata_only(task: CohortTask, cr: CohortResult, msg: str) -> None:
    """Why a cohort could not be loaded, with its labelled sample counts when its metadata can be
    (e.g. a series matrix without counts)."""
    from .. import datasets

    acc, row = task.accession, cr.status
    try:
        meta_only = datasets.load_cohort(acc, samples=task.sheet, metadata_only=True)
        row.update(status="metadata only", reason=msg, n_samples=meta_only.n_obs)
        counts = _label_counts(meta_only)
        cr.sample_counts = [{"accession": acc, "condition": k, "n": v, "analysed": False} for k, v in counts.items()]
        row["groups"] = " · ".join(f"{k} {v}" for k, v in counts.items())
        if _labels_disagree(meta_only):
            check = meta_only.uns["labels"]["check"]
            msg = f"{acc}: labels disagree: {check['reason']} (and {short_reason(msg, 200)})"
            row.update(status="labels disagree", reason=msg)
    except Exception:  # noqa: BLE001 - reported, never fatal
        row.update(status="unavailable", reason=msg)
    row["reason_short"] = short_reason(msg)
    short = short_reason(msg, 300)
    logger.warning("%s", short if short.startswith(f"{acc}:") else f"{acc}: {short}")
