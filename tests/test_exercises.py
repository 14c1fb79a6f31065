"""vd.exercises: stubs fail as "not written yet", model answers pass and agree with
independent references, and three realistic wrong answers per exercise each get the hint
that names their mistake. The wrong answers here are written as a learner would write
them, independently of the grader's own mistake models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import vecdiag as vd
from vecdiag import scratch

EX = vd.exercises
ROOT = Path(__file__).resolve().parents[1]


def test_every_exercise_has_three_mistakes_and_a_signature():
    from vecdiag.exercises import _module

    assert len(EX.EXERCISES) == 13
    for name in EX.EXERCISES:
        assert len(_module(name).MISTAKES[name]) >= 3, name
        assert EX.signature(name).startswith(name + "(")


@pytest.mark.parametrize("name", EX.EXERCISES)
def test_stub_is_not_written_yet(name):
    def stub(*args, **kwargs):
        raise NotImplementedError

    res = EX.check(name, stub)
    assert not res.passed and res.status == "not written yet"
    assert f"vd.exercises.solution({name!r})" in res.hint
    assert "not written yet" in repr(res) and "not written yet" in res._repr_html_()


@pytest.mark.parametrize("name", EX.EXERCISES)
def test_solutions_pass(name, capsys):
    fn = EX.solution(name)
    printed = capsys.readouterr().out
    assert f"def my_{name}(" in printed
    res = EX.check(name, fn)
    assert res.passed and res.status == "passed" and res.hint is None, repr(res)


@pytest.mark.parametrize("name", EX.EXERCISES)
def test_grader_mistake_models_fail(name):
    from vecdiag.exercises import _module

    for mistake in _module(name).MISTAKES[name]:
        res = EX.check(name, mistake.fn)
        assert not res.passed and mistake.code in res.mistakes, (mistake.code, repr(res))


def test_fast_and_scratch_vector_functions_pass():
    for name in ["dot", "norm", "normalize", "cosine", "euclidean"]:
        assert EX.check(name, getattr(scratch, name)).passed, name
        assert EX.check(name, getattr(vd, name)).passed, name
    assert EX.check("pca", vd.scratch.pca).passed        # a Projection is accepted too
    assert EX.check("pca", vd.pca).passed


# --------------------------------------------------------------- learners' wrong answers
def _py_norm(v):
    return sum(x ** 2 for x in v) ** 0.5


def wrong_pca_eigh(X, n):            # forgets that eigh sorts ascending
    X = np.asarray(X, float)
    X = X - X.mean(0)
    w, v = np.linalg.eigh(np.cov(X.T))
    return v[:, :n].T


def wrong_pca_columns(X, n):         # returns eigh's columns as they are
    X = np.asarray(X, float)
    X = X - X.mean(0)
    w, v = np.linalg.eigh(np.cov(X.T))
    order = np.argsort(w)[::-1]
    return v[:, order[:n]]


def wrong_pca_no_centre(X, n):
    X = np.asarray(X, float)
    w, v = np.linalg.eigh(X.T @ X)
    return v[:, ::-1].T[:n]


def wrong_chunk_while(tokens, size, overlap=0):   # checks nothing
    out, i = [], 0
    while i < len(tokens):
        out.append(tokens[i:i + size])
        if i + size >= len(tokens):
            break
        i += size - overlap
    return out


def wrong_bm25_classic_idf(query, docs, k1=1.5, b=0.75):
    N, avg = len(docs), np.mean([len(d) for d in docs])
    out = []
    for d in docs:
        s = 0.0
        for t in query:
            n = sum(t in x for x in docs)
            if n and t in d:
                tf = d.count(t)
                s += math.log((N - n + 0.5) / (n + 0.5)) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avg)) \
                    / (k1 + 1)
        out.append(s)
    return out


def wrong_bm25_tfidf(query, docs, k1=1.5, b=0.75):
    N = len(docs)
    return [sum(d.count(t) * math.log(1 + (N - sum(t in x for x in docs) + 0.5) / (sum(t in x for x in docs) + 0.5))
                for t in query if t in d) for d in docs]


def wrong_bm25_b0(query, docs, k1=1.5, b=0.75):
    N = len(docs)
    scores = []
    for d in docs:
        s = 0.0
        for t in set(query):
            df = sum(t in x for x in docs)
            tf = d.count(t)
            if tf:
                s += math.log(1 + (N - df + 0.5) / (df + 0.5)) * tf / (tf + k1)
        scores.append(s)
    return scores


def wrong_rrf_index(rankings, k=60):
    out = {}
    for r in rankings:
        for i in range(len(r)):
            out[r[i]] = out.get(r[i], 0) + 1 / (k + i)
    return out


def wrong_rrf_reciprocal_rank(rankings, k=60):
    out = {}
    for r in rankings:
        for i, d in enumerate(r):
            out[d] = out.get(d, 0) + 1 / (i + 1)
    return out


def wrong_rrf_common(rankings, k=60):
    docs = set.intersection(*[set(r) for r in rankings])
    return {d: sum(1 / (k + r.index(d) + 1) for r in rankings) for d in docs}


def wrong_ndcg_enumerate(ranked, rel, k=10):
    dcg = sum(rel.get(d, 0) / np.log2(i + 1) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    return dcg / sum(g / np.log2(i + 1) for i, g in enumerate(ideal))


def wrong_ndcg_run_ideal(ranked, rel, k=10):
    gains = [rel.get(d, 0) for d in ranked[:k]]
    disc = [1 / math.log2(i + 2) for i in range(len(gains))]
    ideal = sorted(gains, reverse=True)
    return sum(g * w for g, w in zip(gains, disc)) / sum(g * w for g, w in zip(ideal, disc))


def wrong_ndcg_binary(ranked, rel, k=10):
    relevant = {d for d, g in rel.items() if g > 0}
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in relevant)
    return dcg / sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))


def wrong_t_independent(a, b):
    from scipy import stats

    r = stats.ttest_ind(a, b, equal_var=False)
    return r.statistic, r.pvalue


def wrong_t_np_std(a, b):
    from scipy import stats

    d = np.array(a) - np.array(b)
    t = d.mean() / (np.std(d) / np.sqrt(len(d)))
    return t, 2 * stats.t.sf(abs(t), len(d) - 1)


def wrong_t_half(a, b):
    from scipy import stats

    r = stats.ttest_rel(a, b)
    return r.statistic, r.pvalue / 2


def wrong_recall_zip(approx, exact):
    return float(np.mean([np.mean([g == w for g, w in zip(a, e)]) for a, e in zip(approx, exact)]))


def wrong_recall_valid(approx, exact):
    vals = []
    for a, e in zip(approx, exact):
        got = [x for x in a if x != -1]
        vals.append(len(set(got) & set(e)) / len(got))
    return sum(vals) / len(vals)


def wrong_recall_list(approx, exact):
    return float(np.mean([sum(x in e for x in a) / len(e) for a, e in zip(approx, exact)]))


WRONG = [
    ("dot", lambda a, b: sum(x * y for x, y in zip(a, b)), "zip stops silently"),
    ("dot", lambda a, b: sum(a[i] * b[i] for i in range(len(a))), "IndexError"),
    ("dot", lambda a, b: [x * y for x, y in zip(a, b)], "their sum"),
    ("norm", _py_norm, "square after scaling"),
    ("norm", lambda a: max(map(abs, a)) * _py_norm([x / max(map(abs, a)) for x in a]), "zero vector"),
    ("norm", lambda a: sum(x * x for x in a), "square root"),
    ("normalize", lambda a: [x / _py_norm(a) for x in a], "overflow"),
    ("normalize", lambda a: np.asarray(a, float) / vd.norm(a), "zero vector"),   # NaN, not an error
    ("normalize", lambda a: [x / vd.norm(a) for x in a] if isinstance(a, list) else a.__itruediv__(vd.norm(a)),
     "in place"),
    ("cosine", lambda a, b: float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))), "clip"),
    ("cosine", lambda a, b: max(-1.0, min(1.0, sum(x * y for x, y in zip(a, b)) / (_py_norm(a) * _py_norm(b)))),
     "overflow"),
    ("cosine", lambda a, b: max(-1.0, min(1.0, sum(x * y for x, y in zip(vd.scratch.normalize(a, zero="ignore"),
                                                                           vd.scratch.normalize(b, zero="ignore"))
                                                 ) / (vd.norm(a) / vd.norm(a)))), "zero vector"),
    ("euclidean", lambda a, b: _py_norm([x - y for x, y in zip(a, b)]), "scale the difference"),
    ("euclidean", lambda a, b: float(np.sum((np.asarray(a, float) - np.asarray(b, float)) ** 2)), "square root"),
    ("euclidean", lambda a, b: float(np.abs(np.subtract(a, b, dtype=float)).sum()), "Manhattan"),
    ("knn", lambda q, c, k: list(np.argsort(-(np.asarray(c, float) @ np.asarray(q, float)), kind="stable")[:k]),
     "dot product"),
    ("knn", lambda q, c, k: list(np.argsort(np.linalg.norm(np.asarray(c, float) - np.asarray(q, float), axis=1),
                                            kind="stable")[:k]), "euclidean distance"),
    ("knn", lambda q, c, k: list(np.argsort(vd.cosine_matrix([q], c)[0])[::-1][:k]), "reverses ties"),
    ("pca", wrong_pca_eigh, "ascending order"),
    ("pca", wrong_pca_columns, "columns"),
    ("pca", wrong_pca_no_centre, "centre the data"),
    ("chunk", lambda t, s, o=0: [t[i:i + s] for i in range(0, len(t) - s + 1, s - o)] or [t], "last, shorter window"),
    ("chunk", lambda t, s, o=0: [t[i:i + s] for i in range(0, len(t), s)] if o < s else 1 / 0, "size - overlap"),
    ("chunk", wrong_chunk_while, "loop never ends"),
    ("bm25", wrong_bm25_classic_idf, "negative"),
    ("bm25", wrong_bm25_tfidf, "saturates"),
    ("bm25", wrong_bm25_b0, "length normalisation"),
    ("rrf", wrong_rrf_index, "rank 1"),
    ("rrf", wrong_rrf_reciprocal_rank, "1 / (k + rank)"),
    ("rrf", wrong_rrf_common, "missing from one list"),
    ("ndcg", wrong_ndcg_enumerate, "ZeroDivisionError"),
    ("ndcg", wrong_ndcg_run_ideal, "every judged relevant document"),
    ("ndcg", wrong_ndcg_binary, "the gain is its grade"),
    ("paired_t", wrong_t_independent, "same queries"),
    ("paired_t", wrong_t_np_std, "n - 1"),
    ("paired_t", wrong_t_half, "one-sided"),
    ("ann_recall", wrong_recall_zip, "position by position"),
    ("ann_recall", wrong_recall_valid, "divide by k"),
    ("ann_recall", wrong_recall_list, "counted twice"),
]


@pytest.mark.parametrize("name, fn, words", WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_wrong_answers_get_the_hint_naming_their_mistake(name, fn, words):
    res = EX.check(name, fn)
    assert not res.passed and res.status == "not yet"
    assert res.mistakes, f"no mistake diagnosed:\n{res!r}"
    assert words in res.hint, repr(res)


def test_the_pca_mistakes_get_different_hints():
    hints = {EX.check("pca", f).hint for f in (wrong_pca_eigh, wrong_pca_columns, wrong_pca_no_centre)}
    assert len(hints) == 3
    assert "centre" not in EX.check("pca", wrong_pca_eigh).hint
    assert "tie" not in EX.check("knn", WRONG[16][1]).hint.lower()     # euclidean is not a tie problem


def test_accidental_errors_are_not_clear_errors():
    def zero_div_cosine(a, b):           # crashes on the zero vector: not "a clear error"
        na, nb = sum(x * x for x in a) ** 0.5, sum(x * x for x in b) ** 0.5
        return max(-1.0, min(1.0, sum(x * y for x, y in zip(a, b)) / (na * nb)))

    res = EX.check("cosine", zero_div_cosine)
    zero = dict((c[0], c) for c in res.cases)["zero vector"]
    assert zero[1] is False and "ZeroDivisionError" in zero[2] and "accident" in zero[2]

    def silent_value_error(a, b):         # a ValueError without a message names nothing
        if len(a) != len(b):
            raise ValueError
        return float(np.dot(a, b))

    res = EX.check("dot", silent_value_error)
    assert not res.passed and "does not say what is wrong" in dict((c[0], c) for c in res.cases)["a longer than b"][2]


def test_mutation_and_endless_loops_are_caught():
    def inplace(a):
        a = a if isinstance(a, np.ndarray) else np.array(a, float)
        a /= vd.norm(a)
        return a

    res = EX.check("normalize", inplace)
    assert "changed its input" in dict((c[0], c) for c in res.cases)["array input"][2]
    res = EX.check("chunk", wrong_chunk_while)
    assert "never finished" in dict((c[0], c) for c in res.cases)["overlap >= size"][2]


# ------------------------------------------------------------ model answers vs references
def test_solutions_agree_with_library_references():
    pytest.importorskip("bm25s")
    texts = ["the cat sat on the mat", "a dog sat", "cat cat cat cat", "bird over the mat and the cat",
             "mat mat dog"]
    docs = [vd.scratch.tokenize(t) for t in texts]
    bm = EX.solution("bm25", show=False)
    for q in ["cat", "sat mat", "dog bird", "the cat"]:
        mine = bm(vd.scratch.tokenize(q), docs)
        ref = vd.lexical.bm25([q], texts, k=len(texts), stopwords=None)[0]
        assert np.allclose(mine, [ref.get(i, 0.0) for i in range(len(texts))], rtol=1e-5)
    rrf = EX.solution("rrf", show=False)
    runs = [["a", "b", "c"], ["c", "d", "a", "e"]]
    ref = vd.fixes.hybrid({"q": {d: -i for i, d in enumerate(runs[0])}},
                          {"q": {d: -i for i, d in enumerate(runs[1])}}, k=60)["q"]
    assert rrf(runs) == pytest.approx(ref)


def test_ndcg_t_and_recall_solutions_against_references():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from scipy import stats

    rng = np.random.default_rng(3)
    ndcg = EX.solution("ndcg", show=False)
    for trial in range(20):
        docs = [f"d{i}" for i in range(15)]
        rel = {d: int(g) for d, g in zip(docs, rng.integers(0, 3, 15)) if g}
        if not rel:
            continue
        ranked = list(rng.permutation(docs)[:10])
        run = {"q": {d: float(10 - i) for i, d in enumerate(ranked)}}
        ref = pytrec_eval.RelevanceEvaluator({"q": rel}, {"ndcg_cut_10"}).evaluate(run)["q"]["ndcg_cut_10"]
        assert ndcg(ranked, rel) == pytest.approx(ref, abs=1e-9)
    t = EX.solution("paired_t", show=False)
    a, b = rng.random(30), rng.random(30)
    assert t(list(a), list(b)) == pytest.approx(tuple(stats.ttest_rel(a, b)))
    rec = EX.solution("ann_recall", show=False)
    exact = [rng.permutation(50)[:10].tolist() for _ in range(6)]
    approx = [e[:7] + [int(x) for x in rng.integers(50, 60, 3)] for e in exact]
    assert rec(approx, exact) == pytest.approx(vd.ann_recall(approx, exact))


# ---------------------------------------------------------------- the notebooks' stubs
def _exercise_cells():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            src = "".join(cell["source"])
            if cell["cell_type"] == "code" and "vd.exercises.check(" in src:
                yield path.name, src


def test_every_notebook_stub_fails_the_grader():
    cells = list(_exercise_cells())
    names = set()
    for nb, src in cells:
        assert "raise NotImplementedError" in src, f"{nb}: an exercise cell holds an answer:\n{src}"
        ns = {"vd": vd, "np": np}
        exec(compile(src.replace("vd.exercises.check(", "_result = vd.exercises.check("), nb, "exec"), ns)
        assert ns["_result"].status == "not written yet", (nb, repr(ns["_result"]))
        names.add(ns["_result"].name)
    assert names == set(EX.EXERCISES), f"exercises without a notebook stub: {set(EX.EXERCISES) - names}"


def test_display_and_errors():
    res = EX.check("norm", _py_norm)
    assert "Hint:" in repr(res) and "✗ huge values" in repr(res)
    assert "not yet" in res._repr_html_()
    assert list(res.to_frame().columns) == ["case", "passed", "message"]
    with pytest.raises(ValueError, match="no exercise named 'cos'"):
        EX.check("cos", _py_norm)
    with pytest.raises(TypeError, match="fn must be a function"):
        EX.check("cosine", 3)
    with pytest.raises(ValueError, match="no exercise named"):
        EX.solution("nope")


def test_an_outer_alarm_survives_the_grader():
    import signal

    if not hasattr(signal, "setitimer"):
        pytest.skip("interval timers do not apply on this platform")
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *a: fired.append(True))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        EX.check("dot", EX.solution("dot", show=False))
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 20.0 < remaining <= 30.0 and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_an_alarm_ringing_while_the_limits_are_lifted_is_a_timeout(monkeypatch):
    """The 2 s alarm can ring after the answer returned, while the grader puts the tracer
    and the alarm back: the Timeout then escaped check() and stopped the notebook cell.
    Simulated deterministically: the alarm's handler runs at the tracer's restoring."""
    import signal
    import types

    from vecdiag.exercises import _grader

    if not hasattr(signal, "setitimer"):
        pytest.skip("interval timers do not apply on this platform")
    # the answer's time is up when the alarm's handler asks (the real alarm, 2 s away,
    # never rings in this test: the handler is called by hand below)
    monkeypatch.setattr(_grader._Budget, "seconds_left", lambda self: 0.0)
    real = _grader.sys
    calls = []

    def settrace(tracer):
        calls.append(tracer)
        if len(calls) == 2:                            # the restoring call, after the answer
            signal.getsignal(signal.SIGALRM)(signal.SIGALRM, None)
        real.settrace(tracer)

    monkeypatch.setattr(_grader, "sys", types.SimpleNamespace(
        settrace=settrace, gettrace=real.gettrace, modules=real.modules))
    handler, tracer = signal.getsignal(signal.SIGALRM), real.gettrace()
    outer = signal.getitimer(signal.ITIMER_REAL)[0]    # pytest-timeout's alarm, if any
    outcome = _grader._call(lambda a, b: 1.0, ([1.0], [1.0]))
    assert isinstance(outcome.error, _grader.Timeout)
    # everything put back: the grader's alarm disarmed (an outer one keeps its time), the
    # notebook's handler and tracer restored
    left = signal.getitimer(signal.ITIMER_REAL)[0]
    assert left == 0 if outer == 0 else 0 < left <= outer
    assert signal.getsignal(signal.SIGALRM) is handler and real.gettrace() is tracer


def test_the_grader_reads_answers_strictly_and_survives_any_exception():
    """Text that looks like a number, or a row index of 3.4, is not a right answer
    (NumPy read "3.0" as 3.0 and int(3.4) as 3); a learner's SystemExit, or an exception
    whose message itself fails, is reported as that case failing, never raised."""
    import numpy as np

    def dot_as_text(a, b):
        if len(a) != len(b):
            raise ValueError("lengths differ")
        return str(float(np.dot(a, b)))

    assert not vd.exercises.check("dot", dot_as_text).passed
    assert vd.exercises.check("knn", vd.exercises.solution("knn")).passed   # ints still pass

    def knn_floats(q, C, k):
        return (vd.knn([q], C, k).indices[0] + 0.4).tolist()

    assert not vd.exercises.check("knn", knn_floats).passed

    def exits(a, b):
        raise SystemExit(1)

    result = vd.exercises.check("dot", exits)
    assert not result.passed

    class Weird(ValueError):
        def __str__(self):
            raise RuntimeError("boom")

    def weird(a, b):
        raise Weird()

    assert not vd.exercises.check("dot", weird).passed


def test_a_runaway_loop_is_stopped_by_its_steps_under_an_active_tracer(monkeypatch):
    """The line count that stops a loop appending forever was skipped whenever a tracer
    (coverage, a debugger) was active, leaving only the 2 s alarm: gigabytes in between.
    It now runs beside that tracer, which still sees every call and is put back."""
    import sys

    from vecdiag.exercises import _grader

    calls = []

    def outer(frame, event, arg):
        calls.append(frame.f_code.co_name)
        return None

    def forever(tokens, size, overlap=0):
        n = 0
        while True:          # (no allocation: a regression ends at the alarm, not in OOM)
            n += 1

    # the alarm out of the way (a busy machine runs a traced loop slowly): only the
    # count can stop the loop here
    monkeypatch.setattr(_grader, "TIME_LIMIT", 20.0)
    monkeypatch.setattr(_grader, "STEP_LIMIT", 50_000)
    before = sys.gettrace()
    sys.settrace(outer)
    try:
        outcome = _grader._call(forever, (list("abc"), 3, 0))
        after = sys.gettrace()
    finally:
        sys.settrace(before)
    assert after is outer
    assert isinstance(outcome.error, _grader.Timeout)
    assert "did not finish within 50,000 steps" in str(outcome.error)
    assert "forever" in calls


def test_a_runaway_loop_that_catches_exception_is_still_stopped_by_its_steps(monkeypatch):
    """A learner's ``try: ... except Exception: pass`` inside the loop swallowed the
    grader's Timeout (an Exception): Python then switched the line count off and the loop
    ran on, appending, until the alarm. The Timeout is now a BaseException, which
    ``except Exception`` does not catch."""
    from vecdiag.exercises import _grader

    monkeypatch.setattr(_grader, "TIME_LIMIT", 20.0)      # only the count can stop it in time
    monkeypatch.setattr(_grader, "STEP_LIMIT", 50_000)

    def chunk(tokens, size, overlap=0):
        out, start = [], 0
        while True:
            try:
                out.append(len(tokens[start:start + size]))
                if start + size >= len(tokens):
                    return out
                start += size - overlap
            except Exception:             # noqa: BLE001 - what the learner wrote
                pass

    outcome = _grader._call(chunk, (list("abcdef"), 3, 3))
    assert isinstance(outcome.error, _grader.Timeout)
    assert "50,000 steps" in str(outcome.error)


def test_an_import_inside_an_answer_counts_neither_steps_nor_time(monkeypatch, tmp_path):
    """``from sklearn.decomposition import PCA`` inside a learner's pca ran about a million
    traced lines and two seconds on its first call: the grader stopped the import half-way
    and failed a right answer as "never finished" (leaving sklearn half-imported). An
    import now runs to its end and its lines and seconds are not the answer's; the answer's
    own loop is still counted and timed."""
    import sys

    from vecdiag.exercises import _grader

    monkeypatch.setattr(_grader, "STEP_LIMIT", 20_000)
    monkeypatch.setattr(_grader, "TIME_LIMIT", 0.5)
    (tmp_path / "vd_many_lines.py").write_text("total = 0\nfor i in range(50_000):\n    total += i\n")
    (tmp_path / "vd_slow_import.py").write_text("import time\ntime.sleep(1.5)\nready = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def norm(a):
        import vd_many_lines
        import vd_slow_import
        return math.hypot(*a) + 0 * vd_many_lines.total * vd_slow_import.ready

    def norm_then_forever(a):
        import vd_many_lines  # noqa: F401
        while True:
            pass

    try:
        outcome = _grader._call(norm, ([3, 4],))
        assert outcome.error is None and outcome.answer == 5.0
        assert sys.modules["vd_many_lines"].total == sum(range(50_000))
        stopped = _grader._call(norm_then_forever, ([3, 4],))
        assert isinstance(stopped.error, _grader.Timeout)
    finally:
        sys.modules.pop("vd_many_lines", None)
        sys.modules.pop("vd_slow_import", None)


def test_knn_in_corpus_order_is_not_best_first():
    """Every knn case expected its indices in increasing order, so an answer returning the
    right k rows sorted by index (``sorted(top)``, ``np.sort(np.argpartition(...)[:k])``)
    passed. Query [1, 0] against rows of cosine 0.196, 0.894, 0.995, 0, 0.949: best first
    is [2, 4, 1], by index [1, 2, 4] (and by dot product [4, 1, 2], so ranking by the dot
    product is not also taken for index order)."""
    def cos(q, C):
        C = np.asarray(C, float)
        return C @ np.asarray(q, float) / (np.linalg.norm(C, axis=1) * np.linalg.norm(q))

    def knn_by_index(query, corpus, k):
        if not 1 <= k <= len(corpus):
            raise ValueError("k must be between 1 and len(corpus)")
        return sorted(np.argsort(-cos(query, corpus), kind="stable")[:k].tolist())

    res = EX.check("knn", knn_by_index)
    assert not res.passed and "best first" in res.hint, repr(res)
    by_dot = EX.check("knn", lambda q, C, k: np.argsort(-(np.asarray(C, float) @ q), kind="stable")[:k])
    assert by_dot.mistakes == ["dot"], repr(by_dot)


def test_ndcg_that_does_not_cut_the_run_at_k_fails():
    """No ndcg case gave a run longer than k, so an answer summing the gains of every
    retrieved document passed. Run [a, x, b], a and b relevant, k = 2: DCG@2 = 1, ideal
    1 + 1/log2(3), nDCG@2 = 0.613 (the uncut DCG 1 + 1/log2(4) gives 0.920)."""
    def ndcg_uncut(ranked, relevance, k=10):
        if not any(g > 0 for g in relevance.values()):
            raise ValueError("no relevant document")
        dcg = sum(relevance.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked))
        ideal = sorted(relevance.values(), reverse=True)[:k]
        return dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))

    res = EX.check("ndcg", ndcg_uncut)
    assert not res.passed and "ranked[:k]" in res.hint, repr(res)
    assert EX.solution("ndcg", show=False)(["a", "x", "b"], {"a": 1, "b": 1}, 2) == \
        pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_paired_t_with_p_from_signed_t_fails():
    """Both paired_t cases had a > b (t > 0), so p = 2 * t.sf(t) without the absolute
    value passed; for a worse system (t < 0) it gives p > 1. The new case swaps the
    systems; scipy.stats.ttest_rel is the reference."""
    from scipy import stats

    def paired_t(a, b):
        if len(a) != len(b):
            raise ValueError("a and b need one score per query")
        d = np.subtract(a, b)
        t = d.mean() / (d.std(ddof=1) / np.sqrt(len(d)))
        return t, 2 * stats.t.sf(t, len(d) - 1)

    res = EX.check("paired_t", paired_t)
    assert not res.passed and "abs(t)" in res.hint, repr(res)
    base = [0.61, 0.42, 0.80, 0.33, 0.55, 0.70, 0.48, 0.66]
    fixed = [0.65, 0.47, 0.79, 0.41, 0.60, 0.69, 0.55, 0.70]
    assert EX.solution("paired_t", show=False)(base, fixed) == pytest.approx(tuple(stats.ttest_rel(base, fixed)))


def _norm_scaled_by_max_entry(a):      # max(a), not max(abs(x) for x in a)
    a = [float(x) for x in a]
    m = max(a)
    return 0.0 if m == 0 else m * math.sqrt(sum((x / m) ** 2 for x in a))


def test_norm_scaled_by_the_largest_entry_not_its_absolute_value_fails():
    """Every norm case had a positive largest entry, so scaling by max(a) instead of the
    largest |entry| passed; for [-3, -4] it gives -5 (math.hypot: 5), and normalize built
    on it flips the direction to [0.6, 0.8]."""
    assert math.hypot(-3, -4) == 5.0 and _norm_scaled_by_max_entry([-3, -4]) == -5.0
    res = EX.check("norm", _norm_scaled_by_max_entry)
    assert not res.passed and "largest |entry|" in res.hint, repr(res)

    def normalize(a):
        n = _norm_scaled_by_max_entry(a)
        if n == 0:
            raise ValueError("zero vector has no direction")
        return [x / n for x in a]

    res = EX.check("normalize", normalize)
    assert not res.passed and "largest |entry|" in res.hint, repr(res)


def test_ann_recall_divided_by_the_returned_count_fails():
    """Every ann_recall case returned exactly k results, so dividing by len(approx[i])
    instead of k passed. An index returning 2 of the 3 exact neighbours (no -1 padding)
    has recall 2/3 (vd.ann_recall agrees), not 1."""
    def recall(approx, exact):
        return sum(len(set(a) & set(e)) / len(a) for a, e in zip(approx, exact)) / len(exact)

    assert vd.ann_recall([[0, 1]], [[0, 1, 2]]) == pytest.approx(2 / 3)
    res = EX.check("ann_recall", recall)
    assert not res.passed and "divide by k" in res.hint, repr(res)


def test_ndcg_accepts_a_clear_error_that_does_not_say_relevant():
    """The no-relevant-document case wanted the word "relevant" in the message, so a right
    answer raising ValueError("ideal DCG is 0: no judged document has a positive grade")
    failed as "does not say what is wrong". Messages naming the ideal DCG, the grades or
    an undefined nDCG pass now; Python's own accidental ValueErrors still fail."""
    def ndcg(ranked, relevance, k=10, message="ideal DCG is 0: no judged document has a positive grade"):
        ideal = sorted(relevance.values(), reverse=True)[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        if idcg == 0:
            raise ValueError(message)
        return sum(relevance.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k])) / idcg

    assert EX.check("ndcg", ndcg).passed
    assert EX.check("ndcg", lambda r, rel, k=10: ndcg(r, rel, k, "nDCG is undefined for this query")).passed
    for accident in ("math domain error", "max() arg is an empty sequence"):
        res = EX.check("ndcg", lambda r, rel, k=10: ndcg(r, rel, k, accident))
        assert not res.passed, accident


