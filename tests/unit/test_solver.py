"""The dispute solver (pure): tables over tiny fake traces, and whole games in a Python model.

Traces are fake: ``R_i`` is a hash of a label and ``i`` (with runs of equal roots where a
transaction is a no-op). The model of ``contracts/DisputeGame.vy`` below (:func:`advance`) is
written from ``docs/l1.md`` independently of the solver: it checks every move's phase, sender,
root count, choice and clock, and decides a step from the *true* trace (the post-root of
transaction ``lo`` run from ``root_lo`` is the true ``R_{lo+1}`` when ``root_lo`` is the true
``R_lo``, some other root otherwise). Games are played solver against solver, and solver
against scripted dishonest players (random roots, random choices, silence), with the game's
rules checked after every move.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, seed
from hypothesis import strategies as st

from optirollup.dispute import (
    ASSERTER,
    CHALLENGER,
    Action,
    BadGameView,
    Bisect,
    Choose,
    Claim,
    CloseVoid,
    GameView,
    ListTrace,
    Open,
    Phase,
    Role,
    Status,
    Step,
    Timeout,
    TraceOutOfRange,
    TraceProvider,
    first_disputed,
    solve,
    split_points,
    stale,
)
from optirollup.dispute.game import (
    BATCH_FIELDS,
    BadBatchRecord,
    batch_hash,
    interval_key,
    max_moves,
)
from optirollup.hashing import keccak

A = "0x" + "aa" * 20
C = "0x" + "cc" * 20
GAME_CLOCK = 1800
EXTENSION = 300
T0 = 1_000_000


# --------------------------------------------------------------------------- fake traces


@dataclass(frozen=True)
class FakeTrace:
    """``R_i = H(label, i // run)`` for ``i ≤ lie_from``, ``H("lie", label, i)`` after it.

    ``run > 1`` repeats roots (no-op transactions); ``lie_from = None`` never lies.
    """

    label: str
    n: int
    run: int = 1
    lie_from: int | None = None
    lie_label: str = "lie"

    def root(self, i: int, /) -> bytes:
        if not 0 <= i <= self.n:
            raise TraceOutOfRange(f"root {i} of {self.n}")
        if self.lie_from is not None and i > self.lie_from:
            return keccak(f"{self.lie_label}:{self.label}:{i}".encode())
        return keccak(f"{self.label}:{i // self.run}".encode())

    def lying_after(self, d: int, lie_label: str = "lie") -> FakeTrace:
        """Return this trace with every root after ``R_d`` wrong."""
        return replace(self, lie_from=d, lie_label=lie_label)


@dataclass(frozen=True)
class Patched:
    """A trace equal to ``base`` except at the indices of ``wrong``."""

    base: TraceProvider
    wrong: frozenset[int]

    def root(self, i: int, /) -> bytes:
        return keccak(b"patched" + i.to_bytes(4, "big")) if i in self.wrong else self.base.root(i)


def view(**over: object) -> GameView:
    """Return a game over [0, 16] in BISECT, fresh clocks, with fields overridden."""
    fields: dict[str, object] = dict(
        game_id=7, batch_index=3, batch_nonce=4, asserter=A, challenger=C, lo=0, hi=16,
        root_lo=HONEST.root(0), root_hi=LIAR.root(16), phase=Phase.BISECT,
        status=Status.ACTIVE, clock_asserter=GAME_CLOCK, clock_challenger=GAME_CLOCK,
        last_move_at=T0, k=2,
    )  # fmt: skip
    fields.update(over)
    return GameView(**fields)  # type: ignore[arg-type]


def choosing(trace_of_asserter: TraceProvider, lo: int, hi: int, k: int) -> GameView:
    """Return a game in CHOOSE over ``[lo, hi]`` with the asserter's roots posted."""
    pts = split_points(lo, hi, k)
    return view(
        lo=lo, hi=hi, k=k, phase=Phase.CHOOSE,
        root_lo=HONEST.root(lo), root_hi=trace_of_asserter.root(hi),
        roots=tuple(trace_of_asserter.root(p) for p in pts[1:-1]),
    )  # fmt: skip


HONEST = FakeTrace("honest", 65536)
LIAR = HONEST.lying_after(5)


# --------------------------------------------------------------------------- split points


@pytest.mark.parametrize(
    ("lo", "hi", "k", "expected"),
    [
        (0, 1, 2, [0, 1]),
        (0, 2, 16, [0, 1, 2]),
        (0, 16, 2, [0, 8, 16]),
        (0, 23, 5, [0, 4, 9, 13, 18, 23]),
        (10, 13, 4, [10, 11, 12, 13]),
        (0, 65536, 16, [4096 * j for j in range(17)]),
        (0, 65536, 3, [0, 21845, 43690, 65536]),
    ],
    ids=lambda v: str(v),
)
def test_split_points_follow_the_contract_formula(
    lo: int, hi: int, k: int, expected: list[int]
) -> None:
    assert split_points(lo, hi, k) == expected


@seed(20260511)
@given(st.integers(0, 2**16), st.integers(1, 2**16), st.integers(2, 16))
def test_split_points_cut_any_interval_into_min_k_width_nonempty_parts(
    lo: int, width: int, k: int
) -> None:
    pts = split_points(lo, lo + width, k)
    assert pts[0] == lo and pts[-1] == lo + width
    assert len(pts) == min(k, width) + 1
    assert all(a < b for a, b in zip(pts, pts[1:], strict=False))


def test_an_empty_interval_has_no_split_points() -> None:
    with pytest.raises(BadGameView, match="empty"):
        split_points(5, 5, 2)


# --------------------------------------------------------------------------- the game view


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"k": 1}, "k = 1 outside"),
        ({"k": 17}, "k = 17 outside"),
        ({"lo": 4, "hi": 4}, "empty"),
        ({"root_lo": b"\x01"}, "root_lo is not 32 bytes"),
        ({"phase": Phase.CHOOSE}, "0 asserted roots in phase CHOOSE, expected 1"),
        ({"roots": (b"\x00" * 32,)}, "1 asserted roots in phase BISECT, expected 0"),
        ({"phase": Phase.STEP}, "phase STEP over"),
    ],
    ids=[
        "k too small",
        "k too big",
        "empty interval",
        "short root",
        "CHOOSE without roots",
        "BISECT with roots",
        "STEP over many txs",
    ],  # fmt: skip
)
def test_a_snapshot_that_breaks_the_contract_invariants_is_refused(
    over: dict[str, object], message: str
) -> None:
    with pytest.raises(BadGameView, match=message):
        view(**over)


