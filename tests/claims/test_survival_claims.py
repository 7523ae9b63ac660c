"""Survival claims (L8) end to end: the PH check of the voted Cox model reaches the evidence and
the verdict, and a run with TCGA-LIHC from a strict fake of today's GDC API (the session's real run)."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mgtranscript.claims import build_evidence, judge, load_claims
from mgtranscript.claims._table import CERTAINTY_LEVELS
from mgtranscript.pipeline import CohortResult
from mgtranscript.pipeline._survival import PH_CHECK, survival_rows

from support.paths import DATA


def _cohort(name: str) -> ad.AnnData:
    """tests/data/<name> (R reference inputs) as tumours with SLC41A3 = the feature."""
    inp = pd.read_csv(DATA / name / "input.tsv", sep="\t", index_col=0)
    obs = pd.DataFrame({"os_days": inp["time"].astype(float), "os_event": pd.array(inp["event"], dtype="Int64"),
                        "condition": "hcc_tumour", "patient_id": inp.index.str[:12]}, index=inp.index)
    if "age" in inp:
        obs["age_at_diagnosis"] = inp["age"].astype(float)
    return ad.AnnData(inp[["x"]].to_numpy(dtype=float), obs=obs, var=pd.DataFrame(index=["SLC41A3"]))


def _judge(adata, cohort: str, tmp_path):
    claims = load_claims()
    claims = claims[claims["claim_id"] == "L8"]
    result = CohortResult(accession=cohort)
    eff = pd.DataFrame(survival_rows(adata, cohort, "HCC", claims, result))
    ev = build_evidence(eff, claims=claims)
    with_ph = judge(ev, claims=claims, design=result.design).verdicts.set_index("claim_id").loc["L8"]
    without = judge(ev, claims=claims).verdicts.set_index("claim_id").loc["L8"]
    return eff, ev, result, with_ph, without


def test_a_ph_violation_of_the_voted_model_is_a_caveat_and_lowers_certainty(tmp_path):
    eff, ev, result, v, plain = _judge(_cohort("survival_ph"), "TCGA-PH", tmp_path)
    prim = eff[eff["scenario"] == "primary"].iloc[0]
    assert "PH test (Schoenfeld, rank time) p" in prim["test"] and "proportional hazards violated" in prim["note"]
    row = result.design.set_index("check").loc[PH_CHECK]
    assert bool(row["flagged"]) and row["contrast"] == "survival" and row["pval"] < 1e-6
    evid = ev[(ev["claim_id"] == "L8") & (ev["scenario"] == "primary")].iloc[0]
    assert evid["included"] and "PH test" in evid["test"]  # the PH check is in the evidence
    assert v["verdict"] == plain["verdict"] == "supported"  # the direction stands ...
    assert "TCGA-PH: survival by SLC41A3: proportional hazards violated" in v["caveats"]  # ... with a caveat
    assert CERTAINTY_LEVELS.index(v["certainty"]) == CERTAINTY_LEVELS.index(plain["certainty"]) + 1
    assert "risk of bias: the voted Cox model violates proportional hazards (TCGA-PH)" in v["reason"]


def test_no_caveat_when_the_voted_model_satisfies_ph(tmp_path):
    eff, ev, result, v, plain = _judge(_cohort("survival"), "TCGA-OK", tmp_path)
    row = result.design.set_index("check").loc[PH_CHECK]
    assert not bool(row["flagged"]) and row["pval"] > 0.05 and row["caveat"] == ""
    assert v["certainty"] == plain["certainty"] and "proportional hazards" not in v["caveats"]


@pytest.fixture(scope="module")
def tcga_run(real_run):
    """The session's real run (tests/conftest.py): TCGA-LIHC from the strict fake GDC (a field it does
    not know is an HTTP 400), beside the mirror's GEO cohorts."""
    return real_run.out, real_run.gdc


@pytest.mark.slow
def test_run_on_tcga_gives_l8_with_the_ph_check_in_its_evidence(tcga_run):
    out, gdc = tcga_run
    t = lambda name: pd.read_csv(out / "tables" / f"{name}.tsv", sep="\t")  # noqa: E731
    assert t("cohorts").set_index("accession").loc["TCGA-LIHC", "status"] == "analysed"
    v = t("claims").set_index("claim_id").loc["L8"]
    assert v["verdict"] == "supported" and v["effect_kind"] == "hazard_ratio" and v["effect"] > 1
    ev = t("claims_evidence")
    l8 = ev[(ev["claim_id"] == "L8") & (ev["cohort"] == "TCGA-LIHC")].set_index("scenario")
    assert bool(l8.loc["primary", "included"]) and "PH test (Schoenfeld, rank time) p" in l8.loc["primary", "test"]
    adjusted = [s for s in l8.index if s.startswith("adjusted")]
    assert adjusted and "PH test" in l8.loc[adjusted[0], "test"]  # the adjusted model's own test
    design = t("design")
    ph = design[(design["cohort"] == "TCGA-LIHC") & (design["check"] == PH_CHECK)].iloc[0]
    assert ph["contrast"] == "survival" and ph["variable"] == "SLC41A3" and 0 < ph["pval"] <= 1
    assert bool(ph["flagged"]) == (ph["pval"] < 0.05)
    surv = t("survival").iloc[0]
    assert surv["n"] == 57 and surv["n_excluded"] == 3 and "dead without days_to_death" in surv["excluded"]
    eff = t("effects")
    note = eff[(eff["analysis"] == "survival") & (eff["scenario"] == "primary")].iloc[0]["note"]
    assert "3 patients without survival left out" in note
    # the data release and the GDC queries are in the provenance
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["data_releases"] == {"TCGA-LIHC": "Data Release 45.0 - June 29, 2026"}
    files = [f for f in prov["inputs"] if f["url"] == "https://api.gdc.cancer.gov/files"]
    assert files and "STAR - Counts" in files[0]["query"] and len(files[0]["sha256"]) == 64
    data = [f for f in prov["inputs"] if f["url"].startswith("https://api.gdc.cancer.gov/data/")]
    assert len(data) == 74 and all(np.isfinite(f["bytes"]) and len(f["sha256"]) == 64 for f in data)
    # nothing the strict API would refuse was asked
    for name in ("files", "cases"):
        for body in gdc.requests("POST", f"/{name}"):
            assert set(str(body.get("fields", "")).split(",")) - {""} <= gdc.known_fields(name)
