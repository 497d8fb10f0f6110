"""Measure whole disputes on a real anvil, and the challenger's replay rate beside the node's.

Starts its own anvil (:class:`optirollup.l1.anvil.Anvil`: a loopback port chosen at run time,
stopped by its pid; a fixed genesis time, one block per transaction, ``BLOCK_TIME`` seconds
apart, mined at once) and prints a report; ``--write-doc`` also writes ``docs/dispute.md``.

Workload: :func:`optirollup.testkit.perp_workload`, signed for the deployment's EIP-712 domain:
a setup batch (LIST_MARKET, ORACLE_UPDATE and the DEPOSITs of eight traders, queued through the
Vault) then a disputed batch of ``n`` signed FILLs on top of it. Every deployment is made from
one EVM snapshot taken before the first, so the Vault (the EIP-712 verifying contract) has the
same address for every k and one signed workload and one honest trace serve every game.

1. **Replay rate.** The node: :class:`optirollup.executor.sequencer.Sequencer` on LevelDB,
   ``submit`` of one transaction at a time (one synced journal write each, its acknowledgement),
   and in groups (:meth:`~optirollup.executor.sequencer.Sequencer.group`: one synced write for
   the FILLs of one 500-order burst, as ``NodeCore.place_orders`` acknowledges a burst), then
   ``seal`` (default policy: sealed when 500 transactions or 120,000 bytes would be exceeded).
   The challenger: the same sealed batches through the challenger's own functions on a fresh
   :class:`~optirollup.state.leveldb.LevelDB` (:class:`challenger.store.TraceStore`), under
   their content addresses (:func:`challenger.core.trace_key`) and with one signature memo, as
   ``challenger.agent`` calls them: :func:`challenger.replay.check_batch` on every batch in
   order (the post-root only, each batch in one synced write), then
   :func:`challenger.replay.trace_batch` on every batch, as if each were disputed (a root after
   every transaction from the pre-state the check kept; the trace and every node in one synced
   write). All in the same process and run, beside the machine's limits as
   ``bench/node_throughput.py`` prints them.
2. **Whole games.** One deployment per k (``DisputeGame``'s arity, 2..16: ``docs/l1.md``). The
   proposer posts the disputed batch with a trace right up to ``R_d`` and wrong after it
   (:func:`optirollup.l1.gasprobe.lie_after`); the challenger opens a game (an
   :class:`~optirollup.dispute.Open` committed to the batch's hash) and both sides are
   played by the shared dispute library only: :func:`optirollup.dispute.solve` over each side's
   trace, a :class:`~optirollup.dispute.responder.Responder` per side (anvil's unlocked dev
   accounts), the challenger's trace from :func:`challenger.replay.trace_batch` (cold: no
   signature recovered before) and its steps from :func:`optirollup.dispute.step_inputs` over
   its LevelDB trie store. Each side acts until it has nothing left to do, then the other: the
   honest challenger sends the final FILL step itself, wins (the batch is deleted, the stake
   slashed) and claims. Wall time runs from sending ``open`` to the step's receipt.
   The lie is in the middle (``d = n // 2``) for every k; first and last for k = 2 and the best
   k; and one more batch size: the largest FILL batch whose ``propose`` fits geth's 128 KiB
   transaction-pool limit.
3. **Limits.** The largest FILL batch whose ``propose`` fits each L1 limit, by bisection over
   real proposals (gas) and signed transactions (size).

A 10,000-FILL proposal is about 2.7 MB of calldata and 87M gas (the EIP-7623 floor binds):
over anvil's default 30M block gas limit and its 2 MiB JSON-RPC request limit, so anvil runs
with ``--gas-limit`` :data:`GAS_LIMIT` and ``--no-request-size-limit``.

Usage: .venv/bin/python bench/dispute.py [--quick] [--ks 2,4,8] [--write-doc [PATH]]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import logging
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import node_throughput
from eth_account import Account
from gas import BLOCK_TIME, GENESIS_TIME, TX_CAP, TX_SIZE_LIMIT, anvil_version, say, table
from web3 import Web3

from challenger.core import ChainView, ProposedBatch, trace_key
from challenger.replay import check_batch, trace_batch
from challenger.store import TraceStore
from optirollup import logs
from optirollup.api.models import MAX_ORDER_BATCH
from optirollup.codec import eip712
from optirollup.codec.batch import encode_tx_list, tx_root
from optirollup.dispute import (
    ASSERTER,
    CHALLENGER,
    GameView,
    ListTrace,
    Open,
    Role,
    Status,
    StepInputs,
    solve,
    step_inputs,
)
from optirollup.dispute.game import MAX_K, max_moves
from optirollup.dispute.responder import Responder, StepSource, read_game
from optirollup.executor.sequencer import MAX_BATCH_BYTES, BatchRecord, SealPolicy, Sequencer
from optirollup.l1.anvil import Anvil
from optirollup.l1.contracts import load
from optirollup.l1.deploy import ALL_RULES, L1Params, deploy, devnet_params
from optirollup.l1.gasprobe import Probe, calldata_cost, lie_after
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.stf.batch import execute
from optirollup.stf.context import BatchContext
from optirollup.testkit import Signer, Workload, perp_workload

ROOT = Path(__file__).resolve().parents[1]
SIZES = (10, 1_000, 10_000)
QUICK_SIZES = (10, 1_000)
KS = tuple(range(2, MAX_K + 1))
TRADERS = 8
BATCH_TIME = GENESIS_TIME
"""Time of both batches (the genesis time: every later block is after it, so it is valid)."""
GAS_LIMIT = 200_000_000
"""anvil's block gas limit here: room for a 10,000-FILL proposal (about 87M gas)."""
DEFAULT_BLOCK_GAS = 30_000_000
"""anvil's default block gas limit."""
ANVIL_BODY_LIMIT = 2 * 1024 * 1024
"""anvil's default limit on a JSON-RPC request body (measured: 2,097,152 bytes pass, one more
is refused with -32600 "Invalid request"); ``--no-request-size-limit`` lifts it."""
DEPOSIT = 10**12
REPEATS = 3
"""Runs of each replay-rate measurement (the fastest is reported)."""
GROUP = MAX_ORDER_BATCH // 2
"""FILLs per group commit of the node: the crossing pairs of one ``POST /orders/batch``."""
CONTRACTS = ("Vault", "Rollup", "DisputeGame", "steps/StepRunner", "steps/FillRule")
GAME_CALLS = ("open", "bisect", "choose", "step", "claim")


