"""Generate the golden test vectors of the state transition: one JSON file per transaction type.

Usage (from the project root)::

    .venv/bin/python tests/vectors/generate.py           # rewrite tests/vectors/*.json
    .venv/bin/python tests/vectors/generate.py --check   # exit 1 if a file would change

Every case is one transaction applied by the reference STF (``optirollup.stf.apply``) to a small
deterministic pre-state. Pre-states are built from genesis by applying real transactions (and,
for a few range and option cases, by writing leaves directly; see ``PATCHES``). Keys are derived
from fixed labels and signatures are RFC 6979 deterministic, so the output is byte-identical on
every run. ``tests/unit/test_vectors.py`` checks the files and that this script reproduces them.
The format is described in ``tests/vectors/README.md``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from optirollup.codec import eip712
from optirollup.codec.tx import (
    TX_LENGTHS,
    Cancel,
    CancelAll,
    Deleverage,
    Deposit,
    Fill,
    FundingTick,
    Liquidate,
    ListMarket,
    MarketKind,
    OracleUpdate,
    Order,
    OrderFlags,
    SetSettlement,
    SettlePosition,
    Side,
    SignedMessage,
    SignedOrder,
    TxType,
    Withdraw,
    encode_tx,
)
from optirollup.state import mpt
from optirollup.state.keys import (
    SYSTEM_KEY,
    account_key,
    market_key,
    order_key,
    withdrawal_key,
)
from optirollup.state.leaves import Account, Market, OrderState, System, Withdrawal
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import MemoryStore
from optirollup.stf import BatchContext, Party, Reason, apply
from optirollup.testkit import DEFAULT_DOMAIN, Signer, Trader
from optirollup.units import (
    I32_MIN,
    MAX_BALANCE,
    MAX_COLLATERAL,
    MAX_FUNDING_INDEX,
    MAX_POSITION_SIZE,
    PPM,
    U32_MAX,
    U64_MAX,
)

VECTOR_DIR = Path(__file__).resolve().parent

# --------------------------------------------------------------------------- the cast

ORACLE = Trader.of("vectors-oracle")
ALICE = Trader.of("vectors-alice")  # long ETH-PERP, cancel floor 5
BOB = Trader.of("vectors-bob")  # short ETH-PERP, a half-filled resting sell order
CAROL = Trader.of("vectors-carol")  # flat, one cancelled order, one withdrawal
DAVE = Trader.of("vectors-dave")  # no account
ERIN = Trader.of("vectors-erin")  # (crowded) 8 positions
FRANK = Trader.of("vectors-frank")  # (crowded) 8 positions, opposite to erin
MALLORY = Trader.of("vectors-mallory")  # a valid key that signs for others
CAST = (ORACLE, ALICE, BOB, CAROL, DAVE, ERIN, FRANK, MALLORY)
BY_ADDRESS = {t.address: t for t in CAST}
RECIPIENT = bytes.fromhex("c0ffee" + "00" * 16 + "01")

DOMAIN = DEFAULT_DOMAIN
SEP = DOMAIN.separator
SIGNER = Signer(DOMAIN)
FOREIGN = Signer(eip712.Domain(chain_id=1, verifying_contract=b"\x99" * 20))

T = 1_700_000_000  # the batch time of every case
BUILD_TIME = T - 500  # the batch time the pre-states were built at
LONG = T + 86_400  # an expiry far enough

ETH, BTC, OPT, NOWHERE = 1, 2, 20, 99
ETH_LOT, ETH_TICK = 10**6, 10**4  # 0.01 ETH, 0.01 USDC
BTC_LOT, BTC_TICK = 10**5, 10**5
ETH_FEES = (200, 500)  # maker, taker ppm
ETH_PRICE_0, ETH_PRICE = 3_000 * 10**6, 3_100 * 10**6  # first trade price, index price now
ETH_INDEX_0 = 3_000_123_457  # the first index price: off the tick grid, so funding rounds
ETH_RATE = 333  # the funding tick in the base state
FILLED = 123 * ETH_LOT  # 1.23 ETH: alice long, bob short


def sym(text: str) -> bytes:
    return text.encode().ljust(16, b"\0")


ETH_LISTING = ListMarket(ETH, MarketKind.PERP, sym("ETH-PERP"), 0, 0, ETH_LOT, ETH_TICK, 100_000,
                         50_000, *ETH_FEES, 10_000)  # fmt: skip
BTC_LISTING = ListMarket(BTC, MarketKind.PERP, sym("BTC-PERP"), 0, 0, BTC_LOT, BTC_TICK, 50_000,
                         25_000, 100, 300, 5_000)  # fmt: skip

# the deposit queue the Vault holds (every case sees all of it unless it says otherwise)
QUEUE = [
    Deposit(0, ALICE.address, 10_000 * 10**6),
    Deposit(1, BOB.address, 10_000 * 10**6),
    Deposit(2, CAROL.address, 5_000 * 10**6),
    Deposit(3, ERIN.address, 20_000 * 10**6),
    Deposit(4, FRANK.address, 20_000 * 10**6),
    Deposit(5, DAVE.address, 1_000 * 10**6),
]
QUEUE_TXS = [encode_tx(d) for d in QUEUE]
QUEUE_HASHES = [keccak(t) for t in QUEUE_TXS]


# --------------------------------------------------------------------------- tx builders


def signed(msg: SignedMessage, who: Trader = ORACLE, signer: Signer = SIGNER) -> bytes:
    """Return ``msg`` signed by ``who`` over ``signer``'s domain, encoded."""
    return encode_tx(signer.sign(msg, who.key))


def with_signature(msg: SignedMessage, sig: bytes) -> bytes:
    return encode_tx(replace(msg, signature=sig))  # type: ignore[call-arg]


def high_s(sig: bytes) -> bytes:
    """Return the malleable twin of a signature: (r, n − s, v flipped)."""
    s = int.from_bytes(sig[32:64], "big")
    return sig[:32] + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])


def raw_v(sig: bytes) -> bytes:
    """Return the signature with v as 0/1 (the recovery id) instead of 27/28."""
    return sig[:64] + bytes([sig[64] - 27])


def order(
    who: Trader, market: int, side: Side, price: int, size: int, *, cap: int = 1_000,
    nonce: int = 5, expiry: int = LONG, flags: int = 0,
) -> Order:  # fmt: skip
    return Order(who.address, market, side, price, size, cap, nonce, expiry, flags)


def so(o: Order, who: Trader | None = None, signer: Signer = SIGNER) -> SignedOrder:
    """Sign an order, by its account's key unless ``who`` says otherwise."""
    return signer.order(o, (who or BY_ADDRESS[o.account]).key)


def fill(mo: Order | SignedOrder, to: Order | SignedOrder, q: int) -> bytes:
    m = mo if isinstance(mo, SignedOrder) else so(mo)
    t = to if isinstance(to, SignedOrder) else so(to)
    return encode_tx(Fill(m, t, q))


# orders that exist in the base state
BOB_RESTING = order(BOB, ETH, Side.SELL, ETH_PRICE_0, 200 * ETH_LOT, nonce=1)
ALICE_FIRST = order(ALICE, ETH, Side.BUY, ETH_PRICE_0, FILLED, nonce=7)
CAROL_CANCELLED = order(CAROL, ETH, Side.BUY, 2_900 * 10**6, 100 * ETH_LOT, nonce=1)


