# pragma version ~=0.4.3
"""
@title The interface between the step runner and the transaction rules
@license MIT
@notice A one-step proof is split in two contracts (docs/l1.md, "Step
        verifiers"): `steps/StepRunner.vy` parses the witness, proves every
        leaf it carries against the pre-state root and applies the writes;
        a rule contract (`steps/*Rule.vy`) re-executes the transaction on
        those leaves and returns the writes. This module holds what both
        sides share: the limits and the read helper.
@dev A rule's entry point is

         def apply(transaction: Bytes[MAX_TX_LEN], batch_time: uint64,
                   deposit_count: uint64,
                   keys: DynArray[bytes32, MAX_READS],
                   values: DynArray[Bytes[MAX_VALUE], MAX_READS])
             -> (uint256, DynArray[bytes32, MAX_WRITES],
                 DynArray[Bytes[MAX_VALUE], MAX_WRITES])

     (external and view).
     `keys[i]`/`values[i]` are the leaves the witness proved against the
     pre-state root (an empty value: the key is absent). The rule reads a
     leaf with `find(keys, key)` at the point where the reference STF first
     reads it, and returns the bit mask of the entries it read (bit i for
     `keys[i]`), then the keys and values it writes, in the reference's
     first-write order; no writes means the transaction is a no-op. The
     runner reverts unless the mask covers every entry, so a witness holds
     exactly the leaves the reference read.
"""

# Longest transaction bytes a step carries: the batch framing's limit
# (protocol §5.1, MAX_FRAMED_TX_LEN), which `DisputeGame.step` also takes;
# the longest valid transaction (protocol §1.3 MAX_TX_LEN, a FILL) is 263.
MAX_TX_LEN: constant(uint256) = 512
# Longest leaf value the runner proves (`mpt.MAX_VALUE`).
MAX_VALUE: constant(uint256) = 672
# Most leaves a rule reads: FILL's 2 accounts, 2 orders, system and up to
# 17 markets (protocol §6.12).
MAX_READS: constant(uint256) = 22
# Most leaves a rule writes: FILL's 2 accounts, 2 orders and system.
MAX_WRITES: constant(uint256) = 5


@internal
@pure
def find(keys: DynArray[bytes32, MAX_READS], key: bytes32) -> uint256:
    """
    @notice Return the index of `key` in `keys`.
    @dev Reverts "rule: missing proof" if the witness does not prove it.
    @param keys The keys the witness proved.
    @param key The key the rule reads.
    @return Its index (the rule sets bit `index` of its read mask).
    """
    for i: uint256 in range(len(keys), bound=MAX_READS):
        if keys[i] == key:
            return i
    raise "rule: missing proof"
