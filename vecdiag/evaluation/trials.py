"""The stages of :func:`vecdiag.try_fixes` and its option object.

:func:`vecdiag.evaluation.fix_trials.try_fixes` is four named stages over one declared
:class:`Trial` record: :func:`check_trial` (inputs checked once), :func:`dense_runs` (the
baseline search and every fix through :func:`vecdiag.fixes.apply_fix`, the one cached
path), :func:`lexical_runs` (BM25, a given lexical run and its fusion) and
:func:`score_runs` (evaluate every run, compare each with the baseline).
"""

from __future__ import annotations

import re
import time
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np

from .. import _validate as V
from .._options import merged_options
from .metrics import DEFAULT_METRICS, check_metrics, evaluate
from .runs import _below_the_rest, as_qrels, as_run, ranked_docs
from .paired import METHODS, check_alpha, check_resolution
from .significance import compare

__all__ = ["TrialOptions", "Trial", "check_trial", "check_texts", "check_lexical", "dense_runs",
           "lexical_runs", "score_runs", "run_from", "with_metric", "BASELINE"]

BASELINE = "baseline"


@dataclass(frozen=True)
class TrialOptions:
    """How :func:`vecdiag.try_fixes` searches and tests (its keyword arguments, grouped;
    same defaults).

    Examples
    --------
    >>> TrialOptions(k=20).k, TrialOptions().method
    (20, 'randomization')
    """

    k: int = 100
    metrics: tuple = DEFAULT_METRICS
    metric: str | None = None            # None: the Index's metric, else cosine
    method: str = "randomization"
    n_resamples: int = 10_000
    alpha: float = 0.05
    random_state: object = 0
    show_progress: bool | None = None

    @classmethod
    def merged(cls, options, **keywords) -> TrialOptions:
        """``options`` (keywords then keep their defaults), or the keywords themselves."""
        return merged_options(cls, options, "trial", **keywords)


def with_metric(opts: TrialOptions, corpus) -> TrialOptions:
    """``opts`` with its metric settled and checked: None becomes the metric of an Index
    corpus, else cosine (the rule of every vecdiag function taking ``metric=None``)."""
    from dataclasses import replace

    from ..neighbors import Index

    if opts.metric is None:
        opts = replace(opts, metric=corpus.metric if isinstance(corpus, Index) else "cosine")
    V.check_metric(opts.metric)
    return opts


@dataclass
class Trial:
    """What the stages share: checked inputs, then the runs and their timings."""

    queries: np.ndarray
    corpus: object                        # a checked matrix or a vecdiag.Index
    qrels: dict                           # judgments of the given queries only
    query_ids: list
    doc_ids: list
    fixes: list
    metrics: tuple
    k: int
    opts: TrialOptions
    rng: object
    unqueried: tuple = ()
    runs: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)   # fix code -> sentence for FixReport.notes


