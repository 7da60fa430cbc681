"""VAETransformer: a variational autoencoder as a scikit-learn transformer."""

from __future__ import annotations

import math
import os
import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

from . import _losses, _state
from ._data import like_input, make_generator, row_noise
from ._losses import _LOG_2PI
from ._modules import MIN_VARIANCE, VariationalAutoencoder
from ._neural import (
    _COMMON_CONSTRAINTS,
    Constraints,
    _n_rows,
    _NeuralReducer,
    fill_doc,
)
from .metrics import ACTIVE_UNIT_THRESHOLD


class PosteriorCollapseWarning(UserWarning):
    """The fitted VAE's posterior equals its prior: no latent dimension is used.

    Raised by :meth:`VAETransformer.fit` when ``n_active_units_`` is 0.
    """


class HeldOutGapWarning(UserWarning):
    """The fitted VAE's held-out ELBO lies far below its training ELBO.

    Raised by :meth:`VAETransformer.fit` when ``validation_elbo_`` is more
    than one nat per feature below ``train_elbo_``: the model describes the
    rows it trained on much better than new ones, and its ``score`` on new
    data is the number to trust.
    """


#: Nats per feature by which the held-out ELBO may trail the training ELBO
#: before fit warns. Fits of the defaults trail by 0.0-0.4 (all the data
#: sets of benchmarks/bench_heldout.py); the overfitted fits this warns of
#: trailed by 47 (500 MNIST images) to 479 (wine, 8 components).
HELD_OUT_GAP_PER_FEATURE = 1.0


class _VAEObjective:
    """Negative ELBO per sample with a (warmed-up) KL weight, for the training loop."""

    term_names = ("reconstruction", "kl")

    def __init__(self, likelihood, variance, kl_weight, kl_warmup):
        self.likelihood = likelihood
        self.variance = variance
        self.kl_weight = kl_weight
        self.kl_warmup = kl_warmup
        # The loss rises with the weight: no convergence check until it is full.
        self.warmup_epochs = kl_warmup
        # A calibrated decoder's variance fitted to the held-out rows at the
        # latest validation (None before the first, or without held-out rows),
        # and the squared residuals of the held-out pass under way.
        self._held_out = None
        self._residuals = None

    def weight(self, epoch):
        """The KL weight of (0-based) ``epoch``: linear warm-up, then ``kl_weight``."""
        if self.kl_warmup:
            return self.kl_weight * min(1.0, (epoch + 1) / self.kl_warmup)
        return self.kl_weight

    def __call__(self, module, xb, epoch, generator):
        # Loss terms in float32 whatever precision the network runs in.
        mean, logvar = (t.float() for t in module.encode(xb))
        eps = torch.randn(
            mean.shape, generator=generator, device=mean.device, dtype=mean.dtype
        )
        out = module.decode(torch.addcmul(mean, torch.exp(0.5 * logvar), eps)).float()
        variance = None  # a Bernoulli's
        if self.likelihood == "gaussian":
            variance = self._variance(out, xb, module.training)
        recon = -_log_likelihood(self.likelihood, variance, out, xb, "mean")
        kl = _losses.gaussian_kl_standard(mean, logvar, "mean")
        loss = recon + self.weight(epoch) * kl
        return loss, torch.stack((recon.detach(), kl.detach()))

    def total(self, values, epoch):
        return values[0] + self.weight(epoch) * values[1]

    def _variance(self, out, x, training):
        """The fixed variance, or the calibrated one.

        A calibrated decoder's variance is not learned by gradient steps but
        set to its maximum-likelihood value, the mean squared residual (the
        "optimal sigma" of Rybkin et al., 2021), so it needs no learning rate
        and never lags behind the reconstruction. Fitted to the training
        batches, it follows their residuals down as the network memorises
        them: on a few thousand rows the variance ended 40 times below the
        held-out residual, the reconstruction term outweighed the KL ever
        more, and the held-out ELBO fell by a thousand nats while the
        training ELBO rose. So once held-out rows have been scored, training
        batches use the variance fitted to those (a fixed number for the
        next epoch, detached); before that, or without held-out rows, each
        batch uses its own optimum.
        """
        if not isinstance(self.variance, str):
            return self.variance
        squared = (x - out).detach().square()
        if not training:
            # Held out: the set's variance is known only at its end, where
            # finish_evaluation recomputes the term; meanwhile, sums.
            total, rows = self._residuals
            self._residuals = (total + squared.sum(0), rows + x.shape[0])
        elif self._held_out is not None:
            return self._held_out
        return self._optimum(squared.mean(0))

    def _optimum(self, mean_squared):
        """The maximum-likelihood variance given per-feature mean squared residuals."""
        ml = mean_squared.mean() if self.variance == "learned" else mean_squared
        return ml.clamp(min=MIN_VARIANCE)

    def start_evaluation(self):
        self._residuals = (0.0, 0)

    def finish_evaluation(self, terms):
        """The held-out terms under the variance fitted to all the held-out rows."""
        if not isinstance(self.variance, str) or self.likelihood != "gaussian":
            return terms
        total, rows = self._residuals
        mean_squared = total / rows
        variance = self._held_out = self._optimum(mean_squared)
        # The mean over rows of -log N(x; out, variance), from the sums alone.
        per_feature = mean_squared / variance + torch.log(variance) + _LOG_2PI
        nll = 0.5 * per_feature.expand(mean_squared.shape).sum()
        return torch.stack((nll.to(terms.dtype), terms[1]))


