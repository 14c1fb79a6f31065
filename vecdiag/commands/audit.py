"""``vecdiag audit STORE --queries Q.npy``: recall of a vector store's own search.

STORE is a PostgreSQL connection string (pgvector; with ``--table``), a faiss index file
(``--ids`` for its ids), a Qdrant server URL, or a folder of Qdrant local mode or Chroma
(``--collection``).
Prints the audit (recall against exact search with its interval, the sweep, findings);
``--json`` prints one JSON object, ``-o`` writes the HTML view. Exit status: 0 fine, 1 when
``--fail-below`` is given and the recall is below it, 2 on bad input. A password in the
connection string is never printed. A Qdrant server's API key comes from the environment
variable named by ``--api-key-env`` (default ``QDRANT_API_KEY``), never from the command
line, where other users could read it; it is never printed either.
"""

from __future__ import annotations

import json
import os
import sys

HELP = "measure a vector store's own search (pgvector, faiss, Qdrant, Chroma) against exact search"
KINDS = ("pgvector", "faiss", "qdrant", "chroma")
# the stores each option applies to (another store refuses it rather than ignore it)
OPTIONS = {"--table": ("pgvector",), "--where": ("pgvector",), "--metric": ("pgvector",),
           "--force-index": ("pgvector",), "--ids": ("faiss",),
           "--collection": ("qdrant", "chroma"), "--vector": ("pgvector", "qdrant"),
           "--text": ("pgvector", "qdrant"), "--id": ("pgvector", "qdrant"),
           "--api-key-env": ("qdrant",)}
API_KEY_ENV = "QDRANT_API_KEY"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("audit", help=HELP, description=HELP)
    p.add_argument("location", metavar="STORE",
                   help="postgresql://... (pgvector), an index file (faiss), or a Qdrant / "
                        "Chroma folder")
    p.add_argument("--queries", required=True, metavar="Q",
                   help="query vectors: .npy, .npz or .parquet")
    p.add_argument("--key", metavar="KEY",
                   help="array name in an .npz / vector column in a .parquet of --queries")
    p.add_argument("--store", choices=KINDS, help="kind of store (guessed from STORE)")
    p.add_argument("--table", help="pgvector: table name")
    p.add_argument("--vector", help="pgvector: vector column (default embedding); Qdrant: "
                   "the named vector of a collection with several")
    p.add_argument("--id", help="pgvector: id column (default id); Qdrant: payload field "
                   "holding your ids (default: the point ids)")
    p.add_argument("--text", help="pgvector / Qdrant: text column or payload field")
    p.add_argument("--where", help="pgvector: SQL condition restricting the rows")
    p.add_argument("--force-index", action="store_true",
                   help="pgvector: make PostgreSQL use the vector index even where it would "
                   "scan the table exactly (a small table): measure the index itself")
    p.add_argument("--metric", choices=["cosine", "dot", "euclidean"],
                   help="pgvector without a vector index: the metric your queries use")
    p.add_argument("--ids", metavar="FILE", help="faiss: ids, one per line (or .npy / .json)")
    p.add_argument("--collection", help="Qdrant / Chroma: collection name")
    p.add_argument("--api-key-env", metavar="NAME",
                   help=f"Qdrant server: environment variable holding its API key (default "
                        f"{API_KEY_ENV}, read when set)")
    p.add_argument("-k", type=int, default=10, help="results per query (default 10)")
    p.add_argument("--sweep", metavar="SETTING=V1,V2",
                   help="values of the search setting to try, e.g. ef_search=10,20,40,80; "
                        "'none' for no sweep (default: a ladder when the index has a setting)")
    p.add_argument("--target", type=float, default=0.95,
                   help="recall the sweep looks for (default 0.95)")
    p.add_argument("--fail-below", type=float, metavar="RECALL",
                   help="exit 1 when the recall is below RECALL: a CI gate")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-o", "--output", metavar="HTML", help="also write the audit as HTML")
    p.set_defaults(run=run)


