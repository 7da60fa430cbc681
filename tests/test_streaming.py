"""Data larger than memory, and the warm-start bookkeeping of early stopping.

Arrays larger than scikit-learn's ``working_memory`` are read block by block
(:class:`skvae._data.LazyRows`); the tests force that path on small data with
``config_context(working_memory=...)`` and a memory-mapped file.
"""

import copy
import math
import tracemalloc

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn import config_context
from test_faults import (
    _assert_unchanged,
    _interrupt_at_epoch,
    _snapshot,
    _stop_at_epoch,
)

import skvae._base
from skvae import AutoencoderTransformer, FitInterruptedWarning, VAETransformer, _losses
from skvae._data import LazyRows, RowStream, is_out_of_core, row_noise

NEURAL = [AutoencoderTransformer, VAETransformer]
TINY_MB = 0.05  # working memory that makes 1400 x 64 float64 rows out of core

pytestmark = pytest.mark.filterwarnings("ignore::skvae.PosteriorCollapseWarning")


@pytest.fixture(scope="module")
def split(digits):
    X, _ = digits
    return X[:1400], X[1400:]


@pytest.fixture(scope="module")
def memmap(split, tmp_path_factory):
    """The training rows as a read-only memory map of a .npy file."""
    path = tmp_path_factory.mktemp("memmap") / "train.npy"
    np.save(path, split[0])
    return np.load(path, mmap_mode="r")


# ------------------------------------------------------------ the readers


def test_out_of_core_is_decided_by_the_working_memory(memmap):
    assert not is_out_of_core(memmap)
    with config_context(working_memory=TINY_MB):
        assert is_out_of_core(memmap)
        assert is_out_of_core(np.asarray(memmap, dtype=np.uint8))
        assert not is_out_of_core(memmap.tolist())  # validated as a whole


def test_lazy_rows_read_checked_blocks(memmap):
    rows = LazyRows(memmap)
    assert rows.shape == memmap.shape and rows.dtype == np.float64
    blocks = list(rows.iter_blocks(300))
    assert [start for start, _ in blocks] == [0, 300, 600, 900, 1200]
    assert_array_equal(np.concatenate([b for _, b in blocks]), memmap)
    assert LazyRows(memmap.astype(np.uint8)).dtype == np.float64
    assert LazyRows(memmap.astype(np.float32)).dtype == np.float32

    bad = np.array(memmap)
    bad[1000, 3] = np.nan
    with pytest.raises(ValueError, match=r"contains NaN \(in rows from 900\)"):
        list(LazyRows(bad).iter_blocks(300))


@pytest.mark.parametrize("buffer_chunks", [1, 3, 100])
def test_row_stream_yields_its_chunks_once(buffer_chunks):
    X = np.arange(103, dtype=np.float64).reshape(-1, 1) * np.ones((1, 2))
    chunks = np.array([0, 2, 10])  # rows 0-9, 20-29 and 100-102 (the short one)

    def prepare(buffer):  # a copy: the stream refills its buffer
        return torch.from_numpy(buffer.copy())

    stream = RowStream(
        LazyRows(X), chunks, 10, buffer_chunks, prepare, torch.device("cpu")
    )
    assert stream.shape == (23, 2)
    expected = np.r_[0:10, 20:30, 100:103]
    ordered = torch.cat(list(stream.buffers())).numpy()[:, 0]
    assert_array_equal(ordered, expected)
    shuffled = torch.cat(list(stream.buffers(torch.Generator().manual_seed(0))))
    assert sorted(shuffled.numpy()[:, 0]) == list(expected)
    assert all(len(b) <= 10 * buffer_chunks for b in stream.buffers())


# ------------------------------------------------------------ fitting


@pytest.mark.parametrize("Est", NEURAL)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_fit_from_a_memmap_is_as_good_as_in_memory(Est, early_stopping, split, memmap):
    # Streaming shuffles rows within buffers of random chunks, so the model
    # differs from the in-memory one. Its held-out score (nats per sample,
    # 64 features) must be at most 1 nat worse: measured over seeds 0-3, the
    # in-memory scores spread by 1.7-3.6 nats and streaming falls short of
    # them by at most 0.62.
    X_train, X_test = split
    params = dict(
        n_components=4,
        hidden_layer_sizes=(64,),
        max_iter=40,
        early_stopping=early_stopping,
        random_state=0,
    )
    in_memory = Est(**params).fit(X_train)
    with config_context(working_memory=TINY_MB):
        streamed = Est(**params).fit(memmap)
        assert streamed.n_iter_ == in_memory.n_iter_ or early_stopping
        score = streamed.score(X_test)
    assert_allclose(streamed.mean_, in_memory.mean_, rtol=1e-12)
    assert streamed.scale_ == pytest.approx(in_memory.scale_, rel=1e-12)
    assert score >= in_memory.score(X_test) - 1.0


