"""TREC text formats: run files, qrels files, and BEIR's qrels TSV.

* run: ``query_id Q0 doc_id rank score tag``, whitespace separated (``trec_eval`` reads
  the score and ignores the rank);
* qrels: ``query_id iteration doc_id relevance``, whitespace separated;
* BEIR qrels: tab separated ``query-id  corpus-id  score`` with a header line.

Whitespace is what trec_eval splits at: ASCII space, tab, \\v, \\f, \\r only
(:func:`vecdiag._textfile.split_fields`); an id may hold U+00A0 or U+3000, where
``str.split`` would cut it.

Every malformed line raises ``ValueError`` naming the file, the line number, the
problem and the line itself. Blank lines are skipped.
"""

from __future__ import annotations

import math
import re
from os import PathLike
from pathlib import Path

from .. import _validate as V
from .._textfile import ASCII_SPACE, split_fields, text_lines
from ..io import atomic_write_text
from .runs import as_run, ranked_docs

__all__ = ["load_run", "load_qrels", "save_run"]


def _lines(path, label: str | None = None):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; pass the file inside it")
    label = label or path.name
    for number, line in text_lines(path, label):
        yield label, number, line


def _error(file: str, number: int, line: str, problem: str, fix: str = "") -> ValueError:
    shown = line if len(line) <= 80 else line[:77] + "..."
    return ValueError(f"{file} line {number}: {problem}: {shown!r}" + (f"; {fix}" if fix else ""))


def load_run(path) -> dict:
    """Read a TREC run file into ``{query_id: {doc_id: score}}``.

    Parameters
    ----------
    path : str or Path
        Lines ``query_id Q0 doc_id rank score tag``.

    Returns
    -------
    dict

    Notes
    -----
    The rank column is checked to be an integer but otherwise ignored, as by
    ``trec_eval``: the order comes from the scores (ties: document id descending). A
    document listed twice for one query, a non-numeric or non-finite score, or a line
    without six fields is an error naming its line.

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "run.txt")
    >>> _ = open(f, "w").write("q1 Q0 d1 1 2.5 demo\\nq1 Q0 d2 2 1.0 demo\\n")
    >>> load_run(f)
    {'q1': {'d1': 2.5, 'd2': 1.0}}
    """
    run: dict = {}
    for file, number, line in _lines(path):
        parts = split_fields(line)
        if not parts:
            continue
        if len(parts) != 6:
            raise _error(file, number, line, f"expected 6 fields (query Q0 doc rank score tag), "
                                             f"got {len(parts)}")
        q, _, d, rank, score, _ = parts
        if not (_plain_number(rank) and rank.strip().lstrip("+-").isdigit()):
            raise _error(file, number, line, f"rank {rank!r} is not an integer")
        if not _plain_number(score):
            raise _error(file, number, line, f"score {score!r} is not a number")
        value = float(score)
        if not math.isfinite(value):
            raise _error(file, number, line, f"score {score!r} is not finite")
        docs = run.setdefault(q, {})
        if d in docs:
            raise _error(file, number, line, f"document {d!r} appears twice for query {q!r}")
        docs[d] = value
    return run


