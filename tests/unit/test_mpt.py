"""Check the batch trie updater, reads and proofs against py-trie's HexaryTrie."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import pytest
import rlp
from hypothesis import given
from hypothesis import strategies as st
from trie import HexaryTrie

from optirollup.state.mpt import EMPTY_ROOT, bulk_update, get, get_proof, keccak, verify_proof
from optirollup.state.store import (
    BadProof,
    CorruptTrieNode,
    LayeredStore,
    MemoryStore,
    MissingTrieNode,
    NodeStore,
)

# --------------------------------------------------------------------------- helpers


def reference_roots(batches: Sequence[Mapping[bytes, bytes]]) -> tuple[list[bytes], HexaryTrie]:
    """Apply each batch with HexaryTrie and return the root after each one, and the trie."""
    trie = HexaryTrie({})
    roots = []
    for batch in batches:
        with trie.squash_changes() as memory_trie:
            for key, value in batch.items():
                memory_trie[key] = value
        roots.append(trie.root_hash)
    return roots, trie


def reachable_nodes(store: NodeStore, root: bytes) -> set[bytes]:
    """Return the hashes of every stored node reachable from ``root`` (asserting each exists)."""
    if root == EMPTY_ROOT:
        return set()
    seen: set[bytes] = set()
    todo: list[object] = [root]
    while todo:
        ref = todo.pop()
        if isinstance(ref, bytes):
            if ref == b"" or ref in seen:
                continue
            assert len(ref) == 32, f"child reference of {len(ref)} bytes"
            assert ref in store, f"node 0x{ref.hex()} reachable from the root is not stored"
            encoded = store[ref]
            assert keccak(encoded) == ref
            seen.add(ref)
            node = rlp.decode(encoded)
        else:
            node = ref
            assert len(rlp.encode(node)) < 32, "an embedded node must be shorter than 32 bytes"
        assert isinstance(node, list)
        if len(node) == 17:
            todo.extend(node[:16])
        elif node[0][0] >> 4 in (0, 1):  # extension: hex-prefix flag without the leaf bit
            todo.append(node[1])
    return seen


def run_batches(batches: Sequence[Mapping[bytes, bytes]]) -> None:
    """Apply ``batches`` with bulk_update and HexaryTrie; compare roots, nodes, reads, writes."""
    expected_roots, trie = reference_roots(batches)
    store = MemoryStore()
    root = EMPTY_ROOT
    for batch, expected in zip(batches, expected_roots, strict=True):
        layer = LayeredStore(store)
        root = bulk_update(layer, root, batch)
        assert root == expected
        reachable = reachable_nodes(layer, root)
        written = set(layer.pending)
        assert written <= reachable, "bulk_update wrote nodes the new root does not reach"
        for node_hash in written:
            assert trie.db[node_hash] == layer.pending[node_hash]
        store.update(layer.pending)
        layer.discard()
    model: dict[bytes, bytes] = {}
    for batch in batches:
        model.update(batch)
    for key, value in model.items():
        assert get(store, root, key) == value


def random_key(rng: random.Random, prefix: str = "") -> bytes:
    """Return a random 32-byte key whose hex starts with the nibbles ``prefix``."""
    return bytes.fromhex(prefix + rng.randbytes(32).hex()[len(prefix) :])


# --------------------------------------------------------------------------- strategies

values = st.one_of(st.binary(min_size=1, max_size=3), st.binary(min_size=4, max_size=80))


@st.composite
def clustered_keys(draw: st.DrawFn, max_keys: int) -> list[bytes]:
    """Draw keys in up to three clusters, each sharing a prefix of 0..63 nibbles."""
    keys: list[bytes] = []
    for _ in range(draw(st.integers(1, 3))):
        shared = draw(st.sampled_from([0, 1, 2, 3, 7, 40, 61, 62, 63]))
        prefix = draw(st.binary(min_size=32, max_size=32)).hex()[:shared]
        tails = draw(st.lists(st.binary(min_size=32, max_size=32), max_size=max_keys))
        keys.extend(bytes.fromhex(prefix + tail.hex()[shared:]) for tail in tails)
    return keys


@st.composite
def batch_sequences(draw: st.DrawFn) -> list[dict[bytes, bytes]]:
    """Draw 1..4 successive batches mixing fresh keys, new values and unchanged values."""
    batches: list[dict[bytes, bytes]] = []
    model: dict[bytes, bytes] = {}
    for _ in range(draw(st.integers(1, 4))):
        batch = {key: draw(values) for key in draw(clustered_keys(max_keys=25))}
        if model:
            old = sorted(model)
            for key in draw(st.lists(st.sampled_from(old), max_size=10, unique=True)):
                batch[key] = model[key] if draw(st.booleans()) else draw(values)
        if not batch:
            batch = {draw(st.binary(min_size=32, max_size=32)): draw(values)}
        model.update(batch)
        batches.append(batch)
    return batches


# --------------------------------------------------------------------------- bulk_update


def test_the_empty_root_is_the_hash_of_the_rlp_empty_string() -> None:
    assert keccak(rlp.encode(b"")) == EMPTY_ROOT
    assert EMPTY_ROOT.hex().startswith("56e81f") and EMPTY_ROOT.hex().endswith("b421")
    assert HexaryTrie({}).root_hash == EMPTY_ROOT


@pytest.mark.parametrize("root", [EMPTY_ROOT, None], ids=["empty trie", "one-key trie"])
def test_an_empty_batch_returns_the_same_root_and_writes_nothing(root: bytes | None) -> None:
    store = MemoryStore()
    if root is None:
        root = bulk_update(store, EMPTY_ROOT, {b"\x01" * 32: b"v"})
    layer = LayeredStore(store)
    assert bulk_update(layer, root, {}) == root
    assert not layer.pending


def test_a_single_key_in_an_empty_trie_matches_hexary_trie() -> None:
    run_batches([{b"\xab" * 32: b"\x01"}])


@given(batches=batch_sequences())
def test_successive_random_batches_match_hexary_trie_roots_and_nodes(
    batches: list[dict[bytes, bytes]],
) -> None:
    run_batches(batches)


@given(shared=st.integers(0, 63), count=st.integers(2, 40), data=st.data())
def test_keys_sharing_a_long_prefix_with_tiny_values_match_hexary_trie(
    shared: int, count: int, data: st.DataObject
) -> None:
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    prefix = rng.randbytes(32).hex()[:shared]
    first = {random_key(rng, prefix): rng.randbytes(rng.randint(1, 3)) for _ in range(count)}
    second = {random_key(rng, prefix): rng.randbytes(1) for _ in range(count // 2)}
    second.update({key: b"\x7f" for key in list(first)[: count // 3]})
    run_batches([first, second])


@pytest.mark.parametrize("shared", [0, 1, 2, 19, 38, 39, 40, 41])
def test_a_key_diverging_inside_an_extension_splits_it_like_hexary_trie(shared: int) -> None:
    # The first batch makes a root extension of 40 nibbles over a branch; the second batch's
    # key leaves that path after `shared` nibbles, next to a replacement under the branch.
    rng = random.Random(shared)
    prefix = "5" * 40
    first = {random_key(rng, prefix + digit): b"\x01" for digit in "0123"}
    diverging = prefix[:shared] + ("6" if shared < 40 else "7")
    second = {random_key(rng, diverging): b"\x02", next(iter(first)): b"\x03"}
    run_batches([first, second])
    run_batches([first, {random_key(rng, diverging): b"\x02"}])


def test_a_few_thousand_keys_in_three_batches_match_hexary_trie() -> None:
    rng = random.Random(20261124)
    first = {rng.randbytes(32): rng.randbytes(rng.randint(1, 80)) for _ in range(2000)}
    second = {rng.randbytes(32): rng.randbytes(70) for _ in range(800)}
    second.update({key: rng.randbytes(5) for key in rng.sample(sorted(first), 300)})
    prefix = rng.randbytes(20)
    third = {prefix + rng.randbytes(12): rng.randbytes(2) for _ in range(200)}
    third.update({key: first[key] for key in rng.sample(sorted(first), 100)})
    run_batches([first, second, third])


def test_rewriting_a_key_with_the_same_value_keeps_the_root() -> None:
    rng = random.Random(1)
    batch = {rng.randbytes(32): rng.randbytes(3) for _ in range(50)}
    store = MemoryStore()
    root = bulk_update(store, EMPTY_ROOT, batch)
    assert bulk_update(store, root, dict(list(batch.items())[:10])) == root


def test_old_roots_stay_readable_after_later_batches() -> None:
    rng = random.Random(2)
    store = MemoryStore()
    roots = []
    model: dict[bytes, bytes] = {}
    snapshots = []
    root = EMPTY_ROOT
    for _ in range(4):
        batch = {rng.randbytes(32): rng.randbytes(8) for _ in range(100)}
        batch.update({key: b"new" for key in list(model)[:20]})
        model.update(batch)
        root = bulk_update(store, root, batch)
        roots.append(root)
        snapshots.append(dict(model))
    for old_root, snapshot in zip(roots, snapshots, strict=True):
        for key, value in snapshot.items():
            assert get(store, old_root, key) == value


def test_hexary_trie_reads_a_trie_written_by_bulk_update_and_vice_versa() -> None:
    rng = random.Random(3)
    store = MemoryStore()
    batch = {rng.randbytes(32): rng.randbytes(9) for _ in range(300)}
    root = bulk_update(store, EMPTY_ROOT, batch)
    trie = HexaryTrie(store, root)
    assert all(trie.get(key) == value for key, value in batch.items())
    with trie.squash_changes() as memory_trie:
        memory_trie[b"\x00" * 32] = b"zero"
    assert get(store, trie.root_hash, b"\x00" * 32) == b"zero"
    assert bulk_update(store, root, {b"\x00" * 32: b"zero"}) == trie.root_hash


@pytest.mark.parametrize(
    "value", [b"", bytearray(b"x"), "x"], ids=["empty bytes", "bytearray", "str"]
)
def test_a_value_that_is_not_non_empty_bytes_is_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="non-empty bytes"):
        bulk_update(MemoryStore(), EMPTY_ROOT, {b"\x01" * 32: value})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "key",
    [b"\x01" * 31, b"\x01" * 33, b"", "0" * 32],
    ids=["31 bytes", "33 bytes", "no bytes", "a 32-character str"],
)
def test_a_key_that_is_not_32_bytes_is_rejected(key: bytes) -> None:
    store = MemoryStore()
    with pytest.raises(ValueError, match="32-byte"):
        bulk_update(store, EMPTY_ROOT, {key: b"v"})
    with pytest.raises(ValueError, match="32-byte"):
        get(store, EMPTY_ROOT, key)
    with pytest.raises(ValueError, match="32-byte"):
        get_proof(store, EMPTY_ROOT, key)


def test_an_unknown_root_raises_missing_trie_node_naming_the_hash() -> None:
    unknown = b"\x42" * 32
    with pytest.raises(MissingTrieNode, match="0x" + unknown.hex()) as info:
        bulk_update(MemoryStore(), unknown, {b"\x01" * 32: b"v"})
    assert info.value.node_hash == unknown
    with pytest.raises(MissingTrieNode):
        get(MemoryStore(), unknown, b"\x01" * 32)
    with pytest.raises(MissingTrieNode):
        get_proof(MemoryStore(), unknown, b"\x01" * 32)


def test_a_missing_interior_node_raises_missing_trie_node_for_that_node() -> None:
    rng = random.Random(4)
    full = MemoryStore()
    batch = {rng.randbytes(32): rng.randbytes(40) for _ in range(100)}
    root = bulk_update(full, EMPTY_ROOT, batch)
    key = next(iter(batch))
    proof = get_proof(full, root, key)
    lost = keccak(proof[1])
    store = MemoryStore({h: full[h] for h in full if h != lost})
    with pytest.raises(MissingTrieNode) as info:
        bulk_update(store, root, {key: b"changed"})
    assert info.value.node_hash == lost
    with pytest.raises(MissingTrieNode):
        get(store, root, key)


def test_a_stored_node_that_does_not_decode_raises_corrupt_trie_node() -> None:
    garbage = b"\xc3\x01\x02\x03" + b"\x00" * 40
    root = keccak(garbage)
    with pytest.raises(CorruptTrieNode, match="0x" + root.hex()):
        get(MemoryStore({root: garbage}), root, b"\x01" * 32)


# --------------------------------------------------------------------------- proofs


def build(batch: Mapping[bytes, bytes]) -> tuple[MemoryStore, bytes]:
    """Return a store holding the trie of ``batch`` and its root."""
    store = MemoryStore()
    return store, bulk_update(store, EMPTY_ROOT, batch)


@given(keys=clustered_keys(max_keys=40), value=values, data=st.data())
def test_proofs_verify_to_the_value_of_present_keys_and_empty_bytes_for_absent_keys(
    keys: list[bytes], value: bytes, data: st.DataObject
) -> None:
    batch = {key: value + key[:1] for key in keys}
    store, root = build(batch)
    reference = HexaryTrie(store, root)
    absent = data.draw(st.lists(st.binary(min_size=32, max_size=32), max_size=5))
    near_misses = [key[:-1] + bytes([key[-1] ^ 1]) for key in keys[:5]]
    for key in [*batch, *absent, *near_misses]:
        expected = batch.get(key, b"")
        proof = get_proof(store, root, key)
        assert verify_proof(root, key, proof) == expected
        assert get(store, root, key) == expected
        py_trie_proof = [rlp.encode(node) for node in reference.get_proof(key)]
        assert proof == [
            node for index, node in enumerate(py_trie_proof) if index == 0 or len(node) >= 32
        ]


def test_the_empty_trie_proves_absence_with_an_empty_proof() -> None:
    assert get_proof(MemoryStore(), EMPTY_ROOT, b"\x01" * 32) == []
    assert verify_proof(EMPTY_ROOT, b"\x01" * 32, []) == b""
    with pytest.raises(BadProof):
        verify_proof(EMPTY_ROOT, b"\x01" * 32, [b"\x80"])


def test_a_proof_leaves_out_nodes_embedded_in_their_parent() -> None:
    # Two keys differing only in the last nibble, 1-byte values: the branch holding them is
    # 22 bytes long and travels inside the root extension node.
    key_a, key_b = b"\x11" * 31 + b"\x10", b"\x11" * 31 + b"\x1f"
    store, root = build({key_a: b"\x01", key_b: b"\x02"})
    proof = get_proof(store, root, key_a)
    assert len(proof) == 1 and keccak(proof[0]) == root
    assert verify_proof(root, key_a, proof) == b"\x01"
    assert verify_proof(root, key_b, proof) == b"\x02"
    assert verify_proof(root, b"\x11" * 31 + b"\x15", proof) == b""


def tampered_proofs(proof: list[bytes], other_proof: list[bytes]) -> list[tuple[str, list[bytes]]]:
    """Return named corruptions of ``proof``."""
    cases = [
        ("last node dropped", proof[:-1]),
        ("root dropped", proof[1:]),
        ("extra node appended", [*proof, proof[-1]]),
        ("another key's proof", other_proof),
        ("empty proof", []),
    ]
    for index, node in enumerate(proof):
        for offset in (0, len(node) // 2, len(node) - 1):
            flipped = bytearray(node)
            flipped[offset] ^= 0x01
            cases.append(
                (
                    f"byte {offset} of node {index} flipped",
                    [*proof[:index], bytes(flipped), *proof[index + 1 :]],
                )
            )
    return cases


def test_tampered_proofs_are_rejected() -> None:
    rng = random.Random(5)
    batch = {rng.randbytes(32): rng.randbytes(rng.randint(1, 70)) for _ in range(500)}
    store, root = build(batch)
    key, other = sorted(batch)[:2]
    proof = get_proof(store, root, key)
    assert len(proof) >= 3
    for name, bad in tampered_proofs(proof, get_proof(store, root, other)):
        with pytest.raises(BadProof):
            verify_proof(root, key, bad)
            pytest.fail(f"accepted a proof with {name}")


def test_a_proof_against_another_root_is_rejected() -> None:
    store, root = build({b"\x01" * 32: b"one", b"\x02" * 32: b"two"})
    proof = get_proof(store, root, b"\x01" * 32)
    with pytest.raises(BadProof, match="hashes to"):
        verify_proof(keccak(b"another root"), b"\x01" * 32, proof)


def test_a_proof_node_that_does_not_decode_is_rejected() -> None:
    garbage = b"\xc2\x01"
    with pytest.raises(BadProof, match="does not decode"):
        verify_proof(keccak(garbage), b"\x01" * 32, [garbage])


MALFORMED_NODES = {
    "a string instead of a list": b"\x83abc",
    "an item running past the end": b"\xc3\x85ab",
    "a list length past the end": b"\xc5\x01",
    "three items": b"\xc3\x01\x02\x03",
    "a bad hex-prefix flag": b"\xc2\x41\x01",
    "an even flag with a non-zero pad nibble": b"\xc2\x01\x01",
    "an extension with an empty path": b"\xc3\x00\xc1\x01",
    "a leaf value that is a list": b"\xc3\x20\xc1\x01",
    "a long-form list with a bad child": b"\xf8\x39" + b"\x85abcde" * 8 + b"\x80" * 8 + b"\x80",
    "a child hash of 31 bytes": b"\xe1\x10\x9f" + b"\x00" * 31,
    "an empty proof node": b"",
}


@pytest.mark.parametrize("node", MALFORMED_NODES.values(), ids=MALFORMED_NODES.keys())
def test_a_proof_node_that_is_not_a_trie_node_is_rejected(node: bytes) -> None:
    with pytest.raises(BadProof, match="does not decode"):
        verify_proof(keccak(node), b"\x01" * 32, [node])


@pytest.mark.parametrize("root", [b"", b"\x01" * 31, b"\x01" * 33], ids=["0", "31", "33"])
def test_a_root_that_is_not_32_bytes_is_rejected(root: bytes) -> None:
    for call in (
        lambda: bulk_update(MemoryStore(), root, {b"\x01" * 32: b"v"}),
        lambda: get(MemoryStore(), root, b"\x01" * 32),
        lambda: get_proof(MemoryStore(), root, b"\x01" * 32),
        lambda: verify_proof(root, b"\x01" * 32, []),
    ):
        with pytest.raises(ValueError, match="32 bytes"):
            call()
