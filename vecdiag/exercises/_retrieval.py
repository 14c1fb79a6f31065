"""Exercises of notebook 05 (why search fails): chunk, bm25, rrf."""

from __future__ import annotations

import math

from ._grader import Case, Mistake


# ---------------------------------------------------------------------------- model answers
def solution_chunk(tokens, size, overlap=0):
    if overlap < 0 or overlap >= size:
        raise ValueError(f"overlap={overlap} must be at least 0 and smaller than size={size}")
    tokens = list(tokens)
    if len(tokens) <= size:
        return [tokens]
    step = size - overlap
    chunks = []
    for start in range(0, len(tokens), step):
        chunks.append(tokens[start:start + size])
        if start + size >= len(tokens):       # this window reached the end: stop
            break
    return chunks


def solution_bm25(query, docs, k1=1.5, b=0.75):
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    scores = [0.0] * n
    for term in set(query):
        df = sum(1 for d in docs if term in d)
        if df == 0:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))     # Lucene's idf: never negative
        for i, d in enumerate(docs):
            tf = d.count(term)
            if tf:
                scores[i] += idf * tf / (tf + k1 * (1 - b + b * len(d) / avgdl))
    return scores


def solution_rrf(rankings, k=60):
    fused = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):       # ranks start at 1
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank)
    return fused


# ---------------------------------------------------------------------------- wrong answers
def _chunk_drop_tail(tokens, size, overlap=0):
    if overlap >= size:
        raise ValueError("overlap must be smaller than size")
    step = size - overlap
    return [list(tokens[s:s + size]) for s in range(0, len(tokens) - size + 1, step)] or [list(tokens)]


def _chunk_ignore_overlap(tokens, size, overlap=0):
    if overlap >= size:
        raise ValueError("overlap must be smaller than size")
    return [list(tokens[s:s + size]) for s in range(0, len(tokens), size)]


def _chunk_extra_tail(tokens, size, overlap=0):
    if overlap >= size:
        raise ValueError("overlap must be smaller than size")
    return [list(tokens[s:s + size]) for s in range(0, len(tokens), size - overlap)]


def _chunk_no_check(tokens, size, overlap=0):
    out, start = [], 0
    while True:
        out.append(list(tokens[start:start + size]))
        if start + size >= len(tokens):
            return out
        start += size - overlap


def _bm25_variant(idf_fn=None, use_b=True, saturate=True):
    def bm25(query, docs, k1=1.5, b=0.75):
        n = len(docs)
        avgdl = sum(len(d) for d in docs) / n
        scores = [0.0] * n
        for term in set(query):
            df = sum(1 for d in docs if term in d)
            if df == 0:
                continue
            idf = idf_fn(n, df) if idf_fn else math.log(1 + (n - df + 0.5) / (df + 0.5))
            for i, d in enumerate(docs):
                tf = d.count(term)
                if not tf:
                    continue
                norm = (1 - b + b * len(d) / avgdl) if use_b else 1.0
                scores[i] += idf * (tf / (tf + k1 * norm) if saturate else tf)
        return scores
    return bm25


def _bm25_fixed_params(query, docs, k1=1.5, b=0.75):
    return solution_bm25(query, docs)              # k1 and b ignored: always 1.5 and 0.75


def _rrf_zero_based(rankings, k=60):
    fused = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank)
    return fused


def _rrf_no_k(rankings, k=60):
    fused = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / rank
    return fused


def _rrf_intersection(rankings, k=60):
    common = set(rankings[0]).intersection(*map(set, rankings[1:]))
    return {d: s for d, s in solution_rrf(rankings, k).items() if d in common}


