"""The :class:`Dataset` record: texts, ids, graded judgments and (optional) embeddings."""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from .. import _validate as V
from .._options import is_missing
from ..results import (Result, counted, escape, html_block, html_table, result, shorten,
                       text_safe_frame)

__all__ = ["Dataset", "join_title"]


def join_title(title: str, text: str) -> str:
    """The text a model embeds for a document with a title.

    ``title`` and ``text`` joined by ``". "`` (just a space when the title already ends
    in punctuation); the title is not repeated when the text already starts with it, as
    in some classic collections (Cranfield).

    Examples
    --------
    >>> join_title("Reset the HX-100", "Hold the button.")
    'Reset the HX-100. Hold the button.'
    >>> join_title("wing flutter .", "wing flutter . a study")
    'wing flutter . a study'
    >>> join_title("Cats", "Cats purr.")
    'Cats. Cats purr.'
    """
    title, text = (title or "").strip(), (text or "").strip()
    if not title:
        return text
    if text.lower().startswith(title.lower()):
        rest = text[len(title):]
        if not rest or title[-1] in ".!?:;" or rest[0] in ".!?:;\n":
            return text  # the text already repeats the whole title
    if not text:
        return title
    return f"{title} {text}" if title[-1] in ".!?:;" else f"{title}. {text}"


