"""Arrays in, tensors inside, arrays out: device, dtype and randomness helpers.

Nothing here knows about estimators; the estimators call these helpers so that
every reducer treats input, devices and seeds the same way.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.utils import check_random_state


def resolve_device(device):
    """Turn a ``device`` parameter into a :class:`torch.device`.

    ``"auto"`` picks CUDA when it is available and the CPU otherwise.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda' "
            "or 'cuda:N'."
        ) from exc
    if device.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device={str(device)!r} is not supported; use 'auto', 'cpu', 'cuda' "
            "or 'cuda:N'."
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but CUDA is not available; "
            "use device='cpu' or device='auto'."
        )
    return device


def make_generator(random_state, device="cpu"):
    """A private :class:`torch.Generator` seeded from ``random_state``.

    Seeding a private generator, never ``torch.manual_seed``, keeps the global
    torch random state untouched. ``None`` draws the seed from numpy's global
    state, as scikit-learn does.
    """
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    return torch.Generator(device=device).manual_seed(int(seed))


def is_tensor(X):
    return isinstance(X, torch.Tensor)


def to_numpy(X):
    """A CPU numpy view (or copy, from GPU memory) of a tensor; anything else as is.

    Other inputs (lists, DataFrames, sparse matrices) are left for scikit-learn's
    validation to convert or reject with its usual messages.
    """
    if not is_tensor(X):
        return X
    if X.device.type == "meta":
        raise ValueError("X is a tensor on the 'meta' device, which holds no data.")
    if X.dtype in (torch.bfloat16, torch.float16):
        # numpy has no bfloat16; half precision is widened as sklearn would.
        X = X.float()
    return X.detach().cpu().numpy()


def to_tensor(X, device, dtype=None):
    """A tensor on ``device``, sharing memory with ``X`` where it can."""
    if is_tensor(X):
        return X.to(device=device, dtype=dtype)
    with warnings.catch_warnings():
        # Read-only arrays (memory maps) are fine: inputs are never written to.
        warnings.filterwarnings(
            "ignore", message="The given NumPy array is not writable"
        )
        # torch cannot view negative strides; contiguous arrays are not copied.
        tensor = torch.from_numpy(np.ascontiguousarray(X))
    return tensor.to(device=device, dtype=dtype)


def like_input(out, X):
    """Return ``out`` (numpy) as a tensor on ``X``'s device when ``X`` is one.

    A tensor in gives a tensor out, so that torch users stay in torch; any other
    input gives numpy, which downstream scikit-learn estimators expect.
    """
    if is_tensor(X):
        return torch.as_tensor(out, device=X.device)
    return out
