"""Checks of options and ids (re-exported by :mod:`vecdiag._validate`, where every public
function reads them as ``V.check_k``, ``V.check_ids``...): the metric, k, counts, choices,
bools, and ids or texts that must be one entry per row, in row order.
Array inputs are :mod:`vecdiag._validate`'s own concern, seeds :mod:`vecdiag._seeds`'.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["COSINE", "METRICS", "check_bool", "check_choice", "check_ids", "check_k",
           "check_metric", "check_ordered", "check_positive_int",
           "check_show_progress", "check_zero_option", "format_rows", "id_str",
           "merged_options", "check_bm25_parameters", "check_index_metric"]

METRICS = ("cosine", "dot", "euclidean")


class DefaultMetric(str):
    """The default ``metric`` of a function that also takes a vd.Index: reads as
    "cosine", yet ``is`` tells it from a metric the caller named (an Index is measured
    under its own metric unless one was named, which must then be the Index's)."""


COSINE = DefaultMetric("cosine")


def check_index_metric(metric, index_metric: str, what: str) -> str:
    """``index_metric``, the metric of an Index given to ``what`` (a function's name), unless
    the caller named another one (refused: an Index is searched, and so judged, under its
    own metric). ``None`` and :data:`COSINE` (the default) name none.

    >>> check_index_metric(COSINE, "dot", "diagnose")
    'dot'
    >>> check_index_metric("euclidean", "dot", "diagnose")
    Traceback (most recent call last):
    ...
    ValueError: metric='euclidean', but the Index searches by 'dot': diagnose uses the Index's own metric. Leave metric out, or pass vd.Index(vectors, metric='euclidean') or the vectors themselves
    """
    if metric is None or metric is COSINE or check_metric(metric) == index_metric:
        return index_metric
    raise ValueError(f"metric={metric!r}, but the Index searches by {index_metric!r}: {what} "
                     f"uses the Index's own metric. Leave metric out, or pass "
                     f"vd.Index(vectors, metric={metric!r}) or the vectors themselves")


def check_zero_option(zero: str) -> str:
    if zero not in ("raise", "ignore"):
        raise ValueError(f"zero must be 'raise' or 'ignore', got {zero!r}")
    return zero


def merged_options(cls, given, name: str, **keywords):
    """An options object (a frozen dataclass ``cls``, passed as ``name=``) and the
    keywords it groups: ``given`` when the keywords keep their defaults, else
    ``cls(**keywords)`` when none is given; a keyword set in both is refused by name.

    A keyword equal to its default counts as not set, a sequence compared item by item
    (a list of metric names equal to the default tuple, or an array of them).

    Examples
    --------
    >>> import dataclasses
    >>> Opts = dataclasses.dataclass(frozen=True)(
    ...     type("Opts", (), {"__annotations__": {"k": int, "names": tuple},
    ...                       "k": 10, "names": ("a", "b")}))
    >>> merged_options(Opts, Opts(k=5), "options", k=10, names=["a", "b"]).k
    5
    >>> merged_options(Opts, Opts(k=5), "options", k=3, names=("a", "b"))
    Traceback (most recent call last):
    ...
    ValueError: pass k either as keywords or in options=, not both
    """
    import dataclasses

    if given is None:
        return cls(**keywords)
    if not isinstance(given, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, got {type(given).__name__}")
    default = cls()
    both = [f.name for f in dataclasses.fields(cls)
            if not _same(keywords[f.name], getattr(default, f.name))]
    if both:
        raise ValueError(f"pass {', '.join(both)} either as keywords or in {name}=, not both")
    return given


def _same(a, b) -> bool:
    """Whether a keyword still holds its default: equal values, sequences compared item
    by item (an array is never compared as a whole: its truth value is ambiguous)."""
    if a is b:
        return True
    seq = (list, tuple, np.ndarray)
    if isinstance(a, seq) or isinstance(b, seq):
        return isinstance(a, seq) and isinstance(b, seq) and len(a) == len(b) \
            and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def check_metric(metric: str, name: str = "metric") -> str:
    """``metric`` when it is one of :data:`METRICS`; else a ValueError naming ``name``."""
    if metric not in METRICS:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, METRICS))}, got {metric!r}")
    return metric


