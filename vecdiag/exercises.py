"""Exercises for the notebooks: write a function, then ``check`` it on the edge cases.

>>> import vecdiag as vd
>>> def my_dot(a, b):
...     return sum(x * y for x, y in zip(a, b))
>>> vd.exercises.check("dot", my_dot).passed
False

(``zip`` silently stops at the shorter vector: the check says so in its hint.)

Each exercise is a list of cases. A case calls the learner's function on fresh copies of
its inputs, compares the answer with a reference computed independently here, checks the
inputs were not modified, and on failure answers with a hint aimed at that exact mistake
("fails for vectors with huge values: square after scaling").
"""

from __future__ import annotations

import copy
import math

import numpy as np

from .results import Result, escape, html_block, result

__all__ = ["check", "ExerciseResult", "EXERCISES"]

_SIGNATURES = {
    "dot": "dot(a, b) -> float",
    "norm": "norm(a) -> float",
    "normalize": "normalize(a) -> vector of length 1 (raise ValueError, or return zeros, for a zero vector)",
    "cosine": "cosine(a, b) -> float in [-1, 1] (raise ValueError, or return 0.0, for a zero vector)",
    "euclidean": "euclidean(a, b) -> float",
    "knn": "knn(query, corpus, k) -> k row indices of corpus, most cosine-similar first, ties by lower index",
    "pca": "pca(X, n_components) -> (n_components, d) array of principal directions, strongest first",
}


