"""The top of the report (the first screen): what was asked, the cohorts, one row per claim.

What was asked (the review, cited), which cohorts were analysed (a card each; the others one
line each with the reason behind a disclosure), then ONE ROW PER CLAIM (statement, citation,
verdict badge, certainty, effect with 95% CI and q, cohorts, caveats), each linking to its
evidence (:mod:`mgtranscript.report.evidence`).
"""

from __future__ import annotations

import re

from pathlib import Path
from typing import Any

import pandas as pd

from mgtranscript.report._common import _cohort_words, _groups_html, _tech, _tsv
from mgtranscript.report.figures import table
from mgtranscript.report.format import (
    DASH,
    abbreviate,
    as_float,
    effect_words,
    fmt_est_ci,
    fmt_int,
    is_missing,
    p_eq,
)
from mgtranscript.report.page import Report, badge, certainty_html, esc, inline_md, slug

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



def _effect_cell(r: pd.Series) -> str:
    if is_missing(r.get("effect")):
        return f'<td class="effect" data-v="">{DASH}</td>'
    kind = effect_words(r.get("effect_kind"))
    est = fmt_est_ci(r.get("effect"), r.get("ci_low"), r.get("ci_high"))
    q = r.get("qval")
    q_txt = p_eq("q", q) if not is_missing(q) else ""
    return (f'<td class="effect" data-v="{esc(as_float(r.get("effect")))}"><span class="kind">{esc(kind)}</span>'
            f'{esc(est)}<span class="q">{esc(q_txt)}</span></td>')


_PARENS = re.compile(r"\s*\([^()]*\)")


def caveat_headline(text: str, limit: int = 100) -> str:
    """The gist of a caveat for the claims table: cohort prefix kept, parentheses (numbers,
    sample ids) and everything after the first ": " dropped; the full text stays in the
    tooltip, the claim's evidence section and ``tables/claims.tsv``."""
    prefix, rest = "", text.strip()
    head = re.match(r"^([A-Z][A-Z0-9_-]+: )(.*)$", rest)  # a cohort id: GSE126848, TCGA-LIHC
    if head:
        prefix, rest = head.group(1), head.group(2)
    prev = None
    while prev != rest:  # innermost parentheses first, so nested ones go too
        prev, rest = rest, _PARENS.sub("", rest)
    rest = rest.split(": ", 1)[0].strip().rstrip(";,")
    out = prefix + rest
    return out if len(out) <= limit else out[: limit - 1].rstrip() + "…"


def _caveats_cell(r: pd.Series) -> str:
    parts = []
    verdict = str(r.get("verdict", ""))
    cav = "" if is_missing(r.get("caveats")) else str(r.get("caveats"))
    items = [c.strip() for c in cav.split(" | ") if c.strip()]  # claims.CAVEAT_SEP
    if verdict == "not testable":
        reason = "" if is_missing(r.get("reason")) else str(r.get("reason"))
        if len(reason) > 240:  # the whole reason is in the evidence section and the tooltip
            cut = reason[:240].rsplit(" ", 1)[0].rstrip(";,: ")
            parts.append(f'<div title="{esc(reason)}">{esc(cut)} … <a href="#claim-{esc(slug(str(r.get("claim_id"))))}">'
                         "why, in full</a></div>")
        else:
            parts.append(f"<div>{esc(reason)}</div>")
    if items:
        lis = []
        for c in items:
            short = caveat_headline(c)
            lis.append(f'<li title="{esc(c)}">{esc(short)}</li>' if short != c else f"<li>{esc(c)}</li>")
        parts.append("<ul>" + "".join(lis) + "</ul>")
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
