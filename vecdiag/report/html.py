"""The HTML report: one self-contained file, readable without JavaScript or network.

Findings first, then one block per explained query, then the retrieval metrics. Each
block is the result object's own ``_repr_html_`` (which escapes every user string) and
its ``plot()`` embedded as a base64 PNG. A Content-Security-Policy in the page forbids
scripts and every network fetch, so even a missed escape could not run code.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io

from ..results import escape, fmt, html_table, shorten
from .analysis import worst_first
from .text import truncation_lines, unchecked_views

__all__ = ["render_html", "figure_png", "CSP"]

# No scripts, no fetches: only inline styles and data: images.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_PAGE_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:1100px;
padding:16px 24px;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em;margin:0.2em 0}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:1.6em}
h3{margin:1.2em 0 0.3em}nav a{margin-right:1em}.muted{color:#666}.plot{max-width:100%;height:auto}
article{border:1px solid #e3e3e3;border-radius:6px;padding:8px 14px;margin:12px 0}
table{border-collapse:collapse}th,td{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;
vertical-align:top}th{background:#f4f4f4}.vd-critical{color:#b00020;font-weight:600}
.vd-warning{color:#a15c00;font-weight:600}.vd-ok{color:#2e7d32}.note{background:#fff6e0;
padding:4px 8px;border-left:3px solid #e0a800}pre{white-space:pre-wrap}
td:not(.vd-num){overflow-wrap:anywhere}
"""


def figure_png(plottable, **kwargs) -> str | None:
    """``plottable.plot(**kwargs)`` rendered to a base64 PNG ``<img>``; the figure is closed.

    Returns an HTML ``<img>`` tag, or None when the object has no ``plot``.
    """
    if not hasattr(plottable, "plot"):
        return None
    import matplotlib.pyplot as plt
    import numpy as np

    drawn = plottable.plot(**kwargs)
    first = np.ravel(np.asarray(drawn, dtype=object))[0] if not hasattr(drawn, "figure") else drawn
    fig = getattr(first, "figure", None) or plt.gcf()
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    finally:
        plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="plot" alt="plot" src="data:image/png;base64,{data}">'


def _plot_or_note(obj, what: str) -> str:
    """The embedded plot, or a visible note saying why there is none."""
    try:
        tag = figure_png(obj)
    except Exception as err:  # noqa: BLE001 - the report still shows the tables
        return f'<p class="note">The {escape(what)} plot could not be drawn: {escape(err)}</p>'
    return tag or ""


def _first(ids, most: int) -> str:
    """``a, b, c`` (``none`` when empty); past ``most`` ids, ``... (N in all)``."""
    shown = ", ".join(map(str, ids[:most])) or "none"
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > most else "")


def _case_html(case, rank_metric: str, number: int, limit=None, unchecked=()) -> str:
    title = f"{number}. Query {case.query_id}"
    if case.query_text:
        title += f": “{shorten(case.query_text, 90)}”"
    head = (f"<h3>{escape(title)}</h3><p>{escape(rank_metric)} = {escape(fmt(case.score))}"
            + (f" · pattern: {escape(case.group)}" if case.group else "")
            + f" · relevant: {escape(_first(case.relevant, 8))}</p>")
    for line in truncation_lines(case, limit):
        head += f'<p class="note">{escape(line.lstrip("! "))}</p>'
    for view in unchecked:
        head += f'<p class="note">Not checked for this query: {escape(view)}</p>'
    return (f'<article id="query-{escape(case.query_id)}">{head}'
            f"{case.explanation._repr_html_()}{_plot_or_note(case.explanation, 'explanation')}"
            "</article>")


