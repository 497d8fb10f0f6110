# pragma version ~=0.4.3
"""
@title DEPOSIT one-step verifier
@license MIT
@notice Re-executes one DEPOSIT transaction (protocol §6.3) from an agreed
        pre-state root and returns the post-state root, for
        `DisputeGame.step` (docs/l1.md, "Step verifiers"). Registered with
        `DisputeGame.set_verifier(0x01, address)`.
@dev Witness (docs/l1.md, "Step witnesses"; built by
     optirollup/dispute/witness.py): a concatenation of MPT proofs, each
     `u8 node_count ‖ (u16 length ‖ node)*`, in this order:
       1. the system leaf's proof against `pre_root`;
       2. the account leaf's proof against `pre_root` (an exclusion proof
          if the account is absent);
       3. the system leaf's proof against the root after the account write.
     The account write reuses proof 2 (the root is still `pre_root`). Leaf
     values are not sent: they are read out of the proofs. A transaction
     that fails a check carries only the proofs read before that check (none
     for a wrong length or an unknown deposit, one after check 2 or 3 fails,
     two after check 4 fails), and the witness must end exactly there.
     Results: a transaction of the wrong length or failing a check returns
     `pre_root` (a no-op); a valid one returns the new root. A witness that
     does not prove what the rule reads reverts ("deposit: ...", "mpt: ...",
     "rlp: ...", "leaves: ..."); it never yields a root.
     Memory: Vyper copies `Bytes` and `DynArray` arguments by value and puts
     a function's frame above its callees', so the witness is parsed here,
     in `step`'s body, into one proof buffer reused for the three proofs,
     rather than by a helper that would take the witness as an argument.
"""

from ..lib import leaves
from ..lib import mpt

interface Vault:
    def deposit_hashes(index: uint64) -> bytes32: view


# Longest transaction `DisputeGame.step` forwards (protocol §5.1).
MAX_TX_LEN: public(constant(uint256)) = 512
# Longest witness: three proofs of 65 nodes fit as long as each averages
# under 168 bytes a node, i.e. even paths through 64 nested branches in a
# trie of about 10^8 keys (full branches of 532 bytes near the root, two-
# child branches of about 84 bytes below). Memory is paid for by this
# declared size, so it is not the DisputeGame's 128 KiB.
MAX_WITNESS: public(constant(uint256)) = 32768

_DEPOSIT_TYPE: constant(Bytes[1]) = b"\x01"
_DEPOSIT_LEN: constant(uint256) = 37
# Proofs a valid DEPOSIT reads: system, account, then system again.
_PROOFS: constant(uint256) = 3

VAULT: public(immutable(address))


@deploy
def __init__(vault: address):
    """
    @notice Deploy the verifier for the deposit queue of `vault`.
    @param vault The Vault whose `deposit_hashes` DEPOSITs consume.
    """
    assert vault.is_contract, "deposit: vault not a contract"
    VAULT = vault