def test_an_unclipped_cosine_fails_the_never_above_1_case():
    """The vector of the "never above 1" case gave cos(v, v) = 1.0000000000000002 for a
    plain sum or np.dot over np.linalg.norm, but exactly 1.0 when the vectors are first
    divided by math.hypot, so that unclipped answer passed. [0.17, 0.82, 0.01] steps above 1
    both ways (checked here without vecdiag)."""
    v = [0.17, 0.82, 0.01]

    def cosine(a, b):
        if len(a) != len(b):
            raise ValueError("a and b differ in length")
        na, nb = math.hypot(*a), math.hypot(*b)
        if na == 0 or nb == 0:
            return 0.0
        return float(np.dot(np.divide(a, na), np.divide(b, nb)))       # not clipped

    plain = sum(x * x for x in v) / (math.sqrt(sum(x * x for x in v)) * math.sqrt(sum(x * x for x in v)))
    assert cosine(v, v) > 1.0 and float(np.dot(v, v) / np.linalg.norm(v) ** 2) > 1.0 and plain > 1.0
    res = EX.check("cosine", cosine)
    assert not res.passed and "clip" in res.hint, repr(res)


def test_an_answer_that_changes_its_list_input_is_told_so_in_the_hint():
    """A normalize dividing a list in place (a[i] /= n) failed every case as "changed its
    input", but the hint was the first case's "divide every entry by the vector's length",
    which the answer does; the hint now names the change of input."""
    def normalize(a):
        n = math.hypot(*a)
        if n == 0:
            raise ValueError("zero vector has no direction")
        for i in range(len(a)):
            a[i] /= n
        return a

    res = EX.check("normalize", normalize)
    assert not res.passed and "changed its input" in res.hint, repr(res)


