"""Peak memory of fit and transform on memory-mapped data larger than memory.

Writes float32 ``.npy`` files of 1 M and 4 M rows x 784 features (3.1 GB and
12.5 GB; MNIST's training images, tiled, with a little noise so no two rows
are equal) and, for each reducer and size, runs ``fit`` and ``transform`` in
a fresh process that opens the file with ``np.load(mmap_mode="r")``. Each
process reports its own peak resident memory (``VmHWM``, which counts the
pages of a memory map the process has touched). Prints a markdown table;
peak memory must stay flat as the rows grow.

Usage::

    python benchmarks/bench_memory.py [--rows 1000000 4000000] [--dir /tmp/skvae-memory]
        [--estimators pca ae vae] [--data PATH/TO/mnist.npz] [--keep]

The neural reducers train a small network (one hidden layer of 64) for one
epoch: memory depends on neither, time on both. scikit-learn's
``working_memory`` (default 1024 MB) is the budget that decides what is read
in blocks and how large the blocks are.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
N_FEATURES = 784
# One epoch of a small network: memory depends on the rows held (a buffer of
# the working memory's size) and hardly on the network, whose weights and
# per-batch activations are a few MB; time depends on both.
NETWORK = dict(hidden_layer_sizes=(64,), max_iter=1)


def _status_mb(field):
    """A memory figure of this process from /proc (Linux), in MB.

    ``VmHWM`` is the peak resident size of this process's own address
    space. ``ru_maxrss`` is not used: Linux carries it over from the parent
    across fork and exec, so a child would report the parent's peak.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def make_file(path, n_rows, data):
    """Write ``n_rows`` float32 rows to ``path`` (.npy), one block at a time."""
    if data is not None and Path(data).exists():
        with np.load(data) as f:
            source = f["X_train"].reshape(len(f["X_train"]), -1)
    else:  # no MNIST: uniform pixels
        source = np.random.default_rng(0).integers(0, 256, (60000, N_FEATURES))
    rng = np.random.default_rng(0)
    header = {"descr": "<f4", "fortran_order": False, "shape": (n_rows, N_FEATURES)}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        for start in range(0, n_rows, len(source)):
            m = min(len(source), n_rows - start)
            block = source[rng.permutation(len(source))[:m]].astype(np.float32) / 255
            block += rng.normal(0, 0.01, block.shape).astype(np.float32)
            f.write(block.tobytes())


def child(args):
    """Fit (and transform with) one estimator on one file; print JSON."""
    import torch

    from skvae import AutoencoderTransformer, PCAReducer, VAETransformer

    torch.set_num_threads(os.cpu_count() or 1)
    baseline = _status_mb("VmRSS")  # after importing torch and skvae
    X = np.load(args.file, mmap_mode="r")
    make = {
        "pca": lambda: PCAReducer(n_components=16),
        "ae": lambda: AutoencoderTransformer(n_components=16, **NETWORK),
        "vae": lambda: VAETransformer(n_components=16, **NETWORK),
    }[args.estimator]
    if args.op == "fit":
        start = time.perf_counter()
        make().fit(X)
    else:
        est = make().fit(X[:20000])  # a small fit; the transform is measured
        start = time.perf_counter()
        Z = est.transform(X)
        assert Z.shape == (X.shape[0], 16) and np.isfinite(Z).all()
    seconds = time.perf_counter() - start
    print(json.dumps({"baseline": baseline, "peak": _status_mb("VmHWM"), "s": seconds}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000])
    parser.add_argument("--dir", default="/tmp/skvae-memory")
    parser.add_argument("--estimators", nargs="+", default=["pca", "ae", "vae"])
    parser.add_argument("--data", default=os.environ.get("SKVAE_MNIST", DEFAULT_DATA))
    parser.add_argument("--keep", action="store_true", help="keep the data files")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--estimator", help=argparse.SUPPRESS)
    parser.add_argument("--op", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    print(
        "| estimator | rows | on disk (GB) | op | peak RSS (MB) "
        "| of which after imports (MB) | seconds |"
    )
    print("|---|---|---|---|---|---|---|")
    for n_rows in args.rows:
        path = directory / f"memory-{n_rows}.npy"
        if not path.exists():
            make_file(path, n_rows, args.data)
        gb = path.stat().st_size / 1e9
        for name in args.estimators:
            for op in ("fit", "transform"):
                command = [sys.executable, __file__, "--child", "--file", str(path)]
                out = subprocess.run(
                    [*command, "--estimator", name, "--op", op],
                    capture_output=True,
                    text=True,
                )
                if out.returncode:
                    print(
                        f"| {name} | {n_rows} | {gb:.1f} | {op} | failed: "
                        f"{out.stderr.strip().splitlines()[-1]} | | |",
                        flush=True,
                    )
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(
                    f"| {name} | {n_rows:,} | {gb:.1f} | {op} | {r['peak']:.0f} "
                    f"| {r['baseline']:.0f} | {r['s']:.1f} |",
                    flush=True,
                )
        if not args.keep:
            path.unlink()


if __name__ == "__main__":
    main()
