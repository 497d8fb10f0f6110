# pragma version ~=0.4.3
"""
@title One-step proof runner: proves the leaves, runs the rule, applies the writes
@license MIT
@notice Re-executes one transaction from an agreed pre-state root and
        returns the post-state root, for `DisputeGame.step` (docs/l1.md,
        "Step verifiers"). Registered with `DisputeGame.set_verifier(type,
        address)` for every type that has a rule. The transaction rules
        themselves live in rule contracts (`steps/*Rule.vy`, one per group
        of types, fixed at deployment): this contract proves the leaves the
        rule reads against `pre_root`, calls the rule on them, and applies
        the leaves it returns with MPT proofs.
@dev Witness (docs/l1.md, "Step witnesses"; built by
     optirollup/dispute/witness.py), all lengths big-endian:
         witness := u8 r ‖ read^r ‖ proof^w
         read    := key (32 bytes) ‖ proof      against pre_root
         proof   := u8 k ‖ (u16 n ‖ node (n bytes))^k
     The r reads are the leaves the reference STF reads (any order; the
     builder uses first-read order); their values are taken out of the
     proofs (`mpt.get`: an exclusion proof reads as absent). The w proofs
     are one per leaf the rule writes, in the rule's write order, each
     against the root the writes before it left, except that the first
     write reuses its key's read proof when there is one (the root is still
     `pre_root`). A witness that does not prove what the rule needs
     reverts ("step: ...", "rule: missing proof", "mpt: ...", "rlp: ...",
     "leaves: ..."); it never yields a root.
     Memory: Vyper copies `Bytes` and `DynArray` arguments by value and puts
     a function's frame above its callees', so the witness is parsed in
     `step`'s body, into one proof buffer reused for every proof, rather
     than by a helper that would take the witness as an argument.
"""

from ..lib import mpt
from ..lib import rule

interface Rule:
    def apply(
        transaction: Bytes[rule.MAX_TX_LEN],
        batch_time: uint64,
        deposit_count: uint64,
        keys: DynArray[bytes32, rule.MAX_READS],
        values: DynArray[Bytes[rule.MAX_VALUE], rule.MAX_READS],
    ) -> (uint256, DynArray[bytes32, rule.MAX_WRITES], DynArray[Bytes[rule.MAX_VALUE], rule.MAX_WRITES]): view


# Longest witness. A FILL reads up to 22 leaves and writes 5 (26 proofs, the
# first write reusing a read's): about 70 KB at 100,000 accounts and 90 KB at
# 10^6 leaves (each further level of full branches adds 532 bytes a proof).
# A DisputeGame.step transaction carrying it must stay under the 128 KiB
# transaction-pool limit of L1 clients, so this is the ceiling. Memory is
# paid for by this declared size on every step.
MAX_WITNESS: public(constant(uint256)) = 114688
# Transaction types 1..NUM_TYPES may have a rule.
NUM_TYPES: public(constant(uint256)) = 8
# Proofs a step can hold: every read and every write.
_MAX_PROOFS: constant(uint256) = rule.MAX_READS + rule.MAX_WRITES

# The rule contract of each type (index type - 1; zero: no rule).
RULES: public(immutable(address[NUM_TYPES]))


@deploy
def __init__(rules: address[NUM_TYPES]):
    """
    @notice Deploy the runner over the rule contracts of types 1..8.
    @param rules `rules[t - 1]` is the rule contract of type t, or the zero
           address if type t has none.
    """
    for r: address in rules:
        assert r == empty(address) or r.is_contract, "step: rule not a contract"
    RULES = rules


