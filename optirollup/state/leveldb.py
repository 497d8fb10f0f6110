"""Persist trie nodes and application metadata in one LevelDB database (via plyvel).

This is the only module of the state layer that touches the disk. One database holds two
namespaces, kept apart by a one-byte key prefix:

- ``b"n" + node_hash`` -> RLP-encoded trie node, exposed as a ``NodeStore`` via ``.nodes``;
- ``b"m" + key`` -> application metadata (head root, batch index, ...), via ``get_meta``.

``write_batch`` commits nodes and metadata together, atomically and durably (``sync=True``),
so a crash leaves either the whole batch or none of it. The usual pattern is to compute a
batch's roots in a ``LayeredStore`` over ``.nodes``, then
``db.write_batch(layer.pending, {b"head": new_root})`` and ``layer.discard()``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from types import TracebackType

import plyvel

from optirollup.state.store import (
    NodeDeletionRefused,
    StoreClosed,
    StoreError,
    StoreLocked,
    StoreOpenError,
)

__all__ = ["NODE_PREFIX", "META_PREFIX", "LevelDB", "LevelDBNodes"]

NODE_PREFIX = b"n"
META_PREFIX = b"m"


def _closed(path: str) -> StoreClosed:
    """Build the error for an operation on a closed database."""
    return StoreClosed(f"LevelDB state database {path} is closed; open it again with LevelDB()")


class LevelDBNodes:
    """Expose the trie-node namespace of a ``LevelDB`` as a ``NodeStore``.

    Single ``__setitem__`` writes go straight to disk without a batch; for anything but
    scratch work, buffer writes in a ``LayeredStore`` and commit with ``LevelDB.write_batch``.
    """

    __slots__ = ("_db", "_path")

    def __init__(self, db: plyvel.DB, path: str) -> None:
        """Wrap the open plyvel handle ``db`` of the database at ``path``."""
        self._db = db
        self._path = path

    def __getitem__(self, node_hash: bytes) -> bytes:
        """Return the node stored under ``node_hash``; raise ``KeyError`` if absent."""
        try:
            encoded: bytes | None = self._db.get(NODE_PREFIX + node_hash)
        except RuntimeError as err:  # plyvel's only error on a closed handle
            if self._db.closed:
                raise _closed(self._path) from err
            raise
        if encoded is None:
            raise KeyError(node_hash)
        return encoded

    def __setitem__(self, node_hash: bytes, encoded: bytes) -> None:
        """Write one node immediately (unbatched, not synced)."""
        try:
            self._db.put(NODE_PREFIX + node_hash, encoded)
        except RuntimeError as err:  # plyvel's only error on a closed handle
            if self._db.closed:
                raise _closed(self._path) from err
            raise

    def __delitem__(self, node_hash: bytes) -> None:
        """Refuse: node stores never delete."""
        raise NodeDeletionRefused(node_hash)

    def __contains__(self, node_hash: object) -> bool:
        """Tell whether a node is stored under ``node_hash``."""
        if not isinstance(node_hash, bytes):
            return False
        try:
            return self._db.get(NODE_PREFIX + node_hash) is not None
        except RuntimeError as err:  # plyvel's only error on a closed handle
            if self._db.closed:
                raise _closed(self._path) from err
            raise


class LevelDB:
    """Own one LevelDB database holding the trie nodes and the application metadata."""

    def __init__(self, path: str | os.PathLike[str], create_if_missing: bool = True) -> None:
        """Open (or create) the database at ``path``.

        Raise ``StoreLocked`` if another process or handle holds it open, and
        ``StoreOpenError`` if the path is not a LevelDB database or cannot be opened.
        """
        self.path = os.fspath(path)
        if not create_if_missing and not os.path.isdir(self.path):
            raise StoreOpenError(
                f"no LevelDB state database at {self.path}; create it first or pass "
                "create_if_missing=True"
            )
        try:
            self._db = plyvel.DB(self.path, create_if_missing=create_if_missing)
        except plyvel.Error as err:
            message = _message(err)
            if isinstance(err, plyvel.IOError) and message.startswith("IO error: lock "):
                raise StoreLocked(
                    f"LevelDB state database {self.path} is locked by another process or "
                    f"handle ({message}); stop the other node or challenger using it, or "
                    "point this one at its own --data-dir"
                ) from err
            raise StoreOpenError(
                f"cannot open {self.path} as a LevelDB state database ({message}); check "
                "that the path is a LevelDB directory written by optirollup"
            ) from err
        self._nodes = LevelDBNodes(self._db, self.path)

    @property
    def nodes(self) -> LevelDBNodes:
        """Return the trie-node namespace as a ``NodeStore``."""
        return self._nodes

    @property
    def closed(self) -> bool:
        """Tell whether ``close()`` was called."""
        return bool(self._db.closed)

    def get_meta(self, key: bytes) -> bytes | None:
        """Return the metadata value stored under ``key``, or None if absent."""
        try:
            value: bytes | None = self._db.get(META_PREFIX + key)
        except RuntimeError as err:  # plyvel's only error on a closed handle
            if self._db.closed:
                raise _closed(self.path) from err
            raise
        return value

    def iter_meta(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Yield ``(key, value)`` of every metadata key starting with ``prefix``, in key order.

        Keys are returned without the namespace prefix, as ``get_meta`` takes them.
        """
        if self._db.closed:
            raise _closed(self.path)
        start = len(META_PREFIX)
        for key, value in self._db.iterator(prefix=META_PREFIX + prefix):
            yield bytes(key[start:]), bytes(value)

    def write_batch(self, nodes: Mapping[bytes, bytes], meta: Mapping[bytes, bytes | None]) -> None:
        """Write ``nodes`` and ``meta`` atomically and durably in one LevelDB write batch.

        A None value in ``meta`` deletes that metadata key. Either everything is written or,
        if anything fails before the commit, nothing is.
        """
        if self._db.closed:
            raise _closed(self.path)
        try:
            with self._db.write_batch(transaction=True, sync=True) as batch:
                for node_hash, encoded in nodes.items():
                    batch.put(NODE_PREFIX + node_hash, encoded)
                for key, value in meta.items():
                    if value is None:
                        batch.delete(META_PREFIX + key)
                    else:
                        batch.put(META_PREFIX + key, value)
        except plyvel.Error as err:
            raise StoreError(
                f"LevelDB write batch to {self.path} failed ({_message(err)}); nothing was written"
            ) from err

    def close(self) -> None:
        """Close the database; later reads and writes raise ``StoreClosed``."""
        self._db.close()

    def __enter__(self) -> LevelDB:
        """Return the open database."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the database."""
        self.close()

    def __repr__(self) -> str:
        """Describe the database by its path."""
        state = "closed" if self.closed else "open"
        return f"LevelDB({self.path!r}, {state})"


def _message(err: BaseException) -> str:
    """Return plyvel's error message as text (plyvel passes bytes)."""
    arg = err.args[0] if err.args else ""
    return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
