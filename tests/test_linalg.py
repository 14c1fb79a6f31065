"""Vector math: scratch == fast == an outside reference, on every kind of input.

Worked example (computed by hand, checked below in ``test_worked_example``)::

    a = (1, 2, 2)    ‖a‖ = sqrt(1 + 4 + 4)  = 3
    b = (2, 0, 0)    ‖b‖ = 2
    c = (0, 3, 4)    ‖c‖ = 5

    a·b = 2          cos(a, b) = 2 / (3·2)  = 1/3
    a·c = 6 + 8 = 14 cos(a, c) = 14 / (3·5) = 14/15
    b·c = 0          cos(b, c) = 0          (perpendicular)
    ‖a − b‖ = sqrt(1 + 4 + 4) = 3

So by cosine, a's nearest neighbour among {b, c} is c (0.933 > 0.333).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial import distance
from sklearn.metrics.pairwise import cosine_similarity

import vecdiag as vd
from vecdiag import scratch


def test_worked_example():
    a, b, c = [1, 2, 2], [2, 0, 0], [0, 3, 4]
    for mod in (vd, scratch):
        assert mod.norm(a) == 3.0 and mod.norm(c) == 5.0
        assert mod.dot(a, c) == 14.0
        assert mod.cosine(a, b) == pytest.approx(1 / 3, abs=1e-15)
        assert mod.cosine(a, c) == pytest.approx(14 / 15, abs=1e-15)
        assert mod.cosine(b, c) == 0.0
        assert mod.euclidean(a, b) == 3.0


def _inputs():
    """Named pairs of inputs: random, float32, int, float16, huge, tiny, mixed scales."""
    rng = np.random.default_rng(42)
    base = rng.normal(size=(6, 12))
    yield "random", base
    yield "float32", base.astype(np.float32)
    yield "int", rng.integers(-9, 10, size=(6, 12))
    yield "float16", base.astype(np.float16)
    yield "huge", base * 1e200
    yield "tiny", base * 1e-200
    yield "mixed", base * np.logspace(-150, 150, 6)[:, None]
    yield "one_dim", base[:, :1]
    yield "f_order", np.asfortranarray(base)


CASES = list(_inputs())
IDS = [name for name, _ in CASES]


def _ref64(X):
    """float64 copy, rescaled per row so that references like scipy cannot overflow."""
    X = np.asarray(X, dtype=np.float64)
    return X


def _tol(X):
    return 2e-6 if np.asarray(X).dtype == np.float32 else 1e-12


@pytest.mark.parametrize("name,X", CASES, ids=IDS)
def test_norm_agrees(name, X):
    for row in X:
        fast, slow = vd.norm(row), scratch.norm(row)
        exact = math.hypot(*np.asarray(row, dtype=np.float64).tolist())
        assert fast == pytest.approx(exact, rel=_tol(X))
        assert slow == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("name,X", CASES, ids=IDS)
def test_cosine_agrees(name, X):
    a, b = X[0], X[1]
    fast, slow = vd.cosine(a, b), scratch.cosine(a, b)
    # reference: scipy on vectors rescaled to a safe range (cosine is scale-invariant)
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ref = 1.0 - distance.cosine(a64 / np.abs(a64).max(), b64 / np.abs(b64).max())
    assert slow == pytest.approx(ref, abs=1e-12)
    assert fast == pytest.approx(ref, abs=_tol(X))
    assert -1.0 <= fast <= 1.0


@pytest.mark.parametrize("name,X", CASES, ids=IDS)
def test_cosine_matrix_agrees(name, X):
    fast = vd.cosine_matrix(X)
    slow = np.array(scratch.cosine_matrix(X))
    X64 = np.asarray(X, dtype=np.float64)
    safe = X64 / np.abs(X64).max(axis=1, keepdims=True)
    ref = cosine_similarity(safe)
    np.testing.assert_allclose(slow, ref, atol=1e-12)
    np.testing.assert_allclose(fast, ref, atol=10 * _tol(X))
    assert fast.dtype == (np.float32 if np.asarray(X).dtype == np.float32 else np.float64)


@pytest.mark.parametrize("name,X", CASES, ids=IDS)
def test_normalize_agrees(name, X):
    fast = vd.normalize(X)
    slow = np.array(scratch.normalize(X))
    X64 = np.asarray(X, dtype=np.float64)
    safe = X64 / np.abs(X64).max(axis=1, keepdims=True)
    ref = safe / np.linalg.norm(safe, axis=1, keepdims=True)
    np.testing.assert_allclose(slow, ref, atol=1e-12)
    np.testing.assert_allclose(fast, ref, atol=_tol(X))


@pytest.mark.parametrize("name,X", CASES, ids=IDS)
def test_dot_and_euclidean_agree(name, X):
    a, b = X[2], X[3]
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if name not in ("huge", "mixed"):  # a genuine product of 1e200 values overflows
        assert vd.dot(a, b) == pytest.approx(float(a64 @ b64), rel=_tol(X), abs=1e-300)
        assert scratch.dot(a, b) == pytest.approx(float(a64 @ b64), rel=1e-12, abs=1e-300)
    scale = max(np.abs(a64).max(), np.abs(b64).max())
    ref = distance.euclidean(a64 / scale, b64 / scale) * scale
    assert vd.euclidean(a, b) == pytest.approx(ref, rel=_tol(X))
    assert scratch.euclidean(a, b) == pytest.approx(ref, rel=1e-12)


def test_numerical_edge_cases_from_the_issue():
    for mod in (vd, scratch):
        assert mod.cosine([1e200, 1e200], [1e200, 1e200]) == 1.0
        assert list(mod.normalize([1e-200, 0])) == [1.0, 0.0]
        assert mod.euclidean([1e300, -1e300], [1e300, -1e300]) == 0.0
        assert mod.norm([0.0, 0.0]) == 0.0


def test_cosine_of_a_vector_with_itself_is_exactly_one():
    rng = np.random.default_rng(3)
    for _ in range(200):
        a = rng.normal(size=rng.integers(1, 400)) * 10.0 ** rng.integers(-30, 30)
        assert vd.cosine(a, a) == 1.0
        assert vd.cosine(a.astype(np.float32), a.astype(np.float32)) == 1.0
    a = rng.normal(size=50)
    assert scratch.cosine(a, a) == 1.0


def test_float32_stays_float32_and_is_accurate():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 384)).astype(np.float32)
    assert vd.normalize(X).dtype == np.float32
    assert vd.cosine_matrix(X).dtype == np.float32
    ref = cosine_similarity(X.astype(np.float64))
    assert np.abs(vd.cosine_matrix(X) - ref).max() < 1e-6


def test_zero_vectors():
    with pytest.raises(ValueError, match=r"zero='ignore'"):
        vd.cosine([0, 0], [1, 0])
    with pytest.raises(ValueError, match="b is a zero vector"):
        scratch.cosine([1, 0], [0, 0])
    assert vd.cosine([0, 0], [1, 0], zero="ignore") == 0.0
    assert scratch.cosine([0, 0], [1, 0], zero="ignore") == 0.0
    X = np.array([[1.0, 0], [0, 0], [0, 2.0], [0, 0]])
    with pytest.raises(ValueError, match=r"2 rows \(1, 3\)"):
        vd.normalize(X)
    with pytest.raises(ValueError, match="row 1"):
        scratch.normalize(X)
    np.testing.assert_array_equal(vd.normalize(X, zero="ignore"), [[1, 0], [0, 0], [0, 1], [0, 0]])
    np.testing.assert_array_equal(scratch.normalize(X, zero="ignore"), [[1, 0], [0, 0], [0, 1], [0, 0]])
    M = vd.cosine_matrix(X, zero="ignore")
    assert M[1].tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="zero must be"):
        vd.cosine([1], [1], zero="skip")


def test_inputs_are_not_mutated(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(20, 6)) * 1e200
    keep = X.copy()
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")  # read-only memmap: any write would raise
    for arr in (X, mm):
        vd.normalize(arr)
        vd.cosine_matrix(arr, arr[:3])
        vd.cosine(arr[0], arr[1])
        vd.euclidean(arr[0], arr[1])
        vd.explain_cosine(arr[0] / 1e200, arr[1] / 1e200)
        scratch.normalize(arr)
    np.testing.assert_array_equal(X, keep)
    np.testing.assert_array_equal(mm, keep)


def test_memmap_float16_input(tmp_path):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(10, 8)).astype(np.float16)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    out = vd.cosine_matrix(mm)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, cosine_similarity(X.astype(np.float64)), atol=1e-12)


def test_torch_tensor_input():
    torch = pytest.importorskip("torch")
    t = torch.tensor([[1.0, 2.0, 2.0], [2.0, 0.0, 0.0]])
    assert vd.cosine(t[0], t[1]) == pytest.approx(1 / 3, abs=1e-7)
    assert vd.normalize(t).dtype == np.float32
    with pytest.raises(TypeError, match=r"detach\(\)"):
        vd.norm(torch.ones(3, requires_grad=True))


def test_explain_cosine_breakdown():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=30), rng.normal(size=30)
    br = vd.explain_cosine(a, b, top=5)
    assert br.cosine == vd.cosine(a, b)
    assert br.contribution.sum() == pytest.approx(br.cosine, abs=1e-12)
    assert br.running_sum[-1] == pytest.approx(br.dot)
    np.testing.assert_allclose(br.products, a * b)
    assert len(br.top_dims) == 5
    assert np.all(np.abs(br.contribution[br.top_dims[0]]) >= np.abs(br.contribution))
    frame = br.to_frame()
    assert list(frame.columns) == ["a", "b", "product", "running_sum", "contribution"]
    html = br._repr_html_()
    assert "Cosine breakdown" in html and "<table>" in html
    bundle = br._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    ax = br.plot()
    assert ax.get_title().startswith("cosine =")
    with pytest.raises(ValueError, match="zero vector"):
        vd.explain_cosine([0, 0], [1, 1])


# --- hypothesis properties: the two paths agree, and the maths holds --------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def vector_pairs(draw, max_dim=24):
    d = draw(st.integers(1, max_dim))
    a = draw(hnp.arrays(np.float64, d, elements=finite))
    b = draw(hnp.arrays(np.float64, d, elements=finite))
    return a, b


@given(vector_pairs())
def test_scratch_equals_fast(pair):
    a, b = pair
    assume(np.abs(a).max() > 1e-3 and np.abs(b).max() > 1e-3)
    assert scratch.dot(a, b) == pytest.approx(vd.dot(a, b), rel=1e-9, abs=1e-6)
    assert scratch.norm(a) == pytest.approx(vd.norm(a), rel=1e-12)
    assert scratch.cosine(a, b) == pytest.approx(vd.cosine(a, b), abs=1e-12)
    assert scratch.euclidean(a, b) == pytest.approx(vd.euclidean(a, b), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(scratch.normalize(a), vd.normalize(a), atol=1e-12)


@given(vector_pairs(), st.floats(min_value=1e-3, max_value=1e3))
def test_cosine_properties(pair, scale):
    a, b = pair
    assume(np.abs(a).max() > 1e-3 and np.abs(b).max() > 1e-3)
    c = vd.cosine(a, b)
    assert c == vd.cosine(b, a)                                          # symmetry
    assert vd.cosine(a * scale, b) == pytest.approx(c, abs=1e-12)        # scale invariance
    assert -1.0 <= c <= 1.0
    assert abs(vd.dot(a, b)) <= vd.norm(a) * vd.norm(b) * (1 + 1e-12) + 1e-9  # Cauchy-Schwarz
    u = vd.normalize(a)
    np.testing.assert_allclose(vd.normalize(u), u, atol=1e-15)          # idempotent
    assert vd.norm(u) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("big", [1e308, 1.7e308, 8.99e307])
def test_the_largest_floats_keep_their_norm_cosine_and_distance(big):
    """From 2**1023 (about 9e307) the power of two above the largest entry is 2**1024,
    itself beyond float64: the fast path gave NaN and scratch raised OverflowError. Both
    now scale by 2**(e - 1) and give the finite answers, equal to each other."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert vd.norm([big, 0.0]) == big == vd.scratch.norm([big, 0.0])
        assert vd.cosine([big, 0.0], [1.0, 1.0]) == pytest.approx(2 ** -0.5, rel=1e-15)
        assert vd.scratch.cosine([big, 0.0], [1.0, 1.0]) == pytest.approx(2 ** -0.5, rel=1e-15)
        np.testing.assert_array_equal(vd.normalize([big, 0.0]), [1.0, 0.0])
        assert vd.euclidean([big], [big]) == 0.0 == vd.scratch.euclidean([big], [big])
        far = vd.euclidean([big / 2, 0.0], [-big / 2, 0.0])
        assert far == big == vd.scratch.euclidean([big / 2, 0.0], [-big / 2, 0.0])
        M = vd.cosine_matrix([[big, 1.0], [1.0, 2.0]])
        assert np.isfinite(M).all() and M[0, 1] == pytest.approx(1 / 5 ** 0.5, rel=1e-12)
        assert vd.norm(np.float32([3e38, 1.0])) == pytest.approx(3e38, rel=1e-7)
        X = np.array([[big, 1.0], [1.0, 2.0], [3.0, 1.0]])
        res = vd.knn(X, X, k=2)
        np.testing.assert_array_equal(res.scores[:, 0], 1.0)
        assert np.isfinite(res.scores).all()


