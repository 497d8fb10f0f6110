"""The DisputeGame (docs/l1.md, "DisputeGame"): k-ary bisection, chess clocks, bonds.

Games are driven by test-side players over real traces: ``optirollup.stf.batch.trace`` gives
``[R_0 .. R_n]`` of batches of real DEPOSITs (queued on the Vault) and no-op transactions. The
DEPOSIT step verifier is not wired here, so every game ends its bisection on a no-op (reserved
type or wrong length), whose post-root the DisputeGame decides itself (``R_{j+1} = R_j``):
the honest challenger of a lying asserter is steered there by the lie itself (the asserted
trace goes wrong right after a no-op), a dishonest challenger steers there on purpose.
"""

# ruff: noqa: E402  (conftest_l1 is registered for assertion rewriting before it is imported)

from __future__ import annotations

import math
from typing import Any

import pytest

pytest.register_assert_rewrite("conftest_l1")

from conftest_l1 import (
    ETHER,
    L1,
    NOOP_TXS,
    REJECTER,
    Disputed,
    bisect_to_step,
    deploy_source,
    game_gas,
    honest_chooser,
    print_gas,
    propose_disputed,
    reverts,
    split_points,
    step,
    target_chooser,
)
from eth_utils import keccak

from optirollup.codec.batch import tx_proof
from optirollup.dispute.game import BATCH_FIELDS, batch_hash
from optirollup.dispute.witness import build_witness
from optirollup.l1.contracts import load
from optirollup.stf.context import BatchContext
from optirollup.testkit import Trader

pytest_plugins = ["conftest_l1"]

BISECT, CHOOSE, STEP = 1, 2, 3
ACTIVE, ASSERTER_WON, CHALLENGER_WON, VOID = 1, 2, 3, 4
NOOPS = [2, 3, 7, 8, 11]


def balance(l1: L1, who: str) -> int:
    return int(l1.w3.eth.get_balance(who))


def credits(l1: L1, who: str) -> int:
    return int(l1.game.functions.credits(who).call())


# --------------------------------------------------------------------------- open


def test_open_starts_a_game_on_the_whole_batch(staked: L1) -> None:
    l1 = staked
    d = propose_disputed(l1, l1.l2(), 13, noops=NOOPS)
    gid, receipt = l1.open_game(d.index, l1.alice)
    g = l1.game_state(gid)
    assert g == {
        "batch_index": 0,
        "batch_nonce": 1,
        "asserter": l1.proposer,
        "challenger": l1.alice,
        "lo": 0,
        "hi": 13,
        "root_lo": d.honest[0],
        "root_hi": d.honest[13],
        "phase": BISECT,
        "status": ACTIVE,
        "clock_asserter": l1.params.game_clock,
        "clock_challenger": l1.params.game_clock,
        "last_move_at": l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"],
    }
    (event,) = l1.events(l1.game, "GameOpened", receipt)
    assert dict(event["args"]) == {
        "game_id": gid,
        "batch_index": 0,
        "batch_nonce": 1,
        "challenger": l1.alice,
        "asserter": l1.proposer,
    }
    assert l1.game.functions.open_games(0, 1).call() == 1
    assert l1.game.functions.to_move(gid).call() == l1.proposer
    assert l1.w3.eth.get_balance(l1.dep.dispute_game) == l1.params.challenger_bond


def test_a_one_transaction_batch_starts_at_the_step_with_the_challenger_to_move(staked: L1) -> None:
    l1 = staked
    d = propose_disputed(l1, l1.l2(), 1, noops=[0])
    gid, _ = l1.open_game(d.index, l1.alice)
    g = l1.game_state(gid)
    assert (g["phase"], g["lo"], g["hi"]) == (STEP, 0, 1)
    assert l1.game.functions.to_move(gid).call() == l1.alice
    # The asserter's no-op claim is right: anyone's step ends the game for the asserter.
    step(l1, gid, d.txs, l1.carol)
    assert l1.game_state(gid)["status"] == ASSERTER_WON


@pytest.mark.parametrize(
    "case",
    [
        "wrong bond: none",
        "wrong bond: one wei more",
        "wrong bond: and a wrong batch hash",
        "no batch: beyond the last",
        "no batch: final",
        "no batch: and a wrong batch hash",
        "batch changed: a hash of another batch",
        "batch changed: and the window closed",
        "window closed",
    ],
)
def test_open_reverts_with_its_reason(staked: L1, case: str) -> None:
    # The checks run in the order of docs/l1.md: bond, batch, batch hash, window.
    l1 = staked
    propose_disputed(l1, l1.l2(), 3, noops=[0, 1, 2])
    index, value, commitment = 0, l1.params.challenger_bond, l1.batch_hash(0)
    if case.startswith("wrong bond"):
        value = 0 if case.endswith("none") else value + 1
    elif case == "no batch: beyond the last":
        index = 1
    elif case == "no batch: final":
        l1.finalize_all()
    elif case == "no batch: and a wrong batch hash":
        index = 1
    elif case == "batch changed: and the window closed" or case == "window closed":
        l1.mine_at(l1.batch(0)["proposed_at"] + l1.params.challenge_window)
    if case.endswith("wrong batch hash") or case.startswith("batch changed"):
        commitment = keccak(b"another batch")
    with reverts("dispute: " + case.split(":")[0]):
        l1.game.functions.open(index, commitment).transact({"from": l1.alice, "value": value})