def render_html(analysis, *, generated: str | None = None) -> str:
    """The report page of an :class:`~vecdiag.report.Analysis` as one HTML string.

    Self-contained: plots embedded as PNG, no scripts, no network fetches, every user
    string escaped.

    Parameters
    ----------
    analysis : Analysis
        From :func:`~vecdiag.report.analyze`.
    generated : str, optional
        The "generated on" time shown (default: now, in UTC).

    Examples
    --------
    >>> import numpy as np
    >>> import vecdiag as vd
    >>> a = vd.report.analyze(np.random.default_rng(0).normal(size=(40, 8)), title="Demo")
    >>> page = vd.report.render_html(a, generated="2026-12-04 17:00 UTC")
    >>> page.startswith("<!DOCTYPE html>"), "<h1>Demo</h1>" in page
    (True, True)
    """
    from .. import __version__

    when = generated or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{escape(analysis.title)}</title><style>{_PAGE_STYLE}</style></head><body>",
        f"<header><h1>{escape(analysis.title)}</h1>",
        f"<p>{escape(analysis.description)}</p>" if analysis.description else "",
        f'<p class="muted">Generated by vecdiag {escape(__version__)} on {escape(when)}. '
        "Self-contained: no scripts, no network.</p>",
        '<nav><a href="#findings">Findings</a>',
        '<a href="#explanations">Failing queries</a>' if analysis.cases else "",
        '<a href="#fixes">Fixes</a>' if getattr(analysis, "fix_report", None) else "",
        '<a href="#metrics">Metrics</a>' if analysis.evaluation is not None else "",
        "</nav></header>",
    ]
    for note in analysis.notes:
        parts.append(f'<p class="note">{escape(note)}</p>')
    for note in getattr(analysis, "skipped", ()):
        parts.append(f'<p class="note skipped">Skipped: {escape(note)}</p>')
    diagnosis = analysis.diagnosis
    parts += ['<section id="findings"><h2>Findings</h2>',
              "<p>Most severe first. Each finding names the numbers behind it and a fix "
              "to try (see <code>vecdiag.fixes</code>).</p>",
              diagnosis._repr_html_()]
    if getattr(analysis, "long_documents", None) is not None:
        parts.append(analysis.long_documents._repr_html_())
    parts += [_plot_or_note(diagnosis, "diagnosis"), "</section>"]
    if analysis.cases:
        parts.append('<section id="explanations"><h2>Why the worst queries fail</h2>'
                     f"<p>The {len(analysis.cases)} queries with the lowest "
                     f"{escape(analysis.rank_metric)}, each explained by "
                     "<code>vecdiag.explain_neighbors</code>: causes strongest first, "
                     "then what each fix would change.</p>")
        unchecked = unchecked_views(getattr(analysis, "skipped", ()))
        parts += [_case_html(c, analysis.rank_metric, i, analysis.max_tokens, unchecked)
                  for i, c in enumerate(analysis.cases, 1)]
        parts.append("</section>")
    report = getattr(analysis, "fix_report", None)
    if report is not None:
        parts += ['<section id="fixes"><h2>Fixes, measured on the judged queries</h2>',
                  "<p>Each fix of <code>vecdiag.fixes</code> (and the fixes the findings "
                  "point to) against plain search, by <code>vecdiag.try_fixes</code>; "
                  "trying many fixes is itself a multiple comparison: confirm a winner on "
                  "held-out queries.</p>",
                  report._repr_html_(), _plot_or_note(report, "fixes"), "</section>"]
    if analysis.evaluation is not None:
        ev = analysis.evaluation
        parts += ['<section id="metrics"><h2>Retrieval metrics</h2>',
                  "<p>Exact search over the corpus, scored with trec_eval's conventions.</p>",
                  ev._repr_html_()]
        if analysis.groups:
            rows = [(g, v) for g, v in analysis.groups.items()]
            parts += [f"<h3>{escape(analysis.rank_metric)} by query group</h3>",
                      html_table(rows, ["group", analysis.rank_metric],
                                 numeric={analysis.rank_metric})]
        frame = ev.per_query.loc[worst_first(ev.per_query)[:15]]
        rows = [(q, *[float(v) for v in r]) for q, r in zip(frame.index, frame.to_numpy())]
        columns = ["query", *ev.metrics]
        blank = set(getattr(analysis, "unexplained", ()))
        if blank & set(frame.index):   # passed over when the worst were explained: say why
            columns.append("not explained")
            rows = [(*r, "all-zero vector: scores 0 against every document" if r[0] in blank
                     else "") for r in rows]
        parts += [f"<h3>Lowest {escape(analysis.rank_metric)}, per query</h3>",
                  f"<p>The {len(frame)} worst of {len(ev.per_query)} queries; ties broken by "
                  "the other metrics in order, then query id, as the explained queries "
                  "are chosen (passing over those that cannot be explained).</p>",
                  html_table(rows, columns, numeric=set(ev.metrics)),
                  _plot_or_note(ev, "metrics"), "</section>"]
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)
