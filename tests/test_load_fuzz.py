"""Tampered model files: each is refused with a ValueError or loads as a working model.

Valid files of the three reducers (after ``partial_fit``, so that the
optimizer moments, the generator state and PCA's running moments are in
them) are changed one part at a time: an array's shape, dtype or values, a
key removed or added, a JSON value's type, a number made huge. Each changed
file is loaded and used (transform, inverse_transform, scores, sample,
partial_fit) in a subprocess, so that a crash fails the test instead of
killing pytest. A structural change (shape, dtype, NaN, a key, a type) must
be refused when the file is loaded, or leave a model equal to the saved one
(where the changed part is not read, e.g. a record of the history); a
finite change of values, which no schema can tell from a real model, must
give a model whose calls work or raise a ValueError.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import save_file

from skvae import AutoencoderTransformer, PCAReducer, VAETransformer
from skvae import io as skio

N_FEATURES = 6

WORKER = textwrap.dedent(
    """
    import json, sys, warnings
    import numpy as np
    from skvae import io
    warnings.simplefilter("ignore")
    X = np.random.default_rng(1).normal(size=(20, N_FEATURES))
    for line in sys.stdin:
        path = line.strip()
        print("START", path, flush=True)
        try:
            est = io.load(path)
        except ValueError as exc:
            print("REFUSED", flush=True)
            continue
        except BaseException as exc:
            print("LOAD-ERROR", type(exc).__name__, str(exc)[:300], flush=True)
            continue
        out = {}
        try:
            Z = est.transform(X)
            out["transform"] = Z
            out["inverse"] = est.inverse_transform(Z)
            out["scores"] = est.score_samples(X)
            if hasattr(est, "sample"):
                out["sample"] = est.sample(3, random_state=0)
                out["std"] = est.transform_std(X)
            est.partial_fit(X)
            out["after"] = est.transform(X)
            np.savez(path + ".out.npz", **out)
            print("WORKS", flush=True)
        except ValueError as exc:
            print("USE-VALUEERROR", str(exc)[:300], flush=True)
        except BaseException as exc:
            print("USE-ERROR", type(exc).__name__, str(exc)[:300], flush=True)
    """
).replace("N_FEATURES", str(N_FEATURES))


def _estimators():
    small = dict(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
    return {
        "pca": PCAReducer(2),
        "ae": AutoencoderTransformer(2, **small),
        "vae": VAETransformer(2, **small),
    }


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """``{name: (path, metadata, tensors, outputs)}`` of the untouched files."""
    folder = tmp_path_factory.mktemp("originals")
    X = np.random.default_rng(0).normal(size=(40, N_FEATURES))
    paths = {}
    for name, est in _estimators().items():
        est.partial_fit(X).partial_fit(X)
        path = folder / f"{name}.safetensors"
        skio.save(est, path)
        paths[name] = str(path)
    outcomes = _run_worker(list(paths.values()))
    result = {}
    for name, path in paths.items():
        assert outcomes[path][0] == "WORKS", outcomes[path]
        with safe_open(path, framework="numpy") as f:
            metadata = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        result[name] = (path, metadata, tensors, dict(np.load(path + ".out.npz")))
    return result


def _run_worker(paths):
    """Load and use each file in one subprocess; ``{path: outcome words}``.

    A crash ends the subprocess: the file it had started is reported with
    the signal, and the rest are run in a fresh one.
    """
    outcomes, pending = {}, list(paths)
    while pending:
        proc = subprocess.run(
            [sys.executable, "-c", WORKER],
            input="\n".join(pending) + "\n",
            capture_output=True,
            text=True,
            timeout=600,
        )
        current = None
        for line in proc.stdout.splitlines():
            if line.startswith("START "):
                current = line[len("START ") :]
            elif current is not None:
                outcomes[current] = line.split(" ", 1)
                current = None
        if current is not None:  # it died on this file
            outcomes[current] = [
                "CRASH",
                f"exit {proc.returncode}: {proc.stderr[-500:]}",
            ]
        pending = [p for p in pending if p not in outcomes]
        if proc.returncode == 0 and pending:
            raise AssertionError(f"the worker skipped {pending}: {proc.stderr[-500:]}")
    return outcomes


# ------------------------------------------------------------------ changes

WEIRD_VALUES = [
    None,
    True,
    -1,
    0,
    10**18,
    -(10**18),
    1e308,
    "x",
    "cpu",
    "meta",
    [],
    [1, 2],
    {},
    {"__float__": "nan"},
    {"__float__": "inf"},
    {"__tuple__": []},
    {"__array__": "no such tensor"},
]
NEW_NAMES = ["transform", "_block_rows", "module_", "foo", "__class__", "fit"]


@st.composite
def changes(draw, metadata, tensors):
    """``(kind, description, new metadata, new tensors)``: one part changed."""
    state = json.loads(metadata["state"])
    params = json.loads(metadata["params"])
    tensors = dict(tensors)
    what = draw(
        st.sampled_from(
            [
                "shape",
                "dtype",
                "nonfinite",
                "drop_tensor",
                "values",
                "drop_key",
                "add_key",
                "json_value",
                "param",
            ]
        )
    )
    kind = "value" if what == "values" else "structural"
    where = what
    if what in ("shape", "dtype", "nonfinite", "drop_tensor", "values"):
        name = draw(st.sampled_from(sorted(tensors)))
        array = tensors[name]
        where = f"{what} of tensor {name!r}"
        if what == "shape":
            shape = draw(
                st.sampled_from(
                    [(), (1,), (array.size + 1,), (*array.shape, 1)]
                    + ([(array.shape[0] + 1, *array.shape[1:])] if array.ndim else [])
                    + (
                        [(*array.shape[:-1], array.shape[-1] - 1)]
                        if array.ndim and array.shape[-1] > 1
                        else []
                    )
                )
            )
            tensors[name] = np.zeros(shape, array.dtype)
        elif what == "dtype":
            dtype = draw(
                st.sampled_from(
                    [
                        d
                        for d in (
                            "float64",
                            "float32",
                            "float16",
                            "int32",
                            "uint8",
                            "bool",
                        )
                        if d != array.dtype.name
                    ]
                )
            )
            tensors[name] = array.astype(dtype)
        elif what == "nonfinite":
            if array.dtype.kind != "f" or array.size == 0:
                return draw(changes(metadata, tensors))
            array = array.copy()
            array.flat[draw(st.integers(0, array.size - 1))] = draw(
                st.sampled_from([np.nan, np.inf, -np.inf])
            )
            tensors[name] = array
        elif what == "values":
            if array.dtype.kind != "f" or array.size == 0:
                return draw(changes(metadata, tensors))
            array = array.copy()
            array.flat[draw(st.integers(0, array.size - 1))] = draw(
                st.sampled_from([0.0, -1.0, 2.5, 1e6, -1e6])
            )
            tensors[name] = array
        else:
            del tensors[name]
    elif what == "drop_key":
        key = draw(st.sampled_from(sorted(state)))
        del state[key]
        where = f"drop {key!r}"
    elif what == "add_key":
        key, value = (
            draw(st.sampled_from(NEW_NAMES)),
            draw(st.sampled_from(WEIRD_VALUES)),
        )
        state[key] = value
        where = f"add {key!r} = {value!r}"
    elif what == "json_value":
        state[draw(st.sampled_from(sorted(state)))] = draw(
            st.sampled_from(WEIRD_VALUES)
        )
    else:
        params[draw(st.sampled_from(sorted(params)))] = draw(
            st.sampled_from(WEIRD_VALUES)
        )
    metadata = {**metadata, "state": json.dumps(state), "params": json.dumps(params)}
    return kind, where, metadata, tensors


@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    # Each example loads 24 files in a subprocess: report, do not shrink.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_tampered_file_is_refused_or_works(data, originals, tmp_path):
    files = []
    for name, (_, metadata, tensors, outputs) in originals.items():
        for i in range(8):
            kind, where, new_metadata, new_tensors = data.draw(
                changes(metadata, tensors), label=f"{name} {i}"
            )
            path = str(tmp_path / f"{name}-{i}.safetensors")
            save_file(new_tensors, path, metadata=new_metadata)
            files.append((path, f"{name}: {where}", kind, outputs))
    outcomes = _run_worker([f[0] for f in files])
    failures = []
    for path, where, kind, outputs in files:
        word = outcomes[path][0]
        if word == "REFUSED":
            continue
        if word not in ("WORKS", "USE-VALUEERROR") or (
            kind == "structural" and word != "WORKS"
        ):
            failures.append(f"{where}: {' '.join(outcomes[path])}")
            continue
        if kind == "structural":
            # Not refused: the change must not have reached the model.
            got = np.load(path + ".out.npz")
            if any(not np.array_equal(got[k], v) for k, v in outputs.items()):
                failures.append(f"{where}: loaded as a different model")
    assert not failures, "\n".join(failures)
