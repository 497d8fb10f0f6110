"""WithdrawRule (contracts/steps/WithdrawRule.vy) against the reference STF, on a real EVM (anvil).

The rule re-executes one WITHDRAW (protocol §6.4) on leaves the step runner proved and returns
the leaves it writes. The reference is ``optirollup.stf.apply``; what it reads and writes comes
from ``optirollup.dispute.build_step_witness`` (``.reads`` in first-read order, ``.writes`` in
first-write order). Every case calls ``apply`` with exactly the leaves the reference read and
checks that the rule reads all of them and writes exactly what the reference wrote, in order
(nothing for a no-op). Signatures are made for ``testkit.DEFAULT_DOMAIN``, whose verifying
contract is the session's MockToken: the rule is deployed with it as the vault.
"""

# ruff: noqa: E402  (conftest_steps is registered for assertion rewriting before it is imported)

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

import pytest

pytest.register_assert_rewrite("conftest_steps")

from conftest_steps import (
    FOREIGN,
    SIGNER,
    U64_MAX,
    RuleRun,
    StepChain,
    T,
    _deploy,
    golden_vector_matches,
    golden_vectors,
    revert_message,
    rule_matches_reference,
)
from hypothesis import HealthCheck, event, example, given, seed, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from optirollup.codec import eip712
from optirollup.codec.tx import Withdraw, encode_tx
from optirollup.state.keys import SYSTEM_KEY, account_key, market_key, withdrawal_key
from optirollup.state.leaves import Account, Market, Position, System, Withdrawal
from optirollup.stf import Reason, margin
from optirollup.testkit import Signer, Trader
from optirollup.units import (
    MAX_BALANCE,
    MAX_COLLATERAL,
    MAX_FUNDING_INDEX,
    MAX_POSITION_SIZE,
    PPM,
    SIZE_SCALE,
    U32_MAX,
)

pytest_plugins = ["conftest_steps"]

WITHDRAW_VECTORS = golden_vectors("withdraw")
TRADERS = [Trader.of(f"withdraw-rule-{i}") for i in range(4)]
MALLORY = Trader.of("withdraw-rule-mallory")
WITHDRAW_REASONS = {
    Reason.OK,
    Reason.MALFORMED,
    Reason.BAD_SIGNATURE,
    Reason.BAD_NONCE,
    Reason.BAD_AMOUNT,
    Reason.BAD_RECIPIENT,
    Reason.RANGE,
    Reason.INSUFFICIENT_MARGIN,
}
GAS: list[int] = []
"""eth_estimateGas of every ``apply`` call of the property test."""


@pytest.fixture(scope="module")
def rule(steps_chain: StepChain) -> Contract:
    """Return the session's WithdrawRule (its vault: the default domain's verifying contract)."""
    return steps_chain.rules["WithdrawRule"]


def call(
    rule: Contract, tx: bytes, keys: list[bytes], values: list[bytes]
) -> tuple[int, list[bytes], list[bytes]]:
    """Return ``rule.apply(tx, T, 0, keys, values)`` (an ``eth_call``)."""
    used, wkeys, wvalues = rule.functions.apply(tx, T, 0, keys, values).call({"gas": 30_000_000})
    return int(used), [bytes(k) for k in wkeys], [bytes(v) for v in wvalues]


def reverts(rule: Contract, tx: bytes, keys: list[bytes], values: list[bytes]) -> str:
    """Return the revert message of ``rule.apply(...)`` (fail if it does not revert)."""
    try:
        out = call(rule, tx, keys, values)
    except ContractLogicError as err:
        return revert_message(err)
    raise AssertionError(f"apply did not revert (returned {out})")


# --------------------------------------------------------------------------- golden vectors


@pytest.mark.parametrize("vector", WITHDRAW_VECTORS, ids=[v["name"] for v in WITHDRAW_VECTORS])
def test_golden_vector(rule: Contract, vector: dict[str, Any]) -> None:
    golden_vector_matches(rule, vector)


def test_the_golden_vectors_cover_every_withdraw_reason() -> None:
    assert {Reason[v["expected"]["reason"]] for v in WITHDRAW_VECTORS} == WITHDRAW_REASONS


# --------------------------------------------------------------------------- property


