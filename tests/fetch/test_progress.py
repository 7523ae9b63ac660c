"""Progress bars: shown for downloads lasting more than half a second, off with ``settings.progress = False``."""

from __future__ import annotations

import time

from mgtranscript import settings
from mgtranscript.fetch._download import _Progress, progress_enabled


def test_progress_switch():
    settings.progress = False
    assert progress_enabled(None) is False
    assert progress_enabled(True) is True  # an explicit argument wins
    settings.progress = True
    assert progress_enabled(None) is True


def test_progress_bar_shows_name_and_size_for_slow_downloads(capsys):
    bar = _Progress("counts.tsv.gz", True)
    bar(0, 2_000_000)
    time.sleep(0.6)
    bar(2_000_000, 2_000_000)
    bar.close()
    err = capsys.readouterr().err
    assert "counts.tsv.gz" in err and "2.00M" in err


def test_progress_bar_silent_for_fast_downloads_and_when_off(capsys):
    fast = _Progress("small.txt", True)
    fast(0, 10)
    fast(10, 10)
    fast.close()
    off = _Progress("big.gz", False)
    off(0, 10)
    off.close()
    assert capsys.readouterr().err == ""


def test_scoring_bars_follow_the_switch(capsys):
    """``settings.progress = False`` also silences the chunked scoring bars (tl.score runner)."""
    import anndata as ad
    import numpy as np
    import pandas as pd

    import mgtranscript as mg
    from mgtranscript.tl._score import _runner

    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(50)]
    a = ad.AnnData(rng.normal(size=(40, 50)), var=pd.DataFrame(index=genes))
    settings.progress = False
    assert _runner._progress_enabled(None) is False
    mg.tl.score(a, {"S": genes[:10]}, method="singscore", chunk_size=2)
    assert capsys.readouterr().err == ""
    settings.progress = True
    assert _runner._progress_enabled(None) is True
    assert _runner._progress_enabled(False) is False  # an explicit argument wins
