"""The checks behind a StoreAudit's findings, one function each.

Finding codes (added to the vocabulary of :class:`vecdiag.Finding`):
``ann_recall`` (the store's search misses true neighbours), ``short_results`` (fewer than
k rows came back), ``score_convention`` (what the raw score means, checked against an exact
recomputation), ``unnormalized_dot`` (an inner-product index over vectors of unequal
length), ``norms_dropped`` (a cosine store that normalised the vectors), ``model_metric``
(the store's metric is not the model's), ``index_unused`` (PostgreSQL scanned the table
instead of using its vector index), ``compressed_vectors`` (the store holds compressed
codes: the truth is exact search over their decoded vectors), ``index_incomplete`` (the
store's index does not yet hold every vector, or its builder failed). Fix codes added: ``raise_search_effort`` (raise
the store's search setting), ``rebuild_index`` (larger graph / more lists), ``normalize``,
``cosine_metric``, ``dot_metric``.
"""

from __future__ import annotations

import numpy as np

from ..diagnostics.finding import Finding
from ..results import fmt

__all__ = ["convention_check", "findings_for", "metric_findings", "storage_findings",
           "backlog_findings", "every_list_searched"]


def convention_check(store, got, got_true) -> dict:
    """The store's scores, read in vecdiag's convention, against an exact recomputation."""
    mask = got.indices >= 0
    diff = np.abs(got.scores[mask] - got_true[mask]) if mask.any() else np.zeros(0)
    scale = max(1.0, float(np.nanmax(np.abs(got_true[mask]))) if mask.any() else 1.0)
    worst = float(diff.max()) if diff.size else 0.0
    example = None
    if mask.any():
        i, j = np.argwhere(mask)[0]
        example = {"raw": float(got.raw_scores[i, j]), "vecdiag": float(got.scores[i, j]),
                   "exact": float(got_true[i, j])}
    return {"statement": store.convention, "max_abs_diff": worst,
            "ok": bool(worst <= 2e-3 * scale), "example": example}


