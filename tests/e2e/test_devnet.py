"""``optirollup devnet`` as a real process: it starts anvil, deploys and funds everything, writes
the deployment file, and stops its anvil on SIGINT or SIGTERM; with ``--rpc-url`` it deploys onto
a node the test started and starts nothing. Every check reads the chain through web3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from optirollup.codec import eip712
from optirollup.l1.anvil import Anvil
from optirollup.l1.deploy import Deployment, bind
from optirollup.state.overlay import genesis_root
from optirollup.state.store import MemoryStore
from optirollup.testkit import Trader

OPTIROLLUP = str(Path(sys.executable).parent / "optirollup")
STARTUP_LIMIT = 60.0
"""Seconds to wait for the deployment file before giving up (a bound, not an assertion)."""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


DEVNET_VARS = (
    "OPTIROLLUP_RPC_URL",
    "OPTIROLLUP_DEVNET_OUT",
    "OPTIROLLUP_DEVNET_TRADERS",
    "OPTIROLLUP_DEVNET_TRADER_ETH",
    "OPTIROLLUP_DEVNET_TRADER_TOKENS",
    "OPTIROLLUP_ORACLE_KEY",
    "OPTIROLLUP_PROPOSER_KEY",
    "OPTIROLLUP_DEPLOYER_KEY",
    "OPTIROLLUP_CHAIN_ID",
    "OPTIROLLUP_CHALLENGE_WINDOW",
)


def env(**extra: str) -> dict[str, str]:
    """Return this environment without the devnet's own variables, plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if k not in DEVNET_VARS}, **extra}


def wait_for_file(path: Path, proc: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + STARTUP_LIMIT
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"devnet exited with {proc.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {path} after {STARTUP_LIMIT} s:\n{log.read_text()}")
        time.sleep(0.05)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.fixture
def devnet_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """Start ``optirollup devnet --out <tmp> --traders 3``; stop it (and its anvil) if still up."""
    out, log = tmp_path / "devnet" / "devnet.json", tmp_path / "devnet.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [OPTIROLLUP, "devnet", "--out", str(out), "--traders", "3"],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env(),
        )
    try:
        yield proc, out, log
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        if out.exists():
            pid = json.loads(out.read_text())["anvil_pid"]
            if pid is not None and alive(pid):
                os.kill(pid, signal.SIGKILL)


def check_deployed(data: dict[str, Any], traders: int) -> Web3:
    """Check through web3 what the deployment file claims; return the connection."""
    w3 = Web3(Web3.HTTPProvider(data["rpc_url"]))
    dep = Deployment.from_json(data)
    assert w3.eth.chain_id == dep.chain_id == data["chain_id"]
    assert data["deployment_block"] == dep.block
    contracts = [dep.token, dep.vault, dep.rollup, dep.dispute_game]
    contracts += [*dep.rules.values(), *dep.verifiers.values()]
    for address in contracts:
        assert len(w3.eth.get_code(Web3.to_checksum_address(address))) > 0, address

    game = bind(w3, "DisputeGame", dep.dispute_game)
    runners = {game.functions.verifiers(t).call() for t in range(1, 9)}
    assert runners == {dep.verifiers[1]}
    assert sorted(dep.verifiers) == list(range(1, 9))

    accounts = data["devnet_only_accounts"]
    assert "DEVNET ONLY" in accounts["warning"]
    oracle = accounts["oracle"]
    root = genesis_root(MemoryStore(), bytes.fromhex(oracle["address"][2:]))
    rollup = bind(w3, "Rollup", dep.rollup)
    assert bytes(rollup.functions.last_root().call()) == root == dep.params.genesis_root
    proposer = accounts["proposer"]["address"]
    assert rollup.functions.proposer().call() == proposer
    assert rollup.functions.stakes(proposer).call() == dep.params.proposer_bond

    token = bind(w3, "MockToken", dep.token)
    assert len(accounts["traders"]) == traders
    for i, trader in enumerate(accounts["traders"]):
        assert trader["address"] == Web3.to_checksum_address(
            Trader.of(f"devnet-trader-{i}").address
        )
        assert (
            eip712.address_of(bytes.fromhex(trader["key"][2:])).hex()
            == trader["address"][2:].lower()
        )
        assert token.functions.balanceOf(trader["address"]).call() == trader["tokens"] > 0
        assert w3.eth.get_balance(trader["address"]) == trader["eth_wei"] > 0
    return w3


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_devnet_deploys_funds_writes_its_file_and_stops_its_anvil_on_a_signal(
    devnet_process: tuple[subprocess.Popen[bytes], Path, Path], stop: signal.Signals
) -> None:
    proc, out, log = devnet_process
    data = wait_for_file(out, proc, log)
    check_deployed(data, traders=3)
    anvil_pid = data["anvil_pid"]
    assert alive(anvil_pid)
    assert data["rpc_url"].startswith("http://127.0.0.1:")

    proc.send_signal(stop)
    assert proc.wait(timeout=30) == 0, log.read_text()
    assert not alive(anvil_pid)
    text = log.read_text()
    for event in ("devnet.started", "devnet.deployed", "devnet.stopped"):
        assert event in text
    assert "types 1..8" in text


