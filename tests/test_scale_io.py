"""vd.open_vectors: many .npy / .npz / parquet files as one lazy Dask array.

Every read is compared with an independent read of the same files (np.load, pyarrow's
to_pylist), the task graph is measured (pickled size independent of the data size, unlike
da.from_array on a memmap), and each bad input has its error.
"""

from __future__ import annotations

import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _dask_cluster import worker_tasks

da = pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")
pa = pytest.importorskip("pyarrow", reason="pyarrow not installed (pip install 'vecdiag[dask]')")
import pyarrow.parquet as pq  # noqa: E402

import vecdiag as vd  # noqa: E402
from vecdiag.scale.io import CHUNK_BYTES, natural_key  # noqa: E402


def _shards(folder, sizes, dim=5, dtype=np.float32, seed=0, names="shard-{}.npy"):
    """Write one .npy per size (numbered 0, 1, ...); return the arrays in row order."""
    rng = np.random.default_rng(seed)
    arrays = []
    for i, n in enumerate(sizes):
        a = rng.normal(size=(n, dim)).astype(dtype)
        np.save(folder / names.format(i), a)
        arrays.append(a)
    return arrays


def _graph_bytes(X) -> int:
    return len(pickle.dumps(dict(X.__dask_graph__())))


def _parquet(path, X, *, fixed=True, ids=None, row_group_size=None, column="embedding"):
    d = X.shape[1]
    if fixed:
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), d)
    else:
        vectors = pa.array([list(r) for r in X.tolist()],
                           type=pa.list_(pa.from_numpy_dtype(X.dtype)))
    columns = {column: vectors} if ids is None else {"id": pa.array(ids), column: vectors}
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)


# ---------------------------------------------------------------- .npy shards
def test_npy_shards_equal_np_load_in_natural_order(tmp_path):
    arrays = _shards(tmp_path, [7, 3, 5, 1, 4, 6, 2, 8, 9, 3, 11, 2])   # shard-0 .. shard-11
    X = vd.open_vectors(str(tmp_path / "shard-*.npy"))
    order = [f"shard-{i}.npy" for i in range(12)]            # shard-2 before shard-10
    assert [f.rsplit("/", 1)[1] for f in X.files] == order
    expected = np.concatenate([np.load(tmp_path / name) for name in order])
    assert X.shape == expected.shape and X.dtype == np.float32
    np.testing.assert_array_equal(X.compute(), expected)
    assert X.chunks[0] == tuple(a.shape[0] for a in arrays)   # small files: one chunk each
    assert X.ids is None


def test_a_list_keeps_the_order_given_and_a_folder_is_natural(tmp_path):
    arrays = _shards(tmp_path, [2, 3, 4])
    X = vd.open_vectors([tmp_path / "shard-2.npy", tmp_path / "shard-0.npy"])
    np.testing.assert_array_equal(X.compute(), np.concatenate([arrays[2], arrays[0]]))
    Y = vd.open_vectors(tmp_path)
    np.testing.assert_array_equal(Y.compute(), np.concatenate(arrays))


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=20, unique=True))
def test_natural_key_orders_numbered_names_by_number(numbers):
    names = [f"part-{n}.npy" for n in numbers]
    assert sorted(names, key=natural_key) == [f"part-{n}.npy" for n in sorted(numbers)]


def test_natural_order_of_names_with_other_digit_characters(tmp_path):
    """The character "²" is a digit to str.isdigit but not to int() (nor to the regex's
    \\d): a part of a name made of such characters crashed the sort with "invalid
    literal for int()"."""
    for n in (10, 2, 1):
        np.save(tmp_path / f"v1²{n}.npy", np.full((1, 3), n, np.float32))
    X = vd.open_vectors(tmp_path)
    assert [f.rsplit("/", 1)[1] for f in X.files] == ["v1²1.npy", "v1²2.npy", "v1²10.npy"]
    assert X[:, 0].compute().tolist() == [1.0, 2.0, 10.0]


def test_chunks_cut_each_file_and_never_span_two(tmp_path):
    arrays = _shards(tmp_path, [10, 4])
    X = vd.open_vectors(str(tmp_path / "*.npy"), chunks=4)
    assert X.chunks[0] == (4, 4, 2, 4)
    np.testing.assert_array_equal(X.compute(), np.concatenate(arrays))
    # the blocks are what a row slice of the files gives
    np.testing.assert_array_equal(X.blocks[2].compute(), arrays[0][8:10])


def test_default_chunks_aim_at_64_to_128_mb(tmp_path):
    # a 300 MB file (not written: a sparse .npy of zeros) is cut into 3 chunks of ~100 MB
    n, d = 200_000, 384
    mm = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32,
                                   shape=(n, d))
    del mm
    X = vd.open_vectors(tmp_path / "big.npy")
    sizes = [rows * d * 4 for rows in X.chunks[0]]
    assert len(sizes) == 3 and sum(X.chunks[0]) == n
    assert all(64 * 2**20 <= s <= CHUNK_BYTES for s in sizes), sizes


