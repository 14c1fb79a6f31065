"""Planted-failure corpora for the explain_neighbors test suite.

Each generator returns a :class:`Case`: a corpus where one cause, and only that cause,
makes a known query miss a known expected document (plus a healthy control). They take
``rng``, ``n`` (rows) and ``d`` (dimension) so the suite can vary sizes, dimensions and
seeds; each generator states the mechanism it plants.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@dataclass
class Case:
    corpus: np.ndarray
    query: np.ndarray
    expected: list
    metric: str = "cosine"
    k: int = 10
    kwargs: dict = field(default_factory=dict)


def healthy_corpus(rng, n, d):
    """Clustered corpus: random centres, each document its centre plus noise (cosine to
    the centre about 0.75). No shared direction, no hubs, no copies."""
    n_clusters = max(5, n // 25)
    centers = unit(rng.normal(size=(n_clusters, d)))
    labels = rng.integers(0, n_clusters, n)
    return centers[labels] + 0.9 * unit(rng.normal(size=(n, d)))


def control(rng, n, d):
    """Healthy corpus; the query is a noisy copy of the expected document."""
    X = healthy_corpus(rng, n, d)
    e = int(rng.integers(n))
    q = unit(X[e]) + 0.3 * unit(rng.normal(size=d))
    return Case(X, q, [e])


def hub(rng, n, d, k=10):
    """A weak shared direction mu (mean cosine ~0.23) and k+4 documents lying almost on
    it: they are in nearly every document's top-k. The query leans on mu, so the hubs
    outrank the expected document, whose own direction the query shares. Hubness is a
    high-dimensional effect: use d >= 64."""
    m = 0.55
    mu = unit(rng.normal(size=d))
    Z = rng.normal(size=(n, d))
    Z = unit(Z - np.outer(Z @ mu, mu))  # every document has exactly the same share of mu
    X = m * mu + Z
    n_h = k + 4
    X[:n_h] = m * mu + 0.35 * unit(rng.normal(size=(n_h, d)))
    e = int(rng.integers(n_h, n))
    q = m * mu + 0.2 * Z[e] + 0.03 * unit(rng.normal(size=d))
    return Case(X, q, [e], k=k)


def norm_bias(rng, n, d, k=10):
    """Dot-product search; k+2 documents are 15x longer than the rest and point
    loosely towards the query, so they beat the expected (same-direction) document."""
    X = healthy_corpus(rng, n, d)
    e = int(rng.integers(k + 2, n))
    q = unit(X[e]) + 0.2 * unit(rng.normal(size=d))
    long_rows = np.arange(k + 2)
    X[long_rows] = 15 * unit(0.6 * unit(q) + unit(rng.normal(size=(k + 2, d))))
    return Case(X, q, [e], metric="dot", k=k)


def metric_mismatch(rng, n, d, k=10):
    """Euclidean search over vectors whose lengths vary from 0.3 to 3; the expected
    document points exactly along the query but is 3x longer, so documents of the
    query's length but other directions are closer in euclidean distance."""
    X = unit(healthy_corpus(rng, n, d)) * rng.uniform(0.3, 3.0, size=(n, 1))
    e = int(rng.integers(n))
    q = unit(X[e] + 0.1 * unit(rng.normal(size=d)))
    X[e] = 3.0 * unit(X[e])
    return Case(X, q, [e], metric="euclidean", k=k)


def plant_dims(rng, X, dims, mean: float, sd: float):
    """Redraw the columns ``dims`` of ``X`` from N(mean, sd) (in place), then pick the
    expected document e and a query near it: ``(e, q)``. The rogue plants set e's and
    the query's values in those columns afterwards."""
    n, d = X.shape
    X[:, dims] = rng.normal(mean, sd, size=(n, len(dims)))
    e = int(rng.integers(n))
    return e, X[e] + 0.2 * unit(rng.normal(size=d))


def rogue_dimensions(rng, n, d, k=10):
    """Three dimensions carry a large offset with a large spread (rogue dimensions);
    the query's values there are high, the expected document's low, so documents with
    high rogue values win the cosine although their other dimensions are unrelated."""
    X = healthy_corpus(rng, n, d)
    dims = rng.choice(d, size=3, replace=False)
    e, q = plant_dims(rng, X, dims, 4.0, 1.5)
    X[e, dims] = 1.0
    q[dims] = 8.0
    return Case(X, q, [e], k=k)


