"""MarketRule (contracts/steps/MarketRule.vy) against the reference STF, on a real EVM (anvil).

The rule re-executes ORACLE_UPDATE, FUNDING_TICK and LIST_MARKET (protocol §6.5-§6.8) on leaves
the step runner proved. For a (state, transaction, batch time), the reference's reads, writes
and receipt come from ``optirollup.dispute.build_step_witness``; called with those keys and
their pre-state values, the rule must read every one of them and return exactly the reference's
writes (none for a no-op). Cases: every golden vector, a fixed table of edge cases that holds
every reason of the three types, and a seeded hypothesis property over random states and
transactions. Gas figures are printed (``pytest -s``).
"""

# ruff: noqa: E402  (conftest_steps is registered for assertion rewriting before it is imported)

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any, TypeVar

import pytest

pytest.register_assert_rewrite("conftest_steps")

from conftest_steps import (
    BROKEN_SIGNATURES,
    Scenario,
    StepChain,
    T,
    _deploy,
    assert_edges_cover,
    golden_vector_matches,
    golden_vectors,
    representatives,
    revert_message,
    scenario_matches,
    signed_as,
    with_examples,
)
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from optirollup.codec.tx import (
    FundingTick,
    ListMarket,
    MarketKind,
    OracleUpdate,
    SignedMessage,
    TxType,
)
from optirollup.state.keys import SYSTEM_KEY, account_key, market_key, order_key
from optirollup.state.leaves import Account, Market, OrderState, Position, System
from optirollup.stf import Reason
from optirollup.stf.transition import market_params_valid
from optirollup.testkit import EXAMPLE_CALL, Trader
from optirollup.units import I32_MAX, I32_MIN, MAX_FUNDING_INDEX, PPM, SIZE_SCALE, U32_MAX, U64_MAX

pytest_plugins = ["conftest_steps"]

MAX_FEE_PPM = 100_000
MAX_FUNDING_PPM = 100_000
ORACLE = Trader.of("market-rule-oracle")
TRADER = Trader.of("market-rule-trader")

M = TypeVar("M", bound=SignedMessage)


@pytest.fixture(scope="module")
def rule(steps_chain: StepChain) -> Contract:
    """Return the session's MarketRule (deployed for the default domain)."""
    return steps_chain.rules["MarketRule"]


# --------------------------------------------------------------------------- builders


def sym(text: str) -> bytes:
    return text.encode().ljust(16, b"\0")


ETH, BTC, OPT, WEIRD, NOWHERE = 1, 2, 20, 30, 99
ETH_MARKET = Market(
    kind=MarketKind.PERP,
    symbol=sym("ETH-PERP"),
    strike=0,
    expiry=0,
    lot_size=10**6,
    tick_size=10**4,
    im_ppm=100_000,
    mm_ppm=50_000,
    maker_fee_ppm=200,
    taker_fee_ppm=500,
    max_funding_ppm=10_000,
    oracle_price=3_100 * 10**6,
    oracle_time=T - 700,
    funding_index=999_041_111_181,
    funding_time=T - 600,
)
BTC_MARKET = Market(MarketKind.PERP, sym("BTC-PERP"), 0, 0, 10**5, 10**5, 50_000, 25_000, 100,
                    300, 5_000)  # fmt: skip
"""Listed, never priced: oracle and funding times 0."""
OPT_MARKET = replace(EXAMPLE_CALL, oracle_time=T - 700, funding_time=T - 600)
WEIRD_MARKET = replace(ETH_MARKET, kind=255, symbol=sym("WEIRD"), option_mark=7)
"""A kind no version lists (the leaf decoder only checks u8): neither PERP nor an option."""
BASE_MARKETS = {ETH: ETH_MARKET, BTC: BTC_MARKET, OPT: OPT_MARKET, WEIRD: WEIRD_MARKET}
VALID_LISTING = ListMarket(5, MarketKind.PERP, sym("SOL-PERP"), 0, 0, 10**6, 100, 100_000,
                           50_000, 200, 500, 10_000)  # fmt: skip


def filler(rng: random.Random, n: int) -> dict[bytes, bytes]:
    """Return ``n`` unrelated account and order leaves (so proofs have depth)."""
    out: dict[bytes, bytes] = {}
    for _ in range(n):
        address = rng.randbytes(20)
        if rng.random() < 0.5:
            positions = tuple(
                Position(m, rng.choice([-1, 1]) * rng.randrange(1, 10**12), rng.randrange(10**9))
                for m in sorted(rng.sample(range(1, 40), rng.randrange(0, 4)))
            )
            acc = Account(address, rng.randrange(-(10**12), 10**12), rng.randrange(5), 0, positions)
            out[account_key(address)] = acc.encode()
        else:
            st_ = OrderState(rng.randrange(10**9), rng.random() < 0.5)
            out[order_key(address, rng.randbytes(32))] = st_.encode()
    return out