@dataclass
class Scenario:
    """A random pre-state and WITHDRAW transaction of one kind."""

    kind: str
    leaves: dict[bytes, bytes]
    tx: bytes


# The kinds of transaction the generator builds, and the reason of those whose outcome is fixed
# by construction (the others land anywhere: the reference decides).
EXPECTED: dict[str, Reason | None] = {
    "free": None,  # an amount at most the free collateral, random state
    "random": None,  # a random amount
    "boundary": Reason.OK,  # equity == initial after the withdrawal
    "below": Reason.INSUFFICIENT_MARGIN,  # equity == initial - 1
    "other_key": Reason.BAD_SIGNATURE,
    "foreign_domain": Reason.BAD_SIGNATURE,
    "high_s": Reason.BAD_SIGNATURE,
    "bad_v": Reason.BAD_SIGNATURE,
    "bad_rs": Reason.BAD_SIGNATURE,
    "tampered": Reason.BAD_SIGNATURE,
    "wrong_nonce": Reason.BAD_NONCE,
    "zero_amount": Reason.BAD_AMOUNT,
    "zero_recipient": Reason.BAD_RECIPIENT,
    "nonce_max": Reason.RANGE,
    "ids_max": Reason.RANGE,
    "collateral_low": Reason.RANGE,
    "collateral_high": Reason.RANGE,
    "absent": Reason.INSUFFICIENT_MARGIN,
    "malformed": Reason.MALFORMED,
}
KINDS = list(EXPECTED)


def _market(rng: random.Random) -> Market:
    """Return a listed market with random prices, margin fractions and funding index."""
    kind = rng.choice([0, 0, 0, 1, 2])
    im = rng.choice([rng.randrange(1, PPM + 1), rng.randrange(0, U32_MAX + 1)])
    return Market(
        kind=kind,
        symbol=rng.randbytes(16),
        strike=rng.randrange(0, 10**10) if kind else 0,
        expiry=rng.randrange(0, 10**10) if kind else 0,
        lot_size=10 ** rng.randrange(0, 9),
        tick_size=10 ** rng.randrange(0, 9),
        im_ppm=im,
        mm_ppm=rng.randrange(0, im + 1),
        maker_fee_ppm=rng.randrange(0, 1000),
        taker_fee_ppm=rng.randrange(0, 1000),
        max_funding_ppm=rng.randrange(0, 10**5),
        oracle_price=rng.choice([0, rng.randrange(1, 10**12), rng.randrange(0, U64_MAX + 1)]),
        option_mark=rng.choice([0, rng.randrange(1, 10**10), U64_MAX]) if kind else 0,
        oracle_time=rng.randrange(0, T),
        funding_index=rng.choice(
            [
                0,
                rng.randrange(-(10**15), 10**15),
                rng.randrange(-MAX_FUNDING_INDEX, MAX_FUNDING_INDEX + 1),
                MAX_FUNDING_INDEX,
                -MAX_FUNDING_INDEX,
            ]
        ),
        funding_time=rng.randrange(0, T),
    )


def _snapshot(rng: random.Random, index: int) -> int:
    """Return a funding snapshot: settled, a little behind or ahead, or anywhere."""
    near = index + rng.randrange(-(10**16), 10**16)
    return rng.choice(
        [
            index,
            index,
            max(-MAX_FUNDING_INDEX, min(MAX_FUNDING_INDEX, near)),
            rng.randrange(-MAX_FUNDING_INDEX, MAX_FUNDING_INDEX + 1),
        ]
    )


def _positions(rng: random.Random, markets: dict[int, Market]) -> tuple[Position, ...]:
    """Return up to 8 positions in listed markets (sorted by market, no zero size)."""
    ids = sorted(rng.sample(sorted(markets), rng.randrange(0, min(8, len(markets)) + 1)))
    return tuple(
        Position(
            m,
            rng.choice([-1, 1])
            * rng.choice([rng.randrange(1, 10**10), rng.randrange(1, MAX_POSITION_SIZE + 1), 1]),
            _snapshot(rng, markets[m].funding_index),
        )
        for m in ids
    )


def _free_after(acc: Account, markets: dict[int, Market], amount: int) -> int:
    """Return equity − initial of ``acc`` after funding and a withdrawal of ``amount``."""
    settled = margin.settle_funding(acc, markets.__getitem__)
    r = margin.risk(replace(settled, collateral=settled.collateral - amount), markets.__getitem__)
    return r.equity - r.initial


