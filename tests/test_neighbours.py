"""NeighborEmbedding: UMAP's graph and loss against references, and the reducer."""

import math
import pickle

import numpy as np
import pytest
import scipy.optimize
import torch
from sklearn import config_context
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import Pipeline

import skvae.io
from skvae import FitInterruptedWarning, NeighborEmbedding
from skvae._losses import GRAPH_EPSILON, fuzzy_cross_entropy
from skvae._neighbours import _EdgeStream, curve_parameters, fuzzy_neighbor_graph

# ------------------------------------------------------------------ the graph


@pytest.mark.parametrize("min_dist", [0.0, 0.1, 0.5])
def test_curve_parameters_are_umaps(min_dist):
    umap = pytest.importorskip("umap.umap_")
    a, b = curve_parameters(min_dist)
    np.testing.assert_allclose((a, b), umap.find_ab_params(1.0, min_dist), rtol=1e-5)


def test_curve_is_near_one_below_min_dist_and_decays_beyond():
    a, b = curve_parameters(0.1)
    q = 1.0 / (1.0 + a * np.array([0.05, 0.1, 1.0, 3.0]) ** (2 * b))
    assert q[0] > 0.95 and q[1] > 0.9
    np.testing.assert_allclose(q[2:], np.exp(-(np.array([1.0, 3.0]) - 0.1)), atol=0.05)


@pytest.fixture(scope="module")
def points():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(c, 1.0, size=(60, 5)) for c in (0.0, 6.0)])
    X[7] = X[3]  # a duplicate: a neighbour at distance 0
    return X


def _directed_weights(X, k):
    """Each row's weights to its k - 1 nearest others, sigma found by brentq."""
    dist, ind = NearestNeighbors(n_neighbors=k - 1).fit(X).kneighbors()
    rho = np.array([d[d > 0].min() if (d > 0).any() else 0.0 for d in dist])
    W = np.zeros((len(X), len(X)))
    for i, (d, j) in enumerate(zip(dist, ind, strict=True)):

        def excess(sigma, d=d, r=rho[i]):
            return np.exp(-np.maximum(d - r, 0) / sigma).sum() - math.log2(k)

        sigma = scipy.optimize.brentq(excess, 1e-6, 1e3, xtol=1e-12)
        W[i, j] = np.exp(-np.maximum(d - rho[i], 0) / sigma)
    return W


@pytest.mark.parametrize("k", [2, 5, 15])
def test_graph_is_the_fuzzy_union_of_the_smoothed_neighbourhoods(points, k):
    W = _directed_weights(points, k)
    expected = W + W.T - W * W.T
    graph = fuzzy_neighbor_graph(points, k).toarray()
    np.testing.assert_allclose(graph, expected, atol=1e-4)
    np.testing.assert_array_equal(np.diag(graph), 0.0)
    assert graph.max() <= 1.0 and np.array_equal(graph, graph.T)


def test_graph_is_umaps(points):
    umap = pytest.importorskip("umap.umap_")
    k = 15
    # UMAP's neighbours include the row itself, first.
    dist, ind = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(points)
    for i in range(len(points)):  # the duplicate may come before the row itself
        if ind[i, 0] != i:
            j = list(ind[i]).index(i)
            ind[i, [0, j]], dist[i, [0, j]] = ind[i, [j, 0]], dist[i, [j, 0]]
    reference, _, _ = umap.fuzzy_simplicial_set(
        points, k, 0, "euclidean", knn_indices=ind, knn_dists=dist.astype(np.float32)
    )
    graph = fuzzy_neighbor_graph(points, k)
    np.testing.assert_allclose(graph.toarray(), reference.toarray(), atol=1e-5)


def test_graph_of_few_rows_clips_the_neighbours():
    graph = fuzzy_neighbor_graph(np.array([[0.0], [1.0], [3.0]]), 15)
    assert graph.shape == (3, 3) and graph.nnz == 6


