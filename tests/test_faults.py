"""Faults: interrupts and exceptions during fit, and transform under threads."""

import copy
import functools
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from skvae import AutoencoderTransformer, PCAReducer, VAETransformer, _training
from skvae._training import FitInterruptedWarning

NEURAL = [AutoencoderTransformer, VAETransformer]
# The built-in convolutional networks, for the interrupts.
CONV_VAE = functools.partial(
    VAETransformer,
    encoder="conv",
    decoder="conv",
    image_shape=(1, 8, 8),
    encoder__channels=(4,),
    decoder__channels=(4,),
)
N_BATCHES = 4  # per epoch: 400 digits in batches of 100


@pytest.fixture
def X(digits_small):
    return digits_small[0]


def _make(Est, **params):
    defaults = dict(
        n_components=2,
        hidden_layer_sizes=(16,),
        batch_size=100,
        max_iter=8,
        random_state=0,
    )
    return Est(**{**defaults, **params})


def _fit(est, X, method="fit"):
    """Call ``method``; return the KeyboardInterrupt (or None) and the warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            getattr(est, method)(X)
        except KeyboardInterrupt as exc:
            return exc, [w.category for w in caught], caught
    return None, [w.category for w in caught], caught


def _interrupt_at_epoch(k):
    """A callback that presses Ctrl-C after epoch ``k`` (1-based)."""

    def callback(record):
        if record["epoch"] == k:
            raise KeyboardInterrupt

    return callback


def _stop_at_epoch(k):
    return lambda record: record["epoch"] == k


def _interrupt_at_batch(monkeypatch, j):
    """Make the ``j``-th optimiser step (1-based, counted over the fit) raise."""
    step, calls = _training.train_step, [0]

    def interrupted(*args, **kwargs):
        calls[0] += 1
        if calls[0] == j:
            raise KeyboardInterrupt
        return step(*args, **kwargs)

    monkeypatch.setattr(_training, "train_step", interrupted)


def _assert_same_weights(a, b):
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def _without_time(history):
    return [{k: v for k, v in r.items() if k != "time"} for r in history]


def _assert_same_as_stopped(est, Est, X, k, **params):
    """``est`` equals an uninterrupted fit stopped by a callback after epoch k."""
    ref = _make(Est, callbacks=[_stop_at_epoch(k)], **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(X)
    assert est.n_iter_ == ref.n_iter_ == k
    _assert_same_weights(est, ref)
    assert est.loss_curve_ == ref.loss_curve_
    assert _without_time(est.history_) == _without_time(ref.history_)
    assert est.validation_scores_ == ref.validation_scores_
    assert est.best_validation_score_ == ref.best_validation_score_
    np.testing.assert_array_equal(est.transform(X), ref.transform(X))


def _assert_equal(a, b, path="state"):
    """Deep, bitwise equality of estimator attributes (modules by state_dict)."""
    if isinstance(a, torch.nn.Module):
        assert isinstance(b, torch.nn.Module), path
        _assert_equal(a.state_dict(), b.state_dict(), path)
    elif torch.is_tensor(a):
        assert torch.is_tensor(b) and torch.equal(a, b), path
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for key in a:
            _assert_equal(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), path
    else:
        assert type(a) is type(b) and a == b, path


def _snapshot(est):
    return copy.deepcopy(est.get_params()), copy.deepcopy(est.__dict__)


def _assert_unchanged(est, snapshot):
    params, state = snapshot
    _assert_equal(est.get_params(), params, "params")
    _assert_equal(dict(est.__dict__), state)


# ------------------------------------------------------------- interrupts


@pytest.mark.parametrize("Est", [*NEURAL, CONV_VAE], ids=["AE", "VAE", "conv VAE"])
def test_interrupt_in_a_callback_keeps_the_complete_epochs(Est, X):
    est = _make(Est, callbacks=[_interrupt_at_epoch(3)])
    exc, categories, caught = _fit(est, X)
    assert isinstance(exc, KeyboardInterrupt)  # re-raised, after storing
    assert FitInterruptedWarning in categories
    message = str(next(w for w in caught if w.category is FitInterruptedWarning))
    assert "interrupted after 3 complete epochs" in message
    check_is_fitted(est)
    assert est.transform(X).shape == (len(X), 2)
    est.set_params(callbacks=None)
    _assert_same_as_stopped(est, Est, X, 3)


@pytest.mark.parametrize("Est", [*NEURAL, CONV_VAE], ids=["AE", "VAE", "conv VAE"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_interrupt_inside_an_epoch_undoes_that_epoch(
    Est, X, early_stopping, monkeypatch
):
    # Two complete epochs; the third is cut short in its second batch. With
    # early stopping, early stopping's best validation epoch is kept.
    # (With early stopping 320 rows are left for training: still 4 batches.)
    _interrupt_at_batch(monkeypatch, 2 * N_BATCHES + 2)
    est = _make(Est, early_stopping=early_stopping, validation_fraction=0.2)
    exc, categories, _ = _fit(est, X)
    assert isinstance(exc, KeyboardInterrupt)
    assert FitInterruptedWarning in categories
    assert est.n_iter_ == 2
    assert len(est.loss_curve_) == len(est.history_) == 2
    monkeypatch.undo()
    assert np.isfinite(est.score_samples(X)).all()
    assert est.inverse_transform(est.transform(X)).shape == X.shape
    _assert_same_as_stopped(
        est, Est, X, 2, early_stopping=early_stopping, validation_fraction=0.2
    )


@pytest.mark.parametrize("Est", NEURAL)
def test_interrupt_of_a_warm_start_keeps_the_earlier_epochs(Est, X, monkeypatch):
    est = _make(Est, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    est.set_params(warm_start=True)
    _interrupt_at_batch(monkeypatch, N_BATCHES + 1)  # 1 epoch, then Ctrl-C
    exc, categories, _ = _fit(est, X)
    assert isinstance(exc, KeyboardInterrupt)
    assert FitInterruptedWarning in categories
    assert est.n_iter_ == 4
    assert [r["epoch"] for r in est.history_] == [1, 2, 3, 4]


@pytest.mark.parametrize("Est", NEURAL)
@pytest.mark.parametrize("warm_start", [False, True])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_interrupt_in_the_first_epoch_leaves_a_fitted_estimator_as_it_was(
    Est, X, warm_start, method, monkeypatch
):
    est = _make(Est, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    est.set_params(warm_start=warm_start)
    snapshot = _snapshot(est)
    Z = est.transform(X)
    _interrupt_at_batch(monkeypatch, 2)
    exc, categories, _ = _fit(est, X, method)
    assert isinstance(exc, KeyboardInterrupt)
    assert FitInterruptedWarning not in categories
    _assert_unchanged(est, snapshot)
    monkeypatch.undo()
    np.testing.assert_array_equal(est.transform(X), Z)


@pytest.mark.parametrize("Est", NEURAL)
def test_interrupt_in_the_first_epoch_leaves_an_unfitted_estimator_unfitted(
    Est, X, monkeypatch
):
    est = _make(Est)
    _interrupt_at_batch(monkeypatch, 1)
    exc, categories, _ = _fit(est, X)
    assert isinstance(exc, KeyboardInterrupt)
    assert FitInterruptedWarning not in categories
    with pytest.raises(NotFittedError):
        est.transform(X)
    assert not [k for k in vars(est) if k.endswith("_") or k.startswith("_")]


@pytest.mark.parametrize("Est", NEURAL)
@pytest.mark.parametrize("epoch", [1, 2])
def test_an_exception_in_a_callback_leaves_the_estimator_as_it_was(Est, X, epoch):
    est = _make(Est, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)

    def broken(record):
        if record["epoch"] == epoch:
            raise RuntimeError("callback failed")

    est.set_params(callbacks=[broken])
    snapshot = _snapshot(est)
    with pytest.raises(RuntimeError, match="callback failed"):
        est.fit(X)
    _assert_unchanged(est, snapshot)


# ---------------------------------------------------------------- threads


def _fitted(Est):
    if Est is PCAReducer:
        return Est(n_components=3)
    return _make(Est, max_iter=3)


@pytest.mark.parametrize("Est", [PCAReducer, AutoencoderTransformer, VAETransformer])
def test_inference_from_many_threads_equals_serial(Est, digits):
    X = digits[0]
    est = _fitted(Est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    Z = est.transform(X)
    rng = np.random.RandomState(0)
    calls = []
    for _ in range(96):
        start = int(rng.randint(0, len(X) - 10))
        stop = int(rng.randint(start + 1, min(len(X), start + 600)))
        method = ["transform", "inverse_transform", "score_samples"][len(calls) % 3]
        data = Z if method == "inverse_transform" else X
        calls.append((method, data[start:stop]))

    def run(call):
        method, data = call
        return getattr(est, method)(data)

    serial = [run(call) for call in calls]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(run, calls))
    for (method, _), a, b in zip(calls, serial, threaded, strict=True):
        assert a.dtype == b.dtype, method
        np.testing.assert_array_equal(a, b, err_msg=method)
