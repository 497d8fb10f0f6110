"""Build the witnesses of one-step proofs: the one place they are made, for defender and challenger.

A step verifier (``contracts/steps/*.vy``) re-executes one transaction from an agreed pre-state
root. It needs the leaves the transaction reads, each with its Merkle-Patricia proof against the
pre-state root, and for each leaf it writes a proof against the root the previous write left.
:func:`build_witness` learns which leaves those are by running the reference STF
(:func:`optirollup.stf.apply`) on a scratch :class:`~optirollup.state.overlay.StateOverlay`
that records every first read and every write, then cuts the proofs out of the node store.

Witness format (normative: ``docs/l1.md``, "Step witnesses")::

    witness := u8 r ‖ read^r ‖ proof^w         (r ≤ MAX_READS)
    read    := key (32 bytes) ‖ proof          (against the pre-state root)
    proof   := u8 node_count ‖ node*           (node_count ≤ MAX_PROOF_NODES)
    node    := u16 length ‖ bytes              (1 ≤ length ≤ MAX_NODE; big-endian length)

The step runner (``contracts/steps/StepRunner.vy``) proves every read against the pre-state root
and hands the leaves to the transaction's rule contract, which must read exactly those. The
reads are the leaves the reference first reads, in that order (an exclusion proof for an absent
leaf; a leaf read after the transaction wrote it needs no proof). Then one proof per leaf
**written**, in the order the reference first writes it, each against the root after the writes
before it, **except the first write when its key was read**: the root is still the pre-state
root, so the runner reuses that read's proof.

Leaf values travel inside the proofs (the leaf node holds the value), never separately. A
transaction that fails a check reads only the leaves before that check and writes nothing; a
transaction that reads nothing (MALFORMED, an unknown deposit) has the witness ``b"\x00"``.

This module is pure: no web3, no disk, no clock. :func:`step_inputs` adds the transaction's
inclusion proof for ``DisputeGame.step``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from optirollup.codec.batch import tx_proof
from optirollup.codec.tx import TxType
from optirollup.errors import OptiRollupError
from optirollup.state import mpt
from optirollup.state.keys import SYSTEM_KEY, account_key, market_key, order_key, withdrawal_key
from optirollup.state.leaves import Account, Market, OrderState, System, Withdrawal
from optirollup.state.overlay import StateOverlay
from optirollup.state.store import LayeredStore, NodeStore
from optirollup.stf.context import BatchContext
from optirollup.stf.receipt import Receipt
from optirollup.stf.transition import apply

__all__ = [
    "MAX_NODE",
    "MAX_PROOF_NODES",
    "MAX_READS",
    "MAX_VALUE",
    "MAX_WITNESS",
    "BadWitness",
    "DisputeError",
    "StepInputs",
    "StepWitness",
    "UnprovableStep",
    "build_step_witness",
    "build_witness",
    "decode_witness",
    "encode_witness",
    "step_inputs",
]

MAX_NODE = 712
"""Longest proof node the on-chain MPT library takes (``contracts/lib/mpt.vy`` ``MAX_NODE``)."""

MAX_PROOF_NODES = 65
"""Most nodes in one proof (``contracts/lib/mpt.vy`` ``MAX_DEPTH``)."""

MAX_VALUE = 672
"""Longest leaf value the on-chain MPT library reads or writes (``mpt.vy`` ``MAX_VALUE``)."""

MAX_READS = 22
"""Most leaves one step reads (FILL; ``contracts/lib/rule.vy`` ``MAX_READS``)."""

MAX_WITNESS = 114_688
"""The step runner's declared witness maximum (``contracts/steps/StepRunner.vy``)."""


class DisputeError(OptiRollupError):
    """Base of the errors of the dispute package."""


class BadWitness(DisputeError):
    """Bytes that do not decode as a step witness."""


class UnprovableStep(DisputeError):
    """A step whose witness the verifier cannot accept (a node, value or witness too big)."""


@dataclass(frozen=True, slots=True)
class StepWitness:
    """Everything :func:`build_step_witness` learned about one transaction."""

    pre_root: bytes
    post_root: bytes
    receipt: Receipt
    reads: tuple[bytes, ...]
    """Keys read, in first-read order (a key written before being read is not listed)."""
    writes: tuple[tuple[bytes, bytes], ...]
    """``(key, new value)`` written, in first-write order (the last value of each key)."""
    proofs: tuple[tuple[bytes, ...], ...]
    """The proofs in witness order (see the module notes)."""

    def encode(self) -> bytes:
        """Return the witness bytes the step runner takes."""
        return encode_witness(self.reads, self.proofs)


