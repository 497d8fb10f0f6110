"""The challenger's pure core: what L1 said, what the challenger concludes, what it does next.

Core layer: values in, values out; no web3, no disk, no clock (times are arguments). The shell
(:mod:`challenger.follower`, :mod:`challenger.agent`) reads L1 and the trace store, calls these
functions and carries out what they return.

**What L1 said.** The follower turns L1 logs into the records below (:data:`L1Event`), each with
its position ``(block, log_index)``. :class:`ChainLog` keeps them in chain order and folds them
into a :class:`ChainView`: the batches the Rollup holds now (``BatchProposed`` appends one,
``BatchesDeleted`` cuts the list at an index, so a batch index reused after a deletion is a new
batch with a new nonce), how many are final, the Vault's deposit queue and every game opened.
A reorg is undone with :meth:`ChainLog.rollback`: events after the last block still on the chain
are dropped and the view is folded again from the rest, so a deletion that a reorg removes
brings its batches back.

**Which blocks it read.** :class:`BlockTrail` remembers the hash of the last block of each scan.
A block hash commits to its whole ancestry, so if the newest remembered hash is still the
chain's, everything read so far is; if not, :meth:`BlockTrail.common` walks back to the newest
remembered block still on the chain, and the follower re-reads from the block after it.

**What the challenger concludes.** :func:`walk` gives each batch a :class:`Verdict`. The honest
chain is followed from genesis: batch ``i`` is replayed from the challenger's own post-root of
batch ``i - 1`` when that batch was right (the Rollup forces ``prev_root(i) = new_root(i - 1)``).
The first batch whose posted root differs from the replay is WRONG; every batch after it is a
DESCENDANT of a wrong batch: it is never replayed nor disputed, since it is deleted together
with its ancestor when the challenger wins. Replays are looked up by :func:`trace_key`, a
content address of everything a replay depends on (the previous root, the transactions'
commitment, the batch time, the deposits visible to the batch, the EIP-712 domain), so a batch
re-proposed unchanged after a reorg, or a restart, never replays twice, and a changed one never
reuses a stale trace.

**What it does next.** :func:`plan_opens` decides which games to open: one per wrong batch
still inside its challenge window, unless the challenger already has an active game (or an
opening transaction in flight) on that ``(index, nonce)``, or one that won or went void (the
batch is gone). Each ``open`` commits to the batch judged (:attr:`ProposedBatch.batch_hash`,
checked by ``DisputeGame.open``), so a batch replaced at that index between the judgement and
the ``open``'s block makes the ``open`` revert instead of disputing a right batch;
:func:`held` is the shell's last check before sending one, so that no gas is spent on an
``open`` bound to revert. Another challenger's game on the same
batch changes nothing: games are 1-vs-1, and an honest one must not rely on a stranger. With
``dishonest_batch`` (tests and demos only) it also opens one game on that batch when it is
*right*, and :func:`plays_lying` tells the shell to play a lying trace there (right up to the
middle transaction, :func:`lie_index`, wrong after it), which must lose the bond. The moves
themselves are :func:`optirollup.dispute.solve`'s.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass

from optirollup.dispute.game import Status, batch_hash
from optirollup.hashing import keccak

__all__ = [
    "TRACE_KEY_TAG",
    "BatchFinalized",
    "BatchProposed",
    "BatchesDeleted",
    "BlockTrail",
    "ChainLog",
    "ChainView",
    "Check",
    "Decision",
    "DepositQueued",
    "Diverged",
    "GameOpened",
    "GameRef",
    "L1Event",
    "Open",
    "ProposedBatch",
    "TooLate",
    "Verdict",
    "Walk",
    "first_unjudged",
    "held",
    "lie_index",
    "plan_opens",
    "plays_lying",
    "trace_key",
    "walk",
]

TRACE_KEY_TAG = b"optirollup-challenger-trace-v1"
"""Domain tag of :func:`trace_key` (bump it if what a replay depends on changes)."""

ZERO32 = b"\x00" * 32


# --------------------------------------------------------------------------- L1 records


@dataclass(frozen=True, slots=True)
class ProposedBatch:
    """One batch as ``BatchProposed`` announced it, with the time and place of its proposal."""

    index: int
    nonce: int
    prev_root: bytes
    new_root: bytes
    tx_root: bytes
    tx_count: int
    batch_time: int
    deposit_count: int
    proposed_at: int
    """Timestamp of the proposal's block (the Rollup's ``proposed_at``: the window starts here)."""
    l1_block: int
    tx_hash: bytes
    """The proposal transaction (its input holds the transactions)."""

    @property
    def key(self) -> tuple[int, int]:
        """Return ``(index, nonce)``: what identifies this batch on L1 for ever."""
        return (self.index, self.nonce)

    @property
    def record(self) -> tuple[bytes, bytes, bytes, int, int, int, int, int]:
        """Return the ``Rollup.batch(index)`` record of this batch (its fields, in order)."""
        return (self.prev_root, self.new_root, self.tx_root, self.tx_count, self.batch_time,
                self.proposed_at, self.deposit_count, self.nonce)  # fmt: skip

    @property
    def batch_hash(self) -> bytes:
        """Return the hash ``DisputeGame.open`` takes to dispute exactly this batch."""
        return batch_hash(self.record)

    def describe(self) -> str:
        """Return a short name for logs and errors."""
        return f"batch {self.index} (nonce {self.nonce})"


@dataclass(frozen=True, slots=True)
class GameRef:
    """A game as ``GameOpened`` announced it."""

    game_id: int
    batch_index: int
    batch_nonce: int
    challenger: str
    """Checksummed address of the challenger (who opened it)."""
    asserter: str
    l1_block: int

    @property
    def batch_key(self) -> tuple[int, int]:
        """Return the ``(index, nonce)`` of the disputed batch."""
        return (self.batch_index, self.batch_nonce)


@dataclass(frozen=True, slots=True)
class BatchProposed:
    """``Rollup.BatchProposed`` at ``(block, log_index)``."""

    block: int
    log_index: int
    batch: ProposedBatch


@dataclass(frozen=True, slots=True)
class BatchesDeleted:
    """``Rollup.BatchesDeleted``: batches ``index ..`` are gone (a challenger won)."""

    block: int
    log_index: int
    index: int
    count: int
    slashed: int


@dataclass(frozen=True, slots=True)
class BatchFinalized:
    """``Rollup.BatchFinalized``: batch ``index`` is final."""

    block: int
    log_index: int
    index: int


@dataclass(frozen=True, slots=True)
class DepositQueued:
    """``Vault.DepositQueued``: queue entry ``index`` has hash ``hash`` (already checked)."""

    block: int
    log_index: int
    index: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class GameOpened:
    """``DisputeGame.GameOpened``."""

    block: int
    log_index: int
    game: GameRef


L1Event = BatchProposed | BatchesDeleted | BatchFinalized | DepositQueued | GameOpened
"""One log the challenger follows."""


# --------------------------------------------------------------------------- the view


class ChainView:
    """The fold of the events so far: batches held now, finality, deposits, games."""

    def __init__(self) -> None:
        """Start empty (nothing proposed, nothing queued)."""
        self.batches: dict[int, ProposedBatch] = {}
        self.final_count = 0
        self.deposits: dict[int, bytes] = {}
        self.games: dict[int, GameRef] = {}
        self.slashed = 0
        self._acc: list[bytes] = [ZERO32]

    def apply(self, ev: L1Event) -> None:
        """Fold one event in."""
        if isinstance(ev, BatchProposed):
            self.batches[ev.batch.index] = ev.batch
        elif isinstance(ev, BatchesDeleted):
            for index in [i for i in self.batches if i >= ev.index]:
                del self.batches[index]
            self.slashed += ev.slashed
        elif isinstance(ev, BatchFinalized):
            self.final_count = max(self.final_count, ev.index + 1)
        elif isinstance(ev, DepositQueued):
            self.add_deposit(ev.index, ev.hash)
        else:
            self.games[ev.game.game_id] = ev.game

    def add_deposit(self, index: int, hash_: bytes) -> None:
        """Record queue entry ``index`` (from an event, or read from the Vault directly)."""
        if self.deposits.get(index) != hash_:
            self.deposits[index] = hash_
            del self._acc[index + 1 :]

    def ordered(self) -> list[ProposedBatch]:
        """Return the batches the Rollup holds, by index."""
        return [self.batches[i] for i in sorted(self.batches)]

    def missing_deposits(self, count: int) -> list[int]:
        """Return the queue indices below ``count`` this view has no hash for."""
        return [i for i in range(count) if i not in self.deposits]

    def deposit_hashes(self, count: int) -> list[bytes]:
        """Return the hashes of queue entries ``0 .. count - 1`` (KeyError if one is missing)."""
        return [self.deposits[i] for i in range(count)]

    def deposit_digest(self, count: int) -> bytes:
        """Return ``acc_count``: ``acc_0 = 0``, ``acc_{i+1} = keccak(acc_i ‖ h_i)``.

        A digest of the first ``count`` entries of the queue, computed incrementally (KeyError
        if one is missing).
        """
        while len(self._acc) <= count:
            i = len(self._acc) - 1
            self._acc.append(keccak(self._acc[-1] + self.deposits[i]))
        return self._acc[count]


class ChainLog:
    """The events read so far, in chain order, and their fold (see the module notes)."""

    def __init__(self) -> None:
        """Start with no events."""
        self._events: list[L1Event] = []
        self._extra: dict[int, bytes] = {}
        self.view = ChainView()

    def __len__(self) -> int:
        """Return the number of events kept."""
        return len(self._events)

    @property
    def last_position(self) -> tuple[int, int]:
        """Return the ``(block, log_index)`` of the newest event, ``(-1, -1)`` if none."""
        if not self._events:
            return (-1, -1)
        last = self._events[-1]
        return (last.block, last.log_index)

    def extend(self, events: Iterable[L1Event]) -> list[L1Event]:
        """Append the events after the newest one kept (older or equal positions are dropped:
        a re-read of a range already read adds nothing); return those appended."""
        added: list[L1Event] = []
        for ev in sorted(events, key=lambda e: (e.block, e.log_index)):
            if (ev.block, ev.log_index) <= self.last_position:
                continue
            self._events.append(ev)
            self.view.apply(ev)
            added.append(ev)
        return added

    def add_deposit(self, index: int, hash_: bytes) -> None:
        """Record a queue entry read from the Vault (before the first block followed)."""
        self._extra[index] = hash_
        self.view.add_deposit(index, hash_)

    def rollback(self, keep_through: int) -> int:
        """Drop every event after block ``keep_through`` and fold the rest again.

        Return how many events were dropped. ``keep_through = -1`` drops everything.
        """
        kept = [e for e in self._events if e.block <= keep_through]
        dropped = len(self._events) - len(kept)
        self._events = kept
        self.view = ChainView()
        for index, hash_ in self._extra.items():
            self.view.add_deposit(index, hash_)
        for ev in kept:
            self.view.apply(ev)
        return dropped


# --------------------------------------------------------------------------- reorgs


class BlockTrail:
    """The hashes of the blocks the follower's scans ended at (the newest ``limit`` of them)."""

    def __init__(self, limit: int = 1024) -> None:
        """Remember at most ``limit`` blocks."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._blocks: dict[int, bytes] = {}

    def __len__(self) -> int:
        """Return how many blocks are remembered."""
        return len(self._blocks)

    def remember(self, height: int, block_hash: bytes) -> None:
        """Remember that block ``height`` had ``block_hash`` (forgets the oldest past the limit)."""
        self._blocks[height] = block_hash
        while len(self._blocks) > self._limit:
            del self._blocks[min(self._blocks)]

    def newest(self) -> tuple[int, bytes] | None:
        """Return the newest ``(height, hash)`` remembered, or None."""
        if not self._blocks:
            return None
        height = max(self._blocks)
        return height, self._blocks[height]

    def common(self, current: Callable[[int], bytes | None]) -> int | None:
        """Return the newest remembered height whose block is still on the chain.

        ``current(height)`` is the chain's hash at ``height`` now (None past its head). Heights
        are tried newest first, so a shallow reorg costs a call or two. Return None when no
        remembered block is still there: re-read from the start.
        """
        for height in sorted(self._blocks, reverse=True):
            if current(height) == self._blocks[height]:
                return height
        return None

    def forget_above(self, height: int) -> None:
        """Forget the blocks above ``height`` (they are no longer on the chain)."""
        for h in [h for h in self._blocks if h > height]:
            del self._blocks[h]

    def clear(self) -> None:
        """Forget every block."""
        self._blocks.clear()


# --------------------------------------------------------------------------- verdicts


class Verdict(enum.Enum):
    """What the challenger concluded about one batch."""

    OK = "ok"
    """Replayed from the challenger's own previous root; the posted root is right."""
    WRONG = "wrong"
    """Replayed; the posted root differs from the challenger's."""
    DESCENDANT = "descendant"
    """After a wrong batch: it dies with its ancestor; neither replayed nor disputed."""
    UNCHECKED = "unchecked"
    """Not replayed yet (the first one is :attr:`Walk.next_replay`), or after such a batch."""
    UNREADABLE = "unreadable"
    """Its transactions could not be read from its proposal (nothing can be proven about it)."""
    UNVERIFIABLE = "unverifiable"
    """The challenger does not hold the state it starts from (a gap in what it followed)."""