def findings_for(*, store, k, target, recall, ci, per_query, returned, params, setting, sweep,
                 suggested, convention, backlog=None) -> list:
    """ann_recall, short_results and score_convention findings."""
    out = []
    lost = int((per_query < 1).sum())
    where = f"recall@{k} of the store's own search is {recall:.3f} (95% interval " \
            f"{ci[0]:.3f}-{ci[1]:.3f}) against exact search over its {store.n} vectors"
    current = params.get(setting) if setting else None
    if recall >= target:
        out.append(Finding(code="ann_recall", severity="ok",
                           summary=f"{where}; at or above the target {target:g}.",
                           evidence={"value": recall, "ci": list(ci), "target": target,
                                     "queries_losing_neighbours": lost}))
    else:
        severity = "critical" if ci[1] < target - 0.05 else "warning"
        if setting and suggested is not None:
            p = sweep[suggested]
            # subtle: the smallest value whose measured recall reaches the target; on 10
            # queries a value whose true recall is 0.93 measures >= 0.95 3 to 4 times in 10
            # (clustered misses: 4), so its interval goes with it
            todo = (f"raise {setting} from {fmt(current)} to {suggested}: recall "
                    f"{p.recall:.3f} (95% interval {p.ci[0]:.3f}-{p.ci[1]:.3f}) at "
                    f"{p.latency_ms:.2f} ms a query (sweep)")
            fix = "raise_search_effort"
        elif setting and sweep:
            best = max(sweep, key=lambda v: sweep[v].recall)
            todo = (f"no {setting} tried reaches {target:g} (best {sweep[best].recall:.3f} at "
                    f"{best}): " + (every_list_searched(setting, max(sweep), params)
                                    or every_list_searched(setting, current, params) or
                                    "rebuild the index with a larger graph or more lists"))
            fix = "rebuild_index"
        elif setting and every_list_searched(setting, current, params):
            todo, fix = every_list_searched(setting, current, params), "rebuild_index"
        elif setting:
            todo = store.setting_advice(setting, fmt(current))
            fix = "raise_search_effort"
        else:
            todo = "the store gives no search setting: rebuild its index for higher recall"
            fix = "rebuild_index"
        out.append(Finding(
            code="ann_recall", severity=severity,
            summary=f"{where}; {lost} of {len(per_query)} queries lose at least one true "
                    f"neighbour; {todo}.",
            evidence={"value": recall, "ci": list(ci), "target": target,
                      "queries_losing_neighbours": lost, "setting": setting,
                      "current": current, "suggested": suggested},
            fix=fix))
    if params.get("plan") == "sequential scan (exact)":
        head = (f"PostgreSQL answered by a sequential scan, not the {params.get('index')} "
                f"index {params.get('name')}")
        predicate = params.get("index_predicate")
        if predicate is not None:
            why = (f": the index is partial (WHERE {predicate}), and PostgreSQL uses it only "
                   "for searches whose where= implies that condition; audit with the "
                   "where= your application searches with")
        elif backlog is not None and "index" in backlog:
            why = " because the index is not valid yet (index_incomplete says why)"
        elif params.get("force_index"):
            why = (" even with force_index=True: the index cannot serve this search (check "
                   "that its operator class matches the metric and that where= does not "
                   "exclude it)")
        else:
            why = (" (its planner's choice on a table this small, or with a selective "
                   "where=): audit with vd.stores.pgvector(..., force_index=True) or "
                   "vecdiag audit --force-index to measure what the index will do as the "
                   "table grows")
        out.append(Finding(
            code="index_unused", severity="warning",
            summary=f"{head}{why}. The search was exact, so this recall says nothing about "
                    "the index.",
            evidence={"value": params.get("plan"), "index": params.get("name"),
                      "index_predicate": predicate},
            fix=None))
    short = int((returned < k).sum())
    if short:
        why = ("an HNSW search returns at most ef_search rows (raise ef_search to at least k) "
               if store.kind == "pgvector" and params.get("index") == "hnsw" else "")
        if getattr(store, "where", None):
            why += "and a where= filter applied after the index scan drops rows "
        out.append(Finding(
            code="short_results", severity="critical" if short > len(returned) / 10 else "warning",
            summary=f"{short} of {len(returned)} queries got fewer than k={k} results (fewest "
                    f"{int(returned.min())}); {why or 'the index gave up early '}- the missing "
                    "rows count as misses.",
            evidence={"value": short, "fewest": int(returned.min()), "k": k},
            fix="raise_search_effort"))
    ex = convention["example"]
    shown = "" if ex is None else (f" (e.g. raw {fmt(ex['raw'])} -> {fmt(ex['vecdiag'])}, exact "
                                   f"{fmt(ex['exact'])})")
    if convention["ok"]:
        out.append(Finding(code="score_convention", severity="ok",
                           summary=f"{convention['statement']}{shown}; checked against an exact "
                                   f"recomputation: largest difference "
                                   f"{fmt(convention['max_abs_diff'])}.",
                           evidence={"value": convention["max_abs_diff"], **(ex or {})}))
    else:
        out.append(Finding(
            code="score_convention", severity="warning",
            summary=f"the store's scores do not match an exact recomputation from its own "
                    f"vectors (largest difference {fmt(convention['max_abs_diff'])}){shown}: "
                    f"{convention['statement']}, but the index scores differently (compressed "
                    "vectors, or vectors changed on insert); do not compare its scores with "
                    "exact ones or across stores.",
            evidence={"value": convention["max_abs_diff"], **(ex or {})}))
    return out


