# pragma version ~=0.4.3
"""
@title Merkle-Patricia trie proofs for 32-byte keys
@license MIT
@notice Verifies inclusion and exclusion proofs against an Ethereum hexary
        Merkle-Patricia trie root (`get`) and computes the root after setting
        one key (`update`), bit for bit as Ethereum and py-trie's `HexaryTrie`
        do. Keys are used as they are (the trie does not hash them again);
        values are non-empty byte strings of at most `MAX_VALUE` bytes.
        Stateless, so a contract only `import`s it.
@dev Proof format: the RLP encodings of the nodes on the key's path, root
     first. The root node is always included (hashed whatever its size);
     below it, only nodes referenced by hash (RLP encoding of 32 bytes or
     more) are in the list, since smaller nodes travel inside their parent.
     The proof for a key that is absent ends at the node that proves the
     absence: a branch with an empty slot, or a leaf or extension whose path
     leaves the key's path. The empty trie has root `EMPTY_ROOT` and its
     proof is `[]` or `[0x80]`.
     Vyper has no recursion, so both functions walk down the path once,
     and `update` records where each node's child reference sits, then
     rebuilds the nodes from the bottom up in a second loop, splicing the
     new child reference into each recorded node.
     The proof is copied into memory once (internal functions take their
     arguments by copy, and memory is paid for by declared maximum sizes),
     so `get` and `update` each hold their own walk loop and delegate the
     per-node work to helpers that take one node. Callers should pass
     proofs straight from calldata and keep one DynArray of proof nodes
     per call, not a list of proofs (see contracts/test/MptHarness.vy).
     Gas (anvil, Osaka rules, 100,000 random keys, about 6 nodes a proof):
     get ~137k, update ~154k per transaction; six updates in one call
     ~712k; a 65-node adversarial path ~0.8M (get) / ~0.94M (update).
     Trust: the proof is untrusted input; every node is checked against
     the hash its parent (or `root`) commits to, and every offset against
     the node's bounds. Reverts are `"mpt: <reason>"` (or `"rlp: <reason>"`
     for a malformed RLP header inside a node whose hash matched).
"""

from . import rlp

# Longest value a leaf may hold: the longest state leaf is an account with
# 8 positions, 662 bytes (protocol §2.4), rounded up to whole words.
MAX_VALUE: constant(uint256) = 672

# Longest node: a leaf at the root holding a `MAX_VALUE`-byte value is
# 3 (list header) + 34 (33-byte hex-prefix path and its header) +
# 3 + MAX_VALUE (value and its header); a full branch is 3 + 16 * 33 + 1.
MAX_NODE: constant(uint256) = max(MAX_VALUE + 40, 532)

# Most nodes a proof may hold: a 32-byte key has 64 nibbles, so its path has
# at most 64 branches and the leaf below them, and in an adversarial trie
# all of them can be 32 bytes or more (hence hashed and in the proof). So
# every key of every trie is provable, which a dispute game needs. The cost
# is memory: callers copy the proof at its declared size (65 * 608 bytes),
# about 13k gas per call more than a limit of 33 would cost. Lowering it
# is safe only while no one can grind keys sharing that many nibbles; a
# path that needs more nodes then reverts with "mpt: proof too deep".
MAX_DEPTH: constant(uint256) = 65

# keccak256(rlp(b"")): the root of the empty trie.
EMPTY_ROOT: constant(bytes32) = 0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421

# Nibbles in a key.
_KEY_NIBBLES: constant(uint256) = 64
# Nodes on a path, embedded ones included: each branch or extension uses at
# least one nibble, so at most 64 of them and one node at the end.
_MAX_LEVELS: constant(uint256) = _KEY_NIBBLES + 1
# A node buffer: the node and 32 zero bytes, so `extract32` may read at any
# offset up to the node's end.
_BUF: constant(uint256) = MAX_NODE + 32
# A rebuilt node: header, the old payload around the replaced child, and the
# new child reference. Real nodes never exceed MAX_NODE; this is the type.
_NEW_NODE: constant(uint256) = 3 + MAX_NODE + 33 + MAX_NODE
# A branch with two children and fourteen empty slots, built from scratch.
_BRANCH2: constant(uint256) = 3 + 16 + 33 + 16 + 33 + 16
# A leaf: header, path item, value item. (A path item is at most 34 bytes;
# its type is Bytes[36] because `concat` adds up maximum sizes.)
_LEAF: constant(uint256) = 3 + 36 + MAX_NODE
# An extension: header, path item, child reference.
_EXTENSION: constant(uint256) = 3 + 36 + 33
_EMPTY_SLOTS: constant(Bytes[16]) = b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"

