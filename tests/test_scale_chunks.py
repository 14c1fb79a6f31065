"""vecdiag.scale.chunks: recognising, checking and walking a Dask corpus."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from _dask_cluster import worker_tasks

da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")

from vecdiag import scale  # noqa: E402


def test_import_vecdiag_does_not_import_dask():
    code = "import sys, vecdiag, vecdiag.scale; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_is_dask_array():
    X = np.ones((4, 3))
    assert not scale.is_dask_array(X)
    assert scale.is_dask_array(da.from_array(X))
    assert not scale.is_dask_array([[1.0]])


def test_check_dask_matrix_keeps_float_and_puts_columns_in_one_chunk():
    X = da.from_array(np.ones((10, 6), dtype=np.float32), chunks=(4, 2))
    Y = scale.check_dask_matrix(X)
    assert Y.dtype == np.float32 and Y.chunks == ((4, 4, 2), (6,))
    Z = scale.check_dask_matrix(da.from_array(np.ones((3, 2), dtype=np.int16)))
    assert Z.dtype == np.float64


@pytest.mark.parametrize("bad, message", [
    (da.from_array(np.array([["a", "b"]])), "dtype"),
    (da.from_array(np.ones(3)), "2-D"),
    (da.from_array(np.ones((0, 3))), "empty"),
    (da.from_array(np.ones((3, 0))), "dimension 0"),
])
def test_check_dask_matrix_names_the_argument(bad, message):
    with pytest.raises((TypeError, ValueError), match=message) as info:
        scale.check_dask_matrix(bad, "corpus")
    assert "corpus" in str(info.value)


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4)])
def test_a_dask_array_of_another_shape_gets_the_numpy_paths_message(shape):
    """vd.knn(dask 1-D query, ...) said only "queries must be 2-D, got 1-D", where the
    same NumPy input names the reshape: both now give the message of _validate."""
    import vecdiag as vd

    corpus = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(ValueError) as numpy_path:
        vd.knn(np.ones(shape), corpus, 3)
    with pytest.raises(ValueError) as dask_path:
        vd.knn(da.from_array(np.ones(shape)), da.from_array(corpus), 3)
    assert str(dask_path.value) == str(numpy_path.value)
    assert "reshape(" in str(dask_path.value)


def test_unknown_chunk_sizes_say_how_to_fix():
    X = da.from_array(np.ones((10, 2)), chunks=(5, 2))
    X = X[X[:, 0] > 0]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        scale.check_dask_matrix(X, "corpus")


def test_row_blocks_cover_the_rows_in_order():
    A = np.arange(46.0).reshape(23, 2)
    X = scale.check_dask_matrix(da.from_array(A, chunks=(5, 2)))
    blocks = scale.row_blocks(X)
    assert [(b.start, b.stop) for b in blocks] == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 23)]
    got = scale.compute(*[b.data for b in blocks])
    np.testing.assert_array_equal(np.vstack(got), A)


def test_compute_returns_aligned_contiguous_arrays():
    A = np.arange(12.0).reshape(3, 4)
    (out,) = scale.compute(da.from_array(A)[:, ::2])
    assert out.flags.c_contiguous and out.ctypes.data % 64 == 0
    np.testing.assert_array_equal(out, A[:, ::2])
    empty = scale.aligned_empty((5, 7), np.float32)
    assert empty.ctypes.data % 64 == 0 and empty.shape == (5, 7) and empty.dtype == np.float32


def test_compute_uses_the_active_distributed_client(dask_client):
    A = np.random.default_rng(0).normal(size=(200, 8))
    X = scale.check_dask_matrix(da.from_array(A, chunks=(50, 8)))
    with worker_tasks(dask_client) as ran:
        (total,) = scale.compute(X.sum(axis=0))
    np.testing.assert_allclose(total, A.sum(axis=0))
    assert ran.workers and ran.workers <= set(dask_client.scheduler_info()["workers"])
