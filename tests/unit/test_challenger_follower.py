"""The follower without a chain: reorg rollbacks, log ranges a node refuses, proposal inputs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3RPCError

from challenger.calldata import PROPOSE_SELECTOR
from challenger.core import BatchProposed, ChainLog, ProposedBatch
from challenger.errors import BadCalldata, ProposalNotFound
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


def test_a_reorg_between_the_reorg_check_and_the_head_read_is_not_taken_for_the_new_chain() -> None:
    f, old, log = follower(), Chain(b"a", 20), ChainLog()
    f.trail.remember(20, old.hashes[20])
    log.extend([proposal(0, 19)])
    f.cursor = 21
    f.block = old.block  # type: ignore[method-assign]
    assert f.check_reorg(log) is None
    new = Chain(b"b", 28)  # then blocks 18.. are replaced, before the head is read
    new.hashes.update({h: old.hashes[h] for h in range(18)})
    f.block = new.block  # type: ignore[method-assign]
    f._logs = lambda lo, hi: []  # type: ignore[method-assign,assignment]
    assert f.scan(new.block("latest"), log) is None  # type: ignore[arg-type]
    assert f.trail.newest() == (20, old.hashes[20]) and f.cursor == 21
    reorg = f.check_reorg(log)  # so the next round undoes it
    assert reorg is not None and list(log.view.batches) == []


class FakeEth:
    def __init__(self, tx: dict[str, object] | None) -> None:
        self.tx = tx

    def get_transaction(self, tx_hash: str) -> dict[str, object]:
        if self.tx is None:
            raise TransactionNotFound(tx_hash)
        return self.tx


class FakeProvider:
    def __init__(self, reply: dict[str, object]) -> None:
        self.reply = reply
        self.asked: list[tuple[str, object]] = []

    def make_request(self, method: str, params: object) -> dict[str, object]:
        self.asked.append((method, params))
        return self.reply


def with_node(f: Follower, tx: dict[str, object] | None, trace: dict[str, object]) -> FakeProvider:
    provider = FakeProvider(trace)
    f.w3 = SimpleNamespace(eth=FakeEth(tx), provider=provider)  # type: ignore[assignment]
    return provider


ROLLUP = "0x" + "01" * 20
FORWARDER = "0x" + "0f" * 20


def test_a_proposal_the_node_does_not_know_yet_is_retried_not_called_unreadable() -> None:
    f = follower()
    with_node(f, None, {})
    with pytest.raises(ProposalNotFound) as err:
        f.proposal_inputs(proposal(0, 8).batch)
    assert not isinstance(err.value, BadCalldata)


def test_a_direct_proposal_is_read_from_its_input() -> None:
    f = follower()
    provider = with_node(f, {"to": ROLLUP, "input": b"\x01\x02"}, {})
    assert f.proposal_inputs(proposal(0, 8).batch) == [b"\x01\x02"]
    assert provider.asked == []


def test_a_proposal_made_by_a_contract_is_read_from_the_calls_it_made_to_the_rollup() -> None:
    f = follower()
    sel = "0x" + PROPOSE_SELECTOR.hex()
    tree = {
        "type": "CALL", "to": FORWARDER, "input": "0x0badcafe",
        "calls": [
            {"type": "STATICCALL", "to": ROLLUP, "input": sel + "01"},  # a read
            {"type": "CALL", "to": ROLLUP, "input": sel + "02", "error": "execution reverted"},
            {"type": "CALL", "to": "0x" + "22" * 20, "input": sel + "03",
             "calls": [{"type": "CALL", "to": ROLLUP.upper().replace("0X", "0x"),
                        "input": sel + "04"}]},
            {"type": "CALL", "to": ROLLUP, "input": "0xd0e30db0"},  # stake(), not propose
        ],
    }  # fmt: skip
    provider = with_node(f, {"to": FORWARDER, "input": b"\x0b"}, {"result": tree})
    assert f.proposal_inputs(proposal(0, 8).batch) == [PROPOSE_SELECTOR + b"\x04"]
    ((method, params),) = provider.asked
    assert method == "debug_traceTransaction" and params == [
        "0x" + proposal(0, 8).batch.tx_hash.hex(),
        {"tracer": "callTracer"},
    ]


def test_a_contract_proposal_on_a_node_without_call_traces_is_unreadable_with_a_hint() -> None:
    f = follower()
    with_node(f, {"to": FORWARDER, "input": b""}, {"error": {"code": -32601, "message": "nope"}})
    with pytest.raises(BadCalldata, match="debug_traceTransaction"):
        f.proposal_inputs(proposal(0, 8).batch)
