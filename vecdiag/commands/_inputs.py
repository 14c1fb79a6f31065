"""Reading the command line's inputs: vectors, ids, texts and judgments.

Every assumption made while pairing rows with ids (e.g. "document ids taken from
corpus.jsonl in file order") is returned as a note and printed in the report.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .._textfile import id_lines, read_text
from ..results import counted


@dataclasses.dataclass
class Inputs:
    corpus: object
    """A NumPy array, or a Dask array for shards (``is_lazy``)."""
    ids: list | None = None
    texts: list | None = None
    queries: np.ndarray | None = None
    query_ids: list | None = None
    query_texts: list | None = None
    qrels: dict | None = None
    query_groups: list | None = None
    name: str = "corpus"
    model_name: str | None = None
    notes: list = dataclasses.field(default_factory=list)
    is_lazy: bool = False
    """The corpus is a Dask array (read chunk by chunk), not an in-memory array."""

    def description(self) -> str:
        parts = [f"{self.name}: {counted(self.corpus.shape[0], 'document')} × "
                 f"{counted(self.corpus.shape[1], 'dim')}"]
        if self.queries is not None:
            parts.append(counted(self.queries.shape[0], "query", "queries"))
        if self.qrels is not None:
            n = sum(1 for d in self.qrels.values() for g in d.values() if g > 0)
            parts.append(counted(n, "relevance judgment"))
        if self.model_name:
            parts.append(f"model {self.model_name}")
        return ", ".join(parts)


def read_lines(path, what: str, rows: int | None = None) -> list[str]:
    """One entry per line. Trailing blank lines are ignored, except those ``rows``
    (the number of entries expected) needs: an empty text in the last row, written as
    ``"\\n".join(texts) + "\\n"``, is a row like an empty text anywhere else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no such file {str(path)!r}")
    # only \n (and \r\n) end a line: str.splitlines also splits on \x85, \u2028, ...
    text = read_text(path, f"{what}: {str(path)!r}")
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()                         # the newline that ends the last line
    while lines and not lines[-1].strip() and (rows is None or len(lines) > rows):
        lines.pop()
    return lines


