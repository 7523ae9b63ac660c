"""Verdict rules: from per-cohort evidence to one effect, one verdict and its certainty.

Everything here is pure arithmetic on evidence rows (see :data:`~._table.EVIDENCE_COLUMNS`);
the analyses that produce the rows live in :mod:`.evidence`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["Vote", "vote", "decide", "grade", "POOL_SCALE", "NOT_DOWN_MARGIN", "MIN_N_PRECISE", "I2_INCONSISTENT"]

Z95 = float(stats.norm.ppf(0.975))

#: Scale on which each effect kind is pooled across cohorts (random effects, REML).
POOL_SCALE = {
    "hedges_g": "identity", "log2fc": "identity", "adjusted_diff": "identity", "diff": "identity",
    "spearman_rho": "fisher_z", "pearson_r": "fisher_z", "hazard_ratio": "log",
}
#: Null value of each effect kind on its natural scale.
NULL = {"hazard_ratio": 1.0}
#: Largest decrease still compatible with "not down" claims (non-inferiority margin), per effect kind:
#: a small standardised effect (Cohen's 0.2) or a 15% fold change.
NOT_DOWN_MARGIN = {"hedges_g": 0.2, "log2fc": float(np.log2(1.15)), "adjusted_diff": 0.2, "diff": 0.2}
#: Total samples below which an effect is "imprecise" even when its CI excludes the null.
MIN_N_PRECISE = 30
#: I^2 (percent) above which pooled cohorts are "inconsistent".
I2_INCONSISTENT = 50.0

_LEVELS = ("high", "moderate", "low", "very low")


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


@dataclass
class Vote:
    """The effect a claim is judged on, before multiplicity adjustment across claims."""

    effect_kind: str = ""
    effect: float = np.nan
    ci_low: float = np.nan
    ci_high: float = np.nan
    pval: float = np.nan
    k: int = 0
    n: int = 0
    cohorts: list[str] = field(default_factory=list)
    i2: float = np.nan
    pooled: bool = False
    #: cohorts whose own test is significant (q < alpha) in / against the pooled direction
    agreeing: list[str] = field(default_factory=list)
    opposing: list[str] = field(default_factory=list)
    #: cohorts whose point estimates point in different directions
    directions_differ: bool = False


def vote(rows: pd.DataFrame, *, alpha: float = 0.05) -> Vote:
    """Combine the included evidence rows of one claim into one effect.

    One cohort: its own estimate, CI and p. Two or more: a random-effects (REML) pool on the
    kind's pooling scale (:data:`POOL_SCALE`), with I^2; cohorts never pool with themselves
    (one row per cohort is expected).
    """
    from ..tl.meta import pool

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
    est = rows["estimate"].to_numpy(float)
    signs = {sign_of(v.effect_kind, e) for e in est} - {0}
    v.directions_differ = len(signs) > 1
    if v.k == 1:
        r = rows.iloc[0]
        v.effect, v.ci_low, v.ci_high, v.pval = (float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"]),
                                                 float(r["pval"]))
    else:
        y = to_scale(v.effect_kind, est)
        se = rows["se"].to_numpy(float)
        ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
        res = pool(y[ok], se[ok], method="REML")
        v.pooled = True
        v.effect = float(from_scale(v.effect_kind, res["pooled"]))
        v.ci_low = float(from_scale(v.effect_kind, res["ci_low"]))
        v.ci_high = float(from_scale(v.effect_kind, res["ci_high"]))
        v.pval = float(res["pval"])
        v.i2 = float(res["I2"])
    direction = sign_of(v.effect_kind, v.effect)
    q = pd.to_numeric(rows["qval"], errors="coerce").to_numpy(float)
    for c, e, qq in zip(v.cohorts, est, q):
        if np.isfinite(qq) and qq < alpha and direction:
            (v.agreeing if sign_of(v.effect_kind, e) == direction else v.opposing).append(c)
    return v


def decide(expected: str, v: Vote, q: float, *, alpha: float = 0.05) -> tuple[str, str]:
    """The verdict for a claim's effect ``v`` with claim-level q-value ``q``, and why (one clause)."""
    if not np.isfinite(v.effect) or not np.isfinite(q):
        return "inconclusive", "the statistic could not be computed (too few samples?)"
    obs = sign_of(v.effect_kind, v.effect)
    if expected == "not down":
        margin = NOT_DOWN_MARGIN.get(v.effect_kind)
        if q < alpha and obs < 0:
            return "contradicted", f"significantly lower (q={q:.2g})"
        if margin is not None and np.isfinite(v.ci_low) and v.ci_low > -margin:
            return "supported", (f"the 95% CI excludes a decrease larger than {margin:.2g} "
                                 f"({v.effect_kind}; non-inferiority margin)")
        return "inconclusive", f"a relevant decrease cannot be excluded (CI from {v.ci_low:+.2f})"
    want = expected_sign(expected)
    if q < alpha:
        if v.pooled and obs == want and v.opposing:
            return "inconclusive", (f"pooled effect significant (q={q:.2g}) but "
                                    f"{', '.join(v.opposing)} significantly the other way")
        if obs == want:
            return "supported", f"significant in the expected direction (q={q:.2g})"
        return "contradicted", f"significant in the opposite direction (q={q:.2g})"
    return "inconclusive", f"not significant (q={q:.2g})"


