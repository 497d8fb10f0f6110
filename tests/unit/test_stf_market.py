"""LIST_MARKET, ORACLE_UPDATE and FUNDING_TICK: effects, every rejection reason, check order.

World (see conftest): ETH-PERP is market 1 (lot 100_000, tick 10_000, im 100_000, mm 50_000,
fees 200/500 ppm, funding cap 10_000 ppm), priced 3_000_000_000 at time 100, funding index 0 at
time 0; the batch time is 1_000. Option markets cannot be listed yet, so the tests that need one
write its leaf directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from optirollup.codec.tx import TxType
from optirollup.state.leaves import Account, Market, Position
from optirollup.stf import Reason, Receipt
from optirollup.testkit import EXAMPLE_CALL
from optirollup.units import MAX_FUNDING_INDEX

CALL = EXAMPLE_CALL

ETH_PERP = Market(
    kind=0,
    symbol=b"ETH-PERP".ljust(16, b"\x00"),
    strike=0,
    expiry=0,
    lot_size=100_000,
    tick_size=10_000,
    im_ppm=100_000,
    mm_ppm=50_000,
    maker_fee_ppm=200,
    taker_fee_ppm=500,
    max_funding_ppm=10_000,
    oracle_price=3_000_000_000,
    option_mark=0,
    oracle_time=100,
    funding_index=0,
    funding_time=0,
    settlement_price=0,
)


def test_the_world_lists_eth_perp_with_its_oracle_price(rollup) -> None:
    assert rollup.market(1) == ETH_PERP


# --------------------------------------------------------------------------- LIST_MARKET


def test_listing_a_market_writes_its_parameters_with_no_price_and_no_funding(genesis) -> None:
    out = genesis.apply(
        genesis.list_market(
            2,
            symbol=b"BTC-PERP",
            lot_size=1_000,
            tick_size=100_000,
            im_ppm=50_000,
            mm_ppm=30_000,
            maker_fee_ppm=0,
            taker_fee_ppm=700,
            max_funding_ppm=5_000,
        )
    )
    assert out.receipt == Receipt(TxType.LIST_MARKET)
    assert out.changed
    assert genesis.market(2) == Market(
        kind=0,
        symbol=b"BTC-PERP\x00\x00\x00\x00\x00\x00\x00\x00",
        strike=0,
        expiry=0,
        lot_size=1_000,
        tick_size=100_000,
        im_ppm=50_000,
        mm_ppm=30_000,
        maker_fee_ppm=0,
        taker_fee_ppm=700,
        max_funding_ppm=5_000,
        oracle_price=0,
        option_mark=0,
        oracle_time=0,
        funding_index=0,
        funding_time=0,
        settlement_price=0,
    )


@pytest.mark.parametrize("market_id", [0, 2, 2**32 - 1], ids=["id_zero", "id_two", "id_u32_max"])
def test_any_unused_market_id_can_be_listed(genesis, market_id: int) -> None:
    assert genesis.apply(genesis.list_market(market_id)).receipt.ok
    assert genesis.market(market_id) is not None


VALID_EDGES = [
    pytest.param({"im_ppm": 1_000_000, "mm_ppm": 999_999}, id="initial_margin_of_100_percent"),
    pytest.param({"im_ppm": 2, "mm_ppm": 1}, id="smallest_margins"),
    pytest.param({"maker_fee_ppm": 100_000, "taker_fee_ppm": 100_000}, id="fees_at_the_cap"),
    pytest.param({"max_funding_ppm": 1}, id="smallest_funding_cap"),
    pytest.param({"max_funding_ppm": 100_000}, id="largest_funding_cap"),
    pytest.param({"lot_size": 1, "tick_size": 100_000_000}, id="lot_one_tick_one_size_scale"),
    pytest.param({"lot_size": 100_000_000, "tick_size": 1}, id="lot_one_size_scale_tick_one"),
    pytest.param({"lot_size": 400, "tick_size": 250_000}, id="lot_times_tick_a_multiple"),
]


@pytest.mark.parametrize("params", VALID_EDGES)
def test_market_parameters_at_the_edge_of_their_range_are_accepted(genesis, params: dict) -> None:
    assert genesis.apply(genesis.list_market(2, **params)).receipt.ok


BAD_PARAMS = [
    pytest.param({"strike": 1}, id="perp_with_a_strike"),
    pytest.param({"expiry": 1}, id="perp_with_an_expiry"),
    pytest.param({"lot_size": 0}, id="zero_lot"),
    pytest.param({"tick_size": 0}, id="zero_tick"),
    pytest.param({"lot_size": 100_000, "tick_size": 1_001}, id="lot_times_tick_not_whole_units"),
    pytest.param({"mm_ppm": 0}, id="zero_maintenance"),
    pytest.param({"im_ppm": 50_000, "mm_ppm": 50_000}, id="maintenance_equal_to_initial"),
    pytest.param({"im_ppm": 50_000, "mm_ppm": 60_000}, id="maintenance_above_initial"),
    pytest.param({"im_ppm": 1_000_001, "mm_ppm": 50_000}, id="initial_above_100_percent"),
    pytest.param({"maker_fee_ppm": 100_001}, id="maker_fee_over_the_cap"),
    pytest.param({"taker_fee_ppm": 100_001}, id="taker_fee_over_the_cap"),
    pytest.param({"max_funding_ppm": 0}, id="zero_funding_cap"),
    pytest.param({"max_funding_ppm": 100_001}, id="funding_cap_over_the_maximum"),
]


@pytest.mark.parametrize("params", BAD_PARAMS)
def test_a_market_with_parameters_out_of_range_is_rejected(genesis, params: dict) -> None:
    out = genesis.apply(genesis.list_market(2, **params))
    assert out.receipt == Receipt(TxType.LIST_MARKET, Reason.BAD_MARKET_PARAMS)
    assert not out.changed


@pytest.mark.parametrize("kind", [1, 2, 3, 255], ids=["call", "put", "unknown_3", "unknown_255"])
def test_listing_anything_but_a_perpetual_is_unsupported(genesis, kind: int) -> None:
    out = genesis.apply(genesis.list_market(2, kind=kind))
    assert out.receipt == Receipt(TxType.LIST_MARKET, Reason.UNSUPPORTED)
    assert not out.changed


def test_listing_an_existing_market_id_is_rejected(rollup) -> None:
    out = rollup.apply(rollup.list_market(1, symbol=b"OTHER"))
    assert out.receipt == Receipt(TxType.LIST_MARKET, Reason.MARKET_EXISTS)
    assert not out.changed
    assert rollup.market(1) == ETH_PERP


def test_a_listing_with_a_bad_signature_is_rejected(genesis, bad_sig: str) -> None:
    out = genesis.apply(genesis.list_market(2, sig=bad_sig))
    assert out.receipt == Receipt(TxType.LIST_MARKET, Reason.BAD_SIGNATURE)
    assert not out.changed


def test_a_listing_signed_by_a_trader_instead_of_the_oracle_is_rejected(genesis) -> None:
    out = genesis.apply(genesis.list_market(2, by=genesis.alice))
    assert out.receipt.reason is Reason.BAD_SIGNATURE


LIST_ORDER = [
    pytest.param(
        lambda r: r.list_market(1, kind=1, sig="foreign"),
        Reason.BAD_SIGNATURE,
        id="bad_signature_before_market_exists",
    ),
    pytest.param(
        lambda r: r.list_market(1, kind=1),
        Reason.MARKET_EXISTS,
        id="market_exists_before_unsupported",
    ),
    pytest.param(
        lambda r: r.list_market(2, kind=1, strike=3_000_000_000),
        Reason.UNSUPPORTED,
        id="unsupported_before_bad_market_params",
    ),
    pytest.param(
        lambda r: r.list_market(1, lot_size=0),
        Reason.MARKET_EXISTS,
        id="market_exists_before_bad_market_params",
    ),
]


# --------------------------------------------------------------------------- ORACLE_UPDATE


def test_an_oracle_update_sets_the_price_and_time_and_nothing_else(rollup) -> None:
    out = rollup.apply(rollup.oracle_update(3_100_000_000, 200))
    assert out.receipt == Receipt(TxType.ORACLE_UPDATE)
    assert out.changed
    assert rollup.market(1) == replace(ETH_PERP, oracle_price=3_100_000_000, oracle_time=200)


def test_an_oracle_update_may_be_stamped_with_the_batch_time(rollup) -> None:
    assert rollup.apply(rollup.oracle_update(2_900_000_000, 1_000)).receipt.ok
    assert rollup.market(1).oracle_time == 1_000


def test_an_oracle_update_prices_a_newly_listed_market(rollup) -> None:
    rollup.ok(rollup.list_market(2), rollup.oracle_update(60_000_000_000, 1, market=2))
    m = rollup.market(2)
    assert (m.oracle_price, m.oracle_time) == (60_000_000_000, 1)


def test_an_oracle_update_of_an_option_sets_its_mark(rollup) -> None:
    rollup.put_market(7, CALL)
    rollup.ok(rollup.oracle_update(3_050_000_000, 200, market=7, mark=150_000_000))
    assert rollup.market(7) == replace(
        CALL, oracle_price=3_050_000_000, option_mark=150_000_000, oracle_time=200
    )


ORACLE_REJECTIONS = [
    pytest.param(
        lambda r: r.oracle_update(3_000_000_000, 200, by=r.alice),
        Reason.BAD_SIGNATURE,
        id="signed_by_a_trader",
    ),
    pytest.param(
        lambda r: r.oracle_update(3_000_000_000, 200, market=2),
        Reason.MARKET_NOT_FOUND,
        id="unlisted_market",
    ),
    pytest.param(
        lambda r: r.oracle_update(3_000_000_000, 100),
        Reason.STALE_TIME,
        id="same_time_as_the_last_update",
    ),
    pytest.param(
        lambda r: r.oracle_update(3_000_000_000, 99),
        Reason.STALE_TIME,
        id="older_than_the_last_update",
    ),
    pytest.param(
        lambda r: r.oracle_update(3_000_000_000, 1_001),
        Reason.STALE_TIME,
        id="after_the_batch_time",
    ),
    pytest.param(lambda r: r.oracle_update(0, 200), Reason.BAD_PRICE, id="zero_price"),
    pytest.param(
        lambda r: r.oracle_update(3_000_000_000, 200, mark=1),
        Reason.BAD_PRICE,
        id="option_mark_on_a_perp",
    ),
    pytest.param(
        lambda r: (r.put_market(7, CALL), r.oracle_update(3_000_000_000, 200, market=7))[1],
        Reason.BAD_PRICE,
        id="option_without_a_mark",
    ),
]


@pytest.mark.parametrize(("build", "reason"), ORACLE_REJECTIONS)
def test_an_invalid_oracle_update_is_rejected_and_changes_nothing(
    rollup, build: Callable[..., bytes], reason: Reason
) -> None:
    tx = build(rollup)
    out = rollup.apply(tx)
    assert out.receipt == Receipt(TxType.ORACLE_UPDATE, reason)
    assert not out.changed


def test_an_oracle_update_with_a_bad_signature_is_rejected(rollup, bad_sig: str) -> None:
    out = rollup.apply(rollup.oracle_update(3_100_000_000, 200, sig=bad_sig))
    assert out.receipt == Receipt(TxType.ORACLE_UPDATE, Reason.BAD_SIGNATURE)
    assert not out.changed


ORACLE_ORDER = [
    pytest.param(
        lambda r: r.oracle_update(0, 0, market=2, sig="foreign"),
        Reason.BAD_SIGNATURE,
        id="bad_signature_before_market_not_found",
    ),
    pytest.param(
        lambda r: r.oracle_update(0, 0, market=2),
        Reason.MARKET_NOT_FOUND,
        id="market_not_found_before_stale_time",
    ),
    pytest.param(
        lambda r: r.oracle_update(0, 100, mark=5),
        Reason.STALE_TIME,
        id="stale_time_before_bad_price",
    ),
]


# --------------------------------------------------------------------------- FUNDING_TICK


def test_a_funding_tick_adds_rate_times_price_to_the_index(rollup) -> None:
    out = rollup.apply(rollup.funding_tick(100, 150))
    assert out.receipt == Receipt(TxType.FUNDING_TICK)
    assert out.changed
    # 100 ppm × 3_000_000_000 = 300_000_000_000
    assert rollup.market(1) == replace(ETH_PERP, funding_index=300_000_000_000, funding_time=150)


def test_funding_ticks_accumulate_with_either_sign(rollup) -> None:
    rollup.ok(rollup.funding_tick(100, 150), rollup.funding_tick(-50, 300))
    # 300_000_000_000 − 50 × 3_000_000_000
    assert rollup.market(1).funding_index == 150_000_000_000
    rollup.ok(rollup.funding_tick(-80, 400))
    assert rollup.market(1).funding_index == 150_000_000_000 - 240_000_000_000


def test_a_funding_tick_uses_the_latest_oracle_price(rollup) -> None:
    rollup.ok(rollup.oracle_update(3_000_010_000, 200), rollup.funding_tick(7, 250))
    assert rollup.market(1).funding_index == 21_000_070_000  # 7 × 3_000_010_000


@pytest.mark.parametrize("rate", [10_000, -10_000], ids=["positive_cap", "negative_cap"])
def test_a_funding_rate_exactly_at_the_cap_is_accepted(rollup, rate: int) -> None:
    rollup.ok(rollup.funding_tick(rate, 1_000))
    assert rollup.market(1).funding_index == rate * 3_000_000_000


def test_the_funding_index_may_reach_its_maximum_exactly(rollup) -> None:
    rollup.put_market(1, replace(ETH_PERP, funding_index=MAX_FUNDING_INDEX - 3_000_000_000))
    rollup.ok(rollup.funding_tick(1, 150))
    assert rollup.market(1).funding_index == MAX_FUNDING_INDEX


def test_funding_is_charged_to_longs_rounded_up_and_credited_to_shorts_rounded_down(rollup) -> None:
    r = rollup
    r.ok(r.oracle_update(3_000_010_000, 200))
    # one lot at 3000.01: value 100_000 × 3_000_010_000 / 1e8 = 3_000_010;
    # fees: maker ⌈600.002⌉ = 601, taker ⌈1500.005⌉ = 1_501
    r.trade(r.maker(price=3_000_010_000), r.taker(price=3_000_010_000), 100_000)
    assert r.account(r.alice).collateral == 10_000_000_000 + 3_000_010 - 601
    assert r.account(r.bob).collateral == 10_000_000_000 - 3_000_010 - 1_501
    r.ok(r.funding_tick(7, 300))  # Δindex 21_000_070_000: one lot owes 21.00007
    r.ok(r.withdraw(r.alice, 1_000_000), r.withdraw(r.bob, 1_000_000))  # both settle
    assert r.account(r.alice) == Account(
        r.alice.address,
        collateral=10_002_999_409 + 21 - 1_000_000,
        nonce=1,
        positions=(Position(1, -100_000, 21_000_070_000),),
    )
    assert r.account(r.bob) == Account(
        r.bob.address,
        collateral=9_996_998_489 - 22 - 1_000_000,
        nonce=1,
        positions=(Position(1, 100_000, 21_000_070_000),),
    )


def test_negative_funding_is_charged_to_shorts(rollup) -> None:
    r = rollup
    r.trade(r.maker(), r.taker(), 50_000_000)  # alice −0.5 ETH, bob +0.5 ETH
    r.ok(r.funding_tick(-100, 150))  # Δindex −300_000_000_000: 0.5 ETH moves 150_000
    r.ok(r.withdraw(r.alice, 1), r.withdraw(r.bob, 1))
    assert r.account(r.alice).collateral == 11_499_700_000 - 150_000 - 1
    assert r.account(r.bob).collateral == 8_499_250_000 + 150_000 - 1


def _unpriced_market(r, rate: int) -> bytes:
    r.ok(r.list_market(2))
    return r.funding_tick(rate, 150, market=2)


FUNDING_REJECTIONS = [
    pytest.param(
        lambda r: r.funding_tick(100, 150, by=r.alice),
        Reason.BAD_SIGNATURE,
        id="signed_by_a_trader",
    ),
    pytest.param(
        lambda r: r.funding_tick(100, 150, market=2), Reason.MARKET_NOT_FOUND, id="unlisted_market"
    ),
    pytest.param(
        lambda r: (r.put_market(7, CALL), r.funding_tick(100, 150, market=7))[1],
        Reason.UNSUPPORTED,
        id="option_market",
    ),
    pytest.param(
        lambda r: r.funding_tick(100, 0),
        Reason.STALE_TIME,
        id="same_time_as_the_last_tick_at_genesis",
    ),
    pytest.param(
        lambda r: (r.ok(r.funding_tick(1, 150)), r.funding_tick(1, 150))[1],
        Reason.STALE_TIME,
        id="same_time_as_the_last_tick",
    ),
    pytest.param(
        lambda r: (r.ok(r.funding_tick(1, 150)), r.funding_tick(1, 149))[1],
        Reason.STALE_TIME,
        id="older_than_the_last_tick",
    ),
    pytest.param(
        lambda r: r.funding_tick(100, 1_001), Reason.STALE_TIME, id="after_the_batch_time"
    ),
    pytest.param(
        lambda r: r.funding_tick(10_001, 150), Reason.FUNDING_CAP, id="rate_above_the_cap"
    ),
    pytest.param(
        lambda r: r.funding_tick(-10_001, 150), Reason.FUNDING_CAP, id="rate_below_minus_the_cap"
    ),
    pytest.param(lambda r: _unpriced_market(r, 100), Reason.NO_PRICE, id="market_without_price"),
    pytest.param(
        lambda r: (
            r.put_market(1, replace(ETH_PERP, funding_index=MAX_FUNDING_INDEX)),
            r.funding_tick(1, 150),
        )[1],
        Reason.RANGE,
        id="index_above_the_maximum",
    ),
    pytest.param(
        lambda r: (
            r.put_market(1, replace(ETH_PERP, funding_index=-MAX_FUNDING_INDEX)),
            r.funding_tick(-1, 150),
        )[1],
        Reason.RANGE,
        id="index_below_minus_the_maximum",
    ),
]


@pytest.mark.parametrize(("build", "reason"), FUNDING_REJECTIONS)
def test_an_invalid_funding_tick_is_rejected_and_changes_nothing(
    rollup, build: Callable[..., bytes], reason: Reason
) -> None:
    tx = build(rollup)
    out = rollup.apply(tx)
    assert out.receipt == Receipt(TxType.FUNDING_TICK, reason)
    assert not out.changed


def test_a_funding_tick_with_a_bad_signature_is_rejected(rollup, bad_sig: str) -> None:
    out = rollup.apply(rollup.funding_tick(100, 150, sig=bad_sig))
    assert out.receipt == Receipt(TxType.FUNDING_TICK, Reason.BAD_SIGNATURE)
    assert not out.changed


FUNDING_ORDER = [
    pytest.param(
        lambda r: r.funding_tick(100, 150, market=2, by=r.alice),
        Reason.BAD_SIGNATURE,
        id="bad_signature_before_market_not_found",
    ),
    pytest.param(
        lambda r: (r.put_market(7, CALL), r.funding_tick(10_001, 0, market=7))[1],
        Reason.UNSUPPORTED,
        id="unsupported_before_stale_time",
    ),
    pytest.param(
        lambda r: r.funding_tick(10_001, 0), Reason.STALE_TIME, id="stale_time_before_funding_cap"
    ),
    pytest.param(
        lambda r: _unpriced_market(r, 10_001), Reason.FUNDING_CAP, id="funding_cap_before_no_price"
    ),
]


@pytest.mark.parametrize(("build", "reason"), LIST_ORDER + ORACLE_ORDER + FUNDING_ORDER)
def test_the_earlier_market_check_decides_when_two_fail(
    rollup, build: Callable[..., bytes], reason: Reason
) -> None:
    out = rollup.apply(build(rollup))
    assert out.receipt.reason is reason
    assert not out.changed
