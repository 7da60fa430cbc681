"""interpolate: the decoded path between the codes of two inputs."""

import warnings

import numpy as np
import pytest
from scipy.spatial import geometric_slerp
from sklearn.exceptions import NotFittedError

from skvae import AutoencoderTransformer, PCAReducer, VAETransformer
from skvae._base import _slerp


@pytest.fixture(scope="module")
def reducers(digits_small):
    X, _ = digits_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            PCAReducer(n_components=3).fit(X),
            AutoencoderTransformer(3, hidden_layer_sizes=(32,), max_iter=3).fit(X),
            VAETransformer(3, hidden_layer_sizes=(32,), max_iter=3).fit(X),
        ]


def test_pca_path_is_the_segment_between_reconstructions(digits_small):
    # PCA decodes linearly, so the decoded path is itself a straight line,
    # computed here from the components with numpy alone.
    X, _ = digits_small
    pca = PCAReducer(n_components=3).fit(X)
    path = pca.interpolate(X[0], X[1], n_steps=4)
    codes = (X[:2] - X.mean(axis=0)) @ pca.components_.T
    recon = codes @ pca.components_ + X.mean(axis=0)
    t = np.linspace(0, 1, 4)[:, None]
    np.testing.assert_allclose(path, (1 - t) * recon[0] + t * recon[1], atol=1e-10)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_ends_are_the_reconstructions(reducers, digits_small, index):
    reducer = reducers[index]
    X, _ = digits_small
    path = reducer.interpolate(X[3], X[7:8], n_steps=6)
    assert path.shape == (6, X.shape[1])
    assert path.dtype == X.dtype
    ends = reducer.inverse_transform(reducer.transform(X[[3, 7]]))
    np.testing.assert_allclose(path[[0, -1]], ends, rtol=1e-5, atol=1e-6)
    # Linear in the latent space: the codes of the path are evenly spaced.
    Z = reducer.transform(X[[3, 7]])
    t = np.linspace(0, 1, 6)[:, None]
    np.testing.assert_allclose(
        path, reducer.inverse_transform((1 - t) * Z[0] + t * Z[1]), rtol=1e-5, atol=1e-6
    )


def test_spherical_path_of_the_vae(reducers, digits_small):
    vae = reducers[2]
    X, _ = digits_small
    spherical = vae.interpolate(X[3], X[7], n_steps=5, path="spherical")
    Z = vae.transform(X[[3, 7]]).astype(np.float64)
    t = np.linspace(0, 1, 5)[:, None]
    np.testing.assert_allclose(
        spherical,
        vae.inverse_transform(_slerp(Z[0], Z[1], t).astype(X.dtype)),
        rtol=1e-6,
    )
    assert not np.allclose(spherical[2], vae.interpolate(X[3], X[7], 5)[2])


def test_slerp_matches_scipy_on_a_sphere():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(2, 5))
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    t = np.linspace(0, 1, 7)
    expected = 3.0 * geometric_slerp(a, b, t)
    np.testing.assert_allclose(_slerp(3.0 * a, 3.0 * b, t[:, None]), expected)
    # Parallel codes have no great circle: the path is the segment.
    np.testing.assert_allclose(
        _slerp(a, 2 * a, t[:, None]), (1 + t)[:, None] * a, atol=1e-12
    )


def test_bad_arguments_are_named(reducers, digits_small):
    pca, ae, _ = reducers
    X, _ = digits_small
    with pytest.raises(ValueError, match=r"path must be one of \['linear'\]"):
        ae.interpolate(X[0], X[1], path="spherical")
    with pytest.raises(ValueError, match="n_steps must be an integer of at least 2"):
        pca.interpolate(X[0], X[1], n_steps=1)
    with pytest.raises(ValueError, match="x_b must be one sample"):
        pca.interpolate(X[0], X[1:3])
    with pytest.raises(ValueError, match="features"):
        pca.interpolate(X[0, :10], X[1, :10])
    with pytest.raises(NotFittedError):
        VAETransformer().interpolate(X[0], X[1])
