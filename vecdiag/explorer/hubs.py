"""Which documents the explorer's map marks as hubs, and what hovering one says.

One meaning of "hub" across vecdiag (docs/guide/check-corpus.md, "Two bars for a hub"):
a document in the top-k of at least 2k documents' lists is a hub, as
:func:`vecdiag.diagnose` and :func:`vecdiag.hubness` list them
(:func:`vecdiag.diagnostics.hub_rows`); of those, one in at least 3k is a strong hub, the
bar :func:`vecdiag.explain_neighbors` needs to name a hub as a query's cause.

The k-occurrence N_k is read from the corpus statistics an explanation computed and
cached on the Index: exact, or, on a large corpus explore indexed itself, estimated from
sampled rows (each document's count ``c`` among ``s`` sampled lists, times ``n / s``).
subtle: such an estimate moves in steps of ``n / s`` and most documents are seen a few
times at most, so "estimate ≥ 2k" marks many ordinary documents (6,000 Gaussian vectors,
k = 5, 2,000 sampled rows: 482 marked, 84 hubs, 37 of them among the 482); a 95%
interval per document still marked 9, 7 of them no hub (among 6,000 documents some are
seen in every one of their lists by chance). Then only documents clearly over the bar
are marked (:func:`vecdiag.diagnostics.clearly_hubs`: the interval of N_k at level
``1 − 0.05 / n`` wholly above it, as ``SampledHubness.likely_hubs``): fewer than the
hubs, each one a hub, and the panel says so (:func:`sampled_note`).

A corpus can have thousands of hubs (a planted 20,000-row corpus: 2,600): the view sent
to the page lists the :data:`MAX_MARKED` with most occurrences and says how many more
there are (:meth:`HubMarks.left_out_note`). The marks and every hover line come from one
:class:`HubMarks`, computed once per statistics object (the session keeps it): a hover
no longer re-ranks every hub, as it did for sampled statistics.
"""

from __future__ import annotations

import numpy as np

__all__ = ["corpus_k_occurrence", "hub_marks", "hub_note", "sampled_note", "HubMarks",
           "MAX_MARKED"]

MAX_MARKED = 500
"""Hubs the map marks at most, those with most occurrences (the view says how many more)."""


def corpus_k_occurrence(index, k: int, random_state=0):
    """The corpus statistics behind an explanation at ``k`` cached on the Index (their
    ``k_occurrence``, ``graph_k``, ``exact``, ``n``, ``sample_size``); None before any.

    Those of ``random_state`` first; else those an explanation with another one cached
    (``exp.explore()`` on ``explain_neighbors(..., random_state=7)``: the explorer's
    session reads 0, and marked no hub), exact ones first: exact statistics do not depend
    on the seed, sampled ones are as good an estimate under any.
    """
    from ..cache_keys import explain_stats

    cache = getattr(index, "cache", None) or {}
    stats = cache.get(explain_stats(k, random_state))
    if stats is None:
        head = explain_stats(k, random_state)[:2]
        found = [v for key, v in list(cache.items())
                 if isinstance(key, tuple) and key[:2] == head and len(key) == 3]
        found.sort(key=lambda v: not getattr(v, "exact", True))
        stats = found[0] if found else None
    if stats is None or getattr(stats, "k_occurrence", None) is None:
        return None
    return stats


def _whole(stats) -> bool:
    """Whether the statistics count every document's lists (exact, or a "sample" that
    holds every row: its counts are then exact too)."""
    return bool(getattr(stats, "exact", True)) or int(stats.sample_size) >= int(stats.n)


def _interval(stats, row: int) -> tuple:
    """Interval of a sampled N_k estimate at level ``1 − 0.05 / n`` (see the module note)."""
    from ..diagnostics import k_occurrence_interval

    return k_occurrence_interval(_counts(stats, row), int(stats.sample_size), int(stats.n))


def _counts(stats, rows=slice(None)) -> np.ndarray:
    """Each document's count (of ``rows``) among the sampled lists (the estimate is
    ``c · n / s``)."""
    kocc = np.asarray(stats.k_occurrence, dtype=float)[rows]
    return np.rint(kocc * int(stats.sample_size) / int(stats.n)).astype(np.int64)


def _marked(stats, factor: float) -> list:
    """Rows over ``factor · k``: all of them when exact, the clear ones when sampled
    (:func:`vecdiag.diagnostics.clearly_hubs`)."""
    from ..diagnostics import clearly_hubs, hub_rows

    graph_k = int(getattr(stats, "graph_k", stats.k))
    rows = hub_rows(np.asarray(stats.k_occurrence, dtype=float), graph_k, factor=factor)
    if _whole(stats):
        return rows.tolist()
    clear = clearly_hubs(_counts(stats)[rows], int(stats.sample_size), int(stats.n), graph_k,
                         factor=factor)
    return rows[clear].tolist()


