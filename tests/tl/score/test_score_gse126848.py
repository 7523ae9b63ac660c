"""Score a real MASLD cohort (GSE126848, served from the offline mirror) with the default set."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mgtranscript as mg


@pytest.mark.network
def test_mg_scores_on_gse126848(mirror_env):
    from mgtranscript.datasets import geo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        adata = geo("GSE126848")
    assert adata.n_obs == 57
    mg.tl.score(adata)  # default: bundled liver Mg sets, ssGSEA
    scores = mg.get.scores(adata, "mg_ssgsea")
    assert "MG_LIVER_CORE" in scores.columns
    assert np.isfinite(scores.to_numpy()).all()
    cov = mg.get.coverage(adata, "mg_ssgsea")
    core = cov.loc["MG_LIVER_CORE"]
    assert core["kept"] and core["final_size"] >= 0.8 * core["n_genes"]
    assert (cov["n_matched"] + cov["n_resolved_by_alias"] + cov["n_missing"] == cov["n_genes"]).all()
    # ssGSEA on log-CPM equals ssGSEA on the raw counts' ranks only up to ties; the
    # sample-independent score of one biopsy does not depend on the others
    one = adata[:3].copy()
    mg.tl.score(one)
    np.testing.assert_allclose(one.obsm["mg_ssgsea"].to_numpy(), scores.iloc[:3].to_numpy(), rtol=1e-12)

    # influx-minus-efflux balance and a sample-dependent method on the same data
    mg.tl.mg_balance(adata)
    assert np.isfinite(adata.obs["mg_balance"]).all()
    assert abs(adata.obs["mg_balance"].mean()) < 1e-9  # difference of centred z-score means
    mg.tl.score(adata, "magnesium:MG_LIVER_CORE", method="zscore")
    assert list(adata.obsm["mg_zscore"].columns) == ["MG_LIVER_CORE"]
