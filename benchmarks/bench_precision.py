"""bfloat16 against float32 training, over seeds: does the faster one lose quality?

Fits ``AutoencoderTransformer(2)`` (defaults otherwise) with
``precision="bfloat16"`` and ``"float32"`` for several seeds, on MNIST and
on standardised ``make_classification`` data, and prints the 5-NN accuracy
on the test codes and the fit seconds of each, as a markdown table.

Usage::

    python benchmarks/bench_precision.py [--seeds 0 1 2] [--data PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bench_downstream import DEFAULT_DATA, machine_header, markdown
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from skvae import AutoencoderTransformer
from skvae.datasets import load_mnist


def datasets(path):
    """``(name, X_train, X_test, y_train, y_test)`` of MNIST and tabular data."""
    X_train, y_train = load_mnist(path, subset="train", return_X_y=True)
    X_test, y_test = load_mnist(path, subset="test", return_X_y=True)
    yield "MNIST", X_train, X_test, y_train, y_test
    X, y = make_classification(
        n_samples=20000, n_features=50, n_informative=10, random_state=0
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    yield (
        "make_classification(20000x50), standardised",
        scaler.transform(X_train).astype(np.float32),
        scaler.transform(X_test).astype(np.float32),
        y_train,
        y_test,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    rows = []
    for name, X_train, X_test, y_train, y_test in datasets(args.data):
        for seed in args.seeds:
            for precision in ("bfloat16", "float32"):
                start = time.perf_counter()
                ae = AutoencoderTransformer(
                    2, random_state=seed, precision=precision
                ).fit(X_train)
                seconds = time.perf_counter() - start
                knn = KNeighborsClassifier(5).fit(ae.transform(X_train), y_train)
                accuracy = knn.score(ae.transform(X_test), y_test)
                rows.append(
                    [name, seed, precision, f"{accuracy:.4f}", f"{seconds:.1f}"]
                )
                print("| " + " | ".join(map(str, rows[-1])) + " |", flush=True)
    print("\n".join(["", *machine_header(), ""]))
    print("\n".join(markdown(["data", "seed", "precision", "5-NN", "fit (s)"], rows)))


if __name__ == "__main__":
    main()
