"""The L1 shell: contract artifacts, deployment and a local anvil node (web3.py only, no ape).

* :mod:`optirollup.l1.contracts` compiles the Vyper contracts and caches ABI and bytecode;
* :mod:`optirollup.l1.deploy` deploys and wires MockToken, Vault, Rollup, DisputeGame and the
  step verifiers in the order of ``docs/l1.md``;
* :mod:`optirollup.l1.anvil` runs anvil from the project's ``node_modules`` on a free port.
"""

from optirollup.errors import OptiRollupError


class L1Error(OptiRollupError):
    """Base of every error raised by the L1 shell."""


__all__ = ["L1Error"]
