"""Check the state leaf codecs (round trips, strict decoding) and the trie key derivation.

Strict decoding is checked by editing the RLP item tree of a valid leaf one item at a time and
encoding it again, so each case differs from a good leaf in exactly the way its id says. Every
rejection must be MalformedLeaf: py-trie hands back ``b""`` for a missing key and whatever bytes a
proof carries, and the state layer treats only MalformedLeaf as "not a leaf".
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import rlp
from Crypto.Hash import keccak as _keccak
from hypothesis import given
from hypothesis import strategies as st

from optirollup.errors import MalformedLeaf
from optirollup.state import keys
from optirollup.state.leaves import (
    MAX_POSITIONS,
    ZERO_ADDRESS,
    Account,
    Market,
    OrderState,
    Position,
    System,
    Withdrawal,
    sorted_positions,
)
from optirollup.units import (
    MAX_BALANCE,
    MAX_COLLATERAL,
    MAX_FUNDING_INDEX,
    MAX_POSITION_SIZE,
    U8_MAX,
    U32_MAX,
    U64_MAX,
)

Leaf = Account | OrderState | Market | System | Withdrawal

# --------------------------------------------------------------------------- strategies

addresses = st.binary(min_size=20, max_size=20)
u8 = st.integers(0, U8_MAX)
u32 = st.integers(0, U32_MAX)
u64 = st.integers(0, U64_MAX)


def signed(bound: int) -> st.SearchStrategy[int]:
    return st.integers(-bound, bound)


def _positions(markets: list[int]) -> st.SearchStrategy[tuple[Position, ...]]:
    sizes = signed(MAX_POSITION_SIZE).filter(bool)
    return st.tuples(
        *(
            st.builds(Position, st.just(m), sizes, signed(MAX_FUNDING_INDEX))
            for m in sorted(markets)
        )
    )


positions = st.lists(u32, unique=True, max_size=MAX_POSITIONS).flatmap(_positions)
accounts = st.builds(Account, addresses, signed(MAX_COLLATERAL), u64, u64, positions)
order_states = st.builds(OrderState, u64, st.booleans())
markets = st.builds(
    Market,
    kind=u8, symbol=st.binary(min_size=16, max_size=16), strike=u64, expiry=u64, lot_size=u64,
    tick_size=u64, im_ppm=u32, mm_ppm=u32, maker_fee_ppm=u32, taker_fee_ppm=u32,
    max_funding_ppm=u32, oracle_price=u64, option_mark=u64, oracle_time=u64,
    funding_index=signed(MAX_FUNDING_INDEX), funding_time=u64, settlement_price=u64,
)  # fmt: skip
systems = st.builds(
    System, addresses, u64, u64, st.integers(0, MAX_BALANCE), st.integers(0, MAX_BALANCE)
)
withdrawals = st.builds(Withdrawal, addresses, addresses, u64)
any_leaf = st.one_of(accounts, order_states, markets, systems, withdrawals)

# --------------------------------------------------------------------------- fixed leaves

A1, A2 = b"\x11" * 20, b"\x22" * 20
SYMBOL = b"ETH-PERP".ljust(16, b"\x00")

MAX_ACCOUNT = Account(
    b"\xff" * 20, MAX_COLLATERAL, U64_MAX, U64_MAX,
    tuple(
        Position(m, MAX_POSITION_SIZE if i % 2 else -MAX_POSITION_SIZE,
                 MAX_FUNDING_INDEX if i % 2 else -MAX_FUNDING_INDEX)
        for i, m in enumerate([0, 1, 2, 3, 2**16, 2**31, U32_MAX - 1, U32_MAX])
    ),
)  # fmt: skip
MIN_ACCOUNT = Account(A1, -MAX_COLLATERAL, 0, 0, (Position(0, -1, -MAX_FUNDING_INDEX),))
MAX_MARKET = Market(
    U8_MAX,
    b"\xff" * 16,
    *[U64_MAX] * 4,
    *[U32_MAX] * 5,
    U64_MAX,
    U64_MAX,
    U64_MAX,
    MAX_FUNDING_INDEX,
    U64_MAX,
    U64_MAX,
)
MIN_MARKET = Market(0, b"\x00" * 16, *[0] * 9, funding_index=-MAX_FUNDING_INDEX)

EXTREME_LEAVES = [
    pytest.param(Account(ZERO_ADDRESS), id="account-default"),
    pytest.param(MAX_ACCOUNT, id="account-max-8-positions"),
    pytest.param(MIN_ACCOUNT, id="account-negative-extremes"),
    pytest.param(OrderState(), id="order-default"),
    pytest.param(OrderState(U64_MAX, True), id="order-max"),
    pytest.param(MIN_MARKET, id="market-min"),
    pytest.param(MAX_MARKET, id="market-max"),
    pytest.param(System(ZERO_ADDRESS), id="system-default"),
    pytest.param(System(b"\xff" * 20, U64_MAX, U64_MAX, MAX_BALANCE, MAX_BALANCE), id="system-max"),
    pytest.param(Withdrawal(ZERO_ADDRESS, ZERO_ADDRESS, 0), id="withdrawal-zero"),
    pytest.param(Withdrawal(A1, A2, U64_MAX), id="withdrawal-max"),
]


def check_round_trip(leaf: Leaf) -> None:
    encoded = leaf.encode()
    assert encoded, "an empty value would read as an absent key in the trie"
    decoded = type(leaf).decode(encoded)
    assert decoded == leaf
    assert decoded.encode() == encoded


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("leaf", EXTREME_LEAVES)
def test_an_extreme_leaf_round_trips_and_is_never_empty(leaf: Leaf) -> None:
    check_round_trip(leaf)


@given(accounts)
def test_any_account_round_trips(leaf: Account) -> None:
    check_round_trip(leaf)


@given(order_states)
def test_any_order_state_round_trips(leaf: OrderState) -> None:
    check_round_trip(leaf)


@given(markets)
def test_any_market_round_trips(leaf: Market) -> None:
    check_round_trip(leaf)


@given(systems)
def test_any_system_leaf_round_trips(leaf: System) -> None:
    check_round_trip(leaf)


@given(withdrawals)
def test_any_withdrawal_round_trips(leaf: Withdrawal) -> None:
    check_round_trip(leaf)


def test_negative_signed_fields_are_encoded_as_32_byte_twos_complement() -> None:
    items = rlp.decode(Account(A1, collateral=-1).encode())
    assert items[1] == b"\xff" * 32
    assert rlp.decode(Account(A1, collateral=1).encode())[1] == b"\x01"
    assert rlp.decode(Account(A1).encode())[1] == b""  # zero is the empty scalar


def test_sorted_positions_sorts_by_market_and_position_reads_the_size() -> None:
    ps = sorted_positions([Position(9, 1, 0), Position(2, -5, 0), Position(4, 3, 0)])
    assert [p.market for p in ps] == [2, 4, 9]
    account = Account(A1, positions=ps)
    assert (account.position(2), account.position(9), account.position(3)) == (-5, 1, 0)


# --------------------------------------------------------------------------- strict decoding

GOOD_ACCOUNT = Account(A1, 5, 6, 7, (Position(1, 10, 11), Position(3, -10, -11)))
GOOD_ORDER = OrderState(12, True)
GOOD_MARKET = Market(0, SYMBOL, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, -13, 14, 15)
GOOD_SYSTEM = System(A2, 1, 2, 3, 4)
GOOD_WITHDRAWAL = Withdrawal(A1, A2, 99)
ONE_POSITION = Account(A2, 5, 6, 7, (Position(1, 10, 11),))
GOOD = [GOOD_ACCOUNT, GOOD_ORDER, GOOD_MARKET, GOOD_SYSTEM, GOOD_WITHDRAWAL]

Path = tuple[int, ...]


def edited(leaf: Leaf, edit: Callable[[list[Any]], None]) -> bytes:
    """Return the leaf's RLP with ``edit`` applied to its decoded item tree."""
    items = copy.deepcopy(rlp.decode(leaf.encode()))
    edit(items)
    return rlp.encode(items)


