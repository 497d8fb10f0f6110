"""The matching engine on random sequences of submits, cancels and waits.

1. ``test_the_engine_matches_like_a_slow_reference_book``: a slow model that keeps every
   resting order in one list and sorts the opposite side on every submit (the rules written
   out once more, as plainly as possible) gets the same calls; after every call both must give
   the same fills, the same outcome or the same rejection, and the same remaining book. Along
   the way the properties every fill must have are checked: the fill price is the maker's and
   within both limits; the maker is not IOC and the taker not POST_ONLY; fills of one submit
   go best price first, then by arrival; no order ever fills past its size; an IOC order never
   rests; a REDUCE_ONLY order never grows or flips its account's position; an order that rests
   leaves no live order of another account crossing it; the depth adds up; and the book
   restored from ``Engine.resting()`` is the same book.
2. ``test_every_fill_the_engine_emits_applies_with_the_reference_stf``: the orders are signed
   and every FILL the engine returns is applied at once with ``optirollup.stf.apply`` (batch time
   = the engine's ``now``) on a state where the markets are listed and priced and every trader
   is well collateralised; positions and filled amounts come from that state. Every FILL must
   apply with reason OK: the engine's rules are the protocol's (§6.9).

Both run under the suite's hypothesis profile (derandomized: a failure reproduces from the
printed example).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_hash.auto import keccak
from hypothesis import given
from hypothesis import strategies as st

from optirollup.codec.tx import (
    ListMarket,
    OracleUpdate,
    Order,
    OrderFlags,
    SignedOrder,
    encode_tx,
)
from optirollup.engine import (
    BadLot,
    BadOrderShape,
    BadTick,
    Cause,
    DuplicateOrder,
    Engine,
    EngineError,
    FeeCapTooLow,
    Level,
    MarketParams,
    OrderAlreadyFilled,
    OrderExpired,
    PostOnlyWouldCross,
    Status,
    Submitted,
    UnknownOrder,
    crosses,
    reducible,
)
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import MemoryStore
from optirollup.stf import BatchContext, Reason, apply, margin
from optirollup.testkit import DEFAULT_DOMAIN, Signer, Trader, deposit_tx

PO, RO, IOC = int(OrderFlags.POST_ONLY), int(OrderFlags.REDUCE_ONLY), int(OrderFlags.IOC)
SIGNER = Signer(DEFAULT_DOMAIN)
SEP = SIGNER.separator
TRADERS = tuple(Trader.of(f"engine-props-{i}") for i in range(4))
ORACLE = Trader.of("engine-props-oracle")
BASE_PRICE = 3_000_000_000
T0 = 1_000
# market id → (params, oracle price); lot·tick ≡ 0 (mod 1e8) as LIST_MARKET requires
MARKETS = {
    1: MarketParams(100_000, 10_000, maker_fee_ppm=200, taker_fee_ppm=500),
    2: MarketParams(1_000_000, 100, maker_fee_ppm=0, taker_fee_ppm=300),
}
FEE_CAP = 1_000  # covers every fee above
FLAGS = (0, 0, 0, PO, RO, IOC, PO | RO, IOC | RO)
DUMMY_SIG = b"\x01" * 65


# --------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Submit:
    trader: int
    market: int
    side: int
    ticks: int  # price = BASE_PRICE + (ticks ± 1) · tick (see build_order)
    lots: int
    flags: int
    ttl: int  # expiry = now + ttl
    spoil: str  # "" or which field to make invalid


@dataclass(frozen=True)
class Resubmit:
    pick: int  # an earlier order, modulo the number of orders so far


@dataclass(frozen=True)
class Cancel:
    pick: int


@dataclass(frozen=True)
class CancelAll:
    trader: int
    back: int  # floor = the next nonce − back


@dataclass(frozen=True)
class Wait:
    seconds: int


Op = Submit | Resubmit | Cancel | CancelAll | Wait

SPOILS = ("side", "flag_bit", "tick", "lot", "fee_cap", "expired")

submits = st.builds(
    Submit,
    trader=st.integers(0, len(TRADERS) - 1),
    market=st.sampled_from(sorted(MARKETS)),
    side=st.sampled_from([0, 1]),
    ticks=st.integers(-2, 2),
    lots=st.integers(1, 6),
    flags=st.sampled_from(FLAGS),
    ttl=st.integers(1, 40),
    spoil=st.one_of(st.just(""), st.just(""), st.just(""), st.just(""), st.sampled_from(SPOILS)),
)
others = st.one_of(
    st.builds(Resubmit, st.integers(0, 10**6)),
    st.builds(Cancel, st.integers(0, 10**6)),
    st.builds(CancelAll, st.integers(0, len(TRADERS) - 1), st.integers(0, 4)),
    st.builds(Wait, st.integers(1, 15)),
)
# about three submits in four operations
ops = st.lists(
    st.integers(0, 3).flatmap(lambda k: others if k == 0 else submits), min_size=10, max_size=60
)
initial_positions = st.lists(st.integers(-6, 6), min_size=len(TRADERS), max_size=len(TRADERS))


def build_order(op: Submit, now: int, nonce: int) -> Order:
    """Return the order of a Submit operation (valid unless the operation spoils a field)."""
    p = MARKETS[op.market]
    side, flags, fee_cap, expiry = op.side, op.flags, FEE_CAP, now + op.ttl
    # buys lean one tick up and sells one tick down, so that orders cross often
    lean = 1 if op.side == 0 else -1
    price, size = BASE_PRICE + (op.ticks + lean) * p.tick_size, op.lots * p.lot_size
    match op.spoil:
        case "side":
            side = 2
        case "flag_bit":
            flags |= 8
        case "tick":
            price += 1
        case "lot":
            size += 1
        case "fee_cap":
            fee_cap = 0 if p.maker_fee_ppm else p.taker_fee_ppm - 1
        case "expired":
            expiry = now
    return Order(TRADERS[op.trader].address, op.market, side, price, size, fee_cap, nonce, expiry,
                 flags)  # fmt: skip


# --------------------------------------------------------------------------- the slow reference


class ModelError(Exception):
    """A rejection of the model; ``kind`` is the engine error class it must match."""

    def __init__(self, kind: type[EngineError]) -> None:
        super().__init__(kind.__name__)
        self.kind = kind


@dataclass
class Rec:
    order_hash: bytes
    signed: SignedOrder
    filled: int
    seq: int

    @property
    def o(self) -> Order:
        return self.signed.order

    @property
    def remaining(self) -> int:
        return self.o.size - self.filled


@dataclass
class ModelResult:
    fills: list[tuple[bytes, int]]  # (maker hash, size)
    filled: int
    status: Status
    removed: list[tuple[bytes, Cause]]


@dataclass
class SlowEngine:
    """Every resting order of every market in one list; sorts on every use."""

    recs: list[Rec] = field(default_factory=list)
    next_seq: int = 0

    def book(self, market: int) -> list[tuple[bytes, int, int]]:
        """Return a market's orders as (hash, filled, seq): bids best first, then asks."""

        def key(r: Rec) -> tuple[int, int, int]:
            return (r.o.side, -r.o.price if r.o.side == 0 else r.o.price, r.seq)

        mine = sorted((r for r in self.recs if r.o.market == market), key=key)
        return [(r.order_hash, r.filled, r.seq) for r in mine]

    def validate(self, o: Order, order_hash: bytes, filled: int, now: int) -> None:
        p = MARKETS[o.market]
        if any(r.order_hash == order_hash for r in self.recs):
            raise ModelError(DuplicateOrder)
        if o.side > 1 or o.flags & ~7 or (o.flags & PO and o.flags & IOC):
            raise ModelError(BadOrderShape)
        if o.price == 0 or o.price % p.tick_size:
            raise ModelError(BadTick)
        if o.size == 0 or o.size % p.lot_size or filled % p.lot_size:
            raise ModelError(BadLot)
        if filled >= o.size:
            raise ModelError(OrderAlreadyFilled)
        if (not o.flags & PO and o.fee_cap_ppm < p.taker_fee_ppm) or (
            not o.flags & IOC and o.fee_cap_ppm < p.maker_fee_ppm
        ):
            raise ModelError(FeeCapTooLow)
        if o.expiry <= now:
            raise ModelError(OrderExpired)

    def submit(
        self,
        so: SignedOrder,
        order_hash: bytes,
        now: int,
        positions: Callable[[bytes, int], int],
        filled: int,
    ) -> ModelResult:
        o = so.order
        self.validate(o, order_hash, filled, now)
        lot = MARKETS[o.market].lot_size

        def against() -> list[Rec]:
            opp = [
                r
                for r in self.recs
                if r.o.market == o.market and r.o.side != o.side and crosses(o, r.o.price)
            ]
            return sorted(opp, key=lambda r: (r.o.price if o.side == 0 else -r.o.price, r.seq))

        if o.flags & PO:
            for r in against():
                if r.o.expiry <= now or r.o.account == o.account:
                    continue
                if (
                    r.o.flags & RO
                    and reducible(r.o.side, positions(r.o.account, o.market), lot) == 0
                ):
                    continue
                raise ModelError(PostOnlyWouldCross)
        seq = self.next_seq
        self.next_seq += 1
        pos: dict[bytes, int] = {}

        def position(a: bytes) -> int:
            return pos.get(a, positions(a, o.market))

        res = ModelResult([], filled, Status.RESTING, [])
        for r in against():
            if res.filled == o.size:
                break
            if r.o.expiry <= now:
                self.recs.remove(r)
                res.removed.append((r.order_hash, Cause.EXPIRED))
                continue
            if r.o.account == o.account:
                continue
            q = r.remaining
            if r.o.flags & RO:
                q = min(q, reducible(r.o.side, position(r.o.account), lot))
                if q == 0:
                    self.recs.remove(r)
                    res.removed.append((r.order_hash, Cause.CANNOT_REDUCE))
                    continue
            q = min(q, o.size - res.filled)
            if o.flags & RO:
                cap = reducible(o.side, position(o.account), lot)
                if cap < q:
                    res.status = Status.REDUCE_ONLY_CANCELLED
                    q = cap
            if q:
                sign = 1 if o.side == 0 else -1
                pos[o.account] = position(o.account) + sign * q
                pos[r.o.account] = position(r.o.account) - sign * q
                res.fills.append((r.order_hash, q))
                res.filled += q
                r.filled += q
                if r.remaining == 0:
                    self.recs.remove(r)
            if res.status is Status.REDUCE_ONLY_CANCELLED:
                break
        if res.filled == o.size:
            res.status = Status.FILLED
        elif res.status is Status.REDUCE_ONLY_CANCELLED:
            pass
        elif o.flags & IOC:
            res.status = Status.IOC_CANCELLED
        else:
            self.recs.append(Rec(order_hash, so, res.filled, seq))
        return res

    def cancel(self, order_hash: bytes) -> Rec:
        for r in self.recs:
            if r.order_hash == order_hash:
                self.recs.remove(r)
                return r
        raise ModelError(UnknownOrder)

    def cancel_all(self, account: bytes, floor: int) -> list[bytes]:
        gone = [r for r in self.recs if r.o.account == account and r.o.nonce < floor]
        gone.sort(key=lambda r: (r.o.market, r.seq))
        for r in gone:
            self.recs.remove(r)
        return [r.order_hash for r in gone]


