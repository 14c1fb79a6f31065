"""Counterfactuals: the ranking this query would get under each fix.

Every fix is applied through :mod:`vecdiag.fixes` (one implementation of each fix in the
library, shared with ``try_fixes``): re-rankers and the metric change through
:func:`vecdiag.fixes.apply_fix`, asking for the *whole* ranking (``k = len(corpus)``) so
the expected documents' new ranks are exact even far outside k; the vector fixes through
the cached path ``apply_fix`` takes on an Index (:mod:`vecdiag.fixes.cached`: the
transformer fitted once per Index and kept in ``index.cache``, refitting a d x d
covariance on every query would cost more than the search), so a counterfactual rank is
exactly what ``apply_fix`` and ``try_fixes`` rank.

Fix codes and what they do here:

``cosine_metric`` (metric is dot or euclidean, query not zero)
    Rank by cosine instead: direction only, lengths ignored.
``center``, ``all_but_the_top``, ``whiten``
    :class:`vecdiag.fixes.Center` / :class:`~vecdiag.fixes.AllButTheTop` /
    :class:`~vecdiag.fixes.Whiten` fitted on the corpus (unit-normalising first under
    cosine), applied to corpus and query, searched with the same metric.
``csls``, ``mutual_proximity``
    :func:`vecdiag.fixes.csls` and :func:`vecdiag.fixes.mutual_proximity` (their corpus
    statistics are cached on the Index by :mod:`vecdiag.fixes`).
``deduplicate``
    :func:`vecdiag.fixes.deduplicate` (each group of near-copies, cosine >= 0.98, takes
    one place), only when copies sit in the part of the ranking that matters.
``cosine_metric+center`` (metric euclidean, ``centred_cosine=True``: the corpus shares a
direction)
    Centring is a translation, which changes no euclidean distance: under euclidean the
    ``center`` ranking is always the ranking searched. What removes a shared direction
    there is centring the rows and searching by cosine,
    ``apply_fix("cosine_metric+center", normalize_first=False)``: the rows as given,
    not their unit rows, are centred, so that the ranking, like the euclidean one it
    replaces, is the same for the corpus and query moved by any common offset (centring
    the unit rows of a corpus 30 from the origin ranked a planted document 300th of
    300, the same corpus at the origin 1st).

On a Dask corpus every ranking (``cosine_metric+center`` too) is recomputed row block by
row block (:mod:`vecdiag.scale.explain_fixes`: transforms fitted from the corpus moments, CSLS
penalties and mutual-proximity score distributions cached on the Index) and
de-duplication looks for copies among the candidates.

For a raw array larger than the exact limit (see :mod:`vecdiag.explain.stats`) the
statistics CSLS and mutual proximity need come from the documented sample, and
de-duplication looks for copies among the candidates only; those counterfactuals carry
``exact=False``.
"""

from __future__ import annotations

import math

import numpy as np

from .. import cache_keys
from ..scale.chunks import is_dask_array
from .ranking import ranks_of, top_rows, vectors_of
from .result import Counterfactual
from .wording import fix_name

__all__ = ["Ranking", "counterfactuals", "TRANSFORM_FIXES", "RERANK_FIXES", "changes_of", "moved_like",
           "calibration_rows", "CALIBRATION_ROWS", "CENTRED_COSINE"]

TRANSFORM_FIXES = ("center", "all_but_the_top", "whiten")
RERANK_FIXES = ("csls", "mutual_proximity")
DUPLICATE_THRESHOLD = 0.98
CENTRED_COSINE = "cosine_metric+center"  # euclidean + a shared direction (see counterfactuals)
CSLS_NEIGHBORS = 10  # vecdiag.fixes.csls's default neighbourhood (fewer in tiny corpora)


