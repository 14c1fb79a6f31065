"""Fix codes -> "apply this fix to (queries, corpus) and re-rank".

One entry point, :func:`apply_fix`, used by ``explain_neighbors`` (counterfactuals: what
would this query's ranking be under each fix?) and by ``try_fixes`` (evaluation: does the
fix help on average?). Both get the same answer for the same fix.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .. import _validate as V
from ..neighbors.scoring import check_queries, make_neighbors, resolve_corpus
from ..scale.chunks import is_dask_array

__all__ = ["FIX_CODES", "FixSpec", "FIXES", "apply_fix", "make_transformer", "available_fixes",
           "parse_fix", "STEP_OPTIONS", "step_options", "options_of"]


@dataclass(frozen=True)
class FixSpec:
    """What a fix code means."""

    code: str
    """The fix code (the vocabulary of ``Finding.fix`` / ``Cause.fix``)."""
    kind: str
    """"transform" (change the vectors, fitted on the corpus), "metric" (search with
    another metric), "rerank" (re-score every document) or "text" (re-embed texts)."""
    needs: tuple
    """Extra inputs ``apply_fix`` needs: "texts", "query_texts", "embedder"."""
    summary: str
    """One sentence: what the fix does."""
    label: str = ""
    """How a sentence names the fix ("CSLS", "centring"); the code when empty."""

    @property
    def name(self) -> str:
        """The fix as a sentence names it: :attr:`label`, or the code with spaces."""
        return self.label or self.code.replace("_", " ")


FIXES = {spec.code: spec for spec in [
    FixSpec("center", "transform", (), "subtract the corpus mean vector (after unit-normalising under cosine)", "centring"),
    FixSpec("normalize", "transform", (), "scale every vector to unit length, so length stops counting", "normalising"),
    FixSpec("whiten", "transform", (), "centre and rescale the principal directions to unit variance", "whitening"),
    FixSpec("all_but_the_top", "transform", (), "centre and remove the top principal directions (Mu & Viswanath 2018)", "all-but-the-top"),
    FixSpec("csls", "rerank", (), "discount documents close to everything (CSLS hub penalty)", "CSLS"),
    FixSpec("mutual_proximity", "rerank", (), "count a document as close only if the closeness is mutual (Gaussian mutual proximity)", "mutual proximity"),
    FixSpec("deduplicate", "rerank", (), "let each group of near-duplicate documents take one place", "de-duplication"),
    FixSpec("cosine_metric", "metric", (), "search by cosine instead of the current metric", "cosine"),
    FixSpec("add_prefix", "text", ("texts", "query_texts", "embedder"), "re-embed with the model's query/passage instructions", "the model's prefixes"),
    FixSpec("chunk_documents", "text", ("texts", "embedder"), "embed long documents in chunks and score each by its best chunk", "chunking"),
    FixSpec("hybrid_lexical", "rerank", ("texts", "query_texts"), "fuse the dense ranking with BM25 by reciprocal rank fusion", "hybrid lexical search"),
]}
FIX_CODES = tuple(FIXES)
_TRANSFORMS = ("center", "normalize", "whiten", "all_but_the_top")
_FINAL = ("csls", "mutual_proximity", "deduplicate", "hybrid_lexical", "add_prefix", "chunk_documents")


def parse_fix(code, name: str = "code") -> tuple[str, ...]:
    """Validate a fix code, a ``"+"``-joined combination or a sequence of codes.

    Rules for combinations: ``cosine_metric`` first if present, then transforms in the
    given order, then at most one re-ranker last; text fixes stand alone. A set of codes
    is refused (its order, which decides the combination, is arbitrary), and so is
    anything but a string or a sequence of strings, naming ``name``.

    Examples
    --------
    >>> parse_fix("center+csls")
    ('center', 'csls')
    >>> parse_fix(None)
    Traceback (most recent call last):
    ...
    TypeError: code must be a fix code such as 'center', a combination such as 'center+csls' or a list of codes, got NoneType None
    """
    if isinstance(code, (set, frozenset)):
        # subtle: a set of strings iterates in an order that changes from run to run, so
        # {"center", "csls"} was "center+csls" in one process and refused in the next
        raise TypeError(f"{name} is a set, whose order is arbitrary, but the order of a "
                        f"combination matters; pass a list ({sorted(map(str, code))!r}) "
                        "or a '+'-joined string, transforms first")
    if isinstance(code, (bytes, bytearray)) or not (isinstance(code, str) or np.iterable(code)):
        raise TypeError(f"{name} must be a fix code such as 'center', a combination such as "
                        f"'center+csls' or a list of codes, got {type(code).__name__} "
                        f"{code!r:.40}")
    parts = tuple(code.split("+")) if isinstance(code, str) else tuple(code)
    if not parts:
        raise ValueError("fix is empty; pass a fix code such as 'center'")
    for p in parts:
        if p not in FIXES:
            raise ValueError(f"unknown fix code {p!r}; choose from {', '.join(FIX_CODES)}")
    finals = [p for p in parts if p in _FINAL]
    if len(finals) > 1 or (finals and parts[-1] != finals[0]):
        raise ValueError(f"fix {'+'.join(parts)!r}: at most one of {', '.join(_FINAL)} and it "
                         "must come last (transforms first)")
    if len(parts) > 1 and any(p in ("add_prefix", "chunk_documents") for p in parts):
        raise ValueError("add_prefix and chunk_documents re-embed texts and cannot be combined")
    if "cosine_metric" in parts and parts[0] != "cosine_metric":
        raise ValueError("cosine_metric must come first in a combination")
    if len(set(parts)) != len(parts):
        raise ValueError(f"fix {'+'.join(parts)!r} repeats a code")
    return parts


def available_fixes(*, texts: bool = False, query_texts: bool = False,
                    embedder: bool = False) -> list[str]:
    """Fix codes that can run with the inputs at hand (flags: which are available).

    Examples
    --------
    >>> available_fixes()[:3]
    ['center', 'normalize', 'whiten']
    """
    have = {"texts": texts, "query_texts": query_texts, "embedder": embedder}
    return [c for c, s in FIXES.items() if all(have[n] for n in s.needs)]


def make_transformer(code: str, metric: str = "cosine", **options):
    """The scikit-learn transformer behind a vector fix, configured for ``metric``.

    ``normalize_first`` defaults to ``metric == "cosine"``; ``options`` go to the
    constructor (``n_components`` for whiten, ``n_remove`` for all_but_the_top).

    Examples
    --------
    >>> make_transformer("whiten", n_components=8)
    Whiten(n_components=8)
    """
    from .transformers import for_fix

    return for_fix(code, metric, **options)


def step_options(code: str, options: dict) -> dict:
    """The keyword options that belong to one step (``whiten__n_components=8`` or plain)."""
    own = {key.split("__", 1)[1]: v for key, v in options.items() if key.startswith(code + "__")}
    plain = {key: v for key, v in options.items() if "__" not in key}
    return {**plain, **own}


STEP_OPTIONS = {
    "center": ("normalize_first", "zero"), "normalize": ("zero",),
    "whiten": ("n_components", "regularization", "normalize_first", "zero"),
    "all_but_the_top": ("n_remove", "normalize_first", "zero"), "csls": ("n_neighbors", "bank"),
    "mutual_proximity": ("n_samples", "random_state"), "deduplicate": ("threshold", "frame"),
    "hybrid_lexical": ("rrf_k", "depth", "bm25_options"),
    "add_prefix": ("query_prefix", "document_prefix"), "chunk_documents": ("chunk_words", "overlap"),
}


def options_of(code, options: dict) -> dict:
    """The entries of ``options`` that some step of fix ``code`` uses (plain, or addressed
    to one of its steps as ``step__name``); :func:`apply_fix` refuses the others.

    Examples
    --------
    >>> options_of("whiten+csls", {"n_neighbors": 5, "whiten__n_components": 8, "threshold": 1})
    {'n_neighbors': 5, 'whiten__n_components': 8}
    """
    steps = tuple(code.split("+")) if isinstance(code, str) else tuple(code)
    return {key: v for key, v in options.items() if _uses(steps, key)}


def _uses(steps, key: str) -> bool:
    """Whether some step uses option ``key``: a plain name one of them takes, or
    ``step__name`` for one of the steps that takes ``name`` (a misspelt step, or a step
    that does not take the name, was dropped silently: ``whitn__n_components=2``)."""
    if "__" in key:
        step, name = key.split("__", 1)
        return step in steps and name in STEP_OPTIONS.get(step, ())
    return any(key in STEP_OPTIONS.get(s, ()) for s in steps)


def apply_fix(code, queries, corpus, k: int = 10, *, metric: str | None = None, ids=None,
              texts=None, query_texts=None, embedder=None, **options):
    """Apply a fix (or a combination) to ``(queries, corpus)`` and return the new ranking.

    Parameters
    ----------
    code : str or sequence of str
        A fix code (``vecdiag.fixes.FIX_CODES``), a ``"+"``-joined combination such as
        ``"center+csls"``, or a sequence of codes in order (see :func:`parse_fix`; a
        set, whose order is arbitrary, is refused).
    queries : array-like (n_q, d)
        Query vectors, one per row (one query: ``query[None, :]``).
    corpus : array-like (n, d) or vecdiag.Index
        Document vectors; an Index brings its ids, texts and metric. A Dask array is
        searched as an Index over it (per row block, never gathered); the re-rankers
        refuse it (``InMemoryOnly``), alone or after a transform.
    k : int
        Neighbours per query; ``len(corpus)`` gives every document's rank.
    metric : {"cosine", "dot", "euclidean"} or None
        The metric the user searches with; None: the Index's, else cosine.
    ids : sequence or None
        Document ids attached to the result (an Index brings its own).
    texts, query_texts : sequence of str or None
        Document and query texts (hybrid_lexical, add_prefix, chunk_documents).
    embedder : object with ``encode(texts, kind=...)`` or None
        For add_prefix and chunk_documents (see vecdiag.embedders).
    **options
        Per-step options, plain (``n_components=8``) or addressed to one step
        (``whiten__n_components=8``): center/whiten/all_but_the_top ``normalize_first``;
        the four vector fixes ``zero`` ("raise" or "ignore": what normalising does with
        an all-zero row, see :class:`~vecdiag.fixes.transformers.Center`);
        whiten ``n_components``, ``regularization``; all_but_the_top ``n_remove``; csls
        ``n_neighbors``, ``bank``; mutual_proximity ``n_samples``, ``random_state``;
        deduplicate ``threshold``, ``frame``; hybrid_lexical ``rrf_k`` (60), ``depth`` (None: every
        document of the dense ranking), ``bm25_options`` (dict for vecdiag.lexical.bm25);
        add_prefix ``query_prefix``, ``document_prefix``; chunk_documents
        ``chunk_words`` (default from the embedder's token limit), ``overlap``.

    Returns
    -------
    Neighbors
        Corpus positions and scores, best first. Its ``metric`` is the metric searched
        with (``"cosine"`` after cosine_metric; ``"rrf"`` for hybrid_lexical, whose scores
        are fused reciprocal ranks, higher is better); see each re-ranker for its scores.

    Notes
    -----
    What each code does:

    - ``center``, ``normalize``, ``whiten``, ``all_but_the_top``: fit the transformer
      (:func:`make_transformer`; under cosine ``normalize_first=True``) on the corpus
      only, transform corpus and queries, search exactly with the same metric.
    - ``cosine_metric``: search by cosine (a no-op ranking under cosine).
    - ``csls``, ``mutual_proximity``, ``deduplicate``: the re-rankers of this package.
    - ``hybrid_lexical``: the dense ranking (to ``depth``) fused by RRF with
      :func:`vecdiag.lexical.bm25` over ``texts`` (documents sharing no term with the
      query take no BM25 part); documents absent from both runs are ranked last.
    - ``add_prefix``: re-embed queries and documents with the model's instructions
      (an embedder with ``query_prefix``/``document_prefix`` set, or the prefixes passed
      as options and prepended here), then search.
    - ``chunk_documents``: split every document longer than ``chunk_words`` words into
      overlapping windows, embed them, and score the document by its best chunk (MaxP);
      shorter documents keep their given vectors.

    Unknown codes, missing inputs (texts, embedder) and options no step uses raise a
    ValueError naming what to pass.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> corpus, queries = rng.normal(size=(50, 8)) + 3, rng.normal(size=(2, 8)) + 3
    >>> apply_fix("center+csls", queries, corpus, k=3).indices.shape
    (2, 3)
    """
    steps = parse_fix(code)
    if is_dask_array(corpus):   # as an Index over it: searched per row block, never gathered
        from ..neighbors import Index

        corpus = Index(corpus, metric=V.check_metric(metric or "cosine"))
    C, metric, ids, index = resolve_corpus(corpus, metric, ids)
    Q, _ = check_queries(queries, C, allow_empty=True)
    k = V.check_k(k, C.shape[0])
    unknown = [key for key in options if not _uses(steps, key)]
    if unknown:
        raise ValueError(f"option(s) {', '.join(unknown)} are not used by fix "
                         f"{'+'.join(steps)!r}; options by step: "
                         + "; ".join(f"{s}: {', '.join(STEP_OPTIONS.get(s, ())) or '-'}" for s in steps))
    if index is not None and texts is None:
        texts = index.texts
    for step in steps:
        spec = FIXES[step]
        have = {"texts": texts, "query_texts": query_texts, "embedder": embedder}
        missing = [n for n in spec.needs if have[n] is None]
        if missing:
            raise ValueError(f"fix {step!r} needs {', '.join(f'{m}=' for m in missing)}: "
                             f"it {spec.summary}")
    shown = index  # whose ids/texts the result carries
    if index is not None and len(steps) == 1 and steps[0] in _TRANSFORMS:
        from .cached import search_fixed

        opts = {key: v for key, v in step_options(steps[0], options).items()
                if key in STEP_OPTIONS[steps[0]]}
        return search_fixed(index, steps[0], Q, k, metric, opts, ids)
    if index is not None and steps == ("cosine_metric",):
        from .cached import search_cosine

        return search_cosine(index, Q, k, ids)
    result = _run_steps(steps, Q, C, k, metric, ids, index, texts, query_texts, embedder, options)
    if shown is not None and result.texts is None and shown.texts is not None:
        # a transform replaced the Index by arrays: the result still shows its texts
        result = dataclasses.replace(result, texts=shown.texts)
    return result


def _run_steps(steps, Q, C, k, metric, ids, index, texts, query_texts, embedder, options):
    """The chain of :func:`apply_fix` on plain inputs (validated by the caller).

    Once a transform has run, an error about the "queries" or the "corpus" speaks of them
    "after the fix", as the cached Index path does: a query equal to the corpus mean was
    refused as "queries is a zero vector" on arrays, which it is not.
    """
    transformed: list = []
    try:
        return _chain(steps, Q, C, k, metric, ids, index, texts, query_texts, embedder,
                      options, transformed)
    except ValueError as err:
        text = str(err)
        for name in ("queries ", "corpus "):
            if transformed and text.startswith(name):
                raise V.reworded(err, f"{name}after the fix {text[len(name):]}") from err
        raise


def _chain(steps, Q, C, k, metric, ids, index, texts, query_texts, embedder, options,
           transformed: list):
    """:func:`_run_steps`' loop; ``transformed`` collects the transforms that have run."""
    from ..neighbors import knn

    shown = index
    keep_zero = False                   # a transform ran with zero="ignore"
    for step in steps:
        opts = {key: v for key, v in step_options(step, options).items()
                if key in STEP_OPTIONS.get(step, ())}
        if step == "cosine_metric":
            metric = "cosine"
        elif step in _TRANSFORMS:
            from .checking import fit_as, transform_as

            fix = fit_as(make_transformer(step, metric, **opts), C, "corpus")
            C, Q, index = transform_as(fix, C, "corpus"), transform_as(fix, Q, "queries"), None
            transformed.append(step)
            keep_zero = getattr(fix, "zero", "raise") == "ignore"
            if shown is not None:  # re-rankers below see plain arrays, results keep ids/texts
                ids = shown.ids if ids is None else ids
        elif step == "csls":
            from .rerank import csls
            return csls(Q, index if index is not None else C, k, metric=metric, ids=ids, **opts)
        elif step == "mutual_proximity":
            from .rerank import mutual_proximity
            return mutual_proximity(Q, index if index is not None else C, k, metric=metric,
                                    ids=ids, **opts)
        elif step == "deduplicate":
            from .diversify import deduplicate
            return deduplicate(Q, index if index is not None else C, k, metric=metric, ids=ids, **opts)
        elif step == "hybrid_lexical":
            from .fusion import hybrid_lexical_search
            return hybrid_lexical_search(Q, C, k, metric, ids, index, texts, query_texts,
                                         **opts)
        elif step == "add_prefix":
            from .text import add_prefix
            # read once (a generator has no len), as hybrid_lexical reads them
            query_texts = list(V.check_ordered(query_texts, "query_texts"))
            if len(query_texts) != Q.shape[0]:  # add_prefix ranks the texts: one per query
                raise ValueError(f"query_texts has {len(query_texts)} entries for "
                                 f"{Q.shape[0]} queries")
            # it ranks the re-embedded texts, whose positions are the result's corpus rows:
            # six texts for a corpus of four gave rows 4 and 5 (hybrid_lexical and
            # chunk_documents refuse the mismatch)
            texts = list(V.check_ordered(texts, "texts"))
            if len(texts) != C.shape[0]:
                raise ValueError(f"texts has {len(texts)} entries but the corpus has "
                                 f"{C.shape[0]} rows")
            return add_prefix(query_texts, texts, embedder, k, metric=metric, ids=ids, **opts)
        elif step == "chunk_documents":
            from .text import chunk_documents
            return chunk_documents(Q, C, texts, embedder, k, metric=metric, ids=ids, **opts)
    if keep_zero and metric == "cosine":
        from .cached import knn_zero_scores_zero

        found = knn_zero_scores_zero(Q, C, k)
    else:
        found = knn(Q, C, k, metric=metric)
    return make_neighbors(found.indices, found.scores, metric, ids, shown)
