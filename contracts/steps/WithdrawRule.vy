# pragma version ~=0.4.3
"""
@title WITHDRAW rule
@license MIT
@notice Re-executes one WITHDRAW transaction (protocol §6.4) on leaves the
        step runner already proved against the pre-state root, and returns
        the leaves it writes (docs/l1.md, "Step verifiers"; the interface is
        `lib/rule.vy`'s). The Vyper twin of `_withdraw` in
        optirollup/stf/transition.py.
@dev Reads, in the reference's order: nothing before the signature check;
     the account (absent: the zero account of §2.5); after checks 2-4 the
     market of every position, in position order (funding settlement); then
     the system leaf. A transaction failing a check has read only the leaves
     before it, so its witness holds only those. Writes, in the reference's
     first-write order: the account, the system leaf, the new withdrawal
     leaf `nextWithdrawalId` (inserted: ids only grow).
     Results: a wrong length (MALFORMED) reads nothing and writes nothing;
     a failing check writes nothing (a no-op). A witness that lacks a leaf
     the rule reads reverts "rule: missing proof"; a leaf that cannot be
     in a state reachable from genesis (an account leaf of another address,
     a position in an unlisted market, no system leaf, an undecodable leaf)
     reverts ("withdraw: ...", "leaves: ...", "rlp: ...").
"""

from ..lib import eip712
from ..lib import leaves
from ..lib import margin
from ..lib import rule

_WITHDRAW_TYPE: constant(Bytes[1]) = b"\x02"
_WITHDRAW_LEN: constant(uint256) = 122

# The EIP-712 domain separator of the deployment (protocol §3.1).
SEPARATOR: public(immutable(bytes32))


@deploy
def __init__(vault: address):
    """
    @notice Deploy the rule for the deployment whose Vault is `vault`.
    @param vault The Vault (the EIP-712 verifying contract).
    """
    assert vault.is_contract, "withdraw: vault not a contract"
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
    @notice Apply the WITHDRAW `transaction` to the proven leaves `keys` /
            `values` (protocol §6.4) and return the leaves it writes.
    @dev Checks, in the order of the reference: wrong length (MALFORMED,
         nothing read); 1. `sig` valid for the `Withdraw` digest, signer
         `account`; read account; 2. `nonce == acc.nonce`; 3. `amount != 0`;
         4. `recipient != 0`; settle funding (read the market of every
         position); read system; 5. `|collateral' - amount| <=
         MAX_COLLATERAL`, `acc.nonce < U64_MAX`, `nextWithdrawalId <
         U64_MAX`; 6. with the new account (collateral' - amount, nonce + 1):
         equity >= initial requirement. Reverts "withdraw: not a WITHDRAW"
         for another type byte.
    @param transaction The transaction bytes (protocol §4.3).
    @param batch_time The batch's time (unused by WITHDRAW).
    @param deposit_count The Vault's recorded queue length (unused).
    @param keys The keys the witness proved.
    @param values Their values (empty: absent).
    @return The bit mask of the entries read, then the keys and values
            written in first-write order (none: a no-op).
    """
    assert len(transaction) >= 1 and slice(transaction, 0, 1) == _WITHDRAW_TYPE, "withdraw: not a WITHDRAW"
    if len(transaction) != _WITHDRAW_LEN:
        # MALFORMED (protocol §4.4): decided before any leaf is read.
        return 0, [], []

    account: address = convert(convert(slice(transaction, 1, 20), bytes20), address)
    recipient: address = convert(convert(slice(transaction, 21, 20), bytes20), address)
    amount: uint64 = convert(slice(transaction, 41, 8), uint64)
    nonce: uint64 = convert(slice(transaction, 49, 8), uint64)

    # Check 1 (no leaf read yet).
    struct_hash: bytes32 = keccak256(abi_encode(eip712.WITHDRAW_TYPEHASH, account, recipient, amount, nonce))
    if not eip712.signed_by(eip712.digest(SEPARATOR, struct_hash), slice(transaction, 57, 65), account):
        return 0, [], []

    # Read the account.
    used: uint256 = 0
    i: uint256 = rule.find(keys, leaves.account_key(account))
    used |= 1 << i
    acc: leaves.Account = leaves.default_account(account)
    if len(values[i]) > 0:
        acc = leaves.decode_account(convert(values[i], Bytes[leaves.LEAF_MAX]))
        assert acc.addr == account, "withdraw: account leaf of another address"

    # Checks 2-4.
    if nonce != acc.nonce or amount == 0 or recipient == empty(address):
        return used, [], []

    # Settle funding: read the market of every position, in position order.
    markets: DynArray[margin.MarketRef, margin.MAX_MARKETS] = []
    for p: leaves.Position in acc.positions:
        i = rule.find(keys, leaves.market_key(p.market))
        used |= 1 << i
        assert len(values[i]) > 0, "withdraw: position in an unlisted market"
        m: leaves.Market = leaves.decode_market(convert(values[i], Bytes[leaves.LEAF_MAX]))
        markets.append(margin.market_ref(p.market, m))
    settled: leaves.Account = margin.settle_funding(acc, markets)

    # Read system.
    i = rule.find(keys, leaves.SYSTEM_KEY)
    used |= 1 << i
    assert len(values[i]) > 0, "withdraw: no system leaf"
    sys: leaves.System = leaves.decode_system(convert(values[i], Bytes[leaves.LEAF_MAX]))

    # Check 5 (every operand is far inside int256: no checked-arithmetic revert).
    collateral: int256 = settled.collateral - convert(amount, int256)
    if (
        abs(collateral) > leaves.MAX_COLLATERAL
        or acc.nonce == max_value(uint64)
        or sys.next_withdrawal_id == max_value(uint64)
    ):
        return used, [], []

    # Check 6.
    settled.collateral = collateral
    settled.nonce = acc.nonce + 1
    r: margin.Risk = margin.risk(settled, markets)
    if r.equity < r.initial:
        return used, [], []

    # Writes: account, system, withdrawal `wid`.
    wid: uint64 = sys.next_withdrawal_id
    sys.next_withdrawal_id = wid + 1
    w: leaves.Withdrawal = leaves.Withdrawal(account=account, recipient=recipient, amount=amount)
    write_keys: DynArray[bytes32, rule.MAX_WRITES] = [
        leaves.account_key(account),
        leaves.SYSTEM_KEY,
        leaves.withdrawal_key(wid),
    ]
    write_values: DynArray[Bytes[rule.MAX_VALUE], rule.MAX_WRITES] = [
        leaves.encode_account(settled),
        leaves.encode_system(sys),
        leaves.encode_withdrawal(w),
    ]
    return used, write_keys, write_values
