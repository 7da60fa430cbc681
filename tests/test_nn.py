"""Networks from recipes: skvae.nn, the protocol check, initialisation, image_shape."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch import nn

import skvae.io as skio
from skvae import AutoencoderTransformer, VAETransformer
from skvae.benchmark import compare_reducers, kl_path
from skvae.nn import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder

SMALL = {"max_iter": 3, "random_state": 0, "batch_size": 64}
CONV = {
    "encoder": "conv",
    "decoder": "conv",
    "image_shape": (1, 8, 8),
    "encoder__channels": (4, 8),
    "decoder__channels": (4, 8),
    "encoder__hidden_size": 16,
    "decoder__hidden_size": 16,
}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class Encoder(nn.Module):
    """A user's encoder with its own initialisation and batch normalisation."""

    def __init__(self, input_shape, n_outputs, width=12):
        super().__init__()
        self.width = width
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(int(np.prod(input_shape)), width),
            nn.BatchNorm1d(width),
            nn.ReLU(),
        )
        self.head = nn.Linear(width, n_outputs)
        nn.init.orthogonal_(self.body[1].weight)  # draws from the global generator
        nn.init.constant_(self.head.bias, 0.25)  # set in __init__, kept

    def forward(self, x):
        return self.head(self.body(x))


def decoder_factory(n_inputs, output_shape, width=12):
    """A recipe may be a function that returns a module."""
    return nn.Sequential(
        nn.Linear(n_inputs, width),
        nn.Tanh(),
        nn.Linear(width, int(np.prod(output_shape))),
        nn.Unflatten(1, tuple(output_shape)),
    )


class WithConstant(nn.Module):
    """An encoder whose __init__ sets a buffer outside its state_dict."""

    def __init__(self, input_shape, n_outputs):
        super().__init__()
        self.register_buffer("offset", torch.full((1,), 0.5), persistent=False)
        self.linear = nn.Linear(int(np.prod(input_shape)), n_outputs)

    def forward(self, x):
        return self.linear(x.flatten(1) - self.offset)


# ------------------------------------------------------------ the networks


@pytest.mark.parametrize(
    "shape", [(1, 8, 8), (3, 7, 5), (2, 28, 28), (2, 9), (13,), (1,), (1, 1, 1)]
)
@pytest.mark.parametrize("kernel_size", [3, 4, 5])
def test_the_conv_decoder_gives_back_the_encoders_shape(shape, kernel_size):
    encoder = ConvEncoder(shape, 6, channels=(3, 5), kernel_size=kernel_size)
    decoder = ConvDecoder(3, shape, channels=(3, 5), kernel_size=kernel_size)
    x = torch.rand(4, *shape)
    assert encoder(x).shape == (4, 6)
    assert decoder(torch.rand(4, 3)).shape == (4, *shape)
    # Flat rows are taken as they are, too.
    assert torch.equal(encoder(x.reshape(4, -1)), encoder(x))


def test_the_conv_networks_downsample_as_documented():
    encoder = ConvEncoder((1, 28, 28), 4, channels=(16, 32))
    convs = [m for m in encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32]
    # 28 -> 14 -> 7: the flattened map feeds the hidden layer.
    linears = [m for m in encoder.modules() if isinstance(m, nn.Linear)]
    assert linears[0].in_features == 32 * 7 * 7
    assert [m.out_features for m in linears] == [256, 4]
    no_hidden = ConvEncoder((1, 28, 28), 4, hidden_size=0)
    assert [
        m.out_features for m in no_hidden.modules() if isinstance(m, nn.Linear)
    ] == [4]


def test_bad_conv_settings_are_named():
    with pytest.raises(ValueError, match="activation"):
        ConvEncoder((1, 8, 8), 2, activation="gelu")
    with pytest.raises(ValueError, match="rows of shape"):
        ConvEncoder((1, 2, 8, 8), 2)


def test_the_mlp_networks_mirror_the_hidden_sizes():
    encoder = MLPEncoder((10,), 3, hidden_layer_sizes=(7, 5))
    decoder = MLPDecoder(3, (10,), hidden_layer_sizes=(7, 5))
    widths = [m.out_features for m in encoder.modules() if isinstance(m, nn.Linear)]
    assert widths == [7, 5, 3]
    widths = [m.out_features for m in decoder.modules() if isinstance(m, nn.Linear)]
    assert widths == [5, 7, 10]