def check_trial(queries, corpus, qrels, query_ids, doc_ids, fixes,
                opts: TrialOptions) -> Trial:
    """Every input checked once (ids, fixes, metrics, k), judgments kept for the queries."""
    from ..fixes import parse_fix
    from ..neighbors import Index
    from ..scale.chunks import is_dask_array

    V.check_metric(opts.metric)
    qrels = as_qrels(qrels)
    if doc_ids is None and isinstance(corpus, Index) and corpus.ids is not None:
        doc_ids = corpus.ids                 # an Index brings its own ids
    query_ids = _id_list(query_ids, "query_ids", "query row")
    doc_ids = _id_list(doc_ids, "doc_ids", "corpus row")
    if isinstance(fixes, str):
        fixes = [fixes]
    if isinstance(fixes, (bytes, bytearray)) or not np.iterable(fixes):
        raise TypeError(f"fixes must be a list of fix codes (e.g. ['center', 'csls']) or "
                        f"None for every fix that runs, got {type(fixes).__name__} {fixes!r:.40}")
    fixes = ["+".join(parse_fix(f, f"fixes[{i}]")) for i, f in enumerate(fixes)]
    if len(set(fixes)) != len(fixes):
        raise ValueError(f"fixes has repeated entries: {fixes}")
    # checked before any search: a misspelt name (or None) failed only once every fix
    # had run, or as "'NoneType' object is not iterable"
    metrics, _ = check_metrics(opts.metrics)
    V.check_choice(opts.method, "method", METHODS)   # compare's checks, before the searches
    check_alpha(opts.alpha)
    check_resolution(opts.n_resamples, opts.alpha, method=opts.method, exact=None)
    k = V.check_positive_int(opts.k, "k")
    rng = V.check_random_state(opts.random_state)
    if is_dask_array(corpus):   # an Index over it: searched per row block, never gathered
        corpus = Index(corpus, metric=opts.metric)
    elif not isinstance(corpus, Index):
        corpus = V.as_matrix(corpus, "corpus")
    queries = V.as_matrix(queries, "queries")
    if len(query_ids) != queries.shape[0]:
        raise ValueError(f"query_ids has {len(query_ids)} entries for {queries.shape[0]} "
                         "queries; give one id per query row")
    if len(set(query_ids)) != len(query_ids):
        rows: dict = {}
        for row, q in enumerate(query_ids):
            rows.setdefault(q, []).append(row)
        q, where = next((q, r) for q, r in rows.items() if len(r) > 1)
        raise ValueError(f"query_ids must be unique: {q!r} names query rows "
                         f"{', '.join(map(str, where))}; give each query row its own id")
    given = set(query_ids)
    unqueried = tuple(sorted(q for q in qrels if q not in given))
    qrels = {q: docs for q, docs in qrels.items() if q in given}
    if not qrels:
        raise ValueError(f"qrels judge none of the {len(query_ids)} query_ids (qrels: "
                         f"{unqueried[:3]}, query_ids: {query_ids[:3]}); pass the ids the "
                         "judgments use, one per query row")
    relevant = {d for docs in qrels.values() for d, grade in docs.items() if grade > 0}
    if not relevant:
        # trec_eval averages over queries with a relevant document: there would be none
        raise ValueError(f"qrels name no relevant document (every grade of the "
                         f"{len(qrels)} judged queries is 0 or below): there is nothing "
                         "for a fix to find; pass judgments with relevant documents")
    n_judged = sum(1 for docs in qrels.values() if docs)     # the queries compare pairs
    if opts.method in ("ttest", "bootstrap") and n_judged < 2:
        # paired_test refuses one difference; it did so only once every fix had searched
        raise ValueError(f"method={opts.method!r} needs at least 2 judged queries to compare "
                         f"a fix with the baseline; the qrels judge {n_judged} of the "
                         "query_ids: judge more queries, or use method='randomization'")
    n_rows = len(corpus)
    if len(doc_ids) != n_rows:
        raise ValueError(f"doc_ids has {len(doc_ids)} entries but the corpus has {n_rows} rows")
    if not relevant & set(doc_ids):
        # every run, the baseline's too, would score 0 on every metric: ids of another
        # kind (row numbers for "d17") or of another collection, not a fix's failure
        raise ValueError(f"none of the {len(relevant)} relevant documents the qrels name is "
                         f"among the doc_ids (qrels: {sorted(relevant)[:3]}, doc_ids: "
                         f"{doc_ids[:3]}); pass the ids the judgments use, one per corpus row")
    return Trial(queries=queries, corpus=corpus, qrels=qrels, query_ids=query_ids,
                 doc_ids=doc_ids, fixes=fixes, metrics=metrics, k=min(k, n_rows), opts=opts,
                 rng=rng, unqueried=unqueried)


def check_texts(t: Trial, texts, query_texts) -> tuple:
    """``(texts, query_texts)`` as lists (None stays None), one per corpus row and one per
    query row, checked before any search: a short ``texts`` failed only after the
    baseline and every fix had searched, in BM25's words about ids ("doc_ids has 30
    entries but the corpus has 28 rows", of a corpus of 30 rows)."""
    out = []
    bm25 = texts is not None and query_texts is not None   # the bm25 row reads their words
    for given, name, n, rows in ((texts, "texts", len(t.corpus), "the corpus has"),
                                 (query_texts, "query_texts", len(t.query_ids), "there are")):
        if given is not None:
            # a None among them failed only in the bm25 row, once every fix had searched,
            # as a row of BM25's "corpus_texts"
            given = V.text_list(given, name) if bm25 else list(V.check_ordered(given, name))
            if len(given) != n:
                raise ValueError(f"{name} has {len(given)} entries but {rows} {n} "
                                 f"{'rows' if name == 'texts' else 'query rows'}; pass one "
                                 "text per row, in row order")
        out.append(given)
    return tuple(out)


def check_lexical(t: Trial, lexical) -> None:
    """A given ``lexical`` run checked before any search, as :func:`vecdiag.evaluate`
    reads it, and refused when it names none of the query_ids: both failed only once the
    baseline and every fix had searched, the second in :func:`vecdiag.fixes.hybrid`'s
    words ("pass query_ids= for Neighbors inputs"), which do not apply here."""
    if lexical is None:
        return
    run = as_run(lexical, "lexical")
    if not set(run) & set(t.query_ids):
        raise ValueError(f"lexical names none of the query_ids (lexical: {list(run)[:3]}, "
                         f"query_ids: {t.query_ids[:3]}); pass a run whose query ids are "
                         "those of the query rows")


