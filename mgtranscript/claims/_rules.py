"""Verdict rules: from per-cohort evidence to one effect (:func:`vote`) and one verdict (:func:`decide`).

Everything here is pure arithmetic on evidence rows (see :data:`~._table.EVIDENCE_COLUMNS`);
the analyses that produce the rows live in :mod:`._evidence`, the certainty in :mod:`._grading`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._stats import bh_adjust

__all__ = ["Vote", "vote", "claim_votes", "decide", "pool_effects", "power_not_down", "POOL_SCALE", "NOT_DOWN_MARGIN",
           "HETEROGENEITY_P", "I2_INCONSISTENT", "KIND_SYMBOL"]

Z95 = float(stats.norm.ppf(0.975))

#: Scale on which each effect kind is pooled across cohorts (random effects, REML).
POOL_SCALE = {
    "hedges_g": "identity", "log2fc": "identity", "adjusted_diff": "identity", "diff": "identity",
    "spearman_rho": "fisher_z", "pearson_r": "fisher_z", "hazard_ratio": "log",
}
#: Null value of each effect kind on its natural scale.
NULL = {"hazard_ratio": 1.0}
#: Largest decrease still compatible with "not down" claims (non-inferiority margin), per effect
#: kind. The claims state it as a fold change: MRS2 no more than 1.15-fold lower than in controls
#: (log2 0.20, a 13% decrease) on the mean log2 expression (``log2fc``; also the composition-
#: adjusted difference in log2 units). ``hedges_g`` 0.2 (Cohen's "small") is kept for claims
#: tested on standardised effects only; it is a far smaller change (for MRS2 about 4% fold).
NOT_DOWN_MARGIN = {"log2fc": float(np.log2(1.15)), "adjusted_diff": float(np.log2(1.15)),
                   "diff": float(np.log2(1.15)), "hedges_g": 0.2}
#: Cochran's Q p-value below which pooled cohorts "disagree" (the conventional 0.10: the Q test
#: has little power with two or three cohorts). The verdict is then inconclusive.
HETEROGENEITY_P = 0.10
#: I^2 (percent) above which pooled cohorts are "inconsistent" (a certainty downgrade).
I2_INCONSISTENT = 50.0
#: Short symbol of each effect kind in sentences.
KIND_SYMBOL = {"hedges_g": "g", "log2fc": "log2FC", "adjusted_diff": "adjusted difference", "diff": "difference",
               "spearman_rho": "rho", "pearson_r": "r", "hazard_ratio": "HR"}


def to_scale(kind: str, x):
    s = POOL_SCALE.get(kind, "identity")
    x = np.asarray(x, dtype=float)
    if s == "fisher_z":
        return np.arctanh(np.clip(x, -0.999999, 0.999999))
    if s == "log":
        with np.errstate(divide="ignore"):
            return np.log(x)
    return x


def from_scale(kind: str, x):
    s = POOL_SCALE.get(kind, "identity")
    x = np.asarray(x, dtype=float)
    if s == "fisher_z":
        return np.tanh(x)
    if s == "log":
        return np.exp(x)
    return x


def sign_of(kind: str, effect: float) -> int:
    """+1 / -1 / 0: the direction of an effect relative to the kind's null."""
    if effect is None or not np.isfinite(effect):
        return 0
    return int(np.sign(effect - NULL.get(kind, 0.0)))


def expected_sign(expected: str) -> int:
    return -1 if expected in ("down", "negative") else 1


def pool_effects(kind: str, estimates, se) -> dict:
    """The one pooling rule of the project (claim verdicts and ``tables/meta.tsv``): a random-effects
    pool (REML tau^2) on the kind's pooling scale (:data:`POOL_SCALE`) with a Hartung-Knapp t CI
    and p (``k - 1`` df) and, for ``k >= 3``, a 95% prediction interval
    (:func:`mgtranscript.tl.pool`, ``test="knha"``). Estimates and intervals are returned on
    the kind's natural scale; ``se`` stays on the pooling scale."""
    from ..tl import pool

    y = to_scale(kind, estimates)
    se = np.asarray(se, dtype=float)
    ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
    res = pool(y[ok], se[ok], method="REML", test="knha")
    for k in ("pooled", "ci_low", "ci_high", "pi_low", "pi_high"):
        res[k] = float(from_scale(kind, res[k]))
    return res