class HubMarks:
    """The hubs of one set of corpus statistics (None: before any explanation), found
    once: ``hubs`` (N_k ≥ 2k) and ``strong`` (≥ 3k), every one, most occurrences first;
    :meth:`note` is a hover line, :meth:`left_out_note` what the capped map leaves out,
    :meth:`sampled_note` whether the marks were estimated."""

    def __init__(self, stats):
        from ..diagnostics import HUB_FACTOR, STRONG_HUB_FACTOR

        self.stats = stats
        self.hubs = [] if stats is None else _marked(stats, HUB_FACTOR)
        self.strong = [] if stats is None else _marked(stats, STRONG_HUB_FACTOR)
        self._bars = ((set(self.strong), "strong hub", STRONG_HUB_FACTOR),
                      (set(self.hubs), "hub", HUB_FACTOR))

    def marked(self, limit: int | None = None) -> tuple:
        """``(hubs, strong_hubs)``, the ``limit`` hubs with most occurrences (None:
        :data:`MAX_MARKED`) and the strong ones among them."""
        hubs = self.hubs[:MAX_MARKED if limit is None else limit]
        kept = set(hubs)
        return hubs, [r for r in self.strong if r in kept]

    def left_out_note(self, limit: int | None = None) -> str | None:
        """"the 500 hubs with most occurrences marked, 2,100 more not (2,600 in all)", or
        None when :meth:`marked` leaves none out."""
        limit = MAX_MARKED if limit is None else limit
        more = len(self.hubs) - limit
        if more <= 0:
            return None
        return (f"the {limit:,} hubs with most occurrences marked, {more:,} more not "
                f"({len(self.hubs):,} in all)")

    def sampled_note(self) -> str | None:
        """What the legend says when these marks come from sampled statistics
        (:func:`sampled_note`); None if exact."""
        return _sampled_note(self.stats)

    def note(self, row: int) -> str:
        """The hover line of a hub (see :func:`hub_note`); "" for any other row."""
        stats, row = self.stats, int(row)
        for rows, name, factor in self._bars:
            if row not in rows:
                continue
            graph_k = int(getattr(stats, "graph_k", stats.k))
            count, bar = float(stats.k_occurrence[row]), factor * graph_k
            if _whole(stats):
                return (f"{name}: in the top-{graph_k} of {count:.0f} documents' lists "
                        f"(≥ {factor:g}k = {bar:g})")
            low, high = _interval(stats, row)
            return (f"{name}: in the top-{graph_k} of about {count:.0f} documents' lists "
                    f"({low:.0f} to {high:.0f} from {int(stats.sample_size):,} sampled "
                    f"rows; ≥ {factor:g}k = {bar:g})")
        return ""


def hub_marks(index, k: int, random_state=0) -> tuple:
    """``(hubs, strong_hubs)``: corpus rows in the top-k of at least 2k documents' lists
    (:func:`vecdiag.diagnostics.hub_rows`, the hubs :func:`vecdiag.diagnose` lists), and
    of those the ones in at least 3k (the bar of ``explain_neighbors``' hub cause), most
    occurrences first; from sampled statistics only the rows clearly over each bar (see
    the module note); two empty lists before any explanation."""
    marks = HubMarks(corpus_k_occurrence(index, k, random_state))
    return marks.marked(len(marks.hubs))


def hub_note(index, k: int, row: int, random_state=0) -> str:
    """The hover line of a hub: "hub: in the top-10 of 24 documents' lists
    (≥ 2k = 20)", "strong hub: ... (≥ 3k = 30)", with "about" and the 95% interval when
    estimated; "" for a document that is no hub (by the rule the map marks by; a hub
    beyond the map's :data:`MAX_MARKED` still has its line), or before any explanation.
    (One row; a session keeps a :class:`HubMarks` and asks it per hover.)

    >>> import vecdiag as vd
    >>> X = [[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [1, 1]]
    >>> ix = vd.Index(X)
    >>> _ = vd.explain_neighbors([1, 0.2], ix, k=1)
    >>> hub_note(ix, 1, 1), hub_note(ix, 1, 0)
    ("hub: in the top-1 of 2 documents' lists (≥ 2k = 2)", '')
    """
    return HubMarks(corpus_k_occurrence(index, k, random_state)).note(row)


def sampled_note(index, k: int, random_state=0) -> str | None:
    """What the legend says when the marks come from sampled statistics; None if exact.

    >>> class S:  # sampled statistics, as an explanation caches them
    ...     exact, sample_size, n, k_occurrence = False, 2000, 6000, [0]
    >>> sampled_note(type("I", (), {"cache": {("explain_stats", 5, 0): S()}})(), 5)
    'hubs from 2,000 of 6,000 rows sampled: only clear ones marked (pass a vd.Index for all)'
    """
    return _sampled_note(corpus_k_occurrence(index, k, random_state))


def _sampled_note(stats) -> str | None:
    """:func:`sampled_note` of statistics already looked up (None: before any)."""
    if stats is None or _whole(stats):
        return None
    return (f"hubs from {int(stats.sample_size):,} of {int(stats.n):,} rows sampled: only "
            "clear ones marked (pass a vd.Index for all)")
