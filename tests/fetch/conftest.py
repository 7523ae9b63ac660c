"""Fixtures for the download-layer tests (tests/fetch/)."""

from __future__ import annotations

import csv

import pytest

from mgtranscript.fetch import _http as http


@pytest.fixture(scope="session")
def manifest(mirror_dir) -> dict[str, dict]:
    """MANIFEST.tsv of the mirror: path -> row (sha256, bytes, original_url, what)."""
    with open(mirror_dir / "MANIFEST.tsv", newline="") as fh:
        return {row["path"]: row for row in csv.DictReader(fh, delimiter="\t")}


@pytest.fixture(autouse=True)
def _fresh_ncbi_limiter(monkeypatch):
    """Each test starts with an idle NCBI rate limiter."""
    monkeypatch.setattr(http, "_ncbi_limiter", None)
