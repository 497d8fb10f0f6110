# pragma version ~=0.4.3
"""
@title optirollup Rollup: bonded proposer, batch commitments, finality
@license MIT
@notice Holds one record per batch: the state roots it chains, the
        commitment to its transactions (computed here from the calldata of
        `propose`), its time, the Vault's deposit-queue length it sees and a
        nonce that is never reused. A batch becomes final once its challenge
        window has passed, no dispute game on it is open, and its parent is
        final (finalization is strictly in index order). A challenger that
        wins a dispute game makes the DisputeGame call `delete_from`, which
        deletes the batch and every later one and slashes the proposer.
        Normative: docs/l1.md ("Rollup"), docs/protocol.md §5.
@dev Reverts are "rollup: <reason>". Bonds are native ETH.
     Storage per batch is packed into four slots: new root, transaction
     root, (tx_count | batch_time | proposed_at | deposit_count) and nonce.
     `prev_root` is not stored: `propose` makes it equal to the previous
     batch's `new_root` (or `genesis_root`), and the view derives it so.
     Only the proposer set by the owner may propose, and the owner may
     change the proposer only when no batch is pending, so the proposer of
     every pending batch is the current `proposer`: it is the asserter of
     every dispute game and the one `delete_from` slashes.
"""

from .lib import txroot

interface Vault:
    def deposit_count() -> uint64: view

interface DisputeGame:
    def open_games(batch_index: uint256, batch_nonce: uint64) -> uint256: view


struct Batch:
    prev_root: bytes32
    new_root: bytes32
    tx_root: bytes32
    tx_count: uint32
    batch_time: uint64
    proposed_at: uint64
    deposit_count: uint64
    nonce: uint64


event BatchProposed:
    index: indexed(uint256)
    nonce: indexed(uint64)
    prev_root: bytes32
    new_root: bytes32
    tx_root: bytes32
    tx_count: uint32
    batch_time: uint64
    deposit_count: uint64


event BatchFinalized:
    index: indexed(uint256)
    new_root: bytes32


event BatchesDeleted:
    index: indexed(uint256)
    count: uint256
    slashed: uint256


event ProposerSet:
    proposer: indexed(address)


event Staked:
    proposer: indexed(address)
    amount: uint256
    total: uint256


event Unstaked:
    proposer: indexed(address)
    amount: uint256
    total: uint256


# Largest framed transaction list: 2^16 transactions of 512 bytes, each with
# its 2-byte length (protocol §5.1). Real calls are bounded far below this by
# the L1's transaction size and gas limits.
MAX_TXS_BYTES: constant(uint256) = txroot.MAX_TXS * (2 + txroot.MAX_TX_LEN)

# Calldata layout of `propose(bytes32,bytes32,uint64,bytes)` as the ABI
# encodes it canonically: selector, three static words, the offset word,
# then the list's length word and its bytes, zero-padded to 32.
_TXS_OFFSET_WORD: constant(uint256) = 4 + 3 * 32
_TXS_OFFSET: constant(uint256) = 4 * 32
_TXS_DATA: constant(uint256) = 4 + _TXS_OFFSET + 32

# Field masks of `_meta`.
_U32: constant(uint256) = 2**32 - 1
_U64: constant(uint256) = 2**64 - 1

VAULT: public(immutable(address))
GENESIS_ROOT: public(immutable(bytes32))
CHALLENGE_WINDOW: public(immutable(uint256))
PROPOSER_BOND: public(immutable(uint256))

owner: public(address)
dispute_game: public(address)
proposer: public(address)
stakes: public(HashMap[address, uint256])

batch_count: public(uint256)
final_count: public(uint256)
# Nonce of the last proposed batch (the first batch has nonce 1).
last_nonce: public(uint64)

_new_root: HashMap[uint256, bytes32]
_tx_root: HashMap[uint256, bytes32]
# tx_count (bits 0..31) | batch_time (32..95) | proposed_at (96..159) | deposit_count (160..223)
_meta: HashMap[uint256, uint256]
_nonce: HashMap[uint256, uint64]


@deploy
def __init__(vault: address, genesis_root: bytes32, challenge_window: uint256, proposer_bond: uint256):
    """
    @notice Deploy the Rollup; the deployer becomes the owner.
    @param vault The Vault (its deposit queue length is recorded per batch).
    @param genesis_root The state root the first batch must chain onto.
    @param challenge_window Seconds after `propose` during which games can be opened.
    @param proposer_bond Wei the proposer must have staked to propose.
    """
    assert vault != empty(address), "rollup: zero address"
    VAULT = vault
    GENESIS_ROOT = genesis_root
    CHALLENGE_WINDOW = challenge_window
    PROPOSER_BOND = proposer_bond
    self.owner = msg.sender


