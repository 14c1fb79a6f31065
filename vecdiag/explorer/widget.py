"""The widget: an anywidget model whose front-end is ``explorer.js``.

Synchronised state: ``points`` (float32 bytes, see :func:`.session.pack_points`),
``colors`` (one uint8 colour code per point) and ``legend``, ``bounds``, the ``queries``
picker list (the worst :data:`.session.MAX_LISTED_QUERIES`; ``queries_note`` says how many
more there are), the ``selected`` query, the ``view`` of that query, the chosen ``fix`` and the
``breakdown`` of a clicked document. The front-end asks for a hovered document's text with
a custom message (``{"kind": "doc", "row": r}``), so 100,000 texts are never sent at once.
"""

from __future__ import annotations

import pathlib

from .._optional import require
from ..results import valid_text
from .session import MAX_LISTED_QUERIES, Session
from .static import static_html, static_text

__all__ = ["make_widget"]

_ESM = pathlib.Path(__file__).with_name("explorer.js")
_CLASS = None


def _widget_class():
    """The Explorer class, built on first use (anywidget and traitlets load lazily)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    anywidget = require("anywidget", "vd.explore")
    import traitlets as t

    class Explorer(anywidget.AnyWidget):
        """Interactive map of a corpus, a query, its neighbours and every fix.

        Built by :func:`vecdiag.explore`. ``.session`` holds the Python side
        (:class:`vecdiag.explorer.session.Session`); ``.select(i)`` shows query ``i``;
        ``.fix = "csls"`` chooses a fix, as the selector does.
        """

        _esm = _ESM
        points = t.Bytes(b"").tag(sync=True)
        colors = t.Bytes(b"").tag(sync=True)
        legend = t.List([]).tag(sync=True)
        bounds = t.List([0.0, 1.0, 0.0, 1.0]).tag(sync=True)
        queries = t.List([]).tag(sync=True)
        queries_note = t.Unicode("").tag(sync=True)
        selected = t.Int(-1).tag(sync=True)
        view = t.Dict({}).tag(sync=True)
        fix = t.Unicode("").tag(sync=True)
        breakdown = t.Dict({}).tag(sync=True)
        status = t.Unicode("").tag(sync=True)
        width = t.Int(560).tag(sync=True)
        height = t.Int(520).tag(sync=True)

        def __init__(self, session: Session, *, colors: bytes, legend: list, **kwargs):
            self.session = session
            note = session.query_list_note(MAX_LISTED_QUERIES)
            super().__init__(points=session.points(), colors=colors, legend=legend,
                             bounds=session.bounds(),
                             queries=session.query_list(MAX_LISTED_QUERIES),
                             queries_note=note + "; .select(i) shows any query" if note else "",
                             **kwargs)
            self.on_msg(self._on_message)
            self.observe(self._on_selected, names="selected")
            first = session.first_shown()
            if first is not None:
                try:
                    self.select(first)
                except Exception:    # noqa: BLE001 - said in the status line; still usable
                    pass

        def select(self, i: int) -> None:
            """Show query ``i`` (its row in the queries), explaining it on first use."""
            self.selected = int(i)
            if self.view.get("query", {}).get("i") != int(i):   # observe skipped: same value
                self._show(int(i))

        def _on_selected(self, change) -> None:
            self._show(int(change["new"]))

        def _show(self, i: int) -> None:
            if i < 0 or self.session.queries is None or i >= len(self.session.queries):
                return
            self.status = "explaining the query…"
            try:
                self.view = self.session.view(i)
                self.breakdown = {}
                self.status = ""
            except Exception as err:     # shown in the panel; the widget stays usable
                self.status = valid_text(f"could not explain this query: {err}")
                raise

        def _on_message(self, _widget, content, _buffers) -> None:
            if not isinstance(content, dict):
                return
            i = self.selected if self.selected >= 0 else None
            row = content.get("row")
            if not isinstance(row, int) or not 0 <= row < len(self.session.index):
                return
            if content.get("kind") == "doc":
                self.send({"kind": "doc", **self.session.doc(row, i)})
            elif content.get("kind") == "breakdown" and i is not None:
                self.breakdown = self.session.breakdown(i, row)

        def _ipython_display_(self, **kwargs):
            """Two outputs: the static view (figure and escaped tables), then the widget.

            nbconvert prefers a widget's view to any ``text/html`` in the same output, so
            the static view is an output of its own; the front-end hides it as soon as
            the live widget draws (a notebook rendered to HTML keeps it visible)."""
            from IPython.display import display

            display({"text/html": f'<div class="vdx-static">'
                                  f'{static_html(self.session, self.view)}</div>',
                     "text/plain": static_text(self.session, self.view)}, raw=True)
            bundle = super()._repr_mimebundle_(**kwargs)
            data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
            display(data, metadata=meta, raw=True)

    _CLASS = Explorer
    return Explorer


def make_widget(session: Session, *, colors: bytes, legend: list, width: int, height: int):
    return _widget_class()(session, colors=colors, legend=legend, width=width, height=height)
