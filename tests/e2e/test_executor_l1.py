"""The node's L1 shell on anvil: deposits followed from the Vault, sealed batches posted once
each (also after a crash between sending and recording), and finalized after the window; and
the round trips it saves: a local nonce that resyncs after any failed send, a propose sent with
its own gas bound that trusts only this poster's last propose, and a finalizer that reads
nothing before the first pending batch's window closes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import Web3RPCError

from optirollup.codec import eip712
from optirollup.executor import BatchRecord, SealPolicy, Sequencer
from optirollup.executor.l1 import (
    BatchPoster,
    DepositFollower,
    Finalizer,
    PostError,
    connect,
    finalize_due,
    propose_gas,
)
from optirollup.l1.anvil import Anvil
from optirollup.l1.deploy import LocalSender, bind, deploy, devnet_params, send
from optirollup.l1.gasprobe import Probe
from optirollup.state.leveldb import LevelDB
from optirollup.state.overlay import genesis_root
from optirollup.testkit import Signer, key_for, perp_workload


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


# --------------------------------------------------------------------------- round trips saved


@dataclass
class Local:
    """A deployment whose proposer is a local key, seen through :func:`connect` with every RPC
    method counted, and three sealed batches to post."""

    probe: Probe
    w3: Web3
    proposer: Any
    records: list[BatchRecord]
    calls: Counter[str]

    def methods(self) -> Counter[str]:
        """Return the RPC methods called since the last call, and start counting afresh."""
        out = Counter(self.calls)
        self.calls.clear()
        return out


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    with Anvil(extra_args=["--silent"]) as node:
        plain = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))
        accts = plain.eth.accounts
        proposer = Account.from_key(key_for("executor-l1-proposer"))
        plain.eth.send_transaction({"from": accts[0], "to": proposer.address, "value": 10**20})
        oracle = perp_workload(0).oracle
        params = devnet_params(oracle.address, proposer=proposer.address, challenge_window=600)
        probe = Probe(plain, node, deploy(plain, accts[0], params))
        fn = probe.rollup.functions.stake()
        send(plain, proposer, {"to": probe.dep.rollup, "value": params.proposer_bond,
                               "data": fn._encode_transaction_data()}, "stake")  # fmt: skip

        domain = eip712.Domain(probe.dep.chain_id, bytes.fromhex(probe.dep.vault[2:]))
        work = perp_workload(0, Signer(domain))
        deposits, _ = probe.queue_deposits([(t.address, 10**12) for t in work.traders], accts[2])
        db = LevelDB(tmp_path_factory.mktemp("local") / "db")
        genesis = genesis_root(db.nodes, work.oracle.address)
        seq = Sequencer.open(db, domain.separator, SealPolicy(max_txs=4), genesis_root=genesis)
        seq.learn_deposits(0, list(work.deposit_hashes))
        assert all(x.accepted for x in seq.submit(work.txs, batch_time=probe.now(), now=0))
        seq.seal()
        records = [seq.batch(i) for i in range(seq.batch_count)]
        db.close()
        assert len(records) == 3

        w3 = connect(node.url)
        calls: Counter[str] = Counter()
        make_request = w3.provider.make_request

        def counted(method: Any, params: Any) -> Any:
            calls[str(method)] += 1
            return make_request(method, params)

        w3.provider.make_request = counted  # type: ignore[method-assign]
        yield Local(Probe(w3, node, probe.dep), w3, proposer, records, calls)


def test_a_local_sender_counts_its_nonce_and_reads_it_again_after_a_refused_send(
    local: Local,
) -> None:
    w3, sender = local.w3, LocalSender(local.proposer)
    ping: dict[str, Any] = {"to": local.proposer.address, "value": 1, "gas": 21_000}
    sender.send(w3, ping, "ping")  # type: ignore[arg-type]
    first = local.methods()
    assert first["eth_getTransactionCount"] == 1 and first["eth_maxPriorityFeePerGas"] == 1
    nonce = sender.next_nonce
    sender.send(w3, ping, "ping", base_fee=int(w3.eth.get_block("latest")["baseFeePerGas"]))  # type: ignore[arg-type]
    again = local.methods()
    assert sender.next_nonce == nonce + 1  # type: ignore[operator]
    assert again["eth_sendRawTransaction"] == 1 and not (
        again["eth_getTransactionCount"] or again["eth_chainId"] or again["eth_estimateGas"]
        or again["eth_maxPriorityFeePerGas"]
    ), again  # fmt: skip

    send(w3, local.proposer, ping, "the same key, elsewhere")  # type: ignore[arg-type]
    with pytest.raises(Web3RPCError, match="nonce"):
        sender.send(w3, ping, "ping")  # type: ignore[arg-type]
    assert sender.next_nonce is None  # forgotten: the next send reads it
    sender.send(w3, ping, "ping")  # type: ignore[arg-type]
    assert sender.next_nonce == w3.eth.get_transaction_count(local.proposer.address)


def test_the_poster_sends_proposes_with_its_own_gas_bound_and_trusts_only_its_own_last_one(
    local: Local,
) -> None:
    w3, (r0, r1, r2) = local.w3, local.records
    poster = BatchPoster(w3, local.probe.rollup, LocalSender(local.proposer))
    count = poster.posted_count()
    assert count == 0
    tx0 = poster.post(r0, l1_count=count)
    assert tx0 is not None
    base_fee = int(w3.eth.get_block("latest")["baseFeePerGas"])  # the runner's round reads it
    local.methods()
    tx1 = poster.post(r1, base_fee=base_fee)  # right after its own propose: nothing to read
    assert tx1 is not None
    methods = local.methods()
    assert set(methods) <= {"eth_sendRawTransaction", "eth_getTransactionReceipt"}, methods
    for tx_hash, record in ((tx0, r0), (tx1, r1)):
        gas_used = int(w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])  # type: ignore[arg-type]
        assert gas_used < propose_gas(record) < 3 * gas_used  # a bound, not a blank cheque

    # A caller that saw another count (a deletion) is believed over the poster's memory.
    with pytest.raises(PostError, match="cannot be posted before batch 1"):
        poster.post(r2, l1_count=1)
    local.methods()
    assert poster.post(r2) is not None  # after an error: count and last root read, gas estimated
    methods = local.methods()
    assert methods["eth_call"] == 2 and methods["eth_estimateGas"] == 1, methods
    assert poster.posted_count() == 3
    assert bytes(local.probe.rollup.functions.last_root().call()) == r2.post_root


def test_the_finalizer_reads_nothing_until_the_first_window_closes_then_finalizes_in_order(
    local: Local,
) -> None:
    p, window = local.probe, 600
    f = Finalizer(local.w3, p.rollup, p.game, LocalSender(local.proposer))
    poster = BatchPoster(local.w3, p.rollup, local.proposer)
    for record in local.records:  # idempotent: posts what the poster's test did not
        poster.post(record)
    first = int(p.rollup.functions.batch(0).call()[5])
    now = p.now()
    local.methods()
    assert f.run(now, l1_count=3) == []  # reads: the window of batch 0 is open
    assert local.methods()["eth_call"] > 0 and f.final_count == 0

    for later, count in ((now + 1, 3), (first + window - 1, 3), (now + 1, 4)):
        assert f.run(later, l1_count=count) == []  # nothing can be due; a count that grew
    assert not local.methods()
    assert f.due(now + 1, 2)  # fewer batches than it knew: a deletion, read again

    last = int(p.rollup.functions.batch(2).call()[5])
    p.mine_at(last + window)
    assert f.run(p.now(), l1_count=3) == [0, 1, 2]
    assert f.final_count == 3 and p.rollup.functions.final_count().call() == 3
    now = p.now()
    local.methods()
    assert f.run(now + 1, l1_count=3) == [] and not local.methods()  # nothing pending
    assert f.due(now + 1, 4)  # a first batch after none pending: read its window