def check_bool(value, name: str) -> bool:
    """``value`` as a bool; anything but True / False (NumPy's too) is refused by name: the
    string "False" is truthy, so ``exclude_self="False"`` would have meant True.

    Examples
    --------
    >>> check_bool(np.bool_(False), "exclude_self")
    False
    >>> check_bool("False", "exclude_self")
    Traceback (most recent call last):
    ...
    TypeError: exclude_self must be True or False, got 'False'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r:.60}")
    return bool(value)


def check_show_progress(value, name: str = "show_progress") -> bool | None:
    """True, False (NumPy's too) or None (automatic); anything else refused by name: the
    string "no" is truthy, so it drew a bar.

    >>> check_show_progress("no")
    Traceback (most recent call last):
    ...
    TypeError: show_progress must be True, False or None (automatic), got 'no'
    """
    if value is None:
        return None
    if value not in (True, False):
        raise TypeError(f"{name} must be True, False or None (automatic), got {value!r:.60}")
    return bool(value)


def check_choice(value, name: str, choices) -> object:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (NumPy integers accepted, bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def check_positive_number(value, name: str, *, what: str = "a positive finite number") -> float:
    """A real number ``> 0`` and finite, as a float (NumPy numbers accepted; bools refused:
    ``True`` is not a rate or a number of seconds).

    >>> check_positive_number(np.int64(2), "timeout")
    2.0
    >>> check_positive_number(True, "timeout")
    Traceback (most recent call last):
    ...
    ValueError: timeout must be a positive finite number, got True
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not (value > 0 and np.isfinite(value)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)


def check_k(k, n: int, *, exclude_self: bool = False, name: str = "k",
            among: str = "the corpus") -> int:
    """Number of neighbours: ``1 <= k <= n`` (``n - 1`` when an item excludes itself);
    ``among`` names the ``n`` vectors searched in the error (e.g. "the bank").

    Examples
    --------
    >>> check_k(9, 5, name="n_neighbors", among="the bank")
    Traceback (most recent call last):
    ...
    ValueError: n_neighbors=9 is larger than the bank (5 vectors); use n_neighbors <= 5
    """
    k = check_positive_int(k, name)
    limit = n - 1 if exclude_self else n
    if k > limit:
        if limit < 1:
            raise ValueError(f"{among} has {n} vector{'s' if n != 1 else ''}: each item "
                             "needs at least one other to have neighbours")
        extra = " minus the item itself" if exclude_self else ""
        raise ValueError(f"{name}={k} is larger than {among} ({n} vectors{extra}); "
                         f"use {name} <= {limit}")
    return k


def check_ordered(values, name: str):
    """Refuse what cannot be one entry per row: a set has no order, so its i-th entry
    would be paired with row i by chance (and differently from run to run for strings);
    iterating a DataFrame gives its column names; a string gives its characters; a number
    has no entries. Returns
    ``values`` unchanged otherwise.

    Examples
    --------
    >>> check_ordered({"a", "b"}, "ids")
    Traceback (most recent call last):
    ...
    TypeError: ids is a set, which has no order, so its entries cannot be matched to rows; pass a list (or array) with one entry per row, in row order
    """
    if isinstance(values, (set, frozenset)):
        raise TypeError(f"{name} is a {type(values).__name__}, which has no order, so its "
                        "entries cannot be matched to rows; pass a list (or array) with one "
                        "entry per row, in row order")
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} is a single {type(values).__name__} ({values!r:.40}), which "
                        "would be read as one entry per character; pass a list with one "
                        f"entry per row ([{name}] for a single row)")
    if hasattr(values, "columns") and hasattr(values, "iloc"):
        raise TypeError(f"{name} is a DataFrame (iterating it gives its column names); "
                        "pass the one column that holds them, e.g. "
                        f"df[{'text' if 'text' in name else 'label' if 'label' in name else 'id'!r}]")
    try:
        iter(values)
    except TypeError:       # a number, a 0-d array: list() would fail naming no argument
        raise TypeError(f"{name} must be a sequence with one entry per row, got "
                        f"{type(values).__name__} {values!r:.40}") from None
    return values


def id_str(value, where: str = "the ids") -> str:
    """An id as runs, qrels and TREC files compare it: its ``str()``, except that a float
    holding a whole number reads as that integer. A pandas column of integer ids that
    held a missing value turns 7 into 7.0, whose ``str()`` "7.0" matched no "7" of a
    qrels file (every such document silently scored as not relevant). A NaN id (the
    missing value itself) is refused, naming ``where`` (the argument, or its entry).

    Examples
    --------
    >>> id_str(7.0), id_str(np.float32(7)), id_str(7), id_str("7.0"), id_str(0.5)
    ('7', '7', '7', '7.0', '0.5')
    """
    if is_missing(value):
        raise ValueError(f"{where}: an id is {value!r}, a missing value (an empty cell of a "
                         "pandas column, say); drop that entry or give it an id")
    if isinstance(value, (float, np.floating)):
        if np.isfinite(value) and float(value).is_integer():
            return str(int(value))
    return str(value)


def is_missing(value) -> bool:
    """Whether ``value`` is a missing value rather than an id or a text: None, NaN,
    pandas' ``NA`` / ``NaT`` or NumPy's ``NaT`` (read as the ids "None", "nan", "<NA>",
    "NaT" they matched nothing); vecdiag's one rule for it (texts shown:
    :func:`vecdiag.results.text_or_empty`).

    Examples
    --------
    >>> [is_missing(v) for v in (None, float("nan"), np.float32("nan"), 0, "", "nan")]
    [True, True, True, False, False, False]
    >>> is_missing(np.datetime64("NaT")), is_missing(np.datetime64("2024-01-02"))
    (True, False)
    """
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))       # a date column's gap read through NumPy
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return bool(value != value)
    return False


