"""Design flags that travel with a cohort's data.

The design audit (``tables/design.tsv``, ``tables/pairs.tsv``) flags technical differences
between the groups of a contrast (library sizes, sample-id series, sex, batches ...) and
mismatched pairs. Every section that shows a flagged cohort's data (scores, genes, DE,
enrichment, coupling, trends, survival) carries them as a short banner linking to the
cohort's rows of the audit, and each figure of that cohort says so in its caption.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from mgtranscript.report._result import table
from mgtranscript.report._format import contrast_words, is_missing
from mgtranscript.report._page import esc, slug

#: A few words for each design check (the full caveat is in the audit).
CHECK_WORDS = {
    "library_size": "library sizes differ", "norm_factor": "RNA composition (TMM factor) differs",
    "top_share": "top-gene read share differs", "sex_inferred": "genetic sex unbalanced",
    "sex_recorded": "recorded sex unbalanced", "sex_mismatch": "recorded and genetic sex disagree in some samples",
    "sample_ids": "groups from different sample-id series", "batch_aliased": "batch aliased with the groups",
    "age": "age differs",
}


def _flagged(v: Any) -> bool:
    return not is_missing(v) and str(v).strip().lower() in ("true", "1", "yes")


def _headline(row: pd.Series) -> str:
    from mgtranscript.report._format import caveat_headline

    check = str(row.get("check", ""))
    if check in CHECK_WORDS:
        return CHECK_WORDS[check]
    cav = row.get("caveat")
    if not is_missing(cav):
        h = caveat_headline(str(cav), 200)
        for sep in ("; ", ", as ", " as when "):
            h = h.split(sep, 1)[0]
        return h if len(h) <= 70 else h[:69].rsplit(" ", 1)[0] + "…"
    return check.replace("_", " ")


def cohort_flags(res: Any) -> dict[str, list[str]]:
    """Cohort -> its design flags in a few words each (with the contrasts they concern)."""
    out: dict[str, list[str]] = {}
    d = table(res, "design")
    pair_checked = set()
    if not d.empty and {"cohort", "flagged"} <= set(d.columns):
        fl = d[d["flagged"].map(_flagged)]
        for acc, rows in fl.groupby(fl["cohort"].astype(str), sort=False):
            mine = d[d["cohort"].astype(str) == acc]
            n_contrasts = mine["contrast"].nunique() if "contrast" in mine else 1
            by: dict[str, list[str]] = {}
            for _, r in rows.iterrows():
                if str(r.get("check")) == "pairs":
                    pair_checked.add(acc)
                h = _headline(r)
                c = contrast_words(r.get("contrast")) if not is_missing(r.get("contrast")) else ""
                by.setdefault(h, [])
                if c and c not in by[h]:
                    by[h].append(c)
            items = []
            for h, cs in by.items():
                if n_contrasts <= 1 or not cs:
                    items.append(h)
                elif len(cs) == n_contrasts:
                    items.append(f"{h} (every contrast)")
                elif len(cs) <= 2:
                    items.append(f"{h} ({'; '.join(cs)})")
                else:
                    items.append(f"{h} ({len(cs)} of {n_contrasts} contrasts)")
            out[acc] = items
    p = table(res, "pairs")
    if not p.empty and {"cohort", "flagged"} <= set(p.columns):
        for acc, rows in p.groupby(p["cohort"].astype(str), sort=False):
            k = int(rows["flagged"].map(_flagged).sum())
            if k and acc not in pair_checked:
                out.setdefault(acc, []).append(f"{k} of {len(rows)} pairs look mismatched")
    return out


def design_anchor(acc: str) -> str:
    """The id of a cohort's rows in the design audit."""
    return f"design-{slug(acc)}"


def flag_banner(acc: str, items: list[str]) -> str:
    """One line: the cohort, its flags, and a link to its rows of the design audit."""
    return (f'<p class="flagbar">⚑ <b>{esc(acc)}</b> — design flags: {esc("; ".join(items))}. '
            f'<a href="#{esc(design_anchor(acc))}">design audit →</a></p>')


def banners(flags: dict[str, list[str]], cohorts: Iterable[str]) -> str:
    """Banners of the flagged cohorts among ``cohorts`` (in their order), "" when none is flagged."""
    seen = []
    for acc in cohorts:
        acc = str(acc)
        if acc in flags and acc not in seen:
            seen.append(acc)
    return "".join(flag_banner(a, flags[a]) for a in seen)
