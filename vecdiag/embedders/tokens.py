"""What a hosted model reads: known token limits and output sizes, and the token estimate
used when no tokenizer is known (truncation checks, token budgets)."""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["CHARS_PER_TOKEN", "KNOWN_DIMENSIONS", "KNOWN_MAX_TOKENS", "TOKENS_PER_CHAR",
           "estimate_tokens", "max_tokens_of"]

# (pattern on the lower-cased model name, tokens the model reads). First match wins.
KNOWN_MAX_TOKENS = [
    (r"text-embedding-3-(small|large)|text-embedding-ada-002", 8191),  # OpenAI embeddings guide
    (r"bge-m3|nomic-embed-text|jina-embeddings-v[23]", 8192),          # model cards
    # long-context members of families the next row would give 512 (their model cards:
    # gte-v1.5 "context length of up to 8192", gte-Qwen 32768, e5-mistral 4096)
    (r"gte-(base|large)-en-v1\.5", 8192), (r"gte-qwen", 32768), (r"e5-mistral", 4096),
    # gte-multilingual-base "up to 8192 tokens"; snowflake-arctic-embed-m/l-v2.0 (Ollama:
    # snowflake-arctic-embed2) "a context window of up to 8192" (their model cards)
    (r"gte-multilingual-base", 8192), (r"snowflake-arctic-embed(-[a-z]+-v2|2)", 8192),
    # gte-modernbert-base "Max Input Length: 8192 tokens" (its model card);
    # snowflake-arctic-embed-m-long (Ollama: snowflake-arctic-embed:137m) reads 2048
    # (Ollama's context length for it; 8192 only with rotary scaling switched on)
    (r"gte-modernbert", 8192), (r"snowflake-arctic-embed(-m-long|:137m)", 2048),
    (r"(^|/)(multilingual-)?e5-|bge-|gte-|mxbai-embed|snowflake-arctic-embed", 512),
    (r"all-minilm", 256),                                              # max_seq_length 256
    (r"all-mpnet", 384),
]
# Native output dimension of known models (a response with another length is rejected).
KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072,
                    "text-embedding-ada-002": 1536}
# The stated estimate when no tokenizer is known: OpenAI's rule of thumb, about four
# characters of English per token, rounded up (biased high on purpose for budgets).
CHARS_PER_TOKEN = 4.0
# ... for ASCII only: other scripts take more tokens per character (see estimate_tokens).
# Tokens per character by the length of its UTF-8 encoding, which follows the script:
# 1 byte ASCII, 2 accented Latin / Greek / Cyrillic / Hebrew / Arabic, 3 the rest of the
# Basic Multilingual Plane (CJK, kana, Hangul, Thai, Devanagari, ...), 4 emoji and
# other characters beyond it.
TOKENS_PER_CHAR = (1 / CHARS_PER_TOKEN, 0.5, 1.0, 3.0)


def estimate_tokens(texts: list[str]) -> np.ndarray:
    """The stated token estimate of each text, for when no tokenizer is known.

    Per character by script (the length of its UTF-8 encoding): an ASCII character is
    1/4 token (OpenAI's rule of thumb for English), a 2-byte one (accented Latin, Greek,
    Cyrillic, Hebrew, Arabic) 1/2, a 3-byte one (CJK, kana, Hangul, Thai, Devanagari and
    the rest of the Basic Multilingual Plane) 1, a 4-byte one (an emoji, a rare CJK
    character) 3; the sum rounded up, at least 1 for a non-empty text.

    Notes
    -----
    Biased high on purpose, for truncation checks and token budgets: a byte-level BPE
    (OpenAI's tokenizers) gives a CJK character about 1 to 2 tokens and an emoji 1 to
    4 (never more tokens than UTF-8 bytes); WordPiece models (BERT, MiniLM) one token a
    CJK character. Counting 4 characters a token everywhere said a 2,000-character
    Chinese document was 500 tokens, well inside a 512-token limit it is far beyond.

    Examples
    --------
    >>> estimate_tokens(["twelve chars", "日本語のテキスト", "café", "👍🏽", ""]).tolist()
    [3, 8, 2, 6, 0]
    """
    out = np.zeros(len(texts), dtype=np.int64)
    weights = np.array(TOKENS_PER_CHAR)
    for i, t in enumerate(texts):
        if t.isascii():
            out[i] = math.ceil(len(t) / CHARS_PER_TOKEN)
        else:
            # subtle: 'surrogatepass' keeps a lone surrogate (3 bytes in UTF-8) countable
            code = np.frombuffer(t.encode("utf-32-le", "surrogatepass"), dtype="<u4")
            n = np.bincount(np.searchsorted([0x80, 0x800, 0x10000], code, side="right"),
                            minlength=4)
            out[i] = math.ceil(float(n @ weights))   # exact: the weights are binary fractions
    return np.where([bool(t) for t in texts], np.maximum(out, 1), 0)


def max_tokens_of(model: str) -> int | None:
    """The input limit of a known model (:data:`KNOWN_MAX_TOKENS`), or None.

    Examples
    --------
    >>> max_tokens_of("text-embedding-3-small"), max_tokens_of("BAAI/bge-small-en-v1.5")
    (8191, 512)
    >>> max_tokens_of("my-own-model") is None
    True
    """
    name = model.lower()
    for pattern, value in KNOWN_MAX_TOKENS:
        if re.search(pattern, name):
            return value
    return None
