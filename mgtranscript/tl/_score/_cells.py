"""Single-cell helpers: per-cell gene-set scores and pseudobulk profiles.

Both delegate the arithmetic to scanpy and add what scanpy leaves to the caller:

:func:`score_cells`
    ``scanpy.tl.score_genes`` (set mean minus the mean of expression-matched control
    genes), called once per set, for several gene sets at once, with the package's
    gene-set matching (aliases, coverage report) and input checks. Each set's score *is*
    ``sc.tl.score_genes(adata, genes, ctrl_size=..., n_bins=..., random_state=...)`` on
    that set alone, so when scanpy changes its algorithm these scores follow.
:func:`pseudobulk`
    ``scanpy.get.aggregate`` (sum or mean of cells per group, x sample) into an AnnData
    with one observation per group, so that the bulk methods of
    :func:`mgtranscript.tl.score` (GSVA, ssGSEA, ...) and differential tests apply to
    single-cell data without treating cells as independent replicates. mgtranscript adds
    the count checks, ``min_cells``, ``n_cells`` and the group-level ``obs`` columns.
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
    if adata.X is None:
        raise InputDataError("adata.X is empty; pass layer= naming a layer that holds expression.")
    return adata.X, pd.Index(adata.var_names), False


def _column_nanmeans(block: Any) -> np.ndarray:
    """Per-column mean ignoring NaN (NaN for an all-NaN column), sparse-aware."""
    if sparse.issparse(block):
        block = sparse.csc_matrix(block, copy=True)
        nan = np.isnan(block.data)
        col = np.repeat(np.arange(block.shape[1]), np.diff(block.indptr))
        n_nan = np.bincount(col[nan], minlength=block.shape[1])
        block.data[nan] = 0.0
        n = block.shape[0] - n_nan
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(block.sum(axis=0, dtype=np.float64)).ravel() / n
    arr = np.asarray(block, dtype=np.float64)
    n = (~np.isnan(arr)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(arr, axis=0) / n


def _shell(x: Any, obs_names: pd.Index, var_names: pd.Index, obs: pd.DataFrame | None = None) -> AnnData:
    """A bare AnnData around ``x`` (no copy) for scanpy to compute on, so that scanpy
    never writes into the caller's object."""
    import anndata as ad

    obs = pd.DataFrame(index=pd.Index(obs_names, dtype=object)) if obs is None else obs
    return ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=pd.Index(var_names.astype(str), dtype=object)))


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

    For each set, ``scanpy.tl.score_genes`` computes the mean expression of its genes in
    a cell minus the mean of control genes: genes are split into ``n_bins`` bins of
    average expression; from each bin that holds a set gene, ``ctrl_size`` genes are
    drawn at random (set genes then removed). scanpy re-seeds NumPy's global RNG with
    ``random_state`` for each set, so every set's score equals
    ``sc.tl.score_genes(adata, set_genes, ctrl_size=ctrl_size, n_bins=n_bins,
    random_state=random_state, use_raw=use_raw, layer=layer)``; the caller's global
    RNG state is restored afterwards.

    Parameters
    ----------
    adata
        Cells x genes, log-normalised expression (``adata.raw`` is used when present,
        like scanpy). Sparse matrices are never densified.
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
        ``f"{key_added}_{set}"`` per set and ``adata.uns[key_added]`` the parameters
        (with the scanpy version that computed the scores) and the coverage table.
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
        Not an AnnData (a MuData: pass ``mdata.mod["rna"]``), bad parameters, missing
        layer/raw, a set gene without finite values, or no control genes for a set.
    GeneSetError
        No set overlaps the data's genes.

    Notes
    -----
    scanpy computes every gene's average expression once per set; for many sets on a
    very large matrix, score a subset of sets per call or use
    :func:`mgtranscript.tl.score` with ``method="mean"``.

    Examples
    --------
    >>> import scanpy as sc, mgtranscript as mg              # doctest: +SKIP
    >>> adata = sc.datasets.pbmc68k_reduced()                  # doctest: +SKIP
    >>> mg.tl.score_cells(adata, {"T": ["CD3D", "CD3E", "IL7R"]})  # doctest: +SKIP
    >>> adata.obs["mg_cells_T"]                                # doctest: +SKIP
    """
    import scanpy as sc

    from mgtranscript import genesets
    from .._store import check_anndata, finish, start, store
    from ._runner import describe_spec

    check_anndata(adata, "score_cells")
    for name, value, low in (("ctrl_size", ctrl_size, 1), ("n_bins", n_bins, 2), ("min_size", min_size, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise InputDataError(f"{name} must be an integer >= {low}; got {value!r}.")
    if random_state is not None and (
        not isinstance(random_state, (int, np.integer)) or isinstance(random_state, bool)
    ):
        raise InputDataError(
            f"random_state must be an integer seed or None (scanpy re-seeds NumPy's global RNG); "
            f"got {type(random_state).__name__}."
        )
    adata = start(adata, "score_cells", key_added=key_added, copy=copy)
    x, var_names, used_raw = _cell_matrix(adata, layer, use_raw)
    if not var_names.is_unique:
        raise InputDataError(
            "Gene names are not unique; call adata.var_names_make_unique() (or "
            "adata.raw.var_names) before scoring."
        )
    if int(np.round(len(var_names) / (n_bins - 1))) < 1:
        raise InputDataError(
            f"Only {len(var_names)} genes for n_bins={n_bins}; lower n_bins (scanpy needs at "
            "least n_bins - 1 genes)."
        )

    sets, coverage = genesets.match(gene_sets, var_names, min_size=min_size)

    # a set gene without a finite mean (all NaN, or inf) has no expression bin and scanpy
    # fails with a bare KeyError; name the genes instead (only the set columns are read)
    set_cols = np.unique(np.concatenate([np.asarray(v, dtype=np.intp) for v in sets.values()]))
    bad = var_names[set_cols[~np.isfinite(_column_nanmeans(x[:, set_cols]))]]
    if len(bad):
        raise InputDataError(
            f"genes {list(bad[:5])} have no finite mean expression (all NaN, or inf values); "
            "drop them or impute before scoring."
        )

    shell = _shell(x, adata.obs_names, var_names)
    scores: dict[str, np.ndarray] = {}
    rng_state = np.random.get_state()
    try:
        for name, idx in sets.items():
            genes = list(var_names[idx].astype(str))
            try:
                sc.tl.score_genes(
                    shell, genes, ctrl_size=ctrl_size, n_bins=n_bins, random_state=random_state,
                    score_name="score", use_raw=False,
                )
            except RuntimeError as exc:  # scanpy: "No control genes found in any cut."
                raise InputDataError(
                    f"No control genes for set {name!r} ({exc}): its genes fill their "
                    "expression bins. Lower n_bins or score against more genes."
                ) from exc
            scores[name] = shell.obs["score"].to_numpy(dtype=np.float64, copy=True)
    finally:
        np.random.set_state(rng_state)

    df = pd.DataFrame(scores, index=adata.obs_names, dtype=np.float64)
    adata.obsm[key_added] = df
    for name in df.columns:
        adata.obs[f"{key_added}_{name}"] = df[name].to_numpy()

    store(adata, key_added, "score_cells", {
        "method": "score_genes",
        "ctrl_size": int(ctrl_size),
        "n_bins": int(n_bins),
        "random_state": -1 if random_state is None else int(random_state),
        "layer": "" if layer is None else layer,
        "use_raw": bool(used_raw),
        "min_size": int(min_size),
        "gene_sets": describe_spec(gene_sets),
        "scanpy_version": _version("scanpy"),
        "obs_columns": [f"{key_added}_{name}" for name in df.columns],
    }, coverage=coverage)
    logger.info("scored %d set(s) in %d cells into obsm[%r]", df.shape[1], df.shape[0], key_added)
    return finish(adata, copy)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


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
        Profiles x genes, ``X`` dense float64 (``scanpy.get.aggregate``'s sums or
        means); ``obs`` has the ``groupby`` (and
        ``sample_key``) columns, ``n_cells``, and every other ``obs`` column that is
        constant within each profile (e.g. a donor's disease state); ``var`` is copied;
        ``uns["pseudobulk"]["params"]`` records the parameters
        (:func:`mgtranscript.get.params` ``(pb, "pseudobulk")``).

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
    import scanpy as sc

    from .._store import check_anndata

    check_anndata(adata, "pseudobulk")
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
    # the sums/means: scanpy.get.aggregate over one categorical whose categories are the
    # kept profiles; cells left out (missing keys, groups below min_cells) go to one extra
    # category whose row is discarded (aggregate's mask= would sum in float32)
    keep = np.flatnonzero(~small)
    dropped = "\x00dropped"
    group_of_cell = np.full(adata.n_obs, n_groups, dtype=np.intp)
    group_of_cell[cell_idx] = inverse
    group_of_cell[np.isin(group_of_cell, np.flatnonzero(small))] = n_groups
    remap = np.full(n_groups + 1, len(keep), dtype=np.intp)
    remap[keep] = np.arange(len(keep))
    categories = [str(labels[g]) for g in keep] + [dropped]
    grouping = pd.Categorical.from_codes(remap[group_of_cell], categories=categories)
    shell = _shell(x, adata.obs_names, pd.Index(var.index),
                   obs=pd.DataFrame({"_pb": grouping}, index=pd.Index(adata.obs_names, dtype=object)))
    res = sc.get.aggregate(shell, by="_pb", func=func)
    agg = res[categories[:-1]].layers[func]
    agg = np.asarray(agg.toarray() if sparse.issparse(agg) else agg, dtype=np.float64)
    n_cells = counts[keep]

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
    pb.uns["pseudobulk"] = {"params": {
        "function": "pseudobulk",
        "groupby": keys[: len(keys) - (sample_key is not None)],
        "sample_key": "" if sample_key is None else sample_key,
        "layer": "X" if layer is None else layer,
        "func": func,
        "min_cells": int(min_cells),
    }}
    logger.info("pseudobulk: %d profiles from %d cells", pb.n_obs, int(n_cells.sum()))
    return pb
