"""Every bad input gets a clear error: the type, and the words that tell the user the fix."""

from __future__ import annotations

import numpy as np
import pytest

import vecdiag as vd
from vecdiag import _validate as V
from vecdiag import scratch


@pytest.mark.parametrize("func", [vd.normalize, vd.cosine_matrix, scratch.normalize])
def test_nan_and_inf_rows_are_named(func, with_nan_rows):
    with pytest.raises(ValueError, match=r"3 rows \(17, 42, 99\) with NaN or inf"):
        func(with_nan_rows)


def test_many_bad_rows_show_the_first_few():
    X = np.ones((100, 3))
    X[::10, 1] = np.nan
    with pytest.raises(ValueError, match=r"10 rows \(first: 0, 10, 20, 30, 40\)"):
        vd.normalize(X)


def test_nan_in_a_single_vector():
    with pytest.raises(ValueError, match="a has 1 non-finite values.*positions 1"):
        vd.cosine([1.0, np.nan], [1.0, 1.0])


@pytest.mark.parametrize(
    "bad, exc, words",
    [
        ([[1, 2], [3]], ValueError, "ragged"),
        ("hello", TypeError, "embed the text first"),
        ([["a", "b"]], TypeError, "non-numeric"),
        (np.array([[1, "x"]], dtype=object), TypeError, "dtype object"),
        (np.array([[1 + 2j, 0]]), TypeError, "complex"),
        (np.zeros((2, 3, 4)), ValueError, r"reshape it to \(n_vectors, dim\)"),
        (np.zeros((0, 3)), ValueError, "empty"),
        (np.zeros((3, 0)), ValueError, "dimension 0"),
        (None, TypeError, "is None"),
        (5.0, ValueError, "wrap a single number"),
    ],
)
def test_bad_matrices(bad, exc, words):
    with pytest.raises(exc, match=words):
        vd.cosine_matrix(bad)