def rogue_variance(rng, n, d, k=10):
    """Three zero-mean dimensions of sd 2.5 (a healthy vector is about 1 long): they
    decide which documents score alike; the query is large there, its document 0."""
    X = healthy_corpus(rng, n, d)
    dims = rng.choice(d, size=3, replace=False)
    e, q = plant_dims(rng, X, dims, 0.0, 2.5)
    X[e, dims] = 0.0
    q[dims] = rng.choice([-1, 1], size=3) * 6.0
    return Case(X, q, [e], k=k)


def anisotropy(rng, n, d, k=10):
    """Every document shares one direction (spread over all dimensions) with weight
    a in [1, 3] on top of its own unit-length meaning; the query has a large weight, the
    expected document a small one. Cosine then prefers documents with a similar share
    of the common direction over the one with the same meaning; centring removes it."""
    mu = unit(rng.normal(size=d))
    Z = unit(healthy_corpus(rng, n, d))
    a = rng.uniform(1.0, 3.0, size=(n, 1))
    X = a * mu + Z
    e = int(rng.integers(n))
    X[e] = 0.6 * mu + Z[e]
    q = 3.0 * mu + Z[e] + 0.2 * unit(rng.normal(size=d))
    return Case(X, q, [e], k=k)


def near_duplicates(rng, n, d, k=10):
    """k+2 near-copies (cosine > 0.99) of one document close to the query fill the top-k
    ahead of the expected document (rank k+3 or so)."""
    X = healthy_corpus(rng, n, d)
    e = int(rng.integers(k + 3, n))
    q = unit(X[e]) + 0.3 * unit(rng.normal(size=d))
    base = unit(q) + 0.25 * unit(rng.normal(size=d))
    X[:k + 2] = base + 0.01 * unit(rng.normal(size=(k + 2, d)))
    return Case(X, q, [e], k=k)


def low_margin(rng, n, d, k=10):
    """Healthy corpus; the expected document is placed at cosine (k-th score - 1e-5)
    from the query: rank k+1 by a hair."""
    X = healthy_corpus(rng, n, d)
    q = unit(X[int(rng.integers(n))] + 0.3 * unit(rng.normal(size=d)))
    cos = unit(X) @ q
    e = int(np.argsort(-cos)[3 * k])
    kth = np.sort(cos)[::-1][k - 1]
    target = kth - 1e-5
    orth = unit(X[e] - (X[e] @ q) * q)
    X[e] = target * q + np.sqrt(1 - target ** 2) * orth
    return Case(X, q, [e], k=k)