def load_qrels(path, *, format: str = "auto") -> dict:
    """Read relevance judgments into ``{query_id: {doc_id: relevance}}``.

    The one reader of judgments: ``vecdiag eval``, :func:`vecdiag.datasets.load_beir`
    and ``vecdiag report --qrels`` read every file through it.

    Parameters
    ----------
    path : str or Path
    format : {"auto", "trec", "beir"}
        ``"trec"``: ``query_id iteration doc_id relevance``, whitespace separated;
        ``"beir"``: tab separated ``query-id corpus-id score``. ``"auto"`` picks BEIR
        when the first non-blank line has three tab-separated fields, the last a number
        (or is a header naming three columns or BEIR's), else TREC, whose fields may be
        separated by any mix of spaces and tabs.

    Returns
    -------
    dict

    Notes
    -----
    The first non-blank line is a header, and skipped, when its last field is not a
    number and it names the columns ``query-id``, ``corpus-id``, ``score`` (any order,
    any case; further named columns are allowed and ignored) or holds no number at all
    ("qid docid rel"). A first line that is data is kept (BEIR's own loader would drop
    it unread).

    As BEIR's loader and ``trec_eval`` read them: a byte-order mark, Windows line ends,
    blank lines and spaces or tabs at the end of a line are ignored; a grade may be
    negative. Refused, naming the file, the line and the fix: a grade that is not a
    whole number (``1.0`` is 1, ``0.5`` is refused), a document given two grades for
    one query (``trec_eval`` would keep one silently; the same grade twice reads as
    once), an empty id, a BEIR line whose columns are not separated by tabs, and a line
    of the other format than the first.

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "qrels.tsv")
    >>> _ = open(f, "w").write("query-id\\tcorpus-id\\tscore\\n1\\t184\\t3\\n")
    >>> load_qrels(f)
    {'1': {'184': 3}}
    """
    if format not in ("auto", "trec", "beir"):
        raise ValueError(f"format must be 'auto', 'trec' or 'beir', got {format!r}")
    if not isinstance(path, (str, PathLike)):
        raise TypeError(f"path must be the path of a qrels file, got {type(path).__name__}")
    label = str(path)                  # the path as the caller gave it (a folder's test.tsv)
    qrels: dict = {}
    layout = None                      # (format, (query, doc, grade) positions, width)
    for _, number, line in _lines(path, label):
        # a trailing tab or space ends no field: BEIR's csv reader ignores the empty
        # column it makes, trec_eval the whitespace
        line = line.rstrip(ASCII_SPACE)
        if not line:
            continue
        if layout is None:
            layout, header = _qrels_layout(line, format)
            if header:
                continue
        q, d, grade = _judgment(label, number, line, layout)
        value = grade_of(grade)
        if value is None:
            raise _error(label, number, line, f"relevance {grade!r} is not an integer",
                         "grades are whole numbers such as 0, 1, 2")
        docs = qrels.setdefault(q, {})
        # the same judgment twice (files of two splits joined) reads as once, as in BEIR's
        # loader, pytrec_eval and trec_eval; two grades would keep one of them silently
        if docs.setdefault(d, value) != value:
            raise _error(label, number, line, f"document {d!r} is judged twice for query "
                                              f"{q!r}", f"keep one grade per document (an "
                                              f"earlier line gives {docs[d]})")
    return qrels


_BEIR_COLUMNS = ("query-id", "corpus-id", "score")


def _qrels_layout(line: str, format: str) -> tuple:
    """``((format, positions, width), is_header)`` from the first non-blank line.

    A header says where each BEIR column is ("corpus-id<TAB>query-id<TAB>score" too);
    "q1<TAB>d1<TAB>1<TAB>note" is data (its grade then refused), not a header to skip,
    which would drop the line without a word.
    """
    tabbed = [f.strip(ASCII_SPACE) for f in line.split("\t")]
    # "q1 0<TAB>d1 2" (columns aligned with both) is four fields, not a header of two
    fields = tabbed if len(tabbed) >= 3 else split_fields(line)
    names = [f.lower() for f in fields]
    named = all(n in names for n in _BEIR_COLUMNS)
    header = not _plain_number(fields[-1]) and (
        named or not any(_plain_number(f) for f in fields))
    if format == "auto":
        # "q1<TAB>0<TAB>d1 2" is TREC (whitespace), not a BEIR line graded "d1 2"
        beir = len(tabbed) == 3 and _plain_number(tabbed[-1])
        format = "beir" if beir or named or (header and len(fields) == 3) else "trec"
    if format == "trec":
        return ("trec", (0, 2, 3), 4), header
    if header and named:
        return ("beir", tuple(names.index(n) for n in _BEIR_COLUMNS), len(fields)), True
    return ("beir", (0, 1, 2), 3), header


