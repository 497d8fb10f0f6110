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

    `optirollup devnet` starts a local L1 with the rollup deployed, `optirollup node run` the
    node on it; the trader commands (deposit, order, account, book, withdraw, claim, batches,
    status) talk to that node and print JSON. See README.md.
    """


@main.command()
@click.option("--fault-batch", type=click.IntRange(1), default=3, show_default=True,
              help="The batch the node is told to falsify.")  # fmt: skip
@click.option("--fault-tx", type=click.IntRange(0), default=2, show_default=True,
              help="Its first transaction whose asserted post-root is wrong (clamped to the "
              "batch's last).")  # fmt: skip
@click.option("--traders", type=click.IntRange(2, 10), default=3, show_default=True,
              help="Scripted traders.")  # fmt: skip
@click.option("--challenge-window", type=click.IntRange(10, 3600), default=30, show_default=True,
              help="Seconds a batch stays open to challenge on the demo's devnet.")  # fmt: skip
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the logs, deployment file and databases go (kept).  [default: a new "
              "temporary directory, removed after a clean run]")  # fmt: skip
@click.option("--keep", is_flag=True, help="Keep the temporary directory after a clean run.")
def demo(
    fault_batch: int,
    fault_tx: int,
    traders: int,
    challenge_window: int,
    workdir: Path | None,
    keep: bool,
) -> None:
    """Run the end-to-end demo: devnet, node and challenger as separate processes.

    Scripted traders deposit on L1 and trade a perpetual over the node's HTTP API; the node is
    told to post one batch with a wrong state root; the challenger re-executes every batch from
    L1, opens a game on the wrong one and wins it with a one-step proof; the batch and its
    descendants are deleted and the proposer slashed; the node stakes again and re-posts its
    honest batches; trading continues; every trader withdraws and claims on L1. A summary is
    printed at the end and everything the demo started is stopped. It takes about two minutes.
    """
    from optirollup.demo import DemoConfig, DemoFailed, run

    config = DemoConfig(traders=traders, fault_batch=fault_batch, fault_tx=fault_tx,
                        challenge_window=challenge_window, workdir=workdir, keep=keep,
                        echo=click.echo)  # fmt: skip
    try:
        run(config)
    except DemoFailed as err:
        raise click.ClickException(f"the demo failed: {err}") from err
    except KeyboardInterrupt:
        raise click.ClickException("interrupted; everything the demo started was stopped") from None


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
@click.option("--oracle-seconds", envvar="OPTIROLLUP_ORACLE_SECONDS", show_envvar=True,
              default=5, show_default=True, type=click.IntRange(0),
              help="Sign an ORACLE_UPDATE per market every this many seconds.")  # fmt: skip
@click.option("--funding-seconds", envvar="OPTIROLLUP_FUNDING_SECONDS", show_envvar=True,
              default=60, show_default=True, type=click.IntRange(0),
              help="Sign a FUNDING_TICK per perpetual every this many seconds: the premium of "
              "the book's mid over the index price, clamped to the market's funding cap "
              "(0: never).")  # fmt: skip
@click.option("--price-source", envvar="OPTIROLLUP_PRICE_SOURCE", show_envvar=True,
              type=click.Choice(["random-walk", "file"]), default="random-walk",
              show_default=True,
              help="Where the oracle reads index prices: the devnet's seeded random walk, or "
              "--price-file.")  # fmt: skip
@click.option("--price-file", envvar="OPTIROLLUP_PRICE_FILE", show_envvar=True,
              type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='With --price-source file: a JSON object {"<market id>": <price>} (quote '
              "units, 1e-6, per whole unit), read again at every oracle round, so any program "
              "that rewrites it feeds the oracle.")  # fmt: skip
@click.option("--fault-batch", envvar="OPTIROLLUP_FAULT_BATCH", show_envvar=True, default=None,
              type=click.IntRange(0), metavar="N",
              help="Devnet and tests only: post batch N with a wrong state root (once; the "
              "node's own state stays honest) so a challenger can win a dispute.")  # fmt: skip
@click.option("--fault-tx", envvar="OPTIROLLUP_FAULT_TX", show_envvar=True, default=0,
              show_default=True, type=click.IntRange(0), metavar="I",
              help="With --fault-batch: the first transaction of the batch whose asserted "
              "post-root is wrong (clamped to the batch's last).")  # fmt: skip
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
    oracle_seconds: int,
    funding_seconds: int,
    price_source: str,
    price_file: Path | None,
    fault_batch: int | None,
    fault_tx: int,
    log_format: str,
) -> None:
    """Run the node until Ctrl-C or SIGTERM.

    It follows the Vault's deposits, takes signed orders and transactions over HTTP (OpenAPI
    schema at /docs), matches and sequences them, seals batches every --max-txs transactions or
    --max-seconds seconds, posts them to the Rollup, finalizes them after the challenge window
    and answers every dispute game against them. Everything acknowledged is in --data-dir
    before the answer is sent: after a crash, run it again. As the oracle (the devnet's key
    unless --no-oracle) it lists ETH-PERP if no market is listed and signs prices and funding.
    GET /metrics serves the API's and the loop's Prometheus metrics.

    Devnet and tests only: --fault-batch N posts batch N with a wrong root; once a challenger
    wins against it (L1 deletes it and the batches after it, and slashes the bond) the node
    stakes again and posts its honest batches. OPTIROLLUP_CRASHPOINT=<point>[:<n>] (after_ack,
    after_seal, after_propose_sent, after_finalize_sent) makes the process kill itself with
    SIGKILL there, to test recovery.
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
            oracle_seconds=oracle_seconds,
            funding_seconds=funding_seconds,
            price_source=price_source,
            price_file=price_file,
            fault_batch=fault_batch,
            fault_tx=fault_tx,
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


