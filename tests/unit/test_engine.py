"""The matching engine, rule by rule: priority, fill prices, flags, self-trade, expiry,
rejections, cancels, depth and restore.

One market (id 1): lot 100_000, tick 10_000, maker fee 200 ppm, taker fee 500 ppm. Prices are
written as ``px(n)`` = 3000 USDC + n ticks; sizes as ``lots(n)``. The engine never checks
signatures, so orders carry a dummy one here (tests/unit/test_engine_properties.py signs them
and applies the fills with the reference STF).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from optirollup.codec.tx import Fill, Order, OrderFlags, Side, SignedOrder
from optirollup.engine import (
    BadLot,
    BadMarketParams,
    BadOrderShape,
    BadTick,
    Cause,
    DuplicateOrder,
    Engine,
    EngineError,
    FeeCapTooLow,
    Level,
    MarketConflict,
    MarketMismatch,
    MarketParams,
    OrderAlreadyFilled,
    OrderBook,
    OrderExpired,
    OrderView,
    PostOnlyWouldCross,
    Removed,
    Resting,
    SequenceNotIncreasing,
    Status,
    UnknownMarket,
    UnknownOrder,
    reducible,
)
from optirollup.errors import OptiRollupError
from optirollup.state.leaves import Market
from optirollup.testkit import DEFAULT_DOMAIN, Trader

BUY, SELL = Side.BUY, Side.SELL
PO, RO, IOC = OrderFlags.POST_ONLY, OrderFlags.REDUCE_ONLY, OrderFlags.IOC
MKT, LOT, TICK = 1, 100_000, 10_000
PARAMS = MarketParams(LOT, TICK, maker_fee_ppm=200, taker_fee_ppm=500)
SEP = DEFAULT_DOMAIN.separator
SIG = b"\x01" * 65
NOW = 1_000
A, B, C = (Trader.of(f"engine-{x}").address for x in "abc")

_nonces = itertools.count(1)


def px(ticks: int) -> int:
    return 3_000_000_000 + ticks * TICK


def lots(n: int) -> int:
    return n * LOT


def order(
    who: bytes,
    side: int,
    price: int,
    size: int,
    flags: int = 0,
    *,
    expiry: int = 10**9,
    fee_cap: int = 1_000,
    market: int = MKT,
) -> SignedOrder:
    o = Order(who, market, side, price, size, fee_cap, next(_nonces), expiry, flags)
    return SignedOrder(o, SIG)


def flat(account: bytes, market: int) -> int:
    return 0


def holding(**by_label: int) -> Callable[[bytes, int], int]:
    """Return a position lookup: ``holding(a=3)`` is account A long 3 lots in every market."""
    table = {Trader.of(f"engine-{k}").address: lots(v) for k, v in by_label.items()}
    return lambda account, market: table.get(account, 0)


def new_engine() -> Engine:
    return Engine(SEP, {MKT: PARAMS})


def submit(e: Engine, so: SignedOrder, now: int = NOW, positions=flat, filled: int = 0):
    return e.submit(so, now=now, positions=positions, filled=filled)


def h(so: SignedOrder) -> bytes:
    return so.order.hash(SEP)


def book_state(e: Engine) -> list[tuple[bytes, int, int]]:
    return [(v.order_hash, v.filled, v.seq) for v in e.orders(MKT)]


# --------------------------------------------------------------------------- priority and prices


def test_a_buy_sweeps_asks_best_price_first_at_each_makers_price() -> None:
    e = new_engine()
    a2, a0, a1 = (
        order(A, SELL, px(2), lots(1)),
        order(B, SELL, px(0), lots(1)),
        order(C, SELL, px(1), lots(1)),
    )
    for so in (a2, a0, a1):
        submit(e, so)
    taker = order(A, BUY, px(5), lots(3))
    # A's own ask at px(2) is skipped (self-trade), so only two asks trade
    r = submit(e, taker)
    assert r.fills == (Fill(a0, taker, lots(1)), Fill(a1, taker, lots(1)))
    assert [f.maker.order.price for f in r.fills] == [px(0), px(1)]
    assert r.status is Status.RESTING and r.filled == lots(2)
    assert e.get(h(taker)).remaining == lots(1)  # type: ignore[union-attr]


def test_a_sell_sweeps_bids_highest_first() -> None:
    e = new_engine()
    bids = [order(B, BUY, px(p), lots(1)) for p in (-1, 1, 0)]
    for so in bids:
        submit(e, so)
    taker = order(A, SELL, px(-1), lots(3))
    r = submit(e, taker)
    assert [f.maker.order.price for f in r.fills] == [px(1), px(0), px(-1)]
    assert r.status is Status.FILLED and r.filled == lots(3)
    assert len(e.book(MKT)) == 0


def test_at_one_price_the_earliest_order_trades_first() -> None:
    e = new_engine()
    first, second = order(B, SELL, px(0), lots(2)), order(C, SELL, px(0), lots(2))
    submit(e, first)
    submit(e, second)
    taker = order(A, BUY, px(0), lots(3))
    r = submit(e, taker)
    assert r.fills == (Fill(first, taker, lots(2)), Fill(second, taker, lots(1)))
    assert e.get(h(second)).filled == lots(1)  # type: ignore[union-attr]


def test_a_partly_filled_maker_keeps_its_place_in_the_queue() -> None:
    e = new_engine()
    first, second = order(B, SELL, px(0), lots(3)), order(C, SELL, px(0), lots(3))
    submit(e, first)
    submit(e, second)
    submit(e, order(A, BUY, px(0), lots(1)))
    t2 = order(A, BUY, px(0), lots(1))
    assert submit(e, t2).fills == (Fill(first, t2, lots(1)),)


def test_the_fill_price_is_the_makers_even_when_the_taker_would_pay_more() -> None:
    e = new_engine()
    maker = order(B, SELL, px(0), lots(1))
    submit(e, maker)
    taker = order(A, BUY, px(50), lots(1))
    (fill,) = submit(e, taker).fills
    assert fill.maker == maker and fill.maker.order.price == px(0)


def test_an_order_that_does_not_cross_rests_without_fills() -> None:
    e = new_engine()
    submit(e, order(B, SELL, px(1), lots(1)))
    r = submit(e, order(A, BUY, px(0), lots(1)))
    assert r.fills == () and r.status is Status.RESTING
    assert e.depth(MKT, 5).bids == (Level(px(0), lots(1), 1),)


def test_each_accepted_submit_takes_the_next_arrival_number() -> None:
    e = new_engine()
    assert [submit(e, order(B, SELL, px(i), lots(1))).seq for i in range(3)] == [0, 1, 2]
    assert e.next_seq == 3


# --------------------------------------------------------------------------- flags


def test_ioc_trades_what_crosses_and_drops_the_rest() -> None:
    e = new_engine()
    submit(e, order(B, SELL, px(0), lots(1)))
    taker = order(A, BUY, px(0), lots(3), IOC)
    r = submit(e, taker)
    assert r.filled == lots(1) and r.status is Status.IOC_CANCELLED
    assert h(taker) not in e.book(MKT)


def test_ioc_that_crosses_nothing_is_dropped_without_fills() -> None:
    e = new_engine()
    r = submit(e, order(A, BUY, px(0), lots(1), IOC))
    assert r.fills == () and r.status is Status.IOC_CANCELLED and len(e.book(MKT)) == 0


def test_post_only_that_would_cross_is_rejected_and_changes_nothing() -> None:
    e = new_engine()
    maker = order(B, SELL, px(0), lots(1))
    submit(e, maker)
    before, seq = book_state(e), e.next_seq
    with pytest.raises(PostOnlyWouldCross, match=r"at 3000000000 would trade with order 0x"):
        submit(e, order(A, BUY, px(0), lots(1), PO))
    assert book_state(e) == before and e.next_seq == seq


def test_post_only_behind_the_best_price_rests() -> None:
    e = new_engine()
    submit(e, order(B, SELL, px(1), lots(1)))
    r = submit(e, order(A, BUY, px(0), lots(1), PO))
    assert r.status is Status.RESTING and r.fills == ()


@pytest.mark.parametrize(
    ("blocker", "positions"),
    [
        (order(A, SELL, px(0), lots(1)), flat),
        (order(B, SELL, px(0), lots(1), expiry=NOW), flat),
        (order(B, SELL, px(0), lots(1), RO), flat),
        (order(B, SELL, px(0), lots(1), RO), holding(b=-2)),
    ],
    ids=[
        "its_own_ask",
        "an_expired_ask",
        "a_reduce_only_ask_of_a_flat_account",
        "a_reduce_only_ask_of_a_short_account",
    ],
)
def test_post_only_rests_over_an_ask_it_could_not_trade_with(blocker, positions) -> None:
    e = new_engine()
    e.book(MKT).add(blocker, h(blocker), 0)
    r = submit(e, order(A, BUY, px(0), lots(1), PO), positions=positions)
    assert r.status is Status.RESTING


def test_reduce_only_taker_is_capped_at_its_position_and_the_rest_dropped() -> None:
    e = new_engine()
    bid = order(B, BUY, px(0), lots(10))
    submit(e, bid)
    taker = order(A, SELL, px(0), lots(5), RO)
    r = submit(e, taker, positions=holding(a=3))
    assert r.fills == (Fill(bid, taker, lots(3)),)
    assert r.status is Status.REDUCE_ONLY_CANCELLED and h(taker) not in e.book(MKT)


def test_reduce_only_taker_counts_its_own_fills_across_makers() -> None:
    e = new_engine()
    b1, b2 = order(B, BUY, px(1), lots(2)), order(C, BUY, px(0), lots(2))
    submit(e, b1)
    submit(e, b2)
    taker = order(A, SELL, px(0), lots(5), RO)
    r = submit(e, taker, positions=holding(a=3))
    assert r.fills == (Fill(b1, taker, lots(2)), Fill(b2, taker, lots(1)))
    assert r.status is Status.REDUCE_ONLY_CANCELLED


@pytest.mark.parametrize("position", [0, 2], ids=["from_a_flat_position", "that_would_grow_a_long"])
def test_reduce_only_buy_never_trades(position: int) -> None:
    e = new_engine()
    submit(e, order(B, SELL, px(0), lots(5)))
    r = submit(e, order(A, BUY, px(0), lots(1), RO), positions=holding(a=position))
    assert r.fills == () and r.status is Status.REDUCE_ONLY_CANCELLED


def test_reduce_only_that_does_not_cross_rests_like_a_take_profit() -> None:
    e = new_engine()
    r = submit(e, order(A, SELL, px(5), lots(5), RO), positions=flat)
    assert r.status is Status.RESTING


def test_reduce_only_taker_whose_remainder_no_longer_crosses_rests() -> None:
    e = new_engine()
    submit(e, order(B, BUY, px(0), lots(1)))
    taker = order(A, SELL, px(0), lots(3), RO)
    r = submit(e, taker, positions=holding(a=5))
    assert r.filled == lots(1) and r.status is Status.RESTING


def test_reduce_only_maker_trades_only_what_reduces_its_position() -> None:
    e = new_engine()
    ro_ask, ask = order(B, SELL, px(0), lots(5), RO), order(C, SELL, px(1), lots(5))
    submit(e, ro_ask)
    submit(e, ask)
    taker = order(A, BUY, px(1), lots(4))
    r = submit(e, taker, positions=holding(b=2))
    assert r.fills == (Fill(ro_ask, taker, lots(2)), Fill(ask, taker, lots(2)))
    # met again with nothing left to reduce: removed, not matched
    assert r.removed == ()
    t2 = order(A, BUY, px(1), lots(1))
    r2 = submit(e, t2, positions=holding(b=0))
    assert r2.fills == (Fill(ask, t2, lots(1)),)
    assert [(x.view.order_hash, x.cause) for x in r2.removed] == [(h(ro_ask), Cause.CANNOT_REDUCE)]
    assert h(ro_ask) not in e.book(MKT)


def test_reducible_is_the_opposing_position_rounded_down_to_the_lot() -> None:
    assert reducible(SELL, lots(3) + 5, LOT) == lots(3)
    assert reducible(BUY, -lots(2), LOT) == lots(2)
    assert reducible(BUY, lots(2), LOT) == 0
    assert reducible(SELL, -lots(2), LOT) == 0
    assert reducible(SELL, 0, LOT) == 0


# --------------------------------------------------------------------------- self-trade, expiry


def test_a_taker_skips_its_own_resting_orders_which_keep_their_place() -> None:
    e = new_engine()
    own, other = order(A, SELL, px(0), lots(1)), order(B, SELL, px(1), lots(1))
    submit(e, own)
    submit(e, other)
    taker = order(A, BUY, px(1), lots(2))
    r = submit(e, taker)
    assert r.fills == (Fill(other, taker, lots(1)),)
    assert e.get(h(own)).filled == 0  # type: ignore[union-attr]
    # the account now bids at px(1) above its own ask at px(0): the documented price of skipping
    assert e.depth(MKT, 1).bids[0].price > e.depth(MKT, 1).asks[0].price


def test_expired_makers_are_removed_when_met_and_never_matched() -> None:
    e = new_engine()
    stale, live = order(B, SELL, px(0), lots(1), expiry=NOW + 5), order(C, SELL, px(0), lots(1))
    submit(e, stale)
    submit(e, live)
    taker = order(A, BUY, px(0), lots(2))
    r = submit(e, taker, now=NOW + 5)  # expiry == now counts as expired (valid while now < expiry)
    assert r.fills == (Fill(live, taker, lots(1)),)
    assert r.removed == (Removed(OrderView(h(stale), stale, 0, 0), Cause.EXPIRED),)
    assert h(stale) not in e.book(MKT)


def test_an_order_expired_at_submit_is_rejected() -> None:
    e = new_engine()
    with pytest.raises(OrderExpired, match=r"expiry 1000 is not after now 1000"):
        submit(e, order(A, BUY, px(0), lots(1), expiry=NOW))


def test_purge_expired_removes_every_expired_order_in_arrival_order() -> None:
    e = new_engine()
    x1, keep, x2 = (
        order(B, SELL, px(i), lots(1), expiry=NOW + t) for i, t in [(2, 1), (1, 9), (0, 2)]
    )
    for so in (x1, keep, x2):
        submit(e, so)
    gone = e.purge_expired(NOW + 2)
    assert [r.view.order_hash for r in gone] == [h(x1), h(x2)]
    assert [v.order_hash for v in e.orders(MKT)] == [h(keep)]


# --------------------------------------------------------------------------- rejections


def _bad(**kw: int) -> SignedOrder:
    """Return A's buy of one lot at px(0), one field spoiled."""
    f = {"side": BUY, "price": px(0), "size": LOT, "flags": 0, "fee_cap": 1_000, "market": MKT}
    f.update(kw)
    return order(A, f["side"], f["price"], f["size"], f["flags"], fee_cap=f["fee_cap"],
                 market=f["market"])  # fmt: skip


