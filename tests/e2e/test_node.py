"""The node as a real process on anvil: deposits on L1 reach L2 accounts, signed orders over
HTTP fill, batches are posted and become final; killed with SIGKILL, it restarts with the same
state root, the same posted batches and every acknowledged fill, once. One /metrics serves the
API's and the loop's series. The defender beats a lying challenger. The oracle signs prices
from an operator's file (read again at each round) and funding from the book's premium.

Crash points inside sealing and posting: ``test_node_crash.py``; a faulty node against an
honest challenger: ``test_node_fault.py``. Shared helpers: ``e2e_node.py``.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from e2e_devnet import LocalDevnet
from e2e_node import LOT, NodeProcess, deposit, funded_node, order
from web3.logs import DISCARD

from optirollup.dispute.game import CHALLENGER, Status, batch_hash
from optirollup.dispute.responder import Responder, read_game
from optirollup.dispute.solver import ListTrace, Step, solve
from optirollup.hashing import keccak
from optirollup.l1.deploy import bind, send
from optirollup.testkit import key_for

pytest_plugins = ["e2e_devnet"]


@pytest.fixture
def net(local_devnet: LocalDevnet) -> LocalDevnet:
    return local_devnet


def test_orders_over_http_fill_post_and_finalize_and_a_sigkill_loses_nothing(
    net: LocalDevnet, tmp_path: Path
) -> None:
    alice, bob = net.devnet.config.trader_accounts()
    node = NodeProcess(net, tmp_path / "node")
    try:
        for t in (alice, bob):
            deposit(net, t, 10**11)
        for t in (alice, bob):
            node.wait_for(
                lambda t=t: (
                    int((node.get(f"/accounts/{t.address}") or {}).get("collateral", 0)) == 10**11
                ),
                f"the deposit of {t.address}",
            )
        node.wait_for(lambda: node.get("/markets") or [], "the devnet market to be listed")
        node.wait_for(
            lambda: int(node.get("/markets/1")["oracle_price"]) > 0, "the first oracle price"
        )
        status, ack = node.post("/orders", order(net, alice, 1, 10 * LOT, 1))
        assert status == 200 and ack["status"] == "resting", ack
        status, ack = node.post("/orders", order(net, bob, 0, 4 * LOT, 1))
        assert status == 200 and ack["status"] == "filled" and len(ack["fills"]) == 1, ack
        # Replaying the same signed order is refused and changes nothing.
        status, err = node.post("/orders", order(net, bob, 0, 4 * LOT, 1))
        assert status in (409, 422) and err["error"]["code"], err

        rollup = bind(net.w3, "Rollup", net.devnet.deployment.rollup)
        node.wait_for(lambda: rollup.functions.batch_count().call() >= 1, "a batch on L1")
        node.wait_for(
            lambda: (
                all(b["status"] != "sealed" for b in node.get("/batches?start=0&limit=100"))
                and node.get("/status")["open_txs"] == 0
            ),
            "every batch posted",
        )
        before = node.get("/status")
        positions = node.get(f"/accounts/{bob.address}")["positions"]
        assert [int(p["size"]) for p in positions] == [4 * LOT]
        assert bytes(rollup.functions.last_root().call()).hex() == before["head_root"][2:]
        # One /metrics serves the API's series and the loop's.
        m = node.metrics()
        assert m['optirollup_orders_total{result="filled"}'] == 1
        assert m["optirollup_deposits_included_total"] == 2
        assert m['optirollup_node_batches_total{event="posted"}'] >= 1
        assert m['optirollup_node_batches_total{event="sealed"}'] >= 1
        assert m['optirollup_oracle_txs_total{kind="listing"}'] == 1
        assert m['optirollup_oracle_txs_total{kind="price"}'] >= 1
        assert m["optirollup_games_open"] == 0
        assert m["optirollup_l1_head_lag_blocks"] >= 0
        assert "optirollup_l1_head_lag_seconds" in m and "optirollup_unposted_batches" in m
        assert m['optirollup_l1_batches{state="pending"}'] >= 1

        # An order acknowledged, then SIGKILL: after a restart it is still there, once.
        status, ack = node.post("/orders", order(net, bob, 0, 2 * LOT, 2))
        assert status == 200 and ack["filled"] == str(2 * LOT), ack
        acked = node.get("/status")
        assert node.kill(signal.SIGKILL) == -signal.SIGKILL
    finally:
        node.close()

    node = NodeProcess(net, tmp_path / "node")
    try:
        again = node.get("/status")
        assert again["head_batch"] + (again["open_txs"] > 0) >= acked["head_batch"]
        positions = node.get(f"/accounts/{bob.address}")["positions"]
        # 4 + 2 lots: no acknowledged fill lost or doubled.
        assert [int(p["size"]) for p in positions] == [6 * LOT]
        (resting,) = node.get(f"/accounts/{alice.address}")["open_orders"]
        assert int(resting["remaining"]) == 4 * LOT
        # The window passes: every batch posted so far becomes final (the devnet oracle keeps
        # adding price updates, so later batches keep coming).
        posted = node.wait_for(lambda: node.get("/status")["posted"], "a posted batch")
        net.anvil.rpc("evm_increaseTime", 120)
        net.anvil.rpc("evm_mine")
        node.wait_for(
            lambda: node.get("/status")["final"] >= posted, "the posted batches final", timeout=90
        )
        rollup = bind(net.w3, "Rollup", net.devnet.deployment.rollup)
        assert rollup.functions.final_count().call() >= posted
        assert node.kill(signal.SIGTERM) == 0
    finally:
        node.close()
    assert key_for("devnet-proposer") == net.devnet.config.proposer_key


def test_the_node_defends_a_valid_batch_against_a_lying_challenger_and_takes_its_bond(
    net: LocalDevnet, tmp_path: Path
) -> None:
    alice, bob = net.devnet.config.trader_accounts()
    dep = net.devnet.deployment
    rollup, game = bind(net.w3, "Rollup", dep.rollup), bind(net.w3, "DisputeGame", dep.dispute_game)
    node = NodeProcess(net, tmp_path / "node")
    try:
        for t in (alice, bob):
            deposit(net, t, 10**11)
        node.wait_for(
            lambda: (
                int((node.get(f"/accounts/{bob.address}") or {}).get("collateral", 0)) > 0
                and int((node.get("/markets/1") or {}).get("oracle_price", 0)) > 0
            ),
            "deposits and a price",
        )
        assert node.post("/orders", order(net, alice, 1, 10 * LOT, 1))[0] == 200
        assert node.post("/orders", order(net, bob, 0, 4 * LOT, 1))[0] == 200
        node.wait_for(lambda: rollup.functions.batch_count().call() >= 1, "a batch on L1")

        # A lying challenger disputes batch 0: it agrees with the pre-root, nothing else.
        batch = rollup.functions.batch(0).call()
        n, prev = int(batch[3]), bytes(batch[0])
        lies = ListTrace([prev] + [keccak(b"lie %d" % i) for i in range(n)])
        challenger = net.devnet.config.challenger.local
        bond = int(game.functions.CHALLENGER_BOND().call())
        fn = game.functions.open(0, batch_hash(batch))  # the batch judged, by its hash
        receipt = send(net.w3, challenger,
                       {"to": dep.dispute_game, "data": fn._encode_transaction_data(),
                        "value": bond}, "open")  # fmt: skip
        (opened,) = game.events.GameOpened().process_receipt(receipt, errors=DISCARD)
        gid = int(opened["args"]["game_id"])
        liar = Responder(game, challenger)  # no step source: it cannot prove its lie
        deadline = time.monotonic() + 90
        while (view := read_game(game, gid, rollup=rollup)).status is Status.ACTIVE:
            assert time.monotonic() < deadline, f"game still active: {view}"
            moves = [a for a in solve(view, CHALLENGER, lies, view.l1_time)
                     if not isinstance(a, Step)]  # fmt: skip
            liar.act_all(moves)
            time.sleep(0.3)
        assert view.status is Status.ASSERTER_WON
        assert rollup.functions.batch_count().call() >= 1  # the batch stands
        proposer = net.devnet.config.proposer.address
        node.wait_for(
            lambda: game.functions.credits(proposer).call() == 0, "the defender to claim the bond"
        )
        node.wait_for(
            lambda: node.metrics()['optirollup_games_resolved_total{result="won"}'] == 1,
            "the game counted as won",
        )
        assert node.kill(signal.SIGTERM) == 0
    finally:
        node.close()


def test_the_oracle_signs_prices_from_a_file_and_funding_from_the_books_premium(
    net: LocalDevnet, tmp_path: Path
) -> None:
    alice, bob = net.devnet.config.trader_accounts()
    prices = tmp_path / "prices.json"
    missing = NodeProcess(net, tmp_path / "bad", "--price-source", "file", "--price-file",
                          str(prices), wait=False)  # fmt: skip
    assert missing.wait_exit() == 1
    assert "cannot start the node: cannot read the price file" in missing.stderr()

    prices.write_text('{"1": 3000000000}')
    node = NodeProcess(net, tmp_path / "node", "--price-source", "file", "--price-file",
                       str(prices), "--oracle-seconds", "1", "--funding-seconds", "1")  # fmt: skip
    try:
        funded_node(net, node, (alice, bob))
        assert node.get("/markets/1")["oracle_price"] == "3000000000"
        # A two-sided book: mid 3,045 over an index of 3,000 is a 1.5% premium, capped at 1%.
        assert node.post("/orders", order(net, alice, 0, 10 * LOT, 1, 3_030_000_000))[0] == 200
        assert node.post("/orders", order(net, bob, 1, 10 * LOT, 1, 3_060_000_000))[0] == 200
        tick = 10_000 * 3_000_000_000  # the cap (ppm) times the index price
        market = node.wait_for(
            lambda: (m := node.get("/markets/1")) and int(m["funding_index"]) >= 2 * tick and m,
            "two funding ticks",
        )
        assert int(market["funding_index"]) % tick == 0

        # The operator's feed moves the price: the next round reads the file again. The mid is
        # now below the index: longs are paid.
        prices.write_text('{"1": "3100000000"}')
        node.wait_for(
            lambda: node.get("/markets/1")["oracle_price"] == "3100000000", "the new price"
        )
        before = int(node.get("/markets/1")["funding_index"])
        node.wait_for(
            lambda: int(node.get("/markets/1")["funding_index"]) < before, "a negative tick"
        )
        # A broken file is reported and skipped; the node keeps running on the last price.
        prices.write_text('{"1": 0}')
        node.wait_for(lambda: node.events("oracle.failed"), "the bad file reported")
        assert "price 0 is not an integer in 1..2^64-1" in node.events("oracle.failed")[0]["err"]
        assert node.metrics()["optirollup_oracle_failures_total"] >= 1
        assert node.get("/markets/1")["oracle_price"] == "3100000000"
        assert node.metrics()['optirollup_oracle_txs_total{kind="funding"}'] >= 3
    finally:
        node.close()