class _Case:
    """One test of a learner's function: inputs, the right answer, and the hint on failure."""

    def __init__(self, label, args, expected, hint, *, tol=1e-9, compare="close",
                 accept_error=False):
        self.label, self.args, self.expected, self.hint = label, args, expected, hint
        self.tol, self.compare, self.accept_error = tol, compare, accept_error


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _cases(name):
    f32 = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    huge = [1e200, 1e200]
    tiny = [1e-200, 0.0]
    if name == "dot":
        return [
            _Case("small vectors", ([1, 2, 3], [4, 5, 6]), 32.0, "multiply matching entries and add them all up"),
            _Case("negative entries", ([1, -2], [-3, 4]), -11.0, "keep the signs: negative products lower the sum"),
            _Case("float32 arrays", (f32, f32), float(np.dot(f32.astype(np.float64), f32.astype(np.float64))),
                  "accept NumPy arrays as well as lists", tol=1e-6),
            _Case("different lengths", ([1, 2, 3], [1, 2]), ValueError,
                  "zip stops at the shorter vector: check the lengths match and raise ValueError"),
        ]
    if name == "norm":
        return [
            _Case("3-4-5 triangle", ([3, 4],), 5.0, "square each entry, add, take the square root"),
            _Case("zero vector", ([0, 0],), 0.0, "the zero vector has length 0 (don't divide by zero)"),
            _Case("float32 array", (f32,), float(np.linalg.norm(f32.astype(np.float64))),
                  "accept NumPy arrays as well as lists", tol=1e-6),
            _Case("huge values", (huge,), math.hypot(*huge),
                  "fails for vectors with huge values: (1e200)**2 overflows to inf; "
                  "divide by the largest |entry| first, square after scaling, multiply it back"),
            _Case("tiny values", (tiny,), 1e-200,
                  "fails for tiny values: (1e-200)**2 underflows to 0; scale by the largest |entry| first"),
        ]
    if name == "normalize":
        return [
            _Case("3-4-5 triangle", ([3, 4],), [0.6, 0.8], "divide every entry by the vector's length"),
            _Case("NumPy array", (np.array([3.0, 4.0]),), [0.6, 0.8],
                  "accept NumPy arrays and leave them unchanged: return a / n, never a /= n"),
            _Case("huge values", (huge,), [math.sqrt(0.5)] * 2,
                  "fails for huge values: compute the length without overflow (scale before squaring)"),
            _Case("tiny values", (tiny,), [1.0, 0.0],
                  "fails for tiny values: the squared length underflows to 0; scale before squaring"),
            _Case("zero vector", ([0.0, 0.0],), [0.0, 0.0],
                  "a zero vector has no direction: raise ValueError or return zeros, never NaN",
                  accept_error=True),
        ]
    if name == "cosine":
        return [
            _Case("45 degrees", ([1, 0], [1, 1]), math.sqrt(0.5), "dot product divided by both lengths"),
            _Case("perpendicular", ([1, 0], [0, 3]), 0.0, "perpendicular vectors have cosine 0"),
            _Case("opposite", ([2, 0], [-5, 0]), -1.0, "opposite directions give -1: keep the sign"),
            _Case("scale does not matter", ([1, 2, 3], [10, 20, 30]), 1.0,
                  "cosine ignores length: divide by both norms", tol=1e-12),
            _Case("never above 1", ([-0.73, 0.69, 0.53], [-0.73, 0.69, 0.53]), 1.0,
                  "rounding can give 1.0000000000000002: clip the result to [-1, 1]", tol=0.0, compare="le1"),
            _Case("huge values", ([1e200, 0.0], huge), math.sqrt(0.5),
                  "fails for vectors with huge values: square after scaling (the norms overflow to inf)"),
            _Case("float32 arrays", (f32, f32[::-1].copy()),
                  float(np.dot(_unit(f32), _unit(f32[::-1]))), "accept NumPy float32 arrays", tol=1e-6),
            _Case("zero vector", ([0, 0], [1, 0]), 0.0,
                  "a zero vector has no direction: raise ValueError or return 0.0, never NaN",
                  accept_error=True),
        ]
    if name == "euclidean":
        return [
            _Case("3-4-5 triangle", ([0, 0], [3, 4]), 5.0, "length of the difference a - b"),
            _Case("identical vectors", ([0.1, 0.7], [0.1, 0.7]), 0.0, "identical vectors are at distance exactly 0",
                  tol=0.0),
            _Case("negative entries", ([-1, -1], [2, 3]), 5.0, "square the differences (negative ones too)"),
            _Case("huge values", ([3e200, 0], [0, 4e200]), 5e200,
                  "fails for huge values: scale the difference before squaring", tol=1e-9),
        ]
    if name == "knn":
        corpus = [[1, 0], [0, 1], [1, 1], [2, 0], [-1, 0]]
        units = [[0, 1], [1, 0], [-1, 0], [0.6, 0.8]]
        return [
            _Case("nearest first", ([1, 0.2], units, 2), [1, 3],
                  "score every row by cosine, then sort highest first and keep k", compare="exact"),
            _Case("cosine, not dot", ([1, 0.1], [[10, 10], [1, 0]], 1), [1],
                  "rank by cosine: a long vector must not win just by length", compare="exact"),
            _Case("k results", ([0.1, 1], corpus, 2), [1, 2],
                  "return exactly k indices, best first", compare="exact"),
            _Case("ties by lower index", ([1, 0], corpus, 2), [0, 3],
                  "ties: rows 0 and 3 both have cosine 1; keep the lower index first (a stable sort does)",
                  compare="exact"),
        ]
    if name == "pca":
        line = np.outer(np.linspace(-2, 2, 9), [3.0, 4.0]) / 5.0 + [10.0, -3.0]
        rng = np.random.default_rng(0)
        ellipse = rng.normal(size=(400, 2)) * [5.0, 1.0] + [3.0, 3.0]
        return [
            _Case("points on a line", (line, 1), [[0.6, 0.8]],
                  "centre the data (subtract the mean) before finding the direction of most variance",
                  tol=1e-6, compare="sign"),
            _Case("stretched cloud", (ellipse, 2), _pca_reference(ellipse, 2),
                  "the first component must carry the most variance; components are unit length "
                  "and perpendicular", tol=1e-3, compare="sign"),
        ]
    raise ValueError(f"no exercise named {name!r}; choose one of {', '.join(EXERCISES)}")


def _pca_reference(X, n):
    centred = X - X.mean(axis=0)
    values, vectors = np.linalg.eigh(centred.T @ centred)
    return vectors[:, ::-1][:, :n].T.tolist()


EXERCISES = tuple(_SIGNATURES)


