"""``source="auto"`` reads the SOFT family file when a series has no series matrix (issue 9).

The mirror here is a folder of links to the real files of GSE167523 without its
``matrix/`` folder: the SOFT file gives the sample metadata, the author's count table the
values (its columns match the samples' descriptions).
"""

from __future__ import annotations

import pytest

from mgtranscript import settings
from mgtranscript.cli import main
from mgtranscript.datasets import geo
from mgtranscript.errors import DataFormatError

SERIES = "ftp.ncbi.nlm.nih.gov/geo/series/GSE167nnn/GSE167523"


@pytest.fixture
def soft_only_mirror(mirror_dir, tmp_path, cache):
    root = tmp_path / "mirror"
    for rel in ("soft/GSE167523_family.soft.gz", "suppl/GSE167523_Raw_gene_counts_matrix.txt.gz"):
        link = root / SERIES / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(mirror_dir / SERIES / rel)
    settings.mirror = root
    return root


def test_auto_falls_back_to_the_soft_file(soft_only_mirror):
    a = geo("GSE167523", harmonise=False)
    assert a.n_obs == 98
    assert "soft" in a.uns["geo"]["files"]
    assert a.uns["geo"]["column_match"]["rule"] == "description"
    assert a.uns["geo"]["column_match"]["n_matched"] == 98
    assert a.obs["description"].str.startswith("NAFLD").all()
    assert not [w for w in a.uns["geo"]["warnings"] if "series matrix" in w]


def test_soft_source_still_refuses_a_soft_file_without_values(soft_only_mirror):
    with pytest.raises(DataFormatError, match="holds no values"):
        geo("GSE167523", source="soft", harmonise=False)


def test_cli_fetch_soft_only_series(soft_only_mirror, tmp_path, capsys):
    assert main(["fetch", "GSE167523", "--no-harmonise", "--out", str(tmp_path / "s.h5ad")]) == 0
    out = capsys.readouterr().out
    assert "GSE167523: 98 samples" in out and "columns matched by description: 98/98" in out
