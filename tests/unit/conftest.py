"""Fixtures for the state-transition tests: a small world and a harness to apply transactions.

The world every ``rollup`` test starts from (built once per session, then each test gets its own
overlay on top of it, so tests never see each other's writes):

* genesis with the oracle key ``Trader.of("oracle")``;
* market 1, ``ETH-PERP``: lot 100_000 (0.001 ETH), tick 10_000 (0.01 USDC), initial margin
  100_000 ppm (10%), maintenance 50_000 ppm (5%), maker fee 200 ppm, taker fee 500 ppm, funding
  cap 10_000 ppm, oracle price 3_000_000_000 (3000 USDC) at time 100, funding index 0;
* deposits 0, 1, 2: alice, bob and carol hold 10_000_000_000 (10,000 USDC) each;
* ``dave`` and ``mallory`` have no account; ``mallory`` is the foreign signer;
* the batch time is 1_000.

Order defaults (``Rollup.maker`` / ``Rollup.taker``): alice sells 1 ETH (100_000_000) at
3_000_000_000, bob buys 1 ETH with limit 3_000_000_000; fee cap 1_000 ppm, nonce 1, expiry 10**9,
no flags. ``Rollup.fill`` defaults to 0.5 ETH (50_000_000).

Signature tampering (the ``sig=`` argument of every builder) is one of ``SIG_KINDS``:
``foreign`` (signed by mallory), ``high_s`` (s' = n − s with v flipped: the same signer for a bare
``ecrecover``, rejected by the protocol's low-s rule), ``v_raw`` (v = 0/1 instead of 27/28),
``v_29``, ``all_zero``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_hash.auto import keccak

from optirollup.codec import eip712
from optirollup.codec.tx import (
    Cancel,
    CancelAll,
    Fill,
    FundingTick,
    ListMarket,
    OracleUpdate,
    Order,
    Side,
    SignedMessage,
    SignedOrder,
    Withdraw,
    encode_tx,
    message_hash,
)
from optirollup.state.leaves import Account, Market, OrderState, System, Withdrawal
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import MemoryStore
from optirollup.stf import BatchContext, Receipt, apply
from optirollup.testkit import DEFAULT_DOMAIN, Signer, Trader, deposit_tx

ETH = 1
PRICE = 3_000_000_000
BATCH_TIME = 1_000
ORACLE_TIME = 100
FUNDED = 10_000_000_000

SIG_KINDS = ("foreign", "high_s", "v_raw", "v_29", "all_zero")

ETH_PERP_PARAMS: dict[str, Any] = {
    "kind": 0,
    "strike": 0,
    "expiry": 0,
    "lot_size": 100_000,
    "tick_size": 10_000,
    "im_ppm": 100_000,
    "mm_ppm": 50_000,
    "maker_fee_ppm": 200,
    "taker_fee_ppm": 500,
    "max_funding_ppm": 10_000,
}


@dataclass(frozen=True)
class Outcome:
    """What applying one transaction did: its receipt and whether the state root moved."""

    receipt: Receipt
    changed: bool

    @property
    def reason(self) -> Any:
        return self.receipt.reason

    @property
    def party(self) -> Any:
        return self.receipt.party


def tamper(kind: str, digest: bytes, key: bytes, foreign_key: bytes) -> bytes:
    """Return a bad signature of ``kind`` over ``digest`` (the rightful signer is ``key``)."""
    if kind == "foreign":
        return eip712.sign(digest, foreign_key)
    if kind == "all_zero":
        return b"\x00" * 65
    good = eip712.sign(digest, key)
    r, s, v = good[:32], int.from_bytes(good[32:64], "big"), good[64]
    if kind == "high_s":
        return r + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    if kind == "v_raw":
        return good[:64] + bytes([v - 27])
    if kind == "v_29":
        return good[:64] + bytes([29])
    raise ValueError(f"unknown signature kind {kind!r}")


class Rollup:
    """A state overlay plus a batch context, with builders for signed transactions.

    Builders return encoded bytes and never apply anything; ``apply`` applies one transaction and
    reports whether the root changed; ``ok`` applies and insists the transaction succeeded (for
    setup steps). ``put_*`` write leaves directly and checkpoint, to reach states (huge balances,
    option markets) that no short sequence of transactions can.
    """

    def __init__(self, store: MemoryStore, root: bytes, deposit_hashes: list[bytes]) -> None:
        self.signer = Signer(DEFAULT_DOMAIN)
        self.state = StateOverlay(store, root)
        self.ctx = BatchContext(BATCH_TIME, self.signer.separator, list(deposit_hashes))
        self.oracle = Trader.of("oracle")
        self.alice = Trader.of("alice")
        self.bob = Trader.of("bob")
        self.carol = Trader.of("carol")
        self.dave = Trader.of("dave")
        self.mallory = Trader.of("mallory")
        self._keys = {
            t.address: t.key
            for t in (self.oracle, self.alice, self.bob, self.carol, self.dave, self.mallory)
        }

    # -- applying -----------------------------------------------------------------------------

    def root(self) -> bytes:
        return self.state.root()

    def apply(self, tx: bytes) -> Outcome:
        """Apply ``tx`` and return its receipt and whether the state root changed."""
        before = self.state.root()
        receipt = apply(self.state, tx, self.ctx)
        return Outcome(receipt, self.state.root() != before)

    def ok(self, *txs: bytes) -> None:
        """Apply setup transactions, failing the test if any is rejected."""
        for tx in txs:
            out = self.apply(tx)
            assert out.receipt.ok, f"setup transaction rejected: {out.receipt.describe()}"

    # -- reading ------------------------------------------------------------------------------

    def account(self, who: Trader | bytes) -> Account:
        return self.state.account(who.address if isinstance(who, Trader) else who)

    def system(self) -> System:
        return self.state.system()

    def market(self, market_id: int = ETH) -> Market | None:
        return self.state.market(market_id)

    def order_state(self, order: Order) -> OrderState:
        return self.state.order(order.account, order.hash(self.ctx.separator))

    def withdrawal(self, withdrawal_id: int) -> Withdrawal | None:
        return self.state.withdrawal(withdrawal_id)

    # -- writing leaves directly (setup only) -------------------------------------------------

    def put_account(self, acc: Account) -> None:
        self.state.set_account(acc)
        self.state.root()

    def put_market(self, market_id: int, m: Market) -> None:
        self.state.set_market(market_id, m)
        self.state.root()

    def put_system(self, s: System) -> None:
        self.state.set_system(s)
        self.state.root()

    # -- signing ------------------------------------------------------------------------------

    def _sign(self, msg: SignedMessage, key: bytes, sig: str | None) -> bytes:
        if sig is None:
            return encode_tx(self.signer.sign(msg, key))
        digest = message_hash(msg, self.ctx.separator)
        return encode_tx(replace(msg, signature=tamper(sig, digest, key, self.mallory.key)))  # type: ignore[call-arg]

    def order_signature(self, order: Order, sig: str | None = None) -> bytes:
        """Return the owner's signature of ``order``, or a tampered one."""
        key = self._keys[order.account]
        if sig is None:
            return self.signer.order(order, key).signature
        return tamper(sig, order.hash(self.ctx.separator), key, self.mallory.key)

    # -- builders -----------------------------------------------------------------------------

    def deposit(self, who: Trader | bytes, amount: int, *, queue: bool = True) -> bytes:
        """Return a DEPOSIT for the next queue entry, recording it in the L1 queue."""
        address = who.address if isinstance(who, Trader) else who
        tx = deposit_tx(len(self.ctx.deposit_hashes), address, amount)
        if queue:
            self.ctx.deposit_hashes.append(keccak(tx))  # type: ignore[attr-defined]
        return tx

    def withdraw(
        self,
        who: Trader,
        amount: int,
        *,
        nonce: int | None = None,
        recipient: bytes | None = None,
        sig: str | None = None,
    ) -> bytes:
        n = self.account(who).nonce if nonce is None else nonce
        msg = Withdraw(who.address, recipient or who.address, amount, n)
        return self._sign(msg, who.key, sig)

    def oracle_update(
        self,
        price: int,
        time: int,
        *,
        market: int = ETH,
        mark: int = 0,
        sig: str | None = None,
        by: Trader | None = None,
    ) -> bytes:
        return self._sign(OracleUpdate(market, price, mark, time), (by or self.oracle).key, sig)

    def funding_tick(
        self,
        rate_ppm: int,
        time: int,
        *,
        market: int = ETH,
        sig: str | None = None,
        by: Trader | None = None,
    ) -> bytes:
        return self._sign(FundingTick(market, rate_ppm, time), (by or self.oracle).key, sig)

    def list_market(
        self,
        market: int,
        *,
        symbol: bytes = b"BTC-PERP",
        sig: str | None = None,
        by: Trader | None = None,
        **overrides: int,
    ) -> bytes:
        params = {**ETH_PERP_PARAMS, **overrides}
        msg = ListMarket(market=market, symbol=symbol.ljust(16, b"\x00"), **params)
        return self._sign(msg, (by or self.oracle).key, sig)

    def cancel(self, who: Trader, order_hash: bytes, *, sig: str | None = None) -> bytes:
        return self._sign(Cancel(who.address, order_hash), who.key, sig)

    def cancel_all(self, who: Trader, floor: int, *, sig: str | None = None) -> bytes:
        return self._sign(CancelAll(who.address, floor), who.key, sig)

    def order(self, who: Trader, side: int, **kw: Any) -> Order:
        """Return an unsigned order of ``who`` with the module defaults for the other fields."""
        fields: dict[str, Any] = {
            "market": ETH,
            "price": PRICE,
            "size": 100_000_000,
            "fee_cap_ppm": 1_000,
            "nonce": 1,
            "expiry": 10**9,
            "flags": 0,
        }
        fields.update(kw)
        return Order(account=who.address, side=side, **fields)

    def maker(self, **kw: Any) -> Order:
        """Return alice's default maker order (sell 1 ETH at 3000), with overrides."""
        return self.order(kw.pop("who", self.alice), kw.pop("side", Side.SELL), **kw)

    def taker(self, **kw: Any) -> Order:
        """Return bob's default taker order (buy 1 ETH, limit 3000), with overrides."""
        return self.order(kw.pop("who", self.bob), kw.pop("side", Side.BUY), **kw)

    def fill(
        self,
        maker: Order | None = None,
        taker: Order | None = None,
        size: int = 50_000_000,
        *,
        maker_sig: str | None = None,
        taker_sig: str | None = None,
    ) -> bytes:
        """Return a FILL of two orders, each signed by its owner unless a tampering is named."""
        mo = maker if maker is not None else self.maker()
        to = taker if taker is not None else self.taker()
        return encode_tx(
            Fill(
                SignedOrder(mo, self.order_signature(mo, maker_sig)),
                SignedOrder(to, self.order_signature(to, taker_sig)),
                size,
            )
        )

    def trade(self, maker: Order, taker: Order, size: int) -> None:
        """Apply a fill that must succeed (setup)."""
        self.ok(self.fill(maker, taker, size))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes ``bad_sig`` once per kind of bad signature."""
    if "bad_sig" in metafunc.fixturenames:
        metafunc.parametrize("bad_sig", SIG_KINDS, ids=[f"{k}_signature" for k in SIG_KINDS])


@dataclass(frozen=True)
class World:
    store: MemoryStore
    root: bytes
    deposit_hashes: list[bytes]


def _build(with_market: bool) -> World:
    store = MemoryStore()
    oracle = Trader.of("oracle")
    root = genesis_root(store, oracle.address)
    r = Rollup(store, root, [])
    if with_market:
        r.ok(
            r.list_market(ETH, symbol=b"ETH-PERP"),
            r.oracle_update(PRICE, ORACLE_TIME),
            r.deposit(r.alice, FUNDED),
            r.deposit(r.bob, FUNDED),
            r.deposit(r.carol, FUNDED),
        )
    root = r.state.root()
    store.update(r.state.pending_nodes())
    return World(store, root, list(r.ctx.deposit_hashes))


@pytest.fixture(scope="session")
def _genesis_world() -> World:
    return _build(with_market=False)


@pytest.fixture(scope="session")
def _world() -> World:
    return _build(with_market=True)


@pytest.fixture
def genesis(_genesis_world: World) -> Rollup:
    """Return a harness on the bare genesis state (only the system leaf, oracle set)."""
    w = _genesis_world
    return Rollup(w.store, w.root, w.deposit_hashes)


@pytest.fixture
def rollup(_world: World) -> Rollup:
    """Return a harness on the world described in this module's docstring."""
    w = _world
    return Rollup(w.store, w.root, w.deposit_hashes)


@pytest.fixture
def world_state(_world: World) -> Callable[[], StateOverlay]:
    """Return a factory of independent overlays on the world's root (for replaying a batch)."""
    w = _world
    return lambda: StateOverlay(w.store, w.root)
