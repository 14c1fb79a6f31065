"""Exercises of notebooks 06 and 08 (measuring search): ndcg, paired_t, ann_recall."""

from __future__ import annotations

import math

import numpy as np

from ._grader import Case, Mistake


# ---------------------------------------------------------------------------- model answers
def solution_ndcg(ranked, relevance, k=10):
    if not any(g > 0 for g in relevance.values()):
        raise ValueError("relevance has no relevant document: nDCG is undefined for this query")
    dcg = sum(relevance.get(doc, 0) / math.log2(rank + 1)
              for rank, doc in enumerate(ranked[:k], start=1))
    ideal_grades = sorted((g for g in relevance.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal_grades, start=1))
    return dcg / idcg


def solution_paired_t(a, b):
    from scipy import stats

    if len(a) != len(b):
        raise ValueError(f"a has {len(a)} scores but b has {len(b)}: a paired test needs one pair per query")
    if len(a) < 2:
        raise ValueError("a paired test needs at least 2 queries")
    diffs = [x - y for x, y in zip(a, b)]
    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))     # sample sd: n - 1
    t = mean / (sd / math.sqrt(n))
    p = 2 * stats.t.sf(abs(t), df=n - 1)                               # two-sided
    return t, p


def solution_ann_recall(approx, exact):
    total = 0.0
    for got, want in zip(approx, exact):
        k = len(want)
        found = set(got[:k]) & set(want)          # a set: each document counts once
        total += len(found) / k                   # divide by k, even if fewer came back
    return total / len(exact)


# ---------------------------------------------------------------------------- wrong answers
def _ndcg_zero_based(ranked, relevance, k=10):
    dcg = sum(relevance.get(d, 0) / math.log2(r + 1) for r, d in enumerate(ranked[:k]))
    ideal = sorted(relevance.values(), reverse=True)[:k]
    return dcg / sum(g / math.log2(r + 1) for r, g in enumerate(ideal))


def _ndcg_ideal_from_run(ranked, relevance, k=10):
    grades = [relevance.get(d, 0) for d in ranked[:k]]
    dcg = sum(g / math.log2(r + 1) for r, g in enumerate(grades, start=1))
    idcg = sum(g / math.log2(r + 1) for r, g in enumerate(sorted(grades, reverse=True), start=1))
    return dcg / idcg


def _ndcg_run_uncut(ranked, relevance, k=10):
    if not any(g > 0 for g in relevance.values()):
        raise ValueError("relevance has no relevant document")
    dcg = sum(relevance.get(d, 0) / math.log2(r + 1) for r, d in enumerate(ranked, start=1))  # not ranked[:k]
    ideal = sorted(relevance.values(), reverse=True)[:k]
    return dcg / sum(g / math.log2(r + 1) for r, g in enumerate(ideal, start=1))


def _ndcg_binary(ranked, relevance, k=10):
    binary = {d: 1 for d, g in relevance.items() if g > 0}
    return solution_ndcg(ranked, binary, k)


def _same_length(fn):
    def wrapped(a, b):
        if len(a) != len(b):
            raise ValueError(f"a has {len(a)} scores but b has {len(b)}")
        return fn(a, b)
    return wrapped


@_same_length
def _t_unpaired(a, b):
    from scipy import stats

    return tuple(float(v) for v in stats.ttest_ind(a, b))


@_same_length
def _t_welch(a, b):
    from scipy import stats

    return tuple(float(v) for v in stats.ttest_ind(a, b, equal_var=False))


@_same_length
def _t_population_sd(a, b):
    from scipy import stats

    d = np.subtract(a, b, dtype=float)
    t = d.mean() / (d.std(ddof=0) / math.sqrt(len(d)))
    return t, 2 * stats.t.sf(abs(t), df=len(d) - 1)


@_same_length
def _t_one_sided(a, b):
    from scipy import stats

    d = np.subtract(a, b, dtype=float)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    return t, stats.t.sf(abs(t), df=len(d) - 1)


