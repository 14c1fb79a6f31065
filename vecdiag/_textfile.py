"""Reading the text files users hand over (ids, runs, qrels, BEIR records) one way.

UTF-8 with any byte-order mark dropped (Windows editors write one; it would become part
of the first id), and a file in another encoding named in a ValueError instead of a bare
UnicodeDecodeError.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["ASCII_SPACE", "split_fields", "id_lines", "json_objects", "read_text", "text_lines"]

# The whitespace trec_eval splits a line at (C's isspace in the "C" locale): these six ASCII
# characters only. str.split() and str.strip() also cut at U+00A0, U+2003, U+3000, U+0085,
# \x1c-\x1f..., which a document id may hold ("d\u00a01" is one id to trec_eval).
ASCII_SPACE = " \t\n\v\f\r"


def split_fields(line: str) -> list[str]:
    """The whitespace-separated fields of a line, split as trec_eval splits them (at
    :data:`ASCII_SPACE` only).

    Examples
    --------
    >>> split_fields("q1 Q0\\td\\u00a01  1 2.5 run")
    ['q1', 'Q0', 'd\\xa01', '1', '2.5', 'run']
    """
    return [field for field in _SPACES.split(line) if field]


_SPACES = re.compile(f"[{re.escape(ASCII_SPACE)}]+")


def read_text(path, label: str) -> str:
    """The whole file as text, its line endings as written; ``label`` names it in the
    error.

    subtle: no universal-newline translation (``Path.read_text`` turns a lone ``\\r``
    into a line end): a carriage return inside a text or an id is part of it, and the
    readers built on this one end a line at ``\\n`` (or ``\\r\\n``) only. A file
    without any ``\\n`` ends its lines at ``\\r`` (classic Mac OS, Excel's "CSV
    (Macintosh)"): its ``\\r`` become ``\\n``.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError as err:
        raise _not_utf8(label, err) from None
    return text if "\n" in text else text.replace("\r", "\n")


def text_lines(path, label: str):
    """``(line number, line without its \\r\\n)`` for every line of the file."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, 1):
                yield number, line.rstrip("\r\n")
    except UnicodeDecodeError as err:
        raise _not_utf8(label, err) from None


def id_lines(path, label: str) -> list[str]:
    """One id per line, without the ASCII spaces or tabs around it (a TREC qrels file
    splits on them, so an id never holds any at its ends: "d1 " would match nothing; an
    id may end with U+00A0, as it may in a qrels file, see :func:`split_fields`).

    Only ``\\n`` and ``\\r\\n`` end a line (``str.splitlines`` would also split on
    ``\\x85`` or ``\\u2028`` inside an id). Blank lines after the last id are ignored; a
    blank line before it is refused, naming it: every later id would be off by one row.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "ids.txt")
    ...     _ = open(path, "w", encoding="utf-8-sig").write("d1 \\n\\td2\\r\\n\\n")
    ...     id_lines(path, "ids")
    ['d1', 'd2']
    """
    text = read_text(path, label)
    ids = [line.strip(ASCII_SPACE) for line in text.split("\n")]
    while ids and not ids[-1]:
        ids.pop()
    blank = [i + 1 for i, v in enumerate(ids) if not v]
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (" ..." if len(blank) > 10 else "")
        raise ValueError(f"{label}: {len(blank)} blank line(s) where an id should be "
                         f"(line {shown}); one id per row, no empty lines")
    return ids


def _not_utf8(label: str, err: UnicodeDecodeError) -> ValueError:
    return ValueError(f"{label} is not UTF-8 text ({err.reason} at byte {err.start}); "
                      "save it as UTF-8")


def json_objects(path, label: str, example: str = ""):
    """``(line number, object)`` for every non-empty line of a JSON-lines file (through
    :func:`text_lines`); a line that is not a JSON object is refused, naming ``label`` and
    the line (``example``: how a line should look, added to that message)."""
    import json

    for number, line in text_lines(path, label):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{label}: line {number} is not valid JSON ({err.msg}); write "
                             "one JSON object per line") from None
        if not isinstance(row, dict):
            raise ValueError(f"{label}: line {number} is not a JSON object"
                             + (f"; lines look like {example}" if example else ""))
        yield number, row
