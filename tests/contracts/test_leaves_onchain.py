"""The state-leaf library (contracts/lib/leaves.vy) against optirollup/state/leaves.py.

For every account (up to MAX_POSITIONS positions, every field across its range), system, market,
order and withdrawal leaf, the contract must encode byte for byte what ``encode()`` returns and
decode what ``decode()`` returns; every malformed leaf the reference rejects (``MalformedLeaf``)
the contract must reject too, and every leaf it accepts the contract must accept. Runs on anvil
through ``contracts/test/LeavesHarness.vy``.
"""

# ruff: noqa: E402  (conftest_steps is registered for assertion rewriting before it is imported)

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import astuple
from typing import Any

import pytest

pytest.register_assert_rewrite("conftest_steps")

import rlp
from conftest_steps import revert_message
from eth_utils.address import to_checksum_address
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from optirollup.errors import MalformedLeaf
from optirollup.state.keys import SYSTEM_KEY, account_key, market_key, order_key, withdrawal_key
from optirollup.state.leaves import (
    MAX_POSITIONS,
    Account,
    Market,
    OrderState,
    Position,
    System,
    Withdrawal,
)
from optirollup.units import (
    MAX_BALANCE,
    MAX_COLLATERAL,
    MAX_FUNDING_INDEX,
    MAX_POSITION_SIZE,
    U8_MAX,
    U32_MAX,
    U64_MAX,
    to_u256,
)

pytest_plugins = ["conftest_steps"]

EXAMPLES = 1000 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 50
ADDRESS = bytes.fromhex("a502296e6ef00c165c2fce2c945a3e529534a129")
RECIPIENT = bytes.fromhex("00000000000000000000000000000000000000ff")


def signed(bound: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(-bound, bound), st.sampled_from([0, 1, -1, bound, -bound]))


def unsigned(hi: int) -> st.SearchStrategy[int]:
    edges = [x for x in (0, 1, 127, 128, 255, 256, hi) if x <= hi]
    return st.one_of(st.integers(0, hi), st.sampled_from(edges))


@st.composite
def accounts(draw: st.DrawFn) -> Account:
    markets = sorted(draw(st.sets(unsigned(U32_MAX), max_size=MAX_POSITIONS)))
    positions = tuple(
        Position(
            m,
            draw(signed(MAX_POSITION_SIZE).filter(lambda x: x != 0)),
            draw(signed(MAX_FUNDING_INDEX)),
        )
        for m in markets
    )
    return Account(
        draw(st.binary(min_size=20, max_size=20)),
        draw(signed(MAX_COLLATERAL)),
        draw(unsigned(U64_MAX)),
        draw(unsigned(U64_MAX)),
        positions,
    )


systems = st.builds(
    System,
    st.binary(min_size=20, max_size=20),
    unsigned(U64_MAX),
    unsigned(U64_MAX),
    unsigned(MAX_BALANCE),
    unsigned(MAX_BALANCE),
)


markets = st.builds(
    Market,
    kind=unsigned(U8_MAX),
    symbol=st.binary(min_size=16, max_size=16),
    strike=unsigned(U64_MAX),
    expiry=unsigned(U64_MAX),
    lot_size=unsigned(U64_MAX),
    tick_size=unsigned(U64_MAX),
    im_ppm=unsigned(U32_MAX),
    mm_ppm=unsigned(U32_MAX),
    maker_fee_ppm=unsigned(U32_MAX),
    taker_fee_ppm=unsigned(U32_MAX),
    max_funding_ppm=unsigned(U32_MAX),
    oracle_price=unsigned(U64_MAX),
    option_mark=unsigned(U64_MAX),
    oracle_time=unsigned(U64_MAX),
    funding_index=signed(MAX_FUNDING_INDEX),
    funding_time=unsigned(U64_MAX),
    settlement_price=unsigned(U64_MAX),
)
orders = st.builds(OrderState, unsigned(U64_MAX), st.booleans())
withdrawals = st.builds(
    Withdrawal,
    st.binary(min_size=20, max_size=20),
    st.binary(min_size=20, max_size=20),
    unsigned(U64_MAX),
)