# --------------------------------------------------------------------------- pre-states


class Recorder:
    """A LeafState that forwards to a StateOverlay and records every key read or written."""

    def __init__(self, state: StateOverlay) -> None:
        self.state = state
        self.kinds: dict[bytes, tuple[str, Any]] = {}  # key -> (kind, identity)
        self.reads: set[bytes] = set()
        self.writes: set[bytes] = set()

    def _touch(self, key: bytes, kind: str, ident: Any, write: bool) -> None:
        self.kinds[key] = (kind, ident)
        (self.writes if write else self.reads).add(key)

    def account(self, address: bytes) -> Account:
        self._touch(account_key(address), "account", address, False)
        return self.state.account(address)

    def order(self, account: bytes, order_hash: bytes) -> OrderState:
        self._touch(order_key(account, order_hash), "order", (account, order_hash), False)
        return self.state.order(account, order_hash)

    def market(self, market_id: int) -> Market | None:
        self._touch(market_key(market_id), "market", market_id, False)
        return self.state.market(market_id)

    def system(self) -> System:
        self._touch(SYSTEM_KEY, "system", None, False)
        return self.state.system()

    def set_account(self, acc: Account) -> None:
        self._touch(account_key(acc.address), "account", acc.address, True)
        self.state.set_account(acc)

    def set_order(self, account: bytes, order_hash: bytes, st: OrderState) -> None:
        self._touch(order_key(account, order_hash), "order", (account, order_hash), True)
        self.state.set_order(account, order_hash, st)

    def set_market(self, market_id: int, m: Market) -> None:
        self._touch(market_key(market_id), "market", market_id, True)
        self.state.set_market(market_id, m)

    def set_system(self, s: System) -> None:
        self._touch(SYSTEM_KEY, "system", None, True)
        self.state.set_system(s)

    def set_withdrawal(self, withdrawal_id: int, w: Withdrawal) -> None:
        self._touch(withdrawal_key(withdrawal_id), "withdrawal", withdrawal_id, True)
        self.state.set_withdrawal(withdrawal_id, w)


Patch = Callable[[Recorder], None]
Step = bytes | Patch


@dataclass
class PreState:
    """A committed pre-state: its store, root and the identity of every leaf in it."""

    name: str
    store: MemoryStore
    root: bytes
    leaves: dict[bytes, tuple[str, Any]]  # key -> (kind, identity), every leaf of the trie
    reachable: bool = True


def build(name: str, steps: Iterable[Step], reachable: bool = True) -> PreState:
    """Apply ``steps`` from genesis: transactions must apply, patches write leaves directly."""
    store = MemoryStore()
    root = genesis_root(store, ORACLE.address)
    rec = Recorder(StateOverlay(store, root))
    rec.kinds[SYSTEM_KEY] = ("system", None)
    ctx = BatchContext(BUILD_TIME, SEP, QUEUE_HASHES)
    for i, step in enumerate(steps):
        if isinstance(step, bytes):
            receipt = apply(rec, step, ctx)
            if not receipt.ok:
                raise AssertionError(f"pre-state {name}: step {i} failed: {receipt.describe()}")
        else:
            step(rec)
    root = rec.state.root()
    store.update(rec.state.pending_nodes())
    written = {k: v for k, v in rec.kinds.items() if k in rec.writes or k == SYSTEM_KEY}
    return PreState(name, store, root, dict(sorted(written.items())), reachable)


BASE_STEPS: list[Step] = [
    signed(ETH_LISTING),
    signed(BTC_LISTING),  # listed, never priced
    signed(OracleUpdate(ETH, ETH_INDEX_0, 0, T - 900)),
    QUEUE_TXS[0],
    QUEUE_TXS[1],
    QUEUE_TXS[2],
    fill(BOB_RESTING, order(ALICE, ETH, Side.BUY, ETH_PRICE_0, FILLED, nonce=7), FILLED),
    signed(FundingTick(ETH, ETH_RATE, T - 800)),
    signed(Cancel(CAROL.address, CAROL_CANCELLED.hash(SEP)), CAROL),
    signed(Withdraw(CAROL.address, CAROL.address, 100 * 10**6, 0), CAROL),
    signed(CancelAll(ALICE.address, 5), ALICE),
    signed(OracleUpdate(ETH, ETH_PRICE, 0, T - 700)),
]
BASE_DESCRIPTION = (
    "ETH-PERP (market 1, index price 3100; one funding tick of 333 ppm at index 3000.123457, "
    "so funding index 999,041,111,181) and BTC-PERP (market 2, no price yet) listed; alice "
    "long 1.23 ETH (bought from bob at 3000, funding unsettled: she owes 1,228,820.57 units, "
    "settled as −1,228,821), cancel floor 5; bob short 1.23 ETH, his resting sell order of 2 "
    "ETH filled 1.23, funding unsettled; carol flat, one cancelled order, nonce 1 after "
    "withdrawal 0 of 100 USDC; deposits 0..2 credited, 3..5 queued"
)

STRESS_PRICE = 10_200 * 10**6
CROWD_MARKETS = range(3, 11)


def _crowd_steps() -> list[Step]:
    steps: list[Step] = [QUEUE_TXS[3], QUEUE_TXS[4]]
    for mid in CROWD_MARKETS:
        steps.append(signed(replace(ETH_LISTING, market=mid, symbol=sym(f"M{mid}-PERP"))))
        steps.append(signed(OracleUpdate(mid, 100 * 10**6, 0, T - 600)))
        mo = order(ERIN, mid, Side.SELL, 100 * 10**6, ETH_LOT, nonce=1)
        to = order(FRANK, mid, Side.BUY, 100 * 10**6, ETH_LOT, nonce=1)
        steps.append(fill(mo, to, ETH_LOT))
    steps.append(signed(FundingTick(3, -77, T - 550)))  # shorts pay in market 3
    return steps


def _patch_account(who: Trader, **changes: Any) -> Patch:
    def patch(rec: Recorder) -> None:
        rec.set_account(replace(rec.account(who.address), **changes))

    return patch


def _patch_system(**changes: Any) -> Patch:
    def patch(rec: Recorder) -> None:
        rec.set_system(replace(rec.system(), **changes))

    return patch


def _patch_market(market_id: int, **changes: Any) -> Patch:
    def patch(rec: Recorder) -> None:
        m = rec.market(market_id)
        assert m is not None
        rec.set_market(market_id, replace(m, **changes))

    return patch


def _add_option(rec: Recorder) -> None:
    rec.set_market(OPT, Market(MarketKind.CALL, sym("ETH-3000-C"), ETH_PRICE_0, LONG, ETH_LOT,
                               ETH_TICK, 100_000, 50_000, 200, 500, 10_000,
                               oracle_price=ETH_PRICE, option_mark=150 * 10**6,
                               oracle_time=T - 700))  # fmt: skip


