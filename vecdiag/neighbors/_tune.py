"""Which way round and in what chunks a scan multiplies: measured here, on the scan's own work.

A score block of a query block and a corpus chunk can be computed two ways round: corpus
rows by queries (``C_c Qᵀ``, folded in by column) or queries by corpus rows (``Q C_cᵀ``,
folded in by row), and in chunks of several sizes. Which runs fastest depends on the BLAS
kernels and the caches, none of which the engine can know in advance (two cores, 1,000
queries of 100,000 x 384, products and compiled fold-in: an AMD Zen 5 under OpenBLAS's
Haswell kernels ran queries by rows in 2,048-row chunks 6% faster than corpus rows by
queries in 4,096-row chunks; under its SkylakeX kernels they were within 1%; an Intel
Xeon measured corpus rows by queries 4% faster; see benchmarks/README.md).

So the first large scans of a process try each :class:`Plan` on some of their own work
items (real work: nothing is computed twice or thrown away), time the product and fold-in
of each per scored entry, and from then on the process uses the fastest (:class:`Tuner`,
one per selection path, dimension and item size). Every plan returns the same neighbours
and scores: the refine step re-scores the candidates one pair at a time, whichever
product found them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

TRIALS = 5                            # timed items per plan before the choice is made


@dataclass(frozen=True)
class Plan:
    """One way to compute the score blocks: ``by_row`` (queries by corpus rows) or not
    (corpus rows by queries), in corpus chunks of ``chunk`` rows."""

    by_row: bool
    chunk: int

    def __str__(self) -> str:
        way = "queries by corpus rows" if self.by_row else "corpus rows by queries"
        return f"{way}, {self.chunk:,}-row chunks"


def plans(chunk: int, compiled: bool) -> tuple[Plan, ...]:
    """The plans worth trying for corpus chunks of at most ``chunk`` rows, the first the
    default: corpus rows by queries in whole and in half chunks, and, with the compiled
    fold-in, queries by rows in half chunks (the NumPy selection reduces whole
    contiguous slabs of a block by column and lost by row under every kernel measured).
    """
    half = max(1, chunk // 2)
    out = [Plan(False, chunk), Plan(False, half)]
    if compiled:
        out.append(Plan(True, half))
    return tuple(dict.fromkeys(out))


class Tuner:
    """The plans of one kind of scan and their timings, shared by every scan of the
    process (thread-safe).

    :meth:`next_plan` hands out the chosen plan once there is one, and until then the plan
    with the fewest timings taken or under way; :meth:`record` adds a timing (seconds per
    scored entry). When every plan has :data:`TRIALS` of them, the plan with the lowest
    median is chosen for good.

    Examples
    --------
    >>> t = Tuner((Plan(False, 4), Plan(True, 2)), trials=2)
    >>> for seconds in (3.0, 1.0, 3.0, 1.0):
    ...     t.record(t.next_plan(), seconds)
    >>> t.chosen
    Plan(by_row=True, chunk=2)
    """

    def __init__(self, plans: tuple[Plan, ...], trials: int = TRIALS):
        if not plans:
            raise ValueError("Tuner needs at least one plan")
        self.plans = tuple(plans)
        self.trials = int(trials)
        self.times: dict[Plan, list[float]] = {p: [] for p in self.plans}
        self._pending = dict.fromkeys(self.plans, 0)
        self.chosen: Plan | None = self.plans[0] if len(self.plans) == 1 else None
        self._lock = threading.Lock()

    def next_plan(self) -> Plan:
        """The plan for the next work item (an untimed one should be :meth:`drop`-ped)."""
        with self._lock:
            if self.chosen is not None:
                return self.chosen
            plan = min(self.plans, key=lambda p: len(self.times[p]) + self._pending[p])
            self._pending[plan] += 1
            return plan

    def record(self, plan: Plan, seconds_per_entry: float) -> None:
        """A timing of ``plan`` handed out by :meth:`next_plan`; chooses when all are in."""
        with self._lock:
            self._pending[plan] = max(0, self._pending[plan] - 1)
            if self.chosen is not None:
                return
            self.times[plan].append(float(seconds_per_entry))
            if all(len(t) >= self.trials for t in self.times.values()):
                self.chosen = min(self.plans, key=lambda p: float(np.median(self.times[p])))

    def drop(self, plan: Plan) -> None:
        """``plan`` was handed out for an item that is not timed (a scan's first items,
        whose running bars are not set yet, or a short last block)."""
        with self._lock:
            self._pending[plan] = max(0, self._pending[plan] - 1)


_tuners: dict[tuple, Tuner] = {}
_tuners_lock = threading.Lock()


def tuner(compiled: bool, d: int, itemsize: int, chunk: int) -> Tuner:
    """The process's :class:`Tuner` for scans of this selection path, dimension, item size
    and largest chunk."""
    key = (bool(compiled), int(d), int(itemsize), int(chunk))
    with _tuners_lock:
        found = _tuners.get(key)
        if found is None:
            found = _tuners[key] = Tuner(plans(chunk, compiled))
        return found


def chosen() -> dict[tuple, Plan | None]:
    """What each tuner of this process chose so far, by (compiled, d, itemsize, chunk)."""
    with _tuners_lock:
        return {key: t.chosen for key, t in _tuners.items()}


def forget() -> None:
    """Drop every tuner (their next scans try the plans again)."""
    with _tuners_lock:
        _tuners.clear()