@pytest.mark.parametrize("Est", NEURAL)
def test_inference_on_a_memmap_equals_in_memory(Est, fitted_ae, fitted_vae, digits):
    est = fitted_ae if Est is AutoencoderTransformer else fitted_vae
    X = digits[0]
    Z = est.transform(X)
    scores = est.score_samples(X)
    with config_context(working_memory=TINY_MB):
        assert is_out_of_core(X)
        # Blocks of a fixed size: results do not depend on the budget.
        assert_array_equal(est.transform(X), Z)
        assert_array_equal(est.score_samples(X), scores)


def test_transform_of_a_memmap_holds_one_block(tmp_path, fitted_vae, monkeypatch):
    # 1 MB of uint8 on disk, whose float64 copy is 8 MB, under 0.5 MB of
    # working memory: tracemalloc sees NumPy's allocations, so converting the
    # whole of X at once (validation does, in memory) would show as 8 MB.
    path = tmp_path / "big.npy"
    rng = np.random.default_rng(0)
    np.save(path, rng.integers(0, 17, size=(16_000, 64), dtype=np.uint8))
    X = np.load(path, mmap_mode="r")

    def peak_of_transform():
        with config_context(working_memory=0.5):
            tracemalloc.start()
            try:
                Z = fitted_vae.transform(X)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        assert Z.shape == (16_000, 4)
        return peak

    assert peak_of_transform() < 4 * 2**20
    # The measurement sees the bug it guards against: in memory, the peak
    # holds the whole converted copy.
    monkeypatch.setattr(skvae._base, "is_out_of_core", lambda X: False)
    assert peak_of_transform() >= 8 * 2**20


@pytest.mark.parametrize("Est", NEURAL)
def test_bad_data_in_a_later_block_leaves_the_fitted_estimator(Est, split, tmp_path):
    X_train, _ = split
    est = Est(n_components=2, hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    est.fit(X_train)
    bad = np.array(X_train)
    bad[-5, 7] = np.inf
    path = tmp_path / "bad.npy"
    np.save(path, bad)
    snapshot = _snapshot(est)
    with config_context(working_memory=TINY_MB):
        with pytest.raises(ValueError, match="contains infinity"):
            est.fit(np.load(path, mmap_mode="r"))
        with pytest.raises(ValueError, match="contains infinity"):
            est.transform(np.load(path, mmap_mode="r"))
    _assert_unchanged(est, snapshot)


def test_bernoulli_range_is_checked_block_by_block(split):
    X_train, _ = split
    bad = np.array(X_train)
    bad[-1, 0] = 1.5
    with config_context(working_memory=TINY_MB):
        with pytest.raises(ValueError, match=r"values in \[0, 1.5\]"):
            VAETransformer(n_components=2, likelihood="bernoulli").fit(bad)


# ------------------------------------------------- importance samples


def test_many_importance_samples_are_drawn_in_chunks(fitted_vae, digits):
    # K = 64 is drawn 16 at a time; the bound must equal the importance
    # weighted bound of all 64 draws at once, computed here independently.
    vae, X, K = fitted_vae, digits[0][:20], 64
    k = vae.n_components_
    noise = torch.from_numpy(row_noise(X, K, k, vae._score_seed))
    with torch.no_grad():
        x = torch.as_tensor(X, dtype=torch.float32)
        mean, logvar = vae.module_.encode(x)
        z = mean + torch.exp(0.5 * logvar) * noise
        logits = vae.module_.decode(z.reshape(-1, k)).reshape(K, *x.shape)
        log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none"
        ).sum(-1)
        log_w = (
            log_px
            + _losses.standard_normal_log_density(z)
            - _losses.gaussian_log_density(z, mean, logvar)
        )
    expected = logsumexp(log_w.double().numpy(), axis=0) - math.log(K)
    assert_allclose(vae.score_samples(X, n_importance_samples=K), expected, rtol=1e-4)


def test_row_noise_draws_can_be_made_a_few_at_a_time(digits):
    X = digits[0][:30]
    whole = row_noise(X, 7, 3, seed=5)
    assert_array_equal(row_noise(X, 4, 3, seed=5, first_draw=3), whole[3:])


# ------------------------------------ early stopping across warm starts


