"""Where things are, independent of where a test file sits in ``tests/``."""

from __future__ import annotations

import os
from pathlib import Path

#: The repository (its ``README.md``, ``notebooks/``, ``gene_sets/``, ``pyproject.toml``).
REPO = Path(__file__).resolve().parents[2]
#: The test suite's root folder.
TESTS = REPO / "tests"
#: Committed reference outputs (R scripts in ``tests/r/`` write them): ``DATA / "limma"``, ...
DATA = TESTS / "data"
#: The shared folder holding the offline mirror (``MGTRANSCRIPT_SHARED``, default ``../shared``).
SHARED = Path(os.environ.get("MGTRANSCRIPT_SHARED", REPO.parent / "shared")).resolve()
#: The offline mirror of real public files.
MIRROR = SHARED / "mirror"