def _settled_collateral(acc: Account, markets: dict[int, Market]) -> int:
    return margin.settle_funding(acc, markets.__getitem__).collateral


def _sign(msg: Withdraw, who: Trader, signer: Signer = SIGNER) -> Withdraw:
    return signer.sign(msg, who.key)


def _high_s(sig: bytes) -> bytes:
    """Return the malleable twin (r, n − s, v flipped) of a low-s signature."""
    s = int.from_bytes(sig[32:64], "big")
    return sig[:32] + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])


def build(seed_: int, kind: str) -> Scenario:
    """Return the scenario of ``kind`` for random seed ``seed_`` (deterministic)."""
    rng = random.Random(seed_)
    ids = {rng.choice([rng.randrange(0, 40), rng.randrange(0, U32_MAX + 1)]) for _ in range(12)}
    markets = {m: _market(rng) for m in sorted(ids)[: rng.randrange(1, len(ids) + 1)]}
    me = rng.choice(TRADERS)
    acc = Account(
        me.address,
        rng.choice(
            [0, rng.randrange(-(10**15), 10**15), rng.randrange(-MAX_COLLATERAL, MAX_COLLATERAL)]
        ),
        rng.choice([0, rng.randrange(1, 1000), U64_MAX - 1]),
        rng.choice([0, rng.randrange(0, U64_MAX + 1)]),
        _positions(rng, markets),
    )
    system = System(
        rng.randbytes(20),
        rng.randrange(0, 10**6),
        rng.choice([0, rng.randrange(1, 10**6), U64_MAX - 1]),
        rng.randrange(0, MAX_BALANCE + 1),
        rng.randrange(0, 10**12),
    )
    recipient = rng.choice([me.address, rng.randbytes(20)])
    amount = rng.choice([rng.randrange(1, 10**12), rng.randrange(1, U64_MAX + 1)])

    if kind in ("boundary", "below"):
        # Pick the collateral that leaves equity − initial at 0 (or −1) after the withdrawal;
        # equity is linear in collateral, and funding credits do not depend on it.
        target = 0 if kind == "boundary" else -1
        acc = replace(acc, collateral=0)
        collateral = target - _free_after(acc, markets, amount)
        if abs(collateral) > MAX_COLLATERAL or (
            abs(_settled_collateral(replace(acc, collateral=collateral), markets) - amount)
            > MAX_COLLATERAL
        ):
            acc = replace(acc, positions=())  # out of range with these positions: flat
            collateral = target - _free_after(acc, markets, amount)
        acc = replace(acc, collateral=collateral)
        assert _free_after(acc, markets, amount) == target
    elif kind == "free":
        free = _free_after(acc, markets, 0)
        amount = rng.randrange(1, max(2, min(free, U64_MAX) + 1))
    elif kind == "nonce_max":
        acc = replace(acc, nonce=U64_MAX)
    elif kind == "ids_max":
        system = replace(system, next_withdrawal_id=U64_MAX)
    elif kind == "collateral_low":
        # Funding settled: collateral − amount below −MAX_COLLATERAL by 1 or more.
        acc = replace(
            acc,
            collateral=-MAX_COLLATERAL + rng.randrange(0, min(amount, 5)),
            positions=tuple(
                replace(p, funding_snapshot=markets[p.market].funding_index) for p in acc.positions
            ),
        )
    elif kind == "collateral_high":
        # A funding credit lifts collateral at MAX_COLLATERAL past it by more than amount.
        amount = rng.randrange(1, 1000)
        m = rng.choice(sorted(markets))
        index = markets[m].funding_index
        gap = SIZE_SCALE * PPM * (amount + 2)
        size = -(10**8) if index >= 0 else 10**8
        lifted = Position(m, size, index - gap if index >= 0 else index + gap)
        others = tuple(
            replace(p, funding_snapshot=markets[p.market].funding_index)
            for p in acc.positions
            if p.market != m
        )[:7]  # room for the lifted one
        acc = replace(
            acc,
            collateral=MAX_COLLATERAL,
            positions=tuple(sorted((*others, lifted), key=lambda p: p.market)),
        )
    elif kind == "absent":
        acc = replace(acc, nonce=0)

    leaves = {market_key(m): mk.encode() for m, mk in markets.items()}
    for _ in range(rng.randrange(0, 6)):  # other accounts, in the same markets
        other = Account(rng.randbytes(20), rng.randrange(-(10**12), 10**12), 1, 0, ())
        leaves[account_key(other.address)] = replace(
            other, positions=_positions(rng, markets)
        ).encode()
    if kind != "absent":
        leaves[account_key(me.address)] = acc.encode()
    if system.next_withdrawal_id and rng.randrange(2):  # the previous withdrawal's leaf
        leaves[withdrawal_key(system.next_withdrawal_id - 1)] = Withdrawal(
            me.address, recipient, 1
        ).encode()
    leaves[SYSTEM_KEY] = system.encode()

    msg = Withdraw(me.address, recipient, amount, acc.nonce)
    if kind == "wrong_nonce":
        msg = replace(msg, nonce=(acc.nonce + rng.choice([1, -1, rng.randrange(2, 2**64)])) % 2**64)
    elif kind == "zero_amount":
        msg = replace(msg, amount=0)
    elif kind == "zero_recipient":
        msg = replace(msg, recipient=bytes(20))
    signed = _sign(msg, me)
    sig = signed.signature
    if kind == "other_key":
        signed = _sign(msg, rng.choice([MALLORY, *[t for t in TRADERS if t != me]]))
    elif kind == "foreign_domain":
        signed = _sign(msg, me, FOREIGN)
    elif kind == "high_s":
        signed = replace(signed, signature=_high_s(sig))
    elif kind == "bad_v":
        v = rng.choice([0, 1, 26, 29, 255, sig[64] ^ 1])
        signed = replace(signed, signature=sig[:64] + bytes([v]))
    elif kind == "bad_rs":
        r = rng.choice([0, eip712.SECP256K1_N, 2**256 - 1, int.from_bytes(sig[:32], "big")])
        s = rng.choice([0, eip712.SECP256K1_HALF_N + 1, eip712.SECP256K1_N])
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big") + sig[64:]
        signed = replace(signed, signature=rng.choice([raw, bytes(65)]))
    elif kind == "tampered":
        field = rng.choice(["account", "recipient", "amount", "nonce"])
        if field == "account":
            signed = replace(signed, account=rng.choice([t for t in TRADERS if t != me]).address)
        elif field == "recipient":
            signed = replace(signed, recipient=bytes(x ^ 1 for x in recipient))
        elif field == "amount":
            signed = replace(signed, amount=amount ^ 1)
        else:
            signed = replace(signed, nonce=acc.nonce ^ 1)
    tx = encode_tx(signed)
    if kind == "malformed":
        tx = (
            tx[: rng.randrange(1, len(tx))]
            if rng.randrange(2)
            else tx + rng.randbytes(rng.randrange(1, 40))
        )
    return Scenario(kind, leaves, tx)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    return build(draw(st.integers(0, 2**32)), draw(st.sampled_from(KINDS)))


