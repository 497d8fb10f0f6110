"""Disputes: what the defender and the challenger both need to play the dispute game.

Core layer (pure: no web3, no disk, no clock). :mod:`optirollup.dispute.witness` builds the
witnesses of one-step proofs; it is the only place witnesses are made.
"""

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
]
