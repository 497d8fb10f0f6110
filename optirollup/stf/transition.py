"""The reference state transition: ``apply(state, tx, ctx) -> Receipt``.

Each rule runs its checks in the fixed order of docs/protocol.md; the first failing check
decides the reason, and a failing transaction writes nothing (its post-state root equals its
pre-state root). New leaves are computed first and written only after the last check passes.
``apply`` never raises on any transaction bytes: malformed bytes are reason MALFORMED. It raises
only if the *state* is corrupt (a leaf that does not decode), which no batch can cause.

Normative: docs/protocol.md. The on-chain step verifiers implement the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from optirollup.codec import eip712
from optirollup.codec.tx import (
    ORDER_FLAGS_MASK,
    Cancel,
    CancelAll,
    Deposit,
    Fill,
    FundingTick,
    ListMarket,
    MarketKind,
    OracleUpdate,
    Order,
    OrderFlags,
    Side,
    SignedMessage,
    Tx,
    TxType,
    Withdraw,
    decode_tx,
    message_hash,
)
from optirollup.errors import MalformedTransaction
from optirollup.hashing import keccak
from optirollup.state.leaves import (
    MAX_POSITIONS,
    Account,
    Market,
    OrderState,
    Position,
    System,
    Withdrawal,
)
from optirollup.stf import margin
from optirollup.stf.context import BatchContext
from optirollup.stf.receipt import Party, Reason, Receipt
from optirollup.units import (
    MAX_BALANCE,
    MAX_COLLATERAL,
    MAX_FUNDING_INDEX,
    MAX_POSITION_SIZE,
    PPM,
    SIZE_SCALE,
    U64_MAX,
)

MAX_FEE_PPM = 100_000
"""Highest maker or taker fee a market may charge (10%)."""

MAX_FUNDING_PPM = 100_000
"""Highest per-tick funding-rate cap a market may set (10% of the index price)."""


class LeafState(Protocol):
    """The typed state the transition reads and writes (implemented by StateOverlay)."""

    def account(self, address: bytes) -> Account: ...
    def order(self, account: bytes, order_hash: bytes) -> OrderState: ...
    def market(self, market_id: int) -> Market | None: ...
    def system(self) -> System: ...
    def set_account(self, acc: Account) -> None: ...
    def set_order(self, account: bytes, order_hash: bytes, st: OrderState) -> None: ...
    def set_market(self, market_id: int, m: Market) -> None: ...
    def set_system(self, s: System) -> None: ...
    def set_withdrawal(self, withdrawal_id: int, w: Withdrawal) -> None: ...


class _Reject(Exception):
    """Internal: a check failed; carries the receipt's reason and party."""

    def __init__(self, reason: Reason, party: Party = Party.NONE) -> None:
        self.reason = reason
        self.party = party


def apply(state: LeafState, tx: bytes, ctx: BatchContext) -> Receipt:
    """Apply one transaction to ``state`` and return its receipt (never raises on bad bytes)."""
    tx_type = tx[0] if tx else -1
    try:
        decoded = decode_tx(tx)
    except MalformedTransaction:
        return Receipt(tx_type, Reason.MALFORMED)
    rule = _RULES.get(decoded.TYPE)
    if rule is None:
        return Receipt(tx_type, Reason.UNSUPPORTED)
    try:
        rule(state, decoded, tx, ctx)
    except _Reject as r:
        return Receipt(tx_type, r.reason, r.party)
    return Receipt(tx_type)


# --- helpers -----------------------------------------------------------------------------------


def _signer(ctx: BatchContext, digest: bytes, signature: bytes) -> bytes:
    cache = ctx.signer_cache
    if cache is None:
        return eip712.recover(digest, signature)
    key = (digest, signature)
    signer = cache.get(key)
    if signer is None:
        signer = eip712.recover(digest, signature)
        cache[key] = signer
    return signer


def _check_signed(ctx: BatchContext, msg: SignedMessage, expected: bytes) -> None:
    signer = _signer(ctx, message_hash(msg, ctx.separator), msg.signature)
    if signer == eip712.ZERO_ADDRESS or signer != expected:
        raise _Reject(Reason.BAD_SIGNATURE)