def _run(rule: Contract, s: Scenario) -> Reason:
    run = rule_matches_reference(rule, s.leaves, s.tx, gas=True)
    expected = EXPECTED[s.kind]
    assert expected is None or run.reason == expected, (s.kind, run.reason)
    assert run.gas is not None
    GAS.append(run.gas)
    return run.reason


# One fixed example per reason code: every reason is exercised in every run, whatever the profile.
FIXED = [
    (1, "boundary"),
    (2, "below"),
    (3, "other_key"),
    (4, "wrong_nonce"),
    (5, "zero_amount"),
    (6, "zero_recipient"),
    (7, "ids_max"),
    (8, "malformed"),
]


@seed(20261202)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
@example(build(*FIXED[0]))
@example(build(*FIXED[1]))
@example(build(*FIXED[2]))
@example(build(*FIXED[3]))
@example(build(*FIXED[4]))
@example(build(*FIXED[5]))
@example(build(*FIXED[6]))
@example(build(*FIXED[7]))
def test_rule_matches_the_reference(rule: Contract, s: Scenario) -> None:
    event(_run(rule, s).name)
    event(s.kind)


def test_the_fixed_examples_cover_every_withdraw_reason() -> None:
    reasons = {EXPECTED[kind] for _, kind in FIXED}
    assert reasons == WITHDRAW_REASONS


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_at_fixed_seeds(rule: Contract, kind: str) -> None:
    """Each kind of transaction at a few fixed seeds (the generator's promises included)."""
    for seed_ in range(3):
        _run(rule, build(1000 + seed_, kind))


