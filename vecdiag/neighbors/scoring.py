"""Scoring whole rankings: prepared rows, blocked scores, exact top-k with the tie rule.

vecdiag ranks a corpus in two ways, both in this package and both reading the corpus
through the rows an :class:`~vecdiag.Index` prepares once (:attr:`vecdiag.Index.rows`,
:attr:`vecdiag.Index.unit_rows`):

* **the top k of many queries** (:func:`vecdiag.knn`, :meth:`vecdiag.Index.search`,
  :meth:`~vecdiag.Index.knn_graph`, and so drift's neighbourhoods, CSLS's penalties,
  MMR's relevance): :mod:`.engine`, which scores candidates in blocks, re-scores them
  exactly and proves with a rounding bound that nothing was missed;
* **every document's score** (the re-rankers CSLS, mutual proximity, de-duplication and
  hybrid fusion, the vector fixes on an Index, explanations and their counterfactuals):
  this module. Scores come from one matrix product per block of queries
  (:func:`score_block`, :func:`score_blocks`, :func:`full_scores`); every document is
  scored, so an exact sort of the computed keys (:func:`top_k`) needs no proof.

Both break ties the same way: higher key first (a similarity, or a negated distance),
equal keys by lower corpus index. Identical rows must then score identically, but a
matrix product does not promise that: BLAS kernels treat the rows at the edge of their
tiles apart, and an exact copy there scored a last bit off its original (OpenBLAS's
Haswell kernels, 138 small corpora with two copies of row 0 as their last rows: 1,854
result lists of the vector fixes ranked copies out of index order; 72 corpora: 314 of
csls, 562 of mutual proximity, 206 rows of full scores). The engine re-scores its
candidates one pair at a time; here, :func:`corpus_copies` finds the corpus rows that
repeat a lower row and :func:`tie_copies` gives each the score of that row, so the tie
rule decides between them.
"""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .. import cache_keys
from ..linalg import normalize, row_norms
from ._copies import copied_rows
from .result import Neighbors
from .index import Index

__all__ = ["InMemoryOnly", "resolve_corpus", "check_queries", "prepare", "corpus_rows", "score_block",
           "block_rows", "score_blocks", "top_k", "top_rows", "ranks_of", "keys_of",
           "full_scores", "direct_scores", "pairwise_scores", "make_neighbors",
           "corpus_copies", "tie_copies"]

BLOCK_BYTES = 128 * 2**20  # budget for one (queries x corpus) block of float64 scores


# --- inputs -----------------------------------------------------------------------------

class InMemoryOnly(TypeError):
    """Refusal of a function that scores every document in memory (csls,
    mutual_proximity, deduplicate) given an Index over a Dask array; its message says
    what to do instead. A TypeError, so callers that can go on without that function
    (:func:`vecdiag.try_fixes` records such a fix as failed) catch this one only."""


def resolve_corpus(corpus, metric: str | None, ids=None, *, in_memory: str | None = None):
    """``(matrix, metric, ids, index_or_None)`` from an array-like or a :class:`vecdiag.Index`.

    An Index brings its vectors, metric (unless ``metric`` is given) and ids.
    ``in_memory``: the caller's name, when it scores every document in memory: an Index
    over a Dask array, or a Dask array, is then refused with what to do instead (as the
    Index's ``rows`` are), instead of being gathered to this process.
    """
    if isinstance(corpus, Index):
        from .search import is_dask_array

        if in_memory and is_dask_array(corpus.vectors):
            raise InMemoryOnly(f"{in_memory} scores every document of the corpus in memory, "
                               "and this Index holds a Dask array; build "
                               "vd.Index(corpus.compute(), ids=..., texts=...) if the corpus "
                               "fits in memory, or search it with index.search (exact, one "
                               "row block at a time)")
        metric = V.check_metric(metric or corpus.metric)
        return corpus.vectors, metric, corpus.ids if ids is None else V.check_ids(
            ids, len(corpus)), corpus
    if in_memory:
        from .search import is_dask_array

        if is_dask_array(corpus):   # np.asarray below would gather it to this process
            raise InMemoryOnly(f"{in_memory} scores every document of the corpus in memory, "
                               "and the corpus is a Dask array (after a fix's transform, "
                               "if one ran before it); pass corpus.compute() if it fits in "
                               "memory, or search it with vd.knn or vd.Index(corpus).search "
                               "(exact, one row block at a time)")
    metric = V.check_metric(metric or "cosine")
    C = V.as_matrix(corpus, "corpus")
    return C, metric, V.check_ids(ids, C.shape[0]), None