# --- trader commands ------------------------------------------------------------------------------
#
# They talk to a node over HTTP (urllib: nothing to import at start-up) and, for `deposit` and
# `claim`, to L1 through web3 (imported inside those two). Every answer is printed as JSON; an
# API error `{"error": {"code", "message"}}` becomes one click error in `_Trader.request`.

DEFAULT_NODE_URL = "http://127.0.0.1:8080"


def _echo_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


class _Trader:
    """A trader's view of one node and one devnet file, loaded lazily (see the options)."""

    def __init__(
        self, node_url: str, devnet_file: Path, key: str | None, rpc_url: str | None = None
    ) -> None:
        self.node_url = node_url.rstrip("/")
        self.devnet_file = devnet_file
        self._key_text = key
        self._rpc_url = rpc_url
        self._devnet: dict[str, Any] | None = None

    # -- configuration ---------------------------------------------------------------------

    def devnet(self) -> dict[str, Any]:
        """Return the deployment file's content (read once)."""
        if self._devnet is None:
            try:
                self._devnet = json.loads(self.devnet_file.read_text())
            except (OSError, ValueError) as err:
                raise click.ClickException(
                    f"cannot read the deployment file {self.devnet_file} ({err}); run "
                    "`optirollup devnet` first or pass --devnet-file / OPTIROLLUP_DEVNET_FILE"
                ) from err
        return self._devnet

    def key(self) -> bytes:
        """Return the trader's private key: --key, else the devnet file's trader 0."""
        text = self._key_text
        if text is None:
            traders = self.devnet().get("devnet_only_accounts", {}).get("traders", [])
            if not traders:
                raise click.ClickException(
                    f"{self.devnet_file} lists no devnet traders: pass --key or OPTIROLLUP_KEY"
                )
            text = str(traders[0]["key"])
        key = _hex_arg(text)
        if len(key) != 32:
            raise click.BadParameter(f"a private key is 32 bytes of hex, got {len(key)} bytes")
        return key

    def address(self) -> bytes:
        """Return the trader's 20-byte address."""
        from optirollup.codec.eip712 import address_of

        return address_of(self.key())

    def separator(self) -> bytes:
        """Return the EIP-712 domain separator of the devnet file."""
        try:
            sep = _hex_arg(str(self.devnet()["eip712_domain"]["separator"]))
        except KeyError as err:
            raise click.ClickException(
                f"{self.devnet_file} has no eip712_domain.separator; write it again with "
                "`optirollup devnet`"
            ) from err
        if len(sep) != 32:
            raise click.ClickException(f"{self.devnet_file}: the domain separator is not 32 bytes")
        return sep

    # -- HTTP ------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the node's API and return the decoded JSON answer; raise a click error on any
        error answer (its code and message) or if the node cannot be reached."""
        import urllib.error
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.node_url + path, data, {"Content-Type": "application/json"}, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                e = json.loads(raw)["error"]
                message = f"{e['code']}: {e['message']}"
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {err.code}: {raw[:200].decode(errors='replace')}"
            raise click.ClickException(f"{method} {path}: {message}") from err
        except (urllib.error.URLError, OSError) as err:
            raise click.ClickException(
                f"cannot reach the node at {self.node_url} ({err}); start it with "
                "`optirollup node run` or pass --node-url / OPTIROLLUP_NODE_URL"
            ) from err

    def get(self, path: str) -> Any:
        """GET ``path``."""
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` to ``path``."""
        return self.request("POST", path, body)

    def sign(self, msg: Any) -> bytes:
        """Return the encoded transaction ``msg`` signed with the trader's key."""
        from optirollup.codec import eip712
        from optirollup.codec.tx import encode_tx, message_hash

        signature = eip712.sign(message_hash(msg, self.separator()), self.key())
        return encode_tx(dataclasses.replace(msg, signature=signature))

    # -- L1 --------------------------------------------------------------------------------

    def l1(self) -> tuple[Any, Any, Any]:
        """Return ``(w3, deployment, local account)`` for L1 transactions (imports web3)."""
        from eth_account import Account
        from web3 import Web3

        from optirollup.l1.deploy import Deployment

        data = self.devnet()
        try:
            deployment = Deployment.from_json(data)
            url = self._rpc_url or str(data["rpc_url"])
        except (KeyError, ValueError, TypeError, OptiRollupError) as err:
            raise click.ClickException(
                f"{self.devnet_file} is not a deployment file ({err})"
            ) from err
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        return w3, deployment, Account.from_key(self.key())


