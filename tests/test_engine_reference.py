"""Every ranking path gives, bit for bit, what it gave before the one-engine refactor.

``tests/data/engine_reference.json`` holds sha256 digests of the outputs of knn,
Index.search (float32 and float64 queries), knn_graph, csls, mutual_proximity, mmr,
deduplicate, hybrid, hybrid_lexical, every vector fix through apply_fix, explain's full
scores and counterfactual ranks and try_fixes' table, on four corpora with planted ties,
written once by ``tests/data/make_engine_reference.py`` from the code before the change.
A deliberate change of an output updates those entries only, every other digest checked
unchanged first (so far: hybrid ranking dict runs in single precision as trec_eval does,
and explain's centred-cosine counterfactual under euclidean, a new entry).
BLAS products and NumPy's SIMD sums round differently on another BLAS build or CPU kind,
so the comparison runs where the digests were recorded (the platform signature in the
file) and skips with that reason elsewhere; the exact paths are also tested against
scipy, scikit-learn and faiss in the other test modules.
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
    recorded = json.loads((HERE / "engine_reference.json").read_text())
    here = maker.platform_signature()
    if recorded["_platform"] != here:
        pytest.skip(f"references recorded on {recorded['_platform']!r}, this is {here!r}: "
                    "bit-exact BLAS results differ across builds and CPU kinds")
    now = maker.digests(maker.compute())
    expected = {k: v for k, v in recorded.items() if k != "_platform"}
    assert set(now) == set(expected), sorted(set(now) ^ set(expected))[:10]
    changed = sorted(k for k in expected if now[k] != expected[k])
    assert not changed, f"{len(changed)} outputs changed, e.g. {changed[:12]}"