class Ranking:
    """A full ranking of the corpus for one query: keys (higher is better) and top-k."""

    def __init__(self, keys: np.ndarray, k: int, order: np.ndarray | None = None):
        self.keys = np.asarray(keys)
        self.k = k
        self._order = order  # full order when a fix returned one (its own tie handling)
        self._where = None   # rank of every row, built on first use

    def ranks(self, positions) -> np.ndarray:
        if self._order is not None:
            if self._where is None:
                self._where = np.empty(self._order.size, dtype=np.int64)
                self._where[self._order] = np.arange(1, self._order.size + 1)
            return self._where[np.atleast_1d(positions)]
        return ranks_of(self.keys, positions)

    def top(self, k: int | None = None) -> np.ndarray:
        k = self.k if k is None else k
        if self._order is not None:
            return self._order[:k]
        return top_rows(self.keys, k)


def transformed_ranking(index, query: np.ndarray, fix: str, k: int) -> Ranking:
    """Ranking after fitting ``fix`` on the corpus and applying it to both sides.

    The same cached path as ``apply_fix(fix, query, index)`` (the fitted transform kept
    in ``index.cache``, scores from the Index's own rows), so a counterfactual rank is
    the rank ``apply_fix`` and ``try_fixes`` give; a row the fix maps to zero scores 0
    under cosine instead of stopping the explanation.
    """
    from ..fixes.cached import search_fixed

    nb = search_fixed(index, fix, query[None, :], len(index), index.metric, {}, None,
                      zero="ignore")
    return _neighbors_ranking(nb, k)


def _neighbors_ranking(nb, k: int) -> Ranking:
    """A Ranking from a full-length Neighbors result (its order is the ranking)."""
    return Ranking(None, k, order=nb.indices[0].astype(np.int64))


def counterfactuals(index, query, base: Ranking, expected_pos, *, k: int, stats,
                    id_of, candidates=None, groups=None, frame=None,
                    name_of, centred_cosine: bool = False) -> tuple[list, dict]:
    """Run every applicable fix; return the Counterfactual records and their Rankings.

    ``base`` is the query's ranking as searched; ``expected_pos`` the expected rows;
    ``id_of(row)`` maps a row to the id kept in the records, ``name_of(row)`` to the
    name the notes give it (as the causes' sentences: "row 17" without ids); ``candidates`` the rows that matter for
    de-duplication (the top of the ranking down to the deepest expected document) and
    ``groups`` the near-copy groups among them (de-duplication runs only when there are
    some), judged also in ``frame`` when given (a
    :class:`~vecdiag.diagnostics.copy_frame.CopyFrame`, :func:`duplicate_groups_among`),
    as the de-duplicated ranking groups them. ``centred_cosine`` adds
    ``cosine_metric+center`` under euclidean.
    """
    n = len(index)
    rankings: dict = {}
    approx: dict = {}
    q2 = query[None, :]
    if is_dask_array(index.vectors):  # every fix's ranking recomputed per row block
        from ..scale.explain_fixes import dask_rankings

        rankings, approx = dask_rankings(index, query, base, k=k, stats=stats,
                                         centred_cosine=centred_cosine)
    elif index.metric != "cosine" and np.any(query):  # a zero query has no direction
        from ..fixes.cached import search_cosine

        # a zero corpus row (a valid document under dot or euclidean) scores 0 under cosine,
        # as a row a fix maps to zero does (see :func:`transformed_ranking`)
        rankings["cosine_metric"] = _neighbors_ranking(
            search_cosine(index, q2, n, None, zero="ignore"), k)
    if not is_dask_array(index.vectors):
        _in_memory_rankings(index, query, k, stats, rankings, approx)
        if centred_cosine and index.metric == "euclidean" and np.any(query):
            ranking = _centred_cosine_ranking(index, query, k)
            if ranking is not None:
                rankings[CENTRED_COSINE] = ranking
    dedup = None
    if groups:
        dedup = _dedup_ranking(index, query, base, candidates, groups, k, frame,
                               exact=stats.exact and not is_dask_array(index.vectors))
    if dedup is not None:
        rankings["deduplicate"] = dedup[0]
        if dedup[1]:
            approx["deduplicate"] = dedup[1]
    records = [describe(fix, r, base, expected_pos, k, id_of, approx.get(fix), name_of=name_of)
               for fix, r in rankings.items()]
    return records, rankings


