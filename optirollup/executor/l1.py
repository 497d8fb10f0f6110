"""The node's L1 shell: follow the Vault's deposit queue, post sealed batches, finalize them.

Each class is a thin web3.py wrapper whose only state is a read cursor or what it learned from
its own successful transactions: everything it needs to resume after a crash is read back from
L1 (the queue length, the Rollup's batch count and roots), so a restart loses only time.
Transactions are sent with :func:`optirollup.l1.deploy.send` (an unlocked dev address, a local
key, or a :class:`~optirollup.l1.deploy.LocalSender` that keeps the key's nonce).

* :func:`connect` opens the node's HTTP connection to L1: the chain id is cached and the
  environment's proxy and TLS settings are read once, not on every request.
* :class:`DepositFollower` reads the Vault's ``DepositQueued`` events and checks each against
  ``deposit_hashes(index)``, yielding the DEPOSIT transaction the sequencer includes.
* :class:`BatchPoster` proposes sealed :class:`~optirollup.executor.BatchRecord` s in order. It is
  idempotent: a batch the Rollup already holds with the same roots (sent before a crash) is
  reported as posted, not sent again; a different batch at that index is an error. Right after
  its own propose succeeded it knows the Rollup's count and last root without reading them, so
  it reads them again only for the first batch after a start, an error, or a count the caller
  read that differs from what it knows. The propose's gas is :func:`propose_gas` (no
  ``eth_estimateGas``, which would send the whole calldata once more); after a failed propose
  the next one is estimated, so a revert reason surfaces and a bound too low cannot repeat.
* :class:`Finalizer` finalizes every batch whose window has passed and that has no open game
  (``on_final`` is called after each finalize is mined: the runner records and counts it
  there). It remembers when the first pending batch's window closes and reads nothing before
  then; :func:`finalize_due` is one pass of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests
import structlog
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import RPCEndpoint

from optirollup.codec.tx import Deposit as DepositTx
from optirollup.codec.tx import encode_tx
from optirollup.executor.sequencer import BatchRecord, ExecutorError
from optirollup.hashing import keccak
from optirollup.l1.deploy import LocalSender, Sender, send

__all__ = [
    "PROPOSE_GAS_BASE",
    "PROPOSE_GAS_PER_BYTE",
    "PROPOSE_GAS_PER_TX",
    "BatchPoster",
    "Deposit",
    "DepositFollower",
    "Finalizer",
    "PostError",
    "connect",
    "finalize_due",
    "propose_gas",
]

PROPOSE_GAS_BASE = 250_000
"""Gas of ``Rollup.propose`` beyond its calldata and transactions: the base transaction, the
checks, five storage writes and the event (about 130,000 measured)."""
PROPOSE_GAS_PER_BYTE = 40
"""Gas per calldata byte: EIP-7623's floor price of a non-zero byte, which is what a propose of
dense calldata pays on a Prague chain (anvil's: 4,780,960 gas for 119 KB of 450 transactions,
the floor exactly); it covers the standard price (16) and the execution as well."""
PROPOSE_GAS_PER_TX = 8_000
"""Gas per transaction of the batch: its frame read and ``keccak``, and its insertion in the
commitment tree (about 3,400 of execution measured for a FILL)."""

log = structlog.get_logger("optirollup.executor")


class PostError(ExecutorError):
    """L1 holds something other than what this node sealed (another proposer, or a reorg)."""


def connect(rpc_url: str, *, timeout: float = 60) -> Web3:
    """Return a web3.py connection to the L1 node at ``rpc_url`` for a long-running process.

    Only what never changes is cached: the chain id (web3.py's request cache, for
    ``eth_chainId`` alone), and the proxy, TLS and ``.netrc`` settings the environment gives
    for this URL, resolved once here instead of on every request.
    """
    session = requests.Session()
    env = session.merge_environment_settings(rpc_url, {}, None, None, None)
    auth = requests.utils.get_netrc_auth(rpc_url)
    session.trust_env = False
    session.proxies.update(env["proxies"])
    session.verify = env["verify"]
    session.cert = env["cert"]
    if auth is not None:
        session.auth = auth
    provider = Web3.HTTPProvider(
        rpc_url,
        request_kwargs={"timeout": timeout},
        session=session,
        cache_allowed_requests=True,
        cacheable_requests={RPCEndpoint("eth_chainId")},
    )
    return Web3(provider)


def propose_gas(record: BatchRecord, calldata: bytes | None = None) -> int:
    """Return the gas ``Rollup.propose`` of ``record`` is sent with: an upper bound, linear in
    its calldata and transactions (:data:`PROPOSE_GAS_BASE` and the rates after it).

    ``calldata`` is ``record.calldata`` if the caller has it already.
    """
    size = len(record.calldata if calldata is None else calldata)
    data = 4 + 4 * 32 + size + 31  # selector, head words, the padded list
    return PROPOSE_GAS_BASE + PROPOSE_GAS_PER_BYTE * data + PROPOSE_GAS_PER_TX * len(record.txs)


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

    def poll(self, known: int, *, head: int | None = None) -> list[Deposit]:
        """Return the deposits ``known, known + 1, …`` visible now, in order (maybe none).

        ``head`` is the latest block number if the caller has just read it (None: read it).
        Raise :class:`PostError` if an event disagrees with ``deposit_hashes`` (a reorg that
        changed the queue, or a wrong Vault address).
        """
        if head is None:
            head = int(self._w3.eth.block_number)
        head -= self._confirmations
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


_BATCH_COUNT = "0x" + keccak(b"batch_count()")[:4].hex()


class BatchPoster:
    """Propose sealed batches on the Rollup, in order, exactly once each."""

    def __init__(self, w3: Web3, rollup: Contract, sender: Sender | LocalSender) -> None:
        """Post to ``rollup`` from ``sender`` (the registered proposer)."""
        self._w3 = w3
        self._rollup = rollup
        self._sender = sender
        self._tip: tuple[int, bytes] | None = None
        """``(count, last root)`` of the Rollup right after this object's last propose."""
        self._estimate = False
        self._block_gas: int | None = None

    def posted_count(self) -> int:
        """Return how many batches the Rollup holds (pending or final).

        One plain ``eth_call`` (the loop asks every round; web3.py's contract call machinery
        costs four times the round trip).
        """
        call = {"to": self._rollup.address, "data": _BATCH_COUNT}
        answer = self._w3.provider.make_request(RPCEndpoint("eth_call"), [call, "latest"])
        try:
            return int(str(answer["result"]), 16)
        except (KeyError, ValueError) as err:
            raise PostError(
                f"Rollup.batch_count() at {self._rollup.address} failed: {answer.get('error')}"
            ) from err

    def forget(self) -> None:
        """Read the Rollup's count and last root again before the next propose."""
        self._tip = None

    def post(
        self, record: BatchRecord, *, l1_count: int | None = None, base_fee: int | None = None
    ) -> str | None:
        """Propose ``record`` unless the Rollup already holds it; return the tx hash or None.

        ``l1_count`` is the Rollup's batch count if the caller has just read it (None: read
        it); ``base_fee`` the latest block's base fee, likewise. Raise :class:`PostError` if the
        Rollup's chain does not end where ``record`` starts, or if it holds a different batch at
        ``record.index``.
        """
        try:
            return self._post(record, l1_count, base_fee)
        except BaseException:
            self._tip = None
            self._estimate = True
            raise

    def _post(self, record: BatchRecord, l1_count: int | None, base_fee: int | None) -> str | None:
        tip = self._tip
        count = l1_count if l1_count is not None else tip[0] if tip else self.posted_count()
        if tip is not None and tip[0] != count:
            tip = self._tip = None  # the caller saw another count: a deletion; read again
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
        last = tip[1] if tip is not None else bytes(self._rollup.functions.last_root().call())
        if last != record.prev_root:
            raise PostError(
                f"batch {record.index} starts at 0x{record.prev_root.hex()}, L1's last root is "
                f"0x{last.hex()}"
            )
        calldata = record.calldata
        fn = self._rollup.functions.propose(
            record.prev_root, record.post_root, record.batch_time, calldata
        )
        tx: dict[str, Any] = {"to": self._rollup.address, "data": fn._encode_transaction_data()}
        if not self._estimate and not isinstance(self._sender, str):
            if self._block_gas is None:
                self._block_gas = int(self._w3.eth.get_block("latest")["gasLimit"])
            tx["gas"] = min(propose_gas(record, calldata), self._block_gas)
        what = f"propose batch {record.index}"
        if isinstance(self._sender, LocalSender):
            receipt = self._sender.send(self._w3, tx, what, base_fee=base_fee)  # type: ignore[arg-type]
        else:
            receipt = send(self._w3, self._sender, tx, what)  # type: ignore[arg-type]
        self._tip = (record.index + 1, record.post_root)
        self._estimate = False
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


