"""
An autoencoder's two-dimensional latent space
=============================================

A non-linear autoencoder squeezes each image through a two-number code and
back. Its code separates the digits better than PCA's first two components,
but nothing asks the codes to fill the plane evenly: the test images crowd
along a few directions from the origin, and the straight line between two
codes crosses empty regions whose decoded images are not digits.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from skvae import AutoencoderTransformer, PCAReducer
from skvae.datasets import load_train_test
from skvae.plotting import plot_interpolation, plot_latent_space, plot_reconstructions

# MNIST where it is found, the 8x8 digits otherwise; SKVAE_GALLERY_FAST=1 (the
# docs build in CI) takes the digits and few epochs.
FAST = os.environ.get("SKVAE_GALLERY_FAST", "0") not in ("", "0")
data = load_train_test("digits" if FAST else "mnist", fallback="digits")
X_train, X_test, y_train, y_test = data.X_train, data.X_test, data.y_train, data.y_test
MAX_ITER = 100 if FAST else "auto"

# %%
# Fit PCA and an autoencoder with two latent dimensions
# -----------------------------------------------------
#
# The autoencoder has the default architecture (hidden layers of 512 and 256
# ReLU units each way) and is trained on the squared error.

pca = PCAReducer(n_components=2).fit(X_train)
ae = AutoencoderTransformer(n_components=2, max_iter=MAX_ITER, random_state=0)
ae.fit(X_train)

# %%
# The test set in the latent space
# --------------------------------

fig, (ax_pca, ax_ae) = plt.subplots(1, 2, figsize=(12, 5.5), layout="constrained")
plot_latent_space(pca, X_test, y_test, ax=ax_pca, s=2)
ax_pca.set_title("PCA, two components")
plot_latent_space(ae, X_test, y_test, ax=ax_ae, s=2)
ax_ae.set_title("Autoencoder, two latent dimensions")

# %%
# The autoencoder's codes have no common scale and no prior to fill: each
# class sits in a long, thin arm, and large parts of the plane hold no test
# image at all. The mean squared reconstruction error per pixel of each
# model:

for name, model in [("PCA", pca), ("autoencoder", ae)]:
    error = np.mean((X_test - model.inverse_transform(model.transform(X_test))) ** 2)
    print(f"{name:12s} {error:.4f}")

# %%
# Reconstructions
# ---------------

ax = plot_reconstructions(ae, X_test, n_images=12)
ax.set_title("Test images (top) and the autoencoder's reconstructions (bottom)")

# %%
# Interpolations between digits
# -----------------------------
#
# Decoding evenly spaced points on the segment between the codes of two test
# images. The path leaves the arms the training images occupy, and the images
# in between are blurred blends or other digits rather than a gradual
# change from one digit to the other.

rng = np.random.default_rng(0)
pairs = [(0, 1), (3, 8), (4, 9), (7, 2)]
fig, axes = plt.subplots(
    len(pairs), 1, figsize=(10, 1.6 * len(pairs)), layout="constrained"
)
for (a, b), ax in zip(pairs, axes, strict=True):
    i = rng.choice(np.flatnonzero(y_test == a))
    j = rng.choice(np.flatnonzero(y_test == b))
    plot_interpolation(ae, X_test[i], X_test[j], n_steps=10, ax=ax)
    ax.set_title(f"{a} to {b}", fontsize=9)
plt.show()
