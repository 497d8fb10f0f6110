"""The challenger as a real ``challenger run`` process on anvil, against scripted proposers.

Each test starts a fresh anvil, deploys every contract with short clocks (``devnet_params``:
k = 4, a 600 s window, 120 s game clocks) and writes a deployment file like ``optirollup
devnet``'s. The proposer is scripted with the dispute library only (as in
``test_dispute_library.py``): it queues Vault deposits, proposes a batch of DEPOSITs whose
asserted trace is honest up to transaction I and wrong after it (``lie_after``), and defends
its games with ``solve`` over that trace and a ``Responder``; it leaves every one-step proof to
the challenger (a rational liar never proves itself wrong). The challenger runs as a subprocess with
its own data directory and a free metrics port, logging JSON; the tests read its log events
and L1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.exceptions import Web3RPCError

from challenger.agent import Challenger
from challenger.cli import load_config
from challenger.core import GameRef, Verdict
from challenger.errors import DeploymentMismatch, ReplayMismatch
from challenger.metrics import Metrics
from challenger.replay import trace_batch
from optirollup.codec import eip712
from optirollup.codec.batch import encode_tx_list
from optirollup.devnet import Devnet, DevnetAccount, DevnetConfig, write_devnet_file
from optirollup.dispute import ASSERTER, ListTrace, Status, Step, StepInputs, solve, step_inputs
from optirollup.dispute.game import GameView, Phase, batch_hash
from optirollup.dispute.responder import Responder, read_game
from optirollup.hashing import keccak
from optirollup.l1.anvil import Anvil
from optirollup.l1.deploy import ALL_RULES, bind, deploy, devnet_params, send
from optirollup.l1.gasprobe import Probe, lie_after
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import MemoryStore
from optirollup.stf import BatchContext
from optirollup.stf.batch import trace
from optirollup.testkit import Trader, key_for

BIN = Path(sys.executable).parent
ETHER = 10**18
WINDOW, CLOCK, EXTENSION, K = 600, 120, 30, 4


# --------------------------------------------------------------------------- the devnet


@dataclass
class Net:
    """One anvil with everything deployed and a deployment file for the challenger."""

    anvil: Anvil
    w3: Web3
    probe: Probe
    devnet: Devnet
    file: Path

    @property
    def proposer(self) -> DevnetAccount:
        return self.devnet.config.proposer

    @property
    def challenger(self) -> DevnetAccount:
        return self.devnet.config.challenger

    @property
    def bond(self) -> int:
        return self.devnet.deployment.params.challenger_bond

    @property
    def stake(self) -> int:
        return self.devnet.deployment.params.proposer_bond

    def fund(self, label: str) -> DevnetAccount:
        """Return a new funded challenger key (10 ETH)."""
        account = DevnetAccount("challenger", key_for(label))
        send(self.w3, self.w3.eth.accounts[0], {"to": account.address, "value": 10 * ETHER}, "fund")
        return account

    def game_count(self) -> int:
        return int(self.probe.game.functions.game_count().call())

    def batch_count(self) -> int:
        return int(self.probe.rollup.functions.batch_count().call())

    def claimed(self, address: str) -> list[int]:
        logs = self.probe.game.events.Claimed().get_logs(from_block=self.devnet.deployment.block)
        return [int(e["args"]["amount"]) for e in logs if e["args"]["account"] == address]

    def advance(self, seconds: int) -> None:
        self.anvil.rpc("evm_increaseTime", seconds)
        self.anvil.rpc("evm_mine")


@contextmanager
def devnet(tmp: Path, *, k: int = K) -> Iterator[Net]:
    with Anvil(extra_args=["--silent"]) as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        config = DevnetConfig(
            traders=0, oracle_key=key_for("workload-oracle"), challenge_window=WINDOW
        )
        params = devnet_params(
            eip712.address_of(config.oracle_key),
            verifiers=ALL_RULES,
            proposer=config.proposer.address,
            challenge_window=WINDOW,
            k=k,
            game_clock=CLOCK,
            clock_extension=EXTENSION,
        )
        dep = deploy(w3, w3.eth.accounts[0], params)
        funder = w3.eth.accounts[0]
        send(w3, funder, {"to": config.proposer.address, "value": 10 * ETHER}, "fund")
        send(w3, funder, {"to": config.challenger.address, "value": 10 * ETHER}, "fund")
        rollup = bind(w3, "Rollup", dep.rollup)
        stake = rollup.functions.stake()
        send(
            w3,
            config.proposer.local,
            {
                "to": rollup.address,
                "value": params.proposer_bond,
                "data": stake._encode_transaction_data(),
            },
            "stake",
        )
        net_devnet = Devnet(dep, node.url, config, node.pid)
        file = tmp / "devnet.json"
        write_devnet_file(file, net_devnet)
        yield Net(node, w3, Probe(w3, node, dep), net_devnet, file)


# --------------------------------------------------------------------------- the proposer


@dataclass
class Posted:
    index: int
    nonce: int
    txs: list[bytes]
    ctx: BatchContext
    honest: list[bytes]
    asserted: list[bytes]
    block: int


@dataclass
class ScriptedProposer:
    """Posts batches (honest, or lying after transaction I) and defends them with the library."""

    net: Net
    store: MemoryStore = field(default_factory=MemoryStore)
    deposit_hashes: list[bytes] = field(default_factory=list)
    posted: dict[tuple[int, int], Posted] = field(default_factory=dict)
    steps: bool = False
    """Whether it sends one-step proofs itself. Off: the step is left to the challenger (a liar
    never proves itself wrong; and when both sides send the step of the same turn, one of the
    two reverts)."""
    via: str | None = None
    """A forwarder contract that is the Rollup's proposer: proposals are its internal calls."""

    def __post_init__(self) -> None:
        oracle = eip712.address_of(self.net.devnet.config.oracle_key)
        self.root = genesis_root(self.store, oracle)
        self.responder = Responder(self.net.probe.game, self.net.proposer.local, self._step_source)

    def deposits(self, n: int) -> list[bytes]:
        """Queue ``n`` small Vault deposits; return the DEPOSIT transactions consuming them."""
        cast = [Trader.of(f"challenger-e2e-{i}").address for i in range(8)]
        entries = [(cast[i % 8], 1_000 + i) for i in range(n)]
        txs, _ = self.net.probe.queue_deposits(entries, self.net.w3.eth.accounts[5])
        self.deposit_hashes += [keccak(t) for t in txs]
        return txs

    def propose(self, txs: list[bytes], lie_at: int | None = None) -> Posted:
        """Propose ``txs`` on the last posted root; wrong after tx ``lie_at`` if given."""
        net = self.net
        batch_time = net.probe.now()
        ctx = BatchContext(batch_time, net.devnet.domain.separator, list(self.deposit_hashes))
        overlay = StateOverlay(self.store, self.root)
        honest = trace(overlay, txs, ctx)
        overlay.commit(self.store.update)
        asserted = honest if lie_at is None else lie_after(honest, lie_at)
        posted = self.propose_raw(self.root, asserted[-1], txs, batch_time)
        posted.ctx, posted.honest, posted.asserted = ctx, honest, asserted
        return posted

    def propose_raw(self, prev: bytes, new: bytes, txs: list[bytes], batch_time: int) -> Posted:
        rollup = self.net.probe.rollup
        data = rollup.encode_abi("propose", [prev, new, batch_time, encode_tx_list(txs)])
        if self.via is None:
            tx: dict[str, Any] = {"to": rollup.address, "data": data}
            receipt = send(self.net.w3, self.net.proposer.local, tx, "propose")
        else:
            receipt = forward(self.net, self.via, data)
        (event,) = self.net.probe.events(rollup, "BatchProposed", receipt)
        index, nonce = int(event["args"]["index"]), int(event["args"]["nonce"])
        ctx = BatchContext(batch_time, b"", [])
        posted = Posted(index, nonce, txs, ctx, [prev, new], [prev, new], receipt["blockNumber"])
        self.posted[(index, nonce)] = posted
        self.root = new
        return posted

    def _step_source(self, game: GameView, tx_index: int) -> StepInputs:
        p = self.posted[(game.batch_index, game.batch_nonce)]
        return step_inputs(self.store, game.root_lo, p.txs, tx_index, p.ctx)

    def defend(self) -> int:
        """Answer every game against our batches once; return the number of moves sent."""
        sent = 0
        game = self.net.probe.game
        for ev in game.events.GameOpened().get_logs(from_block=self.net.devnet.deployment.block):
            if ev["args"]["asserter"] != self.net.proposer.address:
                continue
            g = self.responder.read(int(ev["args"]["game_id"]))
            p = self.posted.get((g.batch_index, g.batch_nonce))
            if p is None:
                continue
            live = g.active and g.batch_live
            trace_ = ListTrace(p.asserted if live else [g.root_lo, g.root_hi])
            actions = solve(g, ASSERTER, trace_, g.l1_time)  # over: claims what it won
            if not self.steps:
                actions = [a for a in actions if not isinstance(a, Step)]
            sent += len(self.responder.act_all(actions))
        return sent


