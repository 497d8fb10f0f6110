"""The Vault (docs/l1.md, "Vault"): the deposit queue and withdrawals against final roots.

Deposit hashes are checked against ``optirollup.testkit.deposit_tx``; withdrawals against a
state built by the reference STF (deposits and WITHDRAWs through ``optirollup.stf``), its root
from ``StateOverlay`` and its proofs from ``optirollup.state.mpt.get_proof``.
Quick table tests run on ape's in-process chain, flows on anvil.
"""

# ruff: noqa: E402  (conftest_l1 is registered for assertion rewriting before it is imported)

from __future__ import annotations

from typing import Any

import ape
import pytest

pytest.register_assert_rewrite("conftest_l1")

from conftest_l1 import L1, L2, ORACLE, print_gas, reverts
from eth_utils import to_checksum_address
from web3 import Web3

from optirollup.hashing import keccak
from optirollup.l1.contracts import load
from optirollup.state import mpt
from optirollup.state.keys import withdrawal_key
from optirollup.state.leaves import Withdrawal
from optirollup.state.overlay import genesis_root
from optirollup.state.store import MemoryStore
from optirollup.testkit import Trader, deposit_tx

pytest_plugins = ["conftest_l1"]

U64_MAX = 2**64 - 1
ALICE = Trader.of("alice")
BOB = Trader.of("bob")
RECIPIENT = Trader.of("recipient").address


def checksum(a: bytes) -> str:
    return to_checksum_address(a)


# --------------------------------------------------------------------------- deposits


@pytest.mark.parametrize(
    ("amount", "account"),
    [(1, ALICE.address), (10_000_000_000, BOB.address), (U64_MAX, ALICE.address)],
    ids=["one unit", "ten thousand USDC", "the largest u64"],
)
def test_a_deposit_records_the_hash_of_the_deposit_transaction_that_consumes_it(
    l1: L1, amount: int, account: bytes
) -> None:
    l1.deposit(Trader.of("earlier").address, 5)  # entry 0, so this one is entry 1
    l1.tx(l1.token.functions.mint(l1.user, amount), l1.user)
    l1.tx(l1.token.functions.approve(l1.dep.vault, amount), l1.user)
    receipt = l1.tx(l1.vault.functions.deposit(amount, checksum(account)), l1.user)

    expected = keccak(deposit_tx(1, account, amount))
    assert bytes(l1.vault.functions.deposit_hashes(1).call()) == expected
    assert l1.vault.functions.deposit_count().call() == 2
    (event,) = l1.events(l1.vault, "DepositQueued", receipt)
    assert event["args"]["index"] == 1
    assert event["args"]["l2_account"] == checksum(account)
    assert event["args"]["sender"] == l1.user
    assert event["args"]["amount"] == amount
    assert bytes(event["args"]["hash"]) == expected
    assert l1.token.functions.balanceOf(l1.dep.vault).call() == 5 + amount


@pytest.mark.parametrize(
    ("amount", "account", "mint", "approve", "message"),
    [
        (0, ALICE.address, 10, 10, "vault: amount out of range"),
        (2**64, ALICE.address, 2**64, 2**64, "vault: amount out of range"),
        (2**200, ALICE.address, 0, 0, "vault: amount out of range"),
        (5, b"\x00" * 20, 10, 10, "vault: zero account"),
        (5, ALICE.address, 10, 4, "vault: transfer failed"),
        (5, ALICE.address, 4, 10, "vault: transfer failed"),
    ],
    ids=[
        "a zero amount is out of range",
        "an amount of 2**64 is out of range",
        "a huge amount is out of range",
        "the zero account is refused",
        "a transfer beyond the allowance fails",
        "a transfer beyond the balance fails",
    ],
)
def test_a_bad_deposit_reverts_with_its_reason(
    ape_system: Any,
    accounts: Any,
    amount: int,
    account: bytes,
    mint: int,
    approve: int,
    message: str,
) -> None:
    user = accounts[5]
    token, vault = ape_system.token, ape_system.vault
    if mint:
        token.mint(user.address, mint, sender=user)
    token.approve(vault.address, approve, sender=user)
    count = vault.deposit_count()
    with ape.reverts(message):
        vault.deposit(amount, checksum(account), sender=user)
    assert vault.deposit_count() == count


