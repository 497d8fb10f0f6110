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
``evm_revert``), then queue real deposits with :meth:`StepChain.queue`. The rule contracts are
deployed before the first snapshot, so every reset keeps them.

The rule tests (``test_*_rule.py``) compare a rule's ``apply`` with the reference through
:func:`rule_matches_reference` and :func:`golden_vector_matches`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address
from hypothesis import example
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from optirollup.codec import eip712
from optirollup.codec.tx import SignedMessage, encode_tx
from optirollup.dispute import build_step_witness
from optirollup.dispute.witness import StepWitness
from optirollup.hashing import keccak
from optirollup.l1.anvil import Anvil
from optirollup.l1.contracts import load
from optirollup.state import mpt
from optirollup.state.store import LayeredStore, MemoryStore
from optirollup.stf import BatchContext, Party, Reason, Receipt
from optirollup.testkit import DEFAULT_DOMAIN, Signer

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
T = 1_700_000_000
"""The batch time of the rule tests' scenarios."""
SIGNER = Signer()
"""Signs for :data:`DEFAULT_DOMAIN`, the signature rules' domain in this session."""
SEPARATOR = DEFAULT_DOMAIN.separator
FOREIGN = Signer(eip712.Domain(1, DEFAULT_DOMAIN.verifying_contract))
"""Signs for the default domain's contract on another chain (chain id 1): a replayed signature."""

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


def h(text: str) -> bytes:
    """Decode a 0x-hex string of the vector files."""
    return bytes.fromhex(text.removeprefix("0x"))


def golden_vectors(*names: str) -> list[dict[str, Any]]:
    """Return the golden vectors of ``tests/vectors/<name>.json`` for each name, in order."""
    return [v for name in names for v in json.loads((VECTORS / f"{name}.json").read_text())]


_F = TypeVar("_F", bound=Callable[..., None])
_M = TypeVar("_M", bound=SignedMessage)


def with_examples(examples: Iterable[Any]) -> Callable[[_F], _F]:
    """Return a decorator adding each of ``examples`` as an explicit example of a property."""

    def add(test: _F) -> _F:
        for case in examples:
            test = example(case)(test)
        return test

    return add


BROKEN_SIGNATURES = (
    "high_s", "raw_v", "v_29", "zero", "r_zero", "s_zero", "r_at_n", "garbage",
)  # fmt: skip
"""The ways :func:`signed_as` breaks a valid signature (each one protocol §3.5 rejects)."""


def signed_as(msg: _M, key: bytes, mode: str, other_key: bytes) -> bytes:
    """Return ``msg`` encoded with a signature made as ``mode`` says.

    ``"valid"``: by ``key`` for the default domain; ``"other_key"``: by ``other_key``;
    ``"foreign"``: by ``key`` for :data:`FOREIGN`'s domain; or one of
    :data:`BROKEN_SIGNATURES`: the valid signature, broken that way.
    """
    good = SIGNER.sign(msg, key).signature
    n = eip712.SECP256K1_N
    s = int.from_bytes(good[32:64], "big")
    sig = {
        "valid": lambda: good,
        "other_key": lambda: SIGNER.sign(msg, other_key).signature,
        "foreign": lambda: FOREIGN.sign(msg, key).signature,
        "high_s": lambda: good[:32] + (n - s).to_bytes(32, "big") + bytes([55 - good[64]]),
        "raw_v": lambda: good[:64] + bytes([good[64] - 27]),
        "v_29": lambda: good[:64] + b"\x1d",
        "zero": lambda: bytes(65),
        "r_zero": lambda: bytes(32) + good[32:],
        "s_zero": lambda: good[:32] + bytes(32) + good[64:],
        "r_at_n": lambda: n.to_bytes(32, "big") + good[32:],
        "garbage": lambda: keccak(good) + keccak(keccak(good))[:16] + bytes(16) + good[64:],
    }[mode]()
    return encode_tx(replace(msg, signature=sig))


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


@dataclass(frozen=True)
class RuleRun:
    """One transaction run by the reference and by a rule's ``apply`` on the leaves it read."""

    built: StepWitness
    """The reference's witness: receipt, reads, writes, pre- and post-root."""
    tx: bytes
    keys: list[bytes]
    """The rule's ``keys``: the reference's reads, in first-read order."""
    values: list[bytes]
    """The rule's ``values``: the pre-state values of ``keys`` (empty when absent)."""
    used: int
    """The rule's read mask."""
    writes: list[tuple[bytes, bytes]] = field(default_factory=list)
    """The rule's writes, in its order (equal to the reference's)."""
    gas: int | None = None
    """The ``apply`` call's eth_estimateGas, when asked for."""

    @property
    def receipt(self) -> Receipt:
        """Return the reference's receipt."""
        return self.built.receipt

    @property
    def reason(self) -> Reason:
        """Return the reference's reason."""
        return self.built.receipt.reason

    @property
    def party(self) -> Party:
        """Return the reference's party."""
        return self.built.receipt.party


