"""Small helpers shared by the design-audit modules: dense arrays, obs labels, number
formatting, the AUC, and :class:`_Sides` (the samples of the contrast)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse, stats

from ...errors import InputDataError


def _dense(m) -> np.ndarray:
    if hasattr(m, "compute"):
        m = m.compute()
    return np.asarray(m.toarray() if sparse.issparse(m) else m, dtype=float)


def _labels(adata, col: str) -> np.ndarray:
    if col not in adata.obs.columns:
        raise InputDataError(f"obs has no column {col!r}; available: {list(adata.obs.columns)}.")
    s = adata.obs[col]
    return s.astype("object").map(lambda v: None if pd.isna(v) else str(v)).to_numpy(dtype=object)


def _fmt_num(v: float, unit: str = "") -> str:
    if not np.isfinite(v):
        return "NA"
    if unit == "M":
        return f"{v / 1e6:.1f} M"
    if unit == "%":
        return f"{100 * v:.1f}%"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.2f}"


def _auc(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0 or b.size == 0:
        return np.nan
    r = stats.rankdata(np.concatenate([a, b]))
    return float((r[: a.size].sum() - a.size * (a.size + 1) / 2) / (a.size * b.size))


def _join(levels: Sequence[str]) -> str:
    return ", ".join(levels)


class _Sides:
    """The samples of the contrast: two sides (group vs reference) or all levels."""

    def __init__(self, lab: np.ndarray, group: str | None, reference: str | None, levels: list[str]):
        self.lab = lab
        self.group, self.reference = group, reference
        self.levels = [group, reference] if group is not None else levels
        self.mask = np.array([v in self.levels for v in lab])
        self.two = len(self.levels) == 2

    def describe(self) -> str:
        return f"{self.group} vs {self.reference}" if self.group is not None else "all levels: " + _join(self.levels)
