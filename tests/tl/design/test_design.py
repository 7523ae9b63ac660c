"""tl.design_check: depth/series confounds, sex, technical fields and pair checks.

Synthetic cohorts where the answer is known (a depth- and series-confounded contrast vs a
balanced one; a mismatched pair among good pairs) and the real GSE126848 / GSE77314.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import mgtranscript as mg
from mgtranscript.errors import InputDataError
from mgtranscript.tl import DESIGN_COLUMNS, PAIR_COLUMNS, Y_GENES

from support import real_cohorts


def design_check(adata, **kw) -> pd.DataFrame:
    """tl.design_check stores its tables (it returns None); its checks table, read with get.design."""
    key = kw.setdefault("key_added", "design_check")
    assert mg.tl.design_check(adata, **kw) is None
    return mg.get.design(adata, key)


def infer_sex(adata, **kw) -> pd.DataFrame:
    """tl.infer_sex stores its table (it returns None), read with get.sex."""
    assert mg.tl.infer_sex(adata, **kw) is None
    return mg.get.sex(adata)

SEX_GENES = ["XIST", *Y_GENES]


def _counts_to_adata(counts: np.ndarray, genes: list[str], obs: pd.DataFrame) -> ad.AnnData:
    a = ad.AnnData(np.log2((counts + 0.5) / counts.sum(1, keepdims=True) * 1e6), obs=obs,
                   var=pd.DataFrame(index=genes))
    a.layers["counts"] = counts.astype(float)
    return a


def _base_means(rng, n_genes: int) -> np.ndarray:
    m = np.exp(rng.normal(3.0, 1.5, size=n_genes))
    return m / m.sum()


def cohort(confounded: bool, n: int = 20, seed: int = 0) -> ad.AnnData:
    """Two groups of n. Confounded: the controls were sequenced at ~26 M reads in one series
    (ids 08xx, another instrument), the cases at ~13 M in another (ids 2xxx-4xxx).
    Balanced: the same depth, ids and instrument for both."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(400)] + SEX_GENES
    p = _base_means(rng, len(genes) - len(SEX_GENES))
    grp = np.repeat(["control", "case"], n)
    male = rng.random(2 * n) < 0.5
    if confounded:
        depth = np.where(grp == "control", 26e6, 13e6) * rng.lognormal(0, 0.15, 2 * n)
        ids = np.where(grp == "control", rng.choice(np.arange(860, 920), 2 * n, replace=False),
                       rng.choice(np.arange(2600, 4100), 2 * n, replace=False))
        instrument = np.where(grp == "control", "NextSeq 500", "HiSeq 2500")
    else:
        depth = 20e6 * rng.lognormal(0, 0.15, 2 * n)
        ids = rng.permutation(np.arange(1000, 1000 + 2 * n))
        instrument = np.array(["NextSeq 500"] * (2 * n))
    counts = np.zeros((2 * n, len(genes)))
    for i in range(2 * n):
        counts[i, :400] = rng.poisson(p * depth[i] * 0.98)
        sex = (np.array([0.0] + [2e-5] * 5) if male[i] else np.array([2e-4] + [0.0] * 5)) * depth[i]
        counts[i, 400:] = rng.poisson(sex)
    obs = pd.DataFrame({"condition": grp, "description": [f"{v:04d}" for v in ids],
                        "instrument_model": instrument, "submission_date": "Feb 21 2019",
                        "gender": np.where(male, "Male", "Female")},
                       index=[f"GSM{100 + i}" for i in range(2 * n)])
    return _counts_to_adata(counts, genes, obs)


def test_depth_and_series_confounded_contrast_is_flagged():
    a = cohort(confounded=True)
    t = design_check(a, groupby="condition", group="case", reference="control")
    assert list(t.columns) == DESIGN_COLUMNS
    rows = t.set_index("variable")
    lib = t[t["check"] == "library_size"].iloc[0]
    assert lib["flagged"] and lib["pval"] < 1e-6
    import re

    m = re.search(r"median (\d+\.\d) M \(control\) vs (\d+\.\d) M \(case\)", lib["effect"])
    assert m and 22 < float(m.group(1)) < 31 and 10 < float(m.group(2)) < 16
    assert lib["caveat"].startswith("library sizes differ")
    ids = rows.loc["description (number ranges)"]
    assert ids["flagged"] and "perfect separation" in ids["effect"]
    assert "different sample-id series" in ids["caveat"]
    inst = rows.loc["instrument_model"]
    assert inst["flagged"] and "HiSeq 2500" in inst["caveat"]
    assert not rows.loc["submission_date", "flagged"] and "all samples" in rows.loc["submission_date", "effect"]
    # every flagged row has a caveat, every other row none; all caveats joined in uns
    assert (t["caveat"].str.len() > 0).tolist() == t["flagged"].tolist()
    joined = mg.get.params(a, "design_check")["caveat"]
    assert "library sizes differ" in joined and "sample-id series" in joined
    assert a.uns["design_check"]["params"]["contrast"] == "case vs control"


