"""Small image data sets, shaped and scaled for the reducers.

Pixel intensities come scaled to ``[0, 1]`` in float32 by default: that is the
range a Bernoulli likelihood needs and the dtype the neural reducers compute in.
MNIST is read from a local ``.npz`` file and fetched from OpenML only when asked
to, so nothing here touches the network behind the user's back.
"""

from __future__ import annotations

import http.client
import os
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import sklearn.datasets
from sklearn.datasets import fetch_openml, get_data_home
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions, validate_params

__all__ = ["MNIST_ENV_VAR", "load_digits", "load_mnist", "load_train_test"]


def __dir__():
    # dir() and tab completion show the public API, not the imports.
    return list(__all__)


#: Environment variable naming an MNIST ``.npz`` file or a directory holding one.
MNIST_ENV_VAR = "SKVAE_MNIST"

_MNIST_FILENAME = "mnist.npz"
_MNIST_KEYS = ("X_train", "y_train", "X_test", "y_test")
_IMAGE_SHAPE = (28, 28)
# OpenML's mnist_784 lists the 60000 training images before the 10000 test
# images, in the order of LeCun's original files.
_N_TRAIN, _N_TEST = 60_000, 10_000
# What a corrupt or truncated archive, or one holding pickled object arrays,
# raises from np.load or from reading a member.
_UNREADABLE = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
# What fetch_openml raises when it cannot reach OpenML: URLError and timeouts
# are OSErrors, a connection cut mid-response an HTTPException.
_NETWORK_ERRORS = (OSError, http.client.HTTPException)