def state(
    markets: dict[int, Market] | None = None, oracle: bytes = ORACLE.address, extra: int = 12
) -> dict[bytes, bytes]:
    """Return the leaves of a state: the system leaf, ``markets`` and ``extra`` filler leaves."""
    leaves = filler(random.Random(extra), extra)
    leaves[SYSTEM_KEY] = System(oracle, 3, 2, 12_345, 0).encode()
    for mid, m in (BASE_MARKETS if markets is None else markets).items():
        leaves[market_key(mid)] = m.encode()
    return leaves


SIG_MODES = ("oracle", "trader", "foreign", *BROKEN_SIGNATURES)
"""How a transaction is signed: by the oracle (valid), by another key, for another domain, or
a signature broken in one of the ways protocol §3.5 rejects."""


def sign(msg: M, mode: str = "oracle", key: bytes = ORACLE.key) -> bytes:
    """Return ``msg`` encoded with a signature made as ``mode`` says (see SIG_MODES)."""
    return signed_as(
        msg, key, {"oracle": "valid", "trader": "other_key"}.get(mode, mode), TRADER.key
    )


def oracle_update(market: int, price: int, mark: int, time: int, mode: str = "oracle") -> bytes:
    return sign(OracleUpdate(market, price, mark, time), mode)


def funding_tick(market: int, rate: int, time: int, mode: str = "oracle") -> bytes:
    return sign(FundingTick(market, rate, time), mode)


def list_market(mode: str = "oracle", /, **changes: Any) -> bytes:
    """Return VALID_LISTING with ``changes``, signed as ``mode`` says."""
    return sign(replace(VALID_LISTING, **changes), mode)


def with_index(markets: dict[int, Market], mid: int, rate: int, target: int) -> dict[int, Market]:
    """Return ``markets`` with ``mid``'s funding index set so a tick of ``rate`` reaches
    ``target``."""
    m = markets[mid]
    index = target - rate * m.oracle_price
    assert abs(index) <= MAX_FUNDING_INDEX
    return {**markets, mid: replace(m, funding_index=index)}


CLAUSE_BREAKERS: dict[str, dict[str, Any]] = {
    "strike": {"strike": 1},
    "strike_max": {"strike": U64_MAX},
    "expiry": {"expiry": 1},
    "zero_lot": {"lot_size": 0, "tick_size": 10**8},
    "zero_tick": {"tick_size": 0, "lot_size": 10**8},
    "lot_times_tick": {"lot_size": 3, "tick_size": 10**7},
    "lot_times_tick_max": {"lot_size": U64_MAX, "tick_size": U64_MAX},
    "zero_mm": {"mm_ppm": 0},
    "mm_equals_im": {"mm_ppm": 100_000},
    "mm_above_im": {"mm_ppm": 100_001},
    "im_above_ppm": {"im_ppm": PPM + 1},
    "im_max": {"im_ppm": U32_MAX, "mm_ppm": 1},
    "maker_fee": {"maker_fee_ppm": MAX_FEE_PPM + 1},
    "taker_fee": {"taker_fee_ppm": MAX_FEE_PPM + 1},
    "taker_fee_max": {"taker_fee_ppm": U32_MAX},
    "zero_funding_cap": {"max_funding_ppm": 0},
    "funding_cap": {"max_funding_ppm": MAX_FUNDING_PPM + 1},
}
"""LIST_MARKET changes that each make one clause of ``market_params_valid`` false."""

CLAUSE_EDGES: dict[str, dict[str, Any]] = {
    "lot_one": {"lot_size": 1, "tick_size": SIZE_SCALE},
    "tick_one": {"lot_size": SIZE_SCALE, "tick_size": 1},
    "lot_max": {"lot_size": U64_MAX, "tick_size": SIZE_SCALE},
    "tick_max": {"lot_size": SIZE_SCALE, "tick_size": U64_MAX},
    "mm_one": {"mm_ppm": 1},
    "mm_just_under_im": {"mm_ppm": 99_999},
    "im_at_ppm": {"im_ppm": PPM, "mm_ppm": PPM - 1},
    "fees_at_max": {"maker_fee_ppm": MAX_FEE_PPM, "taker_fee_ppm": MAX_FEE_PPM},
    "zero_fees": {"maker_fee_ppm": 0, "taker_fee_ppm": 0},
    "funding_cap_one": {"max_funding_ppm": 1},
    "funding_cap_max": {"max_funding_ppm": MAX_FUNDING_PPM},
    "symbol_any_bytes": {},
}
"""LIST_MARKET parameters at the edge of each clause, still valid."""


