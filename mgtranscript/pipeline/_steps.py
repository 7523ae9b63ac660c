"""The analyses of one cohort after its scores and design audit (:mod:`._cohort` runs them): DE
(voom / limma-trend) with GSEA and ORA of the main contrast, HCC by etiology, ordered trends,
within-group couplings and claim correlations, and the per-sample features for figures. Each
adds its rows to the cohort's :class:`~._result.CohortResult` and returns the effect rows a
claim can use."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._contrasts import (
    ALT_METHODS,
    COUPLING_MG_SETS,
    ETIOLOGIES,
    NOT_A_STAGE,
    compare_table,
    correlate_table,
    labelled,
    n_pairs,
    within_kw,
)
from ._design import covariate_words

__all__ = ["de_tables", "enrich", "etiology", "trends", "couplings", "correlations", "features"]


def de_tables(adata, k: dict, covariates=()) -> dict[str, tuple[pd.DataFrame, str, pd.DataFrame | None]]:
    """voom (counts) and limma-trend (log-CPM) for one contrast, on genes passing filterByExpr; with
    ``covariates`` in the design (and the unadjusted table beside)."""
    from .. import get, pp, tl

    sub = adata[adata.obs[k["groupby"]].astype(str).isin((k["group"], k["reference"])).to_numpy()]
    out = {}
    base = dict(groupby=k["groupby"], group=k["group"], reference=k["reference"], paired_by=k["paired_by"])
    extra = f", adjusted for {covariate_words(covariates)}" if covariates else ""

    def run(data, **kw):
        tl.de(data, key_added="_de", covariates=list(covariates) or None, **base, **kw)
        tab = get.de(data, "_de")
        unadj = None
        if covariates:
            tl.de(data, key_added="_de", **base, **kw)
            unadj = get.de(data, "_de")
        return tab, unadj

    if "counts" in adata.layers:
        keep = pp.expressed_genes(sub, group=k["groupby"])
        sub = sub[:, keep].copy()
        out["DE: voom"] = (*run(sub, method="voom"), "voom + limma (TMM, filterByExpr)" + extra)
    else:
        sub = sub.copy()
    text = ("limma-trend on log2-CPM" if "counts" in adata.layers else "limma-trend") + extra
    out["DE: limma-trend"] = (*run(sub, method="limma", trend=True), text)
    return {s: (d, t, u) for s, (d, u, t) in out.items()}


def enrich(cr, accession, k, de, text, mg, mechanisms, permutations, seed) -> None:
    """The main contrast's DE table, its ranking by moderated t, GSEA prerank of the Mg and mechanism
    sets and ORA of the Mg sets in its DE genes (padj < 0.05)."""
    from .. import tl

    cr.de = de.assign(cohort=accession, contrast=k["tag"], method=text)
    cr.de_contrast = k["tag"]
    ranking = de.set_index("gene")["stat"].dropna()
    cr.ranking = ranking
    sets = dict(mg)
    if mechanisms is not None:
        sets.update(dict(mechanisms))
    g = tl.gsea_prerank(ranking, sets, permutations=permutations, seed=seed, min_size=2)
    cr.append("gsea", g.assign(cohort=accession, contrast=k["tag"]))
    sig = de.loc[de["padj"] < 0.05, "gene"].tolist()
    if sig:
        o = tl.ora(sig, mg, universe=list(de["gene"]))
        cr.append("ora", o.assign(cohort=accession, contrast=k["tag"], n_de=len(sig)))


def etiology(adata, accession, mg_key, genes, cr) -> list[dict]:
    """HCC by etiology (where recorded): tumour vs matched non-tumour within each etiology, and Mg
    scores of alcohol-related and NAFLD-related vs viral tumours. Context for the HCC and ALD
    claims, never voted: alcohol-related HCC is not alcohol-related liver disease without cancer."""
    from .. import claims as E

    if "etiology" not in adata.obs or "condition" not in adata.obs:
        return []
    eff = []
    obs = adata.obs
    etio = obs["etiology"].astype(str)
    cond = obs["condition"].astype(str)
    for e in ETIOLOGIES:
        sub = adata[(etio == e).to_numpy()]
        if n_pairs(sub.obs, "condition", "hcc_tumour", "hcc_nontumour") < 5:
            continue
        t = compare_table(sub.copy(), keys=[mg_key, "mg_balance"], genes=genes, groupby="condition",
                          reference="hcc_nontumour", groups=["hcc_tumour"], paired_by="pair_id")
        t["contrast"] = f"condition:hcc_tumour|hcc_nontumour [etiology={e}]"
        cr.append("comparisons", t.assign(cohort=accession))
        for r in E.compare_effects(t, cohort=accession, area="HCC"):
            r.update(analysis="context", note=f"{accession}, {e}-related HCC only: tumour vs matched non-tumour "
                                              f"g {r['estimate']:+.2f}, p {r['pval']:.2g}, {int(r['n'])} pairs")
            eff.append(r)
    tumours = adata[(cond == "hcc_tumour").to_numpy()].copy()
    have = [e for e in ETIOLOGIES if (tumours.obs["etiology"].astype(str) == e).sum() >= 5]
    if "viral" in have and len(have) > 1:
        t = compare_table(tumours, keys=[mg_key, "mg_balance"], genes=genes, groupby="etiology", reference="viral",
                          groups=[e for e in have if e != "viral"])
        cr.append("comparisons", t.assign(cohort=accession))
        for r in E.compare_effects(t, cohort=accession, area="HCC"):
            grp = r["contrast"].split(":", 1)[1].split("|")[0]
            r.update(analysis="context", disease_area="ALD" if grp == "alcohol" else "HCC",
                     note=f"{accession} tumours: {grp}-related vs viral HCC g {r['estimate']:+.2f}, "
                          f"p {r['pval']:.2g} (alcohol-related HCC is not ALD without cancer)")
            eff.append(r)
    return eff


def trends(adata, accession, area, mg_key, genes, cr) -> list[dict]:
    from .. import get, tl
    from ..claims import trend_effects
    from ..datasets import condition_order

    specs = []
    present = set(adata.obs.get("condition", pd.Series(dtype=str)).astype(str))
    order = [o for o in condition_order(accession) if o in present and o not in NOT_A_STAGE]
    if len(order) >= 3:
        specs.append((adata, "condition", order))
    for col, subset in (("fibrosis_stage", None), ("tumor_grade_num", "hcc_tumour")):
        if col in adata.obs and pd.to_numeric(adata.obs[col], errors="coerce").notna().sum() >= 6:
            sub = adata if subset is None else adata[(adata.obs["condition"].astype(str) == subset).to_numpy()].copy()
            specs.append((sub, col, None))
    eff = []
    for sub, by, ordr in specs:
        tl.trend(sub, by=by, order=ordr, keys=[mg_key, "mg_balance"], genes=genes, key_added="_trend")
        table = get.trend(sub, "_trend").assign(cohort=accession)
        sub.uns.pop("_trend")
        if "by" not in table:
            table["by"] = by
        table["by"] = table["by"].replace({"tumor_grade_num": "tumor_grade"})
        cr.append("trends", table)
        eff += trend_effects(table, cohort=accession, area=area)
    return eff


def couplings(adata, accession, area, method, mechanisms, composition, cr) -> list[dict]:
    from ..claims import correlation_effects

    if mechanisms is None:
        return []
    sub = labelled(adata)
    mg_key, mech_key = f"mg_{method}", f"mech_{method}"
    xs = [f"{mg_key}:{s}" for s in COUPLING_MG_SETS if s in sub.obsm[mg_key]]
    ys = [f"{mech_key}:{s}" for s in sub.obsm[mech_key].columns]
    feat = lambda r: f"{r['x'].split(':', 1)[-1]}~{r['y'].split(':', 1)[-1]}"  # noqa: E731
    tables = [(correlate_table(sub, xs, ys, **within_kw(sub, accession)), "primary"),
              (correlate_table(sub, xs, ys), "primary")]
    unions = [c for c in sub.obsm[mech_key].columns if c.startswith("MECH_")]
    for alt in ALT_METHODS:
        if alt != method and f"mech_{alt}" in sub.obsm:
            t = correlate_table(sub, [f"mg_{alt}:MG_EFFLUX_EXCHANGE"], [f"mech_{alt}:{u}" for u in unions],
                                **within_kw(sub, accession))
            tables.append((t, f"scoring: {alt}"))
    if composition:
        t = correlate_table(sub, [f"{mg_key}:MG_EFFLUX_EXCHANGE"], [f"{mech_key}:{u}" for u in unions],
                            covariates=composition, **within_kw(sub, accession))
        tables.append((t, "adjusted: composition"))
    eff = []
    for t, scen in tables:
        if scen == "primary":
            cr.append("coupling", t.assign(cohort=accession, mg_set=t["x"].str.split(":").str[-1],
                                           mechanism_set=t["y"].str.split(":").str[-1]))
        eff += correlation_effects(t, cohort=accession, area=area, analysis="coupling", scenario=scen,
                                   feature_of=feat)
    return eff


def correlations(adata, accession, area, claims, composition, cr) -> list[dict]:
    from ..claims import correlation_effects

    sub = labelled(adata)
    eff = []
    for feat in claims.loc[claims["feature_kind"] == "correlation", "features"]:
        x, _, y = feat.partition("~")
        if x not in sub.var_names or y not in sub.var_names:
            continue
        tables = [correlate_table(sub, [x], [y], **within_kw(sub, accession)), correlate_table(sub, [x], [y])]
        if composition:
            tables.append(correlate_table(sub, [x], [y], covariates=composition, **within_kw(sub, accession)))
        for t in tables:
            t = t.assign(cohort=accession, feature_x=x, feature_y=y)
            cr.append("correlations", t)
            eff += correlation_effects(t, cohort=accession, area=area, analysis="correlation")
    return eff


def features(adata, mg_key: str, mech_key, genes: list[str], prep: dict) -> pd.DataFrame:
    """Per-sample labels, scores, composition and key-gene expression (for figures)."""
    from ..genesets import load as load_sets

    obs = adata.obs
    cols = [c for c in ("condition", "disease", "pair_id", "subgroup", "fibrosis_stage", "etiology", "os_days",
                        "os_event", "tumor_grade") if c in obs]
    df = obs[cols].copy()
    for c in ("condition", "disease", "pair_id", "subgroup", "etiology", "tumor_grade"):
        if c in df:
            df[c] = df[c].astype(str).replace("nan", "")
    df = df.join(adata.obsm[mg_key]).assign(mg_balance=obs["mg_balance"].astype(float))
    if mech_key and mech_key in adata.obsm:
        df = df.join(adata.obsm[mech_key])
    df = df.join(obs[prep["composition"]])
    heat = [g for g in load_sets("magnesium").get("MG_LIVER_CORE", ()) if g in adata.var_names]
    want = list(dict.fromkeys([*genes, *heat]))
    X = adata[:, want].X
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    return df.join(pd.DataFrame(X, index=adata.obs_names, columns=want))
