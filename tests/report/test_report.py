"""The report a reader gets: answers first, evidence one click away, readable in a real browser.

The synthetic result (tests/support/report_fixture.py) has 4 analysed cohorts, 4 that were not,
the project's 28 claims and every table of the result schema. The report is drawn once per
session (figures included; ``drawn_report`` in tests/report/conftest.py) and opened in headless
Chromium at 1280 px; the report of the README tour's real run (``tour_run``) too.
"""

from __future__ import annotations

import copy
import html as _html
import re

import pandas as pd
import pytest

from mgtranscript import pl
from mgtranscript.errors import InputDataError
from mgtranscript.report import Report, draw_figures, write_report
from mgtranscript.report._format import abbreviate, fmt_est_ci, fmt_odds, fmt_p, gene_list
from mgtranscript.report import SECTION_IDS

from support.paths import SHARED
from support.report_browser import CHROMIUM, probe


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium cannot be installed here (.ci/run installs it)")


def _visible_text(html: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    body = re.sub(r'\s(title|alt|data-v)="[^"]*"', " ", body)
    body = re.sub(r'src="data:[^"]+"', " ", body)
    return _html.unescape(re.sub(r"<[^>]+>", " ", body))


def _section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}">')
    end = html.find("<section id=", start + 10)
    return html[start:end if end > 0 else None]


# --------------------------------------------------------------------------------------
# numbers and names for people
# --------------------------------------------------------------------------------------


def test_numbers_for_people():
    assert fmt_p(3e-13) == "< 1e-10" and fmt_p(0.0421) == "0.042" and fmt_p(0.31) == "0.31"
    assert fmt_p(2.44e-9) == "2.4e-9" and fmt_p(float("nan")) == "—"
    assert fmt_p(0.0, floor=1 / 1001) == "< 0.001"  # a permutation p of 0
    assert fmt_est_ci(-0.523, -0.8, -0.23) == "−0.52 [−0.80, −0.23]"
    assert fmt_odds(float("inf")) == "all overlapping genes in set" and fmt_odds(2.5) == "2.50"
    shown, full = abbreviate("word " * 40, 30)
    assert len(shown) <= 31 and shown.endswith("…") and full == ("word " * 40)
    assert gene_list("A;B;C;D;E;F;G;H", 3) == ("A, B, C + 5 more", "A, B, C, D, E, F, G, H")


def test_set_and_group_names_in_words():
    assert pl.set_label("MG_EFFLUX_EXCHANGE") == "Mg efflux/exchange"
    assert pl.set_label("HALLMARK_TNFA_SIGNALING_VIA_NFKB") == "Hallmark: TNF-α signaling via NF-κB"
    assert pl.set_label("REACTOME_SIGNALING_BY_INSULIN_RECEPTOR") == "Reactome: signaling by insulin receptor"
    assert pl.group_label("hcc_nontumour") == "HCC non-tumour"
    assert pl.feature_label("CNNM4", {"expression_units": "log2 CPM (TMM)"}) == "CNNM4 expression\nlog2 CPM (TMM)"
    # one colour per group, every group of the catalog distinct within its disease
    for groups in (("healthy", "obese", "NAFL", "NASH"), ("normal", "alcoholic_hepatitis", "alcohol_cirrhosis"),
                   ("hcc_nontumour", "hcc_tumour", "hcc_recurrent"), ("control", "MASLD", "ALD", "HCC")):
        assert len({pl.group_colour(g) for g in groups}) == len(groups)
    assert pl.group_colour("some new group") == pl.group_colour("some new group")


# --------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------