def test_the_boundary_is_exact() -> None:
    """``boundary`` and ``below`` differ in one unit of the account's collateral, nothing else."""
    for seed_ in range(20):
        at, under = build(seed_, "boundary"), build(seed_, "below")
        assert at.tx == under.tx and at.leaves.keys() == under.leaves.keys()
        changed = [k for k in at.leaves if at.leaves[k] != under.leaves[k]]
        assert len(changed) == 1
        a, b = Account.decode(at.leaves[changed[0]]), Account.decode(under.leaves[changed[0]])
        assert b == replace(a, collateral=a.collateral - 1) or a.positions != b.positions


# --------------------------------------------------------------------------- witness shape


def _crowded(rule: Contract) -> RuleRun:
    """An OK withdrawal from an account with 8 positions, funding unsettled on all of them."""
    me = TRADERS[0]
    perp = Market(0, b"PERP".ljust(16, b"\x00"), 0, 0, 10**6, 10**4, 100_000, 50_000, 200, 500,
                  10_000)  # fmt: skip
    markets = {
        m: replace(perp, oracle_price=3_000 * 10**6 + m, funding_index=-999_041_111_181 * m)
        for m in range(1, 10)
    }
    positions = tuple(Position(m, (-1) ** m * 10**8 * m, -7 * m) for m in range(1, 9))
    acc = Account(me.address, 10**13, 3, 0, positions)
    leaves = {market_key(m): mk.encode() for m, mk in markets.items()}
    leaves[account_key(me.address)] = acc.encode()
    leaves[SYSTEM_KEY] = System(MALLORY.address, 4, 9).encode()
    tx = encode_tx(_sign(Withdraw(me.address, b"\x42" * 20, 10**9, 3), me))
    out = rule_matches_reference(rule, leaves, tx)
    assert out.built.receipt.reason == Reason.OK
    return out


def test_reads_and_writes_follow_the_reference_order(rule: Contract) -> None:
    out = _crowded(rule)
    me = TRADERS[0].address
    assert out.keys == [account_key(me), *(market_key(m) for m in range(1, 9)), SYSTEM_KEY]
    assert [k for k, _ in out.writes] == [account_key(me), SYSTEM_KEY, withdrawal_key(9)]
    new = Account.decode(out.writes[0][1])
    assert new.nonce == 4
    assert [p.funding_snapshot for p in new.positions] == [
        -999_041_111_181 * m for m in range(1, 9)
    ]
    assert System.decode(out.writes[1][1]).next_withdrawal_id == 10
    assert Withdrawal.decode(out.writes[2][1]) == Withdrawal(me, b"\x42" * 20, 10**9)


READ_NAMES = ["account", *[f"market {m}" for m in range(1, 9)], "system"]


@pytest.mark.parametrize("missing", range(10), ids=READ_NAMES)
def test_a_witness_missing_a_leaf_reverts(rule: Contract, missing: int) -> None:
    out = _crowded(rule)
    keys = out.keys[:missing] + out.keys[missing + 1 :]
    values = out.values[:missing] + out.values[missing + 1 :]
    assert reverts(rule, out.tx, keys, values) == "rule: missing proof"


@pytest.mark.parametrize(
    "extra",
    [withdrawal_key(9), account_key(MALLORY.address), market_key(9)],
    ids=["the withdrawal written", "another account", "an unused market"],
)
@pytest.mark.parametrize("where", [0, 5, 10], ids=["first", "middle", "last"])
def test_an_extra_leaf_is_not_marked_used(rule: Contract, extra: bytes, where: int) -> None:
    out = _crowded(rule)
    keys = [*out.keys[:where], extra, *out.keys[where:]]
    values = [*out.values[:where], b"\x01", *out.values[where:]]
    used, wkeys, wvalues = call(rule, out.tx, keys, values)
    assert used == ((1 << len(keys)) - 1) ^ (1 << where)
    assert list(zip(wkeys, wvalues, strict=True)) == out.writes


