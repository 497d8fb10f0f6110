"""Cross-margin arithmetic: funding settlement, equity and margin requirements.

All functions are pure and integer-only. Rounding is always in the exchange's favour:
funding credits and equity round down (``div_floor``), requirements and fees round up
(``div_ceil``). Normative: docs/protocol.md, "Margin".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from optirollup.state.leaves import Account, Market, Position
from optirollup.units import PPM, SIZE_SCALE, div_ceil, div_floor

MarketLookup = Callable[[int], Market]


@dataclass(frozen=True, slots=True)
class Risk:
    """An account's equity and requirements, all in quote units."""

    equity: int
    initial: int
    maintenance: int


def funding_credit(size: int, index: int, snapshot: int) -> int:
    """Return the collateral change of settling funding: ``floor(-size·(index−snap) / (S·PPM))``."""
    return div_floor(-size * (index - snapshot), SIZE_SCALE * PPM)


def settle_funding(acc: Account, market: MarketLookup) -> Account:
    """Return the account with funding settled on every position (snapshots moved to the index)."""
    if not acc.positions:
        return acc
    collateral = acc.collateral
    positions = []
    for p in acc.positions:
        index = market(p.market).funding_index
        if index != p.funding_snapshot:
            collateral += funding_credit(p.size, index, p.funding_snapshot)
            p = Position(p.market, p.size, index)
        positions.append(p)
    return Account(acc.address, collateral, acc.nonce, acc.cancel_floor, tuple(positions))


def notional(size: int, price: int) -> int:
    """Return ``size·price / S`` for a fill; exact because lot·tick is a multiple of S."""
    return div_floor(size * price, SIZE_SCALE)


def fee(notional_: int, fee_ppm: int) -> int:
    """Return a trading fee, rounded up."""
    return div_ceil(notional_ * fee_ppm, PPM)


def risk(acc: Account, market: MarketLookup) -> Risk:
    """Return equity, initial and maintenance requirement of an account at mark prices.

    ``equity = collateral + Σ floor(size·mark / S)``;
    ``initial = Σ ceil(|size|·mark·im_ppm / (S·PPM))``, maintenance likewise with ``mm_ppm``.
    """
    equity = acc.collateral
    im = mm = 0
    for p in acc.positions:
        m = market(p.market)
        mark = m.mark_price
        equity += div_floor(p.size * mark, SIZE_SCALE)
        exposure = abs(p.size) * mark
        im += div_ceil(exposure * m.im_ppm, SIZE_SCALE * PPM)
        mm += div_ceil(exposure * m.mm_ppm, SIZE_SCALE * PPM)
    return Risk(equity, im, mm)


def reduces(before: int, after: int) -> bool:
    """Return whether a position change only shrinks it: same sign (or closed) and smaller."""
    if before == 0:
        return False
    if before > 0:
        return 0 <= after < before
    return before < after <= 0


def trade_acceptable(
    before: Callable[[], Risk], after: Risk, size_before: int, size_after: int
) -> bool:
    """Return the margin predicate of a trade.

    A trade is acceptable if the account meets its initial requirement afterwards, or if it
    reduces the traded position (see :func:`reduces`) and does not grow the maintenance
    shortfall: ``mm_after − equity_after <= mm_before − equity_before``. ``before`` is called
    only when the second clause is needed (the common case never computes it).
    """
    if after.equity >= after.initial:
        return True
    if not reduces(size_before, size_after):
        return False
    b = before()
    return after.maintenance - after.equity <= b.maintenance - b.equity
