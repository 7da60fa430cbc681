"""Figures of the PCA → autoencoder → VAE story, with matplotlib.

Each function takes a fitted reducer (and data where it needs some), draws on
the ``ax`` it is given or on a new figure, and returns what it drew on: the
:class:`~matplotlib.axes.Axes`, or an array of them for figures of several
panels. None calls ``show()``, so the figures go into notebooks, scripts and
reports alike.

Images are drawn as one mosaic per panel, with a one-pixel gap between
tiles: a grid of 15 × 15 decoded digits is one image to matplotlib, not 225
axes, which keeps large grids fast to draw. ``image_shape`` says how to
fold a row of ``X`` into an image; by default a square one when the number of
features is a perfect square (8 × 8 digits, 28 × 28 MNIST), and otherwise a
column of features, which shows tabular data as a heat-map strip.

matplotlib is an optional dependency: ``pip install "skvae[plot]"``.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from scipy.stats import norm
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

try:
    import matplotlib.pyplot as plt
except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
    raise ImportError(
        "skvae.plotting needs matplotlib, which is not installed. Install the "
        'plotting extra: pip install "skvae[plot]" (or pip install matplotlib).'
    ) from exc

from ._pca import PCAReducer
from ._vae import VAETransformer

__all__ = [
    "REPORT_KL_WEIGHTS",
    "plot_interpolation",
    "plot_kl_sweep",
    "plot_latent_manifold",
    "plot_latent_space",
    "plot_outliers",
    "plot_reconstructions",
    "plot_samples",
    "plot_score_distribution",
    "plot_scree",
    "plot_training_curves",
]


def __dir__():
    # dir() and tab completion show the public API, not the imports.
    return list(__all__)


#: The KL weights of the report's sweep, on its loss "mean squared error per
#: pixel + weight × KL": over-regularised, well spread, autoencoder-like.
REPORT_KL_WEIGHTS = (8e-4, 5e-5, 1e-8)

# Labels with at most this many classes get a legend, more get a colour bar.
_MAX_LEGEND_CLASSES = 20


# --------------------------------------------------------------------------
# The latent space.


def plot_latent_space(reducer, X, y=None, *, dims=None, ax=None, **scatter_kwargs):
    """Scatter the codes of ``X``, coloured by ``y``.

    Parameters
    ----------
    reducer : fitted reducer
        Anything with ``transform``: a :class:`~skvae.PCAReducer`,
        :class:`~skvae.AutoencoderTransformer`, :class:`~skvae.VAETransformer`
        or a scikit-learn transformer.
    X : array-like of shape (n_samples, n_features)
        The data to encode.
    y : array-like of shape (n_samples,), default=None
        Labels to colour the points by: a legend for up to 20 classes, a
        colour bar for more or for continuous values.
    dims : pair of int, default=None
        The two latent dimensions to draw. None draws both dimensions of a
        2-D latent space, and the first two principal components of the
        codes for a larger one (the axis labels say which, with their share
        of the codes' variance). A 1-D latent space is drawn against ``y``
        (or against zero without labels).
    ax : matplotlib Axes, default=None
        Where to draw; None makes a new figure.
    **scatter_kwargs
        Passed to :meth:`~matplotlib.axes.Axes.scatter` (e.g. ``s``,
        ``alpha``, ``cmap``).

    Returns
    -------
    ax : matplotlib Axes
    """
    check_is_fitted(reducer)
    Z = np.asarray(reducer.transform(X), dtype=np.float64)
    k = Z.shape[1]
    if dims is not None:
        dims = tuple(dims)
        if len(dims) != 2 or not all(
            isinstance(d, Integral) and 0 <= d < k for d in dims
        ):
            raise ValueError(
                f"dims must be two latent dimensions in [0, {k - 1}], got {dims!r}."
            )
        points = Z[:, list(dims)]
        labels = [f"$z_{{{d + 1}}}$" for d in dims]
    elif k == 2:
        points, labels = Z, ["$z_1$", "$z_2$"]
    elif k == 1:
        other = np.zeros(len(Z)) if y is None else _numeric_labels(y)[0]
        points = np.column_stack([Z[:, 0], other])
        labels = ["$z_1$", "label" if y is not None else ""]
    else:
        projection = PCAReducer(n_components=2).fit(Z)
        points = projection.transform(Z)
        labels = [
            f"principal component {i + 1} of the {k}-D codes ({share:.0%})"
            for i, share in enumerate(projection.explained_variance_ratio_)
        ]

    ax = _axes(ax)
    scatter_kwargs.setdefault("s", 4 if len(points) > 2000 else 10)
    if y is None:
        ax.scatter(points[:, 0], points[:, 1], **scatter_kwargs)
    else:
        codes, classes = _numeric_labels(y)
        categorical = classes is not None and len(classes) <= _MAX_LEGEND_CLASSES
        scatter_kwargs.setdefault("cmap", "tab10" if categorical else "viridis")
        if categorical and len(classes) > 10 and scatter_kwargs["cmap"] == "tab10":
            scatter_kwargs["cmap"] = "tab20"
        points_ = ax.scatter(points[:, 0], points[:, 1], c=codes, **scatter_kwargs)
        if categorical:
            handles, _ = points_.legend_elements(num=list(range(len(classes))))
            ax.legend(
                handles,
                [str(c) for c in classes],
                title="label",
                loc="center left",
                bbox_to_anchor=(1.0, 0.5),
                frameon=False,
            )
        else:
            ax.figure.colorbar(points_, ax=ax, label="y")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(f"{type(reducer).__name__}: latent space")
    return ax


def _numeric_labels(y):
    """``(values, classes)``: class indices and the class names of discrete
    labels, or the values themselves and None for continuous ones."""
    y = np.asarray(y)
    if y.dtype.kind == "f" and not np.all(np.equal(np.mod(y, 1), 0)):
        return y, None
    classes, codes = np.unique(y, return_inverse=True)
    return codes, classes


# --------------------------------------------------------------------------
# Images: reconstructions, interpolations, samples, the manifold.


def plot_reconstructions(
    reducer, X, *, n_images=10, image_shape=None, cmap="gray", ax=None
):
    """The first ``n_images`` rows of ``X`` above their reconstructions.

    Parameters
    ----------
    reducer : fitted reducer
        Anything with ``transform`` and ``inverse_transform``.
    X : array-like of shape (n_samples, n_features)
    n_images : int, default=10
        How many rows of ``X`` to show (at most ``n_samples``).
    image_shape : tuple of int, default=None
        The ``(height, width)`` of one image; see the module's notes.
    cmap : str or Colormap, default="gray"
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    check_is_fitted(reducer)
    X = _as_2d(X)[: _positive(n_images, "n_images")]
    reconstructed = np.asarray(reducer.inverse_transform(reducer.transform(X)))
    ax = _show_grid(
        np.stack([X, reconstructed]), image_shape, cmap, ax, limits=_range(X)
    )
    ax.set_yticks(
        _tile_centres(2, ax.images[0].get_array().shape[0]),
        ["original", "reconstruction"],
    )
    ax.set_title(f"{type(reducer).__name__}: reconstructions")
    return ax


def plot_interpolation(
    reducer,
    x_a,
    x_b,
    *,
    n_steps=10,
    path="linear",
    image_shape=None,
    cmap="gray",
    ax=None,
):
    """Decode the path through the latent space between two inputs.

    The strip shows ``x_a``, the ``n_steps`` decoded points of
    ``reducer.interpolate(x_a, x_b, n_steps, path=path)`` and ``x_b``.

    Parameters
    ----------
    reducer : fitted PCAReducer, AutoencoderTransformer or VAETransformer
    x_a, x_b : array-like of shape (n_features,) or (1, n_features)
    n_steps : int, default=10
        Decoded points, both ends included.
    path : {"linear", "spherical"}, default="linear"
        See :meth:`skvae.VAETransformer.interpolate`.
    image_shape : tuple of int, default=None
    cmap : str or Colormap, default="gray"
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    decoded = np.asarray(reducer.interpolate(x_a, x_b, n_steps, path=path))
    ends = np.vstack([_as_2d(x_a), _as_2d(x_b)]).astype(decoded.dtype)
    strip = np.vstack([ends[:1], decoded, ends[1:]])
    ax = _show_grid(strip[np.newaxis], image_shape, cmap, ax, limits=_range(ends))
    width = ax.images[0].get_array().shape[1]
    centres = _tile_centres(len(strip), width)
    ax.set_xticks([centres[0], centres[-1]], ["A", "B"])
    ax.set_title(
        f"{type(reducer).__name__}: {path} interpolation, {n_steps} decoded "
        "points between inputs A and B"
    )
    return ax


def plot_samples(
    vae, n_samples=64, *, image_shape=None, random_state=None, cmap="gray", ax=None
):
    """A grid of new data: codes drawn from the prior, decoded.

    Parameters
    ----------
    vae : fitted VAETransformer
        Or anything with ``sample(n_samples, random_state=...)``.
    n_samples : int, default=64
        Drawn into a grid as square as possible.
    image_shape : tuple of int, default=None
    random_state : int, RandomState instance or None, default=None
    cmap : str or Colormap, default="gray"
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    if not hasattr(vae, "sample"):
        raise TypeError(
            f"{type(vae).__name__} cannot generate data: it has no sample method "
            "(use a VAETransformer)."
        )
    n = _positive(n_samples, "n_samples")
    X = np.asarray(vae.sample(n, random_state=random_state))
    n_cols = math.ceil(math.sqrt(n))
    n_rows = math.ceil(n / n_cols)
    grid = np.full((n_rows * n_cols, X.shape[1]), np.nan)
    grid[:n] = X
    ax = _show_grid(grid.reshape(n_rows, n_cols, -1), image_shape, cmap, ax)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{type(vae).__name__}: {n} samples from the prior")
    return ax


def plot_latent_manifold(
    vae,
    n_per_side=15,
    *,
    quantiles=(0.05, 0.95),
    image_shape=None,
    cmap="gray",
    ax=None,
):
    """Decode a grid over a 2-D latent space, evenly spaced in prior probability.

    Grid point ``(i, j)`` decodes ``z = (Φ⁻¹(q_j), Φ⁻¹(q_i))``, with the
    quantiles ``q`` evenly spaced between ``quantiles``, so that each tile
    stands for the same prior mass (Kingma & Welling, 2014, figure 4). The
    first latent dimension runs left to right, the second bottom to top.

    Parameters
    ----------
    vae : fitted VAETransformer with ``n_components_ == 2``
        Or any fitted reducer with a 2-D latent space and
        ``inverse_transform``; the grid is then in prior quantiles all the same.
    n_per_side : int, default=15
    quantiles : pair of float, default=(0.05, 0.95)
        The prior quantiles of the first and last row and column.
    image_shape : tuple of int, default=None
    cmap : str or Colormap, default="gray"
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    check_is_fitted(vae)
    if vae.n_components_ != 2:
        raise ValueError(
            f"The latent manifold is drawn for a 2-D latent space; this "
            f"{type(vae).__name__} has n_components_={vae.n_components_}."
        )
    n = _positive(n_per_side, "n_per_side")
    lo, hi = quantiles
    if not 0 < lo < hi < 1:
        raise ValueError(
            f"quantiles must be two increasing values in (0, 1), got {quantiles!r}."
        )
    values = norm.ppf(np.linspace(lo, hi, n))
    z1, z2 = np.meshgrid(values, values[::-1])  # the top row is the largest z2
    Z = np.column_stack([z1.ravel(), z2.ravel()])
    X = np.asarray(vae.inverse_transform(Z))
    ax = _show_grid(X.reshape(n, n, -1), image_shape, cmap, ax)
    height, width = ax.images[0].get_array().shape
    ends = [f"{v:.2g}" for v in (values[0], values[-1])]
    ax.set_xticks(_tile_centres(n, width)[[0, -1]], ends)
    ax.set_yticks(_tile_centres(n, height)[[0, -1]], ends[::-1])
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(f"{type(vae).__name__}: decoded latent grid")
    return ax


# --------------------------------------------------------------------------
# Training and PCA's spectrum.


def plot_training_curves(reducer, *, axes=None):
    """The loss of each epoch, for the training and the validation data.

    A VAE's curves are drawn in two panels, the reconstruction term (the
    negative log-likelihood) and the KL term, each in nats per sample; an
    autoencoder's in one, its reconstruction loss. Validation curves
    (``early_stopping=True``) are dashed.

    Parameters
    ----------
    reducer : fitted AutoencoderTransformer or VAETransformer
    axes : array-like of matplotlib Axes, default=None
        One Axes per panel; None makes a new figure.

    Returns
    -------
    axes : ndarray of matplotlib Axes
    """
    check_is_fitted(reducer)
    history = getattr(reducer, "history_", None)
    if not history:
        raise TypeError(
            f"{type(reducer).__name__} has no training history to plot: it is not "
            "trained by epochs (use an AutoencoderTransformer or VAETransformer)."
        )
    terms = ["reconstruction", "kl"] if "kl" in history[0] else ["reconstruction"]
    titles = {"reconstruction": "reconstruction", "kl": "KL divergence"}
    if "kl" not in terms:
        units = "loss per feature (standardised X)"
    elif reducer._standardizes():
        # Training sees standardised X; scores add back the change of units.
        units = "nats per sample (standardised X)"
    else:
        units = "nats per sample"
    axes = _panels(axes, len(terms), figsize=(5 * len(terms), 3.5))
    epochs = [record["epoch"] for record in history]  # counted from 1
    for ax, term in zip(axes, terms, strict=True):
        ax.plot(epochs, [record[term] for record in history], label="training")
        # Epochs of a warm start without early stopping have no validation.
        validated = [
            (r["epoch"], r[f"validation_{term}"])
            for r in history
            if f"validation_{term}" in r
        ]
        if validated:
            ax.plot(*np.transpose(validated), linestyle="--", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(units)
        ax.set_title(f"{type(reducer).__name__}: {titles[term]}")
        ax.legend(frameon=False)
    return axes


def plot_scree(pca, *, n_components=None, ax=None):
    """PCA's explained variance: each component's share, and their sum.

    Bars give ``explained_variance_ratio_`` per component; the line, on the
    right-hand axis, its cumulative sum. The least squared reconstruction
    error with ``k`` components is the variance of the components left
    out, so one minus the line is the share of the variance that ``k``
    components cannot reconstruct.

    Parameters
    ----------
    pca : fitted PCAReducer
        Or :class:`sklearn.decomposition.PCA`; fit it with all components
        (``n_components=None``) to see the whole spectrum.
    n_components : int, default=None
        Draw the first this many components (all by default); the
        cumulative share still counts every component of the fit.
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
        The bars' axes; the cumulative line is on ``ax``'s twin.
    """
    check_is_fitted(pca)
    if not hasattr(pca, "explained_variance_ratio_"):
        raise TypeError(
            f"{type(pca).__name__} has no explained_variance_ratio_; a scree plot "
            "needs a fitted PCA."
        )
    ratio = np.asarray(pca.explained_variance_ratio_)
    if n_components is not None:
        ratio = ratio[: _positive(n_components, "n_components")]
    components = np.arange(1, len(ratio) + 1)
    ax = _axes(ax)
    ax.bar(components, ratio, color="C0", label="each component")
    ax.set_xlabel("component")
    ax.set_ylabel("share of the variance", color="C0")
    twin = ax.twinx()
    twin.plot(components, np.cumsum(ratio), color="C1", marker=".", label="cumulative")
    twin.set_ylim(0, 1.02)
    twin.set_ylabel("cumulative share", color="C1")
    ax.set_title(f"{type(pca).__name__}: explained variance")
    return ax


# --------------------------------------------------------------------------
# The KL-weight sweep.


def plot_kl_sweep(
    X,
    y=None,
    *,
    models=None,
    kl_weights=REPORT_KL_WEIGHTS,
    vae=None,
    image_shape=None,
    n_samples=36,
    random_state=None,
    fig=None,
):
    """One row per KL weight: the latent space of ``X`` and samples from the prior.

    A large weight over-regularises (codes squeezed towards the prior, few
    distinct regions, blurred samples); a tiny one gives an
    autoencoder-like latent space that the prior no longer describes.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data to draw in each latent space (and to fit on, when ``models`` is
        None).
    y : array-like of shape (n_samples,), default=None
        Labels to colour the codes by.
    models : dict, DataFrame, list of dict or None, default=None
        Fitted VAEs with 2-D latent spaces: ``{kl_weight: vae}``, or the
        table of :func:`skvae.benchmark.kl_path` called with
        ``return_estimators=True`` (the first split of each weight is
        drawn). None fits one clone of ``vae`` per weight in ``kl_weights``
        on ``X``.
    kl_weights : array-like of float, default=(8e-4, 5e-5, 1e-8)
        The weights to fit when ``models`` is None; the default is the
        report's sweep.
    vae : VAETransformer, default=None
        The model to clone when ``models`` is None. None uses the report's
        recipe, mean squared error per pixel + weight × KL:
        ``VAETransformer(n_components=2, gaussian_variance=n_features / 2,
        random_state=random_state)`` (see the VAE's Notes).
    image_shape : tuple of int, default=None
    n_samples : int, default=36
        Samples from the prior in each row.
    random_state : int, RandomState instance or None, default=None
        Seeds the default ``vae`` and the samples.
    fig : matplotlib Figure, default=None
        Where to draw; None makes a new one.

    Returns
    -------
    axes : ndarray of matplotlib Axes, shape (n_weights, 2)
        Each row's latent scatter and samples.
    """
    X = _as_2d(X)
    if models is None:
        if vae is None:
            vae = VAETransformer(
                n_components=2,
                gaussian_variance=X.shape[1] / 2,
                random_state=random_state,
            )
        models = {
            float(w): clone(vae).set_params(kl_weight=float(w)).fit(X)
            for w in np.atleast_1d(kl_weights)
        }
    models = _models_by_weight(models)
    if fig is None:
        fig = plt.figure(figsize=(9, 4 * len(models)), layout="constrained")
    axes = np.asarray(fig.subplots(len(models), 2, squeeze=False))
    for row, (weight, model) in zip(axes, models.items(), strict=True):
        plot_latent_space(model, X, y, ax=row[0])
        row[0].set_title(f"kl_weight={weight:g}: latent space")
        plot_samples(
            model,
            n_samples,
            image_shape=image_shape,
            random_state=random_state,
            ax=row[1],
        )
        row[1].set_title(f"kl_weight={weight:g}: samples from the prior")
    return axes


def _models_by_weight(models):
    """``{kl_weight: fitted VAE}`` from a dict, or kl_path's table or records."""
    if isinstance(models, dict):
        pairs = list(models.items())
    else:
        records = (
            models.to_dict("records") if hasattr(models, "to_dict") else list(models)
        )
        if not records or "estimator" not in records[0]:
            raise ValueError(
                "models must be a {kl_weight: fitted VAE} dict or the table of "
                "skvae.benchmark.kl_path(..., return_estimators=True), which has an "
                "'estimator' column."
            )
        pairs = [(r["kl_weight"], r["estimator"]) for r in records if r["split"] == 0]
    if not pairs:
        raise ValueError("models is empty: there is no KL weight to draw.")
    for weight, model in pairs:
        check_is_fitted(model)
        if getattr(model, "n_components_", None) != 2:
            raise ValueError(
                f"The sweep draws 2-D latent spaces; the model at kl_weight={weight}"
                f" has n_components_={getattr(model, 'n_components_', None)}."
            )
    return {float(w): m for w, m in pairs}


# --------------------------------------------------------------------------
# Novelty detection.

# The histogram's left edge, as a quantile of the scores: a log-density's lower
# tail runs thousands of nats out, which would squash everything else.
_LOW_QUANTILE = 0.01


def plot_score_distribution(detector, X, outlier=None, *, bins=50, ax=None):
    """Histograms of a detector's scores, and its threshold.

    Parameters
    ----------
    detector : fitted outlier detector
        :class:`~skvae.NoveltyDetector`, or any detector with
        ``score_samples`` and ``offset_`` (:class:`~sklearn.ensemble.IsolationForest`,
        :class:`~sklearn.neighbors.LocalOutlierFactor` with ``novelty=True``).
    X : array-like of shape (n_samples, n_features)
        Rows to score.
    outlier : array-like of bool of shape (n_samples,), default=None
        Which rows are known outliers: their scores get a histogram of their
        own. None draws one histogram of all rows.
    bins : int, default=50
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes

    Notes
    -----
    Each histogram is normalised to unit area, so that a few outliers show
    beside many inliers. The x-axis starts at the 1% quantile of the scores;
    rows further left are counted in the first bin, and the legend says how
    many.
    """
    check_is_fitted(detector)
    scores = np.asarray(detector.score_samples(X), dtype=np.float64)
    if outlier is None:
        groups = [("all rows", np.ones(len(scores), dtype=bool), "C0")]
    else:
        outlier = np.asarray(outlier, dtype=bool)
        if outlier.shape != scores.shape:
            raise ValueError(
                f"outlier has shape {outlier.shape}; expected one flag per row of "
                f"X, {scores.shape}."
            )
        groups = [("inliers", ~outlier, "C0"), ("outliers", outlier, "C3")]
    low, high = np.quantile(scores, _LOW_QUANTILE), scores.max()
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    ax = _axes(ax)
    for label, rows, colour in groups:
        values = scores[rows]
        if not values.size:
            continue
        below = int(np.sum(values < low))
        ax.hist(
            np.clip(values, low, None),
            bins=edges,
            density=True,
            alpha=0.55,
            color=colour,
            label=f"{label} ({values.size})"
            + (f", {below} below the axis, in its first bin" if below else ""),
        )
    ax.axvline(detector.offset_, color="k", linestyle="--", label="threshold (offset_)")
    ax.set_xlabel("score_samples (higher is more normal)")
    ax.set_ylabel("density")
    ax.legend(frameon=False)
    ax.set_title(f"{type(detector).__name__}: scores")
    return ax


def plot_outliers(detector, X, *, n_images=8, image_shape=None, cmap="gray", ax=None):
    """The most and the least anomalous rows of ``X``, above their reconstructions.

    Four rows of images: the ``n_images`` lowest-scoring rows of ``X`` (most
    anomalous first), their reconstructions by the detector's reducer, then
    the ``n_images`` highest-scoring rows and theirs.

    Parameters
    ----------
    detector : fitted NoveltyDetector
        Or any fitted detector with ``score_samples`` whose ``estimator_``
        has ``transform`` and ``inverse_transform``.
    X : array-like of shape (n_samples, n_features)
    n_images : int, default=8
        How many of each (at most half the rows of ``X``).
    image_shape : tuple of int, default=None
        The ``(height, width)`` of one image; see the module's notes.
    cmap : str or Colormap, default="gray"
    ax : matplotlib Axes, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    check_is_fitted(detector)
    reducer = getattr(detector, "estimator_", None)
    if not (hasattr(reducer, "transform") and hasattr(reducer, "inverse_transform")):
        raise TypeError(
            f"{type(detector).__name__} has no fitted estimator_ with transform "
            "and inverse_transform, so there are no reconstructions to show."
        )
    X = _as_2d(X)
    n = min(_positive(n_images, "n_images"), len(X) // 2) or 1
    order = np.argsort(detector.score_samples(X), kind="stable")
    rows = np.r_[order[:n], order[::-1][:n]]
    back = np.asarray(reducer.inverse_transform(reducer.transform(X[rows])))
    tiles = np.stack([X[rows[:n]], back[:n], X[rows[n:]], back[n:]])
    ax = _show_grid(tiles, image_shape, cmap, ax, limits=_range(X))
    ax.set_yticks(
        _tile_centres(4, ax.images[0].get_array().shape[0]),
        ["most anomalous", "reconstruction", "least anomalous", "reconstruction"],
    )
    ax.set_title(f"{type(reducer).__name__}: outliers and inliers")
    return ax


# --------------------------------------------------------------------------
# Helpers.


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(layout="constrained")
    return ax


def _panels(axes, n, figsize):
    if axes is None:
        _, axes = plt.subplots(
            1, n, figsize=figsize, layout="constrained", squeeze=False
        )
    axes = np.asarray(axes, dtype=object).ravel()
    if len(axes) != n:
        raise ValueError(f"axes must hold {n} Axes for this figure, got {len(axes)}.")
    return axes


def _positive(n, name):
    if not (isinstance(n, Integral) and not isinstance(n, bool) and n >= 1):
        raise ValueError(f"{name} must be a positive integer, got {n!r}.")
    return int(n)


def _as_2d(X):
    X = np.asarray(X, dtype=np.float64)
    return X[np.newaxis] if X.ndim == 1 else X


def _range(X):
    """The colour limits of images of ``X``: its finite minimum and maximum."""
    finite = X[np.isfinite(X)]
    return (float(finite.min()), float(finite.max())) if finite.size else None


def _image_shape(n_features, image_shape):
    """The ``(height, width)`` a row of ``n_features`` values folds into."""
    if image_shape is None:
        side = math.isqrt(n_features)
        return (side, side) if side * side == n_features else (n_features, 1)
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 2 or math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={image_shape!r} does not hold {n_features} features; "
            "give (height, width) with height * width == n_features."
        )
    return shape


def _show_grid(tiles, image_shape, cmap, ax, limits=None, gap=1):
    """Draw ``tiles`` (rows, columns, n_features) as one mosaic image.

    Tiles are separated by ``gap`` pixels left blank (NaN, drawn in the
    colormap's "bad" colour); the colour limits are ``limits``, or the
    tiles' own range.
    """
    n_rows, n_cols, n_features = tiles.shape
    h, w = _image_shape(n_features, image_shape)
    mosaic = np.full((n_rows * (h + gap) - gap, n_cols * (w + gap) - gap), np.nan)
    for i in range(n_rows):
        for j in range(n_cols):
            top, left = i * (h + gap), j * (w + gap)
            mosaic[top : top + h, left : left + w] = tiles[i, j].reshape(h, w)
    ax = _axes(ax)
    cmap = plt.get_cmap(cmap).with_extremes(bad="white")
    vmin, vmax = limits if limits is not None else (_range(mosaic) or (0, 1))
    ax.imshow(mosaic, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _tile_centres(n_tiles, length):
    """The centres, in pixels, of ``n_tiles`` equal tiles spread over ``length``."""
    size = (length + 1) / n_tiles  # each tile and its gap
    return np.arange(n_tiles) * size + (size - 1) / 2 - 0.5
