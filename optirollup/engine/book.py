"""A price-time-priority limit order book of one market (pure: no clock, no I/O).

An incoming order is the **taker**: it trades against resting orders (**makers**) on the other
side, best price first and, at one price, in arrival order (lowest ``seq`` first), while its
limit crosses their price. Each trade is a :class:`~optirollup.codec.tx.Fill` at the maker's
price, exactly the FILL transaction of docs/protocol.md §6.9; the remainder then rests unless
the order says otherwise. The rules, in the order the book applies them:

* **Validation** (any failure raises an :class:`~optirollup.engine.errors.EngineError` and
  leaves the book unchanged): the order is for this market and not already resting; its shape
  is one a FILL accepts (side BUY or SELL, only the three flag bits, not POST_ONLY with IOC);
  price and size are non-zero multiples of tick and lot; the filled amount the caller passes is
  a multiple of the lot and below the size; the fee cap covers the market fee of every role the
  order may play (the taker fee unless POST_ONLY, the maker fee unless IOC), so no fill ever
  fails FEE_CAP; the expiry is after ``now``; the arrival ``seq`` is above every one seen.
* **Expired makers** (``expiry <= now``) met while matching are removed, never matched.
* **Self-trade: skip.** A taker passes over resting orders of its own account (they keep their
  place) and trades with the next ones. A FILL of one account with itself would be rejected
  (SELF_TRADE), and cancelling the trader's resting order would act on their behalf; skipping
  does neither. The price of skipping: an account may hold a bid at or above its own ask.
* **POST_ONLY** never takes: if it would trade against any live resting order (not expired,
  not its own, and, for a REDUCE_ONLY maker, with size it can still reduce) it is rejected with
  :class:`~optirollup.engine.errors.PostOnlyWouldCross`, without trading.
* **IOC** never rests: whatever does not trade at once is dropped.
* **REDUCE_ONLY** orders only ever shrink their account's position towards zero, never grow or
  flip it (§6.2.5 ``reduces``): each fill is capped at the part of the position the order's side
  reduces (rounded down to the lot), read through the caller's
  :class:`PositionLookup` (the position before this submit) and updated by the book as the
  submit's own fills move it. A REDUCE_ONLY *maker* that can reduce nothing when met is removed
  (it could never trade again while the position stays), and a REDUCE_ONLY *taker* that can
  reduce nothing more while a live maker still crosses has its remainder dropped (resting it
  would leave the book crossed). A REDUCE_ONLY taker whose remainder no longer crosses rests
  like any other order (a take-profit), and is capped again whenever it is matched.

The book does not verify signatures, nonces, cancel floors, margin or positions limits: the
caller (the node) checks what the state knows, and the reference STF is the judge of every
FILL. Orders are identified by the order hash the caller computes (``Order.hash(separator)``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from optirollup.codec.tx import (
    ORDER_FLAGS_MASK,
    Fill,
    Order,
    OrderFlags,
    Side,
    SignedOrder,
)
from optirollup.engine.errors import (
    BadLot,
    BadMarketParams,
    BadOrderShape,
    BadTick,
    DuplicateOrder,
    FeeCapTooLow,
    MarketMismatch,
    OrderAlreadyFilled,
    OrderExpired,
    PostOnlyWouldCross,
    SequenceNotIncreasing,
    UnknownOrder,
    short,
)
from optirollup.state.leaves import Market

_POST_ONLY = int(OrderFlags.POST_ONLY)
_REDUCE_ONLY = int(OrderFlags.REDUCE_ONLY)
_IOC = int(OrderFlags.IOC)
_BUY = int(Side.BUY)
_SELL = int(Side.SELL)


class PositionLookup(Protocol):
    """The caller's view of positions: the signed size of ``account`` in ``market``.

    The book asks it only for accounts with REDUCE_ONLY orders it is about to match, and expects
    the position *before* the current submit (the book adds the submit's own fills itself).
    """

    def __call__(self, account: bytes, market: int, /) -> int:
        """Return the account's signed position in the market (0 if it has none)."""
        ...


@dataclass(frozen=True, slots=True)
class MarketParams:
    """What the book needs of a market: lot and tick (sizes and prices), and the two fee rates."""

    lot_size: int
    tick_size: int
    maker_fee_ppm: int = 0
    taker_fee_ppm: int = 0

    def __post_init__(self) -> None:
        """Reject parameters no listed market can have."""
        if self.lot_size < 1 or self.tick_size < 1:
            raise BadMarketParams(
                f"lot {self.lot_size} and tick {self.tick_size} must both be at least 1"
            )
        if self.maker_fee_ppm < 0 or self.taker_fee_ppm < 0:
            raise BadMarketParams(
                f"fees {self.maker_fee_ppm}/{self.taker_fee_ppm} ppm must not be negative"
            )

    @classmethod
    def of(cls, market: Market) -> MarketParams:
        """Return the parameters of a market leaf."""
        return cls(market.lot_size, market.tick_size, market.maker_fee_ppm, market.taker_fee_ppm)


@dataclass(frozen=True, slots=True)
class OrderView:
    """A resting order as the book holds it: its hash, the signed order, fills and priority."""

    order_hash: bytes
    signed: SignedOrder
    filled: int
    seq: int

    @property
    def order(self) -> Order:
        """Return the unsigned order."""
        return self.signed.order

    @property
    def remaining(self) -> int:
        """Return the size still open: ``order.size − filled``."""
        return self.signed.order.size - self.filled


@dataclass(frozen=True, slots=True)
class Level:
    """One price level: the open size of every order resting at ``price`` and their count."""

    price: int
    size: int
    orders: int


@dataclass(frozen=True, slots=True)
class Depth:
    """Aggregated price levels, best first on each side."""

    market: int
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]


