"""The generator behind benchmarks/bench_scale.py plants what it says (checked by vecdiag's
exact paths on a small corpus, so a figure the benchmark prints about "found" is trustworthy)."""

import sys
from pathlib import Path

import numpy as np

import vecdiag as vd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import scale_data  # noqa: E402


def test_planted_copies_and_hub_are_what_the_manifest_says(tmp_path):
    n = 4000
    manifest = scale_data.write_shards(tmp_path, n, shard_rows=1500, n_centres=50,
                                       processes=1)
    X = scale_data.load_all(tmp_path, manifest)
    truth = scale_data.read_truth(tmp_path)
    assert X.shape == (n, 384) and X.dtype == np.float32 and manifest["shards"] == 3
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-6)

    t, s, e = truth["targets"], truth["sources"], truth["exact"]
    assert t.size == 15 + 15 + 10 and 0 < e.sum() < t.size                 # 1%: exact and near copies
    assert not np.isin(s, t).any() and truth["hub"] not in np.union1d(t, s)
    assert ((t // 1500 > 0) & (s // 1500 == 0)).any()               # copies cross shards
    assert (X[t[e]] == X[s[e]]).all()                              # bit-exact copies
    cos = np.einsum("ij,ij->i", X[t[~e]].astype(float), X[s[~e]].astype(float))
    assert (X[t[~e]] != X[s[~e]]).any(axis=1).all() and cos.min() > 0.998

    # every row with a cos >= 0.98 partner is a planted copy or its source, and back
    groups = vd.near_duplicates(X, threshold=0.98)
    involved = np.sort(np.concatenate([np.asarray(g) for g in groups]))
    assert np.array_equal(involved, np.union1d(t, s))
    assert manifest["rows_with_near_or_exact_copy"] == involved.size
    exact = vd.near_duplicates(X, threshold=1.0)                   # exact copies only
    assert sum(len(g) for g in exact) == manifest["rows_with_exact_copy"]
    assert len(exact) == manifest["exact_groups"]

    # the hub is in most k-nearest-neighbour lists (an average item is in k = 10)
    h = vd.hubness(X, k=10)
    assert h.k_occurrence.argmax() == truth["hub"] and h.k_occurrence[truth["hub"]] > n / 2

    # --reuse recognises the same settings only
    assert scale_data.read_manifest(tmp_path, n, shard_rows=1500, n_centres=50) == manifest
    assert scale_data.read_manifest(tmp_path, n, shard_rows=1500) is None
