"""The :class:`GeneSets` container and the coverage warning."""

from __future__ import annotations

import collections.abc
import itertools
import logging
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import GeneSetError

logger = logging.getLogger(__name__)

_META_COLUMNS = ["source", "description", "n_genes", "direction"]


class GeneSetCoverageWarning(UserWarning):
    """Gene sets were dropped because they do not (sufficiently) overlap the data."""


# --------------------------------------------------------------------------- GeneSets


def _clean_genes(name: str, genes: Any) -> tuple[str, ...]:
    if isinstance(genes, str):
        raise GeneSetError(
            f"gene set {name!r} is a single string ({genes[:40]!r}); give a list of gene "
            "symbols, e.g. {'MY_SET': ['TRPM7', 'CNNM4']}."
        )
    try:
        items = list(genes)
    except TypeError:
        raise GeneSetError(
            f"gene set {name!r} is a {type(genes).__name__}, not a list of gene symbols."
        ) from None
    if all(type(g) is str for g in items):
        return tuple(dict.fromkeys(s for s in map(str.strip, items) if s))
    out = dict.fromkeys(
        s for s in (str(g).strip() for g in items if g is not None and not _isna(g)) if s
    )
    return tuple(out)


def _isna(x: Any) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


class GeneSets(collections.abc.Mapping):
    """An ordered, read-only mapping ``set name -> tuple of gene symbols``.

    Parameters
    ----------
    sets
        ``{name: genes}``. Genes are stripped of whitespace; duplicates within a set
        are dropped (first occurrence kept).
    meta
        Optional per-set metadata indexed by set name; columns ``source``,
        ``description``, ``direction`` (and any others) are kept, ``n_genes`` is
        recomputed.
    source
        Where the sets came from (used where ``meta`` has no ``source``).
    version
        Version of the collection (bundled sets: ``gene_sets/VERSION``; MSigDB: release).
    spec
        What :func:`load` was given, recorded for provenance (e.g. ``"magnesium"``).

    Attributes
    ----------
    meta
        DataFrame indexed by set: ``source``, ``description``, ``n_genes``,
        ``direction`` (``influx``/``efflux``/``mixed``/``regulator``/``readout``/
        ``context`` for the bundled sets, ``"unknown"`` otherwise); the bundled sets
        also carry ``scope`` (``liver`` or ``extra``).

    Raises
    ------
    GeneSetError
        A set name is empty or a set has no genes.
    """

    def __init__(
        self,
        sets: Mapping[str, Iterable[str]],
        *,
        meta: pd.DataFrame | None = None,
        source: str = "user",
        version: str | None = None,
        spec: str | None = None,
    ) -> None:
        if not isinstance(sets, Mapping):
            raise GeneSetError(
                f"GeneSets needs a mapping name -> genes, not {type(sets).__name__}."
            )
        clean: dict[str, tuple[str, ...]] = {}
        for name, genes in sets.items():
            key = str(name).strip()
            if not key:
                raise GeneSetError("a gene set has an empty name; give every set a name.")
            if key in clean:
                raise GeneSetError(f"gene set name {key!r} occurs twice; set names must be unique.")
            tup = _clean_genes(key, genes)
            if not tup:
                raise GeneSetError(
                    f"gene set {key!r} has no genes; remove it or add its gene symbols."
                )
            clean[key] = tup
        if not clean:
            raise GeneSetError("no gene sets given; pass at least one set with genes.")
        self._init(clean, meta, source=source, version=version, spec=spec)

    # fast path for already-clean input (parsers, subset)
    @classmethod
    def _trusted(cls, sets: dict[str, tuple[str, ...]], meta: pd.DataFrame | None, *,
                 source: str, version: str | None, spec: str | None) -> GeneSets:
        obj = cls.__new__(cls)
        obj._init(sets, meta, source=source, version=version, spec=spec)
        return obj

    def _init(self, sets, meta, *, source, version, spec) -> None:
        self._sets = sets
        names = pd.Index(list(sets), name="set")
        if meta is None:
            m = pd.DataFrame(index=names)
        else:
            m = meta.copy()
            m.index = m.index.astype(str)
            m = m[~m.index.duplicated()].reindex(names)
            m.index.name = "set"
        m["source"] = m["source"].fillna(source) if "source" in m else source
        m["description"] = m["description"].fillna("") if "description" in m else ""
        m["direction"] = m["direction"].fillna("unknown") if "direction" in m else "unknown"
        m["n_genes"] = np.array([len(g) for g in sets.values()], dtype=np.int64)
        first = [c for c in _META_COLUMNS if c in m]
        self._meta = m[first + [c for c in m.columns if c not in first]]
        self.source = source
        self.version = version
        self.spec = spec

    # Mapping protocol
    def __getitem__(self, name: str) -> tuple[str, ...]:
        try:
            return self._sets[name]
        except KeyError:
            raise KeyError(
                f"{name!r} is not among these {len(self)} gene sets "
                f"(e.g. {', '.join(list(self._sets)[:5])})"
            ) from None

    def __iter__(self):
        return iter(self._sets)

    def __len__(self) -> int:
        return len(self._sets)

    def __repr__(self) -> str:
        ver = f" v{self.version}" if self.version and f"v{self.version}" not in self.source else ""
        names = list(self._sets)
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        return f"<GeneSets {len(self)} sets from {self.source}{ver}: {shown}>"

    def _clone(self) -> GeneSets:
        """A new object sharing the (immutable) sets, so callers may set ``spec`` freely."""
        obj = GeneSets.__new__(GeneSets)
        obj.__dict__.update(self.__dict__)
        return obj

    def _flat(self) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
        """(sizes, flat gene list, codes into unique genes, unique genes); memoised."""
        cached = getattr(self, "_flat_cache", None)
        if cached is None:
            sizes = np.fromiter((len(g) for g in self._sets.values()), dtype=np.int64, count=len(self._sets))
            flat_l = list(itertools.chain.from_iterable(self._sets.values()))
            codes, uniq = pd.factorize(np.array(flat_l, dtype=object))
            cached = (sizes, flat_l, codes.astype(np.int64), np.asarray(uniq, dtype=object))
            self._flat_cache = cached
        return cached

    @property
    def meta(self) -> pd.DataFrame:
        """Per-set metadata (a copy)."""
        return self._meta.copy()

    @property
    def genes(self) -> list[str]:
        """All genes of all sets, unique, in order of first appearance."""
        return list(dict.fromkeys(g for genes in self._sets.values() for g in genes))

    def subset(self, names: str | Iterable[str]) -> GeneSets:
        """The named sets, in the order given.

        Raises
        ------
        GeneSetError
            If a name is not one of these sets (the message lists the valid ones).
        """
        if isinstance(names, str):
            names = [n for n in (x.strip() for x in names.split(",")) if n]
        names = list(dict.fromkeys(str(n) for n in names))
        if not names:
            raise GeneSetError("subset() needs at least one set name.")
        unknown = [n for n in names if n not in self._sets]
        if unknown:
            valid = list(self._sets)
            more = f" (and {len(valid) - 30} more)" if len(valid) > 30 else ""
            raise GeneSetError(
                f"unknown gene set(s) {unknown} in {self.source}; valid names: "
                f"{', '.join(valid[:30])}{more}."
            )
        return GeneSets._trusted(
            {n: self._sets[n] for n in names}, self._meta.loc[names],
            source=self.source, version=self.version, spec=self.spec,
        )

    def to_gmt(self, path: str | os.PathLike) -> Path:
        """Write the sets as a GMT file (description column from ``meta``); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        desc = self._meta["description"].astype(str)
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            for name, genes in self._sets.items():
                d = re.sub(r"[\t\r\n]+", " ", desc.get(name, "")) or "na"
                fh.write("\t".join([name, d, *genes]) + "\n")
        return path

    def to_long(self, columns: tuple[str, str] = ("set", "gene")) -> pd.DataFrame:
        """Long table, one row per membership.

        Parameters
        ----------
        columns
            Names of the set and gene columns. The default ``("set", "gene")`` is what
            :meth:`from_long` and :func:`mgtranscript.genesets.load` read;
            ``("source", "target")`` gives decoupler's network format (decoupler adds
            ``weight = 1`` itself), e.g. ``dc.mt.ulm(adata, gs.to_long(columns=("source",
            "target")), tmin=1)``.

        Raises
        ------
        GeneSetError
            ``columns`` is not two distinct column names.
        """
        if (isinstance(columns, str) or len(tuple(columns)) != 2
                or not all(isinstance(c, str) and c for c in columns) or columns[0] == columns[1]):
            raise GeneSetError(
                f"columns must be two distinct column names, e.g. ('set', 'gene') or "
                f"('source', 'target') for decoupler; got {columns!r}."
            )
        set_col, gene_col = columns
        names = np.repeat(np.array(list(self._sets), dtype=object),
                          [len(g) for g in self._sets.values()])
        genes = [g for gs in self._sets.values() for g in gs]
        return pd.DataFrame({set_col: names, gene_col: genes})

    def to_dict(self) -> dict[str, list[str]]:
        """Plain ``{name: [genes]}`` (e.g. for gseapy)."""
        return {k: list(v) for k, v in self._sets.items()}

    @classmethod
    def from_long(cls, df: pd.DataFrame, *, set_col: str | None = None, gene_col: str | None = None,
                  source: str = "table") -> GeneSets:
        """Build from a long table with one row per (set, gene).

        Parameters
        ----------
        df
            The table. By default its set and gene columns are ``set`` and ``gene``; a
            table without them but with decoupler's ``source`` and ``target`` (a
            decoupler network, e.g. from ``dc.op.hallmark()``) is read as such. Optional
            columns ``description`` and ``direction`` (constant within a set) go to
            :attr:`meta`, and so does ``source`` when it is not the set column.
        set_col, gene_col
            Explicit column names (both default to the detection above).
        source
            Provenance recorded in :attr:`meta` for sets without a ``source``.

        Notes
        -----
        Gene sets here are unweighted: a decoupler ``weight`` column is not used. Sets
        with negative weights (e.g. a TF's repressed targets) should be split by sign
        before loading, e.g. ``net[net.weight > 0]`` and ``net[net.weight < 0]``.

        Raises
        ------
        GeneSetError
            If the columns are missing or the table holds no (set, gene) pair.
        """
        if not isinstance(df, pd.DataFrame):
            raise GeneSetError(f"from_long needs a pandas DataFrame, not {type(df).__name__}.")
        if set_col is None and gene_col is None and not {"set", "gene"} & set(df.columns) \
                and {"source", "target"} <= set(df.columns):
            set_col, gene_col = "source", "target"
            if "weight" in df.columns:
                w = pd.to_numeric(df["weight"], errors="coerce")
                if not (w == 1).all():
                    logger.warning(
                        "the decoupler network's 'weight' column is not all 1 (%d of %d rows "
                        "differ); mgtranscript gene sets are unweighted and ignore it. Split "
                        "signed sets by sign first.", int((w != 1).sum()), len(w),
                    )
        set_col = "set" if set_col is None else set_col
        gene_col = "gene" if gene_col is None else gene_col
        missing = [c for c in (set_col, gene_col) if c not in df.columns]
        if missing:
            raise GeneSetError(
                f"the gene-set table lacks column(s) {missing}; it has {list(df.columns)}. "
                f"Give one row per membership with columns {set_col!r} and {gene_col!r} "
                "(or decoupler's 'source' and 'target')."
            )
        d = df[[set_col, gene_col]].dropna()
        d = d[(d[set_col].astype(str).str.strip() != "") & (d[gene_col].astype(str).str.strip() != "")]
        if d.empty:
            raise GeneSetError("the gene-set table has no (set, gene) rows.")
        sets: dict[str, list[str]] = {}
        for s, g in zip(d[set_col].astype(str).str.strip(), d[gene_col].astype(str)):
            sets.setdefault(s, []).append(g)
        meta = None
        extra = [c for c in ("description", "direction", "source")
                 if c in df.columns and c not in (set_col, gene_col)]
        if extra:
            meta = df.assign(_s=df[set_col].astype(str).str.strip()).groupby("_s", sort=False)[extra].first()
        return cls(sets, meta=meta, source=source)
