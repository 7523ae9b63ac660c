"""Partial correlation estimates for :func:`~mgtranscript.tl.correlate` (the statistics are
described in ``_correlate``): residualise ``x`` and ``y`` on ``[1, Z]``,
Student-t p-values, Fisher-z confidence intervals (Bonett-Wright for Spearman), and the
fixed-effect Fisher-z combination of group estimates with Cochran's Q and I^2."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..._stats import Z_95


@dataclass
class _Est:
    r: float = np.nan
    p: float = np.nan
    df: float = np.nan
    n: int = 0
    q: int = 0
    se_z: float = np.nan
    lo: float = np.nan
    hi: float = np.nan
    note: str = ""


def _rank_cols(M: np.ndarray, which: np.ndarray) -> np.ndarray:
    M = M.copy()
    for j in np.flatnonzero(which):
        M[:, j] = stats.rankdata(M[:, j])
    return M


def _design_matrix(Z: np.ndarray | None, indicators: list[np.ndarray], n: int | None = None) -> np.ndarray:
    """``[1, Z, indicator columns]`` with constant columns removed (intercept kept)."""
    if n is None:
        n = indicators[0].shape[0] if indicators else (Z.shape[0] if Z is not None else 0)
    cols = [np.ones(n)]
    blocks = ([Z] if Z is not None and Z.size else []) + [b for b in indicators if b.size]
    for b in blocks:
        for j in range(b.shape[1]):
            v = b[:, j]
            if np.ptp(v) > 0:
                cols.append(v)
    return np.column_stack(cols)


def _dummies(labels: np.ndarray) -> np.ndarray:
    levels = pd.unique(labels)
    if levels.size <= 1:
        return np.zeros((labels.size, 0))
    return np.column_stack([(labels == lv).astype(float) for lv in levels[1:]])


def _estimate(x: np.ndarray, y: np.ndarray, D: np.ndarray, method: str) -> _Est:
    """Partial correlation of (already ranked, if Spearman) x and y given design D (with intercept)."""
    n = x.size
    rank_d = int(np.linalg.matrix_rank(D)) if D.size else 0
    q = max(rank_d - 1, 0)
    est = _Est(n=n, q=q)
    df = n - 2 - q
    if df < 1 or n - 3 - q <= 0:
        est.note = f"too few samples for the adjustment (n={n}, adjusted for {q} column(s))"
        return est
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        est.note = "constant " + ("x" if np.ptp(x) == 0 else "y")
        return est
    bx = np.linalg.lstsq(D, x, rcond=None)[0]
    by = np.linalg.lstsq(D, y, rcond=None)[0]
    rx = x - D @ bx
    ry = y - D @ by
    sx, sy = float(rx @ rx), float(ry @ ry)
    scale_x, scale_y = float(((x - x.mean()) ** 2).sum()), float(((y - y.mean()) ** 2).sum())
    if sx <= 1e-24 * max(scale_x, 1.0) or sy <= 1e-24 * max(scale_y, 1.0):
        est.note = "no variation left after adjustment"
        return est
    r = float(np.clip((rx @ ry) / np.sqrt(sx * sy), -1.0, 1.0))
    est.r, est.df = r, float(df)
    if abs(r) >= 1.0:
        est.p, est.lo, est.hi, est.se_z = 0.0, r, r, 0.0
        return est
    t = r * np.sqrt(df / (1.0 - r * r))
    est.p = float(2.0 * stats.t.sf(abs(t), df))
    c = 1.0 + r * r / 2.0 if method == "spearman" else 1.0
    est.se_z = float(np.sqrt(c / (n - 3 - q)))
    z = np.arctanh(r)
    est.lo, est.hi = float(np.tanh(z - Z_95 * est.se_z)), float(np.tanh(z + Z_95 * est.se_z))
    return est


def _prepare(x, y, Z, ind_cols, method, rank_numeric_cov):
    """Rank for Spearman: x, y and the numeric covariate columns, over the given samples."""
    if method == "spearman":
        x = stats.rankdata(x)
        y = stats.rankdata(y)
        if Z is not None and Z.size and rank_numeric_cov:
            Z = _rank_cols(Z, ~np.asarray(ind_cols, dtype=bool))
    return x, y, Z


def _fisher_combine(ests: list[_Est], method: str) -> dict:
    ok = [e for e in ests if np.isfinite(e.r) and (e.n - 3 - e.q) > 0]
    out = {"estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "pval": np.nan,
           "q_het": np.nan, "q_pval": np.nan, "i2": np.nan, "k": len(ok)}  # fmt: skip
    if not ok:
        return out
    r = np.clip(np.array([e.r for e in ok]), -1 + 1e-12, 1 - 1e-12)
    z = np.arctanh(r)
    w = np.array([e.n - 3.0 - e.q for e in ok])
    c = 1.0 + r * r / 2.0 if method == "spearman" else np.ones_like(r)
    v = c / w
    zbar = float((w * z).sum() / w.sum())
    se = float(np.sqrt((w * w * v).sum()) / w.sum())
    out.update(
        estimate=float(np.tanh(zbar)),
        ci_low=float(np.tanh(zbar - Z_95 * se)),
        ci_high=float(np.tanh(zbar + Z_95 * se)),
        pval=float(2.0 * stats.norm.sf(abs(zbar / se))),
    )
    k = len(ok)
    if k >= 2:
        wiv = 1.0 / v
        ziv = float((wiv * z).sum() / wiv.sum())
        Q = float((wiv * (z - ziv) ** 2).sum())
        out.update(q_het=Q, q_pval=float(stats.chi2.sf(Q, k - 1)),
                   i2=float(max(0.0, (Q - (k - 1)) / Q)) if Q > 0 else 0.0)
    return out