def _in_memory_rankings(index, query, k, stats, rankings: dict, approx: dict) -> None:
    """The vector fixes and re-rankers on an in-memory Index (adds to both dicts)."""
    from ..fixes import apply_fix

    n = len(index)
    q2 = query[None, :]
    for fix in TRANSFORM_FIXES:
        if fix == "all_but_the_top" and query.shape[0] < 2:
            continue  # removing the top direction of 1-D vectors leaves nothing
        rankings[fix] = transformed_ranking(index, query, fix, k)
    n_neighbors = min(CSLS_NEIGHBORS, n - 1)
    if n_neighbors >= 1:
        bank = None if stats.exact else index.vectors[stats.sample_rows]
        opts = {} if bank is None else {"bank": bank}
        if bank is not None:  # a sample of fewer rows than the neighbourhood (as on Dask)
            n_neighbors = min(n_neighbors, bank.shape[0])
        rankings["csls"] = _neighbors_ranking(
            apply_fix("csls", q2, index, k=n, n_neighbors=n_neighbors, **opts), k)
    if n >= 3:  # mutual proximity estimates a score distribution per document
        opts = {} if stats.exact else {"n_samples": stats.sample_size}
        rankings["mutual_proximity"] = _neighbors_ranking(
            apply_fix("mutual_proximity", q2, index, k=n, **opts), k)
    if not stats.exact:
        approx["csls"] = approx["mutual_proximity"] = (
            f"statistics from a sample of {stats.sample_size} rows")


def _centred_cosine_ranking(index, query, k) -> Ranking | None:
    """The ranking under ``apply_fix("cosine_metric+center", normalize_first=False)``
    (see the module docstring); None when a row has no direction once centred (it
    equals the mean), as cosine then refuses it."""
    from ..fixes import apply_fix

    try:
        nb = apply_fix(CENTRED_COSINE, query[None, :], index, k=len(index),
                       normalize_first=False)
    except ValueError:
        return None
    return _neighbors_ranking(nb, k)


def duplicate_groups_among(index, rows: np.ndarray, frame=None) -> list:
    """Near-copy groups (cosine >= 0.98) among the given rows, as corpus rows. With
    ``frame`` (a :class:`~vecdiag.diagnostics.copy_frame.CopyFrame`,
    :func:`~vecdiag.explain.stats.copy_frame`: rogue dimensions flagged) a pair must also
    be one in that frame, as :func:`vecdiag.diagnose` judges near-copies and the
    deduplicate fix groups them (:func:`vecdiag.fixes.duplicate_groups`): two documents
    alike only in the rogue dimensions are not copies."""
    from .. import fixes

    rows = np.asarray(rows, dtype=np.int64)
    # a zero row (a document under dot or euclidean) has no direction, so no cosine: it is
    # nobody's near-copy (and naming it here would give its place in ``rows``, not its row)
    rows = rows[np.asarray(index.norms)[rows] > 0]
    if rows.size < 2:
        return []
    groups = fixes.duplicate_groups(vectors_of(index, rows), threshold=DUPLICATE_THRESHOLD,
                                    frame=frame)
    return [rows[g] for g in groups]


def corpus_duplicate_groups(index, frame=None) -> list:
    """Near-copy groups (cosine >= 0.98, and in ``frame`` when given) among all the corpus
    rows with a direction (a zero row is nobody's near-copy), as corpus rows; computed
    once per Index and kept in ``index.cache``."""
    key = cache_keys.explain_duplicate_groups(DUPLICATE_THRESHOLD,
                                              None if frame is None else frame.key)
    if key not in index.cache:
        index.cache[key] = duplicate_groups_among(index, np.arange(len(index)), frame)
    return index.cache[key]