@result
class ExerciseResult(Result):
    """The outcome of :func:`check`: which cases passed, and a hint for the first failure."""

    name: str
    """Exercise name, e.g. "cosine"."""
    passed: bool
    """True when every case passed."""
    cases: list
    """(label, passed, message) for each case, in order."""
    hint: str | None
    """What to fix for the first failing case, or None."""

    def __repr__(self) -> str:
        lines = [f"{self.name}: {'all ' + str(len(self.cases)) + ' checks passed' if self.passed else 'not yet'}"]
        for label, ok, message in self.cases:
            lines.append(f"  {'✓' if ok else '✗'} {label}" + ("" if ok else f": {message}"))
        if self.hint:
            lines.append(f"Hint: {self.hint}")
        return "\n".join(lines)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.cases, columns=["case", "passed", "message"])

    def _repr_html_(self) -> str:
        items = "".join(
            f"<li class='{'vd-ok' if ok else 'vd-critical'}'>{'✓' if ok else '✗'} {escape(label)}"
            + ("" if ok else f": {escape(message)}") + "</li>" for label, ok, message in self.cases)
        hint = f"<p><b>Hint:</b> {escape(self.hint)}</p>" if self.hint else ""
        title = f"Exercise {self.name}: " + ("passed" if self.passed else "not yet")
        return html_block(title, f"<ul>{items}</ul>", hint)


def _matches(case, answer) -> bool:
    if case.compare == "exact":
        return [int(i) for i in np.asarray(answer).ravel()] == list(case.expected)
    got = np.asarray(answer, dtype=np.float64)
    want = np.asarray(case.expected, dtype=np.float64)
    if got.shape != want.shape or not np.isfinite(got).all():
        return False
    if case.compare == "le1":
        return abs(float(got) - 1.0) <= 1e-12 and float(got) <= 1.0
    if case.compare == "sign":  # principal directions are defined up to sign
        return all(min(np.abs(g - w).max(), np.abs(g + w).max()) <= case.tol for g, w in zip(got, want))
    return np.allclose(got, want, rtol=case.tol, atol=case.tol)


def _run_case(fn, case) -> tuple[bool, str]:
    args = copy.deepcopy(case.args)
    before = copy.deepcopy(args)
    try:
        answer = fn(*args)
    except Exception as err:  # the learner's code may raise anything
        if case.expected is ValueError or case.accept_error:
            if isinstance(err, (ValueError, ZeroDivisionError, ArithmeticError)):
                return True, ""
        return False, f"raised {type(err).__name__}: {err}"
    for old, new in zip(before, args):
        if not np.array_equal(np.asarray(old, dtype=object), np.asarray(new, dtype=object)):
            return False, "your function changed its input: work on a copy (x / n, not x /= n)"
    if case.expected is ValueError:
        return False, f"returned {answer!r} instead of raising ValueError"
    if hasattr(answer, "components"):  # a Projection, as vd.pca / vd.scratch.pca return
        answer = answer.components
    try:
        ok = _matches(case, answer)
    except (TypeError, ValueError):
        ok = False
    if ok:
        return True, ""
    if case.compare == "exact" and np.size(answer) != len(case.expected):
        return False, f"returned {np.size(answer)} indices; return exactly k = {len(case.expected)}"
    return False, f"expected {np.round(np.asarray(case.expected, dtype=float), 6).tolist()}, got {answer!r}"


def check(name: str, fn) -> ExerciseResult:
    """Run a learner's ``fn`` on the edge cases of exercise ``name``; hint at the first miss.

    Parameters
    ----------
    name : {"dot", "norm", "normalize", "cosine", "euclidean", "knn", "pca"}
    fn : callable
        The learner's function, with the signature in ``vecdiag.exercises._SIGNATURES``.

    Returns
    -------
    ExerciseResult
        ``.passed``, one line per case, and a ``.hint`` naming what to fix.

    Examples
    --------
    >>> import math
    >>> check("norm", lambda a: math.sqrt(sum(x * x for x in a))).hint
    'fails for vectors with huge values: (1e200)**2 overflows to inf; divide by the largest |entry| first, square after scaling, multiply it back'
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function, got {type(fn).__name__}")
    outcomes = []
    for case in _cases(name):
        ok, message = _run_case(fn, case)
        outcomes.append((case.label, ok, message if ok else f"{message}"))
    first_fail = next((c for c, (_, ok, _) in zip(_cases(name), outcomes) if not ok), None)
    return ExerciseResult(name=name, passed=first_fail is None, cases=outcomes,
                          hint=None if first_fail is None else first_fail.hint)
