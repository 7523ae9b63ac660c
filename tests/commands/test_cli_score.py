"""``mgtranscript score`` on the command line."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from mgtranscript.cli import main

GENES = [f"G{i:03d}" for i in range(80)]


@pytest.fixture
def h5ad(tmp_path):
    rng = np.random.default_rng(3)
    a = ad.AnnData(pd.DataFrame(rng.lognormal(size=(6, 80)), index=[f"S{i}" for i in range(6)], columns=GENES))
    path = tmp_path / "in.h5ad"
    a.write_h5ad(path)
    return path


@pytest.fixture
def gmt(tmp_path):
    path = tmp_path / "sets.gmt"
    path.write_text("UP\tna\t" + "\t".join(GENES[:8]) + "\nMID\tna\t" + "\t".join(GENES[30:50] + ["LOST"]) + "\n")
    return path


def test_score_writes_tsv_and_prints_coverage(h5ad, gmt, tmp_path, capsys):
    out = tmp_path / "scores.tsv"
    rc = main(["score", str(h5ad), "--gene-sets", str(gmt), "--out", str(out), "--option", "ties=gsva",
               "--option", "alpha=0.5", "--coverage-out", str(tmp_path / "cov.tsv"), "--write-h5ad", str(tmp_path / "o.h5ad")])
    assert rc == 0
    table = pd.read_csv(out, sep="\t", index_col=0)
    assert table.shape == (6, 2) and list(table.columns) == ["UP", "MID"]
    printed = capsys.readouterr().out
    assert "coverage" in printed and "MID" in printed
    cov = pd.read_csv(tmp_path / "cov.tsv", sep="\t", index_col=0)
    assert cov.loc["MID", "n_missing"] == 1
    scored = ad.read_h5ad(tmp_path / "o.h5ad")
    assert scored.uns["mg_ssgsea"]["params"]["options"]["alpha"] == 0.5
    np.testing.assert_allclose(scored.obsm["mg_ssgsea"].to_numpy(), table.to_numpy(), rtol=1e-9)


def test_backed_chunked_cli_equals_in_memory(h5ad, gmt, tmp_path):
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    assert main(["score", str(h5ad), "--gene-sets", str(gmt), "--out", str(a), "--method", "singscore"]) == 0
    assert main(["score", str(h5ad), "--gene-sets", str(gmt), "--out", str(b), "--method", "singscore",
                 "--backed", "--chunk-size", "2"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(a, sep="\t"), pd.read_csv(b, sep="\t"))


def test_bad_option_is_a_clean_error(h5ad, gmt, capsys):
    assert main(["score", str(h5ad), "--gene-sets", str(gmt), "--option", "nope=1"]) in (1, 2)
    assert "does not take option" in capsys.readouterr().err
    assert main(["score", str(h5ad), "--gene-sets", str(gmt), "--option", "normalize=maybe"]) == 2
    assert "true or false" in capsys.readouterr().err
    assert main(["score", str(h5ad) + ".missing"]) == 2  # a usage error: nothing was done
