"""skvae.plotting: each figure is checked for what it draws, on the Agg backend."""

import functools
import subprocess
import sys
import warnings

import matplotlib
import numpy as np
import pytest
from scipy.stats import norm
from sklearn.decomposition import PCA

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import skvae.plotting
from skvae import AutoencoderTransformer, PCAReducer, VAETransformer
from skvae.benchmark import kl_path
from skvae.plotting import (
    plot_interpolation,
    plot_kl_sweep,
    plot_latent_manifold,
    plot_latent_space,
    plot_outliers,
    plot_reconstructions,
    plot_samples,
    plot_score_distribution,
    plot_scree,
    plot_training_curves,
)

TINY = dict(hidden_layer_sizes=(32,), max_iter=4, random_state=0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def vae2(digits_small):
    X, _ = digits_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VAETransformer(n_components=2, early_stopping=True, **TINY).fit(X)


def tile(ax, i, j, shape=(8, 8), gap=1):
    """Tile (i, j) of the mosaic drawn on ``ax``."""
    h, w = shape
    image = np.asarray(ax.images[0].get_array())
    return image[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w]


# ---------------------------------------------------------------- latent space


def test_latent_space_of_two_dimensions(vae2, digits_small):
    X, y = digits_small
    ax = plot_latent_space(vae2, X, y)
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets(), vae2.transform(X), rtol=1e-6)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$z_1$", "$z_2$")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [str(c) for c in np.unique(y)]
    assert "VAETransformer" in ax.get_title()


def test_latent_space_projects_larger_codes_on_their_principal_components(
    fitted_ae, digits_small
):
    X, y = digits_small
    _, ax = plt.subplots()
    assert plot_latent_space(fitted_ae, X, y, ax=ax) is ax
    Z = fitted_ae.transform(X)
    expected = PCA(n_components=2).fit(Z)
    drawn = ax.collections[0].get_offsets()
    # The same projection as scikit-learn's PCA, up to the sign of each axis.
    np.testing.assert_allclose(
        np.abs(drawn), np.abs(expected.transform(Z)), rtol=1e-4, atol=1e-4
    )
    share = expected.explained_variance_ratio_[0]
    assert ax.get_xlabel() == (f"principal component 1 of the 4-D codes ({share:.0%})")


def test_latent_space_given_dimensions_and_continuous_labels(fitted_ae, digits_small):
    X, _ = digits_small
    values = np.linspace(0.0, 1.0, len(X)) ** 2  # continuous: a colour bar
    ax = plot_latent_space(fitted_ae, X, values, dims=(0, 3))
    np.testing.assert_allclose(
        ax.collections[0].get_offsets(), fitted_ae.transform(X)[:, [0, 3]], rtol=1e-6
    )
    assert ax.get_ylabel() == "$z_{4}$"
    assert ax.get_legend() is None
    assert len(ax.figure.axes) == 2  # the plot and its colour bar
    with pytest.raises(ValueError, match="dims must be two latent dimensions"):
        plot_latent_space(fitted_ae, X, dims=(0, 4))


# ---------------------------------------------------------------------- images


def test_reconstructions_show_originals_above_reconstructions(fitted_ae, digits_small):
    X, _ = digits_small
    ax = plot_reconstructions(fitted_ae, X, n_images=6)
    assert len(ax.images) == 1
    assert ax.images[0].get_array().shape == (2 * 9 - 1, 6 * 9 - 1)
    reconstructed = fitted_ae.inverse_transform(fitted_ae.transform(X[:6]))
    np.testing.assert_allclose(tile(ax, 0, 5), X[5].reshape(8, 8))
    np.testing.assert_allclose(tile(ax, 1, 5), reconstructed[5].reshape(8, 8))
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "original",
        "reconstruction",
    ]
    # Both rows share the originals' colour limits, so they compare by eye.
    assert ax.images[0].get_clim() == (X[:6].min(), X[:6].max())


def test_image_shape_folds_rows_and_tabular_data_is_a_strip(fitted_ae, digits_small):
    X, _ = digits_small
    ax = plot_reconstructions(fitted_ae, X, n_images=3, image_shape=(4, 16))
    assert ax.images[0].get_array().shape == (2 * 5 - 1, 3 * 17 - 1)
    with pytest.raises(ValueError, match="does not hold 64 features"):
        plot_reconstructions(fitted_ae, X, image_shape=(5, 5))

    rng = np.random.RandomState(0)
    tabular = rng.normal(size=(50, 5))
    pca = PCAReducer(n_components=2).fit(tabular)
    ax = plot_reconstructions(pca, tabular, n_images=4)
    assert ax.images[0].get_array().shape == (2 * 6 - 1, 4 * 2 - 1)


def test_interpolation_strip_holds_the_inputs_and_the_decoded_path(vae2, digits_small):
    X, _ = digits_small
    ax = plot_interpolation(vae2, X[0], X[1], n_steps=5, path="spherical")
    assert ax.images[0].get_array().shape == (8, 7 * 9 - 1)
    path = vae2.interpolate(X[0], X[1], 5, path="spherical")
    np.testing.assert_allclose(tile(ax, 0, 0), X[0].reshape(8, 8))
    for j in range(5):
        np.testing.assert_allclose(tile(ax, 0, j + 1), path[j].reshape(8, 8))
    np.testing.assert_allclose(tile(ax, 0, 6), X[1].reshape(8, 8))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B"]
    assert "spherical interpolation, 5 decoded points" in ax.get_title()