def deploy_forwarder(net: Net) -> str:
    """Deploy a contract that calls ``calldata[:20]`` with ``calldata[20:]`` and its value.

    Raw EVM: copy the inner call to memory, CALL the target, revert if it failed.
    """
    runtime = bytes.fromhex(
        "600060006014360380601460003760003460003560601c5af160215760006000fd5b00"
    )
    init = bytes([0x60, len(runtime), 0x80, 0x60, 11, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3])
    receipt = send(net.w3, net.w3.eth.accounts[0], {"data": "0x" + (init + runtime).hex()}, "fwd")
    return str(receipt["contractAddress"])


def forward(net: Net, via: str, data: str, value: int = 0) -> Any:
    """Call the Rollup through the forwarder ``via`` (from a dev account)."""
    inner = bytes.fromhex(net.probe.rollup.address[2:]) + bytes.fromhex(data.removeprefix("0x"))
    tx = {"to": via, "data": "0x" + inner.hex(), "value": value}
    return send(net.w3, net.w3.eth.accounts[0], tx, "forwarded call")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the challenger


class ChallengerProcess:
    """``challenger run`` as a subprocess logging JSON; its events are collected as they come."""

    def __init__(self, net: Net, data_dir: Path, *extra: str, key: bytes | None = None) -> None:
        cmd = [
            str(BIN / "challenger"),
            "run",
            "--devnet-file",
            str(net.file),
            "--data-dir",
            str(data_dir),
            "--metrics-port",
            "0",
            "--poll-seconds",
            "0.1",
            "--log-format",
            "json",
            *extra,
        ]
        if key is not None:
            cmd += ["--key", "0x" + key.hex()]
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.log: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            text = line.decode(errors="replace").rstrip()
            self.raw.append(text)
            with suppress(ValueError):
                self.log.append(json.loads(text))

    def events(self, name: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in list(self.log)
            if e.get("event") == name and all(e.get(k) == v for k, v in match.items())
        ]

    def tail(self) -> str:
        return "\n".join(self.raw[-60:])

    def wait_for(
        self,
        what: Callable[[], Any],
        desc: str,
        *,
        tick: Callable[[], Any] | None = None,
        timeout: float = 90,
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._reader.join(timeout=5)
                raise AssertionError(f"challenger exited {self.proc.returncode}:\n{self.tail()}")
            value = what()
            if value:
                return value
            if tick is not None:
                tick()
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {desc}; challenger log:\n{self.tail()}")

    def wait_event(
        self, name: str, *, tick: Callable[[], Any] | None = None, timeout: float = 90, **match: Any
    ) -> dict[str, Any]:
        found = self.wait_for(
            lambda: self.events(name, **match), f"{name} {match}", tick=tick, timeout=timeout
        )
        return dict(found[0])

    def metrics(self) -> dict[str, float]:
        (started,) = self.events("metrics.started")
        with urllib.request.urlopen(started["url"], timeout=5) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)
        self._reader.join(timeout=5)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        return int(self.proc.returncode)


