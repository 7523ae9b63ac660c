"""Coupling of Mg scores with mechanism scores: :func:`coupling` correlates every Mg score
with every mechanism score across samples (through :func:`mgtranscript.tl.correlate`) and
labels each pair with its review mechanism (:data:`~mgtranscript.genesets.MECHANISMS`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mgtranscript.errors import InputDataError

from ..._stats import bh_adjust
from ...genesets import mechanism_of
from .._store import finish, start, store

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["coupling", "COUPLING_COLUMNS"]


def _score_frame(adata, key: str) -> pd.DataFrame:
    from ...get import scores

    return scores(adata, key)


#: Columns of the :func:`coupling` table, in order (the first ten are the original ones).
COUPLING_COLUMNS = [
    "group", "mg_set", "mechanism_set", "mechanism", "method", "r", "pval", "qval", "n", "covariates",
    "design", "level", "ci_low", "ci_high", "df", "i2", "zero_fraction_x", "zero_fraction_y", "note",
]  # fmt: skip


def coupling(
    adata: AnnData,
    *,
    mg_key: str,
    mechanism_key: str,
    method: str = "spearman",
    groupby: str | None = None,
    within: str | None = None,
    paired_by: str | None = None,
    covariates: Sequence[str] | str | None = None,
    combine: str = "fisher",
    key_added: str = "coupling",
    copy: bool = False,
) -> AnnData | None:
    """Correlate every Mg score with every mechanism score across samples.

    The correlations are computed by :func:`mgtranscript.tl.correlate` (see there for the
    formulas). Pooled over all samples by default; ``within=`` / ``paired_by=`` give the
    within-group / within-pair association that a coupling claim should be judged on
    (pooling groups mostly measures group differences, Simpson's paradox).

    Parameters
    ----------
    adata
        AnnData with two score tables in ``obsm`` (samples x sets), e.g. from
        :func:`mgtranscript.tl.score` on ``"magnesium"`` and on :func:`mechanism_sets`.
    mg_key
        ``obsm`` key of the Mg scores (e.g. ``"mg_ssgsea"``).
    mechanism_key
        ``obsm`` key of the mechanism scores (e.g. Hallmark ssGSEA).
    method
        ``"spearman"`` (default) or ``"pearson"``.
    groupby
        Optional ``obs`` column: pooled correlations are also computed inside each subset
        (rows with ``group`` = level, ``design="pooled"``), in addition to all samples
        (``group="all"``). Superseded by ``within``, which also combines the groups.
    within
        ``obs`` column: per-group correlations (``group`` = level, ``level`` = level) and
        their combination (``group="all"``, ``level="combined"``; Fisher z or residualised,
        ``combine``), as :func:`mgtranscript.tl.correlate`.
    paired_by
        ``obs`` column of matched samples: repeated-measures correlation (with ``within``:
        pair and group fixed effects), on the ``group="all"`` row.
    covariates
        Optional ``obs`` columns (or genes / ``"<obsm key>:<column>"``) to adjust for
        (partial correlation). Numeric columns enter as is (ranked for Spearman),
        categorical ones as 0/1 indicators (e.g. ``"condition"`` removes the part of the
        coupling that is only a difference between disease groups); p-values use a t
        distribution with ``n - 2 - k`` degrees of freedom (k = covariate columns).
    combine
        ``"fisher"`` or ``"residualise"``, for ``within``.
    key_added
        Results go to ``adata.uns[key_added] = {"params": ..., "table": DataFrame}``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` (or the copy when ``copy=True``). ``adata.uns[key_added]["table"]`` (read it with
    :func:`mgtranscript.get.coupling` ``(adata, key_added)``) is a tidy DataFrame with columns
    :data:`COUPLING_COLUMNS`: ``group, mg_set, mechanism_set, mechanism,
    method, r, pval, qval, n, covariates`` as before, plus ``design`` (``"pooled"``,
    ``"within:<col>"``, ``"paired:<col>"``, ...), ``level`` (``"pooled"``,
    ``"combined"`` or the group), ``ci_low``/``ci_high`` (95%), ``df``, ``i2``
    (heterogeneity of a combined row), ``zero_fraction_x``/``_y`` and ``note``. ``qval``
    is Benjamini-Hochberg over all (mg set x mechanism set) pairs of the same ``group``
    (each group is one family of tests). Pairs with too few complete samples or a
    constant score get NaN.
    """
    from ._correlate import _correlation_table

    adata = start(adata, "coupling", key_added=key_added, copy=copy)
    if method not in {"spearman", "pearson"}:
        raise InputDataError(f"method must be 'spearman' or 'pearson', got {method!r}.")
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates or [])
    obs = adata.obs
    for c in covariates:
        if c not in obs.columns and c not in adata.var_names and ":" not in c:
            raise InputDataError(f"covariate {c!r} is not a column of adata.obs (columns: {list(obs.columns)}).")
    if groupby is not None and within is not None and groupby != within:
        raise InputDataError(f"give groupby= or within=, not both (got {groupby!r} and {within!r}).")
    if groupby is not None and groupby not in obs.columns:
        raise InputDataError(f"groupby {groupby!r} is not a column of adata.obs (columns: {list(obs.columns)}).")
    A = _score_frame(adata, mg_key)
    B = _score_frame(adata, mechanism_key)
    xs = [f"{mg_key}:{c}" for c in A.columns]
    ys = [f"{mechanism_key}:{c}" for c in B.columns]
    kw = {"method": method, "covariates": covariates, "combine": combine, "layer": None, "min_n": 4}

    main, _ = _correlation_table(adata, xs, ys, within=within, paired_by=paired_by, **kw)
    parts = [main]
    if groupby is not None and within is None:
        g = obs[groupby]
        levels = list(g.cat.categories) if isinstance(g.dtype, pd.CategoricalDtype) else list(pd.unique(g.dropna()))
        for lv in levels:
            mask = (g == lv).to_numpy()
            sub = adata[mask]
            tab, _ = _correlation_table(sub, xs, ys, within=None, paired_by=None, **kw)
            parts.append(tab.assign(level=str(lv)))
    table = pd.concat(parts, ignore_index=True)
    is_main = table["level"].isin(["pooled", "combined"]) & (table.index < len(main))
    table["group"] = np.where(is_main, "all", table["level"].astype(str))
    table["mg_set"] = table["x"].str.slice(len(mg_key) + 1)
    table["mechanism_set"] = table["y"].str.slice(len(mechanism_key) + 1)
    table["mechanism"] = table["mechanism_set"].map(mechanism_of)
    table = table.rename(columns={"estimate": "r"})
    table["covariates"] = ";".join(covariates)
    table["qval"] = np.nan
    for idx in table.groupby("group", sort=False).groups.values():
        table.loc[idx, "qval"] = bh_adjust(table.loc[idx, "pval"].to_numpy(dtype=float))
    table = table[COUPLING_COLUMNS].reset_index(drop=True)
    params = {"mg_key": mg_key, "mechanism_key": mechanism_key, "method": method, "groupby": groupby or "",
              "within": within or "", "paired_by": paired_by or "", "covariates": covariates, "combine": combine}
    store(adata, key_added, "coupling", params, table=table)
    logger.info("coupling: %d pairs, design %s -> adata.uns[%r]", len(A.columns) * len(B.columns),
                main["design"].iloc[0] if len(main) else "", key_added)
    return finish(adata, copy)
