"""The top of the report: the bottom line, the claims by disease area, what was asked, the cohorts.

The bottom line (:mod:`mgtranscript.report._bottomline`) fills the first screen; then ONE
COMPACT LINE PER CLAIM, grouped by disease area (id, verdict badge and certainty, statement,
effect with 95% CI and q, source), each opening in place on its details (why, effect and n,
cohorts, certainty and its reasons, caveats, robustness, citation) and linking to its
evidence (:mod:`mgtranscript.report._evidence`). Caveats every claim shares are said once, in
the legend. Then what was asked (the review, cited) and which cohorts were analysed (a card
each; the others one line each with the reason behind a disclosure).
"""

from __future__ import annotations

import re

from pathlib import Path
from typing import Any

import pandas as pd

from mgtranscript.report._common import _cohort_words, _groups_html, _tech, _tsv
from mgtranscript.report._bottomline import (
    VERDICT_ORDER,
    area_words,
    areas_of,
    bottom_line_html,
    certainty_level,
    claims_of,
)
from mgtranscript.report._result import table
from mgtranscript.report._format import (
    DASH,
    G_AV_WORDS,
    abbreviate,
    as_float,
    effect_words,
    fmt_est_ci,
    fmt_int,
    is_g_av,
    is_missing,
    p_eq,
    reason_headline,
)
from mgtranscript.report._page import Report, badge, certainty_html, esc, inline_md, slug

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
    "their 95% confidence interval and Benjamini-Hochberg q (a verdict's q: over the voted p of all "
    "testable claims; in the tests tables each q names its family)."
)

#: Separator of the caveats of one verdict (``mgtranscript.claims.CAVEAT_SEP``).
CAVEAT_SEP = " | "


def _asked(rep: Report, res: Any) -> None:
    sec = rep.section("asked", "What was asked, and the cohorts", nav="Asked")
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
            short = re.sub(rf"^{re.escape(str(r.get('accession')))}:\s*", "", str(short))  # said once
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



def voted_effect_words(r: pd.Series, ev: pd.DataFrame) -> str:
    """The kind of a claim's voted effect in words: a standardised difference voted on paired cohorts
    is their g_av ("Hedges' g (g_av, paired)"; in a pool with unpaired cohorts "g_av for paired cohorts")."""
    words = effect_words(r.get("effect_kind"))
    if str(r.get("effect_kind")) != "hedges_g" or ev.empty or "claim_id" not in ev.columns:
        return words
    rows = ev[(ev["claim_id"].astype(str) == str(r["claim_id"])) & (ev["role"].astype(str) == "primary")
              & (ev["effect_kind"].astype(str) == "hedges_g")]
    if "scenario" in rows.columns:
        rows = rows[rows["scenario"].astype(str) == "primary"]
    voted = "used" if "used" in rows.columns else "included"
    if voted in rows.columns:
        rows = rows[rows[voted].astype(str).str.lower().isin(("true", "1"))]
    if rows.empty:
        return words
    paired = [is_g_av(k, t, d) for k, t, d in zip(rows["effect_kind"], rows.get("test", [None] * len(rows)),
                                                  rows.get("design", [None] * len(rows)))]
    if all(paired):
        return G_AV_WORDS
    return "Hedges' g (g_av for paired cohorts)" if any(paired) else words


def say_g_av(text: str, words: str) -> str:
    """A verdict's reason with its "Hedges' g +1.07 ..." named as ``words`` (g_av where paired)."""
    if words == effect_words("hedges_g"):
        return text
    return re.sub(r"Hedges' g(?= [+\-−]?\d)", words, text)


def _effect_html(r: pd.Series, ev: pd.DataFrame | None = None) -> str:
    """The effect voted on, compact: kind, estimate [95% CI], q; for a claim not tested, why not."""
    if str(r.get("verdict", "")) == "not testable":
        return f'<span class="nt-why">{esc(reason_headline(r.get("reason")))}</span>'
    if is_missing(r.get("effect")):
        return DASH
    kind = voted_effect_words(r, ev if ev is not None else pd.DataFrame())
    est = fmt_est_ci(r.get("effect"), r.get("ci_low"), r.get("ci_high"))
    q = r.get("qval")
    q_txt = p_eq("q", q) if not is_missing(q) else ""
    return (f'<span class="kind">{esc(kind)}</span> {esc(est)}'
            + (f' <span class="q">{esc(q_txt)}</span>' if q_txt else ""))


