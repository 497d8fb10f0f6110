"""An execution overlay: typed leaves over a trie root, with roots computed on demand.

The state transition reads and writes *typed* leaves through a :class:`StateOverlay`. Leaves
are decoded once and kept in memory; writes are kept as dirty records and encoded only when a
root is asked for. :meth:`StateOverlay.root` folds the dirty leaves into the trie with one
:func:`~optirollup.state.mpt.bulk_update` (every dirty node hashed once) and makes the result the
new checkpoint, so

* asking for the root after every transaction gives the per-transaction trace a dispute needs;
* asking once per batch is the fast path of the sequencer.

New trie nodes go to a :class:`~optirollup.state.store.LayeredStore` over the base store, so a
batch is either committed atomically (``pending_nodes()`` handed to one write batch) or thrown
away (``discard()``). Nodes are never deleted: every earlier root stays readable.

Decoded trie nodes are kept in a bounded :class:`~optirollup.state.mpt.NodeCache` shared by
reads and root computations; :func:`~optirollup.state.mpt.bulk_update` seeds it with the nodes
it creates, so the reads after a root (the next batch's) start warm, and :meth:`commit` trims
it between batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from optirollup.state import mpt
from optirollup.state.keys import SYSTEM_KEY, account_key, market_key, order_key, withdrawal_key
from optirollup.state.leaves import Account, Market, OrderState, System, Withdrawal
from optirollup.state.store import LayeredStore, NodeStore, StoreError

Leaf = Account | OrderState | Market | System | Withdrawal


class NotAGenesisState(StoreError):
    """A root whose state has no system leaf: it does not descend from :func:`genesis_root`."""


L = TypeVar("L", Account, OrderState, Market, System, Withdrawal)


class StateOverlay:
    """Typed, cached, checkpointed view of the state at ``root`` over a node store."""

    def __init__(self, store: NodeStore, root: bytes) -> None:
        self._nodes = LayeredStore(store)
        self._base_root = root
        self._root = root
        self._cache: dict[bytes, Leaf | None] = {}
        self._node_cache = mpt.NodeCache()  # decoded nodes by hash (immutable, bounded)
        self._dirty: dict[bytes, Leaf] = {}

    # -- reads -------------------------------------------------------------------------------

    def _read(self, key: bytes, decode: Callable[[bytes], L]) -> L | None:
        try:
            leaf = self._cache[key]
        except KeyError:
            raw = mpt.get(self._nodes, self._root, key, self._node_cache)
            leaf = decode(raw) if raw else None
            self._cache[key] = leaf
        return leaf  # type: ignore[return-value]

    def account(self, address: bytes) -> Account:
        """Return the account at ``address`` (an empty account if it has no leaf yet)."""
        acc = self._read(account_key(address), Account.decode)
        return acc if acc is not None else Account(address)

    def order(self, account: bytes, order_hash: bytes) -> OrderState:
        """Return what the state remembers of an order (nothing filled if it has no leaf)."""
        st = self._read(order_key(account, order_hash), OrderState.decode)
        return st if st is not None else OrderState()

    def market(self, market_id: int) -> Market | None:
        """Return a market, or None if it is not listed."""
        return self._read(market_key(market_id), Market.decode)

    def system(self) -> System:
        """Return the system leaf (it exists from genesis on)."""
        sys_ = self._read(SYSTEM_KEY, System.decode)
        if sys_ is None:
            raise NotAGenesisState(
                f"state root 0x{self._root.hex()} has no system leaf; it was not derived from "
                "genesis_root(): check the root (or the database) you opened"
            )
        return sys_

    def withdrawal(self, withdrawal_id: int) -> Withdrawal | None:
        """Return a withdrawal leaf, or None."""
        return self._read(withdrawal_key(withdrawal_id), Withdrawal.decode)

    # -- writes ------------------------------------------------------------------------------

    def _write(self, key: bytes, leaf: Leaf) -> None:
        self._cache[key] = leaf
        self._dirty[key] = leaf

    def set_account(self, acc: Account) -> None:
        """Write an account leaf."""
        self._write(account_key(acc.address), acc)

    def set_order(self, account: bytes, order_hash: bytes, st: OrderState) -> None:
        """Write an order leaf."""
        self._write(order_key(account, order_hash), st)

    def set_market(self, market_id: int, m: Market) -> None:
        """Write a market leaf."""
        self._write(market_key(market_id), m)

    def set_system(self, s: System) -> None:
        """Write the system leaf."""
        self._write(SYSTEM_KEY, s)

    def set_withdrawal(self, withdrawal_id: int, w: Withdrawal) -> None:
        """Write a withdrawal leaf."""
        self._write(withdrawal_key(withdrawal_id), w)

    # -- roots and commit --------------------------------------------------------------------

    def root(self) -> bytes:
        """Fold every dirty leaf into the trie and return the current state root."""
        if self._dirty:
            updates = {k: leaf.encode() for k, leaf in self._dirty.items()}
            self._root = mpt.bulk_update(self._nodes, self._root, updates, self._node_cache)
            self._dirty.clear()
        return self._root

    @property
    def dirty_count(self) -> int:
        """Return how many leaves changed since the last root was computed."""
        return len(self._dirty)

    def pending_nodes(self) -> dict[bytes, bytes]:
        """Return the trie nodes created so far (call :meth:`root` first), for an atomic commit."""
        if self._dirty:
            raise RuntimeError("pending_nodes() before root(): dirty leaves are not in the trie")
        return dict(self._nodes.pending)

    def commit(self, write: Callable[[dict[bytes, bytes]], None]) -> bytes:
        """Persist the batch and continue from its root; return that root.

        Computes the root, hands every new trie node to ``write`` (which must store them
        atomically, e.g. one LevelDB write batch together with the batch record), and only then
        makes the root the new base, keeping decoded leaves and nodes cached for the next batch.
        If ``write`` raises, nothing changes.
        """
        root = self.root()
        write(dict(self._nodes.pending))
        self._nodes.discard()
        self._base_root = root
        self._node_cache.trim()
        return root

    def discard(self) -> None:
        """Throw away every change since construction: back to the base root."""
        self._nodes.discard()
        self._root = self._base_root
        self._cache.clear()
        self._dirty.clear()


def genesis_root(store: NodeStore, oracle: bytes) -> bytes:
    """Write the genesis state (only the system leaf) into ``store`` and return its root."""
    if len(oracle) != 20:
        raise ValueError("oracle must be a 20-byte address")
    return mpt.bulk_update(store, mpt.EMPTY_ROOT, {SYSTEM_KEY: System(oracle).encode()})
