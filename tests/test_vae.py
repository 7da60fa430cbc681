"""VAETransformer: posterior, sampling, ELBO scores, diagnostics, the MSE recipe."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from skvae import PosteriorCollapseWarning, VAETransformer
from skvae._data import row_noise
from skvae._vae import _VAEObjective

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_transform_is_the_deterministic_posterior_mean(fitted_vae, digits):
    X = digits[0][:40]
    Z = fitted_vae.transform(X)
    assert_array_equal(Z, fitted_vae.transform(X))
    mean, logvar = fitted_vae.module_.encode(torch.as_tensor(X, dtype=torch.float32))
    assert_allclose(Z, mean.detach().numpy(), rtol=1e-5, atol=1e-6)
    S = fitted_vae.transform_std(X)
    assert S.shape == Z.shape and S.dtype == X.dtype and (S > 0).all()
    assert_allclose(S, np.exp(0.5 * logvar.detach().numpy()), rtol=1e-5)


def test_sample_and_inverse_transform_give_bernoulli_means(fitted_vae):
    X = fitted_vae.sample(16, random_state=0)
    assert X.shape == (16, 64) and X.dtype == np.float64
    assert (X >= 0).all() and (X <= 1).all()
    assert_array_equal(X, fitted_vae.sample(16, random_state=0))
    assert not np.array_equal(X, fitted_vae.sample(16, random_state=1))
    with pytest.raises(ValueError, match="n_samples"):
        fitted_vae.sample(0)


def test_score_is_the_elbo_with_kl_weight_one(fitted_vae, digits):
    X = digits[0][:200]
    scores = fitted_vae.score_samples(X)
    assert scores.shape == (200,) and (scores < 0).all()
    assert_array_equal(scores, fitted_vae.score_samples(X))  # reproducible
    assert fitted_vae.score(X) == pytest.approx(scores.mean())
    # Each sample's score is its own: independent of order and companions.
    assert_array_equal(fitted_vae.score_samples(X[::-1]), scores[::-1])
    assert_array_equal(fitted_vae.score_samples(X[:5]), scores[:5])
    # kl_weight is a training recipe; it does not enter the score.
    reweighted = VAETransformer(**fitted_vae.get_params())
    reweighted.__dict__.update(
        {k: v for k, v in fitted_vae.__dict__.items() if k.endswith("_")}
    )
    reweighted.__dict__.update(
        {k: v for k, v in fitted_vae.__dict__.items() if k.startswith("_")}
    )
    reweighted.set_params(kl_weight=1e-8)
    assert_array_equal(reweighted.score_samples(X), scores)


def test_elbo_matches_a_direct_computation(fitted_vae, digits):
    X = torch.as_tensor(digits[0][:30], dtype=torch.float32)
    eps = torch.from_numpy(row_noise(X.numpy(), 1, 4, fitted_vae._score_seed))
    with torch.no_grad():
        mean, logvar = fitted_vae.module_.encode(X)
        z = mean + torch.exp(0.5 * logvar) * eps[0]
        logits = fitted_vae.module_.decode(z)
        log_px = -F.binary_cross_entropy_with_logits(logits, X, reduction="none").sum(1)
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(1)
    assert_allclose(
        fitted_vae.score_samples(X.numpy()), (log_px - kl).numpy(), rtol=1e-5
    )


def test_importance_weighted_bound_is_tighter(fitted_vae, digits):
    X = digits[0][:300]
    elbo = fitted_vae.score(X)
    iwae = fitted_vae.score(X, n_importance_samples=50)
    assert iwae > elbo
    with pytest.raises(ValueError, match="n_importance_samples"):
        fitted_vae.score(X, n_importance_samples=0)


def test_bernoulli_needs_unit_interval(fitted_vae, digits):
    X = digits[0]
    with pytest.raises(ValueError, match=r"likelihood='bernoulli' needs X in \[0, 1\]"):
        VAETransformer(likelihood="bernoulli").fit(X * 16)
    with pytest.raises(ValueError, match="needs X in"):
        fitted_vae.score(X - 0.5)


def test_diagnostics_describe_the_posterior(pinned):
    """kl_per_dimension_ and active_units_ against their definitions, computed
    here from the posterior that transform and transform_std describe."""
    # Grey levels driven by 2 latent factors: a VAE with 8 units keeps about
    # 2 of them and switches the others off (2-4 active for seeds 0-3), so
    # that active_units_ has both values to get right.
    rng = np.random.default_rng(0)
    factors = rng.standard_normal((400, 2))
    loadings = 3 * rng.standard_normal((2, 16))
    X = 1 / (1 + np.exp(-factors @ loadings))
    vae = VAETransformer(
        n_components=8, hidden_layer_sizes=(32,), likelihood="bernoulli",
        batch_size=32, learning_rate_init=1e-2, max_iter=20, n_iter_no_change=100,
        random_state=0, **pinned,
    ).fit(X)  # fmt: skip
    mean, std = vae.transform(X), vae.transform_std(X)
    kl = 0.5 * (mean**2 + std**2 - 1 - 2 * np.log(std))  # KL(N(m, s^2) || N(0, 1))
    assert_allclose(vae.kl_per_dimension_, kl.mean(axis=0), rtol=1e-4, atol=1e-7)
    active = mean.var(axis=0) > 0.01
    assert 0 < active.sum() < 8, "retune: the test needs active and inactive units"
    assert_array_equal(vae.active_units_, active)
    assert vae.n_active_units_ == active.sum()


def test_history_reports_the_training_elbo(fitted_vae, digits):
    """With kl_weight=1 the logged loss is the negative ELBO per sample, which
    score() computes independently; its KL is the posterior's KL."""
    X, _ = digits
    last = fitted_vae.history_[-1]
    assert [h["loss"] for h in fitted_vae.history_] == fitted_vae.loss_curve_
    # The epoch's means were taken while the weights still moved: measured
    # within 0.9% of the final ELBO and 14% of the final KL for seeds 0-2.
    assert last["loss"] == pytest.approx(-fitted_vae.score(X), rel=0.03)
    assert last["kl"] == pytest.approx(fitted_vae.kl_per_dimension_.sum(), rel=0.3)


