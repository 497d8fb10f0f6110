"""The Rollup (docs/l1.md, "Rollup"): proposals, the on-chain tx commitment, finality, stakes.

The commitment computed on-chain must equal ``optirollup.codec.batch.tx_root`` for real
encoded transactions; a bad frame must revert the proposal (protocol §5.1–5.2).
"""

# ruff: noqa: E402  (conftest_l1 is registered for assertion rewriting before it is imported)

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.register_assert_rewrite("conftest_l1")

from conftest_l1 import (
    ETHER,
    L1,
    ORACLE,
    REJECTER,
    deploy_source,
    noop,
    print_gas,
    propose_gas,
    reverts,
)
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3

from optirollup.codec.batch import MAX_BATCH_TXS, encode_tx_list, tx_root
from optirollup.codec.tx import (
    Cancel,
    CancelAll,
    FundingTick,
    ListMarket,
    OracleUpdate,
    Order,
    encode_tx,
)
from optirollup.l1.anvil import Anvil
from optirollup.l1.contracts import load
from optirollup.l1.deploy import deploy, devnet_params
from optirollup.testkit import Trader, deposit_tx

pytest_plugins = ["conftest_l1"]

ROOT_A = b"\xaa" * 32
ROOT_B = b"\xbb" * 32
PROPOSE_SELECTOR = function_signature_to_4byte_selector("propose(bytes32,bytes32,uint64,bytes)")


def real_txs(l1: L1, n: int) -> list[bytes]:
    """Return ``n`` canonical transactions of every type, signed for ``l1``'s domain."""
    signer = l1.signer
    alice, bob, oracle = Trader.of("alice"), Trader.of("bob"), Trader.of("oracle")
    out: list[bytes] = []
    for i in range(n):
        kind = i % 10
        if kind in (0, 5):
            out.append(deposit_tx(i, alice.address, 1_000 + i))
        elif kind == 1:
            out.append(l1.withdraw_tx(bob, 10 + i, i))
        elif kind == 2:
            out.append(
                encode_tx(signer.sign(OracleUpdate(1, 3_000_000_000 + i, 0, 100 + i), oracle.key))
            )
        elif kind == 3:
            out.append(encode_tx(signer.sign(FundingTick(1, -50 + i % 100, 200 + i), oracle.key)))
        elif kind == 4:
            maker = signer.order(
                Order(alice.address, 1, 1, 3_000_000_000, 100_000_000, 1_000, i, 10**9), alice.key
            )
            taker = signer.order(
                Order(bob.address, 1, 0, 3_000_000_000, 100_000_000, 1_000, i, 10**9), bob.key
            )
            out.append(signer.fill(maker, taker, 50_000_000))
        elif kind == 6:
            out.append(
                encode_tx(signer.sign(Cancel(alice.address, i.to_bytes(32, "big")), alice.key))
            )
        elif kind == 7:
            out.append(encode_tx(signer.sign(CancelAll(bob.address, i + 1), bob.key)))
        elif kind == 8:
            msg = ListMarket(
                i,
                0,
                b"ETH-PERP".ljust(16, b"\0"),
                0,
                0,
                100_000,
                10_000,
                100_000,
                50_000,
                200,
                500,
                10_000,
            )
            out.append(encode_tx(signer.sign(msg, oracle.key)))
        else:
            out.append(noop(i))
    return out


# --------------------------------------------------------------------------- propose


