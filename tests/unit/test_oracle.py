"""The oracle's random-walk feed, the operator's price file, its funding rate, and the signed
transactions it builds.

Every transaction the feed builds is applied through the reference state transition on a state
whose genesis names the feed's key as the oracle and which lists ETH-PERP (tick 10_000, funding
cap 10_000 ppm).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optirollup.codec.tx import (
    FundingTick,
    ListMarket,
    OracleUpdate,
    TxType,
    decode_tx,
    encode_tx,
)
from optirollup.oracle import (
    BadFeedParams,
    BadPriceFile,
    OracleFeed,
    RandomWalk,
    StaticPrices,
    funding_rate_ppm,
    funding_tick_tx,
    oracle_update_tx,
    parse_price_file,
)
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import MemoryStore
from optirollup.stf import BatchContext, Reason, apply
from optirollup.testkit import DEFAULT_DOMAIN, Signer, Trader
from optirollup.units import U64_MAX

ORACLE = Trader.of("oracle-feed")
SEPARATOR = DEFAULT_DOMAIN.separator
ETH, TICK, CAP, PRICE = 1, 10_000, 10_000, 3_000_000_000
LISTING = ListMarket(ETH, 0, b"ETH-PERP".ljust(16, b"\x00"), 0, 0, 100_000, TICK, 100_000, 50_000,
                     200, 500, CAP)  # fmt: skip


def walk(seed: int = 7, **overrides: int) -> RandomWalk:
    params = {"seed": seed, "start": PRICE, "tick": TICK, "max_step_ticks": 50, **overrides}
    return RandomWalk(**params)


def listed_state() -> StateOverlay:
    """Return a genesis state with ORACLE as the oracle and ETH-PERP listed (no price yet)."""
    store = MemoryStore()
    state = StateOverlay(store, genesis_root(store, ORACLE.address))
    receipt = apply(state, encode_tx(Signer(DEFAULT_DOMAIN).sign(LISTING, ORACLE.key)), ctx(1))
    assert receipt.ok, receipt.describe()
    return state


def ctx(batch_time: int) -> BatchContext:
    return BatchContext(batch_time, SEPARATOR)


# --------------------------------------------------------------------------- the walk


def test_the_same_seed_walks_the_same_path_and_another_seed_does_not() -> None:
    assert walk(7).path(ETH, 500) == walk(7).path(ETH, 500)
    assert walk(7).path(ETH, 500) != walk(8).path(ETH, 500)


def test_each_market_walks_its_own_path_from_the_same_start() -> None:
    w = walk()
    one, two = w.path(1, 200), w.path(2, 200)
    assert one[0] == two[0] == PRICE
    assert one != two


def test_a_price_depends_only_on_the_step_not_on_the_order_of_the_questions() -> None:
    forward = walk().path(ETH, 300)
    backward = walk()
    assert [backward.at_step(ETH, s) for s in reversed(range(300))] == forward[::-1]


def test_the_walk_steps_once_per_interval_from_its_origin() -> None:
    w = walk(interval=5, origin=1_000)
    path = w.path(ETH, 4)
    assert w.price(ETH, 0) == w.price(ETH, 999) == PRICE
    assert [w.price(ETH, t) for t in (1_000, 1_004, 1_005, 1_009, 1_010, 1_015)] == [
        path[0], path[0], path[1], path[1], path[2], path[3],
    ]  # fmt: skip


def test_a_walk_with_no_step_size_stays_at_its_start() -> None:
    assert set(walk(max_step_ticks=0).path(ETH, 100)) == {PRICE}


def test_a_walk_that_starts_on_its_floor_never_goes_below_it() -> None:
    path = walk(start=TICK, max_step_ticks=1_000).path(ETH, 2_000)
    assert min(path) == TICK
    assert path.count(TICK) > 1  # it hit the floor and stayed there at least once


@given(
    seed=st.integers(0, 2**256 - 1),
    tick=st.integers(1, 10**9),
    start_ticks=st.integers(1, 10**6),
    max_step_ticks=st.integers(0, 10**4),
    steps=st.integers(1, 300),
)
def test_every_price_is_a_positive_multiple_of_the_tick_within_one_bounded_step(
    seed: int, tick: int, start_ticks: int, max_step_ticks: int, steps: int
) -> None:
    path = RandomWalk(
        seed=seed, start=start_ticks * tick, tick=tick, max_step_ticks=max_step_ticks
    ).path(ETH, steps)
    assert path[0] == start_ticks * tick
    for before, after in zip(path, path[1:], strict=False):
        assert abs(after - before) <= max_step_ticks * tick
    assert all(p % tick == 0 and tick <= p <= U64_MAX for p in path)


def test_a_ceiling_caps_the_walk() -> None:
    path = walk(start=PRICE, ceiling=PRICE + 5 * TICK, max_step_ticks=100).path(ETH, 1_000)
    assert max(path) == PRICE + 5 * TICK


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tick": 0}, "tick 0"),
        ({"start": PRICE + 1}, "start 3000000001 is not a multiple of the tick"),
        ({"floor": 0}, "need 0 < floor"),
        ({"floor": PRICE + TICK}, "need 0 < floor"),
        ({"ceiling": PRICE - TICK}, "need 0 < floor"),
        ({"max_step_ticks": -1}, "max_step_ticks -1"),
        ({"interval": 0}, "interval 0"),
        ({"origin": -1}, "origin -1"),
        ({"seed": -1}, "seed -1"),
    ],
    ids=[
        "a zero tick",
        "a start off the tick grid",
        "a zero floor",
        "a floor above the start",
        "a ceiling below the start",
        "a negative step",
        "a zero interval",
        "a negative origin",
        "a negative seed",
    ],
)
def test_a_walk_with_impossible_parameters_is_refused_with_the_reason(
    overrides: dict[str, int], message: str
) -> None:
    with pytest.raises(BadFeedParams, match=message):
        walk(**overrides)


def test_a_time_too_far_after_the_origin_is_refused_with_a_hint() -> None:
    with pytest.raises(BadFeedParams, match="start the walk nearer"):
        walk().price(ETH, 1_700_000_000)


# --------------------------------------------------------------------------- funding rate


@pytest.mark.parametrize(
    ("mark", "index", "cap", "rate"),
    [
        (PRICE, PRICE, CAP, 0),
        (3_003_000_000, PRICE, CAP, 1_000),
        (2_997_000_000, PRICE, CAP, -1_000),
        (PRICE + 2_999, PRICE, CAP, 0),
        (PRICE - 2_999, PRICE, CAP, 0),
        (PRICE + 5_999, PRICE, CAP, 1),
        (PRICE - 5_999, PRICE, CAP, -1),
        (2 * PRICE, PRICE, CAP, CAP),
        (0, PRICE, CAP, -CAP),
        (2 * PRICE, PRICE, 0, 0),
    ],
    ids=[
        "a mark on the index pays nothing",
        "a 0.1% premium is 1000 ppm",
        "a 0.1% discount is -1000 ppm",
        "less than 1 ppm of premium rounds to zero",
        "less than 1 ppm of discount rounds to zero, not to -1",
        "a premium rounds toward zero",
        "a discount rounds toward zero",
        "a huge premium is clamped to the cap",
        "a huge discount is clamped to minus the cap",
        "a zero cap allows no funding",
    ],
)
def test_the_funding_rate_is_the_premium_in_ppm_rounded_toward_zero_and_clamped(
    mark: int, index: int, cap: int, rate: int
) -> None:
    assert funding_rate_ppm(mark, index, cap) == rate


def test_a_funding_rate_needs_a_positive_index() -> None:
    with pytest.raises(BadFeedParams, match="index price 0 must be positive"):
        funding_rate_ppm(PRICE, 0, CAP)


# --------------------------------------------------------------------------- transactions


def test_the_feed_builds_the_fields_it_was_asked_for_signed_by_the_oracle() -> None:
    w = walk()
    feed = OracleFeed(ORACLE.key, SEPARATOR, w)
    assert feed.address == ORACLE.address
    update = decode_tx(feed.oracle_update(ETH, 42))
    assert isinstance(update, OracleUpdate)
    assert (update.market, update.price, update.mark, update.time) == (ETH, w.price(ETH, 42), 0, 42)
    tick = decode_tx(feed.funding_tick(ETH, 42, mark=2 * PRICE, max_funding_ppm=CAP))
    assert isinstance(tick, FundingTick)
    assert (tick.market, tick.rate_ppm, tick.time) == (ETH, CAP, 42)


@given(seed=st.integers(0, 2**64), mark_seed=st.integers(0, 2**64), steps=st.integers(1, 40))
def test_every_transaction_the_feed_builds_applies_through_the_state_transition(
    seed: int, mark_seed: int, steps: int
) -> None:
    index, mark = walk(seed, max_step_ticks=2_000), walk(mark_seed, max_step_ticks=2_000)
    feed = OracleFeed(ORACLE.key, SEPARATOR, index)
    state, context = listed_state(), ctx(steps)
    funding = 0
    for t in range(1, steps + 1):
        for tx in (
            feed.oracle_update(ETH, t),
            feed.funding_tick(ETH, t, mark=mark.price(ETH, t), max_funding_ppm=CAP),
        ):
            receipt = apply(state, tx, context)
            assert receipt.reason is Reason.OK, receipt.describe()
        rate = funding_rate_ppm(mark.price(ETH, t), index.price(ETH, t), CAP)
        funding += rate * index.price(ETH, t)
        m = state.market(ETH)
        assert m is not None
        assert (m.oracle_price, m.oracle_time) == (index.price(ETH, t), t)
        assert (m.funding_index, m.funding_time) == (funding, t)


def test_replaying_the_feed_gives_identical_bytes_in_any_order() -> None:
    def run(times: list[int]) -> dict[int, tuple[bytes, bytes]]:
        feed = OracleFeed(ORACLE.key, SEPARATOR, walk(11))
        return {
            t: (
                feed.oracle_update(ETH, t),
                feed.funding_tick(ETH, t, mark=PRICE, max_funding_ppm=CAP),
            )
            for t in times
        }

    first = run(list(range(1, 101)))
    assert run(list(range(1, 101))) == first
    assert run(list(range(100, 0, -1))) == first
    assert len({u for u, _ in first.values()}) == 100


def test_a_transaction_signed_by_another_key_is_rejected_by_the_state_transition() -> None:
    state = listed_state()
    stranger = OracleFeed(Trader.of("not-the-oracle").key, SEPARATOR, walk())
    assert apply(state, stranger.oracle_update(ETH, 1), ctx(1)).reason is Reason.BAD_SIGNATURE


def test_the_builders_refuse_a_zero_price_and_a_short_key() -> None:
    with pytest.raises(BadFeedParams, match="oracle price of 0"):
        oracle_update_tx(ORACLE.key, SEPARATOR, ETH, 0, 1)
    with pytest.raises(BadFeedParams, match="32 bytes, got 20"):
        funding_tick_tx(ORACLE.address, SEPARATOR, ETH, 0, 1)
    with pytest.raises(BadFeedParams, match="32 bytes, got 20"):
        OracleFeed(ORACLE.address, SEPARATOR, walk())


def test_the_builders_encode_the_transaction_types_of_the_protocol() -> None:
    assert oracle_update_tx(ORACLE.key, SEPARATOR, ETH, PRICE, 1)[0] == TxType.ORACLE_UPDATE
    assert funding_tick_tx(ORACLE.key, SEPARATOR, ETH, -5, 1)[0] == TxType.FUNDING_TICK


# --------------------------------------------------------------------------- the price file


@pytest.mark.parametrize(
    ("text", "prices"),
    [
        ('{"1": 3000000000}', {1: 3_000_000_000}),
        ('{"1": "3000000000", "7": 1}', {1: 3_000_000_000, 7: 1}),
        ("{}", {}),
        (f'{{"4294967295": {U64_MAX}}}', {2**32 - 1: U64_MAX}),
    ],
    ids=["an integer", "a digit string and another market", "no market", "the largest values"],
)
def test_a_price_file_maps_market_ids_to_integer_prices(text: str, prices: dict[int, int]) -> None:
    assert parse_price_file(text, "prices.json") == prices


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "prices.json is not JSON"),
        ("[3000]", "prices.json holds a JSON list, not an object"),
        ('{"ETH": 3000}', "key 'ETH' is not a market id"),
        ('{"-1": 3000}', "key '-1' is not a market id"),
        ('{"4294967296": 3000}', "key '4294967296' is not a market id"),
        ('{"1": 3000.5}', "market 1: price 3000.5 is not an integer"),
        ('{"1": 0}', "market 1: price 0 is not an integer in 1..2^64-1"),
        ('{"1": -5}', "market 1: price -5 is not an integer"),
        ('{"1": true}', "market 1: price True is not an integer"),
        ('{"1": "3e9"}', "market 1: price '3e9' is not an integer"),
        (f'{{"1": {U64_MAX + 1}}}', "is not an integer in 1..2^64-1"),
    ],
    ids=[
        "empty",
        "a list",
        "a symbol key",
        "a negative key",
        "a key over u32",
        "a fraction",
        "zero",
        "negative",
        "a boolean",
        "a float string",
        "over u64",
    ],  # fmt: skip
)
def test_a_bad_price_file_is_refused_with_what_is_wrong_and_the_expected_shape(
    text: str, message: str
) -> None:
    with pytest.raises(BadPriceFile, match="prices.json") as err:
        parse_price_file(text, "prices.json")
    assert message in str(err.value)


def test_a_fixed_price_table_answers_at_any_time_and_names_a_missing_market() -> None:
    prices = StaticPrices({ETH: PRICE}, "prices.json")
    assert prices.price(ETH, 0) == prices.price(ETH, 10**9) == PRICE
    with pytest.raises(BadFeedParams, match='prices.json has no price for market 2; add "2"'):
        prices.price(2, 0)
    with pytest.raises(BadFeedParams, match="price 0 outside 1..2"):
        StaticPrices({ETH: 0})
    feed = OracleFeed(ORACLE.key, SEPARATOR, prices)
    update = decode_tx(feed.oracle_update(ETH, 5))
    assert isinstance(update, OracleUpdate) and update.price == PRICE