def format_rows(rows, *, limit: int = 5, count: int | None = None) -> str:
    """Describe offending row indices: ``"3 rows (first: 17, 204, 9981)"``. ``count``:
    how many rows there are, when ``rows`` holds only the first of them.

    Examples
    --------
    >>> format_rows([4])
    '1 row (4)'
    >>> format_rows(range(10), limit=3), format_rows([0, 3], count=7)
    ('10 rows (first: 0, 1, 2)', '7 rows (first: 0, 3)')
    """
    rows = [int(r) for r in rows]
    count = len(rows) if count is None else int(count)
    shown = ", ".join(str(r) for r in rows[:limit])
    if count == 1:
        return f"1 row ({shown})"
    prefix = "first: " if count > min(len(rows), limit) else ""
    return f"{count} rows ({prefix}{shown})"


def check_ids(ids, n: int, name: str = "ids", *, rows_of: str = "the corpus has"
              ) -> np.ndarray | None:
    """Unique document ids, one per corpus row, as an object array (or None).
    ``rows_of`` names what the rows belong to in the length error. Unique also as
    strings (``7`` and ``"7"`` clash, and ``7.0``: see :func:`id_str`): runs and qrels
    compare ids as strings. A NaN id (a missing value) is refused, naming its rows.

    Examples
    --------
    >>> check_ids([7, "7"], 2)
    Traceback (most recent call last):
    ...
    ValueError: ids must be unique once read as strings, as vd.evaluate and TREC files read ids; found 1 clash (7 at row 0 and '7' at row 1); give every document one id of one type (e.g. all strings)
    """
    if ids is None:
        return None
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of ids, one per row, not a single string")
    values = list(check_ordered(ids, name))
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entr{'y' if len(values) == 1 else 'ies'} "
                         f"but {rows_of} {n} rows; "
                         "pass one id per row")
    # one id per entry, whatever it is: np.asarray would turn (doc, chunk) tuples into a
    # second axis
    arr = np.empty(n, dtype=object)
    for i, value in enumerate(values):
        arr[i] = value
    nan_rows = [i for i, v in enumerate(values) if is_missing(v)]
    if nan_rows:   # a missing value of a pandas column: no document has that id
        shown = ", ".join(map(str, nan_rows[:5])) + (" ..." if len(nan_rows) > 5 else "")
        raise ValueError(f"{name} has {len(nan_rows)} missing id(s) (None, NaN or pandas NA) "
                         f"at row(s) {shown}; give every row an id (or drop those rows)")
    seen: dict = {}
    dupes = []
    for i, value in enumerate(values):
        try:
            hash(value)
        except TypeError:
            raise TypeError(f"{name} must be hashable (strings, numbers, tuples); row {i} "
                            f"is a {type(value).__name__}") from None
        if value in seen:
            dupes.append((value, seen[value], i))
        else:
            seen[value] = i
    if dupes:
        shown = "; ".join(f"{v!r} at rows {a} and {b}" for v, a, b in dupes[:3])
        raise ValueError(f"{name} must be unique, found {len(dupes)} repeated ({shown}); "
                         "deduplicate them or use row positions")
    if len({type(v) for v in values}) > 1:
        # subtle: 7 and "7" differ as Python values, but runs, qrels and TREC files
        # compare ids as strings (vd.evaluate, hybrid, save_run): they are one document
        # there, and results of an Index holding both would be merged silently
        as_text: dict = {}
        for i, value in enumerate(values):
            first = as_text.setdefault(id_str(value), i)
            if first != i:
                dupes.append((values[first], value, first, i))
        if dupes:
            shown = "; ".join(f"{a!r} at row {i} and {b!r} at row {j}"
                              for a, b, i, j in dupes[:3])
            raise ValueError(f"{name} must be unique once read as strings, as vd.evaluate "
                             f"and TREC files read ids; found {len(dupes)} clash"
                             f"{'es' if len(dupes) > 1 else ''} ({shown}); give every "
                             "document one id of one type (e.g. all strings)")
    return arr


def check_bm25_parameters(k1, b) -> None:
    """BM25's ``k1`` (a finite number >= 0) and ``b`` (in [0, 1]), refused by name
    otherwise: k1 < 0 gave negative scores, NaN nan scores, b > 1 a length normalisation
    that rewards long documents (bm25s takes any number).

    >>> check_bm25_parameters(-1, 0.75)
    Traceback (most recent call last):
    ...
    ValueError: k1 must be a finite number >= 0, got -1 (the usual values are k1=1.5, b=0.75)
    """
    for value, name, top, allowed in ((k1, "k1", math.inf, "a finite number >= 0"),
                                      (b, "b", 1.0, "a number in [0, 1]")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not 0 <= value <= top or not math.isfinite(value):
            raise ValueError(f"{name} must be {allowed}, got {value!r} (the usual values "
                             "are k1=1.5, b=0.75)")
