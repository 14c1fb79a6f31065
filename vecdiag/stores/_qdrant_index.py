"""A Qdrant collection's HNSW index: the audited vector's settings, and how much of the
collection the index holds (for :mod:`._qdrant`).

Qdrant reports one ``indexed_vectors_count`` for the whole collection: the sum, over its
indexed segments, of every vector index there, each named dense vector and each sparse
vector alike. A point may lack a named vector. So the count is compared with the number
of vectors the points actually hold, vector by vector (an exact count of the points that
have each), never with ``points_count`` times the number of named vectors.
"""

from __future__ import annotations


def hnsw_settings(info, params) -> dict:
    """``{"m", "ef_construct"}`` of the audited vector: its own ``hnsw_config`` is a diff
    whose set fields override the collection's, the others (None there) are the
    collection's."""
    own, base = params.hnsw_config, info.config.hnsw_config
    settings = {}
    for name in ("m", "ef_construct"):
        value = getattr(own, name, None)
        settings[name] = int(getattr(base, name) if value is None else value)
    return settings


def vector_counts(client, models, collection: str, info) -> dict:
    """``{(kind, name): points having it}`` for every vector Qdrant indexes: each dense
    vector (``""`` the unnamed one) and each sparse vector. A lone unnamed vector is on
    every point: ``points_count``. None when the server cannot count them (no has_vector
    filter before Qdrant 1.13)."""
    vectors = info.config.params.vectors
    dense = list(vectors) if isinstance(vectors, dict) else [""]
    sparse = list(info.config.params.sparse_vectors or {})
    if dense == [""] and not sparse:
        return {("dense", ""): int(info.points_count or 0)}
    counts = {}
    for key in [("dense", n) for n in dense] + [("sparse", n) for n in sparse]:
        counts[key] = points_having(client, models, collection, key[1])
        if counts[key] is None:
            # not countable (an older server refuses each request alike): the indexed
            # count is not compared (None), rather than guessed
            return None
    return counts


def points_having(client, models, collection: str, name: str) -> int | None:
    """Points of the collection that hold the vector ``name`` (``""`` the unnamed one),
    counted exactly; None when the server cannot count them (a server before Qdrant
    1.13 has no has_vector filter)."""
    where = models.Filter(must=[models.HasVectorCondition(has_vector=name)])
    try:
        return int(client.count(collection, count_filter=where, exact=True).count)
    except Exception as err:   # noqa: BLE001 - re-raised unless it is the refusal below
        if not _bad_request(err):
            raise
        return None


def lacking_error(client, models, collection: str, vector: str | None, n_points: int,
                  first_ids: list) -> ValueError:
    """The refusal of a collection whose points lack the audited vector (a hybrid
    collection's sparse-only points): how many of its ``n_points`` points lack it, counted
    over the collection (over the batch read when the server cannot count), and the
    first ids."""
    name = repr(vector) if vector else "dense"
    having = points_having(client, models, collection, vector or "")
    count = (f"{len(first_ids)} points of one batch have" if having is None else
             f"{n_points - having:,} of {n_points:,} points have")
    if having is not None:           # the first of the whole collection, not of the batch
        without = models.Filter(must_not=[models.HasVectorCondition(has_vector=vector or "")])
        points, _ = client.scroll(collection, scroll_filter=without, limit=5,
                                  with_payload=False, with_vectors=False)
        first_ids = [p.id for p in points] or first_ids
    return ValueError(f"collection {collection}: {count} no {name} vector (first ids: "
                      f"{', '.join(repr(i) for i in first_ids[:5])}); a search over the "
                      f"{name} vector never returns them: give them one, or audit a "
                      "collection where every point has it")


def _bad_request(err: Exception) -> bool:
    """Whether the server refused the request as malformed (REST 400/422, gRPC
    INVALID_ARGUMENT), as a server that does not know a filter does."""
    if getattr(err, "status_code", None) in (400, 422):         # UnexpectedResponse
        return True
    code = getattr(err, "code", None)
    return callable(code) and getattr(code(), "name", None) == "INVALID_ARGUMENT"


def backlog(client, models, collection: str, vector: str | None, *,
            graph: bool = True) -> dict | None:
    """The collection's index when it holds fewer vectors than the points have, its status
    is not green or its optimizer reports an error (else None): ``indexed``, ``total``
    (the vectors of every kind, as Qdrant counts them), ``vectors`` (per vector),
    ``audited`` (the audited vector's count), ``status``, ``optimizer_error``,
    ``indexing_threshold_kb``. ``graph=False`` (the audited vector has hnsw m=0, so it is
    searched exactly however much is indexed): the counts are not compared, ``indexed``
    is None, as it is when the server cannot count the vectors."""
    info = client.get_collection(collection)
    counts = vector_counts(client, models, collection, info)
    total = None if counts is None else sum(counts.values())
    indexed = info.indexed_vectors_count if graph and counts is not None else None
    status = getattr(info.status, "value", str(info.status))
    error = getattr(info.optimizer_status, "error", None)
    if (indexed is None or indexed >= total) and status == "green" and error is None:
        return None
    threshold = getattr(info.config.optimizer_config, "indexing_threshold", None)
    return {"indexed": None if indexed is None else int(indexed), "total": total,
            "vectors": None if counts is None else {label(kind, name): n
                                                    for (kind, name), n in counts.items()},
            "audited": None if counts is None else counts[("dense", vector or "")],
            "status": status, "optimizer_error": error, "indexing_threshold_kb": threshold}


def label(kind: str, name: str) -> str:
    """How a vector is named in a finding: ``'title'``, ``sparse 'bm25'``, ``unnamed``."""
    shown = repr(name) if name else "unnamed"
    return shown if kind == "dense" else f"{kind} {shown}"
