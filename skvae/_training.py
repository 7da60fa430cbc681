"""The one training loop of the neural reducers.

``train`` (epochs, validation, early stopping, NaN guard, history, progress,
callbacks) → ``run_epoch`` (one shuffled pass) → ``train_step`` (one
optimiser step) → the caller's ``objective`` (the loss, a pure function of the
module and a batch). No scikit-learn and no estimator in here.

Speed comes from doing little per batch: the data is one tensor on the
device, each epoch draws one permutation and walks contiguous slices of it
(no ``DataLoader``, no per-sample collation), Adam is fused where the build
supports it, and the per-batch loss terms are written into a device buffer
instead of being read back with ``.item()``, so the host synchronises with
the device once per epoch rather than once per batch. Data larger than
memory comes as a stream of buffers instead (:class:`skvae._data.RowStream`);
each buffer is then one such tensor.

The ``objective`` protocol: ``objective(module, xb, epoch, generator)``
returns ``(loss, terms)``, the scalar to minimise (a mean over the batch,
with grad) and a 1-D detached tensor of batch means of the named terms in
``objective.term_names`` (e.g. ``("reconstruction", "kl")``). ``loss`` must
equal ``objective.total(terms, epoch)``, which the loop uses to turn epoch
means of the terms into the epoch loss. An objective whose loss changes
from epoch to epoch (a KL warm-up) sets ``warmup_epochs``: losses of
different epochs are compared, for convergence and for early stopping's best
epoch, only from that epoch on.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import time
from dataclasses import dataclass, field

import torch

from ._threads import tuner_for

logger = logging.getLogger("skvae")

try:  # tqdm is optional: without it, progress goes to log lines.
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover - exercised only without tqdm
    tqdm = None


def make_optimizer(parameters, learning_rate, state=None):
    """Adam, fused into one kernel per step where this torch build supports it.

    ``state`` is a previous optimizer's ``state_dict`` (warm start,
    ``partial_fit``); its moments are moved to the parameters' device and its
    learning rate is replaced by ``learning_rate``. ``state`` itself is not
    modified: torch would adopt its CPU tensors and step them in place, and a
    failed warm start must leave the estimator's copy as it was.
    """
    parameters = list(parameters)
    try:
        optimizer = torch.optim.Adam(parameters, lr=learning_rate, fused=True)
    except (RuntimeError, ValueError, TypeError):
        # Builds or devices without a fused kernel: foreach is the next best.
        optimizer = torch.optim.Adam(parameters, lr=learning_rate, foreach=True)
    if state is not None:
        optimizer.load_state_dict(copy.deepcopy(state))
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
    return optimizer


class TrainingDivergedError(ValueError):
    """A loss term or a gradient became NaN or infinite during training."""


class FitInterruptedWarning(UserWarning):
    """Training was interrupted (Ctrl-C); the best weights so far were kept."""


@dataclass
class TrainResult:
    """What :func:`train` returns; the lists hold one entry per epoch run."""

    loss_curve: list = field(default_factory=list)
    validation_losses: list = field(default_factory=list)
    history: list = field(default_factory=list)
    n_epochs: int = 0
    #: Validation loss of the epoch whose weights were restored (inf if none).
    best_validation_loss: float = math.inf
    converged: bool = False
    stopped_by_callback: bool = False
    #: The ``KeyboardInterrupt`` that ended training after at least one
    #: complete epoch, or None.
    interrupt: BaseException | None = None


@dataclass
class TrainingPlan:
    """How :func:`train` trains, apart from the module, the data and the objective.

    Attributes
    ----------
    batch_size, max_epochs : int
    learning_rate : float
        The constant rate, or the peak of the one-cycle schedule.
    schedule : {"constant", "one_cycle"}
        ``"one_cycle"`` follows :func:`one_cycle_lr` over ``max_epochs``.
    autocast_dtype : torch.dtype or None
        Run the objective's forward pass under autocast to this dtype
        (``torch.bfloat16``); None trains in float32.
    tol, n_iter_no_change : float, int
        The stopping rule (see :func:`train`).
    check_convergence : bool
        False trains all ``max_epochs`` (a schedule, or ``partial_fit``).
    first_epoch : int
        The global index of the first epoch (KL warm-up, history).
    best_loss : float
        Best loss of earlier calls, for warm starts.
    patience_from : int
        The global index of the first epoch whose lack of progress counts
        towards ``n_iter_no_change`` (the peak of a one-cycle schedule, before
        which the rising step size makes the loss plateau for a while).
    """

    batch_size: int
    max_epochs: int
    learning_rate: float
    schedule: str = "constant"
    autocast_dtype: torch.dtype | None = None
    tol: float = 1e-4
    n_iter_no_change: int = 10
    check_convergence: bool = True
    first_epoch: int = 0
    best_loss: float = math.inf
    patience_from: int = 0


#: The share of a one-cycle schedule's steps over which the step size rises.
ONE_CYCLE_PEAK = 0.3


def one_cycle_lr(step, total_steps, peak):
    """The one-cycle learning rate (Smith & Topin, 2019) of 0-based ``step``.

    A cosine rise from ``peak / 25`` to ``peak`` over the first 30 % of the
    steps, then a cosine decay to ``peak / 25e4``; the defaults of
    :class:`torch.optim.lr_scheduler.OneCycleLR`. A pure function of the step,
    so a schedule needs no state to save or restore.
    """
    start, end = peak / 25.0, peak / 25e4
    rise = ONE_CYCLE_PEAK * total_steps - 1
    if step <= rise:
        return _cosine(start, peak, step / rise if rise > 0 else 1.0)
    return _cosine(peak, end, (step - rise) / max(total_steps - 1 - rise, 1e-12))


def _cosine(start, end, fraction):
    return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * min(fraction, 1.0)))


def train_step(module, optimizer, xb, objective, epoch, generator, autocast):
    """One optimiser step on batch ``xb``; returns the detached batch terms."""
    with autocast():
        loss, terms = objective(module, xb, epoch, generator)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return terms


def run_epoch(module, optimizer, X, objective, plan, *, epoch, generator, tuner=None):
    """One pass over ``X`` in a fresh random order.

    ``X`` is a tensor, or a stream of a larger-than-memory array (an object
    with ``shape``, ``device`` and ``buffers(generator)``; see
    :class:`skvae._data.RowStream`), whose rows are shuffled within buffers
    of randomly chosen chunks.

    ``tuner`` (a :class:`skvae._threads.ThreadTuner`) is told of every step,
    to choose the number of CPU threads.

    Returns
    -------
    epoch_terms : Tensor of shape (n_terms,)
        Sample-weighted means of the terms over the epoch, on the device.
    batch_terms : Tensor of shape (n_batches, n_terms)
        The terms of every batch, to locate a divergence.
    """
    n, batch_size = X.shape[0], plan.batch_size
    n_batches = math.ceil(n / batch_size)
    batch_terms = torch.empty(
        n_batches, len(objective.term_names), dtype=torch.float32, device=X.device
    )
    # Enabled or not, this autocast replaces any the caller has open; without
    # its cache, because a cache lives until the outermost autocast closes,
    # and under a caller's that is after the fit: later steps would reuse the
    # first step's casts of the weights.
    autocast = functools.partial(
        torch.autocast,
        X.device.type,
        dtype=plan.autocast_dtype,
        enabled=plan.autocast_dtype is not None,
        cache_enabled=False,
    )
    module.train()
    # The backward pass and the optimizer step outside any autocast a caller
    # has open (the forward pass sets its own, in train_step).
    with torch.autocast(X.device.type, enabled=False):
        for i, xb in enumerate(_shuffled_batches(X, batch_size, generator)):
            if plan.schedule == "one_cycle":
                step = (epoch - plan.first_epoch) * n_batches + i
                lr = one_cycle_lr(step, plan.max_epochs * n_batches, plan.learning_rate)
                for group in optimizer.param_groups:
                    group["lr"] = lr
            batch_terms[i] = train_step(
                module, optimizer, xb, objective, epoch, generator, autocast
            )
            if tuner is not None:
                tuner.step()
    return _weighted_mean(batch_terms, n, batch_size), batch_terms


def evaluate(module, X, objective, *, batch_size, epoch, generator):
    """Epoch means of the objective's terms on ``X``, without gradients."""
    n = X.shape[0]
    n_batches = math.ceil(n / batch_size)
    batch_terms = torch.empty(
        n_batches, len(objective.term_names), dtype=torch.float32, device=X.device
    )
    module.eval()
    start = getattr(objective, "start_evaluation", None)
    finish = getattr(objective, "finish_evaluation", None)
    if start is not None:
        start()
    # In float32 whatever autocast the caller has open, as inference runs.
    with torch.inference_mode(), torch.autocast(X.device.type, enabled=False):
        for i, xb in enumerate(_ordered_batches(X, batch_size)):
            batch_terms[i] = objective(module, xb, epoch, generator)[1]
    terms = _weighted_mean(batch_terms, n, batch_size)
    return terms if finish is None else finish(terms)


