# pragma version ~=0.4.3
"""
@title CANCEL and CANCEL_ALL rule
@license MIT
@notice Re-executes one CANCEL or CANCEL_ALL transaction (protocol §6.10,
        §6.11) on leaves the step runner already proved, and returns the
        leaves to write (docs/l1.md, "Step verifiers"). The twin of
        `_cancel` and `_cancel_all` in optirollup/stf/transition.py.
        Registered for the types 0x06 and 0x07.
@dev Entry point and conventions: contracts/lib/rule.vy. Both types check
     the account's signature first, reading nothing; then CANCEL reads the
     order leaf (`account`, `orderHash`) and CANCEL_ALL the account leaf,
     and a valid transaction writes that one leaf back (inserting it if it
     was absent). Results:
       - wrong length (MALFORMED, protocol §4.4) or a bad signature:
         nothing read or written;
       - check 2 failing: the leaf read, no writes (a no-op);
       - applied: the leaf read and written.
     A leaf that does not decode, or an account leaf holding another
     address than its key's, reverts: no state reachable from genesis has
     one, so it is a corrupt witness, never a root.
"""

from ..lib import eip712
from ..lib import leaves
from ..lib import rule

# Type bytes and exact lengths (protocol §4.2).
_CANCEL: constant(uint256) = 6
_CANCEL_ALL: constant(uint256) = 7
_CANCEL_LEN: constant(uint256) = 118
_CANCEL_ALL_LEN: constant(uint256) = 94
# Every signed transaction ends with its 65-byte signature r ‖ s ‖ v.
_SIG_LEN: constant(uint256) = 65

# The EIP-712 domain separator of the deployment (protocol §3.1).
SEPARATOR: public(immutable(bytes32))


@deploy
def __init__(vault: address):
    """
    @notice Deploy the rule for the deployment whose Vault is `vault`.
    @param vault The Vault (the EIP-712 verifying contract).
    """
    assert vault.is_contract, "cancel: vault not a contract"
    SEPARATOR = eip712.domain_separator(chain.id, vault)


@view
@external
def apply(
    transaction: Bytes[rule.MAX_TX_LEN],
    batch_time: uint64,
    deposit_count: uint64,
    keys: DynArray[bytes32, rule.MAX_READS],
    values: DynArray[Bytes[rule.MAX_VALUE], rule.MAX_READS],
) -> (uint256, DynArray[bytes32, rule.MAX_WRITES], DynArray[Bytes[rule.MAX_VALUE], rule.MAX_WRITES]):
    """
    @notice Apply one CANCEL or CANCEL_ALL to the proven leaves
            `keys`/`values` and return the leaf it writes.
    @dev Checks, in the order of the reference (a failing one returns the
         read mask and no writes). Both: wrong length (MALFORMED, no read);
         1. the signature is valid for the message's digest and `account`
         (protocol §3.5).
         CANCEL: read order(`account`, `orderHash`) (absent: [0, false]);
         2. it is not cancelled. Writes [filled, true].
         CANCEL_ALL: read account(`account`) (absent: the zero account);
         2. `floor > cancelFloor`. Writes the account with cancelFloor =
         floor, the rest unchanged (no funding settlement).
         Reverts "cancel: not a cancel transaction" for another type byte.
    @param transaction The transaction bytes (protocol §4.3).
    @param batch_time The batch's time (unused).
    @param deposit_count The batch's deposit count (unused).
    @param keys The keys the runner proved.
    @param values Their values (empty: absent).
    @return The read mask, the written keys and their new values.
    """
    tx_type: uint256 = 0
    if len(transaction) > 0:
        tx_type = convert(slice(transaction, 0, 1), uint256)
    tx_len: uint256 = 0
    if tx_type == _CANCEL:
        tx_len = _CANCEL_LEN
    elif tx_type == _CANCEL_ALL:
        tx_len = _CANCEL_ALL_LEN
    else:
        raise "cancel: not a cancel transaction"
    if len(transaction) != tx_len:
        # MALFORMED (protocol §4.4): decided before any leaf is read.
        return 0, [], []

    account: address = convert(convert(slice(transaction, 1, 20), bytes20), address)
    sig: Bytes[_SIG_LEN] = slice(transaction, tx_len - _SIG_LEN, _SIG_LEN)

    if tx_type == _CANCEL:
        order_hash: bytes32 = extract32(transaction, 21)
        # Check 1.
        struct_hash: bytes32 = keccak256(abi_encode(eip712.CANCEL_TYPEHASH, account, order_hash))
        if not eip712.signed_by(eip712.digest(SEPARATOR, struct_hash), sig, account):
            return 0, [], []
        # Read the order; check 2; write it.
        key: bytes32 = leaves.order_key(account, order_hash)
        i: uint256 = rule.find(keys, key)
        st: leaves.OrderState = empty(leaves.OrderState)
        if len(values[i]) > 0:
            st = leaves.decode_order(convert(values[i], Bytes[leaves.LEAF_MAX]))
        if st.cancelled:
            return 1 << i, [], []
        st.cancelled = True
        return 1 << i, [key], [leaves.encode_order(st)]

    new_floor: uint64 = convert(slice(transaction, 21, 8), uint64)
    # Check 1.
    struct_hash: bytes32 = keccak256(abi_encode(eip712.CANCEL_ALL_TYPEHASH, account, new_floor))
    if not eip712.signed_by(eip712.digest(SEPARATOR, struct_hash), sig, account):
        return 0, [], []
    # Read the account; check 2; write it.
    key: bytes32 = leaves.account_key(account)
    i: uint256 = rule.find(keys, key)
    acc: leaves.Account = leaves.default_account(account)
    if len(values[i]) > 0:
        acc = leaves.decode_account(convert(values[i], Bytes[leaves.LEAF_MAX]))
        assert acc.addr == account, "cancel: account leaf of another address"
    if new_floor <= acc.cancel_floor:
        return 1 << i, [], []
    acc.cancel_floor = new_floor
    return 1 << i, [key], [leaves.encode_account(acc)]
