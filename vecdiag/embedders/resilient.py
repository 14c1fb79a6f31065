"""``resilient(embedder)``: the same embedder, made to survive its provider.

One :meth:`ResilientEmbedder.encode` call:

1. reads every distinct text it can from the cache (:mod:`.cache`);
2. splits the rest into batches and sends them from ``max_concurrency`` asyncio workers
   through one shared rate limiter for requests and tokens (:mod:`.limits`);
3. retries transient failures (429, 5xx, timeouts, dropped connections, responses that
   fail the checks) with exponential backoff and full jitter after the server's
   ``Retry-After`` (tenacity), and stops at once on a final one (400, 401, 403, ...);
4. checks every answer (count, order, dimension, finite) and commits each batch to the
   cache as soon as it arrives, so a killed run resumes where it stopped;
5. returns the vectors in input order, or raises one :class:`EmbeddingError` naming the
   texts that still failed, after everything else is cached.
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

from .. import _validate as V
from ._base import _Base, _check_kind, _check_texts
from .cache import EmbeddingCache
from .errors import EmbeddingError, classify
from .summary import EmbedSummary

__all__ = ["resilient", "ResilientEmbedder"]


class _Fatal(Exception):
    """Wraps a final (non-retryable) error so the run stops at once."""


class ResilientEmbedder(_Base):
    """An embedder wrapped by :func:`resilient` (same protocol, see :mod:`vecdiag.embedders`).

    Attributes
    ----------
    embedder : embedder
        The wrapped embedder.
    cache : EmbeddingCache or None
    last_summary : EmbedSummary or None
        The record of the latest ``encode`` call.
    """

    def __init__(self, embedder, *, cache=None, max_concurrency=4, requests_per_minute=None,
                 tokens_per_minute=None, max_retries=8, timeout=30.0, batch_size=None,
                 backoff=1.0, max_backoff=60.0, show_progress=None, seed=None):
        from .local import as_embedder

        if isinstance(embedder, ResilientEmbedder):
            raise TypeError("embedder is already resilient; wrap the original embedder once")
        self.embedder = as_embedder(embedder)
        if cache is None or isinstance(cache, EmbeddingCache):
            self.cache = cache
        elif isinstance(cache, (str, Path)):
            self.cache = EmbeddingCache(cache)
        else:
            raise TypeError(f"cache must be a directory, a .sqlite path or an EmbeddingCache, "
                            f"got {type(cache).__name__}")
        self.max_concurrency = V.check_positive_int(max_concurrency, "max_concurrency")
        self.max_retries = V.check_positive_int(max_retries, "max_retries", minimum=0)
        for name, value in (("requests_per_minute", requests_per_minute),
                            ("tokens_per_minute", tokens_per_minute)):
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}")
        for name, value in (("timeout", timeout), ("backoff", backoff), ("max_backoff", max_backoff)):
            if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.timeout = float(timeout)
        self.batch_size = None if batch_size is None else V.check_positive_int(batch_size, "batch_size")
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.show_progress = show_progress
        self._rng = random.Random(seed)
        self.last_summary = None

    # ------------------------------------------------------------ the protocol, delegated
    model_name = property(lambda self: self.embedder.model_name)
    query_prefix = property(lambda self: self.embedder.query_prefix)
    document_prefix = property(lambda self: self.embedder.document_prefix)
    max_tokens = property(lambda self: self.embedder.max_tokens)

    @property
    def cache_id(self) -> str:
        return getattr(self.embedder, "cache_id", None) or self.embedder.model_name

    def count_tokens(self, texts, *, kind=None) -> np.ndarray:
        return self.embedder.count_tokens(texts, kind=kind)

    def __repr__(self) -> str:
        return (f"resilient({self.embedder!r}, cache={self.cache!r}, max_concurrency="
                f"{self.max_concurrency}, requests_per_minute={self.requests_per_minute!r}, "
                f"tokens_per_minute={self.tokens_per_minute!r}, max_retries={self.max_retries})")

    def _tokens(self, texts: list[str], kind: str) -> int:
        try:
            return int(np.sum(self.embedder.count_tokens(texts, kind=kind)))
        except (TypeError, NotImplementedError):  # no tokenizer: ~4 characters per token
            pre = len(self.embedder.prefix(kind))
            return int(sum(math.ceil((pre + len(t)) / 4) for t in texts))

    # ------------------------------------------------------------ encode
    def encode(self, texts, *, kind: str = "document", batch_size: int | None = None,
               show_progress: bool | None = None) -> np.ndarray:
        """Embed ``texts`` as float32 ``(n, d)`` in input order (see the module docstring).

        ``batch_size`` defaults to the one given to :func:`resilient`, else the wrapped
        embedder's ``batch_size``, else 32. Identical texts are embedded once.
        """
        texts = _check_texts(texts)
        kind = _check_kind(kind)
        if not texts:
            raise ValueError("texts is empty; pass at least one text to encode")
        size = (V.check_positive_int(batch_size, "batch_size") if batch_size is not None
                else self.batch_size or getattr(self.embedder, "batch_size", None) or 32)
        start = time.perf_counter()
        uniques = list(dict.fromkeys(texts))
        prefix = self.embedder.prefix(kind)
        model = self.cache_id
        found = {}
        if self.cache is not None:
            found = {t: v for t, v in zip(uniques, self.cache.get(model, kind, prefix, uniques))
                     if v is not None}
        missing = [t for t in uniques if t not in found]
        batches = [missing[i:i + size] for i in range(0, len(missing), size)]
        run = _Run(self, kind, prefix, model, batches, found)
        show = self.show_progress if show_progress is None else show_progress
        if show is None:
            show = len(batches) > 4
        run.execute(len(uniques), len(uniques) - len(missing), bool(show))
        wall = time.perf_counter() - start
        failed_texts = {t for b in run.failed_batches for t in b[0]}
        summary = EmbedSummary(
            model=model, kind=kind, texts=len(texts), unique=len(uniques),
            cache_hits=len(uniques) - len(missing), embedded=run.embedded,
            failed=len(failed_texts), batches=len(batches), requests=run.requests,
            retries=dict(run.retries), wall_seconds=wall, throttled_seconds=run.throttled,
            requests_per_minute=run.requests / wall * 60 if wall > 0 else 0.0,
            requests_limit=self.requests_per_minute,
            tokens_per_minute=(run.tokens / wall * 60 if self.tokens_per_minute else None),
            tokens_limit=self.tokens_per_minute)
        self.last_summary = summary
        if show:
            print(summary, file=sys.stderr)
        if run.fatal is not None:
            raise run.fatal
        if failed_texts:
            causes = {t: err for batch, err in run.failed_batches for t in batch}
            failed = [(i, t, causes[t]) for i, t in enumerate(texts) if t in failed_texts]
            raise EmbeddingError(failed, total=len(texts), attempts=self.max_retries + 1)
        dim = {v.shape[0] for v in found.values()}
        if len(dim) > 1:
            raise ValueError(f"the cache holds vectors of dimensions {sorted(dim)} for "
                             f"{model}; clear it (EmbeddingCache.clear(model=...)) and rerun")
        return np.ascontiguousarray(np.stack([found[t] for t in texts]), dtype=np.float32)


class _Run:
    """The state of one encode call's asynchronous part (all mutated in the loop thread)."""

    def __init__(self, owner: ResilientEmbedder, kind, prefix, model, batches, found):
        self.o, self.kind, self.prefix, self.model = owner, kind, prefix, model
        self.batches, self.found = batches, found
        self.requests = self.embedded = self.tokens = 0
        self.retries: Counter = Counter()
        self.failed_batches: list[tuple[list[str], str]] = []
        self.fatal = None
        self.throttled = 0.0
        inner = owner.embedder
        self.dim = getattr(inner, "expected_dim", None) or next(
            (v.shape[0] for v in found.values()), None)

    def execute(self, total: int, hits: int, show: bool) -> None:
        if not self.batches:
            return
        from .._progress import progress_bar

        with progress_bar(total, desc=f"embedding {self.kind}s", show=show) as bar:
            self.bar = bar
            bar.update(hits)
            self._postfix()
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # the usual case: no loop running in this thread
                asyncio.run(self._main())
            else:  # inside Jupyter's loop: run ours in a helper thread
                box = {}
                thread = threading.Thread(target=lambda: box.update(r=_capture(self._main)),
                                          daemon=True)
                thread.start()
                thread.join()
                if box["r"] is not None:
                    raise box["r"]

    def _postfix(self) -> None:
        if hasattr(self.bar, "set_postfix"):
            self.bar.set_postfix(cached=len(self.found) - self.embedded,
                                 retries=sum(self.retries.values()),
                                 throttled=f"{self.throttled:.1f}s", refresh=False)

    async def _main(self) -> None:
        from .limits import RateLimiter

        o = self.o
        weights = [0] * len(self.batches)
        if o.tokens_per_minute:
            weights = [o._tokens(b, self.kind) for b in self.batches]
        self.limiter = RateLimiter(o.requests_per_minute, o.tokens_per_minute, max(weights))
        self.weights = weights
        queue = asyncio.Queue()
        for i in range(len(self.batches)):
            queue.put_nowait(i)
        client = None
        if hasattr(o.embedder, "aembed_batch"):
            from .._optional import require

            httpx = require("httpx", "resilient embedding")
            client = httpx.AsyncClient(timeout=o.timeout, limits=httpx.Limits(
                max_connections=o.max_concurrency, max_keepalive_connections=o.max_concurrency))
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=o.max_concurrency + 2) if client is None else None
        try:
            workers = [asyncio.create_task(self._worker(queue, client, pool))
                       for _ in range(min(o.max_concurrency, len(self.batches)))]
            try:
                await asyncio.gather(*workers)
            except _Fatal as err:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                self.fatal = err.args[0]
        finally:
            if client is not None:
                await client.aclose()
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            self.throttled = self.limiter.waited

    async def _worker(self, queue, client, pool) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await self._one_batch(self.batches[i], self.weights[i], client, pool)

    async def _call(self, texts, client, pool) -> np.ndarray:
        from .api import check_vectors

        o = self.o
        if client is not None:
            X = await o.embedder.aembed_batch(client, [self.prefix + t for t in texts])
        else:
            loop = asyncio.get_running_loop()
            call = (lambda: o.embedder.encode(texts, kind=self.kind, batch_size=len(texts),
                                              show_progress=False))
            X = await asyncio.wait_for(loop.run_in_executor(pool, call), o.timeout)
        return check_vectors(X, len(texts), self.dim)

    async def _one_batch(self, texts, weight, client, pool) -> None:
        from .._optional import require

        tenacity = require("tenacity", "resilient embedding (retries)")
        AsyncRetrying, stop_after_attempt = tenacity.AsyncRetrying, tenacity.stop_after_attempt
        retry_if_exception = tenacity.retry_if_exception

        from .limits import backoff_wait

        o = self.o

        def before_sleep(state) -> None:
            self.retries[classify(state.outcome.exception())[0]] += 1
            self.throttled = self.limiter.waited
            self._postfix()

        retrying = AsyncRetrying(
            stop=stop_after_attempt(o.max_retries + 1), reraise=True,
            wait=backoff_wait(o.backoff, o.max_backoff, o._rng),
            retry=retry_if_exception(lambda e: classify(e)[1]), before_sleep=before_sleep)
        try:
            async for attempt in retrying:
                with attempt:
                    await self.limiter.acquire(weight)
                    self.requests += 1
                    X = await self._call(texts, client, pool)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - sorted into retried-out vs final
            cause, transient = classify(err)
            if not transient:
                raise _Fatal(err) from err
            self.failed_batches.append((texts, f"{cause}: {err}"))
            return
        if self.dim is None:
            self.dim = X.shape[1]
        if o.cache is not None:
            o.cache.put(self.model, self.kind, self.prefix, texts, X)
        for t, v in zip(texts, X):
            self.found[t] = v
        self.embedded += len(texts)
        self.tokens += weight
        self.bar.update(len(texts))
        self.throttled = self.limiter.waited
        self._postfix()


