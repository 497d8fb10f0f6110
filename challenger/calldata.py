"""Read a batch's transactions back from the input of its ``Rollup.propose`` transaction.

Core layer (pure: bytes in, bytes out; no web3). The Rollup accepts ``propose`` only when it is
ABI-encoded canonically (docs/l1.md, "Rollup"), so every reader decodes the same bytes::

    selector(4) ‖ prev_root(32) ‖ new_root(32) ‖ uint64 batch_time(32) ‖ offset = 128 (32)
              ‖ length(32) ‖ framed list (length bytes) ‖ zero padding to a multiple of 32

:func:`decode_propose` checks exactly that layout (anything else raises :class:`BadCalldata`:
garbage, another function, a truncated or padded-with-junk input), and :func:`batch_transactions`
splits the framed list (protocol §5.1) and checks it against what the ``BatchProposed`` event
says: the same roots, batch time and transaction count, and the commitment ``tx_root``
recomputed from the transactions (protocol §5.2). A batch that passes is exactly the one the
Rollup committed to, so its replay and its one-step proofs use the transactions L1 holds.
:func:`transactions_in` picks the proposal among several calls (a proposer that is a contract
calls ``propose`` from inside its own transaction; the shell finds the inner calls).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from challenger.errors import BadCalldata
from optirollup.codec.batch import decode_tx_list, tx_root
from optirollup.errors import MalformedBatch
from optirollup.hashing import keccak

__all__ = [
    "PROPOSE_SELECTOR",
    "PROPOSE_SIGNATURE",
    "BatchHeaderFields",
    "ProposeCall",
    "batch_transactions",
    "decode_propose",
    "encode_propose",
    "transactions_in",
]

PROPOSE_SIGNATURE = "propose(bytes32,bytes32,uint64,bytes)"
PROPOSE_SELECTOR = keccak(PROPOSE_SIGNATURE.encode())[:4]
"""The 4-byte selector of ``Rollup.propose``."""

_HEAD = 4 + 4 * 32  # selector and the four head words
_OFFSET = 4 * 32  # where the bytes argument starts, counted from after the selector


@dataclass(frozen=True, slots=True)
class ProposeCall:
    """The arguments of one ``Rollup.propose`` call."""

    prev_root: bytes
    new_root: bytes
    batch_time: int
    txs: bytes
    """The framed transaction list (protocol §5.1)."""


class BatchHeaderFields(Protocol):
    """What :func:`batch_transactions` compares with (a ``ProposedBatch`` has these fields)."""

    @property
    def index(self) -> int:
        """The batch index."""
        ...

    @property
    def prev_root(self) -> bytes:
        """The root the batch starts from."""
        ...

    @property
    def new_root(self) -> bytes:
        """The root the proposer asserts after the batch."""
        ...

    @property
    def tx_root(self) -> bytes:
        """The Rollup's commitment to the transactions."""
        ...

    @property
    def tx_count(self) -> int:
        """The number of transactions."""
        ...

    @property
    def batch_time(self) -> int:
        """The batch time."""
        ...


def _word(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 32], "big")


def decode_propose(data: bytes) -> ProposeCall:
    """Decode a canonical ``Rollup.propose`` input; raise :class:`BadCalldata` for anything else."""
    if len(data) < _HEAD + 32:
        raise BadCalldata(
            f"{len(data)} bytes of input; a propose call has at least {_HEAD + 32} (selector, "
            "four head words and the list length)"
        )
    if data[:4] != PROPOSE_SELECTOR:
        raise BadCalldata(
            f"selector 0x{data[:4].hex()} is not propose's 0x{PROPOSE_SELECTOR.hex()}: the "
            "proposal was not a direct call of Rollup.propose"
        )
    prev_root, new_root = data[4:36], data[36:68]
    batch_time = _word(data, 68)
    if batch_time >= 2**64:
        raise BadCalldata(f"batch_time word 0x{data[68:100].hex()} does not fit a uint64")
    offset = _word(data, 100)
    if offset != _OFFSET:
        raise BadCalldata(f"the bytes argument is at offset {offset}, canonical is {_OFFSET}")
    length = _word(data, _HEAD)
    start = _HEAD + 32
    padded = (length + 31) // 32 * 32
    if len(data) != start + padded:
        raise BadCalldata(
            f"a {length}-byte list takes {start + padded} bytes of input, got {len(data)}"
        )
    if any(data[start + length :]):
        raise BadCalldata("non-zero bytes in the padding after the transaction list")
    return ProposeCall(prev_root, new_root, batch_time, data[start : start + length])