# Node kinds.
_BRANCH: constant(uint256) = 1
_EXTENSION_NODE: constant(uint256) = 2
_LEAF_NODE: constant(uint256) = 3

# How the walk in `update` ends.
_END_NONE: constant(uint256) = 0  # it has not
_END_FOUND: constant(uint256) = 1  # a leaf for the key
_END_EMPTY_SLOT: constant(uint256) = 2  # a branch whose slot is empty
_END_OTHER_LEAF: constant(uint256) = 3  # a leaf for another key
_END_OTHER_EXTENSION: constant(uint256) = 4  # an extension off the path


struct Node:
    # _BRANCH, _EXTENSION_NODE or _LEAF_NODE
    kind: uint256
    # Offset of the payload (the first item) in the buffer.
    payload: uint256
    # Leaf or extension: the path's nibbles, left-aligned, and their count.
    path: uint256
    path_len: uint256
    # The item below the node on the key's path: the branch slot for the
    # key's next nibble, the extension's child, or the leaf's value.
    # Its first byte, its payload's offset and length, and its end.
    child: uint256
    child_data: uint256
    child_len: uint256
    child_end: uint256
    child_is_list: bool


@internal
@pure
def get(root: bytes32, key: bytes32, proof: DynArray[Bytes[MAX_NODE], MAX_DEPTH]) -> Bytes[MAX_VALUE]:
    """
    @notice Verify a proof for `key` against `root` and return the key's
            value, or empty bytes if the proof shows that the key is absent.
    @dev Reverts unless the proof is exactly the key's path:
         "mpt: bad node hash" (a node that does not match its reference;
         also what a proof for another key gives, unless that proof happens
         to prove this key absent), "mpt: truncated proof",
         "mpt: extra proof nodes", "mpt: proof too deep" (a path that goes
         past the key's 64th nibble), "mpt: bad node" / "mpt: bad path" /
         "mpt: bad child" / "mpt: bad value" / "rlp: ..." (malformed
         nodes), "mpt: value too long" (over MAX_VALUE bytes).
    @param root The trie's root hash.
    @param key The key, used as is (not hashed).
    @param proof RLP-encoded nodes from the root down, embedded nodes left
           out (see the module notes).
    @return The value, or empty bytes for an absent key.
    """
    count: uint256 = len(proof)
    if root == EMPTY_ROOT:
        assert count <= 1, "mpt: extra proof nodes"
        if count == 1:
            assert keccak256(proof[0]) == EMPTY_ROOT, "mpt: bad node hash"
        return b""
    assert count > 0, "mpt: truncated proof"
    assert keccak256(proof[0]) == root, "mpt: bad node hash"

    k: uint256 = convert(key, uint256)
    buf: Bytes[_BUF] = concat(proof[0], empty(bytes32))
    index: uint256 = 0
    start: uint256 = 0
    end: uint256 = len(proof[0])
    depth: uint256 = 0
    found: bool = False
    ended: bool = False
    n: Node = empty(Node)
    for _: uint256 in range(_MAX_LEVELS):
        n = self._node(buf, start, end, k, depth)
        ended = True
        if n.kind == _LEAF_NODE:
            found = self._common(n.path, k << (4 * depth), n.path_len) == n.path_len
            break
        if n.kind == _EXTENSION_NODE:
            if self._common(n.path, k << (4 * depth), n.path_len) < n.path_len:
                break
            depth += n.path_len
        else:
            if n.child_len == 0 and not n.child_is_list:
                break
            depth += 1
        ended = False
        if n.child_is_list:
            start = n.child
            end = n.child_end
        else:
            index += 1
            assert index < MAX_DEPTH, "mpt: proof too deep"
            assert index < count, "mpt: truncated proof"
            assert keccak256(proof[index]) == extract32(buf, n.child_data), "mpt: bad node hash"
            buf = concat(proof[index], empty(bytes32))
            start = 0
            end = len(proof[index])
    # Unreachable: `_node` stops every path at the key's 64th nibble, so the
    # walk ends within _MAX_LEVELS nodes.
    assert ended, "mpt: proof too deep"
    assert index + 1 == count, "mpt: extra proof nodes"
    if not found:
        return b""
    assert n.child_len <= MAX_VALUE, "mpt: value too long"
    # Narrow Bytes[MAX_NODE] to Bytes[MAX_VALUE]: Vyper has no direct way.
    return abi_decode(abi_encode(slice(proof[index], n.child_data, n.child_len)), Bytes[MAX_VALUE])