PATCHES: dict[str, tuple[list[Step], str]] = {
    "rich": (
        [_patch_account(ALICE, collateral=MAX_COLLATERAL - 10)],
        "alice's collateral is MAX_COLLATERAL − 10 (direct leaf write: needs ~2^63 deposits)",
    ),
    "indebted": (
        [_patch_account(CAROL, collateral=-(MAX_COLLATERAL - 5))],
        "carol's collateral is −(MAX_COLLATERAL − 5) (direct leaf write)",
    ),
    "nonce_exhausted": (
        [_patch_account(CAROL, nonce=U64_MAX)],
        "carol's nonce is U64_MAX (direct leaf write: needs 2^64 − 1 withdrawals)",
    ),
    "withdrawals_exhausted": (
        [_patch_system(next_withdrawal_id=U64_MAX)],
        "the system's next withdrawal id is U64_MAX (direct leaf write)",
    ),
    "funding_extreme": (
        [_patch_market(ETH, funding_index=MAX_FUNDING_INDEX - 10)],
        "ETH-PERP's funding index is MAX_FUNDING_INDEX − 10 (direct leaf write)",
    ),
    "fees_full": (
        [_patch_system(fee_balance=MAX_BALANCE - 1)],
        "the fee balance is MAX_BALANCE − 1 (direct leaf write)",
    ),
    "options": (
        [_add_option],
        "market 20 is a CALL option (direct leaf write: LIST_MARKET lists only perps in this "
        "version, so no batch can reach this state)",
    ),
}
UNREACHABLE = {"options"}

_PRESTATES: dict[str, PreState] = {}


def prestate(name: str) -> PreState:
    """Return (building once) the named pre-state."""
    if name not in _PRESTATES:
        if name == "base":
            steps = list(BASE_STEPS)
        elif name == "stressed":
            steps = [*BASE_STEPS, signed(OracleUpdate(ETH, STRESS_PRICE, 0, T - 600))]
        elif name == "crowded":
            steps = [*BASE_STEPS, *_crowd_steps()]
        else:
            steps = [*BASE_STEPS, *PATCHES[name][0]]
        _PRESTATES[name] = build(name, steps, reachable=name not in UNREACHABLE)
    return _PRESTATES[name]


PRESTATE_DESCRIPTIONS = {
    "base": BASE_DESCRIPTION,
    "stressed": "base, then ETH-PERP's index price rises to 10,200: bob is under his initial "
    "margin but above maintenance",
    "crowded": "base, then erin and frank are funded and trade 0.01 of each of 8 more markets "
    "(3..10, index price 100): each holds 8 positions, the maximum; one funding tick of −77 "
    "ppm in market 3 (erin, short, owes it; unsettled)",
    **{k: f"base, then {v[1]}" for k, v in PATCHES.items()},
}


# --------------------------------------------------------------------------- JSON rendering


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def decoded_leaf(kind: str, ident: Any, value: bytes) -> dict[str, Any]:
    """Return a leaf as human-readable JSON (ints as numbers, bytes as 0x hex)."""
    if kind == "account":
        a = Account.decode(value)
        return {
            "address": hx(a.address), "collateral": a.collateral, "nonce": a.nonce,
            "cancel_floor": a.cancel_floor,
            "positions": [
                {"market": p.market, "size": p.size, "funding_snapshot": p.funding_snapshot}
                for p in a.positions
            ],
        }  # fmt: skip
    if kind == "order":
        o = OrderState.decode(value)
        return {"account": hx(ident[0]), "order_hash": hx(ident[1]), "filled": o.filled,
                "cancelled": o.cancelled}  # fmt: skip
    if kind == "market":
        m = Market.decode(value)
        out: dict[str, Any] = {"market_id": ident}
        for f in Market.__dataclass_fields__:
            v = getattr(m, f)
            out[f] = hx(v) if isinstance(v, bytes) else v
        out["symbol_text"] = m.symbol.rstrip(b"\0").decode("ascii", "replace")
        return out
    if kind == "system":
        s = System.decode(value)
        return {"oracle": hx(s.oracle), "next_deposit_index": s.next_deposit_index,
                "next_withdrawal_id": s.next_withdrawal_id, "fee_balance": s.fee_balance,
                "insurance_balance": s.insurance_balance}  # fmt: skip
    if kind == "withdrawal":
        w = Withdrawal.decode(value)
        return {"withdrawal_id": ident, "account": hx(w.account), "recipient": hx(w.recipient),
                "amount": w.amount}  # fmt: skip
    raise ValueError(f"unknown leaf kind {kind}")


def leaf_json(key: bytes, kind: str, ident: Any, value: bytes) -> dict[str, Any]:
    return {"key": hx(key), "kind": kind, "value": hx(value),
            "decoded": decoded_leaf(kind, ident, value)}  # fmt: skip


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One vector: a transaction on a named pre-state, and the outcome it must have."""

    name: str
    description: str
    tx: bytes
    reason: Reason
    party: Party = Party.NONE
    pre: str = "base"
    batch_time: int = T
    deposit_hashes: list[bytes] = field(default_factory=lambda: list(QUEUE_HASHES))


def run_case(case: Case) -> dict[str, Any]:
    """Apply a case's transaction and return its JSON record (checking the intended outcome)."""
    pre = prestate(case.pre)
    store = MemoryStore({k: pre.store[k] for k in pre.store})
    state = StateOverlay(store, pre.root)
    rec = Recorder(state)
    ctx = BatchContext(case.batch_time, SEP, case.deposit_hashes)
    receipt = apply(rec, case.tx, ctx)
    if (receipt.reason, receipt.party) != (case.reason, case.party):
        raise AssertionError(
            f"{case.name}: expected {case.reason.name} ({case.party.name}), "
            f"got {receipt.describe()}"
        )
    post_root = state.root()
    store.update(state.pending_nodes())
    if not receipt.ok and post_root != pre.root:
        raise AssertionError(f"{case.name}: a rejected transaction changed the root")
    changed = []
    for key in sorted(rec.writes):
        before, after = mpt.get(pre.store, pre.root, key), mpt.get(store, post_root, key)
        if after != before:
            kind, ident = rec.kinds[key]
            changed.append(leaf_json(key, kind, ident, after))
    touched = sorted(rec.reads | rec.writes)
    leaves = [leaf_json(k, kind, ident, mpt.get(pre.store, pre.root, k))
              for k, (kind, ident) in pre.leaves.items()]  # fmt: skip
    return {
        "name": case.name,
        "description": case.description,
        "reachable": pre.reachable,
        "context": {
            "batch_time": case.batch_time,
            "chain_id": DOMAIN.chain_id,
            "verifying_contract": hx(DOMAIN.verifying_contract),
            "separator": hx(SEP),
            "deposit_hashes": [hx(h) for h in case.deposit_hashes],
        },
        "pre_state": {
            "name": pre.name,
            "description": PRESTATE_DESCRIPTIONS[pre.name],
            "root": hx(pre.root),
            "leaves": leaves,
        },
        "tx": hx(case.tx),
        "expected": {
            "reason": receipt.reason.name,
            "reason_code": int(receipt.reason),
            "party": receipt.party.name,
        },
        "post_state": {"root": hx(post_root), "changed_leaves": changed},
        "proofs": {hx(k): [hx(n) for n in mpt.get_proof(pre.store, pre.root, k)] for k in touched},
    }


M, TK, N = Party.MAKER, Party.TAKER, Party.NONE
R = Reason


