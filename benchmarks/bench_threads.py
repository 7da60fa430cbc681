"""A fit that shares its cores: alone, beside a busy process, and two at once.

Each fit runs in a fresh process: ``AutoencoderTransformer(2)`` on
scikit-learn's digits, defaults apart from ``max_iter`` (60 epochs, so that
the untuned runs that share their cores end in minutes), with torch's
default thread count (the machine's cores). For each scenario the fit runs
with skvae's thread tuner on (the default) and off (torch's threads as the
caller left them, as before the tuner). Prints the seconds of each fit and
the median seconds of an epoch.

Scenarios: ``alone``; ``beside a busy process`` (a pure-Python loop holding
one core, as another program would); ``two fits at once`` (both timed).
Run it with nothing else busy on the machine.

Usage::

    python benchmarks/bench_threads.py [--max-iter 60] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_downstream import machine_header

FIT = """
import json, statistics, sys, time
import skvae._threads
from skvae import AutoencoderTransformer
from skvae.datasets import load_digits
skvae._threads.ENABLED = sys.argv[1] == "on"
X, _ = load_digits(return_X_y=True)
est = AutoencoderTransformer(2, max_iter=int(sys.argv[2]), random_state=0)
start = time.perf_counter()
est.fit(X)
seconds = time.perf_counter() - start
epoch = statistics.median(r["time"] for r in est.history_)
print(json.dumps({"fit": seconds, "epoch": epoch}))
"""
BUSY = "import time\nend = time.time() + 3600\nwhile time.time() < end: pass\n"


def fits(tuner, max_iter, n):
    """Start ``n`` fits together; their results."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FIT, tuner, str(max_iter)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    return [json.loads(p.communicate()[0]) for p in procs]


def scenario(name, tuner, max_iter):
    busy = None
    if name == "beside a busy process":
        busy = subprocess.Popen([sys.executable, "-c", BUSY])
        time.sleep(1.0)
    try:
        return fits(tuner, max_iter, 2 if name == "two fits at once" else 1)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-iter", type=int, default=60)
    parser.add_argument("--out", help="also write the table here")
    args = parser.parse_args(argv)
    lines = [*machine_header(), f"- cores: {os.cpu_count()}", ""]
    lines += [
        "| scenario | thread tuner | fit s (each) | median epoch s (each) |",
        "|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for name in ("alone", "beside a busy process", "two fits at once"):
        for tuner in ("on", "off"):
            results = scenario(name, tuner, args.max_iter)
            fit = ", ".join(f"{r['fit']:.1f}" for r in results)
            epoch = ", ".join(f"{r['epoch']:.3f}" for r in results)
            lines.append(f"| {name} | {tuner} | {fit} | {epoch} |")
            print(lines[-1], flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