def every_list_searched(setting, value, params) -> str:
    """What to do when ``value`` of an IVF index's probes (faiss nprobe, pgvector probes)
    already searches every list ("" otherwise): raising it, or adding lists, finds no more."""
    lists = params.get("nlist") or params.get("lists")
    if setting not in ("nprobe", "probes") or not isinstance(value, int) or not lists \
            or value < lists:
        return ""
    return (f"{setting}={value} already searches all {lists} lists of the index, so the "
            "misses are not lists left out but the index's approximate scores of its "
            "compressed codes (score_convention): re-rank its candidates exactly (faiss "
            "IndexRefineFlat, factory suffix ',RFlat') or rebuild it with finer codes")


def metric_findings(store, norms: dict, model_similarity) -> list:
    """unnormalized_dot, norms_dropped and model_metric findings."""
    out = []
    spread = f"norms {norms['min']:.3g} to {norms['max']:.3g} (median {norms['median']:.3g})"
    if store.metric == "dot" and not norms["unit"] and norms["cv"] > 0.01:
        severe = model_similarity == "cosine"
        out.append(Finding(
            code="unnormalized_dot", severity="critical" if severe else "warning",
            summary=f"an inner-product index over vectors of unequal length ({spread}): long "
                    "vectors win every search by length, not direction"
                    + ("; the model is trained for cosine: normalise the vectors before inserting"
                       " them or use a cosine index." if severe else
                       "; unless your model is trained for dot product, normalise before "
                       "inserting (or use a cosine index)."),
            evidence={"value": norms["cv"], **norms}, fix="normalize"))
    if store.metric == "cosine" and norms["unit"] and store.kind == "qdrant":
        severe = model_similarity == "dot"
        out.append(Finding(
            code="norms_dropped", severity="critical" if severe else "ok",
            summary="Qdrant normalised every vector on insert under Cosine: the stored vectors "
                    "are unit length and the original norms are gone"
                    + ("; the model scores by dot product, where the norm carries meaning: "
                       "use a Dot collection." if severe else
                       " (harmless for cosine search; a dot-product model would lose them)."),
            evidence={"value": norms["max"], **norms},
            fix="dot_metric" if severe else None))
    if model_similarity is not None and model_similarity != store.metric:
        # on unit vectors cosine, dot and euclidean rank alike, manhattan does not (Qdrant's
        # normalised vectors are not the model's: norms_dropped says so)
        alike = model_similarity in ("cosine", "dot", "euclidean")
        equivalent = norms["unit"] and alike and not (store.kind == "qdrant"
                                                      and model_similarity == "dot")
        if equivalent:
            out.append(Finding(
                code="model_metric", severity="ok",
                summary=f"the model is trained for {model_similarity} and the store searches by "
                        f"{store.metric}; on unit vectors both rank alike.",
                evidence={"value": store.metric, "model": model_similarity}))
        else:
            out.append(Finding(
                code="model_metric", severity="critical",
                summary=f"the model is trained for {model_similarity} but the store searches by "
                        f"{store.metric} over {spread}: rankings differ from the model's; "
                        f"declare {model_similarity} in the store"
                        + (" (or normalise the vectors)." if alike else "."),
                evidence={"value": store.metric, "model": model_similarity, **norms},
                # a fix code only for the metrics that have one (no euclidean_metric)
                fix={"cosine": "cosine_metric", "dot": "dot_metric"}.get(model_similarity)))
    return out


def storage_findings(store, recall: float, k: int) -> list:
    """compressed_vectors: a store of compressed codes is measured against exact search
    over their decoded vectors, which does not count what the compression loses."""
    if not store.compressed:
        return []
    return [Finding(
        code="compressed_vectors", severity="warning",
        summary=f"{store.compressed}. recall@{k} {recall:.3f} is measured against exact "
                "search over those decoded vectors: it shows what the index's search "
                "loses, not what the compression loses (the recall against your original "
                "vectors can be much lower); to measure that: vd.ann_recall(store.search("
                "queries, k).ids.tolist(), vd.Index(originals, ids=their_ids, "
                f"metric={store.metric!r}).search(queries, k), labels='ids').",
        evidence={"value": recall, "storage": store.compressed},
        fix=None)]


