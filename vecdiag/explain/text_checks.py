"""Cause checks that need texts or the embedding model: lexical_mismatch, truncation,
dilution, missing_prefix; and word-occlusion attribution.

The measurements behind them are made once by :mod:`.text_evidence` and
:mod:`.dilution` and kept in the frozen Context (``ctx.lexical``, ``ctx.truncation``,
``ctx.dilution``, ``ctx.prefix``; None when the inputs did not allow them). Each check
reads only the Context.

``lexical_mismatch``
    BM25 ranks the missed expected document far higher than the vectors do. Strength
    ``ramp(log10(dense rank / BM25 rank), 0.3, 1)`` (2x to 10x better by words), times
    ``(1 − e)`` of the ``add_prefix`` and ``chunk_documents`` counterfactuals (a missing
    instruction, a cut or a diluted text that explains the disagreement is the sharper
    diagnosis); the evidence lists the informative shared words with their BM25 idf
    weight. Fix ``hybrid_lexical``.
``truncation``
    The missed document is longer than the model reads and its best-matching part lies
    past the cut: a chunk that starts past it, or straddles it and scores above the part
    of it the model read, or a window of as many words as the model reads over the words
    it did not read, scoring above every chunk (a passage longer than a chunk, or cut by
    the chunk grid, is whole in no chunk). Strength ``ramp(match, 1, 1.5)``: ``match``
    puts the best part's score on the query's own scale, 0 at its median score and 1 at
    its k-th result's. A best part scoring under everything the query returned is no part
    that matches (the best of many chunks of an unrelated text, which chunking lifts only
    because it has many); one well above it is. So a passage past the cut that, read
    whole, would still rank below the k-th result is not named: the cut is not why the
    document misses the top-k (the ``chunk_documents`` counterfactual shows where it
    would go). A best chunk inside the part the model reads is no evidence of truncation
    (the model read what matches; the cut removed nothing that would raise the score):
    strength 0, the cause is not named. Limit: a passage past the cut much shorter than
    a chunk is scored only together with the text around it. Measured on Cranfield with
    MiniLM (256 tokens, chunks of 153 words): a judged abstract of 85 tokens (70 words)
    that ranks in its query's top 5 alone, placed after 625 tokens of abstracts
    unrelated to the query, ranks 1,395th; its best chunk (the end of the text before
    it, then the abstract) scores 0.498 against the 10th result's 0.531 (match 0.89;
    another query 0.74), and truncation is not named although the cut is why it is
    missed. Fix ``chunk_documents``.
``dilution``
    The document fits the model (or is cut past its best part: what the model read
    holds what matches) but its best passage scores far above the whole
    (:mod:`.dilution`): strength ``ramp(relative gain, 0.05, 0.25)``. Fix
    ``chunk_documents``.
``missing_prefix``
    The model was trained with instructions the embedder does not add, and the texts
    do not start with them either (a query text written "query: ..." has its
    instruction). Strength 1.
    Fix ``add_prefix``.
Attribution (``attribution=True``, embedder and query text)
    Each query word is removed in turn, the query re-embedded, and the drop in its score
    with the top hit and with each expected document recorded (word occlusion).

Every fix check sets its confidence from s and e as in :func:`.causes.confidence`.
"""

from __future__ import annotations

import numpy as np

from ..results import fmt
from .causes import _fix_sentence, _with_fix, effect, ramp
from .ranking import vectors_of

__all__ = ["check_lexical_mismatch", "check_truncation", "check_dilution",
           "check_missing_prefix", "attribution"]


def check_lexical_mismatch(ctx):
    """BM25 finds the missed document far above the vectors (module docstring)."""
    lex = ctx.lexical
    if lex is None:
        return None
    strength = (lex.strength * (1 - effect(ctx, "add_prefix"))
                * (1 - effect(ctx, "chunk_documents")))
    if strength <= 0:
        return None
    pos = lex.position
    e = effect(ctx, "hybrid_lexical")
    if lex.shared:
        words = ", ".join(f"{w} {wt:.1f}" for w, wt in lex.shared[:6])
        shares = f"shares the query's informative words ({words}; BM25 idf weights)"
    else:
        shares = "shares no informative word with the query"
    summary = (f"{ctx.name_of(pos)} {shares} and ranks {lex.bm25_rank} by BM25, but "
               f"{lex.dense_rank} by the vectors: the words that matter are shared, the "
               f"embedding disagrees." + _fix_sentence(ctx, "hybrid_lexical"))
    return _with_fix(ctx, "lexical_mismatch", summary,
                     {"bm25_rank": lex.bm25_rank, "dense_rank": lex.dense_rank,
                      "shared_words": [w for w, _ in lex.shared],
                      "word_weights": {w: wt for w, wt in lex.shared}},
                     "hybrid_lexical", strength, e)


