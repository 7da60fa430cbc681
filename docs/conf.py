"""Sphinx configuration for skvae.

Build with ``python -m sphinx -b html docs docs/_build/html`` from the
repository root (or ``make -C docs html``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

# Document the checkout these docs live in, even when another copy of skvae
# is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Local Sphinx helpers (the gallery's sort key).
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

import skvae

ROOT = Path(__file__).resolve().parent.parent

# The gallery's figures are drawn off screen.
os.environ.setdefault("MPLBACKEND", "Agg")

# -- Project -----------------------------------------------------------------

project = "skvae"
author = "the skvae developers"
copyright = author
release = skvae.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
default_role = "literal"

# -- autodoc / autosummary / numpydoc ---------------------------------------

autosummary_generate = True
autodoc_default_options = {"member-order": "groupwise"}
# The class template lists members itself; numpydoc's own member tables would
# duplicate them and point at stub pages that do not exist.
numpydoc_show_class_members = False
numpydoc_xref_param_type = True
numpydoc_xref_ignore = {
    "of",
    "shape",
    "or",
    "default",
    "optional",
    "instance",
    "n_samples",
    "n_features",
    "n_components",
}
numpydoc_xref_aliases = {
    # numpydoc's defaults for these are :ref: and :term: roles, which warn when
    # the Python and NumPy inventories cannot be fetched; object references
    # resolve the same way online and fall back to plain text offline.
    "bool": "bool",
    "array-like": "numpy.typing.ArrayLike",
    "ndarray": "numpy.ndarray",
    "Tensor": "torch.Tensor",
    "Bunch": "sklearn.utils.Bunch",
    "RandomState": "numpy.random.RandomState",
}

# -- Gallery ----------------------------------------------------------------

# The examples in ../examples run during the build and their figures land in
# auto_examples/ (generated, not committed). SKVAE_GALLERY_FAST=1, which CI
# sets, makes every example use the 8x8 digits and few epochs; without it they
# use MNIST where load_mnist finds it and the library's default epochs.
#
# load_mnist does not look in this project's development layout (a checkout
# beside a shared/ folder): name that copy, where it exists, explicitly.
_SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
if _SHARED_MNIST.is_file():
    os.environ.setdefault("SKVAE_MNIST", str(_SHARED_MNIST))

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "gallery_order.StoryOrder",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "doc_module": ("skvae",),
    "reference_url": {"skvae": None},
    "backreferences_dir": "generated/backreferences",
    "inspect_global_variables": False,
}

# sphinx-gallery reruns only the examples whose source changed, so a build in
# the other mode (fast or not, MNIST or not) would keep the last one's figures.
# Rerun everything when the mode differs from the one recorded in the gallery.
_mode = f"fast={os.environ.get('SKVAE_GALLERY_FAST', '0')} "
_mode += f"mnist={os.environ.get('SKVAE_MNIST', '')}"
_mode_file = Path(__file__).resolve().parent / "auto_examples" / ".gallery_mode"
if not _mode_file.is_file() or _mode_file.read_text() != _mode:
    sphinx_gallery_conf["run_stale_examples"] = True
    _mode_file.parent.mkdir(exist_ok=True)
    _mode_file.write_text(_mode)

# -- Cross-references to the libraries skvae builds on -----------------------

# SKVAE_DOCS_OFFLINE=1 skips fetching the inventories, for builds without a
# network (unresolved references then render as plain text).
if os.environ.get("SKVAE_DOCS_OFFLINE"):
    intersphinx_mapping = {}
else:
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "scipy": ("https://docs.scipy.org/doc/scipy/", None),
        "sklearn": ("https://scikit-learn.org/stable/", None),
        "torch": ("https://docs.pytorch.org/docs/stable/", None),
    }
intersphinx_timeout = 10

# -- HTML --------------------------------------------------------------------

if importlib.util.find_spec("pydata_sphinx_theme") is not None:
    html_theme = "pydata_sphinx_theme"
    html_theme_options = {
        "navigation_with_keys": False,
        "show_toc_level": 2,
    }
else:
    html_theme = "alabaster"
html_title = f"skvae {release}"
html_static_path = []
