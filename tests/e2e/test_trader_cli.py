"""The trader commands end to end, driven only through the CLI as subprocesses: two devnet
traders deposit on L1, cross orders on the node, cancel one order and then all of them, one
withdraws, and once the batch is final on L1 the claim pays the recipient in MockToken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_devnet import LocalDevnet
from web3 import Web3

from optirollup.l1.anvil import free_port
from optirollup.l1.deploy import bind

BIN = Path(sys.executable).parent
pytest_plugins = ["e2e_devnet"]
CLI = str(BIN / "optirollup")
LOT, PRICE = 100_000, 3_000_000_000
DEPOSIT, WITHDRAWAL = 10**11, 12_345_678
RECIPIENT = "0x" + "5e" * 20


@pytest.fixture
def devnet(local_devnet: LocalDevnet) -> LocalDevnet:
    return local_devnet


@dataclass
class Cli:
    """Runs `optirollup` with the node URL and the devnet file in its environment."""

    env: dict[str, str]

    def run(self, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if key is not None:
            env["OPTIROLLUP_KEY"] = key
        return subprocess.run(
            [CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    def json(self, *args: str, key: str | None = None) -> Any:
        r = self.run(*args, key=key)
        assert r.returncode == 0, f"optirollup {' '.join(args)} failed: {r.stderr}"
        return json.loads(r.stdout)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_traders_deposit_trade_withdraw_and_claim_on_l1_through_the_cli(
    devnet: LocalDevnet, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "OPTIROLLUP_NODE_URL": f"http://127.0.0.1:{port}",
        "OPTIROLLUP_DEVNET_FILE": str(devnet.file),
    }
    env.pop("OPTIROLLUP_KEY", None)
    cli = Cli(env)
    alice, bob = devnet.devnet.config.trader_accounts()
    bob_key = "0x" + bob.key.hex()
    node = subprocess.Popen(
        [CLI, "node", "run", "--data-dir", str(tmp_path / "node"), "--port", str(port),
         "--max-seconds", "1", "--log-format", "json"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(lambda: cli.run("status").returncode == 0, "the node to answer")
        # No key given: the devnet file's trader 0 (alice); bob through OPTIROLLUP_KEY.
        dep = cli.json("deposit", str(DEPOSIT))
        assert dep["account"] == alice.address and dep["amount"] == str(DEPOSIT)
        assert cli.json("deposit", str(DEPOSIT), key=bob_key)["account"] == bob.address
        for k in (None, bob_key):
            wait_for(
                lambda k=k: int(cli.json("account", key=k)["collateral"]) == DEPOSIT,
                "the deposit on L2",
            )

        def place(side: str, size: int, key: str | None) -> Any:
            r = cli.run("order", "place", "--side", side, "--price", str(PRICE),
                        "--size", str(size), key=key)  # fmt: skip
            if r.returncode != 0:  # the market or its first price may still be on its way
                assert "unknown_market" in r.stderr or "no_price" in r.stderr, r.stderr
                return None
            return json.loads(r.stdout)

        rest = wait_for(lambda: place("sell", 10 * LOT, None), "the market and a price")
        assert rest["status"] == "resting", rest
        assert cli.json("book")["asks"] == [{"price": str(PRICE), "size": str(10 * LOT),
                                             "orders": 1}]  # fmt: skip
        taken = place("buy", 4 * LOT, bob_key)
        assert taken["status"] == "filled" and len(taken["fills"]) == 1, taken
        positions = cli.json("account", bob.address)["positions"]
        assert [(p["market"], int(p["size"])) for p in positions] == [(1, 4 * LOT)]

        cancelled = cli.json("order", "cancel", rest["order_hash"])
        assert cancelled["tx_hash"].startswith("0x") and "withdrawal_id" not in cancelled
        assert cli.json("book")["asks"] == []
        # Two more resting orders, then CANCEL_ALL: both leave the book, the floor is raised.
        for price in (PRICE + 1_000_000, PRICE + 2_000_000):
            r = cli.run("order", "place", "--side", "sell", "--price", str(price), "--size",
                        str(LOT))  # fmt: skip
            assert r.returncode == 0 and json.loads(r.stdout)["status"] == "resting", r.stderr
        assert len(cli.json("account")["open_orders"]) == 2
        wiped = cli.json("order", "cancel-all")
        assert wiped["tx_hash"].startswith("0x") and int(wiped["floor"]) > 0
        assert cli.json("book")["asks"] == []
        me = cli.json("account")
        assert me["open_orders"] == [] and me["cancel_floor"] == wiped["floor"]
        stale = cli.run("order", "cancel-all", "--floor", wiped["floor"])
        assert stale.returncode == 1 and "stale_cancel_floor" in stale.stderr, stale.stderr
        # An API error is one clean click error: its code and message, no traceback.
        bad = cli.run("withdraw", str(10 * DEPOSIT))
        assert bad.returncode == 1 and "insufficient_margin" in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr

        ack = cli.json("withdraw", str(WITHDRAWAL), "--recipient", RECIPIENT, key=bob_key)
        wid, batch_index = ack["withdrawal_id"], ack["batch_index"]
        early = cli.run("claim", str(wid))
        assert early.returncode == 1 and "not final yet" in early.stderr, early.stderr

        def status_of(index: int) -> str | None:
            got = cli.json("batches", "--start", str(index), "--limit", "1")
            return got[0]["status"] if got else None

        wait_for(lambda: status_of(batch_index) in ("posted", "final"), "the batch posted")
        devnet.anvil.rpc("evm_increaseTime", 120)
        devnet.anvil.rpc("evm_mine")
        wait_for(lambda: status_of(batch_index) == "final", "the batch final", timeout=90)

        token = bind(devnet.w3, "MockToken", devnet.devnet.deployment.token)
        recipient = Web3.to_checksum_address(RECIPIENT)
        before = token.functions.balanceOf(recipient).call()
        paid = cli.json("claim", str(wid))  # sent from alice: anyone may claim
        assert paid["recipient"] == RECIPIENT and paid["amount"] == str(WITHDRAWAL)
        assert token.functions.balanceOf(recipient).call() == before + WITHDRAWAL
        again = cli.run("claim", str(wid))
        assert again.returncode == 1 and "failed on L1" in again.stderr, again.stderr
    finally:
        node.terminate()
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait(timeout=30)
        if node.stderr is not None:
            node.stderr.close()
