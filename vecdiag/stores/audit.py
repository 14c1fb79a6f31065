"""vd.audit: a store's own search measured against exact search over its own vectors.

Stages, each a small function: fetch the store (once, cached), exact search over the
fetched vectors (the truth), the store's own search, recall per query (ties counted as
found, as :func:`vecdiag.ann_recall`), its interval, the score convention checked
against an exact recomputation, metric checks, an optional sweep of the search setting,
and the findings that say what to change.
"""

from __future__ import annotations

import numbers
import time
from contextlib import contextmanager

import numpy as np

from .. import _validate as V
from .base import Store
from .checks import (backlog_findings, convention_check, findings_for, metric_findings,
                     storage_findings)
from .result import StoreAudit, SweepPoint

__all__ = ["audit", "recall_per_query", "recall_interval", "exact_scores", "parse_sweep",
           "through_index"]

# Tie tolerance of recall (as vecdiag.ann_recall): a returned document whose exact score
# equals the exact k-th score within atol + rtol * |k-th| counts as found.
RTOL, ATOL = 1e-5, 1e-8

# default ladder of each search setting (the current value is added)
LADDERS = {"ef_search": [10, 20, 40, 80, 160, 320], "efSearch": [16, 32, 64, 128, 256, 512],
           "hnsw_ef": [16, 32, 64, 128, 256, 512], "search_L": [16, 32, 64, 128, 256, 512]}


