"""The node's HTTP API: FastAPI over a :class:`~optirollup.executor.node.NodeCore`.

Shell layer: :func:`create_app` builds an app with no global state (its clock, its lock and its
Prometheus registry are its own), so tests run it in-process with FastAPI's ``TestClient`` and
the node serves it with uvicorn. Wire formats are in :mod:`optirollup.api.models`.

Endpoints: ``POST /orders``, ``POST /orders/batch``, ``POST /cancels``, ``POST /transactions``;
``GET /markets``, ``/markets/{id}``, ``/markets/{id}/book``, ``/accounts/{address}``,
``/batches``, ``/withdrawals/{id}``, ``/status``, ``/healthz``, ``/metrics``; the OpenAPI schema
at ``/openapi.json`` (and ``/docs``).

Errors have one shape, ``{"error": {"code": ..., "message": ...}}``, built in one place
(:func:`_error_response`):

* a :class:`~optirollup.executor.node.NodeError` keeps its ``code`` and HTTP ``status``;
* a body that is not JSON is 400 ``bad_request``; a body, path or query that fails validation
  (wrong type, bad hex, out-of-range integer, unknown field) is 422 ``bad_request`` with the
  offending fields in ``error.details``: such requests never reach the node;
* an unknown route is 404 ``not_found`` (405 ``method_not_allowed`` for a wrong method);
* anything else is 500 ``internal``, logged as ``api.error``.

``POST /orders/batch`` (the market maker's path) takes up to
:data:`~optirollup.api.models.MAX_ORDER_BATCH` order bodies and places them in order through
:meth:`NodeCore.place_orders <optirollup.executor.node.NodeCore.place_orders>`: one lock hold
and one synced journal write for all of them (instead of one each), then one answer per order,
``{"status": ..., "ack": ...}`` or ``{"status": ..., "error": {"code": ..., "message": ...}}``
with exactly the status and body ``POST /orders`` would have given it (an item that fails
validation is ``bad_request`` on its own; the request itself fails only if it is not a list of
1 to ``MAX_ORDER_BATCH`` items). Each order counts in the metrics as if sent alone.

Metrics (``GET /metrics``, Prometheus text format): ``optirollup_orders_total{result}`` (the
order's status, ``rejected`` or ``error``), ``optirollup_rejects_total{code}`` (every error
response but a routing 404/405, by code, and every refused item of a bulk request),
``optirollup_fills_total``, the histograms ``optirollup_order_seconds`` (``POST /orders``
handler time) and ``optirollup_order_batch_seconds`` (``POST /orders/batch``'s time in the
core, journal write included), and gauges read from
``NodeCore.status()`` at each scrape: ``optirollup_batches{state}`` (sealed, posted, final),
``optirollup_finality_lag_batches``, ``optirollup_open_txs`` (the queue depth of the open
batch) and ``optirollup_deposits_known``.

The core is not thread-safe, and FastAPI runs these (synchronous) handlers in a thread pool:
every core call holds the app's ``lock``, except ``NodeCore.recover_signers`` (thread-safe by
design): the order handlers recover their signatures before taking the lock, so that work
(libsecp256k1 releases the GIL) overlaps with the request holding the core. A node whose own
loops (sealing, deposits, posting) call the core from other threads passes the same lock to
:func:`create_app`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Annotated, Any

import structlog
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from optirollup.api.models import (
    ADDRESS_PATTERN,
    PATTERN_HINTS,
    U32_MAX,
    U64_MAX,
    AccountOut,
    BatchOut,
    BookOut,
    ErrorOut,
    FillOut,
    Flags,
    Health,
    LevelOut,
    MarketOut,
    OpenOrderOut,
    OrderAckOut,
    OrderBatchOut,
    OrderBatchRequest,
    OrderRequest,
    PositionOut,
    StatusOut,
    TxAckOut,
    TxRequest,
    WithdrawalOut,
    hexstr,
    unhex,
)
from optirollup.codec.tx import MarketKind, Side
from optirollup.engine import Depth
from optirollup.engine import OrderView as EngineOrderView
from optirollup.executor.node import (
    AccountView,
    BatchView,
    NodeCore,
    NodeError,
    OrderAck,
    StatusView,
    TxAck,
    WithdrawalView,
)
from optirollup.state.leaves import Market

__all__ = ["Clock", "create_app"]

log = structlog.get_logger("optirollup.api")

Clock = Callable[[], tuple[int, int]]
"""Return ``(batch_time, now)``: the batch time a batch opened now gets (the node uses the
latest L1 block's timestamp) and local seconds for the seal policy."""

MAX_LEVELS = 500
MAX_BATCHES = 1000

MarketId = Annotated[int, Path(ge=0, le=U32_MAX, description="market id (u32)")]
AddressPath = Annotated[str, Path(pattern=ADDRESS_PATTERN, description="20 bytes, 0x-hex")]

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "malformed JSON, or a request the node refuses"},
    404: {"model": ErrorOut, "description": "unknown route, market or batch"},
    409: {"model": ErrorOut, "description": "a conflict: replayed nonce, duplicate order, …"},
    422: {"model": ErrorOut, "description": "validation failed, or the node refused the request"},
    500: {"model": ErrorOut, "description": "an unexpected error (logged as api.error)"},
}

