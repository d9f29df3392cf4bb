"""Sphinx configuration of the kmatrix documentation (build: see README, "Documentation")."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import kmatrix

project = "kmatrix"
author = "kmatrix contributors"
release = version = kmatrix.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
]

# docstrings are numpy style (Parameters / Returns / Examples sections)
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_default_options = {"members": True, "exclude-members": "extra_repr, forward"}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_typehints_format = "short"
autoclass_content = "class"

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"\.py$",
    # the gallery scripts run in the test suite (tests/test_examples.py); the docs show their
    # source without executing them, which keeps the docs build short on a small CI machine
    "plot_gallery": "False",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
}

html_theme = "furo"
html_title = f"kmatrix {version}"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
suppress_warnings = ["config.cache"]
