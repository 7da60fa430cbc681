"""The base both neural reducers share: fitting modes, batched inference, pickling.

A neutral home, so that neither :mod:`skvae._autoencoder` nor :mod:`skvae._vae`
imports the other.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from abc import abstractmethod
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions

from . import _losses, _state
from ._base import BaseReducer, transactional
from ._data import (
    LazyRows,
    RowStream,
    make_generator,
    resolve_autocast_dtype,
    resolve_device,
    to_tensor,
)
from ._modules import ROUTES, build, is_routed, on_meta, recipe_name
from ._training import (
    ONE_CYCLE_PEAK,
    FitInterruptedWarning,
    TrainingDivergedError,
    TrainingPlan,
    make_optimizer,
    train,
)
from .nn import ACTIVATIONS, BUILT_IN, DECODERS, ENCODERS

_COMMON_CONSTRAINTS: dict = {
    "n_components": [Interval(Integral, 1, None, closed="left")],
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "encoder": [None, StrOptions(set(ENCODERS)), callable],
    "decoder": [None, StrOptions(set(DECODERS)), callable],
    "image_shape": [None, "array-like"],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "learning_rate": [StrOptions({"one_cycle", "constant"})],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "tol": [Interval(Real, 0, None, closed="left")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "warm_start": ["boolean"],
    "precision": [StrOptions({"auto", "float32", "bfloat16"})],
    "verbose": ["verbose"],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "callbacks": [list, tuple, None],
}


class Constraints:
    """``_parameter_constraints`` with the networks' prefixed parameters.

    On the class, the constraints of the named parameters; on an estimator,
    also ``"no_validation"`` for each ``encoder__*`` and ``decoder__*`` it
    holds: their recipe validates them when ``fit`` builds the networks, and
    its error names them.
    """

    def __init__(self, named):
        self.named = named

    def __get__(self, estimator, cls=None):
        if estimator is None:
            return self.named
        extra = dict.fromkeys(estimator._extra_params(), "no_validation")
        return {**self.named, **extra}


class _NeuralReducer(BaseReducer):
    """Fit, partial_fit, batched inference and pickling of the torch reducers.

    A subclass says which module pairs its networks (``_module_class``), what
    it minimises (``_objective``), how to check its data (``_check_X``), what
    to compute after training (``_set_diagnostics``), and how its decoder's
    output is read (``_standardizes``, ``_bernoulli``): the hooks declared
    below. The networks come from recipes (:mod:`skvae.nn`): the ``encoder``
    and ``decoder`` parameters and the prefixed parameters routed to them.

    VAETransformer is a sibling of AutoencoderTransformer on this base, not
    its subclass: its parameters are not a superset (``likelihood`` replaces
    ``loss``), and a subclass that drops a parent's parameter would break
    ``isinstance``-based substitution and ``set_params(loss=...)``.
    """

    # Inference runs in blocks of exactly this many rows, the last one padded.
    # BLAS picks its kernel by the number of rows, so a fixed block makes each
    # sample's result independent of how many others are transformed with it
    # (scikit-learn checks this, bitwise, for transform and score_samples).
    _block_rows = 256
    # Data larger than memory is read in chunks of at most this many rows
    # (see ``_stream``): about 3 MB of MNIST, long enough for sequential disk
    # reads, short enough that a buffer mixes many parts of the file.
    _chunk_rows = 1024

    # ------------------------------------------------ what a subclass provides

    #: The module that pairs the encoder and decoder (skvae._modules).
    _module_class: type
    #: Numbers per latent dimension in each row the encoder returns.
    _encoder_outputs = 1
    #: What they are, for the protocol check's messages.
    _encoder_gives = "the codes"

    @abstractmethod
    def _objective(self):
        """The loss the training loop minimises (see :func:`skvae._training.train`)."""

    @abstractmethod
    def _set_diagnostics(self, X, X_val=None):
        """Set the fitted attributes computed after training.

        ``X`` holds every row as training read it (standardised); ``X_val``
        the held-out ones, or None.
        """

    def _check_X(self, X):
        """Refuse ``X`` the model cannot fit or score (say, outside [0, 1])."""

    def _standardizes(self):
        """Whether the networks see standardised X (see ``mean_``)."""
        return True

    def _bernoulli(self):
        """Whether the decoder outputs Bernoulli logits rather than a mean."""
        return False

    def _module_options(self):
        """Extra keyword arguments of ``_module_class``."""
        return {}

    # ------------------------------------------------------ network recipes

    def get_params(self, deep=True):
        """Get the parameters, the networks' prefixed ones included.

        Parameters
        ----------
        deep : bool, default=True
            As for any scikit-learn estimator.

        Returns
        -------
        params : dict
            The parameters of ``__init__`` and the ``encoder__*`` and
            ``decoder__*`` parameters given to this estimator.
        """
        params = super().get_params(deep=deep)
        params.update(sorted(self._extra_params().items()))
        return params

    def _extra_params(self):
        """The keyword arguments ``__init__`` took beyond its named parameters.

        The networks' prefixed parameters; anything else is refused by
        ``fit``, not by ``__init__`` or ``set_params``, which validate
        nothing, as scikit-learn asks. They are kept in one private dict,
        not as attributes: scikit-learn's checks allow no public attribute
        that is not a named parameter.
        """
        return dict(getattr(self, "_network_params", {}))

    def set_params(self, **params):
        """Set the parameters, the networks' prefixed ones included.

        Parameters
        ----------
        **params : dict
            Parameters of ``__init__``, and ``encoder__name=value`` or
            ``decoder__name=value`` for the networks' constructors.

        Returns
        -------
        self : object
        """
        extra = self._extra_params()
        routed = {k: params.pop(k) for k in list(params) if is_routed(k) or k in extra}
        super().set_params(**params)
        if routed:  # a new dict: fit's transaction snapshots are shallow
            self._network_params = {**extra, **routed}
        return self

    def _recipe(self, role):
        """``(name, keyword arguments)`` of the network ``role`` the parameters ask for.

        The name is a built-in network's (``"mlp"`` for None) or
        ``"python:module.QualifiedName"`` for a user's recipe.
        """
        prefix = f"{role}__"
        kwargs = {
            k.removeprefix(prefix): v
            for k, v in self.get_params(deep=False).items()
            if k.startswith(prefix)
        }
        name = recipe_name(role, getattr(self, role))
        if name == "mlp":
            default = {"hidden_layer_sizes": self._hidden_layer_sizes}
            kwargs = {**default, "activation": self.activation, **kwargs}
        return name, kwargs

    def _input_shape(self, n_features):
        return self._image_shape or (n_features,)

    def _network(self, record, recipes):
        """A function that builds the network ``record`` describes.

        ``record`` is an ``_architecture`` (see ``_architecture_of_params``).
        Built-in networks come by name; a user's from ``recipes`` (the
        ``encoder`` and ``decoder`` parameter values), which must then bear
        the name the record gives.
        """
        shape, k, n_outputs = self._shapes(record)
        (enc_name, enc_kwargs), (dec_name, dec_kwargs) = (
            record["encoder"],
            record["decoder"],
        )
        encoder = _factory("encoder", enc_name, recipes.get("encoder"))
        decoder = _factory("decoder", dec_name, recipes.get("decoder"))

        def make():
            return self._module_class(
                _construct(
                    encoder,
                    enc_name,
                    enc_kwargs,
                    input_shape=shape,
                    n_outputs=n_outputs,
                ),
                _construct(
                    decoder, dec_name, dec_kwargs, n_inputs=k, output_shape=shape
                ),
                shape,
                **record["module_options"],
            )

        return make

    def _shapes(self, record):
        """``(input_shape, n_components, n_outputs)`` of the networks of ``record``."""
        k = record["n_components"]
        return tuple(record["input_shape"]), k, k * self._encoder_outputs

    def _recipes(self):
        return {role: getattr(self, role) for role in ROUTES}

    def _build_module(self, generator):
        return build(self._network(self._architecture, self._recipes()), generator)

    def _check_protocol(self, module):
        """Run the new networks on one batch; refuse outputs against the protocol.

        Before any training, so that a user's network that returns the wrong
        shape or dtype is named at once, not in a torch error from the loss.
        """
        record = self._architecture
        shape, k, n_outputs = self._shapes(record)
        module.eval()
        try:
            with own_modes(inference=True):
                x = torch.zeros(2, *shape, dtype=torch.float32, device=self._device)
                _expect(
                    "encoder",
                    record["encoder"][0],
                    module.encoder,
                    x,
                    (2, n_outputs),
                    f"{self._encoder_gives} for n_components={k}",
                )
                z = torch.zeros(2, k, dtype=torch.float32, device=self._device)
                _expect(
                    "decoder",
                    record["decoder"][0],
                    module.decoder,
                    z,
                    (2, *shape),
                    "a reconstruction of each row, in the shape the encoder takes",
                )
        finally:
            module.train()

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the network on ``X`` for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            Training data. A NumPy array whose floating copy would exceed
            scikit-learn's ``working_memory`` (a memory-mapped file, say) is
            read a buffer of randomly drawn chunks at a time; see
            :doc:`/large_data`.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        ValueError
            If training diverges (a loss term or gradient becomes NaN or
            infinite). The message names the term; the estimator is left as
            it was before the call.
        KeyboardInterrupt
            Re-raised when training is interrupted (Ctrl-C); see Notes.

        Warns
        -----
        FitInterruptedWarning
            When training was interrupted after at least one complete epoch.

        Notes
        -----
        Any error leaves the estimator exactly as it was before the call.
        The one case otherwise is a ``KeyboardInterrupt`` that arrives after
        at least one complete epoch. Training then stops as if a callback had
        asked it to: the estimator is stored as fitted, with the weights of
        the best validation epoch so far (``early_stopping=True``) or of the
        last complete epoch (an epoch cut short is undone, so the weights are
        never half-updated), ``n_iter_`` counting the complete epochs. A
        :class:`~skvae.FitInterruptedWarning` says so, and the
        ``KeyboardInterrupt`` is re-raised, so that a script, a loop or a
        :class:`~sklearn.model_selection.GridSearchCV` stops as Ctrl-C asks;
        the estimator itself (``est`` in ``est.fit(X)``) is usable. The
        optimizer's moments and the random state kept for a warm start
        include the steps of an epoch cut short (with early stopping, they
        are those of the best epoch, whose weights are kept). An interrupt before the
        first epoch completed, or a second one while the fit is stored,
        leaves the estimator as it was.
        """
        incremental = self.warm_start and hasattr(self, "module_")
        with own_modes():
            interrupt = self._fit(X, incremental=incremental, partial=False)
        _reraise(interrupt)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One pass over ``X`` (one epoch), continuing from the current weights.

        The first call initialises the network and fixes the
        standardisation (``mean_``, ``scale_``) from its batch, so the first
        batch should be a fair sample of the data (shuffle the rows before
        splitting them into batches). Each call trains one epoch
        at the constant rate ``learning_rate_init``: ``learning_rate``,
        ``early_stopping``, ``max_iter``, ``tol`` and ``n_iter_no_change``
        are ignored.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            A batch of training data.
        y : None
            Ignored.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            If training diverges; the estimator is left as it was.
        KeyboardInterrupt
            Re-raised when interrupted. Interrupted during its epoch, the
            estimator is left as it was; after it (in a callback), the epoch
            is kept, with a :class:`~skvae.FitInterruptedWarning`,
            as in :meth:`fit`.
        """
        with own_modes():
            interrupt = self._fit(X, incremental=hasattr(self, "module_"), partial=True)
        _reraise(interrupt)
        return self

    @transactional
    def _fit(self, X, *, incremental, partial):
        """Train and store the result; undone if it raises.

        Returns the ``KeyboardInterrupt`` the fit survived: ``None`` unless
        training was interrupted after at least one complete epoch (an
        earlier one propagates). ``fit`` re-raises it outside this
        transaction, so that the epochs stored before it are kept.
        """
        X = self._validate(X, reset=not incremental)
        self._check_params(X.shape[1])
        self._check_X(X)
        _check_float32_range(X)
        device = self._device = resolve_device(self.device)
        run = self._resume(device) if incremental else self._start(X, device)
        Xt, X_val, X_all = self._training_data(X, device, partial, run.module)
        plan = self._plan(run, Xt.shape[0], partial)
        optimizer = make_optimizer(
            run.module.parameters(), self.learning_rate_init, run.optimizer_state
        )
        try:
            result = train(
                run.module,
                optimizer,
                Xt,
                self._objective(),
                plan,
                generator=_device_generator(run.generator, device),
                X_val=X_val,
                verbose=self.verbose,
                callbacks=list(self.callbacks or ()),
                description=type(self).__name__,
            )
        except TrainingDivergedError as exc:
            # The engine restored the last finite weights into the working copy;
            # the estimator itself rolls back to its state before this call.
            raise ValueError(
                f"{type(self).__name__}: {exc} The estimator is left as it was "
                "before this call."
            ) from None
        self._store(run, optimizer, result, X.dtype, X_val is not None, incremental)
        self._set_diagnostics(X_all, X_val)
        if result.interrupt is not None:
            kept = (
                "the best validation epoch's weights"
                if math.isfinite(result.best_validation_loss)
                else "the weights of the last complete epoch"
            )
            # Warned by fit after this transaction has committed: under a
            # filter that turns warnings into errors, a warning raised here
            # would undo the epochs it reports and replace the interrupt.
            result.interrupt.skvae_message = (
                f"{type(self).__name__}: training was interrupted after "
                f"{result.n_epochs} complete epoch"
                f"{'s' if result.n_epochs != 1 else ''} of this call "
                f"(n_iter_={self.n_iter_}); the estimator is fitted with {kept}."
            )
        elif plan.schedule == "constant" and not (
            partial or result.converged or result.stopped_by_callback
        ):
            warnings.warn(
                f"{type(self).__name__}: maximum iterations ({plan.max_epochs}) "
                "reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=5,  # as above
            )
        return result.interrupt

    def _start(self, X, device):
        """A fresh run: standardisation, a new network and empty records."""
        generator = make_generator(self.random_state)
        self.mean_, self.scale_ = self._standardization(X)
        self._architecture = self._architecture_of_params(X.shape[1])
        module = self._build_module(generator).to(device)
        self._check_protocol(module)
        # Seeds stochastic scores, so they are reproducible for a fitted model.
        self._score_seed = int(torch.randint(2**62, (1,), generator=generator))
        return _Run(module, generator)

    def _resume(self, device):
        """Continue the fitted run (warm start, partial_fit) on a copy of its state."""
        architecture = self._architecture_of_params(self.n_features_in_)
        if architecture != self._architecture:
            raise ValueError(
                f"{type(self).__name__}: the network cannot change when training "
                "continues (warm_start=True or partial_fit): it was built for "
                f"{self._architecture}, the parameters ask for {architecture}. "
                "Call fit with warm_start=False to train a new network."
            )
        # Train a copy: the fitted module is replaced only on success, so a
        # failed call (divergence, interrupt) leaves the estimator as it was.
        return _Run(
            copy.deepcopy(self.module_).to(device),
            torch.Generator().set_state(self._generator_state),
            self._optimizer_state,
            list(self.loss_curve_),
            list(self.history_),
            list(self.validation_scores_ or []),
            self.n_iter_,
            self.best_loss_,
        )

    def _training_data(self, X, device, partial, module):
        """``(X_train, X_val, X_all)`` as training reads them, standardised.

        ``module`` is the network about to be trained.

        Tensors on ``device`` for data in memory; for a :class:`LazyRows`,
        streams that read it chunk by chunk (see ``_stream``). ``X_val`` is
        early stopping's held-out part, or None; ``X_all`` is every row, for
        the diagnostics computed after training (``(X_train, X_val)`` when
        split, so that no third copy of the data is held while training).
        """
        if isinstance(X, LazyRows):
            return self._stream(X, device, partial)
        Xt = self._standardize(to_tensor(X, device, torch.float32))
        n_val = self._n_validation(Xt.shape[0], partial, "samples")
        if not n_val:
            return Xt, None, Xt
        perm = self._validation_permutation(Xt.shape[0]).to(device)
        X_train, X_val = Xt[perm[n_val:]], Xt[perm[:n_val]]
        return X_train, X_val, (X_train, X_val)

    def _stream(self, X, device, partial):
        """``_training_data`` of an array larger than memory.

        Early stopping holds out whole chunks, drawn at random. Each buffer
        holds as many chunks as fit the working memory with room for the
        copies a buffer goes through (read, float32, standardised, shuffled).
        """
        n, buffer_rows = X.shape[0], X.block_rows(copies=8)
        # Chunks of at most a buffer (wide data) and at least 64 per array.
        chunk_rows = int(np.clip(min(n // 64, buffer_rows), 1, self._chunk_rows))
        n_chunks = -(-n // chunk_rows)
        buffer_chunks = max(1, buffer_rows // chunk_rows)

        def prepare(buffer):
            # Rows are finite (LazyRows checks them) before the cast to
            # float32, which only float64 rows can overflow.
            if X.dtype == np.float64 and not np.isfinite(buffer).all():
                raise _beyond_float32("some of its values exceed that")
            return self._standardize(to_tensor(buffer, device), inplace=True)

        def stream(chunks):
            return RowStream(X, chunks, chunk_rows, buffer_chunks, prepare, device)

        everything = stream(np.arange(n_chunks))
        n_val = self._n_validation(n_chunks, partial, f"chunks of {chunk_rows} rows")
        if not n_val:
            return everything, None, everything
        perm = self._validation_permutation(n_chunks).numpy()
        return stream(perm[n_val:]), stream(perm[:n_val]), everything

    def _n_validation(self, n, partial, what):
        """How many of ``n`` samples (or chunks) are held out from training.

        ``validation_fraction`` of them, for early stopping or where the
        model always holds rows out (``_holds_out``); never in
        ``partial_fit``, whose batch is all it sees.
        """
        if partial or not (self._early_stopping() or self._holds_out()):
            return 0
        n_val = max(1, round(self.validation_fraction * n))
        if n - n_val >= 1:
            return n_val
        if self.early_stopping:
            raise ValueError(f"early_stopping needs at least 2 {what}, got {n}.")
        return 0  # too few rows to spare any: calibrate on the training rows

    def _early_stopping(self):
        """Whether the fit stops on a held-out loss (``early_stopping``).

        A reducer without the parameter has no held-out loss to stop on.
        """
        return getattr(self, "early_stopping", False)

    def _batch_size(self, n_train):
        """The samples per step on ``n_train`` training samples."""
        return min(self.batch_size, n_train)

    def _auto_max_iter(self, n_train):
        """The epochs of ``max_iter="auto"`` on ``n_train`` training samples."""
        return auto_max_iter(n_train)

    def _holds_out(self):
        """Whether a fit holds out rows even without early stopping.

        Held-out rows are scored after every epoch, the fit ends with the
        weights of the best epoch on them, and a subclass may calibrate on
        them (``_set_diagnostics`` gets them).
        """
        return False

    def _validation_permutation(self, n):
        """A permutation of ``range(n)``, the same in every call of a run.

        Its first rows are held out for validation, so a warm start with
        early stopping validates on the rows the earlier calls held out, not
        on rows they trained on. Its seed derives from the run's score seed
        rather than being drawn from the training generator, so that training
        without early stopping draws the same numbers as it always did.
        """
        seed = self._score_seed + 1
        return torch.randperm(n, generator=torch.Generator().manual_seed(seed))

    def _plan(self, run, n_train, partial):
        """The :class:`TrainingPlan` of this call, with the "auto" values resolved."""
        schedule = "constant" if partial else self.learning_rate
        self._max_iter = (
            self._auto_max_iter(n_train) if self.max_iter == "auto" else self.max_iter
        )
        return TrainingPlan(
            batch_size=self._batch_size(n_train),
            max_epochs=1 if partial else self._max_iter,
            learning_rate=self.learning_rate_init,
            schedule=schedule,
            autocast_dtype=resolve_autocast_dtype(self.precision, self._device),
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            # A schedule is its own stopping rule; early stopping may end it sooner.
            check_convergence=not partial
            and (schedule == "constant" or self._early_stopping()),
            first_epoch=run.n_iter,
            best_loss=run.best_loss,
            # Stopping in a one-cycle's warm-up would end before the step size
            # peaks (2-D codes of digits: 5-NN 0.896 -> 0.800).
            patience_from=run.n_iter
            + (
                math.ceil(ONE_CYCLE_PEAK * self._max_iter)
                if schedule == "one_cycle"
                else 0
            ),
        )

    def _store(self, run, optimizer, result, dtype, validated, incremental):
        """Set the fitted attributes from a finished run."""
        self.module_ = run.module
        self._dtype = dtype  # of the latest training data: sample() returns it
        self._optimizer_state = _state_to_cpu(optimizer.state_dict())
        self._generator_state = run.generator.get_state()
        self.loss_curve_ = run.loss_curve + result.loss_curve
        self.history_ = run.history + result.history
        self.n_iter_ = run.n_iter + result.n_epochs
        self.best_loss_ = min([run.best_loss, *result.loss_curve])
        self.n_components_ = self.n_components
        if validated:
            # One score per epoch, as n_iter_ counts them: NaN for the epochs
            # of earlier calls that trained without validation.
            earlier = run.validation + [math.nan] * (run.n_iter - len(run.validation))
            self.validation_scores_ = earlier + [-v for v in result.validation_losses]
            # The score of the weights kept: the best epoch after any KL
            # warm-up, or the last epoch when no epoch qualified.
            best = result.best_validation_loss
            self.best_validation_score_ = (
                -best if math.isfinite(best) else self.validation_scores_[-1]
            )
        elif not incremental:
            self.validation_scores_ = None
            self.best_validation_score_ = None
        elif self.validation_scores_ is not None:
            self.validation_scores_ = run.validation + [math.nan] * result.n_epochs

    # ------------------------------------------------------ standardisation

    def _standardization(self, X):
        """``(mean_, scale_)``: per-feature means and one scale for all features.

        One scale, the root mean variance per feature, not one per feature:
        it makes the fit independent of the units of X while keeping the
        features' relative variances, which a reconstruction loss should
        weigh (a per-feature scale would inflate the noise of near-constant
        pixels to the level of the digit strokes).
        """
        n_features = X.shape[1]
        if not self._standardizes():
            return np.zeros(n_features), 1.0
        if isinstance(X, LazyRows):
            mean, var = _streamed_mean_var(X)
        else:
            mean = np.mean(X, axis=0, dtype=np.float64)
            var = np.var(X, axis=0, dtype=np.float64)
        scale = float(np.sqrt(np.mean(var)))
        return mean, scale if np.isfinite(scale) and scale > 0 else 1.0

    def _standardize(self, X, inplace=False):
        """``(X - mean_) / scale_`` of a tensor, in its dtype and on its device.

        ``X`` itself where the model uses X as it is (zero means, scale 1):
        training would otherwise hold a second copy of the data for nothing.
        With ``inplace``, ``X`` is overwritten instead of copied.
        """
        if self.scale_ == 1.0 and not np.any(self.mean_):
            return X
        mean = torch.as_tensor(self.mean_, dtype=X.dtype, device=X.device)
        if inplace:
            return X.sub_(mean).div_(self.scale_)
        return (X - mean) / self.scale_

    def _destandardize(self, X):
        """The inverse of :meth:`_standardize`."""
        mean = torch.as_tensor(self.mean_, dtype=X.dtype, device=X.device)
        return X * self.scale_ + mean

    def _log_jacobian(self):
        """``log |dx'/dx|`` of the standardisation, per row.

        A density of the standardised rows the model describes is one of X
        less ``log(scale_)`` per feature (``x = scale_ * x' + mean_``).
        """
        return self.n_features_in_ * math.log(self.scale_)

    def _fit_noise_variance(self, X, standardize=False):
        """The mean squared reconstruction error per feature of ``X``, in X's units.

        ``X`` as ``_set_diagnostics`` gets it (standardised, or not with
        ``standardize``); floored at 1e-12, the variance of the Gaussian of
        :meth:`_gaussian_log_likelihood`.
        """
        (mse,) = self._blocks(
            X,
            lambda x: ((self.module_(x) - x).square().mean(1),),
            standardize=standardize,
        )
        mse = float(np.mean(mse, dtype=np.float64)) * self.scale_**2
        return max(mse, 1e-12)

    def _gaussian_log_likelihood(self, X):
        """Log-likelihood of x under N(decode(encode(x)), noise_variance_ I), in nats.

        A score of the decoder at the code, not a density of x. Computed in
        the standardised units the network works in: in the units of X,
        float32 squared residuals overflow for X of about 1e19.
        """
        var = self.noise_variance_ / self.scale_**2

        def ll(x):
            return (_losses.gaussian_log_likelihood(self.module_(x), x, var),)

        scores = self._blocks(X, ll, standardize=True)[0].astype(np.float64)
        return scores - self._log_jacobian()

    def _architecture_of_params(self, n_features):
        """What the network is built from; it cannot change in a warm start.

        A dict of plain values, stored as ``_architecture``: ``n_components``,
        the ``input_shape`` of the networks, whether they see standardised X,
        the ``encoder`` and ``decoder`` as ``(name, keyword arguments)`` (see
        ``_recipe``) and the ``module_options`` of ``_module_class``.
        """
        return {
            "n_components": self.n_components,
            "input_shape": self._input_shape(n_features),
            "standardizes": self._standardizes(),
            "encoder": self._recipe("encoder"),
            "decoder": self._recipe("decoder"),
            "module_options": self._module_options(),
        }

    def _check_params(self, n_features):
        """What ``_parameter_constraints`` cannot say: element types, and shapes."""
        self._check_networks(n_features)
        sizes = _positive_integers(self.hidden_layer_sizes)
        if sizes is None:
            raise ValueError(
                "hidden_layer_sizes must be a sequence of positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )
        self._hidden_layer_sizes = sizes
        if not all(callable(cb) for cb in self.callbacks or ()):
            raise ValueError(f"callbacks must be callables, got {self.callbacks!r}.")

    def _check_networks(self, n_features):
        """The recipes, their prefixed parameters and ``image_shape``."""
        unknown = sorted(k for k in self._extra_params() if not is_routed(k))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} got unexpected parameters {unknown}: "
                "besides its named parameters it takes the networks' prefixed "
                "ones, encoder__name=value and decoder__name=value."
            )
        for role, given in (
            ("encoder", ("input_shape", "n_outputs")),
            ("decoder", ("n_inputs", "output_shape")),
        ):
            recipe = getattr(self, role)
            if isinstance(recipe, torch.nn.Module):
                raise ValueError(
                    f"{role} must be a recipe, a torch.nn.Module class or a function "
                    f"that builds one, or a built-in network's name, not a built "
                    f"{type(recipe).__name__} module: a module shared by every "
                    f"clone and fit would be trained in place. Pass the class "
                    f"and its arguments as {role}__name=value (see skvae.nn)."
                )
            clash = sorted(
                k for k in self._extra_params() if k.removeprefix(f"{role}__") in given
            )
            if clash:
                raise ValueError(
                    f"{clash} cannot be set: the estimator passes {given} to the "
                    f"{role} itself (see skvae.nn)."
                )
        self._image_shape = None
        if self.image_shape is None:
            return
        shape = _positive_integers(self.image_shape)
        if not shape:
            raise ValueError(
                "image_shape must be a sequence of positive integers, such as "
                f"(channels, height, width); got {self.image_shape!r}."
            )
        if math.prod(shape) != n_features:
            raise ValueError(
                f"image_shape={shape} holds {math.prod(shape)} values per "
                f"row, but X has {n_features} features."
            )
        self._image_shape = shape

    @staticmethod
    def _check_unit_interval(X, what):
        blocks = (b for _, b in X.iter_blocks()) if isinstance(X, LazyRows) else [X]
        lo, hi = np.inf, -np.inf
        for block in blocks:
            lo, hi = min(lo, float(np.min(block))), max(hi, float(np.max(block)))
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{what} needs X in [0, 1], but X has values in [{lo:g}, {hi:g}]. "
                "Scale X, e.g. with sklearn.preprocessing.MinMaxScaler, or use a "
                "Gaussian likelihood / squared error."
            )

    # --------------------------------------------------------- inference

    def _blocks(self, X, fn, rows=None, *, reduce=None, standardize=False):
        """Apply ``fn`` (tensor → tuple of tensors) to fixed-size blocks of ``X``.

        ``X`` is an array, a tensor, a tuple of tensors (training and
        validation rows), a :class:`LazyRows` or a :class:`RowStream`; the
        last two are read a buffer at a time, so only one buffer of input and
        one block of activations are held. Returns the outputs, one row per
        row of ``X``, as numpy arrays written into place as the blocks are
        computed (no list of per-block pieces to concatenate), or with
        ``reduce="sum"`` their sums over the rows, in float64. With
        ``standardize``, ``fn`` gets the blocks standardised, as the network
        reads them.
        """
        device = self._device
        if rows is None:
            rows = self._block_rows if device.type == "cpu" else 8192
        n = _n_rows(X)
        results, filled = None, 0
        self.module_.eval()
        with own_modes(inference=True):
            for part in _read_buffers(X, rows):
                for start in range(0, part.shape[0], rows):
                    block = to_tensor(part[start : start + rows], device, torch.float32)
                    m = block.shape[0]
                    if m < rows:
                        block = torch.cat(
                            [block, block.new_zeros(rows - m, block.shape[1])]
                        )
                    if standardize:
                        block = self._standardize(block)
                    outs = [out[:m] for out in fn(block)]
                    if reduce == "sum":
                        outs = [out.sum(0, dtype=torch.float64) for out in outs]
                        if results is not None:
                            outs = [a + b for a, b in zip(results, outs, strict=True)]
                        results = outs
                        continue
                    outs = [out.cpu().numpy() for out in outs]
                    if results is None:
                        results = [np.empty((n, *o.shape[1:]), o.dtype) for o in outs]
                    for result, out in zip(results, outs, strict=True):
                        result[filled : filled + m] = out
                    filled += m
        if results is None:
            return None
        if reduce == "sum":
            return [out.cpu().numpy() for out in results]
        return results

    def _cast(self, out, like):
        """Return ``out`` in the floating dtype of ``like`` (an array or a dtype)."""
        dtype = like.dtype if hasattr(like, "dtype") else like
        return out.astype(dtype, copy=False)

    def _decode_mean(self, out):
        """The mean of ``p(x|z)``, in the units of X, from the decoder's output."""
        if self._bernoulli():
            return torch.sigmoid(out)
        return self._destandardize(out)

    def _transform(self, X):
        (Z,) = self._blocks(X, lambda x: (self.module_.embed(x),), standardize=True)
        return self._cast(Z, X)

    def _inverse_transform(self, Z):
        (out,) = self._blocks(Z, lambda z: (self._decode_mean(self.module_.decode(z)),))
        return self._cast(out, Z)

    # ---------------------------------------------------------- pickling

    # The state that pickle, joblib, copy.deepcopy, skops.io and skvae.io all
    # go through holds only Python and NumPy values: the network as the arrays
    # of its state_dict (rebuilt from ``_architecture`` on load), the
    # optimizer's moments and the generator's state as arrays, the device and
    # dtype as names. So a model trained on a GPU loads on a machine without
    # one, and skops.io needs to trust nothing but skvae's own classes.

    def __getstate__(self):
        state = dict(super().__getstate__())
        module = state.pop("module_", None)
        if module is not None:
            state["_module_weights"] = {
                name: _to_numpy(t) for name, t in module.state_dict().items()
            }
        if "_optimizer_state" in state:
            state["_optimizer_state"] = _map_arrays(
                state["_optimizer_state"], torch.Tensor, _to_numpy
            )
        if "_generator_state" in state:
            state["_generator_state"] = _to_numpy(state["_generator_state"])
        if "_device" in state:
            state["_device"] = str(state["_device"])
        if "_dtype" in state:
            state["_dtype"] = np.dtype(state["_dtype"]).name
        return state

    def __setstate__(self, state):
        # The arrays become CPU tensors whatever a caller's default device.
        with torch.device("cpu"):
            self._set_state(dict(state))

    def _set_state(self, state):
        with _state.refusing(self):
            network = self._check_state(state)
        weights = state.pop("_module_weights", None)
        if "_optimizer_state" in state:
            state["_optimizer_state"] = _map_arrays(
                state["_optimizer_state"], np.ndarray, torch.tensor
            )
        if "_generator_state" in state:
            state["_generator_state"] = torch.tensor(
                np.asarray(state["_generator_state"], dtype=np.uint8)
            )
        if "_device" in state:
            state["_device"] = torch.device(state["_device"])
        if "_dtype" in state:
            state["_dtype"] = np.dtype(state["_dtype"])
        super().__setstate__(state)
        if weights is not None:
            self.module_ = self._rebuild_module(network, weights)
        if hasattr(self, "_device"):
            # Back to the GPU it was fitted on where this machine has it,
            # else on the CPU.
            self._place(self._device, fallback=True)

    def _state_spec(self):
        """``(required, optional)``: the fitted attributes and their checks.

        See :mod:`skvae._state`; a subclass adds its own.
        """
        n_iter = lambda ctx: ctx["n_iter_"]  # noqa: E731
        required = {
            # Sizes first: later checks compare shapes with them.
            "n_features_in_": _state.integer(1),
            "n_components_": _state.integer(1),
            "n_iter_": _state.integer(0),
            "_architecture": _state.architecture(self._module_option_sets),
            "_hidden_layer_sizes": _state.architecture_sizes,
            "_image_shape": _state.optional(_state.architecture_sizes),
            "_module_weights": lambda value, ctx: None,  # with the network below
            "_optimizer_state": lambda value, ctx: None,  # likewise
            "_generator_state": _state.generator_state,
            "_device": _state.device,
            "_dtype": _state.one_of("float32", "float64"),
            "_score_seed": _state.integer(0, 2**62),
            "_max_iter": _state.integer(1),
            "mean_": _state.array(("float64",), lambda ctx: (_state.n_features(ctx),)),
            "scale_": _state.real(positive=True),
            "loss_curve_": _state.floats(n_iter),
            "history_": _state.history,
            "best_loss_": _state.real(finite=False),
            "validation_scores_": _state.optional(_state.floats(n_iter, nan=True)),
            "best_validation_score_": _state.optional(_state.real(finite=False)),
        }
        return required, {}

    #: The module options a fitted network of this class may record.
    _module_option_sets = ({},)

    def _check_state(self, state):
        """Refuse a ``__setstate__`` state that this class would not have written.

        Returns a function that builds the network the state records (None
        for an unfitted estimator), for ``_rebuild_module``; its arrays have
        been checked against that network, built on the meta device.
        """
        _state.check_state(self, state, self._state_spec())
        if "_module_weights" not in state:
            return None
        record = state["_architecture"]
        # A user's recipe is a parameter: in a pickle's state, or on the
        # estimator that skvae.io.load(path, like=...) fills.
        recipes = {r: state.get(r, getattr(self, r, None)) for r in ROUTES}
        try:
            make = self._network(record, recipes)
            module = _on_meta_or_cpu(make)
        except _state.StateError:
            raise
        except (ValueError, TypeError) as exc:
            raise _state.StateError(f"its network cannot be built: {exc}") from None
        _state.check_weights(record, state["_module_weights"], module)
        template = make_optimizer(module.parameters(), 1e-3).state_dict()
        _state.check_optimizer(state["_optimizer_state"], module, template)
        return make

    def _rebuild_module(self, make, weights):
        """The fitted network, on the CPU, from the arrays of its ``state_dict``.

        Built for real (its arrays' shapes are known to fit), so that what a
        network's constructor sets outside its ``state_dict`` (a
        non-persistent buffer) is there; the drawn values are overwritten.
        """
        module = build(make, torch.Generator().manual_seed(0))
        module.load_state_dict(
            {name: torch.tensor(np.asarray(a)) for name, a in weights.items()}
        )
        return module.eval()

    def _place(self, device, *, fallback=False):
        """Move the fitted network to ``device`` and infer there from now on.

        With ``fallback``, a CUDA device this machine lacks means the CPU.
        """
        device = torch.device(device)
        if (
            fallback
            and device.type == "cuda"
            and not (
                torch.cuda.is_available()
                and (device.index or 0) < torch.cuda.device_count()
            )
        ):
            device = torch.device("cpu")
        if hasattr(self, "module_"):
            self.module_.to(device)
        self._device = device


def _positive_integers(value):
    """``value``, an integer or a sequence of them, as a tuple of ints.

    None where any element is not a positive integer (booleans are not).
    """
    values = [value] if isinstance(value, Integral) else list(value)
    if all(
        isinstance(v, Integral) and not isinstance(v, bool | np.bool_) and v >= 1
        for v in values
    ):
        return tuple(int(v) for v in values)
    return None


def _factory(role, name, recipe):
    """The callable that builds the network ``name`` (see ``_recipe``)."""
    if name in BUILT_IN[role]:
        return BUILT_IN[role][name]
    if not (isinstance(name, str) and name.startswith("python:")):
        raise ValueError(f"the {role} {name!r} is not a network skvae knows")
    if not isinstance(recipe, str) and recipe_name(role, recipe) == name:
        return recipe
    raise ValueError(
        f"the {role} is {name.removeprefix('python:')}, code that a file never "
        f"supplies, and the estimator has {role}={recipe!r}: load the file "
        f"with skvae.io.load(path, like=estimator), estimator made with "
        f"{role}={name.removeprefix('python:').rpartition('.')[2]}"
    )


def _construct(factory, name, kwargs, **given):
    """``factory(**given, **kwargs)``, a module; a failure names the recipe."""
    call = ", ".join(f"{k}={v!r}" for k, v in {**given, **kwargs}.items())
    label = name.removeprefix("python:")
    try:
        module = factory(**given, **kwargs)
    except Exception as exc:
        raise ValueError(
            f"{label}({call}) failed: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(module, torch.nn.Module):
        raise ValueError(
            f"{label}({call}) returned a {type(module).__name__}, not a "
            "torch.nn.Module."
        )
    return module


def _expect(role, name, network, x, shape, meaning):
    """Call ``network(x)``; refuse anything but a float32 tensor of ``shape``."""
    label = f"{role} {name.removeprefix('python:')}"
    try:
        out = network(x)
    except Exception as exc:
        raise ValueError(
            f"The {label} failed on a batch of shape {tuple(x.shape)}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    got = (
        f"a {out.dtype} tensor of shape {tuple(out.shape)}"
        if isinstance(out, torch.Tensor)
        else f"a {type(out).__name__}"
    )
    if not (
        isinstance(out, torch.Tensor)
        and out.dtype == torch.float32
        and tuple(out.shape) == shape
    ):
        raise ValueError(
            f"The {label} returned {got} for a batch of shape "
            f"{tuple(x.shape)}; expected a torch.float32 tensor of shape {shape}: "
            f"{meaning} (the protocol is in skvae.nn)."
        )


def _on_meta_or_cpu(make):
    """``make()`` on the meta device; on the CPU where a user's network cannot be."""
    try:
        return on_meta(make)
    except ValueError as exc:
        if not isinstance(exc.__cause__, NotImplementedError | RuntimeError):
            raise
    return build(make, torch.Generator().manual_seed(0))


@contextlib.contextmanager
def own_modes(inference=False):
    """torch's grad and autocast modes as skvae computes, whatever the caller's.

    A fit records gradients under a caller's ``torch.no_grad()`` or
    ``torch.inference_mode()``, and its steps run in their own ``precision``
    under a caller's ``torch.autocast`` (see :func:`skvae._training.train_step`);
    inference runs in inference mode and float32, as documented, under an
    ambient autocast too. Tensors created without a device are created on
    the CPU, whatever a caller's ``torch.set_default_device``: skvae moves
    what belongs on a GPU there by name, and its generators are CPU ones.
    The caller's modes are back when the block ends: these are thread-local
    context managers, not global settings. (torch's default dtype is global;
    skvae names its dtypes instead of depending on it.)
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.device("cpu"))
        if inference:
            for device_type in _AUTOCAST_DEVICES:
                stack.enter_context(torch.autocast(device_type, enabled=False))
            stack.enter_context(torch.inference_mode())
        else:
            # Not an autocast around all of training: while any autocast is
            # open, torch keeps the casts of the weights it made, and the
            # training steps would reuse the first step's. Each step and each
            # validation pass sets its own (skvae._training).
            stack.enter_context(torch.inference_mode(False))
            stack.enter_context(torch.enable_grad())
        yield


# The devices whose autocast a caller may have turned on around a call.
_AUTOCAST_DEVICES = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


def _to_numpy(tensor):
    """A CPU NumPy array of ``tensor`` (a view where it already is on the CPU)."""
    return tensor.detach().cpu().numpy()


def _map_arrays(obj, kind, fn):
    """``obj`` (dicts, lists and tuples) with ``fn`` applied to each ``kind`` in it."""
    if isinstance(obj, kind):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map_arrays(v, kind, fn) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_map_arrays(v, kind, fn) for v in obj)
    return obj


def _state_to_cpu(state):
    """An optimizer ``state_dict`` with its tensors on the CPU, for pickling."""
    return {
        "state": {
            k: {n: v.cpu() if torch.is_tensor(v) else v for n, v in s.items()}
            for k, s in state["state"].items()
        },
        "param_groups": copy.deepcopy(state["param_groups"]),
    }


@dataclass
class _Run:
    """The state a fit starts from: fresh, or that of the fitted estimator."""

    module: torch.nn.Module
    generator: torch.Generator
    optimizer_state: dict | None = None
    loss_curve: list = field(default_factory=list)
    history: list = field(default_factory=list)
    validation: list = field(default_factory=list)
    n_iter: int = 0
    best_loss: float = math.inf


def _n_rows(X):
    """The number of rows of anything ``_NeuralReducer._blocks`` accepts."""
    return sum(part.shape[0] for part in X) if isinstance(X, tuple) else X.shape[0]


def _read_buffers(X, rows):
    """``X`` as consecutive arrays or tensors to compute on; see ``_blocks``.

    A :class:`LazyRows` is read in blocks of a multiple of ``rows`` rows, so
    that the fixed-size blocks computed on are the same as for the whole
    array (results do not depend on the memory budget).
    """
    if isinstance(X, RowStream):
        return X.buffers()
    if isinstance(X, tuple):  # training and validation rows
        return X
    if isinstance(X, LazyRows):
        read = max(rows, X.block_rows() // rows * rows)
        return (block for _, block in X.iter_blocks(read))
    return [X]


def _streamed_mean_var(X):
    """Per-feature mean and variance of a :class:`LazyRows`, in float64.

    Blocks are merged as in Chan, Golub & LeVeque (1979), which loses no
    precision to a large mean, unlike sums of squares.
    """
    n, mean, m2 = 0, 0.0, 0.0
    # Room for the block, its pages in a memory map, and its float64 deviations.
    for _, block in X.iter_blocks(X.block_rows(copies=6)):
        n_b = block.shape[0]
        mean_b = block.mean(axis=0, dtype=np.float64)
        deviation = block - mean_b
        m2_b = np.einsum("ij,ij->j", deviation, deviation)
        delta, total = mean_b - mean, n + n_b
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + np.square(delta) * (n * n_b / total)
        n = total
    return mean, m2 / n


def _check_float32_range(X):
    """Refuse float64 ``X`` with values beyond float32, which the networks use.

    Converted, they would be infinite, and training would diverge at once. A
    :class:`LazyRows` is not read here, which would cost a pass over the data:
    ``_stream`` checks each block as training reads it.
    """
    if isinstance(X, np.ndarray) and X.dtype == np.float64 and X.size:
        largest = max(float(X.max()), -float(X.min()))
        if largest > float(np.finfo(np.float32).max):
            raise _beyond_float32(f"its largest magnitude is {largest:.3g}")


def _beyond_float32(detail):
    return ValueError(
        "X is finite but too large for float32, in which the networks compute: "
        f"float32 holds up to {np.finfo(np.float32).max:.3g}, and {detail}. "
        "Scale X."
    )


def _reraise(interrupt):
    """Warn of, and raise, the ``KeyboardInterrupt`` a fit survived.

    The interrupt is raised even where warnings are errors (the
    :class:`FitInterruptedWarning` then becomes its ``__context__``): Ctrl-C
    must stop the caller, and the epochs stored before it stay stored.
    """
    if interrupt is None:
        return
    try:
        warnings.warn(
            interrupt.skvae_message,
            FitInterruptedWarning,
            stacklevel=4,  # _reraise, fit and its decorator, the caller
        )
    finally:
        raise interrupt


def _device_generator(generator, device):
    """The generator training draws from on ``device``.

    On a GPU it is a device generator seeded from the CPU one, whose state
    alone is kept between calls.
    """
    if device.type == "cpu":
        return generator
    seed = int(torch.randint(2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


def auto_max_iter(n_samples):
    """The number of epochs ``max_iter="auto"`` trains on ``n_samples`` rows.

    About three million samples seen, and at least 50 and at most 500 epochs:
    50 on MNIST's 60000 images (20 were too few for two latent dimensions),
    500 on 6000 rows or fewer, where the steps per epoch are few (the
    linear autoencoder needs about 100 epochs on digits to reach PCA's
    reconstruction). Measurements: ``benchmarks/README.md``.
    """
    return int(np.clip(round(3e6 / n_samples), 50, 500))


# The parameters and attributes both neural reducers document, written once:
# their docstrings name a block as ``{{block}}`` on a line of its own.
_DOCS = {
    "networks": """\
hidden_layer_sizes : array-like of int, default=(512, 256)
    Widths of the hidden layers of the default networks (multilayer
    perceptrons), from the input inwards; the decoder uses them in reverse.
    ``()`` gives a single linear layer each way.
activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
    Non-linearity between the default networks' layers.
encoder : None, "mlp", "conv" or callable, default=None
    The encoder's recipe: None or ``"mlp"`` for the multilayer perceptron of
    ``hidden_layer_sizes`` (:class:`skvae.nn.MLPEncoder`), ``"conv"`` for
    :class:`skvae.nn.ConvEncoder`, or your own :class:`torch.nn.Module`
    class or a function that returns a module, following the protocol in
    :mod:`skvae.nn`. Parameters prefixed ``encoder__``, such as
    ``encoder__channels=(16, 32)``, go to its constructor, and may be set,
    searched and cloned like any other.
decoder : None, "mlp", "conv" or callable, default=None
    The decoder's recipe, likewise, with ``decoder__`` parameters.
image_shape : tuple of int or None, default=None
    The shape the networks take each row in, such as ``(1, 28, 28)`` for
    MNIST, whose product is the number of features; X itself stays a table
    of flat rows, as scikit-learn passes it. None gives the networks the
    flat rows.""",
    "schedule": """\
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
    (``learning_rate="constant"``, or with ``early_stopping``).""",
    "runtime": """\
warm_start : bool, default=False
    Continue from the previous fit's weights and optimizer state (with
    ``learning_rate="one_cycle"``, through a new cycle of ``max_iter``
    epochs).
precision : {"auto", "float32", "bfloat16"}, default="auto"
    The precision of the training's matrix products and convolutions
    (through :func:`torch.autocast`; weights, optimizer and losses stay
    float32). ``"auto"`` is ``"bfloat16"`` where the hardware multiplies it
    natively (a CPU with AVX512-BF16 or AMX, a GPU that supports it) and
    ``"float32"`` elsewhere. Inference always runs in float32. A fit is
    bitwise reproducible for a given precision and machine.
verbose : int, default=0
    1 shows a tqdm progress bar with the loss terms (or, without tqdm, one
    ``logging`` line per epoch on the ``"skvae"`` logger); 2 adds the log
    lines to the bar.
device : str or torch.device, default="auto"
    Where to train and infer; ``"auto"`` uses CUDA when it is available.
random_state : int, RandomState instance or None, default=None
    Seeds the networks' initialisation, shuffling, any sampling noise and
    the validation split through a private generator; the global torch and
    numpy random states are as they were after a fit (``None`` draws one
    seed from numpy's, as scikit-learn does). On the CPU two fits with the
    same integer seed are bitwise identical.
callbacks : list of callables or None, default=None
    Each is called as ``callback(record)`` after every epoch with that
    epoch's :attr:`history_` entry; a true return value stops training.
**params
    The networks' prefixed parameters, ``encoder__name=value`` and
    ``decoder__name=value``; see ``encoder``.""",
    "standardisation": """\
mean_ : ndarray of shape (`n_features_in_`,)
    Per-feature means subtracted from X before the networks see it (zeros
    where X is used as it is).
scale_ : float
    The one number X is divided by after centring: the root mean variance
    per feature of the training data (1.0 where X is used as it is).
    Standardising makes training independent of the units of X;
    ``transform``, ``inverse_transform`` and the scores undo it. One number
    for all features keeps their relative scales: a feature whose variance
    dwarfs the others' dominates the loss and the codes. For features in
    different units, put a :class:`~sklearn.preprocessing.StandardScaler` in
    front, in a :class:`~sklearn.pipeline.Pipeline`.
n_features_in_ : int
    Number of features seen during fit.
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of the features, when X had string column names.""",
}


def fill_doc(cls):
    """Put the ``{{block}}`` lines of ``cls``'s docstring in from ``_DOCS``.

    A class's own ``_doc_blocks`` dict replaces blocks whose defaults differ.
    """
    blocks = {**_DOCS, **cls.__dict__.get("_doc_blocks", {})}
    lines = []
    for line in cls.__doc__.splitlines():
        name = line.strip()
        if name.startswith("{{") and name.endswith("}}"):
            indent = line[: len(line) - len(line.lstrip())]
            lines += [
                indent + part if part else part
                for part in blocks[name[2:-2]].splitlines()
            ]
        else:
            lines.append(line)
    cls.__doc__ = "\n".join(lines)
    return cls
