"""Correlation between features across samples: pooled, within groups, within pairs.

A correlation computed over samples pooled from several conditions mostly measures how the
condition means differ (Simpson's paradox): two scores that both rise in disease correlate
across healthy + diseased samples even when they are unrelated, or opposed, inside every
group. And a paired design (tumour and non-tumour from the same patient) does not give
``2 x patients`` independent samples. :func:`correlate` therefore offers

* ``design="pooled"`` -- the ordinary correlation over all samples (label it as such);
* ``within=<obs column>`` -- one estimate per group, and a combined within-group estimate
  (inverse-variance Fisher z, or the correlation of group-residualised values);
* ``paired_by=<obs column>`` -- the repeated-measures correlation (rmcorr; Bakdash &
  Marusich 2017, Front. Psychol. 8:456): the common within-pair association;
* ``covariates=[...]`` -- partial correlation given covariates (e.g. the cell-composition
  scores of :func:`mgtranscript.tl.composition`).

Every estimate comes with its own n, 95% CI, p-value and degrees of freedom in one tidy
table (:data:`CORRELATE_COLUMNS`).

The statistics, in one place
----------------------------
Let ``x``, ``y`` be the two features (their ranks for Spearman; ties get average ranks),
``Z`` the adjustment design (covariates; group or pair indicators) with ``q`` columns of
full rank besides the intercept. Both ``x`` and ``y`` are residualised on ``[1, Z]`` by
least squares and

* ``estimate`` ``r`` = Pearson correlation of the two residual vectors (with ``q = 0``
  this is the ordinary Pearson / Spearman coefficient);
* ``df = n - 2 - q``; ``t = r sqrt(df / (1 - r^2))``; two-sided ``pval`` from Student's t
  (as R ``cor.test(..., exact=FALSE)`` for ``q = 0``; for ``q > 0`` it equals the t-test
  of the slope of ``x`` in ``lm(y ~ Z + x)``);
* 95% CI by Fisher's z: ``tanh(atanh(r) +/- 1.959964 * se)`` with
  ``se = sqrt(c / (n - 3 - q))``, ``c = 1`` for Pearson and, for Spearman, the
  Bonett & Wright (2000, Psychometrika 65:23) correction ``c = 1 + r^2 / 2``.

``within`` with ``combine="fisher"`` (default): each group ``g`` is analysed on its own
(ranks within the group for Spearman; covariates residualised within the group), giving
``r_g``, ``n_g``, ``q_g``. The combined row is the fixed-effect average of Fisher's
``z_g = atanh(r_g)`` with weights ``w_g = n_g - 3 - q_g`` (``n_g - 3`` without
covariates, the inverse variance for Pearson): ``z = sum(w z_g) / sum(w)``, with variance
``sum(w^2 v_g) / sum(w)^2`` where ``v_g = c_g / w_g`` (exactly ``1 / sum(n_g - 3)`` for
Pearson); the CI is ``tanh(z +/- 1.96 se)`` and ``pval`` the two-sided normal test of
``z / se``. Heterogeneity across groups is Cochran's ``Q = sum((z_g - z_iv)^2 / v_g)``
around the inverse-variance mean ``z_iv`` on ``k - 1`` df (``q_het``, ``q_pval``) and
``I^2 = max(0, (Q - (k - 1)) / Q)`` (``i2``) -- the same numbers as R ``metafor::rma(yi,
vi, weights = n - 3, method = "FE")``.

``within`` with ``combine="residualise"``: ranks (Spearman) are taken over all samples,
then ``x`` and ``y`` are residualised on the group indicators (and covariates), so
``q = n_groups - 1 (+ covariates)`` and ``df = n - 2 - (n_groups - 1) - ...``. The
per-group rows are reported as well.

``paired_by`` (rmcorr): residualise on the pair indicators, i.e. ``lm(y ~ pair + x)``;
``r`` is the rmcorr coefficient, ``df = N - k - 1`` (``N`` samples in ``k`` pairs with at
least two complete samples; single members carry no within-pair information and are
dropped) and ``pval`` is rmcorr's. For Spearman the ranks are taken over all samples first
(ranking within a pair of two is meaningless). The CI uses the partial-correlation
standard error ``1 / sqrt(df - 1)`` (rmcorr's own analytic CI, ``psych::r.con(r, df)``,
uses ``1 / sqrt(df - 3)`` and is slightly wider; ``r`` and ``p`` are identical).

``within`` *and* ``paired_by`` (e.g. tumour and non-tumour from the same patients):
plain rmcorr would let the tumour-vs-normal shift of both features drive the
correlation (with two samples per pair it is a regression of the within-pair
differences through the origin). The combined row therefore residualises on the pair
*and* the group indicators (two-way fixed effects; with one sample per pair and group
this is the Pearson correlation of the within-pair differences, intercept included), with
``df = N - k - (n_groups - 1) - 1``. The per-group rows are the ordinary correlations
across pairs inside each group (each pair contributes one sample there). ``combine`` does
not apply and ``q_het``/``i2`` are left empty: the groups share their patients, so they
are not independent estimates.

Covariates: a numeric ``obs`` column enters as is (ranked for Spearman, as partial
Spearman correlation is usually defined, e.g. ``ppcor``), a categorical one as 0/1
indicators (first level dropped); genes and ``"<obsm key>:<column>"`` scores may also be
covariates. Indicators that are constant within the analysed samples are dropped and do
not count in ``q``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...errors import InputDataError
from .._store import finish, start, store
from ._features import _as_list, _gene_values, _resolve, covariate_frame
from ._partial_corr import (
    _design_matrix,
    _dummies,
    _Est,
    _estimate,
    _fisher_combine,
    _prepare,
)
from ..._stats import bh_adjust

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["correlate", "CORRELATE_COLUMNS"]

#: Columns of the :func:`correlate` table, in order.
CORRELATE_COLUMNS = [
    "x", "y", "method", "design", "combine", "level", "estimate", "ci_low", "ci_high", "pval", "qval",
    "n", "n_groups", "df", "covariates", "q_het", "q_pval", "i2", "zero_fraction_x", "zero_fraction_y",
    "note",
]  # fmt: skip

#: Share of samples at a feature's minimum above which a note warns about ties.
ZERO_FRACTION_NOTE = 0.5



def _zero_fraction(v: np.ndarray) -> float:
    if v.size == 0:
        return np.nan
    return float(np.mean(v == v.min()))


# ---------------------------------------------------------------------------------------
# public function
# ---------------------------------------------------------------------------------------


def correlate(
    adata: AnnData,
    x: str | Sequence[str],
    y: str | Sequence[str],
    *,
    method: str = "spearman",
    within: str | None = None,
    paired_by: str | None = None,
    covariates: str | Sequence[str] | None = None,
    combine: str = "fisher",
    layer: str | None = None,
    min_n: int = 4,
    key_added: str = "correlate",
    copy: bool = False,
) -> AnnData | None:
    """Correlate features across samples, pooled, within groups or within pairs.

    Every pair ``x`` x ``y`` is tested. See the module docstring
    (``_correlate``) for the exact formulas.

    Parameters
    ----------
    adata
        AnnData, samples x genes.
    x, y
        A feature or a list of features. A feature is a gene (``var_names``; values from
        ``X`` or ``layer``, use log-scale expression), a numeric ``obs`` column, an
        ``obsm`` score column written ``"<obsm key>:<column>"`` (e.g.
        ``"mg_ssgsea:MG_EFFLUX_EXCHANGE"``), or an ``obsm`` key (all its columns).
    method
        ``"spearman"`` (default; Pearson on average ranks) or ``"pearson"``.
    within
        ``obs`` column with groups (e.g. ``"condition"``): the association is estimated
        inside each group and combined (``combine``). Samples with a missing group are
        dropped (said in ``note``).
    paired_by
        ``obs`` column identifying matched samples (e.g. ``"pair_id"``): the
        repeated-measures correlation (rmcorr). With ``within`` too, pair and group fixed
        effects (see the module docstring).
    covariates
        ``obs`` columns (numeric, or categorical -> indicators), genes or
        ``"<obsm key>:<column>"`` scores to partial out of both features, e.g. the
        ``composition_*`` columns of :func:`mgtranscript.tl.composition`.
    combine
        With ``within`` (and no ``paired_by``): ``"fisher"`` (default; per-group
        estimates, inverse-variance Fisher z with weights ``n - 3``) or ``"residualise"``
        (one correlation of group-residualised values / ranks).
    layer
        Layer for gene features (default ``X``).
    min_n
        Smallest number of complete samples for an estimate (per group with ``within``);
        smaller groups are skipped and named in ``note``. At least 4 (the Fisher z
        standard error needs ``n > 3``).
    key_added
        Results go to ``adata.uns[key_added] = {"params": ..., "table": ...}``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    The modified copy when ``copy=True``, else ``None``. The table in
    ``uns[key_added]["table"]`` (read it with :func:`mgtranscript.get.correlate`
    ``(adata, key_added)``) has the columns :data:`CORRELATE_COLUMNS`: ``x``, ``y``,
    ``method``; ``design`` (``"pooled"``, ``"within:<col>"``, ``"paired:<col>"`` or
    ``"within:<col>+paired:<col>"``); ``combine`` (``"fisher"``, ``"residualise"``,
    ``"rmcorr"``, ``"pair+group fixed effects"`` or empty); ``level`` (``"pooled"``,
    ``"combined"`` or a group name; the first row of each pair is the one to report);
    ``estimate`` with ``ci_low``/``ci_high`` (95%) and ``pval``; ``qval``
    (Benjamini-Hochberg over the pooled/combined rows of this call; empty for per-group
    rows); ``n`` (complete samples used), ``n_groups`` (groups or pairs), ``df`` (t-test
    degrees of freedom; empty for a Fisher-combined row, which uses a z-test);
    ``covariates`` (``;`` joined); ``q_het``/``q_pval``/``i2`` (heterogeneity across groups,
    combined rows only); ``zero_fraction_x``/``_y`` (share of the samples used at the
    feature's minimum: for a gene, the share with zero reads when ``layers["counts"]``
    exists, else the share at the minimum value; a large share means the estimate rests on
    few samples, and on log-CPM the zero-count samples are ranked by library size -- a note
    says so above 50%); ``note``.

    Raises
    ------
    InputDataError
        Unknown features or columns, a bad ``method``/``combine``/``min_n``.

    Examples
    --------
    >>> mg.tl.correlate(adata, "MAGT1", "KLRK1", within="condition")        # doctest: +SKIP
    >>> mg.tl.correlate(adata, "mg_ssgsea:MG_EFFLUX_EXCHANGE", "mech_ssgsea",
    ...                 within="condition", paired_by="pair_id")             # doctest: +SKIP
    """
    adata = start(adata, "correlate", key_added=key_added, copy=copy)
    table, params = _correlation_table(
        adata, x, y, method=method, within=within, paired_by=paired_by, covariates=covariates,
        combine=combine, layer=layer, min_n=min_n,
    )
    store(adata, key_added, "correlate", params, table=table)
    logger.info("correlate: %d x %d features, design %s -> adata.uns[%r]", len(params["x"]), len(params["y"]),
                table["design"].iloc[0] if len(table) else "", key_added)
    return finish(adata, copy)


def _correlation_table(adata, x, y, *, method, within, paired_by, covariates, combine, layer, min_n):
    """The work of :func:`correlate` without writing to ``adata``: ``(table, params)``."""
    if method not in ("spearman", "pearson"):
        raise InputDataError(f"method must be 'spearman' or 'pearson', got {method!r}.")
    if combine not in ("fisher", "residualise", "residualize"):
        raise InputDataError(f"combine must be 'fisher' or 'residualise', got {combine!r}.")
    combine = "residualise" if combine == "residualize" else combine
    if not isinstance(min_n, (int, np.integer)) or min_n < 4:
        raise InputDataError(f"min_n must be an integer >= 4 (Fisher z needs n > 3), got {min_n!r}.")
    xs = [_with_floor(adata, f) for spec in _as_list(x) for f in _resolve(adata, spec, layer)]
    ys = [_with_floor(adata, f) for spec in _as_list(y) for f in _resolve(adata, spec, layer)]
    if not xs or not ys:
        raise InputDataError("x and y must each name at least one feature.")
    cov_names = _as_list(covariates)
    Zdf, ind_flags = covariate_frame(adata, cov_names, layer=layer)
    Zall = Zdf.to_numpy(dtype=float) if Zdf.shape[1] else None
    cov_txt = ";".join(map(str, cov_names))

    groups = _labels(adata, within) if within is not None else None
    pairs = _labels(adata, paired_by) if paired_by is not None else None
    if within is not None and paired_by is not None:
        design, comb = f"within:{within}+paired:{paired_by}", "pair+group fixed effects"
    elif paired_by is not None:
        design, comb = f"paired:{paired_by}", "rmcorr"
    elif within is not None:
        design, comb = f"within:{within}", combine
    else:
        design, comb = "pooled", ""

    rows: list[dict] = []
    for xl, xv, xf, xk in xs:
        for yl, yv, yf, yk in ys:
            base = {"x": xl, "y": yl, "method": method, "design": design, "combine": comb, "covariates": cov_txt}
            ok = np.isfinite(xv) & np.isfinite(yv)
            if Zall is not None:
                ok &= np.isfinite(Zall).all(axis=1)
            floors = (xf, yf, xk, yk)
            rows.extend(_pair_rows(base, xv, yv, ok, Zall, ind_flags, groups, pairs, method, comb, min_n, floors))
    table = pd.DataFrame(rows)
    for c in CORRELATE_COLUMNS:
        if c not in table.columns:
            table[c] = np.nan if c not in ("note", "level") else ""
    main = table["level"].isin(["pooled", "combined"]).to_numpy()
    q = np.full(len(table), np.nan)
    q[main] = bh_adjust(table.loc[main, "pval"].to_numpy(dtype=float))
    table["qval"] = q
    table = table[CORRELATE_COLUMNS].reset_index(drop=True)
    table["n"] = table["n"].astype(int)
    table["n_groups"] = table["n_groups"].astype(int)
    params = {
        "x": [f[0] for f in xs], "y": [f[0] for f in ys], "method": method,
        "within": within or "", "paired_by": paired_by or "", "covariates": cov_names,
        "combine": comb, "layer": layer or "X", "min_n": int(min_n),
        "ci": "Fisher z; se = sqrt(c / (n - 3 - q)), c = 1 (Pearson) or 1 + r^2/2 (Spearman, Bonett-Wright)",
    }  # fmt: skip
    return table, params


def _with_floor(adata, feat):
    """``(label, values, values for zero_fraction, kind)``: a gene's raw counts when the
    AnnData has a ``counts`` layer (so "at the minimum" means zero reads), else the values."""
    label, vals, gene = feat
    if gene is not None and "counts" in adata.layers:
        return label, vals, _gene_values(adata, gene, "counts"), "counts"
    return label, vals, vals, "values"


def _labels(adata, col: str) -> np.ndarray:
    if col not in adata.obs.columns:
        raise InputDataError(f"obs has no column {col!r}; available: {list(adata.obs.columns)}.")
    s = adata.obs[col]
    return s.astype("object").map(lambda v: None if pd.isna(v) else str(v)).to_numpy(dtype=object)


def _group_levels(adata_groups: np.ndarray, mask: np.ndarray) -> list[str]:
    seen: list[str] = []
    for g in adata_groups[mask]:
        if g is not None and g not in seen:
            seen.append(g)
    return seen


def _row(base: dict, level: str, est: _Est, n_groups: int, zx: float, zy: float, notes: list[str]) -> dict:
    note = [n for n in [est.note, *notes] if n]
    return {**base, "level": level, "estimate": est.r, "ci_low": est.lo, "ci_high": est.hi, "pval": est.p,
            "n": est.n, "n_groups": n_groups, "df": est.df, "q_het": np.nan, "q_pval": np.nan, "i2": np.nan,
            "zero_fraction_x": zx, "zero_fraction_y": zy, "note": "; ".join(note)}  # fmt: skip


def _tie_notes(zx: float, zy: float, kinds=("values", "values")) -> list[str]:
    out = []
    for name, z, kind in (("x", zx, kinds[0]), ("y", zy, kinds[1])):
        if np.isfinite(z) and z >= ZERO_FRACTION_NOTE:
            if kind == "counts":
                out.append(f"{name} has zero counts in {z:.0%} of samples (its log-CPM ranks there "
                           "follow library size, not expression)")
            else:
                out.append(f"{name} at its minimum in {z:.0%} of samples (many ties)")
    return out


def _one(xv, yv, Z, ind_flags, idx, method, extra_ind=()) -> _Est:
    """Estimate on samples ``idx``: rank (Spearman) within idx, adjust for Z and the extra
    indicator blocks (already restricted to ``idx``)."""
    Zs = Z[idx] if Z is not None else None
    xr, yr, Zr = _prepare(xv[idx], yv[idx], Zs, ind_flags, method, True)
    return _estimate(xr, yr, _design_matrix(Zr, list(extra_ind), n=idx.size), method)


def _pair_rows(base, xv, yv, ok, Z, ind_flags, groups, pairs, method, comb, min_n, floors) -> list[dict]:
    xf, yf, xk, yk = floors
    notes: list[str] = []
    if groups is not None:
        has = np.array([g is not None for g in groups])
        if (~has & ok).any():
            notes.append(f"{int((~has & ok).sum())} samples without a {base['design'].split(':')[1].split('+')[0]} label dropped")
        ok = ok & has
    if pairs is not None:
        has = np.array([p is not None for p in pairs])
        ok = ok & has
        # keep pairs with >= 2 complete samples
        counts = pd.Series(pairs[ok]).value_counts()
        multi = set(counts.index[counts >= 2])
        single = np.array([p in multi for p in pairs])
        n_single = int((ok & ~single).sum())
        if n_single:
            notes.append(f"{n_single} samples without a complete partner dropped")
        ok = ok & single

    idx_all = np.flatnonzero(ok)
    out: list[dict] = []

    # ---- per-group estimates (within) ------------------------------------------------
    group_rows: list[dict] = []
    group_ests: list[_Est] = []
    skipped: list[str] = []
    if groups is not None:
        for lv in _group_levels(groups, ok):
            idx = idx_all[groups[idx_all] == lv]
            zx, zy = _zero_fraction(xf[idx]), _zero_fraction(yf[idx])
            if idx.size < min_n:
                skipped.append(f"{lv} (n={idx.size})")
                est = _Est(n=int(idx.size), note=f"skipped: n < {min_n}")
            else:
                est = _one(xv, yv, Z, ind_flags, idx, method)
                if np.isfinite(est.r):
                    group_ests.append(est)
            group_rows.append(_row(base, lv, est, 1, zx, zy, _tie_notes(zx, zy, (xk, yk))))

    zx_all, zy_all = _zero_fraction(xf[idx_all]), _zero_fraction(yf[idx_all])
    tie = _tie_notes(zx_all, zy_all, (xk, yk))
    if skipped:
        notes.append(f"groups skipped (n < {min_n}): {', '.join(skipped)}")

    if groups is None and pairs is None:  # pooled
        if idx_all.size < min_n:
            est = _Est(n=int(idx_all.size), note=f"too few complete samples (n={idx_all.size} < {min_n})")
        else:
            est = _one(xv, yv, Z, ind_flags, idx_all, method)
        out.append(_row(base, "pooled", est, 1, zx_all, zy_all, [*notes, *tie]))
        return out

    if pairs is not None:  # rmcorr, optionally with group fixed effects
        pr = pairs[idx_all]
        k = len(set(pr))
        extra = [_dummies(pr)]
        if groups is not None:
            extra.append(_dummies(groups[idx_all]))
        if idx_all.size < min_n or k < 2:
            est = _Est(n=int(idx_all.size), note=f"too few complete pairs (pairs={k}, n={idx_all.size})")
        else:
            Zs = Z[idx_all] if Z is not None else None
            xr, yr, Zr = _prepare(xv[idx_all], yv[idx_all], Zs, ind_flags, method, True)
            est = _estimate(xr, yr, _design_matrix(Zr, extra), method)
        row = _row(base, "combined", est, k, zx_all, zy_all, [*notes, *tie])
        out.append(row)
        out.extend(group_rows)
        return out

    # ---- within only: combine ----------------------------------------------------------
    n_used = int(sum(e.n for e in group_ests))
    if comb == "fisher":
        f = _fisher_combine(group_ests, method)
        comb_note = [] if f["k"] >= 2 else [f"only {f['k']} group(s) with an estimate"]
        row = {**base, "level": "combined", "estimate": f["estimate"], "ci_low": f["ci_low"],
               "ci_high": f["ci_high"], "pval": f["pval"], "n": n_used, "n_groups": f["k"], "df": np.nan,
               "q_het": f["q_het"], "q_pval": f["q_pval"], "i2": f["i2"],
               "zero_fraction_x": zx_all, "zero_fraction_y": zy_all,
               "note": "; ".join([*notes, *comb_note, *tie])}  # fmt: skip
    else:  # residualise on group indicators, ranks over all samples
        keep_levels = [r["level"] for r in group_rows if r["n"] >= min_n]
        idx = idx_all[np.isin(groups[idx_all], keep_levels)]
        if idx.size < min_n or len(keep_levels) < 1:
            est = _Est(n=int(idx.size), note="too few samples")
        else:
            est = _one(xv, yv, Z, ind_flags, idx, method, extra_ind=(_dummies(groups[idx]),))
        f = _fisher_combine(group_ests, method)
        row = _row(base, "combined", est, len(keep_levels), zx_all, zy_all, [*notes, *tie])
        row.update(q_het=f["q_het"], q_pval=f["q_pval"], i2=f["i2"])
    out.append(row)
    out.extend(group_rows)
    return out
