"""The executor: the node's sequencer, its durable journal and batch records.

:mod:`optirollup.executor.sequencer` applies acknowledged transactions through the reference
state transition, journals them durably before acknowledging them, and seals batches whose
state and record are written to LevelDB in one atomic write. A crash at any point loses nothing
acknowledged: reopening replays the journal onto the last sealed state.
"""

from optirollup.executor.sequencer import (
    BatchRecord,
    ExecutorError,
    SealPolicy,
    Sequencer,
    SequencerBroken,
    Submitted,
)

__all__ = [
    "BatchRecord",
    "ExecutorError",
    "SealPolicy",
    "Sequencer",
    "SequencerBroken",
    "Submitted",
]
