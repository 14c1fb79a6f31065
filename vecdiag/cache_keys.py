"""Every key of :attr:`vecdiag.Index.cache`, in one place.

An :class:`~vecdiag.Index` keeps what is costly and exact to compute once per corpus
(its kNN graph, hubness, fitted fixes, statistics) in ``index.cache``, a plain dict. Every
module that reads or writes it takes its key from a function here, so two modules never
compute the same thing under two names, and a reader finds who stores what.

One convention: a key is a tuple ``(name, *parameters)``; ``name`` is a snake_case string
(prefixed by its package, ``"fixes_..."``, ``"explain_..."``, unless it is a statistic the
user may look up, such as ``"knn_graph"`` or ``"hubness"``) and the parameters are
hashable values that change the result.

Examples
--------
>>> knn_graph(10)
('knn_graph', 10)
>>> import vecdiag as vd
>>> index = vd.Index([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
>>> graph = index.knn_graph(1)
>>> index.cache[knn_graph(1)] is graph
True
"""

from __future__ import annotations

__all__ = [
    "knn_graph", "knn_graph_seconds", "is_knn_graph", "k_occurrence", "hubness",
    "moments", "anisotropy", "isotropy", "rogue_dimensions", "rows_in", "unit_rows",
    "copied_rows",
    "fix_fitted", "csls_penalty", "mp_stats", "duplicate_groups", "random_pairs",
    "explain_centre", "explain_centred_lengths", "explain_centred_rogue", "explain_stats",
    "explain_copy_frame", "explain_id_lookup", "explain_idf",
    "explain_duplicate_groups", "explain_view_pairs",
]

KNN_GRAPH = "knn_graph"


# --- neighbors -------------------------------------------------------------------------

def knn_graph(k: int) -> tuple:
    """The exact kNN graph (a :class:`~vecdiag.Neighbors`, self excluded) with k neighbours.

    A graph with more neighbours serves a smaller k as its prefix (see
    :meth:`vecdiag.Index.knn_graph`).
    """
    return (KNN_GRAPH, k)


def is_knn_graph(key) -> bool:
    """Whether ``key`` is a :func:`knn_graph` key (any k)."""
    return (isinstance(key, tuple) and len(key) == 2 and key[0] == KNN_GRAPH
            and isinstance(key[1], int))


def knn_graph_seconds(k: int) -> tuple:
    """Seconds the kNN graph with k neighbours took to build (for diagnose's timings)."""
    return ("knn_graph_seconds", k)


def rows_in(dtype_str: str) -> tuple:
    """The corpus prepared for scoring in another dtype (``np.dtype(...).str``)."""
    return ("neighbors_rows", dtype_str)


def unit_rows() -> tuple:
    """The corpus rows scaled to unit length, when the metric is not cosine (or a memmap)."""
    return ("neighbors_unit_rows",)


def copied_rows() -> tuple:
    """The rows that repeat a lower row byte for byte, and that row (see
    :func:`vecdiag.neighbors.scoring.corpus_copies`)."""
    return ("neighbors_copied_rows",)


# --- diagnostics -----------------------------------------------------------------------

def k_occurrence(k: int) -> tuple:
    """N_k: how often each item is among the k nearest neighbours of the others."""
    return ("k_occurrence", k)


def hubness(k: int) -> tuple:
    """The :class:`~vecdiag.diagnostics.Hubness` result at k."""
    return ("hubness", k)


def moments(space: str) -> tuple:
    """Mean and covariance of the rows (``space`` "raw" or "unit")."""
    return ("moments", space)


def anisotropy() -> tuple:
    return ("anisotropy",)


def isotropy(space: str) -> tuple:
    return ("isotropy", space)


def rogue_dimensions(top: int) -> tuple:
    return ("rogue_dimensions", top)


# --- fixes and scores -------------------------------------------------------------------

def fix_fitted(code: str, metric: str, options: dict) -> tuple:
    """A vector fix fitted on the corpus and the squared norms of the transformed rows."""
    return ("fixes_fitted", code, metric, tuple(sorted(options.items())))


def csls_penalty(metric: str, n_neighbors: int) -> tuple:
    """CSLS's r_d: each document's mean similarity to its n_neighbors nearest others."""
    return ("fixes_csls_penalty", metric, n_neighbors)


def mp_stats(metric: str, n_samples, random_state) -> tuple:
    """Mutual proximity's per-document mean and standard deviation of scores."""
    return ("fixes_mp_stats", metric, n_samples, random_state)


def duplicate_groups(threshold: float, frame=None) -> tuple:
    """Groups of near-copies (cosine >= threshold; also in the frame whose
    :attr:`~vecdiag.diagnostics.copy_frame.CopyFrame.key` is ``frame``, when given)."""
    return (("fixes_duplicate_groups", float(threshold)) if frame is None
            else ("fixes_duplicate_groups", float(threshold), frame))


def random_pairs(metric: str, n_pairs: int, seed) -> tuple:
    """Sorted scores of random pairs of documents (score percentiles)."""
    return ("scores_random_pairs", metric, n_pairs, seed)


# --- explain ---------------------------------------------------------------------------

def explain_centre() -> tuple:
    """The corpus mean in float64 (explain under euclidean measures from it)."""
    return ("explain_centre",)


def explain_centred_lengths() -> tuple:
    """Each row's distance to the corpus mean (explain's lengths under euclidean)."""
    return ("explain_centred_lengths",)


def explain_centred_rogue(top: int) -> tuple:
    """Rogue dimensions of the rows less their mean (explain under euclidean)."""
    return ("explain_centred_rogue", int(top))


def explain_stats(k: int, random_state) -> tuple:
    """Corpus-wide statistics of explain_neighbors (hubness, nearest-neighbour scores)."""
    return ("explain_stats", int(k), random_state)


def explain_copy_frame() -> tuple:
    """The frame near-copies are also judged in, or None (explain's copy checks and
    de-duplicated counterfactual, :func:`vecdiag.explain.stats.copy_frame`)."""
    return ("explain_copy_frame",)


def explain_id_lookup() -> tuple:
    """Id -> corpus row, for the ids explain_neighbors is given."""
    return ("explain_id_lookup",)


def explain_idf() -> tuple:
    """Idf weights of the corpus texts' words (lexical evidence of explanations)."""
    return ("explain_idf",)


def explain_duplicate_groups(threshold: float, frame=None) -> tuple:
    """Groups of near-copies (cosine >= threshold; also in the frame whose
    :attr:`~vecdiag.diagnostics.copy_frame.CopyFrame.key` is ``frame``, when given) among
    the rows with a direction (zero rows, valid documents under dot or euclidean, belong
    to none): the de-duplicated counterfactual of a corpus that holds zero rows."""
    return (("explain_duplicate_groups", float(threshold)) if frame is None
            else ("explain_duplicate_groups", float(threshold), frame))


def explain_view_pairs(fix: str, metric: str, seed) -> tuple:
    """Sorted scores of random pairs of sampled corpus rows in the view of one fix (the
    rows transformed by it): the percentile of an expected document under that fix."""
    return ("explain_view_pairs", fix, metric, seed)