@external
def initialize(dispute_game: address):
    """
    @notice Wire the DisputeGame (owner, once).
    @param dispute_game The DisputeGame contract.
    """
    assert msg.sender == self.owner, "rollup: not owner"
    assert self.dispute_game == empty(address), "rollup: initialized"
    assert dispute_game != empty(address), "rollup: zero address"
    self.dispute_game = dispute_game


@external
def set_proposer(proposer: address):
    """
    @notice Set the address allowed to propose (owner).
    @dev Only while no batch is pending, so that the proposer of every pending
         batch is the current proposer (the asserter of its games, the one
         slashed if it is deleted). The zero address stops all proposing.
    @param proposer The new proposer.
    """
    assert msg.sender == self.owner, "rollup: not owner"
    assert self.final_count == self.batch_count, "rollup: batches pending"
    self.proposer = proposer
    log ProposerSet(proposer=proposer)


@external
@payable
def stake():
    """
    @notice Add the attached ETH to the proposer's stake (proposer only).
    """
    assert msg.sender == self.proposer, "rollup: not proposer"
    total: uint256 = self.stakes[msg.sender] + msg.value
    self.stakes[msg.sender] = total
    log Staked(proposer=msg.sender, amount=msg.value, total=total)


@external
@nonreentrant
def unstake(amount: uint256):
    """
    @notice Withdraw `amount` wei of the caller's stake.
    @dev The current proposer may unstake only when every batch is final; a
         former proposer (whose batches are all final) at any time.
    @param amount Wei to withdraw.
    """
    if msg.sender == self.proposer:
        assert self.final_count == self.batch_count, "rollup: batches pending"
    total: uint256 = self.stakes[msg.sender]
    assert amount <= total, "rollup: stake too low"
    self.stakes[msg.sender] = total - amount
    log Unstaked(proposer=msg.sender, amount=amount, total=total - amount)
    # Extcall to the caller (untrusted): the stake is reduced first and the
    # function is @nonreentrant, so a reentering caller finds nothing more.
    ok: bool = raw_call(msg.sender, b"", value=amount, revert_on_failure=False)
    assert ok, "rollup: transfer failed"


@external
def propose(prev_root: bytes32, new_root: bytes32, batch_time: uint64, txs: Bytes[MAX_TXS_BYTES]):
    """
    @notice Post a batch (proposer only, with at least PROPOSER_BOND staked).
    @dev `txs` is the framed transaction list (protocol §5.1); the contract
         computes its commitment `tx_root` (§5.2) and records the Vault's
         deposit count and the block time. The transactions themselves are
         read back off-chain from this call's calldata, so the call must be
         ABI-encoded canonically (list at offset 128, zero padding, nothing
         after it): "rollup: non-canonical calldata" otherwise.
         The body lives in `_propose`, which reads `txs` from `msg.data`:
         this function must not touch memory past the `txs` argument, whose
         declared size (33 MB) would otherwise be paid for.
    @param prev_root The last batch's new root (or the genesis root).
    @param new_root The state root after the batch.
    @param batch_time The batch time (unix seconds), not before the parent's
           and not after the current block's.
    @param txs The framed transactions: `u16 len ‖ tx` each, 1 to 2^16 of them.
    """
    self._propose(prev_root, new_root, batch_time)


@internal
def _propose(prev_root: bytes32, new_root: bytes32, batch_time: uint64):
    assert self.dispute_game != empty(address), "rollup: not initialized"
    assert msg.sender == self.proposer, "rollup: not proposer"
    assert self.stakes[msg.sender] >= PROPOSER_BOND, "rollup: bond too low"
    index: uint256 = self.batch_count
    parent_root: bytes32 = GENESIS_ROOT
    parent_time: uint64 = 0
    if index > 0:
        parent_root = self._new_root[index - 1]
        parent_time = convert((self._meta[index - 1] >> 32) & _U64, uint64)
    assert prev_root == parent_root, "rollup: wrong prev root"
    assert batch_time >= parent_time, "rollup: batch time before parent"
    assert convert(batch_time, uint256) <= block.timestamp, "rollup: batch time in the future"

    # With the list at the canonical offset, its length word is the one the
    # ABI decoder checked against MAX_TXS_BYTES.
    assert convert(slice(msg.data, _TXS_OFFSET_WORD, 32), uint256) == _TXS_OFFSET, "rollup: non-canonical calldata"
    cds: uint256 = len(msg.data)
    length: uint256 = convert(slice(msg.data, _TXS_DATA - 32, 32), uint256)
    padded: uint256 = (length + 31) // 32 * 32
    assert cds == _TXS_DATA + padded, "rollup: non-canonical calldata"
    if padded != length:
        tail: uint256 = convert(slice(msg.data, cds - 32, 32), uint256)
        assert tail & ((1 << (8 * (padded - length))) - 1) == 0, "rollup: non-canonical calldata"
    assert length > 0, "rollup: empty batch"
    status: uint256 = 0
    count: uint256 = 0
    root: bytes32 = empty(bytes32)
    status, count, root = txroot.commit(_TXS_DATA, _TXS_DATA + length)
    assert status != txroot.FRAMES_BAD, "rollup: bad frame"
    assert status == txroot.FRAMES_OK, "rollup: too many txs"

    # Extcall to the Vault (trusted, set at deployment; a view, so a static
    # call that cannot reenter).
    deposits: uint64 = staticcall Vault(VAULT).deposit_count()
    nonce: uint64 = self.last_nonce + 1
    self.last_nonce = nonce
    self._new_root[index] = new_root
    self._tx_root[index] = root
    self._meta[index] = (
        count
        | (convert(batch_time, uint256) << 32)
        | (block.timestamp << 96)
        | (convert(deposits, uint256) << 160)
    )
    self._nonce[index] = nonce
    self.batch_count = index + 1
    log BatchProposed(
        index=index,
        nonce=nonce,
        prev_root=prev_root,
        new_root=new_root,
        tx_root=root,
        tx_count=convert(count, uint32),
        batch_time=batch_time,
        deposit_count=deposits,
    )