def test_the_side_to_move_is_the_asserter_in_bisect_and_the_challenger_otherwise() -> None:
    assert view().to_move is ASSERTER
    assert choosing(LIAR, 0, 16, 2).to_move is CHALLENGER
    assert view(phase=Phase.STEP, lo=3, hi=4).to_move is CHALLENGER


def test_a_clock_runs_out_only_when_strictly_exceeded() -> None:
    g = view(clock_asserter=100)
    assert not g.expired(T0 + 100) and g.time_left(T0 + 100) == 0
    assert g.expired(T0 + 101)


@pytest.mark.parametrize(("n", "k", "bound"), [(1, 2, 1), (2, 2, 3), (16, 2, 9), (65536, 2, 33),
                                               (65536, 16, 9), (23, 5, 5)])  # fmt: skip
def test_the_move_bound_is_two_per_round_plus_the_step(n: int, k: int, bound: int) -> None:
    assert max_moves(n, k) == bound


# --------------------------------------------------------------------------- solve: tables


@pytest.mark.parametrize("k", range(2, 17))
@pytest.mark.parametrize(("lo", "hi"), [(0, 2), (0, 16), (5, 9), (0, 65536), (1000, 1017)])
def test_the_asserter_answers_a_bisect_with_its_own_roots_at_the_split_points(
    k: int, lo: int, hi: int
) -> None:
    g = view(lo=lo, hi=hi, k=k, root_lo=HONEST.root(lo), root_hi=HONEST.root(hi))
    (action,) = solve(g, ASSERTER, HONEST, T0 + 5)
    pts = split_points(lo, hi, k)
    assert action == Bisect(7, tuple(HONEST.root(p) for p in pts[1:-1]), lo, hi)
    assert len(action.roots) == min(k, hi - lo) - 1
    assert stale(action, g, T0 + 5, A) is None


