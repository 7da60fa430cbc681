"""PCAReducer on data larger than the working memory, and on offset float32 data.

``sklearn.config_context(working_memory=1)`` (one MiB) makes small arrays
"larger than memory", so the block-by-block path runs on data that the
in-memory path can check it against.
"""

import pickle
import tracemalloc

import numpy as np
import pytest
import scipy.linalg
from numpy.testing import assert_allclose
from sklearn import config_context

import skvae._pca
from skvae import PCAReducer
from skvae._data import is_out_of_core


def spread_data(seed, n_samples, n_features, offset=3.0, dtype=np.float64):
    """Gaussian data with well-separated variances, so components are unique."""
    rng = np.random.default_rng(seed)
    scales = 1.5 ** -np.arange(n_features)
    rotation = np.linalg.qr(rng.standard_normal((n_features, n_features)))[0]
    X = rng.standard_normal((n_samples, n_features)) * scales @ rotation
    return (X + offset).astype(dtype)


def as_memmap(X, path):
    m = np.lib.format.open_memmap(path, mode="w+", dtype=X.dtype, shape=X.shape)
    m[:] = X
    m.flush()
    return np.load(path, mmap_mode="r")


def assert_same_up_to_sign(a, b, atol):
    signs = np.sign(np.sum(a * b, axis=1, keepdims=True))
    assert_allclose(a, signs * b, atol=atol)


def state(est):
    return pickle.dumps(vars(est))


FITTED = (
    "components_",
    "explained_variance_",
    "explained_variance_ratio_",
    "singular_values_",
    "mean_",
)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """40,000 x 10 float64 (3.2 MB) in memory and as a read-only memory map."""
    X = spread_data(0, 40_000, 10)
    return X, as_memmap(X, tmp_path_factory.mktemp("pca") / "X.npy")


@pytest.mark.parametrize("n_components", [3, 0.9, "mle", None])
def test_memmap_fit_equals_in_memory_fit(big, n_components):
    X, M = big
    ref = PCAReducer(n_components).fit(X)
    with config_context(working_memory=1):
        assert is_out_of_core(M)
        pca = PCAReducer(n_components).fit(M)
        Z = pca.transform(M)
        scores = pca.score_samples(M)
        score = pca.score(M)
        Z_ft = PCAReducer(n_components).fit_transform(M)
    assert pca._fit_svd_solver == "covariance_eigh"
    assert pca.n_components_ == ref.n_components_ and pca.n_samples_ == len(X)
    # Block moments merged (Chan) versus one Gram matrix: equal to rounding,
    # which moves the weakest components (1e-3 of the top variance) by 1e-10.
    for name in FITTED:
        atol = 1e-9 if name == "components_" else 1e-13
        assert_allclose(getattr(pca, name), getattr(ref, name), rtol=1e-10, atol=atol)
    assert_allclose(pca.noise_variance_, ref.noise_variance_, rtol=1e-9)
    assert_allclose(Z, ref.transform(X), atol=1e-8)
    assert_allclose(Z_ft, Z, atol=1e-10)
    # The precision divides by the smallest variance (1e-3 of the largest),
    # which scales the rounding up; log-likelihoods also cross zero.
    assert_allclose(scores, ref.score_samples(X), rtol=1e-8, atol=1e-8)
    assert_allclose(score, ref.score(X), rtol=1e-8)
    assert_allclose(pca.inverse_transform(Z), ref.inverse_transform(Z), atol=1e-10)


def test_memmap_is_read_in_blocks(big, monkeypatch):
    _, M = big
    calls = []
    real = skvae._pca._centred_moments
    monkeypatch.setattr(
        skvae._pca,
        "_centred_moments",
        lambda block, device: calls.append(len(block)) or real(block, device),
    )
    with config_context(working_memory=1):
        PCAReducer(3).fit(M)
    assert len(calls) > 1 and sum(calls) == len(M)
    assert max(calls) * M.shape[1] * 8 <= 2**20


def test_memmap_partial_fit_equals_fit(big):
    X, M = big
    ref = PCAReducer(4).fit(X)
    pca = PCAReducer(4)
    with config_context(working_memory=1):
        for part in (M[:15_000], M[15_000:]):
            pca.partial_fit(part)
    assert pca.n_samples_ == len(X)
    for name in FITTED:
        assert_allclose(getattr(pca, name), getattr(ref, name), rtol=1e-10, atol=1e-13)


