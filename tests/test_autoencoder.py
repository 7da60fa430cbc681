"""AutoencoderTransformer: the PCA subspace, dtypes, tensors, errors, scores."""

import pickle

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skvae import AutoencoderTransformer, PCAReducer, VAETransformer
from skvae.metrics import reconstruction_r2

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore::skvae.PosteriorCollapseWarning"),
]


@pytest.mark.parametrize("random_state", [0, 1])
def test_linear_autoencoder_spans_the_pca_subspace(digits, random_state):
    """A linear AE's optimum is the principal subspace (Baldi & Hornik, 1989).

    k=3 sits on a large eigen-gap of the digits (lambda_3 / lambda_4 = 1.4), so
    full-batch Adam gets there in ~1500 steps.
    """
    X, _ = digits
    k = 3
    ae = AutoencoderTransformer(
        n_components=k, hidden_layer_sizes=(), activation="identity",
        batch_size=len(X), learning_rate_init=3e-2, max_iter=1500, tol=0.0,
        n_iter_no_change=10**6, random_state=random_state,
    ).fit(X)  # fmt: skip
    decoder = ae.module_.decoder[0].weight.detach().numpy()  # (n_features, k)
    components = PCAReducer(n_components=k).fit(X).components_
    assert scipy.linalg.subspace_angles(decoder, components.T).max() < 0.05
    pca_r2 = PCAReducer(n_components=k).fit(X).explained_variance_ratio_.sum()
    assert reconstruction_r2(ae, X) == pytest.approx(pca_r2, abs=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_dtype_follows_input(fitted_ae, digits, dtype):
    X = digits[0][:20].astype(dtype)
    Z = fitted_ae.transform(X)
    assert Z.dtype == dtype and Z.shape == (20, 4)
    assert fitted_ae.inverse_transform(Z).dtype == dtype


def test_tensor_in_tensor_out(fitted_ae, digits):
    X = digits[0][:10]
    Z = fitted_ae.transform(torch.as_tensor(X, dtype=torch.float32))
    assert isinstance(Z, torch.Tensor) and Z.dtype == torch.float32
    np.testing.assert_array_equal(Z.numpy(), fitted_ae.transform(X.astype(np.float32)))
    assert isinstance(fitted_ae.inverse_transform(Z), torch.Tensor)


def test_transform_does_not_depend_on_batch_composition(fitted_ae, digits):
    X = digits[0][:300]
    full = fitted_ae.transform(X)
    parts = np.vstack([fitted_ae.transform(X[i : i + 7]) for i in range(0, 300, 7)])
    np.testing.assert_array_equal(full, parts)


def test_clear_errors(fitted_ae, digits):
    X = digits[0]
    with pytest.raises(NotFittedError):
        AutoencoderTransformer().transform(X)
    with pytest.raises(ValueError, match="NaN"):
        fitted_ae.transform(np.where(X == X.max(), np.nan, X))
    with pytest.raises(ValueError, match="64 features"):
        fitted_ae.transform(X[:, :10])
    with pytest.raises(ValueError, match="expecting 4 latent"):
        fitted_ae.inverse_transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"needs X in \[0, 1\].*MinMaxScaler"):
        AutoencoderTransformer(loss="binary_cross_entropy").fit(X * 2)
    with pytest.raises(InvalidParameterError, match="activation"):
        AutoencoderTransformer(activation="swish").fit(X)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        AutoencoderTransformer(hidden_layer_sizes=(8, 0)).fit(X)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            AutoencoderTransformer(device="cuda").fit(X)


def test_int_hidden_layer_sizes_and_bce(digits_small):
    X, _ = digits_small
    ae = AutoencoderTransformer(
        hidden_layer_sizes=8, loss="binary_cross_entropy", max_iter=2, random_state=0
    ).fit(X)
    assert ae.noise_variance_ is None
    X_hat = ae.inverse_transform(ae.transform(X))
    assert X_hat.min() >= 0 and X_hat.max() <= 1  # the Bernoulli means


