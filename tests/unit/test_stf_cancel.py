"""CANCEL and CANCEL_ALL: effects, their interplay with FILL, every rejection and check order.

World and order defaults: see conftest (alice's default maker order sells 1 ETH with nonce 1,
bob's default taker order buys 1 ETH with nonce 1).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from optirollup.codec.tx import TxType
from optirollup.state.leaves import Account, OrderState
from optirollup.stf import Party, Reason, Receipt

# --------------------------------------------------------------------------- CANCEL


def test_a_cancel_marks_the_order_cancelled_and_touches_nothing_else(rollup) -> None:
    r = rollup
    mo = r.maker()
    out = r.apply(r.cancel(r.alice, mo.hash(r.ctx.separator)))
    assert out.receipt == Receipt(TxType.CANCEL)
    assert out.changed
    assert r.order_state(mo) == OrderState(0, True)
    assert r.account(r.alice) == Account(r.alice.address, collateral=10_000_000_000)


def test_a_cancelled_order_cannot_fill_as_maker(rollup) -> None:
    r = rollup
    r.ok(r.cancel(r.alice, r.maker().hash(r.ctx.separator)))
    out = r.apply(r.fill())
    assert out.receipt == Receipt(TxType.FILL, Reason.CANCELLED, Party.MAKER)
    assert not out.changed


def test_a_cancelled_order_cannot_fill_as_taker(rollup) -> None:
    r = rollup
    r.ok(r.cancel(r.bob, r.taker().hash(r.ctx.separator)))
    out = r.apply(r.fill())
    assert out.receipt == Receipt(TxType.FILL, Reason.CANCELLED, Party.TAKER)
    assert not out.changed


def test_cancelling_a_partly_filled_order_keeps_its_filled_amount_and_stops_the_rest(
    rollup,
) -> None:
    r = rollup
    mo = r.maker()
    r.ok(r.fill(mo, r.taker(), 30_000_000))
    r.ok(r.cancel(r.alice, mo.hash(r.ctx.separator)))
    assert r.order_state(mo) == OrderState(30_000_000, True)
    assert r.apply(r.fill(mo, r.taker(), 10_000_000)).receipt.reason is Reason.CANCELLED


def test_an_order_can_be_cancelled_before_it_is_ever_seen(rollup) -> None:
    r = rollup
    future = r.maker(nonce=42)
    r.ok(r.cancel(r.alice, future.hash(r.ctx.separator)))
    assert r.order_state(future) == OrderState(0, True)
    assert r.apply(r.fill(future, r.taker())).receipt == Receipt(
        TxType.FILL, Reason.CANCELLED, Party.MAKER
    )


def test_a_cancel_naming_someone_elses_order_hash_cannot_touch_that_order(rollup) -> None:
    r = rollup
    mo = r.maker()
    # bob signs a cancel of alice's order hash: it lands under bob's own key, harmlessly
    r.ok(r.cancel(r.bob, mo.hash(r.ctx.separator)))
    assert r.order_state(mo) == OrderState(0, False)
    assert r.apply(r.fill(mo, r.taker())).receipt.ok


def test_cancelling_an_order_twice_is_already_cancelled(rollup) -> None:
    r = rollup
    tx = r.cancel(r.alice, r.maker().hash(r.ctx.separator))
    r.ok(tx)
    out = r.apply(tx)
    assert out.receipt == Receipt(TxType.CANCEL, Reason.ALREADY_CANCELLED)
    assert not out.changed


def test_a_cancel_with_a_bad_signature_is_rejected(rollup, bad_sig: str) -> None:
    r = rollup
    out = r.apply(r.cancel(r.alice, r.maker().hash(r.ctx.separator), sig=bad_sig))
    assert out.receipt == Receipt(TxType.CANCEL, Reason.BAD_SIGNATURE)
    assert not out.changed
    assert r.apply(r.fill()).receipt.ok  # the order is still live


def test_a_bad_signature_is_reported_before_already_cancelled(rollup) -> None:
    r = rollup
    h = r.maker().hash(r.ctx.separator)
    r.ok(r.cancel(r.alice, h))
    out = r.apply(r.cancel(r.alice, h, sig="foreign"))
    assert out.receipt.reason is Reason.BAD_SIGNATURE
    assert not out.changed


# --------------------------------------------------------------------------- CANCEL_ALL


def test_cancel_all_raises_the_cancel_floor_and_nothing_else(rollup) -> None:
    r = rollup
    out = r.apply(r.cancel_all(r.alice, 5))
    assert out.receipt == Receipt(TxType.CANCEL_ALL)
    assert out.changed
    assert r.account(r.alice) == Account(r.alice.address, collateral=10_000_000_000, cancel_floor=5)


def test_cancel_all_on_an_account_without_a_leaf_creates_it_with_the_floor(rollup) -> None:
    r = rollup
    r.ok(r.cancel_all(r.dave, 3))
    assert r.account(r.dave) == Account(r.dave.address, cancel_floor=3)


NONCES = [
    pytest.param(4, Reason.CANCELLED, id="nonce_below_the_floor_is_dead"),
    pytest.param(0, Reason.CANCELLED, id="nonce_zero_is_dead"),
    pytest.param(5, Reason.OK, id="nonce_equal_to_the_floor_lives"),
    pytest.param(6, Reason.OK, id="nonce_above_the_floor_lives"),
]


@pytest.mark.parametrize(("nonce", "reason"), NONCES)
def test_cancel_all_kills_maker_orders_with_an_older_nonce(
    rollup, nonce: int, reason: Reason
) -> None:
    r = rollup
    r.ok(r.cancel_all(r.alice, 5))
    out = r.apply(r.fill(r.maker(nonce=nonce), r.taker()))
    assert out.receipt.reason is reason
    assert out.changed is (reason is Reason.OK)


@pytest.mark.parametrize(("nonce", "reason"), NONCES)
def test_cancel_all_kills_taker_orders_with_an_older_nonce(
    rollup, nonce: int, reason: Reason
) -> None:
    r = rollup
    r.ok(r.cancel_all(r.bob, 5))
    out = r.apply(r.fill(r.maker(), r.taker(nonce=nonce)))
    assert out.receipt.reason is reason
    if reason is Reason.CANCELLED:
        assert out.receipt.party is Party.TAKER


def test_cancel_all_stops_the_rest_of_a_partly_filled_order(rollup) -> None:
    r = rollup
    mo = r.maker()
    r.ok(r.fill(mo, r.taker(), 30_000_000), r.cancel_all(r.alice, 2))
    assert r.order_state(mo) == OrderState(30_000_000, False)  # the order leaf is untouched ...
    assert r.apply(r.fill(mo, r.taker(), 10_000_000)).receipt.reason is Reason.CANCELLED  # ... dead


def test_cancel_all_of_one_account_leaves_other_accounts_orders_alive(rollup) -> None:
    r = rollup
    r.ok(r.cancel_all(r.carol, 100))
    assert r.apply(r.fill()).receipt.ok


def test_the_cancel_floor_can_be_raised_again(rollup) -> None:
    r = rollup
    r.ok(r.cancel_all(r.alice, 5), r.cancel_all(r.alice, 7))
    assert r.account(r.alice).cancel_floor == 7


STALE_FLOORS = [
    pytest.param(None, 0, id="zero_on_a_fresh_account"),
    pytest.param(7, 7, id="equal_to_the_current_floor"),
    pytest.param(7, 6, id="below_the_current_floor"),
]


@pytest.mark.parametrize(("current", "floor"), STALE_FLOORS)
def test_cancel_all_that_does_not_raise_the_floor_is_stale(
    rollup, current: int | None, floor: int
) -> None:
    r = rollup
    if current is not None:
        r.ok(r.cancel_all(r.alice, current))
    out = r.apply(r.cancel_all(r.alice, floor))
    assert out.receipt == Receipt(TxType.CANCEL_ALL, Reason.STALE_CANCEL_FLOOR)
    assert not out.changed


def test_a_cancel_all_with_a_bad_signature_is_rejected(rollup, bad_sig: str) -> None:
    out = rollup.apply(rollup.cancel_all(rollup.alice, 5, sig=bad_sig))
    assert out.receipt == Receipt(TxType.CANCEL_ALL, Reason.BAD_SIGNATURE)
    assert not out.changed


CANCEL_ALL_ORDER: list = [
    pytest.param(
        lambda r: r.cancel_all(r.alice, 0, sig="v_raw"),
        Reason.BAD_SIGNATURE,
        id="bad_signature_before_stale_cancel_floor",
    ),
]


@pytest.mark.parametrize(("build", "reason"), CANCEL_ALL_ORDER)
def test_the_earlier_cancel_all_check_decides_when_two_fail(
    rollup, build: Callable[..., bytes], reason: Reason
) -> None:
    out = rollup.apply(build(rollup))
    assert out.receipt.reason is reason
    assert not out.changed
