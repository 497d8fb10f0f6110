"""``challenger run``: its options, its configuration from the deployment file, its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from challenger.cli import load_config, main
from challenger.errors import ConfigError, L1Unreachable
from challenger.follower import Rpc
from challenger.metrics import Metrics
from optirollup.devnet import Devnet, DevnetConfig
from optirollup.l1.anvil import free_port
from optirollup.l1.deploy import Deployment, devnet_params

BIN = Path(sys.executable).parent


def devnet_json(rpc_url: str = "http://127.0.0.1:8545") -> dict[str, object]:
    config = DevnetConfig(traders=0)
    dep = Deployment(
        chain_id=31337,
        block=3,
        deployer="0x" + "01" * 20,
        token="0x" + "02" * 20,
        vault="0x" + "03" * 20,
        rollup="0x" + "04" * 20,
        dispute_game="0x" + "05" * 20,
        verifiers={},
        rules={},
        params=devnet_params(bytes.fromhex(config.oracle.address[2:])),
    )
    return Devnet(dep, rpc_url, config).to_json()


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "devnet.json"
    path.write_text(json.dumps(data))
    return path


def test_run_help_names_every_option_and_its_environment_variable() -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    for option in (
        "--devnet-file",
        "--rpc-url",
        "--key",
        "--data-dir",
        "--from-block",
        "--poll-seconds",
        "--metrics-host",
        "--metrics-port",
        "--dry-run",
        "--dishonest-batch",
        "--log-format",
    ):
        assert option in result.output
        assert "CHALLENGER_" + option[2:].upper().replace("-", "_") in result.output


def test_the_deployment_file_gives_the_defaults_and_flags_override_them(tmp_path: Path) -> None:
    data = devnet_json()
    path = write(tmp_path, data)
    config = load_config(path)
    accounts = data["devnet_only_accounts"]
    assert isinstance(accounts, dict)
    assert config.rpc_url == "http://127.0.0.1:8545"
    assert "0x" + config.key.hex() == accounts["challenger"]["key"]
    assert config.deployment.rollup == "0x" + "04" * 20
    assert config.from_block is None and not config.dry_run
    other = load_config(
        path,
        rpc_url="http://other:1",
        key="0x" + "42" * 32,
        from_block=9,
        dry_run=True,
        dishonest_batch=2,
    )
    assert other.rpc_url == "http://other:1" and other.key == b"\x42" * 32
    assert (other.from_block, other.dry_run, other.dishonest_batch) == (9, True, 2)


def without(path: tuple[str, ...]) -> dict[str, object]:
    data = devnet_json()
    node = data
    for part in path[:-1]:
        node = node[part]  # type: ignore[assignment]
    del node[path[-1]]
    return data


BAD_FILES = [
    ("a file that does not exist", None, "run `optirollup devnet` first"),
    ("a file that is not JSON", "{not json", "is not JSON"),
    ("a JSON list", [1, 2], "holds no deployment"),
    ("a file without addresses", without(("rollup",)), "is not a deployment file"),
    (
        "a file without the challenger key",
        without(("devnet_only_accounts", "challenger")),
        "pass --key",
    ),
    (
        "a file without the oracle",
        without(("devnet_only_accounts", "oracle")),
        "names no genesis oracle",
    ),
    ("a file without an RPC URL", without(("rpc_url",)), "pass --rpc-url"),
]


@pytest.mark.parametrize(
    ("data", "message"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_an_unusable_deployment_file_is_refused_with_a_hint(
    tmp_path: Path, data: object, message: str
) -> None:
    if data is None:
        path = tmp_path / "missing.json"
    elif isinstance(data, str):
        path = tmp_path / "devnet.json"
        path.write_text(data)
    else:
        path = write(tmp_path, data)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


@pytest.mark.parametrize(
    ("key", "message"),
    [("0xzz", "not hex"), ("0x" + "11" * 31, "32 bytes of hex, got 31")],
    ids=["not hex", "too short"],
)
def test_a_malformed_key_is_refused(tmp_path: Path, key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, devnet_json()), key=key)


def test_an_unreachable_endpoint_stops_the_command_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, devnet_json(f"http://127.0.0.1:{free_port()}"))
    done = subprocess.run(
        [
            str(BIN / "challenger"),
            "run",
            "--devnet-file",
            str(path),
            "--data-dir",
            str(tmp_path / "data"),
            "--metrics-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "no JSON-RPC node answers at http://127.0.0.1:" in done.stderr
    assert "`optirollup devnet`" in done.stderr
    assert not (tmp_path / "data").exists()  # it failed before touching the data directory


def test_rpc_failures_are_retried_with_backoff_then_reported() -> None:
    pauses: list[float] = []
    errors: list[int] = []
    rpc = Rpc(retries=3, backoff=0.5, sleep=pauses.append, on_error=lambda: errors.append(1))
    attempts: list[int] = []

    def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionResetError("reset by peer")
        return 7

    assert rpc("read something", flaky) == 7
    assert pauses == [0.5, 1.0] and len(errors) == 2

    def dead() -> int:
        raise ConnectionRefusedError("refused")

    with pytest.raises(L1Unreachable, match="read it: L1 unreachable after 4 attempts"):
        rpc("read it", dead)


def test_the_clock_gauge_follows_the_open_games() -> None:
    m = Metrics()
    m.set_clocks({1: 100, 2: 50})
    m.set_clocks({2: 40, 3: 120})
    samples = {
        s.labels["game_id"]: s.value
        for metric in m.registry.collect()
        if metric.name == "challenger_game_clock_seconds"
        for s in metric.samples
    }
    assert samples == {"2": 40.0, "3": 120.0}
