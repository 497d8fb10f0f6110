"""NodeCore: orders checked, matched and sequenced durably; refusals change nothing; the books
come back after a restart exactly as the state says. A burst of orders (``place_orders``) is
answered exactly as the same orders one by one, with one synced write; each signature is
recovered once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import rlp

from optirollup.codec import eip712
from optirollup.codec.tx import (
    CancelAll,
    Order,
    OrderFlags,
    SignedOrder,
    TxType,
    Withdraw,
    encode_tx,
)
from optirollup.executor import SealPolicy
from optirollup.executor.node import (
    MAX_ORDER_BURST,
    NodeCore,
    NodeError,
    OrderAck,
    _decode_resting,
    _resting_record,
)
from optirollup.hashing import keccak
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import genesis_root
from optirollup.testkit import Signer, Trader, perp_workload

SIGNER = Signer()
WORK = perp_workload(0, SIGNER)
T = 1_000
PRICE, LOT, TICK = 3_000_000_000, 100_000, 1_000
A, B, C = WORK.traders[0], WORK.traders[1], WORK.traders[2]


@dataclass
class Node:
    path: Path
    db: LevelDB
    core: NodeCore

    def reopen(self) -> None:
        self.db.close()
        self.db = LevelDB(self.path)
        self.core = NodeCore(self.db, SIGNER.separator, genesis_root=_genesis(self.db))


def _genesis(db: LevelDB) -> bytes:
    return genesis_root(db.nodes, WORK.oracle.address)


def _node_at(path: Path, policy: SealPolicy | None = None) -> Node:
    """Return a node at ``path`` with the market listed and priced and the traders funded."""
    db = LevelDB(path)
    core = NodeCore(db, SIGNER.separator, genesis_root=_genesis(db), policy=policy)
    for tx in WORK.txs[:2]:  # LIST_MARKET, ORACLE_UPDATE
        core.submit_tx(tx, batch_time=T, now=0)
    core.include_deposits(
        0, zip(WORK.deposit_hashes, WORK.txs[2:], strict=True), batch_time=T, now=0
    )
    return Node(path, db, core)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = _node_at(tmp_path / "db")
    yield n
    n.db.close()


def order(
    who: Trader, side: int, price: int = PRICE, size: int = 10 * LOT, nonce: int = 1, **kw: int
) -> SignedOrder:
    o = Order(who.address, 1, side, price, size, kw.get("fee_cap", 1_000), nonce,
              kw.get("expiry", 2**40), kw.get("flags", 0))  # fmt: skip
    return SIGNER.order(o, who.key)


def place(node: Node, signed: SignedOrder) -> object:
    return node.core.place_order(signed, batch_time=T, now=0)


def test_crossing_orders_fill_at_the_maker_price_and_show_in_the_account(node: Node) -> None:
    maker = place(node, order(A, 1, PRICE))  # sell 10 lots at PRICE
    assert maker.status == "resting" and maker.fills == ()  # type: ignore[attr-defined]
    taker = node.core.place_order(order(B, 0, PRICE + 5 * TICK, 4 * LOT), batch_time=T, now=0)
    assert taker.status == "filled" and taker.filled == 4 * LOT
    (fill,) = taker.fills
    assert fill.price == PRICE and fill.size == 4 * LOT
    assert node.core.account(B.address).positions[0].size == 4 * LOT
    assert node.core.account(A.address).positions[0].size == -4 * LOT
    (resting,) = node.core.account(A.address).open_orders
    assert resting.remaining == 6 * LOT
    assert node.core.book(1, 5).asks[0].size == 6 * LOT  # type: ignore[attr-defined]


def test_acknowledged_orders_and_fills_survive_a_restart(node: Node) -> None:
    place(node, order(A, 1, PRICE))
    place(node, order(B, 0, PRICE, 4 * LOT))
    place(node, order(C, 0, PRICE - TICK, 3 * LOT))  # rests on the bid side
    root = node.core.sequencer.state.root()
    book = node.core.book(1, 5)
    node.reopen()
    assert node.core.sequencer.state.root() == root
    assert node.core.book(1, 5) == book
    taker = node.core.place_order(order(B, 0, PRICE, 6 * LOT, nonce=2), batch_time=T, now=0)
    assert taker.filled == 6 * LOT  # the rest of A's order was still there


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: SignedOrder(order(A, 1).order, order(B, 1).signature), "bad_signature"),
        (lambda: SIGNER.order(Order(A.address, 9, 1, PRICE, LOT, 1_000, 1, 2**40), A.key),
         "unknown_market"),
        (lambda: order(A, 1, expiry=T), "expired"),
        (lambda: order(A, 1, price=PRICE + 1), "bad_tick"),
        (lambda: order(A, 1, size=LOT + 1), "bad_lot"),
        (lambda: order(A, 1, fee_cap=0), "fee_cap_too_low"),
        (lambda: order(Trader.of("unfunded"), 0), "insufficient_margin"),
        (lambda: order(A, 1, size=10**8 * LOT), "insufficient_margin"),
    ],
    ids=["foreign signature", "unknown market", "expired", "off tick", "off lot", "fee cap",
         "no collateral", "too large"],
)  # fmt: skip
def test_a_refused_order_gets_a_code_and_changes_nothing(
    node: Node, make: object, code: str
) -> None:
    root, book = node.core.sequencer.state.root(), node.core.book(1, 5)
    with pytest.raises(NodeError) as err:
        place(node, make())  # type: ignore[operator]
    assert err.value.code == code and 400 <= err.value.status < 500, err.value
    assert node.core.sequencer.state.root() == root and node.core.book(1, 5) == book


def test_the_same_order_twice_is_a_duplicate_and_post_only_never_takes(node: Node) -> None:
    signed = order(A, 1)
    place(node, signed)
    with pytest.raises(NodeError) as dup:
        place(node, signed)
    assert dup.value.code == "duplicate_order" and dup.value.status == 409
    with pytest.raises(NodeError) as post:
        place(node, order(B, 0, PRICE, flags=int(OrderFlags.POST_ONLY)))
    assert post.value.code == "post_only_would_cross"


def test_cancel_all_takes_the_orders_off_the_book_for_good(node: Node) -> None:
    place(node, order(A, 1, nonce=1))
    place(node, order(A, 1, PRICE + TICK, nonce=5))
    ack = node.core.cancel(
        encode_tx(SIGNER.sign(CancelAll(A.address, 3), A.key)), batch_time=T, now=0
    )
    assert ack.position >= 0
    assert [v.order.nonce for v in node.core.account(A.address).open_orders] == [5]
    node.reopen()
    assert [v.order.nonce for v in node.core.account(A.address).open_orders] == [5]
    with pytest.raises(NodeError) as err:
        place(node, order(A, 1, nonce=2))
    assert err.value.code == "cancelled"


def test_a_maker_the_state_refuses_is_dropped_and_the_taker_trades_with_the_next(
    node: Node,
) -> None:
    place(node, order(A, 1, PRICE, 10 * LOT))  # best ask
    place(node, order(C, 1, PRICE + TICK, 10 * LOT))
    # A withdraws nearly everything: its resting order can no longer be margined.
    acc = node.core.account(A.address)
    amount = acc.collateral - 10**6
    tx = encode_tx(SIGNER.sign(Withdraw(A.address, A.address, amount, acc.nonce), A.key))
    node.core.submit_tx(tx, batch_time=T, now=0)
    taker = node.core.place_order(order(B, 0, PRICE + TICK, 5 * LOT), batch_time=T, now=0)
    assert taker.filled == 5 * LOT
    assert {f.price for f in taker.fills} == {PRICE + TICK}  # C's order, not A's
    assert node.core.account(A.address).open_orders == ()


def test_fills_and_deposits_cannot_be_sent_directly_and_garbage_is_malformed(node: Node) -> None:
    with pytest.raises(NodeError) as fill:
        node.core.submit_tx(SIGNER.fill(order(A, 1), order(B, 0), LOT), batch_time=T, now=0)
    assert fill.value.code == "fill_not_allowed"
    with pytest.raises(NodeError) as junk:
        node.core.submit_tx(b"\x02\x00", batch_time=T, now=0)
    assert junk.value.code == "malformed" and junk.value.status == 400
    with pytest.raises(NodeError) as replay:
        node.core.submit_tx(WORK.txs[0], batch_time=T, now=0)
    assert replay.value.code == "market_exists"
    with pytest.raises(NodeError) as deposit:  # deposits come from the Vault's queue only
        node.core.submit_tx(WORK.txs[2], batch_time=T, now=0)
    assert deposit.value.code == "deposit_not_allowed"


def test_status_and_batches_follow_sealing_and_l1_progress(node: Node) -> None:
    place(node, order(A, 1))
    place(node, order(B, 0, size=LOT))
    record = node.core.sequencer.seal()
    assert record is not None
    (view,) = node.core.batches(0, 10)
    assert view.status == "sealed" and view.tx_count == len(record.txs)
    node.core.mark_posted(0, keccak(b"tx"))
    assert node.core.batches(0, 1)[0].status == "posted"
    node.core.mark_final(1)
    assert node.core.batches(0, 1)[0].status == "final"
    status = node.core.status()
    assert (status.head_batch, status.posted, status.final, status.deposits_known) == (1, 1, 1, 8)


def test_batches_l1_deleted_go_back_to_sealed_and_a_later_index_is_untouched(node: Node) -> None:
    for i in range(3):
        place(node, order(A, 1, nonce=10 + i))
        place(node, order(B, 0, size=LOT, nonce=10 + i))
        assert node.core.sequencer.seal() is not None
    for i in range(3):
        node.core.mark_posted(i, keccak(bytes([i])))
    node.core.mark_deleted(1, {b"runner/x": b"\x01"})
    assert [b.status for b in node.core.batches(0, 3)] == ["posted", "sealed", "sealed"]
    assert node.core.status().posted == 1
    assert node.db.get_meta(b"runner/x") == b"\x01"
    node.core.mark_deleted(2)  # beyond the posted count: nothing to do
    assert node.core.status().posted == 1
    node.core.mark_posted(1, keccak(b"again"))
    assert [b.status for b in node.core.batches(0, 3)] == ["posted", "posted", "sealed"]


# --- bursts (group commit) and the signature memo ------------------------------------------


def _burst() -> list[SignedOrder]:
    """Return orders that rest, fill partly and wholly, and get refused, in one sequence."""
    return [
        order(A, 1, PRICE),  # rests: sell 10 lots
        order(B, 0, PRICE + 5 * TICK, 4 * LOT),  # takes 4 from A
        SignedOrder(order(C, 0).order, order(B, 0).signature),  # bad signature
        order(C, 0, PRICE - TICK, 3 * LOT),  # rests on the bid
        order(B, 0, PRICE, 10 * LOT, nonce=2),  # takes A's 6, rests 4 at PRICE
        order(C, 0, PRICE - TICK, 3 * LOT),  # a duplicate of the resting bid
        order(A, 1, PRICE - TICK, 5 * LOT, nonce=2),  # takes B's 4, then 1 of C's 3
        order(C, 1, expiry=T),  # expired
        order(A, 0, PRICE + 9 * TICK, nonce=3, flags=int(OrderFlags.POST_ONLY)),  # rests
        order(B, 1, PRICE + 8 * TICK, nonce=3, flags=int(OrderFlags.POST_ONLY)),  # would cross
        order(C, 1, PRICE + 9 * TICK, 2 * LOT, nonce=4, flags=int(OrderFlags.IOC)),
    ]


def _outcome(result: object) -> object:
    if isinstance(result, NodeError):
        return (result.code, result.status, str(result))
    return result


def _one_by_one(node: Node, orders: list[SignedOrder]) -> list[object]:
    out: list[object] = []
    for signed in orders:
        try:
            out.append(node.core.place_order(signed, batch_time=T, now=0))
        except NodeError as err:
            out.append(err)
    return [_outcome(r) for r in out]


def _everything(node: Node) -> object:
    seq = node.core.sequencer
    return (seq.state.root(), seq.open_txs, seq.batch_count, node.core.engine.resting(),
            sorted(node.db.iter_meta(b"orders/")))  # fmt: skip


def test_a_burst_gives_the_same_answers_books_and_state_as_the_orders_one_by_one(
    tmp_path: Path,
) -> None:
    single, burst = _node_at(tmp_path / "single"), _node_at(tmp_path / "burst")
    try:
        expected = _one_by_one(single, _burst())
        got = burst.core.place_orders(_burst(), batch_time=T, now=0)
        assert [_outcome(r) for r in got] == expected
        codes = [r[0] for r in expected if isinstance(r, tuple)]
        assert codes == ["bad_signature", "duplicate_order", "expired", "post_only_would_cross"]
        assert _everything(burst) == _everything(single)
        burst.reopen()
        assert _everything(burst) == _everything(single)
    finally:
        single.db.close()
        burst.db.close()


def test_a_refused_order_in_a_burst_changes_nothing_for_the_others(tmp_path: Path) -> None:
    good = [*_burst()[:2], order(C, 1, PRICE + TICK, nonce=9)]
    bad = [SignedOrder(order(C, 0).order, order(B, 0).signature), order(A, 1, size=10**8 * LOT,
           nonce=8), order(A, 1, price=PRICE + 1, nonce=7), good[0]]  # fmt: skip
    clean, mixed = _node_at(tmp_path / "clean"), _node_at(tmp_path / "mixed")
    try:
        expected = clean.core.place_orders(good, batch_time=T, now=0)
        got = mixed.core.place_orders(
            [bad[0], good[0], bad[1], good[1], bad[2], bad[3], good[2]], batch_time=T, now=0
        )
        assert [got[i] for i in (1, 3, 6)] == expected  # same acks, same batch positions
        assert [r.code for r in got if isinstance(r, NodeError)] == [
            "bad_signature", "insufficient_margin", "bad_tick", "duplicate_order"
        ]  # fmt: skip
        assert _everything(mixed) == _everything(clean)
    finally:
        clean.db.close()
        mixed.db.close()


def test_a_burst_is_journaled_in_one_synced_write_and_survives_a_restart(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    real = node.db.write_batch

    def counting(nodes: dict[bytes, bytes], meta: dict[bytes, bytes | None]) -> None:
        writes.append(len(meta))
        real(nodes, meta)

    monkeypatch.setattr(node.db, "write_batch", counting)
    pairs = [(order(A, 1, PRICE, LOT, nonce=k), order(B, 0, PRICE, LOT, nonce=k))
             for k in range(1, 21)]  # fmt: skip
    results = node.core.place_orders([s for p in pairs for s in p], batch_time=T, now=0)
    assert [len(r.fills) for r in results if isinstance(r, OrderAck)] == [0, 1] * 20
    assert len(writes) == 1  # 20 FILLs and 20 resting records come and go: one write
    root, book = node.core.sequencer.state.root(), node.core.book(1, 5)
    node.reopen()
    assert node.core.sequencer.state.root() == root and node.core.book(1, 5) == book
    assert node.core.account(B.address).positions[0].size == 20 * LOT


def test_a_burst_that_fills_batches_seals_them_with_its_journal_and_recovers(
    tmp_path: Path,
) -> None:
    node = _node_at(tmp_path / "db", SealPolicy(max_txs=7))
    try:
        pairs = [(order(A, 1, PRICE, LOT, nonce=k), order(C, 0, PRICE, LOT, nonce=k))
                 for k in range(1, 16)]  # fmt: skip
        node.core.place_orders([s for p in pairs for s in p], batch_time=T, now=0)
        assert node.core.sequencer.batch_count >= 2
        before = _everything(node)
        node.reopen()
        assert _everything(node) == before
        txs = [
            tx
            for i in range(node.core.sequencer.batch_count)
            for tx in node.core.sequencer.batch(i).txs
        ] + list(node.core.sequencer.open_txs)
        assert sum(tx[0] == TxType.FILL for tx in txs) == 15
    finally:
        node.db.close()


def test_a_maker_the_state_refuses_inside_a_burst_is_dropped_as_one_by_one(
    tmp_path: Path,
) -> None:
    def run(node: Node, burst: bool) -> list[object]:
        place(node, order(A, 1, PRICE, 10 * LOT))
        acc = node.core.account(A.address)
        withdraw = Withdraw(A.address, A.address, acc.collateral - 10**6, acc.nonce)
        node.core.submit_tx(encode_tx(SIGNER.sign(withdraw, A.key)), batch_time=T, now=0)
        orders = [order(C, 1, PRICE + TICK, 10 * LOT), order(B, 0, PRICE + TICK, 5 * LOT),
                  order(C, 1, PRICE + 2 * TICK, LOT, nonce=2)]  # fmt: skip
        if burst:
            return [_outcome(r) for r in node.core.place_orders(orders, batch_time=T, now=0)]
        return _one_by_one(node, orders)

    single, burst = _node_at(tmp_path / "single"), _node_at(tmp_path / "burst")
    try:
        assert run(burst, True) == run(single, False)
        assert _everything(burst) == _everything(single)
        assert burst.core.account(A.address).open_orders == ()
        burst.reopen()
        assert _everything(burst) == _everything(single)
    finally:
        single.db.close()
        burst.db.close()


def test_too_many_orders_in_one_burst_are_refused_whole(node: Node) -> None:
    before = _everything(node)
    with pytest.raises(NodeError) as err:
        node.core.place_orders([order(A, 1)] * (MAX_ORDER_BURST + 1), batch_time=T, now=0)
    assert err.value.code == "too_many_orders"
    assert _everything(node) == before


def test_each_order_signature_is_recovered_once_for_its_check_and_its_fills(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []
    real = eip712.recover

    def counting(digest: bytes, signature: bytes) -> bytes:
        calls.append(digest)
        return real(digest, signature)

    monkeypatch.setattr(eip712, "recover", counting)
    maker, taker = order(A, 1, PRICE, 10 * LOT), order(B, 0, PRICE, 2 * LOT)
    node.core.recover_signers([maker])  # what the API does outside the lock
    place(node, maker)
    place(node, taker)
    place(node, order(C, 0, PRICE, 3 * LOT))  # the maker again, in a second FILL
    assert len(calls) == 3  # maker, taker, second taker: no FILL recovered anything again
    assert len(set(calls)) == 3


def test_recovering_signers_ahead_decides_nothing(node: Node) -> None:
    forged = SignedOrder(order(A, 1).order, order(B, 1).signature)
    before = _everything(node)
    node.core.recover_signers([forged, SignedOrder(order(A, 1).order, b"\x01" * 64)])
    assert _everything(node) == before
    with pytest.raises(NodeError) as err:
        place(node, forged)
    assert err.value.code == "bad_signature"


@pytest.mark.parametrize("seq", [0, 1, 127, 128, 255, 256, 2**40, 2**64 - 1])
def test_a_resting_record_is_the_rlp_of_the_order_and_its_arrival(seq: int) -> None:
    signed = order(A, 1)
    expected = rlp.encode([signed.order.encode() + signed.signature, seq])
    assert _resting_record(signed, seq) == expected
    assert _decode_resting(expected) == (signed, seq)