@dataclass(frozen=True, slots=True)
class Check:
    """One batch and the verdict about it, with the challenger's own post-root if replayed."""

    batch: ProposedBatch
    verdict: Verdict
    own_root: bytes | None = None


@dataclass(frozen=True, slots=True)
class Walk:
    """The verdict on every batch, in index order, and the next batch to replay."""

    checks: tuple[Check, ...]
    next_replay: ProposedBatch | None

    def by_key(self) -> dict[tuple[int, int], Check]:
        """Return the checks keyed by ``(index, nonce)``."""
        return {c.batch.key: c for c in self.checks}


def walk(
    batches: Sequence[ProposedBatch],
    genesis: bytes,
    post_root: Callable[[ProposedBatch], bytes | None],
    *,
    has_state: Callable[[bytes], bool] = lambda root: False,
    unreadable: Container[tuple[int, int]] = (),
) -> Walk:
    """Give every batch of ``batches`` (in index order) its :class:`Verdict`.

    ``post_root(b)`` is the challenger's own post-root of ``b`` if it replayed it, else None.
    Batch 0 must start at ``genesis``. A first batch with a higher index (the follower started
    after the deployment block) starts from its ``prev_root`` if ``has_state`` says the
    challenger holds that state, else it and everything after it are UNVERIFIABLE; so is
    everything after a gap in the indices.
    """
    checks: list[Check] = []
    expected: bytes | None = None
    previous: int | None = None
    nxt: ProposedBatch | None = None
    stop: Verdict | None = None
    for b in batches:
        if stop is not None:
            checks.append(Check(b, stop))
            continue
        if previous is None:
            if b.index == 0:
                expected = genesis
            elif has_state(b.prev_root):
                expected = b.prev_root
        elif b.index != previous + 1:
            expected = None
        previous = b.index
        if expected is None:
            stop = Verdict.UNVERIFIABLE
            checks.append(Check(b, stop))
            continue
        if b.prev_root != expected:
            stop = Verdict.DESCENDANT
            checks.append(Check(b, stop))
            continue
        if b.key in unreadable:
            stop = Verdict.UNVERIFIABLE
            checks.append(Check(b, Verdict.UNREADABLE))
            continue
        own = post_root(b)
        if own is None:
            nxt = b
            stop = Verdict.UNCHECKED
            checks.append(Check(b, stop))
            continue
        if own == b.new_root:
            checks.append(Check(b, Verdict.OK, own))
            expected = own
        else:
            checks.append(Check(b, Verdict.WRONG, own))
            stop = Verdict.DESCENDANT
    return Walk(tuple(checks), nxt)


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True, slots=True)
class Open:
    """Open a game on ``batch``; ``honest`` is False for the ``dishonest_batch`` test mode."""

    batch: ProposedBatch
    honest: bool = True