def test_samples_fill_a_square_grid(vae2, fitted_ae):
    ax = plot_samples(vae2, 10, random_state=0)
    assert ax.images[0].get_array().shape == (3 * 9 - 1, 4 * 9 - 1)  # 3 rows of 4
    samples = vae2.sample(10, random_state=0)
    np.testing.assert_allclose(tile(ax, 0, 1), samples[1].reshape(8, 8), rtol=1e-6)
    np.testing.assert_allclose(tile(ax, 2, 1), samples[9].reshape(8, 8), rtol=1e-6)
    assert np.isnan(tile(ax, 2, 2)).all() and np.isnan(tile(ax, 2, 3)).all()
    assert "10 samples" in ax.get_title()
    with pytest.raises(TypeError, match="no sample method"):
        plot_samples(fitted_ae)


def test_manifold_decodes_a_grid_of_prior_quantiles(vae2, fitted_vae):
    ax = plot_latent_manifold(vae2, 5, quantiles=(0.1, 0.9))
    assert ax.images[0].get_array().shape == (5 * 9 - 1, 5 * 9 - 1)
    values = norm.ppf(np.linspace(0.1, 0.9, 5))
    # Rows run from the largest z2 at the top; columns from the smallest z1.
    corners = {(0, 0): (0, -1), (0, 4): (-1, -1), (4, 0): (0, 0), (2, 3): (3, 2)}
    for (i, j), (a, b) in corners.items():
        decoded = vae2.inverse_transform(np.array([[values[a], values[b]]]))
        np.testing.assert_allclose(tile(ax, i, j), decoded.reshape(8, 8), rtol=1e-5)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("$z_1$", "$z_2$")
    with pytest.raises(ValueError, match="n_components_=4"):
        plot_latent_manifold(fitted_vae)
    with pytest.raises(ValueError, match="quantiles"):
        plot_latent_manifold(vae2, quantiles=(0.0, 0.9))


# ------------------------------------------------------------ training, spectrum


def test_training_curves_of_a_vae_split_reconstruction_and_kl(vae2):
    axes = plot_training_curves(vae2)
    assert len(axes) == 2
    for ax, term in zip(axes, ["reconstruction", "kl"], strict=True):
        train, validation = ax.get_lines()
        np.testing.assert_allclose(train.get_ydata(), [r[term] for r in vae2.history_])
        np.testing.assert_allclose(
            validation.get_ydata(), [r[f"validation_{term}"] for r in vae2.history_]
        )
        assert validation.get_linestyle() == "--"
        # Epochs are counted from 1, as n_iter_ counts them.
        np.testing.assert_array_equal(train.get_xdata(), np.arange(1, vae2.n_iter_ + 1))
        np.testing.assert_array_equal(validation.get_xdata(), train.get_xdata())
    assert "KL" in axes[1].get_title()


def test_training_curves_of_an_autoencoder_and_of_pca(fitted_ae, digits_small):
    (ax,) = plot_training_curves(fitted_ae)
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), fitted_ae.loss_curve_)
    with pytest.raises(TypeError, match="no training history"):
        plot_training_curves(PCAReducer(2).fit(digits_small[0]))
    with pytest.raises(ValueError, match="must hold 1 Axes"):
        plot_training_curves(fitted_ae, axes=plt.subplots(1, 2)[1])


@pytest.mark.parametrize("cls", [PCAReducer, PCA])
def test_scree_draws_each_share_and_their_sum(cls, digits_small):
    X, _ = digits_small
    pca = cls(n_components=20).fit(X)
    ax = plot_scree(pca)
    heights = [bar.get_height() for bar in ax.patches]
    np.testing.assert_allclose(heights, pca.explained_variance_ratio_)
    (twin,) = [other for other in ax.figure.axes if other is not ax]
    np.testing.assert_allclose(
        twin.get_lines()[0].get_ydata(), np.cumsum(pca.explained_variance_ratio_)
    )
    ax = plot_scree(pca, n_components=5)
    assert len(ax.patches) == 5
    (twin,) = [other for other in ax.figure.axes if other is not ax]
    np.testing.assert_allclose(
        twin.get_lines()[0].get_ydata(), np.cumsum(pca.explained_variance_ratio_)[:5]
    )
    with pytest.raises(TypeError, match="explained_variance_ratio_"):
        plot_scree(AutoencoderTransformer(**TINY).fit(X))


# ------------------------------------------------------------------- KL sweep


def check_sweep(axes, weights, X):
    assert axes.shape == (len(weights), 2)
    for row, weight in zip(axes, weights, strict=True):
        assert row[0].get_title() == f"kl_weight={weight:g}: latent space"
        assert len(row[0].collections[0].get_offsets()) == len(X)
        assert len(row[1].images) == 1
        assert "samples from the prior" in row[1].get_title()


