"""Correlations in per-cell data with **donors as the unit**.

Cells of one donor are not independent samples: they share the donor's genotype, age,
disease, sample handling and sequencing run. A correlation over 400 cells of one donor has
p ~ 1e-26 however little it says about donors in general. :func:`correlate_cells` therefore

1. correlates the two features inside each cell type **and donor** (Spearman by default;
   only groups of at least ``min_cells`` cells), with Fisher-z CIs (Bonett-Wright for
   Spearman);
2. combines each donor's cell types into one Fisher z per donor (weights ``n - 3``);
3. combines the donors as replicates: the mean of the per-donor z, its standard error
   ``sd(z_d) / sqrt(k)`` over the ``k`` donors, a one-sample t-test on ``k - 1`` df and the CI
   ``tanh(mean z +/- t(k-1) se)``. ``n`` of that row is ``k``, the number of donors.

With fewer than ``min_donors`` donors there is no combined estimate (NaN and a note). When
the data name no donor (no ``donor_key`` and none of :data:`DONOR_KEYS` in ``obs``), the
correlation is computed within each cell type with cells as the unit (as
:func:`mgtranscript.tl.correlate` ``within=cell_type_key``) and every row says the donors
are unknown (``design`` and ``note``): such evidence cannot support more than very low
certainty.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import InputDataError
from .._store import finish, start, store
from ._features import feature_values
from ..._stats import Z_95, bh_adjust

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

logger = logging.getLogger(__name__)

__all__ = ["correlate_cells", "donor_column", "DONOR_KEYS", "DONORS_UNKNOWN"]

#: obs columns tried, in order, for the donor when none is named.
DONOR_KEYS = ("donor", "donor_id", "individual", "patient")

#: Said in ``design`` and ``note`` when the per-cell data name no donor.
DONORS_UNKNOWN = ("donors unknown: cells counted as samples, so n and p describe cells, not donors "
                  "(risk of bias; very low certainty at most)")

_COLUMNS = ["x", "y", "method", "design", "combine", "level", "estimate", "ci_low", "ci_high", "pval", "qval",
            "n", "n_groups", "df", "covariates", "q_het", "q_pval", "i2", "zero_fraction_x", "zero_fraction_y",
            "note"]


def donor_column(obs: pd.DataFrame, donor_key: str | None = None) -> str | None:
    """The column of a cells' ``obs`` table that names each cell's donor.

    Parameters
    ----------
    obs
        The cells' ``adata.obs``.
    donor_key
        The donor column, if known (it is checked); else the first of :data:`DONOR_KEYS`
        present is taken.

    Returns
    -------
    str or None
        The column name, or ``None`` when no donor column is found (donors unknown).

    Raises
    ------
    InputDataError
        ``donor_key`` is not a column of ``obs``.
    """
    if donor_key is not None:
        if donor_key not in obs.columns:
            raise InputDataError(f"donor_key {donor_key!r} is not an obs column of the cells; available: "
                                 f"{', '.join(map(str, obs.columns[:15]))}. Pass the column that names "
                                 "each cell's donor (or omit it to look for donor, donor_id, individual, patient).")
        return donor_key
    return next((k for k in DONOR_KEYS if k in obs.columns), None)


def _spearman(x: np.ndarray, y: np.ndarray, method: str) -> tuple[float, float, float, float]:
    n = x.size
    if n < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan, np.nan, np.nan, np.nan
    r, p = (stats.spearmanr(x, y) if method == "spearman" else stats.pearsonr(x, y))[:2]
    c = 1.0 + r * r / 2.0 if method == "spearman" else 1.0
    se = np.sqrt(c / (n - 3))
    z = np.arctanh(np.clip(r, -0.999999, 0.999999))
    return float(r), float(p), float(np.tanh(z - Z_95 * se)), float(np.tanh(z + Z_95 * se))


def correlate_cells(
    adata: AnnData,
    x: str,
    y: str,
    *,
    cell_type_key: str = "cell_type",
    donor_key: str | None = None,
    method: str = "spearman",
    min_cells: int = 10,
    min_donors: int = 3,
    layer: str | None = None,
    key_added: str = "correlate_cells",
    copy: bool = False,
) -> AnnData | None:
    """Correlate two features inside each cell type and donor, with donors as the unit.

    See the module docstring (``_donors``) for the statistics.

    Parameters
    ----------
    adata
        Cells x genes, log-normalised expression in ``X`` (or ``layer``).
    x, y
        Features (genes, numeric ``obs`` columns, ``"<obsm key>:<column>"`` scores).
    cell_type_key
        ``obs`` column with the cell types.
    donor_key
        ``obs`` column with the donor of each cell (default: the first of
        :data:`DONOR_KEYS` in ``obs``; none: donors unknown, cells as the unit).
    method
        ``"spearman"`` (default) or ``"pearson"``.
    min_cells
        Smallest group of cells (cell type x donor) correlated.
    min_donors
        Fewest donors for a combined estimate.
    layer
        Expression layer for genes (default ``X``).
    key_added
        Results go to ``adata.uns[key_added] = {"params": ..., "table": DataFrame}``.
    copy
        Return a modified copy instead of writing into ``adata``.

    Returns
    -------
    The modified copy when ``copy=True``, else ``None``. The table (read it with
    :func:`mgtranscript.get.correlate` ``(adata, key_added)``) has the columns of
    :data:`mgtranscript.tl.CORRELATE_COLUMNS`. Rows: the combined estimate (``level =
    "combined"``, ``n`` = donors, ``df`` = donors - 1), one per donor (``level = "donor
    <id>"``, its cell types combined) and one per cell type and donor (``level = "<cell
    type> | <donor>"``, ``n`` = cells). ``design`` is ``"cells: within cell type and donor;
    donors as the unit"`` or, without donors, ``"cells: within cell type; donors unknown
    ..."``. ``params["donor_key"]`` is the donor column used (empty when none).

    Raises
    ------
    InputDataError
        Unknown columns or features, a bad ``method``, ``min_cells`` < 4 or ``min_donors`` < 2.
    """
    adata = start(adata, "correlate_cells", key_added=key_added, copy=copy)
    if method not in ("spearman", "pearson"):
        raise InputDataError(f"method must be 'spearman' or 'pearson', got {method!r}.")
    if min_cells < 4 or min_donors < 2:
        raise InputDataError(f"min_cells must be >= 4 and min_donors >= 2, got {min_cells} and {min_donors}.")
    if cell_type_key not in adata.obs.columns:
        raise InputDataError(f"obs has no column {cell_type_key!r} with cell types; pass cell_type_key= "
                             f"(obs columns: {', '.join(map(str, adata.obs.columns[:15]))}).")
    dcol = donor_column(adata.obs, donor_key)
    xv = feature_values(adata, x, layer=layer)[0][1].astype(float)
    yv = feature_values(adata, y, layer=layer)[0][1].astype(float)
    ct = adata.obs[cell_type_key].astype("object").map(lambda v: None if pd.isna(v) else str(v)).to_numpy(dtype=object)
    donors = (adata.obs[dcol].astype("object").map(lambda v: None if pd.isna(v) else str(v)).to_numpy(dtype=object)
              if dcol is not None else np.array(["all cells"] * adata.n_obs, dtype=object))
    ok = np.isfinite(xv) & np.isfinite(yv) & np.array([c is not None for c in ct]) & \
        np.array([d is not None for d in donors])
    base = {"x": x, "y": y, "method": method, "covariates": "", "q_het": np.nan, "q_pval": np.nan, "i2": np.nan,
            "zero_fraction_x": np.nan, "zero_fraction_y": np.nan, "qval": np.nan}
    design = ("cells: within cell type and donor; donors as the unit" if dcol is not None
              else f"cells: within cell type; {DONORS_UNKNOWN}")
    rows, per_donor, skipped = [], {}, []
    for d in dict.fromkeys(donors[ok]):
        zs, ws = [], []
        for c in dict.fromkeys(ct[ok & (donors == d)]):
            m = ok & (donors == d) & (ct == c)
            if m.sum() < min_cells:
                skipped.append(f"{c} | {d} ({int(m.sum())} cells)")
                continue
            r, p, lo, hi = _spearman(xv[m], yv[m], method)
            rows.append({**base, "design": design, "combine": "", "level": f"{c} | {d}" if dcol else c,
                         "estimate": r, "ci_low": lo, "ci_high": hi, "pval": p, "n": int(m.sum()), "n_groups": 1,
                         "df": int(m.sum()) - 2, "note": "" if dcol else DONORS_UNKNOWN})
            if np.isfinite(r):
                zs.append(np.arctanh(np.clip(r, -0.999999, 0.999999)))
                ws.append(m.sum() - 3)
        if zs:
            per_donor[d] = (float(np.average(zs, weights=ws)), int(sum(ws) + 3 * len(ws)), len(zs))
    combined = {**base, "design": design, "level": "combined", "estimate": np.nan, "ci_low": np.nan,
                "ci_high": np.nan, "pval": np.nan, "n_groups": len(per_donor), "df": np.nan}
    n_cells = sum(v[1] for v in per_donor.values())
    if dcol is not None:
        for d, (z, n, k) in per_donor.items():
            rows.append({**base, "design": design, "combine": "fisher", "level": f"donor {d}", "estimate": np.tanh(z),
                         "ci_low": np.nan, "ci_high": np.nan, "pval": np.nan, "n": n, "n_groups": k, "df": np.nan,
                         "note": f"{k} cell type(s) of this donor, Fisher z weighted by n - 3"})
        zd = np.array([v[0] for v in per_donor.values()])
        k = zd.size
        note = f"{k} donors ({n_cells} cells in {sum(v[2] for v in per_donor.values())} cell type x donor groups)"
        combined.update(combine="donors as replicates (one-sample t on per-donor Fisher z)", n=k, df=k - 1)
        if k >= min_donors and zd.std(ddof=1) > 0:
            se = zd.std(ddof=1) / np.sqrt(k)
            t = zd.mean() / se
            tq = float(stats.t.ppf(0.975, k - 1))
            combined.update(estimate=float(np.tanh(zd.mean())), ci_low=float(np.tanh(zd.mean() - tq * se)),
                            ci_high=float(np.tanh(zd.mean() + tq * se)), pval=float(2 * stats.t.sf(abs(t), k - 1)),
                            note=note)
        else:
            combined.update(note=f"{note}: fewer than {min_donors} donors with a usable correlation (or no spread "
                                 "between donors); no estimate with donors as the unit")
    else:
        z, w, c2 = [], [], []
        for r in rows:
            if np.isfinite(r["estimate"]):
                z.append(np.arctanh(np.clip(r["estimate"], -0.999999, 0.999999)))
                w.append(r["n"] - 3)
                c2.append(1.0 + r["estimate"] ** 2 / 2.0 if method == "spearman" else 1.0)
        combined.update(combine="fisher", n=int(sum(w) + 3 * len(w)), note=DONORS_UNKNOWN)
        if w:
            w, z, c2 = np.array(w, float), np.array(z), np.array(c2)
            zbar = float((w * z).sum() / w.sum())
            se = float(np.sqrt((w * w * (c2 / w)).sum()) / w.sum())
            combined.update(estimate=float(np.tanh(zbar)), ci_low=float(np.tanh(zbar - Z_95 * se)),
                            ci_high=float(np.tanh(zbar + Z_95 * se)), pval=float(2 * stats.norm.sf(abs(zbar / se))))
    if skipped:
        combined["note"] += f"; groups with fewer than {min_cells} cells skipped: " + ", ".join(skipped[:10]) + (
            f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
    table = pd.DataFrame([combined, *rows], columns=_COLUMNS)
    table.loc[0, "qval"] = bh_adjust(table.loc[[0], "pval"].to_numpy(float))[0]
    store(adata, key_added, "correlate_cells", {"x": x, "y": y, "method": method, "cell_type_key": cell_type_key,
                                                "donor_key": dcol or "", "min_cells": int(min_cells),
                                                "min_donors": int(min_donors)}, table=table)
    logger.info("correlate_cells %s~%s: %s", x, y, combined["note"])
    return finish(adata, copy)