def read_ids(path, what: str) -> list[str]:
    """One id per line, without the spaces or tabs around it; a blank line before the
    last id is refused, naming it (:func:`vecdiag._textfile.id_lines`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no such file {str(path)!r}")
    return id_lines(path, what)


def _load_beir_folder(path: Path, id_field, qrels, finite_corpus: bool):
    """The BEIR folder as a Dataset; without its stored vectors when rows with NaN or
    inf must be kept (a Dataset refuses them; they are read by the caller)."""
    from ..datasets import load_beir

    return load_beir(path, id_field=id_field, qrels=qrels,
                     **({} if finite_corpus else {"embeddings": None}))


def is_shards(corpus: str) -> bool:
    """True for a glob, or a folder of vector files that is not a BEIR folder."""
    path = Path(corpus)
    # a file or folder that exists is what it is, even named "beir [v1]": as a glob it
    # would be opened as shards (a BEIR folder's query vectors read as corpus rows)
    if any(c in str(corpus) for c in "*?[") and not path.exists():
        return True
    if not path.is_dir() or (path / "corpus.jsonl").is_file() \
            or any(path.glob("emb_*_corpus.npy")):
        return False
    return any(p.suffix.lower() in (".npy", ".npz", ".parquet", ".pq") for p in path.iterdir())


def load_inputs(corpus, *, queries=None, qrels=None, texts=None, ids=None, query_ids=None,
                key=None, query_texts=None, id_field=None, lazy: bool = False,
                finite_corpus: bool = True, query_key=None) -> Inputs:
    """Turn the command-line arguments into aligned arrays, ids, texts and judgments.

    A glob or a folder of shards (and any vector file when ``lazy``) is opened with
    ``vd.open_vectors``: the corpus is then a Dask array, read chunk by chunk.
    ``finite_corpus=False`` keeps corpus rows with NaN or inf (``check``: a finding of
    ``vd.diagnose``, as for shards, not an input error). ``key`` names the array or
    column of CORPUS, and of ``queries`` unless ``query_key`` (``--query-key``) does."""
    from ..io import load_vectors

    path = Path(corpus)
    if is_shards(corpus) or (lazy and path.is_file()):
        inp = _open_shards(corpus, key)
    elif path.is_dir():
        if queries is not None or texts is not None or ids is not None \
                or query_texts is not None or query_ids is not None:
            raise ValueError("CORPUS is a BEIR folder, which brings its own queries, texts "
                             "and ids; drop --queries/--texts/--ids/--query-texts/--query-ids "
                             "(--qrels and --id-field are allowed)")
        return _beir_inputs(path, qrels, id_field, finite_corpus)
    else:
        inp = Inputs(corpus=load_vectors(path, key=key, name="CORPUS", finite=finite_corpus),
                     name=path.stem)
    _corpus_ids(inp, path, ids, key)
    beir_queries = None
    if texts is not None:
        beir_queries = _read_texts(inp, Path(texts), inp.corpus.shape[0], id_field)
    if queries is not None:
        _query_inputs(inp, Path(queries), query_ids, query_texts,
                      key if query_key is None else query_key, id_field, beir_queries)
    elif query_ids is not None or query_texts is not None:
        raise ValueError(f"{'--query-ids' if query_ids is not None else '--query-texts'} "
                         "needs --queries (the query vectors)")
    if qrels is not None:
        if inp.queries is None:
            raise ValueError("--qrels needs --queries (the query embeddings) to evaluate")
        inp.qrels = _read_qrels(Path(qrels))
        if inp.ids is None or inp.query_ids is None:
            missing = "document ids (--ids or --texts)" if inp.ids is None else \
                "query ids (--query-ids, or --texts with a BEIR folder)"
            raise ValueError(f"--qrels name documents and queries by id, but the {missing} "
                             "are not known; pass them")
        inp.qrels = _keep_known(inp.qrels, inp.query_ids, inp.ids, inp.notes)
    if inp.queries is not None and inp.queries.shape[1] != inp.corpus.shape[1]:
        raise ValueError(f"--queries have {inp.queries.shape[1]} dims but CORPUS has "
                         f"{inp.corpus.shape[1]}; embed both with the same model")
    return inp


def _beir_inputs(path: Path, qrels, id_field, finite_corpus: bool) -> Inputs:
    """A BEIR folder as CORPUS: its stored embeddings, ids, texts, queries and judgments
    (what load_beir warns becomes a note)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = _load_beir_folder(path, id_field, qrels, finite_corpus)
    if finite_corpus:
        corpus_X, queries_X, model = (data.corpus_embeddings, data.query_embeddings,
                                      data.model_name)
    else:   # rows with NaN or inf stay (check's finding), which a Dataset refuses
        from ..datasets import stored_embeddings

        corpus_X, model = stored_embeddings(path, "corpus", data.corpus_ids, finite=False)
        queries_X = (stored_embeddings(path, "queries", data.query_ids)[0]
                     if model is not None else None)
    if corpus_X is None:
        raise ValueError(f"CORPUS: the folder {path} holds no stored embeddings "
                         "(emb_<model>_corpus.npy); pass a .npy/.npz/.parquet file")
    inp = Inputs(corpus=corpus_X, ids=data.corpus_ids,
                 texts=data.corpus_texts, queries=queries_X,
                 query_ids=data.query_ids, query_texts=data.query_texts,
                 qrels=data.qrels, name=path.name, model_name=model)
    for w in caught:
        if issubclass(w.category, UserWarning):
            inp.notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    inp.notes.append(f"read the BEIR folder {path.name} with its stored "
                     f"{model} embeddings, rows matched by id"
                     + (f"; judgments from {Path(qrels).name}" if qrels else ""))
    if queries_X is not None:
        inp.notes.append(f"queries: the {len(data.query_ids)} judged queries of "
                         "queries.jsonl (unjudged ones are left out, also from the "
                         "query/corpus shift)")
    return inp


def _corpus_ids(inp: Inputs, path: Path, ids, key) -> None:
    """Document ids: from --ids, else a ``<stem>_ids.txt`` beside CORPUS, else the ids a
    .parquet or .npz file stores."""
    n = inp.corpus.shape[0]
    if ids is not None:
        inp.ids = _check_count(read_ids(ids, "--ids"), n, "--ids", "CORPUS rows")
        if inp.is_lazy:
            inp.notes.append("document ids read from --ids (the ids stored with the shards, "
                             "if any, are not used)")
    elif not inp.is_lazy and (path.parent / f"{path.stem}_ids.txt").is_file():
        sibling = path.parent / f"{path.stem}_ids.txt"
        inp.ids = _check_count(read_ids(sibling, sibling.name), n, sibling.name, "CORPUS rows")
        inp.notes.append(f"document ids read from {sibling.name}, next to CORPUS")
    elif not inp.is_lazy and path.suffix.lower() in (".parquet", ".pq", ".npz"):
        _stored_ids(inp, path, key, n)


