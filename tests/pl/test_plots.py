"""Tests of mgtranscript.pl: figures a reviewer can paste.

Each plot writes a decodable PNG of the expected size (SVG only on request); titles and
axis labels are in words with units; labels do not overlap; legends sit outside the data;
a group has the same colour in every figure.
"""

from __future__ import annotations

import anndata as ad
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex

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
    a.uns["mg_ssgsea"] = {"params": {"method": "ssgsea"}}
    a.obsm["hallmark"] = pd.DataFrame(
        {"HALLMARK_OXIDATIVE_PHOSPHORYLATION": X[:, :8].mean(1) + rng.normal(0, 0.2, n)}, index=a.obs_names)
    return a


@pytest.fixture
def features(adata) -> pd.DataFrame:
    """The same samples as a per-sample table (AnalysisResult.features shape)."""
    df = adata.obs[["condition", "patient"]].astype(str).rename(columns={"patient": "pair_id"})
    df = df.join(adata.obsm["mg_ssgsea"]).join(adata.obsm["hallmark"])
    for g in MG:
        df[g] = np.asarray(adata[:, g].X, dtype=float).ravel()
    return df


def _check(fig, stem, *, svg=False):
    png, svgp = stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.svg"
    assert png.stat().st_size > 1000
    img = mpimg.imread(png)
    w, h = fig.get_size_inches()
    # figure size x dpi (matplotlib truncates fractional pixels: allow one pixel)
    assert abs(img.shape[0] - h * DEFAULT_DPI) < 1 and abs(img.shape[1] - w * DEFAULT_DPI) < 1
    assert img[..., :3].std() > 0.05  # not a blank canvas
    assert w <= 11.6  # shown at 100 px per inch, it fits the report's column at 100% zoom
    if svg:
        text = svgp.read_text()
        assert text.lstrip().startswith("<?xml") and "</svg>" in text[-200:]
    else:
        assert not svgp.exists()  # PNG only unless asked


def _texts_overlap(fig, texts) -> list[tuple[str, str]]:
    r = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(r)) for t in texts]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


def _inside(ax, fig, artist) -> bool:
    r = fig.canvas.get_renderer()
    return ax.get_window_extent(r).overlaps(artist.get_window_extent(r))


@pytest.mark.parametrize("kind", ["box", "violin"])
def test_scores(adata, tmp_path, kind):
    stem = tmp_path / "sub" / f"scores_{kind}"
    fig = pl.scores(adata, "mg_ssgsea", groupby="condition", kind=kind, paired_by="patient", save=stem)
    _check(fig, stem)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().replace("\n", " ") for ax in axes] == ["Mg liver core", "Mg plasma-membrane influx"]
    assert axes[0].get_ylabel() == "ssGSEA score (unnormalised)"  # units from the scoring method
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["healthy\n(n=8)", "NAFL\n(n=8)", "NASH\n(n=8)"]
    # pairs joined by ONE LineCollection per panel: 8 patients x 3 groups -> 16 segments
    lcs = [c for c in axes[0].collections if isinstance(c, LineCollection) and len(c.get_segments()) == 16]
    assert len(lcs) == 1
    fig2 = pl.scores(adata, "mg_ssgsea", sets="MG_LIVER_CORE", order=["NASH", "healthy"])
    assert [t.get_text().split("\n")[0] for t in fig2.axes[0].get_xticklabels()] == ["NASH", "healthy"]
    with pytest.raises(InputDataError, match="tl.score"):
        pl.scores(adata, "nope")


def test_scores_from_a_feature_table_with_colours_by_condition(features, tmp_path):
    df = features.assign(disease=np.where(features["condition"] == "healthy", "control", "MASLD"))
    stem = tmp_path / "by_disease"
    fig = pl.scores(df, groupby="disease", order=["control", "MASLD"], sets=["CNNM4"], colour_by="condition",
                    units="log2 CPM (TMM)", title="CNNM4 in MASLD vs control", save=stem, svg=True)
    _check(fig, stem, svg=True)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "log2 CPM (TMM)" and fig.get_suptitle() == "CNNM4 in MASLD vs control"
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["healthy", "NAFL", "NASH"]
    assert not _inside(ax, fig, legend)  # outside the data
    pts = ax.collections[-1].get_facecolors()
    assert {to_hex(c) for c in pts} == {pl.group_colour(g) for g in ("healthy", "NAFL", "NASH")}