def fmt(x: float) -> str:
    """Format a number with thousands separators (integers) or one decimal."""
    return f"{x:,}" if isinstance(x, int) else f"{x:,.1f}"


# --------------------------------------------------------------------------- the chain


@dataclass
class Chain:
    """The anvil node, a web3 client, the dev accounts' roles and the pre-deployment snapshot."""

    node: Anvil
    w3: Web3
    base: str
    """Snapshot taken before any deployment: every stack is deployed from it."""
    deployer: str = ""
    proposer: str = ""
    """The proposer: the lying asserter."""
    challenger: str = ""
    """The honest challenger."""
    depositor: str = ""
    """The account that funds the traders' deposits."""

    def __post_init__(self) -> None:
        accounts = [str(a) for a in self.w3.eth.accounts]
        self.deployer, self.proposer, self.challenger = accounts[0], accounts[1], accounts[2]
        self.depositor = accounts[4]

    def revert_to(self, snapshot: str) -> str:
        """Revert to ``snapshot`` and take it again; return the new id."""
        if not self.node.rpc("evm_revert", snapshot):
            raise RuntimeError(f"evm_revert {snapshot} failed")
        return str(self.node.rpc("evm_snapshot"))


@dataclass
class Stack:
    """One deployment with the setup batch proposed, and a snapshot right after it."""

    k: int
    probe: Probe
    snapshot: str

    def rewind(self) -> None:
        """Go back to the state right after the setup batch (and keep the snapshot)."""
        node = self.probe.node
        if not node.rpc("evm_revert", self.snapshot):
            raise RuntimeError(f"evm_revert {self.snapshot} failed")
        self.snapshot = str(node.rpc("evm_snapshot"))


@dataclass
class Honest:
    """The signed workload, its context and the challenger's trace of the disputed batch."""

    setup: list[bytes]
    fills: list[bytes]
    ctx: BatchContext
    genesis: bytes
    setup_root: bytes
    trace: list[bytes]
    """``R_0 .. R_N`` of the disputed batch of all N fills (a batch of n is a prefix)."""
    db: LevelDB
    """The challenger's LevelDB: every node of every root of the trace."""
    trace_seconds: float


def deploy_stack(chain: Chain, k: int, oracle: bytes) -> Probe:
    """Deploy every contract with arity ``k`` from the base snapshot and stake the proposer."""
    chain.base = chain.revert_to(chain.base)
    w3 = chain.w3
    params = devnet_params(oracle, proposer=chain.proposer, k=k, verifiers=ALL_RULES)
    probe = Probe(w3, chain.node, deploy(w3, chain.deployer, params))
    probe.send(probe.rollup.functions.stake(), chain.proposer, value=params.proposer_bond)
    return probe


def setup_stack(chain: Chain, k: int, work: Workload, honest: Honest) -> Stack:
    """Deploy with arity ``k``, queue the traders' deposits, propose the setup batch; snapshot."""
    probe = deploy_stack(chain, k, work.oracle.address)
    entries = [(t.address, DEPOSIT) for t in work.traders]
    deposits, _ = probe.queue_deposits(entries, chain.depositor)
    if deposits != honest.setup[2:]:
        raise AssertionError("the Vault's deposits differ from the workload's")
    propose(probe, chain.proposer, honest.genesis, honest.setup_root, honest.setup)
    return Stack(k, probe, str(chain.node.rpc("evm_snapshot")))


def domain(probe: Probe) -> eip712.Domain:
    """Return the EIP-712 domain of a deployment (chain id, Vault)."""
    return eip712.Domain(probe.dep.chain_id, bytes.fromhex(probe.dep.vault[2:]))


def propose_fn(probe: Probe, prev: bytes, new: bytes, txs: Sequence[bytes]) -> Any:
    """Return the bound ``Rollup.propose`` call of a batch at :data:`BATCH_TIME`."""
    return probe.rollup.functions.propose(prev, new, BATCH_TIME, encode_tx_list(list(txs)))


def propose(probe: Probe, proposer: str, prev: bytes, new: bytes, txs: Sequence[bytes]) -> Any:
    """Propose a batch (gas limit: the block's); return the receipt."""
    return probe.send(propose_fn(probe, prev, new, txs), proposer, gas=GAS_LIMIT - 1_000_000)


# --------------------------------------------------------------------------- 1. replay


@dataclass
class Rates:
    """Sequencing and replay of the same workload, in the same run (seconds, fastest run)."""

    txs: int
    batches: int
    machine: str
    sequence: float
    """The node, one synced write a transaction."""
    grouped: float
    """The node, one synced write a group of :data:`GROUP` transactions."""
    check: float
    """The challenger checking every batch (:func:`challenger.replay.check_batch`)."""
    trace: float
    """The challenger tracing every batch after its check (:func:`~challenger.replay.trace_batch`:
    the rate of tracing a disputed batch)."""
    dispute_txs: int = 0
    dispute_trace: float = 0.0


def machine_limits(tmp: Path) -> str:
    """Return the line ``bench/node_throughput.py`` prints about the machine."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        node_throughput.limits(tmp)
    return out.getvalue().strip()


def sequence(
    path: Path, work: Workload, separator: bytes, group: int = 1
) -> tuple[float, list[BatchRecord]]:
    """Submit the workload to a node's sequencer, ``group`` transactions a synced write; seal.

    ``group = 1``: :meth:`Sequencer.submit` of one transaction at a time, each journaled in its
    own synced write (its acknowledgement). More: ``group`` submits inside
    :meth:`Sequencer.group`, one synced write for them all. Return the time and the batches.
    """
    db = LevelDB(path)
    genesis = genesis_root(db.nodes, work.oracle.address)
    seq = Sequencer.open(db, separator, SealPolicy(), genesis_root=genesis)
    seq.learn_deposits(0, list(work.deposit_hashes))
    t0 = time.perf_counter()
    for i in range(0, len(work.txs), group):
        with seq.group() if group > 1 else contextlib.nullcontext():
            for tx in work.txs[i : i + group]:
                (sub,) = seq.submit([tx], batch_time=BATCH_TIME, now=0)
                if not sub.accepted:
                    raise AssertionError(f"the sequencer rejected a tx: {sub.receipt.describe()}")
    seq.seal()
    seconds = time.perf_counter() - t0
    records = [seq.batch(i) for i in range(seq.batch_count)]
    db.close()
    return seconds, records


def content_key(
    index: int, prev_root: bytes, txs: Sequence[bytes], batch_time: int, work: Workload,
    separator: bytes,
) -> bytes:  # fmt: skip
    """Return a batch's content address as the challenger computes it (every deposit visible)."""
    view = ChainView()
    for i, h in enumerate(work.deposit_hashes):
        view.add_deposit(i, h)
    count = len(work.deposit_hashes)
    batch = ProposedBatch(index, 0, prev_root, b"\0" * 32, tx_root(txs), len(txs), batch_time,
                          count, 0, 0, b"")  # fmt: skip
    return trace_key(batch, view.deposit_digest(count), separator)


