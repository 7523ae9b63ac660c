"""API conventions, enforced (in the spirit of scanpy's ``test_package_structure.py``).

* Public functions of ``tl``, ``pp``, ``pl`` and ``get`` that work on an AnnData take it as their
  first parameter, ``adata: AnnData``; everything after the first one or two data arguments is
  keyword-only. Every public function (of every subpackage) annotates its first parameter and
  what it returns.
* The ``tl`` writers -- derived from the code: every public tl function whose first parameter is
  an AnnData, except those that build a new AnnData -- say where they write (``key_added``), can
  work on a copy (``copy``), return ``AnnData | None`` and store one shape,
  ``uns[key] = {"params": {...}, <name>: DataFrame, ...}``, that ``mgtranscript.get`` reads and
  that survives ``write_h5ad`` / ``read_h5ad`` (tests/support/writer_recipes.py calls each of them).
* ``tl.score`` documents and checks every scoring method's options, read from the methods'
  signatures (``tl.score_methods()``).
* Every public function has a numpydoc docstring whose ``Parameters`` section documents every
  parameter, and a ``Returns`` section.
* The library raises its own exceptions for input problems (no ``assert`` statements) and never
  configures the root logger.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

import mgtranscript as mg

PKG = Path(mg.__file__).parent

#: Functions whose second positional argument is data too (e.g. the gene sets to score, or the
#: ``key`` of the results a getter or a plot reads).
TWO_POSITIONAL = {"tl.score", "tl.score_cells", "tl.correlate", "tl.correlate_cells", "tl.survival", "tl.gsea_prerank",
                  "tl.ora", "tl.donor_column", "pl.scores",
                  "pl.heatmap", "pl.scatter", "pl.trend", "pl.survival", "get.scores", "get.coverage", "get.params",
                  "get.table", "get.compare", "get.trend", "get.de", "get.correlate", "get.coupling", "get.design",
                  "get.survival", "get.marker_coherence", "get.sex"}
#: Public helpers that are not analyses: colours and labels of the figures; the pieces of the
#: design audit and the meta-analysis the analysis run reuses (no numpydoc required).
HELPERS = {"pl.group_colour", "pl.group_label", "pl.set_label", "pl.feature_label",
           "tl.pool", "tl.covariates_to_adjust", "tl.mark_adjusted"}
#: Every public subpackage whose functions must be annotated.
ANNOTATED = ("tl", "pp", "pl", "get", "genesets", "datasets", "claims", "fetch", "report")


def _public(modname: str):
    mod = getattr(mg, modname)
    names = getattr(mod, "__all__", [])
    for name in names:
        obj = getattr(mod, name)
        if inspect.isfunction(obj):
            yield f"{modname}.{name}", obj


def _ann(annotation) -> str:
    """An annotation as written (``"AnnData | None"``), module paths dropped."""
    if annotation is inspect.Parameter.empty:
        return ""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return re.sub(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)", r"\1", text)


def _first(func) -> inspect.Parameter | None:
    params = list(inspect.signature(func).parameters.values())
    return params[0] if params else None


FUNCS = [f for m in ("tl", "pp", "pl", "get") for f in _public(m) if f[0] not in HELPERS]
ALL_PUBLIC = [f for m in ANNOTATED for f in _public(m)]
#: The writers, derived: every public ``tl`` function whose first parameter is an AnnData and
#: that does not build a new one (``-> AnnData``, e.g. ``pseudobulk``). A tl function that takes
#: an AnnData either stores its results in it (a writer) or returns a new AnnData.
TAKES_ANNDATA = [(n, f) for n, f in _public("tl") if _first(f) is not None and _ann(_first(f).annotation) == "AnnData"]
WRITERS = [(n, f) for n, f in TAKES_ANNDATA if _ann(inspect.signature(f).return_annotation) != "AnnData"]


def test_the_writer_list_is_derived_and_complete():
    names = {n.removeprefix("tl.") for n, _ in WRITERS}
    assert names >= {"score", "mg_balance", "score_cells", "composition", "compare", "trend", "de", "correlate",
                     "correlate_cells", "coupling", "design_check", "survival"}
    builders = {n for n, _ in TAKES_ANNDATA} - {n for n, _ in WRITERS}
    assert builders == {"tl.pseudobulk"}, builders


@pytest.mark.parametrize(("name", "func"), ALL_PUBLIC, ids=[n for n, _ in ALL_PUBLIC])
def test_every_public_function_is_annotated(name, func):
    sig = inspect.signature(func)
    first = _first(func)
    assert first is None or first.annotation is not first.empty, f"{name}: annotate its first parameter"
    assert sig.return_annotation is not sig.empty, f"{name}: annotate what it returns"


@pytest.mark.parametrize(("name", "func"), FUNCS, ids=[n for n, _ in FUNCS])
def test_anndata_first_then_keyword_only(name, func):
    params = list(inspect.signature(func).parameters.values())
    first = params[0] if params else None
    if first is not None and (first.name == "adata" or _ann(first.annotation) == "AnnData"):
        assert first.name == "adata" and _ann(first.annotation) == "AnnData", \
            f"{name}: an AnnData comes first as `adata: AnnData`"
    n_pos = 2 if name in TWO_POSITIONAL else 1
    late = [p.name for p in params[n_pos:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty]
    assert not late, f"{name}: options {late} must be keyword-only (put them after `*`)"


@pytest.mark.parametrize(("name", "func"), WRITERS, ids=[n for n, _ in WRITERS])
def test_writers_take_adata_key_added_and_copy_and_return_anndata_or_none(name, func):
    sig = inspect.signature(func)
    params = sig.parameters
    assert _first(func).name == "adata" and _ann(_first(func).annotation) == "AnnData"
    assert "copy" in params and params["copy"].kind is params["copy"].KEYWORD_ONLY and params["copy"].default is False
    assert "key_added" in params and params["key_added"].kind is params["key_added"].KEYWORD_ONLY
    assert _ann(sig.return_annotation) == "AnnData | None", f"{name} returns the copy (copy=True) or None"


@pytest.mark.parametrize(("name", "func"), [f for f in _public("pp")], ids=[n for n, _ in _public("pp")])
def test_pp_functions_that_modify_adata_take_copy(name, func):
    if _first(func).name == "adata" and _ann(inspect.signature(func).return_annotation) == "AnnData | None":
        assert "copy" in inspect.signature(func).parameters, f"{name} writes into adata: it needs copy="


# --------------------------------------------------------------------------------------
# The storage contract: uns[key] = {"params": {...}, <name>: DataFrame, ...}, read by ``get``,
# written to and read back from h5ad unchanged (tests/support/writer_recipes.py calls every writer).
# --------------------------------------------------------------------------------------


def _plain(value):
    """h5ad gives lists back as arrays and numbers as NumPy scalars: compare the values."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in list(value)]
    if isinstance(value, np.generic):
        return value.item()
    return value


