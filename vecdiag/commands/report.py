"""``vecdiag report CORPUS [...]``: diagnose, evaluate, explain; write an HTML report.

CORPUS is a ``.npy`` (loaded without pickle), ``.npz`` or ``.parquet`` (vector column)
file, a BEIR folder with stored embeddings (``emb_<model>_corpus.npy`` + ids), or a glob or
folder of shards (``'shards/*.npy'``), read lazily as a Dask array. With ``--queries`` and
``--qrels`` the report adds retrieval metrics and explains the worst queries. Exit status
0, or 2 with one line on stderr for bad input (nothing written).
"""

from __future__ import annotations

import json
import os
import sys

HELP = "diagnose a corpus (and its queries), explain the worst queries, write an HTML report"


def add_common(parser) -> None:
    """Options shared by ``report`` and ``demo``."""
    parser.add_argument("-k", "--k", type=int, default=10,
                        help="neighbours per query and in the kNN graph (default 10)")
    parser.add_argument("--explain", type=int, default=3, metavar="N",
                        help="how many of the worst queries to explain (default 3)")
    parser.add_argument("--json", action="store_true",
                        help="print the results as one JSON object instead of text")
    parser.add_argument("--no-html", action="store_true", help="do not write the HTML report")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("report", help=HELP, description=__doc__.split("\n\n")[1]
                                   if "\n\n" in __doc__ else HELP)
    parser.add_argument("corpus", metavar="CORPUS",
                        help="document vectors: .npy, .npz, .parquet, a BEIR folder, or a "
                             "quoted glob / folder of shards ('shards/*.npy'), read lazily "
                             "with Dask")
    parser.add_argument("--queries", metavar="Q", help="query vectors (.npy, .npz, .parquet)")
    parser.add_argument("--qrels", metavar="QRELS",
                        help="judgments: TREC qrels, BEIR .tsv, or a BEIR folder")
    parser.add_argument("--texts", metavar="T",
                        help="document texts: a BEIR folder, corpus .jsonl, or .txt (one per line)")
    parser.add_argument("--query-texts", metavar="QT",
                        help="query texts: a queries .jsonl (matched by query id), a BEIR "
                             "folder, or .txt (one per query row); enables the lexical checks")
    parser.add_argument("--id-field", metavar="FIELD",
                        help='JSON field holding the ids in .jsonl files (default "_id", '
                             'or "id" when there is no "_id")')
    parser.add_argument("--model", metavar="PATH",
                        help="the sentence-transformers model that made the vectors (a local "
                             "folder; needs the text extra): counts the documents past its "
                             "token limit and runs the truncation and prefix checks")
    parser.add_argument("--model-name", metavar="NAME",
                        help="the model's name when it is not loaded (e.g. sentence-transformers/"
                             "all-MiniLM-L6-v2): findings consult what is known about it")
    parser.add_argument("--ids", metavar="I", help="document ids, one per line in row order")
    parser.add_argument("--query-ids", metavar="QI", help="query ids, one per line in row order")
    parser.add_argument("--key", help="array name in .npz / vector column in .parquet")
    parser.add_argument("--query-key", metavar="QKEY",
                        help="array name / vector column of --queries when it differs "
                             "from --key's (default: --key)")
    parser.add_argument("--metric", default="cosine", choices=["cosine", "dot", "euclidean"])
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="a running Dask scheduler (tcp://host:8786) to compute on; its "
                             "workers must see the same file paths (needs the dask extra)")
    parser.add_argument("--sample", type=int, metavar="N",
                        help="rows sampled for hubness and near-duplicates when vd.diagnose "
                             "estimates them (shards, or a large corpus; default: diagnose's)")
    parser.add_argument("--local-cluster", action="store_true",
                        help="compute on a LocalCluster of worker processes (default: only "
                             "when the shards are larger than the free memory)")
    parser.add_argument("-o", "--output", default="vecdiag-report.html", metavar="HTML",
                        help="where to write the report (default vecdiag-report.html)")
    add_common(parser)
    parser.set_defaults(run=run)


def check_output(args) -> None:
    """Fail before any work when the report cannot be written where asked."""
    if args.no_html:
        return
    check_output_path(args, args.output)


# the inputs given by position are named as their usage line names them: there is no
# --corpus or --location option to look for
POSITIONAL = {"corpus": "CORPUS", "location": "STORE"}


