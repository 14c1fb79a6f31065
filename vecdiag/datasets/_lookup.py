"""An embedder backed by a dataset's stored embeddings: no model, no torch."""

from __future__ import annotations

import numpy as np

from ..embedders import EmbedderBase, check_texts

__all__ = ["LookupEmbedder"]


class LookupEmbedder(EmbedderBase):
    """Answers ``encode`` for the dataset's own texts from its stored embeddings.

    It follows the embedder protocol of :mod:`vecdiag.embedders` with the dataset's
    ``model_name``, ``max_tokens`` and token counts, and no prefixes (the stored
    embeddings were made without). Any text the dataset does not hold raises a
    ValueError that says so: it cannot embed new text.

    Examples
    --------
    >>> from vecdiag.datasets import load_demo
    >>> data = load_demo()
    >>> emb = data.lookup_embedder()
    >>> bool((emb.encode(data.query_texts[:1], kind="query") == data.query_embeddings[:1]).all())
    True
    """

    def __init__(self, dataset):
        self.model_name = dataset.model_name or "unknown"
        self.query_prefix = ""
        self.document_prefix = ""
        self.max_tokens = dataset.max_tokens
        self._rows = {"document": {t: i for i, t in enumerate(dataset.corpus_texts)},
                      "query": {t: i for i, t in enumerate(dataset.query_texts)}}
        self._vectors = {"document": dataset.corpus_embeddings,
                         "query": dataset.query_embeddings}
        self._counts = None
        if dataset.token_counts is not None:
            self._counts = {t: int(c) for t, c in zip(dataset.corpus_texts, dataset.token_counts)}
            if dataset.query_token_counts is not None:
                self._counts.update((t, int(c)) for t, c in
                                    zip(dataset.query_texts, dataset.query_token_counts))
        self._name = dataset.name

    def encode(self, texts, *, kind: str = "document", batch_size: int = 32,
               show_progress=None) -> np.ndarray:
        texts = self.with_prefix(texts, kind)
        rows = self._rows[kind]
        missing = [i for i, t in enumerate(texts) if t not in rows]
        if missing or self._vectors[kind] is None:
            raise ValueError(f"the {self._name!r} lookup embedder only knows the dataset's own "
                             f"{kind} texts; {len(missing) or len(texts)} of {len(texts)} texts "
                             "are new: embed new text with a real model "
                             "(vecdiag.embedders.SentenceTransformerEmbedder)")
        return np.asarray(self._vectors[kind][[rows[t] for t in texts]], dtype=np.float32)

    def count_tokens(self, texts, *, kind: str | None = None) -> np.ndarray:
        texts = check_texts(texts) if kind is None else self.with_prefix(texts, kind)
        if self._counts is None:
            raise TypeError(f"dataset {self._name!r} stores no token counts")
        missing = [t for t in texts if t not in self._counts]
        if missing:
            raise ValueError(f"the {self._name!r} lookup embedder knows token counts of the "
                             f"dataset's own texts only; {len(missing)} texts are new")
        return np.array([self._counts[t] for t in texts], dtype=np.int64)