def _edges() -> list[tuple[str, Scenario, Reason]]:
    """Return named edge cases with the reason the reference gives them."""
    R = Reason
    base = state()
    out: list[tuple[str, Scenario, Reason]] = []

    def add(name: str, tx: bytes, reason: Reason, leaves: dict[bytes, bytes] | None = None,
            batch_time: int = T) -> None:  # fmt: skip
        out.append((name, Scenario(base if leaves is None else leaves, tx, batch_time, name),
                    reason))  # fmt: skip

    p = ETH_MARKET.oracle_price
    # ORACLE_UPDATE
    add("ou_at_batch_time", oracle_update(ETH, 3_200 * 10**6, 0, T), R.OK)
    add("ou_one_second_after_the_last", oracle_update(ETH, 1, 0, T - 699), R.OK)
    add("ou_first_price", oracle_update(BTC, 60_000 * 10**9, 0, 1), R.OK)
    add("ou_max_price_and_time", oracle_update(ETH, U64_MAX, 0, U64_MAX), R.OK, None, U64_MAX)
    add("ou_option_mark", oracle_update(OPT, p, 1, T), R.OK)
    add("ou_unknown_kind_with_mark", oracle_update(WEIRD, p, U64_MAX, T), R.OK)
    add("ou_market_zero", oracle_update(0, p, 0, T), R.OK, state({0: ETH_MARKET}))
    add("ou_market_max_id", oracle_update(U32_MAX, p, 0, T), R.OK, state({U32_MAX: ETH_MARKET}))
    for mode in SIG_MODES[1:]:
        add(f"ou_sig_{mode}", oracle_update(ETH, p, 0, T, mode), R.BAD_SIGNATURE)
    add("ou_trader_as_oracle", oracle_update(ETH, p, 0, T, "trader"), R.OK,
        state(oracle=TRADER.address))  # fmt: skip
    add("ou_oracle_not_the_oracle", oracle_update(ETH, p, 0, T), R.BAD_SIGNATURE,
        state(oracle=TRADER.address))  # fmt: skip
    add("ou_zero_oracle_zero_sig", oracle_update(ETH, p, 0, T, "zero"), R.BAD_SIGNATURE,
        state(oracle=bytes(20)))  # fmt: skip
    add("ou_bad_sig_on_absent_market", oracle_update(NOWHERE, p, 0, T, "trader"), R.BAD_SIGNATURE)
    add("ou_absent_market", oracle_update(NOWHERE, p, 0, T), R.MARKET_NOT_FOUND)
    add("ou_no_market_at_all", oracle_update(ETH, p, 0, T), R.MARKET_NOT_FOUND, state({}))
    add("ou_same_time", oracle_update(ETH, p, 0, T - 700), R.STALE_TIME)
    add("ou_older_time", oracle_update(ETH, p, 0, T - 701), R.STALE_TIME)
    add("ou_time_zero_never_updated", oracle_update(BTC, p, 0, 0), R.STALE_TIME)
    add("ou_one_second_in_the_future", oracle_update(ETH, p, 0, T + 1), R.STALE_TIME)
    add("ou_future_and_bad_price", oracle_update(ETH, 0, 5, T + 1), R.STALE_TIME)
    add("ou_zero_price", oracle_update(ETH, 0, 0, T), R.BAD_PRICE)
    add("ou_perp_with_mark", oracle_update(ETH, p, 1, T), R.BAD_PRICE)
    add("ou_option_without_mark", oracle_update(OPT, p, 0, T), R.BAD_PRICE)
    add("ou_option_zero_price", oracle_update(OPT, 0, 7, T), R.BAD_PRICE)
    add("ou_unknown_kind_without_mark", oracle_update(WEIRD, p, 0, T), R.BAD_PRICE)
    good = oracle_update(ETH, p, 0, T)
    add("ou_one_byte_short", good[:-1], R.MALFORMED)
    add("ou_one_byte_long", good + b"\x00", R.MALFORMED)
    add("ou_type_byte_only", good[:1], R.MALFORMED)

    # FUNDING_TICK
    cap = ETH_MARKET.max_funding_ppm
    add("ft_positive", funding_tick(ETH, 100, T), R.OK)
    add("ft_negative", funding_tick(ETH, -100, T), R.OK)
    add("ft_zero_rate", funding_tick(ETH, 0, T), R.OK)
    add("ft_at_the_cap", funding_tick(ETH, cap, T - 599), R.OK)
    add("ft_at_the_negative_cap", funding_tick(ETH, -cap, T), R.OK)
    add("ft_over_the_cap", funding_tick(ETH, cap + 1, T), R.FUNDING_CAP)
    add("ft_under_the_negative_cap", funding_tick(ETH, -cap - 1, T), R.FUNDING_CAP)
    add("ft_int32_min", funding_tick(ETH, I32_MIN, T), R.FUNDING_CAP)
    add("ft_int32_max", funding_tick(ETH, I32_MAX, T), R.FUNDING_CAP)
    # Caps no LIST_MARKET writes (the decoder takes any u32): the widening of ratePpm shows.
    wide = {ETH: replace(ETH_MARKET, max_funding_ppm=2**31, oracle_price=1, funding_index=0)}
    add("ft_int32_min_under_a_cap_of_2^31", funding_tick(ETH, I32_MIN, T), R.OK, state(wide))
    narrow = {ETH: replace(wide[ETH], max_funding_ppm=2**31 - 1)}
    add("ft_int32_min_over_a_cap_of_2^31-1", funding_tick(ETH, I32_MIN, T), R.FUNDING_CAP,
        state(narrow))  # fmt: skip
    add("ft_int32_max_under_a_cap_of_2^31-1", funding_tick(ETH, I32_MAX, T), R.OK, state(narrow))
    huge = {ETH: replace(ETH_MARKET, max_funding_ppm=U32_MAX, oracle_price=U64_MAX)}
    add("ft_int32_min_at_max_price", funding_tick(ETH, I32_MIN, T), R.OK, state(huge))
    for mode in SIG_MODES[1:]:
        add(f"ft_sig_{mode}", funding_tick(ETH, 100, T, mode), R.BAD_SIGNATURE)
    add("ft_absent_market", funding_tick(NOWHERE, 100, T), R.MARKET_NOT_FOUND)
    add("ft_on_an_option", funding_tick(OPT, 100, T), R.UNSUPPORTED)
    add("ft_on_an_unknown_kind", funding_tick(WEIRD, 100, T), R.UNSUPPORTED)
    add("ft_on_an_option_in_the_future", funding_tick(OPT, 10**9, T + 1), R.UNSUPPORTED)
    add("ft_same_time", funding_tick(ETH, 100, T - 600), R.STALE_TIME)
    add("ft_older_time", funding_tick(ETH, 100, 1), R.STALE_TIME)
    add("ft_time_zero_never_ticked", funding_tick(BTC, 100, 0), R.STALE_TIME)
    add("ft_from_the_future", funding_tick(ETH, 100, T + 1), R.STALE_TIME)
    add("ft_future_and_over_the_cap", funding_tick(ETH, I32_MIN, T + 1), R.STALE_TIME)
    add("ft_without_price", funding_tick(BTC, 100, T), R.NO_PRICE)
    add("ft_without_price_zero_rate", funding_tick(BTC, 0, T), R.NO_PRICE)
    add("ft_without_price_over_the_cap", funding_tick(BTC, 10**6, T), R.FUNDING_CAP)
    for name, rate, target, reason in [
        ("ft_index_at_max", cap, MAX_FUNDING_INDEX, R.OK),
        ("ft_index_just_over_max", cap, MAX_FUNDING_INDEX + 1, R.RANGE),
        ("ft_index_at_minus_max", -cap, -MAX_FUNDING_INDEX, R.OK),
        ("ft_index_just_under_minus_max", -cap, -MAX_FUNDING_INDEX - 1, R.RANGE),
        ("ft_index_one_rate_under_max", 1, MAX_FUNDING_INDEX, R.OK),
        ("ft_index_one_rate_over_max", 1, MAX_FUNDING_INDEX + p, R.RANGE),
        ("ft_index_minus_one_rate_under_minus_max", -1, -MAX_FUNDING_INDEX - p, R.RANGE),
    ]:
        add(name, funding_tick(ETH, rate, T), reason, state(with_index(BASE_MARKETS, ETH, rate,
                                                                       target)))  # fmt: skip
    at_max = {ETH: replace(ETH_MARKET, funding_index=MAX_FUNDING_INDEX)}
    add("ft_zero_rate_at_max", funding_tick(ETH, 0, T), R.OK, state(at_max))
    add("ft_positive_rate_at_max", funding_tick(ETH, 1, T), R.RANGE, state(at_max))
    add("ft_negative_rate_at_max", funding_tick(ETH, -cap, T), R.OK, state(at_max))
    good = funding_tick(ETH, 100, T)
    add("ft_one_byte_short", good[:-1], R.MALFORMED)
    add("ft_one_byte_long", good + b"\x00", R.MALFORMED)

    # LIST_MARKET
    add("lm_perp", list_market(), R.OK)
    add("lm_id_zero", list_market(market=0), R.OK)
    add("lm_max_id", list_market(market=U32_MAX), R.OK)
    add("lm_into_an_empty_state", list_market(), R.OK, state({}, extra=0))
    add("lm_any_symbol", list_market(symbol=b"\xff" * 16), R.OK)
    for name, changes in CLAUSE_EDGES.items():
        add(f"lm_edge_{name}", list_market(**changes), R.OK)
    for mode in SIG_MODES[1:]:
        add(f"lm_sig_{mode}", list_market(mode), R.BAD_SIGNATURE)
    add("lm_bad_sig_on_existing_id", list_market("trader", market=ETH), R.BAD_SIGNATURE)
    add("lm_existing_id", list_market(market=ETH), R.MARKET_EXISTS)
    add("lm_existing_option_id", list_market(market=OPT, kind=1), R.MARKET_EXISTS)
    add("lm_existing_id_bad_params", list_market(market=BTC, strike=5), R.MARKET_EXISTS)
    add("lm_call", list_market(kind=MarketKind.CALL, strike=3_000 * 10**6, expiry=T + 10),
        R.UNSUPPORTED)  # fmt: skip
    add("lm_put", list_market(kind=MarketKind.PUT), R.UNSUPPORTED)
    add("lm_unknown_kind", list_market(kind=255), R.UNSUPPORTED)
    add("lm_call_bad_params", list_market(kind=1, lot_size=0), R.UNSUPPORTED)
    for name, changes in CLAUSE_BREAKERS.items():
        add(f"lm_bad_{name}", list_market(**changes), R.BAD_MARKET_PARAMS)
    good = list_market()
    add("lm_one_byte_short", good[:-1], R.MALFORMED)
    add("lm_one_byte_long", good + b"\x00", R.MALFORMED)
    return out


