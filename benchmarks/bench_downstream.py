"""What the reducers' codes are worth downstream, and what they cost.

Every model is built with only ``n_components`` and ``random_state`` set, so
the table measures the defaults a user gets. For each model: the seconds of
``fit`` on the training data, the median seconds of three ``transform`` calls
on the test data, and a downstream score of the codes. Prints a markdown table
under a header naming the machine and the library versions.

Data sets (``--dataset``):

``mnist`` (default)
    Fit on the 60000 training images, scaled to [0, 1]; a 5-nearest-neighbour
    classifier is fitted on their codes and scored on the codes of the 10000
    test images. Models: ``AutoencoderTransformer`` and ``VAETransformer``
    with 2 and 16 components, scikit-learn's ``PCA(16)``, ``PCAReducer(16)``,
    ``VAETransformer(16, likelihood="bernoulli")`` whose test −ELBO (``-score``:
    summed binary cross-entropy plus KL, nats per image) is reported, and
    umap-learn's ``UMAP(2)`` when it is installed (its training codes are its
    ``embedding_``). The ``target`` column holds the goals and ``met`` whether
    they are reached.
``digits``
    The same models on scikit-learn's 8x8 digits, split 75/25 (stratified).
``tabular``
    Breast cancer, wine and ``make_classification(n_samples=20000,
    n_features=50, n_informative=10)``, standardised (the scaler fitted on the
    training part), split 75/25: 5-NN accuracy on the autoencoder's and the
    VAE's codes against PCA's at the same latent size, and on all features.
``blobs``
    20000 28x28 images of one Gaussian blob at a random position ``(u, v)``:
    the R² of a linear regression and of a 5-NN regression recovering
    ``(u, v)`` from the 2-D codes of the test images.

``--quick`` caps the training set at 5000 samples (and generates 5000 images
or rows for ``blobs`` and ``make_classification``): a smoke test, whose
numbers do not answer the targets. ``--max-iter`` overrides the neural
models' epochs, for smoke tests only.

Usage::

    python benchmarks/bench_downstream.py [--dataset mnist] [--data PATH/TO/mnist.npz]
        [--quick] [--out benchmarks/results/downstream-mnist.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.datasets import load_breast_cancer, load_wine, make_classification
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import StandardScaler

import skvae
from skvae import AutoencoderTransformer, PCAReducer, VAETransformer
from skvae.datasets import load_digits, load_mnist

# The development layout: this checkout beside a shared/ folder.
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
QUICK_SAMPLES = 5000
# The goals on the full MNIST run: 5-NN accuracy, seconds, nats.
FIT_TARGET_S, TRANSFORM_TARGET_S, NEG_ELBO_TARGET = 90.0, 0.2, 97.0


# ------------------------------------------------------------------ machine


def machine_header():
    """Markdown lines naming the machine, the library versions and the date."""
    cpu = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cpu = cpu or platform.processor() or platform.machine()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    versions = (
        f"Python {platform.python_version()}, skvae {skvae.__version__}, "
        f"torch {torch.__version__}, scikit-learn {sklearn.__version__}, "
        f"numpy {np.__version__}"
    )
    try:
        import umap

        versions += f", umap-learn {umap.__version__}"
    except ImportError:
        pass
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return [
        f"- machine: {cpu}; {os.cpu_count()} cores ({usable} usable), torch "
        f"threads {torch.get_num_threads()}; GPU: {gpu}",
        f"- versions: {versions}; commit {commit}",
        f"- date: {now}",
    ]


# -------------------------------------------------------------- measuring


def measure(make, X_train, X_test, repeat=3):
    """Fit ``make()`` on ``X_train`` and encode both parts.

    Returns a dict with the fitted ``model``, ``fit_s``, ``transform_s`` (the
    median of ``repeat`` transforms of ``X_test``), the codes ``Z_train`` and
    ``Z_test``, and ``notes``: the warnings that fit raised, in short.
    """
    model = make()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        model.fit(X_train)
        fit_s = time.perf_counter() - start
    notes = sorted(
        {
            "max_iter reached"
            if issubclass(w.category, ConvergenceWarning)
            else w.category.__name__
            for w in caught
            if not issubclass(w.category, DeprecationWarning | FutureWarning)
        }
    )
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        Z_test = model.transform(X_test)
        times.append(time.perf_counter() - start)
    # UMAP's transform of its own training data is not its embedding: the
    # embedding is what a user of UMAP trains downstream models on.
    embedding = getattr(model, "embedding_", None)
    Z_train = embedding if embedding is not None else model.transform(X_train)
    return {
        "model": model,
        "fit_s": fit_s,
        "transform_s": statistics.median(times),
        "Z_train": np.asarray(Z_train),
        "Z_test": np.asarray(Z_test),
        "notes": ", ".join(notes),
    }


def knn_accuracy(result, y_train, y_test):
    knn = KNeighborsClassifier(5).fit(result["Z_train"], y_train)
    return knn.score(result["Z_test"], y_test)


def neural(cls, n_components, args, **params):
    """A factory for ``cls`` with only ``n_components`` and ``random_state`` set
    (and ``max_iter`` when ``--max-iter`` asks for it)."""
    if args.max_iter is not None:
        params["max_iter"] = args.max_iter
    return lambda: cls(n_components, random_state=args.random_state, **params)


def umap_factory(n_components, args):
    """A factory for umap-learn's UMAP, or None when it is not installed."""
    try:
        import umap
    except ImportError:
        return None
    return lambda: umap.UMAP(n_components=n_components, random_state=args.random_state)


