"""Hold trie nodes in content-addressed stores, and define the state layer's error tree.

A node store maps a node's keccak hash (32 bytes) to its RLP encoding. Stores never delete:
the roots of old states must stay readable for disputes, so ``__delitem__`` exists only to
satisfy ``trie.HexaryTrie``'s db interface and refuses.

This module is pure: no disk, no network, no clock. The LevelDB adapter lives in
``optirollup.state.leveldb``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Protocol

from optirollup.errors import OptiRollupError

__all__ = [
    "BadProof",
    "CorruptTrieNode",
    "LayeredStore",
    "MemoryStore",
    "MissingTrieNode",
    "NodeDeletionRefused",
    "NodeStore",
    "StoreClosed",
    "StoreError",
    "StoreLocked",
    "StoreOpenError",
]


class StoreError(OptiRollupError):
    """Signal a failure of the state storage layer (base of every error in this package)."""


class MissingTrieNode(StoreError):
    """Report a trie node that a walk needs but the store does not hold."""

    def __init__(self, node_hash: bytes, context: str = "") -> None:
        self.node_hash = node_hash
        where = f" ({context})" if context else ""
        super().__init__(
            f"trie node 0x{node_hash.hex()} is missing from the node store{where}; "
            "the root is unknown to this database or its nodes were never committed"
        )


class CorruptTrieNode(StoreError):
    """Report stored bytes that do not decode as an Ethereum trie node."""


class BadProof(StoreError):
    """Report a Merkle proof that does not prove inclusion or exclusion against its root."""


class NodeDeletionRefused(StoreError):
    """Refuse to delete a trie node: old roots must stay readable forever."""

    def __init__(self, node_hash: bytes) -> None:
        self.node_hash = node_hash
        super().__init__(
            f"refusing to delete trie node 0x{node_hash.hex()}: node stores never prune "
            "(old state roots must stay readable for disputes); do not use prune=True"
        )


class StoreOpenError(StoreError):
    """Report a database path that cannot be opened as a node store."""


class StoreLocked(StoreOpenError):
    """Report a database that another process (or another handle) already holds open."""


class StoreClosed(StoreError):
    """Report a read or write on a database handle that was already closed."""


class NodeStore(Protocol):
    """Map a trie node's hash to its RLP encoding; usable as the ``db`` of ``HexaryTrie``."""

    def __getitem__(self, node_hash: bytes, /) -> bytes:
        """Return the encoding stored under ``node_hash``; raise ``KeyError`` if absent."""
        ...

    def __setitem__(self, node_hash: bytes, encoded: bytes, /) -> None:
        """Store ``encoded`` under ``node_hash``."""
        ...

    def __delitem__(self, node_hash: bytes, /) -> None:
        """Delete a node; node stores of the state refuse with ``NodeDeletionRefused``."""
        ...

    def __contains__(self, node_hash: object, /) -> bool:
        """Tell whether a node is stored under ``node_hash``."""
        ...


class MemoryStore:
    """Keep trie nodes in a dict (tests, scratch work, the challenger's replays)."""

    __slots__ = ("_nodes",)

    def __init__(self, nodes: Mapping[bytes, bytes] | None = None) -> None:
        """Create a store, optionally seeded with ``nodes``."""
        self._nodes: dict[bytes, bytes] = dict(nodes) if nodes is not None else {}

    def __getitem__(self, node_hash: bytes) -> bytes:
        """Return the encoding stored under ``node_hash``; raise ``KeyError`` if absent."""
        return self._nodes[node_hash]

    def __setitem__(self, node_hash: bytes, encoded: bytes) -> None:
        """Store ``encoded`` under ``node_hash``."""
        self._nodes[node_hash] = encoded

    def __delitem__(self, node_hash: bytes) -> None:
        """Refuse: node stores never delete."""
        raise NodeDeletionRefused(node_hash)

    def __contains__(self, node_hash: object) -> bool:
        """Tell whether a node is stored under ``node_hash``."""
        return node_hash in self._nodes

    def __len__(self) -> int:
        """Count the stored nodes."""
        return len(self._nodes)

    def __iter__(self) -> Iterator[bytes]:
        """Iterate over the stored node hashes."""
        return iter(self._nodes)

    def update(self, nodes: Mapping[bytes, bytes]) -> None:
        """Store every node of ``nodes`` (e.g. a ``LayeredStore``'s pending writes)."""
        self._nodes.update(nodes)


class LayeredStore:
    """Buffer node writes in memory on top of a read-only view of a base store.

    Reads look in the pending writes first, then fall through to ``base``; writes never reach
    ``base``. Compute a batch's roots here, then hand ``pending`` to the base's atomic write
    (e.g. ``LevelDB.write_batch``) and ``discard()`` — or just ``discard()`` to drop the batch.
    """

    __slots__ = ("_base", "_pending")

    def __init__(self, base: NodeStore) -> None:
        """Create an empty layer over ``base``."""
        self._base = base
        self._pending: dict[bytes, bytes] = {}

    @property
    def base(self) -> NodeStore:
        """Return the store this layer reads through to."""
        return self._base

    @property
    def pending(self) -> Mapping[bytes, bytes]:
        """Return a read-only view of the nodes written since creation or the last discard."""
        return MappingProxyType(self._pending)

    def discard(self) -> None:
        """Drop every pending write."""
        self._pending.clear()

    def __getitem__(self, node_hash: bytes) -> bytes:
        """Return the pending or base encoding under ``node_hash``; raise ``KeyError`` if absent."""
        encoded = self._pending.get(node_hash)
        if encoded is not None:
            return encoded
        return self._base[node_hash]

    def __setitem__(self, node_hash: bytes, encoded: bytes) -> None:
        """Buffer ``encoded`` under ``node_hash`` without touching the base."""
        self._pending[node_hash] = encoded

    def __delitem__(self, node_hash: bytes) -> None:
        """Refuse: node stores never delete."""
        raise NodeDeletionRefused(node_hash)

    def __contains__(self, node_hash: object) -> bool:
        """Tell whether a node is pending or stored in the base."""
        return node_hash in self._pending or node_hash in self._base
