"""Large inputs: dask arrays, backed h5ad, a dask.distributed cluster; same results as in memory."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import mgtranscript as mg
from mgtranscript.errors import InputDataError

da = pytest.importorskip("dask.array")

GENES = [f"G{i:04d}" for i in range(400)]
SETS = {"A": GENES[:15], "B": GENES[100:160], "C": GENES[390:400] + ["ABSENT"]}


@pytest.fixture(scope="module")
def mem() -> ad.AnnData:
    rng = np.random.default_rng(9)
    X = rng.poisson(rng.gamma(0.8, 20, size=400), size=(23, 400)).astype(np.float64)  # ties
    return ad.AnnData(pd.DataFrame(X, index=[f"S{i:02d}" for i in range(23)], columns=GENES))


def _expected(mem, method, **kw):
    a = mem.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mg.tl.score(a, SETS, method=method, **kw)
    return a.obsm[f"mg_{method}"]


def _dask_adata(mem, chunks=(5, 400)):
    a = mem.copy()
    a.X = da.from_array(np.asarray(mem.X), chunks=chunks)
    return a


@pytest.mark.parametrize("method", ["ssgsea", "singscore", "mean", "zscore", "plage"])
def test_dask_array_equals_in_memory(mem, method):
    a = _dask_adata(mem, chunks=(4, 100))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mg.tl.score(a, SETS, method=method, chunk_size=6)
    pd.testing.assert_frame_equal(a.obsm[f"mg_{method}"], _expected(mem, method), rtol=1e-12, atol=1e-12)


def test_dask_nan_is_reported_with_the_sample_name(mem):
    X = np.asarray(mem.X).copy()
    X[17, 120] = np.nan
    a = mem.copy()
    a.X = da.from_array(X, chunks=(5, 400))
    with pytest.raises(InputDataError, match="S17/G0120"):
        mg.tl.score(a, SETS, chunk_size=5)


@pytest.mark.parametrize("method", ["ssgsea", "zscore"])
def test_backed_h5ad_equals_in_memory(mem, method, tmp_path):
    path = tmp_path / "m.h5ad"
    mem.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            mg.tl.score(backed, SETS, method=method, chunk_size=4)
        pd.testing.assert_frame_equal(backed.obsm[f"mg_{method}"], _expected(mem, method), rtol=1e-12, atol=1e-12)
        with pytest.raises(InputDataError, match="copy=True"):
            mg.tl.score(backed, SETS, copy=True)
    finally:
        backed.file.close()


def test_backed_sparse_h5ad_equals_in_memory(mem, tmp_path):
    import scipy.sparse as sp

    sparse = mem.copy()
    sparse.X = sp.csr_matrix(sparse.X)
    path = tmp_path / "s.h5ad"
    sparse.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    try:
        mg.tl.score(backed, SETS, method="singscore", chunk_size=7)
        pd.testing.assert_frame_equal(backed.obsm["mg_singscore"], _expected(mem, "singscore"), rtol=1e-12, atol=1e-12)
    finally:
        backed.file.close()


def test_runs_on_a_distributed_local_cluster(mem):
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's port / resource chatter
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
    try:
        a = _dask_adata(mem)
        with distributed.get_task_stream(client) as stream:  # what the cluster ran (not timing-dependent)
            mg.tl.score(a, SETS, chunk_size=8)
        assert len(stream.data) > 0
        pd.testing.assert_frame_equal(a.obsm["mg_ssgsea"], _expected(mem, "ssgsea"), rtol=1e-12, atol=1e-12)
    finally:
        client.close()
        cluster.close()


def test_whole_matrix_method_refuses_lazy_input_with_the_fix(mem):
    pytest.importorskip("mgtranscript.tl._score.gsva")
    a = _dask_adata(mem)
    with pytest.raises(InputDataError, match="to_memory"):
        mg.tl.score(a, SETS, method="gsva")
