"""Canonical transaction encodings.

Every transaction is one type byte followed by fixed-width big-endian fields (no framing, no
padding), so each type has exactly one length and exactly one encoding of each value: decoding is
slicing, and "malformed" (unknown type byte or wrong length) is decidable on-chain without
parsing. Layouts are normative; docs/protocol.md lists them with byte offsets.

Signed integers (funding rates) are two's complement of their stated width. Signatures are
65 bytes ``r ‖ s ‖ v`` over the EIP-712 digest of the message (``optirollup.codec.eip712``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import ClassVar, TypeAlias

from optirollup.codec import eip712
from optirollup.errors import MalformedTransaction

SIG_LEN = 65


class TxType(IntEnum):
    """The first byte of every transaction."""

    DEPOSIT = 0x01
    WITHDRAW = 0x02
    ORACLE_UPDATE = 0x03
    FUNDING_TICK = 0x04
    FILL = 0x05
    CANCEL = 0x06
    CANCEL_ALL = 0x07
    LIST_MARKET = 0x08
    # Encodings fixed now; their state transitions arrive with options and liquidation.
    SET_SETTLEMENT = 0x09
    LIQUIDATE = 0x0A
    DELEVERAGE = 0x0B
    SETTLE_POSITION = 0x0C


class Side(IntEnum):
    """Order side."""

    BUY = 0
    SELL = 1


class OrderFlags(IntFlag):
    """Order flags (bits of the ``flags`` byte); any other bit makes the order invalid."""

    NONE = 0
    POST_ONLY = 1
    REDUCE_ONLY = 2
    IOC = 4


ORDER_FLAGS_MASK = int(OrderFlags.POST_ONLY | OrderFlags.REDUCE_ONLY | OrderFlags.IOC)


class MarketKind(IntEnum):
    """Market kinds: perpetual future, European cash-settled call or put option."""

    PERP = 0
    CALL = 1
    PUT = 2


def _u(x: int, bits: int, name: str) -> int:
    if not 0 <= x < 2**bits:
        raise MalformedTransaction(f"{name}={x} does not fit uint{bits}")
    return x


def _b(x: bytes, n: int, name: str) -> bytes:
    if len(x) != n:
        raise MalformedTransaction(f"{name} must be {n} bytes, got {len(x)}")
    return x


# --------------------------------------------------------------------------------------------
# Orders


_ORDER = struct.Struct(">20sIBQQIQQB")  # 62 bytes
ORDER_LEN = _ORDER.size
# The EIP-712 encoding of the same fields: each one right-aligned in a 32-byte word.
_ORDER_WORDS = struct.Struct(">12x20s28xI31xB24xQ24xQ28xI24xQ24xQ31xB")


@dataclass(frozen=True, slots=True)
class Order:
    """An EIP-712 limit order. ``size`` is the total quantity; fills are tracked per order hash."""

    account: bytes
    market: int
    side: int
    price: int
    size: int
    fee_cap_ppm: int
    nonce: int
    expiry: int
    flags: int = 0

    def encode(self) -> bytes:
        """Return the 62-byte packed order."""
        _b(self.account, 20, "account")
        try:
            return _ORDER.pack(
                self.account, self.market, self.side, self.price, self.size,
                self.fee_cap_ppm, self.nonce, self.expiry, self.flags,
            )  # fmt: skip
        except struct.error as err:
            raise MalformedTransaction(f"order field out of range: {err}") from err

    @classmethod
    def decode(cls, data: bytes, offset: int = 0) -> Order:
        """Decode a 62-byte packed order starting at ``offset``."""
        return cls(*_ORDER.unpack_from(data, offset))

    def struct_hash(self) -> bytes:
        """Return the EIP-712 struct hash (typehash ‖ nine 32-byte words, one struct.pack)."""
        try:
            words = _ORDER_WORDS.pack(
                self.account, self.market, self.side, self.price, self.size,
                self.fee_cap_ppm, self.nonce, self.expiry, self.flags,
            )  # fmt: skip
        except struct.error as err:
            raise MalformedTransaction(f"order field out of range: {err}") from err
        return eip712.struct_hash("Order", (words,))

    def hash(self, separator: bytes) -> bytes:
        """Return the order hash: the EIP-712 digest the trader signs."""
        return eip712.digest(separator, self.struct_hash())

    def eip712_message(self) -> dict[str, object]:
        """Return the message as eth-account's ``encode_typed_data`` expects it."""
        return {
            "account": "0x" + self.account.hex(), "market": self.market, "side": self.side,
            "price": self.price, "size": self.size, "feeCapPpm": self.fee_cap_ppm,
            "nonce": self.nonce, "expiry": self.expiry, "flags": self.flags,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class SignedOrder:
    """An order with its signature."""

    order: Order
    signature: bytes

    def encode(self) -> bytes:
        """Return order ‖ signature (127 bytes)."""
        return self.order.encode() + _b(self.signature, SIG_LEN, "signature")


# --------------------------------------------------------------------------------------------
# Transactions


@dataclass(frozen=True, slots=True)
class Deposit:
    """DEPOSIT: credit the L1 deposit queue entry ``index`` (no signature: the Vault vouches)."""

    TYPE: ClassVar[TxType] = TxType.DEPOSIT
    index: int
    account: bytes
    amount: int

    def payload(self) -> bytes:
        """Return the fields after the type byte."""
        return (
            _u(self.index, 64, "index").to_bytes(8, "big")
            + _b(self.account, 20, "account")
            + _u(self.amount, 64, "amount").to_bytes(8, "big")
        )


@dataclass(frozen=True, slots=True)
class Withdraw:
    """WITHDRAW: move ``amount`` of collateral to a withdrawal leaf claimable on L1."""

    TYPE: ClassVar[TxType] = TxType.WITHDRAW
    EIP712_TYPE: ClassVar[str] = "Withdraw"
    account: bytes
    recipient: bytes
    amount: int
    nonce: int
    signature: bytes = field(default=b"\x00" * SIG_LEN, compare=True)

    def payload(self) -> bytes:
        """Return the fields after the type byte."""
        return (
            _b(self.account, 20, "account") + _b(self.recipient, 20, "recipient")
            + _u(self.amount, 64, "amount").to_bytes(8, "big")
            + _u(self.nonce, 64, "nonce").to_bytes(8, "big")
            + _b(self.signature, SIG_LEN, "signature")
        )  # fmt: skip

    def struct_words(self) -> tuple[bytes, ...]:
        """Return the EIP-712 field words."""
        w = eip712._word
        return (
            eip712._addr_word(self.account), eip712._addr_word(self.recipient),
            w(self.amount), w(self.nonce),
        )  # fmt: skip

    def eip712_message(self) -> dict[str, object]:
        """Return the message for eth-account."""
        return {
            "account": "0x" + self.account.hex(), "recipient": "0x" + self.recipient.hex(),
            "amount": self.amount, "nonce": self.nonce,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class OracleUpdate:
    """ORACLE_UPDATE: the oracle key sets a market's index price (and option mark) at ``time``."""

    TYPE: ClassVar[TxType] = TxType.ORACLE_UPDATE
    EIP712_TYPE: ClassVar[str] = "OracleUpdate"
    market: int
    price: int
    mark: int
    time: int
    signature: bytes = b"\x00" * SIG_LEN

    def payload(self) -> bytes:
        """Return the fields after the type byte."""
        return (
            _u(self.market, 32, "market").to_bytes(4, "big")
            + _u(self.price, 64, "price").to_bytes(8, "big")
            + _u(self.mark, 64, "mark").to_bytes(8, "big")
            + _u(self.time, 64, "time").to_bytes(8, "big")
            + _b(self.signature, SIG_LEN, "signature")
        )

    def struct_words(self) -> tuple[bytes, ...]:
        """Return the EIP-712 field words."""
        w = eip712._word
        return (w(self.market), w(self.price), w(self.mark), w(self.time))

    def eip712_message(self) -> dict[str, object]:
        """Return the message for eth-account."""
        return {"market": self.market, "price": self.price, "mark": self.mark, "time": self.time}


@dataclass(frozen=True, slots=True)
class FundingTick:
    """FUNDING_TICK: the oracle key applies one funding rate (ppm of the index price)."""

    TYPE: ClassVar[TxType] = TxType.FUNDING_TICK
    EIP712_TYPE: ClassVar[str] = "FundingTick"
    market: int
    rate_ppm: int
    time: int
    signature: bytes = b"\x00" * SIG_LEN

    def payload(self) -> bytes:
        """Return the fields after the type byte."""
        if not -(2**31) <= self.rate_ppm < 2**31:
            raise MalformedTransaction(f"rate_ppm={self.rate_ppm} does not fit int32")
        return (
            _u(self.market, 32, "market").to_bytes(4, "big")
            + self.rate_ppm.to_bytes(4, "big", signed=True)
            + _u(self.time, 64, "time").to_bytes(8, "big")
            + _b(self.signature, SIG_LEN, "signature")
        )

    def struct_words(self) -> tuple[bytes, ...]:
        """Return the EIP-712 field words."""
        w = eip712._word
        return (w(self.market), w(self.rate_ppm), w(self.time))

    def eip712_message(self) -> dict[str, object]:
        """Return the message for eth-account."""
        return {"market": self.market, "ratePpm": self.rate_ppm, "time": self.time}


@dataclass(frozen=True, slots=True)
class Fill:
    """FILL: match ``size`` between a resting maker order and a taker order at the maker's price."""

    TYPE: ClassVar[TxType] = TxType.FILL
    maker: SignedOrder
    taker: SignedOrder
    size: int

    def payload(self) -> bytes:
        """Return the fields after the type byte."""
        return (
            self.maker.encode() + self.taker.encode() + _u(self.size, 64, "size").to_bytes(8, "big")
        )


@dataclass(frozen=True, slots=True)
class Cancel:
    """CANCEL: mark one of the account's orders cancelled."""

    TYPE: ClassVar[TxType] = TxType.CANCEL
    EIP712_TYPE: ClassVar[str] = "Cancel"
    account: bytes
    order_hash: bytes
    signature: bytes = b"\x00" * SIG_LEN

    def payload(self) -> bytes:
        """Return the fields after the type byte."""
        return (
            _b(self.account, 20, "account") + _b(self.order_hash, 32, "order_hash")
            + _b(self.signature, SIG_LEN, "signature")
        )  # fmt: skip

    def struct_words(self) -> tuple[bytes, ...]:
        """Return the EIP-712 field words."""
        return (eip712._addr_word(self.account), self.order_hash)

    def eip712_message(self) -> dict[str, object]:
        """Return the message for eth-account."""
        return {"account": "0x" + self.account.hex(), "orderHash": self.order_hash}


@dataclass(frozen=True, slots=True)
class CancelAll:
    """CANCEL_ALL: raise the account's cancel floor; every order with a lower nonce dies."""

    TYPE: ClassVar[TxType] = TxType.CANCEL_ALL
    EIP712_TYPE: ClassVar[str] = "CancelAll"
    account: bytes
    floor: int
    signature: bytes = b"\x00" * SIG_LEN

    def payload(self) -> bytes:
        """Return the fields after the type byte."""
        return (
            _b(self.account, 20, "account") + _u(self.floor, 64, "floor").to_bytes(8, "big")
            + _b(self.signature, SIG_LEN, "signature")
        )  # fmt: skip

    def struct_words(self) -> tuple[bytes, ...]:
        """Return the EIP-712 field words."""
        return (eip712._addr_word(self.account), eip712._word(self.floor))

    def eip712_message(self) -> dict[str, object]:
        """Return the message for eth-account."""
        return {"account": "0x" + self.account.hex(), "floor": self.floor}


_LIST = struct.Struct(">IB16sQQQQIIIII")  # 73 bytes


@dataclass(frozen=True, slots=True)
class ListMarket:
    """LIST_MARKET: the oracle (admin) key lists a new market with its parameters."""

    TYPE: ClassVar[TxType] = TxType.LIST_MARKET
    EIP712_TYPE: ClassVar[str] = "ListMarket"
    market: int
    kind: int
    symbol: bytes  # 16 bytes; by convention ASCII right-padded with zeros (not validated)
    strike: int
    expiry: int
    lot_size: int
    tick_size: int
    im_ppm: int
    mm_ppm: int
    maker_fee_ppm: int
    taker_fee_ppm: int
    max_funding_ppm: int
    signature: bytes = b"\x00" * SIG_LEN

    def payload(self) -> bytes:
        """Return the fields after the type byte."""
        _b(self.symbol, 16, "symbol")
        try:
            body = _LIST.pack(
                self.market, self.kind, self.symbol, self.strike, self.expiry, self.lot_size,
                self.tick_size, self.im_ppm, self.mm_ppm, self.maker_fee_ppm,
                self.taker_fee_ppm, self.max_funding_ppm,
            )  # fmt: skip
        except struct.error as err:
            raise MalformedTransaction(f"market field out of range: {err}") from err
        return body + _b(self.signature, SIG_LEN, "signature")

    def struct_words(self) -> tuple[bytes, ...]:
        """Return the EIP-712 field words."""
        w = eip712._word
        return (
            w(self.market), w(self.kind), self.symbol + b"\x00" * 16, w(self.strike),
            w(self.expiry), w(self.lot_size), w(self.tick_size), w(self.im_ppm), w(self.mm_ppm),
            w(self.maker_fee_ppm), w(self.taker_fee_ppm), w(self.max_funding_ppm),
        )  # fmt: skip

    def eip712_message(self) -> dict[str, object]:
        """Return the message for eth-account."""
        return {
            "market": self.market, "kind": self.kind, "symbol": self.symbol,
            "strike": self.strike, "expiry": self.expiry, "lotSize": self.lot_size,
            "tickSize": self.tick_size, "imPpm": self.im_ppm, "mmPpm": self.mm_ppm,
            "makerFeePpm": self.maker_fee_ppm, "takerFeePpm": self.taker_fee_ppm,
            "maxFundingPpm": self.max_funding_ppm,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class SetSettlement:
    """SET_SETTLEMENT (reserved): the oracle key fixes an option market's settlement price."""

    TYPE: ClassVar[TxType] = TxType.SET_SETTLEMENT
    EIP712_TYPE: ClassVar[str] = "SetSettlement"
    market: int
    price: int
    time: int
    signature: bytes = b"\x00" * SIG_LEN

    def payload(self) -> bytes:
        """Return the fields after the type byte."""
        return (
            _u(self.market, 32, "market").to_bytes(4, "big")
            + _u(self.price, 64, "price").to_bytes(8, "big")
            + _u(self.time, 64, "time").to_bytes(8, "big")
            + _b(self.signature, SIG_LEN, "signature")
        )

    def struct_words(self) -> tuple[bytes, ...]:
        """Return the EIP-712 field words."""
        w = eip712._word
        return (w(self.market), w(self.price), w(self.time))

    def eip712_message(self) -> dict[str, object]:
        """Return the message for eth-account."""
        return {"market": self.market, "price": self.price, "time": self.time}


@dataclass(frozen=True, slots=True)
class Liquidate:
    """LIQUIDATE (reserved): a liquidator takes over part of an under-margined position."""

    TYPE: ClassVar[TxType] = TxType.LIQUIDATE
    EIP712_TYPE: ClassVar[str] = "Liquidate"
    liquidator: bytes
    account: bytes
    market: int
    size: int
    expiry: int
    signature: bytes = b"\x00" * SIG_LEN

    def payload(self) -> bytes:
        """Return the fields after the type byte."""
        return (
            _b(self.liquidator, 20, "liquidator") + _b(self.account, 20, "account")
            + _u(self.market, 32, "market").to_bytes(4, "big")
            + _u(self.size, 64, "size").to_bytes(8, "big")
            + _u(self.expiry, 64, "expiry").to_bytes(8, "big")
            + _b(self.signature, SIG_LEN, "signature")
        )  # fmt: skip

    def struct_words(self) -> tuple[bytes, ...]:
        """Return the EIP-712 field words."""
        w = eip712._word
        return (
            eip712._addr_word(self.liquidator), eip712._addr_word(self.account),
            w(self.market), w(self.size), w(self.expiry),
        )  # fmt: skip

    def eip712_message(self) -> dict[str, object]:
        """Return the message for eth-account."""
        return {
            "liquidator": "0x" + self.liquidator.hex(), "account": "0x" + self.account.hex(),
            "market": self.market, "size": self.size, "expiry": self.expiry,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Deleverage:
    """DELEVERAGE (reserved): close a bankrupt position against a counterparty (no signature)."""

    TYPE: ClassVar[TxType] = TxType.DELEVERAGE
    account: bytes
    counterparty: bytes
    market: int
    size: int

    def payload(self) -> bytes:
        """Return the fields after the type byte."""
        return (
            _b(self.account, 20, "account") + _b(self.counterparty, 20, "counterparty")
            + _u(self.market, 32, "market").to_bytes(4, "big")
            + _u(self.size, 64, "size").to_bytes(8, "big")
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SettlePosition:
    """SETTLE_POSITION (reserved): pay out an expired option position (no signature)."""

    TYPE: ClassVar[TxType] = TxType.SETTLE_POSITION
    account: bytes
    market: int

    def payload(self) -> bytes:
        """Return the fields after the type byte."""
        return _b(self.account, 20, "account") + _u(self.market, 32, "market").to_bytes(4, "big")


Tx: TypeAlias = (
    Deposit
    | Withdraw
    | OracleUpdate
    | FundingTick
    | Fill
    | Cancel
    | CancelAll
    | ListMarket
    | SetSettlement
    | Liquidate
    | Deleverage
    | SettlePosition
)
SignedMessage: TypeAlias = (
    Withdraw
    | OracleUpdate
    | FundingTick
    | Cancel
    | CancelAll
    | ListMarket
    | SetSettlement
    | Liquidate
)


def encode_tx(tx: Tx) -> bytes:
    """Return the canonical bytes of a transaction."""
    return bytes([tx.TYPE]) + tx.payload()


def message_hash(tx: SignedMessage, separator: bytes) -> bytes:
    """Return the EIP-712 digest a signed (non-order) transaction's signer signs."""
    return eip712.digest(separator, eip712.struct_hash(tx.EIP712_TYPE, tx.struct_words()))


# --- decoding --------------------------------------------------------------------------------


def _int(d: bytes, a: int, b: int) -> int:
    return int.from_bytes(d[a:b], "big")


def _dec_deposit(d: bytes) -> Deposit:
    return Deposit(index=_int(d, 1, 9), account=d[9:29], amount=_int(d, 29, 37))


def _dec_withdraw(d: bytes) -> Withdraw:
    return Withdraw(d[1:21], d[21:41], _int(d, 41, 49), _int(d, 49, 57), d[57:122])


def _dec_oracle(d: bytes) -> OracleUpdate:
    return OracleUpdate(_int(d, 1, 5), _int(d, 5, 13), _int(d, 13, 21), _int(d, 21, 29), d[29:94])


def _dec_funding(d: bytes) -> FundingTick:
    rate = int.from_bytes(d[5:9], "big", signed=True)
    return FundingTick(_int(d, 1, 5), rate, _int(d, 9, 17), d[17:82])


def _dec_fill(d: bytes) -> Fill:
    maker = SignedOrder(Order.decode(d, 1), d[63:128])
    taker = SignedOrder(Order.decode(d, 128), d[190:255])
    return Fill(maker, taker, _int(d, 255, 263))


def _dec_cancel(d: bytes) -> Cancel:
    return Cancel(d[1:21], d[21:53], d[53:118])


def _dec_cancel_all(d: bytes) -> CancelAll:
    return CancelAll(d[1:21], _int(d, 21, 29), d[29:94])


def _dec_list(d: bytes) -> ListMarket:
    market, kind, symbol, strike, expiry, lot, tick, im, mm, mfee, tfee, maxf = _LIST.unpack_from(
        d, 1
    )
    return ListMarket(
        market, kind, symbol, strike, expiry, lot, tick, im, mm, mfee, tfee, maxf, d[74:139]
    )


def _dec_settlement(d: bytes) -> SetSettlement:
    return SetSettlement(_int(d, 1, 5), _int(d, 5, 13), _int(d, 13, 21), d[21:86])


def _dec_liquidate(d: bytes) -> Liquidate:
    return Liquidate(
        d[1:21], d[21:41], _int(d, 41, 45), _int(d, 45, 53), _int(d, 53, 61), d[61:126]
    )


def _dec_deleverage(d: bytes) -> Deleverage:
    return Deleverage(d[1:21], d[21:41], _int(d, 41, 45), _int(d, 45, 53))


def _dec_settle(d: bytes) -> SettlePosition:
    return SettlePosition(d[1:21], _int(d, 21, 25))


_DECODERS: dict[int, tuple[int, Callable[[bytes], Tx]]] = {
    TxType.DEPOSIT: (37, _dec_deposit),
    TxType.WITHDRAW: (122, _dec_withdraw),
    TxType.ORACLE_UPDATE: (94, _dec_oracle),
    TxType.FUNDING_TICK: (82, _dec_funding),
    TxType.FILL: (263, _dec_fill),
    TxType.CANCEL: (118, _dec_cancel),
    TxType.CANCEL_ALL: (94, _dec_cancel_all),
    TxType.LIST_MARKET: (139, _dec_list),
    TxType.SET_SETTLEMENT: (86, _dec_settlement),
    TxType.LIQUIDATE: (126, _dec_liquidate),
    TxType.DELEVERAGE: (53, _dec_deleverage),
    TxType.SETTLE_POSITION: (25, _dec_settle),
}


TX_LENGTHS: dict[TxType, int] = {TxType(t): n for t, (n, _) in _DECODERS.items()}
"""The exact length in bytes (type byte included) of every transaction type."""

MAX_TX_LEN = max(TX_LENGTHS.values())


def decode_tx(data: bytes) -> Tx:
    """Decode canonical transaction bytes; raise MalformedTransaction on any other bytes."""
    if not data:
        raise MalformedTransaction("empty transaction")
    entry = _DECODERS.get(data[0])
    if entry is None:
        raise MalformedTransaction(f"unknown transaction type 0x{data[0]:02x}")
    length, decoder = entry
    if len(data) != length:
        raise MalformedTransaction(
            f"{TxType(data[0]).name} must be {length} bytes, got {len(data)}"
        )
    return decoder(bytes(data))
