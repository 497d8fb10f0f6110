"""Read dispute games from L1 and send the solver's moves: the only code here that transacts.

Shell layer (web3.py, structlog, wall-clock sleeps between retries). After op-challenger's
responder:

* :func:`read_game` reads one game at one block into a :class:`~optirollup.dispute.game.GameView`
  (every call pinned to the same block, so the snapshot is consistent);
* :class:`Responder` turns :data:`~optirollup.dispute.solver.Action` s into transactions from
  one sender (an unlocked address of the node, e.g. an anvil dev account, or an ``eth_account``
  ``LocalAccount``). It never sends the same move twice: just before sending it reads the game
  again and drops the action if :func:`~optirollup.dispute.solver.stale` says the game moved on
  (phase, interval, turn, clocks), and it remembers the transaction it sent for each turn
  ``(game_id, phase, lo, hi)``, sending nothing more for that turn while that transaction is
  pending or succeeded (a reverted or dropped one may be replaced). A transaction is signed
  once (locally, or by the node with ``eth_signTransaction``) with a pinned nonce, so resending
  it after an RPC error cannot make a second one.
* The arguments of a step come from a :class:`StepSource` the caller passes (the defender's and
  the challenger's are backed by their own trie stores and batch data, through
  :func:`optirollup.dispute.witness.step_inputs`).
* An :class:`~optirollup.dispute.solver.Open` is not checked against a game (there is none
  yet): it carries the bond it pays and the hash of the batch judged, which the contract checks
  (``"dispute: batch changed"``, caught by the gas estimate), and its turn is
  ``("open", batch_index, batch_hash, prior_games)``. The caller learns how it ended from
  :meth:`Responder.receipt` and :meth:`Responder.still_counts`.

RPC failures (connection refused or reset, timeouts) are retried with exponential backoff a
bounded number of times, then raise :class:`ResponderError`. A move the contract would reject
(``eth_estimateGas`` reverts) is skipped, not sent. Events: ``game.move_sent``,
``game.move_skipped``, ``game.move_pending`` (no receipt within the wait), ``game.move_reverted``,
``game.rpc_failed`` (one failed attempt, retried).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

import structlog
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import BlockIdentifier, TxReceipt

from optirollup.dispute.game import GameView, Phase, Status, interval_key
from optirollup.dispute.solver import (
    Action,
    Bisect,
    Choose,
    Claim,
    CloseVoid,
    Open,
    Step,
    Timeout,
    stale,
)
from optirollup.dispute.witness import DisputeError, StepInputs
from optirollup.hashing import keccak
from optirollup.l1.deploy import Sender, bind

__all__ = [
    "NoSuchGame",
    "Responder",
    "ResponderError",
    "StepSource",
    "read_game",
]

log = structlog.get_logger("optirollup.dispute")

T = TypeVar("T")

TRANSIENT: tuple[type[BaseException], ...] = (OSError, ProviderConnectionError)
"""Errors worth retrying: the transport failed (``requests`` errors are ``OSError`` s)."""


class ResponderError(DisputeError):
    """L1 could not be reached, or a move could not be built or sent."""


class NoSuchGame(DisputeError):
    """A game id the DisputeGame does not know."""


class StepSource(Protocol):
    """Build the ``DisputeGame.step`` arguments of transaction ``tx_index`` of ``game``'s batch.

    The witness must be against ``game.root_lo`` (the agreed root before that transaction).
    """

    def __call__(self, game: GameView, tx_index: int, /) -> StepInputs:
        """Return the step's transaction, inclusion proof and witness."""
        ...


