r"""
Finding what does not fit: novelty detection
============================================

:class:`~skvae.NoveltyDetector` turns a reducer into an outlier detector
with scikit-learn's API: fit it to normal data, and ``predict`` gives -1 for
new rows unlike it, ``decision_function`` is negative for them. This example
fits it to images of nine digits and asks it to find the tenth, then to
benign tumours and asks it to find malignant ones, and compares the ways a
reducer can score a row: its density (a VAE's ELBO), and the distance of
its code to the codes of the training rows (``method="latent"``).
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skvae import AutoencoderTransformer, NoveltyDetector, VAETransformer
from skvae.benchmark import compare_detectors
from skvae.datasets import load_train_test
from skvae.plotting import plot_outliers, plot_score_distribution

# MNIST where it is found, the 8x8 digits otherwise; SKVAE_GALLERY_FAST=1 (the
# docs build in CI) takes the digits and few epochs.
FAST = os.environ.get("SKVAE_GALLERY_FAST", "0") not in ("", "0")
data = load_train_test("digits" if FAST else "mnist", fallback="digits")
MAX_ITER = 100 if FAST else "auto"

# %%
# One digit the detector has never seen
# -------------------------------------
#
# Fit to the training images of every digit but 1; the test images of 1 are
# the outliers. The VAE's ELBO is the textbook novelty score, a lower bound
# on the log-density of each image. The default detector (``NoveltyDetector()``)
# is an autoencoder with 16 latent dimensions that scores each image by the
# mean distance of its code to the codes of its five nearest training
# images.

held_out = 1
normal = data.X_train[data.y_train != held_out]
outlier = data.y_test == held_out

vae = VAETransformer(n_components=16, max_iter=MAX_ITER, random_state=0)
by_density = NoveltyDetector(vae, method="density").fit(normal)
by_codes = NoveltyDetector(
    AutoencoderTransformer(n_components=16, max_iter=MAX_ITER, random_state=0)
).fit(normal)

table = compare_detectors(
    normal,
    data.X_test,
    outlier,
    detectors={
        "VAE, ELBO": NoveltyDetector(vae, method="density"),
        "VAE, latent": NoveltyDetector(vae, method="latent"),
        "autoencoder, latent (default)": by_codes,
        "isolation forest": IsolationForest(random_state=0),
    },
)
print(table[["detector", "auroc", "average_precision"]].round(3))

# %%
# How the scores fall
# -------------------
#
# A likelihood can fail here in a known way: an image with less ink is
# simpler to explain, so a model fitted to the other digits can give an
# unseen 1 a *higher* density than the digits it was trained on (Nalisnick
# et al., 2019). On MNIST the VAE's ELBO ranks the 1s as more normal than the
# other test digits (AUROC 0.36, ``benchmarks/results/novelty.md``); on the
# 8x8 digits of the documentation's fast build the effect is weaker. Where
# the codes lie does not share the failure: a 1 is encoded away from the
# codes of the other digits. The dashed line is each detector's threshold,
# Tukey's fence of its training scores.

fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
plot_score_distribution(by_density, data.X_test, outlier, ax=axes[0])
axes[0].set_title("VAE's ELBO")
plot_score_distribution(by_codes, data.X_test, outlier, ax=axes[1])
axes[1].set_title("distance to the training codes (default)")

# %%
# The most and the least anomalous test images, and how the autoencoder
# reconstructs them.

ax = plot_outliers(by_codes, data.X_test, n_images=10, image_shape=data.image_shape)

# %%
# A table: benign and malignant tumours
# -------------------------------------
#
# The same detector on 30 measurements of breast tumours: fitted to 70 % of
# the benign ones, it scores the other benign ones and the malignant ones.
# The features are in different units, so they are standardised first.

X, y = load_breast_cancer(return_X_y=True)  # y == 1: benign
benign, malignant = X[y == 1], X[y == 0]
fit_rows, rest = train_test_split(benign, train_size=0.7, random_state=0)
scaler = StandardScaler().fit(fit_rows)
X_test = scaler.transform(np.vstack([rest, malignant]))
is_malignant = np.r_[np.zeros(len(rest), bool), np.ones(len(malignant), bool)]

detector = NoveltyDetector(random_state=0).fit(scaler.transform(fit_rows))
flagged = detector.predict(X_test) == -1
print(f"flagged: {flagged[is_malignant].mean():.0%} of the malignant tumours, ")
print(f"         {flagged[~is_malignant].mean():.0%} of the benign ones")
ax = plot_score_distribution(detector, X_test, is_malignant)
ax.set_title("benign (inliers) and malignant (outliers) tumours")
plt.show()
