"""Property: for random states and random transactions of every type, the on-chain step's
post-root (``StepRunner.step`` on anvil, every rule behind it) equals the reference STF's.

Each example builds a random state (listed markets with random parameters, prices and funding
indexes; traders with random collateral, positions, nonces and cancel floors; partly filled or
cancelled orders; filler accounts) and a short random batch of transactions of every type, valid
and broken: foreign and high-s signatures, a wrong oracle, expired, cancelled, over-filled and
non-crossing orders, under-margined trades, funding beyond its cap, times and numbers at and
beyond their ranges, wrong lengths. Every transaction of the batch is proven one step at a time
from the root the previous one left, with the witness of ``optirollup.dispute.witness``.

CI runs the "ci" hypothesis profile; the long run (10,000 examples) is::

    make test-steps-long     (HYPOTHESIS_PROFILE=long, two shards of 5,000 on two workers)
"""

# ruff: noqa: E402  (conftest_steps is registered for assertion rewriting before it is imported)

from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pytest

pytest.register_assert_rewrite("conftest_steps")

from conftest_steps import StepChain, trie_of
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from optirollup.codec import eip712
from optirollup.codec.tx import (
    Cancel,
    CancelAll,
    FundingTick,
    ListMarket,
    OracleUpdate,
    Order,
    SignedOrder,
    Withdraw,
    encode_tx,
)
from optirollup.dispute import build_step_witness
from optirollup.hashing import keccak
from optirollup.state.keys import SYSTEM_KEY, account_key, market_key, order_key
from optirollup.state.leaves import Account, Market, OrderState, Position, System
from optirollup.state.overlay import StateOverlay
from optirollup.stf import BatchContext, apply
from optirollup.testkit import Signer, Trader, deposit_tx
from optirollup.units import (
    MAX_COLLATERAL,
    MAX_FUNDING_INDEX,
    MAX_POSITION_SIZE,
    SIZE_SCALE,
    U32_MAX,
    U64_MAX,
)

pytest_plugins = ["conftest_steps"]

SIGNER = Signer()  # the rules' domain in the steps session (see conftest_steps)
ORACLE = Trader.of("prop-oracle")
TRADERS = [Trader.of(f"prop-trader-{i}") for i in range(6)]
T = 1_700_000_000
PRICE = 3_000_000_000
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
X = TypeVar("X")


def _pick(rng: random.Random, *choices: tuple[float, X]) -> X:
    total = sum(w for w, _ in choices)
    x = rng.random() * total
    for w, c in choices:
        x -= w
        if x <= 0:
            return c
    return choices[-1][1]


def _extreme(rng: random.Random, typical: int, top: int, negative: bool = False) -> int:
    """A typical value most of the time, an edge value sometimes."""
    edges = [0, 1, top, top - 1, typical]
    if negative:
        edges += [-top, -1, -typical]
    if rng.random() < 0.8:
        return rng.randrange(-typical if negative else 0, typical + 1)
    return rng.choice(edges)


@dataclass
class World:
    """A random pre-state and the ingredients to build transactions against it."""

    leaves: dict[bytes, bytes]
    markets: dict[int, Market]
    accounts: dict[bytes, Account]
    orders: list[tuple[Trader, SignedOrder]]
    """Signed orders whose leaves may exist (partly filled or cancelled)."""
    queue: list[bytes]
    """DEPOSIT transactions the Vault's queue holds (hashed into the context)."""


def _market(rng: random.Random) -> Market:
    lot = rng.choice([1, 10, 100_000, 10**8])
    tick = SIZE_SCALE // lot if rng.random() < 0.7 and SIZE_SCALE % lot == 0 else 10**8
    mm = rng.randrange(1, 200_000)
    return Market(
        0, b"PROP-PERP".ljust(16, b"\x00"), 0, 0, lot, tick,
        rng.randrange(mm + 1, 400_001), mm, rng.choice([0, 200, 100_000]),
        rng.choice([0, 500, 100_000]), rng.choice([1, 10_000, 100_000]),
        oracle_price=_pick(rng, (0.1, 0), (0.7, PRICE + tick), (0.1, 1), (0.1, U64_MAX)),
        oracle_time=rng.choice([0, T - 100, T, T + 1]),
        funding_index=_extreme(rng, 10**12, MAX_FUNDING_INDEX, negative=True),
        funding_time=rng.choice([0, T - 100, T]),
    )  # fmt: skip


