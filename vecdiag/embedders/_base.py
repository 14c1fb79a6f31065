"""What every embedder shares: input checks and prefix handling (see the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import _validate as V
from .prefixes import known_prefixes

__all__ = ["EmbedderBase", "check_texts", "_Base", "_check_texts", "_check_kind"]


def _check_texts(texts, name: str = "texts") -> list[str]:
    """A list of strings (one string is one text); anything else is a clear error."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, bytearray)):  # iterating them would give ints
        raise TypeError(f"{name} must be a string or a list of strings, got "
                        f"{type(texts).__name__}; decode it first (.decode('utf-8'))")
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
        if isinstance(texts, str):   # a 0-d array holds one text (not one per character)
            return [texts]
    # iterating these gives no texts in a known order: a dict its keys, a DataFrame its
    # column names, a set an arbitrary order (the vectors could not be matched back)
    if isinstance(texts, Mapping) or hasattr(texts, "columns"):
        kind, fix = (("DataFrame", f"its column of texts ({name}=df['text'])")
                     if hasattr(texts, "columns") else
                     ("dict", f"its texts in a list ({name}=list(d.values()))"))
        raise TypeError(f"{name} is a {kind}, whose iteration gives its "
                        f"{'column names' if kind == 'DataFrame' else 'keys'}, not its texts; "
                        f"pass {fix}")
    if isinstance(texts, (set, frozenset)):
        raise TypeError(f"{name} is a set, whose order is arbitrary: no vector could be matched "
                        f"to its text; pass a list ({name}=sorted(...))")
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(f"{name} must be a string or a list of strings, "
                        f"got {type(texts).__name__}") from None
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        first = texts[bad[0]]
        # str(b"x") is "b'x'": bytes are decoded, not converted
        how = ("decode them (.decode('utf-8'))" if isinstance(first, (bytes, bytearray))
               else "convert them with str() or drop them")
        raise TypeError(f"{name} must hold strings, but {V.format_rows(bad)} "
                        f"{'is' if len(bad) == 1 else 'are'} not (e.g. "
                        f"{type(first).__name__}); {how}")
    return texts


def _check_unicode(texts: list[str], why: str, name: str = "texts") -> None:
    """Refuse text that UTF-8 cannot encode (a lone surrogate, e.g. from bytes decoded
    with ``errors='surrogateescape'``), naming its rows; ``why`` says what needs UTF-8."""
    broken = [i for i, t in enumerate(texts) if not t.isascii() and not _utf8(t)]
    if broken:
        raise ValueError(f"{name} has text that is not valid Unicode (a lone surrogate "
                         f"such as '\\udc80', e.g. from bytes decoded with "
                         f"errors='surrogateescape') in {V.format_rows(broken)}; {why}, "
                         "which cannot hold it: decode the bytes with the right encoding "
                         "(or errors='replace') first")


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _float32_rows(X: np.ndarray, name: str) -> np.ndarray:
    """Checked finite vectors ``X`` as contiguous float32; a value beyond float32's range
    (1e300 is finite in float64, inf once stored) is an error naming the rows."""
    out, rows = V.as_float32(X)
    if X.dtype != np.float32 and rows.size:
        raise ValueError(f"{name} has {V.format_rows(rows)} with values beyond float32's "
                         "range (about 3.4e38); scale the vectors down first")
    return out


def _check_kind(kind) -> str:
    return V.check_choice(kind, "kind", ("document", "query"))


class _Base:
    """Shared prefix handling for every embedder."""

    query_prefix: str = ""
    document_prefix: str = ""
    model_name: str = "unknown"

    def prefix(self, kind: str) -> str:
        """The prefix :meth:`encode` prepends for ``kind`` ("document" or "query")."""
        return self.query_prefix if _check_kind(kind) == "query" else self.document_prefix

    def with_prefix(self, texts, kind: str) -> list[str]:
        """``texts`` with the ``kind`` prefix prepended, as ``encode`` sees them."""
        pre = self.prefix(kind)
        return [pre + t for t in _check_texts(texts)]

    @property
    def suggested_prefixes(self) -> dict | None:
        """:func:`known_prefixes` of this model's name (None when unknown)."""
        return known_prefixes(self.model_name)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(model_name={self.model_name!r}, "
                f"query_prefix={self.query_prefix!r}, document_prefix={self.document_prefix!r}, "
                f"max_tokens={self.max_tokens!r})")


# Public names for code outside this package (a custom embedder subclasses EmbedderBase
# to get prefix handling; check_texts is the one texts check). The private spellings
# stay for older imports.
EmbedderBase = _Base
check_texts = _check_texts
