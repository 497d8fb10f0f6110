"""Immutable snapshots of a dispute game as read from L1, and the game's arithmetic.

Core layer (pure: no web3, no disk, no clock). A :class:`GameView` holds everything
``DisputeGame.games(id)`` and ``points(id, j)`` say about one game at one L1 block, plus the
arity ``K`` and whether the game's batch is still pending (``Rollup.is_pending``); the reader
that fills it from L1 is :func:`optirollup.dispute.responder.read_game` (shell). The rules are
those of ``docs/l1.md`` ("DisputeGame") and ``contracts/DisputeGame.vy``:

* the disputed interval ``[lo, hi]`` of transactions; the challenger agrees with ``root_lo``
  (the root before transaction ``lo``) and disputes ``root_hi`` (the root after ``hi - 1``);
* :func:`split_points`: ``p_j = lo + (hi - lo)·j // parts`` with ``parts = min(k, hi - lo)``;
* phases BISECT (the asserter posts ``R_{p_1} … R_{p_{parts-1}}``), CHOOSE (the challenger
  picks ``[p_j, p_{j+1}]``), STEP (anyone runs transaction ``lo`` on-chain, charged to the
  challenger's clock);
* chess clocks: the side to move is the asserter in BISECT and the challenger in CHOOSE and
  STEP; it may move while ``now - last_move_at <= its clock`` and loses by ``timeout`` once that
  is exceeded (strictly), so at every second exactly one of the two works.

:func:`batch_hash` is the commitment ``DisputeGame.open(batch_index, batch_hash)`` checks: the
keccak of the ABI encoding of ``Rollup.batch(batch_index)``, so a challenger disputes exactly the
batch it judged, never one that replaced it at that index.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import encode as abi_encode

from optirollup.dispute.witness import DisputeError
from optirollup.hashing import keccak

__all__ = [
    "ASSERTER",
    "BATCH_FIELDS",
    "CHALLENGER",
    "MAX_K",
    "BadBatchRecord",
    "BadGameView",
    "GameView",
    "Phase",
    "Role",
    "Status",
    "batch_hash",
    "interval_key",
    "max_moves",
    "split_points",
]

MAX_K = 16
"""Largest bisection arity (``DisputeGame.MAX_K``)."""


class BadGameView(DisputeError):
    """A game snapshot that breaks the contract's invariants (a misread, or the wrong ABI)."""


class BadBatchRecord(DisputeError):
    """A batch record that is not ``Rollup.Batch``'s eight fields with their ABI types."""


BATCH_FIELDS: tuple[str, ...] = (
    "prev_root", "new_root", "tx_root", "tx_count", "batch_time", "proposed_at",
    "deposit_count", "nonce",
)  # fmt: skip
"""The fields of ``Rollup.Batch`` in their order (that of the ``Rollup.batch(i)`` tuple)."""

_BATCH_TYPES = ("bytes32", "bytes32", "bytes32", "uint32", "uint64", "uint64", "uint64", "uint64")


def batch_hash(fields: Sequence[object]) -> bytes:
    """Return ``keccak256(abi_encode(Batch))`` of a ``Rollup.batch(i)`` record.

    ``fields`` are the eight values of :data:`BATCH_FIELDS`, in that order (the tuple web3
    returns for ``Rollup.batch(i)``). ``DisputeGame.open(i, batch_hash)`` reverts
    ``"dispute: batch changed"`` unless this equals the hash of the batch then at ``i``. Raise
    :class:`BadBatchRecord` for a wrong number of fields, a root that is not 32 bytes or an
    integer out of its type's range.
    """
    values = tuple(fields)
    if len(values) != len(BATCH_FIELDS):
        raise BadBatchRecord(
            f"a batch record has {len(BATCH_FIELDS)} fields ({', '.join(BATCH_FIELDS)}), got "
            f"{len(values)}; pass the tuple Rollup.batch(i) returns"
        )
    for name, kind, value in zip(BATCH_FIELDS, _BATCH_TYPES, values, strict=True):
        if kind == "bytes32":
            ok = isinstance(value, bytes) and len(value) == 32
        else:
            bits = int(kind.removeprefix("uint"))
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**bits
        if not ok:
            raise BadBatchRecord(
                f"batch field {name} = {value!r} is not a {kind}; pass the tuple "
                "Rollup.batch(i) returns"
            )
    return keccak(abi_encode(_BATCH_TYPES, values))