def test_balanced_contrast_is_not_flagged():
    a = cohort(confounded=False)
    t = design_check(a, groupby="condition", group="case", reference="control")
    assert not t["flagged"].any(), t.loc[t["flagged"], ["check", "effect"]]
    assert mg.get.params(a, "design_check")["caveat"] == ""
    assert set(t["check"]) >= {"library_size", "norm_factor", "top_share", "sex_inferred", "sex_recorded",
                               "sex_mismatch", "technical"}


def test_sex_inference_and_recorded_sex_mismatch():
    a = cohort(confounded=False, seed=3)
    s = infer_sex(a)
    truth = np.where(a.obs["gender"] == "Male", "male", "female")
    assert (s["inferred_sex"].to_numpy() == truth).all()
    a.obs.loc["GSM100", "gender"] = "Female" if truth[0] == "male" else "Male"  # a metadata error
    t = design_check(a, groupby="condition", group="case", reference="control", key_added="dc")
    mm = t[t["check"] == "sex_mismatch"].iloc[0]
    assert mm["flagged"] and mm["statistic"] == 1 and "GSM100" in mm["caveat"]
    samples = mg.get.design(a, "dc", table="samples")
    assert samples.loc["GSM100", "recorded_sex"] != samples.loc["GSM100", "inferred_sex"]


def test_all_levels_and_errors():
    a = cohort(confounded=True)
    a.obs["age"] = np.where(a.obs["condition"] == "case", 65.0, 40.0) + np.random.default_rng(1).normal(0, 3, a.n_obs)
    t = design_check(a, groupby="condition")
    age = t[t["check"] == "age"].iloc[0]
    assert age["flagged"] and "age median" in age["effect"]
    assert t[t["check"] == "library_size"].iloc[0]["test"] == "Mann-Whitney U"
    with pytest.raises(InputDataError, match="not a level"):
        design_check(a, groupby="condition", group="NASH")
    with pytest.raises(InputDataError, match="obs has no column"):
        design_check(a, groupby="stage")
    out = mg.tl.design_check(a, groupby="condition", copy=True, key_added="x")
    assert "x" in out.uns and "x" not in a.uns


# ---------------------------------------------------------------------------------------
# pairs
# ---------------------------------------------------------------------------------------


def paired_cohort(n_pairs: int = 24, seed: int = 7) -> ad.AnnData:
    """Tumour/normal pairs; individual-specific expression (genotype) on 150 genes.

    Pair P3: the normal is female, the 'tumour' is a male sample of another person
    (conflict). Pair P5: the normal is male, the 'tumour' is from another, female person
    (suspect, and no shared identity). Pair P7: a true pair whose tumour lost chrY
    (chrY reduced, identity shared: not flagged)."""
    rng = np.random.default_rng(seed)
    n_id, n_noise = 150, 300
    genes = [f"ID{i}" for i in range(n_id)] + [f"G{i}" for i in range(n_noise)] + SEX_GENES
    p = _base_means(rng, n_id + n_noise)
    n_people = n_pairs + 2
    geno = rng.normal(0, 0.8, size=(n_people, n_id))  # log-scale individual effects
    male = rng.random(n_people) < 0.5
    male[[3, 5, 7]] = [False, True, True]
    male[n_pairs], male[n_pairs + 1] = True, False  # the two intruders: a man and a woman
    tumour_shift = rng.normal(0, 0.7, n_id + n_noise)

    def sample(person, tumour, loss_y=False):
        mu = p.copy()
        mu[:n_id] *= np.exp(geno[person])
        if tumour:
            mu *= np.exp(tumour_shift)
        mu = mu / mu.sum() * 20e6 * 0.98
        c = rng.poisson(mu * rng.lognormal(0, 0.2, mu.size))
        sex = np.array([0.0] + [2e-5] * 5) if male[person] else np.array([2e-4] + [0.0] * 5)
        if loss_y:
            sex = sex * 0.05
        return np.r_[c, rng.poisson(sex * 20e6)]

    rows, obs = [], []
    for k in range(n_pairs):
        rows.append(sample(k, False))
        obs.append({"condition": "normal", "pair_id": f"P{k}"})
        person = {3: n_pairs, 5: n_pairs + 1}.get(k, k)
        rows.append(sample(person, True, loss_y=(k == 7)))
        obs.append({"condition": "tumour", "pair_id": f"P{k}"})
    obs = pd.DataFrame(obs, index=[f"S{i}" for i in range(len(obs))])
    return _counts_to_adata(np.array(rows, dtype=float), genes, obs)