def at(items: list[Any], path: Path) -> list[Any]:
    for i in path[:-1]:
        items = items[i]
    return items


def replaced(leaf: Leaf, path: Path, value: Any) -> bytes:
    def edit(items: list[Any]) -> None:
        at(items, path)[path[-1]] = value

    return edited(leaf, edit)


def u(x: int) -> bytes:
    """Return the canonical RLP scalar of a non-negative int."""
    return x.to_bytes((x.bit_length() + 7) // 8, "big")


def s(x: int) -> bytes:
    """Return the canonical RLP scalar of a signed int (256-bit two's complement)."""
    return u(x % 2**256)


# (leaf, path, kind, bound): kind "u" has range [0, bound], "s" has range [-bound, bound].
SCALARS: list[tuple[Leaf, Path, str, int]] = [
    (GOOD_ACCOUNT, (1,), "s", MAX_COLLATERAL),
    (GOOD_ACCOUNT, (2,), "u", U64_MAX),
    (GOOD_ACCOUNT, (3,), "u", U64_MAX),
    (ONE_POSITION, (4, 0, 0), "u", U32_MAX),
    (ONE_POSITION, (4, 0, 1), "s", MAX_POSITION_SIZE),
    (ONE_POSITION, (4, 0, 2), "s", MAX_FUNDING_INDEX),
    (GOOD_ORDER, (0,), "u", U64_MAX),
    (GOOD_ORDER, (1,), "u", 1),
    (GOOD_MARKET, (0,), "u", U8_MAX),
    *((GOOD_MARKET, (i,), "u", U64_MAX) for i in (2, 3, 4, 5, 11, 12, 13, 15, 16)),
    *((GOOD_MARKET, (i,), "u", U32_MAX) for i in (6, 7, 8, 9, 10)),
    (GOOD_MARKET, (14,), "s", MAX_FUNDING_INDEX),
    (GOOD_SYSTEM, (1,), "u", U64_MAX),
    (GOOD_SYSTEM, (2,), "u", U64_MAX),
    (GOOD_SYSTEM, (3,), "u", MAX_BALANCE),
    (GOOD_SYSTEM, (4,), "u", MAX_BALANCE),
    (GOOD_WITHDRAWAL, (2,), "u", U64_MAX),
]
# (leaf, path, width) of every fixed-width byte string.
BYTE_FIELDS: list[tuple[Leaf, Path, int]] = [
    (GOOD_ACCOUNT, (0,), 20),
    (GOOD_MARKET, (1,), 16),
    (GOOD_SYSTEM, (0,), 20),
    (GOOD_WITHDRAWAL, (0,), 20),
    (GOOD_WITHDRAWAL, (1,), 20),
]


def name(leaf: Leaf, path: Path) -> str:
    return f"{type(leaf).__name__}{list(path)}"


def accepted_cases(leaf: Leaf, cases: dict[str, bytes]) -> list[str]:
    """Return the labels of the cases that ``type(leaf).decode`` did not reject.

    Only MalformedLeaf counts as a rejection; any other exception fails the calling test.
    """
    # The control: the unedited leaf decodes, so each rejection is due to its edit alone.
    assert type(leaf).decode(leaf.encode()) == leaf
    accepted = []
    for label, data in cases.items():
        try:
            type(leaf).decode(data)
        except MalformedLeaf:
            continue
        accepted.append(label)
    return accepted


SCALAR_IDS = [name(leaf, path) for leaf, path, _, _ in SCALARS]


@pytest.mark.parametrize(("leaf", "path", "kind", "bound"), SCALARS, ids=SCALAR_IDS)
def test_a_scalar_that_is_non_canonical_out_of_range_or_a_list_is_rejected(
    leaf: Leaf, path: Path, kind: str, bound: int
) -> None:
    item = at(rlp.decode(leaf.encode()), path)[path[-1]]
    bad: dict[str, Any] = {
        "leading-zero": b"\x00" + item,
        "zero-as-00": b"\x00",
        "33-bytes": b"\x01" * 33,
        "list": [item],
    }
    if kind == "u":
        bad["above-max"] = u(bound + 1)
    else:
        bad["above-max"] = s(bound + 1)
        bad["below-min"] = s(-bound - 1)
        bad["int256-max"] = s(2**255 - 1)
        bad["int256-min"] = s(-(2**255))
    cases = {label: replaced(leaf, path, value) for label, value in bad.items()}
    assert accepted_cases(leaf, cases) == []


@pytest.mark.parametrize(("leaf", "path", "kind", "bound"), SCALARS, ids=SCALAR_IDS)
def test_a_scalar_at_its_exact_bounds_is_accepted(
    leaf: Leaf, path: Path, kind: str, bound: int
) -> None:
    for value in (0, bound) if kind == "u" else (-bound, bound):
        data = replaced(leaf, path, u(value) if kind == "u" else s(value))
        assert type(leaf).decode(data).encode() == data, value


@pytest.mark.parametrize(
    ("leaf", "path", "width"), BYTE_FIELDS, ids=[name(f[0], f[1]) for f in BYTE_FIELDS]
)
def test_a_byte_string_of_the_wrong_width_or_a_list_is_rejected(
    leaf: Leaf, path: Path, width: int
) -> None:
    cases = {f"{n}-bytes": replaced(leaf, path, b"\x07" * n) for n in (0, width - 1, width + 1)}
    cases["list"] = replaced(leaf, path, [b"\x07" * width])
    assert accepted_cases(leaf, cases) == []


LEAF_IDS = [type(leaf).__name__ for leaf in GOOD]


@pytest.mark.parametrize("leaf", GOOD, ids=LEAF_IDS)
def test_a_leaf_with_the_wrong_item_count_is_rejected(leaf: Leaf) -> None:
    items = rlp.decode(leaf.encode())
    cases = {
        "one-item-short": edited(leaf, lambda it: it.pop()),
        "one-item-long": edited(leaf, lambda it: it.append(b"")),
        "empty-list": rlp.encode([]),
        "a-string-not-a-list": rlp.encode(items[0]),
        "wrapped-in-a-list": rlp.encode([items]),
    }
    assert accepted_cases(leaf, cases) == []


POSITION_EDITS: dict[str, Callable[[list[Any]], None]] = {
    "position-with-2-items": lambda it: it[4][0].pop(),
    "position-with-4-items": lambda it: it[4][0].append(b""),
    "position-a-string": lambda it: it[4].__setitem__(0, b"\x01"),
    "positions-a-string": lambda it: it.__setitem__(4, b""),
    "unsorted": lambda it: it[4].reverse(),
    "duplicate-market": lambda it: it[4][1].__setitem__(0, it[4][0][0]),
    "same-position-twice": lambda it: it[4].__setitem__(1, it[4][0]),
    "zero-size": lambda it: it[4][0].__setitem__(1, b""),
    "only-a-zero-size": lambda it: it.__setitem__(4, [[b"\x01", b"", b""]]),
    f"{MAX_POSITIONS + 1}-positions": lambda it: it.__setitem__(
        4, [[u(m), b"\x01", b""] for m in range(MAX_POSITIONS + 1)]
    ),
}


@pytest.mark.parametrize("edit", list(POSITION_EDITS.values()), ids=list(POSITION_EDITS))
def test_an_account_with_malformed_positions_is_rejected(edit: Callable[[list[Any]], None]) -> None:
    assert accepted_cases(GOOD_ACCOUNT, {"edited": edited(GOOD_ACCOUNT, edit)}) == []


@pytest.mark.parametrize("leaf", GOOD, ids=LEAF_IDS)
def test_bytes_that_are_not_one_canonical_rlp_item_are_rejected(leaf: Leaf) -> None:
    good = leaf.encode()
    cases = {
        "empty-bytes": b"",
        "trailing-byte": good + b"\x00",
        "truncated": good[:-1],
        "list-prefix-without-body": b"\xc1",
        "absurd-length": b"\xff" * 9,
    }
    if len(good) - 1 < 56:
        cases["long-form-prefix-for-short-list"] = bytes([0xF8, len(good) - 1]) + good[1:]
    if isinstance(leaf, OrderState):  # the one-byte scalar 0x0c written as the string 0x81 0x0c
        assert good == b"\xc2\x0c\x01"
        cases["single-byte-as-string"] = b"\xc3\x81\x0c\x01"
    assert accepted_cases(leaf, cases) == []


LEAF_TYPES = [Account, OrderState, Market, System, Withdrawal]


NESTING_PROBE = """
import sys
import rlp
from optirollup.errors import MalformedLeaf
from optirollup.state import leaves

data = b"\\xc0"
for _ in range(3000):  # 3000 nested lists: about 8.8 KB
    data = rlp.codec.length_prefix(len(data), 0xC0) + data
for name in ("Account", "OrderState", "Market", "System", "Withdrawal"):
    try:
        getattr(leaves, name).decode(data)
    except MalformedLeaf:
        print(name, "MalformedLeaf")
    except BaseException as err:
        print(name, type(err).__name__)
"""


def test_deeply_nested_rlp_is_rejected_as_malformed_in_a_fresh_interpreter() -> None:
    # Run in a fresh interpreter: importing py-evm (as the ape pytest plugin does) raises the
    # recursion limit to 100000 for the whole process, which hides the error here but would turn
    # deeper nesting into a C-stack overflow instead.
    out = subprocess.run(
        [sys.executable, "-c", NESTING_PROBE], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert [line for line in out if line] == [f"{c.__name__} MalformedLeaf" for c in LEAF_TYPES]


@pytest.mark.parametrize("cls", LEAF_TYPES, ids=lambda c: c.__name__)
@given(st.binary(max_size=200))
def test_random_bytes_decode_canonically_or_raise_malformed_leaf(cls: type, data: bytes) -> None:
    try:
        leaf = cls.decode(data)
    except MalformedLeaf:
        return
    assert leaf.encode() == data


rlp_items = st.recursive(
    st.binary(max_size=34) | st.sampled_from([b"", b"\x00", b"\x01", b"\xff" * 32]),
    lambda children: st.lists(children, max_size=6),
    max_leaves=24,
)


@given(any_leaf, st.data())
def test_a_leaf_with_one_item_replaced_decodes_canonically_or_raises_malformed_leaf(
    leaf: Leaf, data: st.DataObject
) -> None:
    items = rlp.decode(leaf.encode())
    path = []
    node: Any = items
    while isinstance(node, list) and node:
        i = data.draw(st.integers(0, len(node) - 1), label="index")
        path.append(i)
        if not isinstance(node[i], list) or data.draw(st.booleans(), label="stop"):
            break
        node = node[i]
    if not path:
        return
    mutated = replaced(leaf, tuple(path), data.draw(rlp_items, label="item"))
    try:
        decoded = type(leaf).decode(mutated)
    except MalformedLeaf:
        return
    assert decoded.encode() == mutated


# --------------------------------------------------------------------------- keys


def keccak(data: bytes) -> bytes:
    """Return keccak-256 via pycryptodome, independently of the eth-hash wrapper under test."""
    return _keccak.new(digest_bits=256, data=data).digest()


DEVNET_VAULT = bytes.fromhex("5fbdb2315678afecb367f032d93f642f64180aa3")
PINNED_KEYS = [
    pytest.param(
        keys.account_key(DEVNET_VAULT),
        "001c12b38ba69376780ad45fb11c47e56dcb5f80e467d8af2bf84d23b5476039",
        b"\x01" + DEVNET_VAULT, id="account",
    ),
    pytest.param(
        keys.account_key(ZERO_ADDRESS),
        "2f62afa045d9d3b8eca1d2086d12bb99ddcab4cb01b136c43cbf35db14725e24",
        b"\x01" + ZERO_ADDRESS, id="account-zero",
    ),
    pytest.param(
        keys.order_key(DEVNET_VAULT, bytes(range(32))),
        "2d2739991546209623fc745141cf977ef33206d9d2e48b2bb8acc428e8e0455c",
        b"\x02" + DEVNET_VAULT + bytes(range(32)), id="order",
    ),
    pytest.param(
        keys.market_key(1),
        "5cb0ad1c9798657a0f3486669fe8ffb5136edd7b4d6f3c1c9757861b7b38fd85",
        b"\x03\x00\x00\x00\x01", id="market-1",
    ),
    pytest.param(
        keys.market_key(U32_MAX),
        "8d9b87c113f7f112abf7257ff7fd1897e2cec95b526b3d491976cb315283b6c3",
        b"\x03\xff\xff\xff\xff", id="market-max",
    ),
    pytest.param(
        keys.SYSTEM_KEY,
        "f343681465b9efe82c933c3e8748c70cb8aa06539c361de20f72eac04e766393",
        b"\x04", id="system",
    ),
    pytest.param(
        keys.withdrawal_key(0),
        "534696ad9c2fb69ed4845810d278a16bef3ddcefea830dc4186f43bd5733e77a",
        b"\x05" + b"\x00" * 8, id="withdrawal-0",
    ),
    pytest.param(
        keys.withdrawal_key(7),
        "e9c2258ac3d493977f8abab14d96ee5fd55a15f3a2fcb7e75116a55e8efcfadb",
        b"\x05" + b"\x00" * 7 + b"\x07", id="withdrawal-7",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("key", "pinned", "preimage"), PINNED_KEYS)
def test_a_key_equals_its_pinned_keccak_of_prefix_and_identity(
    key: bytes, pinned: str, preimage: bytes
) -> None:
    assert type(key) is bytes and len(key) == 32
    assert key.hex() == pinned
    assert keccak(preimage).hex() == pinned


def test_every_key_type_has_its_own_prefix_and_preimage_length() -> None:
    prefixes = [keys.ACCOUNT_PREFIX, keys.ORDER_PREFIX, keys.MARKET_PREFIX, keys.SYSTEM_PREFIX,
                keys.WITHDRAWAL_PREFIX]  # fmt: skip
    assert all(len(p) == 1 for p in prefixes)
    assert len(set(prefixes)) == len(prefixes)
    # One-byte distinct prefixes make the preimages of different key types differ in their first
    # byte, so two key types can only collide through a keccak collision.


@given(st.binary(min_size=52, max_size=52))
def test_distinct_prefixes_never_collide_for_the_same_identity_bytes(identity: bytes) -> None:
    account, order_hash = identity[:20], identity[20:]
    as_int = int.from_bytes(identity[:4], "big")
    derived = {
        "account": keys.account_key(account),
        "order": keys.order_key(account, order_hash),
        "market": keys.market_key(as_int),
        "withdrawal": keys.withdrawal_key(as_int),
        "system": keys.SYSTEM_KEY,
    }
    assert len(set(derived.values())) == len(derived)
    assert derived["account"] == keccak(b"\x01" + account)
    assert derived["order"] == keccak(b"\x02" + identity)
    assert derived["market"] == keccak(b"\x03" + identity[:4])
    assert derived["withdrawal"] == keccak(b"\x05" + as_int.to_bytes(8, "big"))


def test_the_owner_is_part_of_the_order_key() -> None:
    order_hash = b"\x33" * 32
    assert keys.order_key(A1, order_hash) != keys.order_key(A2, order_hash)