def test_answers_come_first(drawn_report):
    res, _, html = drawn_report
    ids = re.findall(r'<section id="([^"]+)"', html)
    assert tuple(ids) == SECTION_IDS
    assert ids[:3] == ["bottom-line", "claims", "overview"]
    asked = _section(html, "asked")
    assert "Ji L, Yu H, Wang R" in asked and "Front. Nutr. 2026" in asked
    review = SHARED / "seed" / "review_abstract.txt"
    if review.is_file():  # our words, not the abstract's sentences
        for sentence in re.split(r"(?<=\.)\s+", review.read_text()):
            if len(sentence) > 60:
                assert sentence.strip() not in asked
    # a card per analysed cohort with its groups and n; the others one line each, full reason behind a disclosure
    for acc in ("GSE126848", "GSE167523", "GSE77314", "TCGA-LIHC"):
        assert '<span class="acc"' in asked and f">{acc}</span>" in asked
    assert "healthy 14" in asked and "NASH 16" in asked and "HCC tumour 371" in asked
    na = asked[asked.index('<ul class="na">'):]
    lines = re.findall(r"<li>(.*?)</li>", na, re.S)
    assert len(lines) == 4
    for line in lines:
        visible = re.sub(r"<details>.*?</details>", "", line, flags=re.S)
        assert "https://" not in visible  # URLs only behind the disclosure
        acc = re.search(r"<b>([^<]+)</b>", line).group(1)
        assert f"{acc}: " not in _visible_text(visible)  # the accession is said once, not again in the reason
    assert "https://ftp.ncbi.nlm.nih.gov/geo/series/GSE142nnn" in na  # the full reason is kept


def _area_rows(html: str) -> dict[str, str]:
    bl = _section(html, "bottom-line")
    return dict(re.findall(r'<tr class="bl-area" data-area="([^"]+)">(.*?)</tr>', bl, re.S))


def test_bottom_line_says_per_disease_area_which_claims_hold(drawn_report):
    """Per disease area: one sentence written from the verdicts, and a chip per claim (verdict colour,
    certainty dots unless not testable) linking to the claim's line."""
    res, _, html = drawn_report
    rows = _area_rows(html)
    claims = res.claims
    assert list(rows) == ["MASLD", "ALD", "HCC", "DILI", "any"]
    for area, row in rows.items():
        sub = claims[claims["disease"] == area]
        chips = re.findall(r'<a class="chip v-([a-z-]+)" href="#row-([^"]+)"[^>]*>(.*?)</a>', row, re.S)
        assert sorted(c[1] for c in chips) == sorted(sub["claim_id"])
        for verdict, cid, body in chips:
            c = sub[sub["claim_id"] == cid].iloc[0]
            assert verdict == c["verdict"].replace(" ", "-")
            assert ("●" in body or "○" in body) == (c["verdict"] != "not testable")
        sentence = _html.unescape(re.search(r'<div class="bl-sentence">(.*?)</div>', row).group(1))
        counts = sub["verdict"].value_counts()
        if counts.get("not testable", 0) == len(sub):
            assert re.match(r"^(All \d+ claims|Its one claim is) not testable", sentence), sentence
            continue
        for verdict, k in counts.items():  # every count in the sentence is the count of that verdict
            assert re.search(rf"(^|\W){k}( of {len(sub)} claims?)? {verdict}", sentence), (area, sentence)
        decisive = sub[sub["verdict"].isin(["supported", "contradicted"])]
        for coh in {c for cs in decisive["cohorts"] for c in cs.split(";") if c}:
            assert coh in sentence
        if any("GSE126848" in c for c in decisive["cohorts"]):  # flagged in the fixture's design audit
            assert "GSE126848, which has design flags" in sentence or "design flags: GSE126848)" in sentence
        order = ["very low", "low", "moderate", "high"]
        levels = sorted(set(sub.loc[sub["verdict"] != "not testable", "certainty"]), key=order.index)
        assert sentence.endswith(f"Certainty {levels[0]}" + (f" to {levels[-1]}." if len(levels) > 1 else "."))
    assert "no ALD cohort could be analysed (GSE142530 unavailable, GSE28619 unavailable, GSE94397 failed)" in \
        _html.unescape(rows["ALD"])