def test_one_colour_per_group_across_figures(adata, features, tmp_path):
    box = pl.scores(adata, "mg_ssgsea", sets="MG_LIVER_CORE")
    sc = pl.scatter(features, "MG_LIVER_CORE", "HALLMARK_OXIDATIVE_PHOSPHORYLATION", groupby="condition")
    nash = pl.GROUP_COLOURS["NASH"]
    box_face = to_hex(box.axes[0].patches[2].get_edgecolor())  # the NASH box
    handles = sc.axes[0].get_legend().legend_handles
    sc_colour = to_hex(handles[[t.get_text().split(" ")[0] for t in sc.axes[0].get_legend().get_texts()].index(
        "NASH")].get_color())
    assert box_face == sc_colour == nash


def test_heatmap(adata, features, tmp_path):
    stem = tmp_path / "heat"
    fig = pl.heatmap(adata, MG + ["NOT_MEASURED"], groupby="condition", title="Mg genes", save=stem)
    _check(fig, stem)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == MG
    M = ax.images[0].get_array()
    assert M.shape == (len(MG), 3)
    assert M[MG.index("CNNM4"), 2] < -0.5 < M[MG.index("CNNM4"), 0]  # planted drop shows
    assert _texts_overlap(fig, ax.get_xticklabels()) == []
    fig2 = pl.heatmap(features, MG, groupby="condition", units="log2 CPM (TMM)")
    np.testing.assert_allclose(fig2.axes[0].images[0].get_array(), M)
    assert "log2 CPM (TMM)" in fig2.axes[1].get_ylabel().replace("\n", " ")
    with pytest.raises(InputDataError, match="gene_symbols"):
        pl.heatmap(adata, ["ZZZ"])


def test_volcano(tmp_path):
    rng = np.random.default_rng(1)
    genes = MG + [f"G{i}" for i in range(3000)]
    lfc = rng.normal(0, 1, len(genes))
    lfc[: len(MG)] = np.linspace(0.2, 0.6, len(MG))  # Mg genes crowded together
    p = rng.uniform(size=len(genes)) ** 3
    p[: len(MG)] = np.linspace(1e-3, 2e-3, len(MG))
    p[20] = 1e-300  # one extreme gene must not squash the rest
    de = pd.DataFrame({"gene": genes, "logFC": lfc, "P.Value": p, "adj.P.Val": np.minimum(p * 5, 1)})
    stem = tmp_path / "volcano"
    fig = pl.volcano(de, highlight=MG, q=0.05, title="NASH vs healthy", x_label="log2 fold change, NASH vs healthy",
                     save=stem)
    _check(fig, stem)
    ax = fig.axes[0]
    texts = [t for t in ax.texts if t.get_text() in MG]
    assert {t.get_text() for t in texts} == set(MG)
    assert _texts_overlap(fig, texts) == []  # labels moved apart
    assert not _inside(ax, fig, fig.legends[0])
    assert ax.get_ylim()[1] < 60  # capped display, the extreme gene drawn at the top
    assert any("drawn at the top" in t.get_text() for t in fig.legends[0].get_texts())
    with pytest.raises(InputDataError, match="x="):
        pl.volcano(de.drop(columns="logFC"))