EDGES = _edges()

REQUIRED: dict[TxType, set[Reason]] = {
    TxType.ORACLE_UPDATE: {Reason.OK, Reason.MALFORMED, Reason.BAD_SIGNATURE,
                           Reason.MARKET_NOT_FOUND, Reason.STALE_TIME, Reason.BAD_PRICE},
    TxType.FUNDING_TICK: {Reason.OK, Reason.MALFORMED, Reason.BAD_SIGNATURE,
                          Reason.MARKET_NOT_FOUND, Reason.UNSUPPORTED, Reason.STALE_TIME,
                          Reason.FUNDING_CAP, Reason.NO_PRICE, Reason.RANGE},
    TxType.LIST_MARKET: {Reason.OK, Reason.MALFORMED, Reason.BAD_SIGNATURE,
                         Reason.MARKET_EXISTS, Reason.UNSUPPORTED, Reason.BAD_MARKET_PARAMS},
}  # fmt: skip
"""Every reason a transaction of each type can get (docs/protocol.md §6.5, §6.6, §6.8)."""


def test_the_edge_cases_hold_every_reason_of_the_three_types() -> None:
    assert_edges_cover(EDGES, REQUIRED)


@pytest.mark.parametrize(("name", "s", "reason"), EDGES, ids=[e[0] for e in EDGES])
def test_edge_case_matches_the_reference(
    rule: Contract, name: str, s: Scenario, reason: Reason
) -> None:
    assert scenario_matches(rule, s, gas=True) == reason