@pytest.mark.filterwarnings("ignore::skvae.PosteriorCollapseWarning")
def test_kl_per_dimension_is_never_negative(digits_small):
    """A collapsed dimension's KL is 0 up to float32 rounding, which can fall
    below 0 and print as "-0."; kl_per_dimension_ clips it to 0."""
    X, _ = digits_small
    vae = VAETransformer(
        n_components=3, hidden_layer_sizes=(16,), max_iter=1, random_state=0
    ).fit(X)
    # Collapse dimension 0 by hand: its posterior is N(0, exp(-1e-4)) for
    # every x, whose KL of 5e-9 nats comes out as -8e-9 in float32.
    head = vae.module_.encoder[-1]
    with torch.no_grad():
        for row, bias in ((0, 0.0), (vae.n_components, -1e-4)):
            head.weight[row] = 0.0
            head.bias[row] = bias
    mean = torch.zeros(1)
    logvar = torch.full((1,), -1e-4)
    assert 0.5 * (mean.square() + logvar.exp() - 1 - logvar) < 0  # the premise
    vae._set_diagnostics(X)  # what fit computes kl_per_dimension_ with
    kl = vae.kl_per_dimension_
    assert kl[0] == 0.0 and not np.signbit(kl[0])
    assert (kl[1:] > 0).all()


def test_posterior_collapse_warns(digits_small):
    X, _ = digits_small
    with pytest.warns(PosteriorCollapseWarning, match="collapse"):
        VAETransformer(
            n_components=3, hidden_layer_sizes=(16,), kl_weight=100.0, max_iter=15,
            random_state=0,
        ).fit(X)  # fmt: skip


def test_kl_warmup_is_linear():
    obj = _VAEObjective("gaussian", 1.0, kl_weight=0.5, kl_warmup=4)
    assert [obj.weight(e) for e in range(6)] == [0.125, 0.25, 0.375, 0.5, 0.5, 0.5]
    assert _VAEObjective("gaussian", 1.0, 0.5, 0).weight(0) == 0.5


