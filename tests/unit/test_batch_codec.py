"""Check batch framing and the fixed-depth transaction commitment against a slow reference.

The reference tree below is written from the spec in ``optirollup.codec.batch``'s docstring, not
from its code: a recursive walk over the leaf range [0, 2**16) that returns a memoized
empty-subtree hash for any range lying wholly past the last transaction, so it never pads a list.
"""

from __future__ import annotations

import functools
import random

import pytest
from Crypto.Hash import keccak as _keccak
from hypothesis import given
from hypothesis import strategies as st

from optirollup.codec.batch import (
    MAX_BATCH_TXS,
    MAX_FRAMED_TX_LEN,
    TX_TREE_DEPTH,
    ZERO_HASHES,
    Batch,
    decode_tx_list,
    encode_tx_list,
    tx_proof,
    tx_root,
    verify_tx_proof,
)
from optirollup.errors import MalformedBatch

# --------------------------------------------------------------------------- reference tree


def keccak(data: bytes) -> bytes:
    """Return keccak-256 via pycryptodome (not the eth-hash wrapper the code under test uses)."""
    return _keccak.new(digest_bits=256, data=data).digest()


@functools.cache
def empty_subtree(height: int) -> bytes:
    """Return the root of a subtree of ``2**height`` zero leaves."""
    return b"\x00" * 32 if height == 0 else keccak(empty_subtree(height - 1) * 2)


def naive_node(leaves: list[bytes], first: int, height: int) -> bytes:
    """Return the root of the subtree over leaves [first, first + 2**height)."""
    if first >= len(leaves):
        return empty_subtree(height)
    if height == 0:
        return leaves[first]
    half = 2 ** (height - 1)
    return keccak(
        naive_node(leaves, first, height - 1) + naive_node(leaves, first + half, height - 1)
    )


def naive_root(txs: list[bytes]) -> bytes:
    return naive_node([keccak(tx) for tx in txs], 0, 16)


def naive_proof(txs: list[bytes], index: int) -> list[bytes]:
    """Return the sibling of each ancestor of leaf ``index``, leaf level first."""
    leaves = [keccak(tx) for tx in txs]
    return [naive_node(leaves, ((index >> h) ^ 1) << h, h) for h in range(16)]


def make_txs(n: int) -> list[bytes]:
    """Return ``n`` distinct transactions of varied lengths (1..512 bytes)."""
    return [keccak(i.to_bytes(4, "big")) * (1 + i % 16) for i in range(n)]


SIZES = [0, 1, 2, 3, 5, 17, 1000]
TX_LISTS = {n: make_txs(n) for n in SIZES}
ROOTS = {n: naive_root(txs) for n, txs in TX_LISTS.items()}

tx_bytes = st.binary(min_size=1, max_size=MAX_FRAMED_TX_LEN)
tx_lists = st.lists(st.binary(min_size=1, max_size=64) | tx_bytes, max_size=24)


# --------------------------------------------------------------------------- constants


