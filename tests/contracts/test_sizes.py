"""Every deployable contract fits EIP-170 (24,576 bytes of runtime code) on a default chain.

Checked three ways: the compiler's runtime bytecode, the code ape's in-process EthTester (py-evm,
Prague rules, which enforce EIP-170) stores at deployment, and the code a default anvil (no
``--code-size-limit`` or ``--disable-code-size-limit``) stores.
"""

# ruff: noqa: E402  (conftest_l1 is registered for assertion rewriting before it is imported)

from __future__ import annotations

import json
import os

import ape
import pytest
from eth_account import Account
from web3 import Web3

pytest.register_assert_rewrite("conftest_l1")

from conftest_l1 import L1, ORACLE, ApeSystem

from optirollup.codec import eip712
from optirollup.l1.anvil import Anvil
from optirollup.l1.contracts import DEPLOYABLE, contracts_dir, load
from optirollup.l1.deploy import ALL_RULES, Deployment, bind, deploy, devnet_params

pytest_plugins = ["conftest_l1"]

EIP170_LIMIT = 24_576
STEP_CONTRACTS = sorted(f"steps/{p.stem}" for p in (contracts_dir() / "steps").glob("*.vy"))


@pytest.mark.parametrize("name", [*DEPLOYABLE, *STEP_CONTRACTS])
def test_the_runtime_bytecode_fits_eip170(name: str) -> None:
    size = len(load(name).runtime)
    print(f"\n{name}: {size:,} bytes of runtime code ({EIP170_LIMIT - size:,} to spare)")
    assert 0 < size <= EIP170_LIMIT


def test_every_contract_deploys_on_ape_s_in_process_chain(ape_system: ApeSystem) -> None:
    for name, contract in (
        ("MockToken", ape_system.token),
        ("Vault", ape_system.vault),
        ("Rollup", ape_system.rollup),
        ("DisputeGame", ape_system.game),
    ):
        code = bytes(ape.chain.provider.get_code(contract.address))
        runtime = load(name).runtime
        assert code[: len(runtime)] == runtime  # then the immutables Vyper appends
        assert len(code) <= EIP170_LIMIT


def test_every_contract_deploys_on_a_default_anvil(l1: L1) -> None:
    for name, address in (
        ("MockToken", l1.dep.token),
        ("Vault", l1.dep.vault),
        ("Rollup", l1.dep.rollup),
        ("DisputeGame", l1.dep.dispute_game),
    ):
        code = bytes(l1.w3.eth.get_code(address))
        runtime = load(name).runtime
        assert code[: len(runtime)] == runtime  # then the immutables Vyper appends
        print(f"\n{name}: {len(code):,} bytes deployed on anvil")
        assert len(code) <= EIP170_LIMIT


# --------------------------------------------------------------------------- deployment tooling


def test_deploy_signs_locally_with_a_local_account_and_wires_everything() -> None:
    with Anvil(extra_args=["--silent"]) as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        account = Account.from_key(b"\x42" * 32)
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction(
                {"from": w3.eth.accounts[0], "to": account.address, "value": 10**18}
            )
        )
        params = devnet_params(
            ORACLE.address, k=4, challenge_window=60, verifiers=ALL_RULES, freeze_verifiers=True
        )
        dep = deploy(w3, account, params)
        assert dep.deployer == account.address
        assert dep.chain_id == 31337 and dep.block >= 1
        rollup = bind(w3, "Rollup", dep.rollup)
        game = bind(w3, "DisputeGame", dep.dispute_game)
        vault = bind(w3, "Vault", dep.vault)
        assert vault.functions.rollup().call() == dep.rollup
        assert vault.functions.TOKEN().call() == dep.token
        assert rollup.functions.dispute_game().call() == dep.dispute_game
        assert rollup.functions.proposer().call() == account.address
        assert rollup.functions.GENESIS_ROOT().call() == params.genesis_root
        assert rollup.functions.CHALLENGE_WINDOW().call() == 60
        assert game.functions.K().call() == 4
        assert game.functions.frozen().call()
        # One runner for every type, over five distinct rule contracts (three types share
        # MarketRule, two CancelRule), each bound to this deployment's Vault.
        runner = bind(w3, "steps/StepRunner", dep.verifiers[1])
        assert set(dep.verifiers.values()) == {runner.address}
        assert len(set(dep.rules.values())) == 5
        for t in range(1, 9):
            assert game.functions.verifiers(t).call() == runner.address
            assert runner.functions.RULES(t - 1).call() == dep.rules[t]
        separator = eip712.Domain(dep.chain_id, bytes.fromhex(dep.vault[2:])).separator
        for t in (2, 3, 5, 6):
            rule = bind(w3, ALL_RULES[t].contract, dep.rules[t])
            assert bytes(rule.functions.SEPARATOR().call()) == separator
        assert Deployment.from_json(json.loads(json.dumps(dep.to_json()))) == dep
        pid = node.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # anvil was stopped by its own pid


def test_anvil_listens_on_a_loopback_port_chosen_at_run_time() -> None:
    with Anvil(extra_args=["--silent"]) as a, Anvil(extra_args=["--silent"]) as b:
        assert a.url.startswith("http://127.0.0.1:") and b.url.startswith("http://127.0.0.1:")
        assert a.port != b.port
        assert int(a.rpc("eth_chainId"), 16) == 31337
        assert a.rpc_batch([("eth_chainId", []), ("eth_blockNumber", [])]) == ["0x7a69", "0x0"]
    assert a.port is None and b.port is None
