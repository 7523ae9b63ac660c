"""One entry point for every gene-set spec: :func:`load` and :func:`combine`."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import GeneSetError
from ._sets import GeneSets
from ._bundled import CELLTYPE_SPEC, DEFAULT_SET, _load_bundled, _load_liver_celltypes, bundled_names
from ._formats import _check_file, _read_file
from ._msigdb import MSIGDB_COLLECTIONS, msigdb

__all__ = ["load", "combine"]


def load(spec: Any = "magnesium", *, version: str | None = None) -> GeneSets:
    """Load gene sets from a name, a file, a dict, a long table or a :class:`GeneSets`.

    Parameters
    ----------
    spec
        Default ``"magnesium"``: the bundled Mg sub-sets. See the module docstring:
        ``"magnesium"``, ``"magnesium:all"``,
        ``"magnesium:MG_LIVER_CORE,..."``, an MSigDB name (optionally
        ``"name:SET1,SET2"``), a ``.gmt``/``.gmx`` path, ``{name: genes}``, a
        DataFrame with columns ``set`` and ``gene``, or a :class:`GeneSets`.
    version
        For MSigDB: the release (default per collection); for the bundled sets: must
        equal :func:`bundled_version` if given. Ignored for other specs.

    Returns
    -------
    :class:`GeneSets`

    Raises
    ------
    GeneSetError
        Unknown name (the message lists valid names), missing or malformed file.
    """
    if isinstance(spec, GeneSets):
        return spec
    if isinstance(spec, pd.DataFrame):
        gs = GeneSets.from_long(spec)
        gs.spec = "<table>"
        return gs
    if isinstance(spec, Mapping):
        gs = GeneSets(spec, source="dict")
        gs.spec = "<dict>"
        return gs
    if isinstance(spec, os.PathLike):
        gs = _read_file(_check_file(Path(spec), "gene-set"))
        return gs
    if not isinstance(spec, str):
        raise GeneSetError(
            f"cannot load gene sets from a {type(spec).__name__}; pass 'magnesium', an MSigDB "
            "name, a GMT path, a dict name -> genes, or a DataFrame with columns set, gene."
        )
    s = spec.strip()
    if not s:
        raise GeneSetError("empty gene-set spec; try 'magnesium' or 'hallmark'.")
    p = Path(s).expanduser()
    if p.is_file():
        return _read_file(p)
    head, sep, names = s.partition(":")
    key = head.strip().lower()
    if key == "magnesium":
        return _load_bundled(names, version, s)
    if key == CELLTYPE_SPEC:
        return _load_liver_celltypes(names, s)
    if key in MSIGDB_COLLECTIONS:
        gs = msigdb(key, version=version)
        if sep:
            gs = gs.subset([n.strip() for n in names.split(",") if n.strip()])
        gs.spec = s
        return gs
    if re.search(r"\.(gmt|gmx)(\.gz)?$", s, re.I) or os.sep in s or "/" in s:
        raise GeneSetError(f"gene-set file {s} does not exist; check the path.")
    raise GeneSetError(
        f"unknown gene-set spec {spec!r}. Valid: 'magnesium', 'magnesium:all', "
        f"'magnesium:<{'|'.join(_safe_bundled_names())}>[,...]', MSigDB names "
        f"{', '.join(MSIGDB_COLLECTIONS)}, a .gmt/.gmx path, a dict or a DataFrame (set, gene)."
    )


def _safe_bundled_names() -> list[str]:
    try:
        return bundled_names()
    except GeneSetError:
        return [DEFAULT_SET]


def combine(*specs: Any, version: str | None = None) -> GeneSets:
    """Concatenate several specs (e.g. ``combine("magnesium", "hallmark")``).

    Raises
    ------
    GeneSetError
        If two inputs share a set name.
    """
    if not specs:
        raise GeneSetError("combine() needs at least one gene-set spec.")
    parts = [load(s, version=version) for s in specs]
    sets: dict[str, tuple[str, ...]] = {}
    metas = []
    for gs in parts:
        dup = [n for n in gs if n in sets]
        if dup:
            raise GeneSetError(f"set name(s) {dup[:5]} occur in more than one input; rename them.")
        sets.update(gs._sets)
        metas.append(gs._meta)
    meta = pd.concat(metas)
    return GeneSets._trusted(sets, meta, source=" + ".join(g.source for g in parts),
                             version=None, spec=" + ".join(str(g.spec) for g in parts))


