"""The per-cohort steps of the default analysis plan (:func:`analyse_cohort`).

:func:`mgtranscript.pipeline.run_analysis` runs these steps over the cohorts it can obtain, merges
the cohorts' results and hands them to :mod:`mgtranscript.claims` and :mod:`mgtranscript.report`.
One labelled cohort goes through: scoring (Mg, mechanism and composition sets, by the chosen
method and the alternatives of the sensitivity analysis; alternative normalisations), the design
audit of each contrast (:mod:`._design`: a sex or age imbalance it flags is adjusted for in the
primary estimates, the unadjusted ones are the scenario ``"unadjusted for sex/age"``), group
comparisons, DE + GSEA + ORA of the main contrast, trends, HCC by etiology, within-group
couplings and correlations, survival (:mod:`._steps`, :mod:`._survival`); every estimate a claim
can use becomes a row of the cohort's ``effects`` table (:mod:`mgtranscript.claims.effects`).
The cohort's tables come back as a :class:`~._result.CohortResult`; nothing is shared with other
cohorts, so cohorts can run in any process.
"""

from __future__ import annotations

import contextlib
import logging
import time

import numpy as np
import pandas as pd

from ..errors import MgTranscriptError
from . import _steps as S
from ._contrasts import ALT_METHODS, ALT_NORMS, KEY_GENES, compare_table, contrasts_of, main_contrast
from ._design import UNADJUSTED, audit_contrasts, covariate_words
from ._result import CohortResult
from ._survival import survival_rows

logger = logging.getLogger(__name__)

__all__ = ["analyse_cohort", "KEY_GENES", "ALT_METHODS", "ALT_NORMS"]


