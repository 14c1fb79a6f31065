"""Query/document prefixes (instructions) that known model families were trained with."""

from __future__ import annotations

import re

__all__ = ["known_prefixes", "KNOWN_PREFIXES"]

_BGE_EN = "Represent this sentence for searching relevant passages: "
_BGE_ZH = "为这个句子生成表示以用于检索相关文章："

# (pattern on the lower-cased model name, query prefix, document prefix, source).
# First match wins, so specific patterns come before general ones. An entry with two
# empty strings means "this family is known to need no prefix": a missing-prefix check
# must then stay quiet.
KNOWN_PREFIXES = [
    (r"e5-mistral|multilingual-e5-large-instruct", None, None,
     "intfloat model cards: an 'Instruct: {task}\\nQuery: ' line per task; no fixed prefix"),
    (r"(^|/)(multilingual-)?e5-", "query: ", "passage: ",
     "intfloat/e5-base-v2 model card (huggingface.co/intfloat/e5-base-v2), FAQ 1"),
    (r"bge-m3", "", "", "BAAI/bge-m3 model card: no instruction needed"),
    (r"bge-[a-z]+-zh", _BGE_ZH, "", "BAAI/bge-large-zh-v1.5 model card, 'query instruction'"),
    (r"bge-[a-z]+-en", _BGE_EN, "", "BAAI/bge-base-en-v1.5 model card, 'query instruction'"),
    (r"mxbai-embed-large", _BGE_EN, "",
     "mixedbread-ai/mxbai-embed-large-v1 model card: the retrieval prompt for queries"),
    (r"snowflake-arctic-embed(-[a-z]+-v2|2)", "query: ", "",   # Ollama: ...-embed2
     "Snowflake/snowflake-arctic-embed-m-v2.0 model card: queries get 'query: '"),
    (r"snowflake-arctic-embed", _BGE_EN, "",
     "Snowflake/snowflake-arctic-embed-m model card: the query prefix"),
    (r"nomic-embed-text", "search_query: ", "search_document: ",
     "nomic-ai/nomic-embed-text-v1.5 model card: task instruction prefixes"),
    (r"gte-qwen", None, None,
     "Alibaba-NLP gte-Qwen model cards: an 'Instruct: {task}\\nQuery: ' line per task"),
    (r"(^|/)gte-", "", "", "thenlper/gte-base model card: no instruction needed"),
    (r"all-minilm|all-mpnet|all-distilroberta|multi-qa-|paraphrase-|msmarco-", "", "",
     "sentence-transformers model cards (sbert.net pretrained models): no prefix"),
]


def known_prefixes(model_name) -> dict | None:
    """The query/document prefixes a known model family was trained with.

    Parameters
    ----------
    model_name : str
        A Hugging Face model id or name, e.g. ``"intfloat/e5-base-v2"``.

    Returns
    -------
    dict or None
        ``{"query": ..., "document": ..., "source": ...}`` for a known family (both
        prefixes may be ``""``: known to need none), ``None`` for an unknown model or a
        family whose instruction depends on the task (e5-mistral, gte-Qwen).

    Notes
    -----
    Sources are the model cards, quoted in :data:`KNOWN_PREFIXES`: e5 ``"query: "`` /
    ``"passage: "``; bge English v1/v1.5 and mxbai-embed-large the query instruction
    ``"Represent this sentence for searching relevant passages: "`` (documents get none);
    nomic-embed-text ``"search_query: "`` / ``"search_document: "``; gte, bge-m3 and the
    sentence-transformers ``all-*`` models none. Embedding without the expected prefix
    usually costs retrieval quality quietly: nothing fails, scores just shift.

    Examples
    --------
    >>> known_prefixes("intfloat/e5-small-v2")["document"]
    'passage: '
    >>> known_prefixes("nomic-ai/nomic-embed-text-v1.5")["query"]
    'search_query: '
    >>> known_prefixes("sentence-transformers/all-MiniLM-L6-v2")["query"]
    ''
    >>> known_prefixes("my-company/secret-model") is None
    True
    """
    if not isinstance(model_name, str):
        raise TypeError(f"model_name must be a string, got {type(model_name).__name__}")
    name = model_name.strip().lower()
    for pattern, query, document, source in KNOWN_PREFIXES:
        if re.search(pattern, name):
            if query is None:
                return None
            return {"query": query, "document": document, "source": source}
    return None
