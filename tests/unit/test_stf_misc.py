"""Malformed bytes, reserved types, receipts, signature edge cases and whole-batch execution."""

from __future__ import annotations

from dataclasses import replace

import coincurve
import pytest
from eth_hash.auto import keccak

from optirollup.codec import eip712
from optirollup.codec.tx import (
    Deleverage,
    Fill,
    Liquidate,
    SetSettlement,
    SettlePosition,
    SignedOrder,
    TxType,
    Withdraw,
    encode_tx,
)
from optirollup.stf import Party, Reason, Receipt, apply
from optirollup.stf.batch import execute, trace

# The exact length of every type, type byte included (docs/protocol.md).
LENGTHS = {
    TxType.DEPOSIT: 37,
    TxType.WITHDRAW: 122,
    TxType.ORACLE_UPDATE: 94,
    TxType.FUNDING_TICK: 82,
    TxType.FILL: 263,
    TxType.CANCEL: 118,
    TxType.CANCEL_ALL: 94,
    TxType.LIST_MARKET: 139,
    TxType.SET_SETTLEMENT: 86,
    TxType.LIQUIDATE: 126,
    TxType.DELEVERAGE: 53,
    TxType.SETTLE_POSITION: 25,
}

# --------------------------------------------------------------------------- MALFORMED


def test_an_empty_transaction_is_malformed_with_type_minus_one(rollup) -> None:
    out = rollup.apply(b"")
    assert out.receipt == Receipt(-1, Reason.MALFORMED)
    assert not out.changed


@pytest.mark.parametrize(
    "data",
    [b"\x00", b"\x00" * 37, b"\x0d" + b"\x00" * 24, b"\x7f", b"\xff" * 263],
    ids=["type_0x00_alone", "type_0x00_deposit_length", "type_0x0d", "type_0x7f", "type_0xff"],
)
def test_an_unknown_type_byte_is_malformed(rollup, data: bytes) -> None:
    out = rollup.apply(data)
    assert out.receipt == Receipt(data[0], Reason.MALFORMED)
    assert not out.changed


@pytest.mark.parametrize(
    "delta", [-1, +1, None], ids=["one_byte_short", "one_byte_long", "type_byte_only"]
)
@pytest.mark.parametrize("tx_type", list(LENGTHS), ids=[t.name.lower() for t in LENGTHS])
def test_a_transaction_of_the_wrong_length_is_malformed(rollup, tx_type: TxType, delta) -> None:
    n = 1 if delta is None else LENGTHS[tx_type] + delta
    data = bytes([tx_type]) + b"\x00" * (n - 1)
    out = rollup.apply(data)
    assert out.receipt == Receipt(tx_type, Reason.MALFORMED)
    assert not out.changed


def test_a_valid_fill_with_one_extra_byte_is_malformed(rollup) -> None:
    tx = rollup.fill()
    assert len(tx) == 263
    out = rollup.apply(tx + b"\x00")
    assert out.receipt == Receipt(TxType.FILL, Reason.MALFORMED)
    assert not out.changed
    assert rollup.apply(tx).receipt.ok  # the same fill without the byte is fine


def test_a_valid_deposit_truncated_by_one_byte_is_malformed(rollup) -> None:
    tx = rollup.deposit(rollup.dave, 5)
    assert rollup.apply(tx[:-1]).receipt == Receipt(TxType.DEPOSIT, Reason.MALFORMED)
    assert rollup.apply(tx).receipt.ok


# Bodies of the right length but arbitrary content decode, then fail a rule (never raise).
FILLED_BODIES = [
    pytest.param(TxType.DEPOSIT, 0x00, Reason.DEPOSIT_UNKNOWN, Party.NONE, id="deposit_zeros"),
    pytest.param(TxType.DEPOSIT, 0xFF, Reason.DEPOSIT_UNKNOWN, Party.NONE, id="deposit_ones"),
    pytest.param(TxType.WITHDRAW, 0x00, Reason.BAD_SIGNATURE, Party.NONE, id="withdraw_zeros"),
    pytest.param(TxType.WITHDRAW, 0xFF, Reason.BAD_SIGNATURE, Party.NONE, id="withdraw_ones"),
    pytest.param(TxType.ORACLE_UPDATE, 0x00, Reason.BAD_SIGNATURE, Party.NONE, id="oracle_zeros"),
    pytest.param(TxType.FUNDING_TICK, 0xFF, Reason.BAD_SIGNATURE, Party.NONE, id="funding_ones"),
    pytest.param(TxType.FILL, 0x00, Reason.SAME_SIDE, Party.NONE, id="fill_zeros"),
    pytest.param(TxType.FILL, 0xFF, Reason.BAD_ORDER, Party.MAKER, id="fill_ones"),
    pytest.param(TxType.CANCEL, 0x00, Reason.BAD_SIGNATURE, Party.NONE, id="cancel_zeros"),
    pytest.param(TxType.CANCEL_ALL, 0xFF, Reason.BAD_SIGNATURE, Party.NONE, id="cancel_all_ones"),
    pytest.param(TxType.LIST_MARKET, 0x00, Reason.BAD_SIGNATURE, Party.NONE, id="list_zeros"),
]


