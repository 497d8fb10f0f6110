"""``optirollup devnet``: a local L1 with the contracts deployed, the proposer staked and test
accounts funded, described by one JSON file.

:func:`run` either starts anvil from the project's ``node_modules`` (on a free loopback port,
stopped by its own pid when the command ends: Ctrl-C, SIGTERM or an error) or deploys onto an
existing node given by its RPC URL (then it starts nothing and returns once the file is
written). :func:`deploy_devnet` does the chain work on any web3 connection:

1. deploy MockToken, Vault, Rollup, DisputeGame, every rule contract and the step runner
   (:func:`optirollup.l1.deploy.deploy` with ``devnet_params(oracle, verifiers=ALL_RULES)``),
   from the node's first unlocked account or a given deployer key;
2. fund the proposer (a deterministic devnet key) with ETH and stake its bond from its own key;
3. fund the challenger with ETH, and each test trader with ETH and minted MockToken.

Every key here is derived from a public label (``optirollup.testkit.Trader.of``): the devnet
file says so next to them, and nothing of value may ever be sent to those addresses.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import structlog
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.types import TxParams, Wei

from optirollup.codec import eip712
from optirollup.errors import OptiRollupError
from optirollup.l1.anvil import Anvil
from optirollup.l1.deploy import (
    ALL_RULES,
    Deployment,
    DeploymentError,
    Sender,
    bind,
    deploy,
    devnet_params,
    send,
)
from optirollup.testkit import key_for

__all__ = [
    "DEVNET_WARNING",
    "Devnet",
    "DevnetAccount",
    "DevnetConfig",
    "DevnetDeployFailed",
    "DevnetError",
    "RpcUnreachable",
    "connect",
    "deploy_devnet",
    "run",
    "write_devnet_file",
]

log = structlog.get_logger("optirollup.devnet")

DEVNET_WARNING = (
    "DEVNET ONLY: these private keys are derived from public labels (or were given on the "
    "command line) and are printed in this file; anyone can spend what they hold. Never use "
    "them, or send anything of value to their addresses, outside a local devnet."
)

ETHER = 10**18
TOKEN_UNIT = 10**6
"""Quote units (MockToken base units) per whole token."""

PROPOSER_GAS_ETH = 10 * ETHER
"""ETH the proposer gets on top of its bond, for the gas of posting batches and defending."""

CHALLENGER_ETH = 100 * ETHER
"""ETH the devnet challenger gets: bonds and gas for a few games."""


class DevnetError(OptiRollupError):
    """The devnet could not be started, deployed or kept running."""


class RpcUnreachable(DevnetError):
    """No JSON-RPC node answers at the given URL."""


class DevnetDeployFailed(DevnetError):
    """A deployment, staking or funding transaction failed."""


@dataclass(frozen=True)
class DevnetAccount:
    """A devnet-only key and its role (``oracle``, ``proposer``, ``challenger``, ``trader``)."""

    role: str
    key: bytes

    @property
    def address(self) -> str:
        """Return the checksummed address of the key."""
        return to_checksum_address("0x" + eip712.address_of(self.key).hex())

    @property
    def local(self) -> LocalAccount:
        """Return the key as an eth-account signer."""
        account: LocalAccount = Account.from_key(self.key)
        return account

    def to_json(self) -> dict[str, str]:
        """Return the address and the key as 0x-hex."""
        return {"address": self.address, "key": "0x" + self.key.hex()}


@dataclass(frozen=True)
class DevnetConfig:
    """What :func:`deploy_devnet` sets up; the defaults are the devnet's (``--help`` lists them).

    ``deployer_key`` None deploys from the node's first unlocked account (anvil's first dev
    account) and funds everyone from it.
    """

    traders: int = 4
    oracle_key: bytes = field(default_factory=lambda: key_for("devnet-oracle"))
    proposer_key: bytes = field(default_factory=lambda: key_for("devnet-proposer"))
    challenger_key: bytes = field(default_factory=lambda: key_for("devnet-challenger"))
    deployer_key: bytes | None = None
    trader_eth: int = 100 * ETHER
    """Wei sent to each trader."""
    trader_tokens: int = 1_000_000 * TOKEN_UNIT
    """MockToken base units minted to each trader."""
    challenge_window: int = 3600

    def __post_init__(self) -> None:
        if self.traders < 0:
            raise DevnetError(f"traders={self.traders} must not be negative")
        for name in ("oracle_key", "proposer_key", "challenger_key", "deployer_key"):
            key = getattr(self, name)
            if key is not None and len(key) != 32:
                raise DevnetError(f"{name} must be 32 bytes, got {len(key)}")
        if self.trader_eth < 0 or self.trader_tokens < 0 or self.challenge_window < 0:
            raise DevnetError("amounts and the challenge window must not be negative")

    @property
    def oracle(self) -> DevnetAccount:
        """Return the genesis oracle (signs ORACLE_UPDATE, FUNDING_TICK and LIST_MARKET)."""
        return DevnetAccount("oracle", self.oracle_key)

    @property
    def proposer(self) -> DevnetAccount:
        """Return the proposer (posts batches; its bond is staked)."""
        return DevnetAccount("proposer", self.proposer_key)

    @property
    def challenger(self) -> DevnetAccount:
        """Return the challenger (holds ETH for challenger bonds)."""
        return DevnetAccount("challenger", self.challenger_key)

    def trader_accounts(self) -> tuple[DevnetAccount, ...]:
        """Return the test traders ``Trader.of("devnet-trader-<i>")``, i = 0 .. traders − 1."""
        return tuple(
            DevnetAccount("trader", key_for(f"devnet-trader-{i}")) for i in range(self.traders)
        )


@dataclass(frozen=True)
class Devnet:
    """A deployed devnet: the deployment, where it runs and its devnet-only accounts."""

    deployment: Deployment
    rpc_url: str
    config: DevnetConfig
    anvil_pid: int | None = None
    """The anvil process ``optirollup devnet`` started (None when deployed onto ``--rpc-url``)."""

    @property
    def domain(self) -> eip712.Domain:
        """Return the EIP-712 domain every L2 signature of this devnet uses (the Vault's)."""
        return eip712.Domain(self.deployment.chain_id, bytes.fromhex(self.deployment.vault[2:]))

    def to_json(self) -> dict[str, Any]:
        """Return the deployment file's content.

        ``Deployment.to_json()`` at the top level (so ``Deployment.from_json`` reads the file
        as is), plus ``rpc_url``, ``deployment_block``, ``anvil_pid``, the EIP-712 domain and the
        ``devnet_only_accounts`` with their keys and :data:`DEVNET_WARNING`.
        """
        c, d = self.config, self.deployment
        return {
            **d.to_json(),
            "rpc_url": self.rpc_url,
            "deployment_block": d.block,
            "anvil_pid": self.anvil_pid,
            "eip712_domain": {
                "name": eip712.DOMAIN_NAME,
                "version": eip712.DOMAIN_VERSION,
                "chain_id": self.deployment.chain_id,
                "verifying_contract": self.deployment.vault,
                "separator": "0x" + self.domain.separator.hex(),
            },
            "devnet_only_accounts": {
                "warning": DEVNET_WARNING,
                "oracle": c.oracle.to_json(),
                "proposer": {**c.proposer.to_json(), "staked_wei": d.params.proposer_bond},
                "challenger": {**c.challenger.to_json(), "eth_wei": CHALLENGER_ETH},
                "traders": [
                    {**t.to_json(), "eth_wei": c.trader_eth, "tokens": c.trader_tokens}
                    for t in c.trader_accounts()
                ],
            },
        }

    def summary(self, out: Path) -> str:
        """Return the few lines the command prints once the devnet is up."""
        d, c = self.deployment, self.config
        runner = sorted(set(d.verifiers.values()))
        where = f"anvil pid {self.anvil_pid}" if self.anvil_pid is not None else "existing node"
        lines = [
            f"devnet ready on {self.rpc_url} (chain {d.chain_id}, {where}, block {d.block})",
            f"  token        {d.token}  (MockToken, 6 decimals)",
            f"  vault        {d.vault}",
            f"  rollup       {d.rollup}",
            f"  dispute game {d.dispute_game}",
            f"  step runner  {', '.join(runner) or '-'}  (types {_types(d.verifiers)})",
            f"  oracle       {c.oracle.address}",
            f"  proposer     {c.proposer.address}  (staked {_eth(d.params.proposer_bond)} ETH)",
            f"  challenger   {c.challenger.address}",
            f"  traders      {c.traders}, each with {_eth(c.trader_eth)} ETH and "
            f"{_units(c.trader_tokens, TOKEN_UNIT)} tokens",
            f"wrote {out} (its keys are for this devnet only)",
        ]
        return "\n".join(lines)


def _types(verifiers: dict[int, str]) -> str:
    types = sorted(verifiers)
    if types and types == list(range(types[0], types[-1] + 1)):
        return f"{types[0]}..{types[-1]}"
    return ", ".join(map(str, types)) or "none"


def _units(amount: int, unit: int) -> str:
    whole, frac = divmod(amount, unit)
    return f"{whole:,}" + (f".{frac:0{len(str(unit)) - 1}d}".rstrip("0") if frac else "")


def _eth(wei: int) -> str:
    return _units(wei, ETHER)


def _brief(err: BaseException, limit: int = 300) -> str:
    text = f"{type(err).__name__}: {err}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def connect(rpc_url: str) -> Web3:
    """Return a web3 connection to ``rpc_url``; raise :class:`RpcUnreachable` if none answers."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 60}))
    try:
        w3.eth.chain_id  # noqa: B018 - the first request proves the node answers
    except (OSError, Web3Exception, ValueError) as err:
        raise RpcUnreachable(
            f"no JSON-RPC node answers at {rpc_url} ({_brief(err)}); start one "
            "(e.g. anvil) or leave out --rpc-url so that `optirollup devnet` starts anvil itself"
        ) from err
    return w3


def _deployer(w3: Web3, rpc_url: str, config: DevnetConfig) -> Sender:
    if config.deployer_key is not None:
        account: LocalAccount = Account.from_key(config.deployer_key)
        return account
    accounts = w3.eth.accounts
    if not accounts:
        raise DevnetError(
            f"the node at {rpc_url} has no unlocked account to deploy from; pass a funded key "
            "with --deployer-key (OPTIROLLUP_DEPLOYER_KEY)"
        )
    return to_checksum_address(accounts[0])


def _transfer(w3: Web3, sender: Sender, to: str, wei: int, what: str) -> None:
    send(w3, sender, TxParams(to=to_checksum_address(to), value=Wei(wei)), what)


def deploy_devnet(
    w3: Web3, rpc_url: str, config: DevnetConfig | None = None, *, anvil_pid: int | None = None
) -> Devnet:
    """Deploy the contracts, stake the proposer and fund the test accounts (module notes).

    Raise :class:`DevnetDeployFailed` if any transaction fails, naming the step.
    """
    config = config or DevnetConfig()
    deployer = _deployer(w3, rpc_url, config)
    proposer = config.proposer
    params = devnet_params(
        eip712.address_of(config.oracle_key),
        verifiers=ALL_RULES,
        proposer=proposer.address,
        challenge_window=config.challenge_window,
    )
    step = "deploying the contracts"
    try:
        dep = deploy(w3, deployer, params)
        step = "funding and staking the proposer"
        _transfer(w3, deployer, proposer.address, params.proposer_bond + PROPOSER_GAS_ETH, step)
        rollup = bind(w3, "Rollup", dep.rollup)
        stake = TxParams(
            to=rollup.address,
            data=rollup.encode_abi("stake", []),
            value=Wei(params.proposer_bond),
        )
        send(w3, proposer.local, stake, "stake the proposer bond")
        step = "funding the challenger"
        _transfer(w3, deployer, config.challenger.address, CHALLENGER_ETH, step)
        token = bind(w3, "MockToken", dep.token)
        for i, trader in enumerate(config.trader_accounts()):
            step = f"funding trader {i} ({trader.address})"
            if config.trader_eth:
                _transfer(w3, deployer, trader.address, config.trader_eth, step)
            if config.trader_tokens:
                mint = token.encode_abi("mint", [trader.address, config.trader_tokens])
                send(w3, deployer, TxParams(to=token.address, data=mint), step)
    except DeploymentError as err:
        raise DevnetDeployFailed(f"{step} on {rpc_url} failed: {err}") from err
    except (OSError, Web3Exception, ValueError) as err:
        raise DevnetDeployFailed(
            f"{step} on {rpc_url} failed ({_brief(err)}); is the deployer "
            "funded and the node an Ethereum dev chain (anvil)?"
        ) from err
    return Devnet(dep, rpc_url, config, anvil_pid)


def write_devnet_file(path: Path, devnet: Devnet) -> None:
    """Write the devnet's JSON to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(devnet.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DevnetError(f"cannot write the deployment file {path}: {err}") from err


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt while inside (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _wait_while_alive(anvil: Anvil, check_every: float = 2.0) -> None:
    """Return only by exception: KeyboardInterrupt (asked to stop) or DevnetError (anvil died)."""
    failures = 0
    while True:
        time.sleep(check_every)
        try:
            anvil.rpc("eth_chainId")
            failures = 0
        except (OSError, urllib.error.URLError, ValueError, OptiRollupError) as err:
            failures += 1
            if failures >= 3:
                raise DevnetError(
                    f"anvil (pid {anvil.pid}) stopped answering at {anvil.url}: {err}"
                ) from err


def run(
    config: DevnetConfig,
    out: Path,
    *,
    rpc_url: str | None = None,
    chain_id: int = 31337,
    echo: Callable[[str], None] = print,
) -> Devnet:
    """Run ``optirollup devnet``: deploy, write ``out``, print a summary.

    With ``rpc_url``, deploy onto that node and return. Otherwise start anvil (chain id
    ``chain_id``), deploy onto it, and keep it running until SIGINT or SIGTERM; anvil is stopped
    on the way out whatever happens (an interrupt during deployment propagates as
    ``KeyboardInterrupt`` after anvil is stopped).
    """
    if rpc_url is not None:
        devnet = deploy_devnet(connect(rpc_url), rpc_url, config)
        write_devnet_file(out, devnet)
        _log_deployed(devnet, out)
        echo(devnet.summary(out))
        return devnet

    with _signals_interrupt():
        anvil = Anvil(chain_id=chain_id, extra_args=["--silent"])
        pid: int | None = None
        try:
            try:
                anvil.start()
            except OSError as err:
                raise DevnetError(
                    f"cannot run anvil ({err}); run `make install` (npm ci) to install it into "
                    "node_modules, or point OPTIROLLUP_ANVIL at an anvil binary"
                ) from err
            pid = anvil.pid
            log.info("devnet.started", rpc_url=anvil.url, pid=pid, chain_id=chain_id)
            devnet = deploy_devnet(connect(anvil.url), anvil.url, config, anvil_pid=pid)
            write_devnet_file(out, devnet)
            with suppress(KeyboardInterrupt):  # once the file is written, a stop is a normal exit
                _log_deployed(devnet, out)
                echo(devnet.summary(out) + "\nanvil keeps running; Ctrl-C (or SIGTERM) stops it.")
                _wait_while_alive(anvil)
            return devnet
        finally:
            anvil.stop()
            if pid is not None:
                log.info("devnet.stopped", pid=pid)


def _log_deployed(devnet: Devnet, out: Path) -> None:
    d = devnet.deployment
    log.info(
        "devnet.deployed",
        rpc_url=devnet.rpc_url,
        chain_id=d.chain_id,
        l1_block=d.block,
        vault=d.vault,
        rollup=d.rollup,
        dispute_game=d.dispute_game,
        traders=devnet.config.traders,
        out=str(out),
    )
