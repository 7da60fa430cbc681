"""The demo's report: one self-contained HTML file, figures embedded.

A report is a title, a few paragraphs, tables and figures, each figure with
one line of explanation under it. Figures are embedded as base64 PNGs, so
the file can be mailed or opened anywhere without the folder it was written
in.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# First: without matplotlib, its ImportError names the extra to install.
from . import plotting
from .plotting import plt

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
figure { margin: 1.2rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.95rem; margin-top: 0.3rem; }
.note { color: #555; font-size: 0.9rem; }
"""


@dataclass
class Report:
    """An HTML report built section by section.

    Parameters
    ----------
    title : str
    """

    title: str
    _parts: list = field(default_factory=list)

    def heading(self, text):
        """Start a section."""
        self._parts.append(f"<h2>{html.escape(text)}</h2>")

    def paragraph(self, text, *, note=False):
        """A paragraph of plain text (escaped)."""
        css = ' class="note"' if note else ""
        self._parts.append(f"<p{css}>{html.escape(text)}</p>")

    def table(self, columns, rows):
        """A table: column names and rows of already formatted cells."""
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
            for row in rows
        )
        self._parts.append(
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def figure(self, fig, name, caption, *, dpi=100):
        """Embed a matplotlib figure, with one line of explanation under it.

        Returns the PNG's bytes, so the caller can also write it to a file.
        """
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        png = buffer.getvalue()
        data = base64.b64encode(png).decode("ascii")
        self._parts.append(
            f'<figure id="{html.escape(name)}">'
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        return png

    def html(self):
        """The whole document, as a string."""
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style>"
            f"</head><body><h1>{html.escape(self.title)}</h1>\n"
            + "\n".join(self._parts)
            + "\n</body></html>\n"
        )


def write_demo_report(
    out,
    *,
    where,
    data,
    image_shape,
    pca,
    fitted,
    sweep,
    variance_lines,
    table,
    sweep_table,
    baseline,
    random_state,
    conv=None,
):
    """Draw the demo's figures into ``out`` and write ``out/report.html``.

    ``fitted`` maps the demo's reducer names ("PCA", "autoencoder", "VAE")
    to its fitted two-dimensional reducers, ``sweep`` KL weights to fitted
    two-dimensional VAEs; the tables are ``(columns, rows)`` of formatted
    cells. ``conv``, on MNIST, holds the ``models`` ("MLP" and "conv" VAEs)
    and the ``table`` of the convolutional section. Returns the path of the
    report.
    """
    _, X_test, _, y_test = data
    # The figures go to files: no window may open, whatever the user's backend.
    plt.switch_backend("agg")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = Report(f"skvae demo: {where}")
    report.paragraph(
        "PCA, an autoencoder and a variational autoencoder (VAE), each with the "
        "library's defaults and two latent dimensions unless the table says "
        "otherwise, fitted on the training images and shown on the test images."
    )

    def add(fig, name, caption):
        png = report.figure(fig, name, caption)
        (out / f"{name}.png").write_bytes(png)
        plt.close(fig)

    reducers = {name: fitted[name] for name in ("PCA", "autoencoder", "VAE")}
    ae, vae = reducers["autoencoder"], reducers["VAE"]

    report.heading("Downstream: k-nearest neighbours on the codes")
    report.paragraph(
        f"5-NN test accuracy on all pixels: {baseline:.3f}. The ELBO is the VAE's "
        "evidence lower bound on log p(x), in nats per image with pixel values "
        "in [0, 1] (a density, so it can be positive; higher is better), of the "
        "test images and of the images it trained on: a test ELBO far below the "
        "training one means overfitting."
    )
    report.table(*table)

    report.heading("PCA: explained variance")
    report.paragraph("; ".join(variance_lines) + ".")
    ax = plotting.plot_scree(pca)
    add(
        ax.figure,
        "scree",
        "Each principal component's share of the variance (bars) and their "
        "running sum (line); the least squared reconstruction error with k "
        "components is the variance of the components left out.",
    )

    report.heading("Latent spaces")
    latent = {**reducers, "neighbour embedding": fitted["neighbour embedding"]}
    fig, axes = plt.subplots(2, 2, figsize=(12, 10), layout="constrained")
    for ax, (name, reducer) in zip(axes.ravel(), latent.items(), strict=True):
        plotting.plot_latent_space(reducer, X_test, y_test, ax=ax)
        spread = np.std(reducer.transform(X_test), axis=0)
        ax.set_title(f"{name} (code std {spread[0]:.2g}, {spread[1]:.2g})")
    add(
        fig,
        "latent_spaces",
        "The test images in four 2-D latent spaces, coloured by digit: PCA "
        "overlaps the classes; the autoencoder separates them in a space of "
        "any scale and shape; the VAE's KL term keeps the codes near N(0, I); "
        "the neighbour embedding, trained on UMAP's loss, puts each image "
        "among the images that look like it.",
    )

    report.heading("Reconstructions")
    fig, axes = plt.subplots(3, 1, figsize=(9, 5.4), layout="constrained")
    for ax, (name, reducer) in zip(axes, reducers.items(), strict=True):
        plotting.plot_reconstructions(
            reducer, X_test, n_images=12, image_shape=image_shape, ax=ax
        )
        ax.set_title(name)
    add(
        fig,
        "reconstructions",
        "Twelve test images (top of each pair) and their reconstructions from "
        "two numbers (bottom).",
    )

    report.heading("Interpolations")
    classes = np.unique(y_test)
    x_a = X_test[np.flatnonzero(y_test == classes[0])[0]]
    x_b = X_test[np.flatnonzero(y_test == classes[-1])[0]]
    paths = [(ae, "linear"), (vae, "linear"), (vae, "spherical")]
    fig, axes = plt.subplots(3, 1, figsize=(9, 4.8), layout="constrained")
    for ax, (reducer, path) in zip(axes, paths, strict=True):
        plotting.plot_interpolation(
            reducer, x_a, x_b, n_steps=10, path=path, image_shape=image_shape, ax=ax
        )
    add(
        fig,
        "interpolations",
        f"From a test '{classes[0]}' to a test '{classes[-1]}': ten points on "
        "the path between their codes, decoded. The autoencoder's path may "
        "cross regions no training image was mapped to; the VAE's prior fills "
        "the space between classes.",
    )

    report.heading("Generation")
    fig, axes = plt.subplots(1, 2, figsize=(12, 6), layout="constrained")
    plotting.plot_samples(
        vae, 64, image_shape=image_shape, random_state=random_state, ax=axes[0]
    )
    plotting.plot_latent_manifold(vae, 15, image_shape=image_shape, ax=axes[1])
    add(
        fig,
        "generation",
        "Left: codes drawn from the prior N(0, I) and decoded. Right: the "
        "decoded grid of codes at evenly spaced prior quantiles (5 % to 95 %).",
    )

    report.heading("Training")
    axes = plotting.plot_training_curves(vae)
    add(
        axes[0].figure,
        "training_curves",
        "The VAE's reconstruction term (negative log-likelihood) and KL term "
        "per epoch, in nats per image, with the one-cycle learning-rate "
        "schedule.",
    )

    report.heading("The KL weight")
    report.paragraph(
        "The VAE with two latent dimensions at three KL weights, on the test "
        "images; the ELBO is always scored with weight 1."
    )
    report.table(*sweep_table)
    axes = plotting.plot_kl_sweep(
        X_test,
        y_test,
        models=sweep,
        image_shape=image_shape,
        random_state=random_state,
    )
    add(
        axes[0, 0].figure,
        "kl_sweep",
        "One row per KL weight: the latent space of the test images and 36 "
        "samples from the prior. A large weight over-regularises (codes "
        "squeezed onto the prior, blurred samples); a tiny one gives an "
        "autoencoder-like space wider than the prior, whose samples repeat "
        "the few shapes near its centre.",
    )

    if conv:
        report.heading("Convolutional networks")
        models = conv["models"]
        k = models["conv"].n_components_
        report.paragraph(
            f"The default VAE (multilayer perceptrons) and one with skvae.nn's "
            f"convolutional encoder and decoder (encoder='conv', decoder='conv', "
            f"image_shape), both with {k} latent dimensions, on the test images."
        )
        report.table(*conv["table"])
        fig, axes = plt.subplots(1, 2, figsize=(12, 6), layout="constrained")
        for ax, (name, model) in zip(axes, models.items(), strict=True):
            plotting.plot_samples(
                model, 64, image_shape=image_shape, random_state=random_state, ax=ax
            )
            ax.set_title(f"{name} networks: samples from the prior")
        add(
            fig,
            "conv_samples",
            "The same 64 codes drawn from the prior N(0, I), decoded by the MLP "
            "VAE (left) and the convolutional one (right).",
        )

    path = out / "report.html"
    path.write_text(report.html(), encoding="utf-8")
    return path
