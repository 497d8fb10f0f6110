"""The sequencer: apply, journal, acknowledge; seal batches atomically; recover after a crash.

Durability contract (issue 5: "nothing acknowledged is ever lost"):

* :meth:`Sequencer.submit` applies transactions to the open batch through the reference STF and
  journals those that apply (reason OK) in **one synced LevelDB write** before it returns; its
  return value is the acknowledgement. A transaction that fails its checks is a no-op, writes
  nothing and is not included (the caller reports the reason).
* Group commit: inside ``with sequencer.group():`` the journal writes of every ``submit`` are
  collected and written in **one synced write** when the block exits (or earlier by
  :meth:`Sequencer.flush`, or by a seal, which writes them with the batch). What is submitted
  inside a group is acknowledged only once the block has exited: a caller answers its clients
  after that, never from inside. A crash inside the group loses the whole group and nothing
  else, and nothing of it was acknowledged. This is how a burst of orders costs one fsync.
* :meth:`Sequencer.seal` writes the batch's trie nodes, its :class:`BatchRecord`, the new head
  and the removal of its journal entries in **one synced LevelDB write**: after a crash the batch
  is either wholly sealed or still wholly in the journal.
* Reopening (:meth:`Sequencer.open`) loads the head and replays the journal of the open batch
  with the batch time it was opened with and the deposit hashes recorded when they were learned,
  so it reaches exactly the state that was acknowledged: the STF is deterministic.

Layout of the metadata namespace (``LevelDB.get_meta`` keys): ``head`` (``rlp([batch_count,
root, last_batch_time])``), ``batch/<u64 index>`` (a :class:`BatchRecord`), ``open`` (``rlp(
[batch_time])`` while a batch is open), ``j/<u32 seq>`` (a journaled transaction of the open
batch), ``dep/<u64 index>`` (the Vault's hash of deposit ``index``).

Signature recovery (~50 µs with coincurve, the largest single cost of an order) is memoized
across the node's lifetime: :attr:`Sequencer.signers` is a bounded LRU :class:`RecoveryMemo`
keyed by ``(digest, signature)`` and handed to the STF as its ``signer_cache``, so an order
recovered when it arrived is not recovered again in each FILL it takes part in. Recovery is a
pure function of the key, so the memo cannot change a receipt or a root. The memo is
thread-safe and recovers outside its own lock (libsecp256k1 releases the GIL), so the API can
recover a request's signatures while another request holds the node.

No clock: times are parameters. No L1 access: posting batches is the poster's job.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar, overload

import rlp

from optirollup.codec import eip712
from optirollup.codec.batch import MAX_BATCH_TXS, encode_tx_list
from optirollup.errors import OptiRollupError
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import StateOverlay
from optirollup.stf import BatchContext, Receipt, apply

__all__ = [
    "BatchRecord",
    "ExecutorError",
    "RecoveryMemo",
    "SealPolicy",
    "Sequencer",
    "SequencerBroken",
    "Submitted",
]

_HEAD = b"head"
_OPEN = b"open"
_BATCH = b"batch/"
_JOURNAL = b"j/"
_DEPOSIT = b"dep/"

MAX_BATCH_BYTES = 120_000
"""Largest framed transaction list a batch may carry: a ``Rollup.propose`` transaction must stay
under the 128 KiB transaction-pool limit of L1 clients (about 620 mixed transactions)."""

SIGNER_MEMO_SIZE = 1 << 16
"""Signers the recovery memo keeps (~25 MB at most): far more orders than a book holds."""


class ExecutorError(OptiRollupError):
    """Base of the executor's errors."""


class SequencerBroken(ExecutorError):
    """A write failed after the in-memory state moved on: the process must restart and recover."""


def _u(x: int, n: int) -> bytes:
    return x.to_bytes(n, "big")


_T = TypeVar("_T")

RecoveryKey = tuple[bytes, bytes]
"""``(digest, signature)``: what :func:`~optirollup.codec.eip712.recover` is a function of."""


