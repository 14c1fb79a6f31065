"""The word rule of BM25 and of the lexical checks, in one place.

A word is a run of two or more characters that are word characters (``\\w``: letters,
digits, underscore) or combining marks (Unicode categories Mn, Mc, Me), starting with a
word character, read after NFC composition and case folding (:func:`fold`). Without the marks, the
vowel signs of Hindi or Thai and the vowel points of Arabic cut every word apart:
"भारत की राजधानी" gave the words ['रत', 'जध'] (``\\b\\w\\w+\\b``, bm25s' default rule);
with them it gives ['भारत', 'की', 'राजधानी']. Text without marks splits as before.

Case folding, not lower-casing: ``"Straße".lower()`` is "straße" but ``"STRASSE".lower()``
"strasse", two words for one (Swiss German always writes "ss"); ``str.casefold`` makes
both "strasse" (and "ﬁle" "file", "ſ" "s"). ASCII text is lower-cased as before.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

__all__ = ["word_pattern", "words", "fold"]


@functools.lru_cache(maxsize=1)
def word_pattern() -> str:
    """The regular expression of a word (built once: about 0.15 s to list the marks)."""
    marks = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c))[0] == "M"]
    ranges: list = []
    for c in marks:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    span = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in ranges)
    # greedy, scanned left to right: each match is a whole run, from its first \w
    return rf"(?u)\w[\w{span}]+"


@functools.lru_cache(maxsize=1)
def _compiled():
    return re.compile(word_pattern())


def fold(text: str) -> str:
    """``text`` in the form its words are compared in: NFC, case-folded, NFC again (a
    folded letter can come out decomposed: "ΐ" folds to ι + two marks).

    >>> fold("Straße") == fold("STRASSE") == "strasse"
    True
    """
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


def words(text: str) -> list:
    """The words of ``text``, in order (:func:`fold`, then :func:`word_pattern`).

    Examples
    --------
    >>> words("Reset the RT-2000 router")
    ['reset', 'the', 'rt', '2000', 'router']
    >>> words("e\\u0301cole ง่าย")          # a combining accent, a Thai tone mark
    ['école', 'ง่าย']
    """
    return _compiled().findall(fold(text))