def test_a_game_opened_in_the_last_second_of_the_window_is_accepted(staked: L1) -> None:
    l1 = staked
    propose_disputed(l1, l1.l2(), 3, noops=[0, 1, 2])
    l1.at(l1.batch(0)["proposed_at"] + l1.params.challenge_window - 1)
    fn = l1.game.functions.open(0, l1.batch_hash(0))
    l1.tx(fn, l1.alice, value=l1.params.challenger_bond, gas=500_000)
    assert l1.game.functions.open_games(0, 1).call() == 1


# --------------------------------------------------------------------------- the batch hash


def _open_with(l1: L1, record: dict[str, Any]) -> None:
    """Open a game on batch 0 committed to ``record`` (a ``Rollup.batch`` dict)."""
    fn = l1.game.functions.open(0, batch_hash([record[name] for name in BATCH_FIELDS]))
    fn.transact({"from": l1.alice, "value": l1.params.challenger_bond})


def test_the_python_batch_hash_is_the_contracts_and_covers_every_field(staked: L1) -> None:
    l1 = staked
    propose_disputed(l1, l1.l2(), 3, noops=[0, 1, 2])
    record = l1.batch(0)
    for name in BATCH_FIELDS:  # one field off, the other seven right
        other = record[name] ^ 1 if isinstance(record[name], int) else keccak(record[name])
        with reverts("dispute: batch changed"):
            _open_with(l1, {**record, name: other})
    _open_with(l1, record)  # the record as Rollup.batch(0) returns it: accepted
    assert l1.game_state(0)["batch_nonce"] == record["nonce"] == 1


def test_an_open_committed_to_a_deleted_batch_does_not_dispute_its_re_proposal(
    staked: L1,
) -> None:
    l1 = staked
    txs = [NOOP_TXS["reserved DELEVERAGE"]] * 2
    l1.propose(txs, b"\x02" * 32)  # wrong: a no-op batch keeps the genesis root
    judged = l1.batch_hash(0)
    gid, _ = l1.open_game(0, l1.bob)  # another challenger wins first: the asserter never bisects
    g = l1.game_state(gid)
    l1.mine_at(g["last_move_at"] + g["clock_asserter"] + 1)
    l1.tx(l1.game.functions.timeout(gid), l1.user)
    assert l1.rollup.functions.batch_count().call() == 0
    l1.stake()
    l1.propose(txs, l1.last_root())  # the right batch at the same index, nonce 2
    assert l1.batch(0)["nonce"] == 2 and l1.batch_hash(0) != judged
    with reverts("dispute: batch changed"):
        fn = l1.game.functions.open(0, judged)
        fn.transact({"from": l1.alice, "value": l1.params.challenger_bond})
    assert l1.game.functions.game_count().call() == 1


def test_an_open_committed_to_a_batch_a_reorg_replaced_with_the_same_nonce_reverts(
    staked: L1,
) -> None:
    l1 = staked
    txs = [NOOP_TXS["reserved DELEVERAGE"]] * 2
    snapshot = l1.node.rpc("evm_snapshot")
    l1.propose(txs, b"\x02" * 32)
    judged = l1.batch_hash(0)
    l1.node.rpc("evm_revert", snapshot)  # the reorg: the right batch, same index, same nonce
    l1.advance(1)
    l1.propose(txs, l1.last_root())
    assert l1.batch(0)["nonce"] == 1 and l1.batch_hash(0) != judged
    with reverts("dispute: batch changed"):
        fn = l1.game.functions.open(0, judged)
        fn.transact({"from": l1.alice, "value": l1.params.challenger_bond})
    assert l1.game.functions.game_count().call() == 0


# --------------------------------------------------------------------------- full games

GAMES = [(2, 16), (4, 16), (3, 13), (4, 13)]
GAME_IDS = [
    "k=2 over 16 txs",
    "k=4 over 16 txs",
    "k=3 over 13 txs (k does not divide)",
    "k=4 over 13 txs (k does not divide)",
]


