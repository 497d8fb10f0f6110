"""The challenger's trace store on a real LevelDB: traces, the states behind them, flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from challenger.errors import TraceCorrupt
from challenger.store import TraceStore
from optirollup.dispute.witness import step_inputs
from optirollup.hashing import keccak
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import LayeredStore
from optirollup.stf import BatchContext
from optirollup.stf.batch import trace
from optirollup.testkit import Signer, perp_workload

KEY = keccak(b"a trace key")


def test_a_trace_and_its_states_survive_a_restart_and_prove_any_step(tmp_path: Path) -> None:
    work = perp_workload(6, Signer())
    ctx = BatchContext(100, Signer().separator, list(work.deposit_hashes))
    with LevelDB(tmp_path / "state") as db:
        store = TraceStore(db)
        genesis = genesis_root(db.nodes, work.oracle.address)
        assert store.trace(KEY) is None and store.post_root(KEY) is None
        overlay = StateOverlay(db.nodes, genesis)
        roots = trace(overlay, list(work.txs), ctx)
        store.put(KEY, roots, overlay.pending_nodes())
    with LevelDB(tmp_path / "state") as db:  # a restart
        store = TraceStore(db)
        assert store.trace(KEY) == roots
        assert store.post_root(KEY) == roots[-1]
        assert all(store.has_state(r) for r in roots)
        assert not store.has_state(keccak(b"never computed"))
        for i in (0, 9, len(work.txs) - 1):  # every intermediate state is there
            inputs = step_inputs(LayeredStore(db.nodes), roots[i], list(work.txs), i, ctx)
            assert inputs.post_root == roots[i + 1]


def test_nothing_is_written_for_a_trace_that_is_not_a_list_of_roots(tmp_path: Path) -> None:
    with LevelDB(tmp_path / "state") as db:
        store = TraceStore(db)
        for bad in ([], [keccak(b"x")], [keccak(b"x"), b"short"]):
            with pytest.raises(ValueError):
                store.put(KEY, bad, {keccak(b"node"): b"node"})
        assert store.trace(KEY) is None and keccak(b"node") not in db.nodes


def test_a_post_root_is_stored_with_its_state_and_a_malformed_one_is_not(tmp_path: Path) -> None:
    node = b"\xc2\x80\x80" * 11  # any bytes: the store does not decode nodes
    with LevelDB(tmp_path / "state") as db:
        store = TraceStore(db)
        with pytest.raises(ValueError, match="32 bytes"):
            store.put_post(KEY, b"short", {keccak(node): node})
        assert store.post_root(KEY) is None and keccak(node) not in db.nodes
        store.put_post(KEY, keccak(node), {keccak(node): node})
    with LevelDB(tmp_path / "state") as db:
        store = TraceStore(db)
        assert store.post_root(KEY) == keccak(node) and store.has_state(keccak(node))
        assert store.trace(KEY) is None  # a check keeps no trace


def test_a_corrupt_trace_is_reported_with_a_way_out(tmp_path: Path) -> None:
    with LevelDB(tmp_path / "state") as db:
        db.write_batch({}, {b"trace/" + KEY: b"\x01" * 40, b"post/" + KEY: b"\x01" * 31})
        store = TraceStore(db)
        with pytest.raises(TraceCorrupt, match="delete the challenger's data directory"):
            store.trace(KEY)
        with pytest.raises(TraceCorrupt, match="31 bytes"):
            store.post_root(KEY)


def test_flags_are_durable(tmp_path: Path) -> None:
    with LevelDB(tmp_path / "state") as db:
        store = TraceStore(db)
        assert not store.flag(b"resolved/1")
        store.set_flag(b"resolved/1")
    with LevelDB(tmp_path / "state") as db:
        assert TraceStore(db).flag(b"resolved/1")
        assert not TraceStore(db).flag(b"resolved/2")
