"""Units, ranges and integer helpers shared by every rule of the protocol.

Everything the state transition computes is an integer with an explicit unit:

* quote amounts (collateral, fees, deposits, withdrawals): 1e-6 of the collateral token
  (the token has 6 decimals, so one quote unit is one token base unit);
* prices (limit prices, oracle prices, option marks, strikes): quote units per one whole unit
  of the underlying, i.e. 1e-6 quote per 1 underlying;
* sizes: 1e-8 of one underlying unit (``SIZE_SCALE``);
* rates and margin/fee fractions: parts per million (``PPM``).

Division happens only through :func:`div_floor` and :func:`div_ceil`. Python's ``//`` floors
while the EVM's signed division truncates toward zero; naming the rounding at every call site is
what lets the Python reference and the Vyper verifiers agree bit for bit.
"""

from __future__ import annotations

SIZE_SCALE = 10**8
"""Size units per one whole unit of the underlying."""

PPM = 10**6
"""Parts per million: the denominator of every rate, fee and margin fraction."""

U8_MAX = 2**8 - 1
U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
I32_MIN, I32_MAX = -(2**31), 2**31 - 1

MAX_COLLATERAL = 2**127 - 1
"""Largest absolute value of an account's (signed) collateral."""

MAX_POSITION_SIZE = 2**63 - 1
"""Largest absolute value of a position's size."""

MAX_FUNDING_INDEX = 2**127 - 1
"""Largest absolute value of a market's cumulative funding index."""

MAX_BALANCE = 2**127 - 1
"""Largest value of the system fee and insurance balances."""


def div_floor(a: int, b: int) -> int:
    """Return a / b rounded toward negative infinity; b must be positive."""
    if b <= 0:
        raise ValueError(f"div_floor: divisor must be positive, got {b}")
    return a // b


def div_ceil(a: int, b: int) -> int:
    """Return a / b rounded toward positive infinity; b must be positive."""
    if b <= 0:
        raise ValueError(f"div_ceil: divisor must be positive, got {b}")
    return -((-a) // b)


def to_u256(x: int) -> int:
    """Return the 256-bit two's-complement representation of a signed integer."""
    if not -(2**255) <= x < 2**255:
        raise OverflowError(f"{x} does not fit int256")
    return x % 2**256


def from_u256(u: int) -> int:
    """Return the signed integer whose 256-bit two's complement is ``u``."""
    if not 0 <= u < 2**256:
        raise OverflowError(f"{u} does not fit uint256")
    return u - 2**256 if u >= 2**255 else u
