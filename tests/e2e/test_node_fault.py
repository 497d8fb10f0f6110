"""A node that posts a wrong batch on purpose (``--fault-batch 1 --fault-tx 0``) loses the
dispute to an honest challenger, is slashed, stakes again and goes on honestly.

The challenger here is scripted with the dispute library alone (solver + responder, as in
``test_dispute_library.py``): it reads L1's batches, re-executes their calldata from genesis
(:func:`e2e_node.replay`), opens a game on the first batch whose asserted root differs from its
own and plays it with its honest trace and step witnesses from its own trie store. The node
defends with its lying trace, as its fault injection says, and loses.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from e2e_devnet import LocalDevnet
from e2e_node import (
    LOT,
    NodeProcess,
    check_l1_against_the_node,
    funded_node,
    l1_batches,
    order,
    replay,
)
from web3.logs import DISCARD

from optirollup.dispute import (
    CHALLENGER,
    GameView,
    ListTrace,
    Status,
    StepInputs,
    batch_hash,
    solve,
)
from optirollup.dispute.responder import Responder, read_game
from optirollup.dispute.witness import step_inputs
from optirollup.executor.runner import fault_root
from optirollup.l1.deploy import bind, send

pytest_plugins = ["e2e_devnet"]


def test_a_faulty_batch_is_deleted_by_an_honest_challenger_and_the_node_reposts_it_honestly(
    local_devnet: LocalDevnet, tmp_path: Path
) -> None:
    net = local_devnet
    alice, bob = net.devnet.config.trader_accounts()
    dep = net.devnet.deployment
    rollup, game = bind(net.w3, "Rollup", dep.rollup), bind(net.w3, "DisputeGame", dep.dispute_game)
    proposer = net.devnet.config.proposer.address
    bond = int(rollup.functions.PROPOSER_BOND().call())
    node = NodeProcess(net, tmp_path / "node", "--fault-batch", "1", "--fault-tx", "0",
                       "--oracle-seconds", "1", "--max-seconds", "2")  # fmt: skip
    try:
        funded_node(net, node, (alice, bob))
        # Batch 1 holds three fills (batch 0 holds the deposits, the listing and a price).
        node.wait_for(lambda: node.get("/status")["head_batch"] >= 1, "batch 0 sealed")
        status, rest = node.post("/orders", order(net, alice, 1, 10 * LOT, 1))
        assert status == 200, rest
        acks = [rest]
        for nonce in (1, 2, 3):
            status, take = node.post("/orders", order(net, bob, 0, LOT, nonce))
            assert status == 200 and take["fills"][0]["batch_index"] == 1, take
            acks.append(take)
        # Batch 1 goes up faked, and batches after it on the fake chain.
        node.wait_for(lambda: rollup.functions.batch_count().call() >= 3, "descendants on L1")
        (injected,) = node.events("fault.injected")
        assert injected["batch_index"] == 1
        sealed = node.get("/batches?start=0&limit=3")
        posted = l1_batches(net)[:3]
        assert posted[0].new_root.hex() == sealed[0]["post_root"][2:]
        honest_1 = bytes.fromhex(sealed[1]["post_root"][2:])
        assert (posted[1].prev_root, posted[1].new_root) == (posted[0].new_root,
                                                              fault_root(honest_1))  # fmt: skip
        assert posted[2].prev_root == fault_root(honest_1)

        # The honest challenger: replay L1's data, dispute the first wrong root.
        replayed = replay(net, posted)
        assert replayed.traces[0][-1] == posted[0].new_root
        honest = replayed.traces[1]
        assert honest[-1] == honest_1 != posted[1].new_root
        b1, ctx = posted[1], replayed.contexts[1]

        def steps(g: GameView, tx_index: int) -> StepInputs:
            return step_inputs(replayed.store, g.root_lo, list(b1.txs), tx_index, ctx)

        challenger = net.devnet.config.challenger.local
        record = rollup.functions.batch(1).call()  # the batch judged, committed to by its hash
        assert (bytes(record[1]), int(record[7])) == (b1.new_root, b1.nonce)
        fn = game.functions.open(1, batch_hash(record))
        tx = {"to": dep.dispute_game, "value": int(game.functions.CHALLENGER_BOND().call()),
              "data": fn._encode_transaction_data()}  # fmt: skip
        opened = send(net.w3, challenger, tx, "open")  # type: ignore[arg-type]
        (ev,) = game.events.GameOpened().process_receipt(opened, errors=DISCARD)
        gid = int(ev["args"]["game_id"])
        responder = Responder(game, challenger, steps)
        deadline = time.monotonic() + 90
        while (view := read_game(game, gid, rollup=rollup)).status is Status.ACTIVE:
            assert time.monotonic() < deadline, f"game still active: {view.describe()}"
            responder.act_all(solve(view, CHALLENGER, ListTrace(honest), view.l1_time))
            time.sleep(0.2)
        assert view.status is Status.CHALLENGER_WON and view.lo == 0  # the lie is at tx 0
        assert node.events("game.answered")  # the defender played its lying trace
        responder.act_all(solve(view, CHALLENGER, ListTrace(honest), view.l1_time))  # claim

        # L1 deleted batch 1 and its descendants and slashed the whole stake.
        (deleted,) = rollup.events.BatchesDeleted().get_logs(from_block=dep.block)
        assert deleted["args"]["index"] == 1 and deleted["args"]["slashed"] == bond

        # The node stakes again and posts batch 1 honestly, and never fakes it again.
        node.wait_for(lambda: node.events("proposer.staked"), "the node to stake again")
        node.wait_for(
            lambda: (
                rollup.functions.batch_count().call() >= 3
                and bytes(rollup.functions.batch(1).call()[1]) == honest_1
            ),
            "batch 1 and more posted honestly",
        )
        assert rollup.functions.stakes(proposer).call() == bond
        check_l1_against_the_node(net, node, acks, once=False)
        m = node.metrics()
        assert m['optirollup_games_resolved_total{result="lost"}'] == 1
        assert m["optirollup_faults_injected_total"] == 1
        assert m["optirollup_restakes_total"] == 1
        assert m["optirollup_batches_deleted_total"] >= 2

        # Trading goes on; after the window the honest batches become final.
        status, take = node.post("/orders", order(net, bob, 0, 4 * LOT, 4))
        assert status == 200 and take["status"] == "filled", take
        acks.append(take)
        index = take["fills"][0]["batch_index"]
        node.wait_for(lambda: node.get("/status")["posted"] > index, "the fill posted")
        net.anvil.rpc("evm_increaseTime", 120)
        net.anvil.rpc("evm_mine")
        node.wait_for(lambda: node.get("/status")["final"] > index, "the batches final")
        assert rollup.functions.final_count().call() > index
        check_l1_against_the_node(net, node, acks, once=False)
        (position,) = node.get(f"/accounts/{bob.address}")["positions"]
        assert int(position["size"]) == 7 * LOT
        assert len(node.events("fault.injected")) == 1
        assert node.kill(signal.SIGTERM) == 0
    finally:
        node.close()

    # A restart with the same flags does not fault again: the fault is remembered as done.
    node = NodeProcess(net, tmp_path / "node", "--fault-batch", "1")
    try:
        count = rollup.functions.batch_count().call()
        node.wait_for(lambda: rollup.functions.batch_count().call() > count, "a new batch")
        check_l1_against_the_node(net, node, acks, once=False)
        assert node.events("fault.injected") == []
    finally:
        node.close()
