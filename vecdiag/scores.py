"""Reading raw scores: calibrate them against the corpus, and measure an ANN's recall.

``score_percentile`` turns "0.82" into "higher than 71% of random pairs of this corpus";
``ann_recall`` says how much of the exact top-k an approximate index returned.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _validate as V
from . import cache_keys

__all__ = ["score_percentile", "ann_recall", "random_pair_scores", "percentile_among"]

_PAIR_CHUNK = 8192  # pairs scored per step: bounds memory to chunk x d


def random_pair_scores(corpus, *, metric: str = "cosine", n_pairs: int = 100_000,
                       random_state=0) -> np.ndarray:
    """Sorted scores of random pairs of distinct corpus rows (every pair when few).

    Parameters
    ----------
    corpus : array-like (n, d) or vecdiag.Index
    metric : {"cosine", "dot", "euclidean"}
    n_pairs : int
        Pairs drawn uniformly (with replacement) among pairs ``i != j``. When the corpus
        has at most ``n_pairs`` unordered pairs, every pair is used once instead (exact).
    random_state : int, Generator or None

    Returns
    -------
    ndarray
        float64, ascending.

    Examples
    --------
    >>> random_pair_scores([[1, 0], [0, 1], [1, 1]]).round(4)
    array([0.    , 0.7071, 0.7071])
    """
    from .neighbors.scoring import prepare, resolve_corpus

    C, metric, _, index = resolve_corpus(corpus, metric)
    n_pairs = V.check_positive_int(n_pairs, "n_pairs")
    V.check_seed(random_state)   # checked even when every pair is scored (no draw)
    # Only a seed names its pairs: a Generator draws new ones each call (keyed by id(),
    # a later Generator at a freed one's address was handed that one's pairs).
    seeded = random_state is None or (isinstance(random_state, numbers.Integral)
                                      and not isinstance(random_state, bool))
    key = cache_keys.random_pairs(
        metric, n_pairs, None if random_state is None else int(random_state)) \
        if seeded else None
    if index is not None and key is not None and key in index.cache:
        return index.cache[key]
    n = C.shape[0]
    if n < 2:
        raise ValueError(f"corpus has {n} row; random pairs need at least 2 vectors")
    Cp = prepare(C, metric, "corpus")
    total = n * (n - 1) // 2
    if total <= n_pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = V.check_random_state(random_state)
        i = rng.integers(0, n, size=n_pairs)
        j = rng.integers(0, n - 1, size=n_pairs)
        j = j + (j >= i)  # uniform over j != i
    out = np.empty(i.size, dtype=np.float64)
    for start in range(0, i.size, _PAIR_CHUNK):
        a, b = Cp[i[start:start + _PAIR_CHUNK]], Cp[j[start:start + _PAIR_CHUNK]]
        if metric == "euclidean":
            diff = a - b
            out[start:start + _PAIR_CHUNK] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        else:
            out[start:start + _PAIR_CHUNK] = np.einsum("ij,ij->i", a, b)
    if metric == "cosine":
        # clipped like every cosine of vecdiag (a search's included): copies of a vector
        # score 1 + 1e-16 here, and a search's 1.0 then ranked below all of them
        np.clip(out, -1.0, 1.0, out=out)
    out.sort()
    if index is not None and key is not None:
        index.cache[key] = out
    return out


def score_percentile(scores, corpus, *, metric: str | None = None, n_pairs: int = 100_000,
                     random_state=0) -> np.ndarray:
    """Percentile of each raw score among the scores of random pairs of corpus documents.

    Parameters
    ----------
    scores : float or array-like of any shape
        Raw scores under ``metric`` (e.g. ``Neighbors.scores``).
    corpus : array-like (n, d) or vecdiag.Index
        The reference corpus (an Index caches its pair scores).
    metric : {"cosine", "dot", "euclidean"} or None
        The metric of ``scores``; None: the Index's metric, else cosine. For euclidean,
        scores are distances and the percentile counts the pairs that are *farther*
        apart, so higher always means "closer than most pairs".
    n_pairs : int, default 100,000
        Random distinct pairs (see :func:`random_pair_scores`; exact when the corpus
        has at most that many pairs).
    random_state : int, default 0

    Returns
    -------
    ndarray
        Same shape as ``scores``, in percent (0 to 100).

    Notes
    -----
    ``pct(s) = 100 · (#{pairs below s} + ½ #{pairs equal to s}) / #pairs`` (the "mean"
    convention of ``scipy.stats.percentileofscore``; "below" means "farther" for
    euclidean). A score of 0.82 at the 71st percentile is higher than 71% of
    unrelated pairs: on an anisotropic corpus a raw 0.82 may be unremarkable. With the
    default 100,000 pairs the standard error is at most 0.16 percentage points.

    Examples
    --------
    >>> corpus = [[1, 0], [0, 1], [1, 1], [-1, 0]]
    >>> score_percentile([0.9, 0.0], corpus)
    array([100.,  50.])
    """
    # a string is refused as an object array below; anything else (a torch tensor in
    # bfloat16 or needing grad, a pandas Series) is read as every vector input is
    arr = np.asarray(scores, dtype=object) if isinstance(scores, (str, bytes)) \
        else V.to_array(scores, "scores")
    flat = V.as_vectors(np.atleast_1d(arr).reshape(-1), "scores", ndim=1, allow_empty=True)
    if metric is None:
        metric = getattr(corpus, "metric", None) if not isinstance(corpus, np.ndarray) \
            else None
        metric = metric if isinstance(metric, str) else "cosine"
    ref = random_pair_scores(corpus, metric=metric, n_pairs=n_pairs, random_state=random_state)
    return percentile_among(ref, flat, metric).reshape(np.shape(arr))


def percentile_among(ref: np.ndarray, scores: np.ndarray, metric: str) -> np.ndarray:
    """Percentile (0-100) of each of ``scores`` (1-D) among the sorted pair scores ``ref``
    (:func:`random_pair_scores`), by :func:`score_percentile`'s convention (half the
    equal ones counted; for euclidean the farther pairs are the ones below)."""
    below = np.searchsorted(ref, scores, side="left")
    upto = np.searchsorted(ref, scores, side="right")
    if metric == "euclidean":  # farther pairs are the ones with larger distances
        below, upto = ref.size - upto, ref.size - below
    return 100.0 * (below + upto) / (2.0 * ref.size)


def _rows(result, name: str):
    """Per-query lists of labels and (optionally) scores from a Neighbors or nested lists."""
    from .neighbors import Neighbors

    if isinstance(result, Neighbors):
        return [r.tolist() for r in result.indices], result.scores, result.metric, result
    if not isinstance(result, (list, tuple)) and hasattr(result, "__array__"):
        # an array of another kind (torch.topk's indices, np.matrix, a DataFrame): its
        # entries as Python numbers (a 0-d tensor is no integer, so it read as an id)
        result = np.asarray(result)
    if isinstance(result, np.ndarray):
        if result.ndim != 2:
            raise ValueError(f"{name} must be 2-D (one row of results per query), got shape "
                             f"{result.shape}")
        return [r.tolist() for r in result], None, None, None
    try:
        rows = [np.asarray(r).tolist() if hasattr(r, "__array__") else list(r)
                for r in result]
    except TypeError:
        raise TypeError(f"{name} must be a Neighbors, a 2-D index array or a list of lists "
                        f"per query, got {type(result).__name__}") from None
    return rows, None, None, None


def ann_recall(approx, exact, *, rtol: float = 1e-5, atol: float = 1e-8, queries=None,
               corpus=None, metric: str | None = None, labels: str = "auto") -> float:
    """Recall@k of an approximate search against exact search, ties counted as found.

    Parameters
    ----------
    approx : Neighbors, 2-D array of corpus positions, or list of lists
        What the approximate index (a vector database, faiss IVF/HNSW) returned per
        query; rows may be shorter than k (missing results count as misses). Lists may
        hold document ids instead of positions when ``exact`` is a Neighbors with ids.
    exact : Neighbors or 2-D array
        Exact search of the same queries; k is its number of columns.
    rtol, atol : float
        Tolerance of a tie: a returned document outside the exact top-k counts as found
        when its score is as good as the exact k-th score within
        ``atol + rtol * |k-th score|``. Finite and >= 0 (NaN or inf is refused).
    queries, corpus : array-like or None
        The vectors searched. When both are given, every score is recomputed exactly
        instead of trusting ``approx.scores`` (compressed indexes such as PQ only
        estimate them); index arrays then get the tie rule too. Needs corpus positions.
    metric : str or None
        Metric of that recomputation; None: ``exact.metric``, else cosine.
    labels : {"auto", "positions", "ids"}
        What a plain array or list ``approx`` holds: corpus positions, or the ids of
        ``exact`` (a Neighbors of an Index built with ids). "auto": ids when they are not
        integers, positions when ``exact`` has no ids or its ids are its positions; integer
        labels against integer ids that differ from the positions are ambiguous and
        refused (say which). A Neighbors ``approx`` always gives positions.

    Returns
    -------
    float
        Mean over queries of ``|found| / k`` (in [0, 1]).

    Notes
    -----
    Only the first k returned documents of each query count, and each once; a position
    of -1 (faiss's padding for "no result") is a miss. Exact search
    breaks ties by corpus index, so another equally good document is a legitimate
    answer: when scores are known (``approx`` and ``exact`` are Neighbors, or the vectors
    are given) such documents count as found, the convention of ann-benchmarks.
    Otherwise plain set overlap is used.

    Examples
    --------
    >>> ann_recall([[0, 1, 7]], [[0, 1, 2]])
    0.6666666666666666
    >>> ann_recall([[0, 3]], [[0, 1]], queries=[[1, 0]], corpus=[[1, 0], [0, 1], [1, 1], [0, 1]])
    1.0
    """
    ex_rows, ex_scores, ex_metric, ex = _rows(exact, "exact")
    ap_rows, ap_scores, ap_metric, _ = _rows(approx, "approx")
    if not ex_rows:
        raise ValueError("exact has no queries; pass the exact results of at least one query")
    if len(ap_rows) != len(ex_rows):
        raise ValueError(f"approx has {len(ap_rows)} queries but exact has {len(ex_rows)}; "
                         "pass results for the same queries in the same order")
    k = len(ex_rows[0])
    if k == 0 or any(len(r) != k for r in ex_rows):
        raise ValueError("exact must have the same positive number of results for every query")
    for t, tname in ((rtol, "rtol"), (atol, "atol")):
        # subtle: NaN passed "t < 0" and then made every tie a miss; inf made every
        # returned document a hit
        if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 <= t < np.inf:
            raise ValueError(f"{tname} must be a finite number >= 0, got {t!r}")
    if ap_metric is not None and ex_metric is not None and ap_metric != ex_metric:
        raise ValueError(f"approx was searched with {ap_metric!r} but exact with "
                         f"{ex_metric!r}; compare results of the same metric")
    by_id = _holds_ids(approx, ap_rows, ex, labels)
    if by_id:
        if ex is None or ex.ids is None:
            raise ValueError("approx holds ids, not corpus positions: pass exact as a "
                             "Neighbors with ids (the search of an Index built with ids)")
        ex_rows = [r.tolist() for r in ex.ids]
    else:
        # faiss pads short result lists with -1: no document, a miss
        ap_rows = [[p for p in r if not (isinstance(p, numbers.Integral) and p == -1)]
                   if ap_scores is None else r for r in ap_rows]
    metric = metric or ex_metric or ap_metric or "cosine"
    if (queries is None) != (corpus is None):
        raise ValueError("pass both queries= and corpus= to recompute scores, or neither")
    if queries is not None:
        if by_id:
            raise ValueError("recomputing scores needs corpus positions in approx, not ids")
        ap_scores = _true_scores(ap_rows, queries, corpus, metric)
        ex_scores = _true_scores(ex_rows, queries, corpus, metric)
    tie_aware = ap_scores is not None and ex_scores is not None
    lower_is_better = metric == "euclidean"
    total = 0.0
    for q, (got, want) in enumerate(zip(ap_rows, ex_rows)):
        want_set = set(want)
        found = set()
        if tie_aware:
            kth = float(ex_scores[q, k - 1])
            tol = atol + rtol * abs(kth)
        for col, label in enumerate(got[:k]):
            if label in found:
                continue
            if label in want_set:
                found.add(label)
            elif tie_aware:
                s = float(ap_scores[q, col])
                if (s <= kth + tol) if lower_is_better else (s >= kth - tol):
                    found.add(label)
        total += len(found) / k
    return total / len(ex_rows)


def _holds_ids(approx, rows, exact, labels: str) -> bool:
    """Whether ``approx``'s labels are ids of ``exact`` (else corpus positions); see
    :func:`ann_recall`'s ``labels``."""
    from .neighbors import Neighbors

    if labels not in ("auto", "positions", "ids"):
        raise ValueError(f"labels must be 'auto', 'positions' or 'ids', got {labels!r}")
    if isinstance(approx, Neighbors):
        if labels == "ids":
            raise ValueError("labels='ids' is for a plain list or array of ids; a Neighbors "
                             "approx holds corpus positions")
        return False
    if labels != "auto":
        return labels == "ids"
    if any(not isinstance(x, numbers.Integral) for r in rows for x in r):
        return True
    ids = None if exact is None else exact.ids
    if ids is None or not any(len(r) for r in rows):
        return False
    flat = np.asarray(ids).ravel().tolist()
    if not all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in flat) \
            or flat == np.asarray(exact.indices).ravel().tolist():
        return False
    raise ValueError("approx holds integers and exact's ids are integers too (not its row "
                     "positions): pass labels='ids' if approx holds document ids, or "
                     "labels='positions' if it holds corpus row positions")