def subsample(X, y, n, random_state):
    """At most ``n`` rows of ``(X, y)``, drawn without replacement."""
    if len(X) <= n:
        return X, y
    rng = np.random.default_rng(random_state)
    idx = np.sort(rng.choice(len(X), n, replace=False))
    return X[idx], (None if y is None else y[idx])


def fmt(value, spec):
    return "—" if value is None else format(value, spec)


def markdown(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


# ----------------------------------------------------------------- images


def image_models(args):
    """``(name, factory, targets)`` of the image benchmark, in table order."""
    VAE, AE = VAETransformer, AutoencoderTransformer
    models = [
        ("AutoencoderTransformer(2)", neural(AE, 2, args), {"accuracy": 0.83}),
        ("VAETransformer(2)", neural(VAE, 2, args), {"accuracy": 0.81}),
        ("AutoencoderTransformer(16)", neural(AE, 16, args), {"accuracy": 0.965}),
        ("VAETransformer(16)", neural(VAE, 16, args), {"accuracy": 0.965}),
        ("PCAReducer(2)", lambda: PCAReducer(2, random_state=args.random_state), {}),
        ("sklearn PCA(16)", lambda: PCA(16, random_state=args.random_state), {}),
        ("PCAReducer(16)", lambda: PCAReducer(16, random_state=args.random_state), {}),
        (
            'VAETransformer(16, likelihood="bernoulli")',
            neural(VAE, 16, args, likelihood="bernoulli"),
            {"neg_elbo": NEG_ELBO_TARGET},
        ),
    ]
    for name, _, targets in models:
        if name.startswith(("Autoencoder", "VAE")):
            targets.update(fit_s=FIT_TARGET_S, transform_s=TRANSFORM_TARGET_S)
    umap_make = umap_factory(2, args)
    if umap_make is not None:
        models.append(("umap-learn UMAP(2)", umap_make, {}))
    return models


def describe_targets(targets):
    parts = []
    if "accuracy" in targets:
        parts.append(f"acc ≥ {targets['accuracy']:g}")
    if "neg_elbo" in targets:
        parts.append(f"-ELBO ≤ {targets['neg_elbo']:g}")
    if "fit_s" in targets:
        parts.append(f"fit ≤ {targets['fit_s']:g} s")
    if "transform_s" in targets:
        parts.append(f"transform ≤ {targets['transform_s']:g} s")
    return ", ".join(parts) or "—"


def missed_targets(targets, measured):
    """The names of the targets ``measured`` misses."""
    missed = []
    if "accuracy" in targets and measured["accuracy"] < targets["accuracy"]:
        missed.append("accuracy")
    if "neg_elbo" in targets and measured["neg_elbo"] > targets["neg_elbo"]:
        missed.append("-ELBO")
    for key, label in (("fit_s", "fit"), ("transform_s", "transform")):
        if key in targets and measured[key] > targets[key]:
            missed.append(label)
    return missed


def run_images(args):
    if args.dataset == "mnist":
        path = args.data
        if path is None and DEFAULT_DATA.is_file():
            path = DEFAULT_DATA
        X_train, y_train = load_mnist(path, subset="train", return_X_y=True)
        X_test, y_test = load_mnist(path, subset="test", return_X_y=True)
        title = "MNIST"
    else:
        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=args.random_state
        )
        title = "digits (8x8), 75/25 stratified split"
    if args.quick:
        X_train, y_train = subsample(X_train, y_train, QUICK_SAMPLES, args.random_state)
    with_targets = args.dataset == "mnist"

    rows = []
    for name, make, targets in image_models(args):
        print(f"  {name} ...", flush=True)
        result = measure(make, X_train, X_test)
        measured = {
            "accuracy": knn_accuracy(result, y_train, y_test),
            "fit_s": result["fit_s"],
            "transform_s": result["transform_s"],
            "neg_elbo": (
                -result["model"].score(X_test) if "neg_elbo" in targets else None
            ),
        }
        targets = targets if with_targets else {}
        missed = missed_targets(targets, measured)
        met = ("yes" if not missed else "no: " + ", ".join(missed)) if targets else "—"
        rows.append(
            [
                name,
                f"{measured['accuracy']:.4f}",
                fmt(measured["neg_elbo"], ".2f"),
                f"{measured['fit_s']:.2f}",
                f"{measured['transform_s']:.4f}",
                describe_targets(targets),
                met,
                result["notes"] or "—",
            ]
        )
    intro = [
        f"{title}: fit on {len(X_train)} training images ({X_train.shape[1]} "
        f"pixels in [0, 1]), 5-NN accuracy on the codes of {len(X_test)} test "
        "images; transform: median of 3 over the test images; -ELBO: nats per "
        "test image (summed binary cross-entropy plus KL).",
    ]
    columns = [
        "model",
        "5-NN accuracy",
        "-ELBO (nats)",
        "fit (s)",
        "transform (s)",
        "target",
        "met",
        "notes",
    ]
    return [*intro, "", *markdown(columns, rows)]