@pytest.mark.parametrize(("k", "n"), GAMES, ids=GAME_IDS)
def test_an_honest_asserter_beats_a_dishonest_challenger(make_l1: Any, k: int, n: int) -> None:
    l1: L1 = make_l1(k=k)
    l1.stake()
    d = propose_disputed(l1, l1.l2(), n, noops=NOOPS)
    target = 7

    def check(g: dict[str, Any]) -> None:
        # The asserter only ever posts true roots; the challenger keeps the target inside.
        assert g["root_lo"] == d.honest[g["lo"]] and g["root_hi"] == d.honest[g["hi"]]
        assert g["lo"] <= target < g["hi"]

    gid, _ = l1.open_game(d.index, l1.alice)
    log = bisect_to_step(l1, gid, d.asserted, target_chooser(target), check=check)
    assert log.rounds <= math.ceil(math.log(n, k))
    g = l1.game_state(gid)
    assert (g["phase"], g["lo"], g["hi"]) == (STEP, target, target + 1)

    receipt = step(l1, gid, d.txs, l1.proposer)  # anyone may step; the asserter does
    (stepped,) = l1.events(l1.game, "GameStepped", receipt)
    assert stepped["args"]["tx_index"] == target
    assert bytes(stepped["args"]["post_root"]) == d.honest[target] == d.honest[target + 1]
    (resolved,) = l1.events(l1.game, "GameResolved", receipt)
    assert resolved["args"]["winner"] == l1.proposer
    assert l1.game_state(gid)["status"] == ASSERTER_WON
    assert credits(l1, l1.proposer) == l1.params.challenger_bond
    assert l1.rollup.functions.batch_count().call() == 1  # the batch stands
    assert l1.game.functions.open_games(0, 1).call() == 0


@pytest.mark.parametrize(("k", "n"), GAMES, ids=GAME_IDS)
def test_an_honest_challenger_beats_a_lying_asserter(make_l1: Any, k: int, n: int) -> None:
    l1: L1 = make_l1(k=k)
    l1.stake()
    d = propose_disputed(l1, l1.l2(), n, noops=NOOPS, lie_at=8)

    def check(g: dict[str, Any]) -> None:
        # The invariant: the challenger agrees with root_lo and disputes root_hi.
        assert g["root_lo"] == d.honest[g["lo"]] and g["root_hi"] != d.honest[g["hi"]]

    gid, _ = l1.open_game(d.index, l1.alice)
    log = bisect_to_step(l1, gid, d.asserted, honest_chooser(d.honest), check=check)
    assert log.rounds <= math.ceil(math.log(n, k))
    g = l1.game_state(gid)
    assert (g["lo"], g["hi"]) == (8, 9)

    stake = l1.rollup.functions.stakes(l1.proposer).call()
    receipt = step(l1, gid, d.txs, l1.alice)
    (stepped,) = l1.events(l1.game, "GameStepped", receipt)
    assert bytes(stepped["args"]["post_root"]) == d.honest[8] != d.asserted[9]
    assert l1.game_state(gid)["status"] == CHALLENGER_WON
    assert l1.rollup.functions.batch_count().call() == 0
    assert l1.rollup.functions.stakes(l1.proposer).call() == 0
    assert credits(l1, l1.alice) == l1.params.challenger_bond + stake // 2
    assert l1.game.functions.burned().call() == stake - stake // 2


def test_the_contract_split_points_match_the_python_model(make_l1: Any) -> None:
    l1: L1 = make_l1(k=5)
    l1.stake()
    d = propose_disputed(l1, l1.l2(), 23, noops=[0, 4, 9, 14, 19, 22])
    gid, _ = l1.open_game(d.index, l1.alice)
    assert (
        l1.game.functions.split_points(gid).call()
        == split_points(0, 23, 5)
        == [0, 4, 9, 13, 18, 23]
    )
    log = bisect_to_step(l1, gid, d.asserted, target_chooser(22))
    assert log.rounds == 2  # [18, 23] then [22, 23]


# --------------------------------------------------------------------------- clocks


@pytest.fixture
def game(staked: L1) -> tuple[L1, Disputed, int]:
    """Return a game on an honest 13-transaction batch, just opened by alice."""
    d = propose_disputed(staked, staked.l2(), 13, noops=NOOPS)
    gid, _ = staked.open_game(d.index, staked.alice)
    return staked, d, gid


def _bisect(l1: L1, d: Disputed, gid: int, gas: int | None = None) -> None:
    g = l1.game_state(gid)
    pts = split_points(g["lo"], g["hi"], l1.params.k)
    l1.tx(l1.game.functions.bisect(gid, [d.asserted[p] for p in pts[1:-1]]), l1.proposer, gas=gas)


def test_an_asserter_that_does_not_bisect_in_time_loses(game: tuple[L1, Disputed, int]) -> None:
    l1, d, gid = game
    g = l1.game_state(gid)
    deadline = g["last_move_at"] + g["clock_asserter"]
    l1.mine_at(deadline)
    with reverts("dispute: clock not expired"):
        l1.game.functions.timeout(gid).transact({"from": l1.user})
    l1.mine_at(deadline + 1)
    with reverts("dispute: clock expired"):
        _bisect(l1, d, gid)
    receipt = l1.tx(l1.game.functions.timeout(gid), l1.user)
    (event,) = l1.events(l1.game, "GameTimedOut", receipt)
    assert event["args"]["loser"] == l1.proposer
    assert l1.game_state(gid)["status"] == CHALLENGER_WON
    assert l1.rollup.functions.batch_count().call() == 0


