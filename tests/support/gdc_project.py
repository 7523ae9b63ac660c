"""The synthetic TCGA-LIHC served by ``tests/support/gdc_server.py``, in today's GDC layout (test helper).

Built from ``seed``: 60 primary tumours (01), 12 of those patients also with a
solid-tissue normal (11), one recurrent tumour (02) and one blood-derived normal (10)
from tumour patients; ~300 genes (the 48 Mg genes of ``gene_sets/magnesium_genes.tsv``
with their Ensembl ids, PTPRC, ALB, reference genes, synthetic fillers). A latent risk
``z`` per patient raises SLC41A3 in the tumour and the hazard of death (so worse
survival with high SLC41A3 is recoverable); PTP4A3 and SLC41A3 are higher, CNNM4 and ALB
lower in tumour than in normal tissue. ``duplicate_aliquot`` adds a second RNA aliquot
(its own file) of the first patient's tumour sample.

Records follow today's API (after Data Dictionary 3.4.4 / 4.0.3, API 8.3.0 / 8.5.0; see
``../shared/reference/gdc/SOURCES.md``): samples carry ``sample_type`` and the aliquots
under ``portions[].analytes[].aliquots[]`` but no ``sample_type_id``; ``demographic``
has ``sex_at_birth`` (no ``gender``), ``vital_status`` and ``days_to_death``; diagnoses
carry no ``vital_status``/``days_to_death``; follow-up days live in several
``follow_ups[].days_to_follow_up`` (data release 42 moved TCGA's there), the latest
contact sometimes there, sometimes in ``diagnoses[].days_to_last_follow_up``; risk
factors and comorbidities under ``follow_ups[].other_clinical_attributes[]``.

``truth[patient]`` holds what a correct reader must find: ``kind`` (etiology, see
``KIND`` in ``tests/datasets/test_gdc.py``), ``stage``, ``dead``, ``os_days`` (NaN when
the record cannot give overall survival), ``why`` (the reason then), ``sex``.
"""

from __future__ import annotations

import copy
import hashlib
import math
import uuid

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



def _aliquot(barcode: str, portion: str, rng: np.random.Generator) -> str:
    plate = "A" + "".join(rng.choice(list("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"), 3))
    return f"{barcode}-{portion}R-{plate}-07"


def _file(rng, extra, genes, lengths, log_mean, idx, par_y, p, pi, code, stype, barcode, aliquot) -> dict:
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
    return {
        "file_id": fid, "file_name": f"{fid}.rna_seq.augmented_star_gene_counts.tsv",
        "data": data, "md5sum": hashlib.md5(data).hexdigest(), "counts": counts,
        "patient": pi, "barcode": barcode, "aliquot": aliquot, "code": code,
        "sample_type": stype, "sample_id": _uuid(rng), "aliquot_id": _uuid(extra),
        "tissue_type": {"01": "Tumor", "02": "Tumor", "11": "Normal"}.get(code, "Not Reported"),
    }


def _follow_ups(pid: str, last: float, extra: np.random.Generator):
    """(diagnosis days_to_last_follow_up, follow_ups[]) whose latest contact is ``last``."""
    where = extra.integers(0, 3)  # 0: latest in follow_ups only; 1: in both; 2: on the diagnosis
    n_fu = int(extra.integers(1, 4))
    days = sorted(int(round(last * u)) for u in extra.uniform(0.2, 0.95, n_fu))
    if where in (0, 1):
        days[-1] = int(round(last))
    diag = None if where == 0 else (int(round(last)) if where == 2 else int(round(last * extra.uniform(0.3, 0.9))))
    fus = [{"follow_up_id": _uuid(extra), "submitter_id": f"{pid}_follow_up{k or ''}", "days_to_follow_up": d,
            "state": "released"} for k, d in enumerate(days)]
    return (float(diag) if diag is not None else None), fus