class Finalizer:
    """Finalize pending batches in order, reading L1 only when one can be due.

    After a pass it remembers when the first pending batch's challenge window closes (its
    ``proposed_at`` plus the window) and :meth:`run` reads nothing before that L1 time, as long
    as the Rollup's batch count only grew since (batches appended after it close later). It
    reads L1 again after any other change of the count (a deletion, or a first batch after
    none was pending), an open game, a failed finalize, or an error.
    """

    def __init__(
        self, w3: Web3, rollup: Contract, game: Contract, sender: Sender | LocalSender
    ) -> None:
        """Finalize on ``rollup`` (games read from ``game``), sending from ``sender``."""
        self._w3 = w3
        self._rollup = rollup
        self._game = game
        self._sender = sender
        self._window: int | None = None
        self._due: int | None = None
        """No batch can be finalized before this L1 time (None: unknown)."""
        self._count: int | None = None
        """The Rollup's batch count when :attr:`_due` was learned."""
        self.final_count: int | None = None
        """The Rollup's final count at the last pass (None: none yet)."""

    def due(self, now: int, l1_count: int | None = None) -> bool:
        """Tell whether :meth:`run` at L1 time ``now`` would read L1 (``l1_count``: the Rollup's
        batch count, if the caller has just read it)."""
        if self._due is None or self._count is None or now >= self._due:
            return True
        if l1_count is None or l1_count == self._count:
            return False
        if l1_count > self._count and self._count > (self.final_count or 0):
            self._count = l1_count  # appended behind a pending batch: it closes no earlier
            return False
        return True

    def run(
        self,
        now: int | None = None,
        *,
        l1_count: int | None = None,
        indices: Sequence[int] | None = None,
        on_final: Callable[[int], None] | None = None,
        base_fee: int | None = None,
    ) -> list[int]:
        """Finalize, in order, every pending batch that can be; return the indices finalized.

        ``now`` is the latest L1 block's timestamp if the caller has just read it (None: read
        it); ``indices`` limits which batches may be finalized. Stops at the first batch whose
        window is still open or that has an open game. Calls ``on_final(index)`` after each
        finalize transaction succeeded.
        """
        if now is not None and indices is None and not self.due(now, l1_count):
            return []
        self._due = None
        rollup = self._rollup
        if self._window is None:
            self._window = int(rollup.functions.CHALLENGE_WINDOW().call())
        window = self._window
        if now is None:
            now = int(self._w3.eth.get_block("latest")["timestamp"])
        count = int(rollup.functions.batch_count().call())
        i = int(rollup.functions.final_count().call())
        self.final_count = i
        done: list[int] = []
        due: int | None = 2**256  # nothing pending: nothing before the count changes
        while i < count and (indices is None or i in indices):
            b = rollup.functions.batch(i).call()
            proposed_at, nonce = int(b[5]), int(b[7])
            if now < proposed_at + window:
                due = proposed_at + window
                break
            if int(self._game.functions.open_games(i, nonce).call()) > 0:
                due = None  # a game can end at any time
                break
            try:
                fn = rollup.functions.finalize(i)
                tx: dict[str, Any] = {"to": rollup.address, "data": fn._encode_transaction_data()}
                what = f"finalize batch {i}"
                if isinstance(self._sender, LocalSender):
                    self._sender.send(self._w3, tx, what, base_fee=base_fee)  # type: ignore[arg-type]
                else:
                    send(self._w3, self._sender, tx, what)  # type: ignore[arg-type]
            except ContractLogicError as err:  # raced by another finalizer: read again next time
                log.warning("batch.finalize_failed", batch_index=i, err=str(err))
                due = None
                break
            log.info("batch.finalized", batch_index=i)
            done.append(i)
            self.final_count = i + 1
            if on_final is not None:
                on_final(i)
            i += 1
        if indices is None:
            self._due, self._count = due, count
        return done


def finalize_due(
    w3: Web3,
    rollup: Contract,
    game: Contract,
    sender: Sender | LocalSender,
    indices: Sequence[int] | None = None,
    *,
    on_final: Callable[[int], None] | None = None,
) -> list[int]:
    """Finalize, in order, every pending batch that can be; return the indices finalized.

    One pass of a fresh :class:`Finalizer` (reads everything): stops at the first batch whose
    window is still open or that has an open game. Calls ``on_final(index)`` after each
    finalize transaction succeeded.
    """
    return Finalizer(w3, rollup, game, sender).run(indices=indices, on_final=on_final)
