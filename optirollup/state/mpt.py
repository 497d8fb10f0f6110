"""Update, read and prove an Ethereum hexary Merkle-Patricia trie held in a node store.

The node format is exactly Ethereum's (and ``trie.HexaryTrie``'s): keys are used as given (no
second hashing, the state's keys already are keccak hashes), children whose encoding is shorter
than 32 bytes are embedded in their parent, and the root node is always stored under its hash.

``bulk_update`` applies a whole batch of writes in one descent: it sorts the keys as nibble
paths, partitions them by nibble at each branch, splits leaves and extensions where the batch
diverges from them, and encodes and hashes every dirty node exactly once. Node encodings are
built by hand (``rlp.encode`` costs ~40 us per branch node, more than everything else here).

Internally a nibble path is a lowercase hex string: slicing, comparing and sorting hex strings
is fast, and the hex-prefix encoding of a path is one ``bytes.fromhex`` call. A child reference
("ref") is the RLP item as it appears inside its parent: ``b"\\x80"`` for no child,
``b"\\xa0" + hash`` for a hashed child, or the child's own list encoding when embedded.

Every function here is pure over its ``NodeStore``; ``bulk_update`` only ever adds nodes.

**Decoded-node cache.** ``get`` and ``bulk_update`` take an optional cache of decoded hashed
nodes by hash (a ``dict``, or a bounded :class:`NodeCache`). Nodes are content-addressed and
never mutated, so an entry can never go stale and any eviction is correct. ``bulk_update``
seeds the cache with every hashed node it creates, in the form ``_decode_node`` would give it
back, so the reads that follow a batch (the next orders' state lookups walk the nodes the last
root just created) do not fetch and decode them again. A cache changes no root and no read.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, MutableMapping, Sequence

from optirollup.hashing import keccak
from optirollup.state.store import (
    BadProof,
    CorruptTrieNode,
    MissingTrieNode,
    NodeStore,
)

__all__ = [
    "EMPTY_ROOT",
    "KEY_SIZE",
    "NODE_CACHE_SIZE",
    "BadProof",
    "CorruptTrieNode",
    "MissingTrieNode",
    "NodeCache",
    "bulk_update",
    "get",
    "get_proof",
    "keccak",
    "verify_proof",
]


KEY_SIZE = 32
EMPTY_ROOT = keccak(b"\x80")
"""Root hash of the empty trie: keccak(rlp(b"")) = 0x56e81f...b421."""

_NIBBLES = KEY_SIZE * 2
_EMPTY_REF = b"\x80"
_NO_VALUE = b"\x80"
_HASH_REF_PREFIX = 0xA0
_HEX_VALUE = {c: int(c, 16) for c in "0123456789abcdef"}

# Decoded node: (kind, path, payload). For a leaf the payload is the value; for an extension
# the child ref; for a branch ``path`` is "" and the payload is a list of 17 raw RLP items
# (16 child refs and the value item).
_LEAF = 0
_EXTENSION = 1
_BRANCH = 2
_Node = tuple[int, str, bytes | list[bytes]]
DecodedNode = _Node
"""A decoded trie node, as kept in the caches ``get`` and ``bulk_update`` take."""


NODE_CACHE_SIZE = 1 << 16
"""Decoded nodes a :class:`NodeCache` keeps in its young generation (it holds at most twice as
many). A batch of 500 FILLs creates about 1,900 hashed nodes of some 600 bytes decoded, so the
young generation holds about 35 such batches' worth: 40 MB, 80 MB at most."""


class _Malformed(ValueError):
    """Bytes that are not a well-formed RLP trie node."""


