"""Deterministic keys and signed-transaction builders for tests, vectors, benchmarks and the devnet.

Nothing here is used by the state transition itself. Keys are derived from a seed so every run,
every vector file and every benchmark is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypeVar

from optirollup.codec import eip712
from optirollup.codec.tx import (
    Deposit,
    Fill,
    Order,
    SignedMessage,
    SignedOrder,
    encode_tx,
    message_hash,
)
from optirollup.hashing import keccak
from optirollup.state.leaves import Market

DEFAULT_DOMAIN = eip712.Domain(
    chain_id=31337, verifying_contract=bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
)
"""A fixed domain for tests, vectors and benchmarks (anvil's chain id, anvil's first contract
address). A real deployment's domain comes from its Deployment (the Vault's address), which in
the deploy order of docs/l1.md is the second contract, not this one."""

M = TypeVar("M", bound=SignedMessage)


def key_for(label: str | int) -> bytes:
    """Return a deterministic private key for a label (never use outside tests and devnets)."""
    return bytes(keccak(f"optirollup-test-key:{label}".encode()))


@dataclass(frozen=True)
class Trader:
    """A test key and its address."""

    key: bytes
    address: bytes

    @classmethod
    def of(cls, label: str | int) -> Trader:
        """Return the trader whose key is derived from ``label``."""
        k = key_for(label)
        return cls(k, eip712.address_of(k))


class Signer:
    """Builds signed transactions for one EIP-712 domain."""

    def __init__(self, domain: eip712.Domain = DEFAULT_DOMAIN) -> None:
        self.domain = domain
        self.separator = domain.separator

    def sign(self, msg: M, key: bytes) -> M:
        """Return ``msg`` with its signature by ``key``."""
        return replace(msg, signature=eip712.sign(message_hash(msg, self.separator), key))

    def order(self, order: Order, key: bytes) -> SignedOrder:
        """Return the order signed by ``key``."""
        return SignedOrder(order, eip712.sign(order.hash(self.separator), key))

    def fill(self, maker: SignedOrder, taker: SignedOrder, size: int) -> bytes:
        """Return the encoded FILL of two signed orders."""
        return encode_tx(Fill(maker, taker, size))


def deposit_tx(index: int, account: bytes, amount: int) -> bytes:
    """Return an encoded DEPOSIT (its keccak is what the Vault records for the entry)."""
    return encode_tx(Deposit(index, account, amount))


EXAMPLE_CALL = Market(
    kind=1,
    symbol=b"ETH-C3000".ljust(16, b"\x00"),
    strike=3_000_000_000,
    expiry=10**6,
    lot_size=100_000,
    tick_size=10_000,
    im_ppm=200_000,
    mm_ppm=100_000,
    maker_fee_ppm=200,
    taker_fee_ppm=500,
    max_funding_ppm=10_000,
    oracle_price=3_000_000_000,
    option_mark=123_450_000,
    oracle_time=100,
)
"""A call option market leaf as a later protocol version would list it (this version cannot):
tests write it into the state directly to reach the non-perpetual branches of the rules."""
