"""The public namespace: what dir() shows, and docstrings as help() renders them."""

import importlib
import importlib.util
import inspect
import re

import pytest

PUBLIC_MODULES = [
    "skvae.benchmark",
    "skvae.datasets",
    "skvae.io",
    "skvae.metrics",
    "skvae.plotting",
]


def _import(name):
    if name == "skvae.plotting":
        pytest.importorskip("matplotlib")
    return importlib.import_module(name)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_dir_lists_the_public_api_only(name):
    module = _import(name)
    assert sorted(dir(module)) == sorted(module.__all__)
    for attribute in module.__all__:
        getattr(module, attribute)  # every name listed exists
    # What the module defines without an underscore is in __all__: it is
    # public, so dir() must not hide it.
    defined_here = {
        key
        for key, value in vars(module).items()
        if not key.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == name
    }
    assert defined_here <= set(module.__all__)
    # The imports stay reachable as attributes, only unlisted.
    assert "np" not in dir(module) and module.np is not None


def _documented():
    """``(name, object)`` of every public class, method and function."""
    skvae = importlib.import_module("skvae")
    modules = [skvae] + [
        importlib.import_module(name)
        for name in PUBLIC_MODULES
        if name != "skvae.plotting" or importlib.util.find_spec("matplotlib")
    ]
    for module in modules:
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value):
                yield f"{module.__name__}.{name}", value
                for attribute, member in vars(value).items():
                    if inspect.isfunction(member) and not attribute.startswith("_"):
                        yield f"{module.__name__}.{name}.{attribute}", member
            elif inspect.isfunction(value):
                yield f"{module.__name__}.{name}", value


def test_parameter_lines_render_on_one_clean_line():
    # A backslash continuation in a docstring joins two lines but keeps the
    # second one's indentation: help() then shows "float,            default".
    header = re.compile(r"^\s*[\w*][\w*, ]* : \S")
    broken = [
        f"{name}: {line.strip()!r}"
        for name, value in _documented()
        for line in (inspect.getdoc(value) or "").splitlines()
        if header.match(line) and re.search(r"\S {2,}\S", line)
    ]
    assert not broken
