"""The HTTP API, in-process: FastAPI's TestClient over a real NodeCore on a temporary LevelDB.

The world every test starts from: the workload's oracle lists ETH-PERP (market 1: lot 100_000,
tick 1_000, maker/taker fee 200/500 ppm) and prices it at 3_000_000_000, both through
``POST /transactions``; the node learns and sequences the Vault deposits of four traders
(1,000,000 USDC each). The clock says batch time 1_000, local time 0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from optirollup.api import OrderRequest, create_app, order_body
from optirollup.api.models import OrderBatchOut, OrderBatchRequest
from optirollup.codec.tx import (
    Cancel,
    CancelAll,
    Order,
    OrderFlags,
    Side,
    SignedOrder,
    Withdraw,
    encode_tx,
)
from optirollup.executor.node import NodeCore
from optirollup.hashing import keccak
from optirollup.state import mpt
from optirollup.state.keys import withdrawal_key
from optirollup.state.leaves import Withdrawal
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import genesis_root
from optirollup.testkit import Signer, Trader, perp_workload

SIGNER = Signer()
WORK = perp_workload(0, SIGNER, traders=4)
ALICE, BOB, CAROL, DAVE = WORK.traders
STRANGER = Trader.of("api-stranger")
T = 1_000
LOT, TICK, PRICE = 100_000, 1_000, 3_000_000_000
FUNDED = 10**12
U64_MAX = 2**64 - 1


class Clock:
    """The test's clock: ``(batch_time, now)``, moved by hand."""

    def __init__(self, batch_time: int = T, now: int = 0) -> None:
        self.batch_time, self.now = batch_time, now

    def __call__(self) -> tuple[int, int]:
        """Return the time the app asks for."""
        return self.batch_time, self.now


@dataclass
class Node:
    """A node with its API: the core, the client and the clock."""

    core: NodeCore
    client: TestClient
    clock: Clock

    def snapshot(self) -> Any:
        """Return everything a refused request must leave unchanged."""
        seq = self.core.sequencer
        return (
            seq.state.root(),
            seq.open_txs,
            seq.batch_count,
            self.core.engine.resting(),
            self.client.get("/markets/1/book").json(),
            [self.client.get(f"/accounts/0x{t.address.hex()}").json() for t in WORK.traders],
        )


def _order(
    trader: Trader,
    side: Side,
    *,
    price: int = PRICE,
    size: int = 10 * LOT,
    nonce: int = 1,
    expiry: int = 10**9,
    flags: int = 0,
    market: int = 1,
    fee_cap: int = 1_000,
    key: bytes | None = None,
) -> SignedOrder:
    o = Order(trader.address, market, int(side), price, size, fee_cap, nonce, expiry, flags)
    return SIGNER.order(o, key if key is not None else trader.key)


def _tx(msg: Any, key: bytes) -> dict[str, str]:
    return {"tx": "0x" + encode_tx(SIGNER.sign(msg, key)).hex()}


@contextmanager
def _serve(path: Path) -> Iterator[Node]:
    """Run the world every test starts from (see the module notes) on a database at ``path``."""
    db = LevelDB(path)
    core = NodeCore(db, SIGNER.separator, genesis_root=genesis_root(db.nodes, WORK.oracle.address))
    clock = Clock()
    with TestClient(create_app(core, clock), raise_server_exceptions=False) as client:
        for tx in WORK.txs[:2]:  # LIST_MARKET, ORACLE_UPDATE
            r = client.post("/transactions", json={"tx": "0x" + tx.hex()})
            assert r.status_code == 200, r.text
        deposits = list(zip(WORK.deposit_hashes, WORK.txs[2:], strict=True))
        core.include_deposits(0, deposits, batch_time=T, now=0)
        yield Node(core, client, clock)
    db.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with _serve(tmp_path / "db") as n:
        yield n


