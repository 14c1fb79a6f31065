"""Measurements that need texts or the embedding model, made once before the checks.

Each ``measure_*`` function returns ``(evidence record or None, {fix: Ranking},
[Counterfactual])``; :func:`vecdiag.explain_neighbors` stores the record in the frozen
:class:`~vecdiag.explain.context.Context` and the pure checks of :mod:`.text_checks`
read it.

Lexical (corpus texts and the query text)
    BM25 (:func:`vecdiag.lexical.bm25`) ranks the whole corpus; the ``hybrid_lexical``
    counterfactual is :func:`vecdiag.fixes.apply_fix` ("hybrid_lexical", exact). The
    shared words shown are the informative ones: English stop words (scikit-learn's list)
    and words in more than half of the documents are left out, and each word carries its
    BM25 inverse document frequency ``ln(1 + (N − df + 0.5) / (df + 0.5))``.
Truncation (embedder with a token limit)
    The first missed document has more tokens than the model reads; its chunks
    (:func:`vecdiag.fixes.text.chunk_text`) locate the best-matching part, past the cut
    when it starts after the words the model reads or, straddling the cut, scores above
    its own part the model read; the
    ``chunk_documents`` counterfactual re-scores the returned and expected documents that
    are too long by their best chunk, and a dozen ranked between the top-k and the missed
    ones; the other long documents are estimated to move as those between do
    (:func:`.counterfactuals.moved_like`, ``exact=False``). The words the model did not
    read are also scored in windows of as many words as it reads (:func:`unread_windows`):
    a matching passage longer than a chunk, or cut by the chunk grid, is whole in one of
    them, and a window scoring above every chunk is the best part (past the cut).
    ``match``: the best part's key as ``(key − median key) / (k-th key − median key)``.
Dilution (embedder with a token limit, the document fits)
    See :mod:`.dilution`.
Prefixes (embedder whose model family has known instructions)
    The ``add_prefix`` counterfactual re-embeds the query with its instruction (and, when
    documents need one too, the returned and expected documents and a dozen ranked
    between; the other documents are estimated to move as those between do,
    :func:`.counterfactuals.moved_like`, ``exact=False``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _words, cache_keys
from ..results import text_or_empty
from .causes import ramp
from .context import LexicalEvidence, PrefixEvidence, TruncationEvidence
from .counterfactuals import Ranking, calibration_rows, changes_of, describe, moved_like
from .ranking import keys_of

__all__ = ["text_stage", "measure_lexical", "measure_prefix", "measure_truncation", "informative_weights",
           "words_of"]

MAX_DOCUMENT_SHARE = 0.5  # a word in more than half of the documents says nothing


def words_of(text: str) -> set:
    """The words of ``text`` by BM25's rule (:func:`vecdiag._words.words`)."""
    return set(_words.words(text))


def informative_weights(index, texts) -> dict:
    """Word -> BM25 idf for every informative corpus word (cached on the Index)."""
    key = cache_keys.explain_idf()
    cached = index.cache.get(key)
    if cached is not None and cached[0] is index.texts:
        return cached[1]
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    df: dict = {}
    for t in texts:
        for w in words_of(t):
            df[w] = df.get(w, 0) + 1
    n = len(texts)
    weights = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()
               if w not in ENGLISH_STOP_WORDS and c <= MAX_DOCUMENT_SHARE * n}
    index.cache[key] = (index.texts, weights)
    return weights


def measure_lexical(ctx0, texts, query_text):
    """BM25's view of the first missed document, and the hybrid_lexical ranking."""
    from ..fixes import apply_fix
    from ..lexical import bm25

    n = len(ctx0.index)
    run = bm25([query_text], texts, k=n)[0]
    nb = apply_fix("hybrid_lexical", ctx0.query[None, :], ctx0.index, k=n,
                   texts=texts, query_texts=[query_text])
    ranking = Ranking(None, ctx0.k, order=nb.indices[0].astype(np.int64))
    record = describe("hybrid_lexical", ranking, ctx0.base, ctx0.expected_pos, ctx0.k,
                      ctx0.id_of, name_of=ctx0.name_of)
    pos, r0 = ctx0.missed[0]
    # subtle: its rank counts every document scoring as high ahead of it; a tie is no
    # sign that the words find it (the words it shares may be in every document, and
    # the tie rule alone would then rank the corpus's first rows 1, 2, 3, ...)
    own = run.get(int(pos))
    r_lex = None if own is None else sum(1 for v in run.values() if v >= own)
    strength = 0.0 if r_lex is None else ramp(math.log10(r0 / r_lex), 0.3, 1.0)
    weights = informative_weights(ctx0.index, texts)
    common = words_of(query_text) & words_of(texts[pos])
    shared = sorted(((w, round(weights[w], 2)) for w in common if w in weights),
                    key=lambda wv: (-wv[1], wv[0]))
    evidence = LexicalEvidence(position=int(pos), bm25_rank=r_lex, dense_rank=int(r0),
                               shared=tuple(shared), strength=float(strength))
    return evidence, {"hybrid_lexical": ranking}, [record]


