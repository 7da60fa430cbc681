"""The training engine: reproducibility, RNG hygiene, stopping, NaN guard, logging."""

import logging
import pickle
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from skvae import AutoencoderTransformer, VAETransformer, _training
from skvae._modules import Autoencoder, build
from skvae.nn import MLPDecoder, MLPEncoder

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore::skvae.PosteriorCollapseWarning"),
]


class _Objective:
    """Squared error, and optionally NaN in one named term from a given epoch."""

    term_names = ("reconstruction", "kl")

    def __init__(self, nan_term=None, nan_epoch=None):
        self.nan_term, self.nan_epoch = nan_term, nan_epoch

    def __call__(self, module, xb, epoch, generator):
        rec = torch.nn.functional.mse_loss(module(xb), xb)
        kl = rec * 0.0
        if self.nan_epoch is not None and epoch >= self.nan_epoch:
            if self.nan_term == "kl":
                kl = kl + float("nan")
            else:
                rec = rec + float("nan")
        loss = rec + kl
        return loss, torch.stack((rec.detach(), kl.detach()))

    def total(self, values, epoch):
        return values[0] + values[1]


def _plan(max_epochs, **options):
    """A constant-rate plan; the rate is the optimizer's own."""
    return _training.TrainingPlan(
        **{"batch_size": 16, "learning_rate": 1e-2, **options},
        max_epochs=max_epochs,
    )


def _setup(seed=0):
    g = torch.Generator().manual_seed(seed)
    module = build(
        lambda: Autoencoder(
            MLPEncoder((8,), 2, hidden_layer_sizes=(16,)),
            MLPDecoder(2, (8,), hidden_layer_sizes=(16,)),
            (8,),
        ),
        g,
    )
    X = torch.rand(100, 8, generator=g)
    return module, _training.make_optimizer(module.parameters(), 1e-2), X, g


def test_train_reduces_the_loss_and_reports():
    module, opt, X, g = _setup()
    result = _training.train(module, opt, X, _Objective(), _plan(20), generator=g)
    assert result.n_epochs == 20 == len(result.loss_curve) == len(result.history)
    assert result.loss_curve[-1] < result.loss_curve[0]
    assert set(result.history[0]) == {"epoch", "loss", "reconstruction", "kl", "time"}


def test_adam_is_fused_where_supported():
    _, opt, _, _ = _setup()
    assert opt.defaults["fused"] is True


@pytest.mark.parametrize("term", ["reconstruction", "kl"])
def test_divergence_names_the_term_and_restores_the_last_good_weights(term):
    module, opt, X, g = _setup()
    _training.train(module, opt, X, _Objective(), _plan(2), generator=g)
    before = [p.detach().clone() for p in module.parameters()]
    with pytest.raises(
        ValueError, match=rf"the {term} term became non-finite.*epoch 3"
    ):
        _training.train(
            module, opt, X, _Objective(term, nan_epoch=2), _plan(5, first_epoch=2),
            generator=g,
        )  # fmt: skip
    for p, b in zip(module.parameters(), before, strict=True):
        assert torch.equal(p, b)


def test_estimator_nan_guard_leaves_the_estimator_unchanged(digits_small):
    X, _ = digits_small
    vae = VAETransformer(n_components=2, hidden_layer_sizes=(16,), max_iter=2)
    vae.set_params(random_state=0).fit(X)
    state = {k: v.clone() for k, v in vae.module_.state_dict().items()}
    curve = list(vae.loss_curve_)
    with pytest.raises(
        ValueError,
        match=r"reconstruction.*non-finite.*learning_rate_init.*as it was before",
    ):
        vae.set_params(warm_start=True).fit(X * 1e25)  # squares overflow float32
    assert vae.loss_curve_ == curve and vae.n_iter_ == 2
    for k, v in vae.module_.state_dict().items():
        assert torch.equal(v, state[k])


@pytest.mark.parametrize("Est", [AutoencoderTransformer, VAETransformer])
def test_same_seed_gives_bitwise_equal_fits_on_cpu(Est, digits_small):
    X, _ = digits_small
    fits = [
        Est(hidden_layer_sizes=(16,), max_iter=3, device="cpu", random_state=7).fit(X)
        for _ in range(2)
    ]
    a, b = (f.module_.state_dict() for f in fits)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert fits[0].loss_curve_ == fits[1].loss_curve_
    assert_array_equal(fits[0].transform(X), fits[1].transform(X))
    assert_array_equal(fits[0].score_samples(X), fits[1].score_samples(X))
    other = Est(hidden_layer_sizes=(16,), max_iter=3, device="cpu", random_state=8).fit(
        X
    )
    assert not np.array_equal(other.transform(X), fits[0].transform(X))


