"""The record :func:`vecdiag.explain_neighbors` returns: causes, evidence, counterfactuals,
and how it shows itself (text, HTML, a frame, a plot). Its parts are the records of
:mod:`vecdiag.explain.result`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..results import (Result, escape, fmt, html_block, html_table, result, shorten,
                       shown_text, text_safe_frame)
from .listing import (RANKS_SHOWN, best_ranked, expected_line, first_listed, rank_columns,
                      rank_groups, ranks_summary)
from .result import Counterfactual
from .wording import listed_name, ordinal

__all__ = ["Explanation", "best_ranked"]


@result
class Explanation(Result):
    """Why a query's neighbours are what they are: causes, evidence, counterfactuals.

    Returned by :func:`vecdiag.explain_neighbors`; each field is also described where
    it is declared. Without corpus ids the ids held are row positions, and every view
    (sentences, printed lines, counterfactual notes, HTML) names a document ``row 17``.

    Attributes
    ----------
    neighbors : Neighbors
        The query's exact :class:`~vecdiag.Neighbors` (one row).
    causes : list of Cause
        Causes, strongest (highest confidence) first.
    expected : list of ExpectedDoc
        Where each expected document sits, in the order given.
    contributions : dict
        Document id -> ``(dimension, contribution)`` pairs, largest first.
    counterfactuals : list of Counterfactual
        One per applicable fix.
    k : int
        Neighbours shown.
    metric : str
        ``cosine``, ``dot`` or ``euclidean``.
    top_ids : list
        Ids of the returned top-k, best first.
    top_scores, top_percentiles : ndarray
        Their scores, and the scores' percentiles (0-100) among random corpus pairs
        (euclidean: the share of pairs farther apart; higher is closer).
    contrast : dict or None
        The top hit against the expected documents in the same dimensions.
    top_texts : list or None
        Texts of the top-k when the corpus has texts.
    stats : dict or None
        Corpus-wide figures used (sizes, sample, anisotropy, ...).
    query_text : str or None
        The query's text when given.
    attribution : dict or None
        With ``attribution=True``: document id -> ``(word, drop in score)`` pairs.
    ruled_out : list of Cause
        Causes whose fix was tried and moves the missed document the wrong way.
    recommendation : Counterfactual or None
        The counterfactual to try first (None when no fix moves the missed documents
        closer).
    recommendation_text : str or None
        The recommendation in one sentence (or why there is none).
    index : Index or None
        The :class:`~vecdiag.Index` that was searched, by reference.
    query_vector : ndarray or None
        The query as searched (a read-only copy).

    Examples
    --------
    >>> import numpy as np, vecdiag as vd
    >>> corpus = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.6, 0.8]])
    >>> ex = vd.explain_neighbors(np.array([0.7, 0.7]), corpus, k=2, expected=[2])
    >>> ex.top_ids, ex.expected[0].rank
    ([3, 1], 4)
    >>> ex.causes        # 4 vectors: too few to judge a shared direction (as vd.diagnose)
    []
    >>> ex.recommendation is None or ex.recommendation.fix in [c.fix for c in ex.counterfactuals]
    True
    """

    neighbors: object
    """The query's exact :class:`~vecdiag.Neighbors` (one row)."""
    causes: list
    """:class:`Cause` records, strongest (highest confidence) first."""
    expected: list
    """:class:`ExpectedDoc` records, in the order given."""
    contributions: dict
    """Document id -> list of ``(dimension, contribution)`` pairs, largest first: the
    dimensions that add most to its score (returned and expected documents)."""
    counterfactuals: list
    """:class:`Counterfactual` records, one per applicable fix."""
    k: int
    """Neighbours shown."""
    metric: str
    """Metric used: ``cosine``, ``dot`` or ``euclidean``."""
    top_ids: list
    """Ids of the returned top-k, best first."""
    top_scores: np.ndarray
    """Their scores."""
    top_percentiles: np.ndarray
    """Their scores' percentiles (0-100) among random corpus pairs (euclidean: the share
    of pairs farther apart), so higher is closer under every metric."""
    contrast: dict | None = None
    """The top hit against the expected documents in the same dimensions:
    ``{"dims": [...], "top hit id": [values], "expected id": [values], ...}`` for the
    top hit's largest contributions and the first expected document's separating
    dimensions (what :meth:`plot` draws)."""
    top_texts: list | None = None
    """Texts of the top-k when the corpus has texts."""
    stats: dict | None = None
    """Corpus-wide figures used (sizes, sample, anisotropy, k-occurrence summary...)."""
    query_text: str | None = None
    """The query's text when given."""
    attribution: dict | None = None
    """With ``attribution=True`` and a text query: document id -> list of
    ``(word, drop in score when the word is removed)``."""
    ruled_out: list = dataclasses.field(default_factory=list)
    """:class:`Cause` records whose fix was tried and moves the missed document the wrong
    way (confidence 0): checked and excluded, so not among :attr:`causes`."""
    recommendation: Counterfactual | None = None
    """The counterfactual to try first: the fix that moves the missed expected documents
    most among those the ``fix_report`` does not find significantly harmful (local only
    without a report); None when no fix moves them closer."""
    recommendation_text: str | None = None
    """The recommendation in one sentence (or why there is none)."""
    index: object = dataclasses.field(default=None, repr=False)
    """The :class:`~vecdiag.Index` that was searched, by reference (not copied): what
    :meth:`explore` maps without being told again."""
    query_vector: np.ndarray | None = dataclasses.field(default=None, repr=False)
    """The query as searched (a read-only copy)."""

    # ------------------------------------------------------------------ tables
    def to_frame(self):
        """The ranked list: top-k then the expected documents outside it by rank, one row
        each (as the HTML's ranked list).

        Ids are kept as given (an id holding a lone surrogate too: Python objects)."""
        rows = []
        expected_ids = {e.id for e in self.expected}
        for rank, (doc, score, pct) in enumerate(
                zip(self.top_ids, self.top_scores, self.top_percentiles), start=1):
            rows.append({"rank": rank, "id": doc, "score": float(score),
                         "percentile": float(pct), "expected": doc in expected_ids})
        for e in self.missed():
            rows.append({"rank": e.rank, "id": e.id, "score": e.score,
                         "percentile": e.percentile, "expected": True})
        return _frame(rows, ["rank", "id", "score", "percentile", "expected"])

    def missed(self) -> list:
        """The expected documents outside the top-k, by rank: how the ranked list (HTML,
        :meth:`to_frame`, the score plot) goes on after the top-k."""
        return sorted((e for e in self.expected if e.rank > self.k), key=lambda e: e.rank)

    def causes_frame(self):
        """One row per cause: code, confidence, ranking, fix, summary."""
        return _frame([{"code": c.code, "confidence": c.confidence, "ranking": c.ranking,
                        "fix": c.fix, "summary": c.summary} for c in self.causes],
                      ["code", "confidence", "ranking", "fix", "summary"])

    def counterfactuals_frame(self):
        """One row per fix: moved, the expected documents' new ranks, the note."""
        return _frame([{"fix": c.fix, "moved": c.moved,
                        "expected_ranks": dict(c.expected_ranks), "note": c.note}
                       for c in self.counterfactuals],
                      ["fix", "moved", "expected_ranks", "note"])

    @property
    def _has_ids(self) -> bool:   # without ids a document is "row 17", as sentences say
        return self.neighbors is None or self.neighbors.ids is not None

    # ----------------------------------------------------------------- display
    def __str__(self) -> str:
        lines = [f"Explanation (k={self.k}, metric={self.metric})"]
        if self.recommendation_text:
            lines.append(f"  try first: {self.recommendation_text}")
        for c in self.causes:
            tag = "" if c.ranking else " [context]"
            lines.append(f"  {c.confidence:.2f} {c.code}{tag}: {c.summary}")
        for c in self.ruled_out:
            lines.append(f"  ruled out {c.code}: {c.summary}")
        listed, rest = first_listed(self.expected)
        for e in listed:
            lines.append("  " + expected_line(e, self.metric, self._has_ids, quoted=True))
        if rest:
            lines.append(f"  and {len(rest)} more expected documents "
                         f"({ranks_summary([e.rank for e in rest], self.k)}; every one "
                         "in .expected)")
        lines += [f"  {line}" for line in self.counterfactual_lines()]
        # a bidi control in an id or text is shown as its code (\u202e), as in the HTML:
        # a notebook shows printed text in a browser, which would reorder the line
        return shown_text("\n".join(lines))

    def counterfactual_lines(self) -> list:
        """The counterfactual table as text, the rows the HTML shows: a heading, then per
        fix the expected documents' rank now -> after it (the first three expected, the
        rest summed up, as in the HTML; without expected documents, the note on what
        changes), whether the top-k stays the same and, with a
        ``fix_report``, the change of its metric over the judged queries (Holm p); the
        fix to try first is marked. Empty without counterfactuals.

        Examples
        --------
        >>> from vecdiag.explain.result import Counterfactual, ExpectedDoc
        >>> e = ExpectedDoc(id="d7", position=7, rank=12, score=0.4, gap=0.1,
        ...                 percentile=90.0, separating_dims=[])
        >>> c = Counterfactual(fix="center", expected_ranks={"d7": 3}, top=[], moved=True,
        ...                    note="")
        >>> Explanation(neighbors=None, causes=[], expected=[e], contributions={},
        ...             counterfactuals=[c], k=10, metric="cosine", top_ids=[],
        ...             top_scores=[], top_percentiles=[]).counterfactual_lines()
        ['what each fix would change (expected rank now -> after):', '  center: d7: 12 -> 3']
        """
        if not self.counterfactuals:
            return []
        shown, rest = rank_groups(self.expected)
        before = {e.id: e.rank for e in self.expected}
        judged = [c for c in self.counterfactuals if c.global_delta is not None]
        rec = None if self.recommendation is None else self.recommendation.fix
        said = (["expected rank now -> after"] if self.expected else []) + \
            ([f"Δ {judged[0].global_metric} on the judged queries"] if judged else [])
        lines = ["what each fix would change" + (f" ({'; '.join(said)})" if said else "") + ":"]
        for c in self.counterfactuals:
            ranks = dict(c.expected_ranks)
            parts = [f"{listed_name(i, self._has_ids)}: {before[i]} -> {ranks.get(i, '—')}"
                     for i in shown]
            if rest:
                parts.append(f"the other {len(rest)}: "
                             f"{ranks_summary([before[i] for i in rest], self.k)} -> "
                             f"{ranks_summary([ranks[i] for i in rest if i in ranks], self.k)}")
            row = f"  {c.fix}: {'; '.join(parts) or c.note}"     # (no expected: the note)
            if c.global_delta is not None:
                row += f"; Δ {c.global_delta:+.4f}" + ("" if c.global_p is None
                                                        else f" (p {c.global_p:.2g})")
            # without expected documents the row is the note, which already says so
            lines.append(row + ("" if c.moved or not parts else "; top-k unchanged")
                         + (" [try first]" if c.fix == rec else ""))
        return lines

    def _repr_html_(self) -> str:
        parts = []
        if self.query_text:
            parts.append(f"<p>query: <em>{escape(shorten(self.query_text, 200))}</em></p>")
        if self.recommendation_text:
            cls = "vd-ok" if self.recommendation is not None else "vd-muted"
            parts.append(f"<p class='{cls}'><b>Try first</b>: "
                         f"{escape(self.recommendation_text)}</p>")
        if self.causes:
            rows = [(c.code + ("" if c.ranking else " (context)"), round(c.confidence, 2),
                     c.fix or "", c.summary) for c in self.causes]
            classes = ["vd-critical" if c.confidence >= 0.5 else
                       ("vd-warning" if c.confidence >= 0.25 else "vd-muted") for c in self.causes]
            parts.append("<p><b>Causes</b>, strongest first</p>"
                         + html_table(rows, ["cause", "confidence", "fix", "summary"],
                                      numeric={"confidence"}, classes=classes))
        if self.ruled_out:
            rows = [(c.code, c.fix or "", c.summary) for c in self.ruled_out]
            parts.append("<p><b>Ruled out</b>: their fix was tried and moves the document "
                         "the wrong way</p>" + html_table(rows, ["cause", "fix tried", "what happened"],
                                                           classes=["vd-muted"] * len(rows)))
        if not self.causes and any(e.rank > self.k for e in self.expected):
            parts.append("<p><b>No cause found</b>: the missed documents are not held back by "
                         "any checked failure; their gap and percentile below say how close "
                         "they came (a relevance judgement the embedding does not share).</p>")
        elif not self.causes:
            parts.append("<p><b>No cause found</b>: the ranking looks healthy.</p>")
        expected_ids = {e.id for e in self.expected}
        rows, classes = [], []
        texts = self.top_texts or [None] * len(self.top_ids)
        for rank, (doc, score, pct, text) in enumerate(
                zip(self.top_ids, self.top_scores, self.top_percentiles, texts), start=1):
            mark = "★ expected" if doc in expected_ids else ""
            rows.append((rank, doc, score, ordinal(pct), mark, shorten(text, 80) if text else ""))
            classes.append("vd-ok" if mark else "")
        missed, unlisted = first_listed(self.missed())
        for e in missed:
            rows.append((e.rank, e.id, e.score, ordinal(e.percentile), "★ expected (missed)",
                         shorten(e.text, 80) if e.text else ""))
            classes.append("vd-critical")
        if unlisted:
            rows.append(("", f"and {len(unlisted)} more missed", "", "", "★ expected (missed)",
                         f"{ranks_summary([e.rank for e in unlisted], self.k)}; every one "
                         "in .missed()"))
            classes.append("vd-critical")
        among = ("the share of random corpus pairs farther apart" if self.metric == "euclidean"
                 else "the score among random corpus pairs")
        parts.append(f"<p><b>Ranked list</b> (percentile: {among}; higher is closer)</p>"
                     + html_table(rows, ["rank", "id" if self._has_ids else "row", "score",
                                         "percentile", "", "text"],
                                  numeric={"rank", "score", "percentile"}, classes=classes))
        if self.counterfactuals:
            rank_cols, rank_cells = rank_columns(self.expected, self.k, self._has_ids)
            judged = [c for c in self.counterfactuals if c.global_delta is not None]
            glob = [] if not judged else [f"Δ {judged[0].global_metric} (judged)", "p (Holm)"]
            cols = ["fix", "moved"] + rank_cols + glob + ["note"]
            rows = [[c.fix, "yes" if c.moved else "no"]
                    + rank_cells(c.expected_ranks)
                    + ([] if not glob else ["" if c.global_delta is None else f"{c.global_delta:+.4f}",
                                            "" if c.global_p is None else f"{c.global_p:.2g}"])
                    + [c.note] for c in self.counterfactuals]
            rec = None if self.recommendation is None else self.recommendation.fix
            classes = ["vd-ok" if c.fix == rec else "" for c in self.counterfactuals]
            more = ("" if len(rank_cols) == len(self.expected) else
                    "; every expected document's rank is in counterfactuals_frame()")
            parts.append("<p><b>Counterfactuals</b>: the ranking after each fix (or under "
                         f"another model){more}</p>"
                         + html_table(rows, cols, numeric=set(rank_cols[:RANKS_SHOWN]) | set(glob),
                                      classes=classes))
        if self.stats:
            st = self.stats
            how = ("exact" if st.get("exact") else
                   f"from a sample of {st.get('sample_size')} rows")
            parts.append(f"<p class='vd-muted'>corpus: {escape(st.get('n'))} documents × "
                         f"{escape(st.get('d'))} dimensions; corpus statistics {escape(how)}; "
                         f"mean cosine of random pairs {escape(fmt(st.get('anisotropy')))}</p>")
        return html_block(f"Why these neighbours? (k={self.k}, metric={self.metric})", *parts)

    def explore(self, corpus=None, **kwargs):
        """The interactive explorer on this query (:func:`vecdiag.explorer.explore_explanation`)."""
        from ..explorer import explore_explanation

        return explore_explanation(self, corpus, **kwargs)

    def plot(self, ax=None):
        """Score bars for the top-k (expected documents marked) beside a contribution
        chart of the top hit vs the first expected document. Returns the bar Axes (the
        contribution Axes is its figure's second Axes when ``ax`` is None)."""
        from ..plot.explain import draw_explanation

        return draw_explanation(self, ax=ax)


def _frame(rows, columns):
    """``rows`` (dicts) as a DataFrame with these columns, through text_safe_frame: an id
    or summary holding a lone surrogate failed pandas' str dtype (pandas 3)."""
    return text_safe_frame({c: [row[c] for row in rows] for c in columns})
