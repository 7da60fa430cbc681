"""Networks for the neural reducers: the built-in ones, and the protocol yours follow.

:class:`~skvae.AutoencoderTransformer` and :class:`~skvae.VAETransformer`
train an encoder and a decoder given as *recipes*, as skorch does: the
``encoder`` and ``decoder`` parameters hold a :class:`torch.nn.Module` class
(or any callable that returns a module), a built-in network's name, or None
for the multilayer perceptron of ``hidden_layer_sizes``. Parameters prefixed
``encoder__`` and ``decoder__`` go to the recipe's constructor, so
:func:`~sklearn.base.clone`, ``set_params`` and
:class:`~sklearn.model_selection.GridSearchCV` reach the architecture too::

    VAETransformer(
        n_components=16,
        encoder="conv",
        decoder="conv",
        image_shape=(1, 28, 28),
        encoder__channels=(32, 64),
    )

.. rubric:: The protocol

The estimator constructs each network once per fit, with keyword arguments:

``encoder(input_shape=..., n_outputs=..., **encoder_params)``
    ``input_shape`` is ``image_shape`` when it is set, else
    ``(n_features,)``. The module maps a float32 tensor of shape
    ``(batch, *input_shape)`` to a float32 tensor of shape
    ``(batch, n_outputs)``. An autoencoder asks for ``n_outputs =
    n_components``: the codes. A VAE asks for ``2 * n_components``: the mean
    of the posterior ``q(z|x)`` in the first half of each row, its
    log-variance in the second.

``decoder(n_inputs=..., output_shape=..., **decoder_params)``
    ``n_inputs`` is ``n_components``, ``output_shape`` equals the encoder's
    ``input_shape``. The module maps a float32 tensor of shape ``(batch,
    n_inputs)`` to one of shape ``(batch, *output_shape)``, with no final
    activation: the mean of a Gaussian ``p(x|z)``, or the logits of a
    Bernoulli one (``likelihood="bernoulli"``,
    ``loss="binary_cross_entropy"``).

The rows the networks see are the rows of X, reshaped to ``input_shape``
and, for the squared-error loss and a VAE's learned variance, centred and
divided by one number (the estimator's ``mean_`` and ``scale_``); the
reconstruction is compared with them in those units. ``fit`` runs both
networks on one batch before training and raises a ``ValueError`` naming the
module, what it returned and what was expected, if either breaks this
protocol. Inference calls them in ``eval`` mode, training in ``train`` mode,
so dropout and batch normalisation behave as usual.

.. rubric:: Initialisation

A module is constructed with torch's global random generator forked and
seeded from the estimator's ``random_state``: whatever its ``__init__`` draws
(each layer's ``reset_parameters``, or your own ``torch.nn.init`` calls)
comes from the estimator's random state, so a fit is reproducible, and the
caller's global random state is as it was afterwards. The module is built on
the CPU in float32 and then moved to the estimator's ``device``.

.. rubric:: Saving

pickle, joblib and :mod:`skops.io` store a fitted estimator with your
network, as they store any object (pickle records your class by name and
imports it on load). :func:`skvae.io.save` never stores code: a file of a
model with your network loads with ``skvae.io.load(path,
like=estimator)``, ``estimator`` being one you constructed with the same
recipe. The built-in networks load by name.
"""

from __future__ import annotations

import itertools
import math

from torch import nn

__all__ = ["ConvDecoder", "ConvEncoder", "MLPDecoder", "MLPEncoder"]

ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


def _mlp(sizes, activation, *, activate_last=False):
    """``Linear`` layers of the widths ``sizes``, ``activation`` between them."""
    layers = []
    n_layers = len(sizes) - 1
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if activation != "identity" and (i < n_layers - 1 or activate_last):
            layers.append(ACTIVATIONS[activation]())
    return layers


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}."
        )


class MLPEncoder(nn.Sequential):
    """A multilayer perceptron from ``input_shape`` (flattened) to ``n_outputs``.

    The default encoder of the neural reducers, built from their
    ``hidden_layer_sizes`` and ``activation``.

    Parameters
    ----------
    input_shape : tuple of int
        The shape of one row; it is flattened.
    n_outputs : int
        Width of the output layer, which is linear.
    hidden_layer_sizes : tuple of int, default=(512, 256)
        Widths of the hidden layers, from the input inwards.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
    """

    def __init__(
        self,
        input_shape,
        n_outputs,
        *,
        hidden_layer_sizes=(512, 256),
        activation="relu",
    ):
        _check_activation(activation)
        n_in = math.prod(input_shape)
        hidden = list(hidden_layer_sizes)
        # A separate output layer, so that the trunk of a VAE's encoder ends
        # in an activation as an autoencoder's does.
        super().__init__(
            nn.Flatten(),
            *_mlp([n_in, *hidden], activation, activate_last=True),
            nn.Linear(hidden[-1] if hidden else n_in, n_outputs),
        )


class MLPDecoder(nn.Sequential):
    """A multilayer perceptron from ``n_inputs`` to ``output_shape``.

    Parameters
    ----------
    n_inputs : int
        The number of latent dimensions.
    output_shape : tuple of int
        The shape of one reconstructed row.
    hidden_layer_sizes : tuple of int, default=(512, 256)
        Widths of the hidden layers *as the encoder lists them*, from the data
        inwards: the decoder runs through them in reverse, so one value
        describes a mirrored pair.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
    """

    def __init__(
        self,
        n_inputs,
        output_shape,
        *,
        hidden_layer_sizes=(512, 256),
        activation="relu",
    ):
        _check_activation(activation)
        sizes = [n_inputs, *reversed(list(hidden_layer_sizes)), math.prod(output_shape)]
        super().__init__(*_mlp(sizes, activation), nn.Unflatten(1, tuple(output_shape)))


