"""A disk cache of image embeddings: float32 rows in a memory-mapped file, found by image content.

A cache folder holds three files:

``meta.json``
    ``{"format_version", "backbone_id", "dim"}``: which network made the vectors and their length.
``index.json``
    ``{"format_version", "rows", "keys"}``: ``keys[i]`` is the content key of row ``i``.
``vectors.f32``
    The rows, raw little-endian float32, C order, ``capacity x dim``; it grows ``chunk_rows`` at a
    time, so ``capacity >= rows`` and the tail past ``rows`` is unused.

A key is the sha256 of an image file's bytes (:func:`file_key`): an edited image is a new key (a
miss, recomputed), and one image stored under two paths is one row. Rows are written and flushed
before the index that names them is replaced (temp file + ``os.replace``), so a crash leaves at worst
unused rows. A folder made for another backbone or dimension, or whose files are missing, unreadable
or disagree with each other, is never reused: a one-line :class:`RuntimeWarning` says why and the
cache starts empty. Writers take an advisory lock (``fcntl.flock``, where available) and re-read the
index first, so several processes can share one folder.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import re
import warnings
from pathlib import Path

import numpy as np

from autoal.common.checks import POSITIVE_INT, check_option
from autoal.common.files import write_atomic
from autoal.common.images import file_sha256

__all__ = ["EmbeddingCache", "file_key", "FORMAT_VERSION"]

FORMAT_VERSION = 1
META_FILE, INDEX_FILE, VECTORS_FILE, LOCK_FILE = "meta.json", "index.json", "vectors.f32", ".lock"
_KEY = re.compile(r"^[0-9a-f]{64}$")
_DTYPE = np.dtype("<f4")

try:  # POSIX only; elsewhere writers are not locked against each other
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def _advise_random(vectors: np.memmap) -> None:
    """Tell the kernel rows are read in random order: no read-ahead pulling neighbouring rows into memory."""
    handle = getattr(vectors, "_mmap", None)
    if handle is not None and hasattr(handle, "madvise") and hasattr(mmap, "MADV_RANDOM"):
        handle.madvise(mmap.MADV_RANDOM)


def file_key(path) -> str:
    """The cache key of an image file: the sha256 hex digest of its bytes."""
    return file_sha256(path)


class _Corrupt(Exception):
    """The folder's files cannot be trusted; the message says why."""


def _write_json_atomic(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, separators=(",", ":")))


