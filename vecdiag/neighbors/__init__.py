"""Exact nearest-neighbour search in bounded memory: knn, Index, Neighbors.

Read in this order: :mod:`.search` (the public function and its checks), :mod:`.index`
(the Index), :mod:`.engine` (blocked candidates, threshold filter, refine, proof),
:mod:`.faiss_backend` (the same candidates from faiss), :mod:`.result` (the Neighbors
record).

Scores: ``cosine`` and ``dot`` are similarities (higher is closer), ``euclidean`` is a
distance (lower is closer). Ties break by lower corpus index in every backend.
"""

from .result import Neighbors
from .index import Index
from .search import knn

__all__ = ["knn", "Index", "Neighbors"]
