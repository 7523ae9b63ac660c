"""The report of an analysis run, answers first.

Top (the first screen): the bottom line per disease area (a sentence from the verdicts and
one chip per claim); then ONE COMPACT LINE PER CLAIM grouped by disease area (verdict badge,
certainty, statement, effect with 95% CI and q, source), its details opening in place; then
what was asked (the review, cited) and which cohorts were analysed.

Then the evidence per testable claim (forest plot, the feature by group, the tests behind
the verdict, the sensitivity analyses), and everything else grouped by question: cohorts
-> Mg scores -> genes -> pooled effects -> DE -> enrichment -> coupling -> trends ->
survival -> design audit -> sensitivity -> provenance.

Modules: :mod:`~mgtranscript.report._top` (asked, cohort cards, claims table),
:mod:`~mgtranscript.report._evidence` (per claim), :mod:`~mgtranscript.report._details`
(everything else), with shared helpers in ``report/_common.py``; this module puts them in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from mgtranscript.report._details import (
    PACKAGES,
    _cohorts,
    _coupling,
    _de,
    _design,
    _enrichment,
    _genes,
    _meta,
    _provenance,
    _scores,
    _sensitivity,
    _survival,
    _trends,
)
from mgtranscript.report._common import _add_figures
from mgtranscript.report._evidence import _evidence
from mgtranscript.report._figures import FigureEntry
from mgtranscript.report._result import mapping, table
from mgtranscript.report._flags import banners, cohort_flags
from mgtranscript.report._page import Report, esc
from mgtranscript.report._top import (
    ASKED,
    HOW_TO_READ,
    REVIEW_CITATION,
    VERDICT_ORDER,
    _asked,
    _bottom_line,
    _claims,
)

__all__ = ["build", "SECTIONS", "SECTION_IDS", "ASKED", "HOW_TO_READ", "REVIEW_CITATION", "VERDICT_ORDER",
           "PACKAGES"]

#: Section ids below the claims, in order, with their titles.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("cohorts", "Cohorts and samples", "Cohorts"),
    ("scores", "Mg scores", "Mg scores"),
    ("genes", "Mg genes", "Mg genes"),
    ("meta", "Pooled effects (meta-analysis)", "Pooled"),
    ("de", "Differential expression", "DE"),
    ("enrichment", "Enrichment", "Enrichment"),
    ("coupling", "Mg-mechanism coupling", "Coupling"),
    ("trends", "Trends across stages", "Trends"),
    ("survival", "Survival", "Survival"),
    ("design", "Design audit", "Design audit"),
    ("sensitivity", "Sensitivity analyses", "Sensitivity"),
    ("provenance", "Provenance", "Provenance"),
)

#: Every section id of the standard report, in order.
SECTION_IDS: tuple[str, ...] = ("bottom-line", "claims", "overview", "asked", "evidence") + tuple(s[0] for s in SECTIONS)


def _cohorts_shown(res: Any) -> dict[str, list[str]]:
    """Section id -> the cohorts whose data it shows (for the design-flag banners)."""
    def col(name: str) -> list[str]:
        t = table(res, name)
        return [str(c) for c in pd.unique(t["cohort"].astype(str))] if "cohort" in t.columns else []

    feats = [str(k) for k in mapping(res, "features")]
    return {"scores": feats or col("comparisons"), "genes": feats or col("comparisons"),
            "de": [str(k) for k in mapping(res, "de")], "enrichment": col("gsea") + col("ora"),
            "coupling": col("coupling") + col("correlations"), "trends": col("trends"), "survival": col("survival")}


def build(res: Any, figures: Sequence[FigureEntry] = (), *, title: str | None = None,
          errors: Sequence[tuple[str, str]] = ()) -> Report:
    """The standard report of an ``AnalysisResult``, answers first (see the module docstring).

    Parameters
    ----------
    res
        The result; tables absent from it are skipped (their section says so).
    figures
        ``(section, png path, caption)`` from :func:`mgtranscript.report.draw_figures`.
    title
        Page title.
    errors
        ``(section, message)`` of figures that could not be drawn (said in their section).
    """
    claims = table(res, "claims")
    cohorts = table(res, "cohorts")
    n_analysed = int((cohorts["status"].astype(str) == "analysed").sum()) if "status" in cohorts else 0
    areas = sorted({str(a) for a in cohorts.loc[cohorts.get("status", pd.Series(dtype=str)).astype(str) == "analysed",
                                                 "disease_area"]} if "disease_area" in cohorts else set())
    sub = (f"{len(claims)} claims of a 2026 review (Ji et al., Front. Nutr.) tested in {n_analysed} public "
           f"liver cohort{'s' if n_analysed != 1 else ''}" + (f" ({', '.join(areas)})" if areas else "") + ".")
    rep = Report(title or "Magnesium homeostasis in liver disease: what public transcriptomes say", subtitle=sub)
    _bottom_line(rep, res)
    _claims(rep, res)
    ov = rep.section("overview", "Mg genes and scores across every contrast", nav="At a glance",
                     intro="The comparison the claims rest on, for every cohort at once: each column is one "
                           "contrast of one cohort.")
    if not _add_figures(ov, figures, "overview", cohort_flags(res)):
        ov.text("No comparison was run.")
    _asked(rep, res)
    _evidence(rep, res, figures)
    builders = {
        "cohorts": lambda s: _cohorts(s, res),
        "scores": lambda s: _scores(s, res, figures),
        "genes": lambda s: _genes(s, res, figures),
        "meta": lambda s: _meta(s, res),
        "de": lambda s: _de(s, res, figures),
        "enrichment": lambda s: _enrichment(s, res, figures),
        "coupling": lambda s: _coupling(s, res, figures),
        "trends": lambda s: _trends(s, res, figures),
        "survival": lambda s: _survival(s, res, figures),
        "design": lambda s: _design(s, res),
        "sensitivity": lambda s: _sensitivity(s, res),
        "provenance": lambda s: _provenance(s, res),
    }
    flags = cohort_flags(res)
    shown = _cohorts_shown(res)
    for sid, stitle, short in SECTIONS:
        sec = rep.section(sid, stitle, nav=short)
        if flags and sid in shown:
            b = banners(flags, shown[sid])
            if b:
                sec.html(b)
        builders[sid](sec)
    for s, msg in errors:
        target = "evidence" if s.startswith("claim-") else s
        try:
            rep[target].html(f'<p class="warn">A figure could not be drawn: {esc(msg)}</p>')
        except KeyError:
            rep["provenance"].html(f'<p class="warn">A figure could not be drawn: {esc(msg)}</p>')
    return rep
