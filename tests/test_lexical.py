"""vecdiag.lexical.bm25 against a BM25 computed by hand (Lucene's formula) and against
bm25s used directly."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

import vecdiag as vd

DOCS = ["the cat sat on the mat", "dogs chase cats in the park", "a quick brown fox",
        "cat cat cat", "the cat and the dog are friends", "stock markets fell sharply"]


def hand_bm25(query, docs, k1=1.5, b=0.75):
    """Lucene BM25 with the tokenizer bm25s uses without stopwords: lower-case words of
    two or more word characters."""
    import re

    tok = [re.findall(r"(?u)\b\w\w+\b", d.lower()) for d in docs]
    N, avgdl = len(docs), sum(map(len, tok)) / len(docs)
    df = Counter(t for d in tok for t in set(d))
    scores = []
    for d in tok:
        tf = Counter(d)
        s = 0.0
        for t in re.findall(r"(?u)\b\w\w+\b", query.lower()):
            if tf[t]:
                idf = math.log(1 + (N - df[t] + 0.5) / (df[t] + 0.5))
                s += idf * tf[t] / (tf[t] + k1 * (1 - b + b * len(d) / avgdl))
        scores.append(s)
    return np.array(scores)


@pytest.mark.parametrize("query", ["cat", "the cat", "dog park", "quick cat friends"])
def test_bm25_equals_hand_formula(query):
    expected = hand_bm25(query, DOCS)
    run = vd.lexical.bm25([query], DOCS, k=len(DOCS), stopwords=None)[0]
    order = [i for i in np.lexsort((np.arange(len(DOCS)), -expected)) if expected[i] > 0]
    assert list(run) == order
    np.testing.assert_allclose([run[i] for i in order], expected[order], rtol=1e-5)


def test_bm25_matches_bm25s_directly():
    import bm25s

    queries = ["cat on a mat", "markets", "brown dogs"]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(DOCS, stopwords="en", show_progress=False), show_progress=False)
    q_tokens = bm25s.tokenize(queries, stopwords="en", show_progress=False)
    docs, scores = retriever.retrieve(q_tokens, k=3, show_progress=False)
    run = vd.lexical.bm25(queries, DOCS, k=3, query_ids=["a", "b", "c"],
                          doc_ids=[f"d{i}" for i in range(len(DOCS))])
    for qid, row_docs, row_scores in zip("abc", docs, scores):
        ours = run[qid]
        theirs = {f"d{d}": float(s) for d, s in zip(row_docs, row_scores) if s > 0}
        assert ours == pytest.approx(theirs)


def test_bm25_unknown_words_and_errors():
    run = vd.lexical.bm25(["zebra", "the"], DOCS, k=2)
    assert run == {0: {}, 1: {}}  # unknown word; "the" is an English stopword
    with pytest.raises(TypeError, match="not a single string"):
        vd.lexical.bm25("cat", DOCS)
    with pytest.raises(TypeError, match=r"corpus_texts must hold strings; 1 row \(1\)"):
        vd.lexical.bm25(["cat"], ["a", 3])
    with pytest.raises(ValueError, match="k must be at least 1"):
        vd.lexical.bm25(["cat"], DOCS, k=0)
    assert list(vd.lexical.bm25(["cat"], DOCS, k=100)[0]) == list(vd.lexical.bm25(["cat"], DOCS, k=6)[0])
    with pytest.raises(ValueError, match="doc_ids must be unique"):
        vd.lexical.bm25(["cat"], DOCS, doc_ids=["x"] * len(DOCS))


def test_bm25_missing_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "bm25s", None)  # makes `import bm25s` fail
    with pytest.raises(ImportError, match=r'BM25 needs bm25s: pip install "vecdiag\[lexical\]"'):
        vd.lexical.bm25(["cat"], DOCS)


def test_bm25_repeated_query_ids_refused():
    """Two queries under one id: the run (a dict by query id) would silently keep the
    second query's ranking only, so the first query's documents vanish from it."""
    queries = ["cat", "markets"]
    expected = [hand_bm25(q, DOCS) for q in queries]
    with pytest.raises(ValueError, match=r"query_ids must be unique.*'q' at rows 0 and 1"):
        vd.lexical.bm25(queries, DOCS, query_ids=["q", "q"], stopwords=None)
    with pytest.raises(ValueError, match="query_ids has 1 entry but query_texts has 2 rows"):
        vd.lexical.bm25(queries, DOCS, query_ids=["q"], stopwords=None)
    run = vd.lexical.bm25(queries, DOCS, query_ids=["q1", "q2"], stopwords=None)
    for qid, exp in zip(["q1", "q2"], expected):
        assert set(run[qid]) == set(np.flatnonzero(exp > 0).tolist())


@pytest.mark.parametrize("option", [{"k1": -1.0}, {"k1": float("nan")}, {"k1": float("inf")},
                                    {"b": 2.0}, {"b": -0.5}, {"b": float("nan")}])
def test_bm25_k1_b_out_of_range_refused(option):
    """Lucene's BM25 needs k1 >= 0 and 0 <= b <= 1. Outside them bm25s scored anyway:
    k1=-1 gave "cat" a score of inf (tf / (tf + k1) = 1 / 0), k1=NaN an empty run."""
    name = next(iter(option))
    with pytest.raises(ValueError, match=f"{name} must be"):
        vd.lexical.bm25(["cat"], ["cat", "dog"], stopwords=None, **option)


def test_bm25_limits_of_k1_b_match_the_formula():
    """k1=0 (no tf saturation: score = idf) and b=0, b=1 are legal and follow the formula."""
    for k1, b in [(0.0, 0.75), (1.2, 0.0), (1.2, 1.0)]:
        expected = hand_bm25("cat", DOCS, k1=k1, b=b)
        run = vd.lexical.bm25(["cat"], DOCS, k=len(DOCS), stopwords=None, k1=k1, b=b)[0]
        np.testing.assert_allclose([run[i] for i in sorted(run)],
                                   expected[expected > 0], rtol=1e-5)


@pytest.mark.parametrize("docs", [["", "  ", "\n"], ["the a of", "and", ""], ["a b c"]])
def test_bm25_corpus_without_any_word(docs):
    """No document holds an indexable word (blank texts, stop words, one-letter words):
    every BM25 score is 0, so every run is empty, as for an unknown query word (bm25s
    itself fails on the empty vocabulary with 'max() arg is an empty sequence')."""
    assert not hand_bm25("cat", docs).any()  # "the" is an English stop word
    assert vd.lexical.bm25(["cat the", ""], docs, k=3) == {0: {}, 1: {}}


def test_explain_with_blank_corpus_texts_ranks_by_the_vectors():
    """explain_neighbors with texts that are all blank: no lexical evidence, and the
    hybrid_lexical counterfactual is the dense ranking itself (RRF over one list)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 8))
    q = rng.normal(size=8)
    exp = vd.explain_neighbors(q, X, texts=[""] * 30, query_text="cat", k=3, expected=[7])
    cos = (X @ q) / np.linalg.norm(X, axis=1) / np.linalg.norm(q)
    rank = int(np.flatnonzero(np.lexsort((np.arange(30), -cos)) == 7)[0]) + 1
    assert exp.expected[0].rank == rank
    assert "lexical_mismatch" not in {c.code for c in exp.causes}
    cf = {c.fix: c for c in exp.counterfactuals}["hybrid_lexical"]
    assert cf.expected_ranks[7] == rank


