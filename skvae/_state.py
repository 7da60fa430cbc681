"""What a reducer's state may hold: the schema every way of loading one checks.

pickle, joblib, :mod:`skops.io` and :func:`skvae.io.load` all rebuild an
estimator through ``__setstate__``, with a dict that may come from anyone. A
tampered dict must not crash the process (an optimizer moment shorter than
its parameter made the fused Adam step write past its buffer), allocate
without bound, shadow a method or a class setting, or load quietly and fail
in a later call. So before a reducer takes a state, :func:`check_state`
compares it with what the class itself would have written: the exact set of
attribute names, each array's dtype, shape and finiteness, each scalar's type
and range, and how the parts fit together (the network's arrays against the
architecture it records, the optimizer's moments against the parameters,
``n_components_`` against both). Anything else is a ``ValueError`` naming
the part at fault.

Everything here reads plain values (the Python and NumPy values that
``__getstate__`` writes) and allocates nothing in proportion to a size the
state claims: sizes are compared with the arrays the state actually holds.
"""

from __future__ import annotations

import contextlib
import math
from numbers import Integral, Real

import numpy as np
import torch

from ._modules import is_routed


class StateError(ValueError):
    """A state that does not fit together; the message names the part."""


@contextlib.contextmanager
def refusing(estimator):
    """Turn a :class:`StateError` in the block into the ``ValueError`` users see."""
    try:
        yield
    except StateError as exc:
        raise ValueError(
            f"{_name(estimator)}: the saved state does not fit together: {exc}."
        ) from None


def check_state(estimator, state, spec):
    """Check ``state`` (a ``__setstate__`` argument) for ``estimator``.

    ``spec`` is ``(required, optional)``: dicts mapping each fitted attribute
    of the class to a checker ``fn(value, ctx)``, ``ctx`` being the state
    with the estimator's parameters. Names outside them, the parameters and
    the attributes any estimator may carry are refused. The parameters are
    validated as ``fit`` would; if the state holds any fitted attribute, it
    must hold all the required ones. Each attribute present is then checked.
    """
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise StateError("the state is not a dict of attribute names")
    params = set(estimator._get_param_names())
    required, optional = spec
    checks = {**required, **optional, **_ANY_ESTIMATOR}
    unknown = sorted(set(state) - params - set(checks))
    if unknown:
        raise StateError(
            f"it holds attributes that {_name(estimator)} has not: {unknown}"
        )
    given = {k: v for k, v in state.items() if k in params}
    # With the networks' prefixed parameters (encoder__channels), keyword
    # arguments of __init__ kept in one dict: a class without them refuses.
    if isinstance(state.get("_network_params"), dict):
        given.update(state["_network_params"])
    _check_params(estimator, given)
    if set(state) & (set(required) | set(optional)):
        missing = sorted(set(required) - set(state))
        if missing:
            raise StateError(f"the fitted attributes {missing} are missing")
    ctx = {k: getattr(estimator, k) for k in params if hasattr(estimator, k)}
    ctx.update(state)
    # In the order of the spec: sizes come first, later checks use them.
    for name, check in checks.items():
        if name in state:
            try:
                check(state[name], ctx)
            except StateError as exc:
                raise StateError(f"{name}: {exc}") from None


def _name(estimator):
    return type(estimator).__name__


def _check_params(estimator, params):
    """The parameters, validated as ``fit`` validates them.

    A state from pickle holds them all; one from :func:`skvae.io.load` none,
    the estimator having been constructed with them.
    """
    names = estimator._get_param_names()
    current = {k: getattr(estimator, k) for k in names if hasattr(estimator, k)}
    try:
        probe = type(estimator)(**{**current, **params})
        probe._validate_params()
    except (TypeError, ValueError) as exc:
        raise StateError(f"a parameter is invalid: {exc}") from None


# ------------------------------------------------------------------ checkers
# Each takes (value, ctx), ctx being the whole state (and the parameters),
# and raises StateError with what is wrong.


