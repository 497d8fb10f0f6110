"""Outcome of applying one transaction: a reason code, and which order of a FILL it concerns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Reason(IntEnum):
    """Why a transaction was a no-op (``OK`` when it applied). Codes are normative."""

    OK = 0
    MALFORMED = 1
    UNSUPPORTED = 2
    BAD_SIGNATURE = 3
    # deposits and account counters
    DEPOSIT_UNKNOWN = 10
    DEPOSIT_OUT_OF_ORDER = 11
    BAD_NONCE = 12
    STALE_CANCEL_FLOOR = 13
    ALREADY_CANCELLED = 14
    BAD_AMOUNT = 15
    BAD_RECIPIENT = 16
    # markets and oracle
    MARKET_NOT_FOUND = 20
    MARKET_EXISTS = 21
    BAD_MARKET_PARAMS = 22
    STALE_TIME = 23
    BAD_PRICE = 24
    FUNDING_CAP = 25
    NO_PRICE = 26
    # orders and fills
    MARKET_MISMATCH = 30
    SAME_SIDE = 31
    SELF_TRADE = 32
    BAD_ORDER = 33
    EXPIRED = 34
    CANCELLED = 35
    BAD_LOT = 36
    BAD_TICK = 37
    OVERFILL = 38
    PRICE_NOT_CROSSING = 39
    FEE_CAP = 40
    POST_ONLY = 41
    IOC_MAKER = 42
    REDUCE_ONLY = 43
    TOO_MANY_POSITIONS = 44
    # ranges and margin
    RANGE = 50
    INSUFFICIENT_MARGIN = 51


class Party(IntEnum):
    """Which side of a FILL a reason concerns (NONE for every other transaction)."""

    NONE = 0
    MAKER = 1
    TAKER = 2


@dataclass(frozen=True, slots=True)
class Receipt:
    """The result of one transaction: applied (``reason == OK``) or a no-op with its reason."""

    tx_type: int  # the type byte, or -1 for an empty transaction
    reason: Reason = Reason.OK
    party: Party = Party.NONE

    @property
    def ok(self) -> bool:
        """Return whether the transaction changed the state."""
        return self.reason is Reason.OK

    def describe(self) -> str:
        """Return a short human-readable outcome, e.g. ``FILL: INSUFFICIENT_MARGIN (taker)``."""
        from optirollup.codec.tx import TxType

        try:
            name = TxType(self.tx_type).name
        except ValueError:
            name = f"0x{self.tx_type:02x}" if self.tx_type >= 0 else "empty"
        who = f" ({self.party.name.lower()})" if self.party is not Party.NONE else ""
        return f"{name}: {self.reason.name}{who}"