@view
@external
def step(
    pre_root: bytes32,
    transaction: Bytes[rule.MAX_TX_LEN],
    batch_time: uint64,
    deposit_count: uint64,
    witness: Bytes[MAX_WITNESS],
) -> bytes32:
    """
    @notice Return the state root after applying `transaction` to the state
            `pre_root` (protocol §6): the rule's writes applied, or
            `pre_root` for a transaction that fails a check.
    @dev Reverts "step: no rule" for a type without a rule contract.
    @param pre_root The agreed state root before the transaction.
    @param transaction The transaction bytes (protocol §4.3).
    @param batch_time The batch's time.
    @param deposit_count The Vault's queue length recorded for the batch.
    @param witness The reads and proofs (see the contract notes).
    @return The post-state root.
    """
    assert len(transaction) >= 1, "step: no rule"
    tx_type: uint256 = convert(slice(transaction, 0, 1), uint256)
    assert tx_type >= 1 and tx_type <= NUM_TYPES, "step: no rule"
    target: address = RULES[tx_type - 1]
    assert target != empty(address), "step: no rule"

    size: uint256 = len(witness)
    assert size >= 1, "step: missing proof"
    reads: uint256 = convert(slice(witness, 0, 1), uint256)
    self._well_formed(reads <= rule.MAX_READS)
    pos: uint256 = 1

    keys: DynArray[bytes32, rule.MAX_READS] = []
    values: DynArray[Bytes[rule.MAX_VALUE], rule.MAX_READS] = []
    offsets: DynArray[uint256, rule.MAX_READS] = []
    write_keys: DynArray[bytes32, rule.MAX_WRITES] = []
    write_values: DynArray[Bytes[rule.MAX_VALUE], rule.MAX_WRITES] = []
    root: bytes32 = pre_root
    # Offset of the first write's proof when it reuses a read's (else 0).
    reuse: uint256 = 0
    proof: DynArray[Bytes[mpt.MAX_NODE], mpt.MAX_DEPTH] = []
    for i: uint256 in range(_MAX_PROOFS):
        if i == reads:
            # Every read is proven: run the rule. Extcall to a rule contract
            # (trusted: fixed at deployment; a view, so a static call).
            used: uint256 = 0
            used, write_keys, write_values = staticcall Rule(target).apply(
                transaction, batch_time, deposit_count, keys, values
            )
            assert used == (1 << reads) - 1, "step: unused proof"
            if len(write_keys) == 0:
                break  # a failing check: a no-op
            for j: uint256 in range(len(keys), bound=rule.MAX_READS):
                if keys[j] == write_keys[0]:
                    reuse = offsets[j]
                    break
        if i >= reads + len(write_keys):
            break

        # Where this proof starts: a read is its key, then its proof.
        key: bytes32 = empty(bytes32)
        if i < reads:
            self._well_formed(pos + 32 <= size)
            key = extract32(witness, pos)
            pos += 32
        p: uint256 = pos
        if i == reads and reuse != 0:
            p = reuse
        start: uint256 = p
        # Parse the proof at p: u8 node count, then u16 length ‖ node each.
        assert p < size, "step: missing proof"
        count: uint256 = convert(slice(witness, p, 1), uint256)
        p += 1
        self._well_formed(count <= mpt.MAX_DEPTH)
        proof = []
        for _: uint256 in range(count, bound=mpt.MAX_DEPTH):
            self._well_formed(p + 2 <= size)
            n: uint256 = convert(slice(witness, p, 2), uint256)
            p += 2
            self._well_formed(n > 0 and n <= mpt.MAX_NODE and p + n <= size)
            # Narrow the node to Bytes[MAX_NODE] through a MAX_NODE-byte
            # window of the witness (a slice of variable length would be a
            # buffer of the witness's whole declared size).
            if size <= mpt.MAX_NODE:
                proof.append(slice(convert(witness, Bytes[mpt.MAX_NODE]), p, n))
            else:
                base: uint256 = min(p, size - mpt.MAX_NODE)
                proof.append(slice(slice(witness, base, mpt.MAX_NODE), p - base, n))
            p += n
        if not (i == reads and reuse != 0):
            pos = p

        if i < reads:
            keys.append(key)
            values.append(mpt.get(pre_root, key, proof))
            offsets.append(start)
        else:
            j: uint256 = i - reads
            root = mpt.update(root, write_keys[j], write_values[j], proof)
    assert pos == size, "step: witness too long"
    return root


@internal
@pure
def _well_formed(ok: bool):
    """
    @notice Revert "step: malformed witness" unless `ok`: more than
            MAX_READS reads, a proof of more than MAX_DEPTH nodes, a node of
            0 or more than MAX_NODE bytes, or a witness that ends inside a
            key or a proof.
    @param ok The condition.
    """
    assert ok, "step: malformed witness"
