"""The on-chain Merkle-Patricia trie library (contracts/lib/mpt.vy) against py-trie.

py-trie's `HexaryTrie` is the reference: for every trie and key, `get` must return what
py-trie holds and `update` must return the root py-trie computes, bit for bit.

Quick table tests run on ape's in-process chain (`mpt` fixture); random tries, deep
paths and gas figures run on anvil through web3.py (`anvil_mpt` fixture). Gas figures
are printed (`pytest -s` shows them) and held under generous ceilings.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from typing import Any

import ape
import pytest
import rlp
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie
from trie.utils.nibbles import nibbles_to_bytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError

EMPTY_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
MAX_VALUE = 672
MAX_DEPTH = 65


# --- helpers ------------------------------------------------------------------------


def proof_for(trie: HexaryTrie, key: bytes) -> list[bytes]:
    """Return `key`'s proof in the library's format.

    py-trie returns the decoded nodes on the path, embedded ones included: encode them
    again, keep the root whatever its size, drop the nodes under 32 bytes (they travel
    inside their parent).
    """
    encoded = [rlp.encode(node) for node in trie.get_proof(key)]
    return encoded[:1] + [node for node in encoded[1:] if len(node) >= 32]


def key(hex_prefix: str, fill: str = "0") -> bytes:
    """Return the 32-byte key whose nibbles start with `hex_prefix`, padded with `fill`."""
    return bytes.fromhex(hex_prefix + fill * (64 - len(hex_prefix)))


def nibbles(k: bytes) -> list[int]:
    """Return the nibbles of a key."""
    return [half for byte in k for half in (byte >> 4, byte & 15)]


def trie_of(items: dict[bytes, bytes] | Sequence[tuple[bytes, bytes]]) -> HexaryTrie:
    """Build an in-memory py-trie holding `items`."""
    trie = HexaryTrie({})
    with trie.squash_changes() as batch:
        for k, v in dict(items).items():
            batch[k] = v
    return trie


def deep_trie(target: bytes, depth: int, value: bytes, key_len: int = 32) -> HexaryTrie:
    """Build a trie in which `target`'s path crosses `depth` branches, one per nibble.

    For each d < depth a key shares exactly d nibbles with `target` (then differs), so
    the branches nest; long values keep every node 32 bytes or more, hence hashed.
    `key_len` > 32 makes the other keys longer than `target` (a malformed trie for the
    library, whose keys are 32 bytes).
    """
    rng = random.Random(depth)
    t_nibs = nibbles(target) + [0] * (2 * key_len - 64)
    trie = HexaryTrie({})
    for d in range(depth):
        nibs = (
            t_nibs[:d]
            + [(t_nibs[d] + 1) % 16]
            + [rng.randrange(16) for _ in range(2 * key_len - d - 1)]
        )
        trie[nibbles_to_bytes(nibs)] = value
    return trie


def random_existing_key(trie: HexaryTrie, rng: random.Random) -> bytes:
    """Return a key present in `trie`, reached by a random walk from the root."""
    prefix: tuple[int, ...] = ()
    node = trie.traverse(prefix)
    while node.sub_segments:
        prefix += tuple(node.sub_segments[rng.randrange(len(node.sub_segments))])
        node = trie.traverse(prefix)
    return nibbles_to_bytes(prefix + tuple(node.suffix))


def reverts_with(call: Any, reason: str | None) -> None:
    """Check that a web3 call reverts, with `reason` (or with no reason if None)."""
    with pytest.raises(ContractLogicError) as info:
        call.call()
    if reason is None:
        assert info.value.message in ("execution reverted", "execution reverted: "), (
            info.value.message
        )
    else:
        assert info.value.message == f"execution reverted: {reason}"


def intrinsic_gas(data: bytes) -> tuple[int, int]:
    """Return the standard intrinsic gas of a call with `data`, and its EIP-7623 floor."""
    zeros = data.count(0)
    nonzeros = len(data) - zeros
    return 21_000 + 4 * zeros + 16 * nonzeros, 21_000 + 10 * (zeros + 4 * nonzeros)


def measure(w3: Web3, call: Any) -> dict[str, int]:
    """Send a call as a transaction on anvil and return its gas figures.

    `gas` is what L1 charges (Osaka: the larger of calldata + execution and the
    calldata floor); `execution` is gas beyond the standard intrinsic cost.
    """
    tx_hash = call.transact({"from": w3.eth.accounts[0], "gas": 16_000_000})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    data = bytes(w3.eth.get_transaction(tx_hash)["input"])
    standard, floor = intrinsic_gas(data)
    return {
        "gas": receipt["gasUsed"],
        "execution": receipt["gasUsed"] - standard,
        "floor": floor,
        "calldata_bytes": len(data),
    }


def check_key(mpt: Contract, trie: HexaryTrie, k: bytes, new_value: bytes) -> None:
    """Check get and update for one key against py-trie (web3 contract), without changing `trie`."""
    root = trie.root_hash
    proof = proof_for(trie, k)
    assert mpt.functions.get(root, k, proof).call() == trie.get(k)
    assert mpt.functions.update(root, k, new_value, proof).call() == root_after(trie, k, new_value)


def root_after(trie: HexaryTrie, k: bytes, new_value: bytes) -> bytes:
    """Return py-trie's root after setting `k`, leaving `trie` unchanged."""
    with trie.at_root(trie.root_hash) as snapshot:
        copy = HexaryTrie(snapshot.db, snapshot.root_hash)
        copy[k] = new_value
        return copy.root_hash