def read_game(
    contract: Contract,
    game_id: int,
    *,
    rollup: Contract | None = None,
    block: BlockIdentifier = "latest",
) -> GameView:
    """Return game ``game_id`` of the DisputeGame ``contract`` as of ``block``.

    Every call is made at that one block. ``rollup`` (the deployment's Rollup, bound from
    ``ROLLUP()`` if not given) tells whether the game's batch is still pending. Raise
    :class:`NoSuchGame` for an id the contract has not handed out.
    """
    w3 = contract.w3
    header = w3.eth.get_block(block)
    at = int(header["number"])
    fields = contract.functions.games(game_id).call(block_identifier=at)
    (index, nonce, asserter, challenger, lo, hi, root_lo, root_hi, phase, status,
     clock_a, clock_c, last_move_at) = fields  # fmt: skip
    if int(status) == 0:
        count = int(contract.functions.game_count().call(block_identifier=at))
        raise NoSuchGame(f"game {game_id} does not exist at block {at} ({count} games so far)")
    k = int(contract.functions.K().call(block_identifier=at))
    if rollup is None:
        rollup = bind(w3, "Rollup", str(contract.functions.ROLLUP().call(block_identifier=at)))
    live = bool(rollup.functions.is_pending(index, nonce).call(block_identifier=at))
    roots: tuple[bytes, ...] = ()
    if int(status) == Status.ACTIVE and int(phase) == Phase.CHOOSE:
        parts = min(k, int(hi) - int(lo))
        roots = tuple(
            bytes(contract.functions.points(game_id, j).call(block_identifier=at))
            for j in range(parts - 1)
        )
    return GameView(
        game_id=game_id,
        batch_index=int(index),
        batch_nonce=int(nonce),
        asserter=to_checksum_address(asserter),
        challenger=to_checksum_address(challenger),
        lo=int(lo),
        hi=int(hi),
        root_lo=bytes(root_lo),
        root_hi=bytes(root_hi),
        phase=Phase(int(phase)),
        status=Status(int(status)),
        clock_asserter=int(clock_a),
        clock_challenger=int(clock_c),
        last_move_at=int(last_move_at),
        k=k,
        roots=roots,
        batch_live=live,
        l1_block=at,
        l1_time=int(header["timestamp"]),
    )


