"""``challenger run``: the watchtower loop around the pure core, the follower and the responder.

Shell layer. One :class:`Challenger` owns a web3 connection, its LevelDB
(:class:`~challenger.store.TraceStore`), a :class:`~challenger.follower.Follower` and a
:class:`~optirollup.dispute.responder.Responder` signing with the challenger's key. Each
:meth:`Challenger.tick`

1. undoes a reorg if the newest block it read is no longer on the chain
   (:meth:`~challenger.follower.Follower.check_reorg`), then reads the new logs up to the head;
2. checks batches (:func:`challenger.core.walk`): the post-root of each batch on the honest chain
   comes from the trace store, or from a check with the reference STF
   (:func:`challenger.replay.check_batch`: the post-root only, from its own previous root)
   whose post-root and post-state are then stored atomically. Checks stop for this tick after
   ``replay_budget`` seconds so that games are never starved; a batch whose inputs cannot be
   read from L1 right now waits for the next tick;
3. plays every game where it is the challenger, each on its own (one that fails is logged and
   does not hold up the others), even when step 1 or 2 failed: reads it from L1
   (:func:`~optirollup.dispute.responder.read_game`), asks
   :func:`~optirollup.dispute.solve` for the moves over its own trace and hands them to the
   responder, which sends each at most once per process; one-step witnesses are cut from its
   own store (:func:`~optirollup.dispute.witness.step_inputs`). The trace of a game's batch
   comes from memory, the store, or is built now (:func:`challenger.replay.trace_batch`, from
   the pre-state it holds). Over games are claimed (bond and half of the slashed stake when
   won, the bond back when void) and then left alone;
4. updates the metrics (:mod:`challenger.metrics`);
5. opens the games :func:`challenger.core.plan_opens` asks for, paying the challenger bond,
   each only once the per-transaction trace of its batch is stored
   (:func:`challenger.replay.trace_batch`, built here, after the games were served, for the
   batches it disputes and only for them; an open whose trace cannot be built now waits for
   the next tick): an :class:`~optirollup.dispute.solver.Open` the responder sends like any
   move, committed to the hash of the very batch judged wrong (``DisputeGame.open(index,
   batch_hash)`` reverts ``"dispute: batch changed"`` if the index holds another batch by the
   block it runs in, so the bond is never staked on a batch this challenger did not judge).
   An ``open`` is sent only while none of its own transactions is pending, and only if the
   Rollup still holds that batch at that index (:func:`challenger.core.held`: this only spares
   the gas of an ``open`` bound to revert). The batch is remembered as "opening" until its
   ``GameOpened`` log is read, or until that transaction is found reverted or gone from the
   pool, so a batch never gets two games from one challenger, across restarts too.

Nothing but post-roots, traces, trie nodes and a few flags is kept across restarts: the games,
the batches and the deposit queue are read from L1 again, so a challenger killed mid-game
resumes every game on its next start (within the game's clock). RPC failures are retried with
backoff by the follower and the responder; a tick that fails anyway is logged
(``challenger.tick_failed``) and the loop waits longer before the next one (up to 30 s).

With ``dry_run`` nothing is sent: the decisions are logged (``game.would_open``,
``game.would_move``) instead. ``dishonest_batch`` (tests and demos only) disputes that batch
although it is right, with a lying trace (:func:`optirollup.l1.gasprobe.lie_after` at
:func:`challenger.core.lie_index`), and loses its bond.

Log events: ``challenger.started``, ``challenger.dishonest``, ``l1.reorg``, ``batch.replayed``
(a check), ``batch.traced``, ``batch.checked`` (``batch_index``, ``nonce``, ``ok``),
``batch.wrong_root``, ``batch.unreadable``, ``batch.replay_deferred``, ``batch.window_closed``,
``chain.diverged``, ``game.opened`` (``game_id``, ``batch_index``), ``game.open_skipped``,
``game.open_untraced``, ``game.open_dropped``, ``game.moved``, ``game.play_failed``,
``game.resolved`` (``game_id``, ``winner``), ``bond.claimed`` (``amount``), plus the
responder's ``game.move_*``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.logs import DISCARD

from challenger.calldata import transactions_in
from challenger.core import (
    ChainLog,
    Check,
    Diverged,
    GameRef,
    Open,
    ProposedBatch,
    TooLate,
    Verdict,
    Walk,
    first_unjudged,
    held,
    lie_index,
    plan_opens,
    plays_lying,
    trace_key,
    walk,
)
from challenger.errors import (
    BadCalldata,
    ChallengerError,
    DeploymentMismatch,
    GenesisMismatch,
    L1Unreachable,
    ProposalNotFound,
    ReplayMismatch,
)
from challenger.follower import BlockRef, Follower, Reorg, Rpc
from challenger.metrics import Metrics
from challenger.replay import check_batch, trace_batch
from challenger.store import TraceStore
from optirollup.codec import eip712
from optirollup.dispute.game import CHALLENGER, GameView, Status
from optirollup.dispute.responder import NoSuchGame, Responder, ResponderError
from optirollup.dispute.solver import Action, Claim, ListTrace, Step, solve
from optirollup.dispute.solver import Open as OpenGame
from optirollup.dispute.witness import StepInputs, step_inputs
from optirollup.hashing import keccak
from optirollup.l1.deploy import Deployment, bind
from optirollup.l1.gasprobe import lie_after
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import genesis_root
from optirollup.state.store import LayeredStore, MemoryStore
from optirollup.stf import BatchContext

__all__ = ["Challenger", "ChallengerConfig"]

log = structlog.get_logger("optirollup.challenger")

_TRACE_CACHE = 16
"""Full traces kept in memory (the ones of games being played)."""
_SIGNER_CACHE = 200_000
"""Recovered signers memoized across batches before the memo is reset."""


@dataclass(frozen=True)
class ChallengerConfig:
    """Everything one challenger needs (the CLI fills it from flags and the devnet file)."""

    rpc_url: str
    deployment: Deployment
    data_dir: Path
    key: bytes
    """The challenger's private key: it pays the bonds and signs every move."""
    oracle_address: bytes
    """The genesis oracle (the genesis state is built from it and checked against the Rollup)."""
    from_block: int | None = None
    """First L1 block to read (None: the deployment block)."""
    poll_seconds: float = 0.5
    dry_run: bool = False
    dishonest_batch: int | None = None
    """Tests and demos only: dispute this batch with a lying trace although it is right."""
    replay_budget: float = 2.0
    """Seconds of checking per tick before the games are served again."""
    receipt_timeout: float = 5.0
    """Seconds to wait for a sent transaction's receipt before moving on (a pending move is
    remembered and not sent again), so one slow game does not hold up the others."""
    retries: int = 5
    backoff: float = 0.25