def malformed_lengths(tx: bytes, label: str) -> list[Case]:
    """Return the 'one byte short' and 'one byte long' MALFORMED cases of a valid encoding."""
    return [
        Case(f"{label}_one_byte_short", f"a {label} one byte shorter than its fixed length",
             tx[:-1], R.MALFORMED),
        Case(f"{label}_one_byte_long", f"a {label} with one trailing byte", tx + b"\0",
             R.MALFORMED),
    ]  # fmt: skip


def deposit_cases() -> list[Case]:
    def queue_with(extra: Deposit) -> list[bytes]:
        return [*QUEUE_HASHES[: extra.index], keccak(encode_tx(extra))]

    to_alice = Deposit(3, ALICE.address, 500 * 10**6)
    zero = Deposit(3, DAVE.address, 0)
    huge = Deposit(3, DAVE.address, U64_MAX)
    top_up = Deposit(3, ALICE.address, 10)
    over = Deposit(3, ALICE.address, 11)
    return [
        Case("deposit_credits_a_new_account", "the next queued deposit (index 3) credits erin, "
             "who has no account yet, and advances the deposit cursor", QUEUE_TXS[3], R.OK),
        Case("deposit_credits_an_account_with_positions", "a queued deposit credits alice "
             "without settling her funding", encode_tx(to_alice), R.OK,
             deposit_hashes=queue_with(to_alice)),
        Case("deposit_of_u64_max", "a deposit of 2^64−1 quote units", encode_tx(huge), R.OK,
             deposit_hashes=queue_with(huge)),
        Case("deposit_to_exactly_max_collateral", "a deposit that brings collateral to exactly "
             "MAX_COLLATERAL", encode_tx(top_up), R.OK, pre="rich",
             deposit_hashes=queue_with(top_up)),
        Case("deposit_beyond_the_visible_queue", "index 6 is past the queue the batch sees",
             encode_tx(Deposit(6, DAVE.address, 10**6)), R.DEPOSIT_UNKNOWN),
        Case("deposit_with_tampered_amount", "index 3 with an amount that does not hash to "
             "the Vault's record", encode_tx(replace(QUEUE[3], amount=QUEUE[3].amount + 1)),
             R.DEPOSIT_UNKNOWN),
        Case("deposit_with_tampered_account", "index 3 credited to another account",
             encode_tx(replace(QUEUE[3], account=DAVE.address)), R.DEPOSIT_UNKNOWN),
        Case("deposit_when_the_queue_is_not_visible", "a genuine deposit, but the batch was "
             "proposed when only 3 deposits were queued", QUEUE_TXS[3], R.DEPOSIT_UNKNOWN,
             deposit_hashes=QUEUE_HASHES[:3]),
        Case("deposit_replayed", "deposit 0 was already credited", QUEUE_TXS[0],
             R.DEPOSIT_OUT_OF_ORDER),
        Case("deposit_skips_the_queue", "deposit 4 before deposit 3", QUEUE_TXS[4],
             R.DEPOSIT_OUT_OF_ORDER),
        Case("deposit_of_zero", "a queued deposit of 0 (the cursor does not advance)",
             encode_tx(zero), R.BAD_AMOUNT, deposit_hashes=queue_with(zero)),
        Case("deposit_overflowing_collateral", "a deposit that would take collateral past "
             "MAX_COLLATERAL", encode_tx(over), R.RANGE, pre="rich",
             deposit_hashes=queue_with(over)),
        *malformed_lengths(QUEUE_TXS[3], "deposit"),
    ]  # fmt: skip


def withdraw_cases() -> list[Case]:
    carol = Withdraw(CAROL.address, RECIPIENT, 1_000 * 10**6, 1)
    good_sig = SIGNER.sign(carol, CAROL.key).signature
    alice = Withdraw(ALICE.address, ALICE.address, 10**6, 0)
    # alice's free collateral at the base state: equity − initial after funding settlement
    pre = prestate("base")
    st = StateOverlay(pre.store, pre.root)
    from optirollup.stf import margin

    def lookup(mid: int) -> Market:
        m = st.market(mid)
        assert m is not None
        return m

    r = margin.risk(margin.settle_funding(st.account(ALICE.address), lookup), lookup)
    free = r.equity - r.initial
    return [
        Case("withdraw_creates_a_withdrawal_leaf", "carol (nonce 1, flat) withdraws 1,000 USDC "
             "to a third address: withdrawal 1 is created", signed(carol, CAROL), R.OK),
        Case("withdraw_settles_funding_first", "alice withdraws 1 USDC; her unsettled funding is "
             "settled (rounded down) and her snapshot moves to the index",
             signed(alice, ALICE), R.OK),
        Case("withdraw_all_free_collateral", f"alice withdraws exactly equity − initial "
             f"({free}) after funding", signed(replace(alice, amount=free), ALICE), R.OK),
        Case("withdraw_one_unit_more_than_free", "alice withdraws equity − initial + 1",
             signed(replace(alice, amount=free + 1), ALICE), R.INSUFFICIENT_MARGIN),
        Case("withdraw_signed_by_another_key", "mallory signs carol's withdrawal",
             signed(carol, MALLORY), R.BAD_SIGNATURE),
        Case("withdraw_signed_for_another_domain", "carol signs for chain 1",
             signed(carol, CAROL, FOREIGN), R.BAD_SIGNATURE),
        Case("withdraw_high_s_signature", "carol's signature with s' = n − s and v flipped "
             "(ecrecover accepts it; the protocol's low-s rule does not)",
             with_signature(carol, high_s(good_sig)), R.BAD_SIGNATURE),
        Case("withdraw_v_as_recovery_id", "v = 0/1 instead of 27/28",
             with_signature(carol, raw_v(good_sig)), R.BAD_SIGNATURE),
        Case("withdraw_zero_signature", "65 zero bytes", with_signature(carol, bytes(65)),
             R.BAD_SIGNATURE),
        Case("withdraw_signature_over_another_amount", "carol's signature of 1,000 USDC on a "
             "withdrawal of 2,000", with_signature(replace(carol, amount=2_000 * 10**6), good_sig),
             R.BAD_SIGNATURE),
        Case("withdraw_replayed", "carol's withdrawal with nonce 0, already used",
             signed(replace(carol, nonce=0), CAROL), R.BAD_NONCE),
        Case("withdraw_future_nonce", "nonce 2 while carol's nonce is 1",
             signed(replace(carol, nonce=2), CAROL), R.BAD_NONCE),
        Case("withdraw_zero", "a withdrawal of 0", signed(replace(carol, amount=0), CAROL),
             R.BAD_AMOUNT),
        Case("withdraw_to_the_zero_address", "tokens sent to 0x00…00 would be burned",
             signed(replace(carol, recipient=bytes(20)), CAROL), R.BAD_RECIPIENT),
        Case("withdraw_from_no_account", "dave has no account: equity 0 < 1",
             signed(Withdraw(DAVE.address, DAVE.address, 1, 0), DAVE), R.INSUFFICIENT_MARGIN),
        Case("withdraw_more_than_collateral", "carol withdraws more than she holds",
             signed(replace(carol, amount=4_900 * 10**6 + 1), CAROL), R.INSUFFICIENT_MARGIN),
        Case("withdraw_past_minimum_collateral", "carol's collateral would go below "
             "−MAX_COLLATERAL", signed(replace(carol, amount=6), CAROL), R.RANGE,
             pre="indebted"),
        Case("withdraw_when_ids_are_exhausted", "the next withdrawal id is U64_MAX",
             signed(carol, CAROL), R.RANGE, pre="withdrawals_exhausted"),
        Case("withdraw_when_the_nonce_is_exhausted", "carol's nonce is U64_MAX: nonce + 1 "
             "would not fit the leaf", signed(replace(carol, nonce=U64_MAX), CAROL), R.RANGE,
             pre="nonce_exhausted"),
        *malformed_lengths(signed(carol, CAROL), "withdraw"),
    ]  # fmt: skip


