"""PCAReducer against scikit-learn's PCA, SciPy and numpy on small random data."""

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError

from skvae import PCAReducer


def spread_data(seed, n_samples, n_features, offset=3.0):
    """Gaussian data with well-separated variances, so components are unique."""
    rng = np.random.default_rng(seed)
    scales = 1.5 ** -np.arange(n_features)
    rotation = np.linalg.qr(rng.standard_normal((n_features, n_features)))[0]
    return rng.standard_normal((n_samples, n_features)) * scales @ rotation + offset


def assert_same_up_to_sign(a, b, atol):
    """Rows of ``a`` equal rows of ``b`` up to one sign per row."""
    signs = np.sign(np.sum(a * b, axis=1, keepdims=True))
    np.testing.assert_allclose(a, signs * b, atol=atol)


shapes = st.tuples(
    st.integers(0, 2**32 - 1), st.integers(3, 60), st.integers(1, 12)
).filter(lambda s: s[1] > s[2])  # tall, so every component is determined


@settings(max_examples=40, deadline=None)
@given(
    shape=shapes, solver=st.sampled_from(["full", "covariance_eigh"]), data=st.data()
)
def test_matches_sklearn(shape, solver, data):
    seed, n_samples, n_features = shape
    X = spread_data(seed, n_samples, n_features)
    k = data.draw(st.integers(0, n_features), label="n_components")
    ours = PCAReducer(k, svd_solver=solver).fit(X)
    ref = PCA(k, svd_solver="full").fit(X)

    assert ours.n_components_ == ref.n_components_ == k
    assert_same_up_to_sign(ours.components_, ref.components_, atol=1e-8)
    for name in (
        "explained_variance_",
        "explained_variance_ratio_",
        "singular_values_",
    ):
        # The covariance route squares the condition number: compare loosely.
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-7)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(
        ours.noise_variance_, ref.noise_variance_, rtol=1e-7, atol=1e-14
    )
    Z, Z_ref = ours.transform(X), ref.transform(X)
    assert Z.shape == (n_samples, k)
    assert_same_up_to_sign(Z.T, Z_ref.T, atol=1e-8)
    # scikit-learn cannot invert zero components; the answer is the mean.
    X_back = ref.inverse_transform(Z_ref) if k else np.broadcast_to(ref.mean_, X.shape)
    np.testing.assert_allclose(ours.inverse_transform(Z), X_back, atol=1e-8)
    if k < n_features:  # with every component kept sklearn's covariance is singular
        np.testing.assert_allclose(ours.score(X), ref.score(X), rtol=1e-7)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, n_chunks=st.integers(2, 5))
