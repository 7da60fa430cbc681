"""The loss terms against closed forms (scipy.stats) and Monte Carlo estimates."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy import stats

from skvae import _losses

RNG = np.random.RandomState(0)


def t(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def test_bernoulli_matches_scipy_on_binary_data():
    logits = RNG.randn(5, 7)
    x = (RNG.rand(5, 7) > 0.5).astype(float)
    p = 1 / (1 + np.exp(-logits))
    expected = stats.bernoulli.logpmf(x, p).sum(1)
    assert_allclose(_losses.bernoulli_log_likelihood(t(logits), t(x)).numpy(), expected)


def test_bernoulli_on_grey_levels_is_negative_cross_entropy():
    logits, x = RNG.randn(4, 6), RNG.rand(4, 6)
    p = 1 / (1 + np.exp(-logits))
    expected = (x * np.log(p) + (1 - x) * np.log1p(-p)).sum(1)
    out = _losses.bernoulli_log_likelihood(t(logits), t(x))
    assert_allclose(out.numpy(), expected)
    for reduction, fn in [("sum", np.sum), ("mean", np.mean)]:
        r = _losses.bernoulli_log_likelihood(t(logits), t(x), reduction)
        assert_allclose(float(r), fn(expected))


def test_bernoulli_broadcasts_over_importance_samples():
    logits, x = RNG.randn(3, 4, 6), RNG.rand(4, 6)
    out = _losses.bernoulli_log_likelihood(t(logits), t(x))
    assert out.shape == (3, 4)
    assert_allclose(
        out[1].numpy(), _losses.bernoulli_log_likelihood(t(logits[1]), t(x)).numpy()
    )


@pytest.mark.parametrize("variance", [0.1, 1.0, 32.0])
def test_gaussian_matches_scipy(variance):
    mean, x = RNG.randn(5, 8), RNG.randn(5, 8)
    expected = stats.norm.logpdf(x, mean, math.sqrt(variance)).sum(1)
    out = _losses.gaussian_log_likelihood(t(mean), t(x), variance)
    assert_allclose(out.numpy(), expected)
    assert_allclose(
        float(_losses.gaussian_log_likelihood(t(mean), t(x), variance, "sum")),
        expected.sum(),
    )
    assert_allclose(
        float(_losses.gaussian_log_likelihood(t(mean), t(x), variance, "mean")),
        expected.mean(),
    )


def test_gaussian_with_half_n_features_variance_is_mean_squared_error():
    """The report's loss: Gaussian NLL, variance d/2 = mean-over-pixels SE + const."""
    d = 784
    # float64: the constant (~3000 nats) dwarfs the squared error (~0.2).
    rng = np.random.RandomState(1)
    mean, x = t(rng.rand(16, d)), t(rng.rand(16, d))
    const = 0.5 * d * math.log(2 * math.pi * d / 2)
    nll = -_losses.gaussian_log_likelihood(mean, x, d / 2, "mean")
    assert_allclose(float(nll) - const, float(F.mse_loss(mean, x)), rtol=1e-10)


def test_gaussian_log_density_matches_scipy():
    z, mean, logvar = RNG.randn(6, 3), RNG.randn(6, 3), RNG.randn(6, 3)
    expected = [
        stats.multivariate_normal(m, np.diag(np.exp(lv))).logpdf(zi)
        for zi, m, lv in zip(z, mean, logvar, strict=True)
    ]
    assert_allclose(
        _losses.gaussian_log_density(t(z), t(mean), t(logvar)).numpy(), expected
    )
    assert_allclose(
        _losses.standard_normal_log_density(t(z)).numpy(),
        stats.multivariate_normal(np.zeros(3)).logpdf(z),
    )


