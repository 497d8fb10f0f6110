# pragma version ~=0.4.3
"""
@title State keys and leaves: keys, and RLP decoding/encoding of every leaf kind
@license MIT
@notice The Vyper twin of optirollup/state/keys.py and optirollup/state/leaves.py
        (protocol §2.2-§2.5): the trie key of every leaf kind, and the account,
        system, market, order and withdrawal leaves as structs, decoded strictly
        and encoded byte for byte as the reference does. Stateless, so a
        contract only `import`s it.
@dev Encoding (protocol §2.3): every leaf is an RLP list; unsigned integers
     are RLP scalars (big-endian, no leading zero, 0 is 0x80); signed fields
     (collateral, position size and funding snapshot) are the scalar of their
     256-bit two's complement, so a negative value always takes 32 bytes;
     a boolean is the scalar 0 or 1; addresses are 20-byte strings and the
     market symbol a 16-byte string.
     Decoding is as strict as the reference's `decode` methods: canonical RLP
     only (the header checks are `rlp.item`'s), no scalar with a leading zero
     or longer than 32 bytes, exact item counts and string lengths, every
     field in its range, at most MAX_POSITIONS positions, no zero size,
     markets strictly increasing. Anything else reverts "leaves: <reason>" (or
     "rlp: <reason>" for a bad header): a leaf under a root reachable from
     genesis always decodes (protocol §2.3), so a leaf that does not is a
     corrupt witness, never a reason to return a root.
     The flat leaves (system, market, order, withdrawal) share one decoder,
     `_flat`, driven by their fields' kinds packed in one word: one copy of
     the checks in a contract, however many of these leaves it decodes.
     Sizes: the longest account leaf is ACCOUNT_MAX = 662 bytes (8 positions,
     every signed field negative, every unsigned field at its maximum); the
     longest market, system, withdrawal and order leaves are MARKET_MAX =
     160, SYSTEM_MAX = 75, WITHDRAWAL_MAX = 52 and ORDER_MAX = 11 bytes.
"""

from . import rlp

# Protocol constants (protocol §1.3).
MAX_POSITIONS: constant(uint256) = 8
MAX_COLLATERAL: constant(int256) = 2**127 - 1
MAX_POSITION_SIZE: constant(int256) = 2**63 - 1
MAX_FUNDING_INDEX: constant(int256) = 2**127 - 1
MAX_BALANCE: constant(uint256) = 2**127 - 1

# Longest encodings. A position is a list header (2) + u32 market (5) +
# size (33) + snapshot (33); an account is a header (3) + address (21) +
# collateral (33) + nonce (9) + cancel floor (9) + positions list header (3)
# + 8 positions; a system leaf is a header (2) + oracle (21) + two u64 (9
# each) + two balances below 2**127 (17 each).
POSITION_MAX: constant(uint256) = 73
ACCOUNT_MAX: constant(uint256) = 662
SYSTEM_MAX: constant(uint256) = 75
# A market is a header (2: the payload is 158 > 55 bytes) + u8 kind (2) +
# symbol (17) + nine u64 (9 each, 81) + five u32 (5 each, 25) + funding
# index (33): 160.
MARKET_MAX: constant(uint256) = 160
# An order is a header (1) + u64 filled (9) + the boolean (1): 11.
ORDER_MAX: constant(uint256) = 11
# A withdrawal is a header (1) + two addresses (21 each) + u64 amount (9): 52.
WITHDRAWAL_MAX: constant(uint256) = 52
# The longest leaf of any kind: decoders take values of this type.
LEAF_MAX: constant(uint256) = ACCOUNT_MAX

# keccak256(0x04): the key of the single system leaf (protocol §2.2).
SYSTEM_KEY: constant(bytes32) = 0xf343681465b9efe82c933c3e8748c70cb8aa06539c361de20f72eac04e766393

# Key prefixes (protocol §2.2).
_ACCOUNT_PREFIX: constant(bytes1) = 0x01
_ORDER_PREFIX: constant(bytes1) = 0x02
_MARKET_PREFIX: constant(bytes1) = 0x03
_WITHDRAWAL_PREFIX: constant(bytes1) = 0x05

