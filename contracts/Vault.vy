# pragma version ~=0.4.3
"""
@title optirollup Vault: collateral, deposit queue, withdrawals
@license MIT
@notice Holds the collateral token. `deposit` queues an entry whose hash is
        the keccak of the DEPOSIT transaction (protocol §4.3) that will
        consume it on L2; `withdraw` pays a withdrawal leaf proven by Merkle
        proof in the state root of a final batch. The EIP-712
        `verifyingContract` of a deployment is this contract.
        Normative: docs/l1.md ("Vault"), docs/protocol.md §2.2, §2.4, §5.4.
@dev Reverts are "vault: <reason>". The token and the Rollup are trusted
     (set at deployment); recipients and depositors are not.
"""

from .lib import mpt

interface Rollup:
    def is_final(index: uint256) -> bool: view
    def state_root(index: uint256) -> bytes32: view


event DepositQueued:
    index: indexed(uint64)
    l2_account: indexed(address)
    sender: indexed(address)
    amount: uint64
    hash: bytes32


event WithdrawalPaid:
    withdrawal_id: indexed(uint64)
    account: indexed(address)
    recipient: indexed(address)
    amount: uint64
    batch_index: uint256


# DEPOSIT transaction type byte (protocol §4.2).
_DEPOSIT_TYPE: constant(bytes1) = 0x01
# Withdrawal key prefix (protocol §2.2).
_WITHDRAWAL_PREFIX: constant(bytes1) = 0x05
# Declared size of a built withdrawal leaf (real ones are 44..52 bytes).
_LEAF_MAX: constant(uint256) = 1 + 21 + 21 + 33

TOKEN: public(immutable(address))

deployer: public(address)
rollup: public(address)

deposit_count: public(uint64)
deposit_hashes: public(HashMap[uint64, bytes32])
withdrawn: public(HashMap[uint64, bool])


@deploy
def __init__(token: address):
    """
    @notice Deploy the Vault for collateral `token` (6 decimals).
    @param token The collateral ERC-20.
    """
    assert token.is_contract, "vault: token not a contract"
    TOKEN = token
    self.deployer = msg.sender


@external
def initialize(rollup: address):
    """
    @notice Wire the Rollup whose final roots `withdraw` trusts (deployer, once).
    @param rollup The Rollup contract.
    """
    assert msg.sender == self.deployer, "vault: not deployer"
    assert self.rollup == empty(address), "vault: initialized"
    assert rollup != empty(address), "vault: zero address"
    self.rollup = rollup


@external
@nonreentrant
def deposit(amount: uint256, l2_account: address):
    """
    @notice Queue a deposit of `amount` token base units for `l2_account`,
            pulled from the caller (approve the Vault first).
    @dev Any failure of the token's `transferFrom` (a revert with its own
         message, or `false`) reverts "vault: transfer failed".
         Entry `index = deposit_count` records
         `keccak256(0x01 ‖ uint64 index ‖ l2_account ‖ uint64 amount)`, the
         hash of the DEPOSIT transaction that consumes it on L2.
    @param amount Base units, 1 to 2^64 - 1.
    @param l2_account The L2 account credited (not the zero address).
    """
    assert amount >= 1 and amount <= convert(max_value(uint64), uint256), "vault: amount out of range"
    assert l2_account != empty(address), "vault: zero account"
    index: uint64 = self.deposit_count
    amount64: uint64 = convert(amount, uint64)
    h: bytes32 = keccak256(concat(_DEPOSIT_TYPE, convert(index, bytes8), convert(l2_account, bytes20), convert(amount64, bytes8)))
    self.deposit_hashes[index] = h
    self.deposit_count = index + 1
    log DepositQueued(index=index, l2_account=l2_account, sender=msg.sender, amount=amount64, hash=h)
    # Extcall to the collateral token (trusted, fixed at deployment). The
    # entry is recorded first and the function is @nonreentrant; a failed
    # transfer reverts the whole deposit.
    self._token_call(
        abi_encode(msg.sender, self, amount, method_id=method_id("transferFrom(address,address,uint256)"))
    )


