"""TCGA from the GDC, against a local fake GDC API serving small generated STAR files.

The fake follows the GDC API: ``POST /files`` (filters, fields, size/from
pagination), ``POST /data`` (one id: the file; several: a tar.gz of
``<file_id>/<file_name>`` members plus ``MANIFEST.txt``), ``GET /data/<id>``, and
``POST /cases`` (expand). ``MGTRANSCRIPT_GDC_URL`` points the code at it.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mgtranscript.datasets.gdc import gdc, read_star_counts, risk_factor_table, sample_type_code
from mgtranscript.errors import (
    AccessionNotFound,
    DataFormatError,
    DownloadCorrupt,
    InputDataError,
    OfflineError,
    UnsafeArchiveError,
)
from mgtranscript.fetch import cache_entries, verify_cache
from mgtranscript.pp import log2_cpm

# the module, whatever mgtranscript.datasets.gdc is bound to (the package exposes the function)
gdc_mod = importlib.import_module("mgtranscript.datasets.gdc")

GENES = [
    ("ENSG00000000003.15", "TSPAN6", "protein_coding"),
    ("ENSG00000000005.6", "TNMD", "protein_coding"),
    ("ENSG00000002586.20", "CD99", "protein_coding"),
    ("ENSG00000002586.20_PAR_Y", "CD99", "protein_coding"),
    ("ENSG00000163399.16", "ATP1A1", "protein_coding"),
    ("ENSG00000223972.5", "DDX11L1", "transcribed_unprocessed_pseudogene"),
]
HEADER = ["gene_id", "gene_name", "gene_type", "unstranded", "stranded_first", "stranded_second",
          "tpm_unstranded", "fpkm_unstranded", "fpkm_uq_unstranded"]
SAMPLES = [  # (case, sample barcode, GDC sample_type)
    ("TCGA-AA-0001", "TCGA-AA-0001-01A", "Primary Tumor"),
    ("TCGA-AA-0001", "TCGA-AA-0001-11A", "Solid Tissue Normal"),
    ("TCGA-AA-0002", "TCGA-AA-0002-01A", "Primary Tumor"),
    ("TCGA-AA-0003", "TCGA-AA-0003-02A", "Recurrent Tumor"),
    ("TCGA-AA-0004", "TCGA-AA-0004-01A", "Primary Tumor"),
]
CASES = [
    {"submitter_id": "TCGA-AA-0001", "case_id": "uuid-1",
     "exposures": [{"alcohol_history": "Yes", "alcohol_intensity": "Not Reported"}],
     "diagnoses": [{"primary_diagnosis": "Hepatocellular carcinoma, NOS",
                    "ajcc_pathologic_stage": "Stage II"}],
     "follow_ups": [{"risk_factor": "Hepatitis B Infection"}, {"risk_factor": None}]},
    {"submitter_id": "TCGA-AA-0002", "case_id": "uuid-2",
     "exposures": [{"alcohol_history": "Not Reported"}],
     "follow_ups": [{"other_clinical_attributes": [
         {"risk_factors": ["Hepatitis C Infection", "Nonalcoholic Fatty Liver Disease"]}]}]},
    {"submitter_id": "TCGA-AA-0003", "case_id": "uuid-3", "exposures": [{"alcohol_history": "No"}]},
    {"submitter_id": "TCGA-AA-0004", "case_id": "uuid-4"},
]


def star_file(counts: np.ndarray, tpm: np.ndarray) -> bytes:
    lines = ["# gene-model: GENCODE v36", "\t".join(HEADER)]
    for name, n in (("N_unmapped", 1234), ("N_multimapping", 567), ("N_noFeature", 89),
                    ("N_ambiguous", 10)):
        lines.append(f"{name}\t\t\t{n}\t{n}\t{n}\t\t\t")
    for (gid, sym, typ), c, t in zip(GENES, counts, tpm):
        lines.append(f"{gid}\t{sym}\t{typ}\t{c}\t{c // 2}\t{c - c // 2}\t{t:.4f}\t{t / 2:.4f}\t{t / 3:.4f}")
    return ("\n".join(lines) + "\n").encode()


class FakeGDC:
    """A tiny GDC API. ``log`` holds (method, path, parsed JSON body)."""

    def __init__(self, n_genes_ok: bool = True) -> None:
        rng = np.random.default_rng(7)
        self.files: dict[str, dict] = {}
        for i, (case, barcode, stype) in enumerate(SAMPLES):
            counts = rng.integers(0, 5000, size=len(GENES))
            tpm = rng.random(len(GENES)) * 100
            fid = f"{i:08d}-aaaa-bbbb-cccc-{i:012d}"
            data = star_file(counts, tpm)
            self.files[fid] = {
                "name": f"{fid[:8]}.rna_seq.augmented_star_gene_counts.tsv", "data": data,
                "counts": counts, "tpm": tpm, "case": case, "barcode": barcode, "stype": stype,
            }
        self.cases = CASES
        self.log: list[tuple[str, str, object]] = []
        self.corrupt: set[str] = set()  # file ids served with damaged bytes
        self.extra_members: list[tuple[str, bytes]] = []  # added to every tar
        self.reject_nested_expand = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, status, payload: bytes, ctype="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):  # noqa: N802
                fake.log.append(("GET", self.path, None))
                if self.path.startswith("/data/"):
                    fid = self.path.split("/")[2]
                    if fid in fake.files:
                        return self._send(200, fake._bytes(fid), "text/tab-separated-values")
                self._send(404, b'{"message": "not found"}')

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                fake.log.append(("POST", self.path, body))
                if self.path == "/files":
                    return self._send(200, json.dumps(fake._files(body)).encode())
                if self.path == "/cases":
                    if fake.reject_nested_expand and "." in body.get("expand", ""):
                        return self._send(400, b'{"message": "invalid expand"}')
                    return self._send(200, json.dumps(fake._cases(body)).encode())
                if self.path == "/data":
                    ids = body["ids"]
                    if len(ids) == 1:
                        return self._send(200, fake._bytes(ids[0]), "text/tab-separated-values")
                    return self._send(200, fake._tar(ids), "application/x-tar")
                self._send(404, b"{}")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    @property
    def url(self) -> str:
        return "http://%s:%d" % self.httpd.server_address[:2]

    def _bytes(self, fid: str) -> bytes:
        data = self.files[fid]["data"]
        return data.replace(b"TSPAN6", b"TSPAN7") if fid in self.corrupt else data

    def _files(self, body: dict) -> dict:
        conds = {c["content"]["field"]: c["content"]["value"] for c in body["filters"]["content"]}
        ok = (conds.get("cases.project.project_id") == ["TCGA-LIHC"]
              and conds.get("files.analysis.workflow_type") == ["STAR - Counts"])
        hits = []
        for fid, f in (self.files.items() if ok else []):
            hits.append({"id": fid, "file_id": fid, "file_name": f["name"],
                         "md5sum": hashlib.md5(f["data"]).hexdigest(), "file_size": len(f["data"]),
                         "cases": [{"case_id": "uuid-" + f["case"][-1], "submitter_id": f["case"],
                                    "samples": [{"submitter_id": f["barcode"],
                                                 "sample_type": f["stype"]}]}]})
        start, size = int(body.get("from", 0)), int(body.get("size", 10))
        page = hits[start:start + size]
        return {"data": {"hits": page, "pagination": {
            "count": len(page), "total": len(hits), "size": size, "from": start,
            "page": start // size + 1, "pages": -(-len(hits) // size)}}, "warnings": {}}

    def _cases(self, body: dict) -> dict:
        want = next(c["content"]["value"] for c in body["filters"]["content"]
                    if c["content"]["field"] == "submitter_id")
        hits = [c for c in self.cases if c["submitter_id"] in want]
        start, size = int(body.get("from", 0)), int(body.get("size", 10))
        return {"data": {"hits": hits[start:start + size],
                         "pagination": {"total": len(hits), "from": start, "size": size}}}

    def _tar(self, ids: list[str]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            members = [(f"{fid}/{self.files[fid]['name']}", self._bytes(fid)) for fid in ids]
            members.append(("MANIFEST.txt", "\n".join(ids).encode()))
            for name, data in members + self.extra_members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def requests(self, method: str, path: str) -> list:
        return [b for m, p, b in self.log if m == method and p.split("?")[0] == path]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_gdc(cache, monkeypatch):
    server = FakeGDC()
    monkeypatch.setenv("MGTRANSCRIPT_GDC_URL", server.url)
    monkeypatch.delenv("MGTRANSCRIPT_MIRROR", raising=False)
    monkeypatch.setenv("MGTRANSCRIPT_BACKOFF", "0.01")
    yield server
    server.stop()


def _no_stray(cache: Path) -> None:
    assert verify_cache() == []
    listed = {r["path"] for r in cache_entries()}
    for p in cache.rglob("*"):
        rel = p.relative_to(cache).as_posix()
        if p.is_file() and not rel.startswith((".partial/", ".meta/")):
            assert rel in listed
    assert not any("batch-" in r for r in listed)  # archives are not kept


def test_gdc_loads_counts_tpm_obs_var(fake_gdc, cache):
    adata = gdc("TCGA-LIHC", batch_size=2)
    assert adata.shape == (5, len(GENES))  # N_* rows dropped
    by_barcode = {f["barcode"]: f for f in fake_gdc.files.values()}
    for barcode in adata.obs_names:
        f = by_barcode[barcode]
        np.testing.assert_array_equal(adata[barcode].layers["counts"].ravel(), f["counts"])
        np.testing.assert_allclose(adata[barcode].layers["tpm"].ravel(), f["tpm"], atol=1e-4)
    # var: Ensembl without version, PAR_Y copy kept distinct
    assert list(adata.var_names) == [
        "ENSG00000000003", "ENSG00000000005", "ENSG00000002586", "ENSG00000002586_PAR_Y",
        "ENSG00000163399", "ENSG00000223972"]
    assert adata.var.loc["ENSG00000163399", "gene_name"] == "ATP1A1"
    assert adata.var.loc["ENSG00000000003", "gene_id"] == "ENSG00000000003.15"
    assert set(adata.var.columns) >= {"gene_id", "ensembl", "gene_name", "gene_type"}
    # obs: barcode-derived sample type and harmonised labels
    obs = adata.obs
    assert obs.loc["TCGA-AA-0001-11A", "sample_type_code"] == "11"
    assert obs.loc["TCGA-AA-0001-11A", "condition"] == "hcc_nontumour"
    assert obs.loc["TCGA-AA-0001-01A", "condition"] == "hcc_tumour"
    assert obs.loc["TCGA-AA-0003-02A", "condition"] == "hcc_tumour"  # 01-09 are tumours
    assert (obs["disease"] == "HCC").all()
    assert obs.loc["TCGA-AA-0002-01A", "case_id"] == "TCGA-AA-0002"
    assert obs.loc["TCGA-AA-0001-11A", "sample_type"] == "Solid Tissue Normal"
    # X is log2 CPM of the counts, by the package's own normaliser
    ref = ad.AnnData(X=adata.layers["counts"].astype(float))
    ref.layers["counts"] = adata.layers["counts"]
    log2_cpm(ref)
    np.testing.assert_allclose(adata.X, ref.X, rtol=1e-6)
    assert adata.uns["gdc"]["project_id"] == "TCGA-LIHC"
    assert adata.uns["gdc"]["n_files_loaded"] == 5


def test_gdc_api_requests_follow_the_gdc_docs(fake_gdc, cache):
    gdc("TCGA-LIHC", batch_size=2)
    q = fake_gdc.requests("POST", "/files")[0]
    fields = set(q["fields"].split(","))
    assert fields >= {"file_id", "file_name", "md5sum", "file_size", "cases.submitter_id",
                      "cases.samples.submitter_id", "cases.samples.sample_type"}
    conds = {c["content"]["field"]: c["content"]["value"] for c in q["filters"]["content"]}
    assert conds["files.data_type"] == ["Gene Expression Quantification"]
    # 5 files in batches of 2: two tar.gz POSTs, then one single file by GET
    posts = fake_gdc.requests("POST", "/data")
    assert [len(b["ids"]) for b in posts] == [2, 2]
    assert len([1 for m, p, _ in fake_gdc.log if m == "GET" and p.startswith("/data/")]) == 1
    cases = fake_gdc.requests("POST", "/cases")[0]
    assert "exposures" in cases["expand"] and "follow_ups" in cases["expand"]


def test_gdc_files_cached_by_file_id_and_reloadable_offline(fake_gdc, cache, monkeypatch):
    a = gdc("TCGA-LIHC", batch_size=3)
    rels = {r["path"] for r in cache_entries()}
    for fid, f in fake_gdc.files.items():
        assert f"api.gdc.cancer.gov/data/{fid}/{f['name']}" in rels
    _no_stray(cache)
    n = len(fake_gdc.log)
    monkeypatch.setenv("MGTRANSCRIPT_OFFLINE", "1")
    b = gdc("TCGA-LIHC", batch_size=3)
    assert len(fake_gdc.log) == n  # nothing asked again
    np.testing.assert_array_equal(a.layers["counts"], b.layers["counts"])
    pd.testing.assert_frame_equal(a.obs, b.obs)


def test_gdc_offline_without_cache_names_what_is_missing(fake_gdc, cache, monkeypatch):
    monkeypatch.setenv("MGTRANSCRIPT_OFFLINE", "1")
    with pytest.raises(OfflineError, match="api.gdc.cancer.gov/files"):
        gdc("TCGA-LIHC")
    assert fake_gdc.log == []


def test_gdc_clinical_risk_factors(fake_gdc, cache):
    obs = gdc("TCGA-LIHC").obs
    rf = obs.drop_duplicates("case_id").set_index("case_id")[["alcohol", "hbv", "hcv", "nafld"]]
    exp = {
        "TCGA-AA-0001": [True, True, False, False],
        "TCGA-AA-0002": [False, False, True, True],  # "Nonalcoholic" is not alcohol
        "TCGA-AA-0003": [False, pd.NA, pd.NA, pd.NA],  # only alcohol_history = No
        "TCGA-AA-0004": [pd.NA, pd.NA, pd.NA, pd.NA],  # nothing recorded
    }
    for case, values in exp.items():
        got = rf.loc[case].tolist()
        assert [g is pd.NA if v is pd.NA else g == v for g, v in zip(got, values)] == [True] * 4, (case, got)
    assert str(obs["hbv"].dtype) == "boolean"
    assert obs.loc["TCGA-AA-0001-01A", "primary_diagnosis"] == "Hepatocellular carcinoma, NOS"
    assert "Hepatitis C Infection" in obs.loc["TCGA-AA-0002-01A", "risk_factors"]


def test_gdc_clinical_falls_back_to_basic_expand(fake_gdc, cache):
    fake_gdc.reject_nested_expand = True
    obs = gdc("TCGA-LIHC").obs
    expands = [b["expand"] for b in fake_gdc.requests("POST", "/cases")]
    assert len(expands) == 2  # the 400 is final (not retried), then the basic expand
    assert "." in expands[0] and "." not in expands[1]
    assert bool(obs.loc["TCGA-AA-0001-01A", "hbv"]) is True


def test_gdc_without_clinical_asks_nothing_about_cases(fake_gdc, cache):
    obs = gdc("TCGA-LIHC", clinical=False).obs
    assert fake_gdc.requests("POST", "/cases") == []
    assert "hbv" not in obs.columns


def test_gdc_pagination_and_max_files(fake_gdc, cache, monkeypatch):
    monkeypatch.setattr(gdc_mod, "PAGE_SIZE", 2)
    adata = gdc("TCGA-LIHC", max_files=3, clinical=False)
    assert [b["from"] for b in fake_gdc.requests("POST", "/files")] == [0, 2, 4]
    assert adata.n_obs == 3 and adata.uns["gdc"]["n_files_available"] == 5
    assert len(cache_entries()) == 3 + 3  # 3 query pages + 3 data files


def test_gdc_md5_mismatch_is_refused_and_not_cached(fake_gdc, cache):
    bad = next(iter(fake_gdc.files))
    fake_gdc.corrupt.add(bad)
    with pytest.raises(DownloadCorrupt, match=bad):
        gdc("TCGA-LIHC", batch_size=2, clinical=False)
    rels = {r["path"] for r in cache_entries()}
    assert not any(bad in r for r in rels)
    assert sum("/data/" in r for r in rels) == 4  # the intact ones are kept
    # the batch's bad member is fetched again on its own (GET, bounded verified retries)
    assert len(fake_gdc.requests("POST", "/data")) == 2
    assert len(fake_gdc.requests("GET", f"/data/{bad}")) == 3
    _no_stray(cache)
    fake_gdc.corrupt.clear()
    assert gdc("TCGA-LIHC", batch_size=2, clinical=False).n_obs == 5


def test_gdc_tar_with_dotdot_member_refused_nothing_outside(fake_gdc, cache, tmp_path):
    fake_gdc.extra_members = [("../../../evil.txt", b"pwned"), ("../escape.tsv", b"x")]
    with pytest.raises(UnsafeArchiveError, match="outside"):
        gdc("TCGA-LIHC", batch_size=5, clinical=False)
    assert not list(tmp_path.rglob("evil.txt")) and not list(tmp_path.rglob("escape.tsv"))
    assert not (cache / ".partial" / "evil.txt").exists()
    rels = {r["path"] for r in cache_entries()}
    assert not any("/data/" in r for r in rels)  # neither the archive nor its members
    _no_stray(cache)


def test_gdc_unknown_project_and_bad_arguments(fake_gdc, cache):
    with pytest.raises(AccessionNotFound, match="TCGA-XXXX"):
        gdc("TCGA-XXXX")
    with pytest.raises(InputDataError):
        gdc("not a project")
    with pytest.raises(InputDataError):
        gdc("TCGA-LIHC", batch_size=0)


def test_gdc_result_writes_to_h5ad(fake_gdc, cache, tmp_path):
    adata = gdc("TCGA-LIHC")
    out = tmp_path / "lihc.h5ad"
    adata.write_h5ad(out)
    back = ad.read_h5ad(out)
    assert back.obs["hbv"].tolist()[:1] == adata.obs["hbv"].tolist()[:1]
    np.testing.assert_array_equal(back.layers["counts"], adata.layers["counts"])


def test_read_star_counts_and_barcodes(tmp_path):
    p = tmp_path / "x.tsv"
    p.write_bytes(star_file(np.arange(len(GENES)), np.ones(len(GENES))))
    df = read_star_counts(p)
    assert len(df) == len(GENES) and not df["gene_id"].str.startswith("N_").any()
    p.write_text("gene\tcount\nA\t1\n")
    with pytest.raises(DataFormatError, match="unstranded"):
        read_star_counts(p)
    assert sample_type_code("TCGA-2V-A95S-01A") == "01"
    assert sample_type_code("TCGA-2V-A95S-11A-11R-A37K-07") == "11"
    assert sample_type_code("GSM123") is None


def test_risk_factor_table_tolerates_absence():
    df = risk_factor_table([{"submitter_id": "X"}, {"submitter_id": "Y",
                             "follow_ups": [{"risk_factor": "None"}]}])
    assert df.loc["X", "hbv"] is pd.NA
    assert bool(df.loc["Y", "hbv"]) is False  # "None" recorded: no risk factor


def test_gdc_with_a_mirror_fails_at_once_naming_the_fix(tmp_path, monkeypatch):
    """A mirror laid out by URL cannot answer GDC API queries: say so without retrying."""
    from mgtranscript.datasets import gdc
    from mgtranscript.errors import OfflineError
    from mgtranscript.fetch import http

    sent = []
    monkeypatch.setattr(http, "request", lambda *a, **k: sent.append(a) or pytest.fail("contacted a host"))
    monkeypatch.setattr(http, "_sleep", lambda s: pytest.fail(f"waited {s} s before failing"))
    monkeypatch.setenv("MGTRANSCRIPT_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("MGTRANSCRIPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MGTRANSCRIPT_GDC_URL", raising=False)
    with pytest.raises(OfflineError, match="MGTRANSCRIPT_GDC_URL"):
        gdc("TCGA-LIHC")
    assert sent == []  # decided at once, without a request or a retry
