"""The shared dispute library on anvil: whole games played only by solver + responder.

Each test deploys the contracts with every rule (``ALL_RULES``) on one anvil, queues the
deposits of :func:`optirollup.testkit.perp_workload` through the Vault, traces a batch of 20
real transactions (LIST_MARKET, ORACLE_UPDATE, 8 DEPOSITs, 10 FILLs) with the reference STF and
proposes it. Both sides are the library only: :func:`~optirollup.dispute.solve` over a trace,
and a :class:`~optirollup.dispute.responder.Responder` (from an unlocked dev account, or from a
local ``eth_account`` key) with a step source backed by the trie store. The steps are real
one-step proofs of a FILL. Every test takes a second or two (no ``slow`` mark).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import pytest
from eth_account import Account
from structlog.testing import capture_logs
from web3 import Web3

from optirollup.codec import eip712
from optirollup.codec.batch import encode_tx_list
from optirollup.dispute import (
    ASSERTER,
    CHALLENGER,
    Bisect,
    Choose,
    GameView,
    ListTrace,
    Open,
    Phase,
    Role,
    Status,
    Step,
    StepInputs,
    Timeout,
    TraceProvider,
    solve,
    step_inputs,
)
from optirollup.dispute.game import max_moves
from optirollup.dispute.responder import (
    NoSuchGame,
    Responder,
    ResponderError,
    StepSource,
    read_game,
)
from optirollup.hashing import keccak
from optirollup.l1.anvil import Anvil, free_port
from optirollup.l1.deploy import ALL_RULES, Sender, bind, deploy, devnet_params, send
from optirollup.l1.gasprobe import Probe, lie_after
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import MemoryStore
from optirollup.stf import BatchContext
from optirollup.stf.batch import execute
from optirollup.testkit import Signer, perp_workload

LIE_AT = 13
"""The liar's trace is right up to R_13 and wrong from R_14 on: the step is tx 13, a FILL."""


@pytest.fixture(scope="module")
def node() -> Iterator[Anvil]:
    with Anvil(extra_args=["--silent"]) as anvil:
        yield anvil


@dataclass
class Arena:
    """One deployment with one proposed batch of 20 transactions and its honest trace."""

    probe: Probe
    txs: list[bytes]
    ctx: BatchContext
    store: MemoryStore
    honest: list[bytes]
    asserted: list[bytes]
    batch_index: int
    proposer: str
    challenger: str
    other: str

    @property
    def w3(self) -> Web3:
        return self.probe.w3

    def steps(self) -> StepSource:
        """Return a step source over this batch backed by the honest trie store."""

        def build(game: GameView, tx_index: int) -> StepInputs:
            return step_inputs(self.store, game.root_lo, self.txs, tx_index, self.ctx)

        return build

    def responder(self, sender: Sender, **kw: object) -> Responder:
        """Return a responder from ``sender`` with this batch's step source."""
        return Responder(self.probe.game, sender, self.steps(), **kw)  # type: ignore[arg-type]

    def claimed(self, account: str) -> list[int]:
        """Return the amounts ``account`` claimed from the DisputeGame."""
        logs = self.probe.game.events.Claimed().get_logs(from_block=self.probe.dep.block)
        return [int(e["args"]["amount"]) for e in logs if e["args"]["account"] == account]


def arena(node: Anvil, *, k: int, lie_at: int | None) -> Arena:
    """Deploy, stake, queue the deposits and propose the batch (its root wrong if ``lie_at``)."""
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))
    accts = w3.eth.accounts
    deployer, proposer, challenger, other, user = accts[0], accts[1], accts[2], accts[3], accts[4]
    oracle = perp_workload(0).oracle
    params = devnet_params(oracle.address, proposer=proposer, k=k, verifiers=ALL_RULES)
    probe = Probe(w3, node, deploy(w3, deployer, params))
    probe.send(probe.rollup.functions.stake(), proposer, value=params.proposer_bond)
    domain = eip712.Domain(probe.dep.chain_id, bytes.fromhex(probe.dep.vault[2:]))
    work = perp_workload(10, Signer(domain))
    txs = list(work.txs)
    assert len(txs) == 20
    deposits, _ = probe.queue_deposits([(t.address, 10**12) for t in work.traders], user)
    assert deposits == txs[2:10]

    store = MemoryStore()
    genesis = genesis_root(store, oracle.address)
    assert genesis == params.genesis_root
    batch_time = probe.now()
    ctx = BatchContext(batch_time, domain.separator, list(work.deposit_hashes))
    overlay = StateOverlay(store, genesis)
    result = execute(overlay, txs, ctx, roots_after=range(len(txs)))
    assert all(r.ok for r in result.receipts), [r.describe() for r in result.receipts]
    overlay.commit(store.update)
    honest = [genesis] + [result.roots[i] for i in range(len(txs))]
    asserted = honest if lie_at is None else lie_after(honest, lie_at)
    fn = probe.rollup.functions.propose(genesis, asserted[-1], batch_time, encode_tx_list(txs))
    (event,) = probe.events(probe.rollup, "BatchProposed", probe.send(fn, proposer))
    return Arena(probe, txs, ctx, store, honest, asserted, int(event["args"]["index"]),
                 proposer, challenger, other)  # fmt: skip


