"""Shared fixtures: the offline mirror served over HTTP on 127.0.0.1, a fresh cache.

Every test runs isolated from the developer's shell and cache (``_isolated_settings``):
``mgtranscript.settings`` start from the built-in defaults with a temporary cache, offline,
no progress bars and no mirror, whatever ``MGTRANSCRIPT_*`` variables are set. Fixtures and
tests change them with ``settings.override`` or by assignment (``settings.offline = False``;
every setting is restored after each test), never through the environment; a test that starts
a ``mgtranscript`` subprocess hands it its settings as environment variables
(``settings.to_environ()``), which the child reads once.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from mgtranscript._settings import Settings, settings
from mirror_server import MirrorServer

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MGTRANSCRIPT_SHARED", REPO.parent / "shared")).resolve()
MIRROR = SHARED / "mirror"


def pytest_configure(config):
    os.environ.setdefault("MGTRANSCRIPT_PROGRESS", "0")
    os.environ.setdefault("MPLBACKEND", "Agg")


_CACHE_NUMBERS = itertools.count()


def _isolated(tmp_path_factory) -> dict:
    """Built-in default settings, a new temporary cache (created only when used), offline, no
    progress, no mirror: nothing from the developer's environment or default cache."""
    cache = tmp_path_factory.getbasetemp() / "isolated-caches" / f"c{next(_CACHE_NUMBERS)}"
    return dict(Settings().to_dict(), cache_dir=cache, offline=True, progress=False, mirror=None)


@pytest.fixture(scope="session", autouse=True)
def _isolated_session_settings(tmp_path_factory):
    """Isolated settings under the session- and module-scoped fixtures too (set up before them)."""
    with settings.override(**_isolated(tmp_path_factory)):
        yield settings


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, _isolated_session_settings):
    """Every test starts isolated (see the module docstring), with its own temporary cache."""
    with settings.override(**_isolated(tmp_path_factory)):
        yield settings


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
def cache(tmp_path) -> Path:
    """A fresh, empty cache directory for this test (``settings.cache_dir``; online)."""
    d = tmp_path / "cache"
    with settings.override(cache_dir=d, offline=False):
        yield d


@pytest.fixture
def mirror_env(mirror_server, session_cache) -> MirrorServer:
    """Point mgtranscript at the mirror served over HTTP, with the session-wide cache."""
    with settings.override(mirror=mirror_server.url, cache_dir=session_cache, offline=False):
        yield mirror_server


@pytest.fixture
def fault_server(mirror_dir, cache):
    """A private mirror server whose ``faults`` a test may set; fresh cache; fast retries."""
    server = MirrorServer(mirror_dir).start()
    try:
        with settings.override(mirror=server.url, backoff=0.01):
            yield server
    finally:
        server.stop()


@pytest.fixture
def gdc_server(cache):
    """A fake GDC API with real response shapes (tests/gdc_server.py) and a synthetic
    TCGA-LIHC: ``settings.gdc_url`` points at it, fresh cache, fast retries."""
    from gdc_server import GDCServer

    server = GDCServer().start()
    try:
        with settings.override(gdc_url=server.url, backoff=0.01):
            yield server
    finally:
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