@dataclass(frozen=True, slots=True)
class StepInputs:
    """The arguments of ``DisputeGame.step`` for transaction ``index`` of a batch."""

    index: int
    tx: bytes
    tx_proof: tuple[bytes, ...]
    """The 16 sibling hashes of ``tx`` against the batch's ``tx_root``, leaf level first."""
    witness: bytes
    pre_root: bytes
    post_root: bytes
    """The root an honest verifier computes: compare it with the asserted one."""


class _Recorder:
    """A LeafState over a StateOverlay that records the keys read and the leaves written."""

    def __init__(self, state: StateOverlay) -> None:
        self._state = state
        self.reads: dict[bytes, None] = {}
        self.writes: dict[bytes, bytes] = {}

    def _read(self, key: bytes) -> None:
        if key not in self.writes:
            self.reads.setdefault(key, None)

    def account(self, address: bytes) -> Account:
        self._read(account_key(address))
        return self._state.account(address)

    def order(self, account: bytes, order_hash: bytes) -> OrderState:
        self._read(order_key(account, order_hash))
        return self._state.order(account, order_hash)

    def market(self, market_id: int) -> Market | None:
        self._read(market_key(market_id))
        return self._state.market(market_id)

    def system(self) -> System:
        self._read(SYSTEM_KEY)
        return self._state.system()

    def set_account(self, acc: Account) -> None:
        self.writes[account_key(acc.address)] = acc.encode()
        self._state.set_account(acc)

    def set_order(self, account: bytes, order_hash: bytes, st: OrderState) -> None:
        self.writes[order_key(account, order_hash)] = st.encode()
        self._state.set_order(account, order_hash, st)

    def set_market(self, market_id: int, m: Market) -> None:
        self.writes[market_key(market_id)] = m.encode()
        self._state.set_market(market_id, m)

    def set_system(self, s: System) -> None:
        self.writes[SYSTEM_KEY] = s.encode()
        self._state.set_system(s)

    def set_withdrawal(self, withdrawal_id: int, w: Withdrawal) -> None:
        self.writes[withdrawal_key(withdrawal_id)] = w.encode()
        self._state.set_withdrawal(withdrawal_id, w)


def _check_value(key: bytes, value: bytes, what: str) -> None:
    if len(value) > MAX_VALUE:
        raise UnprovableStep(
            f"{what} leaf 0x{key.hex()} is {len(value)} bytes; the on-chain MPT library takes "
            f"values of at most {MAX_VALUE} bytes (contracts/lib/mpt.vy MAX_VALUE), so no "
            "verifier can prove this step: raise MAX_VALUE to the protocol's longest leaf"
        )


def build_step_witness(
    store: NodeStore, pre_root: bytes, tx: bytes, ctx: BatchContext
) -> StepWitness:
    """Run ``tx`` on a scratch overlay of ``pre_root`` and return its witness and post-root.

    ``store`` must hold the trie of ``pre_root``; nothing is written to it (new nodes go to
    scratch layers). Raise :class:`UnprovableStep` if a proof, a node, a leaf value or the
    witness exceeds what the on-chain verifier accepts.
    """
    overlay = StateOverlay(store, pre_root)
    rec = _Recorder(overlay)
    receipt = apply(rec, tx, ctx)
    post_root = overlay.root()

    reads = tuple(rec.reads)
    proofs: list[tuple[bytes, ...]] = []
    for key in reads:
        proof = tuple(mpt.get_proof(store, pre_root, key))
        _check_value(key, mpt.verify_proof(pre_root, key, proof), "read")
        proofs.append(proof)

    scratch = LayeredStore(store)
    root = pre_root
    writes = tuple(rec.writes.items())
    for i, (key, value) in enumerate(writes):
        _check_value(key, value, "written")
        if not (i == 0 and key in rec.reads):
            proofs.append(tuple(mpt.get_proof(scratch, root, key)))
        root = mpt.bulk_update(scratch, root, {key: value})
    if root != post_root:  # the trie is canonical: one write at a time must agree with bulk
        raise AssertionError(
            f"sequential writes reach 0x{root.hex()}, the overlay 0x{post_root.hex()}"
        )

    witness = StepWitness(pre_root, post_root, receipt, reads, writes, tuple(proofs))
    size = len(witness.encode())
    if size > MAX_WITNESS:
        name = TxType(tx[0]).name if tx and tx[0] in set(TxType) else "transaction"
        raise UnprovableStep(
            f"the witness of this {name} is {size} bytes, over the step runner's MAX_WITNESS "
            f"of {MAX_WITNESS}"
        )
    return witness


def build_witness(store: NodeStore, pre_root: bytes, tx: bytes, ctx: BatchContext) -> bytes:
    """Return the witness bytes of ``tx`` applied to the state ``pre_root`` (see the module)."""
    return build_step_witness(store, pre_root, tx, ctx).encode()


