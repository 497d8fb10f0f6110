"""Executing a whole batch: receipts, the post-state root and, on demand, intermediate roots."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from optirollup.state.overlay import StateOverlay
from optirollup.stf.context import BatchContext
from optirollup.stf.receipt import Receipt
from optirollup.stf.transition import apply


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Receipts of every transaction, the final root, and the roots asked for."""

    receipts: tuple[Receipt, ...]
    post_root: bytes
    roots: dict[int, bytes]
    """``roots[i]`` is the state root after transaction ``i`` (0-based), for each asked ``i``."""


def execute(
    state: StateOverlay,
    txs: Sequence[bytes],
    ctx: BatchContext,
    roots_after: Iterable[int] = (),
) -> BatchResult:
    """Apply ``txs`` in order; compute roots after the listed indices and at the end.

    Asking for every index gives the per-transaction trace of the dispute game; asking for none
    is the sequencer's fast path (every touched leaf written once).
    """
    want = set(roots_after)
    roots: dict[int, bytes] = {}
    receipts = []
    for i, tx in enumerate(txs):
        receipts.append(apply(state, tx, ctx))
        if i in want:
            roots[i] = state.root()
    return BatchResult(tuple(receipts), state.root(), roots)


def trace(state: StateOverlay, txs: Sequence[bytes], ctx: BatchContext) -> list[bytes]:
    """Return ``[pre_root, root after tx 0, …, root after tx n-1]`` (n+1 roots)."""
    pre = state.root()
    result = execute(state, txs, ctx, roots_after=range(len(txs)))
    return [pre] + [result.roots[i] for i in range(len(txs))]