def _account(node: Node, trader: Trader) -> dict[str, Any]:
    r = node.client.get(f"/accounts/0x{trader.address.hex()}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _place(node: Node, signed: SignedOrder) -> dict[str, Any]:
    r = node.client.post("/orders", json=order_body(signed))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _metric(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


# --- happy paths ----------------------------------------------------------------------------


def test_the_openapi_schema_lists_every_endpoint(node: Node) -> None:
    r = node.client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    posts = {p for p in paths if "post" in paths[p]}
    assert {"/orders", "/orders/batch", "/cancels", "/transactions"} <= posts
    body = paths["/orders/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schemas = r.json()["components"]["schemas"]
    schema = schemas[body["$ref"].rsplit("/", 1)[1]]
    items = schema["properties"]["orders"]["items"]
    assert (
        items.get("$ref") == "#/components/schemas/OrderRequest" or items == schemas["OrderRequest"]
    )
    assert schema["properties"]["orders"]["maxItems"] == 500
    assert {
        "/markets",
        "/markets/{market_id}",
        "/markets/{market_id}/book",
        "/accounts/{address}",
        "/batches",
        "/status",
        "/healthz",
        "/metrics",
    } <= {p for p in paths if "get" in paths[p]}
    errors = paths["/orders"]["post"]["responses"]["422"]["content"]["application/json"]
    assert errors["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert node.client.get("/docs").status_code == 200


def test_healthz_answers_ok_and_status_shows_the_open_batch(node: Node) -> None:
    assert node.client.get("/healthz").json() == {"ok": True}
    status = node.client.get("/status").json()
    assert status == {
        "head_batch": 0,
        "head_root": "0x" + node.core.sequencer.head_root.hex(),
        "open_txs": 2 + len(WORK.traders),
        "deposits_known": len(WORK.traders),
        "posted": 0,
        "final": 0,
    }


def test_markets_list_the_listed_market_with_64_bit_values_as_strings(node: Node) -> None:
    (market,) = node.client.get("/markets").json()
    assert market["id"] == 1 and market["kind"] == "perp" and market["symbol"] == "ETH-PERP"
    assert market["lot_size"] == str(LOT) and market["tick_size"] == str(TICK)
    assert market["oracle_price"] == str(PRICE) and market["oracle_time"] == "1"
    assert market["maker_fee_ppm"] == 200 and market["taker_fee_ppm"] == 500
    assert node.client.get("/markets/1").json() == market


def test_a_resting_order_shows_in_the_book_and_in_its_account(node: Node) -> None:
    signed = _order(ALICE, Side.SELL, flags=OrderFlags.POST_ONLY, expiry=2**63)
    ack = _place(node, signed)
    order_hash = "0x" + signed.order.hash(SIGNER.separator).hex()
    assert ack == {
        "order_hash": order_hash,
        "status": "resting",
        "filled": "0",
        "remaining": str(10 * LOT),
        "fills": [],
    }
    book = node.client.get("/markets/1/book", params={"levels": 5}).json()
    assert book == {
        "market": 1,
        "bids": [],
        "asks": [{"price": str(PRICE), "size": str(10 * LOT), "orders": 1}],
    }
    (open_order,) = _account(node, ALICE)["open_orders"]
    assert open_order == {
        "order_hash": order_hash,
        "market": 1,
        "side": "sell",
        "price": str(PRICE),
        "size": str(10 * LOT),
        "filled": "0",
        "remaining": str(10 * LOT),
        "fee_cap_ppm": 1_000,
        "nonce": "1",
        "expiry": str(2**63),
        "flags": {"post_only": True, "reduce_only": False, "ioc": False},
    }


def test_two_crossing_orders_fill_and_the_fill_shows_in_accounts_and_batches(node: Node) -> None:
    maker = _order(ALICE, Side.SELL)
    taker = _order(BOB, Side.BUY, price=PRICE + 5 * TICK, size=4 * LOT)
    _place(node, maker)
    ack = _place(node, taker)
    maker_hash = "0x" + maker.order.hash(SIGNER.separator).hex()
    taker_hash = "0x" + taker.order.hash(SIGNER.separator).hex()
    position = 2 + len(WORK.traders)  # after LIST_MARKET, ORACLE_UPDATE and the deposits
    assert ack == {
        "order_hash": taker_hash,
        "status": "filled",
        "filled": str(4 * LOT),
        "remaining": "0",
        "fills": [
            {
                "maker_hash": maker_hash,
                "taker_hash": taker_hash,
                "price": str(PRICE),  # the maker's price
                "size": str(4 * LOT),
                "batch_index": 0,
                "position": position,
            }
        ],
    }
    alice, bob = _account(node, ALICE), _account(node, BOB)
    assert alice["positions"] == [{"market": 1, "size": str(-4 * LOT), "funding_snapshot": "0"}]
    assert bob["positions"] == [{"market": 1, "size": str(4 * LOT), "funding_snapshot": "0"}]
    value = 4 * LOT * PRICE // 10**8  # the notional in quote units
    assert alice["collateral"] == str(FUNDED + value - value * 200 // 10**6)  # maker fee
    assert bob["collateral"] == str(FUNDED - value - value * 500 // 10**6)  # taker fee
    assert int(bob["initial"]) > 0 and int(bob["maintenance"]) > 0
    assert int(bob["equity"]) >= int(bob["initial"])
    (rest,) = alice["open_orders"]
    assert (rest["filled"], rest["remaining"]) == (str(4 * LOT), str(6 * LOT))
    assert node.client.get("/batches").json() == []  # nothing sealed yet

    record = node.core.sequencer.seal()
    assert record is not None
    (batch,) = node.client.get("/batches").json()
    assert batch == {
        "index": 0,
        "prev_root": "0x" + record.prev_root.hex(),
        "post_root": "0x" + record.post_root.hex(),
        "batch_time": str(T),
        "tx_count": position + 1,
        "status": "sealed",
    }
    assert record.txs[position][0] == 0x05  # the FILL sits where the ack said
    node.core.mark_posted(0, b"\x11" * 32)
    assert node.client.get("/batches").json()[0]["status"] == "posted"
    node.core.mark_final(1)
    assert node.client.get("/batches", params={"start": 0, "limit": 1}).json()[0]["status"] == (
        "final"
    )
    assert node.client.get("/batches", params={"start": 1}).json() == []
    status = node.client.get("/status").json()
    assert (status["head_batch"], status["posted"], status["final"], status["open_txs"]) == (
        1,
        1,
        1,
        0,
    )


def test_a_cancel_takes_the_order_off_the_book(node: Node) -> None:
    signed = _order(ALICE, Side.BUY, price=PRICE - TICK)
    _place(node, signed)
    order_hash = signed.order.hash(SIGNER.separator)
    before = len(node.core.sequencer.open_txs)
    r = node.client.post("/cancels", json=_tx(Cancel(ALICE.address, order_hash), ALICE.key))
    assert r.status_code == 200, r.text
    cancel = encode_tx(SIGNER.sign(Cancel(ALICE.address, order_hash), ALICE.key))
    assert r.json() == {
        "tx_hash": "0x" + keccak(cancel).hex(),
        "batch_index": 0,
        "position": before,
    }
    assert node.client.get("/markets/1/book").json()["bids"] == []
    assert _account(node, ALICE)["open_orders"] == []


def test_a_cancel_all_raises_the_floor_and_empties_the_accounts_orders(node: Node) -> None:
    for nonce in (1, 2, 3):
        _place(node, _order(CAROL, Side.SELL, price=PRICE + nonce * TICK, nonce=nonce))
    r = node.client.post("/cancels", json=_tx(CancelAll(CAROL.address, 3), CAROL.key))
    assert r.status_code == 200, r.text
    carol = _account(node, CAROL)
    assert carol["cancel_floor"] == "3"
    assert [o["nonce"] for o in carol["open_orders"]] == ["3"]


def test_a_withdrawal_goes_through_transactions_and_lowers_the_collateral(node: Node) -> None:
    r = node.client.post(
        "/transactions", json=_tx(Withdraw(DAVE.address, DAVE.address, 5 * 10**6, 0), DAVE.key)
    )
    assert r.status_code == 200, r.text
    dave = _account(node, DAVE)
    assert dave["collateral"] == str(FUNDED - 5 * 10**6) and dave["nonce"] == "1"
    wid = r.json()["withdrawal_id"]
    pending = node.client.get(f"/withdrawals/{wid}").json()
    assert pending["final"] is False and pending["proof"] == [] and pending["batch_index"] is None
    assert pending["amount"] == str(5 * 10**6)
    # Once the batch holding it is final, the proof is against that batch's post-root.
    record = node.core.sequencer.seal()
    assert record is not None
    node.core.mark_final(record.index + 1)
    final = node.client.get(f"/withdrawals/{wid}").json()
    assert final["final"] is True and final["batch_index"] == record.index
    proof = [bytes.fromhex(n[2:]) for n in final["proof"]]
    leaf = mpt.verify_proof(record.post_root, withdrawal_key(wid), proof)
    assert leaf == Withdrawal(DAVE.address, DAVE.address, 5 * 10**6).encode()
    missing = node.client.get(f"/withdrawals/{wid + 1}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_withdrawal"


def test_an_unknown_address_reads_as_an_empty_account(node: Node) -> None:
    body = _account(node, STRANGER)
    assert body["collateral"] == "0" and body["positions"] == [] and body["open_orders"] == []


def test_metrics_count_orders_fills_and_rejects_by_code(node: Node) -> None:
    _place(node, _order(ALICE, Side.SELL))
    _place(node, _order(BOB, Side.BUY, size=2 * LOT))
    node.client.post("/orders", json=order_body(_order(BOB, Side.BUY, nonce=2, key=CAROL.key)))
    node.client.post("/orders", json=order_body(_order(BOB, Side.BUY, nonce=3, key=CAROL.key)))
    node.client.post("/orders", content=b"{", headers={"content-type": "application/json"})
    r = node.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert _metric(text, "optirollup_orders_total", '{result="resting"}') == 1
    assert _metric(text, "optirollup_orders_total", '{result="filled"}') == 1
    assert _metric(text, "optirollup_orders_total", '{result="rejected"}') == 2
    assert _metric(text, "optirollup_fills_total") == 1
    assert _metric(text, "optirollup_rejects_total", '{code="bad_signature"}') == 2
    assert _metric(text, "optirollup_rejects_total", '{code="bad_request"}') == 1
    assert _metric(text, "optirollup_order_seconds_count") == 4
    assert _metric(text, "optirollup_open_txs") == 2 + len(WORK.traders) + 1
    assert _metric(text, "optirollup_batches", '{state="sealed"}') == 0
    assert _metric(text, "optirollup_deposits_known") == len(WORK.traders)


def test_each_app_has_its_own_metrics_registry(node: Node) -> None:
    other = create_app(node.core, node.clock)
    with TestClient(other) as client:
        text = client.get("/metrics").text
    assert _metric(text, "optirollup_rejects_total", '{code="bad_request"}') == 0
    node.client.post("/orders", json={})
    text = node.client.get("/metrics").text
    assert _metric(text, "optirollup_rejects_total", '{code="bad_request"}') == 1


# --- bad input: a clear 4xx with its code, and nothing changes ------------------------------


def _body(**changes: Any) -> dict[str, Any]:
    """Return a valid order body (Alice buys) with some fields replaced or removed."""
    body = order_body(_order(ALICE, Side.BUY, price=PRICE - TICK, nonce=7))
    for k, v in changes.items():
        if v is _DROP:
            del body[k]
        else:
            body[k] = v
    return body


_DROP = object()
_RESTING = _order(BOB, Side.SELL, price=PRICE + TICK, nonce=5)
_WITHDRAW = Withdraw(DAVE.address, DAVE.address, 10**6, 0)


@dataclass(frozen=True)
class Bad:
    """A bad request: method, path, JSON body (or raw bytes), expected status and code."""

    method: str
    path: str
    body: Any = None
    status: int = 422
    code: str = "bad_request"
    raw: bytes | None = None


def _hex(tx: bytes) -> dict[str, str]:
    return {"tx": "0x" + tx.hex()}


def _signed(msg: Any, key: bytes) -> bytes:
    return encode_tx(SIGNER.sign(msg, key))


BAD: dict[str, Bad] = {
    "malformed JSON": Bad("POST", "/orders", raw=b'{"account": "0x', status=400),
    "a JSON body that is not an object": Bad("POST", "/orders", [1, 2]),
    "an empty body": Bad("POST", "/orders", raw=b""),
    "a missing field": Bad("POST", "/orders", _body(signature=_DROP)),
    "an unknown field": Bad("POST", "/orders", _body(leverage=10)),
    "a price as a float": Bad("POST", "/orders", _body(price=3e9)),
    "a price as a hex string": Bad("POST", "/orders", _body(price="0xb2d05e00")),
    "a negative nonce string": Bad("POST", "/orders", _body(nonce="-1")),
    "a size with leading zeros": Bad("POST", "/orders", _body(size="01000000")),
    "a boolean for an integer": Bad("POST", "/orders", _body(fee_cap_ppm=True)),
    "a market id as a string": Bad("POST", "/orders", _body(market="1")),
    "a market id beyond u32": Bad("POST", "/orders", _body(market=2**32)),
    "a fee cap beyond u32": Bad("POST", "/orders", _body(fee_cap_ppm=2**32)),
    "a side as a number": Bad("POST", "/orders", _body(side=0)),
    "an unknown side": Bad("POST", "/orders", _body(side="short")),
    "a flag as a string": Bad("POST", "/orders", _body(flags={"post_only": "yes"})),
    "an unknown flag": Bad("POST", "/orders", _body(flags={"fill_or_kill": True})),
    "an account of 19 bytes": Bad("POST", "/orders", _body(account="0x" + "ab" * 19)),
    "an account without 0x": Bad("POST", "/orders", _body(account="ab" * 20)),
    "a signature of 64 bytes": Bad("POST", "/orders", _body(signature="0x" + "11" * 64)),
    "a signature that is not hex": Bad("POST", "/orders", _body(signature="0x" + "zz" * 65)),
    "size 0": Bad("POST", "/orders", _body(size=0)),
    "size 2^64": Bad("POST", "/orders", _body(size=2**64)),
    "size 2^64 as a string": Bad("POST", "/orders", _body(size=str(2**64))),
    "an expiry beyond u64": Bad("POST", "/orders", _body(expiry=str(U64_MAX + 1))),
    "price 0": Bad("POST", "/orders", _body(price="0")),
    "size not a lot multiple": Bad(
        "POST", "/orders", order_body(_order(ALICE, Side.BUY, size=LOT + 1)), code="bad_lot"
    ),
    "price not a tick multiple": Bad(
        "POST", "/orders", order_body(_order(ALICE, Side.BUY, price=PRICE + 1)), code="bad_tick"
    ),
    "a signature by another key": Bad(
        "POST",
        "/orders",
        order_body(_order(ALICE, Side.BUY, key=STRANGER.key)),
        code="bad_signature",
    ),
    "a signature over other fields": Bad(
        "POST", "/orders", _body(price=str(PRICE - 2 * TICK)), code="bad_signature"
    ),
    "an order in an unknown market": Bad(
        "POST",
        "/orders",
        order_body(_order(ALICE, Side.BUY, market=7)),
        status=404,
        code="unknown_market",
    ),
    "an expired order": Bad(
        "POST", "/orders", order_body(_order(ALICE, Side.BUY, expiry=T)), code="expired"
    ),
    "a duplicate of a resting order": Bad(
        "POST", "/orders", order_body(_RESTING), status=409, code="duplicate_order"
    ),
    "an order below the cancel floor": Bad(
        "POST",
        "/orders",
        order_body(_order(CAROL, Side.BUY, price=PRICE - TICK, nonce=1)),
        status=409,
        code="cancelled",
    ),
    "a post-only order that would cross": Bad(
        "POST",
        "/orders",
        order_body(_order(ALICE, Side.BUY, price=PRICE + TICK, flags=OrderFlags.POST_ONLY)),
        status=409,
        code="post_only_would_cross",
    ),
    "an order beyond the margin": Bad(
        "POST",
        "/orders",
        order_body(_order(ALICE, Side.BUY, price=PRICE - TICK, size=10**8 * 10**4)),
        code="insufficient_margin",
    ),
    "a replayed withdrawal nonce": Bad(
        "POST", "/transactions", _hex(_signed(_WITHDRAW, DAVE.key)), status=409, code="bad_nonce"
    ),
    "a tx that is not hex": Bad("POST", "/transactions", {"tx": "0xzz"}),
    "a tx of odd length": Bad("POST", "/transactions", {"tx": "0x123"}),
    "a tx without 0x": Bad("POST", "/cancels", {"tx": "06" * 118}),
    "an empty tx": Bad("POST", "/cancels", {"tx": "0x"}),
    "a tx as a number": Bad("POST", "/transactions", {"tx": 6}),
    "a tx of an unknown type": Bad("POST", "/transactions", {"tx": "0xff00"}, 400, "malformed"),
    "a truncated cancel": Bad("POST", "/cancels", {"tx": "0x06" + "00" * 50}, 400, "malformed"),
    "a withdrawal sent to /cancels": Bad(
        "POST",
        "/cancels",
        _hex(_signed(Withdraw(DAVE.address, DAVE.address, 1, 1), DAVE.key)),
        400,
        "wrong_type",
    ),
    "a FILL sent to /transactions": Bad(
        "POST",
        "/transactions",
        _hex(SIGNER.fill(_RESTING, _order(ALICE, Side.BUY, price=PRICE + TICK), LOT)),
        400,
        "fill_not_allowed",
    ),
    "a cancel signed by another key": Bad(
        "POST",
        "/cancels",
        _hex(_signed(Cancel(BOB.address, keccak(b"x")), STRANGER.key)),
        code="bad_signature",
    ),
    "an unknown route": Bad("GET", "/nowhere", status=404, code="not_found"),
    "a wrong method": Bad("DELETE", "/orders", status=405, code="method_not_allowed"),
    "the book of an unknown market": Bad(
        "GET", "/markets/9/book", status=404, code="unknown_market"
    ),
    "an unlisted market": Bad("GET", "/markets/9", status=404, code="unknown_market"),
    "a market id that is not a number": Bad("GET", "/markets/eth/book"),
    "a negative market id": Bad("GET", "/markets/-1"),
    "zero book levels": Bad("GET", "/markets/1/book?levels=0"),
    "an account address of 21 bytes": Bad("GET", "/accounts/0x" + "ab" * 21),
    "zero batches": Bad("GET", "/batches?limit=0"),
    "a negative batch start": Bad("GET", "/batches?start=-1"),
}


@pytest.mark.parametrize("case", list(BAD.values()), ids=list(BAD))
def test_bad_input_gets_a_clear_4xx_with_its_code_and_changes_nothing(
    node: Node, case: Bad
) -> None:
    _place(node, _RESTING)
    r = node.client.post("/transactions", json=_hex(_signed(_WITHDRAW, DAVE.key)))
    assert r.status_code == 200, r.text
    for nonce in (1, 2):
        _place(node, _order(CAROL, Side.SELL, price=PRICE + 10 * TICK, nonce=nonce))
    assert node.client.post("/cancels", json=_hex(_signed(CancelAll(CAROL.address, 2), CAROL.key)))
    before = node.snapshot()

    if case.raw is not None:
        headers = {"content-type": "application/json"}
        r = node.client.request(case.method, case.path, content=case.raw, headers=headers)
    else:
        r = node.client.request(case.method, case.path, json=case.body)

    assert r.status_code == case.status, r.text
    error = r.json()["error"]
    assert error["code"] == case.code
    assert isinstance(error["message"], str) and error["message"]
    assert node.snapshot() == before


def test_a_validation_error_names_the_offending_field(node: Node) -> None:
    r = node.client.post("/orders", json=_body(size=str(2**64)))
    error = r.json()["error"]
    assert error["details"][0]["loc"] == ["body", "size"]
    assert "body.size" in error["message"] and "outside 1..18446744073709551615" in error["message"]
    r = node.client.post("/orders", json=_body(account="0x1234"))
    assert r.json()["error"]["message"] == (
        "body.account: an address is 0x followed by 40 hex digits (20 bytes)"
    )


def test_malformed_json_says_where_it_broke(node: Node) -> None:
    r = node.client.post(
        "/orders", content=b'{"a": }', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert "not valid JSON" in r.json()["error"]["message"]


def test_an_unexpected_error_is_a_logged_500_in_the_envelope(node: Node) -> None:
    def broken_clock() -> tuple[int, int]:
        raise RuntimeError("the L1 head is unreadable")

    app = create_app(node.core, broken_clock)
    before = node.snapshot()
    with (
        TestClient(app, raise_server_exceptions=False) as client,
        structlog.testing.capture_logs() as logs,
    ):
        r = client.post("/orders", json=order_body(_order(ALICE, Side.BUY)))
        metrics = client.get("/metrics").text
    assert r.status_code == 500
    assert r.json() == {
        "error": {"code": "internal", "message": "internal error; the node logged it (api.error)"}
    }
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["api.error"]
    assert "the L1 head is unreadable" in logs[-1]["err"]
    assert _metric(metrics, "optirollup_rejects_total", '{code="internal"}') == 1
    assert node.snapshot() == before


# --- bulk orders: POST /orders/batch --------------------------------------------------------


def _bulk(node: Node, bodies: list[Any]) -> list[dict[str, Any]]:
    r = node.client.post("/orders/batch", json={"orders": bodies})
    assert r.status_code == 200, r.text
    # The documented shape, and byte for byte what the response models dump (the handler
    # encodes the answer without them).
    model = OrderBatchOut.model_validate_json(r.content)
    assert r.content == model.model_dump_json(exclude_none=True).encode()
    results: list[dict[str, Any]] = r.json()["results"]
    assert len(results) == len(bodies)
    return results


def _alone(node: Node, body: Any) -> dict[str, Any]:
    """Return what POST /orders answers ``body``, as a bulk result."""
    r = node.client.post("/orders", json=body)
    key = "ack" if r.status_code == 200 else "error"
    return {"status": r.status_code, key: r.json() if key == "ack" else r.json()["error"]}


def _without_details(result: dict[str, Any]) -> dict[str, Any]:
    """Drop what differs for a validation error: the location prefix of its details."""
    if "error" in result and result["error"]["code"] == "bad_request":
        return {"status": result["status"], "code": "bad_request"}
    return result


def test_a_bulk_request_answers_each_order_as_post_orders_would_alone(tmp_path: Path) -> None:
    bodies: list[Any] = [
        order_body(_order(ALICE, Side.SELL)),  # rests
        order_body(_order(BOB, Side.BUY, price=PRICE + 5 * TICK, size=4 * LOT)),  # fills 4
        order_body(_order(BOB, Side.BUY, nonce=2, key=CAROL.key)),  # bad signature
        _body(size="01000000"),  # fails validation on its own
        order_body(_order(CAROL, Side.BUY, market=7)),  # unknown market: 404
        order_body(_order(ALICE, Side.SELL)),  # a duplicate: 409
        [1, 2],  # not an order at all
        order_body(_order(CAROL, Side.BUY, size=6 * LOT, flags=OrderFlags.IOC)),  # fills 6
    ]
    with _serve(tmp_path / "one") as one, _serve(tmp_path / "bulk") as bulk:
        expected = [_alone(one, b) for b in bodies]
        got = _bulk(bulk, bodies)
        assert [_without_details(r) for r in got] == [_without_details(r) for r in expected]
        assert [r["status"] for r in got] == [200, 200, 422, 422, 404, 409, 422, 200]
        assert got[1]["ack"]["fills"][0]["position"] == 2 + len(WORK.traders)
        assert bulk.snapshot() == one.snapshot()
        details = got[3]["error"]["details"]
        assert details[0]["loc"] == ["body", "orders", 3, "size"]
        assert "body.orders.3.size" in got[3]["error"]["message"]


def test_every_bad_order_in_a_bulk_request_gets_its_code_and_changes_nothing(
    node: Node,
) -> None:
    cases = [
        c for c in BAD.values() if c.path == "/orders" and c.raw is None and c.method == "POST"
    ]
    _place(node, _RESTING)
    r = node.client.post("/transactions", json=_hex(_signed(_WITHDRAW, DAVE.key)))
    assert r.status_code == 200, r.text
    for nonce in (1, 2):
        _place(node, _order(CAROL, Side.SELL, price=PRICE + 10 * TICK, nonce=nonce))
    assert node.client.post("/cancels", json=_hex(_signed(CancelAll(CAROL.address, 2), CAROL.key)))
    before = node.snapshot()
    results = _bulk(node, [c.body for c in cases])
    assert [(r["status"], r["error"]["code"]) for r in results] == [
        (c.status, c.code) for c in cases
    ]
    assert node.snapshot() == before
    text = node.client.get("/metrics").text
    refused = [c for c in cases if c.code != "bad_request"]
    assert _metric(text, "optirollup_orders_total", '{result="rejected"}') == len(refused)
    assert _metric(text, "optirollup_order_batch_seconds_count") == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [({"orders": []}, 422), ({"orders": [_body()] * 501}, 422), ({"orders": _body()}, 422),
     ([_body()], 422), ({"orders": [_body()], "atomic": True}, 422)],
    ids=["no orders", "more than 500", "orders not a list", "a bare list", "an unknown field"],
)  # fmt: skip
def test_a_bulk_request_that_is_not_a_list_of_1_to_500_orders_is_refused_whole(
    node: Node, body: Any, status: int
) -> None:
    before = node.snapshot()
    r = node.client.post("/orders/batch", json=body)
    assert r.status_code == status and r.json()["error"]["code"] == "bad_request", r.text
    assert node.snapshot() == before


def test_bulk_orders_count_in_the_metrics_as_if_sent_alone(node: Node) -> None:
    pairs = [(_order(ALICE, Side.SELL, size=LOT, nonce=k), _order(BOB, Side.BUY, size=LOT, nonce=k))
             for k in range(1, 6)]  # fmt: skip
    bodies = [order_body(s) for p in pairs for s in p] + [_body(side="short")]
    results = _bulk(node, bodies)
    assert [r["ack"]["status"] for r in results[:-1]] == ["resting", "filled"] * 5
    text = node.client.get("/metrics").text
    assert _metric(text, "optirollup_orders_total", '{result="resting"}') == 5
    assert _metric(text, "optirollup_orders_total", '{result="filled"}') == 5
    assert _metric(text, "optirollup_fills_total") == 5
    assert _metric(text, "optirollup_rejects_total", '{code="bad_request"}') == 1
    assert _metric(text, "optirollup_order_seconds_count") == 0
    assert _account(node, BOB)["positions"][0]["size"] == str(5 * LOT)


# --- the wire format ------------------------------------------------------------------------


orders = st.builds(
    Order,
    account=st.binary(min_size=20, max_size=20),
    market=st.integers(0, 2**32 - 1),
    side=st.sampled_from([0, 1]),
    price=st.integers(1, U64_MAX),
    size=st.integers(1, U64_MAX),
    fee_cap_ppm=st.integers(0, 2**32 - 1),
    nonce=st.integers(0, U64_MAX),
    expiry=st.integers(0, U64_MAX),
    flags=st.integers(0, 7),
)


@given(order=orders, signature=st.binary(min_size=65, max_size=65), as_numbers=st.booleans())
def test_an_order_body_round_trips_through_the_request_model(
    order: Order, signature: bytes, as_numbers: bool
) -> None:
    body = order_body(SignedOrder(order, signature))
    if as_numbers:  # JSON integers are accepted as well as decimal strings
        body = {
            k: int(v) if k in ("price", "size", "nonce", "expiry") else v for k, v in body.items()
        }
    wire = json.loads(json.dumps(body))
    assert OrderRequest.model_validate(wire).signed_order() == SignedOrder(order, signature)


@given(
    order_list=st.lists(st.builds(SignedOrder, orders, st.binary(min_size=65, max_size=65)),
                        min_size=1, max_size=5),
    spoil=st.sampled_from([None, "price", "side", "signature", "extra"]),
)  # fmt: skip
def test_a_bulk_body_validates_each_item_as_a_single_order_would(
    order_list: list[SignedOrder], spoil: str | None
) -> None:
    bodies: list[Any] = [order_body(s) for s in order_list]
    if spoil is not None:  # one bad item: the others must still validate on their own
        bad = {"price": "01", "side": "short", "signature": "0x12", "extra": {"price": 1.5}}[spoil]
        bodies[-1] = {**bodies[-1], spoil: bad} if spoil != "extra" else {**bodies[-1], **bad}
    got = OrderBatchRequest.model_validate({"orders": bodies}).items()
    for body, item in zip(bodies, got, strict=True):
        try:
            expected: Any = OrderRequest.model_validate(body)
        except ValidationError as err:
            assert isinstance(item, ValidationError) and item.json() == err.json()
        else:
            assert item == expected and item.signed_order() == expected.signed_order()
    assert isinstance(got[-1], ValidationError) == (spoil is not None)


def test_order_body_refuses_what_the_api_cannot_carry() -> None:
    signed = _order(ALICE, Side.BUY)
    with pytest.raises(ValueError, match="side"):
        order_body(replace(signed, order=replace(signed.order, side=2)))
    with pytest.raises(ValueError, match="flags"):
        order_body(replace(signed, order=replace(signed.order, flags=8)))
    with pytest.raises(ValidationError):
        OrderRequest.model_validate({**order_body(signed), "price": str(U64_MAX + 1)})
