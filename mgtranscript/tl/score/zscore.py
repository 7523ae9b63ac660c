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

import warnings
from collections.abc import Mapping

import numpy as np

#: z-scores use the mean and SD over all samples
SAMPLE_INDEPENDENT = False
#: only the set genes' columns enter the score
NEEDS_ALL_GENES = False

#: genes with a standard deviation below this are constant (GSVA's threshold)
CONSTANT_SD = 1e-10


def standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene z-scores across samples (rows) and a mask of non-constant genes."""
    X = np.asarray(X, dtype=np.float64)
    if X.shape[0] < 2:
        return np.full(X.shape, np.nan), np.zeros(X.shape[1], dtype=bool)
    mu = X.mean(axis=0)
    C = X - mu
    sd = np.sqrt((C * C).sum(axis=0) / (X.shape[0] - 1))
    ok = sd >= CONSTANT_SD
    with np.errstate(divide="ignore", invalid="ignore"):
        Z = C / np.where(ok, sd, np.nan)
    return Z, ok


def _drop_constant(sets: Mapping[str, np.ndarray], ok: np.ndarray, method: str) -> dict[str, np.ndarray]:
    out = {}
    dropped = {}
    for name, idx in sets.items():
        idx = np.asarray(idx, dtype=np.intp).ravel()
        keep = idx[ok[idx]]
        if keep.size < idx.size:
            dropped[name] = idx.size - keep.size
        out[name] = keep
    if dropped:
        summary = ", ".join(f"{k} ({v})" for k, v in list(dropped.items())[:5])
        warnings.warn(
            f"{method}: genes with constant expression across samples were left out of "
            f"{len(dropped)} set(s): {summary}; as in GSVA, they carry no information",
            UserWarning,
            stacklevel=3,
        )
    return out


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


def _union(sets: Mapping[str, np.ndarray], n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from .ssgsea import _union as union

    return union(sets, n)