# A decode buffer: the leaf and 32 zero bytes, so `extract32` may read at
# any offset up to the leaf's end.
_BUF: constant(uint256) = LEAF_MAX + 32
# The encoding of one position before narrowing: concat adds up maxima.
_POSITION_ITEM: constant(uint256) = 3 + 3 * 33

# Field kinds for `_flat`, one byte per item, item i at bits 8i..8i+7: a
# scalar of at most that many bits (_SIGNED = 0: any scalar, a signed field
# the caller checks), or 0x80 + n, a string of exactly n bytes (the byte is
# the string's RLP header).
_SIGNED: constant(uint256) = 0
_BOOL: constant(uint256) = 1
_U8: constant(uint256) = 8
_U32: constant(uint256) = 32
_U64: constant(uint256) = 64
_U127: constant(uint256) = 127
_SYMBOL: constant(uint256) = 128 + 16
_ADDRESS: constant(uint256) = 128 + 20
_SYSTEM_KINDS: constant(uint256) = _ADDRESS | _U64 << 8 | _U64 << 16 | _U127 << 24 | _U127 << 32
_MARKET_KINDS: constant(uint256) = (
    _U8
    | _SYMBOL << 8
    | _U64 << 16  # strike
    | _U64 << 24  # expiry
    | _U64 << 32  # lot size
    | _U64 << 40  # tick size
    | _U32 << 48  # im
    | _U32 << 56  # mm
    | _U32 << 64  # maker fee
    | _U32 << 72  # taker fee
    | _U32 << 80  # max funding
    | _U64 << 88  # oracle price
    | _U64 << 96  # option mark
    | _U64 << 104  # oracle time
    | _SIGNED << 112  # funding index
    | _U64 << 120  # funding time
    | _U64 << 128  # settlement price
)
_ORDER_KINDS: constant(uint256) = _U64 | _BOOL << 8
_WITHDRAWAL_KINDS: constant(uint256) = _ADDRESS | _ADDRESS << 8 | _U64 << 16
# The most items of a flat leaf (a market's 17).
_FLAT_MAX: constant(uint256) = 17


struct Position:
    market: uint32
    # Signed size units; never 0.
    size: int256
    # The market's funding index at which the position was last settled.
    funding_snapshot: int256


struct Account:
    # The address the account's key is derived from.
    addr: address
    collateral: int256
    # Next WITHDRAW nonce.
    nonce: uint64
    cancel_floor: uint64
    # Strictly increasing by market.
    positions: DynArray[Position, MAX_POSITIONS]


struct System:
    oracle: address
    next_deposit_index: uint64
    next_withdrawal_id: uint64
    fee_balance: uint256
    insurance_balance: uint256


struct Market:
    # 0 perpetual, 1 call, 2 put (only 0 is written in v1).
    kind: uint8
    # ASCII, right-padded with zero bytes (not validated).
    symbol: bytes16
    strike: uint64
    expiry: uint64
    lot_size: uint64
    tick_size: uint64
    im_ppm: uint32
    mm_ppm: uint32
    maker_fee_ppm: uint32
    taker_fee_ppm: uint32
    max_funding_ppm: uint32
    oracle_price: uint64
    option_mark: uint64
    oracle_time: uint64
    # |funding_index| <= MAX_FUNDING_INDEX.
    funding_index: int256
    funding_time: uint64
    settlement_price: uint64


struct OrderState:
    filled: uint64
    cancelled: bool


struct Withdrawal:
    account: address
    recipient: address
    amount: uint64


# --------------------------------------------------------------------------- keys


@internal
@pure
def account_key(addr: address) -> bytes32:
    """
    @notice Return the key of an account leaf: keccak256(0x01 ‖ address).
    @param addr The account's address.
    @return The trie key.
    """
    return keccak256(concat(_ACCOUNT_PREFIX, convert(addr, bytes20)))


