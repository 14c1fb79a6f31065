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
    add_common(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..datasets import load_demo
    from ..report import analyze
    from .report import check_output, emit

    os.environ.setdefault("MPLBACKEND", "Agg")
    check_output(args)
    data = load_demo()
    analysis = analyze(
        data.corpus_embeddings, ids=data.corpus_ids, texts=data.corpus_texts,
        queries=data.query_embeddings, query_ids=data.query_ids, query_texts=data.query_texts,
        qrels=data.qrels, query_groups=data.query_groups, k=args.k,
        n_explain=max(args.explain, 0), embedder=data.lookup_embedder(),
        title="vecdiag demo: the Halyard help centre",
        description=(f"{data.summary()}. A fictional mesh Wi-Fi maker's support site with "
                     "the failure patterns of real ones: boilerplate stub pages, long guides "
                     "whose answer sits past the token limit, near-identical pages per model, "
                     "firmware version and region, negated and one-word queries."),
        show_progress=None if sys.stderr.isatty() else False)
    emit(args, analysis)
    return 0
