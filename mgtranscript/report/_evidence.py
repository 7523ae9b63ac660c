"""The evidence per testable claim: forest plot, the feature by group, the tests, the sensitivity analyses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from mgtranscript.report._common import (
    _add_figures,
    _cohort_words,
    _feature_col,
    _perm_floor,
    _tsv,
)
from mgtranscript.report._figures import FigureEntry
from mgtranscript.report._result import design_words, params_of, table
from mgtranscript.report._format import (
    DASH,
    Cell,
    Col,
    as_float,
    col_bool,
    col_ci,
    col_p,
    col_text,
    effect_words,
    evidence_effect_words,
    fmt_int,
    is_missing,
)
from mgtranscript.report._page import Report, badge, certainty_html, esc, slug
from mgtranscript.report._top import n_words


#: Words for ``claims_evidence.q_family``.
Q_FAMILY_WORDS = {"claims": "the verdicts", "run": "the run's tests"}


def _n_col() -> Col:
    """n, with a paired comparison's pairs said as pairs: "50 pairs (100 samples)"."""
    def get(row):
        v = as_float(row.get("n"))
        if v != v:
            return Cell(DASH, None)
        paired = str(row.get("design") or "").startswith("paired")
        return Cell(n_words(v, row.get("design")) if paired else fmt_int(v), v)

    return Col("n", get, num=True, tip="samples (pairs for a paired comparison)")


def evidence_columns(floor: float | None = None) -> list[Col]:
    """The columns of a "Tests behind this verdict" table (scenario first: which analysis it is)."""
    def role(row):
        inc = row.get("included")
        counted = not is_missing(inc) and bool(inc) and str(inc).lower() != "false"
        txt = str(row.get("role", "")) + ("" if counted else " — not counted")
        return Cell(txt, txt)

    return [
        col_text("analysis", "scenario", words=lambda v: "main" if str(v) == "primary" else str(v),
                 tip="primary: the main analysis the verdict uses; others are sensitivity analyses"),
        Col("cohort", lambda r: Cell(str(r.get("cohort", "")), str(r.get("cohort", "")).lower())),
        _feature_col("feature"),
        col_text("test", "test", limit=60),
        Col("design", lambda r: Cell(design_words(r.get("design")), str(r.get("design", "")))),
        Col("effect", lambda r: Cell(evidence_effect_words(r))),
        col_ci("estimate [95% CI]", "estimate", "ci_low", "ci_high"),
        col_p("p", "pval"),
        col_p("q", "qval"),
        col_text("q over", "q_family", words=lambda v: Q_FAMILY_WORDS.get(str(v), str(v)), optional=True,
                 tip="the multiplicity family of q: the verdicts (Benjamini-Hochberg over the voted p of all "
                     "testable claims) or the run (over all tests of the same analysis and scenario)"),
        _n_col(),
        Col("role", role),
        Col("voted", _voted, optional=True,
            tip="yes: the row is part of the verdict's vote (a voted cohort estimate or the pool); no: shown "
                "beside it (sensitivity, context, alternatives, contrasts not used)"),
        col_text("why", "why", limit=80, optional=True, width="14%"),
    ]


def _flag(v: Any) -> bool | None:
    """A boolean cell of a table read back from TSV or built in memory; None when missing."""
    if is_missing(v):
        return None
    return str(v).strip().lower() in ("true", "1", "yes")


def _voted(row: pd.Series) -> Cell:
    used = _flag(row.get("used"))
    if used is None:
        return Cell("", None)
    return Cell("yes" if used else "no", "0" if used else "1")


