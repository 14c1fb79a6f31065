"""The bf16 candidate stage (vecdiag/neighbors/_bf16.py): more of its safety rules.

tests/test_engine_bf16.py holds the main checks (results bit for bit against the default
path, the bound against exact products); this file holds the rules found wanting since:
torch's thread count around scans that overlap, and the widths and shapes torch's
rounding is checked at before the bound is trusted.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from _bf16_switch import needs_bf16, switch_on

from vecdiag.neighbors import _bf16
from vecdiag.neighbors.rows import Rows

pytestmark = needs_bf16


@pytest.fixture
def bf16(monkeypatch):
    return switch_on(monkeypatch)


def test_each_thread_gets_its_torch_count_back_after_overlapping_scans(bf16):
    """The main thread (which ran torch: count 3) scans while another thread's scan
    starts, and ends first. Its count came back as 1 for good (only the last scan to end
    restored a count, in its own thread; torch keeps one per thread), so the user's own
    torch work there ran on one core; now 3. A scan that begins while another runs holds
    its caller to one thread too (it kept 3); a worker starting while a scan still runs
    after another ended takes 1, and fresh threads take 3 once both ended."""
    torch = _bf16._torch()

    def fresh(fn=torch.get_num_threads):
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(fn).result()

    def prepared_then_count():
        stage.prepare(np.ones((1, 4), np.float32))
        return torch.get_num_threads()

    original = torch.get_num_threads()
    torch.set_num_threads(3)
    C = Rows(np.eye(4, dtype=np.float32), "dot", "corpus")
    stage = _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None)
    entered, release, done = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def other():
        with stage.threads():
            entered.set()
            release.wait(5)
            seen["worker"] = fresh(prepared_then_count)
            done.set()

    t = threading.Thread(target=other)
    try:
        with stage.threads():                   # the main thread's scan starts first
            seen["main during"] = torch.get_num_threads()
            t.start()
            entered.wait(5)
        seen["main after its scan"] = torch.get_num_threads()   # the other still runs
        release.set()
        done.wait(5)
        t.join()
        seen["fresh after both"] = fresh()
        # the other way round: the main thread's scan begins while another's runs
        entered.clear(), release.clear()
        torch.set_num_threads(3)                # (whatever the first part left)
        t = threading.Thread(target=other)
        t.start()
        entered.wait(5)
        with stage.threads():
            seen["main begun second"] = torch.get_num_threads()
        release.set()
        t.join()
        seen["main at the end"] = torch.get_num_threads()
    finally:
        release.set()
        torch.set_num_threads(original)
    assert seen == {"main during": 1, "main after its scan": 3, "worker": 1,
                    "fresh after both": 3, "main begun second": 1, "main at the end": 3}


class _Library:
    """A stand-in torch whose bf16 product breaks the stage's error model in one way
    (the rest is torch's): the running float32 sum rounded to bf16 after every ``block``
    products, or (``single``) a one-query product summed in bf16 as a matrix-vector
    kernel might."""

    def __init__(self, torch, block=None, single=False):
        self.torch, self.block, self.single = torch, block, single

    def __getattr__(self, name):
        return getattr(self.torch, name)

    def mm(self, x, y):
        torch = self.torch
        step = self.block or (16 if self.single and 1 in (x.shape[0], y.shape[1])
                              else x.shape[1])
        out = None
        for a in range(0, x.shape[1], step):
            part = torch.mm(x[:, a:a + step].float(), y[a:a + step].float())
            out = (part if out is None else out.float() + part).bfloat16()
        return out


def test_the_rounding_check_catches_a_second_rounding_at_any_width_and_shape(bf16):
    """rounding_holds multiplied one shape (96 x 64) at d = 1,000, and the stage then
    trusted the bound at every width and shape: a library that rounds its running sum to
    bf16 every 1,024 products (one block at d = 1,000), or sums a one-query product in
    bf16, passed it. It now multiplies d = 1,000 and CHECKED_D, by one query and one row,
    and a plateau (256 and d - 1 small products: 258 in one rounding, 256 in several);
    rows wider than CHECKED_D keep float32."""
    torch = _bf16._torch()
    assert not _bf16.rounding_holds(_Library(torch, block=1024))
    assert not _bf16.rounding_holds(_Library(torch, single=True))
    # (torch itself and the model, one rounding, pass: tests/test_engine_bf16.py)
    wide = _bf16.CHECKED_D
    for d, runs in ((wide, True), (wide + 1, False)):
        C = Rows(np.ones((2, d), np.float32), "dot", "corpus")
        stage = _bf16.stage_for(C, C, exclude_self=False, backend="numpy", cand_rows=None)
        assert isinstance(stage, _bf16.Stage) is runs
