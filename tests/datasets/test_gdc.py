"""TCGA from the GDC, against a fake GDC API whose answers follow today's real shapes.

``tests/gdc_server.py`` serves a synthetic TCGA-LIHC with the layout of the real GDC
answers in ``../shared/reference/gdc/`` (checked by the first tests here), amended by
the field removals listed there (no ``cases.samples.sample_type_id``, ``sex_at_birth``
instead of ``gender``, follow-up days in ``follow_ups``): ``data.hits``/``pagination``/
``warnings``, ``follow_ups[].other_clinical_attributes[]``, ``diagnoses`` with
``diagnosis_is_primary_disease``, STAR-counts files with the comment line and ``N_``
rows. ``MGTRANSCRIPT_GDC_URL`` points the loader at it (the ``gdc_server`` fixture of
``tests/conftest.py``); ``strict_fields`` makes it refuse unknown fields with HTTP 400.
More GDC tests (CLI, release, waits, duplicates) are in ``test_gdc_today.py``.
"""

from __future__ import annotations

import importlib
import json
import socket
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mgtranscript import settings
from mgtranscript.datasets import load_cohort
from mgtranscript.datasets._gdc import (
    GDCClinicalWarning,
    clinical_table,
    condition_of,
    gdc,
    read_star_counts,
    sample_type_code,
)
from mgtranscript.datasets._gdc_clinical import CLINICAL_EXPAND, etiology_label
from mgtranscript.errors import (
    AccessionNotFound,
    DataFormatError,
    DownloadCorrupt,
    FetchError,
    InputDataError,
    OfflineError,
    UnsafeArchiveError,
)
from mgtranscript.fetch import cache_entries, verify_cache
from mgtranscript.pp import log2_cpm

gdc_api = importlib.import_module("mgtranscript.datasets._gdc_api")

OBS_COLUMNS = [
    "condition", "disease", "sample_type_code", "sample_type", "patient_id", "pair_id", "case_id",
    "etiology_alcohol", "etiology_hbv", "etiology_hcv", "etiology_nafld", "etiology", "alcohol_history",
    "alcohol_intensity", "viral_hepatitis_serology", "primary_diagnosis", "ajcc_pathologic_stage",
    "tumor_grade", "age_at_diagnosis", "sex", "vital_status", "days_to_death",
    "days_to_last_follow_up", "os_days", "os_event", "os_missing_reason", "aliquot_barcode",
]  # fmt: skip
FLAGS = ["etiology_alcohol", "etiology_hbv", "etiology_hcv", "etiology_nafld"]
#: etiology kinds of tests/gdc_server.py -> expected (alcohol, hbv, hcv, nafld, etiology)
KIND = {
    "hbv": (False, True, False, False, "viral"), "hcv": (False, False, True, False, "viral"),
    "alcohol": (True, False, False, False, "alcohol"), "nafld": (False, False, False, True, "NAFLD"),
    "alcohol+hbv": (True, True, False, False, "alcohol+viral"),
    "alcohol+hcv": (True, False, True, False, "alcohol+viral"),
    "none": (False, False, False, False, "other"), "hemochromatosis": (False, False, False, False, "other"),
    "not_reported": (pd.NA, pd.NA, pd.NA, pd.NA, "unknown"), "missing": (pd.NA, pd.NA, pd.NA, pd.NA, "unknown"),
    # liver comorbidities set their flag; without risk factors the others stay unknown
    "alcohol_comorbidity": (True, pd.NA, pd.NA, pd.NA, "alcohol"),
    "hcv_comorbidity": (pd.NA, pd.NA, True, pd.NA, "viral"),
    # a "Hypertension" comorbidity says nothing about the etiology
    "hypertension_only": (pd.NA, pd.NA, pd.NA, pd.NA, "unknown"),
}


@pytest.fixture(scope="module")
def reference(shared_dir):
    ref = shared_dir / "reference" / "gdc"
    if not ref.is_dir():
        pytest.skip(f"{ref} not found")
    return ref


def _pid(server, i: int) -> str:
    return server.patients[i]["patient_id"]


def _same(a, b) -> bool:
    return (a is pd.NA and b is pd.NA) or (a is not pd.NA and b is not pd.NA and a == b)


# ------------------------------------------------------------------ the fake follows the real shapes


