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
    """Render ``analysis`` as HTML and write it to ``path`` atomically (never half-written).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (replaced if it exists; readable as the umask allows).
    analysis : Analysis
        From :func:`analyze`.
    generated : str, optional
        The "generated on" time shown (default: now, in UTC).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import vecdiag as vd
    >>> a = vd.report.analyze(np.random.default_rng(0).normal(size=(40, 8)))
    >>> path = os.path.join(tempfile.mkdtemp(), "report.html")
    >>> vd.report.write_report(path, a, generated="2026-12-04 17:00 UTC")
    >>> open(path, encoding="utf-8").read(15)
    '<!DOCTYPE html>'
    """
    import os

    from ..io import atomic_write_text

    atomic_write_text(path, render_html(analysis, generated=generated))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # the temporary file was private; a report is not
