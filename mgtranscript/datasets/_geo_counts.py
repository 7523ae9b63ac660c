"""Count tables of GEO series: reading them, matching their columns to GSM ids, and
finding and loading them for :func:`~mgtranscript.datasets.geo` (NCBI-generated raw
counts first, then the authors' supplementary tables, read by the cohort catalog's
``[counts]`` layout where it declares one)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from anndata import AnnData

from ..errors import DataFormatError, FetchError, InputDataError
from ..fetch import (
    fetch_read,
    geo_suppl_dir_url,
    geo_suppl_url,
    https_from_ftp,
    list_remote_dir,
    ncbi_counts_url,
    read_meta,
)
from ._samplesheet import match_key, normalise_id
from ._seriesmatrix import GeoRecord

if TYPE_CHECKING:
    from ._geo_ctx import _Ctx

logger = logging.getLogger(__name__)

__all__ = ["read_count_table", "match_columns"]

_SUPPL_WORDS = re.compile(r"count|raw|expression|expr|rna-?seq", re.I)
_TABLE_EXT = re.compile(r"\.(tsv|csv|txt|tab)(\.gz)?$", re.I)
_GSM = re.compile(r"^(GSM\d+)(?:$|[^0-9])", re.I)


def read_count_table(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """Read a gene x sample table (tsv/csv/txt, gzip ok) into a numeric DataFrame.

    The first column is the gene id. Columns that are mostly non-numeric
    (symbols, descriptions) are dropped; a first data row that is non-numeric in
    every sample column is taken as a second header row (its labels are reported in
    ``report["alt_labels"]``). HTSeq summary rows (``__no_feature`` ...) are dropped.
    Duplicated gene ids are summed (counts) or averaged (non-integer data).

    Raises
    ------
    DataFormatError
        No numeric column, or a non-numeric cell inside a numeric column (named).
    """
    path = Path(path)
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", errors="replace") as fh:
        first = fh.readline()
    sep = "\t" if first.count("\t") >= first.count(",") else ","
    df = pd.read_csv(path, sep=sep, index_col=0, dtype=None, low_memory=False,
                     na_values=["", "NA", "NaN", "nan", "null"], keep_default_na=False)
    df.index = df.index.astype(str).str.strip()
    df.columns = [str(c).strip() for c in df.columns]
    report: dict = {"file": path.name, "n_rows_read": int(df.shape[0])}
    alt_labels = None
    obj = [c for c in df.columns if df[c].dtype == object]
    numeric_typed = [c for c in df.columns if df[c].dtype.kind in "biuf"]
    if obj and len(df) > 1 and not numeric_typed:
        # sample columns: numeric below the first row; is row 0 a second header row?
        samp = [c for c in obj if pd.to_numeric(df[c].iloc[1:], errors="coerce").notna().mean() > 0.5]
        row0 = pd.to_numeric(df.iloc[0][samp], errors="coerce") if samp else None
        if samp and row0.isna().all() and df.iloc[0][samp].notna().all():
            alt_labels = df.iloc[0][samp].astype(str).to_dict()
            df = df.iloc[1:]
    dropped = []
    for c in list(df.columns):
        if df[c].dtype.kind in "biuf":
            continue
        conv = pd.to_numeric(df[c], errors="coerce")
        bad = conv.isna() & df[c].notna()
        if bad.mean() > 0.5:
            dropped.append(c)
            df = df.drop(columns=c)
            continue
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataFormatError(
                f"{path.name}: non-numeric value {df[c].iloc[i]!r} in column {c!r}, row "
                f"{df.index[i]!r} (data row {i + 1}); count tables must hold numbers. Fix the cell "
                "or remove the column."
            )
        df[c] = conv
    if df.shape[1] == 0:
        raise DataFormatError(f"{path.name}: no numeric sample column; is this a count table?")
    special = df.index.str.startswith("__")
    if special.any():
        report["n_summary_rows_dropped"] = int(special.sum())
        df = df.loc[~special]
    df = df.astype(np.float64)
    vals = df.to_numpy()
    finite = vals[np.isfinite(vals)]
    integer = bool(finite.size and np.all(finite == np.round(finite)) and finite.min() >= 0)
    report["integer_counts"] = integer
    dup = df.index.duplicated(keep=False)
    if dup.any():
        ids = list(dict.fromkeys(df.index[dup]))
        how = "sum" if integer else "mean"
        df = df.groupby(level=0, sort=False).sum(min_count=1) if integer else \
            df.groupby(level=0, sort=False).mean()
        report["duplicate_ids"] = {"n_ids": len(ids), "n_rows_removed": int(dup.sum() - len(ids)),
                                   "examples": ids[:5], "rule": how}
        logger.warning("%s: %d gene ids occur more than once; rows %sed", path.name, len(ids),
                       "summ" if how == "sum" else "averag")
    if dropped:
        report["non_numeric_columns_dropped"] = dropped
    if alt_labels is not None:
        report["alt_labels"] = {k: v for k, v in alt_labels.items() if k in df.columns}
    report["n_genes"], report["n_columns"] = int(df.shape[0]), int(df.shape[1])
    return df, report


def match_columns(
    columns: list[str],
    obs: pd.DataFrame,
    *,
    sheet: pd.DataFrame | None = None,
    samples_key: str | None = None,
    alt_labels: dict | None = None,
) -> tuple[dict[str, str], dict]:
    """Match count-table columns to GSM ids (see the module docs for the rule order).

    Returns
    -------
    ({column: GSM}, report) where report has ``rule``, ``n_matched``, ``n_columns``,
    ``n_samples``, ``unmatched_columns``, ``unmatched_samples``.
    """
    best: tuple[dict[str, str], str] = ({}, "none")
    # 1. GSM ids (exact, or GSMxxx_ prefix)
    gsms = {g.upper(): g for g in obs.index.astype(str)}
    m = {}
    for c in columns:
        hit = _GSM.match(c)
        if hit and (not gsms or hit.group(1).upper() in gsms):
            m[c] = gsms.get(hit.group(1).upper(), hit.group(1).upper())
    if m:
        best = (m, "gsm")
    # 2. title / description / SRA ids, with the labels of a second header row as well
    if len(obs.columns):
        for labels, suffix in ((None, ""), (alt_labels, " (second header row)")):
            if labels is None and suffix:
                continue
            vals = [labels.get(c, c) for c in columns] if labels else list(columns)
            mm, rule = match_key(vals, obs)
            if rule == "gsm":
                continue
            mm = {c: mm[v] for c, v in zip(columns, vals) if v in mm}
            if len(mm) > len(best[0]):
                best = (mm, rule + suffix)
    # 3. a named sample-sheet column
    if sheet is not None and samples_key is not None:
        if samples_key not in sheet.columns:
            raise InputDataError(
                f"samples_key={samples_key!r} is not a column of the sample sheet ({list(sheet.columns)})."
            )
        gsm_col, gsm_rule = None, {}
        for col in sheet.columns:
            mk, rule = match_key(sheet[col].dropna().unique(), pd.DataFrame(index=obs.index)
                                 if len(obs.index) else pd.DataFrame(index=pd.Index([])))
            if len(mk) > len(gsm_rule):
                gsm_col, gsm_rule = col, mk
        if gsm_col is None:  # no series matrix: the sheet's GSM-looking column
            for col in sheet.columns:
                if sheet[col].astype(str).str.match(r"^GSM\d+$").mean() > 0.9:
                    gsm_col = col
                    break
        if gsm_col is not None:
            lut = {}
            for k, g in zip(sheet[samples_key], sheet[gsm_col]):
                if pd.notna(k) and pd.notna(g):
                    lut.setdefault(normalise_id(k), set()).add(str(g).strip())
            mm = {}
            for c in columns:
                gs = lut.get(normalise_id(c), set())
                if len(gs) == 1:
                    mm[c] = gsm_rule.get(next(iter(gs)), next(iter(gs)))
            if len(mm) > len(best[0]):
                best = (mm, f"sample sheet column {samples_key!r}")
    mapping, rule = best
    # one column per sample
    seen: dict[str, str] = {}
    for c, g in list(mapping.items()):
        if g in seen:
            raise DataFormatError(
                f"columns {seen[g]!r} and {c!r} of the count table both match sample {g} "
                f"(by {rule}); pass samples=/samples_key= to say which column is which sample."
            )
        seen[g] = c
    report = {
        "rule": rule,
        "n_matched": len(mapping),
        "n_columns": len(columns),
        "n_samples": int(len(obs.index)) if len(obs.index) else len(mapping),
        "unmatched_columns": [c for c in columns if c not in mapping][:50],
        "unmatched_samples": [g for g in obs.index.astype(str) if g not in seen][:50],
        "comparison": "trimmed, case-insensitive, leading zeros of all-digit ids ignored",
    }
    return mapping, report


def _counts_adata(df: pd.DataFrame) -> AnnData:
    X = df.T.to_numpy(dtype=np.float64)
    adata = AnnData(X=X, obs=pd.DataFrame(index=df.columns.astype(str)),
                    var=pd.DataFrame(index=df.index.astype(str)))
    adata.layers["counts"] = X.copy()
    return adata


def _suppl_candidates(ctx: _Ctx, rec: GeoRecord | None) -> list[tuple[str, str]]:
    acc = ctx.acc
    names: list[tuple[str, str]] = []
    try:
        for n in list_remote_dir(geo_suppl_dir_url(acc)):
            names.append((n, geo_suppl_url(acc, n)))
    except FetchError as exc:
        ctx.failed(geo_suppl_dir_url(acc), exc)
        if rec is not None:
            sf = rec.series.get("supplementary_file", [])
            for u in [sf] if isinstance(sf, str) else sf:
                if u and u.upper() != "NONE":
                    names.append((u.rsplit("/", 1)[-1], https_from_ftp(u)))
    declared = _catalog_expression_file(acc)
    out = [(n, u) for n, u in names
           if _TABLE_EXT.search(n) and (_SUPPL_WORDS.search(n) or n == declared)]
    skipped = [n for n, _ in names if n.lower().endswith((".tar", ".tar.gz", ".zip"))]
    if skipped:
        ctx.warnings.append(f"supplementary archives are not read by mgtranscript (per-sample "
                            f"files): {skipped}")

    def rank(item):  # the catalog's declared expression file first, then by name
        n = item[0].lower()
        return (-1 if item[0] == declared else 0 if "count" in n else 1 if "raw" in n else 2, n)

    return sorted(out, key=rank)


def _catalog_expression_file(acc: str) -> str | None:
    """The file name the cohort catalog declares for a series' expression values."""
    from ._catalog import catalog, cohort_info

    if acc not in set(catalog()["accession"]):
        return None
    return cohort_info(acc).get("expression_file")


