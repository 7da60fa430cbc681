"""Run the documentation's quick start on digits and report what it shows.

The quick start (``docs/index.rst``) searches ``kl_weight`` with and without
labels and draws samples from a fitted VAE. This script runs the same calls
and prints what a reader would want to know of them: the weight each search
picks, its cross-validated scores, how many of its fits warned of posterior
collapse, and how varied 16 samples are (their mean pairwise distance over
that of 16 real digits; 16 copies of one image give 0).

Usage::

    python benchmarks/check_quickstart.py
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from scipy.spatial.distance import pdist
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from skvae import PosteriorCollapseWarning, VAETransformer
from skvae.datasets import load_digits


def search(estimator, grid, X, y=None):
    """Fit a grid search; return it, its seconds and its collapse warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        fitted = GridSearchCV(estimator, grid).fit(X, y)
        seconds = time.perf_counter() - start
    collapses = sum(issubclass(w.category, PosteriorCollapseWarning) for w in caught)
    return fitted, seconds, collapses


def report(title, fitted, seconds, collapses):
    (name,) = fitted.param_grid
    scores = ", ".join(
        f"{w:g}: {s:.3f}"
        for w, s in zip(
            fitted.param_grid[name], fitted.cv_results_["mean_test_score"], strict=True
        )
    )
    print(
        f"| {title} | {fitted.best_params_[name]:g} | {scores} | {collapses} "
        f"| {seconds:.0f} |"
    )


def main():
    X, y = load_digits(return_X_y=True)
    print("| search | picks | mean CV score per kl_weight | collapse warnings | s |")
    print("|---|---|---|---|---|")
    pipe = Pipeline(
        [("vae", VAETransformer(n_components=2)), ("knn", KNeighborsClassifier())]
    )
    for grid in ([8e-4, 5e-5, 1e-8], [4.0, 1.0, 0.1]):
        report(
            "supervised: 5-NN accuracy",
            *search(pipe, {"vae__kl_weight": grid}, X, y),
        )
    report(
        "unsupervised: held-out ELBO (nats)",
        *search(VAETransformer(), {"kl_weight": [0.1, 1.0, 4.0]}, X),
    )

    rng = np.random.default_rng(0)
    real = pdist(X[rng.choice(len(X), 16, replace=False)]).mean()
    for seed in (None, 0):
        images = VAETransformer(n_components=2, random_state=seed).fit(X).sample(16)
        print(
            f"sample(16) of VAETransformer(n_components=2, random_state={seed}): "
            f"mean pairwise distance {pdist(images).mean():.2f}, "
            f"{pdist(images).mean() / real:.2f} of 16 real digits' ({real:.2f})"
        )


if __name__ == "__main__":
    main()