def test_message_names_the_argument():
    with pytest.raises(ValueError, match="^B has"):
        vd.cosine_matrix(np.ones((2, 2)), np.array([[np.inf, 1.0]]))
    with pytest.raises(ValueError, match="dimension mismatch: a has dimension 2 but b has dimension 3"):
        vd.cosine([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="dimension mismatch: A has dimension 2 but B has dimension 3"):
        vd.cosine_matrix([[1, 2]], [[1, 2, 3]])
    with pytest.raises(ValueError, match="dimension mismatch"):
        scratch.cosine_matrix([[1, 2]], [[1, 2, 3]])


@pytest.mark.parametrize("call", [lambda q, C: vd.knn(q, C, 2),
                                  lambda q, C: vd.Index(C).search(q, 2),
                                  lambda q, C: vd.fixes.csls(q, C, 2, n_neighbors=1),
                                  lambda q, C: vd.fixes.deduplicate(q, C, 2)])
def test_an_empty_list_of_queries_is_told_the_shape_of_no_queries(call):
    """[] has no dimension: the hint was 'use queries.reshape(1, -1) for a single
    vector', which gives one vector of dimension 0; a (0, d) array is the empty batch
    (an empty result), as NumPy's own reshape of [] says."""
    C = np.eye(3)
    with pytest.raises(ValueError, match=r"queries must be 2-D.*shape \(0, d\)") as info:
        call([], C)
    assert "reshape(1, -1)" not in str(info.value)
    assert call(np.empty((0, 3)), C).indices.shape == (0, 2)
    with pytest.raises(ValueError, match=r"reshape\(1, -1\) for a single vector"):
        call([1.0, 0.0, 0.0], C)


def test_vector_functions_refuse_matrices_with_a_hint():
    with pytest.raises(ValueError, match=r"a must be 1-D, got 2-D.*pass one row"):
        vd.norm([[1, 2], [3, 4]])


def test_torch_like_gpu_tensor_message():
    class FakeDevice:
        type = "cuda"

    class FakeTensor:
        __module__ = "torch"
        requires_grad = False
        device = FakeDevice()

        def __array__(self, *a, **k):  # pragma: no cover - must not be reached
            raise RuntimeError("can't convert cuda tensor")

    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        vd.norm(FakeTensor())


def test_bool_and_int_dtypes_become_float64():
    assert V.as_matrix(np.array([[True, False]]), "X").dtype == np.float64
    assert V.as_matrix(np.array([[1, 2]], dtype=np.int8), "X").dtype == np.float64
    assert V.as_matrix(np.array([[1, 2]], dtype=np.float32), "X").dtype == np.float32


def test_check_k():
    assert V.check_k(3, 10) == 3
    assert V.check_k(np.int64(3), 10) == 3
    with pytest.raises(ValueError, match="at least 1"):
        V.check_k(0, 10)
    with pytest.raises(ValueError, match=r"larger than the corpus \(10 vectors\); use k <= 10"):
        V.check_k(11, 10)
    with pytest.raises(ValueError, match="minus the item itself.*k <= 9"):
        V.check_k(10, 10, exclude_self=True)
    with pytest.raises(TypeError, match="k must be an integer"):
        V.check_k(2.5, 10)
    with pytest.raises(TypeError, match="k must be an integer"):
        V.check_k(True, 10)


def test_check_ids():
    assert V.check_ids(None, 3) is None
    assert V.check_ids(["a", "b", "c"], 3).tolist() == ["a", "b", "c"]
    with pytest.raises(ValueError, match="ids has 2 entries but the corpus has 3 rows"):
        V.check_ids(["a", "b"], 3)
    with pytest.raises(ValueError, match=r"must be unique.*'a' at rows 0 and 2"):
        V.check_ids(["a", "b", "a"], 3)
    with pytest.raises(TypeError, match="not a single string"):
        V.check_ids("abc", 3)


def test_check_metric_and_random_state():
    with pytest.raises(ValueError, match="metric must be one of 'cosine', 'dot', 'euclidean'"):
        V.check_metric("manhattan")
    a = V.check_random_state(0).random()
    b = V.check_random_state(0).random()
    assert a == b
    with pytest.raises(TypeError, match="random_state"):
        V.check_random_state("seed")


def test_large_memmap_is_scanned_in_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(V, "_SCAN_ROWS", 7)
    X = np.ones((50, 4), dtype=np.float32)
    X[33, 2] = np.nan
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    with pytest.raises(ValueError, match=r"1 row \(33\)"):
        V.as_matrix(mm, "corpus")
    assert V.as_matrix(mm[:30], "corpus").dtype == np.float32


def test_ndarray_subclasses_become_plain_arrays_and_memmaps_stay(tmp_path):
    """np.matrix (rows stay 2-D under indexing) is read as a plain array everywhere:
    the same neighbours, projections and explanations as the array itself."""
    X = np.random.default_rng(0).normal(size=(30, 5))
    M = np.matrix(X)
    assert type(V.to_array(M, "X")) is np.ndarray
    for got, want in ((vd.pca(M, 2).coords, vd.pca(X, 2).coords),
                      (vd.normalize(M), vd.normalize(X)),
                      (vd.fixes.csls(M[:3], M, 3).indices, vd.fixes.csls(X[:3], X, 3).indices),
                      (vd.fixes.mutual_proximity(M[:3], M, 3).indices,
                       vd.fixes.mutual_proximity(X[:3], X, 3).indices),
                      (vd.fixes.mmr(X[0], M, 3).indices, vd.fixes.mmr(X[0], X, 3).indices)):
        assert type(got) is np.ndarray
        np.testing.assert_array_equal(got, want)
    assert vd.explain_neighbors(X[0], M).neighbors.indices.tolist() == \
        vd.explain_neighbors(X[0], X).neighbors.indices.tolist()
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    assert V.to_array(mm, "X") is mm


def test_masked_arrays_are_refused_where_masked_and_read_where_not():
    X = np.random.default_rng(1).normal(size=(6, 3))
    masked = np.ma.array(X, mask=np.zeros_like(X, bool))
    masked[1, 2] = np.ma.masked
    masked[4, 0] = np.ma.masked
    for f in (lambda a: vd.knn(a, X, k=2), lambda a: vd.cosine_matrix(a)):
        with pytest.raises(ValueError, match=r"queries|X|A") as err:
            f(masked)
        assert "masked entries in 2 rows (1, 4)" in str(err.value)
    for f in (vd.dot, scratch.dot):
        with pytest.raises(ValueError, match=r"masked entries at entry 1;"):
            f(np.ma.array([1.0, 2, 3], mask=[0, 1, 0]), [1.0, 2, 3])
    clean = np.ma.array(X)                           # no entry masked: just the numbers
    np.testing.assert_array_equal(vd.knn(clean, X, k=2).indices, vd.knn(X, X, k=2).indices)


def test_pandas_nullable_numbers_are_read_and_missing_values_named():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": pd.array([1, 2, 3], dtype="Int64"), "b": [1.0, 2.0, 0.5],
                          "c": pd.array([0.1, 0.2, 0.3], dtype="Float64")})
    plain = frame.to_numpy(dtype=float)
    np.testing.assert_array_equal(vd.knn(frame, frame, k=2).indices,
                                  vd.knn(plain, plain, k=2).indices)
    frame.loc[1, "a"] = pd.NA
    with pytest.raises(ValueError, match=r"row \(1\) with NaN"):
        vd.knn(frame, plain, k=2)
    words = pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]})
    with pytest.raises(TypeError, match=r"1 column that is not numeric: 'a' \(str\)"):
        vd.knn(words, plain[:, :2], k=1)