def _catalog_counts_rules(acc: str) -> dict | None:
    """The cohort catalog's ``[counts]`` layout for an author table, if it has one."""
    from ._catalog import catalog, cohort_info

    if acc not in set(catalog()["accession"]):
        return None
    return cohort_info(acc).get("counts")


def _read_with_catalog_rules(path: Path, obs: pd.DataFrame, rules: dict):
    """Read an author count table by the catalog's declared layout and column-match rule.

    Used for tables the generic reader cannot match (several header rows, unused columns,
    names such as ``Control_Lille 389`` that match the title ``Control_389`` by their trailing
    number). The rule applied is reported, never guessed.
    """
    from ._author_counts import match_author_columns, read_author_counts

    ac = read_author_counts(path, rules)
    matched = match_author_columns(list(ac.counts.columns), obs, rules)
    mapping = {str(c): str(g) for c, g in matched.items() if pd.notna(g)}
    df = ac.counts
    df.columns = [str(c) for c in df.columns]
    arr = df.to_numpy()
    report = {"file": path.name, "n_rows_read": int(df.shape[0]), "reader": "catalog [counts] rules",
              "integer_counts": bool(np.all(np.mod(arr, 1) == 0)), "dropped_columns": list(ac.dropped),
              "n_genes": int(df.shape[0]), "n_columns": int(df.shape[1])}
    rule = f"catalog: {rules.get('match', 'exact')} on {rules.get('match_column', 'obs_names')}"
    colrep = {"rule": rule, "n_matched": len(mapping), "n_columns": int(df.shape[1]),
              "n_samples": int(len(obs)),
              "unmatched_columns": [c for c in df.columns if c not in mapping],
              "unmatched_samples": [g for g in obs.index.astype(str) if g not in set(mapping.values())]}
    return df, report, mapping, colrep


