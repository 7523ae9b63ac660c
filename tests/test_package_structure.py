"""API conventions, enforced (in the spirit of scanpy's ``test_package_structure.py``).

* Public functions of ``tl``, ``pp``, ``pl`` and ``get`` that work on an AnnData take it as their
  first parameter, named ``adata``; everything after the first one or two data arguments is
  keyword-only.
* Functions that write into an AnnData say where (``key_added``) and can work on a copy (``copy``).
* Every public function has a numpydoc docstring whose ``Parameters`` section documents every
  parameter, and a ``Returns`` section.
* The library raises its own exceptions for input problems (no ``assert`` statements) and never
  configures the root logger.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import mgtranscript as mg

PKG = Path(mg.__file__).parent

#: Public functions that take a table, a ranking or a gene list rather than an AnnData.
NOT_ANNDATA = {
    "tl.gsea_prerank", "tl.ora", "tl.meta_analysis", "tl.running_sum", "tl.compare_table",
    "pl.gsea", "pl.forest", "pl.effect_forest", "pl.volcano", "pl.savefig", "pl.km", "pp.calc_norm_factors",
    "pl.contrast_heatmap", "pl.enrichment_dotplot",  # a run's tables (comparisons, gsea)
}
#: Functions whose second positional argument is data too (e.g. the gene sets to score).
TWO_POSITIONAL = {"tl.score", "tl.score_cells", "tl.correlate", "tl.survival", "pl.scores", "pl.heatmap",
                  "pl.scatter", "pl.trend", "pl.survival", "get.scores", "get.coverage", "get.params"}
#: Public helpers that are not analyses of an AnnData: colours and labels of the figures; the
#: pieces of the design audit, the scoring methods and the meta-analysis the analysis run reuses.
HELPERS = {"pl.group_colour", "pl.group_label", "pl.set_label", "pl.feature_label",
           "tl.method_options", "tl.pool", "tl.covariates_to_adjust", "tl.mark_adjusted", "tl.donor_column"}
#: Functions that write results into the AnnData they are given.
WRITERS = {"tl.score", "tl.mg_balance", "tl.compare", "tl.trend", "tl.de", "tl.coupling", "tl.score_cells",
           "tl.correlate", "tl.composition", "tl.design_check", "tl.survival",
           "pp.log2_cpm", "pp.ensure_log", "pp.filter_expressed"}


def _public(modname: str):
    mod = getattr(mg, modname)
    names = getattr(mod, "__all__", [])
    for name in names:
        obj = getattr(mod, name)
        if inspect.isfunction(obj):
            yield f"{modname}.{name}", obj


FUNCS = [f for m in ("tl", "pp", "pl", "get") for f in _public(m) if f[0] not in HELPERS]


@pytest.mark.parametrize(("name", "func"), FUNCS, ids=[n for n, _ in FUNCS])
def test_anndata_first_then_keyword_only(name, func):
    params = list(inspect.signature(func).parameters.values())
    if name in NOT_ANNDATA:
        return
    assert params and params[0].name == "adata", f"{name}: first parameter must be `adata`"
    n_pos = 2 if name in TWO_POSITIONAL else 1
    late = [p.name for p in params[n_pos:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty]
    assert not late, f"{name}: options {late} must be keyword-only (put them after `*`)"


@pytest.mark.parametrize(("name", "func"), [f for f in FUNCS if f[0] in WRITERS], ids=lambda x: x if isinstance(x, str) else "")
def test_writers_take_key_added_and_copy(name, func):
    params = inspect.signature(func).parameters
    assert "copy" in params, f"{name} writes into adata: it needs copy="
    assert "key_added" in params or name.startswith("pp."), f"{name} writes into adata: it needs key_added="


def _documented(doc: str) -> set[str]:
    m = re.search(r"\n\s*Parameters\n\s*-{5,}\n(.*?)(\n\s*(Returns|Yields|Raises|Examples|Notes|See Also)\n\s*-{3,}|\Z)",
                  doc, re.S)
    if not m:
        return set()
    names = set()
    for line in m.group(1).splitlines():
        mm = re.match(r"^\s{0,8}(\*{0,2}[A-Za-z_][\w, *]*?)\s*(:.*)?$", line)
        if mm and not line.startswith(" " * 9):
            for n in mm.group(1).split(","):
                names.add(n.strip().lstrip("*"))
    return names


@pytest.mark.parametrize(("name", "func"), FUNCS, ids=[n for n, _ in FUNCS])
def test_numpydoc_documents_every_parameter(name, func):
    doc = inspect.getdoc(func) or ""
    assert doc, f"{name} has no docstring"
    params = [p.name for p in inspect.signature(func).parameters.values()
              if p.kind not in (p.VAR_POSITIONAL,)]
    documented = _documented(doc)
    missing = [p for p in params if p not in documented]
    assert not missing, f"{name}: parameters {missing} are not in its Parameters section"
    assert re.search(r"\n\s*Returns\n\s*-{3,}", doc), f"{name}: no Returns section"


def _py_files():
    return sorted(PKG.rglob("*.py"))


def test_no_assert_statements_for_input_checks():
    offenders = []
    for path in _py_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        offenders += [f"{path.relative_to(PKG)}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Assert)]
    assert not offenders, f"use mgtranscript.errors exceptions instead of assert: {offenders}"


def test_library_never_configures_the_root_logger():
    offenders = []
    for path in _py_files():
        if path.name == "cli.py":
            continue  # the command line configures logging for mgtranscript's loggers only
        text = path.read_text()
        if re.search(r"logging\.basicConfig|getLogger\(\)\.(setLevel|addHandler)", text):
            offenders.append(str(path.relative_to(PKG)))
    assert not offenders, offenders


def test_errors_share_one_base_class():
    from mgtranscript import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.MgTranscriptError)


def test_modules_stay_reviewable():
    """No module over ~500 lines: split by concern instead (the layout shows the architecture)."""
    big = {str(p.relative_to(PKG)): n for p in _py_files() if (n := len(p.read_text().splitlines())) > 550}
    assert not big, big
