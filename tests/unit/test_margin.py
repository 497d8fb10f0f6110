"""Check the integer margin arithmetic: rounding helpers, funding, fees, risk and the trade rule.

Every expected number is worked out by hand in the test (the comments show the exact quotient
before rounding); nothing here calls the code under test to compute an expectation.
"""

from __future__ import annotations

import pytest

from optirollup.state.leaves import Account, Market, Position
from optirollup.stf import margin
from optirollup.stf.margin import Risk
from optirollup.testkit import EXAMPLE_CALL
from optirollup.units import div_ceil, div_floor

# --------------------------------------------------------------------------- rounding helpers

# (a, b, floor, ceil, EVM sdiv = truncation toward zero)
DIVISIONS = [
    pytest.param(7, 2, 3, 4, 3, id="positive_inexact"),
    pytest.param(-7, 2, -4, -3, -3, id="negative_inexact"),
    pytest.param(6, 3, 2, 2, 2, id="positive_exact"),
    pytest.param(-6, 3, -2, -2, -2, id="negative_exact"),
    pytest.param(0, 5, 0, 0, 0, id="zero_numerator"),
    pytest.param(-1, 10**6, -1, 0, 0, id="tiny_negative"),
    pytest.param(1, 10**6, 0, 1, 0, id="tiny_positive"),
    pytest.param(-(10**30) - 1, 10**14, -(10**16) - 1, -(10**16), -(10**16), id="large_negative"),
]


@pytest.mark.parametrize(("a", "b", "floor", "ceil", "trunc"), DIVISIONS)
def test_div_floor_rounds_toward_negative_infinity(
    a: int, b: int, floor: int, ceil: int, trunc: int
) -> None:
    assert div_floor(a, b) == floor


@pytest.mark.parametrize(("a", "b", "floor", "ceil", "trunc"), DIVISIONS)
def test_div_ceil_rounds_toward_positive_infinity(
    a: int, b: int, floor: int, ceil: int, trunc: int
) -> None:
    assert div_ceil(a, b) == ceil


@pytest.mark.parametrize(("a", "b", "floor", "ceil", "trunc"), DIVISIONS)
def test_div_floor_agrees_with_python_floor_division(
    a: int, b: int, floor: int, ceil: int, trunc: int
) -> None:
    assert div_floor(a, b) == a // b


def _evm_sdiv(a: int, b: int) -> int:
    """Return the EVM's signed division: the quotient of the magnitudes, sign applied."""
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


@pytest.mark.parametrize(("a", "b", "floor", "ceil", "trunc"), DIVISIONS)
def test_the_evm_truncation_reference_matches_the_table(
    a: int, b: int, floor: int, ceil: int, trunc: int
) -> None:
    assert _evm_sdiv(a, b) == trunc


def test_a_negative_inexact_quotient_floors_below_evm_truncation_and_ceils_to_it() -> None:
    assert div_floor(-7, 2) == -4 != _evm_sdiv(-7, 2)
    assert div_ceil(-7, 2) == -3 == _evm_sdiv(-7, 2)


def test_a_positive_inexact_quotient_floors_to_evm_truncation_and_ceils_above_it() -> None:
    assert div_floor(7, 2) == 3 == _evm_sdiv(7, 2)
    assert div_ceil(7, 2) == 4 != _evm_sdiv(7, 2)


@pytest.mark.parametrize("helper", [div_floor, div_ceil], ids=["div_floor", "div_ceil"])
@pytest.mark.parametrize("divisor", [0, -1, -(10**6)], ids=["zero", "minus_one", "minus_ppm"])
def test_a_divisor_that_is_not_positive_is_refused(helper: object, divisor: int) -> None:
    with pytest.raises(ValueError, match="divisor must be positive"):
        helper(10, divisor)  # type: ignore[operator]


# --------------------------------------------------------------------------- funding

FUNDING = [
    # Δindex = 100 ppm × 3000 USDC = 3e11; 1 ETH owes 1e8·3e11 / (1e8·1e6) = 300_000 (0.30 USDC)
    pytest.param(100_000_000, 300_000_000_000, 0, -300_000, id="long_pays_a_positive_rate_exactly"),
    pytest.param(-100_000_000, 300_000_000_000, 0, 300_000, id="short_receives_a_positive_rate"),
    # Δindex = 7 ppm × 3000.01 = 21_000_070_000; one lot: 1e5·21_000_070_000 / 1e14 = 21.00007
    pytest.param(100_000, 21_000_070_000, 0, -22, id="payer_pays_the_ceiling"),
    pytest.param(-100_000, 21_000_070_000, 0, 21, id="receiver_gets_the_floor"),
    pytest.param(100_000, -21_000_070_000, 0, 21, id="long_receives_a_negative_rate_floored"),
    pytest.param(-100_000, -21_000_070_000, 0, -22, id="short_pays_a_negative_rate_ceiled"),
    # only the index movement since the snapshot counts: Δ = 5e11 − 2e11 = 3e11
    pytest.param(100_000_000, 500_000_000_000, 200_000_000_000, -300_000, id="from_a_snapshot"),
    pytest.param(100_000_000, 7, 7, 0, id="nothing_when_the_index_has_not_moved"),
    # 1e-8 ETH × 3e11 / 1e14 = 0.003: a payer still pays one unit, a receiver gets nothing
    pytest.param(1, 300_000_000_000, 0, -1, id="dust_payer_pays_one_unit"),
    pytest.param(-1, 300_000_000_000, 0, 0, id="dust_receiver_gets_nothing"),
]