@validate_params(
    {"scale": ["boolean"], "return_X_y": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def load_digits(*, scale=True, return_X_y=False):
    """Load the 8x8 handwritten digits of :func:`sklearn.datasets.load_digits`.

    Parameters
    ----------
    scale : bool, default=True
        Divide the pixel counts (0 to 16) by 16, giving float32 values in
        ``[0, 1]`` that a Bernoulli likelihood can model. With False the data
        are scikit-learn's float64 counts, unchanged.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data`` of shape (1797, 64), ``target`` of shape (1797,),
        ``images`` of shape (1797, 8, 8), ``feature_names``, ``target_names``
        and ``DESCR``.
    (X, y) : tuple of ndarray
        When ``return_X_y`` is True.

    See Also
    --------
    sklearn.datasets.load_digits : The loader this one wraps.
    load_mnist : The 28x28 handwritten digits.

    Examples
    --------
    >>> from skvae.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> X.shape, X.dtype, float(X.min()), float(X.max())
    ((1797, 64), dtype('float32'), 0.0, 1.0)
    """
    digits = sklearn.datasets.load_digits()
    data, images, descr = digits.data, digits.images, digits.DESCR
    if scale:
        # Division by a power of two is exact, so nothing is lost but float64.
        data = np.divide(data, 16, dtype=np.float32)
        images = np.divide(images, 16, dtype=np.float32)
        descr += "\nskvae: pixel values are divided by 16, into [0, 1], as float32.\n"
    if return_X_y:
        return data, digits.target
    return Bunch(
        data=data,
        target=digits.target,
        images=images,
        feature_names=digits.feature_names,
        target_names=digits.target_names,
        DESCR=descr,
    )


@validate_params(
    {
        "path": [str, os.PathLike, None],
        "subset": [StrOptions({"train", "test", "all"})],
        "scale": ["boolean"],
        "flatten": ["boolean"],
        "return_X_y": ["boolean"],
        "download_if_missing": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_mnist(
    path=None,
    *,
    subset="train",
    scale=True,
    flatten=True,
    return_X_y=False,
    download_if_missing=False,
):
    """Load the MNIST handwritten digits from a local file, or fetch them once.

    The file is an ``.npz`` archive with the arrays ``X_train`` (60000, 28, 28),
    ``y_train`` (60000,), ``X_test`` (10000, 28, 28) and ``y_test`` (10000,):
    uint8 intensities and integer labels. It is looked for, in this order:

    1. ``path``, when given;
    2. the environment variable ``SKVAE_MNIST``, when set;
    3. ``~/.skvae/mnist.npz``, then ``mnist.npz`` in scikit-learn's data
       home (:func:`sklearn.datasets.get_data_home`);
    4. OpenML's ``mnist_784``, through :func:`sklearn.datasets.fetch_openml`,
       only if ``download_if_missing`` is True. The result is saved as
       ``mnist.npz`` in scikit-learn's data home, where step 3 finds it the
       next time, offline.

    ``path`` and ``SKVAE_MNIST`` may name the file or a directory holding
    ``mnist.npz``. When one of them is given but names nothing, that is an
    error: the search does not fall through to data other than what was asked
    for.

    Parameters
    ----------
    path : str, path-like or None, default=None
        The ``.npz`` file, or a directory holding ``mnist.npz``.
    subset : {"train", "test", "all"}, default="train"
        The 60000 training images, the 10000 test images, or all 70000 with
        the training images first.
    scale : bool, default=True
        Divide intensities by 255, giving float32 values in ``[0, 1]``. With
        False the images are uint8, as stored.
    flatten : bool, default=True
        Return ``data`` of shape (n_samples, 784) rather than
        (n_samples, 28, 28).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    download_if_missing : bool, default=False
        Fetch MNIST from OpenML when no local file is found.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``data``, ``target`` (int64 labels 0 to 9), ``images`` (a
        (n_samples, 28, 28) view of ``data``), ``feature_names``,
        ``target_names``, ``filename`` (the file read) and ``DESCR``.
    (X, y) : tuple of ndarray
        When ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        When MNIST is not found, naming every place looked in; with
        ``download_if_missing=True``, when it could not be fetched either
        (offline, say), naming the network error.
    ValueError
        When the file found is not a valid MNIST archive.

    See Also
    --------
    load_digits : The smaller 8x8 digits, bundled with scikit-learn.
    sklearn.datasets.fetch_openml : The downloader used as a last resort.

    Examples
    --------
    >>> from skvae.datasets import load_mnist
    >>> X, y = load_mnist("~/data/mnist.npz", return_X_y=True)  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((60000, 784), dtype('float32'))
    """
    source = _find_mnist(path)
    if source is None:
        if not download_if_missing:
            raise FileNotFoundError(_not_found_message())
        try:
            arrays, source = _download_mnist()
        except _NETWORK_ERRORS as exc:
            raise FileNotFoundError(_not_found_message(download_error=exc)) from exc
        X, y = _select(arrays, subset)
    else:
        X, y = _read_mnist(source, subset)

    images = X
    if scale:
        images = np.divide(X, 255, dtype=np.float32)
    data = images.reshape(-1, images.shape[1] * images.shape[2]) if flatten else images
    if return_X_y:
        return data, y
    rows, cols = np.indices(_IMAGE_SHAPE).reshape(2, -1)
    return Bunch(
        data=data,
        target=y,
        images=images,
        feature_names=[f"pixel_{r}_{c}" for r, c in zip(rows, cols, strict=True)],
        target_names=np.arange(10),
        filename=str(source),
        DESCR=_mnist_descr(len(y), scale),
    )


# --------------------------------------------------------------------------
# Finding the file.


@validate_params(
    {
        "name": [StrOptions({"digits", "mnist"})],
        "path": [str, os.PathLike, None],
        "fallback": [StrOptions({"digits"}), None],
        "download_if_missing": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def load_train_test(
    name="digits",
    *,
    path=None,
    fallback=None,
    download_if_missing=False,
    random_state=0,
):
    """Training and test images of the digits or MNIST, scaled to ``[0, 1]``.

    The data of the demo and the gallery. MNIST keeps its own split (60000
    training and 10000 test images); the digits are split 75/25, stratified
    by class and seeded by ``random_state``.

    Parameters
    ----------
    name : {"digits", "mnist"}, default="digits"
    path : str, path-like or None, default=None
        MNIST's ``.npz`` file or its directory; see :func:`load_mnist`.
    fallback : {"digits"} or None, default=None
        Load the digits instead when MNIST is asked for and not found (the
        returned ``name`` says which was loaded); None raises the
        :class:`FileNotFoundError`.
    download_if_missing : bool, default=False
        Fetch MNIST from OpenML when no local file is found.
    random_state : int, RandomState instance or None, default=0
        Seeds the digits' split.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        With ``X_train``, ``X_test`` (float32, one image per row),
        ``y_train``, ``y_test``, ``name`` ("digits" or "mnist") and
        ``image_shape`` ((8, 8) or (28, 28)).

    Examples
    --------
    >>> from skvae.datasets import load_train_test
    >>> data = load_train_test("digits")
    >>> data.X_train.shape, data.X_test.shape, data.image_shape
    ((1347, 64), (450, 64), (8, 8))
    """
    from sklearn.model_selection import train_test_split

    if name == "mnist":
        try:
            X_train, y_train = load_mnist(
                path, return_X_y=True, download_if_missing=download_if_missing
            )
            X_test, y_test = load_mnist(path, subset="test", return_X_y=True)
            return Bunch(
                X_train=X_train,
                X_test=X_test,
                y_train=y_train,
                y_test=y_test,
                name="mnist",
                image_shape=_IMAGE_SHAPE,
            )
        except FileNotFoundError:
            if fallback is None:
                raise
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=random_state
    )
    return Bunch(
        X_train=X_train,
        X_test=X_test,
        y_train=y_train,
        y_test=y_test,
        name="digits",
        image_shape=(8, 8),
    )


def _conventional_places():
    """The default locations of ``mnist.npz``, in the order they are tried."""
    return [
        Path("~/.skvae").expanduser() / _MNIST_FILENAME,
        Path(get_data_home()) / _MNIST_FILENAME,
    ]


def _as_archive(location):
    """The archive ``location`` names: itself, or ``mnist.npz`` in a directory."""
    location = Path(location).expanduser()
    return location / _MNIST_FILENAME if location.is_dir() else location


def _find_mnist(path):
    """Path of the archive to read, or None when every place is empty.

    An explicit ``path`` or ``SKVAE_MNIST`` that names nothing raises: loading
    some other copy instead would hide the mistake.
    """
    how_to_fix = (
        "Give the path of an .npz archive with the arrays "
        f"{', '.join(_MNIST_KEYS)}, or of a directory holding {_MNIST_FILENAME}."
    )
    if path is not None:
        archive = _as_archive(path)
        if not archive.is_file():
            raise FileNotFoundError(
                f"path={str(path)!r}: no file {archive}. {how_to_fix}"
            )
        return archive
    env = os.environ.get(MNIST_ENV_VAR)
    if env:
        archive = _as_archive(env)
        if not archive.is_file():
            raise FileNotFoundError(
                f"The environment variable {MNIST_ENV_VAR}={env!r} names no file "
                f"{archive}. {how_to_fix} Or unset {MNIST_ENV_VAR} to use the "
                "default places."
            )
        return archive
    for candidate in _conventional_places():
        if candidate.is_file():
            return candidate
    return None


def _not_found_message(download_error=None):
    """Where MNIST was looked for and how to provide it.

    ``download_error`` is the exception of a failed fetch from OpenML, or None
    when no download was attempted.
    """
    places = "\n".join(f"  - {place}" for place in _conventional_places())
    cache = _conventional_places()[1]
    if download_error is None:
        fetched = ""
        download = (
            "  - call load_mnist(download_if_missing=True) to fetch mnist_784 "
            f"from OpenML once and cache it as {cache}."
        )
    else:
        fetched = f"Fetching mnist_784 from OpenML failed too: {download_error}\n"
        download = (
            "  - retry when OpenML can be reached: the download is cached as "
            f"{cache}, for use offline."
        )
    return (
        "MNIST was not found. No path was given, the environment variable "
        f"{MNIST_ENV_VAR} is not set, and none of these files exists:\n"
        f"{places}\n"
        f"{fetched}"
        "To fix this, do one of:\n"
        "  - pass load_mnist(path=...), the path of an .npz archive with the "
        f"arrays {', '.join(_MNIST_KEYS)} (uint8 images 28x28), or of a "
        f"directory holding {_MNIST_FILENAME};\n"
        f"  - set the environment variable {MNIST_ENV_VAR} to such a path;\n"
        f"{download}"
    )


# --------------------------------------------------------------------------
# Reading and checking it.


def _read_mnist(source, subset):
    """``(X, y)`` of ``subset`` from the archive at ``source``, validated."""
    try:
        # allow_pickle=False: an .npz from elsewhere must not run code on load.
        archive = np.load(source, allow_pickle=False)
    except _UNREADABLE as exc:
        raise ValueError(f"{source} is not a readable .npz archive: {exc}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"{source} holds a single array, not an .npz archive with the arrays "
            f"{', '.join(_MNIST_KEYS)}."
        )
    with archive:
        missing = [key for key in _MNIST_KEYS if key not in archive.files]
        if missing:
            raise ValueError(
                f"{source} lacks the arrays {', '.join(missing)}; an MNIST archive "
                f"holds {', '.join(_MNIST_KEYS)}, this one holds "
                f"{', '.join(archive.files) or 'nothing'}."
            )
        # An NpzFile decompresses a member on access: read only what is asked for.
        parts = ("train", "test") if subset == "all" else (subset,)
        arrays = {}
        for part in parts:
            for key in (f"X_{part}", f"y_{part}"):
                try:
                    arrays[key] = archive[key]
                except _UNREADABLE as exc:
                    raise ValueError(f"{source}: cannot read {key}: {exc}") from exc
    _check_arrays(arrays, source)
    return _select(arrays, subset)


def _check_arrays(arrays, source):
    """Raise ValueError unless ``arrays`` hold 28x28 uint8 images and labels 0-9."""
    for part in ("train", "test"):
        if f"X_{part}" not in arrays:
            continue
        X, y = arrays[f"X_{part}"], arrays[f"y_{part}"]
        if X.ndim == 2 and X.shape[1] == np.prod(_IMAGE_SHAPE):
            X = X.reshape(-1, *_IMAGE_SHAPE)  # flattened images are fine too
        if X.ndim != 3 or X.shape[1:] != _IMAGE_SHAPE:
            raise ValueError(
                f"{source}: X_{part} has shape {X.shape}; expected "
                "(n_samples, 28, 28) or (n_samples, 784)."
            )
        if y.shape != (len(X),):
            raise ValueError(
                f"{source}: y_{part} has shape {y.shape}; expected ({len(X)},), "
                f"one label per image of X_{part}."
            )
        if X.dtype != np.uint8:
            # Another integer type holding 0..255 converts exactly; floats do
            # not say whether they are already scaled, so they are refused.
            if X.dtype.kind not in "iu" or (X.size and (X.min() < 0 or X.max() > 255)):
                raise ValueError(
                    f"{source}: X_{part} has dtype {X.dtype}; expected uint8 "
                    "intensities 0 to 255."
                )
            X = X.astype(np.uint8)
        if y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() > 9)):
            raise ValueError(f"{source}: y_{part} must hold integer labels 0 to 9.")
        arrays[f"X_{part}"], arrays[f"y_{part}"] = X, y


def _select(arrays, subset):
    """``(X, y)`` of ``subset``: uint8 images (n, 28, 28) and int64 labels."""
    if subset == "all":
        X = np.concatenate([arrays["X_train"], arrays["X_test"]])
        y = np.concatenate([arrays["y_train"], arrays["y_test"]])
    else:
        X, y = arrays[f"X_{subset}"], arrays[f"y_{subset}"]
    return X, y.astype(np.int64)


# --------------------------------------------------------------------------
# Fetching it.


def _download_mnist():
    """Fetch mnist_784 from OpenML, cache it as an archive, return both.

    Returns ``(arrays, path)``: the four arrays, and the cache file (or the
    OpenML name, when the cache could not be written).
    """
    with warnings.catch_warnings():
        # fetch_openml warns "A network error occurred ... Retrying..." before
        # each retry; offline, that is noise ahead of the error it then raises,
        # which load_mnist reports with the places it looked in. The retries
        # themselves stay, for a network that drops a request.
        warnings.filterwarnings(
            "ignore", message="A network error occurred", category=UserWarning
        )
        bunch = fetch_openml("mnist_784", version=1, as_frame=False)
    X, y = np.asarray(bunch.data), np.asarray(bunch.target)
    n_total, n_pixels = _N_TRAIN + _N_TEST, int(np.prod(_IMAGE_SHAPE))
    if X.shape != (n_total, n_pixels) or y.shape != (n_total,):
        raise ValueError(
            f"OpenML's mnist_784 came with data of shape {X.shape} and target of "
            f"shape {y.shape}; expected ({n_total}, {n_pixels}) and ({n_total},)."
        )
    # OpenML serves intensities as floats and labels as strings.
    X = X.astype(np.uint8).reshape(n_total, *_IMAGE_SHAPE)
    y = y.astype(np.int64).astype(np.uint8)
    arrays = {
        "X_train": X[:_N_TRAIN],
        "y_train": y[:_N_TRAIN],
        "X_test": X[_N_TRAIN:],
        "y_test": y[_N_TRAIN:],
    }
    cache = Path(get_data_home()) / _MNIST_FILENAME
    try:
        _save_atomically(cache, arrays)
    except OSError as exc:
        warnings.warn(
            f"MNIST was fetched but could not be cached as {cache} ({exc}); it "
            "will be fetched again next time.",
            RuntimeWarning,
            stacklevel=3,
        )
        return arrays, "openml:mnist_784"
    return arrays, cache


def _save_atomically(target, arrays):
    """Write an .npz so that an interrupted write never leaves a partial file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".mnist-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mnist_descr(n_samples, scale):
    values = "float32 in [0, 1] (divided by 255)" if scale else "uint8, 0 to 255"
    return (
        "MNIST handwritten digits\n"
        "------------------------\n\n"
        f"{n_samples} grey-scale images of handwritten digits 0-9, 28x28 "
        f"pixels; values are {values}.\n\n"
        "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, Gradient-based learning "
        "applied to document recognition, Proc. IEEE 86(11), 1998.\n"
    )
