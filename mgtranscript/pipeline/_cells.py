"""Per-cell evidence for the claims about a mechanism inside one cell type (``scope = cell``).

:func:`cell_effects` correlates the claim's two genes inside the cell types its
``cell_types`` patterns match, **with donors as the unit** (:func:`mgtranscript.tl.correlate_cells`:
within each cell type and donor, combined across donors). The donor column is ``donor_key``
(default: the first of ``donor``, ``donor_id``, ``individual``, ``patient`` in ``obs``).
Without one, cells are counted as samples: the evidence row's ``design`` says the donors are
unknown, and a ``donors`` row of the design table carries that as a risk of bias, so that
such evidence cannot support more than very low certainty.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from ._result import CohortResult

logger = logging.getLogger(__name__)

__all__ = ["cell_effects"]


def _design_row(name: str, donor: str | None, n_donors: int, n_cells: int) -> dict:
    from ..tl import DONORS_UNKNOWN

    unknown = donor is None
    caveat = (f"{name}: {DONORS_UNKNOWN}" if unknown else "")
    return {"check": "donors", "variable": donor or "", "test": "donor column", "statistic": float(n_donors),
            "effect": (f"no donor column (looked for donor, donor_id, individual, patient); {n_cells} cells"
                       if unknown else f"{n_donors} donors in obs[{donor!r}], {n_cells} cells"),
            "pval": np.nan, "n": int(n_donors), "flagged": unknown, "caveat": caveat,
            "risk_of_bias": f"donors unknown: {caveat}" if unknown else "", "cohort": name, "contrast": "*"}


def cell_effects(cells: dict, claims: pd.DataFrame, *, cell_type_key: str = "cell_type",
                 donor_key: str | None = None, result: CohortResult) -> list[dict]:
    """Per-cell evidence for ``scope = cell`` claims: the correlation named by the claim inside
    the cell types its ``cell_types`` patterns match, within each cell type and donor,
    combined with donors as the unit (:func:`mgtranscript.tl.correlate_cells`).

    ``cells`` maps a name to an AnnData of cells (log-normalised ``X``, cell types in
    ``obs[cell_type_key]``, donors in ``obs[donor_key]``). Rows get ``design = "cells:..."``;
    they count for any disease area. A ``donors`` row per dataset goes to the ``design`` table of
    ``result`` (a :class:`~._result.CohortResult`), the correlations to its ``correlations`` table.
    """
    from .. import get, tl
    from ..claims import correlation_effects
    from ..tl import donor_column

    eff: list[dict] = []
    cell_claims = claims[(claims["scope"] == "cell") & (claims["feature_kind"] == "correlation")]
    for name, cdata in cells.items():
        if cell_type_key not in cdata.obs:
            raise UsageError(f"cells {name!r}: no obs[{cell_type_key!r}] with cell types; pass cell_type_key= "
                             f"(obs columns: {', '.join(map(str, cdata.obs.columns[:10]))})")
        try:
            donor = donor_column(cdata.obs, donor_key)
        except Exception as exc:  # noqa: BLE001 - an InputDataError: a bad option is a usage error here
            raise UsageError(f"cells {name!r}: {exc}") from None
        n_donors = int(cdata.obs[donor].nunique()) if donor else 0
        result.append("design", pd.DataFrame([_design_row(name, donor, n_donors, int(cdata.n_obs))]))
        labels = cdata.obs[cell_type_key].astype(str)
        for c in cell_claims.itertuples():
            x, _, y = c.features.partition("~")
            pats = [q for q in str(c.cell_types or "").split(";") if q.strip()]
            mask = labels.map(lambda v: any(re.search(q, v, re.I) for q in pats)) if pats else labels != ""
            if x not in cdata.var_names or y not in cdata.var_names or int(mask.sum()) < 10:
                logger.warning("cells %s: claim %s not testable (genes %s/%s present: %s/%s; %d matching cells)",
                               name, c.claim_id, x, y, x in cdata.var_names, y in cdata.var_names, int(mask.sum()))
                continue
            sub = cdata[mask.to_numpy()].copy()
            tl.correlate_cells(sub, x, y, cell_type_key=cell_type_key, donor_key=donor, key_added="_cc")
            t = get.correlate(sub, "_cc").assign(cohort=name, feature_x=x, feature_y=y)
            result.append("correlations", t)
            eff += correlation_effects(t, cohort=name, area="any", analysis="correlation")
    return eff
