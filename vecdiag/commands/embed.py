"""``vecdiag embed CORPUS.jsonl --model openai:MODEL --cache DIR -o OUT.npy``.

Embeds every line's text through an OpenAI-compatible server with
:func:`vecdiag.embedders.resilient` (rate limits, retries, a resumable cache: run the
same command again after a crash and only the missing texts are sent). Writes the
vectors to ``OUT.npy`` and the ids, one per line in row order, to ``OUT_ids.txt``
beside it (the file ``vecdiag report`` picks up). The key comes from the environment
variable named by ``--api-key-env`` (default ``OPENAI_API_KEY``), never from the command
line, where other users could read it.

Exit status: 0 done, 1 the provider failed (the cache keeps what was embedded), 2 bad
input (a missing file, a line that is not JSON, a line without text, an unknown model).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "embed", help="embed a corpus.jsonl through an OpenAI-compatible server",
        description="Embed one text per JSON line (BEIR corpus.jsonl: _id, title, text) "
                    "with rate limits, retries and a resumable cache.")
    parser.add_argument("corpus", metavar="CORPUS", help="a .jsonl file, one JSON object per line")
    parser.add_argument("--model", required=True,
                        help="openai:MODEL, e.g. openai:text-embedding-3-small")
    parser.add_argument("--base-url", default=None,
                        help="server URL (default $OPENAI_BASE_URL or api.openai.com/v1); "
                             "vLLM, text-embeddings-inference, Ollama, LM Studio work too")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY",
                        help="environment variable holding the key (default OPENAI_API_KEY)")
    parser.add_argument("--cache", default=".vecdiag-cache",
                        help="cache directory (default .vecdiag-cache); reruns resume from it")
    parser.add_argument("-o", "--output", required=True, help="output .npy file")
    parser.add_argument("--kind", choices=("document", "query"), default="document",
                        help="document (title and text joined) or query (the text alone, "
                             "as load_beir reads queries.jsonl)")
    parser.add_argument("--prefix", default="", help="text prepended to every text (e.g. 'passage: ')")
    parser.add_argument("--text-field", default="text",
                        help="field holding the text (default text; a title field is joined)")
    parser.add_argument("--id-field", default=None,
                        help="field holding the id (default _id, else id; every line needs one)")
    parser.add_argument("--dimensions", type=int, default=None, help="shorter vectors (text-embedding-3)")
    parser.add_argument("--batch-size", type=int, default=128, help="texts per request (default 128)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    parser.add_argument("--rpm", type=float, default=None, help="requests per minute limit")
    parser.add_argument("--tpm", type=float, default=None, help="tokens per minute limit")
    parser.add_argument("--max-retries", type=int, default=8, help="retries per batch (default 8)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    parser.set_defaults(run=run)


def read_corpus(path, text_field: str = "text", id_field: str | None = None,
                kind: str = "document") -> tuple[list, list]:
    """``(ids, texts)`` from a .jsonl file; errors name the line and the fix.

    Read as :func:`vecdiag.load_beir` reads a corpus.jsonl (one reader,
    :func:`vecdiag.datasets.jsonl_records`: the id in ``id_field``, default ``"_id"`` or
    else ``"id"``, decided by the first line; a title or text ``0`` is the text "0";
    a list, an object, a boolean or NaN refused), each text the title and
    ``text_field`` joined by :func:`vecdiag.datasets.record_text` (``kind="query"``:
    the ``text_field`` alone, as load_beir reads queries.jsonl). Refused besides: a
    line whose joined text is blank (embedding APIs refuse empty input) or whose text or
    id holds a lone surrogate escape (no request, no UTF-8 ids file can carry it).
    """
    from ..datasets import jsonl_records, record_text

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CORPUS: no such file {str(path)!r}")
    ids, texts, blank = [], [], []
    # read as report --texts and load_beir read it: a byte-order mark dropped, a file not
    # in UTF-8 named, the same ids, texts and refusals
    records = jsonl_records(path, what="CORPUS", id_field=id_field, text_field=text_field)
    for number, row in records:
        joined = record_text(row, text_field, kind)
        if not joined.strip():
            # judged joined with the title: a title does not make a blank text embeddable
            blank.append((number, row.get(text_field) is not None))
            continue
        # a JSON escape such as "\udc80": no request carries it in a text, and no UTF-8
        # ids file in an id (written after every text was embedded and paid for)
        doc_id = str(row["_id"])
        for part, value in (("text", joined), ("id", doc_id)):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"CORPUS {path.name}: line {number} holds a lone surrogate "
                                 f"escape (such as \\udc80) in its {part}, which is not "
                                 "Unicode text; fix the line") from None
        ids.append(doc_id)
        texts.append(joined)
    if blank:
        # every such line at once (BEIR's Cranfield has two documents without text; one
        # error per run made the user fix and rerun for each)
        shown = ", ".join(str(n) for n, _ in blank[:10]) + (
            f" and {len(blank) - 10} more" if len(blank) > 10 else "")
        empty = all(has_field for _, has_field in blank)
        raise ValueError(f"CORPUS {path.name}: line{'s' if len(blank) > 1 else ''} {shown} "
                         f"{'have' if len(blank) > 1 else 'has'} no text in the "
                         f"{text_field!r} field; " + (
                             "embedding APIs refuse empty input: drop those lines (or give "
                             "them a text) first" if empty else
                             "fix those lines or pass --text-field"))
    if not texts:
        raise ValueError(f"CORPUS {path.name} holds no lines; nothing to embed")
    return ids, texts


def run(args) -> int:
    import numpy as np

    from ..cli import CommandError
    from ..embedders import BadResponse, EmbeddingError, OpenAIEmbedder, ProviderError, resilient
    from ..io import atomic_write_bytes, atomic_write_text

    provider, _, model = args.model.partition(":")
    if provider != "openai" or not model:
        raise CommandError(f"--model must look like openai:MODEL (e.g. "
                           f"openai:text-embedding-3-small), got {args.model!r}")
    out = Path(args.output)
    if out.suffix.lower() != ".npy":
        raise CommandError(f"-o must name a .npy file, got {str(out)!r}")
    ids, texts = read_corpus(args.corpus, args.text_field, args.id_field, args.kind)
    key = os.environ.get(args.api_key_env) if args.api_key_env else None
    prefixes = {"query_prefix": args.prefix} if args.kind == "query" else {"document_prefix": args.prefix}
    inner = OpenAIEmbedder(model, base_url=args.base_url, api_key=key or None,
                           dimensions=args.dimensions, batch_size=args.batch_size,
                           timeout=args.timeout, **prefixes)
    emb = resilient(inner, cache=args.cache, max_concurrency=args.concurrency,
                    requests_per_minute=args.rpm, tokens_per_minute=args.tpm,
                    max_retries=args.max_retries, timeout=args.timeout,
                    show_progress=not args.quiet)
    try:
        X = emb.encode(texts, kind=args.kind)
    except (ProviderError, EmbeddingError, BadResponse) as err:  # a repeated wrong answer
        print(f"vecdiag embed: error: {err}", file=sys.stderr)
        print(f"vecdiag embed: everything embedded so far is cached in {args.cache}; "
              "run the same command again to resume", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    import io

    buffer = io.BytesIO()
    np.save(buffer, X)
    atomic_write_bytes(out, buffer.getvalue())
    ids_path = out.parent / f"{out.stem}_ids.txt"
    atomic_write_text(ids_path, "\n".join(ids) + "\n")
    if not args.quiet:
        print(f"wrote {X.shape[0]} x {X.shape[1]} vectors to {out} and their ids to {ids_path}")
    return 0
