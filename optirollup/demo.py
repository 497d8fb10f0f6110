"""``optirollup demo`` (``make demo``): the whole rollup, end to end, on a local devnet.

It starts three processes, each the real command an operator runs, on loopback ports chosen at
run time:

1. ``optirollup devnet`` (anvil from ``node_modules`` plus every contract; a short challenge
   window so the story fits in about two minutes);
2. ``optirollup node run --fault-batch F --fault-tx I``: the node, told to post batch ``F`` with
   a wrong state root (its trace is right up to transaction ``I`` and wrong from there on), and
   to defend that lie;
3. ``challenger run``: the watchtower, which re-executes every batch from L1 data alone.

Then a few scripted traders deposit on L1, trade a perpetual over the node's HTTP API (signed
EIP-712 orders crossing on the book), and the demo watches L1 while the challenger catches the
falsified batch, wins the bisection game with a one-step proof, the batch and its descendants
are deleted and the proposer slashed. The node stakes again and re-posts its honest batches,
trading continues, every trader withdraws part of its collateral and claims it on L1 once the
batch holding the withdrawal is final. A summary (batches, fills, disputes, rounds, gas, the
winner, balances) is printed, and every process the demo started is stopped by its own pid.

Every check along the way is real: the demo exits non-zero with the step that failed and the
path of the three processes' logs if the story does not happen as it should.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from optirollup.api.models import order_body
from optirollup.codec import eip712
from optirollup.codec.tx import Order, Side, Withdraw, encode_tx
from optirollup.errors import OptiRollupError
from optirollup.l1.anvil import free_port
from optirollup.testkit import Signer

__all__ = ["DemoConfig", "DemoFailed", "run"]

T = TypeVar("T")

TOKEN = 10**6
"""MockToken base units per whole token (6 decimals)."""


class DemoFailed(OptiRollupError):
    """A step of the demo did not happen as it should (the message says which)."""


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs; the defaults tell the story in about two minutes."""

    traders: int = 3
    fault_batch: int = 3
    fault_tx: int = 2
    challenge_window: int = 30
    rounds_before: int = 12
    """Trading rounds (one crossing pair of orders each) before the dispute."""
    rounds_after: int = 6
    """Trading rounds after the node re-posted its honest batches."""
    deposit: int = 20_000 * TOKEN
    withdraw: int = 1_000 * TOKEN
    workdir: Path | None = None
    """Where logs and data go (None: a new temporary directory, removed after a clean run)."""
    keep: bool = False
    timeout: float = 240.0
    """Seconds any one wait may take before the demo gives up."""
    echo: Callable[[str], None] = field(default=print)


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


