"""tl.survival / pl.survival: R survival parity, the fake TCGA-LIHC's built-in signal, errors."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mgtranscript import get, pl, settings, tl
from mgtranscript.errors import InputDataError

from support.paths import DATA


def survival(adata, feature, **kw) -> pd.DataFrame:
    """tl.survival stores its tables (it returns None); the summary, read with get.survival."""
    key = kw.setdefault("key_added", "survival")
    assert tl.survival(adata, feature, **kw) is None
    return get.survival(adata, key)

DATA = DATA / "survival"
COVARIATES = ["ajcc_pathologic_stage", "age_at_diagnosis", "etiology"]


@pytest.fixture(scope="module")
def r_data():
    inp = pd.read_csv(DATA / "input.tsv", sep="\t", index_col=0)
    ref = pd.read_csv(DATA / "reference.tsv", sep="\t", index_col=0)["value"]
    obs = pd.DataFrame({
        "os_days": inp["time"].astype(float), "os_event": pd.array(inp["event"], dtype="Int64"),
        "condition": "hcc_tumour", "patient_id": [s[:12] for s in inp.index], "score": inp["x"],
        "ajcc_pathologic_stage": inp["stage"], "age_at_diagnosis": inp["age"], "etiology": inp["etiology"],
    }, index=inp.index)
    return ad.AnnData(np.zeros((len(obs), 1)), obs=obs), ref


@pytest.fixture(scope="module")
def lihc(tmp_path_factory):
    """The fake GDC's TCGA-LIHC, loaded once for this module."""
    from support.gdc_server import GDCServer

    server = GDCServer().start()
    with settings.override(gdc_url=server.url, cache_dir=tmp_path_factory.mktemp("gdccache"), offline=False):
        from mgtranscript.datasets import load_cohort

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            adata = load_cohort("TCGA-LIHC")
    server.stop()
    return adata


def test_matches_r_survival(r_data):
    adata, ref = r_data
    df = survival(adata, "score", covariates=COVARIATES)
    row = df.iloc[0]
    assert row["n"] == ref["n"] and row["n_events"] == ref["n_events"]
    for q in ("hr_per_sd", "hr_ci_low", "hr_ci_high", "hr_adj_per_sd", "hr_adj_ci_low", "hr_adj_ci_high"):
        assert row[q] == pytest.approx(ref[q], rel=1e-4), q
    for q in ("cox_p", "cox_adj_p", "logrank_p"):
        assert row[q] == pytest.approx(ref[q], rel=1e-3), q
    assert row["cut_value"] == pytest.approx(ref["cut_value"], rel=1e-12)
    assert row["median_os_high"] == ref["median_os_high"] and row["median_os_low"] == ref["median_os_low"]
    # lifelines' Schoenfeld test is the Grambsch-Therneau form of survival < 3.0; R 3.x's
    # cox.zph uses the full score test: same verdict, not the same number
    assert row["ph_test_p"] > 0.05 and ref["ph_test_p_rank"] > 0.05
    assert abs(row["ph_test_p"] - ref["ph_test_p_rank"]) < 0.1
    assert row["adjusted_for"] == "ajcc_pathologic_stage, age_at_diagnosis, etiology"
    assert "ordinal" in row["note"] and "etiology vs viral" in row["note"]


def test_the_built_in_slc41a3_signal_is_recovered_on_tumours_one_per_patient(lihc):
    df = survival(lihc, ["SLC41A3", "CNNM4"], covariates=COVARIATES)
    s, c = df.iloc[0], df.iloc[1]
    tumours = lihc.obs[lihc.obs["condition"] == "hcc_tumour"]
    assert s["n"] == tumours["os_days"].notna().sum() == 57
    # three tumour patients have no overall survival, each said why (not silently dropped)
    assert s["n_excluded"] == 3 and sorted(s["excluded"].split("; ")) == [
        "1 alive without any follow-up day", "1 dead without days_to_death", "1 vital status not reported"]
    assert "3 patients without survival left out" in s["note"]
    assert lihc.uns["survival"]["params"]["excluded"]["dead without days_to_death"] == 1
    # the PH assumption is tested on both models, each on its own fit
    assert 0 < s["ph_test_p"] <= 1 and 0 < s["ph_adj_test_p"] <= 1 and s["penalised"] == ""
    assert s["n_events"] == int(tumours["os_event"].sum())
    assert s["hr_per_sd"] > 1.5 and s["hr_ci_low"] > 1 and s["cox_p"] < 1e-3
    assert s["logrank_p"] < 0.01 and s["median_os_high"] < s["median_os_low"]
    assert s["hr_adj_per_sd"] > 1.3 and s["cox_adj_p"] < 0.01 and 45 <= s["n_adj"] <= s["n"]
    assert c["cox_p"] > 0.05  # no effect was built into CNNM4
    km = get.survival(lihc, table="km")
    assert set(km["group"]) == {"high", "low"} and set(km["feature"]) == {"SLC41A3", "CNNM4"}
    first = km[(km["feature"] == "SLC41A3") & (km["timeline"] == 0)].set_index("group")["at_risk"]
    assert first.to_dict() == {"high": s["n_high"], "low": s["n_low"]}