def test_kl_to_standard_normal_closed_form_and_general_kl_agree():
    mean, logvar = RNG.randn(10, 4), RNG.randn(10, 4)
    kl = _losses.gaussian_kl_standard(t(mean), t(logvar))
    general = _losses.gaussian_kl(t(mean), t(logvar), t(np.zeros(4)), t(np.zeros(4)))
    assert_allclose(kl.numpy(), general.numpy())
    expected = 0.5 * (mean**2 + np.exp(logvar) - 1 - logvar).sum(1)
    assert_allclose(kl.numpy(), expected)
    per_dim = _losses.gaussian_kl_standard(
        t(mean), t(logvar), "mean", per_dimension=True
    )
    assert per_dim.shape == (4,)
    assert_allclose(float(per_dim.sum()), expected.mean())


def test_kl_matches_monte_carlo():
    """KL(q || p) = E_q[log q(z) - log p(z)], estimated from 400k draws."""
    mq, lq = np.array([0.3, -1.0]), np.array([-0.5, 0.4])
    mp, lp = np.array([-0.2, 0.5]), np.array([0.3, -0.2])
    rng = np.random.RandomState(1)
    z = mq + np.exp(lq / 2) * rng.randn(400_000, 2)
    q = stats.norm(mq, np.exp(lq / 2))
    p = stats.norm(mp, np.exp(lp / 2))
    mc = (q.logpdf(z) - p.logpdf(z)).sum(1)
    kl = float(_losses.gaussian_kl(t(mq), t(lq), t(mp), t(lp)))
    assert abs(kl - mc.mean()) < 4 * mc.std() / math.sqrt(len(mc))


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(-5, 5), min_size=2, max_size=2),
    st.lists(st.floats(-4, 4), min_size=2, max_size=2),
)
def test_kl_is_non_negative_and_zero_only_at_the_prior(mean, logvar):
    kl = float(_losses.gaussian_kl_standard(t(mean), t(logvar)))
    assert kl >= -1e-12
    at_prior = np.allclose(mean, 0, atol=1e-3) and np.allclose(logvar, 0, atol=1e-3)
    if not at_prior:  # 0.5 * sum(m^2 + e^l - 1 - l) grows quadratically away
        assert kl > 1e-8
    assert float(_losses.gaussian_kl_standard(t([0.0, 0.0]), t([0.0, 0.0]))) == 0.0


def test_elbo():
    assert float(_losses.elbo(t(-3.0), t(2.0), 0.5)) == -4.0
    assert float(_losses.elbo(t(-3.0), t(2.0))) == -5.0


def _linear_gaussian(x, K, q_mean, q_var, seed=0):
    """IWAE bound of z ~ N(0,1), x|z ~ N(z, 1) with q(z|x) = N(q_mean, q_var)."""
    g = torch.Generator().manual_seed(seed)
    z = q_mean + math.sqrt(q_var) * torch.randn(
        K, len(x), 1, generator=g, dtype=torch.float64
    )
    log_px = _losses.gaussian_log_likelihood(z, x[:, None], 1.0)
    log_pz = _losses.standard_normal_log_density(z)
    log_qz = _losses.gaussian_log_density(
        z, q_mean, torch.tensor(math.log(q_var), dtype=torch.float64)
    )
    return _losses.iwae_bound(log_px, log_pz, log_qz)


def test_iwae_is_exact_with_the_true_posterior():
    x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    true_log_px = stats.norm(0, math.sqrt(2)).logpdf(x.numpy())
    bound = _linear_gaussian(x, 5, (x / 2)[:, None], 0.5)
    assert_allclose(bound.numpy(), true_log_px)


def test_iwae_tightens_with_more_samples():
    x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    true_log_px = stats.norm(0, math.sqrt(2)).logpdf(x.numpy())
    q_mean = (x / 2 + 0.7)[:, None]
    gaps = [
        np.mean(
            [
                (true_log_px - _linear_gaussian(x, K, q_mean, 1.5, s).numpy()).mean()
                for s in range(200)
            ]
        )
        for K in (1, 10, 1000)
    ]
    assert gaps[0] > gaps[1] > gaps[2] > 0
    assert gaps[2] < 0.01