def oracle_cases() -> list[Case]:
    up = OracleUpdate(ETH, 3_150 * 10**6, 0, T)
    return [
        Case("oracle_update_at_batch_time", "ETH-PERP's index price moves to 3,150 at the "
             "batch time", signed(up), R.OK),
        Case("oracle_update_one_second_after_the_last", "time = last oracle time + 1",
             signed(replace(up, time=T - 699)), R.OK),
        Case("oracle_update_first_price", "BTC-PERP receives its first price",
             signed(OracleUpdate(BTC, 60_000 * 10**6, 0, T)), R.OK),
        Case("oracle_update_max_price", "a price of 2^64−1", signed(replace(up, price=U64_MAX)),
             R.OK),
        Case("oracle_update_option_mark", "an option's index price and mark",
             signed(OracleUpdate(OPT, 3_200 * 10**6, 200 * 10**6, T)), R.OK, pre="options"),
        Case("oracle_update_signed_by_a_trader", "alice signs an oracle update",
             signed(up, ALICE), R.BAD_SIGNATURE),
        Case("oracle_update_signed_for_another_domain", "the oracle key signs for chain 1",
             signed(up, ORACLE, FOREIGN), R.BAD_SIGNATURE),
        Case("oracle_update_unknown_market", "market 99 is not listed",
             signed(replace(up, market=NOWHERE)), R.MARKET_NOT_FOUND),
        Case("oracle_update_same_time", "time equal to the last oracle time",
             signed(replace(up, time=T - 700)), R.STALE_TIME),
        Case("oracle_update_older_time", "time before the last oracle time",
             signed(replace(up, time=T - 701)), R.STALE_TIME),
        Case("oracle_update_from_the_future", "time after the batch time",
             signed(replace(up, time=T + 1)), R.STALE_TIME),
        Case("oracle_update_zero_price", "price 0", signed(replace(up, price=0)), R.BAD_PRICE),
        Case("oracle_update_perp_with_mark", "a perp has no option mark",
             signed(replace(up, mark=1)), R.BAD_PRICE),
        Case("oracle_update_option_without_mark", "an option update must carry a mark",
             signed(OracleUpdate(OPT, 3_200 * 10**6, 0, T)), R.BAD_PRICE, pre="options"),
        *malformed_lengths(signed(up), "oracle_update"),
    ]  # fmt: skip


def funding_cases() -> list[Case]:
    tick = FundingTick(ETH, 100, T)
    return [
        Case("funding_tick_positive", "rate +100 ppm: the index grows by 100 × 3100e6; no "
             "account is touched", signed(tick), R.OK),
        Case("funding_tick_negative", "rate −250 ppm", signed(replace(tick, rate_ppm=-250)),
             R.OK),
        Case("funding_tick_at_the_cap", "rate = +max_funding_ppm",
             signed(replace(tick, rate_ppm=10_000)), R.OK),
        Case("funding_tick_at_the_negative_cap", "rate = −max_funding_ppm",
             signed(replace(tick, rate_ppm=-10_000)), R.OK),
        Case("funding_tick_signed_by_a_trader", "bob signs a funding tick", signed(tick, BOB),
             R.BAD_SIGNATURE),
        Case("funding_tick_unknown_market", "market 99 is not listed",
             signed(replace(tick, market=NOWHERE)), R.MARKET_NOT_FOUND),
        Case("funding_tick_on_an_option", "funding applies to perps only",
             signed(replace(tick, market=OPT)), R.UNSUPPORTED, pre="options"),
        Case("funding_tick_same_time", "time equal to the last funding time",
             signed(replace(tick, time=T - 800)), R.STALE_TIME),
        Case("funding_tick_from_the_future", "time after the batch time",
             signed(replace(tick, time=T + 1)), R.STALE_TIME),
        Case("funding_tick_over_the_cap", "rate = max_funding_ppm + 1",
             signed(replace(tick, rate_ppm=10_001)), R.FUNDING_CAP),
        Case("funding_tick_under_the_negative_cap", "rate = −max_funding_ppm − 1",
             signed(replace(tick, rate_ppm=-10_001)), R.FUNDING_CAP),
        Case("funding_tick_int32_min", "rate = −2^31", signed(replace(tick, rate_ppm=I32_MIN)),
             R.FUNDING_CAP),
        Case("funding_tick_without_price", "BTC-PERP has no index price yet",
             signed(replace(tick, market=BTC)), R.NO_PRICE),
        Case("funding_tick_overflowing_the_index", "the index would pass MAX_FUNDING_INDEX",
             signed(replace(tick, rate_ppm=1)), R.RANGE, pre="funding_extreme"),
        *malformed_lengths(signed(tick), "funding_tick"),
    ]  # fmt: skip


def cancel_cases() -> list[Case]:
    fresh = order(ALICE, ETH, Side.SELL, 3_200 * 10**6, 10 * ETH_LOT, nonce=9)
    c = Cancel(ALICE.address, fresh.hash(SEP))
    good = SIGNER.sign(c, ALICE.key).signature
    return [
        Case("cancel_an_unseen_order", "alice cancels an order never filled: a new order "
             "leaf (filled 0, cancelled)", signed(c, ALICE), R.OK),
        Case("cancel_a_partly_filled_order", "bob cancels his resting order: filled stays 1.23",
             signed(Cancel(BOB.address, BOB_RESTING.hash(SEP)), BOB), R.OK),
        Case("cancel_any_hash", "any 32 bytes can be cancelled; the key binds the owner",
             signed(Cancel(DAVE.address, b"\x42" * 32), DAVE), R.OK),
        Case("cancel_signed_by_another_key", "mallory cancels bob's order",
             signed(Cancel(BOB.address, BOB_RESTING.hash(SEP)), MALLORY), R.BAD_SIGNATURE),
        Case("cancel_signed_for_another_domain", "alice signs for chain 1",
             signed(c, ALICE, FOREIGN), R.BAD_SIGNATURE),
        Case("cancel_high_s_signature", "the malleable twin of alice's signature",
             with_signature(c, high_s(good)), R.BAD_SIGNATURE),
        Case("cancel_already_cancelled", "carol's order is already cancelled",
             signed(Cancel(CAROL.address, CAROL_CANCELLED.hash(SEP)), CAROL),
             R.ALREADY_CANCELLED),
        *malformed_lengths(signed(c, ALICE), "cancel"),
    ]  # fmt: skip