def _node_url_option(f: Any) -> Any:
    return click.option(
        "--node-url", envvar="OPTIROLLUP_NODE_URL", show_envvar=True, default=DEFAULT_NODE_URL,
        show_default=True, metavar="URL", help="The node's HTTP API.",
    )(f)  # fmt: skip


def _devnet_file_option(f: Any) -> Any:
    return click.option(
        "--devnet-file", envvar="OPTIROLLUP_DEVNET_FILE", show_envvar=True,
        type=click.Path(dir_okay=False, path_type=Path), default=Path("devnet.json"),
        show_default=True,
        help="The deployment file: the EIP-712 domain, L1 addresses and the devnet traders.",
    )(f)  # fmt: skip


def _trader_key_option(f: Any) -> Any:
    return click.option(
        "--key", envvar="OPTIROLLUP_KEY", show_envvar=True, default=None, metavar="HEX",
        help="The trader's private key (0x-hex).  [default: the deployment file's devnet "
        "trader 0]",
    )(f)  # fmt: skip


def _rpc_url_option(f: Any) -> Any:
    return click.option(
        "--rpc-url", envvar="OPTIROLLUP_RPC_URL", show_envvar=True, default=None, metavar="URL",
        help="L1 JSON-RPC endpoint.  [default: the deployment file's]",
    )(f)  # fmt: skip


def _trader_options(f: Any) -> Any:
    """Add --node-url, --devnet-file and --key."""
    return _node_url_option(_devnet_file_option(_trader_key_option(f)))


