"""Measure the L1 gas of optirollup's contracts on a real anvil and (re)write ``docs/gas.md``.

Starts its own anvil (:class:`optirollup.l1.anvil.Anvil`: a loopback port chosen at run time,
stopped by its pid), deploys with :func:`optirollup.l1.deploy.deploy` over web3.py (no ape) and
reads every figure off a transaction receipt (``gasUsed``), so each one is exact for anvil's
default hardfork. Sections, each on its own deployment:

1. ``Rollup.propose`` of batches of 1, 100 and 1,000 transactions: all real DEPOSITs queued
   through the Vault, and a mix of signed FILLs (most of it), CANCELs, ORACLE_UPDATEs and
   DEPOSITs that the reference STF applies; with the calldata charge and the EIP-7623 floor.
2. Every other call: Vault.deposit, DisputeGame.open / bisect / choose / step / timeout /
   close_void / claim, Vault.withdraw, Rollup.finalize.
3. The DEPOSIT step in a state of 100,000 accounts: the verifier called directly (as a
   transaction) and through ``DisputeGame.step``; ``Vault.withdraw`` and ``Rollup.finalize`` are
   measured on the same state.
4. Whole games on a batch of 1,000 real DEPOSITs for k = 2, 4, 8, 16 (one deployment per k):
   the proposer lies from the last transaction's root (or from a middle one), the honest
   challenger bisects against the true trace, wins with the DEPOSIT step and claims.

Usage: .venv/bin/python bench/gas.py [--out docs/gas.md] [--accounts 100000]   (make gas-doc)
"""

from __future__ import annotations

import argparse
import datetime
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from web3 import Web3

from optirollup.codec import eip712
from optirollup.codec.batch import encode_tx_list, tx_proof
from optirollup.codec.tx import (
    Cancel,
    ListMarket,
    OracleUpdate,
    Order,
    OrderFlags,
    SetSettlement,
    Withdraw,
    encode_tx,
)
from optirollup.dispute.witness import StepInputs, build_step_witness, step_inputs
from optirollup.hashing import keccak
from optirollup.l1.anvil import Anvil, anvil_binary
from optirollup.l1.contracts import load
from optirollup.l1.deploy import ALL_RULES, L1Params, deploy, devnet_params
from optirollup.l1.gasprobe import (
    CHOOSE,
    Move,
    Probe,
    bisect_to_step,
    calldata_cost,
    honest_choice,
    lie_after,
)
from optirollup.state import mpt
from optirollup.state.keys import SYSTEM_KEY, account_key, market_key, withdrawal_key
from optirollup.state.leaves import Account, Market, Position, System
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import MemoryStore
from optirollup.stf.batch import execute
from optirollup.stf.context import BatchContext
from optirollup.stf.receipt import Receipt
from optirollup.testkit import WORST_CASE_BATCH_TIME, Signer, Trader, worst_case_steps

ROOT = Path(__file__).resolve().parents[1]
ORACLE = Trader.of("oracle")
KS = (2, 4, 8, 16)
SIZES = (1, 100, 1000)
GAME_TXS = 1000
CONTRACTS = (
    "Vault", "Rollup", "DisputeGame", "steps/StepRunner", "steps/DepositRule",
    "steps/WithdrawRule", "steps/MarketRule", "steps/FillRule", "steps/CancelRule", "MockToken",
)  # fmt: skip
MARKET, LOT, TICK, PRICE = 1, 100_000, 10_000, 3_000_000_000
MIX_PATTERN = ("FILL",) * 7 + ("CANCEL", "ORACLE_UPDATE", "DEPOSIT")
"""Transaction types of the mixed batches, repeating: 70% FILL, 10% each of the others."""
NOOP = encode_tx(SetSettlement(1, 2, 3))
"""A no-op transaction (SET_SETTLEMENT is reserved in protocol v1: the game decides it)."""
TX_CAP = 2**24
"""EIP-7825 (Osaka) per-transaction gas cap; anvil leaves it off unless asked."""
GENESIS_TIME = 1_767_225_600
"""anvil's genesis timestamp (2026-01-01 00:00 UTC)."""
BLOCK_TIME = 12
"""Seconds between consecutive blocks (one transaction a block while automining)."""
TX_SIZE_LIMIT = 128 * 1024
"""geth's transaction-pool size limit (bytes of a transaction)."""


def say(msg: str) -> None:
    """Print a progress line."""
    print(msg, flush=True)


def l2_address(label: str | int) -> bytes:
    """Return a deterministic 20-byte L2 account (no key: deposits need none)."""
    return bytes(keccak(f"gas-bench:{label}".encode()))[:20]


# --------------------------------------------------------------------------- the chain


@dataclass
class Env:
    """The anvil node, a web3 client and the dev accounts' roles."""

    node: Anvil
    w3: Web3
    deployer: str = ""
    proposer: str = ""
    alice: str = ""
    bob: str = ""
    carol: str = ""
    user: str = ""
    keeper: str = ""

    def __post_init__(self) -> None:
        a = self.w3.eth.accounts
        self.deployer, self.proposer, self.alice, self.bob = a[0], a[1], a[2], a[3]
        self.carol, self.user, self.keeper = a[4], a[5], a[6]

    def stack(self, *, k: int = 2, genesis: bytes | None = None) -> Probe:
        """Deploy MockToken, Vault, Rollup, DisputeGame(k), every rule and the runner; stake."""
        if genesis is None:
            params = devnet_params(ORACLE.address, proposer=self.proposer, k=k, verifiers=ALL_RULES)
        else:
            params = L1Params(
                genesis_root=genesis, proposer=self.proposer, k=k, verifiers=ALL_RULES
            )
        probe = Probe(self.w3, self.node, deploy(self.w3, self.deployer, params))
        probe.send(probe.rollup.functions.stake(), self.proposer, value=params.proposer_bond)
        return probe


def separator(probe: Probe) -> bytes:
    """Return the EIP-712 domain separator of a deployment (chain id, Vault)."""
    return domain(probe).separator