def grade(verdict: str, expected: str, v: Vote, *, risk_of_bias: Sequence[str] = (), indirect: str = "",
          alpha: float = 0.05) -> tuple[str, list[str]]:
    """Certainty of a verdict, in the manner of GRADE, and the reasons for each downgrade.

    Start: ``high`` when two or more independent cohorts agree with the verdict (each significant
    on its own, q < alpha, in the verdict's direction), ``moderate`` with one, ``low`` with none.
    Then one level down for each of: **risk of bias** (a design-audit flag on a cohort and
    contrast the verdict uses, e.g. groups sequenced in different series); **inconsistency**
    (pooled cohorts with I^2 > 50%, point estimates in opposite directions, or a cohort
    significantly opposite); **imprecision** (the 95% CI includes the null, or fewer than
    :data:`MIN_N_PRECISE` samples); **indirectness** (the claim's own evidence is at another
    level than tissue transcripts: serum or tissue Mg, protein, animals or cell lines).
    ``not testable`` claims are ``very low``: there is no evidence to grade.
    """
    if verdict == "not testable":
        return "very low", ["no evidence"]
    # v.agreeing holds the cohorts significant in the direction of the voted effect, which is the
    # verdict's direction for both "supported" and "contradicted"
    n_agree = len(set(v.agreeing)) if verdict in ("supported", "contradicted") else 0
    level = 0 if n_agree >= 2 else 1 if n_agree == 1 else 2
    why = [{0: "no cohort is significant on its own", 1: "one cohort is significant on its own"}.get(
        n_agree, f"{n_agree} independent cohorts agree, each significant on its own")]
    if risk_of_bias:
        level += 1
        why.append("risk of bias: " + "; ".join(dict.fromkeys(risk_of_bias)))
    inconsistent = []
    if v.k >= 2 and np.isfinite(v.i2) and v.i2 > I2_INCONSISTENT:
        inconsistent.append(f"I² {v.i2:.0f}%")
    if v.directions_differ:
        inconsistent.append("cohort estimates point in opposite directions")
    if v.opposing:
        inconsistent.append(f"{', '.join(v.opposing)} significantly opposite")
    if inconsistent:
        level += 1
        why.append("inconsistency: " + ", ".join(inconsistent))
    null = NULL.get(v.effect_kind, 0.0)
    if expected == "not down":
        crosses = np.isfinite(v.ci_low) and v.ci_low <= -NOT_DOWN_MARGIN.get(v.effect_kind, 0.0)
    else:
        crosses = not (np.isfinite(v.ci_low) and np.isfinite(v.ci_high)) or (v.ci_low <= null <= v.ci_high)
    small = v.n < MIN_N_PRECISE
    if crosses or small:
        level += 1
        parts = (["the 95% CI includes no effect"] if crosses else []) + ([f"only {v.n} samples"] if small else [])
        why.append("imprecision: " + ", ".join(parts))
    if indirect:
        level += 1
        why.append(f"indirectness: {indirect}")
    return _LEVELS[min(level, 3)], why