def test_propose_records_the_batch_and_emits_batch_proposed(staked: L1) -> None:
    l1 = staked
    txs = l1.deposit_many([(Trader.of("alice").address, 5), (Trader.of("bob").address, 6)])
    t = l1.now()
    receipt = l1.propose(txs, ROOT_A, batch_time=t)
    l1.deposit(Trader.of("carol").address, 7)  # queued after the proposal: not visible to it

    block_time = int(l1.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    batch = l1.batch(0)
    assert batch == {
        "prev_root": l1.params.genesis_root,
        "new_root": ROOT_A,
        "tx_root": tx_root(txs),
        "tx_count": 2,
        "batch_time": t,
        "proposed_at": block_time,
        "deposit_count": 2,
        "nonce": 1,
    }
    (event,) = l1.events(l1.rollup, "BatchProposed", receipt)
    assert dict(event["args"]) == {
        "index": 0,
        "nonce": 1,
        "prev_root": l1.params.genesis_root,
        "new_root": ROOT_A,
        "tx_root": tx_root(txs),
        "tx_count": 2,
        "batch_time": t,
        "deposit_count": 2,
    }
    assert l1.rollup.functions.batch_count().call() == 1
    assert l1.last_root() == ROOT_A
    assert bytes(l1.rollup.functions.state_root(0).call()) == ROOT_A

    # The transactions are read back from the calldata of the proposal.
    tx = l1.w3.eth.get_transaction(receipt["transactionHash"])
    _, args = l1.rollup.decode_function_input(tx["input"])
    assert args["txs"] == encode_tx_list(txs)

    # The next batch chains onto this one and gets the next nonce.
    l1.propose([noop(0)], ROOT_B)
    assert l1.batch(1)["prev_root"] == ROOT_A
    assert l1.batch(1)["nonce"] == 2
    assert l1.batch(1)["deposit_count"] == 3


@pytest.mark.parametrize("n", [1, 2, 3, 17, 100, 1000], ids=lambda n: f"{n} txs")
def test_the_on_chain_tx_root_equals_the_python_commitment(staked: L1, n: int) -> None:
    txs = real_txs(staked, n)
    receipt = staked.propose(txs, ROOT_A)
    assert staked.batch(0)["tx_root"] == tx_root(txs)
    assert staked.batch(0)["tx_count"] == n
    print_gas("propose (mixed real txs)", {f"propose_{n}_mixed_txs": int(receipt["gasUsed"])})


@pytest.mark.parametrize(
    "lengths",
    [
        [1],
        [512],
        [512, 512, 512],
        [1, 2, 30, 31, 32, 33, 63, 64, 65, 511, 512, 1],
        [512] * 5 + [1] * 40 + [300, 7, 512],
        [3] * 200,
    ],
    ids=[
        "one byte",
        "one 512-byte tx",
        "three 512-byte txs",
        "lengths around word boundaries",
        "long txs then short ones at the calldata end",
        "200 three-byte txs",
    ],
)
def test_the_tx_root_is_right_for_every_frame_length(staked: L1, lengths: list[int]) -> None:
    rng = random.Random(len(lengths) * 1000 + sum(lengths))
    txs = [bytes(rng.randrange(256) for _ in range(n)) for n in lengths]
    staked.propose(txs, ROOT_A)
    assert staked.batch(0)["tx_root"] == tx_root(txs)


def _raw_propose(l1: L1, data: bytes) -> None:
    l1.w3.eth.send_transaction({"from": l1.proposer, "to": l1.dep.rollup, "data": data})


def _calldata(l1: L1, framed: bytes, batch_time: int | None = None) -> bytes:
    t = l1.now() if batch_time is None else batch_time
    return PROPOSE_SELECTOR + abi_encode(
        ["bytes32", "bytes32", "uint64", "bytes"], [l1.last_root(), ROOT_A, t, framed]
    )


GOOD = encode_tx_list([b"\x01" * 37, b"\x0c" * 25])


@pytest.mark.parametrize(
    "framed",
    [
        GOOD + b"\x00",
        GOOD + b"\x00\x00",
        GOOD + b"\x02\x01" + b"\x07" * 513,
        GOOD + b"\x00\x05\x01\x02\x03\x04",
        b"\x00\x26" + b"\x01" * 37,
        b"\x01",
        b"\x00\x00" + GOOD,
    ],
    ids=[
        "a truncated length prefix",
        "a zero length",
        "a length of 513",
        "a transaction overrunning the list",
        "a first transaction overrunning the list",
        "a single byte",
        "a zero length first",
    ],
)
def test_a_bad_frame_reverts_the_proposal(staked: L1, framed: bytes) -> None:
    with reverts("rollup: bad frame"):
        _raw_propose(staked, _calldata(staked, framed))


def test_an_empty_batch_reverts(staked: L1) -> None:
    with reverts("rollup: empty batch"):
        _raw_propose(staked, _calldata(staked, b""))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda d: d + b"\x00" * 32,
        lambda d: d[:-1] + b"\x01",
        lambda d: d[:100] + (160).to_bytes(32, "big") + b"\x00" * 32 + d[132:],
    ],
    ids=["trailing bytes after the list", "non-zero padding", "the list at another offset"],
)
def test_a_non_canonical_calldata_reverts(staked: L1, mangle: Callable[[bytes], bytes]) -> None:
    data = _calldata(staked, encode_tx_list([b"\x0b" * 53]))  # 55 bytes: padded with 9 zeros
    with reverts("rollup: non-canonical calldata"):
        _raw_propose(staked, mangle(data))
    _raw_propose(staked, data)  # the canonical encoding passes