def encode_propose(call: ProposeCall) -> bytes:
    """Return the canonical input of ``call`` (the inverse of :func:`decode_propose`)."""
    if len(call.prev_root) != 32 or len(call.new_root) != 32:
        raise ValueError("roots are 32 bytes")
    if not 0 <= call.batch_time < 2**64:
        raise ValueError(f"batch_time {call.batch_time} does not fit a uint64")
    pad = b"\x00" * ((-len(call.txs)) % 32)
    return b"".join(
        [
            PROPOSE_SELECTOR,
            call.prev_root,
            call.new_root,
            call.batch_time.to_bytes(32, "big"),
            _OFFSET.to_bytes(32, "big"),
            len(call.txs).to_bytes(32, "big"),
            call.txs,
            pad,
        ]
    )


def batch_transactions(data: bytes, batch: BatchHeaderFields) -> list[bytes]:
    """Return the transactions of ``batch`` from its proposal's input ``data``.

    Raise :class:`BadCalldata` unless the input is a canonical ``propose`` whose roots, batch
    time, transaction count and recomputed ``tx_root`` are the event's.
    """
    call = decode_propose(data)
    where = f"batch {batch.index}"
    if (call.prev_root, call.new_root, call.batch_time) != (
        batch.prev_root,
        batch.new_root,
        batch.batch_time,
    ):
        raise BadCalldata(
            f"{where}: the call says 0x{call.prev_root.hex()[:16]}… -> "
            f"0x{call.new_root.hex()[:16]}… at {call.batch_time}, the event "
            f"0x{batch.prev_root.hex()[:16]}… -> 0x{batch.new_root.hex()[:16]}… at "
            f"{batch.batch_time}: not this batch's proposal"
        )
    try:
        txs = decode_tx_list(call.txs)
    except MalformedBatch as err:
        raise BadCalldata(f"{where}: the transaction list does not decode: {err}") from err
    if len(txs) != batch.tx_count:
        raise BadCalldata(f"{where}: {len(txs)} transactions, the event says {batch.tx_count}")
    root = tx_root(txs)
    if root != batch.tx_root:
        raise BadCalldata(
            f"{where}: the transactions commit to 0x{root.hex()}, the event to "
            f"0x{batch.tx_root.hex()} (protocol §5.2)"
        )
    return txs


def transactions_in(inputs: Sequence[bytes], batch: BatchHeaderFields) -> list[bytes]:
    """Return the transactions of the first of ``inputs`` that is ``batch``'s proposal.

    ``inputs`` are the inputs of the calls to the Rollup made by the proposal transaction: its
    own input when the proposer called ``propose`` directly, the inner calls' when a contract
    (a multisig, a delegated account) did. Any input that passes :func:`batch_transactions`
    commits to the batch's ``tx_root``, so which one is read changes nothing. Raise
    :class:`BadCalldata` (with each input's reason) when none does.
    """
    if not inputs:
        raise BadCalldata(f"batch {batch.index}: no call to the Rollup's propose to read")
    reasons: list[str] = []
    for data in inputs:
        try:
            return batch_transactions(data, batch)
        except BadCalldata as err:
            reasons.append(str(err))
    raise BadCalldata(f"batch {batch.index}: none of {len(inputs)} calls is its proposal: "
                      + "; ".join(reasons))  # fmt: skip
