"""Load a GEO series into AnnData (samples x genes).

Sources tried by ``geo(acc, source="auto")``
--------------------------------------------
1. The series matrix (``matrix/GSExxx_series_matrix.txt.gz``, or one
   ``GSExxx-GPLyyy_series_matrix.txt.gz`` per platform, found by listing ``matrix/``);
   when a series has none, the SOFT family file (``soft/GSExxx_family.soft.gz``),
   which carries the same fields. It always gives the sample metadata; for arrays it also gives the values, which
   are mapped probe -> gene through the GPL annotation
   (:mod:`mgtranscript.datasets._platform`) and log2-transformed if needed
   (:func:`mgtranscript.pp.ensure_log`).
2. RNA-seq series have no values in the matrix. Then NCBI's generated raw counts
   (``ncbi_counts_url``: NCBI GeneID rows, GSM columns) are used, and failing
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

This module holds :func:`geo` and the series-matrix / SOFT / array side; count tables
are found, read and matched in :mod:`mgtranscript.datasets._geo_counts`.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from ..errors import DataFormatError, FetchError, InputDataError
from ..fetch import (
    check_accession,
    geo_matrix_dir_url,
    geo_series_matrix_url,
    geo_soft_url,
    list_remote_dir,
    mirror_base,
    ncbi_counts_url,
)
from . import _platform as gpl_mod
from ._geo_ctx import _Ctx
from ._geo_counts import _counts_adata, _load_counts, match_columns, read_count_table
from ._samplesheet import join_sample_sheet, read_sample_sheet
from ._seriesmatrix import GeoRecord, parse_series_matrix, parse_soft

logger = logging.getLogger(__name__)

__all__ = ["geo", "read_count_table", "match_columns"]

_SOURCES = ("auto", "matrix", "soft", "ncbi", "suppl")


# --------------------------------------------------------------------------- series matrix


def _matrix_records(ctx: _Ctx, platform: str | None) -> list[GeoRecord]:
    acc = ctx.acc
    pat = re.compile(rf"^{acc}(?:-(GPL\d+))?_series_matrix\.txt(\.gz)?$", re.I)
    try:
        names = [n for n in list_remote_dir(geo_matrix_dir_url(acc)) if pat.match(n)]
    except FetchError as exc:
        logger.info("cannot list %s (%s); trying the single-platform name", geo_matrix_dir_url(acc), exc)
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
        url = geo_matrix_dir_url(acc) + name
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
        from ._geneids import harmonise_var
    except ImportError:
        ctx.warn("gene ids were not harmonised: mgtranscript.datasets._geneids is not available.")
        return adata
    try:
        harmonise_var(adata)
    except FetchError as exc:
        ctx.warn(f"gene ids were not harmonised (gene_info unavailable: {exc}).")
    return adata


def _soft_record(ctx: _Ctx, platform: str | None) -> GeoRecord:
    """The series' SOFT family file, restricted to ``platform`` when given."""
    acc = ctx.acc
    rec = ctx.get(geo_soft_url(acc), "soft", parse_soft)
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
        Show download progress bars (default: ``settings.progress``).

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
    acc = check_accession(accession)
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
            soft_url = geo_soft_url(acc)
            try:
                rec = _soft_record(ctx, platform)
                from_soft = True
                logger.info("%s: no series matrix; sample metadata read from %s", acc, soft_url)
            except FetchError as exc:
                ctx.failed(soft_url, exc)
    missing_metadata = None
    if rec is None:
        if metadata_only or source == "matrix":
            raise ctx.unreachable_error() or ctx.nothing_found_error() or FetchError(
                f"{acc}: the series matrix could not be obtained (tried {'; '.join(ctx.tried)}); check "
                "the accession and the network, or pass samples= with a sample sheet and drop "
                "metadata_only.", url=geo_series_matrix_url(acc))
        missing_metadata = (f"{acc}: neither the series matrix nor the SOFT file could be obtained "
                            f"(tried {'; '.join(ctx.tried)}); sample metadata (titles, characteristics) "
                            "is missing")
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
            raise ctx.unreachable_error() or ctx.nothing_found_error() or FetchError(
                f"{acc}: no expression data could be loaded; the series matrix has no values and "
                f"these files could not be obtained: {'; '.join(ctx.tried)}"
                f"{'; ' + '; '.join(ctx.warnings[-1:]) if ctx.warnings else ''}. "
                + (f"Add one of them to the mirror {mirror_base()} (or unset MGTRANSCRIPT_MIRROR to download "
                   "it from GEO)" if mirror_base() else "Download one of them (or set MGTRANSCRIPT_MIRROR to a "
                   "copy that has it)")
                + ", or use metadata_only=True for the sample metadata alone.",
                url=ncbi_counts_url(acc),
            )
        counts_df, creport, mapping, colrep, data_source = got
        if missing_metadata and sheet is None:  # counts without labels: say so (once data exists)
            ctx.warn(missing_metadata + ", pass samples= with a sample sheet for labels.")
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
