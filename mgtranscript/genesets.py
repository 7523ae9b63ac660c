"""Gene sets: the curated magnesium sets, GMT/GMX files, MSigDB collections, matching.

>>> from mgtranscript import genesets
>>> gs = genesets.load("magnesium")                      # liver-relevant Mg sub-sets
>>> idx, coverage = genesets.match(gs, adata.var_names)  # doctest: +SKIP

Specs understood by :func:`load`
--------------------------------
``"magnesium"``
    The bundled liver-relevant sub-sets (``scope=liver``: ``MG_LIVER_CORE``,
    ``MG_PM_INFLUX``, ``MG_EFFLUX_EXCHANGE``, ``MG_ER_GOLGI``, ``MG_MITOCHONDRIAL``,
    ``MG_CNNM_REGULATORS``, ``MG_INFLUX_ALL``, ``MG_EFFLUX_ALL``). The renal, immune
    read-out and non-hepatic putative sets are left out.
``"magnesium:all"``
    Every bundled sub-set, including ``MG_RENAL``.
``"magnesium:MG_LIVER_CORE,MG_RENAL"``
    Named bundled sub-sets (comma separated).
``"hallmark"``, ``"h.all"``, ``"reactome"``, ``"c5.bp"``, ``"c5.mf"``, ``"c5.cc"``, ``"c6"``
    An MSigDB symbols GMT fetched through :mod:`mgtranscript.fetch` (cached; honours
    ``MGTRANSCRIPT_MIRROR`` / ``MGTRANSCRIPT_OFFLINE``). ``"hallmark:HALLMARK_DNA_REPAIR"``
    keeps the named sets only.
a path
    A ``.gmt`` or ``.gmx`` file (optionally gzipped).
a ``dict`` / a long ``DataFrame`` / a :class:`GeneSets`
    ``{name: genes}``; a table with columns ``set`` and ``gene``.

The bundled files live in the repository's top-level ``gene_sets/`` folder, found
relative to this module (the package is meant to be installed editable,
``pip install -e .``); set ``MGTRANSCRIPT_GENE_SETS`` to use another folder laid out the
same way (``magnesium.gmt``, ``magnesium_genes.tsv``, ``VERSION``).

Alias resolution
----------------
:func:`match` first matches set genes to the data's gene names exactly. A set gene
that is absent is then resolved through (1) the bundled table's aliases and previous
symbols and (2) NCBI ``gene_info`` synonyms (via
:func:`mgtranscript.datasets.geneids.load_gene_info`), in both directions: an old
symbol in the set finds the current symbol in the data (``ACDP4->CNNM4``) and a
current symbol in the set finds an old symbol in the data (``MMGT1->EMC5``). A
name is used as an alias only if exactly one gene claims it and it is not the
current symbol of another gene. Every resolution is reported in the coverage table.
"""

from __future__ import annotations

import collections.abc
import csv
import gzip
import io
import itertools
import logging
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import AccessionNotFound, GeneSetError, InputDataError

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_SET",
    "ENV_VAR",
    "GeneSets",
    "GeneSetCoverageWarning",
    "MSIGDB_COLLECTIONS",
    "load",
    "combine",
    "read_gmt",
    "read_gmx",
    "msigdb",
    "match",
    "mg_gene_table",
    "gene_sets_dir",
    "bundled_version",
    "bundled_names",
]

#: The default liver magnesium score.
DEFAULT_SET = "MG_LIVER_CORE"

#: Environment variable pointing at an alternative ``gene_sets/`` folder.
ENV_VAR = "MGTRANSCRIPT_GENE_SETS"

_GMT_NAME = "magnesium.gmt"
_TABLE_NAME = "magnesium_genes.tsv"

#: MSigDB names accepted by :func:`msigdb` -> (file collection, default release).
#: Default releases are the ones in the project's mirror.
MSIGDB_COLLECTIONS: dict[str, tuple[str, str]] = {
    "hallmark": ("h.all", "7.0"),
    "h.all": ("h.all", "7.0"),
    "reactome": ("c2.cp.reactome", "7.0"),
    "c2.cp.reactome": ("c2.cp.reactome", "7.0"),
    "c5.bp": ("c5.bp", "6.2"),
    "c5.mf": ("c5.mf", "7.0"),
    "c5.cc": ("c5.cc", "7.0"),
    "c6": ("c6.all", "7.0"),
    "c6.all": ("c6.all", "7.0"),
}

