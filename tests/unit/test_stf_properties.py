"""Check the reference state transition on random transaction sequences against a dict model.

A scenario is a small universe (3-6 traders, 1-3 perpetual markets, a deposit queue) and a list
of abstract operations: deposits (next, replayed, skipped, tampered, beyond the queue),
withdrawals, oracle updates and funding ticks (good, stale, future, foreign-signed, out of
cap), fills between fresh crossing orders with random prices, sizes, flags, nonces, expiries
and fee caps, re-fills of earlier orders (partial fills, over-fills, fills of cancelled or
expired orders), cancels, cancel-alls, market listings with good and bad parameters, replays of
earlier applied transactions, huge values near and past the protocol's ranges, random bytes and
bit-flipped copies of earlier transactions. The interpreter turns the operations into real
transaction bytes, applies them with ``optirollup.stf.apply`` on a ``StateOverlay``, and checks
after every transaction:

* the STF never raises; a rejected transaction writes nothing (same root, no dirty leaf);
* a plain-dict model: every transaction whose preconditions the model sees violated (replayed
  deposit or withdrawal, expired, cancelled or over-filled order, bad signature, stale time…)
  is rejected, every applied one satisfies all of them, and after an applied transaction the
  whole state (accounts with positions and funding snapshots, order leaves, markets, system,
  withdrawals) equals the model;
* conservation: ``Σ collateral + fees + insurance + Σ withdrawals + pending funding`` equals the
  credited deposits minus a dust that never decreases and grows, per transaction, by less than
  one quote unit per position whose funding that transaction settled (funding credits round
  down); fills conserve exactly, fees included; positions net to zero in every market;
* the margin predicate of every applied FILL, recomputed with ``margin.risk`` on the
  funding-settled pre-state, and the initial requirement after every applied WITHDRAW.

At the end of each example the sequence is replayed on a fresh store twice: once without any
intermediate root (the sequencer's fast path) and once through ``stf.batch.trace`` with a signer
cache (the dispute trace); both must give the same receipts, the same per-transaction roots and
the same final root, and the committed trie read back through a fresh overlay equals the model.

``make test`` runs the "ci" hypothesis profile (100 examples per property, about 15 s for this
module); ``make test-long`` (``HYPOTHESIS_PROFILE=long``) runs 10,000 examples per property
(about ten minutes) and adds the ``@pytest.mark.slow`` variant, whose sequences are four times
longer, with a tenth of the profile's examples (1,000).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import pytest
from eth_hash.auto import keccak
from hypothesis import event as _hypothesis_event
from hypothesis import given, settings
from hypothesis import note as _hypothesis_note
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from optirollup.codec import eip712
from optirollup.codec.tx import (
    TX_LENGTHS,
    Cancel,
    CancelAll,
    Deposit,
    Fill,
    FundingTick,
    ListMarket,
    MarketKind,
    OracleUpdate,
    Order,
    OrderFlags,
    Side,
    SignedOrder,
    TxType,
    Withdraw,
    decode_tx,
    encode_tx,
    message_hash,
)
from optirollup.errors import MalformedTransaction
from optirollup.state.leaves import MAX_POSITIONS, Account, Market, Position
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import MemoryStore
from optirollup.stf import BatchContext, Party, Reason, Receipt, apply, margin
from optirollup.stf.batch import trace
from optirollup.testkit import DEFAULT_DOMAIN, Signer, Trader
from optirollup.units import (
    I32_MAX,
    I32_MIN,
    MAX_FUNDING_INDEX,
    MAX_POSITION_SIZE,
    PPM,
    SIZE_SCALE,
    U64_MAX,
)

# --------------------------------------------------------------------------- the universe


def event(label: str) -> None:
    """Record a hypothesis event (shown by --hypothesis-show-statistics); no-op outside @given."""
    with contextlib.suppress(InvalidArgument):
        _hypothesis_event(label)


def note(text: str) -> None:
    """Print ``text`` with a failing example; no-op outside @given."""
    with contextlib.suppress(InvalidArgument):
        _hypothesis_note(text)


ORACLE = Trader.of("props-oracle")
TRADERS = tuple(Trader.of(f"props-trader-{i}") for i in range(6))
STRANGER = Trader.of("props-stranger")  # a valid key that signs for accounts it does not own
KEYLESS = bytes.fromhex("00" * 19 + "ee")  # receives deposits, can never sign
SIGNER = Signer(DEFAULT_DOMAIN)
FOREIGN = Signer(eip712.Domain(chain_id=1, verifying_contract=b"\x99" * 20))
SEP = SIGNER.separator
T0 = 1_700_000_000
UNLISTED = 77  # a market id never listed
MAX_FEE_PPM = 100_000
MAX_FUNDING_PPM = 100_000

# (lot, tick) pairs whose product is a multiple of SIZE_SCALE, from fine to coarse
LOT_TICKS = ((10**6, 100), (10**5, 1_000), (10**7, 10), (10**6, 10_000), (1, 10**8), (10**8, 1))


@dataclass(frozen=True)
class MarketSpec:
    """Parameters of one market listed by the setup."""

    market_id: int
    lot: int
    tick: int
    im: int
    mm: int
    maker_fee: int
    taker_fee: int
    max_funding: int
    price: int


@st.composite
def market_specs(draw: st.DrawFn, market_id: int) -> MarketSpec:
    """Draw valid perpetual-market parameters and an opening index price."""
    lot, tick = draw(st.sampled_from(LOT_TICKS))
    im = draw(st.sampled_from([50_000, 100_000, 200_000, 500_000]))
    mm = draw(st.sampled_from([im // 2, im // 4, im - 1]))
    return MarketSpec(
        market_id, lot, tick, im, mm,
        maker_fee=draw(st.sampled_from([0, 200, 1_000, MAX_FEE_PPM])),
        taker_fee=draw(st.sampled_from([0, 500, 2_000, MAX_FEE_PPM])),
        max_funding=draw(st.sampled_from([1, 1_000, 10_000, MAX_FUNDING_PPM])),
        price=draw(st.integers(50 * 10**6, 5_000 * 10**6)),
    )  # fmt: skip


# --------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Dep:
    """Deposit: 0 next in queue, 1 replay, 2 skip ahead, 3 tampered amount, 4 beyond the queue."""

    mode: int
    k: int


@dataclass(frozen=True)
class Wd:
    """Withdraw: 0 good, 1 wrong nonce, 2 stranger signs, 3 foreign domain, 4 zero amount,
    5 to the zero address."""

    trader: int
    amount: int
    mode: int


@dataclass(frozen=True)
class Orc:
    """Oracle update: move the price by ``move_ppm``; modes 0 good, 1 trader signs, 2 mark set,
    3 zero price, 4 huge price; time modes 0 just after, 1 batch time, 2 stale, 3 future."""

    market: int
    move_ppm: int
    tmode: int
    mode: int


@dataclass(frozen=True)
class Fund:
    """Funding tick with ``rate``; modes 0 good, 1 trader signs; time modes as Orc."""

    market: int
    rate: int
    tmode: int
    mode: int


@dataclass(frozen=True)
class Match:
    """A fill between two fresh orders built to cross (unless ``cross`` says otherwise)."""

    maker: int
    taker: int
    market: int
    side: int
    price_off: int
    cross: int  # 0 at the maker price, 1 better limit, 2 not crossing, 3 off-tick limit
    msize: int
    tsize: int
    q: int
    qmode: int  # 0 q capped by both sizes, 1 raw q, 2 off-lot, 3 zero
    mflags: int
    tflags: int
    nonce: int
    expiry: int
    mcap: int  # 0 enough, 1 below the market fee
    tcap: int
    msign: int  # 0 own key, 1 stranger, 2 foreign domain, 3 high-s twin, 4 junk bytes
    tsign: int
    big: int  # 0 normal, 1 huge size, 2 huge price, 3 both


@dataclass(frozen=True)
class Refill:
    """A fill between two earlier orders: 0 ``q`` lots, 1 maker's remainder, 2 remainder + lot."""

    maker: int
    taker: int
    q: int
    qmode: int


