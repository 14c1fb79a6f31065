"""From numbers to findings: the severity thresholds and why they are where they are.

Each rule takes computed statistics and returns one :class:`Finding`. Every threshold
is in :data:`THRESHOLDS`, copied into the finding's evidence, and justified here.

How the thresholds were chosen (calibration script: ``benchmarks/bench_diagnose.py
--calibrate`` prints the null figures quoted below; n = 2000, k = 10, seed 0)

anisotropy (mean cosine of distinct pairs, ``c``)
    ``c ≈ ‖mean of unit vectors‖²``: the share of each unit vector's energy that lies in
    the one direction all vectors share. For directions spread evenly its null is 0
    with standard error ``≈ √(2/(n²d))`` (< 0.001 for n = 2000, d = 16), so any
    threshold is about effect size, not noise. ``C`` well separated topics give about
    ``1/C``; MiniLM on Cranfield gives 0.29. Warning at 0.4 (two fifths of every score
    is the shared direction: unrelated pairs score 0.4 and absolute thresholds stop
    meaning anything), critical at 0.7: the regime Ethayarajh (2019) reports for the
    upper layers of BERT/GPT-2 (random pairs above 0.7) that centring or
    all-but-the-top (Mu & Viswanath 2018) repair.
hubness (skewness ``S`` of N_k)
    Null: directions uniform on the sphere (i.i.d. Gaussian under cosine) give
    S ≤ 0.4 for d = 3…384. A Gaussian blob under Euclidean distance, the textbook
    hub-forming geometry (Radovanović et al. 2010), gives 1.8 (d = 16), 4.8 (d = 100),
    8.4 (d = 384); isotropic Gaussian clusters in 16–32-D give 1.6–2.3 and MiniLM on
    Cranfield 1.7. Warning at S ≥ 3 (beyond any moderate-dimensional blob: a few items
    take a large share of all top-k places), critical at S ≥ 6 (the high-dimensional
    blob regime, where hubness reduction (CSLS, mutual proximity) pays off,
    Feldbauer & Flexer 2019).
rogue_dimensions (share of the mean cosine carried by the top ``m`` dimensions)
    ``m = min(5, ⌈d/10⌉)``. Even with no axis singled out, the top ``m`` of ``d``
    per-dimension terms take a sizeable share by chance (the top 2 of 16 squared
    coordinates of a random direction hold almost half of its length). So the share
    is compared with its *null*, the top-``m`` share of a random direction (Monte
    Carlo, 2000 draws, seed 0: 0.46 for d = 16, ``m = 2``; 0.10 for d = 384, ``m = 5``),
    and judged on the excess ``(share − null) / (1 − null)``: the part of the
    non-random share that a few axes take. MiniLM on Cranfield: share 0.08, below its
    null. Timkey & van Schijndel (2021) report 1–3 dimensions carrying most of the
    expected cosine in GPT-2, XLNet and BERT. Warning at excess 0.5, critical at 0.8.
    Only judged when the mean cosine is at least 0.05 (a share of a near-zero mean is
    noise) and ``m ≤ d/4``. Second sign, a zero-mean dimension of huge variance (no
    share of the mean cosine): the top-``m`` share of the variance of the unit
    coordinates ``E[û_j²] − E[û_j]²`` (the squared length less the shared offset, which a
    narrow cone around any direction spreads unevenly) against ``m / d``, same excess
    form. MiniLM on Cranfield 0.023; one of its 384 dimensions scaled ×5 0.065, ×10
    0.16, ×20 0.34 (then half of every top-10 changes);
    Gaussian data of 16-384 dimensions 0.001-0.007. Warning at 0.15, critical at 0.3.
    Both signs are judged only beyond what a random rotation of the same corpus gives
    once in a hundred (a rotation changes no cosine and singles out no axis): the mean
    cosine's share beyond the 99th percentile of a random direction's top-``m`` share
    (0.67 for d = 32, ``m = 4``; 0.14 for d = 384), read for that test on the squared
    mean unit vector (self-pairs included: over distinct pairs only, a small mean cosine
    puts a larger share in its top dimensions, and topics around random centres passed
    the 99th percentile 3-12 times in a hundred), the variance's share beyond the 99th
    percentile of the top-``m`` share of the diagonal of its covariance rotated at random
    (from its spectrum; all variance along one direction gives the former). A few topic
    clusters in 32-D spread their variance along the random directions between their
    centres: variance excess 0.15-0.5 over the even share, within that null, ok; one
    zero-mean axis of 5× the spread there: 0.39 of the variance against a null of 0.29.
    The finding takes the more severe of the two signs, and its ``value``,
    ``warning_at`` and ``critical_at`` are those of the sign it was judged on
    (``judged_on``).
norm_spread (coefficient of variation of lengths, under dot or Euclidean)
    A dot score is ``‖x‖·‖q‖·cos``: lengths differing by a fraction ``cv`` move scores by
    about that fraction, while the cosine gap between rank 1 and rank 10 of a typical
    query is 5–20% of the score. Warning at cv ≥ 0.1, critical at 0.25. Under cosine,
    lengths cannot change a ranking: always ok (the figure is still shown). Under
    Euclidean, lengths from the origin change with an offset that changes no distance:
    the spread is of the distances to the centroid, judged beyond what an isotropic
    Gaussian cloud of the same participation ratio PR gives (distances to the centre a
    scaled χ_PR, cv 0.52 for PR = 2, ``1 / sqrt(2 PR)`` for large PR) plus three
    standard errors of a sample cv of n items: ``sqrt(cv² − (null + 3 se)²)`` (a
    Gaussian blob: 0, wherever it sits; in 1-3 dimensions the large-PR null alone
    flagged 50-99% of healthy clouds of 1,000 points).
near_duplicates (share of items that are redundant copies: Σ(group size − 1) / n)
    Every copy takes a top-k slot from a different document. Warning at 1% (in a
    well-built corpus copies are an ingestion accident), critical at 10%.
low_intrinsic_dimension (TwoNN estimate)
    Sentence-embedding corpora have TwoNN ≈ 10–20 (MiniLM on Cranfield: 13.9);
    isotropic data gives ≈ d. Below 5 the items vary along a handful of factors
    (templated text, a collapsed model); below 2.5 they lie on a curve or a sheet.
    Judged only when d ≥ 20 (in a low-dimensional space a low estimate is expected)
    and the fit read at least 7 items (n items span at most n − 1 dimensions: from 3
    random MiniLM vectors TwoNN fell below 5 in 4 of 30 draws);
    vectors of dimension 1 are always critical (cosine can only be ±1). The fit weighs
    the largest distance ratios, so a minority of near-copies below the duplicate
    threshold pulls it down (9% of them took Cranfield's 13.9 to 1.3): a fit below half
    of the median item's estimate ``ln 2 / ln(median μ)`` is not judged (a warning
    pointing to the near-copies), while data low-dimensional throughout, where the two
    agree, is.
query_corpus_shift (share of queries farther from their nearest document than 95% of
    documents are from theirs)
    Null (queries drawn like documents): 0.05, binomial SD 0.03 for 50 queries. Warning
    at 0.2 (4× the null, > 5 SD for 50 queries), critical at 0.5 (most queries land
    where the corpus has nothing close). MiniLM on Cranfield queries: 0.16. Under
    euclidean, queries whose median length is more than 2x (or under 1/2) the documents'
    are read as a length mismatch (fix normalize): such a query is at least one document
    length from every document, more than the nearest-neighbour distance of unit vectors
    (at most 2, and about 0.6-0.9 for MiniLM), so its length decides "far" alone.
non_finite, zero_vectors
    Always reported: NaN/inf rows (critical) and zero vectors (critical under cosine,
    where they have no direction; warning otherwise) are left out of every statistic.
metric_mismatch
    ``metric="dot"`` on vectors that are not unit length (some norm off 1 by > 1e-3)
    with length spread cv ≥ 0.01: ranking then depends on length; warning.
"""

