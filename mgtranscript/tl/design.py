"""Design audit: is a contrast confounded with how the samples were made?

A group difference can only be read as biology when the groups were collected, sequenced
and recorded alike. :func:`design_check` tests, for one contrast (``group`` vs
``reference``) or for all levels of ``groupby``, whether group membership is associated
with

* **library size** (total counts per sample), the **TMM normalisation factor** (edgeR) and
  the **share of reads in the top 20 genes** of each sample (library complexity);
* **genetic sex** inferred from XIST and chrY genes (RPS4Y1, DDX3Y, KDM5D, UTY, EIF1AY),
  the **recorded sex** (an ``obs`` column such as ``gender`` / ``sex``) and
  disagreements between the two;
* **age** (an ``obs`` column ``age``);
* **technical fields** of the series matrix or sample sheet (submission / update / run
  dates, instrument, platform, centre, library protocol, ...), and **sample-id series**
  derived from titles and descriptions: the numbers in ids such as ``869`` ... ``910``
  versus ``2683`` ... ``4010`` form separate ranges when samples come from different
  collections; a range that splits the groups is reported with Cramér's V.

With ``paired_by``, each pair is also checked: the sex of its members (a sample cannot gain
a Y chromosome; tumours, however, often lose chrY and some express XIST) and whether the
members share individual-specific expression ("identity genes": genes whose levels agree
between the members of the other declared pairs, e.g. deletion polymorphisms such as
GSTM1; learnt leaving the pair out). Flagged pairs and why go to ``uns[key]["pairs"]``.

Tests and the flag rule
-----------------------
Continuous variables: Mann-Whitney U (two groups) or Kruskal-Wallis (more); the effect is
the medians per side, and ``auc`` ``P(group > reference)`` for two groups (for several
levels: the split of the levels, ordered by median, with the largest ``|AUC - 0.5|``).
Categorical variables: Fisher's exact test (2 x 2) or a Monte-Carlo permutation
chi-square test (otherwise; 9,999 permutations, fixed seed), effect Cramér's V.

A row is **flagged** when the association is both significant and large:

* continuous: ``p < 0.01`` and ``|AUC - 0.5| >= 0.25`` (a randomly chosen sample of one
  side exceeds one of the other with probability >= 0.75 or <= 0.25);
* categorical: ``p < 0.01`` and Cramér's ``V >= 0.3``, or **perfect separation** (no
  level of the variable holds samples of both sides; at least 2 samples per side);
* sex mismatch: at least one sample whose recorded sex contradicts XIST/chrY
  expression;
* pairs: at least one flagged pair.

A flagged row carries a ``caveat`` in plain words, ready to quote in a verdict; all
caveats joined are in ``uns[key]["caveat"]``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse, stats

from ..errors import InputDataError

logger = logging.getLogger(__name__)

__all__ = ["design_check", "DESIGN_COLUMNS", "PAIR_COLUMNS", "SAMPLE_COLUMNS", "Y_GENES", "infer_sex"]

#: Columns of the :func:`design_check` table, in order.
DESIGN_COLUMNS = ["check", "variable", "test", "statistic", "effect", "pval", "n", "flagged", "caveat"]

#: Columns of ``uns[key]["pairs"]``.
PAIR_COLUMNS = [
    "pair", "group_sample", "reference_sample", "sex_group", "sex_reference", "sex_status",
    "identity_similarity", "identity_rank", "identity_pval", "best_match", "flagged", "reason",
]  # fmt: skip

#: Columns of ``uns[key]["samples"]``.
SAMPLE_COLUMNS = ["group", "lib_size", "norm_factor", "top_share", "chrY", "XIST", "inferred_sex",
                  "sex_detail", "recorded_sex"]

#: chrY genes expressed in most tissues (male-specific region), summed for the chrY score.
Y_GENES = ("RPS4Y1", "DDX3Y", "KDM5D", "UTY", "EIF1AY")

#: Thresholds on log2(CPM + 1) of the summed chrY genes / XIST (counts available).
Y_PRESENT, Y_ABSENT, XIST_HIGH = 5.0, 2.0, 4.0

ALPHA = 0.01
AUC_LARGE = 0.25
V_LARGE = 0.3
N_PERM = 9999

_LABEL_COLUMNS = {
    "condition", "disease", "disease_source", "disease_state", "disease_subtype", "diagnosis",
    "fibrosis_stage", "nas", "pair_id", "cohort", "accession", "lib_size", "norm_factor",
}  # fmt: skip
_TECH = re.compile(
    r"(date|instrument|platform|model|batch|lane|flow_?cell|center|centre|sequencer|chemistry|kit|"
    r"library|layout|selection|strategy|read_?length|avgspotlen|plate|operator|site|hospital|"
    r"extract|protocol|processing|rin$)",
    re.IGNORECASE,
)
_ID = re.compile(r"^(title|description|source_name(_ch\d)?|sample_?id|individual|patient(_id)?|donor(_id)?|"
                 r"subject(_id)?|biopsy(_id)?)$", re.IGNORECASE)
_SEX = re.compile(r"^(sex|gender)([_ ]?ch\d)?$", re.IGNORECASE)
_AGE = re.compile(r"^age([_ ]?(years|yrs|at[_ ].*))?([_ ]?ch\d)?$", re.IGNORECASE)
_KEY_TECH = re.compile(r"(instrument|platform|submission_date)", re.IGNORECASE)


# ---------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# association tests
# ---------------------------------------------------------------------------------------


def _continuous_row(check: str, variable: str, values: np.ndarray, sides: _Sides, unit: str, what: str) -> dict:
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
    flagged = bool(p < ALPHA and abs(auc - 0.5) >= AUC_LARGE)
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


# ---------------------------------------------------------------------------------------
# derived variables: sample-id series, title prefixes, dates
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# genetic sex
# ---------------------------------------------------------------------------------------


def infer_sex(adata, *, counts_layer: str | None = "counts") -> pd.DataFrame:
    """Genetic sex per sample from XIST and the chrY genes :data:`Y_GENES`.

    With counts (``layers[counts_layer]``): ``chrY`` = log2(summed CPM of the chrY genes
    + 1), ``XIST`` = log2(CPM + 1); chrY present at >= 5 (about 30 CPM), absent below 2,
    XIST high at >= 4. Without counts: the mean of the chrY genes and XIST in ``X`` (log
    scale), split into two clusters when the cohort is bimodal (cluster means >= 3 log2
    units apart).

    Calls (``inferred_sex``; ``sex_detail`` says why): ``male`` when chrY genes are
    expressed (a male tumour may also express XIST: detail "XIST also expressed"), or
    partly expressed with XIST low ("low chrY"); ``female`` when chrY is absent and XIST
    high (or XIST not measured); ``undetermined`` otherwise (chrY absent and XIST low --
    e.g. a male tumour that lost chrY --, partial chrY with XIST high, no sex genes).
    """
    genes = [g for g in Y_GENES if g in adata.var_names]
    has_xist = "XIST" in adata.var_names
    n = adata.n_obs
    y = np.full(n, np.nan)
    x = np.full(n, np.nan)
    if counts_layer is not None and counts_layer in adata.layers:
        C = adata.layers[counts_layer]
        lib = _dense(C.sum(axis=1)).ravel()
        lib = np.where(lib > 0, lib, np.nan)
        if genes:
            y = np.log2(_dense(C[:, adata.var_names.get_indexer(genes)]).sum(axis=1) / lib * 1e6 + 1)
        if has_xist:
            x = np.log2(_dense(C[:, adata.var_names.get_indexer(["XIST"])]).ravel() / lib * 1e6 + 1)
        y_hi, y_lo, x_hi = Y_PRESENT, Y_ABSENT, XIST_HIGH
        scale = "log2(CPM+1)"
    else:
        X = adata.X
        if genes:
            y = _dense(X[:, adata.var_names.get_indexer(genes)]).mean(axis=1)
        if has_xist:
            x = _dense(X[:, adata.var_names.get_indexer(["XIST"])]).ravel()
        y_hi = y_lo = _two_means_cut(y)
        x_hi = _two_means_cut(x)
        scale = "X (log scale), two-cluster split"
    calls, details = [], []
    for yi, xi in zip(y, x):
        xh = np.isfinite(xi) and xi >= x_hi if np.isfinite(x_hi) else False
        if not np.isfinite(yi) or not np.isfinite(y_hi):
            calls.append("undetermined")
            details.append("chrY genes not measured" if not genes else "cohort not bimodal for chrY")
        elif yi >= y_hi:
            calls.append("male")
            details.append("chrY expressed" + ("; XIST also expressed" if xh else ""))
        elif yi < y_lo:
            if xh:
                calls.append("female")
                details.append("no chrY; XIST expressed")
            elif not has_xist:
                calls.append("female")
                details.append("no chrY (XIST not measured)")
            else:
                calls.append("undetermined")
                details.append("neither chrY nor XIST expressed")
        else:
            if xh:
                calls.append("undetermined")
                details.append("low chrY; XIST expressed")
            else:
                calls.append("male")
                details.append("low chrY")
    def state(v, hi, lo, names):
        if not np.isfinite(v) or not np.isfinite(hi):
            return "NA"
        return names[0] if v >= hi else (names[2] if v < lo else names[1])

    y_state = [state(v, y_hi, y_lo, ("present", "partial", "absent")) for v in y]
    x_state = [state(v, x_hi, x_hi, ("high", "high", "low")) for v in x]
    return pd.DataFrame({"chrY": y, "XIST": x, "inferred_sex": calls, "sex_detail": details,
                         "chrY_state": y_state, "XIST_state": x_state},
                        index=adata.obs_names).assign(scale=scale)


def _two_means_cut(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    if v.size < 4:
        return np.nan
    s = np.sort(v)
    best, cut = np.inf, None
    for k in range(1, s.size):
        a, b = s[:k], s[k:]
        sse = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
        if sse < best:
            best, cut = sse, (a.mean(), b.mean())
    if cut is None or cut[1] - cut[0] < 3.0:
        return np.nan
    return float((cut[0] + cut[1]) / 2)


def _recorded_sex(obs: pd.DataFrame) -> tuple[str | None, np.ndarray | None]:
    for c in obs.columns:
        if _SEX.match(str(c)):
            vals = obs[c].astype("object").map(_norm_sex).to_numpy(dtype=object)
            if any(v is not None for v in vals):
                return str(c), vals
    return None, None


def _norm_sex(v) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    s = str(v).strip().lower()
    if s in ("m", "male", "man", "boy", "1"):
        return "male"
    if s in ("f", "female", "woman", "girl", "2"):
        return "female"
    return None


# ---------------------------------------------------------------------------------------
# pairs
# ---------------------------------------------------------------------------------------


def _pair_table(adata, lab, pairs, group, reference, sex: pd.DataFrame, counts_layer, k_genes=100) -> tuple[pd.DataFrame, dict]:
    """One row per pair with one ``group`` and one ``reference`` member (see design_check)."""
    idx_g, idx_r, names = [], [], []
    by_pair: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        if p is not None and lab[i] in (group, reference):
            by_pair.setdefault(p, []).append(i)
    for p, members in by_pair.items():
        g = [i for i in members if lab[i] == group]
        r = [i for i in members if lab[i] == reference]
        if len(g) == 1 and len(r) == 1:
            idx_g.append(g[0])
            idx_r.append(r[0])
            names.append(p)
    n = len(names)
    obs_names = np.asarray(adata.obs_names)
    rows = []
    summary: dict = {"n_pairs": n}
    sim = None
    if n >= 8:
        sim = _identity(adata, np.array(idx_g), np.array(idx_r), sex, counts_layer, k_genes)
        summary.update(sim["summary"])
    for k, p in enumerate(names):
        sg = sex["inferred_sex"].iloc[idx_g[k]]
        sr = sex["inferred_sex"].iloc[idx_r[k]]
        dg = sex["sex_detail"].iloc[idx_g[k]]
        dr = sex["sex_detail"].iloc[idx_r[k]]
        yg, yr = sex["chrY_state"].iloc[idx_g[k]], sex["chrY_state"].iloc[idx_r[k]]
        xg, xr = sex["XIST_state"].iloc[idx_g[k]], sex["XIST_state"].iloc[idx_r[k]]
        y_rank = {"present": 2, "partial": 1, "absent": 0}
        if sr == "female" and yg in ("present", "partial"):
            status = "conflict"  # the reference (e.g. normal tissue) is female, its partner has chrY
        elif sr == "male" and y_rank.get(yg, 9) < y_rank.get(yr, -1) and xg == "high" and xr != "high":
            status = "suspect"  # chrY lost *and* XIST gained: what a female partner would look like
        elif sr == "male" and y_rank.get(yg, 9) < y_rank.get(yr, -1):
            status = "chrY reduced"  # loss of chrY in the group sample (common in tumours)
        elif sg == sr and "undetermined" not in (sg, sr):
            status = "consistent"
        else:
            status = "uncertain"
        row = {"pair": p, "group_sample": obs_names[idx_g[k]], "reference_sample": obs_names[idx_r[k]],
               "sex_group": f"{sg} ({dg})", "sex_reference": f"{sr} ({dr})", "sex_status": status,
               "identity_similarity": np.nan, "identity_rank": np.nan, "identity_pval": np.nan,
               "best_match": ""}  # fmt: skip
        if sim is not None:
            row.update(identity_similarity=sim["s"][k], identity_rank=int(sim["rank"][k]),
                       identity_pval=sim["p"][k], best_match=names[int(sim["best"][k])])
        reasons = []
        ip = row["identity_pval"]
        if status == "conflict":
            reasons.append(f"{reference} sample is female (no chrY, XIST) but its {group} partner expresses chrY "
                           "genes: a sample cannot gain a Y chromosome")
        if status == "suspect":
            txt = (f"{reference} sample is male (chrY expressed, XIST low) but its {group} partner has "
                   f"{'little' if yg == 'partial' else 'no'} chrY expression and expresses XIST")
            if np.isfinite(ip) and ip > 0.05:
                reasons.append(txt + "; identity genes do not support the pairing either "
                               f"(p = {ip:.2f}) -- loss of chrY happens in tumours, a swap looks the same")
            elif not np.isfinite(ip):
                reasons.append(txt + " (loss of chrY happens in tumours; a sample swap looks the same)")
        if np.isfinite(ip) and ip > 0.5 and status != "conflict":
            reasons.append(f"identity genes do not support the pairing (declared partner ranks "
                           f"{row['identity_rank']} of {n}, similarity {row['identity_similarity']:.2f}; "
                           f"best match {row['best_match']})")
        row["flagged"] = bool(reasons)
        row["reason"] = "; ".join(dict.fromkeys(reasons))
        rows.append(row)
    return pd.DataFrame(rows, columns=PAIR_COLUMNS), summary


def _identity(adata, ig, ir, sex, counts_layer, k_genes) -> dict:
    """Leave-one-pair-out identity genes and the similarity of every (reference, group) combination."""
    X = _dense(adata.X)
    if counts_layer is not None and counts_layer in adata.layers:
        C = _dense(adata.layers[counts_layer])
        cpm = C / np.maximum(C.sum(axis=1, keepdims=True), 1) * 1e6
        expressed = (cpm[np.r_[ig, ir]] >= 1).mean(axis=0) >= 0.5
    else:
        expressed = np.ones(X.shape[1], dtype=bool)
    expressed &= np.isfinite(X[np.r_[ig, ir]]).all(axis=0)
    # leave sex-linked genes out: identity must be independent of the sex check
    both = np.r_[ig, ir]
    for col in ("chrY", "XIST"):
        s = sex[col].to_numpy()[both]
        if np.isfinite(s).all() and np.ptp(s) > 0:
            Xc = X[both][:, expressed]
            r = _col_corr(Xc, s)
            keep = np.abs(r) < 0.6
            expressed[np.flatnonzero(expressed)[~keep]] = False
    for g in (*Y_GENES, "XIST", "TSIX"):
        if g in adata.var_names:
            expressed[adata.var_names.get_loc(g)] = False
    A, B = X[ir][:, expressed], X[ig][:, expressed]
    A = (A - A.mean(0)) / np.where(A.std(0) > 0, A.std(0), np.nan)
    B = (B - B.mean(0)) / np.where(B.std(0) > 0, B.std(0), np.nan)
    good = np.isfinite(A).all(0) & np.isfinite(B).all(0)
    A, B = A[:, good], B[:, good]
    n = A.shape[0]
    # exact leave-one-out Pearson r per gene across pairs
    sa, sb, saa, sbb, sab = A.sum(0), B.sum(0), (A * A).sum(0), (B * B).sum(0), (A * B).sum(0)
    s_mat = np.full((n, n), np.nan)
    sims, ranks, ps, best = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
    min_r = []
    for i in range(n):
        m = n - 1
        ea, eb = (sa - A[i]) / m, (sb - B[i]) / m
        cov = (sab - A[i] * B[i]) / m - ea * eb
        va = (saa - A[i] ** 2) / m - ea**2
        vb = (sbb - B[i] ** 2) / m - eb**2
        with np.errstate(divide="ignore", invalid="ignore"):
            r = cov / np.sqrt(va * vb)
        r = np.where(np.isfinite(r), r, -np.inf)
        top = np.argsort(-r)[:k_genes]
        min_r.append(float(r[top].min()))
        At = _row_standardise(A[:, top])
        Bt = _row_standardise(B[:, top])
        row = Bt @ At[i]  # normal i vs every tumour (Pearson r across the identity genes)
        col = At @ Bt[i]  # tumour i vs every normal
        s = row[i]
        null = np.r_[np.delete(row, i), np.delete(col, i)]
        sims[i] = s
        ranks[i] = 1 + int((row > s).sum())
        ps[i] = (1 + int((null >= s).sum())) / (1 + null.size)
        best[i] = int(np.argmax(row))
        s_mat[i] = row
    off = s_mat[~np.eye(n, dtype=bool)]
    summary = {
        "identity_genes": int(k_genes), "identity_min_gene_r": float(np.median(min_r)),
        "declared_similarity_median": float(np.median(sims)), "random_similarity_median": float(np.nanmedian(off)),
        "n_genes_considered": int(A.shape[1]),
    }  # fmt: skip
    return {"s": sims, "rank": ranks, "p": ps, "best": best, "summary": summary}


def _row_standardise(M: np.ndarray) -> np.ndarray:
    """Rows centred and scaled so that the dot product of two rows is their Pearson r."""
    Mc = M - M.mean(axis=1, keepdims=True)
    norm = np.sqrt((Mc * Mc).sum(axis=1, keepdims=True))
    return Mc / np.where(norm > 0, norm, np.nan)


def _col_corr(M: np.ndarray, v: np.ndarray) -> np.ndarray:
    Mc = M - M.mean(0)
    vc = v - v.mean()
    den = np.sqrt((Mc * Mc).sum(0) * (vc @ vc))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (Mc * vc[:, None]).sum(0) / den
    return np.where(np.isfinite(r), r, 0.0)


# ---------------------------------------------------------------------------------------
# the audit
# ---------------------------------------------------------------------------------------


def design_check(
    adata,
    *,
    groupby: str,
    group: str | None = None,
    reference: str | None = None,
    paired_by: str | None = None,
    counts_layer: str | None = "counts",
    top_n: int = 20,
    key_added: str = "design_check",
    copy: bool = False,
):
    """Audit a contrast for technical and demographic confounds (see the module docstring).

    Parameters
    ----------
    adata
        AnnData, samples x genes; raw counts in ``layers[counts_layer]`` for the library
        checks (else ``obs["lib_size"]`` when present; TMM and top-gene share need counts),
        log expression in ``X``; series-matrix / sample-sheet fields in ``obs``.
    groupby
        ``obs`` column with the groups (e.g. ``"condition"``).
    group, reference
        The contrast ``group`` vs ``reference``. Without ``group`` all levels of
        ``groupby`` are audited together (``reference`` then only orients the pair checks).
        ``reference`` defaults to ``uns["labels"]["reference"]`` for ``groupby="condition"``
        (catalog cohorts) or the first category.
    paired_by
        ``obs`` column of matched samples (e.g. ``"pair_id"``): adds the pair checks.
    counts_layer
        Layer with raw counts (``None``: skip count-based checks).
    top_n
        Number of top genes for the read-share check (scater's ``pct_counts_in_top_20``).
    key_added
        ``uns[key_added]`` = ``{"params", "table", "samples", "pairs" (paired), "caveat"}``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    pandas.DataFrame
        One row per check (:data:`DESIGN_COLUMNS`): ``check`` (``library_size``,
        ``norm_factor``, ``top_share``, ``sex_inferred``, ``sex_recorded``,
        ``sex_mismatch``, ``age``, ``technical``, ``sample_ids``, ``pairs``),
        ``variable`` (the ``obs`` column or derived variable), ``test``, ``statistic``,
        ``effect`` (human-readable, e.g. "library size median 26.1 M (healthy) vs
        13.0 M (NASH)"), ``pval``, ``n``, ``flagged`` and ``caveat`` (plain words, empty
        unless flagged). With ``copy=True`` the modified copy instead.

    Raises
    ------
    InputDataError
        Unknown columns or levels.
    """
    if copy:
        adata = adata.copy()
    lab = _labels(adata, groupby)
    levels_all = [lv for lv in dict.fromkeys(v for v in lab if v is not None)]
    levels_all = [lv for lv in _ordered(adata, groupby, levels_all) if lv != "unlabelled"]
    if group is not None:
        group = str(group)
        if group not in levels_all:
            raise InputDataError(f"group {group!r} is not a level of obs[{groupby!r}]; available: {levels_all}.")
        if reference is None:
            reference = _default_reference(adata, groupby, levels_all, group)
    if reference is not None:
        reference = str(reference)
        if reference not in levels_all:
            raise InputDataError(f"reference {reference!r} is not a level of obs[{groupby!r}]; available: {levels_all}.")
    if group is not None and group == reference:
        raise InputDataError("group and reference must differ.")
    if len(levels_all) < 2:
        raise InputDataError(f"obs[{groupby!r}] needs at least two levels to audit, got {levels_all}.")
    sides = _Sides(lab, group, reference, levels_all)
    rows: list[dict] = []
    skipped: list[str] = []

    # --- library size, TMM, top-gene share -------------------------------------------
    samples = pd.DataFrame(index=adata.obs_names)
    samples["group"] = lab
    C = None
    if counts_layer is not None and counts_layer in adata.layers:
        C = adata.layers[counts_layer]
        lib = _dense(C.sum(axis=1)).ravel()
    elif "lib_size" in adata.obs.columns:
        lib = adata.obs["lib_size"].to_numpy(dtype=float)
        skipped.append("norm_factor, top_share (no counts layer)")
    else:
        lib = None
        skipped.append("library_size, norm_factor, top_share (no counts layer, no obs['lib_size'])")
    if lib is not None:
        samples["lib_size"] = lib
        row = _continuous_row("library_size", "total counts", lib, sides, "M", "library size")
        if row["flagged"]:
            row["caveat"] = row["caveat"].replace("library size differs between groups", "library sizes differ")
        rows.append(row)
    if C is not None:
        from ..pp import calc_norm_factors

        sub = np.flatnonzero(sides.mask)
        nf = np.full(adata.n_obs, np.nan)
        Cs = _dense(C[sub])
        nf[sub] = calc_norm_factors(Cs, method="TMM")
        samples["norm_factor"] = nf
        r = _continuous_row("norm_factor", "TMM factor", nf, sides, "", "TMM normalisation factor")
        if r["flagged"]:
            r["caveat"] = ("RNA composition differs between groups (" + r["caveat"].split(": ", 1)[-1].replace(
                "median", "TMM factor median") + "); results depend on the normalisation")
        rows.append(r)
        top = np.full(adata.n_obs, np.nan)
        k = min(top_n, Cs.shape[1])
        part = -np.partition(-Cs, k - 1, axis=1)[:, :k].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            top[sub] = part / Cs.sum(axis=1)
        samples["top_share"] = top
        r = _continuous_row("top_share", f"share of reads in top {k} genes", top, sides, "%",
                            f"share of reads in the top {k} genes")
        if r["flagged"]:
            r["caveat"] = (f"the top {k} genes take a different share of the reads (" + r["caveat"].split(": ", 1)[-1]
                           + "), as when a few very abundant transcripts (e.g. albumin) dominate one group")
        rows.append(r)

    # --- sex ------------------------------------------------------------------------
    sex = infer_sex(adata, counts_layer=counts_layer)
    samples["chrY"] = sex["chrY"].to_numpy()
    samples["XIST"] = sex["XIST"].to_numpy()
    samples["inferred_sex"] = sex["inferred_sex"].to_numpy()
    samples["sex_detail"] = sex["sex_detail"].to_numpy()
    inferred = np.array([s if s in ("male", "female") else None for s in sex["inferred_sex"]], dtype=object)
    if any(v is not None for v in inferred):
        r = _categorical_row("sex_inferred", "XIST / chrY expression", inferred, sides, "genetic sex (XIST/chrY)")
        if r is not None:
            rows.append(r)
    else:
        skipped.append("sex_inferred (no chrY genes / XIST measured)")
    rec_col, recorded = _recorded_sex(adata.obs)
    samples["recorded_sex"] = recorded if recorded is not None else None
    if recorded is not None:
        r = _categorical_row("sex_recorded", rec_col, recorded, sides, f"recorded sex ({rec_col})")
        if r is not None:
            rows.append(r)
        mism = [(adata.obs_names[i], recorded[i], sex["sex_detail"].iloc[i]) for i in np.flatnonzero(sides.mask)
                if recorded[i] is not None and inferred[i] is not None and recorded[i] != inferred[i]]
        n_cmp = int(sum(1 for i in np.flatnonzero(sides.mask) if recorded[i] is not None and inferred[i] is not None))
        txt = "; ".join(f"{s} (recorded {r}, {d})" for s, r, d in mism)
        n_f_y = sum(1 for _, r, _ in mism if r == "female")
        why = "possible sample mix-up or metadata error"
        if n_f_y < len(mism):
            why += " (a male tumour can lose chrY expression; a recorded female with chrY expression cannot be explained so)"
        rows.append({
            "check": "sex_mismatch", "variable": f"{rec_col} vs XIST/chrY", "test": "recorded vs inferred",
            "statistic": float(len(mism)), "pval": np.nan, "n": n_cmp,
            "effect": (f"{len(mism)} of {n_cmp} samples disagree" + (f": {txt}" if mism else "")),
            "flagged": bool(mism),
            "caveat": (f"recorded sex disagrees with XIST/chrY expression in {len(mism)} of {n_cmp} samples "
                       f"({', '.join(s for s, _, _ in mism)}): {why}") if mism else "",
        })  # fmt: skip

    # --- age --------------------------------------------------------------------------
    for c in adata.obs.columns:
        if _AGE.match(str(c)):
            age = pd.to_numeric(adata.obs[c], errors="coerce").to_numpy(dtype=float)
            if np.isfinite(age).sum() >= 4:
                rows.append(_continuous_row("age", str(c), age, sides, "", "age"))
            break

    # --- technical fields and sample-id series -----------------------------------------
    exclude = {groupby, paired_by, *_LABEL_COLUMNS}
    n_side = int(sides.mask.sum())
    for c in adata.obs.columns:
        if c in exclude or _SEX.match(str(c)) or _AGE.match(str(c)):
            continue
        s = adata.obs[c]
        if _ID.match(str(c)):
            labels = [adata.obs[lc].astype("object").to_numpy() for lc in _LABEL_COLUMNS if lc in adata.obs]
            rows.extend(_id_rows(str(c), s, sides, labels))
            continue
        if not _TECH.search(str(c)):
            continue
        vals = s.astype("object").map(lambda v: None if pd.isna(v) else _day(str(v))).to_numpy(dtype=object)
        present = [v for v, m in zip(vals, sides.mask) if m and v is not None]
        n_u = len(set(present))
        if n_u == 0:
            continue
        if n_u == 1:
            if _KEY_TECH.search(str(c)):
                rows.append({"check": "technical", "variable": str(c), "test": "", "statistic": np.nan,
                             "pval": np.nan, "n": len(present), "effect": f"all samples: {present[0]}",
                             "flagged": False, "caveat": ""})
            continue
        if n_u > max(2, n_side // 2):
            continue
        r = _categorical_row("technical", str(c), vals, sides, f"{c}")
        if r is not None:
            if r["flagged"]:
                r["caveat"] = f"groups differ in {c}: " + r["caveat"].split(": ", 1)[-1]
            rows.append(r)

    # --- pairs ------------------------------------------------------------------------
    pairs_tab = None
    if paired_by is not None:
        pairs = _labels(adata, paired_by)
        g2 = group if group is not None else None
        r2 = reference
        if g2 is None:
            others = [lv for lv in levels_all if lv != r2]
            if r2 is None or len(others) != 1:
                skipped.append("pairs (give group= and reference= for the pair checks)")
            else:
                g2 = others[0]
        if g2 is not None and r2 is not None:
            pairs_tab, summary = _pair_table(adata, lab, pairs, g2, r2, sex, counts_layer)
            n_flag = int(pairs_tab["flagged"].sum())
            ident = ""
            if "declared_similarity_median" in summary:
                ident = (f"; identity genes: median similarity of declared pairs "
                         f"{summary['declared_similarity_median']:.2f} vs "
                         f"{summary['random_similarity_median']:.2f} for random pairs")
            sex_c = int((pairs_tab["sex_status"] == "consistent").sum())
            flagged_txt = "; ".join(f"{r.pair} ({r.reference_sample} - {r.group_sample}): {r.reason}"
                                    for r in pairs_tab.itertuples() if r.flagged)
            rows.append({
                "check": "pairs", "variable": paired_by, "test": "sex agreement; leave-one-out identity genes",
                "statistic": float(n_flag), "pval": np.nan, "n": len(pairs_tab),
                "effect": (f"{len(pairs_tab)} complete pairs; sex consistent in {sex_c}{ident}; "
                           f"{n_flag} flagged" + (f": {flagged_txt}" if n_flag else "")),
                "flagged": bool(n_flag),
                "caveat": (f"{n_flag} of {len(pairs_tab)} declared pairs may not be from the same individual "
                           f"({', '.join(pairs_tab.loc[pairs_tab['flagged'], 'pair'])})") if n_flag else "",
            })  # fmt: skip

    table = pd.DataFrame(rows, columns=DESIGN_COLUMNS)
    table["flagged"] = table["flagged"].astype(bool)
    table["n"] = table["n"].astype(int)
    # the inferred-sex caveat repeats the recorded-sex one when the two agree everywhere
    chk = table.set_index("check")
    if {"sex_inferred", "sex_recorded", "sex_mismatch"} <= set(chk.index) and chk.loc["sex_recorded", "flagged"] \
            and not chk.loc["sex_mismatch", "flagged"]:
        table.loc[table["check"] == "sex_inferred", "caveat"] = ""
    caveat = "; ".join(dict.fromkeys(c for c in table.loc[table["flagged"], "caveat"] if c))
    entry = {
        "params": {"groupby": groupby, "group": group or "", "reference": reference or "",
                   "contrast": sides.describe(), "paired_by": paired_by or "", "counts_layer": counts_layer or "",
                   "top_n": int(top_n), "skipped": skipped,
                   "rule": "flag: continuous p < 0.01 and |AUC - 0.5| >= 0.25; categorical p < 0.01 and "
                           "Cramér's V >= 0.3, or perfect separation; any sex mismatch; any flagged pair"},
        "table": table,
        "samples": samples[[c for c in SAMPLE_COLUMNS if c in samples.columns]],
        "caveat": caveat,
    }  # fmt: skip
    if pairs_tab is not None:
        entry["pairs"] = pairs_tab
    adata.uns[key_added] = entry
    logger.info("design_check %s: %d checks, %d flagged", sides.describe(), len(table), int(table["flagged"].sum()))
    return adata if copy else table


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


def _ordered(adata, groupby: str, levels: list[str]) -> list[str]:
    s = adata.obs[groupby]
    if isinstance(s.dtype, pd.CategoricalDtype):
        first = [str(c) for c in s.cat.categories if str(c) in levels]
    else:
        info = adata.uns.get("labels", {})
        order = info.get("condition_order") if isinstance(info, dict) and groupby == "condition" else None
        first = [str(o) for o in (order if order is not None else []) if str(o) in levels]
    return first + [lv for lv in levels if lv not in first]


def _default_reference(adata, groupby: str, levels: list[str], group: str) -> str:
    info = adata.uns.get("labels", {})
    ref = info.get("reference") if isinstance(info, dict) and groupby == "condition" else None
    if ref is not None and str(ref) in levels and str(ref) != group:
        return str(ref)
    others = [lv for lv in levels if lv != group]
    if len(others) == 1:
        return others[0]
    s = adata.obs[groupby]
    if isinstance(s.dtype, pd.CategoricalDtype):
        for c in s.cat.categories:
            if str(c) in others:
                return str(c)
    raise InputDataError(f"No reference given for group {group!r}; pass reference= (one of {others}).")
