"""What can go wrong when embedding through a provider, and which failures to retry.

A failure is *transient* (worth retrying after a pause) or *final* (retrying cannot
help). :func:`classify` sorts any exception into a cause name used in the retry counts:

============ ============================================== =========
cause        when                                           retried
============ ============================================== =========
``429``      rate limited (the server's ``Retry-After``)    yes
             but an exhausted quota (``insufficient_quota``) no
``5xx``      the provider failed (500, 502, 503, 504, ...)  yes
``timeout``  no answer within ``timeout`` seconds (or a     yes
             wrapped SDK's timeout error)
``connection`` the connection dropped or could not open     yes
             (also a wrapped SDK's connection error)
``bad response`` malformed JSON, wrong count/order/dimension,
             non-finite values (checked before caching), a
             body its Content-Encoding cannot decode        yes
             but the same wrong count or dimension twice
             for one batch (:class:`WrongShape`), or NaN /
             infinite vectors for the same texts of one
             batch twice (:class:`NonFinite`), or twice an
             answer that is not this protocol at all (an
             HTML page, JSON without ``data``:
             :class:`WrongProtocol`)                         no
``4xx``      400, 401, 403, 404, 422: the request is wrong  no
``error``    anything else (a bug in a wrapped function)    no
============ ============================================== =========
"""

from __future__ import annotations

import math

from .._secrets import mask_secret  # the one masking rule, shared with the stores

__all__ = ["ProviderError", "BadResponse", "WrongShape", "NonFinite", "WrongProtocol",
           "EmbeddingError", "classify", "http_status", "mask_secret"]


# the statuses of a request refused for what it holds (a text too long, a batch too large):
# splitting the batch finds the texts refused alone
REFUSED_FOR_CONTENT = (400, 413, 422)


class ProviderError(RuntimeError):
    """An HTTP error from the embedding provider (message already key-masked).

    Attributes
    ----------
    status : int
        The HTTP status code.
    message : str
        The provider's own message (its JSON ``error.message`` when present).
    retry_after : float or None
        Seconds the provider asked to wait (``retry-after-ms`` / ``Retry-After``).
    rows : list of int or None
        For a refused request (400, 413, 422) raised by ``encode``: the input rows it held.
    code : str or None
        The provider's error code (its JSON ``error.code``, else ``error.type``).
    """

    def __init__(self, status: int, message: str, *, retry_after: float | None = None,
                 url: str = "", code: str | None = None):
        self.status = int(status)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.url = url
        where = f" from {url}" if url else ""
        super().__init__(f"HTTP {self.status}{where}: {message}")

    rows = None

    def name_rows(self, rows, said: str = "the refused request held texts of") -> None:
        """Name the input rows the request held when the request itself was refused
        (400, 413, 422: e.g. a text over the model's context length, whose message says
        neither which text nor where); ``said`` introduces them."""
        if self.status in REFUSED_FOR_CONTENT:
            _name_rows(self, rows, said)

    @property
    def transient(self) -> bool:
        return classify(self)[1]


class BadResponse(RuntimeError):
    """A response that arrived but cannot be trusted (checked before anything is cached)."""


class WrongShape(BadResponse):
    """An answer of the wrong number of vectors, or of vectors of the wrong length.

    Once, it may be a passing fault (retried). The same wrong shape answered again for
    the same batch is deterministic (a server that ignores ``dimensions``, caps the
    texts per request, or serves another model under the name): :meth:`repeated`
    gives the final error that stops the run, instead of minutes of backoff per batch.

    Attributes
    ----------
    shape : tuple
        What was wrong, e.g. ``("length", expected, got)`` or ``("count", expected,
        got)``: two answers with equal ``shape`` are the same wrong answer.
    final : bool
        True for the error of a repeated wrong shape (not retried).
    rows : list of int or None
        The input rows of the batch, when named by ``encode``.
    """

    final = False
    rows = None

    def __init__(self, message: str, shape: tuple):
        super().__init__(message)
        self.shape = shape

    def repeated(self, hint: str = "") -> "WrongShape":
        """The final error for this wrong shape answered twice for one batch."""
        out = WrongShape(f"the same wrong answer came twice for one batch: {self}{hint}; a "
                         "wrong answer that repeats is not a passing fault, so it is not "
                         "retried", self.shape)
        out.final = True
        return out

    def name_rows(self, rows) -> None:
        """Name the input rows of the batch that was answered wrongly."""
        _name_rows(self, rows, "the batch held texts of")