def _l1_failed(what: str, err: Exception) -> click.ClickException:
    return click.ClickException(
        f"{what} failed on L1: {err}; check the RPC URL (--rpc-url), the key's ETH and tokens"
    )


def _l1_errors() -> tuple[type[Exception], ...]:
    from web3.exceptions import Web3Exception

    return (OptiRollupError, Web3Exception, OSError, ValueError)


@main.command()
@click.argument("amount", type=click.IntRange(1, 2**64 - 1))
@_trader_options
@_rpc_url_option
def deposit(
    amount: int, node_url: str, devnet_file: Path, key: str | None, rpc_url: str | None
) -> None:
    """Deposit AMOUNT collateral (token base units, 1e-6) on L1 to the key's own L2 account.

    Approves the Vault for AMOUNT and calls Vault.deposit(AMOUNT, address); the node credits
    the L2 account once it has followed the deposit (watch `optirollup account`).
    """
    trader = _Trader(node_url, devnet_file, key, rpc_url)
    w3, dep, acct = trader.l1()
    from optirollup.l1.deploy import bind, send

    try:
        token, vault = bind(w3, "MockToken", dep.token), bind(w3, "Vault", dep.vault)
        send(
            w3,
            acct,
            {"to": token.address, "data": token.encode_abi("approve", [vault.address, amount])},
            "approve",
        )
        receipt = send(w3, acct, {"to": vault.address,
                                  "data": vault.encode_abi("deposit", [amount, acct.address])},
                       "Vault.deposit")  # fmt: skip
    except _l1_errors() as err:
        raise _l1_failed("deposit", err) from err
    from web3.logs import DISCARD

    events = vault.events.DepositQueued().process_receipt(receipt, errors=DISCARD)
    _echo_json({
        "account": acct.address,
        "amount": str(amount),
        "deposit_index": int(events[0]["args"]["index"]) if events else None,
        "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),
        "l1_block": int(receipt["blockNumber"]),
    })  # fmt: skip


@main.group()
def order() -> None:
    """Place and cancel signed orders."""


@order.command("place")
@click.option("--side", type=click.Choice(["buy", "sell"]), required=True, help="Buy or sell.")
@click.option("--price", type=click.IntRange(1, 2**64 - 1), required=True,
              help="Limit price in quote units (1e-6) per whole unit.")  # fmt: skip
@click.option("--size", type=click.IntRange(1, 2**64 - 1), required=True,
              help="Size in 1e-8 units (a multiple of the market's lot size).")  # fmt: skip
@click.option("--market", type=click.IntRange(0, 2**32 - 1), default=1, show_default=True,
              help="Market id.")  # fmt: skip
@click.option("--post-only", is_flag=True, help="Refuse the order if it would take liquidity.")
@click.option("--reduce-only", is_flag=True, help="Only ever reduce the position.")
@click.option("--ioc", is_flag=True, help="Immediate or cancel: never rest on the book.")
@click.option("--expiry", type=click.IntRange(1, 2**64 - 1), default=None,
              help="Unix seconds the order expires at.  [default: 30 days from now]")  # fmt: skip
@click.option("--nonce", type=click.IntRange(0, 2**64 - 1), default=None,
              help="The order's nonce (orders below the cancel floor are dead).  [default: "
              "microseconds since the epoch]")  # fmt: skip
@click.option("--fee-cap-ppm", type=click.IntRange(0, 2**32 - 1), default=None,
              help="Highest fee accepted, ppm.  [default: the market's higher rate]")  # fmt: skip