@internal
@pure
def order_key(owner: address, order_hash: bytes32) -> bytes32:
    """
    @notice Return the key of an order leaf: keccak256(0x02 ‖ owner ‖ orderHash).
    @param owner The order's owner.
    @param order_hash The order's EIP-712 digest.
    @return The trie key.
    """
    return keccak256(concat(_ORDER_PREFIX, convert(owner, bytes20), order_hash))


@internal
@pure
def market_key(market: uint32) -> bytes32:
    """
    @notice Return the key of a market leaf: keccak256(0x03 ‖ uint32 market).
    @param market The market id.
    @return The trie key.
    """
    return keccak256(concat(_MARKET_PREFIX, convert(market, bytes4)))


@internal
@pure
def withdrawal_key(withdrawal_id: uint64) -> bytes32:
    """
    @notice Return the key of a withdrawal leaf: keccak256(0x05 ‖ uint64 id).
    @param withdrawal_id The withdrawal id.
    @return The trie key.
    """
    return keccak256(concat(_WITHDRAWAL_PREFIX, convert(withdrawal_id, bytes8)))


# --------------------------------------------------------------------------- accounts


@internal
@pure
def default_account(addr: address) -> Account:
    """
    @notice Return the value an absent account reads as (protocol §2.5).
    @param addr The queried address.
    @return An account of `addr` with zero collateral, nonce and cancel floor
            and no positions.
    """
    return Account(addr=addr, collateral=0, nonce=0, cancel_floor=0, positions=[])


@internal
@pure
def decode_account(data: Bytes[LEAF_MAX]) -> Account:
    """
    @notice Decode and validate an account leaf
            `rlp([address, collateral, nonce, cancelFloor, positions])`.
    @dev Strict as `Account.decode` (see the module notes); reverts
         "leaves: ..." or "rlp: ..." on anything else. Fields are read in
         loops with one `rlp.item` call each: every call site of `rlp.item`
         and `extract32` adds code, and a verifier must fit EIP-170.
    @param data The leaf's bytes (not empty: an absent account is
           `default_account`).
    @return The account.
    """
    buf: Bytes[_BUF] = concat(data, empty(bytes32))
    end: uint256 = len(data)
    is_list: bool = False
    start: uint256 = 0
    size: uint256 = 0
    is_list, start, size = rlp.item(extract32(buf, 0), 0, end)
    self._check(is_list and start + size == end)
    a: Account = empty(Account)
    pos: uint256 = start
    # Items 0..3: address, collateral, nonce, cancel floor.
    for i: uint256 in range(4):
        is_list, start, size = rlp.item(extract32(buf, pos), pos, end)
        word: bytes32 = extract32(buf, start)
        pos = start + size
        if i == 0:
            a.addr = self._address(is_list, word, size)
            continue
        x: uint256 = self._uint(is_list, word, size)
        if i == 1:
            a.collateral = self._signed(x, MAX_COLLATERAL)
        else:
            self._check(x <= convert(max_value(uint64), uint256))
            if i == 2:
                a.nonce = convert(x, uint64)
            else:
                a.cancel_floor = convert(x, uint64)
    # Item 4: the positions, the last item.
    is_list, start, size = rlp.item(extract32(buf, pos), pos, end)
    self._check(is_list)
    self._check(start + size == end)
    pos = start
    for i: uint256 in range(MAX_POSITIONS + 1):
        if pos == end:
            break
        self._check(i < MAX_POSITIONS)
        is_list, start, size = rlp.item(extract32(buf, pos), pos, end)
        self._check(is_list)
        p_end: uint256 = start + size
        pos = start
        p: Position = empty(Position)
        # [market, size, fundingSnapshot]
        for j: uint256 in range(3):
            is_list, start, size = rlp.item(extract32(buf, pos), pos, p_end)
            x: uint256 = self._uint(is_list, extract32(buf, start), size)
            pos = start + size
            if j == 0:
                self._check(x <= convert(max_value(uint32), uint256))
                p.market = convert(x, uint32)
            elif j == 1:
                p.size = self._signed(x, MAX_POSITION_SIZE)
            else:
                p.funding_snapshot = self._signed(x, MAX_FUNDING_INDEX)
        self._check(pos == p_end)
        self._check(p.size != 0)
        if i > 0:
            self._check(a.positions[i - 1].market < p.market)
        a.positions.append(p)
    return a


