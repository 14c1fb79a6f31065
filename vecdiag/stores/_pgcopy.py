"""PostgreSQL's binary COPY format, parsed incrementally: :class:`CopyParser`.

The stream: an 11-byte signature, flags and a header extension; then per row an int16
field count and, per field, an int32 length (-1 for NULL) and the bytes; an int16 -1 ends
it. pgvector's ``vector`` is int16 dim, int16 unused, then dim big-endian float32
(``halfvec``: float16). Rows whose fields all have a fixed width (an integer id and a
vector) are read a block at a time as one NumPy structured array.
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["CopyParser", "ELEM", "FIXED_IDS", "FLUSH_BYTES", "same_id"]

ELEM = {"vector": (4, ">f4"), "halfvec": (2, ">f2")}
FIXED_IDS = {"smallint": ">i2", "integer": ">i4", "bigint": ">i8"}
SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# COPY bytes gathered before a block of rows is parsed (and the temporary it needs)
FLUSH_BYTES = 4 * 2**20


class CopyParser:
    """Incremental parser of PostgreSQL's binary COPY of (id, vector[, text]) rows.

    Rows whose fields all have a fixed width (integer id, no text) are read as one NumPy
    structured array per block of bytes; other rows field by field.
    """

    def __init__(self, dim: int, vtype: str, id_type: str, with_text: bool):
        self.dim = dim
        self.elem, self.vdtype = ELEM[vtype]
        self.id_type = id_type
        self.with_text = with_text
        self.buf = bytearray()
        self.header = False
        self.done = False
        idt = FIXED_IDS.get(id_type)
        self.fixed = None
        if idt is not None and not with_text:
            self.fixed = np.dtype([("nf", ">i2"), ("l1", ">i4"), ("id", idt), ("l2", ">i4"),
                                   ("dim", ">i2"), ("unused", ">i2"),
                                   ("v", self.vdtype, (dim,))])

    def _skip_header(self) -> bool:
        if len(self.buf) < 19:
            return False
        if bytes(self.buf[:11]) != SIGNATURE:
            raise ValueError("unexpected COPY data from the server (not binary COPY)")
        ext = struct.unpack(">i", self.buf[15:19])[0]
        if len(self.buf) < 19 + ext:
            return False
        del self.buf[:19 + ext]
        self.header = True
        return True

    def feed(self, data):
        """Take one chunk (the server sends about a row per chunk); parse a block of rows
        once ``FLUSH_BYTES`` have gathered (a per-chunk parse costs more than the COPY)."""
        self.buf += data
        if len(self.buf) < FLUSH_BYTES:
            return None
        return self.parse()

    def parse(self):
        """Parse the complete rows gathered so far (None when there are none)."""
        if not self.header and not self._skip_header():
            return None
        return self._fixed() if self.fixed is not None else self._generic()

    def _fixed(self):
        size = self.fixed.itemsize
        m = len(self.buf) // size
        if m and self.buf[(m - 1) * size:(m - 1) * size + 2] == b"\xff\xff":
            m -= 1  # the trailer, not a row
        if m == 0:
            return None
        rows = np.frombuffer(self.buf, dtype=self.fixed, count=m)
        if (rows["nf"] != 2).any() or (rows["l2"] != 4 + self.elem * self.dim).any():
            raise ValueError("a row has a NULL or a vector of another dimension than "
                             f"{self.dim}; check the column (NULL vectors are refused)")
        batch = (rows["id"].astype(np.int64).tolist(), rows["v"].astype(np.float32), None)
        del rows
        del self.buf[:m * size]
        return batch

    def _generic(self):
        buf, pos, n = self.buf, 0, len(self.buf)
        ids, vecs, texts = [], [], []
        unpack_h, unpack_i = struct.Struct(">h").unpack_from, struct.Struct(">i").unpack_from
        vbytes = 4 + self.elem * self.dim
        while pos + 2 <= n:
            nf = unpack_h(buf, pos)[0]
            if nf == -1:
                self.done = True
                pos += 2
                break
            start, p, fields = pos, pos + 2, []
            for _ in range(nf):
                if p + 4 > n:
                    break
                ln = unpack_i(buf, p)[0]
                p += 4
                if ln < 0:
                    fields.append(None)
                    continue
                if p + ln > n:
                    break
                fields.append(bytes(buf[p:p + ln]))
                p += ln
            if len(fields) < nf:
                pos = start
                break
            pos = p
            vec = fields[1]
            if vec is None or len(vec) != vbytes:
                raise ValueError(f"a row has a NULL or a vector of another dimension than "
                                 f"{self.dim}; check the column (NULL vectors are refused)")
            ids.append(_decode_id(fields[0], self.id_type))
            vecs.append(np.frombuffer(vec, dtype=self.vdtype, offset=4))
            if self.with_text:
                texts.append(None if fields[2] is None else fields[2].decode("utf-8"))
        del self.buf[:pos]
        if not ids:
            return None
        return ids, np.asarray(vecs, dtype=np.float32), (texts if self.with_text else None)

    def finish(self):
        if self.buf and bytes(self.buf[:2]) != b"\xff\xff":
            raise ValueError("the server's COPY stream ended in the middle of a row")


def same_id(value):
    """An id from a query result as fetch() decodes it (UUIDs as strings)."""
    import uuid

    return str(value) if isinstance(value, uuid.UUID) else value


def _decode_id(raw: bytes | None, id_type: str):
    if raw is None:
        return None
    if id_type in FIXED_IDS:
        return int.from_bytes(raw, "big", signed=True)
    if id_type == "uuid":
        import uuid

        return str(uuid.UUID(bytes=raw))
    return raw.decode("utf-8")