@pytest.mark.parametrize(
    "case", ["token: zero address", "token: balance too low", "token: allowance too low"]
)
def test_the_mock_token_reverts_with_its_reason(ape_system: Any, accounts: Any, case: str) -> None:
    token, holder, spender = ape_system.token, accounts[7], accounts[8]
    token.mint(holder.address, 10, sender=holder)
    with ape.reverts(case):
        if case == "token: zero address":
            token.transfer("0x" + "00" * 20, 1, sender=holder)
        elif case == "token: balance too low":
            token.transfer(spender.address, 11, sender=holder)
        else:
            token.approve(spender.address, 5, sender=holder)
            token.transferFrom(holder.address, spender.address, 6, sender=spender)


def test_the_mock_token_has_six_decimals_and_an_unlimited_allowance(
    ape_system: Any, accounts: Any
) -> None:
    token, holder, spender = ape_system.token, accounts[7], accounts[8]
    assert (token.name(), token.symbol(), token.decimals()) == ("Mock USD", "mUSD", 6)
    token.mint(holder.address, 100, sender=spender)  # anyone may mint (tests and devnets only)
    token.approve(spender.address, 2**256 - 1, sender=holder)
    token.transferFrom(holder.address, spender.address, 40, sender=spender)
    assert token.allowance(holder.address, spender.address) == 2**256 - 1
    assert token.balanceOf(spender.address) >= 40


def test_deposit_hashes_follow_the_queue_order_on_the_in_process_chain(
    ape_system: Any, accounts: Any
) -> None:
    user = accounts[6]
    token, vault = ape_system.token, ape_system.vault
    token.mint(user.address, 100, sender=user)
    token.approve(vault.address, 100, sender=user)
    first = vault.deposit_count()
    for i, who in enumerate((ALICE, BOB, ALICE)):
        vault.deposit(10 + i, checksum(who.address), sender=user)
        assert bytes(vault.deposit_hashes(first + i)) == keccak(
            deposit_tx(first + i, who.address, 10 + i)
        )
    assert vault.deposit_count() == first + 3


# --------------------------------------------------------------------------- wiring


def _bare_vault(l1: L1, token: str | None = None) -> Any:
    art = load("Vault")
    factory = l1.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    receipt = l1.tx(factory.constructor(token or l1.dep.token), l1.deployer)
    return l1.w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)


@pytest.mark.parametrize(
    ("sender", "target", "twice", "message"),
    [
        ("alice", "rollup", False, "vault: not deployer"),
        ("deployer", "rollup", True, "vault: initialized"),
        ("deployer", "zero", False, "vault: zero address"),
    ],
    ids=["only the deployer may initialize", "initialize works once", "the zero rollup is refused"],
)
def test_initialize_reverts_with_its_reason(
    l1: L1, sender: str, target: str, twice: bool, message: str
) -> None:
    vault = _bare_vault(l1)
    address = l1.dep.rollup if target == "rollup" else "0x" + "00" * 20
    if twice:
        l1.tx(vault.functions.initialize(l1.dep.rollup), l1.deployer)
    with reverts(message):
        vault.functions.initialize(address).transact({"from": getattr(l1, sender)})


def test_a_vault_needs_a_token_contract(l1: L1) -> None:
    art = load("Vault")
    factory = l1.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    with reverts("vault: token not a contract"):
        factory.constructor(l1.alice).transact({"from": l1.deployer})


def test_a_withdrawal_before_initialize_reverts(l1: L1) -> None:
    vault = _bare_vault(l1)
    with reverts("vault: not initialized"):
        vault.functions.withdraw(0, 0, l1.alice, l1.alice, 1, []).transact({"from": l1.alice})