@contextlib.contextmanager
def phase(cr: CohortResult, name: str):
    """Add the seconds spent in the block to ``cr.timings[name]``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        cr.timings[name] = cr.timings.get(name, 0.0) + time.perf_counter() - t0


def _prepare(adata, accession: str, *, method: str, mechanisms, cr: CohortResult) -> dict:
    """Scores (primary and alternative methods), union mechanism sets, composition and
    alternative normalisations; returns what later steps need."""
    from .. import get, pp, tl
    from ..claims import mechanism_union
    from ..genesets import load as load_sets

    mg = load_sets("magnesium")
    sets = {"mg": mg}
    if mechanisms is not None:
        mech = dict(mechanisms)
        mech.update(mechanism_union(_mechanism_table(), mechanisms))
        sets["mech"] = mech
    for m in (method, *[a for a in ALT_METHODS if a != method]):
        _score_once(adata, sets, m)
    tl.mg_balance(adata, key_added="mg_balance")  # z-scores of genes: independent of the scoring method
    cov = get.coverage(adata, f"mg_{method}")
    cr.append("coverage", cov.reset_index().rename(columns={"index": "set"}).assign(cohort=accession))
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
    cr.gene_sets.update({k: list(v) for k, v in mg.items()})
    if "mech" in sets:
        cr.gene_sets.update({k: list(v) for k, v in sets["mech"].items()})
    return {"mg": mg, "composition": comp_cols, "alt_layers": alt_layers}


def _score_once(adata, sets: dict, method: str) -> None:
    """Score every family of sets (Mg, mechanisms) with ``method`` in one call, then file each
    family under its own key (``mg_<method>``, ``mech_<method>``) as separate calls would: a
    set's score depends only on its own genes and the sample's ranks, not on the other sets
    scored with it (the columns, values and coverage rows are those of separate calls)."""
    from .. import tl

    union: dict = {}
    for gs in sets.values():
        union.update(gs)
    tl.score(adata, union, method=method, key_added="_all_sets", progress=False)
    scores, info = adata.obsm.pop("_all_sets"), adata.uns.pop("_all_sets")
    others = {prefix: " and ".join(o for o in sets if o != prefix) for prefix in sets}
    for prefix, gs in sets.items():
        names = [c for c in scores.columns if c in gs]
        adata.obsm[f"{prefix}_{method}"] = scores[names].copy()
        spec = getattr(gs, "spec", None)
        params = dict(info["params"], gene_sets=spec if isinstance(spec, str) else f"{prefix} sets ({len(gs)} sets)")
        if others[prefix]:
            params["scored_with"] = f"the {others[prefix]} sets, in one call"
        if getattr(gs, "version", None):
            params["gene_sets_version"] = gs.version
        cov = info["coverage"]
        adata.uns[f"{prefix}_{method}"] = {"params": params, "coverage": cov.loc[[s for s in cov.index if s in gs]]}


def _mechanism_table() -> dict[str, tuple[str, ...]]:
    from ..genesets import MECHANISMS

    return MECHANISMS


def analyse_cohort(adata, accession: str, *, method: str = "ssgsea", mechanisms=None, permutations: int = 1000,
                   seed: int = 0, claims: pd.DataFrame | None = None) -> CohortResult:
    """Run steps 2-5 of the plan on one labelled cohort.

    Parameters
    ----------
    adata
        The cohort as :func:`mgtranscript.datasets.load_cohort` returns it (harmonised labels;
        log2 CPM in ``X`` and a ``counts`` layer for RNA-seq). Scores and layers are added to it.
    accession
        Its catalog accession (design, reference condition, disease area).
    method
        Scoring method of the primary estimates (the others of :data:`ALT_METHODS` are the
        sensitivity analysis).
    mechanisms
        Mechanism gene sets (:func:`mgtranscript.tl.enrich.mechanism_sets`); ``None`` skips
        the mechanism analyses.
    permutations, seed
        GSEA prerank permutations and their seed.
    claims
        The claims table (default: the bundled one): which contrasts, genes and correlations
        the claims need.

    Returns
    -------
    CohortResult
        The cohort's tables (comparisons, design, effects, ...), DE table, ranking, features
        and the seconds spent per phase (``timings``). ``status`` is left for the caller.
    """
    from .. import claims as E
    from ..claims import load_claims
    from ..datasets import cohort_info

    cr = CohortResult(accession=accession)
    claims = load_claims() if claims is None else claims
    info = cohort_info(accession)
    area = str(info.get("disease_area", ""))
    if "tumor_grade" in adata.obs:  # G1 (well) .. G4 (undifferentiated); GX / not reported -> NaN
        grade = adata.obs["tumor_grade"].astype(str).str.extract(r"^G([1-4])$", expand=False)
        adata.obs["tumor_grade_num"] = pd.to_numeric(grade, errors="coerce")
    with phase(cr, "score"):
        prep = _prepare(adata, accession, method=method, mechanisms=mechanisms, cr=cr)
    mg_key = f"mg_{method}"
    genes = [g for g in KEY_GENES if g in adata.var_names]
    contrasts = contrasts_of(adata, accession, claims)
    eff: list[dict] = []
    # genes of claims with a fold-change margin ("not down", L10) also get their mean log2 difference
    fold = set(claims.loc[claims["expected_direction"] == "not down", "features"])

    # design audit, per contrast; covariates the primary estimates are adjusted for (sex/age imbalance)
    with phase(cr, "audit"):
        adjust = audit_contrasts(adata, accession, contrasts, cr)

    # group comparisons: primary and alternatives
    with phase(cr, "compare"):
        for k in contrasts:
            eff += _compare_contrast(adata, k, adjust.get(k["tag"], []), cr=cr, info=info, area=area, method=method,
                                     genes=genes, fold=fold, prep=prep)

    # DE for gene claims' contrasts and the main contrast: voom (counts) or limma (arrays), + limma-trend
    main = main_contrast(contrasts, accession)
    gene_claim_contrasts = set(claims.loc[claims["feature_kind"] == "gene", "contrast"])
    for k in contrasts:
        is_main = main is not None and k["tag"] == main["tag"]
        if not is_main and k["tag"] not in gene_claim_contrasts:
            continue
        adj = adjust.get(k["tag"], [])
        with phase(cr, "de"):
            de_tables = S.de_tables(adata, k, adj)
            for scen, (de, text, unadj) in de_tables.items():
                eff += E.de_effects(de, genes, cohort=accession, area=area, contrast=k["tag"], scenario=scen,
                                    method_text=text, unadjusted=unadj)
        if is_main:
            de, text, _ = de_tables["DE: voom"] if "DE: voom" in de_tables else de_tables["DE: limma-trend"]
            with phase(cr, "gsea"):
                S.enrich(cr, accession, k, de, text, prep["mg"], mechanisms, permutations, seed)

    with phase(cr, "compare"):
        eff += S.etiology(adata, accession, mg_key, genes, cr)
    with phase(cr, "trends"):
        eff += S.trends(adata, accession, area, mg_key, genes, cr)
    with phase(cr, "correlations"):
        eff += S.couplings(adata, accession, area, method, mechanisms, prep["composition"], cr)
        eff += S.correlations(adata, accession, area, claims, prep["composition"], cr)
    with phase(cr, "survival"):
        eff += survival_rows(adata, accession, area, claims, cr)
    cr.append("effects", pd.DataFrame(eff, columns=E.EFFECT_COLUMNS))
    cr.features = S.features(adata, mg_key, mechanisms is not None and f"mech_{method}", genes, prep)
    return cr


def _compare_contrast(adata, k: dict, adj: list[str], *, cr: CohortResult, info: dict, area: str, method: str,
                      genes: list[str], fold: set, prep: dict) -> list[dict]:
    """Group comparisons of one contrast: the primary estimates (to ``comparisons``) and every
    alternative analysis of the sensitivity scenarios (effect rows only)."""
    from .. import claims as E

    accession = cr.accession
    mg_key = f"mg_{method}"
    base = dict(groupby=k["groupby"], reference=k["reference"], groups=[k["group"]])
    cw = dict(covariates=adj or None)
    ew = dict(cohort=accession, area=area, covariates=covariate_words(adj))
    eff: list[dict] = []
    table = compare_table(adata, keys=[mg_key, "mg_balance"], genes=genes, paired_by=k["paired_by"], **cw, **base)
    cr.append("comparisons", table.assign(cohort=accession))
    eff += E.compare_effects(table, **ew)
    eff += E.difference_effects(table, fold, **ew)
    if adj:
        t = compare_table(adata, keys=[mg_key, "mg_balance"], genes=genes, paired_by=k["paired_by"], **base)
        eff += E.compare_effects(t, cohort=accession, area=area, scenario=UNADJUSTED)
        eff += E.difference_effects(t, fold, cohort=accession, area=area, scenario=UNADJUSTED)
    for alt in ALT_METHODS:
        if alt != method:
            t = compare_table(adata, keys=[f"mg_{alt}"], paired_by=k["paired_by"], **cw, **base)
            eff += E.compare_effects(t, scenario=f"scoring: {alt}", **ew)
    for scen, norm in prep["alt_layers"].items():
        t = compare_table(adata, keys=[f"mg_balance_{norm}"], genes=genes, layer=f"logcpm_{norm}",
                          paired_by=k["paired_by"], **cw, **base)
        t["feature"] = t["feature"].replace({f"mg_balance_{norm}": "mg_balance"})
        eff += E.compare_effects(t, scenario=scen, **ew)
        eff += E.difference_effects(t, fold, scenario=scen, **ew)
    if k["paired_by"]:
        t = compare_table(adata, keys=[mg_key, "mg_balance"], genes=genes, paired_by=None, **base)
        eff += E.compare_effects(t, cohort=accession, area=area, scenario="unpaired")
        eff += E.difference_effects(t, fold, cohort=accession, area=area, scenario="unpaired")
    ref_cond = info.get("reference")
    if k["groupby"] == "disease" and k["reference"] == "control" and ref_cond and "condition" in adata.obs:
        ctrl = adata.obs["condition"].astype(str)[adata.obs["disease"].astype(str) == "control"]
        if ctrl.nunique() > 1 and (ctrl == ref_cond).sum() >= 3:
            keep = ~((adata.obs["disease"].astype(str) == "control")
                     & (adata.obs["condition"].astype(str) != ref_cond))
            t = compare_table(adata[keep.to_numpy()].copy(), keys=[mg_key, "mg_balance"], genes=genes, **cw, **base)
            eff += E.compare_effects(t, scenario="controls: reference condition only", **ew)
            eff += E.difference_effects(t, fold, scenario="controls: reference condition only", **ew)
    if prep["composition"]:
        t = compare_table(adata, keys=[mg_key, "mg_balance"], genes=genes, paired_by=k["paired_by"],
                          covariates=adj + prep["composition"], **base)
        if "adj_diff" in t:
            eff += E.compare_effects(t, cohort=accession, area=area, scenario="adjusted: composition")
    return eff