def test_area_sentence_from_verdicts():
    from mgtranscript.report._bottomline import area_sentence

    claims = pd.DataFrame({
        "claim_id": ["A", "B", "C", "D", "E"], "disease": ["HCC"] * 4 + ["ALD"],
        "verdict": ["supported", "supported", "contradicted", "not testable", "not testable"],
        "certainty": ["low", "moderate", "low", "very low", "very low"],
        "cohorts": ["GSE77314", "GSE77314", "GSE77314", "", ""]})
    cohorts = pd.DataFrame({"accession": ["GSE77314", "GSE142530"], "disease_area": ["HCC", "ALD"],
                            "status": ["analysed", "unavailable"]})
    assert area_sentence(claims, "HCC", cohorts) == ("HCC: 2 of 4 claims supported and 1 contradicted, all in one "
                                                     "cohort (GSE77314); 1 not testable. Certainty low to moderate.")
    assert area_sentence(claims, "ALD", cohorts) == ("ALD: its one claim is not testable: no ALD cohort could be "
                                                     "analysed (GSE142530 unavailable).")
    assert area_sentence(claims.assign(disease="ALD"), "ALD", cohorts, named=False).startswith(
        "2 of 5 claims supported and 1 contradicted, all in one cohort (GSE77314); 2 not testable.")
    assert "all in one cohort (GSE77314, which has design flags)" in area_sentence(claims, "HCC", cohorts,
                                                                                   flagged=["GSE77314"])
    general = pd.DataFrame({"claim_id": ["G1", "G2", "G3"], "disease": "any", "verdict": "not testable",
                            "certainty": "", "cohorts": "",
                            "reason": ["an interventional statement: only a trial can test it"] * 2
                            + ["needs gut-side measurements (microbiome), which liver transcriptomes do not hold"]})
    assert area_sentence(general, "any", cohorts) == (
        "Liver disease in general: all 3 claims not testable: an interventional statement (2); needs gut-side "
        "measurements, which liver transcriptomes do not hold.")


def test_one_compact_line_per_claim_grouped_by_area(drawn_report):
    res, _, html = drawn_report
    claims = _section(html, "claims")
    lines = re.findall(r'<details class="cl" id="row-([^"]+)"[^>]*><summary>(.*?)</summary>(.*?)</details>',
                       claims, re.S)
    assert sorted(c for c, _, _ in lines) == sorted(res.claims["claim_id"])
    # grouped by disease area, in the bottom line's order, each area under its heading
    areas = re.findall(r'<h3 class="area" id="area-([^"]+)"', claims)
    assert areas == ["MASLD", "ALD", "HCC", "DILI", "any"]
    order = [res.claims.set_index("claim_id").loc[c, "disease"] for c, _, _ in lines]
    assert order == sorted(order, key=areas.index)
    assert "Claim (review statement)" not in html  # the source is said per claim instead
    by_id = res.claims.set_index("claim_id")
    for cid, line, body in lines:
        c = by_id.loc[cid]
        assert _html.escape(c["statement"], quote=True) in line  # in full, on the line
        assert f'class="badge v-{c["verdict"].replace(" ", "-")}">{c["verdict"]}</span>' in line
        src = re.search(r'<span class="src"[^>]*>(.*?)</span>', line).group(1)
        assert src == c["source"] and src in ("review", "cited study", "project proxy", "project hypothesis")
        assert _html.escape(c["citation"], quote=True) in body
        assert _html.escape(c["review_statement"], quote=True) in body  # the review's own words, in the details
        if c["verdict"] != "not testable":
            assert "certainty <b>" in line and c["certainty"] in line
            assert fmt_est_ci(c["effect"], c["ci_low"], c["ci_high"]) in line
            assert re.search(r"q (=|&lt;) ", line)
            assert f'href="#claim-{cid}"' in body and f'id="claim-{cid}"' in html
            for coh in c["cohorts"].split(";"):
                assert coh in body
        else:
            assert "certainty" not in line  # no certainty on a claim that was not tested
            assert f'id="claim-{cid}"' not in html
            assert _html.escape(c["reason"], quote=True) in line + body  # the reason, once
            assert (line + body).count(_html.escape(c["reason"][:40], quote=True)) == 1
    # a caveat every claim carries is said once, in the legend
    from support.report_fixture import TRANSCRIPT

    assert html.count(TRANSCRIPT) == 1 and f"Every verdict</strong>: {TRANSCRIPT}" in claims
    caveat = by_id.loc["R1-MASLD", "caveats"]
    assert "library sizes 26 M vs 13 M" in caveat and "library sizes 26 M vs 13 M" in claims


def test_source_and_certainty_reasons_shown_and_tolerated_when_absent(result, tmp_path):
    line = lambda html, cid: re.search(rf'<details class="cl" id="row-{cid}"[^>]*>(.*?)</details>', html,  # noqa: E731
                                       re.S).group(1)
    html = write_report(result, tmp_path / "out", figures=False).read_text(encoding="utf-8")
    prog = line(html, "R1-PROG")
    assert ">project proxy</span>" in prog
    reasons = result.claims.set_index("claim_id").loc["R1-PROG", "certainty_reasons"]
    assert reasons and _html.escape(reasons, quote=True) in prog
    # an older claims table without the columns: the source is read off the citation, no certainty row
    old = copy.deepcopy(result)
    old.claims = old.claims.drop(columns=["source", "certainty_reasons", "review_statement"])
    html = write_report(old, tmp_path / "old", figures=False).read_text(encoding="utf-8")
    assert ">review</span>" in line(html, "R1-PROG") and "<dt>Certainty</dt>" not in line(html, "R1-PROG")
    assert ">cited study</span>" in line(html, "L1")