def caveat_items(r: pd.Series) -> list[str]:
    cav = "" if is_missing(r.get("caveats")) else str(r.get("caveats"))
    return [c.strip() for c in cav.split(CAVEAT_SEP) if c.strip()]


def common_caveats(claims: pd.DataFrame) -> list[str]:
    """Caveats every claim carries (said once, as a legend, not on each claim)."""
    if claims.empty or "caveats" not in claims:
        return []
    sets = [set(caveat_items(r)) for _, r in claims.iterrows()]
    if len(sets) < 2:
        return []
    common = set.intersection(*sets)
    first = caveat_items(claims.iloc[0])
    return [c for c in first if c in common]


def source_of(r: pd.Series) -> str:
    """Where a claim comes from: the ``source`` column (review, cited study, project proxy, project
    hypothesis) when the claims table has it, else read off the citation (a review or a cited study)."""
    src = r.get("source")
    if not is_missing(src):
        return str(src)
    cite = "" if is_missing(r.get("citation")) else str(r.get("citation"))
    return "review" if "review" in cite.lower() else ("cited study" if cite else "")


def n_words(n: Any, design: Any) -> str:
    """``n`` for people: ``"50 pairs (100 samples)"`` for a paired comparison, else ``"57 samples"``."""
    if is_missing(n):
        return ""
    k = int(round(as_float(n)))
    if str(design or "").startswith("paired"):
        return f"{k:,} pairs ({2 * k:,} samples)"
    return f"{k:,} samples"


def _claim_n(cid: str, ev: pd.DataFrame) -> str:
    """The n behind a claim's effect: its primary, counted evidence rows (pairs said as pairs)."""
    if ev.empty or "claim_id" not in ev:
        return ""
    rows = ev[(ev["claim_id"].astype(str) == cid)]
    if "scenario" in rows:
        rows = rows[rows["scenario"].astype(str) == "primary"]
    if "included" in rows:
        rows = rows[rows["included"].astype(str).str.lower().isin(("true", "1"))]
    if "role" in rows:
        rows = rows[rows["role"].astype(str) == "primary"]
    if rows.empty or "n" not in rows:
        return ""
    per = [(str(r.get("cohort")), n_words(r.get("n"), r.get("design"))) for _, r in rows.iterrows()
           if not is_missing(r.get("n"))]
    seen, out = set(), []
    for coh, words in per:
        if coh not in seen:
            seen.add(coh)
            out.append(words if len(per) == 1 else f"{coh} {words}")
    return "; ".join(out)


def _details_html(r: pd.Series, common: list[str], ev: pd.DataFrame) -> str:
    cid = str(r["claim_id"])
    verdict = str(r.get("verdict", ""))
    items: list[tuple[str, str]] = []
    reason = "" if is_missing(r.get("reason")) else str(r.get("reason"))
    review = r.get("review_statement")
    if not is_missing(review) and str(review).strip() != str(r.get("statement", "")).strip():
        items.append(("The review says", esc(review)))
    kind_words = voted_effect_words(r, ev)
    if reason and (verdict != "not testable" or reason_headline(reason) != reason):
        items.append(("Why this verdict" if verdict != "not testable" else "Why not testable",
                      esc(say_g_av(reason, kind_words))))
    if verdict != "not testable" and not is_missing(r.get("effect")):
        n = _claim_n(cid, ev)
        items.append(("Effect voted on", esc(
            f"{kind_words} {fmt_est_ci(r.get('effect'), r.get('ci_low'), r.get('ci_high'))}, "
            f"{p_eq('p', r.get('pval'))}, {p_eq('q', r.get('qval'))}" + (f"; n = {n}" if n else ""))))
    if not is_missing(r.get("cohorts")):
        items.append(("Cohorts", esc(_cohort_words(r.get("cohorts")))))
    cr = r.get("certainty_reasons")
    if verdict != "not testable" and certainty_level(r.get("certainty")) and not is_missing(cr):
        items.append(("Certainty", f"{esc(certainty_level(r.get('certainty')))}: {esc(cr)}"))  # the level is on the line
    own = [c for c in caveat_items(r) if c not in common]
    if own:
        items.append(("Caveats", "<ul>" + "".join(f"<li>{esc(c)}</li>" for c in own) + "</ul>"))
    if not is_missing(r.get("robustness")):
        items.append(("Robustness", esc(r.get("robustness"))))
    src = source_of(r)
    cite = "" if is_missing(r.get("citation")) else str(r.get("citation"))
    scope = "" if is_missing(r.get("scope")) else str(r.get("scope"))
    if src or cite:
        items.append(("Source", esc(" — ".join(x for x in (src, cite) if x))
                      + (esc(f" (scope: {scope})") if scope and scope != "tissue" else "")))
    link = (f'<p class="small"><a class="ev-link" href="#claim-{esc(slug(cid))}">forest plot, tests and '
            "sensitivity analyses →</a></p>" if verdict != "not testable" else "")
    return ('<div class="cl-body"><dl class="why">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
            + "</dl>" + link + "</div>")