@pytest.mark.parametrize(
    ("lie_from", "k", "lo", "hi", "expected"),
    [
        (5, 2, 0, 16, 0),  # [0, 8, 16]: R_8 is wrong
        (9, 2, 0, 16, 1),  # R_8 right, R_16 wrong
        (7, 4, 0, 16, 1),  # [0, 4, 8, 12, 16]: R_4 right, R_8 wrong
        (8, 4, 0, 16, 2),  # R_8 right (the lie starts after it)
        (0, 16, 0, 16, 0),  # wrong from R_1
        (14, 16, 0, 16, 14),  # wrong from R_15
        (15, 16, 0, 16, 15),  # only R_16 wrong: the last sub-interval
        (32767, 2, 0, 65536, 0),  # R_32768 is the first wrong root
        (32768, 2, 0, 65536, 1),
        (40000, 16, 0, 65536, 9),  # [36864, 40960]
        (6, 3, 5, 9, 1),  # [5, 6, 7, 9]: R_6 right, R_7 wrong
    ],
    ids=lambda v: str(v),
)
def test_the_challenger_chooses_the_first_sub_interval_whose_end_it_disputes(
    lie_from: int, k: int, lo: int, hi: int, expected: int
) -> None:
    liar = HONEST.lying_after(lie_from)
    g = choosing(liar, lo, hi, k)
    assert solve(g, CHALLENGER, HONEST, T0 + 5) == [Choose(7, expected, lo, hi)]
    assert solve(g, ASSERTER, liar, T0 + 5) == []


def test_a_liar_posting_right_roots_after_a_wrong_one_is_caught_at_the_first_wrong_one() -> None:
    liar = Patched(HONEST, frozenset({4, 16}))  # [0, 4, 8, 12, 16]: R_4 wrong, R_8 and R_12 right
    g = choosing(liar, 0, 16, 4)
    assert solve(g, CHALLENGER, HONEST, T0) == [Choose(7, 0, 0, 16)]


def test_a_challenger_that_agrees_with_every_asserted_root_has_no_choice() -> None:
    g = choosing(HONEST, 0, 16, 4)
    assert solve(g, CHALLENGER, HONEST, T0) == []
    assert first_disputed(g.points, g.ends, HONEST) is None


@pytest.mark.parametrize(
    ("role", "ours", "lo", "root_lo", "root_hi", "steps"),
    [
        (CHALLENGER, HONEST, 5, HONEST.root(5), LIAR.root(6), True),
        (CHALLENGER, HONEST, 5, HONEST.root(5), HONEST.root(6), False),  # the step keeps R_hi
        (CHALLENGER, HONEST, 9, LIAR.root(9), LIAR.root(10), False),  # we dispute R_lo too
        (ASSERTER, HONEST, 5, HONEST.root(5), HONEST.root(6), True),
        (ASSERTER, LIAR, 5, HONEST.root(5), LIAR.root(6), True),  # a liar thinks it wins
        (ASSERTER, HONEST, 5, HONEST.root(5), LIAR.root(6), False),  # the step would lose
        (ASSERTER, LIAR, 9, HONEST.root(9), LIAR.root(10), False),  # not the liar's R_lo
    ],
    ids=[
        "challenger disputes R_hi",
        "challenger agrees with R_hi",
        "challenger disputes R_lo",
        "asserter holds R_hi",
        "lying asserter holds its R_hi",
        "asserter lacks R_hi",
        "asserter lacks R_lo",
    ],  # fmt: skip
)
def test_each_side_steps_only_when_the_step_proves_it_right(
    role: Role, ours: TraceProvider, lo: int, root_lo: bytes, root_hi: bytes, steps: bool
) -> None:
    g = view(phase=Phase.STEP, lo=lo, hi=lo + 1, root_lo=root_lo, root_hi=root_hi)
    assert solve(g, role, ours, T0 + 10) == ([Step(7, lo)] if steps else [])


