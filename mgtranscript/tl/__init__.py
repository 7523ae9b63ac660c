"""Tools: gene-set scoring, comparisons, differential expression, enrichment, meta-analysis.

Every tool that takes an AnnData stores its results in it, scanpy style, and returns ``None``
(or the modified copy with ``copy=True``): scores in ``obsm[key_added]`` / ``obs``, and
``uns[key_added] = {"params": {...}, <table name>: DataFrame, ...}`` -- the parameters (with
``params["function"]``, the tool that wrote them) and named tables. :mod:`mgtranscript.get`
reads them back: ``tl.compare(adata)`` then ``get.compare(adata)``. Tools on tables, rankings
or gene lists (:func:`meta_analysis`, :func:`pool`, :func:`gsea_prerank`, :func:`ora`,
:func:`running_sum`) return their results.

The names below are the whole public surface. The modules behind them are private and grouped
by concern: ``_score`` (one module per scoring method), ``_de`` (limma-voom), ``_enrich`` (GSEA,
ORA, the running sum), ``_statistics`` (comparisons, trends, correlations, coupling,
meta-analysis, survival) and ``_design`` (the design audit).

Scoring
-------
:func:`score`
    One entry point for every scoring method (``"ssgsea"``, ``"gsva"``, ``"zscore"``,
    ``"plage"``, ``"singscore"``, ``"mean"``); results go to ``adata.obsm[key_added]``.
    :func:`score_methods` lists each method's options (with defaults and descriptions).
:func:`mg_balance`
    Signed magnesium influx-minus-efflux balance per sample, to ``adata.obs``.
:func:`score_cells`, :func:`pseudobulk`
    Single-cell scoring helpers.

Statistics and enrichment
-------------------------
:func:`compare`, :func:`trend`, :func:`de`, :func:`meta_analysis` (:func:`pool` for one block of
estimates), :func:`gsea_prerank`, :func:`running_sum`, :func:`ora`, :func:`coupling`,
:func:`survival`. The mechanisms' gene sets: :func:`mgtranscript.genesets.mechanism_sets`.

Evidence a reviewer asks for
----------------------------
:func:`correlate`
    Correlation pooled, within groups (Fisher-z combined or residualised) or within
    pairs (repeated-measures), optionally partial on covariates.
:func:`correlate_cells`
    Per-cell data: correlation inside each cell type and donor, combined with donors as the
    unit (cells of one donor are not independent samples).
:func:`composition`
    Relative liver cell-type marker scores per sample (covariates, not proportions).
:func:`marker_coherence`
    How well each marker of a set tracks the rest of its set, within strata.
:func:`design_check`
    Is a contrast confounded with library size, TMM factor, sex, age or the sample
    series? One row per check, with plain-words caveats; pair checks for paired designs.
"""

from ._de import de
from ._design import (
    AGE_COLUMN,
    DESIGN_COLUMNS,
    PAIR_COLUMNS,
    RISK_CHECKS,
    SAMPLE_COLUMNS,
    Y_GENES,
    covariates_to_adjust,
    design_check,
    infer_sex,
    mark_adjusted,
)
from ._enrich import gsea_prerank, ora, running_sum
from ._score import (
    COHERENCE_COLUMNS,
    METHODS,
    composition,
    marker_coherence,
    method_options,
    mg_balance,
    pseudobulk,
    score,
    score_cells,
    score_methods,
)
from ._statistics import (
    ADJUSTED_COLUMNS,
    COMPARE_COLUMNS,
    CORRELATE_COLUMNS,
    COUPLING_COLUMNS,
    DONORS_UNKNOWN,
    META_COLUMNS,
    TREND_COLUMNS,
    compare,
    correlate,
    correlate_cells,
    coupling,
    donor_column,
    meta_analysis,
    pool,
    survival,
    trend,
)

__all__ = [
    # scoring
    "score", "mg_balance", "METHODS", "method_options", "score_methods", "score_cells", "pseudobulk", "composition",
    "marker_coherence",
    # statistics
    "compare", "trend", "correlate", "correlate_cells", "coupling", "meta_analysis", "pool",
    "survival", "donor_column",
    # differential expression and enrichment
    "de", "gsea_prerank", "ora", "running_sum",
    # the design audit
    "design_check", "infer_sex", "covariates_to_adjust", "mark_adjusted",
    # table columns and constants
    "COMPARE_COLUMNS", "ADJUSTED_COLUMNS", "TREND_COLUMNS", "CORRELATE_COLUMNS", "COUPLING_COLUMNS",
    "META_COLUMNS", "COHERENCE_COLUMNS", "DESIGN_COLUMNS", "SAMPLE_COLUMNS", "PAIR_COLUMNS", "RISK_CHECKS",
    "Y_GENES", "AGE_COLUMN", "DONORS_UNKNOWN",
]