def _randperm(n, generator, device):
    return torch.randperm(n, generator=generator, device=generator.device).to(device)


def _shuffled_batches(X, batch_size, generator):
    """The batches of one epoch over ``X`` (a tensor or a stream), shuffled."""
    if isinstance(X, torch.Tensor):
        # One permutation, and contiguous slices of it: no copy of X.
        perm = _randperm(X.shape[0], generator, X.device)
        for start in range(0, X.shape[0], batch_size):
            yield X.index_select(0, perm[start : start + batch_size])
        return
    yield from _rebatch(_shuffled_buffers(X, generator), batch_size)


def _shuffled_buffers(X, generator):
    """The buffers of a stream, each shuffled into one reused tensor."""
    shuffled = None
    for buffer in X.buffers(generator):
        m = buffer.shape[0]
        if shuffled is None or shuffled.shape[0] < m:
            shuffled = buffer.new_empty(buffer.shape)
        perm = _randperm(m, generator, buffer.device)
        yield torch.index_select(buffer, 0, perm, out=shuffled[:m])


def _ordered_batches(X, batch_size):
    """The batches of ``X`` (a tensor or a stream) in order."""
    if isinstance(X, torch.Tensor):
        for start in range(0, X.shape[0], batch_size):
            yield X[start : start + batch_size]
        return
    yield from _rebatch(X.buffers(), batch_size)


