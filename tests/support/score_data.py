"""The scoring methods' R reference inputs and outputs, and awkward inputs for the kernels.

``tests/data/scores`` (``tests/r/make_reference_scores.R``: ssGSEA, z-score, PLAGE of R GSVA 1.46
on 200 genes x 12 samples, without and with ties) and ``tests/data/gsva``
(``tests/r/make_reference_gsva.R``: GSVA 1.46 per kernel and option case).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .paths import DATA

SCORES = DATA / "scores"
GSVA = DATA / "gsva"


def expr(kind: str) -> pd.DataFrame:
    """``tests/data/scores`` input ``kind`` (``"noties"`` or ``"ties"``): genes x samples, as written by R."""
    return pd.read_csv(SCORES / f"expr_{kind}.tsv", sep="\t", index_col=0)


def ref(kind: str, method: str) -> pd.DataFrame:
    """R GSVA's scores (samples x sets) of ``method`` (``ssgsea``, ``ssgsea_norm``, ``zscore``, ``plage``)."""
    return pd.read_csv(SCORES / f"{kind}__{method}.tsv", sep="\t", index_col=0)


def sets_long() -> pd.DataFrame:
    """The reference gene sets, one row per (set, gene); one gene is not in the data."""
    return pd.read_csv(SCORES / "sets.tsv", sep="\t")


def index_sets(genes: list[str]) -> dict[str, np.ndarray]:
    """The reference sets as sorted column indices into ``genes`` (genes not there left out)."""
    pos = {g: i for i, g in enumerate(genes)}
    return {name: np.array(sorted(pos[g] for g in grp if g in pos))
            for name, grp in sets_long().groupby("set", sort=False)["gene"]}


def scores_case(kind: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(samples x genes matrix, sets as indices)`` of reference input ``kind``."""
    e = expr(kind)
    return e.T.to_numpy(float), index_sets(list(e.index))


#: The GSVA reference cases (kernel, mx_diff, abs_ranking, tau, input).
GSVA_CASES = pd.read_csv(GSVA / "cases.tsv", sep="\t")


def gsva_input(input_name: str) -> tuple[np.ndarray, dict[str, np.ndarray], pd.DataFrame]:
    """``(samples x genes matrix, sets as indices, genes x samples table)`` of a GSVA reference input."""
    e = pd.read_csv(GSVA / f"{input_name}.tsv", sep="\t", index_col=0)
    long = pd.read_csv(GSVA / "sets.tsv", sep="\t")
    pos = {g: i for i, g in enumerate(e.index)}
    sets = {s: np.array(sorted(pos[g] for g in genes)) for s, genes in long.groupby("set", sort=False)["gene"]}
    return e.T.to_numpy(np.float64), sets, e


def gsva_case(case: str) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, dict]:
    """``(X, sets, R's scores as samples x sets, gsva_matrix options)`` of one GSVA reference case."""
    row = GSVA_CASES.set_index("case").loc[case]
    X, sets, _ = gsva_input(row["input"])
    r = pd.read_csv(GSVA / f"gsva_{case}.tsv", sep="\t", index_col=0).loc[list(sets)].to_numpy().T
    opts = dict(kcdf=row["kcdf"], mx_diff=bool(row["mx_diff"]), abs_ranking=bool(row["abs_ranking"]),
                tau=float(row["tau"]))
    return X, sets, r, opts


def awkward(rng: np.random.Generator, kind: str, rows: int, n: int) -> np.ndarray:
    """A ``rows x n`` matrix of one awkward kind for the compiled kernels: ``normal``, ``counts``
    (many ties, both signs), ``near_equal`` (values differing in the last bits) or ``specials``
    (signed zeros, infinities, a subnormal, the largest float)."""
    if kind == "normal":
        return rng.normal(size=(rows, n))
    if kind == "counts":  # many ties, both signs
        return rng.poisson(2, size=(rows, n)) * rng.choice([-1.0, 1.0], size=(rows, n))
    if kind == "near_equal":  # differ only in the last bits: the column bits of the keys collide
        return 1.0 + rng.integers(0, 50, size=(rows, n)) * 2.0**-52
    if kind == "specials":
        X = rng.normal(size=(rows, n))
        X[:, ::3] = 0.0
        X[:, 1::7] = -0.0
        X[:, 2::11] = np.inf
        X[:, 4::13] = -np.inf
        X[:, 5::17] = 5e-324  # subnormal
        X[:, 6::19] = np.finfo(float).max
        return X
    raise ValueError(kind)
