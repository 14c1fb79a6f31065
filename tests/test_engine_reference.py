"""Every ranking path gives, bit for bit, what it gave before the one-engine refactor.

``tests/data/engine_reference.json`` holds sha256 digests of the outputs of knn,
Index.search (float32 and float64 queries), knn_graph, csls, mutual_proximity, mmr,
deduplicate, hybrid, hybrid_lexical, every vector fix through apply_fix, explain's full
scores and counterfactual ranks and try_fixes' table, on four corpora with planted ties,
written once by ``tests/data/make_engine_reference.py`` from the code before the change.
A deliberate change of an output updates those entries only, every other digest checked
unchanged first (so far: hybrid ranking dict runs in single precision as trec_eval does,
explain's centred-cosine counterfactual under euclidean, a new entry, and the vector fixes
fitted on float32 rows, whose mean is now summed in float64: 49 entries of each record).
BLAS products and NumPy's SIMD sums round differently on another BLAS build or CPU kind,
so the comparison runs where the digests were recorded (the platform signature in the
file) and skips with that reason elsewhere; the exact paths are also tested against
scipy, scikit-learn and faiss in the other test modules.

A second record, ``engine_reference_haswell.json``, is for this project's CI machines
(OpenBLAS forced to its Haswell kernels), where the first always skipped. It was written
from the code after exact copies were made to score as their original in every path that
scores every document (``neighbors.scoring.tie_copies``); beside it, the code before the
refactor (1c1932b) run on the same machine gave the same digests for 1,123 of the 1,164
outputs that the first record kept unchanged through the refactor, and the 41 others are
the copies on the corpora with planted copies (csls, mutual proximity, deduplicate,
hybrid, full scores, center+csls and whiten on an Index), now tied and in index order.
Later deliberate change: the cosine_metric fix on a dot or euclidean Index ties exact
copies too (4 entries of the Haswell record, ``ties32/{dot,euclidean}/
fix.cosine_metric.index``, which held copies out of index order; the SkylakeX record's
products had scored those copies alike already).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "data"


def _maker():
    spec = importlib.util.spec_from_file_location("make_engine_reference",
                                                  HERE / "make_engine_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_ranking_path_is_bit_identical_to_the_reference():
    maker = _maker()
    records = [json.loads(path.read_text())
               for path in sorted(HERE.glob("engine_reference*.json"))]
    here = maker.platform_signature()
    mine = [r for r in records if r["_platform"] == here]
    if not mine:
        pytest.skip(f"references recorded on {[r['_platform'] for r in records]!r}, this is "
                    f"{here!r}: bit-exact BLAS results differ across builds and CPU kinds")
    recorded = mine[0]
    now = maker.digests(maker.compute())
    expected = {k: v for k, v in recorded.items() if k != "_platform"}
    assert set(now) == set(expected), sorted(set(now) ^ set(expected))[:10]
    changed = sorted(k for k in expected if now[k] != expected[k])
    assert not changed, f"{len(changed)} outputs changed, e.g. {changed[:12]}"