def test_keccak_is_keccak256_not_sha3() -> None:
    assert keccak(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_zero_hashes_are_the_empty_subtree_roots_of_every_height() -> None:
    assert TX_TREE_DEPTH == 16 and MAX_BATCH_TXS == 2**16
    assert [empty_subtree(h) for h in range(TX_TREE_DEPTH + 1)] == ZERO_HASHES
    # The same values as every other keccak zero-padded Merkle tree (e.g. the L2 bridges' lists).
    assert (
        ZERO_HASHES[1].hex() == "ad3228b676f7d3cd4284a5443f17f1962b36e491b30a40b2405849e597ba5fb5"
    )
    assert ZERO_HASHES[16].hex() == (
        "2733e50f526ec2fa19a22b31e8ed50f23cd1fdf94c9154ed3a7609a2f1ff981f"
    )


# --------------------------------------------------------------------------- framing


@given(tx_lists)
def test_a_framed_tx_list_decodes_to_the_same_list(txs: list[bytes]) -> None:
    framed = encode_tx_list(txs)
    assert len(framed) == sum(2 + len(tx) for tx in txs)
    assert decode_tx_list(framed) == txs


def test_the_frame_is_a_big_endian_u16_length_before_each_transaction() -> None:
    assert encode_tx_list([b"\xaa", b"\xbb" * 300]) == b"\x00\x01\xaa" + b"\x01\x2c" + b"\xbb" * 300


@pytest.mark.parametrize("length", [1, MAX_FRAMED_TX_LEN], ids=["shortest", "longest"])
def test_transactions_at_the_length_limits_round_trip(length: int) -> None:
    txs = [b"\x5a" * length] * 3
    assert decode_tx_list(encode_tx_list(txs)) == txs


def test_an_empty_list_frames_to_empty_calldata() -> None:
    assert encode_tx_list([]) == b""
    assert decode_tx_list(b"") == []


GOOD_FRAME = b"\x00\x03abc"
MALFORMED_FRAMES = [
    pytest.param(b"\x00", "truncated length prefix", id="truncated-prefix-alone"),
    pytest.param(GOOD_FRAME + b"\x01", "truncated length prefix", id="truncated-prefix-after-tx"),
    pytest.param(b"\x00\x00", "length 0", id="zero-length"),
    pytest.param(GOOD_FRAME + b"\x00\x00" + GOOD_FRAME, "length 0", id="zero-length-in-middle"),
    pytest.param(b"\x02\x01" + b"x" * 513, "length 513", id="length-513"),
    pytest.param(b"\xff\xff" + b"x" * 70_000, "length 65535", id="length-65535"),
    pytest.param(b"\x00\x05abc", "overrun", id="overrun-by-two"),
    pytest.param(b"\x00\x01", "overrun", id="prefix-without-body"),
    pytest.param(GOOD_FRAME + b"\x00\x04abc", "overrun", id="overrun-after-tx"),
    pytest.param(b"\x02\x00" + b"x" * 511, "overrun", id="longest-tx-one-byte-short"),
]


@pytest.mark.parametrize(("data", "reason"), MALFORMED_FRAMES)
def test_decode_rejects_a_malformed_frame(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedBatch, match=reason):
        decode_tx_list(data)


@given(st.binary(max_size=600))
def test_decode_either_splits_canonically_or_raises_malformed_batch(data: bytes) -> None:
    try:
        txs = decode_tx_list(data)
    except MalformedBatch:
        return
    assert encode_tx_list(txs) == data


@pytest.mark.parametrize(
    "txs",
    [[b""], [b"ok", b""], [b"x" * (MAX_FRAMED_TX_LEN + 1)]],
    ids=["empty-tx", "empty-tx-second", "tx-513-bytes"],
)
def test_encode_rejects_a_transaction_that_cannot_be_framed(txs: list[bytes]) -> None:
    with pytest.raises(MalformedBatch, match="length"):
        encode_tx_list(txs)


def test_the_tx_count_limit_is_inclusive_on_both_sides() -> None:
    full = [b"\x01"] * MAX_BATCH_TXS
    framed = encode_tx_list(full)
    assert len(decode_tx_list(framed)) == MAX_BATCH_TXS
    with pytest.raises(MalformedBatch, match="MAX_BATCH_TXS"):
        decode_tx_list(framed + b"\x00\x01\x01")
    with pytest.raises(MalformedBatch, match="MAX_BATCH_TXS"):
        encode_tx_list([*full, b"\x01"])
    with pytest.raises(MalformedBatch, match="MAX_BATCH_TXS"):
        tx_root([*full, b"\x01"])


# --------------------------------------------------------------------------- commitment


@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"{n}-txs")
def test_tx_root_equals_the_reference_tree(n: int) -> None:
    assert tx_root(TX_LISTS[n]) == ROOTS[n]


def test_the_root_of_no_transactions_is_the_empty_tree() -> None:
    assert tx_root([]) == ZERO_HASHES[TX_TREE_DEPTH]


@given(tx_lists)
def test_tx_root_of_any_list_equals_the_reference_tree(txs: list[bytes]) -> None:
    assert tx_root(txs) == naive_root(txs)


def test_the_root_commits_to_order_and_count() -> None:
    a, b = b"\x01", b"\x02"
    roots = {tx_root(t) for t in ([a], [b], [a, b], [b, a], [a, a], [a, b, a])}
    assert len(roots) == 6
    # A transaction is never confused with the zero padding beyond the list.
    assert tx_root([a]) != tx_root([a, b""])


# --------------------------------------------------------------------------- inclusion proofs


def check_proof(n: int, index: int) -> None:
    txs = TX_LISTS[n]
    proof = tx_proof(txs, index)
    assert len(proof) == TX_TREE_DEPTH
    assert proof == naive_proof(txs, index), f"index {index}"
    assert verify_tx_proof(ROOTS[n], index, txs[index], proof), f"index {index}"


