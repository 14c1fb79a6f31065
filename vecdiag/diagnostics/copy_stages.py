"""The near-copy stage of :func:`vecdiag.diagnose` (graph path) and what it judges on.

Near-copies are a cosine matter under every metric, read where the raw cosine misleads:
of the centred vectors (euclidean, a narrow cone), with each dimension standardised (rogue
dimensions flagged), over every pair under dot, from sampled rows searched against all
(a graph of a sample), and against the chance of random directions in few dimensions.
"""

from __future__ import annotations

import numpy as np

from .. import cache_keys
from ..linalg import column_mean
from . import copy_rules, rules
from .chunked_copies import standard_params
from .duplicates import groups_from_pairs, sorted_groups
from .finding import Finding
from .graph_stages import row_lengths
from .moments import block_rows, unit_rows
from .stages import Work, rogue_flagged

__all__ = ["near_duplicates_stage", "whole_corpus_duplicates", "judged_against_chance",
           "spanned_dimensions", "standardised", "pair_cosines"]


def near_duplicates_stage(w: Work) -> None:
    """Near-copies: pairs among each item's k nearest, plus every exact copy.

    Two cases search by cosine over the whole corpus instead of reading the graph's pairs:
    under dot, where the k largest products of a short item are long items and its own
    copy need not be among them, every pair is compared (:func:`vecdiag.near_duplicates`)
    up to ``sample`` rows, beyond which the share is estimated from sampled rows; and a
    graph of a sample (``n > graph_sample``), which sees a pair only when both were drawn,
    estimates the share from sampled rows searched against all n.
    """
    # Cosines of the centred vectors where a shared direction makes distinct items look
    # alike from the origin: under euclidean (no shared offset changes a distance; the raw
    # cosines of a cloud moved far from the origin are all near 1), and under cosine or dot
    # when the corpus is anisotropic (a narrow cone: distinct documents at cosine 0.98,
    # whose fix is centring, not deleting them). Copies stay copies once centred; a pair
    # must be one raw too (see _graph_groups).
    cone = (w.metric != "euclidean" and w.mean_cos is not None
            and w.mean_cos >= rules.THRESHOLDS["anisotropy"]["warning"])
    centred = w.metric == "euclidean" or cone
    rogue = rogue_flagged(w)            # judged once, for every search below
    estimate = found = None
    if w.metric == "dot" or w.sample is not None:
        found = whole_corpus_duplicates(w, cone, rogue)
        if found is None or hasattr(found, "redundant_share"):
            estimate = found
            groups = _graph_groups(w, cone, rogue)
        else:
            groups = [[int(i) for i in g] for g in found]
    else:
        groups = _graph_groups(w, cone, rogue)
    examples = [" = ".join(w.label(i) for i in g[:3])          # used rows -> their ids
                + (" …" if len(g) > 3 else "") for g in groups[:3]]
    groups = [[int(w.keep[i]) for i in g] for g in groups]      # input rows
    how = (" (cosine with each dimension standardised: rogue dimensions decide the raw "
           "ones)" if rogue else " (cosine of the centred vectors, and of the raw ones)"
           if centred else "")
    if estimate is not None:
        source = (f"{estimate.sample:,} sampled rows against all {w.n:,}"
                  f"{how or ' by cosine'}; "
                  "groups from the kNN graph" + (f" of a {w.graph_sample}-item sample"
                                                 if w.sample is not None else "")
                  + " + exact hashing of every row")
    elif w.metric == "dot" and found is not None:
        source = f"every pair{how or ' by cosine'} + exact hashing of every row"
    else:
        source = "kNN graph + exact hashing of every row" + how
    finding = copy_rules.duplicates_finding(groups, w.n, w.exact_redundant,
                                       w.duplicate_threshold, examples, source, estimate)
    w.findings.append(judged_against_chance(w, finding))
    w.stats.update(near_duplicate_groups=len(groups),
                   near_duplicate_share=(sum(len(g) - 1 for g in groups) / w.n
                                         if estimate is None
                                         else float(estimate.redundant_share)))
    if estimate is not None:
        w.stats.update(near_duplicate_share_ci=list(estimate.redundant_share_ci))


