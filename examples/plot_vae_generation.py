r"""
Generating digits with a VAE
============================

A variational autoencoder's decoder is a generative model: codes drawn from
the prior :math:`\mathcal N(0, I)` decode to new images. This example fits
skvae's default VAE (a calibrated Gaussian decoder, ``kl_weight=1``) with a
two-dimensional latent space, draws samples, decodes a grid over the latent
plane, compares linear and spherical interpolation, and shows the training
curves of the two terms of the ELBO.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from skvae import VAETransformer
from skvae.datasets import load_train_test
from skvae.plotting import (
    plot_interpolation,
    plot_latent_manifold,
    plot_latent_space,
    plot_samples,
    plot_training_curves,
)

# MNIST where it is found, the 8x8 digits otherwise; SKVAE_GALLERY_FAST=1 (the
# docs build in CI) takes the digits and few epochs.
FAST = os.environ.get("SKVAE_GALLERY_FAST", "0") not in ("", "0")
data = load_train_test("digits" if FAST else "mnist", fallback="digits")
X_train, X_test, y_train, y_test = data.X_train, data.X_test, data.y_train, data.y_test
MAX_ITER = 100 if FAST else "auto"

# %%
# Fit the VAE
# -----------
#
# ``early_stopping=True`` holds out 10 % of the training images, so that the
# training curves below have a validation curve too; training keeps the
# weights of the best validation epoch.

vae = VAETransformer(
    n_components=2, max_iter=MAX_ITER, early_stopping=True, random_state=0
)
vae.fit(X_train)
print(f"{vae.n_iter_} epochs, {vae.n_active_units_} active latent dimensions")
print("KL per latent dimension (nats):", np.round(vae.kl_per_dimension_, 2))
print(f"held-out ELBO: {vae.score(X_test):.1f} nats per image")

# %%
# The calibrated decoder's variance, in the units of X: the mean squared
# residual per pixel on the training data. Its loss is the report's "mean
# squared error per pixel + beta * KL" with ``beta = 2 * variance /
# n_features`` (see the user guide).

variance = vae.module_.observation_variance().item() * vae.scale_**2
print(f"decoder variance {variance:.4f} (sigma {variance**0.5:.3f}), ", end="")
print(f"effective beta {2 * variance / X_train.shape[1]:.2e}")

# %%
# The latent space and what it decodes to
# ---------------------------------------
#
# The calibrated decoder behaves like the mean-squared-error recipe with the
# effective weight printed above (on MNIST about 8e-5, between the report's
# 5e-5 and 8e-4; see :doc:`plot_vae_kl_weight`). The codes of the test images
# spread somewhat beyond the prior, roughly one arm per class, with the
# classes that are hardest to tell apart packed near the origin. Decoding a
# grid that is evenly spaced in prior probability (from the 5 % to the 95 %
# quantile of each coordinate) shows how the digits morph into one another
# across the plane.

fig, (ax_codes, ax_grid) = plt.subplots(1, 2, figsize=(13, 6), layout="constrained")
plot_latent_space(vae, X_test, y_test, ax=ax_codes, s=2)
plot_latent_manifold(vae, n_per_side=15, ax=ax_grid)

# %%
# Samples from the prior
# ----------------------

ax = plot_samples(vae, n_samples=64, random_state=0)

# %%
# Linear and spherical interpolation
# ----------------------------------
#
# Between the codes of two test images. Under a Gaussian prior, typical codes
# lie at a typical distance from the origin; the straight segment between two
# of them passes closer to the origin than either. The spherical path
# (``path="spherical"``) keeps the distance from the origin changing
# smoothly from one end to the other instead (White, 2016). With only two
# latent dimensions the two paths stay close and decode to similar strips;
# the difference matters more in higher-dimensional latent spaces, where
# nearly all of the prior's mass lies far from the origin.

rng = np.random.default_rng(1)
pairs = [(0, 1), (3, 8), (4, 7)]
fig, axes = plt.subplots(
    2 * len(pairs), 1, figsize=(10, 2.4 * len(pairs)), layout="constrained"
)
for n, (a, b) in enumerate(pairs):
    i = rng.choice(np.flatnonzero(y_test == a))
    j = rng.choice(np.flatnonzero(y_test == b))
    for ax, path in zip(axes[2 * n : 2 * n + 2], ["linear", "spherical"], strict=True):
        plot_interpolation(vae, X_test[i], X_test[j], n_steps=10, path=path, ax=ax)
        ax.set_title(f"{a} to {b}, {path}", fontsize=9)

# %%
# Training curves
# ---------------
#
# The two terms of the negative ELBO, in nats per image, on the training
# data and on the held-out validation part (computed on the standardised
# data the model works on). The KL term rises while the encoder learns to
# use the latent space; the reconstruction term keeps falling on the
# training images after it has levelled off on the validation images, the
# gap between what the model fits and what generalises.

axes = plot_training_curves(vae)

# %%
# A convolutional VAE, side by side with the MLP
# ----------------------------------------------
#
# The networks are parameters: ``encoder="conv"`` and ``decoder="conv"``
# pick skvae's convolutional encoder and decoder (:mod:`skvae.nn`), and
# ``image_shape`` tells them how each row folds into an image. With 16 latent
# dimensions, where the decoder has room to draw details, the convolutional
# VAE describes MNIST's test images better: its test ELBO is higher by about
# 55 nats per image after 20 epochs (which cost about what the MLP's 50 do)
# and 100 after 50 (``benchmarks/results/conv.md``), and its samples have
# cleaner strokes. With two latent dimensions it does not beat the MLP, nor
# on the 8x8 digits (the documentation's fast build), too small an image for
# convolutions to pay. Both decode the same draws from the prior.

height, width = data.image_shape
mlp16 = VAETransformer(n_components=16, max_iter=MAX_ITER, random_state=0)
conv16 = VAETransformer(
    n_components=16,
    encoder="conv",
    decoder="conv",
    image_shape=(1, height, width),
    max_iter=MAX_ITER if FAST else 20,
    random_state=0,
)
fig, axes = plt.subplots(1, 2, figsize=(12, 6), layout="constrained")
for ax, (label, model) in zip(axes, [("MLP", mlp16), ("conv", conv16)], strict=True):
    model.fit(X_train)
    plot_samples(model, n_samples=64, random_state=0, ax=ax)
    ax.set_title(f"{label}: test ELBO {model.score(X_test):.0f} nats per image")
plt.show()
