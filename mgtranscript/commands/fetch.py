"""``mgtranscript fetch``: load a GEO series or a TCGA project (with catalog labels) into an h5ad."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path


NAME = "fetch"
HELP = "download a GEO series or TCGA project into an AnnData .h5ad (samples x genes, log2 X, counts layer)"

logger = logging.getLogger(__name__)

_LABEL_COLUMNS = ("condition", "disease", "diagnosis", "fibrosis_stage", "group_in_paper")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("accession", help="GEO series accession (e.g. GSE126848) or GDC project (e.g. TCGA-LIHC)")
    p.add_argument("--out", "-o", type=Path, help="output .h5ad file (default: ACCESSION.h5ad here)")
    p.add_argument("--samples", help="sample sheet (CSV/TSV, e.g. SraRunTable.csv) joined on GSM/run/title")
    p.add_argument("--samples-key", help="sample-sheet column holding the sample ids")
    p.add_argument("--platform", help="GPL id: load only this platform of a multi-platform series")
    p.add_argument("--metadata-only", action="store_true", help="sample metadata only (zero genes)")
    p.add_argument("--source", default="auto", choices=["auto", "matrix", "soft", "ncbi", "suppl"],
                   help="where the values come from (default: auto)")
    p.add_argument("--no-harmonise", action="store_true", help="keep the original gene ids")
    from ._common import add_catalog_option

    add_catalog_option(p)
    t = p.add_argument_group("TCGA projects (GDC)")
    t.add_argument("--workflow", help="GDC analysis workflow of the expression files (default: STAR - Counts)")
    t.add_argument("--max-files", type=int, metavar="N", help="load only the first N files (by sample barcode)")
    t.add_argument("--clinical-only", action="store_true",
                   help="samples and clinical data only, no expression files (--metadata-only means the same)")


def not_in_mirror(accession: str, exc: Exception) -> Exception:
    """An accession none of whose files is in the mirror (``settings.mirror``): say that the
    accession may not exist, and what to do when it does (the mirror is already set)."""
    import re

    from .._settings import settings
    from ..errors import OfflineError

    mirror = settings.mirror
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
    import numpy as np

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
    import numpy as np
    import pandas as pd

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


def _options(args: argparse.Namespace, tcga: bool) -> tuple[dict, dict]:
    """(loader kwargs, source kwargs); options of the other kind of accession are usage errors."""
    from ..errors import UsageError

    geo_only = [flag for flag, given in (
        ("--samples", args.samples), ("--samples-key", args.samples_key), ("--platform", args.platform),
        ("--source", args.source != "auto"), ("--no-harmonise", args.no_harmonise)) if given]
    gdc_only = [flag for flag, given in (
        ("--workflow", args.workflow), ("--max-files", args.max_files is not None),
        ("--clinical-only", args.clinical_only)) if given]
    if tcga and geo_only:
        raise UsageError(
            f"{', '.join(geo_only)}: GEO options; {args.accession} is a TCGA project from the GDC, whose samples "
            "are named by their barcodes and labelled from the GDC's sample types and clinical records. Drop "
            f"{'it' if len(geo_only) == 1 else 'them'} (TCGA options: --workflow, --max-files, --clinical-only).")
    if not tcga and gdc_only:
        raise UsageError(
            f"{', '.join(gdc_only)}: options for TCGA projects (GDC, e.g. TCGA-LIHC), not for the GEO series "
            f"{args.accession}. Drop {'it' if len(gdc_only) == 1 else 'them'} (GEO options: --samples, "
            "--platform, --source, --metadata-only).")
    if args.max_files is not None and args.max_files < 1:
        raise UsageError(f"--max-files must be a positive number of files, not {args.max_files}.")
    if tcga:
        kwargs = {"metadata_only": bool(args.metadata_only or args.clinical_only)}
        if args.workflow:
            kwargs["workflow"] = args.workflow
        if args.max_files is not None:
            kwargs["max_files"] = args.max_files
        return kwargs, {}
    return (dict(samples=args.samples, samples_key=args.samples_key, metadata_only=args.metadata_only),
            dict(platform=args.platform, source=args.source, harmonise=not args.no_harmonise))


def _tcga_summary(adata) -> list[str]:
    """What a TCGA fetch found: release, pairs, etiology, sex, survival (lines to print)."""
    g = adata.uns.get("gdc", {})
    rel = g.get("release", {})
    lines = [f"GDC {rel.get('data_release', 'release unknown')}" + (f" (API {rel['tag']})" if rel.get("tag") else "")]
    obs = adata.obs
    if "pair_id" in obs:
        lines.append(f"pairs: {int(obs['pair_id'].dropna().nunique())} patients with tumour and normal")
    for col in ("etiology", "sex"):
        if col in obs:
            per = obs.drop_duplicates("patient_id")[col].astype("object").fillna("unknown")
            lines.append(f"{col} (patients): " + ", ".join(f"{k} {v}" for k, v in per.value_counts().items()))
    surv = g.get("survival") or {}
    if surv:
        gone = "; ".join(f"{v} {k}" for k, v in (surv.get("dropped") or {}).items() if v)
        lines.append(f"overall survival: {surv.get('n_with_os', 0)} of {surv.get('n_cases', 0)} patients, "
                     f"{surv.get('n_deaths', 0)} deaths" + (f" (none for: {gone})" if gone else ""))
    if g.get("duplicates"):
        lines.append(f"samples with several aliquots (all kept): {len(g['duplicates'])}")
    return lines


def run(args: argparse.Namespace) -> int:
    import warnings

    from .. import datasets
    from ..errors import OfflineError
    from ..pipeline import atomic_file, check_catalog, check_input_file, check_output_file

    out = check_output_file(args.out or Path(f"{args.accession.strip().upper()}.h5ad"))  # before any download
    tcga = args.accession.strip().upper().startswith("TCGA-")
    kwargs, extra = _options(args, tcga)
    if args.samples:
        check_input_file(args.samples, "--samples", "sample sheet")
    catalog = check_catalog(getattr(args, "catalog", None))
    kwargs["catalog"] = catalog

    with warnings.catch_warnings(record=True) as caught:  # shown once each, on stderr, below
        warnings.simplefilter("always")
        try:
            adata = datasets.load_cohort(args.accession, **kwargs, **extra)
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
    check = (adata.uns.get("labels") or {}).get("check") or {}
    if check:
        print(f"labels: {check.get('status')}" + (f" ({check.get('reason')})" if check.get("reason") else ""))
    if tcga:
        print("\n".join(_tcga_summary(adata)))
    print(f"wrote {out}")
    return 0
