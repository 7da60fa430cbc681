"""Novelty detection: skvae's detectors against scikit-learn's and PyOD's.

Every detector is fitted to normal rows only and scores a test set in which
the outliers are known; the tables give the area under the ROC curve
(AUROC), the average precision with the outliers as the positive class
(AP), and the seconds of ``fit`` and of scoring the test set. Higher
AUROC is better; 0.5 is chance.

The data (``--data``):

``mnist-out``
    MNIST one-digit-out: fit to the 60000 training images of nine digits
    (pixels in [0, 1]), score the 10000 test images of all ten, the held-out
    digit being the outliers; one row per held-out digit.
``mnist-class``
    MNIST one-class (the Deep SVDD protocol): fit to the training images of
    one digit, the other nine being the outliers in the test images.
``digits-out``, ``digits-class``
    The same two protocols on scikit-learn's 8x8 digits (pixels / 16),
    split 75/25, stratified.
``cancer``
    Breast cancer: 70% of the benign tumours to fit, the other benign ones
    and all malignant ones to score, standardised with the training rows'
    means and deviations.
``manifold``
    3000 rows on a curved two-dimensional surface in 20 dimensions
    (a random two-layer tanh network of a uniform 2-D code, plus noise of
    0.05) to fit; 1000 more and 100 outliers to score. An outlier is the
    midpoint of two points of the surface: inside the data's range and
    linear span, but off the surface. Standardised.

Each result is appended to a cache (``--cache``), so that a long run can be
stopped and resumed, and detectors added to it later; the tables are drawn
from the cache.

Usage::

    python benchmarks/bench_novelty.py --data digits-out cancer manifold
        [--detectors NAME ...] [--digits 0 1 ...] [--cache FILE ...] [--out FILE]
    python benchmarks/bench_novelty.py --tables-only --data ... --cache FILE ...
    python benchmarks/bench_novelty.py --time-scoring
    python benchmarks/bench_novelty.py --flagged --data cancer manifold ...

``--detectors`` takes the names above, or a reducer of one's own in the
form ``VAE:n_components=8:likelihood=bernoulli``, scored every way.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import LocalOutlierFactor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from skvae import AutoencoderTransformer, NoveltyDetector, PCAReducer, VAETransformer
from skvae.datasets import load_digits, load_mnist

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
SEED = 0
# OneClassSVM's and LocalOutlierFactor's fits grow with the square of the
# rows, and PyOD's detectors train with batches of 32 (10 minutes for its
# VAE on 54000 images): on larger training sets (MNIST one-digit-out) these
# four get a random subset of this many training rows (said in the table).
SUBSET_ROWS = 10000


# ---------------------------------------------------------------- detectors


class PCAReconstruction:
    """scikit-learn's PCA keeping 90% of the variance; minus the squared error."""

    def fit(self, X):
        self.pca_ = PCA(n_components=0.9, random_state=SEED).fit(X)
        return self

    def score_samples(self, X):
        back = self.pca_.inverse_transform(self.pca_.transform(X))
        return -np.square(X - back).sum(axis=1)


class Subsampled:
    """Fit ``detector`` to at most ``rows`` random training rows."""

    def __init__(self, detector, rows):
        self.detector, self.rows = detector, rows

    def fit(self, X):
        if X.shape[0] > self.rows:
            pick = np.random.default_rng(SEED).choice(X.shape[0], self.rows, False)
            X = X[np.sort(pick)]
        self.detector.fit(X)
        return self

    def score_samples(self, X):
        return self.detector.score_samples(X)


class PyOD:
    """A PyOD detector; its ``decision_function`` grows with abnormality."""

    def __init__(self, name):
        self.name = name

    def fit(self, X):
        from pyod.models.auto_encoder import AutoEncoder
        from pyod.models.vae import VAE

        cls = {"vae": VAE, "ae": AutoEncoder}[self.name]
        self.model_ = cls(random_state=SEED, verbose=0).fit(X)
        return self

    def score_samples(self, X):
        return -self.model_.decision_function(X)


#: name -> a function making a fresh detector with ``fit`` and ``score_samples``.
DETECTORS = {
    "IsolationForest": lambda: IsolationForest(random_state=SEED),
    "LOF": lambda: Subsampled(LocalOutlierFactor(novelty=True), SUBSET_ROWS),
    "OneClassSVM": lambda: Subsampled(OneClassSVM(gamma="scale"), SUBSET_ROWS),
    "PCA reconstruction": PCAReconstruction,
    "PyOD VAE": lambda: Subsampled(PyOD("vae"), SUBSET_ROWS),
    "PyOD AE": lambda: Subsampled(PyOD("ae"), SUBSET_ROWS),
}