def test_kl_warmup_reaches_the_gradient(digits_small, pinned):
    """The warm-up must change what is trained, not only the logged loss.

    kl_weight=5 pulls every posterior onto the prior within 4 epochs (KL of
    the fitted posterior 0.002-0.006 nats, seeds 0-2). Warmed up over 100
    epochs, those 4 epochs train with weights 0.05-0.2 and the codes keep
    2.5-3.4 nats. A loop that logged the warmed-up loss but backpropagated
    the full weight gives the collapsed KL (measured: the same 0.002-0.006).
    """
    X, _ = digits_small
    params = dict(
        n_components=4, hidden_layer_sizes=(32,), likelihood="bernoulli",
        kl_weight=5.0, batch_size=32, learning_rate_init=1e-2, max_iter=4,
        n_iter_no_change=100, random_state=0, **pinned,
    )  # fmt: skip
    with pytest.warns(PosteriorCollapseWarning):  # the premise: this weight collapses
        full = VAETransformer(kl_warmup=0, **params).fit(X)
    warm = VAETransformer(kl_warmup=100, **params).fit(X)
    assert full.kl_per_dimension_.sum() < 0.1
    assert warm.kl_per_dimension_.sum() > 1.0


@pytest.mark.parametrize("beta", [8e-4, 5e-5, 1e-8])
def test_mean_squared_error_recipe_is_a_gaussian_likelihood(beta):
    """mean-over-pixels SE + beta * KL == likelihood="gaussian",
    gaussian_variance=n_features / 2, kl_weight=beta, up to a constant.

    Same module, same noise: the losses differ by the Gaussian normaliser
    only and the gradients agree.
    """
    d, n = 784, 64
    vae = VAETransformer(
        n_components=20, hidden_layer_sizes=(32,), likelihood="gaussian",
        gaussian_variance=d / 2, kl_weight=beta, max_iter=1, random_state=0,
    )  # fmt: skip
    X = torch.rand(n, d, generator=torch.Generator().manual_seed(0))
    module = _new_network(vae, d)

    loss = vae._objective()(module, X, 0, torch.Generator().manual_seed(1))[0]
    ours = torch.autograd.grad(loss, list(module.parameters()))

    def report_loss():
        mean, logvar = module.encode(X)
        eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(1))
        recon = module.decode(mean + torch.exp(0.5 * logvar) * eps)
        kl = torch.mean(torch.sum(1 + logvar - mean**2 - logvar.exp(), 1)) * -0.5
        return F.mse_loss(recon, X) + beta * kl

    reference = report_loss()
    theirs = torch.autograd.grad(reference, list(module.parameters()))
    const = 0.5 * d * math.log(2 * math.pi * d / 2)
    # float32 holds the ~3066-nat constant to about 2e-4.
    assert float(loss.detach()) - const == pytest.approx(
        float(reference.detach()), abs=5e-4
    )
    for a, b in zip(ours, theirs, strict=True):
        assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-7)


def test_mean_squared_error_recipe_trains(digits_small):
    X, _ = digits_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vae = VAETransformer(
            n_components=4, hidden_layer_sizes=(32,), gaussian_variance=64 / 2,
            kl_weight=5e-5, max_iter=5, random_state=0,
        ).fit(X)  # fmt: skip
    const = 0.5 * 64 * math.log(2 * math.pi * 32)
    mse = [h["reconstruction"] - const for h in vae.history_]
    assert 0 < mse[-1] < mse[0]  # the constant is exactly the Gaussian normaliser


@pytest.mark.parametrize("early_stopping", [False, True])
def test_kl_warmup_epochs_do_not_count_towards_convergence(
    digits_small, early_stopping
):
    # The loss grows with the KL weight during the warm-up; those epochs must not
    # count as "no improvement". With tol=1e9 every full-weight epoch after the
    # first counts as no change: stop 1 + n_iter_no_change epochs after warm-up.
    X, _ = digits_small
    vae = VAETransformer(
        hidden_layer_sizes=(8,), kl_warmup=6, max_iter=20, tol=1e9,
        n_iter_no_change=1, early_stopping=early_stopping, random_state=0,
        learning_rate="constant",
    ).fit(X)  # fmt: skip
    assert vae.n_iter_ == 6 + 2


