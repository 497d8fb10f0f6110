"""FillRule (contracts/steps/FillRule.vy) against the reference STF, on a real EVM (anvil).

The rule is called directly (``apply``) with the leaves the reference reads, as the step runner
would pass them after proving them: ``keys`` = the reference's reads in first-read order (from
``optirollup.dispute.build_step_witness``), ``values`` = their pre-state values (empty when
absent). The rule must read exactly those leaves (its mask covers every key) and return the
reference's writes, in first-write order, byte for byte (nothing when the FILL is a no-op).
Orders are signed for ``testkit.DEFAULT_DOMAIN``, whose verifying contract is the session's
MockToken, so the rule is deployed with that address as its Vault. Gas figures are printed
(``pytest -s``).
"""

# ruff: noqa: E402  (conftest_steps is registered for assertion rewriting before it is imported)

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

pytest.register_assert_rewrite("conftest_steps")

from conftest_steps import (
    FOREIGN,
    SEPARATOR,
    SIGNER,
    RuleRun,
    StepChain,
    T,
    _deploy,
    golden_vector_matches,
    golden_vectors,
    revert_message,
    rule_matches_reference,
    trie_of,
)
from hypothesis import HealthCheck, event, example, given, seed, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError

from optirollup.codec import eip712
from optirollup.codec.tx import Fill, Order, OrderFlags, SignedOrder, encode_tx
from optirollup.dispute import build_step_witness
from optirollup.state.keys import SYSTEM_KEY, account_key, market_key, order_key
from optirollup.state.leaves import Account, Market, OrderState, Position, System
from optirollup.stf import BatchContext, Party, Reason, Receipt, margin
from optirollup.stf.transition import MAX_FEE_PPM, _with_size
from optirollup.testkit import Trader
from optirollup.units import (
    MAX_BALANCE,
    MAX_COLLATERAL,
    MAX_FUNDING_INDEX,
    MAX_POSITION_SIZE,
    PPM,
    SIZE_SCALE,
    U64_MAX,
)

pytest_plugins = ["conftest_steps"]

FILL_VECTORS = golden_vectors("fill")
ORACLE = Trader.of("fill-rule-oracle")
TRADERS = [Trader.of(f"fill-rule-trader-{i}") for i in range(3)]
MALLORY = Trader.of("fill-rule-mallory")
BUY, SELL = 0, 1
POST_ONLY, REDUCE_ONLY, IOC = int(OrderFlags.POST_ONLY), int(OrderFlags.REDUCE_ONLY), 4
M, TK, N = Party.MAKER, Party.TAKER, Party.NONE


@pytest.fixture(scope="module")
def fill_rule(steps_chain: StepChain) -> Contract:
    """Return the session's FillRule (deployed for the domain the test orders are signed for)."""
    return steps_chain.rules["FillRule"]


# --------------------------------------------------------------------------- the comparison


@dataclass(frozen=True)
class Scenario:
    """A pre-state (every leaf) and one FILL."""

    label: str
    leaves: dict[bytes, bytes]
    tx: bytes
    tags: frozenset[str] = frozenset()
    batch_time: int = T


@dataclass(frozen=True)
class Step:
    """What the reference read and wrote, and the rule's inputs."""

    receipt: Receipt
    keys: list[bytes]
    values: list[bytes]
    writes: list[tuple[bytes, bytes]]


def reference(s: Scenario) -> Step:
    """Run the reference on ``s``: its receipt, reads (with pre-state values) and writes."""
    store, pre_root = trie_of(s.leaves)
    built = build_step_witness(store, pre_root, s.tx, BatchContext(s.batch_time, SEPARATOR))
    keys = list(built.reads)
    return Step(built.receipt, keys, [s.leaves.get(k, b"") for k in keys], list(built.writes))


def call(
    rule: Any, tx: bytes, keys: list[bytes], values: list[bytes], batch_time: int = T
) -> tuple[int, list[tuple[bytes, bytes]]]:
    """Return the rule's read mask and writes."""
    used, wkeys, wvalues = rule.functions.apply(tx, batch_time, 0, keys, values).call()
    return int(used), [(bytes(k), bytes(v)) for k, v in zip(wkeys, wvalues, strict=True)]


