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


# --- worst-case one-step proofs ------------------------------------------------------------------

WORST_CASE_BATCH_TIME = 1_000
"""The batch time of :func:`worst_case_steps` (orders expire long after it)."""


@dataclass(frozen=True)
class WorstCase:
    """A state and a sequence of transactions whose one-step proofs are the costliest of each type.

    Apply ``steps`` in order from the state ``leaves`` (each transaction's pre-state is the
    previous one's post-state), with batch time :data:`WORST_CASE_BATCH_TIME` and a deposit queue
    whose entry 0 is ``deposit_tx(0, *deposit)``.
    """

    leaves: dict[bytes, bytes]
    steps: list[tuple[str, bytes]]
    """``(what, transaction)``; the first is the DEPOSIT of queue entry 0."""
    deposit: tuple[bytes, int]
    """The ``(account, amount)`` of the Vault entry the DEPOSIT consumes."""


def worst_case_steps(fillers: int, signer: Signer | None = None) -> WorstCase:
    """Return the worst cases of every rule in a state of ``fillers`` further accounts.

    Seventeen listed perpetual markets; account M holds shorts in markets 1-8, T in 1 and 9-15,
    X in 10-17, every one of them with a funding snapshot behind its market's index (so every
    settlement writes) and every signed field negative where it can be (the longest leaves).
    The steps: a DEPOSIT to M; a WITHDRAW by M (reads 8 markets); ORACLE_UPDATE, FUNDING_TICK
    and LIST_MARKET; a FILL between M and T in market 1 that applies (15 markets, 20 reads, 5
    writes, 2 inserted orders); a FILL between M and X in market 9 that reads the most (17
    markets, 21 leaves) and fails TOO_MANY_POSITIONS; a CANCEL (inserts an order leaf); a
    CANCEL_ALL by M. Deterministic.
    """
    import random

    from optirollup.codec.tx import (
        Cancel,
        CancelAll,
        FundingTick,
        ListMarket,
        OracleUpdate,
        Withdraw,
    )
    from optirollup.state.keys import SYSTEM_KEY, account_key, market_key
    from optirollup.state.leaves import Account, Position, System

    signer = signer or Signer()
    rng = random.Random(fillers)
    oracle, m, t, x = (Trader.of(s) for s in ("oracle", "worst-M", "worst-T", "worst-X"))
    lot, tick, price = 100_000, 1_000, 3_000_000_000
    leaves: dict[bytes, bytes] = {}
    for mid in range(1, 18):
        leaves[market_key(mid)] = Market(
            0, f"M{mid}-PERP".encode().ljust(16, b"\x00"), 0, 0, lot, tick, 100_000, 50_000,
            200, 500, 10_000, oracle_price=price + mid * tick, oracle_time=100,
            funding_index=10**12 + mid, funding_time=100,
        ).encode()  # fmt: skip

    def account(trader: Trader, markets: list[int]) -> Account:
        positions = tuple(Position(mid, -(10**8) - mid * lot, -(10**9) - mid) for mid in markets)
        return Account(trader.address, 10**15, 0, 0, positions)

    for trader, markets in (
        (m, list(range(1, 9))),
        (t, [1, *range(9, 16)]),
        (x, list(range(10, 18))),
    ):
        leaves[account_key(trader.address)] = account(trader, markets).encode()
    for _ in range(fillers):
        a = rng.randbytes(20)
        leaves[account_key(a)] = Account(a, rng.randrange(10**6, 10**12), rng.randrange(9)).encode()
    leaves[SYSTEM_KEY] = System(oracle.address).encode()

    def order(trader: Trader, market: int, side: int, nonce: int) -> SignedOrder:
        o = Order(trader.address, market, side, price, 100 * lot, 1_000, nonce, 10**9)
        return signer.order(o, trader.key)

    later = WORST_CASE_BATCH_TIME
    listing = ListMarket(18, 0, b"M18-PERP".ljust(16, b"\x00"), 0, 0, lot, tick, 100_000, 50_000,
                         200, 500, 10_000)  # fmt: skip
    steps = [
        ("DEPOSIT to an account with 8 positions", deposit_tx(0, m.address, 10**6)),
        (
            "WITHDRAW from an account with 8 positions (10 reads, 3 writes)",
            encode_tx(signer.sign(Withdraw(m.address, t.address, 10**6, 0), m.key)),
        ),
        (
            "ORACLE_UPDATE",
            encode_tx(signer.sign(OracleUpdate(1, price + tick, 0, later), oracle.key)),
        ),
        ("FUNDING_TICK", encode_tx(signer.sign(FundingTick(1, -10_000, later), oracle.key))),
        ("LIST_MARKET (inserts a market)", encode_tx(signer.sign(listing, oracle.key))),
        (
            "FILL, applied (15 markets: 20 reads, 5 writes)",
            signer.fill(order(m, 1, 1, 1), order(t, 1, 0, 1), 10 * lot),
        ),
        (
            "FILL, TOO_MANY_POSITIONS (17 markets: 21 reads)",
            signer.fill(order(m, 9, 1, 2), order(x, 9, 0, 1), 10 * lot),
        ),
        (
            "CANCEL (inserts an order leaf)",
            encode_tx(signer.sign(Cancel(t.address, keccak(b"some order")), t.key)),
        ),
        (
            "CANCEL_ALL of an account with 8 positions",
            encode_tx(signer.sign(CancelAll(m.address, 7), m.key)),
        ),
    ]
    return WorstCase(leaves, steps, (m.address, 10**6))


