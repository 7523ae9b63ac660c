"""mgtranscript: magnesium-homeostasis transcriptomics in liver disease.

Modules follow scanpy's grouping:

``datasets``  fetch public liver cohorts (GEO, NCBI counts, GDC) into AnnData
``pp``        preprocessing (normalisation, gene-id harmonisation)
``tl``        tools: gene-set scoring, comparisons, DE, enrichment, meta-analysis
``pl``        plots
``get``       tidy tables out of AnnData
``genesets``  the curated Mg gene sets, GMT/MSigDB loading, alias resolution
``fetch``     the download layer (cache, mirror, retries)

``settings`` holds the options that are not arguments (cache, mirror, offline, progress, ...):
``mg.settings.offline = True`` or ``with mg.settings.override(offline=True): ...``.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib

from ._settings import settings

_SUBMODULES = {"datasets", "pp", "tl", "pl", "get", "genesets", "fetch", "errors", "claims", "report", "pipeline"}


def __getattr__(name: str):
    # Lazy submodule import keeps `import mgtranscript` fast (scanpy is heavy).
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'mgtranscript' has no attribute {name!r}")


__all__ = sorted(_SUBMODULES) + ["__version__", "settings"]
