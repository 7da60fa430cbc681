"""The estimator base shared by PCAReducer, AutoencoderTransformer, VAETransformer."""

from __future__ import annotations

import functools
from abc import ABCMeta, abstractmethod
from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    check_array,
    check_is_fitted,
    validate_data,
)

from ._data import LazyRows, is_out_of_core, like_input, to_numpy

FLOAT_DTYPES = (np.float64, np.float32)

#: skvae's public reducers by class name, as they are defined: what
#: :mod:`skvae.io` saves and creates. A new reducer registers by being a
#: public subclass in a skvae module, with no edit elsewhere.
REDUCERS = {}


def transactional(method):
    """Undo every attribute change ``method`` made to the estimator if it raises.

    scikit-learn's ``validate_data`` records ``n_features_in_`` and
    ``feature_names_in_`` before it inspects the values, so a ``fit`` on bad data
    would otherwise leave a refitted estimator half-changed. Fitted attributes
    are replaced, never mutated in place, so a shallow snapshot is enough.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        snapshot = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            raise

    return wrapper


class BaseReducer(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator, metaclass=ABCMeta
):
    """Shared machinery of the reducers: validation, transform, scores and tags.

    A subclass fits ``n_components_`` and implements ``_transform``,
    ``_inverse_transform`` and ``_score_samples`` on validated numpy arrays.
    Tensors are accepted everywhere; transform and inverse_transform return a
    tensor for a tensor, while scores are numpy, as scikit-learn expects.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("skvae.") and not cls.__name__.startswith("_"):
            REDUCERS[cls.__name__] = cls

    #: The sparse formats every method taking X accepts (``accept_sparse`` of
    #: :func:`~sklearn.utils.validation.check_array`); False: none.
    _accept_sparse = False

    def _validate(self, X, *, reset, **check_params):
        """Validate ``X`` as scikit-learn does; a CPU tensor is viewed, not copied.

        An array larger than the working memory (see :mod:`skvae._data`) is
        not converted or scanned here: its shape is checked, and it comes back
        as a :class:`~skvae._data.LazyRows` whose blocks are converted and
        checked for NaN and infinity as they are read.
        """
        X = to_numpy(X)
        check_params.setdefault("accept_sparse", self._accept_sparse)
        if not is_out_of_core(X):
            return validate_data(
                self, X, reset=reset, dtype=FLOAT_DTYPES, **check_params
            )
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(f"Found array with shape {X.shape}; expected non-empty.")
        _check_feature_names(self, X, reset=reset)
        _check_n_features(self, X, reset=reset)
        return LazyRows(X)

    def transform(self, X):
        """Project ``X`` onto the latent space.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        Z : ndarray or torch.Tensor of shape (n_samples, `n_components_`)
            Latent coordinates; a tensor if ``X`` was one.
        """
        return like_input(self._encode(X), X)

    def _encode(self, X):
        """:meth:`transform` as a NumPy array, whatever ``set_output`` asks for."""
        check_is_fitted(self)
        with _overflow_reported():
            Z = self._transform(self._validate(X, reset=False))
        return self._finite(Z, "transform")

    def inverse_transform(self, X):
        """Map latent coordinates back to the input space.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, `n_components_`)
            Latent coordinates, such as the output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray or torch.Tensor of shape (n_samples, `n_features_in_`)
            The reconstruction; a tensor if the input was one.
        """
        check_is_fitted(self)
        Z = check_array(
            to_numpy(X), dtype=FLOAT_DTYPES, input_name="X", ensure_min_features=0
        )
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {Z.shape[1]} features, but {type(self).__name__}."
                f"inverse_transform is expecting {self.n_components_} latent "
                "features as input."
            )
        with _overflow_reported():
            X_back = self._inverse_transform(Z)
        return like_input(self._finite(X_back, "inverse_transform"), X)

    def score_samples(self, X):
        """Log-likelihood of each sample under the fitted model, in nats.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        with _overflow_reported():
            scores = self._score_samples(self._validate(X, reset=False))
        return self._finite(scores, "score_samples")

    def _finite(self, out, method):
        """``out`` of ``method``, which must be finite as its (validated) input is.

        Values near the top of the range of the model's arithmetic (float32
        in the networks) can overflow inside it, and a NaN or inf returned
        would pass unnoticed into whatever consumes it.
        """
        if not np.isfinite(out).all():
            raise ValueError(
                f"{type(self).__name__}.{method}: the input is finite but its "
                "values are too large for the model's arithmetic (float32 in the "
                "neural reducers): the result overflowed to inf or NaN. Scale "
                "the input as the training data was."
            )
        return out

    def score(self, X, y=None):
        """Mean log-likelihood of the samples; higher is better.

        This is what :class:`~sklearn.model_selection.GridSearchCV` maximises
        when no scorer is given.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            Data to score.
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))

    # The paths ``interpolate`` can take; the VAE adds "spherical".
    _interpolation_paths = ("linear",)

    def interpolate(self, x_a, x_b, n_steps=10, *, path="linear"):
        """Decode the path between the codes of two inputs.

        Both inputs are encoded with :meth:`transform`, ``n_steps`` points
        are spaced evenly along the path between the two codes, and each is
        decoded with :meth:`inverse_transform`. The first and last points
        are the reconstructions of ``x_a`` and ``x_b``.

        Parameters
        ----------
        x_a, x_b : array-like of shape (n_features,) or (1, n_features)
            The two inputs.
        n_steps : int, default=10
            Number of points on the path, both ends included; at least 2.
        path : {"linear", "spherical"}, default="linear"
            ``"linear"`` spaces the points evenly on the segment between the
            codes. ``"spherical"`` (VAE only) follows the great circle
            between them (Shoemake's slerp, as White, 2016, proposes for a
            Gaussian prior), which keeps the points at the distance from
            the origin the prior expects rather than cutting through its
            low-density centre.

        Returns
        -------
        X_path : ndarray of shape (n_steps, n_features_in_)
            The decoded points, from ``x_a``'s reconstruction to ``x_b``'s.
        """
        check_is_fitted(self)
        if path not in self._interpolation_paths:
            raise ValueError(
                f"path must be one of {list(self._interpolation_paths)} for "
                f"{type(self).__name__}, got {path!r}."
            )
        if not (
            isinstance(n_steps, Integral)
            and not isinstance(n_steps, bool)
            and n_steps >= 2
        ):
            raise ValueError(
                f"n_steps must be an integer of at least 2, got {n_steps!r}."
            )
        ends = [_one_row(name, x) for name, x in (("x_a", x_a), ("x_b", x_b))]
        if all(hasattr(x, "columns") for x in ends):
            # Rows of a DataFrame keep their column names, so that a model
            # fitted on a DataFrame checks them as transform does.
            X_ends = ends[0].__class__(
                np.vstack([x.to_numpy() for x in ends]), columns=ends[0].columns
            )
        else:
            X_ends = np.vstack([np.asarray(to_numpy(x)) for x in ends])
        # Encoded as transform does, but as an array whatever set_output says.
        codes = self._encode(X_ends)
        z_a, z_b = codes.astype(np.float64)
        t = np.linspace(0.0, 1.0, n_steps)[:, np.newaxis]
        Z = _slerp(z_a, z_b, t) if path == "spherical" else (1 - t) * z_a + t * z_b
        # In the inputs' floating dtype, as transform and inverse_transform are.
        return self.inverse_transform(Z.astype(codes.dtype))

    @property
    def _n_features_out(self):
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @abstractmethod
    def _transform(self, X): ...

    @abstractmethod
    def _inverse_transform(self, Z): ...

    @abstractmethod
    def _score_samples(self, X): ...