def audit(store, queries, k: int = 10, *, sweep=None, target: float = 0.95, embedder=None,
          random_state=0, show_progress: bool | None = None) -> StoreAudit:
    """How well does the store's own search find the true nearest neighbours?

    Parameters
    ----------
    store : vecdiag.stores.Store
        From ``vd.stores.pgvector / faiss / qdrant / chroma``.
    queries : array-like, (n_queries, d)
        Query vectors as your application sends them (a few hundred give a tight interval).
    k : int
        Results per query.
    sweep : None, False, dict or str
        Values of the store's search setting to try, e.g. ``{"ef_search": [10, 20, 40]}``
        or ``"ef_search=10,20,40"``; None tries a default ladder when the store has a
        setting, False skips the sweep. The setting is put back afterwards.
    target : float
        Recall the sweep looks for: the smallest value reaching it is ``suggested``.
    embedder : embedder, optional
        Its model's similarity function is checked against the store's metric.
    random_state : int
        Unused: the interval is computed in closed form (it seeded a bootstrap once, and
        is still accepted so that existing calls run).
    show_progress : bool, optional
        Progress bars while fetching and searching (None: only in a terminal or notebook
        and only for long runs).

    Returns
    -------
    StoreAudit

    Notes
    -----
    recall@k of query q: ``|found| / k`` with ``found`` the returned documents that are in
    the exact top-k, or tie its k-th score (exact scores recomputed in float64 from the
    fetched vectors). A store that returned fewer than k rows loses the missing ones.
    The 95% interval (of the recall and of each swept value) is :func:`recall_interval`:
    Clopper-Pearson on the neighbours found, their number divided by the design effect of
    queries that lose several at once (averaged with a prior worth 10 queries); queries
    that all find everything still get a lower end below 1.0 (0.845 for 5 queries).

    Latency is one pass over the queries divided by their number, timed after an untimed
    search of the first :data:`WARM_QUERIES` (the first search after a setting changes
    pays for caches and query plans: a cold ``ef_search=10`` once timed 0.70 ms a query
    against 0.20 ms at 40).

    Examples
    --------
    An exact (flat) faiss index finds every true neighbour:

    >>> import faiss
    >>> import numpy as np
    >>> import vecdiag as vd
    >>> X = np.random.default_rng(0).normal(size=(200, 8)).astype("float32")
    >>> index = faiss.IndexFlatIP(8)
    >>> index.add(X)
    >>> res = vd.audit(vd.stores.faiss(index), X[:20], k=5, sweep=False)
    >>> res.recall, res.k, res.n_queries
    (1.0, 5, 20)
    >>> res.per_query.shape
    (20,)
    """
    if not isinstance(store, Store):
        raise TypeError("store must come from vd.stores.pgvector / faiss / qdrant / chroma, "
                        f"got {type(store).__name__}")
    store._live()
    if isinstance(target, bool) or not isinstance(target, numbers.Real) or not 0 < target <= 1:
        raise ValueError(f"target must be a recall in (0, 1], got {target!r}")
    if store.n == 0:
        store.fetch()                     # raises its "is empty: nothing to audit" error
    Q = store._queries(queries)
    k = V.check_positive_int(k, "k")
    if k > store.n:
        raise ValueError(f"k={k} but {store.describe()} holds {store.n} vectors; pass k <= {store.n}")
    plan = parse_sweep(sweep, store)
    V.check_seed(random_state)    # checked, unused: no RandomState advanced
    model_similarity = _model_similarity(embedder)

    t0 = time.perf_counter()
    index = store.fetch(show_progress=show_progress)
    t_fetch = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = index.search(Q, k, show_progress=show_progress)
    truth = exact_scores(index, Q, exact.indices)
    t_exact = time.perf_counter() - t0
    got = _warm_search(store, Q, k)
    params = store.params  # after a search: pgvector then knows its query plan
    backlog = store.index_backlog()  # an index still being built, as it was searched
    per_query, got_true = recall_per_query(got.indices, exact.indices, truth, index, Q)
    store_seconds = got.seconds
    points, setting, state = {}, None, None
    if plan is not None:
        setting, values = plan
        state = store._save()
        try:
            with through_index(store, params.get("plan")):
                for v in values:
                    store.set_params(**{setting: v})
                    res = _warm_search(store, Q, k)
                    rec, _ = recall_per_query(res.indices, exact.indices, truth, index, Q)
                    store_seconds += res.seconds
                    points[v] = SweepPoint(recall=mean_recall(rec, k),
                                           latency_ms=1000 * res.seconds / len(Q),
                                           ci=recall_interval(rec, k),
                                           short=int((res.n_returned < k).sum()))
        finally:
            store._restore(state)
    suggested = next((v for v in sorted(points) if points[v].recall >= target), None)
    t_total = time.perf_counter() - t0  # exact search, the store's searches, recall
    recall = mean_recall(per_query, k)
    ci = recall_interval(per_query, k)
    convention = convention_check(store, got, got_true)
    norms = _norm_summary(index)
    timings = {"fetch_s": t_fetch, "exact_s": t_exact, "store_search_s": store_seconds,
               "audit_s": t_total, "store_share": store_seconds / t_total if t_total else 0.0}
    findings = findings_for(store=store, k=k, target=target, recall=recall, ci=ci,
                            per_query=per_query, returned=got.n_returned, params=params,
                            setting=setting or store.search_setting, sweep=points,
                            suggested=suggested, convention=convention, backlog=backlog)
    findings += metric_findings(store, norms, model_similarity)
    findings += storage_findings(store, recall, k)
    findings += backlog_findings(store, backlog, recall, k)
    order = {"critical": 0, "warning": 1, "ok": 2}
    findings.sort(key=lambda f: order[f.severity])
    return StoreAudit(store=store.describe(), kind=store.kind, metric=store.metric, k=k,
                      n=store.n, n_queries=len(Q), params=params, recall=recall,
                      per_query=per_query, ci=ci, returned=got.n_returned,
                      latency_ms=1000 * got.seconds / len(Q), convention=convention,
                      setting=setting, sweep=points, suggested=suggested, target=float(target),
                      norms=norms, findings=findings, timings=timings)


WARM_QUERIES = 8  # searched untimed before each timed pass over the queries


def _warm_search(store, Q: np.ndarray, k: int):
    """``store.search(Q, k)``, timed after an untimed search of its first few queries."""
    store.search(Q[:WARM_QUERIES], k)
    return store.search(Q, k)


@contextmanager
def through_index(store, plan):
    """Searches in the block go through the store's index when ``plan`` (of its search at
    the current setting) did: at a higher setting PostgreSQL's planner scans a small table
    exactly instead (recall 1.0, not the index's), where a table grown large would still
    use the index. pgvector only (``force_index`` for the block); others are left as is."""
    force = getattr(store, "force_index", None) is False and plan == "index scan"
    if force:
        store.force_index = True
    try:
        yield
    finally:
        if force:
            store.force_index = False