class Status(Enum):
    """What became of an incoming order once matching stopped."""

    FILLED = "filled"
    """Nothing is left: the order traded its whole remaining size."""
    RESTING = "resting"
    """The remainder rests on the book."""
    IOC_CANCELLED = "ioc_cancelled"
    """IOC: the remainder was dropped."""
    REDUCE_ONLY_CANCELLED = "reduce_only_cancelled"
    """REDUCE_ONLY: the order could reduce nothing more while the book still crossed it."""


class Cause(Enum):
    """Why the book removed a resting order that no one cancelled."""

    EXPIRED = "expired"
    CANNOT_REDUCE = "cannot_reduce"


@dataclass(frozen=True, slots=True)
class Removed:
    """A resting order the book removed while matching (its last view) and why."""

    view: OrderView
    cause: Cause


@dataclass(frozen=True, slots=True)
class Submitted:
    """The result of one accepted submit.

    ``fills`` are in match order (apply them in this order); ``filled`` is the incoming order's
    total filled amount afterwards (the caller's initial ``filled`` plus this submit's fills);
    ``removed`` lists the resting orders dropped on the way (expired, or REDUCE_ONLY makers that
    could no longer reduce). Makers filled completely leave the book without a ``removed`` entry.
    """

    order_hash: bytes
    seq: int
    fills: tuple[Fill, ...]
    filled: int
    status: Status
    removed: tuple[Removed, ...]


class _Entry:
    """A resting order (mutable: ``filled`` grows as it trades)."""

    __slots__ = ("account", "filled", "hash", "order", "seq", "signed")

    def __init__(self, order_hash: bytes, signed: SignedOrder, filled: int, seq: int) -> None:
        self.hash = order_hash
        self.signed = signed
        self.order = signed.order
        self.account = signed.order.account
        self.filled = filled
        self.seq = seq

    @property
    def remaining(self) -> int:
        return self.order.size - self.filled

    def view(self) -> OrderView:
        return OrderView(self.hash, self.signed, self.filled, self.seq)


def reducible(side: int, position: int, lot: int) -> int:
    """Return how much an order on ``side`` may trade without growing or flipping ``position``.

    A BUY reduces a short, a SELL a long; the amount is rounded down to a multiple of ``lot``.
    """
    r = -position if side == _BUY else position
    return r - r % lot if r > 0 else 0


def crosses(taker: Order, maker_price: int) -> bool:
    """Return whether a taker's limit accepts a maker's price (the fill price)."""
    return maker_price <= taker.price if taker.side == _BUY else maker_price >= taker.price


