"""Checks that need texts or the embedding model: lexical_mismatch, truncation,
missing_prefix, and word-occlusion attribution.

``lexical_mismatch`` (corpus texts and the query text)
    BM25 (:func:`vecdiag.lexical.bm25`) ranks the missed expected document far higher
    than the vectors do: the words that matter are shared, the vectors disagree.
    Strength ``ramp(log10(dense rank / BM25 rank), 0.3, 1)`` (2x to 10x better by
    words), times ``(1 − e)`` of the ``add_prefix`` and ``chunk_documents``
    counterfactuals (a missing instruction or a cut text that explains the disagreement
    is the sharper diagnosis); fix ``hybrid_lexical``, whose counterfactual is
    :func:`vecdiag.fixes.apply_fix` ("hybrid_lexical", exact over the whole corpus).
``truncation`` (embedder with a token limit, corpus texts)
    The missed expected document is longer than the model reads (``count_tokens`` >
    ``max_tokens``). It is split into chunks (:func:`vecdiag.fixes.text.chunk_text`, the
    windows ``chunk_documents`` uses) and the best-matching chunk is located: strength
    1 when that chunk starts past the cut (the model never saw the part that matches),
    0.3 when it was inside. Counterfactual ``chunk_documents``: the returned and
    expected documents that are too long are re-scored by their best chunk
    (:func:`vecdiag.fixes.text.chunk_documents`); other long documents keep their
    vectors, so the ranking is approximate (``exact=False``).
``missing_prefix`` (embedder whose model family has known prefixes)
    The model was trained with a query/passage instruction
    (:func:`vecdiag.embedders.known_prefixes`) that the embedder does not add. Strength
    1. Counterfactual ``add_prefix``: the query is re-embedded with its instruction;
    when documents need one too, the returned and expected documents are re-embedded
    with theirs and ranked among themselves (``exact=False``); when they need none, the
    re-embedded query is searched against the whole corpus (exact).
Attribution (``attribution=True``, embedder and query text)
    Each query word is removed in turn, the query re-embedded, and the drop in its score
    with the top hit and with each expected document recorded (word occlusion).

Every fix check sets ``confidence = s · (0.3 + 0.7 e)`` as in :mod:`.causes`.
"""

from __future__ import annotations

import math
import re

import numpy as np

from .causes import _fix_sentence, _with_fix, effect, ramp
from .counterfactuals import Ranking, describe
from .ranking import keys_of

__all__ = ["text_checks"]

_WORD = re.compile(r"\w\w+", re.UNICODE)


def text_checks(ctx, emb, query_text, *, attribution: bool = False):
    """Run the text checks that the inputs allow.

    Returns ``(checks, counterfactual records, attribution dict or None)``; the checks are
    callables ``check(ctx) -> Cause | None`` run with the vector checks, and the rankings
    they rely on are added to ``ctx.rankings`` here.
    """
    checks, records = [], []
    texts = None if ctx.index.texts is None else [str(t) for t in ctx.index.texts]
    if texts is not None and query_text and ctx.missed:
        import importlib.util
        import warnings

        if importlib.util.find_spec("bm25s") is None:
            warnings.warn('lexical_mismatch check skipped: it needs BM25 from bm25s; '
                          'pip install "vecdiag[lexical]"', RuntimeWarning, stacklevel=3)
        else:
            check, rec = _lexical(ctx, texts, query_text)
            checks.append(check)
            records.extend(rec)
    if emb is not None:
        check, rec = _prefix(ctx, emb, query_text, texts)
        if check is not None:
            checks.append(check)
            records.extend(rec)
        if texts is not None and ctx.missed and getattr(emb, "max_tokens", None):
            check, rec = _truncation(ctx, emb, texts)
            if check is not None:
                checks.append(check)
                records.extend(rec)
    attr = None
    if attribution:  # inputs checked by explain_neighbors
        attr = _attribution(ctx, emb, query_text)
    return tuple(checks), records, attr


