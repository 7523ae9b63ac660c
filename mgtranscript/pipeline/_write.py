"""The one writer of a run's files: every table (:func:`~._result.write_tables`: the tables of
:data:`~._result.TABLES` and :data:`~._result.PER_COHORT` and ``inputs.tsv``) and
``provenance.json``; the output transaction adds ``manifest.json`` when it swaps the folder in.

:func:`mgtranscript.pipeline.run_analysis` hands its finished result to :func:`write_result`
once, inside its output transaction: the tables are written once, the report (figures and HTML)
is drawn from the finished result through the ``report`` hook, then the provenance is written
with the time every step took. The report writes the tables of a result it is given on its own
through the same :func:`~._result.write_tables`
(:meth:`AnalysisResult.write_tables <._result.AnalysisResult.write_tables>`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ._provenance import read_through_cache, write_provenance
from ..fetch import complete_inputs
from ._result import AnalysisResult, write_tables

__all__ = ["write_tables", "write_result"]


def write_result(res: AnalysisResult, out_dir: str | Path, *,
                 report: Callable[[AnalysisResult, Path], None] | None = None,
                 started: float | None = None) -> list[Path]:
    """Write a finished run into ``out_dir``: its inputs completed (files read through the cache
    added, sizes and hashes filled), every table once (:func:`~._result.write_tables`), then
    ``report(res, out_dir)`` if given (the figures and the HTML report of the finished result),
    then ``provenance.json`` with the seconds of each step (``params["timings"]``: ``run: tables``,
    the report's, ``run: total`` since ``started``, a :func:`time.monotonic` value).

    Returns
    -------
    The tables and the provenance file written.
    """
    out = Path(out_dir)
    t0 = time.monotonic()
    res.inputs = complete_inputs(res.inputs + read_through_cache(res.inputs))
    written = write_tables(res, out)
    if started is not None:
        res.params["seconds"] = round(time.monotonic() - started, 1)
    res.timings["tables"] = round(time.monotonic() - t0, 1)
    if report is not None:
        report(res, out)
    timings = dict(res.params.get("timings") or {})
    timings.update({f"run: {k}": v for k, v in res.timings.items()})
    if started is not None:
        timings["run: total"] = round(time.monotonic() - started, 1)
    res.params["timings"] = timings
    write_provenance(res, out)
    return [*written, out / "provenance.json"]
