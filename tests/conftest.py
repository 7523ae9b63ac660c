"""Shared fixtures: the offline mirror served over HTTP on 127.0.0.1, a fresh cache, and the real
runs of the analysis on the mirror (made once per session) that the tests reading a real run share.

Every test runs isolated from the developer's shell and cache (``_isolated_settings``):
``mgtranscript.settings`` start from the built-in defaults with a temporary cache, offline,
no progress bars and no mirror, whatever ``MGTRANSCRIPT_*`` variables are set. Fixtures and
tests change them with ``settings.override`` or by assignment (``settings.offline = False``;
every setting is restored after each test), never through the environment; a test that starts
a ``mgtranscript`` subprocess hands it its settings as environment variables
(``settings.to_environ()``), which the child reads once.

The session's expensive things are made once: the mirror's cohorts are downloaded into one
session cache (``session_cache``); ``tour_run`` runs the README tour's own
:func:`mgtranscript.pipeline.run_analysis` call on the mirror (figures and report drawn), so that
the tour's run finds every cohort's result and every figure in the session cache;
``real_run`` then runs the analysis over more cohorts (a metadata-only one, an unavailable one and
TCGA-LIHC from a fake GDC) for the tables, taking the tour's cohorts from the result cache; and
``drawn_report`` (tests/report/conftest.py) draws the synthetic report's figures once. Helpers are
in the ``support`` package (tests/support/).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mgtranscript._settings import Settings, settings

from support.mirror_server import MirrorServer
from support.paths import MIRROR, REPO, SHARED


def pytest_configure(config):
    os.environ.setdefault("MGTRANSCRIPT_PROGRESS", "0")
    os.environ.setdefault("MPLBACKEND", "Agg")


#: Costly session fixtures, made once per session, and the group of the tests using them: with
#: pytest-xdist (``-n auto --dist loadgroup`` in pyproject.toml) a group runs in one worker, so the
#: fixture is still made once. A test using one of them is ``slow`` (not in the inner loop).
SHARED_FIXTURES = {"real_run": "real_run", "tour_run": "real_run", "drawn_report": "drawn_report"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Tests using a costly session fixture (``SHARED_FIXTURES``) share an ``xdist_group`` and are slow."""
    for item in items:
        for fixture, group in SHARED_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
                item.add_marker(pytest.mark.slow)
                break


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
    """A fake GDC API with real response shapes (tests/support/gdc_server.py) and a synthetic
    TCGA-LIHC: ``settings.gdc_url`` points at it, fresh cache, fast retries."""
    from support.gdc_server import GDCServer

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


# --------------------------------------------------------------------------------------
# The real runs on the mirror (the README tour's, then one over more cohorts), made once per session
# --------------------------------------------------------------------------------------

#: The README tour's run ("A short tour of the API": ``run_analysis("out", cohorts=TOUR_COHORTS,
#: samples={"GSE77314": sheet})``, its default parameters), made once by ``tour_run``: the tour's own run
#: then takes every cohort's result and every figure from the session cache (the tour test asserts both).
TOUR_COHORTS = ("GSE126848", "GSE167523", "GSE77314")
#: The cohorts of the session's real run: the README tour's three analysed cohorts, one with
#: metadata only, one unavailable, and TCGA-LIHC from a fake GDC (synthetic, real response shapes).
REAL_RUN_COHORTS = (*TOUR_COHORTS, "GSE135251", "GSE142530", "TCGA-LIHC")
#: The README tour's run_analysis parameters (its defaults): the real run takes the tour's cohorts'
#: results from the tour run (same inputs, parameters and code).
REAL_RUN_PARAMETERS = {"method": "ssgsea", "permutations": 1000, "seed": 0}


@dataclass
class RealRun:
    """What a session run left: its output folder, the result, the fake GDC it asked (if any)."""

    out: Path
    result: Any
    gdc: Any = None  # support.gdc_server.GDCServer (stopped; its request log is kept)


def _real_settings(mirror_server, session_cache, shared_dir, **more):
    return settings.override(mirror=mirror_server.url, cache_dir=session_cache, offline=False,
                             samples_dir=shared_dir / "samples", backoff=0.01, progress=False, **more)


@pytest.fixture(scope="session")
def tour_run(tmp_path_factory, mirror_server, session_cache, shared_dir) -> RealRun:
    """The README tour's ``run_analysis`` on the mirror (served over HTTP), once per session, into the
    session cache: ``TOUR_COHORTS``, GSE77314 with its sample sheet, the default parameters, figures
    and report drawn. The output folder already holds an earlier run's files, a stale figure among
    them: the run replaces the folder as a whole. Tests only read what it wrote."""
    from mgtranscript.pipeline import find_sample_sheet, run_analysis, transactional_output

    out = tmp_path_factory.mktemp("tour_run") / "out"
    with transactional_output(out) as work:
        (work / "figures").mkdir()
        (work / "figures" / "stale_from_an_earlier_run.png").write_bytes(b"\x89PNG old")
    with _real_settings(mirror_server, session_cache, shared_dir):
        result = run_analysis(out, cohorts=list(TOUR_COHORTS), samples={"GSE77314": find_sample_sheet("GSE77314")})
    return RealRun(out=out, result=result)


@pytest.fixture(scope="session")
def real_run(tour_run, tmp_path_factory, mirror_server, session_cache, shared_dir) -> RealRun:
    """``run_analysis`` over ``REAL_RUN_COHORTS`` on the mirror, once per session, for its tables (no
    figures, no report: the tour run has them): the tour's cohorts from the result cache, the sample
    sheets of ``<shared>/samples``, TCGA-LIHC from a strict fake GDC (a field it does not know is an
    HTTP 400). Tests only read what it wrote (copy before changing anything)."""
    from support.gdc_server import GDCServer

    from mgtranscript.pipeline import run_analysis

    gdc = GDCServer(strict_fields=True).start()
    out = tmp_path_factory.mktemp("real_run") / "out"
    try:
        with _real_settings(mirror_server, session_cache, shared_dir, gdc_url=gdc.url):
            result = run_analysis(out, cohorts=list(REAL_RUN_COHORTS), plots=False, report=False,
                                  **REAL_RUN_PARAMETERS)
    finally:
        gdc.stop()
    return RealRun(out=out, result=result, gdc=gdc)