# ---------------------------------------------------------------- tabular


def tabular_sets(args):
    n = QUICK_SAMPLES if args.quick else 20_000
    X, y = make_classification(
        n_samples=n, n_features=50, n_informative=10, random_state=0
    )
    return [
        ("breast cancer", *load_breast_cancer(return_X_y=True)),
        ("wine", *load_wine(return_X_y=True)),
        (f"make_classification({n}x50)", X, y),
    ]


def run_tabular(args):
    rows = []
    for title, X, y in tabular_sets(args):
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=args.random_state
        )
        if args.quick:
            X_train, y_train = subsample(
                X_train, y_train, QUICK_SAMPLES, args.random_state
            )
        # The scaler sees only the training part, as in a pipeline.
        scaler = StandardScaler().fit(X_train)
        X_train = scaler.transform(X_train).astype(np.float32)
        X_test = scaler.transform(X_test).astype(np.float32)
        size = f"{len(X_train)}/{len(X_test)}"
        raw = KNeighborsClassifier(5).fit(X_train, y_train).score(X_test, y_test)
        rows.append(
            [title, size, X.shape[1], "all features", "—", f"{raw:.4f}", "—", "—", "—"]
        )
        for k in (2, 8):
            models = [
                (
                    "PCAReducer",
                    lambda k=k: PCAReducer(k, random_state=args.random_state),
                ),
                ("AutoencoderTransformer", neural(AutoencoderTransformer, k, args)),
                ("VAETransformer", neural(VAETransformer, k, args)),
            ]
            for name, make in models:
                print(f"  {title}: {name}({k}) ...", flush=True)
                result = measure(make, X_train, X_test)
                accuracy = knn_accuracy(result, y_train, y_test)
                rows.append(
                    [
                        title,
                        size,
                        X.shape[1],
                        name,
                        k,
                        f"{accuracy:.4f}",
                        f"{result['fit_s']:.2f}",
                        f"{result['transform_s']:.4f}",
                        result["notes"] or "—",
                    ]
                )
    intro = [
        "Standardised tabular data, 75/25 stratified split: 5-NN accuracy on the "
        "codes of the test part (k components) against PCA at the same k and "
        "against all features; transform: median of 3 over the test part."
    ]
    columns = [
        "data set",
        "train/test",
        "features",
        "model",
        "k",
        "5-NN accuracy",
        "fit (s)",
        "transform (s)",
        "notes",
    ]
    return [*intro, "", *markdown(columns, rows)]


