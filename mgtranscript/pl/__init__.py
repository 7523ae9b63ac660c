"""Plots (matplotlib; safe under the Agg backend), ready to paste into a paper.

Every function returns the :class:`matplotlib.figure.Figure`; with ``save="dir/stem"`` it
also writes ``dir/stem.png`` (and ``dir/stem.svg`` with ``svg=True``). Titles and axis
labels are in words with units; each group has ONE colour in every figure
(:data:`GROUP_COLOURS`); legends sit outside the data.

Functions taking samples accept an AnnData (scores in ``obsm``, labels in ``obs``) or a
per-sample DataFrame (label columns + numeric feature columns, as
``AnalysisResult.features[accession]``).

:func:`scores`         scores per group: box/violin with points, pairs joined.
:func:`heatmap`        Mg genes across groups (group means of z-scored expression).
:func:`volcano`        DE table: effect vs -log10 p, highlighted genes labelled without overlap.
:func:`gsea`           GSEA running-sum (enrichment) plot.
:func:`forest`         per-cohort effects and pooled estimate, faceted by disease group.
:func:`effect_forest`  one question's estimates (a row per cohort/test) and pooled diamonds.
:func:`scatter`        one score against another, coloured by group, with within-group fits.
:func:`trend`          features across ordered stages.
:func:`km`             Kaplan-Meier curves with numbers at risk.
:func:`contrast_heatmap`    Mg genes and scores x every contrast of every cohort (a run's tables).
:func:`enrichment_dotplot`  GSEA of Mg and mechanism sets across those contrasts (NES colour, q size).

The two overview plots follow scanpy's convention (``show=``, ``save=``, the Axes returned).
"""

from __future__ import annotations

from mgtranscript.pl._de import volcano
from mgtranscript.pl._enrich import gsea
from mgtranscript.pl._heatmap import heatmap
from mgtranscript.pl._meta import effect_forest, forest
from mgtranscript.pl._overview import contrast_heatmap, enrichment_dotplot
from mgtranscript.pl._scatter import scatter
from mgtranscript.pl._scores import scores
from mgtranscript._words import GROUP_COLOURS, feature_label, group_colour, group_label, set_label
from mgtranscript.pl._survival import km, survival
from mgtranscript.pl._trend import trend
from mgtranscript.pl._utils import savefig

__all__ = ["scores", "heatmap", "volcano", "gsea", "forest", "effect_forest", "scatter", "trend", "km", "survival",
           "contrast_heatmap", "enrichment_dotplot", "savefig", "GROUP_COLOURS", "group_colour", "group_label", "set_label", "feature_label"]
