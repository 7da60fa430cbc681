"""NoveltyDetector: a reducer's density or reconstruction error finds outliers."""

from __future__ import annotations

from numbers import Real
from typing import ClassVar

import numpy as np
import scipy.sparse
from sklearn.base import (
    BaseEstimator,
    MetaEstimatorMixin,
    OutlierMixin,
    _fit_context,
    clone,
)
from sklearn.utils import _safe_indexing, gen_batches
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _num_samples, check_array, check_is_fitted

from ._base import FLOAT_DTYPES, transactional
from ._data import to_numpy

# Rows scored at a time by the reconstruction score: bounds the copies a
# reconstruction makes (two float64 blocks) whatever the size of X.
_BLOCK_ROWS = 4096

# Tukey's fence: a row is an outlier below the lower quartile of the training
# scores by more than this many interquartile ranges (contamination="auto").
_FENCE = 1.5


class NoveltyDetector(OutlierMixin, MetaEstimatorMixin, BaseEstimator):
    """Outliers are the rows a fitted reducer explains worst.

    Fits a reducer to data that is (mostly) normal and scores new rows by how
    well the reducer explains them: by the model's log-density (the VAE's
    ELBO, probabilistic PCA's likelihood) or by how well they are
    reconstructed. The scores follow scikit-learn's outlier detectors, such
    as :class:`~sklearn.ensemble.IsolationForest`: higher is more normal,
    :meth:`decision_function` is negative for outliers and :meth:`predict`
    gives -1 for them, +1 for inliers.

    Parameters
    ----------
    estimator : estimator or None, default=None
        The reducer, cloned and fitted by :meth:`fit`: any skvae reducer, or
        any scikit-learn estimator with ``score_samples`` (for
        ``score="density"``) or ``transform`` and ``inverse_transform`` (for
        ``score="reconstruction"``). None gives ``PCAReducer(0.9)``... (see
        Notes).
    score : {"auto", "density", "reconstruction"} or callable, default="auto"
        How a row is scored, higher for more normal rows:

        - ``"density"``: the estimator's ``score_samples``, the log-density
          (or its lower bound) of the row in nats.
        - ``"reconstruction"``: minus the mean squared difference between the
          row and its reconstruction ``inverse_transform(transform(row))``,
          in the units of X.
        - ``"auto"``: ``"density"`` where the estimator has ``score_samples``,
          ``"reconstruction"`` otherwise.
        - a callable ``score(estimator, X)`` returning one number per row.
    contamination : "auto" or float, default="auto"
        The proportion of outliers in the training data, which sets the
        threshold `offset_`: a float in (0, 0.5] puts it at that quantile of
        the training rows' scores, so that this fraction of them is flagged.
        ``"auto"`` puts it at Tukey's lower fence: the lower quartile of the
        training scores minus 1.5 times their interquartile range, the end of
        a box plot's lower whisker.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator``.
    score_ : str or callable
        The score used: ``score`` with ``"auto"`` resolved.
    offset_ : float
        The threshold on :meth:`score_samples`: ``decision_function`` is
        ``score_samples - offset_``.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`, when X has string feature
        names.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Isolation by random trees.
    sklearn.neighbors.LocalOutlierFactor : Local density of the neighbours.
    sklearn.covariance.EllipticEnvelope : A robust Gaussian's Mahalanobis distance.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import NoveltyDetector, PCAReducer
    >>> X, y = load_digits(return_X_y=True)
    >>> detector = NoveltyDetector(PCAReducer(n_components=20)).fit(X[y != 1])
    >>> flagged = detector.predict(X[y == 1]) == -1
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [
            None,
            HasMethods(["fit", "score_samples"]),
            HasMethods(["fit", "transform", "inverse_transform"]),
        ],
        "method": [StrOptions({"auto", "density", "reconstruction"}), callable],
        "contamination": [
            StrOptions({"auto"}),
            Interval(Real, 0, 0.5, closed="right"),
        ],
    }

    def __init__(self, estimator=None, *, method="auto", contamination="auto"):
        self.estimator = estimator
        self.method = method
        self.contamination = contamination

    @transactional
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the estimator to ``X`` and set the threshold from its scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, normal rows with at most a few outliers.
        y : None
            Ignored.

        Returns
        -------
        self : NoveltyDetector
        """
        estimator = clone(self._default() if self.estimator is None else self.estimator)
        method = self._resolve_method(estimator)
        estimator.fit(X)
        self.estimator_, self.method_ = estimator, method
        for name in ("n_features_in_", "feature_names_in_"):
            if hasattr(estimator, name):
                setattr(self, name, getattr(estimator, name))
        scores = self._scores(X)
        if self.contamination == "auto":
            q1, q3 = np.percentile(scores, [25.0, 75.0])
            self.offset_ = float(q1 - _FENCE * (q3 - q1))
        else:
            self.offset_ = float(np.percentile(scores, 100.0 * self.contamination))
        return self

    def _default(self):
        from ._pca import PCAReducer

        return PCAReducer(n_components=0.9)

    def _resolve_method(self, estimator):
        method = self.method
        if method == "auto":
            method = (
                "density" if hasattr(estimator, "score_samples") else "reconstruction"
            )
        needs = {
            "density": ("score_samples",),
            "reconstruction": ("transform", "inverse_transform"),
        }.get(method, ())
        missing = [name for name in needs if not hasattr(estimator, name)]
        if missing:
            raise ValueError(
                f"method={method!r} needs an estimator with {' and '.join(needs)}; "
                f"{type(estimator).__name__} has no {' or '.join(missing)}."
            )
        return method

    def _scores(self, X):
        """One float64 score per row of ``X``; higher is more normal."""
        if callable(self.method_):
            scores = self.method_(self.estimator_, X)
        elif self.method_ == "density":
            scores = self.estimator_.score_samples(X)
        else:
            scores = _reconstruction_scores(self.estimator_, X)
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 1 or scores.shape[0] != _num_rows(X):
            raise ValueError(
                f"The method {self.method_!r} returned an array of shape "
                f"{scores.shape}; expected one number per row of X."
            )
        return scores

    def score_samples(self, X):
        """How normal each row is: the score chosen by ``score``; higher is more normal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self._scores(X)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """+1 for inliers, -1 for outliers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to classify.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return np.where(self.decision_function(X) >= 0, 1, -1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        estimator = self._default() if self.estimator is None else self.estimator
        inner = estimator.__sklearn_tags__()
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags


def _num_rows(X):
    return _num_samples(X)


def _reconstruction_scores(estimator, X):
    """Minus each row's mean squared reconstruction error, a block of rows at a time."""
    X = to_numpy(X)
    if scipy.sparse.issparse(X):
        X = X.tocsr()  # the formats without row slicing, too
    elif not (hasattr(X, "shape") and hasattr(X, "__getitem__")):
        X = np.asarray(X)  # lists and other array-likes; DataFrames and
        # arrays (memory maps, dask) are sliced as they are
    n = _num_rows(X)
    scores = np.empty(n)
    for rows in gen_batches(n, _BLOCK_ROWS):
        block = _safe_indexing(X, rows)
        back = np.asarray(
            to_numpy(estimator.inverse_transform(estimator.transform(block)))
        )
        block = check_array(block, accept_sparse=True, dtype=FLOAT_DTYPES)
        if scipy.sparse.issparse(block):
            block = block.toarray()
        scores[rows] = -np.mean(np.square(block - back, dtype=np.float64), axis=1)
    return scores