# ---------------------------------------------------------------- recipes


@pytest.mark.parametrize("Est", [AutoencoderTransformer, VAETransformer])
def test_a_users_recipes_are_trained_and_get_their_parameters(Est, digits_small):
    X, _ = digits_small
    est = Est(
        n_components=2,
        encoder=Encoder,
        decoder=decoder_factory,
        encoder__width=9,
        decoder__width=7,
        **SMALL,
    ).fit(X)
    assert isinstance(est.module_.encoder, Encoder)
    assert est.module_.encoder.width == 9
    assert est.module_.decoder[0].out_features == 7
    assert est.get_params()["encoder__width"] == 9
    assert est.transform(X).shape == (len(X), 2)
    assert est.inverse_transform(est.transform(X[:5])).shape == (5, 64)
    assert np.isfinite(est.score(X))
    assert len(est.loss_curve_) == 3 and est.loss_curve_[-1] < est.loss_curve_[0]


def test_prefixed_parameters_clone_set_and_search(digits_small):
    X, _ = digits_small
    vae = VAETransformer(encoder=Encoder, encoder__width=5, **SMALL)
    twin = clone(vae)
    assert twin.get_params()["encoder__width"] == 5
    assert twin.set_params(encoder__width=6) is twin
    assert twin.get_params()["encoder__width"] == 6
    assert vae.get_params()["encoder__width"] == 5
    assert "encoder__width=6" in repr(twin)
    search = GridSearchCV(vae, {"encoder__width": [4, 8]}, cv=2).fit(X)
    assert search.best_params_["encoder__width"] in (4, 8)
    assert (
        search.best_estimator_.module_.encoder.width
        == search.best_params_["encoder__width"]
    )


def test_prefixed_parameters_reach_the_built_in_networks(digits_small):
    X, _ = digits_small
    vae = VAETransformer(n_components=2, **CONV, **SMALL).fit(X)
    convs = [m for m in vae.module_.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8]
    deconvs = [
        m for m in vae.module_.decoder.modules() if isinstance(m, nn.ConvTranspose2d)
    ]
    assert [c.out_channels for c in deconvs] == [4, 1]


def test_the_mlp_by_name_is_the_default(digits_small):
    X, _ = digits_small
    a = VAETransformer(hidden_layer_sizes=(16,), **SMALL).fit(X)
    b = VAETransformer(hidden_layer_sizes=(16,), encoder="mlp", decoder="mlp", **SMALL)
    assert np.array_equal(a.transform(X), b.fit(X).transform(X))


def test_image_shape_gives_the_mlp_the_same_rows(digits_small):
    # The MLP flattens the images it gets: the same fit, bitwise.
    X, _ = digits_small
    flat = AutoencoderTransformer(hidden_layer_sizes=(16,), **SMALL).fit(X)
    image = AutoencoderTransformer(
        hidden_layer_sizes=(16,), image_shape=(1, 8, 8), **SMALL
    ).fit(X)
    assert np.array_equal(flat.transform(X), image.transform(X))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"image_shape": (1, 7, 7)}, r"holds 49 values per row, but X has 64"),
        ({"image_shape": (1, 0, 64)}, "positive integers"),
        ({"image_shape": (1, 8.0, 8)}, "positive integers"),
        ({"encoder": Encoder(8, 2)}, "not a built Encoder module"),
        ({"encoder__input_shape": (8, 8)}, "passes"),
        ({"decoder__n_inputs": 3}, "passes"),
        ({"encodr__width": 3}, r"unexpected parameters \['encodr__width'\]"),
        ({"encoder": Encoder, "encoder__widht": 3}, "unexpected keyword argument"),
        ({"encoder": "conv", "image_shape": (1, 1, 8, 8)}, "rows of shape"),
    ],
)
def test_bad_network_settings_are_named_and_change_nothing(params, match, digits_small):
    X, _ = digits_small
    vae = VAETransformer(**params, **SMALL)
    before = dict(vars(vae))
    with pytest.raises(ValueError, match=match):
        vae.fit(X)
    assert vars(vae).keys() == before.keys()


