"""Execute the analysis notebooks in ``notebooks/`` against the offline mirror.

Each notebook runs in a fresh Jupyter kernel of *this* interpreter (a private kernelspec,
so the test does not depend on a user-installed ``python3`` kernel), with the test's settings
as its environment (``MGTRANSCRIPT_MIRROR`` pointing at the mirror served over HTTP, a
session-wide cache, ``MGTRANSCRIPT_SAMPLES`` at ``<shared>/samples``) and ``PYTHONPATH`` starting with this checkout,
so the kernel imports the package under test (not whatever an editable install points at).
After the notebook's own cells, the test appends one cell that prints the key results as JSON,
and checks them: the numbers and directions the notebooks' text relies on.
"""

from __future__ import annotations

import ast
import json
import os
import sys
from pathlib import Path

import pytest

from mgtranscript import settings


def _nbformat():
    """nbformat, imported when a test reads a notebook (it takes seconds to import: not at collection)."""
    return pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = [
    "01_masld_GSE126848.ipynb",
    "02_hcc_GSE77314_paired.ipynb",
    "03_ald_cohorts.ipynb",
    "04_cross_disease_claims.ipynb",
]
MARK = "NOTEBOOK_SUMMARY "

# Appended to each notebook by the test (never saved): key results as one JSON line.
SUMMARY = {
    "01_masld_GSE126848.ipynb": """
import json
print("NOTEBOOK_SUMMARY " + json.dumps({
    "mgtranscript_file": mg.__file__,
    "n_obs": int(adata.n_obs),
    "group_sizes": {str(k): int(v) for k, v in group_sizes.items()},
    "disease": {str(k): int(v) for k, v in adata.obs["disease"].value_counts().items()},
    "audit_flagged": sorted(map(str, audit.loc[audit["flagged"], "check"])),
    "depth_millions": {str(k): float(v) for k, v in depth["median_reads_millions"].items()},
    "score_sets": list(map(str, adata.obsm["mg_ssgsea"].columns)),
    "balance_finite": int(adata.obs["mg_balance"].notna().sum()),
    "stage_groups": sorted(map(str, stage_table["group"].unique())),
    "stage_n_ref": sorted(set(int(x) for x in stage_table["n_ref"])),
    "stage_features": sorted(map(str, stage_table["feature"].unique())),
    "cnnm4_vs_healthy": {str(g): [float(r["log2_diff"]), float(r["qval"])] for g, r in cnnm4.iterrows()},
    "trend_n": sorted(set(int(x) for x in trend_table["n"])),
    "trend_efflux_rho": float(trend_table.set_index("feature").loc["MG_EFFLUX_EXCHANGE", "rho"]),
    "composition_cols": sorted(composition_cols),
    "composition_g": {f"{r.feature}|{r.group}": float(r.hedges_g) for r in composition_table.itertuples()},
    "de_genes": int(len(de)),
    "de_all_kept": bool(len(de) == int(keep.sum())),
    "de_sig": int(n_sig),
    "gsea_sets": sorted(map(str, gsea["set"])),
    "gsea_pval_ok": bool(gsea["pval"].between(0, 1).all()),
    "nafld_conditions": {str(k): int(v) for k, v in nafld.obs["condition"].value_counts().items()},
    "audit167_flagged": sorted(map(str, audit167.loc[audit167["flagged"], "check"])),
    "nash_nafl_g": {f"{r.cohort}|{r.feature}": float(r.hedges_g) for r in nash_nafl.itertuples()},
    "nash_nafl_n": {str(r.cohort): [int(r.n_group), int(r.n_ref)] for r in nash_nafl.itertuples()},
    "nash_meta": {str(r.feature): {"k": int(r.k), "pooled": float(r.pooled), "ci": [float(r.ci_low), float(r.ci_high)],
                                   "I2": float(r.I2)} for r in nash_meta.itertuples()},
    "cnnm4_adj167": [float(adj167.loc["CNNM4", "adj_diff"]), float(adj167.loc["CNNM4", "adj_pval"])],
    "corr": {f"{r.design}|{r.level}": [float(r.estimate), float(r.pval), int(r.n)] for r in correlations.itertuples()},
    "meta135_n": int(meta135.n_obs),
    "meta135_conditions": {str(k): int(v) for k, v in meta135.obs["condition"].value_counts().items()},
    "meta135_fibrosis": int(meta135.obs["fibrosis_stage"].notna().sum()),
}))
""",
    "02_hcc_GSE77314_paired.ipynb": """
import json
p = paired.set_index("feature")
print("NOTEBOOK_SUMMARY " + json.dumps({
    "mgtranscript_file": mg.__file__,
    "n_obs": int(adata.n_obs),
    "n_pairs": int(n_pairs),
    "conditions": {str(k): int(v) for k, v in adata.obs["condition"].value_counts().items()},
    "audit_flagged": sorted(map(str, audit.loc[audit["flagged"], "check"])),
    "flagged_pairs": {str(r.pair): [str(r.reference_sample), str(r.group_sample)] for r in flagged_pairs.itertuples()},
    "top_share_gene": str(top_share.index[0]),
    "top_share": [float(top_share.iloc[0]["hcc_nontumour"]), float(top_share.iloc[0]["hcc_tumour"])],
    "paired_n": {g: int(p.loc[g, "n"]) for g in ["CNNM4", "TRPM7", "SLC41A1", "PTP4A3"]},
    "paired_flag": bool(paired["paired"].all()),
    "paired_features": sorted(map(str, paired["feature"])),
    "paired_g": {f: float(p.loc[f, "hedges_g"]) for f in ["MG_EFFLUX_EXCHANGE", "mg_balance", *hcc_genes]},
    "trusted_n": int(paired_trusted["n"].iloc[0]),
    "trusted_g": {g: float(paired_trusted.loc[g, "hedges_g"]) for g in hcc_genes},
    "composition_g": {str(r.feature): float(r.hedges_g) for r in composition_table.itertuples()},
    "adjusted": {f: [float(adjusted.loc[f, "adj_diff"]), float(adjusted.loc[f, "adj_ci_low"]),
                     float(adjusted.loc[f, "adj_ci_high"]), float(adjusted.loc[f, "adj_pval"])] for f in adj_features},
    "de_genes": int(len(de)),
    "de_all_kept": bool(len(de) == int(keep.sum())),
    "shift": float(shift),
    "gsea_sets": sorted(map(str, gsea["set"])),
    "magt1_klrk1": [{"analysis": str(r.analysis), "design": str(r.design), "level": str(r.level), "n": int(r.n),
                     "n_groups": int(r.n_groups), "covariates": "" if pd.isna(r.covariates) else str(r.covariates),
                     "estimate": float(r.estimate), "pval": float(r.pval)} for r in magt1_klrk1.itertuples()],
}))
""",
    "03_ald_cohorts.ipynb": """
import json
print("NOTEBOOK_SUMMARY " + json.dumps({
    "mgtranscript_file": mg.__file__,
    "ald_accessions": sorted(map(str, ald["accession"])),
    "status": status.assign(n_samples=status["n_samples"].astype(int)).to_dict("records"),
    "messages": messages,
    "urls": sorted(map(str, pd.DataFrame(wanted)["url"])),
    "ald_verdicts": {str(r.claim_id): str(r.verdict) for r in ald_verdicts.itertuples()},
}))
""",
    "04_cross_disease_claims.ipynb": """
import json
print("NOTEBOOK_SUMMARY " + json.dumps({
    "mgtranscript_file": mg.__file__,
    "cohorts": {str(r.accession): [str(r.status), int(r.n_samples)] for r in result.cohorts.itertuples()},
    "sources": {str(k): str(v) for k, v in result.run.get("cohort_sources", {}).items()},
    "n_claims": int(len(claims)),
    "n_claims_table": int(len(mg.claims.load_claims())),
    "verdicts": {str(r.claim_id): str(r.verdict) for r in claims.itertuples()},
    "certainty": {str(r.claim_id): "" if pd.isna(r.certainty) else str(r.certainty) for r in claims.itertuples()},
    "robustness": {str(r.claim_id): str(r.robustness) for r in claims.itertuples()},
    "caveats": {str(r.claim_id): str(r.caveats) for r in claims.itertuples()},
    "n_cohorts": {str(r.claim_id): int(r.n_cohorts) for r in claims.itertuples()},
    "evidence_roles": {cid: sorted(set(map(str, g["role"]))) for cid, g in evidence.groupby("claim_id")},
    "l6_included": int(evidence.loc[evidence["claim_id"] == "L6", "included"].astype(bool).sum()),
    "l1prog_pool": [float(l1prog_pool["pooled"].iloc[0]), float(l1prog_pool["ci_low"].iloc[0]),
                    float(l1prog_pool["ci_high"].iloc[0]), int(l1prog_pool["k"].iloc[0])],
    "l1prog_effect": float(by_id.loc["L1-PROG", "effect"]),
    "sensitivity_alternatives": sorted(map(str, sensitivity["alternative"].unique())),
    "design_flags": sorted({f"{r.cohort}|{r.contrast}|{r.check}" for r in design[design["flagged"].astype(bool)].itertuples()}),
    "flagged_pairs": sorted(map(str, pairs.loc[pairs["flagged"].astype(bool), "pair"])),
    "meta_contrasts": sorted(map(str, meta["contrast"].unique())),
    "meta_k": sorted(set(int(k) for k in meta["k"])),
    "main_cohorts": sorted(map(str, main["cohort"].unique())),
    "main_features": sorted(map(str, main["feature"].unique())),
    "main_comparisons": sorted(map(str, main["comparison"].unique())),
    "coupling_flips": int(flips),
}))
""",
}


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory) -> str:
    """A kernelspec running this interpreter, in a private Jupyter data dir."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "mgtranscript-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "mgtranscript test kernel",
        "language": "python",
    }))
    return str(root)


def _load(name: str):
    return _nbformat().read(NB_DIR / name, as_version=4)


def _execute(name: str, jupyter_dir: str, workdir: Path, monkeypatch):
    pytest.importorskip("ipykernel")
    NotebookClient = pytest.importorskip("nbclient").NotebookClient  # noqa: N806

    monkeypatch.setenv("JUPYTER_PATH", jupyter_dir)
    nb = _load(name)
    nb.cells.append(_nbformat().v4.new_code_cell(SUMMARY[name].strip()))
    client = NotebookClient(nb, timeout=600, kernel_name="mgtranscript-test", allow_errors=True,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()
    errors = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                tb = "\n".join(out.get("traceback", []))[-2500:]
                errors.append(f"cell {i}:\n{cell.source[:400]}\n--> {out['ename']}: {out['evalue']}\n{tb}")
    assert not errors, f"{name}: {len(errors)} cell(s) raised:\n\n" + "\n\n".join(errors)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    lines = [ln for ln in text.splitlines() if ln.startswith(MARK)]
    assert lines, f"{name}: the summary cell printed nothing: {text[:500]!r}"
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    summary = json.loads(lines[-1][len(MARK):])
    used = Path(summary.pop("mgtranscript_file")).resolve()
    assert used.is_relative_to(ROOT), f"{name}: the kernel imported mgtranscript from {used}, not from {ROOT}"
    return summary, images


@pytest.fixture
def notebook_env(mirror_env, shared_dir, monkeypatch, kernel_name):
    """The kernel is a child process: it gets this test's settings (the mirror over HTTP, the
    session cache, the sample sheets, online, no progress) as its environment, read once."""
    settings.samples_dir = shared_dir / "samples"
    for name, value in settings.to_environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # the kernel must import this checkout's package, not an editable install pointing elsewhere
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return kernel_name


# --------------------------------------------------------------------------- static checks (fast)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(name):
    nb = _load(name)
    _nbformat().validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cells"
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{name}: cells {dirty} carry outputs/execution counts; strip them before committing"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_uses_public_api_only(name):
    """No private (underscore) modules or names of the package are imported."""
    bad = []
    for cell in _load(name).cells:
        if cell.cell_type != "code":
            continue
        src = "\n".join(ln for ln in cell.source.splitlines() if not ln.lstrip().startswith("%"))
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mgtranscript"):
                parts = node.module.split(".") + [a.name for a in node.names]
                bad += [node.module] if any(p.startswith("_") for p in parts) else []
            elif isinstance(node, ast.Import):
                bad += [a.name for a in node.names
                        if a.name.startswith("mgtranscript") and any(p.startswith("_") for p in a.name.split("."))]
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                bad.append(node.attr)
    assert not bad, f"{name} uses private names: {bad}"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_states_the_caveats(name):
    text = " ".join(c.source for c in _load(name).cells if c.cell_type == "markdown").lower()
    assert "transcript levels only" in text
    assert "ji et al" in text
    assert "composition" in text


@pytest.mark.parametrize("name", ["01_masld_GSE126848.ipynb", "02_hcc_GSE77314_paired.ipynb"])
def test_notebook_de_is_the_pipelines(name):
    """DE on counts as `mgtranscript run` does it: voom on the genes passing filterByExpr."""
    code = "\n".join(c.source for c in _load(name).cells if c.cell_type == "code")
    assert "mg.pp.expressed_genes(" in code and 'method="voom"' in code
    assert 'method="limma"' not in code and "cpm >= 1" not in code  # no hand-written CPM filter


# --------------------------------------------------------------------------- execution (slow)


@pytest.mark.slow
def test_masld_notebook(notebook_env, tmp_path, monkeypatch):
    s, images = _execute("01_masld_GSE126848.ipynb", notebook_env, tmp_path, monkeypatch)
    assert s["n_obs"] == 57
    assert s["group_sizes"] == {"healthy": 14, "obese": 12, "NAFL": 15, "NASH": 16}
    assert s["disease"] == {"control": 26, "MASLD": 31}
    # the design audit finds the series/depth split the text describes: ~26 M vs ~13 M reads
    assert {"library_size", "sample_ids"} <= set(s["audit_flagged"])
    depth = s["depth_millions"]
    assert min(depth["healthy"], depth["obese"]) > 20 and max(depth["NAFL"], depth["NASH"]) < 16
    # influx and efflux scored as separate sets, plus the signed balance for every sample
    assert {"MG_PM_INFLUX", "MG_EFFLUX_EXCHANGE"} <= set(s["score_sets"])
    assert s["balance_finite"] == 57
    # every stage against the healthy reference (14 livers)
    assert s["stage_groups"] == ["NAFL", "NASH", "obese"]
    assert s["stage_n_ref"] == [14]
    assert {"MG_EFFLUX_EXCHANGE", "mg_balance", "CNNM4"} <= set(s["stage_features"])
    # CNNM4 changes only across the series boundary: obese vs healthy small and n.s., NAFL and NASH lower
    c = s["cnnm4_vs_healthy"]
    assert abs(c["obese"][0]) < 0.25 and c["obese"][1] > 0.05
    assert c["NAFL"][0] < -0.3 and c["NASH"][0] < -0.3 and c["NAFL"][1] < 0.05 and c["NASH"][1] < 0.05
    assert s["trend_n"] == [57]
    assert -1 <= s["trend_efflux_rho"] <= 1
    # composition: endothelial / Kupffer scores drop across the series boundary; stellate and
    # cholangiocyte scores rise in NASH only
    assert len(s["composition_cols"]) == 8
    g = s["composition_g"]
    for cell in ("sinusoidal_endothelial", "kupffer_macrophage"):
        assert g[f"composition_{cell}|NAFL"] < -1 and g[f"composition_{cell}|NASH"] < -1
        assert abs(g[f"composition_{cell}|obese"]) < 0.5
    for cell in ("stellate_fibroblast", "cholangiocyte"):
        assert g[f"composition_{cell}|NASH"] > 0.8 and abs(g[f"composition_{cell}|NAFL"]) < 0.5
    # voom on the genes passing filterByExpr for the NASH and healthy samples
    assert 10000 < s["de_genes"] < 19773 and s["de_all_kept"]
    assert s["de_sig"] > 1000  # "thousands of genes"
    assert {"MG_EFFLUX_EXCHANGE", "MG_PM_INFLUX", "HALLMARK_INFLAMMATORY_RESPONSE"} <= set(s["gsea_sets"])
    assert s["gsea_pval_ok"]
    # GSE167523: NASH vs NAFL, older and more often female NASH group; CNNM4 not lower in NASH
    assert s["nafld_conditions"] == {"NAFL": 51, "NASH": 47}
    assert {"sex_recorded", "sex_mismatch"} <= set(s["audit167_flagged"])
    assert "library_size" not in s["audit167_flagged"] and "sample_ids" not in s["audit167_flagged"]
    assert s["nash_nafl_n"] == {"GSE126848": [16, 15], "GSE167523": [47, 51]}
    nn = s["nash_nafl_g"]
    assert abs(nn["GSE126848|CNNM4"]) < 0.3 and nn["GSE167523|CNNM4"] > 0
    assert nn["GSE126848|MG_EFFLUX_EXCHANGE"] < 0 < nn["GSE167523|MG_EFFLUX_EXCHANGE"]  # opposite directions
    m = s["nash_meta"]
    assert all(v["k"] == 2 for v in m.values())
    assert m["CNNM4"]["pooled"] > 0 and m["CNNM4"]["ci"][0] < 0 < m["CNNM4"]["ci"][1]
    assert m["MG_EFFLUX_EXCHANGE"]["I2"] > 50
    assert s["cnnm4_adj167"][0] > 0
    # Simpson's paradox: pooled positive and significant, within-condition combined near zero
    pooled, within = s["corr"]["pooled|pooled"], s["corr"]["within:condition|combined"]
    assert pooled[0] > 0.2 and pooled[1] < 0.05 and pooled[2] == 57
    assert abs(within[0]) < 0.2 and within[1] > 0.05 and within[2] == 57
    # GSE135251 metadata only: 216 biopsies, every one with a fibrosis stage
    assert s["meta135_n"] == 216
    assert s["meta135_conditions"] == {"healthy": 10, "NAFL": 51, "NASH": 155}
    assert s["meta135_fibrosis"] == 216
    assert images >= 6, f"expected score, heatmap, volcano, GSEA, forest and scatter plots; got {images} images"


@pytest.mark.slow
def test_hcc_paired_notebook(notebook_env, tmp_path, monkeypatch):
    s, images = _execute("02_hcc_GSE77314_paired.ipynb", notebook_env, tmp_path, monkeypatch)
    assert s["n_obs"] == 100
    assert s["conditions"] == {"hcc_nontumour": 50, "hcc_tumour": 50}
    assert s["n_pairs"] == 50
    # the audit: library composition (TMM factor, top-gene share led by albumin) and two suspect pairs
    assert {"norm_factor", "top_share", "pairs"} <= set(s["audit_flagged"])
    assert s["top_share_gene"] == "ALB" and s["top_share"][0] > 2 * s["top_share"][1]
    assert s["flagged_pairs"] == {"GSE77314_P45": ["GSM2049101", "GSM2049151"],
                                  "GSE77314_P20": ["GSM2049076", "GSM2049126"]}
    assert s["paired_flag"]
    assert s["paired_n"] == {"CNNM4": 50, "TRPM7": 50, "SLC41A1": 50, "PTP4A3": 50}
    assert {"MG_EFFLUX_EXCHANGE", "MG_PM_INFLUX", "mg_balance"} <= set(s["paired_features"])
    g = s["paired_g"]
    assert g["MG_EFFLUX_EXCHANGE"] > 0 and g["mg_balance"] < 0
    assert g["CNNM4"] > 0 and g["SLC41A1"] > 0 and g["PTP4A3"] > 0 and g["TRPM7"] < 0
    # without the two suspect pairs every gene keeps its direction
    assert s["trusted_n"] == 48
    assert all((s["trusted_g"][k] > 0) == (g[k] > 0) for k in s["trusted_g"])
    # no tumour-cell marker set: every normal-liver cell type scores lower in tumour
    assert len(s["composition_g"]) == 8 and all(v < 0 for v in s["composition_g"].values())
    # composition-adjusted: the set-level shift survives; TRPM7's decrease does not
    adj = s["adjusted"]
    assert adj["MG_EFFLUX_EXCHANGE"][0] > 0 and adj["MG_EFFLUX_EXCHANGE"][3] < 0.05
    assert adj["mg_balance"][0] < 0 and adj["mg_balance"][3] < 0.05
    assert adj["TRPM7"][1] < 0 < adj["TRPM7"][2]
    for gene in ("CNNM4", "SLC41A1"):
        assert adj[gene][0] > 0 and adj[gene][1] < 0  # same direction, CI now includes no change
    assert adj["PTP4A3"][0] > 0 and adj["PTP4A3"][1] > 0  # still higher in tumour
    # paired voom on filterByExpr genes; TMM removes the albumin-driven global shift
    assert s["de_genes"] > 10000 and s["de_all_kept"]
    assert abs(s["shift"]) < 0.2
    assert {"MG_EFFLUX_EXCHANGE", "MG_PM_INFLUX"} <= set(s["gsea_sets"])
    # MAGT1 ~ KLRK1: negative pooled and within tissue; near zero within patient with the T/NK covariate
    rows = {(r["analysis"], r["level"]): r for r in s["magt1_klrk1"]}
    pooled = rows[("pooled", "pooled")]
    assert pooled["n"] == 100 and pooled["estimate"] < 0 and pooled["pval"] < 0.05
    within = rows[("within tissue", "combined")]
    assert within["n"] == 100 and within["n_groups"] == 2 and within["estimate"] < 0
    paired = rows[("within tissue and patient", "combined")]
    assert paired["design"] == "within:condition+paired:pair_id" and paired["n_groups"] == 50
    adjusted = rows[("within tissue and patient, T/NK score as covariate", "combined")]
    assert adjusted["covariates"] == "composition_t_nk" and abs(adjusted["estimate"]) < 0.2
    assert adjusted["pval"] > 0.05
    nontumour = rows[("within tissue and patient, T/NK score as covariate", "hcc_nontumour")]
    assert nontumour["estimate"] < 0 and nontumour["pval"] < 0.05
    assert images >= 5


@pytest.mark.slow
def test_ald_notebook(notebook_env, tmp_path, monkeypatch):
    s, _ = _execute("03_ald_cohorts.ipynb", notebook_env, tmp_path, monkeypatch)
    assert s["ald_accessions"] == ["GSE142530", "GSE28619"]
    analysable = [r for r in s["status"] if r["status"] == "analysable"]
    for row in s["status"]:
        if row["status"] == "analysable":
            assert row["n_samples"] > 0
        else:
            # the error names the cohort, what was tried and how to fix it
            msg = s["messages"][row["accession"]]
            assert row["accession"] in msg
            assert "https://" in msg
            assert "MGTRANSCRIPT_MIRROR" in msg or "metadata_only" in msg
    assert any(u.endswith("GPL570.annot.gz") for u in s["urls"])
    assert any("GSE142530" in u and "rnaseq_counts" in u for u in s["urls"])
    assert s["ald_verdicts"]["L12"] == "not testable"  # serum Mg: never from transcriptomes
    if not analysable:
        assert set(s["ald_verdicts"].values()) == {"not testable"}


@pytest.mark.slow
def test_cross_disease_claims_notebook(tour_run, notebook_env, tmp_path, monkeypatch):
    """The notebook runs ``run_analysis`` itself with the parameters of ``mgtranscript run``, as it says:
    after the README tour's run (the same parameters) its analysed cohorts come from the result cache."""
    s, images = _execute("04_cross_disease_claims.ipynb", notebook_env, tmp_path, monkeypatch)
    assert s["sources"] == {"GSE126848": "result cache", "GSE167523": "result cache", "GSE77314": "result cache"}
    c = s["cohorts"]
    assert c["GSE126848"] == ["analysed", 57]
    assert c["GSE167523"] == ["analysed", 98]
    assert c["GSE77314"] == ["analysed", 100]
    assert c["GSE135251"] == ["metadata only", 216]
    assert c["GSE142530"][0] == c["GSE28619"][0] == "unavailable"
    assert c["TCGA-LIHC"][0] == "not requested"
    assert s["n_claims"] == s["n_claims_table"] > 0
    v, cert = s["verdicts"], s["certainty"]
    assert set(v.values()) <= {"supported", "contradicted", "inconclusive", "not testable"}
    # what "Reading the verdicts" says, claim by claim
    for cid in ("R1-MASLD", "R1-BAL-MASLD", "R3-MASLD", "L1"):  # GSE126848's series dominates: no vote ...
        assert v[cid] == "inconclusive" and cert[cid] == "very low" and s["n_cohorts"][cid] == 0
        assert "not used: batch-aliased contrast" in s["evidence_roles"][cid]
    for cid in ("L1-PROG", "R1-PROG"):  # ... NASH vs NAFL over two cohorts: inconclusive
        assert v[cid] == "inconclusive" and s["n_cohorts"][cid] == 2
    for cid in ("L7", "L9", "R3-HCC", "R1-HCC", "R1-BAL-HCC"):
        assert v[cid] == "supported"
        assert "GSE77314_P20" in s["caveats"][cid] and "albumin" in s["caveats"][cid]
        assert "mediator adjustment, not counted: adjusted: composition" in s["robustness"][cid]
    # one cohort, its pairing in doubt and RNA composition shifted: very low, as "Reading the verdicts" says
    assert {cert[k] for k in ("L7", "L9", "R3-HCC", "R1-HCC", "R1-BAL-HCC")} == {"very low"}
    assert v["L5"] == "contradicted"
    assert all(v[k] == "inconclusive" for k in v if k.startswith("R2-") and k != "R2-GUTLIVER")  # within groups
    assert v["R2-GUTLIVER"] == "not testable" and cert["R2-GUTLIVER"] == ""
    assert v["L6"] == "not testable" and s["l6_included"] == 0  # cell-level claim: bulk never votes
    assert s["evidence_roles"]["L6"] == ["bulk (not voted)"]
    assert "pooled (shown beside, not voted)" in s["evidence_roles"]["R2-INFLAM-MASLD"]
    for cid in ("L8", "L9-GRADE", "L4", "L3", "R1-ALD", "L11", "L12"):
        assert v[cid] == "not testable"
    # L1-PROG votes on the random-effects pool of the two cohorts, the meta row of the notebook
    pooled, low, high, k = s["l1prog_pool"]
    assert k == 2 and abs(pooled - s["l1prog_effect"]) < 1e-9 and low < 0 < high
    assert {"adjusted: composition", "normalisation: RLE", "DE: voom", "unpaired"} <= set(s["sensitivity_alternatives"])
    flags = set(s["design_flags"])
    assert {"GSE126848|condition:NASH|healthy|library_size", "GSE126848|condition:NASH|healthy|sample_ids",
            "GSE126848|disease:MASLD|control|batch_aliased", "GSE126848|condition:NASH|NAFL|library_outlier",
            "GSE77314|condition:hcc_tumour|hcc_nontumour|top_share",
            "GSE77314|condition:hcc_tumour|hcc_nontumour|pairing_declared"} <= flags
    assert "GSE126848|condition:NASH|NAFL|batch_aliased" not in flags  # inside one series
    assert s["flagged_pairs"] == ["GSE77314_P20", "GSE77314_P45"]
    # meta-analysis only where two cohorts share a contrast: NASH vs NAFL
    assert s["meta_contrasts"] == ["condition:NASH|NAFL"] and s["meta_k"] == [2]
    assert s["main_cohorts"] == ["GSE126848", "GSE167523", "GSE77314"]
    assert {"MG_EFFLUX_EXCHANGE", "MG_PM_INFLUX", "mg_balance"} <= set(s["main_features"])
    assert s["main_comparisons"] == ["HCC tumour vs non-tumour", "MASLD vs control", "NASH vs NAFL"]
    assert 8 <= s["coupling_flips"] <= 16  # "about half" of 24
    assert images >= 1, "the forest plot was not drawn"