def test_a_distance_beyond_the_float_range_is_inf_on_both_paths():
    """1.7e308 - (-1e308) overflows: the distance is infinite. Scratch scaled by the
    power of two above inf (0.5) and squared 1e200 / 0.5 with ``**``, which raises
    OverflowError in Python; both paths now say inf. knn refuses such lengths on both
    paths alike (its scores would overflow), naming the fix."""
    a, b = [1.7e308, 1e200], [-1e308, 0.0]
    with np.errstate(over="ignore"):
        assert vd.euclidean(a, b) == math.inf
    assert vd.scratch.euclidean(a, b) == math.inf
    messages = []
    for knn in (vd.scratch.knn, vd.knn):
        with pytest.raises(ValueError, match="vectors too long for euclidean scores") as err:
            knn([a], [b, [1.6e308, 0.0]], k=2, metric="euclidean")
        messages.append(str(err.value))
    assert messages[0] == messages[1]


def test_dot_and_normalize_at_the_ends_of_the_float_range():
    """A dot whose products overflow but whose sum fits is that sum (0 here, as exact
    arithmetic gives); lengths past the float range or among subnormals still give unit
    rows, and cosine_matrix then agrees with cosine. Fast and scratch paths alike."""
    from vecdiag import scratch

    for f in (vd.dot, scratch.dot):
        assert f([1e300, 1e300], [1e300, -1e300]) == 0.0
        assert f([1e300], [1e300]) == np.inf                  # the true value is 1e600
    for rows in ([[1.7e308, 1.7e308]], [[5e-324, 5e-324]], [[3e-320, 1e-320]]):
        for got in (vd.normalize(rows), np.array(scratch.normalize(rows))):
            assert np.linalg.norm(got[0]) == pytest.approx(1.0, abs=1e-15)
    got = vd.normalize(np.array([[3e38, 3e38]], np.float32))
    assert got.dtype == np.float32 and got[0, 0] == pytest.approx(2 ** -0.5, rel=1e-6)
    assert vd.cosine_matrix([[5e-324, 0], [5e-324, 5e-324]])[0, 1] == \
        pytest.approx(vd.cosine([5e-324, 0], [5e-324, 5e-324]))


