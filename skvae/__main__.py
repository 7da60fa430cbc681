"""Command line: ``python -m skvae demo|benchmark`` (or ``skvae ...`` once installed).

``demo`` reduces scikit-learn's digits and classifies them downstream;
``benchmark`` runs :func:`skvae.benchmark.compare_reducers` on the digits or
MNIST and prints (and optionally writes) its table.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import logging
import math
import os
import sys
import time

import numpy as np
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from . import (
    AutoencoderTransformer,
    NeighborEmbedding,
    PCAReducer,
    VAETransformer,
    __version__,
)
from .benchmark import COMPARE_COLUMNS, compare_reducers
from .datasets import load_digits, load_mnist, load_train_test
from .metrics import reconstruction_r2

ELBO_LEGEND = (
    "ELBO: the VAE's evidence lower bound on log p(x), in nats per image with\n"
    "pixel values in [0, 1] (a density over all pixels, so it can be positive);\n"
    "higher is better. test / train: of the test images / of the images it\n"
    "trained on; a test ELBO far below the training one means overfitting."
)


def _reducers(n_components, max_iter, random_state, verbose=0):
    """The reducers the demo compares, by name, for one latent size.

    The library's defaults: the demo shows what a first call gives.
    """
    common = dict(max_iter=max_iter, random_state=random_state, verbose=verbose)
    return {
        "PCA": PCAReducer(n_components),
        "autoencoder": AutoencoderTransformer(n_components, **common),
        "VAE": VAETransformer(n_components, **common),
        "neighbour embedding": NeighborEmbedding(n_components, **common),
    }


#: The KL weights of the demo's sweep, one per regime. With the calibrated
#: decoder on digits, 3 squeezes the codes onto the prior (over-regularised,
#: blurred samples), 1 is the ELBO (well spread), and at 0.01 the codes
#: spread to four times the prior's width, so that samples from the prior
#: repeat the few shapes near its centre (autoencoder-like).
DEMO_KL_WEIGHTS = (3.0, 1.0, 0.01)


#: Latent size and epochs of the demo's convolutional VAE (MNIST only): with
#: 16 dimensions its test ELBO beats the MLP's, and 20 epochs of it cost
#: about what the MLP's 50 do (benchmarks/results/conv.md).
CONV_COMPONENTS, CONV_EPOCHS = 16, 20


def _conv_pair(image_shape, max_iter, random_state, verbose):
    """The MLP and the convolutional VAE the demo draws side by side."""
    conv_epochs = CONV_EPOCHS if max_iter == "auto" else max_iter
    common = dict(random_state=random_state, verbose=verbose)
    return {
        "MLP": VAETransformer(CONV_COMPONENTS, max_iter=max_iter, **common),
        "conv": VAETransformer(
            CONV_COMPONENTS,
            encoder="conv",
            decoder="conv",
            image_shape=(1, *image_shape),
            max_iter=conv_epochs,
            **common,
        ),
    }


def _epochs(value):
    """``--max-iter``: a positive number of epochs, or "auto"."""
    return value if value == "auto" else int(value)


def _progress_bars():
    """Whether to draw tqdm progress bars: with tqdm, on a terminal only.

    tqdm draws on stderr; written to a file, its redraws and the blank line
    that each closed bar leaves would land between the table's rows.
    """
    if importlib.util.find_spec("tqdm") is None:
        return False
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # a stream without isatty, or closed
        return False


@contextlib.contextmanager
def _data_errors(args):
    """Report missing or unreadable data as argparse reports a bad argument.

    One message on stderr, the loader's own (it lists every place looked in),
    and exit status 2, rather than a traceback.
    """
    try:
        yield
    except (FileNotFoundError, ValueError) as exc:
        hint = ""
        if not args.data:
            hint = "\nOn the command line, --data PATH names the MNIST file."
        print(f"skvae {args.command}: error: {exc}{hint}", file=sys.stderr)
        raise SystemExit(2) from None


def _demo_data(args):
    """``(X_train, X_test, y_train, y_test, description, image_shape)``."""
    if args.dataset == "digits" and args.data is not None:
        raise SystemExit("--data names the MNIST file; digits need none.")
    with _data_errors(args):
        data = load_train_test(
            args.dataset,
            path=args.data,
            download_if_missing=True,
            random_state=args.random_state,
        )
    parts = [data.X_train, data.X_test, data.y_train, data.y_test]
    if args.n_samples is not None:
        rng = np.random.RandomState(args.random_state)
        for i in (0, 1):  # at most n_samples rows of each part, drawn at random
            keep = rng.permutation(len(parts[i]))[: args.n_samples]
            parts[i], parts[i + 2] = parts[i][keep], parts[i + 2][keep]
    height, width = data.image_shape
    where = (
        f"{'MNIST' if data.name == 'mnist' else data.name}, {len(parts[0])} "
        f"training and {len(parts[1])} test images of {height} by {width} pixels"
    )
    return (*parts, where, data.image_shape)


def demo(args):
    """Reduce digits (or MNIST) with PCA, an autoencoder and a VAE; write a report."""
    X_train, X_test, y_train, y_test, where, image_shape = _demo_data(args)
    print(f"skvae {__version__} demo: {where}")
    started = time.perf_counter()

    pca = PCAReducer().fit(X_train)
    cumulative = np.cumsum(pca.explained_variance_ratio_)
    print("\nPCA explained variance")
    variance_lines = [
        f"first {k:>2} components: {cumulative[k - 1]:6.1%}"
        for k in (2, 5, 10, 20)
        if k <= len(cumulative)
    ]
    for share in (0.9, 0.95):
        needed = PCAReducer(n_components=share).fit(X_train).n_components_
        variance_lines.append(f"{share:.0%} of the variance needs {needed} components")
    for line in variance_lines:
        print(f"  {line}")

    baseline = KNeighborsClassifier().fit(X_train, y_train).score(X_test, y_test)
    print(f"\nk-NN test accuracy on all {X_train.shape[1]} pixels: {baseline:.3f}")
    print(
        "\nOn the test images: k-NN accuracy in the latent space, the share of "
        "variance\nthe reconstruction keeps (R²), and the VAE's ELBO (KL weight 1)."
    )
    print(ELBO_LEGEND)
    columns = [
        "reducer",
        "latent size",
        "k-NN accuracy",
        "reconstruction R²",
        "ELBO test / train",
        "fit (s)",
    ]
    _print_header(columns)
    table, fitted = [], {}
    # A progress bar per fit with tqdm on a terminal; otherwise verbose would
    # log every epoch, so the table's rows, printed as they come, are the
    # progress.
    progress = int(_progress_bars())
    components = list(dict.fromkeys(args.components))
    # The figures show two-dimensional latent spaces, fitted here if the table
    # does not already hold them.
    sizes = components if (2 in components or args.no_report) else [*components, 2]
    for n_components in sizes:
        reducers = _reducers(
            n_components, args.max_iter, args.random_state, verbose=progress
        )
        for name, reducer in reducers.items():
            pipe = Pipeline([("reduce", reducer), ("knn", KNeighborsClassifier())])
            start = time.perf_counter()
            pipe.fit(X_train, y_train)
            seconds = time.perf_counter() - start
            if n_components == 2:
                fitted[name] = reducer
            if n_components not in components:
                continue
            accuracy = pipe.score(X_test, y_test)
            r2 = reconstruction_r2(reducer, X_test)
            elbo = "-"
            if hasattr(reducer, "train_elbo_"):
                elbo = f"{reducer.score(X_test):.1f} / {reducer.train_elbo_:.1f}"
            row = [
                name,
                n_components,
                f"{accuracy:.3f}",
                f"{r2:.3f}",
                elbo,
                f"{seconds:.2f}",
            ]
            table.append(row)
            print(_markdown_row(row))

    if args.no_report:
        return 0

    print(
        "\nThe KL weight, two latent dimensions: k-NN accuracy and ELBO on the "
        "test images,\nthe KL divergence of the codes from the prior (nats) "
        "and the spread of the codes."
    )
    sweep_columns = [
        "kl_weight",
        "k-NN accuracy",
        "ELBO test / train",
        "KL (nats)",
        "code std",
    ]
    _print_header(sweep_columns)
    sweep, sweep_table = {}, []
    for weight in DEMO_KL_WEIGHTS:
        vae = fitted["VAE"]
        if weight != vae.kl_weight:
            vae = clone(vae).set_params(kl_weight=weight).fit(X_train)
        sweep[weight] = vae
        Z_train, Z_test = vae.transform(X_train), vae.transform(X_test)
        accuracy = KNeighborsClassifier().fit(Z_train, y_train).score(Z_test, y_test)
        row = [
            f"{weight:g}",
            f"{accuracy:.3f}",
            f"{vae.score(X_test):.1f} / {vae.train_elbo_:.1f}",
            f"{np.sum(vae.kl_per_dimension_):.1f}",
            ", ".join(f"{s:.2f}" for s in np.std(Z_test, axis=0)),
        ]
        sweep_table.append(row)
        print(_markdown_row(row))
    try:
        from ._report import write_demo_report
    except ImportError as exc:  # matplotlib is an optional extra
        print(f"\nNo figures or report: {exc}")
        return 0

    conv, conv_table = {}, []
    if args.dataset == "mnist":
        print(
            f"\nConvolutional networks, {CONV_COMPONENTS} latent dimensions: "
            "the default MLP VAE\nand one with skvae.nn's convolutional encoder "
            "and decoder, on the test images."
        )
        conv_columns = ["networks", "epochs", "k-NN accuracy", "ELBO test / train"]
        conv_columns.append("fit (s)")
        _print_header(conv_columns)
        pair = _conv_pair(image_shape, args.max_iter, args.random_state, progress)
        for name, vae in pair.items():
            start = time.perf_counter()
            vae.fit(X_train)
            seconds = time.perf_counter() - start
            Z_train, Z_test = vae.transform(X_train), vae.transform(X_test)
            knn = KNeighborsClassifier().fit(Z_train, y_train)
            row = [
                name,
                vae.n_iter_,
                f"{knn.score(Z_test, y_test):.3f}",
                f"{vae.score(X_test):.1f} / {vae.train_elbo_:.1f}",
                f"{seconds:.1f}",
            ]
            conv_table.append(row)
            print(_markdown_row(row))
        conv = {"models": pair, "table": (conv_columns, conv_table)}
    print("\nDrawing the figures ...")
    path = write_demo_report(
        args.out,
        where=where,
        data=(X_train, X_test, y_train, y_test),
        image_shape=image_shape,
        pca=pca,
        fitted=fitted,
        sweep=sweep,
        variance_lines=variance_lines,
        table=(columns, table),
        sweep_table=(sweep_columns, sweep_table),
        baseline=baseline,
        random_state=args.random_state,
        conv=conv,
    )
    print(
        f"\nDone in {time.perf_counter() - started:.0f} s. The report and its "
        f"figures are in {path.parent}{os.sep}\nOpen {path} in a browser."
    )
    return 0


def benchmark(args):
    """Compare PCA, the autoencoder and the VAE downstream on digits or MNIST."""
    if args.dataset == "digits":
        if args.data is not None:
            raise SystemExit("--data names the MNIST file; digits need none.")
        X, y = load_digits(return_X_y=True)
        X_test = y_test = None
        where = f"digits, {len(X)} images split 75/25 (stratified)"
    else:
        with _data_errors(args):
            X, y = load_mnist(args.data, subset="train", return_X_y=True)
            X_test, y_test = load_mnist(args.data, subset="test", return_X_y=True)
        where = f"MNIST, {len(X)} training and {len(X_test)} test images"
    reducers = {
        "PCA": PCAReducer(random_state=args.random_state),
        "autoencoder": AutoencoderTransformer(random_state=args.random_state),
        "VAE": VAETransformer(random_state=args.random_state),
    }
    if args.max_iter is not None:
        for reducer in reducers.values():
            if "max_iter" in reducer.get_params():
                reducer.set_params(max_iter=args.max_iter)

    print(f"skvae {__version__} benchmark: {where}")
    records = compare_reducers(
        X,
        y,
        reducers=reducers,
        n_components=args.components,
        X_test=X_test,
        y_test=y_test,
        n_jobs=args.n_jobs,
        # Progress over the fits: a tqdm bar on a terminal only (in a file its
        # redraws are noise), or a log line per fit where tqdm is missing.
        verbose=int(_progress_bars() or importlib.util.find_spec("tqdm") is None),
        random_state=args.random_state,
        # Records, so the command works without pandas.
        as_frame=False,
    )
    _print_summary(records)
    if args.out is not None:
        with open(args.out, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COMPARE_COLUMNS)
            writer.writeheader()
            writer.writerows(records)
        print(f"\nWrote {len(records)} rows to {args.out}")
    return 0


def _print_summary(records):
    """A markdown table of ``records``, averaged over the splits."""
    groups = {}
    for row in records:
        key = (row["reducer"], row["n_components"], row["estimator"])
        groups.setdefault(key, []).append(row)

    def mean(rows, column, fmt):
        values = [row[column] for row in rows if not math.isnan(row[column])]
        return format(sum(values) / len(values), fmt) if values else "-"

    print(
        "\nOn the test data: the downstream estimator's score on the codes (mean "
        "over splits),\nthe share of variance the reconstruction keeps (R²), "
        "the ELBO, and seconds."
    )
    print(ELBO_LEGEND)
    print(
        "\n| reducer | latent size | estimator | score | reconstruction R² "
        "| ELBO test / train | fit (s) | transform (s) | estimator (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (reducer, k, estimator), rows in groups.items():
        print(
            f"| {reducer} | {k} | {estimator} | {mean(rows, 'score', '.3f')} "
            f"| {mean(rows, 'reconstruction_r2', '.3f')} "
            f"| {_pair(mean(rows, 'elbo', '.1f'), mean(rows, 'train_elbo', '.1f'))} "
            f"| {mean(rows, 'fit_seconds', '.2f')} "
            f"| {mean(rows, 'transform_seconds', '.3f')} "
            f"| {mean(rows, 'estimator_seconds', '.2f')} |"
        )


def _pair(test, train):
    """``"test / train"``, or ``"-"`` where neither is known."""
    return "-" if test == "-" else f"{test} / {train}"


def _markdown_row(cells):
    return "| " + " | ".join(map(str, cells)) + " |"


def _print_header(columns):
    """A markdown table's header, after a blank line; rows follow as they come."""
    print("\n" + _markdown_row(columns))
    print("|---" * len(columns) + "|")


