"""Rejections of the matching engine: one base class, one leaf per thing that went wrong.

A rejected call changes nothing: the books are exactly as before it. Messages name the order
(``order 0x12ab…``), the offending value, the limit it broke and how to fix it.
"""

from __future__ import annotations

from optirollup.errors import OptiRollupError


def short(order_hash: bytes) -> str:
    """Return the 0x-hex of the first four bytes of an order hash followed by an ellipsis."""
    return "0x" + order_hash[:4].hex() + "…"


class EngineError(OptiRollupError):
    """Base of every matching-engine rejection."""


class BadMarketParams(EngineError):
    """Market parameters the engine cannot match with (a lot or tick below 1, a negative fee)."""


class UnknownMarket(EngineError):
    """An order or a query for a market the engine has no book for."""

    def __init__(self, market: int, known: tuple[int, ...]) -> None:
        listed = ", ".join(map(str, known)) or "none"
        super().__init__(f"market {market} has no order book (listed: {listed}); list it first")
        self.market = market


class MarketConflict(EngineError):
    """Listing a market again with parameters different from those it was listed with."""


class MarketMismatch(EngineError):
    """An order handed to the book of another market."""


class BadOrderShape(EngineError):
    """An order whose side or flags no FILL can carry (§6.9 BAD_ORDER)."""


class BadTick(EngineError):
    """An order price that is 0 or not a multiple of the market's tick size (§6.9 BAD_TICK)."""


class BadLot(EngineError):
    """An order size or filled amount that is 0 or not a multiple of the lot size (BAD_LOT)."""


class FeeCapTooLow(EngineError):
    """An order whose fee cap is below the market fee of a role it may play (§6.9 FEE_CAP)."""


class OrderExpired(EngineError):
    """An order whose expiry is not after the engine's current time (§6.9 EXPIRED)."""


class OrderAlreadyFilled(EngineError):
    """An order with nothing left to fill: its filled amount is its whole size (or more)."""


class PostOnlyWouldCross(EngineError):
    """A POST_ONLY order that would trade against a resting order instead of resting."""


class DuplicateOrder(EngineError):
    """An order whose hash is already resting on the book."""


class UnknownOrder(EngineError):
    """A cancel of an order hash that is not resting on any book."""


class SequenceNotIncreasing(EngineError):
    """An arrival sequence number not above every one the book has already seen."""
