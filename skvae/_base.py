"""The estimator base shared by PCAReducer, AutoencoderTransformer, VAETransformer."""

from __future__ import annotations

import functools
from abc import ABCMeta, abstractmethod

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._data import like_input, to_numpy

FLOAT_DTYPES = (np.float64, np.float32)


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

    def _validate(self, X, *, reset, **check_params):
        """Validate ``X`` as scikit-learn does; a CPU tensor is viewed, not copied."""
        return validate_data(
            self, to_numpy(X), reset=reset, dtype=FLOAT_DTYPES, **check_params
        )

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
        check_is_fitted(self)
        return like_input(self._transform(self._validate(X, reset=False)), X)

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
        return like_input(self._inverse_transform(Z), X)

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
        return self._score_samples(self._validate(X, reset=False))

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
