"""``mgtranscript fetch`` writes a readable h5ad and prints a summary."""

from __future__ import annotations

import anndata as ad
import pytest

from mgtranscript import settings
from mgtranscript.cli import main

pytestmark = pytest.mark.network


def test_fetch_gse77314_with_sample_sheet(mirror_env, shared_dir, tmp_path, capsys):
    out = tmp_path / "gse77314.h5ad"
    sheet = shared_dir / "samples" / "GSE77314_SraRunTable.csv"
    rc = main(["fetch", "GSE77314", "--out", str(out), "--samples", str(sheet), "--no-harmonise"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "GSE77314: 100 samples" in text and "layers: counts" in text
    assert "samples=" not in text  # the sheet that was passed matched every sample: no advice to pass one
    assert "diagnosis: Normal 50, Tumor 50" in text or "diagnosis: Tumor 50, Normal 50" in text
    a = ad.read_h5ad(out)
    assert a.n_obs == 100 and "counts" in a.layers
    assert a.uns["geo"]["files"]["ncbi_counts"]["url"].startswith("https://www.ncbi.nlm.nih.gov/geo/download/")


def test_fetch_metadata_only_and_missing_expression(mirror_env, tmp_path, capsys):
    out = tmp_path / "m.h5ad"
    assert main(["fetch", "GSE135251", "--metadata-only", "--out", str(out)]) == 0
    a = ad.read_h5ad(out)
    assert a.shape == (216, 0) and "nas_score" in a.obs
    rc = main(["fetch", "GSE135251", "--out", str(tmp_path / "x.h5ad")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "GSE135251_raw_counts_GRCh38.p13_NCBI.tsv.gz" in err
    assert not (tmp_path / "x.h5ad").exists()


def test_fetch_without_out_writes_accession_h5ad_here(mirror_env, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["fetch", "GSE135251", "--metadata-only"]) == 0
    assert (tmp_path / "GSE135251.h5ad").is_file() and "wrote GSE135251.h5ad" in capsys.readouterr().out
    assert ad.read_h5ad(tmp_path / "GSE135251.h5ad").n_obs == 216


def test_unknown_accession_behind_a_directory_mirror(mirror_dir, cache, tmp_path, monkeypatch, capsys):
    """MGTRANSCRIPT_MIRROR is set (as the README says): the error says the accession may not exist and
    does not tell the user to set the variable they already set."""
    settings.mirror = mirror_dir
    monkeypatch.chdir(tmp_path)
    assert main(["fetch", "GSE999999"]) == 1
    err = capsys.readouterr().err
    assert "GSE999999" in err and "may not exist" in err and str(mirror_dir) in err
    assert "point MGTRANSCRIPT_MIRROR" not in err and "unset MGTRANSCRIPT_MIRROR" in err
    assert len(err.strip().splitlines()) == 2  # one line, and "(-v for details)"
    assert not (tmp_path / "GSE999999.h5ad").exists()
