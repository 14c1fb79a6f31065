"""Exercises for the notebooks: write a function, then ``check`` it on the edge cases.

In a notebook each exercise starts as a stub that raises ``NotImplementedError``; ``check``
then reports "not written yet" without stopping the notebook. Write the body, run the cell
again, and read the hint: when the answer fails, the grader compares it with the wrong
answers learners commonly write and names the mistake it recognises.

>>> import vecdiag as vd
>>> def my_dot(a, b):
...     raise NotImplementedError
>>> vd.exercises.check("dot", my_dot).status
'not written yet'
>>> def my_dot(a, b):
...     return sum(x * y for x, y in zip(a, b))
>>> vd.exercises.check("dot", my_dot).mistakes
['zip_truncates']

``vd.exercises.solution("dot")`` prints a model answer, when you want to compare.
"""

from __future__ import annotations

import inspect

from .. import _validate as V
from ..results import Result, escape, html_block, result
from . import _measures, _retrieval, _vectors
from ._grader import Timeout, _call, diagnose, judge

__all__ = ["check", "solution", "signature", "ExerciseResult", "EXERCISES"]

_MODULES = {name: mod for mod in (_vectors, _retrieval, _measures) for name in mod.SIGNATURES}
EXERCISES = tuple(_MODULES)
"""Names of every exercise, in course order."""


def _module(name):
    if not isinstance(name, str) or name not in _MODULES:
        raise ValueError(f"no exercise named {name!r}; choose one of {', '.join(EXERCISES)}")
    return _MODULES[name]


@result
class ExerciseResult(Result):
    """The outcome of :func:`check`: which cases passed, and a hint naming the mistake.

    Attributes
    ----------
    name : str
        Exercise name, e.g. ``"cosine"``.
    passed : bool
        True when every case passed.
    status : str
        ``"passed"``, ``"not written yet"`` (the stub still raises
        NotImplementedError) or ``"not yet"``.
    cases : list
        ``(label, passed, message)`` for each case, in order.
    mistakes : list of str
        Codes of the known mistakes the answer reproduces (e.g. ``["eigh_ascending"]``).
    hint : str or None
        What to fix: the diagnosed mistake's hint, else the first failing case's;
        None when passed.

    Examples
    --------
    >>> r = check("dot", lambda a, b: sum(x * y for x, y in zip(a, b)))
    >>> r.name, r.passed, r.status, r.mistakes
    ('dot', False, 'not yet', ['zip_truncates'])
    >>> r.cases[0]
    ('small vectors', True, '')
    """

    name: str
    """Exercise name, e.g. "cosine"."""
    passed: bool
    """True when every case passed."""
    status: str
    """"passed", "not written yet" (the stub still raises NotImplementedError) or "not yet"."""
    cases: list
    """(label, passed, message) for each case, in order."""
    mistakes: list
    """Codes of the known mistakes the answer reproduces (e.g. ["eigh_ascending"])."""
    hint: str | None
    """What to fix: the diagnosed mistake's hint, else the first failing case's; None if passed."""

    def __repr__(self) -> str:
        n = len(self.cases)
        head = {"passed": f"all {n} checks passed", "not written yet":
                "not written yet: replace `raise NotImplementedError` with your code and run the cell again"
                }.get(self.status, "not yet")
        lines = [f"{self.name}: {head}"]
        if self.status != "not written yet":
            for label, ok, message in self.cases:
                lines.append(f"  {'✓' if ok else '✗'} {label}" + ("" if ok else f": {message}"))
        if self.hint:
            lines.append(f"Hint: {self.hint}")
        return "\n".join(lines)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.cases, columns=["case", "passed", "message"])

    def _repr_html_(self) -> str:
        title = f"Exercise {self.name}: {self.status}"
        if self.status == "not written yet":
            return html_block(title, "<p>Replace <code>raise NotImplementedError</code> with your code "
                                     "and run the cell again.</p>", f"<p><b>Hint:</b> {escape(self.hint)}</p>")
        items = "".join(
            f"<li class='{'vd-ok' if ok else 'vd-critical'}'>{'✓' if ok else '✗'} {escape(label)}"
            + ("" if ok else f": {escape(message)}") + "</li>" for label, ok, message in self.cases)
        hint = f"<p><b>Hint:</b> {escape(self.hint)}</p>" if self.hint else ""
        return html_block(title, f"<ul>{items}</ul>", hint)