def test_fuzzy_cross_entropy_is_the_log_probabilities(points):
    rng = np.random.RandomState(1)
    head, tail = rng.normal(size=(2, 8, 2))
    negative = rng.normal(size=(8, 3, 2))
    a, b = 1.6, 0.9

    def q(d2):
        return 1.0 / (1.0 + a * (d2 + GRAPH_EPSILON) ** b)

    d2 = ((head - tail) ** 2).sum(-1)
    d2n = ((head[:, None] - negative) ** 2).sum(-1)
    attraction, repulsion = fuzzy_cross_entropy(
        *(torch.as_tensor(v) for v in (head, tail, negative)), a, b
    )
    np.testing.assert_allclose(attraction, np.mean(-np.log(q(d2))), rtol=1e-10)
    np.testing.assert_allclose(
        repulsion, np.mean(-np.log(1 - q(d2n)).sum(1)), rtol=1e-10
    )
    # Coinciding codes repel finitely.
    zero = torch.zeros(1, 2)
    assert torch.isfinite(fuzzy_cross_entropy(zero, zero, zero[None], a, b)[1])


def test_edges_are_drawn_in_proportion_to_their_weights(points):
    graph = fuzzy_neighbor_graph(points, 5)
    rows = torch.arange(len(points), dtype=torch.float32)[:, None]
    stream = _EdgeStream(rows, graph, chunk=1000)
    assert stream.shape == (round(graph.sum()), 2)
    counts = np.zeros(graph.shape)
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        for buffer in stream.buffers(generator):
            np.add.at(counts, tuple(buffer.long().numpy().T), 1)
    expected = graph.toarray() / graph.sum() * counts.sum()
    coo = graph.tocoo()
    assert counts[graph.toarray() == 0].sum() == 0
    chi2 = ((counts[coo.row, coo.col] - expected[coo.row, coo.col]) ** 2) / expected[
        coo.row, coo.col
    ]
    # Pearson's statistic against its degrees of freedom (mean nnz - 1).
    assert chi2.sum() < coo.nnz * 1.2
    again = [b.clone() for b in stream.buffers(torch.Generator().manual_seed(0))]
    first = list(stream.buffers(torch.Generator().manual_seed(0)))
    assert all(torch.equal(x, y) for x, y in zip(again, first, strict=True))


def test_edge_rows_carry_the_noise_asked_for(points):
    graph = fuzzy_neighbor_graph(points, 5)
    rows = torch.as_tensor(points, dtype=torch.float32)
    clean = _EdgeStream(rows, graph)
    noisy = _EdgeStream(rows, graph, noise=0.5)
    generator = torch.Generator().manual_seed(0)
    a = torch.cat(list(clean.buffers(generator.clone_state())))
    b = torch.cat(list(noisy.buffers(generator.clone_state())))
    # The same edges, drawn first; then independent noise on every number.
    difference = (b - a).numpy().ravel()
    assert abs(difference.mean()) < 0.05
    assert difference.std() == pytest.approx(0.5, rel=0.05)


def test_noise_scales_with_the_neighbourhood_radius(points):
    _, radius = fuzzy_neighbor_graph(points, 5, return_radius=True)
    _, scaled = fuzzy_neighbor_graph(points * 3.0, 5, return_radius=True)
    dist, _ = NearestNeighbors(n_neighbors=4).fit(points).kneighbors()
    assert radius == pytest.approx(dist[:, -1].mean())
    assert scaled == pytest.approx(3.0 * radius)


# ------------------------------------------------------------ the reducer


@pytest.fixture(scope="module")
def split(digits):
    X, y = digits
    return X[:1300], X[1300:], y[:1300], y[1300:]


@pytest.fixture(scope="module")
def fitted(split):
    X, *_ = split
    return NeighborEmbedding(max_iter=60, random_state=0).fit(X)


def _knn(Z_train, y_train, Z_test, y_test):
    return KNeighborsClassifier(5).fit(Z_train, y_train).score(Z_test, y_test)