def test_fake_gdc_answers_have_the_real_shapes(gdc_server, reference):
    import requests

    from support.gdc_server import REMOVED_FIELDS

    real_files = json.loads((reference / "files_size_from_response.json").read_text())
    real_cases = json.loads((reference / "cases_two_diagnoses_response.json").read_text())
    real_sample = json.loads((reference / "files_expand_cases_samples_response.json").read_text())
    body = {"filters": {"op": "and", "content": [
        {"op": "in", "content": {"field": "cases.project.project_id", "value": ["TCGA-LIHC"]}}]},
        "fields": "file_name,cases.samples.sample_type,cases.samples.submitter_id,cases.samples.tissue_type",
        "size": 2, "from": 0}
    ours = requests.post(gdc_server.url + "/files", json=body, timeout=10).json()
    assert set(ours) == set(real_files) == {"data", "warnings"}
    assert set(ours["data"]) == set(real_files["data"])
    assert set(ours["data"]["pagination"]) == set(real_files["data"]["pagination"])
    assert set(ours["data"]["hits"][0]) == set(real_files["data"]["hits"][0]) | {"cases"}
    real_s = real_sample["data"]["cases"][0]["samples"][0]
    our_s = ours["data"]["hits"][0]["cases"][0]["samples"][0]
    assert set(our_s) <= set(real_s) and {"sample_type", "submitter_id"} <= set(our_s)
    # the 2022 excerpt still has sample_type_id; today's API (8.3.0) no longer serves it
    assert real_s["sample_type_id"] == "10" and "cases.samples.sample_type_id" in REMOVED_FIELDS
    asked = requests.post(gdc_server.url + "/files", json={**body, "fields": body["fields"]
                                                            + ",cases.samples.sample_type_id"}, timeout=10).json()
    assert "sample_type_id" not in asked["data"]["hits"][0]["cases"][0]["samples"][0]
    assert "sample_type_id" in asked["warnings"]["fields"]  # ignored, with a warning
    gdc_server.strict_fields = True  # the strict variant refuses it
    assert requests.post(gdc_server.url + "/files", json={**body, "fields": "cases.samples.sample_type_id"},
                         timeout=10).status_code == 400
    gdc_server.strict_fields = False

    cases = requests.post(gdc_server.url + "/cases", json={
        "filters": {"op": "in", "content": {"field": "submitter_id", "value": [_pid(gdc_server, 1)]}},
        "expand": "diagnoses,demographic"}, timeout=10).json()
    real_d, our_d = real_cases["data"]["hits"][0]["diagnoses"], cases["data"]["hits"][0]["diagnoses"]
    assert [d["diagnosis_is_primary_disease"] for d in our_d] == [d["diagnosis_is_primary_disease"]
                                                                   for d in real_d] == [False, True]
    assert our_d[0]["primary_diagnosis"] == real_d[0]["primary_diagnosis"] == "Not Reported"
    keys = {"ajcc_pathologic_stage", "age_at_diagnosis", "days_to_last_follow_up", "primary_diagnosis",
            "classification_of_tumor", "diagnosis_is_primary_disease"}
    assert keys <= set(real_d[1]) and keys <= set(our_d[1])
    assert not {"vital_status", "days_to_death"} & set(our_d[1])  # removed from diagnoses
    demo = cases["data"]["hits"][0]["demographic"]
    assert "sex_at_birth" in demo and "gender" not in demo  # Data Dictionary 4.0.3 / API 8.5.0
    # there is no top-level other_clinical_attributes expand group
    bad = requests.post(gdc_server.url + "/cases", json={"expand": "other_clinical_attributes"}, timeout=10)
    assert bad.status_code == 400
    status = requests.get(gdc_server.url + "/status", timeout=10).json()
    assert {"data_release", "tag", "commit", "status"} <= set(status)


def test_fake_star_files_have_the_real_layout(gdc_server, reference):
    real = (reference / "star_counts_excerpt_A.rna_seq.augmented_star_gene_counts.tsv").read_text().splitlines()
    ours = next(iter(gdc_server.files.values()))["data"].decode().splitlines()
    assert ours[0].startswith("# gene-model: GENCODE v") and real[0].startswith("# gene-model: GENCODE v")
    assert ours[1] == real[1]  # identical header
    for r, o in zip(real[2:6], ours[2:6]):  # the four N_ rows: empty name/type/tpm/fpkm cells
        rc, oc = r.split("\t"), o.split("\t")
        assert rc[0] == oc[0] and len(rc) == len(oc) == 9
        assert [c == "" for c in rc] == [c == "" for c in oc]
    assert any(line.split("\t")[0].endswith("_PAR_Y") for line in ours)


