"""An embedder for any server speaking OpenAI's ``/v1/embeddings`` protocol.

That protocol is served by OpenAI itself and by vLLM, text-embeddings-inference, Ollama
and LM Studio. One request: ``POST {base_url}/embeddings`` with JSON ``{"model": ...,
"input": [texts], "encoding_format": "float"}`` (plus ``"dimensions"`` when set) and an
``Authorization: Bearer KEY`` header; the answer holds ``data[i].embedding`` and
``data[i].index``. Every answer is checked (count, order, dimension, finite values)
before it is returned. Plain :meth:`OpenAIEmbedder.encode` sends batches one after the
other and stops at the first error; wrap the embedder in
:func:`vecdiag.embedders.resilient` for concurrency, rate limits, retries and a cache.
"""

from __future__ import annotations

import os
import re

import numpy as np

from .. import _validate as V
from .._secrets import mask_all, url_secrets
from ._base import _Base, _check_texts, _check_unicode
from ._answers import HINT_BASE_URL, check_json, check_vectors, decoded
from ._urls import check_host, endpoint, masked_url, server_id
from .errors import (REFUSED_FOR_CONTENT, BadResponse, NonFinite, ProviderError,
                     WrongProtocol, WrongShape, refused_alone,
                     retry_after_seconds)
from .tokens import CHARS_PER_TOKEN, KNOWN_DIMENSIONS, estimate_tokens, max_tokens_of