def test_codes_keep_neighbours_better_than_pca(fitted, split):
    X, Xt, y, yt = split
    pca = PCA(2).fit(X)
    ours = _knn(fitted.transform(X), y, fitted.transform(Xt), yt)
    linear = _knn(pca.transform(X), y, pca.transform(Xt), yt)
    assert ours > linear + 0.2 and ours > 0.8
    assert trustworthiness(Xt, fitted.transform(Xt), n_neighbors=10) > trustworthiness(
        Xt, pca.transform(Xt), n_neighbors=10
    )


def test_networks_work_on_the_principal_axes(fitted, split):
    X, *_ = split
    basis = fitted.module_.basis.numpy().astype(np.float64)
    assert basis.shape == (50, 64)
    reference = PCA(50).fit(X).components_
    # The same subspace: the projections onto it agree.
    np.testing.assert_allclose(basis.T @ basis, reference.T @ reference, atol=1e-4)
    assert fitted._architecture["input_shape"] == (50,)
    # Fewer features than components: nothing to project.
    small = NeighborEmbedding(max_iter=1, pca_components=70, random_state=0).fit(X)
    assert small.module_.basis is None


def test_score_samples_is_the_gaussian_of_the_reconstruction(fitted, split):
    _, Xt, *_ = split
    R = fitted.inverse_transform(fitted.transform(Xt))
    var = fitted.noise_variance_
    expected = -0.5 * (
        ((Xt - R) ** 2).sum(1) / var + Xt.shape[1] * np.log(2 * np.pi * var)
    )
    np.testing.assert_allclose(fitted.score_samples(Xt), expected, rtol=1e-4, atol=1e-4)
    assert fitted.score(Xt) == pytest.approx(expected.mean(), rel=1e-4)


def test_reconstruction_weight_trades_neighbours_for_reconstruction(fitted, split):
    X, Xt, *_ = split

    def r2(est):
        R = est.inverse_transform(est.transform(Xt))
        return 1 - ((R - Xt) ** 2).sum() / ((Xt - Xt.mean(0)) ** 2).sum()

    weighted = NeighborEmbedding(max_iter=60, reconstruction_weight=1.0, random_state=0)
    assert r2(weighted.fit(X)) > r2(fitted) > 0.1


def test_same_seed_same_codes_other_seed_other_codes(split):
    X, *_ = split
    kwargs = dict(max_iter=2, random_state=3)
    a = NeighborEmbedding(**kwargs).fit(X).transform(X)
    b = NeighborEmbedding(**kwargs).fit(X).transform(X)
    c = NeighborEmbedding(max_iter=2, random_state=4).fit(X).transform(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_from_a_memmap_equals_in_memory(split, tmp_path):
    X, *_ = split
    path = tmp_path / "X.npy"
    np.save(path, X)
    memmap = np.load(path, mmap_mode="r")
    kwargs = dict(max_iter=2, random_state=0)
    with config_context(working_memory=0.05):
        lazy = NeighborEmbedding(**kwargs).fit(memmap)
        Z_lazy = lazy.transform(memmap)
    eager = NeighborEmbedding(**kwargs).fit(X)
    np.testing.assert_allclose(Z_lazy, eager.transform(X), rtol=1e-4, atol=1e-5)


def test_save_load_and_pickle_give_the_same_codes(fitted, split, tmp_path):
    _, Xt, *_ = split
    path = tmp_path / "emb.skvae"
    skvae.io.save(fitted, path)
    loaded = skvae.io.load(path)
    np.testing.assert_array_equal(loaded.transform(Xt), fitted.transform(Xt))
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(fitted)).inverse_transform(fitted.transform(Xt)),
        fitted.inverse_transform(fitted.transform(Xt)),
    )


def test_in_a_pipeline_with_knn(split):
    X, Xt, y, yt = split
    pipe = Pipeline(
        [
            ("emb", NeighborEmbedding(max_iter=20, random_state=0)),
            ("knn", KNeighborsClassifier()),
        ]
    )
    assert pipe.fit(X, y).score(Xt, yt) > 0.6


def test_warm_start_continues_the_fit(split):
    X, *_ = split
    est = NeighborEmbedding(max_iter=2, warm_start=True, random_state=0).fit(X)
    first = est.module_
    est.fit(X)
    assert est.n_iter_ == 4 and est.module_ is not first


