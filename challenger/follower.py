"""Follow the Rollup, the Vault and the DisputeGame on L1: logs in, core records out.

Shell layer (web3.py, wall-clock sleeps between retries). Nothing here comes from the node:

* :meth:`Follower.scan` reads every ``BatchProposed``, ``BatchesDeleted``, ``BatchFinalized``,
  ``DepositQueued`` and ``GameOpened`` log from the cursor to the head (one ``eth_getLogs`` per
  chunk of blocks, for the three contracts at once), turns them into
  :data:`challenger.core.L1Event` s and appends them to the :class:`~challenger.core.ChainLog`.
  A proposal's ``proposed_at`` is its block's timestamp. A scan is kept only if, after the logs
  were read, the head's hash is the same as before and the newest block read by earlier scans
  is still on the chain (else the chain moved under it: the next tick undoes the reorg and reads
  again), and the head it reached is remembered in the :class:`~challenger.core.BlockTrail`.
* :meth:`Follower.check_reorg` (first thing every tick) compares the newest remembered hash with
  the chain's; on a change it finds the newest remembered block still on the chain, rolls the
  log back to it and moves the cursor to the block after it.
* :meth:`Follower.proposal_inputs` fetches the input of a proposal transaction, or the inputs
  of the calls to ``Rollup.propose`` it made from a contract (the batch's transactions, decoded
  by :mod:`challenger.calldata`), :meth:`Follower.deposit_hash` one entry of the Vault's queue
  (for entries queued before the first block followed).

Every RPC goes through :class:`Rpc`: transport errors (connection refused or reset, timeouts)
are retried with exponential backoff, then raise :class:`~challenger.errors.L1Unreachable`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import structlog
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound, TransactionNotFound, Web3RPCError
from web3.types import LogReceipt

from challenger.calldata import PROPOSE_SELECTOR
from challenger.core import (
    BatchesDeleted,
    BatchFinalized,
    BatchProposed,
    BlockTrail,
    ChainLog,
    DepositQueued,
    GameOpened,
    GameRef,
    L1Event,
    ProposedBatch,
)
from challenger.errors import BadCalldata, L1Unreachable, ProposalNotFound
from optirollup.codec.tx import Deposit, encode_tx
from optirollup.dispute.responder import TRANSIENT
from optirollup.hashing import keccak

__all__ = ["BlockRef", "Follower", "Reorg", "Rpc"]

log = structlog.get_logger("optirollup.challenger")

T = TypeVar("T")


class Rpc:
    """Run L1 calls, retrying transport errors with exponential backoff."""

    def __init__(
        self,
        *,
        retries: int = 5,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        """Try each call ``1 + retries`` times, sleeping ``backoff · 2^attempt`` s in between.

        ``on_error`` is called on every failed attempt (a metrics counter).
        """
        if retries < 0 or backoff < 0:
            raise ValueError("retries and backoff must not be negative")
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._on_error = on_error

    def __call__(self, what: str, fn: Callable[[], T]) -> T:
        """Return ``fn()``; raise :class:`L1Unreachable` once every attempt failed."""
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except TRANSIENT as err:
                if self._on_error is not None:
                    self._on_error()
                if attempt == self.retries:
                    raise L1Unreachable(
                        f"{what}: L1 unreachable after {attempt + 1} attempts ({err}); check "
                        "the RPC endpoint (--rpc-url)"
                    ) from err
                log.warning("l1.rpc_failed", action=what, attempt=attempt + 1, err=str(err))
                self._sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block's number, hash and timestamp."""

    number: int
    hash: bytes
    timestamp: int


@dataclass(frozen=True, slots=True)
class Reorg:
    """A reorg :meth:`Follower.check_reorg` found and undid."""

    common: int | None
    """The newest block read before that is still on the chain (None: none is; re-read all)."""
    old_head: int
    """The newest block read before."""
    dropped: int
    """Events dropped from the log."""


class _ChainMoved(Exception):
    """A log's block is no longer on the chain: the scan is thrown away."""


_EVENTS = {
    "Rollup": ("BatchProposed", "BatchesDeleted", "BatchFinalized"),
    "Vault": ("DepositQueued",),
    "DisputeGame": ("GameOpened",),
}


