"""Held-out ELBO of the default VAE against its best epoch, on every data set.

For each data set and latent size, a ``VAETransformer`` with only
``n_components`` and ``random_state`` set is fitted on the training part.
After every epoch a callback scores (up to 2000 of) the test rows with the
network of that epoch and the decoder variance the fitted model would have
at that point, so the table shows whether the held-out ELBO degrades as
training goes on: the training and test ELBO of the fitted model (their gap
is overfitting), how far the fitted model's ELBO on the scored rows lies
below the best epoch's ("drop"), the 5-NN accuracy of the test codes
(R² of the blob's position for ``blobs``) and the fit's seconds.

ELBOs are nats per sample in the units of X (as ``score`` gives them): MNIST
and the blobs in [0, 1] per pixel, digits in its 0-16 grey levels, the
tables standardised.

The per-epoch scores reach into the training loop (``skvae._neural.train``)
to see the network between epochs. Run it on two checkouts to compare
versions. The alternatives weighed against the chosen design are options
that reach further in: ``--params`` sets estimator parameters (fewer
epochs, a smaller network), ``--weight-decay`` trains with AdamW's decoupled
weight decay instead of Adam, and ``--keep-last`` keeps the last epoch's
weights instead of the best held-out epoch's. ``--small`` runs only the
data sets of at most 6000 rows, where the alternatives differ.

Usage::

    python benchmarks/bench_heldout.py [--data PATH/TO/mnist.npz] [--quick]
        [--small] [--only digits wine ...] [--params '{"max_iter": 100}']
        [--weight-decay 1.0] [--keep-last] [--out benchmarks/results/heldout.md]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_wine,
    make_classification,
)
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_downstream import DEFAULT_DATA, machine_header, make_blobs_images

import skvae._neural
from skvae import VAETransformer

_LOG_2PI = np.log(2 * np.pi)
CURVE_ROWS = 2000


def data_sets(args):
    """``(name, X_train, X_test, y_train, y_test, latent sizes)`` of each data set."""
    mnist = np.load(args.data)
    X_mnist = mnist["X_train"].reshape(-1, 784).astype(np.float32) / 255
    X_mnist_test = mnist["X_test"].reshape(-1, 784).astype(np.float32) / 255
    order = np.random.default_rng(0).permutation(len(X_mnist))
    for n in (500, 2000, 6000) + (() if args.quick or args.small else (60000,)):
        idx = order[:n]
        yield (
            f"MNIST {n}",
            X_mnist[idx],
            X_mnist_test,
            mnist["y_train"][idx],
            mnist["y_test"],
            (2, 16),
        )
    X, y = load_digits(return_X_y=True)
    yield ("digits", *_split(X, y), (2, 16))
    n = 5000 if args.quick else 20000
    synthetic = make_classification(n, n_features=50, n_informative=10, random_state=0)
    tables = [
        ("breast cancer", load_breast_cancer(return_X_y=True)),
        ("wine", load_wine(return_X_y=True)),
    ]
    if not args.small:
        tables.append((f"make_classification({n}x50)", synthetic))
    for name, (X, y) in tables:
        X_train, X_test, y_train, y_test = _split(X, y)
        scaler = StandardScaler().fit(X_train)
        yield (
            name,
            scaler.transform(X_train),
            scaler.transform(X_test),
            y_train,
            y_test,
            (2, 8),
        )
    if args.small:
        return
    X, centres = make_blobs_images(n, 0)
    X_train, X_test, c_train, c_test = train_test_split(X, centres, random_state=0)
    yield ("blobs", X_train, X_test, c_train, c_test, (2,))


def _split(X, y):
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


class _Curve:
    """Scores the test rows after every epoch, with the network being trained."""

    def __init__(self, X_test):
        self.X_test, self.values, self.run = X_test, [], {}
        train = skvae._neural.train

        def spy(module, optimizer, X, objective, plan, **kwargs):
            self.run.update(module=module, objective=objective)
            return train(module, optimizer, X, objective, plan, **kwargs)

        skvae._neural.train = spy

    def __call__(self, est, record):
        module, objective = self.run["module"], self.run["objective"]
        self.values.append(self.score(est, module, lambda sq: _variance(objective, sq)))

    def score(self, est, module, variance):
        """Mean ELBO of the curve's rows under ``module`` and ``variance(squared)``."""
        was_training = module.training
        module.eval()
        with torch.inference_mode():
            x = est._standardize(torch.as_tensor(self.X_test, dtype=torch.float32))
            mean, logvar = module.encode(x)
            noise = torch.randn(mean.shape, generator=torch.Generator().manual_seed(1))
            out = module.decode(mean + torch.exp(0.5 * logvar) * noise)
            squared = (out - x).square()
            var = variance(squared)
            nll = 0.5 * (squared / var + torch.log(var) + _LOG_2PI).sum(1)
            kl = 0.5 * (mean.square() + logvar.exp() - 1 - logvar).sum(1)
        module.train(was_training)
        log_jacobian = x.shape[1] * np.log(est.scale_)
        return float((-nll - kl).double().mean()) - log_jacobian