# ------------------------------------------------------------------ prefixes
def measure_prefix(ctx0, emb, query_text, texts):
    """The model's missing instructions, and the add_prefix ranking when measurable.

    An instruction is missing when the embedder does not add it and the texts do not
    start with it either (a query text written "query: ...", or every document written
    "passage: ...": the model reads it, and adding it would make it "query: query: ...").
    """
    from ..embedders import known_prefixes

    name = getattr(emb, "model_name", None)
    known = known_prefixes(name) if isinstance(name, str) else None
    if not known:
        return None, {}, []
    want_q, want_d = known["query"], known["document"]
    have_q = getattr(emb, "query_prefix", "") or ""
    have_d = getattr(emb, "document_prefix", "") or ""
    read = {"query": [query_text] if query_text else [],
            "document": [t for t in texts if t] if texts is not None else []}
    missing = tuple(kind for kind, want, have in (("query", want_q, have_q),
                                                  ("document", want_d, have_d))
                    if want and have != want
                    and not (read[kind] and all((have + t).startswith(want)
                                                for t in read[kind])))
    if not missing:
        return None, {}, []
    rankings, records = {}, []
    if query_text:
        ranking, note = _prefixed_ranking(ctx0, emb, query_text, texts, want_q, want_d, missing)
        if ranking is not None:
            rankings["add_prefix"] = ranking
            records.append(describe("add_prefix", ranking, ctx0.base, ctx0.expected_pos,
                                    ctx0.k, ctx0.id_of, note, name_of=ctx0.name_of))
    evidence = PrefixEvidence(model=name, missing=missing, want_query=want_q,
                              want_document=want_d, have_query=have_q, have_document=have_d,
                              source=known.get("source"), measured=bool(rankings))
    return evidence, rankings, records


def _prefixed_ranking(ctx0, emb, query_text, texts, want_q, want_d, missing):
    """Ranking with the model's instructions (see the module docstring)."""
    from ..neighbors import Index
    from .ranking import full_scores

    # subtle: the embedder prepends its own prefix; when that one is wrong (not empty),
    # prepending the right one as well would measure both ("query: Query: ..."), so a copy
    # of the embedder carrying the right prefixes embeds instead
    fixed = _with_prefixes(emb, want_q if "query" in missing else emb.prefix("query"),
                           want_d if "document" in missing else emb.prefix("document"))
    if fixed is None:   # prefixes that cannot be set: prepended here, over empty ones only
        if any(emb.prefix(kind) for kind in missing):
            return None, None
        fixed = _Prepending(emb, want_q if "query" in missing else "",
                            want_d if "document" in missing else "")
    emb = fixed
    qv = np.asarray(emb.encode([query_text], kind="query", show_progress=False), dtype=float)
    if qv.shape[1] != ctx0.index.vectors.shape[1]:
        return None, None
    if "document" not in missing or texts is None:
        keys = keys_of(full_scores(ctx0.index, qv.astype(ctx0.index.vectors.dtype))[0],
                       ctx0.metric)
        note = None if "document" not in missing else "documents not re-embedded (no corpus texts)"
        return Ranking(keys, ctx0.k), note
    between = calibration_rows(ctx0)
    rows = list(dict.fromkeys([*ctx0.top.tolist(), *ctx0.expected_pos, *between]))
    dv = np.asarray(emb.encode([texts[r] for r in rows], kind="document", show_progress=False),
                    dtype=float)
    sub = Index(dv, metric=ctx0.metric)
    sub_keys = keys_of(full_scores(sub, qv)[0], ctx0.metric)
    # subtle: only these rows are re-embedded (a text model embeds a few dozen texts a
    # second). Ranked among themselves, a missed document could not rank below k + m,
    # whatever the prefixes do; the others instead move as the documents between the
    # top-k and the missed ones do (see moved_like; nothing moves for a prefix
    # that changes nothing)
    ref = [i for i, r in enumerate(rows) if r in set(between)] or list(range(len(rows)))
    changes = changes_of(sub_keys[ref], ctx0.key[rows][ref], np.asarray(rows)[ref],
                         ctx0.expected_pos)
    others = np.ones(len(ctx0.index), dtype=bool)
    others[rows] = False
    keys = moved_like(ctx0.key, others, changes)
    keys[rows] = sub_keys
    note = (f"{len(rows)} documents (returned, expected and {len(between)} ranked between) "
            f"re-embedded with {want_d!r}; the others estimated to move as those between "
            f"do{_range_of(changes)}")
    return Ranking(keys, ctx0.k), note


