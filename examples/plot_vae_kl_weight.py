r"""
A VAE's KL weight: three regimes
================================

A loss often written for VAEs is the mean squared error per pixel plus a
weight :math:`\beta` times the KL divergence from the prior,

.. math::

   \frac{1}{d} \lVert x - \hat x(z) \rVert^2
   + \beta \, \mathrm{KL}\big(q(z \mid x) \,\Vert\, \mathcal N(0, I)\big),

with :math:`d` the number of pixels. ``VAETransformer(gaussian_variance=d / 2,
kl_weight=beta)`` minimises exactly this loss (the
:doc:`user guide </user_guide>` derives it): a Gaussian decoder of fixed
variance :math:`d/2` turns its negative log-likelihood into the mean squared
error per pixel plus a constant. With two latent dimensions on MNIST, the
weights 8e-4, 5e-5 and 1e-8 give three regimes:

- **8e-4, over-regularised.** The KL term is expensive, so the posteriors
  stay wide and overlap: the codes form a few broad regions, and samples
  from the prior are blurred, often ambiguous digits.
- **5e-5, well spread.** The codes fill the prior's disc with the classes
  side by side, and samples from the prior look like digits.
- **1e-8, autoencoder-like.** The KL term is nearly free, so nothing holds
  the codes to the prior: they spread far beyond it, the posteriors shrink
  to points, and samples from :math:`\mathcal N(0, I)` fall where few
  training codes are.

In the fast build of these docs (the 8x8 digits, 100 epochs), the same
weights mean other decoder variances, because :math:`d = 64` rather than
784, and the figure only shows that the code runs.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from skvae import VAETransformer
from skvae.benchmark import kl_path
from skvae.datasets import load_digits, load_mnist
from skvae.plotting import plot_kl_sweep

# MNIST where it is found, the 8x8 digits otherwise; SKVAE_GALLERY_FAST=1 (the
# docs build in CI) takes the digits and few epochs.
FAST = os.environ.get("SKVAE_GALLERY_FAST", "0") not in ("", "0")
try:
    if FAST:
        raise FileNotFoundError("fast mode: use the digits")
    X_train, y_train = load_mnist(return_X_y=True)
    X_test, y_test = load_mnist(subset="test", return_X_y=True)
except FileNotFoundError:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
MAX_ITER = 100 if FAST else "auto"

# %%
# Fit one VAE per weight
# ----------------------
#
# :func:`~skvae.benchmark.kl_path` fits a clone of the recipe at each weight
# on the training images and measures it on the test images: the mean KL
# from the prior (nats), the reconstruction :math:`R^2`, the accuracy of a
# 5-nearest-neighbour classifier on the codes and the number of active
# latent dimensions. ``return_estimators=True`` keeps the fitted models for
# the figure.

n_features = X_train.shape[1]
recipe = VAETransformer(
    n_components=2,
    likelihood="gaussian",
    gaussian_variance=n_features / 2,
    max_iter=MAX_ITER,
    random_state=0,
)
kl_weights = (8e-4, 5e-5, 1e-8)
table = kl_path(
    X_train,
    y_train,
    X_test=X_test,
    y_test=y_test,
    kl_weights=kl_weights,
    vae=recipe,
    random_state=0,
    return_estimators=True,
    as_frame=False,
)

# %%
# The same loss, read as ``kl_weight=1`` with a decoder of standard deviation
# :math:`\sigma = \sqrt{\beta d / 2}` (see the user guide), tells why the
# regimes differ: the decoder's noise is larger than the typical pixel error
# at 8e-4 and far smaller at 1e-8.

print(f"{'kl_weight':>9}  {'sigma':>6}  {'KL':>6}  {'R^2':>5}  {'5-NN':>5}  active")
for row in table:
    sigma = np.sqrt(row["kl_weight"] * n_features / 2)
    print(
        f"{row['kl_weight']:>9.0e}  {sigma:>6.3f}  {row['kl']:>6.2f}  "
        f"{row['reconstruction_r2']:>5.3f}  {row['score']:>5.3f}  "
        f"{row['n_active_units']:>6d}"
    )

# %%
# Latent spaces and samples
# -------------------------
#
# Each row: the test images in the latent space, and 36 samples decoded from
# codes drawn from the prior.

axes = plot_kl_sweep(X_test, y_test, models=table, random_state=0)
plt.show()