def _dedup_ranking(index, query, base: Ranking, candidates, groups, k, frame, *,
                   exact: bool):
    """De-duplicated ranking when copies crowd the candidates; None when there are none.
    ``groups``: the near-copy groups among the candidates (:func:`duplicate_groups_among`,
    judged also in ``frame`` when given, as the fix then groups them)."""
    from ..fixes import apply_fix

    if index.metric != "cosine" and not np.all(index.norms > 0):
        return _dedup_without_zero_rows(index, base, candidates, groups, k, frame,
                                        exact=exact)
    if exact:
        nb = apply_fix("deduplicate", query[None, :], index, k=len(index),
                       threshold=DUPLICATE_THRESHOLD, frame=frame)
        return _neighbors_ranking(nb, k), None
    rows = np.asarray(candidates, dtype=np.int64)
    sub = apply_fix("deduplicate", query[None, :], vectors_of(index, rows), k=rows.size,
                    threshold=DUPLICATE_THRESHOLD, metric=index.metric, frame=frame)
    order = rows[sub.indices[0]]
    rest = base.top(len(index))
    rest = rest[~np.isin(rest, rows)]
    # the copies the fix moved below the kept candidates go below every kept document, the
    # rest too, as the fix does (each group takes one place): placed above the rest, a
    # copy kept a top-k place that its exact ranking gives to another document
    demoted = sum(len(g) - 1 for g in groups)
    kept, moved = order[:order.size - demoted], order[order.size - demoted:]
    note = f"copies looked for among the top {rows.size} documents only"
    return Ranking(None, k, order=np.concatenate([kept, rest, moved])), note


def _dedup_without_zero_rows(index, base: Ranking, candidates, groups, k, frame, *,
                             exact: bool):
    """The de-duplicated ranking of a corpus holding zero rows (valid documents under dot
    or euclidean), which the deduplicate fix refuses: copies are judged by cosine, and a
    zero row has no direction. Its groups are those of the rows with a direction: all of
    them when ``exact`` (computed once per Index, :func:`corpus_duplicate_groups`), else
    ``groups``, the candidates' (:func:`duplicate_groups_among`); as the fix does, each
    group's best-ranked member keeps its place and the others move below every kept
    document, in their original order."""
    if exact:
        groups = corpus_duplicate_groups(index, frame)
    order = base.top(len(index))
    place = np.empty(order.size, dtype=np.int64)
    place[order] = np.arange(order.size)
    demoted = np.zeros(order.size, dtype=bool)
    for g in groups:
        demoted[g] = True
        demoted[g[np.argmin(place[g])]] = False
    ranking = Ranking(None, k, order=np.concatenate([order[~demoted[order]],
                                                     order[demoted[order]]]))
    return ranking, (None if exact else
                     f"copies looked for among the top {len(candidates)} documents only")


NOTE_SHOWN = 5   # expected documents a note names; the others are counted


