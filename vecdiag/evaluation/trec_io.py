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
from pathlib import Path

from .. import _validate as V
from .._textfile import ASCII_SPACE, split_fields, text_lines
from ..io import atomic_write_text
from .runs import as_run, ranked_docs

__all__ = ["load_run", "load_qrels", "save_run"]


def _lines(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; pass the file inside it")
    for number, line in text_lines(path, path.name):
        yield path.name, number, line


def _error(file: str, number: int, line: str, problem: str) -> ValueError:
    shown = line if len(line) <= 80 else line[:77] + "..."
    return ValueError(f"{file} line {number}: {problem}: {shown!r}")


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

    Parameters
    ----------
    path : str or Path
    format : {"auto", "trec", "beir"}
        ``"trec"``: ``query_id iteration doc_id relevance``; ``"beir"``: tab separated
        ``query-id corpus-id score`` after a header line (a header naming these three
        columns in another order says where each is). ``"auto"`` picks BEIR when the
        first non-blank line has three tab-separated fields.

    Returns
    -------
    dict

    Notes
    -----
    Relevance must be an integer; a document judged twice for one query is an error
    naming the line (``trec_eval`` would keep one silently).

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
    qrels: dict = {}
    mode = None if format == "auto" else format
    header_seen = False
    order = (0, 1, 2)                  # where a BEIR line holds its query, document, grade
    for file, number, line in _lines(path):
        if not line.strip(ASCII_SPACE):
            continue
        if mode is None:
            mode = "beir" if len(line.split("\t")) == 3 else "trec"
        if mode == "beir":
            parts = [f.strip(ASCII_SPACE) for f in line.split("\t")]
            if len(parts) != 3:
                raise _error(file, number, line, f"expected 3 tab-separated fields "
                                                 f"(query-id corpus-id score), got {len(parts)}")
            if not header_seen:
                header_seen = True
                if not _plain_number(parts[2]):
                    order = _beir_order(parts)
                    continue  # the header line (a grade of 0.5 is data, and refused below)
            q, d, grade = (parts[i] for i in order)
            if not q or not d:       # "q1<TAB><TAB>1": a TREC line cannot hold an empty id
                raise _error(file, number, line, f"empty {'query-id' if not q else 'corpus-id'}")
        else:
            parts = split_fields(line)
            if len(parts) != 4:
                raise _error(file, number, line, f"expected 4 fields (query iteration doc "
                                                 f"relevance), got {len(parts)}")
            q, _, d, grade = parts
        if not _is_int(grade):
            raise _error(file, number, line, f"relevance {grade!r} is not an integer")
        docs = qrels.setdefault(q, {})
        if d in docs:
            raise _error(file, number, line, f"document {d!r} is judged twice for query {q!r}")
        docs[d] = grade_of(grade)
    return qrels


def _beir_order(header: list[str]) -> tuple[int, int, int]:
    """Where a BEIR line holds the query, the document and the grade: as its header
    names them ("corpus-id<TAB>query-id<TAB>score" too), else in the written order."""
    names = [name.lower() for name in header]
    if sorted(names) == ["corpus-id", "query-id", "score"]:
        return names.index("query-id"), names.index("corpus-id"), names.index("score")
    return 0, 1, 2


def _is_int(text: str) -> bool:
    return grade_of(text) is not None


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
