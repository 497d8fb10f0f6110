# pragma version ~=0.4.3
"""
@title DEPOSIT rule
@license MIT
@notice Re-executes one DEPOSIT transaction (protocol §6.3) on leaves the
        step runner (`steps/StepRunner.vy`) proved, and returns the leaves
        to write. The interface is `lib/rule.vy`'s.
@dev Reads system, then the account; writes the account (inserted if
     absent), then system.
"""

from ..lib import leaves
from ..lib import rule

interface Vault:
    def deposit_hashes(index: uint64) -> bytes32: view


_DEPOSIT_TYPE: constant(Bytes[1]) = b"\x01"
_DEPOSIT_LEN: constant(uint256) = 37

VAULT: public(immutable(address))


@deploy
def __init__(vault: address):
    """
    @notice Deploy the rule for the deposit queue of `vault`.
    @param vault The Vault whose `deposit_hashes` DEPOSITs consume.
    """
    assert vault.is_contract, "deposit: vault not a contract"
    VAULT = vault


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
    @notice Apply the DEPOSIT `transaction` to the proven leaves.
    @dev Checks, in the order of the reference: wrong length (MALFORMED);
         1. `index < deposit_count` and the Vault's hash of entry `index`
         is keccak256(transaction); read system; 2. `index` is the system's
         `nextDepositIndex`; 3. `amount != 0`; read the account (absent:
         zero account); 4. `collateral + amount <= 2^127 - 1` and
         `index < 2^64 - 1`. Reverts "deposit: not a DEPOSIT" for another
         type byte.
    @param transaction The transaction bytes (protocol §4.3).
    @param batch_time The batch's time (unused by DEPOSIT).
    @param deposit_count The Vault's queue length recorded for the batch.
    @param keys The proven keys.
    @param values Their values (empty: absent).
    @return The mask of the entries read, and the keys and values to write
            (none for a no-op).
    """
    assert len(transaction) >= 1 and slice(transaction, 0, 1) == _DEPOSIT_TYPE, "deposit: not a DEPOSIT"
    if len(transaction) != _DEPOSIT_LEN:
        return 0, [], []  # MALFORMED (protocol §4.4): nothing read

    index: uint64 = convert(slice(transaction, 1, 8), uint64)
    account: address = convert(convert(slice(transaction, 9, 20), bytes20), address)
    amount: uint64 = convert(slice(transaction, 29, 8), uint64)

    # Check 1. Extcall to the Vault: trusted (immutable, fixed at deployment)
    # and a view, so a static call that cannot reenter. An index at or past
    # the recorded queue length is unknown whatever the Vault holds now.
    if index >= deposit_count:
        return 0, [], []
    if staticcall Vault(VAULT).deposit_hashes(index) != keccak256(transaction):
        return 0, [], []

    # Read system; checks 2 and 3.
    i: uint256 = rule.find(keys, leaves.SYSTEM_KEY)
    used: uint256 = 1 << i
    assert len(values[i]) > 0, "deposit: no system leaf"
    sys: leaves.System = leaves.decode_system(convert(values[i], Bytes[leaves.LEAF_MAX]))
    if index != sys.next_deposit_index or amount == 0:
        return used, [], []

    # Read the account; check 4.
    account_key: bytes32 = leaves.account_key(account)
    i = rule.find(keys, account_key)
    used |= 1 << i
    acc: leaves.Account = leaves.default_account(account)
    if len(values[i]) > 0:
        acc = leaves.decode_account(convert(values[i], Bytes[leaves.LEAF_MAX]))
        assert acc.addr == account, "deposit: account leaf of another address"
    collateral: int256 = acc.collateral + convert(amount, int256)
    if collateral > leaves.MAX_COLLATERAL or index == max_value(uint64):
        return used, [], []

    acc.collateral = collateral
    sys.next_deposit_index += 1
    # leaves.ACCOUNT_MAX and SYSTEM_MAX <= rule.MAX_VALUE.
    return used, [account_key, leaves.SYSTEM_KEY], [
        leaves.encode_account(acc),
        leaves.encode_system(sys),
    ]