def rule_matches_reference(
    rule: Contract,
    leaves: Mapping[bytes, bytes],
    tx: bytes,
    batch_time: int = T,
    deposit_hashes: Sequence[bytes] = (),
    separator: bytes = SEPARATOR,
    *,
    gas: bool = False,
    label: str | None = None,
) -> RuleRun:
    """Run ``tx`` in the reference and in ``rule.apply`` on the leaves it read; assert they agree.

    The rule gets the reference's reads (``build_step_witness``) with their pre-state values and
    ``len(deposit_hashes)`` as the deposit count. It must mark every one of them read (none for
    a malformed transaction, which reads nothing), write exactly the reference's writes in their
    order (something on OK, nothing on a failure, where the root stays), and applying its
    writes to the pre-state trie must give the reference's post-root. With ``gas`` (or a
    ``label``), also return the call's eth_estimateGas; with a ``label``, print it (``pytest
    -s``).
    """
    store, pre_root = trie_of(leaves)
    ctx = BatchContext(batch_time, separator, list(deposit_hashes))
    built = build_step_witness(store, pre_root, tx, ctx)
    keys = list(built.reads)
    values = [leaves.get(k, b"") for k in keys]
    fn = rule.functions.apply(tx, batch_time, len(deposit_hashes), keys, values)
    used, wkeys, wvalues = fn.call({"gas": 30_000_000})
    writes = [(bytes(k), bytes(v)) for k, v in zip(wkeys, wvalues, strict=True)]
    if built.receipt.reason == Reason.MALFORMED:
        assert keys == [] and used == 0
    assert used == (1 << len(keys)) - 1
    if built.receipt.ok:
        assert writes == list(built.writes) != []
    else:
        assert writes == [] and built.writes == ()
        assert built.post_root == pre_root
    assert mpt.bulk_update(LayeredStore(store), pre_root, dict(writes)) == built.post_root
    estimate = None
    if gas or label is not None:
        estimate = int(fn.estimate_gas({"gas": 30_000_000}))
    if label is not None:
        print(f"{label}: {built.receipt.reason.name}, {estimate} gas")
    return RuleRun(built, tx, keys, values, int(used), writes, estimate)


@dataclass
class Scenario:
    """A pre-state (its leaves), a transaction and the batch time."""

    leaves: dict[bytes, bytes]
    tx: bytes
    batch_time: int = T
    label: str = field(default="", compare=False)


def scenario_matches(rule: Contract, s: Scenario, gas: bool = False) -> Reason:
    """Assert that ``rule`` agrees with the reference on ``s``; return the reason.

    See :func:`rule_matches_reference`; with ``gas``, print the gas under ``s.label`` (or the
    type byte).
    """
    label = (s.label or s.tx[:1].hex()) if gas else None
    return rule_matches_reference(rule, s.leaves, s.tx, s.batch_time, label=label).reason


def representatives(edges: Iterable[tuple[str, Scenario, Reason]]) -> list[Scenario]:
    """Return the first of ``(name, scenario, reason)`` edge cases of every (type, reason)."""
    seen: dict[tuple[int, Reason], Scenario] = {}
    for _, s, reason in edges:
        seen.setdefault((s.tx[0], reason), s)
    return list(seen.values())


def assert_edges_cover(
    edges: Sequence[tuple[str, Scenario, Reason]], required: Mapping[int, set[Reason]]
) -> None:
    """Assert that ``edges`` hold exactly the ``required`` reasons of each type, unique names."""
    got: dict[int, set[Reason]] = {t: set() for t in required}
    for _, s, reason in edges:
        got.setdefault(s.tx[0], set()).add(reason)
    assert got == required
    assert len(representatives(edges)) == sum(len(r) for r in required.values())
    assert len({name for name, _, _ in edges}) == len(edges)


def golden_vector_matches(rule: Contract, vector: Mapping[str, Any], gas: bool = False) -> RuleRun:
    """Assert that the reference and ``rule`` agree on a golden vector, and with the vector.

    The vector's separator must be the session's, its pre-state must have its pre-root, and the
    run (:func:`rule_matches_reference`) its post-root, reason, reason code and party. With
    ``gas``, print the apply's gas under the vector's name.
    """
    context = vector["context"]
    assert h(context["separator"]) == SEPARATOR
    leaves = {h(x["key"]): h(x["value"]) for x in vector["pre_state"]["leaves"]}
    assert trie_of(leaves)[1] == h(vector["pre_state"]["root"])
    deposits = [h(x) for x in context["deposit_hashes"]]
    label = vector["name"] if gas else None
    run = rule_matches_reference(
        rule, leaves, h(vector["tx"]), context["batch_time"], deposits, label=label
    )
    assert run.built.post_root == h(vector["post_state"]["root"])
    expected = vector["expected"]
    assert (run.reason.name, int(run.reason), run.party.name) == (
        expected["reason"],
        expected["reason_code"],
        expected["party"],
    )
    return run


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
    for name in SIGNED_RULES:
        assert bytes(rules[name].functions.SEPARATOR().call()) == SEPARATOR, name
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
