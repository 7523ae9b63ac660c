"""Single-cell helpers: per-cell gene-set scores and pseudobulk profiles.

:func:`score_cells`
    scanpy's ``tl.score_genes`` (set mean minus the mean of expression-matched control
    genes) for several gene sets at once, with the package's gene-set matching
    (aliases, coverage report). For each set the score is *identical* to
    ``sc.tl.score_genes(adata, genes, ctrl_size=..., n_bins=..., random_state=...)``
    called on that set alone.
:func:`pseudobulk`
    Sum (or average) cells per group (x sample) into an AnnData with one observation
    per group, so that the bulk methods of :func:`mgtranscript.tl.score` (GSVA, ssGSEA,
    ...) and differential tests apply to single-cell data without treating cells as
    independent replicates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

from mgtranscript.errors import InputDataError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["score_cells", "pseudobulk"]


# --------------------------------------------------------------------------- helpers
def _nan_means(x: Any, axis: int, dtype: Any = None) -> np.ndarray:
    """Means ignoring NaN along ``axis``, sparse-aware, with scanpy's numerics
    (float64 sums for sparse input; ``np.nanmean`` for dense)."""
    if sparse.issparse(x):
        x = sparse.csr_matrix(x) if not isinstance(x, (sparse.csr_matrix, sparse.csc_matrix)) else x
        nan_mask = x.copy()
        nan_mask.data = np.isnan(nan_mask.data)
        nan_mask.eliminate_zeros()
        n = x.shape[axis] - np.asarray(nan_mask.sum(axis)).ravel()
        y = x.copy()
        y.data[np.isnan(y.data)] = 0
        y.eliminate_zeros()
        s = np.asarray(y.sum(axis, dtype="float64")).ravel()
        return s / n
    return np.asarray(np.nanmean(np.asarray(x), axis=axis, dtype=dtype)).ravel()


def _cell_matrix(adata: AnnData, layer: str | None, use_raw: bool | None) -> tuple[Any, pd.Index, bool]:
    """The cells x genes matrix scanpy's score_genes would use, its gene names, use_raw."""
    if use_raw is None:
        use_raw = adata.raw is not None and layer is None
    if use_raw and layer is not None:
        raise InputDataError(
            f"use_raw=True and layer={layer!r} are exclusive; pass one of them "
            "(use_raw=False to score adata.layers[layer])."
        )
    if use_raw:
        if adata.raw is None:
            raise InputDataError(
                "use_raw=True but adata.raw is empty; pass use_raw=False (score adata.X) or a layer."
            )
        return adata.raw.X, pd.Index(adata.raw.var_names), True
    if layer is not None:
        if layer not in adata.layers:
            raise InputDataError(
                f"adata.layers has no {layer!r} (available: {list(adata.layers) or 'none'}); "
                "pass layer=None to score adata.X."
            )
        return adata.layers[layer], pd.Index(adata.var_names), False
    return adata.X, pd.Index(adata.var_names), False


def _columns(x: Any, idx: np.ndarray) -> Any:
    """Column subset without densifying sparse input."""
    if sparse.issparse(x):
        return x[:, idx]
    return np.asarray(x)[:, idx]