@internal
@pure
def encode_account(a: Account) -> Bytes[ACCOUNT_MAX]:
    """
    @notice Return the RLP encoding of an account leaf, byte for byte as
            `Account.encode()` (signed fields as 256-bit two's complement).
    @dev The caller keeps the fields in range (protocol §2.4); positions are
         written in the order given.
    @param a The account.
    @return `rlp([address, collateral, nonce, cancelFloor, [[market, size, snapshot], ...]])`.
    """
    # Vyper has no growing byte buffer in a loop: encode each position into
    # its own slot, then concatenate the eight slots (empty ones add nothing).
    items: DynArray[Bytes[_POSITION_ITEM], MAX_POSITIONS] = [b"", b"", b"", b"", b"", b"", b"", b""]
    for i: uint256 in range(len(a.positions), bound=MAX_POSITIONS):
        items[i] = self._position_item(a.positions[i])
    positions: Bytes[MAX_POSITIONS * _POSITION_ITEM] = concat(
        items[0], items[1], items[2], items[3], items[4], items[5], items[6], items[7]
    )
    payload: Bytes[21 + 3 * 33 + 3 + MAX_POSITIONS * _POSITION_ITEM] = concat(
        self._address_item(a.addr),
        self._int_item(a.collateral),
        self._uint_item(convert(a.nonce, uint256)),
        self._uint_item(convert(a.cancel_floor, uint256)),
        rlp.list_header(len(positions)),
        positions,
    )
    # Narrowing cast (reverts if longer; an in-range account never is).
    return convert(concat(rlp.list_header(len(payload)), payload), Bytes[ACCOUNT_MAX])


# --------------------------------------------------------------------------- system


@internal
@pure
def decode_system(data: Bytes[LEAF_MAX]) -> System:
    """
    @notice Decode and validate the system leaf
            `rlp([oracle, nextDepositIndex, nextWithdrawalId, feeBalance, insuranceBalance])`.
    @dev Strict as `System.decode`; reverts "leaves: ..." or "rlp: ...".
    @param data The leaf's bytes.
    @return The system leaf.
    """
    v: uint256[_FLAT_MAX] = self._flat(data, 5, _SYSTEM_KINDS)
    return System(
        oracle=convert(convert(v[0], uint160), address),
        next_deposit_index=convert(v[1], uint64),
        next_withdrawal_id=convert(v[2], uint64),
        fee_balance=v[3],
        insurance_balance=v[4],
    )


@internal
@pure
def encode_system(s: System) -> Bytes[SYSTEM_MAX]:
    """
    @notice Return the RLP encoding of the system leaf, byte for byte as
            `System.encode()`.
    @param s The system leaf (balances at most MAX_BALANCE).
    @return `rlp([oracle, nextDepositIndex, nextWithdrawalId, feeBalance, insuranceBalance])`.
    """
    payload: Bytes[21 + 4 * 33] = concat(
        self._address_item(s.oracle),
        self._uint_item(convert(s.next_deposit_index, uint256)),
        self._uint_item(convert(s.next_withdrawal_id, uint256)),
        self._uint_item(s.fee_balance),
        self._uint_item(s.insurance_balance),
    )
    # Narrowing cast (reverts if longer; an in-range leaf never is).
    return convert(concat(rlp.list_header(len(payload)), payload), Bytes[SYSTEM_MAX])


# --------------------------------------------------------------------------- markets


