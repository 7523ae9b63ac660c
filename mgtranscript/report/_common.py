"""Helpers the report's sections share: table links, figure lists, common columns, cohort groups."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mgtranscript._words import group_colour, group_label
from mgtranscript.report._figures import FigureEntry
from mgtranscript.report._result import table
from mgtranscript.report._format import (
    DASH,
    Cell,
    Col,
    as_float,
    contrast_words,
    feature_words,
    fmt_int,
    is_missing,
)
from mgtranscript.report._page import Section, esc


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


def figure_cohort(caption: str) -> str:
    """The cohort a figure shows, from its caption's ``**ACC** — ...`` prefix ("" when none)."""
    m = re.match(r"^\*\*([A-Za-z][\w.-]*)\*\* —", caption)
    return m.group(1) if m else ""


def _add_figures(sec: Section, figures: Sequence[FigureEntry], section: str,
                 flags: dict[str, list[str]] | None = None) -> int:
    """Embed a section's figures; a flagged cohort's figure says so in its caption (link to the audit)."""
    from mgtranscript.report._flags import design_anchor

    items = _figures(figures, section)
    for path, cap in items:
        acc = figure_cohort(cap)
        if flags and acc in flags:
            cap = f"{cap} ⚑ [{acc} has design flags](#{design_anchor(acc)})."
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
    from mgtranscript.report._result import stage_order

    order = stage_order([c for c, _ in pairs])
    counts = dict(pairs)
    return " ".join(f'<span class="gr"><span class="dot" style="background:{group_colour(c)}"></span>'
                    f"{esc(group_label(c))} {counts[c]}</span>" for c in order)