@pytest.mark.parametrize("variance", [None, 1.0, "learned", "learned_per_feature"])
def test_training_objective_is_the_per_sample_mean_of_the_losses(variance):
    """_losses' docstring: training uses the "mean" forms (nats per sample)."""
    from skvae import _losses

    likelihood = "bernoulli" if variance is None else "gaussian"
    X = torch.rand(50, 6, generator=torch.Generator().manual_seed(0))
    vae = VAETransformer(
        hidden_layer_sizes=(5,), likelihood=likelihood, kl_weight=0.3,
        gaussian_variance=variance or 1.0,
    )  # fmt: skip
    module = _new_network(vae, 6)
    loss, terms = vae._objective()(module, X, 0, torch.Generator().manual_seed(1))
    with torch.no_grad():  # the reference needs no gradients
        mean, logvar = module.encode(X)
    eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = module.decode(mean + torch.exp(0.5 * logvar) * eps)
    if likelihood == "bernoulli":
        log_px = _losses.bernoulli_log_likelihood(out, X)
    else:
        # A calibrated decoder uses the batch's mean squared residual.
        squared = ((X - out) ** 2).numpy()
        var = {"learned": squared.mean(), "learned_per_feature": squared.mean(0)}
        var = var.get(variance, variance)
        log_px = torch.from_numpy(
            stats.norm.logpdf(X.numpy(), out.numpy(), np.sqrt(var)).sum(1)
        )
    kl = _losses.gaussian_kl_standard(mean, logvar)
    assert float(terms[0]) == pytest.approx(float(-log_px.mean()), rel=1e-5)
    assert float(terms[1]) == pytest.approx(float(kl.mean()), rel=1e-5)
    assert float(loss.detach()) == pytest.approx(
        float(-log_px.mean() + 0.3 * kl.mean()), 1e-5
    )


@pytest.mark.parametrize("variance", ["learned", "learned_per_feature"])
def test_the_variance_is_fitted_to_held_out_rows(variance):
    # A variance fitted to the training rows follows them down as the network
    # memorises them; the held-out rows give the variance that the held-out
    # score uses, and that the next epoch's training batches use.
    g = torch.Generator().manual_seed(0)
    X_train, X_val = torch.rand(60, 6, generator=g), torch.rand(40, 6, generator=g)
    vae = VAETransformer(hidden_layer_sizes=(5,), gaussian_variance=variance)
    module = _new_network(vae, 6)
    objective = vae._objective()

    def decoded(X, seed):
        with torch.no_grad():
            mean, logvar = module.encode(X)
            eps = torch.randn(mean.shape, generator=torch.Generator().manual_seed(seed))
            return module.decode(mean + torch.exp(0.5 * logvar) * eps).numpy()

    def ml_variance(squared):
        return squared.mean() if variance == "learned" else squared.mean(0)

    # Held out, in two batches: each row is scored with the variance of all 40.
    module.eval()
    objective.start_evaluation()
    parts = [
        objective(module, X_val[rows], 3, torch.Generator().manual_seed(seed))[1]
        for rows, seed in ((slice(0, 25), 2), (slice(25, 40), 3))
    ]
    terms = objective.finish_evaluation((parts[0] * 25 + parts[1] * 15) / 40)
    out = np.concatenate([decoded(X_val[:25], 2), decoded(X_val[25:], 3)])
    val_var = ml_variance((X_val.numpy() - out) ** 2)
    expected = -stats.norm.logpdf(X_val.numpy(), out, np.sqrt(val_var)).sum(1)
    assert float(terms[0]) == pytest.approx(expected.mean(), rel=1e-5)

    # Training batches now use the held-out variance, not their own optimum.
    module.train()
    _, terms = objective(module, X_train, 3, torch.Generator().manual_seed(1))
    expected = -stats.norm.logpdf(
        X_train.numpy(), decoded(X_train, 1), np.sqrt(val_var)
    ).sum(1)
    assert float(terms[0]) == pytest.approx(expected.mean(), rel=1e-5)
    own = -stats.norm.logpdf(
        X_train.numpy(),
        decoded(X_train, 1),
        np.sqrt(ml_variance((X_train.numpy() - decoded(X_train, 1)) ** 2)),
    ).sum(1)
    assert float(terms[0]) != pytest.approx(own.mean(), rel=1e-3)


def _new_network(vae, n_features):
    """The network ``vae.fit`` would start from on ``n_features`` columns."""
    vae._check_params(n_features)
    vae._architecture = vae._architecture_of_params(n_features)
    return vae._build_module(torch.Generator().manual_seed(0))
