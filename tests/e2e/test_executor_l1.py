"""The node's L1 shell on anvil: deposits followed from the Vault, sealed batches posted once
each (also after a crash between sending and recording), and finalized after the window."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from web3 import Web3

from optirollup.codec import eip712
from optirollup.executor import SealPolicy, Sequencer
from optirollup.executor.l1 import BatchPoster, DepositFollower, PostError, finalize_due
from optirollup.l1.anvil import Anvil
from optirollup.l1.deploy import bind, deploy, devnet_params
from optirollup.l1.gasprobe import Probe
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import genesis_root
from optirollup.testkit import Signer, perp_workload


@pytest.fixture(scope="module")
def chain() -> Iterator[Probe]:
    with Anvil(extra_args=["--silent"]) as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))
        accts = w3.eth.accounts
        oracle = perp_workload(0).oracle
        params = devnet_params(oracle.address, proposer=accts[1], challenge_window=600)
        probe = Probe(w3, node, deploy(w3, accts[0], params))
        probe.send(probe.rollup.functions.stake(), accts[1], value=params.proposer_bond)
        yield probe


def test_deposits_flow_from_the_vault_into_posted_batches_that_become_final(
    chain: Probe, tmp_path: Path
) -> None:
    p = chain
    w3, proposer, user = p.w3, p.w3.eth.accounts[1], p.w3.eth.accounts[2]
    domain = eip712.Domain(p.dep.chain_id, bytes.fromhex(p.dep.vault[2:]))
    work = perp_workload(60, Signer(domain))
    follower = DepositFollower(w3, p.vault, p.dep.block)
    assert follower.poll(0) == []

    deposits, _ = p.queue_deposits([(t.address, 10**12) for t in work.traders], user)
    seen = follower.poll(0)
    assert [d.tx for d in seen] == deposits == list(work.txs[2:10])
    assert follower.poll(len(seen)) == []

    db = LevelDB(tmp_path / "db")
    genesis = genesis_root(db.nodes, work.oracle.address)
    seq = Sequencer.open(db, domain.separator, SealPolicy(max_txs=25), genesis_root=genesis)
    seq.learn_deposits(0, [d.hash for d in seen])
    out = seq.submit(work.txs, batch_time=p.now(), now=0)
    assert all(s.accepted for s in out), [s.receipt.describe() for s in out if not s.accepted]
    seq.seal()

    poster = BatchPoster(w3, p.rollup, proposer)
    records = [seq.batch(i) for i in range(seq.batch_count)]
    assert len(records) == 3
    for r in records:
        assert poster.post(r) is not None
    assert poster.posted_count() == 3
    assert bytes(p.rollup.functions.last_root().call()) == seq.head_root

    # A crash between sending and recording: posting again sends nothing.
    assert poster.post(records[1]) is None
    # Another batch at a posted index, or one that skips ahead, is refused.
    with pytest.raises(PostError, match="batch 2 on L1"):
        poster.post(replace(records[2], post_root=b"\x01" * 32))
    with pytest.raises(PostError, match="cannot be posted before batch 3"):
        poster.post(replace(records[2], index=5))

    game = bind(w3, "DisputeGame", p.dep.dispute_game)
    assert finalize_due(w3, p.rollup, game, user) == []  # the window is open
    b = p.rollup.functions.batch(2).call()
    p.mine_at(int(b[5]) + 600)
    assert finalize_due(w3, p.rollup, game, user) == [0, 1, 2]
    assert p.rollup.functions.is_final(2).call()
    db.close()


def test_a_batch_that_does_not_chain_onto_l1_is_refused(chain: Probe, tmp_path: Path) -> None:
    p = chain
    work = perp_workload(0)
    db = LevelDB(tmp_path / "db")
    genesis = genesis_root(db.nodes, work.oracle.address)
    seq = Sequencer.open(db, Signer().separator, genesis_root=genesis)
    seq.submit(work.txs[:1], batch_time=p.now(), now=0)
    record = seq.seal()
    assert record is not None
    poster = BatchPoster(p.w3, p.rollup, p.w3.eth.accounts[1])
    count = poster.posted_count()
    with pytest.raises(PostError, match="L1's last root"):
        poster.post(replace(record, index=count, prev_root=b"\x02" * 32))
    db.close()