#: skvae's reducers in the detector, each fitted once per case and scored by
#: each method: name -> (a function making the reducer, the methods).
FAMILIES = {
    "skvae PCA": (
        lambda: PCAReducer(n_components=0.9, random_state=SEED),
        ("density", "latent"),
    ),
    "skvae AE": (
        lambda: AutoencoderTransformer(n_components=16, random_state=SEED),
        ("density", "latent"),
    ),
    "skvae VAE": (
        lambda: VAETransformer(n_components=16, random_state=SEED),
        ("density", "latent"),
    ),
}

REDUCERS = {"PCA": PCAReducer, "AE": AutoencoderTransformer, "VAE": VAETransformer}
METHODS = ("density", "latent", "reconstruction")


def candidate(spec):
    """A family from text such as ``VAE:n_components=8:likelihood=bernoulli``."""
    kind, *pairs = spec.split(":")
    params = {}
    for pair in pairs:
        key, value = pair.split("=")
        params[key] = json.loads(value) if value[0] in "0123456789[-" else value
    return (lambda: REDUCERS[kind](random_state=SEED, **params)), METHODS


# --------------------------------------------------------------------- data


def mnist_cases(path, protocol, digits):
    X_train, y_train = load_mnist(path, subset="train", return_X_y=True)
    X_test, y_test = load_mnist(path, subset="test", return_X_y=True)
    yield from _digit_cases("mnist", protocol, digits, X_train, y_train, X_test, y_test)


def digits_cases(protocol, digits):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, test_size=0.25, stratify=y, random_state=SEED
    )
    yield from _digit_cases(
        "digits", protocol, digits, X_train, y_train, X_test, y_test
    )


def _digit_cases(name, protocol, digits, X_train, y_train, X_test, y_test):
    for d in digits:
        if protocol == "out":
            yield f"{name}-out-{d}", X_train[y_train != d], X_test, y_test == d
        else:
            yield f"{name}-class-{d}", X_train[y_train == d], X_test, y_test != d


def cancer_cases():
    X, y = load_breast_cancer(return_X_y=True)  # 1 = benign
    benign, malignant = X[y == 1], X[y == 0]
    fit_rows, rest = train_test_split(benign, train_size=0.7, random_state=SEED)
    scaler = StandardScaler().fit(fit_rows)
    X_test = np.vstack([rest, malignant])
    outlier = np.r_[np.zeros(len(rest), bool), np.ones(len(malignant), bool)]
    yield "cancer", scaler.transform(fit_rows), scaler.transform(X_test), outlier


def manifold_cases(n_features=20, noise=0.05):
    rng = np.random.default_rng(SEED)
    W1 = rng.normal(size=(2, 32)) * 3
    W2 = rng.normal(size=(32, n_features)) / np.sqrt(32)

    def surface(n):
        z = rng.uniform(-1, 1, size=(n, 2))
        return np.tanh(z @ W1) @ W2 + noise * rng.normal(size=(n, n_features))

    X_train, inliers = surface(3000), surface(1000)
    # The midpoint of two points of a curved surface lies off it, inside the
    # data's span and range: no feature, and no linear projection, shows it.
    ends = surface(200)
    outliers = (ends[:100] + ends[100:]) / 2
    scaler = StandardScaler().fit(X_train)
    X_test = scaler.transform(np.vstack([inliers, outliers]))
    outlier = np.r_[np.zeros(1000, bool), np.ones(100, bool)]
    yield "manifold", scaler.transform(X_train), X_test, outlier


def cases(name, digits, path):
    if name.startswith("mnist-"):
        return mnist_cases(path, name.split("-")[1], digits)
    if name.startswith("digits-"):
        return digits_cases(name.split("-")[1], digits)
    return {"cancer": cancer_cases, "manifold": manifold_cases}[name]()


# ---------------------------------------------------------------------- run


def evaluate(make, X_train, X_test, outlier):
    """Fit a detector to ``X_train``; its measurements on ``X_test``."""
    detector = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        detector.fit(X_train)
        fit_s = time.perf_counter() - start
        return measure(detector, fit_s, X_test, outlier)