def test_float32_vectors_longer_than_the_largest_float32_keep_their_length():
    """[3e38, 3e38] in float32 is finite, but its length (4.2e38) is not a float32: the
    fast norm and euclidean returned inf, while the float they return holds the true
    value (as scratch and NumPy in float64 say)."""
    import warnings

    a = np.float32([3e38, 3e38])
    ref = math.hypot(*a.astype(np.float64).tolist())
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert vd.norm(a) == pytest.approx(ref, rel=1e-7)
        assert scratch.norm(a) == pytest.approx(ref, rel=1e-12)
        assert vd.euclidean(a, -a) == pytest.approx(2 * ref, rel=1e-6)
        assert scratch.euclidean(a, -a) == pytest.approx(2 * ref, rel=1e-12)
        assert vd.euclidean([1.7e308], [-1.7e308]) == math.inf   # beyond float64: inf


@pytest.mark.parametrize("scale", [1e-170, 1e-200, 1e-160])
def test_explain_cosine_of_tiny_vectors_still_adds_up_to_the_cosine(scale):
    """Vectors of size 1e-170 have a well-defined cosine, but their products a_i b_i
    underflow to 0: every contribution was 0.0 (summing to 0, not to the cosine) and
    top_dims was arbitrary. Contributions are now those of the unit vectors, as for the
    same vectors scaled up (cosine is scale-invariant)."""
    a, b = np.array([1.0, 2.0, 0.0, -1.0]), np.array([3.0, 1.0, 1.0, 0.5])
    ref = a * b / (np.linalg.norm(a) * np.linalg.norm(b))
    br = vd.explain_cosine(a * scale, b * scale)
    assert br.cosine == pytest.approx(1.0 - distance.cosine(a, b), abs=1e-15)
    np.testing.assert_allclose(br.contribution, ref, rtol=1e-14, atol=1e-16)
    assert br.contribution.sum() == pytest.approx(br.cosine, abs=1e-15)
    assert br.top_dims.tolist() == np.argsort(-np.abs(ref), kind="stable").tolist()


