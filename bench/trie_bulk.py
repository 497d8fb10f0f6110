"""Compare py-trie's HexaryTrie with optirollup's bulk_update on one large batch of inserts.

Scenario: a trie that already holds 50,000 keys receives 40,000 fresh 32-byte keys with
~70-byte values, first in memory, then over LevelDB (a temporary directory; both sides compute
in a LayeredStore and commit with one synced write batch). Both sides must reach the same root.
Then measure proof generation and verification, and point reads.

Run: .venv/bin/python bench/trie_bulk.py [--base 50000] [--batch 40000] [--proofs 20000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import rlp
from trie import HexaryTrie

from optirollup.state.leveldb import LevelDB
from optirollup.state.mpt import EMPTY_ROOT, bulk_update, get, get_proof, verify_proof
from optirollup.state.store import LayeredStore, MemoryStore, NodeStore

Insert = Callable[[NodeStore, bytes, dict[bytes, bytes]], bytes]


def make_items(rng: random.Random, count: int) -> dict[bytes, bytes]:
    """Return ``count`` random 32-byte keys mapped to 66..74-byte values."""
    return {rng.randbytes(32): rng.randbytes(rng.randint(66, 74)) for _ in range(count)}


def timed(fn: Callable[[], bytes]) -> tuple[bytes, float]:
    """Run ``fn`` and return its result and wall-clock seconds."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def hexary_insert(store: NodeStore, root: bytes, batch: dict[bytes, bytes]) -> bytes:
    """Insert ``batch`` with HexaryTrie.squash_changes and return the new root."""
    trie = HexaryTrie(store, root)
    with trie.squash_changes() as memory_trie:
        for key, value in batch.items():
            memory_trie[key] = value
    root_hash: bytes = trie.root_hash
    return root_hash


def report(label: str, count: int, seconds: float) -> None:
    """Print one figure."""
    print(f"  {label:<40} {count / seconds:>10,.0f} /s  ({seconds:6.2f} s for {count:,})")


def bench_memory(
    base_nodes: dict[bytes, bytes], base_root: bytes, batch: dict[bytes, bytes]
) -> None:
    """Insert the batch into in-memory copies of the base trie with both implementations."""
    print(f"in memory: {len(batch):,} fresh keys")
    ref = MemoryStore(base_nodes)
    root_ref, t_ref = timed(lambda: hexary_insert(ref, base_root, batch))
    ours = MemoryStore(base_nodes)
    root_ours, t_ours = timed(lambda: bulk_update(ours, base_root, batch))
    assert root_ours == root_ref, "roots differ"
    report("HexaryTrie + squash_changes", len(batch), t_ref)
    report("bulk_update", len(batch), t_ours)
    print(f"  speed-up x{t_ref / t_ours:.1f}")


def bench_leveldb(
    tmp: Path, base_nodes: dict[bytes, bytes], base_root: bytes, batch: dict[bytes, bytes]
) -> None:
    """Insert the batch into LevelDB copies of the base trie, committing one synced batch each."""
    print(f"over LevelDB: {len(batch):,} fresh keys, LayeredStore + one synced write batch")
    inserts: dict[str, Insert] = {
        "HexaryTrie + squash_changes": hexary_insert,
        "bulk_update": bulk_update,
    }
    roots: dict[str, bytes] = {}
    times: dict[str, float] = {}
    for index, (name, insert) in enumerate(inserts.items()):
        path = tmp / f"db{index}"
        with LevelDB(path) as db:
            db.write_batch(base_nodes, {b"head": base_root})
        with LevelDB(path) as db:  # reopen: a fresh handle reads the base nodes from disk

            def run(db: LevelDB = db, insert: Insert = insert) -> bytes:
                layer = LayeredStore(db.nodes)
                root = insert(layer, base_root, batch)
                db.write_batch(layer.pending, {b"head": root})
                layer.discard()
                return root

            roots[name], times[name] = timed(run)
    assert len(set(roots.values())) == 1, "roots differ"
    for name, seconds in times.items():
        report(name, len(batch), seconds)
    speedup = times["HexaryTrie + squash_changes"] / times["bulk_update"]
    print(f"  speed-up x{speedup:.1f}")


def bench_reads(
    nodes: dict[bytes, bytes], root: bytes, keys: list[bytes], absent: list[bytes]
) -> None:
    """Measure proofs (generation, verification) and point reads at ``root``."""
    store = MemoryStore(nodes)
    trie = HexaryTrie(store, root)
    print(f"reads at the final root: {len(keys):,} present keys, {len(absent):,} absent keys")

    def ref_proofs() -> bytes:
        for key in keys:
            [rlp.encode(node) for node in trie.get_proof(key)]
        return b""

    def our_proofs() -> bytes:
        for key in keys:
            get_proof(store, root, key)
        return b""

    proofs = [get_proof(store, root, key) for key in keys + absent]

    def verify() -> bytes:
        for key, proof in zip(keys + absent, proofs, strict=True):
            verify_proof(root, key, proof)
        return b""

    def ref_gets() -> bytes:
        for key in keys:
            trie.get(key)
        return b""

    def our_gets() -> bytes:
        for key in keys:
            get(store, root, key)
        return b""

    _, t = timed(ref_proofs)
    report("HexaryTrie.get_proof + rlp.encode", len(keys), t)
    _, t = timed(our_proofs)
    report("get_proof", len(keys), t)
    _, t = timed(verify)
    report("verify_proof (inclusion and exclusion)", len(proofs), t)
    _, t = timed(ref_gets)
    report("HexaryTrie.get", len(keys), t)
    _, t = timed(our_gets)
    report("get", len(keys), t)
    included = proofs[: len(keys)]
    nodes_per_proof = sum(len(proof) for proof in included) / len(included)
    bytes_per_proof = sum(sum(len(node) for node in proof) for proof in included) / len(included)
    print(f"  inclusion proofs: {nodes_per_proof:.2f} nodes, {bytes_per_proof:,.0f} bytes on avg")


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description="HexaryTrie vs bulk_update")
    parser.add_argument("--base", type=int, default=50_000, help="keys already in the trie")
    parser.add_argument("--batch", type=int, default=40_000, help="fresh keys inserted")
    parser.add_argument("--proofs", type=int, default=20_000, help="proofs generated")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    base = make_items(rng, args.base)
    batch = make_items(rng, args.batch)
    seed_store = MemoryStore()
    base_root, t = timed(lambda: bulk_update(seed_store, EMPTY_ROOT, base))
    base_nodes = {h: seed_store[h] for h in seed_store}
    print(
        f"base trie: {len(base):,} keys, {len(base_nodes):,} nodes "
        f"(built by bulk_update into an empty trie in {t:.2f} s)"
    )

    bench_memory(base_nodes, base_root, batch)
    with tempfile.TemporaryDirectory(prefix="trie-bench-") as tmp:
        bench_leveldb(Path(tmp), base_nodes, base_root, batch)

    final = MemoryStore(base_nodes)
    final_root = bulk_update(final, base_root, batch)
    everything = sorted(base) + sorted(batch)
    present = rng.sample(everything, min(args.proofs, len(everything)))
    absent = [rng.randbytes(32) for _ in range(len(present) // 4)]
    bench_reads({h: final[h] for h in final}, final_root, present, absent)


if __name__ == "__main__":
    main()