def test_a_bad_frame_among_many_transactions_is_reported_as_a_bad_frame(staked: L1) -> None:
    framed = b"\x00\x01\x0b" * (MAX_BATCH_TXS + 1)
    with reverts("rollup: bad frame"):
        _raw_propose(staked, _calldata(staked, b"\x00\x00" + framed))


@pytest.fixture(scope="module")
def big_l1() -> Iterator[L1]:
    """Return a deployment on its own anvil with a 1e9 block gas limit (65,536 leaves hash
    ~80M gas: more than a block of today's L1 holds, but the rules must hold there too)."""
    with Anvil(extra_args=["--silent"], gas_limit=1_000_000_000) as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 600}))
        dep = deploy(
            w3, w3.eth.accounts[0], devnet_params(ORACLE.address, proposer=w3.eth.accounts[1])
        )
        l1 = L1.connect(w3, node, dep)
        l1.stake()
        yield l1


def test_a_full_batch_of_65536_transactions_has_the_python_commitment(big_l1: L1) -> None:
    l1 = big_l1
    txs = [i.to_bytes(3, "big") for i in range(MAX_BATCH_TXS)]
    fn = l1.rollup.functions.propose(l1.last_root(), ROOT_A, l1.now(), encode_tx_list(txs))
    receipt = l1.w3.eth.wait_for_transaction_receipt(
        fn.transact({"from": l1.proposer, "gas": 900_000_000})
    )
    assert receipt["status"] == 1
    index = l1.rollup.functions.batch_count().call() - 1
    assert l1.batch(index)["tx_root"] == tx_root(txs)
    assert l1.batch(index)["tx_count"] == MAX_BATCH_TXS
    print_gas("propose", {"propose_65536_3-byte_txs": int(receipt["gasUsed"])})


def test_more_than_65536_transactions_revert(big_l1: L1) -> None:
    framed = b"\x00\x01\x0b" * (MAX_BATCH_TXS + 1)
    data = _calldata(big_l1, framed)
    with reverts("rollup: too many txs"):
        big_l1.w3.eth.call(
            {"from": big_l1.proposer, "to": big_l1.dep.rollup, "data": data, "gas": 900_000_000}
        )


@pytest.mark.parametrize(
    "case",
    [
        "not proposer",
        "bond too low",
        "wrong prev root",
        "batch time before parent",
        "batch time in the future",
    ],
)
def test_propose_reverts_with_its_reason(l1: L1, case: str) -> None:
    l1.stake(l1.params.proposer_bond - 1 if case == "bond too low" else None)
    if case == "batch time before parent":
        l1.propose([noop(0)], ROOT_A, batch_time=l1.now())
    prev, t, sender = l1.last_root(), l1.now(), l1.proposer
    if case == "not proposer":
        sender = l1.alice
    elif case == "wrong prev root":
        prev = ROOT_B
    elif case == "batch time before parent":
        t = l1.batch(0)["batch_time"] - 1
    elif case == "batch time in the future":
        t = l1.now() + 1000
    with reverts(f"rollup: {case}"):
        l1.rollup.functions.propose(prev, ROOT_A, t, encode_tx_list([noop(0)])).transact(
            {"from": sender}
        )


def test_a_batch_time_equal_to_the_parents_is_accepted(staked: L1) -> None:
    staked.propose([noop(0)], ROOT_A, batch_time=staked.now())
    staked.propose([noop(1)], ROOT_B, batch_time=staked.batch(0)["batch_time"])
    assert staked.batch(1)["batch_time"] == staked.batch(0)["batch_time"]


def _bare_rollup(l1: L1) -> Any:
    art = load("Rollup")
    factory = l1.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    receipt = l1.tx(
        factory.constructor(l1.dep.vault, l1.params.genesis_root, 3600, ETHER), l1.deployer
    )
    return l1.w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)


def test_propose_before_initialize_reverts(l1: L1) -> None:
    rollup = _bare_rollup(l1)
    l1.tx(rollup.functions.set_proposer(l1.proposer), l1.deployer)
    with reverts("rollup: not initialized"):
        rollup.functions.propose(
            l1.params.genesis_root, ROOT_A, l1.now(), encode_tx_list([noop(0)])
        ).transact({"from": l1.proposer})