def parse_sweep(sweep, store: Store):
    """``(setting, sorted values)`` or None, from audit's ``sweep`` argument."""
    if sweep is False:
        return None
    if store.frozen_reason:
        if sweep is None:
            return None
        raise ValueError(f"sweep={sweep!r}: {store.frozen_reason}")
    if sweep is None:
        name = store.search_setting
        if name is None:
            return None
        current, cap = store.params[name], None
        if name in LADDERS:
            values = list(LADDERS[name])
        else:  # probes / nprobe: powers of two up to the number of lists
            lists = store.params.get("lists") or store.params.get("nlist") or 1
            values, v = [], 1
            while v < lists:
                values.append(v)
                v *= 2
            values.append(int(lists))
            cap = int(lists)
        if isinstance(current, int):
            # an index saved with nprobe above its lists (faiss takes it and probes them
            # all) is swept up to the lists: set_params refuses more
            values.append(current if cap is None else min(current, cap))
        return name, sorted(set(values))
    if isinstance(sweep, str):
        name, sep, rest = sweep.partition("=")
        if not sep or not rest.strip():
            raise ValueError(f"sweep={sweep!r}: write it as setting=v1,v2,... e.g. "
                             "'ef_search=10,20,40,80'")
        try:
            values = [int(v) for v in rest.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"sweep={sweep!r}: the values must be whole numbers, e.g. "
                             "'ef_search=10,20,40,80'") from None
        sweep = {name.strip(): values}
    if not isinstance(sweep, dict) or len(sweep) != 1:
        raise TypeError("sweep must be None, False, one {setting: [values]} entry or "
                        f"'setting=v1,v2', got {sweep!r}")
    (name, values), = sweep.items()
    canon = store._canonical(name)
    if isinstance(values, (str, bytes)) or not np.iterable(values) or not len(values):
        raise ValueError(f"sweep values of {name} must be a non-empty list of whole numbers")
    return canon, sorted({store._check_setting(canon, V.check_positive_int(
        v, f"sweep value of {name}")) for v in values})


