"""TMM normalisation factors, TMM log2 CPM and filterByExpr: parity with R edgeR 3.40.

Reference files are built by ``tests/r/make_reference_edger.R`` (R is not needed to run
these tests); the real-data test loads GSE77314 from the offline mirror.
"""

from __future__ import annotations


import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from mgtranscript import pp
from mgtranscript.errors import InputDataError

from support.paths import DATA


DATA = DATA / "edger"
TOL = dict(rtol=0, atol=1e-8)  # brief: within 1e-8 of R; observed <= 1e-14


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name, sep="\t", index_col=0)


@pytest.fixture(scope="module")
def counts() -> pd.DataFrame:
    """Samples x genes (the reference files are genes x samples, as in R)."""
    return _read("counts.tsv").T


@pytest.fixture(scope="module")
def samples() -> pd.DataFrame:
    return _read("samples.tsv")


@pytest.fixture(scope="module")
def r_factors() -> pd.DataFrame:
    return _read("norm_factors.tsv")


def _adata(counts: pd.DataFrame, obs: pd.DataFrame | None = None) -> ad.AnnData:
    a = ad.AnnData(counts.to_numpy(dtype=float), obs=obs.copy() if obs is not None else None)
    a.obs_names = counts.index.astype(str)
    a.var_names = counts.columns.astype(str)
    a.layers["counts"] = a.X.copy()
    return a


# ---------------------------------------------------------------- calc_norm_factors


@pytest.mark.parametrize(
    "column, kwargs",
    [
        ("TMM", {}),
        ("TMM_noweight", {"do_weighting": False}),
        ("TMM_ref3", {"ref_column": 2}),  # R refColumn = 3 is 1-based
        ("TMM_trim", {"logratio_trim": 0.2, "sum_trim": 0.1}),
        ("TMM_acutoff", {"a_cutoff": -15}),
        ("upperquartile", {"method": "upperquartile"}),
        ("none", {"method": None}),
    ],
)
def test_norm_factors_match_edger(counts, r_factors, column, kwargs):
    f = pp.calc_norm_factors(counts.to_numpy(), **kwargs)
    np.testing.assert_allclose(f, r_factors[column].to_numpy(), **TOL)
    assert np.prod(f) == pytest.approx(1.0, abs=1e-12)


def test_norm_factors_custom_lib_size_rle_and_sparse_input(counts, r_factors):
    y = counts.to_numpy(dtype=float)
    f = pp.calc_norm_factors(y, lib_size=y.sum(1) * 1.5 + 1000)
    np.testing.assert_allclose(f, r_factors["TMM_libsize"].to_numpy(), **TOL)
    # R: calcNormFactors(counts[1:290, ], method = "RLE")
    np.testing.assert_allclose(pp.calc_norm_factors(y[:, :290], method="RLE"),
                               r_factors["RLE"].to_numpy(), **TOL)
    np.testing.assert_allclose(pp.calc_norm_factors(sparse.csr_matrix(y)),
                               r_factors["TMM"].to_numpy(), **TOL)
    # the composition bias built into the input: "normal" samples, whose few giant genes
    # take most of the reads, get clearly smaller factors than "tumour" samples
    f = r_factors["TMM"].to_numpy()
    assert f[:4].max() < f[4:].min()


def test_norm_factors_reference_by_sqrt_sums_when_upper_quartiles_are_zero():
    sp = _read("counts_sparse.tsv").T
    assert (np.quantile(sp.to_numpy(), 0.75, axis=1) == 0).all()  # the branch under test
    f = pp.calc_norm_factors(sp.to_numpy())
    np.testing.assert_allclose(f, _read("norm_factors_sparse.tsv")["TMM"].to_numpy(), **TOL)


def test_norm_factors_are_scale_free_and_identity_for_identical_samples(counts):
    y = counts.to_numpy(dtype=float)
    # doubling one sample's depth leaves its M and A values unchanged: unweighted factors are
    # identical, weighted ones move only through the (count-based) precision weights
    y2 = y.copy()
    y2[3] *= 2
    np.testing.assert_allclose(pp.calc_norm_factors(y2, do_weighting=False),
                               pp.calc_norm_factors(y, do_weighting=False), atol=1e-12)
    np.testing.assert_allclose(pp.calc_norm_factors(y2), pp.calc_norm_factors(y), rtol=0.02)
    same = np.tile(y[0], (4, 1))
    np.testing.assert_allclose(pp.calc_norm_factors(same), np.ones(4))
    assert pp.calc_norm_factors(y[:1]).tolist() == [1.0]  # one sample: nothing to normalise


