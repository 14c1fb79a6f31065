"""Benchmark: explain_neighbors on a third set of planted failures (run on demand).

Generators written apart from ``tests/explain_planted.py``: other sizes (n 300-1,400),
dimensions (32, 128, 384, 768), float32 and float64, isotropic and clustered bases, and
the real MiniLM embeddings of Cranfield (``../shared/data/cranfield``, skipped when
absent) as a base into which a failure is planted around a real query and one of its
judged documents. Per kind and seed: the expected document's brute-force rank (the plant
took when it is > k), the first cause and its confidence, and every other cause at >= 0.5.

Kinds: ``hub`` (documents near a direction every document leans on a little, a query
leaning on it too), ``cran_hub`` (documents at Cranfield's own centroid), ``norm_bias``
(dot product, a few long documents loosely toward the query), ``cran_norm_bias`` (the
documents Cranfield ranks just below the judged one made 3-6x longer), ``copies`` (one
close document copied k times), ``cran_copies``, ``cone`` (a large common component of
varying weight), ``cran_cone``, ``control`` (clustered corpus, query between its
document and its cluster: a real but honest miss) and ``cran_control`` (Cranfield as it
is, judged documents ranked 11-30: whatever is named there is not planted).

Run: ``PYTHONPATH=. python benchmarks/bench_explain_planted3.py [--seeds 30] [--kinds hub,...]``
"""

from __future__ import annotations

import argparse
import collections
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cranfield"
K = 10


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def base(rng, n, d, kind):
    """Unit rows: ``iso`` (isotropic Gaussian) or ``clus`` (8-40 clusters, cosine to the
    centre 0.6-0.9)."""
    if kind == "iso":
        return unit(rng.normal(size=(n, d)))
    c = int(rng.integers(8, 41))
    centres = unit(rng.normal(size=(c, d)))
    spread = rng.uniform(0.5, 1.3)
    return unit(centres[rng.integers(0, c, n)] + spread * unit(rng.normal(size=(n, d))))


_CRAN = {}


def cranfield():
    """(corpus float32 unit rows, queries, {query row: [judged corpus rows]})."""
    if not _CRAN:
        X = np.load(DATA / "emb_minilm_corpus.npy")
        Q = np.load(DATA / "emb_minilm_queries.npy")
        cids = (DATA / "emb_minilm_corpus_ids.txt").read_text().split()
        qids = (DATA / "emb_minilm_queries_ids.txt").read_text().split()
        crow, qrow = {c: i for i, c in enumerate(cids)}, {q: i for i, q in enumerate(qids)}
        judged = collections.defaultdict(list)
        for line in (DATA / "qrels" / "test.tsv").read_text().splitlines()[1:]:
            q, c, s = line.split("\t")
            if int(s) > 0 and q in qrow and c in crow:
                judged[qrow[q]].append(crow[c])
        _CRAN.update(X=X, Q=Q, judged=dict(judged))
    return _CRAN["X"].copy(), _CRAN["Q"], _CRAN["judged"]


def order_of(X, q, metric):
    key = {"cosine": lambda: unit(X) @ unit(q), "dot": lambda: X @ q,
           "euclidean": lambda: -np.linalg.norm(X - q, axis=1)}[metric]()
    return np.lexsort((np.arange(len(key)), -key))


def rank_of(X, q, e, metric):
    return int(np.flatnonzero(order_of(X, q, metric) == e)[0]) + 1


def cran_query(rng, lo=1, hi=K):
    """A Cranfield query and one judged document cosine ranks in [lo, hi]."""
    X, Q, judged = cranfield()
    for _ in range(500):
        qi = int(rng.choice(list(judged)))
        order = order_of(X, Q[qi], "cosine")
        where = {int(r): i + 1 for i, r in enumerate(order[:hi])}
        ok = [r for r in judged[qi] if lo <= where.get(r, hi + 1) <= hi]
        if ok:
            return X, Q[qi].copy(), int(rng.choice(ok)), order
    raise RuntimeError("no Cranfield query fits")