def encode_witness(reads: Sequence[bytes], proofs: Sequence[Sequence[bytes]]) -> bytes:
    """Encode a witness: ``u8 len(reads) ‖ (key ‖ proof)`` per read, then the write proofs.

    ``proofs`` holds the read proofs first (one per key of ``reads``, in order), then the write
    proofs. Raise :class:`UnprovableStep` for more than ``MAX_READS`` reads, a proof of more
    than ``MAX_PROOF_NODES`` nodes or a node of more than ``MAX_NODE`` bytes (the runner would
    reject them), ``ValueError`` for an empty node, a key that is not 32 bytes, or fewer proofs
    than reads.
    """
    if len(reads) > MAX_READS:
        raise UnprovableStep(f"{len(reads)} reads; the step runner takes at most {MAX_READS}")
    if len(proofs) < len(reads):
        raise ValueError(f"{len(reads)} reads but only {len(proofs)} proofs")
    out = bytearray([len(reads)])
    for i, proof in enumerate(proofs):
        if i < len(reads):
            if len(reads[i]) != 32:
                raise ValueError(f"read {i}: a key is 32 bytes, got {len(reads[i])}")
            out += reads[i]
        if len(proof) > MAX_PROOF_NODES:
            raise UnprovableStep(
                f"proof {i} has {len(proof)} nodes; the runner takes at most {MAX_PROOF_NODES}"
            )
        out.append(len(proof))
        for node in proof:
            if not node:
                raise ValueError(f"proof {i} holds an empty node")
            if len(node) > MAX_NODE:
                raise UnprovableStep(
                    f"proof {i} holds a {len(node)}-byte node; the runner takes nodes of at "
                    f"most {MAX_NODE} bytes (contracts/lib/mpt.vy MAX_NODE)"
                )
            out += len(node).to_bytes(2, "big") + node
    return bytes(out)


def decode_witness(data: bytes) -> tuple[list[bytes], list[list[bytes]]]:
    """Split witness bytes into read keys and proofs (reads first, as :func:`encode_witness`).

    As strict as the runner's parser: raise :class:`BadWitness` for an empty witness, more than
    ``MAX_READS`` reads, a key or proof cut short, a proof of more than ``MAX_PROOF_NODES``
    nodes, or a node of 0 or more than ``MAX_NODE`` bytes.
    """
    if not data:
        raise BadWitness("an empty witness: it starts with the number of reads")
    reads = data[0]
    if reads > MAX_READS:
        raise BadWitness(f"{reads} reads > {MAX_READS}")
    keys: list[bytes] = []
    proofs: list[list[bytes]] = []
    pos, end = 1, len(data)
    while pos < end or len(keys) < reads:
        if len(keys) < reads:
            if pos + 32 > end:
                raise BadWitness(f"witness ends inside the key of read {len(keys)} at byte {pos}")
            keys.append(data[pos : pos + 32])
            pos += 32
        if pos >= end:
            raise BadWitness(f"witness ends before proof {len(proofs)} at byte {pos}")
        count = data[pos]
        pos += 1
        if count > MAX_PROOF_NODES:
            raise BadWitness(
                f"proof {len(proofs)} at byte {pos - 1} claims {count} nodes > {MAX_PROOF_NODES}"
            )
        proof: list[bytes] = []
        for _ in range(count):
            if pos + 2 > end:
                raise BadWitness(f"witness ends inside the length of a node at byte {pos}")
            n = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
            if not 1 <= n <= MAX_NODE or pos + n > end:
                raise BadWitness(
                    f"node at byte {pos - 2}: length {n} not in 1..{MAX_NODE} or past the end "
                    f"({end} bytes)"
                )
            proof.append(data[pos : pos + n])
            pos += n
        proofs.append(proof)
    return keys, proofs


def step_inputs(
    store: NodeStore, pre_root: bytes, txs: Sequence[bytes], index: int, ctx: BatchContext
) -> StepInputs:
    """Return the ``DisputeGame.step`` arguments for transaction ``index`` of a batch.

    ``pre_root`` is the agreed root before that transaction (``R_index`` of the trace) and
    ``ctx`` the batch's context (its ``deposit_hashes`` limited to the queue length the Rollup
    recorded). The inclusion proof comes from :func:`optirollup.codec.batch.tx_proof`.
    """
    tx = txs[index]
    built = build_step_witness(store, pre_root, tx, ctx)
    return StepInputs(
        index=index,
        tx=tx,
        tx_proof=tuple(tx_proof(txs, index)),
        witness=built.encode(),
        pre_root=pre_root,
        post_root=built.post_root,
    )
