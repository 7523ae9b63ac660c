"""Execute the analysis notebooks in ``notebooks/`` against the offline mirror.

Each notebook runs in a fresh Jupyter kernel of *this* interpreter (a private kernelspec,
so the test does not depend on a user-installed ``python3`` kernel), with
``MGTRANSCRIPT_MIRROR`` pointing at the mirror served over HTTP, a session-wide cache and
``MGTRANSCRIPT_SAMPLES`` at ``<shared>/samples``. After the notebook's own cells, the test
appends one cell that prints the key results as JSON, and checks them.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
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
    "n_obs": int(adata.n_obs),
    "group_sizes": {str(k): int(v) for k, v in group_sizes.items()},
    "disease": {str(k): int(v) for k, v in adata.obs["disease"].value_counts().items()},
    "score_sets": list(map(str, adata.obsm["mg_ssgsea"].columns)),
    "balance_finite": int(adata.obs["mg_balance"].notna().sum()),
    "stage_groups": sorted(map(str, stage_table["group"].unique())),
    "stage_n_ref": sorted(set(int(x) for x in stage_table["n_ref"])),
    "stage_features": sorted(map(str, stage_table["feature"].unique())),
    "trend_n": sorted(set(int(x) for x in trend_table["n"])),
    "trend_efflux_rho": float(trend_table.set_index("feature").loc["MG_EFFLUX_EXCHANGE", "rho"]),
    "de_genes": int(len(de)),
    "de_all_kept": bool(len(de) == int(expressed.sum())),
    "gsea_sets": sorted(map(str, gsea["set"])),
    "gsea_pval_ok": bool(gsea["pval"].between(0, 1).all()),
    "meta135_n": int(meta135.n_obs),
    "meta135_conditions": {str(k): int(v) for k, v in meta135.obs["condition"].value_counts().items()},
    "meta135_fibrosis": int(meta135.obs["fibrosis_stage"].notna().sum()),
}))
""",
    "02_hcc_GSE77314_paired.ipynb": """
import json
p = paired.set_index("feature")
print("NOTEBOOK_SUMMARY " + json.dumps({
    "n_obs": int(adata.n_obs),
    "n_pairs": int(n_pairs),
    "conditions": {str(k): int(v) for k, v in adata.obs["condition"].value_counts().items()},
    "paired_n": {g: int(p.loc[g, "n"]) for g in ["CNNM4", "TRPM7", "SLC41A1", "PTP4A3"]},
    "paired_flag": bool(paired["paired"].all()),
    "paired_features": sorted(map(str, paired["feature"])),
    "de_genes": int(len(de)),
    "shift": float(shift),
    "gsea_sets": sorted(map(str, gsea["set"])),
    "magt1_klrk1": [{"group": str(r.group), "adjusted_for": str(r.adjusted_for), "n": int(r.n)}
                    for r in magt1_klrk1.itertuples()],
}))
""",
    "03_ald_cohorts.ipynb": """
import json
print("NOTEBOOK_SUMMARY " + json.dumps({
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
    "cohorts": {str(r.accession): [str(r.status), int(r.n_samples)] for r in result.cohorts.itertuples()},
    "n_claims": int(len(claims)),
    "n_claims_table": int(len(mg.claims.load_claims())),
    "verdicts": {str(r.claim_id): str(r.verdict) for r in claims.itertuples()},
    "main_cohorts": sorted(map(str, main["cohort"].unique())),
    "main_features": sorted(map(str, main["feature"].unique())),
    "meta_k_max": int(result.meta["k"].max()),
    "per_disease_groups": sorted(map(str, per_disease["group"].unique())),
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
    return nbformat.read(NB_DIR / name, as_version=4)


def _execute(name: str, jupyter_dir: str, workdir: Path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", jupyter_dir)
    nb = _load(name)
    nb.cells.append(nbformat.v4.new_code_cell(SUMMARY[name].strip()))
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
    return json.loads(lines[-1][len(MARK):]), images


@pytest.fixture
def notebook_env(mirror_env, shared_dir, monkeypatch, kernel_name):
    monkeypatch.setenv("MGTRANSCRIPT_SAMPLES", str(shared_dir / "samples"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("MGTRANSCRIPT_PROGRESS", "0")
    monkeypatch.delenv("MGTRANSCRIPT_OFFLINE", raising=False)
    return kernel_name


# --------------------------------------------------------------------------- static checks (fast)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(name):
    nb = _load(name)
    nbformat.validate(nb)
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


# --------------------------------------------------------------------------- execution (slow)


@pytest.mark.slow
def test_masld_notebook(notebook_env, tmp_path, monkeypatch):
    s, images = _execute("01_masld_GSE126848.ipynb", notebook_env, tmp_path, monkeypatch)
    assert s["n_obs"] == 57
    assert s["group_sizes"] == {"healthy": 14, "obese": 12, "NAFL": 15, "NASH": 16}
    assert s["disease"] == {"control": 26, "MASLD": 31}
    # influx and efflux scored as separate sets, plus the signed balance for every sample
    assert {"MG_PM_INFLUX", "MG_EFFLUX_EXCHANGE"} <= set(s["score_sets"])
    assert s["balance_finite"] == 57
    # every stage against the healthy reference (14 livers)
    assert s["stage_groups"] == ["NAFL", "NASH", "obese"]
    assert s["stage_n_ref"] == [14]
    assert {"MG_EFFLUX_EXCHANGE", "mg_balance", "CNNM4"} <= set(s["stage_features"])
    assert s["trend_n"] == [57]
    assert -1 <= s["trend_efflux_rho"] <= 1
    assert 10000 < s["de_genes"] < 19773 and s["de_all_kept"]
    assert {"MG_EFFLUX_EXCHANGE", "MG_PM_INFLUX", "HALLMARK_INFLAMMATORY_RESPONSE"} <= set(s["gsea_sets"])
    assert s["gsea_pval_ok"]
    # GSE135251 metadata only: 216 biopsies, every one with a fibrosis stage
    assert s["meta135_n"] == 216
    assert s["meta135_conditions"] == {"healthy": 10, "NAFL": 51, "NASH": 155}
    assert s["meta135_fibrosis"] == 216
    assert images >= 4, f"expected the score, heatmap, volcano and GSEA plots; got {images} images"


@pytest.mark.slow
def test_hcc_paired_notebook(notebook_env, tmp_path, monkeypatch):
    s, images = _execute("02_hcc_GSE77314_paired.ipynb", notebook_env, tmp_path, monkeypatch)
    assert s["n_obs"] == 100
    assert s["conditions"] == {"hcc_nontumour": 50, "hcc_tumour": 50}
    assert s["n_pairs"] == 50
    assert s["paired_flag"]
    assert s["paired_n"] == {"CNNM4": 50, "TRPM7": 50, "SLC41A1": 50, "PTP4A3": 50}
    assert {"MG_EFFLUX_EXCHANGE", "MG_PM_INFLUX", "mg_balance"} <= set(s["paired_features"])
    assert s["de_genes"] > 10000
    assert {"MG_EFFLUX_EXCHANGE", "MG_PM_INFLUX"} <= set(s["gsea_sets"])
    ns = {(r["group"], r["adjusted_for"]): r["n"] for r in s["magt1_klrk1"]}
    assert ns[("all", "none")] == 100 and ns[("all", "PTPRC")] == 100
    assert ns[("hcc_tumour", "none")] == 50 and ns[("hcc_nontumour", "PTPRC")] == 50
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
def test_cross_disease_claims_notebook(notebook_env, tmp_path, monkeypatch):
    s, images = _execute("04_cross_disease_claims.ipynb", notebook_env, tmp_path, monkeypatch)
    assert s["cohorts"]["GSE126848"] == ["analysed", 57]
    assert s["cohorts"]["GSE77314"] == ["analysed", 100]
    assert s["cohorts"]["GSE135251"][1] == 216
    assert s["n_claims"] == s["n_claims_table"] > 0
    allowed = {"supported", "contradicted", "inconclusive", "not testable"}
    assert set(s["verdicts"].values()) <= allowed
    # claims on the analysed cohorts are judged, not skipped
    assert s["verdicts"]["R1-HCC"] != "not testable"
    assert s["verdicts"]["R1-MASLD"] != "not testable"
    assert s["verdicts"]["L11"] == "not testable"  # serum Mg
    assert s["main_cohorts"] == ["GSE126848", "GSE77314"]
    assert {"MG_EFFLUX_EXCHANGE", "MG_PM_INFLUX", "mg_balance"} <= set(s["main_features"])
    assert s["per_disease_groups"] == ["HCC", "MASLD"]
    assert s["meta_k_max"] >= 1
    assert images >= 1, "the forest plot was not drawn"
