"""Save and load fitted reducers without pickle.

:func:`save` writes one `safetensors <https://huggingface.co/docs/safetensors>`_
file: the fitted arrays (network weights, optimizer moments, the random
generator's state, ``mean_``, ``components_``...) as tensors, and in its
metadata JSON with the format version, the class name, ``get_params()`` and
the scalar fitted attributes (``n_iter_``, ``history_``...). :func:`load`
reads it back. Neither step unpickles anything: a safetensors file is a JSON
header and raw numbers, the JSON is decoded into plain values (numbers,
strings, lists, tuples, dicts, arrays) and the only classes a file can name
are skvae's three reducers. Loading a file cannot run code.

The same state is what pickle, joblib and :mod:`skops.io` store, so a model
loads on a CPU-only machine whichever way it was saved. For
:func:`skops.io.load`, trust :data:`SKOPS_TRUSTED_TYPES`.

Examples
--------
>>> import tempfile, pathlib
>>> from sklearn.datasets import load_digits
>>> from skvae import VAETransformer
>>> from skvae import io
>>> X, _ = load_digits(return_X_y=True)
>>> vae = VAETransformer(hidden_layer_sizes=(32,), max_iter=2, random_state=0).fit(X)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "vae.safetensors"
>>> io.save(vae, path)
>>> again = io.load(path)
>>> bool((again.transform(X) == vae.transform(X)).all())
True
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from numbers import Integral

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file
from sklearn.base import clone

from . import _autoencoder, _neighbours, _pca, _vae  # noqa: F401  (they register in REDUCERS)
from ._base import REDUCERS
from ._data import resolve_device
from ._modules import ROUTES, is_routed, recipe_name
from .nn import DECODERS, ENCODERS

__all__ = ["FORMAT_VERSION", "SKOPS_TRUSTED_TYPES", "load", "save"]


def __dir__():
    # dir() and tab completion show the public API, not the imports.
    return list(__all__)


#: The version of the file layout :func:`save` writes. :func:`load` reads
#: this version only and refuses others with a ``ValueError``. Version 2:
#: networks recorded as recipes (skvae.nn), user recipes by name only.
FORMAT_VERSION = 2

_FORMAT = "skvae"

#: The classes a file may name: nothing else is ever instantiated on load.
_CLASSES = REDUCERS

#: The types to pass as ``trusted`` to :func:`skops.io.load` for skvae's
#: reducers and :class:`~skvae.NoveltyDetector`, alone or inside a
#: scikit-learn pipeline. Their state holds only Python and NumPy values,
#: which skops trusts by default (a detector's ``method="latent"`` adds
#: scikit-learn's neighbour index).
SKOPS_TRUSTED_TYPES = [
    *(f"{cls.__module__}.{cls.__name__}" for cls in _CLASSES.values()),
    "skvae._novelty.NoveltyDetector",
]

# Tagged JSON values: a JSON object with exactly one of these keys stands for
# a value JSON has no literal for. Any other object is a dict with str keys.
_TAGS = ("__tuple__", "__float__", "__array__", "__str_array__", "__items__")
_TAGS += ("__scalar__", "__device__", "__network__")

#: The classes a ``__network__`` value names: skvae.nn's built-in networks.
_NETWORKS = {cls.__name__: cls for cls in (*ENCODERS.values(), *DECODERS.values())}


def save(estimator, path):
    """Write a fitted (or unfitted) reducer to ``path`` without pickle.

    The file is a safetensors file: arrays as tensors, parameters and scalar
    fitted attributes as JSON in its metadata, with a format version. A file
    is written whole or not at all: it is written next to ``path`` and
    renamed into place.

    Parameters
    ----------
    estimator : PCAReducer, AutoencoderTransformer or VAETransformer
        The reducer to save. Its parameters must be plain values: a
        ``callbacks`` list or a ``RandomState`` instance cannot be stored
        without pickle (set them to None or an int first).
    path : str or os.PathLike
        Where to write; an existing file is replaced.

    Raises
    ------
    TypeError
        If ``estimator`` is not one of skvae's reducers (save a pipeline with
        :func:`skops.io.dump`).
    ValueError
        If a parameter or attribute cannot be stored without pickle; the
        message names it.

    See Also
    --------
    load : Read the file back.
    """
    cls = type(estimator)
    if _CLASSES.get(cls.__name__) is not cls:
        raise TypeError(
            f"skvae.io.save stores skvae's reducers ({', '.join(_CLASSES)}), not "
            f"{cls.__module__}.{cls.__name__}. Save pipelines and other estimators "
            "with skops.io.dump (see skvae.io.SKOPS_TRUSTED_TYPES)."
        )
    params = estimator.get_params(deep=False)
    # The networks' prefixed parameters are among the parameters.
    state = {
        k: v
        for k, v in estimator.__getstate__().items()
        if k not in params and k != "_network_params"
    }
    # A user's network is code, which a file never holds: its recipe is
    # stored by name, and load() takes it from an estimator the user made.
    names = {role: recipe_name(role, params.get(role)) for role in ROUTES}
    recipes = {
        role: name.removeprefix("python:")
        for role, name in names.items()
        if name is not None and name.startswith("python:")
    }
    params = {k: None if k in recipes else v for k, v in params.items()}
    tensors = {}
    metadata = {
        "format": _FORMAT,
        "format_version": str(FORMAT_VERSION),
        "class": cls.__name__,
        "skvae_version": _skvae_version(),
        "params": json.dumps(_encode(params, ("params",), tensors), allow_nan=False),
        "state": json.dumps(_encode(state, (), tensors), allow_nan=False),
        "recipes": json.dumps(recipes),
    }
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".skvae-", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(path, *, device=None, like=None):
    """Read a reducer written by :func:`save`, without unpickling anything.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    like : estimator or None, default=None
        For a model with your own ``encoder`` or ``decoder`` (see
        :mod:`skvae.nn`): an estimator of the saved class constructed with
        the same recipes, which supply the code a file never holds. The
        result is a clone of it with the file's parameters, fitted state and
        weights, each array checked against the network the recipes build
        from the file's record. A file of built-in networks needs none.
    device : str, torch.device or None, default=None
        Where the network of an autoencoder or VAE is put for inference and
        further training. None: the device it was fitted on if this machine
        has it, else the CPU, so a model trained on a GPU loads on a
        CPU-only machine. ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``
        put it there (``"cuda"`` where CUDA is not available is an error).
        Ignored for :class:`~skvae.PCAReducer`, which transforms on the CPU.

    Returns
    -------
    estimator : PCAReducer, AutoencoderTransformer or VAETransformer
        Equal to the saved one: the same parameters, fitted attributes,
        optimizer and random state, so that ``partial_fit`` or a warm start
        continues exactly as the saved model would have.

    Raises
    ------
    ValueError
        If the file is not a skvae model file (a pickle, a torch checkpoint,
        any other file), if it was written in another format version, or if
        its content is inconsistent.

    See Also
    --------
    save : Write the file.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not a skvae model file.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such file: {path!r}")
    try:
        with safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as exc:  # safetensors raises its own error type
        raise ValueError(
            f"{path!r} is not a skvae model file: it is not a safetensors file "
            f"({exc}). skvae.io.load reads files written by skvae.io.save; it "
            "never unpickles."
        ) from None
    if metadata.get("format") != _FORMAT:
        raise ValueError(
            f"{path!r} is a safetensors file but not a skvae model file (its "
            "metadata has no 'format': 'skvae' entry)."
        )
    version = metadata.get("format_version")
    if version != str(FORMAT_VERSION):
        raise ValueError(
            f"{path!r} is a skvae model file of format version {version!r}; "
            f"this skvae ({_skvae_version()}) reads version {FORMAT_VERSION} "
            "only. Load it with the skvae version that wrote it "
            f"({metadata.get('skvae_version', 'unknown')!r})."
        )
    name = metadata.get("class")
    cls = _CLASSES.get(name)
    if cls is None:
        raise ValueError(
            f"{path!r} names the class {name!r}; skvae.io.load creates only "
            f"{', '.join(_CLASSES)}."
        )
    if like is not None and type(like) is not cls:
        raise TypeError(f"{path!r} holds a {name}; like= is a {type(like).__name__}.")
    try:
        recipes = json.loads(metadata.get("recipes", "{}"))
    except ValueError:
        recipes = None
    if not isinstance(recipes, dict) or not set(recipes) <= set(ROUTES):
        raise ValueError(f"{path!r} is a corrupt skvae model file: bad recipes.")
    if recipes and like is None:
        described = ", ".join(f"{r}={q}" for r, q in recipes.items())
        raise ValueError(
            f"{path!r} holds a {name} with your own network ({described}), "
            "whose code a file never holds: construct the estimator with "
            "those recipes and load with skvae.io.load(path, like=estimator)."
        )
    try:
        params = _decode(json.loads(metadata["params"]), tensors)
        state = _decode(json.loads(metadata["state"]), tensors)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path!r} is a corrupt skvae model file: {exc}") from None
    if not isinstance(params, dict) or not isinstance(state, dict):
        raise ValueError(f"{path!r} is a corrupt skvae model file.")
    unknown = {
        k for k in set(params) - set(cls._get_param_names()) if not is_routed(str(k))
    }
    if unknown:
        raise ValueError(
            f"{path!r} gives {name} parameters it does not have: {sorted(unknown)}."
        )
    if set(params) & set(state) or not all(
        isinstance(k, str) and k.isidentifier() and not k.startswith("__")
        for k in state
    ):
        raise ValueError(
            f"{path!r} is a corrupt skvae model file: bad attribute names."
        )
    if like is None:
        estimator = cls(**params)
    else:
        # The recipes are like's; every other parameter is the file's.
        estimator = clone(like)
        vars(estimator).pop("_network_params", None)
        estimator.set_params(**{k: v for k, v in params.items() if k not in recipes})
    try:
        estimator.__setstate__(state)
    except (AttributeError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(
            f"{path!r} holds a {name} that cannot be rebuilt: {exc}"
        ) from None
    if device is not None and hasattr(estimator, "_place"):
        estimator._place(resolve_device(device))
    return estimator


def _skvae_version():
    from . import __version__

    return __version__


def _encode(value, path, tensors):
    """``value`` as JSON-ready data; its arrays are added to ``tensors``.

    ``path`` (a tuple of keys) names the value in error messages and its
    arrays in the file.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, float):  # also np.float64, a float subclass
        if isinstance(value, np.generic):
            return {"__scalar__": _add_tensor(np.asarray(value), path, tensors)}
        if math.isfinite(value):
            return value
        return {"__float__": repr(value)}
    if isinstance(value, Integral) and type(value) is int:
        return value
    if isinstance(value, np.bool_ | np.integer | np.floating):
        return {"__scalar__": _add_tensor(np.asarray(value), path, tensors)}
    if isinstance(value, list):
        return [_encode(v, (*path, i), tensors) for i, v in enumerate(value)]
    if isinstance(value, tuple) and type(value) is tuple:
        return {
            "__tuple__": [_encode(v, (*path, i), tensors) for i, v in enumerate(value)]
        }
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not (
            len(value) == 1 and next(iter(value)) in _TAGS
        ):
            return {k: _encode(v, (*path, k), tensors) for k, v in value.items()}
        return {
            "__items__": [
                [_encode(k, (*path, "key"), tensors), _encode(v, (*path, k), tensors)]
                for k, v in value.items()
            ]
        }
    if isinstance(value, np.ndarray):
        if value.dtype == object and all(isinstance(v, str) for v in value.flat):
            if value.ndim != 1:
                raise ValueError(
                    f"{_where(path)}: only 1-d arrays of strings are stored."
                )
            return {"__str_array__": list(value)}
        if value.dtype.kind not in "biuf":
            raise ValueError(
                f"{_where(path)} is an array of dtype {value.dtype}, which cannot "
                "be stored without pickle."
            )
        return {"__array__": _add_tensor(value, path, tensors)}
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    if isinstance(value, type) and _NETWORKS.get(value.__name__) is value:
        return {"__network__": value.__name__}
    raise ValueError(
        f"{_where(path)} is a {type(value).__module__}.{type(value).__qualname__}, "
        "which cannot be stored without pickle. Use a plain value (None, a "
        "number, a string), e.g. set_params(callbacks=None, random_state=0), or "
        "save with pickle or skops.io instead."
    )


def _add_tensor(array, path, tensors):
    name = "/".join(str(p) for p in path) or "value"
    unique, n = name, 1
    while unique in tensors:
        unique, n = f"{name}#{n}", n + 1
    # Not np.ascontiguousarray, which turns a 0-d array into a 1-d one.
    tensors[unique] = np.array(array, order="C", copy=not array.flags.c_contiguous)
    return unique


def _where(path):
    head, *rest = path or ("state",)
    if head == "params":
        return f"parameter {rest[0]!r}" + "".join(f"[{p!r}]" for p in rest[1:])
    return f"attribute {head!r}" + "".join(f"[{p!r}]" for p in rest)


def _decode(value, tensors):
    """The inverse of :func:`_encode`: plain values only, never a class by name."""
    if value is None or isinstance(value, bool | str | int | float):
        return value
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        raise ValueError(f"unexpected JSON value {value!r}")
    if len(value) != 1 or next(iter(value)) not in _TAGS:
        return {k: _decode(v, tensors) for k, v in value.items()}
    ((tag, payload),) = value.items()
    if tag == "__tuple__":
        return tuple(_decode(_expect(payload, list), tensors))
    if tag == "__float__":
        if payload not in ("nan", "inf", "-inf"):
            raise ValueError(f"bad float {payload!r}")
        return float(payload)
    if tag == "__array__":
        return tensors[_expect(payload, str)]
    if tag == "__scalar__":
        return tensors[_expect(payload, str)][()]
    if tag == "__str_array__":
        items = _expect(payload, list)
        if not all(isinstance(v, str) for v in items):
            raise ValueError("a string array holds a non-string")
        return np.array(items, dtype=object)
    if tag == "__items__":
        pairs = _expect(payload, list)
        out = {}
        for pair in pairs:
            k, v = _expect(pair, list)
            k = _decode(k, tensors)
            if not isinstance(k, str | int | float | tuple):
                raise ValueError(f"bad dict key {k!r}")
            out[k] = _decode(v, tensors)
        return out
    if tag == "__network__":
        name = _expect(payload, str)
        if name not in _NETWORKS:
            raise ValueError(f"{name!r} is not one of skvae.nn's networks")
        return _NETWORKS[name]
    # "__device__": a string into torch.device, which only parses it.
    return torch.device(_expect(payload, str))


def _expect(value, kind):
    if not isinstance(value, kind):
        raise ValueError(f"expected a {kind.__name__}, got {value!r}")
    return value
