"""Text fixes: re-embed with the model's instructions, or in chunks.

Both need an embedder: any object with ``encode(texts, kind="query" | "document")``
returning one row per text (``vecdiag.embedders.SentenceTransformerEmbedder`` is one).
"""

from __future__ import annotations

import re

import numpy as np

from .. import _validate as V
from ..neighbors.scoring import (corpus_copies, make_neighbors, prepare, score_block,
                                 tie_copies, top_k)

__all__ = ["Words", "add_prefix", "chunk_documents", "chunk_spans", "chunk_text", "words_of"]


def _encode(embedder, texts, kind: str) -> np.ndarray:
    """One row per text, or a ValueError saying how many came back: the rows are matched
    to the texts by position (a model that skipped an empty text shifted every later
    document onto its neighbour's row; one extra row was ranked as a document)."""
    texts = list(texts)
    try:
        out = embedder.encode(texts, kind=kind)
    except TypeError:  # a plain encoder without the kind argument
        out = embedder.encode(texts)
    name = f"embedder output ({'queries' if kind == 'query' else 'documents'})"
    X = V.as_matrix(out, name)
    if X.shape[0] != len(texts):
        raise ValueError(f"{name} has {X.shape[0]} rows for {len(texts)} {kind} texts; the "
                         "embedder must return one vector per text, in order")
    return X


def add_prefix(query_texts, texts, embedder, k: int = 10, *, metric: str = "cosine",
               ids=None, query_prefix: str | None = None, document_prefix: str | None = None):
    """Re-embed queries and documents with the model's query/passage instructions, search.

    The prefixes come from the arguments (prepended here) or, when both are None, from
    the embedder's own ``query_prefix`` / ``document_prefix`` (it adds them itself when
    asked for ``kind="query"`` / ``"document"``). E5 models, for instance, expect
    ``"query: "`` and ``"passage: "``.

    Returns
    -------
    Neighbors
        Exact search of the re-embedded queries against the re-embedded documents.

    Examples
    --------
    >>> class Echo:  # a toy "model" that sees whether a text starts with "query: "
    ...     def encode(self, texts, kind="document"):
    ...         return np.array([[t.startswith("query: ") + 0.1, 1.0] for t in texts])
    >>> add_prefix(["q"], ["d1", "query: d2"], Echo(), k=1, query_prefix="query: ",
    ...            document_prefix="").indices.tolist()
    [[1]]
    """
    from ..neighbors import knn

    V.check_ordered(query_texts, "query_texts")
    V.check_ordered(texts, "texts")
    own = (getattr(embedder, "query_prefix", "") or "", getattr(embedder, "document_prefix", "") or "")
    if query_prefix is None and document_prefix is None:
        if not any(own):
            raise ValueError("add_prefix needs query_prefix= and/or document_prefix= (e.g. "
                             "'query: ' and 'passage: ' for E5 models), or an embedder "
                             "configured with them")
        qt, dt = list(query_texts), list(texts)
    else:
        if any(own):
            raise ValueError("the embedder already adds its own prefixes; pass either the "
                             "prefixes or an embedder configured with them, not both")
        qt = [(query_prefix or "") + t for t in query_texts]
        dt = [(document_prefix or "") + t for t in texts]
    if not qt:  # zero queries: an empty (0, k) ranking, as knn gives, nothing re-embedded
        k, ids = V.check_k(k, len(dt)), V.check_ids(ids, len(dt))
        return make_neighbors(np.empty((0, k), dtype=np.int64), np.empty((0, k)),
                              V.check_metric(metric), ids, None)
    Qn, Cn = _encode(embedder, qt, "query"), _encode(embedder, dt, "document")
    found = knn(Qn, Cn, V.check_k(k, Cn.shape[0]), metric=metric)
    ids = V.check_ids(ids, Cn.shape[0])
    return make_neighbors(found.indices, found.scores, metric, ids, None)


# Scripts written without spaces between words (Chinese, Japanese kana and kanji, their
# punctuation and full-width forms): each character counts as one word, about one token
# of a text model (see vecdiag.embedders.tokens), so a long document in them can be cut.
# subtle: a character keeps the combining marks that follow it (the voiced-sound marks of
# decomposed kana, NFD text as macOS writes it: "か" + U+3099 is "が"; accents; variation
# selectors of kanji): a mark split off as a "word" of its own doubled the count and a
# window could start with a mark that belongs to the character before it.
_MARKS = ("\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\u3099\u309a"
          "\ufe00-\ufe0f\ufe20-\ufe2f\U000e0100-\U000e01ef")
