"""The shared base of every result object, and the HTML helpers behind their display.

Results are small frozen dataclasses (``@result``) that inherit :class:`Result`:
``repr`` summarises arrays by shape instead of printing them, ``_repr_mimebundle_``
always offers ``text/plain`` and escaped ``text/html``, ``to_frame()`` gives a pandas
DataFrame, and ``plot()`` (where a picture helps) draws stored numbers, never recomputes.

Every string that may come from a user (ids, texts, query text) goes through
:func:`escape` or :func:`html_table`, which escape all cells.
"""

from __future__ import annotations

import dataclasses
import html
import numbers
import re

import numpy as np

from ._options import is_missing

__all__ = ["Result", "result", "escape", "shorten", "fmt", "counted", "html_table", "html_block",
           "valid_text", "shown_text", "text_or_empty", "label_text", "text_safe_column", "text_safe_frame", "NO_LABEL"]

_STYLE = (
    "<style>.vd-result{font-family:system-ui,sans-serif;font-size:13px}"
    ".vd-result table{border-collapse:collapse;margin:4px 0}"
    ".vd-result th,.vd-result td{border-bottom:1px solid #ddd;padding:2px 8px;"
    "text-align:left;vertical-align:top}"
    ".vd-result th{background:#f4f4f4}.vd-result .vd-num{text-align:right;"
    "font-variant-numeric:tabular-nums}.vd-critical{color:#b00020;font-weight:600}"
    ".vd-warning{color:#a15c00;font-weight:600}.vd-ok{color:#2e7d32}"
    ".vd-muted{color:#666}"
    # an id or text without spaces (a 300-character hash, a URL) wraps inside its cell
    # instead of stretching the table past the notebook's width; numbers never wrap
    ".vd-result td:not(.vd-num){overflow-wrap:anywhere}</style>"
)


NO_LABEL = "(no label)"
"""How a missing label (None, NaN, pandas' NA: :func:`text_or_empty` gives ``""``) is
shown in legends and hover texts: one group, apart from a real label "None" or "nan"."""

_SURROGATE = re.compile("[\ud800-\udfff]")   # half of a UTF-16 pair: not UTF-8 text
# Unicode's bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069):
# an unclosed one reorders everything after it on the line
_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")


def result(cls):
    """Decorator: a frozen dataclass with identity equality (arrays do not compare)."""
    return dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls)


def escape(value) -> str:
    """HTML-escape anything after turning it into text (:func:`shown_text`).

    A lone surrogate (``"\\ud800"`` in a JSON file decodes to one) becomes U+FFFD, the
    replacement character: no UTF-8 page can hold it, and writing the report failed. A
    bidirectional control character is shown as its code (``\\u202e``): a right-to-left
    override in an id reversed the rest of the sentence on the page ("rank 30" read "03").

    Examples
    --------
    >>> escape("<script>alert(1)</script>")
    '&lt;script&gt;alert(1)&lt;/script&gt;'
    >>> escape("caf\\ud800e") == "caf\\ufffde"
    True
    >>> escape("doc\\u202e7: rank 30")
    'doc\\\\u202e7: rank 30'
    """
    return html.escape(shown_text(value), quote=True)


def shown_text(value) -> str:
    """:func:`valid_text`, with each bidirectional embedding, override or isolate
    (U+202A-U+202E, U+2066-U+2069) written as its code, ``\\u202e`` (as Python's
    ``repr`` writes it), so that it is seen and reorders nothing: what every HTML output
    (through :func:`escape`) and the printed explanations and reports show of a user's
    string. The data (ids, texts, frames, JSON) keep the characters as given. Right-to-
    left text itself, and the marks U+200E/U+200F, are left as they are.

    Examples
    --------
    >>> shown_text("d\\u202e7 \\u05e9") == "d\\\\u202e7 \\u05e9"
    True
    """
    return _BIDI_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", valid_text(value))