class EmbeddingCache:
    """Embeddings of one backbone, by image content key, stored in ``folder``.

    Parameters
    ----------
    folder : str or Path
        The cache folder (created if needed). Use one folder per backbone: opening it with another
        ``backbone_id`` or ``dim`` empties it.
    backbone_id : str
        Names the network, its weights and its preprocessing (``Embedder.backbone_id``).
    dim : int
        Length of every embedding.
    chunk_rows : int
        The vectors file grows by whole chunks of this many rows.

    Examples
    --------
    >>> cache = EmbeddingCache(folder, "mobilenetv2_100-0123abcd-128px", 1280)  # doctest: +SKIP
    >>> vectors, missing = cache.get_many([file_key(p) for p in paths])       # doctest: +SKIP
    """

    def __init__(self, folder, backbone_id: str, dim: int, *, chunk_rows: int = 1024):
        if not isinstance(backbone_id, str) or not backbone_id:
            raise ValueError(f"backbone_id must be a non-empty string, got {backbone_id!r}")
        check_option("dim", dim, POSITIVE_INT, error=ValueError)
        check_option("chunk_rows", chunk_rows, POSITIVE_INT, error=ValueError)
        self.folder = Path(folder)
        self.backbone_id = backbone_id
        self.dim = int(dim)
        self.chunk_rows = int(chunk_rows)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._keys: list[str] = []
        self._rows: dict[str, int] = {}
        self._vectors = None  # np.memmap (capacity, dim), or None while the file is empty
        self._capacity = 0
        self._index_stamp = None
        with self._locked():
            self._open()

    # -- public -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        self._refresh()
        return len(self._keys)

    def __contains__(self, key) -> bool:
        self._refresh()
        return key in self._rows

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.folder)!r}, {self.backbone_id!r}, dim={self.dim}, rows={len(self._keys)})"

    def get_many(self, keys):
        """Look up ``keys``.

        Returns
        -------
        vectors : ndarray, float32, shape (len(keys), dim)
            A copy of each key's row; zeros where the key is missing.
        missing : ndarray, bool, shape (len(keys),)
            True where the key is not in the cache.
        """
        self._refresh()
        keys = list(keys)
        rows = np.array([self._rows.get(k, -1) for k in keys], dtype=np.int64)
        missing = rows < 0
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        if (~missing).any():
            out[~missing] = self._vectors[rows[~missing]]
        return out, missing

    def put_many(self, keys, vectors) -> None:
        """Store ``vectors[i]`` under ``keys[i]`` (overwriting a key already present), then flush.

        Raises
        ------
        ValueError
            When a key is not a sha256 hex digest, or ``vectors`` is not finite with shape ``(len(keys), dim)``.
        """
        keys = list(keys)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(keys), self.dim):
            raise ValueError(f"expected vectors of shape ({len(keys)}, {self.dim}) for {len(keys)} keys, got {vectors.shape}")
        bad = [k for k in keys if not isinstance(k, str) or not _KEY.match(k)]
        if bad:
            raise ValueError(f"cache keys must be sha256 hex digests (see file_key); got {bad[0]!r}")
        if not np.isfinite(vectors).all():
            raise ValueError("refusing to cache embeddings that contain NaN or infinity")
        if not keys:
            return
        with self._locked():
            self._refresh(force=True)
            new = list(dict.fromkeys(k for k in keys if k not in self._rows))
            self._grow_to(len(self._keys) + len(new))
            for key in new:
                self._rows[key] = len(self._keys)
                self._keys.append(key)
            last = {k: i for i, k in enumerate(keys)}  # a key given twice in one call: the last vector wins
            self._vectors[[self._rows[k] for k in last]] = vectors[list(last.values())]
            self._vectors.flush()
            self._write_index()

    def clear(self) -> None:
        """Empty the cache (files included)."""
        with self._locked():
            self._reset()

    # -- internals --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self):
        if fcntl is None:  # pragma: no cover
            yield
            return
        with open(self.folder / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _stamp(self):
        try:
            st = (self.folder / INDEX_FILE).stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _open(self) -> None:
        files = [self.folder / name for name in (META_FILE, INDEX_FILE, VECTORS_FILE)]
        if not any(f.exists() for f in files):
            self._reset()
            return
        try:
            meta = self._read_json(META_FILE)
            if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
                raise _Corrupt(f"has format version {meta.get('format_version') if isinstance(meta, dict) else None!r}, "
                               f"expected {FORMAT_VERSION}")
            if meta.get("backbone_id") != self.backbone_id or meta.get("dim") != self.dim:
                raise _Corrupt(f"was made by backbone {meta.get('backbone_id')!r} (dim {meta.get('dim')}), "
                               f"not {self.backbone_id!r} (dim {self.dim})")
            self._load()
        except _Corrupt as exc:
            self._rebuild(str(exc))

    def _rebuild(self, reason: str) -> None:
        warnings.warn(f"autoal: embedding cache {str(self.folder)!r} {reason}; rebuilding it empty",
                      RuntimeWarning, stacklevel=4)
        self._reset()

    def _read_json(self, name):
        try:
            return json.loads((self.folder / name).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise _Corrupt(f"lacks {name}") from exc
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise _Corrupt(f"has an unreadable {name} ({type(exc).__name__})") from exc

    def _load(self) -> None:
        """Read the index and map the vectors file; raise _Corrupt when they cannot be trusted."""
        stamp = self._stamp()
        index = self._read_json(INDEX_FILE)
        keys = index.get("keys") if isinstance(index, dict) else None
        if (not isinstance(keys, list) or index.get("rows") != len(keys)
                or index.get("format_version") != FORMAT_VERSION
                or not all(isinstance(k, str) and _KEY.match(k) for k in keys)):
            raise _Corrupt(f"has a malformed {INDEX_FILE}")
        rows = {k: i for i, k in enumerate(keys)}
        if len(rows) != len(keys):
            raise _Corrupt(f"has duplicate keys in {INDEX_FILE}")
        try:
            size = (self.folder / VECTORS_FILE).stat().st_size
        except FileNotFoundError as exc:
            raise _Corrupt(f"lacks {VECTORS_FILE}") from exc
        row_bytes = self.dim * _DTYPE.itemsize
        if size % row_bytes or size // row_bytes < len(keys):
            raise _Corrupt(f"has a {VECTORS_FILE} of {size} bytes, too short or not whole rows for "
                           f"{len(keys)} rows of {self.dim} float32")
        self._keys, self._rows, self._index_stamp = keys, rows, stamp
        self._map(size // row_bytes)

    def _map(self, capacity: int) -> None:
        self._vectors = None  # drop the old mapping first
        self._capacity = capacity
        if capacity:
            self._vectors = np.memmap(self.folder / VECTORS_FILE, dtype=_DTYPE, mode="r+", shape=(capacity, self.dim))
            _advise_random(self._vectors)

    def _refresh(self, force=False) -> None:
        """Re-read the index when another writer (object or process) has replaced it."""
        if not force and self._stamp() == self._index_stamp:
            return
        try:
            self._load()
        except _Corrupt as exc:
            with self._locked() if not force else contextlib.nullcontext():
                self._rebuild(str(exc))

    def _grow_to(self, rows: int) -> None:
        if rows <= self._capacity:
            return
        capacity = -(-rows // self.chunk_rows) * self.chunk_rows
        self._vectors = None
        with open(self.folder / VECTORS_FILE, "r+b") as handle:
            handle.truncate(capacity * self.dim * _DTYPE.itemsize)
        self._map(capacity)

    def _write_index(self) -> None:
        _write_json_atomic(self.folder / INDEX_FILE,
                           {"format_version": FORMAT_VERSION, "rows": len(self._keys), "keys": self._keys})
        self._index_stamp = self._stamp()

    def _reset(self) -> None:
        self._vectors, self._capacity = None, 0
        self._keys, self._rows = [], {}
        vectors = self.folder / VECTORS_FILE
        tmp = vectors.with_name(f"{vectors.name}.tmp{os.getpid()}")
        tmp.write_bytes(b"")
        os.replace(tmp, vectors)
        _write_json_atomic(self.folder / META_FILE,
                           {"format_version": FORMAT_VERSION, "backbone_id": self.backbone_id, "dim": self.dim})
        self._write_index()