class NodeCache(dict[bytes, _Node]):
    """A bounded cache of decoded nodes by hash, in two generations.

    Entries go to the young generation (this ``dict``); :meth:`trim` (call it between batches)
    makes a young generation over ``capacity`` the old one and starts an empty young one. A
    lookup that misses the young generation takes the entry from the old one and moves it back
    (``__missing__``), so the nodes still in use survive a trim and the others are dropped with
    the next one: at most ``2 * capacity`` entries are kept. Hits on the young generation are
    plain ``dict`` lookups.
    """

    def __init__(self, capacity: int = NODE_CACHE_SIZE) -> None:
        """Create an empty cache whose young generation is trimmed past ``capacity`` (≥ 1)."""
        if capacity < 1:
            raise ValueError(f"capacity={capacity} must be at least 1")
        super().__init__()
        self.capacity = capacity
        self._old: dict[bytes, _Node] = {}

    def __missing__(self, node_hash: bytes) -> _Node:
        """Move ``node_hash`` from the old generation to the young one; raise ``KeyError``."""
        node = self._old.pop(node_hash)
        self[node_hash] = node
        return node

    def trim(self) -> None:
        """Start a new generation if the young one holds more than ``capacity`` entries."""
        if len(self) > self.capacity:
            self._old = dict(self)
            self.clear()

    @property
    def size(self) -> int:
        """Return the entries held in both generations."""
        return len(self) + len(self._old)


# --------------------------------------------------------------------------- RLP encoding


def _encode_string(data: bytes) -> bytes:
    """Encode ``data`` as an RLP string item."""
    n = len(data)
    if n == 1 and data[0] < 0x80:
        return data
    if n < 56:
        return bytes((0x80 + n,)) + data
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0xB7 + len(size),)) + size + data


def _encode_list(payload: bytes) -> bytes:
    """Wrap the concatenated RLP items ``payload`` in an RLP list header."""
    n = len(payload)
    if n < 56:
        return bytes((0xC0 + n,)) + payload
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0xF7 + len(size),)) + size + payload


def _encode_leaf(path: str, value: bytes) -> bytes:
    """Encode a leaf node for the hex nibble ``path`` holding ``value``."""
    hp = bytes.fromhex("3" + path if len(path) & 1 else "20" + path)
    return _encode_list(_encode_string(hp) + _encode_string(value))


def _encode_extension(path: str, child_ref: bytes) -> bytes:
    """Encode an extension node for the non-empty hex nibble ``path`` pointing to a child."""
    hp = bytes.fromhex("1" + path if len(path) & 1 else "00" + path)
    return _encode_list(_encode_string(hp) + child_ref)


_Cache = MutableMapping[bytes, _Node]


def _commit(
    store: NodeStore,
    encoded: bytes,
    cache: _Cache | None,
    kind: int,
    path: str,
    payload: bytes | list[bytes],
) -> bytes:
    """Return the ref of a node, storing it under its hash unless it is embedded (< 32 bytes).

    ``(kind, path, payload)`` is the node decoded (what ``_decode_node(encoded)`` returns); a
    hashed node goes into ``cache`` in that form.
    """
    if len(encoded) < 32:
        return encoded
    node_hash = keccak(encoded)
    store[node_hash] = encoded
    if cache is not None:
        cache[node_hash] = (kind, path, payload)
    return b"\xa0" + node_hash


# --------------------------------------------------------------------------- RLP decoding


def _item_end(data: bytes, pos: int) -> int:
    """Return the offset just past the RLP item starting at ``pos``."""
    b0 = data[pos]
    if b0 < 0x80:
        return pos + 1
    if b0 <= 0xB7:
        return pos + 1 + b0 - 0x80
    if b0 < 0xC0:
        n = b0 - 0xB7
        return pos + 1 + n + int.from_bytes(data[pos + 1 : pos + 1 + n], "big")
    if b0 <= 0xF7:
        return pos + 1 + b0 - 0xC0
    n = b0 - 0xF7
    return pos + 1 + n + int.from_bytes(data[pos + 1 : pos + 1 + n], "big")


def _string_payload(item: bytes) -> bytes:
    """Return the payload of an RLP string item."""
    b0 = item[0]
    if b0 < 0x80:
        return item
    if b0 <= 0xB7:
        return item[1:]
    if b0 < 0xC0:
        return item[1 + b0 - 0xB7 :]
    raise _Malformed("expected an RLP string, found a list")