@pytest.mark.parametrize("method", ["bm25l", "bm25+"])
def test_bm25_variants_scoring_absent_words_leave_out_documents_without_a_query_word(method):
    """bm25l and bm25+ give a document a share for a query word it lacks, so documents
    sharing no word with the query entered the run, which the docstring says are left
    out. Words by hand (lower-cased runs of 2+ word characters); the scores of the others
    are bm25s's own."""
    import re

    bm25s = pytest.importorskip("bm25s")
    docs = ["a cat sat", "a dog ran", "cat cat", "", "Dogs and cats"]
    queries = ["cat", "zebra", "dog cat"]
    run = vd.lexical.bm25(queries, docs, k=len(docs), stopwords=None, method=method)
    retriever = bm25s.BM25(method=method, k1=1.5, b=0.75)
    retriever.index(bm25s.tokenize(docs, stopwords=None, show_progress=False),
                    show_progress=False)
    for qid, query in enumerate(queries):
        words = set(re.findall(r"\w\w+", query.lower()))
        sharing = [i for i, d in enumerate(docs) if words & set(re.findall(r"\w\w+", d.lower()))]
        assert sorted(run[qid]) == sharing
        if sharing:
            ref = retriever.get_scores(bm25s.tokenize([query], stopwords=None,
                                                      return_ids=False, show_progress=False)[0])
            np.testing.assert_allclose([run[qid][i] for i in sharing], ref[sharing], rtol=1e-6)


def test_bm25_composes_combining_accents_before_tokenizing():
    """'école' typed with a combining accent ("e" + U+0301) is one word, the same as the
    precomposed 'école': without NFC the accent split it and 'cole' was the word.

    Corpus: doc 0 "e\u0301cole primaire", doc 1 "cole slaw", doc 2 "école" (precomposed).
    'école' is in docs 0 and 2: idf = ln(1 + (3 - 2 + 0.5) / (2 + 0.5)) = ln 1.6; doc 2
    (1 word, avgdl 5/3) scores ln 1.6 / (1 + 1.5 (0.25 + 0.75 * 0.6)) = 0.2299."""
    docs = ["e\u0301cole primaire", "cole slaw", "\u00e9cole"]
    run = vd.lexical.bm25(["e\u0301cole", "cole"], docs, k=3, stopwords=None)
    assert list(run[0]) == [2, 0]
    assert run[0][2] == pytest.approx(math.log(1.6) / (1 + 1.5 * (0.25 + 0.75 * 0.6)), rel=1e-6)
    assert list(run[1]) == [1]              # 'cole' is only in "cole slaw"
    assert vd.scratch.tokenize("E\u0301cole") == ["\u00e9cole"]


