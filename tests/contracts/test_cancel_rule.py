"""CancelRule (contracts/steps/CancelRule.vy) against the reference STF, on a real EVM (anvil).

The rule re-executes CANCEL and CANCEL_ALL (protocol §6.10, §6.11) on leaves the step runner
proved. For a (state, transaction), the reference's reads, writes and receipt come from
``optirollup.dispute.build_step_witness``; called with those keys and their pre-state values,
the rule must read every one of them and return exactly the reference's writes (none for a
no-op). Cases: every golden vector, a fixed table of edge cases that holds every reason of the
two types, and a seeded hypothesis property over random states and transactions. Gas figures
are printed (``pytest -s``).
"""

# ruff: noqa: E402  (conftest_steps is registered for assertion rewriting before it is imported)

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any, TypeVar

import pytest

pytest.register_assert_rewrite("conftest_steps")

from conftest_steps import (
    BROKEN_SIGNATURES,
    Scenario,
    StepChain,
    T,
    _deploy,
    assert_edges_cover,
    golden_vector_matches,
    golden_vectors,
    representatives,
    revert_message,
    scenario_matches,
    signed_as,
    with_examples,
)
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from optirollup.codec.tx import Cancel, CancelAll, SignedMessage, TxType
from optirollup.dispute.witness import MAX_VALUE as MPT_MAX_VALUE
from optirollup.hashing import keccak
from optirollup.state.keys import SYSTEM_KEY, account_key, order_key
from optirollup.state.leaves import Account, OrderState, Position, System
from optirollup.stf import Reason
from optirollup.testkit import Trader
from optirollup.units import MAX_COLLATERAL, MAX_FUNDING_INDEX, MAX_POSITION_SIZE, U32_MAX, U64_MAX

pytest_plugins = ["conftest_steps"]

ALICE, BOB = Trader.of("cancel-rule-alice"), Trader.of("cancel-rule-bob")
TRADERS = [ALICE, BOB, *(Trader.of(f"cancel-rule-{i}") for i in range(3))]
MALLORY = Trader.of("cancel-rule-mallory")
ORACLE = Trader.of("cancel-rule-oracle")

M = TypeVar("M", bound=SignedMessage)


@pytest.fixture(scope="module")
def rule(steps_chain: StepChain) -> Contract:
    """Return the session's CancelRule (deployed for the default domain)."""
    return steps_chain.rules["CancelRule"]


# --------------------------------------------------------------------------- builders

SIG_MODES = ("valid", "other_key", "foreign", *BROKEN_SIGNATURES)
"""How a transaction is signed: by its account (valid), by another key, for another domain, or
a signature broken in one of the ways protocol §3.5 rejects."""


def sign(msg: M, key: bytes, mode: str = "valid") -> bytes:
    """Return ``msg`` encoded with a signature by ``key`` made as ``mode`` says."""
    return signed_as(msg, key, mode, MALLORY.key)


def cancel(
    who: Trader, order_hash: bytes, mode: str = "valid", account: bytes | None = None
) -> bytes:
    """Return a CANCEL of ``order_hash`` by ``who`` (for ``account`` if given: a forgery)."""
    return sign(Cancel(account or who.address, order_hash), who.key, mode)


def cancel_all(who: Trader, floor: int, mode: str = "valid", account: bytes | None = None) -> bytes:
    """Return a CANCEL_ALL to ``floor`` by ``who`` (for ``account`` if given: a forgery)."""
    return sign(CancelAll(account or who.address, floor), who.key, mode)


def random_account(rng: random.Random, address: bytes, floor: int) -> Account:
    """Return an account with random positions (trimmed to the MPT library's MAX_VALUE)."""
    markets = sorted(rng.sample(range(1, 40), rng.randrange(0, 9)))
    positions = tuple(
        Position(
            m,
            rng.choice([-1, 1]) * rng.randrange(1, MAX_POSITION_SIZE + 1),
            rng.randrange(-MAX_FUNDING_INDEX, MAX_FUNDING_INDEX + 1),
        )
        for m in markets
    )
    collateral = rng.choice([0, rng.randrange(-(10**15), 10**15), MAX_COLLATERAL, -MAX_COLLATERAL])
    acc = Account(address, collateral, rng.randrange(0, 4), floor, positions)
    while len(acc.encode()) > MPT_MAX_VALUE:
        acc = replace(acc, positions=acc.positions[:-1])
    return acc


BIGGEST = Account(
    ALICE.address,
    -1,
    U64_MAX,
    U64_MAX - 1,
    tuple(Position(U32_MAX - 8 + i, -1, -1) for i in range(8)),
)
"""The longest account leaf (662 bytes): 8 positions, every signed field negative."""