def test_a_move_in_the_last_second_of_the_clock_is_accepted(game: tuple[L1, Disputed, int]) -> None:
    l1, d, gid = game
    g = l1.game_state(gid)
    l1.at(g["last_move_at"] + g["clock_asserter"])
    _bisect(l1, d, gid, gas=500_000)
    after = l1.game_state(gid)
    assert after["phase"] == CHOOSE
    # The asserter spent its whole clock: it is topped up when its turn begins again.
    assert after["clock_asserter"] == 0


def test_a_challenger_that_does_not_choose_in_time_loses(game: tuple[L1, Disputed, int]) -> None:
    l1, d, gid = game
    _bisect(l1, d, gid)
    g = l1.game_state(gid)
    l1.mine_at(g["last_move_at"] + g["clock_challenger"] + 1)
    with reverts("dispute: clock expired"):
        l1.game.functions.choose(gid, 0).transact({"from": l1.alice})
    receipt = l1.tx(l1.game.functions.timeout(gid), l1.carol)
    (event,) = l1.events(l1.game, "GameTimedOut", receipt)
    assert event["args"]["loser"] == l1.alice
    assert l1.game_state(gid)["status"] == ASSERTER_WON
    assert credits(l1, l1.proposer) == l1.params.challenger_bond
    assert l1.rollup.functions.batch_count().call() == 1


def test_a_challenger_that_does_not_step_in_time_loses(game: tuple[L1, Disputed, int]) -> None:
    l1, d, gid = game
    bisect_to_step(l1, gid, d.asserted, target_chooser(2))
    g = l1.game_state(gid)
    l1.mine_at(g["last_move_at"] + g["clock_challenger"] + 1)
    with reverts("dispute: clock expired"):  # charged to the challenger whoever sends it
        l1.game.functions.step(gid, d.txs[2], tx_proof(d.txs, 2), b"").transact(
            {"from": l1.proposer}
        )
    l1.tx(l1.game.functions.timeout(gid), l1.proposer)
    assert l1.game_state(gid)["status"] == ASSERTER_WON


def test_a_side_whose_clock_ran_low_is_topped_up_when_its_turn_begins(
    game: tuple[L1, Disputed, int],
) -> None:
    l1, d, gid = game
    clock, extension = l1.params.game_clock, l1.params.clock_extension
    g = l1.game_state(gid)
    l1.at(g["last_move_at"] + clock - 100)  # the asserter thinks for clock - 100 s
    _bisect(l1, d, gid, gas=500_000)
    g = l1.game_state(gid)
    assert g["clock_asserter"] == 100
    assert g["clock_challenger"] == clock
    l1.at(g["last_move_at"] + 50)
    l1.tx(l1.game.functions.choose(gid, 0), l1.alice, gas=500_000)
    g = l1.game_state(gid)
    assert g["clock_challenger"] == clock - 50
    assert g["clock_asserter"] == extension  # topped up from 100 to the extension
    # A game lasts at most 2 * game_clock + moves * extension.
    assert l1.game.functions.to_move(gid).call() == l1.proposer


def test_the_challenger_is_topped_up_for_its_step_after_its_last_choice(staked: L1) -> None:
    l1 = staked
    d = propose_disputed(l1, l1.l2(), 2, noops=[0, 1])
    gid, _ = l1.open_game(d.index, l1.alice)
    l1.tx(l1.game.functions.bisect(gid, [d.honest[1]]), l1.proposer)
    g = l1.game_state(gid)
    l1.at(g["last_move_at"] + l1.params.game_clock - 10)  # the challenger thinks long
    l1.tx(l1.game.functions.choose(gid, 1), l1.alice, gas=500_000)
    g = l1.game_state(gid)
    assert g["phase"] == STEP
    assert g["clock_challenger"] == l1.params.clock_extension  # 10 s left, topped up


# --------------------------------------------------------------------------- parallel games


def test_two_dishonest_challengers_lose_in_parallel_and_the_batch_then_finalizes(
    staked: L1,
) -> None:
    l1 = staked
    d = propose_disputed(l1, l1.l2(), 13, noops=NOOPS)
    game_a, _ = l1.open_game(d.index, l1.alice)
    game_b, _ = l1.open_game(d.index, l1.bob)
    assert l1.game.functions.open_games(0, 1).call() == 2
    # Interleave: one round of each in turn.
    a_done = b_done = False
    while not (a_done and b_done):
        for gid, target in ((game_a, 3), (game_b, 11)):
            g = l1.game_state(gid)
            if g["phase"] == BISECT:
                _bisect(l1, d, gid)
                pts = split_points(g["lo"], g["hi"], l1.params.k)
                j = target_chooser(target)(pts, [])
                l1.tx(l1.game.functions.choose(gid, j), g["challenger"])
            elif gid == game_a:
                a_done = True
            else:
                b_done = True
    step(l1, game_a, d.txs, l1.proposer)
    assert l1.game.functions.open_games(0, 1).call() == 1
    # Challenger B stalls at its step: the window passes, its clock runs out, and the game
    # still blocks finality until someone calls timeout.
    l1.advance(l1.params.challenge_window)
    with reverts("rollup: game open"):
        l1.rollup.functions.finalize(0).transact({"from": l1.user})
    l1.tx(l1.game.functions.timeout(game_b), l1.user)
    assert l1.game_state(game_b)["status"] == ASSERTER_WON
    assert l1.game.functions.open_games(0, 1).call() == 0
    l1.tx(l1.rollup.functions.finalize(0), l1.user)
    assert l1.rollup.functions.is_final(0).call()
    assert credits(l1, l1.proposer) == 2 * l1.params.challenger_bond


