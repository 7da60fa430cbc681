r"""
PCA's error is the sum of the discarded eigenvalues; a linear autoencoder finds it
==================================================================================

A proof by numbers of two facts the :doc:`user guide </user_guide>` states.

1. Keeping the first :math:`k` principal components, PCA's squared
   reconstruction error, summed over the features and averaged over the
   :math:`n` samples it was fitted on, is

   .. math::

      \frac{1}{n} \sum_{i=1}^{n} \lVert x_i - \hat x_i \rVert^2
      = \frac{n-1}{n} \sum_{j > k} \lambda_j ,

   where :math:`\lambda_j` are the eigenvalues of the sample covariance
   (denominator :math:`n - 1`, the normalisation of ``explained_variance_``).
   No linear projection onto :math:`k` dimensions does better.
2. A *linear* autoencoder, trained by gradient descent on the squared error,
   reaches that least error, and its decoder spans PCA's subspace (Baldi &
   Hornik, 1989), though not with PCA's orthonormal, ordered axes.

The reference eigenvalues come from :func:`numpy.linalg.eigh` of
:func:`numpy.cov`, independently of skvae. The data are MNIST's 60000
training images when :func:`~skvae.datasets.load_mnist` finds them, the
8x8 digits otherwise (and in the fast build of these docs).
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import scipy.linalg

from skvae import AutoencoderTransformer, PCAReducer
from skvae.datasets import load_train_test

# MNIST where it is found, the 8x8 digits otherwise; SKVAE_GALLERY_FAST=1 (the
# docs build in CI) takes the digits and few epochs.
FAST = os.environ.get("SKVAE_GALLERY_FAST", "0") not in ("", "0")
data = load_train_test("digits" if FAST else "mnist", fallback="digits")
X_train, X_test, y_train, y_test = data.X_train, data.X_test, data.y_train, data.y_test
MAX_ITER = 100 if FAST else "auto"

# %%
# The reference: eigenvalues of the covariance
# --------------------------------------------
#
# The facts are about the data a model was fitted on, so everything below uses
# the training images.

X = X_train
n_samples, n_features = X.shape
eigenvalues = np.linalg.eigh(np.cov(X, rowvar=False))[0][::-1]  # descending


def mean_squared_error(reducer, X):
    """Squared reconstruction error, summed over features, averaged over samples."""
    residual = X.astype(np.float64) - reducer.inverse_transform(reducer.transform(X))
    return float(np.mean(np.sum(residual**2, axis=1)))


# %%
# PCA and a linear autoencoder at several k
# -----------------------------------------
#
# ``hidden_layer_sizes=()`` with ``activation="identity"`` makes the
# autoencoder one linear map each way: ``z = W x + b`` and ``x' = V z + c``.
# A linear model is cheap, so it runs the full default schedule even in the
# fast build (``max_iter="auto"``: 50 epochs on MNIST, 500 on the digits);
# with fewer epochs it stops short of the optimum. Its decoder's directions
# are read through the public API, as the decoded unit codes minus the
# decoded origin.

ks = [2, 5, 10, 20, 50]
rows, angles = [], {}
for k in ks:
    pca = PCAReducer(n_components=k).fit(X)
    ae = AutoencoderTransformer(
        n_components=k,
        hidden_layer_sizes=(),
        activation="identity",
        max_iter="auto",
        random_state=0,
    ).fit(X)
    codes = np.vstack([np.zeros(k), np.eye(k)]).astype(X.dtype)
    decoded = ae.inverse_transform(codes)
    directions = (decoded[1:] - decoded[0]).T  # (n_features, k)
    angles[k] = np.degrees(scipy.linalg.subspace_angles(directions, pca.components_.T))
    rows.append(
        (
            k,
            eigenvalues[k:].sum() * (n_samples - 1) / n_samples,
            mean_squared_error(pca, X),
            mean_squared_error(ae, X),
            np.sort(angles[k])[-1],
            np.sum(angles[k] > 1),
            eigenvalues[k - 1] / eigenvalues[k],
        )
    )

header = (
    f"{'k':>3}  {'(n-1)/n * sum discarded':>23}  {'PCA error':>10}  "
    f"{'linear AE error':>15}  {'max angle (deg)':>15}  {'angles > 1 deg':>14}  "
    f"{'lambda_k/lambda_k+1':>19}"
)
print(f"{n_samples} samples, {n_features} features")
print(header)
for k, bound, pca_error, ae_error, angle, n_large, gap in rows:
    print(
        f"{k:>3}  {bound:>23.5f}  {pca_error:>10.5f}  {ae_error:>15.5f}  "
        f"{angle:>15.2f}  {n_large:>14d}  {gap:>19.4f}"
    )

# %%
# PCA's error is the sum of the discarded eigenvalues (times
# :math:`(n-1)/n`) to the float32 rounding of the data, and the linear
# autoencoder's exceeds it by a fraction of a percent (on MNIST by at most
# 2 parts in 10 000, see the :doc:`user guide </user_guide>`). Its subspace
# agrees with PCA's to about a degree or less when the eigenvalues on either
# side of :math:`k` are well apart. Where they are nearly equal (a ratio
# :math:`\lambda_k / \lambda_{k+1}` close to 1), the error hardly cares which
# of the two directions is kept: turning the subspace by an angle
# :math:`\theta` from component :math:`k` towards component :math:`k+1` costs
# only :math:`\sin^2\theta \, (\lambda_k - \lambda_{k+1}) (n-1)/n`, so
# gradient descent leaves the last few axes loosely determined while the
# error is already at its minimum.

fig, (ax_error, ax_angle) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
all_k = np.arange(0, min(n_features, 2 * max(ks)) + 1)
ax_error.plot(
    all_k,
    [eigenvalues[k:].sum() * (n_samples - 1) / n_samples for k in all_k],
    color="0.6",
    label=r"$\frac{n-1}{n}\sum_{j>k}\lambda_j$ (numpy.linalg.eigh)",
)
table = np.array([row[:4] for row in rows])
ax_error.plot(table[:, 0], table[:, 2], "o", ms=9, mfc="none", label="PCAReducer")
ax_error.plot(table[:, 0], table[:, 3], "x", ms=7, label="linear autoencoder")
# Below the smallest error of the table, the tail of the spectrum is rounding.
ax_error.set_ylim(bottom=table[:, 1:].min() / 3)
ax_error.set(
    xlabel="k (components kept)",
    ylabel="mean squared error per sample",
    yscale="log",
    title="Reconstruction error on the training data",
)
ax_error.legend()
for k in ks:
    ax_angle.plot(np.arange(1, k + 1), np.sort(angles[k]), "o-", ms=3, label=f"k={k}")
ax_angle.set(
    xlabel="principal angle, in increasing order",
    ylabel="degrees",
    yscale="log",
    title="Linear autoencoder vs PCA subspace",
)
ax_angle.legend()
plt.show()
