"""What :func:`vecdiag.report.analyze` does with a Dask corpus (``vecdiag report 'shards/*.npy'``).

The corpus stays a Dask array from end to end: it becomes a ``vd.Index`` over the Dask
array (exact search chunk by chunk, top-k merged), ``vd.diagnose`` computes the O(n d)
statistics as Dask reductions and estimates hubness and near-duplicates from sampled rows
beyond its stated size, and ``vd.explain_neighbors`` scores one query against every chunk.
Nothing gathers the corpus in one place. What has no scalable version yet is skipped, and
the report says so and why (``Analysis.skipped``).
"""

from __future__ import annotations

from ..scale.chunks import check_dask_matrix, is_dask_array

__all__ = ["is_lazy", "check_corpus", "skipped_at_scale", "FIXES_SKIPPED"]

FIXES_SKIPPED = ("fixes section skipped: the corpus is a Dask array and vd.try_fixes has no "
                 "Dask version yet (it refits every fix and searches the whole corpus once "
                 "per fix); measure fixes with vd.try_fixes on an in-memory sample of the "
                 "corpus that keeps the judged documents")


def is_lazy(index_or_corpus) -> bool:
    """True when the corpus (or an Index's vectors) is a Dask array."""
    return is_dask_array(getattr(index_or_corpus, "vectors", index_or_corpus))


def check_corpus(corpus):
    """The Dask corpus checked as every Dask path checks it (real dtype, 2-D, known chunks,
    float32/float64 kept)."""
    return check_dask_matrix(corpus, "corpus")


def skipped_at_scale(*, qrels, fixes) -> tuple:
    """Sentences for ``Analysis.skipped``: the report's parts not computed on a Dask corpus."""
    return (FIXES_SKIPPED,) if qrels is not None and fixes is not False else ()