@dataclass(frozen=True)
class Cxl:
    """Cancel an earlier order: 0 owner, 1 stranger signs, 2 owner cancels a random hash."""

    ref: int
    mode: int


@dataclass(frozen=True)
class CxlAll:
    """Cancel-all with floor = current floor + ``delta``; 0 owner signs, 1 stranger."""

    trader: int
    delta: int
    mode: int


@dataclass(frozen=True)
class Lst:
    """List market ``market_id`` with parameter set ``variant`` (several are invalid)."""

    market_id: int
    variant: int
    mode: int


@dataclass(frozen=True)
class Replay:
    """Re-apply the ``k``-th earlier applied DEPOSIT, WITHDRAW or FILL, byte for byte."""

    k: int


@dataclass(frozen=True)
class Advance:
    """Close the batch and open the next, ``dt`` seconds later."""

    dt: int


@dataclass(frozen=True)
class Junk:
    """0 random bytes, 1 a type byte + random payload of the type's exact length,
    2 a copy of an earlier transaction with one byte flipped."""

    kind: int
    blob: bytes
    pos: int


@dataclass(frozen=True)
class Squeeze:
    """Move the index price so that trader ``trader``'s equity is ``pct``% of its initial
    requirement (for ``pct`` below 100, under-margined), then have it reduce ``frac``% of the
    position at ``off`` ticks from the new price (a bad price can grow its shortfall)."""

    trader: int
    pct: int
    frac: int
    off: int


Op = Dep | Wd | Orc | Fund | Match | Refill | Cxl | CxlAll | Lst | Replay | Advance | Junk | Squeeze

small = st.integers(0, 63)
amounts = st.one_of(
    st.integers(1, 20_000 * 10**6),
    st.sampled_from([0, 1, 10**6, U64_MAX, U64_MAX - 1, 2**63]),
)
rates = st.one_of(
    st.integers(-20_000, 20_000),
    st.sampled_from([0, 1, -1, MAX_FUNDING_PPM, -MAX_FUNDING_PPM, I32_MAX, I32_MIN]),
)
flags = st.sampled_from([1, 2, 4, 3, 5, 6, 7, 8, 0x80])
clean_matches = st.builds(
    Match,
    maker=small, taker=small, market=st.integers(0, 3), side=st.integers(0, 1),
    price_off=st.integers(-30, 30), cross=st.sampled_from([0, 1]),
    msize=st.integers(1, 400), tsize=st.integers(1, 400), q=st.integers(1, 400),
    qmode=st.just(0), mflags=st.sampled_from([0, 0, 0, 0, 1, 2]),
    tflags=st.sampled_from([0, 0, 0, 0, 0, 2]),
    nonce=st.integers(0, 6), expiry=st.just(3), mcap=st.just(0), tcap=st.just(0),
    msign=st.just(0), tsign=st.just(0), big=st.just(0),
)  # fmt: skip
FAULTS: dict[str, st.SearchStrategy[int]] = {
    "maker": st.just(63), "taker": st.just(63),  # self-trade
    "market": st.just(4),  # the never-listed market
    "cross": st.sampled_from([2, 3]), "qmode": st.sampled_from([1, 2, 3]),
    "mflags": flags, "tflags": flags, "expiry": st.sampled_from([0, -1, 1]),
    "mcap": st.just(1), "tcap": st.just(1), "msign": st.integers(1, 4),
    "tsign": st.integers(1, 4), "big": st.integers(1, 3), "nonce": st.just(0),
}  # fmt: skip


def _with_one_fault(m: Match) -> st.SearchStrategy[Match]:
    """Return ``m`` with exactly one knob turned to a value that may invalidate the fill."""
    return st.sampled_from(sorted(FAULTS)).flatmap(
        lambda f: FAULTS[f].map(lambda v: replace(m, **{f: v}))
    )


faulty_matches = clean_matches.flatmap(_with_one_fault)
squeezes = st.builds(
    Squeeze, trader=small, pct=st.one_of(st.integers(50, 99), st.integers(40, 130)),
    frac=st.one_of(st.integers(1, 20), st.integers(1, 100)), off=st.integers(-50, 50),
)  # fmt: skip
ops = st.one_of(
    st.builds(Dep, mode=st.sampled_from([0, 0, 0, 1, 2, 3, 4]), k=small),
    st.builds(Wd, trader=small, amount=amounts, mode=st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5])),
    st.builds(
        Orc,
        market=st.integers(0, 4),
        move_ppm=st.integers(-300_000, 300_000),
        tmode=st.sampled_from([0, 0, 1, 2, 3]),
        mode=st.sampled_from([0, 0, 0, 0, 1, 2, 3, 4]),
    ),  # fmt: skip
    st.builds(
        Fund,
        market=st.integers(0, 4),
        rate=rates,
        tmode=st.sampled_from([0, 0, 1, 2, 3]),
        mode=st.sampled_from([0, 0, 0, 1]),
    ),  # fmt: skip
    clean_matches,
    clean_matches,
    clean_matches,
    faulty_matches,
    faulty_matches,
    squeezes,
    squeezes,
    st.builds(Refill, maker=small, taker=small, q=st.integers(1, 400), qmode=st.integers(0, 2)),
    st.builds(Cxl, ref=small, mode=st.sampled_from([0, 0, 1, 2])),
    st.builds(CxlAll, trader=small, delta=st.integers(-1, 3), mode=st.sampled_from([0, 0, 1])),
    st.builds(Lst, market_id=st.integers(0, 5), variant=st.integers(0, 9), mode=st.integers(0, 3)),
    st.builds(Replay, k=small),
    st.builds(Advance, dt=st.sampled_from([0, 1, 60, 3_600])),
    st.builds(Junk, kind=st.integers(0, 2), blob=st.binary(max_size=300), pos=st.integers(0, 300)),
)


