"""The explorer without a widget front-end: a figure and tables, every string escaped.

Shown by notebooks rendered to HTML (nbconvert keeps ``text/html`` beside the widget's
view), by consoles, and by :func:`vecdiag.explore` when anywidget is not installed.
"""

from __future__ import annotations

import base64
import io

import numpy as np

from ..results import Result, escape, html_block, html_table, result, shorten

__all__ = ["StaticExplorer", "static_html", "static_text", "MAX_FIGURE_POINTS"]

MAX_FIGURE_POINTS = 5_000    # the static figure draws a random sample above this (stated)
STATIC_QUERIES = 15          # queries the static page lists, the worst first (stated)


def _figure_png(session, view) -> str:
    """The map as a base64 PNG: corpus, query, top-k, hubs, expected documents."""
    from matplotlib.figure import Figure   # no pyplot: the user's backend is untouched

    xy = session.coords
    n = len(xy)
    rows = np.arange(n)
    if n > MAX_FIGURE_POINTS:
        rows = np.sort(np.random.default_rng(0).choice(n, MAX_FIGURE_POINTS, replace=False))
    fig = Figure(figsize=(5.2, 4.2), dpi=80)
    ax = fig.subplots()
    ax.scatter(xy[rows, 0], xy[rows, 1], s=3 if n > 5000 else 8, c="#8aa1b4", linewidths=0,
               label=f"documents ({len(rows):,} of {n:,})" if n > len(rows) else "documents")
    if view and view.get("query"):
        top = view["base"]
        qx, qy = view["query"]["xy"]
        for r in top:
            ax.plot([qx, xy[r, 0]], [qy, xy[r, 1]], color="#1f6feb", alpha=0.4, lw=0.8)
        ax.scatter(xy[top, 0], xy[top, 1], s=40, facecolors="none", edgecolors="#1f6feb",
                   label="top-k")
        strong = set(view.get("strong_hubs", []))
        for rows_, colour, label in (
                ([r for r in view.get("hubs", []) if r not in strong], "#e07b00",
                 "hub (in the top-k of ≥ 2k documents)"),
                (sorted(strong), "#c0142b", "strong hub (≥ 3k)")):
            if rows_:
                ax.scatter(xy[rows_, 0], xy[rows_, 1], s=30, marker="^", c=colour,
                           linewidths=0, label=label)
        exp = [e["row"] for e in view.get("expected", [])]
        if exp:
            ax.scatter(xy[exp, 0], xy[exp, 1], s=40, marker="s", c="#f0b400",
                       edgecolors="#6b5000", label="expected")
        ax.scatter([qx], [qy], s=70, marker="D", c="#111", label="query")
    ax.legend(loc="best", fontsize=7)     # the hub note is a paragraph below, not a title
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def static_html(session, view, note: str | None = None) -> str:
    """Escaped HTML: a note, the map as a PNG, the query list and the shown query's list."""
    note = note or ("Interactive explorer: this front-end does not run widgets, so here is "
                    "a static view. Open the notebook in JupyterLab, Notebook 7 or VS Code "
                    "for the live map.")
    parts = [f"<p class='vd-muted'>{escape(note)}</p>"]
    try:
        parts.append(f"<img alt='map of the corpus' src='data:image/png;base64,"
                     f"{_figure_png(session, view)}'/>")
    except Exception as err:  # pragma: no cover - a figure must never hide the tables
        parts.append(f"<p class='vd-muted'>the map could not be drawn: {escape(err)}</p>")
    for key, mark in (("hub_note", "▲"), ("expected_note", "■")):
        if view and view.get(key):          # sampled marks, or rows beyond a cap
            parts.append(f"<p class='vd-muted'>{mark} {escape(view[key])}</p>")
    queries = session.query_list(STATIC_QUERIES)
    if queries:
        rows = [(q["id"], "" if q["ndcg"] is None else q["ndcg"], q["text"]) for q in queries]
        more = session.query_list_note(STATIC_QUERIES)
        parts.append("<p><b>Queries</b>, worst nDCG@10 first</p>"
                     + html_table(rows, ["query", "nDCG@10", "text"], numeric={"nDCG@10"})
                     + (f"<p class='vd-muted'>{escape(more)}</p>" if more else ""))
    if view and view.get("query"):
        docs = view["docs"]
        expected = {e["row"] for e in view["expected"]}
        rows = [(rank, docs[str(r)]["id"], docs[str(r)].get("score", ""),
                 "★ expected" if r in expected else "", docs[str(r)]["text"])
                for rank, r in enumerate(view["base"], start=1)]
        rows += [(e["rank"], e["id"], e["score"], "★ expected (missed)", docs[str(e["row"])]["text"])
                 for e in view["expected"] if e["rank"] > view["k"]]
        q = view["query"]
        parts.append(f"<p><b>Ranked list of {escape(q['id'])}</b> "
                     f"<em>{escape(shorten(q['text'], 120))}</em></p>"
                     + html_table(rows, ["rank", "id", "score", "", "text"],
                                  numeric={"rank", "score"}))
        if view["fixes"]:
            rows = [(f["fix"] + (" (recommended)" if f["recommended"] else ""),
                     "yes" if f["moved"] else "no",
                     ", ".join(str(docs[str(r)]["id"]) for r in f["entering"]),
                     ", ".join(str(docs[str(r)]["id"]) for r in f["leaving"]), f["note"])
                    for f in view["fixes"]]
            parts.append("<p><b>Fixes</b>: what enters and leaves the top-k</p>"
                         + html_table(rows, ["fix", "moved", "entering", "leaving", "note"]))
    n, d = session.index.vectors.shape
    return html_block(f"vecdiag explorer: {n:,} documents × {d} dimensions", *parts)