REJECTIONS = [
    ("an_unlisted_market", _bad(market=9), 0, UnknownMarket,
     r"market 9 has no order book \(listed: 1\)"),
    ("side_2", _bad(side=2), 0, BadOrderShape, r"side 2 is neither"),
    ("an_unknown_flag_bit", _bad(flags=8), 0, BadOrderShape, r"flags 0x08 set bits outside"),
    ("post_only_with_ioc", _bad(flags=PO | IOC), 0, BadOrderShape, r"exclude each other"),
    ("price_0", _bad(price=0), 0, BadTick, r"price 0 is not a positive multiple of the tick 10000"),
    ("price_off_tick", _bad(price=px(0) + 1), 0, BadTick, r"price 3000000001 .* tick 10000"),
    ("size_0", _bad(size=0), 0, BadLot, r"size 0 is not a positive multiple of the lot 100000"),
    ("size_off_lot", _bad(size=LOT + 1), 0, BadLot, r"size 100001 .* lot 100000"),
    ("filled_off_lot", _bad(), 5, BadLot, r"filled 5 is not a non-negative multiple"),
    ("filled_negative", _bad(), -LOT, BadLot, r"filled -100000"),
    ("filled_to_the_size", _bad(), lots(1), OrderAlreadyFilled, r"filled 100000 of size 100000"),
    ("a_fee_cap_below_the_taker_fee", _bad(fee_cap=499), 0, FeeCapTooLow,
     r"fee cap 499 ppm < taker fee 500"),
    ("an_ioc_fee_cap_below_the_taker_fee", _bad(fee_cap=499, flags=IOC), 0, FeeCapTooLow,
     r"taker fee"),
    ("a_post_only_fee_cap_below_the_maker_fee", _bad(fee_cap=199, flags=PO), 0, FeeCapTooLow,
     r"fee cap 199 ppm < maker fee 200"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("so", "filled", "error", "message"),
    [r[1:] for r in REJECTIONS],
    ids=[f"rejects_{r[0]}" for r in REJECTIONS],
)
def test_submit(so, filled, error, message) -> None:
    e = new_engine()
    submit(e, order(B, SELL, px(0), lots(1)))
    before, seq = book_state(e), e.next_seq
    with pytest.raises(error, match=message):
        submit(e, so, filled=filled)
    assert book_state(e) == before and e.next_seq == seq


@pytest.mark.parametrize(
    ("flags", "fee_cap"),
    [(PO, 200), (IOC, 500), (0, 500)],
    ids=["post_only_needs_only_the_maker_fee", "ioc_needs_only_the_taker_fee", "plain_needs_both"],
)
def test_a_fee_cap_covering_the_roles_an_order_can_play_is_accepted(flags, fee_cap) -> None:
    assert submit(new_engine(), _bad(flags=flags, fee_cap=fee_cap)).status in (
        Status.RESTING,
        Status.IOC_CANCELLED,
    )


def test_an_order_already_resting_cannot_be_submitted_again() -> None:
    e = new_engine()
    so = order(A, BUY, px(0), lots(1))
    submit(e, so)
    with pytest.raises(DuplicateOrder, match=r"already rests on market 1"):
        submit(e, so)


def test_every_engine_error_is_an_optirollup_error() -> None:
    assert issubclass(EngineError, OptiRollupError)
    for cls in (UnknownMarket, BadOrderShape, PostOnlyWouldCross, UnknownOrder, BadTick):
        assert issubclass(cls, EngineError)


def test_a_book_rejects_an_order_of_another_market_and_a_stale_sequence() -> None:
    book = OrderBook(MKT, PARAMS)
    so = order(A, BUY, px(0), lots(1))
    book.submit(so, h(so), 5, now=NOW, positions=flat)
    with pytest.raises(MarketMismatch, match="is for market 2, not 1"):
        other = order(A, BUY, px(0), lots(1), market=2)
        book.submit(other, h(other), 6, now=NOW, positions=flat)
    with pytest.raises(SequenceNotIncreasing, match=r"arrival seq 5 is not above 5"):
        so2 = order(A, BUY, px(0), lots(1))
        book.submit(so2, h(so2), 5, now=NOW, positions=flat)


# --------------------------------------------------------------------------- partly filled orders


def test_an_order_partly_filled_in_the_state_trades_only_its_remainder() -> None:
    e = new_engine()
    submit(e, order(B, SELL, px(0), lots(10)))
    taker = order(A, BUY, px(0), lots(5))
    r = submit(e, taker, filled=lots(3), positions=flat)
    assert r.fills[0].size == lots(2) and r.filled == lots(5) and r.status is Status.FILLED


def test_a_resting_order_carries_its_initial_filled_amount() -> None:
    e = new_engine()
    so = order(A, BUY, px(0), lots(5))
    submit(e, so, filled=lots(2))
    v = e.get(h(so))
    assert v is not None and (v.filled, v.remaining) == (lots(2), lots(3))
    assert e.depth(MKT, 1).bids == (Level(px(0), lots(3), 1),)


# --------------------------------------------------------------------------- cancels


def test_cancel_removes_a_resting_order_and_a_second_cancel_is_unknown() -> None:
    e = new_engine()
    so = order(A, BUY, px(0), lots(2))
    submit(e, so)
    assert e.cancel(h(so)).order_hash == h(so)
    assert len(e.book(MKT)) == 0 and e.depth(MKT, 5).bids == ()
    with pytest.raises(UnknownOrder, match=r"does not rest on any book"):
        e.cancel(h(so))


def test_cancel_all_removes_the_accounts_orders_below_the_floor_only() -> None:
    e = new_engine()
    mine = [order(A, BUY, px(-i), lots(1)) for i in range(3)]
    theirs = order(B, BUY, px(0), lots(1))
    for so in (*mine, theirs):
        submit(e, so)
    floor = mine[2].order.nonce  # cancels the first two of A's orders
    gone = e.cancel_all(A, floor)
    assert [v.order_hash for v in gone] == [h(mine[0]), h(mine[1])]
    assert {v.order_hash for v in e.orders(MKT)} == {h(mine[2]), h(theirs)}
    assert [v.order_hash for v in e.orders(MKT, account=A)] == [h(mine[2])]


# --------------------------------------------------------------------------- depth


def test_depth_aggregates_levels_best_first_and_stops_at_the_asked_count() -> None:
    e = new_engine()
    for who, side, p, n in [
        (A, BUY, -1, 1), (B, BUY, -1, 2), (C, BUY, -2, 1), (A, BUY, -3, 1),
        (B, SELL, 1, 4), (C, SELL, 2, 1), (C, SELL, 1, 1),
    ]:  # fmt: skip
        submit(e, order(who, side, px(p), lots(n)))
    d = e.depth(MKT, 2)
    assert d.market == MKT
    assert d.bids == (Level(px(-1), lots(3), 2), Level(px(-2), lots(1), 1))
    assert d.asks == (Level(px(1), lots(5), 2), Level(px(2), lots(1), 1))
    assert e.book(MKT).best(BUY) == px(-1) and e.book(MKT).best(SELL) == px(1)


def test_depth_at_a_time_leaves_out_orders_expired_then() -> None:
    e = new_engine()
    submit(e, order(A, BUY, px(0), lots(1), expiry=NOW + 1))
    submit(e, order(B, BUY, px(-1), lots(1)))
    assert e.depth(MKT, 1, now=NOW + 1).bids == (Level(px(-1), lots(1), 1),)
    assert e.depth(MKT, 1).bids == (Level(px(0), lots(1), 1),)


# --------------------------------------------------------------------------- markets and restore


def test_listing_a_market_again_is_a_no_op_with_the_same_params_and_an_error_otherwise() -> None:
    e = new_engine()
    assert e.list_market(MKT, PARAMS) is e.book(MKT)
    with pytest.raises(MarketConflict, match="parameters never change"):
        e.list_market(MKT, MarketParams(LOT, TICK * 10))


@pytest.mark.parametrize(
    "args", [(0, 1), (1, 0), (1, 1, -1, 0)], ids=["lot_0", "tick_0", "negative_fee"]
)
def test_market_params_reject(args) -> None:
    with pytest.raises(BadMarketParams):
        MarketParams(*args)


def test_market_params_of_a_market_leaf_take_lot_tick_and_fees() -> None:
    m = Market(0, b"ETH-PERP".ljust(16, b"\0"), 0, 0, LOT, TICK, 100_000, 50_000, 200, 500, 10_000)
    assert MarketParams.of(m) == PARAMS


def test_a_restored_engine_has_the_same_book_and_matches_the_same_way() -> None:
    e = new_engine()
    for who, side, p, n, f in [
        (A, BUY, -1, 3, 0), (B, BUY, -1, 2, 0), (C, SELL, 1, 4, 0), (B, SELL, 1, 2, RO),
    ]:  # fmt: skip
        submit(e, order(who, side, px(p), lots(n), f))
    submit(e, order(A, SELL, px(-1), lots(1)))  # skips A's own bid, partly fills B's
    snapshot = e.resting()
    assert [r.seq for r in snapshot] == sorted(r.seq for r in snapshot)
    restored = Engine.restore(SEP, {MKT: PARAMS}, list(reversed(snapshot)), next_seq=e.next_seq)
    assert restored.orders(MKT) == e.orders(MKT) and restored.next_seq == e.next_seq
    taker = order(C, BUY, px(2), lots(10))
    pos = holding(b=-1)
    assert submit(restored, taker, positions=pos) == submit(e, taker, positions=pos)
    assert restored.orders(MKT) == e.orders(MKT)


def test_restore_keeps_the_next_sequence_above_every_restored_one() -> None:
    so = order(A, BUY, px(0), lots(1))
    e = Engine.restore(SEP, {MKT: PARAMS}, [Resting(so, 0, 41)], next_seq=7)
    assert e.next_seq == 42
    assert submit(e, order(B, BUY, px(0), lots(1))).seq == 42


@pytest.mark.parametrize(
    ("entries", "error"),
    [
        ([(order(A, BUY, px(0), lots(1)), 0, 3), (order(B, BUY, px(0), lots(1)), 0, 3)],
         SequenceNotIncreasing),
        ([(order(A, BUY, px(0), lots(1), market=2), 0, 0)], UnknownMarket),
        ([(order(A, BUY, px(0), lots(1)), lots(1), 0)], OrderAlreadyFilled),
    ],
    ids=["two_orders_with_one_arrival_number", "an_unlisted_market", "a_filled_order"],
)  # fmt: skip
def test_restore_rejects(entries, error) -> None:
    with pytest.raises(error):
        Engine.restore(SEP, {MKT: PARAMS}, entries)


def test_restore_rejects_the_same_order_twice() -> None:
    so = order(A, BUY, px(0), lots(1))
    with pytest.raises(DuplicateOrder):
        Engine.restore(SEP, {MKT: PARAMS}, [(so, 0, 1), (so, 0, 2)])


def test_books_of_different_markets_are_independent() -> None:
    e = Engine(SEP, {MKT: PARAMS, 2: MarketParams(10**6, 100)})
    submit(e, order(B, SELL, px(0), lots(1)))
    r = submit(e, order(A, BUY, px(0), 10**6, market=2))
    assert r.fills == () and r.status is Status.RESTING
    assert e.markets() == (1, 2) and len(e.book(1)) == len(e.book(2)) == 1
