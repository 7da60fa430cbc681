"""Tests of skvae.datasets on small synthetic archives; no real MNIST, no network."""

from __future__ import annotations

import warnings
from urllib.error import URLError

import numpy as np
import pytest
import sklearn.datasets
from sklearn.utils import Bunch
from sklearn.utils._param_validation import InvalidParameterError

from skvae import datasets
from skvae.datasets import load_digits, load_mnist

N_TRAIN, N_TEST = 6, 4


def make_arrays(n_train=N_TRAIN, n_test=N_TEST, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "X_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "X_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_archive(path, arrays=None, **overrides):
    """Write an MNIST-like .npz at ``path``; ``overrides`` replace (or, as None,
    drop) single arrays."""
    arrays = dict(make_arrays() if arrays is None else arrays)
    for key, value in overrides.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Point every default place at empty temporary folders and cut the network.

    Returns the folders: ``home`` (for ``~/.skvae``), ``data_home`` (scikit-learn's)
    and ``cwd``, a checkout beside a ``shared/data`` folder (this project's
    development layout, which the search must ignore).
    """
    home, data_home = tmp_path / "home", tmp_path / "sklearn_data"
    cwd = tmp_path / "project" / "checkout"
    for folder in (home, data_home, cwd):
        folder.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(data_home))
    monkeypatch.delenv(datasets.MNIST_ENV_VAR, raising=False)
    monkeypatch.chdir(cwd)

    def no_network(*args, **kwargs):
        raise AssertionError("fetch_openml must not be called")

    monkeypatch.setattr(datasets, "fetch_openml", no_network)
    return Bunch(home=home, data_home=data_home, cwd=cwd)


# --------------------------------------------------------------------------
# load_digits


def test_load_digits_scaled():
    raw = sklearn.datasets.load_digits()
    digits = load_digits()
    assert isinstance(digits, Bunch)
    assert digits.data.dtype == np.float32 and digits.images.dtype == np.float32
    assert digits.data.shape == (1797, 64) and digits.images.shape == (1797, 8, 8)
    assert digits.data.min() == 0.0 and digits.data.max() == 1.0
    np.testing.assert_array_equal(digits.data, raw.data / 16)
    np.testing.assert_array_equal(digits.images, raw.images / 16)
    np.testing.assert_array_equal(digits.target, raw.target)
    assert digits.feature_names == raw.feature_names
    assert "divided by 16" in digits.DESCR


def test_load_digits_unscaled_is_sklearn():
    raw = sklearn.datasets.load_digits()
    digits = load_digits(scale=False)
    assert digits.data.dtype == np.float64
    np.testing.assert_array_equal(digits.data, raw.data)
    np.testing.assert_array_equal(digits.images, raw.images)
    assert digits.DESCR == raw.DESCR


def test_load_digits_return_X_y():
    X, y = load_digits(return_X_y=True)
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,)


def test_load_digits_is_keyword_only():
    with pytest.raises(TypeError):
        load_digits(False)


# --------------------------------------------------------------------------
# load_mnist: reading and shaping


@pytest.mark.parametrize("subset", ["train", "test", "all"])
def test_subsets(tmp_path, subset):
    arrays = make_arrays()
    path = write_archive(tmp_path / "m.npz", arrays)
    X, y = load_mnist(path, subset=subset, return_X_y=True)
    if subset == "all":
        images = np.concatenate([arrays["X_train"], arrays["X_test"]])
        labels = np.concatenate([arrays["y_train"], arrays["y_test"]])
    else:
        images, labels = arrays[f"X_{subset}"], arrays[f"y_{subset}"]
    assert X.shape == (len(images), 784) and X.dtype == np.float32
    np.testing.assert_array_equal(X, images.reshape(len(images), -1) / np.float32(255))
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)


def test_scale_and_flatten(tmp_path):
    arrays = make_arrays()
    path = write_archive(tmp_path / "m.npz", arrays)
    raw = load_mnist(path, scale=False, flatten=False)
    assert raw.data.dtype == np.uint8 and raw.data.shape == (N_TRAIN, 28, 28)
    np.testing.assert_array_equal(raw.data, arrays["X_train"])
    scaled = load_mnist(path)
    assert 0.0 <= scaled.data.min() and scaled.data.max() <= 1.0


def test_bunch(tmp_path):
    path = write_archive(tmp_path / "m.npz")
    mnist = load_mnist(path, subset="test")
    assert isinstance(mnist, Bunch)
    assert mnist.data.shape == (N_TEST, 784)
    assert mnist.images.shape == (N_TEST, 28, 28)
    assert np.shares_memory(mnist.data, mnist.images)
    assert mnist.target.shape == (N_TEST,)
    assert len(mnist.feature_names) == 784
    assert mnist.feature_names[:2] == ["pixel_0_0", "pixel_0_1"]
    assert mnist.feature_names[-1] == "pixel_27_27"
    np.testing.assert_array_equal(mnist.target_names, np.arange(10))
    assert mnist.filename == str(path)
    assert "MNIST" in mnist.DESCR and f"{N_TEST} " in mnist.DESCR


def test_flattened_and_wider_integer_archives_are_accepted(tmp_path):
    arrays = make_arrays()
    path = write_archive(
        tmp_path / "m.npz",
        arrays,
        X_train=arrays["X_train"].reshape(N_TRAIN, 784).astype(np.int64),
        y_train=arrays["y_train"].astype(np.int32),
    )
    X, y = load_mnist(path, scale=False, flatten=False, return_X_y=True)
    assert X.dtype == np.uint8
    np.testing.assert_array_equal(X, arrays["X_train"])
    np.testing.assert_array_equal(y, arrays["y_train"])


def test_empty_subset(tmp_path):
    arrays = make_arrays(n_test=0)
    path = write_archive(tmp_path / "m.npz", arrays)
    X, y = load_mnist(path, subset="test", return_X_y=True)
    assert X.shape == (0, 784) and y.shape == (0,)


@pytest.mark.parametrize("subset", ["val", None])
def test_invalid_subset(tmp_path, subset):
    path = write_archive(tmp_path / "m.npz")
    with pytest.raises(InvalidParameterError, match="subset"):
        load_mnist(path, subset=subset)


# --------------------------------------------------------------------------
# load_mnist: where it looks


@pytest.mark.parametrize("as_str", [False, True])
def test_path_file_or_directory(tmp_path, as_str):
    path = write_archive(tmp_path / "folder" / "mnist.npz")
    for given in (path, path.parent):
        mnist = load_mnist(str(given) if as_str else given)
        assert mnist.filename == str(path)


def test_path_expands_user(isolated):
    path = write_archive(isolated.home / "data" / "mnist.npz")
    assert load_mnist("~/data").filename == str(path)


def test_missing_path_raises_without_falling_back(tmp_path, isolated):
    # A copy in a default place must not stand in for an explicit path.
    write_archive(isolated.data_home / "mnist.npz")
    with pytest.raises(FileNotFoundError, match=r"no file .*nope\.npz"):
        load_mnist(tmp_path / "nope.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no file .*empty.mnist\.npz"):
        load_mnist(tmp_path / "empty")


def test_env_var(tmp_path, monkeypatch):
    path = write_archive(tmp_path / "env" / "mnist.npz")
    for given in (path, path.parent):
        monkeypatch.setenv("SKVAE_MNIST", str(given))
        assert load_mnist().filename == str(path)


def test_path_beats_env_var(tmp_path, monkeypatch):
    explicit = write_archive(tmp_path / "a.npz")
    monkeypatch.setenv("SKVAE_MNIST", str(write_archive(tmp_path / "b.npz")))
    assert load_mnist(explicit).filename == str(explicit)


def test_env_var_naming_nothing_raises(tmp_path, monkeypatch, isolated):
    write_archive(isolated.data_home / "mnist.npz")
    monkeypatch.setenv("SKVAE_MNIST", str(tmp_path / "gone.npz"))
    with pytest.raises(FileNotFoundError, match=r"SKVAE_MNIST=.*gone\.npz"):
        load_mnist()


@pytest.mark.parametrize("place", ["home", "data_home"])
def test_conventional_places(isolated, place):
    path = {
        "home": isolated.home / ".skvae" / "mnist.npz",
        "data_home": isolated.data_home / "mnist.npz",
    }[place]
    write_archive(path)
    assert load_mnist().filename == str(path)


def test_conventional_places_order(isolated):
    first = write_archive(isolated.home / ".skvae" / "mnist.npz")
    write_archive(isolated.data_home / "mnist.npz")
    assert load_mnist().filename == str(first)


def test_development_layout_is_not_searched(isolated):
    # ../shared/data relative to the working directory is where this project
    # keeps MNIST beside its checkout; for a user it is an arbitrary folder.
    shared = write_archive(isolated.cwd.parent / "shared" / "data" / "mnist.npz")
    with pytest.raises(FileNotFoundError) as info:
        load_mnist()
    assert "shared" not in str(info.value)
    assert load_mnist(shared).filename == str(shared)


def test_not_found_message(isolated):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist()
    message = str(info.value)
    for place in (
        isolated.home / ".skvae" / "mnist.npz",
        isolated.data_home / "mnist.npz",
    ):
        assert str(place) in message
    for fix in ("path=", "SKVAE_MNIST", "download_if_missing=True"):
        assert fix in message


# --------------------------------------------------------------------------
# load_mnist: validation


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"y_test": None}, "lacks the arrays y_test"),
        ({"X_train": np.zeros((N_TRAIN, 28, 27), np.uint8)}, r"X_train has shape"),
        ({"X_train": np.zeros((N_TRAIN, 28), np.uint8)}, r"X_train has shape"),
        ({"y_train": np.zeros(N_TRAIN + 1, np.uint8)}, r"y_train has shape"),
        ({"y_train": np.zeros((N_TRAIN, 1), np.uint8)}, r"y_train has shape"),
        ({"X_train": np.zeros((N_TRAIN, 28, 28))}, "dtype float64; expected uint8"),
        ({"X_train": np.full((N_TRAIN, 28, 28), 256)}, "expected uint8"),
        ({"y_train": np.full(N_TRAIN, 10)}, "labels 0 to 9"),
        ({"y_train": np.full(N_TRAIN, "3")}, "labels 0 to 9"),
        ({"y_train": np.full(N_TRAIN, 3, dtype=object)}, "cannot read y_train"),
    ],
)
def test_invalid_archive(tmp_path, overrides, match):
    path = write_archive(tmp_path / "m.npz", **overrides)
    with pytest.raises(ValueError, match=match):
        load_mnist(path)


def test_only_the_requested_subset_is_checked(tmp_path):
    # A broken test split does not stop the training split from loading...
    path = write_archive(tmp_path / "m.npz", y_test=np.zeros(1, np.uint8))
    assert load_mnist(path).data.shape == (N_TRAIN, 784)
    # ...but it does stop the test split and "all".
    for subset in ("test", "all"):
        with pytest.raises(ValueError, match="y_test has shape"):
            load_mnist(path, subset=subset)


def test_not_an_npz(tmp_path):
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="single array"):
        load_mnist(single)
    for name, content in [("empty.npz", b""), ("junk.npz", b"not a zip at all")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=r"not a readable \.npz"):
            load_mnist(tmp_path / name)


def test_truncated_archive(tmp_path):
    path = tmp_path / "m.npz"
    np.savez_compressed(path, **make_arrays(n_train=200))
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match=r"m\.npz"):
        load_mnist(path)


# --------------------------------------------------------------------------
# load_mnist: download and cache


@pytest.fixture
def fake_openml(monkeypatch):
    """A stand-in for fetch_openml serving a 10-image mnist_784, as OpenML does:
    float intensities, string labels. Returns the list of calls and the arrays."""
    monkeypatch.setattr(datasets, "_N_TRAIN", N_TRAIN)
    monkeypatch.setattr(datasets, "_N_TEST", N_TEST)
    rng = np.random.default_rng(1)
    n = N_TRAIN + N_TEST
    images = rng.integers(0, 256, (n, 784)).astype(np.float64)
    labels = rng.integers(0, 10, n).astype(str).astype(object)
    calls = []

    def fetch_openml(name, **kwargs):
        calls.append((name, kwargs))
        return Bunch(data=images, target=labels)

    monkeypatch.setattr(datasets, "fetch_openml", fetch_openml)
    return Bunch(calls=calls, images=images, labels=labels.astype(np.int64))


def test_download_splits_and_caches(isolated, fake_openml, monkeypatch):
    mnist = load_mnist(download_if_missing=True, subset="all", scale=False)
    assert [name for name, _ in fake_openml.calls] == ["mnist_784"]
    assert fake_openml.calls[0][1]["as_frame"] is False
    np.testing.assert_array_equal(mnist.data, fake_openml.images)
    np.testing.assert_array_equal(mnist.target, fake_openml.labels)

    cache = isolated.data_home / "mnist.npz"
    assert mnist.filename == str(cache)
    assert sorted(p.name for p in isolated.data_home.iterdir()) == ["mnist.npz"]
    with np.load(cache, allow_pickle=False) as stored:
        assert stored["X_train"].shape == (N_TRAIN, 28, 28)
        assert stored["X_train"].dtype == np.uint8
        np.testing.assert_array_equal(
            stored["X_test"].reshape(N_TEST, -1), fake_openml.images[N_TRAIN:]
        )
        np.testing.assert_array_equal(stored["y_train"], fake_openml.labels[:N_TRAIN])

    # The next call reads the cache and stays offline.
    for download_if_missing in (False, True):
        X, y = load_mnist(
            download_if_missing=download_if_missing, subset="test", return_X_y=True
        )
        expected = fake_openml.images[N_TRAIN:].astype(np.uint8) / np.float32(255)
        np.testing.assert_array_equal(X, expected)
        np.testing.assert_array_equal(y, fake_openml.labels[N_TRAIN:])
    assert len(fake_openml.calls) == 1


def test_download_failure_names_the_places_and_the_error(isolated, offline):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no retry noise before the error
        with pytest.raises(FileNotFoundError) as info:
            load_mnist(download_if_missing=True)
    assert offline == ["mnist_784"]
    message = str(info.value)
    assert str(isolated.home / ".skvae" / "mnist.npz") in message
    assert str(isolated.data_home / "mnist.npz") in message
    assert "OpenML failed" in message
    assert "Temporary failure in name resolution" in message
    # Retrying the download is the advice, not asking for what just failed.
    assert "download_if_missing=True" not in message
    assert isinstance(info.value.__cause__, URLError)


def test_load_train_test_falls_back_when_the_download_fails(offline):
    from skvae.datasets import load_train_test

    data = load_train_test("mnist", download_if_missing=True, fallback="digits")
    assert data.name == "digits" and offline == ["mnist_784"]


def test_download_not_attempted_when_a_path_is_missing(tmp_path, fake_openml):
    with pytest.raises(FileNotFoundError):
        load_mnist(tmp_path / "nope.npz", download_if_missing=True)
    assert fake_openml.calls == []


def test_download_of_unexpected_shape(fake_openml, monkeypatch):
    monkeypatch.setattr(datasets, "_N_TRAIN", N_TRAIN + 1)
    with pytest.raises(ValueError, match="mnist_784 came with data of shape"):
        load_mnist(download_if_missing=True)


def test_download_cache_failure_warns(isolated, fake_openml, monkeypatch):
    def read_only(target, arrays):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(datasets, "_save_atomically", read_only)
    with pytest.warns(RuntimeWarning, match="could not be cached"):
        X, _ = load_mnist(download_if_missing=True, return_X_y=True)
    assert X.shape == (N_TRAIN, 784)
    assert not (isolated.data_home / "mnist.npz").exists()


def test_load_train_test_splits_the_digits_as_scikit_learn_does():
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    from skvae.datasets import load_train_test

    data = load_train_test("digits", random_state=3)
    X, y = sklearn_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.25, stratify=y, random_state=3
    )
    np.testing.assert_allclose(data.X_train, X_train, rtol=1e-6)
    np.testing.assert_allclose(data.X_test, X_test, rtol=1e-6)
    np.testing.assert_array_equal(data.y_train, y_train)
    np.testing.assert_array_equal(data.y_test, y_test)
    assert (data.name, data.image_shape) == ("digits", (8, 8))


def test_load_train_test_reads_mnist_and_falls_back_only_when_asked(tmp_path):
    from skvae.datasets import load_train_test

    path = write_archive(tmp_path / "mnist.npz", make_arrays(30, 12))
    data = load_train_test("mnist", path=path)
    assert data.X_train.shape == (30, 784) and data.X_test.shape == (12, 784)
    assert (data.name, data.image_shape) == ("mnist", (28, 28))
    missing = tmp_path / "nowhere.npz"
    with pytest.raises(FileNotFoundError):
        load_train_test("mnist", path=missing)
    assert load_train_test("mnist", path=missing, fallback="digits").name == "digits"
