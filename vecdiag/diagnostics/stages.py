"""The stages of :func:`vecdiag.diagnose`, each a function of one :class:`Work` record.

:func:`vecdiag.diagnostics.diagnose.diagnose` runs them in order (see its module
docstring). Here the ones that need only a pass over the rows and their moments:
:func:`preflight`, :func:`moments`, :func:`isotropy_stage`, :func:`exact_copies`,
:func:`metric_check`, :func:`geometry_findings`; those that read the kNN graph
(:func:`~.graph_stages.knn_graph_stage`, hubness, intrinsic dimension, query shift)
are in :mod:`.graph_stages`, near-copies in :mod:`.copy_stages`. A stage reads the fields
earlier stages filled and adds its own findings and statistics; every field is declared on :class:`Work`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import _validate as V
from .._scaling import power_of_two_scale
from ..results import shorten
from . import rogue_rules, rules
from .moments import block_rows, compute_moments
from .anisotropy import anisotropy_from_moments
from .duplicates import exact_duplicate_groups
from .finding import Finding
from .isotropy import isoscore_from_spectrum, isotropy_from_moments, participation_ratio, spectrum
from .norms import norm_spread
from .rogue import rogue_about, rogue_from_moments

__all__ = ["Work", "preflight", "row_findings", "moments", "isotropy_stage", "exact_copies",
           "metric_check", "geometry_findings"]


@dataclass
class Work:
    """What the stages share: the checked inputs, then what each stage computed."""

    # inputs (checked by diagnose)
    X: np.ndarray
    metric: str
    k: int
    graph_sample: int
    duplicate_threshold: float
    backend: str | None
    show_progress: bool | None
    model_name: str | None
    rng: np.random.Generator
    ids: np.ndarray | None = None
    texts: np.ndarray | None = None
    Q: np.ndarray | None = None
    query_ids: np.ndarray | None = None
    index_in: object = None                 # the user's Index, when one was passed
    bar: object = None                      # the progress bar the graph advances
    findings: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    # preflight
    keep: np.ndarray | None = None          # input rows used (finite, not zero)
    W: np.ndarray | None = None             # those rows
    peak: float = 0.0                       # largest finite |value|
    # moments
    m: object = None
    spec: np.ndarray | None = None
    rogue: object = None
    rogue_centre: object = None             # under euclidean: of the rows less their mean
    mean_cos: float | None = None
    iso: float | None = None
    iscore: float | None = None
    pr: float | None = None
    # exact copies
    exact: list = field(default_factory=list)
    exact_redundant: int = 0
    rep: np.ndarray | None = None           # each used row's first exact copy
    n_distinct: int = 0
    # kNN graph
    k_eff: int = 0
    sample: np.ndarray | None = None        # used rows in the graph (None: all)
    G: np.ndarray | None = None             # graph rows (rescaled when huge or tiny)
    g_rows: np.ndarray | None = None        # graph row -> used row
    rescale: float = 1.0
    index: object = None
    graph: object = None
    # hubness
    hub: object = None
    # sampled statistics (beyond SAMPLED_ABOVE rows, or a Dask corpus)
    sample_size: int | None = None          # rows sampled (None: DEFAULT_SAMPLE)
    input_row: object = None                # used row -> input row (None: through keep)
    lists: object = None                    # (rows, indices, scores) of the sampled search

    @property
    def n(self) -> int:
        return 0 if self.W is None else self.W.shape[0]

    @property
    def all_rows_used(self) -> bool:
        """No row was left out by the preflight."""
        return self.n == self.X.shape[0]

    def label(self, i: int) -> str:
        """How used row ``i`` is shown in evidence: its input id (or row) and text."""
        row = int(self.keep[i]) if self.input_row is None else int(self.input_row(i))
        return _label(row, self.ids, self.texts)


def preflight(w: Work) -> None:
    """NaN/inf rows and zero vectors: reported, and left out of every later stage."""
    bad, zero, w.peak = _scan_rows(w.X)
    zero &= ~bad
    bad_rows, zero_rows = np.flatnonzero(bad), np.flatnonzero(zero)
    w.keep = np.flatnonzero(~(bad | zero))
    w.W = w.X if w.keep.size == w.X.shape[0] else np.asarray(w.X[w.keep])
    row_findings(w, bad_rows.size, V.format_rows(bad_rows), bad_rows[:20],
                 zero_rows.size, V.format_rows(zero_rows), zero_rows[:20])


def row_findings(w: Work, n_bad: int, bad_text: str, bad_first, n_zero: int, zero_text: str,
                 zero_first) -> None:
    """The non_finite / zero_vectors / small_corpus findings of the preflight, once
    ``w.W`` holds the usable rows (shared by the NumPy and the Dask preflight)."""
    if n_bad:
        w.findings.append(Finding("non_finite", "critical",
                                  f"{bad_text} {'holds' if n_bad == 1 else 'hold'} NaN "
                                  "or inf; left out of every statistic: drop or re-embed "
                                  f"{'it' if n_bad == 1 else 'them'}.",
                                  {"value": int(n_bad), "rows": [int(r) for r in bad_first]}))
    if n_zero:
        sev = "critical" if w.metric == "cosine" else "warning"
        one = n_zero == 1
        why = {"cosine": "it has no direction, so its cosine is undefined" if one
               else "they have no direction, so their cosine is undefined",
               "dot": "it scores 0 against every query" if one
               else "they score 0 against every query",
               "euclidean": "it sits at the origin" if one
               else "they all sit at the origin"}[w.metric]
        are = "is a zero vector" if one else "are zero vectors"
        w.findings.append(Finding("zero_vectors", sev,
                                  f"{zero_text} {are} (often empty or failed inputs): "
                                  f"{why}; left out of every statistic.",
                                  {"value": int(n_zero), "rows": [int(r) for r in zero_first]}))
    w.stats.update(n_used=w.n, n_non_finite=int(n_bad), n_zero=int(n_zero))
    if w.n < 2:
        w.findings.append(Finding("small_corpus", "critical",
                                  f"Only {w.n} usable vector(s): no pair to compare, so no "
                                  "statistic can be computed; pass at least 2.",
                                  {"value": w.n}))


def moments(w: Work) -> None:
    """One streaming pass: the sums behind anisotropy, rogue dimensions, norms, spectrum."""
    space = "unit" if w.metric == "cosine" else "raw"
    w.m = compute_moments(w.W, space=space, scale=power_of_two_scale(w.peak))


def isotropy_stage(w: Work) -> None:
    """Anisotropy, isotropy (a second pass), the spectrum and rogue dimensions."""
    d = w.W.shape[1]
    w.mean_cos = anisotropy_from_moments(w.m)
    w.iso = isotropy_from_moments(w.W, w.m)
    w.spec = spectrum(w.m)
    w.iscore = isoscore_from_spectrum(w.spec) if d >= 2 else None
    w.pr = participation_ratio(w.spec)
    w.rogue = rogue_from_moments(w.m, rogue_rules.rogue_top(d))
    if w.metric == "euclidean":
        # a shared offset moves no euclidean distance: the rogue dimensions that can
        # decide it are those of the rows less their mean (one more pass)
        mean = np.asarray(w.m.sum_space, np.float64) * (w.m.scale / w.n)
        w.rogue_centre = rogue_about(w.W, mean, rogue_rules.rogue_top(d))
    elif w.m.space != "unit" and w.n >= 2 and rogue_rules.rogue_finding(
            w.rogue, d, w.n).evidence["energy_excess"] \
            >= rules.THRESHOLDS["rogue_dimensions"]["energy_warning"]:
        # under dot/euclidean the moments are of the raw rows: the rotation null of the
        # variance sign needs the unit rows' covariance (a second pass, only when it
        # can decide)
        w.rogue = rogue_from_moments(compute_moments(w.W, space="unit"),
                                     rogue_rules.rogue_top(d))
    w.stats.update(anisotropy=w.mean_cos, isotropy=w.iso, isoscore=w.iscore,
                   participation_ratio=w.pr, rogue_share=w.rogue.share,
                   rogue_dims=[int(j) for j in w.rogue.dims])


def exact_copies(w: Work) -> None:
    """Groups of identical rows, by hashing every row."""
    w.exact = exact_duplicate_groups(w.W)
    w.exact_redundant = sum(len(g) - 1 for g in w.exact)
    w.rep = np.arange(w.n)
    for g in w.exact:
        w.rep[g] = g[0]
    w.n_distinct = w.n - w.exact_redundant
    w.stats.update(n_distinct=w.n_distinct, exact_duplicate_rows=w.exact_redundant)


def metric_check(w: Work) -> None:
    """Dot product on vectors that are not unit length: their lengths take part."""
    if w.metric != "dot":
        return
    norms_all = w.m.norms
    limits = rules.THRESHOLDS["metric_mismatch"]
    cv = norm_spread(norms_all).cv
    if np.any(np.abs(norms_all - 1) > limits["unit_tolerance"]):
        sev = "warning" if cv >= limits["min_cv"] else "ok"
        w.findings.append(Finding(
            "metric_mismatch", sev,
            "Vectors are not unit length but are searched by dot product: "
            + (f"their lengths (cv {rules.decimals(cv)}) take part in every score; "
               "normalise them or search by cosine." if sev == "warning" else
               "their lengths are equal, so dot ranks like cosine."),
            {"value": cv, "min_norm": float(norms_all.min()),
             "max_norm": float(norms_all.max()), **limits},
            "cosine_metric" if sev == "warning" else None))


def geometry_findings(w: Work) -> None:
    """The anisotropy and rogue-dimension findings (from the moments).

    Both measure directions seen from the origin (a shared offset); euclidean distances
    do not change when every vector moves by the same offset, so under euclidean they
    are context: severity ok, no fix, the figures kept. Except rogue dimensions seen
    from the corpus mean (``w.rogue_centre``: a few dimensions holding most of the
    spread, which do decide euclidean distances, :func:`_euclidean_rogue`): that
    finding then replaces the context one, whatever the offset.
    """
    found = [rules.anisotropy_finding(w.mean_cos, w.iso, w.iscore),
             rogue_rules.rogue_finding(w.rogue, w.W.shape[1], w.n)]
    if w.metric == "euclidean":
        centred = _euclidean_rogue(w)
        found = [rules.offset_context(found[0]),
                 centred if centred is not None else rules.offset_context(found[1])]
    if w.n_distinct is not None and rules.too_few_to_judge(w.n_distinct, w.k):
        found = [rules.few_distinct_context(f, w.n_distinct, w.k, w.n) for f in found]
    w.findings.extend(found)


def rogue_flagged(w: Work, copies_known: bool = True) -> bool:
    """Whether :func:`geometry_findings` will flag rogue dimensions (warning or
    critical): a few dimensions then decide every cosine, and the near-copy stage judges
    pairs on standardised dimensions, as the fix (whitening) would leave them.
    ``copies_known``: the exact copies were counted (``w.n_distinct``)."""
    f = (_euclidean_rogue(w) if w.metric == "euclidean" else
         rogue_rules.rogue_finding(w.rogue, w.W.shape[1], w.n))
    if f is None or f.severity == "ok" or (
            copies_known and rules.too_few_to_judge(w.n_distinct, w.k)):
        return False
    return True


def _euclidean_rogue(w: Work) -> Finding | None:
    """Under euclidean, the rogue-dimension finding of the rows less their mean
    (``w.rogue_centre``) when it is flagged and its dimensions hold the variance
    (:func:`_spread_decides`); None otherwise (the origin's finding is then context).
    Seen from the mean no direction is shared, so only the variance sign can flag, and
    a common offset of every row changes neither the finding nor its figures."""
    if w.rogue_centre is None:
        return None
    f = rogue_rules.rogue_finding(w.rogue_centre, w.W.shape[1], w.n)
    if f.severity == "ok" or not _spread_decides(w, f):
        return None
    f.evidence["seen_from"] = "mean"
    return f


def _spread_decides(w: Work, f) -> bool:
    """A rogue-dimension finding judged on energy whose dimensions also hold the
    *variance* (not a shared offset): they decide euclidean distances too, so the finding
    keeps its severity under euclidean. Its evidence gains ``variance_share``."""
    if w.m.shifted_gram is None:
        return False
    decides = rogue_rules.variance_decides(f, np.diag(w.m.covariance))
    if decides is None:
        return False
    share, excess = decides
    f.evidence["variance_share"] = share
    f.evidence["variance_excess"] = excess
    return True


# --- helpers ---------------------------------------------------------------------------

def _scan_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Row masks ``(non_finite, zero)`` and the largest |value| of the finite rows (those
    kept: a 1e300 beside a NaN would set the scale of rows it never joins), in one pass."""
    bad = np.zeros(X.shape[0], dtype=bool)
    zero = np.zeros(X.shape[0], dtype=bool)
    peak = 0.0
    step = block_rows(X.shape[1])
    for a in range(0, X.shape[0], step):
        B = np.asarray(X[a:a + step])
        fin = np.isfinite(B)
        bad[a:a + step] = ~fin.all(axis=1)
        finite_abs = np.abs(np.where(fin, B, 0))
        zero[a:a + step] = ~(np.where(fin, B, 1) != 0).any(axis=1)
        kept = finite_abs[~bad[a:a + step]]
        peak = max(peak, float(kept.max()) if kept.size else 0.0)
    return bad, zero, peak


def _label(i: int, ids, texts) -> str:
    """How an item is shown in evidence: its id (or row), and the start of its text."""
    name = str(ids[i]) if ids is not None else f"row {i}"
    text = "" if texts is None else shorten(texts[i], 60)     # ("" when it has none)
    return f"{name}: {text}" if text else name