def integer(lo=None, hi=None):
    def check(value, ctx):
        if not isinstance(value, Integral) or isinstance(value, bool | np.bool_):
            raise StateError(f"expected an integer, got {_kind(value)}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise StateError(f"{value} is outside [{lo}, {hi}]")

    return check


def real(lo=-math.inf, hi=math.inf, *, finite=True, positive=False, nan=False):
    def check(value, ctx):
        if not isinstance(value, Real) or isinstance(value, bool | np.bool_):
            raise StateError(f"expected a number, got {_kind(value)}")
        value = float(value)
        if math.isnan(value):
            if nan:
                return
            raise StateError("it is NaN")
        if finite and not math.isfinite(value):
            raise StateError(f"{value} is not finite")
        if not lo <= value <= hi or (positive and value <= 0):
            raise StateError(f"{value} is out of range")

    return check


def optional(check):
    def maybe(value, ctx):
        if value is not None:
            check(value, ctx)

    return maybe


def one_of(*values):
    def check(value, ctx):
        if not isinstance(value, str) or value not in values:
            raise StateError(f"expected one of {list(values)}, got {value!r}")

    return check


def array(dtypes, shape, *, lo=None, finite=True):
    """An ndarray of one of ``dtypes`` and of shape ``shape(ctx)``.

    ``dtypes`` is a tuple of dtype names, or a function of ``ctx`` giving
    one (an array that must share another's dtype).
    """

    def check(value, ctx):
        if not isinstance(value, np.ndarray):
            raise StateError(f"expected an array, got {_kind(value)}")
        allowed = dtypes(ctx) if callable(dtypes) else dtypes
        if value.dtype.name not in allowed:
            raise StateError(
                f"has dtype {value.dtype}, expected {' or '.join(allowed)}"
            )
        expected = tuple(shape(ctx))
        if value.shape != expected:
            raise StateError(f"has shape {value.shape}, expected {expected}")
        if value.dtype.kind == "f":
            if finite and not np.isfinite(value).all():
                raise StateError("holds NaN or infinity")
            if lo is not None and (value < lo).any():
                raise StateError(f"holds values below {lo}")

    return check


def floats(n, *, nan=False):
    """A list of ``n(ctx)`` numbers."""

    def check(value, ctx):
        if not isinstance(value, list) or len(value) != n(ctx):
            raise StateError(f"expected a list of {n(ctx)} numbers")
        element = real(finite=not nan, nan=nan)
        for v in value:
            element(v, ctx)

    return check


def history(value, ctx):
    n = ctx["n_iter_"]
    if not isinstance(value, list) or len(value) != n:
        raise StateError(f"expected a list of {n} records")
    for record in value:
        if not isinstance(record, dict) or not all(
            isinstance(k, str)
            and isinstance(v, Real)
            and not isinstance(v, bool | np.bool_)
            for k, v in record.items()
        ):
            raise StateError("a record is not a dict of numbers")


def device(value, ctx):
    if not isinstance(value, str):
        raise StateError(f"expected a device name, got {_kind(value)}")
    try:
        parsed = torch.device(value)
    except (RuntimeError, ValueError):
        raise StateError(f"{value!r} is not a device") from None
    # Devices that hold real memory; "meta" and the like cannot compute.
    if parsed.type not in ("cpu", "cuda", "mps", "xpu"):
        raise StateError(f"{value!r} is not a device skvae computes on")


def n_features(ctx):
    return ctx["n_features_in_"]


def n_components(ctx):
    return ctx["n_components_"]


def _kind(value):
    return type(value).__name__


# Attributes any estimator may carry, fitted or not (_ANY_ESTIMATOR).
def _output_config(value, ctx):
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise StateError("expected a dict of strings")


def _feature_names(value, ctx):
    if not isinstance(value, np.ndarray) or value.ndim != 1:
        raise StateError("expected a 1-D array of names")
    if "n_features_in_" in ctx and value.shape[0] != ctx["n_features_in_"]:
        raise StateError(f"has {value.shape[0]} names for {ctx['n_features_in_']}")
    if not all(isinstance(v, str) for v in value.tolist()):
        raise StateError("holds something other than strings")


def _version(value, ctx):
    if not isinstance(value, str):
        raise StateError("expected a version string")


def _network_params(value, ctx):
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and is_routed(k) for k in value
    ):
        raise StateError(
            "expected a dict of the networks' prefixed parameters (encoder__*, "
            "decoder__*)"
        )


