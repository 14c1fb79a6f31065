"""Test collections: the bundled Halyard help-centre demo and BEIR-layout folders.

``load_demo()`` needs no model and no torch: the MiniLM embeddings ship precomputed in
``vecdiag/datasets/data/`` (regenerate them with ``python -m vecdiag.datasets.build_demo``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._beir import (jsonl_records, load_beir, qrels_file, read_judgments, read_jsonl,
                    read_qrels_tsv, record_text, stored_embeddings)
from ._dataset import Dataset, join_title

__all__ = ["Dataset", "load_demo", "load_beir", "join_title", "DATA_DIR"]

DATA_DIR = Path(__file__).resolve().parent / "data"


def load_demo() -> Dataset:
    """The bundled demo: the help centre of Halyard, a fictional mesh Wi-Fi maker.

    About 250 hand-written support pages and 64 real-sounding queries with graded
    judgments (2 answers the query, 1 related), embedded by all-MiniLM-L6-v2. The
    failure patterns of real help centres occur in it naturally: stub pages that are
    mostly boilerplate footer (hubs), long guides whose answer sits past the model's
    256-token limit, near-identical pages per router model, firmware version, error
    code and region, negated queries, one-word queries. ``query_groups`` labels each
    query with the pattern it exercises.

    Returns
    -------
    Dataset
        With ``corpus_embeddings`` / ``query_embeddings`` (float32, unit length),
        ``token_counts`` and ``max_tokens`` of the model.

    Examples
    --------
    >>> data = load_demo()
    >>> len(data.query_ids) >= 50, data.corpus_embeddings.dtype, data.max_tokens
    (True, dtype('float32'), 256)
    >>> data.relevant("q07")
    ['fw-4.3.1']
    """
    if not (DATA_DIR / "corpus.jsonl").is_file():
        raise FileNotFoundError(f"the demo data is missing from {DATA_DIR}; reinstall vecdiag "
                                "or run python -m vecdiag.datasets.build_demo")
    meta = json.loads((DATA_DIR / "meta.json").read_text(encoding="utf-8"))
    corpus = read_jsonl(DATA_DIR / "corpus.jsonl", what="corpus")
    queries = read_jsonl(DATA_DIR / "queries.jsonl", what="queries")
    qrels = read_qrels_tsv(DATA_DIR / "qrels.tsv")
    return Dataset(
        name="demo",
        corpus_ids=[r["_id"] for r in corpus],
        corpus_texts=[join_title(r["title"], r["text"]) for r in corpus],
        query_ids=[r["_id"] for r in queries],
        query_texts=[r["text"] for r in queries],
        qrels=qrels,
        corpus_embeddings=np.load(DATA_DIR / "corpus_embeddings.npy", allow_pickle=False),
        query_embeddings=np.load(DATA_DIR / "query_embeddings.npy", allow_pickle=False),
        model_name=meta["model_name"],
        corpus_titles=[r["title"] for r in corpus],
        query_groups=[r["group"] for r in queries],
        token_counts=np.array([r["n_tokens"] for r in corpus], dtype=np.int64),
        max_tokens=int(meta["max_tokens"]),
        query_token_counts=np.array([r["n_tokens"] for r in queries], dtype=np.int64),
    )
