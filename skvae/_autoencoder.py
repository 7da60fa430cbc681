"""AutoencoderTransformer: an MLP autoencoder as a scikit-learn transformer."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import StrOptions

from . import _losses, _state
from ._modules import Autoencoder
from ._neural import _COMMON_CONSTRAINTS, _NeuralReducer


class _AutoencoderObjective:
    """Mean reconstruction loss per feature and sample, for the training loop."""

    term_names = ("reconstruction",)

    def __init__(self, loss):
        self.loss = loss

    def __call__(self, module, xb, epoch, generator):
        out = module(xb).float()  # the loss in float32 under autocast too
        if self.loss == "binary_cross_entropy":
            loss = F.binary_cross_entropy_with_logits(out, xb)
        else:
            loss = F.mse_loss(out, xb)
        return loss, loss.detach().reshape(1)

    def total(self, values, epoch):
        return values[0]


class AutoencoderTransformer(_NeuralReducer):
    """A multilayer-perceptron autoencoder as a scikit-learn transformer.

    The encoder maps ``n_features`` through ``hidden_layer_sizes`` to
    ``n_components``; the decoder mirrors it. It is trained with Adam on
    minibatches, on the CPU or a GPU. ``transform`` encodes,
    ``inverse_transform`` decodes. With ``activation="identity"`` the model is
    a linear autoencoder, whose decoder spans the principal subspace.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the code. It may exceed ``n_features`` (an over-complete
        code); :class:`~skvae.PCAReducer` cannot.
    hidden_layer_sizes : array-like of int, default=(512, 256)
        Widths of the encoder's hidden layers, from the input inwards; the
        decoder uses them in reverse. ``()`` gives a single linear layer each
        way.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Non-linearity between layers.
    loss : {"squared_error", "binary_cross_entropy"}, default="squared_error"
        Reconstruction loss, averaged over features and samples.
        ``"binary_cross_entropy"`` treats the decoder output as Bernoulli
        logits and needs X in [0, 1].
    batch_size : int, default=256
        Minibatch size (clipped to the number of samples).
    learning_rate : {"one_cycle", "constant"}, default="one_cycle"
        The schedule of Adam's step size. ``"one_cycle"`` rises from
        ``learning_rate_init / 25`` to ``learning_rate_init`` over the first
        30 % of the steps and anneals to almost zero by the last epoch (Smith &
        Topin, 2019): training runs its ``max_iter`` epochs and ends at a
        minimum, so ``tol`` and ``n_iter_no_change`` apply only with
        ``early_stopping``. ``"constant"`` keeps ``learning_rate_init`` and
        stops by ``tol`` and ``n_iter_no_change``, as scikit-learn's MLP does.
        :meth:`partial_fit` always uses the constant rate.
    learning_rate_init : float, default=3e-3
        The peak step size of the one-cycle schedule, or the constant one.
    max_iter : int or "auto", default="auto"
        Number of epochs (at most, with ``"constant"`` or ``early_stopping``).
        ``"auto"`` scales it with the number of training samples ``n``:
        ``clip(round(3e6 / n), 50, 500)`` epochs, about 3 million samples
        seen, 50 epochs on MNIST's 60000 images and 500 on 6000 or fewer.
        The value used is ``n_iter_``.
    tol : float, default=1e-4
        Minimum improvement of the loss (the validation loss with
        ``early_stopping``) that counts as progress. Losses are computed on
        standardised data (see ``mean_``), so ``tol`` does not depend on the
        units of X.
    n_iter_no_change : int, default=10
        Training stops after more than this many epochs without progress
        (``learning_rate="constant"``, or with ``early_stopping``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when the validation
        loss stops improving, and keep the weights of its best epoch.
    validation_fraction : float, default=0.1
        Share of the data held out for ``early_stopping``.
    warm_start : bool, default=False
        Continue from the previous fit's weights and optimizer state (with
        ``learning_rate="one_cycle"``, through a new cycle of ``max_iter``
        epochs).
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        The precision of the training's matrix products (through
        :func:`torch.autocast`; weights, optimizer and losses stay float32).
        ``"auto"`` is ``"bfloat16"`` where the hardware multiplies it natively
        (a CPU with AVX512-BF16 or AMX, a GPU that supports it) and
        ``"float32"`` elsewhere. Inference always runs in float32. A fit is
        bitwise reproducible for a given precision and machine.
    verbose : int, default=0
        1 shows a tqdm progress bar (or, without tqdm, one ``logging`` line per
        epoch on the ``"skvae"`` logger); 2 adds the log lines to the bar.
    device : str or torch.device, default="auto"
        Where to train and infer; ``"auto"`` uses CUDA when it is available.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the validation split
        through a private generator; the global torch and numpy random states
        are not touched (except that ``None`` draws a seed from numpy's, as
        scikit-learn does). On the CPU, two fits with the same integer seed are
        bitwise identical.
    callbacks : list of callables or None, default=None
        Each is called as ``callback(record)`` after every epoch with that
        epoch's :attr:`history_` entry; a true return value stops training.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network (``encode`` / ``decode``).
    n_components_ : int
        Equal to ``n_components``.
    loss_curve_ : list of float
        Training loss of each epoch.
    validation_scores_ : list of float or None
        Negative validation loss of each epoch (higher is better), with
        ``early_stopping``; None otherwise.
    best_validation_score_ : float or None
        Best of ``validation_scores_``.
    best_loss_ : float
        Lowest training loss.
    history_ : list of dict
        One dict per epoch: ``epoch``, ``loss``, ``reconstruction``, with
        ``early_stopping`` ``validation_loss`` and ``validation_reconstruction``,
        and ``time`` in seconds.
    n_iter_ : int
        Number of epochs trained, over all calls.
    noise_variance_ : float
        With ``loss="squared_error"``, the mean squared reconstruction error
        per feature on the training data: the variance of the Gaussian that
        :meth:`score_samples` uses.
    mean_ : ndarray of shape (`n_features_in_`,)
        Per-feature means subtracted from X before the network sees it
        (zeros where X is used as it is).
    scale_ : float
        The one number X is divided by after centring: the root mean
        variance per feature of the training data (1.0 where X is used as it
        is). Standardising makes training independent of the units of X;
        ``transform``, ``inverse_transform`` and the scores undo it. One
        number for all features keeps their relative scales: a feature whose
        variance dwarfs the others' dominates the loss and the codes. For
        features in different units, put a
        :class:`~sklearn.preprocessing.StandardScaler` in front, in a
        :class:`~sklearn.pipeline.Pipeline`.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when X had string column names.

    See Also
    --------
    VAETransformer : The variational counterpart, with a generative model.
    PCAReducer : The linear, closed-form reducer.

    Notes
    -----
    Computation runs in float32; ``transform`` and ``inverse_transform``
    return the input's floating dtype. Inference runs in fixed blocks of rows,
    so a sample's code does not depend on the other samples passed with it.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import AutoencoderTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> ae = AutoencoderTransformer(n_components=2, max_iter=2, random_state=0)
    >>> ae.fit(X / 16).transform(X[:3] / 16).shape
    (3, 2)
    """

    _parameter_constraints: ClassVar[dict] = {
        **_COMMON_CONSTRAINTS,
        "loss": [StrOptions({"squared_error", "binary_cross_entropy"})],
    }
    _module_class = Autoencoder

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(512, 256),
        activation="relu",
        loss="squared_error",
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
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
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

    def _objective(self):
        return _AutoencoderObjective(self.loss)

    def _check_X(self, X):
        if self.loss == "binary_cross_entropy":
            self._check_unit_interval(X, "loss='binary_cross_entropy'")

    def _standardizes(self):
        # Binary cross-entropy needs X in [0, 1] as it is.
        return self.loss == "squared_error"

    def _state_spec(self):
        required, optional = super()._state_spec()
        required["noise_variance_"] = _state.optional(_state.real(positive=True))
        return required, optional

    def _set_diagnostics(self, X, X_val=None):
        if self.loss == "squared_error":
            (mse,) = self._blocks(
                X, lambda x: ((self.module_(x) - x).square().mean(1),)
            )
            mse = float(np.mean(mse, dtype=np.float64)) * self.scale_**2
            self.noise_variance_ = max(mse, 1e-12)
        else:
            self.noise_variance_ = None

    def _decode_mean(self, out):
        if self.loss == "binary_cross_entropy":
            return torch.sigmoid(out)
        return self._destandardize(out)

    def _transform(self, X):
        (Z,) = self._blocks(X, lambda x: (self.module_.encode(self._standardize(x)),))
        return self._cast(Z, X)

    def _score_samples(self, X):
        """Log-likelihood of x under p(x | z = encode(x)), in nats.

        Bernoulli for binary cross-entropy; for squared error a Gaussian with
        the per-feature variance ``noise_variance_`` fitted on the training
        data. A score of the decoder at the code, not a density of x.
        """
        log_jacobian = 0.0
        if self.loss == "binary_cross_entropy":
            self._check_unit_interval(X, "loss='binary_cross_entropy'")

            def ll(x):
                return (_losses.bernoulli_log_likelihood(self.module_(x), x),)
        else:
            # In the standardised units the network works in: in the units of
            # X, float32 squared residuals overflow for X of about 1e19. The
            # change of units costs log(scale_) per feature.
            var = self.noise_variance_ / self.scale_**2
            log_jacobian = X.shape[1] * math.log(self.scale_)

            def ll(x):
                x = self._standardize(x)
                return (_losses.gaussian_log_likelihood(self.module_(x), x, var),)

        return self._blocks(X, ll)[0].astype(np.float64) - log_jacobian