def _one_row(name, x):
    """``x`` as one row: a 1-row DataFrame (from a Series or a DataFrame), or a
    ``(1, n_features)`` array."""
    if hasattr(x, "to_frame") and getattr(x, "ndim", 0) == 1:  # a pandas Series
        x = x.to_frame().T
    shape = x.shape if hasattr(x, "columns") else None
    if shape is None:
        x = np.asarray(to_numpy(x))
        if x.ndim == 1:
            x = x[np.newaxis]
        shape = x.shape
    if len(shape) != 2 or shape[0] != 1:
        raise ValueError(
            f"{name} must be one sample, of shape (n_features,) or "
            f"(1, n_features); got shape {shape}."
        )
    return x


def _overflow_reported():
    """Silence NumPy's overflow warnings: :meth:`BaseReducer._finite` raises
    an error that names the problem where a result overflowed."""
    return np.errstate(over="ignore", invalid="ignore")


def _slerp(z_a, z_b, t):
    """Points ``t`` (a column of values in [0, 1]) along the great circle from
    ``z_a`` to ``z_b``; the segment where the two are (anti)parallel."""
    norms = np.linalg.norm(z_a) * np.linalg.norm(z_b)
    cos = np.dot(z_a, z_b) / norms if norms > 0 else 1.0
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return (1 - t) * z_a + t * z_b
    return (np.sin((1 - t) * omega) * z_a + np.sin(t * omega) * z_b) / np.sin(omega)
