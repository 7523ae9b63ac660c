"""TCGA projects (e.g. TCGA-LIHC) from the NCI Genomic Data Commons into AnnData.

What is read, exactly
---------------------
Files
    ``POST {GDC}/files`` with filters ``cases.project.project_id = project``,
    ``files.data_type = "Gene Expression Quantification"``,
    ``files.analysis.workflow_type = workflow``; fields ``file_id, file_name,
    md5sum, file_size, cases.case_id, cases.submitter_id, cases.samples.submitter_id,
    cases.samples.sample_type``; paginated with ``size``/``from``.
Data
    ``POST {GDC}/data`` with ``{"ids": [...]}`` (a tar.gz of ``<file_id>/<file_name>``
    members plus ``MANIFEST.txt``) for batches, ``GET {GDC}/data/<file_id>`` for a
    single file. Archives are extracted with
    :func:`~mgtranscript.fetch.safe_extract_tar`; each file is verified against the
    query's ``md5sum`` and cached by file id at
    ``api.gdc.cancer.gov/data/<file_id>/<file_name>``; the archive is then dropped.
Clinical risk factors
    ``POST {GDC}/cases`` (filter ``submitter_id``) with ``expand=exposures,diagnoses,
    follow_ups,follow_ups.other_clinical_attributes,other_clinical_attributes``
    (falling back to ``exposures,diagnoses,follow_ups`` if the server refuses the
    nested groups). Read: ``exposures[].alcohol_history`` and ``alcohol_intensity``;
    every field whose name contains ``risk_factor`` or ``comorbidit`` at any depth of
    the case record (in the GDC dictionary: ``follow_ups[].risk_factor``,
    ``follow_ups[].comorbidity``, ``other_clinical_attributes[].risk_factors`` /
    ``comorbidities``); ``diagnoses[0].primary_diagnosis`` and
    ``ajcc_pathologic_stage``. Absent fields give missing values.

Query results are cached too (keyed by a hash of the request body), so a cohort
once loaded can be loaded again offline.

Environment: ``MGTRANSCRIPT_GDC_URL`` replaces the base URL
``https://api.gdc.cancer.gov`` (a GDC mirror, or a local test server); the cache
layout does not change. ``MGTRANSCRIPT_MIRROR`` applies to the single-file GETs only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from ..errors import AccessionNotFound, DataFormatError, DownloadCorrupt, FetchError, InputDataError
from ..fetch import cache_dir, fetch, remove, safe_extract_tar, store, urls

logger = logging.getLogger(__name__)

__all__ = ["gdc", "query_files", "read_star_counts", "fetch_clinical", "risk_factor_table",
           "sample_type_code"]

GDC_URL_ENV = "MGTRANSCRIPT_GDC_URL"
#: Records per page of a files/cases query.
PAGE_SIZE = 500
_CACHE_HOST = "api.gdc.cancer.gov"
STAR_COLUMNS = ["gene_id", "gene_name", "gene_type", "unstranded", "stranded_first",
                "stranded_second", "tpm_unstranded", "fpkm_unstranded", "fpkm_uq_unstranded"]
_FILE_FIELDS = ["file_id", "file_name", "md5sum", "file_size", "cases.case_id",
                "cases.submitter_id", "cases.samples.submitter_id", "cases.samples.sample_type"]
_EXPAND_FULL = ("exposures,diagnoses,follow_ups,follow_ups.other_clinical_attributes,"
                "other_clinical_attributes")
_EXPAND_BASIC = "exposures,diagnoses,follow_ups"


def _endpoint(name: str) -> tuple[str, bool]:
    """(URL, explicit) of a GDC endpoint, honouring ``MGTRANSCRIPT_GDC_URL``."""
    base = os.environ.get(GDC_URL_ENV, "").strip()
    if base:
        return base.rstrip("/") + "/" + name, True
    return urls.gdc_endpoint(name), False


def _post_json(name: str, body: dict, *, refresh: bool = False) -> dict:
    """POST a JSON query to a GDC endpoint; the answer is cached by the body's hash."""
    url, explicit = _endpoint(name)
    key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:20]
    rel = f"{_CACHE_HOST}/{name}/query-{key}.json"
    from ..errors import OfflineError
    from ..fetch import cache_dir, mirror_base

    if mirror_base() and not explicit and (refresh or not (cache_dir() / rel).is_file()):
        # a mirror laid out by URL cannot answer API queries (POST); with a mirror set the
        # public hosts are not contacted, so say so at once instead of retrying
        raise OfflineError(
            f"{url}: the GDC API cannot be served from MGTRANSCRIPT_MIRROR ({mirror_base()}) and this "
            f"query is not cached. Unset MGTRANSCRIPT_MIRROR to query the GDC, or set {GDC_URL_ENV} "
            "to a GDC API you can reach.",
            url=url,
        )
    for attempt in range(2):
        path = fetch(url, method="POST", json_body=body, relpath=rel, explicit=explicit,
                     force=refresh or attempt > 0, progress=False)
        try:
            out = json.loads(path.read_text())
            if isinstance(out, dict) and isinstance(out.get("data"), dict):
                return out
        except (ValueError, UnicodeDecodeError):
            pass
        remove(rel)
    raise DataFormatError(
        f"{url} answered with something that is not a GDC JSON response; retry later or "
        f"check {GDC_URL_ENV}."
    )


