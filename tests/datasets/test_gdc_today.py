"""TCGA-LIHC against today's GDC API (issue 19): a strict fake, the CLI, the release, waits, duplicates.

The strict variant of ``tests/gdc_server.py`` answers any field name today's API does not
have (``cases.samples.sample_type_id``, ``demographic.gender`` ...) with HTTP 400, so a
client that still asks for one fails here.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import anndata as ad
import pandas as pd
import pytest

from mgtranscript import settings
from mgtranscript.datasets import gdc
from mgtranscript.datasets._gdc_api import sample_code
from mgtranscript.errors import FetchError


@pytest.fixture
def strict_gdc(cache):
    """The fake GDC refusing unknown fields (HTTP 400), with a second aliquot of one tumour sample."""
    from support.gdc_server import GDCServer

    server = GDCServer(strict_fields=True).start()
    settings.gdc_url = server.url
    settings.backoff = 0.01
    yield server
    server.stop()


def _fetch(argv, capsys):
    from mgtranscript.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(argv)
    return rc, capsys.readouterr()


def test_fetch_tcga_lihc_against_the_strict_api(strict_gdc, tmp_path, capsys):
    out = tmp_path / "lihc.h5ad"
    rc, io = _fetch(["fetch", "TCGA-LIHC", "--out", str(out)], capsys)
    assert rc == 0, io.err
    statuses = [b for m, p, b in strict_gdc.log]
    assert len(statuses) > 3  # it did talk to the server, and no request was refused:
    for name in ("files", "cases"):
        for body in strict_gdc.requests("POST", f"/{name}"):
            assert set(str(body.get("fields", "")).split(",")) - {""} <= strict_gdc.known_fields(name)
    a = ad.read_h5ad(out)
    obs = a.obs
    # labels from the barcode (no sample_type_id today) and pairs
    assert obs["condition"].value_counts().to_dict() == {
        "hcc_tumour": 60, "hcc_nontumour": 12, "hcc_recurrent": 1, "unlabelled": 1}
    assert obs["pair_id"].dropna().nunique() == 12
    assert a.uns["gdc"]["sample_type_code_source"] == {"barcode": 74}
    assert obs["aliquot_barcode"].str.match(r"^TCGA-\w{2}-\w{4}-\d{2}A-\d{2}R-\w{4}-07$").all()
    per = obs[obs["condition"] == "hcc_tumour"].set_index("patient_id")
    truth = strict_gdc.truth
    # etiology: NA where unknown (never False), sex from sex_at_birth, survival with the latest contact
    for pid, t in truth.items():
        if t["kind"] in ("missing", "not_reported", "hypertension_only"):
            assert per.loc[pid, ["etiology_alcohol", "etiology_hbv", "etiology_hcv", "etiology_nafld"]].isna().all()
            assert per.loc[pid, "etiology"] == "unknown"
        assert (per.loc[pid, "sex"] if pd.notna(per.loc[pid, "sex"]) else None) == t["sex"]
        if t["why"] is None:
            assert per.loc[pid, "os_days"] == t["os_days"] and per.loc[pid, "os_event"] == int(t["dead"])
    text = io.out
    assert "TCGA-LIHC: 74 samples" in text and "hcc_tumour 60" in text
    assert "GDC Data Release 45.0" in text and "(API 8.5.0)" in text
    assert "pairs: 12 patients with tumour and normal" in text
    assert ("overall survival: 57 of 60 patients" in text and "1 dead without days_to_death" in text
            and "1 alive without any follow-up day" in text)
    assert "sex (patients): male" in text and "unknown 2" in text


def test_fetch_tcga_options(strict_gdc, tmp_path, capsys):
    rc, io = _fetch(["fetch", "TCGA-LIHC", "--out", str(tmp_path / "c.h5ad"), "--clinical-only"], capsys)
    assert rc == 0, io.err
    a = ad.read_h5ad(tmp_path / "c.h5ad")
    assert a.n_obs == 74 and a.n_vars == 0 and "os_days" in a.obs and a.uns["gdc"]["metadata_only"]
    assert strict_gdc.requests("POST", "/data") == [] and not [p for m, p, _ in strict_gdc.log if "/data" in p]
    rc, io = _fetch(["fetch", "TCGA-LIHC", "--out", str(tmp_path / "m.h5ad"), "--metadata-only"], capsys)
    assert rc == 0 and ad.read_h5ad(tmp_path / "m.h5ad").n_vars == 0  # the same for TCGA
    rc, io = _fetch(["fetch", "TCGA-LIHC", "--out", str(tmp_path / "f.h5ad"), "--max-files", "5",
                     "--workflow", "STAR - Counts"], capsys)
    assert rc == 0 and ad.read_h5ad(tmp_path / "f.h5ad").n_obs == 5
    rc, io = _fetch(["fetch", "TCGA-LIHC", "--out", str(tmp_path / "w.h5ad"), "--workflow", "HTSeq - Counts"], capsys)
    assert rc == 1 and "'HTSeq - Counts'" in io.err and "workflow" in io.err


@pytest.mark.parametrize("argv, words", [
    (["TCGA-LIHC", "--samples", "sheet.csv"], ["--samples: GEO options", "TCGA project", "--clinical-only"]),
    (["TCGA-LIHC", "--platform", "GPL570", "--no-harmonise"], ["--platform, --no-harmonise: GEO options", "them"]),
    (["GSE126848", "--clinical-only"], ["--clinical-only: options for TCGA projects", "GSE126848"]),
    (["GSE126848", "--max-files", "3"], ["--max-files: options for TCGA projects"]),
    (["TCGA-LIHC", "--max-files", "0"], ["--max-files must be a positive number"]),
])
def test_options_of_the_other_kind_of_accession_are_usage_errors(argv, words, tmp_path, capsys, monkeypatch):
    from mgtranscript.fetch import _http as http

    monkeypatch.setattr(http, "request", lambda *a, **k: pytest.fail("contacted a host"))
    rc, io = _fetch(["fetch", *argv, "--out", str(tmp_path / "x.h5ad")], capsys)
    assert rc == 2
    for w in words:
        assert w in io.err, io.err
    assert not (tmp_path / "x.h5ad").exists()


def test_a_busy_gdc_is_waited_out_not_split(gdc_server, monkeypatch):
    from mgtranscript.fetch import _http as http

    waits = []
    monkeypatch.setattr(http, "_sleep", waits.append)
    gdc_server.busy_batches, gdc_server.busy_status, gdc_server.retry_after = 1, 429, "7"
    adata = gdc("TCGA-LIHC", batch_size=20, clinical=False)
    sizes = [b["ids"] for b in gdc_server.requests("POST", "/data")]
    assert [len(s) for s in sizes] == [20, 20, 20, 20, 14] and sizes[0] == sizes[1]  # the same batch again
    assert waits == [7.0]  # as long as Retry-After asked
    assert adata.uns["gdc"]["download"]["n_splits"] == 0 and adata.uns["gdc"]["download"]["n_waits"] == 1
    assert adata.n_obs == 74


def test_a_503_without_retry_after_backs_off_and_one_that_never_ends_is_an_error(gdc_server, monkeypatch):
    from mgtranscript.fetch import _http as http

    waits = []
    monkeypatch.setattr(http, "_sleep", waits.append)
    settings.retries = 3
    gdc_server.busy_batches, gdc_server.busy_status, gdc_server.retry_after = 99, 503, None
    with pytest.raises(FetchError, match=r"kept answering HTTP 503.*3 tries.*call again later"):
        gdc("TCGA-LIHC", batch_size=20, max_files=40, clinical=False)
    sizes = [len(b["ids"]) for b in gdc_server.requests("POST", "/data")]
    assert sizes == [20, 20, 20]  # never split into smaller requests
    assert waits == [0.01, 0.02]  # backoff (MGTRANSCRIPT_BACKOFF=0.01) without Retry-After


def test_api_warnings_are_logged_and_kept(gdc_server, caplog):
    gdc_server.api_warnings = {"facets": "unrecognized values: [foo]"}
    with caplog.at_level(logging.WARNING, logger="mgtranscript.datasets._gdc_api"):
        adata = gdc("TCGA-LIHC", max_files=3)
    assert "GDC /files answered with a warning: facets: unrecognized values: [foo]" in caplog.text
    assert "GDC /cases answered with a warning" in caplog.text
    assert adata.uns["gdc"]["api_warnings"] == ["facets: unrecognized values: [foo]"]
    gdc_server.api_warnings = {}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mgtranscript.datasets._gdc_api"):
        gdc("TCGA-LIHC", max_files=3, refresh=True)
    assert "answered with a warning" not in caplog.text  # "warnings": {} is not a warning


def test_duplicate_aliquots_are_kept_and_reported(cache, caplog):
    from support.gdc_server import GDCServer

    server = GDCServer(duplicate_aliquot=True).start()
    settings.gdc_url = server.url
    try:
        with caplog.at_level(logging.WARNING):
            adata = gdc("TCGA-LIHC", clinical=False)
    finally:
        server.stop()
    assert adata.n_obs == 75 and adata.obs_names.is_unique
    sample = f"{server.patients[0]['patient_id']}-01A"
    both = adata.obs[adata.obs["barcode"] == sample]
    assert len(both) == 2 and list(both.index) == list(both["aliquot_barcode"])  # named by aliquot
    assert sorted(adata.uns["gdc"]["duplicates"][sample]) == sorted(both["aliquot_barcode"])
    assert "1 sample(s) have several expression files (aliquots)" in caplog.text
    assert any("several expression files" in w for w in adata.uns["gdc"]["warnings"])
    # other samples keep their sample barcode as name, with the aliquot beside it
    other = adata.obs[adata.obs["barcode"] != sample]
    assert (other.index == other["barcode"]).all() and other["aliquot_barcode"].notna().all()


def test_the_release_and_the_queries_are_recorded_for_provenance(gdc_server):
    from support.gdc_server import STATUS

    from mgtranscript.pipeline._provenance import inputs_of
    from mgtranscript.fetch import cache_dir, read_meta

    adata = gdc("TCGA-LIHC", max_files=4)
    rel = adata.uns["gdc"]["release"]
    assert rel["data_release"] == STATUS["data_release"] and rel["tag"] == "8.5.0" and len(rel["sha256"]) == 64
    queries = adata.uns["gdc"]["queries"]
    assert [q["endpoint"] for q in queries.values()] == ["files", "cases"]
    assert '"workflow_type"' not in queries["files_0"]["query"] and "STAR - Counts" in queries["files_0"]["query"]
    inputs = inputs_of(adata)
    by = {(f["url"], f.get("query", "")[:20]): f for f in inputs}
    gdc_inputs = [f for f in inputs if f["url"] == "https://api.gdc.cancer.gov/files"]
    assert len(gdc_inputs) == 1 and "cases.project.project_id" in gdc_inputs[0]["query"]
    assert gdc_inputs[0]["bytes"] > 0 and gdc_inputs[0]["source"] == "GDC API (cache)"
    assert any(f.get("data_release") == STATUS["data_release"] for f in inputs)
    data = [f for f in inputs if f["url"].startswith("https://api.gdc.cancer.gov/data/")]
    assert len(data) == 4 and all(len(f["md5sum"]) == 32 for f in data)
    f0 = data[0]
    assert f0["path"].startswith(str(cache_dir())) and f0["sha256"] == read_meta(Path(f0["path"]))["sha256"]
    assert len(by) == len(inputs)
    # reloaded from the cache (offline) it reports the release it was read from
    settings.offline = True
    again = gdc("TCGA-LIHC", max_files=4)
    assert again.uns["gdc"]["release"]["data_release"] == STATUS["data_release"]


def test_a_server_without_status_gives_an_unknown_release_not_an_error(gdc_server):
    gdc_server.no_status = True
    adata = gdc("TCGA-LIHC", max_files=2, clinical=False)
    rel = adata.uns["gdc"]["release"]
    assert rel["data_release"] == "unknown" and "404" in rel["note"]


def test_sample_type_codes_without_sample_type_id(gdc_server):
    assert sample_code("TCGA-2V-A95S-11A", "Primary Tumor") == ("11", "barcode")  # the barcode wins
    assert sample_code("CPT0000870008", "Solid Tissue Normal") == ("11", "sample_type")
    assert sample_code(None, "Metastatic") == ("06", "sample_type")
    assert sample_code("X1", "Something else") == (None, "")
    # a sample whose barcode and sample_type disagree is reported
    f = gdc_server.file_for(gdc_server.barcodes[0])
    f["sample_type"] = "Solid Tissue Normal" if f["code"] == "01" else "Primary Tumor"
    adata = gdc("TCGA-LIHC", max_files=3, clinical=False)
    assert any("disagrees with the GDC's sample_type" in w and f["barcode"] in w
               for w in adata.uns["gdc"]["warnings"])
    assert adata.obs.loc[f["barcode"], "sample_type_code"] == f["code"]
