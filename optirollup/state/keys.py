"""Trie keys: 32-byte keccak hashes of a one-byte type prefix and the record's identity.

The trie stores keys as given (it is not a "secure" trie that hashes again), so these hashes are
the trie paths. Normative: docs/protocol.md, "State keys".
"""

from __future__ import annotations

from functools import lru_cache

from optirollup.hashing import keccak

ACCOUNT_PREFIX = b"\x01"
ORDER_PREFIX = b"\x02"
MARKET_PREFIX = b"\x03"
SYSTEM_PREFIX = b"\x04"
WITHDRAWAL_PREFIX = b"\x05"


@lru_cache(maxsize=1 << 16)
def account_key(address: bytes) -> bytes:
    """Return the key of an account leaf: ``keccak(0x01 ‖ address20)``."""
    return bytes(keccak(ACCOUNT_PREFIX + address))


def order_key(account: bytes, order_hash: bytes) -> bytes:
    """Return the key of an order leaf: ``keccak(0x02 ‖ account20 ‖ orderHash32)``.

    The owner is part of the key, so a cancel signed by one account can never touch another
    account's order, whatever hash it names.
    """
    return bytes(keccak(ORDER_PREFIX + account + order_hash))


@lru_cache(maxsize=1 << 12)
def market_key(market: int) -> bytes:
    """Return the key of a market leaf: ``keccak(0x03 ‖ uint32 market)``."""
    return bytes(keccak(MARKET_PREFIX + market.to_bytes(4, "big")))


SYSTEM_KEY = bytes(keccak(SYSTEM_PREFIX))
"""The key of the single system leaf: ``keccak(0x04)``."""


def withdrawal_key(withdrawal_id: int) -> bytes:
    """Return the key of a withdrawal leaf: ``keccak(0x05 ‖ uint64 id)``."""
    return bytes(keccak(WITHDRAWAL_PREFIX + withdrawal_id.to_bytes(8, "big")))
