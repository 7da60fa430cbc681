"""The command line and the README's example."""

import argparse
import base64
import io
import re
import subprocess
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from skvae import datasets
from skvae.__main__ import DEMO_KL_WEIGHTS, _parser, main

# The demo's tests train for an epoch or two, too few to leave the prior.
pytestmark = pytest.mark.filterwarnings("ignore::skvae.PosteriorCollapseWarning")

README = Path(__file__).resolve().parents[1] / "README.md"


FIGURES = [
    "scree",
    "latent_spaces",
    "reconstructions",
    "interpolations",
    "generation",
    "training_curves",
    "kl_sweep",
]


def test_demo_prints_variance_and_accuracy(capsys):
    argv = ["demo", "--components", "2", "--max-iter", "2", "--no-report"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "PCA explained variance" in out
    rows = re.findall(r"^\| ([^|]+) \| 2 \| (0\.\d+) \|", out, flags=re.MULTILINE)
    assert [name for name, _ in rows] == [
        "PCA",
        "autoencoder",
        "VAE",
        "neighbour embedding",
    ]
    # Two PCA components of digits separate the classes well above chance.
    assert 0.4 < float(rows[0][1]) < 0.9
    assert "report" not in out
    # Captured streams are no terminal: no progress bars, which in a file
    # would leave their redraws and a blank line between the table's rows.
    assert "epoch" not in captured.err and "\r" not in captured.err
    table = out[out.index("| reducer |") :].rstrip("\n").splitlines()
    assert len(table) == 2 + 4 and all(line.startswith("|") for line in table)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_demo_draws_progress_bars_on_a_terminal(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    argv = ["demo", "--components", "2", "--max-iter", "2", "--n-samples", "100"]
    assert main([*argv, "--no-report"]) == 0
    bars = terminal.getvalue()
    assert "AutoencoderTransformer" in bars and "VAETransformer" in bars
    assert "epoch" in bars
    assert "| VAE | 2 |" in capsys.readouterr().out


@pytest.fixture
def no_mnist(tmp_path, monkeypatch, offline):
    """No MNIST in any default place, and OpenML unreachable (``offline``)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "sklearn_data"))
    monkeypatch.delenv(datasets.MNIST_ENV_VAR, raising=False)
    return tmp_path


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["demo"], "MNIST was not found"),
        (["benchmark"], "MNIST was not found"),
        (["benchmark", "--data", "nowhere.npz"], "path='nowhere.npz': no file"),
    ],
)
def test_missing_mnist_is_a_short_error(no_mnist, capsys, argv, expected):
    command = argv[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Retrying..." noise before it
        with pytest.raises(SystemExit) as info:
            main([*argv, "--dataset", "mnist"])
    assert info.value.code == 2  # as for argparse's errors
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"skvae {command}: error: {expected}")
    if "--data" not in argv:
        # load_mnist's message: where it looked, and how to fix it.
        assert str(no_mnist / "sklearn_data" / "mnist.npz") in captured.err
        assert "--data PATH" in captured.err
    if command == "demo":  # the demo downloads; its failure is named
        assert "Temporary failure in name resolution" in captured.err


def test_every_option_has_help_and_a_default():
    parser = _parser()
    (commands,) = [
        action
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    assert set(commands.choices) == {"demo", "benchmark"}
    for name, command in commands.choices.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings} has no help"
            assert "(default: " in action.help, (
                f"{name} {action.option_strings} does not show its default"
            )


def test_demo_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit) as info:
        main(["demo", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "the latent sizes to compare, one or more (default: 2 10)" in text
    assert "neural reducers (default: 0)" in text  # --random-state
    assert "(default: auto)" in text and "(default: skvae-demo)" in text


class _Figures(HTMLParser):
    """The figures of a report: id, embedded PNG and caption."""

    def __init__(self):
        super().__init__()
        self.figures, self.tables, self._current = {}, 0, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self._current = attrs["id"]
            self.figures[self._current] = {"caption": ""}
        elif tag == "img" and self._current:
            self.figures[self._current]["src"] = attrs["src"]
        elif tag == "table":
            self.tables += 1

    def handle_data(self, data):
        if self._current:
            self.figures[self._current]["caption"] += data

    def handle_endtag(self, tag):
        if tag == "figure":
            self._current = None


def read_report(folder):
    parser = _Figures()
    parser.feed((folder / "report.html").read_text(encoding="utf-8"))
    return parser


def embedded_png(src):
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    return base64.b64decode(src[len(prefix) :])


def test_demo_writes_a_self_contained_report(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--components", "2", "--max-iter", "2", "--n-samples", "300"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"Open {out / 'report.html'}" in printed
    # The sweep's table: one row per weight.
    for weight in DEMO_KL_WEIGHTS:
        assert re.search(rf"^\| {weight:g} \| 0\.\d+ \|", printed, re.MULTILINE)

    report = read_report(out)
    assert list(report.figures) == FIGURES
    assert report.tables == 2  # the downstream table and the sweep's
    for name, figure in report.figures.items():
        png = embedded_png(figure["src"])
        # The PNG next to the report is the one embedded in it.
        assert (out / f"{name}.png").read_bytes() == png
        image = mpimg.imread(io.BytesIO(png), format="png")
        assert image.shape[0] > 200 and image.shape[1] > 200
        assert len(figure["caption"]) > 40  # one line of explanation
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "300 training and 300 test images" in page


def test_demo_on_mnist_from_a_path(tmp_path, capsys):
    rng = np.random.RandomState(0)
    data = tmp_path / "mnist.npz"
    np.savez(
        data,
        X_train=rng.randint(0, 256, (120, 28, 28)).astype(np.uint8),
        y_train=np.arange(120) % 10,
        X_test=rng.randint(0, 256, (40, 28, 28)).astype(np.uint8),
        y_test=np.arange(40) % 10,
    )
    out = tmp_path / "report"
    argv = ["demo", "--dataset", "mnist", "--data", str(data), "--max-iter", "1"]
    assert main([*argv, "--components", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "MNIST, 120 training and 40 test images" in printed
    # MNIST adds the convolutional VAE beside the MLP one (digits does not).
    assert "| conv | 1 |" in printed and "| MLP | 1 |" in printed
    assert list(read_report(out).figures) == [*FIGURES, "conv_samples"]


def test_demo_without_matplotlib_prints_the_table_and_names_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from skvae.__main__ import main\n"
        "main(['demo', '--components', '2', '--max-iter', '1', '--n-samples', "
        f"'120', '--out', {str(tmp_path)!r}])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "| VAE | 2 |" in result.stdout
    assert 'pip install "skvae[plot]"' in result.stdout
    assert not (tmp_path / "report.html").exists()


def test_demo_rejects_a_data_path_for_digits():
    with pytest.raises(SystemExit, match="--data names the MNIST file"):
        main(["demo", "--data", "somewhere.npz"])


def test_readme_example_runs():
    code = re.search(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)[1]
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["pipe"].score(namespace["X_test"], namespace["y_test"]) > 0.95