_META_COLUMNS = ["source", "description", "n_genes", "direction"]
_COVERAGE_COLUMNS = [
    "n_genes", "n_matched", "n_resolved_by_alias", "n_missing", "final_size",
    "kept", "reason", "matched", "missing", "resolved",
]


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

    def to_long(self) -> pd.DataFrame:
        """Long table with columns ``set`` and ``gene`` (one row per membership)."""
        names = np.repeat(np.array(list(self._sets), dtype=object),
                          [len(g) for g in self._sets.values()])
        genes = [g for gs in self._sets.values() for g in gs]
        return pd.DataFrame({"set": names, "gene": genes})

    def to_dict(self) -> dict[str, list[str]]:
        """Plain ``{name: [genes]}`` (e.g. for gseapy)."""
        return {k: list(v) for k, v in self._sets.items()}

    @classmethod
    def from_long(cls, df: pd.DataFrame, *, set_col: str = "set", gene_col: str = "gene",
                  source: str = "table") -> GeneSets:
        """Build from a long table with one row per (set, gene).

        Optional columns ``description`` and ``direction`` (constant within a set) go
        to :attr:`meta`.

        Raises
        ------
        GeneSetError
            If the columns are missing or the table holds no (set, gene) pair.
        """
        missing = [c for c in (set_col, gene_col) if c not in df.columns]
        if missing:
            raise GeneSetError(
                f"the gene-set table lacks column(s) {missing}; it has {list(df.columns)}. "
                f"Give one row per membership with columns {set_col!r} and {gene_col!r}."
            )
        d = df[[set_col, gene_col]].dropna()
        d = d[(d[set_col].astype(str).str.strip() != "") & (d[gene_col].astype(str).str.strip() != "")]
        if d.empty:
            raise GeneSetError("the gene-set table has no (set, gene) rows.")
        sets: dict[str, list[str]] = {}
        for s, g in zip(d[set_col].astype(str).str.strip(), d[gene_col].astype(str)):
            sets.setdefault(s, []).append(g)
        meta = None
        extra = [c for c in ("description", "direction", "source") if c in df.columns]
        if extra:
            meta = df.assign(_s=df[set_col].astype(str).str.strip()).groupby("_s", sort=False)[extra].first()
        return cls(sets, meta=meta, source=source)


# --------------------------------------------------------------------------- files


