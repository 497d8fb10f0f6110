"""The challenger's exception tree: one base, leaves named after what went wrong.

Every error the challenger raises on purpose derives from :class:`ChallengerError` (itself an
:class:`~optirollup.errors.OptiRollupError`, so the optirollup errors it lets through — a locked
LevelDB, a responder that cannot reach L1 — are caught at the same boundary). The command line
turns them into a click error in one place (:func:`challenger.cli.main`).
"""

from __future__ import annotations

from optirollup.errors import OptiRollupError

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


class ChallengerError(OptiRollupError):
    """Base of every deliberate challenger error."""


class ConfigError(ChallengerError):
    """A deployment file, key or option the challenger cannot use."""


class L1Unreachable(ChallengerError):
    """The L1 JSON-RPC endpoint did not answer (after retries)."""


class DeploymentMismatch(ChallengerError):
    """The endpoint's chain is not the one the deployment file describes."""


class GenesisMismatch(DeploymentMismatch):
    """The genesis state built from the oracle address is not the Rollup's genesis root."""


class BadCalldata(ChallengerError):
    """A proposal transaction whose input is not a canonical ``Rollup.propose`` of its batch."""


class ProposalNotFound(ChallengerError):
    """The node does not know a proposal transaction whose log it served (yet): try again."""


class TraceCorrupt(ChallengerError):
    """A stored trace whose bytes are not a list of 32-byte roots."""


class ReplayMismatch(ChallengerError):
    """A batch's trace that does not end at the post-root its check recorded."""
