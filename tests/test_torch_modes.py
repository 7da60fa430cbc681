"""The caller's torch settings never break a call, and are left as they were."""

import contextlib
import pickle
import warnings

import numpy as np
import pytest
import sklearn
import torch

from skvae import (
    AutoencoderTransformer,
    FitInterruptedWarning,
    PCAReducer,
    VAETransformer,
)

SMALL = dict(hidden_layer_sizes=(16,), max_iter=2, random_state=0)


@contextlib.contextmanager
def default_dtype(dtype):
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


@contextlib.contextmanager
def default_device(device):
    before = torch.get_default_device()
    torch.set_default_device(device)
    try:
        yield
    finally:
        torch.set_default_device(before)


MODES = {
    "no_grad": torch.no_grad,
    "inference_mode": torch.inference_mode,
    "autocast_bf16": lambda: torch.autocast("cpu", dtype=torch.bfloat16),
    "autocast_fp16": lambda: torch.autocast("cpu", dtype=torch.float16),
    "default_float64": lambda: default_dtype(torch.float64),
    "default_float16": lambda: default_dtype(torch.float16),
    # Where every tensor made without a device has no data at all.
    "default_device_meta": lambda: default_device("meta"),
    "all_at_once": lambda: _stacked(
        torch.inference_mode(),
        torch.autocast("cpu", dtype=torch.bfloat16),
        default_dtype(torch.float64),
    ),
}


@contextlib.contextmanager
def _stacked(*managers):
    with contextlib.ExitStack() as stack:
        for manager in managers:
            stack.enter_context(manager)
        yield


def _make(cls):
    return PCAReducer(2) if cls is PCAReducer else cls(2, **SMALL)


def _outputs(est, X):
    """Everything a fitted estimator computes, as NumPy arrays."""
    Z = est.transform(X)
    out = {
        "transform": Z,
        "inverse_transform": est.inverse_transform(Z),
        "score_samples": est.score_samples(X),
        "interpolate": est.interpolate(X[0], X[1], 3),
    }
    if hasattr(est, "sample"):
        out["sample"] = est.sample(4, random_state=0)
        out["transform_std"] = est.transform_std(X)
    return out


def _torch_state():
    return (
        torch.is_grad_enabled(),
        torch.is_inference_mode_enabled(),
        torch.is_autocast_enabled("cpu"),
        torch.get_autocast_dtype("cpu"),
        torch.get_default_dtype(),
        torch.get_default_device(),
    )


@pytest.fixture(scope="module")
def data():
    return np.random.default_rng(0).normal(size=(120, 8))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer, PCAReducer])
def test_fits_and_inference_ignore_the_callers_modes(cls, mode, data):
    reference = _make(cls).fit(data)
    expected = _outputs(reference, data)
    with MODES[mode]():
        state = _torch_state()
        fitted = _make(cls).fit(data)
        got_fitted, got_reference = _outputs(fitted, data), _outputs(reference, data)
        restored = pickle.loads(pickle.dumps(reference))
        got_restored = _outputs(restored, data)
        # The caller's modes are theirs again after every call.
        assert _torch_state() == state
    for got in (got_fitted, got_reference, got_restored):
        for name, value in expected.items():
            assert got[name].dtype == value.dtype, name
            # Bitwise: the networks' arithmetic is float32 whatever the modes.
            np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_a_tensor_made_in_inference_mode_trains(data):
    with torch.inference_mode():
        X = torch.as_tensor(data, dtype=torch.float32)
    expected = AutoencoderTransformer(2, **SMALL).fit(data.astype(np.float32))
    got = AutoencoderTransformer(2, **SMALL).fit(X)
    np.testing.assert_array_equal(
        got.transform(data.astype(np.float32)),
        expected.transform(data.astype(np.float32)),
    )


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer, PCAReducer])
@pytest.mark.parametrize("where", ["estimator", "global"])
def test_interpolate_under_pandas_output(cls, where, data):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(data, columns=[f"f{i}" for i in range(data.shape[1])])
    est = _make(cls)
    context = contextlib.nullcontext()
    if where == "estimator":
        est.set_output(transform="pandas")
    else:
        context = sklearn.config_context(transform_output="pandas")
    with context, warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        est.fit(X)
        assert isinstance(est.transform(X), pd.DataFrame)
        rows = est.interpolate(X.iloc[0], X.iloc[1], 4)
        frames = est.interpolate(X.iloc[[0]], X.iloc[[1]], 4)
    plain = _make(cls).fit(data).interpolate(data[0], data[1], 4)
    np.testing.assert_allclose(rows, plain, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(frames, plain, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_ctrl_c_keeps_the_epochs_where_warnings_are_errors(cls, data):
    def interrupt_after_two(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    est = cls(2, hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    est.set_params(callbacks=[interrupt_after_two])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(KeyboardInterrupt) as caught:
            est.fit(data)
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 2
    # The warning was raised as an error and is the interrupt's context.
    assert isinstance(caught.value.__context__, FitInterruptedWarning)


def test_sample_refuses_an_output_larger_than_memory(data):
    vae = VAETransformer(2, **SMALL).fit(data)
    with pytest.raises(MemoryError, match=r"sample\(1000000000000\) needs .* GiB"):
        vae.sample(10**12)
