"""NoveltyDetector: outliers by a reducer's codes, density or reconstruction."""

from __future__ import annotations

from numbers import Integral, Real
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
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import _safe_indexing, gen_batches
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _num_samples, check_array, check_is_fitted

from ._autoencoder import AutoencoderTransformer
from ._base import FLOAT_DTYPES, transactional
from ._data import to_numpy

# Rows scored at a time by the reconstruction score: bounds the copies a
# reconstruction makes (two float64 blocks) whatever the size of X.
_BLOCK_ROWS = 4096

# The default reducer's latent size (benchmarks/README.md, "Novelty detection").
DEFAULT_COMPONENTS = 16

# Codes closer than this (relative to their norm) are the same row's: float32
# inference may round a row's code differently in another batch.
_SAME = 1e-5

# Tukey's fence: a row is an outlier below the lower quartile of the training
# scores by more than this many interquartile ranges (contamination="auto").
_FENCE = 1.5


class NoveltyDetector(OutlierMixin, MetaEstimatorMixin, BaseEstimator):
    """Outliers are the rows a reducer fitted to normal data describes worst.

    Fits a reducer to data that is (mostly) normal, and scores new rows by
    how far their codes lie from the codes of the training rows, by the
    reducer's density, or by how well they are reconstructed. The API is
    that of scikit-learn's outlier detectors, such as
    :class:`~sklearn.ensemble.IsolationForest`: :meth:`score_samples` is
    higher for more normal rows, :meth:`decision_function` is negative for
    outliers, and :meth:`predict` gives -1 for outliers and +1 for inliers.

    Read more in :doc:`/novelty`.

    Parameters
    ----------
    estimator : estimator or None, default=None
        The reducer, cloned and fitted by :meth:`fit`: any skvae reducer, or
        any scikit-learn estimator with what ``method`` needs. None gives
        ``AutoencoderTransformer(n_components=16)``, seeded by
        ``random_state``. A reducer fitted already can be wrapped in
        :class:`sklearn.frozen.FrozenEstimator`, so that it is not refitted.
    method : {"auto", "latent", "density", "reconstruction"} or callable, default="auto"
        How a row is scored, higher for more normal rows:

        - ``"latent"``: minus the mean Euclidean distance from the row's code
          (``transform``) to the codes of its ``n_neighbors`` nearest
          training rows.
        - ``"density"``: the estimator's ``score_samples``, the row's
          log-density (or its lower bound, the VAE's ELBO) in nats.
        - ``"reconstruction"``: minus the mean squared difference between the
          row and ``inverse_transform(transform(row))``, in the units of X.
        - ``"auto"``: ``"latent"`` where the estimator has ``transform``,
          ``"density"`` otherwise.
        - a callable ``method(estimator, X)`` returning one number per row.
    n_neighbors : int, default=5
        The number of training codes ``method="latent"`` measures the
        distance to.
    contamination : "auto" or float, default="auto"
        Sets the threshold `offset_` on the training rows' scores. A float in
        (0, 0.5] is the proportion of outliers in the training data: the
        threshold is that quantile, so that this share of the training rows
        is flagged. ``"auto"`` is Tukey's fence: the lower quartile of the
        training scores minus 1.5 times their interquartile range.
    random_state : int, RandomState instance or None, default=None
        Seeds the default estimator (``estimator=None``); a given estimator
        keeps its own ``random_state``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator``.
    method_ : str or callable
        The score used: ``method`` with ``"auto"`` resolved.
    offset_ : float
        The threshold: ``decision_function(X)`` is ``score_samples(X) -
        offset_``.
    neighbors_ : sklearn.neighbors.NearestNeighbors
        The index of the training rows' codes (``method="latent"`` only).
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`, when X has string feature
        names.

    See Also
    --------
    skvae.benchmark.compare_detectors : Measure detectors on known outliers.
    skvae.plotting.plot_score_distribution : The scores and the threshold.
    sklearn.ensemble.IsolationForest : Isolation by random trees.
    sklearn.neighbors.LocalOutlierFactor : Local density of the neighbours.

    Notes
    -----
    The training rows' "latent" scores leave each row's own code out of its
    neighbours. Their density and reconstruction scores are those of rows
    the reducer was fitted to, which a neural reducer explains a little
    better than new ones: new normal rows then fall below the threshold a
    little more often than ``contamination`` says.

    Examples
    --------
    >>> from skvae import NoveltyDetector, PCAReducer
    >>> from skvae.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> detector = NoveltyDetector(PCAReducer(n_components=20))
    >>> detector.fit(X[:1200][y[:1200] != 1])  # fit to the digits but 1
    NoveltyDetector(estimator=PCAReducer(n_components=20))
    >>> flagged = detector.predict(X[1200:]) == -1
    >>> print(
    ...     f"{flagged[y[1200:] == 1].mean():.2f} of the unseen 1s flagged, "
    ...     f"{flagged[y[1200:] != 1].mean():.2f} of the other digits"
    ... )
    0.77 of the unseen 1s flagged, 0.05 of the other digits
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [
            None,
            HasMethods(["fit", "score_samples"]),
            HasMethods(["fit", "transform"]),
        ],
        "method": [
            StrOptions({"auto", "density", "reconstruction", "latent"}),
            callable,
        ],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "contamination": [
            StrOptions({"auto"}),
            Interval(Real, 0, 0.5, closed="right"),
        ],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        method="auto",
        n_neighbors=5,
        contamination="auto",
        random_state=None,
    ):
        self.estimator = estimator
        self.method = method
        self.n_neighbors = n_neighbors
        self.contamination = contamination
        self.random_state = random_state

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
        n = _num_samples(X)
        if method == "latent" and n <= self.n_neighbors:
            raise ValueError(
                f"method='latent' needs more training rows than n_neighbors="
                f"{self.n_neighbors}; X has {n} sample{'s' * (n != 1)}."
            )
        estimator.fit(X, y)
        self.estimator_, self.method_ = estimator, method
        for name in ("n_features_in_", "feature_names_in_"):
            if hasattr(estimator, name):
                setattr(self, name, getattr(estimator, name))
        if method == "latent":
            codes = _codes(estimator, X)
            self.neighbors_ = NearestNeighbors(n_neighbors=self.n_neighbors + 1)
            self.neighbors_.fit(codes)
            scores = self._latent_scores(codes)
        else:
            scores = self._scores(X)
        if self.contamination == "auto":
            q1, q3 = np.percentile(scores, [25.0, 75.0])
            self.offset_ = float(q1 - _FENCE * (q3 - q1))
        else:
            self.offset_ = float(np.percentile(scores, 100.0 * self.contamination))
        return self

    def _default(self):
        return AutoencoderTransformer(
            n_components=DEFAULT_COMPONENTS, random_state=self.random_state
        )

    def _resolve_method(self, estimator):
        method = self.method
        if method == "auto":
            method = "latent" if hasattr(estimator, "transform") else "density"
        needs = {
            "density": ("score_samples",),
            "reconstruction": ("transform", "inverse_transform"),
            "latent": ("transform",),
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
        elif self.method_ == "latent":
            scores = self._latent_scores(_codes(self.estimator_, X))
        else:
            scores = _reconstruction_scores(self.estimator_, X)
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 1 or scores.shape[0] != _num_samples(X):
            raise ValueError(
                f"The method {self.method_!r} returned an array of shape "
                f"{scores.shape}; expected one number per row of X."
            )
        if not np.isfinite(scores).all():
            # A NaN would compare False with any threshold and pass unseen.
            raise ValueError(
                f"The method {self.method_!r} returned NaN or infinite scores "
                f"for {np.sum(~np.isfinite(scores))} of {scores.shape[0]} rows; "
                "a score must be a finite number."
            )
        return scores

    def _latent_scores(self, codes):
        """Minus the mean distance to the ``n_neighbors`` nearest training codes.

        A training code that coincides with the row's own (up to float
        rounding) is the row itself, or a duplicate of it: it is skipped, so
        that a training row scores as it did when the threshold was set
        (leave-one-out), and a copy of one scores as that row.
        """
        distances = self.neighbors_.kneighbors(codes)[0]
        scale = 1.0 + np.linalg.norm(codes, axis=1)
        itself = distances[:, 0] <= _SAME * scale
        kept = np.where(itself[:, None], distances[:, 1:], distances[:, :-1])
        return -kept.mean(axis=1)

    def score_samples(self, X):
        """How normal each row is, by ``method``: higher is more normal.

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


def _codes(estimator, X):
    return np.asarray(to_numpy(estimator.transform(X)), dtype=np.float64)


def _reconstruction_scores(estimator, X):
    """Minus each row's mean squared reconstruction error, a block of rows at a time."""
    X = to_numpy(X)
    if scipy.sparse.issparse(X):
        X = X.tocsr()  # the formats without row slicing, too
    elif not (hasattr(X, "shape") and hasattr(X, "__getitem__")):
        X = np.asarray(X)  # lists and other array-likes; DataFrames and
        # arrays (memory maps, dask) are sliced as they are
    n = _num_samples(X)
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