# --------------------------------------------------------------------------- withdrawals


class World:
    """Batch 0 on L1 and the reference state behind it.

    Batch 0: DEPOSIT alice 10,000 USDC, DEPOSIT bob 5,000 USDC, WITHDRAW alice 3,000 USDC to
    ``RECIPIENT`` (withdrawal 0), WITHDRAW bob 500 USDC to bob (withdrawal 1).
    """

    def __init__(self, l1: L1) -> None:
        self.l1 = l1
        self.model: L2 = l1.l2()
        deposits = l1.deposit_many([(ALICE.address, 10_000_000_000), (BOB.address, 5_000_000_000)])
        self.txs = [
            *deposits,
            l1.withdraw_tx(ALICE, 3_000_000_000, 0, recipient=RECIPIENT),
            l1.withdraw_tx(BOB, 500_000_000, 0),
        ]
        t = l1.now()
        self.trace = self.model.run(self.txs, t, l1.deposit_hashes())
        self.root = self.trace[-1]
        l1.stake()
        l1.propose(self.txs, self.root, batch_time=t)

    def proof(self, withdrawal_id: int) -> list[bytes]:
        return self.model.proof(self.root, withdrawal_key(withdrawal_id))

    def withdraw(
        self,
        withdrawal_id: int,
        account: bytes,
        recipient: bytes,
        amount: int,
        proof: list[bytes],
        sender: str | None = None,
    ) -> Any:
        fn = self.l1.vault.functions.withdraw(
            0, withdrawal_id, checksum(account), checksum(recipient), amount, proof
        )
        return self.l1.tx(fn, sender or self.l1.user)


@pytest.fixture
def world(l1: L1) -> World:
    return World(l1)


def test_the_reference_state_holds_the_withdrawal_leaves(world: World) -> None:
    leaf = mpt.verify_proof(world.root, withdrawal_key(0), world.proof(0))
    assert Withdrawal.decode(leaf) == Withdrawal(ALICE.address, RECIPIENT, 3_000_000_000)
    assert (
        world.l1.vault.functions.withdrawal_leaf(
            checksum(ALICE.address), checksum(RECIPIENT), 3_000_000_000
        ).call()
        == leaf
    )


def test_a_withdrawal_is_refused_before_its_batch_is_final(world: World) -> None:
    with reverts("vault: batch not final"):
        world.withdraw(0, ALICE.address, RECIPIENT, 3_000_000_000, world.proof(0))
    world.l1.advance(world.l1.params.challenge_window)
    with reverts("vault: batch not final"):  # the window passed, but nobody finalized yet
        world.withdraw(0, ALICE.address, RECIPIENT, 3_000_000_000, world.proof(0))


def test_a_withdrawal_is_paid_once_against_a_final_root(world: World) -> None:
    l1 = world.l1
    l1.finalize_all()
    receipt = world.withdraw(0, ALICE.address, RECIPIENT, 3_000_000_000, world.proof(0))
    assert l1.token.functions.balanceOf(checksum(RECIPIENT)).call() == 3_000_000_000
    assert l1.token.functions.balanceOf(l1.dep.vault).call() == 12_000_000_000
    assert l1.vault.functions.withdrawn(0).call()
    (event,) = l1.events(l1.vault, "WithdrawalPaid", receipt)
    assert event["args"]["withdrawal_id"] == 0
    assert event["args"]["account"] == checksum(ALICE.address)
    assert event["args"]["recipient"] == checksum(RECIPIENT)
    assert event["args"]["amount"] == 3_000_000_000
    assert event["args"]["batch_index"] == 0
    print_gas("Vault.withdraw", {"withdraw (5-leaf state)": int(receipt["gasUsed"])})

    with reverts("vault: already withdrawn"):
        world.withdraw(0, ALICE.address, RECIPIENT, 3_000_000_000, world.proof(0))
    # The other withdrawal is independent; anyone may submit it, bob is paid.
    world.withdraw(1, BOB.address, BOB.address, 500_000_000, world.proof(1), sender=l1.carol)
    assert l1.token.functions.balanceOf(checksum(BOB.address)).call() == 500_000_000