def test_n_of_a_paired_comparison_in_pairs_and_samples(drawn_report):
    res, _, html = drawn_report
    line = re.search(r'<details class="cl" id="row-R1-HCC"[^>]*>(.*?)</details>', html, re.S).group(1)
    assert "GSE77314 50 pairs (100 samples)" in _visible_text(line)
    block = _section(html, "evidence")
    block = block[block.index('id="claim-R1-HCC"'):]
    assert ">50 pairs (100 samples)<" in block[:block.index('class="claim-ev"', 10)]


def test_evidence_per_testable_claim(drawn_report):
    res, out, html = drawn_report
    ev = _section(html, "evidence")
    testable = res.claims[res.claims["verdict"] != "not testable"]
    for cid in testable["claim_id"]:
        block = ev[ev.index(f'id="claim-{cid}"'):]
        block = block[:block.find('class="claim-ev"', 10)]
        assert block.count("<img ") >= 2, cid  # forest + feature (or scatter / trend / KM)
        assert "Tests behind this verdict" in block
        n_tests = int((res.claims_evidence["claim_id"] == cid).sum())
        assert f"— {n_tests} test" in block
        assert f'href="#row-{cid}"' in block  # links back to the verdict, caveats not repeated
        assert '<dl class="why">' not in block
        # every test row says which analysis it is: main (primary) or the sensitivity scenario
        tests = block[block.index("Tests behind this verdict"):]
        assert "<th title=" in tests and ">analysis</th>" in tests and ">main<" in tests
        assert ">scoring: gsva<" in tests
    # forest: a pooled diamond only where two cohorts were pooled
    assert "diamond: pooled over 2 cohorts" in ev[ev.index('id="claim-R1-HCC"'):ev.index('id="claim-R1-BAL-MASLD"')]
    assert "no pooled estimate (fewer than two cohorts)" in ev[ev.index('id="claim-R1-MASLD"'):
                                                                ev.index('id="claim-R1-HCC"')]


def test_identical_forest_rows_are_merged():
    """A mechanism with one gene set: its union IS that set; the set's rows repeat the union's and go,
    and the header says what they equal."""
    from mgtranscript.report._figures_claims import merge_identical

    per = pd.DataFrame({"cohort": ["A", "B", "A", "B", "A"],
                        "feature": ["MG~MECH_ER_STRESS"] * 2 + ["MG~HALLMARK_UNFOLDED_PROTEIN_RESPONSE"] * 2
                        + ["MG~HALLMARK_DNA_REPAIR"],
                        "estimate": [0.28, 0.01, 0.28, 0.01, 0.5], "ci_low": [-0.02, -0.19, -0.02, -0.19, 0.1],
                        "ci_high": [0.53, 0.21, 0.53, 0.21, 0.8]})
    kept, same = merge_identical(per)
    assert list(kept["feature"]) == ["MG~MECH_ER_STRESS"] * 2 + ["MG~HALLMARK_DNA_REPAIR"]
    assert same == {"MG~MECH_ER_STRESS": "Hallmark: unfolded protein response"}


def test_forest_pools_only_with_two_cohorts(result, tmp_path, monkeypatch):
    from mgtranscript.report import _figures as figmod

    calls = {}

    def fake(per, *, pooled=None, title="", **kw):
        calls[title.split(":")[0]] = (list(per["cohort"]), None if pooled is None else len(pooled))

    monkeypatch.setattr(pl, "effect_forest", fake)
    monkeypatch.setattr(figmod._Drawer, "claim_feature", lambda *a, **k: None)
    monkeypatch.setattr(figmod._Drawer, "cohorts", lambda *a, **k: None)
    draw_figures(result, tmp_path, on_error="raise")
    assert calls["R1-MASLD"] == (["GSE126848"], None)
    assert calls["R1-HCC"][1] == 1 and sorted(calls["R1-HCC"][0]) == ["GSE77314", "TCGA-LIHC"]
    assert calls["L8"][1] is None  # survival: one cohort


