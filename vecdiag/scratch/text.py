"""First-principles text retrieval for notebook 05, the last lesson of :mod:`vecdiag.scratch`:
tokens, chunks, BM25 and reciprocal rank fusion, written to be read.

These are the definitions, in plain Python; the fast, validated versions are
:func:`vecdiag.lexical.bm25` (through bm25s), :func:`vecdiag.fixes.hybrid` and
:func:`vecdiag.fixes.chunk_documents`. The tests check each against them.
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata

from .._options import check_bm25_parameters
from .._words import word_pattern

__all__ = ["tokenize", "chunk", "bm25", "rrf"]



def tokenize(text: str) -> list[str]:
    """Case-folded words of two or more word characters, in order, after Unicode NFC
    composition (so "e" followed by a combining accent is the letter "é"); combining
    marks (Hindi and Thai vowel signs, Arabic vowel points) belong to their word.

    A model's own tokenizer splits differently (MiniLM's WordPiece cuts rare words into
    pieces, so a text has more tokens than words); this is the tokenizer of BM25.

    Parameters
    ----------
    text : str

    Returns
    -------
    list of str

    Examples
    --------
    >>> tokenize("Reset the RT-2000 router, then wait 2 min.")
    ['reset', 'the', 'rt', '2000', 'router', 'then', 'wait', 'min']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    # subtle: a combining mark is not a word character (\w): "e\u0301cole" would split
    # into "e" and "cole" (NFC composes it into "école"), and a Hindi or Thai vowel
    # sign, which has no composed form, would cut its word apart ("भारत" gave "रत"):
    # the pattern counts marks as part of a word
    # subtle: casefold, not lower: "Straße".lower() is "straße", "STRASSE".lower() is
    # "strasse", two words for one; casefold gives "strasse" for both. A folded letter
    # can come out decomposed ("ΐ" folds to ι and two marks): compose again
    text = unicodedata.normalize("NFC", text).casefold()
    return re.findall(word_pattern(), unicodedata.normalize("NFC", text))


def chunk(tokens, size: int, overlap: int = 0) -> list[list]:
    """Windows of ``size`` tokens, consecutive windows sharing ``overlap`` tokens.

    Every token lands in some window, the last window may be shorter, and no window lies
    entirely inside the previous one. A sequence no longer than ``size`` is one window.
    This is how :func:`vecdiag.fixes.chunk_text` splits a text into words.

    Parameters
    ----------
    tokens : iterable
        Any sequence (tokens, words, characters).
    size : int
        Window length, at least 1.
    overlap : int
        Items shared by consecutive windows, ``0 <= overlap < size``.

    Returns
    -------
    list of lists

    Examples
    --------
    >>> chunk(list("abcdefg"), 3, 1)
    [['a', 'b', 'c'], ['c', 'd', 'e'], ['e', 'f', 'g']]
    """
    # NumPy integers count (as in vecdiag.fixes.chunk_text); bools and floats do not
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, numbers.Integral) or not 0 <= overlap < size:
        raise ValueError(f"overlap={overlap!r} must be an integer with 0 <= overlap < size={size}: "
                         "otherwise the window never moves forward")
    size, overlap = int(size), int(overlap)
    tokens = list(tokens)
    if len(tokens) <= size:
        return [tokens]
    windows = []
    for start in range(0, len(tokens), size - overlap):
        windows.append(tokens[start:start + size])
        if start + size >= len(tokens):     # this window reached the end
            break
    return windows