_ANY_ESTIMATOR = {
    "_network_params": _network_params,
    "_sklearn_output_config": _output_config,
    "_sklearn_version": _version,
    "feature_names_in_": _feature_names,
}


# -------------------------------------------------------- neural networks


def architecture(options):
    """The network record of ``_NeuralReducer._architecture_of_params``.

    Its parts are checked here; whether they build a network that the
    stored arrays fit is checked by building it on the meta device.
    ``options`` are the module options the class may record, or a function
    of the state giving them. Module options with ``n_features`` (a module
    that projects the rows) let the networks' input shape hold fewer
    values than the rows.
    """

    def check(value, ctx):
        if not isinstance(value, dict) or set(value) != _RECORD:
            raise StateError(f"expected a dict with the keys {sorted(_RECORD)}")
        k = value["n_components"]
        integer(1)(k, ctx)
        if k != ctx.get("n_components_"):
            raise StateError(
                f"records {k} components, n_components_ is {ctx.get('n_components_')}"
            )
        shape = value["input_shape"]
        if not isinstance(shape, tuple | list) or not shape:
            raise StateError("the input shape is not a tuple")
        for size in shape:
            integer(1)(size, ctx)
        allowed = options(ctx) if callable(options) else options
        if not any(value["module_options"] == o for o in allowed):
            raise StateError(
                f"module options {value['module_options']!r} are not one of {allowed}"
            )
        projected = value["module_options"].get("n_features") is not None
        if not (
            math.prod(shape) < n_features(ctx)
            if projected
            else math.prod(shape) == n_features(ctx)
        ):
            raise StateError(
                f"the input shape {tuple(shape)} does not hold "
                f"{'fewer than ' if projected else ''}"
                f"n_features_in_={n_features(ctx)} values"
            )
        if not isinstance(value["standardizes"], bool | np.bool_):
            raise StateError("'standardizes' is not a boolean")
        for role in ("encoder", "decoder"):
            recipe = value[role]
            if not (
                isinstance(recipe, tuple | list)
                and len(recipe) == 2
                and isinstance(recipe[0], str)
                and isinstance(recipe[1], dict)
                and all(isinstance(k, str) and k.isidentifier() for k in recipe[1])
            ):
                raise StateError(f"the {role} is not a (name, parameters) pair")

    return check


_RECORD = {
    "n_components",
    "input_shape",
    "standardizes",
    "encoder",
    "decoder",
    "module_options",
}


def architecture_sizes(value, ctx):
    if not isinstance(value, tuple | list):
        raise StateError("expected a tuple of layer widths")
    for size in value:
        integer(1)(size, ctx)


def check_weights(architecture, weights, module):
    """``weights`` (name -> array) against ``module``, built on the meta device."""
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    # float32 weights, and whatever else a layer keeps (a batch norm's int64
    # count of batches), in the dtype the network has it.
    dtypes = {k: _numpy_dtype(v.dtype) for k, v in module.state_dict().items()}
    if not isinstance(weights, dict) or set(weights) != set(expected):
        got = sorted(weights) if isinstance(weights, dict) else _kind(weights)
        raise StateError(
            f"the stored network has the arrays {got}, the architecture it "
            f"records needs {sorted(expected)}"
        )
    for name, shape in expected.items():
        value = weights[name]
        if not isinstance(value, np.ndarray) or value.dtype != dtypes[name]:
            raise StateError(f"the network's {name} is not a {dtypes[name]} array")
        if value.shape != shape:
            raise StateError(
                f"the network's {name} has shape {value.shape}, the architecture "
                f"it records ({architecture!r}) needs {shape}"
            )
        if not np.isfinite(value).all():
            raise StateError(f"the network's {name} holds NaN or infinity")


def _numpy_dtype(dtype):
    """The NumPy dtype of a torch dtype (of a tensor on the meta device too)."""
    return torch.empty(0, dtype=dtype, device="cpu").numpy().dtype