def test_when_a_challenger_wins_the_other_game_on_the_batch_becomes_void_and_is_refunded(
    staked: L1,
) -> None:
    l1 = staked
    d = propose_disputed(l1, l1.l2(), 13, noops=NOOPS, lie_at=3)
    game_a, _ = l1.open_game(d.index, l1.alice)
    game_b, _ = l1.open_game(d.index, l1.bob)
    _bisect(l1, d, game_b)  # game B is in progress when A ends
    with reverts("dispute: game not void"):
        l1.game.functions.close_void(game_b).transact({"from": l1.user})
    bisect_to_step(l1, game_a, d.asserted, honest_chooser(d.honest))
    step(l1, game_a, d.txs, l1.alice)
    assert l1.rollup.functions.batch_count().call() == 0

    with reverts("dispute: game void"):
        l1.game.functions.choose(game_b, 0).transact({"from": l1.bob})
    with reverts("dispute: game void"):
        l1.game.functions.timeout(game_b).transact({"from": l1.bob})
    receipt = l1.tx(l1.game.functions.close_void(game_b), l1.user)
    assert len(l1.events(l1.game, "GameVoided", receipt)) == 1
    assert l1.game_state(game_b)["status"] == VOID
    assert l1.game.functions.open_games(0, 1).call() == 0
    assert credits(l1, l1.bob) == l1.params.challenger_bond
    with reverts("dispute: game over"):
        l1.game.functions.close_void(game_b).transact({"from": l1.user})
    before = balance(l1, l1.bob)
    receipt = l1.tx(l1.game.functions.claim(), l1.bob)
    assert (
        balance(l1, l1.bob)
        == before + l1.params.challenger_bond - receipt["gasUsed"] * receipt["effectiveGasPrice"]
    )


def test_a_challenger_win_deletes_the_batch_and_its_descendants_and_slashes_the_proposer(
    l1: L1,
) -> None:
    stake = 3 * ETHER + 1  # odd: the burned half gets the extra wei
    l1.stake(stake)
    model = l1.l2()
    propose_disputed(l1, model, 5, noops=[1, 3])  # batch 0, honest
    bad = propose_disputed(l1, model, 13, noops=NOOPS, lie_at=7)  # batch 1, lying
    l1.propose([NOOP_TXS["reserved SETTLE_POSITION"]], bad.asserted[-1])  # batch 2 on top of it
    late, _ = l1.open_game(2, l1.bob)  # a game on the descendant
    gid, _ = l1.open_game(1, l1.alice)
    bisect_to_step(l1, gid, bad.asserted, honest_chooser(bad.honest))
    receipt = step(l1, gid, bad.txs, l1.carol)  # anyone may submit the step

    (deleted,) = l1.events(l1.rollup, "BatchesDeleted", receipt)
    assert dict(deleted["args"]) == {"index": 1, "count": 2, "slashed": stake}
    assert l1.rollup.functions.batch_count().call() == 1
    assert l1.rollup.functions.stakes(l1.proposer).call() == 0
    assert credits(l1, l1.alice) == l1.params.challenger_bond + stake // 2
    assert l1.game.functions.burned().call() == stake - stake // 2 == (stake + 1) // 2
    game_balance = 2 * l1.params.challenger_bond + stake
    assert balance(l1, l1.dep.dispute_game) == game_balance

    # The descendant's game is void; the proposer must stake again to propose.
    l1.tx(l1.game.functions.close_void(late), l1.user)
    with reverts("rollup: bond too low"):
        l1.rollup.functions.propose(
            l1.last_root(), b"\x01" * 32, l1.now(), b"\x00\x01\x0b"
        ).transact({"from": l1.proposer})
    l1.stake()
    l1.propose([NOOP_TXS["reserved DELEVERAGE"]], b"\x01" * 32)
    assert l1.batch(1)["nonce"] == 4  # a fresh nonce for the reused index
    assert not l1.rollup.functions.is_pending(1, 2).call()

    for who in (l1.alice, l1.bob):
        l1.tx(l1.game.functions.claim(), who)
    assert balance(l1, l1.dep.dispute_game) == l1.game.functions.burned().call()
    with reverts("dispute: nothing to claim"):
        l1.game.functions.claim().transact({"from": l1.alice})