def test_the_graph_stays_small_whatever_the_data_size(tmp_path):
    """One small task per chunk: the pickled graph does not grow with the rows."""
    (tmp_path / "small").mkdir()
    (tmp_path / "large").mkdir()
    _shards(tmp_path / "small", [100] * 4, dim=64)
    _shards(tmp_path / "large", [50_000] * 4, dim=64)
    small = vd.open_vectors(str(tmp_path / "small" / "*.npy"))
    large = vd.open_vectors(str(tmp_path / "large" / "*.npy"))
    assert small.numblocks == large.numblocks == (4, 1)
    assert _graph_bytes(large) < 4096
    assert abs(_graph_bytes(large) - _graph_bytes(small)) < 64   # path lengths only
    # the trap it avoids: a memmap wrapped by da.from_array travels inside the graph
    trap = da.from_array(np.load(tmp_path / "large" / "shard-0.npy", mmap_mode="r"),
                         chunks=(12_500, 64))
    assert _graph_bytes(trap) > 50_000 * 64 * 4


def test_other_real_dtypes_are_read_as_float64_and_float64_is_kept(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(6, dtype=np.int16).reshape(3, 2))
    X = vd.open_vectors(tmp_path / "a.npy")
    assert X.dtype == np.float64
    np.testing.assert_array_equal(X.compute(), np.arange(6.0).reshape(3, 2))
    np.save(tmp_path / "b.npy", np.ones((2, 2)))
    assert vd.open_vectors(tmp_path / "b.npy").dtype == np.float64


def test_fortran_ordered_files_read_as_c_ordered_rows(tmp_path):
    A = np.asfortranarray(np.arange(20.0, dtype=np.float32).reshape(5, 4))
    np.save(tmp_path / "f.npy", A)
    for direct in (False, True):
        X = vd.open_vectors(tmp_path / "f.npy", chunks=2, direct=direct).compute()
        np.testing.assert_array_equal(X, A)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, ">f4"])
def test_direct_reads_equal_np_load_at_any_row_offset(tmp_path, dtype):
    """O_DIRECT reads whole 4 KB units around each chunk: rows that start mid-unit, chunks
    of odd sizes and the file's last partial unit come out as np.load gives them."""
    rng = np.random.default_rng(4)
    A = (rng.normal(size=(1001, 37)) * 100).astype(dtype)
    np.save(tmp_path / "a.npy", A)
    for chunks in (1, 7, 333, 1001):
        X = vd.open_vectors(tmp_path / "a.npy", chunks=chunks, direct=True)
        np.testing.assert_array_equal(X.compute(), A.astype(X.dtype))
        assert (X.row_sources is None) == (np.dtype(dtype) != np.float32
                                           and np.dtype(dtype) != np.float64)
    with pytest.raises(TypeError, match="direct must be True, False or None"):
        vd.open_vectors(tmp_path / "a.npy", direct="yes")


def test_a_truncated_file_is_named_when_read(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((100, 8), np.float32))
    X = vd.open_vectors(tmp_path / "a.npy", chunks=50)
    with open(tmp_path / "a.npy", "r+b") as handle:
        handle.truncate(128 + 60 * 32)
    with pytest.raises(ValueError, match=r"a\.npy ended .* bytes before the rows"):
        X.compute()


@pytest.mark.parametrize("A", [np.ones((100, 8), np.float16),            # read as float64
                               np.ones((100, 8), ">f4"),                  # byte-swapped
                               np.asfortranarray(np.ones((100, 8)))],     # column order
                         ids=["float16", "big-endian", "fortran"])
def test_a_truncated_file_read_through_a_memmap_is_named_too(tmp_path, A):
    """The files not read with one pread (converted, or column-ordered) go through a
    memmap, which refused a short file with numpy's "mmap length is greater than file
    size", naming neither the file nor the cause."""
    np.save(tmp_path / "a.npy", A)
    with open(tmp_path / "a.npy", "r+b") as handle:
        handle.truncate(128 + 60 * 8 * A.itemsize + 3)
    X = vd.open_vectors(tmp_path / "a.npy", chunks=50)
    with pytest.raises(ValueError, match=r"a\.npy ended .* bytes before the rows"):
        X.compute()


