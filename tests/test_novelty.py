"""NoveltyDetector: thresholds, scores against independent references, errors."""

import pickle

import numpy as np
import pytest
import scipy.sparse
import torch
from scipy.spatial.distance import cdist
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skvae._novelty
from skvae import AutoencoderTransformer, NoveltyDetector, PCAReducer, VAETransformer


@pytest.fixture(scope="module")
def plane():
    """Rows near a 2-D plane in 6-D, and test rows with outliers lifted off it."""
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(6, 6)))[0]

    def rows(n, off):
        codes = rng.normal(size=(n, 2)) * [3.0, 2.0]
        return codes @ basis[:2] + 0.05 * rng.normal(size=(n, 6)) + off * basis[2]

    X_test = np.vstack([rows(200, 0.0), rows(20, 1.0)])
    return rows(500, 0.0), X_test, np.r_[np.zeros(200), np.ones(20)]


def _reconstruction_error(pca, X):
    return np.mean((X - pca.inverse_transform(pca.transform(X))) ** 2, axis=1)


def test_density_is_the_estimators_score_samples(plane):
    X, X_test, _ = plane
    detector = NoveltyDetector(PCAReducer(n_components=2), method="density").fit(X)
    reference = PCA(n_components=2).fit(X)
    np.testing.assert_allclose(
        detector.score_samples(X_test), reference.score_samples(X_test), rtol=1e-8
    )


def test_reconstruction_against_scikit_learn(plane, monkeypatch):
    X, X_test, _ = plane
    expected = -_reconstruction_error(PCA(n_components=2).fit(X), X_test)
    detector = NoveltyDetector(PCA(n_components=2), method="reconstruction").fit(X)
    np.testing.assert_allclose(detector.score_samples(X_test), expected, rtol=1e-10)
    # In blocks of rows, the same numbers.
    monkeypatch.setattr(skvae._novelty, "_BLOCK_ROWS", 7)
    np.testing.assert_allclose(detector.score_samples(X_test), expected, rtol=1e-10)


def test_auto_picks_latent_then_density(plane):
    from sklearn.mixture import GaussianMixture

    assert NoveltyDetector(PCA(2)).fit(plane[0]).method_ == "latent"
    # No transform: the density.
    detector = NoveltyDetector(GaussianMixture(random_state=0)).fit(plane[0])
    assert detector.method_ == "density"


@pytest.mark.parametrize("method", ["density", "reconstruction"])
def test_outliers_off_the_plane_are_found(plane, method):
    X, X_test, outlier = plane
    detector = NoveltyDetector(PCAReducer(n_components=2), method=method).fit(X)
    assert roc_auc_score(outlier, -detector.score_samples(X_test)) > 0.99
    # The default threshold flags the lifted rows and few of the others.
    flagged = detector.predict(X_test) == -1
    assert flagged[outlier == 1].mean() > 0.9
    assert flagged[outlier == 0].mean() < 0.05


def test_contamination_sets_the_quantile(plane):
    X = plane[0]
    detector = NoveltyDetector(
        PCAReducer(n_components=2), method="density", contamination=0.1
    ).fit(X)
    scores = detector.estimator_.score_samples(X)
    assert detector.offset_ == pytest.approx(np.percentile(scores, 10))
    assert np.sum(detector.predict(X) == -1) == 50
    np.testing.assert_allclose(
        detector.decision_function(X), scores - detector.offset_, rtol=1e-12
    )


def test_auto_threshold_is_tukeys_fence(plane):
    X = plane[0]
    detector = NoveltyDetector(PCAReducer(n_components=2), method="density").fit(X)
    q1, q3 = np.quantile(detector.estimator_.score_samples(X), [0.25, 0.75])
    assert detector.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))


@pytest.mark.parametrize("n_neighbors", [1, 5])
def test_latent_against_brute_force(plane, n_neighbors):
    X, X_test, _ = plane
    detector = NoveltyDetector(PCAReducer(n_components=2), n_neighbors=n_neighbors)
    detector.fit(X)
    assert detector.method_ == "latent"
    codes = PCA(n_components=2).fit(X)
    train, test = codes.transform(X), codes.transform(X_test)

    def nearest(distances):
        return np.sort(distances, axis=1)[:, :n_neighbors].mean(axis=1)

    np.testing.assert_allclose(
        detector.score_samples(X_test), -nearest(cdist(test, train)), rtol=1e-8
    )
    # A training row is not its own neighbour.
    within = cdist(train, train)
    np.fill_diagonal(within, np.inf)
    q1, q3 = np.quantile(-nearest(within), [0.25, 0.75])
    assert detector.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1), rel=1e-8)


def test_training_rows_score_as_when_the_threshold_was_set(plane):
    X = plane[0]
    detector = NoveltyDetector(PCAReducer(n_components=2), contamination=0.1).fit(X)
    codes = detector.estimator_.transform(X)
    within = cdist(codes, codes)
    np.fill_diagonal(within, np.inf)
    leave_one_out = -np.sort(within, axis=1)[:, :5].mean(axis=1)
    np.testing.assert_allclose(detector.score_samples(X), leave_one_out, rtol=1e-8)
    assert np.sum(detector.predict(X) == -1) == 50
    # A copy of a training row scores as that row.
    np.testing.assert_allclose(
        detector.score_samples(X[[7, 7]]), leave_one_out[[7, 7]], rtol=1e-8
    )


