"""The asynchronous part of one resilient ``encode`` call (see :mod:`.resilient`).

Workers take batches from one queue; each batch is paced by the shared
:class:`~.limits.RateLimiter`, retried by tenacity with :func:`~.limits.backoff_wait`,
checked, and committed to the cache as soon as it arrives. When the vector length is
not known in advance (no ``dimensions=``, not a known model, nothing cached), the first
answers are taken one at a time until two agree on it (:meth:`_Run._calibrate`; a
single batch is asked for twice).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import numpy as np

from ._threads import _Threads
from .errors import (REFUSED_FOR_CONTENT, NonFinite, ProviderError, WrongProtocol,
                     WrongShape, classify, http_status)

__all__ = ["_Run", "HeavyTexts"]


class HeavyTexts(ValueError):
    """Texts that each weigh more than half of ``tokens_per_minute`` (``args[0]``): no
    batch size lets them through the token limiter."""


class _Fatal(Exception):
    """Wraps a final (non-retryable) error so the run stops at once."""


class _Run:
    """The state of one encode call's asynchronous part (all mutated in the loop thread);
    ``owner`` is the :class:`~.resilient.ResilientEmbedder` (not imported: it imports
    this module)."""

    def __init__(self, owner, kind, prefix, model, batches, found):
        self.o, self.kind, self.prefix, self.model = owner, kind, prefix, model
        self.batches, self.found = batches, found
        self.requests = self.embedded = self.tokens = 0
        self.retries: Counter = Counter()
        self.failed_batches: list[tuple[list[str], str]] = []
        self.fatal = None
        self.fatal_texts: list[str] = []  # the batch whose final error stopped the run
        self.answered = 0       # batches answered with vectors by this run
        self.stopped = None     # why the run stopped before sending every batch
        self.throttled = 0.0
        self.dim, self.dim_from = _expected_dim(owner, model, found)

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
        try:
            self.limiter = RateLimiter(o.requests_per_minute, o.tokens_per_minute, max(weights))
        except ValueError:
            # "lower batch_size" cannot help a text that alone is over the limit
            heavy = [t for b in self.batches for t in b
                     if o._tokens([t], self.kind) > o.tokens_per_minute / 2]
            if heavy:
                raise HeavyTexts(heavy) from None
            raise
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
        pool = _Threads(o) if client is None else None
        try:
            if self.dim is None:
                try:
                    await self._calibrate(queue, client, pool)
                except _Fatal as err:
                    self.fatal, self.fatal_texts = err.args
                    return
            workers = [asyncio.create_task(self._worker(queue, client, pool))
                       for _ in range(min(o.max_concurrency, len(self.batches)))]
            try:
                await asyncio.gather(*workers)
            except _Fatal as err:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                self.fatal, self.fatal_texts = err.args
        finally:
            if client is not None:
                await client.aclose()
            self.throttled = self.limiter.waited

    async def _worker(self, queue, client, pool) -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            X = await self._fetch(self.batches[i], self.weights[i], client, pool)
            if X is not None:
                self._commit(self.batches[i], X, self.weights[i])

    async def _calibrate(self, queue, client, pool) -> None:
        """Unknown dimension: answers are taken one at a time until two agree on their
        length, so one faulty answer of the wrong length cannot set it."""
        held: dict = {}  # dim -> [(batch index, vectors)]
        rounds = 0
        while self.dim is None:
            if queue.empty():
                lone = [(d, items[0]) for d, items in held.items() if len(items) == 1]
                if len(held) == 1 and lone and rounds < self.o.max_retries:
                    # one batch, one answer: its length is asked for once more before it
                    # is trusted (and cached: a wrong one would fail every later run)
                    rounds += 1
                    d, (i, X) = lone[0]
                    failed = len(self.failed_batches)
                    Y = await self._fetch(self.batches[i], self.weights[i], client, pool)
                    if Y is None:       # no second answer: the first is all there is
                        del self.failed_batches[failed:]
                        self.dim = d
                    elif Y.shape[1] == d:
                        self.dim = d
                    else:               # they disagree: the newer one is checked in turn
                        held = {Y.shape[1]: [(i, Y)]}
                        self.retries["bad response"] += 1
                    continue
                if len(held) <= 1:  # one length seen (or every batch failed)
                    self.dim = next(iter(held), None)
                    break
                rounds += 1
                if rounds > self.o.max_retries:  # lengths never agree: keep the commonest
                    self.dim = max(held, key=lambda d: len(held[d]))
                    break
                for items in held.values():  # disagreement: ask again for all of them
                    for i, _ in items:
                        queue.put_nowait(i)
                        self.retries["bad response"] += 1
                held.clear()
                continue
            i = queue.get_nowait()
            X = await self._fetch(self.batches[i], self.weights[i], client, pool)
            if X is not None:
                held.setdefault(X.shape[1], []).append((i, X))
                if len(held[X.shape[1]]) >= 2:
                    self.dim = X.shape[1]
        self.dim_from = "agreed"
        for d, items in held.items():
            for i, X in items:
                if d == self.dim:
                    self._commit(self.batches[i], X, self.weights[i])
                else:
                    queue.put_nowait(i)
                    self.retries["bad response"] += 1

    async def _call(self, texts, client, pool) -> np.ndarray:
        from ._answers import check_vectors

        o = self.o
        if client is not None:
            # httpx times each phase (connect, each read); this bounds the whole request
            X = await asyncio.wait_for(
                o.embedder.aembed_batch(client, [self.prefix + t for t in texts]), o.timeout)
        else:
            from .local import CallableEmbedder, SentenceTransformerEmbedder

            loop = asyncio.get_running_loop()
            emb = o.embedder
            if isinstance(emb, CallableEmbedder):
                # the function's raw answer, checked below as a server's is: a NaN row or a
                # missing one is a bad response, retried (encode would refuse it for good)
                call = (lambda: emb.fn(emb.with_prefix(list(texts), self.kind)))
            elif isinstance(emb, SentenceTransformerEmbedder):  # the same for a model's
                call = (lambda: emb._model_vectors(emb.with_prefix(list(texts), self.kind),
                                                  len(texts), False))
            else:
                call = (lambda: emb.encode(texts, kind=self.kind, batch_size=len(texts),
                                           show_progress=False))
            X = await pool.run(loop, call, o.timeout)
        return check_vectors(X, len(texts), self.dim)

    async def _fetch(self, texts, weight, client, pool):
        """One batch's vectors after retries; None when it still failed (recorded)."""
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
        # the wrong shapes (or non-finite texts) this batch was answered: the same twice is final
        shapes = set()
        try:
            async for attempt in retrying:
                with attempt:
                    await self.limiter.acquire(weight)
                    self.requests += 1
                    try:
                        X = await self._call(texts, client, pool)
                    except (WrongShape, NonFinite, WrongProtocol) as err:
                        if err.shape in shapes:
                            raise err.repeated(self._hint(err)) from None
                        shapes.add(err.shape)
                        raise
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - sorted into retried-out vs final
            cause, transient = classify(err)
            if not transient:
                if isinstance(err, ProviderError) and err.status in REFUSED_FOR_CONTENT \
                        and len(texts) > 1:
                    return await self._halves(texts, client, pool)
                raise _Fatal(err, texts) from err
            # asyncio's TimeoutError has no message: the row said just "timeout: "
            detail = str(err) or (f"no answer within {o.timeout:g} s" if cause == "timeout"
                                  else type(err).__name__)
            self.failed_batches.append((texts, f"{cause}: {detail}"))
            if not self.answered and o.max_retries and _unreachable(cause, err):
                # no batch of this run has been answered with vectors and the failure is
                # the server's, not the batch's (a wrong port, a server down, a gateway
                # with nothing behind it): spending every retry on each other batch only
                # delayed the error by hours. A 500 or a bad answer may be this batch's
                # texts: the other batches still go (a first batch that always fails
                # would otherwise stop every rerun before anything is embedded)
                self.stopped = f"{cause}: {detail}"
                raise _Fatal(None, texts)
            return None
        self.answered += 1
        return X

    async def _halves(self, texts, client, pool):
        """A batch refused for what it holds (400, 413, 422), fetched as two halves: a
        text refused alone is then the one named by the final error (a half refused again
        is split again), and a batch too large as a whole goes through in halves (halves
        answered vectors of two lengths, before the length is known, are asked again). The
        vectors of both, or None when one failed for good (the other is committed)."""
        o = self.o
        for _ in range(o.max_retries + 1):
            done = []
            for half in (texts[:len(texts) // 2], texts[len(texts) // 2:]):
                weight = o._tokens(half, self.kind) if o.tokens_per_minute else 0
                done.append((half, await self._fetch(half, weight, client, pool), weight))
            lengths = sorted({X.shape[1] for _, X, _ in done if X is not None})
            if len(lengths) <= 1:
                break
            # only while the length is not known (no two answers agreed on it yet): which
            # half is right cannot be told, so both are asked again (np.concatenate failed
            # with NumPy's message)
            self.retries["bad response"] += 1
        else:
            self.failed_batches.append((texts, "bad response: the two halves of this batch "
                                               f"were answered vectors of lengths {lengths}"))
            return None
        if all(X is not None for _, X, _ in done):
            return np.concatenate([X for _, X, _ in done])
        for half, X, weight in done:
            if X is not None:
                self._commit(half, X, weight)
        return None

    def _hint(self, err: WrongShape) -> str:
        """Where the expected shape came from, and what to try, for a repeated one."""
        if err.shape[0] == "count":
            got = err.shape[2]            # a count, or the shape of the answer
            if isinstance(got, tuple):
                got = got[0] if got else 0
            return ("; an embedder answering fewer vectors than texts may cap the texts "
                    "per request: try a smaller batch_size" if got < err.shape[1] else "")
        if err.shape[0] != "length" or err.shape[1] is None:
            return ""
        asked = getattr(self.o.embedder, "dimensions", None)
        return {
            "embedder": (f" (asked for with dimensions={asked}: does the server ignore "
                         "dimensions? then leave it unset)" if asked else
                         f" (the known length of {self.o.embedder.model_name}: does the "
                         "server serve another model under this name?)"),
            "cache": (" (the length of this model's cached vectors: if the model changed, "
                      f"clear them with EmbeddingCache.clear(model={self.model!r}))"),
            "earlier": " (the length of this embedder's earlier answers: did the model change?)",
            "agreed": " (the length the other answers of this run agreed on)",
        }.get(self.dim_from, "")

    def _commit(self, texts, X, weight) -> None:
        """Cache one checked batch (one transaction) and count it done."""
        o = self.o
        if o.cache is not None:
            o.cache.put(self.model, self.kind, self.prefix, texts, X)
        for t, v in zip(texts, X):
            self.found[t] = v
        self.embedded += len(texts)
        self.tokens += weight
        self.bar.update(len(texts))
        self.throttled = self.limiter.waited
        self._postfix()


def _expected_dim(owner, model, found) -> tuple:
    """``(vector length, where it comes from)`` as known before any answer, or (None,
    None): the embedder (``dimensions=`` or a known model), cached vectors, or an
    earlier call of this embedder."""
    dim = getattr(owner.embedder, "expected_dim", None)
    if dim:
        return dim, "embedder"
    dim = next((v.shape[0] for v in found.values()), None)
    if dim:
        return dim, "cache"
    dim = owner._dims.get(model)
    if dim:
        return dim, "earlier"
    dim = owner.cache.dim_of(model) if owner.cache is not None else None
    return (dim, "cache") if dim else (None, None)


def _capture(main):
    try:
        asyncio.run(main())
    except BaseException as err:  # noqa: BLE001 - re-raised in the calling thread
        return err
    return None


def _unreachable(cause: str, err: BaseException) -> bool:
    """Whether a batch's final failure says the server cannot answer any batch: no
    connection, no answer in time, a gateway or server unavailable (502, 503, 504), or a
    rate limit that every retry met."""
    if cause in ("connection", "timeout", "429"):
        return True
    return cause == "5xx" and http_status(err) in (502, 503, 504)
