"""The estimates claims are judged on, for one cohort: tidy ``effects`` rows.

:func:`cohort_effects` runs, on a labelled and scored cohort, every test a claim of the
table can use, under the primary analysis and under the alternative analyses
(:data:`SCENARIOS`) the robustness of a verdict is measured against. The result is rows of
:data:`~._evidence.EFFECT_COLUMNS`; :func:`~._evidence.build_evidence` turns them into evidence.

What the AnnData must hold (the pipeline prepares it): ``X`` log expression (TMM log2-CPM for
counts); ``obsm["mg_<method>"]`` and ``obsm["mech_<method>"]`` scores (the latter with the
union sets ``MECH_<KEY>``); ``obs["mg_balance"]``; optionally alternative scores
``obsm["mg_<alt>"]``/``obsm["mech_<alt>"]``/``obs["mg_balance_<alt>"]``, alternative
normalisations ``layers["logcpm_<norm>"]``, composition scores ``obs["composition_*"]`` and
survival columns ``os_days``/``os_event``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._evidence import DIFFERENCE, EFFECT_COLUMNS, mechanism_feature

logger = logging.getLogger(__name__)

__all__ = ["SCENARIOS", "compare_effects", "difference_effects", "trend_effects", "correlation_effects",
           "de_effects", "survival_effects", "mechanism_union", "contrast_parts"]

#: Alternative analyses a verdict is re-derived under (name -> what changes).
SCENARIOS = {
    "normalisation: RLE": "gene values from RLE (DESeq-style) instead of TMM normalised log2-CPM",
    "normalisation: upper quartile": "gene values from upper-quartile instead of TMM normalised log2-CPM",
    "scoring: gsva": "Mg and mechanism scores by GSVA instead of ssGSEA",
    "scoring: zscore": "Mg and mechanism scores by the GSVA-style z-score instead of ssGSEA",
    "DE: voom": "gene effect = voom/limma log2 fold change and moderated-t p (counts)",
    "DE: limma-trend": "gene effect = limma-trend log2 fold change on log2-CPM and its moderated-t p",
    "unpaired": "tumour and matched non-tumour compared as independent groups",
    "controls: reference condition only": "the control group restricted to the catalog's reference "
                                            "condition (e.g. healthy without obese)",
    "adjusted: composition": "difference adjusted for liver cell-type composition scores (OLS)",
    "unadjusted for sex/age": "the primary estimate without the adjustment for the sex / age imbalance the design "
                              "audit flagged",
}

Z95 = 1.959963984540054


def contrast_parts(contrast: str) -> tuple[str, str, str]:
    """``"condition:NASH|healthy"`` -> ``("condition", "NASH", "healthy")``."""
    col, _, rest = contrast.partition(":")
    grp, _, ref = rest.partition("|")
    return col, grp, ref


def _row(**kw) -> dict:
    out = {c: (np.nan if c in ("estimate", "ci_low", "ci_high", "se", "pval", "qval", "n") else "")
           for c in EFFECT_COLUMNS}
    out.update(kw)
    return out


def compare_effects(table: pd.DataFrame, *, cohort: str, area: str, scenario: str = "primary",
                    covariates: str = "") -> list[dict]:
    """Effect rows from a :func:`mgtranscript.tl.compare` table.

    The estimate is Hedges' g for unpaired rows and, for paired rows, ``g_av`` (the
    average-SD standardised difference, comparable with an unpaired g; the change-score
    ``g_z`` is named beside it in ``test``), both of kind ``hedges_g``. With ``covariates``
    (words, e.g. ``"sex, age"``) the estimate is the regression-adjusted standardised
    difference ``adj_g`` (same kind; the unadjusted g is in ``note``); an ``"adjusted: ..."``
    scenario uses the raw adjusted difference (kind ``adjusted_diff``).
    """
    rows = []
    adjusted = scenario.startswith("adjusted") and "adj_diff" in table
    for r in table.to_dict("records"):
        paired = bool(r.get("paired"))
        g, lo, hi = r["hedges_g"], r["g_ci_low"], r["g_ci_high"]
        note = str(r.get("note", "") or "")
        if paired and "g_av" in r:
            g_z = f"g_z {g:+.2f} [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(g) else "g_z NA"
            g, lo, hi = r["g_av"], r["g_av_ci_low"], r["g_av_ci_high"]
            test = f"Hedges' g_av (average-SD standardised, comparable with an unpaired g; {g_z} beside), paired t"
        else:
            test = "Hedges' g, paired t" if paired else "Hedges' g, Welch t"
        est, p, kind = g, r["t_pval"], "hedges_g"
        if adjusted:
            est, lo, hi, p = r["adj_diff"], r["adj_ci_low"], r["adj_ci_high"], r["adj_pval"]
            kind, test = "adjusted_diff", f"OLS difference adjusted for {r.get('adjusted_for', 'composition')}"
        elif covariates and "adj_g" in r:
            if np.isfinite(r["adj_g"]):
                unadj = f"unadjusted g {g:+.2f} [{lo:+.2f}, {hi:+.2f}], p {r['t_pval']:.2g}" if np.isfinite(g) else ""
                est, lo, hi, p = r["adj_g"], r["adj_g_ci_low"], r["adj_g_ci_high"], r["adj_pval"]
                test = f"Hedges' g adjusted for {covariates} (OLS, standardised by the unadjusted SD)"
                note = "; ".join(x for x in (unadj, note) if x)
            else:
                note = "; ".join(x for x in (f"adjustment for {covariates} not estimable: unadjusted", note) if x)
        se = (hi - lo) / (2 * Z95) if np.isfinite(lo) and np.isfinite(hi) else np.nan
        n = r["n_group"] if paired else r["n_group"] + r["n_ref"]
        rows.append(_row(cohort=cohort, disease_area=area, scenario=scenario, analysis="compare",
                         contrast=r["contrast"], feature=r["feature"], effect_kind=kind, estimate=est,
                         ci_low=lo, ci_high=hi, se=se, pval=p, qval=r.get("qval", np.nan), n=n, test=test,
                         design=("paired" if paired else "unpaired") + f": {r['group']} vs {r['reference']}",
                         note=note))
    return rows


def difference_effects(table: pd.DataFrame, features, *, cohort: str, area: str,
                       scenario: str = "primary", covariates: str = "") -> list[dict]:
    """Mean log2 difference rows (``effect_kind = "log2fc"``, ``analysis = "difference"``) for the
    gene ``features`` of a :func:`mgtranscript.tl.compare` table: the fold change of geometric
    means on the log2 scale the table was computed on, with the Welch (or paired) t test's p and
    a t CI (``n - 2`` df unpaired, ``n - 1`` paired). Claims with a margin on a fold-change scale
    ("not down", L10) are judged on these. With ``covariates`` (words, e.g. ``"sex, age"``) and an
    adjusted table: the covariate-adjusted difference (OLS), its t CI and p."""
    from scipy import stats

    rows = []
    features = set(features)
    for r in table.to_dict("records"):
        if r["feature"] not in features or str(r.get("kind", "gene")) != "gene":
            continue
        paired = bool(r.get("paired"))
        diff, t = float(r["diff"]), float(r["t_stat"])
        se = abs(diff / t) if np.isfinite(t) and t != 0 else np.nan
        n = r["n_group"] if paired else r["n_group"] + r["n_ref"]
        crit = float(stats.t.ppf(0.975, max(n - (1 if paired else 2), 1)))
        est, lo, hi, p, note = diff, diff - crit * se, diff + crit * se, r["t_pval"], str(r.get("note", "") or "")
        test = "mean log2 difference (fold change of geometric means), " + ("paired t" if paired else "Welch t")
        if covariates and np.isfinite(r.get("adj_diff", np.nan)):
            note = "; ".join(x for x in (f"unadjusted {diff:+.3f} [{lo:+.3f}, {hi:+.3f}]", note) if x)
            est, lo, hi, p, se = r["adj_diff"], r["adj_ci_low"], r["adj_ci_high"], r["adj_pval"], r["adj_se"]
            test = f"mean log2 difference adjusted for {covariates} (OLS)"
        rows.append(_row(cohort=cohort, disease_area=area, scenario=scenario, analysis=DIFFERENCE,
                         contrast=r["contrast"], feature=r["feature"], effect_kind="log2fc", estimate=est,
                         ci_low=lo, ci_high=hi, se=se, pval=p, n=n, test=test,
                         design=("paired" if paired else "unpaired") + f": {r['group']} vs {r['reference']}",
                         note=note))
    return rows


def trend_effects(table: pd.DataFrame, *, cohort: str, area: str, scenario: str = "primary") -> list[dict]:
    """Effect rows from a :func:`mgtranscript.tl.trend` table (Spearman rho with the stage)."""
    rows = []
    for r in table.to_dict("records"):
        n = int(r["n"])
        rho = float(r["rho"])
        se = 1.0 / np.sqrt(n - 3) if n > 3 else np.nan  # Fisher z scale
        z = np.arctanh(np.clip(rho, -0.999999, 0.999999))
        rows.append(_row(cohort=cohort, disease_area=area, scenario=scenario, analysis="trend",
                         contrast=f"trend:{r['by']}", feature=r["feature"], effect_kind="spearman_rho",
                         estimate=rho, ci_low=np.tanh(z - Z95 * se), ci_high=np.tanh(z + Z95 * se), se=se,
                         pval=r["pval"], qval=r.get("qval", np.nan), n=n,
                         test="Spearman rho with stage (Jonckheere-Terpstra p "
                              f"{r.get('jt_pval', np.nan):.2g})", design=f"ordered {r['by']}",
                         note=str(r.get("note", "") or "")))
    return rows


def correlation_effects(table: pd.DataFrame, *, cohort: str, area: str, analysis: str,
                        scenario: str = "primary", feature_of=None) -> list[dict]:
    """Effect rows from a :func:`mgtranscript.tl.correlate` table."""
    rows = []
    for r in table.to_dict("records"):
        est = float(r["estimate"])
        lo, hi = float(r.get("ci_low", np.nan)), float(r.get("ci_high", np.nan))
        se = ((np.arctanh(np.clip(hi, -0.999999, 0.999999)) - np.arctanh(np.clip(lo, -0.999999, 0.999999)))
              / (2 * Z95)) if np.isfinite(lo) and np.isfinite(hi) else np.nan
        method = str(r.get("method", "spearman"))
        feature = feature_of(r) if feature_of else f"{r['x']}~{r['y']}"
        rows.append(_row(cohort=cohort, disease_area=area, scenario=scenario, analysis=analysis,
                         contrast=analysis, feature=feature,
                         effect_kind="spearman_rho" if method == "spearman" else "pearson_r",
                         estimate=est, ci_low=lo, ci_high=hi, se=se, pval=r.get("pval", np.nan),
                         qval=r.get("qval", np.nan), n=r.get("n", np.nan),
                         test=f"{method.capitalize()} correlation" + (
                             f" adjusted for {r['covariates']}" if str(r.get("covariates", "") or "") else ""),
                         design=str(r.get("design", "")), level=str(r.get("level", "")),
                         note=str(r.get("note", "") or "")))
    return rows


def de_effects(de: pd.DataFrame, genes: Sequence[str], *, cohort: str, area: str, contrast: str,
               scenario: str, method_text: str, unadjusted: pd.DataFrame | None = None) -> list[dict]:
    """Effect rows (log2 fold change) for ``genes`` from a :func:`mgtranscript.tl.de` table
    (``unadjusted``: the same DE without the covariates, quoted in ``note``)."""
    rows = []
    sub = de[de["gene"].isin(list(genes))]
    un = unadjusted.set_index("gene") if unadjusted is not None else None
    for r in sub.to_dict("records"):
        t = float(r["stat"])
        se = abs(r["log2fc"] / t) if t else np.nan
        note = ""
        if un is not None and r["gene"] in un.index:
            u = un.loc[r["gene"]]
            note = f"unadjusted: log2FC {u['log2fc']:+.2f}, adj. p {u['padj']:.2g}"
        rows.append(_row(cohort=cohort, disease_area=area, scenario=scenario, analysis="de", contrast=contrast,
                         feature=r["gene"], effect_kind="log2fc", estimate=r["log2fc"],
                         ci_low=r["log2fc"] - Z95 * se, ci_high=r["log2fc"] + Z95 * se, se=se, pval=r["pval"],
                         qval=r.get("padj", np.nan), n=r.get("n", np.nan), test=method_text, design=contrast,
                         note=note))
    return rows


def survival_effects(table: pd.DataFrame, *, cohort: str, area: str) -> list[dict]:
    """Effect rows from a :func:`mgtranscript.tl.survival` summary: the Cox HR per SD (primary) and
    the covariate-adjusted HR (scenario ``adjusted: stage, age, etiology``)."""
    rows = []
    for r in table.to_dict("records"):
        for scen, est, lo, hi, p, what in (
            ("primary", r["hr_per_sd"], r["hr_ci_low"], r["hr_ci_high"], r["cox_p"], "Cox PH per SD"),
            (f"adjusted: {r.get('adjusted_for') or 'covariates'}", r.get("hr_adj_per_sd", np.nan),
             r.get("hr_adj_ci_low", np.nan), r.get("hr_adj_ci_high", np.nan), r.get("cox_adj_p", np.nan),
             f"Cox PH per SD adjusted for {r.get('adjusted_for', '')}"),
        ):
            if scen != "primary" and not np.isfinite(est):
                continue
            se = (np.log(hi) - np.log(lo)) / (2 * Z95) if np.isfinite(lo) and lo > 0 else np.nan
            rows.append(_row(cohort=cohort, disease_area=area, scenario=scen, analysis="survival",
                             contrast="survival", feature=r["feature"], effect_kind="hazard_ratio", estimate=est,
                             ci_low=lo, ci_high=hi, se=se, pval=p, n=r["n"],
                             test=f"{what}; log-rank p {r.get('logrank_p', np.nan):.2g} "
                                  f"({r.get('cut', 'median')} split)",
                             design="tumours, one per patient", note=f"{int(r.get('n_events', 0))} deaths"))
    return rows


def mechanism_union(mechanisms: dict[str, Sequence[str]], gene_sets) -> dict[str, list[str]]:
    """``MECH_<KEY>`` -> the union of the genes of the mechanism's gene sets (sets absent from
    ``gene_sets`` are skipped)."""
    out = {}
    for key, names in mechanisms.items():
        genes = []
        for n in names:
            if n in gene_sets:
                genes += [g for g in gene_sets[n] if g not in genes]
        if genes:
            out[mechanism_feature("", key).lstrip("~")] = genes
    return out