def claim_line(r: pd.Series, common: list[str], ev: pd.DataFrame) -> str:
    """One claim: a compact line (id, verdict and certainty, statement, effect, source) that opens
    in place on its details (why, effect and n, cohorts, certainty, caveats, robustness, citation)."""
    cid = str(r["claim_id"])
    verdict = str(r.get("verdict", ""))
    cert = "" if verdict == "not testable" else certainty_html(r.get("certainty"))
    src = source_of(r)
    cite = "" if is_missing(r.get("citation")) else str(r.get("citation"))
    return (
        f'<details class="cl" id="row-{esc(slug(cid))}" data-verdict="{esc(verdict)}"><summary>'
        f'<span class="cid">{esc(cid)}</span>'
        f'<span class="cv">{badge(verdict)}{cert}</span>'
        f'<span class="claim-statement">{esc(r.get("statement", ""))}</span>'
        f'<span class="ce">{_effect_html(r, ev)}</span>'
        f'<span class="src" title="{esc(cite)}">{esc(src)}</span>'
        "</summary>" + _details_html(r, common, ev) + "</details>"
    )


def _bottom_line(rep: Report, res: Any) -> None:
    claims = table(res, "claims")
    sec = rep.section("bottom-line", "Bottom line", nav="Bottom line")
    if claims.empty:
        sec.text("No claim was evaluated.")
        return
    from mgtranscript.report._flags import cohort_flags

    sec.html(bottom_line_html(claims, table(res, "cohorts"), flagged=cohort_flags(res)))


def _claims(rep: Report, res: Any) -> None:
    claims = table(res, "claims")
    ev = table(res, "claims_evidence")
    sec = rep.section("claims", "Claims and verdicts", nav="Claims")
    if claims.empty:
        sec.text("No claim was evaluated.")
        return
    counts = claims["verdict"].astype(str).value_counts()
    summary = "".join(f'<span class="n">{int(counts[v])}</span>{badge(v)}' for v in VERDICT_ORDER if v in counts)
    sec.html(f'<p class="summary-counts">{len(claims)} claims:{summary} '
             '<span class="muted small">— click a claim for why, the caveats and the source</span></p>')
    common = common_caveats(claims)
    legend = HOW_TO_READ
    if common:
        legend += " **Every verdict**: " + "; ".join(common) + "."
    sec.html(f'<p class="small muted">{inline_md(legend)}</p>')
    head = ('<div class="cl-head"><span>Claim</span><span>Verdict · certainty</span><span>Statement</span>'
            '<span>Effect [95% CI], q</span><span>Source</span></div>')
    for area in areas_of(claims):
        sub = claims_of(claims, area)
        sec.html(f'<h3 class="area" id="area-{esc(slug(area))}">{esc(area_words(area))} '
                 f'<span class="muted small">({len(sub)} claim{"s" if len(sub) != 1 else ""})</span></h3>'
                 + head + "".join(claim_line(r, common, ev) for _, r in sub.iterrows()))
    sec.html(f'<p class="note">Full table: <a href="{_tsv("claims")}">{_tsv("claims")}</a>; the tests behind '
             f'each verdict: <a href="{_tsv("claims_evidence")}">{_tsv("claims_evidence")}</a>.</p>')
