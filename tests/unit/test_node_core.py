"""NodeCore: orders checked, matched and sequenced durably; refusals change nothing; the books
come back after a restart exactly as the state says."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from optirollup.codec.tx import CancelAll, Order, OrderFlags, SignedOrder, Withdraw, encode_tx
from optirollup.executor.node import NodeCore, NodeError
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


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    db = LevelDB(tmp_path / "db")
    core = NodeCore(db, SIGNER.separator, genesis_root=_genesis(db))
    for tx in WORK.txs[:2]:  # LIST_MARKET, ORACLE_UPDATE
        core.submit_tx(tx, batch_time=T, now=0)
    core.include_deposits(
        0, zip(WORK.deposit_hashes, WORK.txs[2:], strict=True), batch_time=T, now=0
    )
    n = Node(tmp_path / "db", db, core)
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
