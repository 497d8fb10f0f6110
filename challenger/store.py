"""The challenger's own LevelDB: every state it replayed, the traces it played, a few flags.

Shell layer (disk through :class:`optirollup.state.leveldb.LevelDB`). One database under
``<data-dir>/state`` holds

* the trie nodes of every state root the challenger computed: the post-state of every batch it
  checked, and every intermediate state of each batch it traced (the one-step proof of any of
  its transactions is cut from them). Nodes are never deleted, so going back to an earlier
  root after a deletion or a reorg, or tracing a batch long after it was checked, costs
  nothing;
* ``post/<key>``: the post-root of a checked batch, under its content address
  :func:`challenger.core.trace_key` (what the verdict needs);
* ``trace/<key>``: the per-transaction trace ``R_0 … R_n`` of a batch it traced (one it
  plays a game on), as ``n + 1`` 32-byte roots;
* ``flag/<name>``: one-off facts that must survive a restart (a game's result was logged).

A post-root and the nodes of its state, or a trace and the nodes of all its states, are
written in one atomic, synced write batch (:meth:`TraceStore.put_post`, :meth:`TraceStore.put`):
after a crash either both are there or neither, so a restart finds a post-root only if it can
check the next batch from it, and a trace only if it can prove every step of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from challenger.errors import TraceCorrupt
from optirollup.state.leveldb import LevelDB
from optirollup.state.store import NodeStore

__all__ = ["TraceStore"]

_TRACE = b"trace/"
_POST = b"post/"
_FLAG = b"flag/"


class TraceStore:
    """Traces and trie nodes in one :class:`~optirollup.state.leveldb.LevelDB` (module notes)."""

    def __init__(self, db: LevelDB) -> None:
        """Use ``db`` (the caller opens and closes it)."""
        self.db = db

    @property
    def nodes(self) -> NodeStore:
        """Return the trie node store (replays read their pre-states from it)."""
        return self.db.nodes

    def trace(self, key: bytes) -> list[bytes] | None:
        """Return the trace stored under ``key``, or None."""
        raw = self.db.get_meta(_TRACE + key)
        if raw is None:
            return None
        if len(raw) % 32 or len(raw) < 64:
            raise TraceCorrupt(
                f"trace 0x{key.hex()} holds {len(raw)} bytes, not n + 1 ≥ 2 roots of 32 bytes; "
                "delete the challenger's data directory to rebuild it from L1"
            )
        return [raw[i : i + 32] for i in range(0, len(raw), 32)]

    def post_root(self, key: bytes) -> bytes | None:
        """Return the post-root recorded under ``key`` (checked or traced), or None."""
        raw = self.db.get_meta(_POST + key)
        if raw is not None and len(raw) != 32:
            raise TraceCorrupt(f"post-root of trace 0x{key.hex()} is {len(raw)} bytes, not 32")
        return raw

    def put(self, key: bytes, roots: Sequence[bytes], nodes: Mapping[bytes, bytes]) -> None:
        """Store the trace ``roots`` under ``key`` and its states' trie ``nodes``, atomically."""
        if len(roots) < 2 or any(len(r) != 32 for r in roots):
            raise ValueError("a trace is R_0 .. R_n (n ≥ 1) of 32 bytes each")
        self.db.write_batch(nodes, {_TRACE + key: b"".join(roots), _POST + key: roots[-1]})

    def put_post(self, key: bytes, post_root: bytes, nodes: Mapping[bytes, bytes]) -> None:
        """Store the post-root of a checked batch under ``key`` and its state's ``nodes``,
        atomically."""
        if len(post_root) != 32:
            raise ValueError(f"a post-root is 32 bytes, got {len(post_root)}")
        self.db.write_batch(nodes, {_POST + key: post_root})

    def has_state(self, root: bytes) -> bool:
        """Tell whether the trie of ``root`` is here (its root node is stored)."""
        return root in self.db.nodes

    def flag(self, name: bytes) -> bool:
        """Tell whether flag ``name`` is set."""
        return self.db.get_meta(_FLAG + name) is not None

    def set_flag(self, name: bytes) -> None:
        """Set flag ``name`` (durably)."""
        self.db.write_batch({}, {_FLAG + name: b"\x01"})
