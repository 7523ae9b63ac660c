"""PLAGE (Tomfohr et al. 2005), as implemented by R GSVA 1.46.

Genes are standardised across samples as for :mod:`~mgtranscript.tl._score.zscore` (constant
genes left out, as GSVA does), and a set's score is the first right singular vector of
the set genes x samples matrix of z-scores: one value per sample, a unit vector over the
samples (sum of squares 1).

It is computed from the leading eigenvector of the smaller Gram matrix rather than a full
SVD: with ``M`` the samples x ``k`` z-scores of a set, ``v`` the leading eigenvector of
``M.T @ M`` (``k x k``) gives the score ``M @ v / |M @ v|`` (or, when ``k`` exceeds the
number of samples, the leading eigenvector of ``M @ M.T``). Same vector as the SVD's
(measured: ~1e-13), a few times faster; ``_plage_svd`` keeps the SVD as the reference.

Sign convention
---------------
A singular vector's sign is arbitrary (GSVA returns whatever LAPACK gives). By default
(``orient=True``) the score is oriented so that it correlates non-negatively with the
mean z-score of the set's genes: a high PLAGE score means the set's genes are high in
that sample. ``orient=False`` keeps the arbitrary sign LAPACK's eigensolver returns.
Either way the magnitudes equal GSVA's (a test compares them after aligning the sign).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.linalg import eigh
from threadpoolctl import threadpool_limits

from ._common import _drop_constant, _union, standardise

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
    return _plage(X, sets, orient=orient, vector=_leading_vector)


def _plage(X, sets, *, orient: bool, vector) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    union, local = _union(sets, X.shape[1])
    Z, ok = standardise(X[:, union])  # per gene: only the set genes are needed
    kept = _drop_constant(local, ok, "plage")
    es = np.full((Z.shape[0], len(kept)), np.nan)
    # one BLAS thread: the per-set problems are small, and threaded OpenBLAS was measured
    # 5-30x slower on them on a 2-core machine with the other core busy
    with threadpool_limits(limits=1, user_api="blas"):
        for j, idx in enumerate(kept.values()):
            if not idx.size:
                continue
            M = Z[:, idx]  # samples x k: its left singular vectors are GSVA's right ones
            u = vector(M)
            if orient and float(u @ M.mean(axis=1)) < 0:
                u = -u
            es[:, j] = u
    return es


def _leading_vector(M: np.ndarray) -> np.ndarray:
    """First left singular vector of ``M`` from the leading eigenvector of its smaller
    Gram matrix (unit length; sign arbitrary)."""
    n, k = M.shape
    if k <= n:
        G = M.T @ M
        v = eigh(G, subset_by_index=[k - 1, k - 1], check_finite=False)[1][:, 0]
        u = M @ v
        return u / np.linalg.norm(u)
    G = M @ M.T
    return eigh(G, subset_by_index=[n - 1, n - 1], check_finite=False)[1][:, 0]


def _leading_vector_svd(M: np.ndarray) -> np.ndarray:
    """Reference: the first left singular vector by a full (thin) SVD."""
    return np.linalg.svd(M, full_matrices=False)[0][:, 0]


def _plage_svd(X, sets, *, orient: bool = True) -> np.ndarray:
    """PLAGE by one SVD per set (the reference for the Gram-matrix path)."""
    return _plage(X, sets, orient=orient, vector=_leading_vector_svd)