def test_caveats_in_full_in_the_claims_details(result, tmp_path):
    """A claim's caveats are listed in full in its details (opening in place), once."""
    from mgtranscript.report._format import caveat_headline

    full = ("GSE126848: recorded sex (gender) is unevenly distributed between groups (Cramér's V 0.42): "
            "MASLD: female 10/31, male 21/31; control: male 26/26")
    assert caveat_headline(full) == "GSE126848: recorded sex is unevenly distributed between groups"
    assert caveat_headline("TCGA-LIHC: library sizes differ: median 60 M vs 40 M") == "TCGA-LIHC: library sizes differ"
    assert caveat_headline("single cohort") == "single cohort"
    i = result.claims.index[result.claims["claim_id"] == "R1-MASLD"][0]
    result.claims.loc[i, "caveats"] = full + " | single cohort"
    result.out_dir = tmp_path / "out"
    html = write_report(result, result.out_dir, figures=False).read_text(encoding="utf-8")
    body = re.search(r'<details class="cl" id="row-R1-MASLD"[^>]*>.*?</summary>(.*?)</details>',
                     _section(html, "claims"), re.S).group(1)
    assert f"<li>{_html.escape(full, quote=True)}</li>" in body and "<li>single cohort</li>" in body
    assert _visible_text(html).count("female 10/31") == 1


def test_everything_else_grouped_collapsed_and_truncation_said(drawn_report):
    res, out, html = drawn_report
    coupling = _section(html, "coupling")
    assert '<details class="tbl">' in coupling
    n = int((res.coupling["cohort"] == "GSE126848").sum())
    assert f"<b>GSE126848</b>: showing 30 of {n:,} correlations" in coupling
    assert '<a href="tables/coupling.tsv">tables/coupling.tsv</a>' in coupling
    # every cohort's rows are shown (truncation per cohort, never one cohort crowding out another)
    for acc in ("GSE126848", "GSE167523", "GSE77314", "TCGA-LIHC"):
        assert f"<b>{acc}</b>: showing 30 of" in coupling
    de = _section(html, "de")
    assert "showing 30 of 6,000 genes" in de and 'href="tables/de_GSE77314.tsv"' in de
    # each linked table exists beside the report, without an index column
    for href in set(re.findall(r'href="(tables/[^"]+|figures/[^"]+)"', html)):
        assert (out / href).is_file(), href
    coup = pd.read_csv(out / "tables" / "coupling.tsv", sep="\t")
    assert list(coup.columns) == list(res.coupling.columns)
    # the trends are shown: figure and table
    trends = _section(html, "trends")
    assert trends.count("<img ") == 2 and "Ordered trends across stages" in trends


def test_numbers_in_the_report_are_for_people(drawn_report):
    res, _, html = drawn_report
    text = _visible_text(html)
    assert not re.search(r"\b(inf|nan|NaN|None)\b", text)
    enrichment = _visible_text(_section(html, "enrichment"))
    assert "all overlapping genes in set" in enrichment  # ORA odds ratio inf
    assert "< 0.001" in enrichment  # GSEA p = 0 with 1000 permutations
    assert "< 1e-10" in text
    gsea = _section(html, "enrichment")
    assert gsea.count("<th>FDR") + gsea.count(">FDR<") >= 1 and ">q<" not in gsea.split("Over-representation")[0]
    assert not re.search(r"<th[^>]*>\s*</th>", html)  # no unnamed (index) column
    assert "Unnamed" not in html
    # meta-analysis: only pooled rows with k >= 2
    meta = _section(html, "meta")
    assert "pooled effects" in meta and f"{len(res.meta)} pooled effects" in meta


def test_every_table_is_filled(drawn_report):
    """No rendered table has a column that says nothing (all empty, "None", "nan" or "—"), and no
    integer is printed as a float; the sensitivity, pairs and test tables show what their TSVs hold."""
    from support.report_lint import lint, tables

    res, _, html = drawn_report
    assert lint(html) == []
    tabs = tables(html)
    sens = [t for t in tabs if t["title"].startswith("Sensitivity:") or t["title"] == "All re-analyses"]
    assert sens and all({"effect [95% CI]", "cohorts", "verdict"} <= set(t["head"]) for t in sens)
    pairs = next(t for t in tabs if t["title"] == "Pairs flagged")
    assert [r[1] for r in pairs["rows"]] == ["GSE77314_P20", "GSE77314_P45"]
    assert all("pair" in r[-1] or "male" in r[-1] for r in pairs["rows"])


