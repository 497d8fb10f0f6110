"""Measure the node: order-acknowledgement latency and throughput, in process and over HTTP,
and fills sequenced end to end into batches posted on anvil.

Prints figures (nothing is asserted) with the machine's limits measured in the same run:
the cores, a synced LevelDB write (the floor of a durable acknowledgement) and signature
recovery (the STF's per-order cost).

1. Matching alone (``optirollup.engine``, pure): p50/p99 of one submit that crosses a resting
   order (the issue's aim: p99 < 1 ms).
2. ``NodeCore.place_order`` on LevelDB: checks, signature recovery, matching, the STF and the
   synced journal write of the acknowledgement; p50/p99 and orders/s, one client.
3. The same over HTTP (uvicorn + FastAPI on a loopback port chosen at run time), with 1 and
   with 4 concurrent clients: orders/s and p50/p99 as the client sees them.
4. End to end on anvil (``optirollup node run``'s runner in process, its HTTP server off):
   orders placed in process while the loop seals (500 txs a batch) and posts; fills/s from the
   first order to the last fill in a batch on L1 (the issue's aim: ≥ 2,000 fills/s).

Usage: .venv/bin/python bench/node_throughput.py [--pairs 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from optirollup.api.models import order_body
from optirollup.codec import eip712
from optirollup.codec.tx import Order, SignedOrder
from optirollup.engine import Engine, MarketParams
from optirollup.executor.node import NodeCore
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import genesis_root
from optirollup.testkit import Signer, Trader, perp_workload

LOT, TICK, PRICE = 100_000, 1_000, 3_000_000_000


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
    print(f"machine: {os.cpu_count()} cores; a synced LevelDB write {1000 * sync:.2f} ms "
          f"({1 / sync:,.0f}/s); order hash + signature recovery {rec:,.0f}/s")  # fmt: skip


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
    print(f"2. NodeCore.place_order (durable ack), {2 * pairs:,} orders, {pairs:,} fills: "
          f"{2 * pairs / total:,.0f} orders/s, {pairs / total:,.0f} fills/s; p50 "
          f"{pct(lat, 50):.2f} ms, p99 {pct(lat, 99):.2f} ms")  # fmt: skip


def bench_http(tmp: Path, pairs: int, clients: int) -> None:
    import uvicorn

    from optirollup.api.app import create_app
    from optirollup.l1.anvil import free_port

    signer = Signer()
    db, core, traders = funded_core(tmp / f"http{clients}", signer)
    lock = threading.RLock()
    app = create_app(core, lambda: (10, 0), lock=lock)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/orders"
    bodies = [json.dumps(order_body(s)).encode() for s in orders(signer, traders, pairs)]
    # Each client sends whole (maker, taker) pairs, so every taker finds its maker.
    chunks = [bodies[2 * i : 2 * i + 2] for i in range(pairs)]
    lat: list[float] = []

    def client(mine: list[list[bytes]]) -> None:
        for pair in mine:
            for body in pair:
                req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
                t1 = time.perf_counter()
                with urllib.request.urlopen(req, timeout=30) as r:
                    r.read()
                lat.append(time.perf_counter() - t1)

    threads = [threading.Thread(target=client, args=(chunks[i::clients],)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.perf_counter() - t0
    server.should_exit = True
    thread.join(timeout=10)
    db.close()
    print(f"3. HTTP POST /orders, {clients} client(s), {len(bodies):,} orders: "
          f"{len(bodies) / total:,.0f} orders/s; p50 {pct(lat, 50):.2f} ms, "
          f"p99 {pct(lat, 99):.2f} ms")  # fmt: skip


def bench_end_to_end(tmp: Path, pairs: int) -> None:
    from web3 import Web3

    from optirollup.devnet import DevnetConfig, deploy_devnet
    from optirollup.executor.runner import NodeConfig, NodeRunner
    from optirollup.l1.anvil import Anvil
    from optirollup.l1.deploy import bind, send

    with Anvil(extra_args=["--silent"]) as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))
        devnet = deploy_devnet(w3, node.url, DevnetConfig(traders=8, challenge_window=600))
        dep = devnet.deployment
        token, vault = bind(w3, "MockToken", dep.token), bind(w3, "Vault", dep.vault)
        for t in devnet.config.trader_accounts():
            for fn in (token.functions.approve(dep.vault, 10**11),
                       vault.functions.deposit(10**11, t.address)):  # fmt: skip
                send(w3, t.local, {"to": fn.address, "data": fn._encode_transaction_data()}, "dep")
        config = NodeConfig(
            rpc_url=node.url, deployment=dep, data_dir=tmp / "e2e",
            proposer_key=devnet.config.proposer_key,
            oracle_address=eip712.address_of(devnet.config.oracle_key),
            oracle_key=devnet.config.oracle_key, max_txs=500, max_seconds=1,
        )  # fmt: skip
        (tmp / "e2e").mkdir()
        runner = NodeRunner(config)
        runner.start(serve=False)
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
        batch_of = orders(signer, traders, pairs)
        t0 = time.perf_counter()
        fills = 0
        for s in batch_of:
            batch_time, now = runner.batch_clock()
            with runner.lock:
                fills += len(runner.core.place_order(s, batch_time=batch_time, now=now).fills)
        placed = time.perf_counter() - t0
        with runner.lock:
            runner.core.sequencer.seal()
            target = runner.core.sequencer.batch_count
        while rollup.functions.batch_count().call() < target:
            time.sleep(0.05)
        total = time.perf_counter() - t0
        runner.stop()
    print(f"4. end to end on anvil: {fills:,} fills sequenced in {placed:.2f} s "
          f"({fills / placed:,.0f} fills/s into the journal) and in posted batches after "
          f"{total:.2f} s: {fills / total:,.0f} fills/s  (aim ≥ 2,000)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run every part and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000, help="crossing order pairs per part")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        limits(tmp)
        bench_engine(args.pairs)
        bench_core(tmp, args.pairs)
        bench_http(tmp, max(200, args.pairs // 4), 1)
        bench_http(tmp, max(200, args.pairs // 4), 4)
        bench_end_to_end(tmp, args.pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