def test_library_lines_do_not_use_up_an_answers_steps(monkeypatch, capsys):
    """Formatting a NumPy array for print runs ~370 lines of numpy, all counted as the
    answer's steps: a right answer printing its progress in a loop was failed as "never
    finished". Only the answer's own lines count now; its own endless loop, calling numpy
    each turn, is still stopped by the count."""
    from vecdiag.exercises import _grader

    monkeypatch.setattr(_grader, "TIME_LIMIT", 20.0)
    monkeypatch.setattr(_grader, "STEP_LIMIT", 5_000)

    def norm(a):
        v = np.asarray(a, dtype=float)
        for step in range(40):
            print(f"step {step}: {v}")
        return math.hypot(*a)

    outcome = _grader._call(norm, ([3, 4],))
    assert outcome.error is None and outcome.answer == 5.0
    assert capsys.readouterr().out.count("step ") == 40

    def forever(a):
        while True:
            np.asarray(a, dtype=float)

    stopped = _grader._call(forever, ([3, 4],))
    assert isinstance(stopped.error, _grader.Timeout) and "5,000 steps" in str(stopped.error)


@pytest.mark.parametrize("name", EX.EXERCISES)
def test_an_error_the_cases_ask_for_is_in_the_signature(name):
    """euclidean, chunk, ndcg and paired_t failed an answer for not raising ValueError on a
    case their signature (the line a learner reads) never mentioned; every error a case
    asks for is now in the signature, with the word its message must hold."""
    from vecdiag.exercises import _module

    for case in _module(name).cases(name):
        if case.wants_error:
            assert case.expected.__name__ in EX.signature(name), (name, case.label)
            assert all(w in EX.signature(name) for w in case.error_words[:1]), (name, case.label)


