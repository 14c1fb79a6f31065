"""Shared fixtures: the planted edge cases every module is tested against.

Each fixture is a small array with one thing wrong (or tricky) on purpose, in the
spirit of pynndescent's test fixtures that add all-zero rows deliberately.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import settings

# Under CI=true a skip for a missing dependency, data, browser or server fails (tests/_ci_skips.py).
pytest_plugins = ["_ci_skips", "_store_servers", "_dask_cluster"]

# Property tests: no per-example deadline (CI shares 2 cores with other work).
settings.register_profile("vecdiag", deadline=None, max_examples=60, derandomize=True)
settings.load_profile("vecdiag")

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def gaussian(rng):
    """200 i.i.d. standard normal vectors in 16-D, float64."""
    return rng.normal(size=(200, 16))


@pytest.fixture
def with_zero_row(gaussian):
    """Row 7 is all zeros: it has no direction, so cosine must refuse it by default."""
    X = gaussian.copy()
    X[7] = 0.0
    return X


@pytest.fixture
def with_duplicates(gaussian):
    """Rows 3, 50 and 120 are exact copies: ties that the tie rule must break by index."""
    X = gaussian.copy()
    X[50] = X[3]
    X[120] = X[3]
    return X


@pytest.fixture
def with_norm_outlier(gaussian):
    """Row 11 is 1000x longer than the rest: it wins every dot product, not every cosine."""
    X = gaussian.copy()
    X[11] *= 1000.0
    return X


@pytest.fixture
def with_nan_rows(gaussian):
    """Rows 17 and 42 hold NaN, row 99 holds inf: validation must name all three."""
    X = gaussian.copy()
    X[17, 0] = np.nan
    X[42, 5] = np.nan
    X[99, 2] = np.inf
    return X


@pytest.fixture(params=["float32", "float64", "float16", "int64"])
def any_dtype(request, rng):
    """The same small integer-valued data in each dtype users pass."""
    X = rng.integers(-5, 6, size=(30, 8))
    X[X.sum(axis=1) == 0, 0] = 1  # keep rows away from exact zero vectors
    X[np.abs(X).sum(axis=1) == 0, 0] = 1
    return X.astype(request.param)


@pytest.fixture
def shared_data():
    """Path to ../shared/data, or skip: the project must pass on a fresh clone."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (only present in the workplace)")
    return SHARED_DATA


@pytest.fixture
def cranfield_minilm(shared_data):
    """Cranfield's precomputed all-MiniLM-L6-v2 embeddings (``../shared/data/cranfield``):
    ``corpus`` and ``queries`` arrays, their ``corpus_ids`` / ``query_ids`` in row order,
    and the ``folder`` (qrels, texts). Fresh arrays for every test."""
    folder = shared_data / "cranfield"
    return SimpleNamespace(
        folder=folder,
        corpus=np.load(folder / "emb_minilm_corpus.npy"),
        queries=np.load(folder / "emb_minilm_queries.npy"),
        corpus_ids=(folder / "emb_minilm_corpus_ids.txt").read_text().split(),
        query_ids=(folder / "emb_minilm_queries_ids.txt").read_text().split())
