"""NeighborEmbedding: an autoencoder whose codes keep the data's neighbourhoods.

The codes are trained on UMAP's loss (McInnes, Healy & Melville, 2018), as
Parametric UMAP does (Sainburg, McInnes & Gentner, 2021): the k nearest
neighbours of every row, found by scikit-learn's ``NearestNeighbors``, become
a weighted graph (UMAP's fuzzy simplicial set), and the encoder is trained so
that codes joined by an edge are close and codes of random pairs are not.
A decoder learns to invert the codes, so that ``inverse_transform`` works;
``reconstruction_weight`` lets its error shape the codes too.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import scipy.optimize
import scipy.sparse
import torch
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import Interval, StrOptions

from . import _losses, _state
from ._data import LazyRows, to_tensor
from ._modules import ProjectedAutoencoder, recipe_name
from ._neural import (
    _COMMON_CONSTRAINTS,
    _DOCS,
    Constraints,
    _NeuralReducer,
    _read_buffers,
    fill_doc,
)
from ._pca import PCAReducer

# ------------------------------------------------------------------ the graph


def curve_parameters(min_dist, spread=1.0):
    """``(a, b)`` of UMAP's curve ``q(d) = 1 / (1 + a d^(2b))`` for ``min_dist``.

    The least-squares fit, on 300 points of ``[0, 3 spread]``, of the curve
    to 1 below ``min_dist`` and ``exp(-(d - min_dist) / spread)`` beyond:
    codes closer than ``min_dist`` count as neighbours for sure. This is how
    UMAP chooses them; ``min_dist=0.1`` gives a = 1.577, b = 0.895.
    """
    d = np.linspace(0.0, 3.0 * spread, 300)
    target = np.where(d < min_dist, 1.0, np.exp(-(d - min_dist) / spread))

    def curve(d, a, b):
        return 1.0 / (1.0 + a * d ** (2.0 * b))

    (a, b), _ = scipy.optimize.curve_fit(curve, d, target)
    return float(a), float(b)


def fuzzy_neighbor_graph(X, n_neighbors, *, return_radius=False):
    """UMAP's fuzzy graph of the rows of ``X``: a symmetric sparse matrix.

    Each row's ``n_neighbors - 1`` nearest other rows (the row itself counts
    as the first of its ``n_neighbors``, as in UMAP) are found by
    :class:`sklearn.neighbors.NearestNeighbors`. A row's edge to a neighbour
    at distance ``d`` has weight ``exp(-(d - rho) / sigma)``, where ``rho``
    is the distance to its nearest distinct neighbour and ``sigma`` makes
    the weights sum to ``log2(n_neighbors)`` (UMAP's ``smooth_knn_dist``:
    the same bisection, tolerance and floor of ``sigma``). Directed weights
    ``W`` are made symmetric as fuzzy sets unite: ``W + W.T - W * W.T``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_neighbors : int
        At least 2; clipped to ``n_samples``.
    return_radius : bool, default=False
        Also return the mean distance from a row to the farthest of its
        neighbours.

    Returns
    -------
    graph : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        Weights in (0, 1], no self-loops.
    radius : float
        With ``return_radius``.
    """
    n = X.shape[0]
    k = min(n_neighbors, n) - 1  # neighbours other than the row itself
    # kneighbors() without X leaves each row out of its own neighbours.
    dist, ind = NearestNeighbors(n_neighbors=k).fit(X).kneighbors()
    dist = dist.astype(np.float64)
    sigma, rho = _smooth_distances(dist, math.log2(k + 1))
    weights = np.exp(-np.maximum(dist - rho[:, None], 0.0) / sigma[:, None])
    rows = np.repeat(np.arange(n), k)
    W = scipy.sparse.csr_matrix((weights.ravel(), (rows, ind.ravel())), shape=(n, n))
    product = W.multiply(W.T)
    graph = (W + W.T - product).tocsr()
    graph.eliminate_zeros()
    if return_radius:
        return graph, float(np.mean(dist[:, -1]))
    return graph


def _smooth_distances(dist, target, n_iter=64, tol=1e-5):
    """``(sigma, rho)`` per row of ``dist`` (its distances to its neighbours).

    UMAP's ``smooth_knn_dist`` with one nearest neighbour assumed connected,
    done for all rows at once: a bisection (doubling while unbounded) on
    ``sigma`` until ``sum exp(-max(d - rho, 0) / sigma)`` is within ``tol``
    of ``target``, then ``sigma`` floored at 1e-3 of the row's mean
    distance (of all rows' where ``rho`` is 0).
    """
    n = dist.shape[0]
    positive = np.where(dist > 0, dist, np.inf)
    rho = positive.min(axis=1)
    rho[~np.isfinite(rho)] = 0.0
    excess = dist - rho[:, None]
    lo, hi, mid = np.zeros(n), np.full(n, np.inf), np.ones(n)
    active = np.ones(n, dtype=bool)
    for _ in range(n_iter):
        if not active.any():
            break
        m = mid[active, None]
        total = np.where(excess[active] > 0, np.exp(-excess[active] / m), 1.0).sum(1)
        converged = np.abs(total - target) < tol
        over = (total > target) & ~converged
        under = ~over & ~converged
        idx = np.flatnonzero(active)
        hi[idx[over]] = mid[idx[over]]
        lo[idx[under]] = mid[idx[under]]
        bounded = np.isfinite(hi[idx])
        step = idx[~converged]
        mid[step] = np.where(
            bounded[~converged], (lo[step] + hi[step]) / 2.0, mid[step] * 2.0
        )
        active[idx[converged]] = False
    floor = np.where(rho > 0, dist.mean(axis=1), dist.mean()) * 1e-3
    return np.maximum(mid, floor), rho


class _EdgeStream:
    """The edges of one epoch, drawn in proportion to their weights, as row pairs.

    A stream for :func:`skvae._training.train`: ``shape[0]`` edges per epoch,
    the graph's total weight (so an edge of weight 1 is drawn about once),
    each given as its two rows side by side, ``(head, tail)``. UMAP draws an
    edge as often as its weight says, and so does this, with replacement:
    the loss of an epoch is, in expectation, the weighted sum of UMAP's.
    Buffers of ``chunk`` edges are gathered as they are needed. With
    ``noise``, each row of a buffer has Gaussian noise of that standard
    deviation per coordinate added: the rows near a training row are taught
    to get codes near its, so that new rows, which lie among the training
    rows rather than on them, are encoded as their neighbours are.
    """

    def __init__(self, rows, graph, noise=0.0, chunk=1 << 16):
        graph = graph.tocoo()
        device = rows.device
        self.rows, self.device, self.chunk = rows, device, int(chunk)
        self.noise = float(noise)
        self.heads = torch.as_tensor(graph.row, dtype=torch.int64, device=device)
        self.tails = torch.as_tensor(graph.col, dtype=torch.int64, device=device)
        weights = torch.as_tensor(graph.data, dtype=torch.float64, device=device)
        self.cumulative = torch.cumsum(weights, 0)
        n_edges = max(1, round(float(self.cumulative[-1])))
        self.shape = (n_edges, 2 * rows.shape[1])

    def buffers(self, generator=None):
        total = self.cumulative[-1]
        for start in range(0, self.shape[0], self.chunk):
            m = min(self.chunk, self.shape[0] - start)
            u = torch.rand(
                m, generator=generator, dtype=torch.float64, device=self.device
            )
            edges = torch.searchsorted(self.cumulative, u * total)
            edges.clamp_(max=self.cumulative.shape[0] - 1)
            pairs = torch.cat(
                [self.rows[self.heads[edges]], self.rows[self.tails[edges]]], 1
            )
            if self.noise:
                pairs += self.noise * torch.randn(
                    pairs.shape, generator=generator, device=self.device
                )
            yield pairs


class _NeighborObjective:
    """UMAP's loss of a batch of edges, and the decoder's reconstruction error.

    A batch holds ``(head, tail)`` row pairs (see :class:`_EdgeStream`). Each
    head's negative samples are codes drawn from the batch's heads and
    tails, as Parametric UMAP draws them: no further rows are encoded. The
    decoder reconstructs the heads from their codes; the codes receive the
    reconstruction error's gradient scaled by ``reconstruction_weight``
    (none at 0, where the decoder learns to invert codes it does not shape).
    """

    term_names = ("attraction", "repulsion", "reconstruction")

    def __init__(self, a, b, negative_sample_rate, reconstruction_weight):
        self.a, self.b = a, b
        self.negative_sample_rate = negative_sample_rate
        self.reconstruction_weight = reconstruction_weight

    def __call__(self, module, xb, epoch, generator):
        heads, tails = xb.chunk(2, dim=1)
        m = heads.shape[0]
        z = module.encode_inputs(torch.cat([heads, tails])).float()
        z_head, z_tail = z[:m], z[m:]
        drawn = torch.randint(
            2 * m,
            (m, self.negative_sample_rate),
            generator=generator,
            device=generator.device,
        ).to(z.device)
        attraction, repulsion = _losses.fuzzy_cross_entropy(
            z_head, z_tail, z[drawn], self.a, self.b
        )
        # The value of z_head, with its gradient scaled by the weight.
        fixed = z_head.detach()
        z_decoded = fixed + self.reconstruction_weight * (z_head - fixed)
        reconstructed = module.decode_inputs(z_decoded).float()
        reconstruction = torch.nn.functional.mse_loss(
            reconstructed, heads.reshape(m, -1)
        )
        terms = torch.stack([attraction, repulsion, reconstruction])
        return terms.sum(), terms.detach()

    def total(self, values, epoch):
        return sum(values)


# ------------------------------------------------------------- the estimator


@fill_doc
class NeighborEmbedding(_NeuralReducer):
    """Codes that keep the data's neighbourhoods: UMAP's loss, a network's speed.

    An encoder trained on UMAP's loss (Parametric UMAP, Sainburg et al.,
    2021): rows that are near neighbours get near codes, other rows get
    distant ones. The k-nearest-neighbour graph comes from scikit-learn's
    :class:`~sklearn.neighbors.NearestNeighbors` on the rows' first
    ``pca_components`` principal components, its weights are UMAP's, and
    the encoder is trained on its edges, drawn as often as their weights
    say, with negative sampling. New rows are encoded by the network, as
    fast as an autoencoder's; a decoder trained alongside maps codes back
    (``inverse_transform``), and with ``reconstruction_weight`` its error
    shapes the codes too.

    Unlike UMAP, the training rows' codes are what the network gives them,
    not free coordinates fitted to the graph; unlike an autoencoder's, the
    codes are arranged for neighbours rather than for reconstruction. See
    :doc:`/neighbours`.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the code.
    n_neighbors : int, default=15
        Neighbourhood size of the graph, the row itself included (UMAP's
        convention and default): larger values keep more of the global
        arrangement, smaller ones more local detail.
    min_dist : float, default=0.1
        How close codes may be packed (UMAP's ``min_dist``; the curve's
        parameters come from :func:`curve_parameters`).
    negative_sample_rate : int, default=5
        Random codes each edge's head is pushed away from.
    reconstruction_weight : float, default=0.0
        How much the decoder's reconstruction error shapes the codes, beside
        UMAP's loss. The decoder is trained in any case; at 0 it only
        learns to invert the codes.
    input_noise : float, default=0.25
        Training adds Gaussian noise to the rows the networks see: a vector
        about ``input_noise`` times as long as the mean distance from a row
        to its farthest neighbour in the graph. Rows near a training row
        learn codes near its, so that new rows are encoded more as their
        neighbours are (5-NN of the test codes on the digits: 0.909 without,
        0.929 with; see :doc:`/neighbours`). 0 trains on the rows as they
        are.
    pca_components : int, None or "auto", default="auto"
        The networks and the neighbour graph work on the rows' coordinates
        along their first ``pca_components`` principal axes (after
        centring), and the decoder's output is mapped back from them. Cheaper
        networks and an exact neighbour search in fewer dimensions; None
        gives the networks the rows as they are. ``"auto"`` is 50 for the
        default networks and None for others (an ``image_shape`` or your
        own ``encoder``). Where it is not below ``n_features`` nothing is
        projected.
    {{networks}}
    batch_size : int or "auto", default="auto"
        Edges per step. ``"auto"`` is 4096, or a tenth of an epoch's edges
        where that is fewer (small data: at least 10 steps an epoch).
    learning_rate : {"one_cycle", "constant"}, default="one_cycle"
        The schedule of Adam's step size: ``"one_cycle"`` (Smith & Topin,
        2019), which rises to ``learning_rate_init`` over the first 30 % of
        the steps and anneals to almost zero by the last epoch, or
        ``"constant"``, which stops by ``tol`` and ``n_iter_no_change``.
    learning_rate_init : float, default=1e-2
        The peak step size of the one-cycle schedule, or the constant one.
    max_iter : int or "auto", default="auto"
        Number of epochs; an epoch draws as many edges as the graph's total
        weight ``w`` (about 7 per row). ``"auto"`` is
        ``clip(round(26000 / sqrt(w)), 20, 200)`` epochs: 40 on MNIST, 200
        on the digits.
    tol : float, default=1e-4
        Minimum improvement of the loss that counts as progress, with
        ``learning_rate="constant"``.
    n_iter_no_change : int, default=10
        With ``learning_rate="constant"``, training stops after more than
        this many epochs without progress.
    {{runtime}}

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained networks (``encode`` / ``decode``), with the principal
        axes as the buffer ``basis`` (None when nothing is projected).
    n_components_ : int
        Equal to ``n_components``.
    loss_curve_ : list of float
        Training loss of each epoch: UMAP's loss and the reconstruction
        error, summed.
    history_ : list of dict
        One dict per epoch: ``epoch``, ``loss``, ``attraction``,
        ``repulsion``, ``reconstruction`` and ``time`` in seconds.
    best_loss_ : float
        Lowest training loss.
    validation_scores_, best_validation_score_ : None
        There is no held-out loss: a held-out row's edges lead to training
        rows.
    n_iter_ : int
        Number of epochs trained, over all calls.
    noise_variance_ : float
        The mean squared reconstruction error per feature on the training
        data, the variance of the Gaussian :meth:`score_samples` uses.
    {{standardisation}}

    See Also
    --------
    AutoencoderTransformer : Codes arranged for reconstruction.
    PCAReducer : The linear, closed-form reducer.

    Notes
    -----
    In bfloat16 (``precision="auto"`` on CPUs with AVX512-BF16) the fit's
    last bits depend on the number of CPU threads, which training chooses
    as it goes: two fits on one and on two threads gave codes 1e-4 apart
    after three epochs of 10000 MNIST images, and MNIST's 5-NN accuracy was
    0.950 in one full fit and 0.951 in another. In float32 the fits are
    bitwise equal whatever the threads.

    Fitting needs the rows of the projected data in memory (60000 MNIST
    images take 12 MB at 50 components), not X itself: an array larger than
    memory is read in blocks, as ``transform`` reads it.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import NeighborEmbedding
    >>> X, _ = load_digits(return_X_y=True)
    >>> emb = NeighborEmbedding(n_components=2, max_iter=2, random_state=0)
    >>> emb.fit(X).transform(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints: ClassVar[dict] = Constraints(
        {
            **{
                k: v
                for k, v in _COMMON_CONSTRAINTS.items()
                if k not in ("early_stopping", "validation_fraction")
            },
            "n_neighbors": [Interval(Integral, 2, None, closed="left")],
            "min_dist": [Interval(Real, 0, None, closed="left")],
            "negative_sample_rate": [Interval(Integral, 1, None, closed="left")],
            "reconstruction_weight": [Interval(Real, 0, None, closed="left")],
            "input_noise": [Interval(Real, 0, None, closed="left")],
            "batch_size": [
                Interval(Integral, 1, None, closed="left"),
                StrOptions({"auto"}),
            ],
            "pca_components": [
                None,
                StrOptions({"auto"}),
                Interval(Integral, 1, None, closed="left"),
            ],
        }
    )
    _module_class = ProjectedAutoencoder
    _doc_blocks: ClassVar[dict] = {
        "networks": _DOCS["networks"].replace("(512, 256)", "(256, 256)")
    }

    def __init__(
        self,
        n_components=2,
        *,
        n_neighbors=15,
        min_dist=0.1,
        negative_sample_rate=5,
        reconstruction_weight=0.0,
        input_noise=0.25,
        pca_components="auto",
        hidden_layer_sizes=(256, 256),
        activation="relu",
        encoder=None,
        decoder=None,
        image_shape=None,
        batch_size="auto",
        learning_rate="one_cycle",
        learning_rate_init=1e-2,
        max_iter="auto",
        tol=1e-4,
        n_iter_no_change=10,
        warm_start=False,
        precision="auto",
        verbose=0,
        device="auto",
        random_state=None,
        callbacks=None,
        **params,
    ):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.negative_sample_rate = negative_sample_rate
        self.reconstruction_weight = reconstruction_weight
        self.input_noise = input_noise
        self.pca_components = pca_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.encoder = encoder
        self.decoder = decoder
        self.image_shape = image_shape
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.precision = precision
        self.verbose = verbose
        self.device = device
        self.random_state = random_state
        self.callbacks = callbacks
        # The networks' prefixed parameters (skorch's convention): see get_params.
        if params:  # an unfitted estimator without them holds no private state
            self._network_params = params

    # ------------------------------------------------------------ the hooks

    def _objective(self):
        a, b = curve_parameters(self.min_dist)
        return _NeighborObjective(
            a, b, self.negative_sample_rate, self.reconstruction_weight
        )

    def _auto_max_iter(self, n_train):
        # n_train is the edges an epoch draws. Measured (benchmarks/README.md):
        # MNIST wants about 40 epochs (20 gave 5-NN 0.90, 40 0.94); the
        # 15000-row table lost accuracy from 80 epochs to 150; the digits
        # gained up to 200.
        return int(np.clip(round(26000 / math.sqrt(n_train)), 20, 200))

    def _batch_size(self, n_train):
        if self.batch_size == "auto":
            # At least 10 steps an epoch on small graphs: on the digits as
            # good in a third of the time as 4096 edges with more epochs.
            return min(4096, math.ceil(n_train / 10))
        return min(self.batch_size, n_train)

    def _n_projected(self, n_features):
        """The principal axes the networks work on, or None for all features."""
        n = self.pca_components
        if n == "auto":
            mlp = recipe_name("encoder", self.encoder) == "mlp"
            default = mlp and self.image_shape is None
            n = 50 if default else None
        if n is not None and self.image_shape is not None:
            raise ValueError(
                f"pca_components={n} projects the rows, which image_shape="
                f"{tuple(self.image_shape)} asks to keep as images; set "
                "pca_components=None (or 'auto')."
            )
        return None if n is None or n >= n_features else n

    def _input_shape(self, n_features):
        n = self._n_projected(n_features)
        return super()._input_shape(n_features) if n is None else (n,)

    def _architecture_of_params(self, n_features):
        record = super()._architecture_of_params(n_features)
        projected = self._n_projected(n_features) is not None
        record["module_options"] = {"n_features": n_features if projected else None}
        return record

    def _check_params(self, n_features):
        super()._check_params(n_features)
        self._n_projected(n_features)  # refuses a projection of images

    def _check_rows(self, X):
        if X.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples to find "
                f"neighbours, got {X.shape[0]} sample."
            )

    def _start(self, X, device):
        self._check_rows(X)  # before the principal axes are computed
        run = super()._start(X, device)
        basis = run.module.basis
        if basis is not None:
            seed = int(torch.randint(2**31 - 1, (1,), generator=run.generator))
            k = min(basis.shape[0], X.shape[0])
            data = X.data if isinstance(X, LazyRows) else X
            pca = PCAReducer(n_components=k, random_state=seed).fit(data)
            with torch.no_grad():
                basis.zero_()  # rows beyond the data's rank stay zero
                basis[:k] = torch.as_tensor(pca.components_, dtype=basis.dtype)
        return run

    def _training_data(self, X, device, partial, module):
        """The edge stream of the rows' graph, and X for the diagnostics."""
        self._check_rows(X)  # partial_fit's later batches too
        rows = self._network_rows(X, device, module.basis)
        graph, radius = fuzzy_neighbor_graph(
            rows.cpu().numpy(), self.n_neighbors, return_radius=True
        )
        # A share of the neighbourhood's radius, spread over the coordinates.
        noise = self.input_noise * radius / math.sqrt(rows.shape[1])
        return _EdgeStream(rows, graph, noise), None, X

    def _network_rows(self, X, device, basis, rows=4096):
        """The rows as the networks take them: standardised and projected."""
        width = math.prod(self._input_shape(X.shape[1]))
        out = torch.empty(X.shape[0], width, dtype=torch.float32, device=device)
        filled = 0
        for part in _read_buffers(X, rows):
            for start in range(0, part.shape[0], rows):
                block = self._standardize(
                    to_tensor(part[start : start + rows], device, torch.float32)
                )
                if basis is not None:
                    block = block @ basis.T
                out[filled : filled + block.shape[0]] = block
                filled += block.shape[0]
        return out

    def _set_diagnostics(self, X, X_val=None):
        self.noise_variance_ = self._fit_noise_variance(X, standardize=True)

    def _score_samples(self, X):
        """Log-likelihood of x under N(decode(encode(x)), noise_variance_ I), in nats.

        A score of the decoder at the code, as the autoencoder's, not a
        density of x.
        """
        return self._gaussian_log_likelihood(X)

    @staticmethod
    def _module_option_sets(state):
        # Projected from the rows' features, or not projected.
        return ({"n_features": None}, {"n_features": _state.n_features(state)})

    def _state_spec(self):
        required, optional = super()._state_spec()
        required["noise_variance_"] = _state.real(positive=True)
        return required, optional
