"""Numbers and names for people, and table columns built from them.

- :func:`fmt_p`: ``"< 1e-10"`` below 1e-10, two significant digits otherwise, and a
  permutation p of 0 as ``"< 1/(permutations + 1)"``.
- :func:`fmt_est_ci`: ``"−0.52 [−0.80, −0.23]"`` (true minus signs).
- :func:`fmt_odds`: ``inf`` becomes "all overlapping genes in set".
- :func:`abbreviate`: long text shortened, the full text kept for a tooltip.
- :class:`Col`: one column of a curated table view (header, how to show a row, how to sort it).

Every function returns plain text; HTML escaping happens in :mod:`mgtranscript.report._page`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mgtranscript._words import fmt_p as _fmt_p
from mgtranscript._words import group_label, set_label

MINUS = "\u2212"
DASH = "—"


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str) and v.strip().lower() in ("", "nan", "none"):
        return True
    return False


def fmt_num(v: Any, digits: int = 2, *, signed: bool = False) -> str:
    """A number with ``digits`` decimals (or 2 significant digits when tiny/huge); NaN -> "—"."""
    f = _num(v)
    if math.isnan(f):
        return DASH
    if math.isinf(f):
        return "∞" if f > 0 else f"{MINUS}∞"
    a = abs(f)
    if a != 0 and (a < 10 ** -digits or a >= 1e6):
        s = f"{f:.2g}"
    else:
        s = f"{f:+.{digits}f}" if signed else f"{f:.{digits}f}"
    return s.replace("-", MINUS, 1) if s.startswith("-") else s


def fmt_int(v: Any) -> str:
    """An integer with thousands separators; NaN -> "—"."""
    f = _num(v)
    if math.isnan(f):
        return DASH
    return f"{int(round(f)):,}"


def fmt_p(v: Any, *, floor: float | None = None) -> str:
    """A p- or q-value for people (see :func:`mgtranscript._words.fmt_p`).

    ``< 1e-10`` below 1e-10; ``0`` from a permutation test with ``floor`` (its smallest
    attainable p, 1/(permutations + 1)) as ``< floor``; two significant digits otherwise
    (``0.042``, ``3.1e-5``); NaN -> "—".
    """
    return _fmt_p(v, floor=floor)


def p_eq(name: str, v: Any, *, floor: float | None = None) -> str:
    """``"q = 0.03"`` or ``"q < 1e-10"`` (never ``"q = < 1e-10"``)."""
    t = fmt_p(v, floor=floor)
    return f"{name} {t}" if t.startswith("<") else f"{name} = {t}"


def fmt_est_ci(est: Any, lo: Any, hi: Any, digits: int = 2) -> str:
    """``"−0.52 [−0.80, −0.23]"``; only the estimate when the CI is missing."""
    e = fmt_num(est, digits)
    if e == DASH:
        return DASH
    if is_missing(lo) or is_missing(hi) or math.isnan(_num(lo)) or math.isnan(_num(hi)):
        return e
    return f"{e} [{fmt_num(lo, digits)}, {fmt_num(hi, digits)}]"


def fmt_odds(v: Any) -> str:
    """An odds ratio; ``inf`` (every overlapping gene is in the set) said in words."""
    f = _num(v)
    if math.isinf(f):
        return "all overlapping genes in set"
    return fmt_num(f, 2)


def fmt_bytes(v: Any) -> str:
    """``12.3 MB``; NaN -> "—"."""
    f = _num(v)
    if math.isnan(f):
        return DASH
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(f) < 1000 or unit == "TB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1000
    return DASH  # pragma: no cover


def fmt_bool(v: Any, yes: str = "yes", no: str = "no") -> str:
    if is_missing(v):
        return DASH
    if isinstance(v, str):
        return yes if v.strip().lower() in ("true", "1", "yes") else no
    return yes if bool(v) else no


def abbreviate(text: Any, limit: int = 90) -> tuple[str, str]:
    """(shown, full): text longer than ``limit`` is cut at a word boundary with "…"."""
    full = "" if is_missing(text) else str(text)
    if len(full) <= limit:
        return full, full
    cut = full[:limit].rsplit(" ", 1)[0] if " " in full[:limit] else full[:limit]
    return cut.rstrip(",;: ") + "…", full


def gene_list(text: Any, shown: int = 6) -> tuple[str, str]:
    """(shown, full) of a ``;``/``,``-separated gene list: first genes, then "+ N more"."""
    if is_missing(text):
        return "", ""
    genes = [g.strip() for g in re.split(r"[;,]\s*", str(text)) if g.strip()]
    full = ", ".join(genes)
    if len(genes) <= shown:
        return full, full
    return ", ".join(genes[:shown]) + f" + {len(genes) - shown} more", full


def contrast_words(contrast: Any) -> str:
    """``condition:NASH|healthy`` -> ``NASH vs healthy``; ``trend:fibrosis_stage`` -> ``trend with fibrosis stage``."""
    if is_missing(contrast):
        return ""
    c = str(contrast)
    m = re.match(r"^([^:]+):([^|]+)\|(.+)$", c)
    if m:
        return f"{group_label(m.group(2))} vs {group_label(m.group(3))}"
    if c.startswith("trend:"):
        return "trend with " + c.split(":", 1)[1].replace("_", " ")
    return c.replace("_", " ")


def contrast_parts(contrast: Any) -> tuple[str, str, str] | None:
    """(column, group, reference) of ``column:group|reference``, else None."""
    m = re.match(r"^([^:]+):([^|]+)\|(.+)$", str(contrast))
    return (m.group(1), m.group(2), m.group(3)) if m else None


EFFECT_WORDS = {
    "hedges_g": "Hedges' g",
    "g": "Hedges' g",
    "rho": "Spearman ρ",
    "r": "Pearson r",
    "spearman": "Spearman ρ",
    "pearson": "Pearson r",
    "hr_per_sd": "hazard ratio per SD",
    "hr": "hazard ratio",
    "hazard_ratio": "hazard ratio per SD",
    "spearman_rho": "Spearman ρ",
    "pearson_r": "Pearson r",
    "adjusted_diff": "composition-adjusted difference",
    "log2fc": "log2 fold change",
    "diff": "difference",
    "auroc": "AUROC",
    "nes": "NES",
}


def effect_words(kind: Any) -> str:
    return EFFECT_WORDS.get(str(kind).lower(), str(kind).replace("_", " ")) if not is_missing(kind) else ""


#: A standardised difference of a paired comparison: the average-SD g_av (the claims vote on it).
G_AV_WORDS = "Hedges' g (g_av, paired)"


def is_g_av(kind: Any, test: Any = None, design: Any = None) -> bool:
    """The estimate of an evidence row of kind ``hedges_g`` is a paired g_av: its ``test`` names g_av
    (:func:`mgtranscript.claims.effects.compare_effects`), or, without a test, its design is paired."""
    if str(kind) != "hedges_g":
        return False
    if not is_missing(test):
        return "g_av" in str(test)
    return str(design or "").startswith("paired")


def evidence_effect_words(row: Any) -> str:
    """:func:`effect_words` of an evidence row, saying g_av where a paired row's estimate is one."""
    kind = row.get("effect_kind")
    return G_AV_WORDS if is_g_av(kind, row.get("test"), row.get("design")) else effect_words(kind)


