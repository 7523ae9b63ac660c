"""Mean expression of a set, and the magnesium influx-minus-efflux balance.

:func:`mean_matrix` averages the set genes' values in each sample. It is meant for
log-scale expression (e.g. ``log1p`` of normalised counts, or log2 microarray
intensities): on raw counts the mean is dominated by the few most expressed genes.

:func:`mg_balance` contrasts the two directions of magnesium transport. Each gene is
standardised across samples (z-score, mean 0 and SD 1 with ``n - 1``); a sample's balance
is the mean z-score of the influx genes minus the mean z-score of the efflux genes.
Positive: the sample expresses influx transporters (TRPM6/7, MAGT1, ...) higher,
relative to the cohort, than efflux/exchange genes (SLC41A1/2, CNNM, ...). Because of the
standardisation the balance is relative to the samples scored together.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...errors import GeneSetError, InputDataError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

log = logging.getLogger(__name__)

SAMPLE_INDEPENDENT = True
NEEDS_ALL_GENES = False


def mean_matrix(X: np.ndarray, sets: Mapping[str, np.ndarray]) -> np.ndarray:
    """Mean of the set genes' values in each sample.

    Parameters
    ----------
    X
        Samples x genes, float64, finite; log-scale expression.
    sets
        Set name -> integer column indices of ``X``.

    Returns
    -------
    Samples x sets array, columns in the order of ``sets``.
    """
    X = np.asarray(X, dtype=np.float64)
    es = np.full((X.shape[0], len(sets)), np.nan)
    for j, idx in enumerate(sets.values()):
        idx = np.asarray(idx, dtype=np.intp).ravel()
        if idx.size:
            es[:, j] = X[:, idx].mean(axis=1)
    return es


def _set_genes(spec: str | Sequence[str], role: str) -> tuple[str, list[str]]:
    if isinstance(spec, str):
        from ... import genesets

        gs = genesets.load(f"magnesium:{spec}") if ":" not in spec else genesets.load(spec)
        genes = list(dict.fromkeys(g for name in gs for g in gs[name]))
        return spec, genes
    genes = [str(g) for g in spec]
    if not genes:
        raise GeneSetError(f"mg_balance: the {role} gene list is empty; pass gene symbols or a set name")
    return f"{role}({len(genes)} genes)", genes


def mg_balance(
    adata: AnnData,
    *,
    layer: str | None = None,
    key_added: str = "mg_balance",
    influx: str | Sequence[str] = "MG_PM_INFLUX",
    efflux: str | Sequence[str] = "MG_EFFLUX_EXCHANGE",
    copy: bool = False,
) -> AnnData | None:
    """Signed magnesium influx-minus-efflux balance per sample.

    Parameters
    ----------
    adata
        Samples x genes, log-scale expression in ``X`` or ``layers[layer]``.
    layer
        Layer to use instead of ``X``.
    key_added
        Column of ``adata.obs`` to write; details go to ``adata.uns[key_added]``.
    influx, efflux
        A bundled Mg sub-set name (see :mod:`mgtranscript.genesets`) or a list of genes.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    The copy when ``copy=True``, else ``None``. Writes ``adata.obs[key_added]`` (mean
    z-score of influx genes minus that of efflux genes) and ``adata.uns[key_added]`` =
    ``{"params": ..., "coverage": DataFrame, "genes": DataFrame}``: the gene lists asked for,
    their coverage in the data (:func:`mgtranscript.get.coverage`) and the genes used (``gene``,
    ``role`` = ``"influx"`` / ``"efflux"``; constant genes are left out), read with
    ``mgtranscript.get.table(adata, "mg_balance", "genes")``.
    """
    from ... import genesets
    from .._store import finish, start, store
    from ._runner import check_values, dense_columns, validate_names
    from ._common import standardise

    adata = start(adata, "mg_balance", key_added=key_added, copy=copy)
    validate_names(adata)
    check_values(adata, layer, "mean", {})
    in_name, in_genes = _set_genes(influx, "influx")
    ef_name, ef_genes = _set_genes(efflux, "efflux")
    matched, coverage = genesets.match({"influx": in_genes, "efflux": ef_genes}, adata.var_names, min_size=1)
    if set(matched) != {"influx", "efflux"}:
        missing = sorted({"influx", "efflux"} - set(matched))
        raise GeneSetError(
            f"mg_balance: none of the {' or '.join(missing)} genes are in adata.var_names "
            f"(first genes of the data: {', '.join(map(str, adata.var_names[:3]))}); "
            "use gene symbols (see mgtranscript.datasets.harmonise_var)"
        )
    cols = np.union1d(matched["influx"], matched["efflux"])
    X = dense_columns(adata, layer, cols)
    Z, ok = standardise(X)
    local = {k: np.searchsorted(cols, v) for k, v in matched.items()}
    parts = {}
    used = {}
    for k, pos in local.items():
        keep = pos[ok[pos]]
        if keep.size < pos.size:
            warnings.warn(f"mg_balance: {pos.size - keep.size} constant {k} gene(s) left out", UserWarning, stacklevel=2)
        if not keep.size:
            raise InputDataError(f"mg_balance: every {k} gene is constant across samples; nothing to contrast")
        parts[k] = Z[:, keep].mean(axis=1)
        used[k] = [str(adata.var_names[cols[p]]) for p in keep]
    adata.obs[key_added] = parts["influx"] - parts["efflux"]
    params = {"influx": in_name, "efflux": ef_name, "layer": layer}
    genes = pd.DataFrame({"gene": used["influx"] + used["efflux"],
                          "role": ["influx"] * len(used["influx"]) + ["efflux"] * len(used["efflux"])})
    # h5ad (anndata < 0.12) cannot store None
    store(adata, key_added, "mg_balance", {k: v for k, v in params.items() if v is not None},
          coverage=coverage, genes=genes)
    log.info("mg_balance: %d influx vs %d efflux genes", len(used["influx"]), len(used["efflux"]))
    return finish(adata, copy)