HASH_OPEN, HASH_FILLED, HASH_CANCELLED, HASH_MAX = (keccak(bytes([i])) for i in range(4))


def filler(rng: random.Random, n: int) -> dict[bytes, bytes]:
    """Return ``n`` unrelated account and order leaves (so proofs have depth)."""
    out: dict[bytes, bytes] = {}
    for _ in range(n):
        address = rng.randbytes(20)
        if rng.random() < 0.5:
            out[account_key(address)] = random_account(rng, address, rng.randrange(9)).encode()
        else:
            st_ = OrderState(rng.randrange(10**9), rng.random() < 0.5)
            out[order_key(address, rng.randbytes(32))] = st_.encode()
    return out


def state(
    accounts: list[Account] | None = None,
    orders: dict[tuple[bytes, bytes], OrderState] | None = None,
    extra: int = 12,
) -> dict[bytes, bytes]:
    """Return the leaves of a state: the system leaf, ``accounts``, ``orders`` and filler."""
    if accounts is None:
        accounts = [
            Account(ALICE.address, 10**10, 1, 5, (Position(1, 123 * 10**6, 999_041_111_181),)),
            Account(BOB.address, 10**10, 0, 0),
        ]
    if orders is None:
        orders = {
            (ALICE.address, HASH_OPEN): OrderState(0, False),
            (ALICE.address, HASH_FILLED): OrderState(123 * 10**6, False),
            (ALICE.address, HASH_CANCELLED): OrderState(0, True),
            (ALICE.address, HASH_MAX): OrderState(U64_MAX, False),
            (BOB.address, HASH_FILLED): OrderState(7, True),
        }
    leaves = filler(random.Random(extra), extra)
    leaves[SYSTEM_KEY] = System(ORACLE.address, 3, 2, 12_345, 0).encode()
    for acc in accounts:
        leaves[account_key(acc.address)] = acc.encode()
    for (owner, order_hash), order_state in orders.items():
        leaves[order_key(owner, order_hash)] = order_state.encode()
    return leaves