@external
def finalize(index: uint256):
    """
    @notice Make batch `index` final (anyone): it must be the next one, its
            window must have passed and no game on it may be open.
    @param index The batch index, equal to `final_count`.
    """
    assert index == self.final_count, "rollup: not next"
    assert index < self.batch_count, "rollup: no batch"
    meta: uint256 = self._meta[index]
    assert block.timestamp >= ((meta >> 96) & _U64) + CHALLENGE_WINDOW, "rollup: window open"
    # Extcall to the DisputeGame (trusted, wired at deployment; a view, so a
    # static call that cannot reenter).
    assert staticcall DisputeGame(self.dispute_game).open_games(index, self._nonce[index]) == 0, "rollup: game open"
    self.final_count = index + 1
    log BatchFinalized(index=index, new_root=self._new_root[index])


@external
@nonreentrant
def delete_from(index: uint256) -> uint256:
    """
    @notice Delete pending batch `index` and every later one, and slash the
            proposer's whole stake into the DisputeGame (DisputeGame only,
            when a challenger wins a game on batch `index`).
    @param index The first batch to delete (final_count <= index < batch_count).
    @return The slashed amount in wei.
    """
    game: address = self.dispute_game
    assert msg.sender == game, "rollup: only dispute game"
    count: uint256 = self.batch_count
    assert self.final_count <= index and index < count, "rollup: batch not pending"
    self.batch_count = index
    slashed: uint256 = self.stakes[self.proposer]
    self.stakes[self.proposer] = 0
    log BatchesDeleted(index=index, count=count - index, slashed=slashed)
    if slashed > 0:
        # Extcall to the DisputeGame (trusted, wired at deployment): it only
        # accepts the ETH. State is final before the call; @nonreentrant.
        raw_call(game, b"", value=slashed)
    return slashed


@view
@external
def batch(index: uint256) -> Batch:
    """
    @notice Return the record of an existing batch (pending or final).
    @param index The batch index, below `batch_count`.
    @return The batch record.
    """
    assert index < self.batch_count, "rollup: no batch"
    prev: bytes32 = GENESIS_ROOT
    if index > 0:
        prev = self._new_root[index - 1]
    meta: uint256 = self._meta[index]
    return Batch(
        prev_root=prev,
        new_root=self._new_root[index],
        tx_root=self._tx_root[index],
        tx_count=convert(meta & _U32, uint32),
        batch_time=convert((meta >> 32) & _U64, uint64),
        proposed_at=convert((meta >> 96) & _U64, uint64),
        deposit_count=convert(meta >> 160, uint64),
        nonce=self._nonce[index],
    )


@view
@external
def is_pending(index: uint256, nonce: uint64) -> bool:
    """
    @notice Tell whether batch `index` exists, is not final and still is the
            batch proposed with `nonce` (not deleted, not replaced).
    @param index The batch index.
    @param nonce The nonce it was proposed with.
    @return True if the batch is pending.
    """
    return self.final_count <= index and index < self.batch_count and self._nonce[index] == nonce


@view
@external
def is_final(index: uint256) -> bool:
    """
    @notice Tell whether batch `index` is final.
    @param index The batch index.
    @return True if `index < final_count`.
    """
    return index < self.final_count


@view
@external
def state_root(index: uint256) -> bytes32:
    """
    @notice Return the state root after batch `index`.
    @param index The batch index, below `batch_count`.
    @return Its `new_root`.
    """
    assert index < self.batch_count, "rollup: no batch"
    return self._new_root[index]


@view
@external
def last_root() -> bytes32:
    """
    @notice Return the root the next batch must chain onto.
    @return The last batch's new root, or the genesis root if there is none.
    """
    count: uint256 = self.batch_count
    if count == 0:
        return GENESIS_ROOT
    return self._new_root[count - 1]
