"""The node's core: orders through the matching engine, every transaction through the sequencer.

:class:`NodeCore` is what the HTTP API and the node's loops call. It owns the
:class:`~optirollup.engine.Engine` (the books) and the :class:`~optirollup.executor.Sequencer`
(the state and the journal) and keeps them in step:

* an order is checked (signature, market, price, cancel state, margin), matched, and its FILLs
  go through the sequencer; the order, if it rests, is written in the same atomic write as its
  fills, so the acknowledgement (:class:`OrderAck`) is durable;
* if the state transition rejects a FILL the engine produced (a maker that lost its margin since
  it rested, for instance), the books are rebuilt from the state (which only holds the fills
  that applied), the failing maker is dropped, and the taker's remainder is matched again;
* after a restart the books are rebuilt from the persisted resting orders, filtered and filled
  from the state: the state is the truth, the resting set only a superset of it;
* a burst of orders (:meth:`NodeCore.place_orders`, what a market maker's bulk request becomes)
  is processed in order exactly as the same orders one by one would be, inside one sequencer
  :meth:`~optirollup.executor.Sequencer.group`: their fills and resting records are journaled
  in one synced write, and no acknowledgement of the burst exists before it. A refused order
  changes nothing and takes nothing from the others; it gets its own :class:`NodeError`.

An order's signature is recovered through the sequencer's memo (:attr:`Sequencer.signers`), so
the STF finds it there for each FILL the order takes part in instead of recovering it again.

No clock and no L1 here: times are parameters (``batch_time`` for the STF, ``now`` for the seal
policy); posting and following L1 are the shell's (:mod:`optirollup.executor.l1`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import rlp

from optirollup.codec import eip712
from optirollup.codec.tx import (
    Cancel,
    CancelAll,
    ListMarket,
    Order,
    SignedOrder,
    Tx,
    TxType,
    decode_tx,
    encode_tx,
)
from optirollup.engine import Depth as BookDepth
from optirollup.engine import (
    DuplicateOrder,
    Engine,
    EngineError,
    MarketParams,
    OrderExpired,
    PostOnlyWouldCross,
    Resting,
    Status,
    UnknownMarket,
    UnknownOrder,
)
from optirollup.engine import OrderView as EngineOrderView
from optirollup.errors import MalformedTransaction, OptiRollupError
from optirollup.executor.sequencer import SealPolicy, Sequencer
from optirollup.hashing import keccak
from optirollup.state import mpt
from optirollup.state.keys import withdrawal_key
from optirollup.state.leaves import Account, Market, Position
from optirollup.state.leveldb import LevelDB
from optirollup.stf import Party, Reason
from optirollup.stf import margin as stf_margin

__all__ = [
    "AccountView",
    "BatchView",
    "FillView",
    "NodeCore",
    "NodeError",
    "OrderAck",
    "PositionView",
    "StatusView",
    "TxAck",
    "WithdrawalView",
]

_ORDERS = b"orders/"
_MARKETS = b"markets/"
_POSTED = b"posted/"
_POSTED_COUNT = b"posted_count"
_FINAL = b"final"
_SIG_LEN = 65

MAX_ORDER_BURST = 1_000
"""Most orders :meth:`NodeCore.place_orders` takes at once (the API's bulk limit is lower)."""


class NodeError(OptiRollupError):
    """A request the node refuses; ``code`` is machine-readable, ``status`` an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def _reason_error(reason: Reason, what: str, party: Party = Party.NONE) -> NodeError:
    side = f" ({party.name.lower()})" if party != Party.NONE else ""
    status = 409 if reason in (Reason.BAD_NONCE, Reason.ALREADY_CANCELLED) else 422
    return NodeError(reason.name.lower(), f"{what} rejected: {reason.name}{side}", status)


@dataclass(frozen=True, slots=True)
class FillView:
    """One fill an order took part in."""

    maker_hash: bytes
    taker_hash: bytes
    price: int
    size: int
    batch_index: int
    position: int


@dataclass(frozen=True, slots=True)
class OrderAck:
    """The durable acknowledgement of an order."""

    order_hash: bytes
    status: str
    filled: int
    remaining: int
    fills: tuple[FillView, ...]


@dataclass(frozen=True, slots=True)
class TxAck:
    """The durable acknowledgement of a transaction: where it sits in which batch."""

    tx_hash: bytes
    batch_index: int
    position: int
    withdrawal_id: int | None = None
    """For an accepted WITHDRAW, the id of the withdrawal leaf it created."""


@dataclass(frozen=True, slots=True)
class WithdrawalView:
    """A withdrawal leaf and, once a final batch holds it, what ``Vault.withdraw`` takes."""

    withdrawal_id: int
    account: bytes
    recipient: bytes
    amount: int
    batch_index: int | None
    """The final batch whose post-state root ``proof`` is against; None while none holds it."""
    proof: tuple[bytes, ...]
    """The leaf key's MPT proof (RLP-encoded nodes, root first); empty while not final."""

    @property
    def final(self) -> bool:
        """Tell whether the withdrawal can be claimed on L1 now."""
        return self.batch_index is not None


@dataclass(frozen=True, slots=True)
class PositionView:
    """A position of an account."""

    market: int
    size: int
    funding_snapshot: int


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account with funding settled, its equity and requirements, and its resting orders."""

    address: bytes
    collateral: int
    nonce: int
    cancel_floor: int
    positions: tuple[PositionView, ...]
    equity: int
    initial: int
    maintenance: int
    open_orders: tuple[EngineOrderView, ...]


@dataclass(frozen=True, slots=True)
class BatchView:
    """A sealed batch and how far it got on L1."""

    index: int
    prev_root: bytes
    post_root: bytes
    batch_time: int
    tx_count: int
    status: str
    """``"sealed"``, ``"posted"`` or ``"final"``."""


@dataclass(frozen=True, slots=True)
class StatusView:
    """The node at a glance."""

    head_batch: int
    head_root: bytes
    open_txs: int
    deposits_known: int
    posted: int
    final: int


def _rlp_length(length: int, short: int) -> bytes:
    """Return the RLP prefix of a string (``short`` 0x80) or list (0xc0) payload of ``length``."""
    if length < 56:
        return bytes((short + length,))
    n = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((short + 55 + len(n),)) + n


def _resting_record(signed: SignedOrder, seq: int) -> bytes:
    """Return ``rlp([order ‖ signature, seq])``, encoded by hand (``rlp.encode`` took ~8% of an
    order's time; ``tests/unit/test_node_core.py`` checks the bytes against it)."""
    raw = signed.order.encode() + signed.signature
    n = seq.to_bytes((seq.bit_length() + 7) // 8, "big")
    item = n if len(n) == 1 and n[0] < 0x80 else _rlp_length(len(n), 0x80) + n
    payload = _rlp_length(len(raw), 0x80) + raw + item
    return _rlp_length(len(payload), 0xC0) + payload


def _decode_resting(data: bytes) -> tuple[SignedOrder, int]:
    raw, seq = rlp.decode(data)
    raw = bytes(raw)
    return SignedOrder(Order.decode(raw[:-_SIG_LEN]), raw[-_SIG_LEN:]), int.from_bytes(seq, "big")


class NodeCore:
    """The books and the sequencer of one node (see the module notes)."""

    def __init__(
        self,
        db: LevelDB,
        separator: bytes,
        *,
        genesis_root: bytes,
        policy: SealPolicy | None = None,
        now: int = 0,
    ) -> None:
        """Open the node's state in ``db`` (recovering the journal) and rebuild its books."""
        self._db = db
        self.separator = separator
        self.sequencer = Sequencer.open(db, separator, policy, genesis_root=genesis_root, now=now)
        self._market_ids: set[int] = {
            int.from_bytes(k[len(_MARKETS) :], "big") for k, _ in db.iter_meta(_MARKETS)
        }
        self.engine = self._rebuild()

    # -- books ------------------------------------------------------------------------------

    def _params(self) -> dict[int, MarketParams]:
        out: dict[int, MarketParams] = {}
        for mid in sorted(self._market_ids):
            m = self.sequencer.state.market(mid)
            if m is not None:
                out[mid] = MarketParams.of(m)
        return out

    def _rebuild(self) -> Engine:
        """Rebuild the books from the persisted resting orders, as the state sees them."""
        state = self.sequencer.state
        entries: list[Resting] = []
        next_seq = 0
        for _, value in self._db.iter_meta(_ORDERS):
            signed, seq = _decode_resting(value)
            next_seq = max(next_seq, seq + 1)
            o = signed.order
            st = state.order(o.account, o.hash(self.separator))
            acc = state.account(o.account)
            if st.cancelled or st.filled >= o.size or o.nonce < acc.cancel_floor:
                continue
            entries.append(Resting(signed, st.filled, seq))
        entries.sort(key=lambda r: r.seq)
        return Engine.restore(self.separator, self._params(), entries, next_seq=next_seq)

    def _position(self, account: bytes, market: int) -> int:
        return self.sequencer.state.account(account).position(market)

    # -- orders -----------------------------------------------------------------------------

    def place_order(self, signed: SignedOrder, *, batch_time: int, now: int) -> OrderAck:
        """Check, match and sequence an order; return its durable acknowledgement.

        Raise :class:`NodeError` (nothing changed) if it is refused: ``bad_signature``,
        ``unknown_market``, ``no_price``, ``expired``, ``cancelled``, ``already_filled``,
        ``duplicate_order``, ``insufficient_margin``, ``post_only_would_cross``, or the
        engine's shape, tick, lot and fee-cap codes.
        """
        return self._place(signed, batch_time=batch_time, now=now)

    def place_orders(
        self, orders: Sequence[SignedOrder], *, batch_time: int, now: int
    ) -> list[OrderAck | NodeError]:
        """Place a burst of orders in order, with one synced journal write for all of them.

        Return one result per order, in order: its :class:`OrderAck` or the :class:`NodeError`
        :meth:`place_order` would have raised for it (a refused order changes nothing). Each
        order sees the books and the state the orders before it left, exactly as if they had
        been placed one by one. Every acknowledgement is durable when this returns; if the
        write fails, :class:`~optirollup.executor.SequencerBroken` is raised and none of them
        is acknowledged. Raise :class:`NodeError` ``too_many_orders`` (nothing placed) for more
        than :data:`MAX_ORDER_BURST` orders.
        """
        if len(orders) > MAX_ORDER_BURST:
            raise NodeError(
                "too_many_orders",
                f"{len(orders)} orders in one burst, at most {MAX_ORDER_BURST}; split it",
                413,
            )
        results: list[OrderAck | NodeError] = []
        with self.sequencer.group():
            for signed in orders:
                try:
                    results.append(self._place(signed, batch_time=batch_time, now=now))
                except NodeError as err:
                    results.append(err)
        return results

    def recover_signers(self, orders: Iterable[SignedOrder]) -> None:
        """Recover the signers of ``orders`` into the signature memo before they are placed.

        Unlike every other method this one is thread-safe: it only reads the separator and
        fills :attr:`Sequencer.signers <optirollup.executor.Sequencer.signers>` (a locked
        memo), so the API calls it *without* the node's lock and the recoveries (libsecp256k1
        releases the GIL) overlap with whatever holds the node. It decides nothing: placing
        the orders checks every signature exactly as before, finding the result in the memo.
        Orders whose fields are out of range are skipped (placing them refuses them).
        """
        recover, separator = self.sequencer.signers.recover, self.separator
        for signed in orders:
            signature = signed.signature
            if len(signature) != _SIG_LEN:
                continue
            try:
                order_hash = signed.order.hash(separator)
            except MalformedTransaction:
                continue
            recover(order_hash, signature)

    def _place(self, signed: SignedOrder, *, batch_time: int, now: int) -> OrderAck:
        o = signed.order
        try:
            order_hash = o.hash(self.separator)
        except MalformedTransaction as err:
            raise NodeError("bad_order", f"order fields out of range: {err}", 400) from err
        if (
            len(signed.signature) != _SIG_LEN
            or self.sequencer.signers.recover(order_hash, signed.signature) != o.account
            or o.account == eip712.ZERO_ADDRESS
        ):
            raise NodeError(
                "bad_signature",
                f"order 0x{order_hash.hex()[:16]}…: the signature is not the account's "
                f"(0x{o.account.hex()}) over this order and domain",
            )
        state = self.sequencer.state
        market = state.market(o.market) if o.market in self._market_ids else None
        if market is None:
            raise NodeError("unknown_market", f"market {o.market} is not listed", 404)
        if market.oracle_price == 0:
            raise NodeError("no_price", f"market {o.market} has no oracle price yet")
        acc = state.account(o.account)
        st = state.order(o.account, order_hash)
        if st.cancelled or o.nonce < acc.cancel_floor:
            raise NodeError("cancelled", f"order 0x{order_hash.hex()[:16]}… is cancelled", 409)
        if st.filled >= o.size > 0:
            raise NodeError("already_filled", f"order 0x{order_hash.hex()[:16]}… is filled", 409)
        self._check_margin(acc, o, market, st.filled)
        return self._match(signed, order_hash, st.filled, batch_time=batch_time, now=now)

    def _check_margin(self, acc: Account, o: Order, market: Market, filled: int) -> None:
        """Refuse an order that, filled whole at its limit, leaves the account under initial
        margin, unless it only reduces the position (the STF's exception, checked again per
        fill)."""
        lookup = self._market_lookup()
        try:
            settled = stf_margin.settle_funding(acc, lookup)
        except KeyError:
            return  # a position in a market this node does not know: let the STF decide
        size = o.size - filled
        sign = 1 if o.side == 0 else -1
        before = settled.position(o.market)
        after = before + sign * size
        value = stf_margin.notional(size, o.price)
        fee = stf_margin.fee(value, max(market.maker_fee_ppm, market.taker_fee_ppm))
        positions = [p for p in settled.positions if p.market != o.market]
        if after != 0:
            positions.append(Position(o.market, after, market.funding_index))
        new = Account(
            acc.address,
            settled.collateral - sign * value - fee,
            acc.nonce,
            acc.cancel_floor,
            tuple(sorted(positions, key=lambda p: p.market)),
        )
        risk = stf_margin.risk(new, lookup)
        if risk.equity < risk.initial and not stf_margin.reduces(before, after):
            raise NodeError(
                "insufficient_margin",
                f"order needs initial margin {risk.initial} quote units with equity "
                f"{risk.equity} after a full fill at {o.price}; deposit more or reduce the size",
            )

    def _market_lookup(self) -> stf_margin.MarketLookup:
        state = self.sequencer.state

        def lookup(mid: int) -> Market:
            m = state.market(mid)
            if m is None:
                raise KeyError(mid)
            return m

        return lookup

    def _match(
        self, signed: SignedOrder, order_hash: bytes, filled: int, *, batch_time: int, now: int
    ) -> OrderAck:
        """Match ``signed`` (``filled`` already in the state) and sequence its fills."""
        fills: list[FillView] = []
        for attempt in range(64):
            if attempt:  # the state moved on in the round before
                filled = self.sequencer.state.order(signed.order.account, order_hash).filled
            try:
                result = self.engine.submit(
                    signed, now=batch_time, positions=self._position, filled=filled
                )
            except EngineError as err:
                if fills:  # fills of an earlier round are durable: report them
                    break
                raise _engine_error(err, order_hash) from err
            extra: dict[bytes, bytes | None] = {
                _ORDERS + r.view.order_hash: None for r in result.removed
            }
            if result.status is Status.RESTING:
                extra[_ORDERS + order_hash] = _resting_record(signed, result.seq)
            state = self.sequencer.state
            txs: list[bytes] = []
            maker_hashes: list[bytes] = []
            for f in result.fills:
                maker = f.maker.order
                mh = maker.hash(self.separator)
                txs.append(encode_tx(f))
                maker_hashes.append(mh)
                if maker.size <= state.order(maker.account, mh).filled + f.size:
                    extra[_ORDERS + mh] = None  # filled up: no longer resting
            outcome = self.sequencer.submit(txs, batch_time=batch_time, now=now, extra=extra)
            failed = None
            for f, mh, s in zip(result.fills, maker_hashes, outcome, strict=True):
                if s.accepted:
                    fills.append(
                        FillView(mh, order_hash, f.maker.order.price, f.size, s.batch_index,
                                 s.position)
                    )  # fmt: skip
                elif failed is None:
                    failed = (mh, s)
            if failed is None:
                remaining = signed.order.size - result.filled
                return OrderAck(order_hash, result.status.value, result.filled, remaining,
                                tuple(fills))  # fmt: skip
            # The STF refused a fill: rebuild the books from the state, drop a failing maker and
            # match the taker's remainder again; a failing taker ends the order here.
            maker_hash, failed_sub = failed
            receipt = failed_sub.receipt
            self.sequencer.flush()  # a group's resting records must be on disk to rebuild from
            self.engine = self._rebuild()
            if receipt.party == Party.MAKER:
                self._db.write_batch({}, {_ORDERS + maker_hash: None})
                with contextlib.suppress(UnknownOrder):
                    self.engine.cancel(maker_hash)
                continue
            if self.engine.get(order_hash) is not None:
                self.engine.cancel(order_hash)
                self._db.write_batch({}, {_ORDERS + order_hash: None})
            if not fills:
                raise _reason_error(receipt.reason, "order", receipt.party)
            break
        filled = self.sequencer.state.order(signed.order.account, order_hash).filled
        return OrderAck(order_hash, "rejected_remainder", filled, signed.order.size - filled,
                        tuple(fills))  # fmt: skip

    # -- transactions -----------------------------------------------------------------------

    def _sequence(self, tx: bytes, *, batch_time: int, now: int, what: str) -> TxAck:
        (s,) = self.sequencer.submit([tx], batch_time=batch_time, now=now)
        if not s.accepted:
            raise _reason_error(s.receipt.reason, what, s.receipt.party)
        return TxAck(keccak(tx), s.batch_index, s.position)

    def cancel(self, tx: bytes, *, batch_time: int, now: int) -> TxAck:
        """Sequence a signed CANCEL or CANCEL_ALL and take the orders it cancels off the books."""
        decoded = _decode(tx)
        if tx[0] not in (TxType.CANCEL, TxType.CANCEL_ALL):
            raise NodeError("wrong_type", f"{TxType(tx[0]).name} is not a cancel", 400)
        ack = self._sequence(tx, batch_time=batch_time, now=now, what=TxType(tx[0]).name)
        if isinstance(decoded, Cancel):
            if self.engine.get(decoded.order_hash) is not None:
                self.engine.cancel(decoded.order_hash)
            gone = [decoded.order_hash]
        else:
            assert isinstance(decoded, CancelAll)
            gone = [v.order_hash for v in self.engine.cancel_all(decoded.account, decoded.floor)]
        self._db.write_batch({}, {_ORDERS + h: None for h in gone})
        return ack

    def submit_tx(self, tx: bytes, *, batch_time: int, now: int) -> TxAck:
        """Sequence a signed transaction other than a FILL (FILLs come from the books only)."""
        decoded = _decode(tx)
        if tx[0] == TxType.FILL:
            raise NodeError(
                "fill_not_allowed", "FILLs are made by the node's books: send orders", 400
            )
        if tx[0] == TxType.DEPOSIT:
            raise NodeError(
                "deposit_not_allowed",
                "DEPOSITs come from the Vault's queue: deposit on L1 and the node includes it",
                400,
            )
        if tx[0] in (TxType.CANCEL, TxType.CANCEL_ALL):
            return self.cancel(tx, batch_time=batch_time, now=now)
        ack = self._sequence(tx, batch_time=batch_time, now=now, what=TxType(tx[0]).name)
        if tx[0] == TxType.WITHDRAW:
            # The accepted WITHDRAW took the id the system leaf held and moved it on by one.
            wid = self.sequencer.state.system().next_withdrawal_id - 1
            return dataclasses.replace(ack, withdrawal_id=wid)
        if isinstance(decoded, ListMarket):
            mid = decoded.market
            self._market_ids.add(mid)
            self._db.write_batch({}, {_MARKETS + mid.to_bytes(4, "big"): b"\x01"})
            market = self.sequencer.state.market(mid)
            assert market is not None
            self.engine.list_market(mid, MarketParams.of(market))
        return ack

    def include_deposits(
        self, first: int, deposits: Iterable[tuple[bytes, bytes]], *, batch_time: int, now: int
    ) -> list[TxAck]:
        """Learn the Vault entries ``first, …`` (``(hash, DEPOSIT tx)`` each) and sequence them."""
        items = list(deposits)
        self.sequencer.learn_deposits(first, [h for h, _ in items])
        return [
            self._sequence(tx, batch_time=batch_time, now=now, what="DEPOSIT") for _, tx in items
        ]

    # -- L1 progress ------------------------------------------------------------------------

    def mark_posted(self, index: int, tx_hash: bytes) -> None:
        """Record that sealed batch ``index`` is on L1 (by ``tx_hash``); batches post in order."""
        count = max(self._posted(), index + 1)
        self._db.write_batch(
            {},
            {_POSTED + index.to_bytes(8, "big"): tx_hash, _POSTED_COUNT: count.to_bytes(8, "big")},
        )

    def mark_deleted(self, index: int, extra: dict[bytes, bytes | None] | None = None) -> None:
        """Record that L1 deleted batch ``index`` and every later one (a lost dispute).

        The posted count goes back to ``index`` and the deleted batches' posting records are
        dropped, in one write with ``extra`` metadata (the runner's own keys): the sealed
        batches themselves stay, to be posted again.
        """
        posted = self._posted()
        if index >= posted:
            return
        meta: dict[bytes, bytes | None] = dict(extra or {})
        meta[_POSTED_COUNT] = index.to_bytes(8, "big")
        for i in range(index, posted):
            meta[_POSTED + i.to_bytes(8, "big")] = None
        self._db.write_batch({}, meta)

    def _posted(self) -> int:
        raw = self._db.get_meta(_POSTED_COUNT)
        return 0 if raw is None else int.from_bytes(raw, "big")

    def mark_final(self, count: int) -> None:
        """Record that the first ``count`` batches are final on L1."""
        self._db.write_batch({}, {_FINAL: count.to_bytes(8, "big")})

    def _final(self) -> int:
        raw = self._db.get_meta(_FINAL)
        return 0 if raw is None else int.from_bytes(raw, "big")

    # -- queries ----------------------------------------------------------------------------

    def markets(self) -> dict[int, Market]:
        """Return every listed market's leaf."""
        state = self.sequencer.state
        out = {mid: state.market(mid) for mid in sorted(self._market_ids)}
        return {mid: m for mid, m in out.items() if m is not None}

    def book(self, market: int, levels: int) -> BookDepth:
        """Return up to ``levels`` price levels per side of ``market``."""
        try:
            return self.engine.depth(market, levels)
        except UnknownMarket as err:
            raise NodeError("unknown_market", str(err), 404) from err

    def account(self, address: bytes) -> AccountView:
        """Return an account with funding settled, its risk and its resting orders."""
        acc = self.sequencer.state.account(address)
        settled = stf_margin.settle_funding(acc, self._market_lookup())
        r = stf_margin.risk(settled, self._market_lookup())
        orders = tuple(
            v for m in sorted(self._market_ids) if m in self.engine.markets()
            for v in self.engine.orders(m, address)
        )  # fmt: skip
        return AccountView(
            address, settled.collateral, acc.nonce, acc.cancel_floor,
            tuple(PositionView(p.market, p.size, p.funding_snapshot) for p in settled.positions),
            r.equity, r.initial, r.maintenance, orders,
        )  # fmt: skip

    def batches(self, start: int, limit: int) -> list[BatchView]:
        """Return sealed batches ``start …`` (at most ``limit``), with their L1 status."""
        final, posted = self._final(), self._posted()
        out = []
        for i in range(start, min(self.sequencer.batch_count, start + max(0, limit))):
            b = self.sequencer.batch(i)
            status = "final" if i < final else "posted" if i < posted else "sealed"
            out.append(BatchView(i, b.prev_root, b.post_root, b.batch_time, len(b.txs), status))
        return out

    def withdrawal(self, withdrawal_id: int) -> WithdrawalView | None:
        """Return withdrawal ``withdrawal_id`` (None if the state has none), with the latest final
        batch's index and the leaf's proof against that batch's post-root once it holds it."""
        w = self.sequencer.state.withdrawal(withdrawal_id)
        if w is None:
            return None
        final = min(self._final(), self.sequencer.batch_count)
        key = withdrawal_key(withdrawal_id)
        if final > 0:
            root = self.sequencer.batch(final - 1).post_root
            # Withdrawal leaves are never deleted, so the latest final batch holds every
            # withdrawal any final batch holds.
            if mpt.get(self._db.nodes, root, key) == w.encode():
                proof = tuple(mpt.get_proof(self._db.nodes, root, key))
                return WithdrawalView(withdrawal_id, w.account, w.recipient, w.amount,
                                      final - 1, proof)  # fmt: skip
        return WithdrawalView(withdrawal_id, w.account, w.recipient, w.amount, None, ())

    def status(self) -> StatusView:
        """Return the node's head, open batch and L1 progress."""
        seq = self.sequencer
        return StatusView(seq.batch_count, seq.head_root, len(seq.open_txs),
                          len(seq.deposit_hashes), self._posted(), self._final())  # fmt: skip


def _decode(tx: bytes) -> Tx:
    try:
        return decode_tx(tx)
    except MalformedTransaction as err:
        raise NodeError("malformed", f"the transaction does not decode: {err}", 400) from err


_ENGINE_CODES: dict[type[EngineError], tuple[str, int]] = {
    DuplicateOrder: ("duplicate_order", 409),
    OrderExpired: ("expired", 422),
    PostOnlyWouldCross: ("post_only_would_cross", 409),
    UnknownMarket: ("unknown_market", 404),
}


def _engine_error(err: EngineError, order_hash: bytes) -> NodeError:
    for cls, (code, status) in _ENGINE_CODES.items():
        if isinstance(err, cls):
            return NodeError(code, str(err), status)
    name = type(err).__name__
    code = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return NodeError(code, str(err), 422)