def _market_lookup(state: LeafState) -> Callable[[int], Market]:
    def lookup(market_id: int) -> Market:
        m = state.market(market_id)
        if m is None:  # a position can only exist in a listed market
            raise AssertionError(f"state corrupt: position in unlisted market {market_id}")
        return m

    return lookup


def _with_size(acc: Account, market_id: int, size: int, snapshot: int) -> tuple[Position, ...]:
    """Return the account's positions with ``market_id`` set to ``size`` (removed if 0)."""
    out = [p for p in acc.positions if p.market != market_id]
    if size != 0:
        out.append(Position(market_id, size, snapshot))
        out.sort(key=lambda p: p.market)
    return tuple(out)


# --- DEPOSIT -----------------------------------------------------------------------------------


def _deposit(state: LeafState, tx: Tx, raw: bytes, ctx: BatchContext) -> None:
    assert isinstance(tx, Deposit)
    if tx.index >= len(ctx.deposit_hashes) or ctx.deposit_hashes[tx.index] != keccak(raw):
        raise _Reject(Reason.DEPOSIT_UNKNOWN)
    sys_ = state.system()
    if tx.index != sys_.next_deposit_index:
        raise _Reject(Reason.DEPOSIT_OUT_OF_ORDER)
    if tx.amount == 0:
        raise _Reject(Reason.BAD_AMOUNT)
    acc = state.account(tx.account)
    collateral = acc.collateral + tx.amount
    if collateral > MAX_COLLATERAL or tx.index >= U64_MAX:
        raise _Reject(Reason.RANGE)
    state.set_account(Account(acc.address, collateral, acc.nonce, acc.cancel_floor, acc.positions))
    state.set_system(
        System(sys_.oracle, sys_.next_deposit_index + 1, sys_.next_withdrawal_id,
               sys_.fee_balance, sys_.insurance_balance)
    )  # fmt: skip


# --- WITHDRAW ----------------------------------------------------------------------------------


def _withdraw(state: LeafState, tx: Tx, raw: bytes, ctx: BatchContext) -> None:
    assert isinstance(tx, Withdraw)
    _check_signed(ctx, tx, tx.account)
    acc = state.account(tx.account)
    if tx.nonce != acc.nonce:
        raise _Reject(Reason.BAD_NONCE)
    if tx.amount == 0:
        raise _Reject(Reason.BAD_AMOUNT)
    if tx.recipient == eip712.ZERO_ADDRESS:
        raise _Reject(Reason.BAD_RECIPIENT)
    lookup = _market_lookup(state)
    acc = margin.settle_funding(acc, lookup)
    sys_ = state.system()
    new = Account(acc.address, acc.collateral - tx.amount, acc.nonce + 1, acc.cancel_floor,
                  acc.positions)  # fmt: skip
    if (
        abs(new.collateral) > MAX_COLLATERAL
        or acc.nonce >= U64_MAX
        or sys_.next_withdrawal_id >= U64_MAX
    ):
        raise _Reject(Reason.RANGE)
    r = margin.risk(new, lookup)
    if r.equity < r.initial:
        raise _Reject(Reason.INSUFFICIENT_MARGIN)
    wid = sys_.next_withdrawal_id
    state.set_account(new)
    state.set_system(
        System(sys_.oracle, sys_.next_deposit_index, wid + 1, sys_.fee_balance,
               sys_.insurance_balance)
    )  # fmt: skip
    state.set_withdrawal(wid, Withdrawal(tx.account, tx.recipient, tx.amount))


# --- oracle-signed market transactions -----------------------------------------------------------


def _oracle_update(state: LeafState, tx: Tx, raw: bytes, ctx: BatchContext) -> None:
    assert isinstance(tx, OracleUpdate)
    _check_signed(ctx, tx, state.system().oracle)
    m = state.market(tx.market)
    if m is None:
        raise _Reject(Reason.MARKET_NOT_FOUND)
    if not m.oracle_time < tx.time <= ctx.batch_time:
        raise _Reject(Reason.STALE_TIME)
    if tx.price == 0 or (tx.mark != 0 if m.kind == MarketKind.PERP else tx.mark == 0):
        raise _Reject(Reason.BAD_PRICE)
    state.set_market(tx.market, replace(m, oracle_price=tx.price, option_mark=tx.mark,
                                                 oracle_time=tx.time))  # fmt: skip


