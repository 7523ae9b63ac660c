"""Matching set genes to a dataset's gene names, with alias resolution and a coverage report."""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ..errors import GeneSetError, InputDataError
from ._load import load
from ._sets import GeneSetCoverageWarning
from ._bundled import _TABLE_NAME, _table_cached, gene_sets_dir

logger = logging.getLogger("mgtranscript.genesets")

__all__ = ["match"]

_COVERAGE_COLUMNS = [
    "n_genes", "n_matched", "n_resolved_by_alias", "n_missing", "final_size",
    "kept", "reason", "matched", "missing", "resolved",
]



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
            "mgtranscript.datasets.load_gene_info().table)."
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
        from ..datasets import load_gene_info

        if gene_info == "auto":
            from ..fetch import cache_dir, gene_info_url, mirror_relpath

            # Data harmonised by mgtranscript's loaders always put gene_info in the cache;
            # "auto" never downloads it just to resolve aliases.
            cached = cache_dir() / mirror_relpath(gene_info_url())
            if not cached.is_file():
                logger.info("gene_info not in the cache; alias resolution uses the bundled table only "
                            "(pass gene_info=True to download it)")
                return None
        return load_gene_info().table
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
        :func:`~mgtranscript.datasets.load_gene_info` if gene_info is already in
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
                "current HGNC symbols first (mgtranscript.datasets.harmonise_var)."
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
