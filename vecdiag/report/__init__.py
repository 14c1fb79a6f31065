"""Reports: diagnose, evaluate and explain in one pass, then write HTML, text or JSON.

>>> from vecdiag.report import analyze, render_html, render_text   # doctest: +SKIP
>>> a = analyze(X, ids=ids, queries=Q, query_ids=qids, qrels=qrels)  # doctest: +SKIP
>>> write_report("report.html", a)                                    # doctest: +SKIP

The HTML page is one self-contained file: plots embedded as PNG, no JavaScript, no
network fetches (a Content-Security-Policy forbids both), every user string escaped.
"""

from __future__ import annotations

from .analysis import DEFAULT_METRICS, Analysis, QueryCase, analyze
from .html import render_html
from .text import jsonable, render_text, to_json

__all__ = ["Analysis", "QueryCase", "analyze", "render_html", "render_text", "to_json",
           "jsonable", "write_report", "DEFAULT_METRICS"]


def write_report(path, analysis, *, generated: str | None = None) -> None:
    """Render ``analysis`` as HTML and write it to ``path`` atomically (never half-written)."""
    import os

    from ..io import atomic_write_text

    atomic_write_text(path, render_html(analysis, generated=generated))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # the temporary file was private; a report is not
