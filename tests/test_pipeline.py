"""The reducers inside scikit-learn: pipelines, clone, pickle, grid searches."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from skvae import AutoencoderTransformer, VAETransformer

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore::skvae.PosteriorCollapseWarning"),
]

SMALL = dict(hidden_layer_sizes=(32,), max_iter=8, random_state=0)


def test_vae_knn_pipeline(digits_small):
    X, y = digits_small
    pipe = Pipeline(
        [
            ("vae", VAETransformer(n_components=8, likelihood="bernoulli", **SMALL)),
            ("knn", KNeighborsClassifier()),
        ]
    )
    pipe.fit(X[:300], y[:300])
    assert pipe.score(X[300:], y[300:]) > 0.5  # chance is 0.1


def test_autoencoder_after_a_scaler(digits_small):
    X, y = digits_small
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("ae", AutoencoderTransformer(n_components=8, **SMALL)),
            ("knn", KNeighborsClassifier()),
        ]
    ).fit(X, y)
    assert pipe.score(X, y) > 0.5


@pytest.mark.parametrize(
    "est", [AutoencoderTransformer(**SMALL), VAETransformer(kl_weight=0.5, **SMALL)]
)
def test_clone_and_pickle(est, digits_small):
    X, _ = digits_small
    cloned = clone(est)
    assert cloned.get_params() == est.get_params()
    assert not hasattr(cloned, "module_")
    fitted = cloned.fit(X)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(
        restored.inverse_transform(restored.transform(X[:5])),
        fitted.inverse_transform(fitted.transform(X[:5])),
    )
    assert restored.score(X) == fitted.score(X)


def test_grid_search_supervised_over_kl_weight(digits_small):
    X, y = digits_small
    pipe = Pipeline(
        [
            ("vae", VAETransformer(n_components=4, likelihood="bernoulli", **SMALL)),
            ("knn", KNeighborsClassifier()),
        ]
    )
    search = GridSearchCV(pipe, {"vae__kl_weight": [8e-4, 5e-5, 1e-8]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["vae__kl_weight"] in (8e-4, 5e-5, 1e-8)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_grid_search_unsupervised_via_the_elbo(digits_small):
    X, _ = digits_small
    search = GridSearchCV(
        VAETransformer(n_components=4, likelihood="bernoulli", **SMALL),
        {"kl_weight": [0.1, 1.0, 4.0]},
        cv=2,
    ).fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and (scores < 0).all()  # ELBOs in nats
    # Held-out ELBO at KL weight 1 favours training with the true ELBO over a
    # heavily over-weighted KL.
    assert scores[1] > scores[2]


def test_set_output_pandas(digits_small):
    pd = pytest.importorskip("pandas")
    X, _ = digits_small
    vae = VAETransformer(n_components=3, **SMALL).set_output(transform="pandas")
    Z = vae.fit_transform(pd.DataFrame(X, columns=[f"px{i}" for i in range(64)]))
    assert list(Z.columns) == ["vaetransformer0", "vaetransformer1", "vaetransformer2"]
