"""Ordered trends of gene-set scores and single genes across stages: :func:`trend`
(Spearman rho and the Jonckheere-Terpstra test), one tidy table to
``adata.uns[key_added]["table"]`` (:func:`mgtranscript.get.trend`) with BH q-values over all rows
of the run."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import InputDataError
from .._store import finish, start, store
from ._features import _as_list, _features, _labels
from ..._stats import bh_adjust, jonckheere_terpstra

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["trend", "TREND_COLUMNS"]

#: Columns of the :func:`trend` table, in order.
TREND_COLUMNS = [
    "feature", "kind", "source", "by", "order", "n", "n_groups", "n_missing",
    "rho", "pval", "jt_stat", "jt_z", "jt_pval", "qval", "jt_qval", "note",
]  # fmt: skip


def trend(
    adata: AnnData,
    *,
    by: str,
    order: Sequence | None = None,
    keys: str | Sequence[str] | None = None,
    genes: str | Sequence[str] | None = None,
    layer: str | None = None,
    key_added: str = "trend",
    copy: bool = False,
) -> AnnData | None:
    """Monotone trend of scores/genes across ordered stages (Spearman and Jonckheere-Terpstra).

    Parameters
    ----------
    adata
        AnnData, samples x genes.
    by
        ``obs`` column: categorical stages (give ``order``, e.g.
        ``["healthy", "obese", "NAFL", "NASH"]``) or a numeric column such as
        ``fibrosis_stage`` (its sorted distinct values are the stages).
    order
        Stage order, lowest first. Samples whose stage is not listed are excluded. Default:
        ``uns["labels"]["condition_order"]`` for ``by="condition"``, the categories of an
        ordered categorical, or the sorted values of a numeric column.
    keys, genes, layer
        Features, as in :func:`compare`.
    key_added
        Results to ``adata.uns[key_added] = {"params": ..., "table": DataFrame}``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    ``None`` or the copy. The table (:data:`TREND_COLUMNS`; :func:`mgtranscript.get.trend`
    ``(adata, key_added)``) has per feature: ``rho`` and
    ``pval`` (Spearman correlation of the values with the stage rank), the
    Jonckheere-Terpstra statistic ``jt_stat`` (pairs increasing with stage), ``jt_z`` and
    two-sided ``jt_pval`` (normal approximation, exact tie-corrected variance; see
    :func:`mgtranscript._stats.jonckheere_terpstra`), and BH ``qval`` (Spearman) and
    ``jt_qval`` over all rows. ``n_missing`` counts samples with a missing/unlisted stage.
    """
    adata = start(adata, "trend", key_added=key_added, copy=copy)
    if by not in adata.obs.columns:
        raise InputDataError(f"obs has no column {by!r}; available: {list(adata.obs.columns)}.")
    s = adata.obs[by]
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if order is None:
        info = adata.uns.get("labels", {})
        if by == "condition" and isinstance(info, dict) and info.get("condition_order"):
            order = [str(o) for o in info["condition_order"]]
        elif isinstance(s.dtype, pd.CategoricalDtype) and s.cat.ordered:
            order = [str(c) for c in s.cat.categories]
        elif numeric:
            order = None
        else:
            raise InputDataError(
                f"obs[{by!r}] is not numeric: pass order= (stages lowest first), available levels: "
                f"{sorted(set(s.dropna().astype(str)))}."
            )
    if order is not None:
        order = [str(o) for o in order]
        if len(set(order)) != len(order):
            raise InputDataError(f"order has duplicates: {order}.")
        labs = _labels(adata, by)
        if numeric:  # numeric column with an explicit order of its values
            labs = s.map(lambda v: None if pd.isna(v) else _num_str(v))
            order = [_num_str(float(o)) for o in order]
        present = set(labs.dropna())
        unknown = [o for o in order if o not in present]
        if len(unknown) == len(order):
            raise InputDataError(f"none of order {order} occurs in obs[{by!r}]; available: {sorted(present)}.")
        if unknown:
            logger.info("trend: stages %s absent from obs[%r]", unknown, by)
        code_map = {o: i for i, o in enumerate(order)}
        codes = labs.map(lambda v: code_map.get(v, np.nan) if v is not None else np.nan).to_numpy(dtype=float)
        order_txt = " < ".join(order)
    else:
        codes = s.to_numpy(dtype=float)
        order_txt = " < ".join(_num_str(v) for v in np.unique(codes[np.isfinite(codes)]))
    keep = np.isfinite(codes)
    n_missing = int((~keep).sum())
    feats = _features(adata, keys, genes, layer)
    rows = []
    for feature, kind, source, vals in feats:
        ok = keep & np.isfinite(vals)
        v, c = vals[ok], codes[ok]
        n_groups = int(np.unique(c).size)
        row = {
            "feature": feature, "kind": kind, "source": source, "by": by, "order": order_txt,
            "n": int(ok.sum()), "n_groups": n_groups, "n_missing": n_missing, "note": "",
        }  # fmt: skip
        if n_groups < 2 or v.size < 3:
            row.update(rho=np.nan, pval=np.nan, jt_stat=np.nan, jt_z=np.nan, jt_pval=np.nan,
                       note=f"too few stages/samples (stages={n_groups}, n={v.size})")  # fmt: skip
        elif np.unique(v).size < 2:
            row.update(rho=np.nan, pval=np.nan, jt_stat=np.nan, jt_z=np.nan, jt_pval=np.nan, note="constant values")
        else:
            rho, p = stats.spearmanr(v, c)
            jt, z, jp, _ = jonckheere_terpstra(v, c)
            row.update(rho=float(rho), pval=float(p), jt_stat=jt, jt_z=z, jt_pval=jp)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["qval"] = bh_adjust(table["pval"].to_numpy(dtype=float))
    table["jt_qval"] = bh_adjust(table["jt_pval"].to_numpy(dtype=float))
    table = table[TREND_COLUMNS]
    params = {
        "by": by, "order": order_txt, "keys": _as_list(keys), "genes": _as_list(genes),
        "layer": layer or "X", "n_missing": n_missing,
    }  # fmt: skip
    store(adata, key_added, "trend", params, table=table)
    return finish(adata, copy)


def _num_str(v: float) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else repr(v)