def _query_inputs(inp: Inputs, qpath: Path, query_ids, query_texts, key, id_field,
                  beir_queries) -> None:
    """--queries with their ids (--query-ids, a ``<stem>_ids.txt`` beside them, the ids
    a .parquet or .npz stores, read as CORPUS's, or the file order of the queries.jsonl
    of --texts) and texts."""
    from ..io import load_vectors

    inp.queries = load_vectors(qpath, key=key, name="--queries")
    m = inp.queries.shape[0]
    inp.notes.append(f"queries: all {m} rows of --queries, judged or not (the query/"
                     "corpus shift uses every one; a BEIR folder as CORPUS uses only its "
                     "judged queries, so its shift figure can differ)")
    if query_ids is not None:
        inp.query_ids = _check_count(read_ids(query_ids, "--query-ids"), m,
                                     "--query-ids", "query rows")
    elif (qpath.parent / f"{qpath.stem}_ids.txt").is_file():
        sibling = qpath.parent / f"{qpath.stem}_ids.txt"
        inp.query_ids = _check_count(read_ids(sibling, sibling.name), m, sibling.name,
                                     "query rows")
        inp.notes.append(f"query ids read from {sibling.name}, next to --queries")
    elif qpath.suffix.lower() in (".parquet", ".pq", ".npz"):   # as CORPUS's stored ids
        _stored_ids(inp, qpath, key, m, queries=True)
    if inp.query_ids is None and beir_queries is not None and len(beir_queries) == m:
        inp.query_ids = list(beir_queries)
        inp.notes.append("query ids taken from queries.jsonl in file order (one per "
                         "query row); pass --query-ids if the rows are in another order")
    if query_texts is not None:
        _read_query_texts(inp, Path(query_texts), m, id_field)
    elif inp.query_ids is not None and beir_queries is not None:
        inp.query_texts = [beir_queries.get(q, "") for q in inp.query_ids]
        inp.notes.append("query texts taken from queries.jsonl of --texts, by query id")


def _open_shards(corpus: str, key) -> Inputs:
    """A glob or folder of shards (or one file) as a lazy Dask corpus, with its ids."""
    import vecdiag as vd

    try:
        X = vd.open_vectors(corpus, key=key)
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise type(err)(f"CORPUS: {err}") from None
    files = X.files
    name = str(corpus) if is_shards(corpus) else Path(files[0]).stem
    inp = Inputs(corpus=X, name=name, is_lazy=True)
    suffix = Path(files[0]).suffix
    inp.notes.append(f"CORPUS read lazily from {len(files)} {suffix} file"
                     f"{'s' if len(files) != 1 else ''} ({Path(files[0]).name}"
                     + (f" ... {Path(files[-1]).name}, in natural order" if len(files) > 1
                        else "") + f") as a Dask array of {X.numblocks[0]} chunks")
    if X.ids is not None:
        inp.ids = [str(i) for i in X.ids.tolist()]
        inp.notes.append("document ids read with the shards (an id column, an ids member "
                         "or <stem>_ids.txt files)")
    return inp


def _stored_ids(inp, path: Path, key, n: int, queries: bool = False) -> None:
    """Ids stored with the vectors (an ``id`` / ``_id`` / ``doc_id`` column of a parquet
    file, an ``ids`` / ``id`` array of an .npz): read as ``vd.open_vectors`` reads them,
    so a file gives the same ids whether it is searched in memory or on a cluster.
    ``queries``: the file is --queries, its ids are the query ids."""
    from ..scale import formats
    from ..scale.io import SUFFIXES

    kind = SUFFIXES[path.suffix.lower()]
    info = formats.describe(path, kind, key)
    if info.id_source is None:
        return
    read = formats.read_parquet_ids if kind == "parquet" else formats.read_npz_ids
    # as text, as _open_shards gives them: qrels name documents by text, so an integer
    # id column would match no judgment
    ids = _check_count([str(i) for i in read(str(path), info.id_source).tolist()], n,
                       f"{path.name}[{info.id_source}]",
                       "query rows" if queries else "CORPUS rows")
    setattr(inp, "query_ids" if queries else "ids", ids)
    inp.notes.append(f"{'query' if queries else 'document'} ids read from "
                     f"{info.id_source!r} in {path.name}")


