"""Dilution: the relevant part of a document is averaged away, although nothing was cut.

A model turns a whole document into one vector. When only one passage of it answers the
query, the other passages pull that vector elsewhere: the document as a whole scores low
even though its best passage would score high. Unlike truncation (text past the model's
token limit is never read), a diluted document fits the model.

Measurement (an embedder with a token limit and the corpus texts; the first missed
expected document has at most ``max_tokens`` tokens): the document is cut into
overlapping passages of ``w`` words (``w = min(0.6 · max_tokens, words / 2)``, at least
16; consecutive passages share half their words), each passage embedded as a document
and scored against the query. Evidence: the best passage, its score, the whole document's
score, and the rank the document gets when the returned and expected documents are all
scored by their best passage (the ``chunk_documents`` counterfactual,
:func:`vecdiag.fixes.text.chunk_documents` with the same windows; the other documents
longer than a window are estimated to gain what a dozen documents ranked between the
top-k and the missed one gain, so the ranking is approximate, ``exact=False``).

The relative gain ``(best passage key − document key) / (top key − median key)`` puts the
difference on the query's own score range; the check's strength is
``ramp(gain, 0.05, 0.25)``.
"""

from __future__ import annotations

import numpy as np

from .context import DilutionEvidence
from .counterfactuals import Ranking, calibration_rows, changes_of, describe, moved_like
from .ranking import keys_of, vectors_of

__all__ = ["measure_dilution", "passage_keys", "best_passage_ranking", "MIN_WINDOW"]

MIN_WINDOW = 16  # words: shorter passages carry too little meaning to score


class _Quiet:
    """An embedder whose ``encode`` shows no progress bar: explain's re-embeddings (chunks,
    passages, prefixed texts, occluded queries) are steps of one explanation, which the
    user did not ask to watch (an embedder shows a bar past 64 texts)."""

    def __init__(self, emb):
        self.emb = emb

    def encode(self, texts, *, kind: str = "document"):
        return self.emb.encode(texts, kind=kind, show_progress=False)


def passage_keys(ctx0, emb, passages) -> np.ndarray:
    """Ranking keys (higher is better) of each passage, embedded as a document."""
    from ..neighbors import Index
    from .ranking import full_scores

    vecs = np.asarray(emb.encode(list(passages), kind="document", show_progress=False),
                      dtype=float)
    return keys_of(full_scores(Index(vecs, metric=ctx0.metric),
                               ctx0.query[None, :].astype(float))[0], ctx0.metric)


def best_passage_ranking(ctx0, emb, texts, window_words: int, overlap: int):
    """The ``chunk_documents`` ranking ``(Ranking, rows re-scored, changes)``: returned and
    expected documents longer than a window scored by their best window.

    Only those are re-embedded (a text model embeds a few dozen passages a second). A
    document's best passage tends to score above the whole, so the rows ranked between
    them, left at their whole-document score, would be jumped over by every re-scored
    document. So a dozen documents ranked between the top-k and the missed ones are
    re-scored too (:func:`.counterfactuals.calibration_rows`), and each other document
    longer than a window gains one of the changes measured on those that were split
    (:func:`.counterfactuals.moved_like`; none when none was). Shorter documents keep
    their vectors, as :func:`vecdiag.fixes.text.chunk_documents` keeps them.
    """
    from ..fixes.text import chunk_documents, words_of

    between = calibration_rows(ctx0)
    rows = list(dict.fromkeys([*ctx0.top.tolist(), *ctx0.expected_pos, *between]))
    nb = chunk_documents(ctx0.query[None, :], vectors_of(ctx0.index, rows), [texts[r] for r in rows],
                         _Quiet(emb), k=len(rows), metric=ctx0.metric, chunk_words=window_words,
                         overlap=overlap)
    keys = ctx0.key.astype(float).copy()
    at = np.asarray(rows)[nb.indices[0]]
    new = keys_of(nb.scores[0], ctx0.metric)
    long = np.array([len(words_of(t)) > window_words for t in texts])
    split = long[at]
    if between:     # calibrated on the documents a missed one has to overtake
        split &= np.isin(at, between)
    changes = changes_of(new[split], keys[at][split], at[split], ctx0.expected_pos)
    others = long.copy()
    others[rows] = False
    keys = moved_like(keys, others, changes)
    keys[at] = new
    return Ranking(keys, ctx0.k), rows, changes


def window_for(n_words: int, max_tokens: int) -> int | None:
    """Words per passage for a document of ``n_words`` words, None when it is too short
    to hold two passages.

    Examples
    --------
    >>> window_for(400, 256), window_for(100, 256), window_for(20, 256)
    (153, 50, None)
    """
    w = min(int(0.6 * max_tokens), n_words // 2)
    return None if w < MIN_WINDOW else w


def measure_dilution(ctx0, emb, texts, n_tokens: int):
    """Best passage of the first missed document against the whole (module docstring)."""
    from ..fixes.text import chunk_text, words_of

    limit = int(emb.max_tokens)
    pos = ctx0.missed[0][0]
    text = texts[pos]
    w = window_for(len(words_of(text)), limit)
    if w is None:
        return None, {}, []
    overlap = w // 2
    passages = chunk_text(text, w, overlap)
    keys = passage_keys(ctx0, emb, passages)
    best = int(np.argmax(keys))
    doc_key = float(ctx0.key[pos])
    spread = float(ctx0.key[ctx0.top[0]] - ctx0.median_key)
    rel = (float(keys[best]) - doc_key) / spread if spread > 0 else 0.0
    ranking, rows, changes = best_passage_ranking(ctx0, emb, texts, w, overlap)
    note = (f"{len(rows)} documents (returned, expected and some ranked between) re-scored "
            f"by their best passage of {w} words; the other long documents estimated to "
            f"move as those between do ({len(changes)} measured changes handed out in turn)")
    record = describe("chunk_documents", ranking, ctx0.base, ctx0.expected_pos, ctx0.k,
                      ctx0.id_of, note, name_of=ctx0.name_of)
    sign = -1.0 if ctx0.metric == "euclidean" else 1.0
    evidence = DilutionEvidence(
        position=int(pos), tokens=int(n_tokens), max_tokens=limit, passage=passages[best],
        passage_score=sign * float(keys[best]), document_score=float(ctx0.scores[pos]),
        passage_rank=int(ranking.ranks([pos])[0]), relative_gain=float(rel), window_words=w)
    return evidence, {"chunk_documents": ranking}, [record]
