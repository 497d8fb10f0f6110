"""The HTTP API's wire format: pydantic request and response models and their conversions.

Conventions (also in the OpenAPI schema's descriptions):

* **Bytes** are 0x-prefixed hex of their exact length: an address is 20 bytes (``0x`` + 40 hex
  digits), a hash 32, a signature 65 (``r ‖ s ‖ v``). Either case is accepted; responses are
  lower case.
* **Integers.** Amounts, prices, sizes, nonces, funding values and times (everything of 64 bits
  or wider in the protocol, and every signed quote amount) travel as **decimal strings**: a JSON
  number above 2^53 loses precision in JavaScript, and a nonce or an expiry of ``2**63`` is
  legal. Identifiers, indexes, counts and u8/u32 fields (market ids, ppm rates, batch indexes,
  positions in a batch) are JSON numbers. A request accepts a 64-bit field either as a decimal
  string (digits only, no sign, no leading zeros) or as a JSON integer; booleans, floats and
  out-of-range values are rejected with 422 before the node sees them.
* **Side** is ``"buy"`` or ``"sell"``; **flags** are three booleans (``post_only``,
  ``reduce_only``, ``ioc``), mapped to the order's flags byte (docs/protocol.md §4.2: bits 0, 1
  and 2).
* Unknown fields are rejected (``extra="forbid"``) and nothing is coerced (``strict=True``).

The models are the API's only contract; :func:`order_body` builds a ``POST /orders`` body from a
:class:`~optirollup.codec.tx.SignedOrder` for clients written in Python (the CLI, tests).
``POST /orders/batch`` (:class:`OrderBatchRequest`) takes up to :data:`MAX_ORDER_BATCH` such
bodies and answers each one on its own (:class:`OrderResultOut`: the status and the ack or the
error ``POST /orders`` would have answered).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SkipValidation,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from optirollup.codec.tx import SIG_LEN, Order, OrderFlags, Side, SignedOrder

U8_MAX = 2**8 - 1
U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
MAX_TX_BYTES = 1024
"""Longest transaction the API accepts (the longest layout, FILL, is 263 bytes)."""

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


def _u64(minimum: int) -> Callable[[object], object]:
    """Return a validator turning a decimal string into an int and checking ``minimum..2^64-1``;
    anything else (a float, a bool, null) goes on to the strict int check, which refuses it."""

    def check(value: object) -> object:
        if isinstance(value, str):
            if not _DECIMAL.fullmatch(value):
                raise ValueError("a 64-bit integer is a decimal string (digits, no leading zeros)")
            value = int(value)
        in_range = isinstance(value, int) and minimum <= value <= U64_MAX
        if isinstance(value, int) and not isinstance(value, bool) and not in_range:
            raise ValueError(f"{value} is outside {minimum}..{U64_MAX} (u64)")
        return value

    return check


def _u64_schema(minimum: int) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "string", "pattern": r"^(0|[1-9][0-9]{0,19})$"},
            {"type": "integer", "minimum": minimum},  # no "maximum": OpenAPI floats it
        ],
        "description": f"an integer in {minimum}..2^64-1, as a decimal string or a JSON integer",
    }


U64In = Annotated[int, BeforeValidator(_u64(0)), WithJsonSchema(_u64_schema(0))]
"""A u64 request field: a decimal string or a JSON integer in 0..2^64-1."""
PositiveU64In = Annotated[int, BeforeValidator(_u64(1)), WithJsonSchema(_u64_schema(1))]
"""A u64 request field that is never 0 (an order's price and size)."""
U32In = Annotated[int, Field(ge=0, le=U32_MAX)]
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
HASH_PATTERN = r"^0x[0-9a-fA-F]{64}$"
SIGNATURE_PATTERN = r"^0x[0-9a-fA-F]{130}$"
TX_PATTERN = r"^0x(?:[0-9a-fA-F]{2})+$"
PATTERN_HINTS = {
    ADDRESS_PATTERN: "an address is 0x followed by 40 hex digits (20 bytes)",
    HASH_PATTERN: "a hash is 0x followed by 64 hex digits (32 bytes)",
    SIGNATURE_PATTERN: "a signature is 0x followed by 130 hex digits (65 bytes r ‖ s ‖ v)",
    TX_PATTERN: "a transaction is 0x followed by its bytes as an even number of hex digits",
}
"""What a value of each hex pattern looks like, for validation messages."""

Address = Annotated[
    str, Field(pattern=ADDRESS_PATTERN, description="20 bytes, 0x-hex", examples=["0x" + "ab" * 20])
]
Hash32 = Annotated[str, Field(pattern=HASH_PATTERN, description="32 bytes, 0x-hex")]
Signature = Annotated[
    str, Field(pattern=SIGNATURE_PATTERN, description="65 bytes r ‖ s ‖ v (v = 27 or 28), 0x-hex")
]
TxHex = Annotated[
    str,
    Field(
        pattern=TX_PATTERN,
        max_length=2 + 2 * MAX_TX_BYTES,
        description="an encoded transaction (docs/protocol.md §4.3), 0x-hex",
    ),
]
Dec = Annotated[str, Field(pattern=r"^-?(0|[1-9][0-9]*)$", description="a decimal integer")]
"""An integer in a response, as a decimal string (it may exceed 2^53)."""


def unhex(value: str) -> bytes:
    """Return the bytes of a 0x-hex string the models have already validated."""
    return bytes.fromhex(value[2:])


def hexstr(data: bytes) -> str:
    """Return ``data`` as 0x-prefixed lower-case hex."""
    return "0x" + data.hex()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- requests ---------------------------------------------------------------------------------


_POST_ONLY = int(OrderFlags.POST_ONLY)
_REDUCE_ONLY = int(OrderFlags.REDUCE_ONLY)
_IOC = int(OrderFlags.IOC)
_SIDES = {"buy": int(Side.BUY), "sell": int(Side.SELL)}


class Flags(_Strict):
    """The order's flags: POST_ONLY (bit 0), REDUCE_ONLY (bit 1), IOC (bit 2)."""

    post_only: bool = False
    reduce_only: bool = False
    ioc: bool = False

    def bits(self) -> int:
        """Return the flags byte."""
        return (
            (_POST_ONLY if self.post_only else 0)
            | (_REDUCE_ONLY if self.reduce_only else 0)
            | (_IOC if self.ioc else 0)
        )

    @classmethod
    def of(cls, bits: int) -> Flags:
        """Return the booleans of a flags byte (bits other than the three are dropped)."""
        return cls(
            post_only=bool(bits & OrderFlags.POST_ONLY),
            reduce_only=bool(bits & OrderFlags.REDUCE_ONLY),
            ioc=bool(bits & OrderFlags.IOC),
        )


class OrderRequest(_Strict):
    """``POST /orders``: an EIP-712 order (docs/protocol.md §4.3 "Order") and its signature."""

    account: Address
    market: U32In
    side: Literal["buy", "sell"]
    price: PositiveU64In
    size: PositiveU64In
    fee_cap_ppm: U32In
    nonce: U64In
    expiry: U64In = Field(
        description="unix seconds (u64); the order is valid while the batch time is below it"
    )
    flags: Flags = Flags()
    signature: Signature

    def signed_order(self) -> SignedOrder:
        """Return the signed order this body describes."""
        order = Order(
            bytes.fromhex(self.account[2:]),
            self.market,
            _SIDES[self.side],
            self.price,
            self.size,
            self.fee_cap_ppm,
            self.nonce,
            self.expiry,
            self.flags.bits(),
        )
        return SignedOrder(order, bytes.fromhex(self.signature[2:]))


def order_body(signed: SignedOrder) -> dict[str, Any]:
    """Return the ``POST /orders`` JSON body of a signed order (64-bit fields as strings).

    Raise ``ValueError`` for an order the API cannot carry (a side other than BUY/SELL, flag
    bits other than the three, a signature that is not 65 bytes).
    """
    o = signed.order
    if o.side not in (Side.BUY, Side.SELL):
        raise ValueError(f"side {o.side} is neither BUY (0) nor SELL (1)")
    if o.flags & ~int(OrderFlags.POST_ONLY | OrderFlags.REDUCE_ONLY | OrderFlags.IOC):
        raise ValueError(f"flags 0x{o.flags:02x} has bits other than POST_ONLY|REDUCE_ONLY|IOC")
    if len(signed.signature) != SIG_LEN:
        raise ValueError(f"a signature is {SIG_LEN} bytes, got {len(signed.signature)}")
    return {
        "account": hexstr(o.account),
        "market": o.market,
        "side": "buy" if o.side == Side.BUY else "sell",
        "price": str(o.price),
        "size": str(o.size),
        "fee_cap_ppm": o.fee_cap_ppm,
        "nonce": str(o.nonce),
        "expiry": str(o.expiry),
        "flags": Flags.of(o.flags).model_dump(),
        "signature": hexstr(signed.signature),
    }


MAX_ORDER_BATCH = 500
"""Most orders one ``POST /orders/batch`` takes (a sealed batch holds about as many FILLs)."""


class OrderBatchRequest(_Strict):
    """``POST /orders/batch``: orders placed in this order, each answered on its own.

    Only the list is validated with the request; each item is validated on its own by
    :meth:`items` (the schema shows them as :class:`OrderRequest` bodies), so one bad item is
    answered ``bad_request`` without failing the others.
    """

    orders: list[Annotated[OrderRequest, SkipValidation]] = Field(
        min_length=1,
        max_length=MAX_ORDER_BATCH,
        description=f"1 to {MAX_ORDER_BATCH} bodies of POST /orders, placed in this order",
    )

    def items(self) -> list[OrderRequest | ValidationError]:
        """Return each order validated as an :class:`OrderRequest`, or why it is not one."""
        raw: list[object] = list(self.orders)  # unvalidated JSON values (SkipValidation)
        try:  # the common case, every item good: one call validates them all
            return list(_ORDER_LIST.validate_python(raw))
        except ValidationError:
            pass  # validate them one by one, for each item's own errors
        out: list[OrderRequest | ValidationError] = []
        for item in raw:
            try:
                out.append(OrderRequest.model_validate(item))
            except ValidationError as err:
                out.append(err)
        return out


_ORDER_LIST = TypeAdapter(list[OrderRequest])
"""Validates a whole list of order bodies with the same rules as ``OrderRequest`` alone."""


class TxRequest(_Strict):
    """``POST /cancels`` and ``POST /transactions``: one encoded, signed transaction."""

    tx: TxHex

    def raw(self) -> bytes:
        """Return the transaction's bytes."""
        return unhex(self.tx)


# --- responses --------------------------------------------------------------------------------


class FillOut(_Strict):
    """A FILL the order took part in: the maker's and taker's order hashes, price and size."""

    maker_hash: Hash32
    taker_hash: Hash32
    price: Dec
    size: Dec
    batch_index: int
    position: int = Field(description="the FILL's index in its batch")


class OrderAckOut(_Strict):
    """What the node did with an order: its hash, status, filled and remaining size, its fills."""

    order_hash: Hash32
    status: str = Field(
        description="filled | resting | ioc_cancelled | reduce_only_cancelled | rejected_remainder"
    )
    filled: Dec
    remaining: Dec
    fills: list[FillOut]


class TxAckOut(_Strict):
    """An accepted transaction: its hash (keccak of its bytes) and its place in a batch."""

    tx_hash: Hash32
    batch_index: int
    position: int
    withdrawal_id: int | None = Field(
        default=None,
        description="for a WITHDRAW, the id of its withdrawal (GET /withdrawals/{id}); "
        "absent for every other transaction",
    )


class WithdrawalOut(_Strict):
    """A withdrawal leaf and, once final, the arguments ``Vault.withdraw`` takes to pay it."""

    withdrawal_id: int
    account: Address
    recipient: Address
    amount: Dec
    final: bool = Field(description="whether a final batch holds it (it can be claimed on L1)")
    batch_index: int | None = Field(
        description="the final batch whose post-state root the proof is against (null until final)"
    )
    proof: list[str] = Field(
        description="the leaf's MPT proof, RLP-encoded nodes as 0x-hex, root first (empty until "
        "final)"
    )


class MarketOut(_Strict):
    """A listed market: its parameters, oracle data and funding state (docs/protocol.md §5)."""

    id: int
    kind: str = Field(description="perp | call | put")
    symbol: str
    strike: Dec
    expiry: Dec
    lot_size: Dec
    tick_size: Dec
    im_ppm: int
    mm_ppm: int
    maker_fee_ppm: int
    taker_fee_ppm: int
    max_funding_ppm: int
    oracle_price: Dec
    option_mark: Dec
    oracle_time: Dec
    funding_index: Dec
    funding_time: Dec
    settlement_price: Dec


class LevelOut(_Strict):
    """One price level: its price, the open size resting there and the number of orders."""

    price: Dec
    size: Dec
    orders: int


class BookOut(_Strict):
    """A market's aggregated book, best price first on each side."""

    market: int
    bids: list[LevelOut]
    asks: list[LevelOut]


class PositionOut(_Strict):
    """A position: signed size (positive long) and the funding index it has settled up to."""

    market: int
    size: Dec
    funding_snapshot: Dec


class OpenOrderOut(_Strict):
    """An order of the account resting on the book."""

    order_hash: Hash32
    market: int
    side: Literal["buy", "sell"]
    price: Dec
    size: Dec
    filled: Dec
    remaining: Dec
    fee_cap_ppm: int
    nonce: Dec
    expiry: Dec
    flags: Flags


class AccountOut(_Strict):
    """An account: collateral, positions, equity and margin requirements, resting orders."""

    address: Address
    collateral: Dec
    nonce: Dec
    cancel_floor: Dec
    positions: list[PositionOut]
    equity: Dec
    initial: Dec = Field(description="initial margin requirement")
    maintenance: Dec = Field(description="maintenance margin requirement")
    open_orders: list[OpenOrderOut]


class BatchOut(_Strict):
    """A sealed batch and how far it got on L1."""

    index: int
    prev_root: Hash32
    post_root: Hash32
    batch_time: Dec
    tx_count: int
    status: Literal["sealed", "posted", "final"]


class StatusOut(_Strict):
    """The node's head, open batch and L1 progress."""

    head_batch: int
    head_root: Hash32
    open_txs: int
    deposits_known: int
    posted: int
    final: int


class Health(_Strict):
    """``GET /healthz``."""

    ok: bool


class ErrorBody(_Strict):
    """The error: a machine-readable code and a message for humans."""

    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorOut(_Strict):
    """Every error response: ``{"error": {"code": ..., "message": ...}}``."""

    error: ErrorBody


class OrderResultOut(_Strict):
    """What became of one order of a bulk request: exactly one of ``ack`` and ``error``."""

    status: int = Field(description="the HTTP status POST /orders would have answered it with")
    ack: OrderAckOut | None = Field(default=None, description="present when status is 200")
    error: ErrorBody | None = Field(
        default=None, description="present otherwise: the error POST /orders would have sent"
    )


class OrderBatchOut(_Strict):
    """``POST /orders/batch``'s answer: one result per order, in the request's order."""

    results: list[OrderResultOut]
