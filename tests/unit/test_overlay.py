"""The execution overlay: cached typed leaves, roots on demand, atomic commit, discard."""

from pathlib import Path

import pytest

from optirollup.state import mpt
from optirollup.state.keys import account_key
from optirollup.state.leaves import Account, OrderState
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import NotAGenesisState, StateOverlay, genesis_root
from optirollup.state.store import MemoryStore
from optirollup.testkit import Trader

ORACLE = Trader.of("oracle").address
ALICE = Trader.of("alice").address


def test_a_root_asked_after_each_write_equals_the_root_asked_once_at_the_end() -> None:
    store = MemoryStore()
    pre = genesis_root(store, ORACLE)
    step, once = StateOverlay(store, pre), StateOverlay(store, pre)
    for i in range(1, 20):
        acc = Account(Trader.of(i).address, collateral=i)
        step.set_account(acc)
        step.root()
        once.set_account(acc)
    assert step.root() == once.root() != pre


def test_reads_see_the_overlays_own_writes_and_absent_leaves_read_as_defaults() -> None:
    store = MemoryStore()
    st = StateOverlay(store, genesis_root(store, ORACLE))
    assert st.account(ALICE) == Account(ALICE)
    assert st.order(ALICE, b"\x01" * 32) == OrderState()
    assert st.market(7) is None and st.withdrawal(0) is None
    st.set_account(Account(ALICE, collateral=-5))
    assert st.account(ALICE).collateral == -5


def test_discard_returns_to_the_base_root_and_leaves_the_store_untouched() -> None:
    store = MemoryStore()
    pre = genesis_root(store, ORACLE)
    nodes_before = len(store)
    st = StateOverlay(store, pre)
    st.set_account(Account(ALICE, collateral=1))
    assert st.root() != pre
    st.discard()
    assert st.root() == pre
    assert st.account(ALICE) == Account(ALICE)
    assert len(store) == nodes_before


def test_commit_hands_new_nodes_to_the_writer_and_continues_from_the_new_root() -> None:
    store = MemoryStore()
    pre = genesis_root(store, ORACLE)
    st = StateOverlay(store, pre)
    st.set_account(Account(ALICE, collateral=1))
    root = st.commit(store.update)
    assert mpt.get(store, root, account_key(ALICE)) == Account(ALICE, collateral=1).encode()
    assert mpt.get(store, pre, account_key(ALICE)) == b""  # the old root stays readable
    st.set_account(Account(ALICE, collateral=2))
    st.discard()  # discarding after a commit goes back to the committed root, not genesis
    assert st.root() == root


def test_a_failing_writer_leaves_the_overlay_uncommitted() -> None:
    store = MemoryStore()
    pre = genesis_root(store, ORACLE)
    st = StateOverlay(store, pre)
    st.set_account(Account(ALICE, collateral=1))

    def broken(nodes: dict[bytes, bytes]) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        st.commit(broken)
    st.discard()
    assert st.root() == pre


def test_pending_nodes_refuses_before_the_root_is_computed() -> None:
    store = MemoryStore()
    st = StateOverlay(store, genesis_root(store, ORACLE))
    st.set_account(Account(ALICE))
    with pytest.raises(RuntimeError):
        st.pending_nodes()


def test_a_root_without_a_system_leaf_is_reported_as_not_from_genesis() -> None:
    store = MemoryStore()
    root = mpt.bulk_update(store, mpt.EMPTY_ROOT, {account_key(ALICE): Account(ALICE).encode()})
    with pytest.raises(NotAGenesisState, match="no system leaf"):
        StateOverlay(store, root).system()


def test_committed_batches_survive_reopening_leveldb_with_every_old_root_readable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state"
    roots = []
    with LevelDB(path) as db:
        pre = genesis_root(db.nodes, ORACLE)  # genesis written directly, then batches atomically
        st = StateOverlay(db.nodes, pre)
        for batch in range(3):
            st.set_account(Account(ALICE, collateral=batch + 1))
            roots.append(st.commit(lambda n, b=batch: db.write_batch(n, {b"head": b"%d" % b})))
    with LevelDB(path) as db:
        assert db.get_meta(b"head") == b"2"
        for batch, root in enumerate(roots):
            acc = StateOverlay(db.nodes, root).account(ALICE)
            assert acc.collateral == batch + 1