def test_a_loop_that_never_ends_is_not_blamed_on_a_step_outside_chunk(monkeypatch):
    """Every case that ran out of steps or time said "(a loop whose step is 0 or
    negative?)", chunk's own mistake, also for a norm whose while-loop never ends; and the
    hint was the first case's ("square each entry, add, take the square root")."""
    from vecdiag.exercises import _grader

    monkeypatch.setattr(_grader, "STEP_LIMIT", 2_000)

    def norm(a):
        total, i = 0.0, 0
        while i < len(a):                  # forgot i += 1
            total += a[i] ** 2
        return math.sqrt(total)

    res = EX.check("norm", norm)
    messages = [message for _, ok, message in res.cases if message.startswith("never finished")]
    assert messages and all("never ends" in m and "step is 0" not in m for m in messages), repr(res)
    assert "never ends" in res.hint, repr(res)     # not the first case's "square each entry, add"


def test_a_pca_returning_the_projected_data_is_told_the_shape_not_to_centre():
    """A pca returning the data's coordinates (U of the SVD, one row per direction but one
    column per sample) after centring was told "centre the data (subtract the mean)",
    which it did, with two long lists of numbers; it is told the shape it returned now."""
    def pca(X, n_components):
        X = np.asarray(X, float)
        X = X - X.mean(axis=0)
        return np.linalg.svd(X, full_matrices=False)[0][:, :n_components].T

    res = EX.check("pca", pca)
    first = res.cases[0]
    assert not first[1] and "shape (1, 2)" in first[2] and "(1, 9)" in first[2], repr(res)
    assert "centre the data (subtract the mean) before" not in res.hint


