"""Pacing and patience: the shared rate limiter and the retry wait (backoff + full jitter).

Rate limits (aiolimiter's leaky bucket, shared by every concurrent worker)
    A limit of ``L`` per minute is a bucket of capacity ``C`` (one second's worth,
    ``L / 60``, or the largest single request when that is more) draining
    ``(L - C) / 60`` per second. A request (weighing 1, or its token count) waits until
    it fits in the bucket. In any window of ``T`` seconds at most ``C + (L - C) * T / 60``
    pass, so never more than ``L`` in any 60 seconds, and a worker that fell behind (a
    slow answer, a busy machine) may catch up by up to ``C`` at once. Below 60 requests
    a minute the bucket holds 1 and drains ``L / 60`` per second: requests are then
    exactly ``60 / L`` seconds apart. Retries pass through the same limiters: the limit
    counts every request sent.

Retry wait (exponential backoff with full jitter, AWS architecture blog, 2015)
    after the n-th failed attempt: ``retry_after + uniform(0, min(max_backoff,
    backoff * 2 ** (n - 1)))`` where ``retry_after`` is what the server asked for
    (``Retry-After`` / ``retry-after-ms``, 0 when absent). The random part spreads
    workers that failed together, so a 429 storm is not followed by a second one.
"""

from __future__ import annotations

import random
import time

from .errors import retry_after_seconds

__all__ = ["RateLimiter", "backoff_wait"]


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits shared by all workers of one run.

    Create it inside the running event loop (aiolimiter binds to it).
    """

    def __init__(self, requests_per_minute: float | None, tokens_per_minute: float | None,
                 largest_batch_tokens: int = 1):
        from .._optional import require

        AsyncLimiter = require("aiolimiter", "resilient embedding (rate limits)").AsyncLimiter

        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._requests = _bucket(AsyncLimiter, requests_per_minute, 1, "requests_per_minute")
        self._tokens = _bucket(AsyncLimiter, tokens_per_minute, largest_batch_tokens,
                               "tokens_per_minute")
        self.waited = 0.0  # seconds spent waiting for capacity, summed over workers

    async def acquire(self, tokens: int = 0) -> float:
        """Wait until one request of ``tokens`` tokens may go; the seconds waited."""
        start = time.perf_counter()
        if self._tokens is not None and tokens:
            await self._tokens.acquire(min(tokens, self._tokens.max_rate))
        if self._requests is not None:
            await self._requests.acquire(1)
        waited = time.perf_counter() - start
        self.waited += waited
        return waited


def bucket_shape(per_minute: float, largest: float = 1) -> tuple[float, float]:
    """``(capacity, drain per second)`` of the bucket enforcing ``per_minute``.

    Examples
    --------
    >>> bucket_shape(1200)      # 20 at once, then 1180 a minute: <= 1200 in any minute
    (20.0, 19.666666666666668)
    >>> bucket_shape(30)        # below 60 a minute: one at a time, 2 s apart
    (1, 0.5)
    """
    if per_minute < 60 and largest <= 1:
        return 1, per_minute / 60.0
    capacity = max(float(largest), per_minute / 60.0)
    return capacity, (per_minute - capacity) / 60.0


def _bucket(AsyncLimiter, per_minute, largest, name):
    if not per_minute:
        return None
    capacity, per_second = bucket_shape(per_minute, largest)
    if capacity > per_minute / 2 and not (capacity == 1 and largest <= 1):
        raise ValueError(
            f"one request weighs up to {largest:g} against {name}={per_minute:g}, more than "
            "half of the per-minute budget; lower batch_size so that a batch is a small part "
            "of it")
    return AsyncLimiter(capacity, capacity / per_second)


def backoff_wait(backoff: float, max_backoff: float, rng: random.Random | None = None):
    """A tenacity ``wait`` callable: the server's Retry-After plus full-jitter backoff.

    The Retry-After is a :class:`~.errors.ProviderError`'s ``retry_after``, or read from
    the ``response.headers`` another SDK's error carries (a wrapped function calling the
    openai or cohere client).

    Examples
    --------
    >>> class State:  # what tenacity passes: the attempt number and the outcome
    ...     attempt_number = 3
    ...     class outcome:
    ...         @staticmethod
    ...         def exception():
    ...             return None
    >>> w = backoff_wait(1.0, 60.0, random.Random(0))
    >>> all(0 <= w(State) <= 4.0 for _ in range(100))  # uniform(0, 1 * 2**2)
    True
    """
    rng = rng or random.Random()

    def wait(retry_state) -> float:
        n = max(int(retry_state.attempt_number), 1)
        err = retry_state.outcome.exception() if retry_state.outcome is not None else None
        asked = getattr(err, "retry_after", None)
        if asked is None:   # another SDK's error (openai, cohere, ...) keeps the response
            headers = getattr(getattr(err, "response", None), "headers", None)
            asked = retry_after_seconds(headers) if hasattr(headers, "get") else None
        asked = asked or 0.0
        # a server's wait is honoured up to max_backoff: "Retry-After: 3600" (or inf, or
        # a date decades ahead) would otherwise hang the job; retried too early, the
        # batch fails again and counts against its attempts
        asked = min(float(asked), max_backoff)
        return asked + rng.uniform(0.0, min(max_backoff, backoff * 2 ** (n - 1)))

    return wait
