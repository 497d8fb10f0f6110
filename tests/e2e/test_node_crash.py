"""The node killed with SIGKILL at points inside sealing, posting and finalizing (issue 5).

Each test runs ``optirollup node run`` as a real process on a fresh devnet with the test-only
failpoint ``OPTIROLLUP_CRASHPOINT`` armed, trades over HTTP (a resting order and a taker, one
request each or both in one ``POST /orders/batch``) until the process kills itself at that
point, restarts it without the failpoint, and checks what any watcher of L1 would:

* the batches L1 holds are the node's sealed batches (roots, time, transactions), each posted
  once (one ``BatchProposed`` per index);
* re-executing L1's calldata from genesis with the reference STF reaches every root L1 holds,
  so the restarted node's state is the one an uninterrupted node would have asserted;
* every acknowledged fill is in L1's data exactly once, at the batch and position its
  acknowledgement named, and there is no other FILL; the accounts show exactly those fills.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from e2e_devnet import LocalDevnet
from e2e_node import LOT, NodeProcess, check_l1_against_the_node, funded_node, order

from optirollup.l1.deploy import bind

pytest_plugins = ["e2e_devnet"]

CASES = {
    # case: (the failpoint as armed, extra node flags, both orders in one bulk request)
    "after_ack": ("after_ack:2", ("--max-seconds", "30"), False),  # the taker's; batch open
    "after_bulk_ack": ("after_ack:1", ("--max-seconds", "30"), True),  # the bulk request's
    "after_seal": ("after_seal", (), False),
    "after_propose_sent": ("after_propose_sent", (), False),
    "after_finalize_sent": ("after_finalize_sent", (), False),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_node_killed_at_a_crash_point_restarts_with_l1_equal_to_its_batches_and_each_fill_once(
    case: str, local_devnet: LocalDevnet, tmp_path: Path
) -> None:
    net = local_devnet
    alice, bob = net.devnet.config.trader_accounts()
    rollup = bind(net.w3, "Rollup", net.devnet.deployment.rollup)
    armed, flags, bulk = CASES[case]
    point = armed.partition(":")[0]
    data = tmp_path / "node"
    node = NodeProcess(net, data, *flags, env={"OPTIROLLUP_CRASHPOINT": armed})
    try:
        funded_node(net, node, (alice, bob))
        maker, taker = order(net, alice, 1, 10 * LOT, 1), order(net, bob, 0, 4 * LOT, 1)
        if bulk:
            status, answer = node.post("/orders/batch", {"orders": [maker, taker]})
            assert status == 200 and [r["status"] for r in answer["results"]] == [200, 200], answer
            rest, take = (r["ack"] for r in answer["results"])
        else:
            status, rest = node.post("/orders", maker)
            assert status == 200, rest
            status, take = node.post("/orders", taker)
            assert status == 200, take
        assert (rest["status"], take["status"]) == ("resting", "filled"), (rest, take)
        (fill,) = take["fills"]
        if point == "after_finalize_sent":
            node.wait_for(
                lambda: rollup.functions.batch_count().call() > fill["batch_index"],
                "the fill's batch on L1",
            )
            net.anvil.rpc("evm_increaseTime", 120)
            net.anvil.rpc("evm_mine")
        assert node.wait_exit() == -signal.SIGKILL
        (crashed,) = node.events("node.crashpoint")
        assert crashed["point"] == point
    finally:
        node.close()
    if point == "after_seal":
        assert rollup.functions.batch_count().call() == fill["batch_index"]
    if point == "after_propose_sent":
        assert rollup.functions.batch_count().call() == fill["batch_index"] + 1
    if point == "after_finalize_sent":
        assert rollup.functions.final_count().call() > fill["batch_index"]

    node = NodeProcess(net, data)
    try:
        index = fill["batch_index"]
        node.wait_for(lambda: node.get("/status")["posted"] > index, "the fill's batch posted")
        if point == "after_finalize_sent":
            node.wait_for(lambda: node.get("/status")["final"] > index, "the final count")
        check_l1_against_the_node(net, node, [rest, take])
        positions = node.get(f"/accounts/{bob.address}")["positions"]
        assert [int(p["size"]) for p in positions] == [4 * LOT]
        (resting,) = node.get(f"/accounts/{alice.address}")["open_orders"]
        assert int(resting["remaining"]) == 6 * LOT
        assert node.kill(signal.SIGTERM) == 0
    finally:
        node.close()