def _world(rng: random.Random) -> World:
    markets = {m: _market(rng) for m in rng.sample(range(1, 13), rng.randrange(1, 11))}
    ids = sorted(markets)
    accounts: dict[bytes, Account] = {}
    for tr in TRADERS:
        if rng.random() < 0.15:
            continue  # absent
        mids = sorted(rng.sample(ids, min(len(ids), rng.choice([0, 1, 2, 8, 8]))))[:8]
        positions = tuple(
            Position(
                m,
                rng.choice([-1, 1]) * max(1, _extreme(rng, 10**9, MAX_POSITION_SIZE)),
                _extreme(rng, 10**12, MAX_FUNDING_INDEX, negative=True),
            )
            for m in mids
        )
        accounts[tr.address] = Account(
            tr.address,
            _pick(
                rng,
                (0.7, rng.randrange(10**13, 10**16)),
                (0.3, _extreme(rng, 10**13, MAX_COLLATERAL, negative=True)),
            ),
            rng.choice([0, 0, 1, 5, U64_MAX]),
            _pick(rng, (0.8, 0), (0.1, 2), (0.1, U64_MAX)),
            positions,
        )
    leaves = {account_key(a): acc.encode() for a, acc in accounts.items()}
    leaves.update({market_key(m): mk.encode() for m, mk in markets.items()})
    for _ in range(rng.randrange(0, 40)):
        a = rng.randbytes(20)
        leaves[account_key(a)] = Account(a, rng.randrange(10**9)).encode()
    oracle = ORACLE if rng.random() < 0.9 else TRADERS[0]
    queue = [deposit_tx(i, rng.choice(TRADERS).address, rng.randrange(1, 10**12)) for i in range(3)]
    leaves[SYSTEM_KEY] = System(
        oracle.address,
        rng.choice([0, 0, 1, 3]),
        rng.choice([0, 7, U64_MAX]),
        _pick(rng, (0.45, 0), (0.45, 10**9), (0.1, 2**127 - 1)),
        0,
    ).encode()
    orders = []
    for _ in range(rng.randrange(0, 6)):
        tr = rng.choice(TRADERS)
        o = _order(rng, tr, rng.choice(ids), rng.randrange(2), markets)
        orders.append((tr, o))
        if rng.random() < 0.6:
            st_ = OrderState(rng.randrange(0, o.order.size + 2), rng.random() < 0.2)
            leaves[order_key(tr.address, o.order.hash(SIGNER.separator))] = st_.encode()
    return World(leaves, markets, accounts, orders, queue)