# ------------------------------------------------------------------ blobs


def make_blobs_images(n_samples, random_state, size=28, sigma=2.0, margin=4.0):
    """``n_samples`` images of one Gaussian blob, and the blob centres.

    Returns ``X`` of shape (n_samples, size * size), float32 with peak 1, and
    ``centres`` of shape (n_samples, 2): the column ``u`` and row ``v`` of each
    blob, uniform in ``[margin, size - 1 - margin]``.
    """
    rng = np.random.default_rng(random_state)
    centres = rng.uniform(margin, size - 1 - margin, size=(n_samples, 2))
    grid = np.arange(size)
    # The blob is separable: an outer product of two 1-D Gaussians.
    gx = np.exp(-((grid - centres[:, :1]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((grid - centres[:, 1:]) ** 2) / (2 * sigma**2))
    images = gy[:, :, None] * gx[:, None, :]
    return images.reshape(n_samples, -1).astype(np.float32), centres


def run_blobs(args):
    n = QUICK_SAMPLES if args.quick else 20_000
    X, centres = make_blobs_images(n, args.random_state)
    X_train, X_test, c_train, c_test = train_test_split(
        X, centres, test_size=0.25, random_state=args.random_state
    )
    models = [
        ("PCAReducer(2)", lambda: PCAReducer(2, random_state=args.random_state)),
        ("AutoencoderTransformer(2)", neural(AutoencoderTransformer, 2, args)),
        ("VAETransformer(2)", neural(VAETransformer, 2, args)),
    ]
    umap_make = umap_factory(2, args)
    if umap_make is not None:
        models.append(("umap-learn UMAP(2)", umap_make))
    rows = []
    for name, make in models:
        print(f"  {name} ...", flush=True)
        result = measure(make, X_train, X_test)
        Z_train, Z_test = result["Z_train"], result["Z_test"]
        linear = LinearRegression().fit(Z_train, c_train).score(Z_test, c_test)
        knn = KNeighborsRegressor(5).fit(Z_train, c_train).score(Z_test, c_test)
        rows.append(
            [
                name,
                f"{linear:.4f}",
                f"{knn:.4f}",
                f"{result['fit_s']:.2f}",
                f"{result['transform_s']:.4f}",
                result["notes"] or "—",
            ]
        )
    intro = [
        f"Blobs: {n} images 28x28 of a Gaussian blob (sigma 2 pixels, peak 1) at a "
        f"uniform random position (u, v); fit on {len(X_train)}, scored on "
        f"{len(X_test)}. R²: how well a linear regression, and a 5-NN "
        "regression, recover (u, v) from the 2-D codes of the test images (1 "
        "is perfect). transform: median of 3 over the test images."
    ]
    columns = [
        "model",
        "R² linear (u, v)",
        "R² 5-NN (u, v)",
        "fit (s)",
        "transform (s)",
        "notes",
    ]
    return [*intro, "", *markdown(columns, rows)]


# ------------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dataset", choices=["mnist", "digits", "tabular", "blobs"], default="mnist"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"the MNIST .npz file or its directory (default: {DEFAULT_DATA} "
        "when it exists, else skvae.datasets.load_mnist's search)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"at most {QUICK_SAMPLES} training samples: a smoke test",
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        default=None,
        help="epochs of the neural models (default: their own; smoke tests only)",
    )
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write to FILE")
    args = parser.parse_args(argv)

    print(f"bench_downstream: {args.dataset}", flush=True)
    run = {"tabular": run_tabular, "blobs": run_blobs}.get(args.dataset, run_images)
    body = run(args)
    header = [f"# Downstream benchmark: {args.dataset}", "", *machine_header()]
    if args.quick:
        header.append(f"- --quick: at most {QUICK_SAMPLES} training samples")
    if args.max_iter is not None:
        header.append(
            f"- --max-iter {args.max_iter}: the neural models' epochs are not "
            "their defaults"
        )
    report = "\n".join([*header, "", *body]) + "\n"
    print()
    print(report, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")
        print(f"\nWrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
