"""The README's tour of the API runs as written (on the mirror, with the GSE77314 sample sheet); its
settings section; its test commands."""

from __future__ import annotations

import re

import pytest

from mgtranscript import settings

from support.paths import REPO

README = REPO / "README.md"


def section_code(title: str) -> list[str]:
    """The ```python blocks of one ``## title`` section of the README, in order."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start: end if end != -1 else len(text)], flags=re.DOTALL)


@pytest.mark.slow
@pytest.mark.network
def test_readme_tour_runs_and_says_what_it_shows(tour_run, mirror_env, shared_dir, tmp_path, monkeypatch):
    """The tour as written. Its ``run_analysis`` shares the session cache with the session's run of the
    same call (``tour_run``): each cohort's result and every figure are taken from there, as the README
    says a rerun with the same inputs, parameters and code does; the tables are the same files."""
    (code,) = section_code("A short tour of the API")
    monkeypatch.chdir(tmp_path)  # nothing beside it: the sample sheet is found where the README says
    settings.samples_dir = shared_dir / "samples"
    ns: dict = {}
    exec(compile(code, "README.md (A short tour of the API)", "exec"), ns)  # noqa: S102
    audit, de, res = ns["audit"], ns["de"], ns["res"]
    # the comments of the tour are true
    flagged = set(audit.loc[audit["flagged"], "check"])
    assert {"library_size", "sample_ids"} <= flagged
    assert "25.5 M" in " ".join(audit["caveat"].astype(str)) and "13.1 M" in " ".join(audit["caveat"].astype(str))
    keep = ns["keep"]
    assert len(de) == int(keep.sum()) < ns["adata"].n_vars  # filterByExpr dropped unexpressed genes
    assert (tmp_path / "figures" / "mg_scores.png").is_file()
    assert (tmp_path / "out" / "report.html").is_file()
    assert set(res.claims["verdict"]) <= {"supported", "contradicted", "inconclusive", "not testable"}
    assert set(res.claims_evidence["cohort"]) >= {"GSE126848", "GSE167523", "GSE77314"}
    assert res.run["cohort_sources"] == dict.fromkeys(("GSE126848", "GSE167523", "GSE77314"), "result cache")
    assert res.run.get("figures") == "copied from an earlier run with the same result"
    for table in sorted((tour_run.out / "tables").glob("*.tsv")):
        assert (tmp_path / "out" / "tables" / table.name).read_bytes() == table.read_bytes(), table.name
    assert {p.name for p in (tmp_path / "out" / "figures").iterdir()} == \
        {p.name for p in (tour_run.out / "figures").iterdir()}
    assert ns["sheet"].name == "GSE77314_SraRunTable.csv" and not (tmp_path / ns["sheet"].name).exists()
    assert set(ns["hcc"].obs["condition"]) == {"hcc_tumour", "hcc_nontumour"}

    # "Where results go", on the tour's AnnData: every tool's results come back through mg.get
    (where,) = section_code("Where results go")
    lines = [ln for ln in where.strip().splitlines()]
    values = [eval(compile(ln.split("#")[0], "README.md (Where results go)", "eval"), ns) for ln in lines]  # noqa: S307
    reference, scores, coverage, samples, genes, methods = values
    assert reference == "healthy"
    assert {"MG_LIVER_CORE", "condition"} <= set(scores.columns) and len(scores) == ns["adata"].n_obs
    assert {"t_nk", "hepatocyte"} <= set(coverage.index) and (coverage["final_size"] > 0).all()
    assert {"inferred_sex", "lib_size"} <= set(samples.columns)
    assert set(genes["role"]) == {"influx", "efflux"} and {"TRPM7", "CNNM4"} <= set(genes["gene"])
    assert set(methods["method"]) == {"ssgsea", "gsva", "zscore", "plage", "singscore", "mean"}
    assert ns["adata"].uns["compare"]["params"]["function"] == "compare"


def test_readme_settings_section_runs_and_lists_every_setting(capsys):
    (code,) = section_code("Settings")
    before = settings.to_dict()
    settings.progress = True
    exec(compile(code, "README.md (Settings)", "exec"), {})  # noqa: S102
    assert settings.progress is False  # "from now on"
    assert (settings.offline, settings.retries) == (before["offline"], before["retries"])  # restored after the block
    assert "[MGTRANSCRIPT_CACHE]" in capsys.readouterr().out
    from mgtranscript._settings import FIELDS

    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Settings\n"):text.index("Without a network")]
    rows = {ln.split("|")[1].strip(): ln.split("|")[2] for ln in table.splitlines() if ln.startswith("| `")}
    listed = {name.strip("` ") for key in rows for name in key.split(",")}
    assert listed == set(FIELDS)
    assert all(f"`{f.env}" in " ".join(rows.values()) for f in FIELDS.values())


def test_readme_names_the_full_test_command_ci_runs_and_the_inner_loop():
    """The Test section: the full command first (.ci/run runs exactly it), then the inner loop, whose
    marker is declared in pyproject.toml (``--strict-markers``)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Test\n"):text.index("\n## ", text.index("## Test\n") + 1)]
    commands = re.findall(r"^    (python3 -m pytest.*)$", section, flags=re.M)
    assert commands == ["python3 -m pytest -q", 'python3 -m pytest -q -m "not slow"']
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == commands[0]
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '"slow: ' in pyproject and "--strict-markers" in pyproject and "--durations=25" in pyproject
