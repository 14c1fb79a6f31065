"""Read BEIR-layout folders: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np

from .. import _validate as V
from .._textfile import ASCII_SPACE, id_lines, json_objects
from ._dataset import Dataset, join_title

__all__ = ["load_beir", "read_jsonl", "jsonl_records", "record_text", "read_qrels_tsv",
           "read_judgments", "qrels_file", "stored_embeddings"]


ID_FIELDS = ("_id", "id")  # BEIR's field first, then the common near-BEIR spelling


def read_jsonl(path, *, what: str, id_field: str | None = None,
               text_field: str = "text") -> list[dict]:
    """Parse one JSON object per non-empty line; errors name the file and line.

    The rows of :func:`jsonl_records`, the one reader of BEIR records (see there).
    """
    return [row for _, row in jsonl_records(path, what=what, id_field=id_field,
                                            text_field=text_field)]


def jsonl_records(path, *, what: str, id_field: str | None = None, text_field: str = "text"):
    """``(line number, record)`` for every non-empty line of a BEIR ``.jsonl`` file;
    errors name ``what``, the file, the line and the fix.

    The one reader of BEIR records: :func:`load_beir`, ``vecdiag report --texts`` and
    ``vecdiag embed`` read (and refuse) a file alike; :func:`record_text` joins a
    record's title and text. ``id_field`` names the field holding each record's id;
    None accepts BEIR's ``"_id"`` or, when the file has none, ``"id"`` (decided by the
    first record: a later line with the other one is refused). Every record carries
    its id under ``"_id"`` (a copy; the file's own field is kept). An id is a string
    or an integer, not blank and without a line break; one repeated (``1`` and ``"1"``
    are one id) is refused naming both lines. The ASCII spaces, tabs and line ends
    around an id are dropped, as every ids, qrels and run file is read (``"d1 "`` is
    ``"d1"``; a U+00A0 is kept). A ``"title"`` or ``text_field`` written as a number is returned
    as its text (``0`` as ``"0"``); one holding a list, an object, a boolean or
    ``NaN`` / ``Infinity`` (what ``json.dumps`` writes for pandas' missing values) is
    refused, naming the line; null reads as no text.
    """
    for name, value, example in (("id_field", id_field, "id"),
                                 ("text_field", text_field, "body")):
        if (value is not None or name == "text_field") and (
                not isinstance(value, str) or not value):
            raise TypeError(f"{name} (command line: --{name.replace('_', '-')}) must be the "
                            f"name of a JSON field, e.g. {example!r}, got {value!r}")
    field = id_field
    line_of: dict = {}                 # id (as text: 1 and "1" are one id) -> its line
    for number, row in json_objects(path, f"{what} {path}", '{"_id": "1", "text": "..."}'):
        if field is None:
            field = next((f for f in ID_FIELDS if f in row), None)
        if field is None or field not in row:
            fields = ", ".join(map(repr, list(row)[:6]))
            want = (f'"{id_field}"' if id_field else '"_id" (or "id")' if field is None
                    else f'"{field}" (the id field of the first record)')
            raise ValueError(f"{what} {path}: line {number} has no {want} field (its "
                             f"fields: {fields}); BEIR lines look like "
                             '{"_id": "1", "text": "..."}; name the id field with '
                             "id_field= (command line: --id-field)")
        value = row[field]
        if (isinstance(value, bool) or not isinstance(value, (str, int))
                or not str(value).strip(ASCII_SPACE)):
            # a blank id (" ") is no id: no qrels line or ids file can name it
            raise ValueError(f"{what} {path}: line {number} has the id {value!r}; ids "
                             "are non-empty strings or integers")
        if isinstance(value, str):
            # as every ids, qrels and run file is read (see _textfile.id_lines): "d1 " was
            # kept, so its judgment ("d1") was dropped and its stored vectors not found
            value = value.strip(ASCII_SPACE)
            if "\n" in value:      # no ids file (one id per line), qrels or run holds it
                raise ValueError(f"{what} {path}: line {number} has the id {value!r}, "
                                 "which holds a line break; ids are written one per line: "
                                 "replace the line break in the id")
        if line_of.setdefault(str(value), number) != number:
            # a dict by id would keep one of the two texts, a list both: rows and texts
            # of the callers would no longer pair
            raise ValueError(f"{what} {path}: line {number} repeats the id {value!r} of "
                             f"line {line_of[str(value)]}; each record needs its own id")
        if field != "_id" or row[field] != value:    # the id moved or stripped
            row = {**row, "_id": value}
        for name in ("title", text_field):
            text = row.get(name)
            if text is None or isinstance(text, str):
                continue
            # a number is written as text (0 included: `str(0 or "")` gave "");
            # a list or an object would be embedded as its Python repr
            if isinstance(text, bool) or not isinstance(text, (int, float)):
                raise ValueError(f"{what} {path}: line {number} has a {name!r} of type "
                                 f"{type(text).__name__} ({str(text)[:40]}); {name} must be "
                                 "a string")
            if isinstance(text, float) and not math.isfinite(text):
                # json.dumps writes pandas' missing value as NaN: it read as the text "nan"
                raise ValueError(f"{what} {path}: line {number} has the {name} {text!r}, "
                                 f"not a text (a missing value, as json.dumps writes "
                                 f"pandas' NaN); write null or leave out the {name!r} field")
            row = {**row, name: str(text)}
        yield number, row


def record_text(row: dict, text_field: str = "text", kind: str = "document") -> str:
    """The text a model embeds for a record of :func:`jsonl_records`: a document's
    ``"title"`` and ``text_field`` joined by :func:`join_title`; a query's
    ``text_field`` alone (BEIR's loader reads a query's text only; a title some
    queries.jsonl carry is not the query). A null or missing field is no text.

    Examples
    --------
    >>> record_text({"_id": "d1", "title": "0", "text": "Zero."}), record_text({"text": "x"})
    ('0. Zero.', 'x')
    >>> record_text({"_id": "q1", "title": "Cats", "text": "why purr"}, kind="query")
    'why purr'
    """
    if kind not in ("document", "query"):
        raise ValueError(f"kind must be 'document' or 'query', got {kind!r}")
    if kind == "query":
        return row.get(text_field) or ""
    return join_title(row.get("title") or "", row.get(text_field) or "")


def read_qrels_tsv(path) -> dict:
    """A BEIR ``qrels/<split>.tsv`` (``query-id<TAB>corpus-id<TAB>score``) or TREC qrels
    file as a dict, read by :func:`vecdiag.load_qrels`, as ``vecdiag eval`` reads it:
    one behaviour for headers, column order, grades, duplicates and malformed lines."""
    from ..evaluation import load_qrels

    return load_qrels(path)


def load_beir(folder, *, split: str | None = None, embeddings: str | None = "auto",
              only_judged: bool = True, id_field: str | None = None,
              qrels=None) -> Dataset:
    """Load a BEIR-layout folder as a :class:`Dataset`.

    Parameters
    ----------
    folder : str or Path
        Holds ``corpus.jsonl`` (``{"_id", "title", "text"}``), ``queries.jsonl``
        (``{"_id", "text"}``) and ``qrels/<split>.tsv`` (``query-id corpus-id score``,
        tab separated, one header line; read by :func:`vecdiag.load_qrels`, as
        ``vecdiag eval`` reads it, so both accept and refuse the same lines). Near-BEIR
        layouts load too: records with
        ``"id"`` instead of ``"_id"``, and judgments in a ``qrels.tsv`` beside the
        corpus when there is no ``qrels/`` folder.
    split : str, optional
        Which qrels file; default ``"test"``, or the only file in ``qrels/``.
    id_field : str, optional
        The JSON field holding the ids in both ``.jsonl`` files; default ``"_id"``, or
        ``"id"`` for files without ``"_id"``.
    qrels : str or Path, optional
        A judgments file anywhere (TREC ``q 0 doc rel`` or BEIR TSV), instead of the
        folder's own.
    embeddings : "auto", str or None, default "auto"
        Precomputed embeddings stored beside the texts as ``emb_<name>_corpus.npy`` +
        ``emb_<name>_corpus_ids.txt`` (and the same for ``queries``), rows matched to
        the texts by id. ``"auto"`` loads them when exactly one ``<name>`` is present,
        a name picks one, None skips them.
    only_judged : bool, default True
        Keep only queries with judgments in ``split`` (BEIR's ``queries.jsonl`` often
        holds every split's queries). A judgments file that leaves no query (empty, or
        naming none of the files' ids) is then refused, naming the file. True or False
        only: a string such as ``"False"`` is refused (it is truthy).

    Returns
    -------
    Dataset
        Document texts are title and text joined by :func:`join_title`. Judgments that
        name a query or document missing from the files are dropped with a warning.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "qrels").mkdir()
    >>> _ = (d / "corpus.jsonl").write_text('{"_id": "d1", "title": "Cats", "text": "Cats purr."}\\n')
    >>> _ = (d / "queries.jsonl").write_text('{"_id": "q1", "text": "why do cats purr"}\\n')
    >>> _ = (d / "qrels" / "test.tsv").write_text("query-id\\tcorpus-id\\tscore\\nq1\\td1\\t2\\n")
    >>> data = load_beir(d)
    >>> data.corpus_texts, data.qrels
    (['Cats. Cats purr.'], {'q1': {'d1': 2}})
    """
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a path to a BEIR folder, got {type(folder).__name__}")
    only_judged = V.check_bool(only_judged, "only_judged")   # "False" is truthy
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder: no such BEIR folder {str(folder)!r}")
    for name in ("corpus.jsonl", "queries.jsonl"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"folder: {folder} has no {name}; a BEIR folder holds "
                                    "corpus.jsonl, queries.jsonl and qrels/<split>.tsv")
    if qrels is not None:
        if split is not None:
            raise ValueError("pass split= (a file of the folder's qrels/) or qrels= (a "
                             "judgments file), not both")
        qrels_path, qrels = qrels, read_judgments(qrels, what="qrels")
    else:
        qrels_path = qrels_file(folder, split)
        qrels = read_qrels_tsv(qrels_path)
    corpus = read_jsonl(folder / "corpus.jsonl", what="corpus", id_field=id_field)
    if not corpus:     # every judgment would be dropped, every later step refuse the data
        raise ValueError(f"{folder / 'corpus.jsonl'} holds no documents; write one JSON object "
                         'per line, e.g. {"_id": "d1", "title": "", "text": "..."}')
    queries = read_jsonl(folder / "queries.jsonl", what="queries", id_field=id_field)

    corpus_ids = [str(r["_id"]) for r in corpus]
    titles = [r.get("title") or "" for r in corpus]
    texts = [record_text(r) for r in corpus]
    known_docs = set(corpus_ids)
    known_queries = {str(r["_id"]) for r in queries}
    dropped = 0
    clean = {}
    for qid, docs in qrels.items():
        if qid not in known_queries:
            dropped += len(docs)
            continue
        kept = {d: g for d, g in docs.items() if d in known_docs}
        dropped += len(docs) - len(kept)
        if kept:
            clean[qid] = kept
    if only_judged and not clean:
        # every query would be left out, and the error came later naming another problem
        # ("query_embeddings is empty (shape (0, 8)); pass at least one vector")
        q, docs = next(iter(qrels.items()), (None, {}))
        raise ValueError(f"qrels: {qrels_path} " + (
            f"judges none of the queries and documents of queries.jsonl / corpus.jsonl "
            f"(its {dropped} judgments name e.g. query {q!r}, document {next(iter(docs))!r}); "
            "check that the files use the same ids" if qrels else "holds no judgment")
            + "; choose the collection's judgments with split= or qrels=, or keep the "
            "unjudged queries with only_judged=False")
    if dropped:
        warnings.warn(f"{qrels_path}: dropped {dropped} judgments naming queries or documents "
                      "that are not in queries.jsonl / corpus.jsonl", stacklevel=2)
    if only_judged:
        queries = [r for r in queries if str(r["_id"]) in clean]
    query_ids = [str(r["_id"]) for r in queries]
    query_texts = [record_text(r, kind="query") for r in queries]

    corpus_emb = query_emb = model = None
    if embeddings is not None:
        model = _embedding_name(folder, embeddings)
        if model is not None:
            corpus_emb = _aligned(folder, model, "corpus", corpus_ids)
            query_emb = _aligned(folder, model, "queries", query_ids)
    return Dataset(name=folder.name, corpus_ids=corpus_ids, corpus_texts=texts,
                   query_ids=query_ids, query_texts=query_texts, qrels=clean,
                   corpus_embeddings=corpus_emb, query_embeddings=query_emb,
                   model_name=model, corpus_titles=titles if any(titles) else None)


def read_judgments(path, *, what: str = "qrels") -> dict:
    """A judgments file in TREC (``q 0 doc rel``) or BEIR TSV form, as a dict; ``what``
    names the argument in errors."""
    if not isinstance(path, (str, os.PathLike)):
        # a dict of judgments met Path() and its "expected str, bytes or os.PathLike object"
        raise TypeError(f"{what} must be the path of a judgments file, got "
                        f"{type(path).__name__}; write judgments held in memory as TREC "
                        "lines ('query 0 doc grade') and pass the file")
    if not Path(path).is_file():
        raise FileNotFoundError(f"{what}: no such judgments file {str(path)!r}")
    return read_qrels_tsv(path)


def qrels_file(folder: Path, split: str | None = None) -> Path:
    """The judgments file of a BEIR(-like) folder: ``qrels/<split>.tsv``, the only file
    in ``qrels/``, or a ``qrels.tsv`` beside the corpus."""
    qdir = folder / "qrels"
    files = sorted(qdir.glob("*.tsv")) if qdir.is_dir() else []
    if not files and split is None and (folder / "qrels.tsv").is_file():
        return folder / "qrels.tsv"  # near-BEIR: the judgments beside the corpus
    if not files:
        raise FileNotFoundError(f"folder: {folder} has no qrels/*.tsv judgments (nor a "
                                "qrels.tsv beside corpus.jsonl); point at a judgments file "
                                "with qrels= (command line: --qrels)")
    if split is None:
        if (qdir / "test.tsv").is_file():
            return qdir / "test.tsv"
        if len(files) == 1:
            return files[0]
        raise ValueError(f"split: {folder}/qrels holds {len(files)} files "
                         f"({', '.join(f.stem for f in files)}); choose one with split=")
    path = qdir / f"{split}.tsv"
    if not path.is_file():
        raise FileNotFoundError(f"split: {folder}/qrels has no {split}.tsv "
                                f"(has {', '.join(f.stem for f in files)})")
    return path


def _embedding_name(folder: Path, embeddings: str) -> str | None:
    names = sorted(p.name[4:-len("_corpus.npy")] for p in folder.glob("emb_*_corpus.npy"))
    if embeddings == "auto":
        return names[0] if len(names) == 1 else None
    if embeddings not in names:
        raise FileNotFoundError(f"embeddings: {folder} has no emb_{embeddings}_corpus.npy "
                                f"(found: {', '.join(names) or 'none'})")
    return embeddings


def stored_embeddings(folder, part: str, ids: list, *, embeddings: str = "auto",
                      finite: bool = True) -> tuple:
    """``(vectors or None, model name or None)``: the rows of a BEIR folder's stored
    ``emb_<model>_<part>.npy`` in the order of ``ids`` (matched through
    ``emb_<model>_<part>_ids.txt``). ``finite=False`` keeps rows with NaN or inf (for
    ``vecdiag check``, which reports them as a finding)."""
    folder = Path(folder)
    model = _embedding_name(folder, embeddings)
    if model is None:
        return None, None
    return _aligned(folder, model, part, ids, finite=finite), model


def _aligned(folder: Path, model: str, part: str, ids: list,
             finite: bool = True) -> np.ndarray | None:
    """Rows of ``emb_<model>_<part>.npy`` reordered to ``ids`` (via the ids file)."""
    from ..io import load_vectors

    vec_path = folder / f"emb_{model}_{part}.npy"
    id_path = folder / f"emb_{model}_{part}_ids.txt"
    if not vec_path.is_file():
        return None
    # the readers of every other input: an empty, torn or pickled .npy and an ids file
    # with a byte-order mark or not in UTF-8 are named in one line
    X = load_vectors(vec_path, name=vec_path.name, finite=finite)
    # one id per line, as every ids file is read (str.strip would also cut an id's
    # U+00A0 or \x85, which corpus.jsonl keeps: the id then matched nothing)
    stored = id_lines(id_path, id_path.name) if id_path.is_file() else None
    if stored is None or len(stored) != X.shape[0]:
        raise ValueError(f"embeddings: {vec_path.name} has {X.shape[0]} rows but "
                         f"{id_path.name} {'is missing' if stored is None else f'lists {len(stored)} ids'}; "
                         "each row needs its id")
    row: dict = {}
    for i, s in enumerate(stored):
        if s in row:   # which of the two rows is the document's? (a dict would keep the last)
            raise ValueError(f"embeddings: {id_path.name} lists the id {s!r} twice (rows "
                             f"{row[s]} and {i} of {vec_path.name}); each row needs its own "
                             "id: drop the duplicate row or re-embed the collection")
        row[s] = i
    missing = [i for i in ids if i not in row]
    if missing:
        raise ValueError(f"embeddings: {id_path.name} lacks {len(missing)} of the {part} ids "
                         f"(first: {', '.join(missing[:3])}); re-embed the collection")
    return np.ascontiguousarray(X[[row[i] for i in ids]])