def test_scores_are_gaussian_log_likelihoods(fitted_ae, digits):
    X = digits[0][:50]
    X_hat = fitted_ae.inverse_transform(fitted_ae.transform(X))
    var = fitted_ae.noise_variance_
    expected = -0.5 * (((X - X_hat) ** 2).sum(1) / var + 64 * np.log(2 * np.pi * var))
    np.testing.assert_allclose(fitted_ae.score_samples(X), expected, rtol=1e-4)
    assert fitted_ae.score(X) == pytest.approx(expected.mean(), rel=1e-4)
    assert reconstruction_r2(fitted_ae, X) > 0.3  # PCA with 4 components: 0.49


def test_history_and_attributes(fitted_ae):
    assert fitted_ae.n_iter_ == len(fitted_ae.loss_curve_) == len(fitted_ae.history_)
    assert fitted_ae.best_loss_ == min(fitted_ae.loss_curve_)
    assert fitted_ae.validation_scores_ is None
    assert fitted_ae.n_components_ == 4
    assert list(fitted_ae.get_feature_names_out())[:2] == [
        "autoencodertransformer0",
        "autoencodertransformer1",
    ]


def _methods(est):
    names = ["transform", "inverse_transform", "score", "score_samples"]
    return names + (["transform_std", "sample"] if hasattr(est, "sample") else [])


@pytest.mark.parametrize("Est", [AutoencoderTransformer, VAETransformer])
def test_hostile_input_gives_sklearn_errors_and_leaves_the_estimator(Est):
    """Clear ValueErrors (never a torch error), and a refit that fails changes
    nothing."""
    X = np.random.RandomState(0).rand(30, 5)
    for method in _methods(Est()):
        with pytest.raises(NotFittedError):
            getattr(Est(), method)(*([] if method == "sample" else [X]))
    est = Est(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(X)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    bad_data = {
        "NaN": X_nan,
        "infinity": np.where(X > 0.5, np.inf, X),
        "expecting 5 features": X[:, :3],
        "could not convert string": np.full((3, 5), "a"),
        "Complex data": X.astype(complex),
        "Expected 2D array": X[0],
        "0 sample": X[:0],
    }
    fresh = Est(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
    for match, bad in bad_data.items():
        for call in (est.transform, est.score, est.score_samples):
            with pytest.raises(ValueError, match=match):
                call(bad)
        if match != "expecting 5 features":
            with pytest.raises(ValueError, match=match.replace("5", "2")):
                est.inverse_transform(bad[..., :2] if bad.ndim else bad)
            before = pickle.dumps(vars(est))
            for call in (est.fit, est.partial_fit, fresh.fit):
                with pytest.raises(ValueError, match=match):
                    call(bad)
            assert pickle.dumps(vars(est)) == before
            assert not hasattr(fresh, "n_features_in_")
    bad_params = [
        {"hidden_layer_sizes": (0,)},
        {"hidden_layer_sizes": (-3,)},
        {"hidden_layer_sizes": (True,)},
        {"hidden_layer_sizes": "abc"},
        {"n_components": 0},
        {"batch_size": -1},
        {"learning_rate_init": 0.0},
        {"max_iter": 2.5},
        {"callbacks": [1]},
    ]
    for params in bad_params:
        est.set_params(**params)
        before = pickle.dumps(vars(est))
        with pytest.raises(ValueError, match=next(iter(params))):
            est.fit(X)
        assert pickle.dumps(vars(est)) == before
        est.set_params(**Est(hidden_layer_sizes=(4,)).get_params())


def test_sample_counts(fitted_vae):
    assert fitted_vae.sample(np.int64(3)).shape == (3, 64)
    assert fitted_vae.sample(True).shape == (1, 64)  # a bool is an int, as in sklearn
    for n in (0, -1, 2.5, "3", None):
        with pytest.raises(ValueError, match="n_samples"):
            fitted_vae.sample(n)
    for k in (0, -1, 2.5, "3", None):
        with pytest.raises(ValueError, match="n_importance_samples"):
            fitted_vae.score(np.zeros((2, 64)), n_importance_samples=k)
