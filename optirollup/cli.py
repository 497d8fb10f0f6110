"""The ``optirollup`` command line. Domain errors become click errors here, and only here."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click

from optirollup import __version__
from optirollup.codec.batch import decode_tx_list
from optirollup.codec.tx import Order, SignedOrder, TxType, decode_tx
from optirollup.errors import OptiRollupError


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Order | SignedOrder) or dataclasses.is_dataclass(value):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _hex_arg(text: str) -> bytes:
    t = text.strip()
    t = t[2:] if t.startswith(("0x", "0X")) else t
    try:
        return bytes.fromhex(t)
    except ValueError as err:
        raise click.BadParameter(f"not hex: {err}; pass the bytes as 0x-prefixed hex") from err


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="optirollup")
def main() -> None:
    """optirollup: an optimistic rollup for perpetuals and options trading.

    `optirollup devnet` starts a local L1 with the rollup deployed; the node and the trader
    commands arrive with their issues. See README.md.
    """


@main.command()
def demo() -> None:
    """Run the end-to-end demo (devnet, node, challenger, a disputed batch)."""
    click.echo(
        "make demo: not yet. The demo needs the node and the challenger, which do not exist yet.\n"
        "What works today: `make test` (protocol core, vectors, contracts and dispute games),\n"
        "`make bench` (STF throughput) and `make gas-doc` (L1 gas figures)."
    )


def _key_option(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
    """Parse an optional 32-byte private key given as hex."""
    if value is None:
        return None
    key = _hex_arg(value)
    if len(key) != 32:
        raise click.BadParameter(f"a private key is 32 bytes of hex, got {len(key)} bytes")
    return key


@main.command()
@click.option(
    "--rpc-url",
    envvar="OPTIROLLUP_RPC_URL",
    show_envvar=True,
    metavar="URL",
    help="Deploy onto this running JSON-RPC node instead of starting anvil; then nothing is "
    "started and the command returns once the file is written.  [default: start anvil from "
    "node_modules on a free 127.0.0.1 port]",
)
@click.option(
    "--out",
    envvar="OPTIROLLUP_DEVNET_OUT",
    show_envvar=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=Path("devnet.json"),
    show_default=True,
    help="The deployment file to write (overwritten): addresses, chain id, RPC URL, deployment "
    "block and the devnet-only test keys.",
)
@click.option(
    "--traders",
    envvar="OPTIROLLUP_DEVNET_TRADERS",
    show_envvar=True,
    type=click.IntRange(0, 1000),
    default=4,
    show_default=True,
    help='Test traders to fund; their keys are Trader.of("devnet-trader-<i>").',
)
@click.option(
    "--trader-eth",
    envvar="OPTIROLLUP_DEVNET_TRADER_ETH",
    show_envvar=True,
    type=click.IntRange(0, 10**6),
    default=100,
    show_default=True,
    help="ETH sent to each trader (from the deployer).",
)
@click.option(
    "--trader-tokens",
    envvar="OPTIROLLUP_DEVNET_TRADER_TOKENS",
    show_envvar=True,
    type=click.IntRange(0, 10**12),
    default=1_000_000,
    show_default=True,
    help="Whole MockTokens (6 decimals) minted to each trader.",
)
@click.option(
    "--oracle-key",
    envvar="OPTIROLLUP_ORACLE_KEY",
    show_envvar=True,
    metavar="HEX",
    callback=_key_option,
    help='The genesis oracle\'s private key.  [default: the devnet key Trader.of("devnet-oracle")]',
)
@click.option(
    "--proposer-key",
    envvar="OPTIROLLUP_PROPOSER_KEY",
    show_envvar=True,
    metavar="HEX",
    callback=_key_option,
    help="The proposer's private key; it is funded and stakes the bond itself.  [default: the "
    'devnet key Trader.of("devnet-proposer")]',
)
@click.option(
    "--deployer-key",
    envvar="OPTIROLLUP_DEPLOYER_KEY",
    show_envvar=True,
    metavar="HEX",
    callback=_key_option,
    help="A funded key that deploys and funds everyone.  [default: the node's first unlocked "
    "account, anvil's first dev account]",
)
@click.option(
    "--chain-id",
    envvar="OPTIROLLUP_CHAIN_ID",
    show_envvar=True,
    type=click.IntRange(1, 2**63 - 1),
    default=31337,
    show_default=True,
    help="Chain id of the anvil it starts (ignored with --rpc-url).",
)
@click.option(
    "--challenge-window",
    envvar="OPTIROLLUP_CHALLENGE_WINDOW",
    show_envvar=True,
    type=click.IntRange(0, 2**64 - 1),
    default=3600,
    show_default=True,
    help="Seconds a posted batch stays open to challenge.",
)
def devnet(
    rpc_url: str | None,
    out: Path,
    traders: int,
    trader_eth: int,
    trader_tokens: int,
    oracle_key: bytes | None,
    proposer_key: bytes | None,
    deployer_key: bytes | None,
    chain_id: int,
    challenge_window: int,
) -> None:
    """Start a local L1 (anvil) with the rollup deployed and test accounts funded.

    Deploys MockToken, Vault, Rollup, DisputeGame and the step verifiers of every transaction
    type, stakes the proposer's bond, funds a challenger and the test traders (ETH and
    MockToken), writes the deployment file and prints a summary. Then anvil keeps running until
    Ctrl-C or SIGTERM, and is stopped on exit. With --rpc-url it deploys onto that node and
    returns. Every key it uses by default is public: for devnets only.
    """
    # Imported here: web3 takes a while to import, and every other command starts without it.
    from optirollup.devnet import ETHER, TOKEN_UNIT, DevnetConfig
    from optirollup.devnet import run as run_devnet

    defaults = DevnetConfig()
    try:
        config = DevnetConfig(
            traders=traders,
            oracle_key=oracle_key or defaults.oracle_key,
            proposer_key=proposer_key or defaults.proposer_key,
            deployer_key=deployer_key,
            trader_eth=trader_eth * ETHER,
            trader_tokens=trader_tokens * TOKEN_UNIT,
            challenge_window=challenge_window,
        )
        run_devnet(config, out, rpc_url=rpc_url, chain_id=chain_id, echo=click.echo)
    except OptiRollupError as err:
        raise click.ClickException(str(err)) from err


@main.group()
def node() -> None:
    """Run the rollup node (sequencer, order books, HTTP API, batch poster, defender)."""


@node.command("run")
@click.option(
    "--devnet-file",
    envvar="OPTIROLLUP_DEVNET_FILE",
    show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("devnet.json"),
    show_default=True,
    help="The deployment file `optirollup devnet` wrote: addresses, RPC URL and devnet keys.",
)
@click.option(
    "--rpc-url",
    envvar="OPTIROLLUP_RPC_URL",
    show_envvar=True,
    default=None,
    help="L1 JSON-RPC endpoint.  [default: the deployment file's]",
)
@click.option(
    "--data-dir",
    envvar="OPTIROLLUP_DATA_DIR",
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/node"),
    show_default=True,
    help="Where the node keeps its LevelDB (state, journal, batches, resting orders).",
)
@click.option("--host", envvar="OPTIROLLUP_HOST", show_envvar=True, default="127.0.0.1",
              show_default=True, help="HTTP API address.")  # fmt: skip
@click.option("--port", envvar="OPTIROLLUP_PORT", show_envvar=True, type=click.IntRange(0, 65535),
              default=8080, show_default=True, help="HTTP API port.")  # fmt: skip
@click.option(
    "--proposer-key",
    envvar="OPTIROLLUP_PROPOSER_KEY",
    show_envvar=True,
    default=None,
    help="The proposer's private key (0x-hex).  [default: the deployment file's devnet key]",
)
@click.option(
    "--oracle-key",
    envvar="OPTIROLLUP_ORACLE_KEY",
    show_envvar=True,
    default=None,
    help="Sign devnet prices with this key.  [default: the deployment file's devnet oracle]",
)
@click.option("--no-oracle", is_flag=True, help="Do not sign prices (another process does).")
@click.option("--max-txs", envvar="OPTIROLLUP_MAX_TXS", show_envvar=True, default=500,
              show_default=True, type=click.IntRange(1, 65535),
              help="Seal a batch at this many transactions.")  # fmt: skip
@click.option("--max-seconds", envvar="OPTIROLLUP_MAX_SECONDS", show_envvar=True, default=2,
              show_default=True, type=click.IntRange(0),
              help="Seal a batch this many seconds after it opened.")  # fmt: skip
@click.option("--log-format", envvar="OPTIROLLUP_LOG_FORMAT", show_envvar=True,
              type=click.Choice(["console", "json"]), default="console", show_default=True,
              help="Log lines for people (console) or for machines (json).")  # fmt: skip
def node_run(
    devnet_file: Path,
    rpc_url: str | None,
    data_dir: Path,
    host: str,
    port: int,
    proposer_key: str | None,
    oracle_key: str | None,
    no_oracle: bool,
    max_txs: int,
    max_seconds: int,
    log_format: str,
) -> None:
    """Run the node until Ctrl-C or SIGTERM.

    It follows the Vault's deposits, takes signed orders and transactions over HTTP (OpenAPI
    schema at /docs), matches and sequences them, seals batches every --max-txs transactions or
    --max-seconds seconds, posts them to the Rollup, finalizes them after the challenge window
    and answers every dispute game against them. Everything acknowledged is in --data-dir
    before the answer is sent: after a crash, run it again.
    """
    import signal

    from optirollup.executor.runner import NodeConfig, NodeRunner
    from optirollup.l1.deploy import Deployment
    from optirollup.logs import configure

    configure(log_format)
    try:
        data = json.loads(devnet_file.read_text())
    except (OSError, ValueError) as err:
        raise click.ClickException(
            f"cannot read the deployment file {devnet_file} ({err}); run `optirollup devnet` "
            "first or pass --devnet-file"
        ) from err
    accounts = data.get("devnet_only_accounts", {})

    def key(given: str | None, role: str) -> bytes | None:
        text = given or accounts.get(role, {}).get("key")
        return None if text is None else _hex_arg(text)

    proposer = key(proposer_key, "proposer")
    if proposer is None:
        raise click.ClickException("no proposer key: pass --proposer-key")
    oracle_address = accounts.get("oracle", {}).get("address")
    if oracle_address is None:
        raise click.ClickException(f"{devnet_file} names no genesis oracle")
    try:
        config = NodeConfig(
            rpc_url=rpc_url or str(data["rpc_url"]),
            deployment=Deployment.from_json(data),
            data_dir=data_dir,
            proposer_key=proposer,
            oracle_address=_hex_arg(oracle_address),
            oracle_key=None if no_oracle else key(oracle_key, "oracle"),
            host=host,
            port=port,
            max_txs=max_txs,
            max_seconds=max_seconds,
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        runner = NodeRunner(config)
    except (KeyError, OptiRollupError) as err:
        raise click.ClickException(f"cannot start the node: {err}") from err

    def stop(signum: int, frame: object) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    runner.start()
    click.echo(f"node: HTTP API on http://{host}:{port} (docs at /docs); Ctrl-C stops it")
    try:
        runner.wait()
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()


@main.group()
def tx() -> None:
    """Inspect transactions and batches."""


@tx.command("decode")
@click.argument("hex_bytes")
@click.option("--batch", is_flag=True, help="Treat the input as a framed transaction list.")
def tx_decode(hex_bytes: str, batch: bool) -> None:
    """Decode a transaction (or, with --batch, a framed list) given as hex; print JSON.

    A transaction that does not decode is printed with its error: inside a batch it would be a
    no-op with reason MALFORMED.
    """
    data = _hex_arg(hex_bytes)
    try:
        items = decode_tx_list(data) if batch else [data]
    except OptiRollupError as err:
        raise click.ClickException(str(err)) from err
    out = []
    for raw in items:
        try:
            decoded = decode_tx(raw)
            out.append({"type": TxType(raw[0]).name, "fields": _jsonable(decoded)})
        except OptiRollupError as err:
            out.append({"type": None, "error": str(err), "bytes": "0x" + raw.hex()})
    json.dump(out if batch else out[0], sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":  # pragma: no cover
    main()
