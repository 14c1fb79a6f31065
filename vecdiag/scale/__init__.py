"""More data than memory: vecdiag's calls on Dask arrays (issue 17).

Nothing here imports dask at ``import vecdiag`` time: :func:`is_dask_array` recognises a
Dask array by its type's module, and dask itself is imported (through
``vecdiag._optional.require``) only by the functions that compute something.

Layout (one concern per module):

* :mod:`.chunks`: recognising and checking a Dask corpus, its row blocks with their
  offsets, computing with whatever scheduler is active.
* :mod:`.io` (with :mod:`.formats`): :func:`open_vectors`, many ``.npy``/``.npz``/parquet
  files as one lazy Dask array (``vd.open_vectors``).
* :mod:`.cluster`: :func:`use_scheduler`, where the work runs (a cluster's address, a
  LocalCluster for data larger than memory, or Dask's threads); ``vecdiag report
  --scheduler``.
* :mod:`.search`: exact top k per row block, merged with the tie rule (``vd.knn`` on a
  Dask corpus), and :func:`.search.knn_rows` (some rows against all, self excluded).
* :mod:`.index`: ``vd.Index`` over a Dask corpus, :func:`.index.full_scores`.
* :mod:`.hashing`: exact copies in O(n·d): per-block row hashes, colliding rows gathered
  and compared (behind ``vd.near_duplicates(X_dask, sample=...)``).
* :mod:`.drift`: ``vd.drift`` on Dask sets (one checking pass, only sampled rows move);
  :mod:`.explain` and :mod:`.explain_fixes`: ``vd.explain_neighbors`` on a Dask corpus
  (statistics, near-copies and counterfactual rankings per row block).

(:mod:`.search` and :mod:`.index` build on :mod:`vecdiag.neighbors`, which imports them
lazily; they are not imported here.)
"""

from __future__ import annotations

from .chunks import (RowBlock, aligned_empty, check_dask_matrix, compute, is_dask_array, row_blocks,
                     require_dask)
from .cluster import use_scheduler
from .io import open_vectors

__all__ = ["RowBlock", "aligned_empty", "check_dask_matrix", "compute", "is_dask_array", "row_blocks",
           "require_dask", "open_vectors", "use_scheduler"]
