"""Fixtures and helpers for the one-step proof tests: anvil with the Vault, the rules, the runner.

Test modules load this file with ``pytest_plugins = ["conftest_steps"]``.

One anvil per pytest-xdist worker (started by :class:`optirollup.l1.anvil.Anvil` on a free
loopback port, stopped by its own pid), talked to through web3.py: ape's providers add heavy
per-call work, and anvil prices gas with today's L1 rules (Osaka). Deployed once per session:

* MockToken, first, so at anvil's first contract address 0x5FbDB2…0aa3: the verifying contract of
  :data:`optirollup.testkit.DEFAULT_DOMAIN`, which the golden vectors and the test signers use.
  The signature-checking rules are deployed with it as their ``vault`` so their domain separator
  is that domain's;
* the real Vault, and :file:`contracts/test/DepositQueueStub.vy` (a queue holding contents the
  real Vault refuses, such as an amount of 0);
* every rule contract, and two step runners: :attr:`StepChain.runner` (DEPOSIT reads the real
  Vault) and :attr:`StepChain.stub_runner` (DEPOSIT reads the stand-in).

Tests call :meth:`StepChain.reset` to start from that deployment (``evm_snapshot`` /
``evm_revert``), then queue real deposits with :meth:`StepChain.queue`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from optirollup.l1.anvil import Anvil
from optirollup.l1.contracts import load
from optirollup.state import mpt
from optirollup.state.store import MemoryStore
from optirollup.testkit import DEFAULT_DOMAIN

ROOT = Path(__file__).resolve().parents[2]
RULE_OF_TYPE = {
    1: "DepositRule",
    2: "WithdrawRule",
    3: "MarketRule",
    4: "MarketRule",
    5: "FillRule",
    6: "CancelRule",
    7: "CancelRule",
    8: "MarketRule",
}
"""The rule contract of each transaction type (as ``optirollup.l1.deploy.ALL_RULES``)."""
SIGNED_RULES = ("WithdrawRule", "MarketRule", "FillRule", "CancelRule")
VECTORS = ROOT / "tests" / "vectors"
U64_MAX = 2**64 - 1

# The vyper compiler is a console script of the venv; keep the venv's bin first on PATH.
_VENV_BIN = str(Path(sys.executable).parent)
if _VENV_BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")


def revert_message(err: ContractLogicError) -> str:
    """Return the ``Error(string)`` message of a revert ("" for a revert without one)."""
    data = err.data if isinstance(err.data, str) else None
    if data and data.startswith("0x08c379a0"):
        (reason,) = abi_decode(["string"], bytes.fromhex(data[10:]))
        return str(reason)
    if data in (None, "0x"):
        return ""
    return str(err.message or err)


def trie_of(leaves: Mapping[bytes, bytes]) -> tuple[MemoryStore, bytes]:
    """Return a node store holding exactly ``leaves`` and its root."""
    store = MemoryStore()
    return store, mpt.bulk_update(store, mpt.EMPTY_ROOT, dict(leaves))


@dataclass
class StepChain:
    """The session's anvil and deployment, with the helpers the step tests use."""

    node: Anvil
    w3: Web3
    token: Contract
    vault: Contract
    rules: dict[str, Contract]
    """Each rule contract by name (``"DepositRule"``, ``"FillRule"``, ...)."""
    runner: Contract
    """The step runner over every rule (DEPOSIT reading the real Vault)."""
    stub: Contract
    stub_runner: Contract
    """The step runner whose DEPOSIT rule reads the queue stand-in."""
    deployer: str
    user: str
    snapshot: str = ""

    def reset(self) -> None:
        """Return to the session's deployment (no deposits queued)."""
        if self.snapshot:
            assert self.node.rpc("evm_revert", self.snapshot)
        self.snapshot = self.node.rpc("evm_snapshot")

    def send(self, fn: Any, sender: str | None = None, gas: int | None = None) -> Any:
        """Send a contract call as a transaction; return its receipt (it must succeed)."""
        params: dict[str, Any] = {"from": sender or self.user}
        if gas is not None:
            params["gas"] = gas
        receipt = self.w3.eth.wait_for_transaction_receipt(fn.transact(params))
        assert receipt["status"] == 1
        return receipt

    def queue(self, entries: Sequence[tuple[bytes, int]]) -> list[bytes]:
        """Queue real deposits ``(l2_account, amount)`` in the Vault; return all its hashes."""
        total = sum(amount for _, amount in entries)
        if total:
            self.send(self.token.functions.mint(self.user, total))
            self.send(self.token.functions.approve(self.vault.address, total))
        for account, amount in entries:
            self.send(
                self.vault.functions.deposit(amount, to_checksum_address(account)), gas=300_000
            )
        count = self.vault.functions.deposit_count().call()
        return [bytes(self.vault.functions.deposit_hashes(i).call()) for i in range(count)]

    def stub_queue(self, hashes: Sequence[bytes], first: int = 0) -> None:
        """Store ``hashes`` as the stand-in's entries ``first, first + 1, ...``."""
        for i in range(0, len(hashes), 64):
            self.send(self.stub.functions.set_hashes(first + i, list(hashes[i : i + 64])))

    def call(
        self,
        verifier: Contract,
        pre_root: bytes,
        tx: bytes,
        batch_time: int,
        deposit_count: int,
        witness: bytes,
    ) -> bytes:
        """Return ``verifier.step(...)`` (an ``eth_call``)."""
        fn = verifier.functions.step(pre_root, tx, batch_time, deposit_count, witness)
        return bytes(fn.call({"gas": 30_000_000}))

    def reverts(
        self,
        verifier: Contract,
        pre_root: bytes,
        tx: bytes,
        batch_time: int,
        deposit_count: int,
        witness: bytes,
    ) -> str:
        """Return the revert message of ``verifier.step(...)`` (fail if it does not revert)."""
        try:
            root = self.call(verifier, pre_root, tx, batch_time, deposit_count, witness)
        except ContractLogicError as err:
            return revert_message(err)
        raise AssertionError(f"step did not revert (returned 0x{root.hex()})")

    def gas(
        self,
        verifier: Contract,
        pre_root: bytes,
        tx: bytes,
        batch_time: int,
        deposit_count: int,
        witness: bytes,
    ) -> int:
        """Return the gas of a transaction calling ``verifier.step(...)`` (21k and calldata in)."""
        fn = verifier.functions.step(pre_root, tx, batch_time, deposit_count, witness)
        return int(self.send(fn, gas=16_000_000)["gasUsed"])