class RecoveryMemo(OrderedDict[RecoveryKey, bytes]):
    """A bounded, thread-safe LRU memo of :func:`~optirollup.codec.eip712.recover`.

    At most ``capacity`` signers are kept, the least recently used evicted first. It is a
    ``dict`` whose ``get`` and item assignment (all the STF's ``signer_cache`` uses) take its
    lock, so it can be handed to :class:`~optirollup.stf.BatchContext` as is; :meth:`recover`
    is the memoized recovery for everyone else, and may run in any thread.
    """

    def __init__(self, capacity: int = 1 << 17) -> None:
        """Create an empty memo holding at most ``capacity`` (≥ 1) signers."""
        if capacity < 1:
            raise ValueError(f"capacity={capacity} must be at least 1")
        super().__init__()
        self.capacity = capacity
        self._lock = threading.Lock()

    def recover(self, digest: bytes, signature: bytes) -> bytes:
        """Return ``eip712.recover(digest, signature)``, from the memo when it is there.

        The recovery itself runs outside the memo's lock: two threads may both recover a key
        neither has memoized yet, and both get (and store) the same address.
        """
        key = (digest, signature)
        signer = self.get(key)
        if signer is None:
            signer = eip712.recover(digest, signature)
            self[key] = signer
        return signer

    @overload
    def get(self, key: RecoveryKey, default: None = None, /) -> bytes | None: ...
    @overload
    def get(self, key: RecoveryKey, default: bytes, /) -> bytes: ...
    @overload
    def get(self, key: RecoveryKey, default: _T, /) -> bytes | _T: ...
    def get(self, key: RecoveryKey, default: object = None, /) -> object:
        """Return the memoized signer of ``key`` (marking it recently used), else ``default``."""
        with self._lock:
            value = super().get(key)
            if value is None:
                return default
            self.move_to_end(key)
            return value

    def __setitem__(self, key: RecoveryKey, value: bytes) -> None:
        """Memoize ``value`` for ``key``, evicting the least recently used entry when full."""
        with self._lock:
            super().__setitem__(key, value)
            self.move_to_end(key)
            if len(self) > self.capacity:
                self.popitem(last=False)


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """A sealed batch: what ``Rollup.propose`` posts and what a game on it needs."""

    index: int
    prev_root: bytes
    post_root: bytes
    batch_time: int
    txs: tuple[bytes, ...]

    def encode(self) -> bytes:
        """Return ``rlp([index, prev_root, post_root, batch_time, [tx...]])``."""
        fields = [self.index, self.prev_root, self.post_root, self.batch_time, list(self.txs)]
        return bytes(rlp.encode(fields))

    @classmethod
    def decode(cls, data: bytes) -> BatchRecord:
        """Decode :meth:`encode`'s output; raise :class:`ExecutorError` on anything else."""
        try:
            index, prev, post, batch_time, txs = rlp.decode(data)
            return cls(
                int.from_bytes(index, "big"),
                bytes(prev),
                bytes(post),
                int.from_bytes(batch_time, "big"),
                tuple(bytes(t) for t in txs),
            )
        except (rlp.exceptions.DecodingError, ValueError, TypeError) as err:
            raise ExecutorError(f"a batch record does not decode: {err}") from err

    @property
    def calldata(self) -> bytes:
        """Return the framed transaction list ``Rollup.propose`` takes."""
        return encode_tx_list(list(self.txs))


@dataclass(frozen=True, slots=True)
class SealPolicy:
    """When a batch is sealed: ``max_txs`` transactions, ``max_seconds`` after it opened, or
    before it would exceed ``max_bytes`` of framed calldata."""

    max_txs: int = 500
    max_seconds: int = 2
    max_bytes: int = MAX_BATCH_BYTES

    def __post_init__(self) -> None:
        if not 1 <= self.max_txs <= MAX_BATCH_TXS:
            raise ValueError(f"max_txs={self.max_txs} outside 1..{MAX_BATCH_TXS}")
        if self.max_seconds < 0:
            raise ValueError("max_seconds must not be negative")
        if self.max_bytes < 2 + 263:
            raise ValueError(f"max_bytes={self.max_bytes} cannot hold one FILL")


@dataclass(frozen=True, slots=True)
class Submitted:
    """What :meth:`Sequencer.submit` did with one transaction."""

    tx: bytes
    receipt: Receipt
    batch_index: int
    """The batch it joined (for a rejected one: the batch it would have joined)."""
    position: int
    """Its index in that batch, or -1 if it was rejected (not included)."""

    @property
    def accepted(self) -> bool:
        """Tell whether the transaction applied and is in the batch."""
        return self.position >= 0


