"""Text models: turn texts into vectors, count their tokens, know their prefixes.

The embedder protocol
---------------------
Everything in vecdiag that takes an ``embedder=`` (``explain_neighbors``,
``Dataset.embed``, ``try_fixes``, ``drift``, the notebooks) calls :func:`as_embedder`
on it first, so any of these works:

* a :class:`SentenceTransformerEmbedder` (or a loaded ``SentenceTransformer``, or a
  model name / local path, which is wrapped in one);
* an :class:`OpenAIEmbedder` (any OpenAI-compatible ``/v1/embeddings`` server);
* any callable ``f(list_of_str) -> array (n, d)``, wrapped in a :class:`CallableEmbedder`;
* any object with an ``encode(texts)`` method returning an array;
* any of these wrapped by :func:`resilient` (concurrency, rate limits, retries, a durable
  cache), which keeps the protocol.

An embedder then offers exactly this surface (kept stable; ``explain_neighbors`` relies
on it):

``encode(texts, *, kind="document" | "query", batch_size=32, show_progress=None)``
    float32 array ``(len(texts), d)``; the query or document prefix is prepended first.
``max_tokens``
    the number of tokens (special tokens included) the model reads before it truncates,
    or ``None`` when unknown (then no truncation check is possible).
``count_tokens(texts, *, kind=None)``
    int64 array of token counts with the model's own tokenizer, special tokens
    included, *without* truncation; ``kind`` adds that kind's prefix first.
``model_name``
    a human-readable name (used to look up :func:`known_prefixes`).
``query_prefix`` / ``document_prefix``
    the prefixes ``encode`` applies.

Modules: :mod:`.prefixes` (known prefixes), :mod:`._base` (shared checks),
:mod:`.local` (in-process models), :mod:`.api` (OpenAI-compatible servers),
:mod:`.resilient` with :mod:`.limits`, :mod:`.cache`, :mod:`.errors` and
:mod:`.summary`, and :mod:`.testing` (a local fault-injecting server for tests and demos).
Nothing here imports torch, sentence-transformers or httpx until it is actually used.
"""

from __future__ import annotations

from ._base import EmbedderBase, _Base, _check_kind, _check_texts, check_texts
from .api import OpenAIEmbedder
from .cache import EmbeddingCache
from .errors import BadResponse, EmbeddingError, ProviderError
from .local import CallableEmbedder, SentenceTransformerEmbedder, _name_from_path, _name_of, as_embedder
from .prefixes import KNOWN_PREFIXES, known_prefixes
from .resilient import ResilientEmbedder, resilient
from .summary import EmbedSummary
from .tokens import KNOWN_DIMENSIONS, KNOWN_MAX_TOKENS

__all__ = ["SentenceTransformerEmbedder", "CallableEmbedder", "OpenAIEmbedder", "as_embedder",
           "EmbedderBase", "check_texts",
           "resilient", "ResilientEmbedder", "EmbeddingCache", "EmbedSummary",
           "ProviderError", "BadResponse", "EmbeddingError",
           "known_prefixes", "KNOWN_PREFIXES", "KNOWN_MAX_TOKENS", "KNOWN_DIMENSIONS"]