def cancel_all_cases() -> list[Case]:
    return [
        Case("cancel_all_raises_the_floor", "alice raises her floor from 5 to 6",
             signed(CancelAll(ALICE.address, 6), ALICE), R.OK),
        Case("cancel_all_first_floor", "bob sets his first floor",
             signed(CancelAll(BOB.address, 1), BOB), R.OK),
        Case("cancel_all_creates_an_account", "dave (no account) sets a floor: an account leaf "
             "with only a floor", signed(CancelAll(DAVE.address, U64_MAX), DAVE), R.OK),
        Case("cancel_all_signed_by_another_key", "mallory raises bob's floor",
             signed(CancelAll(BOB.address, 1), MALLORY), R.BAD_SIGNATURE),
        Case("cancel_all_same_floor", "alice's floor is already 5",
             signed(CancelAll(ALICE.address, 5), ALICE), R.STALE_CANCEL_FLOOR),
        Case("cancel_all_lower_floor", "a floor below the current one",
             signed(CancelAll(ALICE.address, 4), ALICE), R.STALE_CANCEL_FLOOR),
        Case("cancel_all_zero_floor", "floor 0 on a fresh account",
             signed(CancelAll(BOB.address, 0), BOB), R.STALE_CANCEL_FLOOR),
        *malformed_lengths(signed(CancelAll(ALICE.address, 6), ALICE), "cancel_all"),
    ]  # fmt: skip


def list_market_cases() -> list[Case]:
    base = ListMarket(3, MarketKind.PERP, sym("SOL-PERP"), 0, 0, 10**6, 100, 100_000, 50_000,
                      200, 500, 10_000)  # fmt: skip
    bad = [
        ("strike", {"strike": 1}), ("expiry", {"expiry": 1}), ("zero_lot", {"lot_size": 0}),
        ("zero_tick", {"tick_size": 0}), ("lot_times_tick", {"tick_size": 99}),
        ("zero_maintenance", {"mm_ppm": 0}), ("maintenance_equals_initial", {"mm_ppm": 100_000}),
        ("initial_above_one", {"im_ppm": PPM + 1, "mm_ppm": 50_000}),
        ("maker_fee", {"maker_fee_ppm": 100_001}), ("taker_fee", {"taker_fee_ppm": 100_001}),
        ("zero_funding_cap", {"max_funding_ppm": 0}),
        ("funding_cap", {"max_funding_ppm": 100_001}),
    ]  # fmt: skip
    return [
        Case("list_market_perp", "the oracle lists SOL-PERP as market 3", signed(base), R.OK),
        Case("list_market_id_zero", "market id 0 is a valid id", signed(replace(base, market=0)),
             R.OK),
        Case("list_market_max_id", "market id 2^32−1", signed(replace(base, market=U32_MAX)),
             R.OK),
        Case("list_market_extreme_parameters", "every parameter at its bound: lot 1, tick 1e8, "
             "mm = im − 1, im = 100%, fees 10%, funding cap 10%",
             signed(replace(base, lot_size=1, tick_size=10**8, im_ppm=PPM, mm_ppm=PPM - 1,
                            maker_fee_ppm=100_000, taker_fee_ppm=100_000,
                            max_funding_ppm=100_000)), R.OK),
        Case("list_market_signed_by_a_trader", "alice lists a market", signed(base, ALICE),
             R.BAD_SIGNATURE),
        Case("list_market_existing_id", "market 1 exists", signed(replace(base, market=ETH)),
             R.MARKET_EXISTS),
        Case("list_market_call", "options are not listable in this version",
             signed(replace(base, kind=MarketKind.CALL, strike=3_000 * 10**6, expiry=LONG)),
             R.UNSUPPORTED),
        Case("list_market_put", "options are not listable in this version",
             signed(replace(base, kind=MarketKind.PUT)), R.UNSUPPORTED),
        Case("list_market_unknown_kind", "kind 3", signed(replace(base, kind=3)), R.UNSUPPORTED),
        *[Case(f"list_market_bad_{label}", f"bad parameter: {changes}",
               signed(replace(base, **changes)), R.BAD_MARKET_PARAMS) for label, changes in bad],
        *malformed_lengths(signed(base), "list_market"),
    ]  # fmt: skip