__all__ = ["OpenAIEmbedder"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

class OpenAIEmbedder(_Base):
    """Embed through an OpenAI-compatible ``/v1/embeddings`` endpoint (over httpx).

    Parameters
    ----------
    model : str
        The provider's model name, e.g. ``"text-embedding-3-small"`` or, on an Ollama
        server, ``"nomic-embed-text"``.
    base_url : str, optional
        Default ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``. A bare host
        (``http://127.0.0.1:8000``) gets ``/v1`` appended; requests go to
        ``{base_url}/embeddings``, or to ``base_url`` itself when it already ends in
        ``/embeddings`` (the full endpoint).
    api_key : str, optional
        Default ``$OPENAI_API_KEY``. Never shown: reprs, errors and reports mask it (also
        when the provider echoes it back). Surrounding whitespace (a line break read
        from a file) is dropped. Required for api.openai.com; local servers usually need
        none.
    dimensions : int, optional
        Ask for shorter vectors (text-embedding-3 models); responses are checked against it.
    batch_size : int, default 128
        Texts per request (OpenAI accepts up to 2048).
    max_tokens : int, optional
        The model's input limit; default from :data:`~vecdiag.embedders.tokens.KNOWN_MAX_TOKENS` (None if unknown).
    tokenizer : callable, optional
        ``tokenizer(text) -> tokens`` (e.g. ``tiktoken.encoding_for_model(m).encode``, or
        a Hugging Face tokenizer, whose ``input_ids`` are counted);
        without one :meth:`count_tokens` is a stated estimate, see ``token_counting``.
    query_prefix, document_prefix : str, default ""
    timeout : float, default 30.0
        Seconds per request.

    Examples
    --------
    >>> emb = OpenAIEmbedder("text-embedding-3-small", api_key="sk-secret-0123456789")
    >>> emb
    OpenAIEmbedder(model='text-embedding-3-small', base_url='https://api.openai.com/v1', api_key='***', dimensions=None, max_tokens=8191)
    >>> emb.count_tokens(["twelve chars", "日本語"])
    array([3, 3])
    >>> print(emb.token_counting)  # doctest: +NORMALIZE_WHITESPACE
    estimate: 1 token per 4 ASCII characters, per 2 accented Latin, Greek, Cyrillic,
    Hebrew or Arabic ones, 1 per CJK, kana, Hangul or other character, 3 per emoji,
    rounded up (no tokenizer given)
    """

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 dimensions: int | None = None, batch_size: int = 128,
                 max_tokens: int | None = None, tokenizer=None, query_prefix: str = "",
                 document_prefix: str = "", timeout: float = 30.0):
        if not isinstance(model, str) or not model.strip():
            raise TypeError(f"model must be a non-empty string such as 'text-embedding-3-small', "
                            f"got {model!r}")
        for arg, value in (("query_prefix", query_prefix), ("document_prefix", document_prefix)):
            if not isinstance(value, str):
                raise TypeError(f"{arg} must be a string, got {type(value).__name__}")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        base_url = str(base_url).strip()  # a line break read from a file, as for the key
        if not re.match(r"https?://", base_url):
            raise ValueError(f"base_url must start with http:// or https://, got "
                             f"{masked_url(base_url)!r}")
        check_host(base_url)
        self.model = model
        self.model_name = model
        self.base_url = str(base_url).rstrip("/")
        self.url = endpoint(self.base_url)
        self._api_key = _checked_key(api_key if api_key is not None
                                     else os.environ.get("OPENAI_API_KEY"))
        self.dimensions = None if dimensions is None else V.check_positive_int(dimensions, "dimensions")
        self.batch_size = V.check_positive_int(batch_size, "batch_size")
        self.max_tokens = (V.check_positive_int(max_tokens, "max_tokens") if max_tokens is not None
                           else max_tokens_of(model))
        if tokenizer is not None and not callable(tokenizer):
            raise TypeError(f"tokenizer must be callable (text -> tokens), got {type(tokenizer).__name__}")
        self.tokenizer = tokenizer
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.timeout = V.check_positive_number(timeout, "timeout",
                                               what="a positive number of seconds")

    # ------------------------------------------------------------------ identity
    @property
    def cache_id(self) -> str:
        """What the vectors depend on besides the text: the model, ``dimensions`` and the
        server answering (its base URL, as ``encode`` calls it: a bare host and the same
        host with ``/v1`` are one server). The key is never part of it, nor a
        ``user:password@`` or a query string in the URL.

        Two servers serving one model name (OpenAI and a local vLLM or Ollama) answer
        different vectors, so they never share cached ones. Caches written before the
        base URL was part of this identity (``openai:MODEL``) are not read: their texts
        are embedded once more.

        >>> OpenAIEmbedder("nomic-embed-text", base_url="http://localhost:11434").cache_id
        'openai:nomic-embed-text@http://localhost:11434/v1'
        """
        dim = f":dim{self.dimensions}" if self.dimensions else ""
        return f"openai:{self.model}{dim}@{server_id(self.url)}"

    @property
    def expected_dim(self) -> int | None:
        return self.dimensions or KNOWN_DIMENSIONS.get(self.model)

    @property
    def token_counting(self) -> str:
        if self.tokenizer is not None:
            return "exact: the given tokenizer"
        return (f"estimate: 1 token per {CHARS_PER_TOKEN:g} ASCII characters, per 2 "
                "accented Latin, Greek, Cyrillic, Hebrew or Arabic ones, 1 per CJK, kana, "
                "Hangul or other character, 3 per emoji, rounded up (no tokenizer given)")

    def __repr__(self) -> str:
        key = "***" if self._api_key else None
        return (f"OpenAIEmbedder(model={self.model!r}, "
                f"base_url={masked_url(self.base_url)!r}, api_key={key!r}, "
                f"dimensions={self.dimensions!r}, max_tokens={self.max_tokens!r})")

    def __getstate__(self):  # never pickle the key
        state = dict(self.__dict__)
        state["_api_key"] = None
        return state

    # an in-process copy keeps the key (copy would otherwise go through __getstate__):
    # explain's prefix counterfactual re-embeds with a copy given other prefixes
    def __copy__(self):
        out = type(self).__new__(type(self))
        out.__dict__.update(self.__dict__)
        return out

    def __deepcopy__(self, memo):
        import copy

        out = type(self).__new__(type(self))
        memo[id(self)] = out
        state = copy.deepcopy(self.__getstate__(), memo)
        state["_api_key"] = self._api_key
        out.__dict__.update(state)
        return out

    # ------------------------------------------------------------------ tokens
    def count_tokens(self, texts, *, kind: str | None = None) -> np.ndarray:
        """Token counts: exact with ``tokenizer``, else the estimate ``token_counting``
        states (:func:`estimate_tokens`)."""
        texts = _check_texts(texts) if kind is None else self.with_prefix(texts, kind)
        if self.tokenizer is not None:
            return np.array([len(_tokens(self.tokenizer(t))) for t in texts], dtype=np.int64)
        return estimate_tokens(texts)

    # ------------------------------------------------------------------ protocol
    def _headers(self) -> dict:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _body(self, texts: list[str]) -> dict:
        body = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.dimensions:
            body["dimensions"] = self.dimensions
        return body

    def check_inputs(self, texts: list[str]) -> None:
        """Refuse, before any request, what every OpenAI-compatible server refuses with a
        400 that would stop the run: empty texts (after the prefix); text that UTF-8
        cannot encode (lone surrogates), which no request can carry; and a missing key
        for api.openai.com (a 401)."""
        self._check_key()
        empty = [i for i, t in enumerate(texts) if not t.strip()]
        if empty:
            raise ValueError(f"texts has empty texts in {V.format_rows(empty)}; "
                             "embedding APIs refuse empty input: drop them or replace them "
                             "with a placeholder before embedding")
        _check_unicode(texts, "requests are sent as UTF-8")

    def _check_key(self) -> None:
        if not self._api_key and self.url == endpoint(DEFAULT_BASE_URL):
            raise ValueError("no API key for api.openai.com: pass api_key=... or set the "
                             "OPENAI_API_KEY environment variable")

    def _mask(self, text: str) -> str:
        """``text`` (from a server's body) without the key or the secrets of the URL: a
        server may echo a ?code= value, or the path with its query, in its error body."""
        return mask_all(text, [self._api_key, *url_secrets(self.url)])

    def _parse(self, status: int, headers, content: bytes, n: int,
               dim: int | None = None) -> np.ndarray:
        """The vectors of one response, or ProviderError / BadResponse (``dim``: the
        length expected when the model's own is not known)."""
        import json

        if status != 200:
            code = None
            try:
                payload = json.loads(content)
                error = payload.get("error", payload) if isinstance(payload, dict) else payload
                message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
                if isinstance(error, dict):
                    code = error.get("code") or error.get("type")
                    code = code if isinstance(code, str) else None
            except (ValueError, AttributeError):
                message = content.decode("utf-8", "replace")[:300] or "(no message)"
            if 300 <= status < 400:   # its body is an HTML page naming no address
                where = headers.get("location") or headers.get("Location")
                where = masked_url(where) if where else "another address"
                message = (f"the server redirects to {where}: pass that address as base_url "
                           "(a redirect is not followed, as it would send the texts and the "
                           "key on to another server)")
            raise ProviderError(status, self._mask(message),
                                retry_after=retry_after_seconds(headers),
                                url=masked_url(self.url),
                                code=code)
        try:
            try:
                payload = json.loads(content)
            except ValueError:  # an HTML page is WrongProtocol; broken JSON is malformed
                check_json(content, headers, masked_url(self.url), self._mask)
                raise
            if isinstance(payload, dict) and "data" not in payload and "error" in payload:
                # some proxies answer 200 with the provider's error in the body
                error = payload["error"]
                message = (error.get("message", str(error)) if isinstance(error, dict)
                           else str(error))
                raise BadResponse(f"the server answered 200 with an error and no embeddings: "
                                  f"{self._mask(str(message)[:300])}")
            if isinstance(payload, dict) and "data" not in payload:  # another API's answer
                keys = sorted(map(str, payload))[:5]
                raise WrongProtocol(f"the server at {masked_url(self.url)} answered JSON "
                                    f"without a 'data' list of embeddings (its keys: {keys}): "
                                    "it does not speak OpenAI's embeddings protocol; "
                                    f"{HINT_BASE_URL}", ("protocol", "keys", tuple(keys)))
            data = payload["data"]
            pairs = sorted((int(item["index"]) if "index" in item else i, item["embedding"])
                           for i, item in enumerate(data))
        except (ValueError, KeyError, TypeError) as err:
            raise BadResponse(f"malformed response from {masked_url(self.url)} "
                              f"({type(err).__name__}: "
                              f"{self._mask(str(err)[:100])})") from None
        indices = [i for i, _ in pairs]
        if indices != list(range(n)):
            # some local servers number every embedding of a list 0: one text per
            # request is what works with them (fewer vectors than texts: see resilient)
            hint = ("; a server repeating indices may take one text per request: try "
                    "batch_size=1" if len(set(indices)) < len(indices) else "")
            raise WrongShape(f"the response holds {len(pairs)} embeddings with indices "
                             f"{indices[:5]}... for {n} texts{hint}",
                             ("count", n, len(pairs)) if len(pairs) != n
                             else ("indices", n, tuple(indices)))
        return check_vectors([decoded(v) for _, v in pairs], n, self.expected_dim or dim)

    def encode(self, texts, *, kind: str = "document", batch_size: int | None = None,
               show_progress: bool | None = None) -> np.ndarray:
        """Embed ``texts`` (``kind`` prefix first), batch after batch; the first error raises.

        No retries, no cache: use ``vd.embedders.resilient(this_embedder, ...)`` for those.
        """
        from .._optional import require
        from .._progress import progress_bar

        httpx = require("httpx", "OpenAIEmbedder")

        texts = self.with_prefix(texts, kind)
        if not texts:
            raise ValueError("texts is empty; pass at least one text to encode")
        self.check_inputs(texts)
        size = self.batch_size if batch_size is None else V.check_positive_int(batch_size, "batch_size")
        parts = []
        show = len(texts) > 4 * size if show_progress is None else show_progress
        with httpx.Client(timeout=self.timeout) as client, \
                progress_bar(len(texts), desc="embedding", show=show) as bar:
            for start in range(0, len(texts), size):
                chunk = texts[start:start + size]
                r = client.post(self.url, json=self._body(chunk), headers=self._headers())
                # later batches must match the first one's length (a load balancer mixing
                # two models made np.concatenate fail with NumPy's own message)
                dim = parts[0].shape[1] if parts else None
                try:
                    parts.append(self._parse(r.status_code, r.headers, r.content, len(chunk),
                                             dim))
                except NonFinite as err:  # the rows of the offending texts
                    err.name_rows(start + p for p in err.positions)
                    raise
                except (ProviderError, WrongShape) as err:
                    if isinstance(err, WrongShape) and err.shape[0] == "length" \
                            and dim is not None and self.expected_dim is None:
                        err.args = (f"{err} (the length of the vectors of the earlier "
                                    "batches: does the server answer with more than one "
                                    "model under this name?)",)
                    if isinstance(err, ProviderError):
                        self._name_refused(err, client, chunk, start)
                    err.name_rows(range(start, start + len(chunk)))
                    raise
                bar.update(len(chunk))
        return np.ascontiguousarray(np.concatenate(parts))

    def _name_refused(self, err: ProviderError, client, chunk: list[str], start: int) -> None:
        """A batch refused for what it holds (400, 413, 422) names the input rows of the
        texts the server refuses alone (found by :func:`refused_alone`), or says the batch
        was too large as a whole when each half of it is accepted."""
        if err.status not in REFUSED_FOR_CONTENT or len(chunk) < 2:
            return

        def status(lo, hi):
            return client.post(self.url, json=self._body(chunk[lo:hi]),
                               headers=self._headers()).status_code

        found = refused_alone(status, len(chunk), err.status)
        if found:
            err.name_rows((start + p for p in found), "sent alone, the server refuses the "
                          "texts of")
        elif found == []:
            err.args = (f"{err} (each half of this batch of {len(chunk)} texts was accepted: "
                        "the batch as a whole is too large for the server; lower "
                        "batch_size)",)

    async def aembed_batch(self, client, texts: list[str]) -> np.ndarray:
        """One request for already-prefixed ``texts`` on an ``httpx.AsyncClient``."""
        r = await client.post(self.url, json=self._body(texts), headers=self._headers())
        return self._parse(r.status_code, r.headers, r.content, len(texts))


def _checked_key(key):
    """The key without surrounding whitespace (a line break read from a file); one an
    HTTP header cannot carry is refused here without showing it: httpx's own error quotes
    the whole header, key included."""
    if key is None:
        return None
    if not isinstance(key, str):
        raise TypeError(f"api_key must be a string, got {type(key).__name__}")
    key = key.strip()
    if any(not "!" <= c <= "~" for c in key):
        raise ValueError("api_key (or $OPENAI_API_KEY) holds a space, a control character "
                         "or a non-ASCII character, which an HTTP header cannot carry; "
                         "check the key (not shown here)")
    return key


def _tokens(out):
    """Tokens from a tokenizer's answer: a list, or a Hugging Face encoding (input_ids)."""
    if hasattr(out, "keys") and "input_ids" in out.keys():
        return out["input_ids"]
    return out
