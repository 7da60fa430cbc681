"""PCAReducer: exact, fast principal component analysis on the CPU or a GPU."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import scipy.linalg
import scipy.sparse
import torch
from scipy.special import gammaln
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import assert_all_finite, check_is_fitted

from . import _state
from ._base import BaseReducer, transactional
from ._data import (
    LazyRows,
    like_input,
    make_generator,
    resolve_device,
    to_tensor,
    working_memory_bytes,
)

# --------------------------------------------------------------------------
# The O(n d^2) work runs where the data is: in torch on a GPU, and in SciPy's
# BLAS on the CPU, which offers what torch does not expose: a symmetric
# rank-k update (``?syrk``, half the multiplications of X.T @ X) and an
# eigensolver for only the top eigenpairs (``?syevr``). On the CPU every
# BLAS/LAPACK call of a fit goes to SciPy's library on purpose: numpy, SciPy
# and torch each bundle their own, each with a thread pool whose threads
# spin for a while after a call, and handing work from one pool to another
# costs more (about 0.1 s on two cores) than the eigensolver and the
# projection together.


def _blas(name, *arrays):
    return scipy.linalg.blas.get_blas_funcs(name, arrays)


def _matmul(A, B):
    """``A @ B`` with SciPy's BLAS, reading C- or Fortran-ordered ``A`` in place."""
    gemm = _blas("gemm", A, B)
    if A.flags.f_contiguous:
        return gemm(1.0, A, B)
    return gemm(1.0, A.T, B, trans_a=True)  # A.T of a C-ordered A is Fortran


def _gram(X, device):
    """``(X.T X, column means)`` of the rows of ``X``, as numpy, computed on ``device``.

    Only the upper triangle of the Gram matrix is meaningful. On the CPU, X is
    read in place (C- or Fortran-ordered), never copied.
    """
    if device.type == "cpu":
        syrk = _blas("syrk", X)
        # C = A A^T with A = X.T, read in place when X is C-ordered.
        gram = syrk(1.0, X.T) if X.flags.c_contiguous else syrk(1.0, X, trans=1)
        return gram, X.mean(axis=0)
    Xt = to_tensor(X, device)
    return (Xt.T @ Xt).cpu().numpy(), Xt.mean(dim=0).cpu().numpy()


def _moments(X, device):
    """``(n, mean, scatter)`` of the rows of ``X``, centred after the fact.

    The scatter matrix (the sum of outer products of the centred rows; only
    its upper triangle is meaningful) is ``X.T X - n m m^T``, so X itself is
    never copied. That difference cancels digits when the mean is large
    against the spread: see :func:`_cancels`.
    """
    n = X.shape[0]
    gram, mean = _gram(X, device)
    # Overflow and NaN are reported by the caller, from the diagonal.
    with np.errstate(over="ignore", invalid="ignore"):
        gram -= n * np.outer(mean, mean)
    return n, mean, gram


# The covariance route forms X.T X and subtracts n m m^T. Where a column's
# mean is large against its spread, the two nearly cancel, and the variances
# keep only the bits the Gram matrix had to spare: about log2(sum of squares /
# scatter) bits are lost. Past this many, the moments are computed again from
# centred blocks of rows. In float32 (24 bits) that is a column mean above
# about 1.7 of its standard deviations, where the smaller eigenvalues already
# lose 1e-4 of their value; in float64 (53 bits) a mean above about 1,000
# standard deviations. Well-centred data never pays for the second pass, and
# nor does MNIST (a ratio of at most 2.6).
_MAX_CANCELLED_BITS = {np.dtype(np.float32): 2, np.dtype(np.float64): 20}


def _cancels(n, mean, scatter_diagonal, dtype):
    """Whether ``X.T X - n m m^T`` lost too many bits to a large mean.

    O(n_features): the diagonal of the Gram matrix is the scatter's diagonal
    plus ``n m**2``, and the ratio of the two says how many bits the
    subtraction cancelled.
    """
    limit = 2.0 ** _MAX_CANCELLED_BITS[np.dtype(dtype)]
    with np.errstate(over="ignore", invalid="ignore"):
        gram_diagonal = scatter_diagonal + n * np.square(mean, dtype=np.float64)
        return bool(np.any(scatter_diagonal * limit < gram_diagonal))


def _centred_moments(block, device):
    """``(n, mean, scatter)`` of ``block``, centred on its own mean first.

    ``block`` is overwritten (on the CPU): callers pass a copy they own. The
    mean is taken twice, the second time of the centred rows, so that what
    rounding left of the offset is accounted for exactly; it is float64.
    """
    n = block.shape[0]
    if device.type == "cpu":
        shift = block.mean(axis=0)
        block -= shift
        rest = block.mean(axis=0)
        gram, _ = _gram(block, device)
    else:
        Bt = to_tensor(block, device)
        shift = Bt.mean(dim=0)
        Bt = Bt - shift
        rest = Bt.mean(dim=0)
        gram = (Bt.T @ Bt).cpu().numpy()
        shift, rest = shift.cpu().numpy(), rest.cpu().numpy()
    gram -= n * np.outer(rest, rest).astype(gram.dtype)
    mean = shift.astype(np.float64) + rest.astype(np.float64)
    return n, mean, gram


