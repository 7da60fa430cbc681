"""The thread tuner: its choices on a simulated machine, and what it must not change."""

import numpy as np
import pytest
import torch

from skvae import AutoencoderTransformer, VAETransformer, _threads
from skvae._threads import ThreadTuner


@pytest.fixture
def four_threads():
    """Run with torch's count at 4 (a ladder 1, 2, 4), and put the caller's back."""
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    yield
    torch.set_num_threads(before)


class _Machine:
    """A fake clock whose steps take ``cost(threads)`` seconds."""

    def __init__(self, cost):
        self.now, self.cost = 0.0, cost

    def clock(self):
        return self.now

    def run(self, tuner, steps):
        """Seconds per thread count over ``steps`` steps."""
        spent = {}
        for _ in range(steps):
            threads = torch.get_num_threads()
            self.now += self.cost(threads)
            spent[threads] = spent.get(threads, 0.0) + self.cost(threads)
            tuner.step()
        return spent


def test_alone_keeps_the_callers_count(four_threads):
    # More threads are faster: the tuner stays at 4 most of the time.
    machine = _Machine(lambda t: 0.01 / t**0.5)
    tuner = ThreadTuner(clock=machine.clock)
    spent = machine.run(tuner, 5000)
    assert tuner.threads == 4
    assert spent[4] / sum(spent.values()) > 0.9
    tuner.close()
    assert torch.get_num_threads() == 4


def test_shared_cores_move_to_the_fastest_count(four_threads):
    # Another process holds the cores: 4 threads spin, 2 get their share.
    cost = {4: 0.5, 2: 0.02, 1: 0.03}
    machine = _Machine(cost.__getitem__)
    tuner = ThreadTuner(clock=machine.clock)
    spent = machine.run(tuner, 3000)
    assert tuner.threads == 2
    # A handful of slow windows while it finds out, then mostly the fast count.
    assert spent[2] / sum(spent.values()) > 0.6
    tuner.close()
    assert torch.get_num_threads() == 4


def test_follows_the_machine_when_the_load_ends(four_threads):
    busy = {4: 0.5, 2: 0.2, 1: 0.01}
    quiet = {4: 0.004, 2: 0.006, 1: 0.01}
    state = {"cost": busy}
    machine = _Machine(lambda t: state["cost"][t])
    tuner = ThreadTuner(clock=machine.clock)
    machine.run(tuner, 2000)
    assert tuner.threads == 1
    state["cost"] = quiet
    machine.run(tuner, 20000)
    assert tuner.threads == 4
    tuner.close()


def test_one_thread_is_left_alone():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert not _threads.tuner_for(torch.device("cpu"), torch.nn.Linear(2, 2)).active
    finally:
        torch.set_num_threads(before)


def test_networks_whose_results_depend_on_the_thread_count_are_not_tuned():
    from skvae._modules import Autoencoder
    from skvae.nn import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        mlp = Autoencoder(MLPEncoder((64,), 2), MLPDecoder(2, (64,)), (64,))
        conv = Autoencoder(ConvEncoder((1, 8, 8), 2), ConvDecoder(2, (1, 8, 8)), (64,))
        assert _threads.tuner_for(torch.device("cpu"), mlp).active
        assert not _threads.tuner_for(torch.device("cpu"), conv).active
        user = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.LayerNorm(2))
        assert not _threads.tuner_for(torch.device("cpu"), user).active
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_fits_do_not_depend_on_the_thread_count(cls, monkeypatch):
    # What makes tuning safe: the count changes the speed, not the result.
    X = np.random.default_rng(0).normal(size=(300, 40)).astype(np.float32)
    monkeypatch.setattr(_threads, "ENABLED", False)
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            est = cls(3, max_iter=3, batch_size=64, random_state=0).fit(X)
            results.append((est.transform(X), est.score(X)))
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_a_fit_gives_back_the_callers_count(four_threads):
    X = np.random.default_rng(0).normal(size=(200, 10))
    AutoencoderTransformer(2, max_iter=2, random_state=0).fit(X)
    assert torch.get_num_threads() == 4
    with pytest.raises(ValueError, match="diverged"):
        AutoencoderTransformer(2, max_iter=2, learning_rate_init=1e30).fit(X)
    assert torch.get_num_threads() == 4