def _funding_tick(state: LeafState, tx: Tx, raw: bytes, ctx: BatchContext) -> None:
    assert isinstance(tx, FundingTick)
    _check_signed(ctx, tx, state.system().oracle)
    m = state.market(tx.market)
    if m is None:
        raise _Reject(Reason.MARKET_NOT_FOUND)
    if m.kind != MarketKind.PERP:
        raise _Reject(Reason.UNSUPPORTED)
    if not m.funding_time < tx.time <= ctx.batch_time:
        raise _Reject(Reason.STALE_TIME)
    if abs(tx.rate_ppm) > m.max_funding_ppm:
        raise _Reject(Reason.FUNDING_CAP)
    if m.oracle_price == 0:
        raise _Reject(Reason.NO_PRICE)
    index = m.funding_index + tx.rate_ppm * m.oracle_price
    if abs(index) > MAX_FUNDING_INDEX:
        raise _Reject(Reason.RANGE)
    state.set_market(tx.market, replace(m, funding_index=index, funding_time=tx.time))


def market_params_valid(tx: ListMarket) -> bool:
    """Return whether a perpetual market's parameters are in range (docs/protocol.md)."""
    return (
        tx.strike == 0
        and tx.expiry == 0
        and tx.lot_size >= 1
        and tx.tick_size >= 1
        and (tx.lot_size * tx.tick_size) % SIZE_SCALE == 0
        and 0 < tx.mm_ppm < tx.im_ppm <= PPM
        and tx.maker_fee_ppm <= MAX_FEE_PPM
        and tx.taker_fee_ppm <= MAX_FEE_PPM
        and 1 <= tx.max_funding_ppm <= MAX_FUNDING_PPM
    )


def _list_market(state: LeafState, tx: Tx, raw: bytes, ctx: BatchContext) -> None:
    assert isinstance(tx, ListMarket)
    _check_signed(ctx, tx, state.system().oracle)
    if state.market(tx.market) is not None:
        raise _Reject(Reason.MARKET_EXISTS)
    if tx.kind != MarketKind.PERP:
        raise _Reject(Reason.UNSUPPORTED)
    if not market_params_valid(tx):
        raise _Reject(Reason.BAD_MARKET_PARAMS)
    state.set_market(
        tx.market,
        Market(tx.kind, tx.symbol, tx.strike, tx.expiry, tx.lot_size, tx.tick_size, tx.im_ppm,
               tx.mm_ppm, tx.maker_fee_ppm, tx.taker_fee_ppm, tx.max_funding_ppm),
    )  # fmt: skip


# --- CANCEL / CANCEL_ALL -----------------------------------------------------------------------


def _cancel(state: LeafState, tx: Tx, raw: bytes, ctx: BatchContext) -> None:
    assert isinstance(tx, Cancel)
    _check_signed(ctx, tx, tx.account)
    st = state.order(tx.account, tx.order_hash)
    if st.cancelled:
        raise _Reject(Reason.ALREADY_CANCELLED)
    state.set_order(tx.account, tx.order_hash, OrderState(st.filled, True))


def _cancel_all(state: LeafState, tx: Tx, raw: bytes, ctx: BatchContext) -> None:
    assert isinstance(tx, CancelAll)
    _check_signed(ctx, tx, tx.account)
    acc = state.account(tx.account)
    if tx.floor <= acc.cancel_floor:
        raise _Reject(Reason.STALE_CANCEL_FLOOR)
    state.set_account(Account(acc.address, acc.collateral, acc.nonce, tx.floor, acc.positions))


# --- FILL --------------------------------------------------------------------------------------