@dataclass(frozen=True)
class Scenario:
    """A universe, its deposit queue, and the operations to run on it."""

    n_traders: int
    markets: tuple[MarketSpec, ...]
    queue: tuple[tuple[int, int], ...]  # (account index (n_traders = keyless), amount)
    ops: tuple[Op, ...]


@st.composite
def scenarios(draw: st.DrawFn, max_ops: int = 60) -> Scenario:
    """Draw a scenario: setup deposits fund every trader, then a random tail of the queue."""
    n = draw(st.integers(3, 6))
    n_markets = draw(st.integers(1, 3))
    markets = tuple(draw(market_specs(i + 1)) for i in range(n_markets))
    funding = [(i, draw(st.integers(100 * 10**6, 50_000 * 10**6))) for i in range(n)]
    tail = draw(st.lists(st.tuples(st.integers(0, n), amounts), max_size=8))
    body = draw(st.lists(ops, min_size=max_ops // 4, max_size=max_ops))
    return Scenario(n, markets, tuple(funding + tail), tuple(body))


# --------------------------------------------------------------------------- the dict model


@dataclass
class MAccount:
    collateral: int = 0
    nonce: int = 0
    floor: int = 0
    positions: dict[int, list[int]] = field(default_factory=dict)  # market -> [size, snapshot]


@dataclass
class MMarket:
    lot: int
    tick: int
    im: int
    mm: int
    maker_fee: int
    taker_fee: int
    max_funding: int
    symbol: bytes
    price: int = 0
    otime: int = 0
    findex: int = 0
    ftime: int = 0


def floor_div(a: int, b: int) -> int:
    return a // b


def ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def _sig_ok(digest: bytes, signature: bytes, expected: bytes) -> bool:
    signer = eip712.recover(digest, signature)
    return signer != eip712.ZERO_ADDRESS and signer == expected


class Model:
    """The protocol's state as plain dicts, updated from decoded transactions."""

    def __init__(self, oracle: bytes, deposit_hashes: Sequence[bytes]) -> None:
        self.oracle = oracle
        self.deposit_hashes = list(deposit_hashes)
        self.accounts: dict[bytes, MAccount] = {}
        self.orders: dict[tuple[bytes, bytes], list[Any]] = {}  # -> [filled, cancelled]
        self.markets: dict[int, MMarket] = {}
        self.next_dep = 0
        self.next_wid = 0
        self.fees = 0
        self.withdrawals: list[tuple[bytes, bytes, int]] = []

    def acc(self, a: bytes) -> MAccount:
        return self.accounts.setdefault(a, MAccount())

    def order(self, a: bytes, h: bytes) -> list[Any]:
        return self.orders.get((a, h), [0, False])

    def settle(self, a: bytes) -> int:
        """Settle funding on every position of ``a``; return the credited sum."""
        acc, total = self.acc(a), 0
        for mid, pos in acc.positions.items():
            index = self.markets[mid].findex
            credit = floor_div(-pos[0] * (index - pos[1]), SIZE_SCALE * PPM)
            total += credit
            pos[1] = index
        acc.collateral += total
        return total

    # -- preconditions: a non-empty list means the STF must reject --------------------------

    def violations(self, tx: Any, raw: bytes, now: int) -> list[str]:
        v: list[str] = []
        if isinstance(tx, Deposit):
            if tx.index >= len(self.deposit_hashes) or self.deposit_hashes[tx.index] != keccak(raw):
                v.append("deposit unknown")
            if tx.index < self.next_dep:
                v.append("deposit replayed")
            elif tx.index > self.next_dep:
                v.append("deposit skips the queue")
            if tx.amount == 0:
                v.append("zero deposit")
        elif isinstance(tx, Withdraw):
            if not _sig_ok(message_hash(tx, SEP), tx.signature, tx.account):
                v.append("withdraw signature")
            nonce = self.accounts[tx.account].nonce if tx.account in self.accounts else 0
            if tx.nonce != nonce:
                v.append("withdraw nonce (replay)")
            if tx.amount == 0:
                v.append("zero withdrawal")
            if tx.recipient == eip712.ZERO_ADDRESS:
                v.append("withdrawal to the zero address")
        elif isinstance(tx, OracleUpdate | FundingTick | ListMarket):
            if not _sig_ok(message_hash(tx, SEP), tx.signature, self.oracle):
                v.append("not the oracle")
            m = self.markets.get(tx.market)
            if isinstance(tx, ListMarket):
                if m is not None:
                    v.append("market exists")
                if tx.kind != MarketKind.PERP or not _params_ok(tx):
                    v.append("bad market")
            elif m is None:
                v.append("no market")
            elif isinstance(tx, OracleUpdate):
                if not m.otime < tx.time <= now:
                    v.append("stale or future oracle time")
                if tx.price == 0 or tx.mark != 0:
                    v.append("bad oracle price")
            else:
                if not m.ftime < tx.time <= now:
                    v.append("stale or future funding time")
                if abs(tx.rate_ppm) > m.max_funding:
                    v.append("funding cap")
                if m.price == 0:
                    v.append("funding without price")
                elif abs(m.findex + tx.rate_ppm * m.price) > MAX_FUNDING_INDEX:
                    v.append("funding index range")
        elif isinstance(tx, Cancel):
            if not _sig_ok(message_hash(tx, SEP), tx.signature, tx.account):
                v.append("cancel signature")
            if self.order(tx.account, tx.order_hash)[1]:
                v.append("already cancelled")
        elif isinstance(tx, CancelAll):
            if not _sig_ok(message_hash(tx, SEP), tx.signature, tx.account):
                v.append("cancel-all signature")
            floor = self.accounts[tx.account].floor if tx.account in self.accounts else 0
            if tx.floor <= floor:
                v.append("stale floor")
        elif isinstance(tx, Fill):
            v += self._fill_violations(tx, now)
        else:  # reserved types have no rule in this version
            v.append(f"reserved type {tx.TYPE.name}")
        return v

    def _fill_violations(self, tx: Fill, now: int) -> list[str]:
        v: list[str] = []
        mo, to, q = tx.maker.order, tx.taker.order, tx.size
        for o, so, who in ((mo, tx.maker, "maker"), (to, tx.taker, "taker")):
            if o.side > 1 or o.flags & ~7 or (o.flags & 1 and o.flags & 4):
                v.append(f"{who} order shape")
            if not _sig_ok(o.hash(SEP), so.signature, o.account):
                v.append(f"{who} signature")
            if now >= o.expiry:
                v.append(f"{who} expired")
            st_ = self.order(o.account, o.hash(SEP))
            floor = self.accounts[o.account].floor if o.account in self.accounts else 0
            if st_[1] or o.nonce < floor:
                v.append(f"{who} cancelled")
            if st_[0] + q > o.size:
                v.append(f"{who} over-filled")
        if mo.market != to.market:
            v.append("market mismatch")
        if mo.side == to.side:
            v.append("same side")
        if mo.account == to.account:
            v.append("self trade")
        if mo.flags & OrderFlags.IOC:
            v.append("IOC maker")
        if to.flags & OrderFlags.POST_ONLY:
            v.append("post-only taker")
        m = self.markets.get(mo.market)
        if m is None:
            v.append("no market")
            return v
        if m.price == 0:
            v.append("no price")
        for o, who in ((mo, "maker"), (to, "taker")):
            if o.price == 0 or o.price % m.tick:
                v.append(f"{who} tick")
            if o.size == 0 or o.size % m.lot:
                v.append(f"{who} lot")
        if q == 0 or q % m.lot:
            v.append("fill lot")
        if (to.side == Side.BUY and mo.price > to.price) or (
            to.side == Side.SELL and mo.price < to.price
        ):
            v.append("not crossing")
        if m.maker_fee > mo.fee_cap_ppm or m.taker_fee > to.fee_cap_ppm:
            v.append("fee cap")
        if v:
            return v
        # the account-level effects: reduce-only, position count, ranges
        sign = 1 if to.side == Side.BUY else -1
        for o, d in ((mo, -sign), (to, sign)):
            acc = self.accounts.get(o.account, MAccount())
            before = acc.positions.get(mo.market, [0, 0])[0]
            after = before + d * q
            if o.flags & OrderFlags.REDUCE_ONLY and not _reduces(before, after):
                v.append("reduce-only grows")
            n = len(acc.positions) + (before == 0 and after != 0) - (before != 0 and after == 0)
            if n > MAX_POSITIONS:
                v.append("too many positions")
            if abs(after) > MAX_POSITION_SIZE:
                v.append("position range")
        return v

    # -- effects of an applied transaction ----------------------------------------------------

    def apply_ok(self, tx: Any) -> None:
        if isinstance(tx, Deposit):
            self.acc(tx.account).collateral += tx.amount
            self.next_dep += 1
        elif isinstance(tx, Withdraw):
            self.settle(tx.account)
            a = self.acc(tx.account)
            a.collateral -= tx.amount
            a.nonce += 1
            self.withdrawals.append((tx.account, tx.recipient, tx.amount))
            self.next_wid += 1
        elif isinstance(tx, OracleUpdate):
            m = self.markets[tx.market]
            m.price, m.otime = tx.price, tx.time
        elif isinstance(tx, FundingTick):
            m = self.markets[tx.market]
            m.findex += tx.rate_ppm * m.price
            m.ftime = tx.time
        elif isinstance(tx, ListMarket):
            self.markets[tx.market] = MMarket(
                tx.lot_size, tx.tick_size, tx.im_ppm, tx.mm_ppm, tx.maker_fee_ppm,
                tx.taker_fee_ppm, tx.max_funding_ppm, tx.symbol,
            )  # fmt: skip
        elif isinstance(tx, Cancel):
            filled = self.order(tx.account, tx.order_hash)[0]
            self.orders[(tx.account, tx.order_hash)] = [filled, True]
        elif isinstance(tx, CancelAll):
            self.acc(tx.account).floor = tx.floor
        elif isinstance(tx, Fill):
            self._apply_fill(tx)
        else:
            raise AssertionError(f"a reserved transaction applied: {tx}")

    def _apply_fill(self, tx: Fill) -> None:
        mo, to, q = tx.maker.order, tx.taker.order, tx.size
        m = self.markets[mo.market]
        self.settle(mo.account)
        self.settle(to.account)
        value = q * mo.price // SIZE_SCALE
        assert value * SIZE_SCALE == q * mo.price, "lot·tick must make the notional exact"
        mfee = ceil_div(value * m.maker_fee, PPM)
        tfee = ceil_div(value * m.taker_fee, PPM)
        sign = 1 if to.side == Side.BUY else -1
        for o, d, cash in ((mo, -sign, sign * value - mfee), (to, sign, -sign * value - tfee)):
            a = self.acc(o.account)
            a.collateral += cash
            size = a.positions.get(mo.market, [0, 0])[0] + d * q
            if size:
                a.positions[mo.market] = [size, m.findex]
            else:
                a.positions.pop(mo.market, None)
            h = o.hash(SEP)
            self.orders[(o.account, h)] = [self.order(o.account, h)[0] + q, False]
        self.fees += mfee + tfee


def _reduces(before: int, after: int) -> bool:
    if before > 0:
        return 0 <= after < before
    if before < 0:
        return before < after <= 0
    return False


def _params_ok(tx: ListMarket) -> bool:
    return (
        tx.strike == 0 and tx.expiry == 0 and tx.lot_size >= 1 and tx.tick_size >= 1
        and (tx.lot_size * tx.tick_size) % SIZE_SCALE == 0 and 0 < tx.mm_ppm < tx.im_ppm <= PPM
        and tx.maker_fee_ppm <= MAX_FEE_PPM and tx.taker_fee_ppm <= MAX_FEE_PPM
        and 1 <= tx.max_funding_ppm <= MAX_FUNDING_PPM
    )  # fmt: skip


# --------------------------------------------------------------------------- the interpreter


def _decode(raw: bytes) -> Any | None:
    try:
        return decode_tx(raw)
    except MalformedTransaction:
        return None


def _high_s_twin(sig: bytes) -> bytes:
    """Return the malleable twin (r, n−s, v^1) of a valid signature: ecrecover accepts it,
    the protocol's low-s rule must not."""
    s = int.from_bytes(sig[32:64], "big")
    return sig[:32] + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])