@pytest.fixture(scope="module")
def recipe_cohort():
    from support import writer_recipes

    return writer_recipes.cohort()


def test_every_writer_has_a_recipe():
    from support import writer_recipes

    missing = sorted({n.removeprefix("tl.") for n, _ in WRITERS} - set(writer_recipes.RECIPES))
    assert not missing, f"add a call of {missing} to tests/support/writer_recipes.py RECIPES"
    assert set(writer_recipes.RECIPES) <= {n.removeprefix("tl.") for n, _ in WRITERS}


@pytest.mark.parametrize("name", [n.removeprefix("tl.") for n, _ in WRITERS])
def test_writer_stores_params_and_tables_that_survive_h5ad(name, recipe_cohort, tmp_path):
    import anndata as ad
    import pandas as pd
    from support import writer_recipes

    from mgtranscript import get

    a = recipe_cohort.copy()
    key = f"key_{name}"
    assert writer_recipes.RECIPES[name](a, key_added=key) is None, f"tl.{name} returns None (copy=False)"
    entry = a.uns[key]
    assert isinstance(entry.get("params"), dict) and entry["params"]["function"] == name
    tables = {k: v for k, v in entry.items() if k != "params"}
    assert tables and all(isinstance(t, pd.DataFrame) for t in tables.values()), \
        f"tl.{name}: every entry besides params is a DataFrame ({ {k: type(v).__name__ for k, v in tables.items()} })"
    for tname, t in tables.items():  # text columns hold strings only: h5ad cannot store mixed objects
        mixed = [c for c in t.columns if t[c].dtype == object and not all(isinstance(x, str) for x in t[c])]
        assert not mixed, f"tl.{name}: uns[{key!r}][{tname!r}] columns {mixed} mix strings with other objects"
    a.write_h5ad(tmp_path / "w.h5ad")
    back = ad.read_h5ad(tmp_path / "w.h5ad")
    assert set(back.uns[key]) == set(entry)
    assert _plain(back.uns[key]["params"]) == _plain(entry["params"])
    for tname, t in tables.items():
        pd.testing.assert_frame_equal(back.uns[key][tname], t, check_dtype=False, check_index_type=False)
    # the getter named for this writer reads its table, from the file too
    getter = getattr(get, get.GETTERS[name])
    got = getter(back, key)
    assert isinstance(got, (pd.DataFrame, dict)) and len(got)
    assert get.params(back, key)["function"] == name


