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

Evidence a reviewer asks for
----------------------------
:func:`correlate`
    Correlation pooled, within groups (Fisher-z combined or residualised) or within
    pairs (repeated-measures), optionally partial on covariates.
:func:`correlate_cells`
    Per-cell data: correlation inside each cell type and donor, combined with donors as the
    unit (cells of one donor are not independent samples).
:func:`composition`
    Relative liver cell-type marker scores per sample (covariates, not proportions).
:func:`marker_coherence`
    How well each marker of a set tracks the rest of its set, within strata.
:func:`design_check`
    Is a contrast confounded with library size, TMM factor, sex, age or the sample
    series? One row per check, with plain-words caveats; pair checks for paired designs.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types

#: public name -> (module under mgtranscript.tl, attribute)
_LAZY = {
    "score": ("score", "score"),
    "mg_balance": ("score.mean", "mg_balance"),
    "METHODS": ("score._runner", "METHODS"),
    "score_cells": ("cells", "score_cells"),
    "pseudobulk": ("cells", "pseudobulk"),
    "compare": ("compare", "compare"),
    "trend": ("trend", "trend"),
    "compare_table": ("compare", "compare_table"),
    "running_sum": ("enrich", "running_sum"),
    "mechanism_sets": ("mechanisms", "mechanism_sets"),
    "de": ("de", "de"),
    "meta_analysis": ("meta", "meta_analysis"),
    "gsea_prerank": ("enrich", "gsea_prerank"),
    "ora": ("enrich", "ora"),
    "coupling": ("coupling", "coupling"),
    "correlate": ("correlate", "correlate"),
    "correlate_cells": ("donors", "correlate_cells"),
    "composition": ("composition", "composition"),
    "marker_coherence": ("composition", "marker_coherence"),
    "design_check": ("design.audit", "design_check"),
    "survival": ("survival", "survival"),
}


#: modules that moved into :mod:`mgtranscript.tl.score`; their old import paths
#: (``mgtranscript.tl.ssgsea``, ...) keep working through :class:`_MovedModules`.
_MOVED = ("_runner", "ssgsea", "gsva", "zscore", "plage", "singscore", "mean")


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serve ``mgtranscript.tl.<method>`` as the module ``mgtranscript.tl.score.<method>``."""

    _prefix = __name__ + "."

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(self._prefix) and fullname[len(self._prefix):] in _MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module(f"{__name__}.score.{spec.name.rsplit('.', 1)[1]}")
        spec.loader_state = module.__spec__  # the import system overwrites __spec__; restored below
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())


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