def test_the_witness_order_does_not_matter(rule: Contract) -> None:
    out = _crowded(rule)
    order = list(range(len(out.keys)))
    random.Random(5).shuffle(order)
    keys, values = [out.keys[i] for i in order], [out.values[i] for i in order]
    used, wkeys, wvalues = call(rule, out.tx, keys, values)
    assert used == (1 << len(keys)) - 1
    assert list(zip(wkeys, wvalues, strict=True)) == out.writes


def test_a_failing_check_reads_only_what_comes_before_it(rule: Contract) -> None:
    """BAD_NONCE after the account read: the markets and system are not needed (nor used)."""
    out = _crowded(rule)
    me = TRADERS[0]
    tx = encode_tx(_sign(Withdraw(me.address, b"\x42" * 20, 10**9, 4), me))
    assert call(rule, tx, out.keys[:1], out.values[:1]) == (1, [], [])
    assert call(rule, tx, out.keys, out.values) == (1, [], [])
    bad_sig = tx[:-1] + bytes([tx[-1] ^ 1])
    assert call(rule, bad_sig, [], []) == (0, [], [])


@pytest.mark.parametrize("length", [0, 1, 121, 123, 512])
def test_a_malformed_withdraw_reads_nothing(rule: Contract, length: int) -> None:
    out = _crowded(rule)
    tx = (out.tx + bytes(512))[:length]
    if length == 0:
        assert reverts(rule, tx, out.keys, out.values) == "withdraw: not a WITHDRAW"
    else:
        assert call(rule, tx, out.keys, out.values) == (0, [], [])


@pytest.mark.parametrize("type_byte", [0x00, 0x01, 0x03, 0x05, 0xFF])
def test_another_type_reverts(rule: Contract, type_byte: int) -> None:
    out = _crowded(rule)
    tx = bytes([type_byte]) + out.tx[1:]
    assert reverts(rule, tx, out.keys, out.values) == "withdraw: not a WITHDRAW"


# --------------------------------------------------------------------------- corrupt states


def test_an_account_leaf_of_another_address_reverts(rule: Contract) -> None:
    out = _crowded(rule)
    other = Account.decode(out.values[0])
    values = [replace(other, address=MALLORY.address).encode(), *out.values[1:]]
    message = reverts(rule, out.tx, out.keys, values)
    assert message == "withdraw: account leaf of another address"


def test_a_position_in_an_unlisted_market_reverts(rule: Contract) -> None:
    """The reference asserts too (``state corrupt``); no state from genesis has one."""
    out = _crowded(rule)
    values = [*out.values[:3], b"", *out.values[4:]]
    message = reverts(rule, out.tx, out.keys, values)
    assert message == "withdraw: position in an unlisted market"


def test_a_state_without_system_leaf_reverts(rule: Contract) -> None:
    out = _crowded(rule)
    assert reverts(rule, out.tx, out.keys, [*out.values[:-1], b""]) == "withdraw: no system leaf"


@pytest.mark.parametrize("which", [0, 4, 9], ids=["account", "market", "system"])
def test_an_undecodable_leaf_reverts(rule: Contract, which: int) -> None:
    out = _crowded(rule)
    values = list(out.values)
    values[which] = values[which][:-1]
    message = reverts(rule, out.tx, out.keys, values)
    assert message.startswith(("leaves: ", "rlp: ")), message


def test_the_constructor_rejects_a_vault_without_code(steps_chain: StepChain) -> None:
    with pytest.raises(ContractLogicError) as err:
        _deploy(
            steps_chain.w3,
            steps_chain.deployer,
            "steps/WithdrawRule",
            Web3.to_checksum_address(MALLORY.address),
        )
    assert revert_message(err.value) == "withdraw: vault not a contract"


# --------------------------------------------------------------------------- gas


def test_gas_of_apply(rule: Contract) -> None:
    out = _crowded(rule)
    gas = rule.functions.apply(out.tx, T, 0, out.keys, out.values).estimate_gas()
    print(f"\nWITHDRAW apply, 8 positions, OK: {gas:,} gas (eth_estimateGas)")
    if GAS:
        print(f"WITHDRAW apply, property test: max {max(GAS):,} gas over {len(GAS)} calls")
    assert gas < 1_000_000