def valid_text(value) -> str:
    """``str(value)`` with each lone surrogate replaced by U+FFFD, so that it can be
    written as UTF-8 (a page, a Jupyter message); other text unchanged.

    Examples
    --------
    >>> valid_text("caf\\udc80e") == "caf\\ufffde", valid_text(7)
    (True, '7')
    """
    return _SURROGATE.sub("\ufffd", str(value))


def text_or_empty(value) -> str:
    """A text as it is shown and read: a missing one (None, NaN from a pandas column,
    pandas' NA, NaT, NumPy's NaT) is no text, ``""``, not the word "None" or "nan";
    anything else is ``str(value)``, so a document whose text is the word "None" stays
    "None".

    Examples
    --------
    >>> [text_or_empty(t) for t in (None, float("nan"), np.float32("nan"), "None", 7)]
    ['', '', '', 'None', '7']
    >>> text_or_empty(np.datetime64("NaT")), text_or_empty(np.datetime64("2024-01-02"))
    ('', '2024-01-02')
    """
    return "" if is_missing(value) else str(value)


def label_text(value) -> str:
    """A label as legends, hover texts and group names show it: :func:`text_or_empty`,
    and a missing one :data:`NO_LABEL` (one group, apart from a real label "None").

    >>> [label_text(v) for v in (None, float("nan"), "None", 3)]
    ['(no label)', '(no label)', 'None', '3']
    """
    return text_or_empty(value) or NO_LABEL


def text_safe_column(values):
    """``values`` as a pandas column: the dtype pandas infers, except that text holding
    a lone surrogate (``"\\ud800"`` in a JSON file decodes to one) stays Python objects,
    as given: pandas' str dtype stores UTF-8, which cannot hold it, and building the
    frame failed with UnicodeEncodeError.

    An object array whose values are all integers (ids as an Index keeps them) gives an
    integer column, as the same list would: pandas infers nothing from object arrays, and
    integer ids came out as an object column. Anything else in an object array (None
    among the integers, tuples, mixed types) stays as given.

    Examples
    --------
    >>> text_safe_column(["caf\\ud800e", "b"]).tolist() == ["caf\\ud800e", "b"]
    True
    >>> text_safe_column(np.array([10, 20], dtype=object)).dtype
    dtype('int64')
    """
    import pandas as pd

    if (isinstance(values, np.ndarray) and values.dtype == object and values.size
            and all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                    for v in values.flat)):
        values = values.tolist()
    try:
        return pd.Series(values)
    except UnicodeEncodeError:
        return pd.Series(values, dtype=object)


def text_safe_frame(columns: dict, *, index=None, index_name=None):
    """A DataFrame from ``{label: values}`` whose columns, column labels and ``index``
    (values, one per row) all go through :func:`text_safe_column`: an id, a text or a
    run's name holding a lone surrogate, read from JSON, is kept as given instead of
    failing pandas' str dtype (pandas 3) with UnicodeEncodeError; other values get the
    dtypes pandas infers.

    Examples
    --------
    >>> f = text_safe_frame({"id": ["d\\ud800", "e"], "score": [0.5, 0.25]},
    ...                     index=["q\\ud800", "r"], index_name="query")
    >>> f.index.tolist() == ["q\\ud800", "r"], f["score"].tolist(), f.index.name
    (True, [0.5, 0.25], 'query')
    """
    import pandas as pd

    labels = list(columns)
    frame = pd.DataFrame({j: text_safe_column(list(columns[c])) for j, c in enumerate(labels)})
    frame.columns = pd.Index(text_safe_column(labels)) if labels else frame.columns
    if index is not None:
        frame.index = pd.Index(text_safe_column(list(index)), name=index_name)
    return frame