def test_init_and_set_params_validate_nothing():
    # scikit-learn's convention: errors come from fit.
    vae = VAETransformer(anything=1)
    vae.set_params(anything=2, encoder__x=3)
    assert vae.get_params()["anything"] == 2
    with pytest.raises(ValueError, match="Invalid parameter 'other'"):
        vae.set_params(other=1)


# ------------------------------------------------------------ the protocol


class Wrong(nn.Module):
    def __init__(self, input_shape, n_outputs, out="width"):
        super().__init__()
        self.n_outputs, self.out = n_outputs, out
        self.linear = nn.Linear(int(np.prod(input_shape)), n_outputs)

    def forward(self, x):
        y = self.linear(x.flatten(1))
        if self.out == "width":
            return y[:, :-1]
        if self.out == "dtype":
            return y.double()
        if self.out == "tuple":
            return y.chunk(2, dim=1)
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")


@pytest.mark.parametrize(
    "out, match",
    [
        ("width", r"returned a torch.float32 tensor of shape \(2, 3\) .*\(2, 4\)"),
        ("dtype", r"returned a torch.float64 tensor"),
        ("tuple", r"returned a tuple"),
        ("raise", r"failed on a batch of shape \(2, 64\): RuntimeError"),
    ],
)
def test_a_network_against_the_protocol_is_refused_before_training(
    out, match, digits_small
):
    X, _ = digits_small
    seen = []
    vae = VAETransformer(
        encoder=Wrong, encoder__out=out, callbacks=[seen.append], **SMALL
    )
    with pytest.raises(ValueError, match=rf"The encoder test_nn.Wrong {match}"):
        vae.fit(X)
    assert not seen and not hasattr(vae, "module_")


def test_a_decoder_of_the_wrong_shape_is_refused(digits_small):
    X, _ = digits_small

    def flat_decoder(n_inputs, output_shape):
        return nn.Linear(n_inputs, 10)

    ae = AutoencoderTransformer(decoder=flat_decoder, image_shape=(1, 8, 8), **SMALL)
    with pytest.raises(ValueError, match=r"shape \(2, 10\).*expected .*\(2, 1, 8, 8\)"):
        ae.fit(X)


def test_a_recipe_that_returns_no_module_is_refused(digits_small):
    X, _ = digits_small
    with pytest.raises(ValueError, match=r"not a torch\.nn\.Module"):
        VAETransformer(decoder=lambda **kw: None, **SMALL).fit(X)


# ------------------------------------------------------- initialisation


def test_a_users_initialisation_is_kept_and_drawn_from_random_state(digits_small):
    X, _ = digits_small
    state = torch.get_rng_state()

    def first_weights(seed):
        vae = VAETransformer(encoder=Encoder, max_iter=1, random_state=seed)
        vae._check_params(X.shape[1])
        vae._architecture = vae._architecture_of_params(X.shape[1])
        from skvae._data import make_generator

        return vae._build_module(make_generator(seed))

    a, b, c = first_weights(0), first_weights(0), first_weights(1)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's, untouched
    for (name, x), y in zip(
        a.state_dict().items(), b.state_dict().values(), strict=True
    ):
        assert torch.equal(x, y), name
    w = a.encoder.body[1].weight
    # orthogonal_ from __init__, drawn from the estimator's generator.
    assert torch.allclose(w @ w.T, torch.eye(w.shape[0]), atol=1e-5)
    assert not torch.equal(w, c.encoder.body[1].weight)
    assert torch.equal(a.encoder.head.bias, torch.full((4,), 0.25))
    bn = a.encoder.body[2]
    assert torch.equal(bn.weight, torch.ones(12))
    assert torch.equal(bn.running_var, torch.ones(12))
    # Every layer type keeps its own reset_parameters: no zeroed weights.
    conv = VAETransformer(**CONV)
    conv._check_params(64)
    conv._architecture = conv._architecture_of_params(64)
    module = conv._build_module(torch.Generator().manual_seed(0))
    for name, p in module.named_parameters():
        if name.endswith("weight"):
            assert p.abs().sum() > 0, name


@pytest.mark.parametrize(
    "params", [CONV, {"encoder": Encoder, "decoder": decoder_factory}]
)
def test_fits_are_bitwise_reproducible_and_leave_the_global_state(params, digits_small):
    X, _ = digits_small
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    a = VAETransformer(**params, **SMALL).fit(X)
    assert torch.equal(torch.rand(3), expected_draw)
    b = VAETransformer(**params, **SMALL).fit(X)
    assert np.array_equal(a.transform(X), b.transform(X))
    assert a.loss_curve_ == b.loss_curve_
    c = VAETransformer(**{**params, **SMALL, "random_state": 1}).fit(X)
    assert not np.array_equal(a.transform(X), c.transform(X))


