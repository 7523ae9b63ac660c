"""Random-effects meta-analysis of per-cohort effect sizes (DerSimonian-Laird and REML).

Typical input is the concatenation of several cohorts' :func:`mgtranscript.tl.compare`
tables with a ``cohort`` column; each (feature, group) - or (contrast, feature) - is pooled
across cohorts with the inverse-variance random-effects model

``y_i ~ N(mu, v_i + tau^2)``,  ``mu_hat = sum w_i y_i / sum w_i``,  ``w_i = 1 / (v_i + tau^2)``.

``tau^2`` is estimated by DerSimonian-Laird (method of moments) or by restricted maximum
likelihood (Fisher scoring as metafor's ``rma(method="REML")``, truncated at 0).

Inference on ``mu`` (``test=``):

``"knha"`` (default: few cohorts)
    Hartung-Knapp(-Sidik-Jonkman): ``se_HK^2 = sum w_i (y_i - mu_hat)^2 / ((k - 1) sum w_i)``,
    a t test and 95% CI with ``k - 1`` degrees of freedom (metafor ``rma(..., test="knha")``,
    untruncated). With two or three cohorts the normal-approximation CI is far too narrow
    (tau^2 is barely estimable); the t interval with 1 or 2 df says honestly how little two
    cohorts pin down.
``"z"``
    Wald: ``se = 1 / sqrt(sum w_i)``, normal CI and p (metafor's default ``test="z"``).

For ``k >= 3`` a 95% **prediction interval** for the effect in a new cohort is given,
``mu_hat +- t_{k-1} sqrt(se^2 + tau^2)`` (``z`` quantile with ``test="z"``), as metafor's
``predict()``; with ``k = 2`` it is not reported (one degree of freedom and a tau^2 from two
values say nothing useful about a third cohort).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import InputDataError
from ..._stats import Z_95, bh_adjust

logger = logging.getLogger(__name__)

__all__ = ["meta_analysis", "pool", "tau2_dl", "tau2_reml", "META_COLUMNS", "TESTS", "MIN_K_PREDICTION"]

#: Statistic columns of the :func:`meta_analysis` summary (after the ``by`` columns). ``z`` is
#: the test statistic (a t statistic with ``df`` degrees of freedom when ``test = "knha"``).
META_COLUMNS = [
    "k", "pooled", "se", "ci_low", "ci_high", "z", "df", "pval", "pi_low", "pi_high", "tau2", "I2", "H2",
    "Q", "Q_df", "Q_pval", "cohorts", "n_total", "method", "test", "note", "qval",
]  # fmt: skip

#: Inference on the pooled effect: Hartung-Knapp (t, k - 1 df) or Wald (z).
TESTS = ("knha", "z")
#: Fewest cohorts for which a prediction interval is reported.
MIN_K_PREDICTION = 3

#: Columns carried from the input when constant within a pooled block.
_CARRY = ("contrast", "kind", "source", "groupby", "group", "reference", "feature", "paired")


def tau2_dl(y: np.ndarray, v: np.ndarray) -> float:
    """DerSimonian-Laird ``tau^2 = max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w))``, ``w = 1/v``."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    w = 1.0 / v
    mu = (w * y).sum() / w.sum()
    q = (w * (y - mu) ** 2).sum()
    c = w.sum() - (w**2).sum() / w.sum()
    return float(max(0.0, (q - (y.size - 1)) / c)) if c > 0 else 0.0


def tau2_reml(
    y: np.ndarray, v: np.ndarray, *, tol: float = 1e-10, max_iter: int = 1000
) -> tuple[float, int, bool]:
    """REML ``tau^2`` by Fisher scoring (as metafor ``rma(method="REML")``).

    With ``P = W - W 1 1' W / sum(w)`` (``W = diag(1/(v + tau^2))``) the update is
    ``tau^2 += (y' P P y - tr P) / tr(P P)``, step-halved while it would go negative; the
    start value is the DerSimonian-Laird estimate; converged when the change is < ``tol``.

    Returns
    -------
    ``(tau2, iterations, converged)``
    """
    y, v = np.asarray(y, float), np.asarray(v, float)
    tau2 = tau2_dl(y, v)
    for it in range(1, max_iter + 1):
        w = 1.0 / (v + tau2)
        sw = w.sum()
        # P = diag(w) - w w' / sw  (k x k, k small)
        P = np.diag(w) - np.outer(w, w) / sw
        Py = P @ y
        PP = P @ P
        score = Py @ Py - np.trace(P)
        info = np.trace(PP)
        adj = score / info
        while tau2 + adj < 0:
            adj /= 2.0
            if abs(adj) < tol:
                adj = -tau2 if tau2 > 0 else 0.0
                break
        tau2 = max(0.0, tau2 + adj)
        if abs(adj) < tol:
            return float(tau2), it, True
    logger.warning("REML did not converge in %d iterations (last step %.3g)", max_iter, adj)
    return float(tau2), max_iter, False


