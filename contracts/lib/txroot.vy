# pragma version ~=0.4.3
"""
@title Batch framing and transaction commitment (protocol §5.1-5.3)
@license MIT
@notice Checks the framing of a transaction list held in the current call's
        calldata (`u16 len ‖ tx` per transaction, 1 <= len <= 512, at most
        2^16 transactions), computes its commitment (a binary Merkle tree of
        fixed depth 16 over `keccak(tx_i)`, zero leaves beyond the last
        transaction) and verifies inclusion proofs against it. Python twin:
        `optirollup.codec.batch` (`decode_tx_list`, `tx_root`, `tx_proof`,
        `verify_tx_proof`).
@dev Stateless: a contract only `import`s it. Nothing here reverts on bad
     input: `commit` returns a status and the caller reverts with its own
     message ("rollup: bad frame", ...).
     The list is read straight from `msg.data` by offset, never through a
     `Bytes[...]` variable: Vyper lays memory out by declared maximum sizes,
     and a variable placed after a 33 MB buffer would make the call pay for
     33 MB of memory. Slices of `msg.data` must have constant lengths and lie
     inside the calldata, so a transaction is cut out of a 512-byte window
     (with its length prefix) when one fits before the end of the calldata,
     else out of 32-byte words (the last 514 bytes of calldata only).
     The root is computed in one pass with O(depth) memory (the deposit
     contract's "frontier" method).
"""

# Depth of the commitment tree.
TREE_DEPTH: constant(uint256) = 16
# Most transactions in a batch (2^TREE_DEPTH).
MAX_TXS: constant(uint256) = 65536
# Longest framed transaction.
MAX_TX_LEN: constant(uint256) = 512

# `frames` results.
FRAMES_OK: constant(uint256) = 0
FRAMES_BAD: constant(uint256) = 1
FRAMES_TOO_MANY: constant(uint256) = 2

# ZERO_HASHES[h]: the root of an all-empty subtree of height h.
ZERO_HASHES: constant(bytes32[17]) = [
    0x0000000000000000000000000000000000000000000000000000000000000000,
    0xad3228b676f7d3cd4284a5443f17f1962b36e491b30a40b2405849e597ba5fb5,
    0xb4c11951957c6f8f642c4af61cd6b24640fec6dc7fc607ee8206a99e92410d30,
    0x21ddb9a356815c3fac1026b6dec5df3124afbadb485c9ba5a3e3398a04b7ba85,
    0xe58769b32a1beaf1ea27375a44095a0d1fb664ce2dd358e7fcbfb78c26a19344,
    0x0eb01ebfc9ed27500cd4dfc979272d1f0913cc9f66540d7e8005811109e1cf2d,
    0x887c22bd8750d34016ac3c66b5ff102dacdd73f6b014e710b51e8022af9a1968,
    0xffd70157e48063fc33c97a050f7f640233bf646cc98d9524c6b92bcf3ab56f83,
    0x9867cc5f7f196b93bae1e27e6320742445d290f2263827498b54fec539f756af,
    0xcefad4e508c098b9a7e1d8feb19955fb02ba9675585078710969d3440f5054e0,
    0xf9dc3e7fe016e050eff260334f18a5d4fe391d82092319f5964f2e2eb7c1c3a5,
    0xf8b13a49e282f609c317a833fb8d976d11517c571d1221a265d25af778ecf892,
    0x3490c6ceeb450aecdc82e28293031d10c7d73bf85e57bf041a97360aa2c5d99c,
    0xc1df82d9c4b87413eae2ef048f94b4d3554cea73d92b0f7af96e0271c691e2bb,
    0x5c67add7c6caf302256adedf7ab114da0acfe870d449a3a489f781d659e8becc,
    0xda7bce9f4e8618b6bd2f4132ce798cdc7a60e7e1460a7299e3c6342a579626d2,
    0x2733e50f526ec2fa19a22b31e8ed50f23cd1fdf94c9154ed3a7609a2f1ff981f,
]


