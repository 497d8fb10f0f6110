"""Deploy and wire the L1 contracts with web3.py, in the order of ``docs/l1.md``.

Order: MockToken (unless an existing token is given) → Vault(token) → Rollup(vault,
genesis_root, window, proposer_bond) → DisputeGame(rollup, vault, k, challenger_bond,
game_clock, clock_extension) → the rule contracts (each distinct one once) → the step runner
``StepRunner(rules)`` (if any rule) → ``Vault.initialize(rollup)``,
``Rollup.initialize(dispute_game)``, ``Rollup.set_proposer(proposer)``,
``DisputeGame.set_verifier(type, runner)`` for each type with a rule, and
``DisputeGame.freeze()`` if asked.

The deployer is either an address the node signs for (an unlocked anvil dev account:
``eth_sendTransaction``) or an ``eth_account`` ``LocalAccount`` (signed here and sent raw).
The deployer becomes the owner of the Rollup and the DisputeGame and the Vault's initializer.

:func:`send` is every L1 transaction's way out. A process that sends often from one key (the
node's proposer) wraps it in a :class:`LocalSender`, which keeps the account's next nonce and
the chain id locally and the priority fee for a few seconds, so a transaction costs its
``eth_sendRawTransaction`` and its receipt instead of five reads more; any failed send forgets
the nonce and the fee, and the next one reads them again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TimeExhausted, TransactionNotFound
from web3.types import TxParams, TxReceipt, Wei

from optirollup.l1 import L1Error
from optirollup.l1.contracts import Artifact, load

__all__ = [
    "ALL_RULES",
    "DEPOSIT_TYPE",
    "RECEIPT_TIMEOUT",
    "Deployment",
    "DeploymentError",
    "L1Params",
    "LocalSender",
    "VerifierSpec",
    "bind",
    "deploy",
    "devnet_params",
    "send",
]

DEPOSIT_TYPE = 0x01
"""Type byte of DEPOSIT, the first transaction type with a step verifier."""

_ADDRESS_ARGS = ("token", "vault", "rollup", "dispute_game")
_ZERO_ADDRESS = "0x" + "00" * 20

RULE_TYPES = 8
"""Transaction types 1..8 may have a rule (``StepRunner.NUM_TYPES``)."""


class DeploymentError(L1Error):
    """A deployment or wiring transaction failed."""


@dataclass(frozen=True)
class VerifierSpec:
    """A rule contract to deploy for a transaction type: its contract and constructor arguments.

    ``contract`` is the path below ``contracts/`` without ``.vy`` (``"steps/DepositRule"``).
    Types that name the same contract with the same arguments share one deployment.
    Each of ``args`` is ``"token"``, ``"vault"``, ``"rollup"`` or ``"dispute_game"`` (the
    address deployed before it) or a literal value passed as is.
    """

    contract: str
    args: tuple[Any, ...] = ()


ALL_RULES: Mapping[int, VerifierSpec] = {
    0x01: VerifierSpec("steps/DepositRule", ("vault",)),
    0x02: VerifierSpec("steps/WithdrawRule", ("vault",)),
    0x03: VerifierSpec("steps/MarketRule", ("vault",)),
    0x04: VerifierSpec("steps/MarketRule", ("vault",)),
    0x05: VerifierSpec("steps/FillRule", ("vault",)),
    0x06: VerifierSpec("steps/CancelRule", ("vault",)),
    0x07: VerifierSpec("steps/CancelRule", ("vault",)),
    0x08: VerifierSpec("steps/MarketRule", ("vault",)),
}
"""The rule contract of every transaction type with a rule in this protocol version."""


@dataclass(frozen=True)
class L1Params:
    """Deployment parameters (``docs/l1.md``, "Deployment parameters"); devnet defaults."""

    genesis_root: bytes
    challenge_window: int = 3600
    proposer_bond: int = 10**18
    challenger_bond: int = 10**17
    k: int = 2
    game_clock: int = 1800
    clock_extension: int = 300
    token: str | None = None
    """An existing collateral token; None deploys MockToken."""
    proposer: str | None = None
    """The proposer; None makes the deployer the proposer."""
    verifiers: Mapping[int, VerifierSpec] = field(default_factory=dict)
    """The rule contract of each transaction type that gets a one-step proof."""
    freeze_verifiers: bool = False

    def __post_init__(self) -> None:
        if len(self.genesis_root) != 32:
            raise ValueError(f"genesis_root is 32 bytes, got {len(self.genesis_root)}")
        if not 2 <= self.k <= 16:
            raise ValueError(f"k={self.k} outside 2..16")
        for name in ("challenge_window", "proposer_bond", "challenger_bond"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("game_clock", "clock_extension"):
            if not 0 <= getattr(self, name) < 2**64:
                raise ValueError(f"{name} must fit a uint64")
        for tx_type in self.verifiers:
            if not 1 <= tx_type <= 8:
                raise ValueError(f"verifier type {tx_type:#04x}: only 0x01..0x08 have rules")


@dataclass(frozen=True)
class Deployment:
    """Addresses and facts of one deployment."""

    chain_id: int
    block: int
    """Block number of the first deployment transaction (where a watcher starts reading)."""
    deployer: str
    token: str
    vault: str
    rollup: str
    dispute_game: str
    verifiers: dict[int, str]
    """The step runner registered for each type (the same address for every type)."""
    rules: dict[int, str]
    """The rule contract of each type."""
    params: L1Params

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serializable dict (the CLI writes it next to the devnet)."""
        params = asdict(self.params)
        params["genesis_root"] = "0x" + self.params.genesis_root.hex()
        params["verifiers"] = {
            str(t): {"contract": v.contract, "args": list(v.args)}
            for t, v in self.params.verifiers.items()
        }
        return {
            "chain_id": self.chain_id,
            "block": self.block,
            "deployer": self.deployer,
            "token": self.token,
            "vault": self.vault,
            "rollup": self.rollup,
            "dispute_game": self.dispute_game,
            "verifiers": {str(t): a for t, a in self.verifiers.items()},
            "rules": {str(t): a for t, a in self.rules.items()},
            "params": params,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Deployment:
        """Rebuild a deployment from :meth:`to_json` output."""
        p = dict(data["params"])
        p["genesis_root"] = bytes.fromhex(str(p["genesis_root"]).removeprefix("0x"))
        p["verifiers"] = {
            int(t): VerifierSpec(str(v["contract"]), tuple(v["args"]))
            for t, v in p["verifiers"].items()
        }
        return cls(
            chain_id=int(data["chain_id"]),
            block=int(data["block"]),
            deployer=str(data["deployer"]),
            token=str(data["token"]),
            vault=str(data["vault"]),
            rollup=str(data["rollup"]),
            dispute_game=str(data["dispute_game"]),
            verifiers={int(t): str(a) for t, a in data["verifiers"].items()},
            rules={int(t): str(a) for t, a in data.get("rules", {}).items()},
            params=L1Params(**p),
        )


def devnet_params(oracle: bytes, **overrides: Any) -> L1Params:
    """Return the devnet parameters for the genesis of ``oracle`` (protocol §2.6)."""
    from optirollup.state.overlay import genesis_root
    from optirollup.state.store import MemoryStore

    return L1Params(genesis_root=genesis_root(MemoryStore(), oracle), **overrides)


Sender = str | LocalAccount


class LocalSender:
    """Send from one local key with the nonce, chain id and priority fee kept locally.

    The nonce is read once (``pending``) and counted up by each transaction this object hands
    to the node; the chain id is read once; the priority fee is read again after
    ``fee_seconds``. Any send that raises forgets the nonce and the fee (the next one reads
    them), and so must the owner whenever something else may have sent from the same key
    (:meth:`forget`): a stale nonce is refused by the node, never silently reused. Safe to share
    between threads (a lock covers signing and handing over; receipts are awaited outside it).
    """

    def __init__(
        self,
        account: LocalAccount,
        *,
        fee_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Send from ``account``; read the priority fee again ``fee_seconds`` after the last."""
        self.account = account
        self.address = to_checksum_address(account.address)
        self._fee_seconds = fee_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._chain_id: int | None = None
        self._tip: tuple[int, float] | None = None

    @property
    def next_nonce(self) -> int | None:
        """Return the nonce the next transaction gets, or None if it must be read first."""
        return self._nonce

    def forget(self) -> None:
        """Read the nonce and the priority fee from the node again before the next send."""
        with self._lock:
            self._nonce = None
            self._tip = None

    def send(self, w3: Web3, tx: TxParams, what: str, *, base_fee: int | None = None) -> TxReceipt:
        """Sign ``tx`` (gas estimated unless given), send it, wait for its receipt; raise
        :class:`DeploymentError` unless it succeeded.

        ``base_fee`` is the latest block's base fee if the caller has just read it (the fee
        cap is twice it plus the tip); None reads the latest block.
        """
        fields: dict[str, Any] = dict(tx)
        fields["from"] = self.address
        try:
            with self._lock:
                if self._chain_id is None:
                    self._chain_id = int(w3.eth.chain_id)
                if self._nonce is None:
                    self._nonce = int(w3.eth.get_transaction_count(self.address, "pending"))
                fields.setdefault("nonce", self._nonce)
                fields.setdefault("chainId", self._chain_id)
                if "gas" not in fields:
                    fields["gas"] = w3.eth.estimate_gas(fields)  # type: ignore[arg-type]
                if "gasPrice" not in fields and "maxFeePerGas" not in fields:
                    if base_fee is None:
                        base_fee = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
                    tip = self._priority_fee(w3)
                    fields["maxPriorityFeePerGas"] = Wei(tip)
                    fields["maxFeePerGas"] = Wei(2 * base_fee + tip)
                signed = self.account.sign_transaction(fields)
                tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
                if fields["nonce"] == self._nonce:
                    self._nonce += 1
            return _receipt(w3, tx_hash, what)
        except BaseException:
            self.forget()
            raise

    def _priority_fee(self, w3: Web3) -> int:
        now = self._clock()
        if self._tip is None or now - self._tip[1] >= self._fee_seconds:
            self._tip = (int(w3.eth.max_priority_fee), now)
        return self._tip[0]


def _address(sender: Sender | LocalSender) -> str:
    if isinstance(sender, LocalSender):
        return sender.address
    return to_checksum_address(sender if isinstance(sender, str) else sender.address)


RECEIPT_TIMEOUT = 120.0
"""Seconds :func:`send` waits for a receipt before it raises ``TimeExhausted``."""


def _receipt(w3: Web3, tx_hash: Any, what: str, timeout: float = RECEIPT_TIMEOUT) -> TxReceipt:
    """Wait for ``tx_hash``'s receipt; raise unless the transaction succeeded.

    Polls after 5 ms, then twice as long each time up to half a second: a dev chain mining on
    demand answers within milliseconds (web3.py's own wait sleeps 100 ms before asking again),
    and a chain with block times is not asked more than twice a second.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            receipt = w3.eth.get_transaction_receipt(tx_hash)
            break
        except TransactionNotFound:
            if time.monotonic() >= deadline:
                raise TimeExhausted(
                    f"{what}: transaction 0x{bytes(tx_hash).hex()} has no receipt after "
                    f"{timeout:.0f} s"
                ) from None
            time.sleep(delay)
            delay = min(2 * delay, 0.5)
    if receipt["status"] != 1:
        raise DeploymentError(f"{what}: transaction 0x{bytes(tx_hash).hex()} reverted")
    return receipt


def send(w3: Web3, sender: Sender | LocalSender, tx: TxParams, what: str) -> TxReceipt:
    """Send ``tx`` from ``sender``, wait for its receipt and raise unless it succeeded.

    An address is sent for by the node (``eth_sendTransaction``); a ``LocalAccount`` reads its
    nonce, chain id, gas estimate (unless ``tx`` has gas) and fees, then signs; a
    :class:`LocalSender` keeps them (see there).
    """
    if isinstance(sender, LocalSender):
        return sender.send(w3, tx, what)
    tx = dict(tx)  # type: ignore[assignment]
    tx["from"] = _address(sender)
    if isinstance(sender, str):
        tx_hash = w3.eth.send_transaction(tx)
    else:
        tx.setdefault("nonce", w3.eth.get_transaction_count(sender.address, "pending"))
        tx.setdefault("chainId", w3.eth.chain_id)
        if "gas" not in tx:
            tx["gas"] = w3.eth.estimate_gas(tx)
        if "gasPrice" not in tx and "maxFeePerGas" not in tx:
            base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0))
            tip = int(w3.eth.max_priority_fee)
            tx["maxPriorityFeePerGas"] = Wei(tip)
            tx["maxFeePerGas"] = Wei(2 * base + tip)
        signed = sender.sign_transaction(tx)  # type: ignore[arg-type]
        tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    return _receipt(w3, tx_hash, what)