@dataclass
class Vote:
    """The effect a claim is judged on, before multiplicity adjustment across claims."""

    effect_kind: str = ""
    effect: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    pval: float = np.nan
    #: standard error on the pooling scale (Hartung-Knapp for pools)
    se: float = np.nan
    k: int = 0
    n: int = 0
    cohorts: list[str] = field(default_factory=list)
    #: per cohort: (cohort, estimate, ci_low, ci_high, q, q family) of the voted rows
    rows: list[tuple] = field(default_factory=list)
    i2: float = np.nan
    tau2: float = np.nan
    q_pval: float = np.nan
    pi_low: float = np.nan
    pi_high: float = np.nan
    df: float = np.inf
    pooled: bool = False
    #: every voted row is a within-pair (paired) estimate
    paired: bool = False
    #: cohorts whose own test is significant (q < alpha) in / against the pooled direction
    agreeing: list[str] = field(default_factory=list)
    opposing: list[str] = field(default_factory=list)
    #: cohorts whose point estimates point in different directions
    directions_differ: bool = False

    @property
    def disagree(self) -> bool:
        """Pooled cohorts disagree significantly (Cochran's Q p < :data:`HETEROGENEITY_P`)."""
        return self.pooled and np.isfinite(self.q_pval) and self.q_pval < HETEROGENEITY_P


def vote(rows: pd.DataFrame, *, alpha: float = 0.05) -> Vote:
    """Combine the included evidence rows of one claim into one effect.

    One cohort: its own estimate, CI and p. Two or more: :func:`pool_effects` (random effects,
    Hartung-Knapp CI with ``k - 1`` df, prediction interval for ``k >= 3``, Cochran's Q);
    cohorts never pool with themselves (one row per cohort is expected).
    """
    v = Vote()
    if rows is None or rows.empty:
        return v
    kinds = rows["effect_kind"].unique()
    v.effect_kind = str(kinds[0])
    if len(kinds) > 1:  # defensive: never pool different kinds
        rows = rows[rows["effect_kind"] == v.effect_kind]
    v.cohorts = [str(c) for c in rows["cohort"]]
    v.k = len(rows)
    v.n = int(pd.to_numeric(rows["n"], errors="coerce").fillna(0).sum())
    v.paired = bool(rows["design"].astype(str).str.startswith("paired").all())
    est = rows["estimate"].to_numpy(float)
    q = pd.to_numeric(rows["qval"], errors="coerce").to_numpy(float)
    fam = rows["q_family"].astype(str).tolist() if "q_family" in rows else ["run"] * v.k
    v.rows = list(zip(v.cohorts, est, rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float), q, fam))
    signs = {sign_of(v.effect_kind, e) for e in est} - {0}
    v.directions_differ = len(signs) > 1
    if v.k == 1:
        r = rows.iloc[0]
        v.effect, v.ci_low, v.ci_high, v.pval = (float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"]),
                                                 float(r["pval"]))
        v.se = float(r["se"]) if np.isfinite(pd.to_numeric(r["se"], errors="coerce")) else np.nan
    else:
        res = pool_effects(v.effect_kind, est, rows["se"].to_numpy(float))
        v.pooled = True
        v.effect, v.ci_low, v.ci_high, v.pval = res["pooled"], res["ci_low"], res["ci_high"], float(res["pval"])
        v.se, v.df, v.i2, v.tau2, v.q_pval = res["se"], res["df"], res["I2"], res["tau2"], res["Q_pval"]
        v.pi_low, v.pi_high = res["pi_low"], res["pi_high"]
    set_agreement(v, q, alpha=alpha)
    return v


def set_agreement(v: Vote, q, *, alpha: float = 0.05) -> None:
    """Fill ``v.agreeing`` / ``v.opposing`` from the per-cohort q-values ``q`` (in ``v.rows`` order)."""
    v.agreeing, v.opposing = [], []
    direction = sign_of(v.effect_kind, v.effect)
    for (c, e, *_), qq in zip(v.rows, q):
        if np.isfinite(qq) and qq < alpha and direction:
            (v.agreeing if sign_of(v.effect_kind, e) == direction else v.opposing).append(c)


def fmt_num(x: float) -> str:
    """A q or p as the sentences write it (2 significant digits; "< 1e-10" below)."""
    if x is None or not np.isfinite(x):
        return "NA"
    return "< 1e-10" if x < 1e-10 else f"{x:.2g}"


def cohort_estimate(kind: str, cohort: str, est: float, lo: float, hi: float) -> str:
    """``GSE126848 g -0.66 [-1.39, +0.06]``."""
    ci = f" [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return f"{cohort} {KIND_SYMBOL.get(kind, kind)} {est:+.2f}{ci}"