def test_read_star_counts_on_real_excerpts(reference):
    a = read_star_counts(reference / "star_counts_excerpt_A.rna_seq.augmented_star_gene_counts.tsv")
    assert list(a["gene_name"]) == ["TSPAN6", "TNMD", "DPM1"] and list(a["unstranded"]) == [3231, 0, 1083]
    b = read_star_counts(reference / "star_counts_excerpt_B_from_header_line.tsv")  # no comment line
    assert len(b) == 5 and b.loc[4, "gene_id"] == "ENSG00000000460.17"


def test_clinical_table_on_the_real_two_diagnoses_answer(reference):
    cases = json.loads((reference / "cases_two_diagnoses_response.json").read_text())["data"]["hits"]
    cases[0]["submitter_id"] = "HCM-BROD-0871-C49"
    with pytest.warns(GDCClinicalWarning, match="risk-factor field"):
        row = clinical_table(cases).iloc[0]
    assert row["primary_diagnosis"] == "Leiomyosarcoma, NOS"  # diagnoses[1], the primary one
    assert row["ajcc_pathologic_stage"] == "Stage III"
    assert row["age_at_diagnosis"] == pytest.approx(22167 / 365.25)
    assert row["days_to_last_follow_up"] == 3065.0
    assert row["etiology"] == "unknown" and row["etiology_hbv"] is pd.NA


# ------------------------------------------------------------------ loading


def test_gdc_loads_counts_labels_and_log2_cpm(gdc_server):
    adata = gdc("TCGA-LIHC", batch_size=20)
    assert adata.n_obs == len(gdc_server.files) == 74
    for col in OBS_COLUMNS:
        assert col in adata.obs.columns, col
    # var: GENCODE names; the _PAR_Y copy summed into CD99; Ensembl ids kept
    assert {"SLC41A3", "CNNM4", "TRPM7", "SLC41A1", "MAGT1", "MRS2", "PTP4A3", "KLRK1", "PTPRC"} <= set(adata.var_names)
    assert adata.var.loc["CD99", "gene_id"] == "ENSG00000002586.20|ENSG00000002586.20_PAR_Y"
    assert adata.var.loc["SLC41A3", "ensembl"] == "ENSG00000114544"
    f = gdc_server.file_for(f"{_pid(gdc_server, 0)}-01A")
    names = [g[1] for g in gdc_server.genes]
    j = names.index("SLC41A3")
    assert adata[f["barcode"], "SLC41A3"].layers["counts"].item() == f["counts"][j]
    # X is TMM log2 CPM of the counts by the package's normaliser (as the GEO loaders)
    ref = ad.AnnData(X=adata.layers["counts"].astype(float))
    ref.layers["counts"] = adata.layers["counts"]
    log2_cpm(ref)
    np.testing.assert_allclose(adata.X, ref.X, rtol=1e-5)
    assert adata.uns["mgtranscript"]["scale"]["norm"] == "TMM"
    # sample types: 01 / 11 / 02 / 10
    obs = adata.obs
    assert obs["condition"].value_counts().to_dict() == {
        "hcc_tumour": 60, "hcc_nontumour": 12, "hcc_recurrent": 1, "unlabelled": 1}
    blood = obs[obs["sample_type_code"] == "10"].iloc[0]
    assert blood["condition"] == "unlabelled" and blood["sample_type"] == "Blood Derived Normal"
    assert pd.isna(blood["pair_id"])
    rec = obs[obs["sample_type_code"] == "02"].iloc[0]
    assert rec["condition"] == "hcc_recurrent" and pd.isna(rec["pair_id"])
    assert obs["pair_id"].dropna().nunique() == 12 and obs["pair_id"].notna().sum() == 24
    assert set(obs.loc[obs["pair_id"].notna(), "sample_type_code"]) == {"01", "11"}
    assert obs["patient_id"].str.len().eq(12).all()
    assert obs.loc[f["barcode"], "case_id"] == gdc_server.patients[0]["case_id"]
    assert (obs.loc[obs["condition"] != "unlabelled", "disease"] == "HCC").all()


def test_load_cohort_keeps_the_labels_and_warns_about_the_blood_normal(gdc_server):
    with pytest.warns(UserWarning, match=r"1 of 74 samples match no label rule.*Blood Derived Normal"):
        adata = load_cohort("TCGA-LIHC")
    obs = adata.obs
    assert obs["condition"].value_counts().to_dict() == {
        "hcc_tumour": 60, "hcc_nontumour": 12, "hcc_recurrent": 1, "unlabelled": 1}
    assert "condition_source" not in obs and "pair_id_source" not in obs  # catalog agrees with the loader
    assert obs["pair_id"].dropna().nunique() == 12
    assert adata.uns["labels"]["reference"] == "hcc_nontumour"