def replay(
    path: Path, records: Sequence[BatchRecord], work: Workload, separator: bytes
) -> tuple[float, float]:
    """Check, then trace, the sealed batches with the challenger's functions; time both.

    On a fresh LevelDB: :func:`challenger.replay.check_batch` on every batch in order, each from
    the post-root of the one before, checked against the node's; then
    :func:`challenger.replay.trace_batch` on every batch, from the pre-state its check left
    there. One signature memo serves both (``challenger.agent``'s: a batch traced right after
    its check recovers no signature again). Keys (content addresses) are computed first, as the
    agent does before it replays. Return ``(check seconds, trace seconds)``.
    """
    db = LevelDB(path)
    store = TraceStore(db)
    root = genesis_root(db.nodes, work.oracle.address)
    hashes = list(work.deposit_hashes)
    signers: dict[tuple[bytes, bytes], bytes] = {}  # the agent's memo (each order is new)
    keys = [content_key(r.index, r.prev_root, r.txs, r.batch_time, work, separator)
            for r in records]  # fmt: skip

    def ctx(rec: BatchRecord) -> BatchContext:
        return BatchContext(rec.batch_time, separator, hashes, signer_cache=signers)

    t0 = time.perf_counter()
    for rec, key in zip(records, keys, strict=True):
        if rec.prev_root != root:
            raise AssertionError(f"batch {rec.index} does not start at the checked root")
        root = check_batch(store, key, root, rec.txs, ctx(rec))
        if root != rec.post_root:
            raise AssertionError(f"batch {rec.index}: the challenger disagrees with the node")
    check_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    for rec, key in zip(records, keys, strict=True):
        roots = trace_batch(store, key, rec.prev_root, rec.txs, ctx(rec))
        if roots[-1] != rec.post_root or len(roots) != len(rec.txs) + 1:
            raise AssertionError(f"batch {rec.index}: the trace disagrees with the node")
    trace_seconds = time.perf_counter() - t0
    db.close()
    return check_seconds, trace_seconds


def section_rates(tmp: Path, work: Workload, separator: bytes) -> Rates:
    """Measure the node's sequencing rates and the challenger's replay rates (best of a few).

    The runs take turns, :data:`REPEATS` times, so a load from outside slows them alike; each
    figure is the fastest of its runs.
    """
    say("1. replay: machine limits, the node's sequencer, the challenger's replay")
    machine = machine_limits(tmp)
    say(f"   {machine}")
    n = len(work.txs)
    seq_s, group_s, check_s, trace_s = [], [], [], []
    records: list[BatchRecord] = []
    for i in range(REPEATS):
        seconds, records = sequence(tmp / f"node{i}", work, separator)
        seq_s.append(seconds)
        seconds, grouped = sequence(tmp / f"group{i}", work, separator, GROUP)
        group_s.append(seconds)
        if [r.post_root for r in grouped] != [r.post_root for r in records]:
            raise AssertionError("group commit changed a batch")
        check, trace = replay(tmp / f"challenger{i}", records, work, separator)
        check_s.append(check)
        trace_s.append(trace)
        say(f"   run {i + 1}/{REPEATS}: node {n / seq_s[-1]:,.0f} txs/s one tx a write, "
            f"{n / group_s[-1]:,.0f} txs/s {GROUP} a write ({len(records)} batches); "
            f"challenger check_batch {n / check:,.0f} txs/s, trace_batch {n / trace:,.0f} "
            "txs/s")  # fmt: skip
    return Rates(n, len(records), machine, min(seq_s), min(group_s), min(check_s), min(trace_s))


def honest_trace(path: Path, work: Workload, separator: bytes, genesis: bytes) -> Honest:
    """Trace the setup batch and the disputed batch of every fill, as the challenger, on LevelDB."""
    db = LevelDB(path)
    if genesis_root(db.nodes, work.oracle.address) != genesis:
        raise AssertionError("the deployment's genesis root is not the workload oracle's")
    n_setup = 2 + len(work.traders)
    setup, fills = list(work.txs[:n_setup]), list(work.txs[n_setup:])
    ctx = BatchContext(BATCH_TIME, separator, list(work.deposit_hashes))
    result = execute(StateOverlay(db.nodes, genesis), setup, ctx)  # receipts only: no commit
    if not all(r.ok for r in result.receipts):
        raise AssertionError("a setup transaction failed")
    store = TraceStore(db)
    key = content_key(0, genesis, setup, BATCH_TIME, work, separator)
    setup_root = check_batch(store, key, genesis, setup, ctx)
    key = content_key(1, setup_root, fills, BATCH_TIME, work, separator)
    t0 = time.perf_counter()
    trace = trace_batch(store, key, setup_root, fills, ctx)
    seconds = time.perf_counter() - t0
    return Honest(setup, fills, ctx, genesis, setup_root, trace, db, seconds)


# --------------------------------------------------------------------------- 2. games


@dataclass(frozen=True)
class Sent:
    """One L1 transaction of a game."""

    name: str
    side: Role
    gas: int
    bytes: int