def _id_list(ids, name: str, row: str) -> list:
    """Ids as strings (7.0 as "7", see ``_validate.id_str``), one per row; None or a single
    string refused by name (they failed as "'NoneType' object is not iterable", or counted
    a string's characters)."""
    if ids is None or isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise TypeError(f"{name} must be a sequence of ids, one per {row}, as the qrels name "
                        f"them; got {type(ids).__name__}")
    return [V.id_str(i, name) for i in V.check_ordered(ids, name)]


def dense_runs(t: Trial, *, texts, query_texts, embedder, options: dict,
               extra: dict | None = None) -> None:
    """The baseline (exact search) and every fix, each timed; a fix that cannot run is
    recorded in ``failed`` with a warning (a missing input, or a re-ranker that scores
    every document in memory on an Index over a Dask array). ``extra``: more options per
    fix code (:func:`~vecdiag.evaluation.copy_frames.deduplicate_frames`)."""
    from .._progress import inner_bars_off, progress_bar
    from ..fixes import apply_fix, options_of
    from ..neighbors.scoring import InMemoryOnly

    # an option no fix uses is a typo or meant for a fix not tried: refused, as apply_fix
    # refuses it (it was dropped silently: whiten__n_component=2 whitened all components)
    used = {key for code in t.fixes for key in options_of(code, options)}
    unused = [key for key in options if key not in used]
    if unused:
        raise ValueError(f"option(s) {', '.join(unused)} are used by none of the fixes "
                         f"tried ({', '.join(t.fixes) or 'none'}); check the spelling, or "
                         "add the fix they belong to (step__option addresses one step)")
    from ..neighbors import Index, knn

    n_rows, n_q = len(t.corpus), len(t.query_ids)
    bar = progress_bar(len(t.fixes) + 1, desc="try_fixes", show=t.opts.show_progress,
                       expected_seconds=1e-9 * n_rows * n_q * 64 * (len(t.fixes) + 1))
    with bar, inner_bars_off():     # the try_fixes bar covers the searches (none of their own)
        start = time.perf_counter()
        # the baseline searches by the trial's metric, as every fix does: an Index
        # searched by its own metric instead made cosine_metric look like no change
        if isinstance(t.corpus, Index) and t.corpus.metric == t.opts.metric:
            base = t.corpus.search(t.queries, t.k)
        else:
            corpus = t.corpus.vectors if isinstance(t.corpus, Index) else t.corpus
            base = knn(t.queries, corpus, t.k, metric=t.opts.metric)
        t.runs[BASELINE] = run_from(base, t.query_ids, t.doc_ids)
        t.seconds[BASELINE] = time.perf_counter() - start
        bar.update()
        for code in t.fixes:
            start = time.perf_counter()
            try:
                found = apply_fix(code, t.queries, t.corpus, t.k, metric=t.opts.metric,
                                  texts=texts, query_texts=query_texts, embedder=embedder,
                                  **options_of(code, options),
                                  **(extra or {}).get(code, {}))
            except (ValueError, ImportError, np.linalg.LinAlgError, InMemoryOnly) as err:
                # n_neighbors=0 is the caller's value, raised; a zero vector is the data's,
                # recorded (its message suggests zero='ignore', which named an option)
                if isinstance(err, ValueError) and not isinstance(err, V.DataError) \
                        and _names_an_option(str(err), code, options):
                    raise
                t.failed[code] = str(err)
                warnings.warn(f"try_fixes: fix {code!r} could not run: {err}", stacklevel=3)
                bar.update()
                continue
            t.runs[code] = run_from(found, t.query_ids, t.doc_ids)
            t.seconds[code] = time.perf_counter() - start
            bar.update()


def _names_an_option(message: str, code: str, options: dict) -> bool:
    """Whether an error of fix ``code`` names one of the options the caller gave it (the
    error of a bad value, as ``n_neighbors must be at least 1, got 0``): raised, where a
    fix that cannot run on these inputs is recorded in ``failed`` with a warning."""
    from ..fixes import options_of

    names = {key.split("__")[-1] for key in options_of(code, options)}
    return any(re.search(rf"\b{re.escape(name)}\b", message) for name in names)