@pytest.mark.parametrize(("tx_type", "fill_byte", "reason", "party"), FILLED_BODIES)
def test_a_right_length_body_of_arbitrary_bytes_is_rejected_by_a_rule_not_an_exception(
    rollup, tx_type: TxType, fill_byte: int, reason: Reason, party: Party
) -> None:
    data = bytes([tx_type]) + bytes([fill_byte]) * (LENGTHS[tx_type] - 1)
    out = rollup.apply(data)
    assert out.receipt == Receipt(tx_type, reason, party)
    assert not out.changed


# --------------------------------------------------------------------------- reserved types


def _reserved(r, tx_type: TxType) -> bytes:
    if tx_type is TxType.SET_SETTLEMENT:
        return r._sign(SetSettlement(1, 3_000_000_000, 500), r.oracle.key, None)
    if tx_type is TxType.LIQUIDATE:
        return r._sign(
            Liquidate(r.carol.address, r.bob.address, 1, 100_000, 10**9), r.carol.key, None
        )
    if tx_type is TxType.DELEVERAGE:
        return encode_tx(Deleverage(r.bob.address, r.alice.address, 1, 100_000))
    return encode_tx(SettlePosition(r.bob.address, 1))


RESERVED = [TxType.SET_SETTLEMENT, TxType.LIQUIDATE, TxType.DELEVERAGE, TxType.SETTLE_POSITION]


@pytest.mark.parametrize("tx_type", RESERVED, ids=[t.name.lower() for t in RESERVED])
def test_a_well_formed_reserved_transaction_is_unsupported_and_changes_nothing(
    rollup, tx_type: TxType
) -> None:
    tx = _reserved(rollup, tx_type)
    assert len(tx) == LENGTHS[tx_type]
    out = rollup.apply(tx)
    assert out.receipt == Receipt(tx_type, Reason.UNSUPPORTED)
    assert not out.changed


@pytest.mark.parametrize("tx_type", RESERVED, ids=[t.name.lower() for t in RESERVED])
def test_a_reserved_transaction_of_the_wrong_length_is_malformed_not_unsupported(
    rollup, tx_type: TxType
) -> None:
    tx = _reserved(rollup, tx_type)
    assert rollup.apply(tx + b"\x00").receipt == Receipt(tx_type, Reason.MALFORMED)


# --------------------------------------------------------------------------- receipts

DESCRIPTIONS = [
    pytest.param(Receipt(TxType.DEPOSIT), "DEPOSIT: OK", id="ok"),
    pytest.param(
        Receipt(TxType.FILL, Reason.INSUFFICIENT_MARGIN, Party.TAKER),
        "FILL: INSUFFICIENT_MARGIN (taker)",
        id="fill_with_party",
    ),
    pytest.param(
        Receipt(TxType.FILL, Reason.BAD_ORDER, Party.MAKER),
        "FILL: BAD_ORDER (maker)",
        id="fill_maker",
    ),
    pytest.param(Receipt(-1, Reason.MALFORMED), "empty: MALFORMED", id="empty"),
    pytest.param(Receipt(0xFF, Reason.MALFORMED), "0xff: MALFORMED", id="unknown_type"),
]


@pytest.mark.parametrize(("receipt", "text"), DESCRIPTIONS)
def test_a_receipt_describes_its_type_reason_and_party(receipt: Receipt, text: str) -> None:
    assert receipt.describe() == text


def test_only_an_ok_receipt_is_ok() -> None:
    assert Receipt(TxType.FILL).ok
    assert not Receipt(TxType.FILL, Reason.OVERFILL, Party.MAKER).ok


# --------------------------------------------------------------------------- signatures


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _bare_ecrecover(digest: bytes, sig: bytes) -> bytes:
    """Recover like the EVM precompile minus the low-s rule (libsecp256k1 accepts high s)."""
    pub = coincurve.PublicKey.from_signature_and_message(
        sig[:64] + bytes([sig[64] - 27]), digest, hasher=None
    )
    return bytes(keccak(pub.format(compressed=False)[1:])[12:])