@pytest.mark.parametrize(
    ("phase", "expired_side", "role", "expected"),
    [
        (Phase.BISECT, ASSERTER, CHALLENGER, [Timeout(7)]),
        (Phase.BISECT, ASSERTER, ASSERTER, []),
        (Phase.CHOOSE, CHALLENGER, ASSERTER, [Timeout(7)]),
        (Phase.CHOOSE, CHALLENGER, CHALLENGER, []),
        (Phase.STEP, CHALLENGER, ASSERTER, [Timeout(7)]),
        (Phase.STEP, CHALLENGER, CHALLENGER, []),
    ],
    ids=lambda v: getattr(v, "name", str(v)),
)
def test_a_side_times_the_other_out_once_its_clock_has_run_out(
    phase: Phase, expired_side: Role, role: Role, expected: list[Action]
) -> None:
    over: dict[str, object] = {"phase": phase}
    if phase is Phase.CHOOSE:
        over["roots"] = (HONEST.root(8),)
    if phase is Phase.STEP:
        over.update(lo=5, hi=6, root_lo=HONEST.root(5), root_hi=LIAR.root(6))
    over["clock_asserter" if expired_side is ASSERTER else "clock_challenger"] = 60
    g = view(**over)
    ours = HONEST if role is CHALLENGER else LIAR
    assert solve(g, role, ours, T0 + 61) == expected
    # one second earlier the side to move may still move, and nobody times it out
    assert all(not isinstance(a, Timeout) for a in solve(g, role, ours, T0 + 60))


@pytest.mark.parametrize(
    ("status", "live", "role", "expected"),
    [
        (Status.ASSERTER_WON, True, ASSERTER, [Claim()]),
        (Status.ASSERTER_WON, True, CHALLENGER, []),
        (Status.CHALLENGER_WON, False, CHALLENGER, [Claim()]),
        (Status.CHALLENGER_WON, False, ASSERTER, []),
        (Status.VOID, False, CHALLENGER, [Claim()]),
        (Status.VOID, False, ASSERTER, []),
        (Status.ACTIVE, False, CHALLENGER, [CloseVoid(7)]),
        (Status.ACTIVE, False, ASSERTER, []),
    ],
    ids=lambda v: getattr(v, "name", str(v)),
)
def test_over_and_void_games_are_claimed_by_the_winner_and_closed_by_the_challenger(
    status: Status, live: bool, role: Role, expected: list[Action]
) -> None:
    g = view(status=status, batch_live=live)
    assert solve(g, role, HONEST if role is CHALLENGER else LIAR, T0 + 10**6) == expected


@pytest.mark.parametrize(
    ("g", "role"),
    [
        (view(), CHALLENGER),
        (choosing(LIAR, 0, 16, 2), ASSERTER),
    ],
    ids=["challenger during BISECT", "asserter during CHOOSE"],
)
def test_nothing_is_done_on_the_other_side_s_turn(g: GameView, role: Role) -> None:
    assert solve(g, role, HONEST, T0 + 1) == []


def test_a_trace_of_another_batch_is_refused() -> None:
    g = view(lo=0, hi=16)
    with pytest.raises(TraceOutOfRange, match="another batch"):
        solve(g, ASSERTER, ListTrace([HONEST.root(i) for i in range(5)]), T0)


# --------------------------------------------------------------------------- stale


G_CHOOSE = choosing(LIAR, 0, 16, 2)
G_STEP = view(phase=Phase.STEP, lo=5, hi=6, root_lo=HONEST.root(5), root_hi=LIAR.root(6))