def _deploy(w3: Web3, sender: str, name: str, *args: Any) -> Contract:
    art = load(name)
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor(*args).transact({"from": sender})
    )
    assert receipt["status"] == 1, f"deploying {name} failed"
    return w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)


@pytest.fixture(scope="session")
def steps_anvil() -> Iterator[Anvil]:
    """Run anvil for this worker's session (stopped by its own pid)."""
    with Anvil(extra_args=["--silent"]) as node:
        yield node


@pytest.fixture(scope="session")
def steps_chain(steps_anvil: Anvil) -> StepChain:
    """Deploy MockToken, Vault, the verifiers and the queue stand-in once per session."""
    w3 = Web3(Web3.HTTPProvider(steps_anvil.url, request_kwargs={"timeout": 300}))
    deployer, user = w3.eth.accounts[0], w3.eth.accounts[1]
    token = _deploy(w3, deployer, "MockToken")
    assert bytes.fromhex(token.address[2:]) == DEFAULT_DOMAIN.verifying_contract
    assert w3.eth.chain_id == DEFAULT_DOMAIN.chain_id
    vault = _deploy(w3, deployer, "Vault", token.address)
    stub = _deploy(w3, deployer, "test/DepositQueueStub")
    rules = {name: _deploy(w3, deployer, f"steps/{name}", token.address) for name in SIGNED_RULES}
    rules["DepositRule"] = _deploy(w3, deployer, "steps/DepositRule", vault.address)
    stub_deposit = _deploy(w3, deployer, "steps/DepositRule", stub.address)

    def runner(deposit: Contract) -> Contract:
        table = [(deposit if t == 1 else rules[RULE_OF_TYPE[t]]).address for t in range(1, 9)]
        return _deploy(w3, deployer, "steps/StepRunner", table)

    chain = StepChain(
        node=steps_anvil,
        w3=w3,
        token=token,
        vault=vault,
        rules=rules,
        runner=runner(rules["DepositRule"]),
        stub=stub,
        stub_runner=runner(stub_deposit),
        deployer=deployer,
        user=user,
    )
    chain.reset()
    return chain


@pytest.fixture
def step_chain(steps_chain: StepChain) -> StepChain:
    """Return the session's chain, back at its deployment."""
    steps_chain.reset()
    return steps_chain


@pytest.fixture(scope="session")
def leaves_harness(steps_chain: StepChain) -> Contract:
    """Deploy ``contracts/test/LeavesHarness.vy`` (pure functions; never reset)."""
    return _deploy(steps_chain.w3, steps_chain.deployer, "test/LeavesHarness")