def test_finality_is_blocked_while_a_game_is_open_and_allowed_after(staked: L1) -> None:
    l1 = staked
    d = propose_disputed(l1, l1.l2(), 13, noops=NOOPS)
    l1.mine_at(l1.batch(0)["proposed_at"] + l1.params.challenge_window - 10)
    gid, _ = l1.open_game(d.index, l1.alice)  # ten seconds before the window closes
    l1.advance(100)
    with reverts("rollup: game open"):
        l1.rollup.functions.finalize(0).transact({"from": l1.user})
    bisect_to_step(l1, gid, d.asserted, target_chooser(11))
    with reverts("rollup: game open"):
        l1.rollup.functions.finalize(0).transact({"from": l1.user})
    step(l1, gid, d.txs, l1.proposer)
    l1.tx(l1.rollup.functions.finalize(0), l1.user)
    assert l1.rollup.functions.is_final(0).call()


# --------------------------------------------------------------------------- move rules


BAD_MOVES = {
    # case: (setup, move, sender, reason)
    "a bisect by the challenger": ("open", "bisect", "alice", "not asserter"),
    "a bisect with no root": ("open", "bisect none", "proposer", "wrong number of roots"),
    "a bisect with k roots": ("open", "bisect two", "proposer", "wrong number of roots"),
    "a second bisect": ("bisected", "bisect", "proposer", "wrong phase"),
    "a choice by the asserter": ("bisected", "choose 0", "proposer", "not challenger"),
    "a choice before the bisection": ("open", "choose 0", "alice", "wrong phase"),
    "a choice beyond the parts": ("bisected", "choose 2", "alice", "bad choice"),
    "a step during the bisection": ("open", "step", "alice", "wrong phase"),
    "a timeout of an unknown game": ("unknown", "timeout", "user", "no game"),
    "a bisect of an unknown game": ("unknown", "bisect", "proposer", "no game"),
    "a bisect of a finished game": ("over", "bisect", "proposer", "game over"),
    "a step of a finished game": ("over", "step", "alice", "game over"),
}


@pytest.mark.parametrize("case", list(BAD_MOVES), ids=list(BAD_MOVES))
def test_a_bad_move_reverts_with_its_reason(game: tuple[L1, Disputed, int], case: str) -> None:
    l1, d, gid = game
    setup, move, sender, reason = BAD_MOVES[case]
    if setup == "bisected":
        _bisect(l1, d, gid)
    elif setup == "unknown":
        gid = 99
    elif setup == "over":
        bisect_to_step(l1, gid, d.asserted, target_chooser(2))
        step(l1, gid, d.txs, l1.alice)
    fns = l1.game.functions
    call = {
        "bisect": lambda: fns.bisect(gid, [d.asserted[6]]),  # k = 2, [0, 13]: one root, R_6
        "bisect none": lambda: fns.bisect(gid, []),
        "bisect two": lambda: fns.bisect(gid, [d.asserted[4], d.asserted[8]]),
        "choose 0": lambda: fns.choose(gid, 0),
        "choose 2": lambda: fns.choose(gid, 2),
        "step": lambda: fns.step(gid, d.txs[0], tx_proof(d.txs, 0), b""),
        "timeout": lambda: fns.timeout(gid),
    }[move]()
    with reverts(f"dispute: {reason}"):
        call.transact({"from": getattr(l1, sender)})


@pytest.mark.parametrize(
    "case",
    [
        "another transaction",
        "the right transaction with a wrong proof",
        "a proof for another index",
        "the transaction truncated",
    ],
)
def test_a_step_with_a_transaction_not_in_the_batch_reverts(
    game: tuple[L1, Disputed, int], case: str
) -> None:
    l1, d, gid = game
    bisect_to_step(l1, gid, d.asserted, target_chooser(3))
    tx, proof = d.txs[3], tx_proof(d.txs, 3)
    if case == "another transaction":
        tx = d.txs[2]
    elif case == "the right transaction with a wrong proof":
        proof = [proof[0][:-1] + b"\x00", *proof[1:]]
    elif case == "a proof for another index":
        tx, proof = d.txs[2], tx_proof(d.txs, 2)
    elif case == "the transaction truncated":
        tx = tx[:-1]
    with reverts("dispute: tx not in batch"):
        l1.game.functions.step(gid, tx, proof, b"").transact({"from": l1.alice})


@pytest.mark.parametrize("noop_name", list(NOOP_TXS), ids=list(NOOP_TXS))
def test_every_kind_of_no_op_keeps_the_root(staked: L1, noop_name: str) -> None:
    l1 = staked
    d = propose_disputed(l1, l1.l2(), 2, noops=[1])
    tx = NOOP_TXS[noop_name]
    # Batch 1: a deposit-free two-transaction batch ending in the no-op under test.
    txs = [NOOP_TXS["reserved DELEVERAGE"], tx]
    l1.propose(txs, d.honest[-1])
    gid, _ = l1.open_game(1, l1.alice)
    l1.tx(l1.game.functions.bisect(gid, [d.honest[-1]]), l1.proposer)
    l1.tx(l1.game.functions.choose(gid, 1), l1.alice)
    receipt = l1.tx(l1.game.functions.step(gid, tx, tx_proof(txs, 1), b""), l1.alice)
    (stepped,) = l1.events(l1.game, "GameStepped", receipt)
    assert bytes(stepped["args"]["post_root"]) == d.honest[-1]
    assert l1.game_state(gid)["status"] == ASSERTER_WON


