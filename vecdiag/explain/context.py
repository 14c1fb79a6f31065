"""The one object every cause check reads: :class:`Context`, typed, frozen, built once.

:func:`vecdiag.explain_neighbors` measures everything first (the whole ranking, the
corpus statistics, every counterfactual ranking, the text evidence) and freezes it into a
Context; each check is then a pure function ``check(ctx) -> Cause | None`` of it alone,
so the checks may run in any order (tests shuffle them). Nothing a check computes is
visible to another check.

The text evidence (words shared with the query, the cut of a long document, the best
passage of a diluted one, the model's missing instructions) is measured by
:mod:`.text_evidence` and kept here as small frozen records, None when the inputs did not
allow the measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .wording import document_name

__all__ = ["Context", "JudgedFix", "LexicalEvidence", "TruncationEvidence", "DilutionEvidence",
           "PrefixEvidence", "frozen_array", "frozen_map"]


def frozen_array(a) -> np.ndarray:
    """A read-only view of ``a`` (checks must not write into shared arrays)."""
    out = np.asarray(a).view()
    out.flags.writeable = False
    return out


def frozen_map(d) -> MappingProxyType:
    """A read-only mapping over a copy of ``d``."""
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class LexicalEvidence:
    """BM25's view of the first missed expected document (corpus texts + query text)."""

    position: int
    """The document's row."""
    bm25_rank: int | None
    """Its rank by BM25 over the whole corpus, documents of equal score counted ahead of
    it (None: no query word in it)."""
    dense_rank: int
    """Its rank by the vectors."""
    shared: tuple
    """``(word, weight)`` of the informative query words the document contains, heaviest
    first: stop words and words in most documents left out, weight = the word's BM25
    inverse document frequency."""
    strength: float
    """``ramp(log10(dense rank / BM25 rank), 0.3, 1)``: how much better the words find it."""


@dataclass(frozen=True)
class TruncationEvidence:
    """The first missed expected document is longer than the model reads."""

    position: int
    tokens: int
    max_tokens: int
    best_chunk: int
    best_chunk_start_token: int
    past_cut: bool
    chunk_words: int
    match: float
    """How far the best part's score goes from the query's median score (0) to its k-th
    result's (1): a part below 1 scores under everything the query returned."""


@dataclass(frozen=True)
class DilutionEvidence:
    """The first missed expected document fits the model, but its best passage scores far
    above the whole document: the relevant part is averaged away."""

    position: int
    tokens: int
    max_tokens: int
    passage: str
    """The best passage's text."""
    passage_score: float
    """Its score for the query (the metric's units)."""
    document_score: float
    """The whole document's score."""
    passage_rank: int
    """The rank the document gets when scored by its best passage (returned documents
    scored by their best passages too)."""
    relative_gain: float
    """(passage key − document key) / (top key − median key): the gain as a share of the
    query's score range."""
    window_words: int
    """Words per passage (passages overlap by half)."""


@dataclass(frozen=True)
class PrefixEvidence:
    """The model was trained with instructions the embedder does not add."""

    model: str
    missing: tuple
    """``("query",)``, ``("document",)`` or both."""
    want_query: str
    want_document: str
    have_query: str
    have_document: str
    source: str | None
    measured: bool
    """True when the query text allowed re-embedding (an ``add_prefix`` ranking exists)."""


@dataclass(frozen=True)
class JudgedFix:
    """A fix's change over the user's judged queries (from ``fix_report=``)."""

    delta: float
    """Change of the report's primary metric (fix minus baseline)."""
    p: float
    """Holm-adjusted p-value of that change."""
    significant: bool
    metric: str
    n_queries: int

    @property
    def harmful(self) -> bool:
        """Significantly worse than the plain search on the judged queries."""
        return self.significant and self.delta < 0


@dataclass(frozen=True)
class Context:
    """Everything a cause check may read (inputs already checked; nothing mutable)."""

    index: object
    """The :class:`vecdiag.Index` searched."""
    stats: object
    """:class:`vecdiag.explain.stats.CorpusStats` (cached per Index)."""
    k: int
    metric: str
    query: np.ndarray
    """The query vector, in the corpus's dtype."""
    scores: np.ndarray
    """The query's score against every row."""
    key: np.ndarray
    """Ranking keys (higher is better: scores, or negated distances)."""
    base: object
    """:class:`vecdiag.explain.counterfactuals.Ranking` of the plain search."""
    top: np.ndarray
    """Rows of the top-k, best first."""
    median_key: float
    query_norm: float
    unit_query: np.ndarray
    expected_pos: tuple
    """Rows of the expected documents, in the order given."""
    expected_ranks: np.ndarray
    missed: tuple
    """``(row, rank)`` of the expected documents outside the top-k, best rank first."""
    returned_pos: tuple | None
    model_similarity: str | None
    """The similarity the embedder's model was trained for, when it says."""
    top_percentiles: np.ndarray
    expected_percentile: MappingProxyType
    duplicate_groups: tuple
    """Near-copy groups (arrays of rows) among the candidates."""
    copy_frame: object
    """The :class:`~vecdiag.diagnostics.copy_frame.CopyFrame` copies are also judged in
    (:func:`vecdiag.explain.stats.copy_frame`), or None: raw cosine only. The groups
    above and the de-duplicated counterfactual both use it."""
    rankings: MappingProxyType
    """Fix code -> Ranking of the whole corpus under that fix."""
    anisotropy: float | None
    rogue: object
    ann_recall: float | None
    directions_judged: bool = True
    """False when :func:`vecdiag.diagnose` leaves this corpus's anisotropy and rogue
    dimensions not judged (too few distinct vectors,
    :func:`vecdiag.diagnostics.rules.too_few_to_judge`): neither cause is then named,
    and their figures are context only."""
    lexical: LexicalEvidence | None = None
    truncation: TruncationEvidence | None = None
    dilution: DilutionEvidence | None = None
    prefix: PrefixEvidence | None = None
    judged: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    """Fix code -> :class:`JudgedFix` from ``fix_report=`` (empty without a report)."""
    alternatives: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    """Name -> Ranking of the corpus under another embedding model (``alternatives=``)."""
    extra: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    """Room for measurements a new check brings (name -> frozen record)."""

    @property
    def k_graph(self) -> int:
        """Neighbours per list of the corpus kNN graph."""
        return self.stats.graph_k

    def id_of(self, row):
        """The id shown for a row (the row itself without ids)."""
        ids = self.index.ids
        if ids is None:
            return int(row)
        value = ids[int(row)]
        return value.item() if isinstance(value, np.generic) else value

    def name_of(self, row) -> str:
        """How a document is named in a sentence: its id ("document 15" for a numeric id),
        or "row 17" without ids."""
        return document_name(self.id_of(row), self.index.ids is not None)

    def rank_of(self, row) -> int:
        """Rank of a row under the plain search."""
        return int(self.base.ranks([row])[0])

    def harmful(self, fix: str) -> bool:
        """True when the fix report finds ``fix`` significantly harmful."""
        judged = self.judged.get(fix)
        return judged is not None and judged.harmful

    def rank_under(self, fix: str, row) -> int | None:
        """Rank of a row under ``fix``'s counterfactual ranking (None: not measured)."""
        ranking = self.rankings.get(fix)
        return None if ranking is None else int(ranking.ranks([row])[0])
