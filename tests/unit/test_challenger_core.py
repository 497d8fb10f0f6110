"""The challenger's pure core: the fold of L1 events, reorg bookkeeping, verdicts, decisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from challenger.core import (
    BatchesDeleted,
    BatchFinalized,
    BatchProposed,
    BlockTrail,
    ChainLog,
    Check,
    DepositQueued,
    Diverged,
    GameOpened,
    GameRef,
    Open,
    ProposedBatch,
    TooLate,
    Verdict,
    first_unjudged,
    held,
    lie_index,
    plan_opens,
    plays_lying,
    trace_key,
    walk,
)
from optirollup.dispute.game import Status, batch_hash
from optirollup.hashing import keccak

GENESIS = keccak(b"genesis")
ME = "0x" + "ab" * 20
WINDOW = 600


def root(i: int) -> bytes:
    return keccak(b"root" + i.to_bytes(4, "big"))


def batch(
    index: int,
    *,
    nonce: int | None = None,
    prev: bytes | None = None,
    new: bytes | None = None,
    block: int | None = None,
    at: int = 1_000,
) -> ProposedBatch:
    return ProposedBatch(
        index=index,
        nonce=index + 1 if nonce is None else nonce,
        prev_root=(GENESIS if index == 0 else root(index - 1)) if prev is None else prev,
        new_root=root(index) if new is None else new,
        tx_root=keccak(b"txs" + index.to_bytes(4, "big")),
        tx_count=10,
        batch_time=100 + index,
        deposit_count=0,
        proposed_at=at,
        l1_block=10 + index if block is None else block,
        tx_hash=keccak(b"tx" + index.to_bytes(4, "big")),
    )


def proposed(b: ProposedBatch, log_index: int = 0) -> BatchProposed:
    return BatchProposed(b.l1_block, log_index, b)


def chain(n: int) -> list[ProposedBatch]:
    return [batch(i) for i in range(n)]


# --------------------------------------------------------------------------- the fold


def test_proposals_deletions_and_reproposals_fold_into_the_batches_l1_holds() -> None:
    log = ChainLog()
    b0, b1, b2 = chain(3)
    log.extend([proposed(b0), proposed(b1), proposed(b2)])
    assert [b.key for b in log.view.ordered()] == [(0, 1), (1, 2), (2, 3)]
    log.extend([BatchesDeleted(20, 0, 1, 2, 10**18)])
    assert [b.key for b in log.view.ordered()] == [(0, 1)]
    assert log.view.slashed == 10**18
    again = batch(1, nonce=4, block=21)
    log.extend([proposed(again), BatchFinalized(22, 0, 0)])
    assert [b.key for b in log.view.ordered()] == [(0, 1), (1, 4)]
    assert log.view.final_count == 1


def test_events_read_twice_are_folded_once() -> None:
    log = ChainLog()
    events = [proposed(b) for b in chain(3)]
    assert len(log.extend(events)) == 3
    assert log.extend(events) == []
    assert log.extend(reversed(events)) == []
    assert len(log) == 3


def test_a_rollback_drops_later_events_and_brings_back_what_a_dropped_deletion_deleted() -> None:
    log = ChainLog()
    b0, b1 = chain(2)
    game = GameRef(0, 1, 2, ME, "0x" + "cd" * 20, 15)
    log.extend(
        [
            proposed(b0),
            proposed(b1),
            GameOpened(15, 0, game),
            BatchesDeleted(16, 0, 1, 1, 5),
            DepositQueued(17, 0, 0, keccak(b"d0")),
        ]
    )
    assert list(log.view.batches) == [0] and log.view.games == {0: game}
    assert log.rollback(15) == 2
    assert list(log.view.batches) == [0, 1] and log.view.slashed == 0
    assert log.view.deposits == {}
    assert log.last_position == (15, 0)
    assert log.rollback(-1) == 3
    assert log.view.batches == {} and log.view.games == {}


def test_deposits_read_from_the_vault_survive_a_rollback() -> None:
    log = ChainLog()
    log.add_deposit(0, keccak(b"d0"))
    log.extend([DepositQueued(5, 0, 1, keccak(b"d1"))])
    log.rollback(4)
    assert log.view.deposits == {0: keccak(b"d0")}
    assert log.view.missing_deposits(3) == [1, 2]


def test_the_deposit_digest_chains_the_queue_and_follows_a_changed_entry() -> None:
    log = ChainLog()
    hashes = [keccak(bytes([i])) for i in range(5)]
    log.extend([DepositQueued(1, i, i, h) for i, h in enumerate(hashes)])
    acc = b"\x00" * 32
    digests = [acc]
    for h in hashes:
        acc = keccak(acc + h)
        digests.append(acc)
    assert [log.view.deposit_digest(n) for n in range(6)] == digests
    assert log.view.deposit_hashes(3) == hashes[:3]
    log.view.add_deposit(2, keccak(b"another"))  # a reorg replaced entry 2
    assert log.view.deposit_digest(2) == digests[2]
    assert log.view.deposit_digest(3) != digests[3]
    with pytest.raises(KeyError):
        log.view.deposit_digest(6)


# --------------------------------------------------------------------------- reorgs


def hashes(tag: bytes) -> dict[int, bytes]:
    return {h: keccak(tag + h.to_bytes(4, "big")) for h in range(100)}


def test_the_trail_finds_the_newest_block_still_on_the_chain() -> None:
    old, new = hashes(b"a"), hashes(b"b")
    trail = BlockTrail()
    for h in (10, 12, 15, 20):
        trail.remember(h, old[h])
    assert trail.newest() == (20, old[20])
    assert trail.common(old.get) == 20  # no reorg
    reorged = {**old, 15: new[15], 16: new[16], 20: new[20]}  # blocks from 13 on replaced
    calls: list[int] = []

    def current(h: int) -> bytes | None:
        calls.append(h)
        return reorged.get(h)

    assert trail.common(current) == 12
    assert calls == [20, 15, 12]  # newest first, stops at the first match
    assert trail.common(lambda h: reorged.get(h) if h < 13 else None) == 12  # a shorter chain
    assert trail.common(new.get) is None  # nothing remembered survives: read all again
    trail.forget_above(12)
    assert trail.newest() == (12, old[12])


def test_the_trail_remembers_a_bounded_number_of_blocks() -> None:
    trail = BlockTrail(limit=3)
    for h in range(10):
        trail.remember(h, bytes([h]) * 32)
    assert len(trail) == 3 and trail.newest() == (9, bytes([9]) * 32)
    assert trail.common(lambda h: bytes([h]) * 32 if h == 7 else None) == 7
    assert trail.common(lambda h: bytes([h]) * 32 if h == 6 else None) is None
    with pytest.raises(ValueError):
        BlockTrail(limit=0)


# --------------------------------------------------------------------------- verdicts


def verdicts(checks: Sequence[Check]) -> list[str]:
    return [c.verdict.value for c in checks]


def honest(b: ProposedBatch) -> bytes:
    return root(b.index)


def test_a_right_chain_is_ok_throughout() -> None:
    w = walk(chain(4), GENESIS, honest)
    assert verdicts(w.checks) == ["ok"] * 4
    assert w.next_replay is None
    assert all(c.own_root == c.batch.new_root for c in w.checks)


def test_after_a_wrong_batch_every_batch_is_a_descendant_and_never_replayed() -> None:
    bs = chain(2) + [batch(2, new=keccak(b"lie"))]
    bs += [batch(3, prev=keccak(b"lie")), batch(4, prev=root(3))]
    asked: list[int] = []

    def post(b: ProposedBatch) -> bytes:
        asked.append(b.index)
        return root(b.index)

    w = walk(bs, GENESIS, post)
    assert verdicts(w.checks) == ["ok", "ok", "wrong", "descendant", "descendant"]
    assert asked == [0, 1, 2]
    assert w.checks[2].own_root == root(2)


def test_the_first_batch_not_replayed_is_the_next_to_replay_and_stops_the_walk() -> None:
    w = walk(chain(4), GENESIS, lambda b: root(b.index) if b.index < 2 else None)
    assert verdicts(w.checks) == ["ok", "ok", "unchecked", "unchecked"]
    assert w.next_replay is not None and w.next_replay.index == 2


def test_a_batch_not_starting_at_genesis_or_at_the_challengers_root_is_not_judged() -> None:
    w = walk([batch(0, prev=keccak(b"elsewhere"))], GENESIS, honest)
    assert verdicts(w.checks) == ["descendant"]


def test_an_unreadable_batch_stops_the_walk() -> None:
    w = walk(chain(3), GENESIS, honest, unreadable={(1, 2)})
    assert verdicts(w.checks) == ["ok", "unreadable", "unverifiable"]
    assert w.next_replay is None


@pytest.mark.parametrize(
    ("has_state", "expected"),
    [(True, ["ok", "ok"]), (False, ["unverifiable", "unverifiable"])],
    ids=["with the state it starts from", "without it"],
)
def test_a_follower_started_late_judges_from_a_state_it_holds(
    has_state: bool, expected: list[str]
) -> None:
    w = walk(chain(5)[3:], GENESIS, honest, has_state=lambda r: has_state and r == root(2))
    assert verdicts(w.checks) == expected


def test_a_gap_in_the_indices_makes_the_rest_unverifiable() -> None:
    bs = chain(2) + [batch(3, prev=root(1))]
    assert verdicts(walk(bs, GENESIS, honest).checks) == ["ok", "ok", "unverifiable"]


@given(st.lists(st.booleans(), min_size=1, max_size=12), st.integers(0, 12))
def test_a_walk_is_an_ok_prefix_then_at_most_one_wrong_then_descendants(
    right: list[bool], replayed: int
) -> None:
    lie = {i for i, ok in enumerate(right) if not ok}
    bs: list[ProposedBatch] = []
    prev = GENESIS
    for i in range(len(right)):
        b = batch(i, prev=prev, new=keccak(b"lie" + bytes([i])) if i in lie else root(i))
        bs.append(b)
        prev = b.new_root
    w = walk(bs, GENESIS, lambda b: root(b.index) if b.index < replayed else None)
    v = verdicts(w.checks)
    first_bad = min([i for i in lie] + [len(right)])
    stop = min(first_bad, replayed)
    assert v[:stop] == ["ok"] * stop
    if first_bad < min(replayed, len(right)):
        assert v[first_bad:] == ["wrong"] + ["descendant"] * (len(right) - first_bad - 1)
    elif replayed < len(right):
        assert v[replayed:] == ["unchecked"] * (len(right) - replayed)
        assert w.next_replay is not None and w.next_replay.index == replayed


# --------------------------------------------------------------------------- decisions


def check(verdict: Verdict, index: int = 0, *, at: int = 1_000) -> Check:
    b = batch(index, at=at)
    return Check(b, verdict, root(index) if verdict in (Verdict.OK, Verdict.WRONG) else None)


ACTIVE = {(0, 1): [Status.ACTIVE]}
LOST = {(0, 1): [Status.ASSERTER_WON]}
WON = {(0, 1): [Status.CHALLENGER_WON]}
VOID = {(0, 1): [Status.VOID]}
PLANS = [
    ("a wrong batch inside its window", Verdict.WRONG, {}, (), None, 1_500, 0, ["open"]),
    ("a wrong batch with our active game", Verdict.WRONG, ACTIVE, (), None, 1_500, 0, []),
    ("a wrong batch whose game we lost", Verdict.WRONG, LOST, (), None, 1_500, 0, ["open"]),
    ("a wrong batch with an open in flight", Verdict.WRONG, {}, [(0, 1)], None, 1_500, 0, []),
    # our game deleted it (or it is void): a view still listing it is stale; an `open` at its
    # index would land on whatever batch the proposer posted there since (a right one)
    ("a wrong batch whose game we won", Verdict.WRONG, WON, (), None, 1_500, 0, []),
    ("a wrong batch whose game is void", Verdict.WRONG, VOID, (), None, 1_500, 0, []),
    ("a wrong batch after its window", Verdict.WRONG, {}, (), None, 1_600, 0, ["late"]),
    ("a wrong batch we dispute after its window", Verdict.WRONG, ACTIVE, (), None, 1_600, 0, []),
    ("a wrong batch that is final", Verdict.WRONG, {}, (), None, 1_500, 1, ["diverged"]),
    ("a right batch", Verdict.OK, {}, (), None, 1_500, 0, []),
    ("a descendant", Verdict.DESCENDANT, {}, (), None, 1_500, 0, []),
    ("the dishonest batch when right", Verdict.OK, {}, (), 0, 1_500, 0, ["lie"]),
    ("the dishonest batch already disputed", Verdict.OK, LOST, (), 0, 1_500, 0, []),
    ("the dishonest batch after its window", Verdict.OK, {}, (), 0, 1_600, 0, []),
    ("the dishonest batch when wrong", Verdict.WRONG, {}, (), 0, 1_500, 0, ["open"]),
]


@pytest.mark.parametrize(
    ("verdict", "games", "in_flight", "dishonest", "now", "final", "expected"),
    [p[1:] for p in PLANS],
    ids=[p[0] for p in PLANS],
)
def test_which_games_to_open(
    verdict: Verdict,
    games: dict[tuple[int, int], list[Status]],
    in_flight: Sequence[tuple[int, int]],
    dishonest: int | None,
    now: int,
    final: int,
    expected: list[str],
) -> None:
    out = plan_opens(
        [check(verdict)],
        games,
        now=now,
        window=WINDOW,
        final_count=final,
        in_flight=in_flight,
        dishonest_batch=dishonest,
    )
    names = []
    for d in out:
        if isinstance(d, Open):
            names.append("open" if d.honest else "lie")
        elif isinstance(d, TooLate):
            names.append("late")
            assert d.window_closed_at == 1_000 + WINDOW
        else:
            assert isinstance(d, Diverged)
            names.append("diverged")
    assert names == expected


def test_the_batch_a_challenger_is_behind_on_is_the_first_one_without_a_verdict() -> None:
    ok = [check(Verdict.OK, i) for i in range(3)]
    assert first_unjudged(ok, 0) is None
    wrong = [*ok[:2], check(Verdict.WRONG, 2), check(Verdict.DESCENDANT, 3)]
    assert first_unjudged(wrong, 0) is None
    for blind in (Verdict.UNCHECKED, Verdict.UNREADABLE, Verdict.UNVERIFIABLE):
        checks = [*ok[:2], check(blind, 2), check(Verdict.UNVERIFIABLE, 3)]
        found = first_unjudged(checks, 0)
        assert found is not None and found.index == 2, blind
    # final batches (a late --from-block) are not watched: nothing can be done about them
    late = [check(Verdict.UNVERIFIABLE, i) for i in range(3)]
    assert first_unjudged(late, 3) is None
    assert first_unjudged(late, 1) == late[1].batch


def test_the_rollups_record_of_an_index_is_the_batch_judged_only_if_every_field_matches() -> None:
    b = batch(2)
    record = (b.prev_root, b.new_root, b.tx_root, b.tx_count, b.batch_time, b.proposed_at,
              b.deposit_count, b.nonce)  # fmt: skip
    assert held(b, record)
    assert not held(b, (*record[:7], b.nonce + 1))  # deleted and re-posted
    assert not held(b, (record[0], keccak(b"right"), *record[2:]))  # a reorg, same nonce
    assert not held(b, (*record[:5], b.proposed_at + 1, *record[6:]))


def test_the_open_commits_to_the_hash_of_the_very_record_judged() -> None:
    b = batch(2)
    assert b.record == (b.prev_root, b.new_root, b.tx_root, b.tx_count, b.batch_time,
                        b.proposed_at, b.deposit_count, b.nonce)  # fmt: skip
    assert b.batch_hash == batch_hash(b.record)
    assert replace(b, nonce=b.nonce + 1).batch_hash != b.batch_hash  # deleted and re-posted
    assert replace(b, new_root=keccak(b"right")).batch_hash != b.batch_hash  # a reorg


def test_the_lying_trace_is_played_only_on_the_dishonest_batch_when_it_is_right() -> None:
    assert plays_lying(check(Verdict.OK), 0)
    assert not plays_lying(check(Verdict.OK), None)
    assert not plays_lying(check(Verdict.OK, 1), 0)
    assert not plays_lying(check(Verdict.WRONG), 0)
    assert not plays_lying(None, 0)
    assert [lie_index(n) for n in (1, 2, 10, 1000)] == [0, 0, 4, 499]
    with pytest.raises(ValueError):
        lie_index(0)


def test_the_trace_key_covers_every_input_of_a_replay_and_nothing_else() -> None:
    b = batch(3)
    digest, sep = keccak(b"deposits"), keccak(b"domain")
    key = trace_key(b, digest, sep)
    assert (
        trace_key(
            replace(
                b,
                index=7,
                nonce=9,
                new_root=keccak(b"x"),
                proposed_at=5,
                l1_block=99,
                tx_hash=keccak(b"y"),
            ),
            digest,
            sep,
        )
        == key
    )
    changed = [
        trace_key(replace(b, prev_root=keccak(b"p")), digest, sep),
        trace_key(replace(b, tx_root=keccak(b"t")), digest, sep),
        trace_key(replace(b, batch_time=b.batch_time + 1), digest, sep),
        trace_key(replace(b, deposit_count=1), digest, sep),
        trace_key(b, keccak(b"other deposits"), sep),
        trace_key(b, digest, keccak(b"other domain")),
    ]
    assert len({key, *changed}) == 7
