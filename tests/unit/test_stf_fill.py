"""FILL: effects with hand-computed numbers, every rejection (with its party), check order,
order flags, partial fills, the position limit and the risk-reducing margin rule.

World (see conftest): ETH-PERP (market 1) lot 100_000, tick 10_000, im 10%, mm 5%, fees
200/500 ppm, price 3_000_000_000; alice, bob, carol hold 10_000_000_000 each. Default orders:
alice (maker) sells 1 ETH at 3_000_000_000, bob (taker) buys 1 ETH with limit 3_000_000_000,
fee cap 1_000 ppm, nonce 1, expiry 10**9; a fill defaults to 0.5 ETH. The batch time is 1_000.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from optirollup.codec.tx import Fill, OrderFlags, Side, SignedOrder, TxType, encode_tx
from optirollup.state.leaves import Account, OrderState, Position
from optirollup.stf import Party, Reason, Receipt
from optirollup.testkit import EXAMPLE_CALL
from optirollup.units import MAX_BALANCE, MAX_COLLATERAL, MAX_POSITION_SIZE

M, T, N = Party.MAKER, Party.TAKER, Party.NONE
BUY, SELL = Side.BUY, Side.SELL
POST_ONLY, REDUCE_ONLY, IOC = OrderFlags.POST_ONLY, OrderFlags.REDUCE_ONLY, OrderFlags.IOC


# --------------------------------------------------------------------------- valid fills


def test_a_fill_where_the_taker_buys_moves_notional_fees_and_positions_exactly(rollup) -> None:
    r = rollup
    mo, to = r.maker(), r.taker(price=3_010_000_000)  # the taker's limit is better than needed
    out = r.apply(r.fill(mo, to, 50_000_000))
    assert out.receipt == Receipt(TxType.FILL)
    assert out.changed
    # 0.5 ETH × 3000 (the maker's price) = 1_500_000_000; maker fee 200 ppm = 300_000,
    # taker fee 500 ppm = 750_000
    assert r.account(r.alice) == Account(
        r.alice.address,
        collateral=10_000_000_000 + 1_500_000_000 - 300_000,
        positions=(Position(1, -50_000_000, 0),),
    )
    assert r.account(r.bob) == Account(
        r.bob.address,
        collateral=10_000_000_000 - 1_500_000_000 - 750_000,
        positions=(Position(1, 50_000_000, 0),),
    )
    assert r.system().fee_balance == 300_000 + 750_000
    assert r.order_state(mo) == OrderState(50_000_000, False)
    assert r.order_state(to) == OrderState(50_000_000, False)


def test_a_fill_where_the_taker_sells_is_the_mirror_image(rollup) -> None:
    r = rollup
    mo = r.maker(side=BUY, price=2_990_000_000)
    to = r.taker(side=SELL, price=2_980_000_000)
    r.ok(r.fill(mo, to, 25_000_000))
    # 0.25 ETH × 2990 = 747_500_000; maker fee 149_500; taker fee 373_750
    assert r.account(r.alice) == Account(
        r.alice.address,
        collateral=10_000_000_000 - 747_500_000 - 149_500,
        positions=(Position(1, 25_000_000, 0),),
    )
    assert r.account(r.bob) == Account(
        r.bob.address,
        collateral=10_000_000_000 + 747_500_000 - 373_750,
        positions=(Position(1, -25_000_000, 0),),
    )
    assert r.system().fee_balance == 149_500 + 373_750


def test_fees_are_rounded_up_and_credited_to_the_fee_balance(rollup) -> None:
    r = rollup
    p = 3_000_010_000
    r.ok(r.fill(r.maker(price=p), r.taker(price=p), 100_000))
    # one lot: 100_000 × 3_000_010_000 / 1e8 = 3_000_010;
    # maker 3_000_010 × 200 / 1e6 = 600.002 → 601; taker × 500 / 1e6 = 1_500.005 → 1_501
    assert r.account(r.alice).collateral == 10_000_000_000 + 3_000_010 - 601
    assert r.account(r.bob).collateral == 10_000_000_000 - 3_000_010 - 1_501
    assert r.system().fee_balance == 601 + 1_501


def test_fees_accumulate_in_the_fee_balance_across_fills(rollup) -> None:
    r = rollup
    r.ok(r.fill(size=50_000_000), r.fill(r.maker(), r.taker(who=r.carol), 10_000_000))
    # second fill: 0.1 ETH × 3000 = 300_000_000; fees 60_000 + 150_000
    assert r.system().fee_balance == 1_050_000 + 60_000 + 150_000


def test_a_fee_cap_equal_to_the_market_fee_is_accepted(rollup) -> None:
    r = rollup
    assert r.apply(r.fill(r.maker(fee_cap_ppm=200), r.taker(fee_cap_ppm=500))).receipt.ok


def test_partial_fills_are_tracked_per_order_hash_until_the_order_is_full(rollup) -> None:
    r = rollup
    mo = r.maker()  # 1 ETH
    bob_order, carol_order = r.taker(), r.taker(who=r.carol)
    r.ok(r.fill(mo, bob_order, 30_000_000))
    r.ok(r.fill(mo, carol_order, 30_000_000))
    assert r.order_state(mo) == OrderState(60_000_000, False)
    r.ok(r.fill(mo, bob_order, 40_000_000))  # exactly the remaining 0.4 ETH
    assert r.order_state(mo) == OrderState(100_000_000, False)
    assert r.order_state(bob_order) == OrderState(70_000_000, False)
    assert r.order_state(carol_order) == OrderState(30_000_000, False)
    assert r.account(r.alice).positions == (Position(1, -100_000_000, 0),)
    out = r.apply(r.fill(mo, bob_order, 100_000))
    assert out.receipt == Receipt(TxType.FILL, Reason.OVERFILL, M)
    assert not out.changed
    # another order of alice (a different nonce, so a different hash) starts from zero
    assert r.apply(r.fill(r.maker(nonce=2), bob_order, 30_000_000)).receipt.ok


def test_the_same_fill_can_be_applied_again_while_both_orders_have_size_left(rollup) -> None:
    r = rollup
    tx = r.fill(size=50_000_000)
    r.ok(tx, tx)
    out = r.apply(tx)
    assert out.receipt == Receipt(TxType.FILL, Reason.OVERFILL, M)


def test_a_fill_settles_funding_on_both_accounts_first(rollup) -> None:
    r = rollup
    r.ok(r.fill(size=50_000_000), r.funding_tick(100, 150))  # Δindex 300_000_000_000
    r.ok(r.fill(r.maker(), r.taker(), 50_000_000))
    # alice (short 0.5) receives 150_000, bob (long 0.5) pays 150_000, then the second fill
    assert r.account(r.alice) == Account(
        r.alice.address,
        collateral=11_499_700_000 + 150_000 + 1_500_000_000 - 300_000,
        positions=(Position(1, -100_000_000, 300_000_000_000),),
    )
    assert r.account(r.bob) == Account(
        r.bob.address,
        collateral=8_499_250_000 - 150_000 - 1_500_000_000 - 750_000,
        positions=(Position(1, 100_000_000, 300_000_000_000),),
    )


def test_closing_a_position_removes_it_from_the_account(rollup) -> None:
    r = rollup
    r.ok(r.fill(size=50_000_000))
    # bob sells 0.5 back to carol at 3000: + 1_500_000_000 − 750_000
    r.ok(r.fill(r.maker(who=r.carol, side=BUY), r.taker(side=SELL, nonce=2), 50_000_000))
    assert r.account(r.bob) == Account(
        r.bob.address, collateral=10_000_000_000 - 2 * 750_000, positions=()
    )


def test_a_post_only_maker_and_an_ioc_taker_fill_normally(rollup) -> None:
    r = rollup
    assert r.apply(r.fill(r.maker(flags=POST_ONLY), r.taker(flags=IOC))).receipt.ok


def test_a_reduce_only_taker_may_close_its_position_exactly(rollup) -> None:
    r = rollup
    r.ok(r.fill(size=50_000_000))  # bob +0.5
    closing = r.taker(side=SELL, nonce=2, flags=REDUCE_ONLY)
    r.ok(r.fill(r.maker(who=r.carol, side=BUY), closing, 50_000_000))
    assert r.account(r.bob).positions == ()


def test_a_reduce_only_maker_may_shrink_its_position(rollup) -> None:
    r = rollup
    r.ok(r.fill(size=50_000_000))  # alice −0.5
    shrinking = r.maker(side=BUY, nonce=2, flags=REDUCE_ONLY)
    r.ok(r.fill(shrinking, r.taker(who=r.carol, side=SELL), 20_000_000))
    assert r.account(r.alice).positions == (Position(1, -30_000_000, 0),)


def test_an_order_expiring_one_second_after_the_batch_time_still_fills(rollup) -> None:
    r = rollup
    assert r.apply(r.fill(r.maker(expiry=1_001), r.taker(expiry=1_001))).receipt.ok


def test_the_fee_balance_may_reach_its_maximum_exactly(rollup) -> None:
    r = rollup
    r.put_system(replace(r.system(), fee_balance=MAX_BALANCE - 1_050_000))
    r.ok(r.fill(size=50_000_000))
    assert r.system().fee_balance == MAX_BALANCE


# --------------------------------------------------------------------------- rejections


def _cancel_maker(r) -> bytes:
    r.ok(r.cancel(r.alice, r.maker().hash(r.ctx.separator)))
    return r.fill()


def _cancel_taker(r) -> bytes:
    r.ok(r.cancel(r.bob, r.taker().hash(r.ctx.separator)))
    return r.fill()


def _floor_maker(r) -> bytes:
    r.ok(r.cancel_all(r.alice, 2))  # kills alice's orders with nonce < 2
    return r.fill()


def _floor_taker(r) -> bytes:
    r.ok(r.cancel_all(r.bob, 2))
    return r.fill()


def _option_market(r) -> bytes:
    call = replace(EXAMPLE_CALL, option_mark=120_000_000)
    r.put_market(7, call)
    return r.fill(r.maker(market=7, price=120_000_000), r.taker(market=7, price=120_000_000))


def _unpriced_market(r) -> bytes:
    r.ok(r.list_market(2))
    return r.fill(r.maker(market=2), r.taker(market=2))


def _maker_already_filled(r) -> bytes:
    r.ok(r.fill(size=80_000_000))
    return r.fill(r.maker(), r.taker(who=r.carol), 30_000_000)


def _taker_already_filled(r) -> bytes:
    r.ok(r.fill(size=80_000_000))
    return r.fill(r.maker(who=r.carol), r.taker(), 30_000_000)


def _reduce_only_maker_that_would_grow(r) -> bytes:
    r.ok(r.fill(size=50_000_000))  # alice −0.5; selling more grows the short
    return r.fill(r.maker(nonce=2, flags=REDUCE_ONLY), r.taker(who=r.carol), 10_000_000)


def _reduce_only_taker_that_would_flip(r) -> bytes:
    r.ok(r.fill(size=50_000_000))  # bob +0.5; selling 0.6 would leave −0.1
    return r.fill(
        r.maker(who=r.carol, side=BUY), r.taker(side=SELL, nonce=2, flags=REDUCE_ONLY), 60_000_000
    )


def _maker_collateral_over_max(r) -> bytes:
    r.put_account(Account(r.alice.address, collateral=MAX_COLLATERAL - 1_000_000_000))
    return r.fill()  # alice receives 1_500_000_000 − 300_000


def _taker_collateral_over_max(r) -> bytes:
    r.put_account(Account(r.bob.address, collateral=MAX_COLLATERAL - 1_000_000_000))
    return r.fill(r.maker(side=BUY), r.taker(side=SELL))  # bob receives 1_500_000_000 − 750_000


def _taker_collateral_under_minus_max(r) -> bytes:
    r.put_account(Account(r.bob.address, collateral=-MAX_COLLATERAL + 1_000_000_000))
    return r.fill()  # bob pays 1_500_000_000 + 750_000


def _maker_position_over_max(r) -> bytes:
    r.put_account(
        Account(
            r.alice.address,
            collateral=10**20,
            positions=(Position(1, -(MAX_POSITION_SIZE - 10_000), 0),),
        )
    )
    return r.fill(size=100_000)


def _taker_position_over_max(r) -> bytes:
    r.put_account(
        Account(
            r.bob.address,
            collateral=10**20,
            positions=(Position(1, MAX_POSITION_SIZE - 10_000, 0),),
        )
    )
    return r.fill(size=100_000)


def _fee_balance_over_max(r) -> bytes:
    r.put_system(replace(r.system(), fee_balance=MAX_BALANCE))
    return r.fill()


def _poor(r, who, amount: int = 100_000_000) -> None:
    r.ok(r.deposit(who, amount))


def _maker_under_initial_margin(r) -> bytes:
    # dave: 100 USDC; selling 0.5 ETH leaves equity 100_000_000 − 300_000 = 99_700_000
    # against an initial requirement of 150_000_000
    _poor(r, r.dave)
    return r.fill(r.maker(who=r.dave), r.taker(), 50_000_000)


def _taker_under_initial_margin(r) -> bytes:
    # dave: 100 USDC; buying 0.5 ETH leaves equity 99_250_000 < 150_000_000
    _poor(r, r.dave)
    return r.fill(r.maker(), r.taker(who=r.dave), 50_000_000)


def _swapped_maker_signature(r) -> bytes:
    # alice's signature of her order with nonce 99, attached to her order with nonce 1
    other = r.maker(nonce=99)
    mo, to = r.maker(), r.taker()
    return encode_tx(
        Fill(
            SignedOrder(mo, r.order_signature(other)),
            SignedOrder(to, r.order_signature(to)),
            50_000_000,
        )
    )


def _swapped_taker_signature(r) -> bytes:
    # bob's signature of his order with limit 3010, attached to his order with limit 3000
    other = r.taker(price=3_010_000_000)
    mo, to = r.maker(), r.taker()
    return encode_tx(
        Fill(
            SignedOrder(mo, r.order_signature(mo)),
            SignedOrder(to, r.order_signature(other)),
            50_000_000,
        )
    )


FILL_REJECTIONS = [
    # 1. shape
    pytest.param(lambda r: r.fill(r.maker(side=2)), Reason.BAD_ORDER, M, id="maker_side_2"),
    pytest.param(lambda r: r.fill(r.maker(side=255)), Reason.BAD_ORDER, M, id="maker_side_255"),
    pytest.param(lambda r: r.fill(r.maker(flags=8)), Reason.BAD_ORDER, M, id="maker_flag_bit_3"),
    pytest.param(lambda r: r.fill(r.maker(flags=0x80)), Reason.BAD_ORDER, M, id="maker_flag_bit_7"),
    pytest.param(
        lambda r: r.fill(r.maker(flags=POST_ONLY | IOC)),
        Reason.BAD_ORDER,
        M,
        id="maker_post_only_and_ioc",
    ),
    pytest.param(lambda r: r.fill(None, r.taker(side=2)), Reason.BAD_ORDER, T, id="taker_side_2"),
    pytest.param(
        lambda r: r.fill(None, r.taker(flags=16)), Reason.BAD_ORDER, T, id="taker_flag_bit_4"
    ),
    pytest.param(
        lambda r: r.fill(None, r.taker(flags=POST_ONLY | IOC | REDUCE_ONLY)),
        Reason.BAD_ORDER,
        T,
        id="taker_post_only_and_ioc",
    ),
    pytest.param(
        lambda r: r.fill(None, r.taker(market=2)), Reason.MARKET_MISMATCH, N, id="different_markets"
    ),
    pytest.param(
        lambda r: r.fill(None, r.taker(side=SELL)), Reason.SAME_SIDE, N, id="both_selling"
    ),
    pytest.param(
        lambda r: r.fill(r.maker(side=BUY), r.taker(side=BUY)),
        Reason.SAME_SIDE,
        N,
        id="both_buying",
    ),
    pytest.param(
        lambda r: r.fill(None, r.taker(who=r.alice)), Reason.SELF_TRADE, N, id="self_trade"
    ),
    # 2. signatures: a signature over a different order of the same owner
    pytest.param(
        _swapped_maker_signature, Reason.BAD_SIGNATURE, M, id="maker_signature_of_another_order"
    ),
    pytest.param(
        _swapped_taker_signature, Reason.BAD_SIGNATURE, T, id="taker_signature_of_another_order"
    ),
    # 3. market
    pytest.param(
        lambda r: r.fill(r.maker(market=2), r.taker(market=2)),
        Reason.MARKET_NOT_FOUND,
        N,
        id="unlisted_market",
    ),
    pytest.param(_option_market, Reason.UNSUPPORTED, N, id="option_market"),
    pytest.param(_unpriced_market, Reason.NO_PRICE, N, id="market_without_price"),
    # 4. roles
    pytest.param(lambda r: r.fill(r.maker(flags=IOC)), Reason.IOC_MAKER, M, id="ioc_maker"),
    pytest.param(
        lambda r: r.fill(None, r.taker(flags=POST_ONLY)), Reason.POST_ONLY, T, id="post_only_taker"
    ),
    # 5. expiry and cancellation
    pytest.param(
        lambda r: r.fill(r.maker(expiry=1_000)),
        Reason.EXPIRED,
        M,
        id="maker_expiring_at_the_batch_time",
    ),
    pytest.param(lambda r: r.fill(r.maker(expiry=1)), Reason.EXPIRED, M, id="maker_long_expired"),
    pytest.param(
        lambda r: r.fill(None, r.taker(expiry=1_000)),
        Reason.EXPIRED,
        T,
        id="taker_expiring_at_the_batch_time",
    ),
    pytest.param(_cancel_maker, Reason.CANCELLED, M, id="maker_order_cancelled"),
    pytest.param(_cancel_taker, Reason.CANCELLED, T, id="taker_order_cancelled"),
    pytest.param(_floor_maker, Reason.CANCELLED, M, id="maker_nonce_below_the_cancel_floor"),
    pytest.param(_floor_taker, Reason.CANCELLED, T, id="taker_nonce_below_the_cancel_floor"),
    # 6. tick and lot
    pytest.param(
        lambda r: r.fill(r.maker(price=3_000_005_000)),
        Reason.BAD_TICK,
        M,
        id="maker_price_off_tick",
    ),
    pytest.param(lambda r: r.fill(r.maker(price=0)), Reason.BAD_TICK, M, id="maker_price_zero"),
    pytest.param(
        lambda r: r.fill(None, r.taker(price=3_000_000_001)),
        Reason.BAD_TICK,
        T,
        id="taker_price_off_tick",
    ),
    pytest.param(
        lambda r: r.fill(None, r.taker(price=0)), Reason.BAD_TICK, T, id="taker_price_zero"
    ),
    pytest.param(
        lambda r: r.fill(r.maker(size=150_000), None, 100_000),
        Reason.BAD_LOT,
        M,
        id="maker_size_off_lot",
    ),
    pytest.param(lambda r: r.fill(r.maker(size=0)), Reason.BAD_LOT, M, id="maker_size_zero"),
    pytest.param(
        lambda r: r.fill(None, r.taker(size=100_001), 100_000),
        Reason.BAD_LOT,
        T,
        id="taker_size_off_lot",
    ),
    pytest.param(lambda r: r.fill(None, r.taker(size=0)), Reason.BAD_LOT, T, id="taker_size_zero"),
    pytest.param(lambda r: r.fill(size=150_000), Reason.BAD_LOT, N, id="fill_size_off_lot"),
    pytest.param(lambda r: r.fill(size=0), Reason.BAD_LOT, N, id="fill_size_zero"),
    # 7. remaining size
    pytest.param(
        lambda r: r.fill(r.maker(size=100_000), None, 200_000),
        Reason.OVERFILL,
        M,
        id="fill_larger_than_the_maker_order",
    ),
    pytest.param(_maker_already_filled, Reason.OVERFILL, M, id="maker_order_mostly_filled"),
    pytest.param(
        lambda r: r.fill(None, r.taker(size=100_000), 200_000),
        Reason.OVERFILL,
        T,
        id="fill_larger_than_the_taker_order",
    ),
    pytest.param(_taker_already_filled, Reason.OVERFILL, T, id="taker_order_mostly_filled"),
    # 8. price
    pytest.param(
        lambda r: r.fill(None, r.taker(price=2_999_990_000)),
        Reason.PRICE_NOT_CROSSING,
        N,
        id="buyer_limit_below_the_maker_price",
    ),
    pytest.param(
        lambda r: r.fill(
            r.maker(side=BUY, price=2_990_000_000), r.taker(side=SELL, price=2_990_010_000)
        ),
        Reason.PRICE_NOT_CROSSING,
        N,
        id="seller_limit_above_the_maker_price",
    ),
    # 9. fee caps
    pytest.param(
        lambda r: r.fill(r.maker(fee_cap_ppm=199)),
        Reason.FEE_CAP,
        M,
        id="maker_cap_below_the_maker_fee",
    ),
    pytest.param(
        lambda r: r.fill(None, r.taker(fee_cap_ppm=499)),
        Reason.FEE_CAP,
        T,
        id="taker_cap_below_the_taker_fee",
    ),
    # 11. deltas
    pytest.param(
        lambda r: r.fill(r.maker(flags=REDUCE_ONLY)),
        Reason.REDUCE_ONLY,
        M,
        id="reduce_only_maker_without_a_position",
    ),
    pytest.param(
        _reduce_only_maker_that_would_grow,
        Reason.REDUCE_ONLY,
        M,
        id="reduce_only_maker_that_would_grow",
    ),
    pytest.param(
        lambda r: r.fill(None, r.taker(flags=REDUCE_ONLY)),
        Reason.REDUCE_ONLY,
        T,
        id="reduce_only_taker_without_a_position",
    ),
    pytest.param(
        _reduce_only_taker_that_would_flip,
        Reason.REDUCE_ONLY,
        T,
        id="reduce_only_taker_that_would_flip",
    ),
    # 12. ranges
    pytest.param(_maker_collateral_over_max, Reason.RANGE, M, id="maker_collateral_over_max"),
    pytest.param(_maker_position_over_max, Reason.RANGE, M, id="maker_position_over_max"),
    pytest.param(_taker_collateral_over_max, Reason.RANGE, T, id="taker_collateral_over_max"),
    pytest.param(
        _taker_collateral_under_minus_max, Reason.RANGE, T, id="taker_collateral_under_minus_max"
    ),
    pytest.param(_taker_position_over_max, Reason.RANGE, T, id="taker_position_over_max"),
    pytest.param(_fee_balance_over_max, Reason.RANGE, N, id="fee_balance_over_max"),
    # 13. margin
    pytest.param(
        _maker_under_initial_margin, Reason.INSUFFICIENT_MARGIN, M, id="maker_under_initial_margin"
    ),
    pytest.param(
        _taker_under_initial_margin, Reason.INSUFFICIENT_MARGIN, T, id="taker_under_initial_margin"
    ),
]


@pytest.mark.parametrize(("build", "reason", "party"), FILL_REJECTIONS)
def test_an_invalid_fill_is_rejected_for_the_right_party_and_changes_nothing(
    rollup, build: Callable[..., bytes], reason: Reason, party: Party
) -> None:
    tx = build(rollup)
    out = rollup.apply(tx)
    assert out.receipt == Receipt(TxType.FILL, reason, party)
    assert not out.changed


@pytest.mark.parametrize("party", [M, T], ids=["maker", "taker"])
def test_a_fill_with_a_bad_order_signature_is_rejected_for_that_party(
    rollup, bad_sig: str, party: Party
) -> None:
    r = rollup
    tx = r.fill(maker_sig=bad_sig) if party is M else r.fill(taker_sig=bad_sig)
    out = r.apply(tx)
    assert out.receipt == Receipt(TxType.FILL, Reason.BAD_SIGNATURE, party)
    assert not out.changed


def test_a_fill_that_would_leave_the_taker_under_initial_margin_is_rejected(rollup) -> None:
    r = rollup
    _poor(r, r.dave, 200_000_000)
    # 200 USDC: buying 0.5 ETH leaves equity 199_250_000 ≥ 150_000_000 — accepted;
    # buying 0.2 ETH more needs 210_000_000 against equity 199_250_000 − 300_000 = 198_950_000
    r.ok(r.fill(r.maker(), r.taker(who=r.dave), 50_000_000))
    out = r.apply(r.fill(r.maker(), r.taker(who=r.dave, nonce=2), 20_000_000))
    assert out.receipt == Receipt(TxType.FILL, Reason.INSUFFICIENT_MARGIN, T)
    assert not out.changed


# --------------------------------------------------------------------------- check order


def _expired_taker_and_cancelled_maker(r) -> bytes:
    r.ok(r.cancel(r.alice, r.maker().hash(r.ctx.separator)))
    return r.fill(r.maker(), r.taker(expiry=5))


def _cancelled_taker_and_maker_off_tick(r) -> bytes:
    mo = r.maker(price=3_000_005_000)
    r.ok(r.cancel(r.bob, r.taker(price=3_000_010_000).hash(r.ctx.separator)))
    return r.fill(mo, r.taker(price=3_000_010_000))


def _both_makers_poor(r) -> bytes:
    _poor(r, r.dave)
    _poor(r, r.mallory)
    return r.fill(r.maker(who=r.dave), r.taker(who=r.mallory), 50_000_000)


def _reduce_only_and_under_margined(r) -> bytes:
    _poor(r, r.dave)
    return r.fill(r.maker(), r.taker(who=r.dave, flags=REDUCE_ONLY), 50_000_000)


def _out_of_range_and_under_margined(r) -> bytes:
    r.put_account(Account(r.bob.address, collateral=-MAX_COLLATERAL + 1))
    return r.fill()


FILL_ORDER = [
    pytest.param(
        lambda r: r.fill(r.maker(side=2), r.taker(side=2)),
        Reason.BAD_ORDER,
        M,
        id="maker_bad_order_before_taker_bad_order",
    ),
    pytest.param(
        lambda r: r.fill(None, r.taker(flags=8, market=2)),
        Reason.BAD_ORDER,
        T,
        id="bad_order_before_market_mismatch",
    ),
    pytest.param(
        lambda r: r.fill(None, r.taker(market=2, side=SELL)),
        Reason.MARKET_MISMATCH,
        N,
        id="market_mismatch_before_same_side",
    ),
    pytest.param(
        lambda r: r.fill(None, r.taker(who=r.alice, side=SELL)),
        Reason.SAME_SIDE,
        N,
        id="same_side_before_self_trade",
    ),
    pytest.param(
        lambda r: r.fill(None, r.taker(who=r.alice), taker_sig="foreign"),
        Reason.SELF_TRADE,
        N,
        id="self_trade_before_bad_signature",
    ),
    pytest.param(
        lambda r: r.fill(maker_sig="foreign", taker_sig="all_zero"),
        Reason.BAD_SIGNATURE,
        M,
        id="maker_signature_before_taker_signature",
    ),
    pytest.param(
        lambda r: r.fill(r.maker(market=2), r.taker(market=2), taker_sig="high_s"),
        Reason.BAD_SIGNATURE,
        T,
        id="bad_signature_before_market_not_found",
    ),
    pytest.param(
        lambda r: r.fill(r.maker(market=2, flags=IOC), r.taker(market=2)),
        Reason.MARKET_NOT_FOUND,
        N,
        id="market_not_found_before_ioc_maker",
    ),
    pytest.param(
        lambda r: r.fill(r.maker(flags=IOC), r.taker(flags=POST_ONLY)),
        Reason.IOC_MAKER,
        M,
        id="ioc_maker_before_post_only_taker",
    ),
    pytest.param(
        lambda r: r.fill(r.maker(expiry=1), r.taker(flags=POST_ONLY)),
        Reason.POST_ONLY,
        T,
        id="post_only_before_expired",
    ),
    pytest.param(
        _expired_taker_and_cancelled_maker,
        Reason.EXPIRED,
        T,
        id="any_expiry_before_any_cancellation",
    ),
    pytest.param(
        _cancelled_taker_and_maker_off_tick, Reason.CANCELLED, T, id="cancelled_before_bad_tick"
    ),
    pytest.param(
        lambda r: r.fill(r.maker(size=150_000), r.taker(price=3_000_000_001), 100_000),
        Reason.BAD_TICK,
        T,
        id="taker_bad_tick_before_maker_bad_lot",
    ),
    pytest.param(
        lambda r: r.fill(r.maker(size=100_000), None, 150_000),
        Reason.BAD_LOT,
        N,
        id="fill_bad_lot_before_overfill",
    ),
    pytest.param(
        lambda r: r.fill(r.maker(size=100_000), r.taker(price=1_000_000_000), 200_000),
        Reason.OVERFILL,
        M,
        id="overfill_before_price_not_crossing",
    ),
    pytest.param(
        lambda r: r.fill(r.maker(fee_cap_ppm=0), r.taker(price=1_000_000_000)),
        Reason.PRICE_NOT_CROSSING,
        N,
        id="price_not_crossing_before_fee_cap",
    ),
    pytest.param(
        lambda r: r.fill(r.maker(flags=REDUCE_ONLY), r.taker(fee_cap_ppm=0)),
        Reason.FEE_CAP,
        T,
        id="fee_cap_before_reduce_only",
    ),
    pytest.param(
        _reduce_only_and_under_margined,
        Reason.REDUCE_ONLY,
        T,
        id="reduce_only_before_insufficient_margin",
    ),
    pytest.param(
        _out_of_range_and_under_margined, Reason.RANGE, T, id="range_before_insufficient_margin"
    ),
    pytest.param(
        _both_makers_poor, Reason.INSUFFICIENT_MARGIN, M, id="maker_margin_before_taker_margin"
    ),
]


@pytest.mark.parametrize(("build", "reason", "party"), FILL_ORDER)
def test_the_earlier_fill_check_decides_when_two_fail(
    rollup, build: Callable[..., bytes], reason: Reason, party: Party
) -> None:
    out = rollup.apply(build(rollup))
    assert out.receipt == Receipt(TxType.FILL, reason, party)
    assert not out.changed


# --------------------------------------------------------------------------- position limit


@pytest.fixture
def eight_positions(rollup):
    """Return the world with markets 2–9 listed and priced, alice short and bob long one lot in
    each of markets 1–8 (eight positions each, the maximum)."""
    r = rollup
    for m in range(2, 10):
        r.ok(
            r.list_market(m, symbol=f"M{m}-PERP".encode()),
            r.oracle_update(3_000_000_000, 100, market=m),
        )
    for m in range(1, 9):
        r.ok(r.fill(r.maker(market=m), r.taker(market=m), 100_000))
    assert [p.market for p in r.account(r.alice).positions] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [p.market for p in r.account(r.bob).positions] == [1, 2, 3, 4, 5, 6, 7, 8]
    return r


def test_a_maker_opening_a_ninth_market_is_too_many_positions(eight_positions) -> None:
    r = eight_positions
    out = r.apply(r.fill(r.maker(market=9), r.taker(who=r.carol, market=9), 100_000))
    assert out.receipt == Receipt(TxType.FILL, Reason.TOO_MANY_POSITIONS, M)
    assert not out.changed


def test_a_taker_opening_a_ninth_market_is_too_many_positions(eight_positions) -> None:
    r = eight_positions
    mo = r.maker(who=r.carol, side=BUY, market=9)
    out = r.apply(r.fill(mo, r.taker(who=r.alice, side=SELL, market=9), 100_000))
    assert out.receipt == Receipt(TxType.FILL, Reason.TOO_MANY_POSITIONS, T)
    assert not out.changed


def test_an_account_with_eight_positions_may_still_trade_in_one_of_them(eight_positions) -> None:
    r = eight_positions
    assert r.apply(r.fill(r.maker(market=8), r.taker(who=r.carol, market=8), 100_000)).receipt.ok
    assert r.account(r.alice).position(8) == -200_000


def test_closing_one_of_eight_positions_makes_room_for_a_new_market(eight_positions) -> None:
    r = eight_positions
    r.ok(r.fill(r.maker(who=r.carol), r.taker(who=r.alice), 100_000))  # alice buys back market 1
    assert 1 not in [p.market for p in r.account(r.alice).positions]
    assert r.apply(r.fill(r.maker(market=9), r.taker(who=r.carol, market=9), 100_000)).receipt.ok
    assert [p.market for p in r.account(r.alice).positions] == [2, 3, 4, 5, 6, 7, 8, 9]


# --------------------------------------------------------------------------- risk-reducing rule


@pytest.fixture
def dave_long(rollup):
    """Return the world where dave (200 USDC) bought 0.5 ETH at 3000 from alice.

    dave's collateral is 200_000_000 − 1_500_000_000 − 750_000 = −1_300_750_000.
    """
    r = rollup
    _poor(r, r.dave, 200_000_000)
    r.ok(r.fill(r.maker(), r.taker(who=r.dave), 50_000_000))
    assert r.account(r.dave) == Account(
        r.dave.address, collateral=-1_300_750_000, positions=(Position(1, 50_000_000, 0),)
    )
    return r


@pytest.fixture
def dave_under_initial(dave_long):
    """At 2800: equity −1_300_750_000 + 1_400_000_000 = 99_250_000; initial 140_000_000;
    maintenance 70_000_000; shortfall (mm − equity) −29_250_000."""
    r = dave_long
    r.ok(r.oracle_update(2_800_000_000, 200))
    out = r.apply(r.withdraw(r.dave, 1))
    assert out.receipt.reason is Reason.INSUFFICIENT_MARGIN  # really under initial margin
    return r


@pytest.fixture
def dave_under_maintenance(dave_long):
    """At 2700: equity −1_300_750_000 + 1_350_000_000 = 49_250_000; initial 135_000_000;
    maintenance 67_500_000; shortfall 18_250_000."""
    r = dave_long
    r.ok(r.oracle_update(2_700_000_000, 200))
    return r


def _dave_sells(r, size: int, price: int) -> bytes:
    """dave (taker) sells ``size`` to carol, who bids ``price`` for 2 ETH."""
    mo = r.maker(who=r.carol, side=BUY, price=price, size=200_000_000)
    return r.fill(mo, r.taker(who=r.dave, side=SELL, price=price, nonce=2), size)


def test_an_under_margined_taker_may_reduce_at_the_mark_price(dave_under_initial) -> None:
    r = dave_under_initial
    out = r.apply(_dave_sells(r, 10_000_000, 2_800_000_000))
    assert out.receipt.ok
    # +280_000_000 − fee 140_000; equity −1_020_890_000 + 1_120_000_000 = 99_110_000 is still
    # under initial 112_000_000, but the shortfall went from −29_250_000 to −43_110_000
    assert r.account(r.dave) == Account(
        r.dave.address,
        collateral=-1_300_750_000 + 280_000_000 - 140_000,
        positions=(Position(1, 40_000_000, 0),),
    )


def test_an_under_margined_maker_may_reduce_at_the_mark_price(dave_under_initial) -> None:
    r = dave_under_initial
    mo = r.maker(who=r.dave, side=SELL, price=2_800_000_000, nonce=2)
    out = r.apply(r.fill(mo, r.taker(who=r.carol, price=2_800_000_000), 10_000_000))
    assert out.receipt.ok
    # maker fee 280_000_000 × 200 ppm = 56_000
    assert r.account(r.dave).collateral == -1_300_750_000 + 280_000_000 - 56_000


def test_an_under_margined_account_may_not_increase_its_position(dave_under_initial) -> None:
    r = dave_under_initial
    mo = r.maker(who=r.carol, price=2_800_000_000)
    out = r.apply(r.fill(mo, r.taker(who=r.dave, price=2_800_000_000, nonce=2), 10_000_000))
    # equity 99_110_000 against initial 168_000_000, and 0.5 → 0.6 does not reduce
    assert out.receipt == Receipt(TxType.FILL, Reason.INSUFFICIENT_MARGIN, T)
    assert not out.changed


def test_an_under_margined_account_may_not_reduce_at_a_price_that_grows_the_shortfall(
    dave_under_initial,
) -> None:
    r = dave_under_initial
    out = r.apply(_dave_sells(r, 10_000_000, 1_000_000_000))
    # +100_000_000 − 50_000: equity −1_200_800_000 + 1_120_000_000 = −80_800_000;
    # shortfall 56_000_000 + 80_800_000 = 136_800_000 > −29_250_000
    assert out.receipt == Receipt(TxType.FILL, Reason.INSUFFICIENT_MARGIN, T)
    assert not out.changed


def test_an_account_under_maintenance_may_reduce_if_the_shortfall_shrinks(
    dave_under_maintenance,
) -> None:
    r = dave_under_maintenance
    out = r.apply(_dave_sells(r, 5_000_000, 2_700_000_000))
    assert out.receipt.ok
    # +135_000_000 − 67_500: equity −1_165_817_500 + 1_215_000_000 = 49_182_500 < initial
    # 121_500_000; shortfall 60_750_000 − 49_182_500 = 11_567_500 ≤ 18_250_000
    assert r.account(r.dave).collateral == -1_300_750_000 + 135_000_000 - 67_500
    assert r.account(r.dave).positions == (Position(1, 45_000_000, 0),)


def test_an_under_margined_account_may_not_flip_even_if_the_shortfall_shrinks(
    dave_under_maintenance,
) -> None:
    r = dave_under_maintenance
    out = r.apply(_dave_sells(r, 95_000_000, 2_700_000_000))
    # +2_565_000_000 − 1_282_500 = 1_262_967_500; −0.45 ETH = −1_215_000_000 ⇒ equity 47_967_500
    # < initial 121_500_000; shortfall 60_750_000 − 47_967_500 = 12_782_500 ≤ 18_250_000, but
    # +0.5 → −0.45 is a flip, not a reduction
    assert out.receipt == Receipt(TxType.FILL, Reason.INSUFFICIENT_MARGIN, T)
    assert not out.changed


def test_an_account_under_maintenance_may_close_its_position(dave_under_maintenance) -> None:
    r = dave_under_maintenance
    r.ok(_dave_sells(r, 50_000_000, 2_700_000_000))
    # +1_350_000_000 − 675_000
    assert r.account(r.dave) == Account(r.dave.address, collateral=48_575_000, positions=())
