"""Which KL weight the searches pick, and whether a training option flips it.

The label-free search, ``GridSearchCV(VAETransformer(n_components=k,
random_state=0), {"kl_weight": WEIGHTS}, cv=3)``, ranks the weights by
``score``, the mean held-out ELBO (KL weight 1) of each fold's test part. It
runs twice per data set, with ``early_stopping`` off (the default) and on,
which should not change the answer. The supervised search ranks the same
weights by the 5-NN accuracy of a ``Pipeline([("vae", ...), ("knn",
KNeighborsClassifier())])`` over ``vae__kl_weight``. Prints each weight's
mean CV score and the pick.

Data sets: digits (k=16, 0-16 grey levels), 500 and 2000 MNIST training
images (k=16, [0, 1]), breast cancer and wine (k=2, standardised).

Usage::

    python benchmarks/bench_kl_search.py [--data PATH/TO/mnist.npz] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_downstream import DEFAULT_DATA, machine_header

from skvae import VAETransformer

WEIGHTS = (0.3, 1.0, 3.0)


def data_sets(path):
    X, y = load_digits(return_X_y=True)
    yield "digits", X, y, 16
    mnist = np.load(path)
    order = np.random.default_rng(0).permutation(len(mnist["X_train"]))
    for n in (500, 2000):
        rows = order[:n]
        X = mnist["X_train"][rows].reshape(-1, 784) / 255.0
        yield f"MNIST {n}", X, mnist["y_train"][rows], 16
    for name, load in (("breast cancer", load_breast_cancer), ("wine", load_wine)):
        X, y = load(return_X_y=True)
        # Standardised on all rows: the search is unsupervised, no labels leak.
        yield name, StandardScaler().fit_transform(X), y, 2


def searches(k):
    """``(name, estimator, grid, uses labels)`` of each search."""
    for early in (False, True):
        vae = VAETransformer(k, early_stopping=early, random_state=0)
        yield f"ELBO, early_stopping={early}", vae, {"kl_weight": WEIGHTS}, False
    pipe = Pipeline(
        [("vae", VAETransformer(k, random_state=0)), ("knn", KNeighborsClassifier())]
    )
    yield "5-NN accuracy", pipe, {"vae__kl_weight": WEIGHTS}, True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="mnist.npz")
    parser.add_argument("--out", help="also write the table here")
    args = parser.parse_args(argv)
    weights = " | ".join(f"at {w:g}" for w in WEIGHTS)
    lines = [*machine_header(), ""]
    lines += [
        f"| data | k | ranked by | {weights} | picked |",
        "|---|---|---|" + "---|" * len(WEIGHTS) + "---|",
    ]
    print("\n".join(lines), flush=True)
    for name, X, y, k in data_sets(args.data):
        for title, estimator, grid, supervised in searches(k):
            search = GridSearchCV(
                estimator, {p: list(v) for p, v in grid.items()}, cv=3
            )
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                search.fit(X, y) if supervised else search.fit(X)
            scores = search.cv_results_["mean_test_score"]
            fmt = ".3f" if supervised else ".1f"
            cells = " | ".join(format(s, fmt) for s in scores)
            picked = f"{next(iter(search.best_params_.values())):g}"
            kinds = sorted({type(w.message).__name__ for w in caught})
            note = f" ({', '.join(kinds)})" if kinds else ""
            lines.append(f"| {name} | {k} | {title} | {cells} | {picked}{note} |")
            print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
