"""Seeded, session-scoped data and fitted models shared by the test modules."""

import socket
import warnings
from urllib.error import URLError

import numpy as np
import pytest
from sklearn.datasets import load_digits


@pytest.fixture(scope="session")
def digits():
    """sklearn's 8x8 digits scaled to [0, 1] (float64), and their labels."""
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="session")
def digits_small(digits):
    """A 400-sample subset of the digits, for quick fits."""
    X, y = digits
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(X))[:400]
    return X[idx], y[idx]


@pytest.fixture(scope="session")
def fitted_vae(digits):
    """A small Bernoulli VAE fitted on the digits. Do not mutate."""
    from skvae import VAETransformer

    X, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VAETransformer(
            n_components=4,
            hidden_layer_sizes=(64,),
            likelihood="bernoulli",
            max_iter=15,
            random_state=0,
        ).fit(X)


@pytest.fixture(scope="session")
def fitted_ae(digits):
    """A small autoencoder fitted on the digits. Do not mutate."""
    from skvae import AutoencoderTransformer

    X, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoencoderTransformer(
            n_components=4, hidden_layer_sizes=(64,), max_iter=15, random_state=0
        ).fit(X)


@pytest.fixture(scope="session")
def pinned():
    """Training settings that tests with measured margins assume: a constant
    learning rate and float32 arithmetic. Only the parameters that this
    version of the neural reducers has are included, so the dict can be
    splatted into either one whatever its version."""
    from skvae import AutoencoderTransformer, VAETransformer

    wanted = {"learning_rate": "constant", "precision": "float32"}
    names = set(VAETransformer._get_param_names())
    names &= set(AutoencoderTransformer._get_param_names())
    return {k: v for k, v in wanted.items() if k in names}


@pytest.fixture
def offline(monkeypatch):
    """A fetch_openml that fails as it does without a network: it warns
    before each retry, then raises URLError. Returns the names it was called
    with."""
    calls = []

    def fetch_openml(name, **kwargs):
        calls.append(name)
        for _ in range(3):
            warnings.warn(
                "A network error occurred while downloading https://api.openml.org"
                "/api/v1/json/data/list/data_name/mnist_784/limit/2/data_version/1."
                " Retrying...",
                UserWarning,
                stacklevel=2,
            )
        raise URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    from skvae import datasets

    monkeypatch.setattr(datasets, "fetch_openml", fetch_openml)
    return calls
