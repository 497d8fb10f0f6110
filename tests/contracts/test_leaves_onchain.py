"""The state-leaf library (contracts/lib/leaves.vy) against optirollup/state/leaves.py.

For every account (up to MAX_POSITIONS positions, every field across its range) and system
leaf, the contract must encode byte for byte what ``encode()`` returns and decode what
``decode()`` returns; every malformed leaf the reference rejects (``MalformedLeaf``) the contract
must reject too. Runs on anvil through ``contracts/test/LeavesHarness.vy``.
"""

# ruff: noqa: E402  (conftest_steps is registered for assertion rewriting before it is imported)

from __future__ import annotations

import os
from typing import Any

import pytest

pytest.register_assert_rewrite("conftest_steps")

import rlp
from conftest_steps import revert_message
from eth_utils import to_checksum_address
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from optirollup.errors import MalformedLeaf
from optirollup.state.keys import SYSTEM_KEY, account_key, market_key, order_key, withdrawal_key
from optirollup.state.leaves import MAX_POSITIONS, Account, Position, System
from optirollup.units import (
    MAX_BALANCE,
    MAX_COLLATERAL,
    MAX_FUNDING_INDEX,
    MAX_POSITION_SIZE,
    U32_MAX,
    U64_MAX,
    to_u256,
)

pytest_plugins = ["conftest_steps"]

EXAMPLES = 1000 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 50
ADDRESS = bytes.fromhex("a502296e6ef00c165c2fce2c945a3e529534a129")


def signed(bound: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(-bound, bound), st.sampled_from([0, 1, -1, bound, -bound]))


def unsigned(hi: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(0, hi), st.sampled_from([0, 1, 127, 128, 255, 256, hi]))


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
    return rlp.encode(list(items))


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
}


def test_the_malformed_cases_start_from_a_valid_leaf(leaves_harness: Contract) -> None:
    assert Account.decode(account(*GOOD)) == from_struct(
        leaves_harness.functions.decode_account(account(*GOOD)).call()
    )
    assert System.decode(rlp.encode(SYS)).fee_balance == 5


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