def expected_far(rng, n, d, k=10):
    """Healthy corpus; the expected document is an unrelated one (another cluster):
    nothing about the vectors will bring it to the query."""
    X = healthy_corpus(rng, n, d)
    a = int(rng.integers(n))
    q = unit(X[a]) + 0.3 * unit(rng.normal(size=d))
    cos = unit(X) @ unit(q)
    e = int(np.argsort(cos)[n // 3])  # a third of the way from the bottom
    return Case(X, q, [e], k=k)


def out_of_distribution(rng, n, d, k=10):
    """Tight clusters (documents near their centre); the query is a random direction
    far from every cluster, and the expected document its best guess among them."""
    n_clusters = max(5, n // 25)
    centers = unit(rng.normal(size=(n_clusters, d)))
    X = centers[rng.integers(0, n_clusters, n)] + 0.4 * unit(rng.normal(size=(n, d)))
    q = unit(rng.normal(size=d))
    cos = unit(X) @ q
    e = int(np.argsort(-cos)[2 * k])
    return Case(X, q, [e], k=k)


def ann_miss(rng, n, d, k=10):
    """Healthy corpus and query; the production index returned the exact top-k with the
    expected document (exact rank 3) swapped for the k+1-th."""
    X = healthy_corpus(rng, n, d)
    e = int(rng.integers(n))
    q = unit(X[e]) + 0.3 * unit(rng.normal(size=d))
    order = np.argsort(-(unit(X) @ unit(q)), kind="stable")
    e = int(order[2])
    returned = [int(r) for r in order[:k + 1] if r != e][:k]
    return Case(X, q, [e], k=k, kwargs={"returned": returned})


GENERATORS = {"hub": hub, "norm_bias": norm_bias, "metric_mismatch": metric_mismatch,
              "rogue_dimensions": rogue_dimensions, "anisotropy": anisotropy,
              "near_duplicates": near_duplicates, "low_margin": low_margin,
              "expected_far": expected_far, "out_of_distribution": out_of_distribution,
              "ann_miss": ann_miss}


# ------------------------------------------------------------ entangled causes (issue 14)
def duplicate_hub(rng, n, d, k=10):
    """Root cause over symptom: 14 near-copies (cosine > 0.99) of one document close to the
    query fill the top-k ahead of the expected document; 40 documents around them list
    copies among their neighbours, and the copies list each other, so every copy has a
    large k-occurrence: they look like hubs, but de-duplication is what brings the
    expected document back (it is second once the copies take one place)."""
    X = healthy_corpus(rng, n, d)
    q = unit(rng.normal(size=d))
    base = unit(q + 0.25 * unit(rng.normal(size=d)))
    n_copies, n_around = 14, 40
    X[:n_copies] = base + 0.01 * unit(rng.normal(size=(n_copies, d)))
    # documents around the copies, farther from the query: their nearest are the copies
    side = rng.normal(size=(n_around, d))
    side -= np.outer(side @ unit(q), unit(q))
    X[n_copies:n_copies + n_around] = base + 0.55 * unit(side)
    e = n_copies + n_around + int(rng.integers(n - n_copies - n_around))
    X[e] = unit(q) + 0.38 * unit(rng.normal(size=d))
    return Case(X, q, [e], k=k)


def centroid_low_margin(rng, n, d, k=10):
    """Low margin among centroid documents: a shared direction, 30 documents close to the
    corpus centroid (hubs: near everyone) and a query near the centroid too, so the top-k
    are centroid documents; the expected document scores the k-th score minus 1e-5. A
    hub fix flips that gap, but so would any change: the root cause is the margin."""
    mu = unit(rng.normal(size=d))
    X = 0.6 * mu + unit(healthy_corpus(rng, n, d))
    X[:30] = mu + 0.35 * unit(rng.normal(size=(30, d)))
    q = unit(mu + 0.4 * unit(rng.normal(size=d)))
    cos = unit(X) @ q
    e = int(np.argsort(-cos)[3 * k])
    kth = np.sort(cos)[::-1][k - 1]
    target = kth - 1e-5
    orth = unit(X[e] - (X[e] @ q) * q)
    X[e] = target * q + np.sqrt(1 - target ** 2) * orth
    return Case(X, q, [e], k=k)


ENTANGLED = {"near_duplicates": duplicate_hub, "low_margin": centroid_low_margin}
"""Planted cause -> generator where a symptom (hubs) competes with the root cause."""


# ------------------------------------------------------------ text causes (a toy model)
class ToyTextModel:
    """A deterministic text "model" with no weights, for the text causes: a text's vector
    is the sum of fixed random unit vectors of its words (``vocab_size`` words ``w0``,
    ``w1``, ... of dimension ``d``; unknown words add nothing). It fails the way a real
    model does, and only when asked to:

    ``max_tokens``
        Only the first ``max_tokens`` whitespace tokens are read, its instruction
        included (a transformer cuts the text at its limit; pass ``str.split`` as the
        embedder's tokenizer so explain counts the same tokens).
    ``instructions``
        The model was trained with these prefixes; a text without one is read as the
        wrong task: each word counts 0.15 and a fixed other word (``misread``, a
        permutation of the vocabulary) 1, so its vector lands among texts about other
        words.
    """

    def __init__(self, rng, d, *, vocab_size=400, max_tokens=None, instructions=()):
        self.words = [f"w{i}" for i in range(vocab_size)]
        vectors = unit(rng.normal(size=(vocab_size, d)))
        self.vector = dict(zip(self.words, vectors))
        self.misread = dict(zip(self.words, [self.words[i] for i in rng.permutation(vocab_size)]))
        self.d, self.max_tokens, self.instructions = d, max_tokens, tuple(instructions)

    def __call__(self, texts):
        return np.array([self.embed(t) for t in texts])

    def embed(self, text):
        tokens = text.split()[:self.max_tokens] if self.max_tokens else text.split()
        pre = next((p for p in self.instructions if text.startswith(p)), None)
        if pre is not None:
            tokens = tokens[len(pre.split()):]
        v = np.zeros(self.d)
        for w in tokens:
            if w in self.vector:
                v += (self.vector[w] if pre is not None or not self.instructions
                      else 0.15 * self.vector[w] + self.vector[self.misread[w]])
        if not v.any():
            v[0] = 1e-3
        return v

    def sentences(self, rng, n, length):
        return [" ".join(rng.choice(self.words, size=length)) for _ in range(n)]


def _text_case(emb, texts, query, expected, k):
    X = emb.encode(texts, show_progress=False).astype(np.float64)
    q = emb.encode([query], kind="query", show_progress=False)[0].astype(np.float64)
    return Case(X, q, [expected], k=k,
                kwargs={"texts": texts, "query_text": query, "embedder": emb})


def truncation(rng, n, d, k=10):
    """The model reads 20 tokens; documents have 15 words, the expected one 57: 45
    unrelated words, then the 12 words of its topic, which the query (8 of them) is
    about. Its vector never saw its topic; chunked, its last chunk holds it."""
    from vecdiag.embedders import CallableEmbedder

    model = ToyTextModel(rng, d, max_tokens=20)
    texts = model.sentences(rng, n, 15)
    topic = [str(w) for w in rng.choice(model.words, size=12, replace=False)]
    e = int(rng.integers(n))
    texts[e] = " ".join(rng.choice(model.words, size=45)) + " " + " ".join(topic)
    emb = CallableEmbedder(model, max_tokens=20, tokenizer=str.split, model_name="toy-bow-20")
    return _text_case(emb, texts, " ".join(topic[:8]), e, k)


class ToyCharModel(ToyTextModel):
    """:class:`ToyTextModel` for a script written without spaces (Chinese): its words are
    CJK characters, a text is read one character at a time (whitespace skipped) and only
    its first ``max_tokens`` characters count."""

    def __init__(self, rng, d, *, vocab_size=400, max_tokens=None):
        super().__init__(rng, d, vocab_size=vocab_size, max_tokens=max_tokens)
        self.words = [chr(0x4E00 + i) for i in range(vocab_size)]
        self.vector = dict(zip(self.words, self.vector.values()))

    @staticmethod
    def tokens(text):
        return [c for c in text if not c.isspace()]

    def embed(self, text):
        v = sum((self.vector.get(c, 0.0) for c in self.tokens(text)[:self.max_tokens]),
                np.zeros(self.d))
        if not v.any():
            v[0] = 1e-3
        return v

    def sentences(self, rng, n, length):
        return ["".join(rng.choice(self.words, size=length)) for _ in range(n)]


def truncation_unspaced(rng, n, d, k=10):
    """:func:`truncation` in Chinese (no spaces between words): the model reads 20
    characters; documents have 15, the expected one 57: 45 unrelated, then the 12 of its
    topic, which the query (8 of them) is about."""
    from vecdiag.embedders import CallableEmbedder

    model = ToyCharModel(rng, d, max_tokens=20)
    texts = model.sentences(rng, n, 15)
    topic = [str(w) for w in rng.choice(model.words, size=12, replace=False)]
    e = int(rng.integers(n))
    texts[e] = "".join(rng.choice(model.words, size=45)) + "".join(topic)
    emb = CallableEmbedder(model, max_tokens=20, tokenizer=model.tokens,
                           model_name="toy-chars-20")
    return _text_case(emb, texts, "".join(topic[:8]), e, k)


def missing_prefix(rng, n, d, k=10):
    """An e5-named model (queries need "query: ", documents "passage: "); the documents
    were embedded with their instruction, the query without: read as the wrong task, it
    lands among documents about other words (k + 2 documents hold the misread words of 3
    of its words). The query is 6 of its document's 12 words."""
    from vecdiag.embedders import CallableEmbedder

    model = ToyTextModel(rng, d, instructions=("query: ", "passage: "))
    texts = model.sentences(rng, n, 12)
    e = int(rng.integers(n))
    query = texts[e].split()[:6]
    for r in rng.choice([i for i in range(n) if i != e], size=k + 2, replace=False):
        misread = [model.misread[w] for w in rng.choice(query, size=3, replace=False)]
        texts[r] = " ".join(misread + texts[r].split()[3:])
    emb = CallableEmbedder(model, document_prefix="passage: ", model_name="intfloat/e5-small-v2")
    return _text_case(emb, texts, " ".join(query), e, k)


def text_control(rng, n, d, k=10):
    """The missing_prefix corpus embedded right (both instructions) by a model that reads
    64 tokens (every text fits): the query finds its document; no text cause applies."""
    from vecdiag.embedders import CallableEmbedder

    model = ToyTextModel(rng, d, max_tokens=64, instructions=("query: ", "passage: "))
    texts = model.sentences(rng, n, 12)
    e = int(rng.integers(n))
    emb = CallableEmbedder(model, query_prefix="query: ", document_prefix="passage: ",
                           max_tokens=64, tokenizer=str.split, model_name="intfloat/e5-small-v2")
    return _text_case(emb, texts, " ".join(texts[e].split()[:6]), e, k)


def long_far(rng, n, d, k=10):
    """Every document (30 words) is longer than the 20 tokens the model reads, the
    instructions are right, and the expected document shares no word with the query (6
    words of another document): it is far in every view. Truncation is present
    (every document is cut) but explains nothing; neither does a prefix."""
    from vecdiag.embedders import CallableEmbedder

    model = ToyTextModel(rng, d, max_tokens=20, instructions=("query: ", "passage: "))
    texts = model.sentences(rng, n, 30)
    a = int(rng.integers(n))
    query = " ".join(texts[a].split()[:6])
    asked = set(query.split())
    far = [i for i, t in enumerate(texts) if i != a and not asked & set(t.split())]
    e = int(rng.choice(far))
    emb = CallableEmbedder(model, query_prefix="query: ", document_prefix="passage: ",
                           max_tokens=20, tokenizer=str.split, model_name="intfloat/e5-small-v2")
    return _text_case(emb, texts, query, e, k)


def one_long_unrelated(rng, n, d, k=10):
    """The truncation plant's model and corpus (it reads 20 tokens, documents have 15
    words), the query 8 words of one document; the expected document is the only long
    one (57 words) and shares no word with the query. Chunked, it gets the best of 6
    chunks of noise where the others get the best of 2, which can lift it a long way:
    but it has no part that matches, and truncation is not why it is missed."""
    from vecdiag.embedders import CallableEmbedder

    model = ToyTextModel(rng, d, max_tokens=20)
    texts = model.sentences(rng, n, 15)
    a = int(rng.integers(n))
    query = " ".join(texts[a].split()[:8])
    others = [w for w in model.words if w not in set(query.split())]
    e = int(rng.choice([i for i in range(n) if i != a]))
    texts[e] = " ".join(rng.choice(others, size=57))
    emb = CallableEmbedder(model, max_tokens=20, tokenizer=str.split, model_name="toy-bow-20")
    return _text_case(emb, texts, query, e, k)


def long_read_diluted(rng, n, d, k=10):
    """A model that reads 40 tokens; the expected document has 100 words and its topic,
    the 4 words the query is, lies inside what is read (words 6-9), among 36 words about
    nothing else; k + 2 short documents hold 2 of the 4 words among 5 others each and
    outrank it (cosine 2 / sqrt(7 * 4) = 0.38 against 4 / sqrt(40 * 4) = 0.32, with
    distinct words; the words are orthonormal vectors, so d >= 64 is needed). The
    cut removed nothing that matches: what was read dilutes the topic, and a passage of 24
    words holding it scores above them (4 / sqrt(24 * 4) = 0.41)."""
    model = ToyTextModel(rng, d, vocab_size=min(d, 400), max_tokens=40)
    # orthonormal word vectors: the cosines above hold exactly, with no chance overlap
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0][:len(model.words)]
    model.vector = dict(zip(model.words, basis))
    return _read_topic_case(rng, model, n, k, length=100, padding=5)


def long_read_topic(rng, n, d, k=10):
    """The truncation plant's model (it reads 20 tokens) and corpus; the expected
    document is long (57 words) but its topic, the 4 words the query is, lies inside the
    20 tokens the model reads (words 6-9), among 16 words about nothing else; k + 2 short
    documents hold 2 of the 4 words each and outrank it. Chunked, its best chunk holds
    the topic with fewer other words and lifts it: the rest of what the model read
    dilutes it, the cut removed nothing that matches, and truncation is not why it is
    missed."""
    return _read_topic_case(rng, ToyTextModel(rng, d, max_tokens=20), n, k, length=57,
                            padding=2)


def _read_topic_case(rng, model, n, k, *, length, padding):
    """Documents of 15 words; the expected one of ``length`` words holds the query's 4
    topic words at words 6-9 (inside what ``model`` reads); k + 2 short documents hold 2
    of them and ``padding`` other words each."""
    from vecdiag.embedders import CallableEmbedder

    texts = model.sentences(rng, n, 15)
    topic = [str(w) for w in rng.choice(model.words, size=4, replace=False)]
    others = [w for w in model.words if w not in topic]
    e = int(rng.integers(n))
    words = [str(w) for w in rng.choice(others, size=length)]
    words[6:10] = topic
    texts[e] = " ".join(words)
    for r in rng.choice([i for i in range(n) if i != e], size=k + 2, replace=False):
        texts[r] = " ".join([*rng.choice(topic, size=2, replace=False),
                             *rng.choice(others, size=padding)])
    limit = model.max_tokens
    emb = CallableEmbedder(model, max_tokens=limit, tokenizer=str.split,
                           model_name=f"toy-bow-{limit}")
    return _text_case(emb, texts, " ".join(topic), e, k)


TEXT_GENERATORS = {"truncation": truncation, "missing_prefix": missing_prefix,
                   "expected_far": long_far}
"""Planted text cause -> generator (a Case whose kwargs carry texts, query_text and the
toy model's embedder); :func:`text_control` is their healthy control."""