# ------------------------------------------------------------------ lexical
def _lexical(ctx, texts, query_text):
    from ..fixes import apply_fix
    from ..lexical import bm25

    n = len(ctx.index)
    run = bm25([query_text], texts, k=n)[0]
    lex_rank = {int(doc): r for r, doc in enumerate(run, start=1)}
    nb = apply_fix("hybrid_lexical", ctx.query[None, :], ctx.index, k=n,
                   texts=texts, query_texts=[query_text])
    ctx.rankings["hybrid_lexical"] = Ranking(None, ctx.k, order=nb.indices[0].astype(np.int64))
    records = [describe("hybrid_lexical", ctx.rankings["hybrid_lexical"], ctx.base,
                        ctx.expected_pos, ctx.k, ctx.id_of)]
    query_words = {w.lower() for w in _WORD.findall(query_text)}
    pos, r0 = ctx.missed[0]
    r_lex = lex_rank.get(int(pos))
    s = 0.0 if r_lex is None else ramp(math.log10(r0 / r_lex), 0.3, 1.0)
    ctx.lexical_strength = s  # the lexical view finds it: expected_far is then wrong

    def check_lexical_mismatch(ctx):
        # a missing instruction or a cut text that explains the disagreement comes first
        strength = s * (1 - effect(ctx, "add_prefix")) * (1 - effect(ctx, "chunk_documents"))
        if strength <= 0:
            return None
        shared = sorted(query_words & {w.lower() for w in _WORD.findall(texts[pos])})
        e = effect(ctx, "hybrid_lexical")
        summary = (f"{ctx.name_of(pos)} shares the query's words ({', '.join(shared[:6])}) and "
                   f"ranks {r_lex} by BM25, but {r0} by the vectors: the words that matter are "
                   f"shared, the embedding disagrees." + _fix_sentence(ctx, "hybrid_lexical"))
        return _with_fix("lexical_mismatch", summary,
                         {"bm25_rank": r_lex, "dense_rank": r0, "shared_words": shared},
                         "hybrid_lexical", strength, e)

    return check_lexical_mismatch, records


# ------------------------------------------------------------------ prefixes
def _prefix(ctx, emb, query_text, texts):
    from ..embedders import known_prefixes

    name = getattr(emb, "model_name", None)
    known = known_prefixes(name) if isinstance(name, str) else None
    if not known:
        return None, []
    want_q, want_d = known["query"], known["document"]
    have_q = getattr(emb, "query_prefix", "") or ""
    have_d = getattr(emb, "document_prefix", "") or ""
    missing = [kind for kind, want, have in (("query", want_q, have_q), ("document", want_d, have_d))
               if want and have != want]
    if not missing:
        return None, []
    records, approx_note = [], None
    if query_text:
        ranking, approx_note = _prefixed_ranking(ctx, emb, query_text, texts, want_q, want_d,
                                                 missing)
        if ranking is not None:
            ctx.rankings["add_prefix"] = ranking
            records.append(describe("add_prefix", ranking, ctx.base, ctx.expected_pos, ctx.k,
                                    ctx.id_of, approx_note))

    def check_missing_prefix(ctx):
        e = effect(ctx, "add_prefix", focus=ctx.top.tolist())
        parts = []
        if "query" in missing:
            parts.append(f"queries {want_q!r}")
        if "document" in missing:
            parts.append(f"documents {want_d!r}")
        summary = (f"{name} was trained with instructions ({' and '.join(parts)}) that the "
                   f"embedder does not add; set query_prefix/document_prefix and re-embed."
                   + _fix_sentence(ctx, "add_prefix"))
        if "add_prefix" not in ctx.rankings:
            summary += " (Pass the query text to measure the effect.)"
        return _with_fix("missing_prefix", summary,
                         {"model": name, "expected_query_prefix": want_q,
                          "expected_document_prefix": want_d, "query_prefix": have_q,
                          "document_prefix": have_d, "source": known.get("source")},
                         "add_prefix", 1.0, e)

    return check_missing_prefix, records


def _prefixed_ranking(ctx, emb, query_text, texts, want_q, want_d, missing):
    """Ranking with the model's instructions (see the module docstring)."""
    from ..neighbors import Index
    from .ranking import full_scores

    q_pre = want_q if "query" in missing else ""  # the embedder adds its own otherwise
    qv = np.asarray(emb.encode([q_pre + query_text], kind="query"), dtype=float)
    if qv.shape[1] != ctx.index.vectors.shape[1]:
        return None, None
    if "document" not in missing or texts is None:
        keys = keys_of(full_scores(ctx.index, qv.astype(ctx.index.vectors.dtype))[0], ctx.metric)
        note = None if "document" not in missing else "documents not re-embedded (no corpus texts)"
        return Ranking(keys, ctx.k), note
    rows = list(dict.fromkeys([*ctx.top.tolist(), *ctx.expected_pos]))
    dv = np.asarray(emb.encode([want_d + texts[r] for r in rows], kind="document"),
                    dtype=float)
    sub = Index(dv, metric=ctx.metric)
    sub_keys = keys_of(full_scores(sub, qv)[0], ctx.metric)
    keys = np.full(len(ctx.index), -np.inf)
    keys[rows] = sub_keys
    note = (f"the {len(rows)} returned and expected documents re-embedded with "
            f"{want_d!r} and ranked among themselves")
    return Ranking(keys, ctx.k), note