def backlog_findings(store, backlog: dict | None, recall: float, k: int) -> list:
    """index_incomplete: the store's index, when the audit ran, did not hold every vector
    (Qdrant searches the vectors outside its HNSW index exactly, so the recall measured is
    above the finished index's), or its builder reported a failure."""
    if backlog is None:
        return []
    if "index" in backlog:                                   # pgvector: an invalid index
        return [_invalid_index(store, backlog, recall, k)]
    indexed, total = backlog["indexed"], backlog["total"]
    status, error = backlog["status"], backlog["optimizer_error"]
    state = f"status {status}" + (f", optimizer error: {error}" if error else "")
    if indexed is not None and indexed < total:
        head = (f"{store.describe()}: {indexed} of {total} vectors are in its HNSW index "
                f"({state}{_per_vector(backlog)}); the other {total - indexed} are searched "
                f"exactly, so recall@{k} {recall:.3f} is not the HNSW index's")
        threshold = backlog.get("indexing_threshold_kb")
        limit = "indexing_threshold" + (f" ({threshold} KB)" if threshold is not None else "")
        if status == "red" or error:
            why = ("its optimizer failed: look at the server's log, then audit again when "
                   "the collection is green")
        elif status == "green":
            why = (f"the optimizer is idle, so they sit in segments under {limit}, which "
                   "Qdrant searches exactly by design until a segment outgrows it (to "
                   "measure the index now, lower indexing_threshold in the collection's "
                   "optimizers_config and audit again)")
        else:
            why = ("the optimizer is still indexing, and the recall can drop as it ends: "
                   "audit again when the collection is green")
    else:
        head = (f"{store.describe()}: the collection's {state}, so its index may not be "
                f"the finished one and recall@{k} {recall:.3f} may change")
        why = ("audit again when the collection is green" if status != "red" and not error
               else "look at the server's log for the failed optimization, then audit "
                    "again when the collection is green")
    return [Finding(
        code="index_incomplete", severity="critical" if status == "red" or error else "warning",
        summary=f"{head}: {why}.",
        evidence={"value": indexed, "total": total, "status": status,
                  "optimizer_error": error, "vectors": backlog.get("vectors")},
        fix=None)]


def _per_vector(backlog: dict) -> str:
    """Which vectors Qdrant's one indexed count covers, when there are several (named
    dense vectors, sparse vectors), and what that leaves sure of the audited one."""
    vectors = backlog.get("vectors") or {}
    if len(vectors) < 2:
        return ""
    audited, others = backlog["audited"], backlog["total"] - backlog["audited"]
    least = max(0, backlog["indexed"] - others)
    return (f"; Qdrant counts every vector of the collection together: "
            f"{', '.join(f'{name} {n}' for name, n in vectors.items())}, so at least "
            f"{least} of the {audited} audited vectors are indexed")


def _invalid_index(store, backlog: dict, recall: float, k: int) -> Finding:
    """index_incomplete of a PostgreSQL index that is not valid (being built, or failed)."""
    name = backlog["index"]
    if backlog["status"] == "building":
        done = (f", {backlog['indexed']} of {backlog['total']} rows"
                if backlog["total"] else "")
        state = f"CREATE INDEX CONCURRENTLY is still building it ({backlog['phase']}{done})"
        todo = "wait until the build ends, then audit again"
    else:
        state = "a build that did not finish (CREATE INDEX CONCURRENTLY interrupted) left it"
        todo = f"rebuild it (REINDEX INDEX CONCURRENTLY {name}), then audit again"
    return Finding(
        code="index_incomplete", severity="warning" if backlog["status"] == "building"
        else "critical",
        summary=f"{store.describe()}: the index {name} is not valid: {state}; PostgreSQL "
                f"does not search with an invalid index, so recall@{k} {recall:.3f} is an "
                f"exact scan's, not the index's: {todo}.",
        evidence={"value": backlog["indexed"], "total": backlog["total"],
                  "status": backlog["status"], "index": name},
        fix=None)