def _rebatch(buffers, batch_size):
    """Cut consecutive buffers into batches of ``batch_size`` rows.

    A buffer's last partial batch is carried into the next, so that every
    batch but the last is full, as in memory: the one-cycle schedule's steps
    and the sample weights of the epoch means stay exact.
    """
    carry = None
    for buffer in buffers:
        if carry is not None:
            # Fill the carried batch, without copying the whole buffer.
            need = batch_size - carry.shape[0]
            carry = torch.cat([carry, buffer[:need]])
            buffer = buffer[need:]
            if carry.shape[0] < batch_size:
                continue
            yield carry
        full = buffer.shape[0] - buffer.shape[0] % batch_size
        for start in range(0, full, batch_size):
            yield buffer[start : start + batch_size]
        # A copy: the buffer is reused for the next one.
        carry = buffer[full:].clone() if full < buffer.shape[0] else None
    if carry is not None and carry.shape[0]:
        yield carry


def _weighted_mean(batch_terms, n, batch_size):
    weights = torch.full(
        (batch_terms.shape[0], 1),
        batch_size / n,
        dtype=batch_terms.dtype,
        device=batch_terms.device,
    )
    weights[-1] = (n - batch_size * (batch_terms.shape[0] - 1)) / n
    return (batch_terms * weights).sum(0)


class _Stopper:
    """The stopping rule, and early stopping's best weights.

    As in scikit-learn's MLP: an epoch that does not improve the best loss
    (the validation loss with early stopping) by at least ``tol`` counts as
    no change, and training stops after more than ``n_iter_no_change`` such
    epochs in a row.

    With validation, the best epoch's optimizer moments and generator state
    are kept with its weights, so that a warm start from the restored
    weights continues the run of that epoch, not of the last one.
    """

    def __init__(self, params, plan, validation, optimizer, generator):
        self.params, self.plan, self.validation = params, plan, validation
        self.optimizer, self.generator = optimizer, generator
        self.best_loss, self.best_val = plan.best_loss, math.inf
        self.best_state, self.no_change = None, 0

    def update(self, record):
        """Take an epoch's ``record`` into account; True when training should stop."""
        if self.validation:
            current, best = record["validation_loss"], self.best_val
            if current < best:
                self.best_val = current
                self.best_state = (
                    [p.detach().clone() for p in self.params],
                    copy.deepcopy(self.optimizer.state_dict()),
                    self.generator.get_state(),
                )
        else:
            current, best = record["loss"], self.best_loss
            self.best_loss = min(best, current)
        if (
            not self.plan.check_convergence
            or record["epoch"] <= self.plan.patience_from
        ):
            return False
        self.no_change = self.no_change + 1 if current > best - self.plan.tol else 0
        return self.no_change > self.plan.n_iter_no_change

    @torch.no_grad()
    def restore_best(self):
        """Put the best validation epoch's state back, if one was recorded."""
        if self.best_state is None:
            return
        weights, optimizer_state, generator_state = self.best_state
        for p, best in zip(self.params, weights, strict=True):
            p.copy_(best)
        self.optimizer.load_state_dict(optimizer_state)
        self.generator.set_state(generator_state)