def check_queries(queries, C: np.ndarray, *, name: str = "queries",
                  allow_empty: bool = False,
                  allow_single: bool = False) -> tuple[np.ndarray, bool]:
    """2-D checked queries and whether the input was one 1-D query.

    The rule of every public function (:func:`vecdiag.knn` and the rest): an argument
    named ``queries`` is a set of vectors, 2-D ``(n_q, d)``, and a 1-D array is refused
    with the reshape to use. ``allow_single``: the argument is a ``query``
    (:func:`vecdiag.fixes.mmr`), which also takes one 1-D vector, promoted to one row.
    ``allow_empty``: zero query rows ``(0, d)`` are accepted (as :func:`vecdiag.knn`
    accepts them); one empty 1-D vector is still refused.
    """
    Q = V.as_vectors(queries, name, ndim=(1, 2) if allow_single else 2,
                     allow_empty=allow_empty)
    single = Q.ndim == 1
    if single and Q.size == 0:            # zero queries are (0, d); a vector needs numbers
        V.as_vector(Q, name)              # raises "is empty"
    Q = Q.reshape(1, -1) if single else Q
    V.check_same_dim(Q, name, C, "corpus")
    return Q, single


# --- prepared rows ----------------------------------------------------------------------

def prepare(X: np.ndarray, metric: str, name: str) -> np.ndarray:
    """Unit rows for cosine (zero rows refused with their indices); unchanged otherwise
    (and an empty ``(0, d)`` batch, which has no row to scale)."""
    if metric != "cosine" or X.shape[0] == 0:
        return X
    norms = row_norms(X)
    V.zero_rows(norms, name, "raise")
    # normalize, not X / norms: a length past the float range (float32 [3e38, 3e38]) is
    # inf and would give a row of zeros, a subnormal one a row longer or shorter than 1
    return normalize(X)


def corpus_rows(C: np.ndarray, metric: str, index) -> np.ndarray:
    """:func:`prepare` for the corpus, reusing an Index's unit rows under cosine.

    An Index normalises its rows once (:attr:`vecdiag.Index.unit_rows`, the same row
    norms and division as :func:`prepare`); scoring it then skips a copy of the corpus.
    """
    if index is not None and metric == "cosine" and index.unit_rows.dtype == C.dtype:
        V.zero_rows(index.norms, "corpus", "raise")
        return index.unit_rows
    return prepare(C, metric, "corpus")


# --- blocked scores ---------------------------------------------------------------------

def score_block(Q: np.ndarray, C: np.ndarray, metric: str,
                c_sq: np.ndarray | None = None) -> np.ndarray:
    """Similarity block of prepared rows: ``Q @ C.T``, or ``-‖q − c‖`` for euclidean.

    ``c_sq``: the corpus rows' squared norms, when already known.
    """
    S = Q @ C.T
    if metric == "euclidean":
        if c_sq is None:
            c_sq = np.einsum("ij,ij->i", C, C)
        q_sq = np.einsum("ij,ij->i", Q, Q)
        scale = q_sq[:, None] + c_sq[None, :]
        D = scale - 2 * S
        np.maximum(D, 0, out=D)
        # subtle: the expanded form loses every digit when q and c nearly coincide;
        # recompute those pairs directly (relative error then ~eps**0.75 at most).
        close = D <= np.finfo(D.dtype).eps ** 0.25 * scale
        if close.any():
            r, c = np.nonzero(close)
            diff = Q[r] - C[c]
            D[r, c] = np.einsum("ij,ij->i", diff, diff)
        S = -np.sqrt(D)
    return S


