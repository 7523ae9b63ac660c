"""Load a GEO series into AnnData (samples x genes).

Sources tried by ``geo(acc, source="auto")``
--------------------------------------------
1. The series matrix (``matrix/GSExxx_series_matrix.txt.gz``, or one
   ``GSExxx-GPLyyy_series_matrix.txt.gz`` per platform, found by listing ``matrix/``);
   when a series has none, the SOFT family file (``soft/GSExxx_family.soft.gz``),
   which carries the same fields. It always gives the sample metadata; for arrays it also gives the values, which
   are mapped probe -> gene through the GPL annotation
   (:mod:`mgtranscript.datasets.platform`) and log2-transformed if needed
   (:func:`mgtranscript.pp.ensure_log`).
2. RNA-seq series have no values in the matrix. Then NCBI's generated raw counts
   (``urls.ncbi_counts_url``: NCBI GeneID rows, GSM columns) are used, and failing
   that an author's supplementary count table (file names saying count/raw/expression,
   tsv/csv/txt, gzip ok).
3. Count-table columns are matched to GSM ids by, in order of preference, exact GSM
   id (or a ``GSMxxx_`` prefix), ``!Sample_title``, ``!Sample_description``, SRA ids,
   then the ``samples_key`` column of the user's sample sheet; ids compare trimmed,
   case-insensitive, leading zeros of digit ids ignored (GSE126848: "0869" == "869").
   The family matching most columns wins; the rule and counts go to
   ``uns["geo"]["column_match"]``.

Counts are kept in ``layers["counts"]``; ``X`` is edgeR-style log2 CPM
(:func:`mgtranscript.pp.log2_cpm`, prior count 2). ``source="soft"`` reads the SOFT
family file instead of the series matrix.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from ..errors import DataFormatError, FetchError, HostUnreachable, InputDataError
from ..fetch import fetch_read, list_remote_dir, read_meta, urls
from . import platform as gpl_mod
from .samplesheet import join_sample_sheet, match_key, normalise_id, read_sample_sheet
from .seriesmatrix import GeoRecord, parse_series_matrix, parse_soft

logger = logging.getLogger(__name__)

__all__ = ["geo", "read_count_table", "match_columns"]

_SOURCES = ("auto", "matrix", "soft", "ncbi", "suppl")
_SUPPL_WORDS = re.compile(r"count|raw|expression|expr|rna-?seq", re.I)
_TABLE_EXT = re.compile(r"\.(tsv|csv|txt|tab)(\.gz)?$", re.I)
_GSM = re.compile(r"^(GSM\d+)(?:$|[^0-9])", re.I)


class _Ctx:
    """Collects provenance and warnings while loading one series."""

    def __init__(self, acc: str, progress: bool | None) -> None:
        self.acc = acc
        self.progress = progress
        self.files: dict[str, dict] = {}
        self.tried: list[str] = []
        self.errors: list[FetchError] = []
        self.warnings: list[str] = []

    def failed(self, url: str, exc: FetchError) -> None:
        self.tried.append(f"{url} ({type(exc).__name__})")
        self.errors.append(exc)

    def unreachable_error(self) -> FetchError | None:
        """One short error when every file failed because its host cannot be reached, else None."""
        if not self.errors or not all(isinstance(e, HostUnreachable) for e in self.errors):
            return None
        first = self.errors[0]
        return HostUnreachable(f"{self.acc}: none of its files could be obtained: {first}", url=first.url)

    def get(self, url: str, role: str, reader):
        """``reader(path)`` of the cached file of ``url`` (evicted and fetched again if damaged)."""
        got: list[Path] = []

        def read(path: Path):
            got[:] = [path]
            return reader(path)

        value = fetch_read(url, read, progress=self.progress)
        meta = read_meta(got[0])
        self.files[role] = {"url": urls.https_from_ftp(url), "sha256": meta.get("sha256", ""),
                            "name": got[0].name}
        return value

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)
        warnings.warn(msg, UserWarning, stacklevel=3)


# --------------------------------------------------------------------------- count tables


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


# --------------------------------------------------------------------------- series matrix


def _matrix_records(ctx: _Ctx, platform: str | None) -> list[GeoRecord]:
    acc = ctx.acc
    pat = re.compile(rf"^{acc}(?:-(GPL\d+))?_series_matrix\.txt(\.gz)?$", re.I)
    try:
        names = [n for n in list_remote_dir(urls.geo_matrix_dir_url(acc)) if pat.match(n)]
    except FetchError as exc:
        logger.info("cannot list %s (%s); trying the single-platform name", urls.geo_matrix_dir_url(acc), exc)
        names = []
    listed = bool(names)
    if not listed:  # unlisted: the per-platform name (if a platform was asked for), then the plain one
        names = ([f"{acc}-{platform.upper()}_series_matrix.txt.gz"] if platform else []) + \
            [f"{acc}_series_matrix.txt.gz"]
    found = {(pat.match(n).group(1) or "").upper(): n for n in names}
    if platform and len(found) > 1 and listed:
        p = platform.upper()
        if p not in found:
            raise InputDataError(
                f"{acc} has no series matrix for platform {platform}; its platforms are "
                f"{sorted(k for k in found if k)}."
            )
        found = {p: found[p]}
    records = []
    for plat, name in found.items():
        url = urls.geo_matrix_dir_url(acc) + name
        role = f"series_matrix_{plat}" if plat else "series_matrix"
        try:
            records.append(ctx.get(url, role, parse_series_matrix))
        except FetchError as exc:
            ctx.failed(url, exc)
            continue
        if not listed:
            break
    if records and platform:
        recs = [r for r in records if platform.upper() in [p.upper() for p in r.platform_ids]]
        if not recs:
            raise InputDataError(
                f"{acc} is on platform(s) {records[0].platform_ids}, not {platform}; drop platform= "
                "or pick one of those."
            )
    return records


def _combine(records: list[GeoRecord], acc: str, metadata_only: bool = False) -> GeoRecord:
    if len(records) == 1:
        return records[0]
    plats = [",".join(r.platform_ids) for r in records]
    tables = [r.table for r in records]
    if any(t is not None for t in tables) and not metadata_only:
        idx = [frozenset(t.index) if t is not None else None for t in tables]
        if any(i is None for i in idx) or len(set(idx)) != 1:
            raise InputDataError(
                f"{acc} spans platforms {plats} whose value tables have different rows (probe "
                "sets); they cannot be concatenated. Pass platform= with one of them "
                f"(e.g. platform={records[0].platform_ids[0]!r})."
            )
        table = pd.concat([t.reindex(tables[0].index) for t in tables], axis=1)
    else:
        table = None
    obs = pd.concat([r.obs for r in records], axis=0)
    if obs.index.duplicated().any():
        raise DataFormatError(f"{acc}: samples {obs.index[obs.index.duplicated()][:5].tolist()} "
                              "appear in several platform matrices.")
    return GeoRecord(accession=acc, series=records[0].series, obs=obs, table=table,
                     path=";".join(r.path for r in records))


# --------------------------------------------------------------------------- values -> AnnData


def _is_sequencing(obs: pd.DataFrame) -> bool:
    for col in ("library_strategy", "type"):
        if col in obs and obs[col].astype(str).str.contains("RNA-Seq|SRA", case=False).any():
            return True
    return False


def _array_adata(ctx: _Ctx, rec: GeoRecord) -> tuple[AnnData, dict]:
    from ..pp import ensure_log

    table = rec.table
    info: dict = {"value_type": "series_matrix_values"}
    if not _is_sequencing(rec.obs):
        symbols, prov = None, None
        plats = rec.platform_ids
        for plat in plats:
            try:
                if plat in rec.platforms:
                    symbols = gpl_mod.platform_symbols(rec.platforms[plat])
                    prov = {"role": f"{plat} table in the SOFT file"}
                else:
                    symbols, prov = gpl_mod.load_platform_symbols(plat, progress=ctx.progress)
                    ctx.files[f"annotation_{plat}"] = {k: v for k, v in prov.items() if k != "role"}
            except (FetchError, DataFormatError) as exc:
                ctx.warn(f"{ctx.acc}: probe ids were not mapped to genes ({plat}: {exc}).")
                symbols = None
            break
        if symbols is not None:
            table, report = gpl_mod.collapse_probes(table, symbols)
            info["probe_mapping"] = report
            info["value_type"] = "array_values_mapped_to_symbols"
    X = table.T.to_numpy(dtype=np.float64)
    adata = AnnData(X=X, obs=pd.DataFrame(index=table.columns.astype(str)),
                    var=pd.DataFrame(index=table.index.astype(str)))
    ensure_log(adata)
    return adata, info


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
        for n in list_remote_dir(urls.geo_suppl_dir_url(acc)):
            names.append((n, urls.geo_suppl_url(acc, n)))
    except FetchError as exc:
        ctx.failed(urls.geo_suppl_dir_url(acc), exc)
        if rec is not None:
            sf = rec.series.get("supplementary_file", [])
            for u in [sf] if isinstance(sf, str) else sf:
                if u and u.upper() != "NONE":
                    names.append((u.rsplit("/", 1)[-1], urls.https_from_ftp(u)))
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
    from .catalog import catalog, cohort_info

    if acc not in set(catalog()["accession"]):
        return None
    return cohort_info(acc).get("expression_file")


def _catalog_counts_rules(acc: str) -> dict | None:
    """The cohort catalog's ``[counts]`` layout for an author table, if it has one."""
    from .catalog import catalog, cohort_info

    if acc not in set(catalog()["accession"]):
        return None
    return cohort_info(acc).get("counts")