def test_scratch_cosine_matrix_names_the_zero_option_it_takes():
    """scratch.cosine_matrix takes zero='ignore' but its error said only "drop it
    first"; it now offers the option, word for word as vd.cosine_matrix does."""
    for A, B, name in (([[1.0, 0], [0, 0]], None, "A"), ([[1.0, 0]], [[0, 0], [0, 1.0]], "B")):
        messages = []
        for mod in (vd, scratch):
            with pytest.raises(ValueError, match=rf"{name} has a zero vector at row \d.*"
                                                 r"zero='ignore'") as err:
                mod.cosine_matrix(A, B)
            messages.append(str(err.value))
        assert messages[0] == messages[1]
        np.testing.assert_allclose(scratch.cosine_matrix(A, B, zero="ignore"),
                                   vd.cosine_matrix(A, B, zero="ignore"), atol=1e-15)


def test_float32_results_among_the_subnormal_float32s_keep_their_digits():
    """float32 [1e-45, 1e-45] has length 2e-45, a subnormal float32 that rounds to
    1.4e-45 (29% off), and 1e-30 * 1e-30 underflows float32 to 0: the fast norm and dot
    returned those while the float they return (and scratch, and NumPy in float64) hold
    the true values."""
    for v in ([1e-45, 1e-45], [3e-39, 4e-39]):
        a = np.float32(v)
        ref = math.hypot(*a.astype(np.float64).tolist())
        assert vd.norm(a) == pytest.approx(ref, rel=1e-7, abs=0)
        assert scratch.norm(a) == pytest.approx(ref, rel=1e-12, abs=0)
    a, b = np.float32([1e-30, 2e-30]), np.float32([3e-30, -1e-30])
    ref = float(a.astype(np.float64) @ b.astype(np.float64))     # 1e-60
    assert vd.dot(a, b) == pytest.approx(ref, rel=1e-6, abs=0)
    assert scratch.dot(a, b) == pytest.approx(ref, rel=1e-12, abs=0)