def test_bm25_that_ignores_k1_and_b_fails():
    """Every bm25 case ran with the default k1=1.5, b=0.75, so an answer with those numbers
    written into its formula (ignoring its arguments) passed. The new case passes k1=1.2,
    b=1.0; the model answer agrees there with vd.lexical.bm25 (bm25s, Lucene)."""
    pytest.importorskip("bm25s")

    def bm25(query, docs, k1=1.5, b=0.75):
        n, avgdl = len(docs), sum(map(len, docs)) / len(docs)
        scores = []
        for d in docs:
            s = 0.0
            for t in set(query):
                df = sum(t in x for x in docs)
                tf = d.count(t)
                if tf:
                    s += math.log(1 + (n - df + 0.5) / (df + 0.5)) * tf / (tf + 1.5 * (0.25 + 0.75 * len(d) / avgdl))
            scores.append(s)
        return scores

    res = EX.check("bm25", bm25)
    assert not res.passed and "k1 and b" in res.hint, repr(res)
    texts = ["cat sat mat", "dog sat", "cat cat cat cat cat cat", "bird flew over the mat and the cat"]
    ref = vd.lexical.bm25(["cat mat"], texts, k=4, k1=1.2, b=1.0, stopwords=None)[0]
    mine = EX.solution("bm25", show=False)(["cat", "mat"], [t.split() for t in texts], 1.2, 1.0)
    assert np.allclose(mine, [ref.get(i, 0.0) for i in range(4)], rtol=1e-5)


