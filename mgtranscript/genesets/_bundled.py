"""The curated magnesium sets bundled with mgtranscript (``gene_sets/``)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pandas as pd

from .._settings import settings
from ..errors import GeneSetError
from ._sets import GeneSets
from ._formats import _parse_gmt

__all__ = [
    "DEFAULT_SET", "ENV_VAR", "CELLTYPE_SPEC", "gene_sets_dir", "bundled_version", "bundled_names", "mg_gene_table",
    "liver_celltype_table",
]

#: The default liver magnesium score.
DEFAULT_SET = "MG_LIVER_CORE"

#: The environment variable giving the default of ``settings.gene_sets_dir`` (an alternative
#: ``gene_sets/`` folder).
ENV_VAR = "MGTRANSCRIPT_GENE_SETS"

_GMT_NAME = "magnesium.gmt"
_TABLE_NAME = "magnesium_genes.tsv"


def gene_sets_dir() -> Path:
    """The folder holding the bundled sets.

    ``settings.gene_sets_dir`` (``MGTRANSCRIPT_GENE_SETS``) when set, else the ``gene_sets/``
    resources shipped with the package (the repository's top-level ``gene_sets/`` in a source
    checkout).

    Raises
    ------
    GeneSetError
        If the folder (or its ``magnesium.gmt``) is missing.
    """
    from .._resources import resource_dir

    d = settings.gene_sets_dir or resource_dir("gene_sets")
    if d is None or not (d / _GMT_NAME).is_file():
        where = f"at {d}" if d is not None else "inside the installed package"
        raise GeneSetError(
            f"the bundled magnesium gene sets were not found {where}. Reinstall mgtranscript "
            f"(`pip install mgtranscript`, or `pip install -e .` from its repository), or set "
            f"mgtranscript.settings.gene_sets_dir (or {ENV_VAR}) to a folder holding {_GMT_NAME}, {_TABLE_NAME} and VERSION."
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




# ---------------------------------------------------------------------------------------
# liver cell-type marker sets (gene_sets/liver_celltypes.gmt + .tsv)
# ---------------------------------------------------------------------------------------

#: The bundled liver cell-type marker sets (spec ``"liver_celltypes"``).
CELLTYPE_SPEC = "liver_celltypes"
_CT_GMT = "liver_celltypes.gmt"
_CT_TABLE = "liver_celltypes.tsv"


def liver_celltype_table() -> pd.DataFrame:
    """The bundled liver cell-type marker table (``gene_sets/liver_celltypes.tsv``).

    One row per gene: ``cell_type``, ``gene``, ``source`` (the single-cell atlas(es) that
    report the gene as a marker of that population, ``;`` joined).
    """
    p = (gene_sets_dir() / _CT_TABLE).resolve()
    if not p.is_file():
        raise GeneSetError(f"{p} is missing; the bundled gene_sets folder is incomplete.")
    return _table_cached(str(p), p.stat().st_mtime_ns).copy()


@lru_cache(maxsize=4)
def _celltypes_cached(path: str, mtime_ns: int) -> GeneSets:
    sets, desc = _parse_gmt(Path(path))
    table = _table_cached(str(Path(path).with_name(_CT_TABLE)), Path(path).with_name(_CT_TABLE).stat().st_mtime_ns)
    rows = {}
    version = None
    for name, text in desc.items():
        parts = [p.strip() for p in text.split(";")]
        kv = {m.group(1): m.group(2) for m in map(_KV.match, parts) if m}
        version = kv.get("version", version)
        papers = table.loc[table["cell_type"] == name, "source"].str.split("; ").explode()
        rows[name] = {
            "description": "; ".join(p for p in parts if not _KV.match(p)),
            "source": "; ".join(dict.fromkeys(papers.dropna())),
            "version": kv.get("version", ""),
        }
    meta = pd.DataFrame.from_dict(rows, orient="index")
    return GeneSets._trusted(sets, meta, source=f"mgtranscript liver cell types v{version}", version=version,
                             spec=CELLTYPE_SPEC)


def _load_liver_celltypes(names: str, spec: str) -> GeneSets:
    """``"liver_celltypes"`` (all eight sets) or ``"liver_celltypes:hepatocyte,t_nk"``."""
    p = (gene_sets_dir() / _CT_GMT).resolve()
    if not p.is_file():
        raise GeneSetError(f"{p} is missing; the bundled gene_sets folder is incomplete.")
    gs = _celltypes_cached(str(p), p.stat().st_mtime_ns)._clone()
    names = names.strip()
    if names:
        sel = [n.strip().lower() for n in names.split(",") if n.strip()]
        unknown = [n for n in sel if n not in gs]
        if unknown:
            raise GeneSetError(f"unknown liver cell type(s) {unknown}; valid names: {', '.join(gs)}.")
        gs = gs.subset(sel)
    gs.spec = spec
    return gs
