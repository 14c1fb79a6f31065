"""The grader behind :func:`vecdiag.exercises.check`: cases, known mistakes, diagnosis.

An exercise is a list of :class:`Case` (inputs, the right answer, a hint for that case)
plus a list of :class:`Mistake`: a realistic wrong answer written as code, with the hint
that names its error. When a learner's function fails, the grader runs each mistake on
the same cases; a mistake whose wrong answers the learner reproduces on every case where
that mistake is wrong is the diagnosis, and its hint is the one shown.
"""

from __future__ import annotations

import collections.abc
import copy
import functools
import itertools
import os
import signal
import sys
import sysconfig
import threading
import time

import numpy as np

TIME_LIMIT = 2.0  # seconds per case: a loop that never ends is a mistake too
STEP_LIMIT = 1_000_000  # Python lines per case: stops a runaway loop before it fills memory
IMPORT_LIMIT = 60.0  # seconds an import inside an answer may take (it counts towards neither)


class Case:
    """One test: ``fn(*args)`` must give ``expected`` (or raise ``expected`` if it is an
    exception class, with a message naming one of ``error_words``)."""

    def __init__(self, label, args, expected, hint, *, tol=1e-9, compare="close",
                 accept_error=False, error_words=()):
        self.label, self.args, self.expected, self.hint = label, args, expected, hint
        self.tol, self.compare, self.accept_error = tol, compare, accept_error
        self.error_words = tuple(error_words)

    @property
    def wants_error(self) -> bool:
        return isinstance(self.expected, type) and issubclass(self.expected, Exception)


class Mistake:
    """A realistic wrong answer (``fn``) and the hint naming its error."""

    def __init__(self, code, fn, hint):
        self.code, self.fn, self.hint = code, fn, hint


class Timeout(BaseException):
    """A case ran out of time or steps. Not an Exception: a learner's ``except Exception``
    inside the loop would swallow it and run on (the step count is then switched off)."""


class Outcome:
    """What a function did on one case: an answer, or the exception it raised."""

    def __init__(self, answer=None, error=None, mutated=False):
        self.answer, self.error, self.mutated = answer, error, mutated


def _call(fn, args) -> Outcome:
    args = copy.deepcopy(args)
    before = copy.deepcopy(args)
    budget = _Budget()
    use_alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if use_alarm:
        def _ring(signum, frame):
            wait = budget.seconds_left()
            if wait > 0:                                   # an import ran meanwhile: not the answer's time
                signal.setitimer(signal.ITIMER_REAL, wait)
                return
            raise Timeout(f"did not finish within {TIME_LIMIT:g} s (a loop that never ends?)")
        previous = signal.signal(signal.SIGALRM, _ring)
        outer, _ = signal.getitimer(signal.ITIMER_REAL)     # someone else's alarm (pytest-timeout)
        signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    # subtle: a loop that appends forever can fill gigabytes before a 2 s alarm rings, so
    # the lines the answer runs are counted too; a tracer already active (a debugger,
    # coverage) is called on as before, not displaced, and put back afterwards
    outer_trace = sys.gettrace()

    def lift_limits():
        sys.settrace(outer_trace)
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            if outer > 0:                                  # give the outer alarm its remaining time
                signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - budget.started), 1e-3))

    sys.settrace(_step_counter(STEP_LIMIT, outer_trace, budget))
    try:
        try:
            answer = fn(*args)
            if isinstance(answer, collections.abc.Iterator):
                # subtle: a generator runs only when read; reading it after the limits are
                # lifted hung the notebook on one that never stops (a chunk without its end
                # test). At most STEP_LIMIT items: an endless iterator in C counts no lines
                answer = list(itertools.islice(answer, STEP_LIMIT + 1))
        except (Exception, SystemExit, Timeout) as err:  # the learner's code may raise anything, exit too
            return Outcome(error=err)
        finally:
            lift_limits()
    except Timeout as err:
        # subtle: the alarm rang after the answer returned, while the limits were being
        # lifted; the Timeout would escape check() and stop the cell. Lift them again (the
        # first attempt may have stopped half-way): the answer took the whole time anyway
        lift_limits()
        return Outcome(error=err)
    mutated = any(not _same_input(old, new) for old, new in zip(before, args))
    try:
        if hasattr(answer, "components"):  # a Projection, as vd.pca / vd.scratch.pca return
            answer = answer.components
    except Exception as err:  # noqa: BLE001 - the answer's own property failed
        return Outcome(error=err, mutated=mutated)
    return Outcome(answer=answer, mutated=mutated)