def _judgment(label: str, number: int, line: str, layout: tuple) -> tuple:
    """``(query, doc, grade text)`` of one data line, as ``layout`` places them."""
    format, where, width = layout
    if format == "trec":
        parts = split_fields(line)
        if len(parts) != 4:
            raise _error(label, number, line, f"expected 4 fields (query iteration doc "
                                              f"relevance), got {len(parts)}",
                         "a BEIR file separates query-id, corpus-id and score with tabs; "
                         "all lines in one format")
        return tuple(parts[i] for i in where)
    parts = [f.strip(ASCII_SPACE) for f in line.split("\t")]
    if not max(where) < len(parts) <= width:
        raise _error(label, number, line, f"expected {width} tab-separated fields "
                                          f"(query-id corpus-id score), got {len(parts)}",
                     "separate query-id, corpus-id and score with one tab each; all lines "
                     "in one format")
    q, d, grade = (parts[i] for i in where)
    if not q or not d:       # "q1<TAB><TAB>1": a TREC line cannot hold an empty id
        raise _error(label, number, line, f"empty {'query-id' if not q else 'corpus-id'}",
                     "every line needs both ids")
    return q, d, grade


# A number as trec_eval's atof/atol read it: ASCII digits, one point, an exponent. Python's
# int() and float() also take "1_0" (10) and other scripts' digits ("٣" is 3), which trec_eval
# reads as 1 and 0: refused instead of read differently.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|nan)",
                     re.IGNORECASE | re.ASCII)


def _plain_number(text: str) -> bool:
    return _NUMBER.fullmatch(text.strip(ASCII_SPACE)) is not None


def grade_of(text: str) -> int | None:
    """A relevance grade written as an integer ("2", or "2.0"), exactly; else None.

    Examples
    --------
    >>> grade_of("2"), grade_of("1.0"), grade_of("0.5"), grade_of("high")
    (2, 1, None, None)
    >>> grade_of("12345678901234567891")          # not rounded through a float
    12345678901234567891
    >>> grade_of("1_0"), grade_of("٣")               # Python literals trec_eval reads as 1, 0
    (None, None)
    """
    if not _plain_number(text):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def save_run(run, path, *, tag: str = "vecdiag", k: int | None = None) -> None:
    """Write a run as a TREC run file (atomically), in ``trec_eval`` rank order.

    Parameters
    ----------
    run : dict or tuple
        As accepted by :func:`vecdiag.evaluate`.
    path : str or Path
    tag : str
        The run name in the last column (no whitespace).
    k : int, optional
        Keep only the first ``k`` documents of each query.

    Notes
    -----
    Scores are written with ``repr(float)``, which reads back to the same double, so
    ``load_run(save_run(run))`` gives the same evaluation. Ids containing whitespace
    (what trec_eval splits at: ASCII space, tab, \\v, \\f, \\r, newline) cannot be
    written in this format and raise.

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "run.txt")
    >>> save_run({"q1": {"d1": 0.5, "d2": 0.75}}, f)
    >>> print(open(f).read(), end="")
    q1 Q0 d2 1 0.75 vecdiag
    q1 Q0 d1 2 0.5 vecdiag
    """
    run = as_run(run, "run")
    if not isinstance(tag, str) or not tag or any(c in ASCII_SPACE for c in tag):
        raise ValueError(f"tag must be a non-empty word without whitespace, got {tag!r}")
    if k is not None:
        k = V.check_positive_int(k, "k")   # NumPy integers too (a k from an array)
    out = []
    for q in sorted(run):
        _check_word(q, "query id")
        docs = ranked_docs(run[q])
        for rank, d in enumerate(docs[:k] if k else docs, start=1):
            _check_word(d, "document id")
            out.append(f"{q} Q0 {d} {rank} {run[q][d]!r} {tag}\n")
    atomic_write_text(path, "".join(out))


def _check_word(value: str, what: str) -> None:
    if not value or any(c in ASCII_SPACE for c in value):
        raise ValueError(f"{what} {value!r} is empty or contains whitespace, which the TREC "
                         "run format cannot hold; rename it")