# --------------------------------------------------------------------------- score_cells
def score_cells(
    adata: AnnData,
    gene_sets: Any = "magnesium",
    *,
    ctrl_size: int = 50,
    n_bins: int = 25,
    random_state: int | None = 0,
    layer: str | None = None,
    use_raw: bool | None = None,
    key_added: str = "mg_cells",
    min_size: int = 1,
    copy: bool = False,
) -> AnnData | None:
    """Score gene sets in every cell (scanpy ``score_genes``, several sets at once).

    For each set: the mean expression of its genes in a cell minus the mean of control
    genes. Genes are split into ``n_bins`` bins of average expression; from each bin that
    holds a set gene, ``ctrl_size`` genes are drawn at random (set genes then removed).
    Each set is drawn with the global NumPy RNG re-seeded to ``random_state`` (as
    scanpy does), so every set's score equals
    ``sc.tl.score_genes(adata, set_genes, ctrl_size=ctrl_size, n_bins=n_bins,
    random_state=random_state, use_raw=use_raw, layer=layer)``; the caller's global
    RNG state is restored afterwards.

    Parameters
    ----------
    adata
        Cells x genes, log-normalised expression (``adata.raw`` is used when present,
        like scanpy). Sparse matrices are never densified: only set and control columns
        are read.
    gene_sets
        Anything :func:`mgtranscript.genesets.load` accepts (default: the bundled
        liver-relevant magnesium sets). Gene names are matched with
        :func:`mgtranscript.genesets.match` (aliases resolved, coverage reported).
    ctrl_size
        Control genes drawn per expression bin.
    n_bins
        Number of average-expression bins.
    random_state
        Seed of the control-gene draw (``None``: do not re-seed; results not
        reproducible).
    layer
        Score ``adata.layers[layer]`` instead of ``X``/``raw``.
    use_raw
        Score ``adata.raw.X``; default ``True`` when ``adata.raw`` exists and no layer is
        given (scanpy's default).
    key_added
        ``adata.obsm[key_added]`` gets a cells x sets DataFrame, ``adata.obs`` a column
        ``f"{key_added}_{set}"`` per set and ``adata.uns[key_added]`` the parameters,
        the coverage table and each set's control genes.
    min_size
        Keep sets with at least this many genes found in the data.
    copy
        Return a scored copy instead of modifying ``adata``.

    Returns
    -------
    The scored copy if ``copy=True``, else ``None``.

    Raises
    ------
    InputDataError
        Bad parameters, missing layer/raw, or no control genes for a set.
    GeneSetError
        No set overlaps the data's genes.

    Examples
    --------
    >>> import scanpy as sc, mgtranscript as mg              # doctest: +SKIP
    >>> adata = sc.datasets.pbmc68k_reduced()                  # doctest: +SKIP
    >>> mg.tl.score_cells(adata, {"T": ["CD3D", "CD3E", "IL7R"]})  # doctest: +SKIP
    >>> adata.obs["mg_cells_T"]                                # doctest: +SKIP
    """
    from mgtranscript import genesets

    for name, value, low in (("ctrl_size", ctrl_size, 1), ("n_bins", n_bins, 2), ("min_size", min_size, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise InputDataError(f"{name} must be an integer >= {low}; got {value!r}.")
    if random_state is not None and not isinstance(random_state, (int, np.integer)):
        raise InputDataError(
            f"random_state must be an integer seed or None (scanpy re-seeds NumPy's global RNG); "
            f"got {type(random_state).__name__}."
        )
    adata = adata.copy() if copy else adata
    x, var_names, used_raw = _cell_matrix(adata, layer, use_raw)
    if not var_names.is_unique:
        raise InputDataError(
            "Gene names are not unique; call adata.var_names_make_unique() (or "
            "adata.raw.var_names) before scoring."
        )

    sets, coverage = genesets.match(gene_sets, var_names, min_size=min_size)

    # average expression of every gene (gene_pool = all genes), as scanpy
    obs_avg = pd.Series(_nan_means(x, axis=0), index=var_names.astype("string"))
    obs_avg = obs_avg[np.isfinite(obs_avg)]
    n_items = int(np.round(len(obs_avg) / (n_bins - 1)))
    if n_items < 1:
        raise InputDataError(
            f"Only {len(obs_avg)} genes for n_bins={n_bins}; lower n_bins (scanpy needs at "
            "least n_bins - 1 genes with finite means)."
        )
    obs_cut = obs_avg.rank(method="min") // n_items

    scores: dict[str, np.ndarray] = {}
    controls: dict[str, list[str]] = {}
    rng_state = np.random.get_state()
    try:
        for name, idx in sets.items():
            gene_list = pd.Index(var_names[idx].astype(str))
            absent = gene_list.difference(obs_cut.index.astype(str))
            if len(absent):
                raise InputDataError(
                    f"Set {name!r}: genes {list(absent[:5])} have no finite mean expression "
                    "(all NaN); drop them or impute before scoring."
                )
            if random_state is not None:
                np.random.seed(random_state)
            control = pd.Index([], dtype="string")
            for cut in np.unique(obs_cut.loc[gene_list]):
                r_genes = obs_cut[obs_cut == cut].index
                if ctrl_size < len(r_genes):
                    r_genes = r_genes.to_series().sample(ctrl_size).index
                control = control.union(r_genes.difference(gene_list))
            if len(control) == 0:
                raise InputDataError(
                    f"No control genes for set {name!r}: its genes fill their expression bins. "
                    "Lower n_bins or score against more genes."
                )
            ctrl_idx = var_names.get_indexer(control.astype(str))
            means_list = _nan_means(_columns(x, idx), axis=1, dtype="float64")
            means_ctrl = _nan_means(_columns(x, ctrl_idx), axis=1, dtype="float64")
            scores[name] = np.asarray(means_list - means_ctrl, dtype=np.float64).ravel()
            controls[name] = [str(g) for g in control]
    finally:
        np.random.set_state(rng_state)

    df = pd.DataFrame(scores, index=adata.obs_names, dtype=np.float64)
    adata.obsm[key_added] = df
    for name in df.columns:
        adata.obs[f"{key_added}_{name}"] = df[name].to_numpy()
    from mgtranscript.tl.score._runner import describe_spec

    adata.uns[key_added] = {
        "params": {
            "method": "score_genes",
            "ctrl_size": int(ctrl_size),
            "n_bins": int(n_bins),
            "random_state": -1 if random_state is None else int(random_state),
            "layer": "" if layer is None else layer,
            "use_raw": bool(used_raw),
            "min_size": int(min_size),
            "gene_sets": describe_spec(gene_sets),
        },
        "coverage": coverage,
        "control_genes": {k: np.asarray(v, dtype=object) for k, v in controls.items()},
    }
    logger.info("scored %d set(s) in %d cells into obsm[%r]", df.shape[1], df.shape[0], key_added)
    return adata if copy else None


# --------------------------------------------------------------------------- pseudobulk
def pseudobulk(
    adata: AnnData,
    *,
    groupby: str | Sequence[str],
    sample_key: str | None = None,
    layer: str | None = "counts",
    func: str = "sum",
    min_cells: int = 10,
) -> AnnData:
    """Aggregate cells into one profile per group (x sample).

    Parameters
    ----------
    adata
        Cells x genes.
    groupby
        ``adata.obs`` column(s) defining groups (e.g. cell type).
    sample_key
        Optional ``adata.obs`` column with the sample/donor; then one profile per
        (group, sample), the usual input of pseudobulk differential expression.
    layer
        Matrix to aggregate: ``"counts"`` (default, ``adata.layers["counts"]``), any other
        layer name, ``None`` for ``adata.X`` or ``"raw"`` for ``adata.raw.X`` (genes of
        ``adata.raw.var``). A missing layer raises an error listing the alternatives;
        nothing is silently un-logged.
    func
        ``"sum"`` (counts: the result suits ``kcdf="poisson"`` GSVA or log-CPM
        normalisation) or ``"mean"`` (e.g. of log-normalised values, for
        ``kcdf="gaussian"``). ``"sum"`` refuses negative values (scaled data) and warns
        on non-integer ones (summing log values is rarely meant).
    min_cells
        Drop profiles made of fewer cells (with a warning naming them).

    Returns
    -------
    AnnData
        Profiles x genes, ``X`` dense float64; ``obs`` has the ``groupby`` (and
        ``sample_key``) columns, ``n_cells``, and every other ``obs`` column that is
        constant within each profile (e.g. a donor's disease state); ``var`` is copied;
        ``uns["pseudobulk"]`` records the parameters.

    Notes
    -----
    scanpy's bundled ``pbmc68k_reduced`` has no counts: its ``X`` is scaled (negative
    values) and ``raw`` is log-normalised. Use ``layer="raw", func="mean"`` there, or
    store real counts in ``layers["counts"]`` before normalising your own data.

    Examples
    --------
    >>> pb = mg.tl.pseudobulk(adata, groupby="cell_type", sample_key="donor")  # doctest: +SKIP
    >>> mg.tl.score(pb, method="gsva", kcdf="poisson")                          # doctest: +SKIP
    """
    import anndata as ad

    keys = [groupby] if isinstance(groupby, str) else list(groupby)
    if not keys:
        raise InputDataError("groupby needs at least one adata.obs column name.")
    if sample_key is not None:
        keys = keys + [sample_key]
    missing = [k for k in keys if k not in adata.obs.columns]
    if missing:
        raise InputDataError(
            f"adata.obs has no column(s) {missing}; available: {list(adata.obs.columns)[:20]}."
        )
    if len(set(keys)) != len(keys):
        raise InputDataError(f"groupby/sample_key name the same column twice: {keys}.")
    if func not in ("sum", "mean"):
        raise InputDataError(f"func must be 'sum' or 'mean'; got {func!r}.")
    if not isinstance(min_cells, (int, np.integer)) or min_cells < 1:
        raise InputDataError(f"min_cells must be an integer >= 1; got {min_cells!r}.")

    if layer == "raw" and "raw" not in adata.layers:
        if adata.raw is None:
            raise InputDataError("layer='raw' but adata.raw is empty; pass a layer name or None (adata.X).")
        x, var = adata.raw.X, adata.raw.var.copy()
    elif layer is None:
        x, var = adata.X, adata.var.copy()
    elif layer in adata.layers:
        x, var = adata.layers[layer], adata.var.copy()
    else:
        hint = (
            " adata.raw exists: layer='raw' aggregates it (log-normalised in most pipelines: "
            "use func='mean')." if adata.raw is not None else ""
        )
        raise InputDataError(
            f"adata.layers has no {layer!r} (layers: {list(adata.layers) or 'none'}). Pseudobulk "
            "sums raw counts: store them with adata.layers['counts'] = adata.X.copy() before "
            f"normalising, pass layer=None if adata.X holds counts, or use func='mean' on "
            f"log-normalised data.{hint}"
        )
    if x is None:
        raise InputDataError("The selected matrix is empty (adata.X is None); pass a layer.")

    if func == "sum":
        vals = x.data if sparse.issparse(x) else np.asarray(x)
        if vals.size and np.nanmin(vals) < 0:
            raise InputDataError(
                "func='sum' needs counts but the matrix has negative values (scaled data?). "
                "Use layer='counts' / layer='raw', or func='mean'."
            )
        if vals.size and not np.all(np.mod(vals[np.isfinite(vals)], 1) == 0):
            logger.warning(
                "func='sum' on non-integer values: the profiles are sums of normalised values, "
                "not counts. For log-normalised data prefer func='mean'."
            )

    obs = adata.obs[keys].copy()
    for k in keys:
        if obs[k].isna().any():
            logger.warning("%d cell(s) with missing %r are left out", int(obs[k].isna().sum()), k)
    ok = ~obs.isna().any(axis=1).to_numpy()
    codes = obs.loc[ok].astype(str).agg("|".join, axis=1) if len(keys) > 1 else obs.loc[ok, keys[0]].astype(str)
    labels, first_pos, inverse = np.unique(codes.to_numpy(), return_index=True, return_inverse=True)
    cell_idx = np.flatnonzero(ok)
    n_groups = labels.size
    counts = np.bincount(inverse, minlength=n_groups)
    small = counts < min_cells
    if small.all():
        raise InputDataError(
            f"Every group has fewer than min_cells={min_cells} cells (largest: {counts.max()}); "
            "lower min_cells or group more coarsely."
        )
    if small.any():
        logger.warning(
            "%d group(s) with fewer than %d cells dropped: %s",
            int(small.sum()),
            min_cells,
            ", ".join(f"{labels[i]} ({counts[i]})" for i in np.flatnonzero(small)[:10]),
        )
    # indicator matrix groups x cells: sparse-aware aggregation without densifying x
    ind = sparse.csr_matrix(
        (np.ones(cell_idx.size), (inverse, cell_idx)), shape=(n_groups, adata.n_obs)
    )
    keep = np.flatnonzero(~small)
    ind = ind[keep]
    agg = ind @ x
    agg = np.asarray(agg.toarray() if sparse.issparse(agg) else agg, dtype=np.float64)
    n_cells = counts[keep]
    if func == "mean":
        agg = agg / n_cells[:, None]

    # obs: group columns + n_cells + columns constant within every kept profile
    out_obs = adata.obs.iloc[cell_idx[first_pos[keep]]].copy()
    carry = list(keys)
    for col in adata.obs.columns:
        if col in keys:
            continue
        s = adata.obs[col].iloc[cell_idx]
        nun = s.groupby(inverse, observed=True).nunique(dropna=False)
        if (nun.loc[keep] <= 1).all():
            carry.append(col)
    out_obs = out_obs[carry]
    for col in carry:  # drop unused categories
        if isinstance(out_obs[col].dtype, pd.CategoricalDtype):
            out_obs[col] = out_obs[col].cat.remove_unused_categories()
    out_obs["n_cells"] = n_cells.astype(np.int64)
    out_obs.index = pd.Index([str(labels[g]) for g in keep], dtype=object)
    out_obs.index.name = None

    pb = ad.AnnData(X=agg, obs=out_obs, var=var)
    pb.uns["pseudobulk"] = {
        "groupby": keys[: len(keys) - (sample_key is not None)],
        "sample_key": "" if sample_key is None else sample_key,
        "layer": "X" if layer is None else layer,
        "func": func,
        "min_cells": int(min_cells),
    }
    logger.info("pseudobulk: %d profiles from %d cells", pb.n_obs, int(n_cells.sum()))
    return pb