class Follower:
    """Read the challenger's L1 inputs from ``start_block`` on (see the module notes)."""

    def __init__(
        self,
        w3: Web3,
        *,
        rollup: Contract,
        vault: Contract,
        game: Contract,
        start_block: int,
        rpc: Rpc,
        chunk: int = 2_000,
        trail: BlockTrail | None = None,
    ) -> None:
        """Follow the three contracts from ``start_block``; read logs ``chunk`` blocks at a time."""
        if start_block < 0 or chunk < 1:
            raise ValueError("start_block ≥ 0 and chunk ≥ 1")
        self.w3 = w3
        self.rollup = rollup
        self.vault = vault
        self.game = game
        self.start_block = start_block
        self.cursor = start_block
        self.rpc = rpc
        self.chunk = chunk
        self.trail = trail or BlockTrail()
        contracts = {"Rollup": rollup, "Vault": vault, "DisputeGame": game}
        self._by_topic: dict[bytes, tuple[Contract, str]] = {}
        for name, events in _EVENTS.items():
            contract = contracts[name]
            for ev in events:
                topic = bytes.fromhex(str(contract.events[ev].topic).removeprefix("0x"))
                self._by_topic[topic] = (contract, ev)
        self._addresses = [to_checksum_address(c.address) for c in contracts.values()]

    # -- blocks ---------------------------------------------------------------------------------

    def head(self) -> BlockRef:
        """Return the latest block."""
        ref = self.block("latest")
        if ref is None:  # pragma: no cover - a node always has a latest block
            raise L1Unreachable("the node returned no latest block")
        return ref

    def block(self, number: int | str) -> BlockRef | None:
        """Return block ``number`` (or ``"latest"``), None if the chain is not that long."""

        def get() -> Any:
            try:
                return self.w3.eth.get_block(number)  # type: ignore[arg-type]
            except BlockNotFound:  # past the head
                return None

        b = self.rpc(f"read block {number}", get)
        if b is None:
            return None
        return BlockRef(int(b["number"]), bytes(b["hash"]), int(b["timestamp"]))

    # -- reorgs ---------------------------------------------------------------------------------

    def check_reorg(self, chain: ChainLog) -> Reorg | None:
        """Undo what a reorg changed since the last scan; return it, or None if there was none."""
        newest = self.trail.newest()
        if newest is None:
            return None
        height, block_hash = newest
        now = self.block(height)
        if now is not None and now.hash == block_hash:
            return None

        def current(h: int) -> bytes | None:
            ref = self.block(h)
            return None if ref is None else ref.hash

        common = self.trail.common(current)
        if common is None:
            dropped = chain.rollback(self.start_block - 1)
            self.trail.clear()
            self.cursor = self.start_block
        else:
            dropped = chain.rollback(common)
            self.trail.forget_above(common)
            self.cursor = common + 1
        return Reorg(common, height, dropped)

    # -- logs -----------------------------------------------------------------------------------

    def scan(self, head: BlockRef, chain: ChainLog) -> list[L1Event] | None:
        """Read the logs from the cursor to ``head`` into ``chain``; return the new events.

        Return None (and keep nothing) if the chain moved under the scan: the caller reads
        again on its next tick.
        """
        if self.cursor > head.number:
            return []
        logs: list[LogReceipt] = []
        for lo in range(self.cursor, head.number + 1, self.chunk):
            hi = min(lo + self.chunk - 1, head.number)
            logs += self._logs_split(lo, hi)
        events: list[L1Event] = []
        times: dict[int, BlockRef | None] = {}
        try:
            for entry in logs:
                ev = self._decode(entry, times)
                if ev is not None:
                    events.append(ev)
        except _ChainMoved:
            return None
        again = self.block(head.number)
        if again is None or again.hash != head.hash:
            return None
        # The head was read after check_reorg: a reorg in between leaves the newest block read
        # before off the head's chain, and the events read from it stale.
        newest = self.trail.newest()
        if newest is not None:
            still = self.block(newest[0])
            if still is None or still.hash != newest[1]:
                return None
        added = chain.extend(events)
        self.trail.remember(head.number, head.hash)
        self.cursor = head.number + 1
        return added

    def _logs_split(self, lo: int, hi: int) -> list[LogReceipt]:
        """Read the logs of blocks ``lo .. hi``, halving the range while the node refuses it
        (providers cap the results of one ``eth_getLogs``)."""
        try:
            return self.rpc(f"read logs {lo}..{hi}", partial(self._logs, lo, hi))
        except Web3RPCError as err:
            if lo == hi:
                raise
            mid = (lo + hi) // 2
            log.info("l1.logs_split", from_block=lo, to_block=hi, err=str(err))
            return self._logs_split(lo, mid) + self._logs_split(mid + 1, hi)

    def _logs(self, lo: int, hi: int) -> list[LogReceipt]:
        params: dict[str, Any] = {
            "fromBlock": lo,
            "toBlock": hi,
            "address": self._addresses,
            "topics": [["0x" + t.hex() for t in self._by_topic]],
        }
        return list(self.w3.eth.get_logs(params))  # type: ignore[arg-type]

    def _decode(self, entry: LogReceipt, blocks: dict[int, BlockRef | None]) -> L1Event | None:
        """Return the event of ``entry`` (None: not one we follow).

        Raise :class:`_ChainMoved` if the log's block is no longer on the chain.
        """
        topics = entry["topics"]
        if not topics or bytes(topics[0]) not in self._by_topic:
            return None
        contract, name = self._by_topic[bytes(topics[0])]
        if to_checksum_address(entry["address"]) != to_checksum_address(contract.address):
            return None
        decoded = contract.events[name]().process_log(entry)
        args = decoded["args"]
        block, index = int(entry["blockNumber"]), int(entry["logIndex"])
        if name == "BatchProposed":
            if block not in blocks:
                blocks[block] = self.block(block)
            ref = blocks[block]
            if ref is None or ref.hash != bytes(entry["blockHash"]):
                raise _ChainMoved(block)
            batch = ProposedBatch(
                index=int(args["index"]),
                nonce=int(args["nonce"]),
                prev_root=bytes(args["prev_root"]),
                new_root=bytes(args["new_root"]),
                tx_root=bytes(args["tx_root"]),
                tx_count=int(args["tx_count"]),
                batch_time=int(args["batch_time"]),
                deposit_count=int(args["deposit_count"]),
                proposed_at=ref.timestamp,
                l1_block=block,
                tx_hash=bytes(entry["transactionHash"]),
            )
            return BatchProposed(block, index, batch)
        if name == "BatchesDeleted":
            return BatchesDeleted(
                block, index, int(args["index"]), int(args["count"]), int(args["slashed"])
            )
        if name == "BatchFinalized":
            return BatchFinalized(block, index, int(args["index"]))
        if name == "DepositQueued":
            q = int(args["index"])
            account = bytes.fromhex(str(args["l2_account"])[2:])
            h = bytes(args["hash"])
            if keccak(encode_tx(Deposit(q, account, int(args["amount"])))) != h:
                log.error("deposit.bad_hash", index=q, hash="0x" + h.hex(), l1_block=block)
                return None
            return DepositQueued(block, index, q, h)
        game = GameRef(
            game_id=int(args["game_id"]),
            batch_index=int(args["batch_index"]),
            batch_nonce=int(args["batch_nonce"]),
            challenger=to_checksum_address(args["challenger"]),
            asserter=to_checksum_address(args["asserter"]),
            l1_block=block,
        )
        return GameOpened(block, index, game)

    # -- single reads ---------------------------------------------------------------------------

    def proposal_inputs(self, batch: ProposedBatch) -> list[bytes]:
        """Return the inputs of the calls to ``Rollup.propose`` that ``batch``'s proposal made.

        A proposer that sends ``propose`` itself: its transaction's input. A contract proposer
        (a multisig, an EIP-7702 account) calls it from inside its transaction, so the inputs
        of its calls to the Rollup are found with ``debug_traceTransaction`` (``callTracer``).
        Raise :class:`ProposalNotFound` if the node does not know the transaction (a node
        behind the one that served the log: try again), :class:`BadCalldata` if its calls
        cannot be read (no call traces on this endpoint).
        """
        tx_hash = "0x" + batch.tx_hash.hex()

        def get() -> Any:
            try:
                return self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return None

        tx = self.rpc(f"read proposal of batch {batch.index}", get)
        if tx is None:
            raise ProposalNotFound(
                f"{batch.describe()}: the node does not know its proposal {tx_hash} (yet)"
            )
        to = tx.get("to")
        rollup = to_checksum_address(self.rollup.address)
        if to is not None and to_checksum_address(to) == rollup:
            return [bytes(tx["input"])]
        reply = self.rpc(
            f"trace proposal of batch {batch.index}",
            lambda: self.w3.provider.make_request(
                "debug_traceTransaction",  # type: ignore[arg-type]
                [tx_hash, {"tracer": "callTracer"}],
            ),
        )
        if "error" in reply or not isinstance(reply.get("result"), dict):
            raise BadCalldata(
                f"{batch.describe()}: proposal {tx_hash} is a call to {to}, not to the Rollup "
                f"{rollup}, so its transactions are in an internal call, and the endpoint's "
                f"debug_traceTransaction (callTracer) that finds it failed "
                f"({reply.get('error')}); use an RPC endpoint that serves call traces"
            )
        return _propose_calls(reply["result"], rollup)

    def deposit_hash(self, index: int) -> bytes:
        """Return ``Vault.deposit_hashes(index)``."""
        fn = self.vault.functions.deposit_hashes(index)
        return bytes(self.rpc(f"read deposit {index}", fn.call))


def _propose_calls(frame: dict[str, Any], rollup: str) -> list[bytes]:
    """Return the inputs of the successful ``CALL`` s to ``rollup``'s ``propose`` in a
    ``callTracer`` tree, in execution order."""
    out: list[bytes] = []
    to, data = frame.get("to"), str(frame.get("input", "0x"))
    raw = bytes.fromhex(data.removeprefix("0x")) if len(data) % 2 == 0 else b""
    if (
        frame.get("type") == "CALL"
        and "error" not in frame
        and to is not None
        and to_checksum_address(str(to)) == rollup
        and raw[:4] == PROPOSE_SELECTOR
    ):
        out.append(raw)
    for child in frame.get("calls") or []:
        out += _propose_calls(child, rollup)
    return out