def _read_with_catalog_rules(path: Path, obs: pd.DataFrame, rules: dict):
    """Read an author count table by the catalog's declared layout and column-match rule.

    Used for tables the generic reader cannot match (several header rows, unused columns,
    names such as ``Control_Lille 389`` that match the title ``Control_389`` by their trailing
    number). The rule applied is reported, never guessed.
    """
    from .author_counts import match_author_columns, read_author_counts

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
            yield "ncbi_counts", urls.ncbi_counts_url(ctx.acc)
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
        ctx.files[kind] = {"url": urls.https_from_ftp(url), "sha256": meta.get("sha256", ""),
                           "name": path.name}
        return df, report, mapping, colrep, kind
    if last_error is not None:
        raise last_error
    return None


def _finish_obs(adata: AnnData, rec_obs: pd.DataFrame | None, acc: str) -> None:
    if rec_obs is not None and len(rec_obs.columns):
        obs = rec_obs.reindex(adata.obs_names)
        for c in obs.columns:
            adata.obs[c] = obs[c].to_numpy()
    adata.obs.insert(0, "accession", acc)


def _harmonise(ctx: _Ctx, adata: AnnData) -> AnnData:
    if adata.n_vars == 0:
        return adata
    try:
        from .geneids import harmonise_var
    except ImportError:
        ctx.warn("gene ids were not harmonised: mgtranscript.datasets.geneids is not available.")
        return adata
    try:
        harmonise_var(adata)
    except FetchError as exc:
        ctx.warn(f"gene ids were not harmonised (gene_info unavailable: {exc}).")
    return adata