def _edges() -> list[tuple[str, Scenario, Reason]]:
    """Return named edge cases with the reason the reference gives them."""
    R = Reason
    base = state()
    out: list[tuple[str, Scenario, Reason]] = []

    def add(name: str, tx: bytes, reason: Reason, leaves: dict[bytes, bytes] | None = None) -> None:
        out.append((name, Scenario(base if leaves is None else leaves, tx, T, name), reason))

    # CANCEL
    add("cancel_an_unseen_order", cancel(ALICE, keccak(b"unseen")), R.OK)
    add("cancel_an_open_order", cancel(ALICE, HASH_OPEN), R.OK)
    add("cancel_a_partly_filled_order", cancel(ALICE, HASH_FILLED), R.OK)
    add("cancel_an_order_filled_u64_max", cancel(ALICE, HASH_MAX), R.OK)
    add("cancel_the_zero_hash", cancel(ALICE, bytes(32)), R.OK)
    add("cancel_another_owners_cancelled_hash", cancel(ALICE, keccak(b"\x00")), R.OK,
        state(orders={(BOB.address, keccak(b"\x00")): OrderState(0, True)}))  # fmt: skip
    add("cancel_without_an_account_leaf", cancel(MALLORY, HASH_OPEN), R.OK)
    add("cancel_in_a_state_of_one_leaf", cancel(ALICE, HASH_OPEN), R.OK, state([], {}, 0))
    for mode in SIG_MODES[1:]:
        add(f"cancel_sig_{mode}", cancel(ALICE, HASH_OPEN, mode), R.BAD_SIGNATURE)
    add("cancel_for_another_account", cancel(ALICE, HASH_FILLED, account=BOB.address),
        R.BAD_SIGNATURE)  # fmt: skip
    add("cancel_for_the_zero_account", cancel(ALICE, HASH_OPEN, "zero", bytes(20)),
        R.BAD_SIGNATURE)  # fmt: skip
    add("cancel_bad_sig_on_a_cancelled_order", cancel(ALICE, HASH_CANCELLED, "other_key"),
        R.BAD_SIGNATURE)  # fmt: skip
    add("cancel_already_cancelled", cancel(ALICE, HASH_CANCELLED), R.ALREADY_CANCELLED)
    add("cancel_already_cancelled_partly_filled", cancel(BOB, HASH_FILLED), R.ALREADY_CANCELLED)
    good = cancel(ALICE, HASH_OPEN)
    add("cancel_one_byte_short", good[:-1], R.MALFORMED)
    add("cancel_one_byte_long", good + b"\x00", R.MALFORMED)
    add("cancel_type_byte_only", good[:1], R.MALFORMED)

    # CANCEL_ALL (alice's floor is 5, bob's 0; mallory has no account leaf)
    add("cancel_all_raises_the_floor", cancel_all(ALICE, 6), R.OK)
    add("cancel_all_to_u64_max", cancel_all(ALICE, U64_MAX), R.OK)
    add("cancel_all_first_floor", cancel_all(BOB, 1), R.OK)
    add("cancel_all_creates_an_account", cancel_all(MALLORY, 1), R.OK)
    add("cancel_all_creates_an_account_at_u64_max", cancel_all(MALLORY, U64_MAX), R.OK)
    add("cancel_all_of_the_longest_account", cancel_all(ALICE, U64_MAX), R.OK, state([BIGGEST]))
    for mode in SIG_MODES[1:]:
        add(f"cancel_all_sig_{mode}", cancel_all(ALICE, 6, mode), R.BAD_SIGNATURE)
    add("cancel_all_for_another_account", cancel_all(ALICE, 9, account=BOB.address),
        R.BAD_SIGNATURE)  # fmt: skip
    add("cancel_all_bad_sig_and_stale", cancel_all(ALICE, 5, "foreign"), R.BAD_SIGNATURE)
    add("cancel_all_same_floor", cancel_all(ALICE, 5), R.STALE_CANCEL_FLOOR)
    add("cancel_all_lower_floor", cancel_all(ALICE, 4), R.STALE_CANCEL_FLOOR)
    add("cancel_all_zero_floor", cancel_all(ALICE, 0), R.STALE_CANCEL_FLOOR)
    add("cancel_all_zero_floor_of_a_new_account", cancel_all(MALLORY, 0), R.STALE_CANCEL_FLOOR)
    add("cancel_all_zero_floor_of_a_zero_floor_account", cancel_all(BOB, 0),
        R.STALE_CANCEL_FLOOR)  # fmt: skip
    at_max = state([replace(BIGGEST, cancel_floor=U64_MAX)])
    add("cancel_all_at_u64_max_again", cancel_all(ALICE, U64_MAX), R.STALE_CANCEL_FLOOR, at_max)
    good = cancel_all(ALICE, 6)
    add("cancel_all_one_byte_short", good[:-1], R.MALFORMED)
    add("cancel_all_one_byte_long", good + b"\x00", R.MALFORMED)
    return out


EDGES = _edges()

REQUIRED: dict[TxType, set[Reason]] = {
    TxType.CANCEL: {Reason.OK, Reason.MALFORMED, Reason.BAD_SIGNATURE, Reason.ALREADY_CANCELLED},
    TxType.CANCEL_ALL: {
        Reason.OK,
        Reason.MALFORMED,
        Reason.BAD_SIGNATURE,
        Reason.STALE_CANCEL_FLOOR,
    },
}
"""Every reason a transaction of each type can get (docs/protocol.md §6.10, §6.11)."""


def test_the_edge_cases_hold_every_reason_of_the_two_types() -> None:
    assert_edges_cover(EDGES, REQUIRED)
    assert len(BIGGEST.encode()) == 662


@pytest.mark.parametrize(("name", "s", "reason"), EDGES, ids=[e[0] for e in EDGES])
def test_edge_case_matches_the_reference(
    rule: Contract, name: str, s: Scenario, reason: Reason
) -> None:
    assert scenario_matches(rule, s, gas=True) == reason


# --------------------------------------------------------------------------- golden vectors

VECTORS_OF_THE_RULE = golden_vectors("cancel", "cancel_all")


@pytest.mark.parametrize(
    "vector", VECTORS_OF_THE_RULE, ids=[v["name"] for v in VECTORS_OF_THE_RULE]
)
def test_golden_vector(rule: Contract, vector: dict[str, Any]) -> None:
    golden_vector_matches(rule, vector, gas=True)


# --------------------------------------------------------------------------- property

PERTURBATIONS: dict[TxType, tuple[str, ...]] = {
    TxType.CANCEL: (
        "sig", "other_signer", "account_mismatch", "cancelled", "cancelled", "absent_order",
        "absent_account", "foreign_hash", "malformed",
    ),
    TxType.CANCEL_ALL: (
        "sig", "other_signer", "account_mismatch", "absent_account", "floor_equal",
        "floor_below", "floor_zero", "floor_max", "floor_max", "malformed",
    ),
}  # fmt: skip
"""What a steered scenario breaks (or pushes to an edge) in an otherwise valid transaction."""