def test_clinical_columns_follow_the_real_layout(gdc_server):
    adata = gdc("TCGA-LIHC")
    obs = adata.obs
    per = obs[obs["sample_type_code"] == "01"].set_index("patient_id")
    p = [_pid(gdc_server, i) for i in range(26)]
    # 0: HBV patient who drinks socially: viral, not alcohol-related
    assert per.loc[p[0], "etiology"] == "viral" and not per.loc[p[0], "etiology_alcohol"]
    assert per.loc[p[0], "alcohol_history"] == "Yes" and per.loc[p[0], "alcohol_intensity"] == "Occasional Drinker"
    # 1: diagnoses[0] is a metastasis record; the primary one gives diagnosis, stage, grade
    assert per.loc[p[1], "primary_diagnosis"] == "Hepatocellular carcinoma, NOS"
    assert per.loc[p[1], "ajcc_pathologic_stage"] == "Stage II" and per.loc[p[1], "tumor_grade"] == "G3"
    # 2: deprecated lower-case "yes"
    assert per.loc[p[2], "alcohol_history"] == "Yes" and per.loc[p[2], "etiology"] == "alcohol"
    # 3: ["Not Reported"] with risk_factor_treatment "No": unknown, not "no risk factor"
    assert all(per.loc[p[3], f] is pd.NA for f in FLAGS) and per.loc[p[3], "etiology"] == "unknown"
    # 4: risk factors on a later follow-up
    assert per.loc[p[4], "etiology_hcv"] == True  # noqa: E712 - nullable boolean
    # 5: "None" recorded: known absence of the four
    assert [per.loc[p[5], f] for f in FLAGS] == [False] * 4 and per.loc[p[5], "etiology"] == "other"
    assert per.loc[p[6], "etiology"] == "alcohol+viral"
    assert per.loc[p[7], "etiology"] == "NAFLD"
    assert per.loc[p[7], "viral_hepatitis_serology"] == "Hepatitis B Surface Antigen; Hepatitis C Antibody"
    # 8: "Alcoholic Liver Disease" as a comorbidity (beside "Hypertension"), risk factors not reported
    assert per.loc[p[8], "etiology_alcohol"] == True  # noqa: E712
    assert per.loc[p[8], "etiology_hbv"] is pd.NA and per.loc[p[8], "risk_factors"] == "Alcoholic Liver Disease"
    assert per.loc[p[9], "etiology"] == "unknown"  # no follow-ups at all
    # 22: only "Hypertension"/"Diabetes" comorbidities: the four flags stay NA, not False
    assert all(per.loc[p[22], f] is pd.NA for f in FLAGS) and per.loc[p[22], "etiology"] == "unknown"
    assert per.loc[p[23], "etiology_hcv"] == True and per.loc[p[23], "etiology_alcohol"] is pd.NA  # noqa: E712
    # survival: a case without overall survival says why
    assert pd.isna(per.loc[p[10], "os_days"]) and per.loc[p[10], "os_event"] is pd.NA
    assert per.loc[p[10], "os_missing_reason"] == "vital status not reported"
    assert per.loc[p[20], "os_missing_reason"] == "dead without days_to_death"
    assert per.loc[p[21], "os_missing_reason"] == "alive without any follow-up day"
    assert per.loc[p[24], "sex"] is None or pd.isna(per.loc[p[24], "sex"])  # sex_at_birth "not reported"
    # every patient against the server's truth
    for pid, truth in gdc_server.truth.items():
        *flags, label = KIND[truth["kind"]]
        got = [per.loc[pid, f] for f in FLAGS]
        assert all(_same(g, e) for g, e in zip(got, flags)), (pid, truth["kind"], got)
        assert per.loc[pid, "etiology"] == label
        if truth["why"] is None:
            assert per.loc[pid, "os_days"] == truth["os_days"], pid  # the latest of diagnosis and follow-ups
            assert per.loc[pid, "os_event"] == int(truth["dead"])
            assert per.loc[pid, "vital_status"] == ("Dead" if truth["dead"] else "Alive")
            assert pd.isna(per.loc[pid, "os_missing_reason"])
        else:
            assert pd.isna(per.loc[pid, "os_days"]) and per.loc[pid, "os_missing_reason"] == truth["why"]
        assert _same(per.loc[pid, "sex"] if pd.notna(per.loc[pid, "sex"]) else pd.NA,
                     truth["sex"] if truth["sex"] else pd.NA)
        stage = truth["stage"]
        assert _same(per.loc[pid, "ajcc_pathologic_stage"] if pd.notna(per.loc[pid, "ajcc_pathologic_stage"])
                     else pd.NA, pd.NA if stage == "Not Reported" else stage)
    assert str(obs["etiology_hbv"].dtype) == "boolean" and str(obs["os_event"].dtype) == "Int64"
    assert obs["age_at_diagnosis"].between(30, 90).all()
    assert set(obs["tumor_grade"].dropna()) <= {"G1", "G2", "G3", "G4"}
    assert set(obs["sex"].dropna()) == {"male", "female"}
    # the latest contact comes from follow_ups for some patients and the diagnosis for others
    surv = adata.uns["gdc"]["survival"]
    assert surv["dropped"] == {"dead without days_to_death": 1, "alive without any follow-up day": 1,
                               "vital status not reported": 1, "negative follow-up or death time": 0}
    assert surv["n_cases"] == 60 and surv["n_with_os"] == 57
    assert 0 < surv["n_last_contact_from_follow_ups"] < 57
    assert adata.uns["gdc"]["sex_source"] == {"demographic.sex_at_birth": 58}
    # the normal of a patient carries the patient's clinical data too
    nor = obs[obs["sample_type_code"] == "11"].iloc[0]
    assert nor["etiology"] == per.loc[nor["patient_id"], "etiology"]