class NonFinite(BadResponse):
    """An answer whose vectors for some texts hold NaN or infinite values (or values
    beyond float32's range).

    Once, it may be a passing fault (retried). The same texts of one batch answered
    non-finite again is deterministic (the model has no finite vector for them, e.g. a
    numerical overflow on one input): :meth:`repeated` gives the final error that stops
    the run, instead of every retry being spent on the same answer.

    Attributes
    ----------
    positions : tuple of int
        The offending texts' positions in the batch sent.
    shape : tuple
        ``("non-finite", positions)``: two answers with equal ``shape`` are the same
        wrong answer (as :attr:`WrongShape.shape`).
    final : bool
        True for the error of a repeated answer (not retried).
    rows : list of int or None
        The input rows of the offending texts, when named by ``encode``.
    """

    final = False
    rows = None

    def __init__(self, message: str, positions):
        super().__init__(message)
        self.positions = tuple(int(p) for p in positions)
        self.shape = ("non-finite", self.positions)

    def repeated(self, hint: str = "") -> "NonFinite":
        """The final error for the same texts answered non-finite twice for one batch."""
        out = NonFinite(f"the same texts were answered with non-finite vectors twice: {self}"
                        f"{hint}; a wrong answer that repeats is not a passing fault, so it "
                        "is not retried: drop or change these texts (or check the model "
                        "serving them)", self.positions)
        out.final = True
        return out

    def name_rows(self, rows) -> None:
        """Name the input rows of the offending texts."""
        _name_rows(self, rows, "the texts of")


class WrongProtocol(BadResponse):
    """A 200 answer that is not OpenAI's embeddings protocol at all: a body that is not
    JSON (an HTML page from a web UI or a login portal at ``base_url``), or JSON without
    a ``data`` list (another API, such as Ollama's native ``/api/embeddings``).

    Once, it may be a passing fault (retried). The same kind of answer again for the
    same batch is the server at that address: :meth:`repeated` gives the final error.

    Attributes
    ----------
    shape : tuple
        ``("protocol", what was answered)``: two answers with equal ``shape`` are the
        same wrong answer (as :attr:`WrongShape.shape`).
    final : bool
        True for the error of a repeated answer (not retried).
    """

    final = False

    def __init__(self, message: str, shape: tuple):
        super().__init__(message)
        self.shape = shape

    def repeated(self, hint: str = "") -> "WrongProtocol":
        """The final error for the same wrong answer twice for one batch."""
        out = WrongProtocol(f"the same answer came twice for one batch: {self}{hint}; it is "
                            "not retried", self.shape)
        out.final = True
        return out


class EmbeddingError(RuntimeError):
    """Texts that still failed after every retry (everything else was embedded and cached).

    Attributes
    ----------
    failed : list of (int, str, str)
        ``(row, text, last error)`` for every failed text, in row order.
    stopped : str or None
        Set when the run stopped early: a batch failed every attempt before any batch
        of the call was embedded (the server unreachable or failing every request), so
        the other batches were not sent; the error of that batch.
    """

    def __init__(self, failed, *, total: int, attempts: int, stopped: str | None = None):
        self.failed = list(failed)
        self.stopped = stopped
        rows = ", ".join(str(r) for r, _, _ in self.failed[:10])
        more = f" (and {len(self.failed) - 10} more)" if len(self.failed) > 10 else ""
        if stopped is None:
            head = (f"{len(self.failed)} of {total} texts could not be embedded after "
                    f"{attempts} attempts each: rows {rows}{more}; every other text is "
                    "embedded and cached, so running the same call again retries only these")
        else:
            head = (f"{len(self.failed)} of {total} texts could not be embedded: rows "
                    f"{rows}{more}; a batch failed {attempts} attempts ({stopped}) before "
                    "any batch of this call was embedded, so the others were not sent: is "
                    "the server at this address up and working? Running the same call "
                    "again sends them")
        lines = [head]
        for row, text, err in self.failed[:10]:
            short = text if len(text) <= 60 else text[:59] + "…"
            lines.append(f"  row {row}: {short!r}: {err}")
        super().__init__("\n".join(lines))


def _name_rows(err, rows, said: str) -> None:
    """Set ``err.rows`` (once) and say them at the end of its message, after ``said``."""
    if err.rows is not None:
        return
    from .. import _validate as V

    err.rows = [int(r) for r in rows]
    err.args = (f"{err.args[0]} ({said} {V.format_rows(err.rows)})",)


SPLIT_REQUESTS = 32  # requests spent at most finding the refused texts of one batch


