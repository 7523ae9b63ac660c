"""Tests of mgtranscript.pl: every plot writes a decodable PNG of the expected size and an SVG."""

from __future__ import annotations

import anndata as ad
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from mgtranscript import pl
from mgtranscript.errors import InputDataError
from mgtranscript.pl._utils import DEFAULT_DPI

MG = ["TRPM7", "MAGT1", "CNNM4", "SLC41A1", "CNNM2", "NIPA2", "MRS2", "TRPM6"]


@pytest.fixture(autouse=True)
def _fresh_cache(cache):
    """Hermetic: never read the user's download cache (gene_info there would change alias matching)."""
    return cache


@pytest.fixture
def adata() -> ad.AnnData:
    rng = np.random.default_rng(0)
    n = 24
    cond = pd.Categorical(np.repeat(["healthy", "NAFL", "NASH"], 8), categories=["healthy", "NAFL", "NASH"])
    genes = MG + [f"G{i}" for i in range(40)]
    X = rng.normal(5, 1, size=(n, len(genes)))
    X[cond == "NASH", 2] -= 2.0  # CNNM4 down in NASH
    obs = pd.DataFrame({"condition": cond, "patient": [f"P{i % 8}" for i in range(n)]},
                       index=[f"S{i}" for i in range(n)])
    a = ad.AnnData(X, obs=obs, var=pd.DataFrame({"symbol": genes}, index=[f"ENSG{i:05d}" for i in range(len(genes))]))
    a.var_names = genes
    a.obsm["mg_ssgsea"] = pd.DataFrame(
        {"MG_LIVER_CORE": X[:, :8].mean(1), "MG_PM_INFLUX": X[:, [0, 3]].mean(1)}, index=a.obs_names)
    a.obsm["hallmark"] = pd.DataFrame(
        {"HALLMARK_OXIDATIVE_PHOSPHORYLATION": X[:, :8].mean(1) + rng.normal(0, 0.2, n)}, index=a.obs_names)
    return a


def _check(fig, stem):
    png, svg = stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg"
    assert png.stat().st_size > 1000 and svg.stat().st_size > 1000
    img = mpimg.imread(png)
    w, h = fig.get_size_inches()
    # figure size x dpi (matplotlib truncates fractional pixels: allow one pixel)
    assert abs(img.shape[0] - h * DEFAULT_DPI) < 1 and abs(img.shape[1] - w * DEFAULT_DPI) < 1
    assert img[..., :3].std() > 0.05  # not a blank canvas
    assert svg.read_text().lstrip().startswith("<?xml") and "</svg>" in svg.read_text()[-200:]


@pytest.mark.parametrize("kind", ["box", "violin"])
def test_scores(adata, tmp_path, kind):
    stem = tmp_path / "sub" / f"scores_{kind}"
    fig = pl.scores(adata, "mg_ssgsea", groupby="condition", kind=kind, paired_by="patient", save=stem)
    _check(fig, stem)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["MG_LIVER_CORE", "MG_PM_INFLUX"]
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["healthy\n(n=8)", "NAFL\n(n=8)", "NASH\n(n=8)"]
    fig2 = pl.scores(adata, "mg_ssgsea", sets="MG_LIVER_CORE", order=["NASH", "healthy"])
    assert [t.get_text().split("\n")[0] for t in fig2.axes[0].get_xticklabels()] == ["NASH", "healthy"]
    with pytest.raises(InputDataError, match="tl.score"):
        pl.scores(adata, "nope")


def test_heatmap(adata, tmp_path):
    stem = tmp_path / "heat"
    fig = pl.heatmap(adata, MG + ["NOT_MEASURED"], groupby="condition", save=stem)
    _check(fig, stem)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == MG
    M = ax.images[0].get_array()
    assert M.shape == (len(MG), 3)
    assert M[MG.index("CNNM4"), 2] < -0.5 < M[MG.index("CNNM4"), 0]  # planted drop shows
    with pytest.raises(InputDataError, match="gene_symbols"):
        pl.heatmap(adata, ["ZZZ"])


