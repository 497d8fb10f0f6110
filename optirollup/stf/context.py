"""What a batch gives every transaction in it besides the state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class BatchContext:
    """Batch-wide inputs of the state transition.

    ``batch_time`` is the batch header's time (unix seconds; the Rollup keeps it monotone and not
    in the future). ``deposit_hashes[i]`` is the hash the Vault recorded for deposit ``i``;
    only the deposits queued on L1 when the batch was proposed are visible (the Rollup records
    the queue length at ``propose``). ``separator`` is the EIP-712 domain separator.
    ``signer_cache`` memoizes signature recovery across the transactions of a node's lifetime
    (keyed by digest and signature), so one order is never recovered twice.
    """

    batch_time: int
    separator: bytes
    deposit_hashes: Sequence[bytes] = ()
    signer_cache: dict[tuple[bytes, bytes], bytes] | None = field(default=None)
