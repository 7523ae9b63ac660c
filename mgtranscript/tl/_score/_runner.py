"""The engine behind :func:`mgtranscript.tl.score`: method registry, input checks,
gene-set matching, chunked evaluation (NumPy, SciPy sparse, backed h5ad, dask) and
writing results.

A scoring method is a module with a pure function ``<name>_matrix(X, sets, **options)``
(``X`` samples x genes float64, ``sets`` name -> column indices; returns samples x sets)
and the constants

``SAMPLE_INDEPENDENT``
    a sample's score does not depend on the other samples, so the matrix can be scored
    in sample chunks (bounded memory, dask/cluster friendly);
``NEEDS_ALL_GENES`` (default True)
    the method ranks all genes of a sample; when False only the set genes' columns are
    read.

Optional hooks: ``chunk_plan(options) -> (chunk_options, finaliser)`` (a method that is
sample-independent except for a final global step, e.g. ssGSEA's range normalisation)
and ``prepare(sets, options) -> (sets, options)`` (e.g. singscore pairs ``_UP``/``_DN``).

Large inputs
------------
``adata.X`` (or the layer) may be a dask array or a backed dataset
(``anndata.read_h5ad(path, backed="r")``). Sample-independent methods then score chunks
of ``chunk_size`` samples (all genes of those samples, since ranking needs them); with a
dask array each chunk is a dask task, so the computation runs on whatever scheduler is
active (e.g. a ``dask.distributed.Client``). Methods that need all samples but only the
set genes (zscore, plage) read just those columns, chunk by chunk. Methods that need the
whole matrix (gsva) refuse lazy input with an error explaining how to load it.
Results are identical to the in-memory path.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..._settings import settings
from ...errors import GeneSetError, InputDataError, MgTranscriptError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

log = logging.getLogger(__name__)

#: method name -> module implementing ``<name>_matrix``
METHODS: dict[str, str] = {
    "ssgsea": "mgtranscript.tl._score.ssgsea",
    "gsva": "mgtranscript.tl._score.gsva",
    "zscore": "mgtranscript.tl._score.zscore",
    "plage": "mgtranscript.tl._score.plage",
    "singscore": "mgtranscript.tl._score.singscore",
    "mean": "mgtranscript.tl._score.mean",
}

#: options a method's function takes that the runner fills itself (never from the user)
INTERNAL_OPTIONS = {"down_sets"}

#: default chunk: about this many matrix entries (float64) per chunk
_CHUNK_ENTRIES = 10_000_000  # 500 samples x 20,000 genes: ~1.2 GB peak RSS out of core


# --------------------------------------------------------------------------- methods


def get_method(method: str) -> tuple[ModuleType, Callable[..., np.ndarray]]:
    """The module and ``<method>_matrix`` function of a registered method."""
    if not isinstance(method, str) or method not in METHODS:
        raise MgTranscriptError(
            f"unknown scoring method {method!r}; choose one of: {', '.join(METHODS)}"
        )
    try:
        mod = importlib.import_module(METHODS[method])
    except ModuleNotFoundError as exc:
        if exc.name != METHODS[method]:
            raise
        raise MgTranscriptError(
            f"scoring method {method!r} is registered but its module {METHODS[method]} is not "
            f"installed in this build; use another method ({', '.join(m for m in METHODS if m != method)})"
        ) from exc
    func = getattr(mod, f"{method}_matrix")
    return mod, func


def _flags(mod: ModuleType) -> tuple[bool, bool]:
    return bool(getattr(mod, "SAMPLE_INDEPENDENT", False)), bool(getattr(mod, "NEEDS_ALL_GENES", True))


# --------------------------------------------------------------------------- matrices


def _is_dask(X: Any) -> bool:
    try:
        import dask.array as da
    except ImportError:  # pragma: no cover
        return False
    return isinstance(X, da.Array)


def _is_lazy(X: Any) -> bool:
    """Backed (h5py / anndata on-disk sparse) matrices are read in slices."""
    if _is_dask(X) or isinstance(X, np.ndarray):
        return False
    mod = type(X).__module__
    return mod.startswith("h5py") or "sparse_dataset" in mod or "anndata" in mod or "zarr" in mod


def get_matrix(adata: AnnData, layer: str | None) -> Any:
    """``adata.X`` or ``adata.layers[layer]`` with a clear error if missing."""
    if layer is None:
        X = adata.X
        if X is None:
            raise InputDataError("adata.X is empty; pass layer= naming a layer that holds expression")
        return X
    if layer not in adata.layers:
        raise InputDataError(
            f"layer {layer!r} not found; adata has layers: {', '.join(adata.layers) or '(none)'}"
        )
    return adata.layers[layer]


def _to_dense(block: Any) -> np.ndarray:
    if hasattr(block, "toarray"):
        block = block.toarray()
    return np.asarray(block, dtype=np.float64)


def _read_rows(X: Any, start: int, stop: int, cols: np.ndarray | None) -> np.ndarray:
    block = X[start:stop]
    if cols is not None:
        block = block[:, cols]
    return _to_dense(block)


def default_chunk_size(n_obs: int, n_cols: int) -> int:
    return int(max(1, min(max(n_obs, 1), _CHUNK_ENTRIES // max(n_cols, 1))))


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    return settings.progress


def check_finite(block: np.ndarray, obs_names: Any, var_names: Any, *, row_offset: int = 0,
                 cols: np.ndarray | None = None, where: str = "the expression matrix") -> None:
    """Raise :class:`InputDataError` naming how many and which entries are NaN/inf."""
    bad = ~np.isfinite(block)
    if not bad.any():
        return
    r, c = np.nonzero(bad)
    gene_idx = cols[c] if cols is not None else c
    examples = ", ".join(
        f"{obs_names[row_offset + i]}/{var_names[j]}" for i, j in zip(r[:5], gene_idx[:5])
    )
    n_nan = int(np.isnan(block).sum())
    raise InputDataError(
        f"{int(bad.sum())} non-finite value(s) ({n_nan} NaN, {int(bad.sum()) - n_nan} inf) in {where} "
        f"(sample/gene: {examples}{', ...' if bad.sum() > 5 else ''}), in {len(np.unique(r))} sample(s) "
        f"and {len(np.unique(c))} gene(s). Fix: drop those genes (e.g. "
        "adata = adata[:, np.isfinite(adata.X).all(axis=0)]) or impute them before scoring"
    )


#: methods whose scores depend on the scale of the values (not only on ranks within a sample),
#: and the option that makes them fit raw counts: they expect log-scale expression
_LOG_SCALE_METHODS = {"gsva": ("kcdf", "gaussian"), "zscore": None, "plage": None, "mean": None}
#: layers holding counts by convention
_COUNT_LAYERS = {"counts", "raw_counts", "raw", "umi_counts"}
#: rows inspected by :func:`check_values` (the first ones; enough to tell counts from logs)
_INSPECT_ROWS = 200


def _declared_scale(adata: AnnData, layer: str | None) -> str:
    """What the data say they hold: ``uns["mgtranscript"]["scale"]`` or a counts layer name."""
    if layer is not None and layer.lower() in _COUNT_LAYERS:
        return "counts"
    try:
        scale = adata.uns["mgtranscript"]["scale"]
    except (KeyError, TypeError):
        return ""
    value = scale.get(layer or "X", "") if isinstance(scale, Mapping) else ""
    return str(value) if value is not None else ""


def check_values(adata: AnnData, layer: str | None, method: str, options: Mapping[str, Any]) -> None:
    """Catch values that cannot be what the method expects, before scoring.

    Looks at the first samples (all of them when few): integer values with negatives
    cannot be counts (an error when the layer is declared to hold counts, else a warning);
    raw counts scored by a method that expects log-scale expression (gsva with the
    Gaussian kernel, zscore, plage, mean) get a warning naming the fix. NaN/inf are
    refused later, block by block, with the cells named (:func:`check_finite`).
    """
    import warnings

    X = get_matrix(adata, layer)
    n = min(adata.n_obs, _INSPECT_ROWS)
    if n == 0 or adata.n_vars == 0:
        return
    block = X[:n]
    if _is_dask(block):
        block = block.compute()
    block = _to_dense(block)
    finite = block[np.isfinite(block)]
    if finite.size == 0:
        return
    where = f"adata.layers[{layer!r}]" if layer is not None else "adata.X"
    integral = bool(np.all(finite == np.round(finite)))
    n_neg = int((finite < 0).sum())
    declared = _declared_scale(adata, layer)
    if n_neg and (declared == "counts" or integral):
        msg = (f"{where} holds {n_neg} negative value(s) (min {finite.min():g}) among "
               f"{'values declared as counts' if declared == 'counts' else 'integer values that look like counts'}; "
               "counts cannot be negative. Fix: check how the matrix was made (a -1 'missing' code?), or score "
               "a log-scale layer with layer=...")
        if declared == "counts":
            raise InputDataError(msg)
        warnings.warn(msg, UserWarning, stacklevel=3)
        return
    if method in _LOG_SCALE_METHODS and integral and not n_neg and finite.max() > 100 and "log" not in declared:
        opt = _LOG_SCALE_METHODS[method]
        if opt is not None and str(options.get(opt[0], opt[1])).lower() != opt[1]:
            return  # e.g. gsva(kcdf="poisson"): made for counts
        fix = ("log-transform first (mgtranscript.pp.log2_cpm(adata, layer='counts') for counts, or "
               "scanpy.pp.normalize_total + scanpy.pp.log1p), or score a log layer with layer=...")
        if method == "gsva":
            fix += ", or pass kcdf='poisson' for counts"
        warnings.warn(
            f"{where} looks like raw counts (integers up to {finite.max():g}), but {method!r} expects "
            f"log-scale expression: its scores would be driven by the most expressed genes. Fix: {fix}",
            UserWarning, stacklevel=3)


def validate_names(adata: AnnData) -> None:
    """Duplicated gene or sample names make scores ambiguous: refuse them."""
    var = pd.Index(adata.var_names)
    if var.has_duplicates:
        dups = var[var.duplicated()].unique()
        raise InputDataError(
            f"{var.duplicated().sum()} duplicated gene name(s) in adata.var_names "
            f"(e.g. {', '.join(map(str, dups[:5]))}); a gene set cannot tell them apart. Fix: "
            "mgtranscript.datasets.harmonise_var(adata) to collapse them, or "
            "adata.var_names_make_unique()"
        )
    obs = pd.Index(adata.obs_names)
    if obs.has_duplicates:
        dups = obs[obs.duplicated()].unique()
        raise InputDataError(
            f"{obs.duplicated().sum()} duplicated sample name(s) in adata.obs_names "
            f"(e.g. {', '.join(map(str, dups[:5]))}); scores are stored per sample name. "
            "Fix: adata.obs_names_make_unique()"
        )


def dense_columns(adata: AnnData, layer: str | None, cols: np.ndarray, *,
                  chunk_size: int | None = None) -> np.ndarray:
    """All samples x the given columns, as float64, read chunk by chunk; checked finite."""
    X = get_matrix(adata, layer)
    cols = np.asarray(cols, dtype=np.intp)
    if _is_dask(X):
        out = _to_dense(X[:, cols].compute())
        check_finite(out, adata.obs_names, adata.var_names, cols=cols)
        return out
    n = adata.n_obs
    step = chunk_size or default_chunk_size(n, X.shape[1])
    out = np.empty((n, cols.size), dtype=np.float64)
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = _read_rows(X, start, stop, cols)
        check_finite(block, adata.obs_names, adata.var_names, row_offset=start, cols=cols)
        out[start:stop] = block
    return out


# --------------------------------------------------------------------------- evaluation


def _remap(sets: Mapping[str, np.ndarray], cols: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.searchsorted(cols, np.asarray(v, dtype=np.intp)) for k, v in sets.items()}


def _score_block(block: Any, func: Callable, sets: Mapping[str, np.ndarray], options: dict,
                 obs_names: np.ndarray, var_names: np.ndarray, cols: np.ndarray | None,
                 block_info: dict | None = None) -> np.ndarray:
    """Score one sample chunk (used directly and as a dask ``map_blocks`` task)."""
    X = _to_dense(block)
    offset = 0
    if block_info is not None and None in block_info:
        offset = block_info[None]["array-location"][0][0]
    check_finite(X, obs_names, var_names, row_offset=offset, cols=cols)
    return np.asarray(func(X, sets, **options), dtype=np.float64)


def evaluate(adata: AnnData, sets: Mapping[str, np.ndarray], method: str, options: dict, *,
             layer: str | None = None, chunk_size: int | None = None,
             progress: bool | None = None) -> np.ndarray:
    """Score ``adata`` (samples x genes) for ``sets`` (name -> var indices); samples x sets.

    The values are checked first (:func:`check_values`): negative counts, raw counts
    given to a method that expects log-scale expression.
    """
    mod, func = get_method(method)
    check_values(adata, layer, method, options)
    independent, all_genes = _flags(mod)
    finaliser = None
    chunk_options = options
    if hasattr(mod, "chunk_plan"):
        chunk_options, finaliser = mod.chunk_plan(options)
    X = get_matrix(adata, layer)
    n_obs, n_var = adata.n_obs, adata.n_vars
    obs_names = np.asarray(adata.obs_names, dtype=object)
    var_names = np.asarray(adata.var_names, dtype=object)

    cols: np.ndarray | None = None
    run_sets: Mapping[str, np.ndarray] = sets
    if not all_genes:
        cols = np.unique(np.concatenate([np.asarray(v, dtype=np.intp) for v in sets.values()])) if sets else np.zeros(0, np.intp)
        run_sets = _remap(sets, cols)
    width = n_var if cols is None else cols.size

    if not independent:
        if cols is None:
            if _is_dask(X) or _is_lazy(X):
                raise InputDataError(
                    f"method {method!r} needs the whole matrix in memory (it compares every gene "
                    "across all samples and every sample across all genes), but adata holds a "
                    "lazy (dask or backed) matrix. Fix: load it (adata = adata.to_memory(), or "
                    "adata.X = adata.X.compute()) or use a sample-independent method such as "
                    "'ssgsea' or 'singscore', which score chunk by chunk"
                )
            dense = _to_dense(X)
            check_finite(dense, obs_names, var_names)
        else:
            dense = dense_columns(adata, layer, cols, chunk_size=chunk_size)
        return np.asarray(func(dense, run_sets, **options), dtype=np.float64)

    step = int(chunk_size) if chunk_size else default_chunk_size(n_obs, width)
    if step < 1:
        raise InputDataError(f"chunk_size must be a positive number of samples, got {chunk_size!r}")
    if _is_dask(X):
        es = _evaluate_dask(X, func, run_sets, chunk_options, obs_names, var_names, cols, step, progress)
    else:
        es = np.empty((n_obs, len(run_sets)), dtype=np.float64)
        starts = list(range(0, n_obs, step))
        for start in _bar(starts, method, progress):
            stop = min(n_obs, start + step)
            block = _read_rows(X, start, stop, cols)
            check_finite(block, obs_names, var_names, row_offset=start, cols=cols)
            es[start:stop] = func(block, run_sets, **chunk_options)
    if finaliser is not None:
        es = finaliser(es)
    return es


def _bar(items: list, method: str, progress: bool | None) -> Iterator:
    if len(items) <= 1 or not _progress_enabled(progress):
        return iter(items)
    from tqdm.auto import tqdm

    return iter(tqdm(items, desc=f"{method} (sample chunks)", unit="chunk", leave=False))


def _evaluate_dask(X: Any, func: Callable, sets: Mapping[str, np.ndarray], options: dict,
                   obs_names: np.ndarray, var_names: np.ndarray, cols: np.ndarray | None,
                   step: int, progress: bool | None) -> np.ndarray:
    """One dask task per sample chunk; runs on the active scheduler (local or distributed)."""
    import dask

    if cols is not None:
        X = X[:, cols]
    X = X.rechunk({0: step, 1: -1})
    n_sets = len(sets)
    out = X.map_blocks(
        _score_block,
        func,
        dict(sets),
        options,
        obs_names,
        var_names,
        cols,
        dtype=np.float64,
        chunks=(X.chunks[0], (n_sets,)),
        meta=np.empty((0, 0), dtype=np.float64),
    )
    blocks = out.to_delayed().ravel().tolist()
    if len(blocks) <= 1 or not _progress_enabled(progress):
        parts = dask.compute(*blocks)
    else:
        parts = []
        batch = max(1, (os.cpu_count() or 1))
        for i in _bar(list(range(0, len(blocks), batch)), "dask", progress):
            parts.extend(dask.compute(*blocks[i:i + batch]))
    if not parts:
        return np.empty((0, n_sets))
    return np.vstack(parts)


# --------------------------------------------------------------------------- gene sets


def expand_directional(gene_sets: Any) -> Any:
    """``{"NAME": (up, down)}`` -> ``{"NAME_UP": up, "NAME_DN": down}`` (other values untouched)."""
    if not isinstance(gene_sets, Mapping) or type(gene_sets).__name__ == "GeneSets":
        return gene_sets
    out: dict[str, Any] = {}
    for name, genes in gene_sets.items():
        if (isinstance(genes, tuple) and len(genes) == 2
                and all(not isinstance(part, str) and hasattr(part, "__iter__") for part in genes)):
            out[f"{name}_UP"] = list(genes[0])
            out[f"{name}_DN"] = list(genes[1])
        else:
            out[name] = genes
    return out


def describe_spec(spec: Any) -> str:
    """A short, storable description of a gene-set spec."""
    if isinstance(spec, (str, os.PathLike)):
        return str(spec)
    if isinstance(getattr(spec, "spec", None), str):  # a GeneSets remembers its spec
        return str(spec.spec)
    if isinstance(spec, pd.DataFrame):
        return f"DataFrame({spec['set'].nunique() if 'set' in spec else '?'} sets)"
    if isinstance(spec, Mapping):
        names = list(spec)
        head = ", ".join(map(str, names[:5]))
        return f"{type(spec).__name__}({len(names)} sets: {head}{', ...' if len(names) > 5 else ''})"
    return type(spec).__name__


def match_sets(gene_sets: Any, var_names: Any, *, min_size: int = 1,
               max_size: int | None = None) -> tuple[dict[str, np.ndarray], pd.DataFrame, Any]:
    """Load ``gene_sets`` (any spec :func:`mgtranscript.genesets.load` takes) and match them."""
    from ... import genesets

    gs = genesets.load(expand_directional(gene_sets))
    matched, coverage = genesets.match(gs, pd.Index(var_names), min_size=min_size, max_size=max_size)
    if not matched:
        raise GeneSetError(
            f"no gene set is left to score after filtering (min_size={min_size}, max_size={max_size}); "
            "lower min_size or raise max_size. Coverage:\n"
            + coverage[["n_genes", "n_matched", "final_size", "reason"]].to_string()
        )
    return {k: np.asarray(v, dtype=np.intp) for k, v in matched.items()}, coverage, gs
