"""`mgtranscript genesets`: list, coverage in a dataset, GMT export."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from mgtranscript import genesets
from mgtranscript.cli import main


def test_lists_the_bundled_liver_sets_without_the_renal_one(capsys):
    assert main(["genesets"]) == 0
    out = capsys.readouterr().out
    assert "MG_LIVER_CORE" in out and "MG_EFFLUX_EXCHANGE" in out
    assert "MG_RENAL" not in out


def test_coverage_in_an_h5ad_names_missing_and_alias_resolved_genes(tmp_path, capsys):
    genes = ["CNNM4", "TRPM7", "SLC41A1", "GAPDH"]  # MAGT1 etc. absent
    a = ad.AnnData(np.ones((3, len(genes))), var=pd.DataFrame(index=genes))
    path = tmp_path / "x.h5ad"
    a.write_h5ad(path)
    assert main(["genesets", "magnesium:MG_LIVER_CORE", "--coverage", str(path)]) == 0
    out = capsys.readouterr().out
    assert "MG_LIVER_CORE" in out and "MAGT1" in out  # listed as missing


def test_export_writes_a_gmt_that_loads_back(tmp_path):
    gmt = tmp_path / "mg.gmt"
    assert main(["genesets", "magnesium", "--export", str(gmt)]) == 0
    back = genesets.read_gmt(gmt)
    assert dict(back) == dict(genesets.load("magnesium"))
