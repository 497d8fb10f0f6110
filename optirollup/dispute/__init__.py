"""Disputes: what the defender and the challenger both need to play the dispute game.

Core layer (pure: no web3, no disk, no clock). :mod:`optirollup.dispute.witness` builds the
witnesses of one-step proofs; it is the only place witnesses are made.
"""

from optirollup.dispute.game import (
    ASSERTER,
    CHALLENGER,
    BadGameView,
    GameView,
    Phase,
    Role,
    Status,
    split_points,
)
from optirollup.dispute.solver import (
    Action,
    Bisect,
    Choose,
    Claim,
    CloseVoid,
    ListTrace,
    Step,
    Timeout,
    TraceOutOfRange,
    TraceProvider,
    first_disputed,
    solve,
    stale,
)
from optirollup.dispute.witness import (
    BadWitness,
    DisputeError,
    StepInputs,
    StepWitness,
    UnprovableStep,
    build_step_witness,
    build_witness,
    decode_witness,
    encode_witness,
    step_inputs,
)

__all__ = [
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
    "ASSERTER",
    "CHALLENGER",
    "Action",
    "BadGameView",
    "Bisect",
    "Choose",
    "Claim",
    "CloseVoid",
    "GameView",
    "ListTrace",
    "Phase",
    "Role",
    "Status",
    "Step",
    "Timeout",
    "TraceOutOfRange",
    "TraceProvider",
    "first_disputed",
    "solve",
    "split_points",
    "stale",
]