@internal
@view
def commit(start: uint256, end: uint256) -> (uint256, uint256, bytes32):
    """
    @notice Check the framing of the list in `msg.data[start:end]` and
            compute its commitment, in one pass.
    @dev Same verdicts, in the same order, as `decode_tx_list`: a frame is
         bad if its length prefix is truncated, its length is 0 or over
         MAX_TX_LEN, or it overruns `end`; the list is too long as soon as a
         good frame number MAX_TXS + 1 is read (so that verdict costs the
         hashing of MAX_TXS transactions first). `end` must not exceed
         `len(msg.data)`.
    @param start Calldata offset of the first length prefix.
    @param end Calldata offset one past the list's last byte.
    @return FRAMES_OK, FRAMES_BAD or FRAMES_TOO_MANY; the number of good
            frames read; the commitment (protocol §5.2) when FRAMES_OK.
    """
    branch: bytes32[TREE_DEPTH] = empty(bytes32[TREE_DEPTH])
    full: bytes32 = empty(bytes32)
    cds: uint256 = len(msg.data)
    pos: uint256 = start
    count: uint256 = 0
    for i: uint256 in range(MAX_TXS + 1):
        if pos >= end:
            break
        # Offsets below are bounded by `end` <= calldata size: no overflow.
        body: uint256 = unsafe_add(pos, 2)
        if body > end:
            return FRAMES_BAD, count, empty(bytes32)
        leaf: bytes32 = empty(bytes32)
        n: uint256 = 0
        if unsafe_add(body, MAX_TX_LEN) <= cds:
            window: Bytes[2 + MAX_TX_LEN] = slice(msg.data, pos, 2 + MAX_TX_LEN)
            n = convert(extract32(window, 0), uint256) >> 240
            if n == 0 or n > MAX_TX_LEN or unsafe_add(body, n) > end:
                return FRAMES_BAD, count, empty(bytes32)
            if i == MAX_TXS:
                return FRAMES_TOO_MANY, unsafe_add(count, 1), empty(bytes32)
            leaf = keccak256(slice(window, 2, n))
        else:
            n = convert(slice(msg.data, pos, 2), uint256)
            if n == 0 or n > MAX_TX_LEN or unsafe_add(body, n) > end:
                return FRAMES_BAD, count, empty(bytes32)
            if i == MAX_TXS:
                return FRAMES_TOO_MANY, unsafe_add(count, 1), empty(bytes32)
            leaf = keccak256(self._tail(body, n, cds))
        pos = unsafe_add(body, n)
        count = unsafe_add(i, 1)
        # Insert leaf i: climb while the subtree to the left is complete.
        size: uint256 = count
        placed: bool = False
        for h: uint256 in range(TREE_DEPTH):
            if size & 1 == 1:
                branch[h] = leaf
                placed = True
                break
            leaf = keccak256(concat(branch[h], leaf))
            size = size >> 1
        if not placed:
            # Leaf 2^16 - 1 completed the whole tree.
            full = leaf
    if count == MAX_TXS:
        return FRAMES_OK, count, full
    node: bytes32 = empty(bytes32)
    size: uint256 = count
    for h: uint256 in range(TREE_DEPTH):
        if size & 1 == 1:
            node = keccak256(concat(branch[h], node))
        else:
            node = keccak256(concat(node, ZERO_HASHES[h]))
        size = size >> 1
    return FRAMES_OK, count, node


@internal
@view
def _tail(pos: uint256, n: uint256, cds: uint256) -> Bytes[MAX_TX_LEN]:
    """
    @notice Return `msg.data[pos:pos + n]` when fewer than MAX_TX_LEN bytes
            of calldata follow `pos`.
    @dev Reads whole 32-byte words; a word that would cross the end of the
         calldata is read as the calldata's last word shifted into place
         (the calldata of any call that gets here is at least 32 bytes).
    @param pos Calldata offset of the transaction.
    @param n Its length (pos + n <= cds).
    @param cds len(msg.data).
    @return The transaction bytes.
    """
    w: bytes32[16] = empty(bytes32[16])
    for i: uint256 in range(16):
        at: uint256 = pos + 32 * i
        if at >= pos + n:
            break
        if at + 32 <= cds:
            w[i] = convert(slice(msg.data, at, 32), bytes32)
        else:
            last: uint256 = convert(convert(slice(msg.data, cds - 32, 32), bytes32), uint256)
            w[i] = convert(last << (8 * (at + 32 - cds)), bytes32)
    return slice(
        concat(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9], w[10], w[11], w[12], w[13], w[14], w[15]),
        0,
        n,
    )


@internal
@pure
def verify(root: bytes32, index: uint256, tx_hash: bytes32, proof: bytes32[TREE_DEPTH]) -> bool:
    """
    @notice Check that `tx_hash` is leaf `index` of the commitment `root`.
    @dev Protocol §5.3: siblings leaf level first; bit h of `index` set
         means the sibling is on the left at height h. The caller must also
         check `index < tx_count` of the batch.
    @param root The batch's transaction commitment.
    @param index The transaction's index, below MAX_TXS.
    @param tx_hash keccak256 of the transaction bytes.
    @param proof The 16 sibling hashes.
    @return True if the proof opens `root` at `index` to `tx_hash`.
    """
    if index >= MAX_TXS:
        return False
    node: bytes32 = tx_hash
    for h: uint256 in range(TREE_DEPTH):
        if (index >> h) & 1 == 1:
            node = keccak256(concat(proof[h], node))
        else:
            node = keccak256(concat(node, proof[h]))
    return node == root