@internal
@pure
def update(
    root: bytes32, key: bytes32, new_value: Bytes[MAX_VALUE], proof: DynArray[Bytes[MAX_NODE], MAX_DEPTH]
) -> bytes32:
    """
    @notice Return the root of the trie `root` after setting `key` to
            `new_value`, given the proof for `key` against `root`.
    @dev Covers every insert and replace: replacing a leaf's value, filling
         an empty branch slot, splitting a leaf or an extension with a new
         branch (with an extension above it for the shared nibbles and one
         below it for the extension's remaining nibbles, where needed), and
         the empty trie. Nodes under 32 bytes are embedded in their parent
         as Ethereum does. Deleting is not supported (`new_value` must not
         be empty). To apply several updates, call it in turn, each with the
         proof against the root the previous call returned.
         Reverts as `get` does, and with "mpt: empty value".
    @param root The trie's root hash.
    @param key The key, used as is (not hashed).
    @param new_value The key's new value, 1 to MAX_VALUE bytes.
    @param proof The proof for `key` against `root`, as for `get`.
    @return The new root hash.
    """
    assert len(new_value) > 0, "mpt: empty value"
    value_item: Bytes[MAX_VALUE + 3] = concat(
        rlp.string_header(len(new_value), convert(slice(new_value, 0, 1), uint256)), new_value
    )
    count: uint256 = len(proof)
    k: uint256 = convert(key, uint256)
    if root == EMPTY_ROOT:
        assert count <= 1, "mpt: extra proof nodes"
        if count == 1:
            assert keccak256(proof[0]) == EMPTY_ROOT, "mpt: bad node hash"
        return keccak256(self._leaf(k, _KEY_NIBBLES, value_item))
    assert count > 0, "mpt: truncated proof"
    assert keccak256(proof[0]) == root, "mpt: bad node hash"

    # Walk down as `get` does, recording for each node that will change
    # where it sits and where its child reference sits (see `_pack`).
    levels: DynArray[uint256, _MAX_LEVELS] = []
    buf: Bytes[_BUF] = concat(proof[0], empty(bytes32))
    index: uint256 = 0
    start: uint256 = 0
    end: uint256 = len(proof[0])
    depth: uint256 = 0
    ending: uint256 = _END_NONE
    n: Node = empty(Node)
    for _: uint256 in range(_MAX_LEVELS):
        n = self._node(buf, start, end, k, depth)
        if n.kind == _LEAF_NODE:
            ending = _END_OTHER_LEAF
            if self._common(n.path, k << (4 * depth), n.path_len) == n.path_len:
                ending = _END_FOUND
            break
        if n.kind == _EXTENSION_NODE:
            if self._common(n.path, k << (4 * depth), n.path_len) < n.path_len:
                ending = _END_OTHER_EXTENSION
                break
            depth += n.path_len
        else:
            depth += 1
        levels.append(self._pack(index, n.payload, end, n.child, n.child_end))
        if n.child_is_list:
            start = n.child
            end = n.child_end
        elif n.child_len == 0:
            # An empty branch slot: the new leaf goes there.
            ending = _END_EMPTY_SLOT
            break
        else:
            index += 1
            assert index < MAX_DEPTH, "mpt: proof too deep"
            assert index < count, "mpt: truncated proof"
            assert keccak256(proof[index]) == extract32(buf, n.child_data), "mpt: bad node hash"
            buf = concat(proof[index], empty(bytes32))
            start = 0
            end = len(proof[index])
    # Unreachable, as in `get`.
    assert ending != _END_NONE, "mpt: proof too deep"
    assert index + 1 == count, "mpt: extra proof nodes"

    # The node that replaces the one where the walk ended, or fills the
    # empty slot.
    rest: uint256 = k << (4 * depth)
    node: Bytes[_NEW_NODE] = b""
    if ending == _END_FOUND or ending == _END_EMPTY_SLOT:
        node = self._leaf(rest, _KEY_NIBBLES - depth, value_item)
    else:
        # A leaf for another key, or an extension, leaves the key's path
        # after `m` shared nibbles: a branch goes there, holding what is
        # left of the old node and the new leaf, under an extension for
        # the shared nibbles if there are any.
        m: uint256 = self._common(n.path, rest, n.path_len)
        below: uint256 = n.path_len - m - 1
        old: Bytes[33] = b""
        if ending == _END_OTHER_LEAF:
            old = self._ref(
                self._leaf(n.path << (4 * m + 4), below, slice(proof[index], n.child, n.child_end - n.child))
            )
        else:
            old = self._child_ref(buf, n)
            if below > 0:
                old = self._ref(self._extension(n.path << (4 * m + 4), below, old))
        new: Bytes[33] = self._ref(self._leaf(rest << (4 * m + 4), _KEY_NIBBLES - depth - m - 1, value_item))
        node = self._branch2(self._nibble(n.path, m), old, self._nibble(rest, m), new)
        if m > 0:
            node = self._extension(n.path, m, self._ref(node))

    # Rebuild upward: splice each new child reference into its parent.
    for t: uint256 in range(len(levels), bound=_MAX_LEVELS):
        level: uint256 = levels[len(levels) - 1 - t]
        at: uint256 = level & 65535
        payload: uint256 = (level >> 16) & 65535
        node_end: uint256 = (level >> 32) & 65535
        child: uint256 = (level >> 48) & 65535
        child_end: uint256 = level >> 64
        ref: Bytes[33] = self._ref(node)
        node = concat(
            rlp.list_header(node_end - payload - (child_end - child) + len(ref)),
            slice(proof[at], payload, child - payload),
            ref,
            slice(proof[at], child_end, node_end - child_end),
        )
    return keccak256(node)


