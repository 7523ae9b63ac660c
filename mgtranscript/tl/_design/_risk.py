"""Rows of the design audit about single libraries and declared pairs, and which flags are a
risk of bias for GRADE (the ``risk_of_bias`` column of the design table).

* ``library_outlier``: a library far below the depth of its own group (at most
  :data:`OUTLIER_FRACTION` of the group's median library size; the group median rather than
  the cohort's, so that a cohort sequenced in two depth regimes does not flag a whole regime).
* ``pairing_declared``: a paired contrast whose pairs are declared by a rule on sample order
  (the catalog's ``gsm_offset`` / ``order`` pairing), not recorded as a patient id in the
  metadata; with the pair checks that do not support some of the declared pairs.
* :func:`risk_of_bias`: the plain-words reason a flagged row lowers the certainty of a verdict
  (confounding by how samples were collected, an RNA-composition shift, pairing declared but
  not recorded, a sex or age imbalance left unadjusted, a batch that dominates), or "" for
  flags that are caveats only (single libraries, sex mismatches of single samples, read share
  of the top genes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._util import _fmt_num, _Sides

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

    import pandas as pd

#: A library is an outlier when it holds at most this fraction of its group's median library size.
OUTLIER_FRACTION = 0.2

#: Pairing rules of the catalog that declare pairs by sample order (not recorded in the metadata).
DECLARED_PAIRING = ("gsm_offset", "order")


def outlier_row(lib: np.ndarray, sides: _Sides, names) -> dict:
    """``library_outlier``: samples of the contrast below :data:`OUTLIER_FRACTION` of their group's median."""
    hits = []
    n = 0
    for lv in sides.levels:
        m = sides.mask & (sides.lab == lv) & np.isfinite(lib)
        if m.sum() < 3:
            continue
        n += int(m.sum())
        med = float(np.median(lib[m]))
        for i in np.flatnonzero(m & (lib <= OUTLIER_FRACTION * med)):
            hits.append((str(names[i]), lv, float(lib[i]), med))
    txt = "; ".join(f"{s} ({lv}) {_fmt_num(v, 'M')} vs its group's median {_fmt_num(md, 'M')} ({v / md:.2f}x)"
                    for s, lv, v, md in hits)
    return {"check": "library_outlier", "variable": "total counts", "test": f"<= {OUTLIER_FRACTION:g} x group median",
            "statistic": float(len(hits)), "pval": np.nan, "n": n,
            "effect": f"{len(hits)} of {n} libraries far below their group's depth" + (f": {txt}" if hits else ""),
            "flagged": bool(hits),
            "caveat": (f"{len(hits)} library far below its group's depth ({txt}): its estimates rest on few reads"
                       if len(hits) == 1 else
                       f"{len(hits)} libraries far below their group's depth ({txt}): their estimates rest on few reads")
            if hits else ""}


def pairing_row(adata, paired_by: str, pair_rule: str, pairs_tab) -> dict:
    """``pairing_declared``: whether the pairs are recorded in the metadata or declared by sample order."""
    method = pair_rule.split(":", 1)[0].strip()
    declared = paired_by == "pair_id" and method in DECLARED_PAIRING
    n = 0 if pairs_tab is None else len(pairs_tab)
    bad = [] if pairs_tab is None else list(pairs_tab.loc[pairs_tab["flagged"], "pair"])
    if declared:
        effect = (f"pairs declared by sample order ({pair_rule}), not recorded as a patient id; "
                  f"{len(bad)} of {n} pairs not supported by the pair checks" + (f" ({', '.join(bad)})" if bad else ""))
        caveat = (f"the pairing is declared by sample order ({pair_rule.split(': ', 1)[-1]}), not recorded as a "
                  "patient id" + (f"; {len(bad)} of {n} declared pairs are not supported by the pair checks "
                                  f"({', '.join(bad)})" if bad else ""))
    else:
        effect = f"pairs recorded in obs[{paired_by!r}]"
        caveat = ""
    return {"check": "pairing_declared", "variable": paired_by, "test": "pairing rule", "statistic": float(len(bad)),
            "pval": np.nan, "n": n, "effect": effect, "flagged": declared, "caveat": caveat}


_RISK = {
    "library_size": "confounding: {caveat}",
    "sample_ids": "confounding: {caveat}",
    "technical": "confounding: {caveat}",
    "batch_aliased": "confounding by a batch that dominates: {caveat}",
    "norm_factor": "RNA composition shift: {caveat}",
    "pairing_declared": "pairing declared, not recorded: {caveat}",
    "sex_recorded": "sex imbalance left unadjusted: {caveat}",
    "sex_inferred": "sex imbalance left unadjusted: {caveat}",
    "age": "age imbalance left unadjusted: {caveat}",
}

#: Checks whose flags are a risk of bias (GRADE), unless adjusted for (sex, age).
RISK_CHECKS = tuple(_RISK)


def risk_of_bias(check: str, flagged: bool, caveat: str) -> str:
    """The risk-of-bias reason of one design row ("" when the row is not a risk of bias)."""
    if not flagged or check not in _RISK or not caveat:  # no caveat: the flag repeats another row's
        return ""
    return _RISK[check].format(caveat=caveat)


#: Design checks a covariate adjustment answers, by covariate.
ADJUSTABLE = {"sex": ("sex_recorded", "sex_inferred"), "age": ("age",)}


def covariates_to_adjust(table: pd.DataFrame) -> list[str]:
    """The covariates (``"sex"``, ``"age"``) whose imbalance a design table flags."""
    flagged = set(table.loc[table["flagged"].astype(bool), "check"])
    return [cov for cov, checks in ADJUSTABLE.items() if flagged & set(checks)]


def mark_adjusted(table: pd.DataFrame, covariates: Iterable[str], *, note: str = "") -> pd.DataFrame:
    """A copy of a design table in which the sex / age imbalance rows answered by an adjustment
    for ``covariates`` are no longer a risk of bias; their caveat says so.

    Parameters
    ----------
    table
        A :func:`~mgtranscript.tl.design_check` table.
    covariates
        Covariates adjusted for: ``"sex"``, ``"age"``.
    note
        Appended to the caveat (default: "adjusted for in the primary estimates").
    """
    out = table.copy()
    note = note or "adjusted for in the primary estimates (the unadjusted ones are a sensitivity analysis)"
    for cov in covariates:
        m = out["check"].isin(ADJUSTABLE.get(cov, ())) & out["flagged"].astype(bool)
        out.loc[m, "risk_of_bias"] = ""
        m &= out["caveat"].astype(str) != ""
        out.loc[m, "caveat"] = out.loc[m, "caveat"].astype(str) + f"; {note}"
    return out