def test_the_callers_default_dtype_does_not_change_the_network(digits_small):
    X, _ = digits_small
    reference = VAETransformer(**CONV, **SMALL).fit(X).transform(X)
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        got = VAETransformer(**CONV, **SMALL).fit(X).transform(X)
    finally:
        torch.set_default_dtype(dtype)
    assert np.array_equal(reference, got)


# --------------------------------------------------- everything else works


@pytest.fixture(scope="module")
def conv_vae(digits_small):
    X, _ = digits_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VAETransformer(n_components=2, **CONV, **SMALL).fit(X)


@pytest.fixture(scope="module")
def user_vae(digits_small):
    X, _ = digits_small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VAETransformer(
            n_components=2, encoder=Encoder, decoder=decoder_factory, **SMALL
        ).fit(X)


def test_generation_interpolation_and_scores_with_conv_nets(conv_vae, digits_small):
    X, _ = digits_small
    assert conv_vae.sample(5, random_state=0).shape == (5, 64)
    assert conv_vae.interpolate(X[0], X[1], n_steps=4).shape == (4, 64)
    assert conv_vae.transform_std(X[:3]).shape == (3, 2)
    iw = conv_vae.score(X, n_importance_samples=4)
    assert iw >= conv_vae.score(X) - 1.0  # a tighter bound, up to noise
    # One sample's code does not depend on its companions.
    assert np.array_equal(conv_vae.transform(X[:1]), conv_vae.transform(X)[:1])


@pytest.mark.parametrize("way", ["pickle", "skvae.io"])
def test_built_in_networks_round_trip_by_name(conv_vae, digits_small, way, tmp_path):
    X, _ = digits_small
    if way == "pickle":
        loaded = pickle.loads(pickle.dumps(conv_vae))
    else:
        skio.save(conv_vae, tmp_path / "m.skvae")
        loaded = skio.load(tmp_path / "m.skvae")
    assert np.array_equal(loaded.transform(X), conv_vae.transform(X))
    assert loaded.get_params() == conv_vae.get_params()


def test_a_users_network_loads_only_into_the_users_estimator(
    user_vae, digits_small, tmp_path
):
    X, _ = digits_small
    path = tmp_path / "m.skvae"
    skio.save(user_vae, path)
    with pytest.raises(ValueError, match=r"your own network \(encoder=test_nn.Encoder"):
        skio.load(path)
    like = VAETransformer(encoder=Encoder, decoder=decoder_factory)
    loaded = skio.load(path, like=like)
    assert loaded is not like and loaded.encoder is Encoder
    assert loaded.get_params() == user_vae.get_params()
    assert np.array_equal(loaded.transform(X), user_vae.transform(X))
    # Training continues exactly as the saved model would.
    a = pickle.loads(pickle.dumps(user_vae)).set_params(warm_start=True, max_iter=1)
    b = loaded.set_params(warm_start=True, max_iter=1)
    assert np.array_equal(a.fit(X).transform(X), b.fit(X).transform(X))
    with pytest.raises(TypeError, match="like= is a AutoencoderTransformer"):
        skio.load(path, like=AutoencoderTransformer(encoder=Encoder))
    with pytest.raises(ValueError, match=r"the encoder is test_nn\.Encoder"):
        skio.load(
            path, like=VAETransformer(encoder=WithConstant, decoder=decoder_factory)
        )


def test_weights_of_another_architecture_are_refused(user_vae):
    state = user_vae.__getstate__()
    # The record says the encoder is 5 wide; its arrays are 12 wide.
    state["_architecture"] = {
        **state["_architecture"],
        "encoder": ("python:test_nn.Encoder", {"width": 5}),
    }
    with pytest.raises(ValueError, match=r"has shape .* needs"):
        VAETransformer().__setstate__(state)


def test_what_a_constructor_sets_outside_the_state_dict_survives_loading(digits_small):
    X, _ = digits_small
    ae = AutoencoderTransformer(encoder=WithConstant, **SMALL).fit(X)
    loaded = pickle.loads(pickle.dumps(ae))
    assert torch.equal(loaded.module_.encoder.offset, torch.full((1,), 0.5))
    assert np.array_equal(loaded.transform(X), ae.transform(X))