def test_duplicate_tumour_samples_count_once(lihc):
    a = lihc[lihc.obs["condition"] == "hcc_tumour"].copy()
    dup = a[:1].copy()
    dup.obs_names = [a.obs_names[0][:-1] + "B"]  # a second aliquot of the first patient
    both = ad.concat([a, dup], merge="same")
    both.obs = both.obs.astype({c: "object" for c in both.obs.columns if str(both.obs[c].dtype) == "category"})
    df = survival(both, "SLC41A3")
    assert df.iloc[0]["n"] == 57 and both.uns["survival"]["params"]["n_duplicates_dropped"] == 1


@pytest.fixture(scope="module")
def ph_data():
    """A hazard ratio that reverses at day 400 (tests/r/make_reference_survival_ph.R) and R's cox.zph."""
    inp = pd.read_csv(DATA.parent / "survival_ph" / "input.tsv", sep="\t", index_col=0)
    ref = pd.read_csv(DATA.parent / "survival_ph" / "reference.tsv", sep="\t", index_col=0)["value"]
    obs = pd.DataFrame({"os_days": inp["time"].astype(float), "os_event": pd.array(inp["event"], dtype="Int64"),
                        "condition": "hcc_tumour", "patient_id": inp.index.str[:12], "score": inp["x"],
                        "age_at_diagnosis": inp["age"]}, index=inp.index)
    return ad.AnnData(np.zeros((len(obs), 1)), obs=obs), ref


def test_a_proportional_hazards_violation_is_found_on_each_model_as_r_finds_it(ph_data, r_data):
    adata, ref = ph_data
    row = survival(adata, "score", covariates=["age_at_diagnosis"]).iloc[0]
    assert row["n"] == ref["n"] and row["hr_per_sd"] == pytest.approx(ref["hr_per_sd"], rel=1e-4)
    assert row["hr_adj_per_sd"] == pytest.approx(ref["hr_adj_per_sd"], rel=1e-4)
    # R's cox.zph (rank) and lifelines agree: the plain and the adjusted model both violate PH
    assert ref["ph_test_p_rank"] < 1e-6 and row["ph_test_p"] < 1e-6 and bool(row["ph_violated"])
    assert ref["ph_adj_test_p_rank"] < 1e-6 and row["ph_adj_test_p"] < 1e-6 and bool(row["ph_adj_violated"])
    assert "proportional hazards doubtful in the Cox model" in row["note"]
    assert "proportional hazards doubtful in the adjusted Cox model" in row["note"]
    # the R data set of test_matches_r_survival satisfies PH (R: p > 0.05): no flag, no caveat there
    ok = survival(r_data[0], "score", covariates=COVARIATES, key_added="s_ok").iloc[0]
    assert r_data[1]["ph_test_p_rank"] > 0.05 and not ok["ph_violated"] and not ok["ph_adj_violated"]
    assert "proportional hazards" not in ok["note"]


def test_a_model_only_a_penalty_can_fit_is_shown_not_estimated():
    """Monotone likelihood: at every death the patient dying has the highest value still at risk."""
    n = 40
    x = np.linspace(-2, 2, n)
    dead = (x > 0).astype(int)
    days = np.where(dead == 1, 100 + (2 - x) * 100, 1000 + np.arange(n) * 10)
    obs = pd.DataFrame({"os_days": days, "os_event": pd.array(dead, dtype="Int64"), "condition": "hcc_tumour",
                        "patient_id": [f"P{i}" for i in range(n)], "g": x * 50}, index=[f"S{i}" for i in range(n)])
    row = survival(ad.AnnData(np.zeros((n, 1)), obs=obs), "g").iloc[0]
    assert np.isnan(row["hr_per_sd"]) and np.isnan(row["cox_p"])  # nothing a verdict could vote on
    assert "ridge-penalised refit" in row["penalised"] and "HR per SD" in row["penalised"]
    assert "not estimable without a penalty" in row["note"]