@pytest.mark.parametrize("docs", [["a cat", "a dog"], ["the", "of"]])
def test_bm25_unknown_method_names_the_argument(docs):
    """bm25s said "Invalid score_idf_inner value: BM25+"; a corpus of stop words only
    (nothing to index) accepted any method."""
    with pytest.raises(ValueError, match=r"method must be one of 'lucene', .*got 'BM25\+'"):
        vd.lexical.bm25(["cat"], docs, method="BM25+")


def test_bm25_keeps_combining_vowel_signs_in_their_word():
    """A Hindi vowel sign (a combining mark) is no \\w character: 'राजधानी' was the one
    word 'जध', found in the unrelated 'जध रत' too. Now it is one word, in doc 0 only:
    N = 3, avgdl = (5 + 2 + 2) / 3 = 3, idf = ln(1 + 2.5 / 1.5) = ln(8/3), and doc 0
    (5 words) scores idf / (1 + 1.5 (0.25 + 0.75 * 5/3)) = idf / 3.25 = 0.30179."""
    docs = ["भारत की राजधानी दिल्ली है", "राजस्थान की", "जध रत"]
    run = vd.lexical.bm25(["राजधानी"], docs, k=3, stopwords=None)[0]
    assert list(run) == [0]
    assert run[0] == pytest.approx(math.log(8 / 3) / 3.25, rel=1e-6)
    assert vd.scratch.tokenize("भारत की राजधानी ง่าย مُحَمَّد") == [
        "भारत", "की", "राजधानी", "ง่าย", "مُحَمَّد"]
    from vecdiag.explain.text_evidence import words_of
    assert words_of("राजधानी दिल्ली") == {"राजधानी", "दिल्ली"}


def test_bm25_stopwords_list_is_read_as_the_tokens_are():
    """The tokens are lower-cased: stopwords=["The"] dropped nothing, and 'the' (in 2 of
    3 documents) added to doc 0 (0.53242). Dropped, every document is one word ('a' is
    too short), avgdl = 1, and doc 0 scores 'cat' alone: ln(1 + 2.5 / 1.5) / 2.5 = 0.39233."""
    docs = ["the cat", "the dog", "a bird"]
    run = vd.lexical.bm25(["The cat"], docs, stopwords=["The"])[0]
    assert list(run) == [0]
    assert run[0] == pytest.approx(math.log(8 / 3) / 2.5, rel=1e-6)
    assert run == vd.lexical.bm25(["The cat"], docs, stopwords=["the"])[0]
    assert run == vd.lexical.bm25(["The cat"], docs, stopwords={"THE", "of"})[0]  # a set
    with pytest.raises(TypeError, match="stopwords must hold strings; 1 do not"):
        vd.lexical.bm25(["The cat"], docs, stopwords=["the", None])


def test_words_are_compared_case_folded():
    """Words were lower-cased: "Straße" gave 'straße' and "STRASSE" (as Swiss German
    always writes it) 'strasse', two words, so the query "Straße" found nothing in "die
    STRASSE ist lang" (an empty run) and stopwords=["Straße"] kept 'strasse'. Case-folded
    (str.casefold), both are 'strasse'. Closed form: N = 2, 'strasse' in doc 0 only,
    idf = ln(1 + 1.5 / 1.5) = ln 2; doc 0 has 4 words, avgdl = (4 + 2) / 2 = 3, so it
    scores ln 2 / (1 + 1.5 (0.25 + 0.75 * 4/3)) = ln 2 / 2.875 = 0.24109."""
    from vecdiag.explain.text_evidence import words_of

    docs = ["die STRASSE ist lang", "ein Haus"]
    run = vd.lexical.bm25(["Straße"], docs, stopwords=None)[0]
    assert run == pytest.approx({0: math.log(2) / 2.875}, rel=1e-6)
    assert vd.lexical.bm25(["Straße Haus"], docs, stopwords=["STRASSE"])[0].keys() == {1}
    assert vd.scratch.tokenize("Straße ﬁle") == vd.scratch.tokenize("STRASSE FILE") == [
        "strasse", "file"]
    assert words_of("Die Straße") == words_of("DIE STRASSE") == {"die", "strasse"}
    scratch = vd.scratch.bm25(vd.scratch.tokenize("Straße"),
                              [vd.scratch.tokenize(d) for d in docs])
    assert scratch[0] == pytest.approx(run[0], rel=1e-6) and scratch[1] == 0   # bm25s: float32
