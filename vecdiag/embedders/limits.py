"""Pacing and patience: the shared rate limiter and the retry wait (backoff + full jitter).

Rate limits (aiolimiter's leaky bucket, shared by every concurrent worker)
    *Requests*: a bucket of capacity 1 draining ``requests_per_minute / 60`` per second.
    Each request needs an empty bucket, so two requests are at least ``60 / rpm`` seconds
    apart and no window of 60 seconds ever holds more than ``rpm`` of them; with enough
    concurrency the achieved rate is the limit itself.
    *Tokens*: requests weigh their token count. A bucket of capacity ``C`` (the largest
    batch, in tokens) draining ``(tpm - C) / 60`` per second admits at most
    ``C + (tpm - C) * T / 60 <= tpm`` tokens in any window of ``T <= 60`` seconds.
    Retries pass through the same limiters: the limit counts every request sent.

Retry wait (exponential backoff with full jitter, AWS architecture blog, 2015)
    after the n-th failed attempt: ``retry_after + uniform(0, min(max_backoff,
    backoff * 2 ** (n - 1)))`` where ``retry_after`` is what the server asked for
    (``Retry-After`` / ``retry-after-ms``, 0 when absent). The random part spreads
    workers that failed together, so a 429 storm is not followed by a second one.
"""

from __future__ import annotations

import random
import time

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
        self._requests = (AsyncLimiter(1, 60.0 / requests_per_minute)
                          if requests_per_minute else None)
        self._tokens = None
        if tokens_per_minute:
            capacity = max(int(largest_batch_tokens), 1)
            if capacity > tokens_per_minute / 2:
                raise ValueError(
                    f"one batch holds up to {capacity} tokens, more than half of "
                    f"tokens_per_minute={tokens_per_minute:g}; lower batch_size so that a "
                    "batch is a small part of the per-minute budget")
            per_second = (tokens_per_minute - capacity) / 60.0
            self._tokens = AsyncLimiter(capacity, capacity / per_second)
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


def backoff_wait(backoff: float, max_backoff: float, rng: random.Random | None = None):
    """A tenacity ``wait`` callable: the server's Retry-After plus full-jitter backoff.

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
        asked = getattr(err, "retry_after", None) or 0.0
        return float(asked) + rng.uniform(0.0, min(max_backoff, backoff * 2 ** (n - 1)))

    return wait