_DESCRIPTION = """\
Submit EIP-712 signed orders, cancels and withdrawals to an optirollup node; read its markets,
books, accounts, batches and status.

* Bytes are 0x-hex of exact length (addresses 20, hashes 32, signatures 65 bytes).
* Amounts, prices, sizes, nonces and times are **decimal strings** in responses (they may exceed
  2^53); requests accept them as decimal strings or JSON integers. Ids, indexes, counts and
  u8/u32 fields are JSON numbers.
* `side` is `"buy"` or `"sell"`; `flags` are the booleans `post_only`, `reduce_only`, `ioc`.
* Every error is `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx status;
  `code` is machine-readable (`bad_request`, `bad_signature`, `unknown_market`, `expired`,
  `duplicate_order`, `bad_nonce`, `insufficient_margin`, ...).
"""


# --- conversions --------------------------------------------------------------------------------


def _fill_out(ack: OrderAck) -> list[FillOut]:
    return [
        FillOut(
            maker_hash=hexstr(f.maker_hash),
            taker_hash=hexstr(f.taker_hash),
            price=str(f.price),
            size=str(f.size),
            batch_index=f.batch_index,
            position=f.position,
        )
        for f in ack.fills
    ]


def _ack_json(ack: OrderAck) -> dict[str, Any]:
    """Return ``order_ack_out(ack)`` as the JSON values pydantic would dump (same keys, same
    order), without building the models: the bulk answer's hot path."""
    return {
        "order_hash": "0x" + ack.order_hash.hex(),
        "status": ack.status,
        "filled": str(ack.filled),
        "remaining": str(ack.remaining),
        "fills": [
            {
                "maker_hash": "0x" + f.maker_hash.hex(),
                "taker_hash": "0x" + f.taker_hash.hex(),
                "price": str(f.price),
                "size": str(f.size),
                "batch_index": f.batch_index,
                "position": f.position,
            }
            for f in ack.fills
        ],
    }


def order_ack_out(ack: OrderAck) -> OrderAckOut:
    """Return the wire form of an order acknowledgement."""
    return OrderAckOut(
        order_hash=hexstr(ack.order_hash),
        status=ack.status,
        filled=str(ack.filled),
        remaining=str(ack.remaining),
        fills=_fill_out(ack),
    )


def tx_ack_out(ack: TxAck) -> TxAckOut:
    """Return the wire form of a transaction acknowledgement."""
    return TxAckOut(
        tx_hash=hexstr(ack.tx_hash),
        batch_index=ack.batch_index,
        position=ack.position,
        withdrawal_id=ack.withdrawal_id,
    )


def withdrawal_out(w: WithdrawalView) -> WithdrawalOut:
    """Return the wire form of a withdrawal view."""
    return WithdrawalOut(
        withdrawal_id=w.withdrawal_id,
        account=hexstr(w.account),
        recipient=hexstr(w.recipient),
        amount=str(w.amount),
        final=w.final,
        batch_index=w.batch_index,
        proof=[hexstr(node) for node in w.proof],
    )


def _kind(kind: int) -> str:
    try:
        return MarketKind(kind).name.lower()
    except ValueError:
        return str(kind)


