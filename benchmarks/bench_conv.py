"""Convolutional networks against the multilayer perceptrons, on MNIST.

Each row is one :class:`~skvae.VAETransformer` fitted to MNIST's 60000
training images (pixels in [0, 1]; ``--dataset digits``: scikit-learn's 8x8
digits split 75/25) with ``random_state=0`` and nothing else set but what the
row names, scored on the test images:

``5-NN``
    The accuracy of a 5-nearest-neighbour classifier on the test codes
    (fitted on the training codes).
``test ELBO``
    The mean ELBO of the test images in nats (for the Bernoulli likelihood,
    minus it is the "negative ELBO" that MNIST papers quote).
``samples: confident / classes``
    A logistic regression fitted on the real training images labels 2000
    samples from the prior: the mean probability of its chosen class and the
    entropy of the share of samples given to each class over its maximum,
    as ``bench_kl_regimes.py`` measures them.
``fit (s)``
    Wall-clock seconds of ``fit``, on this machine's cores.

Usage::

    python benchmarks/bench_conv.py [--nets mlp conv] [--rows VAE-2 VAE-16 ...]
        [--encoder__channels 16 32] [--max-iter N] [--subset N]
        [--out benchmarks/results/conv.md]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from skvae import PosteriorCollapseWarning, VAETransformer
from skvae.datasets import load_digits, load_mnist

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
N_SAMPLES = 2000

#: The rows: latent size and likelihood.
ROWS = {
    "VAE-2": {"n_components": 2},
    "VAE-16": {"n_components": 16},
    "VAE-16 Bernoulli": {"n_components": 16, "likelihood": "bernoulli"},
}


def networks(names, conv_params, image_shape, decoder="conv"):
    """``(label, parameters)`` of each network named."""
    for name in names:
        if name == "mlp":
            yield "MLP", {}
            continue
        params = {"encoder": "conv", "decoder": decoder, "image_shape": image_shape}
        for key, value in conv_params.items():
            params[f"encoder__{key}"] = value
            if decoder == "conv":
                params[f"decoder__{key}"] = value
        label = "conv" if decoder == "conv" else "conv encoder, MLP decoder"
        label += "".join(f" {k}={v}" for k, v in conv_params.items())
        yield label, params


def sample_quality(vae, judge):
    """``(mean confidence, class entropy / log(10))`` of samples from the prior."""
    proba = judge.predict_proba(vae.sample(N_SAMPLES, random_state=0))
    confidence = float(np.mean(np.max(proba, axis=1)))
    shares = np.bincount(np.argmax(proba, axis=1), minlength=10) / N_SAMPLES
    shares = shares[shares > 0]
    return confidence, float(-np.sum(shares * np.log(shares)) / np.log(10))


def save_samples(vae, path, label):
    """64 samples from the prior, as the gallery draws them, in a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skvae.plotting import plot_samples

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
    plot_samples(vae, n_samples=64, random_state=0, ax=ax)
    ax.set_title(f"{label}, {vae.n_components_} components: prior samples")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["mnist", "digits"], default="mnist")
    parser.add_argument("--nets", nargs="+", default=["mlp", "conv"])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--channels", nargs="+", type=int, default=None)
    parser.add_argument("--hidden-size", type=int, default=None)
    parser.add_argument("--kernel-size", type=int, default=None)
    parser.add_argument("--decoder", default="conv", choices=["conv", "mlp"])
    parser.add_argument("--max-iter", default="auto")
    parser.add_argument("--learning-rate-init", type=float, default=None)
    parser.add_argument("--precision", default=None)
    parser.add_argument("--subset", type=int, default=None, help="training rows")
    parser.add_argument(
        "--data", default=DEFAULT_DATA if DEFAULT_DATA.exists() else None
    )
    parser.add_argument("--out", default=None, help="also write the table here")
    parser.add_argument(
        "--pictures", default=None, help="a folder for PNGs of samples from the prior"
    )
    args = parser.parse_args(argv)
    conv_params = {
        k: v
        for k, v in {
            "channels": tuple(args.channels) if args.channels else None,
            "hidden_size": args.hidden_size,
            "kernel_size": args.kernel_size,
        }.items()
        if v is not None
    }
    max_iter = args.max_iter if args.max_iter == "auto" else int(args.max_iter)

    if args.dataset == "mnist":
        X, y = load_mnist(args.data, subset="train", return_X_y=True)
        Xt, yt = load_mnist(args.data, subset="test", return_X_y=True)
        image_shape = (1, 28, 28)
    else:  # split 75/25, as bench_kl_regimes.py does
        X, y = load_digits(return_X_y=True)
        X, Xt, y, yt = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=0
        )
        image_shape = (1, 8, 8)
    X, y = X[: args.subset], y[: args.subset]
    judge = LogisticRegression(max_iter=1000).fit(X, y)
    columns = ("network", "model", "5-NN", "test ELBO", "samples: confident / classes")
    columns += ("fit (s)",)
    header = "| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|"
    print(f"torch threads: {torch.get_num_threads()}, rows: {len(X)}", flush=True)
    print(header, flush=True)
    lines = [header]
    for label, params in networks(args.nets, conv_params, image_shape, args.decoder):
        for row in args.rows:
            extra = {
                k: v
                for k, v in {
                    "learning_rate_init": args.learning_rate_init,
                    "precision": args.precision,
                }.items()
                if v is not None
            }
            vae = VAETransformer(
                **ROWS[row], **params, **extra, max_iter=max_iter, random_state=0
            )
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PosteriorCollapseWarning)
                vae.fit(X)
            seconds = time.perf_counter() - start
            knn = KNeighborsClassifier().fit(vae.transform(X), y)
            confidence, spread = sample_quality(vae, judge)
            line = (
                "| "
                + " | ".join(
                    (
                        label,
                        row,
                        f"{knn.score(vae.transform(Xt), yt):.3f}",
                        f"{vae.score(Xt):.1f}",
                        f"{confidence:.2f} / {spread:.2f}",
                        f"{seconds:.0f}",
                    )
                )
                + " |"
            )
            print(line, flush=True)
            lines.append(line)
            if args.pictures:
                save_samples(vae, Path(args.pictures) / f"{label} {row}.png", label)
    if args.out:
        Path(args.out).write_text(
            f"# Convolutional networks on {args.dataset} (benchmarks/bench_conv.py)\n\n"
            f"torch threads: {torch.get_num_threads()}, training rows: {len(X)}, "
            f"max_iter={max_iter!r}\n\n" + "\n".join(lines) + "\n",
            encoding="utf-8",
        )


if __name__ == "__main__":
    main()