def test_row_norms_takes_the_array_likes_of_the_other_functions():
    """vd.row_norms is public (vd.__all__) but read its argument as a checked float array:
    a list failed with "'list' object has no attribute 'dtype'", ints with 'not inexact',
    a tensor or DataFrame deep inside NumPy/pandas, a 1-D vector inside einsum. Each is
    now read as vd.normalize reads it; the norms equal numpy.linalg.norm's."""
    pd = pytest.importorskip("pandas")
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(5).integers(-6, 7, size=(7, 4)).astype(float)
    X[0] = [3, 4, 0, 0]
    ref = np.linalg.norm(X, axis=1)
    for value in (X.tolist(), X.astype(np.int64), X.astype(np.float16), X.astype(">f8"),
                  pd.DataFrame(X, index=range(10, 17)), torch.tensor(X),
                  torch.tensor(X, dtype=torch.bfloat16)):
        np.testing.assert_allclose(vd.row_norms(value), ref, rtol=1e-7)
    assert vd.row_norms([[2**62, 2**62]])[0] == pytest.approx(2.0**62 * math.sqrt(2))
    with pytest.raises(ValueError, match=r"X must be 2-D, got 1-D.*reshape\(1, -1\)"):
        vd.row_norms(X[0])


def test_dot_of_a_subnormal_vector_and_a_large_one_keeps_its_digits():
    """[1e-320] · [1e20] is 1e-300, a normal float64 with all its digits (the product
    of two floats, correctly rounded). The fast dot rescales such pairs by powers of two
    and multiplied the subnormal scale back in first: the sum passed through the
    subnormal range and came out 4e-5 off. It now multiplies by both scales at once;
    exact rational arithmetic is the reference."""
    from fractions import Fraction

    cases = ([[2.683e-321, 3.587e-321, 1.3226e-320],
              [-1.3914668524093734e18, 1.0418397592128222e20, 1.4022648267725224e20]],
             [[-2.68e-321], [-3.6665499805024874e19]],
             [[1e-320, -3e-321], [1e20, 4e19]])
    for a, b in cases:
        ref = float(sum(Fraction(x) * Fraction(y) for x, y in zip(a, b)))
        assert vd.dot(a, b) == pytest.approx(ref, rel=1e-14, abs=0)
        assert scratch.dot(a, b) == pytest.approx(ref, rel=1e-14, abs=0)