@internal
@pure
def decode_market(data: Bytes[LEAF_MAX]) -> Market:
    """
    @notice Decode and validate a market leaf `rlp([17 fields])`.
    @dev Strict as `Market.decode`: only the encoding ranges (u8, u32, u64,
         ±MAX_FUNDING_INDEX) are checked, the parameter ranges are LIST_MARKET's
         (protocol §2.4); reverts "leaves: ..." or "rlp: ...".
    @param data The leaf's bytes (not empty: an absent market is not listed).
    @return The market.
    """
    v: uint256[_FLAT_MAX] = self._flat(data, 17, _MARKET_KINDS)
    return Market(
        kind=convert(v[0], uint8),
        symbol=convert(convert(v[1], uint128), bytes16),
        strike=convert(v[2], uint64),
        expiry=convert(v[3], uint64),
        lot_size=convert(v[4], uint64),
        tick_size=convert(v[5], uint64),
        im_ppm=convert(v[6], uint32),
        mm_ppm=convert(v[7], uint32),
        maker_fee_ppm=convert(v[8], uint32),
        taker_fee_ppm=convert(v[9], uint32),
        max_funding_ppm=convert(v[10], uint32),
        oracle_price=convert(v[11], uint64),
        option_mark=convert(v[12], uint64),
        oracle_time=convert(v[13], uint64),
        funding_index=self._signed(v[14], MAX_FUNDING_INDEX),
        funding_time=convert(v[15], uint64),
        settlement_price=convert(v[16], uint64),
    )


@internal
@pure
def encode_market(m: Market) -> Bytes[MARKET_MAX]:
    """
    @notice Return the RLP encoding of a market leaf, byte for byte as
            `Market.encode()` (the funding index as 256-bit two's complement).
    @param m The market (funding index within ±MAX_FUNDING_INDEX).
    @return `rlp([kind, symbol, strike, expiry, lotSize, tickSize, imPpm, mmPpm,
            makerFeePpm, takerFeePpm, maxFundingPpm, oraclePrice, optionMark,
            oracleTime, fundingIndex, fundingTime, settlementPrice])`.
    """
    payload: Bytes[17 + 16 * 33] = concat(
        self._uint_item(convert(m.kind, uint256)),
        b"\x90",
        m.symbol,
        self._uint_item(convert(m.strike, uint256)),
        self._uint_item(convert(m.expiry, uint256)),
        self._uint_item(convert(m.lot_size, uint256)),
        self._uint_item(convert(m.tick_size, uint256)),
        self._uint_item(convert(m.im_ppm, uint256)),
        self._uint_item(convert(m.mm_ppm, uint256)),
        self._uint_item(convert(m.maker_fee_ppm, uint256)),
        self._uint_item(convert(m.taker_fee_ppm, uint256)),
        self._uint_item(convert(m.max_funding_ppm, uint256)),
        self._uint_item(convert(m.oracle_price, uint256)),
        self._uint_item(convert(m.option_mark, uint256)),
        self._uint_item(convert(m.oracle_time, uint256)),
        self._int_item(m.funding_index),
        self._uint_item(convert(m.funding_time, uint256)),
        self._uint_item(convert(m.settlement_price, uint256)),
    )
    # Narrowing cast (reverts if longer; an in-range market never is).
    return convert(concat(rlp.list_header(len(payload)), payload), Bytes[MARKET_MAX])


# --------------------------------------------------------------------------- orders


@internal
@pure
def decode_order(data: Bytes[LEAF_MAX]) -> OrderState:
    """
    @notice Decode and validate an order leaf `rlp([filled, cancelled])`.
    @dev Strict as `OrderState.decode` (`cancelled` is the scalar 0 or 1);
         reverts "leaves: ..." or "rlp: ...".
    @param data The leaf's bytes (not empty: an absent order reads as
           `empty(OrderState)`, protocol §2.5).
    @return The order state.
    """
    v: uint256[_FLAT_MAX] = self._flat(data, 2, _ORDER_KINDS)
    return OrderState(filled=convert(v[0], uint64), cancelled=v[1] == 1)


