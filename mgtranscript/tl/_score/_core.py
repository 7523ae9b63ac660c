"""The scoring entry point: :func:`mgtranscript.tl.score` (any registered method)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...errors import InputDataError
from .._store import check_anndata, finish, start, store
from . import _methods, _runner

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

log = logging.getLogger(__name__)

__all__ = ["score"]


def score(
    adata: AnnData,
    gene_sets: Any = "magnesium",
    *,
    method: str = "ssgsea",
    layer: str | None = None,
    key_added: str | None = None,
    obs: bool = False,
    min_size: int = 1,
    max_size: int | None = None,
    copy: bool = False,
    progress: bool | None = None,
    chunk_size: int | None = None,
    **method_options: Any,
) -> AnnData | None:
    """Score gene sets in every sample.

    Parameters
    ----------
    adata
        Samples x genes. ``X`` (or ``layers[layer]``) may be a NumPy array, a SciPy
        sparse matrix, a dask array, or a backed dataset (``read_h5ad(..., backed="r")``).
        Gene names (``var_names``) must match the gene sets' identifiers (symbols for the
        bundled Mg sets) and be unique.
    gene_sets
        Anything :func:`mgtranscript.genesets.load` accepts: ``"magnesium"`` (default:
        the liver-relevant Mg sub-sets), ``"magnesium:MG_LIVER_CORE"``, a GMT path, an
        MSigDB collection name (``"hallmark"``, ``"reactome"``, ...), a dict
        name -> genes, a long DataFrame (``set``, ``gene``; or a decoupler network's
        ``source``, ``target``) or a ``GeneSets``. A dict value may be a
        ``(up_genes, down_genes)`` tuple: it becomes sets ``NAME_UP`` and ``NAME_DN``,
        which ``method="singscore"`` scores as one up/down signature ``NAME``.
    method
        ``"ssgsea"`` (default), ``"gsva"``, ``"zscore"``, ``"plage"``, ``"singscore"`` or
        ``"mean"``; see the module of each (``mgtranscript.tl._score.<method>``) for the maths.
        Methods marked sample-independent (ssgsea unnormalised, singscore, mean) give a
        sample the same score whatever else is scored with it.
    layer
        Use ``adata.layers[layer]`` instead of ``adata.X``.
    key_added
        Where to write; default ``"mg_" + method`` (e.g. ``"mg_ssgsea"``).
    obs
        Also write one ``adata.obs`` column per set, ``f"{key_added}_{set}"`` (e.g.
        ``"mg_gsva_MG_LIVER_CORE"``), so that scanpy's plots take the scores directly:
        ``sc.pl.violin(adata, keys=[...], groupby=...)``, ``sc.pl.umap(adata,
        color=...)``. Default ``False``: the scores live in ``obsm[key_added]`` only, so a
        collection of hundreds of sets (Reactome, GO) does not flood ``obs``. Columns a
        previous ``obs=True`` call wrote under the same ``key_added`` are replaced, not
        left stale.
    min_size, max_size
        Keep sets with at least / at most this many genes found in the data.
    copy
        Return a scored copy instead of writing into ``adata``.
    progress
        Progress bar over sample chunks (default: ``settings.progress``).
    chunk_size
        Samples per chunk for sample-independent methods (default: about 25 million
        matrix entries per chunk). Results do not depend on it.
    **method_options
        The method's own options, keyword-only arguments of its ``<method>_matrix``
        function; :func:`score_methods` lists them as a table with defaults and
        descriptions. Options of another method, unknown names and values of the wrong
        type raise an error listing the valid ones. The options are:

        ``ssgsea``
            ``alpha=0.25`` (weight exponent of the set genes' ranks), ``normalize=False``
            (divide by the range of all scores, GSVA ``ssgsea.norm``), ``ties="average"``
            (or ``"gsva"``: GSVA 1.46 exactly), ``n_jobs=None`` (ranking threads).
        ``gsva``
            ``kcdf="gaussian"`` (or ``"poisson"`` for counts, ``"none"``),
            ``mx_diff=True``, ``abs_ranking=False``, ``tau=1.0``, ``chunk_genes=None``,
            ``use_dask=None``.
        ``plage``
            ``orient=True`` (sign the score to follow the set's mean z-score).
        ``singscore``
            ``center=True`` (subtract 0.5 from each part), ``n_jobs=None``.
        ``zscore``, ``mean``
            No options.

    Returns
    -------
    The scored copy when ``copy=True``, else ``None``. Writes

    ``adata.obsm[key_added]``
        DataFrame, samples x sets, indexed by ``obs_names``.
    ``adata.obs[f"{key_added}_{set}"]``
        With ``obs=True``: the same scores, one float column per set.
    ``adata.uns[key_added]``
        ``{"params": {...}, "coverage": DataFrame}``: the method, its options (with
        defaults filled in), layer, sizes, gene-set spec and package version; and per set
        how many genes were found, resolved through aliases or missing (see
        :func:`mgtranscript.genesets.match`). Retrieve with
        :func:`mgtranscript.get.scores` and :func:`mgtranscript.get.coverage`.

    Examples
    --------
    >>> import mgtranscript as mg
    >>> mg.tl.score(adata)                                  # doctest: +SKIP
    >>> adata.obsm["mg_ssgsea"]["MG_LIVER_CORE"]            # doctest: +SKIP
    >>> mg.tl.score(adata, "hallmark", method="zscore")     # doctest: +SKIP
    >>> mg.tl.score(adata, method="gsva", obs=True)         # doctest: +SKIP
    >>> sc.pl.violin(adata, keys="mg_gsva_MG_LIVER_CORE", groupby="condition")  # doctest: +SKIP
    """
    from ... import __version__

    check_anndata(adata, "score")
    if not isinstance(obs, (bool, np.bool_)):
        raise InputDataError(f"obs must be True or False, got {obs!r}")

    mod, _func = _runner.get_method(method)
    options = _methods.check_options(method, method_options)
    if not isinstance(min_size, (int, np.integer)) or min_size < 1:
        raise InputDataError(f"min_size must be an integer >= 1, got {min_size!r}")
    if max_size is not None and (not isinstance(max_size, (int, np.integer)) or max_size < min_size):
        raise InputDataError(f"max_size must be None or an integer >= min_size ({min_size}), got {max_size!r}")
    key = key_added or f"mg_{method}"
    adata = start(adata, "score", key_added=key, copy=copy)
    _runner.validate_names(adata)
    _runner.get_matrix(adata, layer)  # early, clear error for a missing layer

    sets, coverage, gs = _runner.match_sets(gene_sets, adata.var_names, min_size=min_size, max_size=max_size)
    run_options = dict(options)
    if hasattr(mod, "prepare"):
        sets, run_options = mod.prepare(sets, run_options)
    log.info("%s: scoring %d set(s) in %d samples x %d genes", method, len(sets), adata.n_obs, adata.n_vars)
    es = _runner.evaluate(adata, sets, method, run_options, layer=layer, chunk_size=chunk_size, progress=progress)

    scores = pd.DataFrame(es, index=adata.obs_names.copy(), columns=list(sets))
    adata.obsm[key] = scores
    obs_columns = _write_obs(adata, key, scores if obs else None)
    full_options = {**_methods.method_options(method), **options}
    params = {
        "method": method,
        "options": {k: v for k, v in full_options.items() if v is not None},
        "layer": layer,
        "min_size": int(min_size),
        "max_size": None if max_size is None else int(max_size),
        "gene_sets": _runner.describe_spec(gene_sets),
        "gene_sets_version": getattr(gs, "version", None),
        "version": __version__,
        "sample_independent": bool(getattr(mod, "SAMPLE_INDEPENDENT", False))
        and not (method == "ssgsea" and options.get("normalize")),
        "obs_columns": obs_columns or None,
    }
    # h5ad (anndata < 0.12) cannot store None: leave unset parameters out
    store(adata, key, "score", {k: v for k, v in params.items() if v is not None}, coverage=coverage)
    return finish(adata, copy)


def _write_obs(adata: AnnData, key: str, scores: pd.DataFrame | None) -> list[str]:
    """Write one ``obs`` column per set (``{key}_{set}``) unless ``scores`` is None.

    Columns an earlier ``obs=True`` call recorded under the same key are removed first:
    they would hold the previous scores, out of step with ``obsm[key]``.
    """
    prev = adata.uns.get(key)
    previous = prev.get("params", {}).get("obs_columns", []) if isinstance(prev, Mapping) else []
    stale = [str(c) for c in np.atleast_1d(previous) if str(c) in adata.obs.columns]
    if stale:
        log.info("removing %d obs column(s) of the previous %r scores", len(stale), key)
        adata.obs.drop(columns=stale, inplace=True)
    if scores is None:
        return []
    columns = [f"{key}_{name}" for name in scores.columns]
    for col, name in zip(columns, scores.columns):
        adata.obs[col] = scores[name].to_numpy(dtype=np.float64)
    return columns
