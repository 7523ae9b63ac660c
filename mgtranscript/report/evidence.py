"""The evidence per testable claim: forest plot, the feature by group, the tests, the sensitivity analyses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mgtranscript.report._common import (
    _add_figures,
    _cohort_words,
    _feature_col,
    _perm_floor,
    _tsv,
)
from mgtranscript.report.figures import FigureEntry, design_words, params_of, table
from mgtranscript.report.format import (
    Cell,
    Col,
    col_bool,
    col_ci,
    col_int,
    col_num,
    col_p,
    col_text,
    effect_words,
    fmt_est_ci,
    is_missing,
    p_eq,
)
from mgtranscript.report.page import Report, badge, certainty_html, esc, slug


def _evidence_columns(floor: float | None) -> list[Col]:
    def role(row):
        inc = row.get("included")
        counted = not is_missing(inc) and bool(inc) and str(inc).lower() != "false"
        txt = str(row.get("role", "")) + ("" if counted else " — not counted")
        return Cell(txt, txt)

    return [
        Col("cohort", lambda r: Cell(str(r.get("cohort", "")), str(r.get("cohort", "")).lower())),
        _feature_col("feature"),
        col_text("test", "test", limit=60),
        Col("design", lambda r: Cell(design_words(r.get("design")), str(r.get("design", "")))),
        Col("effect", lambda r: Cell(effect_words(r.get("effect_kind")))),
        col_ci("estimate [95% CI]", "estimate", "ci_low", "ci_high"),
        col_p("p", "pval"),
        col_p("q", "qval"),
        col_int("n", "n"),
        Col("role", role),
        col_text("why", "why", limit=80),
    ]


def _evidence(rep: Report, res: Any, figures: Sequence[FigureEntry]) -> None:
    claims = table(res, "claims")
    ev = table(res, "claims_evidence")
    sens = table(res, "sensitivity")
    params = params_of(res)
    sec = rep.section("evidence", "Evidence per claim", nav="Evidence",
                      intro="For each testable claim: its estimates per cohort (a pooled diamond only where at least "
                            "two cohorts were pooled), the feature itself by group, and every test behind the verdict.")
    if claims.empty:
        sec.text("No claim was evaluated.")
        return
    floor = _perm_floor(params)
    untestable = []
    for _, c in claims.iterrows():
        cid = str(c["claim_id"])
        if str(c.get("verdict", "")) == "not testable":
            untestable.append(c)
            continue
        head = (f'<div class="claim-ev" id="claim-{esc(slug(cid))}"><h3>{esc(cid)} {badge(c.get("verdict"))}</h3>'
                f'{certainty_html(c.get("certainty"))}'
                f'<p class="statement">{esc(c.get("statement", ""))}</p>')
        why = []
        if not is_missing(c.get("reason")):
            why.append(("Why this verdict", esc(c.get("reason"))))
        if not is_missing(c.get("effect")):
            why.append(("Effect voted on", (f"{esc(effect_words(c.get('effect_kind')))} "
                        f"{esc(fmt_est_ci(c.get('effect'), c.get('ci_low'), c.get('ci_high')))}, "
                        f"{esc(p_eq('p', c.get('pval')))}, {esc(p_eq('q', c.get('qval')))}")))
        if not is_missing(c.get("cohorts")):
            why.append(("Cohorts", esc(_cohort_words(c.get("cohorts")))))
        if not is_missing(c.get("robustness")):
            why.append(("Robustness", esc(c.get("robustness"))))
        if not is_missing(c.get("caveats")):
            why.append(("Caveats", esc(c.get("caveats"))))
        if not is_missing(c.get("citation")):
            why.append(("Source", esc(c.get("citation"))))
        sec.html(head + '<dl class="why">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in why) + "</dl>")
        n_fig = _add_figures(sec, figures, f"claim-{cid}")
        rows = ev[ev["claim_id"].astype(str) == cid] if not ev.empty and "claim_id" in ev.columns else ev.iloc[0:0]
        if not n_fig and rows.empty:
            sec.html('<p class="note">No per-cohort evidence was recorded for this claim.</p>')
        if len(rows):
            sec.table(rows, columns=_evidence_columns(floor), title="Tests behind this verdict", what="tests",
                      tsv=_tsv("claims_evidence"), max_rows=None, collapsed=len(rows) > 12)
        srows = sens[sens["claim_id"].astype(str) == cid] if not sens.empty and "claim_id" in sens.columns else None
        if srows is not None and len(srows):
            agree = srows["agrees"].astype(bool).sum() if "agrees" in srows else 0
            sec.table(srows, columns=[
                col_text("alternative", "alternative", limit=60), Col("cohort", lambda r: str(r.get("cohort", ""))),
                col_num("estimate", "estimate"), col_p("p", "pval"), col_p("q", "qval"),
                col_bool("agrees", "agrees"), col_text("note", "note", limit=80)],
                title=f"Sensitivity: {agree} of {len(srows)} re-analyses agree", what="re-analyses",
                tsv=_tsv("sensitivity"), max_rows=None, collapsed=True)
        sec.html(f'<p class="small"><a href="#row-{esc(slug(cid))}">↑ back to the claims</a></p></div>')
    if untestable:
        items = "".join(
            f'<li id="claim-{esc(slug(c["claim_id"]))}"><b>{esc(c["claim_id"])}</b> {badge(c.get("verdict"))} '
            f'{esc(c.get("statement", ""))} <span class="muted">— {esc(c.get("reason", ""))}</span> '
            f'<a class="small" href="#row-{esc(slug(c["claim_id"]))}">↑ claims</a></li>'
            for c in untestable)
        sec.html(f'<h3 id="not-testable">Claims these data cannot test ({len(untestable)})</h3>'
                 f'<ul class="untestable">{items}</ul>')