@internal
@pure
def _node(buf: Bytes[_BUF], start: uint256, end: uint256, k: uint256, depth: uint256) -> Node:
    """
    @notice Parse the node at `buf[start:end]` and find the item below it on
            the path of key `k`, of which the nodes above used `depth`
            nibbles.
    @dev Checks the node's shape: a list of 2 items (leaf or extension: a
         hex-prefix path, then the value or the child) or of 17 (branch: 16
         children, then a value, which must be empty since no 32-byte key
         ends at a branch). The child taken is empty (branch slots only), a
         32-byte hash, or an embedded node under 32 bytes. Stops every path
         at the key's 64th nibble ("mpt: proof too deep").
    @param buf A node buffer: the node's bytes, then 32 zero bytes.
    @param start Offset of the node's first byte.
    @param end Offset one past the node's last byte.
    @param k The key as an integer.
    @param depth Nibbles of the key used by the nodes above.
    @return The parsed node; its `child*` fields describe the item below it.
    """
    n: Node = empty(Node)
    is_list: bool = False
    pos: uint256 = 0
    size: uint256 = 0
    is_list, pos, size = rlp.item(extract32(buf, start), start, end)
    assert is_list and pos + size == end, "mpt: bad node"
    n.payload = pos

    # Items 0 and 1, then the end of item 1 tells two items from more.
    is_list, pos, size = rlp.item(extract32(buf, n.payload), n.payload, end)
    n.child = pos + size
    assert n.child < end, "mpt: bad node"
    n.child_is_list, n.child_data, n.child_len = rlp.item(extract32(buf, n.child), n.child, end)
    n.child_end = n.child_data + n.child_len

    if n.child_end == end:
        # A leaf or an extension; item 0 is its hex-prefix path.
        assert not is_list and size >= 1 and size <= 33, "mpt: bad path"
        flag: uint256 = convert(extract32(buf, pos), uint256) >> 248
        # The path's bytes after the flag byte, left-aligned, rest cleared.
        tail: uint256 = convert(extract32(buf, pos + 1), uint256)
        tail = (tail >> (8 * (33 - size))) << (8 * (33 - size))
        if flag & 16 != 0:
            # Odd length: the flag byte's low nibble is the first nibble.
            n.path = ((flag & 15) << 252) | (tail >> 4)
            n.path_len = 2 * size - 1
        else:
            assert flag & 15 == 0, "mpt: bad path"
            n.path = tail
            n.path_len = 2 * size - 2
        assert flag < 64, "mpt: bad path"
        if flag >= 32:
            n.kind = _LEAF_NODE
            assert n.path_len == _KEY_NIBBLES - depth, "mpt: bad path"
            assert not n.child_is_list and n.child_len > 0, "mpt: bad value"
        else:
            n.kind = _EXTENSION_NODE
            assert n.path_len > 0, "mpt: bad path"
            assert depth + n.path_len < _KEY_NIBBLES, "mpt: proof too deep"
            self._check_reference(n.child_is_list, n.child_len, n.child_end - n.child)
        return n

    # A branch. Its children are all the empty string (0x80), a 32-byte
    # hash (0xa0 and the hash) or an embedded node under 32 bytes (a list
    # of at most 30 payload bytes), so they are read inline, which costs a
    # fraction of a general RLP read per item.
    n.kind = _BRANCH
    assert depth < _KEY_NIBBLES, "mpt: proof too deep"
    slot: uint256 = self._nibble(k, depth)
    pos = n.payload
    for i: uint256 in range(16):
        assert pos < end, "mpt: bad node"
        first: uint256 = convert(extract32(buf, pos), uint256) >> 248
        size = 1
        if first == 160:
            size = 33
        elif first > 192 and first <= 192 + 30:
            size = first - 191
        else:
            assert first == 128, "mpt: bad child"
        if i == slot:
            n.child = pos
            n.child_end = pos + size
            n.child_is_list = first > 192
            n.child_data = pos + 1
            n.child_len = size - 1
        pos += size
    # Then the branch's value, which must be empty: a 32-byte key never
    # ends at a branch.
    assert pos + 1 == end, "mpt: bad node"
    assert convert(extract32(buf, pos), uint256) >> 248 == 128, "mpt: bad node"
    return n