# --- the harness agrees with the library's stated limits ------------------------------


def test_the_harness_reports_the_limits_these_tests_assume(mpt: Any) -> None:
    assert (mpt.MAX_VALUE(), mpt.MAX_DEPTH()) == (MAX_VALUE, MAX_DEPTH)
    assert mpt.MAX_NODE() >= MAX_VALUE + 40


# --- the empty trie -----------------------------------------------------------------


@pytest.mark.parametrize("proof", [[], [b"\x80"]], ids=["no nodes", "the empty string node"])
def test_the_empty_trie_proves_every_key_absent(mpt: Any, proof: list[bytes]) -> None:
    assert mpt.get(EMPTY_ROOT, key("ab"), proof) == b""


@pytest.mark.parametrize("proof", [[], [b"\x80"]], ids=["no nodes", "the empty string node"])
def test_inserting_into_the_empty_trie_gives_py_tries_root(mpt: Any, proof: list[bytes]) -> None:
    k, v = key("12", "f"), b"first value"
    assert mpt.update(EMPTY_ROOT, k, v, proof) == trie_of({k: v}).root_hash
    assert HexaryTrie({}).root_hash == EMPTY_ROOT


# --- table: every shape of get and update -------------------------------------------

V = b"v" * 40  # long enough that leaves are hashed, not embedded

# (id, trie items, key, new value)
SHAPES: list[tuple[str, dict[bytes, bytes], bytes, bytes]] = [
    ("replacing the value of the only key", {key("12"): V}, key("12"), b"new"),
    (
        "replacing a value deep in the trie",
        {key("12"): V, key("13"): V, key("2"): V},
        key("13"),
        b"w" * 50,
    ),
    (
        "inserting a key that diverges from a single leaf at the first nibble",
        {key("12"): V},
        key("9"),
        V,
    ),
    (
        "inserting a key that shares ten nibbles with a leaf",
        {key("0123456789a"): V},
        key("0123456789b"),
        V,
    ),
    ("inserting a key into an empty branch slot", {key("1"): V, key("2"): V}, key("7"), V),
    (
        "splitting an extension at its first nibble",
        {key("12345a"): V, key("12345b"): V},
        key("9"),
        V,
    ),
    ("splitting an extension in its middle", {key("12345a"): V, key("12345b"): V}, key("1239"), V),
    (
        "splitting an extension at its last nibble",
        {key("12345a"): V, key("12345b"): V},
        key("12349"),
        V,
    ),
    (
        "splitting a one-nibble extension",
        {key("1ca"): V, key("1cb"): V, key("2"): V},
        key("19"),
        V,
    ),
    (
        "inserting into an embedded branch of keys sharing 63 nibbles",
        {key("", "a")[:-1] + b"\xa1": b"\x01", key("", "a")[:-1] + b"\xa2": b"\x02"},
        key("", "a")[:-1] + b"\xa3",
        b"\x03",
    ),
    (
        "splitting an extension above an embedded branch",
        {key("", "a")[:-1] + b"\x11": b"\x01", key("", "a")[:-1] + b"\x12": b"\x02"},
        key("", "a")[:-1] + b"\x21",
        b"\x03",
    ),
    (
        "splitting an embedded one-nibble leaf",
        {key("", "a")[:-1] + b"\x11": b"\x01", key("", "a")[:-1] + b"\x22": b"\x02"},
        key("", "a")[:-1] + b"\x15",
        b"\x03",
    ),
    (
        "replacing a short value so that the leaf stops being embedded",
        {key("", "a")[:-1] + b"\x01": b"x", key("", "a"): b"y"},
        key("", "a"),
        V,
    ),
    (
        "replacing a long value so that the leaf becomes embedded",
        {key("", "a")[:-1] + b"\x01": b"x", key("", "a"): V},
        key("", "a"),
        b"y",
    ),
    ("writing a one-byte value below 0x80", {key("1"): V}, key("2"), b"\x05"),
    ("writing the one-byte value 0x80", {key("1"): V}, key("2"), b"\x80"),
    ("writing a zero byte", {key("1"): V}, key("2"), b"\x00"),
    ("writing a 55-byte value (longest short string)", {key("1"): V}, key("2"), b"s" * 55),
    ("writing a 56-byte value (shortest long string)", {key("1"): V}, key("2"), b"s" * 56),
    ("writing a value of MAX_VALUE bytes", {key("1"): V}, key("2"), b"m" * MAX_VALUE),
    ("writing a key of all zero bytes", {key("1"): V}, key(""), V),
    ("writing a key of all 0xff bytes", {key("1"): V}, key("", "f"), V),
]


