"""The units of X do not decide the outcome: standardisation, calibrated decoder."""

import copy

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy import stats

from skvae import AutoencoderTransformer, PCAReducer, VAETransformer
from skvae._data import row_noise
from skvae.metrics import reconstruction_r2

pytestmark = pytest.mark.filterwarnings("ignore::skvae.PosteriorCollapseWarning")

SMALL = dict(hidden_layer_sizes=(32,), max_iter=10, random_state=0)


@pytest.fixture(scope="module")
def vae_pair(digits_small):
    """The same VAE fitted on X and on 255 X + 7, float64 so rounding is small."""
    X, _ = digits_small
    fits = [
        VAETransformer(n_components=3, precision="float32", **SMALL).fit(X * a + b)
        for a, b in ((1.0, 0.0), (255.0, 7.0))
    ]
    return X, fits


def test_vae_codes_do_not_depend_on_the_units_of_x(vae_pair):
    X, (vae, scaled) = vae_pair
    assert scaled.scale_ == pytest.approx(255 * vae.scale_)
    assert_allclose(scaled.mean_, 255 * vae.mean_ + 7)
    assert_allclose(scaled.transform(X * 255 + 7), vae.transform(X), atol=1e-4)
    assert_allclose(
        scaled.inverse_transform(scaled.transform(X[:20] * 255 + 7)),
        vae.inverse_transform(vae.transform(X[:20])) * 255 + 7,
        atol=1e-2,
    )


def test_vae_score_is_a_density_of_x_in_its_own_units(vae_pair):
    # Scaling X by 255 divides densities by 255 per feature: scores differ by
    # n_features * log(255) nats, exactly, when the models agree.
    X, (vae, scaled) = vae_pair
    shift = X.shape[1] * np.log(255.0)
    assert_allclose(scaled.score(X * 255 + 7), vae.score(X) - shift, atol=0.05)


def test_vae_gaussian_score_matches_scipy(vae_pair):
    X, (vae, _) = vae_pair
    x = X[:25]
    (eps,) = row_noise(x, 1, 3, vae._score_seed)
    with torch.no_grad():
        xs = torch.as_tensor((x - vae.mean_) / vae.scale_, dtype=torch.float32)
        mean, logvar = vae.module_.encode(xs)
        z = mean + torch.exp(0.5 * logvar) * torch.from_numpy(eps)
        x_hat = vae.module_.decode(z).numpy() * vae.scale_ + vae.mean_
        sd = vae.scale_ * np.sqrt(vae.module_.observation_variance().item())
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(1).numpy()
    expected = stats.norm.logpdf(x, loc=x_hat, scale=sd).sum(1) - kl
    assert_allclose(vae.score_samples(x), expected, rtol=1e-4)


def test_learned_variance_is_the_held_out_reconstruction_error(digits_small):
    # The variance that maximises a Gaussian likelihood is the mean squared
    # residual: the fitted model keeps that of the rows it held out.
    X, _ = digits_small
    vae = VAETransformer(n_components=4, **SMALL).fit(X)
    n_val = round(vae.validation_fraction * len(X))
    held_out = X[vae._validation_permutation(len(X))[:n_val].numpy()]
    # Standardised as the estimator does, so that the rows own the same noise.
    xs = vae._standardize(torch.as_tensor(held_out, dtype=torch.float32)).numpy()
    with torch.no_grad():
        mean, logvar = vae.module_.encode(torch.from_numpy(xs))
        (eps,) = row_noise(xs, 1, 4, vae._score_seed)
        z = mean + torch.exp(0.5 * logvar) * torch.from_numpy(eps)
        residual = (vae.module_.decode(z).numpy() - xs) ** 2
    learned = vae.module_.observation_variance().item()
    assert learned == pytest.approx(residual.mean(), rel=1e-4)
    # Validation scored the held-out rows at their own optimum, so the kept
    # epoch's reconstruction term is that of a calibrated Gaussian:
    # n_features / 2 * (1 + log(2 pi var)), up to the noise of other draws.
    calibrated = X.shape[1] / 2 * (1 + np.log(2 * np.pi * learned))
    kept = max(vae.history_, key=lambda r: -r["validation_loss"])
    assert kept["validation_reconstruction"] == pytest.approx(calibrated, abs=3.0)


def test_per_feature_variance_learns_one_variance_per_feature(digits_small):
    X, _ = digits_small
    vae = VAETransformer(gaussian_variance="learned_per_feature", **SMALL).fit(X)
    variance = vae.module_.observation_variance().detach().numpy()
    assert variance.shape == (X.shape[1],)
    # Border pixels of the digits are (almost) constant: their variance is
    # far below that of the central pixels, at the floor.
    constant = X.std(0) < 1e-3
    assert constant.any()
    assert variance[constant].max() < 0.1 * np.median(variance[~constant])
    assert np.isfinite(vae.score(X))


def test_fixed_variance_and_bernoulli_use_x_as_it_is(digits_small):
    X, _ = digits_small
    for params in (dict(gaussian_variance=0.5), dict(likelihood="bernoulli")):
        vae = VAETransformer(**params, **SMALL).fit(X)
        assert vae.scale_ == 1.0 and not vae.mean_.any()


@pytest.mark.parametrize("scale", [1 / 16, 1.0, 255 / 16])
def test_linear_autoencoder_equals_pca_at_any_scale(digits, scale):
    # The claim, with the default optimisation: within 0.01 of PCA's R².
    X = digits[0] * 16 * scale
    pca = reconstruction_r2(PCAReducer(3).fit(X), X)
    ae = AutoencoderTransformer(
        3, activation="identity", hidden_layer_sizes=(), random_state=0
    ).fit(X)
    assert reconstruction_r2(ae, X) == pytest.approx(pca, abs=0.01)


def test_autoencoder_codes_do_not_depend_on_the_units_of_x(digits_small):
    X, _ = digits_small
    ae = AutoencoderTransformer(n_components=3, precision="float32", **SMALL)
    a = ae.fit(X).transform(X)
    b = ae.fit(X * 255).transform(X * 255)
    assert_allclose(a, b, atol=1e-4)
    assert ae.noise_variance_ == pytest.approx(
        np.mean((ae.inverse_transform(b) - X * 255) ** 2), rel=1e-3
    )


def test_vae_score_spread_over_seeds_is_that_of_independent_noise(fitted_vae, digits):
    # With one noise vector shared by all samples (common random numbers),
    # score() moves from seed to seed by about a single sample's Monte Carlo
    # spread; with noise of its own per sample, by that spread / sqrt(n).
    X = digits[0][:400]
    vae = copy.deepcopy(fitted_vae)
    scores = []
    for seed in range(20):
        vae._score_seed = seed
        scores.append(vae.score_samples(X))
    scores = np.array(scores)  # (seeds, samples)
    per_sample_sd = np.sqrt(scores.var(axis=0).mean())
    assert per_sample_sd > 0.1  # the estimate is noisy to begin with
    assert scores.mean(axis=1).std() < 2 * per_sample_sd / np.sqrt(len(X))