def _t_signed(tail):
    """p from t itself, not |t|: ``tail`` is "sf" or "cdf" of the t distribution."""
    @_same_length
    def paired_t(a, b):
        from scipy import stats

        d = np.subtract(a, b, dtype=float)
        t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
        return t, 2 * getattr(stats.t, tail)(t, len(d) - 1)
    return paired_t


def _recall_positional(approx, exact):
    return sum(sum(1 for g, w in zip(got, want) if g == w) / len(want)
               for got, want in zip(approx, exact)) / len(exact)


def _recall_by_returned(approx, exact):
    return sum(len(set(got[:len(want)]) & set(want)) / max(len([g for g in got if g >= 0]), 1)
               for got, want in zip(approx, exact)) / len(exact)


def _recall_counts_repeats(approx, exact):
    return sum(sum(1 for g in got[:len(want)] if g in want) / len(want)
               for got, want in zip(approx, exact)) / len(exact)


# ---------------------------------------------------------------------------- cases
def _ttest_rel(a, b):
    from scipy import stats

    res = stats.ttest_rel(a, b)
    return [float(res.statistic), float(res.pvalue)]


def cases(name):
    if name == "ndcg":
        return [
            Case("binary, by hand", (["d3", "d1", "d4", "d2"], {"d1": 1, "d2": 1}),
                 (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)),
                 "gain / log2(rank + 1) with rank 1 for the first result; divide by the ideal DCG"),
            Case("graded", (["a", "b", "c"], {"a": 1, "c": 2}),
                 (1 + 2 / 2) / (2 + 1 / math.log2(3)),
                 "use the grades as gains: a grade-2 document counts twice"),
            Case("a relevant document never retrieved", (["a", "x"], {"a": 1, "b": 2}),
                 1 / (2 + 1 / math.log2(3)),
                 "the ideal ranking uses every judged document, also those the run missed"),
            Case("more relevant than k", (["a", "b", "c"], {d: 1 for d in "abcdefghijkl"}, 3), 1.0,
                 "cut the ideal ranking at k too"),
            Case("a run longer than k", (["a", "x", "b"], {"a": 1, "b": 1}, 2), 1 / (1 + 1 / math.log2(3)),
                 "nDCG@k looks at the first k results only: b at rank 3 does not count for k = 2"),
            Case("nothing relevant", (["a"], {"a": 0}), ValueError,
                 "a query with no relevant document has no nDCG: raise ValueError",
                 error_words=("relevant", "relevance", "ideal", "idcg", "grade", "judged",
                              "undefined")),
        ]
    if name == "paired_t":
        base = [0.61, 0.42, 0.80, 0.33, 0.55, 0.70, 0.48, 0.66]
        fixed = [0.65, 0.47, 0.79, 0.41, 0.60, 0.69, 0.55, 0.70]
        spread_a = [0.9, 0.1, 0.5, 0.7, 0.3, 0.8]
        spread_b = [0.85, 0.02, 0.47, 0.61, 0.27, 0.71]
        return [
            Case("a small gain", (fixed, base), _ttest_rel(fixed, base),
                 "t = mean(d) / (sd(d) / sqrt(n)) with d = a - b per query; p two-sided", tol=1e-6),
            Case("queries differ a lot", (spread_a, spread_b), _ttest_rel(spread_a, spread_b),
                 "pair the scores query by query: the spread between queries must cancel", tol=1e-6),
            Case("a small loss", (base, fixed), _ttest_rel(base, fixed),
                 "when a is worse than b, t is negative and p is the same as for b against a", tol=1e-6),
            Case("different lengths", ([0.1, 0.2], [0.1]), ValueError,
                 "one score per query in both: raise ValueError when the lengths differ"),
        ]
    if name == "ann_recall":
        return [
            Case("same sets, other order", ([[2, 1, 0]], [[0, 1, 2]]), 1.0,
                 "recall counts which documents were found, not where"),
            Case("two queries", ([[0, 1, 9], [5, 6, 7]], [[0, 1, 2], [5, 6, 7]]), (2 / 3 + 1) / 2,
                 "per query |found ∩ exact| / k, then the mean over queries"),
            Case("missing results (-1)", ([[0, -1, -1]], [[0, 1, 2]]), 1 / 3,
                 "faiss pads with -1 when it finds fewer than k: divide by k, not by what came back"),
            Case("a repeated result", ([[0, 0, 0]], [[0, 1, 2]]), 1 / 3,
                 "each exact neighbour counts once: use sets"),
            Case("fewer results than k", ([[0, 1]], [[0, 1, 2]]), 2 / 3,
                 "an index may return fewer than k results: divide by k = len(exact[i]), not by "
                 "what came back"),
        ]
    raise KeyError(name)


