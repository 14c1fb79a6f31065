"""resilient(): against a real local HTTP server (vecdiag.embedders.testing) under faults.

The reference is the server itself: its deterministic vectors (``vector_for``, also a
fault-free run) and its own counts of every request and text it received and served.
Each test is bounded in time (pytest-timeout) and small enough for CI on two cores.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from vecdiag.embedders import (BadResponse, CallableEmbedder, EmbeddingCache, EmbeddingError,
                               OpenAIEmbedder, resilient)
from vecdiag.embedders.testing import (EmbeddingServer, fault_fraction, fault_sequence,
                                       fault_storm, vector_for)

pytest.importorskip("httpx")
pytest.importorskip("aiolimiter")
pytest.importorskip("tenacity")


def expected(texts, dim=16, model="toy"):
    return np.stack([vector_for(t, dim, model) for t in texts])


def fast(server, **kw):
    """A resilient OpenAIEmbedder with test-sized waits (the server's faults are quick),
    told the vector length unless ``dimensions=None`` (then it learns it)."""
    opts = dict(max_concurrency=8, batch_size=100, timeout=0.5, backoff=0.05,
                max_backoff=0.5, seed=0, show_progress=False)
    opts.update(kw)
    inner = OpenAIEmbedder(opts.pop("model", "toy"), base_url=server.url,
                           dimensions=opts.pop("dimensions", server.dim))
    return resilient(inner, **opts)


@pytest.mark.timeout(90)
def test_20000_texts_at_30_percent_faults(tmp_path):
    texts = [f"document {i}: the {i % 97}th kind of widget" for i in range(20_000)]
    with EmbeddingServer(dim=16) as clean:
        reference = fast(clean, dimensions=16, timeout=2.0).encode(texts)
    clean_requests = 200  # 20,000 texts in batches of 100: the fault-free number
    assert clean.requests == clean_requests
    with EmbeddingServer(dim=16, faults=fault_fraction(0.3, seed=3), retry_after=0.2,
                         slow_seconds=2.5) as server:
        # a roomy timeout: an answer delivered after it would be embedded (and billed) twice
        emb = fast(server, dimensions=16, cache=tmp_path / "c", timeout=2.0)
        X = emb.encode(texts)
    assert np.array_equal(X, reference)                  # every vector = the fault-free run
    assert np.allclose(X, expected(texts))
    assert len(server.served) == 20_000                  # 0 lost ...
    assert max(server.served.values()) == 1              # ... 0 embedded twice
    assert server.requests <= 1.5 * clean_requests
    outcomes = {r.outcome for r in server.log}
    assert {"429", "429-bare", "500", "503", "slow", "drop", "malformed", "wrong-dim"} <= outcomes
    s = emb.last_summary
    assert s.embedded == 20_000 and s.failed == 0
    # every request the server saw was one the client sent; a send on a pooled connection
    # the server had just dropped fails before reaching it (seen once under load: 285 sent,
    # 284 received), so the client may count a few more, never more than its connection errors
    assert server.requests <= s.requests <= server.requests + s.retries.get("connection", 0)
    assert set(s.retries) == {"429", "5xx", "timeout", "connection", "bad response"}
    assert s.total_retries == s.requests - clean_requests


@pytest.mark.timeout(60)
def test_each_fault_kind_is_retried_and_counted():
    texts = [f"t{i}" for i in range(30)]
    faults = ["malformed", "wrong-dim", "drop", "slow", "429-bare", "500", "503", "429"]
    with EmbeddingServer(dim=8, faults=fault_sequence(faults), retry_after=0.05,
                         slow_seconds=1.0) as server:
        emb = fast(server, max_concurrency=1, batch_size=10, dimensions=8)
        X = emb.encode(texts)
    assert np.allclose(X, expected(texts, 8))
    assert server.requests == 3 + len(faults)
    assert emb.last_summary.retries == {"bad response": 2, "connection": 1, "timeout": 1,
                                        "429": 2, "5xx": 2}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n_batches, faulty, requests", [(1, False, 2), (1, True, 3),
                                                       (2, True, 4), (3, True, 4)])
def test_unknown_dimension_needs_two_agreeing_answers(n_batches, faulty, requests):
    """Without dimensions=, one answer of the wrong length (here the very first) cannot
    set the length: answers are taken one at a time until two agree. A single batch is
    asked for twice (its one answer, cached, would otherwise set the length for every
    later run)."""
    texts = [f"t{i}" for i in range(10 * n_batches)]
    with EmbeddingServer(dim=8, faults=fault_sequence(["wrong-dim"] if faulty else [])) as server:
        emb = fast(server, max_concurrency=4, batch_size=10, dimensions=None)
        X = emb.encode(texts)
    assert X.shape == (len(texts), 8) and np.allclose(X, expected(texts, 8))
    assert server.requests == requests


@pytest.mark.timeout(60)
def test_one_wrong_answer_of_a_single_batch_does_not_poison_the_cache(tmp_path):
    """A call of one batch whose only answer had the wrong length: it was cached, and
    every later run then refused the right length ("dimension 8, expected 7")."""
    with EmbeddingServer(dim=8, faults=fault_sequence(["wrong-dim"])) as server:
        X = fast(server, cache=tmp_path, dimensions=None).encode(["a", "b"])
        assert X.shape == (2, 8) and np.allclose(X, expected(["a", "b"], 8))
        later = fast(server, cache=tmp_path, dimensions=None).encode(["c"])
        assert np.allclose(later, expected(["c"], 8))


@pytest.mark.timeout(60)
def test_learned_dimension_is_kept_across_calls(tmp_path):
    """Once the length is known (from an earlier call, or from the cache in a new
    process), a short first answer is refused and retried at once: 3 requests for two
    one-text batches, where calibrating from scratch would take 4."""
    with EmbeddingServer(dim=8) as server:
        fast(server, cache=tmp_path, dimensions=None).encode(["a", "b"])
        warm_memory = fast(server, max_concurrency=1, dimensions=None)
        warm_memory.encode(["a", "b"])
        new_process = fast(server, cache=tmp_path, max_concurrency=1, dimensions=None)
        for emb in (new_process, warm_memory):
            server.reset()
            server.faults = fault_sequence(["wrong-dim"])
            X = emb.encode(["c", "d"], batch_size=1)
            assert np.allclose(X, expected(["c", "d"], 8))
            assert emb.last_summary.retries == {"bad response": 1}
            assert server.requests == 3


@pytest.mark.timeout(60)
def test_a_changed_model_length_stops_at_once_saying_to_clear_the_cache(tmp_path):
    """The model behind a name changed length (8 cached, 4 served now): every batch of
    the next run was refused and retried 9 times with backoff before an EmbeddingError.
    The same wrong length twice stops the run, saying where 8 came from and how to
    clear it; a fault-free server at the right length is then used again."""
    with EmbeddingServer(dim=8) as server:
        fast(server, cache=tmp_path, dimensions=None).encode(["a", "b"])
        server.dim = 4                                  # the model was swapped
        server.reset()
        emb = fast(server, cache=tmp_path, dimensions=None, max_concurrency=1,
                   batch_size=2)
        with pytest.raises(BadResponse) as info:
            emb.encode(["c", "d", "e", "f"])
        assert server.requests == 2                     # one batch, one retry, no more
        message = str(info.value)
        assert "dimension 4, expected 8" in message and "cached vectors" in message
        assert f"EmbeddingCache.clear(model={emb.cache_id!r})" in message
        assert info.value.rows == [0, 1]
        EmbeddingCache(tmp_path).clear(model=emb.cache_id)
        X = emb.encode(["c", "d", "e", "f"])
    assert np.allclose(X, expected(["c", "d", "e", "f"], 4))


@pytest.mark.timeout(60)
def test_a_passing_wrong_length_twice_in_a_row_is_still_retried():
    """The test server's "wrong-dim" is a passing fault: hit twice in a row, one batch
    gets two different wrong lengths (7, then 9), which are retried, where the same
    wrong length twice would be final (the 30%-faults test relies on it)."""
    with EmbeddingServer(dim=8, faults=fault_sequence(["wrong-dim", "wrong-dim"])) as server:
        emb = fast(server, max_concurrency=1, dimensions=8)
        X = emb.encode(["a", "b"])
    assert np.allclose(X, expected(["a", "b"], 8))
    assert emb.last_summary.retries == {"bad response": 2}
    assert [r.outcome for r in server.log] == ["wrong-dim", "wrong-dim", "ok"]


@pytest.mark.timeout(90)
def test_sigkill_then_resume(tmp_path):
    """Kill the embedding process at a random point; the rerun resumes from the cache and
    re-sends at most one batch per worker."""
    n, batch, workers = 2_000, 50, 4
    texts = [f"passage {i} about turbines" for i in range(n)]
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        import numpy as np
        from vecdiag.embedders import OpenAIEmbedder, resilient
        texts = [f"passage {{i}} about turbines" for i in range({n})]
        emb = resilient(OpenAIEmbedder("toy", base_url=sys.argv[1]), cache=sys.argv[2],
                        max_concurrency={workers}, batch_size={batch}, show_progress=False)
        np.save(sys.argv[3], emb.encode(texts))
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cache, out = tmp_path / "cache", tmp_path / "out.npy"
    kill_after = random.Random().randint(3, 30)  # a random point, out of 40 batches
    with EmbeddingServer(dim=16, latency=0.05) as server:
        proc = subprocess.Popen([sys.executable, str(script), server.url, str(cache), str(out)],
                                env=env)
        deadline = time.monotonic() + 60
        while server.requests < kill_after and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL and not out.exists()
        saved = len(EmbeddingCache(cache))
        assert saved % batch == 0 and saved < n             # whole batches, nothing partial
        sent_before = server.requests
        done = subprocess.run([sys.executable, str(script), server.url, str(cache), str(out)],
                              env=env, timeout=60)
        assert done.returncode == 0
    assert np.allclose(np.load(out), expected(texts))
    assert server.requests - sent_before == (n - saved) // batch  # only what was missing
    resent = sum(server.received.values()) - n
    assert resent <= workers * batch, f"re-sent {resent} texts (kill after {kill_after})"
    assert len(server.received) == n


def _max_in_window(times, width):
    times = np.sort(times)
    return int(max(np.searchsorted(times, t + width, side="left") - i
                   for i, t in enumerate(times)))


@pytest.mark.timeout(60)
def test_after_429_storm_retries_spread_out():
    """Every worker is refused in the storm; with full jitter their retries do not land
    together (lock-step retries would put all 16 within a few milliseconds). One batch
    per worker, so every answered request after the storm is a worker's first retry."""
    texts = [f"q{i}" for i in range(160)]
    with EmbeddingServer(dim=8, faults=fault_storm(0.3), retry_after=0.5) as server:
        emb = fast(server, max_concurrency=16, batch_size=10, backoff=0.5, max_backoff=2.0,
                   timeout=5.0)
        X = emb.encode(texts)
        storm = server.times("429")
        after = server.times("ok")
    assert np.allclose(X, expected(texts, 8))
    assert len(storm) == 16                       # one refusal per worker
    first_retries = np.sort(after)
    assert len(first_retries) == 16
    assert first_retries.min() >= 0.5             # Retry-After honoured
    assert first_retries.max() - first_retries.min() > 0.2
    assert _max_in_window(first_retries, 0.02) <= 6


@pytest.mark.timeout(60)
def test_rate_limit_holds_through_a_storm():
    """Requests measured at the server stay inside the limiter's envelope in every window
    (retries included): at most C + (rpm - C) * w / 60 in any w seconds, C the burst,
    hence at most rpm in any minute."""
    from vecdiag.embedders.limits import bucket_shape

    rpm = 1200
    burst, per_second = bucket_shape(rpm)
    texts = [f"q{i}" for i in range(600)]
    with EmbeddingServer(dim=8, faults=fault_storm(0.4), retry_after=0.3) as server:
        emb = fast(server, max_concurrency=8, batch_size=10, requests_per_minute=rpm)
        X = emb.encode(texts)
        t = np.sort(server.times())
    assert np.allclose(X, expected(texts, 8))
    assert (t < 0.4).sum() >= 5 and len(t) > 60    # there was a storm, then the work
    jitter = 0.05                # arrival-time noise at the server (threads, a busy machine)
    for w in (0.1, 0.5, 1.0, 2.0, 3.0):
        assert _max_in_window(t, w) <= burst + per_second * (w + jitter), w
    assert _max_in_window(t, 60.0) <= rpm


@pytest.mark.timeout(60)
def test_throughput_reaches_the_rate_limit():
    """Once the burst allowance is spent (the second half of the run), requests arrive at
    >= 90% of the limit, and never above the limiter's envelope."""
    from vecdiag.embedders.limits import bucket_shape

    rpm = 1200  # 20 requests a second, a burst of 20
    burst, per_second = bucket_shape(rpm)
    texts = [f"d{i}" for i in range(800)]
    with EmbeddingServer(dim=8, latency=0.05) as server:
        emb = fast(server, max_concurrency=4, batch_size=10, requests_per_minute=rpm)
        emb.encode(texts)
        t = np.sort(server.times())
    steady = t[len(t) // 2:]
    achieved = (len(steady) - 1) / (steady[-1] - steady[0]) * 60
    span = steady[-1] - steady[0]
    assert achieved >= 0.9 * rpm, achieved
    assert len(steady) <= burst + per_second * (span + 0.05)
    assert emb.last_summary.requests == 80 and emb.last_summary.throttled_seconds > 0.1


@pytest.mark.timeout(60)
def test_token_limit_holds():
    from vecdiag.embedders.limits import bucket_shape

    tpm = 60_000  # 1000 tokens a second; 10 texts of 40 chars = 100 tokens a batch (estimate)
    burst, per_second = bucket_shape(tpm, 100)
    texts = [f"{i:04d}" + "x" * 36 for i in range(300)]
    with EmbeddingServer(dim=8) as server:
        emb = fast(server, max_concurrency=8, batch_size=10, tokens_per_minute=tpm)
        emb.encode(texts)
        t = np.sort(server.times())
    per_request = 100
    for w in (0.3, 1.0, 2.0):
        assert _max_in_window(t, w) * per_request <= burst + per_second * (w + 0.05), w
    s = emb.last_summary  # a 3-second run: the burst allowance counts in its average
    envelope = (burst + per_second * s.wall_seconds) / s.wall_seconds * 60
    assert 0.5 * tpm < s.tokens_per_minute <= envelope


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fault", ["400", "401"])
def test_final_errors_fail_at_once_without_the_key(fault):
    from vecdiag.embedders import ProviderError

    key = "sk-test-0123456789abcdefSECRET"
    with EmbeddingServer(dim=8, faults=fault_sequence([fault] * 100)) as server:
        emb = resilient(OpenAIEmbedder("toy", base_url=server.url, api_key=key),
                        max_concurrency=2, batch_size=10, show_progress=False)
        start = time.monotonic()
        with pytest.raises(ProviderError) as info:
            emb.encode([f"t{i}" for i in range(100)])
    assert time.monotonic() - start < 2.0
    # no retry, workers stopped; a batch refused with a 400 is fetched in halves down to
    # one text refused alone: 1 + ceil(log2(10)) requests at most for each of 2 workers
    assert server.requests <= (2 if fault == "401" else 2 * (1 + 4))
    assert info.value.status == int(fault)
    assert f"injected {fault}" in str(info.value)      # the server's own message
    assert key not in str(info.value) and key not in repr(emb)


@pytest.mark.timeout(30)
def test_wrong_key_echoed_by_the_server_is_masked():
    from vecdiag.embedders import ProviderError

    wrong = "sk-live-WRONGkey9876543210zyx"
    with EmbeddingServer(dim=8, api_key="sk-right-key-000000000") as server:
        emb = resilient(OpenAIEmbedder("toy", base_url=server.url, api_key=wrong),
                        show_progress=False)
        with pytest.raises(ProviderError, match="Incorrect API key provided") as info:
            emb.encode(["a", "b"])
        assert server.requests == 1
        ok = resilient(OpenAIEmbedder("toy", base_url=server.url, api_key="sk-right-key-000000000"),
                       show_progress=False)
        assert ok.encode(["a"]).shape == (1, 8)
    text = str(info.value) + repr(info.value) + repr(emb) + str(emb.last_summary)
    assert wrong not in text and "9876543210" not in text


@pytest.mark.timeout(60)
def test_retries_exhausted_raise_one_error_after_caching_the_rest(tmp_path):
    texts = [f"t{i}" for i in range(50)]
    always_down_after_3 = lambda i, t: "503" if i >= 3 else None  # noqa: E731
    with EmbeddingServer(dim=8, faults=always_down_after_3) as server:
        emb = fast(server, max_concurrency=1, batch_size=10, max_retries=2,
                   cache=tmp_path / "c")
        with pytest.raises(EmbeddingError) as info:
            emb.encode(texts)
        assert [row for row, _, _ in info.value.failed] == list(range(30, 50))
        assert "rows 30, 31" in str(info.value) and "5xx" in str(info.value)
        assert server.requests == 3 + 2 * 3  # two failing batches, 3 attempts each
        server.faults = None
        before = server.requests
        X = emb.encode(texts)
    assert np.allclose(X, expected(texts, 8))
    assert server.requests - before == 2 and emb.last_summary.cache_hits == 30


def test_a_server_failing_every_request_stops_the_run_after_one_batch(tmp_path):
    """A server down (or a wrong port) had every batch retried to exhaustion: 10 batches
    at max_retries=2 made 30 requests, and at the default backoff a 100,000-text corpus
    took hours to report it. The first batch failing every attempt before any batch was
    embedded stops the run: 3 requests, every text named; a rerun sends them all."""
    texts = [f"t{i}" for i in range(20)]
    with EmbeddingServer(dim=8, faults=fault_storm(1e9, "503")) as server:
        emb = fast(server, max_concurrency=1, batch_size=2, max_retries=2, cache=tmp_path)
        with pytest.raises(EmbeddingError, match=r"20 of 20 texts could not be embedded: "
                                                 r"rows 0, 1, .*a batch failed 3 attempts "
                                                 r"\(5xx: HTTP 503.*were not sent") as info:
            emb.encode(texts)
        assert server.requests == 3 and info.value.stopped.startswith("5xx: HTTP 503")
        assert [r for r, _, _ in info.value.failed] == list(range(20))
        assert info.value.failed[2][2].startswith("not sent: a batch failed first (5xx")
        assert emb.last_summary.failed == 20
        server.faults = None
        assert np.allclose(emb.encode(texts), expected(texts, 8)) and server.requests == 13


def test_a_first_batch_its_server_always_refuses_with_500_does_not_stop_the_others():
    """The stop after one batch is for a server that cannot answer any batch; a 500 may
    be the batch's own texts. With one batch in flight and that batch first, every rerun
    stopped before anything was embedded (2 requests, 20 of 20 texts failed). Now the
    other batches go: only the first batch's two texts are named."""
    texts = [f"t{i}" for i in range(20)]
    # requests 0 and 1 are the first batch's two attempts (one batch in flight)
    with EmbeddingServer(dim=8, faults=fault_sequence(["500", "500"])) as server:
        emb = fast(server, max_concurrency=1, batch_size=2, max_retries=1)
        with pytest.raises(EmbeddingError, match=r"2 of 20 texts could not be embedded "
                                                 r"after 2 attempts each: rows 0, 1;") as info:
            emb.encode(texts)
        assert info.value.stopped is None
        assert [r for r, _, _ in info.value.failed] == [0, 1]
        assert server.requests == 2 + 9 and emb.last_summary.embedded == 18


@pytest.mark.timeout(60)
def test_changed_model_or_prefix_never_reads_stale_vectors(tmp_path):
    texts = ["alpha", "beta", "gamma"]
    with EmbeddingServer(dim=8) as server:
        def run(model="toy", prefix=""):
            inner = OpenAIEmbedder(model, base_url=server.url, query_prefix=prefix)
            return resilient(inner, cache=tmp_path, show_progress=False).encode(texts, kind="query")

        # a model of unknown length, one batch: asked twice before its length is trusted
        a = run()
        assert np.allclose(a, expected(texts, 8))
        assert np.array_equal(run(), a) and server.requests == 2            # cached
        assert np.allclose(run(model="other"), expected(texts, 8, "other"))
        assert server.requests == 4
        assert np.allclose(run(prefix="query: "), expected(["query: " + t for t in texts], 8))
        assert server.requests == 5                          # toy's length is known now
        docs = resilient(OpenAIEmbedder("toy", base_url=server.url), cache=tmp_path,
                         show_progress=False).encode(texts, kind="document")
        assert server.requests == 6 and np.allclose(docs, a)  # kind is part of the key


@pytest.mark.timeout(60)
def test_two_servers_of_one_model_name_never_share_cached_vectors(tmp_path):
    """The cache identity of an OpenAIEmbedder was the model and dimensions only: two
    servers serving one model name (here 4-long vectors against 8)
    was answered the other server's cached vectors, without a request. The server (its
    base URL) is part of the identity; the key and a user:password@ never are, and a
    bare host is the same server as host/v1."""
    texts = ["alpha", "beta gamma"]
    with EmbeddingServer(dim=8) as first, EmbeddingServer(dim=4) as second:
        def run(url, **kw):
            inner = OpenAIEmbedder("nomic-embed-text", base_url=url, **kw)
            return resilient(inner, cache=tmp_path, backoff=0.01, max_backoff=0.05,
                             show_progress=False).encode(texts)

        assert np.allclose(run(first.url), expected(texts, 8, "nomic-embed-text"))
        X = run(second.url)
        assert X.shape == (2, 4) and second.requests >= 1
        assert np.allclose(X, expected(texts, 4, "nomic-embed-text"))
        before = second.requests
        bare = second.url[: -len("/v1")]
        Y = run(bare.replace("http://", "http://user:secret-pass@"), api_key="sk-secret-key")
        assert np.array_equal(Y, X) and second.requests == before        # read from the cache
    models = [row[0] for row in EmbeddingCache(tmp_path).summary()]
    assert not any("secret" in m for m in models) and len(set(models)) == 2


@pytest.mark.timeout(60)
def test_notebook_loop_runs_in_a_helper_thread():
    """Inside a running event loop (Jupyter) encode still works."""
    import asyncio

    with EmbeddingServer(dim=8) as server:
        emb = fast(server)

        async def main():
            return emb.encode(["x", "y"])

        X = asyncio.run(main())
    assert np.allclose(X, expected(["x", "y"], 8))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", ["nan", "short"])
def test_a_wrapped_function_s_bad_answer_is_retried_like_a_server_s(fault):
    """A plain function's answer goes through the same checks as a server's: a NaN row
    or a missing row is a bad response, retried (it stopped the run at once)."""
    calls = []

    def flaky(texts):
        calls.append(len(texts))
        out = np.array([[len(t), 1.0, 2.0, 3.0] for t in texts])
        if len(calls) == 1:
            if fault == "nan":
                out[0, 0] = np.nan
            else:
                out = out[:-1]
        return out

    emb = resilient(flaky, max_retries=3, backoff=0.01, show_progress=False)
    X = emb.encode([f"text {i}" for i in range(10)])
    assert np.array_equal(X, [[len(f"text {i}"), 1, 2, 3] for i in range(10)])
    # the bad answer, its retry, and (one batch of an unknown length) the confirmation
    assert emb.last_summary.retries == {"bad response": 1} and len(calls) == 3


def test_a_cache_never_mixes_two_functions_vectors(tmp_path):
    """The cache keyed a wrapped function by its __name__: two lambdas (or two functions
    both called embed) read each other's vectors. A named function is keyed by module
    and qualified name; a lambda, a partial or an unnamed CallableEmbedder needs a
    model_name before it may use a cache."""
    import functools

    def embed(texts):
        return np.array([[len(t), 1.0] for t in texts])

    def other():
        def embed(texts):                       # the same __name__, another model
            return np.array([[1.0, len(t)] for t in texts])
        return embed

    a = resilient(embed, cache=tmp_path, show_progress=False).encode(["hello"])
    b = resilient(other(), cache=tmp_path, show_progress=False).encode(["hello"])
    assert a.tolist() == [[5.0, 1.0]] and b.tolist() == [[1.0, 5.0]]
    for fn in (lambda texts: embed(texts), functools.partial(embed),
               CallableEmbedder(embed)):
        with pytest.raises(ValueError, match="model_name="):
            resilient(fn, cache=tmp_path)
    named = resilient(CallableEmbedder(lambda t: embed(t) * 2, model_name="double"),
                      cache=tmp_path, show_progress=False)
    assert named.encode(["hello"]).tolist() == [[10.0, 2.0]]
    assert resilient(lambda texts: embed(texts), show_progress=False).encode(["hi"]).shape == (1, 2)


def test_a_cache_never_mixes_two_instances_of_one_class(tmp_path):
    """An object with encode (or its bound method) was cached under its class's name
    (Model, or module.Model.encode): Model(scale=10) was answered Model(scale=1)'s
    vectors from the cache. Like a lambda, it must be given a model_name before it may
    use a cache; without a cache, or named, each gets its own vectors."""
    class Model:
        def __init__(self, scale):
            self.scale = scale

        def encode(self, texts):
            return np.array([[len(t) * self.scale, 1.0] for t in texts])

    small, large = Model(1), Model(10)
    for obj in (small, large.encode):
        with pytest.raises(ValueError, match=r"known only by its class \(Model\).*"
                                             r"CallableEmbedder\(obj.encode, model_name="):
            resilient(obj, cache=tmp_path)
    for obj in (small, large):
        named = CallableEmbedder(obj.encode, model_name=f"scale-{obj.scale}")
        X = resilient(named, cache=tmp_path, show_progress=False).encode(["hi", "there"])
        assert np.array_equal(X, obj.encode(["hi", "there"]))
        assert np.array_equal(resilient(obj, show_progress=False).encode(["hi"]),
                              obj.encode(["hi"]))


def test_a_cache_never_mixes_two_functions_made_by_one_factory(tmp_path):
    """A function made by another that captures its variables (model_for(scale)) was
    cached under its qualified name, model_for.<locals>.embed, which every function it
    makes shares: model_for(10) was answered model_for(1)'s [[5, 1]] from the cache
    instead of its own [[50, 1]]. Like a bound method, it must be given a model_name
    before it may use a cache; a local function capturing nothing keeps its name."""
    def model_for(scale):
        def embed(texts):
            return np.array([[len(t) * scale, 1.0] for t in texts])
        return embed

    with pytest.raises(ValueError, match=r"model_for.<locals>.embed\) captures scale.*"
                                         r"CallableEmbedder\(fn, model_name="):
        resilient(model_for(10), cache=tmp_path)
    for scale in (1, 10):
        named = CallableEmbedder(model_for(scale), model_name=f"scale-{scale}")
        X = resilient(named, cache=tmp_path, show_progress=False).encode(["hello"])
        assert X.tolist() == [[5.0 * scale, 1.0]]
    assert resilient(model_for(10), show_progress=False).encode(["hello"]).tolist() == [[50.0, 1.0]]


@pytest.mark.timeout(60)
def test_calls_of_a_function_that_never_returns_are_bounded_and_do_not_block_exit():
    """A wrapped function that hangs on some texts: each call past the timeout keeps its
    thread (Python cannot stop one). They used to be ThreadPoolExecutor workers: every
    later batch then waited behind them until its own timeout, retried for minutes, and
    the interpreter could not exit (its workers are joined at exit). Now at most
    max_concurrency such calls run at once; past that the encode stops, saying why."""
    import threading

    release = threading.Event()
    started = []

    def fn(texts):
        started.append(list(texts))
        if any(t.startswith("hang") for t in texts):
            release.wait()
        return np.stack([vector_for(t, 8, "fn") for t in texts])

    emb = resilient(CallableEmbedder(fn, model_name="fn-hangs"), max_concurrency=2,
                    timeout=0.2, backoff=0.01, max_backoff=0.02, max_retries=5, batch_size=1,
                    show_progress=False)
    t0 = time.perf_counter()
    with pytest.raises(Exception, match=r"2 calls of the embedding function ran past the "
                                        r"0.2 s timeout and have not returned"):
        emb.encode(["hang 1", "fine"])
    assert time.perf_counter() - t0 < 5            # not 5 retries x every batch
    hung = [t for t in threading.enumerate() if t.name == "vecdiag-embed"]
    assert len(hung) == 2 and all(t.daemon for t in hung)
    # a later encode starts nothing while both still run
    calls = len(started)
    with pytest.raises(Exception, match="have not returned"):
        emb.encode(["other"])
    assert len(started) == calls
    release.set()                                   # they return: calls run again
    for t in hung:
        t.join(5)
    assert emb.overdue_calls.count == 0
    X = emb.encode(["other", "fine"])
    assert np.allclose(X, np.stack([vector_for(t, 8, "fn") for t in ["other", "fine"]]))


@pytest.mark.parametrize("answer, error, message", [
    (lambda texts: np.ones((len(texts), 0)), BadResponse, r"twice .*empty \(shape \(2, 0\)\)"),
    (lambda texts: [[]] * len(texts), BadResponse, r"twice .*empty \(shape \(2, 0\)\)"),
    (lambda texts: [[1 + 1j, 2.0]] * len(texts), EmbeddingError, "not arrays of real numbers"),
    # a complex array was cast with its imaginary part dropped (a ComplexWarning only)
    (lambda texts: np.full((len(texts), 2), 1 + 2j), EmbeddingError, "real numbers .*complex"),
    (lambda texts: [np.full(2, 1 + 2j)] * len(texts), EmbeddingError, "real numbers .*complex"),
    (lambda texts: "xx", EmbeddingError, "not arrays of real numbers"),
])
def test_empty_or_non_numeric_answers_are_bad_responses(tmp_path, answer, error, message):
    """A function (or server) answering vectors of length 0 was accepted: encode returned
    a (2, 0) array and cached it. Complex or text answers were reported as "different
    lengths [2]", and a complex array had its imaginary part dropped. All are now bad
    responses (retried), nothing cached; the same empty answer twice is a repeated wrong
    shape, which stops the run."""
    emb = resilient(CallableEmbedder(answer, model_name="broken"), cache=tmp_path,
                    max_retries=1, backoff=0.001, max_backoff=0.002)
    with pytest.raises(error, match=message):
        emb.encode(["a", "b"])
    assert len(emb.cache) == 0
    assert emb.last_summary.retries == {"bad response": 1}  # max_retries=1


@pytest.mark.parametrize("name", ["requests_per_minute", "tokens_per_minute"])
def test_an_infinite_rate_limit_is_refused_not_a_hang(name):
    """requests_per_minute=inf (or tokens_per_minute, or `vecdiag embed --rpm inf`) was
    accepted and made the limiter's drain rate inf - inf = NaN: encode then waited for
    ever before the first request. It is refused, naming the argument; None means no
    limit, and a huge finite limit still embeds normally."""
    with EmbeddingServer(dim=4) as server:
        with pytest.raises(ValueError, match=f"{name} must be a positive finite number"):
            fast(server, **{name: float("inf")})
        X = fast(server, **{name: 1e12}).encode(["a b", "c"])
    assert np.allclose(X, [vector_for("a b", 4, "toy"), vector_for("c", 4, "toy")])


def test_a_batch_that_timed_out_says_so_in_the_error():
    """A batch whose every attempt ran past the timeout was reported as "row 0: 'a':
    timeout: " (asyncio's TimeoutError has an empty message); the row now says how long
    it waited."""
    with EmbeddingServer(dim=4, faults=fault_sequence(["slow"] * 4), slow_seconds=1.0) as server:
        emb = fast(server, timeout=0.3, max_retries=1)
        with pytest.raises(EmbeddingError) as info:
            emb.encode(["a", "b"])
    assert "row 0: 'a': timeout: no answer within 0.3 s" in str(info.value)
    assert [r for r, _, _ in info.value.failed] == [0, 1]


@pytest.mark.parametrize("name, seconds", [("requests_per_minute", False),
                                           ("tokens_per_minute", False), ("timeout", True),
                                           ("backoff", True), ("max_backoff", True)])
def test_a_bool_is_not_a_rate_or_a_number_of_seconds(name, seconds):
    """requests_per_minute=True was read as one request a minute and timeout=True as one
    second (bool is an int to Python); both are refused, naming the argument, while
    NumPy numbers are taken as the numbers they are."""
    what = "a positive number of seconds" if seconds else "a positive finite number"
    with pytest.raises(ValueError, match=f"{name} must be {what}.*got True"):
        resilient(lambda texts: np.ones((len(texts), 2)), show_progress=False, **{name: True})
    emb = resilient(lambda texts: np.ones((len(texts), 2)), show_progress=False,
                    **{name: np.float32(50.0) if seconds else np.int64(6000)})
    assert getattr(emb, name) == 50.0 if seconds else getattr(emb, name) == 6000
    assert type(getattr(emb, name)) is float


@pytest.mark.timeout(60)
def test_resilient_takes_the_clients_own_timeout_unless_given_one():
    """``resilient(OpenAIEmbedder(..., timeout=t))`` waits ``t`` per request (a slow local
    model given 300 s was cut at resilient's 30 s); its own ``timeout=`` still wins, and
    a callable gets 30 s."""
    texts = ["a b", "c d"]
    with EmbeddingServer(dim=4, latency=1.0) as server:
        hasty = OpenAIEmbedder("toy", base_url=server.url, dimensions=4, timeout=0.3)
        emb = resilient(hasty, max_retries=0, show_progress=False)
        assert emb.timeout == 0.3
        with pytest.raises(EmbeddingError, match="timeout"):
            emb.encode(texts)
        patient = resilient(hasty, max_retries=0, timeout=5.0, show_progress=False)
        np.testing.assert_allclose(patient.encode(texts), expected(texts, 4))
    assert resilient(lambda t: [[1.0]] * len(t)).timeout == 30.0
