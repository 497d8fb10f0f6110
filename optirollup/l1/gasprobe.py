"""Drive a deployment on anvil and read exact gas figures off receipts (web3.py only, no ape).

Used by ``bench/gas.py`` (which writes ``docs/gas.md``); nothing in the node depends on it.

* :func:`calldata_cost` splits a transaction's data into the EIP-2028 calldata charge (4 gas a
  zero byte, 16 a non-zero byte) and the EIP-7623 floor (``21000 + 10 · tokens`` with
  ``tokens = zero bytes + 4 · non-zero bytes``): since Prague a transaction pays the larger of
  the floor and ``21000 + calldata + execution``.
* :class:`Probe` binds the contracts of a :class:`~optirollup.l1.deploy.Deployment` on a running
  :class:`~optirollup.l1.anvil.Anvil`, sends calls from anvil's unlocked dev accounts with an
  explicit gas limit (so a call that only succeeds at a time set with :meth:`Probe.at` is not
  estimated at the latest block's time), queues Vault deposits in bulk, moves time and reads
  a transaction's execution gas from anvil's parity-style trace (``trace_transaction``).
* :func:`lie_after` and :func:`honest_choice` script the dispute game of ``docs/l1.md``
  ("DisputeGame"): the arithmetic itself (:func:`~optirollup.dispute.game.split_points`, the
  challenger's choice :func:`~optirollup.dispute.solver.first_disputed`) lives in
  :mod:`optirollup.dispute` and is re-exported here; :func:`bisect_to_step` plays the
  BISECT/CHOOSE rounds of one game and returns the gas of every move.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from optirollup.dispute.game import Phase, batch_hash, split_points
from optirollup.dispute.solver import ListTrace, first_disputed
from optirollup.hashing import keccak
from optirollup.l1 import L1Error
from optirollup.l1.anvil import Anvil
from optirollup.l1.deploy import Deployment, bind
from optirollup.testkit import deposit_tx

__all__ = [
    "BISECT",
    "CHOOSE",
    "DEFAULT_GAS",
    "STEP",
    "CalldataCost",
    "GasProbeError",
    "Move",
    "Probe",
    "bisect_to_step",
    "calldata_cost",
    "honest_choice",
    "lie_after",
    "split_points",
]

DEFAULT_GAS = 29_000_000
"""Gas limit of every call :meth:`Probe.send` makes (under anvil's 30M block gas limit)."""

TX_BASE = 21_000
FLOOR_PER_TOKEN = 10
"""EIP-7623 ``TOTAL_COST_FLOOR_PER_TOKEN``."""

BISECT, CHOOSE, STEP = Phase.BISECT, Phase.CHOOSE, Phase.STEP
"""Game phases (``contracts/DisputeGame.vy``; :class:`optirollup.dispute.game.Phase`)."""

_GAME_FIELDS = (
    "batch_index", "batch_nonce", "asserter", "challenger", "lo", "hi", "root_lo", "root_hi",
    "phase", "status", "clock_asserter", "clock_challenger", "last_move_at",
)  # fmt: skip


class GasProbeError(L1Error):
    """A probe transaction failed or the chain is not in the expected state."""


@dataclass(frozen=True)
class CalldataCost:
    """What a transaction's data costs under EIP-2028 and EIP-7623."""

    size: int
    zero_bytes: int

    @property
    def nonzero_bytes(self) -> int:
        """Return the number of non-zero bytes."""
        return self.size - self.zero_bytes

    @property
    def tokens(self) -> int:
        """Return the EIP-7623 token count: zero bytes + 4 · non-zero bytes."""
        return self.zero_bytes + 4 * self.nonzero_bytes

    @property
    def standard(self) -> int:
        """Return the EIP-2028 calldata gas (4 a zero byte, 16 a non-zero byte)."""
        return 4 * self.tokens

    @property
    def floor(self) -> int:
        """Return the EIP-7623 floor of a transaction with this data (21,000 included)."""
        return TX_BASE + FLOOR_PER_TOKEN * self.tokens


def calldata_cost(data: bytes) -> CalldataCost:
    """Return the calldata cost of ``data``."""
    return CalldataCost(len(data), data.count(0))


def lie_after(honest: Sequence[bytes], d: int) -> list[bytes]:
    """Return a trace equal to ``honest`` up to ``R_d`` and wrong from ``R_{d+1}`` on.

    An honest challenger's game against it ends with the step of transaction ``d``.
    """
    return [
        *honest[: d + 1],
        *(keccak(b"gasprobe-lie" + j.to_bytes(4, "big")) for j in range(d + 1, len(honest))),
    ]


def honest_choice(points: Sequence[int], asserted: Sequence[bytes], honest: Sequence[bytes]) -> int:
    """Return the sub-interval an honest challenger picks: the first whose end it disputes.

    ``asserted`` holds the asserted roots at every split point, both ends included.
    """
    j = first_disputed(points, asserted, ListTrace(honest))
    if j is None:
        raise GasProbeError("the honest challenger agrees with every asserted root")
    return j


@dataclass(frozen=True)
class Move:
    """One game move: what it was, who sent it, its gas and, for a bisect, how many roots."""

    name: str
    side: str
    """``"asserter"`` or ``"challenger"``."""
    gas: int
    roots: int = 0
    round: int = 0
    """The BISECT/CHOOSE round it belongs to (0-based; 0 for moves outside the rounds)."""


@dataclass
class Probe:
    """One deployment on a running anvil: bound contracts and the calls a gas benchmark makes."""

    w3: Web3
    node: Anvil
    dep: Deployment
    token: Contract = field(init=False)
    vault: Contract = field(init=False)
    rollup: Contract = field(init=False)
    game: Contract = field(init=False)

    def __post_init__(self) -> None:
        self.token = bind(self.w3, "MockToken", self.dep.token)
        self.vault = bind(self.w3, "Vault", self.dep.vault)
        self.rollup = bind(self.w3, "Rollup", self.dep.rollup)
        self.game = bind(self.w3, "DisputeGame", self.dep.dispute_game)

    # -- sending -----------------------------------------------------------------------------

    def send(self, fn: Any, sender: str, *, value: int = 0, gas: int = DEFAULT_GAS) -> TxReceipt:
        """Send the contract call ``fn`` (a bound web3 function) and return its receipt.

        Raise :class:`GasProbeError` unless it succeeded.
        """
        tx_hash = fn.transact({"from": sender, "value": value, "gas": gas})
        return self._receipt(tx_hash, f"{fn.fn_name}")

    def send_data(self, to: str, data: bytes, sender: str, *, gas: int = DEFAULT_GAS) -> TxReceipt:
        """Send raw ``data`` to ``to`` (e.g. a view function called as a transaction)."""
        tx_hash = self.w3.eth.send_transaction(
            {"from": sender, "to": to_checksum_address(to), "data": data, "gas": gas}
        )
        return self._receipt(tx_hash, f"call to {to}")

    def _receipt(self, tx_hash: Any, what: str) -> TxReceipt:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=300)
        if receipt["status"] != 1:
            raise GasProbeError(f"{what}: transaction 0x{bytes(tx_hash).hex()} reverted")
        return receipt

    def tx_data(self, receipt: TxReceipt) -> bytes:
        """Return the data (calldata) of the transaction of ``receipt``."""
        tx = self.w3.eth.get_transaction(receipt["transactionHash"])
        return bytes(tx["input"])

    def execution_gas(self, receipt: TxReceipt) -> int:
        """Return the gas the EVM spent executing the transaction of ``receipt``.

        That is the gas used without the 21,000 base, the calldata charge and any refund, read
        from anvil's parity-style trace of the top-level call. It is known even when the
        transaction paid the EIP-7623 floor instead.
        """
        traces = self.node.rpc("trace_transaction", "0x" + bytes(receipt["transactionHash"]).hex())
        top = [t for t in traces if not t.get("traceAddress")]
        if len(top) != 1:
            raise GasProbeError("no top-level call in the transaction's trace")
        return int(str(top[0]["result"]["gasUsed"]), 16)

    def events(self, contract: Contract, name: str, receipt: TxReceipt) -> list[Any]:
        """Return the decoded ``name`` events of ``receipt``."""
        return list(contract.events[name]().process_receipt(receipt, errors=DISCARD))

    # -- time and snapshots -------------------------------------------------------------------

    def now(self) -> int:
        """Return the latest block's timestamp."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def at(self, timestamp: int) -> None:
        """Give the next block (the next transaction's) ``timestamp``."""
        self.node.rpc("evm_setNextBlockTimestamp", timestamp)

    def mine_at(self, timestamp: int) -> None:
        """Mine an empty block at ``timestamp``."""
        self.node.rpc("evm_mine", timestamp)

    def snapshot(self) -> str:
        """Take an EVM snapshot; return its id."""
        return str(self.node.rpc("evm_snapshot"))

    def revert(self, snapshot: str) -> None:
        """Go back to ``snapshot`` (anvil drops it: take a new one to come back again)."""
        if not self.node.rpc("evm_revert", snapshot):
            raise GasProbeError(f"evm_revert {snapshot} failed")

    # -- the deposit queue --------------------------------------------------------------------

    def queue_deposits(
        self, entries: Sequence[tuple[bytes, int]], sender: str
    ) -> tuple[list[bytes], list[int]]:
        """Mint, approve and queue ``(l2_account, amount)`` deposits through ``Vault.deposit``.

        Return the DEPOSIT transactions that consume the entries and the gas of each deposit.
        The calls are pooled with automine off (one JSON-RPC batch) and mined together.
        """
        if not entries:
            return [], []
        total = sum(amount for _, amount in entries)
        self.send(self.token.functions.mint(sender, total), sender, gas=200_000)
        self.send(self.token.functions.approve(self.dep.vault, total), sender, gas=200_000)
        first = int(self.vault.functions.deposit_count().call())
        nonce = self.w3.eth.get_transaction_count(to_checksum_address(sender), "pending")
        calls = [
            (
                "eth_sendTransaction",
                [
                    {
                        "from": sender,
                        "to": self.dep.vault,
                        "gas": hex(200_000),
                        "nonce": hex(nonce + i),
                        "data": self.vault.encode_abi(
                            "deposit", [amount, to_checksum_address(account)]
                        ),
                    }
                ],
            )
            for i, (account, amount) in enumerate(entries)
        ]
        # anvil serves a batch's calls in parallel: with automine on, a transaction could reach
        # it before its predecessor. Pool them all, then mine until the pool is empty.
        self.node.rpc("evm_setAutomine", False)
        try:
            hashes = self.node.rpc_batch(calls)
            for _ in range(len(entries) + 1):
                status = self.node.rpc("txpool_status")
                if int(status["pending"], 16) == 0 and int(status["queued"], 16) == 0:
                    break
                self.node.rpc("evm_mine")
        finally:
            self.node.rpc("evm_setAutomine", True)
        receipts = self.node.rpc_batch([("eth_getTransactionReceipt", [h]) for h in hashes])
        if any(r is None or int(r["status"], 16) != 1 for r in receipts):
            raise GasProbeError("a queued deposit failed or was not mined")
        if int(self.vault.functions.deposit_count().call()) != first + len(entries):
            raise GasProbeError("the deposit queue did not grow by the number of deposits")
        txs = [deposit_tx(first + i, a, amount) for i, (a, amount) in enumerate(entries)]
        return txs, [int(r["gasUsed"], 16) for r in receipts]

    # -- games -------------------------------------------------------------------------------

    def game_state(self, game_id: int) -> dict[str, Any]:
        """Return game ``game_id`` as a dict of its fields."""
        values = self.game.functions.games(game_id).call()
        return dict(zip(_GAME_FIELDS, values, strict=True))

    def batch_hash(self, batch_index: int) -> bytes:
        """Return the hash ``DisputeGame.open`` takes for the batch now at ``batch_index``."""
        return batch_hash(self.rollup.functions.batch(batch_index).call())

    def open_game(self, batch_index: int, challenger: str) -> tuple[int, TxReceipt]:
        """Open a game on the batch now at ``batch_index`` paying the challenger bond.

        Return the game's id and the receipt.
        """
        receipt = self.send(
            self.game.functions.open(batch_index, self.batch_hash(batch_index)),
            challenger,
            value=self.dep.params.challenger_bond,
        )
        (event,) = self.events(self.game, "GameOpened", receipt)
        return int(event["args"]["game_id"]), receipt

    def step(
        self, game_id: int, tx: bytes, tx_proof: Sequence[bytes], witness: bytes, sender: str
    ) -> tuple[bytes, TxReceipt]:
        """Send ``DisputeGame.step``; return the post-root it computed and the receipt."""
        receipt = self.send(self.game.functions.step(game_id, tx, list(tx_proof), witness), sender)
        (event,) = self.events(self.game, "GameStepped", receipt)
        return bytes(event["args"]["post_root"]), receipt

    def winner(self, receipt: TxReceipt) -> str:
        """Return the winner named by the ``GameResolved`` event of ``receipt``."""
        (event,) = self.events(self.game, "GameResolved", receipt)
        return str(event["args"]["winner"])


Chooser = Callable[[Sequence[int], Sequence[bytes]], int]
"""Picks ``j`` from the split points and the asserted roots at them (both ends included)."""


def bisect_to_step(
    probe: Probe, game_id: int, asserted: Sequence[bytes], chooser: Chooser
) -> list[Move]:
    """Play BISECT/CHOOSE rounds of game ``game_id`` until phase STEP; return their moves.

    The asserter posts the roots of the trace ``asserted`` at the inner split points; the
    challenger picks with ``chooser``. The game's ``split_points`` view must agree with
    :func:`split_points`, and the interval and roots after each choice with the choice.
    """
    k = probe.dep.params.k
    moves: list[Move] = []
    for rnd in range(64):
        g = probe.game_state(game_id)
        if g["phase"] == STEP:
            return moves
        if g["phase"] != BISECT:
            raise GasProbeError(f"game {game_id} in phase {g['phase']}, expected BISECT")
        points = split_points(g["lo"], g["hi"], k)
        if list(probe.game.functions.split_points(game_id).call()) != points:
            raise GasProbeError(f"split points of game {game_id} differ from {points}")
        inner = [bytes(asserted[p]) for p in points[1:-1]]
        receipt = probe.send(probe.game.functions.bisect(game_id, inner), g["asserter"])
        moves.append(Move("bisect", "asserter", int(receipt["gasUsed"]), len(inner), rnd))
        ends = [bytes(g["root_lo"]), *inner, bytes(g["root_hi"])]
        j = chooser(points, ends)
        receipt = probe.send(probe.game.functions.choose(game_id, j), g["challenger"])
        moves.append(Move("choose", "challenger", int(receipt["gasUsed"]), 0, rnd))
        after = probe.game_state(game_id)
        if (after["lo"], after["hi"]) != (points[j], points[j + 1]):
            raise GasProbeError(f"game {game_id}: choice {j} gave [{after['lo']}, {after['hi']}]")
    raise GasProbeError(f"game {game_id} did not reach STEP")