class Responder:
    """Send one player's moves to a DisputeGame, each at most once."""

    def __init__(
        self,
        game: Contract,
        sender: Sender,
        step_source: StepSource | None = None,
        *,
        retries: int = 4,
        backoff: float = 0.25,
        receipt_timeout: float = 120.0,
        gas_margin: float = 1.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Send to ``game`` from ``sender``; build steps with ``step_source``.

        An RPC call is tried ``1 + retries`` times, sleeping ``backoff · 2^attempt`` seconds
        between attempts. A sent move's receipt is awaited up to ``receipt_timeout`` seconds
        (then it is reported pending and remembered). Gas is the estimate times ``gas_margin``.
        """
        if retries < 0 or backoff < 0 or receipt_timeout < 0 or gas_margin < 1:
            raise ValueError("retries, backoff and receipt_timeout ≥ 0; gas_margin ≥ 1")
        self._game = game
        self._w3: Web3 = game.w3
        self._sender = sender
        self.address = to_checksum_address(
            sender.address if isinstance(sender, LocalAccount) else sender
        )
        self._step_source = step_source
        self._retries = retries
        self._backoff = backoff
        self._receipt_timeout = receipt_timeout
        self._gas_margin = gas_margin
        self._sleep = sleep
        self._rollup: Contract | None = None
        self._sent: dict[tuple[Any, ...], str] = {}

    # -- reading ----------------------------------------------------------------------------

    def read(self, game_id: int) -> GameView:
        """Return a fresh snapshot of game ``game_id`` (retrying RPC errors)."""
        if self._rollup is None:
            address = self._call("read ROLLUP()", self._game.functions.ROLLUP().call)
            self._rollup = bind(self._w3, "Rollup", str(address))
        rollup = self._rollup
        return self._call(
            f"read game {game_id}", lambda: read_game(self._game, game_id, rollup=rollup)
        )

    def sent(self) -> dict[tuple[Any, ...], str]:
        """Return the transaction hash sent for each turn, keyed ``(game_id, phase, lo, hi)``."""
        return dict(self._sent)

    # -- acting -----------------------------------------------------------------------------

    def act_all(self, actions: Iterable[Action]) -> list[str]:
        """Send every action of ``actions`` that is still due; return the hashes sent."""
        return [h for a in actions if (h := self.act(a)) is not None]

    def act(self, action: Action) -> str | None:
        """Send ``action`` unless it is stale or already sent; return the tx hash, or None.

        Waits for the receipt (up to ``receipt_timeout``). A transaction that reverts on-chain
        (another player's move got in first) is logged and its hash returned.
        """
        if isinstance(action, Claim):
            credit = int(
                self._call("read credits", self._game.functions.credits(self.address).call)
            )
            if credit == 0:
                self._skip(action, None, "nothing to claim")
                return None
            return self._send(action, None, ("claim", credit))
        if isinstance(action, Open):
            key = ("open", action.batch_index, action.batch_hash, action.prior_games)
            return self._send(action, None, key)
        game = self.read(action.game_id)
        reason = stale(action, game, game.l1_time, self.address)
        if reason is not None:
            self._skip(action, game, reason)
            return None
        return self._send(action, game, interval_key(game))

    def _send(self, action: Action, game: GameView | None, key: tuple[Any, ...]) -> str | None:
        prior = self._sent.get(key)
        if prior is not None and self.still_counts(prior):
            self._skip(action, game, "already sent", tx_hash=prior)
            return None
        data = self._calldata(action, game)
        tx: dict[str, Any] = {"from": self.address, "to": self._game.address, "data": data}
        if isinstance(action, Open):
            tx["value"] = action.bond
        try:
            estimate = self._call(f"estimate {action.name}", lambda: self._w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
        except ContractLogicError as err:
            self._skip(action, game, f"the contract rejects it: {err}")
            return None
        tx["gas"] = int(estimate * self._gas_margin)
        raw = self._sign(tx)
        tx_hash = "0x" + keccak(raw).hex()
        self._sent[key] = tx_hash
        self._submit(raw, tx_hash)
        fields = _fields(action, game)
        log.info("game.move_sent", tx_hash=tx_hash, **fields)
        try:
            receipt: TxReceipt = self._call(
                f"wait for {action.name}",
                lambda: self._w3.eth.wait_for_transaction_receipt(
                    tx_hash,  # type: ignore[arg-type]
                    timeout=self._receipt_timeout,
                    poll_latency=min(0.1, self._receipt_timeout),
                ),
            )
        except TimeExhausted:
            log.warning("game.move_pending", tx_hash=tx_hash, **fields)
            return tx_hash
        if receipt["status"] != 1:
            # The receipt's block, not the snapshot's (``fields`` holds that one as l1_block).
            log.warning("game.move_reverted", tx_hash=tx_hash,
                        **{**fields, "l1_block": int(receipt["blockNumber"])})  # fmt: skip
        return tx_hash

    def _calldata(self, action: Action, game: GameView | None) -> str:
        fns = self._game.functions
        if isinstance(action, Bisect):
            return str(fns.bisect(action.game_id, list(action.roots))._encode_transaction_data())
        if isinstance(action, Choose):
            return str(fns.choose(action.game_id, action.j)._encode_transaction_data())
        if isinstance(action, Step):
            assert game is not None
            inputs = self._step_inputs(game, action.tx_index)
            fn = fns.step(action.game_id, inputs.tx, list(inputs.tx_proof), inputs.witness)
            return str(fn._encode_transaction_data())
        if isinstance(action, Timeout):
            return str(fns.timeout(action.game_id)._encode_transaction_data())
        if isinstance(action, CloseVoid):
            return str(fns.close_void(action.game_id)._encode_transaction_data())
        if isinstance(action, Open):
            fn = fns.open(action.batch_index, action.batch_hash)
            return str(fn._encode_transaction_data())
        return str(fns.claim()._encode_transaction_data())

    def _step_inputs(self, game: GameView, tx_index: int) -> StepInputs:
        if self._step_source is None:
            raise ResponderError(
                f"{game.describe()}: a step is due but this responder has no step source; "
                f"pass step_source= to Responder"
            )
        inputs = self._step_source(game, tx_index)
        if inputs.index != tx_index or inputs.pre_root != game.root_lo:
            raise ResponderError(
                f"{game.describe()}: the step source built tx {inputs.index} from "
                f"0x{inputs.pre_root.hex()}, the step is tx {tx_index} from 0x{game.root_lo.hex()}"
            )
        return inputs

    # -- transactions -----------------------------------------------------------------------

    def _sign(self, tx: dict[str, Any]) -> bytes:
        """Return ``tx`` signed (nonce, chain id and fees pinned), as raw bytes."""
        w3 = self._w3
        tx["nonce"] = self._call(
            "read nonce", lambda: w3.eth.get_transaction_count(self.address, "pending")
        )
        tx["chainId"] = self._call("read chain id", lambda: w3.eth.chain_id)
        base = int(
            self._call("read base fee", lambda: w3.eth.get_block("latest")).get("baseFeePerGas", 0)
        )
        tip = int(self._call("read priority fee", lambda: w3.eth.max_priority_fee))
        tx["maxPriorityFeePerGas"] = tip
        tx["maxFeePerGas"] = 2 * base + tip
        if isinstance(self._sender, LocalAccount):
            return bytes(self._sender.sign_transaction(tx).raw_transaction)
        # An address the node signs for (an unlocked dev account): the node signs, we send raw.
        wire = {k: (hex(v) if isinstance(v, int) else v) for k, v in tx.items()}
        signed = self._call(
            "sign",
            lambda: w3.provider.make_request("eth_signTransaction", [wire]),  # type: ignore[arg-type]
        )
        if "error" in signed:
            raise ResponderError(f"eth_signTransaction from {self.address}: {signed['error']}")
        result = signed["result"]
        raw = result if isinstance(result, str) else result["raw"]
        return bytes.fromhex(str(raw).removeprefix("0x"))

    def _submit(self, raw: bytes, tx_hash: str) -> None:
        """Send ``raw`` (retrying RPC errors); a node that already has it is fine."""
        try:
            self._call("send", lambda: self._w3.eth.send_raw_transaction(raw))
        except Web3RPCError as err:
            # A retry after a lost reply finds the transaction already known (or mined).
            if not self._known(tx_hash):
                raise ResponderError(f"sending {tx_hash} failed: {err}") from err

    def _known(self, tx_hash: str) -> bool:
        try:
            self._call("read tx", lambda: self._w3.eth.get_transaction(tx_hash))  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        return True

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        """Return the receipt of ``tx_hash`` (retrying RPC errors), or None if not mined."""
        try:
            return self._call(
                "read receipt",
                lambda: self._w3.eth.get_transaction_receipt(tx_hash),  # type: ignore[arg-type]
            )
        except TransactionNotFound:
            return None

    def still_counts(self, tx_hash: str) -> bool:
        """Tell whether ``tx_hash`` is pending or succeeded (then its turn is taken).

        False once it reverted or left the pool unmined (a node restart, a replaced nonce).
        """
        receipt = self.receipt(tx_hash)
        if receipt is None:
            return self._known(tx_hash)  # pending, or dropped from the pool
        return bool(receipt["status"] == 1)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Return ``fn()``, retrying transport errors with exponential backoff."""
        for attempt in range(self._retries + 1):
            try:
                return fn()
            except TRANSIENT as err:
                if attempt == self._retries:
                    raise ResponderError(
                        f"{what}: L1 unreachable after {attempt + 1} attempts ({err}); check the "
                        f"RPC endpoint"
                    ) from err
                log.warning("game.rpc_failed", action=what, attempt=attempt + 1, err=str(err))
                self._sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _skip(
        self, action: Action, game: GameView | None, reason: str, tx_hash: str | None = None
    ) -> None:
        extra = {} if tx_hash is None else {"tx_hash": tx_hash}
        log.info("game.move_skipped", reason=reason, **_fields(action, game), **extra)


def _fields(action: Action, game: GameView | None) -> dict[str, Any]:
    out: dict[str, Any] = {"action": action.name}
    if game is not None:
        out["game_id"] = game.game_id
        out["interval"] = f"[{game.lo}, {game.hi}]"
        out["l1_block"] = game.l1_block
    if isinstance(action, Step):
        out["tx_index"] = action.tx_index
    if isinstance(action, Open):
        out["batch_index"] = action.batch_index
    return out
