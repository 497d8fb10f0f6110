"""Decide a player's moves in a dispute game from a snapshot of it and the player's own trace.

Core layer (pure: no web3, no disk, no clock; ``now`` is an argument). After op-challenger:
:func:`solve` takes a :class:`~optirollup.dispute.game.GameView` read from L1, the side we
play and a :class:`TraceProvider` (our root after every transaction of the batch) and returns
the :data:`Action` s to take now; :mod:`optirollup.dispute.responder` is the only code that
turns them into transactions, after checking them against a fresh read with :func:`stale`.
Nothing is remembered between calls: a player that restarts reads the game again and gets the
same answer.

What each side does (``docs/l1.md``, "DisputeGame"):

==========  ===============================================  ==============================
phase       asserter                                         challenger
==========  ===============================================  ==============================
BISECT      its roots at the inner split points              —
CHOOSE      —                                                the first sub-interval whose
                                                             end root it disputes
STEP        the step, if its trace says the step keeps       the step, if its trace says
            ``root_hi`` (it wins)                            it does not (it wins)
==========  ===============================================  ==============================

* Either side times the other out once the side to move has used up its clock; a side whose
  own clock ran out does nothing (every move would revert).
* The step is objective (the contract computes the post-root), so anyone may send it and the
  challenger's clock pays for it: each side sends it when it proves that side right, and
  neither sends one that would lose. An asserter that steps ends the game without waiting for
  the challenger's clock, which also unblocks the batch's finality sooner.
* Once the game is over the winner claims (the responder claims only a non-zero credit); a
  game whose batch is gone is void and its challenger closes it (``close_void``) and claims
  the refunded bond.

:class:`Open` is the one action :func:`solve` never returns: whether a batch deserves a game is
the challenger's verdict (``challenger.core.plan_opens``), not a move in a game. It is an action
all the same so that the responder sends it like every other transaction (once, signed with a
pinned nonce, its turn remembered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from optirollup.dispute.game import ASSERTER, CHALLENGER, GameView, Phase, Role, Status
from optirollup.dispute.witness import DisputeError

__all__ = [
    "Action",
    "Bisect",
    "Choose",
    "Claim",
    "CloseVoid",
    "ListTrace",
    "Open",
    "Step",
    "Timeout",
    "TraceOutOfRange",
    "TraceProvider",
    "first_disputed",
    "solve",
    "stale",
]


class TraceOutOfRange(DisputeError):
    """A trace asked for a root outside ``0..n`` (a game over another batch than the trace's)."""


class TraceProvider(Protocol):
    """Our per-transaction trace of one batch: ``root(i)`` is the state root after ``i`` txs.

    ``root(0)`` is the batch's pre-state root and ``root(n)`` its post-state root.
    """

    def root(self, i: int, /) -> bytes:
        """Return the root after the first ``i`` transactions of the batch."""
        ...


@dataclass(frozen=True, slots=True)
class ListTrace:
    """A :class:`TraceProvider` over a list ``[R_0, …, R_n]`` (``optirollup.stf.batch.trace``)."""

    roots: tuple[bytes, ...]

    def __init__(self, roots: Sequence[bytes]) -> None:
        """Hold ``roots`` (``R_0 .. R_n``, n ≥ 1)."""
        if len(roots) < 2:
            raise TraceOutOfRange(f"a trace holds R_0 .. R_n with n ≥ 1, got {len(roots)} roots")
        object.__setattr__(self, "roots", tuple(bytes(r) for r in roots))

    @property
    def n(self) -> int:
        """Return the number of transactions."""
        return len(self.roots) - 1

    def root(self, i: int, /) -> bytes:
        """Return ``R_i``."""
        if not 0 <= i < len(self.roots):
            raise TraceOutOfRange(
                f"root {i} of a trace of {self.n} transactions; the game is over another batch?"
            )
        return self.roots[i]


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Bisect:
    """Post ``roots`` (``R_{p_1} … R_{p_{parts-1}}``) for the interval ``[lo, hi]``."""

    game_id: int
    roots: tuple[bytes, ...]
    lo: int
    hi: int
    name: ClassVar[str] = "bisect"


@dataclass(frozen=True, slots=True)
class Choose:
    """Pick sub-interval ``j`` of the interval ``[lo, hi]`` bisected last."""

    game_id: int
    j: int
    lo: int
    hi: int
    name: ClassVar[str] = "choose"


@dataclass(frozen=True, slots=True)
class Step:
    """Run transaction ``tx_index`` on-chain from the agreed root (ends the game)."""

    game_id: int
    tx_index: int
    name: ClassVar[str] = "step"


@dataclass(frozen=True, slots=True)
class Timeout:
    """End the game: the side to move has used up its clock."""

    game_id: int
    name: ClassVar[str] = "timeout"


@dataclass(frozen=True, slots=True)
class CloseVoid:
    """Close a game whose batch was deleted or replaced (refunds the challenger's bond)."""

    game_id: int
    name: ClassVar[str] = "close_void"


@dataclass(frozen=True, slots=True)
class Claim:
    """Withdraw everything the DisputeGame credits the sender (bonds won, refunds)."""

    name: ClassVar[str] = "claim"


@dataclass(frozen=True, slots=True)
class Open:
    """Open a game on batch ``batch_index``, paying ``bond`` wei (the challenger bond).

    ``batch_hash`` (:func:`optirollup.dispute.game.batch_hash` of the record judged) commits
    the game to that very batch: the contract reverts ``"dispute: batch changed"`` if another
    batch holds the index by then. ``prior_games`` counts the sender's earlier games on that
    batch: a new game after a lost one is a new turn, not a repeat of the first ``open``.
    """

    batch_index: int
    batch_hash: bytes
    bond: int
    prior_games: int = 0
    name: ClassVar[str] = "open"

    def __post_init__(self) -> None:
        if min(self.batch_index, self.bond, self.prior_games) < 0 or len(self.batch_hash) != 32:
            raise ValueError(
                f"open of batch {self.batch_index} (bond {self.bond}, {self.prior_games} prior "
                f"games, a {len(self.batch_hash)}-byte hash): want counts ≥ 0 and a 32-byte hash"
            )


Action = Bisect | Choose | Step | Timeout | CloseVoid | Claim | Open
"""One move; :mod:`optirollup.dispute.responder` turns it into a transaction."""


# --------------------------------------------------------------------------- the solver


def first_disputed(
    points: Sequence[int], ends: Sequence[bytes], trace: TraceProvider
) -> int | None:
    """Return the first ``j`` whose end root ``ends[j + 1]`` (at ``points[j + 1]``) we dispute.

    ``ends`` holds the asserted roots at every split point, both ends included. We agree with
    the start of that sub-interval (it is the previous end, or ``root_lo``, which we agree
    with). None if we agree with every end: we have nothing to dispute.
    """
    if len(points) != len(ends) or len(points) < 2:
        raise ValueError(f"{len(points)} split points but {len(ends)} roots")
    for j in range(len(points) - 1):
        if ends[j + 1] != trace.root(points[j + 1]):
            return j
    return None


def solve(game: GameView, role: Role, trace: TraceProvider, now: int) -> list[Action]:
    """Return the moves ``role`` should make in ``game`` at L1 time ``now`` (maybe none).

    ``trace`` is our own trace of the game's batch. Pure and deterministic: the same snapshot,
    trace and time give the same answer.
    """
    gid = game.game_id
    if game.status is not Status.ACTIVE:
        won = game.winner() is role or (game.status is Status.VOID and role is CHALLENGER)
        return [Claim()] if won else []
    if not game.batch_live:
        return [CloseVoid(gid)] if role is CHALLENGER else []
    if game.expired(now):
        return [Timeout(gid)] if game.to_move is not role else []
    if game.to_move is not role and game.phase is not Phase.STEP:
        return []
    if game.phase is Phase.BISECT:
        roots = tuple(trace.root(p) for p in game.points[1:-1])
        return [Bisect(gid, roots, game.lo, game.hi)]
    if game.phase is Phase.CHOOSE:
        j = first_disputed(game.points, game.ends, trace)
        return [] if j is None else [Choose(gid, j, game.lo, game.hi)]
    # STEP: the post-root the contract will compute is ours if we agree with root_lo.
    if trace.root(game.lo) != game.root_lo:
        return []
    keeps = trace.root(game.lo + 1) == game.root_hi
    wins = keeps if role is ASSERTER else not keeps
    return [Step(gid, game.lo)] if wins else []


def stale(action: Action, game: GameView, now: int, sender: str | None = None) -> str | None:
    """Return why ``action`` can no longer be sent against ``game`` at ``now``, or None.

    The responder calls it on a fresh read just before sending, so a move computed from an
    older snapshot (the game moved on, another player already sent it, a clock ran out) is not
    sent. ``sender``, if given, must be the side whose move it is (any address may send
    ``step``, ``timeout`` and ``close_void``). :class:`Claim` depends on the sender's credit
    and :class:`Open` on the batch (the contract checks its hash), not on a game: always None
    here.
    """
    if isinstance(action, Claim | Open):
        return None
    if action.game_id != game.game_id:
        return f"the action is for game {action.game_id}, not {game.game_id}"
    if game.status is not Status.ACTIVE:
        return f"the game is over ({game.status.name})"
    if isinstance(action, CloseVoid):
        return None if not game.batch_live else "the batch is still pending"
    if not game.batch_live:
        return "the game is void (its batch was deleted or replaced)"
    if isinstance(action, Timeout):
        if game.expired(now):
            return None
        return f"the {game.to_move.value}'s clock has {game.time_left(now)} s left"
    if game.expired(now):
        return f"the {game.to_move.value}'s clock ran out"
    if isinstance(action, Bisect):
        return _stale_turn(game, Phase.BISECT, action.lo, action.hi, sender, ASSERTER) or (
            None
            if len(action.roots) == game.parts - 1
            else f"{len(action.roots)} roots for {game.parts} parts"
        )
    if isinstance(action, Choose):
        return _stale_turn(game, Phase.CHOOSE, action.lo, action.hi, sender, CHALLENGER) or (
            None if 0 <= action.j < game.parts else f"choice {action.j} of {game.parts} parts"
        )
    return _stale_turn(game, Phase.STEP, action.tx_index, action.tx_index + 1, None, CHALLENGER)


def _stale_turn(
    game: GameView, phase: Phase, lo: int, hi: int, sender: str | None, mover: Role
) -> str | None:
    if game.phase is not phase:
        return f"the game is in {game.phase.name}, not {phase.name}"
    if (game.lo, game.hi) != (lo, hi):
        return f"the interval is [{game.lo}, {game.hi}], not [{lo}, {hi}]"
    if sender is not None and sender.lower() != game.address(mover).lower():
        return f"{sender} is not the {mover.value}"
    return None