_M, _T = Party.MAKER, Party.TAKER
_POST_ONLY, _REDUCE_ONLY, _IOC = (
    int(OrderFlags.POST_ONLY),
    int(OrderFlags.REDUCE_ONLY),
    int(OrderFlags.IOC),
)
_BUY, _SELL = int(Side.BUY), int(Side.SELL)


def _order_shape_ok(o: Order) -> bool:
    flags = o.flags
    return (
        o.side <= 1 and flags & ~ORDER_FLAGS_MASK == 0 and not (flags & _POST_ONLY and flags & _IOC)
    )


def _fill(state: LeafState, tx: Tx, raw: bytes, ctx: BatchContext) -> None:
    assert isinstance(tx, Fill)
    mo, to = tx.maker.order, tx.taker.order
    q = tx.size
    # 1. shape of each order and of the pair
    if not _order_shape_ok(mo):
        raise _Reject(Reason.BAD_ORDER, _M)
    if not _order_shape_ok(to):
        raise _Reject(Reason.BAD_ORDER, _T)
    if mo.market != to.market:
        raise _Reject(Reason.MARKET_MISMATCH)
    if mo.side == to.side:
        raise _Reject(Reason.SAME_SIDE)
    if mo.account == to.account:
        raise _Reject(Reason.SELF_TRADE)
    # 2. signatures (the order hash is the signed digest)
    sep = ctx.separator
    mh, th = mo.hash(sep), to.hash(sep)
    msig = _signer(ctx, mh, tx.maker.signature)
    if msig == eip712.ZERO_ADDRESS or msig != mo.account:
        raise _Reject(Reason.BAD_SIGNATURE, _M)
    tsig = _signer(ctx, th, tx.taker.signature)
    if tsig == eip712.ZERO_ADDRESS or tsig != to.account:
        raise _Reject(Reason.BAD_SIGNATURE, _T)
    # 3. market
    m = state.market(mo.market)
    if m is None:
        raise _Reject(Reason.MARKET_NOT_FOUND)
    if m.kind != MarketKind.PERP:
        raise _Reject(Reason.UNSUPPORTED)
    if m.oracle_price == 0:
        raise _Reject(Reason.NO_PRICE)
    # 4. roles
    if mo.flags & _IOC:
        raise _Reject(Reason.IOC_MAKER, _M)
    if to.flags & _POST_ONLY:
        raise _Reject(Reason.POST_ONLY, _T)
    # 5. expiry, then cancellation (cancel floor or cancelled flag)
    now = ctx.batch_time
    if now >= mo.expiry:
        raise _Reject(Reason.EXPIRED, _M)
    if now >= to.expiry:
        raise _Reject(Reason.EXPIRED, _T)
    macc, tacc = state.account(mo.account), state.account(to.account)
    mst, tst = state.order(mo.account, mh), state.order(to.account, th)
    if mo.nonce < macc.cancel_floor or mst.cancelled:
        raise _Reject(Reason.CANCELLED, _M)
    if to.nonce < tacc.cancel_floor or tst.cancelled:
        raise _Reject(Reason.CANCELLED, _T)
    # 6. tick and lot
    tick, lot = m.tick_size, m.lot_size
    if mo.price == 0 or mo.price % tick:
        raise _Reject(Reason.BAD_TICK, _M)
    if to.price == 0 or to.price % tick:
        raise _Reject(Reason.BAD_TICK, _T)
    if mo.size == 0 or mo.size % lot:
        raise _Reject(Reason.BAD_LOT, _M)
    if to.size == 0 or to.size % lot:
        raise _Reject(Reason.BAD_LOT, _T)
    if q == 0 or q % lot:
        raise _Reject(Reason.BAD_LOT)
    # 7. remaining size
    if mst.filled + q > mo.size:
        raise _Reject(Reason.OVERFILL, _M)
    if tst.filled + q > to.size:
        raise _Reject(Reason.OVERFILL, _T)
    # 8. price: the taker's limit must cross the maker's price, which is the fill price
    price = mo.price
    if (to.side == _BUY and price > to.price) or (to.side == _SELL and price < to.price):
        raise _Reject(Reason.PRICE_NOT_CROSSING)
    # 9. fee caps
    if m.maker_fee_ppm > mo.fee_cap_ppm:
        raise _Reject(Reason.FEE_CAP, _M)
    if m.taker_fee_ppm > to.fee_cap_ppm:
        raise _Reject(Reason.FEE_CAP, _T)
    # 10. settle funding on every position of both accounts
    lookup = _market_lookup(state)
    macc = margin.settle_funding(macc, lookup)
    tacc = margin.settle_funding(tacc, lookup)
    # 11. apply deltas: taker buys q ⇒ taker +q, pays notional; maker the mirror image
    value = margin.notional(q, price)
    mfee, tfee = margin.fee(value, m.maker_fee_ppm), margin.fee(value, m.taker_fee_ppm)
    sign = 1 if to.side == _BUY else -1
    mid, index = mo.market, m.funding_index
    m_before, t_before = macc.position(mid), tacc.position(mid)
    m_after, t_after = m_before - sign * q, t_before + sign * q
    if mo.flags & _REDUCE_ONLY and not margin.reduces(m_before, m_after):
        raise _Reject(Reason.REDUCE_ONLY, _M)
    if to.flags & _REDUCE_ONLY and not margin.reduces(t_before, t_after):
        raise _Reject(Reason.REDUCE_ONLY, _T)
    m_pos = _with_size(macc, mid, m_after, index)
    t_pos = _with_size(tacc, mid, t_after, index)
    if len(m_pos) > MAX_POSITIONS:
        raise _Reject(Reason.TOO_MANY_POSITIONS, _M)
    if len(t_pos) > MAX_POSITIONS:
        raise _Reject(Reason.TOO_MANY_POSITIONS, _T)
    m_new = Account(macc.address, macc.collateral + sign * value - mfee, macc.nonce,
                    macc.cancel_floor, m_pos)  # fmt: skip
    t_new = Account(tacc.address, tacc.collateral - sign * value - tfee, tacc.nonce,
                    tacc.cancel_floor, t_pos)  # fmt: skip
    # 12. ranges
    if abs(m_new.collateral) > MAX_COLLATERAL or abs(m_after) > MAX_POSITION_SIZE:
        raise _Reject(Reason.RANGE, _M)
    if abs(t_new.collateral) > MAX_COLLATERAL or abs(t_after) > MAX_POSITION_SIZE:
        raise _Reject(Reason.RANGE, _T)
    sys_ = state.system()
    fees = sys_.fee_balance + mfee + tfee
    if fees > MAX_BALANCE:
        raise _Reject(Reason.RANGE)
    # 13. margin predicate, maker first
    if not margin.trade_acceptable(
        lambda: margin.risk(macc, lookup), margin.risk(m_new, lookup), m_before, m_after
    ):
        raise _Reject(Reason.INSUFFICIENT_MARGIN, _M)
    if not margin.trade_acceptable(
        lambda: margin.risk(tacc, lookup), margin.risk(t_new, lookup), t_before, t_after
    ):
        raise _Reject(Reason.INSUFFICIENT_MARGIN, _T)
    # 14. write
    state.set_account(m_new)
    state.set_account(t_new)
    state.set_order(mo.account, mh, OrderState(mst.filled + q, False))
    state.set_order(to.account, th, OrderState(tst.filled + q, False))
    state.set_system(System(sys_.oracle, sys_.next_deposit_index, sys_.next_withdrawal_id, fees,
                            sys_.insurance_balance))  # fmt: skip


_Rule = Callable[[LeafState, Tx, bytes, BatchContext], None]
_RULES: dict[int, _Rule] = {
    TxType.DEPOSIT: _deposit,
    TxType.WITHDRAW: _withdraw,
    TxType.ORACLE_UPDATE: _oracle_update,
    TxType.FUNDING_TICK: _funding_tick,
    TxType.FILL: _fill,
    TxType.CANCEL: _cancel,
    TxType.CANCEL_ALL: _cancel_all,
    TxType.LIST_MARKET: _list_market,
}
"""Rules of this protocol version; SET_SETTLEMENT, LIQUIDATE, DELEVERAGE and SETTLE_POSITION
decode but are UNSUPPORTED until their rules are specified."""
