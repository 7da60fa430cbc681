"""Persistence: pickle, joblib, deepcopy, skops.io and skvae.io, and hostile files."""

import copy
import gc
import io as _io
import json
import math
import pathlib
import pickle
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from safetensors import safe_open
from safetensors.numpy import save_file
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skvae import AutoencoderTransformer, PCAReducer, VAETransformer
from skvae import io as skio

TINY = {"hidden_layer_sizes": (16,), "max_iter": 2, "random_state": 0}

ESTIMATORS = {
    "pca": lambda: PCAReducer(n_components=3),
    "ae": lambda: AutoencoderTransformer(**TINY),
    "ae-bce": lambda: AutoencoderTransformer(loss="binary_cross_entropy", **TINY),
    "vae": lambda: VAETransformer(early_stopping=True, **TINY),
    "vae-bernoulli": lambda: VAETransformer(likelihood="bernoulli", **TINY),
    "vae-per-feature": lambda: VAETransformer(
        gaussian_variance="learned_per_feature", kl_warmup=2, **TINY
    ),
}
NEURAL = [k for k in ESTIMATORS if k != "pca"]


@pytest.fixture(scope="module")
def X(digits_small):
    return digits_small[0][:200]


def _fit(name, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ESTIMATORS[name]().fit(X)


def _skops():
    return pytest.importorskip("skops.io")


def _via_pickle(est, tmp_path):
    return pickle.loads(pickle.dumps(est))


def _via_joblib(est, tmp_path):
    joblib.dump(est, tmp_path / "model.joblib")
    return joblib.load(tmp_path / "model.joblib")


def _via_deepcopy(est, tmp_path):
    return copy.deepcopy(est)


def _via_skops(est, tmp_path):
    sio = _skops()
    sio.dump(est, tmp_path / "model.skops")
    return sio.load(tmp_path / "model.skops", trusted=skio.SKOPS_TRUSTED_TYPES)


def _via_skvae_io(est, tmp_path):
    skio.save(est, tmp_path / "model.safetensors")
    return skio.load(tmp_path / "model.safetensors")


ROUTES = {
    "pickle": _via_pickle,
    "joblib": _via_joblib,
    "deepcopy": _via_deepcopy,
    "skops": _via_skops,
    "skvae.io": _via_skvae_io,
}


def assert_same_state(a, b, where="state"):
    """Equal values of equal types, arrays bitwise with their dtypes."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: {set(a) ^ set(b)}"
        for k in a:
            if where.startswith("state['history_']") and k == "time":
                continue  # seconds an epoch took: the one thing not reproducible
            assert_same_state(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_model(a, b, X):
    assert type(a) is type(b)
    assert_same_state(a.get_params(), b.get_params(), "params")
    assert_same_state(a.__getstate__(), b.__getstate__())
    assert_array_equal(a.transform(X), b.transform(X))
    Z = a.transform(X[:10])
    assert_array_equal(a.inverse_transform(Z), b.inverse_transform(Z))
    assert_array_equal(a.score_samples(X), b.score_samples(X))
    if isinstance(a, VAETransformer):
        assert_array_equal(a.sample(5, random_state=0), b.sample(5, random_state=0))
        assert_array_equal(a.transform_std(X), b.transform_std(X))


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", ESTIMATORS)
def test_round_trip_gives_the_same_model(name, route, X, tmp_path):
    est = _fit(name, X)
    again = ROUTES[route](est, tmp_path)
    assert again is not est
    assert_same_model(est, again, X)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", ["pca", "vae"])
def test_round_trip_of_an_unfitted_estimator(name, route, tmp_path):
    est = ESTIMATORS[name]().set_params(random_state=3)
    again = ROUTES[route](est, tmp_path)
    assert again.get_params() == est.get_params()
    assert not hasattr(again, "n_features_in_")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", ["ae", "vae", "vae-per-feature"])
def test_a_loaded_model_continues_training_bitwise(name, route, X, tmp_path):
    """partial_fit and a warm start after a round trip equal those of the
    original: weights, Adam's moments, the generator and the records."""
    est = _fit(name, X)
    again = ROUTES[route](est, tmp_path)
    for model in (est, again):
        model.partial_fit(X)
        model.set_params(warm_start=True, max_iter=2).fit(X)
    assert_same_model(est, again, X)
    assert again.n_iter_ == 5  # 2 epochs, 1 of partial_fit, 2 more


@pytest.mark.parametrize("route", ROUTES)
def test_pca_partial_fit_continues_after_a_round_trip(route, X, tmp_path):
    est = PCAReducer(n_components=3).partial_fit(X[:100])
    again = ROUTES[route](est, tmp_path)
    est.partial_fit(X[100:])
    again.partial_fit(X[100:])
    assert_same_model(est, again, X)


@pytest.mark.parametrize("route", ["pickle", "skops", "skvae.io"])
def test_feature_names_and_output_config_survive(route, X, tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    est = AutoencoderTransformer(**TINY).set_output(transform="pandas").fit(df)
    again = ROUTES[route](est, tmp_path)
    assert_array_equal(again.feature_names_in_, est.feature_names_in_)
    assert list(again.transform(df).columns) == list(est.transform(df).columns)


def test_pickled_state_holds_no_torch_object(X):
    """What pickle, skops and skvae.io store: Python and NumPy values only."""

    def walk(value):
        if isinstance(value, dict):
            for k, v in value.items():
                yield from walk(k)
                yield from walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                yield from walk(v)
        else:
            yield value

    for name in ESTIMATORS:
        est = _fit(name, X)
        for value in walk(est.__getstate__()):
            assert type(value).__module__ in ("builtins", "numpy"), (name, value)
        # ... while the live estimator keeps its torch objects.
        if name in NEURAL:
            assert isinstance(est.module_, torch.nn.Module)
            assert isinstance(est._generator_state, torch.Tensor)
            assert isinstance(est._device, torch.device)


# --------------------------------------------------------------------- skops


@pytest.mark.parametrize("name", ESTIMATORS)
def test_skops_trusts_only_the_documented_types(name, X):
    sio = _skops()
    for est in (ESTIMATORS[name](), _fit(name, X)):
        untrusted = sio.get_untrusted_types(data=sio.dumps(est))
        assert untrusted == [f"{type(est).__module__}.{type(est).__name__}"]
        assert set(untrusted) <= set(skio.SKOPS_TRUSTED_TYPES)


def test_skops_round_trips_a_pipeline(digits_small, tmp_path):
    sio = _skops()
    X, y = digits_small
    pipe = make_pipeline(
        MinMaxScaler(), VAETransformer(**TINY), LogisticRegression(max_iter=50)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    sio.dump(pipe, tmp_path / "pipe.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "pipe.skops")
    assert untrusted == ["skvae._vae.VAETransformer"]
    again = sio.load(tmp_path / "pipe.skops", trusted=skio.SKOPS_TRUSTED_TYPES)
    assert_array_equal(again.predict_proba(X), pipe.predict_proba(X))
    assert_same_model(pipe[1], again[1], X)


def test_skops_without_trust_refuses_the_model(X):
    sio = _skops()
    data = sio.dumps(_fit("vae", X))
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.loads(data)


# ------------------------------------------------------------------ skvae.io


def _read(path):
    with safe_open(path, framework="numpy") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}


def _rewrite(path, metadata=None, tensors=None):
    old_metadata, old_tensors = _read(path)
    save_file(
        old_tensors if tensors is None else tensors,
        path,
        metadata=old_metadata if metadata is None else metadata,
    )


def test_the_file_is_plain_safetensors_with_json_metadata(X, tmp_path):
    vae = _fit("vae", X)
    path = tmp_path / "vae.safetensors"
    skio.save(vae, path)
    metadata, tensors = _read(path)
    assert metadata["format"] == "skvae"
    assert metadata["format_version"] == str(skio.FORMAT_VERSION) == "2"
    assert metadata["class"] == "VAETransformer"
    params = json.loads(metadata["params"])
    assert params["kl_weight"] == 1.0 and params["random_state"] == 0
    state = json.loads(metadata["state"])
    assert state["n_iter_"] == 2 and len(state["history_"]) == 2
    # The weights are tensors that any safetensors reader can use.
    weights = {
        k.split("/", 1)[1]: torch.from_numpy(v)
        for k, v in tensors.items()
        if k.startswith("_module_weights/")
    }
    for k, v in vae.module_.state_dict().items():
        assert torch.equal(weights[k], v)


def test_save_replaces_a_file_whole(X, tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old")
    skio.save(_fit("pca", X), path)
    assert skio.load(path).n_components_ == 3
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_a_model_fitted_on_a_gpu_loads_on_the_cpu(X, tmp_path):
    """The file records the training device; load honours it only where this
    machine has that device, else puts the model on the CPU."""
    vae = _fit("vae", X)
    expected = vae.transform(X)
    vae._device = torch.device("cuda:7")  # as a fit on an eighth GPU records it
    skio.save(vae, tmp_path / "gpu.safetensors")
    assert json.loads(_read(tmp_path / "gpu.safetensors")[0]["state"])["_device"] == (
        "cuda:7"
    )
    again = skio.load(tmp_path / "gpu.safetensors")
    if torch.cuda.device_count() < 8:
        assert again._device == torch.device("cpu")
        assert next(again.module_.parameters()).device.type == "cpu"
        assert_array_equal(again.transform(X), expected)
    again = skio.load(tmp_path / "gpu.safetensors", device="cpu")
    assert again._device == torch.device("cpu")
    assert_array_equal(again.transform(X), expected)
    again.partial_fit(X)  # and training continues there


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_a_missing_gpu_is_an_error(X, tmp_path):
    skio.save(_fit("ae", X), tmp_path / "ae.safetensors")
    with pytest.raises(ValueError, match="CUDA is not available"):
        skio.load(tmp_path / "ae.safetensors", device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("route", ["pickle", "skops", "skvae.io"])
def test_a_gpu_model_round_trips_and_moves_to_the_cpu(route, X, tmp_path):
    vae = VAETransformer(device="cuda", **TINY).fit(X)
    again = ROUTES[route](vae, tmp_path)
    assert next(again.module_.parameters()).device.type == "cuda"
    assert_array_equal(again.transform(X), vae.transform(X))
    skio.save(vae, tmp_path / "gpu.safetensors")
    cpu = skio.load(tmp_path / "gpu.safetensors", device="cpu")
    assert next(cpu.module_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(cpu.transform(X), vae.transform(X), atol=1e-4)


def test_save_refuses_what_it_cannot_store_without_pickle(X, tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(TypeError, match=r"skops\.io\.dump"):
        skio.save(make_pipeline(PCAReducer()), path)

    class Mine(PCAReducer):
        pass

    with pytest.raises(TypeError, match="reducers"):
        skio.save(Mine(), path)
    ae = AutoencoderTransformer(**TINY).set_params(callbacks=[print])
    with pytest.raises(ValueError, match=r"parameter 'callbacks'.*without pickle"):
        skio.save(ae, path)
    ae.set_params(callbacks=None, random_state=np.random.RandomState(0))
    with pytest.raises(ValueError, match="parameter 'random_state'"):
        skio.save(ae, path)
    assert not path.exists()


def test_parameters_of_numpy_and_torch_types_round_trip(X, tmp_path):
    est = VAETransformer(
        n_components=np.int64(2),
        kl_weight=np.float32(0.5),
        learning_rate_init=np.float64(1e-3),
        hidden_layer_sizes=[16],
        max_iter=1,
        device=torch.device("cpu"),
        random_state=0,
    ).fit(X)
    skio.save(est, tmp_path / "m.safetensors")
    again = skio.load(tmp_path / "m.safetensors")
    assert_same_model(est, again, X)


# ------------------------------------------------ files that are not models


def test_unknown_format_versions_are_refused(X, tmp_path):
    path = tmp_path / "m.safetensors"
    skio.save(_fit("ae", X), path)
    metadata, _ = _read(path)
    for version in ("1", "3", "0", "2.0", None):
        changed = dict(metadata)
        if version is None:
            del changed["format_version"]
        else:
            changed["format_version"] = version
        _rewrite(path, metadata=changed)
        with pytest.raises(ValueError, match=r"format version .* reads version 2"):
            skio.load(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a model", b"\x00" * 8, bytes(range(256)) * 4],
    ids=["empty", "text", "zero-header", "noise"],
)
def test_files_that_are_not_safetensors_are_refused(content, tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a skvae model file"):
        skio.load(path)


def test_other_safetensors_files_are_refused(X, tmp_path):
    path = tmp_path / "weights.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, path)
    with pytest.raises(ValueError, match="not a skvae model file"):
        skio.load(path)
    save_file({"w": np.zeros(3, np.float32)}, path, metadata={"format": "pt"})
    with pytest.raises(ValueError, match="not a skvae model file"):
        skio.load(path)


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        skio.load(tmp_path / "nothing.safetensors")


@pytest.mark.parametrize(
    "change, match",
    [
        ({"class": "Pipeline"}, "creates only"),
        ({"class": "os.system"}, "creates only"),
        ({"params": "{not json"}, "corrupt"),
        ({"params": '{"n_components": {"__array__": "missing"}}'}, "corrupt"),
        ({"params": '{"n_components": {"__device__": "nowhere"}}'}, "corrupt"),
        ({"params": '{"hidden_layer_sizes": {"__float__": "1e9"}}'}, "corrupt"),
        ({"params": '{"no_such_param": 1}'}, "does not have"),
        ({"params": "[1, 2]"}, "corrupt"),
        ({"state": '{"__class__": "x"}'}, "bad attribute names"),
        ({"state": '{"_module_weights": {}}'}, "cannot be rebuilt"),
    ],
)
def test_inconsistent_files_are_refused(change, match, X, tmp_path):
    path = tmp_path / "m.safetensors"
    skio.save(_fit("vae", X), path)
    metadata, _ = _read(path)
    _rewrite(path, metadata={**metadata, **change})
    with pytest.raises(ValueError, match=match):
        skio.load(path)


def test_weights_that_do_not_fit_the_architecture_are_refused(X, tmp_path):
    path = tmp_path / "m.safetensors"
    skio.save(_fit("ae", X), path)
    _, tensors = _read(path)
    tensors["_module_weights/encoder.1.weight"] = np.zeros((3, 3), np.float32)
    _rewrite(path, tensors=tensors)
    with pytest.raises(ValueError, match="the architecture it records"):
        skio.load(path)


def test_a_huge_claimed_network_is_refused_before_allocating_it(X, tmp_path):
    path = tmp_path / "m.safetensors"
    skio.save(_fit("ae", X), path)
    metadata, _ = _read(path)
    state = json.loads(metadata["state"])
    # A 10**6-wide hidden layer would take 0.5 TB; the file's weights are small.
    encoder = state["_architecture"]["encoder"]["__tuple__"][1]
    encoder["hidden_layer_sizes"] = {"__tuple__": [10**6]}
    _rewrite(path, metadata={**metadata, "state": json.dumps(state)})
    with pytest.raises(ValueError, match="the architecture it records"):
        skio.load(path)


# ---------------------------------------------- payloads that would run code


class _Payload:
    """Unpickling this creates ``marker``: what a malicious model file does."""

    def __init__(self, marker):
        self.marker = pathlib.Path(marker)

    def __reduce__(self):
        # Resolved by name on load: the loader needs nothing from this test.
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture
def marker(tmp_path):
    marker = tmp_path / "pwned"
    # The payload is live: unpickled, it creates the marker.
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()
    marker.unlink()
    return marker


def _pickle_file(marker, path):
    path.write_bytes(pickle.dumps(_Payload(marker)))


def _pickle_protocol_0_file(marker, path):
    path.write_bytes(pickle.dumps(_Payload(marker), protocol=0))


def _joblib_file(marker, path):
    joblib.dump({"model": _Payload(marker)}, path)


def _torch_checkpoint(marker, path):
    torch.save({"state_dict": {"w": torch.zeros(2)}, "extra": _Payload(marker)}, path)


def _payload_in_the_metadata(marker, path):
    """A safetensors file whose metadata carries the pickle, where a loader
    that unpickled its 'state' would run it."""
    blob = pickle.dumps(_Payload(marker), protocol=0).decode("latin-1")
    metadata = {"format": "skvae", "format_version": "2", "class": "VAETransformer"}
    save_file({}, path, metadata={**metadata, "params": "{}", "state": blob})


def _payload_as_a_tensor(marker, path):
    """A well-formed skvae file with the pickle's bytes as one of its arrays."""
    est = AutoencoderTransformer(**TINY).fit(np.random.RandomState(0).rand(30, 4))
    skio.save(est, path)
    metadata, tensors = _read(path)
    blob = np.frombuffer(pickle.dumps(_Payload(marker)), np.uint8)
    tensors["_generator_state"] = blob.copy()
    save_file(tensors, path, metadata=metadata)


HOSTILE = {
    "pickle": _pickle_file,
    "pickle-protocol-0": _pickle_protocol_0_file,
    "joblib": _joblib_file,
    "torch.save": _torch_checkpoint,
    "pickle-in-metadata": _payload_in_the_metadata,
}


@pytest.mark.parametrize("make", HOSTILE.values(), ids=HOSTILE)
def test_skvae_io_never_runs_a_payload(make, marker, tmp_path):
    path = tmp_path / "model.safetensors"
    make(marker, path)
    with pytest.raises(ValueError, match="skvae model file"):
        skio.load(path)
    assert not marker.exists()


def test_a_payload_stored_as_an_array_stays_an_array(marker, tmp_path):
    path = tmp_path / "model.safetensors"
    _payload_as_a_tensor(marker, path)
    try:
        est = skio.load(path)
    except ValueError:
        pass  # a generator state of the wrong size may be refused, or not
    else:
        assert est._generator_state.dtype == torch.uint8
    assert not marker.exists()


def test_the_torch_checkpoint_payload_is_live_but_weights_only_refuses_it(
    marker, tmp_path
):
    path = tmp_path / "model.pt"
    _torch_checkpoint(marker, path)
    with zipfile.ZipFile(path) as archive:  # the pickle inside the checkpoint
        assert any(name.endswith("data.pkl") for name in archive.namelist())
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # what a naive loader does
    assert marker.exists()


def _json_node(value):
    return {
        "__class__": type(value).__name__,
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def _skops_file_with_payload(est, marker, path):
    """A skops file of ``est`` edited so that loading it calls
    ``io.FileIO(marker, "w")``, which creates the marker file."""
    sio = _skops()
    sio.dump(est, path)
    with zipfile.ZipFile(path) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    schema = json.loads(files["schema.json"])
    attributes = schema["content"]
    # skops builds this node by calling the named type with the arguments.
    attributes["content"]["_payload"] = {
        "__class__": "FileIO",
        "__module__": "io",
        "__loader__": "ConstructorFromReduceNode",
        "content": {
            "__class__": "tuple",
            "__module__": "builtins",
            "__loader__": "TupleNode",
            "content": [_json_node(str(marker)), _json_node("w")],
        },
    }
    attributes["key_types"]["content"].append(
        {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
    )
    files["schema.json"] = json.dumps(schema).encode()
    buffer = _io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())


def test_skops_with_the_trusted_list_never_runs_a_payload(marker, X, tmp_path):
    sio = _skops()
    path = tmp_path / "model.skops"
    _skops_file_with_payload(_fit("ae", X), marker, path)
    assert "io.FileIO" in sio.get_untrusted_types(file=path)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException, match="FileIO"):
        sio.load(path, trusted=skio.SKOPS_TRUSTED_TYPES)
    assert not marker.exists()
    # The payload is live: trusting its type runs it (skops builds the
    # FileIO), and the estimator then refuses the attribute it does not have.
    with pytest.raises(ValueError, match="has not: \\['_payload'\\]"):
        sio.load(path, trusted=[*skio.SKOPS_TRUSTED_TYPES, "io.FileIO"])
    gc.collect()  # close the FileIO skops built
    assert marker.exists()
    marker.unlink()

    _pickle_file(marker, tmp_path / "model.pkl")
    with pytest.raises(Exception):  # noqa: B017 - not a zip file; skops's own error
        sio.load(tmp_path / "model.pkl", trusted=skio.SKOPS_TRUSTED_TYPES)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["pca", "ae", "vae"])
def test_an_unfitted_state_is_checked_too(name):
    # The attributes any estimator may carry are checked whether or not the
    # state holds fitted ones.
    est = ESTIMATORS[name]()
    state = {**est.__getstate__(), "_sklearn_output_config": {"transform": 1}}
    with pytest.raises(ValueError, match="_sklearn_output_config"):
        ESTIMATORS[name]().__setstate__(state)
    ESTIMATORS[name]().__setstate__(est.__getstate__())  # the untouched one loads


def test_a_bad_optimizer_setting_is_named(X):
    state = _fit("vae", X).__getstate__()
    state["_optimizer_state"]["param_groups"][0]["lr"] = -1.0
    with pytest.raises(
        ValueError, match=r"the optimizer's 'lr': -1\.0 is out of range"
    ):
        VAETransformer().__setstate__(state)


@pytest.mark.parametrize("method", ["density", "latent"])
def test_skops_round_trips_a_novelty_detector(method, digits_small):
    from skvae import NoveltyDetector

    sio = _skops()
    X, y = digits_small
    detector = NoveltyDetector(PCAReducer(n_components=5), method=method)
    detector.fit(X[y != 1])
    data = sio.dumps(detector)
    untrusted = set(sio.get_untrusted_types(data=data))
    # Beyond skvae's own types, only scikit-learn's neighbour index.
    assert untrusted - set(skio.SKOPS_TRUSTED_TYPES) <= {
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
    }
    assert {"skvae._novelty.NoveltyDetector", "skvae._pca.PCAReducer"} <= untrusted
    again = sio.loads(data, trusted=sorted(untrusted))
    assert_array_equal(again.decision_function(X), detector.decision_function(X))
    with pytest.raises(TypeError, match="stores skvae's reducers"):
        skio.save(detector, "never-written.skvae")