@dataclass
class GameRow:
    """One whole game and the proposal it disputed."""

    k: int
    n: int
    lie_at: int
    where: str
    sent: list[Sent]
    seconds: float
    propose_gas: int
    propose_bytes: int
    propose_floor: int
    """The EIP-7623 floor of the proposal's calldata (gas used equals it when it binds)."""

    @property
    def rounds(self) -> int:
        """Return the number of BISECT/CHOOSE rounds."""
        return sum(1 for s in self.sent if s.name == "bisect")

    def txs(self, side: Role | None = None) -> int:
        """Return the number of L1 transactions (of one side)."""
        return sum(1 for s in self.sent if side is None or s.side is side)

    def gas(self, side: Role | None = None, name: str | None = None) -> int:
        """Return the gas of the transactions of one side and/or one call."""
        return sum(
            s.gas
            for s in self.sent
            if (side is None or s.side is side) and (name is None or s.name == name)
        )

    @property
    def bisect_bytes(self) -> int:
        """Return the calldata bytes of the asserter's bisects."""
        return sum(s.bytes for s in self.sent if s.name == "bisect")

    @property
    def max_seconds(self) -> int:
        """Return the longest the game can last on L1: 2·game_clock + moves·extension."""
        p = L1Params(genesis_root=b"\0" * 32)
        return 2 * p.game_clock + max_moves(self.n, self.k) * p.clock_extension


def step_source(store: LevelDB, txs: Sequence[bytes], ctx: BatchContext) -> StepSource:
    """Return the challenger's step source: witnesses from its own LevelDB trie store."""

    def build(game: GameView, tx_index: int) -> StepInputs:
        return step_inputs(store.nodes, game.root_lo, txs, tx_index, ctx)

    return build


def play(stack: Stack, chain: Chain, honest: Honest, n: int, d: int, where: str) -> GameRow:
    """Propose ``n`` fills lying from ``R_{d+1}`` on; play the game with the library; return it."""
    stack.rewind()
    probe = stack.probe
    txs = honest.fills[:n]
    truth = honest.trace[: n + 1]
    asserted = lie_after(truth, d)
    rp = propose(probe, chain.proposer, truth[0], asserted[-1], txs)
    (event,) = probe.events(probe.rollup, "BatchProposed", rp)
    index = int(event["args"]["index"])
    steps = step_source(honest.db, txs, honest.ctx)
    sides = [
        (ASSERTER, ListTrace(asserted), Responder(probe.game, chain.proposer, steps)),
        (CHALLENGER, ListTrace(truth), Responder(probe.game, chain.challenger, steps)),
    ]
    hashes: list[tuple[str, Role, str]] = []
    challenger = sides[1][2]
    bond = probe.dep.params.challenger_bond
    t0 = time.perf_counter()
    opened = challenger.act(Open(index, probe.batch_hash(index), bond))
    r_open = None if opened is None else challenger.receipt(opened)
    if r_open is None or r_open["status"] != 1:
        raise AssertionError(f"k={stack.k} n={n} d={d}: the open {opened} failed")
    (ev,) = probe.events(probe.game, "GameOpened", r_open)
    game_id = int(ev["args"]["game_id"])
    seconds = 0.0
    for _tick in range(4 * max_moves(n, stack.k)):
        moved = False
        for role, trace, responder in sides:
            while True:  # a side acts until it has nothing left to do
                g = responder.read(game_id)
                acted = [
                    (a.name, h)
                    for a in solve(g, role, trace, g.l1_time)
                    if (h := responder.act(a)) is not None
                ]
                if not acted:
                    break
                moved = True
                if any(name == "step" for name, _ in acted):
                    seconds = time.perf_counter() - t0
                hashes += [(name, role, h) for name, h in acted]
        if not moved and not read_game(probe.game, game_id).active:
            break
    else:
        raise AssertionError(f"k={stack.k} n={n} d={d}: the game did not end")
    g = read_game(probe.game, game_id)
    if g.status is not Status.CHALLENGER_WON or g.lo != d:
        raise AssertionError(f"k={stack.k} n={n} d={d}: {g.describe()}")
    if int(probe.rollup.functions.batch_count().call()) != index:
        raise AssertionError("the lying batch was not deleted")
    sent = [Sent("open", CHALLENGER, int(r_open["gasUsed"]), len(probe.tx_data(r_open)))]
    for name, role, h in hashes:
        receipt = probe.w3.eth.get_transaction_receipt(h)  # type: ignore[arg-type]
        if receipt["status"] != 1:
            raise AssertionError(f"{role.value}'s {name} {h} reverted")
        sent.append(Sent(name, role, int(receipt["gasUsed"]), len(probe.tx_data(receipt))))
    data = probe.tx_data(rp)
    row = GameRow(stack.k, n, d, where, sent, seconds, int(rp["gasUsed"]), len(data),
                  calldata_cost(data).floor)  # fmt: skip
    if row.rounds > (max_moves(n, stack.k) - 1) // 2 or {s.name for s in sent} - set(GAME_CALLS):
        raise AssertionError(f"unexpected moves {[s.name for s in sent]}")
    say(f"   k={stack.k:>2} n={n:>6,} lie at {d:>5,} ({where:<6}): {row.rounds:>2} rounds, "
        f"{row.txs(ASSERTER)}+{row.txs(CHALLENGER)} L1 txs, gas asserter "
        f"{row.gas(ASSERTER):,} challenger {row.gas(CHALLENGER):,} total {row.gas():,}, "
        f"{seconds:.2f} s")  # fmt: skip
    return row