@pytest.mark.parametrize(("size", "index", "snapshot", "credit"), FUNDING)
def test_funding_credit_has_the_right_sign_and_rounds_against_the_account(
    size: int, index: int, snapshot: int, credit: int
) -> None:
    assert margin.funding_credit(size, index, snapshot) == credit


def _perp(price: int, im_ppm: int = 100_000, mm_ppm: int = 50_000, index: int = 0) -> Market:
    return Market(
        kind=0,
        symbol=b"X".ljust(16, b"\x00"),
        strike=0,
        expiry=0,
        lot_size=100_000,
        tick_size=10_000,
        im_ppm=im_ppm,
        mm_ppm=mm_ppm,
        maker_fee_ppm=200,
        taker_fee_ppm=500,
        max_funding_ppm=10_000,
        oracle_price=price,
        oracle_time=100,
        funding_index=index,
    )


def test_settling_funding_moves_every_snapshot_to_its_market_index_and_books_the_credit() -> None:
    markets = {1: _perp(3_000_010_000, index=21_000_070_000), 2: _perp(60_000_000_000, index=5)}
    acc = Account(
        b"\xaa" * 20,
        collateral=1_000,
        nonce=3,
        cancel_floor=2,
        positions=(Position(1, 100_000, 0), Position(2, -100_000, 5)),
    )
    settled = margin.settle_funding(acc, markets.__getitem__)
    # market 1: the long lot pays ceil(21.00007) = 22; market 2: index unchanged, nothing
    assert settled == Account(
        b"\xaa" * 20,
        collateral=978,
        nonce=3,
        cancel_floor=2,
        positions=(Position(1, 100_000, 21_000_070_000), Position(2, -100_000, 5)),
    )


def test_settling_funding_on_an_account_without_positions_changes_nothing() -> None:
    acc = Account(b"\xaa" * 20, collateral=-5, nonce=1)

    def no_market(market_id: int) -> Market:
        raise AssertionError("no market should be looked up")

    assert margin.settle_funding(acc, no_market) == acc


# --------------------------------------------------------------------------- notional and fees

NOTIONALS = [
    pytest.param(50_000_000, 3_000_000_000, 1_500_000_000, id="half_eth_at_3000"),
    pytest.param(100_000, 3_000_010_000, 3_000_010, id="one_lot_at_3000_01"),
    pytest.param(100_000, 10_000, 10, id="one_lot_at_one_tick"),
]


@pytest.mark.parametrize(("size", "price", "value"), NOTIONALS)
def test_notional_is_size_times_price_over_the_size_scale(
    size: int, price: int, value: int
) -> None:
    assert margin.notional(size, price) == value


FEES = [
    pytest.param(1_500_000_000, 500, 750_000, id="exact_taker_fee"),
    pytest.param(1_500_000_000, 200, 300_000, id="exact_maker_fee"),
    pytest.param(3_000_010, 200, 601, id="maker_fee_600_002_rounds_up"),
    pytest.param(3_000_010, 500, 1_501, id="taker_fee_1500_005_rounds_up"),
    pytest.param(1, 1, 1, id="a_millionth_rounds_up_to_one"),
    pytest.param(1_000_000, 1, 1, id="exactly_one_unit"),
    pytest.param(1_000_001, 1, 2, id="just_over_one_unit"),
    pytest.param(0, 500, 0, id="zero_notional"),
    pytest.param(3_000_010, 0, 0, id="zero_rate"),
]


@pytest.mark.parametrize(("value", "ppm", "expected"), FEES)
def test_a_fee_is_rounded_up(value: int, ppm: int, expected: int) -> None:
    assert margin.fee(value, ppm) == expected


# --------------------------------------------------------------------------- risk