def _order(
    rng: random.Random,
    tr: Trader,
    market: int,
    side: int,
    markets: dict[int, Market],
    against: Order | None = None,
) -> SignedOrder:
    """A signed order, valid most of the time (crossing ``against`` if given), else broken."""
    mk = markets.get(market)
    lot, tick = (mk.lot_size, mk.tick_size) if mk else (1, 1)
    if against is None:
        price = tick * max(1, PRICE // tick + rng.randrange(-3, 4))
    else:  # cross the maker's price (a buyer pays at least it, a seller asks at most it)
        step = tick * _pick(rng, (0.5, 0), (0.45, rng.randrange(1, 4)), (0.05, -1))
        price = max(tick, against.price + (step if side == 0 else -step))
    if rng.random() < 0.03:
        price += 1  # off tick
    size = lot * rng.choice([1, 100, 10**4, 10**6])
    if rng.random() < 0.03:
        size = rng.choice([0, size + 1, U64_MAX])
    flags = _pick(rng, (0.88, 0), (0.03, 1), (0.04, 2), (0.03, 4), (0.01, 5), (0.01, 8))
    o = Order(
        tr.address, market, side if rng.random() < 0.99 else 2, price, size,
        _pick(rng, (0.9, 100_000), (0.05, 1_000), (0.05, 0)),
        _pick(rng, (0.9, 9), (0.1, rng.randrange(0, 4))),
        _pick(rng, (0.96, T + 1000), (0.02, T), (0.02, T - 1)), flags,
    )  # fmt: skip
    return _sign_order(rng, o, tr)


def _sig_variant(rng: random.Random, sig: bytes) -> bytes:
    """Usually the signature; sometimes high-s (same signer), a bad v, or garbage."""
    x = rng.random()
    if x < 0.95:
        return sig
    if x < 0.98:
        s = int.from_bytes(sig[32:64], "big")
        return sig[:32] + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes([sig[64] ^ 1])
    if x < 0.99:
        return sig[:64] + bytes([rng.choice([0, 1, 29])])
    return rng.randbytes(65)


def _sign_order(rng: random.Random, o: Order, tr: Trader) -> SignedOrder:
    key = tr.key if rng.random() < 0.98 else Trader.of("prop-stranger").key
    signed = SIGNER.order(o, key)
    return SignedOrder(o, _sig_variant(rng, signed.signature))


def _signed(rng: random.Random, msg: Any, key: bytes) -> bytes:
    if rng.random() < 0.05:
        key = Trader.of("prop-stranger").key
    m = SIGNER.sign(msg, key)
    return encode_tx(replace(m, signature=_sig_variant(rng, m.signature)))


def _tx(rng: random.Random, w: World) -> bytes:
    ids = sorted(w.markets) + [99]
    kind = _pick(
        rng, (0.35, "fill"), (0.12, "withdraw"), (0.1, "oracle"), (0.1, "funding"),
        (0.08, "list"), (0.08, "cancel"), (0.07, "cancel_all"), (0.1, "deposit"),
    )  # fmt: skip
    tr = rng.choice(TRADERS)
    oracle = ORACLE.key
    if kind == "fill":
        m = rng.choice(ids[:-1]) if rng.random() < 0.97 else 99
        maker, taker = rng.sample(TRADERS, 2) if rng.random() < 0.99 else (tr, tr)
        if w.orders and rng.random() < 0.2:
            maker, mo = rng.choice(w.orders)
            taker = rng.choice([tr for tr in TRADERS if tr != maker])
        else:
            mo = _order(rng, maker, m, rng.randrange(2), w.markets)
        side = 1 - mo.order.side if mo.order.side <= 1 else 0
        to = _order(rng, taker, mo.order.market, side, w.markets, mo.order)
        mk = w.markets.get(mo.order.market)
        lot = mk.lot_size if mk else 1
        q = lot * rng.choice([1, 1, 2, 100]) if rng.random() < 0.95 else rng.choice([0, 1])
        tx = SIGNER.fill(mo, to, q)
    elif kind == "withdraw":
        acc = w.accounts.get(tr.address)
        nonce = acc.nonce if acc and rng.random() < 0.85 else rng.choice([0, 1, U64_MAX])
        amount = rng.choice([1, 10**6, 10**12, U64_MAX, 0])
        recipient = rng.randbytes(20) if rng.random() < 0.95 else bytes(20)
        tx = _signed(rng, Withdraw(tr.address, recipient, amount, nonce), tr.key)
    elif kind == "oracle":
        price = rng.choice([PRICE, PRICE // 2, 1, U64_MAX, 0])
        mark = 0 if rng.random() < 0.9 else rng.randrange(1, 10**9)
        time = rng.choice([T, T - 1, T - 100, T + 1, 1])
        tx = _signed(rng, OracleUpdate(rng.choice(ids), price, mark, time), oracle)
    elif kind == "funding":
        rate = rng.choice([1, -1, 10_000, -10_000, 100_000, 100_001, -(2**31), 2**31 - 1, 0])
        time = rng.choice([T, T - 1, T - 100, T + 1])
        tx = _signed(rng, FundingTick(rng.choice(ids), rate, time), oracle)
    elif kind == "list":
        mid = rng.choice([*ids, rng.randrange(13, U32_MAX), rng.randrange(13, 99)])
        fields = {
            "kind": 0, "strike": 0, "expiry": 0, "lot_size": 100_000, "tick_size": 1_000,
            "im_ppm": 100_000, "mm_ppm": 50_000, "maker_fee_ppm": 200, "taker_fee_ppm": 500,
            "max_funding_ppm": 10_000,
        }  # fmt: skip
        if rng.random() < 0.5:  # break one clause of market_params_valid, or its edge
            name, bad = rng.choice([
                ("kind", 1), ("strike", 5), ("expiry", 9), ("lot_size", 0), ("tick_size", 0),
                ("tick_size", 7), ("mm_ppm", 0), ("mm_ppm", 100_000), ("im_ppm", 10**6 + 1),
                ("im_ppm", 10**6), ("maker_fee_ppm", 100_001), ("taker_fee_ppm", 100_000),
                ("max_funding_ppm", 0), ("max_funding_ppm", 100_001), ("max_funding_ppm", 1),
            ])  # fmt: skip
            fields[name] = bad
        msg = ListMarket(mid, symbol=b"NEW".ljust(16, b"\x00"), **fields)
        tx = _signed(rng, msg, oracle)
    elif kind == "cancel":
        if w.orders and rng.random() < 0.7:
            tr, o = rng.choice(w.orders)
            h = o.order.hash(SIGNER.separator)
        else:
            h = rng.randbytes(32)
        tx = _signed(rng, Cancel(tr.address, h), tr.key)
    elif kind == "cancel_all":
        tx = _signed(rng, CancelAll(tr.address, rng.choice([0, 1, 3, 10, U64_MAX])), tr.key)
    else:
        tx = w.queue[rng.randrange(3)] if rng.random() < 0.9 else deposit_tx(5, tr.address, 1)
    if rng.random() < 0.04:  # MALFORMED: a wrong length
        tx = tx[:-1] if rng.random() < 0.5 else tx + b"\x00"
    return tx


SHARDS = 2
"""The property runs as this many tests with distinct examples, so pytest-xdist spreads it."""


@pytest.mark.parametrize("shard", range(SHARDS), ids=[f"shard {i}" for i in range(SHARDS)])
@seed(20261124)
@settings(
    max_examples=(10_000 if LONG else 300) // SHARDS,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    deadline=None,
)
@given(st.integers(0, 2**64 - 1))
def test_on_chain_steps_equal_the_reference_for_random_states_and_transactions(
    steps_chain: StepChain, shard: int, case_seed: int
) -> None:
    rng = random.Random(case_seed * SHARDS + shard)
    w = _world(rng)
    store, root = trie_of(w.leaves)
    chain = steps_chain
    ctx = BatchContext(T, SIGNER.separator, [keccak(d) for d in w.queue])
    for _ in range(rng.choice([1, 1, 2, 4])):
        tx = _tx(rng, w)
        built = build_step_witness(store, root, tx, ctx)
        overlay = StateOverlay(store, root)
        receipt = apply(overlay, tx, ctx)
        assert receipt == built.receipt and overlay.root() == built.post_root
        name = f"{tx[0]:#04x} {receipt.reason.name}"
        event(name)
        if not tx or not 1 <= tx[0] <= 8:
            continue
        # The queue stand-in holds exactly these hashes (the real Vault refuses none of them,
        # but the stand-in needs no token transfers).
        if tx[0] == 0x01:
            chain.stub_queue(ctx.deposit_hashes)
        on_chain = chain.call(
            chain.stub_runner, root, tx, T, len(ctx.deposit_hashes), built.encode()
        )
        assert on_chain == built.post_root, (name, tx.hex())
        root = built.post_root
        store.update(overlay.pending_nodes())


def test_the_generator_reaches_every_kind_of_outcome() -> None:
    """The generator (run through the reference only, 500 seeds) reaches the main outcome of
    every rule, so the property above tests them; a regression here means it lost its reach."""
    seen: set[str] = set()
    for case_seed in range(500):
        rng = random.Random(case_seed)
        w = _world(rng)
        store, root = trie_of(w.leaves)
        ctx = BatchContext(T, SIGNER.separator, [keccak(d) for d in w.queue])
        for _ in range(3):
            tx = _tx(rng, w)
            overlay = StateOverlay(store, root)
            receipt = apply(overlay, tx, ctx)
            seen.add(f"{tx[0]:#04x} {receipt.reason.name}")
            root = overlay.root()
            store.update(overlay.pending_nodes())
    expected = {
        *(f"{t:#04x} OK" for t in range(1, 9)),
        *(f"{t:#04x} MALFORMED" for t in range(1, 9)),
        *(f"{t:#04x} BAD_SIGNATURE" for t in (2, 3, 4, 5, 6, 7, 8)),
        "0x02 INSUFFICIENT_MARGIN", "0x02 BAD_NONCE", "0x02 BAD_RECIPIENT", "0x02 BAD_AMOUNT",
        "0x03 STALE_TIME", "0x03 MARKET_NOT_FOUND", "0x03 BAD_PRICE",
        "0x04 FUNDING_CAP", "0x04 STALE_TIME", "0x08 BAD_MARKET_PARAMS", "0x08 MARKET_EXISTS",
        "0x05 INSUFFICIENT_MARGIN", "0x05 EXPIRED", "0x05 CANCELLED", "0x05 OVERFILL",
        "0x05 BAD_ORDER", "0x05 NO_PRICE", "0x05 BAD_TICK", "0x05 PRICE_NOT_CROSSING",
        "0x05 MARKET_NOT_FOUND", "0x06 ALREADY_CANCELLED", "0x07 STALE_CANCEL_FLOOR",
        "0x01 DEPOSIT_OUT_OF_ORDER",
    }  # fmt: skip
    assert expected <= seen, sorted(expected - seen)
