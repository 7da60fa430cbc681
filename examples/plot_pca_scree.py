r"""
PCA: explained variance and what k components keep
===================================================

Principal component analysis orders the directions of the data by the
variance along them. The *scree plot* shows each component's share of the
total variance and the running total; its tail is what a :math:`k`-component
reconstruction loses, since PCA's squared reconstruction error is the sum of
the discarded eigenvalues (see :doc:`plot_pca_linear_autoencoder` and the
:doc:`user guide </user_guide>`).
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from skvae import PCAReducer
from skvae.datasets import load_train_test
from skvae.plotting import plot_reconstructions, plot_scree

# MNIST where it is found, the 8x8 digits otherwise; SKVAE_GALLERY_FAST=1 (the
# docs build in CI) takes the digits and few epochs.
FAST = os.environ.get("SKVAE_GALLERY_FAST", "0") not in ("", "0")
data = load_train_test("digits" if FAST else "mnist", fallback="digits")
X_train, X_test, y_train, y_test = data.X_train, data.X_test, data.y_train, data.y_test
MAX_ITER = 100 if FAST else "auto"

# %%
# The scree plot
# --------------
#
# The leading components carry most of the variance. The figure shows the
# first 100 (all 64 of the digits): their ratios are shares of the *total*
# variance, so on MNIST the cumulative curve stops short of 1.

pca = PCAReducer().fit(X_train)
ax = plot_scree(pca, n_components=100)

# %%
# The same PCA, which kept every component, gives the number of components
# each share of the variance takes.

ratio = np.cumsum(pca.explained_variance_ratio_)
for share in (0.5, 0.8, 0.9, 0.95, 0.99):
    print(
        f"{share:.0%} of the variance: {np.searchsorted(ratio, share) + 1} components"
    )

# %%
# ``n_components`` as a share of the variance picks the smallest :math:`k`
# that reaches it.

pca95 = PCAReducer(n_components=0.95).fit(X_train)
print(pca95.n_components_, "components explain", pca95.explained_variance_ratio_.sum())

# %%
# What k components keep
# ----------------------
#
# Test images (top row of each panel) and their reconstructions from a few
# principal components (bottom row). Two components keep the rough mass of a
# digit; it takes tens of them before the strokes are sharp.

ks = [2, 10, 50] if X_train.shape[1] > 100 else [2, 5, 20]
fig, axes = plt.subplots(len(ks), 1, figsize=(8, 1.9 * len(ks)), layout="constrained")
for k, ax in zip(ks, axes, strict=True):
    plot_reconstructions(PCAReducer(n_components=k).fit(X_train), X_test, ax=ax)
    ax.set_title(f"k = {k}")
plt.show()