# --------------------------------------------------------------------------- fill properties


def check_fills(
    sub: Submitted,
    taker: Order,
    pre_positions: Callable[[bytes, int], int],
    seq_of: dict[bytes, int],
    total: dict[bytes, int],
) -> None:
    """Check the per-fill properties of one submit (module docstring, item 1)."""
    pos: dict[bytes, int] = {}
    last: tuple[int, int] | None = None
    for f in sub.fills:
        mo = f.maker.order
        assert f.taker.order == taker
        assert mo.market == taker.market and mo.side != taker.side
        assert mo.account != taker.account, "self-trade"
        assert crosses(taker, mo.price), "fill price outside the taker's limit"
        assert not mo.flags & IOC, "an IOC order made liquidity"
        assert not taker.flags & PO, "a POST_ONLY order took liquidity"
        assert f.size > 0 and f.size % MARKETS[taker.market].lot_size == 0
        key = (mo.price if taker.side == 0 else -mo.price, seq_of[mo.hash(SEP)])
        assert last is None or key > last, "price-time priority broken"
        last = key
        sign = 1 if taker.side == 0 else -1
        for o, d in ((taker, sign * f.size), (mo, -sign * f.size)):
            before = pos.get(o.account, pre_positions(o.account, taker.market))
            pos[o.account] = before + d
            if o.flags & RO:
                assert margin.reduces(before, before + d), "REDUCE_ONLY grew or flipped"
            h = o.hash(SEP)
            total[h] = total.get(h, 0) + f.size
            assert total[h] <= o.size, "an order filled past its size"