def describe(fix, ranking: Ranking, base: Ranking, expected_pos, k, id_of,
             approx_note=None, *, name_of) -> Counterfactual:
    """A Counterfactual record: new ranks, new top-k, whether anything moved, a note.

    The note names each expected document's move, or with more than :data:`NOTE_SHOWN`
    the best ranked after the fix and "and N more (of all E expected documents, U move up,
    D down, S stay)"; ``expected_ranks`` holds every one of them. The note names a
    document by ``name_of`` (as sentences do: "document 15", "row 17")."""
    expected_pos = list(expected_pos)
    old_top = base.top(k)
    new_top = ranking.top(k)
    new_ranks = ranking.ranks(expected_pos) if expected_pos else np.array([], dtype=np.int64)
    old_ranks = base.ranks(expected_pos) if expected_pos else np.array([], dtype=np.int64)
    entered = [r for r in new_top.tolist() if r not in set(old_top.tolist())]
    moved = bool(entered) or bool(np.any(new_ranks != old_ranks))
    moves = list(zip(expected_pos, old_ranks.tolist(), new_ranks.tolist()))
    if len(moves) > NOTE_SHOWN:
        # subtle: one clause per document made the note of 2,000 expected documents about
        # 79 KB; the best ranked after the fix are named, the rest counted (all of them)
        moves.sort(key=lambda m: (m[2], m[0]))
    parts = [f"{name_of(p)} moves from rank {r0} to rank {r1}" if r1 != r0
             else f"{name_of(p)} stays at rank {r0}" for p, r0, r1 in moves[:NOTE_SHOWN]]
    if len(moves) > NOTE_SHOWN:
        up, down = int(np.sum(new_ranks < old_ranks)), int(np.sum(new_ranks > old_ranks))
        stay = len(moves) - up - down
        parts.append(f"and {len(moves) - NOTE_SHOWN} more (of all {len(moves)} expected "
                     f"documents, {up} move{'s' if up == 1 else ''} up, {down} down, {stay} "
                     f"stay{'s' if stay == 1 else ''})")
    if entered:
        parts.append(f"{len(entered)} of the top-{k} change{'s' if len(entered) == 1 else ''}")
    elif not expected_pos:
        parts.append(f"the top-{k} keeps the same documents")
    note = f"Under {fix_name(fix)}: " + "; ".join(parts) + "."
    if approx_note:
        note += f" (approximate: {approx_note})"
    return Counterfactual(fix=fix, expected_ranks={id_of(p): int(r) for p, r in
                                                   zip(expected_pos, new_ranks.tolist())},
                          top=[id_of(r) for r in new_top.tolist()], moved=moved, note=note,
                          exact=approx_note is None)


CALIBRATION_ROWS = 12  # documents ranked between the top-k and a missed one, re-scored


def calibration_rows(ctx0, count: int = CALIBRATION_ROWS) -> list:
    """Up to ``count`` rows at evenly spaced ranks between the top-k and the lowest-ranked
    missed expected document (expected ones left out): the documents a missed one has to
    overtake, for counterfactuals that re-score only a few rows (see :func:`moved_like`)."""
    if not ctx0.missed:
        return []
    last = max(r for _, r in ctx0.missed)
    if last <= ctx0.k + 1:
        return []
    order = top_rows(ctx0.key, last - 1)
    ranks = np.unique(np.linspace(ctx0.k + 1, last - 1, count).round().astype(int))
    skip = set(int(p) for p in ctx0.expected_pos)
    return [int(order[r - 1]) for r in ranks if int(order[r - 1]) not in skip]


def changes_of(new_keys, old_keys, rows, expected) -> np.ndarray:
    """``new − old`` over ``rows`` that are not expected documents (finite ones only)."""
    skip = set(int(p) for p in expected)
    change = [float(a) - float(b) for r, a, b in zip(rows, new_keys, old_keys)
              if int(r) not in skip and math.isfinite(float(a) - float(b))]
    return np.asarray(change, dtype=float)


def moved_like(keys: np.ndarray, eligible: np.ndarray, changes: np.ndarray) -> np.ndarray:
    """``keys`` with each ``eligible`` row moved by one of the measured ``changes``.

    A counterfactual that can re-score only a few rows (texts re-embedded by a model)
    measures how the rows of :func:`calibration_rows` move and estimates the others from
    that: the sorted changes are handed out in turn down the ranking, so every run of
    ``len(changes)`` consecutive rows moves as the measured rows did together. Left at
    their old keys, a fix that raises most scores (a passage scores above its whole
    document) would seem to lift each re-scored document over all of them; one common
    shift would ignore that some rows gain much more than others.

    Examples
    --------
    >>> moved_like(np.array([3.0, 2.0, 1.0]), np.array([True, True, False]),
    ...            np.array([0.5, -0.5])).tolist()
    [2.5, 2.5, 1.0]
    """
    keys = np.asarray(keys, dtype=float).copy()
    changes = np.sort(np.asarray(changes, dtype=float))
    rows = np.flatnonzero(eligible)
    if changes.size == 0 or rows.size == 0:
        return keys
    order = rows[np.argsort(-keys[rows], kind="stable")]
    keys[order] += changes[np.arange(order.size) % changes.size]
    return keys
