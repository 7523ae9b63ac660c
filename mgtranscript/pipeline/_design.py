"""The design step of the per-cohort plan: the audit of every contrast, and the covariates the
primary estimates are adjusted for.

For each contrast :func:`audit_contrasts` runs :func:`mgtranscript.tl.design_check` and writes
its rows (and the pair checks) to the run's ``design`` / ``pairs`` tables. When the audit flags
a **sex or age imbalance** on an unpaired contrast, the primary estimates of that contrast are
adjusted for it (a paired contrast compares each person with themselves, so sex and age drop
out): the covariate columns ``covariate_sex`` (recorded sex where the metadata has it, else the
genetic sex from XIST/chrY) and ``covariate_age`` are added to ``obs``, the flag's
``risk_of_bias`` is cleared and its caveat says the estimates are adjusted
(:func:`mgtranscript.tl.mark_adjusted`); the unadjusted estimates become the sensitivity
scenario :data:`UNADJUSTED`.
"""

from __future__ import annotations

import logging

import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["audit_contrasts", "UNADJUSTED", "COVARIATE_COLUMNS", "covariate_words"]

#: The scenario holding the estimates without the sex / age adjustment.
UNADJUSTED = "unadjusted for sex/age"

#: obs columns holding the covariates a contrast is adjusted for.
COVARIATE_COLUMNS = {"sex": "covariate_sex", "age": "covariate_age"}


def covariate_words(columns) -> str:
    """``["covariate_sex", "covariate_age"]`` -> ``"sex, age"``."""
    inv = {v: k for k, v in COVARIATE_COLUMNS.items()}
    return ", ".join(inv.get(c, c) for c in columns)


def _age_column(obs: pd.DataFrame) -> str | None:
    from ..tl import AGE_COLUMN as _AGE

    return next((str(c) for c in obs.columns if _AGE.match(str(c))), None)


def _covariates(adata, table: pd.DataFrame, paired: bool) -> list[str]:
    """obs columns to adjust a contrast for (created here), from its design table."""
    from .. import get
    from ..tl import covariates_to_adjust

    if paired:
        return []
    cols = []
    for cov in covariates_to_adjust(table):
        col = COVARIATE_COLUMNS[cov]
        if cov == "sex":
            samples = get.design(adata, table="samples")
            rec = samples.get("recorded_sex", pd.Series("", index=samples.index)).astype(str)
            inf = samples.get("inferred_sex", pd.Series("", index=samples.index)).astype(str)
            rec = rec.where(rec.isin(("male", "female")), None)
            inf = inf.where(inf.isin(("male", "female")), None)
            vals = rec.where(rec.notna(), inf) if rec.notna().any() else inf
            adata.obs[col] = pd.Categorical(vals.reindex(adata.obs_names).to_numpy(dtype=object),
                                            categories=["female", "male"])
        else:
            src = _age_column(adata.obs)
            if src is None:
                continue
            adata.obs[col] = pd.to_numeric(adata.obs[src], errors="coerce").to_numpy(dtype=float)
        if pd.Series(adata.obs[col]).notna().sum() >= 4:
            cols.append(col)
    return cols


def audit_contrasts(adata, accession: str, contrasts: list[dict], result) -> dict[str, list[str]]:
    """Audit each contrast (rows to the ``design`` and ``pairs`` tables of ``result``, a
    :class:`~._result.CohortResult`); return the covariate columns
    each contrast's primary estimates are adjusted for (``tag -> [obs columns]``)."""
    from .. import get, tl
    from ..tl import mark_adjusted

    adjust: dict[str, list[str]] = {}
    for k in contrasts:
        tl.design_check(adata, groupby=k["groupby"], group=k["group"], reference=k["reference"],
                        paired_by=k["paired_by"], key_added="design_check")
        tab = get.design(adata)
        cols = _covariates(adata, tab, paired=bool(k["paired_by"]))
        if cols:
            adjust[k["tag"]] = cols
            tab = mark_adjusted(tab, [c.removeprefix("covariate_") for c in cols])
            logger.info("%s %s: primary estimates adjusted for %s", accession, k["tag"], covariate_words(cols))
        result.append("design", tab.assign(cohort=accession, contrast=k["tag"]))
        pairs = get.design(adata, table="pairs") if k["paired_by"] else None
        if pairs is not None and len(pairs):
            result.append("pairs", pd.DataFrame(pairs).assign(cohort=accession))
    return adjust