@pytest.mark.parametrize("tx_index", [0, 1], ids=["a DEPOSIT", "a WITHDRAW"])
def test_a_step_on_a_type_without_a_verifier_reverts(staked: L1, tx_index: int) -> None:
    l1 = staked
    txs = [
        l1.deposit(b"\x12" * 20, 5),
        l1.withdraw_tx(Trader.of("x"), 1, 0),
    ]
    l1.propose(txs, b"\x01" * 32)
    gid, _ = l1.open_game(0, l1.alice)
    l1.tx(l1.game.functions.bisect(gid, [b"\x02" * 32]), l1.proposer)
    l1.tx(l1.game.functions.choose(gid, tx_index), l1.alice)
    with reverts("dispute: no verifier"):
        l1.game.functions.step(gid, txs[tx_index], tx_proof(txs, tx_index), b"").transact(
            {"from": l1.alice}
        )


# --------------------------------------------------------------------------- verifiers

STUB_VERIFIER = """
# pragma version ~=0.4.3
# A test stand-in for a step verifier: its post-root commits to every argument it gets.
@view
@external
def step(pre_root: bytes32, transaction: Bytes[512], batch_time: uint64, deposit_count: uint64,
         witness: Bytes[114688]) -> bytes32:
    return keccak256(concat(pre_root, keccak256(transaction), convert(batch_time, bytes32),
                            convert(deposit_count, bytes32), keccak256(witness)))
"""


def test_a_registered_verifier_decides_the_step_from_the_game_context(staked: L1) -> None:
    l1 = staked
    stub = deploy_source(l1, STUB_VERIFIER).address
    l1.tx(l1.game.functions.set_verifier(1, stub), l1.deployer)  # plugging a verifier in: one call
    deposit = l1.deposit(b"\x12" * 20, 5)
    l1.deposit(b"\x13" * 20, 6)
    t = l1.now()
    witness = b"witness bytes"
    pre = l1.params.genesis_root
    post = keccak(
        pre + keccak(deposit) + t.to_bytes(32, "big") + (2).to_bytes(32, "big") + keccak(witness)
    )
    l1.propose([deposit], post, batch_time=t)
    gid, _ = l1.open_game(0, l1.alice)
    receipt = l1.tx(l1.game.functions.step(gid, deposit, tx_proof([deposit], 0), witness), l1.alice)
    (stepped,) = l1.events(l1.game, "GameStepped", receipt)
    assert bytes(stepped["args"]["post_root"]) == post
    assert l1.game_state(gid)["status"] == ASSERTER_WON
    # A wrong-length DEPOSIT is still decided by the game itself, not the verifier.
    assert l1.game.functions.verifiers(1).call() == stub


def _deposit_verifier(l1: L1) -> str:
    """Deploy the DEPOSIT rule of this deployment and a step runner over it alone."""
    rule = load("steps/DepositRule")
    factory = l1.w3.eth.contract(abi=rule.abi, bytecode=rule.bytecode)
    address = str(l1.tx(factory.constructor(l1.dep.vault), l1.deployer)["contractAddress"])
    runner = load("steps/StepRunner")
    factory = l1.w3.eth.contract(abi=runner.abi, bytecode=runner.bytecode)
    table = [address] + ["0x" + "00" * 20] * 7
    return str(l1.tx(factory.constructor(table), l1.deployer)["contractAddress"])


@pytest.mark.parametrize("lying", [False, True], ids=["an honest asserter", "a lying asserter"])
def test_with_the_deposit_verifier_plugged_in_games_end_at_a_deposit(
    staked: L1, lying: bool
) -> None:
    l1 = staked
    verifier = _deposit_verifier(l1)
    l1.tx(l1.game.functions.set_verifier(1, verifier), l1.deployer)  # the one call it takes
    model = l1.l2()
    d = propose_disputed(l1, model, 13, noops=NOOPS, lie_at=4 if lying else None)
    assert d.txs[4][0] == 0x01 and d.txs[5][0] == 0x01  # DEPOSITs
    gid, _ = l1.open_game(d.index, l1.alice)
    chooser = honest_chooser(d.honest) if lying else target_chooser(5)
    bisect_to_step(l1, gid, d.asserted, chooser)
    lo = l1.game_state(gid)["lo"]
    assert lo == (4 if lying else 5)
    hashes = l1.deposit_hashes()
    ctx = BatchContext(l1.batch(d.index)["batch_time"], l1.separator, hashes)
    # The node's and the challenger's builder (docs/l1.md, "Step witnesses").
    witness = build_witness(model.store, d.honest[lo], d.txs[lo], ctx)
    receipt = step(l1, gid, d.txs, l1.carol, witness)
    (stepped,) = l1.events(l1.game, "GameStepped", receipt)
    assert bytes(stepped["args"]["post_root"]) == d.honest[lo + 1] != d.honest[lo]
    assert l1.game_state(gid)["status"] == (CHALLENGER_WON if lying else ASSERTER_WON)
    assert l1.rollup.functions.batch_count().call() == (0 if lying else 1)
    print_gas("DisputeGame.step with the DEPOSIT verifier", {"step (DEPOSIT)": receipt["gasUsed"]})