# --------------------------------------------------------------------------- golden vectors

VECTOR_FILES = ("oracle_update", "funding_tick", "list_market")
VECTORS_OF_THE_RULE = golden_vectors(*VECTOR_FILES)


@pytest.mark.parametrize(
    "vector", VECTORS_OF_THE_RULE, ids=[v["name"] for v in VECTORS_OF_THE_RULE]
)
def test_golden_vector(rule: Contract, vector: dict[str, Any]) -> None:
    golden_vector_matches(rule, vector, gas=True)


# --------------------------------------------------------------------------- property

prices = st.one_of(
    st.sampled_from([0, 1, U64_MAX]), st.integers(1, 10**13), st.integers(0, U64_MAX)
)


def times(*anchors: int) -> st.SearchStrategy[int]:
    """Times at, one before and one after each anchor, or anywhere (all within u64)."""
    near = sorted({min(max(a + d, 0), U64_MAX) for a in anchors for d in (-1, 0, 1)})
    return st.one_of(st.sampled_from(near), st.integers(0, U64_MAX))


@st.composite
def markets(draw: st.DrawFn, batch_time: int) -> Market:
    kind = draw(st.sampled_from([0, 0, 0, 0, 1, 2, 255]))
    caps = st.one_of(
        st.sampled_from([0, 1, 10_000, MAX_FUNDING_PPM, 2**31 - 1, 2**31, U32_MAX]),
        st.integers(0, U32_MAX),
    )
    indexes = st.one_of(
        st.sampled_from([0, MAX_FUNDING_INDEX, -MAX_FUNDING_INDEX, MAX_FUNDING_INDEX - 1]),
        st.integers(-(10**15), 10**15),
        st.integers(-MAX_FUNDING_INDEX, MAX_FUNDING_INDEX),
    )
    u64, u32 = st.integers(0, U64_MAX), st.integers(0, U32_MAX)
    return Market(
        kind=kind,
        symbol=draw(st.binary(min_size=16, max_size=16)),
        strike=draw(st.sampled_from([0, 0, 1])),
        expiry=draw(st.sampled_from([0, 0, batch_time])),
        lot_size=draw(st.one_of(st.sampled_from([1, 10**6]), u64)),
        tick_size=draw(st.one_of(st.sampled_from([1, 10**4]), u64)),
        im_ppm=draw(st.one_of(st.sampled_from([100_000, PPM]), u32)),
        mm_ppm=draw(st.one_of(st.sampled_from([50_000, 1]), u32)),
        maker_fee_ppm=draw(st.one_of(st.sampled_from([0, 200]), u32)),
        taker_fee_ppm=draw(st.one_of(st.sampled_from([0, 500]), u32)),
        max_funding_ppm=draw(caps),
        oracle_price=draw(prices),
        option_mark=0 if kind == 0 and draw(st.booleans()) else draw(prices),
        oracle_time=draw(times(0, batch_time)),
        funding_index=draw(indexes),
        funding_time=draw(times(0, batch_time)),
        settlement_price=draw(st.sampled_from([0, 0, 1, U64_MAX])),
    )