def _with_prefixes(emb, query_prefix: str, document_prefix: str):
    """A shallow copy of ``emb`` whose ``encode`` prepends these prefixes (for a
    :func:`~vecdiag.embedders.resilient` one, its wrapped embedder is copied: its
    prefixes are the wrapped one's); ``emb`` itself when they are its own, None when
    its prefixes cannot be set."""
    import copy

    if (emb.prefix("query"), emb.prefix("document")) == (query_prefix, document_prefix):
        return emb
    out = copy.copy(emb)
    target = out
    if isinstance(getattr(type(emb), "query_prefix", None), property):
        inner = getattr(emb, "embedder", None)
        if inner is None:
            return None
        target = _with_prefixes(inner, query_prefix, document_prefix)
        if target is None:
            return None
        try:
            out.embedder = target
        except AttributeError:
            return None
        return out
    try:
        target.query_prefix, target.document_prefix = query_prefix, document_prefix
    except AttributeError:
        return None
    return out


class _Prepending:
    """``encode`` of an embedder (whose own prefixes are empty) with prefixes prepended."""

    def __init__(self, emb, query_prefix: str, document_prefix: str):
        self.emb, self.pre = emb, {"query": query_prefix, "document": document_prefix}

    def encode(self, texts, *, kind: str, show_progress=None):
        return self.emb.encode([self.pre[kind] + t for t in texts], kind=kind,
                               show_progress=show_progress)


def _range_of(changes) -> str:
    """' (score changes from a to b)' for a note, '' without any."""
    if len(changes) == 0:
        return ""
    return f" (score changes from {min(changes):+.3g} to {max(changes):+.3g})"



# ------------------------------------------------------------------ truncation
def measure_truncation(ctx0, emb, texts, n_tokens: int):
    """Where the first missed (too long) document's best part lies, and chunk_documents."""
    from ..fixes.text import chunk_spans, chunk_text, words_of
    from .dilution import best_passage_ranking, passage_keys

    limit = int(emb.max_tokens)
    pos = ctx0.missed[0][0]
    chunk_words = max(8, int(0.6 * limit))
    overlap = chunk_words // 4
    words = words_of(texts[pos])
    chunks = chunk_text(texts[pos], chunk_words, overlap)
    sims = passage_keys(ctx0, emb, chunks)
    best = int(np.argmax(sims))
    start_word, end_word = chunk_spans(len(words), chunk_words, overlap)[best]
    start_tokens = count_tokens(emb, words.text(0, start_word)) if start_word else 0
    read = words_read(emb, words, limit)
    if start_word >= read:
        past_cut = True
    elif end_word <= read:
        past_cut = False
    else:
        # subtle: the best chunk straddles the cut (with chunks of 0.6 limit words, the
        # last one of a document up to ~1.5x the limit always starts inside it). Its
        # words past the cut are what the model missed when they raise its score: the
        # whole chunk is compared with the part of it the model read
        inside = passage_keys(ctx0, emb, [words.text(start_word, read)])[0]
        past_cut = bool(sims[best] > inside)
    best_key = float(sims[best])
    unread = unread_windows(len(words), read)
    if unread:
        # subtle: a matching passage longer than a chunk, or cut by the chunk grid, is
        # in no chunk whole (each mixes part of it with other text); read in windows of
        # what the model reads, the part it did not read holds it whole
        keys = passage_keys(ctx0, emb, [words.text(a, b) for a, b in unread])
        j = int(np.argmax(keys))
        if keys[j] > best_key:
            best_key, past_cut = float(keys[j]), True
            start_tokens = count_tokens(emb, words.text(0, unread[j][0]))
    ranking, rows, changes = best_passage_ranking(ctx0, emb, texts, chunk_words, overlap)
    note = (f"{len(rows)} documents (returned, expected and some ranked between) re-scored "
            f"by their best chunk of {chunk_words} words; the other long documents "
            f"estimated to move as those between do{_range_of(changes)}")
    record = describe("chunk_documents", ranking, ctx0.base, ctx0.expected_pos, ctx0.k,
                      ctx0.id_of, note, name_of=ctx0.name_of)
    bar = float(ctx0.key[ctx0.top[-1]] - ctx0.median_key)
    match = float(best_key - ctx0.median_key) / bar if bar > 0 else 1.0
    evidence = TruncationEvidence(position=int(pos), tokens=int(n_tokens), max_tokens=limit,
                                  best_chunk=best, best_chunk_start_token=start_tokens,
                                  past_cut=bool(past_cut), chunk_words=chunk_words,
                                  match=match)
    return evidence, {"chunk_documents": ranking}, [record]


