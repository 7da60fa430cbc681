"""
Codes that keep neighbours: four latent spaces side by side
===========================================================

PCA keeps the directions of largest variance, an autoencoder the codes it
can reconstruct from, a VAE codes that fill its prior. None of them asks
that images which look alike get codes that lie together, which is what a
nearest-neighbour classifier and a scatter plot need.
:class:`~skvae.NeighborEmbedding` does: it trains a network on UMAP's loss
over the images' neighbour graph, and a decoder beside it.
"""

# %%
import os
import time

import matplotlib.pyplot as plt
from sklearn.neighbors import KNeighborsClassifier

from skvae import AutoencoderTransformer, NeighborEmbedding, PCAReducer, VAETransformer
from skvae.datasets import load_train_test
from skvae.plotting import plot_interpolation, plot_latent_space

# MNIST where it is found, the 8x8 digits otherwise; SKVAE_GALLERY_FAST=1 (the
# docs build in CI) takes the digits and few epochs.
FAST = os.environ.get("SKVAE_GALLERY_FAST", "0") not in ("", "0")
data = load_train_test("digits" if FAST else "mnist", fallback="digits")
X_train, X_test, y_train, y_test = data.X_train, data.X_test, data.y_train, data.y_test
MAX_ITER = 100 if FAST else "auto"

# %%
# Four reducers, two dimensions each
# ----------------------------------
#
# Each with its defaults but for the two dimensions (and the epochs of the
# fast build). For each: the seconds to fit, the seconds to encode the test
# images, and the accuracy of a 5-nearest-neighbour classifier fitted on the
# training codes and scored on the test codes.

reducers = {
    "PCA": PCAReducer(n_components=2),
    "Autoencoder": AutoencoderTransformer(
        n_components=2, max_iter=MAX_ITER, random_state=0
    ),
    "VAE": VAETransformer(n_components=2, max_iter=MAX_ITER, random_state=0),
    "NeighborEmbedding": NeighborEmbedding(
        n_components=2, max_iter=MAX_ITER, random_state=0
    ),
}
for name, reducer in reducers.items():
    start = time.perf_counter()
    reducer.fit(X_train)
    fitted = time.perf_counter() - start
    start = time.perf_counter()
    Z_test = reducer.transform(X_test)
    encoded = time.perf_counter() - start
    knn = KNeighborsClassifier(5).fit(reducer.transform(X_train), y_train)
    print(
        f"{name:18s} fit {fitted:6.1f} s   transform {encoded:.3f} s   "
        f"5-NN {knn.score(Z_test, y_test):.3f}"
    )

# %%
# The test images in each latent space
# ------------------------------------

fig, axes = plt.subplots(2, 2, figsize=(11, 10), layout="constrained")
for ax, (name, reducer) in zip(axes.ravel(), reducers.items(), strict=True):
    plot_latent_space(reducer, X_test, y_test, ax=ax, s=2)
    ax.set_title(name)

# %%
# PCA's two components overlap most digits. The autoencoder separates more
# of them, in long arms from the origin; the VAE packs them into its prior's
# disc, where neighbouring classes blur into each other. The neighbour
# embedding's classes are islands: each image's code lies among the codes of
# the images that look like it, which is what the 5-NN column measures.
#
# Its decoder learned to invert the codes, so a path between two codes can
# be decoded as for the autoencoder. Within an island the images change
# gradually; the path between islands crosses codes that no image has.

first = {digit: X_test[y_test == digit][0] for digit in (1, 7)}
ax = plot_interpolation(reducers["NeighborEmbedding"], first[1], first[7], n_steps=10)
ax.set_title("NeighborEmbedding: decoding the path from a 1 to a 7")
plt.show()