def _deploy_one(w3: Web3, sender: Sender, art: Artifact, args: tuple[Any, ...]) -> TxReceipt:
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    data = factory.constructor(*args).data_in_transaction
    receipt = send(w3, sender, {"data": data}, f"deploy {art.name}")
    if not receipt.get("contractAddress"):
        raise DeploymentError(f"deploy {art.name}: no contract address in the receipt")
    return receipt


def _call(w3: Web3, sender: Sender, contract: Contract, fn: str, *args: Any) -> TxReceipt:
    data = contract.encode_abi(fn, list(args))
    return send(w3, sender, {"to": contract.address, "data": data}, f"{fn} on {contract.address}")


def bind(w3: Web3, name: str, address: str) -> Contract:
    """Return a web3 contract object for contract ``name`` at ``address``."""
    return w3.eth.contract(address=to_checksum_address(address), abi=load(name).abi)


def deploy(w3: Web3, deployer: Sender, params: L1Params) -> Deployment:
    """Deploy MockToken (unless ``params.token``), Vault, Rollup, DisputeGame and the verifiers,
    wire them, and return the addresses (see the module notes for the order)."""
    addresses: dict[str, str] = {}
    first_block: int | None = None

    def deployed(name: str, art: Artifact, *args: Any) -> str:
        nonlocal first_block
        receipt = _deploy_one(w3, deployer, art, args)
        if first_block is None:
            first_block = int(receipt["blockNumber"])
        address = to_checksum_address(str(receipt["contractAddress"]))
        addresses[name] = address
        return address

    if params.token is None:
        deployed("token", load("MockToken"))
    else:
        addresses["token"] = to_checksum_address(params.token)
    vault = deployed("vault", load("Vault"), addresses["token"])
    rollup = deployed(
        "rollup",
        load("Rollup"),
        vault,
        params.genesis_root,
        params.challenge_window,
        params.proposer_bond,
    )
    game = deployed(
        "dispute_game",
        load("DisputeGame"),
        rollup,
        vault,
        params.k,
        params.challenger_bond,
        params.game_clock,
        params.clock_extension,
    )
    rules: dict[int, str] = {}
    by_spec: dict[tuple[str, tuple[Any, ...]], str] = {}
    for tx_type, spec in sorted(params.verifiers.items()):
        args = tuple(addresses[a] if a in _ADDRESS_ARGS else a for a in spec.args)
        if (spec.contract, args) not in by_spec:
            by_spec[(spec.contract, args)] = deployed(
                f"rule {spec.contract}", load(spec.contract), *args
            )
        rules[tx_type] = by_spec[(spec.contract, args)]
    verifiers: dict[int, str] = {}
    if rules:
        table = [rules.get(t, _ZERO_ADDRESS) for t in range(1, RULE_TYPES + 1)]
        runner = deployed("step runner", load("steps/StepRunner"), table)
        verifiers = dict.fromkeys(rules, runner)

    _call(w3, deployer, bind(w3, "Vault", vault), "initialize", rollup)
    rollup_c = bind(w3, "Rollup", rollup)
    _call(w3, deployer, rollup_c, "initialize", game)
    proposer = to_checksum_address(params.proposer) if params.proposer else _address(deployer)
    _call(w3, deployer, rollup_c, "set_proposer", proposer)
    game_c = bind(w3, "DisputeGame", game)
    for tx_type, address in verifiers.items():
        _call(w3, deployer, game_c, "set_verifier", tx_type, address)
    if params.freeze_verifiers:
        _call(w3, deployer, game_c, "freeze")

    assert first_block is not None  # Vault is always deployed
    return Deployment(
        chain_id=int(w3.eth.chain_id),
        block=first_block,
        deployer=_address(deployer),
        token=addresses["token"],
        vault=vault,
        rollup=rollup,
        dispute_game=game,
        verifiers=verifiers,
        rules=rules,
        params=params,
    )