@dataclass(frozen=True, slots=True)
class TooLate:
    """``batch`` is wrong but its challenge window has closed: nothing can be done on L1."""

    batch: ProposedBatch
    window_closed_at: int


@dataclass(frozen=True, slots=True)
class Diverged:
    """``batch`` is wrong and final: L1's state is not the one the STF gives (an alarm)."""

    batch: ProposedBatch


Decision = Open | TooLate | Diverged

_GONE_OR_PLAYED = frozenset({Status.ACTIVE, Status.CHALLENGER_WON, Status.VOID})
"""Statuses of an own game after which a batch never gets another game from us: one is being
played, or the batch ``(index, nonce)`` is gone (we deleted it, or someone did: void)."""


def plan_opens(
    checks: Iterable[Check],
    our_games: Mapping[tuple[int, int], Sequence[Status]],
    *,
    now: int,
    window: int,
    final_count: int,
    in_flight: Container[tuple[int, int]] = (),
    dishonest_batch: int | None = None,
) -> list[Decision]:
    """Return what to do about the batches of ``checks`` at L1 time ``now``.

    ``our_games`` holds the statuses of the challenger's own games by batch ``(index, nonce)``
    (an active game whose batch is no longer pending counts as VOID); ``in_flight`` the batches
    on which an ``open`` is sent but not seen yet. A game can be opened while
    ``now < proposed_at + window`` and the batch is not final (the contract's rule). A wrong
    batch gets no game while we play one on it, nor once one of ours won or went void: the
    batch is then gone, and since ``DisputeGame.open`` names only an index, an ``open`` sent
    on a stale view would dispute the batch posted at that index since (see :func:`held`).
    See the module notes for the rest.
    """
    out: list[Decision] = []
    for c in checks:
        b = c.batch
        mine = our_games.get(b.key, ())
        busy = b.key in in_flight
        closes = b.proposed_at + window
        if c.verdict is Verdict.WRONG:
            if b.index < final_count:
                out.append(Diverged(b))
            elif busy or not _GONE_OR_PLAYED.isdisjoint(mine):
                pass  # we dispute it already, or our game deleted it (the view is behind)
            elif now >= closes:
                out.append(TooLate(b, closes))
            else:
                out.append(Open(b))
        elif (
            c.verdict is Verdict.OK
            and b.index == dishonest_batch
            and not mine
            and not busy
            and b.index >= final_count
            and now < closes
        ):
            out.append(Open(b, honest=False))
    return out


