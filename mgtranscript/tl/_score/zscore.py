"""Combined z-score (Lee et al. 2008), as implemented by R GSVA 1.46.

Every gene is standardised across samples (mean 0, standard deviation 1 with ``n - 1``
in the denominator) and a sample's score is ``sum(z_g) / sqrt(k)`` over the ``k`` set
genes. Genes whose standard deviation is below ``1e-10`` (constant across samples) are
left out of the sets, as GSVA drops them from the data before mapping sets; a set left
with no gene scores NaN.

The score depends on the other samples (through the per-gene mean and SD), so it is not
sample-independent: a sample chunk cannot be scored on its own. Only the set genes'
columns are needed, which is what the runner reads for large inputs.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._common import _drop_constant, _union, standardise

#: z-scores use the mean and SD over all samples
SAMPLE_INDEPENDENT = False
#: only the set genes' columns enter the score
NEEDS_ALL_GENES = False

def zscore_matrix(X: np.ndarray, sets: Mapping[str, np.ndarray]) -> np.ndarray:
    """Combined z-scores.

    Parameters
    ----------
    X
        Samples x genes, float64, finite; log-scale expression.
    sets
        Set name -> integer column indices of ``X``.

    Returns
    -------
    Samples x sets array, columns in the order of ``sets``.
    """
    X = np.asarray(X, dtype=np.float64)
    union, local = _union(sets, X.shape[1])
    Z, ok = standardise(X[:, union])  # per gene: only the set genes are needed
    kept = _drop_constant(local, ok, "zscore")
    es = np.full((Z.shape[0], len(kept)), np.nan)
    for j, idx in enumerate(kept.values()):
        if idx.size:
            es[:, j] = Z[:, idx].sum(axis=1) / np.sqrt(idx.size)
    return es