Side = tuple[Role, TraceProvider, Responder]


def drive(a: Arena, game_id: int, sides: Sequence[Side], ticks: int = 100) -> list[str]:
    """Let each side read the game, solve and respond, until it is over and claims are made.

    Return the hashes of every transaction sent.
    """
    sent: list[str] = []
    for _ in range(ticks):
        for role, trace, responder in sides:
            g = responder.read(game_id)
            sent += responder.act_all(solve(g, role, trace, g.l1_time))
        if not read_game(a.probe.game, game_id).active:
            for role, trace, responder in sides:  # the winner claims
                g = responder.read(game_id)
                sent += responder.act_all(solve(g, role, trace, g.l1_time))
            return sent
    raise AssertionError(f"game {game_id} did not end in {ticks} ticks")


def test_a_lying_proposer_loses_to_an_honest_challenger_and_its_batch_is_deleted(
    node: Anvil,
) -> None:
    a = arena(node, k=3, lie_at=LIE_AT)
    bond = a.probe.dep.params.challenger_bond
    stake = a.probe.dep.params.proposer_bond
    gid, _ = a.probe.open_game(a.batch_index, a.challenger)
    bystander, _ = a.probe.open_game(a.batch_index, a.other)  # a second game on the same batch
    sides: list[Side] = [
        (CHALLENGER, ListTrace(a.honest), a.responder(a.challenger)),
        (ASSERTER, ListTrace(a.asserted), a.responder(a.proposer)),
    ]
    with capture_logs() as logs:
        sent = drive(a, gid, sides)
    assert len(sent) <= max_moves(20, 3) + 1  # the moves and the claim
    g = read_game(a.probe.game, gid)
    assert g.status is Status.CHALLENGER_WON
    assert (g.lo, g.hi) == (LIE_AT, LIE_AT + 1)
    assert int(a.probe.rollup.functions.batch_count().call()) == a.batch_index
    assert a.claimed(a.challenger) == [bond + stake // 2]
    assert a.claimed(a.proposer) == []
    names = [e["event"] for e in logs]
    assert "game.move_sent" in names
    (step,) = [e for e in logs if e.get("action") == "step" and e["event"] == "game.move_sent"]
    assert step["tx_index"] == LIE_AT and step["game_id"] == gid

    # The other game's batch is gone: its challenger closes it and gets its bond back.
    other = (CHALLENGER, ListTrace(a.honest), a.responder(a.other))
    assert not read_game(a.probe.game, bystander).batch_live
    drive(a, bystander, [other])
    assert read_game(a.probe.game, bystander).status is Status.VOID
    assert a.claimed(a.other) == [bond]


def test_an_honest_proposer_beats_a_lying_challenger_and_gets_its_bond(node: Anvil) -> None:
    a = arena(node, k=2, lie_at=None)
    bond = a.probe.dep.params.challenger_bond
    # The challenger signs locally (an eth_account key), the proposer is a node-unlocked address.
    liar = Account.from_key(keccak(b"dispute-library lying challenger"))
    send(a.w3, a.other, {"to": liar.address, "value": 10**18}, "fund the challenger")
    liar_responder = a.responder(liar)
    opened = liar_responder.act(Open(a.batch_index, a.probe.batch_hash(a.batch_index), bond))
    assert opened is not None
    receipt = liar_responder.receipt(opened)
    assert receipt is not None
    (event,) = a.probe.events(a.probe.game, "GameOpened", receipt)
    gid = int(event["args"]["game_id"])
    sides: list[Side] = [
        (ASSERTER, ListTrace(a.honest), a.responder(a.proposer)),
        (CHALLENGER, ListTrace(lie_after(a.honest, LIE_AT)), liar_responder),
    ]
    drive(a, gid, sides)
    g = read_game(a.probe.game, gid)
    assert g.status is Status.ASSERTER_WON
    assert (g.lo, g.hi) == (LIE_AT, LIE_AT + 1)
    (stepped,) = a.probe.game.events.GameStepped().get_logs(from_block=a.probe.dep.block)
    assert stepped["args"]["post_root"] == a.honest[LIE_AT + 1]
    # the asserter moves first in each tick here, so it sent the (objective) step itself
    assert a.w3.eth.get_transaction(stepped["transactionHash"])["from"] == a.proposer
    assert int(a.probe.rollup.functions.batch_count().call()) == a.batch_index + 1
    assert a.claimed(a.proposer) == [bond]
    assert a.claimed(liar.address) == []
    assert a.w3.eth.get_transaction_count(liar.address) > 2  # it did play: open + its choices


def test_an_open_is_sent_once_per_turn_and_one_committed_to_another_batch_is_not_sent(
    node: Anvil,
) -> None:
    a = arena(node, k=4, lie_at=LIE_AT)
    bond, game = a.probe.dep.params.challenger_bond, a.probe.game
    judged = a.probe.batch_hash(a.batch_index)
    challenger = a.responder(a.challenger)
    before = a.w3.eth.get_transaction_count(a.challenger)
    with capture_logs() as logs:
        # A batch replaced at that index since it was judged: the contract refuses the open.
        assert challenger.act(Open(a.batch_index, keccak(b"another batch"), bond)) is None
        first = challenger.act(Open(a.batch_index, judged, bond))
        assert first is not None
        assert challenger.act(Open(a.batch_index, judged, bond)) is None  # the same turn
    assert [e["event"] for e in logs] == [
        "game.move_skipped",
        "game.move_sent",
        "game.move_skipped",
    ]
    assert "dispute: batch changed" in logs[0]["reason"]
    assert logs[1]["action"] == "open" and logs[1]["batch_index"] == a.batch_index
    assert logs[2]["reason"] == "already sent" and logs[2]["tx_hash"] == first
    assert challenger.still_counts(first)
    assert a.w3.eth.get_transaction_count(a.challenger) == before + 1
    g = read_game(game, 0)
    assert (g.batch_index, g.challenger, g.phase) == (a.batch_index, a.challenger, Phase.BISECT)
    assert int(a.w3.eth.get_balance(game.address)) == bond
    # A second game after the first (say, lost on time) is a new turn.
    assert challenger.act(Open(a.batch_index, judged, bond, prior_games=1)) is not None
    assert int(game.functions.game_count().call()) == 2


def test_a_step_the_contract_would_reject_is_skipped_not_sent(node: Anvil) -> None:
    a = arena(node, k=16, lie_at=LIE_AT)
    gid, _ = a.probe.open_game(a.batch_index, a.challenger)
    sides: list[Side] = [
        (ASSERTER, ListTrace(a.asserted), a.responder(a.proposer)),
        (CHALLENGER, ListTrace(a.honest), a.responder(a.challenger)),
    ]
    for _ in range(10):
        g = read_game(a.probe.game, gid)
        if g.phase is Phase.STEP:
            break
        for role, trace, responder in sides:
            g = responder.read(gid)
            if g.phase is not Phase.STEP:
                responder.act_all(solve(g, role, trace, g.l1_time))
    assert (g.phase, g.lo) == (Phase.STEP, LIE_AT)

    def truncated(game: GameView, tx_index: int) -> StepInputs:
        inputs = a.steps()(game, tx_index)
        return replace(inputs, witness=inputs.witness[:-40])

    broken = Responder(a.probe.game, a.challenger, truncated)
    before = a.w3.eth.get_transaction_count(a.challenger)
    with capture_logs() as logs:
        assert broken.act(Step(gid, LIE_AT)) is None
    assert a.w3.eth.get_transaction_count(a.challenger) == before
    assert [e["event"] for e in logs] == ["game.move_skipped"]
    assert "the contract rejects it" in logs[0]["reason"]
    assert a.responder(a.challenger).act(Step(gid, LIE_AT)) is not None
    assert read_game(a.probe.game, gid).status is Status.CHALLENGER_WON


def test_a_move_that_reverts_on_chain_is_logged_with_its_receipt_block_and_may_be_replaced(
    node: Anvil,
) -> None:
    a = arena(node, k=4, lie_at=LIE_AT)
    gid, _ = a.probe.open_game(a.batch_index, a.challenger)
    g = read_game(a.probe.game, gid)
    actions = solve(g, ASSERTER, ListTrace(a.asserted), g.l1_time)
    starved = a.responder(a.proposer)
    starved._gas_margin = 0.5  # half the estimate: the bisect runs out of gas on chain
    with capture_logs() as logs:
        (tx_hash,) = starved.act_all(actions)
    receipt = a.w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 0
    assert [e["event"] for e in logs] == ["game.move_sent", "game.move_reverted"]
    assert logs[1]["l1_block"] == receipt["blockNumber"] and logs[1]["game_id"] == gid
    assert read_game(a.probe.game, gid).phase is Phase.BISECT
    assert len(a.responder(a.proposer).act_all(actions)) == 1  # a reverted move may be replaced
    assert read_game(a.probe.game, gid).phase is Phase.CHOOSE


def test_the_responder_called_twice_for_the_same_state_sends_one_transaction(
    node: Anvil,
) -> None:
    a = arena(node, k=4, lie_at=LIE_AT)
    gid, _ = a.probe.open_game(a.batch_index, a.challenger)
    w3, game = a.w3, a.probe.game

    # The asserter's bisect, answered twice from one snapshot (and once by a restarted one).
    g = read_game(game, gid)
    actions = solve(g, ASSERTER, ListTrace(a.asserted), g.l1_time)
    assert [type(x) for x in actions] == [Bisect]
    before = w3.eth.get_transaction_count(a.proposer)
    asserter = a.responder(a.proposer)
    with capture_logs() as logs:
        assert len(asserter.act_all(actions)) == 1
        assert asserter.act_all(actions) == []
        assert a.responder(a.proposer).act_all(actions) == []
    assert w3.eth.get_transaction_count(a.proposer) == before + 1
    assert [e["event"] for e in logs] == [
        "game.move_sent",
        "game.move_skipped",
        "game.move_skipped",
    ]
    assert "in CHOOSE, not BISECT" in logs[1]["reason"]
    assert read_game(game, gid).phase is Phase.CHOOSE

    # The challenger's choice while it is still pending: remembered, not sent again.
    before = w3.eth.get_transaction_count(a.challenger)
    challenger = a.responder(a.challenger, receipt_timeout=0.3)
    node.rpc("evm_setAutomine", False)
    try:
        g = read_game(game, gid)
        (choose,) = solve(g, CHALLENGER, ListTrace(a.honest), g.l1_time)
        assert isinstance(choose, Choose)
        with capture_logs() as logs:
            sent = challenger.act(choose)
            assert sent is not None
            assert challenger.act(choose) is None
            g = read_game(game, gid)  # the same state: the choice is not mined yet
            assert challenger.act_all(solve(g, CHALLENGER, ListTrace(a.honest), g.l1_time)) == []
        assert [e["event"] for e in logs] == [
            "game.move_sent", "game.move_pending", "game.move_skipped", "game.move_skipped"
        ]  # fmt: skip
        assert logs[2]["reason"] == "already sent" and logs[2]["tx_hash"] == sent
        node.rpc("evm_mine")
    finally:
        node.rpc("evm_setAutomine", True)
    assert w3.eth.get_transaction_receipt(sent)["status"] == 1  # type: ignore[arg-type]
    assert w3.eth.get_transaction_count(a.challenger) == before + 1
    assert challenger.sent() == {(gid, int(Phase.CHOOSE), 0, 20): sent}
    assert challenger.act(choose) is None  # mined: the game moved on
    assert read_game(game, gid).phase is Phase.BISECT


def test_a_silent_challenger_is_timed_out_by_the_asserter(node: Anvil) -> None:
    a = arena(node, k=16, lie_at=None)
    gid, _ = a.probe.open_game(a.batch_index, a.challenger)
    asserter = (ASSERTER, ListTrace(a.honest), a.responder(a.proposer))
    challenger = (CHALLENGER, ListTrace(lie_after(a.honest, 2)), a.responder(a.challenger))
    g = read_game(a.probe.game, gid)
    a.responder(a.proposer).act_all(solve(g, ASSERTER, ListTrace(a.honest), g.l1_time))
    g = read_game(a.probe.game, gid)
    assert g.phase is Phase.CHOOSE and g.roots == tuple(a.honest[p] for p in g.points[1:-1])
    a.probe.mine_at(g.last_move_at + g.clock_challenger + 1)
    g = read_game(a.probe.game, gid)
    assert solve(g, CHALLENGER, challenger[1], g.l1_time) == []  # too late to choose
    assert solve(g, ASSERTER, asserter[1], g.l1_time) == [Timeout(gid)]
    drive(a, gid, [challenger, asserter])
    assert read_game(a.probe.game, gid).status is Status.ASSERTER_WON
    assert a.claimed(a.proposer) == [a.probe.dep.params.challenger_bond]


def test_an_unknown_game_is_reported(node: Anvil) -> None:
    a = arena(node, k=2, lie_at=None)
    with pytest.raises(NoSuchGame, match="game 5 does not exist"):
        read_game(a.probe.game, 5)


def test_an_unreachable_endpoint_is_retried_then_reported() -> None:
    dead = Web3(
        Web3.HTTPProvider(f"http://127.0.0.1:{free_port()}", exception_retry_configuration=None)
    )
    game = bind(dead, "DisputeGame", "0x" + "11" * 20)
    pauses: list[float] = []
    responder = Responder(game, "0x" + "22" * 20, retries=3, backoff=0.01, sleep=pauses.append)
    with (
        capture_logs() as logs,
        pytest.raises(ResponderError, match="unreachable after 4 attempts"),
    ):
        responder.act(Timeout(0))
    assert pauses == [0.01, 0.02, 0.04]
    assert [e["event"] for e in logs] == ["game.rpc_failed"] * 3