def test_gsea_plot(tmp_path):
    from mgtranscript.tl import gsea_prerank, running_sum

    rng = np.random.default_rng(2)
    genes = [f"G{i}" for i in range(800)]
    ranking = pd.Series(rng.normal(size=800), index=genes)
    members = list(ranking.sort_values(ascending=False).index[:60:3])
    res = gsea_prerank(ranking, {"MG_EFFLUX_EXCHANGE": members}, permutations=50)
    res.loc[0, "pval"] = 0.0
    stem = tmp_path / "gsea"
    fig = pl.gsea(ranking, members, result_row=res.iloc[0], metric_label="moderated t", up_label="higher in NASH",
                  down_label="lower in NASH", p_floor=1 / 51, save=stem)
    _check(fig, stem)
    ax1 = fig.axes[0]
    assert fig.get_suptitle() == "Mg efflux/exchange"
    y = ax1.lines[0].get_ydata()
    assert np.max(np.abs(y)) == pytest.approx(abs(res.loc[0, "es"]), abs=1e-9)
    np.testing.assert_allclose(y, running_sum(ranking, members)[1])
    stats_line = ax1.get_title(loc="left")
    assert "NES = " in stats_line and "p < 0.02" in stats_line and "FDR" in stats_line
    assert len(ax1.texts) == 0  # nothing drawn over the curve
    assert fig.axes[2].get_xlabel().startswith("genes ranked by moderated t")


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
    assert fig.axes[0].get_xlabel() == "Hedges' g (group vs reference)"
    labels = [t.get_text() for t in fig.axes[2].get_yticklabels()]
    assert labels[0].startswith("GSE77314, n=100") and labels[-1].startswith("Pooled (k=2, I²=20%")
    # weights: larger, tighter cohort gets more weight
    w = [int(lab.rsplit(", ", 1)[1].rstrip("%")) for lab in labels[:2]]
    assert w[1] > w[0] and sum(w) in (99, 100, 101)
    with pytest.raises(InputDataError, match="meta_analysis"):
        pl.forest(per.drop(columns="g_ci_low"), pooled)


def test_effect_forest(tmp_path):
    rows = pd.DataFrame({
        "label": ["GSE77314", "TCGA-LIHC", "TCGA-LIHC, adjusted"],
        "estimate": [-0.51, -0.91, -0.7], "ci_low": [-0.91, -1.21, -1.1], "ci_high": [-0.11, -0.61, -0.3],
        "qval": [0.0049, 4.3e-7, 1e-12], "n": [100, 421, 421], "included": [True, True, False]})
    pooled = pd.DataFrame({"label": ["pooled over 2 cohorts"], "estimate": [-0.76], "ci_low": [-1.0],
                           "ci_high": [-0.52], "qval": [2.4e-9], "n": [521]})
    stem = tmp_path / "ef"
    fig = pl.effect_forest(rows, pooled=pooled, effect_label="Hedges' g, HCC tumour vs non-tumour (95% CI)",
                           title="R1-HCC", save=stem)
    _check(fig, stem)
    ax, tx = fig.axes[0], fig.axes[1]
    assert [t.get_text() for t in ax.get_yticklabels()] == [*rows["label"], "pooled over 2 cohorts"]
    assert len(ax.patches) == 1  # one diamond
    numbers = [t.get_text() for t in tx.texts]
    assert "−0.51 [−0.91, −0.11]" in numbers and "< 1e-10" in numbers and "4.3e-7" in numbers
    hollow = [c for c in ax.collections if to_hex(c.get_facecolors()[0]) == "#ffffff"]
    assert len(hollow) == 1  # the row not counted
    legend = fig.legends[0]
    assert {t.get_text() for t in legend.get_texts()} == {"counted in the verdict", "shown beside, not counted",
                                                          "pooled (random effects)"}
    hr = pl.effect_forest(rows.assign(estimate=[1.3, 1.2, 1.1], ci_low=[1.1, 1.0, 0.9], ci_high=[1.5, 1.4, 1.3]),
                          null=1.0, log=True, effect_label="hazard ratio per SD")
    assert hr.axes[0].get_xscale() == "log"
    assert "×10" not in " ".join(t.get_text() for t in hr.axes[0].get_xticklabels())
    with pytest.raises(InputDataError, match="non-empty"):
        pl.effect_forest(rows.iloc[0:0])