@_trader_options
def order_place(
    side: str,
    price: int,
    size: int,
    market: int,
    post_only: bool,
    reduce_only: bool,
    ioc: bool,
    expiry: int | None,
    nonce: int | None,
    fee_cap_ppm: int | None,
    node_url: str,
    devnet_file: Path,
    key: str | None,
) -> None:
    """Sign an order (EIP-712) and send it to the node; print its acknowledgement and fills."""
    import time

    from optirollup.api.models import order_body
    from optirollup.codec import eip712
    from optirollup.codec.tx import OrderFlags, Side

    trader = _Trader(node_url, devnet_file, key)
    if fee_cap_ppm is None:
        m = trader.get(f"/markets/{market}")
        fee_cap_ppm = max(int(m["maker_fee_ppm"]), int(m["taker_fee_ppm"]))
    flags = (
        int(OrderFlags.POST_ONLY) * post_only
        + int(OrderFlags.REDUCE_ONLY) * reduce_only
        + int(OrderFlags.IOC) * ioc
    )
    o = Order(
        trader.address(), market, int(Side.BUY if side == "buy" else Side.SELL), price, size,
        fee_cap_ppm, time.time_ns() // 1000 if nonce is None else nonce,
        int(time.time()) + 30 * 86400 if expiry is None else expiry, flags,
    )  # fmt: skip
    try:
        signed = SignedOrder(o, eip712.sign(o.hash(trader.separator()), trader.key()))
    except OptiRollupError as err:
        raise click.ClickException(f"cannot sign the order: {err}") from err
    _echo_json(trader.post("/orders", order_body(signed)))


@order.command("cancel")
@click.argument("order_hash")
@_trader_options
def order_cancel(order_hash: str, node_url: str, devnet_file: Path, key: str | None) -> None:
    """Cancel one of the key's orders by its hash (0x-hex, 32 bytes)."""
    from optirollup.codec.tx import Cancel

    h = _hex_arg(order_hash)
    if len(h) != 32:
        raise click.BadParameter(
            f"an order hash is 32 bytes, got {len(h)}", param_hint="ORDER_HASH"
        )
    trader = _Trader(node_url, devnet_file, key)
    tx = trader.sign(Cancel(trader.address(), h))
    _echo_json(trader.post("/cancels", {"tx": "0x" + tx.hex()}))


@order.command("cancel-all")
@click.option("--floor", type=click.IntRange(1, 2**64 - 1), default=None,
              help="The new cancel floor: every order of the key's with a lower nonce dies, on "
              "the books and in the state.  [default: microseconds since the epoch, above the "
              "default nonce of every order placed before now]")  # fmt: skip
@_trader_options
def order_cancel_all(floor: int | None, node_url: str, devnet_file: Path, key: str | None) -> None:
    """Cancel every order of the key's placed so far (a signed CANCEL_ALL).

    It raises the account's cancel floor, so it also kills orders signed but not sent yet with
    a lower nonce. The floor only goes up: a floor at or below the current one is refused
    (stale_cancel_floor; `optirollup account` shows cancel_floor).
    """
    import time

    from optirollup.codec.tx import CancelAll

    trader = _Trader(node_url, devnet_file, key)
    new_floor = time.time_ns() // 1000 + 1 if floor is None else floor
    tx = trader.sign(CancelAll(trader.address(), new_floor))
    ack = trader.post("/cancels", {"tx": "0x" + tx.hex()})
    _echo_json({**ack, "floor": str(new_floor)})


@main.command()
@click.argument("address", required=False)
@_trader_options
def account(address: str | None, node_url: str, devnet_file: Path, key: str | None) -> None:
    """Show an L2 account (default: the key's): collateral, positions, margin, open orders."""
    trader = _Trader(node_url, devnet_file, key)
    raw = trader.address() if address is None else _hex_arg(address)
    if len(raw) != 20:
        raise click.BadParameter(f"an address is 20 bytes, got {len(raw)}", param_hint="ADDRESS")
    _echo_json(trader.get(f"/accounts/0x{raw.hex()}"))


@main.command()
@click.option("--market", type=click.IntRange(0, 2**32 - 1), default=1, show_default=True,
              help="Market id.")  # fmt: skip
@click.option("--levels", type=click.IntRange(1, 500), default=10, show_default=True,
              help="Price levels per side.")  # fmt: skip