def test_global_random_states_are_untouched(digits_small):
    X, _ = digits_small
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    vae = VAETransformer(hidden_layer_sizes=(16,), max_iter=2, early_stopping=True)
    vae.set_params(random_state=0).fit(X)
    vae.score(X, n_importance_samples=3)
    vae.sample(5, random_state=1)
    vae.partial_fit(X)
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()  # noqa: NPY002
    assert_array_equal(after[1], np_state[1])
    assert after[2] == np_state[2]


def test_tol_and_n_iter_no_change_stop_like_sklearn_mlp(digits_small):
    X, _ = digits_small
    ae = AutoencoderTransformer(
        hidden_layer_sizes=(16,),
        learning_rate="constant",
        max_iter=50,
        tol=1e9,
        n_iter_no_change=3,
        random_state=0,
    ).fit(X)
    # Epoch 1 improves on inf; epochs 2.. count as no change; stop when > 3.
    assert ae.n_iter_ == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AutoencoderTransformer(
            hidden_layer_sizes=(4,), learning_rate="constant", max_iter=50, tol=1e9
        ).fit(X)
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        AutoencoderTransformer(
            hidden_layer_sizes=(4,), learning_rate="constant", max_iter=2, tol=0
        ).fit(X)


def test_one_cycle_lr_is_torchs_one_cycle_schedule():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    reference = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=57)
    for step in range(57):
        expected = opt.param_groups[0]["lr"]
        assert _training.one_cycle_lr(step, 57, 0.1) == pytest.approx(expected)
        opt.step()
        reference.step()


def test_the_one_cycle_schedule_is_the_stopping_rule(digits_small):
    X, _ = digits_small
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning: the schedule ended
        ae = AutoencoderTransformer(
            hidden_layer_sizes=(8,), max_iter=7, tol=1e9, batch_size=100,
            learning_rate_init=0.01, random_state=0,
        ).fit(X)  # fmt: skip
    assert ae.n_iter_ == 7  # tol does not stop a schedule
    # The optimizer took the schedule's rates: its last step used the last one.
    last_lr = ae._optimizer_state["param_groups"][0]["lr"]
    assert last_lr == pytest.approx(_training.one_cycle_lr(27, 28, 0.01))
    assert last_lr < 0.01 / 1e4


def test_early_stopping_tracks_and_restores_the_best_validation_epoch(
    digits_small, pinned
):
    X, _ = digits_small
    # A constant rate (pinned): a schedule would depend on max_iter.
    params = dict(
        n_components=2, hidden_layer_sizes=(16,), likelihood="bernoulli",
        batch_size=32, learning_rate_init=0.1, max_iter=10, n_iter_no_change=100,
        early_stopping=True, **pinned,
    )  # fmt: skip
    # A large step makes the validation score wander, so that the best epoch is
    # rarely the last (epochs 8, 7 and 3 of 10 for seeds 0-2).
    for seed in range(5):
        vae = VAETransformer(**params, random_state=seed).fit(X)
        best = int(np.argmax(vae.validation_scores_)) + 1
        if best < vae.n_iter_:
            break
    else:
        pytest.fail("retune: every seed's best validation epoch was the last")
    assert len(vae.validation_scores_) == vae.n_iter_ == len(vae.history_) == 10
    assert vae.best_validation_score_ == max(vae.validation_scores_)
    assert "validation_kl" in vae.history_[0]
    # The same run (seed, split, batches, noise) stopped at the best epoch ends
    # with the weights that the longer run must have restored.
    short = VAETransformer(**{**params, "max_iter": best}, random_state=seed).fit(X)
    assert_array_equal(vae.transform(X), short.transform(X))


def test_warm_start_and_partial_fit_continue(digits_small):
    X, _ = digits_small
    ae = AutoencoderTransformer(hidden_layer_sizes=(16,), max_iter=2, random_state=0)
    ae.fit(X)
    first = ae.module_
    ae.set_params(warm_start=True).fit(X)
    assert ae.n_iter_ == 4 and len(ae.loss_curve_) == 4
    assert ae.module_ is not first  # replaced, never mutated in place
    ae.partial_fit(X[:100])
    assert ae.n_iter_ == 5
    fresh = AutoencoderTransformer(hidden_layer_sizes=(16,), random_state=0)
    fresh.partial_fit(X)
    fresh.partial_fit(X)
    assert fresh.n_iter_ == 2 and len(fresh.history_) == 2
    with pytest.raises(ValueError, match="features"):
        fresh.partial_fit(X[:, :10])


def test_callbacks_can_stop_training(digits_small):
    X, _ = digits_small
    seen = []

    def stop_at_3(record):
        seen.append(record["epoch"])
        return record["epoch"] == 3

    ae = AutoencoderTransformer(
        hidden_layer_sizes=(8,), max_iter=10, callbacks=[stop_at_3], random_state=0
    ).fit(X)
    assert ae.n_iter_ == 3 and seen == [1, 2, 3]


