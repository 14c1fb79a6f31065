"""What a server or a wrapped function answered, checked before it is returned: the
vectors of one batch as a float32 ``(n, d)`` array, or a :class:`~.errors.BadResponse`
naming what is wrong (a :class:`~.errors.WrongShape` for a wrong count or length, a
:class:`~.errors.NonFinite` for NaN or infinite vectors, a
:class:`~.errors.WrongProtocol` for a body that is not JSON)."""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from .errors import BadResponse, NonFinite, WrongProtocol, WrongShape


def decoded(embedding):
    """An embedding as the server sent it: a list of numbers, or, from a server that
    ignores ``encoding_format="float"``, OpenAI's base64 form (float32, little-endian)."""
    if not isinstance(embedding, str):
        return embedding
    import base64
    import binascii

    try:
        raw = base64.b64decode(embedding, validate=True)
    except (binascii.Error, ValueError):
        raise BadResponse("an embedding is a string that is not base64 (expected a list of "
                          "numbers)") from None
    if len(raw) % 4:
        raise BadResponse(f"a base64 embedding of {len(raw)} bytes is not float32 values "
                          "(a multiple of 4 bytes)")
    return np.frombuffer(raw, dtype="<f4").astype(np.float64).tolist()


def check_vectors(rows, n: int, expected_dim: int | None) -> np.ndarray:
    """``rows`` as a float32 ``(n, d)`` array, or BadResponse naming what is wrong
    (:class:`~.errors.WrongShape` for a wrong count or length of vectors)."""
    # a complex array (of a wrapped function) would be cast with its imaginary part dropped
    if any(getattr(r, "dtype", None) is not None and np.dtype(r.dtype).kind == "c"
           for r in ([rows] if isinstance(rows, np.ndarray) else
                     rows if isinstance(rows, (list, tuple)) else ())):
        raise BadResponse("the embeddings are not arrays of real numbers (got complex "
                          "numbers)")
    try:
        X = np.asarray(rows, dtype=np.float64)
    except OverflowError:   # a JSON integer of hundreds of digits
        raise BadResponse("the embeddings hold integers beyond the range of a float") from None
    except (ValueError, TypeError):
        lengths = sorted({len(r) if hasattr(r, "__len__") else -1 for r in rows})
        if len(lengths) > 1:
            raise WrongShape(f"the embeddings have different lengths {lengths[:5]}",
                             ("lengths", expected_dim, tuple(lengths))) from None
        raise BadResponse(f"the embeddings are not arrays of real numbers (got "
                          f"{type(rows).__name__} {str(rows)[:60]!r})") from None
    if X.ndim != 2 or X.shape[0] != n:
        raise WrongShape(f"expected {n} embeddings, got an array of shape {X.shape}",
                         ("count", n, X.shape))
    if X.shape[1] == 0:
        raise WrongShape(f"the embeddings are empty (shape {X.shape}): no vector came back",
                         ("length", expected_dim, 0))
    if expected_dim is not None and X.shape[1] != expected_dim:
        raise WrongShape(f"embeddings have dimension {X.shape[1]}, expected {expected_dim}",
                         ("length", expected_dim, X.shape[1]))
    # np.asarray reads "1" and true as numbers: a server sending those is broken
    if any(isinstance(v, (str, bytes, bool)) for row in rows if isinstance(row, (list, tuple))
           for v in row):
        raise BadResponse("embeddings must be JSON numbers (got strings or booleans)")
    # positions in the batch sent, not input rows (encode names those): a NonFinite
    if not np.isfinite(X).all():
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise NonFinite(f"the embeddings of {_texts_of(bad, n)} hold NaN or infinite "
                        "values", bad)
    out, bad = V.as_float32(X)
    if bad.size:                         # beyond float32 (1e300): inf once stored
        raise NonFinite(f"the embeddings of {_texts_of(bad, n)} hold values beyond "
                        "float32's range (about 3.4e38)", bad)
    return out


def _texts_of(positions, n: int) -> str:
    """``positions`` of a batch of ``n`` texts, in words: "2 of the 5 texts sent
    (positions 1, 3 in the request)"."""
    shown = ", ".join(str(int(p)) for p in positions[:10])
    more = ", ..." if len(positions) > 10 else ""
    return (f"{len(positions)} of the {n} texts sent (position{'s' if len(positions) > 1 else ''} "
            f"{shown}{more} in the request)")


HINT_BASE_URL = ("is base_url the address of an OpenAI-compatible API (for most servers "
                 "http://host:port/v1; Ollama's is http://host:11434/v1, not /api)?")


def check_json(content: bytes, headers, url: str, mask) -> None:
    """A :class:`WrongProtocol` for a 200 answer whose body ``json.loads`` refused and
    that does not even begin as JSON (an HTML page). Broken JSON that begins as one (a
    truncated body, after any UTF-8 byte-order mark) is left as a malformed answer: a
    passing fault. ``mask``: the function masking every secret (the key, the URL's) in a
    text."""
    body = content.lstrip()
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:].lstrip()
    if body[:1] in (b"{", b"["):
        return
    kind = (headers.get("content-type") or headers.get("Content-Type") or "").split(";")[0]
    begins = mask(content.lstrip()[:40].decode("utf-8", "replace"))
    raise WrongProtocol(f"the server at {url} answered 200 with a body that is not JSON "
                        f"({kind or 'no content type'}, beginning {begins!r}): "
                        f"{HINT_BASE_URL}", ("protocol", "not json", kind))