@pytest.mark.parametrize(
    "kwargs, X, match",
    [
        ({}, np.ones((1, 3)), "at least 2 samples"),
        (
            {"image_shape": (1, 8, 8), "pca_components": 10},
            np.random.RandomState(0).rand(20, 64),
            "pca_components=None",
        ),
        ({"n_neighbors": 1}, np.random.RandomState(0).rand(20, 3), "n_neighbors"),
        ({}, np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN"),
    ],
)
def test_bad_input_is_refused_with_a_message(kwargs, X, match):
    est = NeighborEmbedding(max_iter=1, **kwargs)
    with pytest.raises(ValueError, match=match):
        est.fit(X)
    assert not hasattr(est, "module_")


def test_a_failed_refit_leaves_the_fitted_estimator(split):
    X, *_ = split
    est = NeighborEmbedding(max_iter=1, random_state=0).fit(X)
    before = est.transform(X[:5])
    with pytest.raises(ValueError):
        est.fit(np.full((5, 64), np.nan))
    np.testing.assert_array_equal(est.transform(X[:5]), before)


def test_image_networks_take_the_rows_as_images(split):
    X, *_ = split
    est = NeighborEmbedding(
        max_iter=1,
        encoder="conv",
        decoder="conv",
        image_shape=(1, 8, 8),
        encoder__channels=(4,),
        decoder__channels=(4,),
        random_state=0,
    ).fit(X)
    assert est.module_.basis is None
    assert est._architecture["input_shape"] == (1, 8, 8)
    assert est.transform(X[:3]).shape == (3, 2)


def test_fewer_rows_than_principal_axes_leave_the_rest_of_the_basis_zero():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 100))
    est = NeighborEmbedding(max_iter=1, n_neighbors=5, random_state=0).fit(X)
    basis = est.module_.basis.numpy()
    assert basis.shape == (50, 100)
    np.testing.assert_array_equal(basis[30:], 0.0)
    np.testing.assert_allclose(basis[:30] @ basis[:30].T, np.eye(30), atol=1e-5)
    assert est.transform(X).shape == (30, 2)


def test_skops_round_trip(fitted, split, tmp_path):
    sio = pytest.importorskip("skops.io")
    _, Xt, *_ = split
    path = tmp_path / "emb.skops"
    sio.dump(fitted, path)
    loaded = sio.load(path, trusted=skvae.io.SKOPS_TRUSTED_TYPES)
    np.testing.assert_array_equal(loaded.transform(Xt), fitted.transform(Xt))


def test_compare_reducers_and_the_latent_scatter_take_it(fitted, split):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skvae.benchmark import compare_reducers
    from skvae.plotting import plot_latent_space

    X, Xt, y, yt = split
    table = compare_reducers(
        X,
        y,
        X_test=Xt,
        y_test=yt,
        reducers={"neighbours": NeighborEmbedding(max_iter=2, random_state=0)},
        n_components=(2,),
        as_frame=False,
    )
    assert {r["reducer"] for r in table} == {"neighbours"}
    assert all(0.0 <= r["score"] <= 1.0 for r in table)
    ax = plot_latent_space(fitted, Xt, yt)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), fitted.transform(Xt))


def test_an_interrupt_keeps_the_complete_epochs(split):
    X, *_ = split

    def interrupt(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    est = NeighborEmbedding(max_iter=5, callbacks=[interrupt], random_state=0)
    with pytest.warns(FitInterruptedWarning), pytest.raises(KeyboardInterrupt):
        est.fit(X)
    assert est.n_iter_ == 2 and est.transform(X[:3]).shape == (3, 2)
    assert set(est.history_[0]) >= {"attraction", "repulsion", "reconstruction"}


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_each_precision_trains(split, precision):
    X, Xt, y, yt = split
    est = NeighborEmbedding(max_iter=20, precision=precision, random_state=0).fit(X)
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert _knn(est.transform(X), y, est.transform(Xt), yt) > 0.5