def test_default_detector_is_a_seeded_autoencoder(digits_small):
    X, y = digits_small
    a = NoveltyDetector(random_state=0).fit(X[y != 0])
    assert isinstance(a.estimator_, AutoencoderTransformer)
    assert a.estimator_.n_components == 16 and a.method_ == "latent"
    b = NoveltyDetector(random_state=0).fit(X[y != 0])
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    # The unseen digit is found.
    assert roc_auc_score(y == 0, -a.score_samples(X)) > 0.95


def test_latent_needs_more_rows_than_neighbours(plane):
    with pytest.raises(ValueError, match="n_neighbors=5; X has 5 samples"):
        NoveltyDetector(PCAReducer(n_components=2)).fit(plane[0][:5])


def test_callable_method(plane):
    X, X_test, _ = plane

    def distance_to_mean(estimator, X):
        return -np.linalg.norm(estimator.transform(X), axis=1)

    detector = NoveltyDetector(PCAReducer(n_components=2), method=distance_to_mean)
    detector.fit(X)
    np.testing.assert_allclose(
        detector.score_samples(X_test),
        distance_to_mean(detector.estimator_, X_test),
    )


def test_default_estimator_is_cloned_not_fitted(plane):
    estimator = PCAReducer(n_components=2)
    NoveltyDetector(estimator).fit(plane[0])
    assert not hasattr(estimator, "components_")


def test_neural_reducers_score_reproducibly(digits_small):
    X, y = digits_small
    for reducer in (
        AutoencoderTransformer(n_components=4, max_iter=3, random_state=0),
        VAETransformer(n_components=4, max_iter=3, random_state=0),
    ):
        for method in ("latent", "density"):
            a = NoveltyDetector(reducer, method=method).fit(X[y != 0])
            b = NoveltyDetector(reducer, method=method).fit(X[y != 0])
            np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
            assert a.offset_ == b.offset_
        np.testing.assert_array_equal(a.score_samples(X), a.estimator_.score_samples(X))


def test_inputs_pandas_sparse_tensor_pipeline(plane):
    pd = pytest.importorskip("pandas")
    X, X_test, _ = plane
    columns = [f"f{i}" for i in range(X.shape[1])]
    for method in ("density", "reconstruction"):
        reference = NoveltyDetector(PCAReducer(n_components=2), method=method).fit(X)
        expected = reference.score_samples(X_test)
        frame = NoveltyDetector(PCAReducer(n_components=2), method=method)
        frame.fit(pd.DataFrame(X, columns=columns))
        assert list(frame.feature_names_in_) == columns
        np.testing.assert_allclose(
            frame.score_samples(pd.DataFrame(X_test, columns=columns)), expected
        )
        np.testing.assert_allclose(
            reference.score_samples(scipy.sparse.csr_matrix(X_test)), expected
        )
        np.testing.assert_allclose(
            reference.score_samples(torch.from_numpy(X_test)), expected
        )
    pipe = make_pipeline(StandardScaler(), NoveltyDetector(PCAReducer(n_components=2)))
    assert set(np.unique(pipe.fit(X).predict(X_test))) <= {-1, 1}


def test_pickle_round_trip(plane):
    X, X_test, _ = plane
    detector = NoveltyDetector(PCAReducer(n_components=2)).fit(X)
    loaded = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(
        loaded.decision_function(X_test), detector.decision_function(X_test)
    )


def test_errors_name_the_problem(plane):
    X, X_test, _ = plane
    with pytest.raises(NotFittedError):
        NoveltyDetector().predict(X)
    with pytest.raises(ValueError, match="needs an estimator with score_samples"):
        NoveltyDetector(StandardScaler(), method="density").fit(X)
    with pytest.raises(ValueError, match="NaN or infinite scores for 50 of 500"):
        NoveltyDetector(
            PCAReducer(n_components=2),
            method=lambda e, X: np.where(np.arange(len(X)) % 10, 0.0, np.nan),
        ).fit(X)
    with pytest.raises(ValueError, match="one number per row"):
        NoveltyDetector(PCAReducer(n_components=2), method=lambda e, X: [0.0]).fit(X)
    with pytest.raises(ValueError, match="contamination"):
        NoveltyDetector(contamination=0.9).fit(X)
    detector = NoveltyDetector(PCAReducer(n_components=2)).fit(X)
    with pytest.raises(ValueError, match="6 features"):
        detector.predict(X_test[:, :4])
    bad = X.copy()
    bad[3, 2] = np.nan
    before = dict(detector.__dict__)
    with pytest.raises(ValueError, match="NaN"):
        detector.fit(bad)
    assert detector.__dict__.keys() == before.keys()
    assert all(detector.__dict__[k] is v for k, v in before.items())


def test_pca_score_samples_accepts_sparse(plane):
    X = plane[0]
    pca = PCAReducer(n_components=2).fit(X)
    for fmt in ("csr", "csc"):
        sparse = scipy.sparse.random(30, 6, density=0.3, format=fmt, random_state=0)
        np.testing.assert_allclose(
            pca.score_samples(sparse), pca.score_samples(sparse.toarray())
        )
