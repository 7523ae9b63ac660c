"""Report tables that say what their numbers are: g_z vs g_av of paired comparisons, the survival
table's exclusions and proportional-hazards checks, and which tests voted."""

from __future__ import annotations

import copy
import html as html_mod
import re

import pytest

from mgtranscript.report import write_report

from support.report_lint import lint, tables


@pytest.fixture(scope="module")
def page(tmp_path_factory, synthetic_result):
    res = copy.deepcopy(synthetic_result)
    out = tmp_path_factory.mktemp("tables") / "out"
    html = write_report(res, out, figures=False).read_text(encoding="utf-8")
    return res, html


def _section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}">')
    end = html.find("<section id=", start + 10)
    return html[start:end if end > 0 else None]


def _text(fragment: str) -> str:
    return " ".join(html_mod.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_tables_pass_the_lint(page):
    assert lint(page[1]) == []


def test_paired_comparisons_show_g_z_and_g_av(page):
    """``hedges_g`` of a paired row is g_z: said so, with g_av (what the claims vote on) beside it."""
    res, html = page
    tabs = [t for t in tables(_section(html, "scores")) if t["head"] and "Hedges' g [95% CI]" in t["head"]]
    paired = [t for t in tabs if "paired" in t["head"]]  # one table per cohort: GSE77314 is the paired one
    assert len(paired) == 1 and len(tabs) == res.comparisons["cohort"].nunique()
    paired = paired[0]
    unpaired = [t for t in tabs if "paired" not in t["head"]]
    g, gav = paired["head"].index("Hedges' g [95% CI]"), paired["head"].index("g_av [95% CI]")
    assert all(r[g].startswith("g_z ") for r in paired["rows"])
    cmp = res.comparisons
    row = cmp[(cmp["cohort"] == "GSE77314") & (cmp["feature"] == "MG_EFFLUX_EXCHANGE")].iloc[0]
    shown = next(r for r in paired["rows"] if r[1] == "Mg efflux/exchange")
    assert shown[gav].startswith(f"{row['g_av']:.2f}".replace("-", "−"))
    assert shown[g].startswith(f"g_z {row['hedges_g']:.2f}".replace("-", "−"))
    assert not any("g_av [95% CI]" in t["head"] or any("g_z" in c for r in t["rows"] for c in r) for t in unpaired)


def test_paired_vote_is_named_g_av(page):
    res, html = page
    ev = res.claims_evidence
    for cid in ("R1-HCC", "R1-MASLD"):
        voted = ev[(ev["claim_id"] == cid) & ev["used"] & (ev["role"] == "primary")]
        line = re.search(rf'<details class="cl" id="row-{cid}"[^>]*>(.*?)</details>', html, re.S).group(1)
        text = _text(line)
        paired = voted["design"].str.startswith("paired")
        if paired.all():
            assert "Hedges' g (g_av, paired)" in text, cid
        elif paired.any():
            assert "Hedges' g (g_av for paired cohorts)" in text, cid
        else:
            assert "g_av" not in text and "Hedges' g" in text, cid
    tests = [t for t in tables(_section(html, "evidence")) if t["title"] == "Tests behind this verdict"]
    eff = [(r[t["head"].index("cohort")], r[t["head"].index("test")], r[t["head"].index("effect")])
           for t in tests for r in t["rows"]]
    assert ("GSE77314", "Hedges' g (g_av, paired)") in {(c, e) for c, _, e in eff}
    # a row whose test is g_av is named so; other g rows (unpaired, covariate-adjusted) stay Hedges' g
    assert all((e == "Hedges' g (g_av, paired)") == test.startswith("Hedges' g_av") for _, test, e in eff)
    assert ("GSE126848", "Hedges' g") in {(c, e) for c, _, e in eff}


def test_tests_behind_a_verdict_mark_the_rows_that_voted(page):
    res, html = page
    ev = res.claims_evidence
    block = _section(html, "evidence")
    block = block[block.index('id="claim-R1-HCC"'):]
    block = block[:block.index('class="claim-ev"', 10)]
    t = next(t for t in tables(block) if t["title"] == "Tests behind this verdict")
    voted = [r[t["head"].index("voted")] for r in t["rows"]]
    n_used = int(ev[(ev["claim_id"] == "R1-HCC")]["used"].sum())
    assert voted.count("yes") == n_used >= 1 and voted[:n_used] == ["yes"] * n_used  # the vote first
    assert set(voted) == {"yes", "no"}


def test_survival_table_says_who_was_left_out_and_whether_hazards_are_proportional(page):
    res, html = page
    t = next(t for t in tables(_section(html, "survival")) if "HR per SD [95% CI]" in t["head"])
    for col in ("excluded", "PH test p", "PH violated", "PH test p, adjusted model", "PH violated, adjusted model"):
        assert col in t["head"], col
    rows = {r[0]: dict(zip(t["head"], r)) for r in t["rows"]}
    assert rows["TRPM7"]["PH violated"] == "yes" and rows["SLC41A3"]["PH violated"] == "no"
    assert rows["TRPM7"]["PH test p, adjusted model"] == "0.03"
    assert rows["SLC41A3"]["excluded"] == "2: 2 without follow-up (days to last contact missing)"


def test_tables_the_pipeline_wrote_are_not_written_twice(result, tmp_path):
    """The pipeline writes tables/ from the result before the report (one writer): with ``tables=False``
    the report leaves them as they are; by default it writes every table it links."""
    res = result
    for write in (False, True):
        out = tmp_path / str(write)
        (out / "tables").mkdir(parents=True)
        (out / "tables" / "claims.tsv").write_text("as the pipeline wrote it\n")
        write_report(res, out, figures=False, tables=write)
        kept = (out / "tables" / "claims.tsv").read_text() == "as the pipeline wrote it\n"
        assert kept is not write
        assert (out / "tables" / "comparisons.tsv").is_file() is write
        assert (out / "report.html").is_file()
