"""TCGA projects (e.g. TCGA-LIHC) from the NCI Genomic Data Commons into AnnData.

What is read, exactly
---------------------
Files
    ``POST {GDC}/files`` with filters ``cases.project.project_id = project``,
    ``files.data_type = "Gene Expression Quantification"``,
    ``files.analysis.workflow_type = workflow``; fields
    :data:`~mgtranscript.datasets._gdc_api.FILE_FIELDS` (``file_id, file_name, md5sum,
    file_size, cases.case_id, cases.submitter_id, cases.samples.submitter_id,
    cases.samples.sample_type, cases.samples.portions.analytes.aliquots.submitter_id``:
    only fields today's API has; ``cases.samples.sample_type_id`` was removed in API
    8.3.0); paged with ``size``/``from`` and a stable ``sort`` (``file_id:asc``;
    without one the GDC may order pages differently per call). The number of distinct
    files must equal ``pagination.total``; otherwise the listing is asked again once,
    then :class:`~mgtranscript.errors.DataFormatError`. Non-empty ``warnings`` of any
    GDC answer are logged and kept in ``uns["gdc"]["api_warnings"]``.
Release
    ``GET {GDC}/status``: the data release and API version the answers came from, in
    ``uns["gdc"]["release"]`` (cached with the query, so a reload from the cache
    reports the release it was read from).
Data
    ``POST {GDC}/data`` with ``{"ids": [...]}`` (a tar.gz of ``<file_id>/<file_name>``
    members plus ``MANIFEST.txt``) for batches of at most ``batch_size`` files and
    :data:`MAX_BATCH_BYTES` bytes, ``GET {GDC}/data/<file_id>`` for single files
    (:mod:`mgtranscript.datasets._gdc_download`). A 429/503 answer to a batch is waited
    out (``Retry-After``) and the same batch sent again.
    Archives are extracted with :func:`~mgtranscript.fetch.safe_extract_tar`; each file
    is verified against the query's ``md5sum`` and cached by file id at
    ``api.gdc.cancer.gov/data/<file_id>/<file_name>`` as soon as it verifies. A batch
    that fails (server error, cut-off or corrupt archive, missing or damaged members)
    is not sent again as is: the files still missing are asked for in two halves,
    recursively, down to single-file GETs (which the fetch layer retries and
    verifies); files already verified are kept. A file that still fails is named in a
    :class:`~mgtranscript.errors.DownloadCorrupt` after all others are cached.
Samples
    The sample type code from the barcode's sample field (``TCGA-2V-A95S-01A`` ->
    ``01``), else from the GDC's ``sample_type`` text; a barcode that disagrees with
    ``sample_type`` is reported. ``01`` primary tumour -> ``condition =
    "hcc_tumour"``, ``11`` solid-tissue normal -> ``"hcc_nontumour"``, ``02`` recurrent
    tumour -> ``"hcc_recurrent"`` (kept out of the tumour/non-tumour contrast); any
    other code (``06`` metastatic, ``10`` blood-derived normal, ``12`` buccal, ``14``
    bone marrow ...) -> ``"unlabelled"`` with a warning. ``pair_id`` is the patient
    barcode for patients with both an ``01`` and an ``11`` sample. Each file's
    aliquot barcode is kept (``aliquot_barcode``); a sample with several files
    (aliquots) keeps them all, named by their aliquot barcodes, and is reported in
    ``uns["gdc"]["duplicates"]``.
Clinical
    ``POST {GDC}/cases`` (filter ``submitter_id``, sorted ``submitter_id:asc``) with
    ``expand=`` :data:`~mgtranscript.datasets._gdc_clinical.CLINICAL_EXPAND`; a server
    that refuses the nested group is asked for the same fields by name
    (:data:`~mgtranscript.datasets._gdc_clinical.CLINICAL_FIELDS`). Which fields make
    which column is documented in :mod:`mgtranscript.datasets._gdc_clinical`
    (etiology flags from risk factors and liver-relevant comorbidities only, NA when
    unknown; primary diagnosis by ``diagnosis_is_primary_disease``; ``sex`` from
    ``sex_at_birth``; ``os_days``/``os_event`` with last contact the latest of the
    diagnosis and follow-up days; cases without survival counted, by reason, in
    ``uns["gdc"]["survival"]``).

Query results are cached too (keyed by a hash of the request body), so a cohort
once loaded can be loaded again offline.

Settings: ``settings.gdc_url`` (``MGTRANSCRIPT_GDC_URL``) replaces the base URL
``https://api.gdc.cancer.gov`` (a GDC mirror, or a local test server); the cache
layout does not change. A file mirror (``settings.mirror``) cannot answer the
GDC API: with one set and no ``settings.gdc_url``, an uncached project fails at
once with an :class:`~mgtranscript.errors.OfflineError` whose first line says so.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from ..errors import DataFormatError, InputDataError
from ._gdc_api import (
    _SORT,
    CONDITION_BY_CODE,
    GDC_URL_ENV,
    PAGE_SIZE,
    UNLABELLED,
    _endpoint,
    data_release,
    fetch_clinical,
    query_files,
    sample_type_code,
)
from ._gdc_clinical import (
    CLINICAL_EXPAND,
    GDCClinicalWarning,
    clinical_table,
    survival_counts,
)
from ._gdc_download import MAX_BATCH_BYTES, download_files
from ._gdc_samples import add_clinical, code_mismatches, duplicates, manifest, obs_names, query_uns

logger = logging.getLogger(__name__)

__all__ = [
    "CONDITION_BY_CODE",
    "GDC_URL_ENV",
    "MAX_BATCH_BYTES",
    "PAGE_SIZE",
    "GDCClinicalWarning",
    "clinical_table",
    "condition_of",
    "fetch_clinical",
    "gdc",
    "query_files",
    "read_star_counts",
    "sample_type_code",
    "survival_counts",
]

STAR_COLUMNS = ["gene_id", "gene_name", "gene_type", "unstranded", "stranded_first",
                "stranded_second", "tpm_unstranded", "fpkm_unstranded", "fpkm_uq_unstranded"]


def condition_of(code: str | None) -> str:
    """Harmonised condition of a GDC sample type code (see :data:`CONDITION_BY_CODE`)."""
    if code is None or (isinstance(code, float) and np.isnan(code)):
        return UNLABELLED
    return CONDITION_BY_CODE.get(str(code).zfill(2), UNLABELLED)


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


# --------------------------------------------------------------------------- loader


def _read_matrix(files: pd.DataFrame, paths: dict[str, Path]):
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
    return first, gene_ids, counts, tpm


def _var(first: pd.DataFrame, gene_ids: np.ndarray, counts, tpm, var_names: str):
    ensembl = pd.Series(gene_ids).str.replace(r"\.\d+(?=(_PAR_Y)?$)", "", regex=True).to_numpy()
    names = first["gene_name"].astype("string").fillna("").to_numpy(dtype=object)
    types = first["gene_type"].astype(str).to_numpy()
    if var_names == "ensembl":
        var = pd.DataFrame({"gene_id": gene_ids, "ensembl": ensembl, "gene_name": names,
                            "gene_type": types}, index=pd.Index(ensembl))
        return var, counts, tpm
    # GENCODE gene names; rows sharing a name (e.g. the _PAR_Y copies) are summed
    key = np.where(names == "", ensembl, names)
    codes, uniques = pd.factorize(key)
    if len(uniques) == len(key):
        var = pd.DataFrame({"gene_id": gene_ids, "ensembl": ensembl, "gene_type": types,
                            "n_ids": 1}, index=pd.Index(uniques.astype(str)))
        return var, counts, tpm
    ind = sparse.csr_matrix((np.ones(len(key)), (np.arange(len(key)), codes)),
                            shape=(len(key), len(uniques)))
    counts = np.asarray((sparse.csr_matrix(counts) @ ind).todense()).astype(np.int64)
    tpm = np.asarray(tpm @ ind, dtype=np.float32)
    frame = pd.DataFrame({"code": codes, "gene_id": gene_ids, "ensembl": ensembl, "gene_type": types})
    agg = frame.groupby("code", sort=True).agg(
        gene_id=("gene_id", "|".join), ensembl=("ensembl", "first"), gene_type=("gene_type", "first"),
        n_ids=("gene_id", "size"))
    var = agg.set_index(pd.Index(uniques.astype(str)))
    return var, counts, tpm


def _text(values) -> list:
    return [v if isinstance(v, str) and v else None for v in values]


def gdc(
    project: str = "TCGA-LIHC",
    *,
    workflow: str = "STAR - Counts",
    max_files: int | None = None,
    batch_size: int = 50,
    clinical: bool = True,
    metadata_only: bool = False,
    var_names: str = "gene_name",
    refresh: bool = False,
) -> AnnData:
    """Load a TCGA project's RNA-seq STAR counts and clinical data from the GDC.

    Parameters
    ----------
    project
        GDC project id, e.g. ``"TCGA-LIHC"``.
    workflow
        GDC ``analysis.workflow_type`` of the expression files.
    max_files
        Load only the first ``max_files`` files (sorted by sample barcode); for trials.
    batch_size
        Files per ``POST /data`` request (one tar.gz each; also capped at
        :data:`MAX_BATCH_BYTES`).
    clinical
        Add etiology, diagnosis and survival columns from the GDC ``cases`` endpoint.
    metadata_only
        Samples and clinical data only: no expression file is downloaded and the
        AnnData has zero genes (``mgtranscript fetch --clinical-only``).
    var_names
        ``"gene_name"`` (default): the GENCODE gene names the GDC ships in each file
        (rows sharing a name, e.g. the ``_PAR_Y`` copies, summed; ``var["gene_id"]``
        lists the ``|``-joined Ensembl ids); ``"ensembl"``: Ensembl ids without version
        (``_PAR_Y`` kept distinct).
    refresh
        Ask the GDC again instead of using cached query results (data files, verified
        by md5, are never downloaded twice).

    Returns
    -------
    AnnData, samples x genes: ``layers["counts"]`` (unstranded STAR counts),
    ``layers["tpm"]``, ``X`` = edgeR-style log2 CPM with TMM factors
    (:func:`mgtranscript.pp.log2_cpm`, as the GEO loaders). ``obs`` (index: sample
    barcode, or the aliquot barcode for a sample with several files): ``barcode``,
    ``aliquot_barcode``, ``patient_id`` (12-character barcode), ``case_id`` (GDC case
    UUID), ``file_id``, ``file_name``, ``sample_type`` (GDC label),
    ``sample_type_code``, ``disease`` (``HCC`` for TCGA-LIHC; ``unlabelled`` for
    unlabelled samples), ``condition`` (``hcc_tumour`` / ``hcc_nontumour`` /
    ``hcc_recurrent`` / ``unlabelled``), ``pair_id`` and, with ``clinical``, the
    columns of :data:`~mgtranscript.datasets._gdc_clinical.CLINICAL_COLUMNS`
    (``etiology_*`` nullable booleans, ``os_event`` nullable integers). ``uns["gdc"]``
    records the queries (``queries``), the data release (``release``), the files
    (``manifest``: ids, md5 and sha256), the download, duplicates, the survival counts
    (``survival``: patients with overall survival and why the others have none) and
    warnings.

    Raises
    ------
    InputDataError
        Bad arguments.
    AccessionNotFound
        No such project/workflow at the GDC.
    DataFormatError
        A paged listing that does not add up, or files with different gene models.
    DownloadCorrupt
        Files that kept failing their md5 check (the others are cached).
    OfflineError
        Offline (or only a file mirror) and not everything is cached.
    """
    project = str(project).strip().upper()
    if not re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9_]+)+", project):
        raise InputDataError(f"{project!r} is not a GDC project id such as 'TCGA-LIHC'.")
    if batch_size < 1 or (max_files is not None and max_files < 1):
        raise InputDataError("batch_size and max_files must be positive integers.")
    if var_names not in ("gene_name", "ensembl"):
        raise InputDataError(f"var_names must be 'gene_name' or 'ensembl', not {var_names!r}.")
    queries: list[dict] = []
    files = query_files(project, workflow=workflow, refresh=refresh, record=queries)
    first_answer = queries[0]["answers"][0]["relpath"] if queries and queries[0]["answers"] else project
    release = data_release(key=first_answer.rsplit("/", 1)[-1].removesuffix(".json"), refresh=refresh)
    n_all = len(files)
    if max_files is not None:
        files = files.iloc[:max_files].reset_index(drop=True)
    notes: list[str] = []
    dl_report: dict = {}
    if metadata_only:
        var, counts, tpm = pd.DataFrame(index=pd.Index([], dtype=str)), np.zeros((len(files), 0)), None
        paths: dict = {}
    else:
        paths, dl_report = download_files(files, batch_size=batch_size)
        first, gene_ids, counts, tpm = _read_matrix(files, paths)
        var, counts, tpm = _var(first, gene_ids, counts, tpm, var_names)

    codes = files["sample_type_code"].to_numpy(dtype=object)
    condition = [condition_of(c) for c in codes]
    patient = [b[:12] if isinstance(b, str) and b.startswith("TCGA-") else p
               for b, p in zip(files["barcode"], files["case_submitter_id"])]
    obs = pd.DataFrame({
        "barcode": _text(files["barcode"]),
        "aliquot_barcode": _text(files["aliquot_barcode"]),
        "patient_id": _text(patient),
        "case_id": _text(files["case_id"]),
        "file_id": files["file_id"].to_numpy(),
        "file_name": files["file_name"].to_numpy(),
        "sample_type": _text(files["sample_type"]),
        "sample_type_code": _text(codes),
        "disease": ["HCC" if project == "TCGA-LIHC" else project] * len(files),
        "condition": condition,
    })
    obs.loc[obs["condition"] == UNLABELLED, "disease"] = UNLABELLED
    dups = duplicates(files)
    obs.index = obs_names(files, dups)
    if dups:
        msg = (f"{project}: {len(dups)} sample(s) have several expression files (aliquots), all kept "
               f"and named by aliquot barcode: " + "; ".join(f"{d['barcode']} x{len(d['aliquots'])}"
                                                            for d in dups[:5]))
        logger.warning(msg)
        notes.append(msg)
    mismatch = code_mismatches(files)
    if mismatch:
        msg = (f"{project}: {len(mismatch)} sample(s) whose barcode's sample type disagrees with the GDC's "
               f"sample_type (the barcode is used): {', '.join(mismatch[:5])}")
        logger.warning(msg)
        notes.append(msg)
    un = obs[obs["condition"] == UNLABELLED]
    if len(un):
        kinds = ", ".join(f"{c} ({t}) x{n}" for (c, t), n in
                          un.groupby(["sample_type_code", "sample_type"], dropna=False).size().items())
        msg = (f"{project}: {len(un)} sample(s) with sample type codes other than 01/11/02 are "
               f"'unlabelled' and stay out of every contrast: {kinds}")
        logger.warning(msg)
        notes.append(msg)
    tum = set(obs.loc[obs["sample_type_code"] == "01", "patient_id"].dropna())
    nor = set(obs.loc[obs["sample_type_code"] == "11", "patient_id"].dropna())
    both = tum & nor
    obs["pair_id"] = pd.Categorical([p if p in both and c in ("01", "11") else None
                                     for p, c in zip(obs["patient_id"], obs["sample_type_code"])])

    n_rf, surv, sex_source = 0, {}, {}
    if clinical:
        ids = sorted(set(obs["patient_id"].dropna()))
        cases = fetch_clinical(ids, project=project, refresh=refresh, record=queries)
        table = clinical_table(cases)
        surv, sex_source = dict(table.attrs.get("survival", {})), dict(table.attrs.get("sex_source", {}))
        n_rf = int(table["etiology"].ne("unknown").sum()) if len(table) else 0
        if len(table) and n_rf == 0:
            notes.append(f"{project}: no patient has a recorded risk factor; every etiology is unknown")
        add_clinical(obs, table)
        missing = sorted(set(ids) - set(table.index))
        if missing:
            msg = f"{project}: no GDC clinical record for {len(missing)} patients (e.g. {missing[:3]})"
            logger.warning(msg)
            notes.append(msg)
        dropped = {k: v for k, v in surv.get("dropped", {}).items() if v}
        if dropped:
            msg = (f"{project}: {surv['n_cases'] - surv['n_with_os']} of {surv['n_cases']} patients have no "
                   "overall survival: " + "; ".join(f"{v} {k}" for k, v in dropped.items()))
            logger.warning(msg)
            notes.append(msg)
        logger.info("%s: clinical records for %d of %d patients; risk factors recorded for %d; overall "
                    "survival for %d", project, len(table), len(ids), n_rf, surv.get("n_with_os", 0))

    adata = AnnData(X=np.asarray(counts, dtype=np.float32), obs=obs, var=var)
    if not metadata_only:
        adata.layers["counts"] = counts
        adata.layers["tpm"] = tpm
        adata.var_names_make_unique()
        from ..pp import log2_cpm

        log2_cpm(adata, layer="counts")
    for col in adata.obs.columns:  # text with gaps -> categorical (h5ad-writable)
        if adata.obs[col].dtype == object:
            adata.obs[col] = adata.obs[col].astype("category")
    api_warnings = list(dict.fromkeys(w for q in queries for w in q["warnings"]))
    adata.uns["gdc"] = {
        "project_id": project, "workflow_type": workflow,
        "data_type": "Gene Expression Quantification", "source": "GDC STAR counts",
        "n_files_available": int(n_all), "n_files_loaded": len(files), "metadata_only": bool(metadata_only),
        "base_url": _endpoint("")[0].rstrip("/"), "sort": dict(_SORT),
        "release": release,
        "queries": {f"{q['endpoint']}_{i}": query_uns(q) for i, q in enumerate(queries)},
        "manifest": manifest(files, paths),
        "api_warnings": api_warnings,
        "download": {k: (float(v) if isinstance(v, float) else int(v)) for k, v in dl_report.items()},
        "duplicates": {d["barcode"]: d["aliquots"] for d in dups},
        "var_names": var_names, "clinical": bool(clinical),
        "clinical_expand": CLINICAL_EXPAND if clinical else "",
        "risk_factor_fields": ["follow_ups.other_clinical_attributes.risk_factors",
                               "follow_ups.other_clinical_attributes.comorbidities (liver-relevant only)"]
        if clinical else [],
        "n_patients_with_risk_factors": n_rf,
        "survival": surv, "sex_source": sex_source,
        "sample_type_code_source": {str(k): int(v) for k, v in files["code_source"].value_counts().items()},
        "condition_by_code": dict(CONDITION_BY_CODE),
        "warnings": notes,
    }
    return adata
