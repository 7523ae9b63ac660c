"""Interoperability with scanpy and decoupler: scores in ``obs`` for scanpy's plots,
decoupler's network format, a clear error for MuData, and the README section
"With scanpy and decoupler" executed as written."""

from __future__ import annotations

import re
from pathlib import Path

import anndata as ad
import matplotlib.pyplot as plt  # the Agg backend: conftest sets MPLBACKEND
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from matplotlib.collections import PathCollection

import mgtranscript as mg
from mgtranscript.errors import InputDataError

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "With scanpy and decoupler"
SETS = {
    "B_cell": ["MS4A1", "CD79A", "CD79B", "CD19"],
    "monocyte": ["LYZ", "S100A8", "S100A9", "FCER1G", "CST3", "TYROBP"],
}


@pytest.fixture(autouse=True)
def _private_cache(cache):
    """Gene-set matching may read NCBI gene_info from the cache: use a fresh, empty one."""
    return cache


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def readme_section_code(title: str = SECTION) -> list[str]:
    """The ```python blocks of one ``## title`` section of the README, in order."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else len(text)]
    return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


# --------------------------------------------------------------------------- scanpy plots


def test_violin_plots_the_scores_of_a_scored_anndata(pbmc):
    mg.tl.score(pbmc, SETS, method="mean", obs=True)
    keys = ["mg_mean_B_cell", "mg_mean_monocyte"]
    axes = sc.pl.violin(pbmc, keys=keys, groupby="bulk_labels", show=False)
    axes = axes if isinstance(axes, list) else [axes]
    assert len(axes) == 2
    for ax, key in zip(axes, keys):
        assert ax.get_ylabel() == key
        # the strip plot's points are the scores (any order: seaborn draws them per group)
        points = [c for c in ax.collections if isinstance(c, PathCollection)]
        y = np.concatenate([c.get_offsets()[:, 1] for c in points])
        np.testing.assert_allclose(np.sort(y), np.sort(pbmc.obsm["mg_mean"][key.removeprefix("mg_mean_")]),
                                   rtol=1e-6)  # fmt: skip
        assert {t.get_text() for t in ax.get_xticklabels()} == set(pbmc.obs["bulk_labels"].cat.categories)
    # and the plot shows what the scores say: B cells highest on the B-cell set
    means = pbmc.obs.groupby("bulk_labels", observed=True)["mg_mean_B_cell"].mean()
    assert means.idxmax() == "CD19+ B"


def test_umap_coloured_by_a_score(pbmc):
    mg.tl.score(pbmc, SETS, method="mean", obs=True)
    ax = sc.pl.umap(pbmc, color="mg_mean_monocyte", show=False)
    coloured = [c for c in ax.collections if c.get_array() is not None]
    assert coloured
    np.testing.assert_allclose(np.sort(coloured[0].get_array()), np.sort(pbmc.obs["mg_mean_monocyte"]), rtol=1e-6)


# --------------------------------------------------------------------------- score(obs=...)


def test_obs_columns_are_opt_in_follow_key_added_and_never_go_stale(pbmc, tmp_path):
    before = list(pbmc.obs.columns)
    mg.tl.score(pbmc, SETS, method="mean")
    assert list(pbmc.obs.columns) == before  # default obs=False: obsm only
    mg.tl.score(pbmc, SETS, method="mean", key_added="imm", obs=True)
    assert list(pbmc.obs.columns) == before + ["imm_B_cell", "imm_monocyte"]
    np.testing.assert_array_equal(pbmc.obs["imm_B_cell"].to_numpy(), pbmc.obsm["imm"]["B_cell"].to_numpy())
    assert list(pbmc.uns["imm"]["params"]["obs_columns"]) == ["imm_B_cell", "imm_monocyte"]
    # survives h5ad, and a later call replaces exactly the columns it wrote
    pbmc.write_h5ad(tmp_path / "scored.h5ad")
    back = ad.read_h5ad(tmp_path / "scored.h5ad")
    mg.tl.score(back, {"T_cell": ["CD3D", "CD3E"]}, method="mean", key_added="imm", obs=True)
    assert [c for c in back.obs.columns if c.startswith("imm_")] == ["imm_T_cell"]
    mg.tl.score(back, SETS, method="mean", key_added="imm")  # obs=False: no stale copy left behind
    assert not [c for c in back.obs.columns if c.startswith("imm_")]
    with pytest.raises(InputDataError, match="obs must be True or False"):
        mg.tl.score(pbmc, SETS, method="mean", obs="yes")


def test_score_refuses_mudata_and_tables_with_the_fix(pbmc):
    with pytest.raises(InputDataError, match=r"not a DataFrame.*AnnData\(df\)"):
        mg.tl.score(pbmc.to_df(), SETS, method="mean")
    mudata = pytest.importorskip("mudata")
    md = mudata.MuData({"rna": pbmc})
    with pytest.raises(InputDataError, match=r'not a MuData.*mg\.tl\.score\(mdata\.mod\["rna"\]'):
        mg.tl.score(md, SETS, method="mean")
    mg.tl.score(md.mod["rna"], SETS, method="mean")  # the fix the message names works
    assert "mg_mean" in md.mod["rna"].obsm


# --------------------------------------------------------------------------- decoupler


def test_decoupler_ulm_runs_on_to_long_source_target_and_its_tmin_drops_small_sets(pbmc):
    dc = pytest.importorskip("decoupler")
    gs = mg.genesets.load({**SETS, "tiny": ["LYZ", "S100A8", "CST3"]})
    net = gs.to_long(columns=("source", "target"))
    assert list(net.columns) == ["source", "target"]
    cells = pbmc.raw.to_adata()  # log-normalised
    dc.mt.ulm(cells, net)  # decoupler's default tmin=5: the 3- and 4-gene sets vanish silently
    assert list(cells.obsm["score_ulm"].columns) == ["monocyte"]
    dc.mt.ulm(cells, net, tmin=1)
    assert set(cells.obsm["score_ulm"].columns) == {"B_cell", "monocyte", "tiny"}
    mg.tl.score(cells, gs, method="mean")
    for name in ("B_cell", "monocyte"):
        r = np.corrcoef(cells.obsm["score_ulm"][name], cells.obsm["mg_mean"][name])[0, 1]
        assert r > 0.8, (name, r)
    # and the network loads back as the same sets
    assert dict(mg.genesets.load(net)) == dict(gs)


@pytest.mark.slow
@pytest.mark.network
def test_readme_scanpy_decoupler_section_runs(mirror_env, tmp_path, monkeypatch):
    """The README's "With scanpy and decoupler" code, executed as written on the real
    GSE126848 cohort (served from the mirror) and scanpy's bundled pbmc68k_reduced."""
    pytest.importorskip("decoupler", reason="decoupler not installed (pip install -e '.[test]')")
    blocks = readme_section_code()
    assert blocks, f"README has no python code in section {SECTION!r}"
    monkeypatch.chdir(tmp_path)  # any figure files land here
    ns: dict = {}
    for code in blocks:
        exec(compile(code, f"README.md ({SECTION})", "exec"), ns)  # noqa: S102
    adata, cells = ns["adata"], ns["cells"]
    mg_sets = list(adata.obsm["mg_gsva"].columns)
    assert len(mg_sets) == 8
    assert [f"mg_gsva_{s}" for s in mg_sets] == [c for c in adata.obs.columns if c.startswith("mg_gsva_")]
    # tmin=1 keeps the 4-gene sets decoupler's default would drop
    assert set(adata.obsm["score_ulm"].columns) == set(mg_sets)
    small = mg.get.coverage(adata, "mg_gsva").query("final_size < 5").index
    assert {"MG_PM_INFLUX", "MG_EFFLUX_EXCHANGE"} <= set(small)
    # what the README states about the agreement of ULM and GSVA on this cohort
    agreement = ns["agreement"]
    assert agreement.between(0.75, 1.0).all(), agreement
    assert {"mg_cells_B_cell", "mg_cells_monocyte"} <= set(cells.obs.columns)
    assert plt.get_fignums(), "the README's plots drew nothing"


