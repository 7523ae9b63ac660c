"""A fake GDC API on 127.0.0.1 whose answers follow the real shapes (test helper).

Shapes follow the verbatim GDC answers in ``../shared/reference/gdc/`` (read by
``tests/datasets/test_gdc.py`` to check this server against them):

* ``POST /files`` and ``POST /cases``: ``{"data": {"hits": [...], "pagination": {"count",
  "total", "size", "from", "sort", "page", "pages"}}, "warnings": {}}``; every hit has
  ``id``; ``fields`` (dotted paths) select what a hit holds, ``expand`` adds whole groups.
  ``filters`` (``and`` of ``in``) on ``cases.project.project_id``, ``files.data_type``,
  ``files.analysis.workflow_type``, ``submitter_id``, ``project.project_id``.
  ``sort`` (``"field:asc"``/``":desc"``) orders hits; without it each call returns a
  different order when ``shuffle_unsorted`` (the GDC does not promise a stable order).
* Cases carry ``demographic`` (an object), ``diagnoses[]`` (with
  ``diagnosis_is_primary_disease``, ``classification_of_tumor``, stage, grade, age in
  days, ``days_to_last_follow_up``), ``exposures[]`` (``alcohol_history``,
  ``alcohol_intensity``) and ``follow_ups[].other_clinical_attributes[]``
  (``risk_factors`` / ``comorbidities`` lists, ``risk_factor_treatment``,
  ``viral_hepatitis_serology_tests``). Expand groups: ``demographic``, ``diagnoses``,
  ``exposures``, ``follow_ups``, ``follow_ups.other_clinical_attributes`` (there is no
  top-level ``other_clinical_attributes`` group: asking for it answers 400).
* ``POST /data`` ``{"ids": [...]}``: one id -> the file; several -> a tar.gz of
  ``<file_id>/<file_name>`` plus ``MANIFEST.txt``. ``GET /data/<file_id>`` -> the file.
* STAR-counts files as the GDC writes them: ``# gene-model: GENCODE v36``, the header,
  the four ``N_`` rows with empty name/type/tpm/fpkm cells, then gene rows (including a
  ``_PAR_Y`` copy).

The project is synthetic and built from ``seed``: 60 primary tumours (01), 12 of those
patients also with a solid-tissue normal (11), one recurrent tumour (02) and one
blood-derived normal (10) from tumour patients; ~300 genes (the 48 Mg genes of
``gene_sets/magnesium_genes.tsv`` with their Ensembl ids, PTPRC, ALB, reference genes,
synthetic fillers). A latent risk ``z`` per patient raises SLC41A3 in the tumour and
the hazard of death (so worse survival with high SLC41A3 is recoverable); PTP4A3 and
SLC41A3 are higher, CNNM4 and ALB lower in tumour than in normal tissue.

Fault knobs (attributes): ``fail_batches`` (the next n multi-file ``POST /data`` fail,
``fail_mode`` ``"truncate"``/``"500"``/``"drop"``), ``max_batch_ids`` (larger batches
always fail with 500), ``corrupt`` (file ids served damaged), ``extra_members`` (added
to every tar), ``shuffle_unsorted``, ``ignore_sort`` (a broken server that shuffles even
when asked to sort), ``reject_nested_expand`` (400 on dotted expand groups),
``drop_risk_factors`` (cases without any risk-factor field).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import tarfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

PROJECT = "TCGA-LIHC"
WORKFLOW = "STAR - Counts"
HEADER = ["gene_id", "gene_name", "gene_type", "unstranded", "stranded_first", "stranded_second",
          "tpm_unstranded", "fpkm_unstranded", "fpkm_uq_unstranded"]
N_ROWS = (("N_unmapped", 0.06), ("N_multimapping", 0.04), ("N_noFeature", 0.03), ("N_ambiguous", 0.02))

#: Mg genes (gene_sets/magnesium_genes.tsv) and a few others, with their Ensembl ids.
NAMED_GENES = [
    ("TRPM7", "ENSG00000092439"), ("SLC41A2", "ENSG00000136052"), ("NIPA1", "ENSG00000170113"),
    ("NIPA2", "ENSG00000140157"), ("SLC41A1", "ENSG00000133065"), ("CNNM4", "ENSG00000158158"),
    ("CNNM2", "ENSG00000148842"), ("CNNM3", "ENSG00000168763"), ("MAGT1", "ENSG00000102158"),
    ("TUSC3", "ENSG00000104723"), ("MMGT1", "ENSG00000169446"), ("TMEM94", "ENSG00000177728"),
    ("MRS2", "ENSG00000124532"), ("SLC41A3", "ENSG00000114544"), ("SLC25A23", "ENSG00000125648"),
    ("SLC25A24", "ENSG00000085491"), ("SLC25A25", "ENSG00000148339"), ("ARL15", "ENSG00000185305"),
    ("PTP4A1", "ENSG00000112245"), ("PTP4A2", "ENSG00000184007"), ("PTP4A3", "ENSG00000184489"),
    ("ITGAL", "ENSG00000005844"), ("ITGB2", "ENSG00000160255"), ("KLRK1", "ENSG00000213809"),
    ("CNNM1", "ENSG00000119946"), ("NIPAL1", "ENSG00000163293"), ("NIPAL2", "ENSG00000104361"),
    ("NIPAL3", "ENSG00000001461"), ("NIPAL4", "ENSG00000172548"), ("TRPM6", "ENSG00000119121"),
    ("CLDN16", "ENSG00000113946"), ("CLDN19", "ENSG00000164007"), ("CLDN14", "ENSG00000159261"),
    ("CLDN10", "ENSG00000134873"), ("FXYD2", "ENSG00000137731"), ("HNF1B", "ENSG00000275410"),
    ("PCBD1", "ENSG00000166228"), ("EGF", "ENSG00000138798"), ("EGFR", "ENSG00000146648"),
    ("KCNJ10", "ENSG00000177807"), ("KCNA1", "ENSG00000111262"), ("CASR", "ENSG00000036828"),
    ("SLC12A3", "ENSG00000070915"), ("CLCNKB", "ENSG00000184908"), ("BSND", "ENSG00000162399"),
    ("FAM111A", "ENSG00000166801"), ("ATP1A1", "ENSG00000163399"), ("RRAGD", "ENSG00000025039"),
    ("PTPRC", "ENSG00000081237"), ("ALB", "ENSG00000163631"), ("GAPDH", "ENSG00000111640"),
    ("ACTB", "ENSG00000075624"), ("TSPAN6", "ENSG00000000003"), ("TNMD", "ENSG00000000005"),
    ("DPM1", "ENSG00000000419"), ("SCYL3", "ENSG00000000457"), ("C1orf112", "ENSG00000000460"),
]
N_FILLER = 240
#: log2 fold change tumour vs normal built into the data.
TUMOUR_LFC = {"PTP4A3": 1.5, "SLC41A3": 1.0, "CNNM4": -1.0, "ALB": -1.2}
#: log2 change of SLC41A3 per SD of the latent risk (tumours only) and the log hazard ratio.
SLC41A3_PER_Z = 1.0
LOG_HR_PER_Z = 1.0
#: 1 / baseline hazard (days) of the synthetic patients.
BASE_HAZARD_DAYS = 2500.0
SITES = ("2V", "BC", "DD", "ED", "G3", "CC", "ZS", "RC", "K7", "EP")
STAGES = ("Stage I", "Stage II", "Stage IIIA", "Stage IIIB", "Stage IIIC", "Stage IV")


def _uuid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | int(rng.integers(0, 2**63)), version=4))


def _star_bytes(genes: list[tuple[str, str, str]], counts: np.ndarray, lengths: np.ndarray) -> bytes:
    rate = counts / lengths
    tpm = rate / rate.sum() * 1e6
    fpkm = counts / (lengths / 1e3) / (counts.sum() / 1e6)
    uq = np.quantile(counts[counts > 0], 0.75) if (counts > 0).any() else 1.0
    fpkm_uq = counts / (lengths / 1e3) / (uq * len(counts) / 1e6) * 1e3
    total = int(counts.sum())
    lines = ["# gene-model: GENCODE v36", "\t".join(HEADER)]
    for name, frac in N_ROWS:
        n = int(total * frac)
        lines.append(f"{name}\t\t\t{n}\t{n}\t{n}\t\t\t")
    for (gid, sym, typ), c, t, f, u in zip(genes, counts, tpm, fpkm, fpkm_uq):
        first = int(c) // 2
        lines.append(f"{gid}\t{sym}\t{typ}\t{int(c)}\t{first}\t{int(c) - first}\t{t:.4f}\t{f:.4f}\t{u:.4f}")
    return ("\n".join(lines) + "\n").encode()


def _risk_attrs(kind: str) -> dict:
    """other_clinical_attributes record for one etiology kind."""
    table = {
        "hbv": ["Hepatitis B Infection"], "hcv": ["Hepatitis C Infection"],
        "alcohol": ["Alcohol Consumption"], "nafld": ["Nonalcoholic Fatty Liver Disease"],
        "alcohol+hbv": ["Alcohol Consumption", "Hepatitis B Infection"],
        "none": ["None"], "not_reported": ["Not Reported"], "hemochromatosis": ["Hemochromatosis"],
    }
    return {"risk_factors": table[kind], "risk_factor_treatment": "Not Reported"}


class GDCServer:
    """The fake GDC. ``log`` holds (method, path, parsed JSON body or None)."""

    def __init__(self, seed: int = 20240610, *, n_tumour: int = 60, n_paired: int = 12) -> None:
        self.seed = seed
        self.log: list[tuple[str, str, object]] = []
        self.fail_batches = 0
        self.fail_mode = "truncate"
        self.max_batch_ids: int | None = None
        self.corrupt: set[str] = set()
        self.extra_members: list[tuple[str, bytes]] = []
        self.shuffle_unsorted = True
        self.ignore_sort = False
        self.reject_nested_expand = False
        self.drop_risk_factors = False
        self._calls = 0
        self._lock = threading.Lock()
        key = (seed, n_tumour, n_paired)
        if key not in _BUILT:  # the project is built once per process, then copied
            self._build(np.random.default_rng(seed), n_tumour, n_paired)
            _BUILT[key] = {k: getattr(self, k) for k in _PROJECT_ATTRS}
        for k in _PROJECT_ATTRS:
            setattr(self, k, copy.deepcopy(_BUILT[key][k]) if k in ("cases", "truth") else _BUILT[key][k])
        self.files = dict(self.files)
        self.httpd: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ the project

    def _build(self, rng: np.random.Generator, n_tumour: int, n_paired: int) -> None:
        genes = []
        for k, (sym, ens) in enumerate(NAMED_GENES):
            genes.append((f"{ens}.{k % 17 + 1}", sym, "protein_coding"))
            if sym == "TSPAN6":  # a PAR_Y copy as in real files (all zero there)
                genes.append(("ENSG00000002586.20", "CD99", "protein_coding"))
                genes.append(("ENSG00000002586.20_PAR_Y", "CD99", "protein_coding"))
        for k in range(N_FILLER):
            genes.append((f"ENSG{990000000 + k:011d}.1", f"SYNTH{k:03d}",
                          "lncRNA" if k % 5 == 0 else "protein_coding"))
        self.genes = genes
        names = [g[1] for g in genes]
        idx = {n: i for i, n in enumerate(names) if not genes[i][0].endswith("_PAR_Y")}
        g = len(genes)
        log_mean = rng.normal(4.0, 2.0, g)  # log2 expected count per million-ish scale
        log_mean[idx["ALB"]] = 14.0
        log_mean[idx["GAPDH"]], log_mean[idx["ACTB"]] = 11.0, 11.0
        for sym in ("SLC41A3", "CNNM4", "TRPM7", "MAGT1", "MRS2", "PTP4A3", "SLC41A1", "KLRK1", "PTPRC"):
            log_mean[idx[sym]] = 7.0
        par_y = [i for i, gg in enumerate(genes) if gg[0].endswith("_PAR_Y")]
        lengths = rng.integers(800, 6000, g).astype(float)

        patients = []
        for i in range(n_tumour):
            pid = f"TCGA-{SITES[i % len(SITES)]}-A{i:03d}"
            patients.append({"patient_id": pid, "case_id": _uuid(rng), "z": float(rng.normal())})
        self.patients = patients

        samples = []  # (patient index, code, sample_type)
        for i in range(n_tumour):
            samples.append((i, "01", "Primary Tumor"))
        for i in range(n_paired):
            samples.append((i, "11", "Solid Tissue Normal"))
        self.recurrent_patient, self.blood_patient = n_paired, n_paired + 1
        samples.append((self.recurrent_patient, "02", "Recurrent Tumor"))
        samples.append((self.blood_patient, "10", "Blood Derived Normal"))

        self.files: dict[str, dict] = {}
        for pi, code, stype in samples:
            p = patients[pi]
            lm = log_mean.copy()
            if code in ("01", "02"):
                for sym, lfc in TUMOUR_LFC.items():
                    lm[idx[sym]] += lfc
                lm[idx["SLC41A3"]] += SLC41A3_PER_Z * p["z"]
            if code == "10":
                lm[idx["PTPRC"]] += 4.0
                lm[idx["ALB"]] -= 8.0
            lib = rng.uniform(1.5e6, 4e6)
            mu = 2.0 ** lm
            mu = mu / mu.sum() * lib
            shape = 1 / 0.08  # gamma-Poisson, dispersion 0.08
            counts = rng.poisson(rng.gamma(shape, mu / shape)).astype(np.int64)
            counts[par_y] = 0
            data = _star_bytes(genes, counts, lengths)
            fid = _uuid(rng)
            self.files[fid] = {
                "file_id": fid, "file_name": f"{fid}.rna_seq.augmented_star_gene_counts.tsv",
                "data": data, "md5sum": hashlib.md5(data).hexdigest(), "counts": counts,
                "patient": pi, "barcode": f"{p['patient_id']}-{code}A", "sample_type_id": code,
                "sample_type": stype, "sample_id": _uuid(rng),
                "tissue_type": {"01": "Tumor", "02": "Tumor", "11": "Normal"}.get(code, "Not Reported"),
            }

        # clinical records
        kinds = ["hbv", "hcv", "alcohol", "nafld", "alcohol+hbv", "none", "not_reported",
                 "hemochromatosis", "missing"]
        weights = np.array([5, 4, 5, 2, 2, 1, 2, 1, 2], dtype=float)
        self.cases: list[dict] = []
        self.truth: dict[str, dict] = {}
        for p in patients:
            stage_i = int(rng.choice(len(STAGES), p=[0.4, 0.25, 0.12, 0.08, 0.05, 0.1]))
            stage = STAGES[stage_i] if rng.random() > 0.05 else "Not Reported"
            stage_num = 1 + min(3, [0, 1, 2, 2, 2, 3][stage_i])
            hazard = math.exp(LOG_HR_PER_Z * p["z"] + 0.25 * (stage_num - 1)) / BASE_HAZARD_DAYS
            t_event = rng.exponential(1 / hazard)
            t_censor = rng.uniform(150, 3200)
            dead = t_event <= t_censor
            age_years = rng.uniform(35, 85)
            kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
            case = {
                "id": p["case_id"], "case_id": p["case_id"], "submitter_id": p["patient_id"],
                "demographic": {
                    "demographic_id": _uuid(rng), "submitter_id": f"{p['patient_id']}_demographic",
                    "gender": "male" if rng.random() < 0.68 else "female",
                    "vital_status": "Dead" if dead else "Alive",
                    "days_to_death": int(round(t_event)) if dead else None,
                    "age_at_index": int(age_years), "state": "released",
                },
                "diagnoses": [{
                    "diagnosis_id": _uuid(rng), "submitter_id": f"{p['patient_id']}_diagnosis",
                    "primary_diagnosis": "Hepatocellular carcinoma, NOS", "morphology": "8170/3",
                    "ajcc_pathologic_stage": stage, "tumor_grade": f"G{int(rng.integers(1, 5))}",
                    "age_at_diagnosis": int(age_years * 365.25),
                    "days_to_last_follow_up": float(round(t_censor)) if not dead else float(round(t_event)),
                    "classification_of_tumor": "primary", "diagnosis_is_primary_disease": True,
                    "tissue_or_organ_of_origin": "Liver", "state": "released",
                }],
                "exposures": [{"exposure_id": _uuid(rng), "submitter_id": f"{p['patient_id']}_exposure",
                               "alcohol_history": "Yes" if "alcohol" in kind or rng.random() < 0.3 else "No",
                               "alcohol_intensity": "Not Reported"}],
                "follow_ups": [{"follow_up_id": _uuid(rng), "submitter_id": f"{p['patient_id']}_follow_up",
                                "days_to_follow_up": int(round(min(t_event, t_censor))), "state": "released",
                                "other_clinical_attributes": [] if kind == "missing" else [
                                    {"other_clinical_attribute_id": _uuid(rng),
                                     "submitter_id": f"{p['patient_id']}_oca", **_risk_attrs(kind)}]}],
            }
            self.cases.append(case)
            self.truth[p["patient_id"]] = {"kind": kind, "stage": stage, "dead": bool(dead),
                                           "os_days": float(round(t_event if dead else t_censor)), "z": p["z"]}
        self._special_cases()

    def _set_risk(self, i: int, attrs: dict | None, *, kind: str) -> dict:
        case = self.cases[i]
        fu = case["follow_ups"][0]
        fu["other_clinical_attributes"] = [] if attrs is None else [
            {"other_clinical_attribute_id": str(uuid.UUID(int=i + 1)),
             "submitter_id": f"{case['submitter_id']}_oca", **attrs}]
        self.truth[case["submitter_id"]]["kind"] = kind
        return case

    def _special_cases(self) -> None:
        """Fixed edge cases on the first patients (all of them have an 01 tumour)."""
        # 0: HBV patient who drinks: alcohol_history Yes but the etiology is viral only
        c = self._set_risk(0, {"risk_factors": ["Hepatitis B Infection"], "risk_factor_treatment": "No"},
                           kind="hbv")
        c["exposures"][0]["alcohol_history"] = "Yes"
        c["exposures"][0]["alcohol_intensity"] = "Occasional Drinker"
        # 1: diagnoses[0] is a metastasis record (as in cases_two_diagnoses_response.json)
        c = self.cases[1]
        primary = c["diagnoses"][0]
        primary.update(ajcc_pathologic_stage="Stage II", tumor_grade="G3")
        self.truth[c["submitter_id"]]["stage"] = "Stage II"
        c["diagnoses"] = [{
            "diagnosis_id": str(uuid.UUID(int=99)), "submitter_id": f"{c['submitter_id']}_diagnosis2",
            "primary_diagnosis": "Not Reported", "morphology": "Not Reported",
            "classification_of_tumor": "metastasis", "diagnosis_is_primary_disease": False,
            "age_at_diagnosis": primary["age_at_diagnosis"] + 400, "icd_10_code": "C78.0",
            "tissue_or_organ_of_origin": "Lung, NOS", "state": "released",
        }, primary]
        # 2: deprecated lower-case alcohol_history, alcohol-related HCC
        c = self._set_risk(2, {"risk_factors": ["Alcohol Consumption"], "risk_factor_treatment": "Yes"},
                           kind="alcohol")
        c["exposures"][0]["alcohol_history"] = "yes"
        c["exposures"][0]["alcohol_intensity"] = "Heavy Drinker"
        # 3: ["Not Reported"] and non-risk-factor siblings: unknown, not "no risk factor"
        self._set_risk(3, {"risk_factors": ["Not Reported"], "risk_factor_treatment": "No",
                           "risk_factor_method_of_diagnosis": "Clinical Assessment",
                           "comorbidity_method_of_diagnosis": "Not Reported"}, kind="not_reported")
        # 4: older layout: follow_ups[].risk_factor (single value), no nested attributes
        c = self._set_risk(4, None, kind="hcv")
        c["follow_ups"][0]["risk_factor"] = "Hepatitis C Infection"
        # 5: "None" recorded: no risk factor (flags False, etiology "other")
        self._set_risk(5, {"risk_factors": ["None"]}, kind="none")
        # 6: alcohol + HCV
        self._set_risk(6, {"risk_factors": ["Alcohol Consumption", "Hepatitis C Infection"]},
                       kind="alcohol+hcv")
        # 7: NAFLD with serology tests listed
        self._set_risk(7, {"risk_factors": ["Nonalcoholic Fatty Liver Disease"],
                           "viral_hepatitis_serology_tests": ["Hepatitis B Surface Antigen",
                                                              "Hepatitis C Antibody"]}, kind="nafld")
        # 8: alcoholic liver disease recorded as a comorbidity only
        self._set_risk(8, {"comorbidities": ["Alcoholic Liver Disease"], "risk_factors": ["Not Reported"]},
                       kind="alcohol")
        # 9: no follow-ups at all
        self.cases[9].pop("follow_ups")
        self.truth[self.cases[9]["submitter_id"]]["kind"] = "missing"
        # 10: vital status not reported -> no overall survival
        self.cases[10]["demographic"]["vital_status"] = "Not Reported"
        self.cases[10]["demographic"]["days_to_death"] = None

    # ------------------------------------------------------------------ expected values

    def file_for(self, barcode: str) -> dict:
        return next(f for f in self.files.values() if f["barcode"] == barcode)

    @property
    def barcodes(self) -> list[str]:
        return sorted(f["barcode"] for f in self.files.values())

    # ------------------------------------------------------------------ serving

    def start(self) -> GDCServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _send(self, status: int, payload: bytes, ctype: str = "application/json",
                      length: int | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload) if length is None else length))
                self.end_headers()
                self.wfile.write(payload)

            def _json(self, status: int, obj) -> None:
                self._send(status, json.dumps(obj).encode())

            def do_GET(self):
                fake.log.append(("GET", self.path, None))
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) == 2 and parts[0] == "data" and parts[1] in fake.files:
                    return self._send(200, fake._bytes(parts[1]), "text/tab-separated-values")
                self._json(404, {"message": f"{self.path} not found"})

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(n) or b"{}")
                except ValueError:
                    return self._json(400, {"message": "body is not JSON"})
                fake.log.append(("POST", self.path, body))
                path = self.path.split("?")[0].rstrip("/")
                if path == "/files":
                    return self._json(200, fake._page("files", fake._file_hits(body), body))
                if path == "/cases":
                    expand = [e for e in str(body.get("expand") or "").split(",") if e]
                    bad = [e for e in expand if e not in CASE_EXPAND]
                    if bad or (fake.reject_nested_expand and any("." in e for e in expand)):
                        return self._json(400, {"message": f"invalid expand: {bad or expand}"})
                    return self._json(200, fake._page("cases", fake._case_hits(body, expand), body))
                if path == "/data":
                    return fake._data(self, body)
                self._json(404, {"message": "unknown endpoint"})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def url(self) -> str:
        return "http://%s:%d" % self.httpd.server_address[:2]

    def requests(self, method: str, path: str) -> list:
        return [b for m, p, b in self.log if m == method and p.split("?")[0].rstrip("/") == path]

    # ------------------------------------------------------------------ endpoints

    def _bytes(self, fid: str) -> bytes:
        data = self.files[fid]["data"]
        return data.replace(b"protein_coding", b"protein-coding", 1) if fid in self.corrupt else data

    @staticmethod
    def _conditions(body: dict) -> dict[str, list]:
        f = body.get("filters") or {}
        items = f.get("content") if f.get("op") == "and" else [f]
        return {c["content"]["field"]: list(c["content"]["value"]) for c in items or []
                if isinstance(c, dict) and c.get("op") == "in"}

    def _file_record(self, f: dict) -> dict:
        p = self.patients[f["patient"]]
        return {
            "id": f["file_id"], "file_id": f["file_id"], "file_name": f["file_name"],
            "md5sum": f["md5sum"], "file_size": len(f["data"]), "data_format": "TSV",
            "data_type": "Gene Expression Quantification", "access": "open", "state": "released",
            "cases": [{"case_id": p["case_id"], "submitter_id": p["patient_id"],
                       "project": {"project_id": PROJECT},
                       "samples": [{"sample_id": f["sample_id"], "submitter_id": f["barcode"],
                                    "sample_type": f["sample_type"], "sample_type_id": f["sample_type_id"],
                                    "tissue_type": f["tissue_type"], "tumor_descriptor": "Not Reported"}]}],
        }

    def _file_hits(self, body: dict) -> list[dict]:
        cond = self._conditions(body)
        ok = (cond.get("cases.project.project_id") == [PROJECT]
              and cond.get("files.data_type", ["Gene Expression Quantification"]) == ["Gene Expression Quantification"]
              and cond.get("files.analysis.workflow_type", [WORKFLOW]) == [WORKFLOW])
        hits = [self._file_record(f) for f in self.files.values()] if ok else []
        fields = [x for x in str(body.get("fields") or "").split(",") if x]
        return [_project(h, fields) if fields else h for h in hits]

    def _case_hits(self, body: dict, expand: list[str]) -> list[dict]:
        cond = self._conditions(body)
        want = set(cond.get("submitter_id", [c["submitter_id"] for c in self.cases]))
        if cond.get("project.project_id", [PROJECT]) != [PROJECT]:
            want = set()
        fields = [x for x in str(body.get("fields") or "").split(",") if x]
        out = []
        for case in self.cases:
            if case["submitter_id"] not in want:
                continue
            full = copy.deepcopy(case)
            if self.drop_risk_factors:
                for fu in full.get("follow_ups", []):
                    fu.pop("other_clinical_attributes", None)
                    fu.pop("risk_factor", None)
            hit = {"id": full["id"]}
            top = [f for f in fields if "." not in f]
            if not fields and not expand:
                top = [k for k, v in full.items() if not isinstance(v, (dict, list))]
            for f in top:
                if f in full and not isinstance(full[f], (dict, list)):
                    hit[f] = full[f]
            for group in expand:
                if "." in group:
                    continue
                if group in full:
                    hit[group] = copy.deepcopy(full[group])
                    if group == "follow_ups" and "follow_ups.other_clinical_attributes" not in expand:
                        for fu in hit[group]:
                            fu.pop("other_clinical_attributes", None)
            nested = [f for f in fields if "." in f]
            if nested:
                _merge(hit, _project(full, nested))
            out.append(hit)
        return out

    def _page(self, name: str, hits: list[dict], body: dict) -> dict:
        sort = str(body.get("sort") or "")
        with self._lock:
            self._calls += 1
            call = self._calls
        if sort and not self.ignore_sort:
            field, _, direction = sort.partition(":")
            hits = sorted(hits, key=lambda h: str(_get(h, field) or h.get("id")),
                          reverse=direction.strip().lower() == "desc")
        elif self.shuffle_unsorted or self.ignore_sort:
            order = np.random.default_rng(call).permutation(len(hits))
            hits = [hits[i] for i in order]
        size, start = int(body.get("size", 10)), int(body.get("from", 0))
        page = hits[start:start + size]
        return {"data": {"hits": page, "pagination": {
            "count": len(page), "total": len(hits), "size": size, "from": start, "sort": sort,
            "page": start // size + 1 if size else 1, "pages": -(-len(hits) // size) if size else 1}},
            "warnings": {}}

    def _tar(self, ids: list[str]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            members = [(f"{fid}/{self.files[fid]['file_name']}", self._bytes(fid)) for fid in ids]
            members.append(("MANIFEST.txt", ("id\tfilename\tmd5\n" + "\n".join(
                f"{fid}\t{self.files[fid]['file_name']}\t{self.files[fid]['md5sum']}" for fid in ids)).encode()))
            for name, data in members + self.extra_members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    def _data(self, handler, body: dict) -> None:
        ids = [i for i in body.get("ids") or [] if isinstance(i, str)]
        unknown = [i for i in ids if i not in self.files]
        if not ids or unknown:
            return handler._json(404 if unknown else 400, {"message": f"unknown ids {unknown[:3]}"})
        if len(ids) == 1:
            return handler._send(200, self._bytes(ids[0]), "text/tab-separated-values")
        if self.max_batch_ids is not None and len(ids) > self.max_batch_ids:
            return handler._json(500, {"message": "archive too large"})
        payload = self._tar(ids)
        with self._lock:
            fail = self.fail_batches > 0
            if fail:
                self.fail_batches -= 1
        if fail and self.fail_mode == "500":
            return handler._json(500, {"message": "internal error"})
        if fail and self.fail_mode == "truncate":
            return handler._send(200, payload[: len(payload) // 2], "application/x-tar")
        if fail and self.fail_mode == "drop":
            handler.send_response(200)
            handler.send_header("Content-Type", "application/x-tar")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload[: len(payload) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return None
        return handler._send(200, payload, "application/x-tar")


_BUILT: dict[tuple, dict] = {}
_PROJECT_ATTRS = ("genes", "patients", "files", "cases", "truth", "recurrent_patient", "blood_patient")

CASE_EXPAND = ("demographic", "diagnoses", "exposures", "follow_ups",
               "follow_ups.other_clinical_attributes", "samples", "project")


def _get(obj, dotted: str):
    for part in dotted.split("."):
        if isinstance(obj, list):
            obj = obj[0] if obj else None
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _project(obj: dict, fields: list[str]) -> dict:
    """Keep only the dotted ``fields`` of a record (lists mapped element-wise); ``id`` always."""
    out: dict = {"id": obj["id"]} if "id" in obj else {}
    for f in fields:
        head, _, rest = f.partition(".")
        if head not in obj or obj[head] is None:
            continue
        v = obj[head]
        if not rest:
            out[head] = copy.deepcopy(v)
        elif isinstance(v, dict):
            out[head] = _merge(out.get(head, {}), _project(v, [rest]))
        elif isinstance(v, list):
            cur = out.get(head) or [{} for _ in v]
            out[head] = [_merge(c, _project(x, [rest])) if isinstance(x, dict) else c for c, x in zip(cur, v)]
    return out


def _merge(a: dict, b: dict) -> dict:
    for k, v in b.items():
        if k in a and isinstance(a[k], dict) and isinstance(v, dict):
            _merge(a[k], v)
        elif k in a and isinstance(a[k], list) and isinstance(v, list) and len(a[k]) == len(v):
            a[k] = [_merge(x, y) if isinstance(x, dict) and isinstance(y, dict) else y for x, y in zip(a[k], v)]
        else:
            a[k] = v
    return a