def check_book(engine: Engine) -> None:
    """Check the resting orders (none IOC, none full) and that the depth adds them up."""
    for m in engine.markets():
        views = engine.orders(m)
        for v in views:
            assert 0 <= v.filled < v.order.size
            assert not v.order.flags & IOC, "an IOC order rests"
        depth = engine.depth(m, 1000)
        for side, levels in ((0, depth.bids), (1, depth.asks)):
            by_price: dict[int, list[int]] = {}
            for v in views:
                if v.order.side == side:
                    by_price.setdefault(v.order.price, []).append(v.remaining)
            assert list(levels) == [Level(p, sum(s), len(s)) for p, s in by_price.items()]


def check_rested_uncrossed(
    engine: Engine, so: SignedOrder, pos: Callable[[bytes, int], int], now: int
) -> None:
    """An order that just rested crosses no live order of another account."""
    assert engine.book(so.order.market).would_take(so.order, now, pos) is None


# --------------------------------------------------------------------------- property 1


def run_against_model(start: list[int], script: list[Op]) -> None:
    engine = Engine(SEP, MARKETS)
    model = SlowEngine()
    positions = {
        (t.address, m): n * MARKETS[m].lot_size
        for t, n in zip(TRADERS, start, strict=True)
        for m in MARKETS
    }
    orders: list[SignedOrder] = []
    seq_of: dict[bytes, int] = {}
    total: dict[bytes, int] = {}
    now, nonce = T0, 0
    for op in script:
        lookup_table = dict(positions)

        def lookup(a: bytes, m: int, _t: dict[tuple[bytes, int], int] = lookup_table) -> int:
            return _t.get((a, m), 0)

        if isinstance(op, Wait):
            now += op.seconds
            continue
        if isinstance(op, CancelAll):
            acc = TRADERS[op.trader].address
            gone = engine.cancel_all(acc, nonce - op.back)
            assert [v.order_hash for v in gone] == model.cancel_all(acc, nonce - op.back)
            continue
        if isinstance(op, Cancel):
            if not orders:
                continue
            h = orders[op.pick % len(orders)].order.hash(SEP)
            try:
                want = model.cancel(h)
            except ModelError as err:
                with pytest.raises(err.kind):
                    engine.cancel(h)
            else:
                got = engine.cancel(h)
                assert (got.order_hash, got.filled, got.seq) == (h, want.filled, want.seq)
            continue
        if isinstance(op, Submit):
            so = SignedOrder(build_order(op, now, nonce), DUMMY_SIG)
            nonce += 1
            orders.append(so)
        else:
            if not orders:
                continue
            so = orders[op.pick % len(orders)]
        order = so.order
        h = order.hash(SEP)
        filled = total.get(h, 0)
        before = [(m, engine.orders(m)) for m in engine.markets()]
        next_seq = engine.next_seq
        try:
            want = model.submit(so, h, now, lookup, filled)
        except ModelError as err:
            with pytest.raises(err.kind):
                engine.submit(so, now=now, positions=lookup, filled=filled)
            assert [(m, engine.orders(m)) for m in engine.markets()] == before
            assert engine.next_seq == next_seq
        else:
            got = engine.submit(so, now=now, positions=lookup, filled=filled)
            assert [(f.maker.order.hash(SEP), f.size) for f in got.fills] == want.fills
            assert (got.filled, got.status) == (want.filled, want.status)
            assert [(r.view.order_hash, r.cause) for r in got.removed] == want.removed
            seq_of[h] = got.seq
            check_fills(got, order, lookup, seq_of, total)
            for f in got.fills:
                sign = 1 if order.side == 0 else -1
                m = order.market
                positions[order.account, m] = positions.get((order.account, m), 0) + sign * f.size
                ma = f.maker.order.account
                positions[ma, m] = positions.get((ma, m), 0) - sign * f.size
            if got.status is Status.RESTING:
                check_rested_uncrossed(engine, so, lambda a, m: positions.get((a, m), 0), now)
        for m in MARKETS:
            assert [(v.order_hash, v.filled, v.seq) for v in engine.orders(m)] == model.book(m)
        check_book(engine)
    restored = Engine.restore(SEP, MARKETS, engine.resting(), next_seq=engine.next_seq)
    for m in MARKETS:
        assert restored.orders(m) == engine.orders(m)
        assert restored.depth(m, 1000) == engine.depth(m, 1000)