def power_not_down(v: Vote) -> float:
    """Power of the non-inferiority test of a "not down" claim if the feature is truly unchanged:
    ``P(lower 95% bound > -margin | effect 0) = Phi(margin / se - crit)`` with the vote's se
    (``t`` critical value for a Hartung-Knapp pool)."""
    margin = NOT_DOWN_MARGIN.get(v.effect_kind)
    se = v.se
    if margin is None or not np.isfinite(se) or se <= 0:
        if margin is None or not (np.isfinite(v.ci_low) and np.isfinite(v.ci_high)):
            return np.nan
        se = (v.ci_high - v.ci_low) / (2 * Z95)
    if np.isfinite(v.df):
        return float(stats.t.cdf(margin / se - stats.t.ppf(0.975, v.df), v.df))
    return float(stats.norm.cdf(margin / se - Z95))


def decide(expected: str, v: Vote, q: float, *, alpha: float = 0.05) -> tuple[str, str]:
    """The verdict for a claim's effect ``v`` with claim-level q-value ``q``, and why (one clause).

    * Pooled cohorts that disagree (Cochran's Q p < :data:`HETEROGENEITY_P`): ``inconclusive``,
      "cohorts disagree", with every cohort's estimate.
    * "not down" claims: ``supported`` when the 95% CI excludes a decrease larger than the
      margin (:data:`NOT_DOWN_MARGIN`), ``contradicted`` when the whole CI lies below it,
      otherwise ``inconclusive`` (with the power the test had if the feature is truly unchanged).
    * Otherwise ``supported`` / ``contradicted`` for q < alpha in / against the expected
      direction (a pool with a cohort significantly the other way is ``inconclusive``), else
      ``inconclusive``.
    """
    if not np.isfinite(v.effect) or not np.isfinite(q):
        return "inconclusive", "the statistic could not be computed (too few samples?)"
    if v.disagree:
        each = " vs ".join(cohort_estimate(v.effect_kind, *r[:4]) for r in v.rows)
        return "inconclusive", (f"cohorts disagree (heterogeneity Q p {fmt_num(v.q_pval)}, I² {v.i2:.0f}%): "
                                f"{each}")
    obs = sign_of(v.effect_kind, v.effect)
    if expected == "not down":
        margin = NOT_DOWN_MARGIN.get(v.effect_kind)
        if margin is None:
            return "inconclusive", f"no non-inferiority margin for {v.effect_kind}"
        fold = f"{2 ** margin:.2f}-fold" if v.effect_kind != "hedges_g" else f"g {margin:.2g}"
        power = power_not_down(v)
        pw = f"; power {100 * power:.0f}% if truly unchanged" if np.isfinite(power) else ""
        if np.isfinite(v.ci_low) and v.ci_low > -margin:
            return "supported", f"the 95% CI excludes a decrease larger than {fold} (non-inferiority margin{pw})"
        if np.isfinite(v.ci_high) and v.ci_high < -margin:
            return "contradicted", f"lower by more than {fold}: the whole 95% CI lies below the margin (q={q:.2g})"
        return "inconclusive", (f"a decrease larger than {fold} cannot be excluded (CI from {v.ci_low:+.2f}, "
                                f"margin {-margin:+.2f}{pw})")
    want = expected_sign(expected)
    if q < alpha:
        if v.pooled and obs == want and v.opposing:
            return "inconclusive", (f"pooled effect significant (q={q:.2g}) but "
                                    f"{', '.join(v.opposing)} significantly the other way")
        if obs == want:
            return "supported", f"significant in the expected direction (q={q:.2g})"
        return "contradicted", f"significant in the opposite direction (q={q:.2g})"
    return "inconclusive", f"not significant (q={q:.2g})"


def claim_votes(claims: pd.DataFrame, rows: pd.DataFrame, alpha: float) -> tuple[dict[str, Vote], dict[str, float]]:
    """One vote per claim and its q: Benjamini-Hochberg over the voted p of all testable claims."""
    votes = {}
    for cid, sub in rows.groupby("claim_id", sort=False):
        votes[cid] = vote(sub, alpha=alpha)
    tested = [c for c in claims["claim_id"] if c in votes and np.isfinite(votes[c].pval)]
    q = dict(zip(tested, bh_adjust(np.array([votes[c].pval for c in tested], dtype=float)))) if tested else {}
    return votes, q