def test_the_high_s_twin_of_a_signature_recovers_the_signer_with_a_bare_ecrecover(rollup) -> None:
    """Check the premise of the high-s tests: only the protocol's low-s rule rejects the twin."""
    r = rollup
    mo = r.maker()
    digest = mo.hash(r.ctx.separator)
    good, twin = r.order_signature(mo), r.order_signature(mo, "high_s")
    assert twin[:32] == good[:32]
    assert int.from_bytes(good[32:64], "big") + int.from_bytes(twin[32:64], "big") == SECP256K1_N
    assert {good[64], twin[64]} == {27, 28}
    assert _bare_ecrecover(digest, twin) == _bare_ecrecover(digest, good) == r.alice.address
    assert eip712.recover(digest, good) == r.alice.address
    assert eip712.recover(digest, twin) == b"\x00" * 20


def test_a_fill_with_the_high_s_twin_of_a_valid_maker_signature_is_rejected(rollup) -> None:
    out = rollup.apply(rollup.fill(maker_sig="high_s"))
    assert out.receipt == Receipt(TxType.FILL, Reason.BAD_SIGNATURE, Party.MAKER)
    assert not out.changed


@pytest.mark.parametrize("v", [0, 1, 26, 29, 255], ids=["v0", "v1", "v26", "v29", "v255"])
def test_a_signature_whose_v_is_not_27_or_28_is_rejected(rollup, v: int) -> None:
    r = rollup
    mo = r.maker()
    good = r.order_signature(mo)
    bad = good[:64] + bytes([v])
    tx = encode_tx(
        Fill(SignedOrder(mo, bad), SignedOrder(r.taker(), r.order_signature(r.taker())), 50_000_000)
    )
    out = r.apply(tx)
    assert out.receipt == Receipt(TxType.FILL, Reason.BAD_SIGNATURE, Party.MAKER)
    assert not out.changed


def test_an_invalid_signature_cannot_authorize_a_withdrawal_from_the_zero_address(rollup) -> None:
    r = rollup
    zero = b"\x00" * 20
    r.ok(r.deposit(zero, 1_000))  # anyone can fund the zero account through the Vault
    msg = Withdraw(zero, r.mallory.address, 1_000, 0, b"\x00" * 65)
    out = r.apply(encode_tx(msg))
    assert out.receipt == Receipt(TxType.WITHDRAW, Reason.BAD_SIGNATURE)
    assert not out.changed


def test_an_invalid_signature_cannot_authorize_an_order_of_the_zero_address(rollup) -> None:
    r = rollup
    zero_order = replace(r.maker(), account=b"\x00" * 20)
    taker = r.taker()
    tx = encode_tx(
        Fill(
            SignedOrder(zero_order, b"\x00" * 65),
            SignedOrder(taker, r.order_signature(taker)),
            50_000_000,
        )
    )
    out = r.apply(tx)
    assert out.receipt == Receipt(TxType.FILL, Reason.BAD_SIGNATURE, Party.MAKER)
    assert not out.changed


