"""Loading vectors from files safely, and writing files atomically."""

from __future__ import annotations

import numpy as np
import pytest

from vecdiag.io import atomic_write_text, load_vectors


def test_npy_npz_parquet(tmp_path):
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.save(tmp_path / "a.npy", X)
    np.testing.assert_array_equal(load_vectors(tmp_path / "a.npy"), X)
    np.savez(tmp_path / "b.npz", emb=X)
    np.testing.assert_array_equal(load_vectors(tmp_path / "b.npz"), X)
    np.savez(tmp_path / "c.npz", emb=X, other=X)
    with pytest.raises(ValueError, match="holds 2 arrays.*key="):
        load_vectors(tmp_path / "c.npz")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["a", "b", "c", "d", "e"], "vec": X.tolist()}), tmp_path / "d.parquet")
    np.testing.assert_allclose(load_vectors(tmp_path / "d.parquet"), X)


def test_refuses_pickles_and_unknown_types(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="without pickle"):
        load_vectors(tmp_path / "obj.npy")
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(ValueError, match="unsupported file type '.csv'"):
        load_vectors(tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_vectors(tmp_path / "missing.npy")


def test_nan_rows_named_with_file_name(tmp_path):
    X = np.ones((4, 2))
    X[2, 0] = np.nan
    np.save(tmp_path / "emb.npy", X)
    with pytest.raises(ValueError, match=r"emb.npy has 1 row \(2\) with NaN"):
        load_vectors(tmp_path / "emb.npy")


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    atomic_write_text(target, "ok")
    assert target.read_text() == "ok"

    import os

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "ok"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_atomic_write_uses_normal_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "r.html", "x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "r.html").st_mode) == 0o644
