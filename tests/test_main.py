"""The command line and the README's example."""

import re
from pathlib import Path

from skvae.__main__ import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_demo_prints_variance_and_accuracy(capsys):
    assert main(["demo", "--components", "2", "--max-iter", "2"]) == 0
    out = capsys.readouterr().out
    assert "PCA explained variance" in out
    rows = re.findall(r"^\| ([^|]+) \| 2 \| (0\.\d+) \|", out, flags=re.MULTILINE)
    names = [name for name, _ in rows]
    assert names == ["PCA", "autoencoder", "VAE, kl_weight=1", "VAE, kl_weight=0.1"]
    # Two PCA components of digits separate the classes well above chance.
    assert 0.4 < float(rows[0][1]) < 0.9


def test_readme_example_runs():
    code = re.search(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)[1]
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["pipe"].score(namespace["X_test"], namespace["y_test"]) > 0.95
