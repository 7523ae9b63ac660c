"""Plots (matplotlib; safe under the Agg backend).

Every function returns the :class:`matplotlib.figure.Figure`; with ``save="dir/stem"`` it
also writes ``dir/stem.png`` and ``dir/stem.svg`` (figure size x ``dpi``, no tight
cropping, so the PNG size is predictable).

:func:`scores`   Mg (or any) scores per group: box/violin with points, optional pair lines.
:func:`heatmap`  Mg genes across conditions (group means of z-scored expression).
:func:`volcano`  DE table: effect vs -log10 p, highlighted genes labelled.
:func:`gsea`     GSEA running-sum (enrichment) plot.
:func:`forest`   Per-cohort effects and pooled estimate, faceted by disease group.
:func:`scatter`  One score against another (e.g. Mg vs a mechanism) with Spearman rho.
"""

from __future__ import annotations

from mgtranscript.pl._basic import heatmap, scatter, scores
from mgtranscript.pl._de import volcano
from mgtranscript.pl._enrich import gsea
from mgtranscript.pl._meta import forest
from mgtranscript.pl._survival import survival
from mgtranscript.pl._utils import savefig

__all__ = ["scores", "heatmap", "volcano", "gsea", "forest", "scatter", "survival", "savefig"]