def fill_cases() -> list[Case]:
    P = ETH_PRICE
    L = ETH_LOT
    # carol sells 0.5 ETH to alice at 3100: the default valid pair
    mo = order(CAROL, ETH, Side.SELL, P, 50 * L)
    to = order(ALICE, ETH, Side.BUY, P + 10 * ETH_TICK, 50 * L)
    q = 50 * L
    ok = so(mo), so(to)
    big = MAX_POSITION_SIZE // L * L
    stressed_buy = order(BOB, ETH, Side.BUY, STRESS_PRICE, L)
    cases = [
        # ---- applied
        Case("fill_opens_and_grows_positions", "carol (flat) sells 0.5 ETH at 3100 to alice "
             "(long 1.23, funding unsettled): both settle funding, pay fees, carol opens a short",
             fill(*ok, q), R.OK),
        Case("fill_taker_sells", "alice makes a bid at 3090, carol sells into it with limit 3080",
             fill(order(ALICE, ETH, Side.BUY, P - 10**7, 50 * L),
                  order(CAROL, ETH, Side.SELL, P - 2 * 10**7, 50 * L), q), R.OK),
        Case("fill_partly_fills_a_resting_order", "carol buys 0.5 ETH from bob's resting order "
             "(1.23 of 2 filled) at its price 3000",
             fill(BOB_RESTING, order(CAROL, ETH, Side.BUY, P, 50 * L), q), R.OK),
        Case("fill_completes_a_resting_order", "carol buys exactly the 0.77 ETH left",
             fill(BOB_RESTING, order(CAROL, ETH, Side.BUY, P, 77 * L), 77 * L), R.OK),
        Case("fill_closes_a_position", "alice sells her 1.23 ETH with reduce-only: the position "
             "leaf entry disappears", fill(order(CAROL, ETH, Side.BUY, P, FILLED),
                                           order(ALICE, ETH, Side.SELL, P, FILLED,
                                                 flags=OrderFlags.REDUCE_ONLY), FILLED), R.OK),
        Case("fill_flips_a_position", "alice sells 2 ETH: long 1.23 becomes short 0.77",
             fill(order(CAROL, ETH, Side.BUY, P, 200 * L), order(ALICE, ETH, Side.SELL, P,
                                                                    200 * L), 200 * L), R.OK),
        Case("fill_post_only_maker_ioc_taker", "post-only maker, IOC taker",
             fill(replace(mo, flags=OrderFlags.POST_ONLY), replace(to, flags=OrderFlags.IOC), q),
             R.OK),
        Case("fill_settles_funding_in_every_market", "erin (8 positions, funding unsettled in "
             "market 3) buys back her 0.01 short in market 3 from alice: all 8 of her markets "
             "are read, her position list shrinks to 7",
             fill(order(ALICE, 3, Side.SELL, 100 * 10**6, L), order(ERIN, 3, Side.BUY,
                                                                   100 * 10**6, L), L),
             R.OK, pre="crowded"),
        Case("fill_reducing_under_initial_margin", "bob is under initial margin (stressed) and "
             "buys back 0.01 ETH at the index price: accepted because it reduces his position "
             "and shrinks his maintenance shortfall",
             fill(order(CAROL, ETH, Side.SELL, STRESS_PRICE, L), stressed_buy, L), R.OK,
             pre="stressed"),
        # ---- order shape, pair
        Case("fill_maker_bad_side", "maker side 2", fill(replace(mo, side=2), to, q),
             R.BAD_ORDER, M),
        Case("fill_maker_unknown_flag", "maker flag bit 3", fill(replace(mo, flags=8), to, q),
             R.BAD_ORDER, M),
        Case("fill_taker_post_only_and_ioc", "taker flags POST_ONLY|IOC",
             fill(mo, replace(to, flags=OrderFlags.POST_ONLY | OrderFlags.IOC), q),
             R.BAD_ORDER, TK),
        Case("fill_taker_bad_side", "taker side 255", fill(mo, replace(to, side=255), q),
             R.BAD_ORDER, TK),
        Case("fill_market_mismatch", "maker on ETH-PERP, taker on BTC-PERP",
             fill(mo, replace(to, market=BTC), q), R.MARKET_MISMATCH),
        Case("fill_same_side", "both orders sell", fill(mo, replace(to, side=Side.SELL), q),
             R.SAME_SIDE),
        Case("fill_self_trade", "alice on both sides",
             fill(replace(mo, account=ALICE.address), to, q), R.SELF_TRADE),
        # ---- signatures
        Case("fill_maker_signed_by_another_key", "mallory signs carol's order",
             fill(so(mo, MALLORY), ok[1], q), R.BAD_SIGNATURE, M),
        Case("fill_maker_high_s_signature", "the malleable twin of carol's signature",
             fill(SignedOrder(mo, high_s(ok[0].signature)), ok[1], q), R.BAD_SIGNATURE, M),
        Case("fill_taker_signed_for_another_domain", "alice signs for chain 1",
             fill(ok[0], so(to, signer=FOREIGN), q), R.BAD_SIGNATURE, TK),
        Case("fill_taker_zero_signature", "65 zero bytes", fill(ok[0], SignedOrder(to, bytes(65)),
                                                                  q), R.BAD_SIGNATURE, TK),
        Case("fill_taker_signature_of_another_order", "alice's signature of a different order",
             fill(ok[0], SignedOrder(replace(to, size=51 * L), ok[1].signature), q),
             R.BAD_SIGNATURE, TK),
        # ---- market
        Case("fill_unknown_market", "both orders on market 99",
             fill(replace(mo, market=NOWHERE), replace(to, market=NOWHERE), q),
             R.MARKET_NOT_FOUND),
        Case("fill_on_an_option_market", "fills of option markets have no rule yet",
             fill(replace(mo, market=OPT), replace(to, market=OPT), q), R.UNSUPPORTED,
             pre="options"),
        Case("fill_without_price", "BTC-PERP has no index price",
             fill(order(CAROL, BTC, Side.SELL, 60_000 * 10**6, BTC_LOT),
                  order(ALICE, BTC, Side.BUY, 60_000 * 10**6, BTC_LOT), BTC_LOT), R.NO_PRICE),
        # ---- roles
        Case("fill_ioc_maker", "an IOC order cannot rest", fill(replace(mo, flags=OrderFlags.IOC),
                                                                  to, q), R.IOC_MAKER, M),
        Case("fill_post_only_taker", "a post-only order cannot take",
             fill(mo, replace(to, flags=OrderFlags.POST_ONLY), q), R.POST_ONLY, TK),
        # ---- expiry and cancellation
        Case("fill_maker_expires_at_batch_time", "maker expiry = batch time",
             fill(replace(mo, expiry=T), to, q), R.EXPIRED, M),
        Case("fill_taker_expired", "taker expiry one second before the batch time",
             fill(mo, replace(to, expiry=T - 1), q), R.EXPIRED, TK),
        Case("fill_maker_cancelled_by_flag", "carol's cancelled bid as maker",
             fill(CAROL_CANCELLED, order(ALICE, ETH, Side.SELL, 2_900 * 10**6, 100 * L), q),
             R.CANCELLED, M),
        Case("fill_maker_below_cancel_floor", "alice's order with nonce 4 < floor 5 as maker",
             fill(order(ALICE, ETH, Side.SELL, P, 50 * L, nonce=4),
                  order(CAROL, ETH, Side.BUY, P, 50 * L), q), R.CANCELLED, M),
        Case("fill_taker_below_cancel_floor", "alice's order with nonce 0 < floor 5 as taker",
             fill(mo, replace(to, nonce=0), q), R.CANCELLED, TK),
        Case("fill_taker_cancelled_by_flag", "carol's cancelled bid as taker",
             fill(order(ALICE, ETH, Side.SELL, 2_900 * 10**6, 100 * L), CAROL_CANCELLED, q),
             R.CANCELLED, TK),
        # ---- tick and lot
        Case("fill_maker_off_tick", "maker price not a multiple of the tick",
             fill(replace(mo, price=P + 1), to, q), R.BAD_TICK, M),
        Case("fill_maker_zero_price", "maker price 0 (a taker buying at any limit crosses it)",
             fill(replace(mo, price=0), to, q), R.BAD_TICK, M),
        Case("fill_taker_zero_limit", "taker limit 0", fill(mo, replace(to, price=0), q),
             R.BAD_TICK, TK),
        Case("fill_maker_off_lot", "maker size not a multiple of the lot",
             fill(replace(mo, size=50 * L + 1), to, q), R.BAD_LOT, M),
        Case("fill_taker_zero_size", "taker size 0", fill(mo, replace(to, size=0), q),
             R.BAD_LOT, TK),
        Case("fill_size_off_lot", "fill size not a multiple of the lot", fill(*ok, q - 1),
             R.BAD_LOT),
        Case("fill_size_zero", "fill size 0", fill(*ok, 0), R.BAD_LOT),
        # ---- remaining size
        Case("fill_maker_overfilled", "0.78 ETH from bob's order with 0.77 left",
             fill(BOB_RESTING, order(CAROL, ETH, Side.BUY, P, 100 * L), 78 * L), R.OVERFILL, M),
        Case("fill_taker_overfilled", "fill larger than the taker order",
             fill(replace(mo, size=60 * L), to, 51 * L), R.OVERFILL, TK),
        Case("fill_taker_order_already_filled", "alice's first order (1.23, fully filled) again",
             fill(BOB_RESTING, order(ALICE, ETH, Side.BUY, ETH_PRICE_0, FILLED, nonce=7), L),
             R.OVERFILL, TK),
        # ---- price and fees
        Case("fill_taker_bid_below_maker_price", "taker buys with limit one tick below",
             fill(mo, replace(to, price=P - ETH_TICK), q), R.PRICE_NOT_CROSSING),
        Case("fill_taker_ask_above_maker_price", "taker sells with limit one tick above",
             fill(order(ALICE, ETH, Side.BUY, P, 50 * L),
                  order(CAROL, ETH, Side.SELL, P + ETH_TICK, 50 * L), q), R.PRICE_NOT_CROSSING),
        Case("fill_maker_fee_cap_below_fee", "maker caps fees at 199 ppm < 200",
             fill(replace(mo, fee_cap_ppm=ETH_FEES[0] - 1), to, q), R.FEE_CAP, M),
        Case("fill_taker_fee_cap_below_fee", "taker caps fees at 499 ppm < 500",
             fill(mo, replace(to, fee_cap_ppm=ETH_FEES[1] - 1), q), R.FEE_CAP, TK),
        # ---- reduce-only and positions
        Case("fill_maker_reduce_only_when_flat", "carol is flat: reduce-only cannot open",
             fill(replace(mo, flags=OrderFlags.REDUCE_ONLY), to, q), R.REDUCE_ONLY, M),
        Case("fill_taker_reduce_only_grows", "alice is long: a reduce-only buy grows it",
             fill(mo, replace(to, flags=OrderFlags.REDUCE_ONLY), q), R.REDUCE_ONLY, TK),
        Case("fill_taker_reduce_only_would_flip", "alice sells 1.24 reduce-only while long 1.23",
             fill(order(CAROL, ETH, Side.BUY, P, 124 * L),
                  order(ALICE, ETH, Side.SELL, P, 124 * L, flags=OrderFlags.REDUCE_ONLY),
                  124 * L), R.REDUCE_ONLY, TK),
        Case("fill_maker_ninth_position", "erin holds 8 positions and opens ETH-PERP as maker",
             fill(order(ERIN, ETH, Side.SELL, P, L), order(ALICE, ETH, Side.BUY, P, L), L),
             R.TOO_MANY_POSITIONS, M, pre="crowded"),
        Case("fill_taker_ninth_position", "frank holds 8 positions and opens ETH-PERP as taker",
             fill(order(BOB, ETH, Side.BUY, P, L), order(FRANK, ETH, Side.SELL, P, L), L),
             R.TOO_MANY_POSITIONS, TK, pre="crowded"),
        # ---- ranges
        Case("fill_maker_position_out_of_range", "both would hold more than 2^63−1; the maker "
             "is checked first",
             fill(replace(mo, size=big + L), replace(to, size=big + L), big + L), R.RANGE, M),
        Case("fill_taker_position_out_of_range", "alice (long 1.23) buys the largest lot "
             "multiple ≤ 2^63−1: only her position leaves the range",
             fill(replace(mo, size=big), replace(to, size=big), big), R.RANGE, TK),
        Case("fill_fee_balance_overflow", "the fee balance would pass MAX_BALANCE",
             fill(*ok, q), R.RANGE, N, pre="fees_full"),
        # ---- margin
        Case("fill_maker_without_collateral", "dave (no account) sells 0.01 ETH: his equity "
             "is −fee < initial", fill(order(DAVE, ETH, Side.SELL, P, L),
                                       order(ALICE, ETH, Side.BUY, P, L), L),
             R.INSUFFICIENT_MARGIN, M),
        Case("fill_taker_too_large", "carol (4,900 USDC) buys 20 ETH (62,000 USDC notional, "
             "6,200 initial)", fill(order(BOB, ETH, Side.SELL, P, 2_000 * L),
                                    order(CAROL, ETH, Side.BUY, P, 2_000 * L), 2_000 * L),
             R.INSUFFICIENT_MARGIN, TK),
        Case("fill_under_initial_growing", "stressed bob sells 0.01 more ETH",
             fill(order(BOB, ETH, Side.SELL, STRESS_PRICE, L),
                  order(CAROL, ETH, Side.BUY, STRESS_PRICE, L), L), R.INSUFFICIENT_MARGIN, M,
             pre="stressed"),
        Case("fill_reducing_at_a_ruinous_price", "stressed bob buys back 0.01 ETH at 20,000 "
             "(mark 10,200): it reduces his position but grows his maintenance shortfall",
             fill(order(CAROL, ETH, Side.SELL, 20_000 * 10**6, L),
                  replace(stressed_buy, price=20_000 * 10**6), L), R.INSUFFICIENT_MARGIN, TK,
             pre="stressed"),
        *malformed_lengths(fill(*ok, q), "fill"),
    ]  # fmt: skip
    return cases


