"""A real Dask cluster for the tests of vecdiag.scale: worker processes, not threads.

``dask_client`` starts one ``distributed.LocalCluster`` per session (2 worker processes
with 1 thread each, bound to 127.0.0.1, no dashboard) and a ``Client`` on it, which
becomes the default scheduler while a test holds it. ``worker_tasks(client)`` records
which workers ran the tasks of a block of code, so a test can check that the work did
not silently run in the test process:

    with worker_tasks(dask_client) as ran:
        result = vd.knn(Q, X_dask, k=5)
    assert ran.workers   # the addresses of the worker processes that ran tasks Without dask the tests skip locally and FAIL under
CI=true (tests/_ci_skips.py).

Loaded by tests/conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import contextlib
import dataclasses

import pytest


@pytest.fixture(scope="session")
def dask_cluster():
    pytest.importorskip("dask.array", reason="dask not installed (pip install 'vecdiag[dask]')")
    distributed = pytest.importorskip("distributed",
                                      reason="distributed not installed (the dask extra)")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       memory_limit="3GiB", silence_logs=40)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def dask_client(dask_cluster):
    """A Client on the session's LocalCluster, the default scheduler for this test."""
    import distributed

    with distributed.Client(dask_cluster, set_as_default=True) as client:
        yield client


@dataclasses.dataclass
class Ran:
    records: list = dataclasses.field(default_factory=list)

    @property
    def workers(self) -> set:
        return {r["worker"] for r in self.records}

    @property
    def n_tasks(self) -> int:
        return len(self.records)


@contextlib.contextmanager
def worker_tasks(client):
    """Record the tasks that ran on the cluster inside the ``with`` block."""
    import distributed

    ran = Ran()
    with distributed.get_task_stream(client) as stream:
        yield ran
    ran.records = list(stream.data)