def train(
    module,
    optimizer,
    X,
    objective,
    plan,
    *,
    generator,
    X_val=None,
    verbose=0,
    callbacks=(),
    description="training",
):
    """Train ``module`` in place for up to ``plan.max_epochs`` epochs.

    Training stops by :class:`_Stopper`'s rule when ``plan.check_convergence``
    (with ``X_val``, on the validation loss),
    when a callback asks, or after ``plan.max_epochs``. Epochs before
    ``objective.warmup_epochs`` (if set) count for neither the rule nor the
    best epoch.

    Parameters
    ----------
    module : torch.nn.Module
    optimizer : torch.optim.Optimizer
        Over ``module``'s parameters.
    X : Tensor of shape (n_samples, n_features), or a stream
        Training data, on the module's device, or a stream of data larger
        than memory (see :func:`run_epoch`).
    objective : callable
        See the module docstring.
    plan : TrainingPlan
    generator : torch.Generator
        The only source of randomness: permutations and the objective's noise.
    X_val : Tensor, stream or None
        Validation data for early stopping.
    verbose : int
        0 silent; 1 a tqdm bar (or one log line per epoch without tqdm);
        2 log lines as well.
    callbacks : sequence of callables
        Each is called as ``callback(record)`` with the epoch's history dict
        after every epoch; a true return value stops training.
    description : str
        The progress bar's label.

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingDivergedError
        When a loss term or a gradient becomes non-finite. The weights of the
        last finite epoch are restored into ``module`` first.
    KeyboardInterrupt
        When interrupted before the first epoch completed; ``module`` holds
        its weights from before the call again.

    Notes
    -----
    A ``KeyboardInterrupt`` after at least one complete epoch ends training
    like a callback's stop: the weights at the end of the last complete
    epoch (those at the start of an epoch cut short, never half-updated
    ones) or early stopping's best are kept, the lists hold the complete
    epochs, and the exception is returned in ``result.interrupt`` for the
    caller to re-raise. Without validation, the optimizer's moments and
    ``generator`` are not rewound: they include the steps of an epoch cut
    short. With it, they are the best epoch's, restored with its weights.
    """
    result = TrainResult()
    params = [p for p in module.parameters() if p.requires_grad]
    stopper = _Stopper(
        params, plan, X_val is not None, optimizer=optimizer, generator=generator
    )
    validate = _validator(module, X_val, objective, plan, generator)
    # Fewer CPU threads where the cores are shared (see skvae._threads).
    tuner = tuner_for(X.device, module)
    bar = None
    if verbose and tqdm is not None:
        bar = tqdm(total=plan.max_epochs, desc=description, leave=False, unit="epoch")
    i, last_good = 0, None
    try:
        for i in range(plan.max_epochs):
            epoch = plan.first_epoch + i
            start = time.perf_counter()
            last_good = [p.detach().clone() for p in params]
            record = _train_epoch(
                module,
                params,
                last_good,
                optimizer,
                X,
                objective,
                plan,
                epoch,
                generator,
                tuner,
            )
            if validate is not None:
                record.update(validate(epoch))
            record["time"] = time.perf_counter() - start
            if validate is not None:
                result.validation_losses.append(record["validation_loss"])
            result.loss_curve.append(record["loss"])
            result.history.append(record)
            result.n_epochs += 1
            _report(bar, record, verbose)
            # The stopper sees every complete epoch before the callbacks do,
            # so that a stop (or an interrupt) in a callback keeps the best
            # epoch up to and including this one.
            converged = epoch + 1 >= getattr(
                objective, "warmup_epochs", 0
            ) and stopper.update(record)
            if any(bool(cb(record)) for cb in callbacks):
                result.stopped_by_callback = True
                break
            if converged:
                result.converged = True
                break
    except KeyboardInterrupt as exc:
        _interrupted(result, params, last_good, i, exc)
    finally:
        tuner.close()
        if bar is not None:
            bar.close()
    result.best_validation_loss = stopper.best_val
    stopper.restore_best()
    module.eval()
    return result