# ------------------------------------------------------------------ plants
def hub(rng, seed):
    """Every document leans on g by 0.4-0.6 (mean cosine 0.14-0.26, no cone); k + 3 documents
    lie near g; the query is its document's own direction (0.3) plus g."""
    d = (128, 384, 768)[seed % 3]
    n = (600, 1200)[seed % 2]
    dtype = (np.float32, np.float64)[seed % 2]
    X = base(rng, n, d, "iso")  # clustered: cluster mates outrank g's documents, no hub
    g = unit(rng.normal(size=d))
    X = X - np.outer(X @ g, g)
    lean = (0.4, 0.5, 0.6)[(seed // 2) % 3]
    X = unit(X) + lean * g
    n_h = K + 3
    X[:n_h] = g + 0.3 * unit(rng.normal(size=(n_h, d)))
    e = int(rng.integers(n_h, n))
    q = 0.5 * g + 0.2 * unit(X[e] - lean * g) + 0.05 * unit(rng.normal(size=d))
    return X.astype(dtype), q.astype(dtype), e, "cosine"


def cran_hub(rng, seed):
    """Cranfield: k + 3 documents at the corpus centroid (a shared direction every
    MiniLM vector has) plus noise; the query's judged document was in the top-k."""
    X, q, e, _ = cran_query(rng, 3, K)
    mu = unit(X.mean(axis=0))
    n_h = K + 3
    rows = rng.choice([i for i in range(len(X)) if i != e], size=n_h, replace=False)
    X[rows] = unit(mu + rng.uniform(0.15, 0.3) * unit(rng.normal(size=(n_h, X.shape[1]))))
    q = unit(q + 0.6 * mu).astype(np.float32)
    return X, q, e, "cosine"


def norm_bias(rng, seed):
    """Dot product; lengths log-normal (sd 0.15); k + 2 documents 2-5x the median length
    at cosine about 0.5 from the query beat its document (cosine about 0.85)."""
    d = (32, 128, 384, 768)[seed % 4]
    n = (400, 900)[seed % 2]
    dtype = (np.float64, np.float32)[seed % 2]
    X = base(rng, n, d, ("clus", "iso")[(seed // 2) % 2])
    X = X * np.exp(rng.normal(0, 0.15, size=(n, 1)))
    e = int(rng.integers(K + 2, n))
    q = unit(unit(X[e]) + 0.6 * unit(rng.normal(size=d)))
    long = rng.uniform(2, 5)
    X[:K + 2] = long * unit(unit(q) + 1.7 * unit(rng.normal(size=(K + 2, d))))
    return X.astype(dtype), q.astype(dtype), e, "dot"


def cran_norm_bias(rng, seed):
    """Cranfield by dot product; the documents cosine ranks 11-40 made 3-6x longer."""
    X, q, e, order = cran_query(rng, 1, 5)
    X[order[K:4 * K]] *= rng.uniform(3, 6)
    return X, q, e, "dot"


def copies(rng, seed):
    """One document at cosine about 0.9 from the query, copied k times (noise 0.01-0.05):
    the copies fill the top-k ahead of the query's own document."""
    d = (32, 128, 384, 768)[seed % 4]
    n = (300, 1000)[seed % 2]
    dtype = (np.float32, np.float64)[seed % 2]
    X = base(rng, n, d, ("iso", "clus")[(seed // 2) % 2])
    e = int(rng.integers(K + 1, n))
    q = unit(X[e] + 0.35 * unit(rng.normal(size=d)))
    src = unit(q + 0.3 * unit(rng.normal(size=d)))
    noise = rng.uniform(0.01, 0.05)
    X[:K + 1] = unit(src + noise * unit(rng.normal(size=(K + 1, d))))
    return X.astype(dtype), q.astype(dtype), e, "cosine"


def cran_copies(rng, seed):
    """Cranfield: the query's best document copied k times (noise 0.02)."""
    X, q, e, order = cran_query(rng, 2, K)
    top = int(order[0]) if int(order[0]) != e else int(order[1])
    rows = rng.choice([i for i in range(len(X)) if i not in (e, top)], size=K, replace=False)
    X[rows] = unit(X[top] + 0.02 * unit(rng.normal(size=(K, X.shape[1])))).astype(np.float32)
    return X, q, e, "cosine"


def cone(rng, seed):
    """Every document is its meaning (unit) plus a common component of weight a drawn
    log-normally (median 1.5-2.5: mean cosine 0.5-0.8); the query carries a large share,
    its document a small one."""
    d = (32, 128, 384, 768)[seed % 4]
    n = (500, 1100)[seed % 2]
    dtype = (np.float64, np.float32)[seed % 2]
    Z = base(rng, n, d, ("clus", "iso")[(seed // 2) % 2])
    mu = unit(rng.normal(size=d))
    a = rng.uniform(1.5, 2.5) * np.exp(rng.normal(0, 0.4, size=(n, 1)))
    X = a * mu + Z
    e = int(rng.integers(n))
    X[e] = 0.5 * mu + Z[e]
    q = 2.5 * a.mean() * mu + Z[e] + 0.3 * unit(rng.normal(size=d))
    return X.astype(dtype), q.astype(dtype), e, "cosine"


def cran_cone(rng, seed):
    """Cranfield plus a common component of log-normal weight (median 1.5); the query
    carries three times the median, its judged document little."""
    X, q, e, _ = cran_query(rng, 1, 5)
    d = X.shape[1]
    mu = unit(rng.normal(size=d))
    a = 1.5 * np.exp(rng.normal(0, 0.4, size=(len(X), 1)))
    X = (X + a * mu).astype(np.float32)
    X[e] = X[e] - (a[e] - 0.3) * mu
    q = (q + 4.5 * mu).astype(np.float32)
    return X, q, e, "cosine"


def control(rng, seed):
    """Clustered or isotropic unit rows, a query near one document; the document it
    ranks 11-40 is expected: an honest miss with nothing planted."""
    d = (32, 128, 384, 768)[seed % 4]
    n = (400, 1000)[seed % 2]
    dtype = (np.float32, np.float64)[seed % 2]
    X = base(rng, n, d, ("clus", "iso")[(seed // 2) % 2])
    q = unit(X[int(rng.integers(n))] + 0.5 * unit(rng.normal(size=d)))
    e = int(order_of(X, q, "cosine")[int(rng.integers(K, 4 * K))])
    return X.astype(dtype), q.astype(dtype), e, "cosine"


def cran_control(rng, seed):
    """Cranfield unchanged; a judged document cosine ranks 11-30."""
    X, q, e, _ = cran_query(rng, K + 1, 3 * K)
    return X, q, e, "cosine"


KINDS = {"hub": (hub, "hub"), "cran_hub": (cran_hub, "hub"),
         "norm_bias": (norm_bias, "norm_bias"), "cran_norm_bias": (cran_norm_bias, "norm_bias"),
         "copies": (copies, "near_duplicates"), "cran_copies": (cran_copies, "near_duplicates"),
         "cone": (cone, "anisotropy"), "cran_cone": (cran_cone, "anisotropy"),
         "control": (control, None), "cran_control": (cran_control, None)}
STRUCTURAL = {"hub", "norm_bias", "near_duplicates", "anisotropy", "rogue_dimensions",
              "metric_mismatch"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    import vecdiag as vd
    from threadpoolctl import threadpool_limits

    print(f"k {K}, seeds 0..{args.seeds - 1}")
    print(f"{'kind':15s} {'took':>4s} {'first':>5s} {'>=.5':>5s}  first causes when not the "
          "planted one / unplanted structural causes >= 0.5")
    with threadpool_limits(1):
        for name in args.kinds.split(","):
            gen, planted = KINDS[name]
            if name.startswith("cran") and not DATA.exists():
                print(f"{name:15s} skipped: {DATA} absent")
                continue
            took = first = strong = 0
            wrong, fps = collections.Counter(), collections.Counter()
            t = time.perf_counter()
            for seed in range(args.seeds):
                X, q, e, metric = gen(np.random.default_rng(7000 + seed), seed)
                r = rank_of(X.astype(float), q.astype(float), e, metric)
                if r <= K:
                    continue
                took += 1
                exp = vd.explain_neighbors(q, X, k=K, expected=[e], metric=metric)
                causes = [(c.code, c.confidence) for c in exp.causes]
                top = causes[0] if causes else ("none", 0.0)
                if args.verbose:
                    print(f"  {name} seed {seed} rank {r}: {causes[:4]}")
                if planted is not None:
                    first += top[0] == planted
                    strong += top[0] == planted and top[1] >= 0.5
                    if top[0] != planted:
                        wrong[top[0]] += 1
                for c, p in causes:
                    if p >= 0.5 and c != planted and (planted is not None or c in STRUCTURAL):
                        fps[c] += 1
            dt = time.perf_counter() - t
            info = ", ".join(f"{c} {v}" for c, v in wrong.most_common()) or "-"
            fp = ", ".join(f"{c} {v}" for c, v in fps.most_common()) or "-"
            shown = (f"{first:5d} {strong:5d}" if planted else f"{'-':>5s} {'-':>5s}")
            print(f"{name:15s} {took:4d} {shown}  first: {info} / >=.5: {fp}  ({dt:.0f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
