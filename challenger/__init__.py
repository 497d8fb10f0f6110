"""challenger: the independent watchtower that re-executes batches from L1 and disputes wrong roots.

``challenger run`` (:mod:`challenger.cli`) follows the Rollup from its deployment block, reads each
batch's transactions from the calldata of its proposal and the deposits from the Vault's queue —
nothing from the node — re-executes them with the reference STF into its own LevelDB (the
post-root of every batch; the per-transaction trace only of a batch it disputes), and plays the
dispute game (with the shared library :mod:`optirollup.dispute`) against every batch whose
posted root differs from its own. One honest challenger anywhere is enough to keep the rollup
safe.

Pure core, thin shell (after op-challenger):

* core (no web3, no disk, no clock): :mod:`challenger.core` (L1 events folded into a view of the
  batches, deposits and games; the block trail that detects reorgs; the verdict on every batch;
  which games to open; content addresses of traces) and :mod:`challenger.calldata` (the
  proposal's input decoded and checked against the batch's commitment). The moves themselves
  come from :func:`optirollup.dispute.solve`, also pure;
* shell: :mod:`challenger.follower` (web3 logs, blocks and calldata, retried with backoff),
  :mod:`challenger.store` (post-roots, traces and trie nodes in LevelDB),
  :mod:`challenger.replay` (the STF over that store, no clock and no L1:
  :func:`~challenger.replay.check_batch` for every batch,
  :func:`~challenger.replay.trace_batch` for a batch it plays), :mod:`challenger.agent` (the
  loop; the :class:`~optirollup.dispute.responder.Responder` is the only code that sends game
  moves), :mod:`challenger.metrics` (Prometheus) and :mod:`challenger.cli`.

Operator guide: ``docs/challenger.md``.
"""

from challenger.errors import (
    BadCalldata,
    ChallengerError,
    ConfigError,
    DeploymentMismatch,
    GenesisMismatch,
    L1Unreachable,
    ProposalNotFound,
    ReplayMismatch,
    TraceCorrupt,
)

__all__ = [
    "BadCalldata",
    "ChallengerError",
    "ConfigError",
    "DeploymentMismatch",
    "GenesisMismatch",
    "L1Unreachable",
    "ProposalNotFound",
    "ReplayMismatch",
    "TraceCorrupt",
]