_UNSPACED = re.compile("([\u3000-\u303f\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf"
                       "\u4e00-\u9fff\uf900-\ufaff\uff01-\uff9f\U00020000-\U0003134f]"
                       f"[{_MARKS}]*)")


class Words(list):
    """A text's words, as :func:`chunk_text` counts them (see :func:`words_of`); ``text(i,
    j)`` writes words ``i:j`` back as text: one space between words, none between
    characters of an unspaced script that stood together."""

    def __init__(self, units, spaced):
        super().__init__(units)
        self.spaced = spaced            # per word: whitespace stood before it

    def text(self, start: int = 0, stop: int | None = None) -> str:
        units = self[start:stop]
        spaced = self.spaced[start:stop]
        return "".join((" " if s and i else "") + u for i, (u, s) in
                       enumerate(zip(units, spaced)))

    def without(self, i: int) -> str:
        """The text with word ``i`` left out (a space stays where one stood on either
        side of it)."""
        spaced = list(self.spaced)
        if i + 1 < len(self):
            spaced[i + 1] = spaced[i] or spaced[i + 1]
        return Words(self[:i] + self[i + 1:], spaced[:i] + spaced[i + 1:]).text()


def words_of(text) -> Words:
    """The words of ``text`` for :func:`chunk_text`: its whitespace-separated words, with
    each character of a script written without spaces (Chinese, Japanese) a word of its
    own, together with the combining marks after it (a decomposed "が", "か" + U+3099, is
    one word).

    Examples
    --------
    >>> w = words_of("a long   text")
    >>> list(w), w.text(1)
    (['a', 'long', 'text'], 'long text')
    >>> w = words_of("东京の天気 is fine")
    >>> list(w), w.text(0, 3), w.text(3)
    (['东', '京', 'の', '天', '気', 'is', 'fine'], '东京の', '天気 is fine')
    >>> w.without(4), w.without(5)
    ('东京の天 is fine', '东京の天気 fine')
    """
    text = str(text)
    words = text.split()
    if text.isascii() or not _UNSPACED.search(text):
        return Words(words, [True] * len(words))
    units, spaced = [], []
    for word in words:
        parts = [p for p in _UNSPACED.split(word) if p]
        units.extend(parts)
        spaced.extend([True] + [False] * (len(parts) - 1))
    return Words(units, spaced)


def chunk_text(text: str, chunk_words: int, overlap: int = 0) -> list[str]:
    """Split a text into windows of ``chunk_words`` words, consecutive windows sharing
    ``overlap`` words; a text no longer than one window is returned whole. Each
    character of Chinese or Japanese counts as a word (:func:`words_of`). Needs
    integers ``chunk_words >= 1`` and ``0 <= overlap < chunk_words`` (a ValueError or
    TypeError names the one that is not).

    Examples
    --------
    >>> chunk_text("a b c d e", 2, 1)
    ['a b', 'b c', 'c d', 'd e']
    >>> chunk_text("a b", 5)
    ['a b']
    >>> chunk_text("今日は晴れ", 2)
    ['今日', 'は晴', 'れ']
    """
    words = words_of(text)
    spans = chunk_spans(len(words), chunk_words, overlap)    # checks both numbers
    if len(words) <= chunk_words:
        return [str(text)]
    return [words.text(a, b) for a, b in spans]


def chunk_spans(n_words: int, chunk_words: int, overlap: int = 0) -> list[tuple[int, int]]:
    """``(start, stop)`` word spans of :func:`chunk_text`'s windows over ``n_words``
    words: ``chunk_words`` long (the last may be shorter), each starting ``chunk_words -
    overlap`` after the one before, until a window reaches the last word; one span of
    every word when they fit in one window. (The explanation's windows past a model's
    cut, :func:`vecdiag.explain.text_evidence.unread_windows`, are these spans too.)

    Examples
    --------
    >>> chunk_spans(5, 2, 1), chunk_spans(3, 4)
    ([(0, 2), (1, 3), (2, 4), (3, 5)], [(0, 3)])
    """
    # an overlap of chunk_words or more never moved forward (range() failed, or no
    # window at all: the text was dropped); a negative one skipped words between windows
    chunk_words = V.check_positive_int(chunk_words, "chunk_words")
    overlap = V.check_positive_int(overlap, "overlap", minimum=0)
    if overlap >= chunk_words:
        raise ValueError(f"overlap={overlap} must be smaller than chunk_words={chunk_words}; "
                         "otherwise the window never moves forward")
    if n_words <= chunk_words:
        return [(0, n_words)]
    stride = chunk_words - overlap
    return [(s, min(s + chunk_words, n_words)) for s in range(0, n_words - overlap, stride)]