def _pca_components(value, ctx):
    _state.integer(1, ctx["n_features_in_"])(value, ctx)


def _pca_moments(value, ctx):
    """``partial_fit``'s running ``(n, mean, scatter)``."""
    d = ctx["n_features_in_"]
    if not isinstance(value, tuple | list) or len(value) != 3:
        raise _state.StateError("expected (n, mean, scatter)")
    n, mean, scatter = value
    _state.integer(1)(n, ctx)
    same = (ctx["components_"].dtype.name,)
    _state.array(same, lambda ctx: (d,))(mean, ctx)
    _state.array(same, lambda ctx: (d, d))(scatter, ctx)


def _merge_moments(a, b):
    """Moments of two batches combined (Chan, Golub & LeVeque, 1979).

    Each batch's scatter is about its own mean, so nothing large cancels:
    the correction term is a sum of squares of the difference of the means,
    formed in float64. The scatter keeps the batches' floating dtype.
    """
    if a is None:
        return b
    n_a, mean_a, scatter_a = a
    n_b, mean_b, scatter_b = b
    n = n_a + n_b
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    dtype = np.result_type(scatter_a, scatter_b)
    correction = np.outer(delta, delta) * (n_a * n_b / n)
    with np.errstate(over="ignore", invalid="ignore"):
        scatter = (scatter_a + scatter_b + correction).astype(dtype, copy=False)
    return n, mean, scatter


def _blocks_moments(blocks, device):
    """The merged :func:`_centred_moments` of ``blocks``, copies the caller owns."""
    moments = None
    for block in blocks:
        moments = _merge_moments(moments, _centred_moments(block, device))
    return moments