def check(rule: Contract, s: Scenario) -> RuleRun:
    """Assert the rule reads what the reference reads and writes what it writes."""
    return rule_matches_reference(rule, s.leaves, s.tx, s.batch_time)


def outcome(receipt: Receipt) -> str:
    party = "" if receipt.party == N else f" ({receipt.party.name.lower()})"
    return f"{receipt.reason.name}{party}"


# --------------------------------------------------------------------------- golden vectors


@pytest.mark.parametrize("vector", FILL_VECTORS, ids=[v["name"] for v in FILL_VECTORS])
def test_golden_vector(fill_rule: Contract, vector: dict[str, Any]) -> None:
    golden_vector_matches(fill_rule, vector)


# --------------------------------------------------------------------------- random scenarios

# Simple mutations of a valid FILL, each aimed at one check (`build` applies them); "mixed"
# applies two or three of them at once.
SIMPLE = [
    "maker_shape", "taker_shape", "market_mismatch", "same_side", "self_trade",
    "maker_signature", "taker_signature", "unknown_market", "option_market", "no_price",
    "ioc_maker", "post_only_taker", "maker_expired", "taker_expired", "maker_cancelled",
    "taker_cancelled", "maker_tick", "taker_tick", "maker_lot", "taker_lot", "fill_lot",
    "maker_overfill", "taker_overfill", "not_crossing", "maker_fee_cap", "taker_fee_cap",
    "maker_reduce_only", "taker_reduce_only", "maker_crowded", "taker_crowded", "maker_range",
    "taker_range", "fee_balance_range", "maker_poor", "taker_poor", "maker_poor_reducing",
    "taker_poor_reducing", "both_poor_reducing",
]  # fmt: skip
# "largest": both accounts hold 8 positions, the fill market's and 7 others each (15 markets),
# and both are under initial margin and reduce their position (the exception branch, twice);
# "widest": both hold 8 positions in 16 other markets (17 markets read; the maker's ninth fails).
MUTATIONS = ["none", *SIMPLE, "mixed", "largest", "widest"]


def _market(rng: random.Random, kind: int = 0) -> Market:
    """Return a random listed market (lot · tick a multiple of S, as LIST_MARKET requires)."""
    a = rng.randint(0, 8)
    lot = 10**a * rng.choice([1, 1, 2, 5])
    tick = 10 ** (8 - a + rng.choice([0, 0, 1])) * rng.choice([1, 1, 5])
    mm = rng.randint(1, 250_000)

    def fee() -> int:
        return rng.choice([0, rng.randint(0, 1_000), rng.randint(0, MAX_FEE_PPM)])

    return Market(
        kind=kind, symbol=b"TEST-PERP".ljust(16, b"\0"), strike=0, expiry=0, lot_size=lot,
        tick_size=tick, im_ppm=rng.randint(mm + 1, min(PPM, 3 * mm + 1)), mm_ppm=mm,
        maker_fee_ppm=fee(), taker_fee_ppm=fee(), max_funding_ppm=10_000,
        oracle_price=rng.choice([rng.randint(10**6, 10**11), rng.randint(1, 10**6)]),
        option_mark=rng.randint(1, 10**10) if kind else 0, oracle_time=1,
        funding_index=rng.choice([0, rng.randint(-(10**16), 10**16)]), funding_time=1,
    )  # fmt: skip


def _position(rng: random.Random, market: int, m: Market, size: int = 0) -> Position:
    """Return a position in ``market`` (random size unless given) with a random snapshot."""
    if size == 0:
        size = rng.choice([-1, 1]) * rng.choice([rng.randint(1, 10**9), rng.randint(1, 10**13)])
    drift = rng.choice([0, 0, rng.randint(-(10**15), 10**15)])
    snapshot = max(-MAX_FUNDING_INDEX, min(MAX_FUNDING_INDEX, m.funding_index - drift))
    return Position(market, size, snapshot)