def _active_count(value, ctx):
    _state.integer(0)(value, ctx)
    units = ctx.get("active_units_")
    if isinstance(units, np.ndarray) and value != int(units.sum()):
        raise _state.StateError(f"{value} is not the number of active_units_")


def _check_fits_in_memory(n_bytes, what):
    """Refuse, before allocating anything, what needs more than all of memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # not a POSIX system
        return
    if n_bytes > total:
        raise MemoryError(
            f"{what} needs {n_bytes / 2**30:.3g} GiB for its codes and output, "
            f"more than this machine's {total / 2**30:.3g} GiB of memory. Draw "
            "fewer samples per call."
        )


def _log_likelihood(likelihood, variance, out, x, reduction):
    if likelihood == "bernoulli":
        return _losses.bernoulli_log_likelihood(out, x, reduction)
    return _losses.gaussian_log_likelihood(out, x, variance, reduction)


@fill_doc
class VAETransformer(_NeuralReducer):
    """A variational autoencoder (Kingma & Welling, 2014) as a scikit-learn transformer.

    The encoder gives the mean and log-variance of a diagonal Gaussian
    posterior ``q(z|x)``; the prior is ``N(0, I)``; the decoder gives the
    Bernoulli logits or the Gaussian mean of ``p(x|z)``. By default both are
    multilayer perceptrons through ``hidden_layer_sizes``; ``encoder`` and
    ``decoder`` take other networks (convolutional ones for images, or your
    own: :mod:`skvae.nn`). It is trained by maximising the ELBO,
    ``E_q[log p(x|z)] - kl_weight * KL(q(z|x) || p(z))``, with Adam on the
    CPU or a GPU.

    ``transform`` gives the posterior mean (deterministic), :meth:`transform_std`
    its standard deviation, ``inverse_transform`` the mean of ``p(x|z)``,
    :meth:`sample` draws new data, and ``score`` is the ELBO in nats.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent space. It may exceed ``n_features`` (an
        over-complete code); :class:`~skvae.PCAReducer` cannot.
    {{networks}}
    likelihood : {"gaussian", "bernoulli"}, default="gaussian"
        The observation model ``p(x|z)``. ``"gaussian"`` works on data of any
        scale; ``"bernoulli"`` needs X in [0, 1] (grey levels are accepted,
        but then the score is not a bound on a normalised density; see
        Notes).
    gaussian_variance : {"learned", "learned_per_feature"} or float, default="learned"
        The variance of the Gaussian likelihood. ``"learned"``: one variance
        for all features, fitted with the network (a "calibrated decoder",
        Rybkin et al., 2021) to rows held out from training (see Notes), so
        that the balance of reconstruction and KL does not depend on the
        scale of X; the model then works on standardised data (see
        ``mean_``). ``"learned_per_feature"``: one
        learned variance per feature. A number fixes the variance, in the
        units of X: smaller values weigh the reconstruction more against the
        KL term (see Notes). Learned variances are floored at 1e-4 times the
        data's mean variance per feature.
    kl_weight : float, default=1.0
        Weight of the KL term during training (``beta`` of a beta-VAE).
        Scores always use 1.
    kl_warmup : int, default=0
        Epochs over which the KL weight rises linearly from
        ``kl_weight / kl_warmup`` to ``kl_weight`` (0 disables the warm-up),
        which helps against posterior collapse. Convergence (``tol``,
        ``n_iter_no_change``) and early stopping's best epoch are judged only
        from the epoch where the weight is full.
    {{schedule}}
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when the validation
        loss stops improving, and keep the weights of its best epoch. With
        ``learning_rate="one_cycle"``, epochs before the step size peaks (the
        first 30 %) do not count towards ``n_iter_no_change``. With a learned
        ``gaussian_variance`` (the default) rows are held out and the best
        epoch is kept in any case (see Notes); early stopping adds the stop.
    validation_fraction : float, default=0.1
        Share of the data held out from training: for ``early_stopping``, and
        with a learned ``gaussian_variance`` always (when at least two rows
        are given; :meth:`partial_fit` holds out none).
    {{runtime}}

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network; ``module_.encode(x)`` gives ``(mean, logvar)``,
        ``module_.decode(z)`` the logits or mean of ``p(x|z)``.
    n_components_ : int
        Equal to ``n_components``.
    loss_curve_ : list of float
        Training loss (negative weighted ELBO, nats per sample) of each epoch.
    validation_scores_ : list of float or None
        Negative validation loss of each epoch (the training objective on the
        held-out rows, in the standardised units of ``loss_curve_``), when
        rows were held out (see ``validation_fraction``).
    best_validation_score_ : float or None
        That of the epoch whose weights were kept.
    train_elbo_ : float
        Mean ELBO of the rows the network trained on, in nats per row in the
        units of X (KL weight 1, as :meth:`score` gives it).
    validation_elbo_ : float or None
        The same of the held-out rows, or None where none were held out. Far
        below ``train_elbo_`` (by more than one nat per feature), ``fit``
        warns with a :class:`~skvae.HeldOutGapWarning`.
    best_loss_ : float
    history_ : list of dict
        One dict per epoch with ``epoch``, ``loss``, ``reconstruction`` (the
        negative log-likelihood), ``kl``, with ``early_stopping`` the same
        with a ``validation_`` prefix, and ``time``.
    n_iter_ : int
        Number of epochs trained, over all calls.
    kl_per_dimension_ : ndarray of shape (n_components,)
        Mean KL divergence of each latent dimension's posterior from the prior
        on the training data, in nats; never negative (a collapsed dimension's
        float32 rounding error is clipped to 0).
    active_units_ : ndarray of bool, shape (n_components,)
        Active latent dimensions on the training data (see
        :func:`skvae.metrics.active_units`).
    n_active_units_ : int
        Number of active dimensions.
    {{standardisation}}

    See Also
    --------
    AutoencoderTransformer : The deterministic autoencoder.
    skvae.metrics.active_units : The active-unit criterion.

    Notes
    -----
    *Scores.* :meth:`score_samples` is the ELBO with KL weight 1 whatever
    ``kl_weight`` is, so models trained with different ``kl_weight`` are
    compared on one scale (``GridSearchCV`` without a scorer does this). The
    expected log-likelihood is estimated with reparameterised samples whose
    noise is a function of the sample's values and a seed drawn at fit time
    (:func:`skvae._data.row_noise`): a sample's score is reproducible and does
    not depend on the order or grouping of the samples, and the Monte Carlo
    errors of different samples are independent, so they average out in
    :meth:`score`.

    *Held-out rows.* With a learned ``gaussian_variance`` (the default),
    ``fit`` trains on ``1 - validation_fraction`` of the rows and scores the
    rest after every epoch. Two things come of them. The decoder's variance
    is fitted to the held-out rows (to the training batches only in the
    first epoch): a variance fitted to the rows the network trains on
    follows them down as it memorises them, which on a few thousand rows
    weighed the reconstruction ever more against the KL term and left a
    held-out ELBO a thousand nats below the training one. And the fit keeps
    the weights of the epoch whose held-out loss was best: on small data
    the network goes on overfitting the rows as the one-cycle schedule
    runs. So ``score`` on new data is the held-out ELBO of the best epoch,
    and a search over ``kl_weight`` by ``score`` ranks models by how well
    they describe data they have not seen (:doc:`/user_guide`).

    *Grey levels under a Bernoulli likelihood.* The Bernoulli log-likelihood
    of a value strictly between 0 and 1 is minus the binary cross-entropy,
    which is not the log of a normalised density over [0, 1] (the continuous
    Bernoulli distribution of Loaiza-Ganem & Cunningham, 2019, adds the
    missing normaliser). On grey-level data the ELBO of
    ``likelihood="bernoulli"`` is therefore not a lower bound on
    ``log p(x)``; it is the summed cross-entropy figure that published MNIST
    results quote, and it ranks models fitted to the same data consistently.
    On binary data it is a true bound.

    *The mean-squared-error recipe.* A loss often written for VAEs is the
    mean over pixels of the squared error plus ``beta`` times the KL
    divergence, ``||x - mu||^2 / n_features + beta * KL``. With
    ``likelihood="gaussian"`` and ``gaussian_variance = n_features / 2`` the
    Gaussian negative log-likelihood is
    ``||x - mu||^2 / (2 * gaussian_variance) + n_features / 2 * log(2 pi
    gaussian_variance)`` = ``||x - mu||^2 / n_features + const``, so
    ``VAETransformer(likelihood="gaussian", gaussian_variance=n_features / 2,
    kl_weight=beta)`` minimises exactly that loss (the constant has no
    gradient); ``loss_curve_`` differs from it by the constant only.

    *Divergence.* If a loss term or a gradient becomes NaN or infinite,
    ``fit`` raises a ``ValueError`` naming the term and leaves the estimator as
    it was. Scale the data or lower ``learning_rate_init``.

    *Posterior collapse.* If no latent dimension is active after fitting, a
    :class:`PosteriorCollapseWarning` is emitted: lower ``kl_weight``, use
    ``kl_warmup`` or train longer; with a fixed ``gaussian_variance``, use a
    smaller one or ``"learned"``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import VAETransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VAETransformer(n_components=2, max_iter=20, random_state=0).fit(X)
    >>> vae.transform(X[:3]).shape
    (3, 2)
    >>> vae.n_active_units_
    2
    >>> vae.sample(4, random_state=0).shape
    (4, 64)
    """

    _parameter_constraints: ClassVar[dict] = Constraints(
        {
            **_COMMON_CONSTRAINTS,
            "likelihood": [StrOptions({"gaussian", "bernoulli"})],
            "gaussian_variance": [
                Interval(Real, 0, None, closed="neither"),
                StrOptions({"learned", "learned_per_feature"}),
            ],
            "kl_weight": [Interval(Real, 0, None, closed="left")],
            "kl_warmup": [Interval(Integral, 0, None, closed="left")],
        }
    )
    _module_class = VariationalAutoencoder
    _encoder_outputs = 2
    _encoder_gives = "the posterior's means, then its log-variances,"
    _interpolation_paths = ("linear", "spherical")

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(512, 256),
        activation="relu",
        encoder=None,
        decoder=None,
        image_shape=None,
        likelihood="gaussian",
        gaussian_variance="learned",
        kl_weight=1.0,
        kl_warmup=0,
        batch_size=256,
        learning_rate="one_cycle",
        learning_rate_init=3e-3,
        max_iter="auto",
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        warm_start=False,
        precision="auto",
        verbose=0,
        device="auto",
        random_state=None,
        callbacks=None,
        **params,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.encoder = encoder
        self.decoder = decoder
        self.image_shape = image_shape
        self.likelihood = likelihood
        self.gaussian_variance = gaussian_variance
        self.kl_weight = kl_weight
        self.kl_warmup = kl_warmup
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.warm_start = warm_start
        self.precision = precision
        self.verbose = verbose
        self.device = device
        self.random_state = random_state
        self.callbacks = callbacks
        # The networks' prefixed parameters (skorch's convention): see get_params.
        if params:  # an unfitted estimator without them holds no private state
            self._network_params = params

    # ------------------------------------------------------------------ fit

    def _learns_variance(self):
        return self.likelihood == "gaussian" and isinstance(self.gaussian_variance, str)

    def _objective(self):
        variance = self.gaussian_variance
        if not isinstance(variance, str):
            variance = float(variance)
        return _VAEObjective(
            self.likelihood, variance, float(self.kl_weight), self.kl_warmup
        )

    def _module_options(self):
        if not self._learns_variance():
            return {}
        shared = self.gaussian_variance == "learned"
        return {"output_variance": "shared" if shared else "per_feature"}

    def _bernoulli(self):
        return self.likelihood == "bernoulli"

    def _standardizes(self):
        # A fixed variance is in the units of X, and Bernoulli needs [0, 1]:
        # only a learned variance lets the model work in standardised units.
        return self._learns_variance()

    def _check_X(self, X):
        if self.likelihood == "bernoulli":
            self._check_unit_interval(X, "likelihood='bernoulli'")

    _module_option_sets = (
        {},
        {"output_variance": "shared"},
        {"output_variance": "per_feature"},
    )

    def _state_spec(self):
        required, optional = super()._state_spec()
        k = _state.n_components
        required.update(
            kl_per_dimension_=_state.array(("float64",), lambda ctx: (k(ctx),), lo=0.0),
            active_units_=_state.array(("bool",), lambda ctx: (k(ctx),)),
            n_active_units_=_active_count,
        )
        # Written since the held-out rows (older files lack them).
        optional.update(
            train_elbo_=_state.real(),
            validation_elbo_=_state.optional(_state.real()),
        )
        return required, optional

    def _holds_out(self):
        # See _VAEObjective._variance: a variance fitted to the training rows
        # overfits them, one fitted to held-out rows does not; and on small
        # data the network itself overfits as the schedule goes on, so the
        # best epoch on those rows is kept (benchmarks/README.md).
        return self._learns_variance()

    def _set_diagnostics(self, X, X_val=None):
        if self._learns_variance():
            self._calibrate_variance(X if X_val is None else X_val)

        def posterior(x):
            mean, logvar = self.module_.encode(x)
            kl = _losses.gaussian_kl_standard(mean, logvar, per_dimension=True)
            mean = mean.double()
            return mean, mean.square(), kl

        # Sums over the rows, not the rows' codes: nothing here grows with X.
        total, squares, kl = self._blocks(X, posterior, reduce="sum")
        n = _n_rows(X)
        self._set_scores(X, X_val)
        # A KL is ≥ 0; float32 rounding can push a collapsed dimension's below
        # (-1e-8), which prints as "-0.". Clip, and + 0.0 turns -0.0 into 0.0.
        self.kl_per_dimension_ = np.maximum(kl / n, 0.0) + 0.0
        # active_units: the variance over X of each posterior mean.
        variance = squares / n - np.square(total / n)
        self.active_units_ = variance > ACTIVE_UNIT_THRESHOLD
        self.n_active_units_ = int(self.active_units_.sum())
        if self.n_active_units_ == 0:
            warnings.warn(
                f"Posterior collapse: none of the {self.n_components} latent "
                "dimensions is active (the variance of every posterior mean over "
                "the training data is below 0.01), so the codes carry no "
                "information. Lower kl_weight, use kl_warmup, or train longer "
                "(max_iter); with a fixed gaussian_variance, use a smaller one or "
                "'learned'.",
                PosteriorCollapseWarning,
                stacklevel=6,  # through _fit, fit and two decorators
            )

    def _set_scores(self, X, X_val):
        """``train_elbo_`` and ``validation_elbo_``; warn if they lie far apart."""
        n, total = _n_rows(X), self._score_samples(X, standardized=True)
        self.validation_elbo_ = None
        if X_val is None:
            self.train_elbo_ = total / n
            return
        held_out, n_val = self._score_samples(X_val, standardized=True), _n_rows(X_val)
        self.train_elbo_ = (total - held_out) / (n - n_val)
        self.validation_elbo_ = held_out / n_val
        gap = self.train_elbo_ - self.validation_elbo_
        if gap > HELD_OUT_GAP_PER_FEATURE * self.n_features_in_:
            warnings.warn(
                f"The ELBO of the {n_val} held-out rows "
                f"({self.validation_elbo_:.4g} nats per row) is "
                f"{gap / self.n_features_in_:.3g} nats per feature below the "
                f"training rows' ({self.train_elbo_:.4g}): the model fits the "
                "rows it trained on much better than new ones. More data, a "
                "smaller network (hidden_layer_sizes), fewer components or a "
                "larger kl_weight narrow the gap; score() on new data is the "
                "number to trust.",
                HeldOutGapWarning,
                stacklevel=7,  # _set_scores, _set_diagnostics, _fit and its
                # decorator, fit and its decorator, the caller
            )

    def _calibrate_variance(self, X):
        """Fix the decoder's variance at its maximum-likelihood value on ``X``.

        Training used each batch's own optimum; the fitted model keeps the
        optimum over all the (standardised) training data, the mean squared
        residual of one reparameterised sample per row, so that its scores
        are those of one fixed model.
        """
        k = self.n_components

        def squared_residual(x):
            eps = torch.from_numpy(row_noise(x.cpu().numpy(), 1, k, self._score_seed))
            mean, logvar = self.module_.encode(x)
            z = torch.addcmul(mean, torch.exp(0.5 * logvar), eps[0].to(x.device))
            return ((self.module_.decode(z) - x).square(),)

        (squared,) = self._blocks(X, squared_residual, reduce="sum")
        ml = squared / _n_rows(X)
        if self.gaussian_variance != "learned_per_feature":
            ml = ml.mean()
        ml = torch.as_tensor(np.maximum(ml, MIN_VARIANCE), dtype=torch.float32)
        self.module_.log_variance.copy_(torch.log(ml).reshape(-1))

    # --------------------------------------------------------- inference

    def transform_std(self, X):
        """Standard deviation of the posterior ``q(z|x)`` of each sample.

        :meth:`transform` gives the posterior mean; together they describe
        the diagonal Gaussian posterior.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)

        Returns
        -------
        Z_std : ndarray or torch.Tensor of shape (n_samples, n_components_)
        """
        check_is_fitted(self)
        Xv = self._validate(X, reset=False)
        (S,) = self._blocks(
            Xv,
            lambda x: (torch.exp(0.5 * self.module_.encode(x)[1]),),
            standardize=True,
        )
        return like_input(self._finite(self._cast(S, Xv), "transform_std"), X)

    @validate_params(
        {
            "n_samples": [Interval(Integral, 1, None, closed="left")],
            "random_state": ["random_state"],
        },
        prefer_skip_nested_validation=True,
    )
    def sample(self, n_samples=1, random_state=None):
        """Generate data: draw ``z ~ N(0, I)`` and decode it.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
            Seeds the draws (through a private generator).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
            The means of ``p(x|z)`` (pixel probabilities for a Bernoulli
            likelihood), in the dtype of the training data.
        """
        check_is_fitted(self)
        _check_fits_in_memory(
            int(n_samples)
            * (
                self.n_features_in_ * np.dtype(self._dtype).itemsize
                + self.n_components_ * 4
            ),
            f"sample({n_samples})",
        )
        Z = torch.randn(
            int(n_samples),
            self.n_components_,
            generator=make_generator(random_state),
            dtype=torch.float32,
            device="cpu",  # the generator's, whatever a caller's default device
        )
        return self._cast(self._inverse_transform(Z.numpy()), self._dtype)

    def score_samples(self, X, n_importance_samples=1):
        """ELBO of each sample, in nats, with KL weight 1.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
        n_importance_samples : int, default=1
            1 gives the ELBO (one reparameterised sample, closed-form KL);
            ``K > 1`` gives the importance-weighted bound of Burda et al.
            (2016) with K samples, tighter and closer to ``log p(x)``.

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
            Lower bounds on ``log p(x)``; reproducible for a fitted model.
        """
        if not (
            isinstance(n_importance_samples, Integral) and n_importance_samples >= 1
        ):
            raise ValueError(
                "n_importance_samples must be a positive integer, got "
                f"{n_importance_samples!r}."
            )
        check_is_fitted(self)
        scores = self._score_samples(
            self._validate(X, reset=False), int(n_importance_samples)
        )
        return self._finite(scores, "score_samples")

    def score(self, X, y=None, n_importance_samples=1):
        """Mean ELBO per sample in nats, with KL weight 1; higher is better.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
        y : None
            Ignored.
        n_importance_samples : int, default=1
            See :meth:`score_samples`.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X, n_importance_samples)))

    def _score_samples(self, X, n_importance_samples=1, *, standardized=False):
        """The bounds of the rows of ``X``, in the units of X.

        With ``standardized``, ``X`` holds rows as training reads them (the
        tensors, tuple or stream of ``_training_data``) and the sum of their
        bounds is returned; each row's noise then derives from its
        standardised values rather than its raw ones.
        """
        if not standardized:
            self._check_X(X)
        K = n_importance_samples
        k = self.n_components_
        likelihood = self.likelihood
        variance = None  # a Bernoulli's
        if self._learns_variance():
            variance = self.module_.observation_variance()
        elif likelihood == "gaussian":
            variance = float(self.gaussian_variance)
        # The density of X, not of the standardised data the model sees.
        log_jacobian = self._log_jacobian()

        # Importance samples are drawn at most ``draws`` at a time, so that a
        # block decodes about as many rows as a K = 1 block, whatever K.
        rows = max(16, self._block_rows // K)
        draws = max(1, self._block_rows // rows)

        def bound(x):
            # Each row's noise is a function of the row itself: a sample's score
            # does not depend on its companions or their order, and the Monte
            # Carlo errors of different samples are independent, so they
            # average out in score().
            x_raw = x.cpu().numpy()
            if not standardized:
                x = self._standardize(x)
            mean, logvar = self.module_.encode(x)
            log_sum = None  # log of the sum of the importance weights so far
            for first in range(0, K, draws):
                n_draws = min(draws, K - first)
                noise = row_noise(x_raw, n_draws, k, self._score_seed, first)
                eps = torch.from_numpy(noise).to(x.device)  # (n_draws, rows, k)
                z = torch.addcmul(mean, torch.exp(0.5 * logvar), eps)
                out = self.module_.decode(z.reshape(-1, k)).reshape(n_draws, *x.shape)
                log_px = _log_likelihood(likelihood, variance, out, x, "none")
                if K == 1:
                    return (log_px[0] - _losses.gaussian_kl_standard(mean, logvar),)
                log_pz = _losses.standard_normal_log_density(z)
                log_qz = _losses.gaussian_log_density(z, mean, logvar)
                part = _losses.iwae_bound(log_px, log_pz, log_qz)
                if n_draws == K:
                    return (part,)
                part = part + math.log(n_draws)
                log_sum = part if log_sum is None else torch.logaddexp(log_sum, part)
            return (log_sum - math.log(K),)

        if standardized:
            (total,) = self._blocks(X, bound, rows=rows, reduce="sum")
            return float(total) - _n_rows(X) * log_jacobian
        return self._blocks(X, bound, rows=rows)[0].astype(np.float64) - log_jacobian
