"""The report of an analysis run, answers first.

Top (the first screen): what was asked (the review, cited), which cohorts were analysed
(a card each; the others one line each with the reason behind a disclosure), then ONE
ROW PER CLAIM (statement, citation, verdict badge, certainty, effect with 95% CI and q,
cohorts, caveats), each linking to its evidence.

Then the evidence per testable claim (forest plot, the feature by group, the tests behind
the verdict, the sensitivity analyses), and everything else grouped by question: cohorts
-> Mg scores -> genes -> pooled effects -> DE -> enrichment -> coupling -> trends ->
survival -> design audit -> sensitivity -> provenance.
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mgtranscript.pl._style import group_colour, group_label, set_label
from mgtranscript.report.figures import FigureEntry, design_words, mapping, params_of, table
from mgtranscript.report.format import (
    DASH,
    Cell,
    Col,
    abbreviate,
    as_float,
    col_bool,
    col_ci,
    col_genes,
    col_int,
    col_num,
    col_p,
    col_text,
    contrast_words,
    effect_words,
    feature_words,
    fmt_bytes,
    fmt_est_ci,
    fmt_int,
    is_missing,
    p_eq,
)
from mgtranscript.report.page import Report, Section, badge, certainty_html, esc, inline_md, slug

#: Packages whose versions the provenance section records.
PACKAGES: tuple[str, ...] = ("mgtranscript", "numpy", "scipy", "pandas", "anndata", "scanpy", "gseapy",
                             "statsmodels", "matplotlib", "adjustText", "requests")

REVIEW_CITATION = ("Ji L, Yu H, Wang R, Yan H, Yin X, Guo S, Wang R. Targeting Magnesium Homeostasis: "
                   "A Novel Therapeutic Strategy for Liver Diseases. Front. Nutr. 2026 (review; CC BY).")

#: What was asked, in our words (the review's abstract is not quoted).
ASKED = (
    "Ji et al. (2026) review the case that too little magnesium, in blood or inside liver cells, "
    "goes with and worsens fatty liver disease (MASLD), alcohol-related liver disease (ALD), "
    "drug-induced liver injury and liver cancer (HCC). The mechanisms they propose run through "
    "insulin resistance, failing mitochondria, oxidative stress, inflammation, the gut-liver axis, "
    "DNA repair and anti-tumour immunity, and they suggest that magnesium transporters, above all "
    "the efflux protein CNNM4, could be drug targets. This report tests what public liver "
    "transcriptomes can say about it: do magnesium-transport genes and gene-set scores differ "
    "between diseased and control livers, and do they move with the proposed mechanisms? "
    "The verdicts concern transcript levels only: mRNA is a weak stand-in for magnesium content or flux."
)

HOW_TO_READ = (
    "**Verdict**: the data point the way the claim says (*supported*), significantly the other way "
    "(*contradicted*), neither clearly (*inconclusive*), or cannot speak to it (*not testable*). "
    "**Certainty** (in the manner of GRADE): high, moderate, low or very low, lowered for design "
    "caveats, disagreement between cohorts, imprecision and indirectness. Effects are given with "
    "their 95% confidence interval and Benjamini-Hochberg q."
)

VERDICT_ORDER = ("supported", "contradicted", "inconclusive", "not testable")

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
SECTION_IDS: tuple[str, ...] = ("asked", "claims", "evidence") + tuple(s[0] for s in SECTIONS)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _tsv(name: str) -> str:
    return f"tables/{name}.tsv"


def _perm_floor(params: dict) -> float | None:
    perm = params.get("permutations")
    try:
        return 1.0 / (int(perm) + 1) if perm else None
    except (TypeError, ValueError):
        return None


def _figures(figures: Sequence[FigureEntry], section: str) -> list[tuple[Path, str]]:
    return [(Path(p), c) for s, p, c in figures if s == section and Path(p).is_file()]


def _add_figures(sec: Section, figures: Sequence[FigureEntry], section: str) -> int:
    items = _figures(figures, section)
    for path, cap in items:
        sec.figure(path, caption=cap, link=f"figures/{path.name}")
    return len(items)


def _cohort_words(text: Any) -> str:
    return ", ".join(c for c in str(text or "").split(";") if c) or DASH


def _feature_col(header: str = "feature", column: str = "feature", width: str = "") -> Col:
    def get(row):
        v = row.get(column)
        if is_missing(v):
            return Cell(DASH, "")
        words = feature_words(v)
        return Cell(words, words.lower(), str(v) if words != str(v) else "")

    return Col(header, get, width=width)


def _contrast_col(header: str = "contrast", column: str = "contrast") -> Col:
    def get(row):
        v = row.get(column)
        w = contrast_words(v)
        return Cell(w or DASH, w.lower(), str(v) if w and w != str(v) else "")

    return Col(header, get)


def _n_groups_col() -> Col:
    def get(row):
        a, b = row.get("n_group"), row.get("n_ref")
        if is_missing(a) or is_missing(b):
            return Cell(DASH, None)
        return Cell(f"{fmt_int(a)} vs {fmt_int(b)}", as_float(a) + as_float(b))

    return Col("n", get, num=True, tip="samples in the group vs the reference")


# --------------------------------------------------------------------------------------
# top: asked, cohorts, claims
# --------------------------------------------------------------------------------------


def _asked(rep: Report, res: Any) -> None:
    sec = rep.section("asked", "What was asked", nav=False)
    sec.html(f'<div class="asked"><p>{esc(ASKED)}</p><p class="cite">{esc(REVIEW_CITATION)}</p></div>')
    cohorts = table(res, "cohorts")
    if cohorts.empty:
        sec.text("No cohort was tried.")
        return
    status = cohorts.get("status", pd.Series("", index=cohorts.index)).astype(str)
    analysed = cohorts[status == "analysed"]
    others = cohorts[status != "analysed"]
    sec.html(f"<h3>Cohorts analysed ({len(analysed)})</h3>")
    cards = []
    for _, r in analysed.iterrows():
        cards.append(_card(r, res))
    sec.html('<div class="cards">' + "".join(cards) + "</div>" if cards else
             '<p class="warn">No cohort could be analysed: every verdict below is "not testable".</p>')
    if len(others):
        items = []
        for _, r in others.iterrows():
            acc = esc(r.get("accession"))
            area = f" ({esc(r.get('disease_area'))})" if not is_missing(r.get("disease_area")) else ""
            short = r.get("reason_short")
            full = "" if is_missing(r.get("reason")) else str(r.get("reason"))
            if is_missing(short):
                short, _ = abbreviate(full.splitlines()[0] if full else "", 120)
            n = r.get("n_samples")
            n_txt = f", {fmt_int(n)} samples" if not is_missing(n) and as_float(n) > 0 else ""
            more = (f' <details><summary>full reason</summary><div>{esc(full)}</div></details>'
                    if full and full != short else "")
            items.append(f'<li><b>{acc}</b>{area} — <span class="st">{esc(r.get("status"))}</span>{esc(n_txt)}: '
                         f"{esc(short)}{more}</li>")
        sec.html(f"<h4>Not analysed ({len(others)})</h4><ul class=\"na\">" + "".join(items) + "</ul>")


def _card(r: pd.Series, res: Any) -> str:
    acc = str(r.get("accession"))
    title = "" if is_missing(r.get("title")) else str(r.get("title"))
    cite = "" if is_missing(r.get("citation")) else str(r.get("citation"))
    tip = " — ".join(x for x in (title, cite) if x)
    bits = [str(b) for b in (r.get("disease_area"), r.get("design"), _tech(r.get("technology")),
                             r.get("data_source")) if not is_missing(b) and str(b)]
    sheet = "" if is_missing(r.get("sample_sheet")) else Path(str(r.get("sample_sheet"))).name
    if sheet:
        bits.append(f"sample sheet {sheet}")
    n = r.get("n_samples")
    return (
        f'<div class="card"><div><span class="acc"{f" title={chr(34)}{esc(tip)}{chr(34)}" if tip else ""}>'
        f'{esc(acc)}</span> <span class="st st-analysed">{esc(r.get("status", "analysed"))}</span> '
        f'<span class="muted">{fmt_int(n) if not is_missing(n) else ""} samples</span></div>'
        + (f'<div class="title" title="{esc(tip)}">{esc(title)}</div>' if title else "")
        + f'<div class="muted">{esc(" · ".join(bits))}</div>'
        + f'<div class="groups">{_groups_html(acc, r, res)}</div></div>'
    )


def _tech(t: Any) -> str:
    return {"rnaseq": "RNA-seq", "array": "microarray"}.get(str(t), "" if is_missing(t) else str(t))


def _groups_html(acc: str, r: pd.Series, res: Any) -> str:
    sc = table(res, "sample_counts")
    if not sc.empty and "accession" in sc.columns:
        sub = sc[sc["accession"].astype(str) == acc]
        pairs = [(str(c), int(n)) for c, n in zip(sub["condition"], sub["n"]) if not is_missing(n)]
    else:
        pairs = []
    if not pairs and not is_missing(r.get("groups")):
        return esc(r.get("groups"))
    from mgtranscript.report.figures import stage_order

    order = stage_order([c for c, _ in pairs])
    counts = dict(pairs)
    return " ".join(f'<span class="gr"><span class="dot" style="background:{group_colour(c)}"></span>'
                    f"{esc(group_label(c))} {counts[c]}</span>" for c in order)


def _effect_cell(r: pd.Series) -> str:
    if is_missing(r.get("effect")):
        return f'<td class="effect" data-v="">{DASH}</td>'
    kind = effect_words(r.get("effect_kind"))
    est = fmt_est_ci(r.get("effect"), r.get("ci_low"), r.get("ci_high"))
    q = r.get("qval")
    q_txt = p_eq("q", q) if not is_missing(q) else ""
    return (f'<td class="effect" data-v="{esc(as_float(r.get("effect")))}"><span class="kind">{esc(kind)}</span>'
            f'{esc(est)}<span class="q">{esc(q_txt)}</span></td>')


def _caveats_cell(r: pd.Series) -> str:
    parts = []
    verdict = str(r.get("verdict", ""))
    cav = "" if is_missing(r.get("caveats")) else str(r.get("caveats"))
    items = [c.strip() for c in cav.split(" | ") if c.strip()]  # claims.CAVEAT_SEP
    if verdict == "not testable":
        reason = "" if is_missing(r.get("reason")) else str(r.get("reason"))
        parts.append(f"<div>{esc(reason)}</div>")
    if items:
        parts.append("<ul>" + "".join(f"<li>{esc(c)}</li>" for c in items) + "</ul>")
    rob = r.get("robustness")
    if not is_missing(rob):
        parts.append(f'<div class="muted">robustness: {esc(rob)}</div>')
    return f'<td class="caveats">{"".join(parts) or DASH}</td>'


def _claims(rep: Report, res: Any) -> None:
    claims = table(res, "claims")
    sec = rep.section("claims", "Claims and verdicts", nav="Claims")
    if claims.empty:
        sec.text("No claim was evaluated.")
        return
    counts = claims["verdict"].astype(str).value_counts()
    summary = "".join(f'<span class="n">{int(counts[v])}</span>{badge(v)}' for v in VERDICT_ORDER if v in counts)
    sec.html(f'<p class="summary-counts">{len(claims)} claims:{summary}</p>')
    sec.html(f'<p class="small muted">{inline_md(HOW_TO_READ)}</p>')
    rows = []
    for _, r in claims.iterrows():
        cid = str(r["claim_id"])
        cite = "" if is_missing(r.get("citation")) else str(r.get("citation"))
        scope = "" if is_missing(r.get("scope")) else str(r.get("scope"))
        meta = " · ".join(x for x in (cite, f"scope: {scope}" if scope and scope != "tissue" else "") if x)
        claim_td = (
            f'<td class="claim" data-v="{esc(cid.lower())}">'
            f'<a class="cid" href="#claim-{esc(slug(cid))}">{esc(cid)}</a>'
            f'<span class="claim-statement">{esc(r.get("statement", ""))}</span>'
            f'<span class="cite">{esc(meta)}</span> '
            f'<a class="ev-link" href="#claim-{esc(slug(cid))}">evidence →</a></td>'
        )
        verdict = str(r.get("verdict", ""))
        vorder = VERDICT_ORDER.index(verdict) if verdict in VERDICT_ORDER else 9
        verdict_td = f'<td data-v="{vorder}">{badge(verdict)}{certainty_html(r.get("certainty"))}</td>'
        n = r.get("n_cohorts")
        coh = _cohort_words(r.get("cohorts"))
        coh_td = f'<td class="small" data-v="{esc(as_float(n) if not is_missing(n) else "")}">{esc(coh)}</td>'
        rows.append(f'<tr id="row-{esc(slug(cid))}">{claim_td}{verdict_td}{_effect_cell(r)}{coh_td}'
                    f"{_caveats_cell(r)}</tr>")
    sec.html(
        '<table class="claims sortable"><colgroup><col style="width:40%"><col style="width:12.5%">'
        '<col style="width:14.5%"><col style="width:11%"><col style="width:22%"></colgroup>'
        "<thead><tr><th>Claim (review statement)</th><th>Verdict</th><th>Effect [95% CI]</th>"
        "<th>Cohorts</th><th>Caveats / why not testable</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
    )
    sec.html(f'<p class="note">Full table: <a href="{_tsv("claims")}">{_tsv("claims")}</a>; the tests behind '
             f'each verdict: <a href="{_tsv("claims_evidence")}">{_tsv("claims_evidence")}</a>.</p>')


# --------------------------------------------------------------------------------------
# evidence per claim
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# everything else
# --------------------------------------------------------------------------------------


def _cohorts(sec: Section, res: Any) -> None:
    cohorts = table(res, "cohorts")
    if not cohorts.empty:
        status = cohorts.get("status", pd.Series("", index=cohorts.index)).astype(str)

        def groups(r):
            return Cell(html=_groups_html(str(r["accession"]), r, res), sort=as_float(r.get("n_samples")))

        def reason(r):
            short = r.get("reason_short")
            full = "" if is_missing(r.get("reason")) else str(r.get("reason"))
            if is_missing(short):
                short = abbreviate(full, 120)[0]
            return Cell(str(short or DASH), str(short).lower(), full if full and full != short else "",
                        "abbr" if full and full != short else "")

        base = [Col("cohort", lambda r: Cell(str(r["accession"]), str(r["accession"]).lower(),
                                             "" if is_missing(r.get("title")) else str(r.get("title")))),
                col_text("disease", "disease_area"), col_text("design", "design"),
                Col("data", lambda r: Cell(" · ".join(x for x in (_tech(r.get("technology")),
                                                                    "" if is_missing(r.get("data_source"))
                                                                    else str(r.get("data_source"))) if x)))]
        an = cohorts[status == "analysed"]
        if len(an):
            sec.table(an, columns=[*base, Col("samples per group", groups), col_int("n", "n_samples"),
                                   col_text("citation", "citation", limit=60)],
                      title="Cohorts analysed", tsv=_tsv("cohorts"), max_rows=None, collapsed=False, what="cohorts")
        na = cohorts[status != "analysed"]
        if len(na):
            sec.table(na, columns=[Col("cohort", lambda r: str(r["accession"])), col_text("disease", "disease_area"),
                                   col_text("status", "status"), Col("samples per group (labels only)", groups),
                                   Col("why not analysed", reason, width="45%")],
                      title="Cohorts not analysed (their samples are not in any result above)", tsv=_tsv("cohorts"),
                      max_rows=None, collapsed=False, what="cohorts")
    cov = table(res, "coverage")
    if not cov.empty:
        sec.table(cov, columns=[
            Col("set", lambda r: Cell(set_label(r["set"]), str(r["set"]).lower(), str(r["set"]))),
            col_int("genes in set", "n_genes"), col_int("measured", "n_matched"),
            col_int("via alias", "n_resolved_by_alias"), col_int("used", "final_size"),
            col_bool("kept", "kept"), col_genes("missing", "missing"), col_text("aliases resolved", "resolved")],
            title="Gene-set coverage (genes of each set measured in each cohort)", per="cohort",
            tsv=_tsv("coverage"), max_rows=None, collapsed=True, what="sets")


def _comparison_columns() -> list[Col]:
    return [_contrast_col(), _feature_col(), _n_groups_col(),
            Col("paired", lambda r: Cell("paired" if str(r.get("paired")).lower() == "true" else "", "")),
            col_ci("Hedges' g [95% CI]", "hedges_g", "g_ci_low", "g_ci_high"),
            col_num("AUROC", "auroc"), col_p("p (t)", "t_pval"), col_p("p (U)", "u_pval"), col_p("q", "qval")]


def _comparisons(sec: Section, res: Any, kinds: tuple[str, ...], title: str) -> None:
    cmp = table(res, "comparisons")
    if cmp.empty:
        sec.text("No comparison was run.")
        return
    kind = cmp.get("kind", pd.Series("", index=cmp.index)).astype(str)
    sub = cmp[kind.isin(kinds)]
    if sub.empty:
        return
    sub = sub.assign(_q=pd.to_numeric(sub.get("qval"), errors="coerce")).sort_values(
        ["cohort", "contrast", "_q"], kind="stable")
    sec.table(sub, columns=_comparison_columns(), title=title, per="cohort", tsv=_tsv("comparisons"),
              max_rows=40, what="comparisons",
              note="Sorted by q within each contrast; click a header to re-sort.")


def _scores(sec: Section, res: Any, figures) -> None:
    params = params_of(res)
    units = params.get("score_units")
    if units:
        sec.text(f"Scores are **{units}**: they rank samples within a cohort; their absolute size is not "
                 "comparable between cohorts or sets.")
    _add_figures(sec, figures, "scores")
    _comparisons(sec, res, ("score", "balance", "composition"), "Score comparisons between groups")


def _genes(sec: Section, res: Any, figures) -> None:
    params = params_of(res)
    if params.get("expression_units"):
        sec.text(f"Expression is **{params['expression_units']}**.")
    _add_figures(sec, figures, "genes")
    _comparisons(sec, res, ("gene",), "Gene comparisons between groups")


def _meta(sec: Section, res: Any) -> None:
    meta = table(res, "meta")
    if "k" in meta.columns:
        meta = meta[pd.to_numeric(meta["k"], errors="coerce") >= 2]
    if meta.empty:
        sec.text("No contrast was measured in two or more cohorts, so nothing was pooled; single-cohort effects "
                 "are in the comparisons tables.")
        return
    sec.table(meta, columns=[
        _contrast_col(), _feature_col(), col_int("k", "k"), Col("cohorts", lambda r: _cohort_words(r.get("cohorts"))),
        col_ci("pooled g [95% CI]", "pooled", "ci_low", "ci_high"), col_num("I²", "I2"),
        col_num("τ²", "tau2", digits=3),
        col_p("p", "pval"), col_p("q", "qval"), col_int("n", "n_total")],
        title="Random-effects pooled effects", tsv=_tsv("meta"), max_rows=60, what="pooled effects",
        note="Only where at least two cohorts measured the same contrast (k ≥ 2).")


def _de(sec: Section, res: Any, figures) -> None:
    de = mapping(res, "de")
    params = params_of(res)
    if params.get("de"):
        sec.text(f"Method: {params['de']}.")
    _add_figures(sec, figures, "de")
    frames = []
    tsvs = {}
    for acc, df in de.items():
        if not isinstance(df, pd.DataFrame) or df.empty:
            continue
        d = df.assign(cohort=str(acc), _p=pd.to_numeric(df.get("pval"), errors="coerce")).sort_values("_p")
        frames.append(d)
        tsvs[str(acc)] = f"tables/de_{acc}.tsv"
    if not frames:
        if not de:
            sec.text("No differential expression was run.")
        return
    allde = pd.concat(frames, ignore_index=True)
    sec.table(allde, columns=[
        Col("gene", lambda r: Cell(str(r.get("gene", "")), str(r.get("gene", "")).lower())),
        col_num("log2 FC", "log2fc"), col_num("t", "stat"), col_p("p", "pval"), col_p("q (BH)", "padj"),
        col_num("mean expression", "ave_expr"), _contrast_col()],
        title="Most significant genes per cohort", per="cohort", tsv=tsvs, max_rows=30, what="genes")


def _enrichment(sec: Section, res: Any, figures) -> None:
    params = params_of(res)
    floor = _perm_floor(params)
    _add_figures(sec, figures, "enrichment")
    g = table(res, "gsea")
    if not g.empty:
        g = g.assign(_p=pd.to_numeric(g.get("pval"), errors="coerce")).sort_values(["cohort", "_p"], kind="stable")
        sec.table(g, columns=[
            Col("set", lambda r: Cell(set_label(r["set"]), str(r["set"]).lower(), str(r["set"]))),
            col_text("mechanism", "mechanism", words=lambda v: str(v).replace("_", " ")),
            col_int("size", "size"), col_num("ES", "es"), col_num("NES", "nes"),
            col_p("p", "pval", floor=floor), col_p("FDR", "fdr"), col_genes("leading edge", "leading_edge", 5),
            _contrast_col()],
            title="GSEA prerank of the DE moderated t", per="cohort", tsv=_tsv("gsea"), max_rows=30, what="sets",
            note=(f"p from {params.get('permutations')} permutations: p = 0 is shown as < 1/(permutations + 1). "
                  if floor else "") + "FDR: the GSEA false discovery rate (the only multiple-testing column).")
    o = table(res, "ora")
    if not o.empty:
        def overlap(r):
            a, b = r.get("n_overlap"), r.get("set_size")
            return Cell(f"{fmt_int(a)} of {fmt_int(b)}", as_float(a))

        def odds(r):
            v = as_float(r.get("odds_ratio"))
            if np.isinf(v):
                return Cell("all overlapping genes in set", 1e308,
                            "every gene of the set measured here is differentially expressed: the odds ratio is "
                            "infinite")
            return Cell("—" if np.isnan(v) else f"{v:.2f}", None if np.isnan(v) else v)

        sec.table(o, columns=[
            Col("set", lambda r: Cell(set_label(r["set"]), str(r["set"]).lower(), str(r["set"]))),
            col_int("DE genes", "n_de"), Col("set genes DE", overlap, num=True),
            Col("odds ratio", odds, num=True), col_p("p", "pval"), col_p("q", "qval"), col_genes("genes", "genes"),
            _contrast_col()],
            title="Over-representation of Mg sets among DE genes (q < 0.05)", per="cohort", tsv=_tsv("ora"),
            max_rows=30, what="sets")


def _coupling(sec: Section, res: Any, figures) -> None:
    sec.text("Correlations are judged **within groups** (or within pairs): across samples pooled from different "
             "groups a correlation mostly reflects the group difference. Pooled values are shown beside, labelled.")
    _add_figures(sec, figures, "coupling")
    cp = table(res, "coupling")
    cols = [Col("Mg set", lambda r: Cell(set_label(r.get("mg_set")), str(r.get("mg_set")).lower(),
                                         str(r.get("mg_set")))),
            Col("mechanism set", lambda r: Cell(set_label(r.get("mechanism_set")), str(r.get("mechanism_set")).lower(),
                                                str(r.get("mechanism_set")))),
            col_text("mechanism", "mechanism", words=lambda v: str(v).replace("_", " ")),
            Col("design", lambda r: Cell(design_words(r.get("design")), str(r.get("design")))),
            Col("level", lambda r: Cell(group_label(r.get("level")) if not is_missing(r.get("level")) else DASH)),
            col_ci("ρ [95% CI]", "estimate", "ci_low", "ci_high"), col_p("p", "pval"), col_p("q", "qval"),
            col_int("n", "n")]
    if not cp.empty:
        cp = cp.assign(_q=pd.to_numeric(cp.get("qval"), errors="coerce"),
                       _pool=(cp.get("design", pd.Series("", index=cp.index)).astype(str) == "pooled"),
                       _comb=(cp.get("level", pd.Series("combined", index=cp.index)).astype(str) != "combined"))
        cp = cp.sort_values(["cohort", "_pool", "_comb", "_q"], kind="stable")
        sec.table(cp, columns=cols, title="Mg score vs mechanism score correlations", per="cohort",
                  tsv=_tsv("coupling"), max_rows=30, what="correlations",
                  note="Within-group combined estimates first (sorted by q), then per-group and pooled ones.")
    corr = table(res, "correlations")
    if not corr.empty:
        sec.table(corr, columns=[
            Col("pair", lambda r: Cell(f"{r.get('feature_x')} ~ {r.get('feature_y')}")),
            Col("design", lambda r: Cell(design_words(r.get("design")), str(r.get("design")))),
            Col("level", lambda r: Cell(group_label(r.get("level")) if not is_missing(r.get("level")) else DASH)),
            Col("adjusted for", lambda r: Cell(feature_words(r.get("adjusted_for")) if not is_missing(
                r.get("adjusted_for")) else "none")),
            col_ci("ρ [95% CI]", "estimate", "ci_low", "ci_high"), col_p("p", "pval"), col_p("q", "qval"),
            col_int("n", "n")], title="Gene-gene correlations named by claims", per="cohort",
            tsv=_tsv("correlations"), max_rows=30, what="correlations")


def _trends(sec: Section, res: Any, figures) -> None:
    _add_figures(sec, figures, "trends")
    tr = table(res, "trends")
    if tr.empty:
        sec.text("No cohort has ordered stages to test.")
        return
    tr = tr.assign(_q=pd.to_numeric(tr.get("qval"), errors="coerce")).sort_values(["cohort", "_q"], kind="stable")
    sec.table(tr, columns=[
        _feature_col(), col_text("ordered by", "by", words=lambda v: str(v).replace("_", " ")),
        col_num("Spearman ρ", "rho"), col_p("p", "pval"), col_p("q", "qval"), col_p("Jonckheere p", "jt_pval"),
        col_int("n", "n")], title="Ordered trends across stages", per="cohort", tsv=_tsv("trends"), max_rows=30,
        what="trends")


def _survival(sec: Section, res: Any, figures) -> None:
    _add_figures(sec, figures, "survival")
    sv = table(res, "survival")
    if sv.empty:
        sec.text("No cohort with survival data was analysed.")
        return
    sec.table(sv, columns=[
        _feature_col(), col_int("n", "n"), col_int("events", "n_events"),
        col_text("cut", "cut"), col_p("log-rank p", "logrank_p"),
        col_ci("HR per SD [95% CI]", "hr_per_sd", "hr_ci_low", "hr_ci_high"), col_p("Cox p", "cox_p"),
        col_ci("adjusted HR per SD", "hr_adj_per_sd", "hr_adj_ci_low", "hr_adj_ci_high"),
        col_p("adjusted p", "cox_adj_p"), col_text("adjusted for", "adjusted_for", limit=50),
        col_p("PH test p", "ph_test_p")], title="Overall survival", per="cohort", tsv=_tsv("survival"),
        max_rows=30, what="features")


def _design(sec: Section, res: Any) -> None:
    d = table(res, "design")
    if d.empty:
        sec.text("No design audit was run.")
    else:
        flagged = d["flagged"].astype(bool) if "flagged" in d.columns else pd.Series(False, index=d.index)
        n_flag = int(flagged.sum())
        sec.text(f"Each contrast is checked for technical differences between its groups (library size, TMM "
                 f"factor, share of reads in the top genes, genetic vs recorded sex, age, series-matrix fields). "
                 f"**{n_flag} of {len(d)} checks flagged**; flagged ones become caveats on the verdicts that use "
                 "that contrast.")
        d = d.assign(_f=~flagged).sort_values(["cohort", "_f"], kind="stable")

        def flag(r):
            f = bool(r.get("flagged")) and str(r.get("flagged")).lower() != "false"
            return Cell(html='<span class="st st-flag">flagged</span>' if f else "", sort=0 if f else 1)

        sec.table(d, columns=[
            _contrast_col(), col_text("check", "check"), col_text("test", "test", limit=40),
            col_text("what differs", "effect", limit=90), col_p("p", "pval"), Col("flag", flag),
            col_text("caveat", "caveat", limit=120)], title="Design checks", per="cohort", tsv=_tsv("design"),
            max_rows=None, what="checks", collapsed=len(d) > 24)
    pairs = table(res, "pairs")
    if not pairs.empty:
        fl = pairs["flagged"].astype(bool) if "flagged" in pairs.columns else pd.Series(False, index=pairs.index)
        sec.text(f"Paired designs: **{int(fl.sum())} of {len(pairs)} pairs** look mismatched.")
        if fl.any():
            sec.table(pairs[fl], columns=[
                Col("cohort", lambda r: str(r.get("cohort"))), Col("pair", lambda r: str(r.get("pair_id"))),
                col_text("samples", "members"), col_text("why", "why", limit=120)],
                title="Pairs flagged", tsv=_tsv("pairs"), max_rows=None, what="pairs")


def _sensitivity(sec: Section, res: Any) -> None:
    s = table(res, "sensitivity")
    if s.empty:
        sec.text("No sensitivity analysis was run.")
        return
    agree = s["agrees"].astype(bool) if "agrees" in s.columns else pd.Series(False, index=s.index)
    sec.text(f"Each gene/score verdict re-derived under alternative choices (normalisation, scoring method, DE "
             f"method, pairing, control group): **{int(agree.sum())} of {len(s)} re-analyses agree** with the "
             "main analysis in direction and significance. Per claim in the evidence above.")
    sec.table(s, columns=[
        col_text("alternative", "alternative", limit=60), Col("cohort", lambda r: str(r.get("cohort", ""))),
        col_num("estimate", "estimate"), col_p("p", "pval"), col_p("q", "qval"), col_bool("agrees", "agrees"),
        col_text("note", "note", limit=80)], title="All re-analyses", per="claim_id", tsv=_tsv("sensitivity"),
        max_rows=12, what="re-analyses", collapsed=True)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def _provenance(sec: Section, res: Any) -> None:
    inputs = getattr(res, "inputs", None) or []
    df = pd.DataFrame(list(inputs)) if inputs else pd.DataFrame()
    if df.empty:
        sec.text("No input file was recorded.")
    else:
        for c in ("url", "sha256", "bytes", "source", "path"):
            if c not in df.columns:
                df[c] = np.nan
        n_hashed = int(df["sha256"].notna().sum())
        total = pd.to_numeric(df["bytes"], errors="coerce").sum()
        sec.text(f"**{len(df)} input files**, {n_hashed} with a sha256 ({fmt_bytes(total)} in all): public downloads "
                 "(mirror or cache), sample sheets, bundled gene sets and the claims table.")

        def where(r):
            url = "" if is_missing(r.get("url")) else str(r.get("url"))
            path = "" if is_missing(r.get("path")) else str(r.get("path"))
            return Cell(url or path, (url or path).lower(), path if path and path != url else "", "mono")

        def digest(r):
            h = "" if is_missing(r.get("sha256")) else str(r.get("sha256"))
            return Cell(h or "not hashed", h, "", "mono")

        def size(r):
            b = as_float(r.get("bytes"))
            return Cell(fmt_bytes(b), None if np.isnan(b) else b, "" if np.isnan(b) else f"{int(b):,} bytes")

        sec.table(df, columns=[col_text("source", "source"), Col("file (public URL or path)", where, width="44%"),
                               Col("bytes", size, num=True), Col("sha256", digest, width="34%")],
                  title="Inputs", tsv=_tsv("inputs"), max_rows=None, what="files", full_width=True)
    v = _versions()
    sec.table(pd.DataFrame({"software": list(v), "version": list(v.values())}), title="Software",
              max_rows=None, collapsed=False, what="packages")
    params = params_of(res)
    flat = {str(k): (val if isinstance(val, (str, int, float, bool)) or val is None else repr(val))
            for k, val in params.items() if k != "inputs"}
    if flat:
        sec.table(pd.DataFrame({"parameter": list(flat), "value": [str(x) for x in flat.values()]}),
                  title="Parameters", max_rows=None, collapsed=False, what="parameters")
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sec.text(f"Report generated {date}.")


# --------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------


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
    _asked(rep, res)
    _claims(rep, res)
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
    for sid, stitle, short in SECTIONS:
        sec = rep.section(sid, stitle, nav=short)
        builders[sid](sec)
    for s, msg in errors:
        target = "evidence" if s.startswith("claim-") else s
        try:
            rep[target].html(f'<p class="warn">A figure could not be drawn: {esc(msg)}</p>')
        except KeyError:
            rep["provenance"].html(f'<p class="warn">A figure could not be drawn: {esc(msg)}</p>')
    return rep
