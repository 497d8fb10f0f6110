"""``optirollup node run``: the node process around :class:`~optirollup.executor.node.NodeCore`.

One lock serialises every use of the core: the HTTP handlers (uvicorn's thread pool) and the
loop's :meth:`NodeRunner.tick`, which in turn

1. reads the latest L1 block (its timestamp is the time a new batch opens with);
2. includes the Vault's new deposits, in queue order (from the state's ``nextDepositIndex``, so
   a deposit learned just before a crash is still included after it);
3. as the devnet oracle (when given its key), lists :data:`DEVNET_MARKET` if no market is
   listed, and signs an ORACLE_UPDATE per market every ``oracle_seconds`` from
   :class:`~optirollup.oracle.RandomWalk`;
4. seals the open batch when the seal policy says so;
5. posts every sealed batch L1 does not hold yet, in order (:class:`BatchPoster` is
   idempotent, so a batch sent just before a crash is not sent twice);
6. finalizes what can be finalized;
7. defends: every open game against one of its batches is answered by the dispute solver from
   the batch's own trace, and the responder sends the moves.

Everything it needs after a crash is in LevelDB (the journal, sealed batches, resting orders)
or on L1, so a restart is :meth:`NodeRunner.start` again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from eth_account import Account
from web3 import Web3

from optirollup.codec.tx import ListMarket
from optirollup.dispute.game import ASSERTER, Status
from optirollup.dispute.responder import Responder, read_game
from optirollup.dispute.solver import ListTrace, solve
from optirollup.dispute.witness import StepInputs, step_inputs
from optirollup.errors import OptiRollupError
from optirollup.executor.l1 import BatchPoster, DepositFollower, finalize_due
from optirollup.executor.node import NodeCore, NodeError
from optirollup.executor.sequencer import SealPolicy
from optirollup.l1.deploy import Deployment, bind
from optirollup.oracle import OracleFeed, RandomWalk, sign_message
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import LayeredStore
from optirollup.stf import BatchContext
from optirollup.stf.batch import trace

__all__ = ["DEVNET_MARKET", "NodeConfig", "NodeRunner"]

DEVNET_MARKET = (1, 0, b"ETH-PERP".ljust(16, b"\x00"), 0, 0, 100_000, 1_000, 100_000, 50_000, 200,
                 500, 10_000)  # fmt: skip
"""The market the devnet oracle lists when none is: ETH-PERP, lot 0.001, tick 0.001 quote,
10% initial / 5% maintenance margin, 2 / 5 bp maker / taker fees, 1% funding cap a tick."""

log = structlog.get_logger("optirollup.node")


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
    """Run the devnet price feed with this key (None: another process signs prices)."""
    host: str = "127.0.0.1"
    port: int = 8545 + 1000
    max_txs: int = 500
    max_seconds: int = 2
    poll_seconds: float = 0.25
    oracle_seconds: int = 5
    oracle_start_price: int = 3_000_000_000
    """The devnet feed's first price (quote units per whole unit: 3,000.000000)."""
    confirmations: int = 0


@dataclass
class _BatchTrace:
    roots: list[bytes]
    txs: list[bytes]
    ctx: BatchContext