def _bin(name: str) -> list[str]:
    """Return the command that runs the console script ``name`` of this environment."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    module = {"optirollup": "optirollup.cli", "challenger": "challenger.cli"}[name]
    return [sys.executable, "-m", module]


class _Demo:
    def __init__(self, config: DemoConfig) -> None:
        self.c = config
        self.t0 = time.monotonic()
        self.procs: list[_Proc] = []
        self.work = config.workdir or Path(tempfile.mkdtemp(prefix="optirollup-demo-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.fills = 0
        self.orders = 0

    # -- output and waiting -------------------------------------------------------------------

    def say(self, msg: str) -> None:
        self.c.echo(f"[{time.monotonic() - self.t0:6.1f}s] {msg}")

    def wait(self, what: str, probe: Callable[[], T | None], every: float = 0.25) -> T:
        deadline = time.monotonic() + self.c.timeout
        last_err: Exception | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                got = probe()
            except (OSError, ValueError, KeyError) as err:  # not up yet, or a transient error
                last_err, got = err, None
            if got:  # None, False and [] mean: not yet
                return got
            time.sleep(every)
        tail = f" (last error: {last_err})" if last_err else ""
        raise DemoFailed(f"timed out after {self.c.timeout:.0f} s waiting for {what}{tail}")

    # -- processes ----------------------------------------------------------------------------

    def spawn(self, name: str, argv: Sequence[str]) -> _Proc:
        log = self.work / f"{name}.log"
        out = log.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        popen = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        out.close()
        proc = _Proc(name, popen, log)
        self.procs.append(proc)
        self.say(f"started {name} (pid {popen.pid}), log {log}")
        return proc

    def check_alive(self) -> None:
        for p in self.procs:
            code = p.popen.poll()
            if code is not None:
                tail = p.log.read_text(errors="replace").splitlines()[-15:]
                raise DemoFailed(
                    f"{p.name} exited with {code}; the end of {p.log}:\n  " + "\n  ".join(tail)
                )

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            if p.popen.poll() is None:
                p.popen.send_signal(signal.SIGTERM)
                try:
                    p.popen.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.popen.kill()
                    p.popen.wait(timeout=5)
        self.procs.clear()
        anvil_pid = getattr(self, "anvil_pid", None)
        if anvil_pid:  # the devnet command stops its anvil; make sure of it, by its pid
            try:
                os.kill(anvil_pid, 0)
            except OSError:
                return
            os.kill(anvil_pid, signal.SIGTERM)

    # -- HTTP ---------------------------------------------------------------------------------

    def http(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.node_url + path, data, {"Content-Type": "application/json"}, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as err:
            raw = err.read().decode(errors="replace")
            raise DemoFailed(f"{method} {path}: HTTP {err.code}: {raw[:300]}") from err

    # -- the story ----------------------------------------------------------------------------

    def start(self) -> None:
        from web3 import Web3

        from optirollup.l1.deploy import Deployment, bind

        devnet_file = self.work / "devnet.json"
        self.spawn("devnet", [*_bin("optirollup"), "devnet", "--out", str(devnet_file),
                              "--traders", str(self.c.traders),
                              "--challenge-window", str(self.c.challenge_window)])  # fmt: skip
        self.devnet = self.wait(
            "the devnet's deployment file", lambda: json.loads(devnet_file.read_text())
        )
        self.anvil_pid = self.devnet.get("anvil_pid")
        self.dep = Deployment.from_json(self.devnet)
        self.w3 = Web3(Web3.HTTPProvider(self.devnet["rpc_url"], request_kwargs={"timeout": 60}))
        self.say(f"devnet up on {self.devnet['rpc_url']}: Rollup {self.dep.rollup}, "
                 f"challenge window {self.c.challenge_window} s")  # fmt: skip
        self.token = bind(self.w3, "MockToken", self.dep.token)
        self.vault = bind(self.w3, "Vault", self.dep.vault)
        self.rollup = bind(self.w3, "Rollup", self.dep.rollup)
        self.game = bind(self.w3, "DisputeGame", self.dep.dispute_game)
        accounts = self.devnet["devnet_only_accounts"]
        self.proposer = str(accounts["proposer"]["address"])
        self.challenger = str(accounts["challenger"]["address"])
        self.traders = [bytes.fromhex(str(t["key"])[2:]) for t in accounts["traders"]]
        self.signer = Signer(eip712.Domain(self.dep.chain_id, bytes.fromhex(self.dep.vault[2:])))

        port = free_port()
        self.node_url = f"http://127.0.0.1:{port}"
        self.spawn("node", [*_bin("optirollup"), "node", "run", "--devnet-file", str(devnet_file),
                            "--data-dir", str(self.work / "node"), "--port", str(port),
                            "--max-seconds", "1", "--log-format", "json",
                            "--fault-batch", str(self.c.fault_batch),
                            "--fault-tx", str(self.c.fault_tx)])  # fmt: skip
        self.wait("the node's HTTP API", lambda: self.http("GET", "/healthz"))
        self.say(f"node serving {self.node_url} (told to falsify batch {self.c.fault_batch}, "
                 f"wrong from its transaction {self.c.fault_tx} on)")  # fmt: skip
        self.spawn("challenger", [*_bin("challenger"), "run", "--devnet-file", str(devnet_file),
                                  "--data-dir", str(self.work / "challenger"),
                                  "--metrics-port", "0", "--log-format", "json"])  # fmt: skip

    def deposit_all(self) -> None:
        from eth_account import Account

        from optirollup.l1.deploy import send

        for key in self.traders:
            acct = Account.from_key(key)
            send(self.w3, acct, {"to": self.token.address, "data": self.token.encode_abi(
                "approve", [self.vault.address, self.c.deposit])}, "approve")  # fmt: skip
            send(self.w3, acct, {"to": self.vault.address, "data": self.vault.encode_abi(
                "deposit", [self.c.deposit, acct.address])}, "Vault.deposit")  # fmt: skip
        self.say(f"{len(self.traders)} traders deposited {self.c.deposit // TOKEN:,} tokens each "
                 "on L1")  # fmt: skip
        for key in self.traders:
            self.wait("the node to credit the deposits", self._credited(eip712.address_of(key)))
        self.say("the node included every deposit (L2 collateral credited)")

    def _credited(self, address: bytes) -> Callable[[], bool]:
        def probe() -> bool:
            got = self.http("GET", f"/accounts/0x{address.hex()}")
            return int(got["collateral"]) >= self.c.deposit

        return probe

    def _final_withdrawal(self, wid: int) -> Callable[[], dict[str, Any] | None]:
        def probe() -> dict[str, Any] | None:
            w: dict[str, Any] = self.http("GET", f"/withdrawals/{wid}")
            return w if w["final"] else None

        return probe

    def _game_events(self, name: str, arg: str, value: int) -> Callable[[], list[Any]]:
        def probe() -> list[Any]:
            return [e for e in self.events(self.game, name) if int(e["args"][arg]) == value]

        return probe

    def market(self) -> dict[str, Any]:
        def listed() -> dict[str, Any] | None:
            markets = self.http("GET", "/markets")
            live = [m for m in markets if int(m["oracle_price"]) > 0]
            return live[0] if live else None

        return self.wait("a listed market with an oracle price", listed)

    def trade(self, rounds: int) -> None:
        m = self.market()
        mid, tick, lot = int(m["id"]), int(m["tick_size"]), int(m["lot_size"])
        fee_cap = max(int(m["maker_fee_ppm"]), int(m["taker_fee_ppm"]))
        for r in range(rounds):
            price = int(self.market()["oracle_price"]) // tick * tick + (r % 5) * tick
            maker = self.traders[r % len(self.traders)]
            taker = self.traders[(r + 1) % len(self.traders)]
            side = Side.SELL if r % 2 == 0 else Side.BUY
            size = (5 + r % 4) * lot
            for key, s in ((maker, side), (taker, Side.BUY if side == Side.SELL else Side.SELL)):
                o = Order(eip712.address_of(key), mid, int(s), price, size, fee_cap,
                          time.time_ns() // 1000, int(time.time()) + 86_400)  # fmt: skip
                ack = self.http("POST", "/orders", order_body(self.signer.order(o, key)))
                self.orders += 1
                self.fills += len(ack["fills"])
            time.sleep(0.3)
        self.say(f"traded {rounds} rounds over HTTP: {self.orders} orders, {self.fills} fills so "
                 "far")  # fmt: skip

    def events(self, contract: Any, name: str) -> list[Any]:
        return list(getattr(contract.events, name)().get_logs(from_block=self.dep.block))

    def dispute(self) -> dict[str, Any]:
        f = self.c.fault_batch
        self.wait(f"batch {f} on L1", lambda: int(self.rollup.functions.batch_count().call()) > f)
        self.say(f"the node posted batch {f} with a wrong state root")
        opened = self.wait(
            f"the challenger to open a game on batch {f}",
            self._game_events("GameOpened", "batch_index", f),
        )
        gid = int(opened[0]["args"]["game_id"])
        self.say(f"the challenger opened game {gid} on batch {f} (bond "
                 f"{self.dep.params.challenger_bond / 1e18:g} ETH)")  # fmt: skip
        resolved = self.wait(
            f"game {gid} to be resolved", self._game_events("GameResolved", "game_id", gid), 0.5
        )
        winner = str(resolved[0]["args"]["winner"])
        deleted = self.wait("BatchesDeleted", lambda: self.events(self.rollup, "BatchesDeleted"))
        d = deleted[0]["args"]
        moves = sum(
            1
            for name in ("GameBisected", "GameChosen", "GameStepped")
            for e in self.events(self.game, name)
            if int(e["args"]["game_id"]) == gid
        )
        who = "the challenger" if winner.lower() == self.challenger.lower() else winner
        first, gone = int(d["index"]), int(d["count"])
        self.say(f"game {gid} resolved after {moves} moves: {who} won; batches "
                 f"{first}..{first + gone - 1} deleted, proposer slashed "
                 f"{int(d['slashed']) / 1e18:g} ETH")  # fmt: skip
        if winner.lower() != self.challenger.lower():
            raise DemoFailed(f"game {gid} was won by {winner}, not the challenger")
        slashed = int(d["slashed"])
        return {"game_id": gid, "moves": moves, "winner": who, "deleted_from": first,
                "deleted": gone, "slashed_wei": slashed}  # fmt: skip

    def resynced(self) -> None:
        f = self.c.fault_batch

        def honest() -> bool:
            if int(self.rollup.functions.batch_count().call()) <= f:
                return False
            on_l1 = bytes(self.rollup.functions.batch(f).call()[1])
            sealed = self.http("GET", f"/batches?start={f}&limit=1")
            return bool(sealed) and sealed[0]["post_root"] == "0x" + on_l1.hex()

        self.wait(f"the node to re-post batch {f} with its honest root", honest, every=0.5)
        self.say(f"the node staked again and re-posted batch {f} with the honest root")

    def withdraw_and_claim(self) -> list[dict[str, Any]]:
        from eth_account import Account

        from optirollup.l1.deploy import send

        pending = []
        for key in self.traders:
            me = eip712.address_of(key)
            nonce = int(self.http("GET", f"/accounts/0x{me.hex()}")["nonce"])
            tx = encode_tx(self.signer.sign(Withdraw(me, me, self.c.withdraw, nonce), key))
            ack = self.http("POST", "/transactions", {"tx": "0x" + tx.hex()})
            pending.append((key, int(ack["withdrawal_id"])))
        window = self.c.challenge_window
        self.say(f"each trader asked to withdraw {self.c.withdraw // TOKEN:,} tokens; waiting "
                 f"for the batch holding them to be final ({window} s window)")  # fmt: skip
        out = []
        for key, wid in pending:
            w = self.wait(f"withdrawal {wid} to be final", self._final_withdrawal(wid), 1.0)
            acct = Account.from_key(key)
            before = int(self.token.functions.balanceOf(acct.address).call())
            args = [int(w["batch_index"]), wid, self.w3.to_checksum_address(w["account"]),
                    self.w3.to_checksum_address(w["recipient"]), int(w["amount"]),
                    [bytes.fromhex(n[2:]) for n in w["proof"]]]  # fmt: skip
            send(self.w3, acct, {"to": self.vault.address,
                                 "data": self.vault.encode_abi("withdraw", args)},
                 "Vault.withdraw")  # fmt: skip
            after = int(self.token.functions.balanceOf(acct.address).call())
            if after - before != self.c.withdraw:
                raise DemoFailed(f"claiming withdrawal {wid} paid {after - before}, not "
                                 f"{self.c.withdraw}")  # fmt: skip
            account = self.http("GET", f"/accounts/0x{eip712.address_of(key).hex()}")
            out.append({"trader": acct.address, "l1_tokens": after,
                        "l2_collateral": int(account["collateral"]),
                        "positions": account["positions"]})  # fmt: skip
        self.say("every withdrawal claimed on L1 for exactly its amount")
        return out

    def gas(self) -> tuple[Counter[str], Counter[str]]:
        """Return L1 gas by sender role: in all, and in DisputeGame calls alone."""
        names = {self.proposer.lower(): "proposer", self.challenger.lower(): "challenger"}
        for key in self.traders:
            names["0x" + eip712.address_of(key).hex()] = "traders"
        spent: Counter[str] = Counter()
        disputing: Counter[str] = Counter()
        game = self.dep.dispute_game.lower()
        for n in range(self.dep.block + 1, int(self.w3.eth.block_number) + 1):
            for r in self.w3.eth.get_block_receipts(n):
                who = names.get(str(r["from"]).lower())
                if who is not None:
                    spent[who] += int(r["gasUsed"])
                    if str(r["to"]).lower() == game:
                        disputing[who] += int(r["gasUsed"])
        return spent, disputing

    def summary(self, game: dict[str, Any], balances: list[dict[str, Any]]) -> None:
        proposed = self.events(self.rollup, "BatchProposed")
        final = int(self.rollup.functions.final_count().call())
        count = int(self.rollup.functions.batch_count().call())
        gas, disputing = self.gas()
        claimed: Counter[str] = Counter()
        for e in self.events(self.game, "Claimed"):
            who = str(e["args"]["account"]).lower()
            role = {self.challenger.lower(): "challenger", self.proposer.lower(): "proposer"}
            claimed[role.get(who, who)] += int(e["args"]["amount"])
        lines = [
            "",
            "optirollup demo: summary",
            f"  batches      {len(proposed)} proposals on L1; now {count} batches, {final} final;"
            f" {game['deleted']} deleted (from {game['deleted_from']} on) by the dispute",
            f"  trading      {self.orders} orders over HTTP, {self.fills} fills",
            f"  dispute      game {game['game_id']} on batch {self.c.fault_batch}: {game['moves']}"
            f" moves, won by {game['winner']}; proposer slashed "
            f"{game['slashed_wei'] / 1e18:g} ETH",
            "  claimed      "
            + (", ".join(f"{k} {v / 1e18:g} ETH" for k, v in sorted(claimed.items())) or "-")
            + " from the DisputeGame (the bond back plus half the slashed stake)",
            "  L1 gas       " + ", ".join(f"{k} {v:,}" for k, v in sorted(gas.items())),
            "    of which the game: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(disputing.items())),
            "  balances     (tokens: L1 wallet / L2 collateral)",
        ]
        for b in balances:
            pos = ", ".join(f"market {p['market']}: {int(p['size']) / 1e8:+g}"
                            for p in b["positions"]) or "flat"  # fmt: skip
            lines.append(f"    {b['trader']}  {b['l1_tokens'] / TOKEN:,.2f} / "
                         f"{b['l2_collateral'] / TOKEN:,.2f}  ({pos})")  # fmt: skip
        for line in lines:
            self.c.echo(line)


def run(config: DemoConfig | None = None) -> int:
    """Run the demo; return 0 when the whole story happened, raise :class:`DemoFailed` else."""
    c = config or DemoConfig()
    demo = _Demo(c)
    ok = False
    try:
        demo.start()
        demo.deposit_all()
        demo.trade(c.rounds_before)
        game = demo.dispute()
        demo.resynced()
        demo.trade(c.rounds_after)
        balances = demo.withdraw_and_claim()
        demo.summary(game, balances)
        ok = True
        return 0
    finally:
        demo.stop_all()
        if ok and not c.keep and c.workdir is None:
            shutil.rmtree(demo.work, ignore_errors=True)
        else:
            c.echo(f"logs and data kept in {demo.work}")