def _filters(*pairs: tuple[str, list]) -> dict:
    return {"op": "and", "content": [
        {"op": "in", "content": {"field": field, "value": list(values)}} for field, values in pairs
    ]}


def _paginate(name: str, body: dict, *, refresh: bool) -> list[dict]:
    hits: list[dict] = []
    offset = 0
    while True:
        page = _post_json(name, {**body, "size": PAGE_SIZE, "from": offset}, refresh=refresh)
        data = page["data"]
        new = data.get("hits") or []
        hits.extend(new)
        total = int((data.get("pagination") or {}).get("total", len(hits)))
        offset += len(new)
        if not new or len(hits) >= total:
            return hits


def sample_type_code(barcode: str) -> str | None:
    """``TCGA-2V-A95S-01A`` -> ``"01"`` (the two digits of the sample field)."""
    m = re.match(r"^TCGA-\w{2}-\w{4}-(\d{2})", str(barcode))
    return m.group(1) if m else None


def _condition(code: str | None) -> str | None:
    if code is None:
        return None
    n = int(code)
    if 1 <= n <= 9:
        return "hcc_tumour"
    if 10 <= n <= 19:
        return "hcc_nontumour"
    return None


def query_files(project: str = "TCGA-LIHC", *, workflow: str = "STAR - Counts",
                refresh: bool = False) -> pd.DataFrame:
    """The project's expression files: one row per file (file_id, file_name, md5sum, ...).

    Columns: ``file_id, file_name, md5sum, file_size, case_id, case_submitter_id,
    barcode`` (sample submitter id) and ``sample_type`` (GDC's label).

    Raises
    ------
    AccessionNotFound
        The GDC has no such files (unknown project or workflow).
    """
    body = {
        "filters": _filters(("cases.project.project_id", [project]),
                            ("files.data_type", ["Gene Expression Quantification"]),
                            ("files.analysis.workflow_type", [workflow])),
        "fields": ",".join(_FILE_FIELDS),
        "format": "JSON",
    }
    hits = _paginate("files", body, refresh=refresh)
    rows = []
    for h in hits:
        case = (h.get("cases") or [{}])[0]
        sample = (case.get("samples") or [{}])[0]
        rows.append({
            "file_id": h.get("file_id") or h.get("id"), "file_name": h.get("file_name"),
            "md5sum": h.get("md5sum"), "file_size": h.get("file_size"),
            "case_id": case.get("case_id"), "case_submitter_id": case.get("submitter_id"),
            "barcode": sample.get("submitter_id"), "sample_type": sample.get("sample_type"),
        })
    df = pd.DataFrame(rows, columns=["file_id", "file_name", "md5sum", "file_size", "case_id",
                                     "case_submitter_id", "barcode", "sample_type"])
    if df.empty:
        url, _ = _endpoint("files")
        raise AccessionNotFound(
            f"the GDC has no '{workflow}' gene expression files for project {project!r}. Check "
            "the project id (e.g. TCGA-LIHC) and the workflow (e.g. 'STAR - Counts').", url=url
        )
    bad = df["file_id"].isna() | df["file_name"].isna()
    if bad.any():
        raise DataFormatError(f"GDC files query returned {int(bad.sum())} hits without file_id/file_name.")
    if df["file_name"].str.contains(r"[/\\]|^\.\.?$", regex=True).any():
        raise DataFormatError("GDC files query returned file names with path separators; refusing them.")
    return df.sort_values(["barcode", "file_id"], na_position="last").reset_index(drop=True)