def test_answers_of_the_wrong_kind_fail_without_crashing_the_grader():
    """check() raised itself, stopping the notebook, when an rrf answer held something other
    than a number per document (a list of contributions: TypeError from float()) or a knn
    answer was ragged (np.size raised ValueError); and rrf scores written as text passed,
    though text is not a right answer elsewhere. Each now fails its cases."""
    def rrf_contributions(rankings, k=60):
        fused = {}
        for ranking in rankings:
            for rank, doc in enumerate(ranking, start=1):
                fused[doc] = fused.get(doc, []) + [1 / (k + rank)]
        return fused

    def rrf_text(rankings, k=60):
        fused = {}
        for ranking in rankings:
            for rank, doc in enumerate(ranking, start=1):
                fused[doc] = fused.get(doc, 0.0) + 1 / (k + rank)
        return {doc: repr(score) for doc, score in fused.items()}

    for fn in (rrf_contributions, rrf_text, lambda rankings, k=60: {d: None for r in rankings for d in r}):
        res = EX.check("rrf", fn)
        assert not res.passed and not any(ok for _, ok, _ in res.cases), repr(res)
    res = EX.check("knn", lambda q, C, k: [[0], [1, 2]])
    assert not res.passed and not any(ok for _, ok, _ in res.cases), repr(res)