@pytest.mark.parametrize("name", [n.removeprefix("tl.") for n, _ in WRITERS])
def test_writer_copy_returns_the_copy_and_leaves_the_input(name, recipe_cohort):
    import anndata as ad
    from support import writer_recipes

    a = recipe_cohort.copy()
    out = writer_recipes.RECIPES[name](a, key_added="copied", copy=True)
    assert isinstance(out, ad.AnnData) and out is not a
    assert "copied" in out.uns and "copied" not in a.uns


def test_getters_say_what_is_there_when_the_key_is_missing_or_another_tool_wrote_it(recipe_cohort):
    from mgtranscript import get, tl
    from mgtranscript.errors import InputDataError

    a = recipe_cohort.copy()
    tl.trend(a, by="fibrosis_stage", keys="mg_ssgsea")
    with pytest.raises(InputDataError, match=r"written by tl.trend, not by tl.compare: read it with mg.get.trend"):
        get.compare(a, "trend")
    with pytest.raises(InputDataError, match=r"no 'compare': run tl.compare\(adata, ..., key_added='compare'\)"):
        get.compare(a)
    with pytest.raises(InputDataError, match=r"'trend' \(tl.trend\)"):  # lists what is there
        get.de(a)
    with pytest.raises(InputDataError, match=r"has no table 'km'; its tables: 'table'"):
        get.table(a, "trend", "km")
    with pytest.raises(InputDataError, match="reads an AnnData, not a DataFrame"):
        get.trend(a.to_df())


def test_every_stored_function_has_a_getter():
    from mgtranscript import get

    names = {n.removeprefix("tl.") for n, _ in WRITERS} | {"pseudobulk"}
    assert names <= set(get.GETTERS), sorted(names - set(get.GETTERS))
    assert all(callable(getattr(get, g)) for g in get.GETTERS.values())