def chunk_documents(queries, corpus, texts, embedder, k: int = 10, *, metric: str = "cosine",
                    ids=None, chunk_words: int | None = None, overlap: int | None = None):
    """Score each long document by its best-matching chunk (MaxP) instead of one
    truncated vector.

    Documents of at most ``chunk_words`` words keep their given vectors; longer ones are
    split (:func:`chunk_text`), each chunk embedded as a document, and the document's
    score for a query is its best chunk's score (the lowest distance for euclidean).
    ``chunk_words`` defaults to 60% of the embedder's ``max_tokens`` (a word is about
    1.3 tokens), else 128; ``overlap`` to a quarter of it.

    Examples
    --------
    >>> class Letters:  # a toy "model": counts of the letters a, b, z
    ...     def encode(self, texts, kind="document"):
    ...         return np.array([[t.count(c) + 0.01 for c in "abz"] for t in texts])
    >>> docs = ["b b", "a " * 12 + "z", "b z"]
    >>> emb = Letters()
    >>> Q, C = emb.encode(["z"], kind="query"), emb.encode(docs)
    >>> plain_top = int(np.argmax(C @ Q[0] / np.linalg.norm(C, axis=1)))
    >>> plain_top  # one vector per document: the long one's "z" is drowned out
    2
    >>> chunk_documents(Q, C, docs, emb, k=1, chunk_words=4, overlap=0).indices.tolist()
    [[1]]
    """
    # a misspelt metric ("Cosine") scored by dot product under that label
    metric = V.check_metric(metric)
    C = V.as_matrix(corpus, "corpus")
    Q = V.as_matrix(queries, "queries", allow_empty=True)
    V.check_same_dim(Q, "queries", C, "corpus")
    texts = list(V.check_ordered(texts, "texts"))
    if len(texts) != C.shape[0]:
        raise ValueError(f"texts has {len(texts)} entries but the corpus has {C.shape[0]} rows")
    if chunk_words is None:
        limit = getattr(embedder, "max_tokens", None)
        chunk_words = max(8, int(0.6 * limit)) if isinstance(limit, int) else 128
    chunk_words = V.check_positive_int(chunk_words, "chunk_words", minimum=2)
    overlap = chunk_words // 4 if overlap is None else V.check_positive_int(overlap, "overlap", minimum=0)
    if overlap >= chunk_words:
        raise ValueError(f"overlap={overlap} must be smaller than chunk_words={chunk_words}")
    k = V.check_k(k, C.shape[0])
    owners, pieces = [], []
    for i, t in enumerate(texts):
        parts = chunk_text(t, chunk_words, overlap)
        if len(parts) > 1:
            owners.extend([i] * len(parts))
            pieces.extend(parts)
    sim_metric = metric
    Cp, Qp = prepare(C, metric, "corpus"), prepare(Q, metric, "queries")
    # copies of a row score as that row (a matrix product need not give them one score);
    # before the chunks: a copy whose text is long is scored by its own chunks
    S = tie_copies(score_block(Qp, Cp, sim_metric).astype(np.float64), corpus_copies(C))
    if pieces and Q.shape[0]:  # zero queries: no chunk to embed
        chunk_vecs = prepare(_encode(embedder, pieces, "document"), metric, "chunks")
        V.check_same_dim(chunk_vecs, "chunk embeddings", C, "corpus")
        chunk_s = score_block(Qp, chunk_vecs, sim_metric)
        owners = np.asarray(owners)
        long_docs = np.unique(owners)
        S[:, long_docs] = -np.inf
        for j, o in enumerate(owners):
            np.maximum(S[:, o], chunk_s[:, j], out=S[:, o])
    indices, scores = top_k(S, k)
    if metric == "euclidean":
        scores = -scores
    ids = V.check_ids(ids, C.shape[0])
    return make_neighbors(indices, scores, metric, ids, None)