def positions(n: int) -> dict[str, int]:
    """Return the lie positions of a batch of ``n``: first, middle, last transaction."""
    return {"first": 0, "middle": n // 2, "last": n - 1}


def relative_cost(rows: Sequence[GameRow], k: int, sizes: Sequence[int]) -> float:
    """Return the mean over ``sizes`` of arity ``k``'s total game gas over k = 2's (middle lie)."""
    by = {(r.k, r.n): r.gas() for r in rows if r.where == "middle"}
    return sum(by[(k, n)] / by[(2, n)] for n in sizes) / len(sizes)


def best_k(rows: Sequence[GameRow], ks: Sequence[int], sizes: Sequence[int]) -> int:
    """Return the arity with the lowest mean relative total gas; fewer rounds break ties."""
    rounds = {(r.k, r.n): r.rounds for r in rows if r.where == "middle"}
    return min(
        ks,
        key=lambda k: (relative_cost(rows, k, sizes), sum(rounds[(k, n)] for n in sizes), k),
    )


# --------------------------------------------------------------------------- 3. limits


@dataclass(frozen=True)
class Limit:
    """The largest FILL batch whose proposal fits one L1 limit."""

    name: str
    short: str
    """A name for running text."""
    public: bool
    """A limit of a public L1 (not one of anvil's defaults, which the bench lifts)."""
    bound: int
    unit: str
    largest: int
    at_largest: int
    """The measured quantity (gas or bytes) at ``largest``."""
    at_n: dict[int, int]
    """The same quantity at each benchmarked size."""


def largest(fits: Callable[[int], bool], hi: int) -> int:
    """Return the largest ``m`` in ``1..hi`` with ``fits(m)`` (monotone; ``fits(1)`` holds)."""
    lo = 1
    if not fits(lo):
        raise AssertionError("not even one transaction fits")
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def section_limits(stack: Stack, chain: Chain, honest: Honest, sizes: Sequence[int]) -> list[Limit]:
    """Find the largest FILL batch whose ``propose`` fits each limit: sizes and gas."""
    say("3. limits: the largest FILL batch whose propose fits each L1 limit")
    probe = stack.probe
    key = Account.from_key(b"\x01" * 32)  # any key: only the signed transaction's size counts

    def raw(m: int) -> bytes:
        fn = propose_fn(probe, honest.trace[0], honest.trace[m], honest.fills[:m])
        tx = {"to": probe.rollup.address, "data": fn._encode_transaction_data(), "value": 0,
              "nonce": 1_000, "gas": GAS_LIMIT, "maxFeePerGas": 10**11,
              "maxPriorityFeePerGas": 10**9, "chainId": probe.dep.chain_id}  # fmt: skip
        return bytes(key.sign_transaction(tx).raw_transaction)

    def request(m: int) -> int:
        body = {"jsonrpc": "2.0", "method": "eth_sendRawTransaction",
                "params": ["0x" + raw(m).hex()], "id": 1}  # fmt: skip
        return len(json.dumps(body))

    gas_cache: dict[int, int] = {}

    def gas_used(m: int) -> int:
        if m not in gas_cache:
            stack.rewind()
            receipt = propose(probe, chain.proposer, honest.trace[0], honest.trace[m],
                              honest.fills[:m])  # fmt: skip
            gas_cache[m] = int(receipt["gasUsed"])
        return gas_cache[m]

    top = len(honest.fills)
    measures: list[tuple[str, str, bool, int, str, Callable[[int], int]]] = [
        ("geth's transaction-pool limit on a signed transaction (128 KiB)",
         "the 128 KiB transaction-pool limit", True, TX_SIZE_LIMIT, "bytes", lambda m: len(raw(m))),
        ("EIP-7825 per-transaction gas cap (2^24)", "EIP-7825's 2^24 gas cap", True, TX_CAP,
         "gas", gas_used),
        ("anvil's default block gas limit", "anvil's default 30M block gas limit", False,
         DEFAULT_BLOCK_GAS, "gas", gas_used),
        ("anvil's default JSON-RPC request body limit (2 MiB; `--no-request-size-limit`)",
         "anvil's default 2 MiB request limit", False, ANVIL_BODY_LIMIT, "bytes", request),
    ]  # fmt: skip
    out = []
    for name, short, public, bound, unit, measure in measures:

        def fits(m: int, f: Callable[[int], int] = measure, b: int = bound) -> bool:
            return f(m) <= b

        m = largest(fits, top)
        at_n = {n: measure(n) for n in sizes}
        out.append(Limit(name, short, public, bound, unit, m, measure(m), at_n))
        say(f"   {name}: {bound:,} {unit} -> at most {m:,} FILLs ({measure(m):,} {unit})")
    return out


# --------------------------------------------------------------------------- the document


def machine_line() -> str:
    """Return the CPU model, core count and Python version."""
    model = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


@dataclass
class Report:
    """Everything measured in one run."""

    meta: dict[str, str]
    sizes: tuple[int, ...]
    ks: tuple[int, ...]
    best: int
    fit: int
    rates: Rates
    rows: list[GameRow]
    limits: list[Limit]
    seconds: float = 0.0

    def row(self, k: int, n: int, where: str = "middle") -> GameRow:
        """Return the game of arity ``k`` on ``n`` transactions with the lie at ``where``."""
        (r,) = [r for r in self.rows if (r.k, r.n, r.where) == (k, n, where)]
        return r


def render(rep: Report) -> str:
    """Return the report (the text of docs/dispute.md)."""
    m, rates, best = rep.meta, rep.rates, rep.best
    p = L1Params(genesis_root=b"\0" * 32)
    out = [
        "# Disputes: whole games and the challenger's replay rate",
        "",
        "<!-- Generated by bench/dispute.py; do not edit by hand: rerun `make bench-dispute`. -->",
        "",
        f"Generated by {m['command']} on {m['date']} in {rep.seconds:.0f} s, on {m['machine']} "
        f"(load average {m['load']} when it started). L1: a fresh anvil ({m['anvil']}, hardfork "
        f"`{m['hardfork']}`, block gas limit raised to {fmt(GAS_LIMIT)} and no request size "
        "limit, so a 10,000-FILL batch can be proposed; one block per transaction, "
        f"{BLOCK_TIME} s apart from a fixed genesis time, mined at once); contracts compiled with "
        f"{m['vyper']} ({m['sources']}), deployed with `optirollup.l1.deploy` through web3.py "
        f"with every rule; devnet parameters (game clock {p.game_clock} s a side, clock "
        f"extension {p.clock_extension} s, proposer bond {p.proposer_bond / 10**18:g} ETH, "
        f"challenger bond {p.challenger_bond / 10**18:g} ETH). Gas figures are `gasUsed` of "
        "receipts and repeat exactly from run to run; times and rates are this machine's.",
        "",
        "Workload (`optirollup.testkit.perp_workload`, signed for the deployment's EIP-712 "
        f"domain): a setup batch (LIST_MARKET, ORACLE_UPDATE, {TRADERS} DEPOSITs queued through "
        "the Vault), then the disputed batch: n signed FILLs (263 bytes each) among the "
        f"{TRADERS} traders, every one of which applies. The proposer asserts the honest trace "
        "up to R_d and wrong roots after it; an honest challenger opens a game and both sides "
        "are played only by the shared dispute library (`optirollup.dispute.solve` over each "
        "side's trace, one `Responder` per side; the challenger's witnesses from "
        "`step_inputs` over its own LevelDB trie store). The challenger wins with the one-step "
        "proof of FILL d (the batch is deleted, the stake slashed) and claims.",
        "",
        "*rounds*: BISECT/CHOOSE rounds. *L1 txs*: the asserter's bisects + the challenger's "
        "open, chooses, step and claim. *wall time*: from sending `open` to the step's "
        "receipt, both sides reading the game, solving and sending through JSON-RPC (anvil "
        "mines each transaction at once, so this is the library's own cost, not L1 latency). "
        "*longest on L1*: the bound `2·game_clock + moves·clock_extension` with "
        "`moves = dispute.game.max_moves(n, k)`: how long a game can hold the batch's "
        "finality when both sides use their whole clocks.",
        "",
        f"## Summary: k = 2 and the best k found (k = {best})",
        "",
    ]
    head = ["n", "k", "rounds", "L1 txs (asserter + challenger)", "asserter gas",
            "challenger gas", "of it the step", "total gas", "wall time", "longest on L1",
            "propose gas"]  # fmt: skip
    rows = []
    for n in rep.sizes:
        for k in dict.fromkeys((2, best)):
            r = rep.row(k, n)
            rows.append(_game_cells(r, with_n=True))
    out += table(head, rows, "rrrrrrrrrrr")
    out += [""]
    out += _best_k_text(rep)
    out += ["", "## Every k, lie in the middle (d = n // 2)", ""]
    for n in rep.sizes:
        out += [f"### n = {n:,}", ""]
        head_k = ["k", "rounds", "L1 txs", "asserter gas", "challenger gas", "of it the step",
                  "total gas", "vs k = 2", "bisect calldata", "wall time", "longest on L1"]  # fmt: skip
        rows_k = []
        for k in rep.ks:
            r = rep.row(k, n)
            rows_k.append([
                k, r.rounds, f"{r.txs(ASSERTER)} + {r.txs(CHALLENGER)}", fmt(r.gas(ASSERTER)),
                fmt(r.gas(CHALLENGER)), fmt(r.gas(name="step")), fmt(r.gas()),
                f"{100 * r.gas() / rep.row(2, n).gas():.0f}%", f"{fmt(r.bisect_bytes)} B",
                f"{r.seconds:.2f} s", _hours(r.max_seconds),
            ])  # fmt: skip
        out += table(head_k, rows_k, "rrrrrrrrrrr")
        out += [""]
    out += [
        "## Where the lie is: first, middle and last transaction",
        "",
        "The same games with the proposer's trace wrong from R_1 (d = 0), from the middle and "
        f"only at R_n (d = n − 1), at k = 2 and k = {best}; plus the largest FILL batch whose "
        f"proposal fits geth's 128 KiB transaction-pool limit ({rep.fit:,} FILLs, see the "
        "limits below), lie in the middle.",
        "",
    ]
    head_p = ["n", "k", "lie at", "rounds", "L1 txs", "asserter gas", "challenger gas",
              "total gas", "wall time"]  # fmt: skip
    rows_p = []
    for n in (*rep.sizes, rep.fit):
        for k in dict.fromkeys((2, best)):
            for where in ("first", "middle", "last"):
                rs = [r for r in rep.rows if (r.k, r.n, r.where) == (k, n, where)]
                for r in rs:
                    rows_p.append([
                        fmt(n), k, f"{where} (tx {r.lie_at:,})", r.rounds,
                        f"{r.txs(ASSERTER)} + {r.txs(CHALLENGER)}", fmt(r.gas(ASSERTER)),
                        fmt(r.gas(CHALLENGER)), fmt(r.gas()), f"{r.seconds:.2f} s",
                    ])  # fmt: skip
    out += table(head_p, rows_p, "rrrrrrrrr")
    out += [""]
    out += _limits_text(rep)
    out += _rates_text(rates)
    return "\n".join(out)


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:.2f} h"


