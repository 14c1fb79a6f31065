"""vd.scratch's text lessons (tokenize, chunk, bm25, rrf) against the library's fast
versions: vd.lexical.bm25 (bm25s), vd.fixes.hybrid and vd.fixes.chunk_text."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vecdiag as vd
from vecdiag import scratch
from vecdiag.fixes.text import chunk_text

WORDS = ["cat", "dog", "sat", "mat", "the", "router", "reset", "wifi", "rt2000", "firmware"]
doc_strategy = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(docs=st.lists(doc_strategy, min_size=1, max_size=8), query=st.lists(st.sampled_from(WORDS), min_size=1,
                                                                              max_size=3, unique=True),
       k1=st.sampled_from([0.9, 1.2, 1.5]), b=st.sampled_from([0.0, 0.5, 0.75, 1.0]))
def test_bm25_matches_bm25s(docs, query, k1, b):
    pytest.importorskip("bm25s")
    texts = [" ".join(d) for d in docs]
    mine = scratch.bm25(query, [scratch.tokenize(t) for t in texts], k1=k1, b=b)
    run = vd.lexical.bm25([" ".join(query)], texts, k=len(texts), stopwords=None, k1=k1, b=b)[0]
    ref = [run.get(i, 0.0) for i in range(len(texts))]
    assert np.allclose(mine, ref, rtol=1e-5, atol=1e-6)


def test_bm25_idf_never_negative_and_saturates():
    docs = [["cat", "sat"], ["cat"], ["cat", "dog"], ["dog"]]
    assert all(s > 0 for s, d in zip(scratch.bm25(["cat"], docs), docs) if "cat" in d)
    one, many = scratch.bm25(["cat"], [["cat"], ["cat"] * 50, ["dog"]], b=0.0)[:2]
    assert many < one * (1.5 + 1)      # tf saturates at k1 + 1 times one occurrence


ranking = st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=8, unique=True)


@settings(max_examples=60, deadline=None)
@given(runs=st.lists(ranking, min_size=2, max_size=4), k=st.sampled_from([0, 1, 60]))
def test_rrf_matches_hybrid(runs, k):
    as_run = [{"q": {d: float(len(r) - i) for i, d in enumerate(r)}} for r in runs]
    ref = vd.fixes.hybrid(*as_run, k=k)["q"]
    mine = scratch.rrf(runs, k=k)
    assert set(mine) == set(ref)
    assert all(mine[d] == pytest.approx(ref[d]) for d in ref)
    values = list(mine.values())
    assert values == sorted(values, reverse=True)


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 40), size=st.integers(2, 10), data=st.data())
def test_chunk_matches_chunk_text_and_covers_every_token(n, size, data):
    overlap = data.draw(st.integers(0, size - 1))
    words = [f"w{i}" for i in range(n)]
    windows = scratch.chunk(words, size, overlap)
    assert [" ".join(w) for w in windows] == chunk_text(" ".join(words), size, overlap)
    assert [t for w in windows for t in w if t not in sum(windows[:0], [])]  # non-empty
    assert set(words) == {t for w in windows for t in w}
    assert all(len(w) <= size for w in windows)
    for prev, nxt in zip(windows, windows[1:]):
        assert prev[-overlap:] == nxt[:overlap] if overlap else True
        assert not set(nxt) <= set(prev)


HAN = [chr(c) for c in (0x4E00, 0x4EAC, 0x5929, 0x6C14, 0x3053, 0x30C6, 0x3002, 0xFF01)]
piece = st.one_of(st.sampled_from(WORDS), st.text(st.sampled_from(HAN), min_size=1, max_size=6),
                  st.tuples(st.sampled_from(WORDS), st.text(st.sampled_from(HAN), min_size=1,
                                                            max_size=3)).map("".join))


@settings(max_examples=80, deadline=None)
@given(pieces=st.lists(piece, min_size=1, max_size=12),
       gaps=st.lists(st.sampled_from([" ", "  ", "\n", "\t "]), min_size=12, max_size=12),
       size=st.integers(2, 8), data=st.data())
def test_chunk_text_cuts_chinese_and_japanese_by_character(pieces, gaps, size, data):
    """Chinese and Japanese are written without spaces: each of their characters is a
    word of chunk_text (a whole paragraph was one "word" that no window could cut).
    Reference: the scratch chunker over the words found by an independent regex, and the
    text with its whitespace runs written as one space."""
    import re

    overlap = data.draw(st.integers(0, size - 1))
    text = "".join(p + g for p, g in zip(pieces, gaps)).strip()
    words = re.findall("[" + "".join(HAN) + "]|[^\\s" + "".join(HAN) + "]+", text)
    windows = chunk_text(text, size, overlap)
    expected = scratch.chunk(words, size, overlap)
    assert len(windows) == len(expected)
    for window, ref in zip(windows, expected):
        assert re.sub(r"\s", "", window) == "".join(ref)          # the same words, in order
        assert window in re.sub(r"\s+", " ", text) or len(windows) == 1
    if len(words) <= size:
        assert windows == [text]


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="overlap=3"):
        scratch.chunk(list("abcdef"), 3, 3)
    with pytest.raises(TypeError, match="tokenize"):
        scratch.bm25("cat", [["cat"]])
    with pytest.raises(ValueError, match="docs is empty"):
        scratch.bm25(["cat"], [])
    with pytest.raises(ValueError, match="k must be"):
        scratch.rrf([["a"]], k=-1)
    assert scratch.tokenize("Wi-Fi 6E, RT-2000!") == ["wi", "fi", "6e", "rt", "2000"]


def test_bm25_refuses_texts_for_token_lists():
    # a text is a sequence of characters: scored as one, every word scored 0 without a word
    texts = ["reset the router", "router lights"]
    with pytest.raises(TypeError, match=r"docs\[0\] is a string .*tokenize"):
        scratch.bm25(["router"], texts)
    with pytest.raises(TypeError, match="one string"):
        scratch.bm25(["router"], "reset the router")
    # tokenized, the same documents score: 'router' is in both, so both score above 0
    assert all(s > 0 for s in scratch.bm25(["router"], [scratch.tokenize(t) for t in texts]))


def test_numpy_numbers_accepted_and_nan_k_refused():
    # a size or k computed with NumPy is still an integer: same windows and scores as with int
    words = [f"w{i}" for i in range(9)]
    assert scratch.chunk(words, np.int64(4), np.int64(1)) == scratch.chunk(words, 4, 1)
    assert [" ".join(w) for w in scratch.chunk(words, np.int32(4), 1)] == chunk_text(" ".join(words), 4, 1)
    runs = [["a", "b"], ["b", "c"]]
    assert scratch.rrf(runs, k=np.int64(60)) == pytest.approx({"b": 1 / 62 + 1 / 61, "a": 1 / 61, "c": 1 / 62})
    # nan and inf are no RRF constant (vd.fixes.hybrid refuses them too); nan gave nan scores
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number"):
            scratch.rrf(runs, k=bad)
    with pytest.raises(ValueError, match="size must be"):
        scratch.chunk(words, 4.0, 1)


@pytest.mark.parametrize("option, words", [
    ({"k1": -1}, "k1 must be a finite number >= 0"), ({"k1": float("nan")}, "k1 must be"),
    ({"k1": "1.5"}, "k1 must be"), ({"b": 2}, r"b must be a number in \[0, 1\]"),
    ({"b": -0.5}, "b must be"),
])
def test_bm25_options_checked_as_the_fast_path_checks_them(option, words):
    """scratch.bm25 took k1=-1 (scores -2.77 for a match), k1=nan (nan scores) and b=2,
    which vd.lexical.bm25 refuses; k1="1.5" failed as Python's "can't multiply sequence"."""
    docs = [["cat", "sat"], ["dog"]]
    with pytest.raises(ValueError, match=words):
        scratch.bm25(["cat"], docs, **option)
    pytest.importorskip("bm25s")
    with pytest.raises(ValueError, match=words):
        vd.lexical.bm25(["cat"], ["cat sat", "dog"], k=2, **option)


@pytest.mark.parametrize("rankings, exc, words", [
    ([["a", "a", "b"], ["b", "c"]], ValueError, r"rankings\[0\] lists 'a' twice \(ranks 1 and 2\)"),
    (["ab", "bc"], TypeError, r"rankings\[0\] is a str"),
    ([{"b": 1.0, "a": 2.0}, ["b"]], TypeError, r"rankings\[0\] is a dict.*sorted"),
    (None, TypeError, "rankings must be a list of rankings"),
])
def test_rrf_refuses_what_is_not_a_ranking(rankings, exc, words):
    """["a", "a", "b"] gave 'a' 1/61 + 1/62 (0.0325, above 'b' at 1/63 + 1/61), a ranking
    can hold a document once (vd.fixes.hybrid's runs are dicts); "ab" was read as the
    ranking ['a', 'b'], and a {doc: score} dict in insertion order, not best first."""
    with pytest.raises(exc, match=words):
        scratch.rrf(rankings)
    assert scratch.rrf([["a", "b"], ["b", "c"]], k=0) == {"b": 1.5, "a": 1.0, "c": 0.5}