@view
@external
def step(
    pre_root: bytes32,
    transaction: Bytes[MAX_TX_LEN],
    batch_time: uint64,
    deposit_count: uint64,
    witness: Bytes[MAX_WITNESS],
) -> bytes32:
    """
    @notice Return the state root after applying the DEPOSIT `transaction` to
            the state `pre_root` (protocol §6.3).
    @dev Checks, in the order of the reference: wrong length (MALFORMED);
         1. `index < deposit_count` and the Vault's hash of entry `index`
         is keccak256(transaction); read system; 2. `index` is the system's
         `nextDepositIndex`; 3. `amount != 0`; read the account (absent:
         zero account); 4. `collateral + amount <= 2^127 - 1` and
         `index < 2^64 - 1`. A failing check returns `pre_root`. Otherwise
         writes the account (collateral += amount; inserted if absent) and
         the system leaf (nextDepositIndex += 1) and returns the new root.
         Reverts "deposit: not a DEPOSIT" for another type byte.
    @param pre_root The agreed state root before the transaction.
    @param transaction The transaction bytes (protocol §4.3).
    @param batch_time The batch's time (unused by DEPOSIT).
    @param deposit_count The Vault's queue length recorded for the batch.
    @param witness The proofs (see the contract notes).
    @return The post-state root.
    """
    assert len(transaction) >= 1 and slice(transaction, 0, 1) == _DEPOSIT_TYPE, "deposit: not a DEPOSIT"
    size: uint256 = len(witness)
    if len(transaction) != _DEPOSIT_LEN:
        # MALFORMED (protocol §4.4): decided before any leaf is read.
        self._consumed(0, size)
        return pre_root

    index: uint64 = convert(slice(transaction, 1, 8), uint64)
    account: address = convert(convert(slice(transaction, 9, 20), bytes20), address)
    amount: uint64 = convert(slice(transaction, 29, 8), uint64)

    # Check 1. Extcall to the Vault: trusted (immutable, fixed at deployment)
    # and a view, so a static call that cannot reenter. An index at or past
    # the recorded queue length is unknown whatever the Vault holds now.
    known: bool = False
    if index < deposit_count:
        known = staticcall Vault(VAULT).deposit_hashes(index) == keccak256(transaction)
    if not known:
        self._consumed(0, size)
        return pre_root

    account_key: bytes32 = leaves.account_key(account)
    result: bytes32 = pre_root
    sys: leaves.System = empty(leaves.System)
    pos: uint256 = 0
    proof: DynArray[Bytes[mpt.MAX_NODE], mpt.MAX_DEPTH] = []
    for slot: uint256 in range(_PROOFS):
        # Read the next proof: u8 node count, then u16 length ‖ node each.
        assert pos < size, "deposit: missing proof"
        count: uint256 = convert(slice(witness, pos, 1), uint256)
        pos += 1
        self._well_formed(count <= mpt.MAX_DEPTH)
        proof = []
        for i: uint256 in range(count, bound=mpt.MAX_DEPTH):
            self._well_formed(pos + 2 <= size)
            n: uint256 = convert(slice(witness, pos, 2), uint256)
            pos += 2
            self._well_formed(n > 0 and n <= mpt.MAX_NODE and pos + n <= size)
            # Narrow the node to Bytes[MAX_NODE] through a MAX_NODE-byte
            # window of the witness (a slice of variable length would be a
            # buffer of the witness's whole declared size).
            if size <= mpt.MAX_NODE:
                proof.append(slice(convert(witness, Bytes[mpt.MAX_NODE]), pos, n))
            else:
                base: uint256 = min(pos, size - mpt.MAX_NODE)
                proof.append(slice(slice(witness, base, mpt.MAX_NODE), pos - base, n))
            pos += n

        if slot == 0:
            # Read system; checks 2 and 3.
            raw: Bytes[mpt.MAX_VALUE] = mpt.get(pre_root, leaves.SYSTEM_KEY, proof)
            assert len(raw) > 0, "deposit: no system leaf"
            sys = leaves.decode_system(convert(raw, Bytes[leaves.LEAF_MAX]))
            if index != sys.next_deposit_index or amount == 0:
                break
        elif slot == 1:
            # Read the account; check 4; write it (with the same proof: the
            # root is still pre_root).
            raw: Bytes[mpt.MAX_VALUE] = mpt.get(pre_root, account_key, proof)
            acc: leaves.Account = leaves.default_account(account)
            if len(raw) > 0:
                acc = leaves.decode_account(convert(raw, Bytes[leaves.LEAF_MAX]))
                assert acc.addr == account, "deposit: account leaf of another address"
            collateral: int256 = acc.collateral + convert(amount, int256)
            if collateral > leaves.MAX_COLLATERAL or index == max_value(uint64):
                break
            acc.collateral = collateral
            leaf: Bytes[leaves.ACCOUNT_MAX] = leaves.encode_account(acc)
            # leaves.ACCOUNT_MAX <= mpt.MAX_VALUE: every account leaf is provable.
            result = mpt.update(pre_root, account_key, leaf, proof)
        else:
            # Write system (with its proof against the root after the
            # account write).
            sys.next_deposit_index += 1
            result = mpt.update(result, leaves.SYSTEM_KEY, leaves.encode_system(sys), proof)
    self._consumed(pos, size)
    return result


@internal
@pure
def _well_formed(ok: bool):
    """
    @notice Revert "deposit: malformed witness" unless `ok`: a proof of more
            than MAX_DEPTH nodes, a node of 0 or more than MAX_NODE bytes, or
            a witness that ends inside a proof.
    @dev One revert site (each `assert` with a message costs about 160 bytes
         of code, and the verifier must fit EIP-170).
    @param ok The condition.
    """
    assert ok, "deposit: malformed witness"


@internal
@pure
def _consumed(pos: uint256, size: uint256):
    """
    @notice Revert "deposit: witness too long" unless the witness ends at
            `pos`: it holds proofs the rule did not read.
    @param pos Offset after the last proof read.
    @param size The witness's length.
    """
    assert pos == size, "deposit: witness too long"