def static_text(session, view) -> str:
    n, d = session.index.vectors.shape
    lines = [f"vecdiag explorer: {n:,} documents x {d} dimensions "
             "(interactive in JupyterLab, Notebook 7 or VS Code)"]
    if view and view.get("query"):
        q = view["query"]
        lines.append(f"query {q['id']}: {shorten(q['text'], 70)}")
        expected = {e["row"] for e in view["expected"]}
        for rank, r in enumerate(view["base"], start=1):
            doc = view["docs"][str(r)]
            lines.append(f"  {rank:>3}. {doc['id']}  {doc.get('score', '')}"
                         + ("  ★ expected" if r in expected else ""))
        for e in view["expected"]:
            if e["rank"] > view["k"]:
                lines.append(f"  {e['rank']:>3}. {e['id']}  {e['score']}  ★ expected (missed)")
        # the rows of the HTML's fixes table: what enters and leaves the top-k
        docs = view["docs"]
        for j, f in enumerate(view["fixes"] or ()):
            if j == 0:
                lines.append("fixes: what enters and leaves the top-k")
            ids = {side: ", ".join(str(docs[str(r)]["id"]) for r in f[side]) or "—"
                   for side in ("entering", "leaving")}
            lines.append(f"  {f['fix']}{' (recommended)' if f['recommended'] else ''}: "
                         f"entering {ids['entering']}; leaving {ids['leaving']}"
                         + (f". {f['note']}" if f["note"] else ""))
    return "\n".join(lines)


@result
class StaticExplorer(Result):
    """What :func:`vecdiag.explore` returns when anywidget is not installed: the static
    view (figure and tables) and the line that installs the interactive one."""

    session: object
    """The explorer's Python side (:class:`vecdiag.explorer.session.Session`)."""
    view: dict
    """The view of the first query (worst nDCG@10 first), or ``{}`` without queries."""

    def __str__(self) -> str:
        return static_text(self.session, self.view)

    def _repr_html_(self) -> str:
        return static_html(self.session, self.view,
                           note='The interactive explorer needs anywidget: '
                                'pip install "vecdiag[interactive]". A static view follows.')