def block_rows(n_rows: int, n_cols: int, factor: int = 4, budget: int | None = None) -> int:
    """Rows per block so that ``factor`` float64 arrays of (rows, n_cols) fit the budget
    (``budget`` bytes, e.g. an Index's ``memory_budget``; None: ``BLOCK_BYTES``)."""
    budget = BLOCK_BYTES if budget is None else budget
    return max(1, min(max(n_rows, 1), budget // max(1, n_cols * 8 * factor)))


def score_blocks(Qp: np.ndarray, Cp: np.ndarray, metric: str, k: int, select, *,
                 factor: int = 4, budget: int | None = None,
                 copies=None) -> tuple[np.ndarray, np.ndarray]:
    """Score prepared queries against the prepared corpus block by block, keeping what
    ``select(S) -> (indices, values)`` picks from each float64 similarity block ``S``
    (higher is closer: negated distances under euclidean). Memory: ``factor`` blocks of
    (rows, n) float64 within the budget (see :func:`block_rows`), never the whole
    (n_queries, n) matrix. ``copies`` (:func:`corpus_copies`): each copy's column of
    ``S`` is its original's (:func:`tie_copies`).
    """
    c_sq = np.einsum("ij,ij->i", Cp, Cp) if metric == "euclidean" else None
    n_q = Qp.shape[0]
    indices = np.empty((n_q, k), dtype=np.int64)
    values = np.empty((n_q, k), dtype=np.float64)
    step = block_rows(n_q, Cp.shape[0], factor, budget)
    for start in range(0, n_q, step):
        stop = min(n_q, start + step)
        S = score_block(Qp[start:stop], Cp, metric, c_sq).astype(np.float64)
        indices[start:stop], values[start:stop] = select(tie_copies(S, copies))
    return indices, values


def full_scores(index, Q: np.ndarray) -> np.ndarray:
    """Scores of each row of ``Q`` (m, d) against every row of an Index: (m, n).

    Cosine: unit query · the Index's unit rows (a zero query scores 0); dot: raw
    products; euclidean: distances (exact ``‖q − c‖`` for a single query, the expanded
    form for several). Copies of a row score as that row (:func:`tie_copies`).
    """
    from .search import is_dask_array

    if is_dask_array(index.vectors):                 # one task per row block
        from ..scale.index import full_scores as per_block

        return per_block(index, Q)
    return tie_copies(direct_scores(np.asarray(Q), index.vectors, index.metric,
                                    unit_rows=lambda: index.unit_rows),
                      corpus_copies(index.vectors, index))


def direct_scores(Q: np.ndarray, C: np.ndarray, metric: str, *, unit_rows) -> np.ndarray:
    """Scores of each row of ``Q`` against each row of ``C`` in one product: (m, n).

    The formulas of :func:`full_scores`, for any rows in memory (a whole corpus, or one
    block of a Dask corpus). ``unit_rows``: a callable giving ``C``'s unit rows, called
    only under cosine (an Index keeps them; a block computes them).
    """
    if metric == "cosine":
        return normalize(Q, zero="ignore") @ unit_rows().T
    if metric == "dot":
        return Q @ C.T
    if Q.shape[0] == 1:
        diff = C - Q[0]
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))[None, :]
    sq = np.einsum("ij,ij->i", Q, Q)[:, None] + np.einsum("ij,ij->i", C, C)[None, :] - 2 * Q @ C.T
    return np.sqrt(np.maximum(sq, 0))


def pairwise_scores(Q: np.ndarray, C: np.ndarray, metric: str) -> np.ndarray:
    """Scores of each row of ``Q`` against each row of ``C``, one query at a time in a
    fixed order (products, then NumPy's pairwise sum over each row): (m, n).

    The formulas of :func:`direct_scores` (unit query · unit rows for cosine, zero rows
    left at 0; raw products for dot; distances from the differences for euclidean), but
    a row's score does not depend on the other rows of ``C``: in one matrix product, an
    exact copy in a block of another size scored a last bit apart, and the tie rule
    (lower row first) then ranked the copy first. For what is scored block by block (a
    Dask corpus' full scores and counterfactual keys). Inputs already checked; not cast
    (the result has ``np.result_type`` of the two).

    Examples
    --------
    >>> C = np.array([[3.0, 4.0], [0.0, 0.0], [3.0, 4.0]])
    >>> pairwise_scores(np.array([[0.0, 2.0]]), C, "euclidean")
    array([[3.60555128, 2.        , 3.60555128]])
    >>> pairwise_scores(np.array([[0.0, 2.0]]), C, "cosine")
    array([[0.8, 0. , 0.8]])
    """
    if metric == "cosine":
        Q, C = normalize(Q, zero="ignore"), normalize(C, zero="ignore")
    out = np.empty((Q.shape[0], C.shape[0]), dtype=np.result_type(Q.dtype, C.dtype))
    for i, q in enumerate(Q):
        if metric == "euclidean":
            diff = C - q
            out[i] = np.sqrt(np.add.reduce(diff * diff, axis=-1))
        else:
            out[i] = np.add.reduce(C * q, axis=-1)
    return out


# --- exact top-k and ranks (the tie rule) ------------------------------------------------

def keys_of(scores: np.ndarray, metric: str) -> np.ndarray:
    """Ranking keys, higher is better: scores, or negated distances for euclidean."""
    scores = np.asarray(scores)
    return -scores if metric == "euclidean" else scores