class Sequencer:
    """The open batch over the last sealed state, journaled; see the module notes."""

    def __init__(
        self, db: LevelDB, separator: bytes, policy: SealPolicy, *, genesis_root: bytes
    ) -> None:
        """Open the sequencer over ``db``; use :meth:`open`, which also recovers the journal."""
        self._db = db
        self._separator = separator
        self.policy = policy
        head = db.get_meta(_HEAD)
        if head is None:
            if genesis_root not in db.nodes:
                raise ExecutorError(
                    f"genesis root 0x{genesis_root.hex()} is not in {db.path}; write the genesis "
                    "state first (optirollup.state.overlay.genesis_root over db.nodes)"
                )
            self.batch_count, self.head_root, self.last_batch_time = 0, genesis_root, 0
        else:
            count, root, last = rlp.decode(head)
            self.batch_count = int.from_bytes(count, "big")
            self.head_root = bytes(root)
            self.last_batch_time = int.from_bytes(last, "big")
            if self.batch_count == 0 and self.head_root != genesis_root:
                raise ExecutorError("the database was started from another genesis root")
        self._deposits: list[bytes] = []
        while (h := db.get_meta(_DEPOSIT + _u(len(self._deposits), 8))) is not None:
            self._deposits.append(h)
        self._overlay = StateOverlay(db.nodes, self.head_root)
        self._txs: list[bytes] = []
        self._bytes = 0
        self._batch_time: int | None = None
        self._opened_at: int | None = None
        self._broken = False
        self._group = 0
        self._pending: dict[bytes, bytes | None] = {}
        self.signers = RecoveryMemo(SIGNER_MEMO_SIZE)
        """The memo of signature recovery shared by the STF and the node's order checks."""

    @classmethod
    def open(
        cls,
        db: LevelDB,
        separator: bytes,
        policy: SealPolicy | None = None,
        *,
        genesis_root: bytes,
        now: int = 0,
    ) -> Sequencer:
        """Open over ``db`` and replay the journal of the open batch (``now``: local seconds)."""
        seq = cls(db, separator, policy or SealPolicy(), genesis_root=genesis_root)
        seq._recover(now)
        return seq

    # -- state ------------------------------------------------------------------------------

    @property
    def state(self) -> StateOverlay:
        """Return the state including the open batch (read it; never write it directly)."""
        return self._overlay

    @property
    def open_txs(self) -> tuple[bytes, ...]:
        """Return the transactions of the open batch, in order."""
        return tuple(self._txs)

    @property
    def open_batch_time(self) -> int | None:
        """Return the open batch's time, or None if no batch is open."""
        return self._batch_time

    @property
    def deposit_hashes(self) -> tuple[bytes, ...]:
        """Return the deposit hashes learned so far (the Vault's queue, in order)."""
        return tuple(self._deposits)

    def batch(self, index: int) -> BatchRecord:
        """Return sealed batch ``index``; raise :class:`ExecutorError` if there is none."""
        raw = self._db.get_meta(_BATCH + _u(index, 8))
        if raw is None:
            raise ExecutorError(f"no sealed batch {index} (sealed: {self.batch_count})")
        return BatchRecord.decode(raw)

    def _context(self) -> BatchContext:
        assert self._batch_time is not None
        return BatchContext(self._batch_time, self._separator, self._deposits, self.signers)

    def _check(self) -> None:
        if self._broken:
            raise SequencerBroken("a write failed earlier; restart the node to recover")

    # -- deposits ---------------------------------------------------------------------------

    def learn_deposits(self, first: int, hashes: Sequence[bytes]) -> None:
        """Record the Vault's deposit hashes ``first, first + 1, …`` (durably, idempotently).

        Raise :class:`ExecutorError` if they leave a gap or contradict a hash already known
        (an L1 reorg that changed the queue: the node must stop and be looked at).
        """
        self._check()
        if first > len(self._deposits):
            raise ExecutorError(
                f"deposit {first} learned before deposit {len(self._deposits)}: read the Vault's "
                "queue in order"
            )
        new: dict[bytes, bytes | None] = {}
        added: list[bytes] = []
        for i, h in enumerate(hashes, start=first):
            if len(h) != 32:
                raise ExecutorError(f"deposit {i}: a hash is 32 bytes, got {len(h)}")
            if i < len(self._deposits):
                if self._deposits[i] != h:
                    raise ExecutorError(
                        f"deposit {i} changed from 0x{self._deposits[i].hex()} to 0x{h.hex()}"
                    )
                continue
            new[_DEPOSIT + _u(i, 8)] = h
            added.append(h)
        if new:
            self._db.write_batch({}, new)
            self._deposits.extend(added)

    # -- submit and seal --------------------------------------------------------------------

    def submit(
        self,
        txs: Sequence[bytes],
        *,
        batch_time: int,
        now: int,
        extra: Mapping[bytes, bytes | None] | None = None,
    ) -> list[Submitted]:
        """Apply ``txs`` in order to the open batch; journal the applied ones; return them all.

        ``batch_time`` is the time a batch opened now would get (the node passes the latest L1
        block's timestamp; it is raised to the last sealed batch's time if below it); ``now``
        is local seconds for the seal policy. A batch that would exceed the policy's size is
        sealed first (the returned records show which batch each transaction joined). The
        journal write happens before this returns: the return value is the acknowledgement.
        ``extra`` metadata (e.g. the node's resting orders, under keys outside this module's
        layout) is written in the same atomic write as the last journal entries. Inside
        :meth:`group` that write is deferred to the group's end (see the module notes).
        """
        self._check()
        for key in extra or {}:
            if key.startswith((_HEAD, _OPEN, _BATCH, _JOURNAL, _DEPOSIT)):
                raise ExecutorError(f"extra key {key!r} is in the sequencer's own layout")
        out: list[Submitted] = []
        journal: dict[bytes, bytes | None] = {}
        for tx in txs:
            framed = 2 + len(tx)
            if self._txs and (
                len(self._txs) >= self.policy.max_txs
                or self._bytes + framed > self.policy.max_bytes
            ):
                self._flush(journal)
                journal = {}
                self.seal()
            if self._batch_time is None:
                self._batch_time = max(batch_time, self.last_batch_time)
                self._opened_at = now
                journal[_OPEN] = rlp.encode([self._batch_time])
            receipt = apply(self._overlay, tx, self._context())
            if not receipt.ok:
                out.append(Submitted(tx, receipt, self.batch_count, -1))
                continue
            journal[_JOURNAL + _u(len(self._txs), 4)] = tx
            out.append(Submitted(tx, receipt, self.batch_count, len(self._txs)))
            self._txs.append(tx)
            self._bytes += framed
        journal.update(extra or {})
        self._flush(journal)
        return out

    def _flush(self, journal: dict[bytes, bytes | None]) -> None:
        if self._group:
            self._pending.update(journal)
            return
        self._write(journal)

    def _write(self, journal: dict[bytes, bytes | None]) -> None:
        if not journal:
            return
        try:
            self._db.write_batch({}, journal)
        except Exception as err:
            self._broken = True
            raise SequencerBroken(f"journal write failed ({err}); restart to recover") from err

    @contextmanager
    def group(self) -> Iterator[None]:
        """Collect the journal writes of every :meth:`submit` inside into one synced write.

        The write happens when the outermost group exits, whether its block returns or raises
        (what was applied in memory is journaled either way); nothing submitted inside is
        acknowledged before that. Groups nest: only the outermost one writes.
        """
        self._check()
        self._group += 1
        try:
            yield
        finally:
            self._group -= 1
            if self._group == 0:
                self.flush()

    @property
    def grouping(self) -> bool:
        """Tell whether a :meth:`group` is open (journal writes are being deferred)."""
        return self._group > 0

    def flush(self) -> None:
        """Write the journal entries a group has collected so far (one synced write), now."""
        pending, self._pending = self._pending, {}
        if pending:
            self._check()
            self._write(pending)

    def seal_due(self, now: int) -> bool:
        """Tell whether the open batch should be sealed at local time ``now``."""
        if not self._txs:
            return False
        assert self._opened_at is not None
        full = len(self._txs) >= self.policy.max_txs
        return full or now - self._opened_at >= self.policy.max_seconds

    def seal(self) -> BatchRecord | None:
        """Seal the open batch (one atomic write); return its record, or None if it is empty."""
        self._check()
        if not self._txs:
            return None
        assert self._batch_time is not None
        record = BatchRecord(
            self.batch_count,
            self.head_root,
            self._overlay.root(),
            self._batch_time,
            tuple(self._txs),
        )
        # A group's deferred journal entries (and its extra metadata) go in the sealing write:
        # the batch record holds the transactions, so their journal keys are deleted with it.
        meta: dict[bytes, bytes | None] = self._pending
        self._pending = {}
        meta |= {
            _BATCH + _u(record.index, 8): record.encode(),
            _HEAD: rlp.encode([record.index + 1, record.post_root, record.batch_time]),
            _OPEN: None,
        }
        for i in range(len(self._txs)):
            meta[_JOURNAL + _u(i, 4)] = None

        def write(nodes: dict[bytes, bytes]) -> None:
            self._db.write_batch(nodes, meta)

        try:
            self._overlay.commit(write)
        except Exception as err:
            self._broken = True
            raise SequencerBroken(f"sealing batch {record.index} failed ({err})") from err
        self.batch_count += 1
        self.head_root = record.post_root
        self.last_batch_time = record.batch_time
        self._txs, self._bytes, self._batch_time, self._opened_at = [], 0, None, None
        return record

    # -- recovery ---------------------------------------------------------------------------

    def _recover(self, now: int) -> None:
        opened = self._db.get_meta(_OPEN)
        if opened is None:
            return
        (batch_time,) = rlp.decode(opened)
        self._batch_time = int.from_bytes(batch_time, "big")
        self._opened_at = now
        while (tx := self._db.get_meta(_JOURNAL + _u(len(self._txs), 4))) is not None:
            receipt = apply(self._overlay, tx, self._context())
            if not receipt.ok:  # the journal holds only transactions that applied
                raise ExecutorError(
                    f"journaled transaction {len(self._txs)} of batch {self.batch_count} no "
                    f"longer applies ({receipt.reason.name}): the database is corrupt"
                )
            self._txs.append(tx)
            self._bytes += 2 + len(tx)
