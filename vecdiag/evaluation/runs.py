"""Runs and relevance judgments in one canonical form, checked once.

A *run* is what a search system returned: ``{query_id: {doc_id: score}}``, higher scores
first. *Qrels* are the relevance judgments: ``{query_id: {doc_id: relevance}}`` with
integer relevance (``>= 1`` relevant, ``0`` judged non-relevant, negative values are
judged and count as non-relevant with zero gain, as in ``trec_eval``).

Ids are compared as strings, as ``trec_eval`` reads them from text files: ``7`` and
``"7"`` are the same document, and so is ``7.0`` (a float holding a whole number reads
as that integer: a pandas column of integer ids that held a missing value holds floats;
a NaN id is refused). The string order matters for ties (see :func:`ranked_docs`).
"""

from __future__ import annotations

import decimal
import math
import numbers

import numpy as np

from .. import _validate as V

__all__ = ["as_run", "as_qrels", "ranked_docs", "run_from_neighbors"]


def _check_mapping(obj, name: str, example: str) -> None:
    if not hasattr(obj, "items"):
        raise TypeError(f"{name} must be a dict {example}, got {type(obj).__name__}")
    if hasattr(obj, "columns") and hasattr(obj, "groupby"):
        # a DataFrame's items() are its columns: a table of (query, doc, value) rows read
        # that way made its column names the query ids and its row numbers the documents
        raise TypeError(f"{name} is a pandas DataFrame; pass a dict {example}, e.g. from "
                        "a table with one row per (query, document): {q: dict(zip(g['doc_id'], "
                        "g['score'])) for q, g in df.groupby('query_id')}")


def run_from_neighbors(neighbors, query_ids, doc_ids=None, *, name: str = "run") -> dict:
    """Turn a :class:`~vecdiag.neighbors.Neighbors` into a run dict.

    ``query_ids`` name the rows of ``neighbors`` (one per query); ``doc_ids`` name the
    corpus positions its ``indices`` point to (one per corpus row). When ``doc_ids`` is
    None the Neighbors' own ``ids`` are used. Euclidean distances become negated scores,
    so that higher is always better.

    Slots a search left empty (position -1: a store or filter that returned fewer than
    k) are not documents and are dropped. Several rows with one id (passages of one
    document) give that document once, with its best score (its first, in rank order).
    A score of -inf (a copy :func:`vecdiag.fixes.deduplicate` moved below every kept
    document) ranks the document where the Neighbors put it: it becomes a finite score
    below the row's other scores, falling in rank order (see :func:`_below_the_rest`).
    Any other score that is not finite (NaN, or +inf) is refused, naming the query.
    """
    if not (hasattr(neighbors, "indices") and hasattr(neighbors, "scores")):
        raise TypeError(f"{name} as a tuple must be (neighbors, query_ids, doc_ids) with the "
                        f"Neighbors of vd.knn or Index.search first, got a "
                        f"{type(neighbors).__name__}; pass a run dict as it is, not in a tuple")
    for ids, what in ((query_ids, "query_ids"), (doc_ids, "doc_ids")):
        if (ids is None and what == "query_ids") or isinstance(ids, (str, bytes)) \
                or (ids is not None and not np.iterable(ids)):
            raise TypeError(f"{name}: {what} must be a sequence of ids, one per "
                            f"{'query' if what == 'query_ids' else 'corpus'} row, got "
                            f"{type(ids).__name__} {ids!r:.40}")
    indices = np.asarray(neighbors.indices)
    scores = np.asarray(neighbors.scores, dtype=np.float64)
    label = f"{name}: query_ids"
    query_ids = [V.id_str(q, label) for q in V.check_ordered(query_ids, label)]
    if len(query_ids) != indices.shape[0]:
        raise ValueError(f"{name}: query_ids has {len(query_ids)} entries but the Neighbors "
                         f"hold {indices.shape[0]} queries; pass one id per query row")
    if len(set(query_ids)) != len(query_ids):
        raise ValueError(f"{name}: query_ids must be unique; deduplicate the queries first")
    if doc_ids is None:
        if getattr(neighbors, "ids", None) is None:
            raise ValueError(f"{name}: the Neighbors carry no ids; pass doc_ids (one per corpus "
                             "row) as the third element: (neighbors, query_ids, doc_ids)")
        names = np.asarray(neighbors.ids, dtype=object)
    else:
        label = f"{name}: doc_ids"
        doc_ids = np.asarray([V.id_str(d, label) for d in V.check_ordered(doc_ids, label)],
                             dtype=object)
        if indices.size and indices.max() >= doc_ids.shape[0]:
            raise ValueError(f"{name}: the Neighbors point at corpus row {int(indices.max())} "
                             f"but doc_ids has only {doc_ids.shape[0]} entries; pass one id "
                             "per corpus row")
        names = doc_ids[np.where(indices >= 0, indices, 0)]
    if getattr(neighbors, "metric", "cosine") == "euclidean":
        scores = -scores
    run = {}
    for q, row_idx, row_names, row_scores in zip(query_ids, indices, names, scores):
        demoted = (row_idx >= 0) & np.isneginf(row_scores)
        if demoted.any():
            row_scores = _below_the_rest(row_scores, demoted, row_idx >= 0)
        docs: dict = {}
        for i, d, s in zip(row_idx, row_names, row_scores):
            if i < 0:                                   # an empty slot, not a document
                continue
            if not np.isfinite(s):
                raise ValueError(f"{name}: query {q!r} has score {s} for document {d!r}; "
                                 "scores must be finite numbers")
            docs.setdefault(V.id_str(d, name), float(s))  # rank order: the first is the best
        run[q] = docs
    return run