def _game_cells(r: GameRow, *, with_n: bool) -> list[object]:
    cells: list[object] = [fmt(r.n)] if with_n else []
    return cells + [
        r.k, r.rounds, f"{r.txs()} ({r.txs(ASSERTER)} + {r.txs(CHALLENGER)})",
        fmt(r.gas(ASSERTER)), fmt(r.gas(CHALLENGER)), fmt(r.gas(name="step")), fmt(r.gas()),
        f"{r.seconds:.2f} s", _hours(r.max_seconds), fmt(r.propose_gas),
    ]  # fmt: skip


def _best_k_text(rep: Report) -> list[str]:
    best, sizes = rep.best, rep.sizes
    ranking = sorted(rep.ks, key=lambda k: relative_cost(rep.rows, k, sizes))
    big = sizes[-1]
    r2, rb = rep.row(2, big), rep.row(best, big)
    per_n = []

    def cheapest(n: int) -> int:
        return min(rep.ks, key=lambda k: (rep.row(k, n).gas(), k))

    for n in sizes:
        k_n = cheapest(n)
        per_n.append(f"n = {n:,}: k = {k_n} ({fmt(rep.row(k_n, n).gas())} gas)")
    flat = [
        k
        for k in rep.ks
        if relative_cost(rep.rows, k, sizes) <= relative_cost(rep.rows, best, sizes) + 0.03
    ]
    bis = {k: [s.gas for s in rep.row(k, big).sent if s.name == "bisect"] for k in (2, best)}
    cho = {k: [s.gas for s in rep.row(k, big).sent if s.name == "choose"] for k in (2, best)}
    return [
        f"**Best k = {best}**: the lowest total gas of a whole game relative to k = 2, averaged "
        f"over n = {', '.join(f'{n:,}' for n in sizes)} (lie in the middle): "
        f"{100 * relative_cost(rep.rows, best, sizes):.0f}% of k = 2's. Next: "
        + ", ".join(
            f"k = {k} ({100 * relative_cost(rep.rows, k, sizes):.0f}%)" for k in ranking[1:4]
        )
        + f"; the cheapest per size: {'; '.join(per_n)}.",
        "",
        f"The trade-off: a bisect posts k − 1 roots (32 bytes of calldata each, and k − 1 "
        "storage slots of the game, fresh in the first round, overwritten later), so one round "
        f"costs the asserter more as k grows (at n = {big:,}: a k = 2 bisect "
        f"{fmt(min(bis[2]))}–{fmt(max(bis[2]))} gas, a k = {best} bisect "
        f"{fmt(min(bis[best]))}–{fmt(max(bis[best]))}), while a choose costs the challenger "
        f"about the same at any k ({fmt(min(cho[2] + cho[best]))}–"
        f"{fmt(max(cho[2] + cho[best]))}). The number of rounds falls as about log_k n "
        f"(n = {big:,}: {r2.rounds} at k = 2, {rb.rounds} at k = {best}), so the fixed cost of "
        "each round (21,000 a transaction twice, the game's bookkeeping) is paid fewer times. "
        "The open, the step (the FILL's one-step proof, by far the largest single move) and "
        "the claim do not depend on k. Past the best k the extra roots cost more than the "
        "rounds they save"
        + (
            f"; the curve is flat near it: every k in {', '.join(map(str, flat))} is within 3 "
            f"points of k = {best}. "
            if len(flat) > 1
            else ". "
        )
        + "Fewer rounds also shorten the longest a game can hold finality "
        f"(n = {big:,}: {_hours(r2.max_seconds)} at k = 2, {_hours(rb.max_seconds)} at "
        f"k = {best}) and the wall time of a game.",
    ]