def test_gdc_api_requests(gdc_server):
    from support.gdc_server import REMOVED_FIELDS

    gdc("TCGA-LIHC", batch_size=30)
    q = gdc_server.requests("POST", "/files")[0]
    assert q["sort"] == "file_id:asc"
    fields = set(q["fields"].split(","))
    assert {"file_id", "file_name", "md5sum", "file_size", "cases.samples.submitter_id",
            "cases.samples.sample_type", "cases.samples.portions.analytes.aliquots.submitter_id"} <= fields
    assert fields <= gdc_server.known_fields("files")  # only fields today's API has
    assert not fields & set(REMOVED_FIELDS)
    conds = {c["content"]["field"]: c["content"]["value"] for c in q["filters"]["content"]}
    assert conds["files.data_type"] == ["Gene Expression Quantification"]
    assert conds["files.analysis.workflow_type"] == ["STAR - Counts"]
    cq = gdc_server.requests("POST", "/cases")
    assert len(cq) == 1 and cq[0]["sort"] == "submitter_id:asc"
    assert cq[0]["expand"] == CLINICAL_EXPAND
    assert "follow_ups.other_clinical_attributes" in cq[0]["expand"].split(",")
    assert "other_clinical_attributes" not in cq[0]["expand"].split(",")
    # 74 files in batches of 30: three archives, nothing asked twice
    assert [len(b["ids"]) for b in gdc_server.requests("POST", "/data")] == [30, 30, 14]
    assert [p for m, p, _ in gdc_server.log if m == "GET"] == ["/status"]  # the data release, once


# ------------------------------------------------------------------ paging


def test_paging_is_sorted_and_complete_when_unsorted_pages_would_shuffle(gdc_server, monkeypatch):
    import requests

    monkeypatch.setattr(gdc_api, "PAGE_SIZE", 9)
    body = {"filters": {"op": "in", "content": {"field": "cases.project.project_id", "value": ["TCGA-LIHC"]}},
            "fields": "file_id", "size": 9}
    seen = [h["file_id"] for k in range(0, 74, 9)
            for h in requests.post(gdc_server.url + "/files", json={**body, "from": k}, timeout=10)
            .json()["data"]["hits"]]
    assert len(set(seen)) < 74  # without sort, pages overlap and miss files
    adata = gdc("TCGA-LIHC", clinical=False, batch_size=50)
    assert adata.obs["file_id"].nunique() == adata.n_obs == 74
    pages = gdc_server.requests("POST", "/files")[-9:]
    assert [b["from"] for b in pages] == list(range(0, 74, 9)) and {b["sort"] for b in pages} == {"file_id:asc"}


def test_a_server_ignoring_sort_is_caught_after_one_retry(gdc_server, monkeypatch):
    gdc_server.ignore_sort = True
    monkeypatch.setattr(gdc_api, "PAGE_SIZE", 9)
    with pytest.raises(DataFormatError, match=r"pagination.total = 74"):
        gdc("TCGA-LIHC", clinical=False)
    assert len(gdc_server.requests("POST", "/files")) == 2 * 9  # the listing, asked twice
    assert gdc_server.requests("POST", "/data") == []


def test_max_files(gdc_server):
    adata = gdc("TCGA-LIHC", max_files=5, clinical=False)
    assert adata.n_obs == 5 and adata.uns["gdc"]["n_files_available"] == 74
    assert list(adata.obs_names) == gdc_server.barcodes[:5]


# ------------------------------------------------------------------ downloads