# ---------------------------------------------------------------- ids
def test_npy_sidecar_ids_are_read_in_row_order(tmp_path):
    _shards(tmp_path, [2, 3])
    (tmp_path / "shard-0_ids.txt").write_text("a\nb\n")
    (tmp_path / "shard-1_ids.txt").write_text("c\nd\ne\n\n")
    X = vd.open_vectors(str(tmp_path / "shard-*"))          # the sidecars match too: left out
    assert X.ids.tolist() == ["a", "b", "c", "d", "e"]
    assert len(X.files) == 2
    # a byte-order mark (Windows editors) is not part of the first id
    (tmp_path / "shard-0_ids.txt").write_text("\ufeffa\r\nb\r\n", encoding="utf-8")
    assert vd.open_vectors(str(tmp_path / "*.npy")).ids.tolist()[:2] == ["a", "b"]
    (tmp_path / "shard-0_ids.txt").write_bytes("\u00e9\nb\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"shard-0_ids\.txt is not UTF-8 text"):
        vd.open_vectors(str(tmp_path / "*.npy"))


def test_sidecar_ids_on_some_shards_only_or_miscounted_are_errors(tmp_path):
    _shards(tmp_path, [2, 3])
    (tmp_path / "shard-0_ids.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match=r"1 of the 2 files have ids.*shard-1\.npy"):
        vd.open_vectors(str(tmp_path / "*.npy"))
    (tmp_path / "shard-1_ids.txt").write_text("c\n")
    with pytest.raises(ValueError, match=r"shard-1_ids\.txt lists 1 ids but its shard has 3"):
        vd.open_vectors(str(tmp_path / "*.npy"))


def test_sidecar_ids_read_as_other_id_files(tmp_path):
    """A sidecar is read like every ids file (vecdiag._textfile.id_lines, compared here
    with a plain split on "\n"): "d1 " kept its space (no qrels line can name it), a
    blank line in the middle became an id "" instead of an error, and a form feed or
    U+2028 inside an id split it in two (str.splitlines), miscounting the ids."""
    _shards(tmp_path, [3])
    side = tmp_path / "shard-0_ids.txt"
    side.write_bytes(b"d1 \r\n\td2\r\nd\x0c3\n\n")
    expected = [line.strip() for line in side.read_text().split("\n") if line.strip()]
    assert vd.open_vectors(tmp_path / "shard-0.npy").ids.tolist() == expected
    assert expected == ["d1", "d2", "d\x0c3"]
    side.write_text("d1\nd\u20282\nd3\n", encoding="utf-8")
    assert vd.open_vectors(tmp_path / "shard-0.npy").ids.tolist() == ["d1", "d\u20282", "d3"]
    side.write_text("d1\n\nd3\n")
    with pytest.raises(ValueError, match=r"shard-0_ids\.txt: 1 blank line.*line 2"):
        vd.open_vectors(tmp_path / "shard-0.npy")


def test_sidecar_ids_keep_the_unicode_spaces_a_qrels_file_keeps(tmp_path):
    """trec_eval strips only ASCII whitespace from a qrels id ("d1<U+00A0>" is its own
    id); an ids file was stripped with str.strip(), which also drops U+00A0 and U+3000,
    so the id no longer matched its judgments. bytes.strip() strips C's six."""
    _shards(tmp_path, [2])
    side = tmp_path / "shard-0_ids.txt"
    side.write_text("d1\u00a0 \n\u3000d2\n", encoding="utf-8")
    expected = [line.strip().decode() for line in side.read_bytes().splitlines()]
    assert vd.open_vectors(tmp_path / "shard-0.npy").ids.tolist() == expected
    assert expected == ["d1\u00a0", "\u3000d2"]


def test_npz_key_selects_the_array_and_ids_come_along(tmp_path):
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)).astype(np.float32)
    np.savez(tmp_path / "x.npz", docs=A, other=B, ids=np.array(["p", "q", "r", "s"]))
    with pytest.raises(ValueError, match=r"2 2-D arrays.*docs \(4, 3\).*key="):
        vd.open_vectors(tmp_path / "x.npz")
    X = vd.open_vectors(tmp_path / "x.npz", key="other")
    np.testing.assert_array_equal(X.compute(), np.load(tmp_path / "x.npz")["other"])
    assert X.dtype == np.float32 and X.ids.tolist() == ["p", "q", "r", "s"]
    np.savez_compressed(tmp_path / "y.npz", A)
    Y = vd.open_vectors(tmp_path / "y.npz")
    np.testing.assert_array_equal(Y.compute(), A)
    assert Y.ids is None
    with pytest.raises(ValueError, match=r"no array 'nope'.*arr_0"):
        vd.open_vectors(tmp_path / "y.npz", key="nope")


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_an_npz_member_is_inflated_outside_the_header_lock(tmp_path, monkeypatch, save):
    # np.load(path)[key] parsed the header and read the whole body under the one lock
    # every header parse takes, so the tasks reading the .npz files of one corpus
    # inflated them one at a time; now only the header is read under it. Fortran order,
    # big-endian and float16 members come back as np.load gives them.
    import zipfile

    from vecdiag.scale import formats, npy

    rng = np.random.default_rng(4)
    members = {"f": np.asfortranarray(rng.normal(size=(40, 5))),
               "b": rng.normal(size=(30, 4)).astype(">f4"),
               "h": rng.normal(size=(20, 9)).astype(np.float16)}
    save(tmp_path / "m.npz", **members)
    reads = []
    plain_read = zipfile.ZipExtFile.read

    def read(self, n=-1):
        out = plain_read(self, n)
        reads.append((len(out), npy.HEADER_LOCK.locked()))
        return out

    monkeypatch.setattr(zipfile.ZipExtFile, "read", read)
    for key, want in members.items():
        reads.clear()
        got = formats.read_npz_array(str(tmp_path / "m.npz"), key, np.float64,
                                     (want.shape, want.dtype))
        np.testing.assert_array_equal(got, want.astype(np.float64))
        assert got.flags.c_contiguous and got.dtype == np.float64
        body = max(reads)
        assert body == (want.nbytes, False), reads