@internal
@pure
def encode_order(o: OrderState) -> Bytes[ORDER_MAX]:
    """
    @notice Return the RLP encoding of an order leaf, byte for byte as
            `OrderState.encode()`.
    @param o The order state.
    @return `rlp([filled, cancelled])` (`cancelled` as the scalar 0 or 1).
    """
    payload: Bytes[33 + 1] = concat(
        self._uint_item(convert(o.filled, uint256)), b"\x01" if o.cancelled else b"\x80"
    )
    return convert(concat(rlp.list_header(len(payload)), payload), Bytes[ORDER_MAX])


# --------------------------------------------------------------------------- withdrawals


@internal
@pure
def decode_withdrawal(data: Bytes[LEAF_MAX]) -> Withdrawal:
    """
    @notice Decode and validate a withdrawal leaf `rlp([account, recipient, amount])`.
    @dev Strict as `Withdrawal.decode` (an amount of 0 decodes, as there);
         reverts "leaves: ..." or "rlp: ...".
    @param data The leaf's bytes.
    @return The withdrawal.
    """
    v: uint256[_FLAT_MAX] = self._flat(data, 3, _WITHDRAWAL_KINDS)
    return Withdrawal(
        account=convert(convert(v[0], uint160), address),
        recipient=convert(convert(v[1], uint160), address),
        amount=convert(v[2], uint64),
    )


@internal
@pure
def encode_withdrawal(w: Withdrawal) -> Bytes[WITHDRAWAL_MAX]:
    """
    @notice Return the RLP encoding of a withdrawal leaf, byte for byte as
            `Withdrawal.encode()`.
    @param w The withdrawal.
    @return `rlp([account, recipient, amount])`.
    """
    payload: Bytes[21 + 21 + 33] = concat(
        self._address_item(w.account),
        self._address_item(w.recipient),
        self._uint_item(convert(w.amount, uint256)),
    )
    return convert(concat(rlp.list_header(len(payload)), payload), Bytes[WITHDRAWAL_MAX])


# --------------------------------------------------------------------------- fields


@internal
@pure
def _flat(data: Bytes[LEAF_MAX], n: uint256, kinds: uint256) -> uint256[_FLAT_MAX]:
    """
    @notice Decode a leaf that is a flat RLP list of exactly `n` scalars and
            strings, checking each against its kind.
    @dev Kind i is byte i of `kinds` (the `_U64`-style constants): a scalar
         of at most that many bits (canonical, see `_uint`; `_SIGNED` takes
         any, the caller then checks it with `_signed`) or 0x80 + k, a
         string of exactly k bytes, returned as a big-endian integer. Fewer
         items revert "rlp: out of bounds", more "leaves: malformed leaf".
         The list header is read by the loop's first pass: every call site
         of `rlp.item` and `extract32` adds code.
    @param data The leaf's bytes.
    @param n The number of items, at most _FLAT_MAX.
    @param kinds The items' kinds, packed.
    @return The items' values (the first `n`; the rest are 0).
    """
    buf: Bytes[_BUF] = concat(data, empty(bytes32))
    end: uint256 = len(data)
    pos: uint256 = 0
    out: uint256[_FLAT_MAX] = empty(uint256[_FLAT_MAX])
    # Pass 0 reads the list, pass i its item i - 1.
    for i: uint256 in range(n + 1, bound=_FLAT_MAX + 1):
        is_list: bool = False
        start: uint256 = 0
        size: uint256 = 0
        is_list, start, size = rlp.item(extract32(buf, pos), pos, end)
        word: bytes32 = extract32(buf, start)
        pos = start + size
        if i == 0:
            self._check(is_list and pos == end)
            pos = start
            continue
        kind: uint256 = (kinds >> (8 * i - 8)) & 255
        if kind >= 128:
            self._check(not is_list and size == kind - 128)
            out[i - 1] = convert(word, uint256) >> (8 * (32 - size))
        else:
            x: uint256 = self._uint(is_list, word, size)
            self._check(kind == _SIGNED or x >> kind == 0)
            out[i - 1] = x
    self._check(pos == end)
    return out