def _below_the_rest(scores: np.ndarray, demoted: np.ndarray, real: np.ndarray) -> np.ndarray:
    """One row's scores with its ``demoted`` (-inf) entries replaced by finite scores
    below every other score of the ``real`` slots, falling in rank order.

    The copies :func:`vecdiag.fixes.deduplicate` moves last carry -inf, in the order it
    ranks them. trec_eval ranks by score and breaks ties by doc id, so tied -inf scores
    would reorder them. The j-th demoted document (j = 1, 2, ...) gets
    ``lowest - j * max(1, |lowest|)``, with ``lowest`` the row's lowest other score:
    below it and distinct from the others even in single precision, the precision
    trec_eval compares scores in.
    """
    finite = scores[real & ~demoted & np.isfinite(scores)]
    lowest = float(np.float32(finite.min())) if finite.size else 0.0
    out = scores.copy()
    out[demoted] = lowest - max(1.0, abs(lowest)) * np.arange(1, int(demoted.sum()) + 1)
    return out


# the largest whole number a float64 holds: grades beyond it cannot become gains
_FLOAT_MAX = int(np.finfo(np.float64).max)
# scores and grades: real numbers, and decimal.Decimal, which a database's NUMERIC column
# gives (not a numbers.Real: it refuses to mix with floats, but converts to one exactly
# enough for a score)
_REAL = (numbers.Real, decimal.Decimal)


def _as_float(value, where: str, rule: str) -> float:
    """``float(value)``; an integer (or fraction) past the float range is a ValueError
    naming ``where``, not Python's bare 'int too large to convert to float'."""
    try:
        return float(value)
    except ValueError:                  # a signalling Decimal NaN refuses conversion
        return math.nan
    except OverflowError:
        raise ValueError(f"{where} is a number beyond the range of a float (|x| above "
                         f"1.8e308, given as {type(value).__name__}); {rule}") from None


def as_run(run, name: str = "run") -> dict:
    """Validate a run and return it as ``{str: {str: float}}`` (a new dict).

    Accepts a dict of dicts, or a tuple ``(Neighbors, query_ids, doc_ids)``.
    """
    if isinstance(run, tuple):
        if len(run) not in (2, 3):
            raise TypeError(f"{name} as a tuple must be (neighbors, query_ids, doc_ids), "
                            f"got {len(run)} elements")
        return run_from_neighbors(*run, name=name)
    if hasattr(run, "indices") and hasattr(run, "scores"):
        raise TypeError(f"{name} is a Neighbors object without ids; pass "
                        f"({name}, query_ids, doc_ids) so that documents can be matched to qrels")
    _check_mapping(run, name, "{query_id: {doc_id: score}}")
    out: dict = {}
    for q, docs in run.items():
        _check_mapping(docs, f"{name}[{q!r}]", "{doc_id: score}")
        qs, where = V.id_str(q, name), f"{name}[{q!r}]"
        if qs in out:
            raise ValueError(f"{name} has query id {q!r} twice once ids are read as strings; "
                             "make query ids unique")
        row = {}
        for d, s in docs.items():
            if type(s) is float:  # the common case first: ABC checks are slow
                if not math.isfinite(s):
                    raise ValueError(f"{name}[{q!r}][{d!r}] is {s}; scores must be finite "
                                     "(drop the document or give it a very low score)")
                ds = d if type(d) is str else V.id_str(d, where)
                if ds in row:
                    raise ValueError(f"{name}[{q!r}] has document id {d!r} twice once ids "
                                     "are read as strings; make document ids unique")
                row[ds] = s
                continue
            if isinstance(s, (bool, np.bool_)) or not isinstance(s, _REAL):
                raise TypeError(f"{name}[{q!r}][{d!r}] is {type(s).__name__} {s!r}; "
                                "scores must be real numbers")
            s = _as_float(s, f"{name}[{q!r}][{d!r}]", "scores must be finite numbers")
            if not math.isfinite(s):
                raise ValueError(f"{name}[{q!r}][{d!r}] is {s}; scores must be finite "
                                 "(drop the document or give it a very low score)")
            ds = V.id_str(d, where)
            if ds in row:
                raise ValueError(f"{name}[{q!r}] has document id {d!r} twice once ids are "
                                 "read as strings; make document ids unique")
            row[ds] = s
        out[qs] = row
    return out


