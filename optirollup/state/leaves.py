"""Typed state leaves and their RLP encodings.

Every leaf is an RLP list, so no encoding is ever empty (a trie value of ``b""`` would mean
"absent"). Integers are RLP big-endian scalars without leading zeros; *signed* fields are encoded
as the 256-bit two's complement of the value, then as a scalar (so negative values take 32
bytes). Addresses are 20-byte strings. Decoding is strict: non-canonical scalars, wrong field
counts, out-of-range values and unsorted positions are rejected with MalformedLeaf.
Normative: docs/protocol.md, "Leaves".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from optirollup.errors import MalformedLeaf
from optirollup.units import (
    MAX_BALANCE,
    MAX_COLLATERAL,
    MAX_FUNDING_INDEX,
    MAX_POSITION_SIZE,
    U8_MAX,
    U32_MAX,
    U64_MAX,
    from_u256,
    to_u256,
)

MAX_POSITIONS = 8
"""Most open positions (distinct markets) one account may hold."""

ZERO_ADDRESS = b"\x00" * 20


def _s(x: int) -> int:
    return to_u256(x)


def _rlp_str(b: bytes) -> bytes:
    """RLP-encode a byte string (the rlp package does the same, ~10x slower)."""
    n = len(b)
    if n == 1 and b[0] < 0x80:
        return b
    if n < 56:
        return bytes((0x80 + n,)) + b
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0xB7 + len(ln),)) + ln + b


def _rlp_int(x: int) -> bytes:
    """RLP-encode a non-negative integer as a minimal big-endian scalar."""
    if x == 0:
        return b"\x80"
    if x < 0x80:
        return bytes((x,))
    return _rlp_str(x.to_bytes((x.bit_length() + 7) // 8, "big"))


def _rlp_list(*items: bytes) -> bytes:
    """RLP-encode a list of already-encoded items."""
    payload = b"".join(items)
    n = len(payload)
    if n < 56:
        return bytes((0xC0 + n,)) + payload
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(ln),)) + ln + payload


def _scalar(item: Any, name: str) -> int:
    if not isinstance(item, bytes):
        raise MalformedLeaf(f"{name}: expected a scalar, got a list")
    if item[:1] == b"\x00":
        raise MalformedLeaf(f"{name}: non-canonical scalar with leading zero")
    if len(item) > 32:
        raise MalformedLeaf(f"{name}: scalar longer than 32 bytes")
    return int.from_bytes(item, "big")


def _uint(item: Any, name: str, hi: int) -> int:
    v = _scalar(item, name)
    if v > hi:
        raise MalformedLeaf(f"{name}={v} exceeds {hi}")
    return v


def _sint(item: Any, name: str, bound: int) -> int:
    v = from_u256(_scalar(item, name))
    if not -bound <= v <= bound:
        raise MalformedLeaf(f"{name}={v} outside ±{bound}")
    return v


def _bytes(item: Any, name: str, n: int) -> bytes:
    if not isinstance(item, bytes) or len(item) != n:
        raise MalformedLeaf(f"{name}: expected {n} bytes")
    return item


MAX_LEAF_NESTING = 3
"""Deepest list nesting of any leaf: account → positions → position."""


def _rlp_decode(data: bytes, name: str) -> Any:
    """Decode strict (canonical) RLP with nesting at most MAX_LEAF_NESTING, without recursion.

    Returns nested lists of ``bytes``. Rejects non-canonical length forms, single bytes below
    0x80 wrapped as strings, truncated or trailing data, and deeper nesting, all as MalformedLeaf.
    """

    def header(pos: int, end: int) -> tuple[bool, int, int]:
        """Return (is_list, payload start, payload end) of the item at ``pos``."""
        if pos >= end:
            raise MalformedLeaf(f"{name}: truncated RLP")
        b0 = data[pos]
        if b0 < 0x80:
            return False, pos, pos + 1
        if b0 < 0xB8 or 0xC0 <= b0 < 0xF8:
            is_list = b0 >= 0xC0
            n = b0 - (0xC0 if is_list else 0x80)
            start = pos + 1
            if not is_list and n == 1 and start < end and data[start] < 0x80:
                raise MalformedLeaf(f"{name}: non-canonical RLP (single byte as string)")
        else:
            is_list = b0 >= 0xF8
            ll = b0 - (0xF7 if is_list else 0xB7)
            start = pos + 1 + ll
            if start > end or data[pos + 1] == 0:
                raise MalformedLeaf(f"{name}: bad RLP length prefix")
            n = int.from_bytes(data[pos + 1 : start], "big")
            if n < 56:
                raise MalformedLeaf(f"{name}: non-canonical RLP (long form for a short item)")
        if start + n > end:
            raise MalformedLeaf(f"{name}: RLP item overruns its container")
        return is_list, start, start + n

    is_list, start, stop = header(0, len(data))
    if stop != len(data):
        raise MalformedLeaf(f"{name}: trailing bytes after RLP item")
    if not is_list:
        return data[start:stop]
    root: list[Any] = []
    # Frames of open lists: [items so far, next position, end of payload]; the root is depth 1.
    stack: list[list[Any]] = [[root, start, stop]]
    while stack:
        frame = stack[-1]
        out, pos, end = frame
        if pos >= end:
            stack.pop()
            continue
        is_list, s0, s1 = header(pos, end)
        frame[1] = s1
        if not is_list:
            out.append(data[s0:s1])
            continue
        if len(stack) + 1 > MAX_LEAF_NESTING:
            raise MalformedLeaf(f"{name}: RLP nested deeper than {MAX_LEAF_NESTING}")
        child: list[Any] = []
        out.append(child)
        stack.append([child, s0, s1])
    return root


def _list(data: bytes, n: int, name: str) -> list[Any]:
    items = _rlp_decode(data, name)
    if not isinstance(items, list) or len(items) != n:
        raise MalformedLeaf(f"{name}: expected a list of {n} items")
    return items


@dataclass(frozen=True, slots=True)
class Position:
    """One open position: signed size (1e-8 units) and the funding index it was settled at."""

    market: int
    size: int
    funding_snapshot: int


@dataclass(frozen=True, slots=True)
class Account:
    """A trader's account: signed collateral, withdrawal nonce, cancel floor, positions.

    ``collateral`` is signed: buying pays the notional out of collateral and selling adds it, so a
    long position usually pairs with negative collateral; equity adds the positions' mark value.
    ``positions`` hold no zero sizes and are sorted by market id, at most ``MAX_POSITIONS``.
    """

    address: bytes
    collateral: int = 0
    nonce: int = 0
    cancel_floor: int = 0
    positions: tuple[Position, ...] = field(default=())

    def encode(self) -> bytes:
        """Return ``rlp([address, collateral, nonce, cancelFloor, [[market, size, snap], …]])``."""
        positions = [
            _rlp_list(_rlp_int(p.market), _rlp_int(_s(p.size)), _rlp_int(_s(p.funding_snapshot)))
            for p in self.positions
        ]
        return _rlp_list(
            _rlp_str(self.address), _rlp_int(_s(self.collateral)), _rlp_int(self.nonce),
            _rlp_int(self.cancel_floor), _rlp_list(*positions),
        )  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> Account:
        """Decode and validate an account leaf."""
        it = _list(data, 5, "account")
        raw_positions = it[4]
        if not isinstance(raw_positions, list) or len(raw_positions) > MAX_POSITIONS:
            raise MalformedLeaf(f"account: positions must be a list of at most {MAX_POSITIONS}")
        positions: list[Position] = []
        for p in raw_positions:
            if not isinstance(p, list) or len(p) != 3:
                raise MalformedLeaf("account: a position must be [market, size, snapshot]")
            pos = Position(
                _uint(p[0], "position.market", U32_MAX),
                _sint(p[1], "position.size", MAX_POSITION_SIZE),
                _sint(p[2], "position.snapshot", MAX_FUNDING_INDEX),
            )
            if pos.size == 0:
                raise MalformedLeaf("account: zero-size position")
            if positions and positions[-1].market >= pos.market:
                raise MalformedLeaf("account: positions not strictly sorted by market")
            positions.append(pos)
        return cls(
            _bytes(it[0], "account.address", 20),
            _sint(it[1], "account.collateral", MAX_COLLATERAL),
            _uint(it[2], "account.nonce", U64_MAX),
            _uint(it[3], "account.cancel_floor", U64_MAX),
            tuple(positions),
        )

    def position(self, market: int) -> int:
        """Return the signed size held in ``market`` (0 if none)."""
        for p in self.positions:
            if p.market == market:
                return p.size
        return 0


@dataclass(frozen=True, slots=True)
class OrderState:
    """What the state remembers of an order: how much is filled and whether it is cancelled."""

    filled: int = 0
    cancelled: bool = False

    def encode(self) -> bytes:
        """Return ``rlp([filled, cancelled])``."""
        return _rlp_list(_rlp_int(self.filled), _rlp_int(int(self.cancelled)))

    @classmethod
    def decode(cls, data: bytes) -> OrderState:
        """Decode and validate an order leaf."""
        it = _list(data, 2, "order")
        return cls(_uint(it[0], "order.filled", U64_MAX), bool(_uint(it[1], "order.cancelled", 1)))


@dataclass(frozen=True, slots=True)
class Market:
    """A market: static parameters, oracle data and funding state.

    Prices are quote units (1e-6) per whole underlying unit; ``funding_index`` is the cumulative
    sum of ``rate_ppm * oracle_price`` over funding ticks (units: 1e-6 quote per whole unit, times
    PPM), so a position of size ``s`` owes ``s * Δindex / (SIZE_SCALE * PPM)``.
    ``option_mark`` and ``settlement_price`` are used by option markets (0 = unset).
    """

    kind: int
    symbol: bytes
    strike: int
    expiry: int
    lot_size: int
    tick_size: int
    im_ppm: int
    mm_ppm: int
    maker_fee_ppm: int
    taker_fee_ppm: int
    max_funding_ppm: int
    oracle_price: int = 0
    option_mark: int = 0
    oracle_time: int = 0
    funding_index: int = 0
    funding_time: int = 0
    settlement_price: int = 0

    def encode(self) -> bytes:
        """Return the RLP list of the 17 fields in declaration order (funding index signed)."""
        i = _rlp_int
        return _rlp_list(
            i(self.kind), _rlp_str(self.symbol), i(self.strike), i(self.expiry), i(self.lot_size),
            i(self.tick_size), i(self.im_ppm), i(self.mm_ppm), i(self.maker_fee_ppm),
            i(self.taker_fee_ppm), i(self.max_funding_ppm), i(self.oracle_price),
            i(self.option_mark), i(self.oracle_time), i(_s(self.funding_index)),
            i(self.funding_time), i(self.settlement_price),
        )  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> Market:
        """Decode and validate a market leaf."""
        it = _list(data, 17, "market")
        u64 = [_uint(it[i], f"market[{i}]", U64_MAX) for i in (2, 3, 4, 5, 11, 12, 13, 15, 16)]
        u32 = [_uint(it[i], f"market[{i}]", U32_MAX) for i in (6, 7, 8, 9, 10)]
        return cls(
            kind=_uint(it[0], "market.kind", U8_MAX),
            symbol=_bytes(it[1], "market.symbol", 16),
            strike=u64[0], expiry=u64[1], lot_size=u64[2], tick_size=u64[3],
            im_ppm=u32[0], mm_ppm=u32[1], maker_fee_ppm=u32[2], taker_fee_ppm=u32[3],
            max_funding_ppm=u32[4],
            oracle_price=u64[4], option_mark=u64[5], oracle_time=u64[6],
            funding_index=_sint(it[14], "market.funding_index", MAX_FUNDING_INDEX),
            funding_time=u64[7], settlement_price=u64[8],
        )  # fmt: skip

    @property
    def mark_price(self) -> int:
        """Return the price positions are valued at: the index price for perps."""
        return self.oracle_price if self.kind == 0 else self.option_mark


@dataclass(frozen=True, slots=True)
class System:
    """The single system leaf: oracle key, queue cursors, fee and insurance balances."""

    oracle: bytes
    next_deposit_index: int = 0
    next_withdrawal_id: int = 0
    fee_balance: int = 0
    insurance_balance: int = 0

    def encode(self) -> bytes:
        """Return ``rlp([oracle, nextDepositIndex, nextWithdrawalId, feeBalance, insurance])``."""
        return _rlp_list(
            _rlp_str(self.oracle), _rlp_int(self.next_deposit_index),
            _rlp_int(self.next_withdrawal_id), _rlp_int(self.fee_balance),
            _rlp_int(self.insurance_balance),
        )  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> System:
        """Decode and validate the system leaf."""
        it = _list(data, 5, "system")
        return cls(
            _bytes(it[0], "system.oracle", 20),
            _uint(it[1], "system.next_deposit_index", U64_MAX),
            _uint(it[2], "system.next_withdrawal_id", U64_MAX),
            _uint(it[3], "system.fee_balance", MAX_BALANCE),
            _uint(it[4], "system.insurance_balance", MAX_BALANCE),
        )


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A withdrawal: ``amount`` quote units payable on L1 to ``recipient`` once final."""

    account: bytes
    recipient: bytes
    amount: int

    def encode(self) -> bytes:
        """Return ``rlp([account, recipient, amount])``."""
        return _rlp_list(_rlp_str(self.account), _rlp_str(self.recipient), _rlp_int(self.amount))

    @classmethod
    def decode(cls, data: bytes) -> Withdrawal:
        """Decode and validate a withdrawal leaf."""
        it = _list(data, 3, "withdrawal")
        return cls(
            _bytes(it[0], "withdrawal.account", 20),
            _bytes(it[1], "withdrawal.recipient", 20),
            _uint(it[2], "withdrawal.amount", U64_MAX),
        )


def sorted_positions(positions: Sequence[Position]) -> tuple[Position, ...]:
    """Return positions sorted by market id (the canonical order)."""
    return tuple(sorted(positions, key=lambda p: p.market))
