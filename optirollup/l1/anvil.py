"""Run anvil (the local L1) from the project's ``node_modules`` on a free loopback port.

``with Anvil() as node: ...`` picks a free port on 127.0.0.1 at run time, starts the native
anvil binary that ``npm ci`` installed (``node_modules/@foundry-rs/anvil-<os>-<arch>/bin/anvil``,
not the node launcher, so the process we stop is anvil itself), waits until it answers
JSON-RPC, and on exit stops that process by its own pid: SIGTERM, then SIGKILL if it does not
exit. ``OPTIROLLUP_ANVIL`` overrides the binary.

anvil's defaults are kept unless asked otherwise: the latest hardfork (Osaka for 1.7.1), the
EIP-170 code size limit, no EIP-7825 per-transaction gas cap (``tx_gas_limit=True`` turns it
on), ten funded, unlocked dev accounts.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from optirollup.l1 import L1Error

__all__ = ["Anvil", "AnvilError", "anvil_binary", "free_port"]

_REPO_ROOT = Path(__file__).resolve().parents[2]
_PLATFORMS = {
    ("linux", "x86_64"): "linux-amd64",
    ("linux", "amd64"): "linux-amd64",
    ("linux", "aarch64"): "linux-arm64",
    ("linux", "arm64"): "linux-arm64",
    ("darwin", "x86_64"): "darwin-amd64",
    ("darwin", "arm64"): "darwin-arm64",
}


class AnvilError(L1Error):
    """anvil could not be found, started or reached."""


def anvil_binary() -> Path:
    """Return the anvil executable (``OPTIROLLUP_ANVIL``, else the project's node_modules)."""
    override = os.environ.get("OPTIROLLUP_ANVIL")
    if override:
        if not os.access(override, os.X_OK):
            raise AnvilError(
                f"OPTIROLLUP_ANVIL={override} is not an executable file; unset it to use the "
                "project's anvil (make install)"
            )
        return Path(override)
    key = (sys.platform, platform.machine().lower())
    target = _PLATFORMS.get(key)
    if target is None:
        raise AnvilError(f"no anvil package for platform {key}; set OPTIROLLUP_ANVIL")
    path = _REPO_ROOT / "node_modules" / "@foundry-rs" / f"anvil-{target}" / "bin" / "anvil"
    if not path.is_file():
        raise AnvilError(f"anvil not found at {path}; run `make install` (npm ci) first")
    return path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rpc(url: str, method: str, params: Sequence[Any] = (), timeout: float = 2.0) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise AnvilError(f"{method}: {reply['error']}")
    return reply["result"]


class Anvil:
    """An anvil process on a loopback port chosen at run time; a context manager."""

    def __init__(
        self,
        *,
        chain_id: int = 31337,
        hardfork: str | None = None,
        gas_limit: int | None = None,
        tx_gas_limit: bool = False,
        timestamp: int | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
        binary: Path | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.hardfork = hardfork
        self.gas_limit = gas_limit
        self.tx_gas_limit = tx_gas_limit
        self.timestamp = timestamp
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.binary = binary
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the HTTP JSON-RPC endpoint."""
        if self.port is None:
            raise AnvilError("anvil is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """Return the anvil process id."""
        if self._process is None:
            raise AnvilError("anvil is not running")
        return self._process.pid

    def _command(self, port: int) -> list[str]:
        cmd = [str(self.binary or anvil_binary()), "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--chain-id", str(self.chain_id)]
        if self.hardfork:
            cmd += ["--hardfork", self.hardfork]
        if self.gas_limit is not None:
            cmd += ["--gas-limit", str(self.gas_limit)]
        if self.tx_gas_limit:
            cmd += ["--enable-tx-gas-limit"]
        if self.timestamp is not None:
            cmd += ["--timestamp", str(self.timestamp)]
        return cmd + list(self.extra_args)

    def start(self) -> Anvil:
        """Start anvil and wait until it answers; retry on a port lost to another process."""
        if self._process is not None:
            raise AnvilError(f"anvil already running (pid {self._process.pid})")
        last_error = ""
        for _attempt in range(3):
            port = free_port()
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - stop() closes it
            # Its own session: a Ctrl-C in the terminal reaches only the parent, which stops
            # anvil itself (by pid) after whatever cleanup it needs.
            process = subprocess.Popen(
                self._command(port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                start_new_session=True,
            )
            self._process, self.port = process, port
            deadline = time.monotonic() + self.startup_timeout
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    break
                try:
                    chain_id = int(_rpc(self.url, "eth_chainId", timeout=1.0), 16)
                except (OSError, urllib.error.URLError, ValueError):
                    time.sleep(0.05)
                    continue
                if chain_id != self.chain_id:
                    last_error = f"port {port} answers with chain id {chain_id}"
                    break
                return self
            else:
                last_error = f"no answer on port {port} after {self.startup_timeout} s"
            last_error = last_error or self._stderr_tail()
            self.stop()
        raise AnvilError(f"could not start anvil: {last_error}")

    def _stderr_tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        """Stop the anvil process by its pid (SIGTERM, then SIGKILL after 5 s)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        self.port = None

    def rpc(self, method: str, *params: Any) -> Any:
        """Call a JSON-RPC method (``evm_mine``, ``evm_snapshot``, ...); return its result."""
        return _rpc(self.url, method, params, timeout=60.0)

    def rpc_batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Send several JSON-RPC calls in one HTTP request; return their results in order.

        Raise :class:`AnvilError` if any call failed.
        """
        if not calls:
            return []
        body = json.dumps(
            [
                {"jsonrpc": "2.0", "id": i, "method": method, "params": list(params)}
                for i, (method, params) in enumerate(calls)
            ]
        )
        request = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            replies = sorted(json.loads(response.read()), key=lambda r: int(r["id"]))
        errors = [r["error"] for r in replies if "error" in r]
        if errors:
            raise AnvilError(f"{len(errors)} of {len(calls)} calls failed, first: {errors[0]}")
        return [r["result"] for r in replies]

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