class Challenger:
    """The watchtower: follow, replay, dispute, claim (see the module notes)."""

    def __init__(
        self,
        config: ChallengerConfig,
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Connect to L1, check the deployment and the genesis, open the data directory.

        Raise :class:`~challenger.errors.L1Unreachable` if no node answers,
        :class:`~challenger.errors.DeploymentMismatch` if the chain is not the deployment's,
        :class:`~challenger.errors.GenesisMismatch` if the oracle's genesis is not the Rollup's,
        :class:`~optirollup.state.store.StoreLocked` if another process uses the data directory.
        """
        c = self.config = config
        self.metrics = metrics or Metrics()
        self._clock = clock
        self.rpc = Rpc(
            retries=c.retries, backoff=c.backoff, sleep=sleep, on_error=self.metrics.rpc_errors.inc
        )
        self.w3 = Web3(
            Web3.HTTPProvider(
                c.rpc_url, request_kwargs={"timeout": 30}, exception_retry_configuration=None
            )
        )
        dep = c.deployment
        self.rollup = bind(self.w3, "Rollup", dep.rollup)
        self.vault = bind(self.w3, "Vault", dep.vault)
        self.game = bind(self.w3, "DisputeGame", dep.dispute_game)
        self._check_chain(sleep)
        self.account: LocalAccount = Account.from_key(c.key)
        self.address = to_checksum_address(self.account.address)
        self.separator = eip712.Domain(dep.chain_id, bytes.fromhex(dep.vault[2:])).separator
        self.window = int(self.rpc("read window", self.rollup.functions.CHALLENGE_WINDOW().call))
        self.bond = int(self.rpc("read bond", self.game.functions.CHALLENGER_BOND().call))
        chain_genesis = bytes(self.rpc("read genesis", self.rollup.functions.GENESIS_ROOT().call))

        genesis = genesis_root(MemoryStore(), c.oracle_address)
        if genesis != chain_genesis:
            raise GenesisMismatch(
                f"the genesis state of oracle 0x{c.oracle_address.hex()} has root "
                f"0x{genesis.hex()}, the Rollup at {dep.rollup} was deployed with "
                f"0x{chain_genesis.hex()}: the devnet file's oracle is not this deployment's "
                "(wrong --devnet-file?)"
            )
        c.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = LevelDB(c.data_dir / "state")
        self.genesis = genesis_root(self.db.nodes, c.oracle_address)
        self.store = TraceStore(self.db)
        self.chain = ChainLog()
        self.follower = Follower(
            self.w3,
            rollup=self.rollup,
            vault=self.vault,
            game=self.game,
            start_block=dep.block if c.from_block is None else c.from_block,
            rpc=self.rpc,
        )
        self.responder = Responder(
            self.game,
            self.account,
            self._step_source,
            retries=c.retries,
            backoff=c.backoff,
            receipt_timeout=c.receipt_timeout,
            sleep=sleep,
        )
        self._keys: dict[ProposedBatch, bytes] = {}
        self._post: dict[bytes, bytes] = {}
        self._traces: OrderedDict[bytes, list[bytes]] = OrderedDict()
        self._txs: OrderedDict[tuple[int, int], list[bytes]] = OrderedDict()
        self._replayed: set[bytes] = set()
        self._unreadable: set[tuple[int, int]] = set()
        self._reported: set[tuple[Any, ...]] = set()
        self._checks: dict[tuple[int, int], Check] = {}
        self._status: dict[int, GameView] = {}
        self._done: set[int] = set()
        self._opening: dict[tuple[int, int], str] = {}
        self._signers: dict[tuple[bytes, bytes], bytes] = {}
        self._deadline = 0.0
        self.head: BlockRef | None = None
        balance = int(self.rpc("read balance", lambda: self.w3.eth.get_balance(self.address)))
        log.info(
            "challenger.started",
            address=self.address,
            rpc_url=c.rpc_url,
            rollup=dep.rollup,
            from_block=self.follower.start_block,
            data_dir=str(c.data_dir),
            dry_run=c.dry_run,
            dishonest_batch=c.dishonest_batch,
            balance_wei=balance,
        )
        if c.dishonest_batch is not None:
            log.warning(
                "challenger.dishonest",
                batch_index=c.dishonest_batch,
                hint="tests and demos only: it disputes that batch with a lying trace and loses "
                "the bond; unset --dishonest-batch (CHALLENGER_DISHONEST_BATCH)",
            )
        if balance < self.bond and not c.dry_run:
            log.warning(
                "challenger.underfunded",
                address=self.address,
                balance_wei=balance,
                bond_wei=self.bond,
                hint="fund this address: it cannot open a game without the challenger bond",
            )

    def _check_chain(self, sleep: Callable[[float], None]) -> None:
        c, dep = self.config, self.config.deployment
        probe = Rpc(retries=2, backoff=0.25, sleep=sleep)
        try:
            chain_id = int(probe("read chain id", lambda: self.w3.eth.chain_id))
        except L1Unreachable as err:
            raise L1Unreachable(
                f"no JSON-RPC node answers at {c.rpc_url} ({err.__cause__}); start the devnet "
                "(`optirollup devnet`) or pass --rpc-url"
            ) from err
        if chain_id != dep.chain_id:
            raise DeploymentMismatch(
                f"{c.rpc_url} serves chain {chain_id}, the deployment file's chain is "
                f"{dep.chain_id}: pass the matching --rpc-url or --devnet-file"
            )
        for name, address in (("Rollup", dep.rollup), ("DisputeGame", dep.dispute_game)):
            code = probe(f"read {name} code", partial(self._code, address))
            if not code:
                raise DeploymentMismatch(
                    f"no {name} contract at {address} on {c.rpc_url}: the deployment file "
                    "describes another chain (was the devnet restarted? run `optirollup devnet` "
                    "again and use the file it writes)"
                )
        # A Vault of another deployment would give another EIP-712 domain and deposit queue:
        # every right batch would replay "wrong" and every bond be lost.
        wiring = (
            ("Rollup.VAULT()", self.rollup.functions.VAULT(), dep.vault),
            ("Rollup.dispute_game()", self.rollup.functions.dispute_game(), dep.dispute_game),
            ("DisputeGame.ROLLUP()", self.game.functions.ROLLUP(), dep.rollup),
            ("DisputeGame.VAULT()", self.game.functions.VAULT(), dep.vault),
        )
        for what, fn, want in wiring:
            try:
                got = str(probe(f"read {what}", fn.call))
            except (ContractLogicError, Web3RPCError, ValueError) as err:
                got = f"unreadable ({err})"
            if got.lower() != want.lower():
                raise DeploymentMismatch(
                    f"{what} is {got}, the deployment file says {want}: the file mixes two "
                    "deployments; use the file `optirollup devnet` wrote for this one"
                )

    def _code(self, address: str) -> bytes:
        return bytes(self.w3.eth.get_code(to_checksum_address(address)))

    # -- the loop -------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Tick every ``poll_seconds`` until ``stop`` is set; a failing tick backs off."""
        failures = 0
        while not stop.is_set():
            try:
                self.tick()
                failures = 0
            except Exception as err:  # keep watching: L1 may be briefly unreachable
                failures += 1
                log.error(
                    "challenger.tick_failed",
                    err=f"{type(err).__name__}: {err}",
                    failures=failures,
                )
            pause = self.config.poll_seconds
            if failures:
                pause = min(30.0, max(pause, 0.1) * 2 ** min(failures, 10))
            stop.wait(pause)

    def tick(self) -> None:
        """Run one round: reorgs, new logs, checks, games, metrics, opens (module notes).

        The games are played even when reading L1 or checking batches failed (their clocks
        run); that error is raised afterwards, so :meth:`run` backs off. One game's failure
        never stops the others (:meth:`_play`).
        """
        try:
            head = self._follow()
            w = self._check()
        except Exception:
            self._play()
            raise
        self._play()
        self._update_metrics(w, head)
        self._open(w, head)

    def _follow(self) -> BlockRef:
        """Undo a reorg, then read the new logs up to the head; return the head."""
        reorg = self.follower.check_reorg(self.chain)
        if reorg is not None:
            self._on_reorg(reorg)
        head = self.head = self.follower.head()
        self.metrics.head.set(head.number)
        if self.follower.scan(head, self.chain) is None:
            log.info("l1.moved", l1_block=head.number, hint="the chain moved during the scan")
        return head

    def close(self) -> None:
        """Close the database (idempotent)."""
        if not self.db.closed:
            self.db.close()

    def _on_reorg(self, reorg: Reorg) -> None:
        log.warning(
            "l1.reorg",
            old_head=reorg.old_head,
            common=reorg.common,
            from_block=self.follower.cursor,
            events_dropped=reorg.dropped,
        )
        self.metrics.reorgs.inc()
        # Content-addressed traces stay valid; everything keyed by (index, nonce) or game id may
        # now mean something else.
        self._keys.clear()
        self._txs.clear()
        self._unreadable.clear()
        self._opening.clear()
        self._status.clear()
        self._done.clear()
        self._checks.clear()

    # -- batches --------------------------------------------------------------------------------

    def _check(self) -> Walk:
        """Give every batch a verdict, replaying within this tick's budget; log new verdicts."""
        self._deadline = self._clock() + self.config.replay_budget
        view = self.chain.view
        w = walk(view.ordered(), self.genesis, self._post_root, has_state=self.store.has_state,
                 unreadable=self._unreadable)  # fmt: skip
        if w.next_replay is not None and w.next_replay.key in self._unreadable:
            w = walk(view.ordered(), self.genesis, self._post_root,
                     has_state=self.store.has_state, unreadable=self._unreadable)  # fmt: skip
        self._checks = w.by_key()
        self._report(w)
        return w

    def _trace_key(self, b: ProposedBatch) -> bytes:
        key = self._keys.get(b)
        if key is None:
            view = self.chain.view
            for i in view.missing_deposits(b.deposit_count):
                self.chain.add_deposit(i, self.follower.deposit_hash(i))
            key = self._keys[b] = trace_key(b, view.deposit_digest(b.deposit_count), self.separator)
        return key

    def _post_root(self, b: ProposedBatch) -> bytes | None:
        """Return our post-root of ``b``: cached, stored, or checked now (within the budget).

        None when it is not known this round: out of budget, its inputs could not be read
        from L1 now (tried again next round), or unreadable for good (``batch.unreadable``).
        """
        try:
            key = self._trace_key(b)
            root = self._post.get(key) or self.store.post_root(key)
            if root is None:
                if self._clock() >= self._deadline:
                    return None
                root = self._replay(b, key)
        except BadCalldata as err:
            self._unreadable.add(b.key)
            log.error("batch.unreadable", batch_index=b.index, nonce=b.nonce,
                      tx_hash="0x" + b.tx_hash.hex(), err=str(err))  # fmt: skip
            return None
        except (ProposalNotFound, L1Unreachable, Web3RPCError) as err:
            self._once(
                ("deferred", b.key, type(err).__name__),
                "batch.replay_deferred",
                batch_index=b.index,
                nonce=b.nonce,
                err=f"{type(err).__name__}: {err}",
                hint="its inputs are not readable from L1 now; tried again every round",
            )
            return None
        self._post[key] = root
        return root

    def _transactions(self, b: ProposedBatch) -> list[bytes]:
        txs = self._txs.get(b.key)
        if txs is None:
            txs = transactions_in(self.follower.proposal_inputs(b), b)
            self._txs[b.key] = txs
            while len(self._txs) > _TRACE_CACHE:
                self._txs.popitem(last=False)
        return txs

    def _context(self, b: ProposedBatch) -> BatchContext:
        if len(self._signers) > _SIGNER_CACHE:
            self._signers.clear()
        hashes = self.chain.view.deposit_hashes(b.deposit_count)
        return BatchContext(b.batch_time, self.separator, hashes, signer_cache=self._signers)

    def _replay(self, b: ProposedBatch, key: bytes) -> bytes:
        """Check ``b`` from its (our own) previous root: store and return its post-root only."""
        (root,) = self._timed("batch.replayed", b, key, check=True)
        self._replayed.add(key)
        return root

    def _trace(self, b: ProposedBatch, key: bytes) -> list[bytes]:
        """Trace ``b`` (a root after every tx) from its pre-state; store and return the trace."""
        return self._timed("batch.traced", b, key, check=False)

    def _timed(self, event: str, b: ProposedBatch, key: bytes, *, check: bool) -> list[bytes]:
        """Run ``check_batch`` (its post-root) or ``trace_batch`` (every root); count and log it."""
        txs = self._transactions(b)
        ctx = self._context(b)
        started = time.perf_counter()
        if check:
            roots = [check_batch(self.store, key, b.prev_root, txs, ctx)]
        else:
            roots = trace_batch(self.store, key, b.prev_root, txs, ctx)
        seconds = time.perf_counter() - started
        txs_metric, seconds_metric = (
            (self.metrics.replayed_txs, self.metrics.replay_seconds)
            if check
            else (self.metrics.traced_txs, self.metrics.trace_seconds)
        )
        txs_metric.inc(len(txs))
        seconds_metric.inc(seconds)
        log.info(
            event,
            batch_index=b.index,
            nonce=b.nonce,
            txs=len(txs),
            seconds=round(seconds, 4),
            txs_per_s=round(len(txs) / seconds) if seconds > 0 else None,
            state_root="0x" + roots[-1].hex(),
        )
        return roots

    def _remember_trace(self, key: bytes, roots: list[bytes]) -> None:
        self._traces[key] = roots
        self._traces.move_to_end(key)
        while len(self._traces) > _TRACE_CACHE:
            self._traces.popitem(last=False)

    def _full_trace(self, b: ProposedBatch) -> list[bytes]:
        """Return the trace of ``b``: from memory, from the store, or built now (and stored).

        Only batches this challenger plays get here (a game of its own, or an ``open`` about to
        be sent), so only they are ever traced. Raise what reading ``b``'s transactions from L1
        raises, or :class:`~challenger.errors.ReplayMismatch`.
        """
        key = self._trace_key(b)
        roots = self._traces.get(key)
        if roots is None:
            roots = self.store.trace(key)
            if roots is None:
                roots = self._trace(b, key)
            self._remember_trace(key, roots)
        return roots

    def _report(self, w: Walk) -> None:
        for c in w.checks:
            b = c.batch
            mark = (b.index, b.nonce, b.new_root, c.verdict)
            if mark in self._reported or c.verdict is Verdict.UNCHECKED:
                continue
            self._reported.add(mark)
            fields: dict[str, Any] = {
                "batch_index": b.index,
                "nonce": b.nonce,
                "state_root": "0x" + b.new_root.hex(),
                "l1_block": b.l1_block,
            }
            if c.verdict is Verdict.DESCENDANT:
                log.info("batch.skipped", **fields, reason="it descends from a wrong batch, "
                         "which takes it along when deleted")  # fmt: skip
                continue
            if c.verdict is Verdict.UNVERIFIABLE:
                log.warning(
                    "batch.unverifiable",
                    **fields,
                    hint="the state it starts from is not in this data directory: start from "
                    "an earlier --from-block",
                )
                continue
            self.metrics.batches_checked.labels(c.verdict.value).inc()
            key = self._keys.get(b)
            cached = key is not None and key not in self._replayed
            # A restart judges every batch again from its stored post-root: old news for final ones.
            say = log.debug if cached and b.index < self.chain.view.final_count else log.info
            say("batch.checked", **fields, ok=c.verdict is Verdict.OK, txs=b.tx_count,
                verdict=c.verdict.value, cached=cached)  # fmt: skip
            if c.verdict is Verdict.WRONG:
                assert c.own_root is not None
                log.warning(
                    "batch.wrong_root",
                    **fields,
                    expected_root="0x" + c.own_root.hex(),
                    prev_state_root="0x" + b.prev_root.hex(),
                    window_closes_at=b.proposed_at + self.window,
                )

    # -- games ----------------------------------------------------------------------------------

    def _play(self) -> None:
        """Read, solve and answer every game of ours that is not done; never raise.

        One game that cannot be read or answered (an RPC error, a missing trace) is logged
        (``game.play_failed``) and tried again next round: it must not stop the others.
        """
        for ref in sorted(self.chain.view.games.values(), key=lambda r: r.game_id):
            if ref.challenger != self.address or ref.game_id in self._done:
                continue
            try:
                self._play_one(ref)
            except Exception as err:
                log.error("game.play_failed", game_id=ref.game_id, batch_index=ref.batch_index,
                          err=f"{type(err).__name__}: {err}")  # fmt: skip

    def _play_one(self, ref: GameRef) -> None:
        try:
            g = self.responder.read(ref.game_id)
        except NoSuchGame:  # reorged away; the next scan drops its GameOpened
            return
        if (g.batch_index, g.batch_nonce) != ref.batch_key or g.challenger != self.address:
            return  # after a reorg the id may name another game; the log catches up
        self._observe(g)
        roots = self._trace_for(g)
        if roots is None:
            return
        actions = solve(g, CHALLENGER, roots, g.l1_time)
        ok = all(self._act(g, a) for a in actions)
        if not g.active and ok:
            self._done.add(g.game_id)

    def _observe(self, g: GameView) -> None:
        self._status[g.game_id] = g
        if g.active:
            return
        flag = b"resolved/" + keccak(
            f"{self.game.address}/{g.game_id}/{g.batch_index}/{g.batch_nonce}".encode()
        )
        if self.store.flag(flag):
            return
        winner = g.winner()
        log.info(
            "game.resolved",
            game_id=g.game_id,
            batch_index=g.batch_index,
            nonce=g.batch_nonce,
            winner=winner.value if winner is not None else "none (void)",
            won=winner is CHALLENGER,
            status=g.status.name,
            interval=f"[{g.lo}, {g.hi}]",
        )
        self.store.set_flag(flag)

    def _trace_for(self, g: GameView) -> ListTrace | None:
        """Return the trace ``g`` is played with (None: its batch is not judged yet).

        The trace of a live game's batch is built now if it is neither in memory nor stored.
        """
        if not g.active or not g.batch_live:
            return ListTrace([g.root_lo, g.root_hi])  # solve only claims or closes here
        check = self._checks.get((g.batch_index, g.batch_nonce))
        if check is None or check.own_root is None:
            mark = ("untraceable", g.game_id, None if check is None else check.verdict)
            if mark not in self._reported:
                self._reported.add(mark)
                log.warning("game.untraceable", game_id=g.game_id, batch_index=g.batch_index,
                            verdict=None if check is None else check.verdict.value)  # fmt: skip
            return None
        roots = self._full_trace(check.batch)
        if plays_lying(check, self.config.dishonest_batch):
            roots = lie_after(roots, lie_index(len(roots) - 1))
        return ListTrace(roots)

    def _step_source(self, game: GameView, tx_index: int) -> StepInputs:
        """Build ``DisputeGame.step``'s arguments from our own store (the responder calls it)."""
        check = self._checks.get((game.batch_index, game.batch_nonce))
        if check is None:
            raise ChallengerError(f"{game.describe()}: its batch is not in the challenger's view")
        b = check.batch
        roots = self._full_trace(b)
        txs = self._transactions(b)
        return step_inputs(LayeredStore(self.db.nodes), roots[tx_index], txs, tx_index,
                           self._context(b))  # fmt: skip

    def _act(self, g: GameView, action: Action) -> bool:
        """Send ``action`` (or, dry, log it); return False if it failed and must be retried."""
        fields: dict[str, Any] = {
            "game_id": g.game_id,
            "batch_index": g.batch_index,
            "action": action.name,
            "interval": f"[{g.lo}, {g.hi}]",
        }
        if isinstance(action, Step):
            fields["tx_index"] = action.tx_index
        if self.config.dry_run:
            mark = ("would", g.game_id, action.name, g.phase, g.lo, g.hi)
            if mark not in self._reported:
                self._reported.add(mark)
                log.info("game.would_move", **fields)
            return True
        try:
            tx_hash = self.responder.act(action)
        except Exception as err:  # one game's failure must not stop the others this round
            log.error("game.move_failed", **fields, err=f"{type(err).__name__}: {err}")
            return False
        if tx_hash is None:
            return True
        self.metrics.moves.labels(action.name).inc()
        if isinstance(action, Claim):
            amount = self._claimed(tx_hash)
            self.metrics.claimed.inc(amount)
            log.info("bond.claimed", amount=amount, tx_hash=tx_hash, game_id=g.game_id)
        else:
            log.info("game.moved", **fields, tx_hash=tx_hash)
        return True

    def _claimed(self, tx_hash: str) -> int:
        receipt = self.rpc(
            "read claim receipt",
            lambda: self.w3.eth.get_transaction_receipt(tx_hash),  # type: ignore[arg-type]
        )
        events = self.game.events.Claimed().process_receipt(receipt, errors=DISCARD)
        return sum(int(e["args"]["amount"]) for e in events if e["args"]["account"] == self.address)

    # -- opening games --------------------------------------------------------------------------

    def _open(self, w: Walk, head: BlockRef) -> None:
        view = self.chain.view
        ours: dict[tuple[int, int], list[Status]] = defaultdict(list)
        for ref in view.games.values():
            if ref.challenger == self.address:
                seen = self._status.get(ref.game_id)
                status = Status.ACTIVE if seen is None else seen.status
                if seen is not None and status is Status.ACTIVE and not seen.batch_live:
                    status = Status.VOID  # its batch is gone: close_void is due
                ours[ref.batch_key].append(status)
        for key, tx_hash in list(self._opening.items()):
            if key in ours:
                del self._opening[key]
            elif not self.responder.still_counts(tx_hash):
                del self._opening[key]
                log.warning("game.open_dropped", batch_index=key[0], nonce=key[1],
                            tx_hash=tx_hash, hint="opened again if still due")  # fmt: skip
        decisions = plan_opens(
            w.checks,
            ours,
            now=head.timestamp,
            window=self.window,
            final_count=view.final_count,
            in_flight=self._opening,
            dishonest_batch=self.config.dishonest_batch,
        )
        for d in decisions:
            b = d.batch
            if isinstance(d, Open):
                self._send_open(d, len(ours.get(b.key, ())))
            elif isinstance(d, TooLate):
                mark = ("late", b.key, b.new_root)
                if mark not in self._reported:
                    self._reported.add(mark)
                    log.error(
                        "batch.window_closed",
                        batch_index=b.index,
                        nonce=b.nonce,
                        window_closed_at=d.window_closed_at,
                        l1_time=head.timestamp,
                    )
            elif isinstance(d, Diverged):
                mark = ("diverged", b.key, b.new_root)
                if mark not in self._reported:
                    self._reported.add(mark)
                    log.error(
                        "chain.diverged",
                        batch_index=b.index,
                        nonce=b.nonce,
                        state_root="0x" + b.new_root.hex(),
                        hint="a wrong batch is final: L1's state is not the STF's",
                    )

    def _send_open(self, d: Open, games: int) -> None:
        """Open a game on ``d.batch`` through the responder, committed to the batch judged.

        ``games`` is how many games of ours that batch has had (a new ``open`` after a lost
        game is a new turn for the responder, not a repeat of the first).
        """
        b = d.batch
        fields: dict[str, Any] = {"batch_index": b.index, "nonce": b.nonce, "honest": d.honest}
        if self.config.dry_run:
            mark = ("would_open", b.key)
            if mark not in self._reported:
                self._reported.add(mark)
                log.info("game.would_open", **fields, bond_wei=self.bond)
            return
        # Never stake a bond on a batch it could not play: its trace is built and stored (or
        # found) first. Only the batches it disputes are ever traced.
        try:
            self._full_trace(b)
        except Exception as err:  # tried again next round; the other opens go on
            untraced = ("untraced", b.key, b.new_root, type(err).__name__)
            if untraced not in self._reported:
                self._reported.add(untraced)
                say = log.error if isinstance(err, ReplayMismatch) else log.warning
                say("game.open_untraced", **fields, err=f"{type(err).__name__}: {err}",
                    hint="no game without its trace; tried again every round")  # fmt: skip
            return
        me = self.address
        latest = int(self.rpc("read nonce", lambda: self.w3.eth.get_transaction_count(me)))
        pending = int(
            self.rpc("read nonce", lambda: self.w3.eth.get_transaction_count(me, "pending"))
        )
        if pending > latest:  # one of ours is in flight: an open sent before a restart?
            self._once(("waiting", b.key, latest), "game.open_waiting", **fields,
                       reason="a transaction of ours is pending")  # fmt: skip
            return
        # The open commits to the batch judged (its hash): a batch replaced at that index by the
        # time it is mined makes it revert ("dispute: batch changed"), so the bond is never lost
        # on a batch we did not judge. Reading the batch first only spares a doomed open's gas.
        try:
            record = self.rpc("read batch", self.rollup.functions.batch(b.index).call)
        except (ContractLogicError, Web3RPCError) as err:
            record = (f"none ({err})",)
        if not held(b, record):
            self._once(("replaced", b.key, b.new_root), "game.open_skipped", **fields,
                       reason="the Rollup no longer holds this batch at that index")  # fmt: skip
            return
        action = OpenGame(b.index, b.batch_hash, self.bond, prior_games=games)
        try:
            tx_hash = self.responder.act(action)
        except ResponderError as err:
            log.error("game.open_failed", **fields, err=str(err))
            return
        if tx_hash is None:  # the responder logged why (game.move_skipped)
            self._once(("skipped", b.key, b.new_root, games), "game.open_skipped", **fields,
                       reason="the contract rejects it, or it was sent already")  # fmt: skip
            return
        self._opening[b.key] = tx_hash
        self.metrics.moves.labels("open").inc()
        receipt = self.responder.receipt(tx_hash)
        if receipt is None:
            log.warning("game.open_pending", **fields, tx_hash=tx_hash)
            return
        if receipt["status"] != 1:
            del self._opening[b.key]
            log.error("game.open_failed", **fields, tx_hash=tx_hash, reason="reverted")
            return
        events = self.game.events.GameOpened().process_receipt(receipt, errors=DISCARD)
        for ev in events:
            log.info("game.opened", game_id=int(ev["args"]["game_id"]), **fields,
                     tx_hash=tx_hash, bond_wei=self.bond,
                     l1_block=int(receipt["blockNumber"]))  # fmt: skip

    def _once(self, mark: tuple[Any, ...], event: str, **fields: Any) -> None:
        """Log ``event`` at warning level the first time ``mark`` is seen."""
        if mark not in self._reported:
            self._reported.add(mark)
            log.warning(event, **fields)

    # -- metrics --------------------------------------------------------------------------------

    def _update_metrics(self, w: Walk, head: BlockRef) -> None:
        m = self.metrics
        view = self.chain.view
        behind = first_unjudged(w.checks, view.final_count)
        if behind is None:
            m.lag_blocks.set(max(0, head.number - (self.follower.cursor - 1)))
            m.lag_seconds.set(0)
        else:
            m.lag_blocks.set(max(0, head.number - (behind.l1_block - 1)))
            m.lag_seconds.set(max(0, head.timestamp - behind.proposed_at))
        counts = dict.fromkeys(("open", "won", "lost", "void"), 0)
        clocks: dict[int, int] = {}
        for g in self._status.values():
            if g.status is Status.ACTIVE and g.batch_live:
                counts["open"] += 1
                running = g.to_move is CHALLENGER
                left = g.clock_challenger - (head.timestamp - g.last_move_at if running else 0)
                clocks[g.game_id] = max(0, left)
            elif g.status is Status.CHALLENGER_WON:
                counts["won"] += 1
            elif g.status is Status.ASSERTER_WON:
                counts["lost"] += 1
            else:
                counts["void"] += 1
        for state, n in counts.items():
            m.games.labels(state).set(n)
        m.bonds_at_risk.set(counts["open"] * self.bond)
        m.set_clocks(clocks)
