# pragma version ~=0.4.3
"""
@title RLP reading and writing for Merkle-Patricia trie nodes
@license MIT
@notice Reads the header of an RLP item (list or string) out of a byte
        buffer, with bounds checks against the end of the enclosing item,
        and writes the list and string headers that rebuilding a trie node
        needs. Used by `mpt.vy`; stateless, so a contract only `import`s it.
@dev Vyper has no byte indexing, so items are read through a 32-byte window:
     the caller passes `word = extract32(buf, pos)` together with `pos`.
     The caller keeps its buffer padded with 32 zero bytes past the real end
     of the data, so that `extract32` never reads beyond the buffer for any
     `pos` up to the real end; this module checks every offset against the
     real end (`end`) it is given, never against the padded length.
     Taking a word instead of the buffer also avoids copying the buffer into
     every call (internal calls copy their arguments).
     Only what trie nodes need is supported: payload lengths below 2**16
     (long forms with one or two length bytes). Decoding is canonical:
     a long form that could have been short, a length with a leading zero
     byte and a one-byte string below 0x80 written with a header are
     rejected, so one byte string has exactly one reading.
     Reverts are `"rlp: <reason>"`.
"""

# Largest payload length this module reads or writes (two length bytes).
MAX_LENGTH: constant(uint256) = 65535

# First bytes of the encodings (Ethereum Yellow Paper, appendix B).
_STRING_SHORT: constant(uint256) = 128  # 0x80: string, length in the byte
_STRING_LONG: constant(uint256) = 183  # 0xb7: 0xb8..0xbf, length follows
_LIST_SHORT: constant(uint256) = 192  # 0xc0: list, length in the byte
_LIST_LONG: constant(uint256) = 247  # 0xf7: 0xf8..0xff, length follows
_SHORT_MAX: constant(uint256) = 55  # longest payload with a one-byte header


@internal
@pure
def item(word: bytes32, pos: uint256, end: uint256) -> (bool, uint256, uint256):
    """
    @notice Decode the header of the RLP item that starts at `pos`.
    @dev A single byte below 0x80 is its own encoding: its payload is the
         byte itself, so the payload starts at `pos` and has length 1.
         The item ends at `payload + length`, which this function checks
         is at most `end`.
    @param word The 32 bytes of the buffer that start at `pos`.
    @param pos Offset of the item's first byte in the buffer.
    @param end Offset one past the last byte the item may use: the end of
           the enclosing list's payload, or of the whole node.
    @return True if the item is a list, the offset of its payload, and the
            length of its payload.
    """
    assert pos < end, "rlp: out of bounds"
    w: uint256 = convert(word, uint256)
    first: uint256 = w >> 248
    is_list: bool = False
    start: uint256 = pos + 1
    length: uint256 = 0
    if first < _STRING_SHORT:
        return False, pos, 1
    elif first <= _STRING_SHORT + _SHORT_MAX:
        length = first - _STRING_SHORT
        if length == 1:
            assert (w >> 240) & 255 >= _STRING_SHORT, "rlp: non-canonical byte"
    elif first < _LIST_SHORT:
        length, start = self._long_length(w, first - _STRING_LONG, pos)
    elif first <= _LIST_SHORT + _SHORT_MAX:
        is_list = True
        length = first - _LIST_SHORT
    else:
        is_list = True
        length, start = self._long_length(w, first - _LIST_LONG, pos)
    assert start + length <= end, "rlp: out of bounds"
    return is_list, start, length


@internal
@pure
def _long_length(w: uint256, size: uint256, pos: uint256) -> (uint256, uint256):
    """
    @notice Read the `size`-byte big-endian length that follows the first
            byte of a long-form header.
    @param w The item's first 32 bytes as an integer.
    @param size Number of length bytes (1..8 in RLP; 1..2 accepted here).
    @param pos Offset of the item's first byte.
    @return The payload length and the payload's offset.
    """
    assert size <= 2, "rlp: too long"
    length: uint256 = (w >> (248 - 8 * size)) & ((1 << (8 * size)) - 1)
    # Canonical: no leading zero byte, and too long for the short form.
    assert length >> (8 * size - 8) != 0, "rlp: non-canonical length"
    assert length > _SHORT_MAX, "rlp: non-canonical length"
    return length, pos + 1 + size


@internal
@pure
def list_header(length: uint256) -> Bytes[3]:
    """
    @notice Encode the header of a list whose payload is `length` bytes.
    @param length Payload length, at most `MAX_LENGTH`.
    @return One to three header bytes.
    """
    return self._header(length, _LIST_SHORT)


@internal
@pure
def string_header(length: uint256, first: uint256) -> Bytes[3]:
    """
    @notice Encode the header of a byte string of `length` bytes whose first
            byte is `first`.
    @dev Returns no bytes for a single byte below 0x80, which is its own
         encoding; so `concat(string_header(len(s), s[0]), s)` is always the
         RLP encoding of `s`.
    @param length String length, at most `MAX_LENGTH`.
    @param first The string's first byte (ignored unless `length` is 1).
    @return Zero to three header bytes.
    """
    if length == 1 and first < _STRING_SHORT:
        return b""
    return self._header(length, _STRING_SHORT)


@internal
@pure
def _header(length: uint256, offset: uint256) -> Bytes[3]:
    """
    @notice Encode a string (`offset` 0x80) or list (`offset` 0xc0) header.
    @param length Payload length, at most `MAX_LENGTH`.
    @param offset 0x80 for a string, 0xc0 for a list.
    @return One to three header bytes.
    """
    if length <= _SHORT_MAX:
        return slice(convert(offset + length, bytes32), 31, 1)
    if length < 256:
        return slice(convert(((offset + _SHORT_MAX + 1) << 8) | length, bytes32), 30, 2)
    assert length <= MAX_LENGTH, "rlp: too long"
    return slice(convert(((offset + _SHORT_MAX + 2) << 16) | length, bytes32), 29, 3)