@dataclass
class Batch:
    time: int
    txs: list[bytes] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    roots: list[bytes] = field(default_factory=list)


class Run:
    """Interpret a scenario: build transactions, apply them, check every invariant."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.traders = TRADERS[: sc.n_traders]
        self.universe = {t.address for t in self.traders} | {STRANGER.address, KEYLESS}
        self.queue = [
            encode_tx(Deposit(i, self._queue_addr(a), amt)) for i, (a, amt) in enumerate(sc.queue)
        ]
        self.deposit_hashes = [keccak(t) for t in self.queue]
        self.store = MemoryStore()
        self.genesis = genesis_root(self.store, ORACLE.address)
        self.state = StateOverlay(self.store, self.genesis)
        self.model = Model(ORACLE.address, self.deposit_hashes)
        self.batches: list[Batch] = []
        self.orders: list[SignedOrder] = []  # every order built, for re-fills and cancels
        self.history: list[bytes] = []  # applied DEPOSIT, WITHDRAW and FILL transactions
        self.applied: list[bytes] = []  # every applied or rejected tx, for bit flips
        self.deposited = 0
        self.dust = Fraction(0)
        self.n_ok = 0
        self._open_batch(T0)

    def _queue_addr(self, a: int) -> bytes:
        return self.traders[a].address if a < len(self.traders) else KEYLESS

    def _open_batch(self, time: int) -> None:
        self.ctx = BatchContext(time, SEP, self.deposit_hashes)
        self.batches.append(Batch(time))

    @property
    def now(self) -> int:
        return self.ctx.batch_time

    # -- setup ---------------------------------------------------------------------------

    def setup(self) -> None:
        for spec in self.sc.markets:
            self.submit(encode_tx(SIGNER.sign(self._list_tx(spec), ORACLE.key)), expect_ok=True)
            self.submit(self._oracle_tx(spec.market_id, spec.price, T0 - 10), expect_ok=True)
        for i in range(len(self.traders)):
            self.submit(self.queue[i], expect_ok=True)

    @staticmethod
    def _list_tx(spec: MarketSpec) -> ListMarket:
        return ListMarket(
            spec.market_id, MarketKind.PERP, f"M{spec.market_id}-PERP".encode().ljust(16, b"\0"),
            0, 0, spec.lot, spec.tick, spec.im, spec.mm, spec.maker_fee, spec.taker_fee,
            spec.max_funding,
        )  # fmt: skip

    def _oracle_tx(
        self, market: int, price: int, time: int, mark: int = 0, key: bytes = b""
    ) -> bytes:
        tx = OracleUpdate(market, price, mark, time)
        return encode_tx(SIGNER.sign(tx, key or ORACLE.key))

    # -- the per-transaction checks ----------------------------------------------------------

    def submit(self, raw: bytes, expect_ok: bool | None = None, must_reject: str = "") -> Receipt:
        st_, model = self.state, self.model
        pre_root = st_.root()
        decoded = _decode(raw)
        violations = (
            model.violations(decoded, raw, self.now) if decoded is not None else ["malformed"]
        )
        if must_reject:
            violations.append(must_reject)
        involved = self._involved(decoded)
        pre_accounts = {a: st_.account(a) for a in involved}
        pre_fee = st_.system().fee_balance

        receipt = apply(st_, raw, self.ctx)  # must never raise
        written = st_.dirty_count
        assert receipt.tx_type == (raw[0] if raw else -1)

        post_root = st_.root()
        self.batches[-1].txs.append(raw)
        self.batches[-1].receipts.append(receipt)
        self.batches[-1].roots.append(post_root)
        self.applied.append(raw)
        label = type(decoded).__name__ if decoded is not None else "bytes"
        event(f"{label}: {receipt.reason.name}")
        note(f"tx {len(self.applied) - 1}: {receipt.describe()} violations={violations}")
        if expect_ok is not None:
            assert receipt.ok == expect_ok, receipt.describe()

        if not receipt.ok:
            assert post_root == pre_root, f"rejected {receipt.describe()} changed the root"
            assert written == 0, f"rejected {receipt.describe()} wrote {written} leaves"

            if decoded is None:
                assert receipt.reason is Reason.MALFORMED
            self._check_conservation(0)
            return receipt

        self.n_ok += 1
        assert post_root != pre_root, f"{receipt.describe()} left the root unchanged"
        assert not violations, f"{receipt.describe()} applied despite {violations}"
        settles = isinstance(decoded, Fill | Withdraw)  # the only rules that settle funding
        n_settled = self._unsettled_positions(pre_accounts.values()) if settles else 0
        model.apply_ok(decoded)
        if isinstance(decoded, Deposit):
            self.deposited += decoded.amount
        if isinstance(decoded, Deposit | Withdraw | Fill):
            self.history.append(raw)
        if isinstance(decoded, Fill):
            self._check_fill(decoded, pre_accounts, pre_fee)
        if isinstance(decoded, Withdraw):
            r = margin.risk(st_.account(decoded.account), self._lookup)
            assert r.equity >= r.initial, f"withdrawal left {r}"
        self._check_model()
        self._check_conservation(n_settled)
        return receipt

    def _involved(self, tx: Any) -> list[bytes]:
        if isinstance(tx, Fill):
            return [tx.maker.order.account, tx.taker.order.account]
        if isinstance(tx, Deposit | Withdraw | CancelAll | Cancel):
            return [tx.account]
        return []

    def _lookup(self, market_id: int) -> Market:
        m = self.state.market(market_id)
        assert m is not None
        return m

    def _unsettled_positions(self, accounts: Any) -> int:
        return sum(
            1 for a in accounts for p in a.positions
            if self._lookup(p.market).funding_index != p.funding_snapshot
        )  # fmt: skip

    def _check_fill(self, tx: Fill, pre: dict[bytes, Account], pre_fee: int) -> None:
        st_ = self.state
        mo, to = tx.maker.order, tx.taker.order
        settled = {a: margin.settle_funding(acc, self._lookup) for a, acc in pre.items()}
        post = {a: st_.account(a) for a in pre}
        # exact conservation: what the two accounts lose (after funding) the fee balance gains
        moved = sum(post[a].collateral - settled[a].collateral for a in pre)
        assert moved + (st_.system().fee_balance - pre_fee) == 0, "fill does not conserve"
        for o in (mo, to):
            a = o.account
            before = margin.risk(settled[a], self._lookup)
            after = margin.risk(post[a], self._lookup)
            if after.equity >= after.initial:
                continue
            size_before, size_after = settled[a].position(mo.market), post[a].position(mo.market)
            assert _reduces(size_before, size_after), (
                f"fill left {a.hex()} under initial ({after}) while growing its position "
                f"{size_before} -> {size_after}"
            )
            assert after.maintenance - after.equity <= before.maintenance - before.equity, (
                f"fill grew {a.hex()}'s maintenance shortfall: {before} -> {after}"
            )
            event("fill accepted under initial margin (reducing)")
            if o.flags & OrderFlags.REDUCE_ONLY:
                assert _reduces(size_before, size_after)

    def _check_model(self, st_: StateOverlay | None = None) -> None:
        st_ = st_ or self.state
        model = self.model
        assert set(model.accounts) <= self.universe, "an account outside the universe appeared"
        for a, ma in model.accounts.items():
            acc = st_.account(a)
            want = tuple(Position(mid, p[0], p[1]) for mid, p in sorted(ma.positions.items()))
            got = (acc.collateral, acc.nonce, acc.cancel_floor, acc.positions)
            assert got == (ma.collateral, ma.nonce, ma.floor, want), f"account {a.hex()}"
        for (a, h), (filled, cancelled) in model.orders.items():
            o = st_.order(a, h)
            assert (o.filled, o.cancelled) == (filled, cancelled), f"order {h.hex()}"
        for mid, mm in model.markets.items():
            m = st_.market(mid)
            assert m is not None
            got_m = (m.kind, m.lot_size, m.tick_size, m.im_ppm, m.mm_ppm, m.maker_fee_ppm,
                     m.taker_fee_ppm, m.max_funding_ppm, m.symbol, m.oracle_price, m.option_mark,
                     m.oracle_time, m.funding_index, m.funding_time)  # fmt: skip
            assert got_m == (0, mm.lot, mm.tick, mm.im, mm.mm, mm.maker_fee, mm.taker_fee,
                             mm.max_funding, mm.symbol, mm.price, 0, mm.otime, mm.findex,
                             mm.ftime), f"market {mid}"  # fmt: skip
        s = st_.system()
        assert (s.oracle, s.next_deposit_index, s.next_withdrawal_id, s.fee_balance) == (
            ORACLE.address, model.next_dep, model.next_wid, model.fees,
        )  # fmt: skip
        assert s.insurance_balance == 0  # nothing in this version pays into the fund
        for i, (a, r, amt) in enumerate(model.withdrawals):
            w = st_.withdrawal(i)
            assert w is not None and (w.account, w.recipient, w.amount) == (a, r, amt)
        assert st_.withdrawal(len(model.withdrawals)) is None

    def _check_conservation(self, n_settled: int) -> None:
        st_ = self.state
        s = st_.system()
        total = s.fee_balance + s.insurance_balance
        total += sum(st_.withdrawal(i).amount for i in range(s.next_withdrawal_id))  # type: ignore[union-attr]
        pending = Fraction(0)
        net: dict[int, int] = {}
        for a in self.universe:
            acc = st_.account(a)
            total += acc.collateral
            for p in acc.positions:
                index = self._lookup(p.market).funding_index
                pending += Fraction(-p.size * (index - p.funding_snapshot), SIZE_SCALE * PPM)
                net[p.market] = net.get(p.market, 0) + p.size
        assert all(v == 0 for v in net.values()), f"positions do not net to zero: {net}"
        dust = self.deposited - total - pending
        grown = dust - self.dust
        assert grown >= 0, f"value created from nothing: dust {self.dust} -> {dust}"
        assert grown == 0 or grown < n_settled, (
            f"dust grew by {grown} with {n_settled} settled positions"
        )
        self.dust = dust

    # -- operations ----------------------------------------------------------------------------

    def run(self) -> None:
        self.setup()
        for op in self.sc.ops:
            getattr(self, f"op_{type(op).__name__.lower()}")(op)

    def _trader(self, i: int) -> Trader:
        return self.traders[i % len(self.traders)]

    def _market_id(self, i: int) -> int:
        """Return a listed market for 0..3, the never-listed one for 4."""
        ids = sorted(self.model.markets)
        return ids[i % len(ids)] if i < 4 else UNLISTED

    def op_dep(self, op: Dep) -> None:
        nxt = self.model.next_dep
        if op.mode == 0 and nxt < len(self.queue):
            self.submit(self.queue[nxt])
        elif op.mode == 1 and nxt > 0:
            self.submit(self.queue[op.k % nxt], must_reject="replayed deposit")
        elif op.mode == 2 and nxt + 1 + op.k % 3 < len(self.queue):
            self.submit(self.queue[nxt + 1 + op.k % 3], must_reject="deposit skips the queue")
        elif op.mode == 3 and nxt < len(self.queue):
            d = decode_tx(self.queue[nxt])
            assert isinstance(d, Deposit)
            forged = encode_tx(replace(d, amount=(d.amount + 1 + op.k) % 2**64))
            self.submit(forged, must_reject="deposit not in the queue")
        else:
            tx = Deposit(len(self.queue) + op.k % 3, self._trader(op.k).address, 10**6 + op.k)
            self.submit(encode_tx(tx), must_reject="deposit beyond the queue")

    def op_wd(self, op: Wd) -> None:
        t = self._trader(op.trader)
        nonce = self.model.accounts.get(t.address, MAccount()).nonce
        amount = 0 if op.mode == 4 else op.amount
        recipient = t.address if op.trader % 2 else KEYLESS
        if op.mode == 5:
            recipient = eip712.ZERO_ADDRESS
        tx = Withdraw(t.address, recipient, amount, nonce)
        reject = ""
        if op.mode == 1:
            tx = replace(tx, nonce=(nonce + 1 + op.amount % 2 * (U64_MAX - 1)) % 2**64)
            reject = "wrong nonce"
        signer = FOREIGN if op.mode == 3 else SIGNER
        key = STRANGER.key if op.mode == 2 else t.key
        if op.mode in (2, 3):
            reject = "foreign signature"
        self.submit(encode_tx(signer.sign(tx, key)), must_reject=reject)

    def _time(self, last: int, tmode: int) -> int:
        return (last + 1, self.now, last, self.now + 1)[tmode]

    def op_orc(self, op: Orc) -> None:
        mid = self._market_id(op.market)
        m = self.model.markets.get(mid)
        old = m.price if m is not None and m.price else 1_000 * 10**6
        price = min(max(1, old * (PPM + op.move_ppm) // PPM), U64_MAX)
        mark = 0
        if op.mode == 2:
            mark = price
        elif op.mode == 3:
            price = 0
        elif op.mode == 4:
            price = U64_MAX - op.move_ppm % 1_000
        time = self._time(m.otime if m is not None else 0, op.tmode)
        key = self._trader(op.market).key if op.mode == 1 else ORACLE.key
        self.submit(self._oracle_tx(mid, price, time, mark, key))

    def op_fund(self, op: Fund) -> None:
        mid = self._market_id(op.market)
        m = self.model.markets.get(mid)
        time = self._time(m.ftime if m is not None else 0, op.tmode)
        key = self._trader(op.market).key if op.mode == 1 else ORACLE.key
        self.submit(encode_tx(SIGNER.sign(FundingTick(mid, op.rate, time), key)))

    def _sign_order(self, o: Order, mode: int) -> SignedOrder:
        own = next((t.key for t in self.traders if t.address == o.account), STRANGER.key)
        if mode == 1:
            return SIGNER.order(o, STRANGER.key)
        if mode == 2:
            return FOREIGN.order(o, own)
        so = SIGNER.order(o, own)
        if mode == 3:
            return SignedOrder(o, _high_s_twin(so.signature))
        if mode == 4:
            return SignedOrder(o, keccak(o.encode()) + keccak(so.signature) + b"\x1b")
        return so

    def op_match(self, op: Match) -> None:
        mid = self._market_id(op.market)
        m = self.model.markets.get(mid)
        lot, tick, price0 = (m.lot, m.tick, m.price) if m is not None else (10**6, 100, 10**9)
        price0 = price0 or 1_000 * 10**6
        top = U64_MAX // tick * tick  # the highest price on the grid
        price = min(max(tick, (price0 // tick + op.price_off) * tick), top)
        msize, tsize = op.msize * lot, op.tsize * lot
        q = (min(op.q, op.msize, op.tsize) * lot, op.q * lot, op.q * lot + 1, 0)[op.qmode]
        if op.big & 1:
            msize = tsize = (U64_MAX // lot) * lot
            q = msize - lot * (op.q % 2)
        if op.big & 2:
            price = top - op.price_off % 3 * tick
        taker_buys = op.side == Side.SELL
        better = (1 if taker_buys else -1) * tick * (1 + op.q % 5)
        limit = (price, price + better, price - better // (1 + op.q % 5), price + 1)[op.cross]
        limit = min(max(limit, 0), U64_MAX)
        # a fee cap one below the market's fee (impossible when the market charges nothing)
        cap_m = max((m.maker_fee if m else 0) - op.mcap, 0)
        cap_t = max((m.taker_fee if m else 0) - op.tcap, 0)
        expiry = max(0, self.now + op.expiry * 100)
        maker = self._trader(op.maker).address
        # a different trader, except for taker index 63 (a self-trade)
        n = len(self.traders)
        taker = self._trader(op.maker if op.taker == 63 else op.maker + 1 + op.taker % (n - 1))
        taker = taker.address
        mo = Order(maker, mid, op.side, price, msize, cap_m, op.nonce, expiry, op.mflags)
        to = Order(taker, mid, 1 - op.side, limit, tsize, cap_t, op.nonce + op.q % 2,
                   expiry + op.msize % 7, op.tflags)  # fmt: skip
        smo, sto = self._sign_order(mo, op.msign), self._sign_order(to, op.tsign)
        self.orders += [smo, sto]
        self.submit(encode_tx(Fill(smo, sto, q)))

    def op_refill(self, op: Refill) -> None:
        if len(self.orders) < 2:
            return
        smo = self.orders[op.maker % len(self.orders)]
        sto = self.orders[op.taker % len(self.orders)]
        m = self.model.markets.get(smo.order.market)
        lot = m.lot if m is not None else 1
        filled = self.model.order(smo.order.account, smo.order.hash(SEP))[0]
        remaining = max(smo.order.size - filled, 0)
        q = (op.q * lot, remaining, remaining + lot)[op.qmode]
        q = min(q, U64_MAX)
        reject = "over-fill" if op.qmode == 2 else ""
        self.submit(encode_tx(Fill(smo, sto, q)), must_reject=reject)

    def op_cxl(self, op: Cxl) -> None:
        if op.mode == 2 or not self.orders:
            t = self._trader(op.ref)
            tx = Cancel(t.address, keccak(op.ref.to_bytes(4, "big")))
            self.submit(encode_tx(SIGNER.sign(tx, t.key)))
            return
        o = self.orders[op.ref % len(self.orders)].order
        own = next((t.key for t in self.traders if t.address == o.account), STRANGER.key)
        key = STRANGER.key if op.mode == 1 else own
        self.submit(encode_tx(SIGNER.sign(Cancel(o.account, o.hash(SEP)), key)))

    def op_cxlall(self, op: CxlAll) -> None:
        t = self._trader(op.trader)
        floor = self.model.accounts.get(t.address, MAccount()).floor + op.delta
        key = STRANGER.key if op.mode == 1 else t.key
        self.submit(encode_tx(SIGNER.sign(CancelAll(t.address, max(floor, 0)), key)))

    def op_lst(self, op: Lst) -> None:
        base = ListMarket(
            op.market_id, MarketKind.PERP, b"NEW-PERP".ljust(16, b"\0"), 0, 0, 10**6, 100,
            100_000, 50_000, 200, 500, 10_000,
        )  # fmt: skip
        variants: list[dict[str, int]] = [
            {}, {"lot_size": 1, "tick_size": 10**8}, {"kind": MarketKind.CALL},
            {"mm_ppm": 100_000}, {"tick_size": 7}, {"maker_fee_ppm": MAX_FEE_PPM + 1},
            {"max_funding_ppm": 0}, {"im_ppm": PPM + 1}, {"strike": 1}, {"lot_size": 0},
        ]  # fmt: skip
        tx = replace(base, **variants[op.variant])
        key = TRADERS[0].key if op.mode == 3 else ORACLE.key
        self.submit(encode_tx(SIGNER.sign(tx, key)))

    def op_replay(self, op: Replay) -> None:
        if not self.history:
            return
        raw = self.history[op.k % len(self.history)]
        d = decode_tx(raw)
        if isinstance(d, Deposit | Withdraw):
            event(f"replayed {type(d).__name__}")
            self.submit(raw, must_reject=f"replayed {type(d).__name__}")
        else:
            self.submit(raw)  # a fill replays legitimately while both orders have room

    def op_squeeze(self, op: Squeeze) -> None:
        holders = [
            t for t in self.traders if self.model.accounts.get(t.address, MAccount()).positions
        ]
        if not holders:
            return
        t = holders[op.trader % len(holders)]
        acc = self.model.accounts[t.address]
        mid, (size, _) = next(iter(sorted(acc.positions.items())))
        m = self.model.markets[mid]
        # equity(P) = c + s·P/S and initial(P) = |s|·P·im/(S·PPM), ignoring other positions:
        # equity = pct% · initial at P = c·S / (pct·|s|·im/(100·PPM) − s)
        den = Fraction(op.pct * abs(size) * m.im, 100 * PPM) - size
        if den == 0 or (price := int(Fraction(acc.collateral * SIZE_SCALE) / den)) <= 0:
            return
        price = min(price, U64_MAX)
        if m.otime >= self.now:
            self._open_batch(m.otime + 1)
        self.submit(self._oracle_tx(mid, price, m.otime + 1))
        q = max(abs(size) * op.frac // 100 // m.lot * m.lot, m.lot)
        fill_price = min(
            max(m.tick, (price // m.tick + op.off) * m.tick), U64_MAX // m.tick * m.tick
        )
        n = len(self.traders)
        cp_trader = self.traders[(self.traders.index(t) + 1 + op.off % (n - 1)) % n]
        other, other_addr = cp_trader.key, cp_trader.address
        side = Side.SELL if size > 0 else Side.BUY  # the squeezed trader's reducing side
        own = Order(t.address, mid, side, fill_price, q, PPM, 10**9, self.now + 10**6)
        cp = Order(other_addr, mid, 1 - side, fill_price, q, PPM, 10**9, self.now + 10**6)
        so_own, so_cp = SIGNER.order(own, t.key), SIGNER.order(cp, other)
        self.orders += [so_own, so_cp]
        pair = (so_cp, so_own) if op.off % 2 else (so_own, so_cp)
        r = self.submit(encode_tx(Fill(*pair, q)))
        event(f"squeezed fill: {r.reason.name}")

    def op_advance(self, op: Advance) -> None:
        self._open_batch(self.now + op.dt)

    def op_junk(self, op: Junk) -> None:
        if op.kind == 0:
            raw = op.blob
        elif op.kind == 1:
            t = list(TX_LENGTHS)[op.pos % len(TX_LENGTHS)]
            n = TX_LENGTHS[t] - 1
            raw = bytes([t]) + (op.blob * (n // max(len(op.blob), 1) + 1))[:n].ljust(n, b"\x01")
        else:
            if not self.applied:
                return
            src = self.applied[op.pos % len(self.applied)]
            if not src:
                return
            i = op.pos % len(src)
            raw = (
                src[:i]
                + bytes([src[i] ^ (op.blob[0] if op.blob and op.blob[0] else 1)])
                + src[i + 1 :]
            )
        self.submit(raw)

    # -- end-of-run checks ---------------------------------------------------------------

    def check_replays(self) -> None:
        """Replay every batch fast (one root at the end) and traced; both must match the run."""
        final = self.state.root()
        fast_store = MemoryStore()
        fast = StateOverlay(fast_store, genesis_root(fast_store, ORACLE.address))
        traced_store = MemoryStore()
        traced_root = genesis_root(traced_store, ORACLE.address)
        assert traced_root == self.genesis
        cache: dict[tuple[bytes, bytes], bytes] = {}
        for b in self.batches:
            ctx = BatchContext(b.time, SEP, self.deposit_hashes)
            receipts = [apply(fast, tx, ctx) for tx in b.txs]
            assert receipts == b.receipts
            traced = StateOverlay(traced_store, traced_root)
            roots = trace(
                traced, b.txs, BatchContext(b.time, SEP, self.deposit_hashes, signer_cache=cache)
            )
            assert roots[1:] == b.roots, "traced roots differ from the run's per-tx roots"
            assert roots[0] == traced_root
            traced_store.update(traced.pending_nodes())
            traced_root = roots[-1]
        assert fast.root() == final, "bulk replay (one root at the end) differs"
        assert traced_root == final
        # the committed trie, read back through a fresh overlay, is the model
        self.store.update(self.state.pending_nodes())
        self._check_model(StateOverlay(self.store, final))


def _run(sc: Scenario) -> Run:
    run = Run(sc)
    run.run()
    run.check_replays()
    event(f"applied {min(run.n_ok // 5 * 5, 40)}+ transactions")
    return run


# --------------------------------------------------------------------------- the properties


@given(scenarios())
def test_random_sequences_keep_every_invariant_and_replay_identically(sc: Scenario) -> None:
    _run(sc)


@pytest.mark.slow
@settings(max_examples=max(settings.default.max_examples // 10, 10))  # 1,000 under "long"
@given(scenarios(max_ops=240))
def test_long_random_sequences_keep_every_invariant(sc: Scenario) -> None:
    _run(sc)


@given(st.binary(max_size=400), st.integers(0, 2**64 - 1))
def test_arbitrary_bytes_never_raise_and_never_change_the_state(data: bytes, time: int) -> None:
    run = Run(Scenario(3, (MarketSpec(1, 10**6, 100, 100_000, 50_000, 200, 500, 10_000, 10**9),),
                       ((0, 10**9), (1, 10**9), (2, 10**9)), ()))  # fmt: skip
    run.setup()
    run._open_batch(max(time, T0))
    root = run.state.root()
    for raw in (data, bytes([TxType.FILL]) + data, data[: TX_LENGTHS[TxType.FILL]]):
        r = apply(run.state, raw, run.ctx)
        assert not r.ok
        assert run.state.root() == root


# --------------------------------------------------------------------------- pinned examples


def _base_run() -> Run:
    spec = MarketSpec(1, 10**6, 100, 100_000, 50_000, 200, 500, 10_000, 2_000 * 10**6)
    run = Run(Scenario(3, (spec,), ((0, 10_000 * 10**6), (1, 10_000 * 10**6), (2, 10**9)), ()))
    run.setup()
    return run


def test_the_interpreter_applies_fills_withdrawals_and_funding() -> None:
    run = _base_run()
    good = Match(0, 1, 0, 1, 0, 0, 100, 100, 50, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0)
    run.op_match(good)
    run.op_refill(Refill(0, 1, 50, 1))  # the maker's remainder
    run.op_refill(Refill(0, 1, 1, 0))  # both full now: over-fill
    run.op_fund(Fund(0, 100, 0, 0))
    run.op_wd(Wd(0, 10**6, 0))
    run.op_replay(Replay(len(run.history) - 1))
    reasons = [r.reason for r in run.batches[-1].receipts[-6:]]
    assert reasons == [Reason.OK, Reason.OK, Reason.OVERFILL, Reason.OK, Reason.OK,
                       Reason.BAD_NONCE]  # fmt: skip
    run.check_replays()


@pytest.mark.parametrize(
    "sign_mode", [1, 2, 3, 4], ids=["stranger", "foreign-domain", "high-s-twin", "junk-bytes"]
)
def test_a_maker_signature_that_is_not_the_makers_is_rejected(sign_mode: int) -> None:
    run = _base_run()
    run.op_match(Match(0, 1, 0, 1, 0, 0, 10, 10, 10, 0, 0, 0, 0, 3, 0, 0, sign_mode, 0, 0))
    r = run.batches[-1].receipts[-1]
    assert (r.reason, r.party) == (Reason.BAD_SIGNATURE, Party.MAKER)


def test_funding_dust_is_bounded_by_one_unit_per_settled_position() -> None:
    run = _base_run()
    # odd sizes and an odd rate make every settlement lose a fraction of a unit
    run.op_match(Match(0, 1, 0, 1, 1, 0, 7, 7, 7, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0))
    run.op_orc(Orc(0, 1, 0, 0))  # index price 2000.002 USDC: funding no longer divides evenly
    for _ in range(3):
        run.op_fund(Fund(0, 3, 0, 0))
        run.op_wd(Wd(0, 1, 0))
        run.op_wd(Wd(1, 1, 0))
    assert all(r.ok for r in run.batches[-1].receipts[-11:])
    assert 0 < run.dust < 6