class Phase(enum.IntEnum):
    """Game phases (``DisputeGame.vy`` constants)."""

    BISECT = 1
    CHOOSE = 2
    STEP = 3


class Status(enum.IntEnum):
    """Game statuses (``DisputeGame.vy`` constants)."""

    ACTIVE = 1
    ASSERTER_WON = 2
    CHALLENGER_WON = 3
    VOID = 4


class Role(enum.Enum):
    """The two sides of a game."""

    ASSERTER = "asserter"
    """The proposer of the batch (the node's defender)."""
    CHALLENGER = "challenger"
    """Whoever opened the game (a watchtower)."""

    @property
    def other(self) -> Role:
        """Return the opposite side."""
        return Role.CHALLENGER if self is Role.ASSERTER else Role.ASSERTER


ASSERTER = Role.ASSERTER
CHALLENGER = Role.CHALLENGER


def split_points(lo: int, hi: int, k: int) -> list[int]:
    """Return ``p_0 .. p_parts`` of ``[lo, hi]`` with ``parts = min(k, hi - lo)`` (docs/l1.md).

    ``p_0 = lo`` and ``p_parts = hi``; the points are strictly increasing.
    """
    if not 0 <= lo < hi:
        raise BadGameView(f"interval [{lo}, {hi}] is empty; a game always disputes ≥ 1 tx")
    parts = min(k, hi - lo)
    return [lo + (hi - lo) * j // parts for j in range(parts + 1)]


@dataclass(frozen=True, slots=True)
class GameView:
    """One game at one L1 block (field names and meanings as ``DisputeGame.Game``)."""

    game_id: int
    batch_index: int
    batch_nonce: int
    asserter: str
    """Checksummed address of the asserter (the batch's proposer)."""
    challenger: str
    """Checksummed address of the challenger (who opened the game)."""
    lo: int
    hi: int
    root_lo: bytes
    """``R_lo``: the root before transaction ``lo`` (agreed by the challenger)."""
    root_hi: bytes
    """``R_hi``: the root after transaction ``hi - 1`` (asserted, disputed by the challenger)."""
    phase: Phase
    status: Status
    clock_asserter: int
    """Seconds left on the asserter's clock at ``last_move_at``."""
    clock_challenger: int
    """Seconds left on the challenger's clock at ``last_move_at``."""
    last_move_at: int
    """L1 timestamp of the last move (or of ``open``)."""
    k: int
    """The deployment's bisection arity ``K``."""
    roots: tuple[bytes, ...] = ()
    """In CHOOSE: the asserted ``R_{p_1} … R_{p_{parts-1}}`` of the last bisect; else empty."""
    batch_live: bool = True
    """``Rollup.is_pending(batch_index, batch_nonce)``: false once the batch is deleted or
    replaced (the game is then void: only ``close_void`` works)."""
    l1_block: int = 0
    """The block the snapshot was read at (0 when not read from L1)."""
    l1_time: int = 0
    """That block's timestamp."""

    def __post_init__(self) -> None:
        if not 2 <= self.k <= MAX_K:
            raise BadGameView(f"game {self.game_id}: k = {self.k} outside 2..{MAX_K}")
        if not 0 <= self.lo < self.hi:
            raise BadGameView(f"game {self.game_id}: interval [{self.lo}, {self.hi}] is empty")
        for name in ("root_lo", "root_hi"):
            if len(getattr(self, name)) != 32:
                raise BadGameView(f"game {self.game_id}: {name} is not 32 bytes")
        want = self.parts - 1 if self.phase is Phase.CHOOSE else 0
        if self.status is Status.ACTIVE and len(self.roots) != want:
            raise BadGameView(
                f"game {self.game_id}: {len(self.roots)} asserted roots in phase "
                f"{self.phase.name}, expected {want}"
            )
        if any(len(r) != 32 for r in self.roots):
            raise BadGameView(f"game {self.game_id}: an asserted root is not 32 bytes")
        if self.phase is Phase.STEP and self.status is Status.ACTIVE and self.hi - self.lo != 1:
            raise BadGameView(
                f"game {self.game_id}: phase STEP over [{self.lo}, {self.hi}], expected one tx"
            )

    # -- the interval -----------------------------------------------------------------------

    @property
    def parts(self) -> int:
        """Return ``min(k, hi - lo)``: how many sub-intervals a bisect makes."""
        return min(self.k, self.hi - self.lo)

    @property
    def points(self) -> list[int]:
        """Return the split points ``p_0 = lo < … < p_parts = hi`` of the current interval."""
        return split_points(self.lo, self.hi, self.k)

    @property
    def ends(self) -> list[bytes]:
        """Return the asserted roots at every split point, both ends included (phase CHOOSE)."""
        if self.phase is not Phase.CHOOSE:
            raise BadGameView(f"game {self.game_id}: no asserted roots in {self.phase.name}")
        return [self.root_lo, *self.roots, self.root_hi]

    # -- turns and clocks -------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Tell whether the game is unresolved (it may still be void: see ``batch_live``)."""
        return self.status is Status.ACTIVE

    @property
    def to_move(self) -> Role:
        """Return the side whose clock runs: the asserter in BISECT, else the challenger."""
        return ASSERTER if self.phase is Phase.BISECT else CHALLENGER

    def clock(self, role: Role) -> int:
        """Return ``role``'s clock as of ``last_move_at``."""
        return self.clock_asserter if role is ASSERTER else self.clock_challenger

    def time_left(self, now: int) -> int:
        """Return the seconds the side to move has left at ``now`` (negative: run out)."""
        return self.clock(self.to_move) - (now - self.last_move_at)

    def expired(self, now: int) -> bool:
        """Tell whether the side to move has used up its clock at ``now`` (``timeout`` works)."""
        return self.time_left(now) < 0

    def address(self, role: Role) -> str:
        """Return the address playing ``role``."""
        return self.asserter if role is ASSERTER else self.challenger

    def winner(self) -> Role | None:
        """Return the side that won, or None (unresolved or void)."""
        if self.status is Status.ASSERTER_WON:
            return ASSERTER
        if self.status is Status.CHALLENGER_WON:
            return CHALLENGER
        return None

    def describe(self) -> str:
        """Return a one-line summary for logs and error messages."""
        return (
            f"game {self.game_id} on batch {self.batch_index} (nonce {self.batch_nonce}): "
            f"{self.status.name} {self.phase.name} [{self.lo}, {self.hi}]"
        )


def interval_key(game: GameView) -> tuple[int, int, int, int]:
    """Return ``(game_id, phase, lo, hi)``: what identifies one turn of one game."""
    return (game.game_id, int(game.phase), game.lo, game.hi)


def max_moves(n: int, k: int) -> int:
    """Return the bound on moves of a game over ``n`` transactions: 2·rounds + 1 (the step).

    ``rounds`` is the number of BISECT/CHOOSE rounds from ``[0, n]`` down to one transaction
    when every choice keeps the widest sub-interval.
    """
    rounds, width = 0, n
    while width > 1:
        parts = min(k, width)
        width = -(-width // parts)  # the widest sub-interval of a bisect
        rounds += 1
    return 2 * rounds + 1
