"""Fuzz: fit, transform, inverse_transform and score of the three reducers on
random shapes, dtypes and values.

The contract every case is held to: a call returns a finite result of the
documented shape, or raises a ValueError or TypeError whose message names the
problem (never a torch RuntimeError, an IndexError or a LinAlgError about a
singular matrix), and numeric trouble never surfaces as a NumPy or SciPy
warning. A call that raises, and any transform or score call, leaves a fitted
estimator exactly as it was.
"""

import copy
import os
import re
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from test_faults import _assert_unchanged, _snapshot

from skvae import (
    AutoencoderTransformer,
    PCAReducer,
    PosteriorCollapseWarning,
    VAETransformer,
)

# Reproducible in CI: the same examples every run, no example database.
# SKVAE_FUZZ_EXAMPLES asks for a longer search, from a random seed (which
# hypothesis prints on failure; --hypothesis-seed replays it).
FUZZ = settings(
    max_examples=int(os.environ.get("SKVAE_FUZZ_EXAMPLES", 60)),
    deadline=None,
    derandomize="SKVAE_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

DTYPES = ["int8", "int32", "int64", "bool", "float16", "float32", "float64"]

# What a clear error says: the problem, in the words of the message.
CLEAR = re.compile(
    "|".join(
        [
            r"contains NaN",
            r"contains infinity",
            r"too large",
            r"at least \d+ samples?",
            r"minimum of \d+ is required",
            r"n_samples",
            r"has \d+ features, but",
            r"n_components",
            r"[Tt]raining diverged",
            r"needs X in \[0, 1\]",
            r"Complex data",
            r"could not convert",
            r"strings",
            r"Expected 2D array",
            r"Found array with dim",
            r"NoneType",
            r"singular",
        ]
    )
)


def _expected(warning):
    """The library's own warnings, not numeric trouble leaking out of NumPy,
    SciPy or torch: short training, posterior collapse, and partial_fit
    starting anew after a fit that kept no scatter matrix."""
    if issubclass(warning.category, ConvergenceWarning | PosteriorCollapseWarning):
        return True
    if issubclass(warning.category, scipy.linalg.LinAlgWarning):
        # PCA's score with every direction kept and some variance within
        # rounding of zero: it inverts the ill-conditioned covariance, as
        # scikit-learn's does (its estimator checks score such a model).
        return True
    return warning.category is UserWarning and "partial_fit starts" in str(
        warning.message
    )


class _Raised:
    def __init__(self, exc):
        self.exc = exc


def _call(fn, *args):
    """``fn(*args)``, or a :class:`_Raised` for a clear ValueError / TypeError.

    Anything else (a torch RuntimeError, an IndexError, an unclear message,
    a numeric warning) fails the test.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(*args)
        except (ValueError, TypeError) as exc:
            assert not isinstance(exc, np.linalg.LinAlgError), repr(exc)
            assert CLEAR.search(str(exc)), f"unclear error: {exc!r}"
            out = _Raised(exc)
    leaked = [w for w in caught if not _expected(w)]
    # NumPy's warnings from sums over X near its dtype's maximum, which
    # overflow: scikit-learn's finiteness check sums X, and so do the
    # covariance route's column means (which then raise "too large").
    leaked = [w for w in leaked if "encountered in reduce" not in str(w.message)]
    assert not leaked, [f"{w.category.__name__}: {w.message}" for w in leaked]
    return out


# ------------------------------------------------------------ strategies


# The "huge" values of each dtype: its extremes, and for float32 and float64
# 1e30 (fine in either) and values that only float64 holds.
HUGE = {
    "float16": [float(np.finfo(np.float16).max)],
    "float32": [1e30, 1e30, 3e38],
    "float64": [1e30, 1e30, 1e200, 1e308],
}


def _big(draw, dtype):
    if dtype == np.bool_:
        return True
    if dtype.kind in "iu":
        return np.iinfo(dtype).max
    return draw(st.sampled_from(HUGE[dtype.name]), label="huge")


@st.composite
def matrices(draw):
    """``(X, kind)``: an array of a random dtype, shape and kind of values."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES), label="dtype"))
    n = draw(st.integers(1, 12), label="n_samples")
    d = draw(st.integers(1, 5), label="n_features")
    kind = draw(
        st.sampled_from(
            ["normal", "normal", "huge", "huge_column", "constant_columns", "constant"]
            + (["nan", "inf"] if dtype.kind == "f" else [])
        ),
        label="kind",
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    scale = draw(st.sampled_from([1e-3, 1.0, 100.0]), label="scale")
    X = rng.normal(0.0, scale, (n, d))
    big = _big(draw, dtype)
    if kind == "huge":  # a few entries at ±big
        mask = rng.random((n, d)) < 0.3
        X[mask] = big * rng.choice([-1, 1], mask.sum())
    elif kind == "huge_column":  # one feature at the scale of big
        X[:, rng.integers(d)] = big * rng.uniform(-1, 1, n)
    elif kind == "constant_columns":
        cols = rng.random(d) < 0.5
        X[:, cols] = rng.choice([0.0, 1.0, -7.0, big])
    elif kind == "constant":
        X[:] = rng.choice([0.0, 3.0, big])
    elif kind in ("nan", "inf"):
        bad = {"nan": np.nan, "inf": rng.choice([np.inf, -np.inf])}[kind]
        X[rng.integers(n), rng.integers(d)] = bad
    if dtype == np.bool_:
        X = X > 0
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        # The largest float below int64's max, which as a float rounds up to 2**63.
        top = np.nextafter(float(info.max), 0.0)
        X = np.clip(np.round(X), info.min, top).astype(dtype)
    else:
        with np.errstate(over="ignore"):
            X = X.astype(dtype)
    return X, kind


def _pca(draw):
    return PCAReducer(
        n_components=draw(
            st.sampled_from([None, 1, 2, 0.5, 0.99, "mle"]), label="n_components"
        ),
        whiten=draw(st.booleans(), label="whiten"),
        svd_solver=draw(
            st.sampled_from(["auto", "full", "covariance_eigh", "randomized"]),
            label="svd_solver",
        ),
        random_state=0,
    )


_SMALL = dict(
    hidden_layer_sizes=(8,),
    max_iter=2,
    batch_size=4,
    precision="float32",
    random_state=0,
)


def _ae(draw):
    return AutoencoderTransformer(
        n_components=draw(st.integers(1, 3), label="n_components"),
        loss=draw(
            st.sampled_from(["squared_error", "squared_error", "binary_cross_entropy"]),
            label="loss",
        ),
        **_SMALL,
    )


def _vae(draw):
    return VAETransformer(
        n_components=draw(st.integers(1, 3), label="n_components"),
        likelihood=draw(
            st.sampled_from(["gaussian", "gaussian", "bernoulli"]), label="likelihood"
        ),
        gaussian_variance=draw(
            st.sampled_from(["learned", "learned_per_feature", 1.0]),
            label="gaussian_variance",
        ),
        **_SMALL,
    )


MAKERS = {"pca": _pca, "ae": _ae, "vae": _vae}


# --------------------------------------------------------------- checks


def _as_numpy(out):
    return out.numpy() if torch.is_tensor(out) else out


def _assert_finite_array(out, shape, what):
    out = _as_numpy(out)
    assert isinstance(out, np.ndarray), what
    assert out.shape == shape, (what, out.shape, shape)
    assert out.dtype.kind == "f", (what, out.dtype)
    assert np.isfinite(out).all(), f"{what} returned non-finite values: {out}"


def _assert_fitted_methods(est, X):
    """transform, inverse_transform, score and score_samples of a fitted ``est``
    on ``X`` give finite, shaped results or clear errors, and change nothing."""
    n, d = X.shape
    snapshot = _snapshot(est)
    Z = _call(est.transform, X)
    if not isinstance(Z, _Raised):
        _assert_finite_array(Z, (n, est.n_components_), "transform")
        X_back = _call(est.inverse_transform, Z)
        if not isinstance(X_back, _Raised):
            _assert_finite_array(X_back, (n, d), "inverse_transform")
    scores = _call(est.score_samples, X)
    if not isinstance(scores, _Raised):
        _assert_finite_array(scores, (n,), "score_samples")
    score = _call(est.score, X)
    if not isinstance(score, _Raised):
        assert isinstance(score, float) and np.isfinite(score), score
    _assert_unchanged(est, snapshot)


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("name", list(MAKERS))
@FUZZ
@given(data=st.data())
def test_fit_and_every_method_give_a_result_or_a_clear_error(name, data):
    est = MAKERS[name](data.draw)
    X, kind = data.draw(matrices(), label="X")
    container = data.draw(st.sampled_from(["numpy", "numpy", "torch"]), label="in")
    Xin = torch.from_numpy(X) if container == "torch" else X
    method = data.draw(
        st.sampled_from(["fit", "fit", "partial_fit", "fit_transform"]), label="method"
    )
    fitted = _call(getattr(est, method), Xin)
    if kind in ("nan", "inf"):
        assert isinstance(fitted, _Raised), f"{method} accepted a non-finite X"
        assert re.search("NaN|infinity", str(fitted.exc)), fitted.exc
    if isinstance(fitted, _Raised):
        # A failed fit leaves nothing behind.
        assert not [k for k in vars(est) if k.endswith("_")], vars(est).keys()
        return
    if method == "fit_transform":
        _assert_finite_array(fitted, (X.shape[0], est.n_components_), method)
    else:
        assert fitted is est
    assert est.n_features_in_ == X.shape[1]
    _assert_fitted_methods(est, Xin)


# One fitted estimator of each family, fitted once; each example works on a
# deep copy, so that an example that does change it cannot spoil the next.
_FITTED = {}


def _fitted(name):
    if name not in _FITTED:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(20, 4))
        if name == "pca":
            est = PCAReducer(n_components=2, svd_solver="covariance_eigh")
        elif name == "ae":
            est = AutoencoderTransformer(n_components=2, **_SMALL)
        else:
            est = VAETransformer(n_components=2, **_SMALL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITTED[name] = est.fit(X)
    return copy.deepcopy(_FITTED[name])


@st.composite
def bad_inputs(draw, n_features):
    """``(X, kind)``: what a user may wrongly pass to a fitted estimator."""
    kind = draw(
        st.sampled_from(
            [
                "nan",
                "inf",
                "n_features",
                "complex",
                "strings",
                "none",
                "1d",
                "3d",
                "empty",
                "huge",
                "int",
                "bool",
                "float16",
            ]
        ),
        label="bad",
    )
    n = draw(st.integers(1, 6), label="n_samples")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    X = rng.normal(size=(n, n_features))
    if kind == "nan":
        X[rng.integers(n), rng.integers(n_features)] = np.nan
    elif kind == "inf":
        X[rng.integers(n), rng.integers(n_features)] = -np.inf
    elif kind == "n_features":
        d = draw(st.integers(1, 6).filter(lambda d: d != n_features), label="d")
        X = rng.normal(size=(n, d))
    elif kind == "complex":
        X = X + 1j
    elif kind == "strings":
        X = X.astype(str)
        X[0, 0] = "a"
    elif kind == "none":
        X = X.astype(object)
        X[0, 0] = None
    elif kind == "1d":
        X = X[0]
    elif kind == "3d":
        X = X[None]
    elif kind == "empty":
        X = X[:0]
    elif kind == "huge":
        X[0] = draw(st.sampled_from(HUGE["float64"]), label="huge") * np.sign(X[0])
    elif kind == "int":
        X = np.round(X).astype(np.int32)
    elif kind == "bool":
        X = X > 0
    elif kind == "float16":
        X = X.astype(np.float16)
    return X, kind


BAD_ALWAYS = {"nan", "inf", "complex", "strings", "none", "1d", "3d", "empty"}


@pytest.mark.parametrize("name", list(MAKERS))
@FUZZ
@given(data=st.data())
def test_bad_calls_leave_a_fitted_estimator_unchanged(name, data):
    est = _fitted(name)
    method = data.draw(
        st.sampled_from(
            [
                "fit",
                "partial_fit",
                "transform",
                "inverse_transform",
                "score",
                "score_samples",
            ]
        ),
        label="method",
    )
    n_in = est.n_components_ if method == "inverse_transform" else est.n_features_in_
    X, kind = data.draw(bad_inputs(n_in), label="X")
    snapshot = _snapshot(est)
    out = _call(getattr(est, method), X)
    refit = method in ("fit", "partial_fit")
    if kind in BAD_ALWAYS or (kind == "n_features" and method != "fit"):
        assert isinstance(out, _Raised), f"{method} accepted a {kind} X"
    if isinstance(out, _Raised) or not refit:
        _assert_unchanged(est, snapshot)
    if isinstance(out, _Raised):
        return
    if method in ("transform", "inverse_transform"):
        n_out = est.n_components_ if method == "transform" else est.n_features_in_
        _assert_finite_array(out, (X.shape[0], n_out), method)
    elif method == "score_samples":
        _assert_finite_array(out, (X.shape[0],), method)
    elif method == "score":
        assert isinstance(out, float) and np.isfinite(out), out
    else:
        assert out is est
        _assert_fitted_methods(est, X)


# ------------------------------------------------ regressions the fuzz found


@pytest.mark.parametrize(
    "X, params",
    [
        (np.zeros((2, 1), dtype=np.int8), {}),  # no variance at all
        (np.ones((10, 3)), {"n_components": 1}),  # constant, so no noise either
        (np.ones((10, 3)), {"n_components": 0}),
        (np.c_[np.arange(6.0), np.ones(6)], {}),  # a constant feature
    ],
)
def test_pca_with_a_singular_covariance_says_so(X, params):
    # Was: scipy's LinAlgError "A singular matrix detected" (or, with no
    # component kept, a division by zero and an infinite score).
    pca = PCAReducer(**params).fit(X)
    assert pca.noise_variance_ == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for call in (pca.get_precision, lambda: pca.score(X)):
            with pytest.raises(ValueError, match="covariance is singular") as info:
                call()
            assert not isinstance(info.value, np.linalg.LinAlgError)
    # A full-rank model still has a precision and a score.
    Y = np.random.default_rng(0).normal(size=(10, 3))
    full = PCAReducer().fit(Y)
    assert full.noise_variance_ == 0.0
    assert np.isfinite(full.score(Y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_autoencoder_scores_data_at_the_scale_of_1e30(dtype):
    # Was NaN: the Gaussian log-likelihood was computed in the units of X, in
    # float32, where squared residuals of 1e30 overflow.
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(10, 3)) * 1e30).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ae = AutoencoderTransformer(n_components=2, **_SMALL).fit(X)
    X64 = X.astype(np.float64)
    residual = ((X64 - ae.inverse_transform(ae.transform(X))) ** 2).sum(1)
    var = ae.noise_variance_
    expected = -0.5 * (residual / var + 3 * np.log(2 * np.pi * var))
    np.testing.assert_allclose(ae.score_samples(X), expected, rtol=1e-4)
    assert np.isfinite(ae.score(X))


@pytest.mark.parametrize("name", list(MAKERS))
@pytest.mark.parametrize("big", [1e30, 1e200, 1e308])
def test_a_result_that_overflows_is_an_error_not_nan(name, big):
    # Was: NaN or inf returned silently, for finite X (and Z) beyond what the
    # model's float32 (PCA: float64) arithmetic holds.
    est = _fitted(name)
    X = np.ones((3, est.n_features_in_))
    X[0] = big
    snapshot = _snapshot(est)
    calls = [(est.transform, X), (est.score_samples, X), (est.score, X)]
    calls.append((est.inverse_transform, np.full((3, est.n_components_), big)))
    if name == "vae":
        calls.append((est.transform_std, X))
    for method, arg in calls:
        out = _call(method, arg)
        if isinstance(out, _Raised):
            assert "too large" in str(out.exc), out.exc
        else:
            assert np.isfinite(out).all(), (method.__name__, big, out)
    _assert_unchanged(est, snapshot)


@pytest.mark.parametrize(
    "method, solver",
    [
        ("fit", "full"),
        ("fit", "randomized"),
        ("fit", "covariance_eigh"),
        ("partial_fit", "auto"),
    ],
)
@pytest.mark.parametrize(
    "X",
    [
        np.array([[-3e38], [3e38]], dtype=np.float32),  # centred: 6e38 overflows
        np.array(  # centring is finite, the SVD fails to converge
            [
                [-1.26e-4, 6.69e-4, 1.22e-3, -3e38],
                [-3e38, 3e38, 1.75e-3, -1.11e-4],
                [-6.89e-4, 1.44e-4, -1.91e-4, 8.52e-4],
                [3.39e-5, 1.37e-5, -7.15e-4, 4.7e-4],
                [-1.03e-3, 3e38, 1.52e-3, -3e38],
            ],
            dtype=np.float32,
        ),
        np.array([[0.0, -3e38], [1.0, -3e38], [2.0, 3e38]], dtype=np.float32),
    ],
)
def test_pca_on_float32_near_its_maximum_says_too_large(method, solver, X):
    # Was: torch's LinAlgError from the SVD ("failed to converge").
    pca = PCAReducer(svd_solver=solver, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="too large for its dtype"):
            getattr(pca, method)(X)
    if solver in ("full", "randomized"):
        assert not caught, [str(w.message) for w in caught]
    assert not [k for k in vars(pca) if k.endswith("_")]


@pytest.mark.parametrize("Est", [AutoencoderTransformer, VAETransformer])
@pytest.mark.parametrize(
    "X",
    [
        np.array([[-1e200], [1e200]]),  # its variance overflows float64 too
        np.array([[1e100, 0.0], [-1e100, 1.0], [0.0, 2.0]]),
    ],
)
def test_neural_fit_on_float64_beyond_float32_says_too_large(Est, X):
    # Was: a NumPy overflow warning, then "Training diverged" in the first
    # batch: the networks compute in float32, where X is infinite.
    est = _fitted("ae" if Est is AutoencoderTransformer else "vae")
    snapshot = _snapshot(est)
    for method in ("fit", "partial_fit"):
        X_in = X if method == "fit" else np.resize(X, (3, est.n_features_in_))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match="too large for float32"):
                getattr(est, method)(X_in)
        _assert_unchanged(est, snapshot)