def feature_words(name: Any) -> str:
    """A feature (set, gene, ``A~B`` pair) in words."""
    if is_missing(name):
        return ""
    s = str(name)
    if "~" in s:
        a, b = s.split("~", 1)
        return f"{set_label(a)} ~ {set_label(b).replace('_', ' ')}"
    return set_label(s)


@dataclass
class Cell:
    """One rendered cell: text shown, sort key, tooltip, CSS class, optional link or raw HTML."""

    text: str = ""
    sort: Any = None
    title: str = ""
    cls: str = ""
    href: str = ""
    html: str = ""


@dataclass
class Col:
    """A column of a curated table view.

    ``get(row) -> Cell | str``; ``width`` is an optional CSS width (e.g. "30%"); ``num``
    right-aligns the column; ``optional`` columns are left out of a table where every cell
    is empty (e.g. a "note" column no row of this table fills).
    """

    header: str
    get: Callable[[pd.Series], Any]
    width: str = ""
    num: bool = False
    tip: str = ""
    optional: bool = False


def col_text(header: str, column: str, *, limit: int = 90, width: str = "", words: Callable | None = None,
             tip: str = "", optional: bool = False) -> Col:
    """A text column, abbreviated with a tooltip beyond ``limit`` characters."""

    def get(row: pd.Series) -> Cell:
        v = row.get(column)
        if is_missing(v):
            return Cell(DASH, "")
        s = words(v) if words else str(v)
        shown, full = abbreviate(s, limit)
        return Cell(shown, s.lower(), full if full != shown else "", "abbr" if full != shown else "")

    return Col(header, get, width=width, tip=tip, optional=optional)