@pytest.mark.parametrize(
    ("sender", "twice", "zero", "message"),
    [
        ("alice", False, False, "rollup: not owner"),
        ("deployer", True, False, "rollup: initialized"),
        ("deployer", False, True, "rollup: zero address"),
    ],
    ids=[
        "only the owner may initialize",
        "initialize works once",
        "the zero dispute game is refused",
    ],
)
def test_initialize_reverts_with_its_reason(
    l1: L1, sender: str, twice: bool, zero: bool, message: str
) -> None:
    rollup = _bare_rollup(l1)
    if twice:
        l1.tx(rollup.functions.initialize(l1.dep.dispute_game), l1.deployer)
    target = "0x" + "00" * 20 if zero else l1.dep.dispute_game
    with reverts(message):
        rollup.functions.initialize(target).transact({"from": getattr(l1, sender)})


# --------------------------------------------------------------------------- finality


def test_batches_become_final_in_order_after_their_window(staked: L1) -> None:
    l1 = staked
    l1.propose([noop(0)], ROOT_A)
    l1.propose([noop(1)], ROOT_B)
    proposed_at = l1.batch(0)["proposed_at"]
    l1.mine_at(proposed_at + l1.params.challenge_window - 1)
    with reverts("rollup: window open"):
        l1.rollup.functions.finalize(0).transact({"from": l1.user})
    l1.at(proposed_at + l1.params.challenge_window)
    receipt = l1.tx(l1.rollup.functions.finalize(0), l1.user, gas=200_000)
    (event,) = l1.events(l1.rollup, "BatchFinalized", receipt)
    assert event["args"]["index"] == 0 and bytes(event["args"]["new_root"]) == ROOT_A
    assert l1.rollup.functions.is_final(0).call()
    assert not l1.rollup.functions.is_final(1).call()
    assert l1.rollup.functions.final_count().call() == 1
    l1.advance(l1.params.challenge_window)
    l1.tx(l1.rollup.functions.finalize(1), l1.user)
    assert l1.rollup.functions.final_count().call() == 2


@pytest.mark.parametrize(
    "case",
    [
        "not next: a later batch first",
        "not next: a final batch again",
        "no batch",
        "window open",
        "game open",
    ],
)
def test_finalize_reverts_with_its_reason(staked: L1, case: str) -> None:
    l1 = staked
    l1.propose([noop(0)], ROOT_A)
    l1.propose([noop(1)], ROOT_B)
    index = 0
    if case == "game open":
        l1.open_game(0, l1.alice)
    if case != "window open":
        l1.advance(l1.params.challenge_window)
    if case == "not next: a later batch first":
        index = 1
    elif case == "not next: a final batch again":
        l1.tx(l1.rollup.functions.finalize(0), l1.user)
    elif case == "no batch":
        l1.tx(l1.rollup.functions.finalize(0), l1.user)
        l1.tx(l1.rollup.functions.finalize(1), l1.user)
        index = 2
    with reverts("rollup: " + case.split(":")[0]):
        l1.rollup.functions.finalize(index).transact({"from": l1.user})


def test_only_the_dispute_game_may_delete_batches(staked: L1) -> None:
    staked.propose([noop(0)], ROOT_A)
    for sender in (staked.deployer, staked.proposer, staked.alice):
        with reverts("rollup: only dispute game"):
            staked.rollup.functions.delete_from(0).transact({"from": sender})


# --------------------------------------------------------------------------- proposer and stake


def test_the_proposer_stakes_and_unstakes_once_every_batch_is_final(l1: L1) -> None:
    l1.stake(2 * ETHER)
    assert l1.rollup.functions.stakes(l1.proposer).call() == 2 * ETHER
    l1.propose([noop(0)], ROOT_A)
    with reverts("rollup: batches pending"):
        l1.rollup.functions.unstake(1).transact({"from": l1.proposer})
    l1.finalize_all()
    with reverts("rollup: stake too low"):
        l1.rollup.functions.unstake(2 * ETHER + 1).transact({"from": l1.proposer})
    before = l1.w3.eth.get_balance(l1.proposer)
    receipt = l1.tx(l1.rollup.functions.unstake(ETHER), l1.proposer)
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert l1.w3.eth.get_balance(l1.proposer) == before + ETHER - fee
    assert l1.rollup.functions.stakes(l1.proposer).call() == ETHER
    (event,) = l1.events(l1.rollup, "Unstaked", receipt)
    assert event["args"]["amount"] == ETHER and event["args"]["total"] == ETHER


