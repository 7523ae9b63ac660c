"""A safe, exact file format for what the run caches: parsed cohorts (AnnData) and per-cohort
results (:class:`~._result.CohortResult`).

One ``.npz`` file (:func:`numpy.savez`, read back with ``allow_pickle=False``): numeric and
boolean arrays are stored as arrays, bit for bit; everything else (strings, the structure of
dicts, lists and tables, dtypes, categories, mixed object columns) is described in one JSON
document stored beside them. Floats in JSON are written with Python's shortest round-trip
``repr``, so they read back exactly. No pickle anywhere: an object the format does not know
raises :class:`Uncacheable` and is simply not cached.

:func:`dump` checks that what it wrote reads back equal (values, dtypes, column and index
types), so a cache hit gives the same tables as the computation it replaces.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Uncacheable", "dump", "load", "same"]

_FORMAT = "mgtranscript-cache/1"


class Uncacheable(TypeError):
    """An object the cache format cannot hold exactly."""


class _Writer:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, a: np.ndarray) -> dict:
        if a.dtype.kind in "biufcUSMm":
            key = f"a{len(self.arrays)}"
            self.arrays[key] = np.ascontiguousarray(a)
            return {"__array__": key}
        if a.dtype.kind == "O":
            vals = a.ravel().tolist()
            if vals and all(type(v) is str for v in vals) and not any(v.endswith("\0") for v in vals) \
                    and max(map(len, vals)) <= 2 * sum(map(len, vals)) / len(vals) + 16:  # not mostly padding
                key = f"a{len(self.arrays)}"  # strings only: one unicode array, read back as str objects
                self.arrays[key] = np.array(vals, dtype=str)
                return {"__strarray__": key, "shape": list(a.shape)}
            return {"__objarray__": [self.enc(v) for v in vals], "shape": list(a.shape)}
        raise Uncacheable(f"array of dtype {a.dtype}")

    def index(self, ix: pd.Index) -> dict:
        if isinstance(ix, pd.MultiIndex):
            raise Uncacheable("MultiIndex")
        if type(ix) is pd.RangeIndex:
            return {"__range__": [ix.start, ix.stop, ix.step], "name": self.enc(ix.name)}
        return {"__index__": self.values(ix), "name": self.enc(ix.name)}

    def values(self, v) -> dict:
        """The values of a Series / Index / column, with their dtype."""
        dtype = v.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            return {"cat": self.array(np.asarray(v.codes if hasattr(v, "codes") else v.cat.codes)),
                    "categories": self.index(dtype.categories), "ordered": bool(dtype.ordered)}
        if isinstance(dtype, np.dtype):
            return {"np": self.array(np.asarray(v))}
        raise Uncacheable(f"column dtype {dtype}")

    def enc(self, x: Any) -> Any:
        if x is None or isinstance(x, (bool, str)):
            return x
        if isinstance(x, (int, float)) and type(x) in (int, float):
            return x
        if isinstance(x, np.generic):
            if x.dtype.kind == "O":
                raise Uncacheable("object scalar")
            return {"__np__": x.dtype.str, "v": x.item()}
        if isinstance(x, list):
            return [self.enc(v) for v in x]
        if isinstance(x, tuple):
            return {"__tuple__": [self.enc(v) for v in x]}
        if isinstance(x, dict):
            return {"__dict__": [[self.enc(k), self.enc(v)] for k, v in x.items()]}
        if isinstance(x, np.ndarray):
            return self.array(x)
        if isinstance(x, pd.DataFrame):
            if not x.columns.is_unique:
                raise Uncacheable("duplicate column names")
            return {"__df__": {"columns": self.index(x.columns), "index": self.index(x.index),
                               "data": [self.values(x.iloc[:, j]) for j in range(x.shape[1])]}}
        if isinstance(x, pd.Series):
            return {"__series__": {"values": self.values(x), "index": self.index(x.index), "name": self.enc(x.name)}}
        if isinstance(x, pd.Index):
            return self.index(x)
        if x is pd.NA:
            return {"__na__": 1}
        if _is_anndata(x):
            return {"__anndata__": {k: self.enc(v) for k, v in _anndata_parts(x).items()}}
        raise Uncacheable(f"{type(x).__name__}")


def _is_anndata(x) -> bool:
    return type(x).__name__ == "AnnData" and hasattr(x, "obsm") and hasattr(x, "layers")


def _anndata_parts(a) -> dict:
    if a.isbacked or a.raw is not None or len(a.obsp) or len(a.varp) or len(a.varm):
        raise Uncacheable("AnnData with raw / obsp / varp / varm / backing")
    if not isinstance(a.X, np.ndarray) or any(not isinstance(v, np.ndarray) for v in a.layers.values()):
        raise Uncacheable("AnnData with a sparse or lazy matrix")
    return {"X": a.X, "obs": a.obs, "var": a.var, "uns": dict(a.uns), "obsm": dict(a.obsm), "layers": dict(a.layers)}


class _Reader:
    def __init__(self, arrays) -> None:
        self.arrays = arrays

    def index(self, d: dict) -> pd.Index:
        if "__range__" in d:
            return pd.RangeIndex(*d["__range__"], name=self.dec(d["name"]))
        values = self.values(d["__index__"])
        return pd.Index(values, dtype=values.dtype, name=self.dec(d["name"]), tupleize_cols=False)

    def values(self, d: dict):
        if "cat" in d:
            return pd.Categorical.from_codes(self.dec(d["cat"]), categories=self.index(d["categories"]),
                                             ordered=d["ordered"])
        return self.dec(d["np"])

    def dec(self, x: Any) -> Any:
        if isinstance(x, list):
            return [self.dec(v) for v in x]
        if not isinstance(x, dict):
            return x
        if "__array__" in x:
            return self.arrays[x["__array__"]]
        if "__strarray__" in x:
            out = np.empty(self.arrays[x["__strarray__"]].size, dtype=object)
            out[:] = self.arrays[x["__strarray__"]].tolist()
            return out.reshape(x["shape"])
        if "__objarray__" in x:
            out = np.empty(len(x["__objarray__"]), dtype=object)
            out[:] = [self.dec(v) for v in x["__objarray__"]]
            return out.reshape(x["shape"])
        if "__np__" in x:
            return np.dtype(x["__np__"]).type(x["v"])
        if "__tuple__" in x:
            return tuple(self.dec(v) for v in x["__tuple__"])
        if "__dict__" in x:
            return {self.dec(k): self.dec(v) for k, v in x["__dict__"]}
        if "__df__" in x:
            d = x["__df__"]
            cols = self.index(d["columns"])
            data = {j: self.values(c) for j, c in enumerate(d["data"])}
            df = pd.DataFrame(data, index=self.index(d["index"]), copy=False)
            df.columns = cols
            return df
        if "__series__" in x:
            d = x["__series__"]
            return pd.Series(self.values(d["values"]), index=self.index(d["index"]), name=self.dec(d["name"]),
                             copy=False)
        if "__range__" in x or "__index__" in x:
            return self.index(x)
        if "__na__" in x:
            return pd.NA
        if "__anndata__" in x:
            import anndata as ad

            p = {k: self.dec(v) for k, v in x["__anndata__"].items()}
            return ad.AnnData(X=p["X"], obs=p["obs"], var=p["var"], uns=p["uns"], obsm=p["obsm"] or None,
                              layers=p["layers"] or None)
        raise ValueError(f"unknown cache record {sorted(x)[:3]}")


def same(a: Any, b: Any) -> bool:
    """Whether ``b`` is an exact copy of ``a`` (types, dtypes, values bit for bit, NaN = NaN)."""
    if type(a) is not type(b):
        return False
    if a is pd.NA or a is None:
        return b is a
    if isinstance(a, pd.DataFrame):
        return (same(a.columns, b.columns) and same(a.index, b.index)
                and all(same(a.iloc[:, j], b.iloc[:, j]) for j in range(a.shape[1])))
    if isinstance(a, (pd.Series, pd.Index)):
        if a.dtype != b.dtype or not same(a.name, b.name):
            return False
        if isinstance(a, pd.Series) and not same(a.index, b.index):
            return False
        if isinstance(a.dtype, pd.CategoricalDtype):
            codes = (lambda s: s.codes) if isinstance(a, pd.Index) else (lambda s: s.cat.codes.to_numpy())
            return same(np.asarray(codes(a)), np.asarray(codes(b)))
        return isinstance(a.dtype, np.dtype) and same(a.to_numpy(), b.to_numpy())
    if isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind == "O":
            la, lb = a.ravel().tolist(), b.ravel().tolist()
            if list(map(type, la)) != list(map(type, lb)):
                return False
            if all(type(v) is str for v in la):
                return la == lb
            return all(same(x, y) for x, y in zip(la, lb))
        return a.tobytes() == b.tobytes()
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and (a.tobytes() == b.tobytes())
    if _is_anndata(a):
        return same(_anndata_parts(a), _anndata_parts(b)) and list(a.obs_names) == list(b.obs_names)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - not comparable: not the same
        return False


def _encode(obj: Any) -> tuple[bytes, dict[str, np.ndarray]]:
    w = _Writer()
    doc = {"format": _FORMAT, "value": w.enc(obj)}
    return json.dumps(doc, allow_nan=True, separators=(",", ":")).encode(), w.arrays


def _decode(meta: bytes, arrays) -> Any:
    doc = json.loads(meta.decode())
    if doc.get("format") != _FORMAT:
        raise ValueError(f"cache format {doc.get('format')!r}, expected {_FORMAT!r}")
    return _Reader(arrays).dec(doc["value"])


def dump(obj: Any, path: str | os.PathLike, *, check: bool = True) -> None:
    """Write ``obj`` to ``path`` atomically (a temporary file beside it, then a rename).

    Raises
    ------
    Uncacheable
        ``obj`` holds something the format cannot store exactly, or (with ``check``) it does
        not read back equal; nothing is written.
    """
    meta, arrays = _encode(obj)
    if check and not same(obj, _decode(meta, arrays)):
        raise Uncacheable("does not read back exactly")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, __meta__=np.frombuffer(meta, dtype=np.uint8), **arrays)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def load(path: str | os.PathLike) -> Any:
    """Read what :func:`dump` wrote (``OSError`` / ``ValueError`` when the file is not one)."""
    with open(path, "rb") as fh:
        data = io.BytesIO(fh.read())
    with np.load(data, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return _decode(arrays.pop("__meta__").tobytes(), arrays)
