"""Check the canonical transaction codec: round trips, exact lengths, strict rejection.

The layouts are restated here as a table of (field, width) per type, independently of the
``struct`` formats and slice offsets in ``optirollup.codec.tx``. A reference encoder built from the
table pins every byte of every layout, and the same table drives the strategies, the extreme
values and the out-of-range cases, so a new field or a changed width shows up here at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optirollup.codec.batch import MAX_FRAMED_TX_LEN
from optirollup.codec.tx import (
    MAX_TX_LEN,
    ORDER_LEN,
    SIG_LEN,
    TX_LENGTHS,
    Cancel,
    CancelAll,
    Deleverage,
    Deposit,
    Fill,
    FundingTick,
    Liquidate,
    ListMarket,
    OracleUpdate,
    Order,
    SetSettlement,
    SettlePosition,
    SignedOrder,
    TxType,
    Withdraw,
    decode_tx,
    encode_tx,
)
from optirollup.errors import MalformedTransaction

# --------------------------------------------------------------------------- the layout table

# A field kind is ("u", bits) unsigned big-endian, ("i", bits) two's complement big-endian,
# ("b", n) raw bytes of exactly n, or ("rec", cls, fields) a nested record laid out in order.
Kind = tuple[Any, ...]


def U(bits: int) -> Kind:
    return ("u", bits)


def B(n: int) -> Kind:
    return ("b", n)


I32 = ("i", 32)
ADDR = B(20)
SIG = B(65)

ORDER: Kind = (
    "rec",
    Order,
    (
        ("account", ADDR), ("market", U(32)), ("side", U(8)), ("price", U(64)),
        ("size", U(64)), ("fee_cap_ppm", U(32)), ("nonce", U(64)), ("expiry", U(64)),
        ("flags", U(8)),
    ),
)  # fmt: skip
SIGNED_ORDER: Kind = ("rec", SignedOrder, (("order", ORDER), ("signature", SIG)))

LAYOUTS: dict[type, tuple[tuple[str, Kind], ...]] = {
    Deposit: (("index", U(64)), ("account", ADDR), ("amount", U(64))),
    Withdraw: (
        ("account", ADDR), ("recipient", ADDR), ("amount", U(64)), ("nonce", U(64)),
        ("signature", SIG),
    ),
    OracleUpdate: (
        ("market", U(32)), ("price", U(64)), ("mark", U(64)), ("time", U(64)), ("signature", SIG),
    ),
    FundingTick: (("market", U(32)), ("rate_ppm", I32), ("time", U(64)), ("signature", SIG)),
    Fill: (("maker", SIGNED_ORDER), ("taker", SIGNED_ORDER), ("size", U(64))),
    Cancel: (("account", ADDR), ("order_hash", B(32)), ("signature", SIG)),
    CancelAll: (("account", ADDR), ("floor", U(64)), ("signature", SIG)),
    ListMarket: (
        ("market", U(32)), ("kind", U(8)), ("symbol", B(16)), ("strike", U(64)),
        ("expiry", U(64)), ("lot_size", U(64)), ("tick_size", U(64)), ("im_ppm", U(32)),
        ("mm_ppm", U(32)), ("maker_fee_ppm", U(32)), ("taker_fee_ppm", U(32)),
        ("max_funding_ppm", U(32)), ("signature", SIG),
    ),
    SetSettlement: (("market", U(32)), ("price", U(64)), ("time", U(64)), ("signature", SIG)),
    Liquidate: (
        ("liquidator", ADDR), ("account", ADDR), ("market", U(32)), ("size", U(64)),
        ("expiry", U(64)), ("signature", SIG),
    ),
    Deleverage: (("account", ADDR), ("counterparty", ADDR), ("market", U(32)), ("size", U(64))),
    SettlePosition: (("account", ADDR), ("market", U(32))),
}  # fmt: skip
TX_CLASSES = list(LAYOUTS)
RESERVED = {SetSettlement, Liquidate, Deleverage, SettlePosition}


def record(cls: type) -> Kind:
    return ("rec", cls, LAYOUTS[cls])


def width(kind: Kind) -> int:
    """Return the encoded width in bytes of a field kind."""
    if kind[0] in ("u", "i"):
        return int(kind[1]) // 8
    if kind[0] == "b":
        return int(kind[1])
    return sum(width(k) for _, k in kind[2])


def bounds(kind: Kind) -> tuple[int, int]:
    """Return the inclusive range of an integer kind."""
    bits = kind[1]
    return (0, 2**bits - 1) if kind[0] == "u" else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def strategy(kind: Kind) -> st.SearchStrategy[Any]:
    """Return a strategy over every valid value of a kind (hypothesis favours the bounds)."""
    if kind[0] in ("u", "i"):
        return st.integers(*bounds(kind))
    if kind[0] == "b":
        return st.binary(min_size=kind[1], max_size=kind[1])
    cls, fields = kind[1], kind[2]
    return st.fixed_dictionaries({name: strategy(k) for name, k in fields}).map(lambda d: cls(**d))


def extreme(kind: Kind, high: bool) -> Any:
    """Return the all-minimum (zero bytes) or all-maximum (0xff bytes) value of a kind."""
    if kind[0] in ("u", "i"):
        return bounds(kind)[1 if high else 0]
    if kind[0] == "b":
        return (b"\xff" if high else b"\x00") * kind[1]
    return kind[1](**{name: extreme(k, high) for name, k in kind[2]})


def ref_encode(kind: Kind, value: Any) -> bytes:
    """Encode a value from the table alone: fields in order, big-endian, no framing."""
    if kind[0] == "u":
        return int(value).to_bytes(kind[1] // 8, "big")
    if kind[0] == "i":
        return int(value).to_bytes(kind[1] // 8, "big", signed=True)
    if kind[0] == "b":
        assert len(value) == kind[1]
        return bytes(value)
    return b"".join(ref_encode(k, getattr(value, name)) for name, k in kind[2])


def ref_encode_tx(tx: Any) -> bytes:
    return bytes([tx.TYPE]) + ref_encode(record(type(tx)), tx)


def leaf_fields(kind: Kind, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Kind]]:
    """Yield (path, kind) for every scalar field of a record, nested records flattened."""
    for name, k in kind[2]:
        if k[0] == "rec":
            yield from leaf_fields(k, (*path, name))
        else:
            yield (*path, name), k


def with_field(obj: Any, path: tuple[str, ...], value: Any) -> Any:
    """Return ``obj`` with the (possibly nested) field at ``path`` replaced, without validation."""
    if len(path) == 1:
        return dataclasses.replace(obj, **{path[0]: value})
    return dataclasses.replace(obj, **{path[0]: with_field(getattr(obj, path[0]), path[1:], value)})


any_tx = st.sampled_from(TX_CLASSES).flatmap(lambda cls: strategy(record(cls)))


# --------------------------------------------------------------------------- the table itself


@pytest.mark.parametrize(
    "kind", [record(c) for c in TX_CLASSES] + [ORDER, SIGNED_ORDER], ids=lambda k: k[1].__name__
)
def test_layout_table_lists_every_field_of_the_record_in_declaration_order(kind: Kind) -> None:
    assert [f.name for f in dataclasses.fields(kind[1])] == [name for name, _ in kind[2]]


def test_layout_table_covers_every_transaction_type_once() -> None:
    assert sorted(c.TYPE for c in TX_CLASSES) == sorted(TxType)
    assert set(TX_LENGTHS) == set(TxType)


@pytest.mark.parametrize("cls", TX_CLASSES, ids=lambda c: c.__name__)
def test_tx_lengths_equal_one_type_byte_plus_the_layout_width(cls: type) -> None:
    assert TX_LENGTHS[cls.TYPE] == 1 + width(record(cls))


def test_order_is_62_bytes_and_every_transaction_fits_one_batch_frame() -> None:
    assert ORDER_LEN == width(ORDER) == 62
    assert SIG_LEN == 65
    assert MAX_TX_LEN == max(TX_LENGTHS.values()) == TX_LENGTHS[TxType.FILL] == 263
    assert MAX_TX_LEN <= MAX_FRAMED_TX_LEN


def test_deposit_encodes_to_the_pinned_bytes() -> None:
    tx = Deposit(index=1, account=b"\x11" * 20, amount=2)
    assert encode_tx(tx).hex() == "01" + "0000000000000001" + "11" * 20 + "0000000000000002"


@pytest.mark.parametrize(
    ("rate", "wire"),
    [
        (-1, "ffffffff"),
        (-(2**31), "80000000"),
        (-1_000_000, "fff0bdc0"),
        (0, "00000000"),
        (2**31 - 1, "7fffffff"),
    ],
    ids=["minus-one", "int32-min", "minus-one-million", "zero", "int32-max"],
)
def test_funding_rate_is_encoded_as_int32_twos_complement(rate: int, wire: str) -> None:
    tx = FundingTick(market=7, rate_ppm=rate, time=9, signature=b"\x01" * 65)
    encoded = encode_tx(tx)
    assert encoded[5:9].hex() == wire
    assert decode_tx(encoded) == tx


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("high", [False, True], ids=["all-min", "all-max"])
@pytest.mark.parametrize("cls", TX_CLASSES, ids=lambda c: c.__name__)
def test_extreme_field_values_round_trip(cls: type, high: bool) -> None:
    tx = extreme(record(cls), high)
    encoded = encode_tx(tx)
    assert encoded == ref_encode_tx(tx)
    assert len(encoded) == TX_LENGTHS[cls.TYPE]
    decoded = decode_tx(encoded)
    assert type(decoded) is cls
    assert decoded == tx


@given(any_tx)
def test_every_transaction_encodes_to_its_layout_and_decodes_back_equal(tx: Any) -> None:
    encoded = encode_tx(tx)
    assert encoded == ref_encode_tx(tx)
    assert len(encoded) == TX_LENGTHS[tx.TYPE]
    decoded = decode_tx(encoded)
    assert type(decoded) is type(tx)
    assert decoded == tx


@given(
    st.sampled_from(sorted(TxType)).flatmap(
        lambda t: st.binary(min_size=TX_LENGTHS[t] - 1, max_size=TX_LENGTHS[t] - 1).map(
            lambda body: bytes([t]) + body
        )
    )
)
def test_any_bytes_of_a_known_type_and_exact_length_decode_and_re_encode_identically(
    data: bytes,
) -> None:
    tx = decode_tx(data)
    assert data[0] == tx.TYPE
    assert encode_tx(tx) == data


@pytest.mark.parametrize("cls", sorted(RESERVED, key=lambda c: c.TYPE), ids=lambda c: c.__name__)
def test_reserved_types_already_have_fixed_encodings(cls: type) -> None:
    tx = extreme(record(cls), True)
    assert decode_tx(encode_tx(tx)) == tx


# --------------------------------------------------------------------------- rejection


def test_decode_rejects_empty_bytes() -> None:
    with pytest.raises(MalformedTransaction, match="empty"):
        decode_tx(b"")


UNKNOWN_TYPES = sorted(set(range(256)) - set(TxType))


@pytest.mark.parametrize("length", sorted({1, *TX_LENGTHS.values()}), ids=lambda n: f"{n}-bytes")
def test_decode_rejects_every_unknown_type_byte(length: int) -> None:
    accepted = []
    for type_byte in UNKNOWN_TYPES:
        try:
            decode_tx(bytes([type_byte]) + b"\x00" * (length - 1))
        except MalformedTransaction as err:
            assert "unknown transaction type" in str(err)
        else:
            accepted.append(f"0x{type_byte:02x}")
    assert accepted == []


@pytest.mark.parametrize("delta", [-1, +1], ids=["one-byte-short", "one-byte-long"])
@pytest.mark.parametrize("tx_type", sorted(TxType), ids=lambda t: t.name)
def test_decode_rejects_a_transaction_one_byte_off_its_length(tx_type: TxType, delta: int) -> None:
    cls = next(c for c in TX_CLASSES if tx_type == c.TYPE)
    encoded = encode_tx(extreme(record(cls), True))
    data = encoded[:-1] if delta < 0 else encoded + b"\x00"
    with pytest.raises(MalformedTransaction, match=f"must be {TX_LENGTHS[tx_type]} bytes"):
        decode_tx(data)


@pytest.mark.parametrize("tx_type", sorted(TxType), ids=lambda t: t.name)
def test_decode_rejects_a_bare_type_byte(tx_type: TxType) -> None:
    with pytest.raises(MalformedTransaction):
        decode_tx(bytes([tx_type]))


@given(st.sampled_from(sorted(TxType)), st.binary(max_size=MAX_TX_LEN + 2))
def test_decode_rejects_every_known_type_at_any_other_length(tx_type: TxType, body: bytes) -> None:
    data = bytes([tx_type]) + body
    if len(data) == TX_LENGTHS[tx_type]:
        data += b"\x00"
    with pytest.raises(MalformedTransaction):
        decode_tx(data)


@given(st.binary(max_size=MAX_TX_LEN + 2))
def test_decode_either_returns_a_canonical_transaction_or_raises_malformed(data: bytes) -> None:
    try:
        tx = decode_tx(data)
    except MalformedTransaction:
        return
    assert encode_tx(tx) == data


def _field_cases() -> Iterator[Any]:
    for cls in TX_CLASSES:
        for path, kind in leaf_fields(record(cls)):
            yield pytest.param(cls, path, kind, id=f"{cls.__name__}.{'.'.join(path)}")


@pytest.mark.parametrize(("cls", "path", "kind"), list(_field_cases()))
def test_encoding_an_out_of_range_field_raises_malformed_transaction(
    cls: type, path: tuple[str, ...], kind: Kind
) -> None:
    if kind[0] == "b":
        n = kind[1]
        bad = {f"{n - 1}-bytes": b"\x00" * (n - 1), f"{n + 1}-bytes": b"\x00" * (n + 1)}
    else:
        lo, hi = bounds(kind)
        bad = {"below-min": lo - 1, "above-max": hi + 1, "huge": 2**200, "huge-negative": -(2**200)}
    accepted = []
    for label, value in bad.items():
        tx = with_field(extreme(record(cls), False), path, value)
        # Only MalformedTransaction is caught: a struct.error or OverflowError escaping the codec
        # fails the test with its own traceback.
        try:
            encode_tx(tx)
        except MalformedTransaction:
            continue
        accepted.append(label)
    assert accepted == []
