"""Fixtures for contract tests: the MPT harness on ape's in-process chain and on anvil.

Quick unit tests use ape's default test provider (EthTester, in process). Heavy tests
(random tries, deep paths, gas at 100,000 keys) talk to a real anvil through web3.py
directly: ape's providers add heavy per-call work, and anvil prices gas with the Osaka
rules (EIP-7623 calldata floor, EIP-7825 per-transaction cap) of today's L1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ape.contracts import ContractContainer
from web3 import Web3
from web3.contract import Contract

from optirollup.l1.anvil import Anvil

ROOT = Path(__file__).resolve().parents[2]
HARNESS_SOURCE = "contracts/test/MptHarness.vy"

# ape-vyper runs the `vyper` found on PATH. Under a bare `.venv/bin/python -m pytest`
# (no activated venv) that would miss the venv's vyper, so put the venv's bin first.
_VENV_BIN = str(Path(sys.executable).parent)
if _VENV_BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")


@pytest.fixture(scope="session")
def mpt_harness_type(project: Any, compilers: Any) -> ContractContainer:
    """Compile the MPT harness (and the modules it imports) alone.

    Not `project.MptHarness`: that compiles every contract in the project (one broken
    file elsewhere would fail these tests) and writes ape's `.build` manifest, which two
    pytest-xdist workers would write at once. `compilers.compile` does neither.
    """
    (contract_type,) = compilers.compile([ROOT / HARNESS_SOURCE], project=project)
    return ContractContainer(contract_type)


@pytest.fixture(scope="session")
def mpt(mpt_harness_type: ContractContainer, accounts: Any) -> Any:
    """Deploy the MPT harness on ape's in-process test chain."""
    return accounts[0].deploy(mpt_harness_type)


@pytest.fixture(scope="session")
def anvil_w3() -> Iterator[Web3]:
    """Start anvil on a free loopback port for the session; stop it by its own pid."""
    with Anvil() as node:
        yield Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))


@pytest.fixture(scope="session")
def anvil_mpt(anvil_w3: Web3, mpt_harness_type: ContractContainer) -> Contract:
    """Deploy the MPT harness on anvil; returns a web3 contract (sender: anvil's first account)."""
    contract_type = mpt_harness_type.contract_type
    abi = [item.model_dump(mode="json", by_alias=True) for item in contract_type.abi]
    bytecode = contract_type.deployment_bytecode.bytecode
    sender = anvil_w3.eth.accounts[0]
    anvil_w3.eth.default_account = sender
    factory = anvil_w3.eth.contract(abi=abi, bytecode=bytecode)
    receipt = anvil_w3.eth.wait_for_transaction_receipt(
        factory.constructor().transact({"from": sender})
    )
    return anvil_w3.eth.contract(address=receipt["contractAddress"], abi=abi)
