"""Survival claims in a run (:mod:`._cohort`): Cox models, their PH checks, evidence rows.

For each survival claim whose feature a cohort measures (TCGA-LIHC), :func:`survival_rows`
fits :func:`mgtranscript.tl.survival` (tumours, one per patient; adjusted for stage, age
and etiology where recorded) and turns the summary into effect rows. What a reader of the
evidence needs beside the hazard ratio travels with each row:

* ``test`` names the proportional-hazards test of **that** model (the unadjusted model is
  the one voted; the adjusted one is a sensitivity scenario) with its p-value;
* ``note`` says how many patients had no survival and why (e.g. deaths without a date),
  a PH violation, and a penalised refit that is shown but not voted;
* a ``design`` row (check ``proportional_hazards``, contrast ``survival``) records the
  PH test of the voted model; when it fails (p < 0.05) the row is flagged and its
  ``caveat`` becomes a caveat of the verdict that uses the model, which lowers its
  certainty (:data:`mgtranscript.claims.RISK_OF_BIAS`: a violated model
  assumption is a statistical-analysis risk of bias, as in QUIPS).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..errors import MgTranscriptError

logger = logging.getLogger(__name__)

__all__ = ["PH_CHECK", "survival_rows", "ph_design_rows"]

#: ``check`` of the design row that carries the PH test of the voted Cox model.
PH_CHECK = "proportional_hazards"
COVARIATES = ("ajcc_pathologic_stage", "age_at_diagnosis", "etiology")


def _fmt_p(p) -> str:
    return f"{p:.2g}" if isinstance(p, (int, float, np.floating)) and np.isfinite(p) else "n/a"


def ph_design_rows(summary: pd.DataFrame, cohort: str) -> list[dict]:
    """One design-audit row per feature: the PH test of the voted (unadjusted) Cox model."""
    rows = []
    for r in summary.to_dict("records"):
        p, bad = r.get("ph_test_p", np.nan), bool(r.get("ph_violated", False))
        adj = r.get("ph_adj_test_p", np.nan)
        effect = (f"HR per SD {r['hr_per_sd']:.2f} from the unadjusted Cox model (voted)"
                  if np.isfinite(r.get("hr_per_sd", np.nan)) else "no unpenalised Cox estimate (nothing voted)")
        if np.isfinite(adj):
            effect += f"; adjusted model PH p {_fmt_p(adj)}"
        rows.append({
            "cohort": cohort, "contrast": "survival", "check": PH_CHECK, "variable": str(r["feature"]),
            "test": "Schoenfeld residuals, rank time (Cox per SD)", "statistic": np.nan, "effect": effect,
            "pval": p, "n": int(r.get("n", 0)), "flagged": bad,
            "caveat": (f"survival by {r['feature']}: proportional hazards violated (Schoenfeld p = {_fmt_p(p)}); "
                       "the hazard ratio per SD averages a ratio that changes over follow-up") if bad else "",
        })
    return rows


def _annotate(row: dict, s: dict) -> dict:
    """Add the model's PH test, exclusions, violation and penalised refit to one effect row."""
    primary = row.get("scenario") == "primary"
    p = s.get("ph_test_p" if primary else "ph_adj_test_p", np.nan)
    bad = bool(s.get("ph_violated" if primary else "ph_adj_violated", False))
    row["test"] = f"{row.get('test', '')}; PH test (Schoenfeld, rank time) p {_fmt_p(p)}"
    notes = [str(row.get("note") or "")]
    if s.get("n_excluded"):
        notes.append(f"{int(s['n_excluded'])} patients without survival left out ({s.get('excluded', '')})")
    if bad:
        notes.append(f"proportional hazards violated (p {_fmt_p(p)}): the HR averages a changing hazard ratio")
    if s.get("penalised"):
        notes.append(f"not voted: {s['penalised']}")
    row["note"] = "; ".join(n for n in notes if n)
    return row


def survival_rows(adata, accession: str, area: str, claims: pd.DataFrame, result) -> list[dict]:
    """Effect rows of the survival claims for one cohort; its ``survival`` and ``design`` rows and
    Kaplan-Meier steps (``km``) to ``result``, a :class:`~._result.CohortResult` (see module doc)."""
    from .. import get, tl
    from ..claims import survival_effects

    if "os_days" not in adata.obs or "os_event" not in adata.obs:
        return []
    eff: list[dict] = []
    for feat in claims.loc[claims["feature_kind"] == "survival", "features"]:
        if feat not in adata.var_names:
            continue
        covs = [c for c in COVARIATES if c in adata.obs]
        try:
            tl.survival(adata, feat, covariates=covs or None, key_added="_surv")
        except MgTranscriptError as exc:
            logger.warning("%s: survival model for %s failed: %s", accession, feat, exc)
            continue
        summ = get.survival(adata, "_surv").assign(cohort=accession)
        km = get.survival(adata, "_surv", table="km")
        if km is not None:  # tidy KM steps for the report: group, time, survival, at_risk
            km = pd.DataFrame(km).rename(columns={"timeline": "time"})
            result.km = km if result.km is None else pd.concat([result.km, km])
        adata.uns.pop("_surv", None)
        result.append("survival", summ)
        result.append("design", pd.DataFrame(ph_design_rows(summ, accession)))
        by_feature = {str(r["feature"]): r for r in summ.to_dict("records")}
        for row in survival_effects(summ, cohort=accession, area=area):
            eff.append(_annotate(row, by_feature[str(row["feature"])]))
        for r in summ.to_dict("records"):
            if r.get("ph_violated"):
                logger.warning("%s: survival by %s: proportional hazards violated (p %s); the verdict says so "
                               "and loses certainty", accession, r["feature"], _fmt_p(r["ph_test_p"]))
    return eff