MISTAKES = {
    "ndcg": [
        Mistake("zero_based", _ndcg_zero_based,
                "with 0-based ranks the first discount is log2(0 + 1) = 0 (ZeroDivisionError): rank "
                "the first result 1, discount log2(rank + 1)"),
        Mistake("ideal_from_run", _ndcg_ideal_from_run,
                "your ideal ranking sorts only the retrieved documents: build it from every judged "
                "relevant document, or missing one never costs anything"),
        Mistake("run_uncut", _ndcg_run_uncut,
                "you summed the gains of every retrieved document: nDCG@k counts the first k "
                "only (ranked[:k])"),
        Mistake("binary_gain", _ndcg_binary,
                "you counted every relevant document as 1: the gain is its grade"),
    ],
    "paired_t": [
        Mistake("unpaired", _t_unpaired,
                "an unpaired (two-sample) t-test ignores that both systems ran on the same queries; "
                "test the per-query differences a - b"),
        Mistake("unpaired", _t_welch,
                "an unpaired (Welch) t-test ignores that both systems ran on the same queries; "
                "test the per-query differences a - b"),
        Mistake("population_sd", _t_population_sd,
                "the standard deviation of the differences divides by n - 1 (np.std(d, ddof=1)), not n"),
        Mistake("one_sided", _t_one_sided,
                "that is a one-sided p-value: a paired test of 'any difference' is two-sided, "
                "2 * t.sf(|t|, n - 1)"),
        Mistake("p_signed", _t_signed("sf"),
                "2 * t.sf(t) is the two-sided p only when t > 0: when a is worse than b (t < 0) "
                "it exceeds 1; use the tail beyond |t|, 2 * t.sf(abs(t), n - 1)"),
        Mistake("p_signed", _t_signed("cdf"),
                "2 * t.cdf(t) is the two-sided p only when t < 0: when a is better than b it "
                "exceeds 1; use the tail beyond |t|, 2 * t.sf(abs(t), n - 1)"),
    ],
    "ann_recall": [
        Mistake("positional", _recall_positional,
                "you compared position by position: recall asks which exact neighbours were found, "
                "in any order (a set intersection)"),
        Mistake("by_returned", _recall_by_returned,
                "you divided by the number of results that came back: missing results (-1, or a "
                "shorter list) are misses, divide by k"),
        Mistake("repeats", _recall_counts_repeats,
                "a document returned twice was counted twice: intersect sets"),
    ],
}

SIGNATURES = {
    "ndcg": "ndcg(ranked, relevance, k=10) -> nDCG@k (ranked ids, {doc: grade}; ValueError when no "
            "document is relevant)",
    "paired_t": "paired_t(a, b) -> (t, two-sided p) of a paired t-test over queries (ValueError when "
                "the lengths differ)",
    "ann_recall": "ann_recall(approx, exact) -> mean over queries of |found ∩ exact top-k| / k",
}

SOLUTIONS = {name: globals()[f"solution_{name}"] for name in SIGNATURES}