@_node_url_option
def book(market: int, levels: int, node_url: str) -> None:
    """Show a market's order book, best price first on each side."""
    _echo_json(_Trader(node_url, Path(), None).get(f"/markets/{market}/book?levels={levels}"))


@main.command()
@click.argument("amount", type=click.IntRange(1, 2**64 - 1))
@click.option("--recipient", default=None, metavar="ADDRESS",
              help="The L1 address paid when the withdrawal is claimed.  [default: the key's "
              "address]")  # fmt: skip
@_trader_options
def withdraw(
    amount: int, recipient: str | None, node_url: str, devnet_file: Path, key: str | None
) -> None:
    """Withdraw AMOUNT collateral (token base units) from the key's L2 account.

    Prints the acknowledgement with the `withdrawal_id`; once the batch holding it is final on
    L1 (`optirollup batches`), `optirollup claim WITHDRAWAL_ID` pays it out on L1.
    """
    from optirollup.codec.tx import Withdraw

    trader = _Trader(node_url, devnet_file, key)
    me = trader.address()
    to = me if recipient is None else _hex_arg(recipient)
    if len(to) != 20:
        raise click.BadParameter(f"an address is 20 bytes, got {len(to)}", param_hint="--recipient")
    nonce = int(trader.get(f"/accounts/0x{me.hex()}")["nonce"])
    tx = trader.sign(Withdraw(me, to, amount, nonce))
    _echo_json(trader.post("/transactions", {"tx": "0x" + tx.hex()}))


@main.command()
@click.argument("withdrawal_id", type=click.IntRange(0, 2**64 - 1))
@_trader_options
@_rpc_url_option
def claim(
    withdrawal_id: int, node_url: str, devnet_file: Path, key: str | None, rpc_url: str | None
) -> None:
    """Claim a final withdrawal on L1: Vault.withdraw with the node's proof, sent from the key.

    It does not wait: a withdrawal whose batch is not final yet is an error (see `optirollup
    batches`). Anyone may send the claim; the tokens go to the withdrawal's recipient.
    """
    trader = _Trader(node_url, devnet_file, key, rpc_url)
    w = trader.get(f"/withdrawals/{withdrawal_id}")
    if not w["final"]:
        raise click.ClickException(
            f"withdrawal {withdrawal_id} is not final yet: no final batch holds it; wait for the "
            "challenge window to pass (`optirollup batches` shows each batch's status)"
        )
    w3, dep, acct = trader.l1()
    from optirollup.l1.deploy import bind, send

    try:
        vault = bind(w3, "Vault", dep.vault)
        args = [int(w["batch_index"]), withdrawal_id, w3.to_checksum_address(w["account"]),
                w3.to_checksum_address(w["recipient"]), int(w["amount"]),
                [_hex_arg(node) for node in w["proof"]]]  # fmt: skip
        receipt = send(w3, acct, {"to": vault.address, "data": vault.encode_abi("withdraw", args)},
                       "Vault.withdraw")  # fmt: skip
    except _l1_errors() as err:
        raise _l1_failed(f"claiming withdrawal {withdrawal_id}", err) from err
    _echo_json({
        "withdrawal_id": withdrawal_id,
        "recipient": w["recipient"],
        "amount": w["amount"],
        "batch_index": w["batch_index"],
        "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),
        "l1_block": int(receipt["blockNumber"]),
    })  # fmt: skip


@main.command()
@click.option("--start", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True,
              help="First batch index.")  # fmt: skip
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="Most batches listed.")  # fmt: skip
@_node_url_option
def batches(start: int, limit: int, node_url: str) -> None:
    """List sealed batches with their L1 status (sealed, posted, final)."""
    _echo_json(_Trader(node_url, Path(), None).get(f"/batches?start={start}&limit={limit}"))


@main.command()
@_node_url_option
def status(node_url: str) -> None:
    """Show the node's head batch and root, open batch and L1 progress."""
    _echo_json(_Trader(node_url, Path(), None).get("/status"))


if __name__ == "__main__":  # pragma: no cover
    main()