def domain(probe: Probe) -> eip712.Domain:
    """Return the EIP-712 domain of a deployment."""
    return eip712.Domain(probe.dep.chain_id, bytes.fromhex(probe.dep.vault[2:]))


def propose(
    probe: Probe, env: Env, prev: bytes, new: bytes, txs: Sequence[bytes], batch_time: int
) -> tuple[int, Any]:
    """Propose a batch; return its index and the receipt."""
    fn = probe.rollup.functions.propose(prev, new, batch_time, encode_tx_list(list(txs)))
    receipt = probe.send(fn, env.proposer)
    (event,) = probe.events(probe.rollup, "BatchProposed", receipt)
    return int(event["args"]["index"]), receipt


@dataclass
class Model:
    """The reference STF over an in-memory trie: what an honest node computes."""

    store: MemoryStore
    root: bytes

    def run(
        self, txs: Sequence[bytes], ctx: BatchContext, *, pre: bytes | None = None
    ) -> tuple[list[bytes], list[Receipt]]:
        """Apply ``txs`` from ``pre`` (default: the current root) with a root after each one.

        Return the trace ``[R_0 .. R_n]`` and the receipts; keep every node; the new root
        becomes current.
        """
        start = self.root if pre is None else pre
        overlay = StateOverlay(self.store, start)
        result = execute(overlay, list(txs), ctx, roots_after=range(len(txs)))
        overlay.commit(self.store.update)
        self.root = result.post_root
        return [start] + [result.roots[i] for i in range(len(txs))], list(result.receipts)


# --------------------------------------------------------------------------- 1. propose


@dataclass
class ProposeRow:
    """One proposed batch and what it cost."""

    kind: str
    n: int
    applied: int
    data: int
    gas: int
    calldata: int
    floor: int
    execution: int

    @property
    def floor_binds(self) -> bool:
        """Tell whether the transaction paid the EIP-7623 floor."""
        return self.floor > 21_000 + self.calldata + self.execution


@dataclass
class Section1:
    """Propose figures and the stack they were measured on (reused by section 2)."""

    rows: list[ProposeRow]
    probe: Probe
    snapshot: str
    model: Model
    base_root: bytes
    deposits: list[bytes]
    hashes: list[bytes]
    deposit_gas: list[int]
    warmup_txs: int


def build_mix(
    n: int, signer: Signer, traders: Sequence[Trader], deposits: Sequence[bytes], t: int
) -> list[bytes]:
    """Return ``n`` transactions in the pattern of :data:`MIX_PATTERN` (real, signed)."""
    rng = random.Random(7)
    out: list[bytes] = []
    dep = iter(deposits)
    oracle_time = t - 500
    nonces = [0] * len(traders)
    for i in range(n):
        kind = MIX_PATTERN[i % len(MIX_PATTERN)]
        if kind == "FILL":
            a, b = rng.sample(range(len(traders)), 2)
            size = LOT * rng.randint(1, 50)
            price = PRICE + TICK * rng.randint(-2000, 2000)
            side = rng.randint(0, 1)
            taker_price = price + TICK * rng.randint(0, 20) * (1 if side == 1 else -1)
            nonces[a] += 1
            nonces[b] += 1
            mo = Order(traders[a].address, MARKET, side, price, size + LOT * rng.randint(0, 20),
                       1_000, nonces[a], t + 86_400, 0)  # fmt: skip
            to = Order(traders[b].address, MARKET, 1 - side, taker_price, size, 1_000, nonces[b],
                       t + 86_400, int(OrderFlags.IOC))  # fmt: skip
            maker = signer.order(mo, traders[a].key)
            taker = signer.order(to, traders[b].key)
            out.append(signer.fill(maker, taker, size))
        elif kind == "CANCEL":
            a = rng.randrange(len(traders))
            nonces[a] += 1
            resting = Order(traders[a].address, MARKET, rng.randint(0, 1), PRICE, LOT * 10,
                            1_000, nonces[a], t + 86_400, 0)  # fmt: skip
            msg = Cancel(traders[a].address, resting.hash(signer.separator))
            out.append(encode_tx(signer.sign(msg, traders[a].key)))
        elif kind == "ORACLE_UPDATE":
            oracle_time += 1
            msg_o = OracleUpdate(MARKET, PRICE + TICK * rng.randint(-2000, 2000), 0, oracle_time)
            out.append(encode_tx(signer.sign(msg_o, ORACLE.key)))
        else:
            out.append(next(dep))
    return out


def section1(env: Env) -> Section1:
    """Measure ``propose`` for all-DEPOSIT and mixed batches of :data:`SIZES` transactions."""
    say("1. propose: deploying, queueing deposits, warm-up batch")
    p = env.stack()
    store = MemoryStore()
    model = Model(store, genesis_root(store, ORACLE.address))
    signer = Signer(domain(p))
    traders = [Trader.of(f"gas-trader-{i}") for i in range(64)]
    n_deposit = max(SIZES)
    entries = [(t.address, 10**12) for t in traders]
    entries += [(l2_address(i), 1_000_000 * (1 + i % 5000)) for i in range(n_deposit)]
    deposits, deposit_gas = p.queue_deposits(entries, env.user)
    hashes = [bytes(keccak(d)) for d in deposits]
    # Warm-up batch 0: the market, a price and the traders' deposits, so batch 1 is a
    # steady-state proposal (no first-batch storage writes) and its FILLs apply.
    t0 = p.now()
    warmup = [
        encode_tx(signer.sign(ListMarket(MARKET, 0, b"ETH-PERP".ljust(16, b"\0"), 0, 0, LOT,
                                         TICK, 100_000, 50_000, 200, 500, 10_000), ORACLE.key)),
        encode_tx(signer.sign(OracleUpdate(MARKET, PRICE, 0, t0 - 1000), ORACLE.key)),
        *deposits[: len(traders)],
    ]  # fmt: skip
    ctx = BatchContext(t0, signer.separator, hashes, signer_cache={})
    trace0, receipts0 = model.run(warmup, ctx)
    if not all(r.ok for r in receipts0):
        raise AssertionError(f"warm-up batch: {[r.describe() for r in receipts0 if not r.ok]}")
    genesis = p.dep.params.genesis_root
    propose(p, env, genesis, trace0[-1], warmup, t0)
    base = trace0[-1]
    snap = p.snapshot()
    t = p.now()
    later = deposits[len(traders) :]
    mix = build_mix(n_deposit, signer, traders, later, t)
    ctx = BatchContext(t, signer.separator, hashes, signer_cache={})
    rows: list[ProposeRow] = []
    for kind, pool in (("DEPOSIT", later), ("mix", mix)):
        for n in SIZES:
            p.revert(snap)
            snap = p.snapshot()
            txs = pool[:n]
            trace, receipts = model.run(txs, ctx, pre=base)
            _, receipt = propose(p, env, base, trace[-1], txs, t)
            cost = calldata_cost(p.tx_data(receipt))
            row = ProposeRow(kind, n, sum(r.ok for r in receipts), cost.size,
                             int(receipt["gasUsed"]), cost.standard, cost.floor,
                             p.execution_gas(receipt))  # fmt: skip
            rows.append(row)
            say(f"   propose {n:>5} {kind:<7}: {row.gas:>11,} gas ({row.gas // n:,}/tx), "
                f"{row.data:,} bytes, floor {row.floor:,}, "
                f"execution {row.execution:,}, {row.applied}/{n} applied")  # fmt: skip
    p.revert(snap)
    snap = p.snapshot()
    return Section1(rows, p, snap, model, base, later, hashes, deposit_gas, len(traders))