@given(start=initial_positions, script=ops)
def test_the_engine_matches_like_a_slow_reference_book(start: list[int], script: list[Op]) -> None:
    run_against_model(start, script)


def test_the_model_comparison_runs_a_sweep_with_every_flag() -> None:
    """A fixed script (no hypothesis) so a plain run exercises the comparison end to end."""
    script: list[Op] = [
        Submit(1, 1, 1, 0, 2, 0, 30, ""),
        Submit(2, 1, 1, 1, 2, RO, 30, ""),
        Submit(3, 1, 1, 2, 2, 0, 5, ""),
        Submit(0, 1, 1, 3, 2, 0, 30, ""),
        Wait(6),
        Submit(1, 1, 0, 3, 9, RO, 30, ""),
        Submit(0, 1, 0, 3, 9, IOC, 30, ""),
        Submit(2, 1, 0, -3, 1, PO, 30, ""),
        Submit(3, 1, 1, -3, 1, PO, 30, ""),
        Resubmit(5),
        Cancel(7),
        CancelAll(0, 2),
    ]
    run_against_model([0, -2, 3, 0], script)


# --------------------------------------------------------------------------- property 2


@dataclass(frozen=True)
class World:
    store: MemoryStore
    root: bytes
    deposit_hashes: tuple[bytes, ...]


