"""Checks on the test suite itself: asserts that cannot fail, and doctests that round.

* An ``assert`` whose only check is ``x is not None``, ``x > 0`` or ``x >= 0`` on a
  computed value passes for almost any wrong answer (issue 22 found an in-place normalise
  passing ``check`` this way). Each such assert is flagged unless its line says why it is
  enough with ``# weak-ok: REASON`` (e.g. a smoke check next to the real one).
* Doctests compare exactly: the ``NUMBER`` option (an expected ``1.0`` accepting ``0.95``)
  is neither configured nor used in a directive; examples round explicitly instead.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = sorted((ROOT / "tests").glob("*.py"))
WAIVER = re.compile(r"#\s*weak-ok:\s*\S.{4,}")


def _is_zero(node) -> bool:
    return isinstance(node, ast.Constant) and not isinstance(node.value, bool) \
        and node.value == 0


def weak(test: ast.expr) -> bool:
    """Does this assert expression only check 'not None' or 'positive'?"""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return all(weak(v) for v in test.values)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, left, right = test.ops[0], test.left, test.comparators[0]
        if isinstance(op, ast.IsNot) and isinstance(right, ast.Constant) and right.value is None:
            return True
        if isinstance(op, (ast.Gt, ast.GtE)) and _is_zero(right) and not isinstance(left, ast.Constant):
            return True
        if isinstance(op, (ast.Lt, ast.LtE)) and _is_zero(left) and not isinstance(right, ast.Constant):
            return True
    return False


def weak_asserts(source: str) -> list[tuple[int, str]]:
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assert) and weak(node.test):
            text = lines[node.lineno - 1]
            if not WAIVER.search(text):
                found.append((node.lineno, text.strip()))
    return found


@pytest.mark.parametrize("source, n", [
    ("assert res is not None", 1),
    ("assert ours > 0", 1),
    ("assert 0 < x", 1),
    ("assert len(f) > 0 and y is not None", 1),
    ("assert len(f) > 0 and y == 3", 0),               # one real check is enough
    ("assert 0 < share <= 1", 0),                      # a range, not only a sign
    ("assert x > 0  # weak-ok: a smoke check beside the escaping test", 0),
    ("assert x > 0  # weak-ok:", 1),                   # a waiver must say why
    ("assert x == 0", 0),
])
def test_the_checker_itself(source, n):
    assert len(weak_asserts(source)) == n


def test_no_assert_only_checks_not_none_or_positive():
    bad = [f"{path.relative_to(ROOT)}:{line}: {text}" for path in TESTS
           for line, text in weak_asserts(path.read_text(encoding="utf-8"))]
    assert not bad, ("asserts that pass for almost any wrong answer; compare with an "
                     "expected value (or add '# weak-ok: REASON'):\n" + "\n".join(bad))


def test_doctests_are_exact():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "NUMBER" not in config.get("doctest_optionflags", [])
    directive = re.compile(r"#\s*doctest:.*\+NUMBER")
    used = [f"{p.relative_to(ROOT)}:{i}" for p in sorted((ROOT / "vecdiag").rglob("*.py"))
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if directive.search(line)]
    assert not used, f"+NUMBER doctest directives: {used}"