@pytest.mark.parametrize(
    ("sender", "tx_type", "freeze", "message"),
    [
        ("alice", 1, False, "dispute: not owner"),
        ("deployer", 1, True, "dispute: frozen"),
        ("deployer", 0, False, "dispute: bad tx type"),
        ("deployer", 9, False, "dispute: bad tx type"),
        ("deployer", 12, False, "dispute: bad tx type"),
        ("deployer", 255, False, "dispute: bad tx type"),
    ],
    ids=[
        "only the owner sets verifiers",
        "not after freeze",
        "not for type 0x00",
        "not for reserved 0x09",
        "not for reserved 0x0c",
        "not for unknown 0xff",
    ],
)
def test_set_verifier_reverts_with_its_reason(
    l1: L1, sender: str, tx_type: int, freeze: bool, message: str
) -> None:
    if freeze:
        l1.tx(l1.game.functions.freeze(), l1.deployer)
    with reverts(message):
        l1.game.functions.set_verifier(tx_type, l1.alice).transact({"from": getattr(l1, sender)})


def test_only_the_owner_freezes_the_verifier_table(l1: L1) -> None:
    with reverts("dispute: not owner"):
        l1.game.functions.freeze().transact({"from": l1.alice})
    l1.tx(l1.game.functions.set_verifier(5, l1.alice), l1.deployer)
    l1.tx(l1.game.functions.freeze(), l1.deployer)
    assert l1.game.functions.frozen().call()
    assert l1.game.functions.verifiers(5).call() == l1.alice


# --------------------------------------------------------------------------- money and wiring


def test_the_game_accepts_ether_only_from_the_rollup(l1: L1) -> None:
    with reverts("dispute: unexpected ether"):
        l1.w3.eth.send_transaction({"from": l1.alice, "to": l1.dep.dispute_game, "value": 1})


def test_a_claim_to_a_contract_that_refuses_ether_reverts(staked: L1) -> None:
    l1 = staked
    player = deploy_source(l1, REJECTER)
    l1.propose([NOOP_TXS["reserved DELEVERAGE"]], b"\x01" * 32)
    bond = l1.params.challenger_bond
    l1.tx(player.functions.open(l1.dep.dispute_game, 0, l1.batch_hash(0)), l1.alice, value=bond)
    g = l1.game_state(0)
    assert g["challenger"] == player.address and g["phase"] == STEP  # one tx: the step is due
    l1.mine_at(g["last_move_at"] + g["clock_challenger"] + 1)
    l1.tx(l1.game.functions.timeout(0), l1.user)  # the contract lost: nothing to claim
    with reverts("dispute: nothing to claim"):
        player.functions.claim(l1.dep.dispute_game).transact({"from": l1.alice})
    # A game it wins: against a batch whose asserter never bisects.
    l1.propose([NOOP_TXS["reserved DELEVERAGE"]] * 2, b"\x02" * 32)
    l1.tx(player.functions.open(l1.dep.dispute_game, 1, l1.batch_hash(1)), l1.alice, value=bond)
    g = l1.game_state(1)
    l1.mine_at(g["last_move_at"] + g["clock_asserter"] + 1)
    l1.tx(l1.game.functions.timeout(1), l1.user)
    assert credits(l1, player.address) == bond + l1.params.proposer_bond // 2
    with reverts("dispute: transfer failed"):
        player.functions.claim(l1.dep.dispute_game).transact({"from": l1.alice})


@pytest.mark.parametrize("zero", ["rollup", "vault"])
def test_a_game_contract_needs_a_rollup_and_a_vault(l1: L1, zero: str) -> None:
    art = load("DisputeGame")
    factory = l1.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    rollup = "0x" + "00" * 20 if zero == "rollup" else l1.dep.rollup
    vault = "0x" + "00" * 20 if zero == "vault" else l1.dep.vault
    with reverts("dispute: zero address"):
        factory.constructor(rollup, vault, 2, 1, 1800, 300).transact({"from": l1.deployer})


@pytest.mark.parametrize("k", [0, 1, 17], ids=lambda k: f"k={k}")
def test_a_game_contract_needs_k_between_2_and_16(l1: L1, k: int) -> None:
    art = load("DisputeGame")
    factory = l1.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    with reverts("dispute: bad k"):
        factory.constructor(l1.dep.rollup, l1.dep.vault, k, 1, 1800, 300).transact(
            {"from": l1.deployer}
        )


# --------------------------------------------------------------------------- gas


@pytest.mark.parametrize("k", [2, 4], ids=lambda k: f"k={k}")
def test_game_move_gas(make_l1: Any, k: int) -> None:
    figures = game_gas(make_l1(k=k))
    print_gas(f"DisputeGame moves (k={k}, 16-tx batches, anvil)", figures)
    assert all(0 < gas < 16_777_216 for gas in figures.values())