def test_unstake_to_a_contract_that_refuses_ether_reverts(l1: L1) -> None:
    player = deploy_source(l1, REJECTER)
    l1.tx(l1.rollup.functions.set_proposer(player.address), l1.deployer)
    l1.tx(player.functions.stake(l1.dep.rollup), l1.alice, value=ETHER)
    assert l1.rollup.functions.stakes(player.address).call() == ETHER
    with reverts("rollup: transfer failed"):
        player.functions.unstake(l1.dep.rollup, ETHER).transact({"from": l1.alice})
    assert l1.rollup.functions.stakes(player.address).call() == ETHER


def test_a_rollup_needs_a_vault(l1: L1) -> None:
    art = load("Rollup")
    factory = l1.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    with reverts("rollup: zero address"):
        factory.constructor("0x" + "00" * 20, l1.params.genesis_root, 3600, ETHER).transact(
            {"from": l1.deployer}
        )


def test_delete_from_needs_a_pending_batch(l1: L1) -> None:
    # A Rollup whose "dispute game" is an account we control.
    rollup = _bare_rollup(l1)
    l1.tx(rollup.functions.initialize(l1.alice), l1.deployer)
    l1.tx(rollup.functions.set_proposer(l1.proposer), l1.deployer)
    l1.tx(rollup.functions.stake(), l1.proposer, value=ETHER)
    framed = encode_tx_list([noop(0)])
    l1.tx(rollup.functions.propose(l1.params.genesis_root, ROOT_A, l1.now(), framed), l1.proposer)
    l1.tx(rollup.functions.propose(ROOT_A, ROOT_B, l1.now(), framed), l1.proposer)
    with reverts("rollup: batch not pending"):
        rollup.functions.delete_from(2).transact({"from": l1.alice})
    before = l1.w3.eth.get_balance(l1.alice)
    receipt = l1.tx(rollup.functions.delete_from(1), l1.alice)
    assert rollup.functions.batch_count().call() == 1
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert l1.w3.eth.get_balance(l1.alice) == before + ETHER - fee  # the slash
    with reverts("rollup: batch not pending"):
        rollup.functions.delete_from(1).transact({"from": l1.alice})


def test_only_the_proposer_may_stake(l1: L1) -> None:
    with reverts("rollup: not proposer"):
        l1.rollup.functions.stake().transact({"from": l1.alice, "value": ETHER})


def test_the_owner_changes_the_proposer_only_when_no_batch_is_pending(staked: L1) -> None:
    l1 = staked
    with reverts("rollup: not owner"):
        l1.rollup.functions.set_proposer(l1.alice).transact({"from": l1.alice})
    l1.propose([noop(0)], ROOT_A)
    with reverts("rollup: batches pending"):
        l1.rollup.functions.set_proposer(l1.alice).transact({"from": l1.deployer})
    l1.finalize_all()
    l1.tx(l1.rollup.functions.set_proposer(l1.alice), l1.deployer)
    assert l1.rollup.functions.proposer().call() == l1.alice
    with reverts("rollup: not proposer"):
        l1.rollup.functions.propose(ROOT_A, ROOT_B, l1.now(), encode_tx_list([noop(0)])).transact(
            {"from": l1.proposer}
        )
    # The former proposer withdraws its stake while the new one has batches pending.
    l1.tx(l1.rollup.functions.stake(), l1.alice, value=ETHER)
    l1.propose([noop(1)], ROOT_B, sender=l1.alice)
    l1.tx(l1.rollup.functions.unstake(ETHER), l1.proposer)
    assert l1.rollup.functions.stakes(l1.proposer).call() == 0


def test_views_of_a_missing_batch_revert(l1: L1) -> None:
    assert l1.last_root() == l1.params.genesis_root
    assert not l1.rollup.functions.is_final(0).call()
    assert not l1.rollup.functions.is_pending(0, 1).call()
    with reverts("rollup: no batch"):
        l1.rollup.functions.batch(0).call()
    with reverts("rollup: no batch"):
        l1.rollup.functions.state_root(0).call()


# --------------------------------------------------------------------------- gas


def test_propose_gas_for_1_100_and_1000_deposits(staked: L1) -> None:
    figures = propose_gas(staked)
    print_gas("Rollup.propose (Osaka rules, anvil)", figures)
    assert set(figures) == {"propose_1_deposits", "propose_100_deposits", "propose_1000_deposits"}
    assert figures["propose_1000_deposits"] < 16_777_216  # under the EIP-7825 cap
