"""Do the demo's KL weights give the three regimes, on more than one data set?

The demo (``python -m skvae demo``) and the gallery show a two-dimensional VAE
at three KL weights, meant to be over-regularised, well spread and
autoencoder-like. This script measures, for each weight, what those words
claim:

``KL``
    The mean KL divergence of the posterior from the prior on the training
    data, in nats (``kl_per_dimension_`` summed): how much the codes say.
``code std``
    The standard deviation of the test codes (posterior means), per latent
    dimension, against the prior's 1: near or below 1 is on the prior; far
    above is an autoencoder-like space wider than the prior.
``5-NN``
    The accuracy of a 5-nearest-neighbour classifier on the 2-D codes.
``ELBO``
    The mean test ELBO with KL weight 1, in nats.
``samples: confident / classes``
    A logistic regression fitted on the real training data labels 2000
    samples from the prior: the mean probability of its chosen class (how
    recognisable the samples are) and the entropy of the share of samples
    given to each class, over the largest entropy possible (1 when every
    class is generated equally often, 0 when all samples look like one
    class).

Two recipes: the library's calibrated decoder at ``skvae.__main__``'s
``DEMO_KL_WEIGHTS`` (3, 1, 0.01), and the report's mean squared error per
pixel + weight × KL (``gaussian_variance=n_features / 2``) at its weights
8e-4, 5e-5 and 1e-8. Data: MNIST (all 60000 training images), scikit-learn's
digits (75/25 split), and the wine and breast-cancer tables, standardised.

Usage::

    python benchmarks/bench_kl_regimes.py [--datasets mnist digits tabular]
        [--out benchmarks/results/kl-regimes.md]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skvae import PosteriorCollapseWarning, VAETransformer
from skvae.__main__ import DEMO_KL_WEIGHTS
from skvae.datasets import load_digits, load_mnist
from skvae.plotting import REPORT_KL_WEIGHTS

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
N_SAMPLES = 2000


def datasets(names, data):
    """``(name, X_train, X_test, y_train, y_test)`` of each named data set."""
    for name in names:
        if name == "mnist":
            X, y = load_mnist(data, subset="train", return_X_y=True)
            Xt, yt = load_mnist(data, subset="test", return_X_y=True)
            yield "MNIST", X, Xt, y, yt
        elif name == "digits":
            X, y = load_digits(return_X_y=True)
            yield ("digits", *_split(X, y))
        elif name == "tabular":
            for label, loader in (
                ("wine", load_wine),
                ("breast cancer", load_breast_cancer),
            ):
                X, y = loader(return_X_y=True)
                X_train, X_test, y_train, y_test = _split(X, y)
                scaler = StandardScaler().fit(X_train)
                yield (
                    f"{label} (standardised)",
                    scaler.transform(X_train),
                    scaler.transform(X_test),
                    y_train,
                    y_test,
                )


def _split(X, y):
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    return X_train, X_test, y_train, y_test


def sample_quality(vae, judge, n_classes):
    """``(mean confidence, class entropy / log(n_classes))`` of prior samples."""
    proba = judge.predict_proba(vae.sample(N_SAMPLES, random_state=0))
    confidence = float(np.mean(np.max(proba, axis=1)))
    shares = np.bincount(np.argmax(proba, axis=1), minlength=n_classes) / N_SAMPLES
    shares = shares[shares > 0]
    return confidence, float(-np.sum(shares * np.log(shares)) / np.log(n_classes))


def run(names, data):
    rows = []
    for name, X, Xt, y, yt in datasets(names, data):
        judge = LogisticRegression(max_iter=2000).fit(X, y)
        n_classes = len(np.unique(y))
        recipes = [("calibrated", w, {}) for w in DEMO_KL_WEIGHTS]
        if name in ("MNIST", "digits"):  # the report's recipe is for pixels
            recipes += [
                ("MSE/pixel", w, {"gaussian_variance": X.shape[1] / 2})
                for w in REPORT_KL_WEIGHTS
            ]
        for recipe, weight, params in recipes:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PosteriorCollapseWarning)
                vae = VAETransformer(
                    n_components=2, kl_weight=weight, random_state=0, **params
                ).fit(X)
            seconds = time.perf_counter() - start
            Z, Zt = vae.transform(X), vae.transform(Xt)
            knn = KNeighborsClassifier().fit(Z, y).score(Zt, yt)
            confidence, spread = sample_quality(vae, judge, n_classes)
            row = (
                name,
                recipe,
                f"{weight:g}",
                f"{np.sum(vae.kl_per_dimension_):.1f}",
                ", ".join(f"{s:.2f}" for s in np.std(Zt, axis=0)),
                f"{knn:.3f}",
                f"{vae.score(Xt):.1f}",
                f"{confidence:.2f} / {spread:.2f}",
                f"{seconds:.0f}",
            )
            rows.append(row)
            print("| " + " | ".join(row) + " |", flush=True)
    return rows


COLUMNS = (
    "data",
    "recipe",
    "kl_weight",
    "KL (nats)",
    "code std",
    "5-NN",
    "ELBO (nats)",
    "samples: confident / classes",
    "fit (s)",
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=["mnist", "digits", "tabular"],
        choices=["mnist", "digits", "tabular"],
    )
    parser.add_argument(
        "--data", default=DEFAULT_DATA if DEFAULT_DATA.exists() else None
    )
    parser.add_argument("--out", default=None, help="also write the table here")
    args = parser.parse_args(argv)
    header = "| " + " | ".join(COLUMNS) + " |\n" + "|---" * len(COLUMNS) + "|"
    print(header, flush=True)
    rows = run(args.datasets, args.data)
    if args.out:
        lines = [header] + ["| " + " | ".join(row) + " |" for row in rows]
        Path(args.out).write_text(
            "# KL regimes (benchmarks/bench_kl_regimes.py)\n\n"
            + "\n".join(lines)
            + "\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