# --- a perpetuals workload --------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """Transactions that all apply (reason OK) in order from the genesis of ``oracle``."""

    oracle: Trader
    traders: tuple[Trader, ...]
    deposit_hashes: tuple[bytes, ...]
    """The Vault queue the DEPOSITs consume (keccak of each DEPOSIT)."""
    txs: tuple[bytes, ...]
    """LIST_MARKET, ORACLE_UPDATE, one DEPOSIT per trader, then the FILLs."""


def perp_workload(fills: int, signer: Signer | None = None, traders: int = 8) -> Workload:
    """Return a deterministic workload: one perpetual market, funded traders and ``fills`` FILLs.

    Every transaction applies with reason OK at any batch time ≥ 1 and any batching (each FILL
    uses fresh orders, so no order leaf is reused); the cast is ``Trader.of("workload-…")``.
    """
    from optirollup.codec.tx import ListMarket, OracleUpdate

    signer = signer or Signer()
    oracle = Trader.of("workload-oracle")
    cast = tuple(Trader.of(f"workload-trader-{i}") for i in range(traders))
    lot, tick, price = 100_000, 1_000, 3_000_000_000
    listing = ListMarket(1, 0, b"ETH-PERP".ljust(16, b"\x00"), 0, 0, lot, tick, 100_000, 50_000,
                         200, 500, 10_000)  # fmt: skip
    txs = [
        encode_tx(signer.sign(listing, oracle.key)),
        encode_tx(signer.sign(OracleUpdate(1, price, 0, 1), oracle.key)),
    ]
    deposits = [deposit_tx(i, t.address, 10**12) for i, t in enumerate(cast)]
    txs += deposits
    for k in range(fills):
        maker, taker = cast[k % traders], cast[(k + 1 + k // traders) % traders]
        if maker == taker:
            taker = cast[(k + 1) % traders]
        side = k % 2
        mo = Order(maker.address, 1, side, price + (k % 5) * tick, 10 * lot, 1_000, k, 2**63)
        to = Order(taker.address, 1, 1 - side, mo.price, 10 * lot, 1_000, k, 2**63)
        txs.append(signer.fill(signer.order(mo, maker.key), signer.order(to, taker.key), lot))
    return Workload(oracle, cast, tuple(keccak(d) for d in deposits), tuple(txs))