def test_scatter(adata, features, tmp_path):
    from scipy import stats

    stem = tmp_path / "scatter"
    fig = pl.scatter(adata, "mg_ssgsea", "hallmark", x_set="MG_LIVER_CORE",
                     y_set="HALLMARK_OXIDATIVE_PHOSPHORYLATION", groupby="condition", save=stem)
    _check(fig, stem)
    ax = fig.axes[0]
    assert fig.get_suptitle() == "Hallmark: oxidative phosphorylation vs Mg liver core"
    legend = ax.get_legend()
    assert len(legend.get_texts()) == 3 and not _inside(ax, fig, legend)
    # one least-squares line per group (within-group fits), no pooled line unless asked
    assert len(ax.lines) == 3
    nash = features["condition"] == "NASH"
    rho = stats.spearmanr(features.loc[nash, "MG_LIVER_CORE"],
                          features.loc[nash, "HALLMARK_OXIDATIVE_PHOSPHORYLATION"])[0]
    assert any(f"{abs(rho):.2f}" in t.get_text() and t.get_text().startswith("NASH") for t in legend.get_texts())
    stats_line = ax.get_title(loc="left")
    assert "within groups" in stats_line and "pooled over all samples" in stats_line
    fig2 = pl.scatter(features, "MG_LIVER_CORE", "HALLMARK_OXIDATIVE_PHOSPHORYLATION", groupby="condition",
                      pooled_fit=True, stats_text="custom")
    assert len(fig2.axes[0].lines) == 4 and fig2.axes[0].get_title(loc="left") == "custom"


def test_trend_and_km(features, tmp_path):
    stem = tmp_path / "trend"
    df = features.assign(fibrosis_stage=np.tile([0.0, 1, 2, 3, 4, 2, 1, 3], 3))
    fig = pl.trend(df, ["CNNM4", "MG_LIVER_CORE"], by="fibrosis_stage", units={"CNNM4": "log2 CPM (TMM)"},
                   stats_text={"CNNM4": "Spearman ρ = −0.40, q = 0.03"}, save=stem)
    _check(fig, stem)
    ax = fig.axes[0]
    assert ax.get_title() == "CNNM4 expression" and ax.get_ylabel() == "log2 CPM (TMM)"
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == ["0", "1", "2", "3", "4"]
    assert any("ρ = −0.40" in t.get_text() for t in ax.texts)
    km = pd.DataFrame({"group": ["high"] * 3 + ["low"] * 3, "time": [100, 400, 900, 200, 800, 1500],
                       "survival": [0.9, 0.7, 0.5, 0.95, 0.85, 0.8], "at_risk": [50, 40, 20, 50, 45, 30]})
    stem = tmp_path / "km"
    fig = pl.km(km, stats_text="log-rank p = 0.003", title="SLC41A3", save=stem)
    _check(fig, stem)
    assert fig.axes[0].get_ylabel() == "overall survival (probability)"
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["high", "low"]


def _run_tables():
    """A run's comparisons, GSEA and design tables: two cohorts, three contrasts, one flagged, one disqualified."""
    rows, gsea = [], []
    cols = [("GSE1", "condition:NASH|healthy"), ("GSE1", "condition:NAFL|healthy"), ("GSE2", "condition:NASH|NAFL")]
    feats = [("MG_EFFLUX_EXCHANGE", "score"), ("mg_balance", "score"), ("CNNM4", "gene"), ("TRPM7", "gene")]
    for j, (acc, c) in enumerate(cols):
        for i, (f, kind) in enumerate(feats):
            rows.append(dict(cohort=acc, contrast=c, feature=f, kind=kind, hedges_g=0.5 * i - j,
                             qval=0.01 if (i + j) % 2 == 0 else 0.4))
        for k, s in enumerate(("MG_EFFLUX_EXCHANGE", "HALLMARK_DNA_REPAIR", "HALLMARK_INFLAMMATORY_RESPONSE")):
            gsea.append(dict(cohort=acc, contrast=c, set=s, nes=1.5 - k - j * 0.5, fdr=(0.001, 0.04, 0.6)[k]))
    design = pd.DataFrame([dict(cohort="GSE1", contrast="condition:NASH|healthy", check="library_size", flagged=True),
                           dict(cohort="GSE2", contrast="condition:NASH|NAFL", check="batch_aliased", flagged=True),
                           dict(cohort="GSE1", contrast="condition:NAFL|healthy", check="age", flagged=False)])
    return pd.DataFrame(rows), pd.DataFrame(gsea), design, cols, feats