@pytest.mark.parametrize("bad, word", [(-1.0, "negative"), (np.nan, "NaN")])
def test_norm_factors_refuse_bad_counts(bad, word):
    y = np.ones((3, 5))
    y[1, 2] = bad
    with pytest.raises(InputDataError, match=word):
        pp.calc_norm_factors(y)


def test_norm_factors_refuse_bad_arguments(counts):
    y = counts.to_numpy()
    with pytest.raises(InputDataError, match="samples x genes"):
        pp.calc_norm_factors(y, lib_size=np.ones(y.shape[1]))  # genes x samples mix-up
    with pytest.raises(InputDataError, match="unknown normalisation method 'TMMwsp'"):
        pp.calc_norm_factors(y, method="TMMwsp")
    with pytest.raises(InputDataError, match="ref_column"):
        pp.calc_norm_factors(y, ref_column=10)
    with pytest.raises(InputDataError, match="not an AnnData"):
        pp.calc_norm_factors(_adata(counts))


# ---------------------------------------------------------------- log2_cpm with TMM


@pytest.mark.parametrize(
    "ref_file, kwargs",
    [
        ("logcpm_tmm.tsv", {}),
        ("logcpm_tmm_prior0.5.tsv", {"prior_count": 0.5}),
        ("logcpm_none.tsv", {"norm": None}),
    ],
)
def test_log2_cpm_matches_edger_cpm_log(counts, ref_file, kwargs):
    a = _adata(counts)
    pp.log2_cpm(a, **kwargs)
    ref = _read(ref_file).T
    np.testing.assert_allclose(a.X, ref.loc[a.obs_names, a.var_names].to_numpy(), **TOL)
    np.testing.assert_array_equal(a.layers["counts"], counts.to_numpy())


def test_log2_cpm_records_factors_and_scale(counts, r_factors):
    a = _adata(counts)
    pp.log2_cpm(a)
    np.testing.assert_allclose(a.obs["norm_factor"], r_factors["TMM"], **TOL)
    np.testing.assert_allclose(a.obs["lib_size"], r_factors["lib_size"], **TOL)
    sc = a.uns["mgtranscript"]["scale"]
    assert {k: sc[k] for k in ("X", "norm", "prior_count", "counts_layer")} == {
        "X": "log2_cpm", "norm": "TMM", "prior_count": 2.0, "counts_layer": "counts"}
    b = pp.log2_cpm(a, norm="none", copy=True)
    assert b.uns["mgtranscript"]["scale"]["norm"] == "none"
    assert (b.obs["norm_factor"] == 1).all()
    assert a.uns["mgtranscript"]["scale"]["norm"] == "TMM"  # copy left the input alone


def test_log2_cpm_rejects_bad_input(counts):
    y = np.ones((3, 4))
    y[2, 1] = np.nan
    a = ad.AnnData(y.copy())
    a.obs_names = ["S0", "S1", "S2"]
    a.layers["counts"] = y
    with pytest.raises(InputDataError, match=r"NaN.*'S2'"):
        pp.log2_cpm(a)
    with pytest.raises(InputDataError, match="unknown normalisation method"):
        pp.log2_cpm(_adata(counts), norm="quantile")
    with pytest.raises(InputDataError, match="prior_count"):
        pp.log2_cpm(_adata(counts), prior_count=-1)


# ---------------------------------------------------------------- filterByExpr


@pytest.fixture(scope="module")
def r_filter() -> pd.DataFrame:
    return _read("filter.tsv")


def test_expressed_genes_match_filter_by_expr(counts, samples, r_filter):
    a = _adata(counts, samples)
    design = np.column_stack([(samples["group"] == "tumour").astype(float), samples["age"]])
    masks = {
        "group": pp.expressed_genes(a, group="group"),
        "nogroup": pp.expressed_genes(a),
        "design": pp.expressed_genes(a, design=design),
        "custom": pp.expressed_genes(a, group=samples["group"].to_numpy(), min_count=5,
                                     min_total_count=30),
    }
    b = pp.log2_cpm(a, copy=True)  # filterByExpr on a normalised DGEList: lib.size * norm.factors
    masks["dgelist_tmm"] = pp.expressed_genes(a, group="group",
                                              lib_size=b.obs["lib_size"] * b.obs["norm_factor"])
    for col, m in masks.items():
        np.testing.assert_array_equal(m, r_filter[col].to_numpy(), err_msg=col)
    # all-zero genes and the gene seen in one sample only are never kept
    assert not masks["group"][290:296].any()


