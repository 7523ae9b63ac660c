"""The HTML report of an analysis run: ONE self-contained file that answers first.

``write_report(res, out_dir)`` draws every figure from an ``AnalysisResult``
(:mod:`mgtranscript.report._figures`; a cohort's own figures can be drawn earlier, as soon as it
is analysed, with :func:`draw_cohort_figures`, and handed over as ``drawn=``), lays the page out answers first
(:mod:`mgtranscript.report._sections`: the bottom line per disease area on the first screen,
one line per claim grouped by area with its details in place, the Mg genes and scores across
every contrast, the review's question and the cohorts, the evidence per claim, then everything
else by question, each cohort's design flags beside its data)
and writes ``out_dir/report.html`` with the figures embedded as data URIs, beside
``figures/*.png`` (and ``*.svg`` with ``svg=True``) and the full ``tables/*.tsv`` it links.

Build a page by hand with :class:`Report` and :class:`Section`::

    rep = Report("Mg homeostasis in MASLD", subtitle="GSE126848")
    sec = rep.section("comparisons", "Comparisons", intro="NASH vs healthy.")
    sec.text("Scores by **ssGSEA**; q-values by Benjamini-Hochberg.")
    sec.table(stats_df, title="Score comparisons", tsv="tables/comparisons.tsv", per="cohort", max_rows=30)
    sec.figure(fig, caption="MG_LIVER_CORE by group")
    rep.write("report.html")

Modules: :mod:`~mgtranscript.report._page` (Report/Section; their CSS and inline JS for sortable
tables in ``_assets.py``), :mod:`~mgtranscript.report._format` (numbers and names for people),
:mod:`~mgtranscript.report._sections` (the standard layout: :mod:`~mgtranscript.report._bottomline`,
:mod:`~mgtranscript.report._top`, :mod:`~mgtranscript.report._evidence`,
:mod:`~mgtranscript.report._details`, :mod:`~mgtranscript.report._flags`),
:mod:`~mgtranscript.report._figures`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from mgtranscript.fetch import complete_inputs as fetch_complete_inputs
from mgtranscript.report._figures import CohortFigures, draw_cohort_figures, draw_figures
from mgtranscript.report._page import Report, Section
from mgtranscript.report._result import mapping, table
from mgtranscript.report._sections import SECTION_IDS, build

logger = logging.getLogger(__name__)

__all__ = ["write_report", "draw_figures", "draw_cohort_figures", "CohortFigures", "build", "write_tables",
           "complete_inputs", "Report", "Section", "SECTION_IDS", "TABLES"]

#: Tables of an AnalysisResult the report links as ``tables/<name>.tsv``.
TABLES: tuple[str, ...] = ("cohorts", "sample_counts", "coverage", "comparisons", "trends", "gsea", "ora",
                           "coupling", "correlations", "meta", "design", "pairs", "survival", "claims",
                           "claims_evidence", "sensitivity")


def _write_tsv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        df.to_csv(tmp, sep="\t", index=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_tables(res: Any, out_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write the TSVs the report links (``tables/<name>.tsv``, ``de_<accession>.tsv``, ``inputs.tsv``).

    A result of the pipeline (:class:`mgtranscript.pipeline.AnalysisResult`) writes its own
    tables, all of them, through the pipeline's one writer (``res.write_tables``). For any other
    result object, the tables above are written; those already there are kept unless
    ``overwrite``; no index column.
    """
    writer = getattr(res, "write_tables", None)
    if callable(writer):
        return writer(out_dir)
    tdir = Path(out_dir) / "tables"
    tdir.mkdir(parents=True, exist_ok=True)
    written = []
    items: list[tuple[str, pd.DataFrame]] = [(n, table(res, n)) for n in TABLES]
    items += [(f"de_{acc}", df) for acc, df in mapping(res, "de").items() if isinstance(df, pd.DataFrame)]
    inputs = getattr(res, "inputs", None) or []
    if inputs:
        items.append(("inputs", pd.DataFrame(list(inputs))))
    for name, df in items:
        if df.empty and name not in ("claims",):
            continue
        path = tdir / f"{name}.tsv"
        if path.exists() and not overwrite:
            continue
        _write_tsv(df, path)
        written.append(path)
    return written


def complete_inputs(res: Any) -> list[dict]:
    """``res.inputs`` with ``sha256`` and ``bytes`` filled from the file at ``path`` where missing
    (:func:`mgtranscript.fetch.complete_inputs`)."""
    return fetch_complete_inputs(list(getattr(res, "inputs", None) or []))


def write_report(res: Any, out_dir: str | Path, *, figures: bool = True, svg: bool = False,
                 title: str | None = None, n_jobs: int = 1, tables: bool = True, drawn: Any = None) -> Path:
    """Draw the figures, write the linked tables and the report of an ``AnalysisResult``.

    Parameters
    ----------
    res
        The result of :func:`mgtranscript.pipeline.run_analysis` (tables per the result
        schema; absent ones are skipped).
    out_dir
        Output folder: ``report.html``, ``figures/``, ``tables/``.
    figures
        Draw the figures (PNG; False: the report has tables only, plus any figures
        already listed in ``res.figures``).
    svg
        Also write every figure as SVG (the report embeds the PNGs).
    title
        Page title.
    n_jobs
        Processes drawing the figures (see :func:`draw_figures`).
    tables
        Also write the tables the report links (:func:`write_tables`); ``False`` when they are
        already written (:func:`mgtranscript.pipeline.run_analysis` writes them once, before the
        report).
    drawn
        Figures already drawn into ``out_dir/figures`` (what :func:`draw_cohort_figures` returned
        for each cohort as it was analysed), or the :class:`CohortFigures` drawing them: not drawn again.

    Returns
    -------
    Path
        ``out_dir/report.html`` (written atomically: a failure leaves an earlier report as it
        was). ``res.figures`` and ``res.report`` are set.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    errors: list[tuple[str, str]] = []
    if figures:
        figs = draw_figures(res, out / "figures", svg=svg, errors=errors, n_jobs=n_jobs, drawn=drawn)
        try:
            res.figures = figs
        except AttributeError:  # pragma: no cover - a frozen result
            pass
    else:
        figs = [tuple(f) for f in (getattr(res, "figures", None) or [])]
    if tables:
        try:
            res.inputs = complete_inputs(res)
        except AttributeError:  # pragma: no cover
            pass
        write_tables(res, out, overwrite=True)
    rep = build(res, figs, title=title, errors=errors)
    path = rep.write(out / "report.html")
    try:
        res.report = path
    except AttributeError:  # pragma: no cover
        pass
    return path
