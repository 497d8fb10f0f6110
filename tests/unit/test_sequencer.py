"""The sequencer: acknowledged transactions are journaled, batches sealed atomically, and a
process killed at any point (SIGKILL) recovers the acknowledged state exactly."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from optirollup.codec.batch import decode_tx_list
from optirollup.executor import BatchRecord, ExecutorError, SealPolicy, Sequencer
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import MemoryStore
from optirollup.stf import BatchContext, Reason
from optirollup.stf.batch import execute
from optirollup.testkit import Signer, perp_workload

SEP = Signer().separator
T = 1_000
WORK = perp_workload(120)


def _open(path: Path, policy: SealPolicy | None = None) -> tuple[LevelDB, Sequencer]:
    db = LevelDB(path)
    genesis = genesis_root(db.nodes, WORK.oracle.address)
    seq = Sequencer.open(db, SEP, policy, genesis_root=genesis, now=0)
    seq.learn_deposits(0, WORK.deposit_hashes)
    return db, seq


def _reference(txs: list[bytes], batch_time: int = T) -> bytes:
    store = MemoryStore()
    root = genesis_root(store, WORK.oracle.address)
    ctx = BatchContext(batch_time, SEP, list(WORK.deposit_hashes))
    return execute(StateOverlay(store, root), txs, ctx).post_root


def test_sealed_batches_chain_and_reach_the_reference_root(tmp_path: Path) -> None:
    db, seq = _open(tmp_path / "db", SealPolicy(max_txs=50))
    out = seq.submit(WORK.txs, batch_time=T, now=0)
    assert all(s.accepted for s in out)
    assert [s.batch_index for s in out[:51]] == [0] * 50 + [1]
    seq.seal()
    records = [seq.batch(i) for i in range(seq.batch_count)]
    assert [len(r.txs) for r in records] == [50, 50, 30]
    assert all(r.prev_root == p.post_root for p, r in zip(records, records[1:], strict=False))
    assert records[-1].post_root == seq.head_root == _reference(list(WORK.txs))
    assert decode_tx_list(records[0].calldata) == list(records[0].txs)
    assert BatchRecord.decode(records[1].encode()) == records[1]
    db.close()


def test_a_transaction_that_fails_its_checks_is_not_included_and_changes_nothing(
    tmp_path: Path,
) -> None:
    db, seq = _open(tmp_path / "db")
    seq.submit(WORK.txs[:10], batch_time=T, now=0)
    root = seq.state.root()
    (replayed,) = seq.submit([WORK.txs[0]], batch_time=T, now=0)  # the market exists now
    assert not replayed.accepted and replayed.receipt.reason == Reason.MARKET_EXISTS
    assert seq.state.root() == root and len(seq.open_txs) == 10
    db.close()


def test_a_batch_is_sealed_before_it_would_exceed_the_calldata_limit(tmp_path: Path) -> None:
    fills = WORK.txs[10:]
    limit = 20 * (2 + 263) + 5
    db, seq = _open(tmp_path / "db", SealPolicy(max_txs=500, max_bytes=limit))
    seq.submit(WORK.txs[:10], batch_time=T, now=0)
    seq.seal()
    seq.submit(fills, batch_time=T, now=0)
    seq.seal()
    sizes = [len(seq.batch(i).calldata) for i in range(1, seq.batch_count)]
    assert max(sizes) <= limit and sizes[0] == 20 * 265
    db.close()


def test_the_seal_policy_is_due_by_count_or_by_age(tmp_path: Path) -> None:
    db, seq = _open(tmp_path / "db", SealPolicy(max_txs=3, max_seconds=5))
    assert not seq.seal_due(100)
    seq.submit(WORK.txs[:2], batch_time=T, now=100)
    assert not seq.seal_due(104) and seq.seal_due(105)
    seq.submit(WORK.txs[2:3], batch_time=T, now=100)
    assert seq.seal_due(100)
    assert seq.seal() is not None and seq.seal() is None
    db.close()


def test_a_batch_time_is_never_before_the_last_sealed_batch(tmp_path: Path) -> None:
    db, seq = _open(tmp_path / "db")
    seq.submit(WORK.txs[:3], batch_time=T, now=0)
    assert seq.seal() is not None
    seq.submit(WORK.txs[3:4], batch_time=T - 500, now=0)
    record = seq.seal()
    assert record is not None and record.batch_time == T
    db.close()


def test_reopening_replays_the_journal_of_the_open_batch(tmp_path: Path) -> None:
    db, seq = _open(tmp_path / "db", SealPolicy(max_txs=40))
    seq.submit(WORK.txs[:70], batch_time=T, now=0)
    root, open_txs = seq.state.root(), seq.open_txs
    db.close()
    db, again = _open(tmp_path / "db", SealPolicy(max_txs=40))
    assert again.batch_count == 1 and again.open_txs == open_txs == WORK.txs[40:70]
    assert again.open_batch_time == T and again.state.root() == root
    db.close()


def test_deposits_are_learned_in_order_and_never_rewritten(tmp_path: Path) -> None:
    db, seq = _open(tmp_path / "db")
    seq.learn_deposits(0, WORK.deposit_hashes[:3])  # idempotent
    with pytest.raises(ExecutorError, match="deposit 20 learned before deposit 8"):
        seq.learn_deposits(20, [b"\x01" * 32])
    with pytest.raises(ExecutorError, match="deposit 1 changed"):
        seq.learn_deposits(1, [b"\x02" * 32])
    db.close()


def test_a_database_from_another_genesis_is_refused(tmp_path: Path) -> None:
    db, seq = _open(tmp_path / "db")
    seq.submit(WORK.txs[:2], batch_time=T, now=0)
    db.close()
    db = LevelDB(tmp_path / "db")
    with pytest.raises(ExecutorError, match="is not in"):
        Sequencer.open(db, SEP, genesis_root=b"\x07" * 32)
    db.close()


# --------------------------------------------------------------------------- kill -9

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from optirollup.executor import SealPolicy, Sequencer
    from optirollup.state.leveldb import LevelDB
    from optirollup.state.overlay import genesis_root
    from optirollup.testkit import Signer, perp_workload

    path, acks, kill_at, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    work = perp_workload(120)
    db = LevelDB(path)
    g = genesis_root(db.nodes, work.oracle.address)
    seq = Sequencer.open(db, Signer().separator, SealPolicy(max_txs=25), genesis_root=g)
    seq.learn_deposits(0, work.deposit_hashes)
    step = 0
    with open(acks, "a") as log:
        i = start
        while i < len(work.txs):
            chunk = work.txs[i : i + 7]
            for s in seq.submit(chunk, batch_time=1000, now=0):
                assert s.accepted
            log.write(f"{i} {len(chunk)}\\n"); log.flush(); os.fsync(log.fileno())
            i += len(chunk)
            step += 1
            if step % 3 == 0:
                seq.seal()
            if step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        seq.seal()
    """
)