def _load_counts(ctx: _Ctx, rec: GeoRecord | None, source: str, sheet, samples_key):
    """Try NCBI counts then suppl tables; return (df, report, column report, source name) or None."""
    def attempts():
        if source in ("auto", "ncbi"):
            yield "ncbi_counts", ncbi_counts_url(ctx.acc)
        if source in ("auto", "suppl"):
            yield from (("supplementary", u) for _, u in _suppl_candidates(ctx, rec))

    obs = rec.obs if rec is not None else pd.DataFrame(index=pd.Index([], dtype=str))
    last_error = None
    for kind, url in attempts():
        rules = _catalog_counts_rules(ctx.acc) if kind == "supplementary" else None

        def read(path: Path, rules=rules):
            try:
                return path, read_count_table(path)
            except DataFormatError:
                if rules is None:
                    raise
                return path, None  # the catalog's layout rules read it below

        try:
            path, table = fetch_read(url, read, progress=ctx.progress)
        except FetchError as exc:
            ctx.failed(url, exc)
            continue
        df, report, mapping, colrep = None, {}, {}, {}
        if table is not None:
            df, report = table
            try:
                mapping, colrep = match_columns(list(df.columns), obs, sheet=sheet, samples_key=samples_key,
                                                alt_labels=report.get("alt_labels"))
            except DataFormatError:
                if rules is None:
                    raise
                df, report, mapping, colrep = None, {}, {}, {}
        # the generic reader left samples unmatched: the catalog may declare the table's layout
        if rules is not None and len(obs.columns) and len(mapping) < min(len(obs), len(df.columns) if df is not None else 10**9):
            cdf, creport, cmapping, ccolrep = _read_with_catalog_rules(path, obs, rules)
            if len(cmapping) > len(mapping):
                df, report, mapping, colrep = cdf, creport, cmapping, ccolrep
        if not mapping:
            titles = obs["title"].astype(str).head(3).tolist() if "title" in obs else []
            descr = obs["description"].astype(str).head(3).tolist() if "description" in obs else []
            last_error = DataFormatError(
                f"{path.name}: none of its columns ({list(df.columns)[:4]} ...) matches a sample of "
                f"{ctx.acc} by GSM id, title ({titles} ...) or description ({descr} ...). Pass "
                "samples= (a sample sheet) and samples_key= naming its column that holds these "
                "column names."
            )
            continue
        meta = read_meta(path)
        ctx.files[kind] = {"url": https_from_ftp(url), "sha256": meta.get("sha256", ""),
                           "name": path.name}
        return df, report, mapping, colrep, kind
    if last_error is not None:
        raise last_error
    return None
