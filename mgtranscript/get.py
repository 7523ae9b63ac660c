"""Tidy tables out of an AnnData scored by mgtranscript (scanpy's ``sc.get`` style)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from .errors import InputDataError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["scores", "coverage", "params"]


def _score_keys(adata: AnnData) -> list[str]:
    return [k for k in adata.obsm if isinstance(adata.uns.get(k), dict) and "params" in adata.uns[k]]


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
    entry = adata.uns.get(key)
    if not isinstance(entry, dict) or "coverage" not in entry:
        raise InputDataError(
            f"no coverage under adata.uns[{key!r}]; scored keys: {', '.join(_score_keys(adata)) or '(none)'}"
        )
    return pd.DataFrame(entry["coverage"]).copy()


def params(adata: AnnData, key: str = "mg_ssgsea") -> dict:
    """The parameters recorded by a scoring call.

    Parameters
    ----------
    adata
        A scored AnnData.
    key
        The ``key_added`` of the scoring call (default ``"mg_ssgsea"``).

    Returns
    -------
    A dict: method, options (defaults filled in), layer, set sizes, gene-set spec and the
    package version.
    """
    entry = adata.uns.get(key)
    if not isinstance(entry, dict) or "params" not in entry:
        raise InputDataError(
            f"no parameters under adata.uns[{key!r}]; scored keys: {', '.join(_score_keys(adata)) or '(none)'}"
        )
    return dict(entry["params"])
