"""The matching engine (pure): price-time-priority order books turning crossing orders into FILLs.

:class:`Engine` keeps one :class:`OrderBook` per market; the rules (priority, self-trade skip,
POST_ONLY, IOC, REDUCE_ONLY, expiry) are in ``optirollup.engine.book``'s docstring, the
rejections in ``optirollup.engine.errors``. No clock, no I/O: times and positions are
parameters, and the fills it returns are the FILL transactions of docs/protocol.md §6.9.
"""

from optirollup.engine.book import (
    Cause,
    Depth,
    Level,
    MarketParams,
    OrderBook,
    OrderView,
    PositionLookup,
    Removed,
    Status,
    Submitted,
    crosses,
    reducible,
)
from optirollup.engine.engine import Engine, Resting
from optirollup.engine.errors import (
    BadLot,
    BadMarketParams,
    BadOrderShape,
    BadTick,
    DuplicateOrder,
    EngineError,
    FeeCapTooLow,
    MarketConflict,
    MarketMismatch,
    OrderAlreadyFilled,
    OrderExpired,
    PostOnlyWouldCross,
    SequenceNotIncreasing,
    UnknownMarket,
    UnknownOrder,
)

__all__ = [
    "BadLot",
    "BadMarketParams",
    "BadOrderShape",
    "BadTick",
    "Cause",
    "Depth",
    "DuplicateOrder",
    "Engine",
    "EngineError",
    "FeeCapTooLow",
    "Level",
    "MarketConflict",
    "MarketMismatch",
    "MarketParams",
    "OrderAlreadyFilled",
    "OrderBook",
    "OrderExpired",
    "OrderView",
    "PositionLookup",
    "PostOnlyWouldCross",
    "Removed",
    "Resting",
    "SequenceNotIncreasing",
    "Status",
    "Submitted",
    "UnknownMarket",
    "UnknownOrder",
    "crosses",
    "reducible",
]
