"""The run as a value, on a small synthetic cohort set (seconds, not minutes): cohorts analysed
one after another, in worker processes and on a ``dask.distributed`` cluster give the same
tables; a rerun with nothing changed takes every cohort from the result cache (same tables),
a changed input file or ``use_cache=False`` computes it again; the cache format reads back
exactly and holds no pickle; the default plan comes from the catalog.

The synthetic cohorts stand in for two catalog cohorts (their labels, design and reference):
``datasets.load_cohort`` is replaced by a loader that reads counts from a file it keeps in the
(temporary) download cache and records that file's sha256 in ``uns`` as the real loaders do.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mgtranscript.errors import FetchError

#: accession -> (conditions, disease of each, samples, seed)
SYNTHETIC = {
    "GSE126848": (("healthy", "obese", "NAFL", "NASH"), ("control", "control", "MASLD", "MASLD"), 24, 1),
    "GSE167523": (("NAFL", "NASH"), ("MASLD", "MASLD"), 16, 2),
}


def _genes() -> list[str]:
    from mgtranscript.genesets import load
    from mgtranscript.pipeline import KEY_GENES

    genes = set(KEY_GENES)
    for name in ("magnesium", "liver_celltypes"):
        for members in load(name).values():
            genes.update(members)
    genes = sorted(genes)
    return genes + [f"SYN{i:04d}" for i in range(800 - len(genes))]


def _mechanisms(genes: list[str]) -> dict[str, list[str]]:
    syn = [g for g in genes if g.startswith("SYN")]
    return {"HALLMARK_INFLAMMATORY_RESPONSE": syn[0:40], "HALLMARK_OXIDATIVE_PHOSPHORYLATION": syn[40:90],
            "HALLMARK_FATTY_ACID_METABOLISM": syn[90:130]}


def _url(acc: str) -> str:
    return f"https://ftp.ncbi.nlm.nih.gov/geo/series/{acc[:-3]}nnn/{acc}/suppl/{acc}_synthetic_counts.tsv"


def _counts_file(acc: str) -> Path:
    from mgtranscript.fetch import cache_dir, mirror_relpath

    return cache_dir() / mirror_relpath(_url(acc))


def _write_counts(acc: str, seed: int, genes: list[str]) -> None:
    conds, _dis, n, _ = SYNTHETIC[acc]
    rng = np.random.default_rng(seed)
    cond = np.arange(n) % len(conds)
    log_mu = rng.normal(3.0, 1.8, len(genes))
    effect = np.where(rng.random(len(genes)) < 0.15, rng.normal(0, 0.6, len(genes)), 0.0)
    stage = cond / max(1, len(conds) - 1)
    mu = np.exp(log_mu[None, :] + stage[:, None] * effect[None, :]) * rng.uniform(0.6, 1.4, (n, 1))
    counts = rng.negative_binomial(5.0, 5.0 / (5.0 + mu))
    df = pd.DataFrame(counts, index=[f"{acc}_S{j:03d}" for j in range(n)], columns=genes)
    path = _counts_file(acc)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t")


def _fake_load(acc, *, samples=None, metadata_only=False, **kwargs):
    """A labelled cohort read from its counts file in the cache (as load_cohort returns one)."""
    import mgtranscript as mg

    if acc not in SYNTHETIC or metadata_only:
        raise FetchError(f"{acc}: not available in this test")
    conds, dis, n, _ = SYNTHETIC[acc]
    path = _counts_file(acc)
    counts = pd.read_csv(path, sep="\t", index_col=0)
    idx = np.arange(counts.shape[0]) % len(conds)
    obs = pd.DataFrame({"condition": pd.Categorical([conds[i] for i in idx], categories=list(conds)),
                        "disease": pd.Categorical([dis[i] for i in idx], categories=list(dict.fromkeys(dis))),
                        "cohort": acc}, index=counts.index)
    a = ad.AnnData(counts.to_numpy(dtype=float), obs=obs, var=pd.DataFrame(index=counts.columns))
    a.layers["counts"] = a.X.copy()
    mg.pp.log2_cpm(a, layer="counts")
    a.uns["geo"] = {"files": {"supplementary": {"url": _url(acc),
                                                "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}}
    a.uns["labels"] = {"check": {"status": "ok"}}
    return a


@pytest.fixture
def synthetic(tmp_path, monkeypatch):
    """Two synthetic cohorts in a temporary cache; every other cohort unavailable."""
    from mgtranscript import datasets, genesets, settings

    settings.cache_dir = tmp_path / "cache"  # offline, no mirror, no samples dir: the isolated settings
    genes = _genes()
    for acc, (*_, seed) in SYNTHETIC.items():
        _write_counts(acc, seed, genes)
    monkeypatch.setattr(datasets, "load_cohort", _fake_load)
    monkeypatch.setattr(genesets, "mechanism_sets", lambda: _mechanisms(genes))
    return tmp_path


def _run(out: Path, **kw):
    from mgtranscript.pipeline import run_analysis

    kw = {"cohorts": ["GSE126848", "GSE167523", "GSE142530"], "permutations": 20, "plots": False,
          "report": False, "progress": False, **kw}
    return run_analysis(out, **kw)


def _tables(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "tables").glob("*.tsv"))}


def _sources(out: Path) -> dict[str, str]:
    return json.loads((out / "provenance.json").read_text())["run"]["cohort_sources"]


@pytest.mark.slow
def test_processes_and_a_dask_cluster_give_the_tables_of_the_serial_run(synthetic):
    distributed = pytest.importorskip("distributed")

    serial = _run(synthetic / "serial", jobs=1, use_cache=False)
    assert list(serial.cohorts["status"][:3]) == ["analysed", "analysed", "unavailable"]
    assert len(serial.effects) > 100 and set(serial.effects["cohort"]) == {"GSE126848", "GSE167523"}
    _run(synthetic / "processes", jobs=2, use_cache=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        # an active client is found without being passed
        on_dask = _run(synthetic / "dask_active", use_cache=False)
        # the command line connects to a scheduler and passes its client to the run (client=)
        from mgtranscript.cli import main

        assert main(["run", "--out", str(synthetic / "cli"), "--cohorts", "GSE126848", "GSE167523", "GSE142530",
                     "--permutations", "20", "--no-plots", "--no-cache", "-q",
                     "--scheduler", cluster.scheduler_address]) == 0
    want = _tables(synthetic / "serial")
    assert len(want) >= 20
    for name in ("processes", "dask_active", "cli"):
        got = _tables(synthetic / name)
        assert got.keys() == want.keys(), name
        assert [t for t in want if got[t] != want[t]] == [], name
    pd.testing.assert_frame_equal(on_dask.claims, serial.claims)


@pytest.mark.slow
def test_a_rerun_takes_cohorts_from_the_result_cache_and_a_changed_input_does_not(synthetic, monkeypatch):
    first = _run(synthetic / "first")
    assert _sources(synthetic / "first") == {"GSE126848": "computed", "GSE167523": "computed"}
    kept = sorted(p.name.split("-")[0] for p in (synthetic / "cache" / ".pipeline" / "results").glob("*.npz"))
    assert kept == ["GSE126848", "GSE167523"]

    again = _run(synthetic / "again", jobs=1)
    assert _sources(synthetic / "again") == {"GSE126848": "result cache", "GSE167523": "result cache"}
    assert _tables(synthetic / "again") == _tables(synthetic / "first")
    pd.testing.assert_frame_equal(again.effects, first.effects)
    assert set(again.features) == {"GSE126848", "GSE167523"} and again.rankings["GSE167523"].equals(
        first.rankings["GSE167523"])

    # one input file changes: that cohort is loaded and analysed again, the other is reused
    _write_counts("GSE167523", 99, _genes())
    _run(synthetic / "changed", jobs=1)
    assert _sources(synthetic / "changed") == {"GSE126848": "result cache", "GSE167523": "computed"}
    changed = _tables(synthetic / "changed")
    assert changed["de_GSE126848.tsv"] == _tables(synthetic / "first")["de_GSE126848.tsv"]
    assert changed["de_GSE167523.tsv"] != _tables(synthetic / "first")["de_GSE167523.tsv"]

    # other mechanism gene sets (same names, one gene fewer): other results
    from mgtranscript import genesets

    fewer = {k: v[:-1] if k == "HALLMARK_INFLAMMATORY_RESPONSE" else v for k, v in _mechanisms(_genes()).items()}
    monkeypatch.setattr(genesets, "mechanism_sets", lambda: fewer)
    _run(synthetic / "sets", jobs=1)
    assert set(_sources(synthetic / "sets").values()) == {"computed (parsed cohort from the cache)"}
    # use_cache=False beside a full cache: test_a_cohorts_own_figures_are_drawn_early_and_a_rerun_copies_the_figures
    # clearing the download cache clears what the runs kept beside it
    from mgtranscript.fetch import clear_cache

    clear_cache()
    assert not (synthetic / "cache" / ".pipeline").exists()


def test_the_cache_format_reads_back_exactly_and_refuses_what_it_cannot_hold(tmp_path):
    from mgtranscript.pipeline._codec import Uncacheable, dump, load, same

    mixed = pd.Series(["a", np.nan, None, True, np.float64(-0.0), pd.NA, 3], dtype=object)
    df = pd.DataFrame({"x": [1.5, -0.0, np.nan, np.inf, 2.0, 1e-300, 7.0], "n": np.arange(7),
                       "flag": [True, False] * 3 + [True], "mixed": mixed.to_numpy(),
                       "cat": pd.Categorical(list("abcabca"), categories=["c", "b", "a"])},
                      index=[f"s{i}" for i in range(7)])
    value = {"table": df, "ranking": pd.Series([0.5, -1.0], index=["G1", "G2"], name="stat"),
             "nested": {"t": (1, "two", 3.0), "k": [np.int64(4), np.float32(0.1)], 5: None},
             "adata": ad.AnnData(np.ones((3, 2)), obs=pd.DataFrame(index=["a", "b", "c"]),
                                 var=pd.DataFrame(index=["g1", "g2"]), uns={"geo": {"sha256": "x" * 64}})}
    dump(value, tmp_path / "entry.npz")
    back = load(tmp_path / "entry.npz")
    assert same(value, back)
    assert back["table"]["mixed"].map(type).tolist() == mixed.map(type).tolist()
    assert str(back["table"].loc["s1", "x"]) == "-0.0" and list(back["table"]["cat"].cat.categories) == ["c", "b", "a"]
    assert not same(df, df.assign(x=df["x"].fillna(0.0)))
    with np.load(tmp_path / "entry.npz", allow_pickle=False) as z:  # no pickled object in the file
        assert all(z[k].dtype != object for k in z.files)
    with pytest.raises(Uncacheable):
        dump({"f": object()}, tmp_path / "nope.npz")
    assert not (tmp_path / "nope.npz").exists()


def test_the_default_plan_comes_from_the_catalog():
    from mgtranscript.datasets import catalog, cohort_info
    from mgtranscript.pipeline import DEFAULT_COHORTS

    assert DEFAULT_COHORTS == ("GSE126848", "GSE167523", "GSE135251", "GSE77314", "GSE142530", "GSE28619",
                               "GSE48452", "GSE89632", "GSE14520", "GSE76427", "GSE36376", "TCGA-LIHC")
    orders = [cohort_info(a)["plan_order"] for a in DEFAULT_COHORTS]
    assert orders == sorted(orders) and set(DEFAULT_COHORTS) <= set(catalog()["accession"])


def test_written_files_are_found_in_the_output_folder_after_the_swap(tmp_path):
    """A run writes into a temporary folder that then becomes out_dir: the result's figure and report
    paths point into out_dir without being rewritten."""
    from mgtranscript.pipeline import AnalysisResult

    work, out = tmp_path / ".out.tmp-1-ab", tmp_path / "out"
    res = AnalysisResult(out_dir=out)
    res.writing_in(work)
    res.figures = [("claims", work / "figures" / "R1.png", "R1 per cohort")]
    res.report = work / "report.html"
    assert res.figures == [("claims", out / "figures" / "R1.png", "R1 per cohort")]
    assert res.report == out / "report.html"
    res.figures = [("x", tmp_path / "elsewhere.png", "kept as given")]
    assert res.figures[0][1] == tmp_path / "elsewhere.png"


@pytest.mark.slow
def test_a_cohorts_own_figures_are_drawn_early_and_a_rerun_copies_the_figures(synthetic, monkeypatch):
    """Each cohort's own figures (scores, heatmap, volcano) start drawing as soon as its result is
    here, and are the files drawing everything at the end gives; a rerun with the same result copies
    the figures of the first run instead of drawing them; without the cache every cohort is computed and every figure drawn."""
    from mgtranscript.claims import load_claims
    from mgtranscript.pipeline import _runner
    from mgtranscript.report import CohortFigures

    no_claims = load_claims().iloc[0:0]  # the cohorts' figures only (no claim figures)
    submitted: list[str] = []
    real_submit = CohortFigures.submit

    def spy(self, res, accession, cohort_row=None):
        submitted.append(accession)
        return real_submit(self, res, accession, cohort_row)

    monkeypatch.setattr(CohortFigures, "submit", spy)

    def figures(name: str) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in (synthetic / name / "figures").glob("*.png")}

    def said(name: str) -> str | None:
        return json.loads((synthetic / name / "provenance.json").read_text())["run"].get("figures")

    one = ["GSE167523", "GSE142530"]  # one cohort analysed, one unavailable
    _run(synthetic / "early", cohorts=one, jobs=1, plots=True, claims=no_claims)
    assert submitted == ["GSE167523"]  # analysed cohorts only, as each finished
    assert said("early") is None
    early = figures("early")
    assert {"scores_GSE167523.png", "volcano_GSE167523.png", "overview_contrasts.png"} <= early.keys()

    _run(synthetic / "again", cohorts=one, jobs=1, plots=True, claims=no_claims)  # the same result: copied
    assert said("again") == "copied from an earlier run with the same result"
    assert figures("again") == early

    monkeypatch.setattr(_runner._EarlyFigures, "submit", lambda self, cr: None)  # everything at the end
    _run(synthetic / "end", cohorts=one, jobs=1, plots=True, claims=no_claims, use_cache=False)  # no cache at all
    assert said("end") is None
    assert set(_sources(synthetic / "end").values()) == {"computed"}  # beside a full result cache
    end = figures("end")
    assert end.keys() == early.keys()
    assert [n for n in end if early[n] != end[n]] == []


def test_background_drawing_is_stopped_only_when_an_earlier_run_s_figures_are_copied(tmp_path, monkeypatch):
    """Without a kept figure set the cohorts still drawing in the background go on while the report
    draws the rest (the report takes them as they are); with one, they are stopped before it is copied in."""
    import mgtranscript.report as report_mod
    from mgtranscript.pipeline import AnalysisResult, _runner
    from mgtranscript.pipeline._figcache import FigureCache

    calls: list[str] = []

    class Background:
        def finish(self):
            calls.append("finish")
            return []

    monkeypatch.setattr(report_mod, "write_report",
                        lambda res, out, drawn=None, **kw: calls.append(f"report drawn={type(drawn).__name__}"))
    cache = FigureCache(root=tmp_path / "figcache")
    out = tmp_path / "out"
    (out / "tables").mkdir(parents=True)
    res = AnalysisResult(out_dir=out)
    _runner._draw(res, out, plots=True, report=True, svg=False, drawn=Background(), figure_cache=cache)
    assert calls == ["report drawn=Background"]  # a miss: nothing stopped, the report takes the background
    key = cache.key(res, out, svg=False)
    (cache.root / key[:40]).mkdir(parents=True)
    (cache.root / key[:40] / "overview_contrasts.png").write_bytes(b"kept")
    calls.clear()
    _runner._draw(res, out, plots=True, report=True, svg=False, drawn=Background(), figure_cache=cache)
    assert calls == ["finish", "report drawn=list"]
    assert (out / "figures" / "overview_contrasts.png").read_bytes() == b"kept"