def test_volcano(tmp_path):
    rng = np.random.default_rng(1)
    genes = MG + [f"G{i}" for i in range(500)]
    lfc = rng.normal(0, 1, len(genes))
    p = rng.uniform(size=len(genes)) ** 3
    de = pd.DataFrame({"gene": genes, "logFC": lfc, "P.Value": p, "adj.P.Val": np.minimum(p * 5, 1)})
    stem = tmp_path / "volcano"
    fig = pl.volcano(de, highlight=MG, q=0.05, save=stem)
    _check(fig, stem)
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert labels == set(MG)
    with pytest.raises(InputDataError, match="x="):
        pl.volcano(de.drop(columns="logFC"))


def test_gsea_plot(tmp_path):
    from mgtranscript.tl.enrich import gsea_prerank, running_sum

    rng = np.random.default_rng(2)
    genes = [f"G{i}" for i in range(800)]
    ranking = pd.Series(rng.normal(size=800), index=genes)
    members = list(ranking.sort_values(ascending=False).index[:60:3])
    res = gsea_prerank(ranking, {"PLANTED": members}, permutations=50)
    stem = tmp_path / "gsea"
    fig = pl.gsea(ranking, members, result_row=res.iloc[0], save=stem)
    _check(fig, stem)
    ax1 = fig.axes[0]
    assert ax1.get_title() == "PLANTED"
    y = ax1.lines[0].get_ydata()
    assert np.max(np.abs(y)) == pytest.approx(abs(res.loc[0, "es"]), abs=1e-9)
    np.testing.assert_allclose(y, running_sum(ranking, members)[1])
    assert "NES" in ax1.texts[0].get_text()


def test_forest(tmp_path):
    per = pd.DataFrame({
        "cohort": ["GSE126848", "GSE135251", "GSE142530", "GSE28619", "GSE77314", "TCGA-LIHC"],
        "feature": "MG_LIVER_CORE",
        "group": ["MASLD", "MASLD", "ALD", "ALD", "HCC", "HCC"],
        "hedges_g": [-0.8, -0.5, -1.1, -0.7, -1.5, -1.2],
        "g_ci_low": [-1.5, -0.9, -1.9, -1.6, -1.9, -1.4],
        "g_ci_high": [-0.1, -0.1, -0.3, 0.2, -1.1, -1.0],
        "n": [57, 216, 23, 22, 100, 424],
    })
    pooled = pd.DataFrame({
        "feature": "MG_LIVER_CORE", "group": ["HCC", "MASLD", "ALD"],
        "pooled": [-1.25, -0.55, -0.9], "ci_low": [-1.45, -0.9, -1.5], "ci_high": [-1.05, -0.2, -0.3],
        "tau2": [0.0, 0.01, 0.0], "I2": [0.2, 0.1, 0.0], "k": [2, 2, 2],
    })
    stem = tmp_path / "forest"
    fig = pl.forest(per, pooled, save=stem)
    _check(fig, stem)
    assert [ax.get_title() for ax in fig.axes] == ["MASLD", "ALD", "HCC"]
    labels = [t.get_text() for t in fig.axes[2].get_yticklabels()]
    assert labels[0].startswith("GSE77314, n=100") and labels[-1].startswith("Pooled (k=2, I²=20%")
    # weights: larger, tighter cohort gets more weight
    w = [int(lab.rsplit(", ", 1)[1].rstrip("%")) for lab in labels[:2]]
    assert w[1] > w[0] and sum(w) in (99, 100, 101)
    with pytest.raises(InputDataError, match="meta_analysis"):
        pl.forest(per.drop(columns="g_ci_low"), pooled)


def test_scatter(adata, tmp_path):
    from scipy import stats

    stem = tmp_path / "scatter"
    fig = pl.scatter(adata, "mg_ssgsea", "hallmark", x_set="MG_LIVER_CORE",
                     y_set="HALLMARK_OXIDATIVE_PHOSPHORYLATION", groupby="condition", save=stem)
    _check(fig, stem)
    rho = stats.spearmanr(adata.obsm["mg_ssgsea"]["MG_LIVER_CORE"],
                          adata.obsm["hallmark"]["HALLMARK_OXIDATIVE_PHOSPHORYLATION"])[0]
    assert f"rho = {rho:.2f}" in fig.axes[0].get_title()
    assert len(fig.axes[0].get_legend().get_texts()) == 3
