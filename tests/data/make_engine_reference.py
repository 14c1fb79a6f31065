"""Frozen outputs of every ranking path, written ONCE from the code before the one-engine
refactor (main at 1c1932b). tests/test_engine_reference.py compares today's code with them.

Do not regenerate to make a failing test pass: a difference means a ranking changed.
Run (from the repository root): python tests/data/make_engine_reference.py [FILE]
(FILE: another platform's record, e.g. tests/data/engine_reference_haswell.json; the test
uses the record whose platform signature is this machine's).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("engine_reference.json")


def corpora():
    """(name, corpus, queries): planted ties, a long row, an offset cluster, float32."""
    rng = np.random.default_rng(16)
    X = rng.normal(size=(240, 16))
    X[50] = X[3]
    X[120] = X[3]                        # exact copies: ties broken by index
    X[11] *= 40.0                        # a norm outlier
    X[200] = X[201] * (1 + 1e-9)         # a near copy
    Q = rng.normal(size=(12, 16))
    Q[0] = X[3]                          # a query equal to a copied row
    Y = rng.normal(size=(300, 24)) * np.linspace(3, 0.2, 24) + 2.0   # anisotropic, offset
    Y[7] = Y[8]
    QY = rng.normal(size=(10, 24)) * np.linspace(3, 0.2, 24) + 2.0
    yield "ties64", X, Q
    yield "ties32", X.astype(np.float32), Q.astype(np.float32)
    yield "aniso64", Y, QY
    yield "aniso32", Y.astype(np.float32), QY.astype(np.float32)


def texts_for(n, seed):
    rng = np.random.default_rng(seed)
    words = np.array("alpha beta gamma delta wing flow heat shock layer plate".split())
    return [" ".join(rng.choice(words, 5)) for _ in range(n)]


def digest(a: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes (bit-exact comparison of a big array)."""
    import hashlib

    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def platform_signature() -> str:
    """What bit-exact BLAS and SIMD results depend on: NumPy, its BLAS and the CPU kind."""
    import platform

    from threadpoolctl import threadpool_info

    blas = sorted(f"{i.get('internal_api')}-{i.get('version')}-{i.get('architecture')}"
                  for i in threadpool_info() if i.get("user_api") == "blas"
                  and "numpy" in i.get("filepath", ""))
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # pragma: no cover - older NumPy
        feats = {}
    simd = [f for f in ("AVX512F", "AVX512_SKX", "AVX2", "FMA3", "NEON") if feats.get(f)]
    return f"numpy-{np.__version__} {' '.join(blas)} {platform.machine()} {'+'.join(simd)}"


def digests(out: dict) -> dict:
    """Every array as its digest (bit-exact, a few bytes each)."""
    return {key: digest(np.asarray(v).astype(str) if np.asarray(v).dtype == object
                        else np.asarray(v)) for key, v in sorted(out.items())}