def sensitivity_columns() -> list[Col]:
    """The columns of a sensitivity table (``tables/sensitivity.tsv``): the verdict under each alternative."""
    return [
        col_text("alternative analysis", "alternative", limit=60),
        Col("verdict", lambda r: Cell(html=badge(r.get("verdict")), sort=str(r.get("verdict", "")))),
        Col("effect", lambda r: Cell(effect_words(r.get("effect_kind")))),
        col_ci("effect [95% CI]", "effect", "ci_low", "ci_high"),
        col_p("p", "pval"),
        col_p("q", "qval"),
        Col("cohorts", lambda r: Cell(_cohort_words(r.get("cohorts")), str(r.get("cohorts", "")).lower())),
        Col("re-derived", lambda r: Cell("" if is_missing(r.get("rederived")) else _cohort_words(r.get("rederived"))),
            optional=True, tip="the cohorts whose estimate this alternative re-derived (the others as in the main "
                               "analysis)"),
        col_bool("agrees", "agrees"),
        Col("counted", lambda r: Cell("" if is_missing(r.get("counted")) else
                                      ("yes" if str(r.get("counted")).lower() in ("true", "1") else
                                       "no (a mediator adjustment: reported, neither agrees nor dissents)")),
            optional=True),
        col_text("note", "note", limit=80, optional=True),
    ]


def _order_tests(rows: pd.DataFrame) -> pd.DataFrame:
    """Main analysis first (the rows that voted first, then the other counted rows), then each
    sensitivity scenario."""
    scen = rows.get("scenario", pd.Series("primary", index=rows.index)).astype(str)
    inc = rows.get("included", pd.Series(True, index=rows.index)).astype(str).str.lower().isin(("true", "1"))
    used = rows.get("used", pd.Series(True, index=rows.index)).astype(str).str.lower().isin(("true", "1"))
    return rows.assign(_s=(scen != "primary").astype(int), _u=(~used).astype(int), _i=(~inc).astype(int)).sort_values(
        ["_s", "_u", "_i"], kind="stable").drop(columns=["_s", "_u", "_i"])


def _evidence(rep: Report, res: Any, figures: Sequence[FigureEntry]) -> None:
    claims = table(res, "claims")
    ev = table(res, "claims_evidence")
    sens = table(res, "sensitivity")
    params = params_of(res)
    sec = rep.section("evidence", "Evidence per claim", nav="Evidence",
                      intro="For each testable claim: its estimates per cohort (a pooled diamond only where at least "
                            "two cohorts were pooled), the feature itself by group, and every test behind the verdict. "
                            "The verdict, its reasons and caveats are on the claim's line above.")
    if claims.empty:
        sec.text("No claim was evaluated.")
        return
    floor = _perm_floor(params)
    for _, c in claims.iterrows():
        cid = str(c["claim_id"])
        if str(c.get("verdict", "")) == "not testable":
            continue
        sec.html(f'<div class="claim-ev" id="claim-{esc(slug(cid))}"><h3>{esc(cid)} {badge(c.get("verdict"))} '
                 f'<span class="cert-inline">{certainty_html(c.get("certainty"))}</span></h3>'
                 f'<p class="statement">{esc(c.get("statement", ""))} '
                 f'<a class="small" href="#row-{esc(slug(cid))}">why, caveats and source ↑</a></p>')
        n_fig = _add_figures(sec, figures, f"claim-{cid}")
        rows = ev[ev["claim_id"].astype(str) == cid] if not ev.empty and "claim_id" in ev.columns else ev.iloc[0:0]
        if not n_fig and rows.empty:
            sec.html('<p class="note">No per-cohort evidence was recorded for this claim.</p>')
        if len(rows):
            sec.table(_order_tests(rows), columns=evidence_columns(floor), title="Tests behind this verdict",
                      what="tests", tsv=_tsv("claims_evidence"), max_rows=None, collapsed=True,
                      note="Analysis *main*: the main analysis; the others are sensitivity analyses. "
                           + ("*Voted* yes: the rows the verdict's vote counts (a cohort's estimate or the pool)."
                              if "used" in rows.columns else ""))
        srows = sens[sens["claim_id"].astype(str) == cid] if not sens.empty and "claim_id" in sens.columns else None
        if srows is not None and len(srows):
            agree = srows["agrees"].astype(bool).sum() if "agrees" in srows else 0
            sec.table(srows, columns=sensitivity_columns(),
                      title=f"Sensitivity: {agree} of {len(srows)} re-analyses agree", what="re-analyses",
                      tsv=_tsv("sensitivity"), max_rows=None, collapsed=True)
        sec.html("</div>")
