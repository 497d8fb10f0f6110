"""The node process's pure parts: its configuration checks, the price file it reads, the
test-only crash points (and which answers pass ``after_ack``) and the lying trace of fault
injection (no L1, no disk but tmp files)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from optirollup.executor.runner import (
    CRASHPOINTS,
    FAULT_TAG,
    CrashPoint,
    NodeConfig,
    RunnerError,
    _CrashAfterAck,
    fault_root,
    lying_trace,
    read_price_file,
)
from optirollup.hashing import keccak
from optirollup.oracle import BadPriceFile

HONEST = [keccak(b"root %d" % i) for i in range(5)]  # R_0 .. R_4: a batch of 4 transactions


def config(**overrides: Any) -> NodeConfig:
    fields: dict[str, Any] = {
        "rpc_url": "http://127.0.0.1:1",
        "deployment": object(),
        "data_dir": Path("data"),
        "proposer_key": b"\x01" * 32,
        "oracle_address": b"\x02" * 20,
        **overrides,
    }
    return NodeConfig(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- configuration


def test_the_default_configuration_is_the_devnet_walk_without_a_fault() -> None:
    c = config()
    assert (c.price_source, c.price_file, c.fault_batch, c.fault_tx) == (
        "random-walk", None, None, 0,
    )  # fmt: skip
    assert c.funding_seconds > 0 and c.oracle_seconds > 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"price_source": "chainlink"}, "price source 'chainlink' is not one of random-walk, file"),
        ({"price_source": "file"}, "needs a price file: pass --price-file"),
        ({"funding_seconds": -1}, "funding_seconds=-1 must not be negative"),
        ({"fault_batch": -2}, "fault_batch=-2 must not be negative"),
        ({"fault_tx": -1}, "fault_tx=-1 must not be negative"),
    ],
    ids=[
        "an unknown price source",
        "a file source without a file",
        "negative funding period",
        "a negative fault batch",
        "a negative fault tx",
    ],  # fmt: skip
)
def test_a_bad_configuration_is_refused_with_the_flag_to_fix(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(RunnerError, match=message):
        config(**overrides)


def test_the_price_file_is_read_and_a_missing_or_broken_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    with pytest.raises(BadPriceFile, match=f"cannot read the price file {path}"):
        read_price_file(path)
    path.write_text('{"1": 2500000000}')
    assert read_price_file(path).price(1, 0) == 2_500_000_000
    path.write_text('{"1": 2500.5}')
    with pytest.raises(BadPriceFile, match=f"{path}: market 1: price 2500.5"):
        read_price_file(path)


# --------------------------------------------------------------------------- crash points


def test_no_crash_point_is_armed_unless_the_environment_names_one() -> None:
    assert CrashPoint.from_env({}).name is None
    assert CrashPoint.from_env({"OPTIROLLUP_CRASHPOINT": " "}).name is None
    armed = CrashPoint.from_env({"OPTIROLLUP_CRASHPOINT": "after_seal:3"})
    assert (armed.name, armed.count) == ("after_seal", 3)
    assert set(CRASHPOINTS) >= {"after_ack", "after_seal", "after_propose_sent",
                                "after_finalize_sent"}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("after_lunch", "unknown crash point 'after_lunch'; one of after_ack"),
        ("after_seal:x", "'x' is not a count"),
        ("after_seal:0", "the count must be at least 1"),
    ],
    ids=["an unknown point", "a count that is not a number", "a zero count"],
)
def test_a_bad_crash_point_stops_the_start_with_the_known_ones(text: str, message: str) -> None:
    with pytest.raises(RunnerError, match=message):
        CrashPoint.parse(text)


def test_a_crash_point_kills_on_its_nth_pass_and_ignores_the_other_points() -> None:
    kills: list[str] = []
    point = CrashPoint("after_seal", 2, kill=lambda: kills.append("killed"))
    point.hit("after_propose_sent")
    point.hit("after_seal")
    assert kills == []
    point.hit("after_seal")
    assert kills == ["killed"]


@pytest.mark.parametrize(
    ("method", "path", "status", "passes"),
    [
        ("POST", "/orders", 200, True),
        ("POST", "/orders/batch", 200, True),
        ("POST", "/orders/batch", 422, False),
        ("POST", "/orders", 409, False),
        ("POST", "/cancels", 200, False),
        ("GET", "/orders/batch", 200, False),
    ],
    ids=[
        "an order acknowledged",
        "a bulk request answered",
        "a bulk request refused",
        "an order refused",
        "a cancel",
        "a read",
    ],  # fmt: skip
)
def test_after_ack_is_passed_once_an_order_or_bulk_request_is_answered_200(
    method: str, path: str, status: int, passes: bool
) -> None:
    hits: list[str] = []
    point = CrashPoint("after_ack", kill=lambda: hits.append("killed"))
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": method, "path": path}
    asyncio.run(_CrashAfterAck(app, point)(scope, receive, send))
    assert len(sent) == 2  # the answer went out first
    assert hits == (["killed"] if passes else [])


# --------------------------------------------------------------------------- fault injection


def test_the_lying_trace_agrees_up_to_the_faulty_transaction_then_asserts_fake_roots() -> None:
    lie = lying_trace(HONEST, 1)
    assert lie[:2] == HONEST[:2]
    assert lie[2:] == [keccak(FAULT_TAG + r) for r in HONEST[2:]]
    assert lie[-1] == fault_root(HONEST[-1]) != HONEST[-1]


def test_the_faulty_transaction_is_clamped_to_the_last_so_the_post_root_is_always_wrong() -> None:
    assert lying_trace(HONEST, 99) == HONEST[:4] + [fault_root(HONEST[4])]
    assert lying_trace(HONEST[:2], 0) == [HONEST[0], fault_root(HONEST[1])]


def test_a_batch_posted_on_the_fake_chain_has_every_root_fake() -> None:
    assert lying_trace(HONEST, -1) == [fault_root(r) for r in HONEST]
    with pytest.raises(RunnerError, match="got 1 roots"):
        lying_trace(HONEST[:1], 0)
