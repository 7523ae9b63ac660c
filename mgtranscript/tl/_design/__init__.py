"""Design audit: is a contrast confounded with how the samples were made?

:func:`design_check` tests whether group membership is associated with library size,
TMM factor, top-gene read share, genetic and recorded sex, age, technical fields of the
series matrix and sample-id series; measures how strongly a technical factor that splits the
groups completely dominates the biology inside it; flags libraries far below their group's
depth; and (with ``paired_by``) checks each declared pair and whether the pairing is
recorded; see :mod:`._audit` for the tests and the flag rule.

Modules
-------
:mod:`._audit`
    :func:`design_check` and the columns of its tables.
:mod:`._sex`
    :func:`infer_sex` from XIST and the chrY genes :data:`Y_GENES`; recorded sex.
:mod:`._pairs`
    Pair checks: sex agreement and leave-one-pair-out identity genes.
:mod:`._ids`
    Variables derived from sample ids, titles and dates.
:mod:`._association`
    The association tests and the flag rule.
:mod:`._batch`
    Batch aliasing: a technical factor that splits the groups completely, and whether it
    dominates the biology inside it (``batch_aliased``).
:mod:`._risk`
    Single-library outliers, declared pairing, which flags are a risk of bias (GRADE) and
    :func:`mark_adjusted` (an imbalance answered by a covariate adjustment).
:mod:`._util`
    Small shared helpers (dense arrays, labels, number formatting, the sides of a contrast).
"""

from ._audit import AGE_COLUMN, DESIGN_COLUMNS, SAMPLE_COLUMNS, design_check
from ._pairs import PAIR_COLUMNS
from ._risk import RISK_CHECKS, covariates_to_adjust, mark_adjusted
from ._sex import Y_GENES, infer_sex

__all__ = ["design_check", "DESIGN_COLUMNS", "PAIR_COLUMNS", "SAMPLE_COLUMNS", "Y_GENES", "infer_sex",
           "RISK_CHECKS", "AGE_COLUMN", "covariates_to_adjust", "mark_adjusted"]