def _no_stray(cache) -> None:
    assert verify_cache() == []
    listed = {r["path"] for r in cache_entries()}
    for p in cache.rglob("*"):
        rel = p.relative_to(cache).as_posix()
        if p.is_file() and not rel.startswith((".partial/", ".meta/")):
            assert rel in listed
    assert not any("batch" in r for r in listed)  # archives are not kept


@pytest.mark.parametrize("mode", ["truncate", "500", "drop"])
def test_a_batch_that_fails_once_is_split_and_the_load_completes(gdc_server, cache, mode):
    gdc_server.fail_batches, gdc_server.fail_mode = 1, mode
    adata = gdc("TCGA-LIHC", batch_size=20, clinical=False)
    assert adata.n_obs == 74
    sizes = [len(b["ids"]) for b in gdc_server.requests("POST", "/data")]
    assert sizes[:3] == [20, 10, 10]  # the failed batch was asked again in halves, not as is
    assert sum(sizes) - 20 == 74 and adata.uns["gdc"]["download"]["n_splits"] == 1
    _no_stray(cache)


def test_batches_that_keep_failing_go_down_to_single_files(gdc_server, cache):
    gdc_server.max_batch_ids = 3  # larger archives always fail (like an over-large batch)
    adata = gdc("TCGA-LIHC", batch_size=12, max_files=12, clinical=False)
    assert adata.n_obs == 12
    sizes = [len(b["ids"]) for b in gdc_server.requests("POST", "/data")]
    assert sizes == [12, 6, 3, 3, 6, 3, 3]
    _no_stray(cache)


def test_md5_mismatch_is_refused_the_others_are_kept(gdc_server, cache):
    bad = sorted(gdc_server.files, key=lambda f: gdc_server.files[f]["barcode"])[1]
    gdc_server.corrupt.add(bad)
    with pytest.raises(DownloadCorrupt, match=bad):
        gdc("TCGA-LIHC", batch_size=4, max_files=8, clinical=False)
    rels = {r["path"] for r in cache_entries()}
    assert not any(bad in r for r in rels)
    assert sum("/data/" in r for r in rels) == 7  # the intact ones are cached
    assert len(gdc_server.requests("GET", f"/data/{bad}")) == 3  # bounded verified retries
    _no_stray(cache)
    gdc_server.corrupt.clear()
    n = len(gdc_server.log)
    assert gdc("TCGA-LIHC", batch_size=4, max_files=8, clinical=False).n_obs == 8
    assert [p for m, p, _ in gdc_server.log[n:] if "/data" in p] == [f"/data/{bad}"]  # only the missing one


def test_tar_with_dotdot_member_is_refused(gdc_server, cache, tmp_path):
    gdc_server.extra_members = [("../../../evil.txt", b"pwned")]
    with pytest.raises(UnsafeArchiveError, match="outside"):
        gdc("TCGA-LIHC", batch_size=5, max_files=5, clinical=False)
    assert not list(tmp_path.rglob("evil.txt"))
    assert not any("/data/" in r["path"] for r in cache_entries())
    _no_stray(cache)


def test_cached_cohort_reloads_offline(gdc_server):
    a = gdc("TCGA-LIHC", batch_size=40)
    n = len(gdc_server.log)
    settings.offline = True
    b = gdc("TCGA-LIHC", batch_size=40)
    assert len(gdc_server.log) == n
    np.testing.assert_array_equal(a.layers["counts"], b.layers["counts"])
    pd.testing.assert_frame_equal(a.obs, b.obs)


def test_offline_without_cache_names_what_is_missing(gdc_server):
    settings.offline = True
    with pytest.raises(OfflineError, match="api.gdc.cancer.gov/files"):
        gdc("TCGA-LIHC")
    assert gdc_server.log == []


def test_a_file_mirror_does_not_hijack_the_gdc_url(gdc_server, tmp_path):
    """With a file mirror for GEO and ``settings.gdc_url`` for the GDC, single files come from the GDC."""
    settings.mirror = tmp_path / "mirror"
    adata = gdc("TCGA-LIHC", batch_size=1, max_files=3, clinical=False)
    assert adata.n_obs == 3 and len(gdc_server.requests("GET", "/data/" + adata.obs["file_id"].iloc[0])) == 1


def test_with_a_mirror_and_no_gdc_tcga_is_unavailable_in_one_line(cache, tmp_path):
    settings.mirror = tmp_path / "mirror"
    settings.gdc_url = None
    with pytest.raises(OfflineError) as info:
        load_cohort("TCGA-LIHC")
    assert str(info.value).splitlines()[0] == (
        "TCGA-LIHC needs the GDC API (api.gdc.cancer.gov), which a mirror cannot serve; set "
        "MGTRANSCRIPT_GDC_URL or unset MGTRANSCRIPT_MIRROR.")
    assert isinstance(info.value, FetchError)