def test_verbose_logs_reconstruction_and_kl(digits_small, caplog, monkeypatch):
    X, _ = digits_small
    monkeypatch.setattr(_training, "tqdm", None)
    with caplog.at_level(logging.INFO, logger="skvae"):
        VAETransformer(
            hidden_layer_sizes=(8,), max_iter=2, verbose=1, early_stopping=True,
            random_state=0,
        ).fit(X)  # fmt: skip
    lines = [r.getMessage() for r in caplog.records if r.name == "skvae"]
    assert len(lines) == 2
    assert "reconstruction=" in lines[0] and "kl=" in lines[0]
    assert "validation_loss=" in lines[0]


def test_verbose_with_tqdm_runs(digits_small, capsys):
    X, _ = digits_small
    AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=2, verbose=1).fit(X)
    assert capsys.readouterr().out == ""  # progress goes to stderr, never print


def test_pickle_roundtrip_keeps_training_state(digits_small):
    X, _ = digits_small
    vae = VAETransformer(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X)
    again = pickle.loads(pickle.dumps(vae))
    assert_array_equal(again.transform(X), vae.transform(X))
    assert_array_equal(again.score_samples(X), vae.score_samples(X))
    again.partial_fit(X)
    vae.partial_fit(X)
    assert_array_equal(again.transform(X), vae.transform(X))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_model_pickles_to_cpu_state(digits_small):
    X, _ = digits_small
    vae = VAETransformer(max_iter=1, device="cuda", random_state=0).fit(X)
    state = vae.__getstate__()
    # The network travels as NumPy arrays, which only ever live on the host.
    assert "module_" not in state
    assert all(isinstance(a, np.ndarray) for a in state["_module_weights"].values())
    assert next(vae.module_.parameters()).device.type == "cuda"


@pytest.mark.parametrize("Est", [AutoencoderTransformer, VAETransformer])
@pytest.mark.parametrize(
    "change",
    [{"n_components": 3}, {"hidden_layer_sizes": (8,)}, {"activation": "tanh"}],
)
def test_continuing_with_a_different_architecture_is_an_error(Est, change):
    X = np.random.RandomState(0).rand(40, 5)
    est = Est(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(X)
    est.set_params(warm_start=True, **change)
    before = pickle.dumps(vars(est))
    for call in (est.partial_fit, est.fit):
        with pytest.raises(ValueError, match="cannot change when training continues"):
            call(X)
        assert pickle.dumps(vars(est)) == before
    est.set_params(warm_start=False).fit(X)  # a fresh network is fine
    assert est.transform(X).shape[1] == est.n_components_ == est.n_components


class _WarmupObjective(_Objective):
    """Losses of the warm-up epochs look 100 better than any later epoch's."""

    warmup_epochs = 3

    def total(self, values, epoch):
        return values[0] + values[1] - (100.0 if epoch + 1 < self.warmup_epochs else 0)


def test_best_validation_epoch_is_chosen_after_the_warmup():
    module, opt, X, g = _setup()
    result = _training.train(
        module,
        opt,
        X[:80],
        _WarmupObjective(),
        _plan(6),
        generator=g,
        X_val=X[80:],
    )
    assert min(result.validation_losses) < -50  # a warm-up epoch
    assert result.best_validation_loss == min(result.validation_losses[2:])


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="simulates a machine without CUDA"
)
def test_model_fitted_on_a_gpu_unpickles_on_a_cpu_machine(digits_small):
    X, _ = digits_small
    vae = VAETransformer(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X)
    expected = vae.transform(X)
    vae._device = torch.device("cuda:0")  # as recorded by a fit on a GPU
    again = pickle.loads(pickle.dumps(vae))
    assert again._device == torch.device("cpu")
    assert_array_equal(again.transform(X), expected)
    again.partial_fit(X)  # and training continues on the CPU


def test_early_stopping_restores_the_best_validation_weights():
    module, _, X, g = _setup(seed=3)
    # A large step makes the validation loss wander, so the best epoch is not
    # the last one and restoring it is observable.
    opt = _training.make_optimizer(module.parameters(), 0.3)
    result = _training.train(
        module, opt, X[:80], _Objective(),
        _plan(12, batch_size=8, tol=-np.inf, n_iter_no_change=100),
        generator=g, X_val=X[80:],
    )  # fmt: skip
    losses = result.validation_losses
    assert int(np.argmin(losses)) < len(losses) - 1
    final = _training.evaluate(
        module, X[80:], _Objective(), batch_size=1024, epoch=0, generator=g
    )
    assert float(_Objective().total(final.tolist(), 0)) == pytest.approx(min(losses))


def test_sample_returns_the_dtype_of_the_latest_fit(digits_small):
    X, _ = digits_small
    vae = VAETransformer(
        hidden_layer_sizes=(8,), max_iter=1, warm_start=True, random_state=0
    ).fit(X.astype(np.float32))
    assert vae.sample(2, random_state=0).dtype == np.float32
    assert vae.fit(X.astype(np.float64)).sample(2, random_state=0).dtype == np.float64
