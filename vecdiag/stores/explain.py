"""explain_neighbors on a Store: the adapter at explain's entry point.

``vd.explain_neighbors(query, store, expected=...)`` fetches the store once (cached on it),
lets exact search over the fetched vectors give the truth and the store's own search give
``returned``, then runs the ordinary explanation. When the store lost a neighbour
(``ann_miss``), the cause names the store's search setting, the value that finds this
query's document, and what that value buys over sampled queries.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

__all__ = ["accepts_store", "explain_in_store"]

# Corpus rows drawn as queries to say what a setting buys beyond this one query.
SAMPLE_QUERIES = 200


def accepts_store(explain):
    """Decorator for explain_neighbors: a Store as ``corpus`` goes through
    :func:`explain_in_store`, anything else straight to ``explain``."""

    @functools.wraps(explain)
    def wrapper(query, corpus, *args, **kwargs):
        from .base import Store

        if isinstance(corpus, Store):
            return explain_in_store(explain, query, corpus, *args, **kwargs)
        return explain(query, corpus, *args, **kwargs)

    return wrapper


def explain_in_store(explain, query, store, *, k: int = 10, returned=None, embedder=None,
                     query_text=None, random_state=0, **kwargs):
    """Explain ``query`` against a store: truth from its fetched vectors, ``returned`` from
    its own search, and an ``ann_miss`` that names the setting to change."""
    from .. import _validate as V

    if returned is not None:
        raise ValueError("returned comes from the store's own search when corpus is a Store; "
                         "leave it out (or pass store.fetch() to explain a list you got "
                         "elsewhere)")
    for name in ("ids", "texts"):
        if kwargs.pop(name, None) is not None:
            raise ValueError(f"{name} comes from the store; leave it out")
    metric = kwargs.pop("metric", None)
    if metric is not None and metric != store.metric:
        # as for an Index: the store's own search is what is explained
        raise ValueError(f"metric={metric!r}, but the store searches by {store.metric!r}: "
                         "the metric comes from the store; leave it out")
    store._live()                           # the cached Index alone cannot search
    index = store.fetch()
    if isinstance(query, str):
        if embedder is None:
            raise TypeError("query is a string but no embedder was given; pass embedder=... "
                            "or the query's vector")
        from ..embedders import as_embedder

        query_text = query if query_text is None else query_text
        query = as_embedder(embedder).encode([query], kind="query")[0]
    q = V.as_vector(query, "query")
    q = store._as_searched(q[None, :])[0]   # as the store compares it (halfvec: float16)
    if store.metric == "cosine":            # named as the one query it is (search says queries)
        V.zero_rows(np.abs(q).max(), "query")
    k = V.check_k(k, len(index))
    got = store.search(q[None, :], k)
    returned_ids = [v for v in got.ids[0].tolist() if v is not None]
    exp = explain(q, index, k=k, returned=returned_ids, embedder=embedder,
                  query_text=query_text, random_state=random_state, **kwargs)
    causes = list(exp.causes)
    for i, cause in enumerate(causes):
        if cause.code == "ann_miss":
            causes[i] = _name_the_setting(cause, store, exp, q, k, set(got.indices[0].tolist()),
                                          random_state)
    return dataclasses.replace(exp, causes=causes)


def _name_the_setting(cause, store, exp, q, k, returned_rows, random_state):
    """The ann_miss cause with the setting to change, the value that finds the lost
    document (or this query's whole exact top-k) and the sampled recall it buys."""
    from .audit import parse_sweep, through_index
    from .checks import every_list_searched

    setting = store.search_setting
    if setting is None:
        return cause
    current = store.params[setting]
    if store.frozen_reason:                       # cannot be tried here (Chroma)
        head = cause.summary.split("; raise")[0].split("; the approximate")[0].rstrip(". ")
        return dataclasses.replace(
            cause, summary=f"{head}; {store.setting_advice(setting, current)}.",
            evidence=dict(cause.evidence, setting=setting, current=current, suggested=None))
    lost = [d for d in exp.expected if d.rank <= k and d.position not in returned_rows]
    exact_top = set(store.fetch().search(q[None, :], k).indices[0].tolist())
    want = {d.position for d in lost} if lost else exact_top
    ladder = [v for v in parse_sweep(None, store)[1]
              if not isinstance(current, int) or v > current]
    state, found_at = store._save(), None
    plan = store.params.get("plan")           # of the search explained, at the setting now
    try:
        with through_index(store, plan):      # each value measured on the index, as it was
            for v in ladder:
                store.set_params(**{setting: v})
                if want <= set(store.search(q[None, :], k).indices[0].tolist()):
                    found_at = v
                    break
    finally:
        store._restore(state)
    what = (f"{', '.join(str(d.id) for d in lost)} {'is' if len(lost) == 1 else 'are'} found"
            if lost else f"the whole exact top-{k} is found")
    evidence = dict(cause.evidence, setting=setting, current=current, suggested=found_at)
    if found_at is None:
        top = ladder[-1] if ladder else current
        advice = (f"no {setting} up to {top} finds it: " + (
            every_list_searched(setting, top, store.params)      # nprobe = nlist already
            or "rebuild the index with a larger graph or more lists"))
    else:
        before = _sampled_recall(store, setting, None, k, random_state)
        with through_index(store, plan):
            after = _sampled_recall(store, setting, found_at, k, random_state)
        evidence.update(sample_recall_before=before, sample_recall_after=after,
                        sample_queries=min(SAMPLE_QUERIES, store.n))
        advice = (f"raise {setting} from {current} to {found_at}: {what}; recall@{k} over "
                  f"{min(SAMPLE_QUERIES, store.n)} sampled documents used as queries "
                  f"{before:.3f} -> {after:.3f}")
    head = cause.summary.split("; raise")[0].split("; the approximate")[0].rstrip(". ")
    return dataclasses.replace(cause, summary=f"{head}; {advice}.", evidence=evidence)


def _sampled_recall(store, setting, value, k, random_state) -> float:
    """Mean recall@k of the store at ``setting=value`` (None: as it is) over sampled rows."""
    from .audit import exact_scores, recall_per_query

    state = store._save()
    key = ("explain.sample_recall", setting, value if value is not None else repr(state), k,
           random_state)
    if key in store.cache:
        return store.cache[key]
    index = store.fetch()
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(len(index), size=min(SAMPLE_QUERIES, len(index)), replace=False))
    Q = np.asarray(index.vectors[rows], dtype=np.float32)
    exact = index.search(Q, k)
    truth = exact_scores(index, Q, exact.indices)
    try:
        if value is not None:
            store.set_params(**{setting: value})
        got = store.search(Q, k)
    finally:
        store._restore(state)
    recall = float(recall_per_query(got.indices, exact.indices, truth, index, Q)[0].mean())
    store.cache[key] = recall
    return recall