def test_mismatched_pairs_are_flagged_among_good_pairs():
    a = paired_cohort()
    t = design_check(a, groupby="condition", group="tumour", reference="normal", paired_by="pair_id")
    pairs = mg.get.design(a, table="pairs").set_index("pair")
    assert list(mg.get.design(a, table="pairs").columns) == PAIR_COLUMNS
    assert pairs.loc["P3", "sex_status"] == "conflict" and pairs.loc["P3", "flagged"]
    assert "cannot gain a Y chromosome" in pairs.loc["P3", "reason"]
    assert pairs.loc["P5", "sex_status"] == "suspect" and pairs.loc["P5", "flagged"]
    assert pairs.loc["P5", "identity_pval"] > 0.05
    assert pairs.loc["P7", "sex_status"] == "chrY reduced" and not pairs.loc["P7", "flagged"]
    assert pairs.loc["P7", "identity_pval"] <= 0.05 and pairs.loc["P7", "identity_rank"] == 1
    good = pairs.drop(index=["P3", "P5"])
    assert not good["flagged"].any(), good.loc[good["flagged"], "reason"]
    assert (good["identity_rank"] == 1).mean() > 0.8
    row = t[t["check"] == "pairs"].iloc[0]
    assert row["flagged"] and row["statistic"] == 2 and "P3" in row["caveat"] and "P5" in row["caveat"]


def test_pairs_need_a_contrast():
    a = paired_cohort(n_pairs=10)
    design_check(a, groupby="condition", paired_by="pair_id", reference="normal")
    assert "pairs" in a.uns["design_check"]  # two levels: the other one is the group
    a.obs.loc["S0", "condition"] = "other"
    design_check(a, groupby="condition", paired_by="pair_id", key_added="y")
    assert "pairs" not in a.uns["y"] and any("pairs" in s for s in a.uns["y"]["params"]["skipped"])


# ---------------------------------------------------------------------------------------
# real cohorts
# ---------------------------------------------------------------------------------------


@pytest.mark.network
def test_gse126848_series_and_depth_confound(mirror_server, session_cache, shared_dir):
    a = real_cohorts.load("GSE126848", mirror_server, session_cache, shared_dir)
    t = design_check(a, groupby="condition", group="NASH", reference="healthy").set_index("check")
    print(t[["variable", "effect", "pval", "flagged"]])
    assert t.loc["library_size", "flagged"]  # measured: median 25.5 M vs 13.1 M, p 2e-5
    assert "25.5 M (healthy)" in t.loc["library_size", "effect"] and "13.1 M (NASH)" in t.loc["library_size", "effect"]
    ids = t[t["variable"] == "description (number ranges)"].iloc[0]
    assert ids["flagged"] and "perfect separation" in ids["effect"]
    assert "869–910" in ids["caveat"]
    caveat = mg.get.params(a, "design_check")["caveat"]
    assert "library sizes differ" in caveat and "sample-id series" in caveat
    # all four levels: healthy/obese vs NAFL/NASH is the split
    t4 = design_check(a, groupby="condition", key_added="all").set_index("check")
    assert "(healthy, obese)" in t4.loc["library_size", "effect"].replace("(obese, healthy)", "(healthy, obese)")
    assert t4.loc["sex_recorded", "flagged"]  # controls are all male
    # the same series holds NAFL and NASH: that contrast is clean, but for one library far below
    # its group's depth (GSM3615322: 1.7 M reads among ~13 M)
    t2 = design_check(a, groupby="condition", group="NASH", reference="NAFL", key_added="nn")
    assert list(t2.loc[t2["flagged"], "check"]) == ["library_outlier"]
    out = t2[t2["check"] == "library_outlier"].iloc[0]
    assert out["statistic"] == 1 and "GSM3615322 (NASH) 1.7 M" in out["caveat"]
    assert "batch_aliased" not in set(t2["check"])  # one series: nothing aliased
    # NASH vs healthy: aliased with the series, and the series dominates the biology inside it
    batch = t.loc["batch_aliased"]
    assert batch["flagged"] and "sample-id series (description)" in batch["variable"]
    import re

    m = re.search(r"([\d,]+) of ([\d,]+) expressed genes \((\d+)%\) differ across the boundary", batch["caveat"])
    assert m and int(m.group(3)) >= 30, batch["caveat"]
    assert "NASH vs NAFL" in batch["caveat"] and "obese vs healthy" in batch["caveat"]
    assert batch["risk_of_bias"].startswith("confounding by a batch that dominates")


