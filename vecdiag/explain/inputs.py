"""The boundary of explain_neighbors: the query, the expected and returned documents,
checked once (errors name the argument, the offending values and the fix)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .. import _validate as V
from .. import cache_keys

__all__ = ["Inputs", "resolve_query", "resolve_docs", "model_similarity", "recall"]


@dataclass(frozen=True)
class Inputs:
    """The checked arguments of one call."""

    index: object
    owned: bool
    """True when explain_neighbors built the Index around a raw array (its statistics may
    come from a sample above ``max_exact`` rows)."""
    query: np.ndarray
    query_text: str | None
    embedder: object
    k: int
    top: int
    max_exact: int
    sample_size: int
    random_state: int
    expected_pos: tuple
    returned_pos: tuple | None
    attribution: bool
    judged: dict
    """Fix code -> JudgedFix from ``fix_report=`` (empty without one)."""
    alternatives: dict | None


def resolve_query(query, index, embedder, query_text):
    """``(vector, query_text, embedder_or_None)``; a string query is embedded."""
    emb = None
    if embedder is not None:
        from ..embedders import as_embedder

        emb = as_embedder(embedder)
    if isinstance(query, str):
        if emb is None:
            raise TypeError("query is a string but no embedder was given; pass "
                            "embedder=... (e.g. vd.embedders.SentenceTransformerEmbedder(model)) "
                            "or embed the query yourself and pass its vector")
        query_text = query if query_text is None else query_text
        q = V.as_vector(emb.encode([query], kind="query")[0], "query")
    else:
        q = V.as_vector(query, "query")
    if query_text is not None and not isinstance(query_text, str):
        raise TypeError(f"query_text must be a string, got {type(query_text).__name__}")
    V.check_same_dim(q, "query", index.vectors, "corpus")
    if index.metric == "cosine" and not np.any(q):
        raise ValueError("query is a zero vector: it has no direction, so its cosine with "
                         "every document is undefined; check how it was embedded (an empty "
                         "text?); under dot it would score 0 against every document")
    if index.metric == "dot" and not np.any(q):
        raise ValueError("query is a zero vector: under dot it scores 0 against every "
                         "document, so its ranking is only the tie rule (lower corpus row "
                         "first) and there is nothing to explain; check how it was "
                         "embedded (an empty text?)")
    if q.dtype != index.vectors.dtype:
        # the corpus's dtype: a float64 query must not turn a float32 corpus into a
        # float64 copy in every search below (float32 stays float32)
        q = q.astype(index.vectors.dtype)
    return q, query_text, emb


def resolve_docs(values, index, name: str) -> list:
    """Corpus rows of ``values`` (ids, or positions without ids), order kept, no repeats."""
    if values is None:
        return []
    if not isinstance(values, (list, tuple, str, bytes)) and hasattr(values, "__array__"):
        # an array of any kind (NumPy, a torch tensor, 0-d too): its entries as Python
        # values (a tensor's entries are 0-d tensors, which matched no id or position)
        values = np.asarray(values)
        values = values.tolist() if values.ndim else [values.item()]
    if isinstance(values, (str, bytes)) or not np.iterable(values):
        values = [values]
    values = list(values)
    n = len(index)
    lookup, int_ids, as_text = None, False, None
    if index.ids is not None:
        cached = index.cache.get(cache_keys.explain_id_lookup())
        if cached is None or cached[0] is not index.ids:
            table = {value: row for row, value in enumerate(index.ids.tolist())}
            # ids as vd.evaluate reads them (qrels files hold strings; 7.0 reads "7"):
            # unique as strings, checked when the Index was made
            text = {V.id_str(value): row for value, row in table.items()}
            integral = any(isinstance(v, numbers.Integral) or (isinstance(v, float)
                                                               and v.is_integer())
                           for v in table)
            cached = (index.ids, table, integral, text)
            index.cache[cache_keys.explain_id_lookup()] = cached
        _, lookup, int_ids, as_text = cached
    rows, missing = [], []
    for v in values:
        if isinstance(v, np.generic):
            v = v.item()
        if lookup is not None and _hashable(v) and v in lookup:
            rows.append(lookup[v])
        elif lookup is not None and (isinstance(v, (str, float)) or _not_a_row(v, n)) \
                and V.id_str(v, name) in as_text:
            # "184" from a qrels file: the document with id 184 (or 184.0, as evaluate
            # reads; or 1400 for the id "1400" of a 1,400-row corpus: no row position)
            rows.append(as_text[V.id_str(v, name)])
        elif (isinstance(v, numbers.Integral) and not isinstance(v, bool) and 0 <= v < n
              and (lookup is None or not int_ids)):
            if lookup is not None and str(v) in lookup and lookup[str(v)] != v:
                # subtle: qrels parsed as numbers give 184 for the document "184", which
                # is not row 184: refuse rather than explain the wrong document
                raise ValueError(
                    f"{name} holds {v!r}: row {v} of the corpus has id "
                    f"{index.ids[v]!r}, but the id {str(v)!r} is row {lookup[str(v)]}; "
                    f"pass the id as a string ({str(v)!r}), or the id of row {v} "
                    f"({index.ids[v]!r}) if you meant that row")
            rows.append(int(v))
        else:
            missing.append(v)
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (", ..." if len(missing) > 5 else "")
        if lookup is not None and int_ids:
            some = ", ".join(repr(x) for x in index.ids[:3].tolist())
            hint = f"pass ids of the corpus (e.g. {some}); its ids are integers, so row " \
                   "positions are not accepted"
        elif lookup is not None:
            some = ", ".join(repr(x) for x in index.ids[:3].tolist())
            hint = f"pass ids of the corpus (e.g. {some}) or row positions 0..{n - 1}"
        else:
            hint = f"the corpus has no ids: pass row positions 0..{n - 1} (or give ids=)"
        raise ValueError(f"{name} has {len(missing)} document{'s' if len(missing) > 1 else ''} "
                         f"not in the corpus: {shown}; {hint}")
    return list(dict.fromkeys(rows))


def _not_a_row(v, n: int) -> bool:
    """Whether ``v`` is an integer that cannot be a row position of ``n`` rows."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and not 0 <= v < n


def _hashable(v) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def model_similarity(emb):
    """The similarity a sentence-transformers model was trained for ("cosine"/"dot")."""
    model = getattr(emb, "model", None)
    name = getattr(model, "similarity_fn_name", None)
    if name in ("dot", "dot_product"):
        return "dot"
    return name


def recall(returned_pos, exact_top, scores, metric) -> float:
    """Share of the exact top-k found in the returned list (:func:`vecdiag.ann_recall`:
    a returned document that ties the k-th exact score counts as found)."""
    from ..neighbors import Neighbors
    from ..scores import ann_recall

    if not returned_pos:
        return 0.0
    got = np.asarray(returned_pos, dtype=np.int64)[None, :]
    want = np.asarray(exact_top, dtype=np.int64)[None, :]
    return float(ann_recall(Neighbors(indices=got, scores=scores[got], metric=metric, k=got.shape[1]),
                            Neighbors(indices=want, scores=scores[want], metric=metric,
                                      k=want.shape[1])))
