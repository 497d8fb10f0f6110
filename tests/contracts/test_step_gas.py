"""Gas of the costliest one-step proof of every transaction type, through the step runner.

The worst cases come from :func:`optirollup.testkit.worst_case_steps` (accounts at the position
limit, the longest leaves, the most markets a rule reads); ``bench/gas.py`` measures the same
steps through ``DisputeGame.step`` at 100,000 accounts for ``docs/gas.md``. Here each step is a
transaction to the runner, its root is checked against the reference STF, and its gas against
the protocol's bound: every step must fit well under 10,000,000 gas (an L1 transaction can
carry 2^24 = 16,777,216 under EIP-7825). Figures print with ``pytest -s``.
"""

# ruff: noqa: E402  (conftest_steps is registered for assertion rewriting before it is imported)

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("conftest_steps")

from conftest_steps import StepChain, trie_of

from optirollup.dispute import build_step_witness
from optirollup.state.overlay import StateOverlay
from optirollup.stf import BatchContext, Reason, apply
from optirollup.testkit import WORST_CASE_BATCH_TIME, Signer, worst_case_steps

pytest_plugins = ["conftest_steps"]

STEP_GAS_BOUND = 10_000_000
"""The most gas one step may take (docs/l1.md, "Step verifiers")."""


def _run_worst_cases(chain: StepChain, fillers: int) -> dict[str, int]:
    case = worst_case_steps(fillers, Signer())
    store, root = trie_of(case.leaves)
    hashes = chain.queue([case.deposit])
    ctx = BatchContext(WORST_CASE_BATCH_TIME, Signer().separator, hashes)
    gas: dict[str, int] = {}
    print()
    for what, tx in case.steps:
        built = build_step_witness(store, root, tx, ctx)
        expect_ok = "TOO_MANY" not in what
        assert (built.receipt.reason == Reason.OK) == expect_ok, built.receipt
        args = (root, tx, WORST_CASE_BATCH_TIME, len(hashes), built.encode())
        assert chain.call(chain.runner, *args) == built.post_root
        gas[what] = chain.gas(chain.runner, *args)
        print(
            f"{what}: {gas[what]:,} gas at {fillers:,} further accounts; witness "
            f"{len(built.encode()):,} bytes, {len(built.proofs)} proofs "
            f"({STEP_GAS_BOUND - gas[what]:,} under the bound)"
        )
        overlay = StateOverlay(store, root)
        apply(overlay, tx, ctx)
        root = overlay.root()
        store.update(overlay.pending_nodes())
    return gas


def test_the_costliest_step_of_every_type_fits_the_gas_bound(step_chain: StepChain) -> None:
    gas = _run_worst_cases(step_chain, 2_000)
    assert len(gas) == 9
    assert max(gas.values()) < STEP_GAS_BOUND // 2  # far under: a bisection cannot be starved


@pytest.mark.slow
def test_the_costliest_steps_at_100000_accounts_fit_the_gas_bound(step_chain: StepChain) -> None:
    gas = _run_worst_cases(step_chain, 100_000)
    assert max(gas.values()) < STEP_GAS_BOUND // 2