floors = st.one_of(
    st.sampled_from([0, 1, 5, U64_MAX - 1, U64_MAX]), st.integers(0, 100), st.integers(0, U64_MAX)
)


@st.composite
def steered_scenarios(draw: st.DrawFn) -> Scenario:
    """A valid transaction of a random type with zero, one or two things broken or at an edge."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    tx_type = draw(st.sampled_from(list(PERTURBATIONS)))
    count = draw(st.sampled_from([0, 1, 1, 1, 2]))
    hows = {draw(st.sampled_from(PERTURBATIONS[tx_type])) for _ in range(count)}
    who = draw(st.sampled_from(TRADERS))
    # Other traders' accounts and orders, some sharing the target's order hashes.
    hashes = [rng.randbytes(32) for _ in range(4)]
    others = [t for t in TRADERS if t != who]
    accounts = {
        t.address: random_account(rng, t.address, rng.choice([0, 5, U64_MAX, rng.randrange(2**64)]))
        for t in others
        if rng.random() < 0.5
    }
    orders = {
        (t.address, hh): OrderState(rng.randrange(2**64), rng.random() < 0.5)
        for t in others
        for hh in hashes
        if rng.random() < 0.25
    }
    floor = draw(floors)
    if "absent_account" not in hows:
        accounts[who.address] = random_account(rng, who.address, floor)
    elif tx_type == TxType.CANCEL_ALL:
        floor = 0
    target = draw(st.sampled_from(hashes))
    account = who.address
    if "account_mismatch" in hows:
        account = draw(st.sampled_from([MALLORY.address, bytes(20)]))
    if tx_type == TxType.CANCEL:
        if "foreign_hash" in hows:
            orders[(MALLORY.address, target)] = OrderState(draw(floors), draw(st.booleans()))
        elif "absent_order" not in hows:
            filled = draw(floors)
            orders[(who.address, target)] = OrderState(filled, "cancelled" in hows)
        msg: SignedMessage = Cancel(account, target)
    else:
        if "floor_equal" in hows:
            new_floor = floor
        elif "floor_below" in hows:
            new_floor = draw(st.integers(0, floor))
        elif "floor_zero" in hows:
            new_floor = 0
        elif "floor_max" in hows:
            new_floor = U64_MAX
        else:
            new_floor = draw(st.integers(floor + 1, U64_MAX)) if floor < U64_MAX else floor
        msg = CancelAll(account, new_floor)
    key = MALLORY.key if "other_signer" in hows else who.key
    mode = draw(st.sampled_from(SIG_MODES[1:])) if "sig" in hows else "valid"
    leaves = state(list(accounts.values()), orders, extra=0)
    leaves.update(filler(rng, draw(st.integers(0, 40))))
    tx = sign(msg, key, mode)
    if "malformed" in hows:
        tx = draw(st.sampled_from([tx[:-1], tx + b"\x00", tx[: rng.randrange(1, len(tx))]]))
    return Scenario(leaves, tx, draw(st.integers(0, U64_MAX)))


@st.composite
def wild_scenarios(draw: st.DrawFn) -> Scenario:
    """Random accounts, orders and transactions, valid or not in any combination."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    people = [*TRADERS, MALLORY]
    accounts = [random_account(rng, t.address, draw(floors)) for t in people if draw(st.booleans())]
    hashes = [rng.randbytes(32) for _ in range(3)]
    orders = {
        (t.address, hh): OrderState(draw(floors), draw(st.booleans()))
        for t in people
        for hh in hashes
        if draw(st.booleans())
    }
    who = draw(st.sampled_from(people))
    account = draw(st.sampled_from([who.address] * 4 + [t.address for t in people]))
    msg: SignedMessage
    if draw(st.booleans()):
        msg = Cancel(
            account, draw(st.one_of(st.sampled_from(hashes), st.binary(min_size=32, max_size=32)))
        )
    else:
        msg = CancelAll(account, draw(floors))
    tx = sign(msg, who.key, draw(st.sampled_from(["valid"] * 10 + list(SIG_MODES[1:]))))
    cut = draw(st.integers(0, 15))
    if cut == 1:
        tx = tx[:-1]
    elif cut == 2:
        tx += bytes([rng.randrange(256)])
    leaves = state(accounts, orders, extra=0)
    leaves.update(filler(rng, draw(st.integers(0, 40))))
    return Scenario(leaves, tx, draw(st.integers(0, U64_MAX)))


