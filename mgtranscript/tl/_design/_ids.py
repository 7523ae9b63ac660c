"""Variables the design audit derives from sample ids, titles and dates: number ranges
of sample-id series, text prefixes, days of timestamps; and the ``sample_ids`` rows."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ._association import _categorical_row
from ._util import _Sides


def _last_number(s: str | None) -> float:
    if s is None:
        return np.nan
    m = re.findall(r"\d+", str(s))
    return float(m[-1]) if m else np.nan


def _id_ranges(nums: np.ndarray) -> tuple[np.ndarray, list[str]] | None:
    """Split sorted distinct id numbers at gaps > 10x the median step: range label per sample."""
    ok = np.isfinite(nums)
    u = np.unique(nums[ok])
    if u.size < 4:
        return None
    gaps = np.diff(u)
    step = float(np.median(gaps))
    cut = np.flatnonzero((gaps > max(10.0 * step, 1.0)) & (gaps > 0.05 * (u[-1] - u[0])))
    if cut.size == 0:
        return None
    bounds = np.split(u, cut + 1)
    names = [f"{int(b[0])}–{int(b[-1])}" if b[0] != b[-1] else f"{int(b[0])}" for b in bounds]
    lab = np.array([None] * nums.size, dtype=object)
    for name, b in zip(names, bounds):
        lab[ok & (nums >= b[0]) & (nums <= b[-1])] = name
    return lab, names


def _prefix(s: str | None) -> str | None:
    if s is None:
        return None
    p = re.sub(r"\d+", "", str(s)).strip(" _-.#:/").lower()
    return p or None


def _day(s: str | None) -> str | None:
    if s is None:
        return None
    m = re.match(r"^(\d{4}-\d{2}-\d{2})[T ]", str(s))
    return m.group(1) if m else str(s)


def _is_label_encoding(values: np.ndarray, sides: _Sides) -> bool:
    """True when the variable maps one-to-one onto the levels (it *is* the label)."""
    ok = sides.mask & np.array([x is not None for x in values])
    pairs = set(zip(sides.lab[ok], values[ok]))
    by_level: dict = {}
    by_value: dict = {}
    for lv, val in pairs:
        by_level.setdefault(lv, set()).add(val)
        by_value.setdefault(val, set()).add(lv)
    return all(len(s) == 1 for s in by_level.values()) and all(len(s) == 1 for s in by_value.values())


def _id_rows(col: str, s: pd.Series, sides: _Sides, labels: list[np.ndarray] = ()) -> list[dict]:
    """Numeric id series and text prefixes of an id-like column (title, description, ...).

    A text prefix that merely restates a label column (titles ``NASH_3``, ``obese_12`` encode
    the condition) is no batch: it is skipped when it maps one-to-one onto any of ``labels``."""
    out = []
    raw = s.astype("object").map(lambda v: None if pd.isna(v) else str(v)).to_numpy(dtype=object)
    nums = np.array([_last_number(v) for v in raw], dtype=float)
    if np.isfinite(nums[sides.mask]).mean() >= 0.8:
        res = _id_ranges(np.where(sides.mask, nums, np.nan))
        if res is not None:
            lab, _ = res
            r = _categorical_row("sample_ids", f"{col} (number ranges)", lab, sides, f"sample ids ({col})")
            if r is not None:
                if r["flagged"]:
                    r["caveat"] = ("groups come from different sample-id series, as from separate collections or "
                                   f"sequencing runs ({col} " + r["caveat"].split(": ", 1)[-1] + ")")
                out.append(r)
    pre = np.array([_prefix(v) for v in raw], dtype=object)
    present = {p for p, m in zip(pre, sides.mask) if m and p is not None}
    restates = _is_label_encoding(pre, sides) or any(
        _is_label_encoding(pre, _Sides(np.asarray(lab, dtype=object).astype(str), None, None,
                                       sorted(set(np.asarray(lab, dtype=object).astype(str)))))
        for lab in labels)
    if len(present) >= 2 and not restates and len(present) <= max(2, int(sides.mask.sum()) // 2):
        r = _categorical_row("sample_ids", f"{col} (text prefix)", pre, sides, f"{col} prefix")
        if r is not None:
            out.append(r)
    return out
