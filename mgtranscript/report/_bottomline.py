"""The bottom line (the first screen): per disease area, which claims hold, with what certainty.

One row per disease area (MASLD, ALD, HCC, DILI, then the mechanisms the review proposes for
liver disease in general): a plain sentence written from the verdicts of that area's claims
(:func:`area_sentence`) and one coloured chip per claim (verdict colour, certainty dots) linking
to the claim's line in the claims table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from mgtranscript.report._format import is_missing
from mgtranscript.report._page import esc, slug

#: Disease areas in the order a reader meets them; "any" holds the claims about liver disease in general.
AREA_ORDER: tuple[str, ...] = ("MASLD", "ALD", "HCC", "DILI", "any")

#: Heading of each area.
AREA_WORDS: dict[str, str] = {"any": "Liver disease in general"}

VERDICT_ORDER = ("supported", "contradicted", "inconclusive", "not testable")

_CERT_DOTS = {"high": 4, "moderate": 3, "low": 2, "very low": 1}
_CERT_ORDER = ("very low", "low", "moderate", "high")


def area_words(area: Any) -> str:
    """``"any"`` -> ``"Mechanisms (any liver disease)"``; other areas as they are."""
    a = "" if is_missing(area) else str(area)
    return AREA_WORDS.get(a, a or "other")


def areas_of(claims: pd.DataFrame) -> list[str]:
    """The disease areas of ``claims`` in :data:`AREA_ORDER` (others after, alphabetically)."""
    present = [str(a) for a in pd.unique(claims.get("disease", pd.Series(dtype=str)).fillna("other").astype(str))]
    return [a for a in AREA_ORDER if a in present] + sorted(a for a in present if a not in AREA_ORDER)


def claims_of(claims: pd.DataFrame, area: str) -> pd.DataFrame:
    """The claims of one area, ordered by verdict (supported first) then as in the table."""
    sub = claims[claims.get("disease", pd.Series("other", index=claims.index)).fillna("other").astype(str) == area]
    order = sub["verdict"].astype(str).map(lambda v: VERDICT_ORDER.index(v) if v in VERDICT_ORDER else 9)
    return sub.assign(_vo=order).sort_values("_vo", kind="stable").drop(columns="_vo")


def certainty_level(c: Any) -> str:
    c = "" if is_missing(c) else str(c).strip().lower()
    return c if c in _CERT_DOTS else ""


def dots(c: Any) -> str:
    """``●●○○`` for a certainty level ("" when there is none)."""
    c = certainty_level(c)
    return "" if not c else "●" * _CERT_DOTS[c] + "○" * (4 - _CERT_DOTS[c])


def _cohort_list(values: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for v in values:
        for c in ("" if is_missing(v) else str(v)).split(";"):
            c = c.strip()
            if c and c not in out and not c.startswith("pooled"):
                out.append(c)
    return out


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _certainty_range(levels: Iterable[str]) -> str:
    levels = set(levels)
    present = [c for c in _CERT_ORDER if c in levels]
    if not present:
        return ""
    return present[0] if len(present) == 1 else f"{present[0]} to {present[-1]}"


def area_sentence(claims: pd.DataFrame, area: str, cohorts: pd.DataFrame | None = None, *,
                  named: bool = True, flagged: Iterable[str] = ()) -> str:
    """One plain sentence about an area, written from its claims' verdicts.

    It counts the verdicts, names the cohorts behind the supported and contradicted ones (and
    says when each rests on a single cohort, and which of them has design flags: ``flagged``),
    the certainty range of the testable claims, and, when nothing was testable, which of the
    area's cohorts could not be analysed. ``named``: start with the area's name.
    """
    flagged = set(flagged)
    sub = claims_of(claims, area)
    n = len(sub)
    verdicts = sub["verdict"].astype(str)
    counts = {v: int((verdicts == v).sum()) for v in VERDICT_ORDER}
    name = area_words(area) if named else ""
    noun = "claim" if n == 1 else "claims"
    if n == 0:
        return _named(name, "no claim.")
    if counts["not testable"] == n:
        why = ""
        if cohorts is not None and not cohorts.empty and area != "any" and "disease_area" in cohorts:
            mine = cohorts[cohorts["disease_area"].astype(str) == area]
            if mine.empty:
                why = f": no {area} cohort in the catalog"
            elif not (mine["status"].astype(str) == "analysed").any():
                why = (f": no {area} cohort could be analysed ("
                       + ", ".join(f"{r.accession} {r.status}" for r in mine.itertuples()) + ")")
        if not why:  # no cohort to blame: say why the claims themselves cannot be tested
            why = ": " + _reasons(sub["reason"] if "reason" in sub else [])
        return _named(name, f"{'its one claim is' if n == 1 else f'all {n} claims'} not testable{why.rstrip(': ')}.")
    first = True
    segs = []
    decisive = [v for v in ("supported", "contradicted") if counts[v]]
    if decisive:
        words = []
        for v in decisive:
            words.append(f"{counts[v]} of {n} {noun} {v}" if first else f"{counts[v]} {v}")
            first = False
        dec = sub[verdicts.isin(decisive)]
        coh = _cohort_list(dec["cohorts"])
        single = all(len(_cohort_list([c])) == 1 for c in dec["cohorts"])
        where = ""
        fl = [c for c in coh if c in flagged]
        if coh and single and len(coh) == 1:
            where = f", all in one cohort ({coh[0]}{', which has design flags' if fl else ''})"
        elif coh:
            where = (f", each in a single cohort ({', '.join(coh)}" if single else f" ({', '.join(coh)}") + (
                f"; design flags: {', '.join(fl)})" if fl else ")")
        segs.append(_join(words) + where)
    words = []
    for v in ("inconclusive", "not testable"):
        if counts[v]:
            words.append(f"{counts[v]} of {n} {noun} {v}" if first else f"{counts[v]} {v}")
            first = False
    if words:
        segs.append(_join(words))
    testable = sub[verdicts != "not testable"]
    cert = _certainty_range(certainty_level(c) for c in testable.get("certainty", pd.Series(dtype=str)))
    sentence = "; ".join(segs)
    if cert:
        sentence += f". Certainty {cert}"
    return _named(name, sentence + ".")


def _reasons(reasons: Iterable[Any]) -> str:
    """Distinct reasons in a few words each (the part before the first ":"), with how many claims give each."""
    from mgtranscript.report._format import reason_headline

    counts: dict[str, int] = {}
    for r in reasons:
        h = reason_headline(r, 80).split(": ", 1)[0].strip()
        if h:
            counts[h] = counts.get(h, 0) + 1
    return "; ".join(f"{h} ({k})" if k > 1 else h for h, k in counts.items())


def _named(name: str, sentence: str) -> str:
    if name:
        return f"{name}: {sentence}"
    return sentence[:1].upper() + sentence[1:]


def chip(r: pd.Series) -> str:
    """A claim as a small coloured link: id, and certainty dots unless it is not testable."""
    cid = str(r["claim_id"])
    verdict = str(r.get("verdict", ""))
    cert = certainty_level(r.get("certainty")) if verdict != "not testable" else ""
    tip = f"{cid}: {verdict}" + (f", certainty {cert}" if cert else "") + f" — {r.get('statement', '')}"
    d = f' <span class="dots">{dots(cert)}</span>' if cert else ""
    return (f'<a class="chip v-{slug(verdict.lower() or "none")}" href="#row-{esc(slug(cid))}" '
            f'title="{esc(tip)}">{esc(cid)}{d}</a>')


def legend_html() -> str:
    """The colours of the verdicts and the certainty dots, in one line."""
    items = "".join(f'<span class="chip v-{slug(v)}">{esc(v)}</span>' for v in VERDICT_ORDER)
    cert = " · ".join(f"{dots(c)} {c}" for c in reversed(_CERT_ORDER))
    return f'<p class="bl-legend">{items} <span class="muted">certainty (GRADE-style): {esc(cert)}</span></p>'


def bottom_line_html(claims: pd.DataFrame, cohorts: pd.DataFrame | None = None,
                     flagged: Iterable[str] = ()) -> str:
    """The bottom-line table: one row per disease area with its sentence and its claims' chips
    (``flagged``: the cohorts with design flags, named in the sentences)."""
    flagged = list(flagged)
    rows = []
    for area in areas_of(claims):
        sub = claims_of(claims, area)
        chips = "".join(chip(r) for _, r in sub.iterrows())
        rows.append(f'<tr class="bl-area" data-area="{esc(area)}"><th>{esc(area_words(area))}</th>'
                    f'<td><div class="bl-sentence">{esc(area_sentence(claims, area, cohorts, named=False, flagged=flagged))}</div>'
                    f'<div class="chips">{chips}</div></td></tr>')
    return legend_html() + '<table class="bl">' + "".join(rows) + "</table>"