def _decode_node(encoded: bytes) -> _Node:
    """Decode a leaf, extension or branch node; raise ``_Malformed`` on anything else."""
    try:
        b0 = encoded[0]
        if b0 < 0xC0:
            raise _Malformed("a trie node must be an RLP list")
        if b0 <= 0xF7:
            pos = 1
            end = 1 + b0 - 0xC0
        else:
            pos = 1 + b0 - 0xF7
            end = pos + int.from_bytes(encoded[1:pos], "big")
        if end != len(encoded):
            raise _Malformed("RLP list length does not match the node's size")
        items: list[bytes] = []
        irregular = False  # any item other than an empty slot or a 32-byte hash?
        while pos < end:
            b = encoded[pos]
            if b == _HASH_REF_PREFIX:
                nxt = pos + 33
            elif b == 0x80:
                nxt = pos + 1
            else:
                nxt = _item_end(encoded, pos)
                irregular = True
            if nxt > end:
                raise _Malformed("RLP item runs past the end of the node")
            items.append(encoded[pos:nxt])
            pos = nxt
        if len(items) == 17:
            if irregular:
                for ref in items[:16]:
                    _check_ref(ref)
            return (_BRANCH, "", items)
        if len(items) != 2:
            raise _Malformed(f"a trie node has 2 or 17 items, not {len(items)}")
        hp = _string_payload(items[0]).hex()
        flag = hp[0]
        if flag not in "0123" or (flag in "02" and hp[1:2] != "0"):
            raise _Malformed(f"bad hex-prefix header nibbles {hp[:2]!r}")
        path = hp[1:] if flag in "13" else hp[2:]
        if flag in "23":
            return (_LEAF, path, _string_payload(items[1]))
        if not path:
            raise _Malformed("an extension node must have a non-empty path")
        _check_ref(items[1])
        return (_EXTENSION, path, items[1])
    except IndexError as err:
        raise _Malformed("truncated RLP") from err


def _check_ref(ref: bytes) -> None:
    """Reject a child item that is neither empty, a 32-byte hash, nor an embedded node."""
    if ref == _EMPTY_REF or (len(ref) == 33 and ref[0] == _HASH_REF_PREFIX):
        return
    if ref[0] >= 0xC0 and len(ref) < 32:
        return
    raise _Malformed(f"bad child reference 0x{ref.hex()}")


def _fetch(store: NodeStore, node_hash: bytes) -> bytes:
    """Return the encoding of a hashed node, raising ``MissingTrieNode`` if absent."""
    try:
        return store[node_hash]
    except KeyError:
        raise MissingTrieNode(node_hash) from None


def _decode_stored(encoded: bytes, node_hash: bytes | None) -> _Node:
    """Decode a node read from a store, raising ``CorruptTrieNode`` on malformed bytes."""
    try:
        return _decode_node(encoded)
    except _Malformed as err:
        where = f"0x{node_hash.hex()}" if node_hash is not None else "(embedded)"
        raise CorruptTrieNode(f"trie node {where} does not decode: {err}") from err


def _load_hashed(store: NodeStore, node_hash: bytes, cache: _Cache | None) -> _Node:
    """Return a hashed node, decoded, from ``cache`` or from ``store`` (filling the cache)."""
    if cache is None:
        return _decode_stored(_fetch(store, node_hash), node_hash)
    try:
        return cache[node_hash]  # item access, so a NodeCache can look in its old generation
    except KeyError:
        node = _decode_stored(_fetch(store, node_hash), node_hash)
        cache[node_hash] = node
        return node


def _load(store: NodeStore, ref: bytes, cache: _Cache | None = None) -> _Node | None:
    """Return the decoded node a child ref points to, or None for an empty slot."""
    if len(ref) == 33 and ref[0] == _HASH_REF_PREFIX:
        return _load_hashed(store, ref[1:], cache)
    if ref == _EMPTY_REF:
        return None
    return _decode_stored(ref, None)


def _load_root(store: NodeStore, root: bytes, cache: _Cache | None = None) -> _Node | None:
    """Return the decoded root node, or None for the empty trie."""
    if len(root) != 32:
        raise ValueError(f"a state root is 32 bytes, got {len(root)}: 0x{root.hex()}")
    if root == EMPTY_ROOT:
        return None
    return _load_hashed(store, root, cache)


# --------------------------------------------------------------------------- bulk update


def _shared(a: str, b: str, start: int, limit: int) -> int:
    """Count the nibbles ``a`` and ``b`` share from ``start``, at most ``limit``."""
    n = 0
    while n < limit and a[start + n] == b[start + n]:
        n += 1
    return n


