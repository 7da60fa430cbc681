"""Tidy tables of what a reduction is worth downstream, and what it costs.

:func:`compare_reducers` fits reducers at several latent sizes and scores
estimators trained on their codes; :func:`kl_path` follows a VAE along a
range of KL weights; :func:`compare_detectors` measures outlier detectors
on data whose outliers are known. Each returns one row per measurement
("tidy" data), as a :class:`pandas.DataFrame` when pandas is installed, else
as a list of dicts, so they are easy to aggregate, plot or write to CSV.

Each fit of a reducer on one split is an independent task run through
:class:`joblib.Parallel` (scikit-learn's subclass of it, which carries the
scikit-learn configuration to the workers), so ``n_jobs`` uses local
processes and a joblib backend such as Dask's spreads the tasks over a
cluster without any change here.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, check_scoring, roc_auc_score
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit, check_cv
from sklearn.neighbors import KNeighborsClassifier, LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_consistent_length

from ._autoencoder import AutoencoderTransformer
from ._novelty import NoveltyDetector
from ._pca import PCAReducer
from ._vae import VAETransformer
from .metrics import reconstruction_r2

__all__ = [
    "COMPARE_COLUMNS",
    "DETECTOR_COLUMNS",
    "KL_PATH_COLUMNS",
    "compare_detectors",
    "compare_reducers",
    "kl_path",
]


def __dir__():
    # dir() and tab completion show the public API, not the imports.
    return list(__all__)


logger = logging.getLogger("skvae")

#: The columns of :func:`compare_reducers`'s table, in order.
COMPARE_COLUMNS = (
    "reducer",
    "n_components",
    "split",
    "estimator",
    "score",
    "fit_seconds",
    "transform_seconds",
    "estimator_seconds",
    "reconstruction_r2",
    "elbo",
    "train_elbo",
    "n_active_units",
)

#: The columns of :func:`kl_path`'s table, in order.
KL_PATH_COLUMNS = (
    "kl_weight",
    "split",
    "score",
    "elbo",
    "train_elbo",
    "kl",
    "reconstruction_r2",
    "n_active_units",
    "fit_seconds",
)

#: The columns of :func:`compare_detectors`'s table, in order.
DETECTOR_COLUMNS = (
    "detector",
    "auroc",
    "average_precision",
    "fit_seconds",
    "score_seconds",
)

# The parameters compare_reducers and kl_path share, validated the same way.
_COMMON_CONSTRAINTS = {
    "X": ["array-like"],
    "X_test": ["array-like", None],
    "y_test": ["array-like", None],
    "cv": ["cv_object"],
    "n_jobs": [Integral, None],
    "verbose": ["verbose"],
    "random_state": ["random_state"],
    "as_frame": ["boolean", StrOptions({"auto"})],
}


@validate_params(
    {
        **_COMMON_CONSTRAINTS,
        "y": ["array-like"],
        "reducers": [dict, list, tuple, None],
        "n_components": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "estimators": [dict, list, tuple, None],
        "scoring": [str, callable, None],
    },
    # The reducers and estimators must still check their own parameters.
    prefer_skip_nested_validation=False,
)
def compare_reducers(
    X,
    y,
    *,
    reducers=None,
    n_components=(2, 16),
    estimators=None,
    scoring=None,
    X_test=None,
    y_test=None,
    cv=None,
    n_jobs=None,
    verbose=0,
    random_state=None,
    as_frame="auto",
):
    """Score downstream estimators on the codes of several reducers.

    For every latent size ``k`` in ``n_components`` and every reducer, a clone
    with ``n_components=k`` is fitted on the training part of each split, the
    training and test parts are encoded, and every estimator is fitted on the
    training codes and scored on the test codes. A reducer is fitted once per
    ``(k, split)``; all estimators reuse its codes.

    The evaluation uses ``X_test, y_test`` when given, else the folds of
    ``cv``, else one stratified 75/25 split drawn with ``random_state`` (the
    split :func:`~sklearn.model_selection.train_test_split` would make).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data (with ``cv`` or the default split: all the data).
    y : array-like of shape (n_samples,)
        Labels of ``X`` for the downstream estimators.
    reducers : dict or list of estimators, default=None
        The reducers, unfitted, by name; a list is named by class (``"-1"``,
        ``"-2"`` ... tell apart repeated classes). Each needs an
        ``n_components`` parameter. None compares :class:`~skvae.PCAReducer`,
        :class:`~skvae.AutoencoderTransformer` and
        :class:`~skvae.VAETransformer` with their default parameters and
        ``random_state``, as ``"PCA"``, ``"autoencoder"`` and ``"VAE"``.
        Reducers given here keep their own ``random_state``.
    n_components : int or array-like of int, default=(2, 16)
        The latent sizes to try.
    estimators : dict or list of estimators, default=None
        The downstream estimators, by name (a list is named by class). None
        uses ``"5-NN"``, a :class:`~sklearn.neighbors.KNeighborsClassifier`
        with 5 neighbours, and ``"logistic regression"``, a
        :class:`~sklearn.linear_model.LogisticRegression` on standardised
        codes.
    scoring : str, callable or None, default=None
        A scorer name or a ``scorer(estimator, X, y)`` callable (see
        :func:`sklearn.metrics.check_scoring`). None uses each estimator's
        ``score`` (accuracy for a classifier).
    X_test : array-like of shape (n_test_samples, n_features), default=None
        Held-out data to score on; the reducers are then fitted on all of
        ``X``. Not together with ``cv``.
    y_test : array-like of shape (n_test_samples,), default=None
        Labels of ``X_test``; required with it.
    cv : int, cross-validation splitter, list or None, default=None
        The splits of ``X`` to evaluate on, as in
        :func:`~sklearn.model_selection.cross_validate`: an int gives a
        (stratified, for class labels) K-fold without shuffling; a splitter
        such as :class:`~sklearn.model_selection.KFold`, or an iterable of
        ``(train, test)`` index arrays, gives its own splits.
    n_jobs : int, default=None
        Number of ``(reducer, n_components, split)`` fits to run in parallel
        through joblib; None means 1 unless in a
        :func:`joblib.parallel_config` context. With seeded reducers the
        results do not depend on it, except that float64 linear algebra may
        round differently in the last bit when a worker's BLAS uses another
        number of threads.
    verbose : int, default=0
        1 shows a tqdm progress bar over the fits (one ``logging`` line per
        fit on the ``"skvae"`` logger when tqdm is not installed); 2 adds the
        log lines to the bar.
    random_state : int, RandomState instance or None, default=None
        Seeds the default reducers and the default split.
    as_frame : bool or "auto", default="auto"
        Return a :class:`pandas.DataFrame` (True), a list of dicts (False),
        or a DataFrame when pandas can be imported ("auto").

    Returns
    -------
    table : pandas.DataFrame or list of dict
        One row per reducer, latent size, split and estimator, with the
        columns:

        - ``reducer``, ``n_components``, ``split`` (0-based), ``estimator``;
        - ``score``: the estimator's test score on the codes;
        - ``fit_seconds``: the reducer's ``fit`` on the training part;
        - ``transform_seconds``: encoding the test part;
        - ``estimator_seconds``: fitting and scoring the estimator;
        - ``reconstruction_r2``: :func:`skvae.metrics.reconstruction_r2` on the
          test part (NaN for a reducer without ``inverse_transform``);
        - ``elbo``: a :class:`~skvae.VAETransformer`'s ``score`` of the test
          part, the mean ELBO in nats per sample in the units of X (NaN for
          other reducers);
        - ``train_elbo``: the same of the rows it trained on (its
          ``train_elbo_``): far above ``elbo``, the model overfits;
        - ``n_active_units``: a VAE's ``n_active_units_`` (NaN otherwise).

        The reducer's columns repeat on each of its estimators' rows.

    Raises
    ------
    ValueError
        When ``reducers``, ``estimators`` or ``n_components`` is empty or
        invalid, ``X_test`` comes without ``y_test`` (or the other way
        round), or both ``X_test`` and ``cv`` are given.

    Warns
    -----
    UserWarning
        When one feature holds more than half of the total variance of ``X``:
        the reducers centre X and divide it by one scale, so that feature
        dominates the codes and ``reconstruction_r2``. Standardise features
        in different units first.

    See Also
    --------
    kl_path : One VAE along a range of KL weights.
    skvae.metrics.reconstruction_r2 : The reconstruction score used here.

    Examples
    --------
    >>> from skvae import PCAReducer
    >>> from skvae.benchmark import compare_reducers
    >>> from skvae.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> table = compare_reducers(
    ...     X, y, reducers={"PCA": PCAReducer()}, n_components=[2, 8], random_state=0
    ... )
    >>> table[["n_components", "estimator", "score", "reconstruction_r2"]].round(2)
       n_components            estimator  score  reconstruction_r2
    0             2                 5-NN   0.62               0.28
    1             2  logistic regression   0.59               0.28
    2             8                 5-NN   0.95               0.67
    3             8  logistic regression   0.90               0.67
    """
    reducers = (
        _named(reducers, "reducers")
        if reducers is not None
        else {
            "PCA": _seeded(PCAReducer, random_state),
            "autoencoder": _seeded(AutoencoderTransformer, random_state),
            "VAE": _seeded(VAETransformer, random_state),
        }
    )
    for name, reducer in reducers.items():
        if "n_components" not in reducer.get_params():
            raise ValueError(
                f"reducers[{name!r}] ({type(reducer).__name__}) has no n_components "
                "parameter, so it cannot be fitted at the requested latent sizes."
            )
    sizes = _check_sizes(n_components)
    estimators = (
        _named(estimators, "estimators")
        if estimators is not None
        else {
            "5-NN": KNeighborsClassifier(5),
            "logistic regression": make_pipeline(
                StandardScaler(), LogisticRegression(max_iter=1000)
            ),
        }
    )
    # Fail before any fit, not in the middle of the benchmark.
    for estimator in estimators.values():
        check_scoring(estimator, scoring)

    plan = _plan(X, y, X_test, y_test, cv, random_state)
    _warn_if_one_feature_dominates(X)
    configs = [
        ({"reducer": name, "n_components": k}, clone(r).set_params(n_components=k))
        for k in sizes
        for name, r in reducers.items()
    ]
    rows = []
    for labels, split, metrics, scores, _ in _run(
        configs, plan, estimators, scoring, n_jobs, verbose, "compare_reducers"
    ):
        for name, score, seconds in scores:
            rows.append(
                {
                    **labels,
                    "split": split,
                    "estimator": name,
                    "score": score,
                    "fit_seconds": metrics["fit_seconds"],
                    "transform_seconds": metrics["transform_seconds"],
                    "estimator_seconds": seconds,
                    "reconstruction_r2": metrics["reconstruction_r2"],
                    "elbo": metrics["elbo"],
                    "train_elbo": metrics["train_elbo"],
                    "n_active_units": metrics["n_active_units"],
                }
            )
    return _output(rows, COMPARE_COLUMNS, as_frame)


@validate_params(
    {
        **_COMMON_CONSTRAINTS,
        "y": ["array-like", None],
        "kl_weights": [Interval(Real, 0, None, closed="left"), "array-like"],
        "vae": [VAETransformer, None],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "estimator": [HasMethods(["fit"]), None],
        "return_estimators": ["boolean"],
    },
    prefer_skip_nested_validation=False,
)
def kl_path(
    X,
    y=None,
    *,
    kl_weights=(1.0, 0.1, 0.01, 1e-3, 1e-4),
    vae=None,
    n_components=2,
    estimator=None,
    X_test=None,
    y_test=None,
    cv=None,
    n_jobs=None,
    verbose=0,
    random_state=None,
    return_estimators=False,
    as_frame="auto",
):
    """Fit one VAE at several KL weights and measure what each weight gives.

    The KL weight trades reconstruction against a regular latent space: a
    small weight keeps more information in the codes (a higher KL and
    reconstruction R², often better downstream scores), a large one pulls
    the posterior towards the prior and may collapse latent units. The
    held-out ELBO, scored with weight 1 whatever the training weight, puts
    all of them on one scale.

    Splits work as in :func:`compare_reducers`: ``X_test``, the folds of
    ``cv``, or one (stratified, with class labels) 75/25 split.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data.
    y : array-like of shape (n_samples,), default=None
        Labels for the downstream ``estimator``; without them ``score`` is
        NaN.
    kl_weights : float or array-like of float, default=(1.0, 0.1, 0.01, 1e-3, 1e-4)
        The KL weights to fit, each ≥ 0.
    vae : VAETransformer, default=None
        The model to clone at each weight. None uses
        ``VAETransformer(random_state=random_state)``.
    n_components : int, default=2
        Latent size of every fit (it replaces that of ``vae``).
    estimator : estimator, default=None
        Downstream estimator scored on the codes when ``y`` is given, by its
        ``score``. None uses a 5-nearest-neighbour classifier.
    X_test : array-like of shape (n_test_samples, n_features), default=None
        Held-out data; the VAEs are then fitted on all of ``X``. Not together
        with ``cv``.
    y_test : array-like of shape (n_test_samples,), default=None
        Labels of ``X_test``; required with it when ``y`` is given.
    cv : int, cross-validation splitter, list or None, default=None
        Splits of ``X`` to evaluate on, as in :func:`compare_reducers`.
    n_jobs : int, default=None
        Number of ``(kl_weight, split)`` fits to run in parallel through
        joblib. As in :func:`compare_reducers`, the results do not depend on
        it for a seeded ``vae``.
    verbose : int, default=0
        1 shows a progress bar over the fits (log lines without tqdm), 2 adds
        the log lines to the bar.
    random_state : int, RandomState instance or None, default=None
        Seeds the default VAE and the default split.
    return_estimators : bool, default=False
        Add an ``estimator`` column holding each row's fitted VAE, for
        instance for :func:`skvae.plotting.plot_kl_sweep`.
    as_frame : bool or "auto", default="auto"
        Return a :class:`pandas.DataFrame` (True), a list of dicts (False), or
        a DataFrame when pandas can be imported ("auto").

    Returns
    -------
    table : pandas.DataFrame or list of dict
        One row per KL weight and split, with the columns ``kl_weight``,
        ``split``, ``score`` (the estimator's test score on the codes; NaN
        without ``y``), ``elbo`` (the mean test ELBO in nats per sample in
        the units of X, KL weight 1), ``train_elbo`` (the same of the rows it
        trained on),
        ``kl`` (the sum of ``kl_per_dimension_``: the mean KL divergence from
        the prior on the training part, in nats), ``reconstruction_r2`` (on
        the test part), ``n_active_units`` and ``fit_seconds``.

    Raises
    ------
    ValueError
        When ``kl_weights`` is empty or negative, the test data or splits
        are inconsistent (see :func:`compare_reducers`), or an ``estimator``
        is given without ``y``.

    See Also
    --------
    compare_reducers : Several reducers at several latent sizes.

    Examples
    --------
    >>> import warnings
    >>> from skvae import PosteriorCollapseWarning, VAETransformer
    >>> from skvae.benchmark import kl_path
    >>> from skvae.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> vae = VAETransformer(hidden_layer_sizes=(32,), max_iter=2, random_state=0)
    >>> with warnings.catch_warnings():  # two epochs are too few to leave the prior
    ...     warnings.simplefilter("ignore", PosteriorCollapseWarning)
    ...     path = kl_path(X[:300], y[:300], kl_weights=[1.0, 0.01], vae=vae)
    >>> path.shape
    (2, 9)
    >>> list(path.columns[:4])
    ['kl_weight', 'split', 'score', 'elbo']
    """
    weights = _check_weights(kl_weights)
    if y is None and estimator is not None:
        raise ValueError(
            "An estimator was given but y is None: there are no labels to fit and "
            "score it with. Pass y, or leave estimator=None."
        )
    model = vae if vae is not None else VAETransformer(random_state=random_state)
    estimators = None
    if y is not None:
        estimators = {
            "estimator": estimator if estimator is not None else KNeighborsClassifier(5)
        }
        check_scoring(estimators["estimator"])

    plan = _plan(X, y, X_test, y_test, cv, random_state)
    configs = [
        (
            {"kl_weight": w},
            clone(model).set_params(kl_weight=w, n_components=n_components),
        )
        for w in weights
    ]
    rows = []
    for labels, split, metrics, scores, fitted in _run(
        configs, plan, estimators, None, n_jobs, verbose, "kl_path"
    ):
        rows.append(
            {
                **labels,
                "split": split,
                "score": scores[0][1] if scores else math.nan,
                "elbo": metrics["elbo"],
                "train_elbo": metrics["train_elbo"],
                "kl": metrics["kl"],
                "reconstruction_r2": metrics["reconstruction_r2"],
                "n_active_units": metrics["n_active_units"],
                "fit_seconds": metrics["fit_seconds"],
            }
        )
        if return_estimators:
            rows[-1]["estimator"] = fitted
    columns = (*KL_PATH_COLUMNS, "estimator") if return_estimators else KL_PATH_COLUMNS
    return _output(rows, columns, as_frame)


# --------------------------------------------------------------------------
# Checking the arguments.


@validate_params(
    {
        "X": ["array-like"],
        "X_test": ["array-like"],
        "outlier": ["array-like"],
        "detectors": [dict, list, tuple, None],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "as_frame": ["boolean", StrOptions({"auto"})],
    },
    prefer_skip_nested_validation=False,
)
def compare_detectors(
    X,
    X_test,
    outlier,
    *,
    detectors=None,
    n_jobs=None,
    verbose=0,
    random_state=None,
    as_frame="auto",
):
    """Fit outlier detectors to normal data and measure how they rank new data.

    Every detector is fitted to ``X`` and scores ``X_test``, whose outliers
    ``outlier`` marks; the lower a row's ``score_samples`` (or
    ``decision_function``), the more anomalous the detector finds it.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training data: normal rows, with at most a few outliers.
    X_test : array-like of shape (n_test_samples, n_features)
        Rows to score.
    outlier : array-like of bool of shape (n_test_samples,)
        True for the outliers of ``X_test``; both kinds must occur.
    detectors : dict or list of estimators, default=None
        Unfitted outlier detectors by name (a list is named by class): any
        estimator with ``fit`` and ``score_samples`` or ``decision_function``
        that is higher for more normal rows, as scikit-learn's are. None
        compares :class:`~skvae.NoveltyDetector` with its default reducer
        (``"NoveltyDetector"``), :class:`~sklearn.ensemble.IsolationForest`
        and :class:`~sklearn.neighbors.LocalOutlierFactor` with
        ``novelty=True`` (``"LOF"``).
    n_jobs : int, default=None
        Number of detectors to fit in parallel through joblib.
    verbose : int, default=0
        As in :func:`compare_reducers`.
    random_state : int, RandomState instance or None, default=None
        Seeds the default detectors.
    as_frame : bool or "auto", default="auto"
        Return a :class:`pandas.DataFrame` (True), a list of dicts (False),
        or a DataFrame when pandas can be imported ("auto").

    Returns
    -------
    table : pandas.DataFrame or list of dict
        One row per detector, with the columns ``detector``, ``auroc`` (the
        area under the ROC curve of the outliers against the inliers: 1 ranks
        every outlier below every inlier, 0.5 is chance), ``average_precision``
        (with the outliers as the positive class), ``fit_seconds`` and
        ``score_seconds`` (scoring ``X_test``).

    See Also
    --------
    skvae.NoveltyDetector : A reducer's density or reconstruction error as a detector.

    Examples
    --------
    >>> from sklearn.ensemble import IsolationForest
    >>> from skvae import NoveltyDetector, PCAReducer
    >>> from skvae.benchmark import compare_detectors
    >>> from skvae.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> normal = X[:1200][y[:1200] != 1]  # fit to digits other than 1
    >>> table = compare_detectors(
    ...     normal,
    ...     X[1200:],
    ...     y[1200:] == 1,
    ...     detectors={
    ...         "PCA density": NoveltyDetector(PCAReducer(20), method="density"),
    ...         "PCA latent": NoveltyDetector(PCAReducer(20), method="latent"),
    ...         "isolation forest": IsolationForest(random_state=0),
    ...     },
    ... )
    >>> table[["detector", "auroc", "average_precision"]].round(2)
               detector  auroc  average_precision
    0       PCA density   0.64               0.18
    1        PCA latent   0.96               0.67
    2  isolation forest   0.55               0.15
    """
    outlier = np.asarray(outlier)
    check_consistent_length(X_test, outlier)
    if outlier.ndim != 1 or not np.isin(outlier, (0, 1)).all():
        raise ValueError("outlier must be one True/False (or 1/0) per row of X_test.")
    outlier = outlier.astype(bool)
    if outlier.all() or not outlier.any():
        raise ValueError(
            "outlier must mark both outliers and inliers in X_test: AUROC and "
            "average precision compare the two."
        )
    detectors = (
        _named(detectors, "detectors")
        if detectors is not None
        else {
            "NoveltyDetector": NoveltyDetector(random_state=random_state),
            "IsolationForest": _seeded(IsolationForest, random_state),
            "LOF": LocalOutlierFactor(novelty=True),
        }
    )
    for name, detector in detectors.items():
        if not (
            hasattr(detector, "score_samples") or hasattr(detector, "decision_function")
        ):
            raise ValueError(
                f"detectors[{name!r}] ({type(detector).__name__}) has neither "
                "score_samples nor decision_function to rank rows by."
            )
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fit_and_score)(detector, X, X_test, outlier)
        for detector in detectors.values()
    )
    rows = []
    with _progress(len(detectors), verbose, "compare_detectors") as advance:
        for name, row in zip(detectors, results, strict=True):
            advance(f"{name}: fit in {row['fit_seconds']:.2f} s")
            rows.append({"detector": name, **row})
    return _output(rows, DETECTOR_COLUMNS, as_frame)


def _fit_and_score(detector, X, X_test, outlier):
    """Fit a clone of ``detector`` to ``X``; its measurements on ``X_test``."""
    detector = clone(detector)
    start = time.perf_counter()
    detector.fit(X)
    fit_seconds = time.perf_counter() - start
    score = getattr(detector, "score_samples", None) or detector.decision_function
    start = time.perf_counter()
    abnormality = -np.asarray(score(X_test), dtype=np.float64)
    score_seconds = time.perf_counter() - start
    return {
        "auroc": float(roc_auc_score(outlier, abnormality)),
        "average_precision": float(average_precision_score(outlier, abnormality)),
        "fit_seconds": fit_seconds,
        "score_seconds": score_seconds,
    }


def _seeded(cls, random_state):
    """``cls()`` with only ``random_state`` set, when it has that parameter."""
    if "random_state" in cls().get_params():
        return cls(random_state=random_state)
    return cls()


def _named(items, what):
    """A ``{name: estimator}`` dict from a dict, or a list named by class."""
    if isinstance(items, dict):
        named = {str(name): item for name, item in items.items()}
    else:
        classes = [type(item).__name__ for item in items]
        # As make_pipeline does: a repeated class gets "-1", "-2", ... appended.
        seen = {}
        named = {}
        for cls, item in zip(classes, items, strict=True):
            if classes.count(cls) > 1:
                seen[cls] = seen.get(cls, 0) + 1
                cls = f"{cls}-{seen[cls]}"
            named[cls] = item
    if not named:
        raise ValueError(f"{what} is empty: give at least one estimator.")
    for name, item in named.items():
        if not hasattr(item, "fit") or not hasattr(item, "get_params"):
            raise ValueError(
                f"{what}[{name!r}] is {item!r}, not a scikit-learn estimator "
                "(it needs fit and get_params)."
            )
    return named


def _check_sizes(n_components):
    sizes = [n_components] if isinstance(n_components, Integral) else n_components
    sizes = list(np.ravel(np.asarray(sizes, dtype=object)))
    if not sizes:
        raise ValueError("n_components is empty: give at least one latent size.")
    for k in sizes:
        if isinstance(k, bool | np.bool_) or not isinstance(k, Integral) or k < 1:
            raise ValueError(
                f"n_components must hold integers ≥ 1, got {n_components!r}."
            )
    return [int(k) for k in sizes]


def _check_weights(kl_weights):
    weights = [kl_weights] if isinstance(kl_weights, Real) else kl_weights
    weights = list(np.ravel(np.asarray(weights, dtype=object)))
    if not weights:
        raise ValueError("kl_weights is empty: give at least one KL weight.")
    for w in weights:
        if (
            isinstance(w, bool | np.bool_)
            or not isinstance(w, Real)
            or not (w >= 0 and math.isfinite(w))
        ):
            raise ValueError(
                f"kl_weights must hold finite numbers ≥ 0, got {kl_weights!r}."
            )
    return [float(w) for w in weights]


def _warn_if_one_feature_dominates(X):
    """Warn when one feature holds more than half of the total variance of X.

    skvae's reducers centre X and divide it by one scale for all features, as
    scikit-learn's PCA does, so such a feature dominates their codes, and
    ``reconstruction_r2``, an average over the features weighted by their
    variances, measures hardly anything else. On the wine data (standard
    deviations 0.12 to 314; one feature holds 99.8 % of the variance), R² is
    0.998 and more while 5-fold 5-NN accuracy on two PCA components is 0.69,
    and 0.97 with a StandardScaler in front.
    """
    import warnings

    from scipy import sparse
    from sklearn.utils.sparsefuncs import mean_variance_axis

    from ._data import LazyRows, is_tensor, to_numpy
    from ._neural import _streamed_mean_var

    if sparse.issparse(X):
        X = sparse.csr_matrix(X, dtype=np.float64)
        variances = mean_variance_axis(X, axis=0)[1]
    else:
        X = to_numpy(X) if is_tensor(X) else np.asarray(X)
        if X.ndim != 2:
            return
        try:
            # In float64 blocks of rows: no full-size copy of X, which may be
            # a memory map larger than memory.
            variances = _streamed_mean_var(LazyRows(X))[1]
        except (TypeError, ValueError):
            return  # not finite numbers: the reducers' checks say what is wrong
    total = float(np.sum(variances))
    if len(variances) < 2 or not 0 < total < math.inf:
        return
    feature = int(np.argmax(variances))
    share = variances[feature] / total
    if share > 0.5:
        warnings.warn(
            f"Feature {feature} of X holds {share:.1%} of its total variance. "
            "The reducers centre X and divide it by one scale for all features, "
            "so their codes follow this feature and reconstruction_r2 measures "
            "little else. If the features are in different units, standardise "
            "them: put a StandardScaler in front of the reducer in a Pipeline, "
            "or here pass StandardScaler().fit_transform(X) (and X_test "
            "through the same scaler).",
            UserWarning,
            stacklevel=4,  # the caller of compare_reducers, past validate_params
        )


def _plan(X, y, X_test, y_test, cv, random_state):
    """What to fit on and score on.

    Returns ``(X_fit, y_fit, X_eval, y_eval, splits)``: each split is a pair of
    index arrays into ``X_fit`` and ``X_eval``, or ``(None, None)`` for "all of
    ``X`` to fit, all of ``X_test`` to score". Indices rather than copies
    travel to the workers, so joblib can memory-map the one large ``X``.
    """
    if X_test is not None and cv is not None:
        raise ValueError(
            "Give X_test (one held-out set) or cv (splits of X), not both."
        )
    if y_test is not None and X_test is None:
        raise ValueError("y_test was given without X_test.")
    if y_test is not None and y is None:
        raise ValueError("y_test was given but y is None.")
    check_consistent_length(X, y)
    if X_test is not None:
        if y is not None and y_test is None:
            raise ValueError(
                "X_test was given without y_test: the downstream estimators need "
                "the labels of the test data."
            )
        check_consistent_length(X_test, y_test)
        return X, y, X_test, y_test, [(None, None)]

    classes = y is not None and type_of_target(y) in ("binary", "multiclass")
    if cv is None:
        # What train_test_split(..., test_size=0.25, stratify=y) does inside.
        splitter = (StratifiedShuffleSplit if classes else ShuffleSplit)(
            n_splits=1, test_size=0.25, random_state=random_state
        )
    else:
        splitter = check_cv(cv, y, classifier=classes)
    return X, y, X, y, list(splitter.split(X, y))


# --------------------------------------------------------------------------
# Running the fits.


def _run(configs, plan, estimators, scoring, n_jobs, verbose, description):
    """Evaluate every ``(labels, reducer)`` of ``configs`` on every split.

    Yields ``(labels, split, metrics, scores)`` in the order of the configs,
    then the splits, whatever order the workers finish in.
    """
    X_fit, y_fit, X_eval, y_eval, splits = plan
    tasks = [
        (labels, reducer, split, train, test)
        for labels, reducer in configs
        for split, (train, test) in enumerate(splits)
    ]
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fit_and_evaluate)(
            reducer, X_fit, y_fit, X_eval, y_eval, train, test, estimators, scoring
        )
        for _, reducer, _, train, test in tasks
    )
    with _progress(len(tasks), verbose, description) as advance:
        for (labels, _, split, _, _), (metrics, scores, fitted) in zip(
            tasks, results, strict=True
        ):
            what = ", ".join(f"{key}={value}" for key, value in labels.items())
            advance(f"{what}, split {split}: fit in {metrics['fit_seconds']:.2f} s")
            yield labels, split, metrics, scores, fitted


def _fit_and_evaluate(
    reducer, X_fit, y_fit, X_eval, y_eval, train, test, estimators, scoring
):
    """Fit a clone of ``reducer`` on one split and measure it.

    Returns ``(metrics, scores, reducer)``: a dict of the reducer's
    measurements, a list of ``(estimator name, score, seconds)`` and the
    fitted reducer.
    """
    # A clone of its own, so no two tasks (threads, or the sequential
    # backend) ever share a fitted state.
    reducer = clone(reducer)
    X_train = X_fit if train is None else _safe_indexing(X_fit, train)
    X_test = X_eval if test is None else _safe_indexing(X_eval, test)

    start = time.perf_counter()
    reducer.fit(X_train)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    Z_test = reducer.transform(X_test)
    transform_seconds = time.perf_counter() - start

    # A VAE by what it has, so that any reducer with a KL term reports it.
    is_vae = hasattr(reducer, "kl_per_dimension_")
    metrics = {
        "fit_seconds": fit_seconds,
        "transform_seconds": transform_seconds,
        # Isomap and friends encode but cannot decode.
        "reconstruction_r2": (
            reconstruction_r2(reducer, X_test)
            if hasattr(reducer, "inverse_transform")
            else math.nan
        ),
        # Other reducers' score is a log-likelihood or a reconstruction
        # score, not an ELBO: they get NaN rather than a number on another scale.
        "elbo": float(reducer.score(X_test)) if is_vae else math.nan,
        "train_elbo": float(getattr(reducer, "train_elbo_", math.nan)),
        "kl": float(np.sum(reducer.kl_per_dimension_)) if is_vae else math.nan,
        "n_active_units": int(reducer.n_active_units_) if is_vae else math.nan,
    }

    scores = []
    if estimators:
        y_train = y_fit if train is None else _safe_indexing(y_fit, train)
        y_test = y_eval if test is None else _safe_indexing(y_eval, test)
        Z_train = reducer.transform(X_train)
        for name, estimator in estimators.items():
            estimator = clone(estimator)
            scorer = check_scoring(estimator, scoring)
            start = time.perf_counter()
            estimator.fit(Z_train, y_train)
            score = float(scorer(estimator, Z_test, y_test))
            scores.append((name, score, time.perf_counter() - start))
    return metrics, scores, reducer


@contextlib.contextmanager
def _progress(total, verbose, description):
    """A function to call after each task: a tqdm bar, log lines, or nothing."""
    bar = None
    if verbose:
        try:  # tqdm is optional: without it, progress goes to log lines.
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - exercised only without tqdm
            tqdm = None
        if tqdm is not None:
            bar = tqdm(total=total, desc=description, unit="fit", leave=False)
    done = 0

    def advance(message):
        nonlocal done
        done += 1
        if bar is not None:
            bar.update()
        if verbose >= 2 or (verbose and bar is None):
            logger.info("%s: %d/%d %s", description, done, total, message)

    try:
        yield advance
    finally:
        if bar is not None:
            bar.close()


def _output(rows, columns, as_frame):
    """``rows`` as a DataFrame or as records, as ``as_frame`` asks."""
    auto = isinstance(as_frame, str)
    if not auto and not as_frame:
        return rows
    try:
        import pandas as pd
    except ImportError:
        if not auto:
            raise ImportError(
                "as_frame=True needs pandas, which is not installed; install it "
                "or pass as_frame=False for a list of dicts."
            ) from None
        return rows
    return pd.DataFrame.from_records(rows, columns=list(columns))
