"""The follower's bookkeeping without a chain: reorg rollbacks and log ranges a node refuses."""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.exceptions import Web3RPCError

from challenger.core import BatchProposed, ChainLog, ProposedBatch
from challenger.follower import BlockRef, Follower, Rpc
from optirollup.hashing import keccak
from optirollup.l1.deploy import bind


def follower(start: int = 5) -> Follower:
    w3 = Web3()  # never connected: the tests replace what would reach L1
    return Follower(
        w3,
        rollup=bind(w3, "Rollup", "0x" + "01" * 20),
        vault=bind(w3, "Vault", "0x" + "02" * 20),
        game=bind(w3, "DisputeGame", "0x" + "03" * 20),
        start_block=start,
        rpc=Rpc(retries=0),
    )


def proposal(index: int, block: int) -> BatchProposed:
    b = ProposedBatch(index, index + 1, keccak(b"p"), keccak(b"n"), keccak(b"t"), 1, 1, 0, 1,
                      block, keccak(b"h"))  # fmt: skip
    return BatchProposed(block, 0, b)


class Chain:
    """Block hashes by height, as a node would answer them."""

    def __init__(self, tag: bytes, height: int) -> None:
        self.hashes = {h: keccak(tag + bytes([h])) for h in range(height + 1)}

    def block(self, number: int | str) -> BlockRef | None:
        h = max(self.hashes) if number == "latest" else int(number)
        return BlockRef(h, self.hashes[h], 1_000 + h) if h in self.hashes else None


def test_no_reorg_changes_nothing() -> None:
    f, chain, log = follower(), Chain(b"a", 30), ChainLog()
    f.block = chain.block  # type: ignore[method-assign]
    f.trail.remember(20, chain.hashes[20])
    f.cursor = 21
    assert f.check_reorg(log) is None and f.cursor == 21


def test_a_reorg_rolls_the_log_back_to_the_newest_block_still_on_the_chain() -> None:
    f, old, log = follower(), Chain(b"a", 30), ChainLog()
    for h in (10, 20, 30):
        f.trail.remember(h, old.hashes[h])
    log.extend([proposal(0, 8), proposal(1, 15), proposal(2, 25)])
    f.cursor = 31
    new = Chain(b"b", 28)
    new.hashes.update({h: old.hashes[h] for h in range(18)})  # blocks 18.. were replaced
    f.block = new.block  # type: ignore[method-assign]
    reorg = f.check_reorg(log)
    assert reorg is not None and (reorg.common, reorg.old_head, reorg.dropped) == (10, 30, 2)
    assert f.cursor == 11 and f.trail.newest() == (10, old.hashes[10])
    assert list(log.view.batches) == [0]


def test_a_reorg_past_everything_remembered_reads_again_from_the_start() -> None:
    f, old, log = follower(start=5), Chain(b"a", 30), ChainLog()
    f.trail.remember(30, old.hashes[30])
    log.extend([proposal(0, 8)])
    f.cursor = 31
    f.block = Chain(b"b", 40).block  # type: ignore[method-assign]
    reorg = f.check_reorg(log)
    assert reorg is not None and reorg.common is None
    assert f.cursor == 5 and len(f.trail) == 0 and len(log) == 0


def test_a_log_range_the_node_refuses_is_read_in_halves() -> None:
    f = follower()
    asked: list[tuple[int, int]] = []

    def logs(lo: int, hi: int) -> list[object]:
        asked.append((lo, hi))
        if hi - lo >= 4:
            raise Web3RPCError("query returned more than 10000 results")
        return [(lo, hi)]

    f._logs = logs  # type: ignore[method-assign,assignment]
    assert f._logs_split(0, 9) == [(0, 2), (3, 4), (5, 7), (8, 9)]
    assert asked[0] == (0, 9)

    def never(lo: int, hi: int) -> list[object]:
        raise Web3RPCError("refused")

    f._logs = never  # type: ignore[method-assign,assignment]
    with pytest.raises(Web3RPCError):
        f._logs_split(0, 3)