def _capture_validation_sets(est, monkeypatch):
    seen = []
    original = type(est)._training_data

    def spy(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        seen.append(None if out[1] is None else out[1].clone())
        return out

    monkeypatch.setattr(type(est), "_training_data", spy)
    return seen


@pytest.mark.parametrize("Est", NEURAL)
def test_warm_start_validates_on_the_same_rows(Est, split, monkeypatch):
    X_train, _ = split
    est = Est(
        n_components=2,
        hidden_layer_sizes=(16,),
        max_iter=2,
        early_stopping=True,
        warm_start=True,
        random_state=0,
    )
    seen = _capture_validation_sets(est, monkeypatch)
    est.fit(X_train).fit(X_train)
    assert len(seen) == 2
    assert_array_equal(seen[0].numpy(), seen[1].numpy())


@pytest.mark.parametrize("Est", NEURAL)
def test_early_stopping_keeps_the_best_epochs_optimizer_and_generator(Est, split):
    # A constant-rate run stopped at its best epoch b is the same run as the
    # first b epochs of a longer one; the longer one, after restoring epoch
    # b's weights, must also store epoch b's Adam moments and random state.
    X_train = split[0][:300]  # few rows: validation stops improving soon
    params = dict(
        n_components=2,
        hidden_layer_sizes=(16,),
        learning_rate="constant",
        learning_rate_init=0.02,
        early_stopping=True,
        n_iter_no_change=3,
        tol=0.0,
        precision="float32",
        random_state=0,
    )
    long = Est(max_iter=60, **params).fit(X_train)
    best = int(np.nanargmax(long.validation_scores_)) + 1
    assert best < long.n_iter_, "the test needs a run that went past its best epoch"
    short = Est(max_iter=best, **params).fit(X_train)
    for name, a in short.module_.state_dict().items():
        assert torch.equal(a, long.module_.state_dict()[name]), name
    assert torch.equal(short._generator_state, long._generator_state)
    for key, moments in short._optimizer_state["state"].items():
        for name, value in moments.items():
            assert torch.equal(value, long._optimizer_state["state"][key][name])


@pytest.mark.parametrize("Est", NEURAL)
def test_validation_scores_stay_in_step_with_n_iter(Est, split):
    X_train, _ = split
    # A fixed variance: the default VAE holds rows out in every fit.
    fixed = {"gaussian_variance": 1.0} if Est is VAETransformer else {}
    est = Est(
        n_components=2,
        hidden_layer_sizes=(16,),
        max_iter=2,
        warm_start=True,
        random_state=0,
        **fixed,
    )
    est.fit(X_train)
    assert est.validation_scores_ is None
    est.set_params(early_stopping=True).fit(X_train)
    assert est.n_iter_ == len(est.validation_scores_) == 4
    assert np.isnan(est.validation_scores_[:2]).all()
    assert np.isfinite(est.validation_scores_[2:]).all()
    est.set_params(early_stopping=False).fit(X_train)
    est.partial_fit(X_train)
    assert est.n_iter_ == len(est.validation_scores_) == 7
    assert np.isnan(est.validation_scores_[4:]).all()
    refit = copy.deepcopy(est).set_params(warm_start=False).fit(X_train)
    assert refit.validation_scores_ is None


@pytest.mark.parametrize("Est", NEURAL)
def test_an_interrupted_streamed_fit_keeps_complete_epochs_or_nothing(
    Est, split, memmap
):
    # Ctrl-C after epoch 2 keeps two epochs (as a stop after epoch 2 would);
    # Ctrl-C during the standardisation pass leaves the fitted model as it was.
    params = dict(n_components=2, hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    with config_context(working_memory=TINY_MB):
        stopped = Est(callbacks=[_stop_at_epoch(2)], **params).fit(memmap)
        est = Est(callbacks=[_interrupt_at_epoch(2)], **params)
        with pytest.warns(FitInterruptedWarning), pytest.raises(KeyboardInterrupt):
            est.fit(memmap)
        assert est.n_iter_ == 2
        assert_array_equal(est.transform(split[1]), stopped.transform(split[1]))

        snapshot = _snapshot(est)

        class Interrupting(np.ndarray):
            def __getitem__(self, rows):
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            est.fit(np.asarray(memmap).view(Interrupting))
    _assert_unchanged(est, snapshot)


def test_copy_on_write_maps_keep_their_writes(tmp_path, fitted_vae, digits):
    # Releasing the pages of a private map would revert them to the file.
    X = digits[0]
    path = tmp_path / "x.npy"
    np.save(path, X)
    cow = np.load(path, mmap_mode="c")
    cow[:] = 0.5
    for view in (cow, np.asarray(cow), cow.view(np.ndarray)[::1]):
        with config_context(working_memory=TINY_MB):
            fitted_vae.transform(view)
        assert (cow == 0.5).all()


def test_streamed_float64_beyond_float32_says_so(split):
    X = np.array(split[0])
    X[-3, 5] = 1e39
    with config_context(working_memory=TINY_MB):
        with pytest.raises(ValueError, match="too large for float32"):
            AutoencoderTransformer(n_components=2, max_iter=1).fit(X)


@pytest.mark.parametrize("sizes", [[7, 3, 10], [2, 2, 2, 9], [12], [5, 0, 5]])
def test_rebatch_cuts_consecutive_buffers_like_one_array(sizes):
    from skvae._training import _rebatch

    whole = torch.arange(sum(sizes))
    buffers = list(torch.split(whole, sizes))
    batches = list(_rebatch(iter(buffers), 4))
    assert [b.tolist() for b in batches] == [b.tolist() for b in whole.split(4)]
