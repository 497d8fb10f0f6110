"""Measure the node: order-acknowledgement latency and throughput, in process and over HTTP,
order by order and in bursts, and fills sequenced end to end into batches posted on anvil.

Prints figures (nothing is asserted) with the machine's limits measured in the same run: the
cores and the load average (the machine may be shared: compare figures of one run only), a
synced LevelDB write (the floor of one durable acknowledgement) and signature recovery.

Every acknowledgement counted here is durable: it is returned only after the synced LevelDB
write that holds it (one write per order for the single-order paths, one per burst or bulk
request for the others, plus one per batch sealed on the way). The workload is crossing (maker sell, taker buy) pairs of one lot
each at prices that vary by a few ticks, so every pair makes exactly one FILL: an order is
half a fill, and fills/s is half of orders/s. Every order's signature is recovered and checked.

1. Matching alone (``optirollup.engine``, pure): p50/p99 of one submit that crosses a resting
   order (the issue's aim: p99 < 1 ms).
2. ``NodeCore.place_order`` on LevelDB, one order at a time: checks, signature recovery,
   matching, the STF and one synced journal write per order; p50/p99 and orders/s.
3. ``NodeCore.place_orders``, bursts of 500 orders: the same work, one synced write per burst;
   p50/p99 of a burst's acknowledgement and orders/s.
4. ``POST /orders`` over HTTP (uvicorn + FastAPI on a loopback port chosen at run time), with 1
   and with 4 concurrent clients: orders/s and p50/p99 as the client sees them.
5. ``POST /orders/batch``, 500 orders a request, with 1 and with 2 concurrent clients: the
   path a market maker uses; orders/s, fills/s, p50/p99 of a request.
6. End to end on anvil: ``optirollup node run``'s runner in process, with its loop (sealing at
   500 transactions, posting with ``Rollup.propose``, finalizing) and its own HTTP server.
   a. orders placed one at a time in process (``place_order``, the old path);
   b. the market maker's path: 2 clients sending ``POST /orders/batch`` of 500 orders to the
      runner's server.
   Each counts from its first order until the last of its fills is in a batch L1 holds
   (``Rollup.batch_count``); it also prints the rate into the journal (acknowledged) and the
   tail (from the last acknowledgement to the last batch on L1). The issue's aim: ≥ 2,000
   fills/s end to end. In b the clients run in a process of their own (as a market maker's
   would: they do not compete with the node for its interpreter lock), which also watches L1
   for the last batch; anvil runs on the same machine.

Usage: .venv/bin/python bench/node_throughput.py [--pairs 2000] [--e2e-pairs 8000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from optirollup.api.models import MAX_ORDER_BATCH, order_body
from optirollup.codec import eip712
from optirollup.codec.tx import Order, SignedOrder
from optirollup.engine import Engine, MarketParams
from optirollup.executor.node import NodeCore, OrderAck
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import genesis_root
from optirollup.testkit import Signer, Trader, perp_workload

LOT, TICK, PRICE = 100_000, 1_000, 3_000_000_000
BURST = MAX_ORDER_BATCH


def pct(xs: Sequence[float], p: float) -> float:
    """Return the p-th percentile (nearest rank) in milliseconds of seconds ``xs``."""
    s = sorted(xs)
    return 1000 * s[min(len(s) - 1, int(p / 100 * len(s)))]


def orders(
    signer: Signer, traders: Sequence[Trader], pairs: int, start: int = 0
) -> list[SignedOrder]:
    """Return ``pairs`` (maker sell, taker buy) orders that cross one to one."""
    out = []
    for k in range(start, start + pairs):
        m, t = traders[k % len(traders)], traders[(k + 1) % len(traders)]
        price = PRICE + (k % 7) * TICK
        out.append(signer.order(Order(m.address, 1, 1, price, LOT, 1_000, k, 2**40), m.key))
        out.append(signer.order(Order(t.address, 1, 0, price, LOT, 1_000, k, 2**40), t.key))
    return out


def funded_core(path: Path, signer: Signer) -> tuple[LevelDB, NodeCore, list[Trader]]:
    """Return a NodeCore with the workload's market, price and funded traders."""
    work = perp_workload(0, signer, traders=16)
    db = LevelDB(path)
    core = NodeCore(db, signer.separator, genesis_root=genesis_root(db.nodes, work.oracle.address))
    for tx in work.txs[:2]:
        core.submit_tx(tx, batch_time=10, now=0)
    core.include_deposits(0, zip(work.deposit_hashes, work.txs[2:], strict=True),
                          batch_time=10, now=0)  # fmt: skip
    return db, core, list(work.traders)