def check_output_path(args, output: str) -> None:
    """``-o`` must name a file in an existing folder, and none of the command's inputs:
    the report is written over whatever is there (``-o corpus.npy`` replaced the corpus).
    The refusal names the input as the usage line does (``CORPUS``, ``STORE``, ``--ids``)."""
    import glob

    from ..cli import CommandError

    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise CommandError(f"-o: the folder {folder!r} does not exist")
    if os.path.isdir(output):
        raise CommandError(f"-o: {output!r} is a folder; give a file name")
    if not os.path.exists(output):
        return
    for name, value in vars(args).items():
        if name == "output":
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if not isinstance(item, str) or not item:
                continue
            paths = glob.glob(item) if glob.has_magic(item) else [item]
            if any(os.path.isfile(p) and os.path.samefile(p, output) for p in paths):
                flag = POSITIONAL.get(name, "--" + name.replace("_", "-"))
                raise CommandError(f"-o {output!r} is also an input ({flag} {item!r}): the "
                                   "report would replace it; write the report elsewhere")
    if not output.lower().endswith((".html", ".htm")):
        # inputs are also found without being named (the ids beside CORPUS, the files of
        # a BEIR or shard folder, a vector store's own folder): an existing file that is
        # not a page is never replaced
        raise CommandError(f"-o {output!r} exists and is not an HTML file: the report would "
                           "replace it (it may be an input found beside the ones named); "
                           "write the report to a new file or a .html one")


def emit(args, analysis) -> None:
    """Write the HTML (atomically), then print text or JSON."""
    from ..cli import writes_unicode
    from ..report import render_text, to_json, write_report

    html_path = None
    if not args.no_html:
        write_report(args.output, analysis)
        html_path = args.output
    if args.json:
        payload = to_json(analysis)
        payload["html"] = html_path
        print(json.dumps(payload, indent=2, ensure_ascii=not writes_unicode()))
    else:
        print(render_text(analysis, html_path=html_path))


def run(args) -> int:
    from ..cli import CommandError
    from ._inputs import is_shards, load_inputs

    os.environ.setdefault("MPLBACKEND", "Agg")
    check_output(args)
    lazy = bool(args.scheduler or args.local_cluster)
    if lazy and os.path.isdir(args.corpus) and not is_shards(args.corpus):
        raise CommandError("--scheduler/--local-cluster need vector files as CORPUS (a glob, "
                           "a folder of shards or one file); a BEIR folder is read into memory")
    inp = load_inputs(args.corpus, queries=args.queries, qrels=args.qrels, texts=args.texts,
                      ids=args.ids, query_ids=args.query_ids, key=args.key,
                      query_texts=args.query_texts, id_field=args.id_field, lazy=lazy,
                      query_key=args.query_key)
    if not inp.is_lazy:
        return _report(args, inp)
    from ..scale.cluster import use_scheduler

    with use_scheduler(inp.corpus.nbytes, address=args.scheduler,
                       local=True if args.local_cluster else None) as where:
        inp.notes.append(f"computed on {where}")
        return _report(args, inp)


def _report(args, inp) -> int:
    from ..report import analyze

    embedder = _model(args.model) if args.model else None
    model_name = args.model_name or (embedder.model_name if embedder is not None
                                     else inp.model_name)
    analysis = analyze(inp.corpus, ids=inp.ids, texts=inp.texts, queries=inp.queries,
                       query_ids=inp.query_ids, query_texts=inp.query_texts, qrels=inp.qrels,
                       query_groups=inp.query_groups, k=args.k, metric=args.metric,
                       n_explain=max(args.explain, 0), title=f"vecdiag report: {inp.name}",
                       description=inp.description(), notes=inp.notes,
                       model_name=model_name, embedder=embedder, sample=args.sample,
                       show_progress=None if sys.stderr.isatty() else False)
    emit(args, analysis)
    return 0


def _model(path):
    """A sentence-transformers model from a local folder (``--model``), offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .._optional import require
    from ..embedders import SentenceTransformerEmbedder

    require("sentence_transformers", "vecdiag report --model")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"--model: no model folder {path!r}; give the local folder of "
                                "a sentence-transformers model (nothing is downloaded)")
    return SentenceTransformerEmbedder(str(path))