def test_table_lint_catches_blank_columns_and_float_integers():
    from support.report_lint import lint

    bad = ("<h3>T</h3><table><tr><th>cohort</th><th>n</th><th>x</th></tr><tr><td>—</td><td>100.0</td><td>1</td></tr>"
           "<tr><td>None</td><td>57</td><td>2</td></tr></table><p>n = 57.0</p>")
    problems = lint(bad)
    assert any("'cohort' is blank" in p for p in problems)
    assert any("'n' prints integers as floats (100.0)" in p for p in problems)
    assert any("n = 57.0" in p for p in problems)
    assert lint(bad.replace("—", "GSE1").replace("None", "GSE2").replace("100.0", "100").replace("57.0", "57")) == []


def test_design_flags_travel_with_the_cohort(drawn_report):
    """Every section showing a flagged cohort's data carries its flags as a banner linking to the audit,
    and each of its figures says so; the audit has the cohort's anchor."""
    res, _, html = drawn_report
    assert 'id="design-GSE126848"' in _section(html, "design") and 'id="design-GSE77314"' in _section(html, "design")
    for sid in ("scores", "genes", "de", "enrichment", "coupling", "trends"):
        sec = _section(html, sid)
        banner = re.search(r'<p class="flagbar">⚑ <b>GSE126848</b> — design flags: (.*?)</p>', sec)
        assert banner, sid
        assert "library sizes differ" in banner.group(1) and 'href="#design-GSE126848"' in banner.group(1)
        for cap in re.findall(r"<figcaption[^>]*>(.*?)</figcaption>", sec, re.S):
            if cap.startswith("<strong>GSE126848</strong>"):
                assert 'href="#design-GSE126848"' in cap, (sid, cap[:80])
    assert "2 of 50 pairs look mismatched" in _section(html, "scores")  # GSE77314's pairs
    assert "⚑ <b>GSE167523</b>" not in _section(html, "de")  # not flagged in the fixture


def test_overview_pictures_near_the_top(drawn_report):
    res, out, html = drawn_report
    ov = _section(html, "overview")
    assert ov.count("<img ") == 2
    assert "overview_contrasts.png" in ov and "overview_enrichment.png" in ov
    ids = re.findall(r'<section id="([^"]+)"', html)
    assert ids.index("overview") < ids.index("evidence")


def test_provenance_hashes_every_input(drawn_report):
    res, out, html = drawn_report
    prov = _section(html, "provenance")
    for f in res.inputs:
        assert f["sha256"] in prov
        assert _html.escape(f["url"], quote=True) in prov
    assert "81.2 kB" in prov and "14.1 MB" in prov  # bytes, for people
    for src in ("mirror", "cache", "sample sheet", "bundled"):
        assert f">{src}<" in prov
    assert ">matplotlib<" in prov and ">adjustText<" in prov
    assert ">permutations<" in prov and ">1000<" in prov and "log2 CPM (TMM)" in prov
    inputs = pd.read_csv(out / "tables" / "inputs.tsv", sep="\t")
    assert set(inputs["sha256"]) == {f["sha256"] for f in res.inputs}


def test_self_contained_and_png_by_default(drawn_report):
    res, out, html = drawn_report
    assert "<link" not in html
    assert not re.search(r'\ssrc="(?!data:image/png;base64,)', html)  # every image embedded as PNG
    for href in re.findall(r'href="([^"]+)"', html):
        assert href.startswith(("#", "tables/", "figures/")), href
    assert html.count("<script>") == 1
    pngs = sorted((out / "figures").glob("*.png"))
    assert len(pngs) == len(res.figures) == html.count("<img ")
    assert not list((out / "figures").glob("*.svg"))  # SVG only on request


