"""Fills per second through the reference STF, beside the machine's raw signature-recovery rate.

Applies N signed fills (fresh orders, random pairs among A funded accounts, one perp market) on a
LevelDB-backed state and prints, measured in this same run:

* the raw secp256k1 recovery rate (coincurve directly, and through eth-account);
* (a) fills/s writing the trie after every transaction (the per-transaction trace of a dispute);
* (b) fills/s on the batched path: touched leaves written once per batch, for batches of
  500 fills (about what fits the 128 KiB calldata limit of one L1 transaction) and of the whole run;
* (b) as a share of what signature recovery alone allows (two recoveries per fill).

Every mode starts from the same pre-state root (old roots stay readable) and the batched modes
must end at the same root as the per-transaction mode, which the benchmark checks.

Usage: .venv/bin/python bench/stf_throughput.py [--fills 20000] [--accounts 1000] [--per-tx-fills 5000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time

import coincurve
from eth_account import Account as EthAccount

from optirollup.hashing import keccak  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from optirollup.codec import eip712  # noqa: E402
from optirollup.codec.tx import (  # noqa: E402
    Fill,
    ListMarket,
    OracleUpdate,
    Order,
    Side,
    SignedOrder,
    encode_tx,
)
from optirollup.state.leveldb import LevelDB  # noqa: E402
from optirollup.state.overlay import StateOverlay, genesis_root  # noqa: E402
from optirollup.stf import BatchContext, apply  # noqa: E402
from optirollup.testkit import DEFAULT_DOMAIN, Signer, Trader, deposit_tx  # noqa: E402

MARKET = 1
PRICE = 3_000_000_000  # $3,000
LOT = 100_000  # 0.001 ETH
TICK = 10_000  # $0.01


def fast_sign(digest: bytes, key: bytes) -> bytes:
    """Sign with coincurve (low-s, like eth-account) — only to build inputs quickly."""
    sig = coincurve.PrivateKey(key).sign_recoverable(digest, hasher=None)
    return sig[:64] + bytes([sig[64] + 27])


def recovery_rates(n: int = 4000) -> tuple[float, float]:
    """Return (coincurve direct, eth-account) recoveries per second on this machine."""
    key = keccak(b"bench")
    digests = [keccak(i.to_bytes(4, "big")) for i in range(n)]
    sigs = [fast_sign(d, key) for d in digests]
    t0 = time.perf_counter()
    for d, s in zip(digests, sigs, strict=True):
        eip712.recover(d, s)
    direct = n / (time.perf_counter() - t0)
    m = n // 4
    t0 = time.perf_counter()
    for d, s in zip(digests[:m], sigs[:m], strict=True):
        EthAccount._recover_hash(d, signature=s)
    via_eth_account = m / (time.perf_counter() - t0)
    return direct, via_eth_account


def build(
    n_fills: int, n_accounts: int, seed: int = 7
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Return (setup txs, deposit txs' hashes, fill txs)."""
    rng = random.Random(seed)
    signer = Signer(DEFAULT_DOMAIN)
    sep = signer.separator
    oracle = Trader.of("oracle")
    traders = [Trader.of(f"bench-{i}") for i in range(n_accounts)]
    setup = [
        encode_tx(signer.sign(ListMarket(MARKET, 0, b"ETH-PERP".ljust(16, b"\0"), 0, 0, LOT, TICK,
                                         100_000, 50_000, 200, 500, 10_000), oracle.key)),
        encode_tx(signer.sign(OracleUpdate(MARKET, PRICE, 0, 1), oracle.key)),
    ]  # fmt: skip
    deposits = [deposit_tx(i, t.address, 1_000_000_000_000) for i, t in enumerate(traders)]
    fills = []
    for i in range(n_fills):
        a, b = rng.sample(range(n_accounts), 2)
        maker, taker = traders[a], traders[b]
        size = LOT * rng.randint(1, 50)
        price = PRICE + TICK * rng.randint(-100, 100)
        side = rng.randint(0, 1)
        mo = Order(maker.address, MARKET, side, price, size, 1_000, i, 2**40, 0)
        to = Order(taker.address, MARKET, 1 - side, price + (TICK if side == Side.SELL else -TICK),
                   size, 1_000, i, 2**40, 0)  # fmt: skip
        fills.append(encode_tx(Fill(SignedOrder(mo, fast_sign(mo.hash(sep), maker.key)),
                                    SignedOrder(to, fast_sign(to.hash(sep), taker.key)), size)))  # fmt: skip
    return setup + deposits, [keccak(d) for d in deposits], fills