def held(batch: ProposedBatch, record: Sequence[object]) -> bool:
    """Tell whether ``record`` (``Rollup.batch(batch.index)``'s fields, in order) is ``batch``.

    The shell checks this just before it sends an ``open``: a batch deleted and re-posted at
    that index (another nonce), or replaced by a reorg (maybe the same nonce, other roots), is
    not the batch that was judged wrong. ``DisputeGame.open`` checks the same with
    :attr:`ProposedBatch.batch_hash` at the block it runs in; this check only saves the gas of
    an ``open`` that would revert.
    """
    return tuple(record) == batch.record


def first_unjudged(checks: Iterable[Check], final_count: int) -> ProposedBatch | None:
    """Return the first pending batch of ``checks`` without a verdict, or None.

    Not replayed yet, unreadable or unverifiable: from there on a wrong root would go
    unnoticed, so the lag metrics count from it. Final batches are left out (nothing can be
    done about them; a late ``--from-block`` leaves them unverifiable).
    """
    blind = (Verdict.UNCHECKED, Verdict.UNREADABLE, Verdict.UNVERIFIABLE)
    return next(
        (c.batch for c in checks if c.verdict in blind and c.batch.index >= final_count), None
    )


def lie_index(n: int) -> int:
    """Return the transaction a lying trace of ``n`` transactions is wrong after: the middle."""
    if n < 1:
        raise ValueError("a batch has at least one transaction")
    return (n - 1) // 2


def plays_lying(check: Check | None, dishonest_batch: int | None) -> bool:
    """Tell whether a game of ours on ``check``'s batch is played with the lying trace.

    Only in the ``dishonest_batch`` test mode, on that batch, and only when it is right (a
    wrong batch is always disputed honestly). The shell builds the lie with
    :func:`optirollup.l1.gasprobe.lie_after` at :func:`lie_index`.
    """
    return (
        check is not None
        and dishonest_batch is not None
        and check.batch.index == dishonest_batch
        and check.verdict is Verdict.OK
    )


def trace_key(batch: ProposedBatch, deposit_digest: bytes, separator: bytes) -> bytes:
    """Return the content address of ``batch``'s replay.

    keccak of the tag, ``prev_root``, ``tx_root``, ``batch_time`` and ``deposit_count`` (as
    u64), the digest of the deposits visible to the batch (:meth:`ChainView.deposit_digest`) and
    the EIP-712 domain separator: everything the STF's result depends on.
    """
    return keccak(
        TRACE_KEY_TAG
        + batch.prev_root
        + batch.tx_root
        + batch.batch_time.to_bytes(8, "big")
        + batch.deposit_count.to_bytes(8, "big")
        + deposit_digest
        + separator
    )
