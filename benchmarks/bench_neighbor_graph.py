"""Which library finds MNIST's nearest neighbours fastest, for NeighborEmbedding.

scikit-learn's exact ``NearestNeighbors`` on the 784 pixels and on 50
principal components, and pynndescent (umap-learn's dependency) on the
pixels, first in this process (numba compiles it) and then again. The
recall is of the exact 14 nearest other rows. Run alone on the machine:

    python benchmarks/bench_neighbor_graph.py [--mnist PATH]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors

from skvae import PCAReducer
from skvae.datasets import load_mnist

K = 14  # n_neighbors=15 counts the row itself


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def recall(found, exact):
    return float(
        np.mean([len(set(a) & set(b)) / K for a, b in zip(found, exact, strict=True)])
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", help="path to mnist.npz (default: skvae's loader)")
    args = parser.parse_args()
    X, _ = load_mnist(args.mnist, subset="train", return_X_y=True)
    rows = []
    P, seconds = timed(lambda: PCAReducer(50, random_state=0).fit_transform(X))
    rows.append(("PCA to 50 components (skvae)", seconds, None))

    def exact(data):
        return NearestNeighbors(n_neighbors=K).fit(data).kneighbors()[1]

    pixels, seconds = timed(lambda: exact(X))
    rows.append(("sklearn NearestNeighbors, 784 pixels", seconds, 1.0))
    projected, seconds = timed(lambda: exact(P))
    rows.append(
        ("sklearn NearestNeighbors, 50 components", seconds, recall(projected, pixels))
    )
    import pynndescent

    for label in ("first call (compiles)", "second call"):
        (found, _), seconds = timed(
            lambda: (
                pynndescent.NNDescent(
                    X, n_neighbors=K + 1, random_state=0, n_jobs=2
                ).neighbor_graph
            )
        )
        rows.append(
            (f"pynndescent, 784 pixels, {label}", seconds, recall(found[:, 1:], pixels))
        )
    print(
        "| neighbour search (60000 MNIST images) | seconds "
        "| recall of the pixels' 14-NN |"
    )
    print("|---|---|---|")
    for name, seconds, r in rows:
        print(f"| {name} | {seconds:.1f} | {'—' if r is None else f'{r:.3f}'} |")


if __name__ == "__main__":
    main()