def reserved_cases() -> list[Case]:
    settle = SetSettlement(OPT, 3_000 * 10**6, T)
    liq = Liquidate(ALICE.address, BOB.address, ETH, ETH_LOT, LONG)
    return [
        Case("set_settlement_is_unsupported", "SET_SETTLEMENT decodes, signed by the oracle, "
             "but has no rule in this version", signed(settle), R.UNSUPPORTED),
        Case("liquidate_is_unsupported", "LIQUIDATE decodes but has no rule in this version",
             signed(liq, ALICE), R.UNSUPPORTED),
        Case("deleverage_is_unsupported", "DELEVERAGE decodes but has no rule in this version",
             encode_tx(Deleverage(BOB.address, ALICE.address, ETH, ETH_LOT)), R.UNSUPPORTED),
        Case("settle_position_is_unsupported", "SETTLE_POSITION decodes but has no rule",
             encode_tx(SettlePosition(ALICE.address, OPT)), R.UNSUPPORTED),
        *malformed_lengths(signed(settle), "set_settlement"),
    ]  # fmt: skip


def malformed_cases() -> list[Case]:
    cases = [
        Case("empty_transaction", "zero bytes", b"", R.MALFORMED),
        Case("type_byte_zero", "type 0x00 is not assigned", b"\x00" + bytes(36), R.MALFORMED),
        Case("type_byte_after_the_last", "type 0x0d is not assigned", b"\x0d" + bytes(36),
             R.MALFORMED),
        Case("type_byte_ff", "type 0xff", b"\xff", R.MALFORMED),
        Case("max_framed_length", "512 bytes of a FILL type byte",
             bytes([TxType.FILL]) + bytes(511), R.MALFORMED),
    ]  # fmt: skip
    for t, n in sorted(TX_LENGTHS.items()):
        cases.append(Case(f"{t.name.lower()}_type_byte_only", f"a bare {t.name} type byte "
                          f"({n} bytes expected)", bytes([t]), R.MALFORMED))  # fmt: skip
    return cases


FILES: dict[str, Callable[[], list[Case]]] = {
    "deposit.json": deposit_cases,
    "withdraw.json": withdraw_cases,
    "oracle_update.json": oracle_cases,
    "funding_tick.json": funding_cases,
    "fill.json": fill_cases,
    "cancel.json": cancel_cases,
    "cancel_all.json": cancel_all_cases,
    "list_market.json": list_market_cases,
    "reserved.json": reserved_cases,
    "malformed.json": malformed_cases,
}


def render(cases: list[Case]) -> str:
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise AssertionError(f"duplicate case names: {dupes}")
    return json.dumps([run_case(c) for c in cases], indent=1, sort_keys=True) + "\n"


def build_all() -> dict[str, str]:
    """Return every vector file's exact text, by file name."""
    return {name: render(make()) for name, make in FILES.items()}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, text in build_all().items():
        path = VECTOR_DIR / name
        old = path.read_text() if path.exists() else None
        if old == text:
            continue
        stale.append(name)
        if not check:
            path.write_text(text)
    verb = "stale" if check else "written"
    print(f"{len(FILES)} vector files, {len(stale)} {verb}: {', '.join(stale) or '-'}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