def test_unreachable_gdc_is_a_fetch_error(cache):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.gdc_url = f"http://127.0.0.1:{port}"
    settings.retries = 2
    settings.backoff = 0.01
    with pytest.raises(FetchError, match=f"127.0.0.1:{port}/files"):
        gdc("TCGA-LIHC")


# ------------------------------------------------------------------ clinical fallbacks


def test_nested_expand_refused_falls_back_to_named_fields(gdc_server):
    from support.gdc_server import REMOVED_FIELDS

    gdc_server.reject_nested_expand = True
    gdc_server.strict_fields = True  # the named fields are all fields today's API has
    obs = gdc("TCGA-LIHC", max_files=10).obs
    cq = gdc_server.requests("POST", "/cases")
    assert len(cq) == 2 and "expand" not in cq[1]
    fields = set(cq[1]["fields"].split(","))
    assert "follow_ups.other_clinical_attributes.risk_factors" in fields and "demographic.sex_at_birth" in fields
    assert not fields & {f.removeprefix("cases.") for f in REMOVED_FIELDS}
    per = obs.drop_duplicates("patient_id").set_index("patient_id")
    assert per["etiology"].ne("unknown").sum() >= 5  # risk factors still read
    assert per["os_days"].notna().sum() >= 5 and per["sex"].notna().all()


def test_no_risk_factor_fields_at_all_is_said_loudly(gdc_server):
    gdc_server.drop_risk_factors = True
    with pytest.warns(GDCClinicalWarning, match="none of 60 GDC case records carries a risk-factor field"):
        obs = gdc("TCGA-LIHC").obs
    assert (obs["etiology"] == "unknown").all() and obs["etiology_hbv"].isna().all()


def test_without_clinical_no_cases_are_asked(gdc_server):
    obs = gdc("TCGA-LIHC", clinical=False, max_files=3).obs
    assert gdc_server.requests("POST", "/cases") == []
    assert "etiology" not in obs and obs["condition"].notna().all()


