"""``optirollup node run``: the node process around :class:`~optirollup.executor.node.NodeCore`.

One lock serialises every use of the core: the HTTP handlers (uvicorn's thread pool) and the
loop's :meth:`NodeRunner.tick`. L1 round trips happen outside it (the API keeps answering while
a batch is being posted); only the core calls before and after them take it. A tick

1. reads the latest L1 block (its timestamp is the time a new batch opens with);
2. includes the Vault's new deposits, in queue order (from the state's ``nextDepositIndex``, so
   a deposit learned just before a crash is still included after it);
3. as the oracle (when given its key): lists :data:`DEVNET_MARKET` if no market is listed,
   signs an ORACLE_UPDATE per market every ``oracle_seconds`` and a FUNDING_TICK per perpetual
   every ``funding_seconds`` (the premium of the book's mid over the index, clamped to the
   market's cap: :func:`~optirollup.oracle.funding_rate_ppm`). Prices come from the devnet's
   :class:`~optirollup.oracle.RandomWalk` or, with ``price_source="file"``, from a JSON file
   ``{"<market id>": <price in quote units>, ...}`` read again at every round, which an operator
   feeds from any source (:func:`read_price_file`);
4. seals the open batch when the seal policy says so;
5. notices batches L1 deleted (a lost dispute: L1 holds fewer batches than the node recorded as
   posted), stakes the proposer's bond again if it was slashed, and forgets the traces of the
   deleted ``(index, nonce)`` s;
6. posts every sealed batch L1 does not hold yet, in order (:class:`BatchPoster` is
   idempotent, so a batch sent just before a crash is not sent twice);
7. finalizes what can be finalized (:class:`Finalizer` reads L1 only once the first pending
   batch's window can have closed, or while a game or a change it did not make is pending);
8. defends: every open game against one of its batches is answered by the dispute solver from
   the batch's own trace (keyed by ``(index, nonce)``: an index is reused after a deletion),
   and the responder sends the moves.

Everything it needs after a crash is in LevelDB (the journal, sealed batches, resting orders)
or on L1, so a restart is :meth:`NodeRunner.start` again.

**L1 round trips.** A quiet round costs the latest block (its number also bounds the deposit
and game log reads), the Rollup's batch count and, when blocks came, the two log reads. A batch
costs its ``eth_sendRawTransaction`` and its receipt: the proposer's transactions go through
one :class:`~optirollup.l1.deploy.LocalSender` (nonce, chain id and priority fee kept locally,
the fee cap from the round's block) with the propose's gas bounded locally
(:func:`~optirollup.executor.l1.propose_gas`), and the poster trusts the count and last root
its own last propose left (read again after any error, a restart, or a count that moved
otherwise). Dispute moves are sent by the :class:`~optirollup.dispute.responder.Responder`,
which reads the nonce itself: after any round with a game the sender's nonce is read again.
Between rounds the loop waits ``poll_seconds``, but starts the next round as soon as an order
has sealed a full batch (it looks every 20 ms), so a batch goes to L1 when it is full, not at
the next poll; and a round takes the core's lock three times (:meth:`NodeRunner.tick`), since
each wait for it is a wait behind a whole burst of orders.

**Metrics.** The runner owns one Prometheus registry, passed to the API's ``create_app``, so one
``GET /metrics`` serves both (:class:`NodeMetrics` lists the loop's series).

**Fault injection (devnet and tests only).** With ``fault_batch=N`` the node posts batch N with
a wrong state root, once, to show a challenger winning. Its LevelDB stays honest. The asserted
trace of batch N is the honest ``R_0 .. R_I`` followed by ``F_j = keccak("optirollup-fault" ‖
R_j)`` for ``j > I`` (``I = fault_tx``, clamped to the batch's last transaction), so it posts
``F_n``; the batches after N are posted on that fake chain (``prev = keccak(tag ‖ honest prev)``,
``new = keccak(tag ‖ honest post)``: their trace is all fake, :func:`lying_trace` with ``I = −1``)
for as long as L1 holds the faked batch N, and the defender plays those lying traces (and
loses). When L1 deletes them the node stakes again and posts its honest batches from N on; the
fault is never applied again (``fault/done`` in LevelDB's metadata; ``fault/injected`` records
that batch N was posted faked, also read back from L1 at start-up).

**Crash points (tests only).** ``OPTIROLLUP_CRASHPOINT=<name>[:<n>]`` makes the process kill
itself with SIGKILL the ``n``-th time (default 1) it passes point ``name`` (:data:`CRASHPOINTS`):
``after_ack`` counts acknowledged order requests, ``POST /orders`` or ``POST /orders/batch``
answered 200 (the process dies just after the answer is sent, the orders' batch still open);
the batch points count only batches that hold a FILL, so a test can
deposit and wait for prices before it trades.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import structlog
from eth_account import Account
from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from optirollup.codec.tx import ListMarket, MarketKind, TxType
from optirollup.dispute.game import ASSERTER, GameView, Status
from optirollup.dispute.responder import Responder, read_game
from optirollup.dispute.solver import ListTrace, solve
from optirollup.dispute.witness import StepInputs, step_inputs
from optirollup.errors import OptiRollupError
from optirollup.executor.l1 import BatchPoster, DepositFollower, Finalizer, connect
from optirollup.executor.node import NodeCore, NodeError
from optirollup.executor.sequencer import BatchRecord, SealPolicy
from optirollup.hashing import keccak
from optirollup.l1.deploy import Deployment, LocalSender, bind
from optirollup.oracle import (
    BadFeedParams,
    OracleFeed,
    PriceSource,
    RandomWalk,
    StaticPrices,
    parse_price_file,
    sign_message,
)
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import LayeredStore
from optirollup.stf import BatchContext
from optirollup.stf.batch import trace

__all__ = [
    "CRASHPOINTS",
    "DEVNET_MARKET",
    "FAULT_TAG",
    "PRICE_SOURCES",
    "CrashPoint",
    "NodeConfig",
    "NodeMetrics",
    "NodeRunner",
    "RunnerError",
    "fault_root",
    "lying_trace",
    "read_price_file",
]

DEVNET_MARKET = (1, 0, b"ETH-PERP".ljust(16, b"\x00"), 0, 0, 100_000, 1_000, 100_000, 50_000, 200,
                 500, 10_000)  # fmt: skip
"""The market the devnet oracle lists when none is: ETH-PERP, lot 0.001, tick 0.001 quote,
10% initial / 5% maintenance margin, 2 / 5 bp maker / taker fees, 1% funding cap a tick."""

CRASHPOINTS: Mapping[str, str] = {
    "after_ack": "an order request was acknowledged and the answer sent; its batch is open",
    "after_seal": "a batch holding a FILL was sealed, not posted",
    "after_propose_sent": "the propose of a batch holding a FILL was mined, not yet recorded",
    "after_finalize_sent": "the finalize of a batch holding a FILL was mined, not yet recorded",
}
"""Test-only failpoints (``OPTIROLLUP_CRASHPOINT``): name → where the process kills itself."""

PRICE_SOURCES = ("random-walk", "file")
"""Where the oracle signer reads index prices."""

FAULT_TAG = b"optirollup-fault"
"""Prefix of the fake roots of fault injection: ``F = keccak(FAULT_TAG ‖ honest root)``."""

_RECORDS_KEPT = 64
"""Sealed, unposted batch records the loop keeps in memory (more are read again to post)."""
_SEAL_WATCH_SECONDS = 0.02
"""How often the idle loop looks for a batch sealed by an order."""

_FAULT_INJECTED = b"fault/injected"
_FAULT_DONE = b"fault/done"

log = structlog.get_logger("optirollup.node")


class RunnerError(OptiRollupError):
    """The node process cannot run as configured (bad flags, a bad price file, L1 disagrees)."""


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeConfig:
    """What one node needs: where L1 is, what is deployed, its keys and its data directory."""

    rpc_url: str
    deployment: Deployment
    data_dir: Path
    proposer_key: bytes
    oracle_address: bytes
    """The genesis oracle (the genesis state is built from it and checked against L1's)."""
    oracle_key: bytes | None = None
    """Sign prices and funding with this key (None: another process signs them)."""
    host: str = "127.0.0.1"
    port: int = 8545 + 1000
    max_txs: int = 500
    max_seconds: int = 2
    poll_seconds: float = 0.25
    oracle_seconds: int = 5
    """Seconds between two ORACLE_UPDATE rounds."""
    funding_seconds: int = 60
    """Seconds between two FUNDING_TICK rounds (0: never)."""
    oracle_start_price: int = 3_000_000_000
    """The devnet walk's first price (quote units per whole unit: 3,000.000000)."""
    price_source: str = "random-walk"
    """``"random-walk"`` (the devnet walk) or ``"file"`` (``price_file``, read every round)."""
    price_file: Path | None = None
    confirmations: int = 0
    fault_batch: int | None = None
    """Devnet/tests only: post this batch with a wrong root (see the module notes)."""
    fault_tx: int = 0
    """The first transaction of ``fault_batch`` whose asserted post-root is wrong."""

    def __post_init__(self) -> None:
        if self.price_source not in PRICE_SOURCES:
            raise RunnerError(
                f"price source {self.price_source!r} is not one of {', '.join(PRICE_SOURCES)}"
            )
        if self.price_source == "file" and self.price_file is None:
            raise RunnerError("the price source 'file' needs a price file: pass --price-file")
        for name in ("oracle_seconds", "funding_seconds", "max_seconds", "fault_tx"):
            if getattr(self, name) < 0:
                raise RunnerError(f"{name}={getattr(self, name)} must not be negative")
        if self.fault_batch is not None and self.fault_batch < 0:
            raise RunnerError(f"fault_batch={self.fault_batch} must not be negative")


def read_price_file(path: Path) -> StaticPrices:
    """Read the operator's price file (``{"<market id>": <price>, ...}``, quote units per unit).

    Raise :class:`~optirollup.oracle.BadPriceFile` naming the file and what is wrong with it.
    """
    from optirollup.oracle import BadPriceFile

    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise BadPriceFile(
            f"cannot read the price file {path} ({err}); write a JSON object "
            '{"<market id>": <price in quote units>} there or pass another --price-file'
        ) from err
    return StaticPrices(parse_price_file(text, str(path)), str(path))


# --- crash points (tests only) ------------------------------------------------------------------


@dataclass
class CrashPoint:
    """A test-only failpoint: SIGKILL this process the ``count``-th time ``name`` is passed."""

    name: str | None = None
    count: int = 1
    hits: int = 0
    kill: Callable[[], None] = field(
        default=lambda: os.kill(os.getpid(), signal.SIGKILL), repr=False
    )

    @classmethod
    def parse(cls, text: str | None) -> CrashPoint:
        """Parse ``<name>[:<n>]`` (empty or None: no crash point); raise :class:`RunnerError`."""
        if not text or not text.strip():
            return cls()
        name, _, count = text.strip().partition(":")
        if name not in CRASHPOINTS:
            raise RunnerError(
                f"OPTIROLLUP_CRASHPOINT={text!r}: unknown crash point {name!r}; one of "
                f"{', '.join(CRASHPOINTS)}, optionally with :<n> (the n-th pass)"
            )
        try:
            n = int(count) if count else 1
        except ValueError as err:
            raise RunnerError(f"OPTIROLLUP_CRASHPOINT={text!r}: {count!r} is not a count") from err
        if n < 1:
            raise RunnerError(f"OPTIROLLUP_CRASHPOINT={text!r}: the count must be at least 1")
        return cls(name, n)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CrashPoint:
        """Read ``OPTIROLLUP_CRASHPOINT`` from ``env`` (default: the process environment)."""
        return cls.parse((os.environ if env is None else env).get("OPTIROLLUP_CRASHPOINT"))

    def hit(self, name: str) -> None:
        """Pass point ``name``: kill the process if it is the armed point's ``count``-th pass."""
        if name != self.name:
            return
        self.hits += 1
        if self.hits >= self.count:
            log.warning("node.crashpoint", point=name, hits=self.hits)
            self.kill()


_ACKED_ROUTES = frozenset({("POST", "/orders"), ("POST", "/orders/batch")})


class _CrashAfterAck:
    """ASGI middleware: pass ``after_ack`` once an order request's answer (200) is sent."""

    def __init__(self, app: ASGIApp, crash: CrashPoint) -> None:
        self.app = app
        self.crash = crash

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request; after a 200 to ``POST /orders`` or ``POST /orders/batch``, pass
        the crash point."""
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in _ACKED_ROUTES:
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        if status == 200:
            await asyncio.sleep(0.1)  # let the answer leave the socket first
            self.crash.hit("after_ack")


def _has_fill(record: BatchRecord) -> bool:
    return any(tx[0] == TxType.FILL for tx in record.txs)


# --- fault injection (devnet and tests only) ----------------------------------------------------


def fault_root(root: bytes) -> bytes:
    """Return the fake root fault injection asserts in place of ``root``."""
    return keccak(FAULT_TAG + root)


def lying_trace(honest: Sequence[bytes], lie_at: int) -> list[bytes]:
    """Return the asserted trace of a faulted batch: ``R_j`` for ``j <= lie_at``, then fakes.

    ``honest`` is ``R_0 .. R_n``; ``lie_at`` is clamped to ``n − 1`` (the batch's last
    transaction), so the post-root is always fake. ``lie_at = −1`` fakes every root (a batch
    posted on top of a faked one: even its pre-root is fake).
    """
    if len(honest) < 2:
        raise RunnerError(f"a trace holds R_0 .. R_n with n >= 1, got {len(honest)} roots")
    i = min(lie_at, len(honest) - 2)
    return [r if j <= i else fault_root(r) for j, r in enumerate(honest)]


# --- metrics ------------------------------------------------------------------------------------


class NodeMetrics:
    """The loop's Prometheus series (beside the API's, in the same registry).

    ``optirollup_node_batches_total{event}`` (sealed, posted, finalized by this process),
    ``optirollup_unposted_batches`` (sealed batches L1 does not hold yet),
    ``optirollup_l1_batches{state}`` (pending, final: what L1 holds),
    ``optirollup_l1_head_lag_seconds`` (local time minus the latest L1 block's timestamp),
    ``optirollup_l1_head_lag_blocks`` (L1 blocks the deposit and game followers have not read),
    ``optirollup_deposits_included_total``, ``optirollup_games_open`` (games against this node's
    batches it is playing), ``optirollup_games_resolved_total{result}`` (won, lost, void),
    ``optirollup_oracle_txs_total{kind}`` (listing, price, funding: sequenced by the oracle
    signer), ``optirollup_oracle_failures_total``, ``optirollup_batches_deleted_total``,
    ``optirollup_restakes_total``, ``optirollup_faults_injected_total`` and
    ``optirollup_node_tick_failures_total``.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register every series in ``registry``."""
        r = registry
        self.batches = Counter(
            "optirollup_node_batches", "Batches this process sealed, posted and finalized",
            ["event"], registry=r,
        )  # fmt: skip
        for event in ("sealed", "posted", "finalized"):
            self.batches.labels(event)
        self.unposted = Gauge(
            "optirollup_unposted_batches", "Sealed batches L1 does not hold yet", registry=r
        )
        self.l1_batches = Gauge(
            "optirollup_l1_batches", "Batches L1 holds, pending or final", ["state"], registry=r
        )
        self.lag_seconds = Gauge(
            "optirollup_l1_head_lag_seconds",
            "Local time minus the latest L1 block's timestamp (negative: L1's clock is ahead)",
            registry=r,
        )
        self.lag_blocks = Gauge(
            "optirollup_l1_head_lag_blocks",
            "L1 blocks up to the head that the deposit or game follower has not read yet",
            registry=r,
        )
        self.deposits = Counter(
            "optirollup_deposits_included", "Vault deposits sequenced by this process", registry=r
        )
        self.games_open = Gauge(
            "optirollup_games_open", "Open dispute games against this node's batches", registry=r
        )
        self.games = Counter(
            "optirollup_games_resolved",
            "Dispute games against this node's batches that ended, by result",
            ["result"], registry=r,
        )  # fmt: skip
        for result in ("won", "lost", "void"):
            self.games.labels(result)
        self.oracle = Counter(
            "optirollup_oracle_txs", "Oracle transactions sequenced, by kind", ["kind"], registry=r
        )
        for kind in ("listing", "price", "funding"):
            self.oracle.labels(kind)
        self.oracle_failures = Counter(
            "optirollup_oracle_failures",
            "Oracle rounds or transactions that failed (no price, a bad file, a rejection)",
            registry=r,
        )
        self.deleted = Counter(
            "optirollup_batches_deleted", "Posted batches L1 deleted (lost disputes)", registry=r
        )
        self.restakes = Counter(
            "optirollup_restakes", "Times the proposer staked its bond again", registry=r
        )
        self.faults = Counter(
            "optirollup_faults_injected", "Batches posted with a wrong root on purpose", registry=r
        )
        self.tick_failures = Counter(
            "optirollup_node_tick_failures", "Loop rounds that raised", registry=r
        )


# --- the runner ---------------------------------------------------------------------------------


@dataclass
class _BatchTrace:
    roots: list[bytes]
    """The honest trace (what the node's state says), for step witnesses."""
    asserted: list[bytes]
    """What the node asserted on L1 (the honest trace unless the batch was faulted)."""
    txs: list[bytes]
    ctx: BatchContext


@dataclass
class NodeRunner:
    """The node process: HTTP server and loop around one :class:`NodeCore` (see the module)."""

    config: NodeConfig
    clock: Callable[[], float] = time.time
    lock: threading.RLock = field(default_factory=threading.RLock)
    crash: CrashPoint = field(default_factory=CrashPoint.from_env)
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        c = self.config
        self.metrics = NodeMetrics(self.registry)
        self.w3 = connect(c.rpc_url, timeout=60)
        dep = c.deployment
        self.vault = bind(self.w3, "Vault", dep.vault)
        self.rollup = bind(self.w3, "Rollup", dep.rollup)
        self.game = bind(self.w3, "DisputeGame", dep.dispute_game)
        self.proposer = Account.from_key(c.proposer_key)
        self.sender = LocalSender(self.proposer)
        """Every transaction of the proposer's key but dispute moves (see the module notes)."""
        if c.oracle_key is not None and c.price_source == "file":
            assert c.price_file is not None
            read_price_file(c.price_file)  # a bad file stops the start, with its reason
        self.db = LevelDB(c.data_dir / "state")
        try:
            genesis = genesis_root(self.db.nodes, c.oracle_address)
            if genesis != dep.params.genesis_root:
                raise NodeError(
                    "wrong_genesis",
                    f"the genesis of oracle 0x{c.oracle_address.hex()} is 0x{genesis.hex()}, the "
                    f"Rollup's is 0x{dep.params.genesis_root.hex()}: check --oracle",
                    500,
                )
            self.separator = _domain_separator(dep)
            self.core = NodeCore(
                self.db,
                self.separator,
                genesis_root=genesis,
                policy=SealPolicy(max_txs=c.max_txs, max_seconds=c.max_seconds),
                now=int(self.clock()),
            )
            self.follower = DepositFollower(self.w3, self.vault, dep.block, c.confirmations)
            self.poster = BatchPoster(self.w3, self.rollup, self.sender)
            self.finalizer = Finalizer(self.w3, self.rollup, self.game, self.sender)
            self.responder = Responder(self.game, self.proposer, self._step_source)
            self._walk = RandomWalk(
                seed=dep.chain_id,
                start=c.oracle_start_price,
                tick=1_000,
                origin=int(self.w3.eth.get_block(dep.block)["timestamp"]),
            )
            self._fault_start()
        except BaseException:
            self.db.close()
            raise
        self.l1_time = 0
        self.l1_head = 0
        self.l1_base_fee = 0
        self._last_oracle = 0
        self._last_funding = int(self.clock())
        self._traces: dict[tuple[int, int], _BatchTrace] = {}
        self._games_from = dep.block
        self._games: set[int] = set()
        self._check_stake = True
        self._sealed_seen = self.core.sequencer.batch_count
        self._records: dict[int, BatchRecord] = {}
        """Sealed batches not posted yet, as sealed (no second read of LevelDB to post them)."""
        self._final_seen: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._server_thread: threading.Thread | None = None

    # -- time -------------------------------------------------------------------------------

    def batch_clock(self) -> tuple[int, int]:
        """Return ``(batch_time, now)``: the time a batch opened now gets, and local seconds.

        Without the lock (every order request asks before it waits for the core): both reads
        are single attributes, and the value is a snapshot the caller uses later anyway (the
        sequencer raises a batch's time to the last sealed one's itself).
        """
        return max(self.l1_time, self.core.sequencer.last_batch_time), int(self.clock())

    # -- the loop ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Run one round of the loop (see the module notes).

        The core's lock is taken twice before posting (to read where the deposits are, and to
        include them, sign prices, seal and collect what was sealed) and once after: the HTTP
        handlers hold it for whole bursts, so each wait for it is a wait behind one.
        """
        head = self.w3.eth.get_block("latest")
        self.l1_time, self.l1_head = int(head["timestamp"]), int(head["number"])
        self.l1_base_fee = int(head.get("baseFeePerGas", 0))
        self.metrics.lag_seconds.set(self.clock() - self.l1_time)
        seq = self.core.sequencer
        with self.lock:
            included = seq.state.system().next_deposit_index
            batch_time, now = max(self.l1_time, seq.last_batch_time), int(self.clock())
        new = self.follower.poll(included, head=self.l1_head)  # L1 reads: outside the lock
        with self.lock:
            if new:
                self.core.include_deposits(
                    included, [(d.hash, d.tx) for d in new], batch_time=batch_time, now=now
                )
            self._oracle(batch_time, now)
            self._seal(now)
            # Every batch sealed since the last round, here or by a full batch in submit().
            count = seq.batch_count
            sealed = [seq.batch(i) for i in range(self._sealed_seen, count)]
            self._sealed_seen = count
            recorded = self.core.status().posted
        if new:
            self.metrics.deposits.inc(len(new))
            log.info("deposits.included", first=included, count=len(new))
        for record in sealed:
            self.metrics.batches.labels("sealed").inc()
            if len(self._records) < _RECORDS_KEPT:
                self._records[record.index] = record
            if _has_fill(record):
                self.crash.hit("after_seal")
        l1_count = self._post(count, recorded)
        self._finalize(l1_count)
        self._defend()
        read = min(self.follower.next_block, self._games_from)
        self.metrics.lag_blocks.set(max(0, self.l1_head + 1 - read))

    def _seal(self, now: int) -> BatchRecord | None:
        if not self.core.sequencer.seal_due(now):
            return None
        record = self.core.sequencer.seal()
        if record is not None:
            log.info("batch.sealed", batch_index=record.index, txs=len(record.txs),
                     state_root="0x" + record.post_root.hex())  # fmt: skip
        return record

    # -- the oracle -------------------------------------------------------------------------

    def _prices(self) -> PriceSource:
        if self.config.price_source == "file":
            assert self.config.price_file is not None
            return read_price_file(self.config.price_file)
        return self._walk

    def _oracle(self, batch_time: int, now: int) -> None:
        c = self.config
        if c.oracle_key is None:
            return
        price_due = not self._last_oracle or now - self._last_oracle >= c.oracle_seconds
        funding_due = c.funding_seconds > 0 and now - self._last_funding >= c.funding_seconds
        if not (price_due or funding_due):
            return
        if price_due:
            self._last_oracle = now
        if funding_due:
            self._last_funding = now
        if not self.core.markets():
            listing = ListMarket(*DEVNET_MARKET)
            tx = sign_message(listing, c.oracle_key, self.separator)
            self.core.submit_tx(tx, batch_time=batch_time, now=now)
            self.metrics.oracle.labels("listing").inc()
            log.info("market.listed", market=listing.market, symbol="ETH-PERP")
        try:
            feed = OracleFeed(c.oracle_key, self.separator, self._prices())
        except OptiRollupError as err:
            self.metrics.oracle_failures.inc()
            log.error("oracle.failed", err=str(err))
            return
        time_ = self.core.sequencer.open_batch_time or batch_time
        for mid in sorted(self.core.markets()):
            if price_due:
                self._oracle_tx("price", mid, feed, time_, batch_time, now)
            if funding_due:
                self._oracle_tx("funding", mid, feed, time_, batch_time, now)

    def _oracle_tx(
        self, kind: str, mid: int, feed: OracleFeed, time_: int, batch_time: int, now: int
    ) -> None:
        """Sequence ``market``'s ORACLE_UPDATE (``kind="price"``) or FUNDING_TICK at ``time_``,
        if the market takes one at that time."""
        market = self.core.sequencer.state.market(mid)
        if market is None:
            return
        try:
            if kind == "price":
                if market.oracle_time >= time_:
                    return
                tx = feed.oracle_update(mid, time_)
            else:
                if (market.kind != MarketKind.PERP or market.oracle_price == 0
                        or market.funding_time >= time_):  # fmt: skip
                    return
                tx = feed.funding_tick(mid, time_, mark=self._mark(mid, feed, time_),
                                       max_funding_ppm=market.max_funding_ppm)  # fmt: skip
            self.core.submit_tx(tx, batch_time=batch_time, now=now)
        except (BadFeedParams, NodeError) as err:
            self.metrics.oracle_failures.inc()
            log.warning("oracle.rejected", kind=kind, market=mid, err=str(err))
            return
        self.metrics.oracle.labels(kind).inc()

    def _mark(self, mid: int, feed: OracleFeed, time_: int) -> int:
        """Return the mark funding compares with the index: the book's mid, or (no two-sided
        book, so no premium to measure) the index itself."""
        depth = self.core.book(mid, 1)
        if depth.bids and depth.asks:
            return (depth.bids[0].price + depth.asks[0].price) // 2
        return feed.source.price(mid, time_)

    # -- posting ----------------------------------------------------------------------------

    def _post(self, sealed: int, recorded: int) -> int:
        """Post what L1 lacks of the first ``sealed`` batches (``recorded``: the posted count
        the core holds); return the Rollup's batch count after it."""
        l1_count = self.poster.posted_count()
        if l1_count < recorded:
            self._deleted(l1_count, recorded)
        self.metrics.unposted.set(max(0, sealed - l1_count))
        if l1_count < sealed and self._check_stake:
            self._restake()
        for i in [k for k in self._records if k < l1_count]:
            del self._records[i]
        # L1 holds batches not recorded as posted (the process died between the two): record
        # them (their transaction hash unknown, as for a batch found already posted).
        posted = [(i, b"\x00" * 32) for i in range(recorded, min(l1_count, sealed))]
        try:
            for i in range(l1_count, sealed):
                record = self._records.get(i)
                if record is None:  # sealed before a restart, or posted again after a deletion
                    with self.lock:
                        record = self.core.sequencer.batch(i)
                asserted = self._asserted(record)
                # L1: outside the lock. The count just read holds for the first; the poster
                # knows it for the next ones (its own propose of the one before).
                tx_hash = self.poster.post(asserted, l1_count=l1_count if i == l1_count else None,
                                           base_fee=self.l1_base_fee)  # fmt: skip
                if asserted is not record and tx_hash is not None and i == self._fault_n:
                    self.db.write_batch({}, {_FAULT_INJECTED: i.to_bytes(8, "big")})
                    self.metrics.faults.inc()
                    log.warning("fault.injected", batch_index=i,
                                state_root="0x" + asserted.post_root.hex(),
                                honest_root="0x" + record.post_root.hex())  # fmt: skip
                if _has_fill(record):
                    self.crash.hit("after_propose_sent")
                posted.append((i, bytes.fromhex(tx_hash[2:]) if tx_hash else b"\x00" * 32))
                self._records.pop(i, None)
                self.metrics.batches.labels("posted").inc()
                self.metrics.unposted.set(max(0, sealed - i - 1))
        finally:
            if posted:  # one wait for the lock for all of them (L1 holds them already)
                with self.lock:
                    for i, h in posted:
                        self.core.mark_posted(i, h)
        return max(l1_count, sealed)

    def _finalize(self, l1_count: int) -> None:
        def on_final(index: int) -> None:
            self.metrics.batches.labels("finalized").inc()
            with self.lock:
                fill = index < self.core.sequencer.batch_count and _has_fill(
                    self.core.sequencer.batch(index)
                )
            if fill:
                self.crash.hit("after_finalize_sent")

        f = self.finalizer
        final = f.run(self.l1_time, l1_count=l1_count, on_final=on_final,
                      base_fee=self.l1_base_fee)  # fmt: skip
        on_chain = f.final_count or 0
        self.metrics.l1_batches.labels("final").set(on_chain)
        self.metrics.l1_batches.labels("pending").set(max(0, l1_count - on_chain))
        if final or on_chain != self._final_seen:
            with self.lock:
                if final or on_chain > self.core.status().final:
                    self.core.mark_final(max(on_chain, final[-1] + 1 if final else 0))
            self._final_seen = on_chain

    def _deleted(self, l1_count: int, recorded: int) -> None:
        """L1 holds fewer batches than were posted: a game deleted ``l1_count`` and later."""
        self.metrics.deleted.inc(recorded - l1_count)
        log.warning("batches.deleted", batch_index=l1_count, count=recorded - l1_count)
        for key in [k for k in self._traces if k[0] >= l1_count]:
            del self._traces[key]
        meta: dict[bytes, bytes | None] = {}
        if self._fault_n is not None and l1_count <= self._fault_n and self._fault_injected():
            meta[_FAULT_DONE] = b"\x01"
            log.info("fault.cleared", batch_index=self._fault_n)
        with self.lock:
            self.core.mark_deleted(l1_count, meta)
        self._check_stake = True

    def _restake(self) -> None:
        """Stake the proposer's bond again if it is below the Rollup's (it was slashed)."""
        bond = int(self.rollup.functions.PROPOSER_BOND().call())
        staked = int(self.rollup.functions.stakes(self.proposer.address).call())
        if staked < bond:
            fn = self.rollup.functions.stake()
            tx: dict[str, Any] = {"to": self.rollup.address, "value": bond - staked,
                                  "data": fn._encode_transaction_data()}  # fmt: skip
            self.sender.send(self.w3, tx, "stake the proposer bond")  # type: ignore[arg-type]
            self.metrics.restakes.inc()
            log.warning("proposer.staked", amount=bond - staked, stake=bond)
        self._check_stake = False

    # -- fault injection --------------------------------------------------------------------

    @property
    def _fault_n(self) -> int | None:
        return self.config.fault_batch

    def _fault_injected(self) -> bool:
        return self.db.get_meta(_FAULT_INJECTED) is not None

    def _fault_done(self) -> bool:
        return self.db.get_meta(_FAULT_DONE) is not None

    def _fault_start(self) -> None:
        """Read back from L1 whether batch N was posted faked (a crash may have hidden it)."""
        n = self._fault_n
        if n is None or self._fault_done() or n >= self.core.sequencer.batch_count:
            return
        if int(self.rollup.functions.batch_count().call()) <= n:
            return
        on_chain = bytes(self.rollup.functions.batch(n).call()[1])
        record = self.core.sequencer.batch(n)
        if on_chain == fault_root(record.post_root):
            if not self._fault_injected():
                self.db.write_batch({}, {_FAULT_INJECTED: n.to_bytes(8, "big")})
        elif not self._fault_injected():
            log.warning("fault.skipped", batch_index=n, reason="L1 already holds it honest")
            self.db.write_batch({}, {_FAULT_DONE: b"\x01"})

    def _asserted(self, record: BatchRecord) -> BatchRecord:
        """Return what to post for ``record``: itself, or its faked version (module notes)."""
        n = self._fault_n
        if n is None or record.index < n or self._fault_done():
            return record
        if record.index == n:
            if self._fault_injected():  # posted faked once and deleted since: never again
                self.db.write_batch({}, {_FAULT_DONE: b"\x01"})
                return record
            return replace(record, post_root=fault_root(record.post_root))
        if not self._fault_injected():
            return record
        return replace(record, prev_root=fault_root(record.prev_root),
                       post_root=fault_root(record.post_root))  # fmt: skip

    # -- disputes ---------------------------------------------------------------------------

    def _batch_trace(self, index: int, nonce: int) -> _BatchTrace:
        cached = self._traces.get((index, nonce))
        if cached is not None:
            return cached
        on_chain = self.rollup.functions.batch(index).call()
        if int(on_chain[7]) != nonce:
            raise RunnerError(f"batch {index} on L1 has nonce {int(on_chain[7])}, not {nonce}")
        with self.lock:
            record = self.core.sequencer.batch(index)
            ctx = BatchContext(record.batch_time, self.separator,
                               self.core.sequencer.deposit_hashes[: int(on_chain[6])])  # fmt: skip
            scratch = LayeredStore(self.db.nodes)
            roots = trace(StateOverlay(scratch, record.prev_root), list(record.txs), ctx)
        if roots[-1] != record.post_root:
            raise RunnerError(f"batch {index} no longer replays to its sealed root")
        posted = (bytes(on_chain[0]), bytes(on_chain[1]))
        if posted == (record.prev_root, record.post_root):
            asserted = roots
        elif posted[1] == fault_root(record.post_root):
            lie = min(self.config.fault_tx, len(record.txs) - 1) if index == self._fault_n else -1
            asserted = lying_trace(roots, lie)
        else:
            raise RunnerError(f"batch {index} on L1 is not one this node posted")
        cached = self._traces[(index, nonce)] = _BatchTrace(roots, asserted, list(record.txs), ctx)
        return cached

    def _step_source(self, game: GameView, tx_index: int) -> StepInputs:
        t = self._batch_trace(game.batch_index, game.batch_nonce)
        with self.lock:
            scratch = LayeredStore(self.db.nodes)
            return step_inputs(scratch, t.roots[tx_index], t.txs, tx_index, t.ctx)

    def _defend(self) -> None:
        head = self.l1_head
        if head >= self._games_from:
            for ev in self.game.events.GameOpened().get_logs(
                from_block=self._games_from, to_block=head
            ):
                if str(ev["args"]["asserter"]).lower() == self.proposer.address.lower():
                    self._games.add(int(ev["args"]["game_id"]))
            self._games_from = head + 1
        for game_id in sorted(self._games):
            try:
                self._defend_one(game_id)
            except OptiRollupError as err:
                log.error("game.failed", game_id=game_id, err=str(err))
            finally:
                # The responder sends from the proposer's key with its own nonce reads.
                self.sender.forget()
        self.metrics.games_open.set(len(self._games))

    def _defend_one(self, game_id: int) -> None:
        view = read_game(self.game, game_id, rollup=self.rollup)
        if view.status is not Status.ACTIVE or not view.batch_live:
            # Over (claim what we won; the trace plays no part any more), or void.
            done = ListTrace([view.root_lo, view.root_hi])
            self.responder.act_all(solve(view, ASSERTER, done, view.l1_time))
            result = (
                "won" if view.winner() is ASSERTER
                else "lost" if view.status is Status.CHALLENGER_WON else "void"
            )  # fmt: skip
            self.metrics.games.labels(result).inc()
            log.info("game.ended", game_id=game_id, batch_index=view.batch_index, result=result)
            self._games.discard(game_id)
            return
        t = self._batch_trace(view.batch_index, view.batch_nonce)
        sent = self.responder.act_all(solve(view, ASSERTER, ListTrace(t.asserted), view.l1_time))
        if sent:
            log.info("game.answered", game_id=game_id, moves=len(sent))

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, *, serve: bool = True) -> None:
        """Start the loop thread and (if ``serve``) the HTTP server thread."""
        if serve:
            import uvicorn

            from optirollup.api.app import create_app

            app: ASGIApp = create_app(
                self.core, self.batch_clock, lock=self.lock, registry=self.registry
            )
            if self.crash.name == "after_ack":
                app = _CrashAfterAck(app, self.crash)
            cfg = uvicorn.Config(app, host=self.config.host, port=self.config.port,
                                 log_level="warning", access_log=False)  # fmt: skip
            self._server = uvicorn.Server(cfg)
            self._server_thread = threading.Thread(target=self._server.run, daemon=True)
            self._server_thread.start()
        self._thread = threading.Thread(target=self._loop, name="node-loop", daemon=True)
        self._thread.start()
        log.info("node.started", host=self.config.host, port=self.config.port)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
                ok = True
            except Exception as err:  # keep serving; L1 may be briefly unreachable
                ok = False
                self.metrics.tick_failures.inc()
                log.error("node.tick_failed", err=str(err), kind=type(err).__name__)
            self._idle(self.config.poll_seconds, watch=ok)

    def _idle(self, seconds: float, *, watch: bool = True) -> None:
        """Wait ``seconds``, or (``watch``) less if a batch is sealed meanwhile: a full batch
        sealed by an order is posted now, not at the next poll. After a failed round the loop
        waits the whole time."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            # An int read without the lock: at worst one round early or one step late.
            if watch and self.core.sequencer.batch_count != self._sealed_seen:
                return
            if self._stop.wait(min(left, _SEAL_WATCH_SECONDS)):
                return

    def wait(self) -> None:
        """Block until :meth:`stop` is called (or the loop dies)."""
        while not self._stop.wait(0.5):
            if self._thread is not None and not self._thread.is_alive():
                break

    def stop(self) -> None:
        """Stop the loop and the server; close the database (the journal is already durable).

        Calling it again does nothing.
        """
        if self._stop.is_set() and self.db.closed:
            return
        self._stop.set()
        if self._server is not None:
            self._server.should_exit = True
        for t in (self._thread, self._server_thread):
            if t is not None:
                t.join(timeout=10)
        with self.lock:
            self.db.close()
        log.info("node.stopped")


def _domain_separator(dep: Deployment) -> bytes:
    from optirollup.codec import eip712

    return eip712.Domain(dep.chain_id, bytes.fromhex(dep.vault[2:])).separator
