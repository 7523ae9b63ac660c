"""What the per-cohort plan shares: its constants, the contrasts of a cohort, and thin wrappers
that run one ``tl`` function and hand back its table (:func:`_compare`, :func:`_correlate`)."""

from __future__ import annotations

import pandas as pd

__all__ = ["KEY_GENES", "ALT_METHODS", "ALT_NORMS", "COUPLING_MG_SETS", "ETIOLOGIES", "NOT_A_STAGE", "contrasts_of",
           "n_pairs", "main_contrast", "compare_table", "correlate_table", "within_kw", "labelled"]

#: Conditions that are not a stage of the cohort's main contrast (kept out of contrasts and trends).
NOT_A_STAGE = ("hcc_recurrent",)

#: Single Mg genes compared gene by gene in every cohort.
KEY_GENES = ("CNNM4", "CNNM2", "CNNM3", "TRPM7", "SLC41A1", "SLC41A3", "MAGT1", "MRS2",
             "PTP4A1", "PTP4A2", "PTP4A3", "ARL15", "KLRK1")

#: Alternative scoring methods of the sensitivity analysis.
ALT_METHODS = ("gsva", "zscore")
#: Alternative normalisations of the sensitivity analysis (count cohorts).
ALT_NORMS = {"RLE": "normalisation: RLE", "upperquartile": "normalisation: upper quartile"}
#: Mg sets whose coupling with each mechanism is computed (the claims use MG_EFFLUX_EXCHANGE).
COUPLING_MG_SETS = ("MG_EFFLUX_EXCHANGE", "MG_LIVER_CORE")

#: Etiology groups compared among HCC tumours (TCGA-LIHC risk factors), reference "viral".
ETIOLOGIES = ("alcohol", "viral", "NAFLD")


def contrasts_of(adata, accession: str, claims: pd.DataFrame) -> list[dict]:
    """Within-cohort contrasts: each condition vs the reference, each disease vs control, and the
    contrasts claims name whose groups the cohort has (at least 3 samples each)."""
    from ..claims import contrast_parts
    from ..datasets import cohort_info

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
        pair = "pair_id" if paired and col == "condition" and n_pairs(obs, col, grp, ref) >= 5 else None
        if pair is None and "pair_id" in obs and col == "condition" and n_pairs(obs, col, grp, ref) >= 10:
            pair = "pair_id"  # matched subset of an otherwise unpaired cohort (e.g. TCGA)
        specs.setdefault(f"{col}:{grp}|{ref}", {"groupby": col, "group": grp, "reference": ref, "paired_by": pair})

    ref = info.get("reference")
    conds = [c for c in obs.get("condition", pd.Series(dtype=str)).astype(str).unique()
             if c not in ("unlabelled", "nan", *NOT_A_STAGE)]
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


def n_pairs(obs: pd.DataFrame, col: str, grp: str, ref: str) -> int:
    if "pair_id" not in obs:
        return 0
    sub = obs[obs[col].astype(str).isin((grp, ref))].dropna(subset=["pair_id"])
    per = sub.groupby(sub["pair_id"].astype(str), observed=True)[col].agg(lambda s: set(s.astype(str)))
    return int(sum(1 for s in per if s == {grp, ref}))


def main_contrast(contrasts: list[dict], accession: str) -> dict | None:
    """The most advanced stage vs the reference (e.g. NASH vs healthy, tumour vs non-tumour)."""
    from ..datasets import condition_order

    order = list(condition_order(accession))
    ref = order[0] if order else None
    cond = [k for k in contrasts if k["groupby"] == "condition" and k["reference"] == ref]
    if cond:
        return max(cond, key=lambda k: order.index(k["group"]) if k["group"] in order else -1)
    return contrasts[0] if contrasts else None


def compare_table(adata, *, keys=None, genes=None, layer=None, paired_by=None, covariates=None, **base) -> pd.DataFrame:
    from .. import get, tl

    kw = {"covariates": covariates} if covariates else {}
    tl.compare(adata, keys=keys, genes=genes or None, layer=layer, paired_by=paired_by, key_added="_cmp", **base, **kw)
    table = get.compare(adata, "_cmp")
    adata.uns.pop("_cmp")
    return table


def correlate_table(adata, x, y, **kw) -> pd.DataFrame:
    from .. import get, tl

    tl.correlate(adata, x, y, key_added="_corr", **kw)
    table = get.correlate(adata, "_corr")
    adata.uns.pop("_corr", None)
    return table


def within_kw(adata, accession) -> dict:
    from ..datasets import cohort_info

    kw = {"within": "condition"} if "condition" in adata.obs else {}
    if str(cohort_info(accession).get("design", "")) == "paired" and "pair_id" in adata.obs:
        kw["paired_by"] = "pair_id"
    return kw


def labelled(adata):
    if "condition" not in adata.obs:
        return adata
    ok = ~adata.obs["condition"].astype(str).isin(("unlabelled", "nan", *NOT_A_STAGE))
    return adata if ok.all() else adata[ok.to_numpy()].copy()