def _interrupted(result, params, last_good, i, exc):
    """Keep the complete epochs of an interrupted ``train``, or re-raise ``exc``.

    ``last_good`` are the weights at the start of epoch ``i`` (0-based in this
    call), the one running when ``exc`` arrived.
    """
    if result.n_epochs <= i and last_good is not None:
        # Cut short inside the epoch (or its validation): undo its steps.
        with torch.no_grad():
            for p, good in zip(params, last_good, strict=True):
                p.copy_(good)
    if result.n_epochs == 0:
        raise exc
    n = result.n_epochs  # entries past the complete epochs, should any exist
    del result.loss_curve[n:], result.history[n:], result.validation_losses[n:]
    result.interrupt = exc


def _train_epoch(
    module, params, last_good, optimizer, X, objective, plan, epoch, generator, tuner
):
    """Run one epoch; return its history record, or raise on divergence.

    ``params`` are the module's trainable parameters, which the NaN guard
    checks and, on divergence, restores from ``last_good``, their copy taken
    at the start of the epoch.
    """
    epoch_terms, batch_terms = run_epoch(
        module,
        optimizer,
        X,
        objective,
        plan,
        epoch=epoch,
        generator=generator,
        tuner=tuner,
    )
    # The single host synchronisation of the epoch.
    finite = torch.stack([p.detach().sum() for p in params]).isfinite().all()
    values = epoch_terms.tolist()
    if not (bool(finite) and all(map(math.isfinite, values))):
        with torch.no_grad():
            for p, good in zip(params, last_good, strict=True):
                p.copy_(good)
        raise TrainingDivergedError(
            _divergence_message(batch_terms, objective.term_names, epoch, optimizer)
        )
    return {
        "epoch": epoch + 1,
        "loss": objective.total(values, epoch),
        **dict(zip(objective.term_names, values, strict=True)),
    }


def _validator(module, X_val, objective, plan, generator):
    """A function of the epoch giving the validation entries of its record.

    Validation noise comes from one fixed seed: every epoch sees the same
    draws, so epochs are compared on common random numbers, not on noise.
    """
    if X_val is None:
        return None
    seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
    val_generator = torch.Generator(device=generator.device)
    names = objective.term_names

    def validate(epoch):
        val_generator.manual_seed(seed)
        terms = evaluate(
            module,
            X_val,
            objective,
            batch_size=max(plan.batch_size, 1024),
            epoch=epoch,
            generator=val_generator,
        ).tolist()
        loss = objective.total(terms, epoch)
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"The validation loss became non-finite in epoch {epoch + 1}. "
                "Scale the data or lower learning_rate_init."
            )
        return {
            "validation_loss": loss,
            **{f"validation_{n}": v for n, v in zip(names, terms, strict=True)},
        }

    return validate


def _divergence_message(batch_terms, names, epoch, optimizer):
    """Name the first term that became non-finite, and where."""
    lr = optimizer.param_groups[0]["lr"]
    bad = ~torch.isfinite(batch_terms.cpu())
    advice = (
        "Try scaling the data (StandardScaler, or MinMaxScaler for [0, 1] data) "
        f"or lowering learning_rate_init (now {lr:g})."
    )
    if bad.any():
        batch = int(bad.any(dim=1).nonzero()[0, 0])
        bad_names = [n for n, b in zip(names, bad[batch].tolist(), strict=True) if b]
        terms = " and ".join(bad_names) + (" terms" if len(bad_names) > 1 else " term")
        return (
            f"Training diverged: the {terms} became non-finite (NaN or inf) in "
            f"batch {batch + 1} of epoch {epoch + 1}. {advice}"
        )
    return (
        f"Training diverged: a gradient became non-finite (NaN or inf) in epoch "
        f"{epoch + 1} although the loss terms were finite. {advice}"
    )


def _report(bar, record, verbose):
    parts = [f"{k}={v:.4g}" for k, v in record.items() if k not in ("epoch", "time")]
    if bar is not None:
        bar.set_postfix_str(", ".join(parts), refresh=False)
        bar.update(1)
    if verbose and (bar is None or verbose >= 2):
        logger.info(
            "epoch %d: %s (%.2fs)", record["epoch"], ", ".join(parts), record["time"]
        )