# ---------------------------------------------------------------------------- cases
def cases(name):
    if name == "chunk":
        t = list("abcdefghij")
        return [
            Case("short text: one chunk", (list("abc"), 5, 1), [list("abc")],
                 "a text no longer than size is one chunk", compare="lists"),
            Case("exact fit, no overlap", (list("abcdef"), 3, 0), [list("abc"), list("def")],
                 "windows of size tokens, one after the other", compare="lists"),
            Case("keep the tail", (list("abcdefg"), 3, 0), [list("abc"), list("def"), list("g")],
                 "the last window may be shorter: dropping it loses the end of the document",
                 compare="lists"),
            Case("overlap", (t, 4, 2), [list("abcd"), list("cdef"), list("efgh"), list("ghij")],
                 "consecutive windows share overlap tokens: step by size - overlap", compare="lists"),
            Case("no window inside another", (list("abcdefgh"), 4, 1),
                 [list("abcd"), list("defg"), list("gh")],
                 "stop once a window reaches the end", compare="lists"),
            Case("overlap >= size", (t, 3, 3), ValueError,
                 "overlap >= size means the window never moves: raise ValueError naming overlap",
                 error_words=("overlap",)),
        ]
    if name == "bm25":
        docs = [["cat", "sat", "mat"], ["dog", "sat"], ["cat", "cat", "cat", "cat", "cat", "cat"],
                ["bird", "flew", "over", "the", "mat", "and", "the", "cat"]]
        return [
            Case("one rare term", (["dog"], docs), solution_bm25(["dog"], docs),
                 "score = idf(term) * tf / (tf + k1 * (1 - b + b * len(d) / avgdl)), summed over query terms"),
            Case("a term in most documents", (["sat", "cat"], docs), solution_bm25(["sat", "cat"], docs),
                 "a common term still counts a little: idf = ln(1 + (N - df + 0.5) / (df + 0.5))"),
            Case("repetition saturates", (["cat"], docs), solution_bm25(["cat"], docs),
                 "six 'cat's are not six times one 'cat': tf / (tf + k1 * ...) saturates"),
            Case("long documents", (["mat"], docs), solution_bm25(["mat"], docs),
                 "a long document needs more occurrences: normalise by len(d) / avgdl with b"),
            Case("unknown term", (["zebra"], docs), [0.0] * 4, "a term in no document adds nothing"),
            Case("other k1 and b", (["cat", "mat"], docs, 1.2, 1.0), solution_bm25(["cat", "mat"], docs, 1.2, 1.0),
                 "use the k1 and b the caller passes (here k1=1.2, b=1.0), not the defaults"),
        ]
    if name == "rrf":
        return [
            Case("two lists", ([["a", "b", "c"], ["b", "c", "d"]],),
                 {"a": 1 / 61, "b": 1 / 62 + 1 / 61, "c": 1 / 63 + 1 / 62, "d": 1 / 63},
                 "score(d) = sum over lists of 1 / (k + rank), rank 1 for the first", compare="dict"),
            Case("k = 0", ([["a", "b"], ["b"]], 0), {"a": 1.0, "b": 1 / 2 + 1.0},
                 "with k = 0 the first document of each list scores 1 / 1", compare="dict"),
            Case("a document in one list only", ([["x"], ["y", "x"]], 60),
                 {"x": 1 / 61 + 1 / 62, "y": 1 / 61},
                 "a document missing from a list just gets nothing from that list", compare="dict"),
        ]
    raise KeyError(name)


MISTAKES = {
    "chunk": [
        Mistake("drop_tail", _chunk_drop_tail,
                "range(0, len(tokens) - size + 1, step) never starts a last, shorter window: the end "
                "of the document is lost; keep going until a window reaches the end"),
        Mistake("ignore_overlap", _chunk_ignore_overlap,
                "you step by size: consecutive windows must share overlap tokens, so step by size - overlap"),
        Mistake("extra_tail", _chunk_extra_tail,
                "range(0, len(tokens), step) adds windows that lie entirely inside the previous one: "
                "stop after the first window that reaches the end"),
        Mistake("no_check", _chunk_no_check,
                "with overlap >= size the step is 0 or negative and the loop never ends: check "
                "overlap < size first and raise ValueError naming overlap"),
    ],
    "bm25": [
        Mistake("robertson_idf", _bm25_variant(idf_fn=lambda n, df: math.log((n - df + 0.5) / (df + 0.5))),
                "idf = log((N - df + 0.5) / (df + 0.5)) is negative for a term in more than half the "
                "documents, so matching it lowers the score: use Lucene's log(1 + ...)"),
        Mistake("no_length_norm", _bm25_variant(use_b=False),
                "you left out length normalisation: tf / (tf + k1 * (1 - b + b * len(d) / avgdl))"),
        Mistake("no_saturation", _bm25_variant(saturate=False),
                "idf * tf grows without limit: BM25 saturates, tf / (tf + k1 * ...), so the 6th "
                "repetition adds far less than the 1st"),
        Mistake("fixed_params", _bm25_fixed_params,
                "you ignore the k1 and b passed in: a caller tuning BM25 (k1=1.2, b=1.0) gets the "
                "default scores; use the parameters in the formula"),
    ],
    "rrf": [
        Mistake("zero_based", _rrf_zero_based,
                "enumerate counts from 0: the first document has rank 1 (enumerate(ranking, start=1))"),
        Mistake("no_k", _rrf_no_k,
                "you used 1 / rank: RRF is 1 / (k + rank), and k (60 by default) flattens the "
                "difference between the first ranks"),
        Mistake("intersection", _rrf_intersection,
                "you kept only documents found by every list: a document missing from one list still "
                "scores from the others (that is the point of fusing a lexical and a dense run)"),
    ],
}

SIGNATURES = {
    "chunk": "chunk(tokens, size, overlap=0) -> list of token windows covering every token "
             "(ValueError naming overlap when overlap >= size)",
    "bm25": "bm25(query, docs, k1=1.5, b=0.75) -> one Lucene BM25 score per document (tokens in, lists)",
    "rrf": "rrf(rankings, k=60) -> {doc: fused score}, rankings = lists of doc ids, best first",
}

SOLUTIONS = {name: globals()[f"solution_{name}"] for name in SIGNATURES}