def as_struct(a: Account) -> tuple[Any, ...]:
    positions = [(p.market, p.size, p.funding_snapshot) for p in a.positions]
    return (to_checksum_address(a.address), a.collateral, a.nonce, a.cancel_floor, positions)


def from_struct(t: Any) -> Account:
    addr, collateral, nonce, floor, positions = t
    return Account(
        bytes.fromhex(addr[2:]), collateral, nonce, floor, tuple(Position(*p) for p in positions)
    )


@seed(662)
@settings(max_examples=EXAMPLES, deadline=None)
@given(accounts())
def test_account_leaves_encode_and_decode_as_the_reference(
    leaves_harness: Contract, acc: Account
) -> None:
    encoded = acc.encode()
    assert len(encoded) <= 662
    assert bytes(leaves_harness.functions.encode_account(as_struct(acc)).call()) == encoded
    assert from_struct(leaves_harness.functions.decode_account(encoded).call()) == acc


def test_the_longest_account_leaf_is_662_bytes(leaves_harness: Contract) -> None:
    acc = Account(
        b"\xff" * 20,
        -1,
        U64_MAX,
        U64_MAX,
        tuple(Position(U32_MAX - 8 + i, -1, -1) for i in range(8)),
    )
    encoded = acc.encode()
    assert len(encoded) == 662
    assert bytes(leaves_harness.functions.encode_account(as_struct(acc)).call()) == encoded
    assert from_struct(leaves_harness.functions.decode_account(encoded).call()) == acc


@seed(75)
@settings(max_examples=EXAMPLES, deadline=None)
@given(systems)
def test_system_leaves_encode_and_decode_as_the_reference(
    leaves_harness: Contract, s: System
) -> None:
    encoded = s.encode()
    fields = (to_checksum_address(s.oracle), *(s.next_deposit_index, s.next_withdrawal_id))
    struct = (*fields, s.fee_balance, s.insurance_balance)
    assert bytes(leaves_harness.functions.encode_system(struct).call()) == encoded
    got = leaves_harness.functions.decode_system(encoded).call()
    assert System(bytes.fromhex(got[0][2:]), *got[1:]) == s


def withdrawal_struct(w: Withdrawal) -> tuple[Any, ...]:
    return (to_checksum_address(w.account), to_checksum_address(w.recipient), w.amount)


def withdrawal_from_struct(t: Any) -> Withdrawal:
    account_, recipient, amount = t
    return Withdrawal(bytes.fromhex(account_[2:]), bytes.fromhex(recipient[2:]), amount)


def check_market(harness: Contract, m: Market) -> bytes:
    """Assert the contract encodes ``m`` as the reference and decodes it back; return the leaf."""
    encoded = m.encode()
    assert bytes(harness.functions.encode_market(astuple(m)).call()) == encoded
    assert Market(*harness.functions.decode_market(encoded).call()) == m
    return encoded


def check_order(harness: Contract, o: OrderState) -> bytes:
    """Assert the contract encodes ``o`` as the reference and decodes it back; return the leaf."""
    encoded = o.encode()
    assert bytes(harness.functions.encode_order(astuple(o)).call()) == encoded
    assert OrderState(*harness.functions.decode_order(encoded).call()) == o
    return encoded


def check_withdrawal(harness: Contract, w: Withdrawal) -> bytes:
    """Assert the contract encodes ``w`` as the reference and decodes it back; return the leaf."""
    encoded = w.encode()
    assert bytes(harness.functions.encode_withdrawal(withdrawal_struct(w)).call()) == encoded
    got = harness.functions.decode_withdrawal(encoded).call()
    assert withdrawal_from_struct(got) == w
    return encoded