def judged_against_chance(w: Work, finding: Finding) -> Finding:
    """``finding`` (near-duplicates), or only its exact copies judged when random
    directions in the dimensions the vectors span already fall within the threshold of
    each other (:func:`.copy_rules.chance_near_copies`; ``stats["near_copies_by_chance"]``).

    The dimensions spanned: :func:`spanned_dimensions`, not the ``d`` of the array. Vectors
    of 3 factors written in 48 coordinates are directions in 4 dimensions at most: 1,500
    of them fall within cosine 0.98 of a few others each, and the chains of such pairs
    were one "group" of 99.9% of the corpus, "deduplicate the corpus". The chance is of
    the ``n_distinct`` distinct rows."""
    d = w.W.shape[1]
    span = spanned_dimensions(w.spec, d)
    # the distinct directions: exact copies are judged apart (5 vectors copied 400 times
    # each span 5 dimensions, and are not 2,000 random directions in them)
    distinct = w.n_distinct if w.n_distinct > 0 else w.n
    chance = copy_rules.chance_near_copies(distinct, span, w.duplicate_threshold)
    w.stats.update(near_copies_by_chance=chance)
    if chance < copy_rules.CHANCE_COPIES:
        return finding
    return copy_rules.near_copies_by_chance(finding, chance, w.n, span, w.exact_redundant,
                                            dim=d)


def spanned_dimensions(spec, d: int) -> int:
    """How many dimensions the directions can use: ``d``, or one more than the rank of the
    covariance when that is smaller (rows in an r-dimensional affine subspace point in at
    most r + 1 directions). ``spec``: covariance eigenvalues, largest first (None: ``d``).
    The rank counts those above ``1e-6`` of the largest (a spread a thousandth of the
    largest; the rounding of float16 input leaves about 1e-8, of float32 1e-15).

    Examples
    --------
    >>> spanned_dimensions(np.array([4.0, 1.0, 1e-9, 0.0]), 4), spanned_dimensions(None, 8)
    (3, 8)
    """
    if spec is None or not np.size(spec) or not spec[0] > 0:
        return d
    rank = int(np.count_nonzero(np.asarray(spec) > 1e-6 * float(spec[0])))
    return min(d, rank + 1)


def _graph_groups(w: Work, cone: bool, rogue: bool) -> list:
    """Groups (used rows) of the graph's pairs at cosine ≥ the threshold, and exact copies."""
    r_idx = np.repeat(np.arange(w.G.shape[0]), w.k_eff)
    c_idx = w.graph.indices.ravel()
    if rogue:
        base = w.index.unit_rows if (w.metric == "cosine" or cone) else w.G
        cos = pair_cosines(standardised(base, w.metric == "euclidean" or cone), r_idx, c_idx)
    elif w.metric == "euclidean":
        cos = pair_cosines(w.G, r_idx, c_idx, column_mean(w.G))
    elif cone:
        center = w.m.sum_unit / w.n                        # the mean unit row
        cos = pair_cosines(w.index.unit_rows, r_idx, c_idx, center)
    elif w.metric == "cosine":
        cos = w.graph.scores.ravel().astype(np.float64)
    else:
        cos = pair_cosines(w.G, r_idx, c_idx)
    close = cos >= w.duplicate_threshold
    if rogue or w.metric == "euclidean" or cone:
        # and at or above it raw: centred, every short row near the origin points along
        # minus the mean (centred cosine 0.97-0.98 where the raw one is 0.2-0.9)
        close &= _raw_cosines(w, r_idx, c_idx, close) >= w.duplicate_threshold
    return groups_from_pairs(w.n, w.g_rows[r_idx[close]], w.g_rows[c_idx[close]], w.exact)


def _raw_cosines(w: Work, r_idx, c_idx, close) -> np.ndarray:
    """The raw cosine of the graph's pairs where ``close`` (-inf elsewhere): a near-copy
    is one in every frame it is judged in, the search's own (uncentred) one included."""
    out = np.full(close.size, -np.inf)
    if close.any():
        out[close] = (w.graph.scores.ravel()[close].astype(np.float64) if w.metric == "cosine"
                      else pair_cosines(w.G, r_idx[close], c_idx[close]))
    return out