def pool(y: np.ndarray, se: np.ndarray, *, method: str = "REML", test: str = "knha") -> dict:
    """Pool effects ``y`` with standard errors ``se`` (one block, finite values).

    Parameters
    ----------
    y, se
        Per-study effects and standard errors (``se > 0``).
    method
        ``"REML"``, ``"DL"`` or ``"FE"`` (fixed effect, ``tau^2 = 0``).
    test
        ``"knha"`` (Hartung-Knapp-Sidik-Jonkman t with ``k - 1`` df; default) or ``"z"`` (Wald).

    Returns
    -------
    dict with ``k, pooled, se, ci_low, ci_high, z`` (the t statistic with ``knha``), ``df``
    (``k - 1`` with ``knha``, ``inf`` with ``z``), ``pval, pi_low, pi_high`` (95% prediction
    interval, ``k >= 3`` only), ``tau2, I2, H2, Q, Q_df, Q_pval, weights`` (random-effects
    weights, summing to 1), ``test``, ``note``. ``I2`` (percent) and ``H2`` use the estimated
    ``tau^2`` and the "typical" within-study variance ``s^2 = (k - 1) sum w / ((sum w)^2 -
    sum w^2)`` as metafor: ``I2 = 100 tau^2 / (tau^2 + s^2)``, ``H2 = (tau^2 + s^2) / s^2``
    (for DL this equals ``(Q - df) / Q``). ``Q_pval`` is Cochran's test of heterogeneity.
    With ``k = 1`` the study's own effect is returned with a Wald CI and no heterogeneity.

    Raises
    ------
    InputDataError
        Unknown ``method`` or ``test``.
    """
    if test not in TESTS:
        raise InputDataError(f"test must be one of {TESTS}, got {test!r}.")
    y = np.asarray(y, float)
    v = np.asarray(se, float) ** 2
    k = y.size
    out: dict = {"k": k, "note": "", "test": test if k > 1 else "z"}
    if k == 0:
        out.update(pooled=np.nan, se=np.nan, ci_low=np.nan, ci_high=np.nan, z=np.nan, df=np.nan, pval=np.nan,
                   pi_low=np.nan, pi_high=np.nan, tau2=np.nan, I2=np.nan, H2=np.nan, Q=np.nan, Q_df=0,
                   Q_pval=np.nan, weights=np.array([]),
                   note="no cohort with a finite effect and standard error")  # fmt: skip
        return out
    w0 = 1.0 / v
    mu0 = (w0 * y).sum() / w0.sum()
    q = float((w0 * (y - mu0) ** 2).sum())
    if k == 1:
        tau2 = np.nan
        wr = w0
        out["note"] = "single cohort: its own effect, no heterogeneity estimate"
    else:
        if method == "DL":
            tau2 = tau2_dl(y, v)
        elif method == "REML":
            tau2, n_it, conv = tau2_reml(y, v)
            if not conv:
                out["note"] = f"REML did not converge in {n_it} iterations"
        elif method == "FE":
            tau2 = 0.0
        else:
            raise InputDataError(f"method must be 'REML', 'DL' or 'FE', got {method!r}.")
        wr = 1.0 / (v + tau2)
    mu = float((wr * y).sum() / wr.sum())
    se_mu = float(1.0 / np.sqrt(wr.sum()))
    if k > 1 and test == "knha":
        # Hartung-Knapp: the weighted residual variance rescales the variance of mu (not truncated)
        s2w = float((wr * (y - mu) ** 2).sum() / (k - 1))
        se_mu = float(np.sqrt(s2w / wr.sum()))
        df = k - 1
        crit = float(stats.t.ppf(0.975, df))
    else:
        df = np.inf
        crit = Z_95
    stat = mu / se_mu if se_mu > 0 else (np.inf if mu else np.nan)
    pval = float(2 * stats.t.sf(abs(stat), df)) if np.isfinite(df) else float(2 * stats.norm.sf(abs(stat)))
    out.update(
        pooled=mu, se=se_mu, ci_low=mu - crit * se_mu, ci_high=mu + crit * se_mu, z=stat, df=df,
        pval=pval, tau2=tau2, weights=wr / wr.sum(), pi_low=np.nan, pi_high=np.nan,
    )  # fmt: skip
    if k >= MIN_K_PREDICTION:
        half = crit * np.sqrt(se_mu**2 + tau2)
        out.update(pi_low=mu - half, pi_high=mu + half)
    if k > 1:
        s2 = (k - 1) * w0.sum() / (w0.sum() ** 2 - (w0**2).sum())
        out.update(
            I2=100.0 * tau2 / (tau2 + s2), H2=(tau2 + s2) / s2, Q=q, Q_df=k - 1,
            Q_pval=float(stats.chi2.sf(q, k - 1)),
        )  # fmt: skip
    else:
        out.update(I2=np.nan, H2=np.nan, Q=np.nan, Q_df=0, Q_pval=np.nan)
    return out