@seed(160)
@settings(max_examples=EXAMPLES, deadline=None)
@given(markets)
def test_market_leaves_encode_and_decode_as_the_reference(
    leaves_harness: Contract, m: Market
) -> None:
    assert len(check_market(leaves_harness, m)) <= 160


@seed(11)
@settings(max_examples=EXAMPLES, deadline=None)
@given(orders)
def test_order_leaves_encode_and_decode_as_the_reference(
    leaves_harness: Contract, o: OrderState
) -> None:
    assert len(check_order(leaves_harness, o)) <= 11


@seed(52)
@settings(max_examples=EXAMPLES, deadline=None)
@given(withdrawals)
def test_withdrawal_leaves_encode_and_decode_as_the_reference(
    leaves_harness: Contract, w: Withdrawal
) -> None:
    assert len(check_withdrawal(leaves_harness, w)) <= 52


def test_the_longest_market_order_and_withdrawal_leaves_are_160_11_and_52_bytes(
    leaves_harness: Contract,
) -> None:
    u64s = dict.fromkeys(
        ("strike", "expiry", "lot_size", "tick_size", "oracle_price", "option_mark"), U64_MAX
    )
    u32s = dict.fromkeys(("im_ppm", "mm_ppm", "maker_fee_ppm", "taker_fee_ppm"), U32_MAX)
    longest = Market(
        **u64s, **u32s, kind=U8_MAX, symbol=b"\xff" * 16, max_funding_ppm=U32_MAX,
        oracle_time=U64_MAX, funding_index=-1, funding_time=U64_MAX, settlement_price=U64_MAX,
    )  # fmt: skip
    assert len(check_market(leaves_harness, longest)) == 160
    assert len(check_order(leaves_harness, OrderState(U64_MAX, True))) == 11
    assert len(check_withdrawal(leaves_harness, Withdrawal(ADDRESS, RECIPIENT, U64_MAX))) == 52