def refused_alone(status, n: int, refused: int) -> list[int] | None:
    """Positions of the texts of a refused batch of ``n`` that are refused alone.

    ``status(lo, hi)`` sends texts ``lo:hi`` and returns the HTTP status. The batch is
    split in halves, and each half answered ``refused`` again, down to single texts
    (about ``2 log2(n)`` requests for one bad text; at most :data:`SPLIT_REQUESTS`).
    Returns ``[]`` when every half is accepted (the batch was too large as a whole), None
    when the search is cut short (another status, or the requests spent).

    Examples
    --------
    >>> bad = {5}                                     # the server refuses text 5 alone
    >>> refused_alone(lambda lo, hi: 400 if bad & set(range(lo, hi)) else 200, 8, 400)
    [5]
    """
    left = [SPLIT_REQUESTS]

    def search(lo, hi):
        if hi - lo == 1:
            return [lo]
        out, mid = [], (lo + hi) // 2
        for a, b in ((lo, mid), (mid, hi)):
            left[0] -= 1
            got = status(a, b) if left[0] >= 0 else None
            if got != 200:
                if got != refused:
                    raise LookupError
                out += search(a, b)
        return out

    try:
        return search(0, n)
    except LookupError:
        return None


def retry_after_seconds(headers) -> float | None:
    """The wait a response asks for: ``retry-after-ms`` (OpenAI), else ``Retry-After``
    in seconds (a number; an HTTP date is read as such). None when absent or unreadable.

    Examples
    --------
    >>> retry_after_seconds({"Retry-After": "2"})
    2.0
    >>> retry_after_seconds({"retry-after-ms": "250", "Retry-After": "1"})
    0.25
    >>> retry_after_seconds({}) is None
    True
    """
    get = (lambda k: headers.get(k) or headers.get(k.lower()) or headers.get(k.title()))
    ms = get("retry-after-ms")
    try:
        if ms is not None and math.isfinite(float(ms)):
            return max(float(ms) / 1000.0, 0.0)
    except ValueError:
        pass
    value = get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    except ValueError:
        from email.utils import parsedate_to_datetime
        import datetime as dt

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000" or no zone: HTTP dates are always GMT
            when = when.replace(tzinfo=dt.timezone.utc)
        return max((when - dt.datetime.now(dt.timezone.utc)).total_seconds(), 0.0)


def http_status(err: BaseException) -> int | None:
    """The HTTP status ``err`` carries: a :class:`ProviderError`'s, or one other SDKs
    (openai, cohere, ...) put on the exception or its response; None without one."""
    if isinstance(err, ProviderError):
        return err.status
    status = getattr(err, "status_code", None) or getattr(getattr(err, "response", None),
                                                           "status_code", None)
    return status if isinstance(status, int) else None


def classify(err: BaseException) -> tuple[str, bool]:
    """``(cause, retry?)`` for an exception raised while embedding one batch."""
    import asyncio

    if isinstance(err, BadResponse):
        return "bad response", not getattr(err, "final", False)
    if isinstance(err, (TimeoutError, asyncio.TimeoutError)):
        return "timeout", True
    module = type(err).__module__ or ""
    if module.startswith(("httpx", "httpcore")):
        # the class and its httpx bases: CloseError is a NetworkError by inheritance only
        names = " ".join(c.__name__ for c in type(err).__mro__
                         if (c.__module__ or "").startswith(("httpx", "httpcore")))
        if "Timeout" in names:
            return "timeout", True
        if any(k in names for k in ("Connect", "RemoteProtocol", "ReadError", "WriteError",
                                    "NetworkError", "Protocol")):
            return "connection", True
        if "DecodingError" in names:  # a body its Content-Encoding cannot decode
            return "bad response", True
    if isinstance(err, (ConnectionError, EOFError)):
        return "connection", True
    status = http_status(err)       # ours, or other SDKs' (openai, cohere, ...)
    if status is not None:
        if status == 429:
            # an exhausted quota is a 429 too (OpenAI's, with the body's code): no wait
            # ends it, and retrying every batch 9 times only delays the error by hours
            return "429", getattr(err, "code", None) != "insufficient_quota"
        return ("5xx", True) if status >= 500 or status == 408 else (f"{status}", False)
    # other SDKs' network errors are none of the built-in ones: openai's APITimeoutError and
    # APIConnectionError, requests' ReadTimeout and ConnectionError (an OSError)
    names = " ".join(c.__name__ for c in type(err).__mro__ if c.__module__ != "builtins")
    if "Timeout" in names:
        return "timeout", True
    if "ConnectionError" in names or "ConnectError" in names:
        return "connection", True
    return "error", False
