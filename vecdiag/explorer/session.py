"""What the explorer shows, computed in Python: the map, the query list, one view per query.

:class:`Session` holds the corpus (an Index), its 2-D map (a Projection), the queries and
their judgments. It answers the widget's questions with plain JSON-ready values:

* :meth:`Session.points` packs the map into little-endian float32 bytes (x0, y0, x1, y1,
  ...), so 100,000 points travel as 800 kB of binary, not as a JSON list;
* :meth:`Session.query_list`: the queries, worst nDCG@10 first when qrels are given;
* :meth:`Session.view`: one query explained (:func:`vecdiag.explain_neighbors`, cached):
  its place on the map, the ranked list, the expected documents, the hubs, the causes and
  one entry per fix with the counterfactual's top-k and the documents entering and leaving;
* :meth:`Session.doc` and :meth:`Session.breakdown`: a hovered or clicked document.

Texts are shortened here and sent as plain strings; the front-end inserts every string
with ``textContent`` (never as HTML), and the static view escapes them (:mod:`.static`).
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np

from .. import _validate as V
from ..explain.explanation import best_ranked
from ..results import shorten, text_or_empty, valid_text
from .hubs import HubMarks, corpus_k_occurrence

__all__ = ["Session", "fix_rows", "pack_points", "sendable", "MAX_LISTED_QUERIES"]

HOVER_TEXT = 160      # characters of a document shown on hover
LIST_TEXT = 90        # characters of a document in the ranked list
MAX_EXPECTED = 200    # expected documents a view lists at most, the best ranked (a query
                      # judged against 2,000 documents sent 2,000 rows, and 2,000 ranks
                      # per fix: a 0.9 MB view)
MAX_LISTED_QUERIES = 1_000   # queries the picker lists at most, the worst first (50,000
                             # queries wrote 50,000 options, 6 MB, into the page)


def pack_points(coords) -> bytes:
    """``(n, 2)`` coordinates as little-endian float32 bytes, row after row.

    >>> import numpy as np
    >>> b = pack_points(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> len(b), np.frombuffer(b, dtype="<f4").tolist()
    (16, [1.0, 2.0, 3.0, 4.0])
    """
    xy = np.asarray(coords, dtype=float)
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise ValueError(f"coords must have shape (n, 2) or wider, got {xy.shape}")
    return np.ascontiguousarray(xy[:, :2], dtype="<f4").tobytes()


def plain(value):
    """A JSON-ready id: numpy scalars become Python scalars, other objects strings."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool, numbers.Integral, float)):
        return value
    return str(value)


def sendable(value):
    """``value`` with every string made valid UTF-8 (:func:`vecdiag.results.valid_text`):
    a lone surrogate in a text or id (a broken ``"\\ud800"`` escape in a JSON corpus)
    stopped Jupyter from sending the widget's state at all.

    >>> sendable({"id": "d\\ud800", "xy": [1.0, 2.0]}) == {"id": "d\\ufffd", "xy": [1.0, 2.0]}
    True
    """
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {sendable(k): sendable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sendable(v) for v in value]
    return value


def fix_rows(base_top, fix_top):
    """The documents entering and leaving the top-k under a fix.

    Returns ``(entering, leaving)``: rows in ``fix_top`` but not in ``base_top`` (in
    their new order), and rows in ``base_top`` but not in ``fix_top`` (in their old order).

    >>> fix_rows([1, 2, 3], [3, 5, 1])
    ([5], [2])
    """
    base, new = set(base_top), set(fix_top)
    return [r for r in fix_top if r not in base], [r for r in base_top if r not in new]


class Session:
    """The explorer's Python side (inputs already checked by :func:`vecdiag.explore`)."""

    def __init__(self, index, projection, *, queries=None, query_ids=None, query_texts=None,
                 qrels=None, k=10, fix_report=None, random_state=0, owned=False):
        self.index = index
        self.owned = owned    # built by explore from an array or Dataset, not the user's
        self.projection = projection
        self.coords = np.asarray(projection.coords, dtype=float)[:, :2]
        self.k = k
        self.fix_report = fix_report
        self.random_state = 0 if random_state is None else random_state   # as explain reads it
        self.queries = queries
        self.query_ids = query_ids
        self.query_texts = query_texts
        self.qrels = qrels
        self._views = {}
        self._hubs = {}                   # k -> HubMarks of the statistics cached then
        self._row_of = None
        self._judged_row = None
        self.query_xy = (np.asarray(projection.transform(queries), dtype=float)[:, :2]
                         if queries is not None else np.empty((0, 2)))
        self.ndcg = self._ndcg() if qrels is not None else None

    # ------------------------------------------------------------------ the map
    def points(self) -> bytes:
        return pack_points(self.coords)

    def bounds(self) -> list:
        """``[xmin, xmax, ymin, ymax]`` over the corpus and every query."""
        xy = np.vstack([self.coords, self.query_xy]) if len(self.query_xy) else self.coords
        finite = xy[np.isfinite(xy).all(axis=1)]
        if not len(finite):
            return [0.0, 1.0, 0.0, 1.0]
        lo, hi = finite.min(axis=0), finite.max(axis=0)
        return [float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])]

    def row_of(self, doc_id) -> int:
        """Corpus row of an id (the row itself when the Index has no ids)."""
        if self.index.ids is None:
            return int(doc_id)
        if self._row_of is None:
            self._row_of = {plain(v): i for i, v in enumerate(self.index.ids.tolist())}
        return self._row_of[plain(doc_id)]

    def id_of(self, row: int):
        return int(row) if self.index.ids is None else plain(self.index.ids[int(row)])

    def text_of(self, row: int, width: int) -> str:
        texts = self.index.texts
        return "" if texts is None else shorten(text_or_empty(texts[int(row)]), width)

    # ------------------------------------------------------------------ queries
    def _ndcg(self) -> np.ndarray:
        """nDCG@10 of each query under exact search (NaN for a query without judgments,
        and for a zero query under cosine, which has no ranking)."""
        from ..evaluation import evaluate

        # a zero query has no cosine: searching it refused the whole explorer, although
        # without qrels it is listed and only its explanation is refused
        ranked = (np.flatnonzero(np.any(self.queries != 0, axis=1))
                  if self.index.metric == "cosine" else np.arange(len(self.queries)))
        if not len(ranked):
            return np.full(len(self.queries), np.nan)
        # nDCG@10 needs the top 10; a corpus of fewer documents is ranked whole
        res = self.index.search(self.queries[ranked],
                                k=min(len(self.index), max(10, self.k)))
        doc_ids = (list(range(len(self.index))) if self.index.ids is None
                   else [plain(v) for v in self.index.ids.tolist()])
        qids = [V.id_str(q, "query_ids") for q in self.query_ids]
        # the judgments of the queries shown: evaluate warned of the others as queries
        # "the run has no results for", a run and a missing= the caller never handled
        shown = {qids[r] for r in ranked}
        judged = {V.id_str(q): {V.id_str(d): g for d, g in docs.items()}
                  for q, docs in self.qrels.items() if V.id_str(q) in shown}
        run = {q: {V.id_str(doc_ids[j]): float(s) for j, s in zip(row_i, row_s)}
               for q, row_i, row_s in zip([qids[r] for r in ranked], res.indices, res.scores)}
        if self.index.metric == "euclidean":   # evaluate ranks by score, higher first
            run = {q: {d: -s for d, s in docs.items()} for q, docs in run.items()}
        run = {q: docs for q, docs in run.items() if q in judged}
        if not run:
            return np.full(len(qids), np.nan)
        per = evaluate(run, judged, metrics=("ndcg@10",)).per_query["ndcg@10"]
        values = {str(q): float(v) for q, v in per.items()}
        return np.array([values.get(q, np.nan) for q in qids])

    def expected_of(self, i: int) -> list:
        """Ids judged relevant (grade >= 1) for query ``i``, best grade first."""
        if self.qrels is None:
            return []
        # qrels and ids read as strings (V.id_str), as the picker's nDCG@10 reads them;
        # a judged document the corpus does not hold is left out, as evaluate scores it
        docs = self.qrels.get(V.id_str(self.query_ids[i], "query_ids"), {})
        if self._judged_row is None:
            doc_ids = (range(len(self.index)) if self.index.ids is None
                       else self.index.ids.tolist())
            self._judged_row = {}
            for row, d in enumerate(doc_ids):
                self._judged_row.setdefault(V.id_str(d), row)
        ranked = sorted(docs.items(), key=lambda kv: (-kv[1], str(kv[0])))
        return [self.id_of(self._judged_row[V.id_str(doc)]) for doc, grade in ranked
                if grade >= 1 and V.id_str(doc) in self._judged_row]

    def query_list(self, limit: int | None = None) -> list:
        """One entry per query, worst nDCG@10 first (given order without qrels); the first
        ``limit`` of them when given (:meth:`query_list_note` says how many are left out)."""
        order = self._order()[:limit]
        return sendable([{"i": i, "id": plain(self.query_ids[i]),
                          "text": shorten(self.query_texts[i], LIST_TEXT) if self.query_texts
                          else "",
                          "ndcg": None if self.ndcg is None or np.isnan(self.ndcg[i])
                          else round(float(self.ndcg[i]), 4)} for i in order])

    def _order(self) -> list:
        """Query rows, worst nDCG@10 first (NaN last, ties by row; given order without
        qrels)."""
        n = 0 if self.queries is None else len(self.queries)
        if self.ndcg is None:
            return list(range(n))
        key = np.where(np.isnan(self.ndcg), np.inf, self.ndcg)
        return sorted(range(n), key=lambda i: (key[i], i))

    def query_list_note(self, limit: int) -> str | None:
        """"the 1,000 worst queries (nDCG@10) listed, 49,000 more not (50,000 in all)"
        ("the first 1,000 queries" without qrels), or None when ``query_list(limit)``
        leaves none out."""
        n = 0 if self.queries is None else len(self.queries)
        if n <= limit:
            return None
        which = "first" if self.ndcg is None else "worst"
        return (f"the {which} {limit:,} queries{' (nDCG@10)' * (self.ndcg is not None)} "
                f"listed, {n - limit:,} more not ({n:,} in all)")

    def first_shown(self) -> int | None:
        """The query shown first: the worst of :meth:`query_list` that can be explained
        (a zero query has no cosine, and under dot scores 0 against every document: its
        explanation is refused); None without queries."""
        order = self._order()      # rows only: no entry (ids, texts) built per query
        for i in order:
            if self.index.metric == "euclidean" or np.any(self.queries[i]):
                return i
        return order[0] if order else None

    # ------------------------------------------------------------------ one query
    def preset(self, i: int, explanation) -> None:
        """Show ``explanation`` for query ``i`` instead of explaining it again."""
        self._views[int(i)] = explanation

    def explanation(self, i: int):
        """The explanation of query ``i`` (computed on first use, then cached)."""
        if i not in self._views:
            from ..explain import explain_neighbors

            options = {}
            if self.fix_report is not None and \
                    "fix_report" in inspect.signature(explain_neighbors).parameters:
                options["fix_report"] = self.fix_report
            # the user's Index (or a small one): exact corpus statistics, cached on it; a
            # large Index explore built itself: statistics from a sample (explain_neighbors'
            # rule for raw arrays), not an O(n^2) graph, cached on it too: explaining its
            # vectors kept them on a temporary Index, so every query sampled again and the
            # map marked no hub
            from ..explain import stats

            ix = self.index
            if self.owned and len(ix) > stats.DEFAULT_MAX_EXACT:
                stats.corpus_stats(ix, self.k, owned=True, max_exact=stats.DEFAULT_MAX_EXACT,
                                   random_state=self.random_state)
            self._views[i] = explain_neighbors(
                self.queries[i], ix, k=self.k, expected=self.expected_of(i) or None,
                query_text=self.query_texts[i] if self.query_texts else None,
                random_state=self.random_state, **options)
        return self._views[i]

    def score(self, i: int, row: int) -> float:
        """Score of query ``i`` against document ``row`` under the Index's metric."""
        q = np.asarray(self.queries[i], dtype=float)
        x = np.asarray(self.index.vectors[int(row)], dtype=float)
        if self.index.metric == "euclidean":
            return float(np.linalg.norm(q - x))
        dot = float(q @ x)
        if self.index.metric == "dot":
            return dot
        norms = float(np.linalg.norm(q) * np.linalg.norm(x))
        return dot / norms if norms > 0 else 0.0

    def view(self, i: int) -> dict:
        """Everything the side panel and the overlay draw for query ``i``."""
        return sendable(view_of(self.explanation(i), self, i))

    def hub_marks(self, k: int) -> HubMarks:
        """The hubs at ``k`` (:class:`.hubs.HubMarks`), found once per statistics object
        the Index caches (again only when an explanation caches new ones)."""
        stats = corpus_k_occurrence(self.index, k, self.random_state)
        marks = self._hubs.get(k)
        if marks is None or marks.stats is not stats:
            marks = self._hubs[k] = HubMarks(stats)
        return marks

    def doc(self, row: int, i: int | None) -> dict:
        """A hovered document: id, shortened text and (with a query) its score."""
        row = int(row)
        out = {"row": row, "id": self.id_of(row), "text": self.text_of(row, HOVER_TEXT)}
        note = self.hub_marks(self.k).note(row)
        if note:
            out["hub"] = note
        if i is not None and self.queries is not None:
            out["score"] = round(self.score(i, row), 4)
        return sendable(out)

    def breakdown(self, i: int, row: int, top: int = 8) -> dict:
        """:func:`vecdiag.explain_cosine` of query ``i`` against document ``row``."""
        from ..breakdown import explain_cosine

        q, x = self.queries[i], self.index.vectors[int(row)]
        if not np.any(x) or not np.any(q):
            return sendable({"row": int(row), "id": self.id_of(row),
                             "error": "a zero vector has no cosine (no direction)"})
        br = explain_cosine(q, x, top=top)
        dims = [{"dim": int(d), "q": round(float(br.a[d]), 4), "d": round(float(br.b[d]), 4),
                 "contribution": round(float(br.contribution[d]), 4)} for d in br.top_dims]
        return sendable({"row": int(row), "id": self.id_of(row),
                         "cosine": round(float(br.cosine), 4), "dot": round(float(br.dot), 4),
                         "norm_q": round(float(br.norm_a), 4),
                         "norm_d": round(float(br.norm_b), 4), "dims": dims})