@pytest.mark.parametrize(
    ("action", "g", "sender", "reason"),
    [
        (Bisect(7, (HONEST.root(8),), 0, 16), view(), A, None),
        (Bisect(7, (HONEST.root(8),), 0, 16), G_CHOOSE, A, "in CHOOSE, not BISECT"),
        (Bisect(7, (HONEST.root(4),), 0, 8), view(), A, r"\[0, 16\], not \[0, 8\]"),
        (Bisect(7, (HONEST.root(8),), 0, 16), view(), C, "is not the asserter"),
        (Bisect(7, (), 0, 16), view(), A, "0 roots for 2 parts"),
        (Bisect(8, (HONEST.root(8),), 0, 16), view(), A, "for game 8, not 7"),
        (Choose(7, 0, 0, 16), G_CHOOSE, C, None),
        (Choose(7, 0, 0, 16), G_CHOOSE, A, "is not the challenger"),
        (Choose(7, 2, 0, 16), G_CHOOSE, C, "choice 2 of 2 parts"),
        (Choose(7, 0, 0, 16), view(), C, "in BISECT, not CHOOSE"),
        (Step(7, 5), G_STEP, A, None),  # anyone may step
        (Step(7, 4), G_STEP, C, r"\[5, 6\], not \[4, 5\]"),
        (Step(7, 5), replace(G_STEP, status=Status.CHALLENGER_WON), C, "over .CHALLENGER_WON"),
        (Step(7, 5), replace(G_STEP, batch_live=False), C, "void"),
        (Step(7, 5), replace(G_STEP, clock_challenger=9), C, "challenger's clock ran out"),
        (Timeout(7), view(), C, "asserter's clock has 1790 s left"),
        (Timeout(7), view(clock_asserter=9), A, None),
        (CloseVoid(7), view(), C, "still pending"),
        (CloseVoid(7), view(batch_live=False), A, None),
        (Claim(), replace(view(), status=Status.ASSERTER_WON), A, None),
        (Open(7, b"\x07" * 32, 10**17), replace(view(), batch_live=False), C, None),
    ],
    ids=lambda v: getattr(v, "name", None) if isinstance(v, Action) else None,
)
def test_an_action_is_stale_once_the_game_has_moved_on(
    action: Action, g: GameView, sender: str, reason: str | None
) -> None:
    got = stale(action, g, T0 + 10, sender)
    if reason is None:
        assert got is None
    else:
        assert got is not None
        assert re.search(reason, got), got


def test_an_open_needs_a_32_byte_batch_hash_and_no_negative_count() -> None:
    assert Open(0, b"\x00" * 32, 0).prior_games == 0
    for bad in ((0, b"\x00" * 31, 1, 0), (-1, b"\x00" * 32, 1, 0), (0, b"\x00" * 32, 1, -1)):
        with pytest.raises(ValueError, match="32-byte hash"):
            Open(*bad)


# --------------------------------------------------------------------------- the batch hash

RECORD = (keccak(b"prev"), keccak(b"new"), keccak(b"txs"), 20, 1_700_000_000, 1_700_000_012, 8, 3)


def test_the_batch_hash_is_the_keccak_of_the_eight_fields_as_abi_words() -> None:
    # The ABI encoding of a static struct: each field left-padded to one 32-byte word, in order.
    words = b"".join(v if isinstance(v, bytes) else v.to_bytes(32, "big") for v in RECORD)
    assert len(BATCH_FIELDS) == len(RECORD) == len(words) // 32
    assert batch_hash(RECORD) == keccak(words) == batch_hash(list(RECORD))
    for i in range(len(RECORD)):  # every field counts
        v = RECORD[i]
        other = keccak(v) if isinstance(v, bytes) else v + 1
        assert batch_hash((*RECORD[:i], other, *RECORD[i + 1 :])) != batch_hash(RECORD)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (RECORD[:7], "has 8 fields"),
        ((*RECORD, 0), "has 8 fields"),
        ((b"\x01" * 31, *RECORD[1:]), "prev_root .* is not a bytes32"),
        ((*RECORD[:3], 2**32, *RECORD[4:]), "tx_count = 4294967296 is not a uint32"),
        ((*RECORD[:7], -1), "nonce = -1 is not a uint64"),
        ((*RECORD[:7], 2**64), "nonce = 18446744073709551616 is not a uint64"),
        ((*RECORD[:7], True), "nonce = True is not a uint64"),
        ((*RECORD[:7], "3"), "nonce = '3' is not a uint64"),
    ],
    ids=[
        "7 fields",
        "9 fields",
        "a short root",
        "a tx count over 32 bits",
        "a negative nonce",
        "a nonce over 64 bits",
        "a bool",
        "a string",
    ],  # fmt: skip
)
def test_a_record_that_is_not_a_rollup_batch_has_no_hash(
    record: tuple[object, ...], message: str
) -> None:
    with pytest.raises(BadBatchRecord, match=message):
        batch_hash(record)


# --------------------------------------------------------------------------- the game model