def test_the_shortest_market_order_and_withdrawal_leaves_round_trip(
    leaves_harness: Contract,
) -> None:
    zero = Market(0, b"\x00" * 16, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    assert len(check_market(leaves_harness, zero)) == 1 + 16 + 17
    assert check_order(leaves_harness, OrderState()) == b"\xc2\x80\x80"
    assert check_order(leaves_harness, OrderState(0, True)) == b"\xc2\x80\x01"
    zero_address = b"\x00" * 20
    assert len(check_withdrawal(leaves_harness, Withdrawal(zero_address, zero_address, 0))) == 44


@pytest.mark.parametrize(
    "index",
    [0, 1, -1, 127, 128, -128, 2**64, -(2**64), MAX_FUNDING_INDEX, -MAX_FUNDING_INDEX],
)
def test_a_market_s_funding_index_round_trips_across_its_whole_range(
    leaves_harness: Contract, index: int
) -> None:
    m = Market(0, b"BTC-PERP".ljust(16, b"\x00"), 0, 0, 10**4, 10**4, 10**5, 5 * 10**4, 0, 0, 1,
               funding_index=index)  # fmt: skip
    encoded = check_market(leaves_harness, m)
    # A negative index always takes 32 bytes (two's complement).
    assert (b"\xa0" + to_u256(index).to_bytes(32, "big") in encoded) == (index < 0)


def test_keys_are_the_reference_keys(leaves_harness: Contract) -> None:
    order_hash = b"\x42" * 32
    got = leaves_harness.functions.keys(to_checksum_address(ADDRESS), order_hash, 7, 9).call()
    assert [bytes(k) for k in got] == [
        account_key(ADDRESS),
        order_key(ADDRESS, order_hash),
        market_key(7),
        withdrawal_key(9),
        SYSTEM_KEY,
    ]


# --------------------------------------------------------------------------- malformed leaves


def u(x: int) -> bytes:
    """Return the canonical scalar bytes of an unsigned integer (b"" for 0)."""
    return x.to_bytes((x.bit_length() + 7) // 8, "big")


def s(x: int) -> bytes:
    """Return the scalar bytes of a signed field (256-bit two's complement)."""
    return u(to_u256(x))


def account(*items: Any) -> bytes:
    return bytes(rlp.encode(list(items)))


POS = [u(3), s(7), s(11)]
GOOD = [ADDRESS, s(5), u(1), u(0), [POS]]


def replace_raw(item_index: int, raw_item: bytes) -> bytes:
    """Return GOOD with item ``item_index`` replaced by the raw (possibly non-canonical) RLP."""
    items = [rlp.encode(x) for x in GOOD]
    items[item_index] = raw_item
    payload = b"".join(items)
    return bytes([0xC0 + len(payload)]) + payload if len(payload) < 56 else rlp.encode(GOOD)


MALFORMED_ACCOUNTS: dict[str, bytes] = {
    "collateral with a leading zero": replace_raw(1, b"\x82\x00\x05"),
    "a single byte below 0x80 as a string": replace_raw(1, b"\x81\x05"),
    "zero as the byte 0x00": replace_raw(2, b"\x00"),
    "a 33-byte scalar": account(ADDRESS, b"\x01" * 33, u(1), u(0), [POS]),
    "collateral above MAX_COLLATERAL": account(ADDRESS, u(MAX_COLLATERAL + 1), u(1), u(0), [POS]),
    "collateral below -MAX_COLLATERAL": account(ADDRESS, s(-MAX_COLLATERAL - 1), u(1), u(0), [POS]),
    "a nonce above 2^64 - 1": account(ADDRESS, s(5), u(2**64), u(0), [POS]),
    "a cancel floor above 2^64 - 1": account(ADDRESS, s(5), u(1), u(2**64), [POS]),
    "a 19-byte address": account(ADDRESS[:19], s(5), u(1), u(0), [POS]),
    "an address given as a list": account([ADDRESS], s(5), u(1), u(0), [POS]),
    "4 items": account(ADDRESS, s(5), u(1), u(0)),
    "6 items": account(ADDRESS, s(5), u(1), u(0), [POS], u(1)),
    "positions given as a scalar": account(ADDRESS, s(5), u(1), u(0), b""),
    "9 positions": account(ADDRESS, s(5), u(1), u(0), [[u(m), s(1), s(0)] for m in range(9)]),
    "positions not sorted": account(ADDRESS, s(5), u(1), u(0), [[u(5), s(1), s(0)], POS]),
    "two positions in one market": account(ADDRESS, s(5), u(1), u(0), [POS, POS]),
    "a zero size": account(ADDRESS, s(5), u(1), u(0), [[u(3), s(0), s(11)]]),
    "a size above MAX_POSITION_SIZE": account(ADDRESS, s(5), u(1), u(0), [[u(3), s(2**63), s(0)]]),
    "a snapshot above MAX_FUNDING_INDEX": account(
        ADDRESS, s(5), u(1), u(0), [[u(3), s(1), s(MAX_FUNDING_INDEX + 1)]]
    ),
    "a market above 2^32 - 1": account(ADDRESS, s(5), u(1), u(0), [[u(2**32), s(1), s(0)]]),
    "a position of 2 items": account(ADDRESS, s(5), u(1), u(0), [[u(3), s(1)]]),
    "a position of 4 items": account(ADDRESS, s(5), u(1), u(0), [[u(3), s(1), s(0), s(0)]]),
    "a position given as a scalar": account(ADDRESS, s(5), u(1), u(0), [u(3)]),
    "a position field given as a list": account(ADDRESS, s(5), u(1), u(0), [[[u(3)], s(1), s(0)]]),
    "a trailing byte": account(*GOOD) + b"\x00",
    "a string, not a list": rlp.encode(ADDRESS),
    "a long list header for a short list": b"\xf8"
    + bytes([len(account(*GOOD)) - 1])
    + account(*GOOD)[1:],
    "a list shorter than its header": account(*GOOD)[:-1],
}

SYS = [ADDRESS, u(3), u(4), u(5), u(0)]
MALFORMED_SYSTEMS: dict[str, bytes] = {
    "4 items": rlp.encode(SYS[:4]),
    "6 items": rlp.encode([*SYS, u(0)]),
    "a fee balance above MAX_BALANCE": rlp.encode([*SYS[:3], u(MAX_BALANCE + 1), u(0)]),
    "an insurance balance above MAX_BALANCE": rlp.encode([*SYS[:4], u(MAX_BALANCE + 1)]),
    "a deposit index above 2^64 - 1": rlp.encode([SYS[0], u(2**64), *SYS[2:]]),
    "a 21-byte oracle": rlp.encode([ADDRESS + b"\x00", *SYS[1:]]),
    "a withdrawal id with a leading zero": rlp.encode([SYS[0], SYS[1], b"\x00\x04", *SYS[3:]]),
    "an oracle given as a list": rlp.encode([[ADDRESS], *SYS[1:]]),
    "a balance given as a list": rlp.encode([*SYS[:3], [u(5)], u(0)]),
    "a trailing byte": rlp.encode(SYS) + b"\x00",
}


def raw_list(*items: bytes) -> bytes:
    """Return the RLP list of already-encoded (possibly non-canonical) items."""
    payload = b"".join(items)
    n = len(payload)
    return (bytes([0xC0 + n]) if n < 56 else bytes([0xF8, n])) + payload


def with_raw(items: list[Any], index: int, raw_item: bytes) -> bytes:
    """Return the list ``items`` with item ``index`` replaced by the raw RLP ``raw_item``."""
    encoded = [rlp.encode(x) for x in items]
    encoded[index] = raw_item
    return raw_list(*encoded)


def with_item(items: list[Any], index: int, item: Any) -> bytes:
    """Return the list ``items`` with item ``index`` replaced by ``item``."""
    return bytes(rlp.encode([*items[:index], item, *items[index + 1 :]]))


SYMBOL = b"BTC-PERP".ljust(16, b"\x00")
MKT: list[Any] = [
    u(0), SYMBOL, u(0), u(0), u(10**4), u(10**4), u(10**5), u(5 * 10**4), u(0), u(500),
    u(1000), u(6 * 10**10), u(0), u(1_700_000_000), s(-12345), u(1_700_000_000), u(0),
]  # fmt: skip
ORD: list[Any] = [u(5), u(1)]
WD: list[Any] = [ADDRESS, RECIPIENT, u(100)]

DECODERS: dict[str, Callable[[bytes], object]] = {
    "market": Market.decode,
    "order": OrderState.decode,
    "withdrawal": Withdrawal.decode,
}
"""The reference decoder of each flat leaf kind; the harness function is ``decode_<kind>``."""

MALFORMED_FLAT: dict[str, tuple[str, bytes]] = {
    "market of 16 items": ("market", rlp.encode(MKT[:16])),
    "market of 18 items": ("market", rlp.encode([*MKT, u(0)])),
    "market given as a string": ("market", rlp.encode(SYMBOL)),
    "market with a kind of 256": ("market", with_item(MKT, 0, u(256))),
    "market with a 15-byte symbol": ("market", with_item(MKT, 1, SYMBOL[:15])),
    "market with a 17-byte symbol": ("market", with_item(MKT, 1, SYMBOL + b"\x00")),
    "market with a 20-byte symbol": ("market", with_item(MKT, 1, ADDRESS)),
    "market with a symbol given as a list": ("market", with_item(MKT, 1, [SYMBOL])),
    "market with a strike above 2^64 - 1": ("market", with_item(MKT, 2, u(2**64))),
    "market with a lot size with a leading zero": ("market", with_item(MKT, 4, b"\x00\x27\x10")),
    "market with a tick size given as a list": ("market", with_item(MKT, 5, [u(1)])),
    "market with an im above 2^32 - 1": ("market", with_item(MKT, 6, u(2**32))),
    "market with a max funding above 2^32 - 1": ("market", with_item(MKT, 10, u(2**32))),
    "market with an oracle price above 2^64 - 1": ("market", with_item(MKT, 11, u(2**64))),
    "market with an oracle time as the byte 0x00": ("market", with_item(MKT, 13, b"\x00")),
    "market with a funding index above MAX_FUNDING_INDEX": (
        "market",
        with_item(MKT, 14, s(MAX_FUNDING_INDEX + 1)),
    ),
    "market with a funding index below -MAX_FUNDING_INDEX": (
        "market",
        with_item(MKT, 14, s(-MAX_FUNDING_INDEX - 1)),
    ),
    "market with a 33-byte funding index": ("market", with_item(MKT, 14, b"\x01" * 33)),
    "market with a settlement price above 2^64 - 1": ("market", with_item(MKT, 16, u(2**64))),
    "market with a single byte below 0x80 as a string": ("market", with_raw(MKT, 0, b"\x81\x05")),
    "market with a trailing byte": ("market", rlp.encode(MKT) + b"\x00"),
    "market shorter than its header": ("market", rlp.encode(MKT)[:-1]),
    "market with a short list in a long header": ("market", b"\xf8\x02\x80\x80"),
    "order of 1 item": ("order", rlp.encode(ORD[:1])),
    "order of 3 items": ("order", rlp.encode([*ORD, u(0)])),
    "order of no items": ("order", rlp.encode([])),
    "order with cancelled = 2": ("order", with_item(ORD, 1, u(2))),
    "order with cancelled as the byte 0x00": ("order", with_item(ORD, 1, b"\x00")),
    "order with cancelled with a leading zero": ("order", with_item(ORD, 1, b"\x00\x01")),
    "order with cancelled given as a list": ("order", with_item(ORD, 1, [u(1)])),
    "order with cancelled 1 as a string": ("order", with_raw(ORD, 1, b"\x81\x01")),
    "order with filled above 2^64 - 1": ("order", with_item(ORD, 0, u(2**64))),
    "order with a trailing byte": ("order", rlp.encode(ORD) + b"\x80"),
    "order given as a string": ("order", rlp.encode(u(5))),
    "empty order": ("order", b""),
    "withdrawal of 2 items": ("withdrawal", rlp.encode(WD[:2])),
    "withdrawal of 4 items": ("withdrawal", rlp.encode([*WD, u(0)])),
    "withdrawal with a 19-byte account": ("withdrawal", with_item(WD, 0, ADDRESS[:19])),
    "withdrawal with a 21-byte recipient": ("withdrawal", with_item(WD, 1, RECIPIENT + b"\x00")),
    "withdrawal with a recipient given as a list": ("withdrawal", with_item(WD, 1, [RECIPIENT])),
    "withdrawal with an amount above 2^64 - 1": ("withdrawal", with_item(WD, 2, u(2**64))),
    "withdrawal with an amount with a leading zero": ("withdrawal", with_item(WD, 2, b"\x00\x64")),
    "withdrawal with an amount given as an address": ("withdrawal", with_item(WD, 2, ADDRESS)),
    "withdrawal with a trailing byte": ("withdrawal", rlp.encode(WD) + b"\x00"),
}


def test_the_malformed_cases_start_from_a_valid_leaf(leaves_harness: Contract) -> None:
    assert Account.decode(account(*GOOD)) == from_struct(
        leaves_harness.functions.decode_account(account(*GOOD)).call()
    )
    assert System.decode(rlp.encode(SYS)).fee_balance == 5
    for kind, items in (("market", MKT), ("order", ORD), ("withdrawal", WD)):
        leaf = rlp.encode(items)
        assert DECODERS[kind](leaf) == DECODERS[kind](raw_list(*map(rlp.encode, items)))
        decode = getattr(leaves_harness.functions, f"decode_{kind}")
        assert from_flat_struct(kind, decode(leaf).call()) == DECODERS[kind](leaf)


def _rejects(fn: Any) -> str:
    try:
        fn.call()
    except ContractLogicError as err:
        return revert_message(err)
    raise AssertionError("the contract accepted a leaf the reference rejects")


@pytest.mark.parametrize("name", list(MALFORMED_ACCOUNTS), ids=list(MALFORMED_ACCOUNTS))
def test_a_malformed_account_leaf_is_rejected_by_both(leaves_harness: Contract, name: str) -> None:
    data = MALFORMED_ACCOUNTS[name]
    with pytest.raises(MalformedLeaf):
        Account.decode(data)
    message = _rejects(leaves_harness.functions.decode_account(data))
    assert message == "leaves: malformed leaf" or message.startswith("rlp: "), message


@pytest.mark.parametrize("name", list(MALFORMED_SYSTEMS), ids=list(MALFORMED_SYSTEMS))
def test_a_malformed_system_leaf_is_rejected_by_both(leaves_harness: Contract, name: str) -> None:
    data = MALFORMED_SYSTEMS[name]
    with pytest.raises(MalformedLeaf):
        System.decode(data)
    message = _rejects(leaves_harness.functions.decode_system(data))
    assert message == "leaves: malformed leaf" or message.startswith("rlp: "), message


def from_flat_struct(kind: str, t: Any) -> object:
    """Return the reference leaf of a decoded market, order or withdrawal struct."""
    if kind == "market":
        return Market(*t)
    if kind == "order":
        return OrderState(*t)
    return withdrawal_from_struct(t)


@pytest.mark.parametrize("name", list(MALFORMED_FLAT), ids=list(MALFORMED_FLAT))
def test_a_malformed_market_order_or_withdrawal_leaf_is_rejected_by_both(
    leaves_harness: Contract, name: str
) -> None:
    kind, data = MALFORMED_FLAT[name]
    with pytest.raises(MalformedLeaf):
        DECODERS[kind](data)
    message = _rejects(getattr(leaves_harness.functions, f"decode_{kind}")(data))
    assert message == "leaves: malformed leaf" or message.startswith("rlp: "), message


@st.composite
def mutated_leaves(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid market, order or withdrawal leaf with one byte changed, inserted or removed."""
    kind = draw(st.sampled_from(list(DECODERS)))
    strategies: dict[str, st.SearchStrategy[Market | OrderState | Withdrawal]] = {
        "market": markets,
        "order": orders,
        "withdrawal": withdrawals,
    }
    leaf = draw(strategies[kind]).encode()
    i = draw(st.integers(0, len(leaf)))
    byte = bytes([draw(st.integers(0, 255))])
    how = draw(st.sampled_from(["change", "insert", "remove", "truncate"]))
    if how == "change" and i < len(leaf):
        leaf = leaf[:i] + byte + leaf[i + 1 :]
    elif how == "remove":
        leaf = leaf[:i] + leaf[i + 1 :]
    elif how == "truncate":
        leaf = leaf[:i]
    else:
        leaf = leaf[:i] + byte + leaf[i:]
    return kind, leaf


@seed(2025)
@settings(max_examples=4 * EXAMPLES, deadline=None)
@given(mutated_leaves())
def test_a_mutated_leaf_is_accepted_by_the_contract_exactly_when_the_reference_accepts_it(
    leaves_harness: Contract, case: tuple[str, bytes]
) -> None:
    kind, data = case
    decode = getattr(leaves_harness.functions, f"decode_{kind}")(data)
    try:
        expected = DECODERS[kind](data)
    except MalformedLeaf:
        message = _rejects(decode)
        assert message == "leaves: malformed leaf" or message.startswith("rlp: "), message
        return
    assert from_flat_struct(kind, decode.call()) == expected
