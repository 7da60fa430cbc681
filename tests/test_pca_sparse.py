"""PCAReducer on CSR and CSC input: the covariance route with implicit centring."""

import numpy as np
import pytest
import scipy.sparse
from numpy.testing import assert_allclose
from sklearn.decomposition import PCA

from skvae import PCAReducer

FORMATS = [scipy.sparse.csr_matrix, scipy.sparse.csc_array]


def sparse_data(seed, n_samples=600, n_features=40, density=0.1, dtype=np.float64):
    """Non-negative sparse data whose columns have different means and scales."""
    rng = np.random.default_rng(seed)
    X = scipy.sparse.random_array(
        (n_samples, n_features), density=density, rng=rng, format="csr"
    )
    return (X @ scipy.sparse.diags_array(rng.random(n_features) * 10)).astype(dtype)


@pytest.mark.parametrize("container", FORMATS)
@pytest.mark.parametrize("n_components", [3, 0.8, None])
def test_sparse_fit_equals_dense_fit(container, n_components):
    X = container(sparse_data(0))
    dense = X.toarray()
    pca = PCAReducer(n_components).fit(X)
    ref = PCA(n_components, svd_solver="full").fit(dense)
    assert pca._fit_svd_solver == "covariance_eigh"
    assert pca.n_components_ == ref.n_components_
    for name in ("explained_variance_", "singular_values_", "mean_"):
        assert_allclose(getattr(pca, name), getattr(ref, name), rtol=1e-10)
    # The last components are nearly degenerate: compare the subspace through
    # the projections of the leading ones.
    assert_allclose(pca.components_[:3], ref.components_[:3], atol=1e-9)
    X_new = container(sparse_data(1))
    assert_allclose(pca.transform(X_new), pca.transform(X_new.toarray()), atol=1e-12)
    assert_allclose(pca.fit_transform(X), pca.transform(dense), atol=1e-10)
    assert isinstance(pca.transform(X_new), np.ndarray)


def test_sparse_float32_is_kept():
    X = sparse_data(2, dtype=np.float32)
    pca = PCAReducer(3).fit(X)
    assert pca.components_.dtype == pca.transform(X).dtype == np.float32
    ref = PCAReducer(3).fit(X.toarray().astype(np.float64))
    assert_allclose(pca.explained_variance_, ref.explained_variance_, rtol=1e-5)


def test_sparse_partial_fit_equals_fit():
    X = sparse_data(3)
    pca = PCAReducer(4)
    for start in range(0, 600, 200):
        pca.partial_fit(X[start : start + 200])
    ref = PCAReducer(4).fit(X.toarray())
    assert_allclose(pca.explained_variance_, ref.explained_variance_, rtol=1e-10)
    assert_allclose(pca.components_, ref.components_, atol=1e-9)


def test_sparse_with_a_large_mean_is_recentred():
    # A dense-ish column far from zero: X.T X - n m m^T would cancel its
    # variance in float32; the blocks are densified and centred instead.
    rng = np.random.default_rng(4)
    dense = rng.standard_normal((2_000, 6)) * [1.0, 0.5, 0.3, 0.2, 0.1, 0.05]
    dense[:, 0] += 1_000.0
    X = scipy.sparse.csr_array(dense.astype(np.float32))
    ref = np.linalg.svd(dense - dense.mean(axis=0), compute_uv=False) ** 2 / 1_999
    pca = PCAReducer(4).fit(X)
    assert_allclose(pca.explained_variance_, ref[:4], rtol=1e-4)


@pytest.mark.parametrize("solver", ["full", "randomized"])
def test_sparse_needs_the_covariance_route(solver):
    pca = PCAReducer(3, svd_solver=solver)
    with pytest.raises(TypeError, match=rf'sparse input .*"{solver}" was passed'):
        pca.fit(sparse_data(5))
    assert not hasattr(pca, "components_")
    assert not pca.__sklearn_tags__().input_tags.sparse
    assert PCAReducer().__sklearn_tags__().input_tags.sparse


def test_sparse_nan_is_named_and_model_unchanged():
    X = sparse_data(6)
    pca = PCAReducer(3).fit(X)
    before = pca.components_.copy()
    X.data[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pca.fit(X)
    np.testing.assert_array_equal(pca.components_, before)
