"""The hand-rolled leaf encoder must equal the rlp package's encoding, byte for byte."""

import rlp
from hypothesis import given
from hypothesis import strategies as st

from optirollup.state.leaves import (
    MAX_POSITIONS,
    Account,
    Market,
    OrderState,
    Position,
    System,
    Withdrawal,
)
from optirollup.units import MAX_COLLATERAL, MAX_FUNDING_INDEX, MAX_POSITION_SIZE, to_u256

addresses = st.binary(min_size=20, max_size=20)
u64 = st.integers(0, 2**64 - 1)
u32 = st.integers(0, 2**32 - 1)
sizes = st.integers(-MAX_POSITION_SIZE, MAX_POSITION_SIZE).filter(bool)
indices = st.integers(-MAX_FUNDING_INDEX, MAX_FUNDING_INDEX)


@st.composite
def accounts(draw: st.DrawFn) -> Account:
    markets = sorted(draw(st.sets(u32, max_size=MAX_POSITIONS)))
    positions = tuple(Position(m, draw(sizes), draw(indices)) for m in markets)
    return Account(
        draw(addresses),
        draw(st.integers(-MAX_COLLATERAL, MAX_COLLATERAL)),
        draw(u64),
        draw(u64),
        positions,
    )


@given(accounts())
def test_an_account_leaf_encodes_exactly_as_the_rlp_package_does(acc: Account) -> None:
    reference = rlp.encode(
        [
            acc.address,
            to_u256(acc.collateral),
            acc.nonce,
            acc.cancel_floor,
            [[p.market, to_u256(p.size), to_u256(p.funding_snapshot)] for p in acc.positions],
        ]
    )
    assert acc.encode() == reference
    assert Account.decode(reference) == acc


@given(u64, st.booleans())
def test_an_order_leaf_encodes_exactly_as_the_rlp_package_does(
    filled: int, cancelled: bool
) -> None:
    assert OrderState(filled, cancelled).encode() == rlp.encode([filled, int(cancelled)])


@given(addresses, u64, u64, st.integers(0, 2**127 - 1), st.integers(0, 2**127 - 1))
def test_the_system_leaf_encodes_exactly_as_the_rlp_package_does(
    oracle: bytes, dep: int, wid: int, fees: int, ins: int
) -> None:
    assert System(oracle, dep, wid, fees, ins).encode() == rlp.encode([oracle, dep, wid, fees, ins])


@given(addresses, addresses, u64)
def test_a_withdrawal_leaf_encodes_exactly_as_the_rlp_package_does(
    account: bytes, recipient: bytes, amount: int
) -> None:
    expected = rlp.encode([account, recipient, amount])
    assert Withdrawal(account, recipient, amount).encode() == expected


@given(
    st.integers(0, 255), st.binary(min_size=16, max_size=16), st.lists(u64, min_size=4, max_size=4),
    st.lists(u32, min_size=5, max_size=5), st.lists(u64, min_size=3, max_size=3), indices,
    st.lists(u64, min_size=2, max_size=2),
)  # fmt: skip
def test_a_market_leaf_encodes_exactly_as_the_rlp_package_does(
    kind: int, symbol: bytes, a: list[int], b: list[int], c: list[int], index: int, d: list[int]
) -> None:
    m = Market(kind, symbol, *a, *b, *c, index, *d)
    fields = [kind, symbol, *a, *b, *c, to_u256(index), *d]
    assert m.encode() == rlp.encode(fields)
    assert Market.decode(m.encode()) == m