def test_small_messages_say_what_is_possible():
    X = np.random.default_rng(2).normal(size=(10, 4))
    with pytest.raises(ValueError, match="has 1 vector: each item needs at least one other"):
        vd.Index(X[:1]).knn_graph(1)
    with pytest.raises(ValueError, match="ids has 1 entry but"):
        vd.Index(X, ids=["a"])
    assert vd.anisotropy(np.ones((20, 8))) == 1.0                  # not 1.0000000000000007
    assert vd.anisotropy(np.ones((20, 8), np.float32)) == 1.0


def test_a_list_of_torch_tensors_is_read_row_by_row():
    """[model(x)[0] for x in batch]: one tensor per vector. bfloat16 rows failed inside
    torch ('Got unsupported ScalarType BFloat16'); rows needing grad are named by index."""
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(3).integers(-8, 9, size=(6, 4)) / 4    # exact in bfloat16
    rows = [torch.tensor(r, dtype=torch.bfloat16) for r in X]
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(vd.cosine_matrix(rows), Xn @ Xn.T, atol=1e-5)
    np.testing.assert_allclose(vd.normalize(tuple(rows)), Xn, atol=1e-5)
    with pytest.raises(TypeError, match=r"X\[0\] is a torch tensor that requires grad; "
                                        r"pass X\[0\]\.detach\(\)"):
        vd.normalize([torch.tensor(r, requires_grad=True) for r in X])