@pytest.mark.parametrize(
    "params", [CONV, {"encoder": Encoder, "decoder": decoder_factory}]
)
def test_partial_fit_warm_start_and_early_stopping(params, digits_small):
    X, _ = digits_small
    vae = VAETransformer(**params, **SMALL)
    vae.partial_fit(X[:200]).partial_fit(X[200:])
    assert vae.n_iter_ == 2
    vae.set_params(warm_start=True, max_iter=2).fit(X)
    assert vae.n_iter_ == 4
    with pytest.raises(ValueError, match="cannot change"):
        vae.set_params(encoder__channels=(2,), encoder__width=3).fit(X)
    stopped = VAETransformer(
        **params, **{**SMALL, "max_iter": 40}, early_stopping=True, n_iter_no_change=1
    ).fit(X)
    assert stopped.n_iter_ <= 40 and stopped.validation_scores_ is not None


def test_streaming_from_a_memory_map(digits_small, tmp_path):
    X, _ = digits_small
    path = tmp_path / "X.npy"
    np.save(path, X.astype(np.float32))
    mapped = np.load(path, mmap_mode="r")
    vae = VAETransformer(**CONV, **SMALL)
    with set_config_context(working_memory=0.01):
        streamed = clone(vae).fit(mapped)
    assert np.isfinite(streamed.transform(X)).all()
    assert streamed.n_iter_ == 3


def set_config_context(**kwargs):
    from sklearn import config_context

    return config_context(**kwargs)


def test_bfloat16_training_with_conv_nets(digits_small):
    X, _ = digits_small
    vae = VAETransformer(**CONV, **SMALL, precision="bfloat16").fit(X)
    assert np.isfinite(vae.loss_curve_).all()


def test_compare_reducers_kl_path_and_plots_with_users_networks(digits_small):
    X, y = digits_small
    reducers = {"conv": VAETransformer(**CONV, **SMALL)}
    table = compare_reducers(X, y, reducers=reducers, n_components=[2], cv=2)
    assert np.isfinite(np.asarray(table["elbo"], dtype=float)).all()
    path = kl_path(
        X, y, kl_weights=[0.5, 1.0], vae=VAETransformer(**CONV, **SMALL), cv=2
    )
    assert set(path["kl_weight"]) == {0.5, 1.0}
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skvae import plotting

    vae = VAETransformer(n_components=2, **CONV, **SMALL).fit(X)
    for draw in (plotting.plot_samples, plotting.plot_latent_manifold):
        draw(vae)
    plotting.plot_reconstructions(vae, X[:4])
    plotting.plot_training_curves(vae)
    plotting.plot_interpolation(vae, X[0], X[1])


def test_skops_round_trip_of_conv_nets(conv_vae, digits_small, tmp_path):
    sio = pytest.importorskip("skops.io")
    X, _ = digits_small
    sio.dump(conv_vae, tmp_path / "m.skops")
    loaded = sio.load(tmp_path / "m.skops", trusted=skio.SKOPS_TRUSTED_TYPES)
    assert np.array_equal(loaded.transform(X), conv_vae.transform(X))


def test_built_in_classes_are_recorded_and_saved_by_name(digits_small, tmp_path):
    X, _ = digits_small
    by_class = VAETransformer(
        encoder=ConvEncoder,
        decoder=ConvDecoder,
        image_shape=(1, 8, 8),
        encoder__channels=(4,),
        decoder__channels=(4,),
        **SMALL,
    ).fit(X)
    by_name = VAETransformer(
        **{**CONV, "encoder__channels": (4,), "decoder__channels": (4,)}, **SMALL
    )
    by_name.set_params(encoder__hidden_size=256, decoder__hidden_size=256)
    assert by_class._architecture["encoder"][0] == "conv"
    assert np.array_equal(by_class.transform(X), by_name.fit(X).transform(X))
    skio.save(by_class, tmp_path / "m.skvae")
    loaded = skio.load(tmp_path / "m.skvae")  # no like= needed
    assert loaded.encoder is ConvEncoder and loaded.decoder is ConvDecoder
    assert np.array_equal(loaded.transform(X), by_class.transform(X))
