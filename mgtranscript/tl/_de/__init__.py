"""Differential expression: limma-voom / limma-trend (``_core``), ``lmFit`` / ``eBayes``
(``_limma``) and ``fitFDist`` (``_fdist``), ported from R limma 3.54."""

from ._core import de

__all__ = ["de"]