def evaluate_family(make, methods, X_train, X_test, outlier):
    """Fit one reducer; ``{method: measurements}`` of a detector on each method.

    The reducer is fitted once and frozen; each method's fit time is the
    reducer's plus the detector's own (its training scores and threshold,
    and for "latent" the neighbour index).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        reducer = FrozenEstimator(make().fit(X_train))
        reducer_s = time.perf_counter() - start
        results = {}
        for method in methods:
            start = time.perf_counter()
            detector = NoveltyDetector(reducer, method=method).fit(X_train)
            fit_s = reducer_s + time.perf_counter() - start
            results[method] = measure(detector, fit_s, X_test, outlier)
    return results


def measure(detector, fit_s, X_test, outlier):
    start = time.perf_counter()
    scores = np.asarray(detector.score_samples(X_test), dtype=np.float64)
    score_s = time.perf_counter() - start
    return {
        "auroc": float(roc_auc_score(outlier, -scores)),
        "ap": float(average_precision_score(outlier, -scores)),
        "fit_s": fit_s,
        "score_s": score_s,
    }


def load_cache(path):
    results = {}
    if path.exists():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            results[row["case"], row["detector"]] = row
    return results


def group(case):
    return case.rsplit("-", 1)[0] if case[-1].isdigit() else case


def summary(results, detectors, by_group):
    """Markdown: the mean AUROC of each detector (rows) on each group (columns)."""
    groups = sorted(by_group, key=ORDER.index)
    lines = ["### Mean AUROC", ""]
    lines += ["| detector | " + " | ".join(groups) + " |"]
    lines += ["|---" * (len(groups) + 1) + "|"]
    for d in detectors:
        cells = []
        for g in groups:
            values = [results[c, d]["auroc"] for c in by_group[g] if (c, d) in results]
            if not values:
                cells.append("-")
                continue
            cell = f"{np.mean(values):.3f}"
            if len(values) < len(by_group[g]):
                cell += f" ({len(values)} of {len(by_group[g])})"
            cells.append(cell)
        lines += [f"| {d} | " + " | ".join(cells) + " |"]
    return [*lines, ""]


#: The order of the groups in the summary.
ORDER = ["mnist-class", "mnist-out", "digits-class", "digits-out", "cancer", "manifold"]


def tables(results, detectors):
    """Markdown: the summary; per group, AUROC per case, then AP and seconds."""
    by_group = {}
    for case, _ in results:
        by_group.setdefault(group(case), set()).add(case)
    lines = summary(results, detectors, by_group)
    for g in sorted(by_group, key=ORDER.index):
        members = sorted(by_group[g])
        names = [d for d in detectors if any((c, d) in results for c in members)]
        lines += [f"### {g}", ""]
        for metric, digits in (("auroc", 3), ("ap", 3)):
            lines += [f"{metric.upper()}:", ""]
            lines += ["| case | " + " | ".join(names) + " |"]
            lines += ["|---" * (len(names) + 1) + "|"]
            for case in members + (["mean"] if len(members) > 1 else []):
                cells = []
                for d in names:
                    if case == "mean":
                        values = [
                            results[c, d][metric] for c in members if (c, d) in results
                        ]
                        full = len(values) == len(members)
                        cells.append(
                            f"**{np.mean(values):.{digits}f}**"
                            + ("" if full else f" ({len(values)})")
                        )
                    else:
                        row = results.get((case, d))
                        cells.append(
                            "-" if row is None else f"{row[metric]:.{digits}f}"
                        )
                lines += [f"| {case} | " + " | ".join(cells) + " |"]
            lines += [""]
        lines += ["Seconds, mean over cases (fit / score the test set):", ""]
        lines += ["| " + " | ".join(names) + " |", "|---" * len(names) + "|"]
        cells = []
        for d in names:
            rows = [results[c, d] for c in members if (c, d) in results]
            cells.append(
                f"{np.mean([r['fit_s'] for r in rows]):.1f} / "
                f"{np.mean([r['score_s'] for r in rows]):.2f}"
            )
        lines += ["| " + " | ".join(cells) + " |", ""]
    return "\n".join(lines)


def time_scoring(path, repeats=5):
    """Markdown: seconds to score MNIST's 10000 test images, by reducer and method.

    The reducers train for two epochs only: scoring costs the same after two
    epochs as after fifty (an encoder pass, a neighbour search), and the
    fits stay short. The median of ``repeats`` runs.
    """
    X_train, _ = load_mnist(path, subset="train", return_X_y=True)
    X_test, _ = load_mnist(path, subset="test", return_X_y=True)
    lines = [
        f"Scoring MNIST's 10000 test images ({torch.get_num_threads()} torch "
        "threads; detectors fitted to the 60000 training images):",
        "",
        "| detector | seconds (median of 5) |",
        "|---|---|",
    ]
    for name, (make, methods) in FAMILIES.items():
        reducer = make().set_params(max_iter=2) if name != "skvae PCA" else make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reducer = FrozenEstimator(reducer.fit(X_train))
        for method in methods:
            detector = NoveltyDetector(reducer, method=method).fit(X_train)
            seconds = []
            for _ in range(repeats):
                start = time.perf_counter()
                detector.score_samples(X_test)
                seconds.append(time.perf_counter() - start)
            lines.append(f"| {name} ({method}) | {np.median(seconds):.3f} |")
    return "\n".join(lines)


def flagged(data, digits, path):
    """Markdown: the shares the default detector's threshold flags, per case."""
    lines = [
        "Flagged by `NoveltyDetector(random_state=0)` (contamination='auto'):",
        "",
        "| case | training rows | test inliers | test outliers |",
        "|---|---|---|---|",
    ]
    for name in data:
        for case, X_train, X_test, outlier in cases(name, digits, path):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                detector = NoveltyDetector(random_state=SEED).fit(X_train)
            train = np.mean(detector.predict(X_train) == -1)
            test = detector.predict(X_test) == -1
            lines.append(
                f"| {case} | {train:.3f} | {test[~outlier].mean():.3f} | "
                f"{test[outlier].mean():.3f} |"
            )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data",
        nargs="+",
        default=["digits-out", "digits-class", "cancer", "manifold"],
    )
    parser.add_argument(
        "--detectors", nargs="+", default=list(DETECTORS) + list(FAMILIES)
    )
    parser.add_argument("--digits", nargs="+", type=int, default=list(range(10)))
    parser.add_argument("--mnist", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--cache",
        type=Path,
        nargs="+",
        default=[Path("benchmarks/results/novelty-cache.jsonl")],
        help="results are appended to the first file and read from all",
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--tables-only", action="store_true")
    parser.add_argument(
        "--time-scoring", action="store_true", help="time scoring MNIST's test set"
    )
    parser.add_argument(
        "--flagged",
        action="store_true",
        help="the shares the default detector's threshold flags",
    )
    args = parser.parse_args()
    if args.time_scoring or args.flagged:
        text = (
            time_scoring(args.mnist)
            if args.time_scoring
            else flagged(args.data, args.digits, args.mnist)
        )
        print(text)
        if args.out:
            args.out.write_text(text + "\n")
        return

    singles = {d: DETECTORS[d] for d in args.detectors if d in DETECTORS}
    families = {
        d: FAMILIES[d] if d in FAMILIES else candidate(d)
        for d in args.detectors
        if d not in DETECTORS
    }
    names = list(singles) + [
        f"{f} ({m})" for f, (_, ms) in families.items() for m in ms
    ]
    results = {}
    for path in args.cache:
        results.update(load_cache(path))

    def record(case, name, row):
        row = {"case": case, "detector": name, **row}
        results[case, name] = row
        with args.cache[0].open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(
            f"{case:>18} {name:>32}: AUROC {row['auroc']:.3f} AP {row['ap']:.3f} "
            f"fit {row['fit_s']:.1f} s score {row['score_s']:.2f} s",
            flush=True,
        )

    if not args.tables_only:
        for data in args.data:
            for case, X_train, X_test, outlier in cases(data, args.digits, args.mnist):
                for name, make in singles.items():
                    if (case, name) not in results:
                        record(case, name, evaluate(make, X_train, X_test, outlier))
                for family, (make, methods) in families.items():
                    todo = [
                        m for m in methods if (case, f"{family} ({m})") not in results
                    ]
                    if todo:
                        rows = evaluate_family(make, todo, X_train, X_test, outlier)
                        for method, row in rows.items():
                            record(case, f"{family} ({method})", row)
    wanted = {c for c, _ in results if any(group(c) == d or c == d for d in args.data)}
    shown = {k: v for k, v in results.items() if k[0] in wanted and k[1] in names}
    header = f"- machine: {os.cpu_count()} cores"
    if not args.tables_only:
        header += f", torch threads {torch.get_num_threads()}"
    header += (
        "\n- OneClassSVM: gamma='scale'; LOF: novelty=True; PyOD: its defaults\n"
        f"- LOF, OneClassSVM and PyOD's detectors are fitted to at most "
        f"{SUBSET_ROWS} random training rows (MNIST one-digit-out has 54000)\n"
    )
    text = header + "\n" + tables(shown, names)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