from __future__ import annotations

import numpy as np

from ..results import counted
from .finding import Finding

__all__ = ["THRESHOLDS", "severity_of", "anisotropy_finding", "hubness_finding",
           "norm_finding", "shift_finding", "offset_context",
           "few_distinct_context", "too_few_to_judge", "percent"]

THRESHOLDS = {
    "anisotropy": {"warning": 0.4, "critical": 0.7, "above": True},
    "hubness": {"warning": 3.0, "critical": 6.0, "above": True},
    "rogue_dimensions": {"warning": 0.5, "critical": 0.8, "above": True,
                         "min_mean_cosine": 0.05, "energy_warning": 0.15,
                         "energy_critical": 0.3},
    "norm_spread": {"warning": 0.1, "critical": 0.25, "above": True},
    "near_duplicates": {"warning": 0.01, "critical": 0.10, "above": True},
    "low_intrinsic_dimension": {"warning": 5.0, "critical": 2.5, "above": False,
                                "min_dim": 20},
    "query_corpus_shift": {"warning": 0.2, "critical": 0.5, "above": True},
    "metric_mismatch": {"min_cv": 0.01, "unit_tolerance": 1e-3},
}


def severity_of(code: str, value: float) -> str:
    """"ok", "warning" or "critical" for ``value`` under the thresholds of ``code``.

    Examples
    --------
    >>> severity_of("anisotropy", 0.5), severity_of("low_intrinsic_dimension", 2.0)
    ('warning', 'critical')
    """
    t = THRESHOLDS[code]
    if t["above"]:
        return ("critical" if value >= t["critical"]
                else "warning" if value >= t["warning"] else "ok")
    return "critical" if value < t["critical"] else "warning" if value < t["warning"] else "ok"