@internal
@pure
def _uint(is_list: bool, word: bytes32, size: uint256) -> uint256:
    """
    @notice Return the unsigned scalar whose RLP payload starts `word`.
    @dev Rejects a list, a payload over 32 bytes and a leading zero byte
         (which covers the single byte 0x00: zero is the empty string 0x80).
    @param is_list Whether the item is a list (from `rlp.item`).
    @param word The 32 bytes at the item's payload.
    @param size The payload's length.
    @return The integer.
    """
    self._check(not is_list)
    self._check(size <= 32)
    if size == 0:
        return 0
    x: uint256 = convert(word, uint256) >> (8 * (32 - size))
    self._check(x >> (8 * (size - 1)) != 0)
    return x


@internal
@pure
def _signed(u: uint256, bound: int256) -> int256:
    """
    @notice Reinterpret a scalar as a 256-bit two's complement value and
            check |value| <= bound (protocol §1.5).
    @param u The scalar.
    @param bound The field's largest magnitude.
    @return The signed value.
    """
    x: int256 = convert(convert(u, bytes32), int256)
    self._check(x >= -bound and x <= bound)
    return x


@internal
@pure
def _address(is_list: bool, word: bytes32, size: uint256) -> address:
    """
    @notice Return a 20-byte string item as an address.
    @param is_list Whether the item is a list.
    @param word The 32 bytes at the item's payload.
    @param size The payload's length (must be 20).
    @return The address.
    """
    self._check(not is_list and size == 20)
    return convert(convert(convert(word, uint256) >> 96, uint160), address)


@internal
@pure
def _byte_len(x: uint256) -> uint256:
    """
    @notice Return how many bytes the big-endian form of `x` (not 0) takes.
    @param x A positive integer.
    @return 1 to 32.
    """
    k: uint256 = 0
    for step: uint256 in [16, 8, 4, 2, 1]:
        if x >> (8 * (k + step)) != 0:
            k += step
    return k + 1


@internal
@pure
def _uint_item(x: uint256) -> Bytes[33]:
    """
    @notice Return the RLP scalar of `x`: 0x80 for 0, the byte itself below
            0x80, else a length byte and the big-endian bytes.
    @param x The integer.
    @return The RLP item.
    """
    if x == 0:
        return b"\x80"
    if x < 128:
        return slice(convert(x, bytes32), 31, 1)
    n: uint256 = self._byte_len(x)
    return concat(slice(convert(128 + n, bytes32), 31, 1), slice(convert(x, bytes32), 32 - n, n))


@internal
@pure
def _int_item(x: int256) -> Bytes[33]:
    """
    @notice Return the RLP scalar of the 256-bit two's complement of `x`.
    @param x The signed integer.
    @return The RLP item (32 bytes of payload when `x` is negative).
    """
    return self._uint_item(convert(convert(x, bytes32), uint256))


@internal
@pure
def _address_item(addr: address) -> Bytes[21]:
    """
    @notice Return the RLP string of a 20-byte address.
    @param addr The address.
    @return 0x94 ‖ address.
    """
    return concat(b"\x94", convert(addr, bytes20))


@internal
@pure
def _position_item(p: Position) -> Bytes[_POSITION_ITEM]:
    """
    @notice Return the RLP list `[market, size, fundingSnapshot]`.
    @param p The position.
    @return The RLP item.
    """
    payload: Bytes[3 * 33] = concat(
        self._uint_item(convert(p.market, uint256)), self._int_item(p.size), self._int_item(p.funding_snapshot)
    )
    return concat(rlp.list_header(len(payload)), payload)


@internal
@pure
def _check(ok: bool):
    """
    @notice Revert "leaves: malformed leaf" unless `ok`.
    @dev One revert site for every decoding failure: each `assert` with a
         message adds about 160 bytes of code, and a verifier must fit
         EIP-170. `Account.decode` / `System.decode` off-chain say which
         rule a leaf breaks.
    @param ok The condition.
    """
    assert ok, "leaves: malformed leaf"