def view_of(exp, session: Session, i: int) -> dict:
    """The JSON-ready view of one explanation (see :meth:`Session.view`)."""
    rows = {}

    def entry(row):
        row = int(row)
        if row not in rows:
            rows[row] = {"id": session.id_of(row), "text": session.text_of(row, LIST_TEXT)}
        return row

    base = [entry(session.row_of(d)) for d in exp.top_ids]
    for row, s in zip(base, exp.top_scores):
        rows[row]["score"] = round(float(s), 4)
    expected = []
    shown, _ = best_ranked(exp.expected, MAX_EXPECTED, as_given=True)
    shown_ids = {plain(e.id) for e in shown}
    for e in shown:
        r = entry(e.position)
        rows[r]["score"] = round(float(e.score), 4)
        expected.append({"row": r, "id": plain(e.id), "rank": int(e.rank),
                         "score": round(float(e.score), 4)})
    recommendation = getattr(exp, "recommendation", None)
    rec_fix = getattr(recommendation, "fix", None)
    fixes = []
    for cf in exp.counterfactuals:
        top = [entry(session.row_of(d)) for d in cf.top]
        entering, leaving = fix_rows(base, top)
        item = {"fix": cf.fix, "note": cf.note, "moved": bool(cf.moved),
                "exact": bool(getattr(cf, "exact", True)), "top": top,
                "entering": entering, "leaving": leaving,
                "expected_ranks": [{"id": plain(d), "rank": int(r)}
                                   for d, r in cf.expected_ranks.items()
                                   if plain(d) in shown_ids],
                "recommended": cf.fix == rec_fix}
        delta = getattr(cf, "global_delta", None)
        if delta is not None:
            item["global_delta"] = round(float(delta), 4)
        fixes.append(item)
    fixes.sort(key=lambda f: not f["recommended"])   # the recommendation first
    causes = [{"code": c.code, "summary": c.summary, "fix": c.fix,
               "confidence": round(float(c.confidence), 3), "ranking": bool(c.ranking)}
              for c in exp.causes]
    marks = session.hub_marks(exp.k)
    hubs, strong = marks.marked()         # at most MAX_MARKED: the page says how many more
    notes = [marks.sampled_note(), marks.left_out_note()]     # the statistics looked up once
    xy = session.query_xy[i]
    return {"query": {"i": i, "id": plain(session.query_ids[i]),
                      "text": shorten(session.query_texts[i], 200) if session.query_texts else "",
                      "xy": [float(xy[0]), float(xy[1])],
                      "ndcg": None if session.ndcg is None or np.isnan(session.ndcg[i])
                      else round(float(session.ndcg[i]), 4)},
            "k": int(exp.k), "metric": exp.metric, "base": base, "expected": expected,
            "hubs": hubs, "strong_hubs": strong,
            "hub_note": "; ".join(n for n in notes if n) or None,
            "expected_note": None if len(exp.expected) <= MAX_EXPECTED else (
                f"the {MAX_EXPECTED:,} best-ranked of {len(exp.expected):,} expected "
                "documents shown"),
            "causes": causes, "fixes": fixes,
            "recommendation": rec_fix,
            "recommendation_text": getattr(exp, "recommendation_text", None),
            "docs": {str(r): v for r, v in rows.items()}}
