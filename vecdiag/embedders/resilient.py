"""``resilient(embedder)``: the same embedder, made to survive its provider.

One :meth:`ResilientEmbedder.encode` call:

1. reads every distinct text it can from the cache (:mod:`.cache`);
2. splits the rest into batches and sends them from ``max_concurrency`` asyncio workers
   through one shared rate limiter for requests and tokens (:mod:`.limits`);
3. retries transient failures (429, 5xx, timeouts, dropped connections, responses that
   fail the checks) with exponential backoff and full jitter after the server's
   ``Retry-After`` (tenacity), and stops at once on a final one (400, 401, 403, ...,
   the same wrong count or length of vectors answered twice for one batch, and NaN or
   infinite vectors answered twice for the same texts, naming their rows);
4. checks every answer (count, order, dimension, finite) and commits each batch to the
   cache as soon as it arrives, so a killed run resumes where it stopped;
5. returns the vectors in input order, or raises one :class:`EmbeddingError` naming the
   texts that still failed, after everything else is cached; when a batch fails every
   attempt before any batch of the call was embedded, and for a reason that is the
   server's (no connection, no answer, 502/503/504, a rate limit: a wrong port, a server
   down), the run stops there instead of spending every retry on each other batch.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import numpy as np

from .. import _validate as V
from ._base import _Base, _check_kind, _check_texts
from ._run import HeavyTexts, _Run
from ._threads import OverdueCalls
from .api import OpenAIEmbedder
from .cache import EmbeddingCache
from .errors import EmbeddingError, NonFinite, ProviderError, WrongShape
from .summary import EmbedSummary
from .tokens import estimate_tokens

DEFAULT_TIMEOUT = 30.0                 # seconds per request when the embedder names none

__all__ = ["resilient", "ResilientEmbedder"]


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
                 tokens_per_minute=None, max_retries=8, timeout=None, batch_size=None,
                 backoff=1.0, max_backoff=60.0, show_progress=None, seed=None):
        from .local import as_embedder

        if isinstance(embedder, ResilientEmbedder):
            raise TypeError("embedder is already resilient; wrap the original embedder once")
        self.embedder = as_embedder(embedder)
        self._function_id = _function_id(embedder, cache, self.embedder)
        if cache is None or isinstance(cache, EmbeddingCache):
            self.cache = cache
        elif isinstance(cache, (str, Path)):
            self.cache = EmbeddingCache(cache)
        else:
            raise TypeError(f"cache must be a directory, a .sqlite path or an EmbeddingCache, "
                            f"got {type(cache).__name__}")
        self.max_concurrency = V.check_positive_int(max_concurrency, "max_concurrency")
        self.max_retries = V.check_positive_int(max_retries, "max_retries", minimum=0)
        # inf made the limiter's drain rate inf - inf = NaN: encode hung for ever; True
        # read as one request a minute
        requests_per_minute, tokens_per_minute = (
            None if value is None else V.check_positive_number(
                value, name, what="a positive finite number, or None for no limit")
            for name, value in (("requests_per_minute", requests_per_minute),
                                ("tokens_per_minute", tokens_per_minute)))
        if timeout is None:
            # the wrapped client's own (OpenAIEmbedder(timeout=300) for a slow local model:
            # 30 s here timed every request out), else 30 s
            timeout = self.embedder.timeout if isinstance(self.embedder, OpenAIEmbedder) \
                else DEFAULT_TIMEOUT
        timeout, backoff, max_backoff = (
            V.check_positive_number(value, name, what="a positive number of seconds")
            for name, value in (("timeout", timeout), ("backoff", backoff),
                                ("max_backoff", max_backoff)))
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.timeout = float(timeout)
        self.batch_size = None if batch_size is None else V.check_positive_int(batch_size, "batch_size")
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.show_progress = V.check_show_progress(show_progress)   # "no" is truthy
        self._rng = random.Random(seed)
        self._dims: dict = {}  # vector length per cache_id, learned from answers
        self.last_summary = None
        # calls of a wrapped function past the timeout that have not returned yet (their
        # threads cannot be stopped), across encode calls
        self.overdue_calls = OverdueCalls()

    # ------------------------------------------------------------ the protocol, delegated
    model_name = property(lambda self: self.embedder.model_name)
    query_prefix = property(lambda self: self.embedder.query_prefix)
    document_prefix = property(lambda self: self.embedder.document_prefix)
    max_tokens = property(lambda self: self.embedder.max_tokens)

    @property
    def cache_id(self) -> str:
        return (getattr(self.embedder, "cache_id", None) or self._function_id
                or self.embedder.model_name)

    def count_tokens(self, texts, *, kind=None) -> np.ndarray:
        return self.embedder.count_tokens(texts, kind=kind)

    def __repr__(self) -> str:
        return (f"resilient({self.embedder!r}, cache={self.cache!r}, max_concurrency="
                f"{self.max_concurrency}, requests_per_minute={self.requests_per_minute!r}, "
                f"tokens_per_minute={self.tokens_per_minute!r}, max_retries={self.max_retries})")

    def _tokens(self, texts: list[str], kind: str) -> int:
        try:
            return int(np.sum(self.embedder.count_tokens(texts, kind=kind)))
        except (TypeError, NotImplementedError):  # no tokenizer: OpenAIEmbedder's estimate
            return int(np.sum(estimate_tokens(self.embedder.with_prefix(texts, kind))))

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
        check = getattr(self.embedder, "check_inputs", None)
        # refuse at once what the provider would refuse (rows named in texts); when all
        # is cached nothing is sent: no key is needed to read the cache back
        if check is not None and missing:
            check(self.embedder.with_prefix(texts, kind))
        batches = [missing[i:i + size] for i in range(0, len(missing), size)]
        run = _Run(self, kind, prefix, model, batches, found)
        show = self.show_progress if show_progress is None else \
            V.check_show_progress(show_progress)
        if show is None:
            show = len(batches) > 4
        try:
            run.execute(len(uniques), len(uniques) - len(missing), bool(show))
        except HeavyTexts as err:
            heavy = set(err.args[0])
            rows = [i for i, t in enumerate(texts) if t in heavy]
            raise ValueError(
                f"texts has {V.format_rows(rows)} that each weigh more than half of "
                f"tokens_per_minute={self.tokens_per_minute:g} (as count_tokens counts them, "
                "prefix included), so no batch_size lets them through the limiter: raise "
                "tokens_per_minute to your provider's real limit, or split these texts "
                "into shorter ones") from None
        wall = time.perf_counter() - start
        if run.dim is not None and run.fatal is None:  # not a length its answers refuted
            self._dims[model] = run.dim
        failed_texts = {t for b in run.failed_batches for t in b[0]}
        if run.stopped is not None:   # the batches not sent (or cut short) failed too
            failed_texts |= set(uniques) - set(found)
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
            if isinstance(run.fatal, NonFinite):   # the rows of the offending texts only
                held = {run.fatal_texts[p] for p in run.fatal.positions}
                run.fatal.name_rows(i for i, t in enumerate(texts) if t in held)
            elif isinstance(run.fatal, (ProviderError, WrongShape)):
                held = set(run.fatal_texts)
                run.fatal.name_rows(i for i, t in enumerate(texts) if t in held)
            raise run.fatal
        if failed_texts:
            causes = {t: err for batch, err in run.failed_batches for t in batch}
            unsent = f"not sent: a batch failed first ({run.stopped})"
            failed = [(i, t, causes.get(t, unsent)) for i, t in enumerate(texts)
                      if t in failed_texts]
            raise EmbeddingError(failed, total=len(texts), attempts=self.max_retries + 1,
                                 stopped=run.stopped)
        dim = {v.shape[0] for v in found.values()}
        if len(dim) > 1:
            raise ValueError(f"the cache holds vectors of dimensions {sorted(dim)} for "
                             f"{model}; clear it (EmbeddingCache.clear(model=...)) and rerun")
        return np.ascontiguousarray(np.stack([found[t] for t in texts]), dtype=np.float32)


def _function_id(embedder, cache, wrapped) -> str | None:
    """The cache identity of a plain function: its module and qualified name (two
    functions both called ``embed`` must not read each other's vectors). A lambda has no
    name to tell it from another, and an object's ``encode`` (or a bound method) only
    its class, and a function made by another that captures its variables (``def
    model_for(name): def embed(texts): ...``) only a name every such function shares:
    with a cache they must be given one. ``wrapped`` is ``as_embedder(embedder)``."""
    import inspect

    from .local import CallableEmbedder, SentenceTransformerEmbedder

    if isinstance(embedder, CallableEmbedder) and embedder.model_name == "custom" \
            and cache is not None:
        raise ValueError("a cache keeps vectors under the model's name, and this "
                         "CallableEmbedder has the default one ('custom'), which another "
                         "would share: pass model_name='your-model'")
    if cache is not None and not isinstance(embedder, _Base) and not isinstance(
            wrapped, SentenceTransformerEmbedder):
        # an object's encode (or a bound method) is known by its class, which every
        # instance shares whatever model or settings it holds: each read the other's
        owner = getattr(embedder, "__self__", None)
        if hasattr(embedder, "encode") or (inspect.ismethod(embedder)
                                           and not isinstance(owner, type)):
            shared = type(owner if inspect.ismethod(embedder) else embedder).__name__
            raise ValueError(f"a cache keeps vectors under the model's name, and this "
                             f"embedder is known only by its class ({shared}), which every "
                             "instance shares whatever model or settings it holds: wrap it "
                             "as vd.embedders.CallableEmbedder(obj.encode, "
                             "model_name='your-model') first")
    if hasattr(embedder, "encode") or not callable(embedder):
        return None
    qualname = getattr(embedder, "__qualname__", None)
    if cache is not None and (qualname is None or "<lambda>" in qualname):
        raise ValueError("a cache keeps vectors under the model's name, and this function "
                         "has none (a lambda or a partial): two such functions would read "
                         "each other's vectors; wrap it as vd.embedders.CallableEmbedder(fn, "
                         "model_name='your-model') first")
    if qualname is None:
        return None
    captured = getattr(getattr(embedder, "__code__", None), "co_freevars", ())
    if cache is not None and "<locals>" in qualname and captured:
        # a function made by a factory (def model_for(name): def embed(texts): ...) is
        # named alike by every call of it, whatever it captured, as a bound method is
        # by its class: model_for("b") read model_for("a")'s vectors
        raise ValueError(f"a cache keeps vectors under the model's name, and this function "
                         f"({qualname}) captures {', '.join(captured)} from the function that "
                         "made it, and every function made there shares this name whatever "
                         "it captured: they would read each other's vectors; wrap it as "
                         "vd.embedders.CallableEmbedder(fn, model_name='your-model') first")
    return f"{getattr(embedder, '__module__', None) or '?'}.{qualname}"


def resilient(embedder, *, cache=None, max_concurrency: int = 4,
              requests_per_minute: float | None = None, tokens_per_minute: float | None = None,
              max_retries: int = 8, timeout: float | None = None,
              batch_size: int | None = None,
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
        A plain function is keyed by its module and qualified name; a lambda, an
        object's ``encode`` or a function made by another that captures its variables
        must first be named with ``CallableEmbedder(fn, model_name=...)``.
    max_concurrency : int, default 4
        Batches in flight at once.
    requests_per_minute, tokens_per_minute : float, optional
        Limits shared by all workers, never exceeded in any 60-second window (retries
        included). Tokens are the embedder's ``count_tokens``, else the estimate of
        :func:`vecdiag.embedders.tokens.estimate_tokens` (~4 ASCII characters a token, one
        a CJK character, 3 an emoji).
    max_retries : int, default 8
        Retries per batch after its first attempt, for transient failures only.
    timeout : float, optional
        Seconds per request (default: an :class:`OpenAIEmbedder`'s own ``timeout``, else
        30; per call of a wrapped function; a Python function that runs
        over keeps running in its own daemon thread, its answer discarded, as threads
        cannot be stopped; while ``max_concurrency`` such calls have not returned, no
        more are started and the encode stops with an error saying so).
    batch_size : int, optional
        Texts per request (default: the embedder's ``batch_size``, else 32).
    backoff, max_backoff : float, default 1.0, 60.0
        Full-jitter backoff: retry n waits ``min(Retry-After, max_backoff) + uniform(0,
        min(max_backoff, backoff * 2**(n-1)))`` seconds (a server asking for an hour, or
        forever, does not hang the job).
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