def test_risk_of_a_multi_position_account_floors_equity_and_ceils_each_requirement() -> None:
    call = EXAMPLE_CALL
    markets = {
        1: _perp(3_000_010_000, im_ppm=100_000, mm_ppm=50_000),
        2: _perp(60_000_070_000, im_ppm=50_000, mm_ppm=30_000),
        3: call,  # valued at its option mark, not at the underlying's price
    }
    acc = Account(
        b"\xbb" * 20,
        collateral=5_000_000_000,
        positions=(
            Position(1, 12_345_678, 0),
            Position(2, -7_654_321, 0),
            Position(3, 30_000_000, 0),
        ),
    )
    r = margin.risk(acc, markets.__getitem__)
    # mark values:   12_345_678 × 3_000_010_000 / 1e8 =    370_371_574.5678 → 370_371_574
    #               −7_654_321 × 60_000_070_000 / 1e8 = −4_592_597_958.0247 → −4_592_597_959
    #               30_000_000 × 123_450_000 / 1e8   =     37_035_000 (exact)
    assert r.equity == 5_000_000_000 + 370_371_574 - 4_592_597_959 + 37_035_000
    # initial:  370_371_574.5678 × 10% = 37_037_157.45678 → 37_037_158
    #         4_592_597_958.0247 × 5%  = 229_629_897.901235 → 229_629_898
    #              37_035_000    × 20% = 7_407_000
    assert r.initial == 37_037_158 + 229_629_898 + 7_407_000
    # maintenance: × 5% = 18_518_578.72839 → 18_518_579; × 3% = 137_777_938.740741 → 137_777_939;
    #              × 10% = 3_703_500
    assert r.maintenance == 18_518_579 + 137_777_939 + 3_703_500
    assert r == Risk(equity=814_808_615, initial=274_074_056, maintenance=160_000_018)


def test_risk_of_an_account_without_positions_is_its_collateral_and_no_requirement() -> None:
    assert margin.risk(Account(b"\xcc" * 20, collateral=-42), {}.__getitem__) == Risk(-42, 0, 0)


# --------------------------------------------------------------------------- the trade rule

REDUCES = [
    pytest.param(0, 5, False, id="opening_from_flat"),
    pytest.param(0, -5, False, id="opening_short_from_flat"),
    pytest.param(10, 5, True, id="shrinking_a_long"),
    pytest.param(10, 0, True, id="closing_a_long"),
    pytest.param(10, 10, False, id="unchanged_long"),
    pytest.param(10, 11, False, id="growing_a_long"),
    pytest.param(10, -1, False, id="flipping_a_long"),
    pytest.param(-10, -5, True, id="shrinking_a_short"),
    pytest.param(-10, 0, True, id="closing_a_short"),
    pytest.param(-10, -11, False, id="growing_a_short"),
    pytest.param(-10, 1, False, id="flipping_a_short"),
]


@pytest.mark.parametrize(("before", "after", "expected"), REDUCES)
def test_reduces_is_true_only_for_a_same_sign_smaller_position(
    before: int, after: int, expected: bool
) -> None:
    assert margin.reduces(before, after) is expected


# before: equity 100, initial 150, maintenance 75 → shortfall mm − equity = −25
UNDER = Risk(100, 150, 75)

ACCEPTANCE = [
    pytest.param(
        UNDER, Risk(100, 100, 50), 10, 12, True, id="meeting_initial_exactly_allows_growth"
    ),
    pytest.param(UNDER, Risk(99, 160, 80), 10, 12, False, id="growing_below_initial"),
    pytest.param(UNDER, Risk(99, 120, 60), 10, 8, True, id="reducing_with_a_smaller_shortfall"),
    pytest.param(UNDER, Risk(80, 110, 55), 10, 8, True, id="reducing_with_the_same_shortfall"),
    pytest.param(UNDER, Risk(80, 110, 56), 10, 8, False, id="reducing_with_a_shortfall_one_larger"),
    pytest.param(
        Risk(8, 150, 75),
        Risk(10, 30, 15),
        10,
        -2,
        False,
        id="flipping_even_though_the_shortfall_shrinks",
    ),
    pytest.param(
        Risk(20, 150, 75),
        Risk(-5, 0, 0),
        10,
        0,
        True,
        id="closing_a_bankrupt_position_that_shrinks_the_shortfall",
    ),
    pytest.param(Risk(0, 0, 0), Risk(-1, 10, 5), 0, 2, False, id="opening_without_margin"),
    pytest.param(
        Risk(-50, 150, 75),
        Risk(-60, 140, 70),
        -10,
        -9,
        False,
        id="reducing_a_short_at_a_loss_that_grows_the_shortfall",
    ),
]


@pytest.mark.parametrize(("before", "after", "size_before", "size_after", "ok"), ACCEPTANCE)
def test_an_under_margined_account_may_only_reduce_without_growing_its_maintenance_shortfall(
    before: Risk, after: Risk, size_before: int, size_after: int, ok: bool
) -> None:
    assert margin.trade_acceptable(lambda: before, after, size_before, size_after) is ok


def _never() -> Risk:
    raise AssertionError("the pre-trade risk was computed although it is not needed")


@pytest.mark.parametrize(
    ("after", "size_before", "size_after", "ok"),
    [
        pytest.param(Risk(100, 100, 50), 10, 12, True, id="initial_met"),
        pytest.param(Risk(99, 160, 80), 10, 12, False, id="not_a_reduction"),
        pytest.param(Risk(10, 30, 15), 10, -2, False, id="a_flip"),
    ],
)
def test_the_pre_trade_risk_is_only_computed_for_an_under_margined_reduction(
    after: Risk, size_before: int, size_after: int, ok: bool
) -> None:
    assert margin.trade_acceptable(_never, after, size_before, size_after) is ok
