"""Which expected documents a view of an :class:`~vecdiag.explain.explanation.Explanation`
lists one by one, and how it sums up the rest (a Cranfield query has 39 relevant
documents; 2,000 expected documents made an 83 KB printout)."""

from __future__ import annotations

import numpy as np

from ..results import fmt
from .wording import listed_name

__all__ = ["rank_columns", "first_listed", "best_ranked", "rank_groups", "ranks_summary",
           "expected_line"]


RANKS_SHOWN = 3   # expected documents given a rank column each; the rest summed up


def rank_columns(expected, k: int, has_ids: bool = True):
    """``(columns, cells)`` of the counterfactual table's ranks: one ``rank of X`` column
    for each of the first :data:`RANKS_SHOWN` expected documents (as given; when there
    are more, the best ranked now), and
    past them one column summing up the others (Cranfield has queries with 39 relevant
    documents: 39 columns). ``cells(expected_ranks)`` gives a row's cells."""
    shown, rest = rank_groups(expected)
    now = {e.id: e.rank for e in expected}
    columns = [f"rank of {listed_name(i, has_ids)}" for i in shown]
    if rest:
        columns.append(f"the other {len(rest)} expected "
                       f"({ranks_summary([now[i] for i in rest], k)} now)")

    def cells(ranks) -> list:
        row = [ranks.get(i, "") for i in shown]
        if rest:
            row.append(ranks_summary([ranks[i] for i in rest if i in ranks], k))
        return row

    return columns, cells


EXPECTED_LISTED = 20   # expected documents listed one per row; the rest summed up


def first_listed(expected):
    """``(listed, rest)``: the expected documents given a row each in the printed and
    HTML views (all of them, or when there are more than :data:`EXPECTED_LISTED` the
    best ranked, in the order given) and the others by rank, summed up in one row: 2,000
    expected documents made an 83 KB printout and a 629 KB page."""
    return best_ranked(expected, EXPECTED_LISTED, as_given=True)


def best_ranked(expected, n: int, *, as_given: bool = False):
    """``(first, rest)``: all the expected documents as given when there are at most
    ``n``; otherwise the ``n`` best ranked now (by rank, or ``as_given``: in the order
    given) and the others by rank. The cut of every view that caps expected documents
    (this record's, the explorer's)."""
    if len(expected) <= n:
        return list(expected), []
    ranked = sorted(expected, key=lambda e: (e.rank, e.position))
    if not as_given:
        return ranked[:n], ranked[n:]
    keep = {id(e) for e in ranked[:n]}
    return [e for e in expected if id(e) in keep], ranked[n:]


def rank_groups(expected):
    """``(shown, rest)``: ids of the expected documents given a rank each (the first
    :data:`RANKS_SHOWN` as given; when there are more, the best ranked now) and ids of
    the others, summed up."""
    shown, rest = best_ranked(expected, RANKS_SHOWN)
    return [e.id for e in shown], [e.id for e in rest]


def ranks_summary(ranks, k: int) -> str:
    """``2 in top-10, best 4, median 120`` of a list of ranks."""
    if not ranks:
        return ""
    inside = sum(r <= k for r in ranks)
    return f"{inside} in top-{k}, best {min(ranks)}, median {fmt(float(np.median(ranks)))}"


def expected_line(e, metric: str, has_ids: bool, quoted: bool = False) -> str:
    """The printed line of one expected document: ``expected row 40: rank 46, score
    0.31`` (``distance`` under euclidean, as the causes say).

    Examples
    --------
    >>> from types import SimpleNamespace as E
    >>> expected_line(E(id=40, rank=46, score=0.3125), "cosine", has_ids=False)
    'expected row 40: rank 46, score 0.3125'
    """
    score = "distance" if metric == "euclidean" else "score"
    return (f"expected {listed_name(e.id, has_ids, quoted=quoted)}: rank {e.rank}, "
            f"{score} {fmt(e.score)}")
