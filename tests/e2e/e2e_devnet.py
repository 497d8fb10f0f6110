"""A devnet for end-to-end tests: anvil with every contract deployed and its deployment file.

Test modules load it with ``pytest_plugins = ["e2e_devnet"]`` and take the ``local_devnet``
fixture (one fresh anvil per test, stopped by its own pid).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import Web3

from optirollup.devnet import Devnet, DevnetConfig, deploy_devnet, write_devnet_file
from optirollup.l1.anvil import Anvil


@dataclass
class LocalDevnet:
    """The anvil, a web3 client, the deployed devnet and its deployment file."""

    anvil: Anvil
    w3: Web3
    devnet: Devnet
    file: Path


@pytest.fixture
def local_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDevnet]:
    """Deploy a devnet (2 traders, a 60 s challenge window) on a fresh anvil."""
    with Anvil(extra_args=["--silent"]) as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        deployed = deploy_devnet(w3, node.url, DevnetConfig(traders=2, challenge_window=60))
        file = tmp_path_factory.mktemp("devnet") / "devnet.json"
        write_devnet_file(file, deployed)
        yield LocalDevnet(node, w3, deployed, file)