def test_a_signature_recovery_cache_gives_the_same_results_and_is_filled(
    rollup, world_state, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = rollup
    txs = [r.fill(size=50_000_000), r.fill(maker_sig="high_s"), r.withdraw(r.alice, 5)]
    plain = [apply(r.state, tx, r.ctx) for tx in txs]
    cached_state = world_state()
    r.ctx.signer_cache = {}
    cached = [apply(cached_state, tx, r.ctx) for tx in txs]
    assert cached == plain
    assert cached_state.root() == r.state.root()
    # two orders + one rejected maker signature (the taker is never recovered) + one withdrawal
    assert len(r.ctx.signer_cache) == 4

    def no_recovery(digest: bytes, signature: bytes) -> bytes:
        raise AssertionError("recovered a signature the cache already holds")

    monkeypatch.setattr(eip712, "recover", no_recovery)
    again = world_state()
    assert [apply(again, tx, r.ctx) for tx in txs] == plain  # answered from the cache
    assert again.root() == r.state.root()


# --------------------------------------------------------------------------- batches


def _batch(r) -> list[bytes]:
    return [
        r.deposit(r.dave, 500_000_000),  # 0 OK
        r.fill(size=50_000_000),  # 1 OK
        r.fill(size=60_000_000),  # 2 OVERFILL (maker): 0.5 + 0.6 > 1 ETH
        r.withdraw(r.alice, 1_000_000),  # 3 OK
        b"\xff",  # 4 MALFORMED
        r.cancel_all(r.bob, 3),  # 5 OK
    ]


BATCH_REASONS = [
    Reason.OK,
    Reason.OK,
    Reason.OVERFILL,
    Reason.OK,
    Reason.MALFORMED,
    Reason.OK,
]


def test_execute_returns_every_receipt_and_only_the_roots_asked_for(rollup) -> None:
    r = rollup
    txs = _batch(r)
    result = execute(r.state, txs, r.ctx, roots_after=[1, 2])
    assert [x.reason for x in result.receipts] == BATCH_REASONS
    assert result.receipts[2].party is Party.MAKER
    assert set(result.roots) == {1, 2}
    assert result.roots[1] == result.roots[2]  # the rejected fill left the root alone
    assert result.post_root == r.state.root()


def test_execute_gives_the_same_post_root_as_applying_one_by_one(rollup, world_state) -> None:
    r = rollup
    txs = _batch(r)
    fast = execute(world_state(), txs, r.ctx)
    assert fast.roots == {}
    for tx in txs:
        apply(r.state, tx, r.ctx)
    assert fast.post_root == r.state.root()
    assert r.account(r.dave).collateral == 500_000_000
    assert r.account(r.bob).cancel_floor == 3


def test_trace_lists_the_pre_root_and_the_root_after_every_transaction(rollup, world_state) -> None:
    r = rollup
    txs = _batch(r)
    pre = r.state.root()
    roots = trace(world_state(), txs, r.ctx)
    assert len(roots) == len(txs) + 1
    assert roots[0] == pre
    stepwise = [pre]
    for tx in txs:
        apply(r.state, tx, r.ctx)
        stepwise.append(r.state.root())
    assert roots == stepwise
    # a root repeats exactly where a transaction was rejected
    repeats = [roots[i + 1] == roots[i] for i in range(len(txs))]
    assert repeats == [reason is not Reason.OK for reason in BATCH_REASONS]
    assert roots[-1] == execute(world_state(), txs, r.ctx).post_root


def test_an_empty_batch_leaves_the_root_unchanged(rollup, world_state) -> None:
    pre = rollup.state.root()
    result = execute(rollup.state, [], rollup.ctx)
    assert result == type(result)((), pre, {})
    assert trace(world_state(), [], rollup.ctx) == [pre]


def test_a_batch_of_only_rejected_transactions_leaves_the_root_unchanged(rollup) -> None:
    r = rollup
    txs = [b"", b"\x05", r.fill(size=0), r.withdraw(r.alice, 0), r.cancel_all(r.alice, 0)]
    pre = r.state.root()
    result = execute(r.state, txs, r.ctx, roots_after=range(len(txs)))
    assert [x.ok for x in result.receipts] == [False] * 5
    assert result.post_root == pre
    assert set(result.roots.values()) == {pre}


# --------------------------------------------------------------------------- reason codes

NORMATIVE_REASONS = {
    "OK": 0, "MALFORMED": 1, "UNSUPPORTED": 2, "BAD_SIGNATURE": 3,
    "DEPOSIT_UNKNOWN": 10, "DEPOSIT_OUT_OF_ORDER": 11, "BAD_NONCE": 12,
    "STALE_CANCEL_FLOOR": 13, "ALREADY_CANCELLED": 14, "BAD_AMOUNT": 15, "BAD_RECIPIENT": 16,
    "MARKET_NOT_FOUND": 20, "MARKET_EXISTS": 21, "BAD_MARKET_PARAMS": 22, "STALE_TIME": 23,
    "BAD_PRICE": 24, "FUNDING_CAP": 25, "NO_PRICE": 26,
    "MARKET_MISMATCH": 30, "SAME_SIDE": 31, "SELF_TRADE": 32, "BAD_ORDER": 33, "EXPIRED": 34,
    "CANCELLED": 35, "BAD_LOT": 36, "BAD_TICK": 37, "OVERFILL": 38, "PRICE_NOT_CROSSING": 39,
    "FEE_CAP": 40, "POST_ONLY": 41, "IOC_MAKER": 42, "REDUCE_ONLY": 43, "TOO_MANY_POSITIONS": 44,
    "RANGE": 50, "INSUFFICIENT_MARGIN": 51,
}  # fmt: skip


def test_the_reason_codes_are_exactly_the_ones_these_tests_cover() -> None:
    """Fail when a reason is added, renumbered or removed: its rejection tests must follow."""
    assert {r.name: r.value for r in Reason} == NORMATIVE_REASONS
