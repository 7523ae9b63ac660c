"""Real mirror cohorts loaded once per test session (shared by test_correlate,
test_composition and test_design). Tests must work on ``.copy()`` of what they get."""

from __future__ import annotations

import warnings

from mgtranscript import settings

_CACHE: dict[str, object] = {}


def load(accession: str, mirror_server, session_cache, shared_dir):
    """``mgtranscript.datasets.load_cohort(accession)`` from the mirror served over HTTP."""
    if accession not in _CACHE:
        import mgtranscript as mg

        with settings.override(mirror=mirror_server.url, cache_dir=session_cache, offline=False), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if accession == "GSE77314":  # labels and pairs come from the SRA sample sheet
                sheet = shared_dir / "samples" / "GSE77314_SraRunTable.csv"
                adata = mg.datasets.load_cohort(accession, samples=sheet)
            else:
                adata = mg.datasets.load_cohort(accession)
        _CACHE[accession] = adata
    return _CACHE[accession].copy()