Player = Callable[[GameView, int], list[Action]]


def solver_player(role: Role, trace: TraceProvider) -> Player:
    """Return a player that plays ``role`` with the solver over ``trace``."""
    return lambda g, now: solve(g, role, trace, now)


def random_asserter(truth: TraceProvider, rng: random.Random) -> Player:
    """Return an asserter posting each inner root right or wrong at random (never stepping)."""

    def play(g: GameView, now: int) -> list[Action]:
        if g.phase is not Phase.BISECT or g.status is not Status.ACTIVE:
            return []
        roots = tuple(
            truth.root(p)
            if rng.random() < 0.5
            else keccak(b"rnd" + rng.getrandbits(64).to_bytes(8, "big"))
            for p in g.points[1:-1]
        )
        return [Bisect(g.game_id, roots, g.lo, g.hi)]

    return play


def random_challenger(rng: random.Random) -> Player:
    """Return a challenger choosing sub-intervals at random and always stepping."""

    def play(g: GameView, now: int) -> list[Action]:
        if g.status is not Status.ACTIVE:
            return []
        if g.phase is Phase.CHOOSE:
            return [Choose(g.game_id, rng.randrange(g.parts), g.lo, g.hi)]
        if g.phase is Phase.STEP:
            return [Step(g.game_id, g.lo)]
        return []

    return play


def silent(g: GameView, now: int) -> list[Action]:
    """Never move."""
    return []


class Refused(AssertionError):
    """The model refuses a move (the contract would revert)."""


def advance(g: GameView, action: Action, by: Role, now: int, truth: TraceProvider) -> GameView:
    """Return the game after ``by`` sends ``action`` at ``now`` (DisputeGame's rules)."""
    if g.status is not Status.ACTIVE:
        raise Refused("dispute: game over")
    width = g.hi - g.lo
    parts = min(g.k, width)
    elapsed = now - g.last_move_at

    def charged(role: Role) -> dict[str, int]:
        clock = g.clock_asserter if role is ASSERTER else g.clock_challenger
        if elapsed > clock:
            raise Refused("dispute: clock expired")
        name = "clock_asserter" if role is ASSERTER else "clock_challenger"
        return {name: clock - elapsed}

    def topped(fields: dict[str, int], role: Role) -> dict[str, int]:
        name = "clock_asserter" if role is ASSERTER else "clock_challenger"
        current = fields.get(name, getattr(g, name))
        return {**fields, name: max(current, EXTENSION)}

    if isinstance(action, Bisect):
        if g.phase is not Phase.BISECT or by is not ASSERTER:
            raise Refused("dispute: wrong phase or not asserter")
        if len(action.roots) != parts - 1:
            raise Refused("dispute: wrong number of roots")
        clocks = topped(charged(ASSERTER), CHALLENGER)
        return replace(g, phase=Phase.CHOOSE, roots=action.roots, last_move_at=now, **clocks)
    if isinstance(action, Choose):
        if g.phase is not Phase.CHOOSE or by is not CHALLENGER:
            raise Refused("dispute: wrong phase or not challenger")
        j = action.j
        if not 0 <= j < parts:
            raise Refused("dispute: bad choice")
        new_lo, new_hi = g.lo + width * j // parts, g.lo + width * (j + 1) // parts
        root_lo = g.roots[j - 1] if j > 0 else g.root_lo
        root_hi = g.roots[j] if j < parts - 1 else g.root_hi
        phase = Phase.STEP if new_hi - new_lo == 1 else Phase.BISECT
        clocks = topped(charged(CHALLENGER), CHALLENGER if phase is Phase.STEP else ASSERTER)
        return replace(g, lo=new_lo, hi=new_hi, root_lo=root_lo, root_hi=root_hi, phase=phase,
                       roots=(), last_move_at=now, **clocks)  # fmt: skip
    if isinstance(action, Step):
        if g.phase is not Phase.STEP:
            raise Refused("dispute: wrong phase")
        clocks = charged(CHALLENGER)
        if g.root_lo == truth.root(g.lo):
            post = truth.root(g.lo + 1)
        else:
            post = keccak(b"from a wrong root" + g.root_lo)
        status = Status.ASSERTER_WON if post == g.root_hi else Status.CHALLENGER_WON
        return replace(g, status=status, **clocks)
    if isinstance(action, Timeout):
        if not g.expired(now):
            raise Refused("dispute: clock not expired")
        loser = g.to_move
        return replace(
            g, status=Status.CHALLENGER_WON if loser is ASSERTER else Status.ASSERTER_WON
        )
    raise Refused(f"{action} is not a move of a live game")