def check(name: str, fn) -> ExerciseResult:
    """Run a learner's ``fn`` on the edge cases of exercise ``name``; name the mistake.

    Parameters
    ----------
    name : str
        One of :data:`EXERCISES` ("dot", "norm", "normalize", "cosine", "euclidean", "knn",
        "pca", "chunk", "bm25", "rrf", "ndcg", "paired_t", "ann_recall").
    fn : callable
        The learner's function, with the signature :func:`signature` gives.

    Returns
    -------
    ExerciseResult
        ``.passed``, ``.status``, one line per case, the diagnosed ``.mistakes`` and a
        ``.hint``. A stub that raises NotImplementedError gives status "not written yet";
        nothing is raised, so a notebook with unwritten exercises still runs to the end.

    Notes
    -----
    A crash is not an answer: where a case asks for an error, only a ValueError (or
    TypeError) whose message says what is wrong passes; a ZeroDivisionError or IndexError
    fails with a hint. Each case runs on copies of its inputs, which must not change, and
    within 2 seconds and a million lines of the function's own code (an endless loop fails
    instead of hanging the notebook); an import inside the function counts towards neither.

    Examples
    --------
    >>> import math
    >>> check("norm", lambda a: math.sqrt(sum(x * x for x in a))).mistakes
    ['overflow']
    """
    mod = _module(name)
    if not callable(fn):
        raise TypeError(f"fn must be a function, got {type(fn).__name__}; pass the function itself, "
                        f"check({name!r}, my_{name}), without calling it")
    cases = mod.cases(name)
    outcomes = [_call(fn, case.args) for case in cases]
    verdicts = [judge(case, out) for case, out in zip(cases, outcomes)]
    rows = [(case.label, ok, message) for case, (ok, message) in zip(cases, verdicts)]
    if all(ok for ok, _ in verdicts):
        return ExerciseResult(name=name, passed=True, status="passed", cases=rows, mistakes=[], hint=None)
    if any(isinstance(out.error, NotImplementedError) for out in outcomes):
        return ExerciseResult(name=name, passed=False, status="not written yet", cases=rows, mistakes=[],
                              hint=f"write {signature(name)}. Stuck? vd.exercises.solution({name!r}) "
                                   "prints a model answer")
    found = diagnose(cases, outcomes, verdicts, mod.MISTAKES[name])
    first = next(i for i, (ok, _) in enumerate(verdicts) if not ok)
    # a changed input or an endless loop is the mistake itself: the case's hint would name another
    stuck = outcomes[first].mutated or isinstance(outcomes[first].error, Timeout)
    fallback = verdicts[first][1] if stuck else cases[first].hint
    hint = " Also: ".join(m.hint for m in found) if found else fallback
    if not found and all(out.error is not None and not isinstance(out.error, Timeout)
                         for out in outcomes):
        # nothing ran through: most often the arguments or the return value are not the
        # ones asked for (vd.scratch.knn's batch signature, say), not the math
        hint = f"every case raised an error: check that you wrote {signature(name)}"
    return ExerciseResult(name=name, passed=False, status="not yet", cases=rows,
                          mistakes=[m.code for m in found], hint=hint)


def signature(name: str) -> str:
    """The function an exercise asks for, e.g. ``"dot(a, b) -> float ..."``.

    Parameters
    ----------
    name : str
        One of :data:`EXERCISES` (``"dot"``, ``"cosine"``, ``"knn"``, ...).

    Returns
    -------
    str
        The signature to write, with what it returns and how it must fail.

    Raises
    ------
    ValueError
        When ``name`` is not an exercise.

    Examples
    --------
    >>> signature("dot")
    'dot(a, b) -> float (ValueError when the lengths differ)'
    """
    return _module(name).SIGNATURES[name]


def solution(name: str, *, show: bool = True):
    """Print the model answer of exercise ``name`` (its source), and return the function.

    Parameters
    ----------
    name : str
        One of :data:`EXERCISES` (``"dot"``, ``"cosine"``, ``"rrf"``, ...).
    show : bool, default True
        Print the answer's source (as ``def my_<name>(...)``); False only returns it.

    Returns
    -------
    callable
        The model answer.

    Raises
    ------
    ValueError
        When ``name`` is not an exercise.

    Examples
    --------
    >>> f = solution("rrf", show=False)
    >>> round(f([["a", "b"], ["b"]], k=60)["b"], 6)
    0.032522
    """
    fn = _module(name).SOLUTIONS[name]
    if V.check_bool(show, "show"):       # show="False" is truthy: refused
        print(inspect.getsource(fn).replace(f"def solution_{name}(", f"def my_{name}("))
    return fn
