"""The node's L1 shell: follow the Vault's deposit queue, post sealed batches, finalize them.

Each class is a thin web3.py wrapper with no state of its own beyond a read cursor: everything
it needs to resume after a crash is read back from L1 (the queue length, the Rollup's batch
count and roots), so a restart loses only time. Transactions are sent with
:func:`optirollup.l1.deploy.send` (an unlocked dev address or a local key).

* :class:`DepositFollower` reads the Vault's ``DepositQueued`` events and checks each against
  ``deposit_hashes(index)``, yielding the DEPOSIT transaction the sequencer includes.
* :class:`BatchPoster` proposes sealed :class:`~optirollup.executor.BatchRecord` s in order. It is
  idempotent: a batch the Rollup already holds with the same roots (sent before a crash) is
  reported as posted, not sent again; a different batch at that index is an error.
* :func:`finalize_due` finalizes every batch whose window has passed and that has no open game
  (``on_final`` is called after each finalize is mined: the runner records and counts it there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from optirollup.codec.tx import Deposit as DepositTx
from optirollup.codec.tx import encode_tx
from optirollup.executor.sequencer import BatchRecord, ExecutorError
from optirollup.hashing import keccak
from optirollup.l1.deploy import Sender, send

__all__ = ["BatchPoster", "Deposit", "DepositFollower", "PostError", "finalize_due"]

log = structlog.get_logger("optirollup.executor")


class PostError(ExecutorError):
    """L1 holds something other than what this node sealed (another proposer, or a reorg)."""


@dataclass(frozen=True, slots=True)
class Deposit:
    """One entry of the Vault's queue, as the DEPOSIT transaction that consumes it."""

    index: int
    account: bytes
    amount: int
    hash: bytes
    block: int

    @property
    def tx(self) -> bytes:
        """Return the DEPOSIT transaction (its keccak is :attr:`hash`)."""
        return encode_tx(DepositTx(self.index, self.account, self.amount))


class DepositFollower:
    """Read the Vault's queue in order, from its deployment block on."""

    def __init__(self, w3: Web3, vault: Contract, from_block: int, confirmations: int = 0) -> None:
        """Follow ``vault`` from ``from_block``; ignore the last ``confirmations`` blocks."""
        self._w3 = w3
        self._vault = vault
        self._next_block = from_block
        self._confirmations = confirmations
        self._pending: dict[int, Deposit] = {}

    @property
    def next_block(self) -> int:
        """Return the first L1 block this follower has not read yet."""
        return self._next_block

    def poll(self, known: int) -> list[Deposit]:
        """Return the deposits ``known, known + 1, …`` visible now, in order (maybe none).

        Raise :class:`PostError` if an event disagrees with ``deposit_hashes`` (a reorg that
        changed the queue, or a wrong Vault address).
        """
        head = int(self._w3.eth.block_number) - self._confirmations
        if head >= self._next_block:
            events = self._vault.events.DepositQueued().get_logs(
                from_block=self._next_block, to_block=head
            )
            for ev in events:
                args = ev["args"]
                d = Deposit(
                    int(args["index"]),
                    bytes.fromhex(str(args["l2_account"])[2:]),
                    int(args["amount"]),
                    bytes(args["hash"]),
                    int(ev["blockNumber"]),
                )
                if keccak(d.tx) != d.hash:
                    raise PostError(
                        f"deposit {d.index}: the event's hash 0x{d.hash.hex()} is not its DEPOSIT's"
                    )
                self._pending[d.index] = d
            self._next_block = head + 1
        out: list[Deposit] = []
        while (nxt := self._pending.get(known + len(out))) is not None:
            on_chain = bytes(self._vault.functions.deposit_hashes(nxt.index).call())
            if on_chain != nxt.hash:
                raise PostError(
                    f"deposit {nxt.index}: the Vault holds 0x{on_chain.hex()}, the event said "
                    f"0x{nxt.hash.hex()}"
                )
            out.append(nxt)
        for taken in out:
            del self._pending[taken.index]
        return out