@result
class Dataset(Result):
    """A retrieval test collection: a corpus, queries, graded judgments, embeddings.

    Parameters
    ----------
    name : str
        Short name of the collection (e.g. ``"demo"`` or the folder name).
    corpus_ids, corpus_texts : list of str
        Document ids (unique) and texts as embedded, one per corpus row.
    query_ids, query_texts : list of str
        Query ids (unique) and texts, one per query row. Ids and texts that are not
        strings are written with ``str``; a missing text (None, or NaN from a pandas
        column) is the empty text, a missing id is refused, and so are bytes (decode them).
    qrels : dict
        Graded judgments ``{query_id: {doc_id: grade}}``; grade 0 = judged not relevant.
        Every id must be among ``query_ids`` / ``corpus_ids``.
    corpus_embeddings, query_embeddings : ndarray, optional
        ``(n_docs, d)`` and ``(n_queries, d)`` embeddings in row order, or None until
        embedded.
    model_name : str, optional
        Name of the model that made the embeddings.
    corpus_titles : list, optional
        Document titles (for display).
    query_groups : list, optional
        A label per query (the demo: which failure pattern it exercises).
    token_counts, query_token_counts : ndarray, optional
        Tokens per document / query under ``model_name`` (special tokens included).
    max_tokens : int, optional
        The model's token limit: documents with more tokens were truncated.

    Raises
    ------
    ValueError
        Lengths that disagree, missing or repeated ids, judgments naming unknown ids.

    Examples
    --------
    >>> from vecdiag.datasets import Dataset, load_demo
    >>> ds = Dataset(name="tiny", corpus_ids=["d1", "d2"],
    ...              corpus_texts=["Reset the router.", "Update the firmware."],
    ...              query_ids=["q1"], query_texts=["how to reset"],
    ...              qrels={"q1": {"d1": 2}})
    >>> ds.qrels, ds.corpus_embeddings is None
    ({'q1': {'d1': 2}}, True)
    >>> demo = load_demo()
    >>> demo.corpus_embeddings.shape, demo.model_name
    ((259, 384), 'all-MiniLM-L6-v2')
    """

    name: str
    """Short name of the collection (e.g. ``"demo"`` or the folder name)."""
    corpus_ids: list
    """Document ids (strings), one per corpus row."""
    corpus_texts: list
    """Document texts as embedded (title joined in, see :func:`join_title`)."""
    query_ids: list
    """Query ids (strings), one per query row."""
    query_texts: list
    """Query texts."""
    qrels: dict
    """Graded judgments ``{query_id: {doc_id: grade}}``; grade 0 = judged not relevant."""
    corpus_embeddings: np.ndarray | None = None
    """``(n_docs, d)`` float32 embeddings in corpus order, or None until embedded."""
    query_embeddings: np.ndarray | None = None
    """``(n_queries, d)`` float32 embeddings in query order, or None until embedded."""
    model_name: str | None = None
    """Name of the model that made the embeddings."""
    corpus_titles: list | None = None
    """Document titles (for display), when the collection has them."""
    query_groups: list | None = None
    """Optional label per query (the demo: which failure pattern it exercises)."""
    token_counts: np.ndarray | None = None
    """Tokens per document under ``model_name`` (special tokens included), if known."""
    max_tokens: int | None = None
    """The model's token limit: documents with more tokens were truncated."""
    query_token_counts: np.ndarray | None = None
    """Tokens per query under ``model_name`` (special tokens included), if known."""

    def __post_init__(self):
        for field in ("corpus_ids", "corpus_texts", "query_ids", "query_texts"):
            value = getattr(self, field)
            if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
                raise TypeError(f"{field} must be a list, got {type(value).__name__}")
            value = list(value)
            raw = [i for i, v in enumerate(value) if isinstance(v, (bytes, bytearray))]
            if raw:   # str(b"d1") is "b'd1'", an id or a text nobody wrote
                raise TypeError(f"{field} holds bytes in {V.format_rows(raw)} (e.g. "
                                f"{value[raw[0]]!r}); decode them first (.decode('utf-8'))")
            gaps = [i for i, v in enumerate(value) if is_missing(v)]
            if gaps and field.endswith("_ids"):
                raise ValueError(f"{field} has no id (None or NaN) in {V.format_rows(gaps)}; "
                                 "every row needs its own id")
            # a missing text (None, or NaN from a pandas column) is no text, as load_beir
            # reads a null one: str() made it the word "None" or "nan", then embedded
            gaps = set(gaps)
            object.__setattr__(self, field, ["" if i in gaps else str(v)
                                             for i, v in enumerate(value)])
        _same_length(self.corpus_ids, "corpus_ids", self.corpus_texts, "corpus_texts")
        _same_length(self.query_ids, "query_ids", self.query_texts, "query_texts")
        _unique(self.corpus_ids, "corpus_ids")
        _unique(self.query_ids, "query_ids")
        for field, n in (("corpus_embeddings", len(self.corpus_ids)),
                         ("query_embeddings", len(self.query_ids))):
            X = getattr(self, field)
            if X is not None:
                X = V.as_matrix(X, field)
                if X.shape[0] != n:
                    raise ValueError(f"{field} has {X.shape[0]} rows but there are {n} "
                                     f"{field.split('_')[0]} texts; embed them in the same order")
                object.__setattr__(self, field, X)
        if (self.corpus_embeddings is not None and self.query_embeddings is not None):
            V.check_same_dim(self.corpus_embeddings, "corpus_embeddings",
                             self.query_embeddings, "query_embeddings")
        for field, n in (("corpus_titles", len(self.corpus_ids)),
                         ("query_groups", len(self.query_ids)),
                         ("token_counts", len(self.corpus_ids)),
                         ("query_token_counts", len(self.query_ids))):
            value = getattr(self, field)
            if value is not None and len(value) != n:
                raise ValueError(f"{field} has {len(value)} entries, expected {n}")
        self._check_qrels()

    def _check_qrels(self):
        known_q, known_d = set(self.query_ids), set(self.corpus_ids)
        clean = {}
        for qid, docs in dict(self.qrels).items():
            if str(qid) not in known_q:
                raise ValueError(f"qrels judge query {qid!r}, which is not among query_ids; "
                                 "drop its judgments or add the query")
            bad = [d for d in docs if str(d) not in known_d]
            if bad:
                raise ValueError(f"qrels for query {qid!r} name {len(bad)} unknown documents "
                                 f"(first: {', '.join(map(repr, bad[:3]))}); they must be corpus_ids")
            clean[str(qid)] = {str(d): int(g) for d, g in docs.items()}
        object.__setattr__(self, "qrels", clean)

    # ------------------------------------------------------------------ derived views
    @property
    def doc_index(self) -> dict:
        """``{doc_id: corpus row}``."""
        return {d: i for i, d in enumerate(self.corpus_ids)}

    def relevant(self, query_id, *, min_grade: int = 1) -> list:
        """Ids of the documents judged at least ``min_grade`` for ``query_id``, best first.
        ``query_id`` is read as the qrels read ids (7 and 7.0 as "7"); one the dataset
        does not hold is refused (it gave [], as a query without relevant documents)."""
        key = V.id_str(query_id, "query_id")
        if key not in self.qrels and key not in self.query_ids:
            raise ValueError(f"query_id {query_id!r} is not a query of this dataset (its ids: "
                             f"{', '.join(map(repr, self.query_ids[:3]))}, ...); pass one of "
                             "dataset.query_ids")
        if isinstance(min_grade, (bool, np.bool_)) or not isinstance(min_grade, numbers.Integral):
            raise TypeError(f"min_grade must be an integer grade, got {min_grade!r}")
        return self._relevant_to(key, min_grade)

    def _relevant_to(self, key: str, min_grade: int = 1) -> list:
        """:meth:`relevant` of a query id already read and held (no check)."""
        docs = self.qrels.get(key, {})
        return [d for d, g in sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))
                if g >= min_grade]

    def truncated(self) -> np.ndarray:
        """Corpus rows longer than the model's token limit (empty when unknown)."""
        if self.token_counts is None or self.max_tokens is None:
            return np.array([], dtype=np.int64)
        return np.flatnonzero(np.asarray(self.token_counts) > self.max_tokens)

    def index(self, *, metric: str = "cosine"):
        """A :class:`vecdiag.Index` over the corpus embeddings, with ids and texts."""
        from ..neighbors import Index

        self._need_embeddings()
        return Index(self.corpus_embeddings, ids=self.corpus_ids, texts=self.corpus_texts,
                     metric=metric)

    def embed(self, embedder, *, batch_size: int | None = None,
              show_progress=None) -> "Dataset":
        """A copy with corpus and queries embedded by ``embedder`` (any embedder, see
        :mod:`vecdiag.embedders`); documents with ``kind="document"``, queries with
        ``kind="query"``. The token counts are refreshed when the embedder can count
        (an embedder with ``max_tokens`` but no tokenizer leaves them None).

        ``batch_size`` defaults to the embedder's own (32 for a local model, an
        ``OpenAIEmbedder``'s ``batch_size``, the one given to ``resilient``)."""
        from ..embedders import as_embedder

        emb = as_embedder(embedder)
        size = {} if batch_size is None else {"batch_size": batch_size}
        docs = emb.encode(self.corpus_texts, kind="document", show_progress=show_progress,
                          **size)
        queries = emb.encode(self.query_texts, kind="query", show_progress=show_progress,
                             **size)
        counts = query_counts = None
        limit = emb.max_tokens
        if limit is not None:
            try:
                counts = emb.count_tokens(self.corpus_texts, kind="document")
                query_counts = emb.count_tokens(self.query_texts, kind="query")
            except (TypeError, NotImplementedError):
                # a limit but no tokenizer (CallableEmbedder(fn, max_tokens=512)): the
                # vectors were thrown away with "has no tokenizer" after embedding all
                counts = query_counts = None
        return dataclasses.replace(self, corpus_embeddings=docs, query_embeddings=queries,
                                   model_name=emb.model_name, token_counts=counts,
                                   max_tokens=limit, query_token_counts=query_counts)

    def lookup_embedder(self):
        """An embedder that answers from the stored embeddings (no model, no torch).

        ``encode`` returns the stored vector of a corpus text (``kind="document"``) or a
        query text (``kind="query"``) and raises ValueError for any other text;
        ``count_tokens`` and ``max_tokens`` come from the stored counts. It lets code
        written against the embedder protocol run on the bundled demo without torch;
        checks that embed new text (``explain_neighbors``'s truncation check embeds
        chunks of a document) need the real model.
        """
        from ._lookup import LookupEmbedder

        self._need_embeddings()
        return LookupEmbedder(self)

    def _need_embeddings(self):
        if self.corpus_embeddings is None:
            raise ValueError(f"dataset {self.name!r} has no embeddings yet; call "
                             ".embed(embedder) first (see vecdiag.embedders)")

    # ------------------------------------------------------------------ display
    def to_frame(self):
        """One row per document: id, title, text, tokens, number of judged queries.

        Ids and texts are kept as given (one holding a lone surrogate too, as a JSON file
        can carry: Python objects)."""
        judged = {}
        for docs in self.qrels.values():
            for d, g in docs.items():
                if g > 0:
                    judged[d] = judged.get(d, 0) + 1
        return text_safe_frame({
            "id": self.corpus_ids,
            "title": self.corpus_titles or [""] * len(self.corpus_ids),
            "text": self.corpus_texts,
            "tokens": (np.asarray(self.token_counts) if self.token_counts is not None
                       else [None] * len(self.corpus_ids)),
            "relevant_for": [judged.get(d, 0) for d in self.corpus_ids],
        })

    def queries_frame(self):
        """One row per query: id, text, group, its relevant documents (ids and texts kept
        as given, as in :meth:`to_frame`)."""
        return text_safe_frame({
            "id": self.query_ids, "text": self.query_texts,
            "group": self.query_groups or [""] * len(self.query_ids),
            # the dataset's own ids: relevant()'s check (a set of every id, for each
            # query without judgments) made the frame quadratic in the queries
            "relevant": [", ".join(self._relevant_to(q)) for q in self.query_ids],
        })

    def summary(self) -> str:
        """One paragraph: sizes, judgments, model, truncation."""
        n_judg = sum(1 for docs in self.qrels.values() for g in docs.values() if g > 0)
        parts = [f"{self.name}: {counted(len(self.corpus_ids), 'document')}, "
                 f"{counted(len(self.query_ids), 'query', 'queries')}, "
                 f"{counted(n_judg, 'relevance judgment')}"]
        if self.corpus_embeddings is not None:
            parts.append(f"embeddings {self.corpus_embeddings.shape[1]}-d by "
                         f"{self.model_name or 'an unknown model'}")
        if self.max_tokens is not None and self.token_counts is not None:
            parts.append(f"{len(self.truncated())} documents longer than the model's "
                         f"{self.max_tokens}-token limit")
        return "; ".join(parts)

    def _repr_html_(self) -> str:
        rows = [(d, shorten(t, 90)) for d, t in zip(self.corpus_ids[:8], self.corpus_texts[:8])]
        return html_block(f"Dataset {self.name}", f"<p>{escape(self.summary())}</p>",
                          html_table(rows, ["id", "text"]))


def _same_length(a, name_a, b, name_b):
    if len(a) != len(b):
        raise ValueError(f"{name_a} has {len(a)} entries but {name_b} has {len(b)}; "
                         "they must pair up one to one")


def _unique(ids, name):
    dup = V.repeats(ids)
    if dup:
        raise ValueError(f"{name} must be unique; {V.format_rows(dup)} repeat an earlier id "
                         f"(e.g. {ids[dup[0]]!r})")