def test_result_round_trips_through_h5ad(gdc_server, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = load_cohort("TCGA-LIHC")
    out = tmp_path / "lihc.h5ad"
    adata.write_h5ad(out)
    back = ad.read_h5ad(out)
    pd.testing.assert_frame_equal(back.obs, adata.obs)
    assert str(back.obs["etiology_alcohol"].dtype) == "boolean" and str(back.obs["os_event"].dtype) == "Int64"
    np.testing.assert_array_equal(back.layers["counts"], adata.layers["counts"])


def test_cli_fetch_tcga(gdc_server, tmp_path, capsys):
    from mgtranscript.cli import main

    out = tmp_path / "t.h5ad"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["fetch", "TCGA-LIHC", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "TCGA-LIHC: 74 samples" in text and "hcc_tumour 60" in text
    a = ad.read_h5ad(out)
    assert a.obs["condition"].value_counts()["hcc_nontumour"] == 12
    assert {"etiology", "etiology_hbv", "primary_diagnosis", "ajcc_pathologic_stage", "os_days",
            "os_event"} <= set(a.obs.columns)
    assert a.obs["etiology_hbv"].isna().any() and a.obs["etiology_hbv"].notna().any()


# ------------------------------------------------------------------ units


def test_sample_type_codes_and_conditions():
    assert sample_type_code("TCGA-2V-A95S-01A") == "01"
    assert sample_type_code("TCGA-2V-A95S-11A-11R-A37K-07") == "11"
    assert sample_type_code("GSM123") is None
    assert [condition_of(c) for c in ("01", "11", "02", "06", "10", "12", "14", None)] == [
        "hcc_tumour", "hcc_nontumour", "hcc_recurrent"] + ["unlabelled"] * 5


def test_risk_factors_only_from_risk_factor_fields():
    cases = [
        {"submitter_id": "A", "follow_ups": [{"other_clinical_attributes": [
            {"risk_factors": ["Not Reported"], "risk_factor_treatment": "No",
             "risk_factor_method_of_diagnosis": "Clinical Assessment",
             "comorbidity_method_of_diagnosis": "Histology"}]}]},
        {"submitter_id": "B", "exposures": [{"alcohol_history": "yes"}],
         "follow_ups": [{"other_clinical_attributes": [{"risk_factors": ["Hepatitis B Infection"]}]}]},
        {"submitter_id": "C", "exposures": [{"alcohol_history": "No"}]},
        {"submitter_id": "D", "other_clinical_attributes": [{"comorbidities": ["Nonalcoholic Steatohepatitis"]}]},
        {"submitter_id": "E", "follow_ups": [{"other_clinical_attributes": [
            {"comorbidities": ["Hypertension"], "risk_factors": ["Not Reported"]}]}]},
        {"submitter_id": "F", "follow_ups": [{"other_clinical_attributes": [
            {"comorbidities": ["Hypertension", "Hepatitis B Infection"], "risk_factors": ["None"]}]}]},
    ]
    t = clinical_table(cases)
    assert all(t.loc["A", f] is pd.NA for f in FLAGS) and t.loc["A", "etiology"] == "unknown"
    assert t.loc["B", "etiology"] == "viral" and t.loc["B", "alcohol_history"] == "Yes"
    assert not t.loc["B", "etiology_alcohol"]  # drinking is not an etiology
    assert t.loc["C", "etiology"] == "unknown" and t.loc["C", "etiology_alcohol"] is pd.NA
    # a liver comorbidity names its etiology; without risk factors the others stay unknown
    assert t.loc["D", "etiology"] == "NAFLD" and t.loc["D", "etiology_alcohol"] is pd.NA
    # "Hypertension" is not a liver comorbidity: the flags stay NA, never False
    assert all(t.loc["E", f] is pd.NA for f in FLAGS) and t.loc["E", "etiology"] == "unknown"
    assert t.loc["F", "etiology"] == "viral" and t.loc["F", "etiology_hcv"] == False  # noqa: E712
    assert t.loc["F", "risk_factors"] == "None; Hepatitis B Infection"
    assert etiology_label(True, pd.NA, True, True) == "alcohol+viral+NAFLD"


def test_an_older_cached_answer_is_still_read():
    """Answers cached before API 8.3.0/8.5.0 carry removed fields; they are read, never asked for."""
    cases = [{"submitter_id": "OLD", "demographic": {"gender": "female", "vital_status": "Dead"},
              "diagnoses": [{"diagnosis_is_primary_disease": True, "days_to_death": 812,
                             "days_to_last_follow_up": 700}],
              "follow_ups": [{"risk_factor": "Hepatitis C Infection", "days_to_follow_up": 790}]},
             {"submitter_id": "NEW", "demographic": {"sex_at_birth": "Female", "gender": "male",
                                                     "vital_status": "Alive"},
              "diagnoses": [{"days_to_last_follow_up": 300}],
              "follow_ups": [{"days_to_follow_up": 455}, {"days_to_follow_up": 120}]}]
    t = clinical_table(cases, warn=False)
    assert t.loc["OLD", "sex"] == "female" and t.loc["OLD", "etiology_hcv"] == True  # noqa: E712
    assert t.loc["OLD", "os_days"] == 812 and t.loc["OLD", "os_event"] == 1
    assert t.loc["NEW", "sex"] == "female"  # sex_at_birth wins over the deprecated gender
    assert t.loc["NEW", "days_to_last_follow_up"] == 455 and t.loc["NEW", "os_event"] == 0
    assert t.attrs["sex_source"] == {"demographic.gender": 1, "demographic.sex_at_birth": 1}


def test_bad_arguments_and_unknown_project(gdc_server):
    with pytest.raises(AccessionNotFound, match="TCGA-XXXX"):
        gdc("TCGA-XXXX")
    with pytest.raises(InputDataError):
        gdc("not a project")
    with pytest.raises(InputDataError):
        gdc("TCGA-LIHC", batch_size=0)
    with pytest.raises(InputDataError, match="var_names"):
        gdc("TCGA-LIHC", var_names="symbol")


def test_gdc_with_a_mirror_fails_at_once_naming_the_fix(tmp_path, monkeypatch):
    """A mirror laid out by URL cannot answer GDC API queries: say so without retrying."""
    from mgtranscript.datasets import gdc
    from mgtranscript.errors import OfflineError
    from mgtranscript.fetch import _http as http

    sent = []
    monkeypatch.setattr(http, "request", lambda *a, **k: sent.append(a) or pytest.fail("contacted a host"))
    monkeypatch.setattr(http, "_sleep", lambda s: pytest.fail(f"waited {s} s before failing"))
    settings.update(mirror=tmp_path / "mirror", cache_dir=tmp_path / "cache", gdc_url=None, offline=False)
    with pytest.raises(OfflineError, match="MGTRANSCRIPT_GDC_URL"):
        gdc("TCGA-LIHC")
    assert sent == []  # decided at once, without a request or a retry
