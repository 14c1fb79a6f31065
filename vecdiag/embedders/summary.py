"""The record of one resilient embedding run (printed at its end, kept on the embedder)."""

from __future__ import annotations

import dataclasses

from ..results import Result, escape, html_block, html_table, result

__all__ = ["EmbedSummary"]


@result
class EmbedSummary(Result):
    """What one :meth:`ResilientEmbedder.encode` call did."""

    model: str
    """The embedder's cache identity (model and options the vectors depend on)."""
    kind: str
    """"document" or "query"."""
    texts: int
    """Texts asked for (duplicates included)."""
    unique: int
    """Distinct texts among them (each is embedded at most once)."""
    cache_hits: int
    """Distinct texts read from the cache instead of embedded."""
    embedded: int
    """Distinct texts embedded by this run (and cached)."""
    failed: int
    """Distinct texts that still failed after every retry."""
    batches: int
    """Batches sent (first attempts)."""
    requests: int
    """Requests sent, retries included."""
    retries: dict
    """Retries by cause: "429", "5xx", "timeout", "connection", "bad response"."""
    wall_seconds: float
    """Wall time of the run."""
    throttled_seconds: float
    """Seconds workers waited on the rate limiter (summed over workers)."""
    requests_per_minute: float
    """Achieved request rate (requests / wall minutes)."""
    requests_limit: float | None
    """The configured requests_per_minute (None: unlimited)."""
    tokens_per_minute: float | None
    """Achieved token rate (None when no token limit was set: tokens not counted)."""
    tokens_limit: float | None
    """The configured tokens_per_minute."""

    @property
    def total_retries(self) -> int:
        return int(sum(self.retries.values()))

    def lines(self) -> list[str]:
        def vs(value, limit):
            return f"{value:.0f}" + (f" (limit {limit:g}, {value / limit:.0%})" if limit else "")

        retries = ", ".join(f"{k} {v}" for k, v in sorted(self.retries.items())) or "none"
        out = [f"embedded {self.texts} {self.kind} texts with {self.model}: "
               f"{self.unique} distinct, {self.cache_hits} from the cache, "
               f"{self.embedded} embedded, {self.failed} failed",
               f"  requests {self.requests} ({self.batches} batches), retries "
               f"{self.total_retries} ({retries})",
               f"  wall {self.wall_seconds:.1f} s, throttled {self.throttled_seconds:.1f} "
               f"worker-s, requests/min {vs(self.requests_per_minute, self.requests_limit)}"]
        if self.tokens_per_minute is not None:
            out[-1] += f", tokens/min {vs(self.tokens_per_minute, self.tokens_limit)}"
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}])

    def _repr_html_(self) -> str:
        rows = [(f.name, str(getattr(self, f.name)) if isinstance(getattr(self, f.name), dict)
                 else getattr(self, f.name)) for f in dataclasses.fields(self)]
        return html_block(f"EmbedSummary: {self.model}", html_table(rows, ["field", "value"]),
                          f"<pre>{escape(str(self))}</pre>")