@dataclass
class Played:
    """How a game ended."""

    game: GameView
    moves: list[tuple[Role, Action]]

    @property
    def step_index(self) -> int | None:
        """Return the transaction stepped, or None if the game ended otherwise."""
        steps = [a.tx_index for _, a in self.moves if isinstance(a, Step)]
        return steps[0] if steps else None


def play(
    truth: TraceProvider,
    n: int,
    k: int,
    asserter: Player,
    challenger: Player,
    asserted: TraceProvider,
    *,
    honest: Role | None = None,
    think: int = 7,
) -> Played:
    """Play a game over a batch of ``n`` transactions whose post-root is ``asserted.root(n)``.

    After every move: the interval shrinks inside ``[0, n]``, the honest side's invariant
    holds, every action a solver returns is not stale, and the moves stay under the bound.
    """
    g = GameView(
        game_id=1, batch_index=0, batch_nonce=1, asserter=A, challenger=C, lo=0, hi=n,
        root_lo=truth.root(0), root_hi=asserted.root(n),
        phase=Phase.STEP if n == 1 else Phase.BISECT, status=Status.ACTIVE,
        clock_asserter=GAME_CLOCK, clock_challenger=GAME_CLOCK, last_move_at=T0, k=k,
    )  # fmt: skip
    players = {ASSERTER: asserter, CHALLENGER: challenger}
    now = T0
    moves: list[tuple[Role, Action]] = []
    for _ in range(10_000):
        if g.status is not Status.ACTIVE:
            return Played(g, moves)
        now += think
        moved = False
        for role in (g.to_move, g.to_move.other):
            if g.status is not Status.ACTIVE:
                break
            for action in players[role](g, now):
                if role is honest:
                    assert stale(action, g, now, g.address(role)) is None
                before = g
                g = advance(g, action, role, now, truth)
                moves.append((role, action))
                moved = True
                assert 0 <= g.lo < g.hi <= n
                assert before.lo <= g.lo and g.hi <= before.hi
                if g.status is Status.ACTIVE and honest is CHALLENGER:
                    assert g.root_lo == truth.root(g.lo) and g.root_hi != truth.root(g.hi)
                if g.status is Status.ACTIVE and honest is ASSERTER:
                    assert g.root_lo == truth.root(g.lo) and g.root_hi == truth.root(g.hi)
        if not moved:
            now = g.last_move_at + g.clock(g.to_move)  # wait for a clock to run out
    raise AssertionError(f"the game did not end: {g.describe()}")


def bounded(p: Played, n: int, k: int) -> bool:
    """Tell whether the game made at most 2·rounds + 1 moves (no timeouts counted)."""
    return len([m for m in p.moves if not isinstance(m[1], Timeout)]) <= max_moves(n, k)


# --------------------------------------------------------------------------- whole games


