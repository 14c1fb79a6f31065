"""Vector math from first principles: plain Python loops over floats, written to be read.

Every function here has a fast twin in :mod:`vecdiag.linalg` (and :func:`vecdiag.knn`,
:func:`vecdiag.pca`) with the same name and signature, and the tests check that both
give the same numbers. Read these to see *what* is computed; use the fast ones to
compute it.

How it is built: the public functions check their inputs at the door (and turn them into
lists of Python floats); the arithmetic lives in small unchecked cores (``_dot``,
``_norm``, ``_cosine``, ``_euclidean``, ``_power_iteration``) that use only built-ins and
``math``. Comments marked ``subtle:`` are the real traps: overflow, zero vectors, ties,
rounding.

Read the modules in the order of ``__all__``:

1. :mod:`~vecdiag.scratch.vectors`: ``dot``, ``norm``, ``normalize``, ``cosine``,
   ``euclidean``, ``cosine_matrix``, and the cores they share;
2. :mod:`~vecdiag.scratch.neighbours`: ``knn``, score, sort, keep k;
3. :mod:`~vecdiag.scratch.projection`: ``pca``, power iteration with deflation;
4. :mod:`~vecdiag.scratch.text`: ``tokenize``, ``chunk``, ``bm25``, ``rrf`` (notebook 05).
"""

from __future__ import annotations

from .neighbours import knn
from .projection import pca
from .text import bm25, chunk, rrf, tokenize
from .vectors import cosine, cosine_matrix, dot, euclidean, norm, normalize

__all__ = ["dot", "norm", "normalize", "cosine", "euclidean", "cosine_matrix", "knn", "pca",
           "tokenize", "chunk", "bm25", "rrf"]
