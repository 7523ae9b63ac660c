"""Association tests of the design audit and the flag rule.

Continuous variables: Mann-Whitney U (two groups) or Kruskal-Wallis (more), effect AUC;
categorical variables: Fisher's exact test (2 x 2) or a Monte-Carlo permutation chi-square
test, effect Cramér's V, plus perfect separation. Each returns one row of the
:func:`~mgtranscript.tl.design_check` table (see ``_audit`` for the rule).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ._util import _auc, _fmt_num, _join, _Sides

ALPHA = 0.01
AUC_LARGE = 0.25
#: A demographic covariate (age) is imbalanced at a smaller effect: adjusting for it is cheap, and
#: an age difference of AUC 0.70 (about 0.75 SD) already shifts age-dependent genes.
COVARIATE_AUC_LARGE = 0.15
V_LARGE = 0.3
N_PERM = 9999


def _continuous_row(check: str, variable: str, values: np.ndarray, sides: _Sides, unit: str, what: str,
                    auc_large: float = AUC_LARGE) -> dict:
    ok = sides.mask & np.isfinite(values)
    lab, v = sides.lab[ok], values[ok]
    levels = [lv for lv in sides.levels if (lab == lv).any()]
    row = {"check": check, "variable": variable, "n": int(ok.sum()), "flagged": False, "caveat": ""}
    if len(levels) < 2:
        return {**row, "test": "", "statistic": np.nan, "pval": np.nan, "effect": "fewer than two groups with values"}
    med = {lv: float(np.median(v[lab == lv])) for lv in levels}
    if np.ptp(v) == 0:
        return {**row, "test": "", "statistic": np.nan, "pval": np.nan,
                "effect": f"{what}: all samples {_fmt_num(v[0], unit)}"}
    if len(levels) == 2:
        a, b = v[lab == levels[0]], v[lab == levels[1]]
        test = stats.mannwhitneyu(a, b, alternative="two-sided")
        stat, p = float(test.statistic), float(test.pvalue)
        auc = _auc(a, b)
        hi, lo = ([levels[0]], [levels[1]]) if med[levels[0]] >= med[levels[1]] else ([levels[1]], [levels[0]])
        tname = "Mann-Whitney U"
    else:
        groups = [v[lab == lv] for lv in levels]
        test = stats.kruskal(*groups)
        stat, p = float(test.statistic), float(test.pvalue)
        order = sorted(levels, key=lambda lv: -med[lv])
        best, auc = None, 0.5
        for k in range(1, len(order)):
            top, bottom = order[:k], order[k:]
            au = _auc(v[np.isin(lab, top)], v[np.isin(lab, bottom)])
            if abs(au - 0.5) > abs(auc - 0.5) or best is None:
                best, auc = (top, bottom), au
        hi, lo = best
        tname = "Kruskal-Wallis"
    med_hi = float(np.median(v[np.isin(lab, hi)]))
    med_lo = float(np.median(v[np.isin(lab, lo)]))
    ratio = f" (ratio {med_hi / med_lo:.2f})" if unit == "M" and med_lo > 0 else ""
    effect = (f"{what} median {_fmt_num(med_hi, unit)} ({_join(hi)}) vs {_fmt_num(med_lo, unit)} ({_join(lo)})"
              f"{ratio}; AUC {auc:.2f}")
    if len(levels) > 2:
        effect += "; by group: " + ", ".join(f"{lv} {_fmt_num(med[lv], unit)}" for lv in levels)
    flagged = bool(p < ALPHA and abs(auc - 0.5) >= auc_large)
    caveat = f"{what} differs between groups: median {_fmt_num(med_hi, unit)} ({_join(hi)}) vs " \
             f"{_fmt_num(med_lo, unit)} ({_join(lo)})" if flagged else ""
    return {**row, "test": tname, "statistic": stat, "pval": p, "effect": effect, "flagged": flagged,
            "caveat": caveat}


def _perm_chi2(table: np.ndarray, rng: np.random.Generator) -> float:
    """Monte-Carlo p of the chi-square statistic with both margins fixed (as R
    ``chisq.test(simulate.p.value = TRUE, B = 9999)``): ``(1 + #{chi2_perm >= chi2_obs}) / (B + 1)``."""
    nr, nc = table.shape
    rows = np.repeat(np.arange(nr), table.sum(axis=1))
    cols = np.repeat(np.arange(nc), table.sum(axis=0))
    perms = rng.permuted(np.tile(cols, (N_PERM, 1)), axis=1)
    codes = rows[None, :] * nc + perms + (np.arange(N_PERM) * nr * nc)[:, None]
    tabs = np.bincount(codes.ravel(), minlength=N_PERM * nr * nc).reshape(N_PERM, nr, nc).astype(float)
    e = np.outer(table.sum(1), table.sum(0)) / table.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(e > 0, 1.0 / e, 0.0)
    chi = (((tabs - e) ** 2) * w).sum(axis=(1, 2))
    obs = float((((table - e) ** 2) * w).sum())
    return float((1 + int((chi >= obs - 1e-9).sum())) / (N_PERM + 1))


def _cramers_v(table: np.ndarray) -> float:
    n = table.sum()
    e = np.outer(table.sum(1), table.sum(0)) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = float(np.nansum((table - e) ** 2 / np.where(e > 0, e, np.nan)))
    k = min(table.shape) - 1
    return float(np.sqrt(chi2 / (n * k))) if k > 0 and n > 0 else np.nan


def _categorical_row(check: str, variable: str, values: np.ndarray, sides: _Sides, what: str,
                     describe: dict | None = None) -> dict | None:
    """``values``: object array (None = missing). ``describe``: level -> text for the effect."""
    ok = sides.mask & np.array([x is not None for x in values])
    lab, v = sides.lab[ok], values[ok]
    row = {"check": check, "variable": variable, "n": int(ok.sum()), "flagged": False, "caveat": ""}
    cats = sorted(set(v), key=str)
    levels = [lv for lv in sides.levels if (lab == lv).any()]
    if len(levels) < 2:
        return None
    if len(cats) < 2:
        return {**row, "test": "", "statistic": np.nan, "pval": np.nan,
                "effect": f"{what}: all samples {describe.get(cats[0], cats[0]) if describe else cats[0]}" if cats else ""}
    table = np.array([[np.sum((lab == lv) & (v == c)) for c in cats] for lv in levels], dtype=int)
    V = _cramers_v(table)
    if table.shape == (2, 2):
        stat, p = stats.fisher_exact(table)
        tname, stat = "Fisher exact", float(stat)
    else:
        rng = np.random.default_rng(20260101)
        p = _perm_chi2(table, rng)
        tname, stat = "chi-square (Monte Carlo, 9999 permutations)", float(_chi2(table))
    # perfect separation: no category holds samples from both sides
    if sides.two:
        sep = all((table[:, j] > 0).sum() == 1 for j in range(table.shape[1])) and (table.sum(1) >= 2).all()
    else:
        sep = False
    sep_sets = _separating_sets(table, levels, cats)
    parts = []
    for lv_i, lv in enumerate(levels):
        tot = int(table[lv_i].sum())
        cnt = {c: int(table[lv_i, j]) for j, c in enumerate(cats) if table[lv_i, j]}
        txt = ", ".join(f"{describe.get(c, c) if describe else c} {k}/{tot}" for c, k in cnt.items())
        parts.append(f"{lv}: {txt}")
    effect = f"Cramér's V {V:.2f}" + ("; perfect separation" if sep else "") + "; " + "; ".join(parts)
    flagged = bool(sep or (p < ALPHA and V >= V_LARGE))
    caveat = ""
    if flagged:
        if sep_sets:
            caveat = f"{what} separates the groups: " + " vs ".join(sep_sets)
        else:
            caveat = f"{what} is unevenly distributed between groups (Cramér's V {V:.2f}): " + "; ".join(parts)
    return {**row, "test": tname, "statistic": stat, "pval": float(p), "effect": effect, "flagged": flagged,
            "caveat": caveat}


def _chi2(table: np.ndarray) -> float:
    e = np.outer(table.sum(1), table.sum(0)) / table.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nansum((table - e) ** 2 / np.where(e > 0, e, np.nan)))


def _separating_sets(table: np.ndarray, levels: list[str], cats: list[str]) -> list[str]:
    """When the levels fall into disjoint sets of categories, ``["lvA, lvB (cat1)", ...]``."""
    # connected components of the bipartite graph levels <-> categories
    n_l = len(levels)
    parent = list(range(n_l + len(cats)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n_l):
        for j in range(len(cats)):
            if table[i, j]:
                parent[find(i)] = find(n_l + j)
    comps: dict[int, tuple[list[str], list[str]]] = {}
    for i, lv in enumerate(levels):
        comps.setdefault(find(i), ([], []))[0].append(lv)
    for j, c in enumerate(cats):
        if find(n_l + j) in comps:
            comps[find(n_l + j)][1].append(c)
    if len(comps) < 2:
        return []
    return [f"{_join(lv)} ({_join(map(str, cs))})" for lv, cs in comps.values()]