def top_k(keys: np.ndarray, k: int, copies=None) -> tuple[np.ndarray, np.ndarray]:
    """``(columns, keys)`` of the k largest keys of each row of a 2-D array, best first,
    ties by lower column. ``copies`` (:func:`corpus_copies`): each copy's key is first
    set to its original's (:func:`tie_copies`).

    Examples
    --------
    >>> idx, val = top_k(np.array([[0.2, 0.9, 0.9, 0.1]]), 2)
    >>> idx.tolist(), val.tolist()
    ([[1, 2]], [[0.9, 0.9]])
    """
    keys = tie_copies(keys, copies)
    n, m = keys.shape
    if k < m // 4:
        part = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(keys, part, axis=1).min(axis=1)
        out_idx = np.empty((n, k), dtype=np.int64)
        for r in range(n):  # candidates >= k-th value, then an exact (key, index) sort
            cand = np.flatnonzero(keys[r] >= kth[r])
            order = np.lexsort((cand, -keys[r, cand]))[:k]
            out_idx[r] = cand[order]
    else:
        out_idx = np.argsort(-keys, axis=1, kind="stable")[:, :k].astype(np.int64)
    return out_idx, np.take_along_axis(keys, out_idx, axis=1)


def top_rows(keys: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best keys of one 1-D ranking, best first, ties by lower row.

    Examples
    --------
    >>> top_rows(np.array([0.2, 0.9, 0.9, 0.1]), 2).tolist()
    [1, 2]
    """
    keys = np.asarray(keys)
    n = keys.shape[0]
    k = min(k, n)
    if k < n:
        kth = np.partition(keys, n - k)[n - k]
        cand = np.flatnonzero(keys >= kth)
    else:
        cand = np.arange(n)
    order = np.lexsort((cand, -keys[cand]))
    return cand[order][:k]


def ranks_of(keys: np.ndarray, positions) -> np.ndarray:
    """1-based ranks of ``positions`` in the ordering of 1-D ``keys`` (ties: lower row
    first): ``1 + #{j : key_j > key_i} + #{j < i : key_j == key_i}``.

    Examples
    --------
    >>> ranks_of(np.array([0.2, 0.9, 0.9, 0.1]), [0, 1, 2, 3]).tolist()
    [3, 1, 2, 4]
    """
    keys = np.asarray(keys)
    out = []
    rows = np.arange(keys.shape[0])
    for p in np.atleast_1d(positions).tolist():
        v = keys[p]
        better = np.count_nonzero(keys > v)
        ties_before = np.count_nonzero((keys == v) & (rows < p))
        out.append(1 + better + ties_before)
    return np.array(out, dtype=np.int64)


def make_neighbors(indices: np.ndarray, scores: np.ndarray, metric: str, ids, index) -> Neighbors:
    """A Neighbors result, carrying ids (and texts of an Index) when known."""
    texts = index.texts if index is not None else None
    return Neighbors(indices=indices, scores=scores, metric=metric, k=indices.shape[1],
                     ids=None if ids is None else ids[indices], texts=texts)


# --- identical rows score identically ---------------------------------------------------

def corpus_copies(C, index=None):
    """``(members, first)`` of the rows of the corpus ``C`` that repeat a lower row value
    for value (-0.0 is 0.0), and that lower row (see the module docstring); None when
    there is none or ``C`` is a Dask array without its Index (a Dask corpus is scored one
    pair at a time, :func:`pairwise_scores`). Found once per Index when ``index`` (over ``C``) is
    given, over a Dask array too (one hashing pass,
    :func:`vecdiag.scale.hashing.copied_rows_dask`).

    Examples
    --------
    >>> corpus_copies(np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]]))
    (array([2]), array([0]))
    """
    if index is not None:
        key = cache_keys.copied_rows()
        if key not in index.cache:
            from .search import is_dask_array

            if is_dask_array(index.vectors):
                from ..scale.hashing import copied_rows_dask

                index.cache[key] = copied_rows_dask(index.vectors) or ()
            else:
                index.cache[key] = corpus_copies(index.vectors) or ()
        return index.cache[key] or None
    if not isinstance(C, np.ndarray) or C.ndim != 2:
        return None
    return copied_rows(C)


def tie_copies(S: np.ndarray, copies) -> np.ndarray:
    """``S`` (scores or keys, the corpus along the last axis) with each copy's entry set
    to its original's: ``copies`` from :func:`corpus_copies` (None: ``S`` unchanged).
    A new array when anything is set; ``S`` itself is never changed.

    Examples
    --------
    >>> S = np.array([[0.5, 0.2, 0.5000001]])
    >>> tie_copies(S, (np.array([2]), np.array([0]))).tolist(), S.tolist()
    ([[0.5, 0.2, 0.5]], [[0.5, 0.2, 0.5000001]])
    """
    if copies is None or not len(copies[0]):
        return S
    members, first = copies
    out = np.array(S, copy=True)
    out[..., members] = S[..., first]
    return out