def _image(shape):
    """``shape`` as ``(channels, *spatial)``: a flat row is one channel."""
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        return (1, *shape)
    if len(shape) not in (2, 3):
        raise ValueError(
            "a convolutional network takes rows of shape (n_features,), "
            f"(channels, length) or (channels, height, width), got {shape}."
        )
    return shape


def _conv_sizes(spatial, n_layers, kernel_size):
    """The spatial sizes after each of ``n_layers`` stride-2 convolutions.

    With a padding of ``kernel_size // 2`` a size never falls below 1, so
    any number of layers fits any image.
    """
    sizes = [tuple(spatial)]
    padding = kernel_size // 2
    for _ in range(n_layers):
        sizes.append(tuple((s + 2 * padding - kernel_size) // 2 + 1 for s in sizes[-1]))
    return sizes


def _geometry(shape, channels, kernel_size, activation):
    """``(image shape, spatial sizes after each layer, innermost map's shape)``."""
    _check_activation(activation)
    image = _image(shape)
    sizes = _conv_sizes(image[1:], len(channels), kernel_size)
    return image, sizes, (channels[-1] if channels else image[0], *sizes[-1])


class ConvEncoder(nn.Module):
    """Stride-2 convolutions, then a linear layer or two, to ``n_outputs``.

    Each convolution halves the height and width (rounding up) and is
    followed by the activation; the feature map is flattened and mapped
    through a hidden layer of ``hidden_size`` units to the linear output.
    Two-dimensional for ``(channels, height, width)`` rows,
    one-dimensional for ``(channels, length)`` rows and for flat rows (one
    channel), where neighbouring features form a signal.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, height, width)``, ``(channels, length)`` or
        ``(n_features,)``.
    n_outputs : int
        Width of the output layer.
    channels : tuple of int, default=(16, 32)
        The channels of each convolution, from the input inwards.
    kernel_size : int, default=3
    hidden_size : int, default=256
        Units of the hidden linear layer; 0 for none.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
    """

    def __init__(
        self,
        input_shape,
        n_outputs,
        *,
        channels=(16, 32),
        kernel_size=3,
        hidden_size=256,
        activation="relu",
    ):
        super().__init__()
        image, _, inner = _geometry(input_shape, channels, kernel_size, activation)
        conv = nn.Conv2d if len(image) == 3 else nn.Conv1d
        layers = [nn.Unflatten(1, image)]
        for c_in, c_out in itertools.pairwise([image[0], *channels]):
            layers += [
                conv(c_in, c_out, kernel_size, stride=2, padding=kernel_size // 2),
                ACTIVATIONS[activation](),
            ]
        n_flat = math.prod(inner)
        widths = [n_flat, hidden_size] if hidden_size else [n_flat]
        layers += [nn.Flatten(), *_mlp([*widths, n_outputs], activation)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        # Unflatten also accepts rows already shaped as images.
        return self.layers(x.reshape(x.shape[0], -1))


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: linear layers, then transposed convolutions.

    Each transposed convolution doubles the height and width, with the
    output padding that lands exactly on the encoder's sizes, so any
    ``output_shape`` is reproduced; the last one has no activation.

    Parameters
    ----------
    n_inputs : int
        The number of latent dimensions.
    output_shape : tuple of int
        The shape of one row, as :class:`ConvEncoder` takes it.
    channels : tuple of int, default=(16, 32)
        As the encoder lists them, from the data inwards; the decoder runs
        through them in reverse.
    kernel_size : int, default=3
    hidden_size : int, default=256
        Units of the hidden linear layer; 0 for none.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
    """

    def __init__(
        self,
        n_inputs,
        output_shape,
        *,
        channels=(16, 32),
        kernel_size=3,
        hidden_size=256,
        activation="relu",
    ):
        super().__init__()
        image, sizes, inner = _geometry(output_shape, channels, kernel_size, activation)
        deconv = nn.ConvTranspose2d if len(image) == 3 else nn.ConvTranspose1d
        widths = [n_inputs, hidden_size] if hidden_size else [n_inputs]
        steps = list(itertools.pairwise([image[0], *channels]))[::-1]
        layers = _mlp(
            [*widths, math.prod(inner)], activation, activate_last=bool(steps)
        )
        layers.append(nn.Unflatten(1, inner))
        padding = kernel_size // 2
        for i, (c_out, c_in) in enumerate(steps):
            small, large = sizes[len(steps) - i], sizes[len(steps) - i - 1]
            # A stride-2 transposed convolution gives 2 (s - 1) - 2 p + k
            # rows; output padding adds the one a rounded-up halving lost.
            extra = tuple(
                big - (2 * (s - 1) - 2 * padding + kernel_size)
                for s, big in zip(small, large, strict=True)
            )
            layers.append(
                deconv(
                    c_in,
                    c_out,
                    kernel_size,
                    stride=2,
                    padding=padding,
                    output_padding=extra if len(extra) > 1 else extra[0],
                )
            )
            if i < len(steps) - 1:
                layers.append(ACTIVATIONS[activation]())
        self.layers = nn.Sequential(*layers)
        self.output_shape = tuple(int(s) for s in output_shape)

    def forward(self, z):
        return self.layers(z).reshape(z.shape[0], *self.output_shape)


#: The networks the ``encoder`` and ``decoder`` parameters take by name.
ENCODERS = {"mlp": MLPEncoder, "conv": ConvEncoder}
DECODERS = {"mlp": MLPDecoder, "conv": ConvDecoder}
BUILT_IN = {"encoder": ENCODERS, "decoder": DECODERS}