def test_contrast_heatmap_from_a_runs_tables(tmp_path):
    cmp, _, design, cols, feats = _run_tables()
    stem = tmp_path / "contrasts"
    ax = pl.contrast_heatmap(cmp, design=design, save=stem, show=False)
    fig = ax.figure
    _check(fig, stem)
    M = ax.images[0].get_array()
    assert M.shape == (len(feats), len(cols))
    for j in range(len(cols)):  # effect as colour: the values of the table, row per feature, column per contrast
        np.testing.assert_allclose(np.asarray(M[:, j]), [0.5 * i - j for i in range(len(feats))])
    dots = {tuple(map(int, xy)) for xy in ax.collections[0].get_offsets()}
    assert dots == {(j, i) for j in range(len(cols)) for i in range(len(feats)) if (i + j) % 2 == 0}  # q < 0.05
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0].startswith("GSE1 ⚑") and "NASH vs healthy" in labels[0]  # flagged
    assert labels[1].startswith("GSE1\n")  # checked, not flagged
    assert labels[2].startswith("GSE2 ✕")  # batch aliased with the groups: disqualified
    assert any(p.get_hatch() == "///" for p in ax.patches)
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["Mg efflux/exchange", "Mg balance (influx − efflux)"]
    assert fig.axes[1].get_ylabel().count("\n") <= 1  # colour bar label on at most two lines
    assert "q < 0.05" in ax.get_xlabel() and "disqualified" in ax.get_xlabel()
    only = pl.contrast_heatmap(cmp, contrasts=["condition:NASH|NAFL"], features=["CNNM4"])
    assert only.images[0].get_array().shape == (1, 1)
    with pytest.raises(InputDataError, match="hedges_g"):
        pl.contrast_heatmap(cmp.drop(columns="hedges_g"))


def test_enrichment_dotplot_colour_nes_size_q(tmp_path):
    _, gsea, design, cols, _ = _run_tables()
    stem = tmp_path / "dots"
    ax = pl.enrichment_dotplot(gsea, design=design, save=stem, show=False)
    _check(ax.figure, stem)
    sc = ax.collections[0]
    assert len(sc.get_offsets()) == len(gsea)
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "Mg efflux/exchange"  # Mg sets first
    sizes = dict(zip(map(tuple, np.asarray(sc.get_offsets()).astype(int)), sc.get_sizes()))
    row = {t.get_text(): i for i, t in enumerate(ax.get_yticklabels())}
    q001, q04, q6 = (row[w] for w in ("Mg efflux/exchange", "Hallmark: DNA repair", "Hallmark: inflammatory response"))
    assert sizes[(0, q001)] > sizes[(0, q04)] > sizes[(0, q6)]  # smaller q, bigger dot
    np.testing.assert_allclose(sorted(sc.get_array()), sorted(gsea["nes"]))
    assert "FDR" in ax.get_legend().get_title().get_text()
    assert ax.get_xticklabels()[2].get_text().startswith("GSE2 ✕")
    assert pl.enrichment_dotplot(gsea, sets=["HALLMARK_DNA_REPAIR"]).get_yticklabels()[0].get_text() == \
        "Hallmark: DNA repair"
    with pytest.raises(InputDataError, match="none of the sets"):
        pl.enrichment_dotplot(gsea, sets=["NOPE"])