def build_world() -> World:
    """Return a state with both markets listed and priced and every trader holding 1M USDC."""
    store = MemoryStore()
    state = StateOverlay(store, genesis_root(store, ORACLE.address))
    deposits = [deposit_tx(i, t.address, 10**12) for i, t in enumerate(TRADERS)]
    ctx = BatchContext(T0, SEP, [keccak(d) for d in deposits])
    txs = []
    for mid, p in MARKETS.items():
        listing = ListMarket(mid, 0, f"M{mid}-PERP".encode().ljust(16, b"\0"), 0, 0, p.lot_size,
                             p.tick_size, 100_000, 50_000, p.maker_fee_ppm, p.taker_fee_ppm,
                             10_000)  # fmt: skip
        txs.append(encode_tx(SIGNER.sign(listing, ORACLE.key)))
        txs.append(encode_tx(SIGNER.sign(OracleUpdate(mid, BASE_PRICE, 0, T0), ORACLE.key)))
    for tx in (*txs, *deposits):
        receipt = apply(state, tx, ctx)
        assert receipt.ok, receipt.describe()
    root = state.root()
    store.update(state.pending_nodes())
    return World(store, root, tuple(ctx.deposit_hashes))


_WORLD: list[World] = []


def world() -> World:
    if not _WORLD:
        _WORLD.append(build_world())
    return _WORLD[0]


