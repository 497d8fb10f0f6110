"""The ``challenger`` command line. Domain errors become click errors here, and only here.

``challenger run`` reads the deployment file ``optirollup devnet`` writes (addresses, chain id,
deployment block, RPC URL, the genesis oracle and the devnet-only challenger key), builds a
:class:`~challenger.agent.ChallengerConfig`, serves the Prometheus metrics and runs the
:class:`~challenger.agent.Challenger` loop until Ctrl-C or SIGTERM. Every option has a
``CHALLENGER_<OPTION>`` environment fallback.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click
import structlog

from challenger.errors import ConfigError
from optirollup import __version__
from optirollup.errors import OptiRollupError

if TYPE_CHECKING:
    from challenger.agent import ChallengerConfig

__all__ = ["load_config", "main"]


def _hex(text: str, what: str) -> bytes:
    t = text.strip()
    t = t[2:] if t.startswith(("0x", "0X")) else t
    try:
        return bytes.fromhex(t)
    except ValueError as err:
        raise ConfigError(f"{what} is not hex ({err}); pass it as 0x-prefixed hex") from err


def load_config(
    devnet_file: Path,
    *,
    rpc_url: str | None = None,
    key: str | None = None,
    data_dir: Path = Path("data/challenger"),
    from_block: int | None = None,
    poll_seconds: float = 0.5,
    dry_run: bool = False,
    dishonest_batch: int | None = None,
) -> ChallengerConfig:
    """Return the :class:`~challenger.agent.ChallengerConfig` of ``devnet_file`` and the flags.

    Raise :class:`~challenger.errors.ConfigError` with a hint for a file that cannot be read or
    is not a deployment file, a missing or malformed key, or a file without the genesis oracle.
    """
    from challenger.agent import ChallengerConfig
    from optirollup.l1.deploy import Deployment

    try:
        data = json.loads(devnet_file.read_text())
    except OSError as err:
        raise ConfigError(
            f"cannot read the deployment file {devnet_file} ({err.strerror or err}); run "
            "`optirollup devnet` first (it writes devnet.json) or pass --devnet-file"
        ) from err
    except ValueError as err:
        raise ConfigError(f"{devnet_file} is not JSON ({err}); pass the file `optirollup "
                          "devnet` wrote") from err  # fmt: skip
    if not isinstance(data, dict):
        raise ConfigError(f"{devnet_file} holds no deployment (a JSON object is expected)")
    try:
        deployment = Deployment.from_json(data)
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(
            f"{devnet_file} is not a deployment file ({type(err).__name__}: {err}); pass the "
            "file `optirollup devnet` wrote"
        ) from err
    accounts = data.get("devnet_only_accounts") or {}
    key_text = key or (accounts.get("challenger") or {}).get("key")
    if not key_text:
        raise ConfigError(
            f"no challenger key: {devnet_file} has no devnet_only_accounts.challenger.key; pass "
            "--key (CHALLENGER_KEY)"
        )
    key_bytes = _hex(str(key_text), "the challenger key")
    if len(key_bytes) != 32:
        raise ConfigError(f"the challenger key is 32 bytes of hex, got {len(key_bytes)} bytes")
    oracle = (accounts.get("oracle") or {}).get("address")
    if not oracle:
        raise ConfigError(
            f"{devnet_file} names no genesis oracle (devnet_only_accounts.oracle.address): the "
            "challenger needs it to build the genesis state"
        )
    oracle_bytes = _hex(str(oracle), "the oracle address")
    if len(oracle_bytes) != 20:
        raise ConfigError(f"the oracle address is 20 bytes, got {len(oracle_bytes)}")
    url = rpc_url or data.get("rpc_url")
    if not url:
        raise ConfigError(f"{devnet_file} has no rpc_url: pass --rpc-url")
    return ChallengerConfig(
        rpc_url=str(url),
        deployment=deployment,
        data_dir=data_dir,
        key=key_bytes,
        oracle_address=oracle_bytes,
        from_block=from_block,
        poll_seconds=poll_seconds,
        dry_run=dry_run,
        dishonest_batch=dishonest_batch,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="challenger")
def main() -> None:
    """challenger: an independent watchtower for optirollup.

    It re-executes every batch from L1 data alone (the proposals' calldata and the Vault's
    deposit queue, nothing from the node) and wins the dispute game against every wrong state
    root. `challenger run --help` explains everything.
    """


@main.command("run")
@click.option(
    "--devnet-file",
    envvar="CHALLENGER_DEVNET_FILE",
    show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("devnet.json"),
    show_default=True,
    help="The deployment file `optirollup devnet` wrote: contract addresses, chain id, "
    "deployment block, RPC URL, the genesis oracle and the devnet challenger key.",
)
@click.option(
    "--rpc-url",
    envvar="CHALLENGER_RPC_URL",
    show_envvar=True,
    metavar="URL",
    default=None,
    help="L1 JSON-RPC endpoint.  [default: the deployment file's rpc_url]",
)
@click.option(
    "--key",
    envvar="CHALLENGER_KEY",
    show_envvar=True,
    metavar="HEX",
    default=None,
    help="The challenger's private key (0x-hex): it pays the challenger bond of each game it "
    "opens and signs every move; winnings are claimed to it.  [default: the deployment file's "
    "devnet_only_accounts.challenger.key — a public devnet key]",
)
@click.option(
    "--data-dir",
    envvar="CHALLENGER_DATA_DIR",
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/challenger"),
    show_default=True,
    help="Where the challenger keeps its own LevelDB: the state of every batch it replayed and "
    "each batch's per-transaction trace (so a restart replays nothing). One challenger per "
    "directory.",
)
@click.option(
    "--from-block",
    envvar="CHALLENGER_FROM_BLOCK",
    show_envvar=True,
    type=click.IntRange(0),
    default=None,
    help="First L1 block to read. Batches proposed before it are not checked, so the first one "
    "read must start from genesis or from a state this --data-dir already holds.  [default: "
    "the deployment block]",
)
@click.option(
    "--poll-seconds",
    envvar="CHALLENGER_POLL_SECONDS",
    show_envvar=True,
    type=click.FloatRange(0.01, 3600),
    default=0.5,
    show_default=True,
    help="Seconds between two rounds (read L1, check batches, play games).",
)
@click.option(
    "--metrics-host",
    envvar="CHALLENGER_METRICS_HOST",
    show_envvar=True,
    default="127.0.0.1",
    show_default=True,
    help="Address of the Prometheus endpoint (/metrics).",
)
@click.option(
    "--metrics-port",
    envvar="CHALLENGER_METRICS_PORT",
    show_envvar=True,
    type=click.IntRange(0, 65535),
    default=9110,
    show_default=True,
    help="Port of the Prometheus endpoint; 0 picks a free port (logged as metrics.started).",
)
@click.option(
    "--dry-run",
    envvar="CHALLENGER_DRY_RUN",
    show_envvar=True,
    is_flag=True,
    help="Send nothing: check every batch and log what it would do (game.would_open, "
    "game.would_move) instead of opening games, moving and claiming.",
)
@click.option(
    "--dishonest-batch",
    envvar="CHALLENGER_DISHONEST_BATCH",
    show_envvar=True,
    type=click.IntRange(0),
    default=None,
    metavar="N",
    help="TESTS AND DEMOS ONLY: also dispute batch N when it is right, playing a lying trace "
    "(right up to its middle transaction, wrong after it). The challenger loses that bond.",
)
@click.option(
    "--log-format",
    envvar="CHALLENGER_LOG_FORMAT",
    show_envvar=True,
    type=click.Choice(["console", "json"]),
    default="console",
    show_default=True,
    help="Log lines for people (console) or for machines (json), on stderr.",
)
def run(
    devnet_file: Path,
    rpc_url: str | None,
    key: str | None,
    data_dir: Path,
    from_block: int | None,
    poll_seconds: float,
    metrics_host: str,
    metrics_port: int,
    dry_run: bool,
    dishonest_batch: int | None,
    log_format: str,
) -> None:
    """Watch the rollup on L1 and dispute every wrong state root, until Ctrl-C or SIGTERM.

    \b
    Each round (every --poll-seconds) it
      1. reads the Rollup's, the Vault's and the DisputeGame's logs from the deployment block
         (or --from-block) to the head; after an L1 reorg it re-reads from the fork;
      2. re-executes each new batch with the reference state transition, from its own
         post-state of the batch before: the transactions come from the calldata of the
         proposal (checked against the batch's commitment), the deposits from the Vault's
         queue. Each trace and its states go to --data-dir;
      3. when a posted root differs from its own, opens a dispute game inside the challenge
         window (paying the challenger bond) unless it already plays one on that batch;
         batches after a wrong one are left alone: they are deleted with it;
      4. plays each of its games with its own trace (bisection choices, then the one-step
         proof built from its own state), and claims the bond and its share of the
         proposer's slashed stake when it wins, or its bond back when another game deleted
         the batch first.

    \b
    Killed at any point, it resumes on its next start: games are read again from L1 and
    traces from --data-dir. L1 RPC errors are retried with backoff.
    Metrics: http://METRICS-HOST:METRICS-PORT/metrics (batches checked, L1 lag in blocks and
    seconds, games open/won/lost/void, bonds at risk, clock left per game, moves, claims).
    Logs: batch.checked, batch.wrong_root, game.opened, game.moved, game.resolved,
    bond.claimed, l1.reorg, ...
    """
    from optirollup.logs import configure

    configure(log_format)
    log = structlog.get_logger("optirollup.challenger")
    try:
        from challenger.agent import Challenger
        from challenger.metrics import Metrics

        config = load_config(
            devnet_file,
            rpc_url=rpc_url,
            key=key,
            data_dir=data_dir,
            from_block=from_block,
            poll_seconds=poll_seconds,
            dry_run=dry_run,
            dishonest_batch=dishonest_batch,
        )
        metrics = Metrics()
        challenger = Challenger(config, metrics=metrics)
    except OptiRollupError as err:
        raise click.ClickException(f"cannot start the challenger: {err}") from err
    try:
        server, port = metrics.serve(metrics_host, metrics_port)
    except OSError as err:
        challenger.close()
        raise click.ClickException(
            f"cannot serve metrics on {metrics_host}:{metrics_port} ({err}); pass another "
            "--metrics-port, or 0 for a free one"
        ) from err
    log.info("metrics.started", host=metrics_host, port=port,
             url=f"http://{metrics_host}:{port}/metrics")  # fmt: skip

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    try:
        challenger.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        challenger.close()
        log.info("challenger.stopped")
