"""Vectors as engineers hold them outside NumPy (raw bytes, structured arrays, DataFrames
with other columns, ragged lists, tensors among rows, pyarrow lists, text, dicts): read
exactly as the float array, or refused naming the argument, the rows or columns and the
fix. Also: a norm does not depend on how the rows are stored."""

from __future__ import annotations

import numpy as np
import pytest

import vecdiag as vd
from vecdiag import _validate as V


def test_raw_bytes_are_refused_with_the_decoding_line():
    """A float32 vector stored as a blob (SQLite, Redis): a bytearray or memoryview of it
    was read as one number 0..255 per byte, cos 0.874 instead of 10/14 = 0.714."""
    a = np.array([1.0, 2.0, 3.0], np.float32).tobytes()
    b = np.array([3.0, 2.0, 1.0], np.float32).tobytes()
    for wrap in (bytes, bytearray, memoryview):
        with pytest.raises(TypeError, match=r"a is raw bytes \(12 bytes\).*"
                                            r"np\.frombuffer\(a, dtype=np\.float32\)"):
            vd.cosine(wrap(a), wrap(b))
    with pytest.raises(TypeError, match=r"corpus holds raw bytes \(dtype \|S12\).*"
                                        r"np\.frombuffer\(b, dtype=np\.float32\) for b in corpus"):
        vd.knn(np.ones((1, 3)), [a, b], k=1)
    decoded = [np.frombuffer(v, dtype=np.float32) for v in (a, b)]
    assert vd.cosine(*decoded) == pytest.approx(10 / 14, abs=1e-7)
    assert vd.cosine(memoryview(np.array([1.0, 2.0, 3.0])), [3.0, 2.0, 1.0]) == \
        vd.cosine([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])      # a typed memoryview holds numbers


def test_structured_arrays_are_refused_naming_their_fields():
    """A record array (np.genfromtxt(names=True), a table read by h5py) was refused with
    'non-numeric dtype ...; pass numbers, not text' although its fields hold numbers."""
    from numpy.lib import recfunctions
    rec = np.array([(1.0, 2.0, b"x"), (3.0, 4.0, b"y"), (0.5, -1.0, b"z")],
                   dtype=[("a", "f4"), ("b", "f4"), ("tag", "S1")])
    for X in (rec, rec.view(np.recarray)):
        with pytest.raises(TypeError, match=r"corpus is a structured array with fields 'a', "
                           r"'b', 'tag'; .*structured_to_unstructured\(corpus\[\['a', 'b'\]\]\)"):
            vd.knn(X, X, k=2)
    plain = recfunctions.structured_to_unstructured(rec[["a", "b"]])
    np.testing.assert_array_equal(plain, np.array([[1, 2], [3, 4], [0.5, -1]], np.float32))
    emb = np.zeros(2, dtype=[("id", "i8"), ("emb", "f4", (3,))])
    with pytest.raises(TypeError, match=r"pass the field that holds the vectors, X\['emb'\]"):
        vd.pca(emb)


def test_dataframe_columns_that_are_not_numbers_are_named():
    """A frame with an id or a flag beside the vector's columns was refused as 'dtype
    object (mixed or ragged entries...)', naming no column; a vector column whose first
    row is missing was not recognised as one."""
    pd = pytest.importorskip("pandas")
    X = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    frame = pd.DataFrame({"doc": ["a", "b", "c"], "x": X[:, 0], "y": X[:, 1],
                          "seen": [True, False, True]})
    before = frame.copy()
    with pytest.raises(TypeError, match=r"corpus is a DataFrame with 2 columns that are not "
                       r"numeric: 'doc' \(\w+\), 'seen' \(bool\); .*corpus\.drop\(columns="
                       r"\['doc', 'seen'\]\)"):
        vd.knn(X, frame, k=1)
    pd.testing.assert_frame_equal(frame, before)
    kept = vd.knn(X, frame.drop(columns=["doc", "seen"]), k=2)
    assert kept.indices.tolist() == [[0, 1], [1, 2], [2, 1]]
    np.testing.assert_array_equal(kept.scores, vd.knn(X, X, k=2).scores)
    gaps = pd.DataFrame({"emb": [None, X[1], X[2]]})
    with pytest.raises(TypeError, match=r"column 'emb' holds one vector per row; pass "
                       r"np\.stack\(corpus\['emb'\]\); 1 row \(0\) without a vector"):
        vd.knn(X, gaps, k=1)
    flags = pd.DataFrame({"a": [True, False], "b": [False, False]})   # binary vectors
    np.testing.assert_array_equal(V.as_matrix(flags), [[1.0, 0.0], [0.0, 0.0]])


def test_ragged_rows_are_named_with_their_lengths():
    """A list of vectors with a few short rows (a truncated write, two models mixed) was
    refused with NumPy's 'inhomogeneous shape after 1 dimensions', naming no row."""
    rows = [np.ones(4)] * 6
    rows[1], rows[4] = np.ones(3), np.ones(5)
    with pytest.raises(ValueError, match=r"corpus is ragged: most rows hold 4 numbers, "
                       r"2 rows \(1, 4\) another length \(3, 5\); .*drop or re-embed"):
        vd.Index(rows)
    with pytest.raises(ValueError, match=r"queries is ragged: most rows hold 2 numbers, "
                       r"1 row \(0\) another length \(a single number\)"):
        vd.knn([7.0, [1.0, 2.0], [3.0, 4.0]], np.ones((2, 2)), k=1)


