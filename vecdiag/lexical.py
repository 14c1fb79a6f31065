"""Lexical retrieval: BM25 through the ``bm25s`` package (extra ``lexical``).

>>> run = bm25(["cat"], ["a cat sat", "a dog ran"], k=2)   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from . import _validate as V
from ._optional import require
from ._words import fold, word_pattern

__all__ = ["bm25"]


def _texts(x, name: str) -> list[str]:
    if isinstance(x, str):
        raise TypeError(f"{name} must be a list of texts, not a single string; wrap it: [{name}]")
    if x is None or not hasattr(x, "__iter__"):
        raise TypeError(f"{name} must be a list of texts, got {type(x).__name__}")
    # subtle: an accent typed as a combining mark ("e" + U+0301, as macOS file names and
    # some PDFs store it) is no word character: "école" became the word "cole" (matching
    # "cole slaw", never "école"). NFC composes it first, as scratch.tokenize does.
    return [fold(t) for t in V.text_list(x, name)]    # as every word is compared (_words)


def bm25(query_texts, corpus_texts, k: int = 100, *, query_ids=None, doc_ids=None,
         k1: float = 1.5, b: float = 0.75, method: str = "lucene",
         stopwords: str | list | None = "en", stemmer=None, show_progress: bool = False) -> dict:
    """Rank the corpus for every query with BM25 (Robertson et al.), via ``bm25s``.

    Parameters
    ----------
    query_texts, corpus_texts : sequence of str
    k : int, default 100
        Documents kept per query (all of them when the corpus is smaller).
    query_ids, doc_ids : sequence or None
        Ids for the run (default: positions 0, 1, ...), each unique.
    k1, b : float
        BM25 term-frequency saturation (``k1 >= 0``) and length normalisation
        (``0 <= b <= 1``).
    method : str, default "lucene"
        bm25s variant ("lucene", "robertson", "atire", "bm25l", "bm25+"). Robertson's
        idf ``ln((N - df + 0.5) / (df + 0.5))`` is negative for a word in more than half
        of the documents; a document scoring 0 or less is left out like one sharing no word.
    stopwords : "en", list of str or None
        Words dropped by the tokenizer (case-folded, words of 2+ word characters or
        combining marks, after Unicode NFC composition: "e" + a combining acute accent
        is "é", "Straße" and "STRASSE" are one word, and a Hindi or Thai vowel sign stays
        in its word). A list is compared in the same form ("The" drops "the"); a string
        names bm25s' list for a language.
    stemmer : callable or None
        E.g. ``Stemmer.Stemmer("english").stemWords`` from PyStemmer.

    Returns
    -------
    dict
        ``{query_id: {doc_id: score}}``, best first. Documents sharing no term with the
        query (score 0) are left out, so a query may have fewer than k documents (none
        when every one of its words is unknown or a stopword). Tied documents come in
        corpus order here, as the dense search orders them, but :func:`vecdiag.evaluate`
        and :func:`vecdiag.fixes.hybrid` read a run dict as trec_eval does, ties by doc
        id descending as strings: for ``bm25(["cat"], ["cat sat", "cat ran"])`` both
        rank document 1 before 0 (the ``hybrid_lexical`` fix keeps corpus order).

    Notes
    -----
    Lucene's BM25: ``score(q, d) = Σ_{t ∈ q} idf(t) · tf / (tf + k1 (1 - b + b |d| / avgdl))``
    with ``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))``, where tf is the term's count
    in d, df the number of documents containing it, N the corpus size. Ties break by
    lower corpus position.

    Words are split at anything that is not a letter, digit or combining mark, so a
    script written without spaces (Chinese, Japanese, Thai) gives one word per unbroken
    run: "東京都に住む" is one word, which the query "東京" does not match. Segment such
    texts first (e.g. jieba, fugashi, pythainlp) and join the words with spaces. Emoji
    and one-character words are not words.

    Examples
    --------
    >>> run = bm25(["cat"], ["a cat sat", "a dog ran", "cat cat"], k=3, stopwords=None)
    >>> list(run[0])
    [2, 0]
    """
    bm25s = require("bm25s", "BM25")
    queries = _texts(query_texts, "query_texts")
    docs = _texts(corpus_texts, "corpus_texts")
    if not docs:
        raise ValueError("corpus_texts is empty; pass at least one document")
    k = min(V.check_positive_int(k, "k"), len(docs))
    show_progress = bool(V.check_show_progress(show_progress))  # "no" is truthy: refused
    # bm25s takes any number: k1 < 0 gives inf or negative scores, NaN an empty run
    V.check_bm25_parameters(k1, b)
    # bm25s named neither the argument nor our name for it ("Invalid score_idf_inner
    # value: BM25+"), and a corpus of stop words only took any method
    V.check_choice(method, "method", _METHODS)
    if stopwords is not None and not isinstance(stopwords, str):
        # subtle: the tokens are case-folded and NFC-composed, the list was used as given:
        # stopwords=["The"] dropped nothing ("the" scored), so it is read the same way
        # (a set is fine here: it is a vocabulary, not one entry per row)
        stopwords = list(stopwords)
        bad = [w for w in stopwords if not isinstance(w, str)]
        if bad:
            raise TypeError(f"stopwords must hold strings; {len(bad)} do not (first: "
                            f"{bad[0]!r}); pass words, e.g. stopwords=['the', 'of']")
        stopwords = [fold(w) for w in stopwords]
    # a repeated query id would keep only its last query's ranking in the run
    qids = list(range(len(queries))) if query_ids is None else list(
        V.check_ids(query_ids, len(queries), "query_ids", rows_of="query_texts has"))
    dids = np.arange(len(docs)) if doc_ids is None else V.check_ids(doc_ids, len(docs), "doc_ids")
    retriever, words = _retriever(bm25s, docs, stopwords=stopwords, stemmer=stemmer, k1=k1,
                                  b=b, method=method, show_progress=show_progress)
    # lower=False: the texts are case-folded already (bm25s' str.lower would undo a fold)
    query_tokens = bm25s.tokenize(queries, stopwords=stopwords, stemmer=stemmer,
                                  return_ids=False, show_progress=show_progress,
                                  token_pattern=word_pattern(), lower=False)
    run = {}
    for qid, tokens in zip(qids, query_tokens):
        scores = np.asarray(retriever.get_scores(tokens), dtype=np.float64) \
            if tokens and retriever is not None else np.zeros(len(docs))
        if words is not None and tokens:
            # bm25l and bm25+ give every document a share for a query word it lacks: one
            # sharing no word with the query would enter the run
            scores = np.where(_shares_a_word(words, tokens), scores, 0.0)
        order = np.lexsort((np.arange(scores.size), -scores))[:k]
        order = order[scores[order] > 0]
        run[qid] = {dids[i].item() if hasattr(dids[i], "item") else dids[i]: float(scores[i])
                    for i in order}
    return run


# The last few corpus indexes, so that explaining one query after another (or scoring a
# fix, then explaining) tokenizes and indexes the same corpus once. Keyed by the
# settings and the texts themselves (a hit compares the texts, not only their hash).
_RETRIEVERS: dict = {}
_MAX_RETRIEVERS = 2


def _retriever(bm25s, docs, *, stopwords, stemmer, k1, b, method, show_progress):
    """A bm25s index of ``docs`` with these settings, reused when the same texts come again;
    None when no document has a word to index (empty texts, only stop words): every score
    is then 0 (bm25s itself cannot index an empty vocabulary)."""
    texts = tuple(docs)
    stop_key = stopwords if isinstance(stopwords, (str, type(None))) else tuple(stopwords)
    key = (len(texts), hash(texts), stop_key, id(stemmer), k1, b, method)
    hit = _RETRIEVERS.get(key)
    if hit is not None and hit[0] == texts and hit[1] is stemmer:
        return hit[2]
    corpus_tokens = bm25s.tokenize(list(texts), stopwords=stopwords, stemmer=stemmer,
                                   show_progress=show_progress, token_pattern=word_pattern(),
                                   lower=False)
    retriever = words = None
    if corpus_tokens.vocab:
        retriever = bm25s.BM25(k1=k1, b=b, method=method)
        retriever.index(corpus_tokens, show_progress=show_progress)
        if method in _SCORE_ABSENT_WORDS:
            words = _word_incidence(corpus_tokens)
    while len(_RETRIEVERS) >= _MAX_RETRIEVERS:
        _RETRIEVERS.pop(next(iter(_RETRIEVERS)))
    _RETRIEVERS[key] = (texts, stemmer, (retriever, words))
    return retriever, words


_METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
_SCORE_ABSENT_WORDS = ("bm25l", "bm25+")   # variants that score a query word a document lacks


def _word_incidence(corpus_tokens):
    """``(vocabulary, documents x words sparse 0/1 matrix)`` of a tokenized corpus."""
    from scipy import sparse

    lengths = np.array([len(ids) for ids in corpus_tokens.ids], dtype=np.int64)
    cols = np.fromiter((i for ids in corpus_tokens.ids for i in ids), dtype=np.int64,
                       count=int(lengths.sum()))
    rows = np.repeat(np.arange(lengths.size), lengths)
    matrix = sparse.csr_matrix((np.ones(cols.size, dtype=np.int8), (rows, cols)),
                               shape=(lengths.size, len(corpus_tokens.vocab)))
    return corpus_tokens.vocab, matrix


def _shares_a_word(words, tokens) -> np.ndarray:
    """Per document, whether it holds at least one of the query's ``tokens``."""
    vocab, matrix = words
    cols = sorted({vocab[t] for t in tokens if t in vocab})
    if not cols:
        return np.zeros(matrix.shape[0], dtype=bool)
    return matrix[:, cols].getnnz(axis=1) > 0
