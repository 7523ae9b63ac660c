"""Render the report of a REAL run on the mirror (for looking at it, and for the slow report test).

Runs :func:`mgtranscript.pipeline.run_analysis` (figures and report off), keeps each analysed
cohort's AnnData, and fills whatever the result lacks of the result schema
(notes/result_schema.md): per-sample ``features``, ``rankings``, ``gene_sets``, ``de_contrast``,
cohort fields (``reason_short``, ``design``, ``data_source`` ...), a ``claims_evidence`` table
from the comparisons/coupling rows, ``inputs`` with bytes. A pipeline that already fills a
field keeps its value: with the full schema in place this adapter only passes the result on.

Use::

    MGTRANSCRIPT_MIRROR=../shared/mirror python3 tests/support/report_real.py /tmp/rep-real-out
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

KEY_GENES = ("CNNM4", "CNNM2", "CNNM3", "TRPM7", "SLC41A1", "SLC41A3", "MAGT1", "MRS2", "PTP4A1", "PTP4A2",
             "PTP4A3", "ARL15", "KLRK1")


def _has(res, name) -> bool:
    v = getattr(res, name, None)
    if isinstance(v, pd.DataFrame):
        return not v.empty
    return bool(v)


def run_real(out: Path, cohorts=None, *, permutations: int = 200):
    """Run the pipeline on the mirror and return (result adapted to the schema, captured AnnDatas)."""
    import mgtranscript.pipeline as P

    captured = {}
    orig = P.analyse_cohort

    def keep(adata, accession, **kw):
        orig(adata, accession, **kw)
        captured[accession] = adata

    P.analyse_cohort = keep
    try:
        res = P.run_analysis(out, cohorts=cohorts, permutations=permutations, plots=False, report=False,
                             progress=False)
    finally:
        P.analyse_cohort = orig
    adapt(res, captured)
    return res, captured


def _features(adata) -> pd.DataFrame:
    obs = adata.obs
    cols = [c for c in ("condition", "disease", "pair_id", "fibrosis_stage", "subgroup") if c in obs]
    df = pd.DataFrame({c: obs[c].astype(object).where(obs[c].notna(), None) for c in cols}, index=adata.obs_names)
    if "fibrosis_stage" in df:
        df["fibrosis_stage"] = pd.to_numeric(df["fibrosis_stage"], errors="coerce")
    for key in ("mg_ssgsea", "mech_ssgsea"):
        if key in adata.obsm:
            m = adata.obsm[key]
            m = m if isinstance(m, pd.DataFrame) else pd.DataFrame(m, index=adata.obs_names)
            df = df.join(m)
    if "mg_balance" in obs:
        df["mg_balance"] = obs["mg_balance"].astype(float)
    genes = [g for g in KEY_GENES if g in adata.var_names]
    X = adata[:, genes].X
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    for i, g in enumerate(genes):
        df[g] = X[:, i].astype(float)
    return df


def adapt(res, captured: dict) -> None:
    """Fill the schema fields the (old) pipeline does not produce; keep every field it does."""
    from mgtranscript import datasets
    from mgtranscript.genesets import load as load_sets
    from mgtranscript.genesets import mechanism_sets

    if not _has(res, "features"):
        res.features = {acc: _features(a) for acc, a in captured.items()}
    if not _has(res, "de_contrast"):
        res.de_contrast = {acc: str(df["contrast"].iloc[0]) for acc, df in res.de.items() if len(df)}
    if not _has(res, "rankings"):
        res.rankings = {acc: df.set_index("gene")["stat"].dropna() for acc, df in res.de.items()}
    if not _has(res, "gene_sets"):
        sets = {k: list(v) for k, v in dict(load_sets("magnesium")).items()}
        try:
            sets.update({k: list(v) for k, v in dict(mechanism_sets()).items()})
        except Exception:  # noqa: BLE001 - mechanism sets optional here
            pass
        res.gene_sets = sets
    params = dict(res.params)
    params.setdefault("score_units", "ssGSEA score (unnormalised)")
    params.setdefault("expression_units", "log2 CPM (TMM)")
    res.params = params
    # cohorts
    c = res.cohorts.copy()
    cat = datasets.catalog().set_index("accession")
    if "reason_short" not in c:
        c["reason_short"] = c["reason"].fillna("").astype(str).map(_short_reason)
    for col, fn in (("design", lambda a: "paired" if a in captured and "pair_id" in captured[a].obs else "unpaired"),
                    ("technology", lambda a: "rnaseq"),
                    ("data_source", lambda a: str(captured[a].uns.get("geo", {}).get("data_source", ""))
                     if a in captured else ""),
                    ("title", lambda a: str(cat.loc[a, "title"]) if a in cat.index and "title" in cat else ""),
                    ("citation", lambda a: str(cat.loc[a, "citation"])
                     if a in cat.index and "citation" in cat else "")):
        if col not in c:
            c[col] = c["accession"].map(fn)
    res.cohorts = c
    sc = res.sample_counts.copy()
    if "analysed" not in sc:
        analysed = set(c.loc[c["status"] == "analysed", "accession"])
        sc["analysed"] = sc["accession"].isin(analysed)
    res.sample_counts = sc
    # enrichment tables: one FDR column, schema names
    if "qval" in res.gsea and "fdr" in res.gsea:
        res.gsea = res.gsea.drop(columns=["qval"])
    res.ora = res.ora.rename(columns={"overlap": "n_overlap", "set_size_in_universe": "set_size"})
    # coupling / correlations in the schema's shape
    cp = res.coupling
    if len(cp) and "estimate" not in cp:
        res.coupling = cp.rename(columns={"rho": "estimate"}).assign(
            design="pooled", level="combined", ci_low=np.nan, ci_high=np.nan)
    cr = res.correlations
    if len(cr) and "estimate" not in cr:
        res.correlations = cr.rename(columns={"rho": "estimate"}).assign(design="pooled", level="combined",
                                                                         ci_low=np.nan, ci_high=np.nan)
    if len(res.meta) and "k" in res.meta:
        res.meta = res.meta[res.meta["k"] >= 2].reset_index(drop=True)
    # claims: the old columns plus the schema's
    cl = res.claims.copy()
    for col, default in (("scope", "tissue"), ("certainty", ""), ("robustness", ""), ("caveats", "")):
        if col not in cl:
            cl[col] = default
    if "n_cohorts" not in cl:
        cl["n_cohorts"] = cl["cohorts"].fillna("").astype(str).map(lambda s: len([x for x in s.split(";") if x]))
    res.claims = cl
    if not _has(res, "claims_evidence"):
        res.claims_evidence = _evidence(res)
    # inputs with bytes and where they came from
    inputs = []
    from mgtranscript import settings

    mirror = settings.mirror or ""
    for f in res.inputs:
        f = dict(f)
        if "bytes" not in f:
            url = str(f.get("url", ""))
            path = Path(mirror) / url.split("://", 1)[-1] if mirror and "://" in url else Path(url)
            f["bytes"] = path.stat().st_size if path.is_file() else np.nan
            f["source"] = "mirror" if mirror else "cache"
        inputs.append(f)
    res.inputs = inputs


def _short_reason(r: str) -> str:
    if not r:
        return ""
    first = r.split(";")[0].split(". ")[0]
    if ": " in first and first.split(": ", 1)[0].startswith(("GSE", "TCGA")):
        first = first.split(": ", 1)[1]
    return first[:117] + "…" if len(first) > 120 else first


def _evidence(res) -> pd.DataFrame:
    rows = []
    cmp = res.comparisons
    for _, c in res.claims.iterrows():
        cid, feat, contrast = c["claim_id"], str(c["features"]), str(c["contrast"])
        if c["verdict"] == "not testable":
            continue
        if "|" in contrast and len(cmp):
            sub = cmp[(cmp["contrast"] == contrast) & (cmp["feature"] == feat)]
            for _, r in sub.iterrows():
                rows.append(dict(claim_id=cid, cohort=r["cohort"], contrast=contrast, feature=feat,
                                 test="Hedges' g, " + ("paired t" if r.get("paired") else "Welch t"),
                                 design="paired" if r.get("paired") else "unpaired", effect_kind="hedges_g",
                                 estimate=r["hedges_g"], ci_low=r["g_ci_low"], ci_high=r["g_ci_high"],
                                 pval=r["t_pval"], qval=r["qval"], n=int(r["n_group"] + r["n_ref"]), role="primary",
                                 included=True, why=""))
        elif "~" in feat and len(res.coupling):
            mg, mech = feat.split("~", 1)
            sub = res.coupling[(res.coupling["mg_set"] == mg) & (res.coupling["mechanism"] == mech)]
            for _, r in sub.iterrows():
                rows.append(dict(claim_id=cid, cohort=r["cohort"], contrast="coupling",
                                 feature=f"{mg}~{r['mechanism_set']}", test="Spearman, pooled over groups",
                                 design="pooled", effect_kind="rho", estimate=r["estimate"], ci_low=np.nan,
                                 ci_high=np.nan, pval=r["pval"], qval=r["qval"], n=int(r["n"]), role="primary",
                                 included=True, why="old pipeline: pooled across groups"))
        elif contrast.startswith("trend:") and len(res.trends):
            sub = res.trends[(res.trends["feature"] == feat) & (res.trends["by"] == contrast.split(":", 1)[1])]
            for _, r in sub.iterrows():
                rows.append(dict(claim_id=cid, cohort=r["cohort"], contrast=contrast, feature=feat,
                                 test="Spearman vs stage", design="ordered", effect_kind="rho", estimate=r["rho"],
                                 ci_low=np.nan, ci_high=np.nan, pval=r["pval"], qval=r["qval"], n=int(r["n"]),
                                 role="primary", included=True, why=""))
    return pd.DataFrame(rows)


if __name__ == "__main__":  # pragma: no cover - a tool for looking at a real report
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import time

    from mgtranscript.report import write_report

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/rep-real-out")
    t0 = time.time()
    res, _ = run_real(out)
    t1 = time.time()
    path = write_report(res, out)
    print(f"pipeline {t1 - t0:.0f} s, report {time.time() - t1:.0f} s: {path} ({path.stat().st_size // 1024} kB)")
