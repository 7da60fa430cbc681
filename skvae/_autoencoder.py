"""AutoencoderTransformer: an autoencoder as a scikit-learn transformer."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch.nn.functional as F
from sklearn.utils._param_validation import StrOptions

from . import _losses, _state
from ._modules import Autoencoder
from ._neural import _COMMON_CONSTRAINTS, Constraints, _NeuralReducer, fill_doc


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


@fill_doc
class AutoencoderTransformer(_NeuralReducer):
    """An autoencoder as a scikit-learn transformer.

    The encoder maps each row to ``n_components`` numbers, the decoder maps
    them back. By default both are multilayer perceptrons through
    ``hidden_layer_sizes``; ``encoder`` and ``decoder`` take other networks
    (convolutional ones for images, or your own: :mod:`skvae.nn`). It is
    trained with Adam on minibatches, on the CPU or a GPU. ``transform``
    encodes, ``inverse_transform`` decodes. With ``activation="identity"``
    the default model is a linear autoencoder, whose decoder spans the
    principal subspace.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the code. It may exceed ``n_features`` (an over-complete
        code); :class:`~skvae.PCAReducer` cannot.
    {{networks}}
    loss : {"squared_error", "binary_cross_entropy"}, default="squared_error"
        Reconstruction loss, averaged over features and samples.
        ``"binary_cross_entropy"`` treats the decoder output as Bernoulli
        logits and needs X in [0, 1].
    {{schedule}}
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop when the validation
        loss stops improving, and keep the weights of its best epoch.
    validation_fraction : float, default=0.1
        Share of the data held out for ``early_stopping``.
    {{runtime}}

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
    {{standardisation}}

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

    _parameter_constraints: ClassVar[dict] = Constraints(
        {
            **_COMMON_CONSTRAINTS,
            "loss": [StrOptions({"squared_error", "binary_cross_entropy"})],
        }
    )
    _module_class = Autoencoder

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(512, 256),
        activation="relu",
        encoder=None,
        decoder=None,
        image_shape=None,
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
        **params,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.encoder = encoder
        self.decoder = decoder
        self.image_shape = image_shape
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
        # The networks' prefixed parameters (skorch's convention): see get_params.
        if params:  # an unfitted estimator without them holds no private state
            self._network_params = params

    def _objective(self):
        return _AutoencoderObjective(self.loss)

    def _check_X(self, X):
        if self.loss == "binary_cross_entropy":
            self._check_unit_interval(X, "loss='binary_cross_entropy'")

    def _standardizes(self):
        # Binary cross-entropy needs X in [0, 1] as it is.
        return self.loss == "squared_error"

    def _bernoulli(self):
        return self.loss == "binary_cross_entropy"

    def _state_spec(self):
        required, optional = super()._state_spec()
        required["noise_variance_"] = _state.optional(_state.real(positive=True))
        return required, optional

    def _set_diagnostics(self, X, X_val=None):
        squared = self.loss == "squared_error"
        self.noise_variance_ = self._fit_noise_variance(X) if squared else None

    def _score_samples(self, X):
        """Log-likelihood of x under p(x | z = encode(x)), in nats.

        Bernoulli for binary cross-entropy; for squared error a Gaussian with
        the per-feature variance ``noise_variance_`` fitted on the training
        data. A score of the decoder at the code, not a density of x.
        """
        self._check_X(X)
        if not self._bernoulli():
            return self._gaussian_log_likelihood(X)

        def ll(x):
            return (_losses.bernoulli_log_likelihood(self.module_(x), x),)

        # Bernoulli pixels are not standardised: no Jacobian to subtract.
        return self._blocks(X, ll)[0].astype(np.float64)