def _acked(acks: Path) -> int:
    """Return how many workload transactions were acknowledged (prefix length)."""
    end = 0
    for line in acks.read_text().splitlines():
        start, n = map(int, line.split())
        assert start == end
        end = start + n
    return end


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4, 6, 9, 13, 17], ids=lambda k: f"after step {k}")
def test_a_sequencer_killed_with_sigkill_recovers_every_acknowledged_transaction(
    tmp_path: Path, kill_at: int
) -> None:
    db_path, acks = tmp_path / "db", tmp_path / "acks"
    acks.write_text("")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    run = [sys.executable, str(script), str(db_path), str(acks)]
    first = subprocess.run([*run, str(kill_at), "0"], capture_output=True, timeout=120)
    assert first.returncode == -signal.SIGKILL, first.stderr.decode()
    acked = _acked(acks)
    assert acked == min(7 * kill_at, len(WORK.txs))

    # Reopen: the acknowledged prefix is there, exactly once, sealed or journaled.
    db = LevelDB(db_path)
    seq = Sequencer.open(db, SEP, SealPolicy(max_txs=25), genesis_root=genesis_root(
        db.nodes, WORK.oracle.address))  # fmt: skip
    included = [tx for i in range(seq.batch_count) for tx in seq.batch(i).txs]
    included += list(seq.open_txs)
    assert included == list(WORK.txs[:acked])
    assert seq.state.root() == _reference(list(WORK.txs[:acked]))
    db.close()

    # Finish the workload in a new process: the same final root as a run never interrupted.
    second = subprocess.run([*run, "0", str(acked)], capture_output=True, timeout=120)
    assert second.returncode == 0, second.stderr.decode()
    db = LevelDB(db_path)
    seq = Sequencer.open(db, SEP, genesis_root=genesis_root(db.nodes, WORK.oracle.address))
    assert seq.open_txs == ()
    txs = [tx for i in range(seq.batch_count) for tx in seq.batch(i).txs]
    assert txs == list(WORK.txs) and seq.head_root == _reference(list(WORK.txs))
    db.close()


def test_the_workload_itself_applies_in_any_batching() -> None:
    rng = random.Random(5)
    cuts = sorted(rng.sample(range(1, len(WORK.txs)), 6))
    store = MemoryStore()
    root = genesis_root(store, WORK.oracle.address)
    ctx = BatchContext(T, SEP, list(WORK.deposit_hashes))
    for a, b in zip([0, *cuts], [*cuts, len(WORK.txs)], strict=True):
        overlay = StateOverlay(store, root)
        result = execute(overlay, list(WORK.txs[a:b]), ctx)
        assert all(r.ok for r in result.receipts)
        root = overlay.commit(store.update)
    assert root == _reference(list(WORK.txs))
    assert os.cpu_count()  # the crash tests run real processes


def test_extra_metadata_is_written_with_the_journal_and_kept_out_of_its_layout(
    tmp_path: Path,
) -> None:
    db, seq = _open(tmp_path / "db")
    seq.submit(WORK.txs[:2], batch_time=T, now=0, extra={b"orders/a": b"1", b"orders/b": b"2"})
    seq.submit([], batch_time=T, now=0, extra={b"orders/a": None})
    assert list(db.iter_meta(b"orders/")) == [(b"orders/b", b"2")]
    with pytest.raises(ExecutorError, match="sequencer's own layout"):
        seq.submit([], batch_time=T, now=0, extra={b"j/\x00\x00\x00\x09": b"x"})
    db.close()
