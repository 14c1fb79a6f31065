"""The result of a nearest-neighbour search: :class:`Neighbors`."""

from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..results import (Result, escape, html_block, html_table, result, shorten,
                       text_safe_column)

__all__ = ["Neighbors"]

# What the notebook display shows at most (the full result is in .to_frame()).
_HTML_QUERIES = 5
_HTML_TEXT_WIDTH = 80


@result
class Neighbors(Result):
    """The k nearest corpus items of each query, best first.

    Scores are similarities for ``cosine`` and ``dot`` (higher is closer, sorted
    descending) and distances for ``euclidean`` (lower is closer, sorted ascending).
    Equal scores are ordered by lower corpus index, in every backend. Built by
    :func:`vecdiag.knn` and :meth:`vecdiag.Index.search`.

    Attributes
    ----------
    indices : ndarray, shape (n_queries, k), int64
        Corpus positions (row numbers), best first.
    scores : ndarray, shape (n_queries, k)
        Similarities (cosine, dot) or distances (euclidean).
    metric : str
        "cosine", "dot" or "euclidean".
    k : int
        Neighbours per query.
    ids : ndarray, shape (n_queries, k), or None
        Ids of the Index's items, or None when the Index has no ids.
    texts : ndarray or None
        The Index's texts (one per corpus item) when it has them, for display.

    Examples
    --------
    >>> import vecdiag as vd
    >>> res = vd.knn([[1, 0]], [[1, 0.1], [0, 1], [1, 0]], k=2)
    >>> res.indices.tolist(), res.scores.round(4).tolist()
    ([[2, 0]], [[1.0, 0.995]])
    >>> len(res), res.metric, res.k
    (1, 'cosine', 2)
    """

    indices: np.ndarray
    """(n_queries, k) int64 corpus positions (row numbers), best first."""
    scores: np.ndarray
    """(n_queries, k) scores: similarities (cosine, dot) or distances (euclidean)."""
    metric: str
    """"cosine", "dot" or "euclidean"."""
    k: int
    """Neighbours per query."""
    ids: np.ndarray | None = None
    """(n_queries, k) ids of the Index's items, or None when the Index has no ids."""
    texts: np.ndarray | None = None
    """The Index's texts (one per corpus item) when it has them, for display."""

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def to_frame(self, ids=None, texts=None):
        """One row per query × rank: query, rank, id, index, score (and text).

        Parameters
        ----------
        ids : sequence, optional
            One id per corpus row, used instead of the Index's ids. Without any ids the
            ``id`` column holds the corpus position.
        texts : sequence, optional
            One text per corpus row, used instead of the Index's texts.

        Returns
        -------
        pandas.DataFrame
            Columns ``query`` (0-based query row), ``rank`` (1-based), ``id``,
            ``index`` (corpus position), ``score`` and, when texts are known, ``text``.
            ``id`` is an integer column when the ids are all integers, text when they
            are text, Python objects as given otherwise (tuples, mixed types, text
            holding a lone surrogate).

        Examples
        --------
        >>> res = Neighbors(indices=np.array([[2, 0]]), scores=np.array([[1.0, 0.5]]),
        ...                 metric="cosine", k=2)
        >>> res.to_frame(ids=["a", "b", "c"])[["rank", "id", "score"]].values.tolist()
        [[1, 'c', 1.0], [2, 'a', 0.5]]
        """
        import pandas as pd

        n_q, k = self.indices.shape
        flat = self.indices.ravel()
        frame = pd.DataFrame({"query": np.repeat(np.arange(n_q), k),
                              "rank": np.tile(np.arange(1, k + 1), n_q)})
        # (text_safe_column: an id or text with a lone surrogate failed pandas' str dtype)
        if ids is not None:
            frame["id"] = text_safe_column(_per_corpus_row(ids, "ids", flat))
        elif self.ids is not None:
            frame["id"] = text_safe_column(np.asarray(self.ids, dtype=object).ravel())
        else:
            frame["id"] = flat
        frame["index"] = flat
        frame["score"] = self.scores.ravel()
        text_source = texts if texts is not None else self.texts
        if text_source is not None:
            frame["text"] = text_safe_column(_per_corpus_row(text_source, "texts", flat))
        return frame

    def plot(self, queries=None, ax=None):
        """Score against rank for some queries (default: the first 10). Returns the Axes.

        Examples
        --------
        >>> res = Neighbors(indices=np.array([[0, 1]]), scores=np.array([[0.9, 0.5]]),
        ...                 metric="cosine", k=2)
        >>> res.plot().get_xlabel()
        'rank'
        """
        from ..plot.neighbors import draw_neighbors

        return draw_neighbors(self, queries=queries, ax=ax)

    def _repr_html_(self) -> str:
        n_q = self.indices.shape[0]
        shown = min(n_q, _HTML_QUERIES)
        part = Neighbors(indices=self.indices[:shown], scores=self.scores[:shown],
                         metric=self.metric, k=self.k,
                         ids=None if self.ids is None else self.ids[:shown], texts=self.texts)
        frame = part.to_frame()
        # a store's short answer is padded (index -1, id None, score NaN: StoreNeighbors):
        # those slots hold no result, so they are left out and counted in the note
        padded = int((frame["index"] < 0).sum())
        frame = frame[frame["index"] >= 0]
        cols = [c for c in ("query", "rank", "id", "index", "score", "text") if c in frame]
        rows = [[shorten(v, _HTML_TEXT_WIDTH) if c == "text" else v for c, v in zip(cols, r)]
                for r in frame[cols].itertuples(index=False)]
        order = "higher is closer" if self.metric != "euclidean" else "distance, lower is closer"
        note = f"<p class='vd-muted'>score: {escape(order)}; ties by lower corpus index"
        if padded:
            note += (f"; {padded} of {shown * self.k} slots empty: the store returned "
                     "fewer than k")
        if n_q > shown:
            note += f"; first {shown} of {n_q} queries (all of them: .to_frame())"
        note += "</p>"
        if n_q == 0:
            return html_block(f"Neighbors (k={self.k}, metric={self.metric})",
                              "<p>no queries</p>")
        return html_block(f"Neighbors (k={self.k}, metric={self.metric})",
                          html_table(rows, cols, numeric={"score", "rank", "index", "query"}),
                          note)


def _per_corpus_row(values, name: str, positions: np.ndarray) -> np.ndarray:
    """``values[positions]`` for a per-corpus-row sequence, with a clear error if too short."""
    values = list(V.check_ordered(values, name))
    # one entry per row, whatever it is: np.asarray would turn (doc, chunk) tuples into a
    # second axis (as vecdiag.Index's ids keep them)
    arr = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        arr[i] = value
    if positions.size and positions.max() >= arr.shape[0]:
        raise ValueError(f"{name} has {arr.shape[0]} entries but the neighbours refer to "
                         f"corpus row {int(positions.max())}; pass one entry per corpus row")
    return arr[positions]