@pytest.mark.slow
def test_svg_on_request_and_failed_figures_said(result, tmp_path, monkeypatch):
    res = result
    res.features = {"GSE77314": res.features["GSE77314"]}
    res.de = {"GSE77314": res.de["GSE77314"]}
    res.claims = res.claims[res.claims["claim_id"].isin(["R1-HCC", "R1-ALD"])].reset_index(drop=True)
    res.gsea = res.gsea.iloc[0:0]
    res.coupling = res.coupling.iloc[0:0]
    res.trends = res.trends.iloc[0:0]
    res.km = {}

    def broken(*a, **k):
        raise InputDataError("no gene has a finite effect and p-value.")

    monkeypatch.setattr(pl, "volcano", broken)
    path = write_report(res, tmp_path, svg=True)
    pngs = {p.stem for p in (tmp_path / "figures").glob("*.png")}
    svgs = {p.stem for p in (tmp_path / "figures").glob("*.svg")}
    assert pngs and pngs == svgs and "volcano_GSE77314" not in pngs
    text = path.read_text()
    assert "A figure could not be drawn: volcano_GSE77314: InputDataError" in text


def test_failed_report_leaves_the_earlier_one(result, tmp_path, monkeypatch):
    res = result
    path = write_report(res, tmp_path, figures=False)
    before = path.read_bytes()
    import mgtranscript.report as report_pkg

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_pkg.Report, "to_html", boom)
    with pytest.raises(RuntimeError):
        write_report(res, tmp_path, figures=False)
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_report_builder_api(tmp_path):
    rep = Report("Title & more", subtitle="sub <b>")
    sec = rep.section("results", "Results", intro="Intro <b>")
    df = pd.DataFrame({"cohort": ["A"] * 5 + ["B"] * 2, "pval": [1e-12, 0.5, 0.04, 0.2, 0.3, 0.9, 0.01],
                       "x": [0.123456, 12345.678, 1.0, 2.0, 3.0, 4.0, 5.0]}, index=list("abcdefg"))
    assert sec.text("plain").table(df, per="cohort", max_rows=3, tsv="tables/t.tsv", title="T") is sec
    with pytest.raises(InputDataError, match="already exists"):
        rep.section("results", "Again")
    with pytest.raises(InputDataError, match="letter"):
        rep.section("bad id", "Bad")
    with pytest.raises(InputDataError, match="does not exist"):
        sec.figure(tmp_path / "missing.png", caption="x")
    html = rep.to_html()
    assert "<title>Title &amp; more</title>" in html and "Intro &lt;b&gt;" in html
    assert "<b>A</b>: showing 3 of 5 rows" in html and "<b>B</b>: 2 rows" in html
    assert ">&lt; 1e-10<" in html and ">12,346<" in html
    assert ">a<" not in html  # the index is not a column


# --------------------------------------------------------------------------------------
# in a real browser
# --------------------------------------------------------------------------------------


def _first_screen_ok(r: dict, claims: pd.DataFrame) -> None:
    """At 1280 x 900 the first screen shows every disease area's sentence and all its verdicts."""
    areas = {row["area"]: row for row in r["first_screen"]}
    assert set(areas) == set(claims["disease"]) and r["height"] == 900
    for area, row in areas.items():
        n = int((claims["disease"] == area).sum())
        assert row["sentence_visible"], area
        assert row["chips"] == n and len(row["verdicts"]) == n, (area, row)


def _sorts(r: dict) -> None:
    def key(v):
        try:
            return (0, float(v), "")
        except ValueError:
            return (1, 0.0, v.lower())

    asc = [v for v in r["sorted_ascending"] if v != ""]
    assert asc and [key(v)[0] for v in asc] == sorted(key(v)[0] for v in asc)
    nums = [key(v)[1] for v in asc if key(v)[0] == 0]
    assert nums == sorted(nums)
    assert r["sorted_descending"] != r["sorted_ascending"] or len(set(asc)) == 1


@pytest.mark.slow
@needs_chromium
def test_report_in_chromium_at_1280px(drawn_report, tmp_path):
    res, out, _ = drawn_report
    r = probe(out / "report.html", tmp_path)
    assert r["width"] == 1280
    # the first screen gives the answers: a verdict for every claim of every disease area
    _first_screen_ok(r, res.claims)
    # no horizontal overflow, no table wider than the window (every <details> opened)
    assert r["scroll_width"] <= 1280 and r["scroll_width_open"] <= 1280
    assert r["tables"] > 20 and r["wide_tables"] == []
    assert r["images_wider_than_window"] == 0
    # every claim statement visible as the page opens; the first within the first 1,000 px
    assert sorted(r["statements"]) == sorted(res.claims["statement"])
    assert r["hidden_statements"] == []
    assert 0 < r["first_statement_top"] < 1000
    # every image decodes (drawn to a canvas: loaded and not blank)
    assert r["images"] == len(res.figures) > 40 and r["bad_images"] == []
    # no console errors, no page errors, no network request; links resolve; sorting works; a claim opens in place
    assert r["errors"] == [] and r["console"] == []
    assert r["resources"] == []
    assert r["broken_anchors"] == []
    assert all((out / h).is_file() for h in r["file_links"])
    _sorts(r)
    assert r["claim_opens_in_place"] is True


