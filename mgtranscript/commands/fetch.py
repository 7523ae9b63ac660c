"""``mgtranscript fetch``: load a GEO series (with catalog labels when available) into an h5ad."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

NAME = "fetch"
HELP = "download a GEO series into an AnnData .h5ad (samples x genes, log2 X, counts layer)"

logger = logging.getLogger(__name__)

_LABEL_COLUMNS = ("condition", "disease", "diagnosis", "fibrosis_stage", "group_in_paper")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("accession", help="GEO series accession, e.g. GSE126848")
    p.add_argument("--out", "-o", type=Path, help="output .h5ad file (default: ACCESSION.h5ad here)")
    p.add_argument("--samples", help="sample sheet (CSV/TSV, e.g. SraRunTable.csv) joined on GSM/run/title")
    p.add_argument("--samples-key", help="sample-sheet column holding the sample ids")
    p.add_argument("--platform", help="GPL id: load only this platform of a multi-platform series")
    p.add_argument("--metadata-only", action="store_true", help="sample metadata only (zero genes)")
    p.add_argument("--source", default="auto", choices=["auto", "matrix", "soft", "ncbi", "suppl"],
                   help="where the values come from (default: auto)")
    p.add_argument("--no-harmonise", action="store_true", help="keep the original gene ids")


def not_in_mirror(accession: str, exc: Exception) -> Exception:
    """An accession none of whose files is in the mirror set by ``MGTRANSCRIPT_MIRROR``: say that
    the accession may not exist, and what to do when it does (the variable is already set)."""
    import os
    import re

    from ..errors import OfflineError

    mirror = os.environ.get("MGTRANSCRIPT_MIRROR", "").strip()
    text = str(exc)
    if not mirror or "none of its files" not in text:
        return exc
    acc = accession.strip().upper()
    tried = re.search(r"\(tried (.*?)\)\.", text)
    n = len(tried.group(1).split("; ")) if tried else 0
    return OfflineError(
        f"{acc}: none of its files is in the mirror {mirror}" + (f" ({n} places tried)" if n else "")
        + f". The accession may not exist: check it (GEO series ids look like GSE126848; "
        f"https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc={acc}; `mgtranscript datasets` lists the cohorts this "
        "toolkit knows). If it exists, add its files to the mirror, or unset MGTRANSCRIPT_MIRROR to download it "
        "from GEO." + (f"\nTried: {tried.group(1)}" if tried else ""))


def h5ad_safe(adata) -> None:
    """Make ``obs``/``var``/``uns`` writable to h5ad in place (mixed columns -> str, uns plain)."""
    for frame in (adata.obs, adata.var):
        for c in list(frame.columns):
            col = frame[c]
            if col.dtype == object:
                types = {type(v) for v in col.dropna()}
                if types - {str}:
                    frame[c] = col.map(lambda v: v if (v is None or (isinstance(v, float) and np.isnan(v)))
                                       else str(v))
    adata.uns = _plain(dict(adata.uns))


def _plain(value):
    if isinstance(value, dict):
        return {str(k).replace("/", "_"): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        if items and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                         for v in items):
            return items
        return [str(v) for v in items]
    if isinstance(value, pd.DataFrame):
        return value
    if value is None:
        return ""
    if isinstance(value, (str, int, float, bool, np.ndarray, np.integer, np.floating, np.bool_)):
        return value
    return str(value)


def run(args: argparse.Namespace) -> int:
    import warnings

    from .. import datasets
    from .._output import atomic_file, check_output_file
    from ..errors import OfflineError
    from ._common import check_input_file

    out = check_output_file(args.out or Path(f"{args.accession.strip().upper()}.h5ad"))  # before any download
    if args.samples:
        check_input_file(args.samples, "--samples", "sample sheet")
    kwargs = dict(samples=args.samples, samples_key=args.samples_key,
                  metadata_only=args.metadata_only)
    extra = dict(platform=args.platform, source=args.source, harmonise=not args.no_harmonise)
    if args.accession.strip().upper().startswith("TCGA-"):  # GDC loader: no GEO options
        extra = {}
    import importlib.util

    with warnings.catch_warnings(record=True) as caught:  # shown once each, on stderr, below
        warnings.simplefilter("always")
        try:
            if hasattr(datasets, "load_cohort") and importlib.util.find_spec("mgtranscript.datasets.catalog"):
                adata = datasets.load_cohort(args.accession, **kwargs, **extra)
            else:  # the catalog (labels) is not available: raw GEO metadata only
                from ..datasets.geo import geo

                logger.info("mgtranscript.datasets.load_cohort/catalog unavailable; loading with geo()")
                adata = geo(args.accession, **kwargs, **extra)
        except OfflineError as exc:
            raise not_in_mirror(args.accession, exc) from exc
    h5ad_safe(adata)
    with atomic_file(out) as tmp:
        adata.write_h5ad(tmp)
    geo_uns = adata.uns.get("geo") or adata.uns.get("gdc", {})
    shown = []
    for w in [str(c.message) for c in caught] + list(geo_uns.get("warnings", [])):
        if w not in shown:
            shown.append(w)
            logger.warning("%s", w)
    print(f"{geo_uns.get('accession', args.accession)}: {adata.n_obs} samples x {adata.n_vars} genes "
          f"(source: {geo_uns.get('source', '?')})")
    print(f"layers: {', '.join(adata.layers.keys()) or 'none'}; "
          f"X scale: {adata.uns.get('mgtranscript', {}).get('scale', {}).get('X', 'none')}")
    cm = geo_uns.get("column_match")
    if cm:
        print(f"columns matched by {cm['rule']}: {cm['n_matched']}/{cm['n_columns']}")
    for col in _LABEL_COLUMNS:
        if col in adata.obs and adata.obs[col].notna().any():
            counts = adata.obs[col].astype(str).value_counts()
            print(f"{col}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"wrote {out}")
    return 0