def _check_count(values: list, n: int, what: str, rows: str) -> list:
    if len(values) != n:
        raise ValueError(f"{what} lists {len(values)} entries but there are {n} {rows}; "
                         "give exactly one per row, in row order")
    return values


def _read_query_texts(inp: Inputs, path: Path, m: int, id_field) -> None:
    """Query texts from a queries .jsonl (matched by query id) or a .txt (row order)."""
    from ..datasets import read_jsonl, record_text

    if path.is_dir():
        path = path / "queries.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"--query-texts: no such file {str(path)!r}")
    if path.suffix.lower() != ".jsonl":
        inp.query_texts = _check_count(read_lines(path, "--query-texts", m), m,
                                       "--query-texts", "query rows")
        return
    rows = read_jsonl(path, what="--query-texts", id_field=id_field)
    by_id = {str(r["_id"]): record_text(r, kind="query") for r in rows}
    if inp.query_ids is None:
        _check_count(rows, m, f"--query-texts {path.name}", "query rows")
        inp.query_ids = list(by_id)
        inp.notes.append(f"query ids taken from {path.name} in file order (one per query "
                         "row); pass --query-ids if the rows are in another order")
    missing = [q for q in inp.query_ids if q not in by_id]
    if missing:
        raise ValueError(f"--query-texts: {len(missing)} query ids have no text in "
                         f"{path.name} (first: {', '.join(missing[:3])}); check --id-field")
    inp.query_texts = [by_id[q] for q in inp.query_ids]


def _read_texts(inp: Inputs, path: Path, n: int, id_field=None):
    """Document texts from a BEIR folder, a corpus .jsonl or a .txt; returns the BEIR
    queries (id -> text) when a folder was given."""
    from ..datasets import read_jsonl, record_text

    queries = None
    if path.is_dir():
        jsonl = path / "corpus.jsonl"
        if not jsonl.is_file():
            raise FileNotFoundError(f"--texts: {path} has no corpus.jsonl")
        if (path / "queries.jsonl").is_file():
            queries = {str(r["_id"]): record_text(r, kind="query")
                       for r in read_jsonl(path / "queries.jsonl", what="queries",
                                           id_field=id_field)}
    else:
        jsonl = path
    if jsonl.suffix.lower() == ".jsonl":
        rows = read_jsonl(jsonl, what="--texts", id_field=id_field)
        by_id = {str(r["_id"]): record_text(r) for r in rows}
        if inp.ids is not None:
            missing = [i for i in inp.ids if i not in by_id]
            if missing:
                raise ValueError(f"--texts: {len(missing)} document ids have no text in "
                                 f"{jsonl.name} (first: {', '.join(missing[:3])})")
            inp.texts = [by_id[i] for i in inp.ids]
        else:
            _check_count(rows, n, f"--texts {jsonl.name}", "CORPUS rows")
            inp.ids = [str(r["_id"]) for r in rows]
            inp.texts = list(by_id.values())
            inp.notes.append(f"document ids taken from {jsonl.name} in file order (one per "
                             "CORPUS row); pass --ids if the rows are in another order")
    else:
        inp.texts = _check_count(read_lines(jsonl, "--texts", n), n, "--texts", "CORPUS rows")
    return queries


def _read_qrels(path: Path) -> dict:
    from ..datasets import qrels_file, read_judgments, read_qrels_tsv

    if path.is_dir():
        return read_qrels_tsv(qrels_file(path))
    return read_judgments(path, what="--qrels")


def _keep_known(qrels: dict, query_ids: list, ids: list, notes: list) -> dict:
    known_q, known_d = set(query_ids), set(ids)
    kept, dropped = {}, 0
    for q, docs in qrels.items():
        q = str(q)
        good = {str(d): int(g) for d, g in docs.items() if str(d) in known_d}
        dropped += len(docs) - len(good)
        if q in known_q and good:
            kept[q] = good
        elif q not in known_q:
            dropped += len(good)
    if not kept:
        raise ValueError("--qrels: no judgment names a known query and document; check that "
                         "the ids in the qrels match --ids / --query-ids")
    if dropped:
        notes.append(f"{dropped} judgments name queries or documents not in the inputs and "
                     "were ignored")
    return kept