def _rel(row) -> str:
    return f"{_CACHE_HOST}/data/{row.file_id}/{row.file_name}"


def _download(files: pd.DataFrame, *, batch_size: int) -> dict[str, Path]:
    """Cache every file (verified md5); return file_id -> cached path."""
    root = cache_dir()
    data_url, explicit = _endpoint("data")
    out: dict[str, Path] = {}
    failed: dict[str, str] = {}
    for _round in range(2):  # a second round re-downloads files that failed md5
        todo = [r for r in files.itertuples(index=False) if r.file_id not in out]
        for r in todo:
            if (root / _rel(r)).is_file():
                out[r.file_id] = root / _rel(r)
        todo = [r for r in todo if r.file_id not in out]
        if not todo:
            break
        logger.info("GDC: downloading %d files in batches of %d", len(todo), batch_size)
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            if len(batch) == 1:
                r = batch[0]
                try:
                    out[r.file_id] = fetch(f"{data_url}/{r.file_id}", relpath=_rel(r),
                                           known_hash=f"md5:{r.md5sum}" if r.md5sum else None,
                                           explicit=explicit)
                    failed.pop(r.file_id, None)
                except DownloadCorrupt as exc:
                    failed[r.file_id] = str(exc)
                continue
            out.update(_download_batch(batch, data_url, explicit, failed))
    missing = [r.file_id for r in files.itertuples(index=False) if r.file_id not in out]
    if missing:
        why = "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3])
        raise DownloadCorrupt(
            f"{len(missing)} GDC file(s) could not be obtained intact ({missing[:5]}); {why}. "
            "Nothing corrupt was cached; call again to retry.", url=data_url
        )
    return out


def _download_batch(batch: list, data_url: str, explicit: bool, failed: dict) -> dict[str, Path]:
    ids = [r.file_id for r in batch]
    key = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:20]
    arc_rel = f"{_CACHE_HOST}/data/batch-{key}.tar.gz"
    got: dict[str, Path] = {}
    try:
        arc = fetch(data_url, method="POST", json_body={"ids": ids}, relpath=arc_rel,
                    explicit=explicit)
        partial = cache_dir() / ".partial"
        partial.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=partial, prefix="gdc-") as tmp:
            safe_extract_tar(arc, Path(tmp))
            for r in batch:
                member = Path(tmp) / r.file_id / r.file_name
                if not member.is_file():
                    failed[r.file_id] = f"not in the archive the GDC sent ({r.file_name})"
                    continue
                try:
                    got[r.file_id] = store(member, _rel(r), url=f"{data_url}/{r.file_id}",
                                           known_hash=f"md5:{r.md5sum}" if r.md5sum else None)
                    failed.pop(r.file_id, None)
                except DownloadCorrupt as exc:
                    failed[r.file_id] = str(exc)
    finally:
        remove(arc_rel)  # the members are cached individually; the archive is not kept
    return got