def _capture(main):
    try:
        asyncio.run(main())
    except BaseException as err:  # noqa: BLE001 - re-raised in the calling thread
        return err
    return None


def resilient(embedder, *, cache=None, max_concurrency: int = 4,
              requests_per_minute: float | None = None, tokens_per_minute: float | None = None,
              max_retries: int = 8, timeout: float = 30.0, batch_size: int | None = None,
              backoff: float = 1.0, max_backoff: float = 60.0, show_progress=None,
              seed=None) -> ResilientEmbedder:
    """Wrap any embedder so that it survives its provider; the same protocol comes back.

    Parameters
    ----------
    embedder : embedder
        An :class:`OpenAIEmbedder` (requests run concurrently on one httpx connection
        pool), a sentence-transformers model, any callable ``texts -> array`` or object
        with ``encode`` (run in worker threads): anything :func:`as_embedder` accepts.
    cache : str, Path or EmbeddingCache, optional
        A directory (or ``.sqlite`` file) for the durable cache; None keeps nothing.
    max_concurrency : int, default 4
        Batches in flight at once.
    requests_per_minute, tokens_per_minute : float, optional
        Limits shared by all workers, never exceeded in any 60-second window (retries
        included). Tokens are the embedder's ``count_tokens`` or ~4 characters each.
    max_retries : int, default 8
        Retries per batch after its first attempt, for transient failures only.
    timeout : float, default 30.0
        Seconds per request (per call of a wrapped function).
    batch_size : int, optional
        Texts per request (default: the embedder's ``batch_size``, else 32).
    backoff, max_backoff : float, default 1.0, 60.0
        Full-jitter backoff: retry n waits ``Retry-After + uniform(0, min(max_backoff,
        backoff * 2**(n-1)))`` seconds.
    show_progress : bool, optional
        Progress bar (texts done, cache hits, retries, throttled time) and a printed
        summary; default: when more than 4 batches are sent.
    seed : int, optional
        Seeds the jitter (reproducible waits).

    Returns
    -------
    ResilientEmbedder
        ``encode``, ``count_tokens``, ``max_tokens``, prefixes and ``model_name`` as the
        wrapped embedder; ``last_summary`` holds the :class:`EmbedSummary` of the last call.

    Examples
    --------
    >>> import tempfile
    >>> calls = []
    >>> def model(texts):
    ...     calls.append(len(texts))
    ...     return [[len(t), 1.0] for t in texts]
    >>> emb = resilient(model, cache=tempfile.mkdtemp(), batch_size=2)
    >>> emb.encode(["a", "bb", "a", "ccc"]).tolist()
    [[1.0, 1.0], [2.0, 1.0], [1.0, 1.0], [3.0, 1.0]]
    >>> emb.encode(["ccc", "dddd"])[:, 0].tolist(), sorted(calls)  # only "dddd" was new
    ([3.0, 4.0], [1, 1, 2])
    >>> emb.last_summary.cache_hits, emb.last_summary.embedded
    (1, 1)
    """
    return ResilientEmbedder(embedder, cache=cache, max_concurrency=max_concurrency,
                             requests_per_minute=requests_per_minute,
                             tokens_per_minute=tokens_per_minute, max_retries=max_retries,
                             timeout=timeout, batch_size=batch_size, backoff=backoff,
                             max_backoff=max_backoff, show_progress=show_progress, seed=seed)
