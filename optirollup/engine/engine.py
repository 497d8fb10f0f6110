"""The matching engine: one :class:`~optirollup.engine.book.OrderBook` per market.

The engine hashes orders (``Order.hash(separator)``, the signed EIP-712 digest that keys the
order leaf and CANCEL), numbers arrivals (one engine-wide sequence: each accepted submit takes
the next number, so priority follows arrival across restarts) and routes each call to the book
of the order's market. It is pure and deterministic: the same markets, the same calls with the
same ``now`` and the same positions give the same fills and the same books. It keeps nothing
but the resting orders, so :meth:`Engine.resting` is its whole state and :meth:`Engine.restore`
rebuilds it exactly (a restarted node reads its resting orders, their filled amounts from the
order leaves, and their arrival numbers from its own records).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from optirollup.codec.tx import Order, SignedOrder
from optirollup.engine.book import (
    Depth,
    MarketParams,
    OrderBook,
    OrderView,
    PositionLookup,
    Removed,
    Submitted,
)
from optirollup.engine.errors import MarketConflict, UnknownMarket, UnknownOrder, short


class Resting(NamedTuple):
    """A resting order as :meth:`Engine.restore` takes it back: order, filled amount, arrival."""

    signed: SignedOrder
    filled: int
    seq: int


class Engine:
    """Order books per market id, with engine-wide order hashing and arrival numbering."""

    def __init__(
        self,
        separator: bytes,
        markets: Mapping[int, MarketParams] | None = None,
        *,
        next_seq: int = 0,
    ) -> None:
        self.separator = separator
        self._books: dict[int, OrderBook] = {}
        self._next_seq = next_seq
        for market_id, params in sorted((markets or {}).items()):
            self.list_market(market_id, params)

    # -- markets ----------------------------------------------------------------------------

    def list_market(self, market_id: int, params: MarketParams) -> OrderBook:
        """Open an empty book for a market (again with the same parameters: no-op)."""
        book = self._books.get(market_id)
        if book is not None:
            if book.params != params:
                raise MarketConflict(
                    f"market {market_id} is listed with {book.params}, not {params}; a market's "
                    "parameters never change"
                )
            return book
        book = self._books[market_id] = OrderBook(market_id, params)
        return book

    def markets(self) -> tuple[int, ...]:
        """Return the listed market ids, ascending."""
        return tuple(sorted(self._books))

    def book(self, market_id: int) -> OrderBook:
        """Return the book of a market."""
        book = self._books.get(market_id)
        if book is None:
            raise UnknownMarket(market_id, self.markets())
        return book

    # -- orders -----------------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        """Return the arrival number the next accepted submit gets."""
        return self._next_seq

    def order_hash(self, order: Order) -> bytes:
        """Return the order hash (the EIP-712 digest the trader signs)."""
        return order.hash(self.separator)

    def submit(
        self,
        signed: SignedOrder,
        *,
        now: int,
        positions: PositionLookup,
        filled: int = 0,
    ) -> Submitted:
        """Match an order in its market's book and rest the remainder (``OrderBook.submit``).

        ``now`` is the time expiries are judged at (use the batch time the fills will carry),
        ``positions`` the positions before this call, ``filled`` what the state says the order
        has already filled. Raises an ``EngineError`` (and changes nothing) on a rejection.
        """
        book = self.book(signed.order.market)
        seq = max(self._next_seq, book.last_seq + 1)
        result = book.submit(
            signed, self.order_hash(signed.order), seq, now=now, positions=positions, filled=filled
        )
        self._next_seq = seq + 1
        return result

    def _find(self, order_hash: bytes) -> OrderBook | None:
        for market_id in sorted(self._books):
            if order_hash in self._books[market_id]:
                return self._books[market_id]
        return None

    def get(self, order_hash: bytes) -> OrderView | None:
        """Return the view of a resting order, or None."""
        book = self._find(order_hash)
        return None if book is None else book.get(order_hash)

    def cancel(self, order_hash: bytes) -> OrderView:
        """Remove a resting order from its book and return its last view."""
        book = self._find(order_hash)
        if book is None:
            raise UnknownOrder(
                f"order {short(order_hash)} does not rest on any book (never submitted, already "
                "filled, expired or cancelled)"
            )
        return book.cancel(order_hash)

    def cancel_all(self, account: bytes, floor: int) -> tuple[OrderView, ...]:
        """Remove every resting order of ``account`` with ``nonce < floor``, market by market."""
        return tuple(v for m in self.markets() for v in self._books[m].cancel_below(account, floor))

    def purge_expired(self, now: int) -> tuple[Removed, ...]:
        """Remove every resting order with ``expiry <= now``, market by market."""
        return tuple(r for m in self.markets() for r in self._books[m].purge_expired(now))

    def orders(self, market_id: int, account: bytes | None = None) -> list[OrderView]:
        """Return a market's resting orders in priority order, optionally only one account's."""
        views = self.book(market_id).orders()
        return views if account is None else [v for v in views if v.order.account == account]

    def depth(self, market_id: int, levels: int, now: int | None = None) -> Depth:
        """Return up to ``levels`` aggregated price levels per side of a market, best first."""
        return self.book(market_id).depth(levels, now)

    # -- restart ----------------------------------------------------------------------------

    def resting(self) -> tuple[Resting, ...]:
        """Return every resting order with its filled amount and arrival number, by arrival."""
        views = [v for m in self.markets() for v in self._books[m].orders()]
        views.sort(key=lambda v: v.seq)
        return tuple(Resting(v.signed, v.filled, v.seq) for v in views)

    @classmethod
    def restore(
        cls,
        separator: bytes,
        markets: Mapping[int, MarketParams],
        resting: Iterable[Resting | tuple[SignedOrder, int, int]],
        *,
        next_seq: int = 0,
    ) -> Engine:
        """Rebuild an engine from its resting orders (any order; rested by arrival number).

        Each order is validated as a submit would (market, shape, tick, lot, filled, fee caps,
        distinct hashes, distinct arrival numbers within a market) but neither matched nor
        checked for expiry. The next arrival number is above every restored one and at least
        ``next_seq``.
        """
        engine = cls(separator, markets, next_seq=next_seq)
        entries = sorted((Resting(*r) for r in resting), key=lambda r: r.seq)
        for signed, filled, seq in entries:
            book = engine.book(signed.order.market)
            book.add(signed, engine.order_hash(signed.order), seq, filled)
            engine._next_seq = max(engine._next_seq, seq + 1)
        return engine
