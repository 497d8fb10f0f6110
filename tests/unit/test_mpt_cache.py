"""The decoded-node cache of the trie: bulk_update seeds it with exactly what decoding the
stored nodes gives, a cache never changes a root or a read, and NodeCache stays bounded."""

from __future__ import annotations

import random

from hypothesis import given, settings
from test_mpt import batch_sequences, reference_roots

from optirollup.state import mpt
from optirollup.state.leaves import Account
from optirollup.state.mpt import EMPTY_ROOT, NodeCache, bulk_update, get
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import LayeredStore, MemoryStore


@settings(max_examples=150, deadline=None)
@given(batches=batch_sequences())
def test_bulk_update_seeds_the_cache_with_each_new_node_as_decoding_it_gives(
    batches: list[dict[bytes, bytes]],
) -> None:
    expected, _ = reference_roots(batches)
    store, cache = MemoryStore(), NodeCache(capacity=1 << 20)
    root = EMPTY_ROOT
    model: dict[bytes, bytes] = {}
    for batch, want in zip(batches, expected, strict=True):
        layer = LayeredStore(store)
        root = bulk_update(layer, root, batch, cache)
        assert root == want
        for node_hash in layer.pending:
            if node_hash in cache:
                assert cache[node_hash] == mpt._decode_node(layer.pending[node_hash])
        hashed = [h for h, enc in layer.pending.items() if h != root or len(enc) >= 32]
        assert all(h in cache for h in hashed), "a created hashed node was not cached"
        store.update(layer.pending)
        model.update(batch)
        for key, value in model.items():
            assert get(store, root, key, cache) == value == get(store, root, key)


def test_a_trimmed_cache_keeps_the_nodes_still_read_and_drops_the_rest() -> None:
    cache = NodeCache(capacity=2)
    a, b, c = (bytes([i]) * 32 for i in range(3))
    node: mpt.DecodedNode = (0, "", b"v")
    cache[a] = cache[b] = cache[c] = node
    cache.trim()  # 3 > 2: a new generation
    assert len(cache) == 0 and cache.size == 3
    assert cache[a] is node  # read: moved back to the young generation
    cache.trim()  # 1 <= 2: nothing to do
    assert cache.size == 3
    d, e = bytes([3]) * 32, bytes([4]) * 32
    cache[d] = cache[e] = node
    cache.trim()  # young {a, d, e} becomes old; b and c are gone
    assert cache.size == 3 and b not in cache._old and c not in cache._old


def test_an_overlay_over_many_batches_keeps_its_cache_bounded_and_its_roots() -> None:
    rng = random.Random(7)
    stores = MemoryStore(), MemoryStore()
    roomy, tight = (StateOverlay(s, genesis_root(s, b"\x01" * 20)) for s in stores)
    tight._node_cache = NodeCache(capacity=64)
    addresses = [rng.randbytes(20) for _ in range(300)]
    for i in range(0, 300, 30):
        touched = addresses[i : i + 30] + rng.sample(addresses[: i + 5], 5)
        for overlay in (roomy, tight):
            for n, address in enumerate(touched):
                overlay.set_account(Account(address, collateral=i + n + 1))
        roots = [o.commit(s.update) for o, s in zip((roomy, tight), stores, strict=True)]
        assert roots[0] == roots[1]
        assert len(tight._node_cache) <= 64 and tight._node_cache.size <= 2 * (64 + 300)
    assert tight._node_cache._old, "the young generation never filled up"
    fresh = StateOverlay(stores[1], roots[1])
    assert [fresh.account(a) for a in addresses] == [tight.account(a) for a in addresses]