# ---------------------------------------------------------------- parquet
@pytest.mark.parametrize("fixed", [True, False], ids=["fixed_size_list", "list"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parquet_vectors_equal_pyarrows_rows(tmp_path, fixed, dtype):
    rng = np.random.default_rng(2)
    parts = [rng.normal(size=(n, 6)).astype(dtype) for n in (250, 130)]
    for i, P in enumerate(parts):
        _parquet(tmp_path / f"part-{i}.parquet", P, fixed=fixed, row_group_size=100,
                 ids=[f"d{i}-{j}" for j in range(len(P))])
    X = vd.open_vectors(str(tmp_path / "*.parquet"), chunks=200)
    reference = np.concatenate([np.array(pq.read_table(tmp_path / f"part-{i}.parquet")
                                         .column("embedding").to_pylist(), dtype=dtype)
                                for i in range(2)])
    assert X.dtype == dtype
    np.testing.assert_array_equal(X.compute(), reference)
    # whole row groups per chunk, at most 200 rows: (100 + 100 | 50 ; 100 + 30)
    assert X.chunks[0] == (200, 50, 130)
    assert X.ids[:2].tolist() == ["d0-0", "d0-1"] and X.ids[-1] == "d1-129"


def test_parquet_integer_ids_and_a_named_column(tmp_path):
    X = np.arange(12.0).reshape(4, 3)
    table = pa.table({"id": pa.array([10, 11, 12, 13]),
                      "a": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 3),
                      "b": pa.FixedSizeListArray.from_arrays(pa.array(-X.ravel()), 3)})
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(ValueError, match=r"2 vector \(list\) columns.*a \(fixed_size_list"):
        vd.open_vectors(tmp_path / "t.parquet")
    Y = vd.open_vectors(tmp_path / "t.parquet", key="b")
    np.testing.assert_array_equal(Y.compute(), -X)
    assert Y.ids.dtype == np.int64 and Y.ids.tolist() == [10, 11, 12, 13]


def _traced_peak(f):
    import tracemalloc

    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_parquet_decoding_goes_through_no_python_objects(tmp_path):
    """The per-chunk decoder uses pyarrow's flat buffers: the Python-side peak is about
    the output array (NumPy's allocations are traced, Arrow's buffers are not), where a
    decode through Python floats (to_pylist) peaks at several times that."""
    from vecdiag.scale import formats

    X = np.random.default_rng(3).normal(size=(20_000, 16))
    _parquet(tmp_path / "v.parquet", X, fixed=False)
    path = str(tmp_path / "v.parquet")
    got = formats.read_parquet_groups(path, "embedding", (0,), 16, np.float64)
    np.testing.assert_array_equal(got, X)
    ours = _traced_peak(lambda: formats.read_parquet_groups(path, "embedding", (0,), 16,
                                                            np.float64))
    via_objects = _traced_peak(lambda: np.array(pq.read_table(path).column(0).to_pylist()))
    assert ours < 1.5 * X.nbytes < via_objects, (ours, X.nbytes, via_objects)


def test_ragged_or_missing_parquet_vectors_fail_when_read_naming_the_file(tmp_path):
    table = pa.table({"v": pa.array([[1.0, 2.0], [3.0], [4.0, 5.0]])})
    pq.write_table(table, tmp_path / "r.parquet")
    X = vd.open_vectors(tmp_path / "r.parquet")
    with pytest.raises(ValueError, match=r"r\.parquet.*1 rows do not have 2 values .*row 1 "
                                         r"has 1"):
        X.compute(scheduler="sync")
    pq.write_table(pa.table({"v": pa.array([[1.0, 2.0], None])}), tmp_path / "n.parquet")
    with pytest.raises(ValueError, match=r"n\.parquet.*1 missing vectors \(first at row 1"):
        vd.open_vectors(tmp_path / "n.parquet").compute(scheduler="sync")


@pytest.mark.parametrize("spoil, message", [
    (lambda rows: rows[7].pop(), r"1 rows do not have 4 values \(first: file row 7 has 3\)"),
    (lambda rows: rows.__setitem__(8, None), r"1 missing vectors \(first at row 8 of the file\)"),
    (lambda rows: rows[8].__setitem__(2, None),
     r"1 missing numbers inside vectors \(first at row 8 of the file\)"),
], ids=["ragged", "missing vector", "missing number"])
def test_bad_parquet_rows_in_a_later_row_group_are_named_by_their_file_row(tmp_path, spoil,
                                                                          message):
    """Row groups of 3 rows, one chunk per group: the bad row is in the third group.
    Its row number within the chunk's groups (1 or 2) was given as "row 1", which is a
    good row of the file."""
    rows = np.arange(40, dtype=np.float32).reshape(10, 4).tolist()
    spoil(rows)
    bad = [i for i, r in enumerate(rows) if r is None or len(r) != 4 or None in r]
    pq.write_table(pa.table({"v": pa.array(rows, pa.list_(pa.float32()))}),
                   tmp_path / "p.parquet", row_group_size=3)
    assert bad[0] // 3 == 2 and pq.ParquetFile(tmp_path / "p.parquet").num_row_groups == 4
    X = vd.open_vectors(tmp_path / "p.parquet", chunks=3)
    with pytest.raises(ValueError, match=r"p\.parquet \(row groups 2-2\).*" + message):
        X.compute(scheduler="sync")


def test_parquet_empty_first_vector_is_a_ragged_row(tmp_path):
    """A variable-length column whose first row is an empty list: the dimension was
    taken from it, so the file was refused as "vectors of dimension 0 (3 rows of
    nothing)". The dimension is now that of the first non-empty row (pyarrow's own
    lengths), and the empty row is named when read."""
    table = pa.table({"v": pa.array([[], [1.0, 2.0], [3.0, 4.0]])})
    pq.write_table(table, tmp_path / "e.parquet")
    lengths = [len(r) for r in pq.read_table(tmp_path / "e.parquet").column("v").to_pylist()]
    X = vd.open_vectors(tmp_path / "e.parquet")
    assert X.shape == (len(lengths), max(lengths))
    with pytest.raises(ValueError, match=r"e\.parquet.*1 rows do not have 2 values .*row 0 "
                                         r"has 0"):
        X.compute(scheduler="sync")
    pq.write_table(pa.table({"v": pa.array([[], []], pa.list_(pa.float32()))}),
                   tmp_path / "all.parquet")
    with pytest.raises(ValueError, match=r"all\.parquet holds vectors of dimension 0"):
        vd.open_vectors(tmp_path / "all.parquet")


# ---------------------------------------------------------------- errors
def test_no_match_says_the_pattern(tmp_path):
    pattern = str(tmp_path / "nothing-*.npy")
    with pytest.raises(FileNotFoundError, match=r"no file matches .*nothing-\*\.npy"):
        vd.open_vectors(pattern)
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        vd.open_vectors(tmp_path / "missing.npy")
    with pytest.raises(FileNotFoundError, match="holds no .npy"):
        vd.open_vectors(tmp_path)


def test_paths_with_glob_characters_spaces_and_unicode_are_taken_as_named(tmp_path):
    """A file or folder that exists is opened as named, though "[1]" reads as a glob
    character class (which matches "1", not "[1]")."""
    folder = tmp_path / "run [1] é"
    folder.mkdir()
    arrays = _shards(folder, [3, 4], names="shard-{}.npy")
    for path in (folder / "shard-1.npy", folder):
        X = vd.open_vectors(path)
        expected = arrays[1] if path != folder else np.concatenate(arrays)
        np.testing.assert_array_equal(X.compute(), expected)
    with pytest.raises(FileNotFoundError, match="no file matches"):
        vd.open_vectors(str(folder / "shard-*.npy"))   # a glob: "[1]" matches "1" only


def test_mixed_dimensions_name_the_files_and_shapes(tmp_path):
    np.save(tmp_path / "s-1.npy", np.ones((3, 4), np.float32))
    np.save(tmp_path / "s-2.npy", np.ones((5, 8), np.float32))
    with pytest.raises(ValueError, match=r"different dimensions: .*s-1\.npy \(3, 4\); "
                                         r".*s-2\.npy \(5, 8\)"):
        vd.open_vectors(str(tmp_path / "*.npy"))


def test_mixed_dtypes_name_the_files(tmp_path):
    np.save(tmp_path / "s-1.npy", np.ones((3, 4), np.float32))
    np.save(tmp_path / "s-2.npy", np.ones((3, 4), np.float64))
    with pytest.raises(TypeError, match=r"different dtypes: .*s-1\.npy float32; "
                                        r".*s-2\.npy float64"):
        vd.open_vectors(str(tmp_path / "*.npy"))


def test_non_numeric_data_is_refused(tmp_path):
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    with pytest.raises(TypeError, match=r"s\.npy holds <U1 values, not numbers"):
        vd.open_vectors(tmp_path / "s.npy")
    pq.write_table(pa.table({"v": pa.array([["a", "b"]])}), tmp_path / "s.parquet")
    with pytest.raises(TypeError, match=r"column 'v' of .*s\.parquet holds object values"):
        vd.open_vectors(tmp_path / "s.parquet")


def test_a_parquet_column_that_is_not_a_vector(tmp_path):
    X = np.ones((2, 3))
    _parquet(tmp_path / "t.parquet", X, ids=["a", "b"])
    with pytest.raises(TypeError, match=r"column 'id' .* is string, not a vector column"):
        vd.open_vectors(tmp_path / "t.parquet", key="id")
    with pytest.raises(ValueError, match=r"no column 'emb' \(columns: id, embedding\)"):
        vd.open_vectors(tmp_path / "t.parquet", key="emb")


@pytest.mark.parametrize("call, error, message", [
    (lambda p: vd.open_vectors([]), TypeError, "non-empty list"),
    (lambda p: vd.open_vectors(p, chunks=0), ValueError, "chunks must be a positive"),
    (lambda p: vd.open_vectors(p, key=3), TypeError, "key must be a str"),
    (lambda p: vd.open_vectors(p, key="x"), ValueError, "drop key="),
    (lambda p: vd.open_vectors([p, p]), ValueError, "twice"),
])
def test_bad_arguments(tmp_path, call, error, message):
    _shards(tmp_path, [2])
    with pytest.raises(error, match=message):
        call(tmp_path / "shard-0.npy")


def test_mixed_formats_and_foreign_files_in_a_glob(tmp_path):
    _shards(tmp_path, [2])
    np.savez(tmp_path / "z.npz", np.ones((2, 5)))
    with pytest.raises(ValueError, match="mix formats"):
        vd.open_vectors(str(tmp_path / "*"))
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(ValueError, match=r"not \.npy, \.npz or \.parquet .*notes\.md"):
        vd.open_vectors(str(tmp_path / "*"))


def test_a_glob_of_upper_case_shards_leaves_their_id_sidecars_out(tmp_path):
    """A.NPY is a .npy shard and A_ids.txt its ids, as when the folder is opened; the glob
    "*" refused the sidecar as a foreign file (it looked for "A.npy" among the matches)."""
    np.save(tmp_path / "A.npy", np.eye(3, dtype=np.float32))
    (tmp_path / "A.npy").rename(tmp_path / "A.NPY")
    (tmp_path / "A_ids.txt").write_text("a\nb\nc\n")
    for opened in (vd.open_vectors(tmp_path), vd.open_vectors(str(tmp_path / "*"))):
        assert opened.ids.tolist() == ["a", "b", "c"]
        np.testing.assert_array_equal(opened.compute(), np.eye(3))
    (tmp_path / "B_ids.txt").write_text("x\n")                  # no shard B: foreign
    with pytest.raises(ValueError, match=r"not \.npy, \.npz or \.parquet .*B_ids\.txt"):
        vd.open_vectors(str(tmp_path / "*"))


def test_one_dimensional_files_are_refused(tmp_path):
    np.save(tmp_path / "v.npy", np.ones(4))
    with pytest.raises(ValueError, match=r"shape \(4,\); vectors must be a 2-D array"):
        vd.open_vectors(tmp_path / "v.npy")


# ---------------------------------------------------------------- where it runs
def test_open_vectors_does_not_import_dask_until_called():
    code = ("import sys, vecdiag as vd; f = vd.open_vectors; "
            "print('dask' in sys.modules, f.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "vecdiag.scale.io"]


def test_the_workers_read_the_files_themselves(tmp_path, dask_client):
    arrays = _shards(tmp_path, [300, 200, 100], dim=16)
    X = vd.open_vectors(str(tmp_path / "*.npy"), chunks=100)
    with worker_tasks(dask_client) as ran:
        total = X.sum(axis=0).compute()
    np.testing.assert_allclose(total, np.concatenate(arrays).sum(axis=0, dtype=np.float64),
                               rtol=1e-5)
    assert ran.workers <= set(dask_client.scheduler_info()["workers"])
    loaders = [r for r in ran.records if r["key"][0].startswith("open-vectors-")]
    assert len(loaders) == 6 and len(ran.workers) == 2


def test_direct_reads_fall_back_to_the_page_cache_where_refused(tmp_path, monkeypatch):
    """A file system that refuses O_DIRECT at open (EINVAL), or accepts it and then fails
    the read, still gives the rows: the same reads go through the page cache."""
    import errno
    import os

    from vecdiag.scale import direct

    A = np.arange(300, dtype=np.float32).reshape(25, 12)
    np.save(tmp_path / "a.npy", A)
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        pytest.skip("this system has no O_DIRECT: reads always go through the page cache")
    real_open, real_preadv = os.open, os.preadv
    direct_fds = set()

    def refuse_open(path, flags, *args):
        if flags & flag:
            raise OSError(errno.EINVAL, "O_DIRECT refused")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refuse_open)
    np.testing.assert_array_equal(direct.read_rows(str(tmp_path / "a.npy"), 3, 20, direct=True),
                                  A[3:20])

    import fcntl

    def failing_preadv(fd, buffers, offset):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & flag:           # a read on an O_DIRECT file
            direct_fds.add(fd)
            raise OSError(errno.EINVAL, "unaligned")
        return real_preadv(fd, buffers, offset)

    monkeypatch.setattr(os, "open", real_open)
    monkeypatch.setattr(os, "preadv", failing_preadv)
    np.testing.assert_array_equal(direct.read_rows(str(tmp_path / "a.npy"), 0, 25, direct=True), A)
    assert direct_fds                                        # O_DIRECT was tried first


def test_a_failed_read_reaches_the_consumer_and_an_early_stop_ends_the_reader(tmp_path):
    """stream_rows' background reader: a truncated file raises in the consumer (with the
    row it could not read); a consumer that stops while the reader fails, or waits with a
    full queue, does not hang (the reader gives up once the consumer has stopped)."""
    import threading
    import time

    from vecdiag.scale import direct

    A = np.arange(40 * 4, dtype=np.float64).reshape(40, 4)
    path = tmp_path / "cut.npy"
    np.save(path, A)
    with open(path, "r+b") as f:                          # rows 20-39 promised, not there
        f.truncate(path.stat().st_size - 20 * 4 * 8)
    got = []
    with pytest.raises(ValueError, match=r"ended .* before the rows its header promises"):
        for a, P in direct.stream_rows(str(path), 0, 40, 10):
            got.append(P[:, 0].copy())
    assert [g[0] for g in got] == [0.0, 40.0]

    def stop_early():
        pieces = direct.stream_rows(str(path), 0, 40, 10)
        first = next(pieces)[1][0, 0]
        time.sleep(0.3)           # the reader has queued rows 10-19 and failed at row 20
        pieces.close()
        done.append(first)

    done = []
    worker = threading.Thread(target=stop_early, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive() and done == [0.0]


def test_shards_as_they_come_big_endian_numpy_ints_and_what_is_refused(tmp_path):
    """Big-endian float32 stays float32 (native order); a NumPy integer is a number of
    rows; a dimension of 0, a dangling link in a folder and .npz ids of the wrong length
    or of Python objects are refused by name (they were accepted, then failed later, or
    their rows or ids went missing without a word)."""
    X = np.random.default_rng(0).normal(size=(6, 4))
    np.save(tmp_path / "a.npy", X.astype(">f4"))
    V = vd.open_vectors(str(tmp_path / "a.npy"), chunks=np.int64(2))
    assert V.dtype == np.float32 and V.chunks[0] == (2, 2, 2)
    np.testing.assert_array_equal(V.compute(), X.astype(np.float32))
    empty = tmp_path / "flat"
    empty.mkdir()
    np.save(empty / "z.npy", np.zeros((4, 0)))
    with pytest.raises(ValueError, match=r"z\.npy holds vectors of dimension 0"):
        vd.open_vectors(str(empty))
    np.savez(tmp_path / "b.npz", docs=X, ids=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"b\.npz\[ids\] has shape \(2,\) but .* 6 rows"):
        vd.open_vectors(str(tmp_path / "b.npz"))
    np.savez(tmp_path / "c.npz", docs=X, ids=np.array(list("abcdef"), dtype=object))
    with pytest.raises(ValueError, match=r"c\.npz\[ids\] holds Python objects"):
        vd.open_vectors(str(tmp_path / "c.npz"))
    linked = tmp_path / "linked"
    linked.mkdir()
    np.save(linked / "a-1.npy", X)
    (linked / "a-2.npy").symlink_to(tmp_path / "gone.npy")
    with pytest.raises(FileNotFoundError, match=r"a-2\.npy.*link to a file that does not"):
        vd.open_vectors(str(linked))


def test_a_folder_leaves_hidden_files_out_as_a_glob_does(tmp_path):
    arrays = _shards(tmp_path, [2, 3], dim=3)
    (tmp_path / "._shard-0.npy").write_bytes(b"\x00\x05\x16\x07 macOS metadata")
    np.save(tmp_path / ".old.npy", np.full((4, 3), 9, np.float32))
    X = vd.open_vectors(tmp_path)
    assert [f.split("/")[-1] for f in X.files] == ["shard-0.npy", "shard-1.npy"]
    np.testing.assert_array_equal(X.compute(), np.concatenate(arrays))
    np.testing.assert_array_equal(vd.open_vectors(str(tmp_path / "*.npy")).compute(),
                                  np.concatenate(arrays))


@pytest.mark.parametrize("rewrite", [np.full((2, 3), 5, np.float32),    # fewer rows
                                     np.full((4, 3), 5, np.float64),    # another dtype
                                     np.full((3, 4), 5, np.float32)])   # another dim
def test_a_file_written_over_after_opening_is_an_error_not_rows_of_another_shape(
        tmp_path, rewrite):
    np.save(tmp_path / "a.npy", np.ones((4, 3), np.float32))
    X = vd.open_vectors(tmp_path / "a.npy", direct=False)
    np.save(tmp_path / "a.npy", rewrite)
    shown = f"{rewrite.shape} {rewrite.dtype}"
    with pytest.raises(ValueError, match=rf"a.npy changed after vd.open_vectors opened it: "
                                         rf"it held \(4, 3\) float32, it now holds "
                                         rf"{re.escape(shown)}; call vd.open_vectors again"):
        X.compute()


def test_an_npz_or_parquet_written_over_after_opening_is_an_error_too(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.ones((4, 3), np.float32))
    X = vd.open_vectors(tmp_path / "a.npz")
    np.savez(tmp_path / "a.npz", x=np.ones((2, 3), np.float32))     # X.compute() was (2, 3)
    with pytest.raises(ValueError, match=r"a.npz changed after vd.open_vectors opened it: it "
                                         r"held \(4, 3\) float32, it now holds \(2, 3\) "
                                         "float32; call vd.open_vectors again"):
        X.compute()
    rows = pa.array(np.ones((4, 3), np.float32).tolist(), pa.list_(pa.float32()))
    pq.write_table(pa.table({"emb": rows}), tmp_path / "a.parquet", row_group_size=2)
    X = vd.open_vectors(tmp_path / "a.parquet")
    pq.write_table(pa.table({"emb": rows}), tmp_path / "a.parquet", row_group_size=1)
    with pytest.raises(ValueError, match=r"it held 4 rows in 2 row groups, those read here "
                                         r"of 2, 2 rows, it now holds 4 rows in 4 row "
                                         r"groups, those read here of 1, 1 rows"):
        X.compute()                                     # was (2, 3): groups 0-1 of 1 row


def test_a_dangling_link_matched_by_a_glob_is_an_error_as_in_a_folder(tmp_path):
    _shards(tmp_path, [2], dim=3)
    (tmp_path / "shard-1.npy").symlink_to(tmp_path / "gone.npy")   # X was (2, 3), rows lost
    with pytest.raises(FileNotFoundError, match=r"shard-1.npy', matched by the glob .*, is a "
                                                "link to a file that does not exist"):
        vd.open_vectors(str(tmp_path / "shard-*.npy"))


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
@pytest.mark.parametrize("fortran", [False, True])
@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_chunk_readers_parse_every_header_under_the_one_lock(tmp_path, monkeypatch, dtype,
                                                            fortran, kind):
    """CPython 3.11's AST constructor is not thread-safe (python/cpython#106905): Dask's
    threads reading chunks of one converted int16 .npy through np.load each parsed its
    header with ast.literal_eval at once, and CI failed with "SystemError: AST
    constructor recursion depth mismatch". Every header a chunk task parses (npy rows
    through a memmap, Fortran order, npz members) is now parsed under
    vecdiag.scale.npy.HEADER_LOCK."""
    import ast

    import dask

    from vecdiag.scale.npy import HEADER_LOCK

    A = (np.arange(600.0).reshape(100, 6) * 3).astype(dtype)
    if fortran:
        A = np.asfortranarray(A)
    path = tmp_path / f"a.{kind}"
    (np.save if kind == "npy" else np.savez)(path, A)
    outside = []
    parse = ast.literal_eval

    def checked(text):
        if not HEADER_LOCK.locked():
            outside.append(text)
        return parse(text)

    X = vd.open_vectors(path, chunks=7)
    monkeypatch.setattr(ast, "literal_eval", checked)
    with dask.config.set(scheduler="synchronous"):
        got = X.compute()
    np.testing.assert_array_equal(got, A.astype(got.dtype))
    assert outside == []
