"""Real mirror cohorts loaded once per test session (shared by test_correlate,
test_composition and test_design). Tests must work on ``.copy()`` of what they get."""

from __future__ import annotations

import warnings

import pytest

_CACHE: dict[str, object] = {}


def load(accession: str, mirror_server, session_cache, shared_dir):
    """``mgtranscript.datasets.load_cohort(accession)`` from the mirror served over HTTP."""
    if accession not in _CACHE:
        import mgtranscript as mg

        mp = pytest.MonkeyPatch()
        mp.setenv("MGTRANSCRIPT_MIRROR", mirror_server.url)
        mp.setenv("MGTRANSCRIPT_CACHE", str(session_cache))
        mp.delenv("MGTRANSCRIPT_OFFLINE", raising=False)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                if accession == "GSE77314":  # labels and pairs come from the SRA sample sheet
                    sheet = shared_dir / "samples" / "GSE77314_SraRunTable.csv"
                    adata = mg.datasets.load_cohort(accession, samples=sheet)
                else:
                    adata = mg.datasets.load_cohort(accession)
        finally:
            mp.undo()
        _CACHE[accession] = adata
    return _CACHE[accession].copy()