def _soft_record(ctx: _Ctx, platform: str | None) -> GeoRecord:
    """The series' SOFT family file, restricted to ``platform`` when given."""
    acc = ctx.acc
    rec = ctx.get(urls.geo_soft_url(acc), "soft", parse_soft)
    if platform:
        keep = rec.obs.index[rec.obs.get("platform_id", pd.Series(dtype=str)).astype(str).str.upper()
                             == platform.upper()]
        if len(keep) == 0:
            raise InputDataError(f"{acc} has no samples on {platform}; platforms: {rec.platform_ids}.")
        rec.obs = rec.obs.loc[keep]
        if rec.table is not None:
            rec.table = rec.table[[c for c in rec.table.columns if c in set(keep)]]
    return rec


def geo(
    accession: str,
    *,
    samples: str | Path | pd.DataFrame | None = None,
    samples_key: str | None = None,
    platform: str | None = None,
    source: str = "auto",
    metadata_only: bool = False,
    harmonise: bool = True,
    progress: bool | None = None,
) -> AnnData:
    """Load a GEO series as AnnData (samples x genes).

    Parameters
    ----------
    accession
        ``GSE...`` accession.
    samples
        A sample sheet (CSV/TSV path or DataFrame, e.g. SRA Run Selector's
        ``SraRunTable.csv``) joined onto ``obs`` (see :mod:`.samplesheet`).
    samples_key
        Sheet column holding the sample ids (auto-detected when ``None``); also used
        to match count-table columns to samples when nothing else matches.
    platform
        ``GPL...``: for multi-platform series, load only this platform.
    source
        ``"auto"`` (series matrix; for RNA-seq, NCBI counts then supplementary tables),
        ``"matrix"`` (series matrix values only), ``"soft"`` (SOFT family file),
        ``"ncbi"`` (NCBI-generated counts), ``"suppl"`` (author supplementary table).
    metadata_only
        Return ``obs`` only (zero genes); no expression file is fetched.
    harmonise
        Map gene ids to current symbols (:func:`mgtranscript.datasets.harmonise_var`).
    progress
        Show download progress bars (default: ``MGTRANSCRIPT_PROGRESS``).

    Returns
    -------
    AnnData with ``obs_names`` = GSM ids, ``obs["accession"]``, all GEO sample fields
    and characteristics in ``obs``, ``layers["counts"]`` for count data, ``X`` on log2
    scale (``uns["mgtranscript"]["scale"]``) and provenance in ``uns["geo"]``
    (``accession``, ``platforms``, ``source``, ``files`` with public URLs and sha256,
    ``series``, ``column_match``, ``probe_mapping``, ``count_table``, ``warnings``).

    Raises
    ------
    FetchError
        Neither metadata nor expression could be obtained (names the files tried).
    DataFormatError
        Malformed files, or a count table whose columns match no sample.
    InputDataError
        Bad arguments, incompatible platforms, bad sample sheet.
    """
    acc = urls.check_accession(accession)
    if source not in _SOURCES:
        raise InputDataError(f"source={source!r}; use one of {_SOURCES}.")
    ctx = _Ctx(acc, progress)
    sheet = read_sample_sheet(samples) if samples is not None else None

    # 1. metadata (+ values for arrays)
    rec: GeoRecord | None
    from_soft = source == "soft"
    if source == "soft":
        rec = _soft_record(ctx, platform)
    else:
        recs = _matrix_records(ctx, platform)
        rec = _combine(recs, acc, metadata_only) if recs else None
        if rec is None and source == "auto":
            # no series matrix (some series only have the SOFT family file): the SOFT file
            # carries the same sample metadata, and the values of array series
            soft_url = urls.geo_soft_url(acc)
            try:
                rec = _soft_record(ctx, platform)
                from_soft = True
                logger.info("%s: no series matrix; sample metadata read from %s", acc, soft_url)
            except FetchError as exc:
                ctx.failed(soft_url, exc)
    missing_metadata = None
    if rec is None:
        if metadata_only or source == "matrix":
            raise ctx.unreachable_error() or FetchError(
                f"{acc}: the series matrix could not be obtained (tried {'; '.join(ctx.tried)}); check "
                "the accession and the network, or pass samples= with a sample sheet and drop "
                "metadata_only.", url=urls.geo_series_matrix_url(acc))
        missing_metadata = (f"{acc}: neither the series matrix nor the SOFT file could be obtained "
                            f"(tried {'; '.join(ctx.tried)}); sample metadata (titles, characteristics) "
                            "is missing")
        if sheet is None and not all(isinstance(e, HostUnreachable) for e in ctx.errors):
            ctx.warn(missing_metadata + ", pass samples= with a sample sheet for labels.")
    platforms = rec.platform_ids if rec is not None else []

    # 2. expression
    info: dict = {}
    counts_df = None
    if metadata_only:
        adata = AnnData(X=np.zeros((rec.obs.shape[0], 0)), obs=pd.DataFrame(index=rec.obs.index.astype(str)))
        info["value_type"] = "none (metadata_only)"
        data_source = "metadata_only"
    elif rec is not None and rec.table is not None and rec.table.shape[0] > 0 and source in ("auto", "matrix", "soft"):
        adata, info = _array_adata(ctx, rec)
        data_source = "soft" if from_soft else "series_matrix"
    elif source in ("matrix", "soft"):
        raise DataFormatError(
            f"{acc}: the {'SOFT file' if source == 'soft' else 'series matrix'} holds no values "
            "(an RNA-seq series?); use source='auto' to load NCBI-generated or supplementary counts."
        )
    else:
        got = _load_counts(ctx, rec, source, sheet, samples_key)
        if got is None:
            raise ctx.unreachable_error() or FetchError(
                f"{acc}: no expression data could be loaded; the series matrix has no values and "
                f"these files could not be obtained: {'; '.join(ctx.tried)}"
                f"{'; ' + '; '.join(ctx.warnings[-1:]) if ctx.warnings else ''}. Download one of them "
                "(or point MGTRANSCRIPT_MIRROR at a copy), or use metadata_only=True for the "
                "sample metadata alone.",
                url=urls.ncbi_counts_url(acc),
            )
        counts_df, creport, mapping, colrep, data_source = got
        counts_df = counts_df[list(mapping)]
        counts_df.columns = [mapping[c] for c in counts_df.columns]
        if rec is not None:
            order = [g for g in rec.obs.index.astype(str) if g in set(counts_df.columns)]
            counts_df = counts_df[order]
        if colrep["unmatched_columns"] or (rec is not None and colrep["unmatched_samples"]):
            ctx.warn(
                f"{acc}: {colrep['n_matched']} of {colrep['n_columns']} count columns matched samples "
                f"by {colrep['rule']}; unmatched columns {colrep['unmatched_columns'][:5]} were "
                f"dropped; samples without counts {colrep['unmatched_samples'][:5]} were dropped."
            )
        info = {"value_type": "counts" if creport["integer_counts"] else "non_integer_table",
                "count_table": creport, "column_match": colrep}
        adata = _counts_adata(counts_df)

    _finish_obs(adata, rec.obs if rec is not None else None, acc)
    if sheet is not None:
        used_for_columns = info.get("column_match", {}).get("rule", "").startswith("sample sheet")
        join_sample_sheet(adata, sheet, samples_key=None if used_for_columns else samples_key)
        if missing_metadata:
            # the labels come from the user's sheet; join_sample_sheet warns about samples it missed
            logger.info("%s; labels come from the sample sheet", missing_metadata)

    # 3. ids and scale; TMM factors come from the count table as published (before ids are
    # harmonised, which merges and renames rows), so they equal edgeR's on that table
    is_counts = counts_df is not None and (info["value_type"] == "counts"
                                           or "count" in info["count_table"]["file"].lower())
    if is_counts:
        from ..pp import calc_norm_factors

        factors = calc_norm_factors(adata.layers["counts"])
    if harmonise and not metadata_only:
        _harmonise(ctx, adata)
    if counts_df is not None:
        from ..pp import ensure_log, log2_cpm

        if is_counts:
            log2_cpm(adata, layer="counts", norm_factors=factors)
        else:
            ctx.warn(f"{acc}: the expression table holds non-integer values; treated as normalised "
                     "expression (no counts layer), log2 applied if needed (GEO2R rule).")
            del adata.layers["counts"]
            ensure_log(adata)

    geo_uns = adata.uns.setdefault("geo", {})
    geo_uns.update({
        "accession": acc,
        "platforms": list(platforms),
        "source": data_source,
        "files": ctx.files,
        "series": _uns_safe(rec.series) if rec is not None else {},
        "warnings": list(ctx.warnings),
    })
    for k in ("probe_mapping", "column_match", "count_table", "value_type"):
        if k in info:
            geo_uns[k] = _uns_safe(info[k])
    logger.info("%s: %d samples x %d genes from %s", acc, adata.n_obs, adata.n_vars, data_source)
    return adata


def _uns_safe(value):
    """Make a value h5ad-serialisable: dicts of str/num/lists of str, no None."""
    if isinstance(value, dict):
        return {str(k).replace("/", "_"): _uns_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_uns_safe(v) for v in value]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items) and items:
            return items
        return [str(v) for v in items]
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating, str)):
        return value
    return str(value)