def run_against_stf(script: list[Op]) -> dict[str, Any]:
    w = world()
    state = StateOverlay(w.store, w.root)
    engine = Engine(SEP, MARKETS)
    keys = {t.address: t.key for t in TRADERS}
    orders: list[SignedOrder] = []
    seq_of: dict[bytes, int] = {}
    total: dict[bytes, int] = {}
    now, nonce, applied = T0 + 1, 0, 0

    def lookup(a: bytes, m: int) -> int:
        return state.account(a).position(m)

    for op in script:
        if isinstance(op, Wait):
            now += op.seconds
            continue
        if isinstance(op, CancelAll):
            engine.cancel_all(TRADERS[op.trader].address, nonce - op.back)
            continue
        if isinstance(op, Cancel):
            if orders:
                h = orders[op.pick % len(orders)].order.hash(SEP)
                if engine.get(h) is not None:
                    engine.cancel(h)
            continue
        if isinstance(op, Submit):
            o = build_order(op, now, nonce)
            nonce += 1
            so = SIGNER.order(o, keys[o.account])
            orders.append(so)
        else:
            if not orders:
                continue
            so = orders[op.pick % len(orders)]
        h = so.order.hash(SEP)
        filled = state.order(so.order.account, h).filled
        try:
            sub = engine.submit(so, now=now, positions=lookup, filled=filled)
        except EngineError:
            continue
        seq_of[h] = sub.seq
        check_fills(sub, so.order, lookup, seq_of, total)
        ctx = BatchContext(now, SEP, list(w.deposit_hashes))
        for f in sub.fills:
            receipt = apply(state, encode_tx(f), ctx)
            assert receipt.reason == Reason.OK, receipt.describe()
            applied += 1
        for f in sub.fills:  # the state's filled amounts are the engine's
            for o in (f.maker.order, f.taker.order):
                oh = o.hash(SEP)
                assert state.order(o.account, oh).filled == total[oh]
        if sub.status is Status.RESTING:
            check_rested_uncrossed(engine, so, lookup, now)
        check_book(engine)
    return {"applied": applied}


@given(script=ops)
def test_every_fill_the_engine_emits_applies_with_the_reference_stf(script: list[Op]) -> None:
    run_against_stf(script)


def test_a_fixed_script_of_crossing_orders_applies_every_fill_with_the_stf() -> None:
    script: list[Op] = [
        Submit(0, 1, 1, 0, 3, 0, 30, ""),
        Submit(1, 1, 1, 1, 3, 0, 30, ""),
        Submit(2, 1, 0, 1, 5, 0, 30, ""),  # takes 3 + 2
        Submit(2, 1, 1, -1, 2, RO, 30, ""),  # reduces the new long: trades 0 (no bids) and rests
        Submit(3, 1, 0, 2, 4, IOC, 30, ""),  # takes 1 from trader 1, then trader 2's RO ask
        Submit(0, 2, 0, 0, 2, 0, 30, ""),
        Submit(1, 2, 1, 0, 2, IOC, 30, ""),
    ]
    assert run_against_stf(script)["applied"] >= 4