def market_out(market_id: int, m: Market) -> MarketOut:
    """Return the wire form of a market leaf."""
    return MarketOut(
        id=market_id,
        kind=_kind(m.kind),
        symbol=m.symbol.rstrip(b"\x00").decode("utf-8", errors="replace"),
        strike=str(m.strike),
        expiry=str(m.expiry),
        lot_size=str(m.lot_size),
        tick_size=str(m.tick_size),
        im_ppm=m.im_ppm,
        mm_ppm=m.mm_ppm,
        maker_fee_ppm=m.maker_fee_ppm,
        taker_fee_ppm=m.taker_fee_ppm,
        max_funding_ppm=m.max_funding_ppm,
        oracle_price=str(m.oracle_price),
        option_mark=str(m.option_mark),
        oracle_time=str(m.oracle_time),
        funding_index=str(m.funding_index),
        funding_time=str(m.funding_time),
        settlement_price=str(m.settlement_price),
    )


def book_out(depth: Depth) -> BookOut:
    """Return the wire form of a book's depth."""

    def levels(side: tuple[Any, ...]) -> list[LevelOut]:
        return [LevelOut(price=str(v.price), size=str(v.size), orders=v.orders) for v in side]

    return BookOut(market=depth.market, bids=levels(depth.bids), asks=levels(depth.asks))


def _open_order_out(v: EngineOrderView) -> OpenOrderOut:
    o = v.order
    return OpenOrderOut(
        order_hash=hexstr(v.order_hash),
        market=o.market,
        side="buy" if o.side == Side.BUY else "sell",
        price=str(o.price),
        size=str(o.size),
        filled=str(v.filled),
        remaining=str(v.remaining),
        fee_cap_ppm=o.fee_cap_ppm,
        nonce=str(o.nonce),
        expiry=str(o.expiry),
        flags=Flags.of(o.flags),
    )


def account_out(a: AccountView) -> AccountOut:
    """Return the wire form of an account view."""
    return AccountOut(
        address=hexstr(a.address),
        collateral=str(a.collateral),
        nonce=str(a.nonce),
        cancel_floor=str(a.cancel_floor),
        positions=[
            PositionOut(market=p.market, size=str(p.size), funding_snapshot=str(p.funding_snapshot))
            for p in a.positions
        ],
        equity=str(a.equity),
        initial=str(a.initial),
        maintenance=str(a.maintenance),
        open_orders=[_open_order_out(v) for v in a.open_orders],
    )


def batch_out(b: BatchView) -> BatchOut:
    """Return the wire form of a batch view."""
    status = b.status if b.status in ("sealed", "posted", "final") else "sealed"
    return BatchOut(
        index=b.index,
        prev_root=hexstr(b.prev_root),
        post_root=hexstr(b.post_root),
        batch_time=str(b.batch_time),
        tx_count=b.tx_count,
        status=status,  # type: ignore[arg-type]  # narrowed to the literal just above
    )


def status_out(s: StatusView) -> StatusOut:
    """Return the wire form of the node's status."""
    return StatusOut(
        head_batch=s.head_batch,
        head_root=hexstr(s.head_root),
        open_txs=s.open_txs,
        deposits_known=s.deposits_known,
        posted=s.posted,
        final=s.final,
    )


# --- metrics ------------------------------------------------------------------------------------