def limits(tmp: Path) -> None:
    """Print the machine's limits relevant to the figures."""
    db = LevelDB(tmp / "fsync")
    n, t0 = 200, time.perf_counter()
    for i in range(n):
        db.write_batch({}, {b"x": i.to_bytes(4, "big")})
    sync = (time.perf_counter() - t0) / n
    db.close()
    signed = orders(Signer(), [Trader.of(i) for i in range(4)], 500)
    t0 = time.perf_counter()
    for s in signed:
        eip712.recover(s.order.hash(Signer().separator), s.signature)
    rec = len(signed) / (time.perf_counter() - t0)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}; a synced LevelDB write "
          f"{1000 * sync:.2f} ms ({1 / sync:,.0f}/s); order hash + signature recovery "
          f"{rec:,.0f}/s")  # fmt: skip


def bench_engine(pairs: int) -> None:
    signer = Signer()
    engine = Engine(signer.separator, {1: MarketParams(LOT, TICK, 200, 500)})
    lat = []
    for i, s in enumerate(orders(signer, [Trader.of(i) for i in range(16)], pairs)):
        t0 = time.perf_counter()
        engine.submit(s, now=10, positions=lambda a, m: 0)
        if i % 2:
            lat.append(time.perf_counter() - t0)
    print(f"1. engine match (pure), {pairs:,} crossing submits: p50 {pct(lat, 50):.3f} ms, "
          f"p99 {pct(lat, 99):.3f} ms  (aim p99 < 1 ms)")  # fmt: skip


def bench_core(tmp: Path, pairs: int) -> None:
    signer = Signer()
    db, core, traders = funded_core(tmp / "core", signer)
    lat = []
    t0 = time.perf_counter()
    for s in orders(signer, traders, pairs):
        t1 = time.perf_counter()
        core.place_order(s, batch_time=10, now=0)
        lat.append(time.perf_counter() - t1)
        if core.sequencer.seal_due(0):
            core.sequencer.seal()
    total = time.perf_counter() - t0
    db.close()
    print(f"2. NodeCore.place_order (one durable ack, one synced write each), {2 * pairs:,} "
          f"orders, {pairs:,} fills: {2 * pairs / total:,.0f} orders/s, {pairs / total:,.0f} "
          f"fills/s; p50 {pct(lat, 50):.2f} ms, p99 {pct(lat, 99):.2f} ms")  # fmt: skip


def bench_bursts(tmp: Path, pairs: int) -> None:
    signer = Signer()
    db, core, traders = funded_core(tmp / "bursts", signer)
    signed = orders(signer, traders, pairs)
    lat, fills = [], 0
    t0 = time.perf_counter()
    for i in range(0, len(signed), BURST):
        t1 = time.perf_counter()
        results = core.place_orders(signed[i : i + BURST], batch_time=10, now=0)
        lat.append(time.perf_counter() - t1)
        fills += sum(len(r.fills) for r in results if isinstance(r, OrderAck))
        if core.sequencer.seal_due(0):
            core.sequencer.seal()
    total = time.perf_counter() - t0
    db.close()
    print(f"3. NodeCore.place_orders (bursts of {BURST}, one synced write a burst), "
          f"{len(signed):,} orders, {fills:,} fills: {len(signed) / total:,.0f} orders/s, "
          f"{fills / total:,.0f} fills/s; a burst's ack p50 {pct(lat, 50):.1f} ms, "
          f"p99 {pct(lat, 99):.1f} ms")  # fmt: skip


def post_all(url: str, per_client: Sequence[Sequence[bytes]]) -> tuple[float, list[float], int]:
    """POST each client's bodies in order from its own thread; return the wall time, each
    request's latency and the fills the answers report."""
    lat: list[float] = []
    fills = [0]
    lock = threading.Lock()

    def client(mine: Sequence[bytes]) -> None:
        n = 0
        for body in mine:
            req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            t1 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=120) as r:
                answer: Any = json.loads(r.read())
            lat.append(time.perf_counter() - t1)
            acks = [x["ack"] for x in answer["results"]] if "results" in answer else [answer]
            n += sum(len(a["fills"]) for a in acks)
        with lock:
            fills[0] += n

    threads = [threading.Thread(target=client, args=(mine,)) for mine in per_client]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, lat, fills[0]