def test_optimal_cut_states_its_multiplicity(lihc):
    med = survival(lihc, "SLC41A3", key_added="s_med").iloc[0]
    opt = survival(lihc, "SLC41A3", cut="optimal", key_added="s_opt").iloc[0]
    assert opt["cut"] == "optimal" and opt["n_cuts"] > 10
    assert opt["logrank_p"] > opt["logrank_p_raw"] and opt["logrank_p_raw"] <= med["logrank_p"]
    assert "corrected" in opt["note"] and str(opt["n_cuts"]) in opt["note"]
    assert opt["hr_per_sd"] == pytest.approx(med["hr_per_sd"])  # the Cox model ignores the cut
    q = survival(lihc, "SLC41A3", cut=0.25, key_added="s_q").iloc[0]
    assert q["cut"] == "quantile 0.25" and q["n_high"] > 2 * q["n_low"]


def test_copy_returns_a_copy_and_results_survive_h5ad(lihc, tmp_path):
    out = tl.survival(lihc, "SLC41A3", key_added="s_copy", copy=True)
    assert isinstance(out, ad.AnnData) and "s_copy" in out.uns and "s_copy" not in lihc.uns
    path = tmp_path / "s.h5ad"
    out.write_h5ad(path)
    back = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(get.survival(back, "s_copy"), get.survival(out, "s_copy"))
    assert get.params(back, "s_copy")["time"] == "os_days"
    assert len(get.survival(back, "s_copy", table="km")) == len(get.survival(out, "s_copy", table="km"))


def test_plot_draws_curves_with_numbers_at_risk(lihc, tmp_path):
    survival(lihc, "SLC41A3", key_added="s_plot", covariates=["age_at_diagnosis"])
    fig = pl.survival(lihc, "s_plot", save=tmp_path / "km")
    assert (tmp_path / "km.png").stat().st_size > 5000 and not (tmp_path / "km.svg").exists()  # PNG by default
    pl.survival(lihc, "s_plot", save=tmp_path / "km2", svg=True)
    assert (tmp_path / "km2.svg").is_file()
    ax, table = fig.axes[:2]
    assert "survival" in ax.get_ylabel() and "days" in table.get_xlabel()
    assert "SLC41A3" in fig._suptitle.get_text() if fig._suptitle else "SLC41A3" in ax.get_title()
    row = get.survival(lihc, "s_plot").iloc[0]
    texts = [t.get_text() for t in table.texts]
    assert str(row["n_high"]) in texts and str(row["n_low"]) in texts  # at risk at time 0
    assert "HR per SD" in ax.get_title(loc="left")
    titled = pl.survival(lihc, "s_plot", title="My title")
    assert "My title" in (titled._suptitle.get_text() if titled._suptitle else titled.axes[0].get_title())


def test_clear_errors(lihc, r_data):
    with pytest.raises(InputDataError, match="only .* events"):
        survival(lihc, "SLC41A3", min_events=1000)
    with pytest.raises(InputDataError, match="os_days"):
        survival(ad.AnnData(np.zeros((3, 1)), obs=pd.DataFrame(index=list("abc"))), "x", one_per=None)
    with pytest.raises(InputDataError, match="NOTAGENE"):
        survival(lihc, "NOTAGENE")
    with pytest.raises(InputDataError, match="covariate 'stage'"):
        survival(lihc, "SLC41A3", covariates=["stage"])
    with pytest.raises(InputDataError, match="cut must be"):
        survival(lihc, "SLC41A3", cut=1.5)
    with pytest.raises(InputDataError, match="no sample has"):
        survival(lihc, "SLC41A3", group="healthy")
    with pytest.raises(InputDataError, match="constant"):
        a, _ = r_data
        a = a.copy()
        a.obs["flat"] = 1.0
        survival(a, "flat")
    with pytest.raises(InputDataError, match="pl.survival|tl.survival"):
        pl.survival(lihc, "nothing_here")