def read_star_counts(path: Path | str, *, columns: list[str] | None = None) -> pd.DataFrame:
    """Read one GDC STAR-counts file (``# gene-model`` comment, header, ``N_*`` rows dropped).

    Parameters
    ----------
    path
        The ``*.rna_seq.augmented_star_gene_counts.tsv`` file.
    columns
        Read only these columns (``gene_id`` is always read).

    Raises
    ------
    DataFormatError
        Missing columns, or an empty table.
    """
    path = Path(path)
    needed = ["gene_id", "gene_name", "gene_type", "unstranded", "tpm_unstranded"]
    if columns is not None:
        needed = ["gene_id", *[c for c in columns if c != "gene_id"]]
    skip = 0
    with open(path) as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            skip += 1
    try:
        df = pd.read_csv(path, sep="\t", skiprows=skip, engine="c",
                         usecols=lambda c: columns is None or c in needed,
                         dtype={"gene_id": str, "gene_name": str, "gene_type": str})
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataFormatError(f"{path}: not a STAR gene counts table ({exc}).") from exc
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataFormatError(
            f"{path}: not a GDC STAR counts file; columns {missing} are missing (found "
            f"{list(df.columns)[:9]}). Expected: {' '.join(STAR_COLUMNS)}."
        )
    ids = df["gene_id"].to_numpy(dtype=object)
    df = df[~(ids.astype("U2") == "N_")]  # STAR summary rows (fast prefix test)
    if df.empty:
        raise DataFormatError(f"{path}: no gene rows.")
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------- clinical

_NO_INFO = {"", "not reported", "unknown", "not applicable", "--", "nan", "none reported"}
_PATTERNS = {
    "alcohol": re.compile(r"(?<!non-)(?<!non)(?<!non )\balcohol", re.I),
    "hbv": re.compile(r"hepatitis\s*b\b|\bhbv\b", re.I),
    "hcv": re.compile(r"hepatitis\s*c\b|\bhcv\b", re.I),
    "nafld": re.compile(r"non-?\s?alcoholic\s+(fatty|steato)|\bnafld\b|\bnash\b|\bmasld\b|\bmash\b",
                        re.I),
}


def _collect_risk_strings(obj: Any, out: list[str], key: str = "") -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _collect_risk_strings(v, out, k)
    elif isinstance(obj, list):
        for v in obj:
            _collect_risk_strings(v, out, key)
    elif isinstance(obj, str) and re.search(r"risk_factor|comorbidit", key):
        if obj.strip().lower() not in _NO_INFO:
            out.append(obj.strip())


def risk_factor_table(cases: list[dict]) -> pd.DataFrame:
    """Risk factors per case (index: case submitter id) from GDC ``cases`` records.

    Columns ``alcohol``, ``hbv``, ``hcv``, ``nafld`` (nullable booleans): True when the
    factor is recorded (``alcohol_history == "Yes"`` or named among the risk factors /
    comorbidities), False when ``alcohol_history == "No"`` (alcohol) or other risk
    factors are recorded without it, missing when the case records nothing. Also
    ``risk_factors`` (the recorded strings), ``alcohol_history``, ``alcohol_intensity``,
    ``primary_diagnosis``, ``ajcc_pathologic_stage``.
    """
    rows = {}
    for case in cases:
        sid = case.get("submitter_id")
        if not sid:
            continue
        texts: list[str] = []
        _collect_risk_strings(case, texts)
        texts = list(dict.fromkeys(texts))
        expo = [e for e in case.get("exposures") or [] if isinstance(e, dict)]
        hist = next((e.get("alcohol_history") for e in expo
                     if str(e.get("alcohol_history") or "").lower() in ("yes", "no")), None)
        intensity = next((e.get("alcohol_intensity") for e in expo
                          if str(e.get("alcohol_intensity") or "").lower() not in _NO_INFO), None)
        diag = next((d for d in case.get("diagnoses") or [] if isinstance(d, dict)), {})
        row: dict[str, Any] = {
            "risk_factors": "; ".join(texts) if texts else None,
            "alcohol_history": hist, "alcohol_intensity": intensity,
            "primary_diagnosis": diag.get("primary_diagnosis"),
            "ajcc_pathologic_stage": diag.get("ajcc_pathologic_stage"),
        }
        recorded = bool(texts)  # includes an explicit "None" (no risk factor)
        for factor, pat in _PATTERNS.items():
            hit = any(pat.search(t) for t in texts)
            value: bool | None = True if hit else (False if recorded else None)
            if factor == "alcohol" and not hit:
                if hist == "Yes" or str(intensity or "").lower() in ("heavy drinker", "drinker"):
                    value = True
                elif hist == "No" or str(intensity or "").lower() in (
                        "lifelong non-drinker", "non-drinker"):
                    value = False
            row[factor] = value
        rows[sid] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    for factor in _PATTERNS:
        if factor not in df:
            df[factor] = None
        df[factor] = pd.array(df[factor].tolist(), dtype="boolean")
    return df


