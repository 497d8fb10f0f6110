# pragma version ~=0.4.3
"""
@title State keys and leaves: keys, and RLP decoding/encoding of account and system leaves
@license MIT
@notice The Vyper twin of optirollup/state/keys.py and optirollup/state/leaves.py
        (protocol §2.2-§2.5): the trie key of every leaf kind, and the account
        and system leaves as structs, decoded strictly and encoded byte for byte
        as the reference does. Stateless, so a contract only `import`s it.
@dev Encoding (protocol §2.3): every leaf is an RLP list; unsigned integers
     are RLP scalars (big-endian, no leading zero, 0 is 0x80); signed fields
     (collateral, position size and funding snapshot) are the scalar of their
     256-bit two's complement, so a negative value always takes 32 bytes;
     addresses are 20-byte strings.
     Decoding is as strict as `Account.decode` / `System.decode`: canonical RLP
     only (the header checks are `rlp.item`'s), no scalar with a leading zero
     or longer than 32 bytes, exact item counts and string lengths, every
     field in its range, at most MAX_POSITIONS positions, no zero size,
     markets strictly increasing. Anything else reverts "leaves: <reason>" (or
     "rlp: <reason>" for a bad header): a leaf under a root reachable from
     genesis always decodes (protocol §2.3), so a leaf that does not is a
     corrupt witness, never a reason to return a root.
     Sizes: the longest account leaf is ACCOUNT_MAX = 662 bytes (8 positions,
     every signed field negative, every unsigned field at its maximum); the
     longest system leaf is SYSTEM_MAX = 75 bytes.
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
# The longest leaf of any kind (a market leaf is at most 160 bytes, an order
# or a withdrawal leaf less): decoders take values of this type.
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
    buf: Bytes[_BUF] = concat(data, empty(bytes32))
    end: uint256 = len(data)
    is_list: bool = False
    start: uint256 = 0
    size: uint256 = 0
    is_list, start, size = rlp.item(extract32(buf, 0), 0, end)
    self._check(is_list and start + size == end)
    s: System = empty(System)
    pos: uint256 = start
    for i: uint256 in range(5):
        is_list, start, size = rlp.item(extract32(buf, pos), pos, end)
        word: bytes32 = extract32(buf, start)
        pos = start + size
        if i == 0:
            s.oracle = self._address(is_list, word, size)
            continue
        x: uint256 = self._uint(is_list, word, size)
        if i < 3:
            self._check(x <= convert(max_value(uint64), uint256))
            if i == 1:
                s.next_deposit_index = convert(x, uint64)
            else:
                s.next_withdrawal_id = convert(x, uint64)
        else:
            self._check(x <= MAX_BALANCE)
            if i == 3:
                s.fee_balance = x
            else:
                s.insurance_balance = x
    self._check(pos == end)
    return s


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


# --------------------------------------------------------------------------- fields


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
