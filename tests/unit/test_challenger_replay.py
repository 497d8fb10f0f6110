"""The challenger's replay on a real LevelDB: check every batch, trace one later from its state."""

from __future__ import annotations

from pathlib import Path

import pytest

from challenger.errors import ReplayMismatch
from challenger.replay import check_batch, trace_batch
from challenger.store import TraceStore
from optirollup.dispute.witness import step_inputs
from optirollup.hashing import keccak
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import LayeredStore, MemoryStore, MissingTrieNode
from optirollup.stf import BatchContext
from optirollup.stf.batch import trace
from optirollup.testkit import Signer, perp_workload

WORK = perp_workload(12, Signer())
CTX = BatchContext(100, Signer().separator, list(WORK.deposit_hashes))
SETUP, FILLS = list(WORK.txs[:10]), list(WORK.txs[10:])
KEYS = [keccak(b"batch %d" % i) for i in range(3)]
BATCHES = [SETUP, FILLS[:6], FILLS[6:]]


def reference() -> list[list[bytes]]:
    """Return the trace of each batch, replayed in memory with the STF alone."""
    store = MemoryStore()
    root = genesis_root(store, WORK.oracle.address)
    traces = []
    for txs in BATCHES:
        overlay = StateOverlay(store, root)
        traces.append(trace(overlay, txs, CTX))
        root = overlay.commit(store.update)
    return traces


def test_a_check_keeps_the_post_state_and_root_across_a_restart_and_no_trace(
    tmp_path: Path,
) -> None:
    want = reference()
    with LevelDB(tmp_path / "state") as db:
        store = TraceStore(db)
        root = genesis_root(db.nodes, WORK.oracle.address)
        root = check_batch(store, KEYS[0], root, BATCHES[0], CTX)
    assert root == want[0][-1]
    with LevelDB(tmp_path / "state") as db:  # a restart: the next batch checks from its state
        store = TraceStore(db)
        assert store.post_root(KEYS[0]) == root and store.has_state(root)
        assert store.trace(KEYS[0]) is None  # nothing is traced until a game needs it
        assert not store.has_state(want[0][1])  # no intermediate state was kept
        for i in (1, 2):
            root = check_batch(store, KEYS[i], root, BATCHES[i], CTX)
            assert root == want[i][-1] == store.post_root(KEYS[i])


def test_a_batch_checked_long_ago_is_traced_from_the_state_it_started_from(
    tmp_path: Path,
) -> None:
    want = reference()
    with LevelDB(tmp_path / "state") as db:
        store = TraceStore(db)
        root = genesis_root(db.nodes, WORK.oracle.address)
        for key, txs in zip(KEYS, BATCHES, strict=True):
            root = check_batch(store, key, root, txs, CTX)
        # batch 1 is disputed after batch 2 was checked on top of it
        roots = trace_batch(store, KEYS[1], want[1][0], BATCHES[1], CTX)
        assert roots == want[1]
    with LevelDB(tmp_path / "state") as db:  # a restart finds the trace and every state of it
        store = TraceStore(db)
        assert store.trace(KEYS[1]) == want[1]
        assert store.trace(KEYS[0]) is None and store.trace(KEYS[2]) is None
        for i in range(len(BATCHES[1])):
            inputs = step_inputs(LayeredStore(db.nodes), roots[i], BATCHES[1], i, CTX)
            assert inputs.post_root == roots[i + 1]


def test_a_trace_that_does_not_end_at_the_checked_root_is_refused_and_not_stored(
    tmp_path: Path,
) -> None:
    with LevelDB(tmp_path / "state") as db:
        store = TraceStore(db)
        root = genesis_root(db.nodes, WORK.oracle.address)
        store.put_post(KEYS[0], keccak(b"a post-root the trace will not reach"), {})
        with pytest.raises(ReplayMismatch, match="no game is played on it"):
            trace_batch(store, KEYS[0], root, BATCHES[0], CTX)
        assert store.trace(KEYS[0]) is None


def test_a_replay_from_a_state_the_store_does_not_hold_writes_nothing(tmp_path: Path) -> None:
    with LevelDB(tmp_path / "state") as db:
        store = TraceStore(db)
        unknown = keccak(b"a root never computed here")
        for replay in (check_batch, trace_batch):
            with pytest.raises(MissingTrieNode):
                replay(store, KEYS[0], unknown, BATCHES[0], CTX)
        assert store.post_root(KEYS[0]) is None and store.trace(KEYS[0]) is None
