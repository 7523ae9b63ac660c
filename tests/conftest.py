"""Shared fixtures: the offline mirror served over HTTP on 127.0.0.1, a fresh cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mirror_server import MirrorServer

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MGTRANSCRIPT_SHARED", REPO.parent / "shared")).resolve()
MIRROR = SHARED / "mirror"


def pytest_configure(config):
    os.environ.setdefault("MGTRANSCRIPT_PROGRESS", "0")
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _forget_unreachable_hosts():
    """Hosts found unreachable by one test (e.g. a stopped server's port) are not so for the next."""
    from mgtranscript.fetch import _http as http

    http.forget_unreachable()
    yield
    http.forget_unreachable()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not MIRROR.is_dir():
        pytest.skip(f"../shared/mirror not found at {MIRROR}; set MGTRANSCRIPT_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def mirror_dir(shared_dir) -> Path:
    return shared_dir / "mirror"


@pytest.fixture(scope="session")
def mirror_server(mirror_dir):
    """The real mirror over HTTP (session-wide; no faults: use ``fault_server`` for those)."""
    server = MirrorServer(mirror_dir).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """One cache shared by tests that only read real cohorts (downloaded once per run)."""
    return tmp_path_factory.mktemp("mgcache")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty cache directory for this test."""
    d = tmp_path / "cache"
    monkeypatch.setenv("MGTRANSCRIPT_CACHE", str(d))
    monkeypatch.delenv("MGTRANSCRIPT_OFFLINE", raising=False)
    return d


@pytest.fixture
def mirror_env(mirror_server, session_cache, monkeypatch) -> MirrorServer:
    """Point mgtranscript at the mirror served over HTTP, with the session-wide cache."""
    monkeypatch.setenv("MGTRANSCRIPT_MIRROR", mirror_server.url)
    monkeypatch.setenv("MGTRANSCRIPT_CACHE", str(session_cache))
    monkeypatch.delenv("MGTRANSCRIPT_OFFLINE", raising=False)
    return mirror_server


@pytest.fixture
def fault_server(mirror_dir, cache, monkeypatch):
    """A private mirror server whose ``faults`` a test may set; fresh cache; fast retries."""
    server = MirrorServer(mirror_dir).start()
    monkeypatch.setenv("MGTRANSCRIPT_MIRROR", server.url)
    monkeypatch.setenv("MGTRANSCRIPT_BACKOFF", "0.01")
    yield server
    server.stop()


@pytest.fixture
def gdc_server(cache, monkeypatch):
    """A fake GDC API with real response shapes (tests/gdc_server.py) and a synthetic
    TCGA-LIHC: ``MGTRANSCRIPT_GDC_URL`` points at it, fresh cache, fast retries."""
    from gdc_server import GDCServer

    server = GDCServer().start()
    monkeypatch.setenv("MGTRANSCRIPT_GDC_URL", server.url)
    monkeypatch.setenv("MGTRANSCRIPT_BACKOFF", "0.01")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _pbmc():
    """scanpy's bundled pbmc68k_reduced (ships with scanpy, no download), loaded once."""
    import scanpy as sc

    return sc.datasets.pbmc68k_reduced()


@pytest.fixture
def pbmc(_pbmc):
    """A private copy of pbmc68k_reduced per test (tests write scores into it)."""
    return _pbmc.copy()