def _open_text(path: Path):
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _check_file(path: Path, kind: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise GeneSetError(f"{kind} file {path} does not exist; check the path.")
    return path


def _parse_gmt(path: Path) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    sets: dict[str, tuple[str, ...]] = {}
    desc: dict[str, str] = {}
    first_line: dict[str, int] = {}
    try:
        with _open_text(path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                line = raw.rstrip("\r\n")
                if not line.strip():
                    continue
                fields = line.split("\t")
                name = fields[0].strip()
                if not name:
                    raise GeneSetError(
                        f"{path}: line {lineno} has no set name in its first field; GMT lines are "
                        "NAME<tab>DESCRIPTION<tab>GENE1<tab>GENE2..."
                    )
                genes = tuple(dict.fromkeys(g.strip() for g in fields[2:] if g.strip()))
                if not genes:
                    hint = (" (its fields are not tab-separated: GMT needs tabs)"
                            if len(fields) == 1 and " " in line.strip() else "")
                    raise GeneSetError(
                        f"{path}: line {lineno} (set {name!r}) has no genes{hint}; GMT lines are "
                        "NAME<tab>DESCRIPTION<tab>GENE1<tab>GENE2... Remove the line or add its genes."
                    )
                if name in sets:
                    raise GeneSetError(
                        f"{path}: set name {name!r} is duplicated (lines {first_line[name]} and "
                        f"{lineno}); set names must be unique. Rename or merge them."
                    )
                sets[name] = genes
                desc[name] = fields[1].strip() if len(fields) > 1 else ""
                first_line[name] = lineno
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise GeneSetError(f"could not read GMT file {path}: {exc}. Is it a text GMT file?") from exc
    if not sets:
        raise GeneSetError(f"GMT file {path} is empty; it holds no gene sets.")
    return sets, desc


@lru_cache(maxsize=16)
def _read_gmt_cached(path: str, mtime_ns: int, size: int) -> GeneSets:
    p = Path(path)
    sets, desc = _parse_gmt(p)
    meta = pd.DataFrame({"description": pd.Series(desc)})
    return GeneSets._trusted(sets, meta, source=f"file:{p.name}", version=None, spec=str(p))


def read_gmt(path: str | os.PathLike) -> GeneSets:
    """Read a GMT file (``NAME<tab>DESCRIPTION<tab>GENE...`` per line; ``.gz`` allowed).

    Blank lines are skipped; genes are stripped and de-duplicated within a set.

    Raises
    ------
    GeneSetError
        Missing or empty file, a line with no genes (the message names the line
        number), or a duplicated set name.
    """
    p = _check_file(Path(path), "GMT").resolve()
    st = p.stat()
    return _read_gmt_cached(str(p), st.st_mtime_ns, st.st_size)._clone()


def read_gmx(path: str | os.PathLike) -> GeneSets:
    """Read a GMX file: one set per tab-separated column (name, description, genes...).

    Raises
    ------
    GeneSetError
        Missing or empty file, a column with no genes, or a duplicated set name.
    """
    p = _check_file(Path(path), "GMX")
    with _open_text(p) as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise GeneSetError(f"GMX file {p} is empty; it holds no gene sets.")
    names = [c.strip() for c in rows[0]]
    descs = rows[1] if len(rows) > 1 else []
    sets: dict[str, tuple[str, ...]] = {}
    desc: dict[str, str] = {}
    for j, name in enumerate(names):
        if not name:
            continue
        genes = tuple(dict.fromkeys(
            r[j].strip() for r in rows[2:] if j < len(r) and r[j].strip()))
        if not genes:
            raise GeneSetError(f"{p}: column {j + 1} (set {name!r}) has no genes; add genes or remove it.")
        if name in sets:
            raise GeneSetError(f"{p}: set name {name!r} is duplicated; set names must be unique.")
        sets[name] = genes
        desc[name] = descs[j].strip() if j < len(descs) else ""
    if not sets:
        raise GeneSetError(f"GMX file {p} has no named columns.")
    return GeneSets._trusted(sets, pd.DataFrame({"description": pd.Series(desc)}),
                             source=f"file:{p.name}", version=None, spec=str(p))


def _read_file(path: Path) -> GeneSets:
    suffixes = [s.lower() for s in path.suffixes]
    if ".gmx" in suffixes:
        return read_gmx(path)
    return read_gmt(path)


# --------------------------------------------------------------------------- bundled


def gene_sets_dir() -> Path:
    """The folder holding the bundled sets (``$MGTRANSCRIPT_GENE_SETS`` or ``<repo>/gene_sets``).

    Raises
    ------
    GeneSetError
        If the folder (or its ``magnesium.gmt``) is missing.
    """
    env = os.environ.get(ENV_VAR, "").strip()
    d = Path(env).expanduser() if env else Path(__file__).resolve().parent.parent / "gene_sets"
    if not (d / _GMT_NAME).is_file():
        raise GeneSetError(
            f"the bundled magnesium gene sets were not found at {d}. mgtranscript must be "
            f"installed editable from its repository (`pip install -e .`), or set {ENV_VAR} "
            f"to a folder holding {_GMT_NAME}, {_TABLE_NAME} and VERSION."
        )
    return d


def bundled_version() -> str:
    """Version of the bundled magnesium sets (``gene_sets/VERSION``)."""
    return (gene_sets_dir() / "VERSION").read_text(encoding="utf-8").strip()


_KV = re.compile(r"^\s*(direction|scope|version)\s*=\s*(\S+)\s*$")


@lru_cache(maxsize=4)
def _bundled_cached(d: str, mtime_ns: int) -> GeneSets:
    path = Path(d) / _GMT_NAME
    sets, desc = _parse_gmt(path)
    version = (Path(d) / "VERSION").read_text(encoding="utf-8").strip()
    rows = {}
    for name, text in desc.items():
        parts = [p.strip() for p in text.split(";")]
        kv = {m.group(1): m.group(2) for m in map(_KV.match, parts) if m}
        rows[name] = {
            "description": "; ".join(p for p in parts if not _KV.match(p)),
            "direction": kv.get("direction", "unknown"),
            "scope": kv.get("scope", "extra"),
            "version": kv.get("version", version),
        }
    meta = pd.DataFrame.from_dict(rows, orient="index")
    meta["source"] = f"mgtranscript magnesium v{version}"
    return GeneSets._trusted(sets, meta, source=f"mgtranscript magnesium v{version}",
                             version=version, spec="magnesium:all")


def _bundled() -> GeneSets:
    d = gene_sets_dir().resolve()
    return _bundled_cached(str(d), (d / _GMT_NAME).stat().st_mtime_ns)._clone()


def bundled_names(scope: str | None = None) -> list[str]:
    """Names of the bundled sub-sets; ``scope="liver"`` gives those in ``"magnesium"``."""
    gs = _bundled()
    if scope is None:
        return list(gs)
    m = gs._meta
    return [n for n in gs if m.at[n, "scope"] == scope]


@lru_cache(maxsize=4)
def _table_cached(path: str, mtime_ns: int) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def mg_gene_table() -> pd.DataFrame:
    """The bundled gene table (``gene_sets/magnesium_genes.tsv``), one row per gene.

    Columns: ``symbol, hgnc_id, entrez, ensembl, aliases, previous_symbols, subsets,
    direction, location, role, confidence, citation, liver_relevance`` (all strings;
    multi-valued fields are ``;``-joined, empty when none).
    """
    p = (gene_sets_dir() / _TABLE_NAME).resolve()
    if not p.is_file():
        raise GeneSetError(f"{p} is missing; the bundled gene_sets folder is incomplete.")
    return _table_cached(str(p), p.stat().st_mtime_ns).copy()


def _load_bundled(names: str, version: str | None, spec: str) -> GeneSets:
    gs = _bundled()
    if version is not None and str(version) != gs.version:
        raise GeneSetError(
            f"magnesium gene sets version {version!r} requested but version {gs.version} is "
            "bundled; omit version= or install the matching mgtranscript release."
        )
    names = names.strip()
    if not names:
        sel = bundled_names("liver")
    elif names.lower() == "all":
        sel = list(gs)
    else:
        sel = [n.strip().upper() for n in names.split(",") if n.strip()]
        unknown = [n for n in sel if n not in gs]
        if unknown:
            raise GeneSetError(
                f"unknown magnesium sub-set(s) {unknown}; valid names: {', '.join(gs)} "
                "(or 'magnesium' for the liver sets, 'magnesium:all' for every set)."
            )
    out = gs.subset(sel)
    out.spec = spec
    return out


# --------------------------------------------------------------------------- MSigDB


def msigdb(collection: str, *, version: str | None = None) -> GeneSets:
    """An MSigDB symbols collection, downloaded through :mod:`mgtranscript.fetch`.

    Parameters
    ----------
    collection
        ``"hallmark"``/``"h.all"``, ``"reactome"``/``"c2.cp.reactome"``, ``"c5.bp"``,
        ``"c5.mf"``, ``"c5.cc"``, ``"c6"``/``"c6.all"``.
    version
        MSigDB release, e.g. ``"7.0"``. Default: the collection's release in
        :data:`MSIGDB_COLLECTIONS` (7.0; 6.2 for ``c5.bp``).

    Raises
    ------
    GeneSetError
        Unknown collection name (the message lists the valid ones).
    AccessionNotFound
        The release does not exist on the server.
    FetchError, OfflineError
        Download problems (see :func:`mgtranscript.fetch.fetch`).
    """
    from .fetch import fetch, urls

    key = str(collection).strip().lower()
    if key not in MSIGDB_COLLECTIONS:
        raise GeneSetError(
            f"unknown MSigDB collection {collection!r}; valid names: "
            f"{', '.join(MSIGDB_COLLECTIONS)}. For another GMT, pass its file path."
        )
    coll, default = MSIGDB_COLLECTIONS[key]
    ver = str(version) if version is not None else default
    url = urls.msigdb_url(coll, ver)
    try:
        path = fetch(url)
    except AccessionNotFound as exc:
        raise AccessionNotFound(
            f"MSigDB {coll} release {ver} was not found at {url}; check the release number "
            f"(the default for {coll} is {default}).", url=url,
        ) from exc
    base = read_gmt(path)
    meta = base._meta.copy()
    meta["source"] = f"MSigDB {coll} v{ver}"
    return GeneSets._trusted(dict(base._sets), meta, source=f"MSigDB {coll} v{ver}",
                             version=ver, spec=key)


# --------------------------------------------------------------------------- load


def load(spec: Any, *, version: str | None = None) -> GeneSets:
    """Load gene sets from a name, a file, a dict, a long table or a :class:`GeneSets`.

    Parameters
    ----------
    spec
        See the module docstring: ``"magnesium"``, ``"magnesium:all"``,
        ``"magnesium:MG_LIVER_CORE,..."``, an MSigDB name (optionally
        ``"name:SET1,SET2"``), a ``.gmt``/``.gmx`` path, ``{name: genes}``, a
        DataFrame with columns ``set`` and ``gene``, or a :class:`GeneSets`.
    version
        For MSigDB: the release (default per collection); for the bundled sets: must
        equal :func:`bundled_version` if given. Ignored for other specs.

    Returns
    -------
    :class:`GeneSets`

    Raises
    ------
    GeneSetError
        Unknown name (the message lists valid names), missing or malformed file.
    """
    if isinstance(spec, GeneSets):
        return spec
    if isinstance(spec, pd.DataFrame):
        gs = GeneSets.from_long(spec)
        gs.spec = "<table>"
        return gs
    if isinstance(spec, Mapping):
        gs = GeneSets(spec, source="dict")
        gs.spec = "<dict>"
        return gs
    if isinstance(spec, os.PathLike):
        gs = _read_file(_check_file(Path(spec), "gene-set"))
        return gs
    if not isinstance(spec, str):
        raise GeneSetError(
            f"cannot load gene sets from a {type(spec).__name__}; pass 'magnesium', an MSigDB "
            "name, a GMT path, a dict name -> genes, or a DataFrame with columns set, gene."
        )
    s = spec.strip()
    if not s:
        raise GeneSetError("empty gene-set spec; try 'magnesium' or 'hallmark'.")
    p = Path(s).expanduser()
    if p.is_file():
        return _read_file(p)
    head, sep, names = s.partition(":")
    key = head.strip().lower()
    if key == "magnesium":
        return _load_bundled(names, version, s)
    if key in MSIGDB_COLLECTIONS:
        gs = msigdb(key, version=version)
        if sep:
            gs = gs.subset([n.strip() for n in names.split(",") if n.strip()])
        gs.spec = s
        return gs
    if re.search(r"\.(gmt|gmx)(\.gz)?$", s, re.I) or os.sep in s or "/" in s:
        raise GeneSetError(f"gene-set file {s} does not exist; check the path.")
    raise GeneSetError(
        f"unknown gene-set spec {spec!r}. Valid: 'magnesium', 'magnesium:all', "
        f"'magnesium:<{'|'.join(_safe_bundled_names())}>[,...]', MSigDB names "
        f"{', '.join(MSIGDB_COLLECTIONS)}, a .gmt/.gmx path, a dict or a DataFrame (set, gene)."
    )


def _safe_bundled_names() -> list[str]:
    try:
        return bundled_names()
    except GeneSetError:
        return [DEFAULT_SET]


def combine(*specs: Any, version: str | None = None) -> GeneSets:
    """Concatenate several specs (e.g. ``combine("magnesium", "hallmark")``).

    Raises
    ------
    GeneSetError
        If two inputs share a set name.
    """
    if not specs:
        raise GeneSetError("combine() needs at least one gene-set spec.")
    parts = [load(s, version=version) for s in specs]
    sets: dict[str, tuple[str, ...]] = {}
    metas = []
    for gs in parts:
        dup = [n for n in gs if n in sets]
        if dup:
            raise GeneSetError(f"set name(s) {dup[:5]} occur in more than one input; rename them.")
        sets.update(gs._sets)
        metas.append(gs._meta)
    meta = pd.concat(metas)
    return GeneSets._trusted(sets, meta, source=" + ".join(g.source for g in parts),
                             version=None, spec=" + ".join(str(g.spec) for g in parts))


# --------------------------------------------------------------------------- aliases


def _unique_alias_map(pairs: pd.DataFrame, current: set[str] | frozenset[str]) -> dict[str, str]:
    """alias -> symbol for aliases claimed by exactly one symbol and not a current symbol."""
    pairs = pairs.drop_duplicates()
    pairs = pairs[(pairs["alias"] != "") & (pairs["alias"] != pairs["symbol"])]
    n = pairs.groupby("alias", sort=False)["symbol"].transform("nunique")
    ok = pairs[(n == 1) & ~pairs["alias"].isin(current)]
    return dict(zip(ok["alias"], ok["symbol"]))


@lru_cache(maxsize=4)
def _bundled_aliases_cached(path: str, mtime_ns: int) -> tuple[dict[str, str], frozenset[str]]:
    t = _table_cached(path, mtime_ns)
    rows = []
    for sym, al, prev in zip(t["symbol"], t["aliases"], t["previous_symbols"]):
        for a in f"{al};{prev}".split(";"):
            if a.strip():
                rows.append((a.strip(), sym))
    pairs = pd.DataFrame(rows, columns=["alias", "symbol"])
    current = frozenset(t["symbol"])
    return _unique_alias_map(pairs, current), current


def _bundled_aliases() -> tuple[dict[str, str], frozenset[str]]:
    try:
        p = (gene_sets_dir() / _TABLE_NAME).resolve()
    except GeneSetError:
        return {}, frozenset()
    if not p.is_file():
        return {}, frozenset()
    return _bundled_aliases_cached(str(p), p.stat().st_mtime_ns)


_GI_CACHE: dict[int, tuple[Any, dict[str, str], frozenset[str]]] = {}


def _gene_info_aliases(table: pd.DataFrame) -> tuple[dict[str, str], frozenset[str]]:
    hit = _GI_CACHE.get(id(table))
    if hit is not None and hit[0] is table:
        return hit[1], hit[2]
    cols = {c.lower().lstrip("#"): c for c in table.columns}
    if "symbol" not in cols or "synonyms" not in cols:
        raise GeneSetError(
            "gene_info table needs columns 'symbol' and 'synonyms' (NCBI gene_info or "
            "mgtranscript.datasets.geneids.load_gene_info().table)."
        )
    sym = table[cols["symbol"]].astype(str)
    syn = table[cols["synonyms"]]
    if syn.map(lambda v: isinstance(v, (list, tuple))).any():
        syn = syn.map(lambda v: "|".join(v) if isinstance(v, (list, tuple)) else v)
    syn = syn.fillna("").astype(str).replace("-", "")
    ex = pd.DataFrame({"symbol": sym.to_numpy(), "alias": syn.str.split("|").to_numpy()}).explode("alias")
    ex = ex.dropna()
    current = frozenset(sym)
    amap = _unique_alias_map(ex[["alias", "symbol"]], current)
    _GI_CACHE.clear()
    _GI_CACHE[id(table)] = (table, amap, current)
    return amap, current


def _gene_info_table(gene_info: Any) -> pd.DataFrame | None:
    """Resolve the ``gene_info`` argument of :func:`match` to a table (or None)."""
    if gene_info is False or gene_info is None:
        return None
    if isinstance(gene_info, pd.DataFrame):
        return gene_info
    if hasattr(gene_info, "table") and isinstance(gene_info.table, pd.DataFrame):
        return gene_info.table
    if gene_info is True or gene_info == "auto":
        try:
            from .datasets import geneids
        except ImportError:  # pragma: no cover - depends on the install
            logger.info("mgtranscript.datasets.geneids not importable; gene_info aliases unused")
            return None
        if gene_info == "auto":
            from .fetch import cache_dir, urls
            from .fetch.urls import mirror_relpath

            # Data harmonised by mgtranscript's loaders always put gene_info in the cache;
            # "auto" never downloads it just to resolve aliases.
            cached = cache_dir() / mirror_relpath(urls.gene_info_url())
            if not cached.is_file():
                logger.info("gene_info not in the cache; alias resolution uses the bundled table only "
                            "(pass gene_info=True to download it)")
                return None
        return geneids.load_gene_info().table
    raise GeneSetError(
        f"gene_info must be 'auto', True, False, a GeneInfo or a DataFrame, not {gene_info!r}."
    )


# --------------------------------------------------------------------------- match


def _id_kind(names: Sequence[str]) -> str:
    s = pd.Series(list(names[:2000]), dtype=object).astype(str)
    if s.empty:
        return "nothing"
    fr = lambda pat: s.str.match(pat).mean()  # noqa: E731
    if fr(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$") > 0.5:
        return "Ensembl gene ids"
    if fr(r"^\d+$") > 0.5:
        return "numeric ids (NCBI/Entrez GeneIDs?)"
    if fr(r"^\d+(_[a-z]+)*_at$|^ILMN_\d+$|^A_\d+_P\d+$") > 0.5:
        return "microarray probe ids"
    if fr(r"^[A-Z][a-z][a-z0-9]*$") > 0.5:
        return "mouse/rat-style symbols (Title case)"
    return "gene symbols"


def _first(names: Iterable[str], k: int = 5) -> str:
    out = []
    for n in names:
        out.append(str(n))
        if len(out) >= k:
            break
    return ", ".join(out)


def _name_list(names: list[str], k: int = 10) -> str:
    more = f" and {len(names) - k} more" if len(names) > k else ""
    return ", ".join(names[:k]) + more


def match(
    gene_sets: Any,
    genes: Sequence[str] | pd.Index | np.ndarray,
    *,
    min_size: int = 1,
    max_size: int | None = None,
    resolve_aliases: bool = True,
    gene_info: Any = "auto",
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Match gene sets to the data's genes.

    Parameters
    ----------
    gene_sets
        Anything :func:`load` accepts.
    genes
        The data's gene names (e.g. ``adata.var_names``). If a name occurs more than
        once, its first occurrence is used.
    min_size, max_size
        Keep sets whose matched size (``final_size``) is within these bounds. Sets
        outside them are dropped *with a warning naming them* (default keeps every
        set with at least one gene: small curated sets are never dropped silently).
    resolve_aliases
        Resolve set genes absent from the data through aliases/previous symbols
        (bundled table, then NCBI gene_info synonyms); see the module docstring.
    gene_info
        Source of NCBI synonyms: ``"auto"`` (use
        :func:`~mgtranscript.datasets.geneids.load_gene_info` if gene_info is already in
        the download cache — the loaders put it there when they harmonise gene ids — and
        never download just for this), ``True`` (load it, downloading if needed), ``False`` (bundled aliases only), or a ``GeneInfo`` / DataFrame with
        ``symbol`` and ``synonyms`` columns.

    Returns
    -------
    indices
        ``{set name: np.ndarray[int64]}`` for each kept set: positions into ``genes``,
        unique and sorted.
    coverage
        DataFrame indexed by set (all input sets) with columns ``n_genes``,
        ``n_matched`` (exact), ``n_resolved_by_alias``, ``n_missing``,
        ``final_size``, ``kept``, ``reason`` (``""``, ``"no overlap"``,
        ``"below min_size"``, ``"above max_size"``), ``matched``, ``missing``,
        ``resolved`` (``;``-joined; resolved pairs as ``SETGENE->DATAGENE``).
        ``coverage.attrs["alias_sources"]`` lists the alias sources used.

    Warns
    -----
    GeneSetCoverageWarning
        When sets are dropped (no overlap, or outside min_size/max_size).

    Raises
    ------
    GeneSetError
        No set overlaps the data (the message shows the first genes of each and what
        kind of ids they look like), every set falls outside the size bounds, or
        bad ``min_size``/``max_size``.
    InputDataError
        ``genes`` is empty.
    """
    if not isinstance(min_size, (int, np.integer)) or isinstance(min_size, bool) or min_size < 0:
        raise GeneSetError(f"min_size must be a non-negative integer, not {min_size!r}.")
    if max_size is not None and (not isinstance(max_size, (int, np.integer)) or max_size < max(min_size, 1)):
        raise GeneSetError(
            f"max_size must be None or an integer >= max(min_size, 1); got {max_size!r} "
            f"with min_size={min_size}."
        )
    gs = load(gene_sets)
    if isinstance(genes, str):
        raise InputDataError("genes must be a sequence of gene names (e.g. adata.var_names), not one string.")
    data = np.asarray([str(g) for g in genes], dtype=object)
    if data.size == 0:
        raise InputDataError("no genes given to match the gene sets against (empty var_names?).")

    # data gene -> first position
    didx = pd.Index(data)
    if not didx.is_unique:
        ndup = int(didx.duplicated().sum())
        logger.warning("%d duplicated gene names in the data; the first occurrence of each is used", ndup)
        uniq, first = np.unique(data.astype(str), return_index=True)
        didx_u = pd.Index(uniq.astype(object))
        first_pos = first.astype(np.int64)
    else:
        didx_u = didx
        first_pos = None

    def lookup(names) -> np.ndarray:
        p = didx_u.get_indexer(names)
        if first_pos is not None:
            p = np.where(p >= 0, first_pos[np.maximum(p, 0)], -1)
        return p.astype(np.int64)

    set_names = list(gs)
    sizes, flat_l, codes, uniq_set_genes = gs._flat()
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    pos_u = lookup(uniq_set_genes)

    res_u = np.full(len(uniq_set_genes), -1, dtype=np.int64)
    sources: list[str] = []
    if resolve_aliases and (pos_u < 0).any():
        maps: list[tuple[dict[str, str], frozenset[str]]] = []
        b = _bundled_aliases()
        if b[0]:
            maps.append(b)
            sources.append("bundled magnesium table")
        gi_table = _gene_info_table(gene_info)
        if gi_table is not None:
            maps.append(_gene_info_aliases(gi_table))
            sources.append("NCBI gene_info")
        if maps:
            res_u = _resolve(uniq_set_genes, pos_u, data, maps, lookup)

    direct = pos_u[codes] >= 0
    resolved_pos = res_u[codes]
    via_alias = (~direct) & (resolved_pos >= 0)
    final = np.where(direct, pos_u[codes], resolved_pos)

    n_matched = np.add.reduceat(direct.astype(np.int64), starts) if len(sizes) else np.array([], int)
    n_alias = np.add.reduceat(via_alias.astype(np.int64), starts) if len(sizes) else np.array([], int)
    n_missing = sizes - n_matched - n_alias

    # per-set unique sorted positions, without a Python-level np.unique per set
    set_id = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    ok = final >= 0
    sid, fpos = set_id[ok], final[ok]
    order = np.lexsort((fpos, sid))
    sid, fpos = sid[order], fpos[order]
    first = np.ones(sid.size, dtype=bool)
    first[1:] = (sid[1:] != sid[:-1]) | (fpos[1:] != fpos[:-1])
    sid, fpos = sid[first], fpos[first]
    final_size = np.bincount(sid, minlength=len(sizes)).astype(np.int64)
    indices_all = np.split(fpos, np.cumsum(final_size)[:-1]) if len(sizes) else []

    # ;-joined gene lists per set (itertools.compress keeps this at C speed)
    matched_s: list[str] = []
    missing_s: list[str] = []
    resolved_s: list[str] = []
    direct_l = direct.tolist()
    miss_l = (~(direct | via_alias)).tolist()
    nm_l, nmiss_l, na_l = n_matched.tolist(), n_missing.tolist(), n_alias.tolist()
    for i, (s0, n) in enumerate(zip(starts.tolist(), sizes.tolist())):
        e = s0 + n
        seg = flat_l[s0:e]
        matched_s.append(";".join(itertools.compress(seg, direct_l[s0:e])) if nm_l[i] else "")
        missing_s.append(";".join(itertools.compress(seg, miss_l[s0:e])) if nmiss_l[i] else "")
        if na_l[i]:
            va = np.flatnonzero(via_alias[s0:e]) + s0
            resolved_s.append(";".join(f"{flat_l[j]}->{data[final[j]]}" for j in va.tolist()))
        else:
            resolved_s.append("")

    reason = np.full(len(set_names), "", dtype=object)
    reason[final_size == 0] = "no overlap"
    small = (final_size > 0) & (final_size < min_size)
    reason[small] = "below min_size"
    if max_size is not None:
        reason[final_size > max_size] = "above max_size"
    kept = reason == ""

    coverage = pd.DataFrame(
        {
            "n_genes": sizes,
            "n_matched": n_matched,
            "n_resolved_by_alias": n_alias,
            "n_missing": n_missing,
            "final_size": final_size,
            "kept": kept.astype(bool),
            "reason": reason,
            "matched": matched_s,
            "missing": missing_s,
            "resolved": resolved_s,
        },
        index=pd.Index(set_names, name="set"),
    )[_COVERAGE_COLUMNS]
    coverage.attrs["alias_sources"] = sources

    if not (final_size > 0).any():
        kind_d, kind_s = _id_kind(list(data[:2000])), _id_kind(list(uniq_set_genes[:2000]))
        hint = (f" The data look like {kind_d} while the sets use {kind_s}: map the data's ids to "
                "current HGNC symbols first (mgtranscript.datasets.geneids.harmonise_var)."
                if kind_d != kind_s else " Check that the data and the sets are from the same "
                "species and use the same kind of gene identifier.")
        raise GeneSetError(
            f"none of the {len(set_names)} gene set(s) shares a gene with the data "
            f"({len(data)} genes). Data genes start: {_first(data)}; set genes start: "
            f"{_first(uniq_set_genes)}.{hint}"
        )
    names_arr = np.array(set_names, dtype=object)
    none = names_arr[final_size == 0].tolist()
    if none:
        warnings.warn(
            f"{len(none)} gene set(s) share no gene with the data and were dropped: "
            f"{_name_list(none)}.", GeneSetCoverageWarning, stacklevel=2,
        )
    by_size = (reason == "below min_size") | (reason == "above max_size")
    if by_size.any():
        shown = [f"{n} ({k} genes)" for n, k in zip(names_arr[by_size][:10], final_size[by_size][:10])]
        more = int(by_size.sum()) - len(shown)
        warnings.warn(
            f"{int(by_size.sum())} gene set(s) dropped by min_size={min_size}/max_size={max_size} "
            f"(matched sizes outside the bounds): {', '.join(shown)}"
            + (f" and {more} more" if more > 0 else "") + ". Relax min_size/max_size to keep them.",
            GeneSetCoverageWarning, stacklevel=2,
        )
    if not kept.any():
        raise GeneSetError(
            f"every gene set was dropped by min_size={min_size}/max_size={max_size} "
            f"(largest matched size {int(final_size.max())}); relax the bounds."
        )
    indices = {n: indices_all[i] for i, n in enumerate(set_names) if kept[i]}
    n_res = int(n_alias.sum())
    if n_res:
        logger.info("resolved %d set genes through aliases (%s)", n_res, ", ".join(sources))
    return indices, coverage


def _resolve(uniq: np.ndarray, pos_u: np.ndarray, data: np.ndarray,
             maps: list[tuple[dict[str, str], frozenset[str]]], lookup) -> np.ndarray:
    """Data positions for set genes absent from the data, via alias maps (-1 if none)."""
    out = np.full(len(uniq), -1, dtype=np.int64)
    miss = np.flatnonzero(pos_u < 0)
    if miss.size == 0:
        return out
    miss_names = uniq[miss]
    data_s = pd.Series(data)
    for amap, current in maps:
        todo = out[miss] < 0
        if not todo.any():
            break
        names = miss_names[todo]
        # canonical symbol of each missing set gene: alias -> symbol, else itself
        canon = np.array([amap.get(n, n) for n in names], dtype=object)
        # (a) the set uses an old name and the data the current symbol
        p_a = lookup(canon)
        p_a[canon == names] = -1
        # (b) the data use an old name of the set gene's canonical symbol
        dcanon = data_s.map(amap)
        has = dcanon.notna().to_numpy()
        rev: dict[str, int] = {}
        for sym, p in zip(dcanon.to_numpy()[has], np.flatnonzero(has)):
            rev.setdefault(sym, int(p))
        p_b = np.array([rev.get(c, -1) for c in canon], dtype=np.int64)
        p = np.where(p_a >= 0, p_a, p_b)
        idx = miss[todo]
        out[idx] = p
    return out
