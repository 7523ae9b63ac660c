"""GEO platform (GPL) annotation: probe -> gene symbol, and collapsing probes to genes.

Rule (documented contract, as GEO2R / WGCNA ``collapseRows(method="MaxMean")``):

1. probes without a gene symbol are dropped (counted as ``unmapped``);
2. probes annotated to several genes (``"A /// B"``) are dropped (counted as
   ``multi_gene``): their signal cannot be attributed to one gene;
3. a gene hit by several probes keeps the probe with the highest mean expression
   across samples (NaN ignored); the others are counted as ``collapsed``.

The report is a plain dict stored by :func:`mgtranscript.datasets.geo` in
``adata.uns["geo"]["probe_mapping"]``.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataFormatError, FetchError
from ..fetch import fetch, gpl_annot_url, gpl_full_soft_url, read_meta

logger = logging.getLogger(__name__)

__all__ = ["read_platform_table", "platform_symbols", "load_platform_symbols", "collapse_probes"]

#: column names that hold gene symbols in GPL tables (first match wins, case-insensitive)
SYMBOL_COLUMNS = (
    "Gene symbol", "Gene Symbol", "GENE_SYMBOL", "Symbol", "gene_symbol", "GeneSymbol",
    "ILMN_Gene", "ORF",
)


def read_platform_table(path: str | Path) -> pd.DataFrame:
    """Read the table between ``!<kind>_table_begin`` and ``!<kind>_table_end`` of a GPL file.

    Works on ``annot/GPLxxx.annot.gz`` and on the full platform SOFT
    (``soft/GPLxxx_family.soft.gz``). All columns are returned as text.
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    begin = re.compile(rb"^!\w*table_begin", re.I)
    end = re.compile(rb"^!\w*table_end", re.I)
    buf: list[bytes] = []
    inside = False
    with opener(path, "rb") as fh:
        for line in fh:
            if not inside:
                if begin.match(line):
                    inside = True
                continue
            if end.match(line):
                break
            buf.append(line)
        else:
            if inside:
                raise DataFormatError(
                    f"{path.name}: the platform table has no end marker; the file is truncated. "
                    "Delete it from the cache and fetch it again."
                )
    if not buf:
        raise DataFormatError(f"{path.name}: no platform table found (no '!..._table_begin' line).")
    return pd.read_csv(io.BytesIO(b"".join(buf)), sep="\t", dtype=str, keep_default_na=False,
                       quotechar='"', comment=None, on_bad_lines="error")


def platform_symbols(table: pd.DataFrame) -> pd.Series:
    """Probe id -> gene symbol ("" when none) from a GPL table.

    Uses the first column named like :data:`SYMBOL_COLUMNS`; for Affymetrix gene/exon
    arrays the second field of ``gene_assignment`` (``"NM_x // SYMBOL // ..."``).

    Raises
    ------
    DataFormatError
        If no ID or symbol column is found.
    """
    cols = {c.lower(): c for c in table.columns}
    idcol = cols.get("id")
    if idcol is None:
        raise DataFormatError(f"platform table has no ID column (columns: {list(table.columns)[:8]}).")
    ids = table[idcol].astype(str)
    for cand in SYMBOL_COLUMNS:
        if cand.lower() in cols:
            sym = table[cols[cand.lower()]].fillna("").astype(str).str.strip()
            return pd.Series(sym.to_numpy(), index=ids.to_numpy(), name="symbol")
    if "gene_assignment" in cols:
        ga = table[cols["gene_assignment"]].fillna("").astype(str)
        sym = ga.map(lambda s: " /// ".join(
            sorted({p.split("//")[1].strip() for p in s.split("///") if p.count("//") >= 1})
        ) if s.strip() not in ("", "---") else "")
        return pd.Series(sym.to_numpy(), index=ids.to_numpy(), name="symbol")
    raise DataFormatError(
        f"platform table has no gene symbol column (columns: {list(table.columns)[:12]}); "
        f"expected one of {SYMBOL_COLUMNS} or gene_assignment."
    )


def load_platform_symbols(platform: str, *, progress: bool | None = None) -> tuple[pd.Series, dict]:
    """Fetch the annotation of ``platform`` and return (probe -> symbol, provenance).

    Tries ``annot/GPLxxx.annot.gz`` first, then the full platform SOFT.

    Raises
    ------
    FetchError
        If neither file can be obtained (the message lists both URLs).
    """
    tried = []
    for url in (gpl_annot_url(platform), gpl_full_soft_url(platform)):
        try:
            path = fetch(url, progress=progress)
        except FetchError as exc:
            tried.append(f"{url} ({type(exc).__name__})")
            continue
        table = read_platform_table(path)
        meta = read_meta(path)
        return platform_symbols(table), {"url": url, "sha256": meta.get("sha256", ""),
                                         "role": f"{platform} annotation"}
    raise FetchError(
        f"cannot obtain the annotation of {platform}; tried: {'; '.join(tried)}. Check the "
        "network or mirror, or pass platform data already mapped to genes.",
        url=tried[0].split(" ")[0] if tried else None,
    )


def collapse_probes(values: pd.DataFrame, symbols: pd.Series) -> tuple[pd.DataFrame, dict]:
    """Map a probes x samples table to genes x samples with the module's rule.

    Parameters
    ----------
    values
        Rows = probe ids, columns = samples.
    symbols
        Probe id -> gene symbol (``""`` or NaN when none; ``"A /// B"`` for several).

    Returns
    -------
    (genes x samples DataFrame, report dict)
    """
    sym = symbols[~symbols.index.duplicated()].reindex(values.index.astype(str))
    sym = sym.fillna("").astype(str).str.strip()
    unmapped = (sym == "") | (sym == "---")
    multi = sym.str.contains("///", regex=False) & ~unmapped
    keep = ~(unmapped | multi)
    v = values.loc[keep.to_numpy()]
    s = sym[keep]
    means = v.mean(axis=1, skipna=True).to_numpy()
    order = pd.DataFrame({"gene": s.to_numpy(), "mean": np.nan_to_num(means, nan=-np.inf),
                          "pos": np.arange(len(s))})
    order = order.sort_values(["gene", "mean", "pos"], ascending=[True, False, True], kind="mergesort")
    best = order.drop_duplicates("gene", keep="first").sort_values("pos")
    out = v.iloc[best["pos"].to_numpy()]
    out.index = pd.Index(best["gene"].to_numpy(), name="gene")
    n_genes = len(best)
    report = {
        "rule": "probes without a symbol or with several ('///') are dropped; a gene hit by "
                "several probes keeps the probe with the highest mean expression (maxMean)",
        "n_probes": int(len(values)),
        "n_unmapped": int(unmapped.sum()),
        "n_multi_gene": int(multi.sum()),
        "n_collapsed": int(keep.sum() - n_genes),
        "n_genes": int(n_genes),
        "n_genes_multi_probe": int((s.value_counts() > 1).sum()),
    }
    return out, report