class _Budget:
    """The time an answer has used, imports excluded.

    subtle: an ``import sklearn`` inside the answer runs about a million lines and can take
    seconds the first time; stopping it half-way failed a right answer and could leave the
    library half-imported in the learner's kernel. Imports therefore run unlimited (up to
    IMPORT_LIMIT seconds) and count neither lines nor time."""

    def __init__(self):
        self.started = time.monotonic()
        self.importing = 0                # depth of imports under way
        self.import_started = 0.0
        self.import_seconds = 0.0

    def enter_import(self):
        if not self.importing:
            self.import_started = time.monotonic()
        self.importing += 1

    def leave_import(self):
        self.importing -= 1
        if not self.importing:
            self.import_seconds += time.monotonic() - self.import_started

    def seconds_left(self) -> float:
        """Seconds the answer may still run; > 0 while an import is under way."""
        now = time.monotonic()
        if self.importing:
            return 0.05 if now - self.started < IMPORT_LIMIT else 0.0
        return TIME_LIMIT - (now - self.started - self.import_seconds)


def _is_import(code) -> bool:
    return code.co_name == "_find_and_load" and code.co_filename.startswith("<frozen importlib")


_OWN = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))   # vecdiag: its mistake models count
_LIBRARIES = tuple(sorted({os.path.realpath(sysconfig.get_paths()[key]) + os.sep
                           for key in ("stdlib", "platstdlib", "purelib", "platlib")}))


@functools.lru_cache(maxsize=4096)
def _library(filename: str) -> bool:
    """Code of the standard library or an installed package: its lines are not counted.

    subtle: formatting one NumPy array for a print runs ~370 lines of numpy and a notebook's
    output stream more, so an answer printing its progress in a loop ran out of steps
    though it was right. A loop of the answer's own still counts a line each turn."""
    if filename.startswith("<frozen"):
        return True
    if filename.startswith("<"):                   # code typed in a notebook or exec'd
        return False
    path = os.path.realpath(filename)
    return not path.startswith(_OWN + os.sep) and path.startswith(_LIBRARIES)


def _step_counter(limit, outer=None, budget=None):
    """A trace function that raises :class:`Timeout` after ``limit`` executed lines
    (neither imports nor library code counted), calling on ``outer`` (the tracer that was
    active, if any) for every event."""
    steps = 0
    budget = budget if budget is not None else _Budget()

    def local(inner, is_import):
        def on_event(frame, event, arg):
            nonlocal steps
            if event == "line" and not budget.importing:
                steps += 1
                if steps > limit:
                    raise Timeout(f"did not finish within {limit:,} steps (a loop that never "
                                  "ends?)")
            elif event == "return" and is_import:   # also when the import failed
                budget.leave_import()
            return local(inner(frame, event, arg) if inner is not None else None, is_import)
        return on_event

    def on_call(frame, event, arg):
        is_import = _is_import(frame.f_code)
        if is_import:
            budget.enter_import()
        elif budget.importing or _library(frame.f_code.co_filename):   # not counted, so not watched
            return outer(frame, event, arg) if outer is not None else None
        return local(outer(frame, event, arg) if outer is not None else None, is_import)

    return on_call