@internal
@pure
def _check_reference(is_list: bool, data_len: uint256, item_len: uint256):
    """
    @notice Check an extension's child reference: a 32-byte hash, or an
            embedded node under 32 bytes.
    @param is_list True if the item is a list (an embedded node).
    @param data_len Length of the item's payload.
    @param item_len Length of the whole item, header included.
    """
    if is_list:
        assert item_len < 32, "mpt: bad child"
    else:
        assert data_len == 32, "mpt: bad child"


@internal
@pure
def _nibble(x: uint256, i: uint256) -> uint256:
    """
    @notice Return nibble `i` (0 = most significant) of `x`.
    @param x 64 nibbles, left-aligned.
    @param i Index of the nibble, below 64.
    @return The nibble.
    """
    return (x >> (252 - 4 * i)) & 15


@internal
@pure
def _common(a: uint256, b: uint256, limit: uint256) -> uint256:
    """
    @notice Return how many leading nibbles `a` and `b` share, at most
            `limit`.
    @param a 64 nibbles, left-aligned.
    @param b 64 nibbles, left-aligned.
    @param limit Largest answer (at most 64).
    @return The number of shared leading nibbles, capped at `limit`.
    """
    x: uint256 = a ^ b
    m: uint256 = 0
    # Binary search: the top `m + step` nibbles agree iff the top bits of x
    # are zero.
    for step: uint256 in [64, 32, 16, 8, 4, 2, 1]:
        if m + step <= limit and x >> (256 - 4 * (m + step)) == 0:
            m += step
    return m


@internal
@pure
def _pack(index: uint256, payload: uint256, node_end: uint256, child: uint256, child_end: uint256) -> uint256:
    """
    @notice Pack where a node on the path sits, for the rebuild in `update`.
    @dev Offsets are below 2**16 (nodes are at most MAX_NODE bytes).
    @param index Index in the proof of the node that holds it (itself, or
           its nearest hashed ancestor when it is embedded).
    @param payload Offset of its payload in that proof node.
    @param node_end Offset one past its end.
    @param child Offset of the child reference on the key's path.
    @param child_end Offset one past that reference's end.
    @return The five offsets, 16 bits each, `index` lowest.
    """
    return index | (payload << 16) | (node_end << 32) | (child << 48) | (child_end << 64)