def run(
    db: LevelDB, root: bytes, fills: list[bytes], ctx: BatchContext, every: int
) -> tuple[float, bytes, int]:
    """Apply fills as batches of ``every``, committing each batch's nodes; return (s, root, ok).

    One overlay lives across batches, as in a sequencer: decoded leaves stay cached.
    """
    ok = 0
    t0 = time.perf_counter()
    st = StateOverlay(db.nodes, root)
    for start in range(0, len(fills), every):
        for tx in fills[start : start + every]:
            ok += apply(st, tx, ctx).ok
        meta = {b"bench-batch": b"%d" % start}
        root = st.commit(lambda nodes, meta=meta: db.write_batch(nodes, meta))
    return time.perf_counter() - t0, root, ok


def run_per_tx(
    db: LevelDB, root: bytes, fills: list[bytes], ctx: BatchContext
) -> tuple[float, bytes, int]:
    """Apply fills computing the root after every transaction (one commit at the end)."""
    ok = 0
    t0 = time.perf_counter()
    st = StateOverlay(db.nodes, root)
    for tx in fills:
        ok += apply(st, tx, ctx).ok
        st.root()
    root = st.root()
    db.write_batch(st.pending_nodes(), {b"bench-root": root})
    return time.perf_counter() - t0, root, ok


def main() -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--fills", type=int, default=20_000)
    ap.add_argument("--accounts", type=int, default=1_000)
    ap.add_argument("--per-tx-fills", type=int, default=5_000, help="fills for mode (a) (slow)")
    ap.add_argument("--batch", type=int, default=500, help="fills per batch in mode (b)")
    args = ap.parse_args()

    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; one core used")
    direct, via_ea = recovery_rates()
    print(
        f"signature recovery: {direct:,.0f}/s coincurve direct (the STF's path), {via_ea:,.0f}/s via eth-account"
    )
    print(f"  => signature recovery alone allows {direct / 2:,.0f} fills/s (2 recoveries per fill)")

    t0 = time.perf_counter()
    setup, dep_hashes, fills = build(args.fills, args.accounts)
    print(
        f"built {len(fills):,} signed fills over {args.accounts:,} accounts in {time.perf_counter() - t0:.1f} s"
    )

    with tempfile.TemporaryDirectory() as tmp:
        db = LevelDB(os.path.join(tmp, "state"))
        ctx = BatchContext(
            batch_time=10, separator=DEFAULT_DOMAIN.separator, deposit_hashes=dep_hashes
        )
        st = StateOverlay(db.nodes, genesis_root(db.nodes, Trader.of("oracle").address))
        for tx in setup:
            r = apply(st, tx, ctx)
            assert r.ok, r.describe()
        pre = st.root()
        db.write_batch(st.pending_nodes(), {})

        n_a = min(args.per_tx_fills, len(fills))
        secs, root_a, ok_a = run_per_tx(db, pre, fills[:n_a], ctx)
        print(
            f"(a) root after every tx:      {n_a / secs:8,.0f} fills/s  ({n_a:,} fills, {ok_a:,} applied, {secs:.2f} s)"
        )
        _, root_b_check, _ = run(db, pre, fills[:n_a], ctx, args.batch)
        assert root_b_check == root_a, "batched and per-tx roots differ"

        results = {}
        for every in (args.batch, len(fills)):
            ctx.signer_cache = None
            secs, root_b, ok_b = run(db, pre, fills, ctx, every)
            results[every] = (secs, root_b)
            rate = len(fills) / secs
            print(f"(b) root once per {every:>6,} fills: {rate:8,.0f} fills/s  ({len(fills):,} fills, {ok_b:,} applied, {secs:.2f} s)"
                  f"  = {100 * rate / (direct / 2):.0f}% of the recovery bound")  # fmt: skip
        assert results[args.batch][1] == results[len(fills)][1], "batch size changed the final root"
        print(f"final root 0x{results[len(fills)][1].hex()} (same for every batch size)")
        db.close()


if __name__ == "__main__":
    main()