# --------------------------------------------------------------------------- 2. moves


@dataclass
class Section2:
    """Gas of single calls, by name."""

    gas: dict[str, int] = field(default_factory=dict)
    chooses: list[Move] = field(default_factory=list)


def target_choice(target: int) -> Any:
    """Return a chooser that steers the game to transaction ``target``."""

    def choose(points: Sequence[int], _asserted: Sequence[bytes]) -> int:
        for j in range(len(points) - 1):
            if points[j] <= target < points[j + 1]:
                return j
        raise AssertionError(f"target {target} outside {points}")

    return choose


def section2(env: Env, s1: Section1) -> Section2:
    """Play four games on two 16-transaction batches (k = 2) and measure every kind of move.

    Batch 1 is honest, batch 2 (on top of it) lies from R_6 on; both hold no-ops at 3, 5, 9
    and 14 and DEPOSITs elsewhere. Game A: an honest challenger against batch 2 wins with the
    no-op step of transaction 5 (deleting batch 2, slashing the stake). Game B against batch 1
    steers to no-op 9 and loses its step. Game C on batch 2 is void once A won; game D on batch
    1 times out, both ways (from one snapshot).
    """
    say("2. moves: two 16-transaction batches, four games (k = 2)")
    p, model = s1.probe, s1.model
    out = Section2()
    out.gas["Vault.deposit (first of the deployment)"] = s1.deposit_gas[0]
    out.gas["Vault.deposit (later, median)"] = int(statistics.median(s1.deposit_gas[1:]))
    noops = (3, 5, 9, 14)
    it = iter(s1.deposits)
    good_txs = [NOOP if i in noops else next(it) for i in range(16)]
    bad_txs = [NOOP if i in noops else next(it) for i in range(16)]
    t = p.now()
    ctx = BatchContext(t, separator(p), s1.hashes)
    good, _ = model.run(good_txs, ctx, pre=s1.base_root)
    bad, _ = model.run(bad_txs, ctx, pre=good[-1])
    lie = lie_after(bad, 5)
    i_good, _ = propose(p, env, s1.base_root, good[-1], good_txs, t)
    i_bad, _ = propose(p, env, good[-1], lie[-1], bad_txs, t)
    game_a, _ = p.open_game(i_bad, env.alice)
    game_b, r = p.open_game(i_good, env.bob)
    out.gas["open (first game on a batch)"] = int(r["gasUsed"])
    game_c, r = p.open_game(i_bad, env.carol)
    out.gas["open (another game on the same batch)"] = int(r["gasUsed"])
    game_d, _ = p.open_game(i_good, env.carol)
    snap = p.snapshot()

    moves = bisect_to_step(p, game_a, lie, lambda pts, a: honest_choice(pts, a, bad))
    out.chooses += [m for m in moves if m.name == "choose"]
    g = p.game_state(game_a)
    assert g["lo"] == 5, g
    post, r = p.step(game_a, NOOP, _proof(bad_txs, 5), b"", env.alice)
    assert post == bad[5] and p.winner(r) == env.alice
    out.gas["step, no-op, challenger wins (deletes the batch, slashes)"] = int(r["gasUsed"])
    r = p.send(p.game.functions.close_void(game_c), env.keeper)
    out.gas["close_void"] = int(r["gasUsed"])
    r = p.send(p.game.functions.claim(), env.alice)
    out.gas["claim"] = int(r["gasUsed"])

    moves = bisect_to_step(p, game_b, good, target_choice(9))
    out.chooses += [m for m in moves if m.name == "choose"]
    post, r = p.step(game_b, NOOP, _proof(good_txs, 9), b"", env.proposer)
    assert post == good[10] and p.winner(r) == env.proposer
    out.gas["step, no-op, asserter wins"] = int(r["gasUsed"])

    # Game D, challenger's clock runs out (the asserter bisected, nobody chose).
    g = p.game_state(game_d)
    points = [g["lo"], (g["lo"] + g["hi"]) // 2, g["hi"]]
    p.send(p.game.functions.bisect(game_d, [good[points[1]]]), env.proposer)
    g = p.game_state(game_d)
    assert g["phase"] == CHOOSE
    p.mine_at(g["last_move_at"] + g["clock_challenger"] + 1)
    r = p.send(p.game.functions.timeout(game_d), env.keeper)
    assert p.winner(r) == env.proposer
    out.gas["timeout, challenger's clock ran out (asserter wins)"] = int(r["gasUsed"])

    # Game D again from the snapshot: the asserter's clock runs out before it bisects.
    p.revert(snap)
    g = p.game_state(game_d)
    p.mine_at(g["last_move_at"] + g["clock_asserter"] + 1)
    r = p.send(p.game.functions.timeout(game_d), env.keeper)
    assert p.winner(r) == env.carol
    out.gas["timeout, asserter's clock ran out (challenger wins: deletes, slashes)"] = int(
        r["gasUsed"]
    )
    for name, gas in out.gas.items():
        say(f"   {name:<70} {gas:>10,}")
    return out


def _proof(txs: Sequence[bytes], index: int) -> list[bytes]:
    return tx_proof(list(txs), index)


# --------------------------------------------------------------------------- 3. 100k accounts


@dataclass
class StepRow:
    """One DEPOSIT step at the large state."""

    what: str
    witness: int
    proofs: int
    nodes: int
    direct: int
    direct_calldata: int
    direct_execution: int
    game: int


@dataclass
class Section3:
    """The DEPOSIT step, finalize and withdraw at the large state."""

    accounts: int
    build_seconds: float
    steps: list[StepRow]
    gas: dict[str, int]
    withdraw_proof_nodes: int
    withdraw: tuple[int, int, int]
    """Gas used, calldata charge, execution."""


def big_state(n: int) -> tuple[MemoryStore, bytes, list[bytes]]:
    """Return a store holding ``n`` accounts (half with a position), one market and the system
    leaf, its root and the account addresses."""
    rng = random.Random(n)
    addresses = [rng.randbytes(20) for _ in range(n)]
    leaves: dict[bytes, bytes] = {}
    for i, a in enumerate(addresses):
        positions: tuple[Position, ...] = ()
        if i % 2:
            positions = (Position(MARKET, LOT * rng.randint(-500, 500) or LOT, 0),)
        acc = Account(a, rng.randrange(10**8, 10**11), rng.randrange(20), 0, positions)
        leaves[account_key(a)] = acc.encode()
    market = Market(0, b"ETH-PERP".ljust(16, b"\0"), 0, 0, LOT, TICK, 100_000, 50_000, 200, 500,
                    10_000, oracle_price=PRICE, oracle_time=1)  # fmt: skip
    leaves[market_key(MARKET)] = market.encode()
    leaves[SYSTEM_KEY] = System(ORACLE.address).encode()
    store = MemoryStore()
    return store, mpt.bulk_update(store, mpt.EMPTY_ROOT, leaves), addresses


def section3(env: Env, n_accounts: int) -> Section3:
    """DEPOSIT steps, finalize and withdraw in a state of ``n_accounts`` accounts."""
    say(f"3. DEPOSIT step at {n_accounts:,} accounts: building the state")
    t_build = time.perf_counter()
    store, root, addresses = big_state(n_accounts)
    build_seconds = time.perf_counter() - t_build
    say(f"   state built in {build_seconds:.1f} s, root 0x{root.hex()[:16]}…")
    p = env.stack(genesis=root)
    model = Model(store, root)
    withdrawer = Trader.of("gas-withdrawer")
    recipient = l2_address("recipient")
    entries = [(withdrawer.address, 10**9), (addresses[0], 10**6), (addresses[1], 10**6)]
    deposits, _ = p.queue_deposits(entries, env.user)
    hashes = [bytes(keccak(d)) for d in deposits]
    signer = Signer(domain(p))
    amount = 4 * 10**8
    withdraw = encode_tx(signer.sign(Withdraw(withdrawer.address, recipient, amount, 0),
                                     withdrawer.key))  # fmt: skip
    t = p.now()
    ctx = BatchContext(t, signer.separator, hashes)
    txs0 = [deposits[0], deposits[1], withdraw]
    trace0, receipts = model.run(txs0, ctx)
    assert all(r.ok for r in receipts), [r.describe() for r in receipts]
    trace1, receipts = model.run([deposits[2]], ctx)
    assert all(r.ok for r in receipts)
    i0, _ = propose(p, env, root, trace0[-1], txs0, t)
    i1, _ = propose(p, env, trace0[-1], trace1[-1], [deposits[2]], t)

    verifier = load("steps/StepRunner")
    vcontract = env.w3.eth.contract(address=to_checksum_address(p.dep.verifiers[1]),
                                    abi=verifier.abi)  # fmt: skip
    rows: list[StepRow] = []
    for index, what in ((0, "new account"), (1, "existing account")):
        pre = trace0[index]
        built = build_step_witness(store, pre, txs0[index], ctx)
        assert built.post_root == trace0[index + 1]
        witness = built.encode()
        data = bytes.fromhex(
            vcontract.encode_abi("step", [pre, txs0[index], t, len(hashes), witness])[2:]
        )
        r = p.send_data(p.dep.verifiers[1], data, env.keeper)
        cost = calldata_cost(data)
        # Through the game: the challenger steers to transaction `index` (k = 2).
        game_id, _ = p.open_game(i0, env.alice if index == 0 else env.bob)
        bisect_to_step(p, game_id, trace0, target_choice(index))
        inputs = step_inputs(store, pre, txs0, index, ctx)
        post, rg = p.step(game_id, inputs.tx, inputs.tx_proof, inputs.witness, env.keeper)
        assert post == trace0[index + 1] and p.winner(rg) == env.proposer
        rows.append(StepRow(what, len(witness), len(built.proofs),
                            sum(len(x) for x in built.proofs), int(r["gasUsed"]), cost.standard,
                            p.execution_gas(r), int(rg["gasUsed"])))  # fmt: skip
        say(f"   DEPOSIT step, {what}: witness {len(witness):,} bytes; verifier directly "
            f"{int(r['gasUsed']):,} gas; DisputeGame.step {int(rg['gasUsed']):,} gas")  # fmt: skip

    gas: dict[str, int] = {}
    b1 = p.rollup.functions.batch(i1).call()
    p.mine_at(int(b1[5]) + p.dep.params.challenge_window)
    r = p.send(p.rollup.functions.finalize(i0), env.keeper)
    gas["Rollup.finalize (first batch of the deployment)"] = int(r["gasUsed"])
    r = p.send(p.rollup.functions.finalize(i1), env.keeper)
    gas["Rollup.finalize (later batch)"] = int(r["gasUsed"])
    proof = mpt.get_proof(store, trace1[-1], withdrawal_key(0))
    fn = p.vault.functions.withdraw(i1, 0, to_checksum_address(withdrawer.address),
                                    to_checksum_address(recipient), amount, proof)  # fmt: skip
    r = p.send(fn, env.keeper)
    withdraw_gas = (int(r["gasUsed"]), calldata_cost(p.tx_data(r)).standard, p.execution_gas(r))
    gas[f"Vault.withdraw ({n_accounts:,}-account state, {len(proof)}-node proof)"] = int(
        r["gasUsed"]
    )
    assert p.token.functions.balanceOf(to_checksum_address(recipient)).call() == amount
    r = p.send(p.game.functions.claim(), env.proposer)
    gas["claim (the asserter's two bonds)"] = int(r["gasUsed"])
    for name, g in gas.items():
        say(f"   {name:<70} {g:>10,}")
    return Section3(n_accounts, build_seconds, rows, gas, len(proof), withdraw_gas)


# --------------------------------------------------------------------------- 5. worst cases


@dataclass
class WorstRow:
    """The costliest step of one transaction type."""

    what: str
    reason: str
    reads: int
    writes: int
    witness: int
    direct: int
    game: int


@dataclass
class Section5:
    """Worst-case steps of every type at the large state."""

    accounts: int
    build_seconds: float
    rows: list[WorstRow]


def section5(env: Env, n_accounts: int) -> Section5:
    """The costliest step of every type (testkit.worst_case_steps) among ``n_accounts``."""
    say(f"5. worst-case steps at {n_accounts:,} accounts: building the state")
    t_build = time.perf_counter()
    leaves = worst_case_steps(n_accounts).leaves
    store = MemoryStore()
    root = mpt.bulk_update(store, mpt.EMPTY_ROOT, leaves)
    build_seconds = time.perf_counter() - t_build
    p = env.stack(genesis=root)
    case = worst_case_steps(n_accounts, Signer(domain(p)))  # signed for this deployment
    assert case.leaves == leaves
    deposits, _ = p.queue_deposits([case.deposit], env.user)
    assert deposits[0] == case.steps[0][1]
    ctx = BatchContext(WORST_CASE_BATCH_TIME, separator(p), [bytes(keccak(deposits[0]))])
    runner = env.w3.eth.contract(address=to_checksum_address(p.dep.verifiers[1]),
                                 abi=load("steps/StepRunner").abi)  # fmt: skip
    model = Model(store, root)
    rows: list[WorstRow] = []
    for what, tx in case.steps:
        pre = model.root
        built = build_step_witness(store, pre, tx, ctx)
        trace, _ = model.run([tx], ctx)
        assert trace[-1] == built.post_root
        witness = built.encode()
        data = bytes.fromhex(runner.encode_abi("step", [pre, tx, ctx.batch_time, 1, witness])[2:])
        direct = p.send_data(runner.address, data, env.keeper)
        index, _ = propose(p, env, pre, built.post_root, [tx], ctx.batch_time)
        game_id, _ = p.open_game(index, env.alice)
        bisect_to_step(p, game_id, trace, target_choice(0))
        inputs = step_inputs(store, pre, [tx], 0, ctx)
        post, rg = p.step(game_id, inputs.tx, inputs.tx_proof, inputs.witness, env.keeper)
        assert post == built.post_root and p.winner(rg) == env.proposer
        rows.append(WorstRow(what, built.receipt.reason.name, len(built.reads),
                             len(built.writes), len(witness), int(direct["gasUsed"]),
                             int(rg["gasUsed"])))  # fmt: skip
        say(f"   {what}: witness {len(witness):,} bytes; runner directly "
            f"{int(direct['gasUsed']):,} gas; DisputeGame.step {int(rg['gasUsed']):,} gas")  # fmt: skip
    return Section5(n_accounts, build_seconds, rows)


# --------------------------------------------------------------------------- 4. full games


@dataclass
class GameRow:
    """One whole game."""

    k: int
    lie_at: int
    moves: list[Move]
    propose: int

    @property
    def rounds(self) -> int:
        """Return the number of BISECT/CHOOSE rounds."""
        return sum(1 for m in self.moves if m.name == "bisect")

    def side(self, side: str) -> int:
        """Return the gas one side paid."""
        return sum(m.gas for m in self.moves if m.side == side)

    @property
    def total(self) -> int:
        """Return the gas of every move of the game."""
        return sum(m.gas for m in self.moves)

    def of(self, name: str) -> int:
        """Return the gas of the single move ``name``."""
        (gas,) = [m.gas for m in self.moves if m.name == name]
        return gas


def section4(env: Env) -> list[GameRow]:
    """Play a whole game on a 1,000-DEPOSIT batch per k and lie position."""
    say(f"4. full games: {GAME_TXS:,} DEPOSITs, k = {', '.join(map(str, KS))}")
    entries = [(l2_address(f"game-{i}"), 1_000_000 * (1 + i)) for i in range(GAME_TXS)]
    store = MemoryStore()
    model = Model(store, genesis_root(store, ORACLE.address))
    honest: list[bytes] = []
    txs: list[bytes] = []
    inputs: dict[int, StepInputs] = {}
    lies = (GAME_TXS - 1, GAME_TXS // 2)
    rows: list[GameRow] = []
    for k in KS:
        p = env.stack(k=k)
        txs_k, _ = p.queue_deposits(entries, env.user)
        ctx = BatchContext(p.now(), separator(p), [bytes(keccak(d)) for d in txs_k])
        if not honest:  # the deposit hashes do not depend on the Vault: one trace for every k
            txs = txs_k
            honest, receipts = model.run(txs, ctx)
            assert all(r.ok for r in receipts)
            inputs = {d: step_inputs(store, honest[d], txs, d, ctx) for d in lies}
        assert txs_k == txs
        snap = p.snapshot()
        for d in lies:
            p.revert(snap)
            snap = p.snapshot()
            asserted = lie_after(honest, d)
            index, rp = propose(p, env, honest[0], asserted[-1], txs, p.now())
            game_id, r = p.open_game(index, env.alice)
            moves = [Move("open", "challenger", int(r["gasUsed"]))]
            moves += bisect_to_step(p, game_id, asserted, partial(honest_choice, honest=honest))
            assert p.game_state(game_id)["lo"] == d
            step = inputs[d]
            post, r = p.step(game_id, step.tx, step.tx_proof, step.witness, env.alice)
            assert post == honest[d + 1] and p.winner(r) == env.alice
            moves.append(Move("step", "challenger", int(r["gasUsed"])))
            r = p.send(p.game.functions.claim(), env.alice)
            moves.append(Move("claim", "challenger", int(r["gasUsed"])))
            row = GameRow(k, d, moves, int(rp["gasUsed"]))
            rows.append(row)
            say(f"   k={k:>2} lie at tx {d:>4}: {row.rounds} rounds, {len(moves)} L1 txs, "
                f"asserter {row.side('asserter'):,}, challenger {row.side('challenger'):,}, "
                f"total {row.total:,} gas")  # fmt: skip
    return rows


# --------------------------------------------------------------------------- the document


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: str = "") -> list[str]:
    """Return a markdown table; ``right`` holds 'r' for right-aligned columns by position."""
    align = ["---:" if i < len(right) and right[i] == "r" else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def n(x: int) -> str:
    """Format an integer with thousands separators."""
    return f"{x:,}"


def pct(a: float, b: float) -> str:
    """Format ``a / b`` as a percentage."""
    return f"{100 * a / b:.0f}%"


def span(values: Sequence[int]) -> str:
    """Format the range of ``values``."""
    lo, hi = min(values), max(values)
    return n(lo) if lo == hi else f"{n(lo)}–{n(hi)}"


def render(
    meta: dict[str, str],
    s1: Section1,
    s2: Section2,
    s3: Section3,
    games: list[GameRow],
    s5: Section5,
    seconds: float,
) -> str:
    """Return docs/gas.md."""
    p = s1.probe.dep.params
    out = [
        "# L1 gas",
        "",
        "<!-- Generated by bench/gas.py; do not edit by hand: rerun `make gas-doc`. -->",
        "",
        f"Generated by `{meta['command']}` (`make gas-doc`) on {meta['date']} in "
        f"{seconds:.0f} s. Every figure is the `gasUsed` of a transaction receipt on a fresh "
        f"anvil ({meta['anvil']}, hardfork `{meta['hardfork']}`, block gas limit "
        f"{meta['block_gas_limit']}; no EIP-7825 per-transaction cap; one block every "
        f"{BLOCK_TIME} s from a fixed genesis time, so the figures repeat exactly from run to "
        "run and every game move is charged on its side's clock), contracts compiled with "
        f"{meta['vyper']} (source sha256 {meta['sources']}), deployed with "
        "`optirollup.l1.deploy` through web3.py. Gas used "
        "includes the 21,000 base and the calldata charge, and is the EIP-7623 floor when that "
        "is larger.",
        "",
        "Parameters (devnet defaults, `docs/l1.md`): challenge window "
        f"{p.challenge_window} s, proposer bond {p.proposer_bond / 10**18:g} ETH, challenger "
        f"bond {p.challenger_bond / 10**18:g} ETH, game clock {p.game_clock} s, clock extension "
        f"{p.clock_extension} s, k = 2 unless stated; the step runner "
        "(`contracts/steps/StepRunner.vy`) is registered for every type, over the rule "
        "contracts of `optirollup.l1.deploy.ALL_RULES`. Anvil's dev accounts play the "
        "proposer, challengers, depositor and a keeper (the sender of `finalize`, `timeout`, "
        "`close_void`, `withdraw`).",
        "",
        "## 1. `Rollup.propose`",
        "",
        "Each batch is proposed on top of a warm-up batch (a market listing, a price and "
        f"{s1.warmup_txs} deposits that fund the traders), from the same snapshot, so no "
        "first-batch storage writes are counted. DEPOSIT batches consume real Vault entries. "
        "Mixed batches repeat 7 FILL (263 bytes, two orders signed with testkit's `Signer` "
        "among 64 funded traders), 1 CANCEL (118), 1 ORACLE_UPDATE (94), 1 DEPOSIT (37); a "
        "batch of 1 is a single FILL. New roots are the reference STF's (`applied`: "
        "transactions that changed the state; `propose` itself executes none).",
        "",
        "*calldata* is the EIP-2028 charge of the transaction's data (4 gas a zero byte, 16 a "
        "non-zero one); *floor* is the EIP-7623 floor `21000 + 10·(zero + 4·non-zero bytes)`; "
        "*execution* is the EVM's own work (anvil's trace of the call), which the floor makes "
        "free when it binds. *data share* is what the data alone costs (the floor if it binds, "
        "else 21,000 + calldata) over gas used.",
        "",
    ]
    rows1 = []
    for r in s1.rows:
        data_cost = r.floor if r.floor_binds else 21_000 + r.calldata
        rows1.append([
            r.kind, n(r.n), f"{r.applied}/{r.n}", n(r.data), n(r.gas), n(r.gas // r.n),
            n(r.calldata), n(r.execution), n(r.floor), "yes" if r.floor_binds else "no",
            pct(data_cost, r.gas),
        ])  # fmt: skip
    out += table(
        ["batch", "txs", "applied", "data bytes", "gas used", "gas / tx", "calldata",
         "execution", "EIP-7623 floor", "floor binds", "data share"],
        rows1, "rrrrrrrrrrr",
    )  # fmt: skip
    out += [""]
    for kind in ("DEPOSIT", "mix"):
        by_n = {r.n: r for r in s1.rows if r.kind == kind}
        per_tx = (by_n[1000].data - by_n[100].data) / 900
        overhead = by_n[100].data - 100 * per_tx
        fits = int((TX_SIZE_LIMIT - overhead) // per_tx)
        out.append(
            f"* {kind}: {per_tx:.1f} bytes of calldata a transaction; about {n(fits)} fit in "
            "one L1 transaction under geth's 128 KiB transaction-pool limit."
        )
    for r in s1.rows:
        over = []
        if r.data > TX_SIZE_LIMIT:
            over.append(f"{n(r.data)} bytes of data > 128 KiB (geth's transaction-pool limit)")
        if r.gas > TX_CAP:
            over.append(f"{n(r.gas)} gas > 2^24 (EIP-7825 per-transaction cap)")
        if over:
            out.append(
                f"* The {n(r.n)}-transaction {r.kind} batch is over a mainnet limit: "
                + "; ".join(over)
                + ". anvil accepts it; on mainnet it must be split."
            )
    out += [""]

    out += [
        "## 2. Single calls",
        "",
        "Games of this section run on section 1's deployment (k = 2): two 16-transaction "
        "batches (DEPOSITs and reserved SET_SETTLEMENT no-ops), four games: an honest "
        "challenger wins a no-op step (deleting the batch, slashing the stake), another "
        "challenger loses one, a third game is closed as void, a fourth times out (both ways, "
        "from one snapshot). Bisect figures come from section 4's games, DEPOSIT steps from "
        "sections 3 and 4.",
        "",
    ]
    rows2: list[list[object]] = []

    def add(call: str, case: str, gas: int, who: str) -> None:
        rows2.append([call, case, n(gas), who])

    g2 = s2.gas
    add(
        "`Vault.deposit`",
        "first deposit of the deployment",
        g2["Vault.deposit (first of the deployment)"],
        "depositor",
    )
    add(
        "`Vault.deposit`",
        f"later deposits (median of {len(s1.deposit_gas) - 1:,})",
        g2["Vault.deposit (later, median)"],
        "depositor",
    )
    add(
        "`DisputeGame.open`",
        "first game on a batch",
        g2["open (first game on a batch)"],
        "challenger",
    )
    add(
        "`DisputeGame.open`",
        "another game on the same batch",
        g2["open (another game on the same batch)"],
        "challenger",
    )
    for k in KS:
        bis = [m for gr in games if gr.k == k for m in gr.moves if m.name == "bisect"]
        first = [m.gas for m in bis if m.round == 0]
        later = [m.gas for m in bis if m.round > 0 and m.roots == k - 1]
        add(
            "`DisputeGame.bisect`",
            f"k = {k}, {k - 1} root{'s' if k > 2 else ''}, first round",
            max(first),
            "asserter",
        )
        if later:
            add(
                "`DisputeGame.bisect`",
                f"k = {k}, {k - 1} root{'s' if k > 2 else ''}, later rounds",
                max(later),
                "asserter",
            )
    chooses = s2.chooses + [m for gr in games for m in gr.moves if m.name == "choose"]
    rows2.append(["`DisputeGame.choose`", "any round, any k (all games of sections 2 and 4)",
                  span([m.gas for m in chooses]), "challenger"])  # fmt: skip
    add("`DisputeGame.step`", "no-op, asserter wins", g2["step, no-op, asserter wins"], "anyone")
    add(
        "`DisputeGame.step`",
        "no-op, challenger wins (deletes the batch, slashes the stake)",
        g2["step, no-op, challenger wins (deletes the batch, slashes)"],
        "anyone",
    )
    dep_steps = [gr.of("step") for gr in games]
    rows2.append(
        [
            "`DisputeGame.step`",
            f"DEPOSIT, challenger wins ({GAME_TXS // 2}–{GAME_TXS - 1} accounts, section 4)",
            span(dep_steps),
            "anyone",
        ]
    )
    for s in s3.steps:
        add(
            "`DisputeGame.step`",
            f"DEPOSIT, asserter wins ({s3.accounts:,} accounts, {s.what}, section 3)",
            s.game,
            "anyone",
        )
    add(
        "`DisputeGame.timeout`",
        "challenger's clock ran out (asserter wins)",
        g2["timeout, challenger's clock ran out (asserter wins)"],
        "anyone",
    )
    add(
        "`DisputeGame.timeout`",
        "asserter's clock ran out (challenger wins: deletes, slashes)",
        g2["timeout, asserter's clock ran out (challenger wins: deletes, slashes)"],
        "anyone",
    )
    add("`DisputeGame.close_void`", "batch deleted by another game", g2["close_void"], "anyone")
    add("`DisputeGame.claim`", "challenger: bond + half the slashed stake", g2["claim"], "winner")
    for name, gas in s3.gas.items():
        call, _, case = name.partition(" (")
        if call != "claim":  # the asserter's claim costs what the challenger's does
            add(f"`{call}`", case.removesuffix(")"), gas, "anyone")
    out += table(["call", "case", "gas used", "sender"], rows2, "  r ")
    out += [
        "",
        "A bisect's first round writes k−1 fresh storage slots of the game (`points`); later "
        "rounds overwrite them. `open` of the first game on a batch creates the batch's "
        "open-game counter. The no-op step is a reserved SET_SETTLEMENT, decided by the game "
        "without a verifier.",
        "",
    ]

    out += [
        f"## 3. DEPOSIT step at {s3.accounts:,} accounts",
        "",
        f"A state of {s3.accounts:,} accounts (half of them with a position), one market and "
        "the system leaf, built with `optirollup.state.mpt.bulk_update` in "
        f"{s3.build_seconds:.1f} s and used as the genesis root of a deployment. Batch 0 = "
        "DEPOSIT to a new account, DEPOSIT to an existing account, WITHDRAW; batch 1 = one "
        "DEPOSIT. Witnesses from `optirollup.dispute.witness`. *verifier directly*: "
        "`StepRunner.step` sent as a transaction; *through the game*: `DisputeGame.step` at the "
        "end of an honest batch's game (asserter wins), which adds the transaction's inclusion "
        "proof and the game's bookkeeping.",
        "",
    ]
    rows3 = [
        [s.what, n(s.witness), f"{s.proofs} / {s.nodes}", n(s.direct), n(s.direct_calldata),
         n(s.direct_execution), n(s.game)]
        for s in s3.steps
    ]  # fmt: skip
    out += table(
        ["DEPOSIT to", "witness bytes", "proofs / nodes", "verifier directly", "of it calldata",
         "of it execution", "through DisputeGame.step"],
        rows3, " rrrrrr",
    )  # fmt: skip
    out += [
        "",
        f"On the same state, `Vault.withdraw` (a {s3.withdraw_proof_nodes}-node proof) costs "
        f"{n(s3.withdraw[0])} gas = 21,000 + calldata {n(s3.withdraw[1])} + execution "
        f"{n(s3.withdraw[2])}; it and `Rollup.finalize` are in section 2's table.",
        "",
        f"## 4. A whole game on a {GAME_TXS:,}-DEPOSIT batch",
        "",
        f"One deployment per k; {GAME_TXS:,} real deposits queued through the Vault and "
        "proposed as one batch (proposal not counted below). The proposer asserts the honest "
        "trace up to R_d and wrong roots after it (d = 999: only the last root is wrong; d = "
        "500: wrong from the middle on). The honest challenger opens, picks against the true "
        "trace (`optirollup.stf.batch.trace`), sends the DEPOSIT step of transaction d and "
        "wins (the batch is deleted, the stake slashed), then claims. *moves*: open, the "
        "bisect/choose pairs and the step; *L1 txs* adds the claim. The asserter pays the "
        "bisects; the challenger pays everything else.",
        "",
    ]
    rows4 = []
    for gr in games:
        rows4.append([
            gr.k, f"tx {gr.lie_at}", gr.rounds, 2 * gr.rounds + 2, len(gr.moves),
            n(gr.side("asserter")), n(gr.side("challenger")), n(gr.of("step")), n(gr.total),
        ])  # fmt: skip
    out += table(
        ["k", "lie at", "rounds", "moves", "L1 txs", "asserter gas", "challenger gas",
         "of it the step", "total gas"],
        rows4, "rrrrrrrrr",
    )  # fmt: skip
    proposals = sorted({gr.propose for gr in games})
    out += [
        "",
        f"Proposing the {GAME_TXS:,}-DEPOSIT batch itself (the deployment's first batch): "
        f"{span(proposals)} gas.",
        "",
        f"## 5. The costliest step of every type at {s5.accounts:,} accounts",
        "",
        "The worst cases of `optirollup.testkit.worst_case_steps`: seventeen listed markets; "
        "three accounts at the position limit (8 positions each, every funding snapshot behind "
        "its market's index, every signed field negative: the longest leaves) among "
        f"{s5.accounts:,} further accounts (state built in {s5.build_seconds:.1f} s and used as "
        "the genesis root). Each transaction is proposed as a batch of its own, in the order "
        "below (each on the state the previous one left); a challenger opens a game on it and "
        "plays it to the step, which the (honest) asserter wins. *runner directly*: "
        "`StepRunner.step` sent as a transaction; *through the game*: `DisputeGame.step`.",
        "",
    ]
    rows5 = [
        [r.what, r.reason, f"{r.reads} / {r.writes}", n(r.witness), n(r.direct), n(r.game),
         pct(r.game, 10_000_000)]
        for r in s5.rows
    ]  # fmt: skip
    out += table(
        ["step", "outcome", "reads / writes", "witness bytes", "runner directly",
         "through DisputeGame.step", "of the 10M bound"],
        rows5, "  rrrrr",
    )  # fmt: skip
    worst = max(s5.rows, key=lambda r: r.game)
    out += [
        "",
        f"The costliest step is {worst.what}: {n(worst.game)} gas through the game, "
        f"{n(10_000_000 - worst.game)} under the 10,000,000 bound "
        f"({10_000_000 / worst.game:.1f}x headroom) and under EIP-7825's 16,777,216 cap.",
        "",
    ]
    return "\n".join(out)


def anvil_version() -> str:
    """Return anvil's version line."""
    text = subprocess.run([str(anvil_binary()), "--version"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    first = text.splitlines()[0].strip() if text else "anvil (unknown version)"
    sha = [ln.split(":", 1)[1].strip()[:8] for ln in text.splitlines() if "Commit SHA" in ln]
    return f"{first}" + (f", commit {sha[0]}" if sha else "")


def main(argv: Sequence[str] | None = None) -> int:
    """Run every section against a fresh anvil and write the document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gas.md")
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    for name in CONTRACTS:
        load(name)  # compile now if the cache is stale, outside the timed sections' anvil
    # A fixed genesis time and a fixed block interval make every timestamp, hence every
    # figure, the same from run to run; each transaction is mined in its own block, so every
    # game move is charged BLOCK_TIME seconds on its side's clock.
    with Anvil(timestamp=GENESIS_TIME, extra_args=["--silent"]) as node:
        node.rpc("anvil_setBlockTimestampInterval", BLOCK_TIME)
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 300}))
        info = node.rpc("anvil_nodeInfo")
        env = Env(node, w3)
        say(f"anvil pid {node.pid} on {node.url}, hardfork {info.get('hardFork')}")
        s1 = section1(env)
        s2 = section2(env, s1)
        s3 = section3(env, args.accounts)
        games = section4(env)
        s5 = section5(env, args.accounts)
    seconds = time.perf_counter() - started
    cmd = ".venv/bin/python bench/gas.py" + (
        f" --accounts {args.accounts}" if args.accounts != 100_000 else ""
    )
    meta = {
        "command": cmd,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "anvil": anvil_version(),
        "hardfork": str(info.get("hardFork")),
        "block_gas_limit": n(int(str(info["environment"]["gasLimit"]), 16)),
        "vyper": load("Rollup").compiler,
        "sources": ", ".join(
            f"{c.rsplit('/', 1)[-1]} {load(c).source_hash[:8]}" for c in CONTRACTS
        ),
    }
    doc = render(meta, s1, s2, s3, games, s5, seconds)
    args.out.write_text(doc + "\n")
    print()
    print(doc)
    print(f"\nwrote {args.out} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