@internal
@pure
def _ref(node: Bytes[_NEW_NODE]) -> Bytes[33]:
    """
    @notice Return how a parent refers to `node`: the node itself if its
            encoding is under 32 bytes (embedded), else the RLP string of
            its keccak256 hash.
    @param node An RLP-encoded node.
    @return The reference, as it appears in the parent's payload.
    """
    if len(node) < 32:
        # Narrow to Bytes[33] through a padded 32-byte word.
        return slice(extract32(concat(node, empty(bytes32)), 0), 0, len(node))
    return concat(b"\xa0", keccak256(node))


@internal
@pure
def _child_ref(buf: Bytes[_BUF], n: Node) -> Bytes[33]:
    """
    @notice Copy the child reference of extension `n` out of its buffer.
    @param buf The extension's buffer (node plus 32 zero bytes).
    @param n The parsed extension.
    @return The reference, as it appears in the extension's payload.
    """
    if n.child_is_list:
        return slice(extract32(buf, n.child), 0, n.child_end - n.child)
    return concat(b"\xa0", extract32(buf, n.child_data))


@internal
@pure
def _path_item(path: uint256, path_len: uint256, leaf: bool) -> Bytes[36]:
    """
    @notice Encode the first `path_len` nibbles of `path` in hex-prefix form
            (flag nibble 2 for a leaf, 0 for an extension, plus 1 if the
            length is odd) as an RLP string.
    @param path Nibbles, left-aligned; those past `path_len` are ignored.
    @param path_len Number of nibbles, at most 64.
    @param leaf True for a leaf, False for an extension.
    @return The RLP string item.
    """
    flag: uint256 = 2 if leaf else 0
    if path_len % 2 == 1:
        # The flag nibble and the path make whole bytes.
        size: uint256 = (path_len + 1) // 2
        word: bytes32 = convert(((flag + 1) << 252) | (path >> 4), bytes32)
        return concat(rlp.string_header(size, flag * 16 + 16), slice(word, 0, size))
    return concat(
        rlp.string_header(path_len // 2 + 1, flag * 16),
        slice(convert(flag << 4, bytes32), 31, 1),
        slice(convert(path, bytes32), 0, path_len // 2),
    )


@internal
@pure
def _leaf(path: uint256, path_len: uint256, value_item: Bytes[MAX_NODE]) -> Bytes[_LEAF]:
    """
    @notice Encode a leaf node.
    @param path The leaf's nibbles, left-aligned.
    @param path_len Their count.
    @param value_item The value, already RLP-encoded as a string.
    @return The RLP-encoded leaf.
    """
    path_item: Bytes[36] = self._path_item(path, path_len, True)
    return concat(rlp.list_header(len(path_item) + len(value_item)), path_item, value_item)


@internal
@pure
def _extension(path: uint256, path_len: uint256, child: Bytes[33]) -> Bytes[_EXTENSION]:
    """
    @notice Encode an extension node.
    @param path The extension's nibbles, left-aligned.
    @param path_len Their count, at least 1.
    @param child The child reference (hash item or embedded node).
    @return The RLP-encoded extension.
    """
    path_item: Bytes[36] = self._path_item(path, path_len, False)
    return concat(rlp.list_header(len(path_item) + len(child)), path_item, child)


@internal
@pure
def _branch2(a: uint256, ref_a: Bytes[33], b: uint256, ref_b: Bytes[33]) -> Bytes[_BRANCH2]:
    """
    @notice Encode a branch with two children, at slots `a` and `b`, and no
            value.
    @param a A slot (0 to 15), different from `b`.
    @param ref_a The reference in slot `a`.
    @param b The other slot.
    @param ref_b The reference in slot `b`.
    @return The RLP-encoded branch.
    """
    lo: uint256 = a
    hi: uint256 = b
    ref_lo: Bytes[33] = ref_a
    ref_hi: Bytes[33] = ref_b
    if a > b:
        lo = b
        hi = a
        ref_lo = ref_b
        ref_hi = ref_a
    # Empty slots before, between and after, then the empty value.
    payload: Bytes[_BRANCH2 - 3] = concat(
        slice(_EMPTY_SLOTS, 0, lo),
        ref_lo,
        slice(_EMPTY_SLOTS, 0, hi - lo - 1),
        ref_hi,
        slice(_EMPTY_SLOTS, 0, 16 - hi),
    )
    return concat(rlp.list_header(len(payload)), payload)