def _same_input(old, new) -> bool:
    try:
        return bool(np.array_equal(np.asarray(old, dtype=object), np.asarray(new, dtype=object)))
    except ValueError:  # ragged lists
        return old == new


def _numbers(answer):
    """``answer`` as an array when it holds numbers (not text, not True/False), else None:
    NumPy would read "3.0" and True as numbers and pass a wrong answer."""
    try:
        raw = np.asarray(answer)
    except Exception:  # noqa: BLE001 - ragged lists, and an answer whose __array__ or __len__ fails
        return None
    return raw if raw.dtype.kind in "fiu" else None


def _matches(case, answer) -> bool:
    if case.compare == "exact":
        raw = _numbers(answer)
        # positions are whole numbers: 3.4 is not row 3
        if raw is None or (raw.dtype.kind == "f" and not np.all(np.mod(raw, 1) == 0)):
            return False
        return [int(i) for i in raw.ravel()] == list(case.expected)
    if case.compare == "lists":  # a list of lists, compared as such
        try:
            return [list(x) for x in answer] == [list(x) for x in case.expected]
        except Exception:  # noqa: BLE001 - not a list of lists, or one whose items fail to compare
            return False
    if case.compare == "dict":
        if not isinstance(answer, dict) or set(answer) != set(case.expected):
            return False
        scores = {d: _numbers(answer[d]) for d in case.expected}      # one number each, not "0.5"
        return all(s is not None and s.shape == () and abs(float(s) - v) <= case.tol * max(1.0, abs(v))
                   for (d, v), s in zip(case.expected.items(), scores.values()))
    raw = _numbers(answer)
    if raw is None:
        return False
    got = raw.astype(np.float64)
    want = np.asarray(case.expected, dtype=np.float64)
    if got.shape != want.shape or not np.isfinite(got).all():
        return False
    if case.compare == "le1":
        return abs(float(got) - 1.0) <= 1e-12 and float(got) <= 1.0
    if case.compare == "sign":  # principal directions are defined up to sign
        return all(min(np.abs(g - w).max(), np.abs(g + w).max()) <= case.tol for g, w in zip(got, want))
    scale = float(np.abs(want).max()) if want.size else 0.0
    return bool(np.all(np.abs(got - want) <= case.tol * (scale if scale > 0 else 1.0)))


def _clear_error(case, err) -> bool:
    """A ValueError (or TypeError) with a message that names the problem. ZeroDivisionError,
    IndexError, OverflowError are accidents: they name nothing the caller can fix."""
    text = _text(err)
    if not isinstance(err, (ValueError, TypeError)) or not text.strip():
        return False
    if case.error_words:
        return any(w in text.lower() for w in case.error_words)
    return True


def _text(err) -> str:
    """The message of the learner's exception ("" when its __str__ itself fails)."""
    try:
        return str(err)
    except Exception:  # noqa: BLE001 - a learner's exception class may be broken too
        return ""


def judge(case, outcome) -> tuple[bool, str]:
    """(passed, message) for one case."""
    err = outcome.error
    if err is not None:
        if isinstance(err, NotImplementedError):
            return False, "not written yet"
        if isinstance(err, Timeout):
            return False, f"never finished: {_text(err)}"
        if (case.wants_error or case.accept_error) and _clear_error(case, err):
            return True, ""
        if case.wants_error or case.accept_error:
            if isinstance(err, (ValueError, TypeError)):
                need = " naming " + " or ".join(repr(w) for w in case.error_words) if case.error_words else ""
                return False, (f"raised {type(err).__name__}({_text(err)!r}), which does not say what is "
                               f"wrong; raise ValueError with a message{need}")
            return False, (f"crashed with {type(err).__name__}: {_text(err)}. That is an accident, not a "
                           "clear error: detect the case yourself and raise ValueError saying what is wrong")
        return False, f"raised {type(err).__name__}: {_text(err)}"
    if outcome.mutated:
        return False, "your function changed its input: work on a copy (x / n, not x /= n)"
    if case.wants_error:
        return False, f"returned {_short(outcome.answer)} instead of raising {case.expected.__name__}"
    if _matches(case, outcome.answer):
        return True, ""
    size = _size(outcome.answer)
    if case.compare == "exact" and size is not None and size != len(case.expected):
        return False, f"returned {size} indices; return exactly k = {len(case.expected)}"
    if case.compare == "sign":                     # pca: one row of d numbers per direction
        got, want = _numbers(outcome.answer), np.shape(case.expected)
        if got is not None and got.shape != want:
            return False, f"expected an array of shape {want} (one row per direction), got shape {got.shape}"
    return False, f"expected {_short(case.expected)}, got {_short(outcome.answer)}"