def listings(market: int) -> st.SearchStrategy[ListMarket]:
    """Valid listings, listings with one clause broken or at its edge, and random ones."""
    valid = st.builds(
        lambda lot_exp, tick_mult, im, mm_frac, mf, tf, cap, symbol: ListMarket(
            market,
            0,
            symbol,
            0,
            0,
            10**lot_exp,
            tick_mult * 10 ** (8 - lot_exp),
            im,
            max(1, im * mm_frac // 100),
            mf,
            tf,
            cap,
        ),  # fmt: skip
        st.integers(0, 8),
        st.integers(1, 10**6),
        st.integers(2, PPM),
        st.integers(0, 99),
        st.integers(0, MAX_FEE_PPM),
        st.integers(0, MAX_FEE_PPM),
        st.integers(1, MAX_FUNDING_PPM),
        st.binary(min_size=16, max_size=16),
    )
    u64, u32 = st.integers(0, U64_MAX), st.integers(0, U32_MAX)
    anything = st.builds(
        ListMarket, st.just(market), st.integers(0, 255), st.binary(min_size=16, max_size=16),
        u64, u64, u64, u64, u32, u32, u32, u32, u32,
    )  # fmt: skip
    changes = st.sampled_from([{}, {}, *CLAUSE_BREAKERS.values(), *CLAUSE_EDGES.values()])
    kinds = st.sampled_from([0, 0, 0, 0, 0, 1, 2, 255])
    changed = st.builds(lambda lm, c, k: replace(lm, kind=k, **c), valid, changes, kinds)
    return st.one_of(changed, changed, changed, anything)


@st.composite
def wild_scenarios(draw: st.DrawFn) -> Scenario:
    """Random markets and transactions, valid or not in any combination."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    batch_time = draw(
        st.one_of(st.just(T), st.sampled_from([0, 1, U64_MAX]), st.integers(0, U64_MAX))
    )
    ids = draw(st.lists(st.sampled_from([0, 1, 2, 3, 20, 99, U32_MAX]), unique=True, max_size=4))
    listed = {mid: draw(markets(batch_time)) for mid in ids}
    if ids and draw(st.integers(0, 3)) > 0:
        mid = draw(st.sampled_from(ids))
    else:
        mid = draw(st.one_of(st.sampled_from([0, 5, U32_MAX]), st.integers(0, U32_MAX)))
    m = listed.get(mid)
    tx_type = draw(st.sampled_from([TxType.ORACLE_UPDATE, TxType.FUNDING_TICK, TxType.LIST_MARKET]))
    mode = draw(st.sampled_from(["oracle"] * (2 * len(SIG_MODES)) + list(SIG_MODES[1:])))
    msg: SignedMessage
    if tx_type == TxType.ORACLE_UPDATE:
        time = draw(times(batch_time, m.oracle_time if m else 0))
        mark = draw(st.one_of(st.just(0), prices))
        msg = OracleUpdate(mid, draw(prices), mark, time)
    elif tx_type == TxType.FUNDING_TICK:
        cap = m.max_funding_ppm if m else 10_000
        rate = draw(
            st.one_of(
                st.sampled_from([0, cap, -cap, cap + 1, -cap - 1, I32_MIN, I32_MAX, 1, -1]),
                st.integers(I32_MIN, I32_MAX),
                st.integers(-MAX_FUNDING_PPM, MAX_FUNDING_PPM),
            )
        )
        rate = min(max(rate, I32_MIN), I32_MAX)
        if m is not None and rate and m.oracle_price and draw(st.booleans()):
            # Put the new index at or one past a bound of its range, if the leaf allows it.
            bound = draw(st.sampled_from([MAX_FUNDING_INDEX, -MAX_FUNDING_INDEX]))
            target = bound + draw(st.sampled_from([0, 1, -1]))
            index = target - rate * m.oracle_price
            if abs(index) <= MAX_FUNDING_INDEX:
                listed[mid] = m = replace(m, funding_index=index)
        msg = FundingTick(mid, rate, draw(times(batch_time, m.funding_time if m else 0)))
    else:
        msg = draw(listings(mid))
    oracle = draw(st.sampled_from([ORACLE.address] * 6 + [TRADER.address, bytes(20)]))
    leaves = state(listed, oracle, extra=0)
    leaves.update(filler(rng, draw(st.integers(0, 40))))
    tx = sign(msg, mode)
    cut = draw(st.sampled_from([0] * 20 + [-1, 1]))
    if cut < 0:
        tx = tx[:cut]
    elif cut > 0:
        tx += bytes([rng.randrange(256)])
    return Scenario(leaves, tx, batch_time)


PERTURBATIONS: dict[TxType, tuple[str, ...]] = {
    TxType.ORACLE_UPDATE: (
        "sig", "oracle_key", "trader_is_oracle", "absent", "time_equal", "time_before",
        "time_future", "time_at_batch", "price_zero", "price_max", "mark_flip", "option",
        "malformed",
    ),
    TxType.FUNDING_TICK: (
        "sig", "oracle_key", "trader_is_oracle", "absent", "option", "time_equal",
        "time_before", "time_future", "time_at_batch", "cap_at", "cap_over", "int32_edge",
        "no_price", "index_edge", "malformed",
    ),
    TxType.LIST_MARKET: (
        "sig", "oracle_key", "trader_is_oracle", "exists", "kind", "clause", "clause",
        "clause_edge", "malformed",
    ),
}  # fmt: skip
"""What a steered scenario breaks (or pushes to an edge) in an otherwise valid transaction."""


@st.composite
def steered_scenarios(draw: st.DrawFn) -> Scenario:
    """A valid transaction of a random type with zero, one or two things broken or at an edge
    (so every check fails often, alone or before/after another)."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    tx_type = draw(st.sampled_from(list(PERTURBATIONS)))
    count = draw(st.sampled_from([0, 1, 1, 1, 2]))
    hows = {draw(st.sampled_from(PERTURBATIONS[tx_type])) for _ in range(count)}
    batch_time = draw(st.one_of(st.just(T), st.integers(1, U64_MAX), st.sampled_from([1, U64_MAX])))
    ids = draw(st.lists(st.sampled_from([0, 1, 2, 3, 20, 99, U32_MAX]), unique=True, max_size=3))
    listed = {i: draw(markets(batch_time)) for i in ids}
    mid = draw(st.one_of(st.sampled_from([0, 1, 5, U32_MAX]), st.integers(0, U32_MAX)))
    m = draw(markets(batch_time))
    kind = draw(st.sampled_from([1, 2, 255])) if "option" in hows else MarketKind.PERP
    last = draw(st.one_of(st.just(0), st.integers(0, batch_time - 1)))
    time = batch_time if "time_at_batch" in hows else draw(st.integers(last + 1, batch_time))
    if "time_equal" in hows:
        time = last
    elif "time_before" in hows:
        time, last = (last - 1, last) if last > 0 else (0, 0)
    elif "time_future" in hows and batch_time < U64_MAX:
        time = draw(st.integers(batch_time + 1, U64_MAX))
    msg: SignedMessage
    if tx_type == TxType.ORACLE_UPDATE:
        m = replace(m, kind=kind, oracle_time=last)
        if "price_zero" in hows:
            price = 0
        elif "price_max" in hows:
            price = U64_MAX
        else:
            price = draw(st.one_of(st.integers(1, 10**13), st.integers(1, U64_MAX)))
        mark = 0 if kind == MarketKind.PERP else draw(st.integers(1, U64_MAX))
        if "mark_flip" in hows:
            mark = draw(st.integers(1, U64_MAX)) if mark == 0 else 0
        msg = OracleUpdate(mid, price, mark, time)
    elif tx_type == TxType.FUNDING_TICK:
        cap = draw(st.one_of(st.integers(1, MAX_FUNDING_PPM), st.sampled_from([1, 10_000])))
        if "int32_edge" in hows:
            cap = draw(st.sampled_from([10_000, 2**31 - 1, 2**31, U32_MAX]))
            rate = draw(st.sampled_from([I32_MIN, I32_MAX]))
        elif "cap_at" in hows:
            rate = draw(st.sampled_from([cap, -cap]))
        elif "cap_over" in hows:
            rate = draw(st.sampled_from([cap + 1, -cap - 1]))
        else:
            rate = draw(st.integers(-cap, cap))
        price = 0 if "no_price" in hows else draw(st.integers(1, U64_MAX))
        index = draw(st.integers(-(10**30), 10**30))
        if "index_edge" in hows and rate != 0 and price != 0:
            target = draw(st.sampled_from([MAX_FUNDING_INDEX, -MAX_FUNDING_INDEX]))
            target += draw(st.sampled_from([0, 1, -1]))
            if abs(target - rate * price) <= MAX_FUNDING_INDEX:
                index = target - rate * price
        m = replace(m, kind=kind, max_funding_ppm=cap, oracle_price=price, funding_time=last,
                    funding_index=index)  # fmt: skip
        msg = FundingTick(mid, rate, time)
    else:
        listing = replace(draw(listings(mid)), kind=MarketKind.PERP)
        if not market_params_valid(listing):
            listing = replace(VALID_LISTING, market=mid, symbol=listing.symbol)
        if "clause" in hows:
            listing = replace(listing, **draw(st.sampled_from(list(CLAUSE_BREAKERS.values()))))
        if "clause_edge" in hows:
            listing = replace(listing, **draw(st.sampled_from(list(CLAUSE_EDGES.values()))))
        if "kind" in hows:
            listing = replace(listing, kind=draw(st.sampled_from([1, 2, 255])))
        msg = listing
    if "absent" in hows or (tx_type == TxType.LIST_MARKET and "exists" not in hows):
        listed.pop(mid, None)
    else:
        listed[mid] = m
    oracle, key = ORACLE.address, ORACLE.key
    if "oracle_key" in hows:
        oracle = draw(st.sampled_from([TRADER.address, bytes(20)]))
    elif "trader_is_oracle" in hows:
        oracle, key = TRADER.address, TRADER.key
    mode = draw(st.sampled_from(SIG_MODES[1:])) if "sig" in hows else "oracle"
    leaves = state(listed, oracle, extra=0)
    leaves.update(filler(rng, draw(st.integers(0, 40))))
    tx = sign(msg, mode, key)
    if "malformed" in hows:
        tx = draw(st.sampled_from([tx[:-1], tx + b"\x00", tx[: rng.randrange(1, len(tx))]]))
    return Scenario(leaves, tx, batch_time)


scenarios = st.one_of(steered_scenarios(), steered_scenarios(), wild_scenarios())


@seed(20261125)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios)
@with_examples(representatives(EDGES))
def test_rule_matches_the_reference_on_random_states(rule: Contract, s: Scenario) -> None:
    reason = scenario_matches(rule, s)
    event(f"{TxType(s.tx[0]).name} {reason.name}")