@contextmanager
def challenger(
    net: Net, data_dir: Path, *extra: str, key: bytes | None = None
) -> Iterator[ChallengerProcess]:
    proc = ChallengerProcess(net, data_dir, *extra, key=key)
    try:
        yield proc
    finally:
        proc.stop()


@contextmanager
def in_process(net: Net, data_dir: Path) -> Iterator[Challenger]:
    """A challenger in this process whose rounds the test runs (to place a race exactly)."""
    ch = Challenger(load_config(net.file, data_dir=data_dir), metrics=Metrics())
    try:
        yield ch
    finally:
        ch.close()


def rounds(
    ch: Challenger, until: Callable[[], Any], desc: str, *, tick: Callable[[], Any] | None = None
) -> Any:
    """Run rounds of ``ch`` (and ``tick``) until ``until()`` is true; return it."""
    for _ in range(30):
        ch.tick()
        if tick is not None:
            tick()
        if value := until():
            return value
    raise AssertionError(f"{desc}: not after 30 rounds")


def resolved(net: Net, game_id: int) -> GameView | None:
    g = read_game(net.probe.game, game_id)
    return None if g.active else g


# --------------------------------------------------------------------------- tests


CASES = [
    pytest.param(1, 0, id="a batch of 1, wrong at its only tx"),
    pytest.param(1000, 0, id="a batch of 1000, wrong at the first tx", marks=pytest.mark.slow),
    pytest.param(1000, 500, id="a batch of 1000, wrong at a middle tx"),
    pytest.param(1000, 999, id="a batch of 1000, wrong at the last tx", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("n", "lie_at"), CASES)
def test_a_lying_proposer_loses_its_batch_and_stake_to_the_challenger(
    n: int, lie_at: int, tmp_path: Path
) -> None:
    with devnet(tmp_path) as net:
        liar = ScriptedProposer(net)
        bad = liar.propose(liar.deposits(n), lie_at=lie_at)
        # a descendant on top of the lie: it must die with it, never be replayed or disputed
        liar.propose_raw(bad.asserted[-1], keccak(b"descendant"), liar.deposits(1), net.probe.now())
        with challenger(net, tmp_path / "ch") as ch:
            opened = ch.wait_event("game.opened", batch_index=bad.index, tick=liar.defend)
            gid = opened["game_id"]
            g = ch.wait_for(lambda: resolved(net, gid), "the game to end", tick=liar.defend)
            assert g.status is Status.CHALLENGER_WON
            assert (g.lo, g.hi) == (lie_at, lie_at + 1)
            claim = ch.wait_event("bond.claimed")
            assert claim["amount"] == net.bond + net.stake // 2
            ch.wait_event("game.resolved", game_id=gid, winner="challenger")
            metrics = ch.metrics()
        assert net.claimed(net.challenger.address) == [net.bond + net.stake // 2]
        assert net.batch_count() == bad.index  # the batch and its descendant are deleted
        assert net.game_count() == 1
        (wrong,) = ch.events("batch.wrong_root")
        assert wrong["batch_index"] == bad.index
        assert wrong["expected_root"] == "0x" + bad.honest[-1].hex()
        assert [e["batch_index"] for e in ch.events("batch.replayed")] == [bad.index]
        assert [e["batch_index"] for e in ch.events("batch.traced")] == [bad.index]
        assert ch.events("batch.checked", batch_index=bad.index, ok=False)
        (step,) = ch.events("game.moved", action="step")
        assert step["tx_index"] == lie_at
        assert metrics['challenger_games{state="won"}'] == 1
        assert metrics['challenger_games{state="open"}'] == 0
        assert metrics["challenger_bonds_at_risk_wei"] == 0
        assert metrics['challenger_batches_checked_total{verdict="wrong"}'] == 1
        assert metrics["challenger_replayed_txs_total"] == n
        assert metrics["challenger_traced_txs_total"] == n
        assert metrics["challenger_claimed_wei_total"] == net.bond + net.stake // 2


def test_an_honest_proposer_beats_a_dishonest_challenger_which_loses_its_bond(
    tmp_path: Path,
) -> None:
    with devnet(tmp_path) as net:
        honest = ScriptedProposer(net)
        good = honest.propose(honest.deposits(10))
        before = net.w3.eth.get_balance(net.challenger.address)
        with challenger(net, tmp_path / "ch", "--dishonest-batch", str(good.index)) as ch:
            opened = ch.wait_event("game.opened", tick=honest.defend)
            assert opened["honest"] is False
            (warning,) = ch.events("challenger.dishonest")  # the operator is told, loudly
            assert warning["batch_index"] == good.index and warning["level"] == "warning"
            g = ch.wait_for(
                lambda: resolved(net, opened["game_id"]), "the game to end", tick=honest.defend
            )
            ch.wait_event("game.resolved", game_id=g.game_id, winner="asserter", won=False)
            honest.defend()  # the proposer claims the bond
        assert g.status is Status.ASSERTER_WON
        assert (g.lo, g.hi) == (4, 5)  # the lie starts after the middle transaction of 10
        assert net.claimed(net.proposer.address) == [net.bond]
        assert net.claimed(net.challenger.address) == []
        assert net.w3.eth.get_balance(net.challenger.address) <= before - net.bond
        assert net.batch_count() == 1  # the valid batch stays
        assert ch.events("batch.checked", batch_index=good.index, ok=True)
        assert [e["batch_index"] for e in ch.events("batch.traced")] == [good.index]
        assert not ch.events("batch.wrong_root")
        assert not ch.events("bond.claimed")


def test_two_challengers_on_the_same_wrong_batch_one_wins_and_the_other_gets_its_bond_back(
    tmp_path: Path,
) -> None:
    with devnet(tmp_path) as net:
        liar = ScriptedProposer(net)
        bad = liar.propose(liar.deposits(40), lie_at=17)
        second = net.fund("challenger-e2e second challenger")
        with (
            challenger(net, tmp_path / "a") as a,
            challenger(net, tmp_path / "b", key=second.key) as b,
        ):
            # both open before the liar answers anything, so both games exist
            games = [
                ch.wait_event("game.opened", batch_index=bad.index)["game_id"] for ch in (a, b)
            ]
            assert sorted(games) == [0, 1]
            for ch in (a, b):
                ch.wait_for(lambda ch=ch: ch.events("bond.claimed"), "a claim", tick=liar.defend)
        ends = {gid: read_game(net.probe.game, gid).status for gid in games}
        assert sorted(ends.values()) == [Status.CHALLENGER_WON, Status.VOID]
        won = next(gid for gid, st in ends.items() if st is Status.CHALLENGER_WON)
        winner, other = (a, b) if won == games[0] else (b, a)
        addresses = {a: net.challenger.address, b: second.address}
        assert net.claimed(addresses[winner]) == [net.bond + net.stake // 2]
        assert net.claimed(addresses[other]) == [net.bond]
        assert other.events("game.moved", action="close_void")
        assert net.batch_count() == bad.index


def test_a_challenger_killed_mid_game_reloads_the_game_from_l1_and_still_wins(
    tmp_path: Path,
) -> None:
    with devnet(tmp_path) as net:
        liar = ScriptedProposer(net)
        bad = liar.propose(liar.deposits(200), lie_at=150)
        first = ChallengerProcess(net, tmp_path / "ch")
        try:
            opened = first.wait_event("game.opened", tick=liar.defend)
            first.wait_event("game.moved", action="choose", tick=liar.defend)
        finally:
            first.kill()  # SIGKILL: no cleanup at all
        assert first.proc.returncode == -signal.SIGKILL
        liar.defend()  # the liar bisects again: the dead challenger's turn to choose
        g = read_game(net.probe.game, opened["game_id"])
        assert g.active and g.to_move.value == "challenger"
        net.advance(CLOCK // 2)  # the downtime costs it half its clock
        with challenger(net, tmp_path / "ch") as again:
            g = again.wait_for(
                lambda: resolved(net, opened["game_id"]), "the game to end", tick=liar.defend
            )
            again.wait_event("bond.claimed")
        assert g.status is Status.CHALLENGER_WON and g.lo == 150
        assert net.game_count() == 1  # it did not open a second game
        assert net.claimed(net.challenger.address) == [net.bond + net.stake // 2]
        assert not again.events("game.opened")
        assert not again.events("batch.replayed")  # the post-root came from its data directory
        assert not again.events("batch.traced")  # and so did the trace
        assert again.events("batch.checked", batch_index=bad.index, ok=False, cached=True)


def test_a_reorg_that_drops_the_open_game_makes_the_challenger_open_it_again_and_win(
    tmp_path: Path,
) -> None:
    with devnet(tmp_path) as net:
        liar = ScriptedProposer(net)
        bad = liar.propose(liar.deposits(100), lie_at=60)
        with challenger(net, tmp_path / "ch") as ch:
            opened = ch.wait_event("game.opened", batch_index=bad.index)
            liar.defend()
            ch.wait_event("game.moved", action="choose")
            depth = net.w3.eth.block_number - opened["l1_block"] + 1
            net.anvil.rpc("anvil_reorg", depth, [])  # the open and both moves are gone
            reorg = ch.wait_event("l1.reorg")
            assert reorg["common"] < opened["l1_block"]
            ch.wait_for(
                lambda: len(ch.events("game.opened")) == 2,
                "the game opened again",
                tick=liar.defend,
            )
            g = ch.wait_for(lambda: resolved(net, 0), "the game to end", tick=liar.defend)
            ch.wait_event("bond.claimed")
        assert g.status is Status.CHALLENGER_WON and g.lo == 60
        assert net.game_count() == 1
        assert net.claimed(net.challenger.address) == [net.bond + net.stake // 2]


def test_after_a_reorg_replaces_a_wrong_batch_by_a_right_one_the_challenger_follows_the_new_chain(
    tmp_path: Path,
) -> None:
    with devnet(tmp_path) as net:
        proposer = ScriptedProposer(net)
        txs = proposer.deposits(30)
        snapshot, root = net.probe.snapshot(), proposer.root
        bad = proposer.propose(txs, lie_at=10)
        with challenger(net, tmp_path / "ch") as ch:
            ch.wait_event("game.opened", batch_index=bad.index)
            net.probe.revert(snapshot)  # the wrong batch and the game never happened
            proposer.root = root
            net.advance(1)
            good = proposer.propose(txs)
            assert (good.index, good.nonce) == (bad.index, bad.nonce)
            ch.wait_event("l1.reorg")
            ch.wait_event("batch.checked", batch_index=good.index, ok=True)
            # on the new chain, a wrong batch is still disputed, and nothing else
            worse = proposer.propose(proposer.deposits(5), lie_at=2)
            opened = ch.wait_event("game.opened", batch_index=worse.index, tick=proposer.defend)
            g = ch.wait_for(
                lambda: resolved(net, opened["game_id"]), "the game to end", tick=proposer.defend
            )
        assert g.status is Status.CHALLENGER_WON
        assert net.game_count() == 1
        assert net.batch_count() == 1  # the right batch stays


def test_a_dry_run_reports_the_game_it_would_open_and_sends_nothing(tmp_path: Path) -> None:
    with devnet(tmp_path) as net:
        liar = ScriptedProposer(net)
        bad = liar.propose(liar.deposits(5), lie_at=2)
        nonce = net.w3.eth.get_transaction_count(net.challenger.address)
        with challenger(net, tmp_path / "ch", "--dry-run") as ch:
            ch.wait_event("game.would_open", batch_index=bad.index)
            wrong = ch.wait_event("batch.wrong_root", batch_index=bad.index)
            assert wrong["expected_root"] == "0x" + bad.honest[-1].hex()
        assert net.game_count() == 0
        assert net.w3.eth.get_transaction_count(net.challenger.address) == nonce
        assert not ch.events("batch.traced")  # it plays nothing, so it traces nothing


def test_a_deployment_file_whose_oracle_is_not_the_rollups_genesis_is_refused(
    tmp_path: Path,
) -> None:
    with devnet(tmp_path) as net:
        data = json.loads(net.file.read_text())
        data["devnet_only_accounts"]["oracle"]["address"] = "0x" + "11" * 20
        wrong = tmp_path / "wrong.json"
        wrong.write_text(json.dumps(data))
        done = subprocess.run(
            [
                str(BIN / "challenger"),
                "run",
                "--devnet-file",
                str(wrong),
                "--data-dir",
                str(tmp_path / "ch"),
                "--metrics-port",
                "0",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert "cannot start the challenger" in done.stderr
    assert "genesis" in done.stderr and "wrong --devnet-file" in done.stderr
    assert not (tmp_path / "ch").exists()  # refused before it wrote anything


def test_many_batches_and_two_games_at_once_the_dispute_is_won_and_the_lie_is_lost(
    tmp_path: Path,
) -> None:
    with devnet(tmp_path) as net:
        p = ScriptedProposer(net)
        for _ in range(3):
            p.propose(p.deposits(3))
        bad = p.propose(p.deposits(20), lie_at=13)
        for i in range(2):
            p.propose_raw(p.root, keccak(b"descendant %d" % i), p.deposits(1), net.probe.now())
        with challenger(net, tmp_path / "ch", "--dishonest-batch", "1") as ch:
            both = ch.wait_for(
                lambda: len(ch.events("game.opened")) == 2 and ch.events("game.opened"),
                "two games",
                tick=p.defend,
            )
            games = {e["batch_index"]: e["game_id"] for e in both}
            assert sorted(games) == [1, bad.index]
            ends = {
                index: ch.wait_for(lambda g=gid: resolved(net, g), "an end", tick=p.defend)
                for index, gid in games.items()
            }
            ch.wait_event("bond.claimed")
        assert ends[bad.index].status is Status.CHALLENGER_WON and ends[bad.index].lo == 13
        assert ends[1].status is Status.ASSERTER_WON
        assert net.batch_count() == bad.index  # 3, 4 and 5 are gone; 0, 1 and 2 stay
        assert net.claimed(net.challenger.address) == [net.bond + net.stake // 2]
        assert [e["batch_index"] for e in ch.events("batch.replayed")] == [0, 1, 2, 3]
        assert [e["batch_index"] for e in ch.events("batch.traced")] == [1, 3]  # the played ones
        assert [e["batch_index"] for e in ch.events("batch.skipped")] == [4, 5]
        assert [e["ok"] for e in ch.events("batch.checked")] == [True, True, True, False]


# ----------------------------------------------------------- races and failures, round by round


def test_an_open_decided_before_a_reorg_made_the_batch_right_is_not_sent(tmp_path: Path) -> None:
    with devnet(tmp_path) as net:
        p = ScriptedProposer(net)
        txs = p.deposits(12)
        snapshot, root = net.probe.snapshot(), p.root
        bad = p.propose(txs, lie_at=5)
        key = (bad.index, bad.nonce)
        with in_process(net, tmp_path / "ch") as ch:
            head = ch.follower.head()  # a round reads L1 and judges the batch wrong ...
            ch.follower.scan(head, ch.chain)
            w = ch._check()
            assert w.by_key()[key].verdict is Verdict.WRONG
            net.probe.revert(snapshot)  # ... a reorg puts the right batch there, same nonce ...
            p.root = root
            net.advance(1)
            good = p.propose(txs)
            assert (good.index, good.nonce) == key
            ch._open(w, head)  # ... and the round's open must not dispute the right batch
            assert net.game_count() == 0
            rounds(ch, lambda: ch._checks[key].verdict is Verdict.OK, "the new batch checked")
            ch.tick()
        assert net.game_count() == 0


def test_an_open_racing_a_reorg_that_made_the_batch_right_is_refused_by_its_batch_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with devnet(tmp_path) as net:
        p = ScriptedProposer(net)
        txs = p.deposits(12)
        snapshot, root = net.probe.snapshot(), p.root
        bad = p.propose(txs, lie_at=5)
        key = (bad.index, bad.nonce)
        with in_process(net, tmp_path / "ch") as ch:
            head = ch.follower.head()  # a round judges the batch wrong ...
            ch.follower.scan(head, ch.chain)
            w = ch._check()
            judged = w.by_key()[key].batch
            assert w.by_key()[key].verdict is Verdict.WRONG
            # ... its re-read of the batch still sees it (the reorg lands right after) ...
            monkeypatch.setattr("challenger.agent.held", lambda batch, record: True)
            net.probe.revert(snapshot)  # ... and a reorg puts the right batch there, same nonce
            p.root = root
            net.advance(1)
            good = p.propose(txs)
            assert (good.index, good.nonce) == key
            now = batch_hash(net.probe.rollup.functions.batch(bad.index).call())
            assert judged.batch_hash != now
            sent_before = net.w3.eth.get_transaction_count(net.challenger.address)
            ch._open(w, head)  # the open commits to the judged batch: the contract refuses it
            assert net.game_count() == 0 and ch._opening == {}
            assert net.w3.eth.get_transaction_count(net.challenger.address) == sent_before
        assert net.game_count() == 0


def test_an_open_that_left_the_pool_unmined_does_not_keep_the_batch_from_its_game(
    tmp_path: Path,
) -> None:
    with devnet(tmp_path) as net:
        liar = ScriptedProposer(net)
        bad = liar.propose(liar.deposits(3), lie_at=1)
        with in_process(net, tmp_path / "ch") as ch:
            ch._opening[(bad.index, bad.nonce)] = "0x" + "ab" * 32  # sent, then dropped
            rounds(ch, lambda: net.game_count() == 1, "a game opened")
        g = read_game(net.probe.game, 0)
        assert (g.batch_index, g.batch_nonce, g.challenger) == (
            bad.index,
            bad.nonce,
            net.challenger.address,
        )


def test_no_game_is_opened_before_the_trace_of_its_batch_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with devnet(tmp_path) as net:
        liar = ScriptedProposer(net)
        bad = liar.propose(liar.deposits(6), lie_at=3)
        key = (bad.index, bad.nonce)
        with in_process(net, tmp_path / "ch") as ch:

            def failing(*args: Any) -> list[bytes]:
                raise ReplayMismatch("the trace does not reproduce the check")

            monkeypatch.setattr("challenger.agent.trace_batch", failing)
            rounds(ch, lambda: ch._checks[key].verdict is Verdict.WRONG, "the batch judged")
            ch.tick()
            assert net.game_count() == 0  # no bond without the trace it would be played with
            assert ch.store.trace(ch._trace_key(ch._checks[key].batch)) is None
            monkeypatch.setattr("challenger.agent.trace_batch", trace_batch)
            ch.tick()
            assert net.game_count() == 1
            roots = ch.store.trace(ch._trace_key(ch._checks[key].batch))
            assert roots == bad.honest
            g = rounds(ch, lambda: resolved(net, 0), "the game won", tick=liar.defend)
        assert g.status is Status.CHALLENGER_WON and g.lo == 3


def test_a_broken_game_or_failing_batch_checks_do_not_stop_the_other_games(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with devnet(tmp_path) as net:
        liar = ScriptedProposer(net)
        liar.propose(liar.deposits(20), lie_at=7)
        with in_process(net, tmp_path / "ch") as ch:
            rounds(ch, lambda: net.game_count() == 1, "a game opened")
            liar.defend()
            assert read_game(net.probe.game, 0).phase is Phase.CHOOSE
            # another game of ours, played first, whose reads fail
            ch.chain.view.games[-1] = GameRef(-1, 0, 0, ch.address, net.proposer.address, 0)
            read = ch.responder.read

            def flaky(game_id: int) -> GameView:
                if game_id == -1:
                    raise Web3RPCError("the node refuses this game's reads")
                return read(game_id)

            monkeypatch.setattr(ch.responder, "read", flaky)
            ch.tick()
            assert read_game(net.probe.game, 0).phase is Phase.BISECT  # it chose all the same
            liar.defend()

            def broken() -> None:
                raise RuntimeError("the batch checks failed")

            monkeypatch.setattr(ch, "_check", broken)
            with pytest.raises(RuntimeError, match="batch checks failed"):
                ch.tick()  # the round fails (so the loop backs off) ...
            assert read_game(net.probe.game, 0).phase is not Phase.CHOOSE  # ... after playing


def test_a_deployment_file_that_mixes_two_deployments_is_refused(tmp_path: Path) -> None:
    with devnet(tmp_path) as net:
        data = json.loads(net.file.read_text())
        data["vault"] = data["token"]  # a contract, but not this Rollup's Vault
        mixed = tmp_path / "mixed.json"
        mixed.write_text(json.dumps(data))
        with pytest.raises(DeploymentMismatch, match=r"Rollup.VAULT\(\) is"):
            Challenger(load_config(mixed, data_dir=tmp_path / "ch"))
    assert not (tmp_path / "ch").exists()


def test_a_wrong_batch_proposed_by_a_contract_is_read_from_its_internal_call_and_lost(
    tmp_path: Path,
) -> None:
    with devnet(tmp_path) as net:
        fwd = deploy_forwarder(net)
        rollup = net.probe.rollup
        owner = net.w3.eth.accounts[0]
        tx = {"to": rollup.address, "data": rollup.encode_abi("set_proposer", [fwd])}
        send(net.w3, owner, tx, "set_proposer")  # type: ignore[arg-type]
        forward(net, fwd, rollup.encode_abi("stake", []), value=net.stake)
        liar = ScriptedProposer(net, via=fwd)
        bad = liar.propose(liar.deposits(1), lie_at=0)
        with in_process(net, tmp_path / "ch") as ch:
            g = rounds(ch, lambda: net.game_count() == 1 and resolved(net, 0), "the game won")
        assert g.status is Status.CHALLENGER_WON and g.challenger == net.challenger.address
        assert net.batch_count() == bad.index