def test_score_documents_and_validates_every_method_option():
    """tl.score's docstring names every option of every method (read from the methods' signatures
    by tl.score_methods); options are checked against the method's signature."""
    import numpy as np
    import anndata as ad

    from mgtranscript import tl
    from mgtranscript.errors import InputDataError, MgTranscriptError

    table = tl.score_methods()
    assert list(table.columns) == ["method", "option", "default", "type", "description"]
    assert set(table["method"]) == set(tl.METHODS)
    doc = inspect.getdoc(tl.score)
    for row in table[table["option"] != ""].itertuples():
        assert f"``{row.option}=" in doc, f"tl.score does not document {row.method}'s option {row.option}"
        assert row.description, f"{row.method}_matrix does not describe its option {row.option}"
        assert tl.method_options(row.method)[row.option] == row.default
    assert "**method_options" in str(inspect.signature(tl.score))
    a = ad.AnnData(np.random.default_rng(0).normal(size=(6, 4)), var={"n": range(4)})
    a.var_names = ["A", "B", "C", "D"]
    with pytest.raises(MgTranscriptError, match=r"does not take option\(s\) 'kcdf'.*belongs to method gsva"):
        tl.score(a, {"s": ["A", "B"]}, method="ssgsea", kcdf="poisson")
    with pytest.raises(InputDataError, match="option alpha must be float, got 'high'"):
        tl.score(a, {"s": ["A", "B"]}, method="ssgsea", alpha="high")


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


@functools.lru_cache(maxsize=None)
def _tree(path: Path) -> ast.Module:
    """A module's syntax tree, parsed once per session (several checks read every module)."""
    return ast.parse(path.read_text(), filename=str(path))


@functools.lru_cache(maxsize=None)
def _nodes(path: Path) -> tuple[ast.AST, ...]:
    """Every node of a module's syntax tree (``ast.walk``), once per session."""
    return tuple(ast.walk(_tree(path)))


def test_no_assert_statements_for_input_checks():
    offenders = []
    for path in _py_files():
        offenders += [f"{path.relative_to(PKG)}:{n.lineno}" for n in _nodes(path) if isinstance(n, ast.Assert)]
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


# --------------------------------------------------------------------------------------
# The layering, read from the code's own imports (every ``import`` and ``from ... import``,
# inside functions and ``TYPE_CHECKING`` blocks too).
# --------------------------------------------------------------------------------------

#: Layers from the bottom up, by the first name under ``mgtranscript``. A module may import its own
#: layer and the layers below it, never one above. ``pp`` and ``get`` sit below ``datasets``: the
#: loaders normalise counts as they load (log2 CPM) and ``tl``/``pl`` read results through ``get``;
#: ``genesets`` sits above ``datasets`` (gene_info aliases) and below ``tl``.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("base", frozenset({"", "errors", "_resources", "_settings", "_stats", "_utils", "_words"})),
    ("fetch", frozenset({"fetch"})),
    ("pp/get", frozenset({"pp", "get"})),
    ("datasets", frozenset({"datasets"})),
    ("genesets", frozenset({"genesets"})),
    ("tl", frozenset({"tl"})),
    ("claims", frozenset({"claims"})),
    ("pl", frozenset({"pl"})),
    ("report", frozenset({"report"})),
    ("run", frozenset({"pipeline"})),
    ("commands", frozenset({"commands"})),
    ("cli", frozenset({"cli", "__main__"})),
)
#: The only modules that read the environment: the settings object and the command-line entry.
ENV_READERS = {"mgtranscript._settings", "mgtranscript.cli", "mgtranscript.__main__"}


def _modules() -> dict[str, tuple[Path, bool]]:
    mods = {}
    for path in _py_files():
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = (path, path.name == "__init__.py")
    return mods


