"""Tests of mgtranscript.report: a self-contained HTML report that renders in Chromium."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from mgtranscript.errors import InputDataError
from mgtranscript.report import PACKAGES, SECTION_IDS, Report, build_report, package_versions

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p and Path(p).exists()), None)


def _red_figure() -> Figure:
    fig = Figure(figsize=(4, 2), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.add_patch(__import__("matplotlib.patches", fromlist=["Rectangle"]).Rectangle((0, 0), 1, 1, color="#ff0000"))
    ax.set_axis_off()
    return fig


def _standard(tmp_path: Path) -> tuple[Report, Path]:
    inp = tmp_path / "GSE126848_series_matrix.txt.gz"
    inp.write_bytes(b"synthetic input bytes")
    line = Figure(figsize=(4, 3))
    line.add_subplot().plot([0, 1, 2], [1, 0, 2])
    svg = tmp_path / "fig.svg"
    line.savefig(svg, format="svg")
    cohorts = pd.DataFrame({"accession": ["GSE126848", "GSE77314"], "disease": ["MASLD", "HCC"],
                            "n": [57, 100]})
    counts = pd.DataFrame({"healthy": [14, 0], "NASH": [16, 0], "tumour": [0, 50]},
                          index=pd.Index(["GSE126848", "GSE77314"], name="cohort"))
    coverage = pd.DataFrame({"n_genes": [19], "final_size": [18], "missing": ["TRPM6"]},
                            index=pd.Index(["MG_LIVER_CORE"], name="set"))
    comparisons = pd.DataFrame({"set": ["MG_LIVER_CORE"] * 80, "contrast": [f"c{i}" for i in range(80)],
                                "pval": np.linspace(1e-6, 1, 80)})
    rep = build_report(
        cohorts=cohorts, sample_counts=counts, coverage=coverage, comparisons=comparisons,
        enrichment={"GSEA prerank": pd.DataFrame({"set": ["MG_LIVER_CORE"], "nes": [-1.8], "fdr": [0.01]})},
        meta=None,
        claims="- **C1** CNNM4 is lower in NASH: *supported*\n- C2 TRPM7 <up> in HCC: `not tested`",
        provenance={"accessions": ["GSE126848", "GSE77314"], "files": [inp]},
        figures={"comparisons": [(_red_figure(), "Solid red test figure")], "enrichment": [(svg, "SVG file")]},
        params={"method": "ssgsea", "min_size": 1, "gene_sets": ["magnesium"]},
        subtitle="synthetic <test> run",
    )
    return rep, rep.write(tmp_path / "out" / "report.html")


def test_standard_report_is_self_contained_and_complete(tmp_path):
    rep, path = _standard(tmp_path)
    text = path.read_text()
    ids = re.findall(r'<section id="([^"]+)"', text)
    assert tuple(ids) == SECTION_IDS
    # self-contained: no external resources and no scripts
    assert not re.search(r'(src|href)="(?!data:|#|https?://)', text)
    assert not re.search(r'src="https?://', text) and "<link" not in text and "<script" not in text
    assert text.count('<img src="data:image/png;base64,') == 1
    assert text.count('<img src="data:image/svg+xml;base64,') == 1
    # escaping and markdown
    assert "synthetic &lt;test&gt; run" in text and "<test>" not in text
    assert "<strong>C1</strong>" in text and "<em>supported</em>" in text and "<code>not tested</code>" in text
    assert "TRPM7 &lt;up&gt; in HCC" in text
    # long table truncated with a note; Not-run section says so
    assert "Showing 50 of 80 rows." in text
    assert re.search(r'<section id="meta-analysis">.*?Not run\.', text, re.S)
    # provenance: sha256 of every input, versions, parameters, accessions
    prov = text[text.index('<section id="provenance">'):]
    digest = hashlib.sha256(b"synthetic input bytes").hexdigest()
    assert digest in prov and "GSE77314" in prov
    versions = package_versions()
    for pkg in PACKAGES:
        assert f"<td>{pkg}</td><td>{versions[pkg]}</td>" in prov
    assert "ssgsea" in prov and "[&#x27;magnesium&#x27;]" in prov


def test_report_builder_api(tmp_path):
    rep = Report("Title & more")
    sec = rep.section("results", "Results", intro="Intro <b>")
    assert sec.text("plain").table(pd.DataFrame({"x": [0.123456, 12345.678]}), floatfmt="{:.2f}") is sec
    with pytest.raises(InputDataError, match="already exists"):
        rep.section("results", "Again")
    with pytest.raises(InputDataError, match="letter"):
        rep.section("bad id", "Bad")
    with pytest.raises(InputDataError, match="does not exist"):
        sec.figure(tmp_path / "missing.png", caption="x")
    png = tmp_path / "a.png"
    _red_figure().savefig(png)
    sec.figure(png, caption="from file")
    html = rep.to_html()
    assert "<title>Title &amp; more</title>" in html and "Intro &lt;b&gt;" in html
    assert '<td class="num">0.12</td>' in html and '<td class="num">12345.68</td>' in html
    assert 'href="#results"' in html and html.count("data:image/png;base64,") == 1
    with pytest.raises(InputDataError, match="unknown sections"):
        build_report(figures={"nope": []})


def _chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome-profile'}"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it)")
def test_report_renders_in_chromium(tmp_path):
    _, path = _standard(tmp_path)
    url = path.resolve().as_uri()
    dom = _chromium(["--dump-dom", url], tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in html
    headings = re.findall(r"<h2>([^<]+)</h2>", html)
    assert len(headings) == len(SECTION_IDS) and headings[-1] == "Provenance"
    assert len(re.findall(r"<img ", html)) == 2
    # screenshot: the embedded red figure (first figure, comparisons section) is decoded and drawn
    shot = tmp_path / "shot.png"
    res = _chromium([f"--screenshot={shot}", "--window-size=1280,6000", "--hide-scrollbars", url], tmp_path)
    assert shot.is_file(), res.stderr[-2000:]
    img = mpimg.imread(shot)[..., :3]
    red = (img[..., 0] > 0.9) & (img[..., 1] < 0.1) & (img[..., 2] < 0.1)
    assert red.sum() > 50_000  # the 440 x 220 px red image (4 x 2 in at 110 dpi) is on screen
