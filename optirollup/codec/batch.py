"""Batches: the transaction list as posted in L1 calldata, and its commitment.

Framing: the transaction list is the concatenation of ``u16 length ‖ tx bytes`` for each
transaction (``1 <= length <= MAX_FRAMED_TX_LEN``). The frame is checked by the Rollup contract at
``propose`` (a bad frame reverts the proposal); the *content* of each framed transaction is not:
bytes that are not a canonical transaction are a no-op with reason MALFORMED in the STF.

Commitment: a binary Merkle tree of fixed depth ``TX_TREE_DEPTH`` whose leaf ``i`` is
``keccak(tx_i)`` for ``i < n`` and ``bytes32(0)`` beyond; an inner node is
``keccak(left ‖ right)``. Fixed depth lets the contract compute the root in one pass with
O(depth) memory (the deposit-contract "frontier" method) and makes every inclusion proof exactly
``TX_TREE_DEPTH`` siblings long.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from optirollup.errors import MalformedBatch
from optirollup.hashing import keccak

TX_TREE_DEPTH = 16
MAX_BATCH_TXS = 2**TX_TREE_DEPTH
MAX_FRAMED_TX_LEN = 512
ZERO32 = b"\x00" * 32


def _zero_hashes() -> list[bytes]:
    z = [ZERO32]
    for _ in range(TX_TREE_DEPTH):
        z.append(keccak(z[-1] + z[-1]))
    return z


ZERO_HASHES = _zero_hashes()
"""``ZERO_HASHES[h]`` is the root of an all-empty subtree of height ``h``."""


def encode_tx_list(txs: Sequence[bytes]) -> bytes:
    """Frame transactions as ``u16 length ‖ bytes`` each."""
    if len(txs) > MAX_BATCH_TXS:
        raise MalformedBatch(f"{len(txs)} transactions > MAX_BATCH_TXS={MAX_BATCH_TXS}")
    out = bytearray()
    for i, tx in enumerate(txs):
        if not 1 <= len(tx) <= MAX_FRAMED_TX_LEN:
            raise MalformedBatch(f"tx {i}: length {len(tx)} not in 1..{MAX_FRAMED_TX_LEN}")
        out += len(tx).to_bytes(2, "big") + tx
    return bytes(out)


def decode_tx_list(data: bytes) -> list[bytes]:
    """Split framed calldata into transactions; raise MalformedBatch on a bad frame."""
    txs: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end:
            raise MalformedBatch(f"truncated length prefix at byte {pos}")
        n = int.from_bytes(data[pos : pos + 2], "big")
        if not 1 <= n <= MAX_FRAMED_TX_LEN:
            raise MalformedBatch(f"tx {len(txs)}: length {n} not in 1..{MAX_FRAMED_TX_LEN}")
        if pos + 2 + n > end:
            raise MalformedBatch(f"tx {len(txs)}: {n} bytes overrun the list at byte {pos}")
        txs.append(bytes(data[pos + 2 : pos + 2 + n]))
        pos += 2 + n
        if len(txs) > MAX_BATCH_TXS:
            raise MalformedBatch(f"more than MAX_BATCH_TXS={MAX_BATCH_TXS} transactions")
    return txs


def tx_root(txs: Sequence[bytes]) -> bytes:
    """Return the commitment (fixed-depth Merkle root) of a transaction list."""
    if len(txs) > MAX_BATCH_TXS:
        raise MalformedBatch(f"{len(txs)} transactions > MAX_BATCH_TXS")
    layer = [keccak(tx) for tx in txs]
    for h in range(TX_TREE_DEPTH):
        if len(layer) % 2:
            layer.append(ZERO_HASHES[h])
        layer = [keccak(layer[i] + layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0] if layer else ZERO_HASHES[TX_TREE_DEPTH]


def tx_proof(txs: Sequence[bytes], index: int) -> list[bytes]:
    """Return the ``TX_TREE_DEPTH`` sibling hashes proving ``txs[index]``, leaf level first."""
    if not 0 <= index < len(txs):
        raise IndexError(f"tx index {index} out of range 0..{len(txs) - 1}")
    layer = [keccak(tx) for tx in txs]
    proof: list[bytes] = []
    i = index
    for h in range(TX_TREE_DEPTH):
        if len(layer) % 2:
            layer.append(ZERO_HASHES[h])
        proof.append(layer[i ^ 1])
        layer = [keccak(layer[j] + layer[j + 1]) for j in range(0, len(layer), 2)]
        i //= 2
    return proof


def verify_tx_proof(root: bytes, index: int, tx: bytes, proof: Sequence[bytes]) -> bool:
    """Return whether ``proof`` shows ``tx`` at ``index`` under ``root``."""
    if len(proof) != TX_TREE_DEPTH or not 0 <= index < MAX_BATCH_TXS:
        return False
    node = keccak(tx)
    for h, sibling in enumerate(proof):
        node = keccak(sibling + node) if (index >> h) & 1 else keccak(node + sibling)
    return bool(node == root)


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """What the Rollup stores for a batch (besides its L1 time and deposit count)."""

    prev_root: bytes
    new_root: bytes
    batch_time: int
    tx_count: int
    tx_root: bytes


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch: its header fields and its transactions."""

    prev_root: bytes
    new_root: bytes
    batch_time: int
    txs: tuple[bytes, ...]

    def header(self) -> BatchHeader:
        """Return the header with the computed transaction commitment."""
        return BatchHeader(
            self.prev_root, self.new_root, self.batch_time, len(self.txs), tx_root(self.txs)
        )

    def calldata_txs(self) -> bytes:
        """Return the framed transaction list as posted to L1."""
        return encode_tx_list(self.txs)
