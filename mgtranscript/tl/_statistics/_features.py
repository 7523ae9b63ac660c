"""Feature resolution shared by :func:`~mgtranscript.tl.compare`,
:func:`~mgtranscript.tl.trend` and :func:`~mgtranscript.tl.correlate`: feature specs (genes,
``obs`` columns, ``obsm`` score tables) to per-sample values, covariates to a numeric
frame, and ``obs`` labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from ...errors import InputDataError
from ...get import scores

__all__ = ["feature_values", "covariate_frame"]


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)


def _gene_values(adata, gene: str, layer: str | None) -> np.ndarray:
    if layer is not None and layer not in adata.layers:
        raise InputDataError(f"layer {layer!r} not found; available: {list(adata.layers.keys())}.")
    j = adata.var_names.get_indexer([gene])[0]
    mat = adata.X if layer is None else adata.layers[layer]
    col = mat[:, j]
    if hasattr(col, "compute"):
        col = col.compute()
    col = col.toarray() if sparse.issparse(col) else np.asarray(col)
    return np.asarray(col, dtype=float).ravel()


def _obsm_frame(adata, key: str) -> pd.DataFrame:
    from ...get import scores

    return scores(adata, key)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def feature_values(adata, spec: str, *, layer: str | None = None) -> list[tuple[str, np.ndarray]]:
    """Resolve one feature spec to ``[(label, values), ...]`` (samples in ``obs`` order).

    A spec is, in this order of precedence:

    ``"<obsm key>:<column>"``
        One column of a samples x sets table in ``obsm`` (e.g.
        ``"mg_ssgsea:MG_EFFLUX_EXCHANGE"``).
    ``"obs:<column>"`` / ``"var:<gene>"``
        Explicitly an ``obs`` column / a gene (to break a name clash).
    a gene in ``var_names``
        Its values from ``X`` (or ``layer``).
    a numeric ``obs`` column
        Its values.
    an ``obsm`` key
        Every column of that table, labelled ``"<key>:<column>"``.
    a column name found in exactly one ``obsm`` table
        That column (labelled as given).

    Raises
    ------
    InputDataError
        Unknown or ambiguous names, non-numeric ``obs`` columns (the message says what
        exists and how to disambiguate).
    """
    return [(label, vals) for label, vals, _ in _resolve(adata, spec, layer)]


def _resolve(adata, spec: str, layer: str | None) -> list[tuple[str, np.ndarray, str | None]]:
    """As :func:`feature_values`, plus the gene name for gene features (else None)."""
    if not isinstance(spec, str) or not spec:
        raise InputDataError(f"a feature must be a non-empty string, got {spec!r}.")
    head, sep, tail = spec.partition(":")
    if sep and head in adata.obsm:
        df = _obsm_frame(adata, head)
        if tail not in df.columns:
            raise InputDataError(
                f"obsm[{head!r}] has no column {tail!r}; columns: {list(df.columns)[:30]}."
            )
        return [(spec, df[tail].to_numpy(dtype=float), None)]
    if sep and head == "obs":
        return [(spec, _obs_numeric(adata, tail), None)]
    if sep and head in ("var", "gene"):
        if tail not in adata.var_names:
            raise InputDataError(f"gene {tail!r} is not in var_names.")
        return [(spec, _gene_values(adata, tail, layer), tail)]
    in_var = spec in adata.var_names
    in_obs = spec in adata.obs.columns
    if in_var and in_obs:
        raise InputDataError(
            f"{spec!r} is both a gene and an obs column; write 'var:{spec}' or 'obs:{spec}'."
        )
    if in_var:
        return [(spec, _gene_values(adata, spec, layer), spec)]
    if in_obs:
        return [(spec, _obs_numeric(adata, spec), None)]
    if spec in adata.obsm:
        df = _obsm_frame(adata, spec)
        return [(f"{spec}:{c}", df[c].to_numpy(dtype=float), None) for c in df.columns]
    holders = [k for k, v in adata.obsm.items() if isinstance(v, pd.DataFrame) and spec in v.columns]
    if len(holders) == 1:
        return [(spec, _obsm_frame(adata, holders[0])[spec].to_numpy(dtype=float), None)]
    if len(holders) > 1:
        raise InputDataError(
            f"{spec!r} is a column of several obsm tables {holders}; write e.g. '{holders[0]}:{spec}'."
        )
    num_obs = [c for c in adata.obs.columns if _is_numeric(adata.obs[c])]
    raise InputDataError(
        f"feature {spec!r} not found: it is not a gene (var_names), a numeric obs column "
        f"({num_obs[:15]}{' ...' if len(num_obs) > 15 else ''}), an obsm key ({list(adata.obsm.keys())}) "
        "or '<obsm key>:<column>'. Run mgtranscript.tl.score first for scores."
    )


def _obs_numeric(adata, col: str) -> np.ndarray:
    if col not in adata.obs.columns:
        raise InputDataError(f"obs has no column {col!r}; available: {list(adata.obs.columns)}.")
    s = adata.obs[col]
    if not _is_numeric(s):
        raise InputDataError(
            f"obs[{col!r}] is not numeric ({s.dtype}); a correlation needs numbers. Use it as "
            "within= / covariates= instead, or convert it."
        )
    return s.to_numpy(dtype=float)


def covariate_frame(adata, covariates, *, layer: str | None = None) -> tuple[pd.DataFrame, list[bool]]:
    """Covariates as a numeric samples x columns frame, and which columns are indicators.

    ``obs`` columns that are numeric enter as is; categorical / string / boolean ``obs``
    columns become 0/1 indicators (first level dropped; a missing value stays missing).
    Anything else is resolved with :func:`feature_values` (genes, ``"<obsm key>:<column>"``).

    Returns
    -------
    ``(frame, is_indicator)`` with one entry of ``is_indicator`` per frame column.
    """
    parts: list[pd.DataFrame] = []
    dummy_flags: list[bool] = []
    for c in _as_list(covariates):
        if c in adata.obs.columns and c not in adata.var_names:
            col = adata.obs[c]
            if _is_numeric(col):
                parts.append(pd.DataFrame({c: col.to_numpy(dtype=float)}, index=adata.obs_names))
                dummy_flags.append(False)
            else:
                cat = col.astype("category")
                d = pd.get_dummies(cat, prefix=c, drop_first=True, dtype=float)
                d[col.isna().to_numpy()] = np.nan
                d.index = adata.obs_names
                parts.append(d)
                dummy_flags += [True] * d.shape[1]
            continue
        try:
            for label, vals in feature_values(adata, c, layer=layer):
                parts.append(pd.DataFrame({label: vals}, index=adata.obs_names))
                dummy_flags.append(False)
        except InputDataError as exc:
            raise InputDataError(f"covariate {c!r}: {exc}") from None
    if not parts:
        return pd.DataFrame(index=adata.obs_names), []
    return pd.concat(parts, axis=1), dummy_flags


def _features(adata, keys, genes, layer) -> list[tuple[str, str, str, np.ndarray]]:
    """``(feature, kind, source, values)`` for every score column and gene requested."""
    keys = _as_list(keys)
    genes = _as_list(genes)
    if not keys and not genes:
        keys = [k for k, v in adata.obsm.items() if isinstance(v, pd.DataFrame)]
        if not keys:
            raise InputDataError(
                "Nothing to compare: pass keys= (obsm score keys written by tl.score, or obs "
                "columns) and/or genes= (var names)."
            )
    out: list[tuple[str, str, str, np.ndarray]] = []
    for key in keys:
        if key in adata.obsm:
            df = scores(adata, key)
            for col in df.columns:
                vals = df[col].to_numpy(dtype=float)
                out.append((str(col), "score", key, vals))
        elif key in adata.obs.columns:
            s = adata.obs[key]
            if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
                raise InputDataError(f"obs[{key!r}] is not numeric; compare needs numeric scores.")
            out.append((key, "score", "obs", s.to_numpy(dtype=float)))
        else:
            num_obs = [c for c in adata.obs.columns if pd.api.types.is_numeric_dtype(adata.obs[c])]
            raise InputDataError(
                f"{key!r} is neither an obsm key nor an obs column. obsm keys: {list(adata.obsm.keys())}; "
                f"numeric obs columns: {num_obs}. Run mgtranscript.tl.score first or fix the key."
            )
    if genes:
        missing = [g for g in genes if g not in adata.var_names]
        if missing:
            raise InputDataError(
                f"Genes not in var_names: {missing[:20]}{' ...' if len(missing) > 20 else ''}; "
                "pass only measured genes (e.g. [g for g in genes if g in adata.var_names])."
            )
        if layer is not None and layer not in adata.layers:
            raise InputDataError(f"layer {layer!r} not found; available: {list(adata.layers.keys())}.")
        idx = adata.var_names.get_indexer(genes)
        mat = adata.X if layer is None else adata.layers[layer]
        sub = mat[:, idx]
        if hasattr(sub, "compute"):
            sub = sub.compute()
        sub = sub.toarray() if sparse.issparse(sub) else np.asarray(sub, dtype=float)
        src = "X" if layer is None else f"layers/{layer}"
        for j, g in enumerate(genes):
            out.append((str(g), "gene", src, sub[:, j].astype(float)))
    return out


def _labels(adata, column: str) -> pd.Series:
    if column not in adata.obs.columns:
        raise InputDataError(f"obs has no column {column!r}; available: {list(adata.obs.columns)}.")
    s = adata.obs[column]
    return s.astype("object").map(lambda v: None if pd.isna(v) else str(v))