@pytest.mark.parametrize("k", range(2, 17))
@pytest.mark.parametrize("n", [1, 2, 3, 17, 65536])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_an_honest_challenger_beats_a_lying_asserter_at_the_first_wrong_transaction(
    k: int, n: int, where: str
) -> None:
    d = {"first": 0, "middle": n // 2, "last": n - 1}[where]
    truth = FakeTrace(f"batch-{n}", n, run=2)
    liar = truth.lying_after(d)
    p = play(truth, n, k, solver_player(ASSERTER, liar), solver_player(CHALLENGER, truth), liar,
             honest=CHALLENGER)  # fmt: skip
    assert p.game.status is Status.CHALLENGER_WON
    assert p.step_index == d
    assert bounded(p, n, k)


@pytest.mark.parametrize("k", range(2, 17))
@pytest.mark.parametrize("n", [1, 2, 3, 17, 65536])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_an_honest_asserter_beats_a_lying_challenger(k: int, n: int, where: str) -> None:
    d = {"first": 0, "middle": n // 2, "last": n - 1}[where]
    truth = FakeTrace(f"batch-{n}", n, run=3)
    liar = truth.lying_after(d)
    p = play(truth, n, k, solver_player(ASSERTER, truth), solver_player(CHALLENGER, liar), truth,
             honest=ASSERTER)  # fmt: skip
    assert p.game.status is Status.ASSERTER_WON
    assert p.step_index == d
    assert bounded(p, n, k)


sizes = st.one_of(st.integers(1, 40), st.integers(41, 65536), st.sampled_from([1, 2, 65536]))


@seed(20260511)
@given(n=sizes, k=st.integers(2, 16), run=st.integers(1, 4), data=st.data())
def test_solver_against_solver_the_honest_side_wins_and_the_step_is_at_the_first_lie(
    n: int, k: int, run: int, data: st.DataObject
) -> None:
    d = data.draw(st.integers(0, n - 1), label="d")
    truth = FakeTrace(f"h{n}", n, run=run)
    liar = truth.lying_after(d)
    vs_liar = play(truth, n, k, solver_player(ASSERTER, liar), solver_player(CHALLENGER, truth),
                   liar, honest=CHALLENGER)  # fmt: skip
    assert vs_liar.game.status is Status.CHALLENGER_WON and vs_liar.step_index == d
    assert bounded(vs_liar, n, k)
    vs_honest = play(truth, n, k, solver_player(ASSERTER, truth),
                     solver_player(CHALLENGER, liar), truth, honest=ASSERTER)  # fmt: skip
    assert vs_honest.game.status is Status.ASSERTER_WON and vs_honest.step_index == d


@seed(20260512)
@given(n=sizes, k=st.integers(2, 16), rnd=st.randoms(use_true_random=False))
def test_the_honest_side_beats_players_that_post_and_choose_at_random(
    n: int, k: int, rnd: random.Random
) -> None:
    truth = FakeTrace(f"r{n}", n, run=2)
    wrong_end = Patched(truth, frozenset({n}))
    vs_random_asserter = play(truth, n, k, random_asserter(truth, rnd),
                              solver_player(CHALLENGER, truth), wrong_end,
                              honest=CHALLENGER)  # fmt: skip
    assert vs_random_asserter.game.status is Status.CHALLENGER_WON
    vs_random_challenger = play(truth, n, k, solver_player(ASSERTER, truth),
                                random_challenger(rnd), truth, honest=ASSERTER)  # fmt: skip
    assert vs_random_challenger.game.status is Status.ASSERTER_WON


@pytest.mark.parametrize("n", [1, 2, 40])
def test_a_silent_opponent_loses_on_time(n: int) -> None:
    truth = FakeTrace("silent", n)
    liar = truth.lying_after(0)
    p = play(truth, n, 2, silent, solver_player(CHALLENGER, truth), liar, honest=CHALLENGER)
    if n == 1:  # the challenger steps at once: the asserter has no move in a 1-tx game
        assert p.moves == [(CHALLENGER, Step(1, 0))]
    else:
        assert p.moves[-1] == (CHALLENGER, Timeout(1))
    assert p.game.status is Status.CHALLENGER_WON
    p = play(truth, n, 2, solver_player(ASSERTER, truth), silent, truth, honest=ASSERTER)
    assert p.game.status is Status.ASSERTER_WON
    assert p.moves[-1][0] is ASSERTER


def test_the_turn_key_identifies_phase_and_interval() -> None:
    assert interval_key(view()) == (7, 1, 0, 16)
    assert interval_key(G_STEP) == (7, 3, 5, 6)


def sequence_of(trace: TraceProvider, n: int) -> Sequence[bytes]:
    """Return ``[R_0 .. R_n]``."""
    return [trace.root(i) for i in range(n + 1)]


def test_a_list_trace_answers_like_the_list() -> None:
    roots = sequence_of(HONEST, 5)
    t = ListTrace(roots)
    assert t.n == 5 and [t.root(i) for i in range(6)] == list(roots)
    with pytest.raises(TraceOutOfRange):
        t.root(6)
    with pytest.raises(TraceOutOfRange):
        ListTrace(roots[:1])
