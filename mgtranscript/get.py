"""Tidy tables out of an AnnData analysed by mgtranscript (scanpy's ``sc.get`` style).

Every :mod:`mgtranscript.tl` tool that takes an AnnData stores its results in it under one
shape: ``adata.uns[key] = {"params": {...}, <table name>: DataFrame, ...}``, with
``params["function"]`` naming the tool. The getters here read them back, one per tool
(:func:`compare`, :func:`trend`, :func:`de`, :func:`correlate`, :func:`coupling`,
:func:`design`, :func:`survival`, :func:`marker_coherence`, :func:`sex`), plus
:func:`scores` / :func:`coverage` for the scoring tools, :func:`params` for any of them and
:func:`table` for any named table. They return copies, and say what is there when the key is
missing or was written by another tool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

from .errors import InputDataError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["scores", "coverage", "params", "table", "compare", "trend", "de", "correlate", "coupling", "design",
           "survival", "marker_coherence", "sex"]

#: The tl tool that wrote an entry (``params["function"]``) -> the getter that reads it.
GETTERS = {
    "score": "scores", "mg_balance": "scores", "score_cells": "scores", "composition": "scores",
    "compare": "compare", "trend": "trend", "de": "de", "correlate": "correlate", "correlate_cells": "correlate",
    "coupling": "coupling", "design_check": "design", "survival": "survival",
    "marker_coherence": "marker_coherence", "infer_sex": "sex", "pseudobulk": "params",
}  # fmt: skip


def _check(adata: Any, getter: str) -> None:
    from anndata import AnnData

    if not isinstance(adata, AnnData):
        raise InputDataError(f"mg.get.{getter} reads an AnnData, not a {type(adata).__name__}")


def _written(adata: AnnData) -> dict[str, str]:
    """uns key -> the tool that wrote it, for every entry of the mgtranscript shape."""
    out = {}
    for k, v in adata.uns.items():
        if isinstance(v, Mapping) and isinstance(v.get("params"), Mapping):
            out[str(k)] = str(v["params"].get("function", "") or "?")
    return out


def _listing(adata: AnnData) -> str:
    found = _written(adata)
    return ", ".join(f"{k!r} (tl.{f})" for k, f in found.items()) or "(none)"


def _score_keys(adata: AnnData) -> list[str]:
    return [k for k in adata.obsm if isinstance(adata.uns.get(k), Mapping) and "params" in adata.uns[k]]


def _entry(adata: Any, key: str, functions: tuple[str, ...], getter: str) -> Mapping:
    """``adata.uns[key]`` when it has the writers' shape and one of ``functions`` wrote it
    (any tool when ``functions`` is empty); else an error saying what is there."""
    _check(adata, getter)
    if not isinstance(key, str):
        raise InputDataError(f"mg.get.{getter}: key must be a string (the key_added of the tool), got {key!r}")
    tool = f"tl.{functions[0]}" if functions else "an mgtranscript.tl tool"
    entry = adata.uns.get(key)
    if entry is None:
        raise InputDataError(
            f"adata.uns has no {key!r}: run {tool}(adata, ..., key_added={key!r}) first, or pass key= the "
            f"key_added it ran with. Results in adata.uns: {_listing(adata)}"
        )
    if not isinstance(entry, Mapping) or not isinstance(entry.get("params"), Mapping):
        raise InputDataError(
            f"adata.uns[{key!r}] is not a result of an mgtranscript tool (no 'params'); results in adata.uns: "
            f"{_listing(adata)}"
        )
    func = str(entry["params"].get("function", "") or "")
    if functions and func and func not in functions:
        raise InputDataError(
            f"adata.uns[{key!r}] was written by tl.{func}, not by {' or '.join(f'tl.{f}' for f in functions)}: "
            f"read it with mg.get.{GETTERS.get(func, 'params')}(adata, {key!r})"
        )
    return entry


def _table(entry: Mapping, key: str, name: str) -> pd.DataFrame:
    names = [str(k) for k in entry if k != "params"]
    if name == "params" or name not in entry:
        raise InputDataError(
            f"adata.uns[{key!r}] has no table {name!r}; its tables: {', '.join(map(repr, names)) or '(none)'}"
        )
    return pd.DataFrame(entry[name]).copy()


def scores(adata: AnnData, key: str = "mg_ssgsea", *, obs: str | Sequence[str] | bool | None = None) -> pd.DataFrame:
    """Scores written by :func:`mgtranscript.tl.score` as a samples x sets DataFrame.

    Parameters
    ----------
    adata
        A scored AnnData.
    key
        The ``key_added`` of the scoring call (default ``"mg_ssgsea"``). A column of
        ``adata.obs`` (e.g. ``"mg_balance"``) also works.
    obs
        ``adata.obs`` column(s) to join (e.g. ``"group"``), or ``True`` for all of them.

    Returns
    -------
    A float copy, indexed by ``obs_names``, with string column names.
    """
    if key in adata.obsm:
        val = adata.obsm[key]
        if isinstance(val, pd.DataFrame):
            df = val.copy()
        else:
            arr = np.asarray(val.toarray() if sparse.issparse(val) else val)
            if arr.ndim != 2:
                raise InputDataError(f"adata.obsm[{key!r}] must be 2-D (samples x sets).")
            df = pd.DataFrame(arr, columns=[f"{key}_{i}" for i in range(arr.shape[1])])
        df.index = adata.obs_names
        df.columns = df.columns.astype(str)
        df = df.apply(pd.to_numeric, errors="coerce").astype(float)
    elif key in adata.obs.columns:
        df = adata.obs[[key]].copy()
    else:
        found = _score_keys(adata) or list(adata.obsm)
        raise InputDataError(
            f"no scores under {key!r}; adata has: {', '.join(found) or '(none)'}. "
            "Run mgtranscript.tl.score(adata, ...) first, or pass key= its key_added"
        )
    if obs is None or obs is False:
        return df
    cols = list(adata.obs.columns) if obs is True else ([obs] if isinstance(obs, str) else list(obs))
    missing = [c for c in cols if c not in adata.obs.columns]
    if missing:
        raise InputDataError(
            f"obs column(s) {missing} not found; adata.obs has: {', '.join(map(str, adata.obs.columns))}"
        )
    clash = [c for c in cols if c in df.columns]
    if clash:
        raise InputDataError(f"obs column(s) {clash} have the same name as score columns; rename them first")
    return df.join(adata.obs[cols])


def coverage(adata: AnnData, key: str = "mg_ssgsea") -> pd.DataFrame:
    """The gene-set coverage table of a scoring call.

    Parameters
    ----------
    adata
        A scored AnnData.
    key
        The ``key_added`` of the scoring call (default ``"mg_ssgsea"``).

    Returns
    -------
    One row per set (see :func:`mgtranscript.genesets.match` for the columns): genes in the
    set, matched, resolved through an alias, missing, and whether the set was kept.
    """
    entry = _entry(adata, key, ("score", "mg_balance", "score_cells", "composition"), "coverage")
    return _table(entry, key, "coverage")


def params(adata: AnnData, key: str = "mg_ssgsea") -> dict:
    """The parameters recorded by a tool (any :mod:`mgtranscript.tl` writer).

    Parameters
    ----------
    adata
        An AnnData a tool wrote into.
    key
        The ``key_added`` of the call (default ``"mg_ssgsea"``, the scores of
        :func:`mgtranscript.tl.score`).

    Returns
    -------
    A dict: ``function`` (the tool, e.g. ``"score"``) and its parameters; for the scores the
    method, options (defaults filled in), layer, set sizes, gene-set spec and the package
    version.
    """
    return dict(_entry(adata, key, (), "params")["params"])


def table(adata: AnnData, key: str, name: str) -> pd.DataFrame:
    """Any named table a tool stored under ``adata.uns[key]`` (a copy).

    Parameters
    ----------
    adata
        An AnnData a tool wrote into.
    key
        The ``key_added`` of the call.
    name
        The table's name in ``adata.uns[key]`` (``"table"``, ``"coverage"``, ``"summary"``,
        ``"km"``, ``"samples"``, ``"pairs"``, ``"genes"``, ...).

    Returns
    -------
    pandas.DataFrame
    """
    return _table(_entry(adata, key, (), "table"), key, name)


def compare(adata: AnnData, key: str = "compare") -> pd.DataFrame:
    """The table of :func:`mgtranscript.tl.compare` (a copy).

    Parameters
    ----------
    adata
        An AnnData on which :func:`mgtranscript.tl.compare` ran.
    key
        Its ``key_added`` (default ``"compare"``).

    Returns
    -------
    pandas.DataFrame
        One row per feature and group: :data:`mgtranscript.tl.COMPARE_COLUMNS` (and
        :data:`~mgtranscript.tl.ADJUSTED_COLUMNS` with covariates).
    """
    return _table(_entry(adata, key, ("compare",), "compare"), key, "table")


def trend(adata: AnnData, key: str = "trend") -> pd.DataFrame:
    """The table of :func:`mgtranscript.tl.trend` (a copy).

    Parameters
    ----------
    adata
        An AnnData on which :func:`mgtranscript.tl.trend` ran.
    key
        Its ``key_added`` (default ``"trend"``).

    Returns
    -------
    pandas.DataFrame
        One row per feature: :data:`mgtranscript.tl.TREND_COLUMNS`.
    """
    return _table(_entry(adata, key, ("trend",), "trend"), key, "table")


def de(adata: AnnData, key: str = "de") -> pd.DataFrame:
    """The table of :func:`mgtranscript.tl.de` (a copy).

    Parameters
    ----------
    adata
        An AnnData on which :func:`mgtranscript.tl.de` ran.
    key
        Its ``key_added`` (default ``"de"``).

    Returns
    -------
    pandas.DataFrame
        One row per gene: ``gene``, ``log2fc``, ``se``, ``stat``, ``pval``, ``padj``,
        ``ave_expr``, ``B``, ``df_total``.
    """
    return _table(_entry(adata, key, ("de",), "de"), key, "table")


def correlate(adata: AnnData, key: str = "correlate") -> pd.DataFrame:
    """The table of :func:`mgtranscript.tl.correlate` or :func:`mgtranscript.tl.correlate_cells`.

    Parameters
    ----------
    adata
        An AnnData on which one of them ran.
    key
        Its ``key_added`` (default ``"correlate"``; ``"correlate_cells"`` is the default of
        :func:`~mgtranscript.tl.correlate_cells`).

    Returns
    -------
    pandas.DataFrame
        :data:`mgtranscript.tl.CORRELATE_COLUMNS`, the reported row of each pair first (a copy).
    """
    return _table(_entry(adata, key, ("correlate", "correlate_cells"), "correlate"), key, "table")


def coupling(adata: AnnData, key: str = "coupling") -> pd.DataFrame:
    """The table of :func:`mgtranscript.tl.coupling` (a copy).

    Parameters
    ----------
    adata
        An AnnData on which :func:`mgtranscript.tl.coupling` ran.
    key
        Its ``key_added`` (default ``"coupling"``).

    Returns
    -------
    pandas.DataFrame
        One row per Mg set, mechanism set and group: :data:`mgtranscript.tl.COUPLING_COLUMNS`.
    """
    return _table(_entry(adata, key, ("coupling",), "coupling"), key, "table")


def design(adata: AnnData, key: str = "design_check", *, table: str = "table") -> pd.DataFrame:
    """A table of the design audit :func:`mgtranscript.tl.design_check` (a copy).

    Parameters
    ----------
    adata
        An AnnData on which :func:`mgtranscript.tl.design_check` ran.
    key
        Its ``key_added`` (default ``"design_check"``).
    table
        ``"table"`` (one row per check, :data:`mgtranscript.tl.DESIGN_COLUMNS`), ``"samples"``
        (per sample: library size, inferred sex, ...; :data:`~mgtranscript.tl.SAMPLE_COLUMNS`)
        or ``"pairs"`` (paired designs: per pair, :data:`~mgtranscript.tl.PAIR_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        The flagged rows' caveats joined are in ``params(adata, key)["caveat"]``.
    """
    return _table(_entry(adata, key, ("design_check",), "design"), key, table)


def survival(adata: AnnData, key: str = "survival", *, table: str = "summary") -> pd.DataFrame:
    """A table of :func:`mgtranscript.tl.survival` (a copy).

    Parameters
    ----------
    adata
        An AnnData on which :func:`mgtranscript.tl.survival` ran.
    key
        Its ``key_added`` (default ``"survival"``).
    table
        ``"summary"`` (one row per feature: log-rank, Cox HR per SD, adjusted HR, ...) or
        ``"km"`` (the Kaplan-Meier curves, tidy).

    Returns
    -------
    pandas.DataFrame
    """
    return _table(_entry(adata, key, ("survival",), "survival"), key, table)


def marker_coherence(adata: AnnData, key: str = "marker_coherence") -> pd.DataFrame:
    """The table of :func:`mgtranscript.tl.marker_coherence` (a copy).

    Parameters
    ----------
    adata
        An AnnData on which :func:`mgtranscript.tl.marker_coherence` ran.
    key
        Its ``key_added`` (default ``"marker_coherence"``).

    Returns
    -------
    pandas.DataFrame
        One row per set, marker and stratum: :data:`mgtranscript.tl.COHERENCE_COLUMNS`.
    """
    return _table(_entry(adata, key, ("marker_coherence",), "marker_coherence"), key, "table")


def sex(adata: AnnData, key: str = "infer_sex") -> pd.DataFrame:
    """The table of :func:`mgtranscript.tl.infer_sex` (a copy).

    Parameters
    ----------
    adata
        An AnnData on which :func:`mgtranscript.tl.infer_sex` ran.
    key
        Its ``key_added`` (default ``"infer_sex"``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``obs_names``: ``chrY``, ``XIST``, ``inferred_sex``, ``sex_detail``,
        ``chrY_state``, ``XIST_state``, ``scale``.
    """
    return _table(_entry(adata, key, ("infer_sex",), "sex"), key, "table")
