"""PLAGE (Tomfohr et al. 2005), as implemented by R GSVA 1.46.

Genes are standardised across samples as for :mod:`~mgtranscript.tl.score.zscore` (constant
genes left out, as GSVA does), and a set's score is the first right singular vector of
the set genes x samples matrix of z-scores: one value per sample, a unit vector over the
samples (sum of squares 1).

Sign convention
---------------
A singular vector's sign is arbitrary (GSVA returns whatever LAPACK gives). By default
(``orient=True``) the score is oriented so that it correlates non-negatively with the
mean z-score of the set's genes: a high PLAGE score means the set's genes are high in
that sample. ``orient=False`` keeps the sign NumPy's LAPACK returns. Either way the
magnitudes equal GSVA's (a test compares them after aligning the sign).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .zscore import _drop_constant, standardise

SAMPLE_INDEPENDENT = False
NEEDS_ALL_GENES = False


def plage_matrix(X: np.ndarray, sets: Mapping[str, np.ndarray], *, orient: bool = True) -> np.ndarray:
    """PLAGE scores.

    Parameters
    ----------
    X
        Samples x genes, float64, finite; log-scale expression.
    sets
        Set name -> integer column indices of ``X``.
    orient
        Orient each score to correlate non-negatively with the set's mean z-score
        (default); ``False`` keeps LAPACK's arbitrary sign.

    Returns
    -------
    Samples x sets array, columns in the order of ``sets``.
    """
    Z, ok = standardise(X)
    kept = _drop_constant(sets, ok, "plage")
    es = np.full((Z.shape[0], len(kept)), np.nan)
    for j, idx in enumerate(kept.values()):
        if not idx.size:
            continue
        M = Z[:, idx]  # samples x k: its left singular vectors are GSVA's right ones
        U, _s, _vt = np.linalg.svd(M, full_matrices=False)
        u = U[:, 0]
        if orient and float(u @ M.mean(axis=1)) < 0:
            u = -u
        es[:, j] = u
    return es