def percent(share: float) -> str:
    """A share in [0, 1] as a percentage of 2 significant digits, never in exponent form
    (``f"{99.75:.2g}"`` is '1e+02').

    Examples
    --------
    >>> percent(0.0183), percent(0.00035), percent(0.9975), percent(1.0)
    ('1.8', '0.035', '99.8', '100')
    """
    p = 100 * share
    return f"{p:.2g}" if p < 99.5 else f"{p:.3g}"


def decimals(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` decimals, except that a value those decimals would show as
    0 (``f"{-0.00042:.3f}"`` is '-0.000') keeps 2 significant digits.

    Examples
    --------
    >>> decimals(0.16163), decimals(-0.00042), decimals(3e-5), decimals(0.0), decimals(-0.0)
    ('0.162', '-0.00042', '0.00003', '0.000', '0.000')
    """
    if value == 0 or abs(value) >= 0.5 * 10.0 ** -digits:
        return f"{value + 0.0:.{digits}f}"      # + 0.0: -0.0 becomes 0.0
    return np.format_float_positional(value, precision=2, fractional=False, trim="-")


def _limits(code: str) -> dict:
    t = THRESHOLDS[code]
    return {"warning_at": t["warning"], "critical_at": t["critical"],
            "direction": "at or above" if t["above"] else "below"}


def anisotropy_finding(mean_cos: float, isotropy: float, isoscore) -> Finding:
    sev = severity_of("anisotropy", mean_cos)
    ev = {"value": mean_cos, "isotropy_mu_viswanath": isotropy, "isoscore": isoscore,
          **_limits("anisotropy")}
    if sev == "ok":
        summary = (f"Directions are spread out: two random items have mean cosine "
                   f"{decimals(mean_cos)}, so a raw score already tells related from "
                   "unrelated.")
    else:
        summary = (f"Vectors share one dominant direction: two unrelated items score "
                   f"{mean_cos:.2f} on average, squeezing every score into a narrow band; "
                   "centre the vectors (subtract the corpus mean) before comparing.")
    return Finding("anisotropy", sev, summary, ev, None if sev == "ok" else "center")


LONG_HUBS = 1.2   # hubs this much longer than the median item: under dot, length made them


def hubness_finding(h, norm_corr, metric: str, examples: list,
                    hub_length: float | None = None) -> Finding:
    """The hubness finding. Under dot, hubs made by length (Spearman of length and N_k
    >= 0.5, or the hubs' median length at least :data:`LONG_HUBS` times the median
    item's, ``hub_length``) point to normalising, not re-ranking."""
    sev = severity_of("hubness", h.skewness)
    n = h.k_occurrence.size
    ev = {"value": h.skewness, "robinhood": h.robinhood, "k": h.k,
          "hub_share": h.hubs.size / n, "antihub_share": h.antihubs.size / n,
          "hub_length_ratio": hub_length,
          "max_k_occurrence": int(h.k_occurrence.max()), "top_hubs": examples,
          **_limits("hubness")}
    top = int(h.k_occurrence.max())
    if sev == "ok":
        summary = (f"Neighbour lists are shared fairly: N_{h.k} skewness {h.skewness:.2f}; "
                   f"the busiest item is in {top} of {n} lists.")
        fix = None
    else:
        few = "One hub item crowds" if h.hubs.size == 1 else "A few hub items crowd"
        summary = (f"{few} everyone's top-{h.k}: N_{h.k} skewness "
                   f"{h.skewness:.2f}, {counted(h.hubs.size, 'item')} "
                   f"{'appears' if h.hubs.size == 1 else 'appear'} in ≥ {2 * h.k} lists "
                   f"(the busiest in {top}) and {h.antihubs.size} in none; re-rank with "
                   "CSLS or mutual proximity.")
        fix = "csls"
        long_hubs = hub_length is not None and hub_length >= LONG_HUBS
        if metric == "dot" and ((norm_corr is not None and norm_corr >= 0.5) or long_hubs):
            summary += (" Hubs are the long vectors here"
                        + (f" ({hub_length:.2g}x the median length)" if long_hubs else "")
                        + ": normalise first.")
            fix = "normalize"
    return Finding("hubness", sev, summary, ev, fix)


def offset_context(f: Finding) -> Finding:
    """An anisotropy or rogue-dimension finding read under euclidean: context only.

    Both describe a shared offset seen from the origin; moving every vector by one
    offset changes no euclidean distance, so no euclidean ranking.
    """
    if f.severity == "ok":
        return f
    what = "shared direction" if f.code == "anisotropy" else "shared offset"
    summary = (f"{f.summary.split(';')[0].rstrip('.')}. Under euclidean this {what} changes "
               "no distance, so no ranking; it matters only if you search by cosine or dot.")
    return Finding(f.code, "ok", summary,
                   dict(f.evidence, severity_under_cosine=f.severity, metric="euclidean"),
                   None)


def too_few_to_judge(n_distinct: int, k: int) -> bool:
    """Whether a corpus of ``n_distinct`` distinct vectors is too small for its
    anisotropy and rogue-dimension findings at ``k`` neighbours per item: at most ``k``
    (see :func:`few_distinct_context`). :func:`vecdiag.diagnose` then leaves both not
    judged, and :func:`vecdiag.explain_neighbors` names neither cause.

    Examples
    --------
    >>> too_few_to_judge(5, 10), too_few_to_judge(11, 10)
    (True, False)
    """
    return n_distinct <= k


def few_distinct_context(f: Finding, n_distinct: int, k: int, n: int | None = None) -> Finding:
    """An anisotropy or rogue-dimension finding of a corpus of at most ``k`` distinct
    vectors: not judged. With copies (``n_distinct < n``) its pairs are mostly copies of
    one another, so a mean cosine near 1 says "copies", not "a shared direction", and
    centring or whitening a handful of points fixes nothing; deduplicating comes first.
    Without (``n`` rows, all distinct), the handful of pairs cannot tell a direction the
    model gives every vector from documents on one topic."""
    if f.severity == "ok":
        return f
    # (the verdict the figure would have given is not quoted: read beside "Not judged",
    # "vectors share one dominant direction ..." was taken for the verdict)
    if n is not None and n_distinct >= n:
        summary = (f"Not judged: only {n} vectors, so the {n * (n - 1) // 2} pairs behind "
                   "this figure cannot tell a direction the model gives every vector from "
                   "documents that share a topic; judge it on more of the corpus.")
    else:
        summary = (f"Not judged: only {n_distinct} distinct vector(s), the other rows exact "
                   "copies of them, so the pairs behind this figure are mostly copies; "
                   "deduplicate first.")
    return Finding(f.code, "ok", summary,
                   dict(f.evidence, severity_if_distinct=f.severity, n_distinct=n_distinct,
                        k=k, judged=False), None)


def norm_finding(s, metric: str, hub_length: float | None = None,
                 centred: tuple[float, float, float] | None = None) -> Finding:
    """The length-spread finding. Under euclidean, with ``centred`` = (cv, null cv, its
    standard error for n items) of the distances to the centroid (lengths from the origin
    change with an offset that changes no distance): judged on the spread beyond the
    most a Gaussian cloud of this shape and size gives, ``sqrt(cv² − (null + 3 se)²)``."""
    ev = {"value": s.cv, "mean_norm": s.mean, "min_norm": s.quantiles[0],
          "max_norm": s.quantiles[100], "unit_length": s.unit,
          "spearman_norm_k_occurrence": s.k_occurrence_corr, "metric": metric,
          **_limits("norm_spread")}
    if metric == "euclidean" and centred is not None:
        cv, null, se = centred
        # subtle: near a null of 0.5 (2-D) a cv only 0.01 above it already gives
        # sqrt(cv² − null²) = 0.1: the sample cv's own noise (3 se) is allowed for
        ceiling = null + 3 * se
        beyond = float(np.sqrt(max(cv * cv - ceiling * ceiling, 0.0)))
        sev = severity_of("norm_spread", beyond)
        ev.update(value=beyond, centred_cv=cv, null_cv=null, null_cv_se=se,
                  measures="spread of the distances to the centroid beyond a Gaussian "
                           "cloud's of the same participation ratio and size, "
                           "sqrt(cv² − (null + 3 se)²)")
        summary = (f"Distances to the centre vary as in a Gaussian cloud of this shape (cv "
                   f"{cv:.3f}, {null:.3f} expected): euclidean scores are decided by position."
                   if sev == "ok" else
                   f"Distances to the centre vary by cv {cv:.2f}, beyond the {null:.2f} of a "
                   "Gaussian cloud of this shape: items near the centre are close to "
                   "everything and far ones to nothing, by length, not meaning; normalise "
                   "the vectors (or search by cosine).")
        return Finding("norm_spread", sev, summary, ev, None if sev == "ok" else "normalize")
    if metric == "cosine":
        sev = "ok"
        summary = (f"All vectors have unit length (cv {decimals(s.cv)}); cosine ignores "
                   "length anyway." if s.unit else
                   f"Lengths vary (cv {decimals(s.cv)}) but cosine ignores length, so they "
                   "cannot change a ranking.")
    else:
        sev = severity_of("norm_spread", s.cv)
        # dot rewards length; euclidean ranks a document by its distance, so short vectors
        # (near the middle of the cloud) are close to everything and long ones to nothing
        winners = ("long vectors win" if metric == "dot"
                   else "short vectors, close to everything, win")
        summary = (f"Lengths vary little (cv {decimals(s.cv)}); {metric} scores are decided "
                   "by direction." if sev == "ok" else
                   f"Lengths vary by cv {decimals(s.cv)} (from {s.quantiles[0]:.3g} to "
                   f"{s.quantiles[100]:.3g}), so under {metric} {winners} by length, "
                   "not meaning; normalise the vectors (or search by cosine).")
        corr = s.k_occurrence_corr
        if sev != "ok" and metric == "dot" and hub_length is not None \
                and hub_length >= LONG_HUBS:
            summary += (f" Long vectors are the hubs ({hub_length:.2g}x the median length"
                        + (f"; Spearman {corr:.2f} with N_k" if corr is not None else "")
                        + ").")
        elif sev != "ok" and corr is not None and corr >= 0.3:
            summary += f" Long vectors are the hubs (Spearman {corr:.2f} with N_k)."
        elif sev != "ok" and corr is not None and corr <= -0.3:
            summary += f" Short vectors are the hubs (Spearman {corr:.2f} with N_k)."
    return Finding("norm_spread", sev, summary, ev, None if sev == "ok" else "normalize")


def shift_finding(s, n_queries: int, *, model_name=None, query_ids=None, texts=None,
                  corpus_source: str = "every document", lengths: float | None = None
                  ) -> Finding:
    """The query/corpus shift, read with what is known about the model and (euclidean)
    the queries' length against the documents' (see
    :func:`vecdiag.diagnostics.shift.shift_reading`)."""
    from .shift import shift_reading

    sev = severity_of("query_corpus_shift", s.far_share)
    reading = shift_reading(s, model_name=model_name, query_ids=query_ids, texts=texts,
                            lengths=lengths)
    ev = {"value": s.far_share, "reference_distance": s.reference, "quantile": s.quantile,
          "null_value": 1 - s.quantile, "mean_cosine": s.mean_cosine,
          "mean_gap": s.mean_gap, "n_queries": n_queries, "corpus_reference": corpus_source,
          **reading["evidence"], **_limits("query_corpus_shift")}
    queries, are = counted(n_queries, "query", "queries"), "is" if n_queries == 1 else "are"
    if sev == "ok":
        null = 1 - s.quantile
        measured = (f"{100 * s.far_share:.0f}% of the {queries} {are} farther from "
                    f"their nearest document than 95% of documents are from theirs")
        if s.far_share <= null + 3 * np.sqrt(null * (1 - null) / max(n_queries, 1)):
            summary = f"Queries sit among the documents: {measured} (about 5% expected)."
        else:   # beyond chance, short of the warning line: say so, not "among"
            summary = (f"Most queries sit among the documents, some apart: {measured} "
                       f"(about 5% expected; a warning from "
                       f"{100 * THRESHOLDS['query_corpus_shift']['warning']:.0f}%). Short "
                       "queries often sit a little apart from the documents they match.")
        return Finding("query_corpus_shift", sev, summary, ev, None)
    sampled = "" if not corpus_source.startswith("a ") else \
        f", judged against the neighbour distances of {corpus_source}"
    few = ""
    if n_queries < _FEW_QUERIES and sev == "critical":
        # one far query of one is 100%: a share of a handful cannot be called critical
        sev, few = "warning", (f" With only {n_queries} quer{'y' if n_queries == 1 else 'ies'}"
                               " this is a hint, not a measure: pass a query log.")
    summary = (f"{100 * s.far_share:.0f}% of the {queries} "
               f"({reading['names']}{sampled}) {are} farther from every document than 95% of "
               f"documents are from their nearest neighbour (5% expected): "
               f"{reading.get('where', 'queries live elsewhere; ')}{reading['advice']}{few}")
    return Finding("query_corpus_shift", sev, summary, ev, reading["fix"])


_FEW_QUERIES = 10                     # below: the shift finding is at most a warning