def _limits_text(rep: Report) -> list[str]:
    big = max(rep.sizes)
    props = {r.n: r for r in rep.rows if r.k == 2 and r.where == "middle"}
    top = props[big]
    out = [
        "## Batch size and L1 limits",
        "",
        "A FILL frames to 265 bytes of calldata. Past a few dozen FILLs a batch's `propose` "
        "pays the EIP-7623 calldata floor (`21000 + 10·(zero bytes + 4·non-zero bytes)`), "
        f"not its execution: {fmt(top.propose_gas // big)} gas a FILL at n = {big:,}. "
        "Measured proposals of the disputed batch (on top of the setup batch):",
        "",
    ]
    rows = []
    for n in sorted(props):
        r = props[n]
        binds = "yes" if r.propose_gas == r.propose_floor else "no"
        rows.append([fmt(n), fmt(r.propose_bytes), fmt(r.propose_gas), fmt(r.propose_gas // n),
                     fmt(r.propose_floor), binds])  # fmt: skip
    out += table(["FILLs", "calldata bytes", "propose gas", "gas / FILL", "EIP-7623 floor",
                  "floor binds"], rows, "rrrrr")  # fmt: skip
    out += [
        "",
        "The largest FILL batch whose `propose` fits each limit (bisection over real "
        "proposals for gas, over signed type-2 transactions for size):",
        "",
    ]
    rows_l = []
    for lim in rep.limits:
        unit = lim.unit
        over = [f"{n:,}" for n, v in sorted(lim.at_n.items()) if v > lim.bound]
        most = f"≥ {fmt(lim.largest)} (all signed)" if lim.largest == big else fmt(lim.largest)
        rows_l.append([lim.name, f"{fmt(lim.bound)} {unit}", most,
                       f"{fmt(lim.at_largest)} {unit}", ", ".join(over) or "none"])  # fmt: skip
    out += table(["limit", "bound", "largest FILL batch", "its size", "benchmarked n over it"],
                 rows_l, "  rr ")  # fmt: skip
    broken = [lim for lim in rep.limits if lim.at_n[big] > lim.bound]
    public = [lim.short for lim in broken if lim.public]
    local = [lim.short for lim in broken if not lim.public]
    out += [
        "",
        f"The {big:,}-FILL batch is real and valid for the Rollup (`propose` takes up to 2^16 "
        "transactions and `MAX_TXS_BYTES` = 65,536 · 514 bytes of framed list; its "
        f"{fmt(top.propose_bytes)} bytes of calldata and {fmt(top.propose_gas)} gas are "
        f"accepted by this anvil, started with `--gas-limit {GAS_LIMIT}` and "
        "`--no-request-size-limit`). "
        + (
            "It is over " + " and ".join(public) + ": a public L1 would refuse it, so such a "
            "batch would have to be split or posted another way (blobs). "
            if public
            else ""
        )
        + ("It is also over " + " and ".join(local) + ", both lifted here. " if local else "")
        + f"The node's sequencer seals a batch before it exceeds {MAX_BATCH_BYTES:,} bytes "
        f"(`MAX_BATCH_BYTES`: {MAX_BATCH_BYTES // 265} FILLs), under the transaction-pool "
        f"limit ({rep.fit:,} FILLs); the game on that largest batch is in the table above. "
        "A game's length grows only with log_k n.",
        "",
    ]
    return out


def _recovery_bound(machine: str) -> str:
    """Return a sentence on the FILL rate signature recovery alone allows, if it was printed."""
    found = re.search(r"recovery ([\d,]+)/s", machine)
    if found is None:
        return ""
    per_s = int(found.group(1).replace(",", ""))
    return (
        f" A FILL recovers two signatures, so recovery alone bounds any replay of FILLs on "
        f"one core at about {fmt(per_s // 2)} FILLs/s."
    )


def _rates_text(rates: Rates) -> list[str]:
    n = rates.txs
    rows = [
        ["node: `Sequencer.submit` one tx at a time (one synced journal write each = its ack) "
         "+ `seal`", f"{rates.sequence:.2f} s", fmt(round(n / rates.sequence))],
        [f"node: `Sequencer.submit` in `Sequencer.group`s of {GROUP} txs (one synced write a "
         "group, as a burst of 500 orders) + `seal`", f"{rates.grouped:.2f} s",
         fmt(round(n / rates.grouped))],
        ["challenger, checking every batch: `challenger.replay.check_batch` (post-root only; "
         "post-state and post-root in one synced write a batch)", f"{rates.check:.2f} s",
         fmt(round(n / rates.check))],
        ["challenger, tracing a disputed batch: `challenger.replay.trace_batch` right after its "
         "check (a root after every tx from the pre-state kept; trace and every node in one "
         "synced write)", f"{rates.trace:.2f} s", fmt(round(n / rates.trace))],
    ]  # fmt: skip
    keeps_up = rates.check <= min(rates.sequence, rates.grouped)
    return [
        "## Replay rate: the challenger beside the node",
        "",
        f"The same {n:,} transactions (the setup and {n - 2 - TRADERS:,} FILLs) in the same "
        f"run (each figure the fastest of {REPEATS} runs, the kinds taking turns): first "
        f"through the node's sequencer on LevelDB ({rates.batches} batches under its default "
        f"seal policy: at most 500 transactions or {MAX_BATCH_BYTES:,} bytes), then the sealed "
        "batches replayed on a fresh LevelDB by the challenger's own functions, as "
        "`challenger.agent` calls them (content addresses from `challenger.core.trace_key`, "
        "one signature memo): `check_batch` on every batch in order, every post-root checked "
        "against the node's, then `trace_batch` on every batch as if each were disputed. The "
        "challenger checks every batch and traces only a batch it plays (a wrong root, or "
        "`--dishonest-batch`), just before it opens the game; a check recovers both orders' "
        "signatures of every FILL once (each order is new, so no cache helps), and the trace "
        "of a batch right after its check finds them in the memo.",
        "",
        *table(["run", "time", "txs/s"], rows, " rr"),
        "",
        "Machine limits (as `bench/node_throughput.py` prints them): "
        f"{rates.machine.removeprefix('machine: ')}." + _recovery_bound(rates.machine),
        "",
        f"The challenger's trace of the disputed batch of the games below "
        f"({rates.dispute_txs:,} FILLs in one batch, `trace_batch` cold: no signature "
        f"recovered before, as after a restart) took {rates.dispute_trace:.2f} s: "
        f"{fmt(round(rates.dispute_txs / rates.dispute_trace))} txs/s.",
        "",
        f"Checking runs at {rates.grouped / rates.check:.1f}x the grouped node's sequencing "
        f"rate and {rates.sequence / rates.check:.1f}x the rate of a node writing each "
        "transaction alone, so the challenger "
        + ("keeps up with the node at full speed" if keeps_up else "falls behind the grouped node")
        + f" on this machine. Tracing, at {n / rates.trace:,.0f} txs/s, is paid only for the "
        "batches it disputes, once each (the trace is stored: a restart does not build it "
        "again). All rates move with the machine's load (the load average is in the first "
        "paragraph); the node's and the checks', with a synced write each, also with the "
        "disk's sync latency.",
        "",
    ]


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run every section on a fresh anvil; print the report; write the doc if asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batches of up to 1,000 only")
    parser.add_argument(
        "--ks", default="", help="arities to play besides 2, e.g. 4,8 (default: 2..16)"
    )
    parser.add_argument(
        "--write-doc", nargs="?", type=Path, const=ROOT / "docs" / "dispute.md", default=None,
        metavar="PATH", help="write the report there (default docs/dispute.md)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else SIZES
    ks = tuple(sorted({2, *(int(k) for k in args.ks.split(",") if k)})) if args.ks else KS
    if not all(2 <= k <= MAX_K for k in ks):
        parser.error(f"k must be in 2..{MAX_K}")
    logs.configure(level=logging.WARNING)  # the responders' info events would flood the report
    load_avg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.perf_counter()
    for name in CONTRACTS:
        load(name)  # compile now if the cache is stale, before anything is timed
    oracle = perp_workload(0).oracle
    with tempfile.TemporaryDirectory() as d, Anvil(
        timestamp=GENESIS_TIME, gas_limit=GAS_LIMIT, extra_args=["--silent", "--no-request-size-limit"]
    ) as node:  # fmt: skip
        tmp = Path(d)
        node.rpc("anvil_setBlockTimestampInterval", BLOCK_TIME)
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 600}))
        chain = Chain(node, w3, str(node.rpc("evm_snapshot")))
        info = node.rpc("anvil_nodeInfo")
        say(f"anvil pid {node.pid} on {node.url}, hardfork {info.get('hardFork')}, "
            f"block gas limit {GAS_LIMIT:,}")  # fmt: skip

        # The Vault's address fixes the EIP-712 domain: sign the workload once, for every k.
        first = deploy_stack(chain, 2, oracle.address)
        dom = domain(first)
        work = perp_workload(max(sizes), Signer(dom), traders=TRADERS)
        rates = section_rates(tmp, work, dom.separator)

        say("2. games: the challenger's trace of the disputed batch")
        honest = honest_trace(tmp / "challenger", work, dom.separator,
                              first.dep.params.genesis_root)  # fmt: skip
        rates.dispute_txs, rates.dispute_trace = len(honest.fills), honest.trace_seconds
        say(f"   {len(honest.fills):,} FILLs traced in {honest.trace_seconds:.2f} s")

        stacks: dict[int, Stack] = {}

        def stack(k: int) -> Stack:
            if k not in stacks:
                stacks.clear()  # deploying reverts to the base snapshot: older stacks are gone
                stacks[k] = setup_stack(chain, k, work, honest)
                if stacks[k].probe.dep.vault != first.dep.vault:
                    raise AssertionError("the Vault moved: the workload's signatures are void")
            return stacks[k]

        rows: list[GameRow] = []
        for k in ks:
            for n in sizes:
                rows.append(play(stack(k), chain, honest, n, n // 2, "middle"))
        best = best_k(rows, ks, sizes)
        say(f"   best k = {best}")
        limits = section_limits(stack(2), chain, honest, sizes)
        fit = limits[0].largest
        for k in dict.fromkeys((2, best)):
            for n in (*sizes, fit):
                for where, d_ in positions(n).items():
                    if (n in sizes and where == "middle") or (n == fit and where != "middle"):
                        continue
                    rows.append(play(stack(k), chain, honest, n, d_, where))
        honest.db.close()
        hardfork = str(info.get("hardFork"))

    seconds = time.perf_counter() - started
    cmd = (
        ".venv/bin/python bench/dispute.py" + (" --quick" if args.quick else "")
        + (f" --ks {args.ks}" if args.ks else "") + (" --write-doc" if args.write_doc else "")
    )  # fmt: skip
    cmd = f"`{cmd}`"
    if args.write_doc and not args.quick and not args.ks:
        cmd += " (`make bench-dispute`)"
    meta = {
        "command": cmd,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_line(),
        "load": load_avg,
        "anvil": anvil_version(),
        "hardfork": hardfork,
        "vyper": load("Rollup").compiler,
        "sources": "source sha256 "
        + ", ".join(f"{c.rsplit('/', 1)[-1]} {load(c).source_hash[:8]}" for c in CONTRACTS),
    }
    rep = Report(meta, tuple(sizes), ks, best, fit, rates, rows, limits, seconds)
    doc = render(rep)
    print()
    print(doc)
    if args.write_doc:
        args.write_doc.write_text(doc + "\n")
        print(f"\nwrote {args.write_doc}")
    print(f"\ndone in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