def test_sparse_matrices_and_columns_of_vectors_get_a_fix_that_works():
    """A TF-IDF scipy.sparse matrix, a sparse tensor and a column of vectors (a pandas
    Series or DataFrame column of arrays, as read from parquet) were 'dtype object ...
    e.g. np.asarray(X, dtype=float)' or '0-D' errors whose fix fails; each message now
    names the argument and a conversion that gives the brute-force answer."""
    pd = pytest.importorskip("pandas")
    sparse = pytest.importorskip("scipy.sparse")
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(4).normal(size=(7, 3))
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    X_ = {"csr": sparse.csr_matrix(X), "csr_array": sparse.csr_array(X),
          "torch": torch.tensor(X).to_sparse(), "series": pd.Series(list(X), index=range(7, 14)),
          "frame": pd.DataFrame({"id": range(7), "emb": list(X)})}
    fixes = {"csr": r"X\.toarray\(\)", "csr_array": r"X\.toarray\(\)",
             "torch": r"X\.to_dense\(\)", "series": r"np\.stack\(X\)",
             "frame": r"np\.stack\(X\['emb'\]\)"}
    for kind, value in X_.items():
        with pytest.raises(TypeError, match=fixes[kind]):
            vd.normalize(value)
    for fixed in (X_["csr"].toarray(), X_["csr_array"].toarray(), X_["torch"].to_dense(),
                  np.stack(X_["series"]), np.stack(X_["frame"]["emb"])):
        np.testing.assert_allclose(vd.normalize(fixed), Xn, atol=1e-12)


def test_torch_float8_tensors_are_read_like_bfloat16():
    """Quantized embeddings in torch.float8_e4m3fn / float8_e5m2 have no NumPy dtype:
    np.asarray failed inside torch ('Got unsupported ScalarType Float8_e4m3fn'). They
    are widened to float32 (exact) as bfloat16 is; the numbers are a float64 brute force."""
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(6).integers(1, 8, size=(5, 3)).astype(float)   # exact in float8
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    for name in ("float8_e4m3fn", "float8_e5m2"):
        if not hasattr(torch, name):
            continue
        T = torch.tensor(X).to(getattr(torch, name))
        np.testing.assert_array_equal(T.to(torch.float64).numpy(), X)   # the test's premise
        np.testing.assert_allclose(vd.normalize(T), Xn, rtol=1e-6)
        np.testing.assert_allclose(vd.cosine_matrix(T), Xn @ Xn.T, atol=1e-6)


def test_a_float32_dataframe_stays_float32():
    """A DataFrame of float32 columns is float32 input: it became a float64 copy (twice
    the memory, float64 results), against 'float32 stays float32'. Now float32, with a
    float32 brute force's numbers; mixed or other numeric columns still become float64."""
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(7).normal(size=(20, 5)).astype(np.float32)
    df = pd.DataFrame(X, index=range(100, 120))
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    out = vd.normalize(df)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, unit, rtol=1e-6, atol=1e-7)
    found = vd.knn(df.iloc[:4], df, 3)
    assert found.scores.dtype == np.float32
    np.testing.assert_array_equal(found.indices,
                                  np.argsort(-(unit[:4] @ unit.T), axis=1, kind="stable")[:, :3])
    assert vd.normalize(pd.Series(X[0])).dtype == np.float32
    mixed = df.astype({0: np.float64})
    assert vd.normalize(mixed).dtype == np.float64


@pytest.mark.parametrize("call", [
    lambda X, v: vd.knn(X, X, k=2, exclude_self=v),
    lambda X, v: vd.fixes.Center(normalize_first=v).fit(X),
    lambda X, v: vd.fixes.Whiten(normalize_first=v).fit(X),
    lambda X, v: vd.fixes.AllButTheTop(normalize_first=v).fit(X),
    lambda X, v: vd.anisotropy(X, exact=v),
    lambda X, v: vd.isotropy(X, normalize=v),
    lambda X, v: vd.explain_neighbors(X[0], X, k=2, attribution=v),
    lambda X, v: vd.evaluate({"q": {"a": 1.0}}, {"q": {"a": 1}}, skip_no_relevant=v),
])
def test_bool_options_refuse_what_is_not_a_bool(call):
    """The string "False" is truthy: exclude_self="False" excluded, normalize_first="no"
    normalised. Options that steer a result take True / False (NumPy's too) only, and
    np.False_ gives what False gives."""
    X = np.random.default_rng(0).normal(size=(12, 4))
    for bad in ("False", "no", 0, None):
        with pytest.raises(TypeError, match="must be True or False"):
            call(X, bad)
    plain, numpy_bool = call(X, False), call(X, np.False_)
    assert _summary(plain, X) == _summary(numpy_bool, X)


