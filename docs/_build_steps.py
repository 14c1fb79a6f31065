"""Inputs the documentation build generates before Sphinx reads its sources (used by conf.py).

- the course's notebooks, copied from ``notebooks/`` (the single source) into
  ``docs/notebooks/`` so that myst-nb executes and renders them as pages;
- the demo's HTML report, written by vecdiag's own ``write_report`` (the same pipeline as
  ``vecdiag demo``), published as ``examples/demo-report.html``;
- the local MathJax that the ``jupyter-server-mathjax`` wheel ships (no CDN).
"""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_notebooks(source: Path, target: Path) -> list[Path]:
    """Copy ``source/*.ipynb`` to ``target`` when missing or changed (keeps myst-nb's cache)."""
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    wanted = {p.name for p in source.glob("*.ipynb")}
    for stale in target.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for path in sorted(source.glob("*.ipynb")):
        out = target / path.name
        if not out.exists() or out.read_bytes() != path.read_bytes():
            shutil.copyfile(path, out)
        copied.append(out)
    return copied


def write_demo_report(folder: Path) -> Path:
    """Write the bundled demo's report with ``vecdiag.report.write_report``; return its path."""
    from vecdiag.datasets import load_demo
    from vecdiag.report import analyze, write_report

    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "demo-report.html"
    data = load_demo()
    analysis = analyze(
        data.corpus_embeddings, ids=data.corpus_ids, texts=data.corpus_texts,
        queries=data.query_embeddings, query_ids=data.query_ids, query_texts=data.query_texts,
        qrels=data.qrels, query_groups=data.query_groups, n_explain=5,
        token_counts=data.token_counts, max_tokens=data.max_tokens,
        title="vecdiag demo: the Halyard help centre",
        description=f"{data.summary()}. Generated while building this site.",
        show_progress=False)
    write_report(out, analysis)
    return out


def mathjax_dir() -> Path:
    """The MathJax 2 tree bundled by the ``jupyter-server-mathjax`` wheel (the docs extra)."""
    import jupyter_server_mathjax

    path = Path(jupyter_server_mathjax.__file__).resolve().parent / "static"
    if not (path / "MathJax.js").exists():
        raise RuntimeError(f"{path}/MathJax.js is missing: reinstall jupyter-server-mathjax "
                           "(pip install -e '.[docs]')")
    return path