def build(seed: int, n_tumour: int, n_paired: int, duplicate_aliquot: bool) -> dict:
    """The project: genes, patients, files, cases, truth, recurrent/blood patient indices."""
    rng = np.random.default_rng(seed)
    extra = np.random.default_rng(seed + 1)  # new fields: leaves the counts and survival draws alone
    genes = []
    for k, (sym, ens) in enumerate(NAMED_GENES):
        genes.append((f"{ens}.{k % 17 + 1}", sym, "protein_coding"))
        if sym == "TSPAN6":  # a PAR_Y copy as in real files (all zero there)
            genes.append(("ENSG00000002586.20", "CD99", "protein_coding"))
            genes.append(("ENSG00000002586.20_PAR_Y", "CD99", "protein_coding"))
    for k in range(N_FILLER):
        genes.append((f"ENSG{990000000 + k:011d}.1", f"SYNTH{k:03d}",
                      "lncRNA" if k % 5 == 0 else "protein_coding"))
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

    samples = [(i, "01", "Primary Tumor") for i in range(n_tumour)]
    samples += [(i, "11", "Solid Tissue Normal") for i in range(n_paired)]
    recurrent, blood = n_paired, n_paired + 1
    samples += [(recurrent, "02", "Recurrent Tumor"), (blood, "10", "Blood Derived Normal")]
    files: dict[str, dict] = {}
    for pi, code, stype in samples:
        barcode = f"{patients[pi]['patient_id']}-{code}A"
        f = _file(rng, extra, genes, lengths, log_mean, idx, par_y, patients[pi], pi, code, stype, barcode,
                  _aliquot(barcode, "11", extra))
        files[f["file_id"]] = f
    if duplicate_aliquot:  # a second RNA aliquot of patient 0's tumour sample, its own file
        barcode = f"{patients[0]['patient_id']}-01A"
        f = _file(np.random.default_rng(seed + 2), extra, genes, lengths, log_mean, idx, par_y, patients[0], 0, "01",
                  "Primary Tumor", barcode, _aliquot(barcode, "21", extra))
        files[f["file_id"]] = f

    kinds = ["hbv", "hcv", "alcohol", "nafld", "alcohol+hbv", "none", "not_reported",
             "hemochromatosis", "missing"]
    weights = np.array([5, 4, 5, 2, 2, 1, 2, 1, 2], dtype=float)
    cases: list[dict] = []
    truth: dict[str, dict] = {}
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
        # the draws below keep the order of earlier versions of this project (same patients)
        demographic_id, male, diagnosis_id = _uuid(rng), rng.random() < 0.68, _uuid(rng)
        grade, exposure_id = int(rng.integers(1, 5)), _uuid(rng)
        alcohol_yes = "alcohol" in kind or rng.random() < 0.3
        follow_up_id = _uuid(rng)
        oca = [] if kind == "missing" else [{"other_clinical_attribute_id": _uuid(rng),
                                             "submitter_id": f"{p['patient_id']}_oca", **_risk_attrs(kind)}]
        last = float(round(t_event if dead else t_censor))
        diag_last, fus = _follow_ups(p["patient_id"], min(t_event, t_censor), extra)
        fus[0].update(follow_up_id=follow_up_id, other_clinical_attributes=oca)
        case = {
            "id": p["case_id"], "case_id": p["case_id"], "submitter_id": p["patient_id"],
            "demographic": {
                "demographic_id": demographic_id, "submitter_id": f"{p['patient_id']}_demographic",
                "sex_at_birth": "male" if male else "female",
                "vital_status": "Dead" if dead else "Alive",
                "days_to_death": int(round(t_event)) if dead else None,
                "age_at_index": int(age_years), "state": "released",
            },
            "diagnoses": [{
                "diagnosis_id": diagnosis_id, "submitter_id": f"{p['patient_id']}_diagnosis",
                "primary_diagnosis": "Hepatocellular carcinoma, NOS", "morphology": "8170/3",
                "ajcc_pathologic_stage": stage, "tumor_grade": f"G{grade}",
                "age_at_diagnosis": int(age_years * 365.25), "days_to_last_follow_up": diag_last,
                "classification_of_tumor": "primary", "diagnosis_is_primary_disease": True,
                "tissue_or_organ_of_origin": "Liver", "state": "released",
            }],
            "exposures": [{"exposure_id": exposure_id, "submitter_id": f"{p['patient_id']}_exposure",
                           "alcohol_history": "Yes" if alcohol_yes else "No",
                           "alcohol_intensity": "Not Reported"}],
            "follow_ups": fus,
        }
        cases.append(case)
        truth[p["patient_id"]] = {"kind": kind, "stage": stage, "dead": bool(dead), "os_days": last,
                                  "why": None, "z": p["z"], "sex": "male" if male else "female"}
    out = {"genes": genes, "patients": patients, "files": files, "cases": cases, "truth": truth,
           "recurrent_patient": recurrent, "blood_patient": blood}
    _special_cases(out)
    return out


