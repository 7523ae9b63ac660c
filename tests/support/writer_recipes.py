"""One call of every ``tl`` writer on one small synthetic cohort, for the storage-contract tests
(tests/test_package_structure.py). The list of writers is derived from the code there; a writer
without a recipe here fails that test, which names it.

The cohort: 40 healthy/NASH pairs (80 samples) of raw counts (``layers["counts"]``) and log2 CPM
(``X``) over the bundled magnesium and liver cell-type genes, the chrY genes and XIST (half the
donors are male) and 60 filler genes; ``obs`` has a pair id, age, a fibrosis stage, survival
(``os_days``, ``os_event``), a cell type and a donor; ``obsm`` has Mg and mechanism scores.
"""

from __future__ import annotations

from collections.abc import Callable

import anndata as ad
import numpy as np
import pandas as pd

from mgtranscript import genesets, tl

#: Mechanism sets of the filler genes (coupling needs a second score table).
MECHANISMS = {"HALLMARK_INFLAMMATORY_RESPONSE": [f"F{i:02d}" for i in range(15)],
              "HALLMARK_OXIDATIVE_PHOSPHORYLATION": [f"F{i:02d}" for i in range(15, 30)]}


def cohort(n_pairs: int = 40, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    mg_genes = list(dict.fromkeys(g for genes in genesets.load("magnesium").values() for g in genes))
    markers = list(dict.fromkeys(g for genes in genesets.load("liver_celltypes").values() for g in genes))
    genes = list(dict.fromkeys(mg_genes + markers + list(tl.Y_GENES) + ["XIST"] + [f"F{i:02d}" for i in range(60)]))
    n = 2 * n_pairs
    nash = np.tile([0, 1], n_pairs).astype(bool)
    male = np.repeat(rng.random(n_pairs) < 0.5, 2)
    mean = rng.gamma(2.0, 60.0, size=len(genes))
    effect = np.where(rng.random(len(genes)) < 0.2, rng.normal(0, 0.8, len(genes)), 0.0)
    pair_level = np.repeat(rng.normal(0, 0.3, n_pairs), 2)
    lam = mean[None, :] * np.exp(nash[:, None] * effect[None, :] + pair_level[:, None]
                                 + rng.normal(0, 0.2, (n, len(genes))))
    idx = {g: i for i, g in enumerate(genes)}
    for g in tl.Y_GENES:
        lam[:, idx[g]] = np.where(male, 200.0, 0.2)
    lam[:, idx["XIST"]] = np.where(male, 0.5, 400.0)
    counts = rng.poisson(lam * rng.uniform(0.8, 1.2, (n, 1))).astype(float)
    logcpm = np.log2(counts / counts.sum(axis=1, keepdims=True) * 1e6 + 1)
    obs = pd.DataFrame({
        "condition": pd.Categorical(np.where(nash, "NASH", "healthy"), ["healthy", "NASH"]),
        "pair_id": np.repeat([f"P{i:02d}" for i in range(n_pairs)], 2),
        "sex": np.where(male, "male", "female"),
        "age": rng.normal(50, 10, n).round(1),
        "fibrosis_stage": np.where(nash, rng.integers(1, 4, n), 0).astype(float),
        "os_days": rng.exponential(900, n).round() + 30,
        "os_event": (rng.random(n) < 0.6).astype(int),
        "cell_type": np.tile(["hepatocyte", "kupffer"], n_pairs),
        "donor": [f"D{i % 4}" for i in range(n)],
    }, index=[f"S{i:02d}" for i in range(n)])  # fmt: skip
    a = ad.AnnData(logcpm, obs=obs, var=pd.DataFrame(index=genes))
    a.layers["counts"] = counts
    tl.score(a, "magnesium", key_added="mg_ssgsea")
    tl.score(a, MECHANISMS, key_added="mech_ssgsea")
    return a


#: tl writer -> a call of it on :func:`cohort` with ``key_added`` and ``copy`` passed through.
RECIPES: dict[str, Callable[..., ad.AnnData | None]] = {
    "score": lambda a, **kw: tl.score(a, "magnesium", method="gsva", **kw),
    "mg_balance": lambda a, **kw: tl.mg_balance(a, **kw),
    "score_cells": lambda a, **kw: tl.score_cells(a, "magnesium", ctrl_size=10, n_bins=5, **kw),
    "composition": lambda a, **kw: tl.composition(a, **kw),
    "marker_coherence": lambda a, **kw: tl.marker_coherence(a, within="condition", **kw),
    "compare": lambda a, **kw: tl.compare(a, reference="healthy", keys=["mg_ssgsea", "age"], genes=["MAGT1"],
                                          covariates=["age"], **kw),
    "trend": lambda a, **kw: tl.trend(a, by="fibrosis_stage", keys="mg_ssgsea", genes=["MAGT1"], **kw),
    "correlate": lambda a, **kw: tl.correlate(a, "MAGT1", ["TRPM7", "CNNM4"], within="condition", **kw),
    "correlate_cells": lambda a, **kw: tl.correlate_cells(a, "MAGT1", "TRPM7", donor_key="donor", min_cells=5,
                                                          **kw),
    "coupling": lambda a, **kw: tl.coupling(a, mg_key="mg_ssgsea", mechanism_key="mech_ssgsea", within="condition",
                                            **kw),
    "de": lambda a, **kw: tl.de(a, groupby="condition", group="NASH", reference="healthy", method="voom", **kw),
    "design_check": lambda a, **kw: tl.design_check(a, groupby="condition", group="NASH", reference="healthy",
                                                    paired_by="pair_id", **kw),
    "survival": lambda a, **kw: tl.survival(a, "MAGT1", groupby=None, one_per=None, covariates=["age"], **kw),
    "infer_sex": lambda a, **kw: tl.infer_sex(a, **kw),
}  # fmt: skip