def run(args) -> int:
    from .._secrets import mask_secret
    from ..cli import CommandError
    from ..stores import mask_dsn

    try:
        return _run(args)
    except CommandError:
        raise
    except (ValueError, TypeError, OSError, ImportError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        message = mask_dsn(message).replace(args.location, mask_dsn(args.location))
        key = os.environ.get(args.api_key_env or API_KEY_ENV, "").strip()
        raise CommandError(mask_secret(message, key) if len(key) >= 4 else message) from None


def guess_kind(location: str) -> str:
    """pgvector for a connection string, qdrant for a URL, faiss for a file, qdrant /
    chroma for a folder."""
    from ..cli import CommandError
    from ..stores import mask_dsn

    if location.startswith(("postgresql://", "postgres://")) or "dbname=" in location \
            or "host=" in location:
        return "pgvector"
    if location.startswith(("http://", "https://")):    # the one store served by URL here
        return "qdrant"
    if os.path.isfile(location):
        return "faiss"
    if os.path.isdir(location):
        if os.path.exists(os.path.join(location, "chroma.sqlite3")):
            return "chroma"
        if os.path.exists(os.path.join(location, "meta.json")) or \
                os.path.isdir(os.path.join(location, "collection")):
            return "qdrant"
        raise CommandError(f"STORE: cannot tell what the folder {location} holds (no "
                           "chroma.sqlite3, no Qdrant meta.json); pass --store qdrant or chroma")
    raise CommandError(f"STORE: {mask_dsn(location)} is neither a connection string "
                       "(postgresql://...), an index file nor a folder")


def open_store(args):
    """The Store the arguments describe."""
    from .. import stores
    from ..cli import CommandError

    kind = args.store or guess_kind(args.location)
    for option, kinds in OPTIONS.items():
        if getattr(args, option[2:].replace("-", "_")) not in (None, False) and kind not in kinds:
            why = ("always searches its own index" if option == "--force-index" else
                   "would ignore it (the audit would not be the one asked for)")
            raise CommandError(f"{option} is for {' / '.join(kinds)}; a {kind} store {why}: "
                               "leave it out")
    if kind == "pgvector":
        if not args.table:
            raise CommandError("pgvector needs --table (and --vector / --id when the columns "
                               "are not named embedding / id)")
        return stores.pgvector(args.location, args.table, vector=args.vector or "embedding",
                               id=args.id or "id", text=args.text, where=args.where,
                               metric=args.metric, force_index=args.force_index)
    if kind == "faiss":
        return stores.faiss(args.location, ids=args.ids)
    if not args.collection:
        raise CommandError(f"{kind} needs --collection NAME")
    if kind == "qdrant":
        return stores.qdrant(args.location, args.collection, text=args.text,
                             vector=args.vector, id=args.id, api_key=api_key(args))
    import chromadb

    if not os.path.isfile(os.path.join(args.location, "chroma.sqlite3")):
        # PersistentClient would make a new, empty database at a mistyped folder (and
        # fail with an internal error on a file)
        raise CommandError(f"STORE: {args.location} is not a Chroma folder (no "
                           "chroma.sqlite3 in it); pass the folder given to "
                           "chromadb.PersistentClient(path=...)")
    client = chromadb.PersistentClient(path=args.location)
    names = [getattr(c, "name", c) for c in client.list_collections()]
    if args.collection not in names:
        raise CommandError(f"collection {args.collection!r} does not exist in {args.location}; "
                           f"collections there: {', '.join(map(str, names)) or 'none'}")
    return stores.chroma(client.get_collection(args.collection))


def api_key(args):
    """A Qdrant server's API key, from the environment variable ``--api-key-env`` names
    (default ``QDRANT_API_KEY``: used when set); None for a folder, which has no key."""
    from ..cli import CommandError

    if not args.location.startswith(("http://", "https://")):
        if args.api_key_env:
            raise CommandError("--api-key-env is for a Qdrant server URL; a local-mode "
                               "folder has no key: leave it out")
        return None
    name = args.api_key_env or API_KEY_ENV
    key = os.environ.get(name, "").strip()
    if args.api_key_env and not key:
        raise CommandError(f"--api-key-env {name}: no such environment variable is set (or "
                           f"it is empty); export {name}=<the key> before running vecdiag")
    return key or None


def _run(args) -> int:
    from ..cli import CommandError, options_named
    from ..io import load_vectors
    from ..stores import audit

    if args.fail_below is not None and not 0 < args.fail_below <= 1:
        raise CommandError(f"--fail-below must be a recall in (0, 1], got {args.fail_below}")
    if args.output:
        from .report import check_output_path

        check_output_path(args, args.output)
    queries = load_vectors(args.queries, key=args.key, name="--queries")
    store = open_store(args)
    sweep = False if (args.sweep or "").lower() == "none" else args.sweep
    with options_named({"target": "--target"}):   # vd.audit's target= is --target here
        res = audit(store, queries, k=args.k, sweep=sweep, target=args.target)
    failed = args.fail_below is not None and res.recall < args.fail_below
    if args.output:
        from ..io import atomic_write_text

        atomic_write_text(args.output, "<!doctype html><meta charset='utf-8'>"
                          f"<title>vecdiag audit</title>{res._repr_html_()}")
    if args.json:
        print(json.dumps(dict(res.to_dict(), failed=failed), indent=2))
    else:
        print(res.to_text())
    if failed:
        print(f"FAIL: recall@{res.k} {res.recall:.3f} is below {args.fail_below}",
              file=sys.stderr)
    return 1 if failed else 0
