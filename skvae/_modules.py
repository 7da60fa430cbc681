"""The torch modules behind the neural reducers: MLPs, a Gaussian encoder head.

Plain :class:`torch.nn.Module` code with no scikit-learn in it. Modules are
built on the ``meta`` device and initialised from a caller's
:class:`torch.Generator`, so building one never consumes the global torch
random state and two builds from equally seeded generators are bitwise equal.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


def mlp(sizes, activation, *, activate_last=False):
    """A stack of ``Linear`` layers with ``activation`` between them.

    ``sizes`` lists the widths from input to output; ``mlp([784, 400, 20])``
    has two layers. The output layer is left linear unless ``activate_last``.
    """
    layers = []
    n_layers = len(sizes) - 1
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if activation != "identity" and (i < n_layers - 1 or activate_last):
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """A deterministic MLP autoencoder.

    The decoder mirrors the encoder. Its output is unconstrained: the mean of
    a Gaussian, or Bernoulli logits (apply a sigmoid for the mean).
    """

    def __init__(
        self, n_features, n_components, hidden_layer_sizes=(), activation="relu"
    ):
        super().__init__()
        hidden = list(hidden_layer_sizes)
        self.encoder = mlp([n_features, *hidden, n_components], activation)
        self.decoder = mlp([n_components, *reversed(hidden), n_features], activation)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class GaussianEncoder(nn.Module):
    """An MLP trunk and one linear head: a diagonal Gaussian's mean and log-variance.

    One head of width ``2 * n_components`` (split in two) rather than two heads
    of ``n_components``: one matrix product instead of two, per batch and in
    the backward pass.
    """

    def __init__(
        self, n_features, n_components, hidden_layer_sizes=(), activation="relu"
    ):
        super().__init__()
        hidden = list(hidden_layer_sizes)
        self.trunk = mlp([n_features, *hidden], activation, activate_last=True)
        self.head = nn.Linear(hidden[-1] if hidden else n_features, 2 * n_components)
        self.n_components = n_components

    def forward(self, x):
        mean, logvar = self.head(self.trunk(x)).chunk(2, dim=-1)
        return mean, logvar


class VariationalAutoencoder(nn.Module):
    """Gaussian encoder ``q(z|x)`` and an MLP decoder for ``p(x|z)``.

    ``encode`` gives the posterior mean and log-variance; ``decode`` gives the
    Bernoulli logits or the Gaussian mean of ``p(x|z)``. With
    ``output_variance="shared"`` (one number) or ``"per_feature"`` the module
    also holds the Gaussian's log-variance, a buffer that whoever trains the
    module sets (a "calibrated decoder", Rybkin et al., 2021); it starts at
    0, the variance of data scaled to unit mean variance per feature.
    """

    def __init__(
        self,
        n_features,
        n_components,
        hidden_layer_sizes=(),
        activation="relu",
        output_variance=None,
    ):
        super().__init__()
        hidden = list(hidden_layer_sizes)
        self.encoder = GaussianEncoder(n_features, n_components, hidden, activation)
        self.decoder = mlp([n_components, *reversed(hidden), n_features], activation)
        if output_variance is not None:
            size = 1 if output_variance == "shared" else n_features
            self.register_buffer("log_variance", torch.empty(size, dtype=torch.float32))

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def observation_variance(self):
        """The variance of ``p(x|z)``, floored at ``MIN_VARIANCE``."""
        return torch.exp(self.log_variance.clamp(min=_LOG_MIN_VARIANCE))

    def forward(self, x, eps):
        """Decode one reparameterised sample ``z = mean + std * eps``."""
        mean, logvar = self.encoder(x)
        z = torch.addcmul(mean, torch.exp(0.5 * logvar), eps)
        return self.decoder(z), mean, logvar


#: The smallest calibrated observation variance, relative to the data's mean
#: variance per feature: a standard deviation of 1 % of the data's spread. It
#: keeps the likelihood bounded where a feature is reproduced exactly (a
#: constant pixel), whose maximum-likelihood variance would be 0.
MIN_VARIANCE = 1e-4
_LOG_MIN_VARIANCE = math.log(MIN_VARIANCE)


def build(module_class, *args, generator, device="cpu", **kwargs):
    """Construct ``module_class(*args, **kwargs)`` and initialise it from ``generator``.

    The module is constructed on the ``meta`` device, where ``nn.Linear``'s
    own initialisation does nothing (it would otherwise draw from the global
    torch generator), then materialised on the CPU, initialised, and moved to
    ``device``. Initialising on the CPU keeps weights identical whatever the
    device.
    """
    module = on_meta(module_class, *args, **kwargs).to_empty(device="cpu")
    init_parameters(module, generator)
    return module.to(device)


def on_meta(module_class, *args, **kwargs):
    """``module_class(*args, **kwargs)`` on the ``meta`` device, in float32.

    float32 whatever torch's default dtype: a caller's
    ``torch.set_default_dtype(torch.float64)`` must not change the network.
    """
    with torch.device("meta"):
        return module_class(*args, **kwargs).to(torch.float32)


@torch.no_grad()
def init_parameters(module, generator):
    """PyTorch's default ``nn.Linear`` initialisation, drawn from ``generator``.

    Weights and biases are uniform on ``±1/sqrt(fan_in)``, which is what
    ``kaiming_uniform_(a=sqrt(5))`` amounts to. Parameters outside a linear
    layer, and buffers (a log-variance), start at zero.
    """
    initialised = set()
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            bound = 1.0 / math.sqrt(layer.in_features) if layer.in_features else 0.0
            layer.weight.uniform_(-bound, bound, generator=generator)
            initialised.add(layer.weight)
            if layer.bias is not None:
                layer.bias.uniform_(-bound, bound, generator=generator)
                initialised.add(layer.bias)
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        if tensor not in initialised:
            tensor.zero_()
    return module