@pytest.mark.parametrize("n", [n for n in SIZES if 0 < n < 1000], ids=lambda n: f"{n}-txs")
def test_the_proof_of_every_index_of_a_small_list_matches_the_reference_and_verifies(
    n: int,
) -> None:
    for index in range(n):
        check_proof(n, index)


LARGE_INDICES = sorted({0, 1, 511, 512, 998, 999, *random.Random(20240601).sample(range(1000), 8)})


@pytest.mark.parametrize("index", LARGE_INDICES, ids=lambda i: f"index-{i}")
def test_a_proof_into_a_1000_tx_list_matches_the_reference_and_verifies(index: int) -> None:
    check_proof(1000, index)


@pytest.mark.parametrize("n", [1, 2, 5, 17], ids=lambda n: f"{n}-txs")
def test_a_proof_with_any_one_sibling_changed_is_rejected(n: int) -> None:
    txs = TX_LISTS[n]
    for index in range(n):
        proof = tx_proof(txs, index)
        for level in range(TX_TREE_DEPTH):
            for tampered_sibling in (b"\x00" * 32, bytes([proof[level][0] ^ 1]) + proof[level][1:]):
                if tampered_sibling == proof[level]:
                    continue
                tampered = [*proof[:level], tampered_sibling, *proof[level + 1 :]]
                assert not verify_tx_proof(ROOTS[n], index, txs[index], tampered)


IDX = 3
TX = TX_LISTS[17][IDX]
ROOT = ROOTS[17]
PROOF = tx_proof(TX_LISTS[17], IDX)


@pytest.mark.parametrize(
    ("root", "index", "tx", "proof"),
    [
        pytest.param(ROOT, IDX ^ 1, TX, PROOF, id="sibling-index"),
        pytest.param(ROOT, IDX + 4, TX, PROOF, id="other-index"),
        pytest.param(ROOT, IDX + MAX_BATCH_TXS, TX, PROOF, id="index-past-the-tree"),
        pytest.param(ROOT, -1, TX, PROOF, id="negative-index"),
        pytest.param(ROOT, IDX, TX + b"\x00", PROOF, id="wrong-tx"),
        pytest.param(ROOT, IDX, TX_LISTS[17][IDX ^ 1], PROOF, id="neighbour-tx"),
        pytest.param(ROOTS[5], IDX, TX, PROOF, id="wrong-root"),
        pytest.param(ROOT, IDX, TX, PROOF[:-1], id="15-siblings"),
        pytest.param(ROOT, IDX, TX, [*PROOF, b"\x00" * 32], id="17-siblings"),
        pytest.param(ROOT, IDX, TX, PROOF[::-1], id="reversed"),
        pytest.param(ROOT, IDX, TX, [], id="empty-proof"),
    ],
)
def test_a_proof_is_rejected_for_the_wrong_index_tx_root_or_length(
    root: bytes, index: int, tx: bytes, proof: list[bytes]
) -> None:
    assert verify_tx_proof(ROOT, IDX, TX, PROOF)  # the control
    assert not verify_tx_proof(root, index, tx, proof)


# Distinct transactions: with duplicates a proof legitimately verifies at a twin's index too.
@given(
    st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=40, unique=True), st.data()
)
def test_a_proof_for_a_random_index_verifies_only_there(
    txs: list[bytes], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(txs) - 1), label="index")
    root, proof = tx_root(txs), tx_proof(txs, index)
    assert verify_tx_proof(root, index, txs[index], proof)
    other = data.draw(st.integers(0, MAX_BATCH_TXS - 1).filter(lambda i: i != index), label="other")
    assert not verify_tx_proof(root, other, txs[index], proof)


@pytest.mark.parametrize(
    ("n", "index"), [(0, 0), (3, 3), (3, -1)], ids=["empty", "past-end", "negative"]
)
def test_tx_proof_rejects_an_index_outside_the_list(n: int, index: int) -> None:
    with pytest.raises(IndexError):
        tx_proof(make_txs(n), index)


# --------------------------------------------------------------------------- Batch


def test_batch_header_counts_and_commits_to_its_transactions() -> None:
    txs = tuple(TX_LISTS[5])
    batch = Batch(b"\x01" * 32, b"\x02" * 32, 1_700_000_000, txs)
    header = batch.header()
    assert header.prev_root == b"\x01" * 32 and header.new_root == b"\x02" * 32
    assert header.batch_time == 1_700_000_000
    assert header.tx_count == 5
    assert header.tx_root == ROOTS[5]
    assert decode_tx_list(batch.calldata_txs()) == list(txs)