class BatchPoster:
    """Propose sealed batches on the Rollup, in order, exactly once each."""

    def __init__(self, w3: Web3, rollup: Contract, sender: Sender) -> None:
        """Post to ``rollup`` from ``sender`` (the registered proposer)."""
        self._w3 = w3
        self._rollup = rollup
        self._sender = sender

    def posted_count(self) -> int:
        """Return how many batches the Rollup holds (pending or final)."""
        return int(self._rollup.functions.batch_count().call())

    def post(self, record: BatchRecord) -> str | None:
        """Propose ``record`` unless the Rollup already holds it; return the tx hash or None.

        Raise :class:`PostError` if the Rollup's chain does not end where ``record`` starts, or
        if it holds a different batch at ``record.index``.
        """
        count = self.posted_count()
        if count > record.index:
            on_chain = self._rollup.functions.batch(record.index).call()
            prev, new = bytes(on_chain[0]), bytes(on_chain[1])
            if (prev, new) != (record.prev_root, record.post_root):
                raise PostError(
                    f"batch {record.index} on L1 goes 0x{prev.hex()[:16]}… -> 0x{new.hex()[:16]}…, "
                    f"this node sealed 0x{record.prev_root.hex()[:16]}… -> "
                    f"0x{record.post_root.hex()[:16]}…"
                )
            log.info("batch.already_posted", batch_index=record.index)
            return None
        if count < record.index:
            raise PostError(f"batch {record.index} cannot be posted before batch {count}")
        last = bytes(self._rollup.functions.last_root().call())
        if last != record.prev_root:
            raise PostError(
                f"batch {record.index} starts at 0x{record.prev_root.hex()}, L1's last root is "
                f"0x{last.hex()}"
            )
        fn = self._rollup.functions.propose(
            record.prev_root, record.post_root, record.batch_time, record.calldata
        )
        tx: dict[str, Any] = {"to": self._rollup.address, "data": fn._encode_transaction_data()}
        receipt = send(self._w3, self._sender, tx, f"propose batch {record.index}")  # type: ignore[arg-type]
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        log.info(
            "batch.posted",
            batch_index=record.index,
            state_root="0x" + record.post_root.hex(),
            tx_hash=tx_hash,
            l1_block=int(receipt["blockNumber"]),
            gas=int(receipt["gasUsed"]),
        )
        return tx_hash


def finalize_due(
    w3: Web3,
    rollup: Contract,
    game: Contract,
    sender: Sender,
    indices: Sequence[int] | None = None,
    *,
    on_final: Callable[[int], None] | None = None,
) -> list[int]:
    """Finalize, in order, every pending batch that can be; return the indices finalized.

    Stops at the first batch whose window is still open or that has an open game. Calls
    ``on_final(index)`` after each finalize transaction succeeded.
    """
    done: list[int] = []
    window = int(rollup.functions.CHALLENGE_WINDOW().call())
    now = int(w3.eth.get_block("latest")["timestamp"])
    count = int(rollup.functions.batch_count().call())
    i = int(rollup.functions.final_count().call())
    while i < count and (indices is None or i in indices):
        b = rollup.functions.batch(i).call()
        proposed_at, nonce = int(b[5]), int(b[7])
        if now < proposed_at + window or int(game.functions.open_games(i, nonce).call()) > 0:
            break
        try:
            fn = rollup.functions.finalize(i)
            tx: dict[str, Any] = {"to": rollup.address, "data": fn._encode_transaction_data()}
            send(w3, sender, tx, f"finalize batch {i}")  # type: ignore[arg-type]
        except ContractLogicError as err:  # raced by another finalizer: read again next time
            log.warning("batch.finalize_failed", batch_index=i, err=str(err))
            break
        log.info("batch.finalized", batch_index=i)
        done.append(i)
        if on_final is not None:
            on_final(i)
        i += 1
    return done
