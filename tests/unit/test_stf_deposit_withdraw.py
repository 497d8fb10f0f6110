"""DEPOSIT and WITHDRAW: effects, every rejection reason (a no-op on the root) and check order.

World (see conftest): alice, bob, carol hold 10_000_000_000 each after deposits 0–2; the next
deposit index is 3; ETH-PERP (market 1) is priced at 3_000_000_000.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from optirollup.codec import eip712
from optirollup.codec.tx import Side, TxType, Withdraw, encode_tx, message_hash
from optirollup.state.leaves import Account, Position, System, Withdrawal
from optirollup.stf import Party, Reason, Receipt
from optirollup.testkit import deposit_tx
from optirollup.units import MAX_COLLATERAL, U64_MAX

RECIPIENT = b"\x77" * 20

# --------------------------------------------------------------------------- DEPOSIT


def test_a_deposit_credits_a_new_account_and_advances_the_queue(rollup) -> None:
    out = rollup.apply(rollup.deposit(rollup.dave, 500_000_000))
    assert out.receipt == Receipt(TxType.DEPOSIT)
    assert out.changed
    assert rollup.account(rollup.dave) == Account(rollup.dave.address, collateral=500_000_000)
    assert rollup.system().next_deposit_index == 4


def test_a_deposit_adds_to_an_existing_balance(rollup) -> None:
    rollup.ok(rollup.deposit(rollup.alice, 1))
    assert rollup.account(rollup.alice).collateral == 10_000_000_001


def test_queued_deposits_are_consumed_in_order(rollup) -> None:
    first, second = rollup.deposit(rollup.dave, 7), rollup.deposit(rollup.dave, 11)
    rollup.ok(first, second)
    assert rollup.account(rollup.dave).collateral == 18
    assert rollup.system().next_deposit_index == 5


def test_a_deposit_may_bring_collateral_exactly_to_the_maximum(rollup) -> None:
    rollup.put_account(Account(rollup.dave.address, collateral=MAX_COLLATERAL - 1))
    rollup.ok(rollup.deposit(rollup.dave, 1))
    assert rollup.account(rollup.dave).collateral == MAX_COLLATERAL


def test_a_replayed_deposit_is_rejected(rollup) -> None:
    tx = rollup.deposit(rollup.dave, 500_000_000)
    rollup.ok(tx)
    out = rollup.apply(tx)
    assert out.receipt == Receipt(TxType.DEPOSIT, Reason.DEPOSIT_OUT_OF_ORDER)
    assert not out.changed
    assert rollup.account(rollup.dave).collateral == 500_000_000


def _unknown_index(r) -> bytes:
    return r.deposit(r.dave, 5, queue=False)  # index 3, but the Vault has recorded only 0–2


def _hash_mismatch(r) -> bytes:
    r.deposit(r.dave, 100)  # the Vault recorded 100 for entry 3 ...
    return deposit_tx(3, r.dave.address, 200)  # ... the sequencer claims 200


def _other_account(r) -> bytes:
    r.deposit(r.dave, 100)
    return deposit_tx(3, r.mallory.address, 100)


def _replay_of_entry_zero(r) -> bytes:
    return deposit_tx(0, r.alice.address, 10_000_000_000)


def _skipping_ahead(r) -> bytes:
    r.deposit(r.dave, 1)
    return r.deposit(r.dave, 2)  # entry 4 while 3 is pending


def _zero_amount(r) -> bytes:
    return r.deposit(r.dave, 0)


def _over_max_collateral(r) -> bytes:
    r.put_account(Account(r.dave.address, collateral=MAX_COLLATERAL))
    return r.deposit(r.dave, 1)


DEPOSIT_REJECTIONS = [
    pytest.param(_unknown_index, Reason.DEPOSIT_UNKNOWN, id="index_past_the_recorded_queue"),
    pytest.param(_hash_mismatch, Reason.DEPOSIT_UNKNOWN, id="amount_differs_from_the_vault"),
    pytest.param(_other_account, Reason.DEPOSIT_UNKNOWN, id="account_differs_from_the_vault"),
    pytest.param(_replay_of_entry_zero, Reason.DEPOSIT_OUT_OF_ORDER, id="entry_already_consumed"),
    pytest.param(_skipping_ahead, Reason.DEPOSIT_OUT_OF_ORDER, id="entry_after_the_next_one"),
    pytest.param(_zero_amount, Reason.BAD_AMOUNT, id="zero_amount"),
    pytest.param(_over_max_collateral, Reason.RANGE, id="collateral_over_the_maximum"),
]


@pytest.mark.parametrize(("build", "reason"), DEPOSIT_REJECTIONS)
def test_an_invalid_deposit_is_rejected_and_changes_nothing(
    rollup, build: Callable[..., bytes], reason: Reason
) -> None:
    tx = build(rollup)
    out = rollup.apply(tx)
    assert out.receipt == Receipt(TxType.DEPOSIT, reason)
    assert not out.changed


def test_an_unknown_deposit_is_reported_before_an_out_of_order_one(rollup) -> None:
    # entry 0 is consumed (out of order) and its recorded hash is for 10_000_000_000 (unknown)
    out = rollup.apply(deposit_tx(0, rollup.alice.address, 1))
    assert out.receipt.reason is Reason.DEPOSIT_UNKNOWN


def test_an_out_of_order_deposit_is_reported_before_a_zero_amount(rollup) -> None:
    rollup.deposit(rollup.dave, 1)
    out = rollup.apply(rollup.deposit(rollup.dave, 0))  # entry 4, amount 0
    assert out.receipt.reason is Reason.DEPOSIT_OUT_OF_ORDER


# --------------------------------------------------------------------------- WITHDRAW


def test_a_withdrawal_debits_collateral_bumps_the_nonce_and_creates_withdrawal_zero(rollup) -> None:
    out = rollup.apply(rollup.withdraw(rollup.alice, 1_000_000_000, recipient=RECIPIENT))
    assert out.receipt == Receipt(TxType.WITHDRAW)
    assert out.changed
    assert rollup.account(rollup.alice) == Account(
        rollup.alice.address, collateral=9_000_000_000, nonce=1
    )
    assert rollup.withdrawal(0) == Withdrawal(rollup.alice.address, RECIPIENT, 1_000_000_000)
    assert rollup.system().next_withdrawal_id == 1


def test_each_withdrawal_gets_the_next_id(rollup) -> None:
    rollup.ok(rollup.withdraw(rollup.bob, 5))
    rollup.ok(rollup.withdraw(rollup.alice, 6))
    rollup.ok(rollup.withdraw(rollup.bob, 7))  # the builder signs bob's current nonce, 1
    assert rollup.withdrawal(0) == Withdrawal(rollup.bob.address, rollup.bob.address, 5)
    assert rollup.withdrawal(1) == Withdrawal(rollup.alice.address, rollup.alice.address, 6)
    assert rollup.withdrawal(2) == Withdrawal(rollup.bob.address, rollup.bob.address, 7)
    assert rollup.withdrawal(3) is None
    assert rollup.system().next_withdrawal_id == 3
    assert rollup.account(rollup.bob).nonce == 2
    assert rollup.account(rollup.bob).collateral == 10_000_000_000 - 5 - 7


def test_a_withdrawal_of_all_collateral_without_positions_is_allowed(rollup) -> None:
    rollup.ok(rollup.withdraw(rollup.alice, 10_000_000_000))
    assert rollup.account(rollup.alice).collateral == 0


def test_a_withdrawal_settles_funding_before_debiting(rollup) -> None:
    r = rollup
    r.trade(r.maker(), r.taker(), 50_000_000)  # bob long 0.5 ETH, collateral 8_499_250_000
    r.ok(r.funding_tick(100, 150))  # index += 100 × 3_000_000_000 = 300_000_000_000
    r.ok(r.withdraw(r.bob, 1_000_000_000))
    # bob owes 0.5 ETH × 3e11 / 1e14 = 150_000
    assert r.account(r.bob) == Account(
        r.bob.address,
        collateral=8_499_250_000 - 150_000 - 1_000_000_000,
        nonce=1,
        positions=(Position(1, 50_000_000, 300_000_000_000),),
    )


def _bob_long_half_eth(r) -> None:
    # bob: collateral 10_000_000_000 − 1_500_000_000 − 750_000 = 8_499_250_000, +0.5 ETH worth
    # 1_500_000_000 ⇒ equity 9_999_250_000; initial 1_500_000_000 × 10% = 150_000_000
    r.trade(r.maker(), r.taker(), 50_000_000)


def test_a_withdrawal_may_leave_equity_exactly_at_the_initial_requirement(rollup) -> None:
    _bob_long_half_eth(rollup)
    out = rollup.apply(rollup.withdraw(rollup.bob, 9_999_250_000 - 150_000_000))
    assert out.receipt.ok
    assert rollup.account(rollup.bob).collateral == 8_499_250_000 - 9_849_250_000


def test_a_withdrawal_one_unit_past_the_initial_requirement_is_insufficient_margin(rollup) -> None:
    _bob_long_half_eth(rollup)
    out = rollup.apply(rollup.withdraw(rollup.bob, 9_849_250_001))
    assert out.receipt == Receipt(TxType.WITHDRAW, Reason.INSUFFICIENT_MARGIN)
    assert not out.changed


def test_a_replayed_withdrawal_is_rejected(rollup) -> None:
    tx = rollup.withdraw(rollup.alice, 1_000)
    rollup.ok(tx)
    out = rollup.apply(tx)
    assert out.receipt == Receipt(TxType.WITHDRAW, Reason.BAD_NONCE)
    assert not out.changed
    assert rollup.account(rollup.alice).collateral == 9_999_999_000
    assert rollup.withdrawal(1) is None


def _future_nonce(r) -> bytes:
    return r.withdraw(r.alice, 1, nonce=1)


def _zero_amount_withdrawal(r) -> bytes:
    return r.withdraw(r.alice, 0)


def _zero_recipient(r) -> bytes:
    return r.withdraw(r.alice, 1, recipient=b"\x00" * 20)


def _nonce_exhausted(r) -> bytes:
    r.put_account(Account(r.alice.address, collateral=10_000_000_000, nonce=U64_MAX))
    return r.withdraw(r.alice, 1)  # signed with nonce U64_MAX; the next nonce would not fit


def _more_than_collateral(r) -> bytes:
    return r.withdraw(r.alice, 10_000_000_001)


def _from_an_empty_account(r) -> bytes:
    return r.withdraw(r.mallory, 1)


def _collateral_below_minus_max(r) -> bytes:
    r.put_account(Account(r.alice.address, collateral=-MAX_COLLATERAL))
    return r.withdraw(r.alice, 1)


def _withdrawal_ids_exhausted(r) -> bytes:
    r.put_system(replace(r.system(), next_withdrawal_id=U64_MAX))
    return r.withdraw(r.alice, 1)


def _other_domain(r) -> bytes:
    other = eip712.Domain(chain_id=1, verifying_contract=b"\x11" * 20)
    msg = Withdraw(r.alice.address, r.alice.address, 1, 0)
    sig = eip712.sign(message_hash(msg, other.separator), r.alice.key)
    return encode_tx(replace(msg, signature=sig))


def _signed_for_another_account(r) -> bytes:
    # mallory signs a withdrawal of alice's funds to herself
    msg = Withdraw(r.alice.address, r.mallory.address, 1, 0)
    sig = eip712.sign(message_hash(msg, r.ctx.separator), r.mallory.key)
    return encode_tx(replace(msg, signature=sig))


WITHDRAW_REJECTIONS = [
    pytest.param(_signed_for_another_account, Reason.BAD_SIGNATURE, id="signed_by_a_stranger"),
    pytest.param(_other_domain, Reason.BAD_SIGNATURE, id="signed_for_another_domain"),
    pytest.param(_future_nonce, Reason.BAD_NONCE, id="nonce_ahead_of_the_account"),
    pytest.param(_zero_amount_withdrawal, Reason.BAD_AMOUNT, id="zero_amount"),
    pytest.param(_zero_recipient, Reason.BAD_RECIPIENT, id="zero_recipient"),
    pytest.param(_collateral_below_minus_max, Reason.RANGE, id="collateral_below_minus_max"),
    pytest.param(_nonce_exhausted, Reason.RANGE, id="nonce_exhausted"),
    pytest.param(_withdrawal_ids_exhausted, Reason.RANGE, id="withdrawal_ids_exhausted"),
    pytest.param(_more_than_collateral, Reason.INSUFFICIENT_MARGIN, id="more_than_collateral"),
    pytest.param(_from_an_empty_account, Reason.INSUFFICIENT_MARGIN, id="from_an_empty_account"),
]


@pytest.mark.parametrize(("build", "reason"), WITHDRAW_REJECTIONS)
def test_an_invalid_withdrawal_is_rejected_and_changes_nothing(
    rollup, build: Callable[..., bytes], reason: Reason
) -> None:
    tx = build(rollup)
    out = rollup.apply(tx)
    assert out.receipt == Receipt(TxType.WITHDRAW, reason, Party.NONE)
    assert not out.changed


def test_a_withdrawal_with_a_bad_signature_is_rejected(rollup, bad_sig: str) -> None:
    out = rollup.apply(rollup.withdraw(rollup.alice, 1, sig=bad_sig))
    assert out.receipt == Receipt(TxType.WITHDRAW, Reason.BAD_SIGNATURE)
    assert not out.changed


def test_a_failed_withdrawal_does_not_write_the_funding_it_settled(rollup) -> None:
    r = rollup
    r.trade(r.maker(), r.taker(), 50_000_000)
    r.ok(r.funding_tick(100, 150))
    before = r.account(r.bob)
    out = r.apply(r.withdraw(r.bob, 10**15))
    assert out.receipt.reason is Reason.INSUFFICIENT_MARGIN
    assert not out.changed
    assert r.account(r.bob) == before
    assert before.positions == (Position(1, 50_000_000, 0),)


WITHDRAW_ORDER = [
    pytest.param(
        lambda r: r.withdraw(r.alice, 1, nonce=9, sig="foreign"),
        Reason.BAD_SIGNATURE,
        id="bad_signature_before_bad_nonce",
    ),
    pytest.param(
        lambda r: r.withdraw(r.alice, 0, nonce=9),
        Reason.BAD_NONCE,
        id="bad_nonce_before_bad_amount",
    ),
    pytest.param(
        lambda r: r.withdraw(r.alice, 0, recipient=b"\x00" * 20),
        Reason.BAD_AMOUNT,
        id="bad_amount_before_bad_recipient",
    ),
    pytest.param(
        lambda r: r.withdraw(r.mallory, 10**12, recipient=b"\x00" * 20),
        Reason.BAD_RECIPIENT,
        id="bad_recipient_before_insufficient_margin",
    ),
    pytest.param(_collateral_below_minus_max, Reason.RANGE, id="range_before_insufficient_margin"),
]


@pytest.mark.parametrize(("build", "reason"), WITHDRAW_ORDER)
def test_the_earlier_withdrawal_check_decides_when_two_fail(
    rollup, build: Callable[..., bytes], reason: Reason
) -> None:
    # the RANGE case is also under-margined: equity −MAX_COLLATERAL − 1 < initial 0
    out = rollup.apply(build(rollup))
    assert out.receipt.reason is reason
    assert not out.changed


def test_a_withdrawal_that_would_exceed_the_id_range_is_range_even_when_under_margined(
    rollup,
) -> None:
    rollup.put_system(System(rollup.oracle.address, 3, U64_MAX, 0, 0))
    out = rollup.apply(rollup.withdraw(rollup.alice, 10**12))
    assert out.receipt.reason is Reason.RANGE


def test_a_short_may_withdraw_down_to_its_initial_requirement_and_no_further(rollup) -> None:
    # alice short 0.5 ETH: collateral 10_000_000_000 + 1_500_000_000 − 300_000 = 11_499_700_000,
    # equity 11_499_700_000 − 1_500_000_000 = 9_999_700_000, initial 150_000_000
    r = rollup
    r.trade(r.maker(side=Side.SELL), r.taker(), 50_000_000)
    r.ok(r.withdraw(r.alice, 9_999_700_000 - 150_000_000))
    out = r.apply(r.withdraw(r.alice, 1))
    assert out.receipt.reason is Reason.INSUFFICIENT_MARGIN