def col_num(header: str, column: str, *, digits: int = 2, signed: bool = False, tip: str = "") -> Col:
    def get(row: pd.Series) -> Cell:
        v = _num(row.get(column))
        return Cell(fmt_num(v, digits, signed=signed), None if math.isnan(v) else v)

    return Col(header, get, num=True, tip=tip)


def col_int(header: str, column: str, tip: str = "") -> Col:
    def get(row: pd.Series) -> Cell:
        v = _num(row.get(column))
        return Cell(fmt_int(v), None if math.isnan(v) else v)

    return Col(header, get, num=True, tip=tip)


def col_p(header: str, column: str, *, floor: float | None = None, tip: str = "") -> Col:
    def get(row: pd.Series) -> Cell:
        v = _num(row.get(column))
        return Cell(fmt_p(v, floor=floor), None if math.isnan(v) else v,
                    "" if math.isnan(v) else f"{v:.3g}", "")

    return Col(header, get, num=True, tip=tip)


def col_ci(header: str, est: str, lo: str, hi: str, *, digits: int = 2, tip: str = "") -> Col:
    def get(row: pd.Series) -> Cell:
        v = _num(row.get(est))
        return Cell(fmt_est_ci(v, row.get(lo), row.get(hi), digits), None if math.isnan(v) else v)

    return Col(header, get, num=True, tip=tip)


def col_genes(header: str, column: str, shown: int = 6, width: str = "", optional: bool = False) -> Col:
    def get(row: pd.Series) -> Cell:
        s, full = gene_list(row.get(column), shown)
        return Cell(s or DASH, s, full if full != s else "", "genes abbr" if full != s else "genes")

    return Col(header, get, width=width, optional=optional)


def col_bool(header: str, column: str, yes: str = "yes", no: str = "no") -> Col:
    def get(row: pd.Series) -> Cell:
        t = fmt_bool(row.get(column), yes, no)
        return Cell(t, t)

    return Col(header, get)


def blank(text: Any) -> bool:
    """A rendered cell that says nothing: empty, "—", "None", "nan"."""
    return str(text).strip().lower() in ("", DASH, "none", "nan", "-")


def as_float(v: Any) -> float:
    """float(v), NaN when not a number."""
    return _num(v)


def finite(v: Any) -> bool:
    f = _num(v)
    return bool(np.isfinite(f))


_PARENS = re.compile(r"\s*\([^()]*\)")
_BRACKETS = re.compile(r"\s*\[[^\[\]]*\]")


def caveat_headline(text: str, limit: int = 100) -> str:
    """The gist of a caveat: cohort prefix kept, parentheses (numbers, sample ids) and everything
    after the first ": " dropped; the full text stays in the claim's details and ``tables/claims.tsv``."""
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


def reason_headline(text: Any, limit: int = 110) -> str:
    """Why a claim is not testable, in one line: brackets and parentheses dropped."""
    t = "" if is_missing(text) else str(text).strip()
    prev = None
    while prev != t:
        prev, t = t, _BRACKETS.sub("", _PARENS.sub("", t))
    t = t.strip().rstrip(";,.")
    return t if len(t) <= limit else t[: limit - 1].rsplit(" ", 1)[0] + "…"