@dataclass
class NodeRunner:
    """The node process: HTTP server and loop around one :class:`NodeCore` (see the module)."""

    config: NodeConfig
    clock: Callable[[], float] = time.time
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        c = self.config
        self.w3 = Web3(Web3.HTTPProvider(c.rpc_url, request_kwargs={"timeout": 60}))
        dep = c.deployment
        self.vault = bind(self.w3, "Vault", dep.vault)
        self.rollup = bind(self.w3, "Rollup", dep.rollup)
        self.game = bind(self.w3, "DisputeGame", dep.dispute_game)
        self.proposer = Account.from_key(c.proposer_key)
        self.db = LevelDB(c.data_dir / "state")
        genesis = genesis_root(self.db.nodes, c.oracle_address)
        if genesis != dep.params.genesis_root:
            self.db.close()
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
        self.poster = BatchPoster(self.w3, self.rollup, self.proposer)
        self.responder = Responder(self.game, self.proposer, self._step_source)
        self.feed = (
            OracleFeed(
                c.oracle_key,
                self.separator,
                RandomWalk(
                    seed=dep.chain_id,
                    start=c.oracle_start_price,
                    tick=1_000,
                    origin=int(self.w3.eth.get_block(dep.block)["timestamp"]),
                ),
            )
            if c.oracle_key is not None
            else None
        )
        self.l1_time = 0
        self._last_oracle = 0
        self._traces: dict[int, _BatchTrace] = {}
        self._games_from = dep.block
        self._games: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._server_thread: threading.Thread | None = None

    # -- time -------------------------------------------------------------------------------

    def batch_clock(self) -> tuple[int, int]:
        """Return ``(batch_time, now)``: the time a batch opened now gets, and local seconds."""
        with self.lock:
            last = self.core.sequencer.last_batch_time
        return max(self.l1_time, last), int(self.clock())

    # -- the loop ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Run one round of the loop (see the module notes)."""
        self.l1_time = int(self.w3.eth.get_block("latest")["timestamp"])
        batch_time, now = self.batch_clock()
        with self.lock:
            self._deposits(batch_time, now)
            self._oracle(batch_time, now)
            if self.core.sequencer.seal_due(now):
                record = self.core.sequencer.seal()
                if record is not None:
                    log.info("batch.sealed", batch_index=record.index, txs=len(record.txs),
                             state_root="0x" + record.post_root.hex())  # fmt: skip
            self._post()
            final = finalize_due(self.w3, self.rollup, self.game, self.proposer)
            if final:
                self.core.mark_final(final[-1] + 1)
            elif int(self.rollup.functions.final_count().call()) > self.core.status().final:
                self.core.mark_final(int(self.rollup.functions.final_count().call()))
        self._defend()

    def _deposits(self, batch_time: int, now: int) -> None:
        included = self.core.sequencer.state.system().next_deposit_index
        new = self.follower.poll(included)
        if new:
            self.core.include_deposits(
                included, [(d.hash, d.tx) for d in new], batch_time=batch_time, now=now
            )
            log.info("deposits.included", first=included, count=len(new))

    def _oracle(self, batch_time: int, now: int) -> None:
        if self.feed is None or (
            self._last_oracle and now - self._last_oracle < self.config.oracle_seconds
        ):
            return
        if not self.core.markets() and self.config.oracle_key is not None:
            listing = ListMarket(*DEVNET_MARKET)
            tx = sign_message(listing, self.config.oracle_key, self.separator)
            self.core.submit_tx(tx, batch_time=batch_time, now=now)
            log.info("market.listed", market=listing.market, symbol="ETH-PERP")
        time_ = self.core.sequencer.open_batch_time or batch_time
        for mid, market in self.core.markets().items():
            if market.oracle_time >= time_:
                continue
            try:
                self.core.submit_tx(self.feed.oracle_update(mid, time_), batch_time=batch_time,
                                    now=now)  # fmt: skip
            except NodeError as err:
                log.warning("oracle.rejected", market=mid, err=str(err))
        self._last_oracle = now

    def _post(self) -> None:
        for i in range(self.poster.posted_count(), self.core.sequencer.batch_count):
            tx_hash = self.poster.post(self.core.sequencer.batch(i))
            self.core.mark_posted(i, bytes.fromhex(tx_hash[2:]) if tx_hash else b"\x00" * 32)

    # -- disputes ---------------------------------------------------------------------------

    def _batch_trace(self, index: int) -> _BatchTrace:
        cached = self._traces.get(index)
        if cached is None:
            with self.lock:
                record = self.core.sequencer.batch(index)
                count = int(self.rollup.functions.batch(index).call()[6])
                ctx = BatchContext(record.batch_time, self.separator,
                                   self.core.sequencer.deposit_hashes[:count])  # fmt: skip
                scratch = LayeredStore(self.db.nodes)
                roots = trace(StateOverlay(scratch, record.prev_root), list(record.txs), ctx)
            if roots[-1] != record.post_root:
                raise OptiRollupError(f"batch {index} no longer replays to its sealed root")
            cached = self._traces[index] = _BatchTrace(roots, list(record.txs), ctx)
        return cached

    def _step_source(self, game: Any, tx_index: int) -> StepInputs:
        t = self._batch_trace(game.batch_index)
        with self.lock:
            scratch = LayeredStore(self.db.nodes)
            return step_inputs(scratch, t.roots[tx_index], t.txs, tx_index, t.ctx)

    def _defend(self) -> None:
        head = int(self.w3.eth.block_number)
        if head >= self._games_from:
            for ev in self.game.events.GameOpened().get_logs(
                from_block=self._games_from, to_block=head
            ):
                if str(ev["args"]["asserter"]).lower() == self.proposer.address.lower():
                    self._games.add(int(ev["args"]["game_id"]))
            self._games_from = head + 1
        for game_id in sorted(self._games):
            view = read_game(self.game, game_id, rollup=self.rollup)
            if view.status is not Status.ACTIVE:
                # Over: claim what we won (the trace plays no part any more).
                done = ListTrace([view.root_lo, view.root_hi])
                self.responder.act_all(solve(view, ASSERTER, done, view.l1_time))
                self._games.discard(game_id)
                continue
            trace_ = ListTrace(self._batch_trace(view.batch_index).roots)
            sent = self.responder.act_all(solve(view, ASSERTER, trace_, view.l1_time))
            if sent:
                log.info("game.answered", game_id=game_id, moves=len(sent))

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, *, serve: bool = True) -> None:
        """Start the loop thread and (if ``serve``) the HTTP server thread."""
        if serve:
            import uvicorn

            from optirollup.api.app import create_app

            app = create_app(self.core, self.batch_clock, lock=self.lock)
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
            except Exception as err:  # keep serving; L1 may be briefly unreachable
                log.error("node.tick_failed", err=str(err))
            self._stop.wait(self.config.poll_seconds)

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