@pytest.mark.parametrize(
    "case",
    [
        "another amount",
        "another recipient",
        "another account",
        "the proof of another id",
        "an id that does not exist",
        "a proof with a corrupted node",
        "an empty proof",
        "a proof with an extra node",
    ],
)
def test_a_withdrawal_that_the_proof_does_not_show_is_refused(world: World, case: str) -> None:
    world.l1.finalize_all()
    wid, account, recipient, amount, proof = (
        0,
        ALICE.address,
        RECIPIENT,
        3_000_000_000,
        world.proof(0),
    )
    if case == "another amount":
        amount += 1
    elif case == "another recipient":
        recipient = ALICE.address
    elif case == "another account":
        account = BOB.address
    elif case == "the proof of another id":
        proof = world.proof(1)
    elif case == "an id that does not exist":
        wid, proof = 2, world.proof(2)  # a valid proof of absence
        assert mpt.verify_proof(world.root, withdrawal_key(2), proof) == b""
    elif case == "a proof with a corrupted node":
        proof = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    elif case == "an empty proof":
        proof = []
    elif case == "a proof with an extra node":
        proof = [*proof, proof[-1]]
    with reverts("vault: withdrawal not proven"):
        world.withdraw(wid, account, recipient, amount, proof)
    assert not world.l1.vault.functions.withdrawn(wid).call()


def test_a_withdrawal_the_vault_cannot_pay_reverts(l1: L1) -> None:
    # A proposer's root that nobody challenged holds a withdrawal larger than the Vault's tokens.
    store = MemoryStore()
    root = genesis_root(store, ORACLE.address)
    leaf = Withdrawal(ALICE.address, ALICE.address, 1_000).encode()
    fake = mpt.bulk_update(store, root, {withdrawal_key(0): leaf})
    l1.stake()
    l1.propose([b"\x0b" * 53], fake)
    l1.finalize_all()
    fn = l1.vault.functions.withdraw(
        0,
        0,
        checksum(ALICE.address),
        checksum(ALICE.address),
        1_000,
        mpt.get_proof(store, fake, withdrawal_key(0)),
    )
    with reverts("vault: transfer failed"):
        fn.transact({"from": l1.user})


@pytest.mark.parametrize(
    "amount",
    [1, 127, 128, 255, 256, 65_535, 2**32, 10**12, U64_MAX],
    ids=lambda a: f"amount {a}",
)
def test_the_withdrawal_leaf_matches_the_python_encoding(ape_system: Any, amount: int) -> None:
    leaf = Withdrawal(ALICE.address, RECIPIENT, amount).encode()
    assert (
        ape_system.vault.withdrawal_leaf(checksum(ALICE.address), checksum(RECIPIENT), amount)
        == leaf
    )


def test_withdrawal_proven_is_a_view_that_answers_true_only_for_the_exact_leaf(
    world: World,
) -> None:
    fn = world.l1.vault.functions.withdrawal_proven
    args = (world.root, 0, checksum(ALICE.address), checksum(RECIPIENT))
    assert fn(*args, 3_000_000_000, world.proof(0)).call()
    assert not fn(*args, 3_000_000_001, world.proof(0)).call()


def test_the_vault_is_the_eip712_verifying_contract_of_the_signed_withdrawals(world: World) -> None:
    # The WITHDRAWs were signed for (chain id, Vault); with another domain they would be no-ops
    # and no withdrawal leaf would exist.
    assert Web3.to_checksum_address(world.l1.dep.vault) == world.l1.vault.address
    assert world.trace[3] != world.trace[2] and world.trace[4] != world.trace[3]
