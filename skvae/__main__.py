"""Command line: ``python -m skvae demo`` (or ``skvae demo`` once installed)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from . import AutoencoderTransformer, PCAReducer, VAETransformer, __version__
from .datasets import load_digits
from .metrics import reconstruction_r2


def _reducers(n_components, max_iter, random_state):
    """The reducers the demo compares, by name, for one latent size."""
    common = dict(
        hidden_layer_sizes=(128,), max_iter=max_iter, random_state=random_state
    )
    vae = dict(likelihood="bernoulli", **common)
    return {
        "PCA": PCAReducer(n_components),
        "autoencoder": AutoencoderTransformer(n_components, **common),
        "VAE, kl_weight=1": VAETransformer(n_components, kl_weight=1.0, **vae),
        "VAE, kl_weight=0.1": VAETransformer(n_components, kl_weight=0.1, **vae),
    }


def demo(args):
    """Reduce scikit-learn's digits and classify them downstream with k-NN."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.random_state
    )
    print(
        f"skvae {__version__} demo: digits, {X.shape[0]} images of {X.shape[1]} pixels"
    )

    pca = PCAReducer().fit(X_train)
    cumulative = np.cumsum(pca.explained_variance_ratio_)
    print("\nPCA explained variance")
    for k in (2, 5, 10, 20):
        print(f"  first {k:>2} components: {cumulative[k - 1]:6.1%}")
    for share in (0.9, 0.95):
        needed = PCAReducer(n_components=share).fit(X_train).n_components_
        print(f"  {share:.0%} of the variance needs {needed} components")

    baseline = KNeighborsClassifier().fit(X_train, y_train).score(X_test, y_test)
    print(f"\nk-NN test accuracy on all {X.shape[1]} pixels: {baseline:.3f}")
    print(
        "\nOn the test images: k-NN accuracy in the latent space, the share of "
        "variance\nthe reconstruction keeps (R²), and the VAE's ELBO (KL weight 1)."
    )
    print(
        "\n| reducer | latent size | k-NN accuracy | reconstruction R² | ELBO (nats) "
        "| fit (s) |"
    )
    print("|---|---|---|---|---|---|")
    for n_components in args.components:
        for name, reducer in _reducers(
            n_components, args.max_iter, args.random_state
        ).items():
            pipe = Pipeline([("reduce", reducer), ("knn", KNeighborsClassifier())])
            start = time.perf_counter()
            with warnings.catch_warnings():
                # The demo trains for a fixed budget of epochs on purpose.
                warnings.simplefilter("ignore", ConvergenceWarning)
                pipe.fit(X_train, y_train)
            seconds = time.perf_counter() - start
            accuracy = pipe.score(X_test, y_test)
            r2 = reconstruction_r2(reducer, X_test)
            elbo = f"{reducer.score(X_test):.1f}" if name.startswith("VAE") else "-"
            print(
                f"| {name} | {n_components} | {accuracy:.3f} | {r2:.3f} | {elbo} "
                f"| {seconds:.2f} |"
            )
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="skvae", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help=demo.__doc__)
    demo_parser.add_argument("--components", type=int, nargs="+", default=[2, 10])
    demo_parser.add_argument(
        "--max-iter",
        type=int,
        default=150,
        help="training epochs of the neural reducers",
    )
    demo_parser.add_argument("--random-state", type=int, default=0)
    demo_parser.set_defaults(run=demo)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