def compute() -> dict:
    """Every ranking path on every corpus: name -> array."""
    import vecdiag as vd
    from vecdiag import fixes
    from vecdiag.explain.ranking import full_scores

    out = {}
    for name, X, Q in corpora():
        n = X.shape[0]
        for metric in ("cosine", "dot", "euclidean"):
            p = f"{name}/{metric}/"
            r = vd.knn(Q, X, 10, metric=metric)
            out[p + "knn.idx"], out[p + "knn.sc"] = r.indices, r.scores
            index = vd.Index(X, metric=metric)
            r = index.search(Q, 10)
            out[p + "search.idx"], out[p + "search.sc"] = r.indices, r.scores
            r = index.search(Q.astype(np.float64), 10)
            out[p + "search64.idx"], out[p + "search64.sc"] = r.indices, r.scores
            g = index.knn_graph(7)
            out[p + "graph.idx"], out[p + "graph.sc"] = g.indices, g.scores
            for code, fn in (("csls", fixes.csls), ("mp", fixes.mutual_proximity),
                             ("dedup", fixes.deduplicate)):
                for src, corpus in (("index", index), ("array", X)):
                    r = fn(Q, corpus, n, metric=metric)
                    out[p + f"{code}.{src}.idx"], out[p + f"{code}.{src}.sc"] = r.indices, r.scores
            r = fixes.mmr(Q[1], index, 8, lambda_=0.6)
            out[p + "mmr.idx"], out[p + "mmr.sc"] = r.indices, r.scores
            r = fixes.mmr(Q[2], X, 8, lambda_=0.5, candidates=40, metric=metric)
            out[p + "mmr40.idx"], out[p + "mmr40.sc"] = r.indices, r.scores
            texts, qtexts = texts_for(n, 1), texts_for(Q.shape[0], 2)
            r = fixes.apply_fix("hybrid_lexical", Q, X, n, metric=metric, texts=texts,
                                query_texts=qtexts)
            out[p + "hybrid_lexical.idx"], out[p + "hybrid_lexical.sc"] = r.indices, r.scores
            codes = ["center", "normalize", "whiten", "all_but_the_top", "center+csls"]
            if metric != "cosine":
                codes.append("cosine_metric")
            for code in codes:
                for src, corpus in (("index", vd.Index(X, metric=metric)), ("array", X)):
                    r = fixes.apply_fix(code, Q, corpus, n, metric=metric)
                    out[p + f"fix.{code}.{src}.idx"] = r.indices
                    out[p + f"fix.{code}.{src}.sc"] = r.scores
            out[p + "full_scores"] = full_scores(index, Q)
            out[p + "full_scores1"] = full_scores(index, Q[:1])
            # explanations: counterfactual ranks of two expected rows, on a fresh Index
            exp_index = vd.Index(X, metric=metric)
            for qi in (0, 3):
                e = vd.explain_neighbors(Q[qi], exp_index, k=5, expected=[5, 17],
                                         metric=metric)
                for cf in e.counterfactuals:
                    out[p + f"explain{qi}.{cf.fix}.ranks"] = np.array(
                        [cf.expected_ranks[key] for key in sorted(cf.expected_ranks)])
                    out[p + f"explain{qi}.{cf.fix}.top"] = np.array(cf.top, dtype=np.int64)
            # runs fused by fixes.hybrid
            dense = {f"q{i}": {f"d{j}": float(s) for j, s in zip(r.indices[i], r.scores[i])}
                     for i in range(Q.shape[0])}
            r2 = vd.knn(Q, X, 20, metric=metric)
            lex = {f"q{i}": {f"d{j}": float(-s) for j, s in zip(r2.indices[i], r2.scores[i])}
                   for i in range(Q.shape[0])}
            fused = fixes.hybrid(dense, lex, k=60)
            for q, docs in fused.items():
                out[p + f"hybrid.{q}.docs"] = np.array([int(d[1:]) for d in docs])
                out[p + f"hybrid.{q}.sc"] = np.array(list(docs.values()))
        # try_fixes on this corpus (cosine; relevant = 3 nearest of a planted answer)
        qids = [f"q{i}" for i in range(Q.shape[0])]
        dids = [f"d{j}" for j in range(X.shape[0])]
        truth = vd.knn(Q + 0.3, X, 3, metric="cosine").indices
        qrels = {q: {dids[j]: 1 for j in row} for q, row in zip(qids, truth)}
        for metric in ("cosine", "euclidean"):
            rep = vd.try_fixes(Q, X, qrels, query_ids=qids, doc_ids=dids, k=20, metric=metric,
                               n_resamples=200, show_progress=False)
            df = rep.to_frame()
            out[f"{name}/{metric}/try_fixes.names"] = np.array(df.index.astype(str))
            num = df.select_dtypes("number").drop(columns=["seconds"])
            out[f"{name}/{metric}/try_fixes.cols"] = np.array(num.columns.astype(str))
            out[f"{name}/{metric}/try_fixes.values"] = num.to_numpy(dtype=np.float64)
    return out


def main():
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    out = compute()
    record = {"_platform": platform_signature(), **digests(out)}
    target.write_text(json.dumps(record, indent=0) + "\n")
    print(f"wrote {len(out)} arrays to {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