def _bad_signature(rng: random.Random, o: Order, good: bytes, key: bytes) -> bytes:
    """Return a signature of ``o`` that is not valid for its account."""
    r, s, v = good[:32], int.from_bytes(good[32:64], "big"), good[64]
    kind = rng.choice(
        ["other key", "foreign domain", "high s", "zero", "raw v", "v 29", "r 0", "s 0", "r n",
         "another order", "random"]
    )  # fmt: skip
    if kind == "other key":
        return SIGNER.order(o, MALLORY.key).signature
    if kind == "foreign domain":
        return FOREIGN.order(o, key).signature
    if kind == "high s":
        return r + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    if kind == "zero":
        return bytes(65)
    if kind == "raw v":
        return good[:64] + bytes([v - 27])
    if kind == "v 29":
        return good[:64] + b"\x1d"
    if kind == "r 0":
        return bytes(32) + good[32:]
    if kind == "s 0":
        return r + bytes(32) + good[64:]
    if kind == "r n":
        return eip712.SECP256K1_N.to_bytes(32, "big") + good[32:]
    if kind == "another order":
        return SIGNER.order(replace(o, nonce=o.nonce ^ 1), key).signature
    return rng.randbytes(64) + bytes([rng.choice([27, 28])])


def _slack(acc: Account, markets: dict[int, Market], mid: int, delta: int, dc: int) -> int:
    """Return equity − initial of ``acc`` after funding and a trade of ``delta`` in ``mid``
    that moves its collateral by ``dc`` (the reference's arithmetic)."""
    lookup: Callable[[int], Market] = markets.__getitem__
    settled = margin.settle_funding(acc, lookup)
    size = settled.position(mid) + delta
    after = replace(
        settled,
        collateral=settled.collateral + dc,
        positions=_with_size(settled, mid, size, markets[mid].funding_index),
    )
    r = margin.risk(after, lookup)
    return r.equity - r.initial


