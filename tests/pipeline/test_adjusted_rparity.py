"""Covariate-adjusted estimates of the plan against R (tests/r/make_reference_adjusted.R):
GSE167523 NASH vs NAFL, whose groups differ in sex (26/47 vs 8/51 female) and age (median 62
vs 50). The design audit asks for both covariates; the adjusted standardised difference must
equal R's lm, and voom/limma with the covariates in the design R's limma."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

import mgtranscript as mg

from support import real_cohorts
from support.paths import DATA


REF = DATA / "adjusted" / "reference.tsv"
CONTRAST = {"groupby": "condition", "group": "NASH", "reference": "NAFL", "paired_by": None,
            "tag": "condition:NASH|NAFL"}


class _Result:
    def __init__(self):
        self.tables: dict[str, list] = {}

    def append(self, name, df):
        self.tables.setdefault(name, []).append(df)


@pytest.fixture(scope="module")
def gse167523(mirror_server, session_cache, shared_dir):
    from mgtranscript.pipeline._design import audit_contrasts

    a = real_cohorts.load("GSE167523", mirror_server, session_cache, shared_dir)
    res = _Result()
    covs = audit_contrasts(a, "GSE167523", [CONTRAST], res)
    return a, covs, pd.concat(res.tables["design"])


def _ref(analysis: str) -> pd.DataFrame:
    ref = pd.read_csv(REF, sep="\t")
    return ref[ref["analysis"] == analysis].set_index("gene")


@pytest.mark.network
def test_audit_asks_for_sex_and_age_and_marks_them_adjusted(gse167523):
    a, covs, design = gse167523
    assert covs == {"condition:NASH|NAFL": ["covariate_sex", "covariate_age"]}
    assert a.obs["covariate_sex"].value_counts().to_dict() == {"male": 64, "female": 34}  # recorded gender
    rows = design.set_index("check")
    for chk in ("sex_recorded", "age"):
        assert rows.loc[chk, "flagged"] and rows.loc[chk, "risk_of_bias"] == ""
        assert "adjusted for in the primary estimates" in rows.loc[chk, "caveat"]


@pytest.mark.network
@pytest.mark.parametrize("analysis,covariates", [("lm_sex_age", ["covariate_sex", "covariate_age"]),
                                                 ("lm_sex", ["covariate_sex"])])
def test_adjusted_standardised_difference_matches_r_lm(gse167523, analysis, covariates):
    a, _, _ = gse167523
    ref = _ref(analysis)
    mg.tl.compare(a, groupby="condition", reference="NAFL", groups=["NASH"], genes=list(ref.index),
                  covariates=covariates, key_added="adj")
    got = mg.get.compare(a, "adj").set_index("feature")
    for g, r in ref.iterrows():
        # mgtranscript harmonises gene symbols before TMM: log-CPM differ from R's by ~1e-4
        np.testing.assert_allclose(got.loc[g, ["adj_g", "adj_g_ci_low", "adj_g_ci_high"]].to_numpy(float),
                                   [r.estimate, r.ci_low, r.ci_high], atol=2e-3, err_msg=f"{analysis} {g}")
        assert np.log10(got.loc[g, "adj_pval"]) == pytest.approx(np.log10(r.pval), abs=0.01), g
        assert got.loc[g, "adj_df"] == r.df
    # SLC41A1: unadjusted g +0.67 (p 0.001); the sex and age imbalance carry much of it
    assert got.loc["SLC41A1", "hedges_g"] > 0.6 and got.loc["SLC41A1", "adj_g"] < 0.5


@pytest.mark.network
def test_voom_with_the_covariates_in_the_design_matches_r_limma(gse167523):
    from mgtranscript.pipeline._steps import de_tables as _de

    a, covs, _ = gse167523
    tables = _de(a, CONTRAST, covs[CONTRAST["tag"]])
    de, text, unadj = tables["DE: voom"]
    assert text.endswith("adjusted for sex, age")
    for analysis, tab in (("voom_sex_age", de), ("voom_none", unadj)):
        ref = _ref(analysis)
        got = tab.set_index("gene")
        for g, r in ref.iterrows():
            assert got.loc[g, "log2fc"] == pytest.approx(r.estimate, abs=2e-3), (analysis, g)
            assert np.log10(got.loc[g, "pval"]) == pytest.approx(np.log10(r.pval), abs=0.02), (analysis, g)
            assert np.log10(got.loc[g, "padj"]) == pytest.approx(np.log10(r.padj), abs=0.03), (analysis, g)
    # the numbers: SLC41A1 +0.33 (adj. p 0.008) unadjusted; +0.16 (0.25) for sex and age;
    # R with sex alone gives +0.21 (0.13)
    s = de.set_index("gene").loc["SLC41A1"]
    u = unadj.set_index("gene").loc["SLC41A1"]
    assert u["log2fc"] == pytest.approx(0.33, abs=0.01) and u["padj"] < 0.01
    assert s["log2fc"] < 0.2 and s["padj"] > 0.1
    assert _ref("voom_sex").loc["SLC41A1", "estimate"] == pytest.approx(0.205, abs=0.002)
