"""Index snapshots: one file per base, written atomically, memory-mapped by every worker.

A snapshot holds a :class:`~locator.core.index.FacilityIndex` base (no overlay): every
column, the properties blob, each kind's unit vectors and kd-tree (its node buffer and
point permutation, restored by :func:`locator.core.index.restore_tree` without
re-splitting), and the latitude and ``updated_at`` orders. Loading one costs a checksum
pass and a few small allocations; the arrays are read-only views of one ``mmap`` of the
file, so the processes that load the same file share its pages (the page cache). The
properties blob, most of the file, is not mapped but read with ``pread``
(:class:`~locator.core.index.FileSegment`), so that it never counts in a worker's
resident memory.

File layout (little-endian)::

    MAGIC (16 bytes)
    sections, each 64-byte aligned (raw array bytes)
    footer: UTF-8 JSON (format, key, tables, and per section: offset, dtype, shape, crc32)
    footer length (uint64), footer crc32 (uint32), 4 zero bytes, MAGIC

Never trusted: :func:`load_snapshot` checks both magics, the footer checksum, that the
footer's key equals the expected one (store identity, revision chosen by the caller,
:data:`FORMAT`, :func:`layout_hash` of this code and of numpy/scipy), that every
section lies inside the file, and every section's CRC-32 (read with ``read()``, not
through the mapping, so the check does not count in the process's resident memory),
before any array is used; any failure raises :class:`SnapshotError`. Writers write a
temporary file in the same directory and :func:`os.replace` it, so a reader sees the
old file or the whole new one.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import sys
import uuid
import zlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import scipy
from numpy.typing import NDArray

from locator.core.index import FacilityIndex, FileSegment, _Base, restore_tree, tree_state

#: Version of the file layout; part of every key.
FORMAT: Final = 1
MAGIC: Final = b"LOCATOR-INDEX\x00\x00\x01"
_ALIGN: Final = 64
_TAIL: Final = struct.Struct("<QI4x")
_CHUNK: Final = 8 << 20


class SnapshotError(Exception):
    """A snapshot file is missing, corrupt, or for another store, revision or code version."""


@cache
def layout_hash() -> str:
    """A hash of everything that decides a snapshot's layout and meaning.

    The source of the modules that write, read and interpret it (index, records,
    snapshot, domain: the amenity and status bit orders), :data:`FORMAT`, numpy's and
    scipy's versions (the kd-tree state is scipy's), the byte order and pointer size.
    Any change makes older snapshots mismatch: they are rebuilt, never misread.
    """
    from locator.core import domain, index, records

    h = hashlib.sha256()
    h.update(
        f"{FORMAT}|{np.__version__}|{scipy.__version__}|{sys.byteorder}|{np.dtype(np.intp).itemsize}".encode()
    )
    for module in (index, records, domain, sys.modules[__name__]):
        path = getattr(module, "__file__", None)
        if path:
            h.update(Path(path).read_bytes())
    return h.hexdigest()


def _key(store: str, revision: int) -> dict[str, Any]:
    return {"store": store, "revision": int(revision), "format": FORMAT, "layout": layout_hash()}


def _bytes_view(arr: NDArray[Any]) -> memoryview:
    """The bytes of a C-contiguous array, without a copy."""
    if not arr.size:
        return memoryview(b"")
    flat: Any = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    return memoryview(flat)


class _Writer:
    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.pos = 0
        self.sections: dict[str, dict[str, Any]] = {}

    def _raw(self, data: bytes | memoryview) -> None:
        self.fh.write(data)
        self.pos += len(data)

    def _pad(self) -> None:
        pad = -self.pos % _ALIGN
        if pad:
            self._raw(b"\0" * pad)

    def put(self, name: str, arr: NDArray[Any]) -> None:
        arr = np.ascontiguousarray(arr)
        self._pad()
        offset = self.pos
        view = _bytes_view(arr)
        crc = 0
        for start in range(0, len(view), _CHUNK):
            piece = view[start : start + _CHUNK]
            crc = zlib.crc32(piece, crc)
            self._raw(piece)
        self.sections[name] = {
            "offset": offset,
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            "nbytes": len(view),
            "crc32": crc,
        }

    def put_segments(self, name: str, segments: list[Any]) -> None:
        self._pad()
        offset = self.pos
        crc = 0
        total = 0
        for seg in segments:
            if isinstance(seg, FileSegment):
                pieces: Any = seg.chunks(_CHUNK)
            else:
                view = _bytes_view(np.asarray(seg, dtype=np.uint8))
                pieces = (view[start : start + _CHUNK] for start in range(0, len(view), _CHUNK))
            for piece in pieces:
                crc = zlib.crc32(piece, crc)
                self._raw(piece)
                total += len(piece)
        self.sections[name] = {
            "offset": offset,
            "dtype": "|u1",
            "shape": [total],
            "nbytes": total,
            "crc32": crc,
        }


def write_snapshot(index: FacilityIndex, path: Path, store: str) -> None:
    """Write ``index``'s base to ``path`` atomically (temporary file + :func:`os.replace`).

    Parameters
    ----------
    index : FacilityIndex
        Without an overlay (:meth:`FacilityIndex.fold` first); its revision is the key's.
    path : Path
        The snapshot file; its directory must exist.
    store : str
        The store's identity, part of the key (see :func:`load_snapshot`).

    Raises
    ------
    ValueError
        If the index has an overlay.
    OSError
        If the file cannot be written (no partial file is left behind).
    """
    if index.overlay_size:
        raise ValueError("fold the index before writing a snapshot")
    base: _Base = index._base
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            w = _Writer(fh)
            w._raw(MAGIC)
            for name in ("ids", "lon", "lat", "kind", "status", "amen", "hours", "district", "updated"):
                w.put(name, getattr(base, name))
            w.put("pstart", base.pstart)
            w.put("plen", base.plen)
            w.put("lat_order", base.lat_order)
            w.put("lat_sorted", base.lat_sorted)
            w.put("upd_order", base.upd_order)
            w.put_segments("blob", base.segments)
            parts: dict[str, Any] = {}
            for code, part in base.parts.items():
                assert part.tree is not None
                state = tree_state(part.tree)
                w.put(f"part{code}.rows", part.rows)
                w.put(f"part{code}.xyz", part.xyz)
                w.put(f"part{code}.tree", state["buffer"])
                w.put(f"part{code}.indices", state["indices"])
                parts[str(code)] = {
                    "leafsize": state["leafsize"],
                    "maxes": state["maxes"].tolist(),
                    "mins": state["mins"].tolist(),
                }
            footer = json.dumps(
                {
                    "key": _key(store, index.revision),
                    "n": base.n,
                    "kinds": base.kinds,
                    "hours_table": base.hours_table,
                    "district_table": base.district_table,
                    "extras": base.extras,
                    "parts": parts,
                    "sections": w.sections,
                },
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            w._pad()
            w._raw(footer)
            w._raw(_TAIL.pack(len(footer), zlib.crc32(footer)))
            w._raw(MAGIC)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_footer(path: Path) -> dict[str, Any]:
    """The footer of a snapshot file (its key, tables and sections), checked but not the data.

    Raises
    ------
    SnapshotError
        If the file is not a whole snapshot.
    """
    try:
        with open(path, "rb") as fh:
            return _footer(fh, os.fstat(fh.fileno()).st_size)
    except OSError as exc:
        raise SnapshotError(f"cannot read {path.name}: {exc}") from None


def _footer(fh: IO[bytes], size: int) -> dict[str, Any]:
    tail = len(MAGIC) + _TAIL.size
    if size < len(MAGIC) + tail:
        raise SnapshotError("file too short")
    if fh.read(len(MAGIC)) != MAGIC:
        raise SnapshotError("not a snapshot (magic)")
    fh.seek(size - tail)
    raw = fh.read(tail)
    length, crc = _TAIL.unpack(raw[: _TAIL.size])
    if raw[_TAIL.size :] != MAGIC:
        raise SnapshotError("truncated snapshot (end magic)")
    if length > size - len(MAGIC) - tail:
        raise SnapshotError("bad footer length")
    fh.seek(size - tail - length)
    footer = fh.read(length)
    if zlib.crc32(footer) != crc:
        raise SnapshotError("footer checksum mismatch")
    try:
        data = json.loads(footer)
    except ValueError:
        raise SnapshotError("footer is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("key"), dict):
        raise SnapshotError("footer has no key")
    return data


#: Snapshots loaded ahead by :func:`preload` (a gunicorn master), for its forked workers.
_PRELOADED: dict[tuple[Any, ...], FacilityIndex] = {}


def _file_key(path: Path) -> tuple[Any, ...]:
    st = os.stat(path)
    return (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def preload(path: Path, store: str) -> FacilityIndex:
    """Load a snapshot and keep it for the next :func:`load_snapshot` of the same file.

    For a gunicorn master before it forks: the workers inherit the mapping and the
    restored kd-trees, and their :func:`load_snapshot` of the unchanged file (same
    inode, size and modification time) returns it without reading the file again. The
    checks are the master's; each worker takes the preloaded index once.

    Raises
    ------
    SnapshotError
    """
    index = load_snapshot(path, store)
    _PRELOADED.clear()
    _PRELOADED[_file_key(path)] = index
    return index


def load_snapshot(path: Path, store: str, revision: int | None = None) -> FacilityIndex:
    """Load a snapshot as a :class:`FacilityIndex` whose arrays map the file (shared pages).

    Parameters
    ----------
    path : Path
    store : str
        The identity of the store the caller serves: the file's must be equal.
    revision : int, optional
        The revision the caller expects (None: any, read from the file).

    Returns
    -------
    FacilityIndex
        At the snapshot's revision, with no overlay.

    Raises
    ------
    SnapshotError
        If the file is missing, truncated or corrupt (any checksum), or written for
        another store, revision, :data:`FORMAT` or code/library version.
    """
    if _PRELOADED:
        try:
            file_key = _file_key(path)
        except OSError:
            file_key = None
        hit = _PRELOADED.get(file_key) if file_key is not None else None
        if hit is not None and file_key is not None:
            key = hit._base.key
            if key == _key(store, key.get("revision", -1) if revision is None else revision):
                _PRELOADED.pop(file_key, None)
                return hit
    try:
        fh = open(path, "rb")  # noqa: SIM115 - kept open only while checking and mapping
    except OSError as exc:
        raise SnapshotError(f"cannot open {path.name}: {exc}") from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        meta = _footer(fh, size)
        key = meta["key"]
        expected = _key(store, key.get("revision", -1) if revision is None else revision)
        if key != expected:
            why = [k for k in expected if key.get(k) != expected[k]]
            raise SnapshotError(f"snapshot key mismatch ({', '.join(why) or 'extra fields'})")
        sections = meta.get("sections")
        if not isinstance(sections, dict):
            raise SnapshotError("footer has no sections")
        buf = bytearray(_CHUNK)
        view = memoryview(buf)
        for name, sec in sections.items():
            try:
                offset, nbytes = int(sec["offset"]), int(sec["nbytes"])
                dtype = np.dtype(sec["dtype"])
                count = int(np.prod(sec["shape"], dtype=np.int64)) if sec["shape"] else 1
            except (KeyError, TypeError, ValueError):
                raise SnapshotError(f"bad section {name!r}") from None
            if offset < len(MAGIC) or offset + nbytes > size or count * dtype.itemsize != nbytes:
                raise SnapshotError(f"section {name!r} out of bounds")
            crc = 0
            fh.seek(offset)
            left = nbytes
            while left:
                got = fh.readinto(view[: min(left, _CHUNK)])
                if not got:
                    raise SnapshotError(f"section {name!r} truncated")
                crc = zlib.crc32(view[:got], crc)
                left -= got
            if crc != sec["crc32"]:
                raise SnapshotError(f"section {name!r} checksum mismatch")
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        blob = sections.get("blob", {})
        segment = FileSegment(fh.fileno(), int(blob.get("offset", 0)), int(blob.get("nbytes", 0)))
    try:
        index = _index_from(meta, mm, segment)
        index._base.source = path
        index._base.key = key
        return index
    except SnapshotError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SnapshotError(f"inconsistent snapshot: {exc}") from None


def _index_from(meta: Mapping[str, Any], mm: mmap.mmap, blob: FileSegment) -> FacilityIndex:
    sections = meta["sections"]

    def arr(name: str) -> NDArray[Any]:
        sec = sections[name]
        dtype = np.dtype(sec["dtype"])
        count = int(np.prod(sec["shape"], dtype=np.int64)) if sec["shape"] else 1
        return np.frombuffer(mm, dtype=dtype, count=count, offset=int(sec["offset"])).reshape(sec["shape"])

    n = int(meta["n"])
    cols = {
        name: arr(name)
        for name in ("ids", "lon", "lat", "kind", "status", "amen", "hours", "district", "updated")
    }
    for name in ("pstart", "plen", "lat_order", "lat_sorted", "upd_order"):
        cols[name] = arr(name)
    if any(len(a) != n for a in cols.values()):
        raise SnapshotError("columns of different lengths")
    if n and int((cols["pstart"] + cols["plen"]).max()) > len(blob):
        raise SnapshotError("properties offsets beyond the blob")
    kinds = list(meta["kinds"])
    parts = {}
    for code_text, pmeta in meta["parts"].items():
        code = int(code_text)
        xyz = arr(f"part{code}.xyz")
        rows = arr(f"part{code}.rows")
        if not 0 <= code < len(kinds) or len(rows) != len(xyz) or (len(rows) and int(rows.max()) >= n):
            raise SnapshotError(f"kind part {code} does not fit the columns")
        state = {
            "buffer": arr(f"part{code}.tree"),
            "indices": arr(f"part{code}.indices"),
            "leafsize": pmeta["leafsize"],
            "maxes": np.array(pmeta["maxes"], dtype=np.float64),
            "mins": np.array(pmeta["mins"], dtype=np.float64),
        }
        parts[code] = (rows, xyz, restore_tree(xyz, state))
    base = _Base(
        revision=int(meta["key"]["revision"]),
        segments=[blob],
        kinds=kinds,
        hours_table=list(meta["hours_table"]),
        district_table=list(meta["district_table"]),
        extras=dict(meta["extras"]),
        parts=parts,
        **cols,
    )
    return FacilityIndex.from_base(base)
