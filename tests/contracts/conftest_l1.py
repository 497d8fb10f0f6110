"""Fixtures and helpers for the Vault, Rollup and DisputeGame tests.

Test modules load this file with ``pytest_plugins = ["conftest_l1"]``
(``tests/contracts/conftest.py`` belongs to the MPT library's tests).

Two chains:

* **anvil through web3.py** (``l1`` and ``make_l1``): one anvil per pytest-xdist worker, started
  by :class:`optirollup.l1.anvil.Anvil` on a free loopback port. The contracts are deployed with
  :func:`optirollup.l1.deploy.deploy` once per parameter set and every test starts from an
  ``evm_snapshot`` of that deployment, so tests never see each other's transactions. Time moves
  with ``evm_mine`` / ``evm_setNextBlockTimestamp`` (anvil runs calls and gas estimates at the
  latest block's time: see :meth:`L1.mine_at` and :meth:`L1.at`).
* **ape's in-process EthTester** (``ape_system``): quick unit tests and the EIP-170 size check on
  a default chain. Contracts come from :mod:`optirollup.l1.contracts` artifacts (not
  ``project.X``, which would compile every contract in the project).

The :class:`L1` harness and :class:`L2` model use only web3.py and optirollup, so a bench script
can build them outside pytest (``L1.connect(w3, node, deployment)``) and reuse
:func:`propose_gas` and :func:`game_gas`, which return dicts of gas figures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD
from web3.types import TxReceipt

from optirollup.codec import eip712
from optirollup.codec.batch import encode_tx_list, tx_proof
from optirollup.codec.tx import (
    Deleverage,
    SetSettlement,
    SettlePosition,
    Withdraw,
    encode_tx,
)
from optirollup.dispute.game import batch_hash
from optirollup.hashing import keccak
from optirollup.l1.anvil import Anvil
from optirollup.l1.contracts import Artifact, load
from optirollup.l1.deploy import Deployment, L1Params, bind, deploy, devnet_params
from optirollup.l1.gasprobe import Probe
from optirollup.state import mpt
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import MemoryStore
from optirollup.stf.batch import trace
from optirollup.stf.context import BatchContext
from optirollup.testkit import Signer, Trader

ORACLE = Trader.of("oracle")
ETHER = 10**18

# --------------------------------------------------------------------------- transactions

NOOP_TXS: dict[str, bytes] = {
    "reserved SET_SETTLEMENT": encode_tx(SetSettlement(1, 2, 3)),
    "reserved LIQUIDATE": bytes([0x0A]) + b"\x11" * 125,
    "reserved DELEVERAGE": encode_tx(Deleverage(b"\x22" * 20, b"\x33" * 20, 1, 5)),
    "reserved SETTLE_POSITION": encode_tx(SettlePosition(b"\x44" * 20, 7)),
    "unknown type 0xff": b"\xff" * 40,
    "unknown type 0x00": b"\x00" * 37,
    "DEPOSIT of the wrong length": bytes([0x01]) + b"\x05" * 40,
    "FILL of the wrong length": bytes([0x05]) + b"\x05" * 100,
}
"""Transactions whose post-root the dispute game decides itself (no-ops, protocol §4.4)."""


def noop(i: int) -> bytes:
    """Return the ``i``-th no-op transaction, cycling through :data:`NOOP_TXS`."""
    values = list(NOOP_TXS.values())
    return values[i % len(values)]


def revert_reason(err: ContractLogicError) -> str:
    """Return the ``Error(string)`` message of a revert, or the raw message."""
    data = err.data if isinstance(err.data, str) else None
    if data and data.startswith("0x08c379a0"):
        (reason,) = abi_decode(["string"], bytes.fromhex(data[10:]))
        return str(reason)
    return str(err.message or err)


@contextlib.contextmanager
def reverts(message: str) -> Iterator[None]:
    """Expect the block to revert with exactly ``message``."""
    try:
        yield
    except ContractLogicError as err:
        reason = revert_reason(err)
        assert reason == message, f"reverted with {reason!r}, expected {message!r}"
    else:
        raise AssertionError(f"did not revert (expected {message!r})")


# --------------------------------------------------------------------------- L2 model


@dataclass
class L2:
    """The reference STF over an in-memory trie: what an honest node computes."""

    separator: bytes
    store: MemoryStore = field(default_factory=MemoryStore)
    root: bytes = b""

    def __post_init__(self) -> None:
        self.root = genesis_root(self.store, ORACLE.address)

    def run(
        self, txs: Sequence[bytes], batch_time: int, deposit_hashes: Sequence[bytes]
    ) -> list[bytes]:
        """Apply a batch from the current root; return its trace ``[R_0 .. R_n]`` and advance."""
        overlay = StateOverlay(self.store, self.root)
        ctx = BatchContext(batch_time, self.separator, list(deposit_hashes))
        roots = trace(overlay, list(txs), ctx)
        overlay.commit(self.store.update)
        self.root = roots[-1]
        return roots

    def proof(self, root: bytes, key: bytes) -> list[bytes]:
        """Return the MPT proof of ``key`` under ``root``."""
        return mpt.get_proof(self.store, root, key)


# --------------------------------------------------------------------------- the L1 harness


@dataclass
class L1:
    """A deployment on anvil with the accounts and helpers the tests use."""

    w3: Web3
    node: Anvil
    dep: Deployment
    token: Contract
    vault: Contract
    rollup: Contract
    game: Contract
    deployer: str
    proposer: str
    alice: str
    bob: str
    carol: str
    user: str

    @classmethod
    def connect(cls, w3: Web3, node: Anvil, dep: Deployment) -> L1:
        """Bind the contracts of ``dep``; accounts are anvil's dev accounts 0..5."""
        accts = w3.eth.accounts
        return cls(
            w3=w3,
            node=node,
            dep=dep,
            token=bind(w3, "MockToken", dep.token),
            vault=bind(w3, "Vault", dep.vault),
            rollup=bind(w3, "Rollup", dep.rollup),
            game=bind(w3, "DisputeGame", dep.dispute_game),
            deployer=accts[0],
            proposer=accts[1],
            alice=accts[2],
            bob=accts[3],
            carol=accts[4],
            user=accts[5],
        )

    @property
    def params(self) -> L1Params:
        """Return the deployment parameters."""
        return self.dep.params

    @property
    def separator(self) -> bytes:
        """Return the EIP-712 domain separator (chain id, Vault)."""
        return eip712.Domain(self.dep.chain_id, bytes.fromhex(self.dep.vault[2:])).separator

    @property
    def signer(self) -> Signer:
        """Return a signer for this deployment's EIP-712 domain."""
        return Signer(eip712.Domain(self.dep.chain_id, bytes.fromhex(self.dep.vault[2:])))

    def l2(self) -> L2:
        """Return a fresh reference model at genesis."""
        return L2(self.separator)

    # -- transactions ------------------------------------------------------------------------

    def tx(self, fn: Any, sender: str, value: int = 0, gas: int | None = None) -> TxReceipt:
        """Send a contract call and return its receipt (it must succeed).

        Without ``gas``, web3 estimates first, which anvil evaluates at the *latest* block's
        time: pass ``gas`` to send a call that only succeeds at the time :meth:`at` set.
        """
        params: dict[str, Any] = {"from": sender, "value": value}
        if gas is not None:
            params["gas"] = gas
        tx_hash = fn.transact(params)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1, f"transaction {tx_hash.hex()} failed"
        return receipt

    def events(self, contract: Contract, name: str, receipt: TxReceipt) -> list[Any]:
        """Return the decoded ``name`` events of ``receipt``."""
        return list(contract.events[name]().process_receipt(receipt, errors=DISCARD))

    # -- time --------------------------------------------------------------------------------

    def now(self) -> int:
        """Return the latest block's timestamp."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def at(self, timestamp: int) -> None:
        """Make the next block (the next transaction's) have ``timestamp``."""
        self.node.rpc("evm_setNextBlockTimestamp", timestamp)

    def mine_at(self, timestamp: int) -> None:
        """Mine an empty block at ``timestamp``: calls and estimates then run at that time."""
        self.node.rpc("evm_mine", timestamp)

    def advance(self, seconds: int) -> None:
        """Mine a block ``seconds`` after the latest one."""
        self.node.rpc("evm_mine", self.now() + seconds)

    # -- flows -------------------------------------------------------------------------------

    def stake(self, amount: int | None = None) -> None:
        """Stake the proposer bond (or ``amount``)."""
        amount = self.params.proposer_bond if amount is None else amount
        self.tx(self.rollup.functions.stake(), self.proposer, value=amount)

    def deposit(self, l2_account: bytes, amount: int, sender: str | None = None) -> bytes:
        """Mint, approve and deposit; return the DEPOSIT transaction that consumes the entry."""
        return self.deposit_many([(l2_account, amount)], sender)[0]

    def deposit_many(
        self, entries: Sequence[tuple[bytes, int]], sender: str | None = None
    ) -> list[bytes]:
        """Queue deposits ``(l2_account, amount)``; return their DEPOSIT transactions."""
        probe = Probe(self.w3, self.node, self.dep)
        return probe.queue_deposits(entries, sender or self.user)[0]

    def deposit_hashes(self, count: int | None = None) -> list[bytes]:
        """Return the Vault's first ``count`` (default: all) deposit hashes."""
        n = self.vault.functions.deposit_count().call() if count is None else count
        calls = [
            (
                "eth_call",
                [
                    {"to": self.dep.vault, "data": self.vault.encode_abi("deposit_hashes", [i])},
                    "latest",
                ],
            )
            for i in range(n)
        ]
        return [bytes.fromhex(str(h)[2:]) for h in self.node.rpc_batch(calls)]

    def propose(
        self,
        txs: Sequence[bytes],
        new_root: bytes,
        *,
        prev_root: bytes | None = None,
        batch_time: int | None = None,
        sender: str | None = None,
    ) -> TxReceipt:
        """Propose a batch (prev root: the last one; batch time: the latest block's)."""
        prev = self.last_root() if prev_root is None else prev_root
        t = self.now() if batch_time is None else batch_time
        fn = self.rollup.functions.propose(prev, new_root, t, encode_tx_list(txs))
        return self.tx(fn, sender or self.proposer)

    def last_root(self) -> bytes:
        """Return the root the next batch chains onto."""
        return bytes(self.rollup.functions.last_root().call())

    def batch(self, index: int) -> dict[str, Any]:
        """Return batch ``index`` as a dict."""
        names = (
            "prev_root", "new_root", "tx_root", "tx_count", "batch_time", "proposed_at",
            "deposit_count", "nonce",
        )  # fmt: skip
        return dict(zip(names, self.rollup.functions.batch(index).call(), strict=True))

    def game_state(self, game_id: int) -> dict[str, Any]:
        """Return game ``game_id`` as a dict."""
        names = (
            "batch_index", "batch_nonce", "asserter", "challenger", "lo", "hi", "root_lo",
            "root_hi", "phase", "status", "clock_asserter", "clock_challenger", "last_move_at",
        )  # fmt: skip
        return dict(zip(names, self.game.functions.games(game_id).call(), strict=True))

    def batch_hash(self, index: int) -> bytes:
        """Return the hash ``DisputeGame.open`` takes for the batch now at ``index``."""
        return batch_hash(self.rollup.functions.batch(index).call())

    def open_game(self, batch_index: int, challenger: str) -> tuple[int, TxReceipt]:
        """Open a game on the batch now at ``batch_index`` with the challenger bond.

        Return its id and the receipt.
        """
        fn = self.game.functions.open(batch_index, self.batch_hash(batch_index))
        receipt = self.tx(fn, challenger, value=self.params.challenger_bond)
        (event,) = self.events(self.game, "GameOpened", receipt)
        return int(event["args"]["game_id"]), receipt

    def finalize_all(self) -> None:
        """Pass the window and finalize every pending batch."""
        self.advance(self.params.challenge_window)
        for i in range(
            self.rollup.functions.final_count().call(), self.rollup.functions.batch_count().call()
        ):
            self.tx(self.rollup.functions.finalize(i), self.user)

    def withdraw_tx(
        self, who: Trader, amount: int, nonce: int, recipient: bytes | None = None
    ) -> bytes:
        """Return a signed WITHDRAW for this deployment's domain."""
        msg = Withdraw(who.address, recipient or who.address, amount, nonce)
        return encode_tx(self.signer.sign(msg, who.key))


# --------------------------------------------------------------------------- game players


def split_points(lo: int, hi: int, k: int) -> list[int]:
    """Return p_0 .. p_parts of [lo, hi] (docs/l1.md): the Python twin of the contract's."""
    parts = min(k, hi - lo)
    return [lo + (hi - lo) * j // parts for j in range(parts + 1)]


Chooser = Callable[[list[int], list[bytes]], int]
"""Picks ``j`` from the split points and the asserted roots at them (ends included)."""


def honest_chooser(trace_: Sequence[bytes]) -> Chooser:
    """Return the honest challenger: the first sub-interval whose end it disputes."""

    def choose(points: list[int], asserted: list[bytes]) -> int:
        for j in range(len(points) - 1):
            if asserted[j + 1] != trace_[points[j + 1]]:
                return j
        raise AssertionError("the honest challenger agrees with every asserted root")

    return choose


def target_chooser(target: int) -> Chooser:
    """Return a challenger that steers the game to transaction ``target``."""

    def choose(points: list[int], asserted: list[bytes]) -> int:
        for j in range(len(points) - 1):
            if points[j] <= target < points[j + 1]:
                return j
        raise AssertionError(f"target {target} outside {points}")

    return choose


@dataclass
class GameLog:
    """What a driven game did: the gas of each move and the rounds played."""

    gas: dict[str, list[int]] = field(default_factory=dict)
    rounds: int = 0

    def add(self, move: str, receipt: TxReceipt) -> None:
        """Record the gas of one move."""
        self.gas.setdefault(move, []).append(int(receipt["gasUsed"]))


def bisect_to_step(
    l1: L1,
    game_id: int,
    asserted_trace: Sequence[bytes],
    chooser: Chooser,
    *,
    check: Callable[[dict[str, Any]], None] | None = None,
    log: GameLog | None = None,
) -> GameLog:
    """Play BISECT/CHOOSE rounds until phase STEP; ``check`` runs on the game after each round."""
    log = log or GameLog()
    k = l1.params.k
    for _ in range(64):
        g = l1.game_state(game_id)
        if g["phase"] == 3:
            return log
        assert g["phase"] == 1, f"unexpected phase {g['phase']}"
        lo, hi = g["lo"], g["hi"]
        points = split_points(lo, hi, k)
        assert l1.game.functions.split_points(game_id).call() == points
        inner = [asserted_trace[p] for p in points[1:-1]]
        log.add("bisect", l1.tx(l1.game.functions.bisect(game_id, inner), g["asserter"]))
        asserted = [g["root_lo"], *inner, g["root_hi"]]
        j = chooser(points, asserted)
        log.add("choose", l1.tx(l1.game.functions.choose(game_id, j), g["challenger"]))
        log.rounds += 1
        after = l1.game_state(game_id)
        assert (after["lo"], after["hi"]) == (points[j], points[j + 1])
        assert after["root_lo"] == asserted[j] and after["root_hi"] == asserted[j + 1]
        if check is not None:
            check(after)
    raise AssertionError("the game did not reach STEP")


def step(
    l1: L1, game_id: int, txs: Sequence[bytes], sender: str, witness: bytes = b""
) -> TxReceipt:
    """Submit the one-step proof of the game's transaction ``lo``."""
    lo = l1.game_state(game_id)["lo"]
    proof = tx_proof(txs, lo)
    return l1.tx(l1.game.functions.step(game_id, txs[lo], proof, witness), sender)


REJECTER = """
# pragma version ~=0.4.3
# A player contract without a payable default function: ETH sent to it reverts.
interface Rollup:
    def stake(): payable
    def unstake(amount: uint256): nonpayable
interface Game:
    def open(batch_index: uint256, batch_hash: bytes32) -> uint256: payable
    def claim(): nonpayable

@external
@payable
def stake(rollup: address):
    extcall Rollup(rollup).stake(value=msg.value)

@external
def unstake(rollup: address, amount: uint256):
    extcall Rollup(rollup).unstake(amount)

@external
@payable
def open(game: address, batch_index: uint256, batch_hash: bytes32) -> uint256:
    return extcall Game(game).open(batch_index, batch_hash, value=msg.value)

@external
def claim(game: address):
    extcall Game(game).claim()
"""
"""Source of a test player that refuses ether (for the "transfer failed" reverts)."""


def deploy_source(l1: L1, source: str, *args: Any) -> Contract:
    """Compile Vyper ``source`` (a test stand-in, not a project contract) and deploy it."""
    import vyper

    out = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    factory = l1.w3.eth.contract(abi=out["abi"], bytecode=out["bytecode"])
    address = l1.tx(factory.constructor(*args), l1.deployer)["contractAddress"]
    return l1.w3.eth.contract(address=address, abi=out["abi"])


# --------------------------------------------------------------------------- fixtures


class _Deployments:
    """One anvil per worker; deployments cached per parameter set behind EVM snapshots."""

    def __init__(self, node: Anvil, w3: Web3) -> None:
        self.node, self.w3 = node, w3
        self.base = node.rpc("evm_snapshot")
        self.key: tuple[Any, ...] | None = None
        self.snapshot: str | None = None
        self.dep: Deployment | None = None

    def get(self, **overrides: Any) -> L1:
        key = tuple(sorted(overrides.items()))
        if key == self.key and self.snapshot is not None and self.dep is not None:
            self.node.rpc("evm_revert", self.snapshot)
        else:
            self.node.rpc("evm_revert", self.base)
            self.base = self.node.rpc("evm_snapshot")
            accts = self.w3.eth.accounts
            params = devnet_params(ORACLE.address, proposer=accts[1], **overrides)
            self.dep = deploy(self.w3, accts[0], params)
            self.key = key
        self.snapshot = self.node.rpc("evm_snapshot")
        return L1.connect(self.w3, self.node, self.dep)


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[Anvil]:
    """Run anvil (default hardfork and limits) for this worker's session."""
    with Anvil(extra_args=["--silent"]) as node:
        yield node


@pytest.fixture(scope="session")
def l1_w3(anvil_node: Anvil) -> Web3:
    """Return a web3 client of the session's anvil."""
    return Web3(Web3.HTTPProvider(anvil_node.url, request_kwargs={"timeout": 300}))


@pytest.fixture(scope="session")
def _deployments(anvil_node: Anvil, l1_w3: Web3) -> _Deployments:
    return _Deployments(anvil_node, l1_w3)


@pytest.fixture
def make_l1(_deployments: _Deployments) -> Callable[..., L1]:
    """Return a factory: ``make_l1(k=4, ...)`` gives a fresh deployment with those parameters."""
    return _deployments.get


@pytest.fixture
def l1(make_l1: Callable[..., L1]) -> L1:
    """Return a fresh deployment with the devnet parameters (k = 2)."""
    return make_l1()


@pytest.fixture
def staked(l1: L1) -> L1:
    """Return ``l1`` with the proposer bond staked."""
    l1.stake()
    return l1


# --------------------------------------------------------------------------- ape (EthTester)


def ape_container(name: str) -> Any:
    """Return an ape ContractContainer for the artifact of contract ``name``."""
    from ape.contracts import ContractContainer
    from ethpm_types import ContractType

    art: Artifact = load(name)
    contract_type = ContractType.model_validate(
        {
            "contractName": name.rsplit("/", 1)[-1],
            "abi": art.abi,
            "deploymentBytecode": {"bytecode": "0x" + art.bytecode.hex()},
            "runtimeBytecode": {"bytecode": "0x" + art.runtime.hex()},
        }
    )
    return ContractContainer(contract_type)


@dataclass
class ApeSystem:
    """The four contracts deployed and wired on ape's in-process chain."""

    token: Any
    vault: Any
    rollup: Any
    game: Any
    owner: Any


@pytest.fixture(scope="session")
def ape_system(accounts: Any) -> ApeSystem:
    """Deploy and wire MockToken, Vault, Rollup and DisputeGame on EthTester (devnet params)."""
    owner = accounts[0]
    params = devnet_params(ORACLE.address)
    token = owner.deploy(ape_container("MockToken"))
    vault = owner.deploy(ape_container("Vault"), token.address)
    rollup = owner.deploy(
        ape_container("Rollup"), vault.address, params.genesis_root, params.challenge_window,
        params.proposer_bond,
    )  # fmt: skip
    game = owner.deploy(
        ape_container("DisputeGame"), rollup.address, vault.address, params.k,
        params.challenger_bond, params.game_clock, params.clock_extension,
    )  # fmt: skip
    vault.initialize(rollup.address, sender=owner)
    rollup.initialize(game.address, sender=owner)
    rollup.set_proposer(accounts[1].address, sender=owner)
    return ApeSystem(token, vault, rollup, game, owner)


# --------------------------------------------------------------------------- gas figures


def propose_gas(l1: L1, sizes: Sequence[int] = (1, 100, 1000)) -> dict[str, int]:
    """Propose batches of ``sizes`` real deposits; return ``{"propose_<n>_deposits": gas}``.

    The Vault queue holds the deposits; the new root is the reference STF's. Needs the
    proposer bond staked.
    """
    out: dict[str, int] = {}
    model = l1.l2()
    for n in sizes:
        start = l1.vault.functions.deposit_count().call()
        txs = l1.deposit_many(
            [(Trader.of(f"gas-{start + i}").address, 1_000_000 + i) for i in range(n)]
        )
        t = l1.now()
        roots = model.run(txs, t, l1.deposit_hashes())
        receipt = l1.propose(txs, roots[-1], batch_time=t)
        out[f"propose_{n}_deposits"] = int(receipt["gasUsed"])
    return out


def print_gas(title: str, figures: dict[str, int]) -> None:
    """Print gas figures, one per line."""
    print(f"\n{title}")
    for name, gas in figures.items():
        print(f"  {name:<40} {gas:>12,}")


# --------------------------------------------------------------------------- dispute scenarios


@dataclass
class Disputed:
    """A proposed batch with the honest trace and the trace its proposer asserted."""

    index: int
    txs: list[bytes]
    honest: list[bytes]
    asserted: list[bytes]
    noops: list[int]

    @property
    def lying(self) -> bool:
        """Tell whether the proposer asserted a wrong new root."""
        return self.asserted[-1] != self.honest[-1]


def lie_after(honest: Sequence[bytes], d: int) -> list[bytes]:
    """Return a trace that agrees with ``honest`` up to ``R_d`` and is wrong from ``R_{d+1}`` on."""
    return [
        *honest[: d + 1],
        *(keccak(b"lie" + j.to_bytes(4, "big")) for j in range(d + 1, len(honest))),
    ]


def propose_disputed(
    l1: L1,
    model: L2,
    n: int,
    *,
    noops: Sequence[int],
    lie_at: int | None = None,
) -> Disputed:
    """Queue deposits and propose an ``n``-transaction batch: no-ops at ``noops``, DEPOSITs
    elsewhere. With ``lie_at = d`` the proposer asserts a trace that is wrong from ``R_{d+1}``
    on (so its new root is wrong; an honest challenger's game ends at transaction ``d``, which
    must be a no-op unless a DEPOSIT verifier is registered); otherwise the honest trace."""
    base = l1.vault.functions.deposit_count().call()
    deposit_slots = [i for i in range(n) if i not in set(noops)]
    deposits = l1.deposit_many(
        [
            (Trader.of(f"trader-{base + j}").address, 1_000_000 * (j + 1))
            for j in range(len(deposit_slots))
        ]
    )
    it = iter(deposits)
    txs = [noop(i) if i in set(noops) else next(it) for i in range(n)]
    t = l1.now()
    honest = model.run(txs, t, l1.deposit_hashes())
    for i in noops:
        assert honest[i + 1] == honest[i], f"tx {i} is not a no-op in the reference STF"
    asserted = honest if lie_at is None else lie_after(honest, lie_at)
    l1.propose(txs, asserted[-1], batch_time=t)
    index = l1.rollup.functions.batch_count().call() - 1
    return Disputed(index, txs, honest, asserted, sorted(noops))


def game_gas(l1: L1) -> dict[str, int]:
    """Play games on two 16-transaction batches (k from ``l1``); return the gas of each move.

    Batch 0 is honest, batch 1 (on top of it) lies from R_6 on. Game A: an honest challenger
    against batch 1, won by its step (deleting batch 1 and slashing the proposer). Game B: a
    challenger against batch 0 steering to no-op 9, lost on the asserter's step. Game C on
    batch 1 is void once A has won (closed); game D on batch 0 is won by the challenger on the
    asserter's timeout. Then a claim. Needs a fresh deployment (the proposer is staked here).
    """
    out: dict[str, int] = {}
    l1.stake()
    model = l1.l2()
    good = propose_disputed(l1, model, 16, noops=[3, 5, 9, 14])
    bad = propose_disputed(l1, model, 16, noops=[3, 5, 9, 14], lie_at=5)
    game_a, receipt = l1.open_game(bad.index, l1.alice)
    out["open"] = int(receipt["gasUsed"])
    game_b, _ = l1.open_game(good.index, l1.bob)
    game_c, _ = l1.open_game(bad.index, l1.carol)
    game_d, _ = l1.open_game(good.index, l1.carol)

    log = bisect_to_step(l1, game_a, bad.asserted, honest_chooser(bad.honest))
    out["bisect (max)"] = max(log.gas["bisect"])
    out["choose (max)"] = max(log.gas["choose"])
    out["step: no-op, challenger wins (deletes, slashes)"] = int(
        step(l1, game_a, bad.txs, l1.alice)["gasUsed"]
    )

    bisect_to_step(l1, game_b, good.honest, target_chooser(9))
    out["step: no-op, asserter wins"] = int(step(l1, game_b, good.txs, l1.proposer)["gasUsed"])

    out["close_void"] = int(l1.tx(l1.game.functions.close_void(game_c), l1.user)["gasUsed"])
    g = l1.game_state(game_d)
    l1.mine_at(g["last_move_at"] + g["clock_asserter"] + 1)
    out["timeout (challenger wins, deletes)"] = int(
        l1.tx(l1.game.functions.timeout(game_d), l1.user)["gasUsed"]
    )
    out["claim"] = int(l1.tx(l1.game.functions.claim(), l1.alice)["gasUsed"])
    return out
