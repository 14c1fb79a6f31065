"""A durable embedding cache: one SQLite row per (model, kind, prefix, text).

The key is the embedder's identity (``cache_id``, else ``model_name``; for an
:class:`~vecdiag.embedders.OpenAIEmbedder` the server's base URL, the model and its
``dimensions``; for a sentence-transformers model where it was loaded from), the kind
("query" / "document"), the exact prefix prepended for that kind, and the SHA-256 of the
text. Change any of them and the old rows are simply never looked up: a stale vector
cannot be read. Rows are written in one transaction per finished batch in WAL mode, so
a process killed at any moment (even SIGKILL) leaves every committed batch readable and
nothing half-written; the next run embeds only what is missing. A file damaged outside
SQLite's control (cut short by a full disk or an interrupted copy) is a ValueError naming
it: move it aside and the texts are embedded once more. A full disk (or a read-only file)
is an OSError naming it.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
from pathlib import Path

import numpy as np

from .. import _validate as V
from ._base import _check_texts, _float32_rows

__all__ = ["EmbeddingCache", "text_hash"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model TEXT NOT NULL, kind TEXT NOT NULL, prefix TEXT NOT NULL, text_hash TEXT NOT NULL,
    dim INTEGER NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (model, kind, prefix, text_hash)
) WITHOUT ROWID
"""
_CHUNK = 500  # keys per SELECT (SQLite's variable limit is 999 on old builds)


def text_hash(text: str) -> str:
    """SHA-256 of the UTF-8 text, hex.

    >>> text_hash("hello")[:16]
    '2cf24dba5fb0a30e'
    """
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """Embeddings stored on disk in SQLite (safe to share between threads).

    Parameters
    ----------
    path : str or Path
        A directory (the file ``embeddings.sqlite`` is created in it) or a file path
        ending in ``.sqlite`` / ``.db``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> cache = EmbeddingCache(tempfile.mkdtemp())
    >>> cache.put("m", "query", "q: ", ["hi"], np.ones((1, 3)))
    >>> cache.get("m", "query", "q: ", ["hi", "new"])[0].tolist()
    [1.0, 1.0, 1.0]
    >>> cache.get("m", "query", "", ["hi"])[0] is None  # another prefix: not cached
    True
    >>> len(cache)
    1
    """

    def __init__(self, path):
        path = Path(path).expanduser()
        if path.suffix.lower() in (".sqlite", ".db", ".sqlite3"):
            path.parent.mkdir(parents=True, exist_ok=True)
            self.path = path
        else:
            if path.exists() and not path.is_dir():
                raise ValueError(f"cache must be a directory or a .sqlite file, got the file "
                                 f"{str(path)!r}; pass a directory such as .vecdiag-cache")
            path.mkdir(parents=True, exist_ok=True)
            self.path = path / "embeddings.sqlite"
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=60)
        with self._lock, self._readable():
            self._conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a committed batch survives the process being killed (not a
            # power cut, which would at worst lose the last batches, never corrupt rows).
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)
            self._conn.commit()

    def get(self, model: str, kind: str, prefix: str, texts) -> list:
        """One float32 vector (or None when missing) per text, in order."""
        hashes = [text_hash(t) for t in _check_texts(texts)]
        found = {}
        with self._lock, self._readable():
            for start in range(0, len(hashes), _CHUNK):
                chunk = sorted(set(hashes[start:start + _CHUNK]))
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT text_hash, dim, vector FROM vectors WHERE model=? AND kind=? "
                    f"AND prefix=? AND text_hash IN ({marks})", (model, kind, prefix, *chunk))
                for h, dim, blob in rows:
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.size == dim:  # a row of another length is never trusted
                        found[h] = vec
        return [found.get(h) for h in hashes]

    def put(self, model: str, kind: str, prefix: str, texts, vectors) -> None:
        """Store one batch in a single transaction (all rows or none).

        ``vectors`` holds one finite vector per text (checked: a NaN row stored here would
        be served as a cache hit by every later run)."""
        texts = _check_texts(texts)
        X = _float32_rows(V.as_matrix(vectors, "vectors"), "vectors")
        if X.shape[0] != len(texts):
            raise ValueError(f"vectors has {X.shape[0]} rows for {len(texts)} texts; pass "
                             "one vector per text, in the same order")
        rows = [(model, kind, prefix, text_hash(t), X.shape[1], X[i].tobytes())
                for i, t in enumerate(texts)]
        with self._lock, self._readable(), self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?,?,?,?,?,?)", rows)

    def dim_of(self, model: str) -> int | None:
        """The vector length most rows of ``model`` have (None when it has none)."""
        with self._lock, self._readable():
            row = self._conn.execute("SELECT dim FROM vectors WHERE model=? GROUP BY dim "
                                     "ORDER BY COUNT(*) DESC LIMIT 1", (model,)).fetchone()
        return None if row is None else int(row[0])

    # subtle: the maintenance methods below go through _readable() too: on a damaged
    # file they raised a bare sqlite3.DatabaseError ("database disk image is malformed")
    def __len__(self) -> int:
        with self._lock, self._readable():
            return int(self._conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def summary(self) -> list[tuple[str, str, str, int, int]]:
        """``(model, kind, prefix, dim, rows)`` for every group of cached vectors."""
        with self._lock, self._readable():
            return [tuple(r) for r in self._conn.execute(
                "SELECT model, kind, prefix, dim, COUNT(*) FROM vectors "
                "GROUP BY model, kind, prefix, dim ORDER BY model, kind, prefix")]

    def clear(self, model: str | None = None) -> None:
        """Delete every row (or those of one model)."""
        with self._lock, self._readable(), self._conn:
            if model is None:
                self._conn.execute("DELETE FROM vectors")
            else:
                self._conn.execute("DELETE FROM vectors WHERE model=?", (model,))

    @contextlib.contextmanager
    def _readable(self):
        """A cache file SQLite cannot read (cut short by a full disk or an interrupted
        copy, or another kind of file) is a ValueError naming it, with the fix, instead of
        a bare "database disk image is malformed" from every later run; one it cannot
        write (a full disk, a read-only file) an OSError naming it."""
        try:
            yield
        except sqlite3.DatabaseError as err:
            code = getattr(err, "sqlite_errorname", None) or ""
            if code.startswith(("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_CANTOPEN",
                                "SQLITE_IOERR")):
                # the disk, not the data (nor a bug, as vecdiag embed's exit 3 said)
                raise OSError(f"the cache file {str(self.path)!r} cannot be written ({err}): "
                              "free space on its disk (or make it writable), or use another "
                              "cache directory; every batch committed so far is kept") from None
            if code not in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
                raise                                   # "database is locked"
            raise ValueError(f"the cache file {str(self.path)!r} is damaged or not an SQLite "
                             f"file ({err}): move it aside (or delete it) and run again, "
                             "which embeds its texts once more; `sqlite3 FILE .recover` may "
                             "save the rows it still holds") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.path)!r})"