def check_missing_prefix(ctx):
    """The model's query/passage instructions are missing (module docstring)."""
    pre = ctx.prefix
    if pre is None:
        return None
    e = effect(ctx, "add_prefix", focus=ctx.top.tolist())
    parts = []
    if "query" in pre.missing:
        parts.append(f"queries {pre.want_query!r}")
    if "document" in pre.missing:
        parts.append(f"documents {pre.want_document!r}")
    summary = (f"{pre.model} was trained with instructions ({' and '.join(parts)}) that the "
               f"embedder does not add; set query_prefix/document_prefix and re-embed."
               + _fix_sentence(ctx, "add_prefix"))
    if not pre.measured:
        summary += " (Pass the query text to measure the effect.)"
    return _with_fix(ctx, "missing_prefix", summary,
                     {"model": pre.model, "expected_query_prefix": pre.want_query,
                      "expected_document_prefix": pre.want_document,
                      "query_prefix": pre.have_query, "document_prefix": pre.have_document,
                      "source": pre.source}, "add_prefix", 1.0, e)


def check_truncation(ctx):
    """The missed document is cut at the model's token limit (module docstring)."""
    tr = ctx.truncation
    if tr is None or not tr.past_cut:   # what matches was read: the cut is not why
        return None
    s = ramp(tr.match, 1.0, 1.5)
    if s <= 0:
        return None
    e = effect(ctx, "chunk_documents")
    if tr.best_chunk_start_token >= tr.max_tokens:
        where = f"starts at token ~{tr.best_chunk_start_token}, past the cut"
    else:
        where = (f"starts at token ~{tr.best_chunk_start_token} and what raises its score "
                 f"lies past the cut")
    summary = (f"{ctx.name_of(tr.position)} has {tr.tokens} tokens but the model reads "
               f"{tr.max_tokens}; its best-matching part {where}."
               + _fix_sentence(ctx, "chunk_documents"))
    return _with_fix(ctx, "truncation", summary,
                     {"tokens": tr.tokens, "max_tokens": tr.max_tokens,
                      "best_chunk": tr.best_chunk,
                      "best_chunk_start_token": tr.best_chunk_start_token,
                      "past_cut": tr.past_cut, "chunk_words": tr.chunk_words,
                      "match": tr.match},
                     "chunk_documents", s, e)


def check_dilution(ctx):
    """The missed document's best passage scores far above the whole (module docstring)."""
    di = ctx.dilution
    if di is None:
        return None
    s = ramp(di.relative_gain, 0.05, 0.25)
    if s <= 0:
        return None
    e = effect(ctx, "chunk_documents")
    name = ctx.name_of(di.position)
    r0 = ctx.rank_of(di.position)
    fits = (f"fits the model ({di.tokens} of {di.max_tokens} tokens)"
            if di.tokens <= di.max_tokens else
            f"is cut at the model's {di.max_tokens} tokens (of {di.tokens}), which leaves its "
            "best passage in,")
    summary = (f"{name} {fits} but its best "
               f"passage scores {fmt(di.passage_score, 3)} against {fmt(di.document_score, 3)} "
               f"for the whole document: the relevant part is averaged away. Scored by its "
               f"best passage it would rank {di.passage_rank} instead of {r0}"
               + (" (chunk the documents)." if di.passage_rank < r0 else "."))
    return _with_fix(ctx, "dilution", summary,
                     {"passage": di.passage, "passage_score": di.passage_score,
                      "document_score": di.document_score, "passage_rank": di.passage_rank,
                      "rank": r0, "relative_gain": di.relative_gain,
                      "tokens": di.tokens, "max_tokens": di.max_tokens,
                      "window_words": di.window_words}, "chunk_documents", s, e)


# ------------------------------------------------------------------ attribution
def attribution(ctx, emb, query_text):
    """Document id -> [(word, score drop when the word is removed)], largest first."""
    from ..fixes.text import words_of

    words = words_of(query_text)         # each character of Chinese or Japanese a word
    if not words:
        return {}
    variants = [words.without(i) for i in range(len(words))]
    base = np.asarray(emb.encode([query_text], kind="query", show_progress=False), dtype=float)
    occluded = np.asarray(emb.encode(variants, kind="query", show_progress=False), dtype=float)
    rows = list(dict.fromkeys([int(ctx.top[0]), *ctx.expected_pos]))
    docs = vectors_of(ctx.index, rows).astype(float)
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

