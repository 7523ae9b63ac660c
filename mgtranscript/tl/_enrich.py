"""Enrichment: GSEA prerank, the running sum behind it, and over-representation analysis.

Two questions a user asks after a comparison:

* :func:`gsea_prerank` -- are the Mg genes (or Hallmark pathways) concentrated at the top
  or bottom of a ranked gene list (e.g. the DE ``stat`` column)? GSEA prerank through
  gseapy, with small curated sets kept (gseapy's own ``min_size=15`` would silently drop
  most Mg sets).
* :func:`ora` -- is a list of significant genes over-represented in a set, against the
  genes *actually measured* in the cohort (``universe`` is required)?

Whether a Mg score moves with a mechanism score across samples is :func:`mgtranscript.tl.coupling`
(the mechanisms' gene sets: :func:`mgtranscript.genesets.mechanism_sets`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mgtranscript.errors import GeneSetError, InputDataError

from .._stats import bh_adjust
from .._utils import clean_ranking, sort_ranking

logger = logging.getLogger(__name__)

__all__ = ["gsea_prerank", "running_sum", "ora"]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _load_sets(gene_sets: Any):
    """Gene sets per the shared contract (:func:`mgtranscript.genesets.load`)."""
    from mgtranscript import genesets  # noqa: PLC0415

    return genesets.load(gene_sets)


def _match(
    sets: Any,
    genes: Sequence[str],
    *,
    min_size: int,
    max_size: int | None,
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Alias-aware matching of sets to ``genes`` (:func:`mgtranscript.genesets.match`)."""
    from mgtranscript import genesets  # noqa: PLC0415

    return genesets.match(sets, list(genes), min_size=min_size, max_size=max_size)


