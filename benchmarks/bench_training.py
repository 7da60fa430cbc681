"""Training speed of the skvae networks against a plain PyTorch loop and skorch.

Trains a 784-400-20 MLP autoencoder and VAE (one hidden layer of 400, latent
20) on MNIST with batch size 128 for a few epochs and prints a markdown table
of samples/s, seconds per epoch and the ratio to a plain hand-written loop:
the loop people write, with ``torch.optim.Adam`` and a per-batch
``loss.item()`` for logging. skorch rows are skipped when skorch is not
installed. Then prints the transform throughput of the fitted estimators.

Usage::

    python benchmarks/bench_training.py --epochs 3 [--data PATH/TO/mnist.npz]

Each method trains for ``--epochs`` epochs after one untimed warm-up epoch
(which also pays for lazy initialisations inside torch); the fastest epoch of
the best of ``--repeats`` runs is reported, the fairest estimate on a shared
machine where other processes steal cycles. skvae's epoch times are its own
``history_[i]["time"]``, which include the per-epoch NaN check and
bookkeeping.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from skvae import AutoencoderTransformer, VAETransformer
from skvae.datasets import load_mnist

# The development layout: this checkout beside a shared/ folder.
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


# ---------------------------------------------------------------- plain torch


class PlainAE(nn.Module):
    def __init__(self, d, h, k):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, k))
        self.decoder = nn.Sequential(nn.Linear(k, h), nn.ReLU(), nn.Linear(h, d))

    def forward(self, x):
        return self.decoder(self.encoder(x))


class PlainVAE(nn.Module):
    def __init__(self, d, h, k):
        super().__init__()
        self.fc1 = nn.Linear(d, h)
        self.fc_mu = nn.Linear(h, k)
        self.fc_logvar = nn.Linear(h, k)
        self.decoder = nn.Sequential(nn.Linear(k, h), nn.ReLU(), nn.Linear(h, d))

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc_mu(h), self.fc_logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar


def ae_loss(model, xb):
    return F.mse_loss(model(xb), xb)


def vae_loss(model, xb):
    logits, mu, logvar = model(xb)
    bce = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (bce + kl) / len(xb)


def plain_loop(kind, X, epochs, batch_size, loader=False):
    """The training loop as usually hand-written; returns its fastest epoch (s)."""
    d = X.shape[1]
    model = PlainAE(d, 400, 20) if kind == "ae" else PlainVAE(d, 400, 20)
    loss_fn = ae_loss if kind == "ae" else vae_loss
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    Xt = torch.from_numpy(X)
    if loader:
        dl = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(Xt), batch_size=batch_size, shuffle=True
        )
    times, log = [], []
    for epoch in range(epochs + 1):
        start = time.perf_counter()
        if loader:
            batches = (xb for (xb,) in dl)
        else:
            perm = torch.randperm(len(Xt))
            batches = (
                Xt[perm[i : i + batch_size]] for i in range(0, len(Xt), batch_size)
            )
        for xb in batches:
            loss = loss_fn(model, xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            log.append(loss.item())
        if epoch:  # the first epoch is a warm-up
            times.append(time.perf_counter() - start)
    return min(times)


# ---------------------------------------------------------------------- skvae


def skvae_estimator(kind, epochs):
    params = dict(
        n_components=20,
        hidden_layer_sizes=(400,),
        batch_size=128,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=10**6,
        device="cpu",
        random_state=0,
    )
    if kind == "ae":
        return AutoencoderTransformer(**params)
    return VAETransformer(likelihood="bernoulli", **params)


def skvae_fit(kind, X, epochs):
    """Fastest epoch of ``fit`` in seconds, from the estimator's own timings."""
    est = skvae_estimator(kind, epochs + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    return min(r["time"] for r in est.history_[1:]), est


# --------------------------------------------------------------------- skorch


def skorch_fit(kind, X, epochs, batch_size):
    """Fastest epoch (s) of a skorch ``NeuralNet``; None without skorch."""
    try:
        from skorch import NeuralNet
        from skorch.callbacks import Callback
    except ImportError:
        return None

    class EpochTimer(Callback):
        def initialize(self):
            self.times = []
            return self

        def on_epoch_begin(self, net, **kwargs):
            self._start = time.perf_counter()

        def on_epoch_end(self, net, **kwargs):
            self.times.append(time.perf_counter() - self._start)

    class VAENet(NeuralNet):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            logits, mu, logvar = y_pred
            bce = F.binary_cross_entropy_with_logits(logits, X, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            return (bce + kl) / len(X)

    timer = EpochTimer()
    common = dict(
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=batch_size,
        max_epochs=epochs + 1,
        train_split=None,
        iterator_train__shuffle=True,
        callbacks=[timer],
        verbose=0,
        device="cpu",
        module__d=X.shape[1],
        module__h=400,
        module__k=20,
    )
    if kind == "ae":
        net = NeuralNet(PlainAE, criterion=nn.MSELoss, **common)
    else:
        net = VAENet(PlainVAE, criterion=nn.MSELoss, **common)
    net.fit(X, X)
    return min(timer.times[1:])


# ----------------------------------------------------------------------- main


def best_of(repeats, fn):
    results = [fn() for _ in range(repeats)]
    return min(results, key=lambda r: r[0] if isinstance(r, tuple) else r)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=os.environ.get("SKVAE_MNIST", DEFAULT_DATA), help="mnist.npz"
    )
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per run")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs per method (best kept)"
    )
    parser.add_argument(
        "--n-samples", type=int, default=None, help="use the first N images"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--models", default="ae,vae", help="comma-separated: ae, vae")
    parser.add_argument("--no-skorch", action="store_true", help="skip the skorch rows")
    parser.add_argument(
        "--dataloader", action="store_true", help="add a DataLoader row"
    )
    args = parser.parse_args(argv)

    if args.batch_size != 128:
        raise SystemExit("the skvae rows use batch_size=128; keep --batch-size 128")
    X = load_mnist(args.data, return_X_y=True)[0][: args.n_samples]
    n = len(X)
    print(
        f"MNIST {X.shape}, batch {args.batch_size}, {args.epochs} timed epochs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads\n"
    )
    rows, fitted = [], {}
    for kind in args.models.split(","):
        name = {"ae": "AE 784-400-20", "vae": "VAE 784-400-20"}[kind]
        plain = best_of(
            args.repeats, lambda k=kind: plain_loop(k, X, args.epochs, args.batch_size)
        )
        rows.append((f"{name}: plain torch loop (slices)", plain, plain))
        if args.dataloader:
            dl = plain_loop(kind, X, args.epochs, args.batch_size, loader=True)
            rows.append((f"{name}: plain torch loop (DataLoader)", dl, plain))
        sec, est = best_of(args.repeats, lambda k=kind: skvae_fit(k, X, args.epochs))
        fitted[name] = est
        label = "AutoencoderTransformer" if kind == "ae" else "VAETransformer"
        rows.append((f"{name}: skvae {label}.fit (per epoch)", sec, plain))
        if not args.no_skorch:
            sk = skorch_fit(kind, X, args.epochs, args.batch_size)
            if sk is None:
                print(f"(skorch is not installed: skipping the skorch row for {name})")
            else:
                rows.append((f"{name}: skorch NeuralNet", sk, plain))

    print("| method | samples/s | s/epoch | vs plain loop |")
    print("|---|---:|---:|---:|")
    for method, sec, ref in rows:
        print(f"| {method} | {n / sec:,.0f} | {sec:.2f} | {ref / sec:.2f}x |")

    print("\n| transform | samples/s |")
    print("|---|---:|")
    for name, est in fitted.items():
        est.transform(X[:1024])
        start = time.perf_counter()
        est.transform(X)
        rate = n / (time.perf_counter() - start)
        print(f"| {name}: {type(est).__name__}.transform | {rate:,.0f} |")


if __name__ == "__main__":
    main()
