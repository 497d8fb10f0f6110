"""Helpers for end-to-end tests of ``optirollup node run`` as a real process on a devnet.

Test modules import them (``from e2e_node import NodeProcess, ...``) beside the ``local_devnet``
fixture of ``e2e_devnet``:

* :class:`NodeProcess` starts the node on a free loopback port with its JSON log in a file (a
  pipe nobody reads would block a chatty node), talks to its HTTP API and stops it by its pid;
* :func:`deposit` and :func:`order` make a trader's L1 deposit and a signed order body;
* :func:`l1_batches` reads every batch L1 holds now, with its transactions decoded from the
  ``propose`` calldata, and :func:`replay` re-executes them from genesis with the reference STF
  (what any watcher can do from L1 alone), returning every root;
* :func:`check_l1_against_the_node` checks L1's batches against the node's sealed batches and
  its acknowledged fills (each exactly once).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e_devnet import LocalDevnet

from optirollup.api.models import order_body
from optirollup.codec.batch import decode_tx_list
from optirollup.codec.tx import Fill, Order, TxType, decode_tx
from optirollup.l1.anvil import free_port
from optirollup.l1.deploy import bind, send
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import MemoryStore
from optirollup.stf import BatchContext
from optirollup.stf.batch import trace
from optirollup.testkit import Signer

BIN = Path(sys.executable).parent
LOT, TICK, PRICE = 100_000, 1_000, 3_000_000_000


class NodeProcess:
    """``optirollup node run`` on ``net`` with its data in ``data`` (started at construction)."""

    def __init__(
        self,
        net: LocalDevnet,
        data: Path,
        *args: str,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data.mkdir(parents=True, exist_ok=True)
        n = len(list(data.glob("node-*.log")))
        self.log_path = data / f"node-{n}.log"
        full_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        full_env.pop("OPTIROLLUP_CRASHPOINT", None)
        full_env.update(env or {})
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / "optirollup"), "node", "run", "--devnet-file", str(net.file),
             "--data-dir", str(data), "--port", str(self.port), "--max-seconds", "1",
             "--log-format", "json", *args],
            env=full_env, stdout=subprocess.DEVNULL, stderr=self._log,
        )  # fmt: skip
        if wait:
            self.wait_for(lambda: self.get("/healthz") is not None, "the node to answer")

    def get(self, path: str) -> Any:
        """Return the decoded JSON answer of ``GET path``, or None if the node does not answer."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as r:
                return json.loads(r.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def get_text(self, path: str) -> str:
        """Return the text of ``GET path`` (e.g. ``/metrics``)."""
        with urllib.request.urlopen(self.url + path, timeout=5) as r:
            return str(r.read().decode())

    def metrics(self) -> dict[str, float]:
        """Return the node's /metrics samples by name and labels (``name{label="v"}``)."""
        out = {}
        for line in self.get_text("/metrics").splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """Return the status and decoded answer of ``POST path``."""
        req = urllib.request.Request(
            self.url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        """Return ``check()`` once it is truthy; fail if the node exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"node exited {self.proc.returncode}: {self.stderr()}")
            value = check()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; node log:\n{self.stderr()}")

    def wait_exit(self, timeout: float = 60) -> int:
        """Wait for the process to end by itself (a crash point); return its exit code."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the node did not exit; log:\n{self.stderr()}") from None
        finally:
            self._log.close()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Return the node's JSON log events so far (only those named ``name`` if given)."""
        if not self._log.closed:
            self._log.flush()
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if isinstance(e, dict) and (name is None or e.get("event") == name):
                out.append(e)
        return out

    def stderr(self) -> str:
        """Return the end of the node's log (stopping it first if it still runs)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._log.close()
        return self.log_path.read_text(errors="replace")[-6000:]

    def kill(self, sig: int) -> int:
        """Send ``sig`` and return the exit code."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=30)
        finally:
            self._log.close()

    def close(self) -> None:
        """Kill the process if it still runs (tests call it in ``finally``)."""
        if self.proc.poll() is None:
            self.kill(signal.SIGKILL)
        self._log.close()


def deposit(net: LocalDevnet, trader: Any, amount: int) -> None:
    """Approve and deposit ``amount`` from ``trader``'s L1 key to its own L2 account."""
    dep = net.devnet.deployment
    token, vault = bind(net.w3, "MockToken", dep.token), bind(net.w3, "Vault", dep.vault)
    acct = trader.local
    for fn in (token.functions.approve(dep.vault, amount),
               vault.functions.deposit(amount, acct.address)):  # fmt: skip
        send(net.w3, acct, {"to": fn.address, "data": fn._encode_transaction_data()}, "deposit")


def order(
    net: LocalDevnet, trader: Any, side: int, size: int, nonce: int, price: int = PRICE
) -> dict[str, Any]:
    """Return the JSON body of a signed ETH-PERP limit order."""
    signer = Signer(net.devnet.domain)
    o = Order(bytes.fromhex(trader.address[2:]), 1, side, price, size, 1_000, nonce, 2**40)
    return order_body(signer.order(o, trader.key))


def funded_node(net: LocalDevnet, node: NodeProcess, traders: Sequence[Any]) -> None:
    """Deposit 100,000 mUSD for each trader and wait for the deposits and a first price."""
    for t in traders:
        deposit(net, t, 10**11)
    for t in traders:
        node.wait_for(
            lambda t=t: (
                int((node.get(f"/accounts/{t.address}") or {}).get("collateral", 0)) == 10**11
            ),
            f"the deposit of {t.address}",
        )
    node.wait_for(
        lambda: int((node.get("/markets/1") or {}).get("oracle_price", 0)) > 0,
        "the devnet market and its first price",
    )


@dataclass(frozen=True)
class L1Batch:
    """A batch as L1 holds it, with its transactions read back from the propose calldata."""

    index: int
    nonce: int
    prev_root: bytes
    new_root: bytes
    batch_time: int
    deposit_count: int
    txs: tuple[bytes, ...]


def l1_batches(net: LocalDevnet) -> list[L1Batch]:
    """Return every batch L1 holds now (deleted ones excluded), in order."""
    dep = net.devnet.deployment
    rollup = bind(net.w3, "Rollup", dep.rollup)
    proposals = {
        (int(e["args"]["index"]), int(e["args"]["nonce"])): e
        for e in rollup.events.BatchProposed().get_logs(from_block=dep.block)
    }
    out = []
    for i in range(int(rollup.functions.batch_count().call())):
        b = rollup.functions.batch(i).call()
        ev = proposals[(i, int(b[7]))]
        _, args = rollup.decode_function_input(
            net.w3.eth.get_transaction(ev["transactionHash"])["input"]
        )
        txs = tuple(decode_tx_list(bytes(args["txs"])))
        out.append(L1Batch(i, int(b[7]), bytes(b[0]), bytes(b[1]), int(b[4]), int(b[6]), txs))
    return out


@dataclass
class Replay:
    """L1's batches re-executed from genesis: each one's honest trace, its context, the store."""

    traces: list[list[bytes]]
    contexts: list[BatchContext]
    store: MemoryStore


def replay(net: LocalDevnet, batches: Sequence[L1Batch]) -> Replay:
    """Re-execute ``batches`` from genesis with the reference STF (module notes).

    Each batch starts from the previous one's honest post-root, whatever L1 asserted, so a
    faked batch's honest trace is there to dispute it with.
    """
    dep = net.devnet.deployment
    vault = bind(net.w3, "Vault", dep.vault)
    count = int(vault.functions.deposit_count().call())
    hashes = [bytes(vault.functions.deposit_hashes(i).call()) for i in range(count)]
    store = MemoryStore()
    root = genesis_root(store, bytes.fromhex(net.devnet.config.oracle.address[2:]))
    out = Replay([], [], store)
    for b in batches:
        ctx = BatchContext(b.batch_time, net.devnet.domain.separator, hashes[: b.deposit_count])
        state = StateOverlay(store, root)
        roots = trace(state, list(b.txs), ctx)
        state.commit(store.update)
        out.traces.append(roots)
        out.contexts.append(ctx)
        root = roots[-1]
    return out


def check_l1_against_the_node(
    net: LocalDevnet, node: NodeProcess, acks: Sequence[Any], *, once: bool = True
) -> Replay:
    """Check what L1 holds against the node and the acknowledgements; return L1's replay.

    * the batches L1 holds are the node's sealed batches (roots, time, transaction count), and
      (``once``) each index was proposed once: no batch was deleted or posted twice;
    * re-executing L1's calldata from genesis reaches every root L1 holds;
    * the FILLs in L1's data are exactly the acknowledged fills, each at the batch and position
      its acknowledgement named, with its maker's and taker's order hashes and size.
    """
    batches = l1_batches(net)
    sealed = node.get(f"/batches?start=0&limit={len(batches)}")
    assert len(sealed) == len(batches)
    for b, s in zip(batches, sealed, strict=True):
        assert s["status"] in ("posted", "final"), s
        assert (b.prev_root.hex(), b.new_root.hex()) == (s["prev_root"][2:], s["post_root"][2:])
        assert (b.batch_time, len(b.txs)) == (int(s["batch_time"]), s["tx_count"])
    rollup = bind(net.w3, "Rollup", net.devnet.deployment.rollup)
    proposed = rollup.events.BatchProposed().get_logs(from_block=net.devnet.deployment.block)
    if once:
        assert sorted(int(e["args"]["index"]) for e in proposed) == [b.index for b in batches]

    replayed = replay(net, batches)
    assert [t[-1] for t in replayed.traces] == [b.new_root for b in batches]

    on_l1 = [
        (b.index, i, tx) for b in batches for i, tx in enumerate(b.txs) if tx[0] == TxType.FILL
    ]
    acked = [f for a in acks for f in a["fills"]]
    assert [(i, pos) for i, pos, _ in on_l1] == [(f["batch_index"], f["position"]) for f in acked]
    sep = net.devnet.domain.separator
    for (_, _, tx), f in zip(on_l1, acked, strict=True):
        decoded = decode_tx(tx)
        assert isinstance(decoded, Fill)
        assert "0x" + decoded.maker.order.hash(sep).hex() == f["maker_hash"]
        assert "0x" + decoded.taker.order.hash(sep).hex() == f["taker_hash"]
        assert str(decoded.size) == f["size"]
    return replayed