def test_answers_the_grader_cannot_read_fail_without_crashing_it():
    """check() raised itself on an answer it could not turn into numbers or text: a Python
    int beyond float range (OverflowError while diagnosing), an object whose __repr__ or
    __array__ fails, or whose ``components`` property fails (read for a Projection)."""
    class Unprintable(float):
        def __repr__(self):
            raise RuntimeError("no repr")

    class BrokenArray:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("no array")

    class BrokenProjection:
        @property
        def components(self):
            raise RuntimeError("not fitted")

    answers = [10 ** 400, {"a": Unprintable(1.0)}, [Unprintable(2.0)], BrokenArray(), BrokenProjection()]
    for name in ["dot", "norm", "knn", "pca", "rrf", "paired_t"]:
        for answer in answers:
            res = EX.check(name, lambda *args, _a=answer: _a)
            assert not res.passed and repr(res) and res._repr_html_(), (name, type(answer))


def test_a_generator_answer_runs_under_the_limits(monkeypatch):
    """A chunk written as a generator ran only when the grader read its windows, after the
    step count and the alarm were lifted: one that never stops (no end test) hung the
    notebook, filling memory, and one raising ValueError for overlap >= size was failed
    as "returned <generator> instead of raising". The generator is now read inside the
    limits: the first fails as never finished, the second passes."""
    from vecdiag.exercises import _grader

    monkeypatch.setattr(_grader, "STEP_LIMIT", 20_000)

    def chunk_endless(tokens, size, overlap=0):
        if overlap >= size:
            raise ValueError("overlap must be smaller than size")
        start, emitted = 0, 0
        while emitted < 300_000:         # (finite only so that a regression ends)
            yield tokens[start:start + size]
            start += size - overlap
            emitted += 1

    res = EX.check("chunk", chunk_endless)
    tail = dict((c[0], c) for c in res.cases)["keep the tail"]
    assert not tail[1] and tail[2].startswith("never finished"), repr(res)

    def chunk(tokens, size, overlap=0):
        if overlap < 0 or overlap >= size:
            raise ValueError(f"overlap={overlap} must be at least 0 and smaller than size={size}")
        start = 0
        while True:
            yield tokens[start:start + size]
            if start + size >= len(tokens):
                return
            start += size - overlap

    assert EX.check("chunk", chunk).passed
    import itertools

    assert not EX.check("chunk", lambda tokens, size, overlap=0: itertools.repeat(tokens)).passed


def test_an_answer_of_true_is_not_diagnosed_as_a_mistake_with_numbers():
    """A cosine returning True on every case was diagnosed "no_clip" (rounding above 1):
    the diagnosis read True as 1.0, close to the mistake's 1.0000000000000002, though the
    grader itself refuses True as a number."""
    res = EX.check("cosine", lambda a, b: True)
    assert not res.passed and res.mistakes == [], repr(res)


def test_an_answer_that_raises_on_every_case_is_shown_the_signature():
    """vd.scratch.knn takes a matrix of queries, so as a knn answer it raised on every case
    and the hint ("score every row by cosine...") talked about the math instead."""
    result = vd.exercises.check("knn", vd.scratch.knn)
    assert not result.passed
    assert result.hint == ("every case raised an error: check that you wrote "
                           + vd.exercises.signature("knn"))