@pytest.mark.parametrize(
    ("items", "k", "new_value"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES]
)
def test_get_and_update_agree_with_py_trie(
    mpt: Any, items: dict[bytes, bytes], k: bytes, new_value: bytes
) -> None:
    trie = trie_of(items)
    proof = proof_for(trie, k)
    assert mpt.get(trie.root_hash, k, proof) == trie.get(k)
    expected = root_after(trie, k, new_value)
    assert mpt.update(trie.root_hash, k, new_value, proof) == expected
    # And the new value reads back from the new root.
    trie[k] = new_value
    assert trie.root_hash == expected
    assert mpt.get(expected, k, proof_for(trie, k)) == new_value


def test_get_proves_a_key_absent_behind_a_leaf_for_another_key(mpt: Any) -> None:
    trie = trie_of({key("12"): V, key("34"): V})
    assert mpt.get(trie.root_hash, key("1f"), proof_for(trie, key("1f"))) == b""


def test_get_proves_a_key_absent_behind_an_extension_that_leaves_its_path(mpt: Any) -> None:
    trie = trie_of({key("12345a"): V, key("12345b"): V})
    assert mpt.get(trie.root_hash, key("129"), proof_for(trie, key("129"))) == b""


def test_update_many_applies_updates_in_turn(mpt: Any) -> None:
    rng = random.Random(6)
    trie = trie_of({rng.randbytes(32): rng.randbytes(40) for _ in range(30)})
    root = trie.root_hash
    keys = [random_existing_key(trie, rng), rng.randbytes(32), key("", "a")]
    keys.append(keys[1])  # the same key twice
    values = [b"a" * 40, b"b", b"c" * 70, b"d" * 33]
    counts, nodes = [], []
    for k, v in zip(keys, values, strict=True):
        proof = proof_for(trie, k)
        counts.append(len(proof))
        nodes += proof
        trie[k] = v
    assert mpt.update_many(root, keys, values, counts, nodes) == trie.root_hash


# --- adversarial proofs --------------------------------------------------------------


@functools.cache
def _thousand() -> tuple[dict[bytes, bytes], bytes, list[bytes]]:
    rng = random.Random(1000)
    trie = trie_of(
        {rng.randbytes(32): rng.randbytes(rng.choice([3, 40, 100])) for _ in range(1000)}
    )
    return trie.db, trie.root_hash, [random_existing_key(trie, rng) for _ in range(4)]


@pytest.fixture
def thousand() -> tuple[HexaryTrie, list[bytes]]:
    """A 1,000-key trie (a fresh copy, built once) and a few of its keys.

    Plain caching, not a module-scoped fixture: ape's chain isolation warns about
    (and rebases for) wider-scoped fixtures that first run after function-scoped ones.
    """
    db, root, keys = _thousand()
    return HexaryTrie(dict(db), root), keys