@pytest.mark.network
def test_gse77314_pair_checks(mirror_server, session_cache, shared_dir):
    a = real_cohorts.load("GSE77314", mirror_server, session_cache, shared_dir)
    t = design_check(a, groupby="condition", group="hcc_tumour", reference="hcc_nontumour",
                           paired_by="pair_id")
    pairs = mg.get.design(a, table="pairs").set_index("pair")
    print(pairs.loc[pairs["flagged"], ["reference_sample", "group_sample", "sex_status", "identity_pval", "reason"]])
    assert len(pairs) == 50
    p45 = pairs.loc["GSE77314_P45"]
    assert (p45["reference_sample"], p45["group_sample"]) == ("GSM2049101", "GSM2049151")
    assert p45["sex_status"] == "suspect" and p45["flagged"] and "XIST" in p45["reason"]
    # tumours that only lost chrY but share the patient's identity genes are not flagged
    chr_y = pairs[pairs["sex_status"] == "chrY reduced"]
    assert len(chr_y) >= 3 and (~chr_y["flagged"] | (chr_y["identity_pval"] > 0.5)).all()
    # the declared pairing is supported as a whole: most partners are each other's best match
    assert (pairs["identity_rank"] == 1).mean() > 0.5
    assert pairs["flagged"].sum() <= 3
    row = t[t["check"] == "pairs"].iloc[0]
    assert row["flagged"] and "GSE77314_P45" in row["caveat"]
    # tumour vs non-tumour RNA composition (albumin-heavy normals) is reported, with that reading
    nf = t[t["check"] == "norm_factor"].iloc[0]
    assert nf["flagged"] and "normalisation" in nf["caveat"]
    assert nf["risk_of_bias"].startswith("RNA composition shift")
    # the pairing is declared by GSM order (no patient id in the metadata): a risk of bias,
    # naming the pairs the checks do not support
    dec = t[t["check"] == "pairing_declared"].iloc[0]
    assert dec["flagged"] and "sample order" in dec["caveat"] and "GSE77314_P45" in dec["caveat"]
    assert dec["risk_of_bias"].startswith("pairing declared, not recorded")
    assert row["risk_of_bias"] == ""  # the pairs row itself is a caveat (counted once, above)


def test_without_counts_sex_from_log_expression_and_skipped_checks_are_said():
    a = cohort(confounded=False, seed=5)
    truth = np.where(a.obs["gender"] == "Male", "male", "female")
    del a.layers["counts"]
    s = infer_sex(a)  # two-cluster split of the log values (arrays, or no counts layer)
    assert (s["inferred_sex"].to_numpy() == truth).all()
    t = design_check(a, groupby="condition", group="case", reference="control")
    assert "library_size" not in set(t["check"])
    assert any("no counts layer" in x for x in a.uns["design_check"]["params"]["skipped"])
    a.obs["lib_size"] = 20e6
    t = design_check(a, groupby="condition", group="case", reference="control")
    lib = t[t["check"] == "library_size"].iloc[0]
    assert not lib["flagged"] and "all samples" in lib["effect"]


def test_design_audit_results_write_to_h5ad(tmp_path):
    """The audit's uns entry (samples, pairs, table) survives write_h5ad, with or without a
    recorded sex (no None objects)."""
    a = cohort(confounded=True)
    b = a.copy()
    b.obs = b.obs.drop(columns=["gender"])
    for x in (a, b):
        design_check(x, groupby="condition", group="case", reference="control")
        x.write_h5ad(tmp_path / "x.h5ad")
        back = ad.read_h5ad(tmp_path / "x.h5ad")
        assert list(mg.get.design(back)["check"]) == list(mg.get.design(x)["check"])
        pd.testing.assert_frame_equal(mg.get.design(back, table="samples"), mg.get.design(x, table="samples"),
                                      check_dtype=False)
