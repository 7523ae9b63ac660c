"""Gene-identifier harmonisation against NCBI ``gene_info``.

Public count tables name genes in three ways: Ensembl gene ids (author tables,
GDC STAR counts), NCBI GeneIDs (GEO's NCBI-generated counts) and symbols
(series matrices, older author tables) -- the symbols often out of date. This
module maps all three onto the current NCBI/HGNC symbol with one documented set
of rules, using NCBI's ``Homo_sapiens.gene_info.gz`` fetched through
:func:`mgtranscript.fetch.fetch` (so the mirror/offline settings apply).

Mapping rules (:meth:`GeneInfo.map_ids`)
----------------------------------------
* **Ensembl** (``ENSG00000158158`` or ``ENSG00000158158.12``; the version
  suffix is stripped) -> the gene whose ``dbXrefs`` carry ``Ensembl:ENSG...``.
  When NCBI links one Ensembl id to several GeneIDs (about 100 ids, mostly a
  protein-coding gene plus an overlapping ncRNA/LOC record) the gene with an HGNC
  id wins, then a protein-coding gene, then the lowest GeneID.
* **Entrez GeneID** (all digits) -> that GeneID's current symbol.
* **Symbol** -> kept if it is a current symbol (``how="symbol"``); otherwise an old
  symbol resolves through the ``Synonyms`` column only when it is *unambiguous*,
  i.e. exactly one gene lists it (``how="synonym"``). Ambiguous synonyms stay
  unmapped and are flagged (``ambiguous=True``, counted as ``n_ambiguous``). A
  current symbol always wins over a synonym (``EMC5`` style clashes). Matching is
  exact first, then case-insensitive. Where NCBI repeats a symbol (a few
  mitochondrial/tRNA records) the record with an HGNC id, then the lowest GeneID
  wins.
* ``id_type="auto"`` decides per id: ``ENS*G<digits>`` is Ensembl, all digits is
  Entrez, anything else is a symbol.

:func:`harmonise_var` applies the mapping to ``adata.var_names`` and collapses
duplicated symbols (see its docstring for the rule).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputDataError

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = [
    "GeneInfo",
    "load_gene_info",
    "harmonise_ids",
    "harmonise_var",
    "ensure_symbols",
    "DUPLICATE_RULES",
]

#: Accepted values of ``harmonise_var(duplicates=...)``.
DUPLICATE_RULES = ("auto", "sum", "mean", "first", "max_mean")

from ._gene_info import GeneInfo


#: The parsed table of the last gene_info file read: a downloaded one by its content (sha256) and public
#: URL, so that the same file in another cache folder (or after a re-download) is not parsed again; a
#: local file by its path, modification time and size.
_CACHE: dict[tuple, GeneInfo] = {}


def load_gene_info(*, url: str | None = None, taxon: str = "Homo_sapiens") -> GeneInfo:
    """Load NCBI ``gene_info`` (downloaded once into the cache; parsed once per process and file
    content).

    Parameters
    ----------
    url
        Where to fetch it from; default :func:`mgtranscript.fetch.gene_info_url`
        for ``taxon`` (honours ``settings.mirror`` / ``settings.offline``).
        A local path is also accepted.
    taxon
        NCBI file stem, e.g. ``"Homo_sapiens"`` or ``"Mus_musculus"``.

    Returns
    -------
    :class:`GeneInfo` with ``source`` (public URL) and ``sha256`` set.
    """
    from ..fetch import fetch, fetch_read, gene_info_url, read_meta, sha256sum

    def remember(key: tuple, gi: GeneInfo) -> GeneInfo:
        _CACHE.clear()  # keep one table in memory (~60 MB)
        _CACHE[key] = gi
        logger.info("loaded %d genes from %s", len(gi), gi.source)
        return gi

    if url is not None and not re.match(r"^[a-z]+://", str(url)):
        path = Path(url).expanduser()
        if not path.is_file():
            raise InputDataError(f"gene_info file {path} does not exist; pass a URL or an existing file.")
        st = path.stat()  # a user's own file: known by its place and its last change (no hashing per call)
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        if key not in _CACHE:
            remember(key, GeneInfo.from_file(path, source=str(path), sha256=sha256sum(path)))
        return _CACHE[key]
    src = url or gene_info_url(species=taxon)

    def key_of(path: Path) -> tuple:
        meta = read_meta(path)
        return (meta.get("sha256") or sha256sum(path), meta.get("url", src))

    key = key_of(fetch(src))
    if key in _CACHE:
        return _CACHE[key]

    def parse(path: Path):  # a damaged cached copy is evicted and fetched again by fetch_read
        sha, source = key_of(path)
        return (sha, source), GeneInfo.from_file(path, source=source, sha256=sha)

    key, gi = fetch_read(src, parse)
    return remember(key, gi)


def harmonise_ids(ids: Iterable[str], *, id_type: str = "auto", gene_info: GeneInfo | None = None) -> pd.DataFrame:
    """:meth:`GeneInfo.map_ids` on the default human ``gene_info``."""
    gi = gene_info or load_gene_info()
    return gi.map_ids(ids, id_type=id_type)


def ensure_symbols(
    genes: Iterable[str], *, id_type: str = "auto", keep_unmapped: bool = True, gene_info: GeneInfo | None = None
) -> list[str]:
    """Current symbols for ``genes`` (e.g. a gene set written with old aliases).

    Unmapped ids are kept as given (``keep_unmapped=True``) or dropped.
    """
    gi = gene_info or load_gene_info()
    return gi.symbols(genes, id_type=id_type, keep_unmapped=keep_unmapped)


# ---------------------------------------------------------------------- AnnData


def _is_count_matrix(m) -> bool:
    """True if every stored value is a non-negative integer."""
    data = m.data if sp.issparse(m) else np.asarray(m)
    if data.size == 0:
        return True
    if np.issubdtype(data.dtype, np.integer):
        return bool((data >= 0).all())
    if not np.issubdtype(data.dtype, np.floating):
        return False
    return bool(np.all(data >= 0) and np.all(np.equal(np.mod(data, 1), 0)))


def _col_means(m) -> np.ndarray:
    if sp.issparse(m):
        return np.asarray(m.mean(axis=0)).ravel()
    return np.nanmean(np.asarray(m, dtype=np.float64), axis=0) if np.asarray(m).size else np.zeros(m.shape[1])


def _aggregate(m, indicator: sp.csr_matrix, sizes: np.ndarray, how: str):
    """Sum (or mean) the columns of ``m`` within groups (``indicator``: n_vars x n_groups)."""
    if sp.issparse(m):
        out = sp.csr_matrix(m) @ indicator
        if how == "mean":
            out = out @ sp.diags(1.0 / sizes)
        return out.tocsr().astype(np.result_type(m.dtype, np.float64) if how == "mean" else m.dtype)
    arr = np.asarray(m)
    out = np.asarray(indicator.T @ arr.T).T if arr.size else np.zeros((arr.shape[0], indicator.shape[1]), arr.dtype)
    if how == "mean":
        out = out / sizes[None, :]
    elif np.issubdtype(arr.dtype, np.integer):
        out = out.astype(arr.dtype)
    return out


def harmonise_var(
    adata: AnnData,
    *,
    id_type: str = "auto",
    duplicates: str = "auto",
    unmapped: str = "keep",
    gene_info: GeneInfo | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Rename ``adata.var_names`` to current gene symbols and collapse duplicates.

    Parameters
    ----------
    adata
        AnnData whose ``var_names`` are Ensembl ids, Entrez GeneIDs or symbols.
    id_type
        ``"auto"`` (decided per id), ``"ensembl"``, ``"entrez"`` or ``"symbol"``.
    duplicates
        How rows (genes) that end up with the same symbol are collapsed:

        ``"auto"``
            If ``layers["counts"]`` exists: every matrix (``X`` or layer) whose values
            are all non-negative integers is **summed** over the duplicated rows (read
            counts of one gene split over several ids add up); any other matrix
            (log/normalised data) keeps the row with the highest mean of ``X``, and
            ``uns["gene_ids"]["x_stale"]`` is set to ``True`` when ``X`` was not summed
            (``X`` is then not exactly derived from the summed counts; recompute it if
            that matters). Without a counts layer: as ``"max_mean"``.
        ``"max_mean"``
            Keep the row with the highest mean of ``X`` (ties: the first row), in
            ``X`` and every layer.
        ``"sum"`` / ``"mean"``
            Sum / average the rows (limma ``avereps`` is ``"mean"``) in ``X`` and every layer.
        ``"first"``
            Keep the first row.
    unmapped
        ``"keep"`` unmapped ids under their original id, or ``"drop"`` them. A kept
        unmapped id that equals a mapped gene's symbol is collapsed with it.
    gene_info
        A :class:`GeneInfo`; default :func:`load_gene_info`.
    copy
        Return a modified copy instead of changing ``adata`` in place.

    Returns
    -------
    ``None`` (or the copy). Sets ``var_names`` to symbols and ``var`` columns
    ``original_id`` (the input id of the row kept), ``gene_id``, ``ensembl``,
    ``mapping`` (how it was mapped), ``n_collapsed`` (input rows merged into it) and
    ``collapsed_ids`` (``|``-joined input ids when more than one). ``obs``, ``obsm``
    and ``uns`` are untouched except ``uns["gene_ids"]``: ``n_input``, ``n_mapped``,
    ``fraction_mapped``, ``by_how``, ``n_ambiguous``, ``n_unmapped_dropped``,
    ``n_duplicates_collapsed`` (rows removed by collapsing), ``rule``,
    ``summed_layers``, ``x_stale``, ``source`` and ``sha256`` of the gene_info file.

    Raises
    ------
    InputDataError
        For an unknown ``duplicates``/``unmapped``/``id_type`` value.
    """
    if duplicates not in DUPLICATE_RULES:
        raise InputDataError(f"duplicates must be one of {DUPLICATE_RULES}, got {duplicates!r}.")
    if unmapped not in ("keep", "drop"):
        raise InputDataError(f"unmapped must be 'keep' or 'drop', got {unmapped!r}.")
    gi = gene_info or load_gene_info()
    if copy:
        adata = adata.copy()
    elif adata.is_view:
        raise InputDataError(
            "harmonise_var cannot change a view in place; pass copy=True or call .copy() on the view."
        )

    m = gi.map_ids(adata.var_names, id_type=id_type)
    n_input = int(adata.n_vars)
    mapped = (m["how"] != "unmapped").to_numpy()
    by_how = {k: int(v) for k, v in m["how"].value_counts().items()}
    n_ambiguous = int(m["ambiguous"].sum())

    keep_rows = np.ones(n_input, dtype=bool) if unmapped == "keep" else mapped
    new_names = m["symbol"].astype(object).where(m["symbol"].notna(), m["original_id"]).to_numpy()
    rows = np.flatnonzero(keep_rows)
    codes, uniques = pd.factorize(pd.Index(new_names[rows]))
    n_groups = len(uniques)
    sizes = np.bincount(codes, minlength=n_groups).astype(np.int64)
    has_dups = bool((sizes > 1).any())

    counts_layer = "counts" in adata.layers
    if duplicates == "auto":
        rule = "auto: sum count matrices, max_mean otherwise" if counts_layer else "max_mean"
    else:
        rule = duplicates
    select = duplicates in ("first", "max_mean") or (duplicates == "auto" and not counts_layer)

    # representative row per group (used for var, varm and selection rules)
    if duplicates in ("first", "sum", "mean"):
        first = np.full(n_groups, -1, dtype=np.int64)
        order = np.arange(len(codes))[::-1]
        first[codes[order]] = order  # last write wins -> first occurrence
        rep = first
    else:
        if adata.X is None:
            means = np.zeros(len(rows))
        else:
            means = _col_means(adata.X[:, rows] if len(rows) < n_input else adata.X)
        # lexsort: group, then highest mean, then first position
        order = np.lexsort((np.arange(len(codes)), -np.nan_to_num(means, nan=-np.inf), codes))
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        rep = order[starts]
    rep_rows = rows[rep]

    summed: list[str] = []
    x_stale = False
    new_mats: dict[str, object] = {}
    if has_dups and not select:
        indicator = sp.csr_matrix(
            (np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), n_groups)
        )
        mats = {"X": adata.X, **{f"layer:{k}": v for k, v in adata.layers.items()}}
        for name, mat in mats.items():
            if mat is None:
                continue
            sub = mat[:, rows] if len(rows) < n_input else mat
            if duplicates in ("sum", "mean"):
                new_mats[name] = _aggregate(sub, indicator, sizes, duplicates)
                summed.append(name)
            elif _is_count_matrix(sub):  # auto with counts layer
                new_mats[name] = _aggregate(sub, indicator, sizes, "sum")
                summed.append(name)
        x_stale = duplicates == "auto" and "X" not in summed

    # subset in place (or on the copy) to the representative rows, then overwrite summed matrices
    adata._inplace_subset_var(rep_rows)
    for name, mat in new_mats.items():
        if name == "X":
            adata.X = mat
        else:
            adata.layers[name.split(":", 1)[1]] = mat

    mm = m.iloc[rep_rows]
    ids_kept = m["original_id"].to_numpy()[rows]
    collapsed = np.full(n_groups, "", dtype=object)
    if has_dups:  # join the ids of groups with duplicates only (a few of ~20-60k groups)
        in_multi = (sizes > 1)[codes]
        grp = pd.Series(ids_kept[in_multi]).groupby(codes[in_multi], sort=True).agg("|".join)
        collapsed[grp.index.to_numpy()] = grp.to_numpy()
    adata.var["original_id"] = mm["original_id"].to_numpy()
    adata.var["gene_id"] = mm["gene_id"].to_numpy()
    adata.var["ensembl"] = mm["ensembl"].to_numpy()
    adata.var["mapping"] = pd.Categorical(mm["how"].to_numpy(), categories=["ensembl", "entrez", "symbol", "synonym", "unmapped"])
    adata.var["n_collapsed"] = sizes
    adata.var["collapsed_ids"] = collapsed
    adata.var_names = pd.Index(np.asarray(uniques, dtype=object).astype(str))

    n_mapped = int(mapped.sum())
    adata.uns["gene_ids"] = {
        "n_input": n_input,
        "n_mapped": n_mapped,
        "fraction_mapped": float(n_mapped / n_input) if n_input else 0.0,
        "by_how": by_how,
        "n_ambiguous": n_ambiguous,
        "n_unmapped_dropped": int(n_input - len(rows)),
        "n_duplicates_collapsed": int(len(rows) - n_groups),
        "n_output": int(n_groups),
        "duplicates": duplicates,
        "rule": rule,
        "summed_layers": summed,
        "x_stale": bool(x_stale),
        "source": gi.source,
        "sha256": gi.sha256,
    }
    logger.info(
        "harmonised %d ids: %d mapped (%.1f%%), %d ambiguous, %d duplicates collapsed (%s)",
        n_input, n_mapped, 100 * n_mapped / max(n_input, 1), n_ambiguous, len(rows) - n_groups, rule,
    )
    return adata if copy else None