def test_kl_sweep_from_a_dict_of_models(vae2, digits_small):
    X, y = digits_small
    other = VAETransformer(n_components=2, kl_weight=0.1, **TINY).fit(X)
    axes = plot_kl_sweep(X, y, models={1.0: vae2, 0.1: other}, n_samples=9)
    check_sweep(axes, [1.0, 0.1], X)
    assert axes[0, 1].images[0].get_array().shape == (3 * 9 - 1, 3 * 9 - 1)
    # The second row draws the second model's codes.
    np.testing.assert_allclose(
        axes[1, 0].collections[0].get_offsets(), other.transform(X), rtol=1e-6
    )


@pytest.mark.parametrize("as_frame", [True, False])
def test_kl_sweep_from_kl_path(as_frame, digits_small):
    X, y = digits_small
    path = kl_path(
        X,
        y,
        kl_weights=[1.0, 1e-3],
        vae=VAETransformer(**TINY),
        return_estimators=True,
        random_state=0,
        as_frame=as_frame,
    )
    check_sweep(plot_kl_sweep(X, y, models=path), [1.0, 1e-3], X)


def test_kl_sweep_fits_the_report_recipe_itself(digits_small, monkeypatch):
    # Without models or vae, each row is the report's recipe (MSE per pixel
    # + weight x KL, i.e. gaussian_variance = n_features / 2) at its weight:
    # the drawn codes are those of that model fitted independently. (A small
    # network and few epochs, set where plotting builds its VAE.)
    monkeypatch.setattr(
        skvae.plotting, "VAETransformer", functools.partial(VAETransformer, **TINY)
    )
    X, y = digits_small[0][:60], digits_small[1][:60]
    weights = [1e-3, 1e-6]
    axes = plot_kl_sweep(X, y, kl_weights=weights, random_state=0)
    check_sweep(axes, weights, X)
    for row, weight in zip(axes, weights, strict=True):
        recipe = VAETransformer(
            n_components=2,
            gaussian_variance=X.shape[1] / 2,
            kl_weight=weight,
            **TINY,
        ).fit(X)
        np.testing.assert_allclose(
            row[0].collections[0].get_offsets(), recipe.transform(X), rtol=1e-6
        )


def test_kl_sweep_rejects_models_it_cannot_draw(fitted_vae, digits_small):
    X, y = digits_small
    with pytest.raises(ValueError, match="2-D latent spaces"):
        plot_kl_sweep(X, y, models={1.0: fitted_vae})
    with pytest.raises(ValueError, match="'estimator' column"):
        plot_kl_sweep(X, y, models=[{"kl_weight": 1.0, "split": 0}])


def test_import_without_matplotlib_names_the_extra():
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "try:\n    import skvae.plotting\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert 'pip install "skvae[plot]"' in out


@pytest.fixture(scope="module")
def detector(digits_small):
    from skvae import NoveltyDetector

    X, y = digits_small
    return NoveltyDetector(PCAReducer(n_components=10)).fit(X[y != 1])


def test_score_distribution_draws_each_group_and_the_threshold(detector, digits_small):
    X, y = digits_small
    ax = plot_score_distribution(detector, X, y == 1, bins=20)
    inliers, outliers = ax.containers
    assert len(inliers) == len(outliers) == 20
    # Normalised: each histogram's bars add up to unit area.
    for bars in (inliers, outliers):
        area = sum(bar.get_height() * bar.get_width() for bar in bars)
        assert area == pytest.approx(1.0)
    (line,) = ax.lines
    assert line.get_xdata()[0] == pytest.approx(detector.offset_)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0].startswith(f"inliers ({np.sum(y != 1)}")
    assert labels[1].startswith(f"outliers ({np.sum(y == 1)}")
    # The rows below the axis's start are counted in its first bin.
    scores = detector.score_samples(X)
    low = np.quantile(scores, 0.01)
    first = inliers[0].get_height() * inliers[0].get_width() * np.sum(y != 1)
    assert first >= np.sum(scores[y != 1] < low)
    ax = plot_score_distribution(detector, X)
    assert len(ax.containers) == 1
    with pytest.raises(ValueError, match="one flag per row"):
        plot_score_distribution(detector, X, y[:5] == 1)


def test_outliers_show_the_lowest_and_highest_scores(detector, digits_small):
    X, _ = digits_small
    ax = plot_outliers(detector, X, n_images=3)
    mosaic = ax.images[0].get_array()
    assert mosaic.shape == (4 * 9 - 1, 3 * 9 - 1)
    order = np.argsort(detector.score_samples(X))
    np.testing.assert_allclose(mosaic[:8, :8], X[order[0]].reshape(8, 8))
    np.testing.assert_allclose(mosaic[18:26, 18:26], X[order[-3]].reshape(8, 8))
    back = detector.estimator_.inverse_transform(detector.estimator_.transform(X))
    np.testing.assert_allclose(mosaic[9:17, :8], back[order[0]].reshape(8, 8))
    from sklearn.ensemble import IsolationForest

    with pytest.raises(TypeError, match="no reconstructions"):
        plot_outliers(IsolationForest(random_state=0).fit(X), X)