def test_auto_takes_the_covariance_route_out_of_core(tmp_path):
    # In memory, 3,000 x 600 with 5 components is a randomized problem.
    X = spread_data(1, 3_000, 600)
    assert PCAReducer(5).fit(X)._fit_svd_solver == "randomized"
    M = as_memmap(X, tmp_path / "wide.npy")
    with config_context(working_memory=4):
        pca = PCAReducer(5).fit(M)
    assert pca._fit_svd_solver == "covariance_eigh"
    ref = PCAReducer(5, svd_solver="covariance_eigh").fit(X)
    assert_allclose(pca.components_, ref.components_, atol=1e-8)


@pytest.mark.parametrize("solver", ["full", "randomized"])
def test_explicit_svd_solvers_are_refused_out_of_core(big, solver):
    _, M = big
    pca = PCAReducer(3, svd_solver=solver)
    with config_context(working_memory=1):
        with pytest.raises(ValueError, match=r"working_memory.*'covariance_eigh'"):
            pca.fit(M)
    assert not hasattr(pca, "components_")


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_nan_in_a_later_block_leaves_the_fitted_model_unchanged(tmp_path, method):
    X = spread_data(2, 40_000, 10)
    pca = PCAReducer(3).fit(X[:500])
    before = state(pca)
    X[35_000, 4] = np.nan
    M = as_memmap(X, tmp_path / "nan.npy")
    with config_context(working_memory=1):
        with pytest.raises(ValueError, match="NaN"):
            getattr(pca, method)(M)
        with pytest.raises(ValueError, match="NaN"):
            pca.transform(M)
    assert state(pca) == before


def test_peak_memory_does_not_grow_with_rows(tmp_path):
    d = 20
    peaks = []
    for n in (20_000, 80_000):
        M = as_memmap(spread_data(3, n, d), tmp_path / f"{n}.npy")
        with config_context(working_memory=1):
            tracemalloc.start()
            PCAReducer(3).fit(M)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    # A block of at most 1 MiB (and copies of it), never the 12.8 MB array.
    assert peaks[1] < 4 * 2**20
    assert peaks[1] < 1.25 * peaks[0]


# ------------------------------------------------------- float32, offset data

OFFSETS = [0.0, 100.0, 1_000.0, 10_000.0]


def offset_data(offset, n_samples=20_000, n_features=12, seed=4):
    """float32 data whose mean is ``offset`` average standard deviations."""
    X = spread_data(seed, n_samples, n_features, offset=0.0)
    X += offset * np.sqrt(X.var(axis=0).mean())
    return X.astype(np.float32)


def svd_reference(X, k):
    """Explained variance and components from a float64 SVD of the same data."""
    X64 = X.astype(np.float64)
    _, s, Vt = scipy.linalg.svd(X64 - X64.mean(axis=0), full_matrices=False)
    return s[:k] ** 2 / (len(X) - 1), Vt[:k]


@pytest.fixture(scope="module", params=OFFSETS, ids=lambda o: f"offset{o:g}")
def offset_case(request):
    X = offset_data(request.param)
    return X, svd_reference(X, 6)


def fit_at_once(X):
    return PCAReducer(6, svd_solver="covariance_eigh").fit(X)


def fit_in_batches(X):
    pca = PCAReducer(6)
    for batch in np.array_split(X, 7):
        pca.partial_fit(batch)
    return pca


def fit_streaming(X):
    with config_context(working_memory=0.25):  # 960 kB of data: 4 blocks
        assert is_out_of_core(X)
        return PCAReducer(6).fit(X)


@pytest.mark.parametrize("fit", [fit_at_once, fit_in_batches, fit_streaming])
def test_float32_offset_data_keeps_its_variance(offset_case, fit):
    # Before the cancellation was detected, float32 lost the variance at an
    # offset of 100 standard deviations (a relative error near 1); measured
    # now: at most 5e-6 at any offset. The smallest of the six components
    # holds 1/58 of the largest one's variance.
    X, (variance, components) = offset_case
    pca = fit(X)
    assert pca.explained_variance_.dtype == np.float32
    assert_allclose(pca.explained_variance_, variance, rtol=1e-4)
    assert_same_up_to_sign(pca.components_, components, atol=1e-3)
    mean = X.astype(np.float64).mean(axis=0)
    assert_allclose(pca.mean_, mean, rtol=1e-6, atol=1e-6 * X.std())


def test_well_centred_data_takes_one_pass(monkeypatch):
    calls = []
    monkeypatch.setattr(
        skvae._pca, "_centred_moments", lambda *a: calls.append(1) or None
    )
    PCAReducer(3, svd_solver="covariance_eigh").fit(offset_data(0.0))
    assert calls == []


def test_offset_float64_matches_the_svd():
    X = offset_data(10_000.0).astype(np.float64)
    variance, components = svd_reference(X, 6)
    pca = fit_at_once(X)
    assert_allclose(pca.explained_variance_, variance, rtol=1e-9)
    assert_same_up_to_sign(pca.components_, components, atol=1e-7)
