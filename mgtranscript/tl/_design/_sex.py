"""Genetic sex from XIST and chrY expression (:func:`infer_sex`), and the recorded sex
of the ``obs`` columns ``sex`` / ``gender``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._store import finish, start, store
from ._util import _dense

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["infer_sex", "sex_table", "Y_GENES"]

#: chrY genes expressed in most tissues (male-specific region), summed for the chrY score.
Y_GENES = ("RPS4Y1", "DDX3Y", "KDM5D", "UTY", "EIF1AY")

#: Thresholds on log2(CPM + 1) of the summed chrY genes / XIST (counts available).
Y_PRESENT, Y_ABSENT, XIST_HIGH = 5.0, 2.0, 4.0

_SEX = re.compile(r"^(sex|gender)([_ ]?ch\d)?$", re.IGNORECASE)


def infer_sex(adata: AnnData, *, counts_layer: str | None = "counts", key_added: str = "infer_sex",
              copy: bool = False) -> AnnData | None:
    """Genetic sex per sample from XIST and the chrY genes :data:`Y_GENES`.

    With counts (``layers[counts_layer]``): ``chrY`` = log2(summed CPM of the chrY genes
    + 1), ``XIST`` = log2(CPM + 1); chrY present at >= 5 (about 30 CPM), absent below 2,
    XIST high at >= 4. Without counts: the mean of the chrY genes and XIST in ``X`` (log
    scale), split into two clusters when the cohort is bimodal (cluster means >= 3 log2
    units apart).

    Calls (``inferred_sex``; ``sex_detail`` says why): ``male`` when chrY genes are
    expressed (a male tumour may also express XIST: detail "XIST also expressed"), or
    partly expressed with XIST low ("low chrY"); ``female`` when chrY is absent and XIST
    high (or XIST not measured); ``undetermined`` otherwise (chrY absent and XIST low --
    e.g. a male tumour that lost chrY --, partial chrY with XIST high, no sex genes).

    Parameters
    ----------
    adata
        Samples x genes, gene symbols in ``var_names``.
    counts_layer
        Layer with raw counts; ``None`` (or a missing layer) uses the log-scale ``X``.
    key_added
        Results go to ``adata.uns[key_added] = {"params": ..., "table": DataFrame}``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    The modified copy when ``copy=True``, else ``None``. The table (read it with
    :func:`mgtranscript.get.sex` ``(adata, key_added)``) is indexed by ``obs_names``:
    ``chrY``, ``XIST`` (the levels), ``inferred_sex``, ``sex_detail``, ``chrY_state``,
    ``XIST_state`` and ``scale`` (how the levels were measured).
    """
    adata = start(adata, "infer_sex", key_added=key_added, copy=copy)
    table = sex_table(adata, counts_layer=counts_layer)
    scale = str(table["scale"].iloc[0]) if len(table) else ""
    store(adata, key_added, "infer_sex", {"counts_layer": counts_layer or "", "scale": scale,
                                          "y_genes": list(Y_GENES)}, table=table)
    return finish(adata, copy)


def sex_table(adata: AnnData, *, counts_layer: str | None = "counts") -> pd.DataFrame:
    """The work of :func:`infer_sex` without writing to ``adata``: its table."""
    genes = [g for g in Y_GENES if g in adata.var_names]
    has_xist = "XIST" in adata.var_names
    n = adata.n_obs
    y = np.full(n, np.nan)
    x = np.full(n, np.nan)
    if counts_layer is not None and counts_layer in adata.layers:
        C = adata.layers[counts_layer]
        lib = _dense(C.sum(axis=1)).ravel()
        lib = np.where(lib > 0, lib, np.nan)
        if genes:
            y = np.log2(_dense(C[:, adata.var_names.get_indexer(genes)]).sum(axis=1) / lib * 1e6 + 1)
        if has_xist:
            x = np.log2(_dense(C[:, adata.var_names.get_indexer(["XIST"])]).ravel() / lib * 1e6 + 1)
        y_hi, y_lo, x_hi = Y_PRESENT, Y_ABSENT, XIST_HIGH
        scale = "log2(CPM+1)"
    else:
        X = adata.X
        if genes:
            y = _dense(X[:, adata.var_names.get_indexer(genes)]).mean(axis=1)
        if has_xist:
            x = _dense(X[:, adata.var_names.get_indexer(["XIST"])]).ravel()
        y_hi = y_lo = _two_means_cut(y)
        x_hi = _two_means_cut(x)
        scale = "X (log scale), two-cluster split"
    calls, details = [], []
    for yi, xi in zip(y, x):
        xh = np.isfinite(xi) and xi >= x_hi if np.isfinite(x_hi) else False
        if not np.isfinite(yi) or not np.isfinite(y_hi):
            calls.append("undetermined")
            details.append("chrY genes not measured" if not genes else "cohort not bimodal for chrY")
        elif yi >= y_hi:
            calls.append("male")
            details.append("chrY expressed" + ("; XIST also expressed" if xh else ""))
        elif yi < y_lo:
            if xh:
                calls.append("female")
                details.append("no chrY; XIST expressed")
            elif not has_xist:
                calls.append("female")
                details.append("no chrY (XIST not measured)")
            else:
                calls.append("undetermined")
                details.append("neither chrY nor XIST expressed")
        else:
            if xh:
                calls.append("undetermined")
                details.append("low chrY; XIST expressed")
            else:
                calls.append("male")
                details.append("low chrY")
    def state(v, hi, lo, names):
        if not np.isfinite(v) or not np.isfinite(hi):
            return "NA"
        return names[0] if v >= hi else (names[2] if v < lo else names[1])

    y_state = [state(v, y_hi, y_lo, ("present", "partial", "absent")) for v in y]
    x_state = [state(v, x_hi, x_hi, ("high", "high", "low")) for v in x]
    return pd.DataFrame({"chrY": y, "XIST": x, "inferred_sex": calls, "sex_detail": details,
                         "chrY_state": y_state, "XIST_state": x_state},
                        index=adata.obs_names).assign(scale=scale)


def _two_means_cut(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    if v.size < 4:
        return np.nan
    s = np.sort(v)
    best, cut = np.inf, None
    for k in range(1, s.size):
        a, b = s[:k], s[k:]
        sse = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
        if sse < best:
            best, cut = sse, (a.mean(), b.mean())
    if cut is None or cut[1] - cut[0] < 3.0:
        return np.nan
    return float((cut[0] + cut[1]) / 2)


def _recorded_sex(obs: pd.DataFrame) -> tuple[str | None, np.ndarray | None]:
    for c in obs.columns:
        if _SEX.match(str(c)):
            vals = obs[c].astype("object").map(_norm_sex).to_numpy(dtype=object)
            if any(v is not None for v in vals):
                return str(c), vals
    return None, None


def _norm_sex(v) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    s = str(v).strip().lower()
    if s in ("m", "male", "man", "boy", "1"):
        return "male"
    if s in ("f", "female", "woman", "girl", "2"):
        return "female"
    return None