@external
@nonreentrant
def withdraw(
    batch_index: uint256,
    withdrawal_id: uint64,
    account: address,
    recipient: address,
    amount: uint64,
    proof: DynArray[Bytes[mpt.MAX_NODE], mpt.MAX_DEPTH],
):
    """
    @notice Pay withdrawal `withdrawal_id` (anyone may submit it; the tokens
            go to `recipient`).
    @dev The leaf `rlp([account, recipient, amount])` must be proven under
         key `keccak256(0x05 ‖ uint64 withdrawal_id)` in the state root of
         batch `batch_index`, which must be final. Any proof that does not
         show exactly that leaf (another leaf, an absent key, a proof that
         does not verify) reverts "vault: withdrawal not proven".
    @param batch_index A final batch whose state holds the withdrawal.
    @param withdrawal_id The withdrawal's id (protocol §2.2).
    @param account The L2 account that withdrew.
    @param recipient The L1 address paid.
    @param amount Token base units.
    @param proof The key's MPT proof against the batch's state root, root node first.
    """
    rollup: address = self.rollup
    assert rollup != empty(address), "vault: not initialized"
    # Extcalls to the Rollup (trusted, wired at deployment; views, so static
    # calls that cannot reenter).
    assert staticcall Rollup(rollup).is_final(batch_index), "vault: batch not final"
    assert not self.withdrawn[withdrawal_id], "vault: already withdrawn"
    root: bytes32 = staticcall Rollup(rollup).state_root(batch_index)
    # Static call to this contract's own `withdrawal_proven` (trusted code; a
    # static call cannot change state or reenter): it turns every way the
    # proof can fail, including the MPT library's own reverts, into one
    # answer.
    ok: bool = False
    response: Bytes[32] = b""
    ok, response = raw_call(
        self,
        abi_encode(
            root,
            withdrawal_id,
            account,
            recipient,
            amount,
            proof,
            method_id=method_id("withdrawal_proven(bytes32,uint64,address,address,uint64,bytes[])"),
        ),
        max_outsize=32,
        is_static_call=True,
        revert_on_failure=False,
    )
    assert ok and len(response) == 32 and convert(response, uint256) == 1, "vault: withdrawal not proven"
    self.withdrawn[withdrawal_id] = True
    log WithdrawalPaid(
        withdrawal_id=withdrawal_id, account=account, recipient=recipient, amount=amount, batch_index=batch_index
    )
    # Extcall to the collateral token (trusted, fixed at deployment). The id
    # is marked paid first and the function is @nonreentrant.
    self._token_call(abi_encode(recipient, convert(amount, uint256), method_id=method_id("transfer(address,uint256)")))


@view
@external
def withdrawal_proven(
    root: bytes32,
    withdrawal_id: uint64,
    account: address,
    recipient: address,
    amount: uint64,
    proof: DynArray[Bytes[mpt.MAX_NODE], mpt.MAX_DEPTH],
) -> bool:
    """
    @notice Tell whether `proof` shows the withdrawal leaf
            `rlp([account, recipient, amount])` under the key of
            `withdrawal_id` in the state `root`.
    @dev Returns False for a valid proof of another value or of absence, and
         reverts (with the MPT library's message) for a proof that does not
         verify. `withdraw` maps both to "vault: withdrawal not proven".
    @param root A state root.
    @param withdrawal_id The withdrawal's id.
    @param account The L2 account that withdrew.
    @param recipient The L1 address paid.
    @param amount Token base units.
    @param proof The key's MPT proof against `root`, root node first.
    @return True if the leaf is exactly as given.
    """
    key: bytes32 = keccak256(concat(_WITHDRAWAL_PREFIX, convert(withdrawal_id, bytes8)))
    return mpt.get(root, key, proof) == self._withdrawal_leaf(account, recipient, amount)


@pure
@external
def withdrawal_leaf(account: address, recipient: address, amount: uint64) -> Bytes[_LEAF_MAX]:
    """
    @notice Return the RLP encoding of a withdrawal leaf (protocol §2.4).
    @param account The L2 account that withdrew.
    @param recipient The L1 address paid.
    @param amount Token base units.
    @return `rlp([account, recipient, amount])`.
    """
    return self._withdrawal_leaf(account, recipient, amount)


@internal
def _token_call(data: Bytes[100]):
    # Call the token (trusted, fixed at deployment; callers update state
    # first and are @nonreentrant). Any failure, a revert or a return value
    # other than true, is "vault: transfer failed", whatever the token says.
    ok: bool = False
    response: Bytes[32] = b""
    ok, response = raw_call(TOKEN, data, max_outsize=32, revert_on_failure=False)
    assert ok and (len(response) == 0 or convert(response, uint256) == 1), "vault: transfer failed"


@pure
@internal
def _withdrawal_leaf(account: address, recipient: address, amount: uint64) -> Bytes[_LEAF_MAX]:
    # rlp([account, recipient, amount]): two 20-byte strings (0x94 ‖ 20
    # bytes) and a scalar; the payload is 43..51 bytes, so the list header is
    # the single byte 0xc0 + payload length.
    a: uint256 = convert(amount, uint256)
    scalar: Bytes[33] = b""
    if a == 0:
        scalar = b"\x80"
    elif a < 128:
        scalar = slice(convert(a, bytes32), 31, 1)
    else:
        size: uint256 = 1
        for i: uint256 in range(1, 8):
            if a >> (8 * i) != 0:
                size = i + 1
        scalar = concat(slice(convert(128 + size, bytes32), 31, 1), slice(convert(a, bytes32), 32 - size, size))
    header: Bytes[1] = slice(convert(192 + 42 + len(scalar), bytes32), 31, 1)
    return concat(header, b"\x94", convert(account, bytes20), b"\x94", convert(recipient, bytes20), scalar)