def _parser():
    """The command line's parser: every option says what it does and its default."""
    parser = argparse.ArgumentParser(prog="skvae", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo_parser = commands.add_parser("demo", help=demo.__doc__)
    demo_parser.add_argument(
        "--dataset",
        choices=["digits", "mnist"],
        default="digits",
        help="scikit-learn's 8x8 digits or the 28x28 MNIST (default: %(default)s)",
    )
    demo_parser.add_argument(
        "--data",
        default=None,
        help="the MNIST .npz file or its directory (default: the SKVAE_MNIST "
        "environment variable, conventional places, then a download)",
    )
    demo_components = [2, 10]
    demo_parser.add_argument(
        "--components",
        type=int,
        nargs="+",
        default=demo_components,
        help="the latent sizes to compare, one or more (default: "
        f"{' '.join(map(str, demo_components))})",
    )
    demo_parser.add_argument(
        "--max-iter",
        type=_epochs,
        default="auto",
        help="training epochs of the neural reducers (default: %(default)s)",
    )
    demo_parser.add_argument(
        "--n-samples",
        type=int,
        default=None,
        help="use at most this many training and this many test images, "
        "drawn at random (default: all)",
    )
    demo_parser.add_argument(
        "--out",
        default="skvae-demo",
        help="the folder for report.html and the figures (default: %(default)s)",
    )
    demo_parser.add_argument(
        "--no-report",
        action="store_true",
        help="print the table only, without the KL sweep, the figures and the "
        "report (default: all of them)",
    )
    demo_parser.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="seeds the digits' split, --n-samples' draw and the neural "
        "reducers (default: %(default)s)",
    )
    demo_parser.set_defaults(run=demo)

    bench_parser = commands.add_parser("benchmark", help=benchmark.__doc__)
    bench_parser.add_argument(
        "--dataset",
        choices=["digits", "mnist"],
        default="digits",
        help="scikit-learn's 8x8 digits, split 75/25, or MNIST with its own "
        "test images (default: %(default)s)",
    )
    bench_parser.add_argument(
        "--data",
        default=None,
        help="the MNIST .npz file or its directory (default: the SKVAE_MNIST "
        "environment variable, then conventional places; no download)",
    )
    bench_components = [2, 16]
    bench_parser.add_argument(
        "--components",
        type=int,
        nargs="+",
        default=bench_components,
        help="the latent sizes to compare, one or more (default: "
        f"{' '.join(map(str, bench_components))})",
    )
    bench_parser.add_argument(
        "--out",
        default=None,
        help="write the full table (one row per split) to this CSV file "
        "(default: print the summary only)",
    )
    bench_parser.add_argument(
        "--max-iter",
        type=int,
        default=None,
        help="training epochs of the neural reducers (default: their own)",
    )
    bench_parser.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="fits to run in parallel through joblib; -1 uses every core "
        "(default: one at a time)",
    )
    bench_parser.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="seeds the reducers and the digits' split (default: %(default)s)",
    )
    bench_parser.set_defaults(run=benchmark)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