def _gathered(rows, corpus, metric):
    """A Dask corpus (or Index) cut to the rows the results name, computed; the results
    renumbered into it. Every score depends on its own row only, so nothing else is read."""
    from .scale.chunks import check_dask_matrix, compute

    if not isinstance(corpus, np.ndarray) and hasattr(corpus, "vectors"):   # a Dask Index
        metric = metric or corpus.metric
        corpus = corpus.vectors
    X = check_dask_matrix(corpus, "corpus")
    flat = np.concatenate([np.asarray(r, np.int64).ravel() for r in rows] + [np.zeros(0, int)])
    if flat.size and (flat.min() < 0 or flat.max() >= X.shape[0]):
        raise ValueError(f"results refer to corpus row {int(flat.max())}, but the corpus "
                         f"has {X.shape[0]} rows")
    union = np.unique(flat)
    (sub,) = compute(X[union] if union.size else X[:1])
    return ([np.searchsorted(union, np.asarray(r, np.int64)).tolist() for r in rows], sub,
            metric)


def _true_scores(rows, queries, corpus, metric: str) -> np.ndarray:
    """Exact scores of the listed corpus positions per query (NaN past a short row)."""
    from .neighbors.scoring import check_queries, prepare, resolve_corpus
    from .neighbors.search import is_dask_array

    if is_dask_array(getattr(corpus, "vectors", corpus)):
        rows, corpus, metric = _gathered(rows, corpus, metric)
    C, metric, _, _ = resolve_corpus(corpus, metric)
    Q, _ = check_queries(queries, C)
    if Q.shape[0] != len(rows):
        raise ValueError(f"queries has {Q.shape[0]} rows but the results cover {len(rows)} "
                         "queries; pass the queries that were searched")
    Cp, Qp = prepare(C, metric, "corpus"), prepare(Q, metric, "queries")
    out = np.full((len(rows), max(max((len(r) for r in rows), default=1), 1)), np.nan)
    for q, row in enumerate(rows):
        if not row:
            continue
        pos = np.asarray(row, dtype=np.int64)
        if pos.min() < 0 or pos.max() >= C.shape[0]:
            raise ValueError(f"results refer to corpus row {int(pos.max())}, but the corpus "
                             f"has {C.shape[0]} rows")
        if metric == "euclidean":
            diff = Cp[pos] - Qp[q]
            out[q, :pos.size] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        else:
            out[q, :pos.size] = Cp[pos] @ Qp[q]
    return out