def meta_analysis(
    effects: pd.DataFrame,
    *,
    effect: str = "hedges_g",
    se: str | None = None,
    ci: tuple[str, str] = ("g_ci_low", "g_ci_high"),
    by: Sequence[str] = ("feature", "group"),
    cohort: str = "cohort",
    method: str = "REML",
    test: str = "knha",
    return_weights: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Random-effects pooling of per-cohort effects, one row per ``by`` block.

    Parameters
    ----------
    effects
        Long table, one row per cohort and block (e.g. concatenated
        :func:`~mgtranscript.tl.compare` tables with a ``cohort`` column).
    effect
        Effect-size column (default Hedges' g).
    se
        Standard-error column. If None it is derived from the 95% CI columns ``ci`` as
        ``(high - low) / (2 * 1.959964)``.
    ci
        Lower/upper 95% CI columns (used when ``se`` is None).
    by
        Columns defining a pooled block (e.g. ``("feature", "group")`` or
        ``("contrast", "feature")``).
    cohort
        Cohort column; each cohort may appear once per block.
    method
        ``"REML"`` (default), ``"DL"`` (DerSimonian-Laird) or ``"FE"`` (fixed effect).
    test
        ``"knha"`` (default): Hartung-Knapp-Sidik-Jonkman t CI and p with ``k - 1`` df, the
        interval for few cohorts; ``"z"``: Wald normal CI and p (metafor's default).
    return_weights
        Also return the forest-plot table (see Returns).

    Returns
    -------
    summary : DataFrame
        The ``by`` columns, then :data:`META_COLUMNS`: ``k`` (cohorts pooled), ``pooled``,
        ``se``, 95% ``ci_low``/``ci_high``, the test statistic ``z`` (t with ``df`` degrees of
        freedom under ``knha``) and ``pval``, the 95% prediction interval ``pi_low``/``pi_high``
        (``k >= 3``), ``tau2``, ``I2`` (percent), ``H2``, Cochran's ``Q`` with
        ``Q_df``/``Q_pval``, ``cohorts`` (";"-joined), ``n_total`` (sum of the ``n`` column,
        else ``n_group + n_ref``), ``method``, ``test``, ``note``, and ``qval`` (BH over all rows). Columns such as ``contrast``, ``kind`` or
        ``reference`` that are constant within a block are carried over. ``k = 1``: the
        single cohort's effect with a note and NaN heterogeneity. Rows with a missing effect
        or standard error are skipped (counted in the note).
    weights : DataFrame, only with ``return_weights=True``
        One row per cohort and block: the ``by`` columns, ``cohort``, ``effect``, ``se``,
        ``ci_low``, ``ci_high``, ``n`` and ``weight`` (random-effects weight
        ``1/(se^2 + tau^2)`` normalised to sum to 1 within the block).

    Raises
    ------
    InputDataError
        Missing columns, or a cohort appearing twice in one block.
    """
    by = [by] if isinstance(by, str) else list(by)
    need = [*by, cohort, effect, *([se] if se else list(ci))]
    missing = [c for c in need if c not in effects.columns]
    if missing:
        raise InputDataError(
            f"effects lacks columns {missing} (has {list(effects.columns)}); pass per-cohort "
            "tables from mgtranscript.tl.compare with a 'cohort' column, or set effect=/se=/ci=/by=."
        )
    if method not in ("REML", "DL", "FE"):
        raise InputDataError(f"method must be 'REML', 'DL' or 'FE', got {method!r}.")
    if test not in TESTS:
        raise InputDataError(f"test must be one of {TESTS}, got {test!r}.")
    df = effects.copy()
    y_all = pd.to_numeric(df[effect], errors="coerce").to_numpy(float)
    if se:
        se_all = pd.to_numeric(df[se], errors="coerce").to_numpy(float)
    else:
        lo = pd.to_numeric(df[ci[0]], errors="coerce").to_numpy(float)
        hi = pd.to_numeric(df[ci[1]], errors="coerce").to_numpy(float)
        se_all = (hi - lo) / (2 * Z_95)
    df["_y"], df["_se"] = y_all, se_all
    if "n" in df.columns:
        df["_n"] = pd.to_numeric(df["n"], errors="coerce")
    elif {"n_group", "n_ref"} <= set(df.columns):
        df["_n"] = pd.to_numeric(df["n_group"], errors="coerce") + pd.to_numeric(df["n_ref"], errors="coerce")
    else:
        df["_n"] = np.nan
    rows, wrows = [], []
    for keys, blk in df.groupby(by, sort=False, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        dup = blk[cohort][blk[cohort].duplicated()].unique().tolist()
        if dup:
            raise InputDataError(
                f"cohort(s) {dup} appear more than once for {dict(zip(by, keys))}; add the "
                "distinguishing column (e.g. 'kind' or 'contrast') to by=."
            )
        ok = np.isfinite(blk["_y"].to_numpy()) & np.isfinite(blk["_se"].to_numpy()) & (blk["_se"].to_numpy() > 0)
        good = blk[ok]
        res = pool(good["_y"].to_numpy(), good["_se"].to_numpy(), method=method, test=test)
        notes = [res["note"]] if res["note"] else []
        if (~ok).any():
            notes.append(f"{int((~ok).sum())} cohort(s) without a finite effect/SE skipped")
        row = dict(zip(by, keys))
        for c in _CARRY:
            if c in blk.columns and c not in row and blk[c].nunique(dropna=False) == 1:
                row[c] = blk[c].iloc[0]
        row.update({k: res[k] for k in META_COLUMNS if k in res and k != "note"})
        row.update(
            cohorts=";".join(good[cohort].astype(str)),
            n_total=float(good["_n"].sum()) if good["_n"].notna().any() else np.nan,
            method=method if res["k"] > 1 else "single",
            test=res["test"],
            note="; ".join(notes),
        )  # fmt: skip
        rows.append(row)
        if return_weights:
            for (_, r), wgt in zip(good.iterrows(), res["weights"]):
                wrows.append({
                    **dict(zip(by, keys)), "cohort": r[cohort], "effect": r["_y"], "se": r["_se"],
                    "ci_low": r["_y"] - Z_95 * r["_se"], "ci_high": r["_y"] + Z_95 * r["_se"],
                    "n": r["_n"], "weight": float(wgt),
                })  # fmt: skip
    if rows:
        summary = pd.DataFrame(rows)
        summary["qval"] = bh_adjust(summary["pval"].to_numpy(float))
        extra = [c for c in summary.columns if c not in by and c not in META_COLUMNS]
        summary = summary[[*by, *extra, *META_COLUMNS]]
        summary["k"] = summary["k"].astype(int)
        summary["Q_df"] = summary["Q_df"].astype(int)
    else:
        summary = pd.DataFrame(columns=[*by, *META_COLUMNS])
    if return_weights:
        wcols = [*by, "cohort", "effect", "se", "ci_low", "ci_high", "n", "weight"]
        return summary, pd.DataFrame(wrows, columns=wcols)
    return summary
