"""Sphinx configuration of vecdiag's documentation site (`make docs`).

Why Sphinx: vecdiag's docstrings are already numpydoc with doctests, and Sphinx
(autosummary + numpydoc) renders them as they are, while myst-nb executes the course's
notebooks at build time and pydata-sphinx-theme bundles its fonts and scripts, so the
built site works offline.

Nothing is fetched from the network: no intersphinx, MathJax served from the copy that the
``jupyter-server-mathjax`` wheel ships, and ``tests/test_docs.py`` fails on any http(s)
script, stylesheet or font in the built pages.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
# The notebooks' kernels inherit this environment: with MPLBACKEND set they would draw on
# Agg and show no pictures, so it is removed (this process draws the report on Agg below).
os.environ.pop("MPLBACKEND", None)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import _build_steps  # noqa: E402  (docs/_build_steps.py: generated inputs)

import vecdiag  # noqa: E402

project = "vecdiag"
author = "the vecdiag authors"
copyright = "2026, the vecdiag authors"
release = version = vecdiag.__version__ if hasattr(vecdiag, "__version__") else "0.1.0"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
]

exclude_patterns = ["_build", "README.md", "**/.ipynb_checkpoints", "_generated", "_readme_tail.md"]
templates_path = ["_templates"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}

# -- generated inputs (before the build reads its sources) --------------------------------
_build_steps.copy_notebooks(ROOT / "notebooks", HERE / "notebooks")
_build_steps.write_demo_report(HERE / "_generated" / "extra" / "examples")
html_extra_path = [str(HERE / "_generated" / "extra")]

# autosummary never deletes a page of a name that left the reference: start clean
shutil.rmtree(HERE / "api" / "generated", ignore_errors=True)

# -- API reference -------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"          # numpydoc's Parameters section says the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- notebooks (myst-nb) ---------------------------------------------------------------------
# "cache": executed once, kept in docs/_build/.jupyter_cache; VECDIAG_DOCS_EXECUTE=off renders
# the stored (output-free) notebooks without running them.
nb_execution_mode = os.environ.get("VECDIAG_DOCS_EXECUTE", "cache")
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_ipywidgets_js = {}   # no widget manager from a CDN: a widget's static view shows instead
suppress_warnings = ["mystnb.unknown_mime_type"]   # widget views: their static HTML shows

# -- HTML ------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "vecdiag"
html_static_path = ["_static", str(_build_steps.mathjax_dir())]
# local MathJax 2 (jupyter-server-mathjax ships it with the STIX-Web fonts only, as Jupyter uses it)
mathjax_path = "MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax3_config = None
mathjax2_config = {"HTML-CSS": {"availableFonts": [], "webFont": "STIX-Web", "imageFont": None},
                   "SVG": {"font": "STIX-Web"}, "menuSettings": {"zoom": "None"},
                   "showMathMenu": False}
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "icon_links": [],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_context = {"default_mode": "auto"}   # unset, the theme logs a console error
html_show_sourcelink = False
html_copy_source = False
