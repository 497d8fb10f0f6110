"""The node as a real process on anvil: deposits on L1 reach L2 accounts, signed orders over
HTTP fill, batches are posted and become final; killed with SIGKILL, it restarts with the same
state root, the same posted batches and every acknowledged fill, once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_devnet import LocalDevnet
from web3.logs import DISCARD

from optirollup.api.models import order_body
from optirollup.codec.tx import Order
from optirollup.dispute.game import CHALLENGER, Status
from optirollup.dispute.responder import Responder, read_game
from optirollup.dispute.solver import ListTrace, Step, solve
from optirollup.hashing import keccak
from optirollup.l1.anvil import free_port
from optirollup.l1.deploy import bind, send
from optirollup.testkit import Signer, key_for

BIN = Path(sys.executable).parent
pytest_plugins = ["e2e_devnet"]
LOT, TICK, PRICE = 100_000, 1_000, 3_000_000_000


@pytest.fixture
def net(local_devnet: LocalDevnet) -> LocalDevnet:
    return local_devnet


class NodeProcess:
    def __init__(self, net: LocalDevnet, data: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.proc = subprocess.Popen(
            [str(BIN / "optirollup"), "node", "run", "--devnet-file", str(net.file),
             "--data-dir", str(data), "--port", str(self.port), "--max-seconds", "1",
             "--log-format", "json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.wait_for(lambda: self.get("/healthz") is not None, "the node to answer")

    def get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        req = urllib.request.Request(
            self.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"node exited {self.proc.returncode}: {self.stderr()}")
            value = check()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; node log:\n{self.stderr()}")

    def stderr(self) -> str:
        """Return the end of the node's log (stopping it first if it still runs)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        return self.proc.stderr.read().decode()[-4000:] if self.proc.stderr else ""

    def kill(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


def _deposit(net: LocalDevnet, trader: Any, amount: int) -> None:
    dep = net.devnet.deployment
    token, vault = bind(net.w3, "MockToken", dep.token), bind(net.w3, "Vault", dep.vault)
    acct = trader.local
    for fn in (token.functions.approve(dep.vault, amount),
               vault.functions.deposit(amount, acct.address)):  # fmt: skip
        send(net.w3, acct, {"to": fn.address, "data": fn._encode_transaction_data()}, "deposit")


def _order(net: LocalDevnet, trader: Any, side: int, size: int, nonce: int) -> dict[str, Any]:
    signer = Signer(net.devnet.domain)
    o = Order(bytes.fromhex(trader.address[2:]), 1, side, PRICE, size, 1_000, nonce, 2**40)
    return order_body(signer.order(o, trader.key))


def test_orders_over_http_fill_post_and_finalize_and_a_sigkill_loses_nothing(
    net: LocalDevnet, tmp_path: Path
) -> None:
    alice, bob = net.devnet.config.trader_accounts()
    node = NodeProcess(net, tmp_path / "node")
    try:
        for t in (alice, bob):
            _deposit(net, t, 10**11)
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
        status, ack = node.post("/orders", _order(net, alice, 1, 10 * LOT, 1))
        assert status == 200 and ack["status"] == "resting", ack
        status, ack = node.post("/orders", _order(net, bob, 0, 4 * LOT, 1))
        assert status == 200 and ack["status"] == "filled" and len(ack["fills"]) == 1, ack
        # Replaying the same signed order is refused and changes nothing.
        status, err = node.post("/orders", _order(net, bob, 0, 4 * LOT, 1))
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

        # An order acknowledged, then SIGKILL: after a restart it is still there, once.
        status, ack = node.post("/orders", _order(net, bob, 0, 2 * LOT, 2))
        assert status == 200 and ack["filled"] == str(2 * LOT), ack
        acked = node.get("/status")
        assert node.kill(signal.SIGKILL) == -signal.SIGKILL
    finally:
        if node.proc.poll() is None:
            node.kill(signal.SIGKILL)

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
        if node.proc.poll() is None:
            node.kill(signal.SIGKILL)
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
            _deposit(net, t, 10**11)
        node.wait_for(
            lambda: (
                int((node.get(f"/accounts/{bob.address}") or {}).get("collateral", 0)) > 0
                and int((node.get("/markets/1") or {}).get("oracle_price", 0)) > 0
            ),
            "deposits and a price",
        )
        assert node.post("/orders", _order(net, alice, 1, 10 * LOT, 1))[0] == 200
        assert node.post("/orders", _order(net, bob, 0, 4 * LOT, 1))[0] == 200
        node.wait_for(lambda: rollup.functions.batch_count().call() >= 1, "a batch on L1")

        # A lying challenger disputes batch 0: it agrees with the pre-root, nothing else.
        batch = rollup.functions.batch(0).call()
        n, prev = int(batch[3]), bytes(batch[0])
        lies = ListTrace([prev] + [keccak(b"lie %d" % i) for i in range(n)])
        challenger = net.devnet.config.challenger.local
        bond = int(game.functions.CHALLENGER_BOND().call())
        fn = game.functions.open(0)
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
        assert node.kill(signal.SIGTERM) == 0
    finally:
        if node.proc.poll() is None:
            node.kill(signal.SIGKILL)