def exact_scores(index, Q: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Exact float64 scores of the listed rows per query (NaN where a row is -1)."""
    n_q, k = positions.shape
    out = np.full((n_q, k), np.nan)
    vec = index.vectors
    for i in range(n_q):
        keep = positions[i] >= 0
        if not keep.any():
            continue
        rows = np.asarray(vec[positions[i][keep]], dtype=np.float64)
        q = Q[i].astype(np.float64)
        if index.metric == "cosine":
            rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
            q = q / np.linalg.norm(q)
        if index.metric == "euclidean":
            out[i, keep] = np.linalg.norm(rows - q, axis=1)
        else:
            out[i, keep] = rows @ q
    return out


def recall_per_query(got: np.ndarray, exact: np.ndarray, truth: np.ndarray, index, Q):
    """(recall per query, exact scores of the returned rows), ties counted as found."""
    got_true = exact_scores(index, Q, got)
    k = exact.shape[1]
    lower = index.metric == "euclidean"
    recall = np.zeros(len(got))
    for i in range(len(got)):
        want = set(exact[i].tolist())
        kth = truth[i, k - 1]
        tol = ATOL + RTOL * abs(kth)
        found = set()
        for pos, s in zip(got[i].tolist(), got_true[i].tolist()):
            if pos < 0 or pos in found:
                continue
            if pos in want or ((s <= kth + tol) if lower else (s >= kth - tol)):
                found.add(pos)
        recall[i] = len(found) / k
    return recall, got_true


def mean_recall(per_query: np.ndarray, k: int) -> float:
    """The mean of per-query recalls ``found / k``, as ``sum(found) / (k * n)``: one
    division, so a recall of exactly 0.4 (12 of 30) is the float 0.4.

    subtle: the mean of 0.4, 0.3 and 0.5 in floating point is 0.39999999999999997, and
    ``--fail-below 0.4`` (or a sweep's ``target``) read it as below the threshold.

    Examples
    --------
    >>> mean_recall(np.array([0.4, 0.3, 0.5]), 10), float(np.mean([0.4, 0.3, 0.5]))
    (0.4, 0.39999999999999997)
    """
    if not len(per_query):
        return float("nan")
    found = np.rint(np.asarray(per_query, dtype=np.float64) * k)   # whole counts, exactly
    return float(found.sum()) / (k * len(per_query))


# The design effect's prior: worth PRIOR_QUERIES queries at the intra-query correlation
# PRIOR_ICC. Measured on Cranfield's 225 queries (MiniLM): faiss HNSW 0.015-0.22 at k=10
# and 0.03-0.06 at k=50-100, IVF (32 lists, nprobe 1-8) 0.06-0.33 at k=10, 0.08-0.28 at
# k=50-100.
PRIOR_QUERIES, PRIOR_ICC = 10, 0.2


def recall_interval(per_query: np.ndarray, k: int, level: float = 0.95) -> tuple:
    """Interval of the mean recall@k over queries: Clopper-Pearson on the neighbours found,
    their number shrunk by the design effect of finding them query by query.

    The ``n·k`` true neighbours are not independent trials: a hard query loses many at
    once. With ``f_i`` found of query ``i``, ``r = Σf / (n·k)`` and ``s²`` the variance of
    the ``f_i`` (n − 1 in the denominator), the observed design effect is
    ``s² / (k·r·(1 − r))`` (spread over the spread of independent finds; 1 when r is 0 or
    1). Few queries estimate it poorly, and queries that all found everything show none,
    so it is averaged with a prior ``1 + (k − 1)·0.2`` worth 10 queries
    (:data:`PRIOR_QUERIES`, :data:`PRIOR_ICC`)::

        deff = max(1, (10·(1 + 0.2·(k − 1)) + (n − 1)·s² / (k·r·(1 − r))) / (10 + n − 1))

    The effective trials are ``m = n·k / deff`` with ``r·m`` found, and the interval the
    Clopper-Pearson (beta) interval of that share. Every query at 1.0 still gives one:
    ``[(α/2)^(1/m), 1]`` (0.845 for 5 queries at k=10, 0.998 for 200), never ``[1, 1]``.
    It speaks for the kinds of query sampled: hard queries rarer than about 3 in n are
    likely not among n queries, and then not in the interval either.

    subtle: the percentile bootstrap this replaces covered a recall of 0.99 only 27-62% of
    the time with 3-10 queries (0.999: 3-40% up to 50 queries), because every resample of
    queries that all found everything is 1.0 and the interval collapsed to [1, 1].

    Examples
    --------
    >>> [round(v, 4) for v in recall_interval(np.full(5, 0.8), 10)]
    [0.593, 0.9317]
    >>> [round(v, 4) for v in recall_interval(np.ones(5), 10)]
    [0.8448, 1.0]
    """
    from scipy.stats import beta

    found = np.rint(np.asarray(per_query, dtype=np.float64) * k)   # whole counts, exactly
    n = len(found)
    if not n:
        return (float("nan"), float("nan"))
    recall = mean_recall(per_query, k)
    independent = k * recall * (1 - recall)   # variance of f_i if neighbours were independent
    seen = float(found.var(ddof=1)) / independent if n > 1 and independent > 0 else 1.0
    prior = 1 + (k - 1) * PRIOR_ICC
    deff = max(1.0, (PRIOR_QUERIES * prior + (n - 1) * seen) / (PRIOR_QUERIES + n - 1))
    m = n * k / deff
    hits = recall * m
    alpha = 1 - level
    low = 0.0 if recall == 0 else float(beta.ppf(alpha / 2, hits, m - hits + 1))
    high = 1.0 if recall == 1 else float(beta.ppf(1 - alpha / 2, hits + 1, m - hits))
    return (min(low, recall), max(high, recall))


def _norm_summary(index) -> dict:
    """Min, median, max and relative spread of the stored vectors' norms."""
    norms = np.concatenate([np.linalg.norm(np.asarray(index.vectors[s:s + 65536], np.float64),
                                           axis=1) for s in range(0, len(index), 65536)])
    return {"min": float(norms.min()), "median": float(np.median(norms)),
            "max": float(norms.max()), "cv": float(norms.std() / norms.mean()) if norms.mean() else 0.0,
            "unit": bool(np.abs(norms - 1).max() < 1e-3)}


def _model_similarity(embedder):
    """The similarity an embedder's model was trained for ("cosine", "dot", ...) or None."""
    if embedder is None:
        return None
    model = getattr(embedder, "model", embedder)
    name = getattr(model, "similarity_fn_name", None)
    return {"dot_product": "dot", "dot": "dot", "cosine": "cosine",
            "euclidean": "euclidean"}.get(name, name)
