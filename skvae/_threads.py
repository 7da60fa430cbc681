"""How many CPU threads training uses: measured as it goes, never more than allowed.

torch runs each operation of a small network on a team of OpenMP threads that
wait for each other at its end, spinning before they sleep. While another busy
process shares the cores, a thread of the team is often descheduled and the
others spin for it at every operation: a default fit on digits went from
0.05 s to 11.6 s an epoch beside one other CPU-heavy process on two cores,
and two fits started together took 43 s each where one thread each finishes
both in 10.5 s. No setting made before the fit can know what will share the
cores during it, so :class:`ThreadTuner` measures: it times windows of
training steps, tries fewer (and again more) threads now and then, and keeps
the count that trains fastest. Alone on the machine it settles on the
caller's count; sharing the cores it drops to the count that gets its share.

The count changes only how fast a step runs, not what it computes, for the
layers the default networks are made of: on the CPU builds tested, fits
with 1, 2, 4 and 8 threads are bitwise equal (``tests/test_threads.py``
checks 1 against 2), so a fit stays reproducible whatever the tuner picks.
Convolutions round differently with the thread count, so a network with
any other layer (skvae.nn's convolutional ones, a user's) is not tuned: it
trains at the caller's count, reproducibly. The caller's count
(:func:`torch.set_num_threads`, or ``OMP_NUM_THREADS`` before torch is
imported) is the most it uses, and it is restored when training ends.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from ._modules import Autoencoder, VariationalAutoencoder
from .nn import MLPDecoder, MLPEncoder

#: Tuning is on unless a caller (a benchmark comparing both) turns it off.
ENABLED = True


class ThreadTuner:
    """Choose the number of torch threads from the measured speed of training steps.

    Call :meth:`step` after every training step and :meth:`close` at the end.
    Steps are timed in windows of at least ``window_s`` seconds. The counts
    tried are the caller's count halved down to 1 (``[8, 4, 2, 1]`` for 8).
    After ``explore_every`` windows at one count, one window runs at a
    neighbouring count, lower and higher in turn; the faster count per step
    is kept. A window more than ``slowdown`` times slower than the best seen
    at its count (the machine got busier) starts a probe at once. While
    probes confirm the choice, they become rarer, up to every
    ``max_explore_every`` windows.

    Parameters
    ----------
    window_s : float, default=0.05
    explore_every, max_explore_every : int, default=4, 64
    slowdown : float, default=1.5
    clock : callable, default=time.perf_counter
        Injected by tests.
    """

    def __init__(
        self,
        *,
        window_s=0.05,
        explore_every=4,
        max_explore_every=64,
        slowdown=1.5,
        clock=time.perf_counter,
    ):
        self.original = torch.get_num_threads()
        counts, n = [], self.original
        while n >= 1:
            counts.append(n)
            n //= 2
        self.counts = counts[::-1]  # ascending: 1, ..., original
        self.window_s, self.slowdown, self.clock = window_s, slowdown, clock
        self.explore_every = self.min_explore = explore_every
        self.max_explore_every = max_explore_every
        self.current = len(self.counts) - 1  # start at the caller's count
        self.chosen = self.current  # the count between probes
        self.rate = {}  # index -> latest seconds per step
        self.best_rate = {}  # index -> best seconds per step seen
        self.windows_at_choice, self.probe_up = 0, False
        self._start, self._steps = clock(), 0

    @property
    def active(self):
        return len(self.counts) > 1

    @property
    def threads(self):
        """The thread count in use now."""
        return self.counts[self.current]

    def step(self):
        """Count one training step; at the end of a window, decide the next count."""
        if not self.active:
            return
        self._steps += 1
        elapsed = self.clock() - self._start
        if elapsed < self.window_s:
            return
        self._finish_window(elapsed / self._steps)
        self._start, self._steps = self.clock(), 0

    def _finish_window(self, per_step):
        i = self.current
        slower = per_step > self.slowdown * self.best_rate.get(i, float("inf"))
        self.rate[i] = per_step
        self.best_rate[i] = min(per_step, self.best_rate.get(i, float("inf")))
        if i != self.chosen:
            # A probe ended: keep the faster count.
            if per_step < self.rate[self.chosen]:
                self.chosen = i
                self.explore_every = self.min_explore
            else:
                self.explore_every = min(2 * self.explore_every, self.max_explore_every)
            self._use(self.chosen)
            self.windows_at_choice = 0
            return
        self.windows_at_choice += 1
        if slower:
            self.explore_every = self.min_explore
        if slower or self.windows_at_choice >= self.explore_every:
            self._probe()

    def _probe(self):
        """Run the next window at a neighbouring count, lower and higher in turn."""
        up, down = self.chosen + 1, self.chosen - 1
        self.probe_up = not self.probe_up
        order = (up, down) if self.probe_up else (down, up)
        for j in order:
            if 0 <= j < len(self.counts):
                self._use(j)
                return

    def _use(self, i):
        self.current = i
        torch.set_num_threads(self.counts[i])

    def close(self):
        """Give the caller back its thread count."""
        if self.active:
            torch.set_num_threads(self.original)


class _NoTuner:
    """Stands in where nothing is tuned (a GPU, one thread, tuning off)."""

    active = False

    def step(self):
        pass

    def close(self):
        pass


def tuner_for(device, module):
    """A :class:`ThreadTuner` for training ``module`` on ``device``, or a stand-in.

    Only for a network whose every layer is known to compute the same bits
    with any number of threads (see ``INVARIANT``): a convolution's kernels
    round differently with the thread count (an MNIST fit of skvae.nn's
    convolutional VAE changed in the third digit of its 5-NN accuracy from
    one thread to two), so for it the count the tuner picks, which depends
    on timing, would make fits irreproducible. Such a network trains at
    the caller's count throughout.
    """
    if (
        not ENABLED
        or device.type != "cpu"
        or torch.get_num_threads() <= 1
        or not all(type(layer) in INVARIANT for layer in module.modules())
    ):
        return _NoTuner()
    return ThreadTuner()


#: The layers whose results do not depend on the number of threads, as
#: ``tests/test_threads.py`` checks for the default networks made of them.
INVARIANT = {
    nn.Linear,
    nn.ReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.Sequential,
    MLPEncoder,
    MLPDecoder,
    Autoencoder,
    VariationalAutoencoder,
}