def _variance(objective, squared):
    """The decoder variance the model would be fitted with at this epoch."""
    held_out = getattr(objective, "_held_out", None)
    if held_out is not None:  # calibrated on held-out rows
        return held_out
    residuals = getattr(objective, "_residuals", None)
    if isinstance(residuals, tuple) and len(residuals) == 3:  # on the training rows
        _, total, rows = residuals
        return (total / rows).mean().clamp(min=1e-4)
    return squared.mean().clamp(min=1e-4)


def _alternatives(args):
    """Put the training changes that ``args`` asks for in place."""
    if args.weight_decay:

        def adamw(parameters, learning_rate, state=None):
            return torch.optim.AdamW(
                list(parameters), lr=learning_rate, weight_decay=args.weight_decay
            )

        skvae._neural.make_optimizer = adamw
    if args.keep_last:
        skvae._training._Stopper.restore_best = lambda self: None


def measure(name, X_train, X_test, y_train, y_test, k, params):
    curve = _Curve(X_test[:CURVE_ROWS])
    est = VAETransformer(n_components=k, random_state=0, **params)
    est.set_params(callbacks=[lambda record: curve(est, record)])
    start = time.perf_counter()
    est.fit(X_train)
    seconds = time.perf_counter() - start
    if y_train.ndim == 2:  # blob positions: 5-NN regression R²
        downstream = KNeighborsRegressor().fit(est.transform(X_train), y_train)
    else:
        downstream = KNeighborsClassifier().fit(est.transform(X_train), y_train)
    best = int(np.argmax(curve.values))
    # The fitted model on the curve's rows, with the same noise: how far it
    # lies below the best epoch.
    final = curve.score(est, est.module_, lambda sq: est.module_.observation_variance())
    return {
        "data": name,
        "n_train": len(X_train),
        "k": k,
        "epochs": est.n_iter_,
        "train ELBO": est.score(X_train),
        "test ELBO": est.score(X_test),
        "drop": curve.values[best] - final,
        "best epoch": best + 1,
        "5-NN": downstream.score(est.transform(X_test), y_test),
        "fit s": seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="mnist.npz")
    parser.add_argument("--quick", action="store_true", help="no 60000-row fits")
    parser.add_argument("--small", action="store_true", help="up to 6000 rows")
    parser.add_argument("--only", nargs="*", help="data sets whose name starts so")
    parser.add_argument("--params", type=json.loads, default={}, help="JSON")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--keep-last", action="store_true")
    parser.add_argument("--out", help="also write the table here")
    args = parser.parse_args(argv)
    _alternatives(args)
    rows = []
    options = {
        "params": args.params,
        "weight decay": args.weight_decay,
        "keep last": args.keep_last,
    }
    lines = [*machine_header(), f"- options: {options}", ""]
    print("\n".join(lines), flush=True)
    for name, X_train, X_test, y_train, y_test, sizes in data_sets(args):
        if args.only and not any(name.startswith(o) for o in args.only):
            continue
        for k in sizes:
            row = measure(name, X_train, X_test, y_train, y_test, k, args.params)
            rows.append(row)
            if len(rows) == 1:
                header = "| " + " | ".join(row) + " |"
                print(header + "\n" + "|---" * len(row) + "|", flush=True)
                lines += [header, "|---" * len(row) + "|"]
            cells = [
                f"{v:.3f}"
                if k_ == "5-NN"
                else f"{v:.1f}"
                if isinstance(v, float)
                else str(v)
                for k_, v in row.items()
            ]
            lines.append("| " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