# ------------------------------------------------------------------ truncation
def _truncation(ctx, emb, texts):
    from ..fixes.text import chunk_documents, chunk_text

    limit = int(emb.max_tokens)
    pos = ctx.missed[0][0]
    try:
        n_tokens = int(emb.count_tokens([texts[pos]])[0])
    except (TypeError, ValueError):  # an embedder without a tokenizer cannot count
        return None, []
    if n_tokens <= limit:
        return None, []
    chunk_words = max(8, int(0.6 * limit))
    overlap = chunk_words // 4
    words = texts[pos].split()
    chunks = chunk_text(texts[pos], chunk_words, overlap)
    chunk_vecs = np.asarray(emb.encode(chunks, kind="document"), dtype=float)
    from ..neighbors import Index
    from .ranking import full_scores

    sims = keys_of(full_scores(Index(chunk_vecs, metric=ctx.metric), ctx.query[None, :]
                               .astype(float))[0], ctx.metric)
    best = int(np.argmax(sims))
    start_word = best * (chunk_words - overlap)
    start_tokens = int(emb.count_tokens([" ".join(words[:start_word])])[0]) if start_word else 0
    past_cut = start_tokens >= limit - 2  # special tokens take the last places
    # counterfactual: long returned/expected documents scored by their best chunk
    rows = [r for r in dict.fromkeys([*ctx.top.tolist(), *ctx.expected_pos])]
    nb = chunk_documents(ctx.query[None, :], ctx.index.vectors[rows], [texts[r] for r in rows],
                         emb, k=len(rows), metric=ctx.metric, chunk_words=chunk_words,
                         overlap=overlap)
    keys = ctx.key.astype(float).copy()
    new = keys_of(nb.scores[0], ctx.metric)
    keys[np.asarray(rows)[nb.indices[0]]] = new
    ranking = Ranking(keys, ctx.k)
    ctx.rankings["chunk_documents"] = ranking
    note = (f"only the {len(rows)} returned and expected documents were re-scored by their "
            f"best chunk of {chunk_words} words")
    records = [describe("chunk_documents", ranking, ctx.base, ctx.expected_pos, ctx.k,
                        ctx.id_of, note)]

    def check_truncation(ctx):
        s = 1.0 if past_cut else 0.3
        e = effect(ctx, "chunk_documents")
        where = ("starts at token ~" + str(start_tokens) + ", past the cut" if past_cut
                 else "is inside the part the model reads")
        summary = (f"{ctx.name_of(pos)} has {n_tokens} tokens but the model reads {limit}; its "
                   f"best-matching part {where}." + _fix_sentence(ctx, "chunk_documents"))
        return _with_fix("truncation", summary,
                         {"tokens": n_tokens, "max_tokens": limit, "best_chunk": best,
                          "best_chunk_start_token": start_tokens, "past_cut": past_cut,
                          "chunk_words": chunk_words}, "chunk_documents", s, e)

    return check_truncation, records


# ------------------------------------------------------------------ attribution
def _attribution(ctx, emb, query_text):
    """Document id -> [(word, score drop when the word is removed)], largest first."""
    words = query_text.split()
    if not words:
        return {}
    variants = [" ".join(words[:i] + words[i + 1:]) or "" for i in range(len(words))]
    base = np.asarray(emb.encode([query_text], kind="query"), dtype=float)
    occluded = np.asarray(emb.encode(variants, kind="query"), dtype=float)
    rows = list(dict.fromkeys([int(ctx.top[0]), *ctx.expected_pos]))
    docs = ctx.index.vectors[rows].astype(float)
    out = {}
    for j, row in enumerate(rows):
        b = _score(base, docs[j], ctx.metric)[0]
        s = _score(occluded, docs[j], ctx.metric)
        drop = (b - s) if ctx.metric != "euclidean" else (s - b)
        order = np.argsort(-drop, kind="stable")
        out[ctx.id_of(row)] = [(words[i], float(drop[i])) for i in order]
    return out


def _score(Q, doc, metric):
    if metric == "cosine":
        qn = np.linalg.norm(Q, axis=1)
        return (Q @ doc) / (np.where(qn > 0, qn, 1) * np.linalg.norm(doc))
    if metric == "dot":
        return Q @ doc
    return np.linalg.norm(Q - doc, axis=1)