@pytest.mark.parametrize("fn", ["get", "update"])
def test_a_proof_with_a_tampered_node_reverts_with_bad_node_hash(
    mpt: Any, thousand: Any, fn: str
) -> None:
    trie, keys = thousand
    proof = proof_for(trie, keys[0])
    assert len(proof) >= 3
    proof[2] = proof[2][:-1] + bytes([proof[2][-1] ^ 1])
    with ape.reverts("mpt: bad node hash"):
        call(mpt, fn, trie.root_hash, keys[0], proof)


@pytest.mark.parametrize("fn", ["get", "update"])
def test_a_proof_against_another_root_reverts_with_bad_node_hash(
    mpt: Any, thousand: Any, fn: str
) -> None:
    trie, keys = thousand
    with ape.reverts("mpt: bad node hash"):
        call(mpt, fn, keccak(b"another root"), keys[0], proof_for(trie, keys[0]))


@pytest.mark.parametrize("fn", ["get", "update"])
def test_a_proof_for_another_key_reverts_with_bad_node_hash(
    mpt: Any, thousand: Any, fn: str
) -> None:
    trie, _ = thousand
    # Two present keys whose paths part at the root: the other key's second node does
    # not hash to this key's child reference.
    mine, other = key("3", "a"), key("c", "a")
    trie[mine] = trie[other] = V
    with ape.reverts("mpt: bad node hash"):
        call(mpt, fn, trie.root_hash, mine, proof_for(trie, other))


@pytest.mark.parametrize("fn", ["get", "update"])
def test_a_truncated_proof_reverts(mpt: Any, thousand: Any, fn: str) -> None:
    trie, keys = thousand
    with ape.reverts("mpt: truncated proof"):
        call(mpt, fn, trie.root_hash, keys[1], proof_for(trie, keys[1])[:-1])


@pytest.mark.parametrize("fn", ["get", "update"])
def test_an_empty_proof_for_a_non_empty_trie_reverts(mpt: Any, thousand: Any, fn: str) -> None:
    trie, keys = thousand
    with ape.reverts("mpt: truncated proof"):
        call(mpt, fn, trie.root_hash, keys[1], [])


@pytest.mark.parametrize("fn", ["get", "update"])
def test_a_proof_with_an_extra_node_reverts(mpt: Any, thousand: Any, fn: str) -> None:
    trie, keys = thousand
    proof = proof_for(trie, keys[2])
    with ape.reverts("mpt: extra proof nodes"):
        call(mpt, fn, trie.root_hash, keys[2], [*proof, proof[-1]])


@pytest.mark.parametrize(
    ("proof", "reason"),
    [([b"\x81\x80"], "mpt: bad node hash"), ([b"\x80", b"\x80"], "mpt: extra proof nodes")],
    ids=["a node other than the empty string", "two nodes"],
)
@pytest.mark.parametrize("fn", ["get", "update"])
def test_a_bad_proof_for_the_empty_trie_reverts(
    mpt: Any, fn: str, proof: list[bytes], reason: str
) -> None:
    with ape.reverts(reason):
        call(mpt, fn, EMPTY_ROOT, key("1"), proof)


def test_update_with_an_empty_value_reverts(mpt: Any) -> None:
    with ape.reverts("mpt: empty value"):
        mpt.update(EMPTY_ROOT, key("1"), b"", [])


def test_a_value_longer_than_max_value_reverts_on_get(mpt: Any) -> None:
    # A leaf one level down holds a 63-nibble path (33-byte item), so a value of
    # MAX_VALUE + 1 bytes still fits in a node of MAX_NODE bytes.
    trie = trie_of({key("1"): b"a" * (MAX_VALUE + 1), key("2"): V})
    proof = proof_for(trie, key("1"))
    assert max(map(len, proof)) <= mpt.MAX_NODE()
    with ape.reverts("mpt: value too long"):
        mpt.get(trie.root_hash, key("1"), proof)


def _leaf(path_hex_prefix: bytes, value: bytes) -> bytes:
    return rlp.encode([path_hex_prefix, value])


