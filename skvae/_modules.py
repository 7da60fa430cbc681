"""The torch modules the neural reducers train, and how they are built.

An autoencoder here is a pair of networks, an encoder and a decoder built
from recipes (:mod:`skvae.nn`), in a module that gives them the rows in the
shape they take. Plain :class:`torch.nn.Module` code with no scikit-learn
in it.
"""

from __future__ import annotations

import contextlib
import math
import threading

import torch
from torch import nn

from .nn import BUILT_IN

#: The parameter prefixes whose parameters go to a network's constructor.
ROUTES = ("encoder", "decoder")


def is_routed(name):
    """Whether ``name`` is a prefixed parameter, such as ``encoder__channels``."""
    prefix, sep, rest = name.partition("__")
    return bool(sep) and prefix in ROUTES and rest.isidentifier()


def recipe_name(role, recipe):
    """The name a record gives the ``role`` network of a parameter value.

    A built-in network's name (``"mlp"`` for None; skvae.nn's classes by
    their name too, so that their files load without code), or
    ``"python:module.QualifiedName"`` for a user's recipe; None for a value
    that is no recipe.
    """
    if recipe is None:
        return "mlp"
    if isinstance(recipe, str):
        return recipe
    built_in = BUILT_IN[role]
    name = next((name for name, cls in built_in.items() if cls is recipe), None)
    if name is None and callable(recipe):
        module = getattr(recipe, "__module__", None) or "?"
        qualname = getattr(recipe, "__qualname__", type(recipe).__qualname__)
        name = f"python:{module}.{qualname}"
    return name


class _Pair(nn.Module):
    """An encoder and a decoder, with the rows reshaped as they take them.

    The estimators work on flat rows; the networks take ``(batch,
    *input_shape)`` and the decoder returns ``(batch, *input_shape)``.
    """

    def __init__(self, encoder, decoder, input_shape):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.input_shape = tuple(input_shape)

    def _encode(self, x):
        return self.encoder(x.reshape(x.shape[0], *self.input_shape))

    def decode(self, z):
        """The decoder's output for the codes ``z``, as flat rows."""
        return self.decoder(z).reshape(z.shape[0], -1)


class Autoencoder(_Pair):
    """A deterministic autoencoder: ``encode`` gives the codes."""

    def encode(self, x):
        return self._encode(x)

    embed = encode

    def forward(self, x):
        return self.decode(self.encode(x))


class ProjectedAutoencoder(Autoencoder):
    """An autoencoder whose networks work in a fixed linear subspace of the rows.

    With ``n_features``, the module takes rows of ``n_features`` numbers,
    projects them onto the ``input_shape`` rows of the buffer ``basis``
    (orthonormal; whoever trains the module sets it, to principal axes) and
    gives the networks those coordinates; the decoder's output is mapped back
    with the same basis. Without, it is an :class:`Autoencoder`. The networks
    are cheaper on the subspace than on wide rows, and training that reads
    the rows already projected (``encode_inputs``, ``decode_inputs``) never
    touches the wide ones.
    """

    def __init__(self, encoder, decoder, input_shape, n_features=None):
        super().__init__(encoder, decoder, input_shape)
        basis = None
        if n_features is not None:
            basis = torch.zeros(math.prod(self.input_shape), n_features)
        self.register_buffer("basis", basis)

    def encode_inputs(self, x):
        """The codes of rows given as the networks take them (projected)."""
        return self._encode(x)

    def decode_inputs(self, z):
        """The decoder's output for ``z``, as flat rows in the networks' space."""
        return super().decode(z)

    def encode(self, x):
        return self._encode(x if self.basis is None else x @ self.basis.T)

    embed = encode

    def decode(self, z):
        out = super().decode(z)
        return out if self.basis is None else out @ self.basis


class VariationalAutoencoder(_Pair):
    """Gaussian encoder ``q(z|x)`` and a decoder for ``p(x|z)``.

    ``encode`` splits the encoder's output into the posterior mean and
    log-variance; ``decode`` gives the Bernoulli logits or the Gaussian mean
    of ``p(x|z)``. With ``output_variance="shared"`` (one number) or
    ``"per_feature"`` the module also holds the Gaussian's log-variance, a
    buffer that whoever trains the module sets (a "calibrated decoder",
    Rybkin et al., 2021); it starts at 0, the variance of data scaled to
    unit mean variance per feature.
    """

    def __init__(self, encoder, decoder, input_shape, output_variance=None):
        super().__init__(encoder, decoder, input_shape)
        if output_variance is not None:
            size = 1 if output_variance == "shared" else math.prod(self.input_shape)
            self.register_buffer("log_variance", torch.zeros(size, dtype=torch.float32))

    def encode(self, x):
        """``(mean, logvar)`` of the posterior, each ``(batch, n_components)``."""
        return self._encode(x).chunk(2, dim=-1)

    def embed(self, x):
        """The posterior mean: the code ``transform`` gives."""
        return self.encode(x)[0]

    def observation_variance(self):
        """The variance of ``p(x|z)``, floored at ``MIN_VARIANCE``."""
        return torch.exp(self.log_variance.clamp(min=_LOG_MIN_VARIANCE))

    def forward(self, x, eps):
        """Decode one reparameterised sample ``z = mean + std * eps``."""
        mean, logvar = self.encode(x)
        z = torch.addcmul(mean, torch.exp(0.5 * logvar), eps)
        return self.decode(z), mean, logvar


#: The smallest calibrated observation variance, relative to the data's mean
#: variance per feature: a standard deviation of 1 % of the data's spread. It
#: keeps the likelihood bounded where a feature is reproduced exactly (a
#: constant pixel), whose maximum-likelihood variance would be 0.
MIN_VARIANCE = 1e-4
_LOG_MIN_VARIANCE = math.log(MIN_VARIANCE)

# torch's global random state and default dtype are process-wide: two
# threads building at once would draw each other's numbers.
_BUILDING = threading.Lock()


def build(make, generator):
    """``make()``, a module, built on the CPU in float32 from ``generator``'s draws.

    torch's global generator is forked and set to ``generator``'s state while
    ``make`` runs, so whatever a constructor draws (each layer's
    ``reset_parameters``, a user's own ``torch.nn.init`` calls) comes from
    ``generator``, which then moves on by as many draws; the global state is
    as it was afterwards. The default dtype is float32 meanwhile, so a
    caller's ``torch.set_default_dtype`` changes neither the dtype nor the
    values drawn.
    """
    with _BUILDING, torch.random.fork_rng(devices=()), _float32_default():
        torch.set_rng_state(generator.get_state())
        with torch.device("cpu"):
            module = make()
        generator.set_state(torch.get_rng_state())
    return module.to(torch.float32)


def on_meta(make):
    """``make()`` on the ``meta`` device, in float32: its shapes, no memory."""
    with torch.device("meta"):
        return make().to(torch.float32)


@contextlib.contextmanager
def _float32_default():
    dtype = torch.get_default_dtype()
    if dtype == torch.float32:
        yield
        return
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(dtype)