def test_expressed_genes_large_groups_use_min_prop():
    lg = _read("counts_large.tsv").T
    a = _adata(lg)
    ref = _read("filter_large.tsv")
    np.testing.assert_array_equal(pp.expressed_genes(a), ref["nogroup"].to_numpy())
    np.testing.assert_array_equal(pp.expressed_genes(a, large_n=5, min_prop=0.5),
                                  ref["minprop"].to_numpy())


def test_filter_expressed_subsets_and_records(counts, samples, r_filter):
    a = _adata(counts, samples)
    b = pp.filter_expressed(a, group="group", copy=True)
    assert a.n_vars == 300  # copy leaves the input alone
    assert list(b.var_names) == list(r_filter.index[r_filter["group"].to_numpy()])
    rec = b.uns["mgtranscript"]["filter_expressed"]
    assert rec["n_genes_before"] == 300 and rec["n_genes_kept"] == b.n_vars == 208
    assert rec["group"] == "group" and rec["method"] == "edgeR filterByExpr"
    pp.filter_expressed(a, group="group")
    assert list(a.var_names) == list(b.var_names)
    with pytest.raises(InputDataError, match="no obs column 'condition'"):
        pp.filter_expressed(a, group="condition")
    with pytest.raises(InputDataError, match="group has 3 values"):
        pp.expressed_genes(a, group=["a", "b", "a"])


# ---------------------------------------------------------------- real data


@pytest.mark.filterwarnings("ignore:GSE77314.*series matrix")  # labels come from the sheet
def test_tmm_removes_composition_shift_in_gse77314(mirror_env, shared_dir):
    """HCC tumour vs non-tumour liver: albumin takes ~11 % of the reads in non-tumour
    samples, so plain log-CPM pushes most genes up in tumours; TMM recentres them."""
    import mgtranscript as mg

    a = mg.datasets.geo("GSE77314", samples=shared_dir / "samples" / "GSE77314_SraRunTable.csv")
    assert a.n_obs == 100 and a.uns["mgtranscript"]["scale"]["norm"] == "TMM"
    tumour = (a.obs["diagnosis"] == "Tumor").to_numpy()
    assert tumour.sum() == 50
    keep = pp.expressed_genes(a, group="diagnosis")
    assert 15_000 < keep.sum() < 25_000

    def median_lfc(b):
        return float(np.median(b.X[tumour][:, keep].mean(0) - b.X[~tumour][:, keep].mean(0)))

    plain = pp.log2_cpm(a, norm=None, copy=True)
    shift_plain, shift_tmm = median_lfc(plain), median_lfc(a)
    print(f"GSE77314 median log2FC tumour vs normal: no TMM {shift_plain:+.3f}, "
          f"TMM {shift_tmm:+.3f}")  # measured: +0.543 and +0.009
    assert shift_plain > 0.4
    assert abs(shift_tmm) < 0.05
    # non-tumour samples (albumin-heavy) get the smaller factors
    nf = a.obs["norm_factor"].to_numpy()
    assert np.median(nf[~tumour]) < 0.9 < 1.1 < np.median(nf[tumour])
    assert np.prod(nf) == pytest.approx(1.0, rel=1e-9)


def test_the_trim_window_is_that_of_average_ranks_with_ties():
    """TMM trims by average ranks (R's rank); the window is found without sorting, exactly."""
    from scipy.stats import rankdata

    from mgtranscript.pp._edger import _rank_window

    rng = np.random.default_rng(7)
    for trial in range(600):
        n = int(rng.integers(1, 80))
        x = (rng.integers(0, 5, n).astype(float) if trial % 2 else np.round(rng.normal(size=n), 1))
        for lo in (np.floor(n * 0.3) + 1, np.floor(n * 0.05) + 1, 1.0, 2.5, n + 1.0):
            for hi in (n + 1 - lo, float(n), n - 0.5):
                r = rankdata(x, method="average")
                np.testing.assert_array_equal(_rank_window(x, lo, hi), (r >= lo) & (r <= hi))


def test_factors_of_a_matrix_seen_before_are_the_same_and_not_shared():
    from mgtranscript.pp import calc_norm_factors

    rng = np.random.default_rng(3)
    counts = rng.negative_binomial(5, 0.05, size=(12, 400)).astype(float)
    first = calc_norm_factors(counts)
    first[0] = 99.0  # the caller's copy: changing it changes nothing kept
    again = calc_norm_factors(counts.copy())
    assert again[0] != 99.0 and np.prod(again) == pytest.approx(1.0)
    counts[0, 0] += 1  # other counts, other factors
    assert not np.array_equal(calc_norm_factors(counts), again)
