"""A local OpenAI-compatible embedding server that misbehaves on purpose.

It speaks ``POST /v1/embeddings`` like the real thing, returns deterministic vectors
(:func:`vector_for`), counts every request and every text it receives and serves, and
injects faults from a schedule. The test suite and notebook 07 use it; nothing leaves
127.0.0.1 and no key is needed (pass ``api_key=`` to make it demand one).

Faults (what a schedule returns for a request; None = answer normally):

==================== =================================================================
``"429"``            429 Too Many Requests with ``Retry-After`` (and ``retry-after-ms``)
``"429-bare"``       429 without any Retry-After header
``"500"``/``"503"``  server errors
``"slow"``           waits ``slow_seconds`` (past the client's timeout), then 504
``"drop"``           closes the connection without answering
``"malformed"``      200 with a truncated JSON body
``"wrong-dim"``      200 with vectors one dimension short (a passing fault: the same
                     texts faulted again get another wrong length, one longer each time,
                     as the same wrong answer twice is final for ``resilient``)
``"400"``/``"401"``  final errors with a provider-style message
==================== =================================================================

Examples
--------
>>> import numpy as np
>>> from vecdiag.embedders import OpenAIEmbedder
>>> with EmbeddingServer(dim=4) as server:
...     emb = OpenAIEmbedder("toy", base_url=server.url)
...     X = emb.encode(["hello", "world"])
>>> np.allclose(X[0], vector_for("hello", 4, "toy")), server.requests
(True, 1)
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

__all__ = ["EmbeddingServer", "vector_for", "fault_fraction", "fault_sequence", "fault_storm",
           "FAULTS", "TRANSIENT_FAULTS"]

TRANSIENT_FAULTS = ("429", "429-bare", "500", "503", "slow", "drop", "malformed", "wrong-dim")
FAULTS = TRANSIENT_FAULTS + ("400", "401")


def vector_for(text: str, dim: int, model: str = "") -> np.ndarray:
    """The server's deterministic unit vector for ``text`` (float32).

    A hashed bag of words: each lower-cased word has a fixed random direction (seeded by
    the model's name and the word), the text is their normalised sum. Texts sharing words
    are close, so drift and neighbours behave like a (very plain) real model; another
    model name gives other vectors.
    """
    words = text.lower().split() or [""]
    v = np.sum([_word_vector(w, int(dim), model) for w in words], axis=0)
    norm = np.linalg.norm(v)
    return (v / norm if norm > 0 else _word_vector("", int(dim), model)).astype(np.float32)


@functools.lru_cache(maxsize=200_000)
def _word_vector(word: str, dim: int, model: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{word}".encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dim)
    return v / np.linalg.norm(v)


def fault_fraction(rate: float, kinds=TRANSIENT_FAULTS, *, seed: int = 0, block: int = 10):
    """A schedule faulting exactly ``round(rate * block)`` of every ``block`` requests,
    at seeded random positions, with kinds drawn from ``kinds``."""
    n_bad = round(rate * block)

    def schedule(i: int, t: float):
        rng = random.Random(seed * 1_000_003 + i // block)
        bad = dict(zip(rng.sample(range(block), n_bad), rng.choices(list(kinds), k=n_bad)))
        return bad.get(i % block)

    return schedule


def fault_sequence(faults):
    """A schedule giving ``faults[i]`` to request ``i`` (None: answer), then no faults."""
    faults = list(faults)
    return lambda i, t: faults[i] if i < len(faults) else None


def fault_storm(seconds: float, kind: str = "429"):
    """A schedule answering ``kind`` to every request in the first ``seconds`` after the
    first request (a rate-limit storm), then normally."""
    return lambda i, t: kind if t < seconds else None


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    time: float      # seconds since the first request arrived
    n_texts: int
    outcome: str     # "ok" or the fault injected


class EmbeddingServer:
    """An OpenAI-compatible embedding server on 127.0.0.1 (an ephemeral port), in a thread.

    Parameters
    ----------
    dim : int, default 16
        Vector length (a request's ``dimensions`` overrides it).
    faults : callable, optional
        ``faults(i, t) -> fault name or None`` for request ``i`` (0-based) arriving ``t``
        seconds after the first; see :func:`fault_fraction`, :func:`fault_sequence`,
        :func:`fault_storm`.
    api_key : str, optional
        When set, requests must carry ``Authorization: Bearer <api_key>`` (else 401).
    retry_after : float, default 1.0
        Seconds a 429 asks to wait.
    slow_seconds : float, default 2.0
        How long a ``"slow"`` fault stalls.
    latency : float, default 0.0
        Seconds every answer takes (a real model is not instant).
    max_chars : int, optional
        A request holding a text longer than this is refused with a 400 naming no text,
        as OpenAI's "maximum context length" error (outcome ``"too long"``).

    Attributes
    ----------
    log : list of Received
    received, served : Counter
        Per text: times received in any request / times delivered in a valid answer.
    """

    def __init__(self, *, dim: int = 16, faults=None, api_key: str | None = None,
                 retry_after: float = 1.0, slow_seconds: float = 2.0, latency: float = 0.0,
                 max_chars: int | None = None):
        self.dim, self.faults, self.api_key = int(dim), faults, api_key
        self.max_chars = max_chars
        self.retry_after, self.slow_seconds, self.latency = retry_after, slow_seconds, latency
        self.log: list[Received] = []
        self.received: Counter = Counter()
        self.served: Counter = Counter()
        self._wrong_dims: Counter = Counter()  # "wrong-dim" answers per batch of texts
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._t0 = None
        self._httpd = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "EmbeddingServer":
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give OpenAIEmbedder: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def requests(self) -> int:
        return len(self.log)

    def times(self, outcome: str | None = None) -> np.ndarray:
        """Arrival times (seconds since the first request) of all or some requests."""
        with self._lock:
            return np.array([r.time for r in self.log if outcome in (None, r.outcome)])

    def reset(self) -> None:
        """Forget the counts (the fault schedule restarts at request 0)."""
        with self._lock:
            self.log.clear()
            self.received.clear()
            self.served.clear()
            self._wrong_dims.clear()
            self._t0 = None

    # ------------------------------------------------------------------ one request
    def _register(self, texts, outcome: str | None = None) -> tuple[int, str | None]:
        with self._lock:
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            i, t = len(self.log), now - self._t0
            fault = outcome or (self.faults(i, t) if self.faults else None)
            self.log.append(Received(t, len(texts), fault or "ok"))
            self.received.update(texts)
        return i, fault

    def _answer(self, body: dict, auth: str | None):
        """``(status, headers, payload bytes)`` or None to drop the connection."""
        texts = body.get("input") if isinstance(body, dict) else None
        if isinstance(texts, str):
            texts = [texts]
        if (not isinstance(texts, list) or not texts
                or not all(isinstance(t, str) for t in texts)):
            return _error(400, "'input' must be a non-empty string or list of strings",
                          "invalid_request_error")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _error(400, "you must provide a model parameter", "invalid_request_error")
        dim = body.get("dimensions") or self.dim
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            self._register(texts, "unauthorized")
            given = (auth or "")[7:]
            return _error(401, f"Incorrect API key provided: {given}. You can find your "
                          "API key at https://example.invalid/keys.", "invalid_api_key")
        longest = max(len(t) for t in texts)
        if self.max_chars is not None and longest > self.max_chars:
            self._register(texts, "too long")
            return _error(400, f"This model's maximum context length is {self.max_chars} "
                          f"characters, however you requested {longest} characters. Please "
                          "reduce the length of the input.", "invalid_request_error")
        _, fault = self._register(texts)
        if self.latency:
            self._stopping.wait(self.latency)
        if fault in ("429", "429-bare"):
            headers = ({"Retry-After": f"{self.retry_after:g}",
                        "retry-after-ms": str(int(self.retry_after * 1000))}
                       if fault == "429" else {})
            return _error(429, "Rate limit reached for requests; please try again later.",
                          "rate_limit_exceeded", headers)
        if fault in ("500", "503"):
            return _error(int(fault), "The server had an error while processing your request.",
                          "server_error")
        if fault == "slow":
            self._stopping.wait(self.slow_seconds)
            return _error(504, "upstream timed out", "timeout")
        if fault == "drop":
            return None
        if fault in ("400", "401"):
            return _error(int(fault), f"injected {fault}: this request is refused",
                          "invalid_request_error")
        if fault == "wrong-dim":
            with self._lock:
                again = self._wrong_dims[tuple(texts)]
                self._wrong_dims[tuple(texts)] += 1
            dim = dim - 1 if again == 0 else dim + again
        vectors = [vector_for(t, dim, model).tolist() for t in texts]
        payload = {"object": "list", "model": model,
                   "data": [{"object": "embedding", "index": i, "embedding": v}
                            for i, v in enumerate(vectors)],
                   "usage": {"prompt_tokens": sum(len(t) // 4 + 1 for t in texts),
                             "total_tokens": sum(len(t) // 4 + 1 for t in texts)}}
        data = json.dumps(payload).encode()
        if fault == "malformed":
            return 200, {}, data[: len(data) // 2]
        if fault is None:
            with self._lock:
                self.served.update(texts)
        return 200, {}, data


def _error(status, message, code, headers=None):
    payload = {"error": {"message": message, "type": code, "code": code}}
    return status, headers or {}, json.dumps(payload).encode()


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # many workers connect at once (the default backlog is 5)

    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out and hung up is part of the game, not news


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: EmbeddingServer

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        # routed by path: a query string (Azure's ?api-version=...) is not part of it
        if self.path.split("?", 1)[0].rstrip("/") not in ("/v1/embeddings", "/embeddings"):
            self._send(404, {}, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(*_error(400, "the body is not valid JSON", "invalid_request_error"))
            return
        answer = self.server_state._answer(body, self.headers.get("Authorization"))
        if answer is None:  # drop: close without a word
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(*answer)

    def _send(self, status: int, headers: dict, data: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout): nothing to do
            self.close_connection = True
