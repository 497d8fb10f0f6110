"""``make demo``'s story, run as a test: devnet, node and challenger as real processes.

The demo checks every step itself (it raises :class:`~optirollup.demo.DemoFailed` otherwise);
this test runs a shorter version and checks what it printed and that it left nothing running.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from optirollup.demo import DemoConfig, run


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def test_the_demo_catches_the_falsified_batch_keeps_trading_and_stops_everything(
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    config = DemoConfig(
        workdir=tmp_path, echo=lines.append, challenge_window=20, rounds_before=6, rounds_after=3
    )
    assert run(config) == 0
    text = "\n".join(lines)
    assert "won by the challenger" in text
    assert "re-posted batch 3 with the honest root" in text
    assert "every withdrawal claimed on L1 for exactly its amount" in text
    devnet = json.loads((tmp_path / "devnet.json").read_text())
    assert not _alive(int(devnet["anvil_pid"]))
