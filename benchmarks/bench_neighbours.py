"""Codes that keep neighbours: NeighborEmbedding against PCA, the autoencoder and UMAP.

Every reducer is fitted with its defaults apart from ``n_components=2`` and
``random_state``, on the training rows, and measured on the test rows:

* ``5-NN``: a 5-nearest-neighbour classifier fitted on the training codes,
  scored on the test codes (accuracy); for the swiss roll, the R^2 of a
  5-nearest-neighbour regression of the roll's own two coordinates (the
  position along it and the height, R^2 averaged), which is high only where
  the code unrolls it: a view of the roll from its side (PCA's) places
  every point along it but loses the height;
* ``trust``: :func:`sklearn.manifold.trustworthiness` of the test codes, 10
  neighbours, at most 5000 test rows;
* ``fit s`` (the neighbour graph included) and ``transform s`` (all test rows);
* ``R^2``: the test rows' reconstruction, ``1 - SSE / SST``, where the
  reducer decodes (UMAP's ``inverse_transform`` is not measured).

UMAP is umap-learn's, with ``random_state`` set, which makes it run on one
thread as its documentation says. Run alone on the machine: the timings are
the point. Results are appended to ``results/neighbours-<data>.jsonl``, and
the tables of every case on record are written to ``results/neighbours.md``:

    python benchmarks/bench_neighbours.py --data mnist digits tabular swissroll
    python benchmarks/bench_neighbours.py --tables-only
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification, make_swiss_roll
from sklearn.manifold import trustworthiness
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import StandardScaler

from skvae import AutoencoderTransformer, NeighborEmbedding, PCAReducer
from skvae.datasets import load_digits, load_mnist

RESULTS = Path(__file__).parent / "results"
DATA = ("mnist", "digits", "tabular", "swissroll")


def load(name, mnist_path=None, rs=0):
    """``(X_train, X_test, y_train, y_test, task)``; task: classify or regress."""
    if name == "mnist":
        X, y = load_mnist(mnist_path, subset="train", return_X_y=True)
        Xt, yt = load_mnist(mnist_path, subset="test", return_X_y=True)
        return X, Xt, y, yt, "classify"
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        split = train_test_split(X, y, test_size=0.25, stratify=y, random_state=rs)
        return (*split, "classify")
    if name == "tabular":
        X, y = make_classification(
            n_samples=20000, n_features=50, n_informative=10, random_state=rs
        )
        X, Xt, y, yt = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=rs
        )
        scaler = StandardScaler().fit(X)
        return scaler.transform(X), scaler.transform(Xt), y, yt, "classify"
    X, t = make_swiss_roll(n_samples=10000, noise=0.05, random_state=rs)
    # The roll's own coordinates: the position along it, and the height.
    intrinsic = np.column_stack([t, X[:, 1]])
    X, Xt, u, ut = train_test_split(X, intrinsic, test_size=0.25, random_state=rs)
    return X, Xt, u, ut, "regress"


def reducers(data, rs):
    """The reducers of one case, by name: factories, so each is fitted fresh."""
    import umap

    made = {
        "PCA": lambda: PCAReducer(2),
        "autoencoder": lambda: AutoencoderTransformer(2, random_state=rs),
        "UMAP (umap-learn)": lambda: umap.UMAP(n_components=2, random_state=rs),
        "NeighborEmbedding": lambda: NeighborEmbedding(2, random_state=rs),
    }
    if data == "mnist":
        for weight in (0.1, 1.0):
            made[f"NeighborEmbedding, reconstruction_weight={weight:g}"] = (
                lambda weight=weight: NeighborEmbedding(
                    2, reconstruction_weight=weight, random_state=rs
                )
            )
    return made


def measure(reducer, X, Xt, y, yt, task):
    start = time.perf_counter()
    reducer.fit(X)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    Zt = reducer.transform(Xt)
    transform = time.perf_counter() - start
    Z = getattr(reducer, "embedding_", None)  # UMAP's training codes as fitted
    Z = reducer.transform(X) if Z is None else Z
    if task == "classify":
        knn = KNeighborsClassifier(5).fit(Z, y).score(Zt, yt)
    else:
        knn = KNeighborsRegressor(5).fit(Z, y).score(Zt, yt)
    m = min(5000, len(Xt))
    trust = trustworthiness(Xt[:m], Zt[:m], n_neighbors=10)
    r2 = None
    if not hasattr(reducer, "embedding_"):
        R = reducer.inverse_transform(Zt)
        r2 = float(1 - ((R - Xt) ** 2).sum() / ((Xt - Xt.mean(0)) ** 2).sum())
    return {
        "5-NN": float(knn),
        "trust": float(trust),
        "fit s": fit,
        "transform s": transform,
        "R^2": r2,
    }


def run(data, mnist_path, rs, only=None):
    X, Xt, y, yt, task = load(data, mnist_path, rs)
    path = RESULTS / f"neighbours-{data}.jsonl"
    for name, make in reducers(data, rs).items():
        if only and not name.startswith(tuple(only)):
            continue
        record = {"data": data, "reducer": name, **measure(make(), X, Xt, y, yt, task)}
        print(json.dumps(record), flush=True)
        with path.open("a") as f:
            f.write(json.dumps(record) + "\n")


def _cell(value, digits):
    return "—" if value is None else f"{value:.{digits}f}"


def tables():
    lines = []
    for data in DATA:
        path = RESULTS / f"neighbours-{data}.jsonl"
        if not path.exists():
            continue
        latest = {}
        for line in path.read_text().splitlines():
            record = json.loads(line)
            latest[record["reducer"]] = record  # the newest run of each
        knn = "5-NN R^2 (t, height)" if data == "swissroll" else "5-NN"
        lines += [
            f"### {data}",
            "",
            f"| reducer | {knn} | trust | fit s | transform s | R^2 |",
            "|---|---|---|---|---|---|",
        ]
        for r in latest.values():
            lines.append(
                f"| {r['reducer']} | {r['5-NN']:.3f} | {r['trust']:.3f} | "
                f"{r['fit s']:.1f} | {r['transform s']:.3f} | {_cell(r['R^2'], 3)} |"
            )
        lines.append("")
    text = "\n".join(lines)
    (RESULTS / "neighbours.md").write_text(text)
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", choices=DATA, default=list(DATA))
    parser.add_argument("--mnist", help="path to mnist.npz (default: skvae's loader)")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--tables-only", action="store_true")
    parser.add_argument(
        "--reducers",
        nargs="+",
        help="run only the reducers whose names start so (the tables keep the "
        "newest run of each)",
    )
    args = parser.parse_args()
    if not args.tables_only:
        for data in args.data:
            run(data, args.mnist, args.random_state, args.reducers)
    tables()


if __name__ == "__main__":
    main()
