"""The parts of a report beyond diagnose / evaluate / explain.

* :func:`skipped_checks`: which checks could not run for lack of an input, in one
  sentence each ("lexical checks skipped: no query texts"), so that a report never
  explains a failure with a view it did not look at;
* :func:`fixes_for_report`: ``vd.try_fixes`` over the judged queries, its defaults
  widened by the fixes the diagnosis itself points to (e.g. ``deduplicate``);
* :func:`long_documents`: how many documents are longer than the model reads.
"""

from __future__ import annotations

import numpy as np

from ..results import Result, escape, html_block, html_table, result, text_safe_frame

__all__ = ["skipped_checks", "fixes_for_report", "LongDocuments", "long_documents"]


def skipped_checks(*, texts, query_texts, queries, qrels, embedder,
                   bm25_available: bool) -> list[str]:
    """One sentence per check that cannot run with the inputs given, and how to enable it."""
    out = []
    if queries is None:
        out.append("query checks skipped: no query vectors (the query/corpus shift needs "
                   "queries=, command line --queries)")
    elif qrels is None:
        out.append("retrieval metrics, explanations and fixes skipped: no judgments "
                   "(qrels=, command line --qrels)")
    if queries is not None and qrels is not None:
        if texts is None and query_texts is None:
            out.append("lexical checks skipped: no texts (pass texts= and query_texts=, "
                       "command line --texts and --query-texts)")
        elif query_texts is None:
            out.append("lexical checks skipped: no query texts (query_texts=, command line "
                       "--query-texts)")
        elif texts is None:
            out.append("lexical checks skipped: no document texts (texts=, command line "
                       "--texts)")
        elif not bm25_available:
            out.append('the lexical_mismatch check was skipped: it needs BM25 '
                       '(pip install "vecdiag[lexical]")')
        if embedder is None:
            out.append("truncation and query-prefix checks skipped: no model (embedder=, "
                       "command line --model)")
    return out


def fixes_for_report(queries, index, qrels, *, query_ids, diagnosis, metric: str, texts=None,
                     query_texts=None, embedder=None, fixes=None, random_state=0,
                     show_progress=None):
    """``vd.try_fixes`` on the judged queries, with the diagnosis' own fixes among them."""
    from ..evaluation.fix_trials import default_fixes, try_fixes

    lexical = texts is not None and query_texts is not None
    if fixes is None:
        fixes = default_fixes(metric, texts=lexical, findings=diagnosis)
    return try_fixes(queries, index, qrels, query_ids=query_ids, doc_ids=index.ids,
                     fixes=fixes, k=min(100, len(index)), metric=metric,
                     texts=texts if lexical else None,
                     query_texts=query_texts if lexical else None, embedder=embedder,
                     random_state=random_state, show_progress=show_progress)


@result
class LongDocuments(Result):
    """Documents longer than the model's token limit: their end is never embedded."""

    count: int
    """Documents with more tokens than ``max_tokens``."""
    n: int
    """Documents counted."""
    max_tokens: int
    """The model's limit (special tokens included)."""
    token_counts: np.ndarray
    """(n,) tokens per document."""
    longest: tuple
    """``(id or row, tokens)`` of up to 10 longest documents past the limit, longest first."""

    @property
    def share(self) -> float:
        """``count / n``."""
        return self.count / self.n if self.n else 0.0

    def summary(self) -> str:
        """One sentence with the count, the limit and the longest documents."""
        if not self.count:
            return (f"all {self.n} documents fit the model's {self.max_tokens}-token limit "
                    f"(longest: {int(self.token_counts.max(initial=0))} tokens)")
        names = ", ".join(f"{d} ({t})" for d, t in self.longest[:3])
        return (f"{self.count} of {self.n} documents ({100 * self.share:.1f}%) are longer "
                f"than the model's {self.max_tokens}-token limit: their text past it is "
                f"never embedded (longest: {names}); embed long documents in chunks "
                "(fix chunk_documents)")

    def to_frame(self):
        """One row per long document: id (as given), tokens."""
        return text_safe_frame({"id": [d for d, _ in self.longest],
                                "tokens": [t for _, t in self.longest]})

    def _repr_html_(self) -> str:
        return html_block("Documents past the token limit", f"<p>{escape(self.summary())}</p>",
                          html_table(list(self.longest), ["id", "tokens"], numeric={"tokens"}))


def long_documents(*, texts=None, embedder=None, token_counts=None, max_tokens=None,
                   ids=None) -> LongDocuments | None:
    """Count the documents past the model's token limit.

    From stored ``token_counts`` and ``max_tokens`` when given, else by counting
    ``texts`` with ``embedder.count_tokens`` (its ``max_tokens`` is the limit). Returns
    None when neither is available (no texts, or a model that cannot count).
    """
    if token_counts is None or max_tokens is None:
        if texts is None or embedder is None:
            return None
        from ..embedders import as_embedder

        emb = as_embedder(embedder)
        if emb.max_tokens is None:
            return None
        try:
            token_counts = emb.count_tokens(list(texts), kind="document")
        except (NotImplementedError, ValueError, TypeError):
            return None
        max_tokens = emb.max_tokens
    counts = np.asarray(token_counts, dtype=np.int64)
    over = np.flatnonzero(counts > max_tokens)
    over = over[np.argsort(-counts[over], kind="stable")]
    names = ids if ids is not None else range(counts.size)
    names = list(names)
    return LongDocuments(count=int(over.size), n=int(counts.size), max_tokens=int(max_tokens),
                         token_counts=counts,
                         longest=tuple((str(names[i]), int(counts[i])) for i in over[:10]))