def as_qrels(qrels, name: str = "qrels") -> dict:
    """Validate judgments and return them as ``{str: {str: int}}`` (a new dict)."""
    _check_mapping(qrels, name, "{query_id: {doc_id: relevance}}")
    out: dict = {}
    for q, docs in qrels.items():
        where = f"{name}[{q!r}]"
        _check_mapping(docs, where, "{doc_id: relevance}")
        row = {}
        for d, r in docs.items():
            if type(r) is int and -_FLOAT_MAX <= r <= _FLOAT_MAX:  # the common case first
                row[d if type(d) is str else V.id_str(d, where)] = r
                continue
            if isinstance(r, (bool, np.bool_)) or not isinstance(r, _REAL):
                raise TypeError(f"{name}[{q!r}][{d!r}] is {type(r).__name__} {r!r}; "
                                "relevance must be an integer (0 = not relevant, 1+ = relevant)")
            if not _as_float(r, f"{name}[{q!r}][{d!r}]", "relevance grades are gains, held "
                             "as floats: use grades of a sensible size").is_integer():
                raise ValueError(f"{name}[{q!r}][{d!r}] is {r!r}; relevance must be an integer "
                                 "grade as in trec_eval (round or map your grades first)")
            row[V.id_str(d, where)] = int(r)
        if len(row) < len(docs):         # 7 and "7": one document judged twice
            seen: dict = {}
            for d in docs:
                seen.setdefault(V.id_str(d), []).append(d)
            twice = [v for v in seen.values() if len(v) > 1]
            raise ValueError(f"{name}[{q!r}] judges document {twice[0][0]!r} twice once ids "
                             f"are read as strings ({', '.join(map(repr, twice[0]))}); keep "
                             "one grade per document")
        qs = V.id_str(q, name)
        if qs in out:
            raise ValueError(f"{name} has query id {q!r} twice once ids are read as strings")
        out[qs] = row
    return out


def ranked_docs(scores: dict) -> list:
    """Document ids in ``trec_eval`` order: score descending, ties by id descending.

    ``trec_eval`` ignores the rank column of a run file and sorts by score; equal scores
    are ordered by document id in *descending* string order (``"d9"``, ``"d2"``,
    ``"d10"``, ``"d1"``: compared character by character).

    Notes
    -----
    ``trec_eval`` holds scores as C ``float`` (single precision), and so does
    ``pytrec_eval``: two scores that are equal once rounded to float32 (``1.0`` and
    ``1.0 - 1e-8``, say) tie, and the tie goes to the larger document id. We round the
    same way, so the ranks (and every metric) equal ``trec_eval``'s.

    Ids that are not strings (a run keyed by integers, not yet read by :func:`as_run`)
    are compared as the strings :func:`vecdiag.evaluate` reads them as (``9`` before
    ``10``); the ids are returned as given.

    Examples
    --------
    >>> ranked_docs({"d1": 0.5, "d2": 0.9, "d3": 0.5})
    ['d2', 'd3', 'd1']
    >>> ranked_docs({"a": 1.0, "b": 1.0 - 1e-8})   # equal in single precision
    ['b', 'a']
    >>> ranked_docs({10: 1.0, 9: 1.0, "8": 1.0})    # "9" > "8" > "10"
    [9, '8', 10]
    """
    if not scores:
        return []
    docs = list(scores)
    # subtle: float32 rounding first, exactly like trec_eval's `float sim`
    with np.errstate(over="ignore"):     # beyond float32: inf, tied, as in trec_eval
        keys = np.asarray([scores[d] for d in docs], dtype=np.float64).astype(np.float32)
    # ties by the id as a string: integer ids were ordered as numbers (10 before 9, where
    # evaluate ranks "9" first), and an int beside a str failed ('<' not supported)
    names = [d if type(d) is str else V.id_str(d, "the run's document ids") for d in docs]
    pairs = sorted(zip(keys.astype(np.float64).tolist(), names, range(len(docs))),
                   reverse=True)
    return [docs[i] for _, _, i in pairs]