# --------------------------------------------------------------------------- witness shape


def _ok_case() -> tuple[Scenario, list[bytes], list[bytes]]:
    s = Scenario(state(), oracle_update(ETH, 3_200 * 10**6, 0, T))
    keys = [SYSTEM_KEY, market_key(ETH)]
    return s, keys, [s.leaves[k] for k in keys]


def _call(rule: Contract, s: Scenario, keys: list[bytes], values: list[bytes]) -> Any:
    return rule.functions.apply(s.tx, s.batch_time, 0, keys, values).call()


def _reverts(rule: Contract, s: Scenario, keys: list[bytes], values: list[bytes]) -> str:
    try:
        result = _call(rule, s, keys, values)
    except ContractLogicError as err:
        return revert_message(err)
    raise AssertionError(f"apply did not revert (returned {result})")


@pytest.mark.parametrize("drop", [0, 1], ids=["system", "market"])
def test_a_witness_missing_a_read_leaf_reverts(rule: Contract, drop: int) -> None:
    s, keys, values = _ok_case()
    del keys[drop], values[drop]
    assert _reverts(rule, s, keys, values) == "rule: missing proof"


def test_a_bad_signature_needs_only_the_system_leaf(rule: Contract) -> None:
    s = Scenario(state(), oracle_update(ETH, 1, 0, T, "trader"))
    assert _call(rule, s, [SYSTEM_KEY], [s.leaves[SYSTEM_KEY]]) == [1, [], []]
    assert _reverts(rule, s, [], []) == "rule: missing proof"