def test_partial_fit_in_chunks_equals_fit(shape, n_chunks):
    seed, n_samples, n_features = shape
    X = spread_data(seed, n_samples, n_features)
    chunks = np.array_split(X, n_chunks)
    if len(chunks[0]) < 2:  # the first batch needs a variance of its own
        chunks = [X[:2], X[2:]]
    # Each fitted state must be valid: no more components than samples seen.
    k = max(1, min(n_features // 2, len(chunks[0])))
    incremental = PCAReducer(k)
    for chunk in chunks:
        incremental.partial_fit(chunk)
    at_once = PCAReducer(k).fit(X)
    assert incremental.n_samples_ == at_once.n_samples_ == n_samples
    np.testing.assert_allclose(incremental.mean_, at_once.mean_, rtol=1e-12)
    np.testing.assert_allclose(incremental.components_, at_once.components_, atol=1e-9)
    np.testing.assert_allclose(
        incremental.explained_variance_, at_once.explained_variance_, rtol=1e-9
    )
    np.testing.assert_allclose(
        incremental.noise_variance_, at_once.noise_variance_, rtol=1e-7
    )


@settings(max_examples=20, deadline=None)
@given(shape=shapes, solver=st.sampled_from(["full", "covariance_eigh"]))
def test_full_rank_round_trip_is_exact(shape, solver):
    seed, n_samples, n_features = shape
    X = spread_data(seed, n_samples, n_features)
    pca = PCAReducer(svd_solver=solver).fit(X)
    assert pca.n_components_ == n_features
    np.testing.assert_allclose(pca.inverse_transform(pca.transform(X)), X, atol=1e-10)


@pytest.mark.parametrize("solver", ["full", "covariance_eigh", "randomized"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(solver, dtype):
    X = spread_data(0, 80, 6).astype(dtype)
    pca = PCAReducer(3, svd_solver=solver, random_state=0).fit(X)
    for name in ("components_", "explained_variance_", "mean_", "singular_values_"):
        assert getattr(pca, name).dtype == dtype, name
    assert pca.transform(X).dtype == dtype
    assert pca.inverse_transform(pca.transform(X)).dtype == dtype


def test_float32_agrees_with_float64():
    X = spread_data(1, 500, 10)
    single = PCAReducer(4).fit(X.astype(np.float32))
    double = PCAReducer(4).fit(X)
    np.testing.assert_allclose(single.components_, double.components_, atol=1e-4)
    np.testing.assert_allclose(
        single.explained_variance_, double.explained_variance_, rtol=1e-4
    )


@pytest.mark.parametrize("n_components", [0.5, 0.9, 0.999, "mle"])
def test_n_components_chosen_from_the_spectrum_like_sklearn(n_components):
    X = spread_data(2, 200, 15)
    ours = PCAReducer(n_components, svd_solver="full").fit(X)
    ref = PCA(n_components, svd_solver="full").fit(X)
    assert ours.n_components_ == ref.n_components_
    np.testing.assert_allclose(
        ours.explained_variance_ratio_, ref.explained_variance_ratio_
    )


def test_randomized_solver_is_reproducible_and_accurate():
    X = spread_data(3, 400, 30)
    a = PCAReducer(5, svd_solver="randomized", random_state=7).fit(X)
    b = PCAReducer(5, svd_solver="randomized", random_state=7).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    ref = PCA(5, svd_solver="full").fit(X)
    assert_same_up_to_sign(a.components_, ref.components_, atol=1e-6)
    np.testing.assert_allclose(
        a.explained_variance_ratio_, ref.explained_variance_ratio_
    )
    np.testing.assert_allclose(a.noise_variance_, ref.noise_variance_, rtol=1e-6)


def test_auto_solver_follows_sklearn_rules():
    def solver(n_samples, n_features, n_components=None):
        X = spread_data(0, n_samples, n_features)
        return PCAReducer(n_components).fit(X)._fit_svd_solver

    assert solver(200, 10) == "covariance_eigh"
    assert solver(50, 10) == "full"
    assert solver(600, 80, n_components=5) == "randomized"
    assert solver(600, 80, n_components=0.5) == "full"


def test_sign_convention_is_deterministic():
    X = spread_data(4, 100, 8)
    permuted = X[np.random.default_rng(0).permutation(len(X))]
    a, b = PCAReducer(4).fit(X), PCAReducer(4).fit(permuted)
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-12)
    largest = a.components_[np.arange(4), np.abs(a.components_).argmax(axis=1)]
    assert np.all(largest > 0)
    # The same convention as scikit-learn, so components match exactly.
    np.testing.assert_allclose(a.components_, PCA(4).fit(X).components_, atol=1e-10)


def test_whitening_gives_unit_variance():
    X = spread_data(5, 300, 6)
    pca = PCAReducer(3, whiten=True).fit(X)
    Z = pca.transform(X)
    np.testing.assert_allclose(Z.var(axis=0, ddof=1), 1.0, rtol=1e-10)
    np.testing.assert_allclose(
        pca.inverse_transform(Z),
        PCAReducer(3).fit(X).inverse_transform(PCAReducer(3).fit(X).transform(X)),
        atol=1e-10,
    )


def test_score_samples_is_the_gaussian_log_density():
    X = spread_data(6, 150, 7)
    pca = PCAReducer(3).fit(X)
    cov = pca.get_covariance()
    expected = scipy.stats.multivariate_normal(pca.mean_, cov).logpdf(X)
    np.testing.assert_allclose(pca.score_samples(X), expected, rtol=1e-10)
    np.testing.assert_allclose(pca.get_precision() @ cov, np.eye(7), atol=1e-10)
    np.testing.assert_allclose(cov, PCA(3).fit(X).get_covariance(), atol=1e-12)


def test_torch_tensor_in_gives_tensor_out():
    X = spread_data(7, 50, 5)
    T = torch.from_numpy(X)
    pca = PCAReducer(2).fit(T)
    Z = pca.transform(T)
    assert isinstance(Z, torch.Tensor) and Z.dtype == torch.float64
    np.testing.assert_allclose(Z.numpy(), pca.transform(X))
    assert isinstance(pca.inverse_transform(Z), torch.Tensor)
    assert isinstance(pca.fit_transform(T), torch.Tensor)


def test_pandas_in_and_out():
    X = pd.DataFrame(spread_data(8, 40, 4), columns=list("abcd"))
    pca = PCAReducer(2).set_output(transform="pandas").fit(X)
    Z = pca.transform(X)
    assert list(Z.columns) == ["pcareducer0", "pcareducer1"]
    assert list(pca.feature_names_in_) == list("abcd")
    np.testing.assert_array_equal(
        pca.get_feature_names_out(), ["pcareducer0", "pcareducer1"]
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    X = spread_data(9, 500, 20)
    gpu = PCAReducer(5, device="cuda").fit(torch.from_numpy(X).cuda())
    cpu = PCAReducer(5, device="cpu").fit(X)
    np.testing.assert_allclose(gpu.components_, cpu.components_, atol=1e-9)
    for solver in ("full", "randomized"):
        gpu = PCAReducer(5, svd_solver=solver, device="cuda", random_state=0).fit(X)
        np.testing.assert_allclose(
            gpu.explained_variance_, cpu.explained_variance_, rtol=1e-6
        )


# ------------------------------------------------------------------ bad input


@pytest.fixture
def fitted():
    X = pd.DataFrame(spread_data(10, 60, 5), columns=list("abcde"))
    return PCAReducer(3).fit(X), X


def state(est):
    return pickle.dumps(vars(est))


def assert_unchanged(before, est):
    assert pickle.loads(before).keys() == vars(est).keys()
    assert state(est) == before


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("solver", ["covariance_eigh", "full", "randomized"])
def test_non_finite_input_is_rejected_and_estimator_unchanged(fitted, bad, solver):
    pca, X = fitted
    pca.set_params(svd_solver=solver, n_components=2)
    before = state(pca)
    X_bad = X.copy()
    X_bad.iloc[3, 2] = bad
    message = "NaN" if np.isnan(bad) else "infinity"
    with pytest.raises(ValueError, match=message):
        # New column names too: a failed fit must not record them.
        pca.fit(X_bad.set_axis(list("vwxyz"), axis=1))
    with pytest.raises(ValueError, match=message):
        pca.partial_fit(X_bad)
    with pytest.raises(ValueError, match=message):
        pca.transform(X_bad)
    assert_unchanged(before, pca)


@pytest.mark.parametrize("solver", ["covariance_eigh", "full"])
def test_float32_overflow_is_named(solver):
    X = np.full((10, 3), 1e30, dtype=np.float32)
    X[0] = 0
    with pytest.raises(ValueError, match=r"overflow float32\. Scale X, or pass it as"):
        PCAReducer(svd_solver=solver).fit(X)
    with pytest.raises(ValueError, match=r"overflow float64\. Scale X\.$"):
        PCAReducer(svd_solver=solver).fit(X.astype(np.float64) * 1e170)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_wrong_number_of_features(fitted):
    pca, X = fitted
    with pytest.raises(
        ValueError, match="X has 4 features, but PCAReducer is expecting 5"
    ):
        pca.transform(X.to_numpy()[:, :4])
    with pytest.raises(ValueError, match="expecting 3 latent features"):
        pca.inverse_transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="X has 4 features"):
        pca.partial_fit(X.to_numpy()[:, :4])


@pytest.mark.parametrize("solver", ["covariance_eigh", "full", "randomized"])
def test_too_many_components(fitted, solver):
    pca, X = fitted
    pca.set_params(n_components=9, svd_solver=solver)
    before = state(pca)
    with pytest.raises(ValueError, match=r"n_components=9 must be between \d and min"):
        pca.fit(X.iloc[:9, :4])
    assert_unchanged(before, pca)


def test_nonsense_parameters():
    X = spread_data(11, 30, 4)
    for params, message in [
        ({"n_components": -1}, "n_components"),
        ({"n_components": 1.5}, "n_components"),
        ({"svd_solver": "magic"}, "svd_solver"),
        ({"device": 3}, "device"),
        ({"device": "gpu"}, "device='gpu' is not a torch device"),
        ({"device": "meta"}, "device='meta' is not supported"),
        ({"device": "mps"}, "device='mps' is not supported"),
    ]:
        with pytest.raises(ValueError, match=message):
            PCAReducer(**params).fit(X)
    with pytest.raises(ValueError, match="fraction of variance"):
        PCAReducer(0.5, svd_solver="randomized").fit(X)
    with pytest.raises(ValueError, match="mle"):
        PCAReducer("mle").fit(X[:3])
    with pytest.raises(ValueError, match="n_samples=1"):
        PCAReducer().fit(X[:1])


def test_unfitted_estimator():
    X = spread_data(12, 10, 3)
    for method in ("transform", "inverse_transform", "score", "score_samples"):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            getattr(PCAReducer(), method)(X)
    with pytest.raises(NotFittedError):
        PCAReducer().get_covariance()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_requested_without_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        PCAReducer(device="cuda").fit(spread_data(13, 10, 3))


def test_partial_fit_continues_a_covariance_fit():
    X = spread_data(14, 200, 6)
    pca = PCAReducer(3, svd_solver="covariance_eigh").fit(X[:120]).partial_fit(X[120:])
    np.testing.assert_allclose(
        pca.components_, PCAReducer(3).fit(X).components_, atol=1e-10
    )
    # A full-SVD fit keeps no scatter matrix: partial_fit says so, starts anew
    # from the batch, and still insists on the fitted features.
    pca = PCAReducer(3, svd_solver="full").fit(X[:120])
    before = state(pca)
    with pytest.raises(ValueError, match="X has 4 features"):
        pca.partial_fit(X[120:, :4])
    assert_unchanged(before, pca)
    with pytest.warns(UserWarning, match=r"svd_solver='full'.*starts a new model"):
        pca.partial_fit(X[120:])
    assert pca.n_samples_ == 80


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_tensors_are_widened(dtype):
    X = spread_data(15, 40, 4)
    pca = PCAReducer(2).fit(torch.from_numpy(X).to(dtype))
    assert pca.components_.dtype == np.float32
    Z = pca.transform(torch.from_numpy(X).to(dtype))
    assert isinstance(Z, torch.Tensor) and Z.dtype == torch.float32


def test_meta_tensor_is_rejected():
    with pytest.raises(ValueError, match="meta"):
        PCAReducer().fit(torch.empty(10, 3, device="meta"))


# ----------------------------------------- randomized, mle, whiten decisions


def test_randomized_attributes_describe_its_transform():
    # scikit-learn's test_pca_singular_values and _explained_variance_empirical:
    # the reported spectrum is that of the returned projections.
    X = np.random.default_rng(16).standard_normal((100, 80))
    pca = PCAReducer(2, svd_solver="randomized", random_state=0)
    Z = pca.fit_transform(X)
    np.testing.assert_allclose(pca.singular_values_, np.linalg.norm(Z, axis=0))
    np.testing.assert_allclose(pca.explained_variance_, Z.var(axis=0, ddof=1))
    assert np.all(np.diff(pca.explained_variance_) <= 0)
    exact = np.linalg.eigvalsh(np.cov(X, rowvar=False))[::-1][:2]
    np.testing.assert_allclose(pca.explained_variance_, exact, rtol=5e-3)


def test_mle_needs_the_whole_spectrum():
    X = spread_data(17, 200, 10)
    with pytest.raises(ValueError, match="n_components='mle' cannot be a string"):
        PCAReducer("mle", svd_solver="randomized").fit(X)
    for solver in ("full", "covariance_eigh", "auto"):
        ours = PCAReducer("mle", svd_solver=solver).fit(X)
        assert ours.n_components_ == PCA("mle", svd_solver="full").fit(X).n_components_


def test_score_does_not_depend_on_whiten():
    # A deliberate difference from scikit-learn, whose covariance (and so its
    # score) changes with whiten: whitening rescales the output, not the model.
    X = spread_data(18, 300, 6)
    plain, white = PCAReducer(3).fit(X), PCAReducer(3, whiten=True).fit(X)
    np.testing.assert_allclose(white.score_samples(X), plain.score_samples(X))
    np.testing.assert_allclose(white.get_covariance(), plain.get_covariance())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("whiten", [False, True])
def test_cuda_model_transforms_on_its_device(whiten, monkeypatch):
    X = spread_data(19, 2_000, 30)
    gpu = PCAReducer(5, whiten=whiten, device="cuda").fit(X)
    cpu = PCAReducer(5, whiten=whiten, device="cpu").fit(X)
    seen = []
    real = torch.Tensor.__matmul__

    def spy(a, b):
        seen.append(a.device.type)
        return real(a, b)

    monkeypatch.setattr(torch.Tensor, "__matmul__", spy)
    Z = gpu.transform(X)
    monkeypatch.undo()
    assert "cuda" in seen
    np.testing.assert_allclose(Z, cpu.transform(X), atol=1e-8)
    T = gpu.transform(torch.from_numpy(X).cuda())
    assert T.device.type == "cuda"
    np.testing.assert_allclose(T.cpu().numpy(), Z, atol=1e-12)
