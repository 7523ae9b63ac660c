"""Where the files bundled with mgtranscript live.

The repository keeps the curated gene sets and the claims table at its top level
(``gene_sets/``, ``seeds/``); the build ships them inside the wheel as the resource
packages ``mgtranscript.gene_sets`` and ``mgtranscript.seeds`` (see ``pyproject.toml``).
:func:`resource_dir` finds them in either layout: a source checkout (editable install,
the test suite) or an installed wheel, located through :mod:`importlib`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["resource_dir"]

_HERE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path | None:
    """The folder of the bundled resource ``name`` (``"gene_sets"`` or ``"seeds"``), or None.

    A source checkout (``pyproject.toml`` beside the package) wins, so that an editable
    install and the tests read the files being edited; otherwise the resource package
    installed with the wheel.
    """
    checkout = _HERE.parent / name
    if (_HERE.parent / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    try:
        spec = importlib.util.find_spec(f"{__package__}.{name}")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            if Path(loc).is_dir():
                return Path(loc)
    return None