def test_an_extra_leaf_is_left_out_of_the_read_mask(rule: Contract) -> None:
    s, keys, values = _ok_case()
    used, wkeys, wvalues = _call(rule, s, keys, values)
    assert used == 0b11 and len(wkeys) == len(wvalues) == 1
    other = market_key(BTC)
    assert _call(rule, s, [other, *keys], [s.leaves[other], *values]) == [0b110, wkeys, wvalues]
    assert _call(rule, s, [*keys, other], [*values, s.leaves[other]]) == [0b011, wkeys, wvalues]


def test_an_absent_system_leaf_reverts(rule: Contract) -> None:
    s, keys, values = _ok_case()
    assert _reverts(rule, s, keys, [b"", values[1]]) == "market: no system leaf"


@pytest.mark.parametrize(
    "tx",
    [oracle_update(ETH, 1, 0, T), funding_tick(ETH, 1, T), list_market(market=ETH)],
    ids=["ORACLE_UPDATE", "FUNDING_TICK", "LIST_MARKET"],
)
def test_an_undecodable_market_leaf_reverts(rule: Contract, tx: bytes) -> None:
    """A corrupt leaf is a corrupt witness (the reference raises), even where it only exists."""
    s, keys, values = _ok_case()
    message = _reverts(rule, replace(s, tx=tx), keys, [values[0], values[1] + b"\x00"])
    assert message.startswith(("leaves: ", "rlp: ")), message


def test_a_malformed_transaction_reads_nothing(rule: Contract) -> None:
    s, keys, values = _ok_case()
    for tx in (s.tx[:1], s.tx[:-1], s.tx + b"\x00", b"\x08" + bytes(137), b"\x04" + bytes(82)):
        assert _call(rule, replace(s, tx=tx), keys, values) == [0, [], []]


@pytest.mark.parametrize(
    "tx",
    [
        b"",
        b"\x00",
        b"\x01" + bytes(36),
        b"\x05" + bytes(262),
        b"\x06" + bytes(117),
        b"\x07" + bytes(93),
        b"\x09" + bytes(85),
        b"\xff" + bytes(93),
    ],  # fmt: skip
    ids=["empty", "0x00", "DEPOSIT", "FILL", "CANCEL", "CANCEL_ALL", "SET_SETTLEMENT", "0xff"],
)
def test_another_transaction_type_reverts(rule: Contract, tx: bytes) -> None:
    s, keys, values = _ok_case()
    message = _reverts(rule, replace(s, tx=tx), keys, values)
    assert message == "market: not a market transaction"


def test_the_constructor_refuses_a_vault_that_is_not_a_contract(steps_chain: StepChain) -> None:
    with pytest.raises(ContractLogicError, match="market: vault not a contract"):
        _deploy(steps_chain.w3, steps_chain.deployer, "steps/MarketRule", steps_chain.deployer)