def running_sum(
    ranking: pd.Series,
    genes: Iterable[str],
    *,
    weight: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """GSEA running enrichment score (Subramanian 2005) of one gene set along a ranking.

    Parameters
    ----------
    ranking
        Gene -> statistic. Sorted here in decreasing order (ties keep input order, as
        in :func:`gsea_prerank`).
    genes
        Members of the gene set; those absent from the ranking are ignored.
    weight
        Exponent ``p`` of ``|statistic|`` for hits (1 = classic weighted GSEA, 0 = KS).

    Returns
    -------
    positions
        0-based positions of the set's genes in the sorted ranking (increasing).
    res
        Running sum at every position (length = number of ranked genes). The
        enrichment score is ``res[np.argmax(np.abs(res))]``.
    """
    series = sort_ranking(ranking.astype(float))
    members = set(map(str, genes))
    hit = np.fromiter((g in members for g in series.index.astype(str)), dtype=bool, count=len(series))
    n, k = len(series), int(hit.sum())
    if k == 0:
        raise GeneSetError("none of the set's genes are in the ranking; check gene identifiers.")
    if k == n:
        raise GeneSetError("the set contains every ranked gene; its running sum is undefined.")
    w = np.abs(series.to_numpy()) ** weight
    w_hit = np.where(hit, w, 0.0)
    norm = w_hit.sum()
    if norm == 0:  # all hits have statistic 0: fall back to unweighted steps
        w_hit = hit.astype(float)
        norm = float(k)
    step = np.where(hit, w_hit / norm, -1.0 / (n - k))
    res = np.cumsum(step)
    return np.flatnonzero(hit), res


# --------------------------------------------------------------------------------------
# GSEA prerank
# --------------------------------------------------------------------------------------


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def gsea_prerank(
    ranking: pd.Series | pd.DataFrame,
    gene_sets: Any = "magnesium",
    *,
    permutations: int = 1000,
    seed: int = 0,
    min_size: int = 1,
    max_size: int | None = None,
    weight: float = 1.0,
    threads: int | None = None,
    key: str | None = None,
) -> pd.DataFrame:
    """GSEA prerank (gseapy 1.3) of gene sets on a ranked gene list.

    Parameters
    ----------
    ranking
        Gene -> statistic (``pd.Series``), or a DE table with a ``gene`` column (or gene
        index) and a statistic column (``stat`` by default, see ``key``). Genes with a NaN
        statistic are dropped with a warning; a gene present several times keeps the entry
        with the largest ``|stat|`` (warning). Infinite values raise :class:`InputDataError`.
        Ties are ordered by input order (deterministic).
    gene_sets
        Any spec accepted by :func:`mgtranscript.genesets.load` (``"magnesium"``,
        ``"hallmark"``, a dict, a GMT path, ...). Sets are restricted to ranked genes
        (aliases resolved); the coverage table is in ``result.attrs["coverage"]`` (records).
    permutations
        Gene-set permutations for the nominal p-value / FDR.
    seed
        Random seed (results are reproducible for a given seed, whatever ``threads``).
    min_size, max_size
        Keep sets whose matched size lies in this range. Defaults keep every set with at
        least one ranked gene (gseapy's own default ``min_size=15`` is overridden).
    weight
        GSEA weight ``p`` (1 = classic).
    threads
        Threads used by gseapy (default ``None``: all CPUs available to this process).
    key
        Statistic column when ``ranking`` is a DataFrame (default ``"stat"``).

    Returns
    -------
    pandas.DataFrame
        One row per set, sorted by p-value: ``set, size, n_genes, es, nes, pval, fdr``
        (gseapy's FDR q), ``fwer, qval`` (Benjamini-Hochberg over the returned rows),
        ``leading_edge`` (";"-joined), ``n_leading_edge``, ``hits`` (";"-joined 0-based
        positions in the sorted ranking). A permutation ``pval``/``fdr`` of 0 means
        "below 1/permutations" (gseapy's convention). ``attrs`` holds ``n_ranked``, ``permutations``,
        ``seed``, ``weight`` and ``coverage``. Use :func:`running_sum` (or
        :func:`mgtranscript.pl.gsea`) to redraw a set's running sum.
    """
    import gseapy  # noqa: PLC0415 - heavy import

    if permutations < 1:
        raise InputDataError("permutations must be >= 1 (1000 is the usual choice).")
    series = sort_ranking(clean_ranking(ranking, key))
    genes = series.index.to_list()
    sets = _load_sets(gene_sets)
    idx, coverage = _match(sets, genes, min_size=min_size, max_size=max_size)
    n = len(genes)
    full = [name for name, ix in idx.items() if len(ix) >= n]
    if full:
        logger.warning("dropping %s: the set contains every ranked gene", full)
    idx = {name: ix for name, ix in idx.items() if len(ix) < n}
    if not idx:
        raise GeneSetError(
            "no gene set can be tested: every set is empty or covers the whole ranking; "
            "rank all measured genes, not only the set members."
        )

    # gseapy sees surrogate ids G0..Gn-1 (all upper case, so it never case-folds) and
    # keeps our order (ascending=None): our ties rule and running_sum stay identical.
    surrogate = pd.Series(series.to_numpy(), index=[f"G{i}" for i in range(n)], name="stat")
    gs_dict = {name: [f"G{i}" for i in ix] for name, ix in idx.items()}
    logger.info("GSEA prerank: %d genes, %d sets, %d permutations", n, len(gs_dict), permutations)
    pre = gseapy.prerank(
        rnk=surrogate,
        gene_sets=gs_dict,
        permutation_num=int(permutations),
        min_size=1,
        max_size=n,
        weight=float(weight),
        ascending=None,
        seed=int(seed),
        outdir=None,
        threads=int(threads) if threads else _cpus(),
        no_plot=True,
        verbose=False,
    )
    rows = []
    for name, ix in idx.items():
        res = pre.results.get(name)
        if res is None:  # pragma: no cover - gseapy dropped it
            logger.warning("gseapy returned no result for %s", name)
            continue
        lead = [genes[int(g[1:])] for g in str(res.get("lead_genes", "")).split(";") if g]
        rows.append(
            {
                "set": name,
                "size": len(ix),
                "n_genes": int(coverage.loc[name, "n_genes"]) if name in coverage.index else len(ix),
                "es": float(res["es"]),
                "nes": float(res["nes"]),
                "pval": float(res["pval"]),
                "fdr": float(res["fdr"]),
                "fwer": float(res["fwerp"]),
                "leading_edge": ";".join(lead),
                "n_leading_edge": len(lead),
                "hits": ";".join(str(int(h)) for h in res["hits"]),
            }
        )
    out = pd.DataFrame(rows)
    out["qval"] = bh_adjust(out["pval"].to_numpy())
    out = out.sort_values(["pval", "nes"], ascending=[True, False], kind="stable").reset_index(drop=True)
    cols = ["set", "size", "n_genes", "es", "nes", "pval", "fdr", "fwer", "qval",
            "leading_edge", "n_leading_edge", "hits"]
    out = out[cols]
    out.attrs.update(
        {
            "method": "gsea_prerank",
            "n_ranked": n,
            "permutations": int(permutations),
            "seed": int(seed),
            "weight": float(weight),
            "coverage": coverage.reset_index().to_dict("records"),
        }
    )
    return out


# --------------------------------------------------------------------------------------
# ORA
# --------------------------------------------------------------------------------------


def _as_gene_list(obj: Any, what: str) -> list[str]:
    if obj is None:
        raise InputDataError(f"{what} is required.")
    if hasattr(obj, "var_names") and hasattr(obj, "obs_names"):  # AnnData
        obj = obj.var_names
    if isinstance(obj, str):
        raise InputDataError(f"{what} must be a collection of gene names, not one string {obj!r}.")
    vals = [str(g) for g in obj if g is not None and not (isinstance(g, float) and np.isnan(g))]
    return list(dict.fromkeys(vals))


def ora(
    genes: Iterable[str],
    gene_sets: Any = "magnesium",
    *,
    universe: Iterable[str],
    min_size: int = 1,
    max_size: int | None = None,
) -> pd.DataFrame:
    """Over-representation analysis (one-sided hypergeometric test).

    Parameters
    ----------
    genes
        The gene list of interest (e.g. DE genes with q < 0.05). Genes outside the
        universe are ignored (warning).
    gene_sets
        Any spec accepted by :func:`mgtranscript.genesets.load`.
    universe
        REQUIRED background: the genes measured in the cohort (a list, an Index or an
        AnnData whose ``var_names`` are used). A fixed 20,000-gene background inflates
        significance for sets that are poorly measured.
    min_size, max_size
        Keep sets whose size *within the universe* lies in this range.

    Returns
    -------
    pandas.DataFrame
        One row per set, sorted by p-value: ``set, set_size_in_universe, overlap,
        expected, odds_ratio`` (sample odds ratio of the 2x2 table, as
        :func:`scipy.stats.fisher_exact`), ``pval`` (``hypergeom.sf(overlap - 1, N, K, n)``,
        equal to a one-sided Fisher exact test), ``qval`` (BH), ``genes`` (overlap,
        ";"-joined). ``attrs``: ``universe_size``, ``n_query`` (in universe),
        ``n_query_outside_universe``, ``universe`` (description).
    """
    uni = _as_gene_list(universe, "universe")
    if len(uni) < 2:
        raise InputDataError("universe must list the measured genes of the cohort (at least 2).")
    query = _as_gene_list(genes, "genes")
    uni_set = set(uni)
    inside = [g for g in query if g in uni_set]
    outside = len(query) - len(inside)
    if outside:
        logger.warning("%d of %d query genes are not in the universe and are ignored", outside, len(query))
    if not inside:
        raise InputDataError(
            f"none of the {len(query)} query genes is in the universe (query starts {query[:3]}, "
            f"universe starts {uni[:3]}); use the same gene identifiers for both."
        )
    sets = _load_sets(gene_sets)
    idx, coverage = _match(sets, uni, min_size=min_size, max_size=max_size)
    N, n = len(uni), len(inside)
    qpos = np.zeros(N, dtype=bool)
    pos = {g: i for i, g in enumerate(uni)}
    qpos[[pos[g] for g in inside]] = True
    rows = []
    for name, ix in idx.items():
        K = len(ix)
        hit_ix = ix[qpos[ix]]
        k = len(hit_ix)
        a, b, c = k, n - k, K - k
        d = N - K - n + k
        odds = (a * d) / (b * c) if b * c > 0 else (np.inf if a * d > 0 else np.nan)
        rows.append(
            {
                "set": name,
                "set_size_in_universe": K,
                "overlap": k,
                "expected": n * K / N,
                "odds_ratio": float(odds),
                "pval": float(stats.hypergeom.sf(k - 1, N, K, n)),
                "genes": ";".join(uni[i] for i in hit_ix),
            }
        )
    out = pd.DataFrame(rows)
    out["qval"] = bh_adjust(out["pval"].to_numpy())
    out = out.sort_values("pval", kind="stable").reset_index(drop=True)
    out = out[["set", "set_size_in_universe", "overlap", "expected", "odds_ratio", "pval", "qval", "genes"]]
    out.attrs.update(
        {
            "method": "ora_hypergeometric",
            "universe_size": N,
            "universe": f"{N} genes supplied as the universe (the cohort's measured genes)",
            "n_query": n,
            "n_query_outside_universe": outside,
            "coverage": coverage.reset_index().to_dict("records"),
        }
    )
    return out