scenarios = st.one_of(steered_scenarios(), steered_scenarios(), wild_scenarios())


@seed(20261126)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios)
@with_examples(representatives(EDGES))
def test_rule_matches_the_reference_on_random_states(rule: Contract, s: Scenario) -> None:
    reason = scenario_matches(rule, s)
    event(f"{TxType(s.tx[0]).name} {reason.name}")


# --------------------------------------------------------------------------- witness shape


def _call(rule: Contract, tx: bytes, keys: list[bytes], values: list[bytes]) -> Any:
    return rule.functions.apply(tx, T, 0, keys, values).call()


def _reverts(rule: Contract, tx: bytes, keys: list[bytes], values: list[bytes]) -> str:
    try:
        result = _call(rule, tx, keys, values)
    except ContractLogicError as err:
        return revert_message(err)
    raise AssertionError(f"apply did not revert (returned {result})")


LEAVES = state()
CASES = {
    "cancel": (cancel(ALICE, HASH_FILLED), order_key(ALICE.address, HASH_FILLED)),
    "cancel_all": (cancel_all(ALICE, 6), account_key(ALICE.address)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_witness_missing_the_leaf_reverts(rule: Contract, case: str) -> None:
    tx, _ = CASES[case]
    other = account_key(BOB.address)
    assert _reverts(rule, tx, [], []) == "rule: missing proof"
    message = _reverts(rule, tx, [other], [LEAVES[other]])
    assert message == "rule: missing proof"


@pytest.mark.parametrize("case", list(CASES))
def test_an_extra_leaf_is_left_out_of_the_read_mask(rule: Contract, case: str) -> None:
    tx, key = CASES[case]
    used, wkeys, wvalues = _call(rule, tx, [key], [LEAVES[key]])
    assert used == 1 and len(wkeys) == len(wvalues) == 1 and bytes(wkeys[0]) == key
    other = account_key(BOB.address)
    assert _call(rule, tx, [other, key], [LEAVES[other], LEAVES[key]]) == [0b10, wkeys, wvalues]
    assert _call(rule, tx, [key, other], [LEAVES[key], LEAVES[other]]) == [0b01, wkeys, wvalues]


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_signature_reads_nothing(rule: Contract, case: str) -> None:
    tx, key = CASES[case]
    bad = tx[:-1] + bytes([tx[-1] ^ 3])  # v = 27/28 -> 24/31
    assert _call(rule, bad, [], []) == [0, [], []]
    assert _call(rule, bad, [key], [LEAVES[key]]) == [0, [], []]


@pytest.mark.parametrize("case", list(CASES))
def test_a_malformed_transaction_reads_nothing(rule: Contract, case: str) -> None:
    tx, key = CASES[case]
    for bad in (tx[:1], tx[:-1], tx + b"\x00"):
        assert _call(rule, bad, [key], [LEAVES[key]]) == [0, [], []]


def test_an_account_leaf_of_another_address_reverts(rule: Contract) -> None:
    tx, key = CASES["cancel_all"]
    forged = Account(BOB.address, 0, 0, 0).encode()
    message = _reverts(rule, tx, [key], [forged])
    assert message == "cancel: account leaf of another address"


@pytest.mark.parametrize("case", list(CASES))
def test_an_undecodable_leaf_reverts(rule: Contract, case: str) -> None:
    tx, key = CASES[case]
    message = _reverts(rule, tx, [key], [LEAVES[key] + b"\x00"])
    assert message.startswith(("leaves: ", "rlp: ")), message


@pytest.mark.parametrize(
    "tx",
    [
        b"",
        b"\x00",
        b"\x01" + bytes(36),
        b"\x03" + bytes(93),
        b"\x05" + bytes(262),
        b"\x08" + bytes(138),
        b"\x0a" + bytes(125),
        b"\xff" + bytes(117),
    ],  # fmt: skip
    ids=["empty", "0x00", "DEPOSIT", "ORACLE_UPDATE", "FILL", "LIST_MARKET", "LIQUIDATE", "0xff"],
)
def test_another_transaction_type_reverts(rule: Contract, tx: bytes) -> None:
    key = account_key(ALICE.address)
    message = _reverts(rule, tx, [key], [LEAVES[key]])
    assert message == "cancel: not a cancel transaction"


def test_the_constructor_refuses_a_vault_that_is_not_a_contract(steps_chain: StepChain) -> None:
    with pytest.raises(ContractLogicError, match="cancel: vault not a contract"):
        _deploy(steps_chain.w3, steps_chain.deployer, "steps/CancelRule", steps_chain.deployer)