class _Metrics:
    """The app's own Prometheus registry and the counters its handlers move."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.orders = Counter(
            "optirollup_orders", "Orders received, by result", ["result"], registry=registry
        )
        self.rejects = Counter(
            "optirollup_rejects", "Error responses, by error code", ["code"], registry=registry
        )
        self.fills = Counter("optirollup_fills", "FILLs sequenced for orders", registry=registry)
        self.order_seconds = Histogram(
            "optirollup_order_seconds",
            "Time to handle POST /orders (check, match, journal)",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=registry,
        )
        self.order_batch_seconds = Histogram(
            "optirollup_order_batch_seconds",
            "Time POST /orders/batch holds the core (check, match, one journal write)",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=registry,
        )


class _StatusCollector(Collector):
    """Gauges read from ``NodeCore.status()`` at each scrape."""

    def __init__(self, core: NodeCore, lock: AbstractContextManager[Any]) -> None:
        self._core = core
        self._lock = lock

    def collect(self) -> Iterator[Metric]:
        """Yield the batch, queue and deposit gauges."""
        with self._lock:
            s = self._core.status()
        batches = GaugeMetricFamily(
            "optirollup_batches", "Batches by how far they got", labels=["state"]
        )
        batches.add_metric(["sealed"], s.head_batch)
        batches.add_metric(["posted"], s.posted)
        batches.add_metric(["final"], s.final)
        yield batches
        yield GaugeMetricFamily(
            "optirollup_finality_lag_batches",
            "Sealed batches not final yet",
            value=max(0, s.head_batch - s.final),
        )
        yield GaugeMetricFamily(
            "optirollup_open_txs", "Transactions in the open batch", value=s.open_txs
        )
        yield GaugeMetricFamily(
            "optirollup_deposits_known", "Vault deposits learned", value=s.deposits_known
        )


# --- errors -------------------------------------------------------------------------------------


def _envelope(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


def _validation_details(
    errors: Sequence[Any], prefix: Sequence[str | int] = ()
) -> tuple[int, str, list[dict[str, Any]]]:
    """Return the status, message and details of pydantic's ``errors`` (locations after
    ``prefix``)."""
    details: list[dict[str, Any]] = []
    status = 422
    for e in errors:
        loc = [*prefix, *(p if isinstance(p, int) else str(p) for p in e.get("loc", ()))]
        kind = str(e.get("type", ""))
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        ctx = e.get("ctx") or {}
        if kind == "string_pattern_mismatch" and ctx.get("pattern") in PATTERN_HINTS:
            msg = PATTERN_HINTS[ctx["pattern"]]
        if kind == "json_invalid":
            status = 400
            msg = f"the body is not valid JSON: {ctx.get('error', msg)} (character {loc[-1]})"
        details.append({"loc": loc, "msg": msg, "type": kind})
    if status == 400:
        return status, details[0]["msg"], details
    parts = [".".join(map(str, d["loc"])) + ": " + d["msg"] for d in details[:3]]
    more = f" (and {len(details) - 3} more)" if len(details) > 3 else ""
    return status, "; ".join(parts) + more, details


class _CatchAll:
    """ASGI middleware: turn an unhandled exception into the 500 envelope (before any byte of
    the response is sent)."""

    def __init__(self, app: ASGIApp, on_error: Callable[[Scope, Exception], Response]) -> None:
        self.app = app
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; answer 500 if it raises before starting its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as err:
            if started:
                raise
            await self.on_error(scope, err)(scope, receive, send)


# --- the app ------------------------------------------------------------------------------------


def create_app(
    core: NodeCore,
    clock: Clock,
    *,
    lock: AbstractContextManager[Any] | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """Return the HTTP API over ``core``.

    ``clock`` returns ``(batch_time, now)`` for each write. ``lock`` serialises every core call,
    ``/metrics``'s status read included (default: a reentrant lock of this app's own; a node
    whose loops call the core from other threads passes theirs). ``registry`` receives the
    metrics (default: a new registry, never the global one); it is ``app.state.registry``, so
    the node can add its own metrics to the same ``/metrics``.
    """
    guard: AbstractContextManager[Any] = lock if lock is not None else threading.RLock()
    metrics = _Metrics(registry if registry is not None else CollectorRegistry(auto_describe=True))
    metrics.registry.register(_StatusCollector(core, guard))

    app = FastAPI(
        title="optirollup node",
        version="1",
        description=_DESCRIPTION,
        responses=_ERROR_RESPONSES,
    )
    app.state.registry = metrics.registry

    # -- errors: the one place that shapes them --------------------------------------------

    def _error_response(status: int, code: str, message: str, **kw: Any) -> JSONResponse:
        metrics.rejects.labels(code).inc()
        return _envelope(status, code, message, **kw)

    def on_node_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NodeError)
        log.info("api.rejected", path=request.url.path, code=exc.code, err=str(exc))
        return _error_response(exc.status, exc.code, str(exc))

    def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        status, message, details = _validation_details(exc.errors())
        return _error_response(status, "bad_request", message, details=details)

    def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            code, message = "not_found", f"no route {request.method} {request.url.path}"
        elif exc.status_code == 405:
            code = "method_not_allowed"
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            return _error_response(exc.status_code, "http_error", str(exc.detail))
        return _envelope(exc.status_code, code, message)

    def on_unexpected(scope: Scope, exc: Exception) -> Response:
        log.error(
            "api.error",
            path=scope.get("path"),
            method=scope.get("method"),
            err=repr(exc),
            exc_info=exc,
        )
        return _error_response(500, "internal", "internal error; the node logged it (api.error)")

    app.add_exception_handler(NodeError, on_node_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_middleware(_CatchAll, on_error=on_unexpected)

    # -- writes -----------------------------------------------------------------------------

    @app.post("/orders", tags=["trading"])
    def post_order(body: OrderRequest) -> OrderAckOut:
        """Check, match and sequence a signed order; return what became of it and its fills.

        The acknowledgement is durable: its fills are journaled before the response.
        """
        signed = body.signed_order()
        core.recover_signers([signed])  # thread-safe: outside the lock
        batch_time, now = clock()
        start = time.perf_counter()
        try:
            with guard:
                ack = core.place_order(signed, batch_time=batch_time, now=now)
        except NodeError:
            metrics.orders.labels("rejected").inc()
            raise
        except Exception:
            metrics.orders.labels("error").inc()
            raise
        finally:
            metrics.order_seconds.observe(time.perf_counter() - start)
        metrics.orders.labels(ack.status).inc()
        metrics.fills.inc(len(ack.fills))
        return order_ack_out(ack)

    @app.post("/orders/batch", tags=["trading"], response_model=OrderBatchOut)
    def post_orders(body: OrderBatchRequest) -> Response:
        """Place up to 500 signed orders in order; answer each one as ``POST /orders`` would.

        The orders go through the books one after the other exactly as if sent one by one, but
        under one lock hold and with **one** synced journal write: every acknowledgement in the
        answer is durable, and none exists before that write. Each result carries the status
        ``POST /orders`` would have answered and either ``ack`` or ``error`` (same codes); a
        refused or malformed order changes nothing and does not affect the others.
        """
        items = body.items()
        signed = [item.signed_order() for item in items if isinstance(item, OrderRequest)]
        core.recover_signers(signed)  # thread-safe: outside the lock, overlapping other requests
        batch_time, now = clock()
        start = time.perf_counter()
        try:
            with guard:
                placed = core.place_orders(signed, batch_time=batch_time, now=now)
        except Exception:
            metrics.orders.labels("error").inc(len(signed))
            raise
        finally:
            metrics.order_batch_seconds.observe(time.perf_counter() - start)
        # The answer is built as plain JSON values and encoded once (json's C encoder, compact
        # like pydantic's): building and validating 500 response models took about a tenth of
        # the handler. The tests check the answers against OrderBatchOut.
        results: list[dict[str, Any]] = []
        statuses: dict[str, int] = {}
        rejects: dict[str, int] = {}
        fills = 0
        answers = iter(placed)
        for i, item in enumerate(items):
            if isinstance(item, ValidationError):
                _, message, details = _validation_details(item.errors(), ("body", "orders", i))
                rejects["bad_request"] = rejects.get("bad_request", 0) + 1
                error = {"code": "bad_request", "message": message, "details": details}
                results.append({"status": 422, "error": error})
                continue
            answer = next(answers)
            if isinstance(answer, NodeError):
                statuses["rejected"] = statuses.get("rejected", 0) + 1
                rejects[answer.code] = rejects.get(answer.code, 0) + 1
                log.info("api.rejected", path="/orders/batch", item=i, code=answer.code,
                         err=str(answer))  # fmt: skip
                error = {"code": answer.code, "message": str(answer)}
                results.append({"status": answer.status, "error": error})
                continue
            statuses[answer.status] = statuses.get(answer.status, 0) + 1
            fills += len(answer.fills)
            results.append({"status": 200, "ack": _ack_json(answer)})
        # Each order counts as if sent alone; one update per label (not per order).
        for result, n in statuses.items():
            metrics.orders.labels(result).inc(n)
        for code, n in rejects.items():
            metrics.rejects.labels(code).inc(n)
        metrics.fills.inc(fills)
        out = json.dumps({"results": results}, ensure_ascii=False, separators=(",", ":"))
        return Response(out.encode(), media_type="application/json")

    @app.post("/cancels", tags=["trading"], response_model_exclude_none=True)
    def post_cancel(body: TxRequest) -> TxAckOut:
        """Sequence a signed CANCEL or CANCEL_ALL and take the orders it kills off the books."""
        batch_time, now = clock()
        with guard:
            return tx_ack_out(core.cancel(body.raw(), batch_time=batch_time, now=now))

    @app.post("/transactions", tags=["trading"], response_model_exclude_none=True)
    def post_transaction(body: TxRequest) -> TxAckOut:
        """Sequence a signed transaction (WITHDRAW, …); FILLs come from the books only.

        For a WITHDRAW the answer carries ``withdrawal_id``: follow it with
        ``GET /withdrawals/{id}`` until it is final, then claim it with ``Vault.withdraw``.
        """
        batch_time, now = clock()
        with guard:
            return tx_ack_out(core.submit_tx(body.raw(), batch_time=batch_time, now=now))

    # -- reads ------------------------------------------------------------------------------

    @app.get("/markets", tags=["markets"])
    def get_markets() -> list[MarketOut]:
        """List every listed market with its parameters and oracle data."""
        with guard:
            markets = core.markets()
        return [market_out(mid, m) for mid, m in sorted(markets.items())]

    @app.get("/markets/{market_id}", tags=["markets"])
    def get_market(market_id: MarketId) -> MarketOut:
        """Return one market."""
        with guard:
            m = core.markets().get(market_id)
        if m is None:
            raise NodeError("unknown_market", f"market {market_id} is not listed", 404)
        return market_out(market_id, m)

    @app.get("/markets/{market_id}/book", tags=["markets"])
    def get_book(
        market_id: MarketId,
        levels: Annotated[int, Query(ge=1, le=MAX_LEVELS, description="levels per side")] = 20,
    ) -> BookOut:
        """Return the market's aggregated book, best price first on each side."""
        with guard:
            return book_out(core.book(market_id, levels))

    @app.get("/accounts/{address}", tags=["accounts"])
    def get_account(address: AddressPath) -> AccountOut:
        """Return an account: collateral, positions, equity, margin requirements, open orders.

        An address the state does not know reads as an empty account.
        """
        with guard:
            return account_out(core.account(unhex(address)))

    @app.get("/batches", tags=["batches"])
    def get_batches(
        start: Annotated[int, Query(ge=0, le=U64_MAX, description="first batch index")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_BATCHES, description="most batches")] = 100,
    ) -> list[BatchOut]:
        """List sealed batches from ``start`` with their L1 status (sealed, posted, final)."""
        with guard:
            return [batch_out(b) for b in core.batches(start, limit)]

    @app.get("/withdrawals/{withdrawal_id}", tags=["accounts"])
    def get_withdrawal(
        withdrawal_id: Annotated[int, Path(ge=0, le=U64_MAX, description="withdrawal id (u64)")],
    ) -> WithdrawalOut:
        """Return a withdrawal; once a final batch holds it, that batch and the leaf's proof.

        ``final`` is false (``batch_index`` null, ``proof`` empty) until the batch holding it is
        final on L1; then ``Vault.withdraw(batch_index, withdrawal_id, account, recipient,
        amount, proof)`` pays it. An id no WITHDRAW has taken is 404 ``unknown_withdrawal``.
        """
        with guard:
            w = core.withdrawal(withdrawal_id)
        if w is None:
            raise NodeError(
                "unknown_withdrawal",
                f"withdrawal {withdrawal_id} does not exist (ids come from POST /transactions)",
                404,
            )
        return withdrawal_out(w)

    @app.get("/status", tags=["node"])
    def get_status() -> StatusOut:
        """Return the node's head batch and root, open batch size and L1 progress."""
        with guard:
            return status_out(core.status())

    @app.get("/healthz", tags=["node"])
    def get_health() -> Health:
        """Answer ``{"ok": true}`` while the process serves requests."""
        return Health(ok=True)

    @app.get("/metrics", tags=["node"], response_class=PlainTextResponse)
    def get_metrics() -> Response:
        """Return the Prometheus metrics of this node (text exposition format)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
