"""Helpers of the test suite, in one package (imported as ``support.<module>``; ``tests/`` is on
``sys.path`` through ``pythonpath`` in pyproject.toml's pytest settings).

Fixtures live in the ``conftest.py`` files; this package holds what they and the tests build on:

* :mod:`support.paths` - the repository, ``tests/data`` (R reference outputs) and ``../shared``.
* :mod:`support.mirror_server` - the offline mirror served over HTTP, with injectable faults.
* :mod:`support.gdc_server`, :mod:`support.gdc_project` - a fake GDC API serving a synthetic TCGA-LIHC.
* :mod:`support.synthetic_geo` - synthetic GEO series files for loader tests.
* :mod:`support.fetch_helpers` - URLs of mirror files, a stalling server, cache checks.
* :mod:`support.real_cohorts` - real mirror cohorts loaded once per session.
* :mod:`support.report_fixture` - a realistic synthetic ``AnalysisResult`` for report tests.
* :mod:`support.report_browser`, :mod:`support.report_lint` - the report in headless Chromium;
  HTML table checks.
* :mod:`support.report_real` - a tool to render a real run's report for looking at it.
* :mod:`support.claims_readback` - read the verdict sentences back against their evidence.
* :mod:`support.writer_recipes` - one call of every ``tl`` writer (storage-contract tests).
"""
