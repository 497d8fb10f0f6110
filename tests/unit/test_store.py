"""Check the node stores and the LevelDB adapter of the state layer."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trie import HexaryTrie

from optirollup.state.leveldb import LevelDB
from optirollup.state.mpt import EMPTY_ROOT, bulk_update, get, get_proof, verify_proof
from optirollup.state.store import (
    LayeredStore,
    MemoryStore,
    NodeDeletionRefused,
    NodeStore,
    StoreClosed,
    StoreError,
    StoreLocked,
    StoreOpenError,
)

REPO = Path(__file__).resolve().parents[2]
H1, H2, H3 = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


# --------------------------------------------------------------------------- in memory


def test_a_memory_store_returns_what_was_stored_and_raises_key_error_otherwise() -> None:
    store = MemoryStore({H1: b"one"})
    store[H2] = b"two"
    assert store[H1] == b"one" and store[H2] == b"two"
    assert H1 in store and H3 not in store
    assert len(store) == 2 and set(store) == {H1, H2}
    with pytest.raises(KeyError):
        store[H3]


@pytest.mark.parametrize(
    "make_store",
    [MemoryStore, lambda: LayeredStore(MemoryStore())],
    ids=["memory store", "layered store"],
)
def test_a_node_store_refuses_to_delete_a_node(make_store: type[MemoryStore]) -> None:
    store = make_store()
    store[H1] = b"one"
    with pytest.raises(NodeDeletionRefused, match="never prune"):
        del store[H1]
    assert store[H1] == b"one"


def test_a_layered_store_reads_through_to_its_base_but_keeps_writes_pending() -> None:
    base = MemoryStore({H1: b"base"})
    layer = LayeredStore(base)
    layer[H2] = b"pending"
    assert layer[H1] == b"base" and layer[H2] == b"pending"
    assert H1 in layer and H2 in layer and H3 not in layer
    assert H2 not in base
    assert dict(layer.pending) == {H2: b"pending"}
    with pytest.raises(KeyError):
        layer[H3]


def test_a_layered_store_prefers_its_pending_write_over_the_base() -> None:
    layer = LayeredStore(MemoryStore({H1: b"base"}))
    layer[H1] = b"pending"
    assert layer[H1] == b"pending"


def test_discarding_a_layered_store_drops_its_pending_writes_only() -> None:
    base = MemoryStore({H1: b"base"})
    layer = LayeredStore(base)
    layer[H2] = b"pending"
    layer.discard()
    assert not layer.pending and H2 not in layer and layer[H1] == b"base"
    assert layer.base is base


def test_the_pending_view_of_a_layered_store_is_read_only() -> None:
    layer = LayeredStore(MemoryStore())
    with pytest.raises(TypeError):
        layer.pending[H1] = b"x"  # type: ignore[index]


@pytest.mark.parametrize(
    "make_store",
    [MemoryStore, lambda: LayeredStore(MemoryStore())],
    ids=["memory store", "layered store"],
)
def test_hexary_trie_runs_over_a_node_store_with_squash_changes(
    make_store: type[MemoryStore],
) -> None:
    store: NodeStore = make_store()
    trie = HexaryTrie(store)
    with trie.squash_changes() as memory_trie:
        for i in range(100):
            memory_trie[bytes([i]) * 32] = b"v%d" % i
    assert trie.root_hash == bulk_update(
        MemoryStore(), EMPTY_ROOT, {bytes([i]) * 32: b"v%d" % i for i in range(100)}
    )
    assert HexaryTrie(store, trie.root_hash)[b"\x07" * 32] == b"v7"


@given(
    batches=st.lists(
        st.dictionaries(
            st.binary(min_size=32, max_size=32), st.binary(min_size=1, max_size=40), max_size=30
        ),
        min_size=1,
        max_size=4,
    )
)
def test_a_layered_store_leaves_the_base_alone_until_its_pending_nodes_are_copied(
    batches: list[dict[bytes, bytes]],
) -> None:
    base = MemoryStore()
    root = EMPTY_ROOT
    for batch in batches:
        before = dict.fromkeys(base)
        layer = LayeredStore(base)
        new_root = bulk_update(layer, root, batch)
        assert dict.fromkeys(base) == before
        for key, value in batch.items():
            assert get(layer, new_root, key) == value
        base.update(layer.pending)
        layer.discard()
        root = new_root
        for key, value in batch.items():
            assert get(base, root, key) == value


# --------------------------------------------------------------------------- LevelDB


def test_a_write_batch_stores_nodes_and_metadata_together(tmp_path: Path) -> None:
    with LevelDB(tmp_path / "db") as db:
        db.write_batch({H1: b"node one"}, {b"head": H1, b"index": b"\x07"})
        assert db.nodes[H1] == b"node one"
        assert db.get_meta(b"head") == H1 and db.get_meta(b"index") == b"\x07"
        assert db.get_meta(b"missing") is None
        assert H1 in db.nodes and H2 not in db.nodes


def test_node_and_metadata_namespaces_do_not_collide(tmp_path: Path) -> None:
    with LevelDB(tmp_path / "db") as db:
        db.write_batch({H1: b"node"}, {H1: b"meta"})
        assert db.nodes[H1] == b"node" and db.get_meta(H1) == b"meta"


def test_a_none_metadata_value_deletes_the_key(tmp_path: Path) -> None:
    with LevelDB(tmp_path / "db") as db:
        db.write_batch({}, {b"head": H1, b"keep": b"k"})
        db.write_batch({}, {b"head": None, b"never-written": None})
        assert db.get_meta(b"head") is None and db.get_meta(b"keep") == b"k"


class ExplodingMapping(Mapping[bytes, bytes]):
    """Yield a few items, then fail, like a caller whose batch breaks halfway."""

    def __init__(self, items: dict[bytes, bytes]) -> None:
        self._items = items

    def __getitem__(self, key: bytes) -> bytes:
        return self._items[key]

    def __len__(self) -> int:
        return len(self._items) + 1

    def __iter__(self) -> Iterator[bytes]:
        yield from self._items
        raise RuntimeError("batch broke halfway")


def test_a_write_batch_that_fails_halfway_writes_nothing(tmp_path: Path) -> None:
    with LevelDB(tmp_path / "db") as db:
        db.write_batch({}, {b"head": H1})
        with pytest.raises(RuntimeError, match="halfway"):
            db.write_batch({H2: b"two"}, ExplodingMapping({b"head": H2}))
        assert H2 not in db.nodes
        assert db.get_meta(b"head") == H1


def test_a_reopened_database_reads_every_old_root(tmp_path: Path) -> None:
    path = tmp_path / "db"
    snapshots: list[tuple[bytes, dict[bytes, bytes]]] = []
    model: dict[bytes, bytes] = {}
    with LevelDB(path) as db:
        root = EMPTY_ROOT
        for round_ in range(3):
            batch = {bytes([round_, i]) * 16: b"r%d-%d" % (round_, i) for i in range(60)}
            batch.update({key: b"replaced in %d" % round_ for key in list(model)[:10]})
            layer = LayeredStore(db.nodes)
            root = bulk_update(layer, root, batch)
            db.write_batch(layer.pending, {b"head": root})
            layer.discard()
            model.update(batch)
            snapshots.append((root, dict(model)))
    with LevelDB(path, create_if_missing=False) as db:
        assert db.get_meta(b"head") == snapshots[-1][0]
        for old_root, snapshot in snapshots:
            for key, value in snapshot.items():
                assert get(db.nodes, old_root, key) == value
                assert verify_proof(old_root, key, get_proof(db.nodes, old_root, key)) == value
            assert HexaryTrie(db.nodes, old_root)[key] == value


def test_leveldb_nodes_raise_key_error_for_a_missing_node_and_refuse_deletes(
    tmp_path: Path,
) -> None:
    with LevelDB(tmp_path / "db") as db:
        db.nodes[H1] = b"one"
        assert db.nodes[H1] == b"one"
        with pytest.raises(KeyError):
            db.nodes[H2]
        with pytest.raises(NodeDeletionRefused):
            del db.nodes[H1]
        assert "not bytes" not in db.nodes


def test_a_second_open_of_a_database_in_use_raises_store_locked(tmp_path: Path) -> None:
    with LevelDB(tmp_path / "db"), pytest.raises(StoreLocked, match="locked"):
        LevelDB(tmp_path / "db")


def test_another_process_opening_a_database_in_use_gets_store_locked(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from optirollup.state.leveldb import LevelDB\n"
        "from optirollup.state.store import StoreLocked\n"
        "try:\n"
        "    LevelDB(sys.argv[1])\n"
        "except StoreLocked as err:\n"
        "    print('locked:', err)\n"
        "    sys.exit(3)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    with LevelDB(tmp_path / "db"):
        result = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "db")],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert result.returncode == 3, result.stderr
    assert "another process" in result.stdout
    LevelDB(tmp_path / "db").close()  # released once the holder closed it


def test_a_path_that_is_not_a_database_raises_store_open_error(tmp_path: Path) -> None:
    not_a_db = tmp_path / "file.txt"
    not_a_db.write_text("hello")
    with pytest.raises(StoreOpenError, match="cannot open"):
        LevelDB(not_a_db)


def test_a_missing_database_is_not_created_when_asked_not_to(tmp_path: Path) -> None:
    with pytest.raises(StoreOpenError, match="create_if_missing=True"):
        LevelDB(tmp_path / "absent", create_if_missing=False)
    assert not (tmp_path / "absent").exists()


def test_a_closed_database_raises_store_closed(tmp_path: Path) -> None:
    db = LevelDB(tmp_path / "db")
    nodes = db.nodes
    db.close()
    assert db.closed
    with pytest.raises(StoreClosed):
        db.get_meta(b"head")
    with pytest.raises(StoreClosed):
        nodes[H1]
    with pytest.raises(StoreClosed):
        db.write_batch({H1: b"one"}, {})
    assert issubclass(StoreClosed, StoreError)
