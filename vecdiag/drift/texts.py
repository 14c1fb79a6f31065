"""Drift on texts: embed them first with any embedder (e.g. a resilient, cached one)."""

from __future__ import annotations

import numpy as np

from .. import _validate as V

__all__ = ["embed_if_texts"]


def _is_texts(x) -> bool:
    """A string, or a 1-D sequence holding at least one: texts (a missing one, None or a
    pandas NaN, is then named by :func:`embed_if_texts`, not read as a bad number)."""
    if isinstance(x, str):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "UO" and x.ndim == 1 and any(isinstance(t, str) for t in x)
    if isinstance(x, (list, tuple)) or _is_pandas_1d(x):   # e.g. a DataFrame's text column
        return len(x) > 0 and any(isinstance(t, str) for t in x)
    return False


def _is_pandas_1d(x) -> bool:
    return (type(x).__module__ or "").startswith("pandas") and getattr(x, "ndim", None) == 1


def embed_if_texts(x, embedder, kind: str, name: str):
    """``x`` embedded with ``embedder`` when it is a list of strings, else unchanged.

    Texts without an embedder are a clear error; with one, ``kind`` ("query" or
    "document") selects the prefix. Wrap a hosted model in
    :func:`vecdiag.embedders.resilient` with a cache so a reference set is embedded once.

    Examples
    --------
    >>> embed_if_texts(["ab", "c"], lambda t: [[len(s), 1.0] for s in t], "query", "x").tolist()
    [[2.0, 1.0], [1.0, 1.0]]
    """
    if not _is_texts(x):
        return x
    texts = [x] if isinstance(x, str) else [str(t) for t in V.text_list(x, name)]
    if embedder is None:
        raise TypeError(f"{name} holds texts; pass embedder=... (e.g. "
                        "vd.embedders.resilient(vd.embedders.OpenAIEmbedder(model))) to embed "
                        "them, or pass vectors")
    from ..embedders import as_embedder

    return as_embedder(embedder).encode(texts, kind=kind)
