"""The per-cohort steps of the default analysis plan (:func:`analyse_cohort`).

:mod:`mgtranscript.pipeline` runs these steps over the cohorts it can obtain and hands the
results to :mod:`mgtranscript.claims` and :mod:`mgtranscript.report`. One labelled cohort goes
through: scoring (Mg, mechanism and composition sets, by the chosen method and the alternatives
of the sensitivity analysis; alternative normalisations), the design audit of each contrast
(:mod:`mgtranscript.plan_design`: a sex or age imbalance it flags is adjusted for in the primary
estimates, the unadjusted ones are the scenario ``"unadjusted for sex/age"``), group comparisons, DE + GSEA + ORA of the main contrast, trends, HCC by etiology, within-group
couplings and correlations, survival; every estimate a claim can use becomes a row of the
run's ``effects`` table (:func:`mgtranscript.claims.compare_effects` and the other builders).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import MgTranscriptError
from .plan_cells import cell_effects
from .plan_design import UNADJUSTED, audit_contrasts, covariate_words

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import AnalysisResult

logger = logging.getLogger(__name__)

#: Conditions that are not a stage of the cohort's main contrast (kept out of contrasts and trends).
_NOT_A_STAGE = ("hcc_recurrent",)

__all__ = ["analyse_cohort", "cell_effects", "KEY_GENES", "ALT_METHODS", "ALT_NORMS", "COUPLING_MG_SETS", "ETIOLOGIES"]

#: Single Mg genes compared gene by gene in every cohort.
KEY_GENES = ("CNNM4", "CNNM2", "CNNM3", "TRPM7", "SLC41A1", "SLC41A3", "MAGT1", "MRS2",
             "PTP4A1", "PTP4A2", "PTP4A3", "ARL15", "KLRK1")

#: Alternative scoring methods of the sensitivity analysis.
ALT_METHODS = ("gsva", "zscore")
#: Alternative normalisations of the sensitivity analysis (count cohorts).
ALT_NORMS = {"RLE": "normalisation: RLE", "upperquartile": "normalisation: upper quartile"}
#: Mg sets whose coupling with each mechanism is computed (the claims use MG_EFFLUX_EXCHANGE).
COUPLING_MG_SETS = ("MG_EFFLUX_EXCHANGE", "MG_LIVER_CORE")


# --------------------------------------------------------------------------- per cohort


def _contrasts(adata, accession: str, claims: pd.DataFrame) -> list[dict]:
    """Within-cohort contrasts: each condition vs the reference, each disease vs control, and the
    contrasts claims name whose groups the cohort has (at least 3 samples each)."""
    from .claims import contrast_parts
    from .datasets import cohort_info

    info = cohort_info(accession)
    obs = adata.obs
    paired = str(info.get("design", "")) == "paired" and "pair_id" in obs
    specs: dict[str, dict] = {}

    def add(col, grp, ref):
        if col not in obs:
            return
        vals = obs[col].astype(str)
        if (vals == grp).sum() < 3 or (vals == ref).sum() < 3:
            return
        pair = "pair_id" if paired and col == "condition" and _n_pairs(obs, col, grp, ref) >= 5 else None
        if pair is None and "pair_id" in obs and col == "condition" and _n_pairs(obs, col, grp, ref) >= 10:
            pair = "pair_id"  # matched subset of an otherwise unpaired cohort (e.g. TCGA)
        specs.setdefault(f"{col}:{grp}|{ref}", {"groupby": col, "group": grp, "reference": ref, "paired_by": pair})

    ref = info.get("reference")
    conds = [c for c in obs.get("condition", pd.Series(dtype=str)).astype(str).unique()
             if c not in ("unlabelled", "nan", *_NOT_A_STAGE)]
    for c in conds:
        if ref and c != ref:
            add("condition", c, ref)
    dis = obs.get("disease", pd.Series(dtype=str)).astype(str)
    if "control" in set(dis):
        for d in sorted(set(dis) - {"control", "unlabelled", "nan"}):
            add("disease", d, "control")
    for contrast in claims["contrast"]:
        if ":" in contrast and "|" in contrast and not contrast.startswith("trend:"):
            add(*contrast_parts(contrast))
    return [dict(v, tag=k) for k, v in specs.items()]


def _n_pairs(obs: pd.DataFrame, col: str, grp: str, ref: str) -> int:
    if "pair_id" not in obs:
        return 0
    sub = obs[obs[col].astype(str).isin((grp, ref))].dropna(subset=["pair_id"])
    per = sub.groupby(sub["pair_id"].astype(str), observed=True)[col].agg(lambda s: set(s.astype(str)))
    return int(sum(1 for s in per if s == {grp, ref}))


def _main_contrast(contrasts: list[dict], accession: str) -> dict | None:
    """The most advanced stage vs the reference (e.g. NASH vs healthy, tumour vs non-tumour)."""
    from .datasets import condition_order

    order = list(condition_order(accession))
    ref = order[0] if order else None
    cond = [k for k in contrasts if k["groupby"] == "condition" and k["reference"] == ref]
    if cond:
        return max(cond, key=lambda k: order.index(k["group"]) if k["group"] in order else -1)
    return contrasts[0] if contrasts else None


def _prepare(adata, accession: str, *, method: str, mechanisms, result: AnalysisResult) -> dict:
    """Scores (primary and alternative methods), union mechanism sets, composition and
    alternative normalisations; returns what later steps need."""
    from . import get, pp, tl
    from .claims import mechanism_union
    from .genesets import load as load_sets

    mg = load_sets("magnesium")
    sets = {"mg": mg}
    if mechanisms is not None:
        mech = dict(mechanisms)
        mech.update(mechanism_union(_mechanism_table(), mechanisms))
        sets["mech"] = mech
    for m in (method, *[a for a in ALT_METHODS if a != method]):
        for prefix, gs in sets.items():
            tl.score(adata, gs, method=m, key_added=f"{prefix}_{m}", progress=False)
    tl.mg_balance(adata, key_added="mg_balance")  # z-scores of genes: independent of the scoring method
    cov = get.coverage(adata, f"mg_{method}")
    result.append("coverage", cov.reset_index().rename(columns={"index": "set"}).assign(cohort=accession))
    comp_cols: list[str] = []
    try:
        tl.composition(adata, key_added="composition")
        comp_cols = [c for c in adata.obs.columns if c.startswith("composition_")]
    except MgTranscriptError as exc:
        logger.warning("%s: composition scores unavailable (%s)", accession, exc)
    alt_layers = {}
    if "counts" in adata.layers:
        for norm, scen in ALT_NORMS.items():
            alt = pp.log2_cpm(adata, norm=norm, copy=True)
            adata.layers[f"logcpm_{norm}"] = np.asarray(alt.X)
            tl.mg_balance(adata, layer=f"logcpm_{norm}", key_added=f"mg_balance_{norm}")
            alt_layers[scen] = norm
    result.gene_sets.update({k: list(v) for k, v in mg.items()})
    if "mech" in sets:
        result.gene_sets.update({k: list(v) for k, v in sets["mech"].items()})
    return {"mg": mg, "composition": comp_cols, "alt_layers": alt_layers}


def _mechanism_table() -> dict[str, tuple[str, ...]]:
    from .genesets import MECHANISMS

    return MECHANISMS


def analyse_cohort(adata, accession: str, *, method: str = "ssgsea", mechanisms=None, permutations: int = 1000,
                   seed: int = 0, result: AnalysisResult, claims: pd.DataFrame | None = None) -> None:
    """Run steps 2-5 of the plan on one labelled cohort, appending to ``result``."""
    from . import tl
    from . import claims as E
    from .claims import load_claims
    from .datasets import cohort_info

    claims = load_claims() if claims is None else claims
    info = cohort_info(accession)
    area = str(info.get("disease_area", ""))
    if "tumor_grade" in adata.obs:  # G1 (well) .. G4 (undifferentiated); GX / not reported -> NaN
        grade = adata.obs["tumor_grade"].astype(str).str.extract(r"^G([1-4])$", expand=False)
        adata.obs["tumor_grade_num"] = pd.to_numeric(grade, errors="coerce")
    prep = _prepare(adata, accession, method=method, mechanisms=mechanisms, result=result)
    mg_key = f"mg_{method}"
    genes = [g for g in KEY_GENES if g in adata.var_names]
    contrasts = _contrasts(adata, accession, claims)
    eff: list[dict] = []
    # genes of claims with a fold-change margin ("not down", L10) also get their mean log2 difference
    fold = set(claims.loc[claims["expected_direction"] == "not down", "features"])

    # design audit, per contrast; covariates the primary estimates are adjusted for (sex/age imbalance)
    adjust = audit_contrasts(adata, accession, contrasts, result)

    # group comparisons: primary and alternatives
    for k in contrasts:
        base = dict(groupby=k["groupby"], reference=k["reference"], groups=[k["group"]])
        adj = adjust.get(k["tag"], [])
        cw = dict(covariates=adj or None)
        ew = dict(cohort=accession, area=area, covariates=covariate_words(adj))
        table = _compare(adata, keys=[mg_key, "mg_balance"], genes=genes, paired_by=k["paired_by"], **cw, **base)
        result.append("comparisons", table.assign(cohort=accession))
        eff += E.compare_effects(table, **ew)
        eff += E.difference_effects(table, fold, **ew)
        if adj:
            t = _compare(adata, keys=[mg_key, "mg_balance"], genes=genes, paired_by=k["paired_by"], **base)
            eff += E.compare_effects(t, cohort=accession, area=area, scenario=UNADJUSTED)
            eff += E.difference_effects(t, fold, cohort=accession, area=area, scenario=UNADJUSTED)
        for alt in ALT_METHODS:
            if alt != method:
                t = _compare(adata, keys=[f"mg_{alt}"], paired_by=k["paired_by"], **cw, **base)
                eff += E.compare_effects(t, scenario=f"scoring: {alt}", **ew)
        for scen, norm in prep["alt_layers"].items():
            t = _compare(adata, keys=[f"mg_balance_{norm}"], genes=genes, layer=f"logcpm_{norm}",
                         paired_by=k["paired_by"], **cw, **base)
            t["feature"] = t["feature"].replace({f"mg_balance_{norm}": "mg_balance"})
            eff += E.compare_effects(t, scenario=scen, **ew)
            eff += E.difference_effects(t, fold, scenario=scen, **ew)
        if k["paired_by"]:
            t = _compare(adata, keys=[mg_key, "mg_balance"], genes=genes, paired_by=None, **base)
            eff += E.compare_effects(t, cohort=accession, area=area, scenario="unpaired")
            eff += E.difference_effects(t, fold, cohort=accession, area=area, scenario="unpaired")
        ref_cond = info.get("reference")
        if k["groupby"] == "disease" and k["reference"] == "control" and ref_cond and "condition" in adata.obs:
            ctrl = adata.obs["condition"].astype(str)[adata.obs["disease"].astype(str) == "control"]
            if ctrl.nunique() > 1 and (ctrl == ref_cond).sum() >= 3:
                keep = ~((adata.obs["disease"].astype(str) == "control")
                         & (adata.obs["condition"].astype(str) != ref_cond))
                t = _compare(adata[keep.to_numpy()].copy(), keys=[mg_key, "mg_balance"], genes=genes, **cw, **base)
                eff += E.compare_effects(t, scenario="controls: reference condition only", **ew)
                eff += E.difference_effects(t, fold, scenario="controls: reference condition only", **ew)
        if prep["composition"]:
            t = _compare(adata, keys=[mg_key, "mg_balance"], genes=genes, paired_by=k["paired_by"],
                         covariates=adj + prep["composition"], **base)
            if "adj_diff" in t:
                eff += E.compare_effects(t, cohort=accession, area=area, scenario="adjusted: composition")

    # DE for gene claims' contrasts and the main contrast: voom (counts) or limma (arrays), + limma-trend
    main = _main_contrast(contrasts, accession)
    gene_claim_contrasts = set(claims.loc[claims["feature_kind"] == "gene", "contrast"])
    for k in contrasts:
        is_main = main is not None and k["tag"] == main["tag"]
        if not is_main and k["tag"] not in gene_claim_contrasts:
            continue
        adj = adjust.get(k["tag"], [])
        de_tables = _de(adata, k, adj)
        for scen, (de, text, unadj) in de_tables.items():
            eff += E.de_effects(de, genes, cohort=accession, area=area, contrast=k["tag"], scenario=scen,
                                method_text=text, unadjusted=unadj)
        if is_main:
            de, text, _ = de_tables["DE: voom"] if "DE: voom" in de_tables else de_tables["DE: limma-trend"]
            _enrich(result, adata, accession, k, de, text, prep["mg"], mechanisms, permutations, seed)

    eff += _etiology(adata, accession, mg_key, genes, result)
    eff += _trends(adata, accession, area, mg_key, genes, result)
    eff += _couplings(adata, accession, area, method, mechanisms, prep["composition"], result)
    eff += _correlations(adata, accession, area, claims, prep["composition"], result)
    eff += _survival(adata, accession, area, claims, result)
    result.append("effects", pd.DataFrame(eff, columns=E.EFFECT_COLUMNS))
    result.features[accession] = _features(adata, mg_key, mechanisms is not None and f"mech_{method}", genes,
                                           prep)


def _compare(adata, *, keys=None, genes=None, layer=None, paired_by=None, covariates=None, **base) -> pd.DataFrame:
    from . import get, tl

    kw = {"covariates": covariates} if covariates else {}
    tl.compare(adata, keys=keys, genes=genes or None, layer=layer, paired_by=paired_by, key_added="_cmp", **base, **kw)
    table = get.compare(adata, "_cmp")
    adata.uns.pop("_cmp")
    return table


def _de(adata, k: dict, covariates=()) -> dict[str, tuple[pd.DataFrame, str, pd.DataFrame | None]]:
    """voom (counts) and limma-trend (log-CPM) for one contrast, on genes passing filterByExpr; with
    ``covariates`` in the design (and the unadjusted table beside)."""
    from . import get, pp, tl

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


def _enrich(result, adata, accession, k, de, text, mg, mechanisms, permutations, seed) -> None:
    from . import tl

    result.de[accession] = de.assign(cohort=accession, contrast=k["tag"], method=text)
    result.de_contrast[accession] = k["tag"]
    ranking = de.set_index("gene")["stat"].dropna()
    result.rankings[accession] = ranking
    sets = dict(mg)
    if mechanisms is not None:
        sets.update(dict(mechanisms))
    g = tl.gsea_prerank(ranking, sets, permutations=permutations, seed=seed, min_size=2)
    result.append("gsea", g.assign(cohort=accession, contrast=k["tag"]))
    sig = de.loc[de["padj"] < 0.05, "gene"].tolist()
    if sig:
        o = tl.ora(sig, mg, universe=list(de["gene"]))
        result.append("ora", o.assign(cohort=accession, contrast=k["tag"], n_de=len(sig)))


#: Etiology groups compared among HCC tumours (TCGA-LIHC risk factors), reference "viral".
ETIOLOGIES = ("alcohol", "viral", "NAFLD")


def _etiology(adata, accession, mg_key, genes, result) -> list[dict]:
    """HCC by etiology (where recorded): tumour vs matched non-tumour within each etiology, and Mg
    scores of alcohol-related and NAFLD-related vs viral tumours. Context for the HCC and ALD
    claims, never voted: alcohol-related HCC is not alcohol-related liver disease without cancer."""
    from . import claims as E

    if "etiology" not in adata.obs or "condition" not in adata.obs:
        return []
    eff = []
    obs = adata.obs
    etio = obs["etiology"].astype(str)
    cond = obs["condition"].astype(str)
    for e in ETIOLOGIES:
        sub = adata[(etio == e).to_numpy()]
        if _n_pairs(sub.obs, "condition", "hcc_tumour", "hcc_nontumour") < 5:
            continue
        t = _compare(sub.copy(), keys=[mg_key, "mg_balance"], genes=genes, groupby="condition",
                     reference="hcc_nontumour", groups=["hcc_tumour"], paired_by="pair_id")
        t["contrast"] = f"condition:hcc_tumour|hcc_nontumour [etiology={e}]"
        result.append("comparisons", t.assign(cohort=accession))
        for r in E.compare_effects(t, cohort=accession, area="HCC"):
            r.update(analysis="context", note=f"{accession}, {e}-related HCC only: tumour vs matched non-tumour "
                                              f"g {r['estimate']:+.2f}, p {r['pval']:.2g}, {int(r['n'])} pairs")
            eff.append(r)
    tumours = adata[(cond == "hcc_tumour").to_numpy()].copy()
    have = [e for e in ETIOLOGIES if (tumours.obs["etiology"].astype(str) == e).sum() >= 5]
    if "viral" in have and len(have) > 1:
        t = _compare(tumours, keys=[mg_key, "mg_balance"], genes=genes, groupby="etiology", reference="viral",
                     groups=[e for e in have if e != "viral"])
        result.append("comparisons", t.assign(cohort=accession))
        for r in E.compare_effects(t, cohort=accession, area="HCC"):
            grp = r["contrast"].split(":", 1)[1].split("|")[0]
            r.update(analysis="context", disease_area="ALD" if grp == "alcohol" else "HCC",
                     note=f"{accession} tumours: {grp}-related vs viral HCC g {r['estimate']:+.2f}, "
                          f"p {r['pval']:.2g} (alcohol-related HCC is not ALD without cancer)")
            eff.append(r)
    return eff


def _trends(adata, accession, area, mg_key, genes, result) -> list[dict]:
    from . import get, tl
    from .claims import trend_effects
    from .datasets import condition_order

    specs = []
    present = set(adata.obs.get("condition", pd.Series(dtype=str)).astype(str))
    order = [o for o in condition_order(accession) if o in present and o not in _NOT_A_STAGE]
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
        result.append("trends", table)
        eff += trend_effects(table, cohort=accession, area=area)
    return eff


def _correlate(adata, x, y, **kw) -> pd.DataFrame:
    from . import get, tl

    tl.correlate(adata, x, y, key_added="_corr", **kw)
    table = get.correlate(adata, "_corr")
    adata.uns.pop("_corr", None)
    return table


def _within_kw(adata, accession) -> dict:
    from .datasets import cohort_info

    kw = {"within": "condition"} if "condition" in adata.obs else {}
    if str(cohort_info(accession).get("design", "")) == "paired" and "pair_id" in adata.obs:
        kw["paired_by"] = "pair_id"
    return kw


def _labelled(adata):
    if "condition" not in adata.obs:
        return adata
    ok = ~adata.obs["condition"].astype(str).isin(("unlabelled", "nan", *_NOT_A_STAGE))
    return adata if ok.all() else adata[ok.to_numpy()].copy()


def _couplings(adata, accession, area, method, mechanisms, composition, result) -> list[dict]:
    from .claims import correlation_effects

    if mechanisms is None:
        return []
    sub = _labelled(adata)
    mg_key, mech_key = f"mg_{method}", f"mech_{method}"
    xs = [f"{mg_key}:{s}" for s in COUPLING_MG_SETS if s in sub.obsm[mg_key]]
    ys = [f"{mech_key}:{s}" for s in sub.obsm[mech_key].columns]
    feat = lambda r: f"{r['x'].split(':', 1)[-1]}~{r['y'].split(':', 1)[-1]}"  # noqa: E731
    tables = [(_correlate(sub, xs, ys, **_within_kw(sub, accession)), "primary"),
              (_correlate(sub, xs, ys), "primary")]
    unions = [c for c in sub.obsm[mech_key].columns if c.startswith("MECH_")]
    for alt in ALT_METHODS:
        if alt != method and f"mech_{alt}" in sub.obsm:
            t = _correlate(sub, [f"mg_{alt}:MG_EFFLUX_EXCHANGE"], [f"mech_{alt}:{u}" for u in unions],
                           **_within_kw(sub, accession))
            tables.append((t, f"scoring: {alt}"))
    if composition:
        t = _correlate(sub, [f"{mg_key}:MG_EFFLUX_EXCHANGE"], [f"{mech_key}:{u}" for u in unions],
                       covariates=composition, **_within_kw(sub, accession))
        tables.append((t, "adjusted: composition"))
    eff = []
    for t, scen in tables:
        if scen == "primary":
            result.append("coupling", t.assign(cohort=accession, mg_set=t["x"].str.split(":").str[-1],
                                               mechanism_set=t["y"].str.split(":").str[-1]))
        eff += correlation_effects(t, cohort=accession, area=area, analysis="coupling", scenario=scen,
                                   feature_of=feat)
    return eff


def _correlations(adata, accession, area, claims, composition, result) -> list[dict]:
    from .claims import correlation_effects

    sub = _labelled(adata)
    eff = []
    for feat in claims.loc[claims["feature_kind"] == "correlation", "features"]:
        x, _, y = feat.partition("~")
        if x not in sub.var_names or y not in sub.var_names:
            continue
        tables = [_correlate(sub, [x], [y], **_within_kw(sub, accession)), _correlate(sub, [x], [y])]
        if composition:
            tables.append(_correlate(sub, [x], [y], covariates=composition, **_within_kw(sub, accession)))
        for t in tables:
            t = t.assign(cohort=accession, feature_x=x, feature_y=y)
            result.append("correlations", t)
            eff += correlation_effects(t, cohort=accession, area=area, analysis="correlation")
    return eff


def _survival(adata, accession, area, claims, result) -> list[dict]:
    """Survival claims: Cox models with their PH checks (:mod:`mgtranscript._plan_survival`)."""
    from ._plan_survival import survival_rows

    return survival_rows(adata, accession, area, claims, result)


def _features(adata, mg_key: str, mech_key, genes: list[str], prep: dict) -> pd.DataFrame:
    """Per-sample labels, scores, composition and key-gene expression (for figures)."""
    from .genesets import load as load_sets

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