def test_the_devnet_deploys_onto_a_given_node_from_environment_variables_and_starts_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "onto.json"
    oracle = Trader.of("another oracle")
    with Anvil(extra_args=["--silent"]) as node:
        done = subprocess.run(
            [OPTIROLLUP, "devnet"],
            env=env(
                OPTIROLLUP_RPC_URL=node.url,
                OPTIROLLUP_DEVNET_OUT=str(out),
                OPTIROLLUP_DEVNET_TRADERS="2",
                OPTIROLLUP_ORACLE_KEY="0x" + oracle.key.hex(),
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        data = json.loads(out.read_text())
        assert data["rpc_url"] == node.url
        assert data["anvil_pid"] is None
        assert data["devnet_only_accounts"]["oracle"]["address"] == Web3.to_checksum_address(
            oracle.address
        )
        check_deployed(data, traders=2)
        assert alive(node.pid)  # the node the test started is left running


def test_an_unreachable_rpc_url_is_one_clear_error(tmp_path: Path) -> None:
    with Anvil(extra_args=["--silent"]) as node:
        url = node.url
    done = subprocess.run(
        [OPTIROLLUP, "devnet", "--rpc-url", url, "--out", str(tmp_path / "x.json")],
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"Error: no JSON-RPC node answers at {url}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.json").exists()


def test_a_missing_anvil_says_to_run_make_install(tmp_path: Path) -> None:
    done = subprocess.run(
        [OPTIROLLUP, "devnet", "--out", str(tmp_path / "x.json")],
        env={**env(), "OPTIROLLUP_ANVIL": str(tmp_path / "no-anvil")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "make install" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_help_names_every_environment_variable() -> None:
    done = subprocess.run(
        [OPTIROLLUP, "devnet", "--help"], capture_output=True, text=True, timeout=60, env=env()
    )
    assert done.returncode == 0
    for name in DEVNET_VARS:
        assert name in " ".join(done.stdout.split()), name


def test_a_deployment_that_fails_is_one_clear_error_naming_the_step(tmp_path: Path) -> None:
    broke = Trader.of("a deployer without ether")
    with Anvil(extra_args=["--silent"]) as node:
        url = node.url
        done = subprocess.run(
            [OPTIROLLUP, "devnet", "--rpc-url", url, "--out", str(tmp_path / "x.json")],
            env=env(OPTIROLLUP_DEPLOYER_KEY="0x" + broke.key.hex()),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"Error: deploying the contracts on {url} failed" in done.stderr
    assert "is the deployer funded" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.json").exists()
