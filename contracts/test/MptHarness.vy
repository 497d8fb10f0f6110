# pragma version ~=0.4.3
"""
@title Test harness for the Merkle-Patricia trie library
@license MIT
@notice Exposes `lib/mpt.vy` to tests; deployed nowhere else. Pure: no
        state, no external calls.
"""

from ..lib import mpt

# The library's limits, readable by tests.
MAX_VALUE: public(constant(uint256)) = mpt.MAX_VALUE
MAX_NODE: public(constant(uint256)) = mpt.MAX_NODE
MAX_DEPTH: public(constant(uint256)) = mpt.MAX_DEPTH

# Most updates `update_many` applies in one call.
MAX_UPDATES: public(constant(uint256)) = 8
# Most proof nodes `update_many` takes in all. Declared maximums cost memory
# gas whether used or not (see `update_many`), so this is not
# MAX_UPDATES * MAX_DEPTH.
MAX_BATCH_NODES: public(constant(uint256)) = 64


@external
@pure
def get(root: bytes32, key: bytes32, proof: DynArray[Bytes[mpt.MAX_NODE], mpt.MAX_DEPTH]) -> Bytes[mpt.MAX_VALUE]:
    """
    @notice Verify a proof and return the key's value, or empty bytes if the
            key is absent.
    @param root The trie's root hash.
    @param key The key (not hashed).
    @param proof The key's proof, root node first.
    @return The value, or empty bytes.
    """
    return mpt.get(root, key, proof)


@external
@pure
def update(
    root: bytes32, key: bytes32, new_value: Bytes[mpt.MAX_VALUE], proof: DynArray[Bytes[mpt.MAX_NODE], mpt.MAX_DEPTH]
) -> bytes32:
    """
    @notice Return the root after setting `key` to `new_value`.
    @param root The trie's root hash.
    @param key The key (not hashed).
    @param new_value The new value, 1 to MAX_VALUE bytes.
    @param proof The key's proof against `root`, root node first.
    @return The new root hash.
    """
    return mpt.update(root, key, new_value, proof)


@external
@pure
def update_many(
    root: bytes32,
    keys: DynArray[bytes32, MAX_UPDATES],
    new_values: DynArray[Bytes[mpt.MAX_VALUE], MAX_UPDATES],
    counts: DynArray[uint256, MAX_UPDATES],
    nodes: DynArray[Bytes[mpt.MAX_NODE], MAX_BATCH_NODES],
) -> bytes32:
    """
    @notice Apply updates in turn and return the final root.
    @dev The proofs travel as one flat list: update `i` takes the next
         `counts[i]` nodes, a proof against the root that update `i - 1`
         left. A list of proofs (`DynArray[DynArray[Bytes[..], ..], ..]`)
         would be copied into memory at its full declared size, tens of
         kilobytes per proof, and memory gas grows with the square of it.
    @param root The trie's root hash before the first update.
    @param keys The keys, in order (a key may repeat).
    @param new_values Their new values.
    @param counts Number of proof nodes of each update.
    @param nodes All proof nodes, update after update.
    @return The root after the last update.
    """
    assert len(new_values) == len(keys) and len(counts) == len(keys), "harness: length mismatch"
    current: bytes32 = root
    first: uint256 = 0
    for i: uint256 in range(len(keys), bound=MAX_UPDATES):
        assert counts[i] <= mpt.MAX_DEPTH and first + counts[i] <= len(nodes), "harness: bad counts"
        proof: DynArray[Bytes[mpt.MAX_NODE], mpt.MAX_DEPTH] = []
        for j: uint256 in range(counts[i], bound=mpt.MAX_DEPTH):
            proof.append(nodes[first + j])
        first += counts[i]
        current = mpt.update(current, keys[i], new_values[i], proof)
    assert first == len(nodes), "harness: bad counts"
    return current