def _row_block_size(n_features, itemsize, copies=2):
    """Rows per block such that ``copies`` blocks fit scikit-learn's working memory."""
    return int(max(1, working_memory_bytes() // max(n_features * itemsize * copies, 1)))


def _row_blocks(X, copies=2):
    """Yield ``(start, block)`` over ``X``: a LazyRows's checked copies, or views."""
    if isinstance(X, LazyRows):
        # Plus the block's pages in a memory map, touched while it is copied.
        yield from X.iter_blocks(X.block_rows(copies + 1))
        return
    rows = _row_block_size(X.shape[1], X.dtype.itemsize, copies)
    for start in range(0, X.shape[0], rows):
        yield start, X[start : start + rows]


def _sparse_moments(X):
    """``(n, mean, scatter)`` of a CSR/CSC matrix, centred implicitly.

    ``X.T X`` is a sparse product (its density is that of the co-occurrences
    of non-zeros), densified only at ``n_features x n_features``; X itself is
    never densified.
    """
    n = X.shape[0]
    mean = np.asarray(X.sum(axis=0, dtype=np.float64)).ravel() / n
    gram = X.T @ X
    gram = gram.toarray() if scipy.sparse.issparse(gram) else np.asarray(gram)
    with np.errstate(over="ignore", invalid="ignore"):
        scatter = gram - (n * np.outer(mean, mean)).astype(gram.dtype)
    return n, mean, np.ascontiguousarray(scatter, dtype=X.dtype)


def _eigh(C, n_top=None):
    """Eigenpairs of the symmetric ``C`` (its upper triangle), largest first.

    With ``n_top``, only the largest ``n_top`` pairs are computed (``?syevr``).
    """
    d = C.shape[0]
    subset = None if n_top is None or n_top >= d else (d - n_top, d - 1)
    w, V = scipy.linalg.eigh(
        C,
        lower=False,
        subset_by_index=subset,
        driver="evd" if subset is None else "evr",
        check_finite=False,
    )
    return w[::-1], V[:, ::-1]


def _flip_signs(components):
    """Make the largest-magnitude entry of every component positive.

    Eigen- and singular vectors are defined up to sign; this fixes the sign the
    way scikit-learn's ``svd_flip(u_based_decision=False)`` does, so the same
    data always gives the same components.
    """
    largest = np.argmax(np.abs(components), axis=1)
    pivots = components[np.arange(len(components)), largest]
    return components * np.where(pivots < 0, -1, 1).astype(components.dtype)[:, None]


def _randomized_range(X, size, n_iter, generator):
    """An orthonormal basis, ``(n_samples, size)``, of the dominant range of ``X``.

    Randomized subspace iteration (Halko, Martinsson & Tropp, 2011, Algorithm
    4.4): QR after every product keeps the basis well conditioned.
    """
    Q = torch.randn(X.shape[1], size, generator=generator, dtype=X.dtype)
    Q = torch.linalg.qr(X @ Q.to(X.device)).Q
    for _ in range(n_iter):
        Q = torch.linalg.qr(X.T @ Q).Q
        Q = torch.linalg.qr(X @ Q).Q
    return Q


def _raise_overflow(dtype):
    dtype = np.dtype(dtype)
    advice = "Scale X." if dtype == np.float64 else "Scale X, or pass it as float64."
    raise ValueError(
        "X is finite but too large for its dtype: its sums of squares overflow "
        f"{dtype.name}. {advice}"
    )


def _minka_mle(spectrum, n_samples):
    """Number of components chosen by Minka's Bayesian PCA evidence (NIPS 2000).

    ``spectrum`` holds the covariance eigenvalues in decreasing order. Ties and
    the tolerance follow scikit-learn's ``_infer_dimension``, so both pick the
    same rank.
    """
    eps = 1e-15
    n_features = len(spectrum)
    spectrum = np.asarray(spectrum, dtype=np.float64)
    best_rank, best_ll = 0, -np.inf
    for rank in range(1, n_features):
        if spectrum[rank - 1] < eps:
            break  # the remaining directions carry no variance
        v = max(spectrum[rank:].sum() / (n_features - rank), eps)
        q = np.arange(1, rank + 1)
        half = (n_features - q + 1) / 2.0
        p_u = -rank * np.log(2.0) + np.sum(gammaln(half) - np.log(np.pi) * half)
        p_l = -np.sum(np.log(spectrum[:rank])) * n_samples / 2.0
        p_v = -np.log(v) * n_samples * (n_features - rank) / 2.0
        m = n_features * rank - rank * (rank + 1.0) / 2.0
        p_p = np.log(2.0 * np.pi) * (m + rank) / 2.0
        # The Laplace approximation's determinant, over pairs i < rank, j > i.
        inv = np.copy(spectrum)
        inv[rank:] = v
        head = spectrum[:rank, None]
        pairs = np.arange(n_features)[None, :] > np.arange(rank)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.log((head - spectrum) * (1.0 / inv - 1.0 / inv[:rank, None]))
        pa = terms[pairs].sum() + pairs.sum() * np.log(n_samples)
        ll = p_u + p_l + p_v + p_p - pa / 2.0 - rank * np.log(n_samples) / 2.0
        if ll > best_ll:
            best_rank, best_ll = rank, ll
    return best_rank


class PCAReducer(BaseReducer):
    """Principal component analysis on the CPU or a GPU.

    Mirrors :class:`sklearn.decomposition.PCA`: the same core parameters,
    fitted attributes and sign convention (``copy``, ``tol``,
    ``power_iteration_normalizer`` and the ARPACK solver are not offered).
    On the CPU the heavy linear algebra runs in SciPy's BLAS and LAPACK, on a
    GPU in torch. On tall data the covariance route is used, with the Gram
    matrix formed by a symmetric rank-k update and centred after the fact, so
    X is never copied. :meth:`partial_fit` is exact: fitting in chunks equals
    fitting at once, to rounding. Sparse (CSR, CSC) input and arrays larger
    than memory take the covariance route too; see Notes.

    Parameters
    ----------
    n_components : int, float, "mle" or None, default=None
        Number of components to keep. An int keeps that many; a float in
        (0, 1) keeps the fewest components that explain more than that fraction
        of the variance; ``"mle"`` uses Minka's MLE; None keeps
        ``min(n_samples, n_features)``.
    whiten : bool, default=False
        Scale the projections to unit variance.
    svd_solver : {"auto", "covariance_eigh", "full", "randomized"}, default="auto"
        ``"covariance_eigh"`` eigendecomposes the covariance matrix (fast on
        tall data), ``"full"`` takes an exact SVD of the centred data,
        ``"randomized"`` uses the method of Halko et al. ``"auto"`` chooses
        ``"covariance_eigh"`` for sparse X and for X larger than the working
        memory, and otherwise as scikit-learn does: ``"covariance_eigh"`` when
        ``n_features <= 1000`` and ``n_samples >= 10 * n_features``, else
        ``"full"`` for small data or ``"mle"``, else ``"randomized"`` when
        fewer than 80 % of the components are asked for, else ``"full"``.
        ``"full"`` and ``"randomized"`` need the whole centred data at once:
        they raise a TypeError on sparse X and a ValueError on X larger than
        the working memory.
    iterated_power : int or "auto", default="auto"
        Power iterations of the randomized solver; ``"auto"`` is 7 when
        ``n_components`` is below 10 % of the smaller dimension, else 4.
    n_oversamples : int, default=10
        Extra random vectors of the randomized solver.
    device : str or torch.device, default="auto"
        Where to compute. ``"auto"`` uses CUDA when it is available.
    random_state : int, RandomState instance or None, default=None
        Seeds the randomized solver.

    Attributes
    ----------
    components_ : ndarray of shape (`n_components_`, n_features)
        Principal axes, orthonormal, by decreasing explained variance.
    explained_variance_ : ndarray of shape (`n_components_`,)
        Variance along each axis (unbiased, ``n_samples - 1`` in the
        denominator).
    explained_variance_ratio_ : ndarray of shape (`n_components_`,)
        Fraction of the total variance along each axis.
    singular_values_ : ndarray of shape (`n_components_`,)
        Singular values of the centred data.
    mean_ : ndarray of shape (n_features,)
        Per-feature mean of the training data.
    n_components_ : int
        Number of components kept.
    n_samples_ : int
        Number of training samples (all batches seen, after
        :meth:`partial_fit`).
    noise_variance_ : float
        Mean variance of the discarded directions: the isotropic noise of the
        probabilistic PCA model (Tipping & Bishop, 1999).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features, when X had string column names.

    See Also
    --------
    sklearn.decomposition.PCA : The NumPy implementation this one mirrors.
    AutoencoderTransformer : A linear autoencoder spans the same subspace.

    Notes
    -----
    :meth:`partial_fit` always takes the covariance route and keeps the
    ``n_features x n_features`` scatter matrix between calls; ``svd_solver``
    is ignored. It continues from earlier :meth:`partial_fit` calls or from a
    :meth:`fit` that took the covariance route; after a fit with another
    solver, which keeps no scatter matrix, it warns and starts a new model
    from the batch (with the same features).

    **Sparse input.** A CSR or CSC matrix is fitted on the covariance route
    with implicit centring: the sparse product ``X.T @ X`` minus
    ``n_samples * outer(mean_, mean_)``, so X is never densified, only the
    ``n_features x n_features`` covariance (computed on the CPU whatever
    ``device``). :meth:`transform` computes ``X @ components_.T`` minus the
    projection of the mean.

    **Data larger than memory.** A NumPy array (a :class:`numpy.memmap`
    included) whose floating copy would exceed scikit-learn's
    ``working_memory`` (see :func:`sklearn.config_context`) is read in blocks
    of rows: :meth:`fit`, :meth:`partial_fit` and :meth:`fit_transform`
    merge the moments of each block (Chan, Golub & LeVeque, 1979), and
    :meth:`transform`, :meth:`score_samples` and :meth:`score` work block by
    block, so memory does not grow with the number of rows. A NaN or
    infinity in any block raises a ValueError and leaves a fitted model as it
    was.

    **Offset data.** The covariance route subtracts ``n m m^T`` from the
    Gram matrix, which cancels digits when a column's mean is large against
    its spread. The loss is measured from the Gram diagonal and the column
    means (O(n_features)); past 2 bits in float32 or 20 in float64, the
    moments are computed again from centred blocks of rows, so float32 data
    offset by 10,000 standard deviations keeps its explained variances to
    about 1e-5. Centred data (and MNIST, for instance) takes one pass.

    **Feature scales.** X is centred, not scaled, as in scikit-learn's PCA:
    the components follow the features of largest variance, so a feature in
    large units (on the wine data, one holds 99.8 % of the variance) takes
    the first component for itself. When the features are in different
    units, put a :class:`~sklearn.preprocessing.StandardScaler` in front, in a
    :class:`~sklearn.pipeline.Pipeline`.

    **Differences from scikit-learn, by choice.** :meth:`get_covariance` is
    the covariance of the probabilistic PCA model, which does not depend on
    ``whiten``, so neither do :meth:`score` and :meth:`score_samples`
    (scikit-learn rescales the components by ``sqrt(explained_variance_)``
    when whitening, see scikit-learn issue #13898). With
    ``svd_solver="randomized"``, ``explained_variance_`` and
    ``singular_values_`` are measured on the projections :meth:`transform`
    returns, and ``n_components="mle"`` is refused, as in scikit-learn, since
    Minka's MLE needs the whole spectrum.

    ``device`` applies to fitting and to :meth:`transform`: a model fitted on
    CUDA projects there, block by block (back on the CPU, if CUDA is gone).
    The fitted attributes are numpy arrays.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import PCAReducer
    >>> X, _ = load_digits(return_X_y=True)
    >>> pca = PCAReducer(n_components=0.9).fit(X)
    >>> pca.n_components_
    21
    >>> pca.transform(X[:3]).shape
    (3, 21)
    """

    # CSR and CSC everywhere: fit (the covariance route), transform and
    # score_samples (densified a block of rows at a time).
    _accept_sparse = ("csr", "csc")

    _parameter_constraints: ClassVar[dict] = {
        "n_components": [
            Interval(Integral, 0, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
            StrOptions({"mle"}),
            None,
        ],
        "whiten": ["boolean"],
        "svd_solver": [StrOptions({"auto", "covariance_eigh", "full", "randomized"})],
        "iterated_power": [
            Interval(Integral, 0, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "n_oversamples": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components=None,
        *,
        whiten=False,
        svd_solver="auto",
        iterated_power="auto",
        n_oversamples=10,
        device="auto",
        random_state=None,
    ):
        self.n_components = n_components
        self.whiten = whiten
        self.svd_solver = svd_solver
        self.iterated_power = iterated_power
        self.n_oversamples = n_oversamples
        self.device = device
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    @transactional
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model on ``X``.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : PCAReducer
        """
        self._fit(X)
        return self

    @transactional
    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit the model on ``X`` and return its projection.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        Z : ndarray or torch.Tensor of shape (n_samples, `n_components_`)
        """
        Xv = self._fit(X)
        return like_input(self._transform(Xv), X)

    @transactional
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Update the model with a batch of samples, exactly.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            A batch of training data.
        y : None
            Ignored.

        Returns
        -------
        self : PCAReducer
        """
        fitted = hasattr(self, "components_")
        first = not hasattr(self, "_moments")
        if first and fitted:
            warnings.warn(
                f"This PCAReducer was fitted with svd_solver={self._fit_svd_solver!r}, "
                "which keeps no scatter matrix to continue from, so partial_fit "
                "starts a new model from this batch. partial_fit continues earlier "
                "partial_fit calls or a fit with svd_solver='covariance_eigh'.",
                UserWarning,
                stacklevel=4,  # partial_fit, two decorators, the caller
            )
        # A fitted estimator keeps its features, even when it starts anew.
        X = self._validate(X, reset=not fitted, ensure_all_finite=False)
        self._device = resolve_device(self.device)
        moments = self._checked_moments(X)
        if not first:
            moments = _merge_moments(self._moments, moments)
        self._fit_moments(moments, X.dtype, n_features=X.shape[1])
        return self

    def _fit(self, X):
        """Validate, fit, set attributes; return the validated X for fit_transform."""
        X = self._validate(X, reset=True, ensure_all_finite=False)
        n_samples, n_features = X.shape
        self._device = resolve_device(self.device)
        solver = self._fit_svd_solver = self._choose_solver(X)
        if solver == "covariance_eigh":
            self._fit_moments(self._checked_moments(X), X.dtype, n_features=n_features)
            return X
        assert_all_finite(X, input_name="X", estimator_name=type(self).__name__)
        self._check_n_samples(n_samples)
        Xt = to_tensor(X, self._device)
        mean = Xt.mean(dim=0)
        Xc = Xt - mean
        # Where the centred data's squares overflow, the SVD fails to converge
        # or its variances overflow: report it as the covariance route does.
        if not torch.isfinite(torch.sum(Xc * Xc)):
            _raise_overflow(X.dtype)
        k = self._check_n_components(n_samples, n_features, solver)
        if solver == "full":
            _, S, Vt = torch.linalg.svd(Xc, full_matrices=False)
            total_var = None
        else:
            n_iter = self.iterated_power
            if n_iter == "auto":
                n_iter = 7 if k < 0.1 * min(n_samples, n_features) else 4
            size = min(k + self.n_oversamples, n_features, n_samples)
            Q = _randomized_range(Xc, size, n_iter, make_generator(self.random_state))
            _, S, Vt = torch.linalg.svd(Q.T @ Xc, full_matrices=False)
            Vt = Vt[:k]
            # The singular values of Q.T Xc miss the part of each direction's
            # variance outside the range Q caught. Measured on the projections
            # themselves, explained_variance_ and singular_values_ are what
            # transform gives (the variance and the norm of each output
            # column), and the components are ordered by it.
            S = torch.linalg.vector_norm(Xc @ Vt.T, dim=0)
            order = torch.argsort(S, descending=True, stable=True)
            S, Vt = S[order], Vt[order]
            total_var = float(torch.sum(Xc * Xc)) / (n_samples - 1)
        self.__dict__.pop("_moments", None)
        self._set_spectrum(
            components=Vt.cpu().numpy(),
            variance=(S**2 / (n_samples - 1)).cpu().numpy(),
            total_var=total_var,
            mean=mean.cpu().numpy(),
            n_samples=n_samples,
            n_features=n_features,
            dtype=X.dtype,
        )
        return X

    def _choose_solver(self, X):
        """The solver for ``X``; a sparse or out-of-core X needs the covariance."""
        n_samples, n_features = X.shape
        blockwise = scipy.sparse.issparse(X) or isinstance(X, LazyRows)
        if self.svd_solver != "auto":
            if blockwise and self.svd_solver != "covariance_eigh":
                self._refuse_solver(X)
            return self.svd_solver
        if blockwise:
            return "covariance_eigh"
        if n_features <= 1_000 and n_samples >= 10 * n_features:
            return "covariance_eigh"
        if max(n_samples, n_features) <= 500 or self.n_components == "mle":
            return "full"
        k = self.n_components
        if isinstance(k, Integral) and 1 <= k < 0.8 * min(n_samples, n_features):
            return "randomized"
        return "full"

    def _refuse_solver(self, X):
        if scipy.sparse.issparse(X):
            # The type of the input is the problem, as scikit-learn says.
            raise TypeError(
                f"{type(self).__name__} only supports sparse input with "
                f'svd_solver="covariance_eigh" (or "auto"), while '
                f'"{self.svd_solver}" was passed. The other solvers need the '
                "centred data, which for sparse X would be dense."
            )
        raise ValueError(
            f"X ({X.shape[0]} x {X.shape[1]}, "
            f"{X.shape[0] * X.shape[1] * X.dtype.itemsize / 2**20:.0f} MiB as "
            f"{X.dtype.name}) is larger than scikit-learn's working_memory, so "
            f"{type(self).__name__} reads it in blocks of rows, and "
            f"svd_solver={self.svd_solver!r} needs all of the centred data at "
            "once. Use svd_solver='covariance_eigh' (or 'auto'), which is "
            "exact and reads X block by block, or raise the working memory "
            "with sklearn.config_context(working_memory=...)."
        )

    def _check_n_samples(self, n_samples):
        if n_samples < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples to estimate a "
                f"variance, got n_samples={n_samples}."
            )

    def _check_n_components(self, n_samples, n_features, solver):
        """The requested int number of components, checked against the data."""
        k = self.n_components
        limit = min(n_samples, n_features)
        if k is None:
            return limit
        if k == "mle":
            if solver == "randomized":
                # As scikit-learn: Minka's MLE needs the whole spectrum.
                raise ValueError(
                    f"n_components={k!r} cannot be a string with "
                    f"svd_solver={solver!r}: Minka's MLE needs the whole "
                    "spectrum, which 'full' and 'covariance_eigh' compute."
                )
            if n_samples < n_features:
                raise ValueError(
                    "n_components='mle' is only supported if n_samples >= n_features."
                )
            return limit
        if isinstance(k, Real) and not isinstance(k, Integral):
            if solver == "randomized":
                raise ValueError(
                    f"n_components={k!r} (a fraction of variance) needs the full "
                    "spectrum; use svd_solver='full' or 'covariance_eigh'."
                )
            return limit
        lower = 1 if solver == "randomized" else 0
        if not lower <= k <= limit:
            raise ValueError(
                f"n_components={k} must be between {lower} and "
                f"min(n_samples, n_features)={limit} with svd_solver={solver!r}."
            )
        return k

    def _checked_moments(self, X):
        """Moments of X, with NaN and inf detected on the small scatter matrix.

        Any non-finite value in X makes the diagonal of X.T X non-finite, so
        checking ``n_features`` numbers replaces a pass over all of X. Only then
        is X itself inspected, to name the problem. When the subtraction of
        the mean cancelled too many digits (:func:`_cancels`), the moments are
        computed again from centred blocks of rows and merged.

        A LazyRows is read block by block, each block centred on its own mean
        (it is a copy) and merged, so memory does not grow with the rows; its
        blocks check themselves for NaN and infinity.
        """
        name = type(self).__name__
        if isinstance(X, LazyRows):
            moments = _blocks_moments(
                (block for _, block in _row_blocks(X)), self._device
            )
        elif scipy.sparse.issparse(X):
            assert_all_finite(X.data, input_name="X", estimator_name=name)
            moments = _sparse_moments(X)
            if _cancels(*moments[:2], moments[2].diagonal(), X.dtype):
                moments = self._recentred(X)
        else:
            moments = _moments(X, self._device)
            _, mean, scatter = moments
            if np.isfinite(scatter.diagonal()).all() and np.isfinite(mean).all():
                if _cancels(*moments[:2], scatter.diagonal(), X.dtype):
                    moments = self._recentred(X)
            else:
                assert_all_finite(X, input_name="X", estimator_name=name)
        _, mean, scatter = moments
        if not (np.isfinite(scatter.diagonal()).all() and np.isfinite(mean).all()):
            _raise_overflow(X.dtype)
        return moments

    def _recentred(self, X):
        """Moments of an in-memory X from centred copies of blocks of its rows."""
        sparse = scipy.sparse.issparse(X)

        def blocks():
            for _, block in _row_blocks(X):
                yield block.toarray() if sparse else np.array(block, order="C")

        return _blocks_moments(blocks(), self._device)

    def _fit_moments(self, moments, dtype, n_features):
        """Eigendecompose the scatter matrix and set the fitted attributes."""
        n_samples, mean, scatter = moments
        self._check_n_samples(n_samples)
        k = self._check_n_components(n_samples, n_features, "covariance_eigh")
        # Fractions and "mle" need the whole spectrum; an int only its head.
        n_top = max(k, 1) if isinstance(self.n_components, Integral) else None
        total_var = float(scatter.diagonal().sum()) / (n_samples - 1)
        values, vectors = _eigh(scatter, n_top=n_top)
        # Rounding can leave tiny negative eigenvalues of a PSD matrix.
        variance = np.maximum(values, 0) / (n_samples - 1)
        self._moments = moments
        self._set_spectrum(
            components=vectors.T,
            variance=variance,
            total_var=total_var,
            mean=mean,
            n_samples=n_samples,
            n_features=n_features,
            dtype=dtype,
        )

    def _set_spectrum(
        self, *, components, variance, total_var, mean, n_samples, n_features, dtype
    ):
        """Choose ``n_components_`` from the spectrum and store everything as numpy.

        ``total_var`` is None when the spectrum is complete and gives it.
        """
        if not np.isfinite(variance).all():
            _raise_overflow(dtype)
        variance = variance.astype(dtype, copy=False)
        limit = min(n_samples, n_features)
        total = variance.sum() if total_var is None else total_var
        ratio = variance / total if total > 0 else np.zeros_like(variance)
        k = self.n_components
        if k is None:
            k = limit
        elif k == "mle":
            k = _minka_mle(variance, n_samples)
        elif not isinstance(k, Integral):
            cumulative = np.cumsum(ratio, dtype=np.float64)
            k = int(np.searchsorted(cumulative, k, side="right")) + 1
            k = min(k, limit)
        components = _flip_signs(components[:k])
        if k < limit:
            tail = total - variance[:k].sum()
            noise = max(float(tail) / (limit - k), 0.0)
        else:
            noise = 0.0
        self.components_ = np.ascontiguousarray(components, dtype=dtype)
        self.explained_variance_ = variance[:k]
        self.explained_variance_ratio_ = ratio[:k]
        self.singular_values_ = np.sqrt(variance[:k] * (n_samples - 1))
        self.mean_ = mean.astype(dtype, copy=False)
        self.n_components_ = int(k)
        self.n_samples_ = int(n_samples)
        self.noise_variance_ = float(noise)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # CSR and CSC, on the covariance route (as scikit-learn's PCA sets it).
        tags.input_tags.sparse = self.svd_solver in ("auto", "covariance_eigh")
        return tags

    # ---------------------------------------------------------- pickling

    def __getstate__(self):
        # Python and NumPy values only (see _NeuralReducer.__getstate__), so
        # that skops.io needs to trust nothing but this class.
        state = dict(super().__getstate__())
        if "_device" in state:
            state["_device"] = str(state["_device"])
        return state

    def __setstate__(self, state):
        state = dict(state)
        with _state.refusing(self):
            _state.check_state(self, state, self._state_spec())
        if "_device" in state:
            state["_device"] = torch.device(state["_device"])
        super().__setstate__(state)

    def _state_spec(self):
        """``(required, optional)`` fitted attributes and their checks."""
        d, k = _state.n_features, _state.n_components
        # All of PCA's arrays share the dtype of the data it was fitted on.
        same = lambda ctx: (ctx["components_"].dtype.name,)  # noqa: E731
        required = {
            "n_features_in_": _state.integer(1),
            "n_components_": _pca_components,
            "n_samples_": _state.integer(1),
            "_device": _state.device,
            "components_": _state.array(
                ("float32", "float64"), lambda ctx: (k(ctx), d(ctx))
            ),
            "explained_variance_": _state.array(same, lambda ctx: (k(ctx),), lo=0.0),
            "explained_variance_ratio_": _state.array(
                same, lambda ctx: (k(ctx),), lo=0.0
            ),
            "singular_values_": _state.array(same, lambda ctx: (k(ctx),), lo=0.0),
            "mean_": _state.array(same, lambda ctx: (d(ctx),)),
            "noise_variance_": _state.real(0.0),
        }
        optional = {
            "_fit_svd_solver": _state.one_of("full", "covariance_eigh", "randomized"),
            "_moments": _pca_moments,
        }
        return required, optional

    # ------------------------------------------------------- transform etc.

    def transform(self, X):
        """Project ``X`` onto the principal components.

        Parameters
        ----------
        X : array-like, sparse matrix or torch.Tensor of shape (n_samples, n_features)
            Data to project. A CSR or CSC matrix is projected without being
            densified; an array larger than scikit-learn's ``working_memory``
            is read block by block.

        Returns
        -------
        Z : ndarray or torch.Tensor of shape (n_samples, `n_components_`)
            The projections; a tensor if ``X`` was one.
        """
        check_is_fitted(self)
        Z = self._transform(self._validate(X, reset=False))
        return like_input(self._finite(Z, "transform"), X)

    def _compute_device(self):
        """The fitting device, or the CPU where that was CUDA and is gone."""
        device = getattr(self, "_device", None)
        if device is not None and device.type == "cuda" and torch.cuda.is_available():
            return device
        return torch.device("cpu")

    def _transform(self, X):
        # (X - mean) @ V.T without a centred copy of X: the mean's projection
        # is subtracted from the (small) output instead.
        V = self.components_.astype(X.dtype, copy=False)
        device = self._compute_device()
        if scipy.sparse.issparse(X):
            Z = np.asarray(X @ V.T)
        elif device.type == "cpu" and not isinstance(X, LazyRows):
            # SciPy's gemm, as in fit: measured on two cores against numpy's
            # and torch's products (20,000 x 784, 2 and 50 components), none
            # is faster overall, and staying in one BLAS spares the thread
            # pool hand-over that design.rst describes.
            Z = _matmul(X, V.T)
        else:
            # Blocks of rows: a LazyRows is read so, and on CUDA each block is
            # copied to the fitting device, where the product runs.
            Z = np.empty((X.shape[0], V.shape[0]), dtype=X.dtype)
            Vt = torch.from_numpy(np.ascontiguousarray(V.T)).to(device)
            for start, block in _row_blocks(X):
                if device.type == "cpu":
                    part = _matmul(block, V.T)
                else:
                    part = (to_tensor(block, device) @ Vt).cpu().numpy()
                Z[start : start + len(block)] = part
        Z -= self.mean_ @ V.T
        if self.whiten:
            Z /= np.sqrt(np.maximum(self.explained_variance_, np.finfo(Z.dtype).tiny))
        return Z

    def _inverse_transform(self, Z):
        Z = Z.astype(self.components_.dtype, copy=False)
        if self.whiten:
            Z = Z * np.sqrt(self.explained_variance_)
        return Z @ self.components_ + self.mean_

    def get_covariance(self):
        """Data covariance of the probabilistic PCA model.

        ``cov = components_.T @ diag(explained_variance_ - noise_variance_)
        @ components_ + noise_variance_ * I``

        Returns
        -------
        cov : ndarray of shape (n_features, n_features)
        """
        check_is_fitted(self)
        V = self.components_.astype(np.float64)
        excess = np.maximum(self.explained_variance_ - self.noise_variance_, 0.0)
        cov = (V.T * excess) @ V
        cov.flat[:: len(cov) + 1] += self.noise_variance_
        return cov

    def get_precision(self):
        """Inverse of :meth:`get_covariance`, by the matrix inversion lemma.

        Returns
        -------
        precision : ndarray of shape (n_features, n_features)
        """
        check_is_fitted(self)
        noise = self.noise_variance_
        n_features = self.components_.shape[1]
        if noise == 0.0:
            try:
                return scipy.linalg.inv(self.get_covariance())
            except np.linalg.LinAlgError:
                raise ValueError(
                    f"{type(self).__name__}: the fitted model's covariance is "
                    "singular (noise_variance_ is 0 and the components have no "
                    f"variance along some of the {n_features} feature directions: "
                    "constant or collinear features, or too few samples), so its "
                    "precision and log-likelihood (score, score_samples) are "
                    "undefined."
                ) from None
        if self.n_components_ == 0:
            return np.eye(n_features) / noise
        V = self.components_.astype(np.float64)
        excess = np.maximum(self.explained_variance_ - noise, 0.0)
        # (σ²I + Vᵀ D V)⁻¹ = (I - Vᵀ diag(D / (D + σ²)) V) / σ², V orthonormal.
        precision = -(V.T * (excess / (excess + noise))) @ V
        precision.flat[:: n_features + 1] += 1.0
        return precision / noise

    def _score_samples(self, X):
        precision = self.get_precision()
        _, logdet = np.linalg.slogdet(precision)
        constant = X.shape[1] * np.log(2 * np.pi) - logdet
        scores = np.empty(X.shape[0])
        # In blocks of rows, so that the float64 copies stay within the
        # working memory, and a LazyRows is read as it must be.
        for start, block in _row_blocks(X, copies=6):
            if scipy.sparse.issparse(block):
                block = block.toarray()
            Xc = block.astype(np.float64) - self.mean_
            mahalanobis = np.einsum("ij,ij->i", Xc @ precision, Xc)
            scores[start : start + len(block)] = -0.5 * (mahalanobis + constant)
        return scores
