"""Loading vectors from files safely, and writing files atomically."""

from __future__ import annotations

import re

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
    with pytest.raises(ValueError, match="holds 2 2-D arrays.*key="):
        load_vectors(tmp_path / "c.npz")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["a", "b", "c", "d", "e"], "vec": X.tolist()}), tmp_path / "d.parquet")
    np.testing.assert_allclose(load_vectors(tmp_path / "d.parquet"), X)


def test_parquet_of_one_column_per_dimension_says_how_to_write_vectors(tmp_path):
    """pd.DataFrame(X).to_parquet(path), the usual way to save a matrix from pandas, has
    one number column per dimension and no list column: the error said "has 0 vector
    (list) columns (none); name one with key=", a fix with no column to name (and
    open_vectors the same). It now names the number columns and how to write vectors."""
    import vecdiag as vd

    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    pd.DataFrame(X).to_parquet(tmp_path / "wide.parquet")
    fix = ("columns of one number per row ('0', '1', '2', ...: 4 in all) are not read as "
           "vectors (one dimension per column); write the vectors as one list column, "
           "pd.DataFrame({'embedding': list(X)}).to_parquet(path), or save them with "
           "np.save(path, X)")
    with pytest.raises(ValueError) as err:
        load_vectors(tmp_path / "wide.parquet")
    assert str(err.value) == ("wide.parquet: " + str(tmp_path / "wide.parquet")
                              + " has 0 vector (list) columns (none); " + fix)
    with pytest.raises(ValueError) as err:
        vd.open_vectors(str(tmp_path / "wide.parquet"))
    assert str(err.value).endswith("(columns: 0 (float), 1 (float), 2 (float), 3 (float)); "
                                   + fix)


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


