"""Cox models for :func:`mgtranscript.tl.survival`: fit, hazard ratio, PH test, penalised refit.

A model is fitted without a penalty; when Newton-Raphson does not converge (an error, or
lifelines' "failed to converge" warning, e.g. under separation) the ridge-penalised refit
(penalizer :data:`PENALIZER`) is described but never reported as the estimate. The
proportional-hazards assumption of the feature is tested on each fitted model itself
(Schoenfeld residuals, rank time transform).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["PENALIZER", "cox_into"]

PENALIZER = 0.01


def _fit_cox(df: pd.DataFrame):
    """(model, penalised): the unpenalised fit, or, when Newton-Raphson does not converge
    (an error, or lifelines' "failed to converge" warning, e.g. under separation), the
    ridge-penalised refit."""
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cph = CoxPHFitter().fit(df, duration_col="T", event_col="E")
            failed = any(issubclass(w.category, ConvergenceWarning) and "failed to converge" in str(w.message)
                         for w in caught)
        except (ConvergenceError, np.linalg.LinAlgError, ValueError):
            failed = True
        if not failed:
            return cph, False
        return CoxPHFitter(penalizer=PENALIZER).fit(df, duration_col="T", event_col="E"), True


def _hr(cph, term: str = "z") -> tuple[float, float, float, float]:
    s = cph.summary.loc[term]
    return (float(s["exp(coef)"]), float(s["exp(coef) lower 95%"]), float(s["exp(coef) upper 95%"]),
            float(s["p"]))


def _ph_p(cph, df: pd.DataFrame) -> float:
    from lifelines.statistics import proportional_hazard_test

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = proportional_hazard_test(cph, df, time_transform="rank")
        except (ValueError, np.linalg.LinAlgError):  # pragma: no cover - degenerate data
            return np.nan
    s = res.summary
    return float(s.loc["z", "p"]) if "z" in s.index else float(s["p"].iloc[0])


def cox_into(row: dict, prefix: str, df: pd.DataFrame, what: str, penalised: list[str], note: list[str],
              ph_alpha: float) -> None:
    """Fit one Cox model; its HR, p and PH test go to ``row`` (``hr_<prefix>per_sd`` ...).

    A model that only a penalised refit can estimate leaves the HR columns NaN (nothing to
    vote on) and is described in ``penalised``.
    """
    cph, pen = _fit_cox(df)
    hr, lo, hi, p = _hr(cph)
    ph = _ph_p(cph, df)
    keys = {"hr": f"hr_{prefix}per_sd", "lo": f"hr_{prefix}ci_low", "hi": f"hr_{prefix}ci_high",
            "p": "cox_p" if not prefix else "cox_adj_p", "ph": f"ph_{prefix}test_p", "bad": f"ph_{prefix}violated"}
    if pen:
        row.update({keys[k]: np.nan for k in ("hr", "lo", "hi", "p", "ph")}, **{keys["bad"]: False})
        penalised.append(f"{what}: HR per SD {hr:.3g} [{lo:.3g}, {hi:.3g}], p {p:.2g} from a ridge-penalised "
                         f"refit (penalizer {PENALIZER}) after the unpenalised fit did not converge; shown, "
                         "not used as the estimate")
        note.append(f"{what} not estimable without a penalty (see penalised)")
        return
    row.update({keys["hr"]: hr, keys["lo"]: lo, keys["hi"]: hi, keys["p"]: p, keys["ph"]: ph,
                keys["bad"]: bool(np.isfinite(ph) and ph < ph_alpha)})
    if row[keys["bad"]]:
        note.append(f"proportional hazards doubtful in the {what} (Schoenfeld test of the feature, rank "
                    f"time: p = {ph:.2g} < {ph_alpha:g}): the HR per SD averages a hazard ratio that "
                    "changes over follow-up")
