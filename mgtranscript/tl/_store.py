"""The one storage contract of the ``tl`` writers.

A writer takes an AnnData first, computes, and stores its results in it, scanpy style:

``adata.uns[key_added] = {"params": {...}, <name>: DataFrame, ...}``

``params`` is a plain dict (strings, numbers, booleans, lists and dicts of them) that names
the writer (``params["function"]``, e.g. ``"compare"``) and the arguments it ran with; every
other entry is a named table (a DataFrame). Score-like writers also put their scores in
``obsm[key_added]`` / ``obs``. With ``copy=True`` the writer works on a copy and returns it,
else it returns ``None``. Everything stored survives ``write_h5ad`` / ``read_h5ad``: text
columns hold strings only (no ``None`` or NaN among them). :mod:`mgtranscript.get` reads the
tables back (``get.compare(adata)``, ``get.de(adata)``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputDataError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["check_anndata", "start", "store", "finish"]


def check_anndata(adata: Any, func: str) -> None:
    """Refuse anything that is not an AnnData, with the fix in the message.

    A MuData (multimodal container) holds one AnnData per modality in ``mdata.mod``;
    the tools need the RNA one.
    """
    from anndata import AnnData

    if isinstance(adata, AnnData):
        return
    kind = type(adata).__name__
    if kind == "MuData" or (hasattr(adata, "mod") and isinstance(getattr(adata, "mod", None), Mapping)):
        mods = list(getattr(adata, "mod", {}) or {})
        rna = "rna" if "rna" in mods else (mods[0] if mods else "rna")
        raise InputDataError(
            f"mg.tl.{func} takes an AnnData, not a MuData (modalities: {', '.join(map(repr, mods)) or 'none'}); "
            f'pass the expression modality, e.g. mg.tl.{func}(mdata.mod["{rna}"], ...), then '
            "mdata.update() to see the results in the MuData"
        )
    hint = (" Wrap a samples x genes table with anndata.AnnData(df)."
            if isinstance(adata, pd.DataFrame) else "")
    raise InputDataError(f"mg.tl.{func} takes an AnnData (samples x genes), not a {kind}.{hint}")


def start(adata: Any, func: str, *, key_added: Any, copy: bool) -> AnnData:
    """Check the AnnData, ``key_added`` and ``copy`` of a writer; the AnnData to write into
    (a copy when ``copy=True``)."""
    check_anndata(adata, func)
    if not isinstance(key_added, str) or not key_added:
        raise InputDataError(f"mg.tl.{func}: key_added must be a non-empty string, got {key_added!r}")
    if not isinstance(copy, (bool, np.bool_)):
        raise InputDataError(f"mg.tl.{func}: copy must be True or False, got {copy!r}")
    if copy:
        if getattr(adata, "isbacked", False):
            raise InputDataError(
                f"copy=True would load a backed AnnData into memory; call {func}(..., copy=False) "
                "(results go to adata.obsm/uns in memory) or adata.to_memory() first"
            )
        return adata.copy()
    return adata


def store(adata: AnnData, key: str, func: str, params: Mapping[str, Any], **tables: pd.DataFrame) -> None:
    """``adata.uns[key] = {"params": {"function": func, **params}, **tables}``."""
    for name, table in tables.items():
        if name == "params" or not isinstance(table, pd.DataFrame):  # pragma: no cover - a programming error
            raise TypeError(f"{func}: uns entry {name!r} must be a DataFrame, got {type(table).__name__}")
    adata.uns[key] = {"params": {"function": func, **params}, **tables}


def finish(adata: AnnData, copy: bool) -> AnnData | None:
    """What a writer returns: the copy it wrote into when ``copy=True``, else ``None``."""
    return adata if copy else None
