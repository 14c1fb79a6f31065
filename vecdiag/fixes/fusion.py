"""Rank fusion: combine a dense and a lexical run with reciprocal rank fusion.

A *run* is ``{query_id: {doc_id: score}}`` (higher is better), the format of TREC run
files and of :func:`vecdiag.evaluate`. :func:`as_run` also turns a
:class:`~vecdiag.neighbors.Neighbors` (with ids) or a ``(Neighbors, query_ids, doc_ids)``
tuple into one.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _validate as V

__all__ = ["hybrid", "as_run", "ranked", "hybrid_lexical_search"]


def as_run(run, name: str = "run", *, query_ids=None) -> dict:
    """A run dict ``{query_id: {doc_id: score}}`` from a dict, a Neighbors or a tuple.

    Parameters
    ----------
    run : dict, Neighbors or (Neighbors, query_ids, doc_ids)
        A Neighbors needs document ids: its ``.ids`` (a search of an Index with ids), or
        ``doc_ids`` in the tuple form (one per corpus row).
    name : str
        Argument name for error messages.
    query_ids : sequence or None
        Ids of the Neighbors' query rows (default: their positions 0, 1, ...).

    Returns
    -------
    dict
        Euclidean Neighbors scores (distances) are negated, so higher is better. A
        Neighbors' order is kept (the dict's insertion order), with the -inf scores of
        the copies :func:`deduplicate` moves last; a NaN score is refused.

    Examples
    --------
    >>> as_run({"q1": {"d1": 1.0}})
    {'q1': {'d1': 1.0}}
    """
    from ..neighbors import Neighbors

    doc_ids = None
    if isinstance(run, tuple):
        if len(run) != 3 or not isinstance(run[0], Neighbors):
            raise TypeError(f"{name}: a tuple must be (Neighbors, query_ids, doc_ids)")
        run, query_ids, doc_ids = run
    if isinstance(run, Neighbors):
        n_q = run.indices.shape[0]
        if doc_ids is not None:
            doc_ids = np.asarray(list(V.check_ordered(doc_ids, f"{name}: doc_ids")),
                                 dtype=object)
            if run.indices.size and run.indices.max() >= doc_ids.size:
                raise ValueError(f"{name}: doc_ids has {doc_ids.size} entries but the "
                                 f"neighbours refer to corpus row {run.indices.max()}")
            labels = doc_ids[np.where(run.indices >= 0, run.indices, 0)]
        elif run.ids is not None:
            labels = run.ids
        else:
            raise ValueError(f"{name} is a Neighbors without ids; search a vd.Index built "
                             "with ids=..., or pass (neighbors, query_ids, doc_ids)")
        qids = list(range(n_q)) if query_ids is None else \
            list(V.check_ordered(query_ids, f"{name}: query_ids"))
        if len(qids) != n_q:
            raise ValueError(f"{name}: {len(qids)} query ids for {n_q} query rows; "
                             "pass one id per query")
        # a repeated id (0 and 0, or 0 and "0": hybrid reads ids as strings) kept the last
        # row's ranking only, or fused two queries' rankings into one
        _unique_as_strings(qids, f"{name}: query id", "query")
        sign = -1.0 if run.metric == "euclidean" else 1.0
        out = {}
        for q, row_idx, row_labels, row_scores in zip(qids, np.asarray(run.indices).tolist(),
                                                       np.asarray(labels).tolist(),
                                                       np.asarray(run.scores).tolist()):
            docs: dict = {}
            seen: set = set()
            for i, d, s in zip(row_idx, row_labels, row_scores):
                if i < 0:                  # an empty slot (a store or filter returned fewer)
                    continue
                # NaN has no place in an order; -inf is a copy deduplicate moved last (it
                # keeps its place: a Neighbors is ranked by its own order), as a dict
                # run may hold +-inf too
                if math.isnan(s):
                    raise ValueError(f"{name}: query {q!r} has score {s} for document {d!r}; "
                                     "scores must be numbers (NaN has no rank)")
                # passages of one document: its best (first). Ids are read as strings, as
                # hybrid and vd.evaluate read them: 7 and "7" are one document, which kept
                # two places and was counted twice by hybrid
                if V.id_str(d, name) not in seen:
                    seen.add(V.id_str(d, name))
                    docs[d] = sign * float(s)
            out[q] = docs
        return out
    if not isinstance(run, dict):
        raise TypeError(f"{name} must be a run dict {{query_id: {{doc_id: score}}}}, a "
                        f"Neighbors or (Neighbors, query_ids, doc_ids), got {type(run).__name__}")
    for q, docs in run.items():
        if not isinstance(docs, dict):
            raise TypeError(f"{name}[{q!r}] must be a dict {{doc_id: score}}, "
                            f"got {type(docs).__name__}")
        for d, s in docs.items():
            # a bool is an int to Python, but True as a score is a mistake (vd.evaluate
            # refuses it too)
            if not isinstance(s, numbers.Real) or isinstance(s, (bool, np.bool_)) or s != s:
                raise ValueError(f"{name}[{q!r}][{d!r}] must be a real number, got {s!r}")
        # ids are compared as strings (hybrid, vd.evaluate): 7 and "7" are one document,
        # which would take two places in one ranking and be counted twice
        _unique_as_strings(docs, f"{name}[{q!r}] has document id", "document")
    _unique_as_strings(run, f"{name} has query id", "query")
    return run


def _unique_as_strings(keys, what: str, kind: str) -> None:
    """Refuse two keys (a dict's, or the entries of a list, where one id may come twice)
    that are one id once read as strings."""
    seen: dict = {}
    for key in keys:
        text = V.id_str(key, what)
        if text in seen:
            raise ValueError(f"{what} {text!r} twice once ids are read as strings "
                             f"({seen[text]!r} and {key!r}); make {kind} ids unique")
        seen[text] = key


def ranked(docs: dict) -> list:
    """Doc ids of one query, best first: score descending, ties by doc id descending
    (as strings), the rule trec_eval uses, scores compared in single precision as
    trec_eval (and :func:`vecdiag.evaluate`) compare them.

    Examples
    --------
    >>> ranked({"a": 1.0, "b": 2.0, "c": 1.0})
    ['b', 'c', 'a']
    >>> ranked({"a": 1.0, "b": 1.0 - 1e-9})      # equal in single precision
    ['b', 'a']
    """
    return [d for d, _ in _sort_items(docs)]


def _sort_items(docs: dict) -> list:
    """(doc, score) pairs by score descending, ties by doc id descending as strings.

    subtle: scores are compared as float32, as trec_eval stores them: 1.0 and 1.0 - 1e-9
    tie (evaluate ranks "b" before "a"); compared in float64, a dict run was fused in
    another order than the one vd.evaluate scores it in.
    """
    items = list(docs.items())
    with np.errstate(over="ignore"):   # beyond float32: inf, tied, as in trec_eval
        keys = np.asarray([s for _, s in items], dtype=np.float64).astype(np.float32)
    by_id = sorted(zip(keys.tolist(), items), key=lambda kv: V.id_str(kv[1][0]), reverse=True)
    return [item for _, item in sorted(by_id, key=lambda kv: -kv[0])]  # stable


def _rankings(run, name: str, query_ids) -> dict:
    """``{query_id: [doc ids, best first]}``: a Neighbors keeps its own order (its tie
    rule: lower corpus index), a dict is ordered by :func:`ranked`."""
    from ..neighbors import Neighbors

    as_dict = as_run(run, name, query_ids=query_ids)
    if isinstance(run, tuple) or isinstance(run, Neighbors):
        return {q: list(docs) for q, docs in as_dict.items()}  # dicts keep insertion order
    return {q: ranked(docs) for q, docs in as_dict.items()}


def hybrid(dense, lexical, *more, k: int = 60, weights=None, depth: int | None = None,
           query_ids=None) -> dict:
    """Reciprocal rank fusion (Cormack, Clarke & Büttcher 2009) of two or more runs.

    Parameters
    ----------
    dense, lexical, *more : run dict, Neighbors or (Neighbors, query_ids, doc_ids)
        The runs to fuse. A dict ranks its documents by score, ties by doc id descending
        (:func:`ranked`); a Neighbors keeps its own order.
    k : int, default 60
        The RRF constant (not a cut-off): larger values flatten the rank discount.
    weights : sequence of float or None
        One weight >= 0 per run (default all 1).
    depth : int or None
        Only the top ``depth`` documents of each run take part (default: all).
    query_ids : sequence or None
        Ids of the query rows of Neighbors inputs (default 0, 1, ...).

    Returns
    -------
    dict
        ``{query_id: {doc_id: rrf_score}}`` over the union of the runs' queries and
        documents.

    Notes
    -----
    ``RRF(d) = Σ_runs w_r / (k + rank_r(d))`` with 1-based ranks; a document missing from
    a run adds nothing for it. Only ranks are used, so runs on different score scales
    (cosines and BM25) fuse without calibration. Runs that share no query id at all are
    refused (almost always mismatched ids).

    Examples
    --------
    >>> dense = {"q": {"a": 0.9, "b": 0.8}}
    >>> lexical = {"q": {"b": 12.0, "c": 7.5}}
    >>> fused = hybrid(dense, lexical, k=60)
    >>> {d: round(s, 5) for d, s in fused["q"].items()}
    {'b': 0.03252, 'a': 0.01639, 'c': 0.01613}
    """
    names = ["dense", "lexical", *[f"run {i + 3}" for i in range(len(more))]]
    runs = [_rankings(r, n, query_ids) for r, n in zip((dense, lexical, *more), names)]
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not 0 <= k < float("inf"):
        raise ValueError(f"k (the RRF constant) must be a finite number >= 0, got {k!r}")
    if weights is None:
        weights = [1.0] * len(runs)
    if isinstance(weights, (str, bytes)) or not np.iterable(weights) or not all(
            isinstance(w, numbers.Real) and not isinstance(w, (bool, np.bool_))
            for w in weights):   # float() named neither weights nor the fix
        raise TypeError(f"weights must be a sequence of numbers, one per run, got "
                        f"{weights!r:.80}")
    weights = [float(w) for w in weights]
    if len(weights) != len(runs):
        raise ValueError(f"weights has {len(weights)} entries for {len(runs)} runs")
    bad = [i for i, w in enumerate(weights) if not (np.isfinite(w) and w >= 0)]
    if bad:
        # a negative weight would push a run's best documents down: not a fusion
        raise ValueError(f"weights must be finite numbers >= 0; entry {bad[0]} is "
                         f"{weights[bad[0]]}")
    if depth is not None:
        depth = V.check_positive_int(depth, "depth")
    # ids are compared as strings, as vd.evaluate compares them: 7 from a Neighbors'
    # ids and "7" read from a run file are one document (each kept as first seen)
    keys = [{V.id_str(q, "query ids") for q in r} for r in runs]
    if all(keys) and not set.intersection(*keys):
        shown = ", ".join(f"{next(iter(s))!r}" for s in keys)
        raise ValueError(f"the runs share no query id (examples: {shown}); pass query_ids= "
                         "for Neighbors inputs so they match the other run's ids")
    fused: dict = {}
    query_as: dict = {}
    doc_as: dict = {}
    for run, w in zip(runs, weights):
        for q, order in run.items():
            out = fused.setdefault(query_as.setdefault(V.id_str(q), q), {})
            for rank, d in enumerate(order[:depth] if depth else order, start=1):
                d = doc_as.setdefault(V.id_str(d), d)
                out[d] = out.get(d, 0.0) + w / (k + rank)
    return {q: dict(_sort_items(docs)) for q, docs in fused.items()}


def hybrid_lexical_search(Q, C, k, metric, ids, index, texts, query_texts, *, rrf_k=60,
                          depth=None, bm25_options=None):
    """The ``hybrid_lexical`` fix of :func:`~.registry.apply_fix`: the dense ranking fused
    with BM25 by RRF (as :func:`hybrid` does for run dicts), computed on arrays (the
    caller's validated queries and corpus): a Neighbors over corpus positions."""
    from ..lexical import bm25
    from ..neighbors.scoring import (block_rows, corpus_copies, corpus_rows, make_neighbors,
                                     prepare, score_block, top_k)
    from ..scale.chunks import is_dask_array

    n = C.shape[0]
    # named here: BM25 called a None among them a row of "corpus_texts"
    texts = V.text_list(texts, "texts")
    query_texts = V.text_list(query_texts, "query_texts")
    if len(texts) != n:
        raise ValueError(f"texts has {len(texts)} entries but the corpus has {n} rows")
    if len(query_texts) != Q.shape[0]:
        raise ValueError(f"query_texts has {len(query_texts)} entries for {Q.shape[0]} queries")
    # NaN passed "rrf_k < 0" and failed deep inside with a broadcast error; inf made
    # every fused score 0 (as vecdiag.fixes.hybrid refuses both)
    if isinstance(rrf_k, bool) or not isinstance(rrf_k, numbers.Real) \
            or not 0 <= rrf_k < float("inf"):
        raise ValueError(f"rrf_k (the RRF constant) must be a finite number >= 0, got {rrf_k!r}")
    # the BM25 run is read as corpus positions, best first, one ranking per query row:
    # other doc ids were silently taken as positions (or failed with int('d7'))
    fixed = sorted({"k", "query_ids", "doc_ids"} & set(bm25_options or {}))
    if fixed:
        raise ValueError(f"bm25_options cannot set {', '.join(fixed)}: hybrid_lexical ranks "
                         "every document by its corpus position; pass ids=... to apply_fix "
                         "for the result's document ids")
    depth = n if depth is None else V.check_k(depth, n, name="depth")
    lexical = bm25(query_texts, texts, k=n, **(bm25_options or {}))
    contribution = 1.0 / (rrf_k + np.arange(1, n + 1))  # RRF term of ranks 1..n
    indices = np.empty((Q.shape[0], k), dtype=np.int64)
    scores = np.empty((Q.shape[0], k), dtype=np.float64)
    step = block_rows(Q.shape[0], n)
    if is_dask_array(C):
        # subtle: scored as in memory, the (queries x n) block was a lazy Dask array that
        # top_k's np.argsort computed whole through NumPy's fallback (Dask's FutureWarning,
        # "may stop working"); the dense ranking is knn's Dask path (a row block per
        # task, ties by lower row), the fusion below as in memory
        from ..scale.search import knn_dask

        ranked = knn_dask(Q, C, depth, metric=metric).indices
    else:
        Cp, Qp = corpus_rows(C, metric, index), prepare(Q, metric, "queries")
        c_sq = np.einsum("ij,ij->i", Cp, Cp) if metric == "euclidean" else None
        copies = corpus_copies(C, index)
    for start in range(0, Q.shape[0], step):
        stop = min(Q.shape[0], start + step)
        if is_dask_array(C):
            dense = ranked[start:stop]
        else:
            dense, _ = top_k(score_block(Qp[start:stop], Cp, metric, c_sq).astype(np.float64),
                             depth, copies)
        fused = np.zeros((stop - start, n))
        np.put_along_axis(fused, dense, contribution[:depth][None, :], axis=1)
        for row in range(stop - start):
            docs = np.fromiter(lexical[start + row].keys(), dtype=np.int64)
            fused[row, docs] += contribution[:docs.size]
        indices[start:stop], scores[start:stop] = top_k(fused, k)
    return make_neighbors(indices, scores, "rrf", ids, index)