@pytest.mark.slow
@needs_chromium
def test_probe_catches_what_a_reader_would_stumble_on(tmp_path):
    """The browser checks can fail: a page with a wide table, a broken image and a JS error."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
        "<table><tr><td style='white-space:nowrap'>" + "x" * 400 + "</td></tr></table>"
        "<img src='data:image/png;base64,AAAA'><p class='claim-statement' style='display:none'>hidden</p>"
        "<a href='#nowhere'>x</a><script>console.error('boom'); undefinedFunction();</script></body></html>")
    r = probe(page, tmp_path / "w")
    assert r["scroll_width"] > 1280 and len(r["wide_tables"]) == 1
    assert r["bad_images"] == ["0: not loaded"]
    assert r["hidden_statements"] == ["hidden"]
    assert r["broken_anchors"] == ["#nowhere"]
    assert any("boom" in e for e in r["errors"]) and any("undefinedFunction" in e for e in r["errors"])
    assert any("boom" in c for c in r["console"])


@pytest.mark.slow
@needs_chromium
def test_real_run_report_in_chromium(tour_run, tmp_path):
    """The report of a real run on the mirror (the README tour's: GSE126848 unpaired MASLD, GSE77314 paired
    HCC, GSE167523): the bottom line on the first screen, every table filled, flags with the cohort's data."""
    from support.report_lint import lint, tables

    res, path = tour_run.result, tour_run.out / "report.html"
    html = path.read_text()
    assert all(acc in _section(html, "asked") for acc in ("GSE126848", "GSE167523", "GSE77314"))
    assert lint(html) == []
    pairs = [t for t in tables(html) if t["title"] == "Pairs flagged"]
    flagged = res.pairs[res.pairs["flagged"].astype(bool)] if "flagged" in res.pairs else res.pairs.iloc[0:0]
    if len(flagged):
        assert sorted(r[1] for r in pairs[0]["rows"]) == sorted(flagged["pair"].astype(str))
    flags = res.design[res.design["flagged"].astype(bool)]["cohort"].unique() if len(res.design) else []
    for acc in flags:
        assert f"⚑ <b>{acc}</b> — design flags" in _section(html, "de")
    r = probe(path, tmp_path / "probe")
    _first_screen_ok(r, res.claims)
    assert r["scroll_width_open"] <= 1280 and r["wide_tables"] == []
    assert sorted(r["statements"]) == sorted(res.claims["statement"]) and r["hidden_statements"] == []
    assert r["first_statement_top"] < 1000
    assert r["images"] >= 15 and r["bad_images"] == []
    assert r["errors"] == [] and r["console"] == [] and r["resources"] == [] and r["broken_anchors"] == []


def test_figures_drawn_in_parallel_are_the_same_figures(drawn_report, tmp_path):
    """n_jobs > 1 draws in forked processes (as the session's report was drawn, ``n_jobs=2``): the same
    files and the same list, in the jobs' order, as drawing in this process. Every figure but a spread of
    ten is taken as drawn (copied from the session's drawing); the ten are drawn here, one by one."""
    import shutil

    res, _, _ = drawn_report
    two = res.figures
    redraw = set(range(0, len(two), max(1, len(two) // 10))[:10])
    assert len(redraw) == 10 and len({s.split("-")[0] for i, (s, _p, _c) in enumerate(two) if i in redraw}) >= 3
    drawn = []
    (tmp_path / "one").mkdir()
    for i, (s, p, c) in enumerate(two):
        if i not in redraw:
            drawn.append((s, shutil.copy(p, tmp_path / "one" / p.name), c))
    one = draw_figures(res, tmp_path / "one", n_jobs=1, drawn=drawn)
    assert [(s, p.name, c) for s, p, c in one] == [(s, p.name, c) for s, p, c in two]
    for i in sorted(redraw):
        new = tmp_path / "one" / two[i][1].name
        assert new.read_bytes() == two[i][1].read_bytes(), new.name  # drawn here (not copied), and the same
