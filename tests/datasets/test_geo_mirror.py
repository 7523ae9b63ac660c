"""geo() on the real cohorts of the offline mirror (served over HTTP by ``mirror_env``)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from mgtranscript import settings
from mgtranscript.datasets import geo
from mgtranscript.errors import FetchError

pytestmark = pytest.mark.network

HAVE_GENEIDS = importlib.util.find_spec("mgtranscript.datasets._geneids") is not None
MG = ["CNNM4", "TRPM7", "SLC41A1", "MAGT1"]


@pytest.fixture
def sra_sheet(shared_dir):
    return shared_dir / "samples" / "GSE77314_SraRunTable.csv"


@pytest.mark.skipif(not HAVE_GENEIDS, reason="mgtranscript.datasets._geneids not available yet")
def test_gse126848_author_counts_matched_by_description(mirror_env):
    a = geo("GSE126848")
    assert a.n_obs == 57
    assert all(g.startswith("GSM") for g in a.obs_names)
    assert a.obs["disease"].value_counts().to_dict() == {"NASH": 16, "NAFLD": 15, "healthy": 14, "obese": 12}
    cm = a.uns["geo"]["column_match"]
    assert cm["rule"] == "description" and cm["n_matched"] == 57 and cm["unmatched_columns"] == []
    assert a.uns["geo"]["source"] == "supplementary"
    assert a.uns["gene_ids"]["fraction_mapped"] >= 0.95
    assert set(MG) <= set(a.var_names)
    # counts are integers; X is log2 CPM derived from them
    counts = a.layers["counts"]
    assert np.all(counts == np.round(counts)) and counts.min() >= 0
    assert counts.sum(1).min() > 1e6
    assert a.uns["mgtranscript"]["scale"]["norm"] == "TMM"
    lib = counts.sum(1) * a.obs["norm_factor"].to_numpy()  # effective library sizes (TMM)
    i = list(a.var_names).index("TRPM7")
    p = 2 * lib / lib.mean()
    np.testing.assert_allclose(a.X[:, i], np.log2((counts[:, i] + p) / (lib + 2 * p) * 1e6))
    # provenance: public URLs and sha256 of both files
    files = a.uns["geo"]["files"]
    assert files["supplementary"]["url"] == ("https://ftp.ncbi.nlm.nih.gov/geo/series/GSE126nnn/"
                                             "GSE126848/suppl/GSE126848_Gene_counts_raw.txt.gz")
    assert files["supplementary"]["sha256"].startswith("b4d9cac0")
    assert files["series_matrix"]["sha256"].startswith("9889a2a2")


def test_gse126848_without_harmonising_keeps_ensembl_ids(mirror_env):
    a = geo("GSE126848", harmonise=False)
    assert a.shape == (57, 19786)
    assert a.var_names[0].startswith("ENSG")


def test_gse77314_ncbi_counts_with_sra_run_table(mirror_env, sra_sheet):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = geo("GSE77314", samples=sra_sheet, harmonise=False)
    # the sheet matched all 100 samples: no advice to pass the sheet that was passed
    assert not [w for w in caught if "samples=" in str(w.message)], [str(w.message) for w in caught]
    assert not [w for w in caught if "sample sheet" in str(w.message)]
    assert a.n_obs == 100
    assert a.obs["diagnosis"].value_counts().to_dict() == {"Normal": 50, "Tumor": 50}
    assert a.uns["geo"]["sample_sheet"]["key"] == "GEO_Accession (exp)"
    assert a.uns["geo"]["source"] == "ncbi_counts"
    assert a.uns["geo"]["column_match"]["rule"] == "gsm"
    assert a.var_names[0].isdigit()  # NCBI GeneIDs
    assert "counts" in a.layers


def test_gse135251_missing_counts_and_metadata_only(mirror_env):
    with pytest.raises(FetchError) as err:
        geo("GSE135251")
    msg = str(err.value)
    assert "GSE135251_raw_counts_GRCh38.p13_NCBI.tsv.gz" in msg
    assert "https://www.ncbi.nlm.nih.gov/geo/download/?type=rnaseq_counts&acc=GSE135251" in msg
    assert "metadata_only=True" in msg
    m = geo("GSE135251", metadata_only=True)
    assert m.shape == (216, 0)
    for col in ("fibrosis_stage", "nas_score", "group_in_paper"):
        assert col in m.obs
    assert pd.api.types.is_numeric_dtype(m.obs["fibrosis_stage"])
    assert set(m.obs["fibrosis_stage"].dropna()) <= {0, 1, 2, 3, 4}
    assert m.obs["nas_score"].max() <= 8
    assert "control" in set(m.obs["group_in_paper"])


def test_unknown_accession_is_one_clear_error(fault_server):
    """A series GEO does not have: one AccessionNotFound naming the accession and the fix,
    not a list of every file tried; no retries (404 is final)."""
    from mgtranscript.errors import AccessionNotFound

    with pytest.raises(AccessionNotFound) as err:
        geo("GSE999999999")
    msg = str(err.value)
    assert msg.startswith(f"GSE999999999: no such series found: the mirror {fault_server.url} has none")
    assert "HTTP 404" in msg and "Check the accession" in msg
    assert "GSE999999999_series_matrix.txt.gz" in msg  # what was tried
    assert len(fault_server.log) <= 5  # one request per candidate file, none repeated


def test_unknown_accession_offline_says_where_it_looked(cache):
    from mgtranscript.errors import OfflineError

    settings.offline = True
    settings.mirror = None
    with pytest.raises(OfflineError, match="GSE999999999: not available offline: none of its files is in") as err:
        geo("GSE999999999")
    assert "no such series" not in str(err.value)  # offline we cannot know it does not exist
    assert "may not exist" in str(err.value) and "MGTRANSCRIPT_MIRROR" in str(err.value)


def test_unknown_accession_behind_a_directory_mirror(mirror_dir, cache, monkeypatch):
    """The mirror is set (as the README says): the library's error says the accession may not exist,
    and does not tell the user to set the variable they already set."""
    from mgtranscript.errors import OfflineError

    from mgtranscript import settings

    settings.mirror = str(mirror_dir)
    with pytest.raises(OfflineError) as err:
        geo("GSE999999999")
    msg = str(err.value)
    assert msg.startswith(f"GSE999999999: none of its files is in the mirror {mirror_dir}")
    assert "may not exist" in msg and "unset MGTRANSCRIPT_MIRROR" in msg and "add its files to the mirror" in msg
    assert "point MGTRANSCRIPT_MIRROR" not in msg and "set MGTRANSCRIPT_MIRROR to a copy" not in msg