def _summary(result, X):
    """A comparable digest of what the calls above return."""
    if hasattr(result, "transform"):
        return result.transform(X).round(12).tolist()
    if hasattr(result, "indices"):
        return result.indices.tolist()
    if hasattr(result, "causes"):
        return [(c.code, c.confidence) for c in result.causes]
    if hasattr(result, "mean"):
        return result.mean
    return float(result)


def test_one_missing_value_rule_for_ids_texts_and_datasets():
    """NumPy's NaT (a date column read through NumPy) was an id "NaT" for the id checks
    (vecdiag._options.is_missing knew only pandas' NaT), while the display rule
    (results.text_or_empty) and the Dataset's own copy knew it: three copies of "is this
    value missing", now one."""
    import pandas as pd

    from vecdiag._options import is_missing
    from vecdiag.results import text_or_empty

    missing = [None, float("nan"), np.float32("nan"), pd.NA, pd.NaT, np.datetime64("NaT"),
               np.timedelta64("NaT")]
    present = [0, 1.5, "", "nan", "None", np.datetime64("2024-01-02"), np.int64(3)]
    assert [is_missing(v) for v in missing] == [True] * len(missing)
    assert [is_missing(v) for v in present] == [False] * len(present)
    assert [text_or_empty(v) for v in missing] == [""] * len(missing)
    assert [text_or_empty(v) for v in present] == ["0", "1.5", "", "nan", "None",
                                                   "2024-01-02", "3"]
    from vecdiag.datasets import Dataset

    with pytest.raises(ValueError, match=r"corpus_ids has no id .* 1 row \(1\)"):
        Dataset(name="d", corpus_ids=["a", np.datetime64("NaT"), "c"],
                corpus_texts=["x", "y", "z"], query_ids=["q"], query_texts=["x"],
                qrels={"q": {"a": 1}})


def test_zero_rows_are_a_data_error_in_the_singular_for_one_row():
    # "1 row (7) that are zero vectors: they have" read wrong; and a zero row is the
    # data's fault, not an option's, which try_fixes tells apart by the DataError type
    da = pytest.importorskip("dask.array", reason="dask not installed")
    from vecdiag.scale.covariance import scaled_scatter

    X = np.random.default_rng(2).normal(size=(40, 5))
    X[7] = 0.0
    calls = {
        "anisotropy": (lambda: vd.anisotropy(X), "X has a zero vector at row 7: it has"),
        "overlap": (lambda: vd.neighborhood_overlap(X + 1.0, X, k=3),
                    "new has a zero vector at row 7, which has no direction"),
        "cosine": (lambda: V.zero_rows(np.linalg.norm(X, axis=1), "corpus"),
                   "corpus has a zero vector at row 7, which has no direction"),
        "dask search": (lambda: vd.knn(X[:3] + 1.0, da.from_array(X, chunks=10), 2),
                        "corpus has a zero vector at row 7, which has no direction"),
        "dask scatter": (lambda: scaled_scatter(da.from_array(X, chunks=10), unit=True,
                                                name="corpus"),
                         "corpus has a zero vector at row 7: it has no direction, so it "
                         "cannot be normalised; drop it, or pass zero='ignore' to keep it"),
    }
    for name, (call, words) in calls.items():
        with pytest.raises(V.DataError) as err:
            call()
        assert str(err.value).startswith(words), (name, str(err.value))
    Y = X.copy()
    Y[30] = 0.0
    with pytest.raises(V.DataError, match=r"X has 2 rows \(7, 30\) that are zero vectors: "
                                          r"they have no direction"):
        vd.anisotropy(Y)