def whole_corpus_duplicates(w: Work, cone: bool, rogue: bool):
    """Near-copies among all ``w.n`` used rows by cosine (:func:`vecdiag.near_duplicates`):
    every pair compared when the graph covers every row and ``n`` is at most the
    ``sample`` size (groups of used rows), else the redundant share estimated from that
    many sampled rows, each searched against all. Judged on the cosines the graph stage
    judges: of the centred vectors under euclidean and in a cone, of the raw ones otherwise;
    with each dimension standardised when ``rogue`` (:func:`.stages.rogue_flagged`).
    """
    from .duplicates import near_duplicates
    from .sampling import DEFAULT_SAMPLE, check_sample

    X = np.asarray(w.W)
    if w.rescale != 1.0:
        X = np.asarray(X, np.float64) / w.rescale
    sample = check_sample(DEFAULT_SAMPLE if w.sample_size is None else w.sample_size,
                          w.n, "sample")
    if w.sample is None and w.n <= sample:
        sample = None
    if rogue:
        if w.metric == "cosine" or cone:
            X = unit_rows(X, row_lengths(X), X.dtype)
        centred = standardised(X, w.metric == "euclidean" or cone)
    elif w.metric == "euclidean":
        centred = X - column_mean(X).astype(X.dtype)
    elif cone:
        centred = unit_rows(X, row_lengths(X), X.dtype) - (w.m.sum_unit / w.n).astype(X.dtype)
    else:
        centred = None
    if centred is not None:
        try:
            # sampled: each listed pair must be a copy raw too, as _raw_too asks of groups
            found = near_duplicates(centred, threshold=w.duplicate_threshold, sample=sample,
                                    random_state=w.rng, show_progress=False,
                                    also=None if sample is None else X)
        except ValueError:      # a row at the centre itself has no direction from it
            pass
        else:
            return found if hasattr(found, "redundant_share") else _raw_too(
                w, X, centred, found)
    try:
        found = near_duplicates(X, threshold=w.duplicate_threshold, sample=sample,
                                random_state=w.rng, show_progress=False)
    except ValueError:          # lengths too far apart for float32 cosines: the graph's
        return None             # own pairs stand
    if (sample is None and w.index_in is not None and w.all_rows_used
            and w.rescale == 1.0):
        # every pair of the Index's own rows by cosine: the groups the deduplicate fix
        # (vecdiag.fixes.duplicate_groups, an explanation's counterfactual) would compute
        # again in a second pass; kept where it looks for them
        w.index_in.cache.setdefault(cache_keys.duplicate_groups(w.duplicate_threshold),
                                    sorted_groups(found))
    return found


def _raw_too(w: Work, X: np.ndarray, centred: np.ndarray, groups) -> list:
    """The ``groups`` found on the ``centred`` rows, split into the pairs whose raw cosine
    (of ``X``) is at or above the threshold too (as :func:`_graph_groups` judges them),
    exact copies always together."""
    exact = [np.asarray(g, dtype=np.int64) for g in w.exact if len(g) >= 2]
    first = np.arange(w.n)
    for g in exact:     # a copy's cosines are its original's: pair one row of each
        first[g] = g[0]     # (3,000 copies in one group took 14.6 s of pairs)
    rows, cols = [], []
    for g in groups:
        g = np.unique(first[np.asarray(g, dtype=np.int64)])
        r, c = np.triu_indices(g.size, 1)
        close = pair_cosines(centred, g[r], g[c]) >= w.duplicate_threshold
        close &= pair_cosines(X, g[r], g[c]) >= w.duplicate_threshold
        rows.append(g[r[close]])
        cols.append(g[c[close]])
    if not rows:
        return []
    return groups_from_pairs(w.n, np.concatenate(rows), np.concatenate(cols), exact)


def standardised(S: np.ndarray, centre: bool) -> np.ndarray:
    """``S`` (less its mean when ``centre``) with each dimension divided by its root mean
    square: the rows on which near-copies are judged when rogue dimensions decide every
    cosine. A pair of copies stays a pair of copies; two items alike only in the rogue
    dimensions no longer look alike. (A new array, in ``S``'s float type or float32.)"""
    from ..scale.chunks import is_dask_array

    dtype = np.result_type(S.dtype, np.float32)
    if is_dask_array(S):                # two passes over the chunks; the result stays lazy
        S = S.astype(dtype)
        mean = (np.asarray(S.mean(axis=0, dtype=np.float64).compute()) if centre
                else np.zeros(S.shape[1]))
        rms = np.sqrt(np.asarray((((S - mean) ** 2).mean(axis=0)).compute(), np.float64))
        scale = np.where(rms > 0, 1.0 / np.where(rms > 0, rms, 1.0), 1.0)
    else:                               # two passes, one piece of rows at a time
        mean, scale = standard_params(S, centre)
    out = (S - mean.astype(dtype)) * scale.astype(dtype)
    return out.astype(dtype) if is_dask_array(out) else np.asarray(out, dtype)


def pair_cosines(S: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  center: np.ndarray | None = None) -> np.ndarray:
    """Cosine of each pair ``(S[rows[i]], S[cols[i]])``, of the rows less ``center`` when
    given, block by block; 0 for a zero row."""
    from ..linalg import row_norms

    out = np.empty(rows.size)
    step = block_rows(S.shape[1])
    shift = 0.0 if center is None else center
    for a in range(0, rows.size, step):
        A = np.asarray(S[rows[a:a + step]]).astype(np.float64) - shift
        B = np.asarray(S[cols[a:a + step]]).astype(np.float64) - shift
        den = row_norms(A) * row_norms(B)
        # a zero row (one that underflowed) is nobody's near-copy: cosine 0, not 0/0
        out[a:a + step] = np.divide(np.einsum("ij,ij->i", A, B), den,
                                    out=np.zeros(den.size), where=den > 0)
    return out
