"""Tools: gene-set scoring, comparisons, differential expression, enrichment, meta-analysis.

Everything is imported lazily, so a tool whose module is missing or heavy does not
slow down or break ``import mgtranscript.tl``.

Scoring
-------
:func:`score`
    One entry point for every scoring method (``"ssgsea"``, ``"gsva"``, ``"zscore"``,
    ``"plage"``, ``"singscore"``, ``"mean"``); results go to ``adata.obsm[key_added]``.
:func:`mg_balance`
    Signed magnesium influx-minus-efflux balance per sample, to ``adata.obs``.
:func:`score_cells`, :func:`pseudobulk`
    Single-cell scoring helpers.

Statistics and enrichment
-------------------------
:func:`compare`, :func:`trend`, :func:`de`, :func:`meta_analysis`,
:func:`gsea_prerank`, :func:`ora`, :func:`coupling`.
"""

from __future__ import annotations

import importlib
import sys
import types

#: public name -> (module under mgtranscript.tl, attribute)
_LAZY = {
    "score": ("score", "score"),
    "mg_balance": ("mean", "mg_balance"),
    "METHODS": ("_runner", "METHODS"),
    "score_cells": ("cells", "score_cells"),
    "pseudobulk": ("cells", "pseudobulk"),
    "compare": ("compare", "compare"),
    "trend": ("compare", "trend"),
    "compare_table": ("compare", "compare_table"),
    "running_sum": ("enrich", "running_sum"),
    "mechanism_sets": ("enrich", "mechanism_sets"),
    "de": ("de", "de"),
    "meta_analysis": ("meta", "meta_analysis"),
    "gsea_prerank": ("enrich", "gsea_prerank"),
    "ora": ("enrich", "ora"),
    "coupling": ("enrich", "coupling"),
    "survival": ("survival", "survival"),
}


def __getattr__(name: str):
    try:
        modname, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'mgtranscript.tl' has no attribute {name!r}") from None
    module = importlib.import_module(f"{__name__}.{modname}")
    value = getattr(module, attr)
    globals()[name] = value  # cache: later look-ups skip __getattr__
    return value


class _ToolsModule(types.ModuleType):
    """Keep ``tl.score``/``tl.compare``/``tl.de`` the *functions* even after their
    same-named submodules are imported (the import system would otherwise rebind the
    package attribute to the submodule). Use ``from mgtranscript.tl.score import ...``
    or :func:`importlib.import_module` to reach such a submodule itself."""

    def __setattr__(self, name: str, value) -> None:
        target = _LAZY.get(name)
        if isinstance(value, types.ModuleType) and target is not None and target[0] == name:
            value = getattr(value, target[1], value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _ToolsModule


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = sorted(_LAZY)
