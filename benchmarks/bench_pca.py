"""PCAReducer.fit_transform against scikit-learn's PCA solvers.

Times ``fit_transform`` on the MNIST training set (median of ``--repeat``
runs) for float32 and float64 at several ``n_components``, and checks that
the test-set reconstruction error agrees with that of scikit-learn's fastest
solver. Prints a markdown table.

    python benchmarks/bench_pca.py [--data PATH] [--repeat 5] [--components 2 50]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from skvae import PCAReducer
from skvae.datasets import load_digits, load_mnist

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


def load(path):
    """MNIST train/test as float64 in [0, 1], or the digits when it is absent."""
    if Path(path).is_file():
        train = load_mnist(path, subset="train", return_X_y=True)[0]
        test = load_mnist(path, subset="test", return_X_y=True)[0]
        return train.astype(np.float64), test.astype(np.float64), "MNIST"
    X = load_digits(return_X_y=True)[0].astype(np.float64)
    return X[:1500], X[1500:], "digits (MNIST not found)"


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def reconstruction_mse(model, X):
    return float(np.mean((model.inverse_transform(model.transform(X)) - X) ** 2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--components", type=int, nargs="+", default=[2, 50])
    parser.add_argument(
        "--sklearn-solvers",
        nargs="+",
        default=["covariance_eigh", "randomized", "full"],
    )
    args = parser.parse_args(argv)

    train64, test64, name = load(args.data)
    print(
        f"{name}: train {train64.shape}, test {test64.shape}, median of {args.repeat}\n"
    )
    print(
        "| dtype | k | method | fit_transform (s) | speed-up vs fastest sklearn "
        "| test MSE | rel. MSE diff |"
    )
    print("|---|---|---|---|---|---|---|")
    for dtype in (np.float32, np.float64):
        train, test = train64.astype(dtype), test64.astype(dtype)
        for k in args.components:
            rows = {}
            for solver in args.sklearn_solvers:
                est = PCA(k, svd_solver=solver, random_state=0)
                rows[f"sklearn {solver}"] = (
                    median_time(
                        lambda est=est, X=train: est.fit_transform(X), args.repeat
                    )[0],
                    est,
                )
            ours = PCAReducer(k, device="cpu", random_state=0)
            rows["skvae PCAReducer"] = (
                median_time(
                    lambda est=ours, X=train: est.fit_transform(X), args.repeat
                )[0],
                ours,
            )
            # The reference is scikit-learn's fastest solver: time and test MSE.
            best, reference = min(
                (pair for m, pair in rows.items() if m.startswith("sklearn")),
                key=lambda pair: pair[0],
            )
            ref = reconstruction_mse(reference, test)
            for method, (seconds, est) in rows.items():
                mse = reconstruction_mse(est, test)
                print(
                    f"| {np.dtype(dtype).name} | {k} | {method} | {seconds:.3f} | "
                    f"{best / seconds:.2f}x | {mse:.6g} | {abs(mse - ref) / ref:.1e} |"
                )


if __name__ == "__main__":
    main()