def check_optimizer(state, module, template):
    """An optimizer ``state_dict`` (of arrays) against ``module``'s parameters.

    ``template`` is a fresh optimizer's ``state_dict`` over the same
    parameters: the groups must have its keys and kinds of values.
    """
    if not isinstance(state, dict) or set(state) != {"state", "param_groups"}:
        raise StateError("the optimizer state is not a torch state_dict")
    shapes = [tuple(p.shape) for p in module.parameters()]
    groups = state["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(template["param_groups"]):
        raise StateError("the optimizer has the wrong number of parameter groups")
    for group, expected in zip(groups, template["param_groups"], strict=True):
        # Keys differ between torch versions; these four and the parameters
        # are Adam's in all of them.
        needed = {"params", "lr", "betas", "eps", "weight_decay"}
        if not isinstance(group, dict) or not needed <= set(group):
            raise StateError("an optimizer parameter group has the wrong keys")
        if list(group["params"]) != list(expected["params"]):
            raise StateError("the optimizer's parameters are not the network's")
        for key, value in group.items():
            if key == "params":
                continue
            try:
                _check_hyperparameter(key, value)
            except StateError as exc:
                raise StateError(f"the optimizer's {key!r}: {exc}") from None
    moments = state["state"]
    if not isinstance(moments, dict):
        raise StateError("the optimizer's moments are not a dict")
    for index, entry in moments.items():
        if not isinstance(index, Integral) or not 0 <= index < len(shapes):
            raise StateError(f"the optimizer has moments for parameter {index!r}")
        if not isinstance(entry, dict) or set(entry) != {
            "step",
            "exp_avg",
            "exp_avg_sq",
        }:
            raise StateError(
                f"the optimizer's moments of parameter {index} are malformed"
            )
        step = entry["step"]
        if (
            not isinstance(step, np.ndarray)
            or step.shape != ()
            or step.dtype != np.float32
            or not np.isfinite(step)
            or step < 0
        ):
            raise StateError(f"the optimizer's step count of parameter {index} is bad")
        for name in ("exp_avg", "exp_avg_sq"):
            moment = entry[name]
            if (
                not isinstance(moment, np.ndarray)
                or moment.dtype != np.float32
                or moment.shape != shapes[index]
            ):
                raise StateError(
                    f"the optimizer's {name} of parameter {index} is not a float32 "
                    f"array of shape {shapes[index]}"
                )
            if not np.isfinite(moment).all() or (
                name == "exp_avg_sq" and (moment < 0).any()
            ):
                raise StateError(f"the optimizer's {name} of parameter {index} is bad")


def _check_hyperparameter(key, value):
    """One setting of an Adam parameter group."""
    if not isinstance(key, str):
        raise StateError("an optimizer setting has a name that is not a string")
    if key == "betas":
        if not isinstance(value, tuple | list) or len(value) != 2:
            raise StateError("the optimizer's betas are malformed")
        for beta in value:
            real(0.0, 1.0)(beta, None)
            if beta >= 1.0:
                raise StateError("the optimizer's betas must be below 1")
    elif key in ("lr", "eps", "weight_decay"):
        real(0.0, positive=key == "eps")(value, None)
    elif not (
        value is None
        or isinstance(value, bool | np.bool_)
        or (isinstance(value, Real) and math.isfinite(value))
    ):
        # Flags (fused, foreach, amsgrad...) and numbers of other torch versions.
        raise StateError(f"the optimizer's {key} is not a flag or a number")


def generator_state(value, ctx):
    template = torch.Generator().get_state()
    if (
        not isinstance(value, np.ndarray)
        or value.dtype != np.uint8
        or value.shape != tuple(template.shape)
    ):
        raise StateError(
            f"expected a uint8 array of shape {tuple(template.shape)}, as torch's "
            "CPU generator has"
        )
    try:
        torch.Generator().set_state(torch.from_numpy(value.copy()))
    except (RuntimeError, ValueError) as exc:
        raise StateError(f"torch refuses it: {exc}") from None