# (id, node, reason): each node is the root of a one-node "trie", looked up at key 00..00
MALFORMED: list[tuple[str, bytes, str]] = [
    ("an RLP string instead of a list", rlp.encode(b"x" * 40), "mpt: bad node"),
    ("a list of three items", rlp.encode([b"h" * 32, b"", b""]), "mpt: bad node"),
    ("a list of one item", rlp.encode([b"\x20" + bytes(32)]), "mpt: bad node"),
    ("a branch with a value", rlp.encode([b""] * 16 + [b"v"]), "mpt: bad node"),
    ("a branch with a 20-byte child", rlp.encode([b"\x01" * 20] + [b""] * 16), "mpt: bad child"),
    ("a branch of 18 items", rlp.encode([b""] * 18), "mpt: bad node"),
    ("bytes after the node", _leaf(b"\x20" + bytes(32), V) + b"\x00", "mpt: bad node"),
    ("a list header longer than the node", b"\xf8\x40" + b"\x80" * 40, "rlp: out of bounds"),
    (
        "a long-form length that fits the short form",
        b"\xf8\x03\x20\x81\x01" + bytes(40),
        "rlp: non-canonical length",
    ),
    ("a length with a leading zero byte", b"\xf9\x00\x40" + bytes(64), "rlp: non-canonical length"),
    ("a length of three bytes", b"\xfa\x00\x00\x40" + bytes(64), "rlp: too long"),
    (
        "a one-byte value below 0x80 with a header",
        b"\xe4" + rlp.encode(b"\x20" + bytes(32)) + b"\x81\x05",
        "rlp: non-canonical byte",
    ),
    ("a hex-prefix flag above 3", _leaf(b"\x40" + bytes(32), V), "mpt: bad path"),
    (
        "an even hex prefix with a non-zero pad nibble",
        _leaf(b"\x25" + bytes(32), V),
        "mpt: bad path",
    ),
    ("an empty path", rlp.encode([b"", V]), "mpt: bad path"),
    ("a list as the path", rlp.encode([[b"\x20"], V]), "mpt: bad path"),
    ("a leaf whose path is shorter than the key", _leaf(b"\x20" + bytes(10), V), "mpt: bad path"),
    ("a leaf with an empty value", _leaf(b"\x20" + bytes(32), b""), "mpt: bad value"),
    (
        "a leaf with a list as its value",
        rlp.encode([b"\x20" + bytes(32), [b"x"]]),
        "mpt: bad value",
    ),
    (
        "an extension to a 31-byte string",
        rlp.encode([b"\x00" + bytes(1), b"x" * 31]),
        "mpt: bad child",
    ),
    ("an extension to nothing", rlp.encode([b"\x00" + bytes(1), b""]), "mpt: bad child"),
    (
        "an extension through all 64 nibbles",
        rlp.encode([b"\x00" + bytes(32), b"h" * 32]),
        "mpt: proof too deep",
    ),
    ("an extension with an empty path", rlp.encode([b"\x00", b"h" * 32]), "mpt: bad path"),
]