def unread_windows(n_words: int, read: int) -> list:
    """``(start, stop)`` word spans covering the words past the first ``read`` (those the
    model did not read) in windows of ``read`` words, each starting a quarter of a window
    after the last (a passage of up to ``read − ⌊read / 4⌋ + 1`` words is whole in one of
    them); none when every word is read (or none is).

    Examples
    --------
    >>> unread_windows(10, 4), unread_windows(5, 5)
    ([(4, 8), (5, 9), (6, 10)], [])
    """
    from ..fixes.text import chunk_spans

    if read <= 0 or read >= n_words:
        return []
    step = max(1, read // 4)   # chunk_documents' windows over the unread words
    return [(read + a, read + b) for a, b in chunk_spans(n_words - read, read, read - step)]


def words_read(emb, words, limit: int) -> int:
    """How many leading ``words`` (a document's :func:`~vecdiag.fixes.text.words_of`,
    written back as text, with the document prefix) fit in ``limit`` tokens: the largest
    ``j`` with ``count_tokens(words[:j]) <= limit`` (binary search; special tokens counted
    as the tokenizer adds them)."""
    def fits(j):
        return count_tokens(emb, words.text(0, j)) <= limit

    lo, hi = 0, len(words)  # fits(lo) assumed; the answer is in [lo, hi]
    if fits(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def count_tokens(emb, text):
    """Tokens the model reads for the document ``text`` (its document prefix first: the
    prefix takes places within the limit too), by the embedder's tokenizer; None when it
    cannot count."""
    try:
        return int(emb.count_tokens(emb.with_prefix([text], "document"))[0])
    except (TypeError, ValueError, AttributeError, NotImplementedError):
        return None


# ------------------------------------------------------------------ the stage
def text_stage(ctx0, emb, query_text):
    """Every text measurement the inputs allow: ``(Context fields, rankings, records)``."""
    evidence, rankings, records = {}, {}, []
    # a missing text (None, NaN from a pandas column) is no text at all, not the word
    # "None" or "nan" for BM25 to match: the rule every display follows too
    texts = None if ctx0.index.texts is None else [text_or_empty(t) for t in ctx0.index.texts]
    if texts is not None and query_text and ctx0.missed:
        import importlib.util
        import warnings

        if importlib.util.find_spec("bm25s") is None:
            warnings.warn('lexical_mismatch check skipped: it needs BM25 from bm25s; '
                          'pip install "vecdiag[lexical]"', RuntimeWarning, stacklevel=4)
        else:
            evidence["lexical"], more, rec = measure_lexical(ctx0, texts, query_text)
            rankings.update(more)
            records.extend(rec)
    if emb is None:
        return evidence, rankings, records
    prefix, more, rec = measure_prefix(ctx0, emb, query_text, texts)
    if prefix is not None:
        evidence["prefix"] = prefix
        rankings.update(more)
        records.extend(rec)
    if texts is not None and ctx0.missed and getattr(emb, "max_tokens", None):
        from .dilution import measure_dilution

        n_tokens = count_tokens(emb, texts[ctx0.missed[0][0]])
        if n_tokens is not None:
            long = n_tokens > int(emb.max_tokens)
            measures = [("truncation", measure_truncation)] if long else []
            for name, measure in measures + [("dilution", measure_dilution)]:
                found, more, rec = measure(ctx0, emb, texts, n_tokens)
                if found is not None:
                    evidence[name] = found
                    rankings.update(more)
                    records.extend(rec)
                    if name == "truncation" and found.past_cut:
                        break   # what matches was cut: not a dilution of what was read
    return evidence, rankings, records
