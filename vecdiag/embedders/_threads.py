"""Calls of a synchronous embedder (a wrapped function or model) in daemon threads, for
:mod:`._run`: Python cannot stop a thread, so calls that run past the timeout are counted
until they return (:class:`OverdueCalls`) and no more are started while as many are
stuck as batches may be in flight (:class:`StalledCalls`)."""

from __future__ import annotations

import asyncio
import threading

__all__ = ["OverdueCalls", "StalledCalls"]


class StalledCalls(RuntimeError):
    """Calls of a wrapped function that ran past the timeout and never returned hold as
    many threads as batches may be in flight: no more are started (not retried)."""


class OverdueCalls:
    """How many calls of a wrapped function ran past the timeout and have not returned
    (thread-safe; kept on the embedder, across encode calls, as ``overdue_calls``)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.count = 0

    def check(self, limit: int, timeout: float) -> None:
        """Refuse to start a call while ``limit`` overdue calls still run."""
        with self._lock:
            if self.count >= limit:
                raise StalledCalls(
                    f"{self.count} calls of the embedding function ran past the "
                    f"{timeout:g} s timeout and have not returned (Python cannot stop a "
                    "thread, so each still holds one); no more are started. Check what the "
                    "function waits on (a hung connection?), or raise timeout=")

    def timed_out(self, state: dict) -> None:
        """The call of ``state`` ran past the timeout: counted until it returns."""
        with self._lock:
            if not state["done"]:
                state["overdue"] = True
                self.count += 1

    def returned(self, state: dict) -> None:
        with self._lock:
            state["done"] = True
            if state["overdue"]:
                self.count -= 1


class _Threads:
    """Runs each call of a wrapped (synchronous) embedder in a thread of its own, a
    daemon: a call that never returns cannot keep the interpreter from exiting, as a
    worker of a ``ThreadPoolExecutor`` does (joined at exit). Threads cannot be stopped:
    calls past the timeout are counted on the embedder (:class:`OverdueCalls`, across
    encode calls) until they return, and none is started while ``max_concurrency`` of
    them are still running."""

    def __init__(self, owner):
        self.overdue, self.limit = owner.overdue_calls, owner.max_concurrency

    async def run(self, loop, call, timeout: float):
        self.overdue.check(self.limit, timeout)
        state = {"done": False, "overdue": False}
        future = loop.create_future()

        def settle(ok, value):
            if not future.done():
                (future.set_result if ok else future.set_exception)(value)

        def work():
            try:
                ok, value = True, call()
            except BaseException as err:  # noqa: BLE001 - handed to the awaiting task
                ok, value = False, err
            self.overdue.returned(state)
            try:
                loop.call_soon_threadsafe(settle, ok, value)
            except RuntimeError:            # the loop is closed: nobody is waiting
                pass

        threading.Thread(target=work, daemon=True, name="vecdiag-embed").start()
        try:
            return await asyncio.wait_for(future, timeout)
        except (TimeoutError, asyncio.TimeoutError):
            self.overdue.timed_out(state)
            raise