def _set_risk(project: dict, i: int, attrs: dict | None, *, kind: str) -> dict:
    case = project["cases"][i]
    fu = case["follow_ups"][0]
    fu["other_clinical_attributes"] = [] if attrs is None else [
        {"other_clinical_attribute_id": str(uuid.UUID(int=i + 1)),
         "submitter_id": f"{case['submitter_id']}_oca", **attrs}]
    project["truth"][case["submitter_id"]]["kind"] = kind
    return case


def _no_os(project: dict, i: int, why: str) -> dict:
    case = project["cases"][i]
    t = project["truth"][case["submitter_id"]]
    t["os_days"], t["why"] = float("nan"), why
    return case


def _special_cases(project: dict) -> None:
    """Fixed edge cases on the first patients (0-11 have an 01 and an 11 sample, 12 the 02, 13 the 10)."""
    cases, truth = project["cases"], project["truth"]
    # 0: HBV patient who drinks: alcohol_history Yes but the etiology is viral only
    c = _set_risk(project, 0, {"risk_factors": ["Hepatitis B Infection"], "risk_factor_treatment": "No"},
                  kind="hbv")
    c["exposures"][0]["alcohol_history"] = "Yes"
    c["exposures"][0]["alcohol_intensity"] = "Occasional Drinker"
    # 1: diagnoses[0] is a metastasis record (as in cases_two_diagnoses_response.json)
    c = cases[1]
    primary = c["diagnoses"][0]
    primary.update(ajcc_pathologic_stage="Stage II", tumor_grade="G3")
    truth[c["submitter_id"]]["stage"] = "Stage II"
    c["diagnoses"] = [{
        "diagnosis_id": str(uuid.UUID(int=99)), "submitter_id": f"{c['submitter_id']}_diagnosis2",
        "primary_diagnosis": "Not Reported", "morphology": "Not Reported",
        "classification_of_tumor": "metastasis", "diagnosis_is_primary_disease": False,
        "age_at_diagnosis": primary["age_at_diagnosis"] + 400, "icd_10_code": "C78.0",
        "tissue_or_organ_of_origin": "Lung, NOS", "state": "released",
    }, primary]
    # 2: deprecated lower-case alcohol_history, alcohol-related HCC
    c = _set_risk(project, 2, {"risk_factors": ["Alcohol Consumption"], "risk_factor_treatment": "Yes"},
                  kind="alcohol")
    c["exposures"][0]["alcohol_history"] = "yes"
    c["exposures"][0]["alcohol_intensity"] = "Heavy Drinker"
    # 3: ["Not Reported"] and non-risk-factor siblings: unknown, not "no risk factor"
    _set_risk(project, 3, {"risk_factors": ["Not Reported"], "risk_factor_treatment": "No",
                           "risk_factor_method_of_diagnosis": "Clinical Assessment",
                           "comorbidity_method_of_diagnosis": "Not Reported"}, kind="not_reported")
    # 4: the risk factors recorded on a later follow-up, not the first one
    c = _set_risk(project, 4, None, kind="hcv")
    c["follow_ups"].append({"follow_up_id": str(uuid.UUID(int=404)), "submitter_id": f"{c['submitter_id']}_fu9",
                            "state": "released", "other_clinical_attributes": [
                                {"submitter_id": f"{c['submitter_id']}_oca9",
                                 "risk_factors": ["Hepatitis C Infection"]}]})
    # 5: "None" recorded: no risk factor (flags False, etiology "other")
    _set_risk(project, 5, {"risk_factors": ["None"]}, kind="none")
    # 6: alcohol + HCV
    _set_risk(project, 6, {"risk_factors": ["Alcohol Consumption", "Hepatitis C Infection"]}, kind="alcohol+hcv")
    # 7: NAFLD with serology tests listed
    _set_risk(project, 7, {"risk_factors": ["Nonalcoholic Fatty Liver Disease"],
                           "viral_hepatitis_serology_tests": ["Hepatitis B Surface Antigen",
                                                              "Hepatitis C Antibody"]}, kind="nafld")
    # 8: alcoholic liver disease recorded as a comorbidity only: alcohol True, the rest unknown
    _set_risk(project, 8, {"comorbidities": ["Alcoholic Liver Disease", "Hypertension"],
                           "risk_factors": ["Not Reported"]}, kind="alcohol_comorbidity")
    # 9: no follow-ups at all (no risk factors; last contact from the diagnosis only)
    c = cases[9]
    c.pop("follow_ups")
    c["diagnoses"][0]["days_to_last_follow_up"] = truth[c["submitter_id"]]["os_days"]
    truth[c["submitter_id"]]["kind"] = "missing"
    if truth[c["submitter_id"]]["dead"]:
        c["diagnoses"][0]["days_to_last_follow_up"] = None
    # 10: vital status not reported -> no overall survival
    c = _no_os(project, 10, "vital status not reported")
    c["demographic"]["vital_status"] = "Not Reported"
    c["demographic"]["days_to_death"] = None
    # 20: a death without a date -> no overall survival (counted, not silently dropped)
    c = _no_os(project, 20, "dead without days_to_death")
    c["demographic"].update(vital_status="Dead", days_to_death=None)
    truth[c["submitter_id"]]["dead"] = True
    # 21: alive, but no follow-up day anywhere -> no overall survival
    c = _no_os(project, 21, "alive without any follow-up day")
    c["demographic"].update(vital_status="Alive", days_to_death=None)
    c["diagnoses"][0]["days_to_last_follow_up"] = None
    for fu in c["follow_ups"]:
        fu.pop("days_to_follow_up", None)
    truth[c["submitter_id"]]["dead"] = False
    # 22: only a non-liver comorbidity ("Hypertension"): the etiology stays unknown
    _set_risk(project, 22, {"comorbidities": ["Hypertension", "Diabetes"], "risk_factors": ["Not Reported"]},
              kind="hypertension_only")
    # 23: hepatitis C as a comorbidity, no risk_factors field: HCV True, the rest unknown
    _set_risk(project, 23, {"comorbidities": ["Hepatitis C Infection", "Diabetes"]}, kind="hcv_comorbidity")
    # 24, 25: sex at birth not reported
    for i in (24, 25):
        cases[i]["demographic"]["sex_at_birth"] = "not reported"
        truth[cases[i]["submitter_id"]]["sex"] = None


def copy_project(built: dict) -> dict:
    """A copy a server (or a test) may change: cases and truth deep-copied, each file's record copied."""
    out = {k: (copy.deepcopy(v) if k in ("cases", "truth") else v) for k, v in built.items()}
    out["files"] = {fid: dict(f) for fid, f in built["files"].items()}  # the bytes themselves are shared
    return out