def test_parquet_values_checked_and_dtype_kept(tmp_path):
    """The parquet reader went through Python lists and np.asarray(float64): float32
    vectors came back float64 (against the float32-stays-float32 policy of every other
    reader), lists of text such as ["1", "2"] were parsed as numbers, and a null number
    inside a vector became NaN (kept silently with finite=False). Each is compared with
    pyarrow's own reading."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    X = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    path = tmp_path / "f32.parquet"
    pq.write_table(pa.table({"vec": pa.array(list(X), pa.list_(pa.float32()))}), path)
    got = load_vectors(path)
    reference = np.array(pq.read_table(path).column("vec").to_pylist(), dtype=np.float32)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, reference)

    pq.write_table(pa.table({"vec": pa.array([["1", "2"], ["3", "4"]])}), tmp_path / "s.parquet")
    with pytest.raises(TypeError, match=r"column 'vec' of .*s\.parquet holds lists of string"):
        load_vectors(tmp_path / "s.parquet")
    pq.write_table(pa.table({"vec": pa.array([[1.0, 2.0], [3.0, None]])}), tmp_path / "n.parquet")
    with pytest.raises(ValueError, match=r"missing numbers \(null\) inside the vectors of 1 row \(1\)"):
        load_vectors(tmp_path / "n.parquet", finite=False)
    pq.write_table(pa.table({"vec": pa.array([[1.0, 2.0], [3.0], [4.0, 5.0]])}), tmp_path / "r.parquet")
    with pytest.raises(ValueError, match=r"ragged: row 0 has 2 values but 1 row \(1\) do not"):
        load_vectors(tmp_path / "r.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ValueError, match=r"junk\.parquet is not a readable parquet file"):
        load_vectors(tmp_path / "junk.parquet")


def test_object_npz_and_non_npy_files_named(tmp_path):
    """An .npz whose vectors are an object array raised NumPy's bare "Object arrays
    cannot be loaded when allow_pickle=False" (no file named), and a .npy that is not one
    (text, a CSV renamed) was called a pickle."""
    np.savez(tmp_path / "o.npz", emb=np.array([[1.0, None]], dtype=object))
    with pytest.raises(ValueError, match=r"o\.npz: cannot load the array 'emb' of .* without pickle"):
        load_vectors(tmp_path / "o.npz")
    (tmp_path / "t.npy").write_text("1.0,2.0\n3.0,4.0\n")
    with pytest.raises(ValueError, match=r"t\.npy: .* is not a \.npy file"):
        load_vectors(tmp_path / "t.npy")
    (tmp_path / "e.npy").write_bytes(b"")
    with pytest.raises(ValueError, match=r"e\.npy: .* is empty"):
        load_vectors(tmp_path / "e.npy")
    X = np.arange(6.0).reshape(3, 2)
    np.save(tmp_path / "ok.npy", X)
    np.testing.assert_array_equal(load_vectors(tmp_path / "ok.npy"), X)


@pytest.mark.parametrize("shape, fix", [((4,), "vector.reshape(1, -1)"), ((2, 3, 4), "X.reshape(-1, 4)"),
                                        ((), "2-D array")])
def test_a_file_not_holding_a_matrix_says_how_to_write_it(tmp_path, shape, fix):
    """A 1-D .npy (one query saved as it is) was refused with as_matrix's Python hint on
    the label: "use q.npy.reshape(1, -1)", "--queries.reshape(1, -1)" on the command line."""
    np.save(tmp_path / "q.npy", np.ones(shape))
    np.savez(tmp_path / "q.npz", emb=np.ones(shape))
    for path in (tmp_path / "q.npy", tmp_path / "q.npz"):
        with pytest.raises(ValueError) as info:
            load_vectors(path, name="--queries")
        msg = str(info.value)
        assert msg.startswith(f"--queries: {path.name} holds a {len(shape)}-D array") and fix in msg
        assert ".reshape" not in msg.replace(fix, "")


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755])
def test_atomic_write_keeps_the_permissions_of_the_file_it_replaces(tmp_path, mode):
    """An existing file made private (0600) became 0644 when written again (the new file
    took the umask's permissions), unlike open(path, "w"), which keeps the file's mode.
    Reference: the mode open() leaves on a twin file."""
    import os
    import stat

    target, twin = tmp_path / "report.html", tmp_path / "twin.html"
    for f in (target, twin):
        f.write_text("old")
        os.chmod(f, mode)
    atomic_write_text(target, "new")
    with open(twin, "w") as handle:
        handle.write("new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(os.stat(target).st_mode) == stat.S_IMODE(os.stat(twin).st_mode)


def test_npz_members_that_are_not_arrays_are_left_out(tmp_path):
    import zipfile

    X = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.savez(tmp_path / "a.npz", vectors=X)
    with zipfile.ZipFile(tmp_path / "a.npz", "a") as archive:
        archive.writestr("readme.txt", "made by hand")
    loaded = load_vectors(tmp_path / "a.npz")
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, X)
    with pytest.raises(ValueError, match=r"has no array 'readme.txt' \(members: vectors \(2, 3\)\); check key="):
        load_vectors(tmp_path / "a.npz", key="readme.txt")


def test_an_npz_without_a_2d_array_is_refused_up_front(tmp_path):
    """An .npz of 1-D arrays only: vd.open_vectors asked "holds 0 2-D arrays (members: a
    (5,), b (3,)); name the vectors with key=", then refused the array key='a' named
    ("holds an array of shape (5,)"); load_vectors asked "holds 2 arrays (a, b); name one
    with key=" the same way. Both now say at once that no member is 2-D, with the shapes,
    in one message (one rule: vecdiag.io.npz_vector_key); a lone array of another shape
    is refused by its shape, as in a .npy, without asking for key=."""
    from vecdiag.scale.formats import describe

    for arrays in ({"a": np.arange(5.0), "b": np.arange(3.0)},
                   {"a": np.zeros((2, 3, 4)), "ids": np.arange(2)}):
        path = tmp_path / "v.npz"
        np.savez(path, **arrays)
        listed = ", ".join(f"{n} {a.shape}" for n, a in arrays.items())
        said = (f"{path} holds no 2-D array (members: {listed}); vectors are stored one "
                "per row: write them as a 2-D array")
        with pytest.raises(ValueError) as err:
            load_vectors(path)
        assert str(err.value) == f"v.npz: {said}"
        with pytest.raises(ValueError) as err:
            describe(path, "npz", None)          # what vd.open_vectors reads each file with
        assert str(err.value) == said
    np.savez(tmp_path / "one.npz", a=np.arange(5.0))
    with pytest.raises(ValueError) as err:
        describe(tmp_path / "one.npz", "npz", None)
    assert str(err.value) == (f"{tmp_path / 'one.npz'}[a] holds an array of shape (5,); "
                              "vectors must be a 2-D array (rows, dimensions)")


def test_a_pq_file_is_read_as_parquet_as_open_vectors_reads_it(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from vecdiag.commands._inputs import load_inputs

    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    pq.write_table(pa.table({"id": ["d0", "d1", "d2"],
                             "emb": pa.array(X.tolist(), pa.list_(pa.float32(), 2))}),
                   tmp_path / "v.pq")
    loaded = load_vectors(tmp_path / "v.pq")
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, X)
    inp = load_inputs(str(tmp_path / "v.pq"))
    np.testing.assert_array_equal(inp.corpus, X)
    assert inp.ids == ["d0", "d1", "d2"]


@pytest.mark.parametrize("fixed", [False, True])
def test_an_empty_parquet_file_is_called_empty_not_of_dimension_0(tmp_path, fixed):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    kind = pa.list_(pa.float32(), 3) if fixed else pa.list_(pa.float32())
    pq.write_table(pa.table({"emb": pa.array([], kind)}), tmp_path / "e.parquet")
    with pytest.raises(ValueError, match=r"e.parquet is empty \(0 rows\); pass at least one "
                                         "vector"):
        load_vectors(tmp_path / "e.parquet")


def test_an_npz_without_arrays_says_how_to_write_one(tmp_path, capsys):
    """``np.savez(path)`` with no array (or a zip of other files) was refused with
    "holds 0 arrays (); name one with key=", a fix with nothing to name. load_vectors,
    open_vectors and ``vecdiag check`` now say the file holds no array and how to write one,
    with or without key=."""
    import zipfile

    from vecdiag.cli import main
    from vecdiag.scale.formats import describe

    np.savez(tmp_path / "empty.npz")
    with zipfile.ZipFile(tmp_path / "text.npz", "w") as archive:
        archive.writestr("readme.txt", "no vectors here")
    for name in ("empty.npz", "text.npz"):
        path = tmp_path / name
        said = (rf"{name}: {re.escape(str(path))} holds no array; write the vectors into it "
                rf"with np\.savez\({re.escape(repr(str(path)))}, embeddings=X\)$")
        for key in (None, "emb"):
            with pytest.raises(ValueError, match=said):
                load_vectors(path, key=key)
            with pytest.raises(ValueError, match=rf"^{re.escape(str(path))} holds no array; "
                               r"write the vectors into it with np\.savez\("):
                describe(path, "npz", key)   # what vd.open_vectors reads each file with
        assert main(["check", str(path)]) == 2
        assert "holds no array; write the vectors into it with np.savez(" in capsys.readouterr().err