def _shared_with_path(path: str, key: str, depth: int) -> int:
    """Count the nibbles that ``path`` shares with ``key`` read from ``depth``."""
    n = 0
    limit = len(path)
    while n < limit and path[n] == key[depth + n]:
        n += 1
    return n


def _build(
    store: NodeStore,
    depth: int,
    keys: Sequence[str],
    vals: Sequence[bytes],
    lo: int,
    hi: int,
    cache: _Cache | None = None,
) -> bytes:
    """Build the fresh subtree holding ``keys[lo:hi]`` below nibble ``depth``; return its ref."""
    if hi - lo == 1:
        path = keys[lo][depth:]
        return _commit(store, _encode_leaf(path, vals[lo]), cache, _LEAF, path, vals[lo])
    first = keys[lo]
    shared = _shared(first, keys[hi - 1], depth, _NIBBLES - depth)
    if shared:
        child = _build_branch(store, depth + shared, keys, vals, lo, hi, cache)
        path = first[depth : depth + shared]
        return _commit(store, _encode_extension(path, child), cache, _EXTENSION, path, child)
    return _build_branch(store, depth, keys, vals, lo, hi, cache)


def _build_branch(
    store: NodeStore,
    depth: int,
    keys: Sequence[str],
    vals: Sequence[bytes],
    lo: int,
    hi: int,
    cache: _Cache | None = None,
) -> bytes:
    """Build a fresh branch at ``depth`` over ``keys[lo:hi]`` (which diverge there)."""
    slots = [_EMPTY_REF] * 16
    i = lo
    while i < hi:
        nibble = keys[i][depth]
        j = i + 1
        while j < hi and keys[j][depth] == nibble:
            j += 1
        slots[_HEX_VALUE[nibble]] = _build(store, depth + 1, keys, vals, i, j, cache)
        i = j
    slots.append(_NO_VALUE)
    return _commit(store, _encode_list(b"".join(slots)), cache, _BRANCH, "", slots)


def _update(
    store: NodeStore,
    node: _Node | None,
    depth: int,
    keys: Sequence[str],
    vals: Sequence[bytes],
    lo: int,
    hi: int,
    cache: _Cache | None = None,
) -> bytes:
    """Apply ``keys[lo:hi]`` to the subtree ``node`` rooted at nibble ``depth``; return its ref."""
    if node is None:
        return _build(store, depth, keys, vals, lo, hi, cache)
    kind, path, payload = node

    if kind == _BRANCH:
        assert isinstance(payload, list)
        slots = list(payload)
        i = lo
        while i < hi:
            nibble = keys[i][depth]
            j = i + 1
            while j < hi and keys[j][depth] == nibble:
                j += 1
            idx = _HEX_VALUE[nibble]
            slots[idx] = _update(
                store, _load(store, slots[idx], cache), depth + 1, keys, vals, i, j, cache
            )
            i = j
        return _commit(store, _encode_list(b"".join(slots)), cache, _BRANCH, "", slots)

    assert isinstance(payload, bytes)
    if kind == _LEAF:
        full = keys[lo][:depth] + path
        if len(full) != _NIBBLES:
            raise CorruptTrieNode(
                f"leaf at nibble depth {depth} has a {len(path)}-nibble path; "
                f"every key of the state is {KEY_SIZE} bytes"
            )
        pos = bisect_left(keys, full, lo, hi)
        if pos < hi and keys[pos] == full:  # the batch replaces this leaf's value
            return _build(store, depth, keys, vals, lo, hi, cache)
        merged_keys = [*keys[lo:pos], full, *keys[pos:hi]]
        merged_vals = [*vals[lo:pos], payload, *vals[pos:hi]]
        return _build(store, depth, merged_keys, merged_vals, 0, len(merged_keys), cache)

    # Extension: the updates diverge from its path after `shared` nibbles (the minimum over
    # a sorted range is reached at one of its ends).
    length = len(path)
    shared = min(
        _shared_with_path(path, keys[lo], depth), _shared_with_path(path, keys[hi - 1], depth)
    )
    if shared == length:
        child = _update(
            store, _load(store, payload, cache), depth + length, keys, vals, lo, hi, cache
        )
        return _commit(store, _encode_extension(path, child), cache, _EXTENSION, path, child)

    # Split: a branch at depth + shared; the old extension's remainder hangs off one slot.
    split = depth + shared
    old_nibble = path[shared]
    rest = path[shared + 1 :]
    slots = [_EMPTY_REF] * 16
    old_slot_done = False
    i = lo
    while i < hi:
        nibble = keys[i][split]
        j = i + 1
        while j < hi and keys[j][split] == nibble:
            j += 1
        if nibble == old_nibble:
            sub = (_EXTENSION, rest, payload) if rest else _load(store, payload, cache)
            slots[_HEX_VALUE[nibble]] = _update(store, sub, split + 1, keys, vals, i, j, cache)
            old_slot_done = True
        else:
            slots[_HEX_VALUE[nibble]] = _build(store, split + 1, keys, vals, i, j, cache)
        i = j
    if not old_slot_done:
        slots[_HEX_VALUE[old_nibble]] = (
            _commit(store, _encode_extension(rest, payload), cache, _EXTENSION, rest, payload)
            if rest
            else payload
        )
    slots.append(_NO_VALUE)
    ref = _commit(store, _encode_list(b"".join(slots)), cache, _BRANCH, "", slots)
    if shared:
        head = path[:shared]
        ref = _commit(store, _encode_extension(head, ref), cache, _EXTENSION, head, ref)
    return ref


