"""Dask: block-wise training, transforms of dask arrays, and a cluster as
joblib's backend (the recipes of docs/distributed.rst).

Every test compares with the same computation done in memory without Dask,
with the same seeds: the results must be equal, not merely close (to the
last bit, apart from BLAS rounding in one table; see below).
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from skvae import AutoencoderTransformer, PCAReducer, VAETransformer
from skvae.benchmark import compare_reducers

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")
joblib = pytest.importorskip("joblib")

pytestmark = pytest.mark.filterwarnings("ignore::skvae.PosteriorCollapseWarning")

N_ROWS, BLOCK, K = 400, 100, 3
NEURAL = {"hidden_layer_sizes": (16,), "max_iter": 2, "random_state": 0}
REDUCERS = {
    "PCA": PCAReducer(n_components=K),
    "autoencoder": AutoencoderTransformer(n_components=K, **NEURAL),
    "VAE": VAETransformer(n_components=K, **NEURAL),
    # The built-in convolutional networks, on the 8x8 images.
    "conv VAE": VAETransformer(
        n_components=K,
        encoder="conv",
        decoder="conv",
        image_shape=(1, 8, 8),
        encoder__channels=(4,),
        decoder__channels=(4,),
        encoder__hidden_size=8,
        decoder__hidden_size=8,
        max_iter=2,
        random_state=0,
    ),
}
# Columns of compare_reducers' table that hold measured times.
TIMINGS = ["fit_seconds", "transform_seconds", "estimator_seconds"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread per task, as a worker's nanny sets by default
    (docs/distributed.rst), so that the cluster's fits and the local ones
    round alike whatever OMP_NUM_THREADS the test run has."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data(digits_small):
    X, y = digits_small
    return X[:N_ROWS], y[:N_ROWS]


@pytest.fixture(scope="module")
def dX(data):
    """The rows in blocks of ``BLOCK``, all the columns in each block, as
    ``Incremental`` needs."""
    return da.from_array(data[0], chunks=(BLOCK, -1))


@pytest.fixture(scope="module")
def client():
    """A two-worker cluster in this process: no worker processes to start
    (each would import torch), and the workers share the process's thread
    settings, so their arithmetic is the local one."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _blockwise(estimator, X):
    """``estimator`` after one ``partial_fit`` per block of ``BLOCK`` rows."""
    for start in range(0, len(X), BLOCK):
        estimator.partial_fit(X[start : start + BLOCK])
    return estimator


@pytest.mark.parametrize("name", REDUCERS)
def test_incremental_calls_partial_fit_per_block(name, data, dX):
    X, _ = data
    incremental = wrappers.Incremental(REDUCERS[name], shuffle_blocks=False).fit(dX)
    fitted = incremental.estimator_

    assert fitted is not REDUCERS[name]
    assert fitted.n_features_in_ == X.shape[1]
    Z = fitted.transform(X)
    assert Z.shape == (N_ROWS, K)
    assert np.isfinite(Z).all()
    manual = _blockwise(clone(REDUCERS[name]), X)
    np.testing.assert_array_equal(Z, manual.transform(X))
    if name != "PCA":
        # One epoch per block.
        assert fitted.n_iter_ == manual.n_iter_ == N_ROWS // BLOCK


def test_incremental_pca_equals_the_in_memory_fit(data, dX):
    X, _ = data
    blockwise = wrappers.Incremental(PCAReducer(n_components=K)).fit(dX).estimator_
    full = PCAReducer(n_components=K).fit(X)

    assert blockwise.n_samples_ == full.n_samples_ == N_ROWS
    for attribute in (
        "mean_",
        "components_",
        "explained_variance_",
        "singular_values_",
    ):
        np.testing.assert_allclose(
            getattr(blockwise, attribute), getattr(full, attribute), atol=1e-10
        )
    np.testing.assert_allclose(blockwise.transform(X), full.transform(X), atol=1e-10)


@pytest.mark.parametrize("name", REDUCERS)
def test_blockwise_transform_equals_in_memory(name, data, dX):
    X, _ = data
    fitted = clone(REDUCERS[name]).fit(X)
    expected = fitted.transform(X)

    lazy = dX.map_blocks(
        fitted.transform, chunks=(dX.chunks[0], (K,)), dtype=expected.dtype
    )
    assert lazy.shape == (N_ROWS, K)
    np.testing.assert_array_equal(lazy.compute(), expected)

    # ParallelPostFit wraps the fitted estimator as it is; its lazy result
    # has the input's column chunks, so only the computed array is checked.
    computed = wrappers.ParallelPostFit(fitted).transform(dX).compute()
    np.testing.assert_array_equal(computed, expected)

    # Decoding, block by block, too.
    X_back = fitted.inverse_transform(expected)
    decoded = lazy.map_blocks(
        fitted.inverse_transform, chunks=dX.chunks, dtype=X_back.dtype
    )
    np.testing.assert_array_equal(decoded.compute(), X_back)


def _searches(X, y):
    """The unsupervised and the supervised grid search of the quick start."""
    vae = VAETransformer(n_components=2, **NEURAL)
    by_elbo = GridSearchCV(vae, {"kl_weight": [0.1, 1.0]}, cv=2).fit(X)
    pipe = Pipeline([("vae", vae), ("knn", KNeighborsClassifier())])
    by_knn = GridSearchCV(pipe, {"vae__kl_weight": [0.1, 1.0]}, cv=2).fit(X, y)
    return by_elbo, by_knn


def test_grid_search_on_a_cluster_equals_the_local_one(data, client):
    X, y = data
    local = _searches(X, y)
    with distributed.get_task_stream(client) as tasks:
        with joblib.parallel_backend("dask"):
            remote = _searches(X, y)

    assert tasks.data, "no task ran on the cluster"
    for here, there in zip(local, remote, strict=True):
        scores = here.cv_results_["mean_test_score"]
        assert np.isfinite(scores).all()
        np.testing.assert_array_equal(there.cv_results_["mean_test_score"], scores)
        assert there.best_params_ == here.best_params_


def test_compare_reducers_on_a_cluster_equals_the_local_run(data, client):
    pd = pytest.importorskip("pandas")
    X, y = data
    kwargs = {"reducers": REDUCERS, "n_components": [2], "cv": 2, "random_state": 0}
    local = compare_reducers(X, y, **kwargs)
    with distributed.get_task_stream(client) as tasks:
        with joblib.parallel_backend("dask"):
            remote = compare_reducers(X, y, n_jobs=2, **kwargs)

    assert tasks.data, "no task ran on the cluster"
    # Each reducer x 2 splits x 2 estimators.
    assert len(remote) == len(REDUCERS) * 2 * 2
    assert remote["score"].notna().all()
    # Equal to the last bit but one: PCA's reconstruction R^2 goes through
    # BLAS products whose rounding may differ by an ulp from one thread (and
    # buffer alignment) to another; measured in CI, 2.2e-16. Different seeds
    # or splits would differ by 1e-2 and more.
    pd.testing.assert_frame_equal(
        remote.drop(columns=TIMINGS),
        local.drop(columns=TIMINGS),
        check_exact=False,
        rtol=1e-12,
        atol=0,
    )


def test_incremental_on_a_cluster_equals_the_local_loop(data, dX, client):
    X, _ = data
    vae = REDUCERS["VAE"]
    fitted = wrappers.Incremental(vae, shuffle_blocks=False).fit(dX).estimator_
    np.testing.assert_array_equal(
        fitted.transform(X), _blockwise(clone(vae), X).transform(X)
    )
