"""The sequencer: acknowledged transactions are journaled, batches sealed atomically, and a
process killed at any point (SIGKILL) recovers the acknowledged state exactly. A group of
submits is journaled in one write at its end (a node killed inside bursts of orders keeps every
acknowledged fill); signature recovery is memoized without changing any root."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from optirollup.codec import eip712
from optirollup.codec.batch import decode_tx_list
from optirollup.codec.tx import Fill, TxType, decode_tx
from optirollup.executor import BatchRecord, ExecutorError, SealPolicy, Sequencer
from optirollup.executor.sequencer import RecoveryMemo
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


# --------------------------------------------------------------------------- group commit


def _counting_writes(db: LevelDB, monkeypatch: pytest.MonkeyPatch) -> list[dict[bytes, object]]:
    writes: list[dict[bytes, object]] = []
    real = db.write_batch

    def counting(nodes: dict[bytes, bytes], meta: dict[bytes, bytes | None]) -> None:
        writes.append(dict(meta))
        real(nodes, meta)

    monkeypatch.setattr(db, "write_batch", counting)
    return writes


def test_a_group_journals_every_submit_inside_in_one_write_at_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, seq = _open(tmp_path / "db")
    writes = _counting_writes(db, monkeypatch)
    with seq.group():
        for i in range(0, 30, 3):
            seq.submit(WORK.txs[i : i + 3], batch_time=T, now=0, extra={b"orders/%d" % i: b"x"})
        with seq.group():  # nested: only the outermost group writes
            seq.submit(WORK.txs[30:31], batch_time=T, now=0)
        assert writes == [] and seq.grouping
    assert len(writes) == 1 and not seq.grouping
    root = seq.state.root()
    db.close()
    db, again = _open(tmp_path / "db")
    assert again.open_txs == WORK.txs[:31] and again.state.root() == root
    assert len(list(db.iter_meta(b"orders/"))) == 10
    db.close()


def test_a_seal_inside_a_group_writes_the_groups_journal_with_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, seq = _open(tmp_path / "db", SealPolicy(max_txs=25))
    writes = _counting_writes(db, monkeypatch)
    with seq.group():
        seq.submit(WORK.txs[:20], batch_time=T, now=0, extra={b"orders/a": b"1"})
        seq.submit(WORK.txs[20:40], batch_time=T, now=0, extra={b"orders/b": b"2"})
        assert len(writes) == 1  # the seal of batch 0: it carried the group's entries so far
        assert writes[0][b"orders/a"] == b"1" and b"orders/b" not in writes[0]
    assert len(writes) == 2
    db.close()
    db, again = _open(tmp_path / "db", SealPolicy(max_txs=25))
    assert again.batch(0).txs == WORK.txs[:25] and again.open_txs == WORK.txs[25:40]
    assert again.state.root() == _reference(list(WORK.txs[:40]))
    assert dict(db.iter_meta(b"orders/")) == {b"orders/a": b"1", b"orders/b": b"2"}
    db.close()


def test_a_group_whose_block_raises_still_journals_what_it_applied(tmp_path: Path) -> None:
    db, seq = _open(tmp_path / "db")
    with pytest.raises(RuntimeError), seq.group():
        seq.submit(WORK.txs[:12], batch_time=T, now=0)
        raise RuntimeError("a bug between two submits")
    root = seq.state.root()
    db.close()
    db, again = _open(tmp_path / "db")
    assert again.open_txs == WORK.txs[:12] and again.state.root() == root
    db.close()


def test_the_recovery_memo_is_a_bounded_lru_of_recover(monkeypatch: pytest.MonkeyPatch) -> None:
    fill = decode_tx(WORK.txs[10])
    assert isinstance(fill, Fill)
    signed = [fill.maker, fill.taker, decode_tx(WORK.txs[11]).maker]  # type: ignore[attr-defined]
    keys = [(s.order.hash(SEP), s.signature) for s in signed]
    calls: list[bytes] = []
    real = eip712.recover
    monkeypatch.setattr(eip712, "recover", lambda d, s: calls.append(d) or real(d, s))
    memo = RecoveryMemo(capacity=2)
    assert [memo.recover(*k) for k in keys[:2]] == [s.order.account for s in signed[:2]]
    assert memo.recover(*keys[0]) == signed[0].order.account and len(calls) == 2
    memo.recover(*keys[2])  # evicts keys[1], the least recently used
    assert list(memo) == [keys[0], keys[2]] and len(calls) == 3
    assert memo.get(keys[1]) is None and memo.get(keys[1], b"?") == b"?"
    assert memo.recover(keys[0][0], b"\x00" * 65) == eip712.ZERO_ADDRESS  # invalid: zero
    with pytest.raises(ValueError, match="capacity"):
        RecoveryMemo(capacity=0)


def test_the_stf_finds_a_signature_in_the_memo_and_replays_to_the_same_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []
    real = eip712.recover
    monkeypatch.setattr(eip712, "recover", lambda d, s: calls.append(d) or real(d, s))
    db, seq = _open(tmp_path / "db")
    seq.submit(WORK.txs[:20], batch_time=T, now=0)
    first = len(calls)
    for tx in WORK.txs[10:20]:  # the FILLs again: every order's signer is in the memo
        fill = decode_tx(tx)
        assert isinstance(fill, Fill)
        for s in (fill.maker, fill.taker):
            seq.signers.recover(s.order.hash(SEP), s.signature)
    assert len(calls) == first
    assert seq.state.root() == _reference(list(WORK.txs[:20]))
    db.close()


BURST_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from optirollup.codec.tx import Order
    from optirollup.executor import SealPolicy
    from optirollup.executor.node import NodeCore, NodeError
    from optirollup.state.leveldb import LevelDB
    from optirollup.state.overlay import genesis_root
    from optirollup.testkit import Signer, perp_workload

    path, acks, kill_at, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    signer, work = Signer(), perp_workload(0)
    db = LevelDB(path)
    core = NodeCore(db, signer.separator, genesis_root=genesis_root(db.nodes, work.oracle.address),
                    policy=SealPolicy(max_txs=25))
    if not core.markets():  # a fresh database: list, price and fund
        for tx in work.txs[:2]:
            core.submit_tx(tx, batch_time=1000, now=0)
        core.include_deposits(0, zip(work.deposit_hashes, work.txs[2:]), batch_time=1000, now=0)
    writes, real = 0, db.write_batch

    def write_batch(nodes, meta):  # SIGKILL just before the kill_at-th write of the bursts
        global writes
        writes += 1
        if writes == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        real(nodes, meta)

    db.write_batch = write_batch
    cast = work.traders
    with open(acks, "a") as log:
        for b in range(start, 8):
            burst = []
            for k in range(10 * b, 10 * b + 10):
                m, t = cast[k % 8], cast[(k + 3) % 8]
                price = 3_000_000_000 + (k % 5) * 1_000
                burst.append(signer.order(Order(m.address, 1, 1, price, 100_000, 1_000, k,
                                                2**40), m.key))
                burst.append(signer.order(Order(t.address, 1, 0, price, 100_000, 1_000, k,
                                                2**40), t.key))
            results = core.place_orders(burst, batch_time=1000, now=0)
            refused = [r.code for r in results if isinstance(r, NodeError)]
            assert b == start or not refused, refused
            log.write(f"{b}\\n"); log.flush(); os.fsync(log.fileno())
        core.sequencer.seal()
    """
)


