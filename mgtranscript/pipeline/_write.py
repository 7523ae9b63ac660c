"""The one writer of a run's files: every table (:func:`~._result.write_tables`: the tables of
:data:`~._result.TABLES` and :data:`~._result.PER_COHORT` and ``inputs.tsv``) and
``provenance.json``; the output transaction adds ``manifest.json`` when it swaps the folder in.

:func:`mgtranscript.pipeline.run_analysis` writes the tables once, hands the finished result to
the report, then writes the provenance (with the report's time); :func:`write_result` does the
same without a report. The report writes the tables of a result it is given through the same
:func:`~._result.write_tables` (:meth:`AnalysisResult.write_tables <._result.AnalysisResult.write_tables>`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ._provenance import read_through_cache, write_provenance
from ._result import AnalysisResult, write_tables

__all__ = ["write_tables", "write_result", "complete_inputs"]


def complete_inputs(inputs: list[dict]) -> list[dict]:
    """``inputs`` with ``sha256`` and ``bytes`` filled from the file at ``path`` where missing."""
    from ..fetch import sha256sum

    out = []
    for f in inputs:
        f = dict(f)
        p = Path(str(f.get("path") or ""))
        if str(f.get("path") or "") and p.is_file():
            if not f.get("sha256"):
                f["sha256"] = sha256sum(p)
            if f.get("bytes") in (None, "") or (isinstance(f.get("bytes"), float) and f["bytes"] != f["bytes"]):
                f["bytes"] = p.stat().st_size
        out.append(f)
    return out


def write_result(res: AnalysisResult, out_dir: str | Path) -> list[Path]:
    """Write a finished run: its inputs completed (files read through the cache added, sizes and
    hashes filled), every table (:func:`write_tables`) and ``provenance.json``."""
    out = Path(out_dir)
    res.inputs = complete_inputs(res.inputs + read_through_cache(res.inputs))
    written = write_tables(res, out)
    write_provenance(res, out)
    return [*written, out / "provenance.json"]