def test_decoupler_zscore_is_a_different_statistic_from_mg_zscore(pbmc):
    """The README's warning: same name, different statistic (decoupler: a set against all
    genes within one sample; mgtranscript/GSVA: each gene standardised across samples,
    so a set's scores centre on 0 over the samples)."""
    dc = pytest.importorskip("decoupler")
    cells = pbmc.raw.to_adata()
    net = mg.genesets.load(SETS).to_long(columns=("source", "target"))
    dc.mt.zscore(cells, net, tmin=1)
    mg.tl.score(cells, SETS, method="zscore")
    ours, theirs = cells.obsm["mg_zscore"], cells.obsm["score_zscore"][list(SETS)]
    np.testing.assert_allclose(ours.mean(), 0.0, atol=1e-10)
    assert (theirs.mean().abs() > 0.1).all()
    assert not np.allclose(ours.to_numpy(), theirs.to_numpy(), rtol=0.1)


def test_readme_section_exists_and_states_the_pitfalls():
    text = README.read_text(encoding="utf-8")
    section = text[text.index(f"## {SECTION}\n") :]
    section = section[: section.find("\n## ", 1)]
    for needle in ("tmin=1", "zscore", 'to_long(columns=("source", "target"))', 'mdata.mod["rna"]', "obs=True"):
        assert needle in section, needle
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings.index(SECTION) == headings.index("A short tour of the API") + 1
    assert pd.Index(headings).is_unique