def _check_key(key: bytes) -> None:
    """Reject a key that is not exactly ``KEY_SIZE`` bytes."""
    if type(key) is not bytes or len(key) != KEY_SIZE:
        raise ValueError(
            f"state keys are {KEY_SIZE}-byte hashes, got {type(key).__name__} "
            f"of length {len(key)}: {key!r}"
        )


def bulk_update(
    store: NodeStore,
    root: bytes,
    updates: Mapping[bytes, bytes],
    cache: _Cache | None = None,
) -> bytes:
    """Apply every write of ``updates`` to the trie at ``root`` and return the new root.

    Keys are 32-byte hashes, values non-empty bytes (the state never deletes; an empty value
    raises ``ValueError``). Every new node is written to ``store``: hashed nodes (encoding of
    32 bytes or more) under their hash, and the root under its hash whatever its size, exactly
    as ``trie.HexaryTrie`` does. Nothing is ever deleted, so ``root`` stays readable. The result
    equals the root ``HexaryTrie`` reaches after setting the same keys one by one.
    ``cache`` (optional) is the same decoded-node cache :func:`get` takes; nodes are never
    mutated, so reads and updates can share it, and every hashed node created here is put in
    it (decoded), so reads of the new trie start warm. Raise ``MissingTrieNode`` if the store
    lacks a node on a path the batch touches.
    """
    node = _load_root(store, root, cache)
    if not updates:
        return root
    items: list[tuple[str, bytes]] = []
    for key, value in updates.items():
        _check_key(key)
        if type(value) is not bytes or not value:
            raise ValueError(
                f"value for key 0x{key.hex()} must be non-empty bytes, got {value!r}; "
                "the state never deletes a key: write a tombstone leaf instead"
            )
        items.append((key.hex(), value))
    items.sort()
    keys = [k for k, _ in items]
    vals = [v for _, v in items]
    ref = _update(store, node, 0, keys, vals, 0, len(keys), cache)
    if len(ref) == 33 and ref[0] == _HASH_REF_PREFIX:
        return ref[1:]
    root_hash = keccak(ref)  # a short root is still stored under its hash
    store[root_hash] = ref
    return root_hash


# --------------------------------------------------------------------------- reads and proofs


def get(store: NodeStore, root: bytes, key: bytes, cache: _Cache | None = None) -> bytes:
    """Return the value stored under ``key`` in the trie at ``root``, or ``b""`` if absent.

    ``cache`` (optional) keeps decoded hashed nodes by hash between calls: nodes are
    content-addressed, so entries never go stale, and the upper levels of the trie are then
    decoded once instead of on every read. Raise ``MissingTrieNode`` if a node on the key's
    path is missing from ``store``.
    """
    _check_key(key)
    path = key.hex()
    node = _load_root(store, root, cache)
    depth = 0
    while node is not None:
        kind, node_path, payload = node
        if kind == _BRANCH:
            assert isinstance(payload, list)
            if depth == _NIBBLES:
                return _string_payload(payload[16])
            node = _load(store, payload[_HEX_VALUE[path[depth]]], cache)
            depth += 1
            continue
        assert isinstance(payload, bytes)
        if kind == _LEAF:
            return payload if path[depth:] == node_path else b""
        if not path.startswith(node_path, depth):
            return b""
        depth += len(node_path)
        node = _load(store, payload, cache)
    return b""


