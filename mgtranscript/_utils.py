"""Small helpers shared by more than one subpackage (scanpy's ``_utils`` idea).

:func:`clean_ranking` and :func:`sort_ranking` turn a DE table or a Series into the gene
ranking GSEA walks (:func:`mgtranscript.tl.gsea_prerank`, :func:`mgtranscript.tl.running_sum`)
and its plot draws (:func:`mgtranscript.pl.gsea`).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .errors import InputDataError

logger = logging.getLogger(__name__)

__all__ = ["clean_ranking", "sort_ranking"]


def clean_ranking(ranking: pd.Series | pd.DataFrame, key: str | None) -> pd.Series:
    """A float Series gene -> statistic: NaN dropped, duplicates collapsed (max |stat|)."""
    if isinstance(ranking, pd.DataFrame):
        df = ranking
        col = key or ("stat" if "stat" in df.columns else None)
        if col is None:
            num = df.select_dtypes(np.number).columns
            if len(num) != 1:
                raise InputDataError(
                    "cannot tell which column of the ranking DataFrame is the statistic "
                    f"(numeric columns: {list(num)}); pass key='stat' (or the column to rank by)."
                )
            col = num[0]
        if col not in df.columns:
            raise InputDataError(
                f"ranking DataFrame has no column {col!r} (columns: {list(df.columns)}); "
                "pass key=<statistic column>."
            )
        if "gene" in df.columns:
            genes = df["gene"].to_numpy()
        else:
            genes = df.index.to_numpy()
        series = pd.Series(pd.to_numeric(df[col], errors="coerce").to_numpy(), index=genes)
    elif isinstance(ranking, pd.Series):
        if key is not None:
            raise InputDataError("key= only applies to a DataFrame ranking; drop it for a Series.")
        series = pd.Series(pd.to_numeric(ranking, errors="coerce").to_numpy(), index=ranking.index.to_numpy())
    else:
        raise InputDataError(
            f"ranking must be a pandas Series (gene -> statistic) or a DE table, got {type(ranking).__name__}."
        )
    genes = pd.Index(series.index)
    bad_gene = genes.isna() | (genes.astype(str).str.strip() == "")
    if bad_gene.any():
        logger.warning("dropping %d ranking entries with a missing gene name", int(bad_gene.sum()))
        series = series[~bad_gene]
    series.index = series.index.astype(str)
    if np.isinf(series.to_numpy()).any():
        bad = list(series.index[np.isinf(series.to_numpy())][:5])
        raise InputDataError(
            f"ranking has infinite values (e.g. {bad}); cap or drop them before GSEA "
            "(e.g. ranking.clip(-50, 50))."
        )
    n_nan = int(series.isna().sum())
    if n_nan:
        logger.warning("dropping %d genes with a NaN statistic from the ranking", n_nan)
        series = series.dropna()
    dup = series.index.duplicated(keep=False)
    if dup.any():
        n_dup = int(series.index[dup].nunique())
        logger.warning(
            "%d gene names occur more than once in the ranking (e.g. %s); keeping, for each, "
            "the entry with the largest |statistic|",
            n_dup,
            list(pd.unique(series.index[dup]))[:3],
        )
        order = np.argsort(-np.abs(series.to_numpy()), kind="stable")
        s2 = series.iloc[order]
        s2 = s2[~s2.index.duplicated(keep="first")]
        series = s2.reindex(pd.unique(series.index))  # back to first-seen order
    if len(series) < 2:
        raise InputDataError(
            f"ranking has {len(series)} usable genes after removing NaN; GSEA needs a ranked list "
            "of (ideally all) measured genes."
        )
    return series.astype(float)


def sort_ranking(series: pd.Series) -> pd.Series:
    """Descending, ties kept in input order (stable) -- the order GSEA and its plots use."""
    order = np.argsort(-series.to_numpy(), kind="stable")
    return series.iloc[order]