def batch_count(rpc_url: str, rollup: str) -> int:
    """Return ``Rollup.batch_count()`` with one plain JSON-RPC ``eth_call``."""
    from optirollup.hashing import keccak

    call = {"to": rollup, "data": "0x" + keccak(b"batch_count()")[:4].hex()}
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call, "latest"]}
    req = urllib.request.Request(rpc_url, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as r:
        return int(json.loads(r.read())["result"], 16)


def client_process(
    conn: Connection, url: str, per_client: Sequence[Sequence[bytes]], rpc_url: str, rollup: str
) -> None:
    """Run in a process of its own: post the bodies (:func:`post_all`), report ``(start,
    acknowledged, fills)`` on ``conn``, then wait for the batch count L1 must reach and report
    when it did. Times are ``time.perf_counter()`` (the system's monotonic clock)."""
    conn.recv()  # go
    t0 = time.perf_counter()
    acked, _, fills = post_all(url, per_client)
    conn.send((t0, t0 + acked, fills))
    target = int(conn.recv())
    while batch_count(rpc_url, rollup) < target:
        time.sleep(0.005)
    conn.send(time.perf_counter())


def receive(conn: Connection, child: Any, timeout: float = 300) -> Any:
    """Return the next message from ``child``; fail if it dies or says nothing in time."""
    deadline = time.monotonic() + timeout
    while not conn.poll(1.0):
        if not child.is_alive():
            raise RuntimeError(f"the client process exited ({child.exitcode}) without answering")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the client process said nothing in {timeout:.0f} s")
    return conn.recv()


def bulk_bodies(signed: Sequence[SignedOrder]) -> list[bytes]:
    """Return ``POST /orders/batch`` bodies of ``BURST`` orders each (whole crossing pairs)."""
    return [json.dumps({"orders": [order_body(s) for s in signed[i : i + BURST]]}).encode()
            for i in range(0, len(signed), BURST)]  # fmt: skip


def serve(tmp: Path, name: str) -> tuple[Callable[[], None], str, Signer, list[Trader]]:
    """Serve a funded core over HTTP; return a stop function, its URL, the signer, the traders."""
    import uvicorn

    from optirollup.api.app import create_app
    from optirollup.l1.anvil import free_port

    signer = Signer()
    db, core, traders = funded_core(tmp / name, signer)
    app = create_app(core, lambda: (10, 0), lock=threading.RLock())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        db.close()

    return stop, f"http://127.0.0.1:{port}", signer, traders


def bench_http(tmp: Path, pairs: int, clients: int) -> None:
    stop, url, signer, traders = serve(tmp, f"http{clients}")
    bodies = [json.dumps(order_body(s)).encode() for s in orders(signer, traders, pairs)]
    # Each client sends whole (maker, taker) pairs, so every taker finds its maker.
    chunks = [bodies[2 * i : 2 * i + 2] for i in range(pairs)]
    per_client = [[b for pair in chunks[i::clients] for b in pair] for i in range(clients)]
    total, lat, _ = post_all(url + "/orders", per_client)
    stop()
    print(f"4. HTTP POST /orders, {clients} client(s), {len(bodies):,} orders: "
          f"{len(bodies) / total:,.0f} orders/s; p50 {pct(lat, 50):.2f} ms, "
          f"p99 {pct(lat, 99):.2f} ms")  # fmt: skip


def bench_http_bulk(tmp: Path, pairs: int, clients: int) -> None:
    stop, url, signer, traders = serve(tmp, f"bulk{clients}")
    signed = orders(signer, traders, pairs)
    bodies = bulk_bodies(signed)
    total, lat, fills = post_all(url + "/orders/batch", [bodies[i::clients]
                                                         for i in range(clients)])  # fmt: skip
    stop()
    print(f"5. HTTP POST /orders/batch ({BURST} orders a request), {clients} client(s), "
          f"{len(signed):,} orders: {len(signed) / total:,.0f} orders/s, {fills / total:,.0f} "
          f"fills/s; a request p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms")  # fmt: skip


def bench_end_to_end(tmp: Path, pairs: int) -> None:
    from web3 import Web3

    from optirollup.devnet import DevnetConfig, deploy_devnet
    from optirollup.executor.runner import NodeConfig, NodeRunner
    from optirollup.l1.anvil import Anvil, free_port
    from optirollup.l1.deploy import bind, send

    with Anvil(extra_args=["--silent"]) as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))
        devnet = deploy_devnet(w3, node.url, DevnetConfig(traders=8, challenge_window=600))
        dep = devnet.deployment
        token, vault = bind(w3, "MockToken", dep.token), bind(w3, "Vault", dep.vault)
        for t in devnet.config.trader_accounts():
            for fn in (token.functions.approve(dep.vault, 10**12),
                       vault.functions.deposit(10**12, t.address)):  # fmt: skip
                send(w3, t.local, {"to": fn.address, "data": fn._encode_transaction_data()}, "dep")
        port = free_port()
        config = NodeConfig(
            rpc_url=node.url, deployment=dep, data_dir=tmp / "e2e",
            proposer_key=devnet.config.proposer_key,
            oracle_address=eip712.address_of(devnet.config.oracle_key),
            oracle_key=devnet.config.oracle_key, max_txs=500, max_seconds=1, port=port,
        )  # fmt: skip
        (tmp / "e2e").mkdir()
        runner = NodeRunner(config)
        runner.start(serve=True)
        rollup = bind(w3, "Rollup", dep.rollup)
        deadline = time.monotonic() + 60
        while not (runner.core.status().deposits_known >= 8 and runner.core.markets()
                   and next(iter(runner.core.markets().values())).oracle_price):  # fmt: skip
            assert time.monotonic() < deadline, "the node never got its deposits and a price"
            time.sleep(0.1)
        signer = Signer(devnet.domain)
        traders = [
            Trader(a.key, bytes.fromhex(a.address[2:])) for a in devnet.config.trader_accounts()
        ]

        def on_l1(t0: float, fills: int, acked: float, what: str) -> None:
            with runner.lock:
                runner.core.sequencer.seal()
                target = runner.core.sequencer.batch_count
            while rollup.functions.batch_count().call() < target:
                time.sleep(0.02)
            total = time.perf_counter() - t0
            print(f"   {what}: {fills:,} fills acknowledged in {acked:.2f} s ({fills / acked:,.0f} "
                  f"fills/s into the journal), all in batches on L1 after {total:.2f} s "
                  f"(tail {total - acked:.2f} s): {fills / total:,.0f} fills/s end to end"
                  )  # fmt: skip

        print("6. end to end on anvil (the runner seals 500 txs a batch, posts and finalizes; "
              "aim ≥ 2,000 fills/s):")  # fmt: skip
        small = max(500, pairs // 4)
        one_by_one = orders(signer, traders, small)
        t0, fills = time.perf_counter(), 0
        for s in one_by_one:
            batch_time, now = runner.batch_clock()
            with runner.lock:
                fills += len(runner.core.place_order(s, batch_time=batch_time, now=now).fills)
        on_l1(t0, fills, time.perf_counter() - t0, "a. place_order one by one, in process")

        bodies = bulk_bodies(orders(signer, traders, pairs, start=small))
        ctx = multiprocessing.get_context("spawn")  # the node's threads make fork unsafe
        conn, child_conn = ctx.Pipe()
        child = ctx.Process(
            target=client_process,
            args=(child_conn, f"http://127.0.0.1:{port}/orders/batch",
                  [bodies[0::2], bodies[1::2]], node.url, dep.rollup),
        )  # fmt: skip
        child.start()
        conn.send("go")
        t0, t_acked, fills = receive(conn, child)
        with runner.lock:
            runner.core.sequencer.seal()
            conn.send(runner.core.sequencer.batch_count)
        total, acked = receive(conn, child) - t0, t_acked - t0
        child.join()
        print(f"   b. POST /orders/batch ({BURST} a request), 2 clients in their own process: "
              f"{fills:,} fills acknowledged in {acked:.2f} s ({fills / acked:,.0f} fills/s into "
              f"the journal), all in batches on L1 after {total:.2f} s (tail "
              f"{total - acked:.2f} s): {fills / total:,.0f} fills/s end to end")  # fmt: skip
        runner.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run every part and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000, help="crossing order pairs per part")
    parser.add_argument("--e2e-pairs", type=int, default=8000,
                        help="crossing order pairs sent in bulk end to end")  # fmt: skip
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        limits(tmp)
        bench_engine(args.pairs)
        bench_core(tmp, args.pairs)
        bench_bursts(tmp, args.pairs)
        bench_http(tmp, max(200, args.pairs // 4), 1)
        bench_http(tmp, max(200, args.pairs // 4), 4)
        bench_http_bulk(tmp, args.pairs, 1)
        bench_http_bulk(tmp, args.pairs, 2)
        bench_end_to_end(tmp, args.e2e_pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
