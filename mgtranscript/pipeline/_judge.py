"""Judging a merged run: q-values over each table of the run, the claims' verdicts
(:mod:`mgtranscript.claims`) and the random-effects pools of ``meta.tsv``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._result import AnalysisResult

__all__ = ["judge_run", "adjust", "meta_table"]


def judge_run(res: AnalysisResult, *, claims: pd.DataFrame, alpha: float) -> None:
    """Fill ``res.claims``, ``claims_evidence``, ``sensitivity`` and ``meta`` (q-values first)."""
    from ..claims import build_evidence, judge

    adjust(res)
    ev = build_evidence(res.effects, claims=claims, cohorts=res.cohorts, design=res.design)
    j = judge(ev, claims=claims, design=res.design, cohorts=res.cohorts, alpha=alpha)
    res.claims, res.claims_evidence, res.sensitivity = j.verdicts, j.evidence, j.sensitivity
    res.meta = meta_table(res.effects)


def adjust(res: AnalysisResult) -> None:
    """Benjamini-Hochberg q-values, each over all tests of its table in the run."""
    from .._stats import bh_adjust

    for name, p in (("comparisons", "t_pval"), ("trends", "pval"), ("coupling", "pval"), ("correlations", "pval"),
                    ("survival", "cox_p")):
        df = getattr(res, name)
        if not df.empty and p in df:
            df["qval"] = bh_adjust(df[p].to_numpy(float))
    eff = res.effects
    if eff.empty:
        return
    eff["qval"] = np.nan
    for (_, _), idx in eff.groupby(["scenario", "analysis"]).groups.items():
        eff.loc[idx, "qval"] = bh_adjust(eff.loc[idx, "pval"].to_numpy(float))


def meta_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Random-effects pools of primary per-cohort effects per contrast and feature, only where k >= 2,
    by the claims' own pooling rule (:func:`mgtranscript.claims.pool_effects`: REML,
    Hartung-Knapp t CI with k - 1 df, prediction interval for k >= 3)."""
    from ..claims import pool_effects
    from .._stats import bh_adjust

    if effects.empty:
        return pd.DataFrame()
    prim = effects[(effects["scenario"] == "primary") & effects["analysis"].isin(("compare", "trend", "survival"))]
    rows = []
    for (contrast, feature, kind), g in prim.groupby(["contrast", "feature", "effect_kind"]):
        g = g[np.isfinite(g["estimate"].astype(float)) & np.isfinite(g["se"].astype(float))]
        if g["cohort"].nunique() < 2:
            continue
        r = pool_effects(kind, g["estimate"].to_numpy(float), g["se"].to_numpy(float))
        rows.append({"contrast": contrast, "feature": feature, "effect_kind": kind, "k": r["k"],
                     "pooled": r["pooled"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "pval": r["pval"],
                     "df": r["df"], "pi_low": r["pi_low"], "pi_high": r["pi_high"], "tau2": r["tau2"],
                     "I2": r["I2"], "Q_pval": r["Q_pval"], "test": "Hartung-Knapp (REML)",
                     "cohorts": ";".join(g["cohort"]), "n_total": int(g["n"].sum())})
    meta = pd.DataFrame(rows)
    if not meta.empty:
        meta["qval"] = bh_adjust(meta["pval"].to_numpy(float))
    return meta