def bm25(query, docs, *, k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Lucene's BM25 score of every document for one query, token lists in.

    ``score(d) = Σ_{t ∈ set(query)} idf(t) · tf / (tf + k1 · (1 − b + b · |d| / avgdl))``
    with ``idf(t) = ln(1 + (N − df + 0.5) / (df + 0.5))``: tf is how often t occurs in
    d, df how many documents contain it, N the number of documents, avgdl their mean
    length. Three ideas: rare terms count more (idf), the 5th repetition adds less than
    the 1st (the fraction ``tf / (tf + ...)`` stays below 1, so a term adds less than
    its idf however often it occurs; Lucene dropped the constant factor k1 + 1 of
    Robertson's formula, which changes no ranking), and a long document needs more
    occurrences for the same score (b).

    Parameters
    ----------
    query : list of str
        Query tokens (see :func:`tokenize`); a repeated term counts once
        (:func:`vecdiag.lexical.bm25`, through bm25s, counts it each time it occurs).
    docs : list of list of str
        One token list per document.
    k1, b : float
        Term-frequency saturation (``k1 >= 0``, finite) and length normalisation
        (``0 <= b <= 1``), checked as :func:`vecdiag.lexical.bm25` checks them.

    Examples
    --------
    >>> docs = [["cat", "sat"], ["dog", "sat"], ["cat", "cat", "cat"]]
    >>> [round(s, 4) for s in bm25(["cat"], docs)]
    [0.2009, 0.0, 0.2924]
    >>> idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))   # 'cat' is in 2 of 3 documents
    >>> bm25(["cat"], [["cat"] * 1000, ["cat"], ["dog"]])[0] < idf   # 1000 times: still below
    True
    """
    if isinstance(docs, str):
        raise TypeError("docs must be a list of documents, each a list of tokens; got one string")
    docs = list(docs)
    # subtle: a string is a sequence too, of characters: a text passed for a token list
    # would score 0 for every word instead of failing.
    texts = [i for i, d in enumerate(docs) if isinstance(d, str)]
    if texts:
        raise TypeError(f"docs[{texts[0]}] is a string ({len(texts)} of {len(docs)} documents are), "
                        "not a list of tokens; tokenize them first: [tokenize(t) for t in docs]")
    docs = [list(d) for d in docs]
    if not docs:
        raise ValueError("docs is empty; pass at least one document (a list of tokens)")
    if isinstance(query, str):
        raise TypeError("query must be a list of tokens; use tokenize(text) first")
    check_bm25_parameters(k1, b)         # as vd.lexical.bm25 checks them
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    if avgdl == 0:
        return [0.0] * n
    scores = [0.0] * n
    for term in set(query):
        df = sum(1 for d in docs if term in d)
        if df == 0:
            continue                                      # a term no document has adds nothing
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, d in enumerate(docs):
            tf = d.count(term)
            if tf:
                scores[i] += idf * tf / (tf + k1 * (1 - b + b * len(d) / avgdl))
    return scores


def rrf(rankings, k: float = 60) -> dict:
    """Reciprocal rank fusion: ``score(d) = Σ_lists 1 / (k + rank(d))``, ranks from 1.

    Only ranks are used, so a BM25 list and a cosine list fuse without making their
    scores comparable. A document missing from a list gets nothing from it.

    Parameters
    ----------
    rankings : list of lists of ids, each best first
        Each names a document once (a repeat, a string or a dict is refused).
    k : float, default 60
        Larger k flattens the difference between the first ranks.

    Returns
    -------
    dict
        ``{id: fused score}``, best first (ties by first appearance).

    Examples
    --------
    >>> {d: round(s, 4) for d, s in rrf([["a", "b"], ["b", "c"]], k=1).items()}
    {'b': 0.8333, 'a': 0.5, 'c': 0.3333}
    """
    # subtle: k = nan passes "k < 0" and makes every score nan: ask for a finite k >= 0
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not 0 <= k < math.inf:
        raise ValueError(f"k must be a finite number >= 0, got {k!r}")
    if isinstance(rankings, (str, bytes, dict)) or not hasattr(rankings, "__iter__"):
        raise TypeError(f"rankings must be a list of rankings, each a list of ids best "
                        f"first, got {type(rankings).__name__}")
    fused: dict = {}
    for i, ranking in enumerate(rankings):
        # subtle: a string is a sequence of characters, and a {doc: score} dict iterates
        # its keys in insertion order, not best first
        if isinstance(ranking, (str, bytes, dict)):
            raise TypeError(f"rankings[{i}] is a {type(ranking).__name__}; pass a list of ids, "
                            "best first (of a {doc: score} dict: sorted(d, key=d.get, "
                            "reverse=True))")
        ranks: dict = {}
        for rank, doc in enumerate(ranking, start=1):
            if doc in ranks:     # subtle: counted twice, it would gain from both ranks
                raise ValueError(f"rankings[{i}] lists {doc!r} twice (ranks {ranks[doc]} "
                                 f"and {rank}); a ranking names each document once")
            ranks[doc] = rank
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank)
    return dict(sorted(fused.items(), key=lambda item: -item[1]))