class OrderBook:
    """The bids and asks of one market, matched in price-time priority (see the module doc)."""

    def __init__(self, market: int, params: MarketParams) -> None:
        self.market = market
        self.params = params
        self._entries: dict[bytes, _Entry] = {}
        # price → its orders in arrival order (dicts keep insertion order; seqs only increase)
        self._levels: tuple[dict[int, dict[bytes, _Entry]], dict[int, dict[bytes, _Entry]]] = (
            {},
            {},
        )
        # the prices of each side's levels, ascending (best bid last, best ask first)
        self._prices: tuple[list[int], list[int]] = ([], [])
        self._last_seq = -1

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        """Return the number of resting orders."""
        return len(self._entries)

    def __contains__(self, order_hash: object) -> bool:
        """Return whether an order with this hash rests on the book."""
        return order_hash in self._entries

    @property
    def last_seq(self) -> int:
        """Return the highest arrival sequence the book has seen (−1 before the first)."""
        return self._last_seq

    def get(self, order_hash: bytes) -> OrderView | None:
        """Return the view of a resting order, or None."""
        e = self._entries.get(order_hash)
        return None if e is None else e.view()

    def _side_entries(self, side: int) -> Iterator[_Entry]:
        prices = self._prices[side]
        levels = self._levels[side]
        for price in reversed(prices) if side == _BUY else prices:
            yield from levels[price].values()

    def orders(self, side: Side | int | None = None) -> list[OrderView]:
        """Return the resting orders in priority order: bids best first, then asks best first."""
        sides = (_BUY, _SELL) if side is None else (int(side),)
        return [e.view() for s in sides for e in self._side_entries(s)]

    def best(self, side: Side | int) -> int | None:
        """Return the best resting price on ``side`` (expired orders included), or None."""
        prices = self._prices[int(side)]
        if not prices:
            return None
        return prices[-1] if int(side) == _BUY else prices[0]

    def depth(self, levels: int, now: int | None = None) -> Depth:
        """Return up to ``levels`` aggregated price levels per side, best first.

        With ``now``, orders expired at that time are left out (they stay on the book until
        matching meets them or :meth:`purge_expired` runs).
        """

        def side_levels(side: int) -> tuple[Level, ...]:
            out: list[Level] = []
            prices = self._prices[side]
            for price in reversed(prices) if side == _BUY else prices:
                if len(out) >= levels:
                    break
                live = [
                    e
                    for e in self._levels[side][price].values()
                    if now is None or e.order.expiry > now
                ]
                if live:
                    out.append(Level(price, sum(e.remaining for e in live), len(live)))
            return tuple(out)

        return Depth(self.market, side_levels(_BUY), side_levels(_SELL))

    # -- validation -------------------------------------------------------------------------

    def _validate(self, order: Order, order_hash: bytes, filled: int, seq: int) -> None:
        """Raise the first rule (module doc) the order breaks; check nothing that needs time."""
        p, name = self.params, f"order {short(order_hash)}"
        if order.market != self.market:
            raise MarketMismatch(
                f"{name} is for market {order.market}, not {self.market}; submit it to its book"
            )
        if order_hash in self._entries:
            raise DuplicateOrder(f"{name} already rests on market {self.market}")
        if order.side not in (_BUY, _SELL):
            raise BadOrderShape(f"{name}: side {order.side} is neither 0 (BUY) nor 1 (SELL)")
        if order.flags & ~ORDER_FLAGS_MASK:
            raise BadOrderShape(
                f"{name}: flags {order.flags:#04x} set bits outside POST_ONLY|REDUCE_ONLY|IOC "
                f"({ORDER_FLAGS_MASK:#04x})"
            )
        if order.flags & _POST_ONLY and order.flags & _IOC:
            raise BadOrderShape(f"{name}: POST_ONLY and IOC exclude each other; choose one")
        if order.price == 0 or order.price % p.tick_size:
            raise BadTick(
                f"{name}: price {order.price} is not a positive multiple of the tick "
                f"{p.tick_size} of market {self.market}; round it to the tick"
            )
        if order.size == 0 or order.size % p.lot_size:
            raise BadLot(
                f"{name}: size {order.size} is not a positive multiple of the lot "
                f"{p.lot_size} of market {self.market}; round it to the lot"
            )
        if filled < 0 or filled % p.lot_size:
            raise BadLot(
                f"{name}: filled {filled} is not a non-negative multiple of the lot "
                f"{p.lot_size}; pass the order leaf's filled amount"
            )
        if filled >= order.size:
            raise OrderAlreadyFilled(f"{name}: filled {filled} of size {order.size}; nothing left")
        if not order.flags & _POST_ONLY and order.fee_cap_ppm < p.taker_fee_ppm:
            raise FeeCapTooLow(
                f"{name}: fee cap {order.fee_cap_ppm} ppm < taker fee {p.taker_fee_ppm} ppm of "
                f"market {self.market}; raise the cap or make the order POST_ONLY"
            )
        if not order.flags & _IOC and order.fee_cap_ppm < p.maker_fee_ppm:
            raise FeeCapTooLow(
                f"{name}: fee cap {order.fee_cap_ppm} ppm < maker fee {p.maker_fee_ppm} ppm of "
                f"market {self.market}; raise the cap or make the order IOC"
            )
        if seq <= self._last_seq:
            raise SequenceNotIncreasing(
                f"{name}: arrival seq {seq} is not above {self._last_seq}, the last one market "
                f"{self.market} saw; sequence numbers must increase"
            )

    # -- writing ----------------------------------------------------------------------------

    def _insert(self, e: _Entry) -> None:
        side = e.order.side
        level = self._levels[side].get(e.order.price)
        if level is None:
            level = self._levels[side][e.order.price] = {}
            insort(self._prices[side], e.order.price)
        level[e.hash] = e
        self._entries[e.hash] = e

    def _delete(self, e: _Entry) -> None:
        side, price = e.order.side, e.order.price
        level = self._levels[side][price]
        del level[e.hash]
        del self._entries[e.hash]
        if not level:
            self._drop_level(side, price)

    def _drop_level(self, side: int, price: int) -> None:
        del self._levels[side][price]
        prices = self._prices[side]
        del prices[bisect_left(prices, price)]

    def add(self, signed: SignedOrder, order_hash: bytes, seq: int, filled: int = 0) -> OrderView:
        """Rest an order without matching it (restoring a book); validates it like a submit.

        No expiry check (restoring knows no time; expired orders go when met) and no crossing
        check: the book is rebuilt as it was.
        """
        self._validate(signed.order, order_hash, filled, seq)
        self._last_seq = seq
        e = _Entry(order_hash, signed, filled, seq)
        self._insert(e)
        return e.view()

    def cancel(self, order_hash: bytes) -> OrderView:
        """Remove a resting order and return its last view."""
        e = self._entries.get(order_hash)
        if e is None:
            raise UnknownOrder(
                f"order {short(order_hash)} does not rest on market {self.market} "
                "(never submitted, already filled, expired or cancelled)"
            )
        self._delete(e)
        return e.view()

    def cancel_below(self, account: bytes, floor: int) -> tuple[OrderView, ...]:
        """Remove every resting order of ``account`` with ``nonce < floor`` (a CANCEL_ALL)."""
        gone = [e for e in self._entries.values() if e.account == account and e.order.nonce < floor]
        gone.sort(key=lambda e: e.seq)
        for e in gone:
            self._delete(e)
        return tuple(e.view() for e in gone)

    def purge_expired(self, now: int) -> tuple[Removed, ...]:
        """Remove every resting order with ``expiry <= now``, in arrival order."""
        gone = sorted((e for e in self._entries.values() if e.order.expiry <= now), key=_seq)
        for e in gone:
            self._delete(e)
        return tuple(Removed(e.view(), Cause.EXPIRED) for e in gone)

    # -- matching ---------------------------------------------------------------------------

    def _crossing_prices(self, taker: Order) -> list[int]:
        """Return the opposite side's prices that the taker's limit crosses, best first."""
        if taker.side == _BUY:
            asks = self._prices[_SELL]
            return asks[: bisect_right(asks, taker.price)]
        bids = self._prices[_BUY]
        return bids[bisect_left(bids, taker.price) :][::-1]

    def would_take(self, order: Order, now: int, positions: PositionLookup) -> OrderView | None:
        """Return the first live resting order ``order`` would trade with if it could take.

        Live: not expired at ``now``, not of the order's own account and, for a REDUCE_ONLY
        maker, with some position left to reduce. Changes nothing.
        """
        lot = self.params.lot_size
        opposite = self._levels[1 - order.side]
        for price in self._crossing_prices(order):
            for e in opposite[price].values():
                if e.order.expiry <= now or e.account == order.account:
                    continue
                if e.order.flags & _REDUCE_ONLY and not reducible(
                    e.order.side, positions(e.account, self.market), lot
                ):
                    continue
                return e.view()
        return None

    def submit(
        self,
        signed: SignedOrder,
        order_hash: bytes,
        seq: int,
        *,
        now: int,
        positions: PositionLookup,
        filled: int = 0,
    ) -> Submitted:
        """Match an incoming order, then rest its remainder unless IOC (see the module doc).

        ``order_hash`` is ``signed.order.hash(separator)``; ``seq`` its arrival sequence (above
        every earlier one); ``now`` the time expiries are compared with (the batch time the
        fills will carry); ``positions`` the positions before this submit; ``filled`` the amount
        of this order already filled in the state (0 for a new order).
        """
        order = signed.order
        self._validate(order, order_hash, filled, seq)
        name = f"order {short(order_hash)}"
        if order.expiry <= now:
            raise OrderExpired(
                f"{name}: expiry {order.expiry} is not after now {now}; sign a later expiry"
            )
        if order.flags & _POST_ONLY:
            hit = self.would_take(order, now, positions)
            if hit is not None:
                raise PostOnlyWouldCross(
                    f"{name}: POST_ONLY {Side(order.side).name} at {order.price} would trade "
                    f"with order {short(hit.order_hash)} at {hit.order.price} on market "
                    f"{self.market}; move the price behind the best opposite price or drop "
                    "POST_ONLY"
                )
        self._last_seq = seq
        market, lot = self.market, self.params.lot_size
        deltas: dict[bytes, int] = {}

        def position(account: bytes) -> int:
            return positions(account, market) + deltas.get(account, 0)

        sign = 1 if order.side == _BUY else -1
        reduce_only = bool(order.flags & _REDUCE_ONLY)
        remaining = order.size - filled
        fills: list[Fill] = []
        removed: list[Removed] = []
        stuck = False  # a REDUCE_ONLY taker that can reduce no more while a maker crosses
        opposite = self._levels[1 - order.side]
        for price in self._crossing_prices(order):
            level = opposite[price]
            done: list[_Entry] = []
            for e in level.values():
                mo = e.order
                if mo.expiry <= now:
                    done.append(e)
                    removed.append(Removed(e.view(), Cause.EXPIRED))
                    continue
                if e.account == order.account:
                    continue
                q = e.remaining
                if mo.flags & _REDUCE_ONLY:
                    q = min(q, reducible(mo.side, position(e.account), lot))
                    if q == 0:
                        done.append(e)
                        removed.append(Removed(e.view(), Cause.CANNOT_REDUCE))
                        continue
                q = min(q, remaining)
                if reduce_only:
                    cap = reducible(order.side, position(order.account), lot)
                    if cap < q:  # this maker could trade more than the taker may reduce
                        q, stuck = cap, True
                        if q == 0:
                            break
                fills.append(Fill(e.signed, signed, q))
                deltas[order.account] = deltas.get(order.account, 0) + sign * q
                deltas[e.account] = deltas.get(e.account, 0) - sign * q
                e.filled += q
                remaining -= q
                if e.remaining == 0:
                    done.append(e)
                if remaining == 0 or stuck:
                    break
            for e in done:
                del level[e.hash]
                del self._entries[e.hash]
            if not level:
                self._drop_level(1 - order.side, price)
            if remaining == 0 or stuck:
                break
        if remaining == 0:
            status = Status.FILLED
        elif stuck:
            status = Status.REDUCE_ONLY_CANCELLED
        elif order.flags & _IOC:
            status = Status.IOC_CANCELLED
        else:
            status = Status.RESTING
            self._insert(_Entry(order_hash, signed, order.size - remaining, seq))
        return Submitted(
            order_hash, seq, tuple(fills), order.size - remaining, status, tuple(removed)
        )


def _seq(e: _Entry) -> int:
    return e.seq