def _resolve(module: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = (module if is_pkg else module.rpartition(".")[0]).split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


@functools.lru_cache(maxsize=1)
def _imports() -> tuple[tuple[str, str, str], ...]:
    """``(importer, target, name)`` for every import of mgtranscript code; ``name`` is ``""`` for
    ``import a.b`` and the imported name for ``from a import name``."""
    out = []
    for mod, (path, is_pkg) in _modules().items():
        for node in _nodes(path):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(mod, is_pkg, node)
                if target == "mgtranscript" or target.startswith("mgtranscript."):
                    out += [(mod, target, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                out += [(mod, a.name, "") for a in node.names if a.name.split(".")[0] == "mgtranscript"]
    return tuple(out)


@functools.lru_cache(maxsize=1)
def _graph() -> dict[str, set[str]]:
    """Module -> the modules it imports (``from pkg import sub`` counts as importing ``pkg.sub``).
    A module importing its own package's ``__init__`` is left out (that is how a package lists itself)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, target, name in _imports():
        for t in (f"{target}.{name}" if name else target, target):
            while t and t not in mods:
                t = t.rpartition(".")[0]
            if t and t != mod and not mod.startswith(t + "."):
                graph[mod].add(t)
                break
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def _top(module: str) -> str:
    """The first name under mgtranscript (``""`` for the package itself)."""
    return module.split(".")[1] if "." in module else ""


def _layer(module: str) -> int:
    top = _top(module)
    for i, (_name, members) in enumerate(LAYERS):
        if top in members:
            return i
    raise AssertionError(f"{module} is in no layer: add {top!r} to LAYERS in {Path(__file__).name}")


def test_every_module_has_a_layer():
    for mod in _modules():
        _layer(mod)


def test_no_import_cycle():
    """No circle of imports among the library's modules, the run's included."""
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_layers_only_point_down():
    """fetch -> pp/get -> datasets -> genesets -> tl -> claims -> pl -> report -> run -> commands -> cli,
    with errors, settings and the shared private helpers (_stats, _utils, _words) at the bottom."""
    names = [n for n, _ in LAYERS]
    upward = sorted({f"{m} ({names[_layer(m)]}) imports {t} ({names[_layer(t)]})"
                     for m, targets in _graph().items() for t in targets if _layer(t) > _layer(m)})
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_no_private_name_imported_from_another_subpackage():
    """Another subpackage's private module or name is not imported: shared helpers live in a
    top-level private module (``mgtranscript._stats``, ``_utils``, ``_words``) or are public names."""
    offences = []
    for mod, target, name in _imports():
        full = f"{target}.{name}" if name else target
        inside = full.split(".")[2:]  # below mgtranscript.<subpackage>
        if _top(mod) != _top(target) and any(p.startswith("_") and not p.startswith("__") for p in inside):
            offences.append(f"{mod} imports {full}")
    assert not offences, "\n".join(offences)


def test_scoring_methods_do_not_import_one_another():
    """One module per scoring method; what methods share lives in tl._score's private modules."""
    methods = {f"mgtranscript.tl._score.{p.stem}" for p in (PKG / "tl" / "_score").glob("[!_]*.py")}
    assert {m.rsplit(".", 1)[1] for m in methods} >= {"ssgsea", "gsva", "zscore", "plage", "singscore", "mean"}
    offences = [f"{m} imports {t}" for m, targets in _graph().items() if m in methods for t in targets & methods]
    assert not offences, offences


#: Subpackages whose modules are all private, behind the names their ``__init__`` lists.
PUBLIC_PACKAGES = ("datasets", "fetch", "genesets", "pp", "tl", "claims", "report", "pl")


@pytest.mark.parametrize("pkg", PUBLIC_PACKAGES)
def test_the_public_surface_is_the_layout(pkg):
    """Every module under a public subpackage is private (``_name``), its ``__init__`` lists the
    public names in ``__all__`` and each of them is importable from the subpackage itself."""
    import importlib

    public = [str(p.relative_to(PKG)) for p in (PKG / pkg).rglob("*.py")
              if p.name != "__init__.py" and not any(part.startswith("_") for part in p.relative_to(PKG / pkg).parts)]
    assert not public, f"modules that should be private (named _...): {public}"
    module = importlib.import_module(f"mgtranscript.{pkg}")
    names = getattr(module, "__all__", None)
    assert names, f"mgtranscript.{pkg} lists no __all__"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, f"mgtranscript.{pkg}.__all__ names what it does not have: {missing}"


def test_no_import_hooks_or_lazy_attributes():
    """Names are plain imports: no import finder, no module-class swap, no module ``__getattr__``
    (the root package alone loads its subpackages lazily, so that ``import mgtranscript`` stays fast)."""
    offences = []
    for mod, (path, _is_pkg) in _modules().items():
        tree = _tree(path)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__" and mod != "mgtranscript":
                offences.append(f"{mod}: module __getattr__")
        for node in _nodes(path):
            if isinstance(node, ast.Attribute) and node.attr == "meta_path":
                offences.append(f"{mod}:{node.lineno}: sys.meta_path")
            if isinstance(node, ast.Attribute) and node.attr == "__class__" and isinstance(node.ctx, ast.Store):
                offences.append(f"{mod}:{node.lineno}: assigns a module's __class__")
    assert not offences, offences


def test_environment_is_read_by_the_settings_module_and_the_cli_only():
    readers = set()
    for mod, (path, _is_pkg) in _modules().items():
        for node in _nodes(path):
            if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
                    and isinstance(node.value, ast.Name) and node.value.id == "os"):
                readers.add(mod)
    assert not readers - ENV_READERS, f"modules reading os.environ: {sorted(readers - ENV_READERS)}"


# --------------------------------------------------------------------------------------
# The test suite mirrors the package: tests/<subpackage>/test_*.py, helpers in tests/support/
# --------------------------------------------------------------------------------------

TESTS = Path(__file__).resolve().parent
#: Test files about the project as a whole (not one module): the only ones at the top of tests/.
WHOLE_PROJECT = {"test_package_structure.py", "test_packaging.py", "test_readme.py", "test_notebooks.py",
                 "test_settings.py", "test_interop.py"}


def _test_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_test_file_sits_in_a_folder_mirroring_a_subpackage():
    """tests/claims/ for mgtranscript/claims/, tests/tl/score/ for mgtranscript/tl/_score/, ...; only the
    whole-project tests sit at the top; every test file name is unique (pytest imports them by name)."""
    misplaced, names = [], {}
    for p in _test_files():
        rel = p.relative_to(TESTS)
        if not p.name.startswith("test_"):
            continue
        names.setdefault(p.name, []).append(str(rel))
        folder = rel.parent.parts
        if not folder:
            if p.name not in WHOLE_PROJECT:
                misplaced.append(f"{rel}: move it into the folder of the subpackage it tests")
            continue
        pkg = PKG
        for part in folder:
            pkg = pkg / part if (pkg / part).is_dir() else pkg / f"_{part}"
        if not (pkg / "__init__.py").is_file():
            misplaced.append(f"{rel}: mgtranscript/{'/'.join(folder)} is no (private) subpackage")
    assert not misplaced, "\n".join(misplaced)
    twice = {n: ps for n, ps in names.items() if len(ps) > 1}
    assert not twice, f"test file names must be unique: {twice}"


def test_helpers_live_in_the_support_package_and_fixtures_in_conftest():
    loose = [str(p.relative_to(TESTS)) for p in _test_files()
             if not p.name.startswith("test_") and p.name != "conftest.py" and p.parent.name != "support"]
    assert not loose, f"move helper modules into tests/support/: {loose}"
    assert (TESTS / "support" / "__init__.py").is_file()
    tests_in_support = [p.name for p in (TESTS / "support").glob("test_*.py")]
    assert not tests_in_support, tests_in_support


def test_every_scoring_method_has_its_test_module():
    methods = sorted(p.stem for p in (PKG / "tl" / "_score").glob("[!_]*.py"))
    assert set(methods) >= {"ssgsea", "gsva", "zscore", "plage", "singscore", "mean"}
    missing = [m for m in methods if not (TESTS / "tl" / "score" / f"test_{m}.py").is_file()]
    assert not missing, f"add tests/tl/score/test_<method>.py for {missing}"
