"""Reading the text files users hand over (ids, runs, qrels, BEIR records) one way.

UTF-8 with any byte-order mark dropped (Windows editors write one; it would become part
of the first id), and a file in another encoding named in a ValueError instead of a bare
UnicodeDecodeError.
"""

from __future__ import annotations

import codecs
import re

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
    with open(path, "rb") as handle:
        raw = handle.read()
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    text = _decoded(raw[bom:], label, bom)
    return text if "\n" in text else text.replace("\r", "\n")


def text_lines(path, label: str):
    """``(line number, line without its \\r\\n)`` for every line of the file, read
    lazily.

    As in :func:`read_text`, only ``\\n`` (or ``\\r\\n``) ends a line: a lone ``\\r``
    inside a line is part of it (a JSON string holding one, raw, is refused by the JSON
    reader naming this line; a TREC line reads it as a space), and every later line keeps
    its number. A file without any ``\\n`` ends its lines at ``\\r``. A file not in
    UTF-8 is refused naming the line and the byte.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "run.txt")
    ...     _ = open(path, "wb").write("a\\rb\\r\\nc\\u2028d\\n".encode())
    ...     list(text_lines(path, "run"))
    [(1, 'a\\rb'), (2, 'c\\u2028d')]
    """
    with open(path, "rb") as handle:
        offset = 0                                  # of the line in the file, in bytes
        for number, raw in enumerate(handle, 1):    # a binary file splits at b"\\n" only
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw, offset = raw[len(codecs.BOM_UTF8):], len(codecs.BOM_UTF8)
            line = _decoded(raw, label, offset, number)
            offset += len(raw)
            if number == 1 and not line.endswith("\n"):    # no \n in the whole file
                parts = line.split("\r")
                if len(parts) > 1 and not parts[-1]:
                    parts.pop()                             # the \r ending the last line
                yield from enumerate(parts, 1)
                return
            yield number, line.rstrip("\r\n")


def _decoded(raw: bytes, label: str, offset: int = 0, line: int = 1) -> str:
    """``raw`` decoded as UTF-8; else a ValueError naming ``label``, the line (``raw``
    starts at ``line``, at byte ``offset`` of the file) and the byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        # lines end at \n; in a file without any (read whole, line 1 on), at \r
        end = b"\n" if line > 1 or b"\n" in raw else b"\r"
        line += raw.count(end, 0, err.start)
        raise ValueError(f"{label} is not UTF-8 text ({err.reason} at line {line}, byte "
                         f"{offset + err.start} of the file); save it as UTF-8") from None


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
            raise ValueError(f"{label}: line {number} is not valid JSON ({err.msg} column "
                             f"{err.colno}); write one JSON object per line") from None
        if not isinstance(row, dict):
            raise ValueError(f"{label}: line {number} is not a JSON object"
                             + (f"; lines look like {example}" if example else ""))
        yield number, row