def _fills(seq: Sequencer) -> list[bytes]:
    txs = [tx for i in range(seq.batch_count) for tx in seq.batch(i).txs] + list(seq.open_txs)
    return [tx for tx in txs if tx[0] == TxType.FILL]


@pytest.fixture(scope="module")
def burst_child(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes], bytes]:
    """Return the child script, and the FILLs and final root of a run never killed."""
    tmp = tmp_path_factory.mktemp("bursts")
    script = tmp / "child.py"
    script.write_text(BURST_CHILD)
    done = subprocess.run([sys.executable, str(script), str(tmp / "db"), str(tmp / "acks"),
                           "0", "0"], capture_output=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    db = LevelDB(tmp / "db")
    ref = Sequencer.open(db, SEP, genesis_root=genesis_root(db.nodes, WORK.oracle.address))
    out = script, _fills(ref), ref.head_root
    db.close()
    assert len(out[1]) == 80
    return out


@pytest.mark.parametrize("kill_at", [1, 3, 4, 8], ids=lambda k: f"at write {k} of the bursts")
def test_a_node_killed_inside_bursts_keeps_every_acknowledged_fill(
    tmp_path: Path, kill_at: int, burst_child: tuple[Path, list[bytes], bytes]
) -> None:
    script, expected, ref_root = burst_child
    acks = tmp_path / "acks"
    run = [sys.executable, str(script), str(tmp_path / "db"), str(acks)]
    acks.write_text("")
    first = subprocess.run([*run, str(kill_at), "0"], capture_output=True, timeout=120)
    assert first.returncode == -signal.SIGKILL, first.stderr.decode()
    acked = len(acks.read_text().split())

    # Every acknowledged burst is there; at most the burst in flight is there in part.
    db = LevelDB(tmp_path / "db")
    seq = Sequencer.open(db, SEP, SealPolicy(max_txs=25), genesis_root=genesis_root(
        db.nodes, WORK.oracle.address))  # fmt: skip
    fills = _fills(seq)
    assert 10 * acked <= len(fills) <= 10 * (acked + 1)
    assert fills == expected[: len(fills)]
    db.close()

    # Send the burst in flight and the rest again: the same batches as a run never killed.
    second = subprocess.run([*run, "0", str(acked)], capture_output=True, timeout=120)
    assert second.returncode == 0, second.stderr.decode()
    db = LevelDB(tmp_path / "db")
    seq = Sequencer.open(db, SEP, genesis_root=genesis_root(db.nodes, WORK.oracle.address))
    assert _fills(seq) == expected and seq.head_root == ref_root
    db.close()
