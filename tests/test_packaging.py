"""mgtranscript installs like a package: the wheel holds every subpackage and the bundled
data (gene sets, claims, cohort catalog), works from any folder without the source tree,
and declares exactly the third-party packages it imports."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mgtranscript import settings

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

#: import name -> distribution name, where they differ
DIST_OF = {"yaml": "PyYAML", "sklearn": "scikit-learn", "PIL": "pillow", "adjusttext": "adjustText"}
#: imported only inside ``try/except ImportError`` (optional; must be an extra)
OPTIONAL = {"dask", "distributed"}


def _req_name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _source_packages() -> set[str]:
    pkgs = set()
    for init in (REPO / "mgtranscript").rglob("__init__.py"):
        pkgs.add(".".join(init.parent.relative_to(REPO).parts))
    for d in (REPO / "mgtranscript").rglob("*"):  # data folders without __init__ (mgtranscript/data)
        if d.is_dir() and "__pycache__" not in d.parts and any(f.is_file() for f in d.iterdir()):
            pkgs.add(".".join(d.relative_to(REPO).parts))
    return {p for p in pkgs if "__pycache__" not in p}


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    missing = _source_packages() - listed
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    for pkg, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items():
        assert (REPO / folder).is_dir() and pkg in listed


def _third_party_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (REPO / "mgtranscript").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "mgtranscript":
                    found.setdefault(top, set()).add(path.relative_to(REPO).as_posix())
    return found


def test_dependencies_are_exactly_what_the_package_imports():
    runtime = {_req_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = {_req_name(r) for reqs in PYPROJECT["project"]["optional-dependencies"].values() for r in reqs}
    imported = {DIST_OF.get(m, m).lower() for m in _third_party_imports()}
    required = imported - OPTIONAL
    assert required <= runtime, f"imported but not declared: {sorted(required - runtime)}"
    assert OPTIONAL & imported <= extras, "optional imports must be offered as an extra"
    unused = runtime - imported
    assert not unused, f"declared but never imported at run time: {sorted(unused)} (move them to an extra)"
    # scanpy (score_cells, pseudobulk) and statsmodels (voom's lowess, Jonckheere-Terpstra) run in
    # the package; dask.distributed and decoupler only on request
    assert {"scanpy", "statsmodels"} <= runtime
    for optional in ("distributed", "decoupler"):
        assert optional not in runtime and optional in extras


def test_license_and_metadata():
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and "LICENSE" in project["license-files"]
    assert any(c.startswith("Programming Language :: Python :: 3.10") for c in project["classifiers"])
    assert project["requires-python"] == ">=3.10"
    assert any(r.startswith("tomli") and "3.11" in r for r in project["dependencies"])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel --no-deps`` of a copy of the source (the checkout itself is not touched)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    for folder in ("mgtranscript", "gene_sets", "seeds"):
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = work / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and ("Could not find a version" in r.stderr or "NewConnectionError" in r.stderr):
        pytest.skip(f"cannot fetch the build backend from the package index: {r.stderr[-300:]}")
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = dist.glob("mgtranscript-*.whl")
    return whl


@pytest.mark.slow
@pytest.mark.xdist_group("wheel")  # one worker builds the wheel (pytest-xdist)
def test_wheel_holds_every_module_and_the_bundled_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for py in (REPO / "mgtranscript").rglob("*.py"):
        rel = py.relative_to(REPO).as_posix()
        assert rel in names, f"{rel} is missing from the wheel"
    for f in (REPO / "gene_sets").iterdir():
        if f.is_file():
            assert f"mgtranscript/gene_sets/{f.name}" in names
    assert "mgtranscript/seeds/claims.tsv" in names
    assert "mgtranscript/data/cohorts.toml" in names
    assert "mgtranscript/__main__.py" in names
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert any(n.startswith(f"{dist_info}/licenses/LICENSE") for n in names)
    meta = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert "Requires-Dist: urllib3" in meta
    assert re.search(r"Requires-Dist: distributed.*extra == .dask", meta)
    assert not re.search(r"Requires-Dist: distributed[^;]*$", meta, re.M)  # never unconditional
    entry = zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode()
    assert "mgtranscript = mgtranscript.cli:main" in entry


@pytest.mark.slow
@pytest.mark.xdist_group("wheel")  # one worker builds the wheel (pytest-xdist)
def test_installed_wheel_works_from_any_folder(wheel, tmp_path):
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                        str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # the child gets this test's settings (bundled gene sets, a fresh cache) as its environment
    env = {**os.environ, **settings.to_environ(), "PYTHONPATH": str(site), "MGTRANSCRIPT_CACHE": str(tmp_path / "cache")}
    code = (
        "import mgtranscript, pathlib, sys\n"
        f"assert pathlib.Path(mgtranscript.__file__).is_relative_to({str(site)!r}), mgtranscript.__file__\n"
        "from mgtranscript import genesets\n"
        "from mgtranscript.claims import load_claims\n"
        "from mgtranscript.datasets import catalog\n"
        "s = genesets.load('magnesium')\n"
        "print(len(s), len(load_claims()), len(catalog()))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    n_sets, n_claims, n_cohorts = map(int, r.stdout.split())
    assert n_sets >= 3 and n_claims >= 10 and n_cohorts >= 5
    for args in (["genesets"], ["claims", "--help"], ["datasets"]):
        r = subprocess.run([sys.executable, "-m", "mgtranscript", *args], cwd=elsewhere, env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, (args, r.stderr[-2000:])
        assert "Traceback" not in r.stderr