def build(seed_: int, mutation: str) -> Scenario:
    """Return a random pre-state and FILL, valid unless ``mutation`` breaks it."""
    rng = random.Random(seed_)
    muts = {mutation} if mutation != "mixed" else set(rng.sample(SIMPLE, rng.randint(2, 3)))
    tags: set[str] = set()
    crowded = bool(muts & {"maker_crowded", "taker_crowded"})
    largest, widest = mutation == "largest", mutation == "widest"
    least = 17 if widest else 15 if largest else 10 if crowded else 2
    ids = rng.sample(range(1, 60), rng.randint(least, 20))
    markets = {i: _market(rng) for i in ids}
    mid = ids[0]
    for i in ids[1:]:
        if rng.random() < 0.1:  # an option market among the positions' (state written directly)
            markets[i] = _market(rng, rng.choice([1, 2]))
    m = markets[mid]
    if "option_market" in muts:
        m = replace(m, kind=rng.choice([1, 2]), option_mark=rng.randint(1, 10**10))
    if "no_price" in muts:
        m = replace(m, oracle_price=0)
    if "fee_balance_range" in muts:
        m = replace(m, maker_fee_ppm=max(1, m.maker_fee_ppm), taker_fee_ppm=max(1, m.taker_fee_ppm))
    for side in ("maker", "taker"):
        if f"{side}_fee_cap" in muts:
            field = f"{side}_fee_ppm"
            m = replace(m, **{field: max(1, getattr(m, field))})
    markets[mid] = m
    lot, tick = m.lot_size, m.tick_size

    # The orders: the maker's price is the fill price, the taker's limit crosses it.
    maker_t, taker_t = rng.sample(TRADERS, 2)
    maker_side = rng.choice([BUY, SELL])
    sign = 1 if maker_side == SELL else -1  # +1: the taker buys
    price = tick * max(1, round(max(m.oracle_price, 1) * rng.uniform(0.8, 1.2) / tick))
    steps = rng.choice([0, 0, rng.randint(1, 100)])
    limit = price + steps * tick if sign == 1 else max(tick, price - steps * tick)
    target = 10 ** rng.randint(6, 12)
    q = lot * max(1, min(10**9, target * SIZE_SCALE // (price * lot)))
    filled = [rng.choice([0, 0, lot * rng.randint(1, 100)]) for _ in range(2)]
    floors = [rng.choice([0, 0, rng.randint(0, 10**6)]) for _ in range(2)]

    def new_order(i: int, who: Trader, side: int, px: int, fee: int) -> Order:
        return Order(
            who.address, mid, side, px, filled[i] + q + lot * rng.choice([0, rng.randint(1, 100)]),
            fee + rng.choice([0, rng.randint(0, 10**5)]),
            floors[i] + rng.choice([0, rng.randint(0, 100)]), T + rng.randint(1, 10**6),
            rng.choice([0, 0, POST_ONLY if i == 0 else IOC]),
        )  # fmt: skip

    mo = new_order(0, maker_t, maker_side, price, m.maker_fee_ppm)
    to = new_order(1, taker_t, 1 - maker_side, limit, m.taker_fee_ppm)
    value = q * price // SIZE_SCALE
    fees = (-(-value * m.maker_fee_ppm // PPM), -(-value * m.taker_fee_ppm // PPM))
    deltas = (-sign * q, sign * q)
    cash = (sign * value - fees[0], -sign * value - fees[1])

    # The accounts: positions first, then collateral set relative to the margin after the trade.
    accounts: list[Account | None] = []
    for i, (side, who) in enumerate((("maker", maker_t), ("taker", taker_t))):
        others = [x for x in ids if x != mid]
        reducing = largest or bool(muts & {f"{side}_poor_reducing", "both_poor_reducing"})
        if largest:
            chosen = [*others[7 * i : 7 * i + 7], mid]
        elif widest:
            chosen = others[8 * i : 8 * i + 8]
        elif f"{side}_crowded" in muts:
            chosen = rng.sample(others, 8)
        else:
            chosen = rng.sample(others, rng.randint(0, min(8, len(others))))
            with_mid = reducing or f"{side}_reduce_only" in muts
            if rng.random() < (0.5 if with_mid and not reducing else 0.3) or reducing:
                chosen = [*chosen[:7], mid]
        positions = {x: _position(rng, x, markets[x]) for x in chosen}
        if mid in positions and (reducing or f"{side}_reduce_only" in muts):
            # Opposite to the trade, at least q: the trade reduces it (or closes it).
            extra = rng.choice([0, lot * rng.randint(0, 100), rng.randint(0, 10**12)])
            positions[mid] = _position(rng, mid, m, -deltas[i] // q * (q + extra))
        how = rng.choice(["position", "collateral", "funding"]) if f"{side}_range" in muts else ""
        if how:
            tags.add(f"{side}-range-{how}")
        if how == "position":
            if mid not in positions and len(positions) == 8:
                del positions[chosen[0]]
            size = MAX_POSITION_SIZE - rng.randint(0, 2 * q)
            positions[mid] = _position(rng, mid, m, deltas[i] // q * size)
        elif how == "funding":
            # A position whose funding credit alone takes the collateral out of range.
            x = rng.choice([p for p in positions if p != mid] or others)
            big = MAX_FUNDING_INDEX - rng.randint(0, 10**6)
            up = rng.choice([-1, 1])
            markets[x] = replace(markets[x], funding_index=up * big)
            size = rng.choice([-1, 1]) * rng.randint(10**17, MAX_POSITION_SIZE)
            positions[x] = Position(x, size, -up * big)
        ordered = tuple(sorted(positions.values(), key=lambda p: p.market))
        acc = Account(who.address, 0, rng.randint(0, 3), floors[i], ordered)
        poor = largest or bool(
            muts & {f"{side}_poor", f"{side}_poor_reducing", "both_poor_reducing"}
        )
        if poor:
            extra = -rng.choice([1, rng.randint(1, 10**6), rng.randint(1, 10**12)])
        else:
            extra = rng.choice([0, rng.randint(0, 10**6), rng.randint(0, 10**15)])
        collateral = -_slack(acc, markets, mid, deltas[i], cash[i]) + extra
        if how == "collateral":
            collateral = (1 if cash[i] >= 0 else -1) * (MAX_COLLATERAL - rng.randint(0, 2 * value))
        acc = replace(acc, collateral=max(-MAX_COLLATERAL, min(MAX_COLLATERAL, collateral)))
        settled_size = acc.position(mid)
        if poor and margin.reduces(settled_size, settled_size + deltas[i]):
            tags.add(f"{side}-under-reducing")
        absent = not acc.positions and acc.cancel_floor == 0 and rng.random() < 0.1
        accounts.append(None if absent else acc)

    states = [OrderState(filled[i], False) for i in range(2)]
    present = [filled[i] > 0 or rng.random() < 0.5 for i in range(2)]
    sys_ = System(ORACLE.address, rng.randint(0, 100), rng.randint(0, 100), rng.randint(0, 10**12),
                  rng.randint(0, 10**12))  # fmt: skip
    if "fee_balance_range" in muts:
        sys_ = replace(sys_, fee_balance=MAX_BALANCE - rng.randint(0, fees[0] + fees[1] + 1))

    # Mutations of the orders and of the fields the early checks read.
    signers = [maker_t, taker_t]
    orders = [mo, to]
    for i, side in enumerate(("maker", "taker")):
        o = orders[i]
        if f"{side}_shape" in muts:
            how = rng.choice(["side", "flag", "post-only ioc"])
            if how == "side":
                o = replace(o, side=rng.randint(2, 255))
            elif how == "flag":
                o = replace(o, flags=o.flags | 1 << rng.randint(3, 7))
            else:
                o = replace(o, flags=POST_ONLY | IOC | rng.choice([0, REDUCE_ONLY]))
        if f"{side}_expired" in muts:
            o = replace(o, expiry=rng.choice([T, T - 1, 0, rng.randint(0, T)]))
        if f"{side}_cancelled" in muts:
            holder = accounts[i]
            if rng.random() < 0.5 or holder is None:
                states[i] = replace(states[i], cancelled=True)
                present[i] = True
            else:
                accounts[i] = replace(
                    holder, cancel_floor=o.nonce + rng.randint(1, U64_MAX - o.nonce)
                )
        if f"{side}_tick" in muts:
            px = 0 if tick == 1 or rng.random() < 0.3 else o.price + rng.randint(1, tick - 1)
            o = replace(o, price=px)
        if f"{side}_lot" in muts:
            o = replace(
                o, size=0 if lot == 1 or rng.random() < 0.3 else o.size + rng.randint(1, lot - 1)
            )
        if f"{side}_overfill" in muts:
            if rng.random() < 0.5:
                states[i] = replace(
                    states[i],
                    filled=rng.choice(
                        [o.size - q + 1, rng.randint(max(0, o.size - q + 1), U64_MAX), U64_MAX]
                    ),
                )
                present[i] = True
            else:
                o = replace(o, size=max(lot, states[i].filled + q - lot * rng.randint(1, 3)))
            if states[i].filled + q > U64_MAX:
                tags.add(f"{side}-filled-past-u64")
        if f"{side}_fee_cap" in muts:
            fee = m.maker_fee_ppm if i == 0 else m.taker_fee_ppm
            o = replace(o, fee_cap_ppm=rng.randint(0, fee - 1))
        if f"{side}_reduce_only" in muts:
            o = replace(o, flags=o.flags | REDUCE_ONLY)
        orders[i] = o
    mo, to = orders
    if "ioc_maker" in muts:
        mo = replace(mo, flags=IOC | rng.choice([0, REDUCE_ONLY]))
    if "post_only_taker" in muts:
        to = replace(to, flags=POST_ONLY | rng.choice([0, REDUCE_ONLY]))
    if "market_mismatch" in muts:
        to = replace(to, market=rng.choice([x for x in range(1, 61) if x != mid]))
    if "same_side" in muts:
        to = replace(to, side=mo.side)
    if "self_trade" in muts:
        to = replace(to, account=mo.account)
        signers[1] = maker_t
    if "unknown_market" in muts:
        nowhere = rng.choice([x for x in range(1, 61) if x not in markets])
        mo, to = replace(mo, market=nowhere), replace(to, market=nowhere)
    if "not_crossing" in muts:
        if to.side == BUY:
            if mo.price // tick >= 2:
                to = replace(to, price=mo.price - tick * rng.randint(1, mo.price // tick - 1))
            else:
                mo = replace(mo, price=to.price + tick * rng.randint(1, 10))
        else:
            to = replace(to, price=mo.price + tick * rng.randint(1, 100))
    if "fill_lot" in muts:
        q = 0 if lot == 1 or rng.random() < 0.3 else q + rng.randint(1, lot - 1)

    leaves: dict[bytes, bytes] = {market_key(x): mk.encode() for x, mk in markets.items()}
    leaves[SYSTEM_KEY] = sys_.encode()
    for i, (holder, o) in enumerate(zip(accounts, (mo, to), strict=True)):
        if holder is not None and not (i == 1 and "self_trade" in muts):
            leaves[account_key(holder.address)] = holder.encode()
        if present[i]:
            leaves[order_key(o.account, o.hash(SEPARATOR))] = states[i].encode()

    signed = []
    for i, (o, who) in enumerate(zip((mo, to), signers, strict=True)):
        sig = SIGNER.order(o, who.key).signature
        if f"{('maker', 'taker')[i]}_signature" in muts:
            sig = _bad_signature(rng, o, sig, who.key)
        signed.append(SignedOrder(o, sig))
    tx = encode_tx(Fill(signed[0], signed[1], q))
    return Scenario(f"{mutation}:{','.join(sorted(muts))}", leaves, tx, frozenset(tags))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    return build(draw(st.integers(0, 2**32)), draw(st.sampled_from(MUTATIONS)))


@seed(20261125)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
@example(build(1, "none"))
@example(build(2, "mixed"))
def test_rule_writes_what_the_reference_writes(fill_rule: Contract, s: Scenario) -> None:
    ref = check(fill_rule, s)
    event(outcome(ref.receipt))


# Every outcome of FILL (reason and party), with the mutation that reaches it and, for the
# reducing exception of the margin predicate, the tag saying the branch was taken.
TARGETS: list[tuple[Reason, Party, str, str]] = [
    (Reason.OK, N, "none", ""),
    (Reason.OK, N, "maker_poor_reducing", "maker-under-reducing"),
    (Reason.OK, N, "taker_poor_reducing", "taker-under-reducing"),
    (Reason.OK, N, "both_poor_reducing", "maker-under-reducing,taker-under-reducing"),
    (Reason.OK, N, "largest", "maker-under-reducing,taker-under-reducing"),
    (Reason.BAD_ORDER, M, "maker_shape", ""),
    (Reason.BAD_ORDER, TK, "taker_shape", ""),
    (Reason.MARKET_MISMATCH, N, "market_mismatch", ""),
    (Reason.SAME_SIDE, N, "same_side", ""),
    (Reason.SELF_TRADE, N, "self_trade", ""),
    (Reason.BAD_SIGNATURE, M, "maker_signature", ""),
    (Reason.BAD_SIGNATURE, TK, "taker_signature", ""),
    (Reason.MARKET_NOT_FOUND, N, "unknown_market", ""),
    (Reason.UNSUPPORTED, N, "option_market", ""),
    (Reason.NO_PRICE, N, "no_price", ""),
    (Reason.IOC_MAKER, M, "ioc_maker", ""),
    (Reason.POST_ONLY, TK, "post_only_taker", ""),
    (Reason.EXPIRED, M, "maker_expired", ""),
    (Reason.EXPIRED, TK, "taker_expired", ""),
    (Reason.CANCELLED, M, "maker_cancelled", ""),
    (Reason.CANCELLED, TK, "taker_cancelled", ""),
    (Reason.BAD_TICK, M, "maker_tick", ""),
    (Reason.BAD_TICK, TK, "taker_tick", ""),
    (Reason.BAD_LOT, M, "maker_lot", ""),
    (Reason.BAD_LOT, TK, "taker_lot", ""),
    (Reason.BAD_LOT, N, "fill_lot", ""),
    (Reason.OVERFILL, M, "maker_overfill", ""),
    (Reason.OVERFILL, TK, "taker_overfill", ""),
    (Reason.OVERFILL, M, "maker_overfill", "maker-filled-past-u64"),
    (Reason.OVERFILL, TK, "taker_overfill", "taker-filled-past-u64"),
    (Reason.PRICE_NOT_CROSSING, N, "not_crossing", ""),
    (Reason.FEE_CAP, M, "maker_fee_cap", ""),
    (Reason.FEE_CAP, TK, "taker_fee_cap", ""),
    (Reason.REDUCE_ONLY, M, "maker_reduce_only", ""),
    (Reason.REDUCE_ONLY, TK, "taker_reduce_only", ""),
    (Reason.TOO_MANY_POSITIONS, M, "maker_crowded", ""),
    (Reason.TOO_MANY_POSITIONS, TK, "taker_crowded", ""),
    (Reason.TOO_MANY_POSITIONS, M, "widest", ""),
    (Reason.RANGE, M, "maker_range", "maker-range-position"),
    (Reason.RANGE, M, "maker_range", "maker-range-collateral"),
    (Reason.RANGE, M, "maker_range", "maker-range-funding"),
    (Reason.RANGE, TK, "taker_range", "taker-range-position"),
    (Reason.RANGE, TK, "taker_range", "taker-range-collateral"),
    (Reason.RANGE, TK, "taker_range", "taker-range-funding"),
    (Reason.RANGE, N, "fee_balance_range", ""),
    (Reason.INSUFFICIENT_MARGIN, M, "maker_poor", ""),
    (Reason.INSUFFICIENT_MARGIN, TK, "taker_poor", ""),
    (Reason.INSUFFICIENT_MARGIN, M, "maker_poor_reducing", "maker-under-reducing"),
    (Reason.INSUFFICIENT_MARGIN, TK, "taker_poor_reducing", "taker-under-reducing"),
]


def _find(reason: Reason, party: Party, mutation: str, tags: str, tries: int = 500) -> Scenario:
    """Return the first scenario of ``mutation`` (by seed) with that outcome and those tags."""
    want = set(tags.split(",")) - {""}
    for n in range(tries):
        s = build(n, mutation)
        if want <= s.tags:
            r = reference(s).receipt
            if r.reason == reason and r.party == party:
                return s
    raise AssertionError(f"no seed below {tries} reaches {reason.name}/{party.name} by {mutation}")


@pytest.mark.parametrize(
    ("reason", "party", "mutation", "tags"),
    TARGETS,
    ids=[f"{r.name}-{p.name}-{mu}-{t or 'any'}" for r, p, mu, t in TARGETS],
)
def test_every_outcome_is_reached(
    fill_rule: Contract, reason: Reason, party: Party, mutation: str, tags: str
) -> None:
    s = _find(reason, party, mutation, tags)
    assert check(fill_rule, s).receipt == Receipt(0x05, reason, party)


def test_every_reason_of_fill_is_a_target() -> None:
    fill_reasons = {r for r, _, _, _ in TARGETS} | {Reason.MALFORMED}
    names = {v["expected"]["reason"] for v in FILL_VECTORS}
    assert {r.name for r in fill_reasons} == names
    pairs = {(v["expected"]["reason"], v["expected"]["party"]) for v in FILL_VECTORS}
    assert pairs - {("MALFORMED", "NONE")} <= {(r.name, p.name) for r, p, _, _ in TARGETS}


# --------------------------------------------------------------------------- witnesses


@pytest.fixture(scope="module")
def crowded_ok() -> Scenario:
    """A valid FILL that reads many markets (both accounts hold positions in several)."""
    for n in range(500):
        s = build(n, "none")
        ref = reference(s)
        if ref.receipt.ok and len(ref.keys) >= 12:
            return s
    raise AssertionError("no crowded valid FILL found")


def test_a_missing_leaf_reverts(fill_rule: Contract, crowded_ok: Scenario) -> None:
    ref = reference(crowded_ok)
    for j in range(len(ref.keys)):
        keys, values = ref.keys[:j] + ref.keys[j + 1 :], ref.values[:j] + ref.values[j + 1 :]
        with pytest.raises(ContractLogicError) as err:
            call(fill_rule, crowded_ok.tx, keys, values)
        assert revert_message(err.value) == "rule: missing proof"


def _market_of(tx: bytes) -> int:
    return int.from_bytes(tx[21:25], "big")


def test_a_witness_for_an_early_failure_holds_only_the_first_leaves(fill_rule: Contract) -> None:
    """A FILL failing at check 15 reads the market, then the accounts and the orders (maker
    first), and no position's market."""
    s = _find(Reason.CANCELLED, M, "maker_cancelled", "")
    ref = check(fill_rule, s)
    mo, to = Order.decode(s.tx, 1), Order.decode(s.tx, 128)
    assert ref.keys == [
        market_key(mo.market),
        account_key(mo.account),
        account_key(to.account),
        order_key(mo.account, mo.hash(SEPARATOR)),
        order_key(to.account, to.hash(SEPARATOR)),
    ]


def test_an_extra_leaf_is_not_marked_used(fill_rule: Contract, crowded_ok: Scenario) -> None:
    ref = reference(crowded_ok)
    extra = account_key(MALLORY.address)
    for at in (0, len(ref.keys) // 2, len(ref.keys)):
        keys = [*ref.keys[:at], extra, *ref.keys[at:]]
        values = [*ref.values[:at], b"", *ref.values[at:]]
        used, writes = call(fill_rule, crowded_ok.tx, keys, values)
        assert used == ((1 << len(keys)) - 1) & ~(1 << at)
        assert writes == ref.writes


def test_the_order_of_the_witness_leaves_does_not_matter(
    fill_rule: Contract, crowded_ok: Scenario
) -> None:
    ref = reference(crowded_ok)
    pairs = list(zip(ref.keys, ref.values, strict=True))
    random.Random(3).shuffle(pairs)
    used, writes = call(fill_rule, crowded_ok.tx, [k for k, _ in pairs], [v for _, v in pairs])
    assert used == (1 << len(pairs)) - 1 and writes == ref.writes


def test_a_position_in_an_unlisted_market_reverts(
    fill_rule: Contract, crowded_ok: Scenario
) -> None:
    ref = reference(crowded_ok)
    mid = _market_of(crowded_ok.tx)
    j = next(i for i, k in enumerate(ref.keys[5:], 5) if k not in (SYSTEM_KEY, market_key(mid)))
    values = [b"" if i == j else v for i, v in enumerate(ref.values)]
    with pytest.raises(ContractLogicError) as err:
        call(fill_rule, crowded_ok.tx, ref.keys, values)
    assert revert_message(err.value) == "fill: position in an unlisted market"


def test_an_account_leaf_of_another_address_reverts(
    fill_rule: Contract, crowded_ok: Scenario
) -> None:
    ref = reference(crowded_ok)
    values = list(ref.values)
    values[1] = Account(MALLORY.address, 10**12).encode()  # keys[1]: the maker's account
    with pytest.raises(ContractLogicError) as err:
        call(fill_rule, crowded_ok.tx, ref.keys, values)
    assert revert_message(err.value) == "fill: account leaf of another address"


@pytest.mark.parametrize("delta", [-1, 1], ids=["one byte short", "one byte long"])
def test_a_fill_of_the_wrong_length_reads_nothing(
    fill_rule: Contract, crowded_ok: Scenario, delta: int
) -> None:
    tx = crowded_ok.tx[:-1] if delta < 0 else crowded_ok.tx + b"\x00"
    ref = check(fill_rule, replace(crowded_ok, tx=tx))
    assert ref.receipt.reason == Reason.MALFORMED and ref.keys == []
    assert call(fill_rule, tx, [], []) == (0, [])


@pytest.mark.parametrize(
    "tx", [b"", b"\x06" + bytes(117), b"\x04" + bytes(262)], ids=["empty", "CANCEL", "type 4"]
)
def test_another_type_reverts(fill_rule: Contract, tx: bytes) -> None:
    with pytest.raises(ContractLogicError) as err:
        call(fill_rule, tx, [], [])
    assert revert_message(err.value) == "fill: not a FILL"


def test_the_vault_must_be_a_contract(steps_chain: StepChain) -> None:
    with pytest.raises((ContractLogicError, Web3RPCError, AssertionError)) as err:
        _deploy(steps_chain.w3, steps_chain.deployer, "steps/FillRule", steps_chain.user)
    assert "fill: vault not a contract" in str(err.value)


# --------------------------------------------------------------------------- gas


def test_gas_of_the_largest_fill(fill_rule: Contract) -> None:
    """The largest valid FILL: both accounts hold 8 positions (15 markets read) and both trades
    take the reducing exception of the margin predicate (risk before and after, twice). Also
    prints the gas of every target outcome."""
    gases = []
    for reason, party, mutation, tags in TARGETS:
        s = _find(reason, party, mutation, tags)
        run = rule_matches_reference(fill_rule, s.leaves, s.tx, s.batch_time, gas=True)
        assert run.gas is not None
        gases.append((run.gas, len(run.keys), f"{outcome(run.receipt)} by {mutation}"))
    print()
    for gas, reads, what in sorted(gases, reverse=True)[:5]:
        print(f"FillRule.apply, {what}: {reads} leaves read, {gas:,} gas (eth_estimateGas)")
    s = _find(Reason.OK, N, "largest", "maker-under-reducing,taker-under-reducing")
    ref = reference(s)
    assert len(ref.keys) == 20  # 15 markets, 2 accounts, 2 orders, system
    s = _find(Reason.TOO_MANY_POSITIONS, M, "widest", "")
    assert len(reference(s).keys) == 21  # 17 markets, 2 accounts, 2 orders (rule.MAX_READS - 1)
    assert max(gases)[0] < 2_000_000