def shorten(text, width: int = 80) -> str:
    """Cut ``text`` to ``width`` characters, ending with an ellipsis when cut; a missing
    text (None, NaN: :func:`text_or_empty`) is ``""``, not "None" or "nan".

    Examples
    --------
    >>> shorten("a long sentence about vectors", 10)
    'a long se…'
    >>> shorten(float("nan")), shorten("None")
    ('', 'None')
    """
    text = " ".join(text_or_empty(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun in the right number (``plural``: when not ``noun + "s"``).

    Examples
    --------
    >>> counted(1, "query", "queries"), counted(3, "query", "queries"), counted(0, "run")
    ('1 query', '3 queries', '0 runs')
    """
    n = int(n)
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def fmt(value, digits: int = 4) -> str:
    """Format a number compactly for display; other values become ``str``.

    Examples
    --------
    >>> fmt(0.123456)
    '0.1235'
    >>> fmt(12)
    '12'
    """
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if value != value:
            return "nan"
        if value == 0:
            return "0"
        if abs(value) >= 1e5 or abs(value) < 1e-3:
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def html_table(rows, columns, *, numeric=None, classes=None) -> str:
    """An escaped HTML table. ``rows``: sequences of cell values, ``columns``: headers.

    ``numeric``: column names to right-align; every other column is left-aligned.
    ``classes``: optional per-row CSS class (e.g. ``"vd-critical"``), same length as
    ``rows``. A cell holding None (no value) shows an em dash, "—", not the word "None".
    The alignment is also written on each cell (``style="text-align:..."``):
    JupyterLab and nbconvert right-align table cells by default and may drop a
    ``<style>`` element from an untrusted output, but keep a cell's own style.

    Examples
    --------
    >>> html_table([("a<b", 1.5)], ["name", "x"], numeric={"x"})  # doctest: +ELLIPSIS
    '<table>...<td style="text-align:left">a&lt;b</td><td class="vd-num" style="text-align:right">1.5</td>...'
    """
    numeric = set(numeric or ())
    left, right = ' style="text-align:left"', ' style="text-align:right"'
    head = "".join(f"<th{right if c in numeric else left}>{escape(c)}</th>" for c in columns)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{escape(classes[i])}"' if classes and classes[i] else ""
        cells = "".join(
            f'<td class="vd-num"{right}>{escape(_cell(v))}</td>' if c in numeric
            else f"<td{left}>{escape(_cell(v))}</td>"
            for c, v in zip(columns, row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(value) -> str:
    """A table cell's text: :func:`fmt`, with None (no value) as an em dash."""
    return "—" if value is None else fmt(value)


def html_block(title: str, *parts: str) -> str:
    """Wrap already-escaped HTML ``parts`` under an escaped ``title``."""
    return (f'{_STYLE}<div class="vd-result"><strong>{escape(title)}</strong>'
            + "".join(parts) + "</div>")


def _summary(value) -> str:
    """Short text for one field in a repr: arrays by shape, long things by size."""
    if isinstance(value, np.ndarray):
        if value.size <= 6:
            return np.array2string(value, precision=4, separator=", ")
        return f"array(shape={value.shape}, dtype={value.dtype})"
    if isinstance(value, float):
        return fmt(value)
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return f"[{len(value)} items]"
    if isinstance(value, dict) and len(value) > 6:
        return f"{{{len(value)} entries}}"
    if isinstance(value, str):
        return repr(shorten(value, 60))
    text = repr(value)
    return text if len(text) <= 80 else shorten(text, 80)


class Result:
    """Base of the result dataclasses: compact repr and the Jupyter display protocol."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={_summary(getattr(self, f.name))}"
                           for f in dataclasses.fields(self) if f.repr)
        return f"{type(self).__name__}({fields})"

    def to_frame(self):
        """One row, one column per displayed field: the table of a record that has no
        rows of its own (an explanation's Cause, ExpectedDoc, Counterfactual), and so
        its notebook display. Results made of rows override it.

        subtle: this raised NotImplementedError, and with it ``_repr_html_`` and
        ``_repr_mimebundle_``: showing ``ex.causes[0]`` in a notebook printed a traceback.
        """
        import pandas as pd

        return pd.DataFrame({f.name: text_safe_column([getattr(self, f.name)])
                             for f in dataclasses.fields(self) if f.repr})

    def _repr_html_(self) -> str:
        frame = self.to_frame()
        return html_block(type(self).__name__,
                          shown_text(frame.head(50).to_html(escape=True)))

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}