def fetch_clinical(case_ids: list[str], *, project: str | None = None,
                   refresh: bool = False) -> list[dict]:
    """GDC ``cases`` records (with exposures, diagnoses, follow-ups) for these case submitter ids."""
    pairs: list[tuple[str, list]] = [("submitter_id", sorted(set(case_ids)))]
    if project:
        pairs.insert(0, ("project.project_id", [project]))
    body = {"filters": _filters(*pairs), "format": "JSON", "fields": "submitter_id,case_id"}
    try:
        return _paginate("cases", {**body, "expand": _EXPAND_FULL}, refresh=refresh)
    except (FetchError, DataFormatError) as exc:
        if isinstance(exc, AccessionNotFound):
            raise
        logger.info("GDC cases with nested expand failed (%s); retrying with %s", exc, _EXPAND_BASIC)
        return _paginate("cases", {**body, "expand": _EXPAND_BASIC}, refresh=refresh)


# --------------------------------------------------------------------------- loader


def gdc(
    project: str = "TCGA-LIHC",
    *,
    workflow: str = "STAR - Counts",
    max_files: int | None = None,
    batch_size: int = 50,
    clinical: bool = True,
    refresh: bool = False,
) -> AnnData:
    """Load a TCGA project's RNA-seq STAR counts from the GDC as samples x genes.

    Parameters
    ----------
    project
        GDC project id, e.g. ``"TCGA-LIHC"``.
    workflow
        GDC ``analysis.workflow_type`` of the expression files.
    max_files
        Load only the first ``max_files`` files (sorted by sample barcode); for trials.
    batch_size
        Files per ``POST /data`` request (one tar.gz each).
    clinical
        Add risk factors (alcohol, HBV, HCV, NAFLD) from the GDC ``cases`` endpoint.
    refresh
        Ask the GDC again instead of using cached query results (data files, verified
        by md5, are never downloaded twice).

    Returns
    -------
    AnnData with ``layers["counts"]`` (unstranded STAR counts), ``layers["tpm"]``,
    ``X`` = log2 CPM (:func:`mgtranscript.pp.log2_cpm`); ``var`` indexed by Ensembl id
    without version (``_PAR_Y`` kept) with ``gene_id``, ``ensembl``, ``gene_name``,
    ``gene_type``; ``obs`` indexed by sample barcode with ``barcode``, ``case_id``
    (submitter id), ``case_uuid``, ``file_id``, ``sample_type``, ``sample_type_code``,
    ``disease="HCC"``, ``condition`` (``hcc_tumour`` for codes 01-09,
    ``hcc_nontumour`` for 10-19) and, with ``clinical``, ``alcohol``, ``hbv``, ``hcv``,
    ``nafld``, ``risk_factors`` ...; ``uns["gdc"]`` records the query and provenance.

    Raises
    ------
    InputDataError
        Bad arguments.
    AccessionNotFound
        No such project/workflow at the GDC.
    DownloadCorrupt
        Files that kept failing their md5 check.
    OfflineError
        Offline and not everything is cached.
    """
    project = str(project).strip().upper()
    if not re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9_]+)+", project):
        raise InputDataError(f"{project!r} is not a GDC project id such as 'TCGA-LIHC'.")
    if batch_size < 1 or (max_files is not None and max_files < 1):
        raise InputDataError("batch_size and max_files must be positive integers.")
    files = query_files(project, workflow=workflow, refresh=refresh)
    n_all = len(files)
    if max_files is not None:
        files = files.iloc[:max_files].reset_index(drop=True)
    paths = _download(files, batch_size=batch_size)

    first = read_star_counts(paths[files.loc[0, "file_id"]])
    gene_ids = first["gene_id"].astype(str).to_numpy()
    counts = np.empty((len(files), len(gene_ids)), dtype=np.int64)
    tpm = np.empty((len(files), len(gene_ids)), dtype=np.float32)
    for i, r in enumerate(files.itertuples(index=False)):
        df = first if i == 0 else read_star_counts(
            paths[r.file_id], columns=["gene_id", "unstranded", "tpm_unstranded"])
        if len(df) != len(gene_ids) or not np.array_equal(df["gene_id"].astype(str).to_numpy(), gene_ids):
            df = df.set_index("gene_id")
            lost = pd.Index(gene_ids).difference(df.index)
            if len(lost):
                raise DataFormatError(
                    f"{paths[r.file_id]}: {len(lost)} genes of the first file are missing "
                    f"(e.g. {list(lost[:3])}); the files use different gene models.")
            df = df.loc[gene_ids].reset_index()
        c = pd.to_numeric(df["unstranded"], errors="coerce").to_numpy()
        if np.isnan(c).any() or (c < 0).any():
            raise DataFormatError(f"{paths[r.file_id]}: unstranded counts with NaN or negative values.")
        counts[i] = c.astype(np.int64)
        tpm[i] = pd.to_numeric(df["tpm_unstranded"], errors="coerce").to_numpy(dtype=np.float32)

    ensembl = pd.Series(gene_ids).str.replace(r"\.\d+(?=(_PAR_Y)?$)", "", regex=True)
    var = pd.DataFrame({"gene_id": gene_ids, "ensembl": ensembl.to_numpy(),
                        "gene_name": first["gene_name"].astype(str).to_numpy(),
                        "gene_type": first["gene_type"].astype(str).to_numpy()})
    var.index = pd.Index(ensembl.to_numpy(), name=None)

    codes = [sample_type_code(b) if isinstance(b, str) else None for b in files["barcode"]]
    obs = pd.DataFrame({
        "barcode": files["barcode"].to_numpy(),
        "case_id": files["case_submitter_id"].to_numpy(),
        "case_uuid": files["case_id"].to_numpy(),
        "file_id": files["file_id"].to_numpy(),
        "file_name": files["file_name"].to_numpy(),
        "sample_type": files["sample_type"].to_numpy(),
        "sample_type_code": codes,
        "disease": "HCC" if project == "TCGA-LIHC" else project,
        "condition": [_condition(c) for c in codes],
    })
    obs.index = pd.Index(obs["barcode"].fillna(obs["file_id"]).astype(str).to_numpy())
    unlabelled = obs["condition"].isna().sum()
    if unlabelled:
        logger.warning("%s: %d samples with a barcode sample type outside 01-19 have no condition",
                       project, unlabelled)

    if clinical:
        cases = fetch_clinical(obs["case_id"].dropna().astype(str).tolist(), project=project,
                               refresh=refresh)
        rf = risk_factor_table(cases)
        for col in rf.columns:
            values = rf[col].reindex(obs["case_id"].to_numpy())
            obs[col] = values.array if col in _PATTERNS else values.to_numpy()
        n = len(rf)
        logger.info("%s: clinical records for %d of %d cases", project, n, obs["case_id"].nunique())

    adata = AnnData(X=counts.astype(np.float32), obs=obs, var=var)
    adata.layers["counts"] = counts
    adata.layers["tpm"] = tpm
    adata.obs_names_make_unique()
    adata.var_names_make_unique()
    from ..pp import log2_cpm

    log2_cpm(adata, layer="counts")
    for col in adata.obs.columns:  # text with gaps -> categorical (h5ad-writable)
        if adata.obs[col].dtype == object:
            adata.obs[col] = adata.obs[col].astype("category")
    adata.uns["gdc"] = {
        "project_id": project, "workflow_type": workflow,
        "data_type": "Gene Expression Quantification",
        "n_files_available": int(n_all), "n_files_loaded": int(len(files)),
        "base_url": _endpoint("")[0].rstrip("/"), "clinical": bool(clinical),
        "risk_factor_fields": ["exposures.alcohol_history", "exposures.alcohol_intensity",
                               "*risk_factor*", "*comorbidit*"] if clinical else [],
    }
    return adata