def lexical_runs(t: Trial, *, texts, query_texts, lexical) -> None:
    """``bm25`` (with texts and query texts) and a given ``lexical`` run fused by RRF."""
    from ..fixes import hybrid

    if texts is not None and query_texts is not None:
        from ..lexical import bm25

        start = time.perf_counter()
        t.runs["bm25"] = bm25(query_texts, texts, k=t.k, query_ids=t.query_ids,
                              doc_ids=t.doc_ids)
        t.seconds["bm25"] = time.perf_counter() - start
    if lexical is not None:
        # ids as strings, as the baseline's: fused as given, a run keyed by integers (bm25
        # without ids) gave hybrid's result both 7 and "3", which ranked_docs cannot sort
        lexical = as_run(lexical, "lexical")
        # its top k, as every other row (bm25 and hybrid too): a run of 60 documents per
        # query was scored whole against a baseline of k = 10 (recall@60 1.0, its top 10 0.1)
        t.runs["lexical"] = {q: {d: docs[d] for d in ranked_docs(docs)[:t.k]}
                             for q, docs in lexical.items()}
        t.seconds["lexical"] = float("nan")
        start = time.perf_counter()
        fused = hybrid(t.runs[BASELINE], lexical)
        t.runs["hybrid"] = {q: {d: docs[d] for d in ranked_docs(docs)[:t.k]}
                            for q, docs in fused.items()}
        t.seconds["hybrid"] = time.perf_counter() - start


def _evaluate_run(t: Trial, name: str, run: dict):
    """One run's evaluation. BM25 built here finds nothing for a query none of whose
    words occurs in the corpus: a real 0, not a run that misses queries by mistake, so
    evaluate's warning (which tells the caller to pass missing='skip') stays silent."""
    if name != "bm25":
        return evaluate(run, t.qrels, metrics=t.metrics, name=name)
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="the run has no results for",
                                category=UserWarning)
        return evaluate(run, t.qrels, metrics=t.metrics, name=name)


def score_runs(t: Trial) -> tuple[dict, dict, tuple]:
    """``(evaluations, comparisons with the baseline, order best first)``."""
    evaluations = {name: _evaluate_run(t, name, run) for name, run in t.runs.items()}
    # one stream per fix, from one draw of the trial's generator and the fix's name: a
    # fix's p-value does not change when other fixes join the list
    base = int(t.rng.integers(2**63 - 1))
    comparisons = {name: compare(evaluations[BASELINE], ev, method=t.opts.method,
                                 n_resamples=t.opts.n_resamples, alpha=t.opts.alpha,
                                 random_state=np.random.default_rng(
                                     [base, zlib.crc32(name.encode("utf-8"))]))
                   for name, ev in evaluations.items() if name != BASELINE}
    primary = t.metrics[0]
    order = tuple(sorted(evaluations, key=lambda n: (-evaluations[n].mean[primary],
                                                     n != BASELINE)))
    return evaluations, comparisons, order


def run_from(neighbors, query_ids, doc_ids) -> dict:
    """A run dict whose scores order documents as the Neighbors do (best first).

    Similarities are kept; rows whose scores rise (distances) are negated; a row that is
    neither (a re-ranker whose scores are not its order) gets ``-rank`` as score. The
    copies ``deduplicate`` moves last (-inf, or +inf distances, at the end of a row) get
    finite scores below the rest, as :func:`vecdiag.evaluation.run_from_neighbors` gives
    them, so that the kept documents keep their scores, and with them trec_eval's tie
    rule, as in the baseline's run and in ``vd.evaluate`` of the same Neighbors. Several
    rows with one id (passages of one document) give that document once, with its best
    score (its first, in rank order), as :func:`vecdiag.evaluation.run_from_neighbors` does.
    """
    scores = np.asarray(neighbors.scores, dtype=np.float64)
    names = np.asarray([V.id_str(d, "doc_ids") for d in doc_ids],
                       dtype=object)[np.asarray(neighbors.indices)]
    ranks = -np.arange(1, scores.shape[1] + 1, dtype=np.float64)
    run = {}
    for i, q in enumerate(query_ids):
        row = _ordered_scores(scores[i])
        row = ranks if row is None else row
        docs: dict = {}
        for d, s in zip(names[i], row):
            docs.setdefault(d, float(s))  # rank order: the first is the best
        run[V.id_str(q, "query_ids")] = docs
    return run


def _ordered_scores(row: np.ndarray) -> np.ndarray | None:
    """``row`` oriented so that higher is better, when its order is its scores' order:
    finite and falling (similarities) or rising (distances, negated), then a tail of
    -inf in that orientation (copies deduplicate moved last), which becomes finite scores
    below the rest. None otherwise."""
    for oriented in (row, -row):
        demoted = np.isneginf(oriented)
        head = oriented[:oriented.size - int(demoted.sum())]
        if np.isfinite(head).all() and (np.diff(head) <= 0).all():
            if not demoted.any():
                return oriented
            return _below_the_rest(oriented, demoted, np.ones(row.size, dtype=bool))
    return None