def get_proof(store: NodeStore, root: bytes, key: bytes) -> list[bytes]:
    """Return the Merkle proof of ``key``'s value or absence in the trie at ``root``.

    The proof is the list of RLP-encoded nodes on the path from the root to the key's leaf (or
    to the node proving absence), root first. Embedded (< 32-byte) nodes are left out because
    they travel inside their parent; the root node is always included. The empty trie's proof
    is ``[]``. This is the format the on-chain verifier consumes; check it with
    ``verify_proof``.
    """
    _check_key(key)
    path = key.hex()
    if len(root) != 32:
        raise ValueError(f"a state root is 32 bytes, got {len(root)}: 0x{root.hex()}")
    if root == EMPTY_ROOT:
        return []
    encoded = _fetch(store, root)
    proof = [encoded]
    node: _Node | None = _decode_stored(encoded, root)
    depth = 0
    while node is not None:
        kind, node_path, payload = node
        if kind == _BRANCH:
            assert isinstance(payload, list)
            if depth == _NIBBLES:
                break
            ref = payload[_HEX_VALUE[path[depth]]]
            depth += 1
        else:
            assert isinstance(payload, bytes)
            if kind == _LEAF or not path.startswith(node_path, depth):
                break
            ref = payload
            depth += len(node_path)
        if len(ref) == 33 and ref[0] == _HASH_REF_PREFIX:
            encoded = _fetch(store, ref[1:])
            proof.append(encoded)
            node = _decode_stored(encoded, ref[1:])
        elif ref == _EMPTY_REF:
            node = None
        else:
            node = _decode_stored(ref, None)
    return proof


def verify_proof(root: bytes, key: bytes, proof: Sequence[bytes]) -> bytes:
    """Check ``proof`` against ``root`` and return ``key``'s value, or ``b""`` if proven absent.

    Raise ``BadProof`` if a node does not hash to the reference its parent holds, does not
    decode, the proof stops before it proves anything, or carries nodes it does not need.
    """
    _check_key(key)
    if len(root) != 32:
        raise ValueError(f"a state root is 32 bytes, got {len(root)}: 0x{root.hex()}")
    if root == EMPTY_ROOT:
        if proof:
            raise BadProof(f"the empty trie's proof is [], got {len(proof)} node(s)")
        return b""
    path = key.hex()
    used = 0
    ref = b"\xa0" + root
    depth = 0
    value = b""
    key_hex = f"0x{key.hex()}"
    try:
        while True:
            if ref == _EMPTY_REF:
                break
            if len(ref) == 33 and ref[0] == _HASH_REF_PREFIX:
                if used >= len(proof):
                    raise BadProof(
                        f"proof for key {key_hex} ends after {used} nodes but the path needs "
                        f"node 0x{ref[1:].hex()}"
                    )
                encoded = proof[used]
                if keccak(encoded) != ref[1:]:
                    raise BadProof(
                        f"proof node {used} for key {key_hex} hashes to "
                        f"0x{keccak(encoded).hex()}, its parent expects 0x{ref[1:].hex()}"
                    )
                used += 1
            else:
                encoded = ref
            kind, node_path, payload = _decode_node(encoded)
            if kind == _BRANCH:
                assert isinstance(payload, list)
                if depth == _NIBBLES:
                    value = _string_payload(payload[16])
                    break
                ref = payload[_HEX_VALUE[path[depth]]]
                depth += 1
                continue
            assert isinstance(payload, bytes)
            if kind == _LEAF:
                if path[depth:] == node_path:
                    value = payload
                break
            if not path.startswith(node_path, depth):
                break
            depth += len(node_path)
            ref = payload
    except _Malformed as err:
        raise BadProof(f"proof node {used - 1} for key {key_hex} does not decode: {err}") from err
    if used != len(proof):
        raise BadProof(
            f"proof for key {key_hex} carries {len(proof) - used} node(s) past the end of "
            f"the path (used {used} of {len(proof)})"
        )
    return value
