"""What each default of the neural reducers buys: one change at a time.

For a data set, fits ``AutoencoderTransformer`` and ``VAETransformer`` with
two latent dimensions (``--components`` for others) under the defaults and
under variants that undo one default each, and the previous release's
defaults all together. Reports the downstream score of the codes (5-NN
accuracy on the test part; for ``blobs`` the R² of a linear regression
recovering the blob's position) and the seconds of ``fit``, as a markdown
table. Warnings raised by ``fit`` are listed in ``notes``.

Usage::

    python benchmarks/bench_defaults.py --dataset mnist|digits|tabular|blobs
        [--components 2] [--quick] [--out benchmarks/results/defaults-mnist.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bench_downstream import (
    DEFAULT_DATA,
    QUICK_SAMPLES,
    knn_accuracy,
    machine_header,
    make_blobs_images,
    markdown,
    measure,
    subsample,
)
from sklearn.datasets import make_classification
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skvae import AutoencoderTransformer, VAETransformer
from skvae.datasets import load_digits, load_mnist

# Each variant undoes one default (or, the last, all of them); "vae" marks
# the ones that only a VAE has.
PREVIOUS = dict(
    hidden_layer_sizes=(256,),
    batch_size=128,
    learning_rate="constant",
    learning_rate_init=1e-3,
    max_iter=50,
    precision="float32",
)
VARIANTS = [
    ("defaults", {}, False),
    ("float32 training (precision)", dict(precision="float32"), False),
    (
        "constant rate 1e-3, stop by tol (no one-cycle)",
        dict(learning_rate="constant", learning_rate_init=1e-3),
        False,
    ),
    ("one hidden layer of 256", dict(hidden_layer_sizes=(256,)), False),
    ("batch size 128", dict(batch_size=128), False),
    ("fixed variance 1 (no calibrated decoder)", dict(gaussian_variance=1.0), True),
    ("previous defaults, all together", PREVIOUS, False),
]


def load(args):
    """``(X_train, X_test, y_train, y_test, score_name)`` of ``args.dataset``."""
    rs = args.random_state
    if args.dataset == "mnist":
        X_train, y_train = load_mnist(args.data, subset="train", return_X_y=True)
        X_test, y_test = load_mnist(args.data, subset="test", return_X_y=True)
        return X_train, X_test, y_train, y_test, "5-NN accuracy"
    if args.dataset == "digits":
        X, y = load_digits(return_X_y=True)
        split = train_test_split(X, y, test_size=0.25, stratify=y, random_state=rs)
        return (*split, "5-NN accuracy")
    if args.dataset == "tabular":
        X, y = make_classification(
            n_samples=20000, n_features=50, n_informative=10, random_state=rs
        )
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=rs
        )
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        return (
            X_train.astype(np.float32),
            X_test.astype(np.float32),
            y_train,
            y_test,
            "5-NN accuracy",
        )
    X, uv = make_blobs_images(20000, rs)
    split = train_test_split(X, uv, test_size=0.25, random_state=rs)
    return (*split, "R² of (u, v), linear")


def score(result, y_train, y_test, dataset):
    if dataset == "blobs":
        reg = LinearRegression().fit(result["Z_train"], y_train)
        return reg.score(result["Z_test"], y_test)
    return knn_accuracy(result, y_train, y_test)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", choices=["mnist", "digits", "tabular", "blobs"], default="mnist"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--components", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    X_train, X_test, y_train, y_test, score_name = load(args)
    if args.quick:
        X_train, y_train = subsample(X_train, y_train, QUICK_SAMPLES, args.random_state)
    k = args.components
    rows = []
    for cls in (AutoencoderTransformer, VAETransformer):
        for title, params, vae_only in VARIANTS:
            if vae_only and cls is not VAETransformer:
                continue
            if params is PREVIOUS and cls is VAETransformer:
                params = {**PREVIOUS, "gaussian_variance": 1.0}
            print(f"  {cls.__name__}({k}): {title} ...", flush=True)
            result = measure(
                lambda cls=cls, params=params: cls(
                    k, random_state=args.random_state, **params
                ),
                X_train,
                X_test,
            )
            value = score(result, y_train, y_test, args.dataset)
            model = result["model"]
            rows.append(
                [
                    f"{cls.__name__}({k})",
                    title,
                    f"{value:.4f}",
                    f"{result['fit_s']:.1f}",
                    str(model.n_iter_),
                    result["notes"] or "—",
                ]
            )
    lines = [
        f"# What each default buys: {args.dataset}, {len(X_train)} training / "
        f"{len(X_test)} test samples",
        "",
        *machine_header(),
        "",
        "Each variant changes one thing from the defaults (only `n_components` "
        "and `random_state` set); the last row of each model restores all the "
        f"previous defaults ({PREVIOUS}, and for the VAE `gaussian_variance=1.0`"
        "). Score on the test part; fit seconds include everything `fit` does.",
        "",
        *markdown(["model", "variant", score_name, "fit (s)", "epochs", "notes"], rows),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
