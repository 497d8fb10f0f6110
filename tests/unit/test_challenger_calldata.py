"""Reading a batch back from its proposal's input: exactly web3's encoding, nothing else."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3

from challenger.calldata import (
    PROPOSE_SELECTOR,
    ProposeCall,
    batch_transactions,
    decode_propose,
    encode_propose,
    transactions_in,
)
from challenger.core import ProposedBatch
from challenger.errors import BadCalldata
from optirollup.codec.batch import encode_tx_list, tx_root
from optirollup.hashing import keccak
from optirollup.l1.deploy import bind
from optirollup.testkit import deposit_tx

PREV, NEW = keccak(b"prev"), keccak(b"new")
TXS = [deposit_tx(i, bytes([i + 1]) * 20, 1_000 + i) for i in range(5)] + [b"\x07" * 3]


def web3_input(prev: bytes, new: bytes, batch_time: int, framed: bytes) -> bytes:
    """Return the input web3.py builds for Rollup.propose (what every proposer sends)."""
    rollup = bind(Web3(), "Rollup", "0x" + "11" * 20)
    data = rollup.encode_abi("propose", [prev, new, batch_time, framed])
    return bytes.fromhex(data[2:])


def event(txs: list[bytes], **over: object) -> ProposedBatch:
    b = ProposedBatch(
        index=3,
        nonce=7,
        prev_root=PREV,
        new_root=NEW,
        tx_root=tx_root(txs),
        tx_count=len(txs),
        batch_time=1_234,
        deposit_count=5,
        proposed_at=1_300,
        l1_block=40,
        tx_hash=keccak(b"proposal"),
    )
    return replace(b, **over)  # type: ignore[arg-type]


GOOD = web3_input(PREV, NEW, 1_234, encode_tx_list(TXS))


@pytest.mark.parametrize("n", [1, 2, 31, 32, 33, 100], ids=lambda n: f"{n} txs")
def test_the_decoder_reads_what_web3_encodes_and_encodes_it_back(n: int) -> None:
    txs = [deposit_tx(i, b"\x22" * 20, i + 1) for i in range(n)]
    data = web3_input(PREV, NEW, 2**64 - 1, encode_tx_list(txs))
    call = decode_propose(data)
    assert call == ProposeCall(PREV, NEW, 2**64 - 1, encode_tx_list(txs))
    assert encode_propose(call) == data
    assert data[:4] == PROPOSE_SELECTOR


def test_a_proposal_gives_back_exactly_its_batchs_transactions() -> None:
    assert batch_transactions(GOOD, event(TXS)) == TXS


def test_a_batch_proposed_by_a_contract_is_read_from_the_inner_call_that_is_its_proposal() -> None:
    other = web3_input(NEW, PREV, 1_234, encode_tx_list(TXS[:2]))  # another proposal, same tx
    calls = [b"\x12\x34", other, GOOD, GOOD]  # e.g. a multisig's frames, then Rollup.propose
    assert transactions_in(calls, event(TXS)) == TXS
    with pytest.raises(BadCalldata, match="none of 2 calls.*not this batch's proposal"):
        transactions_in(calls[:2], event(TXS))
    with pytest.raises(BadCalldata, match="no call"):
        transactions_in([], event(TXS))


def splice(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


GARBAGE = [
    ("no input at all", b"", "bytes of input"),
    ("a bare selector", PROPOSE_SELECTOR, "bytes of input"),
    ("another function", splice(GOOD, 0, b"\xde\xad\xbe\xef"), "not propose's"),
    ("a batch time over 64 bits", splice(GOOD, 68, b"\x01"), "does not fit a uint64"),
    ("the list at another offset", splice(GOOD, 100 + 31, b"\xa0"), "offset 160"),
    ("a length past the end", splice(GOOD, 132 + 28, b"\x00\x01\x00\x00"), "takes"),
    ("a byte cut off", GOOD[:-1], "takes"),
    ("a word appended", GOOD + b"\x00" * 32, "takes"),
    ("junk in the padding", GOOD[:-1] + b"\x01", "padding"),
]


@pytest.mark.parametrize(("data", "message"), [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_garbage_input_is_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(BadCalldata, match=message):
        batch_transactions(data, event(TXS))


MISMATCHES = [
    ("another previous root", {"prev_root": keccak(b"x")}, "not this batch's proposal"),
    ("another new root", {"new_root": keccak(b"x")}, "not this batch's proposal"),
    ("another batch time", {"batch_time": 1}, "not this batch's proposal"),
    ("another count", {"tx_count": 5}, "6 transactions, the event says 5"),
    ("another commitment", {"tx_root": keccak(b"x")}, "commit to"),
]


@pytest.mark.parametrize(
    ("fields", "message"), [m[1:] for m in MISMATCHES], ids=[m[0] for m in MISMATCHES]
)
def test_a_proposal_that_is_not_the_events_batch_is_refused(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(BadCalldata, match=message):
        batch_transactions(GOOD, event(TXS, **fields))


def test_a_bad_frame_is_refused() -> None:
    framed = b"\x00\x00" + b"\x01"  # a zero length
    with pytest.raises(BadCalldata, match="does not decode"):
        batch_transactions(web3_input(PREV, NEW, 1_234, framed), event(TXS))


@given(st.binary(max_size=400))
def test_random_input_is_either_a_canonical_call_or_refused(data: bytes) -> None:
    try:
        call = decode_propose(data)
    except BadCalldata:
        return
    assert encode_propose(call) == data


@given(st.integers(0, len(GOOD) - 1), st.integers(1, 255))
def test_a_flipped_byte_is_refused_or_gives_another_batch(at: int, flip: int) -> None:
    data = splice(GOOD, at, bytes([GOOD[at] ^ flip]))
    try:
        txs = batch_transactions(data, event(TXS))
    except BadCalldata:
        return
    raise AssertionError(f"byte {at} changed and the batch still checks: {txs}")