def test_norms_do_not_depend_on_how_the_rows_are_stored():
    """The same numbers in a Fortran-ordered array, a column slice or a float32
    DataFrame's values had norms one bit off those of C-ordered rows (einsum sums a
    strided row in another order), so normalize and cosine_matrix differed too."""
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(0).normal(size=(40, 8))
    F, column = np.asfortranarray(X), np.ascontiguousarray(X.T)[0]
    assert vd.norm(X[:, 0]) == vd.norm(column) == 5.188579771066961
    np.testing.assert_array_equal(vd.normalize(F), vd.normalize(X))
    np.testing.assert_array_equal(vd.cosine_matrix(F), vd.cosine_matrix(X))
    X32 = X.astype(np.float32)
    np.testing.assert_array_equal(vd.normalize(pd.DataFrame(X32)), vd.normalize(X32))
    np.testing.assert_array_equal(vd.normalize(X32[:, ::-1]),
                                  vd.normalize(np.ascontiguousarray(X32[:, ::-1])))


def test_tensors_after_the_first_row_are_read_as_tensors():
    """Vectors gathered from two sources ([cached_array, model(x)[0], ...]): a tensor that
    was not the first row escaped the row-by-row reading, so torch's own RuntimeError
    ('Can't call numpy() on Tensor that requires grad') or TypeError ('Got unsupported
    ScalarType BFloat16') came out, naming no argument."""
    torch = pytest.importorskip("torch")
    X = np.array([[1.0, 0.0, 0.5], [0.5, 1.0, 0.0], [0.0, 0.5, 1.0]])
    mixed = [X[0], list(X[1]), torch.tensor(X[2], dtype=torch.bfloat16)]
    np.testing.assert_array_equal(vd.cosine_matrix(mixed), vd.cosine_matrix(X))
    grad = torch.tensor(X[2], requires_grad=True)
    with pytest.raises(TypeError, match=r"corpus\[2\] is a torch tensor that requires grad; "
                                        r"pass corpus\[2\]\.detach\(\)"):
        vd.knn(X, [X[0], X[1], grad], k=1)
    assert grad.requires_grad and grad.grad is None


def test_pyarrow_list_columns_are_read_as_load_vectors_reads_them():
    """A parquet column of vectors read with pyarrow (pq.read_table(p)['emb']) was refused
    with 'stack them into a matrix: np.stack(corpus)', which gives an object array of
    pyarrow scalars, refused again; it is now decoded by the parquet reader's decoder."""
    pa = pytest.importorskip("pyarrow")
    X = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], np.float32)
    fixed = pa.array(list(X), type=pa.list_(pa.float32(), 2))
    exact = vd.knn(X, X, k=2)
    for column in (fixed, pa.chunked_array([fixed[:1], fixed[1:]]),
                   pa.array(X.tolist(), type=pa.large_list(pa.float32()))):
        got = vd.knn(X, column, k=2)
        assert got.scores.dtype == np.float32
        np.testing.assert_array_equal(got.scores, exact.scores)
        np.testing.assert_array_equal(got.indices, [[0, 1], [1, 2], [2, 1]])
    with pytest.raises(ValueError, match=r"corpus has missing vectors \(null\) in 1 row \(1\)"):
        vd.knn(X, pa.array([[1.0, 0.0], None, [0.0, 1.0]]), k=1)
    with pytest.raises(ValueError, match=r"corpus is ragged: row 0 holds 2 numbers, 1 row "
                                         r"\(1\) another length \(1\)"):
        vd.Index(pa.array([[1.0, 0.0], [1.0], [0.0, 1.0]]))


def test_numbers_written_as_text_and_dates_get_their_own_fix():
    """A CSV column of vectors kept as strings (['0.6', '0.8']) was told 'pass numbers, not
    text' (they are numbers); a date column 'unsupported dtype datetime64[D]', no fix."""
    with pytest.raises(TypeError, match=r"a holds numbers written as text \(dtype <U3\); "
                                        r"read them as numbers: np\.asarray\(a, dtype=float\)"):
        vd.cosine(["0.6", "0.8"], [1.0, 0.0])
    assert vd.cosine(np.asarray(["0.6", "0.8"], dtype=float), [1.0, 0.0]) == 0.6
    with pytest.raises(TypeError, match=r"corpus has non-numeric dtype <U3; pass numbers"):
        vd.knn([[1.0]], [["cat"], ["dog"]], k=1)
    with pytest.raises(TypeError, match=r"X has dtype datetime64\[D\] \(dates or durations\)"):
        vd.normalize(np.array([["2024-01-01", "2024-02-01"]], dtype="datetime64[D]"))


def test_dicts_sets_and_generators_of_vectors_get_a_fix():
    """{doc_id: vector} (how many keep embeddings), a set or a generator became a 0-d
    object array, refused as 'dtype object ... np.asarray(corpus, dtype=float)', a fix
    that fails the same way."""
    by_id = {"d1": [1.0, 0.0], "d2": [0.6, 0.8]}
    with pytest.raises(TypeError, match=r"corpus is a dict \(2 entries\); pass its vectors as "
                       r"one matrix, np\.stack\(list\(corpus\.values\(\)\)\), and its keys as "
                       r"the ids, list\(corpus\)"):
        vd.Index(by_id)
    index = vd.Index(np.stack(list(by_id.values())), ids=list(by_id))
    assert index.search([[0.6, 0.8]], k=2).ids.tolist() == [["d2", "d1"]]
    with pytest.raises(TypeError, match=r"queries is a generator, which NumPy reads as one "
                                        r"object, not as rows; pass a list \(list\(queries\)\)"):
        vd.knn((row for row in [[1.0, 0.0]]), [[1.0, 0.0]], k=1)
    with pytest.raises(TypeError, match=r"a is a set"):
        vd.norm({3.0, 4.0})