@pytest.mark.parametrize(
    ("node", "reason"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_node_reverts_with_its_reason(mpt: Any, node: bytes, reason: str) -> None:
    with ape.reverts(reason):
        mpt.get(keccak(node), key(""), [node])


def call(mpt: Any, fn: str, root: bytes, k: bytes, proof: list[bytes]) -> Any:
    """Call get or update (with a fixed new value) on the ape harness."""
    if fn == "get":
        return mpt.get(root, k, proof)
    return mpt.update(root, k, V, proof)


# --- anvil: deep paths ----------------------------------------------------------------


TARGET = bytes.fromhex("5a" * 32)


@functools.cache
def _deepest() -> tuple[dict[bytes, bytes], bytes]:
    trie = deep_trie(TARGET, 64, b"d" * 40)
    trie[TARGET] = b"t" * 40
    return trie.db, trie.root_hash


@pytest.fixture
def deepest() -> HexaryTrie:
    """A trie where TARGET's path crosses 64 nested branches, every node hashed (a copy)."""
    db, root = _deepest()
    return HexaryTrie(dict(db), root)


def test_a_path_of_64_nested_branches_is_provable_and_updatable(
    anvil_mpt: Contract, deepest: HexaryTrie
) -> None:
    proof = proof_for(deepest, TARGET)
    assert len(proof) == MAX_DEPTH
    check_key(anvil_mpt, deepest, TARGET, b"u" * 40)
    # Inserting the key again after removing it fills the deepest branch's empty slot.
    del deepest[TARGET]
    assert len(proof_for(deepest, TARGET)) == MAX_DEPTH - 1
    check_key(anvil_mpt, deepest, TARGET, b"u" * 40)


def test_gas_of_a_path_of_64_nested_branches(
    anvil_w3: Web3, anvil_mpt: Contract, deepest: HexaryTrie
) -> None:
    proof = proof_for(deepest, TARGET)
    fns = anvil_mpt.functions
    get = measure(anvil_w3, fns.get(deepest.root_hash, TARGET, proof))
    update = measure(anvil_w3, fns.update(deepest.root_hash, TARGET, b"u" * 40, proof))
    print(f"\ngas: 64 nested branches ({len(proof)} nodes): get {get}, update {update}")
    assert update["gas"] < 1_500_000


def test_a_path_deeper_than_a_32_byte_key_reverts_with_proof_too_deep(anvil_mpt: Contract) -> None:
    # Keys of 34 bytes extending TARGET: TARGET's path reaches a branch at its 64th
    # nibble, where no 32-byte key can go on.
    trie = deep_trie(TARGET, 66, b"d" * 40, key_len=34)
    proof = proof_for(trie, TARGET)
    assert len(proof) == MAX_DEPTH
    reverts_with(anvil_mpt.functions.get(trie.root_hash, TARGET, proof), "mpt: proof too deep")
    reverts_with(
        anvil_mpt.functions.update(trie.root_hash, TARGET, V, proof), "mpt: proof too deep"
    )


def test_a_proof_of_more_than_max_depth_nodes_fails_abi_decoding_without_a_reason(
    anvil_mpt: Contract, deepest: HexaryTrie
) -> None:
    proof = proof_for(deepest, TARGET)
    reverts_with(anvil_mpt.functions.get(deepest.root_hash, TARGET, [*proof, proof[-1]]), None)


# --- anvil: random tries ---------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 16, 17, 100, 1_000, 10_000])
def test_every_sampled_key_of_a_random_trie_is_provable_and_updatable(
    anvil_mpt: Contract, size: int
) -> None:
    rng = random.Random(size)
    trie = trie_of(
        {rng.randbytes(32): rng.randbytes(rng.choice([1, 5, 33, 80])) for _ in range(size)}
    )
    present = [random_existing_key(trie, rng) for _ in range(min(size, 12))]
    absent = [rng.randbytes(32) for _ in range(12)]
    for k in present + absent:
        check_key(anvil_mpt, trie, k, rng.randbytes(rng.choice([1, 20, 60])))


def test_sequential_inserts_from_the_empty_trie_track_py_trie(anvil_mpt: Contract) -> None:
    rng = random.Random(300)
    trie = HexaryTrie({})
    fns = anvil_mpt.functions
    inserted: list[bytes] = []
    for i in range(300):
        k = rng.randbytes(32)
        if inserted and i % 3 == 2:
            # Share 1 to 31 bytes with an earlier key.
            k = rng.choice(inserted)[: rng.randrange(1, 32)] + k
            k = k[:32]
        inserted.append(k)
        v = rng.randbytes(rng.choice([1, 2, 40]))
        proof = proof_for(trie, k)
        assert fns.get(trie.root_hash, k, proof).call() == trie.get(k)
        new_root = fns.update(trie.root_hash, k, v, proof).call()
        trie[k] = v
        assert new_root == trie.root_hash, f"insert {i}"


def test_update_many_applies_six_updates_in_one_call_on_a_10000_key_trie(
    anvil_w3: Web3, anvil_mpt: Contract
) -> None:
    rng = random.Random(10_000)
    trie = trie_of({rng.randbytes(32): rng.randbytes(80) for _ in range(10_000)})
    root = trie.root_hash
    keys = [random_existing_key(trie, rng) if i % 2 else rng.randbytes(32) for i in range(6)]
    values = [rng.randbytes(80) for _ in keys]
    counts, nodes = [], []
    for k, v in zip(keys, values, strict=True):
        proof = proof_for(trie, k)
        counts.append(len(proof))
        nodes += proof
        trie[k] = v
    call_ = anvil_mpt.functions.update_many(root, keys, values, counts, nodes)
    assert call_.call() == trie.root_hash
    print(f"\ngas: 6 updates at 10,000 keys ({len(nodes)} nodes): {measure(anvil_w3, call_)}")


# --- anvil: property test against py-trie ----------------------------------------------


@st.composite
def operations(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    """Draw a sequence of (key, value) writes that exercises every trie shape.

    Keys share prefixes of chosen lengths with earlier keys (long ones make deep and
    embedded nodes), some repeat (replacements), values are often short (embedded
    leaves) and sometimes as long as MAX_VALUE.
    """
    base = draw(st.binary(min_size=32, max_size=32))
    keys: list[bytes] = []
    ops: list[tuple[bytes, bytes]] = []
    for _ in range(draw(st.integers(1, 24))):
        if keys and draw(st.integers(0, 5)) == 0:
            k = draw(st.sampled_from(keys))
        else:
            anchor = draw(st.sampled_from(keys)) if keys and draw(st.booleans()) else base
            shared = draw(st.sampled_from([0, 1, 2, 5, 16, 40, 60, 61, 62, 63]))
            alphabet = draw(st.sampled_from([2, 16]))
            tail = draw(
                st.lists(st.integers(0, alphabet - 1), min_size=64 - shared, max_size=64 - shared)
            )
            k = nibbles_to_bytes(nibbles(anchor)[:shared] + tail)
            keys.append(k)
        size = draw(st.sampled_from([1, 1, 2, 3, 10, 30, 60, 200, MAX_VALUE]))
        ops.append((k, draw(st.binary(min_size=size, max_size=size))))
    return ops


# Each example replays up to 24 writes on anvil: a quarter of the active profile's
# examples (tests/conftest.py picks the profile, seeding and deadlines).
_PROPERTY_EXAMPLES = max(5, settings.default.max_examples // 4)


@settings(max_examples=_PROPERTY_EXAMPLES)
@given(ops=operations())
def test_get_and_update_agree_with_py_trie_on_random_write_sequences(
    anvil_mpt: Contract, ops: list[tuple[bytes, bytes]]
) -> None:
    trie = HexaryTrie({})
    fns = anvil_mpt.functions
    for k, v in ops:
        proof = proof_for(trie, k)
        assert fns.get(trie.root_hash, k, proof).call() == trie.get(k)
        new_root = fns.update(trie.root_hash, k, v, proof).call()
        trie[k] = v
        assert new_root == trie.root_hash
    probe = nibbles_to_bytes(nibbles(ops[0][0])[:60] + [15, 14, 13, 12])
    assert fns.get(trie.root_hash, probe, proof_for(trie, probe)).call() == trie.get(probe)


# --- anvil: gas at 100,000 keys ---------------------------------------------------------


@pytest.mark.slow
def test_gas_of_get_and_update_at_100000_keys(anvil_w3: Web3, anvil_mpt: Contract) -> None:
    rng = random.Random(100_000)
    trie = trie_of({rng.randbytes(32): rng.randbytes(80) for _ in range(100_000)})
    root = trie.root_hash
    fns = anvil_mpt.functions
    present = random_existing_key(trie, rng)
    absent = rng.randbytes(32)

    figures: dict[str, dict[str, int]] = {}
    proof = proof_for(trie, present)
    assert fns.get(root, present, proof).call() == trie.get(present)
    figures[f"get ({len(proof)} nodes)"] = measure(anvil_w3, fns.get(root, present, proof))
    assert fns.update(root, present, b"n" * 80, proof).call() == root_after(
        trie, present, b"n" * 80
    )
    figures[f"update ({len(proof)} nodes)"] = measure(
        anvil_w3, fns.update(root, present, b"n" * 80, proof)
    )
    proof = proof_for(trie, absent)
    assert fns.update(root, absent, b"n" * 80, proof).call() == root_after(trie, absent, b"n" * 80)
    figures[f"insert ({len(proof)} nodes)"] = measure(
        anvil_w3, fns.update(root, absent, b"n" * 80, proof)
    )

    keys = [random_existing_key(trie, rng) if i % 2 else rng.randbytes(32) for i in range(6)]
    values = [rng.randbytes(80) for _ in keys]
    counts, nodes = [], []
    for k, v in zip(keys, values, strict=True):
        proof = proof_for(trie, k)
        counts.append(len(proof))
        nodes += proof
        trie[k] = v
    many = fns.update_many(root, keys, values, counts, nodes)
    assert many.call() == trie.root_hash
    figures[f"6 updates in one call ({len(nodes)} nodes)"] = measure(anvil_w3, many)

    print("\ngas at 100,000 keys:")
    for name, figure in figures.items():
        print(f"  {name}: {figure}")
    assert figures[next(iter(figures))]["gas"] < 200_000
    assert figures[next(reversed(figures))]["gas"] < 1_200_000
