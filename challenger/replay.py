"""Re-executing a batch as the challenger: check every batch, trace only the ones it plays.

The challenger must keep up with the node, so it does the least work that gives a verdict on
every batch, and the full work only for the few batches it disputes:

* :func:`check_batch` applies a batch's transactions with the reference STF
  (:func:`optirollup.stf.batch.execute`, no intermediate root) to a
  :class:`~optirollup.state.overlay.StateOverlay` of the challenger's own pre-root and computes
  the post-root once. The trie nodes of the post-state and ``post/<key>`` are written in one
  atomic, synced write (:meth:`challenger.store.TraceStore.put_post`), so the post-state is the
  pre-state of the next batch and a restart never replays a checked batch again. The verdict is
  the comparison of this post-root with the posted one (:func:`challenger.core.walk`): storing
  the post-root records it.
* :func:`trace_batch` re-executes a batch with a root after every transaction
  (:func:`optirollup.stf.batch.trace`), from the pre-state the challenger already holds (trie
  nodes are never deleted, so a checked batch's pre-state stays readable whatever was checked
  after it), and stores the trace ``R_0 … R_n`` with the nodes of every intermediate state in
  one atomic write (:meth:`challenger.store.TraceStore.put`): the one-step proof of any
  transaction is cut from them, and a restart finds the trace instead of building it again.
  The challenger builds one only for a batch it must play: a wrong root, or the
  ``dishonest_batch`` of the test mode. A trace whose last root is not the post-root the check
  recorded under the same key is refused (:class:`~challenger.errors.ReplayMismatch`): a game
  is never played, nor a bond staked, on a verdict its own trace does not reproduce.

Both take the batch's content address (:func:`challenger.core.trace_key`), so the same inputs
always land under the same key, and a changed batch never reuses a stale result. Neither reads
the clock nor L1: the caller times them (:mod:`challenger.agent`, ``bench/dispute.py``) and
reads the transactions and the deposits. A recovery memo in ``ctx.signer_cache`` shared by the
check and the trace of a batch spares the trace every signature recovery.
"""

from __future__ import annotations

from collections.abc import Sequence

from challenger.errors import ReplayMismatch
from challenger.store import TraceStore
from optirollup.state.overlay import StateOverlay
from optirollup.stf import BatchContext
from optirollup.stf.batch import execute
from optirollup.stf.batch import trace as stf_trace

__all__ = ["check_batch", "trace_batch"]


def check_batch(
    store: TraceStore, key: bytes, prev_root: bytes, txs: Sequence[bytes], ctx: BatchContext
) -> bytes:
    """Re-execute ``txs`` from ``prev_root``, store the post-state under ``key``; return its root.

    Only the post-root is computed (every touched leaf written into the trie once). Its trie
    nodes and ``post/<key>`` are written atomically, so after it returns the post-state can be
    read and checked from, and :meth:`~challenger.store.TraceStore.post_root` gives the root
    across restarts. Raise :class:`~optirollup.state.store.MissingTrieNode` if ``store`` does
    not hold the state of ``prev_root`` (nothing is written then).
    """
    overlay = StateOverlay(store.nodes, prev_root)
    post = execute(overlay, txs, ctx).post_root
    store.put_post(key, post, overlay.pending_nodes())
    return post


def trace_batch(
    store: TraceStore, key: bytes, prev_root: bytes, txs: Sequence[bytes], ctx: BatchContext
) -> list[bytes]:
    """Re-execute ``txs`` from ``prev_root`` with a root after each; store and return the trace.

    Return ``[prev_root, R_1, …, R_n]``. The trace and the trie nodes of every intermediate
    state are written under ``key`` atomically, so any step can be proven from the store, now
    or after a restart. Raise :class:`~challenger.errors.ReplayMismatch` (writing nothing) if
    the trace ends elsewhere than the post-root already recorded under ``key``, and
    :class:`~optirollup.state.store.MissingTrieNode` if ``store`` does not hold the state of
    ``prev_root``.
    """
    overlay = StateOverlay(store.nodes, prev_root)
    roots = stf_trace(overlay, txs, ctx)
    checked = store.post_root(key)
    if checked is not None and checked != roots[-1]:
        raise ReplayMismatch(
            f"the trace of replay 0x{key.hex()} ({len(txs)} txs from 0x{prev_root.hex()}) ends "
            f"at 0x{roots[-1].hex()}, its check recorded 0x{checked.hex()}: the state "
            "transition is not deterministic here, or the data directory is corrupt; no game is "
            "played on it (delete the challenger's data directory to replay from L1)"
        )
    store.put(key, roots, overlay.pending_nodes())
    return roots