def _size(answer):
    """How many numbers ``answer`` holds; None for a ragged list (np.size raises on it)."""
    try:
        return int(np.size(answer))
    except Exception:  # noqa: BLE001
        return None


def _short(x, limit: int = 160) -> str:
    if isinstance(x, np.ndarray):
        x = np.round(x, 6).tolist() if x.dtype.kind == "f" else x.tolist()
    try:
        text = repr(x)
    except Exception:  # noqa: BLE001 - the learner's object may fail to print itself
        text = f"a {type(x).__name__} that cannot be printed"
    return text if len(text) <= limit else text[:limit] + "…"


_NUMERIC = (OverflowError, ZeroDivisionError, FloatingPointError)


def _kind(outcome) -> str:
    """"numeric" (overflow, division by zero, inf/NaN), "error:<Type>" or "answer"."""
    if outcome.error is not None:
        return "numeric" if isinstance(outcome.error, _NUMERIC) else f"error:{type(outcome.error).__name__}"
    try:
        if not np.isfinite(np.asarray(outcome.answer, dtype=np.float64)).all():
            return "numeric"
    except Exception:  # noqa: BLE001 - not numbers (text, an int beyond float range, ...)
        pass
    return "answer"


def _same_behaviour(case, a, b) -> bool:
    """Did the learner (a) go wrong the way the mistake (b) does on this case?

    Numerical breakdowns count as one behaviour: ``x ** 2`` raises OverflowError where
    ``x * x`` gives inf, and 1.0 / 0.0 raises in Python but gives inf in NumPy."""
    if b.mutated and not a.mutated:
        return False
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    if ka != "answer":
        return True
    if case.compare in ("exact", "lists", "dict", "sign"):
        probe = Case(case.label, case.args, b.answer, case.hint, tol=max(case.tol, 1e-6), compare=case.compare)
        if case.compare == "exact":
            try:
                probe.expected = [int(i) for i in np.asarray(b.answer).ravel()]
            except (TypeError, ValueError):
                return False
        return _matches(probe, a.answer)
    x, y = _numbers(a.answer), _numbers(b.answer)   # True is not 1.0 here either
    if x is None or y is None:
        return False
    x, y = x.astype(np.float64), y.astype(np.float64)
    tol = max(case.tol, 1e-6)
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=tol, atol=tol))


def diagnose(cases, outcomes, verdicts, mistakes) -> list:
    """The mistakes whose wrong answers the learner reproduces, ordered by the first case
    they get wrong. Several models may share one code (the same mistake written two ways)."""
    found = []
    for mistake in mistakes:
        if any(m.code == mistake.code for _, m in found):
            continue
        wrong_on = []
        for case, outcome in zip(cases, outcomes):
            m_out = _call(mistake.fn, case.args)
            if not judge(case, m_out)[0]:
                wrong_on.append((case, outcome, m_out))
        if wrong_on and all(_same_behaviour(c, o, m) for c, o, m in wrong_on) \
                and all(not verdicts[cases.index(c)][0] for c, _, _ in wrong_on):
            found.append((cases.index(wrong_on[0][0]), mistake))
    return [m for _, m in sorted(found, key=lambda pair: pair[0])]
