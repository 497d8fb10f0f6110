# pragma version ~=0.4.3
"""
@title FILL rule
@license MIT
@notice Re-executes one FILL transaction (protocol §6.9) on leaves the step
        runner (`steps/StepRunner.vy`) already proved against the pre-state
        root, and returns the leaves to write (docs/l1.md, "Step
        verifiers"; the interface is `lib/rule.vy`'s).
@dev Reads, each where the reference (`_fill` in optirollup/stf/transition.py)
     first reads it: after the signatures (checks 6-7) the fill market;
     after check 14 the maker's account, the taker's account, the maker's
     order and the taker's order (absent: the defaults of protocol §2.5);
     after check 26, while funding is settled, the market of every position
     of the maker's account, then of the taker's, in list order (a market
     read before is not read again); after check 32 the system leaf.
     Writes (after check 35, in the reference's order): the maker's account,
     the taker's account, the maker's order, the taker's order, the system
     leaf. A failing check writes nothing; a transaction of the wrong length
     (MALFORMED, protocol §4.4) reads nothing.
     A witness that lacks a leaf the rule reads reverts ("rule: missing
     proof"), as does one whose leaves cannot come from a state reachable
     from genesis ("fill: ...", "leaves: ...", "rlp: ..."): it never yields
     writes.
     Control flow: the checks run in the body of a one-pass loop that a
     failing check leaves with `break`, so the function has one `return`
     (each `return` of the dynamic result adds its own encoder to the code,
     and a rule must fit EIP-170).
"""

from ..lib import eip712
from ..lib import leaves
from ..lib import margin
from ..lib import rule

# An order of the transaction (protocol §4.3, "Order (62 bytes, inside
# FILL)"), field for field.
struct Order:
    account: address
    market: uint32
    side: uint8
    price: uint64
    size: uint64
    fee_cap_ppm: uint32
    nonce: uint64
    expiry: uint64
    flags: uint8


_FILL_TYPE: constant(bytes1) = 0x05
_FILL_LEN: constant(uint256) = 263
# Offsets of the maker's order and signature, the taker's, and the size q.
_MAKER: constant(uint256) = 1
_MAKER_SIG: constant(uint256) = 63
_TAKER: constant(uint256) = 128
_TAKER_SIG: constant(uint256) = 190
_SIZE: constant(uint256) = 255

# Order sides and flag bits (protocol §4.2).
_BUY: constant(uint8) = 0
_POST_ONLY: constant(uint8) = 1
_REDUCE_ONLY: constant(uint8) = 2
_IOC: constant(uint8) = 4
# Any other flag bit makes an order invalid.
_UNKNOWN_FLAGS: constant(uint8) = 248

SEPARATOR: public(immutable(bytes32))


@deploy
def __init__(vault: address):
    """
    @notice Deploy the rule for the EIP-712 domain of `vault` (protocol
            §3.1): orders are signed for it.
    @param vault The Vault's address (the domain's verifying contract).
    """
    assert vault.is_contract, "fill: vault not a contract"
    SEPARATOR = eip712.domain_separator(chain.id, vault)


@view
@external
def apply(
    transaction: Bytes[rule.MAX_TX_LEN],
    batch_time: uint64,
    deposit_count: uint64,
    keys: DynArray[bytes32, rule.MAX_READS],
    values: DynArray[Bytes[rule.MAX_VALUE], rule.MAX_READS],
) -> (uint256, DynArray[bytes32, rule.MAX_WRITES], DynArray[Bytes[rule.MAX_VALUE], rule.MAX_WRITES]):
    """
    @notice Re-execute the FILL `transaction` on the proven leaves `keys`/
            `values` and return the leaves it reads and writes.
    @dev Checks 1-35 of protocol §6.9, in order; reads and writes as in
         the contract notes. Reverts "fill: not a FILL" for another type
         byte, "rule: missing proof" if a leaf the rule reads is not in
         `keys`, "fill: position in an unlisted market" or "fill: account
         leaf of another address" for a leaf no reachable state holds.
    @param transaction The transaction bytes (protocol §4.3).
    @param batch_time The batch's time (orders are valid while
           `batch_time < expiry`).
    @param deposit_count The Vault's queue length (unused by FILL).
    @param keys The keys of the proven leaves.
    @param values Their values (empty: the key is absent).
    @return The mask of `keys` read (bit i for `keys[i]`), then the keys and
            values written in first-write order (none: a no-op).
    """
    assert len(transaction) >= 1 and slice(transaction, 0, 1) == concat(b"", _FILL_TYPE), "fill: not a FILL"
    used: uint256 = 0
    write_keys: DynArray[bytes32, rule.MAX_WRITES] = []
    write_values: DynArray[Bytes[rule.MAX_VALUE], rule.MAX_WRITES] = []
    if len(transaction) != _FILL_LEN:
        # MALFORMED: decided before any leaf is read.
        return used, write_keys, write_values

    mo: Order = self._order(transaction, _MAKER)
    to: Order = self._order(transaction, _TAKER)
    q: uint64 = convert(slice(transaction, _SIZE, 8), uint64)

    # One pass; a failing check leaves it with `break` (a no-op).
    for _pass: uint256 in range(1):
        # 1-5. Shapes, then the pair.
        if not self._shape_ok(mo) or not self._shape_ok(to):
            break
        if mo.market != to.market or mo.side == to.side or mo.account == to.account:
            break
        # 6-7. Signatures over the order hashes.
        mh: bytes32 = self._order_hash(mo)
        th: bytes32 = self._order_hash(to)
        if not eip712.signed_by(mh, slice(transaction, _MAKER_SIG, 65), mo.account):
            break
        if not eip712.signed_by(th, slice(transaction, _TAKER_SIG, 65), to.account):
            break

        # Read the market; 8-10.
        i: uint256 = rule.find(keys, leaves.market_key(mo.market))
        used |= 1 << i
        if len(values[i]) == 0:
            break
        m: leaves.Market = leaves.decode_market(convert(values[i], Bytes[leaves.LEAF_MAX]))
        if m.kind != 0 or m.oracle_price == 0:
            break
        # 11-12. Roles; 13-14. expiry.
        if mo.flags & _IOC != 0 or to.flags & _POST_ONLY != 0:
            break
        if batch_time >= mo.expiry or batch_time >= to.expiry:
            break

        # Read the maker's and the taker's accounts, then their orders.
        i = rule.find(keys, leaves.account_key(mo.account))
        used |= 1 << i
        macc: leaves.Account = leaves.default_account(mo.account)
        if len(values[i]) != 0:
            macc = leaves.decode_account(convert(values[i], Bytes[leaves.LEAF_MAX]))
        i = rule.find(keys, leaves.account_key(to.account))
        used |= 1 << i
        tacc: leaves.Account = leaves.default_account(to.account)
        if len(values[i]) != 0:
            tacc = leaves.decode_account(convert(values[i], Bytes[leaves.LEAF_MAX]))
        assert macc.addr == mo.account and tacc.addr == to.account, "fill: account leaf of another address"
        mkey: bytes32 = leaves.order_key(mo.account, mh)
        i = rule.find(keys, mkey)
        used |= 1 << i
        mst: leaves.OrderState = empty(leaves.OrderState)
        if len(values[i]) != 0:
            mst = leaves.decode_order(convert(values[i], Bytes[leaves.LEAF_MAX]))
        tkey: bytes32 = leaves.order_key(to.account, th)
        i = rule.find(keys, tkey)
        used |= 1 << i
        tst: leaves.OrderState = empty(leaves.OrderState)
        if len(values[i]) != 0:
            tst = leaves.decode_order(convert(values[i], Bytes[leaves.LEAF_MAX]))

        # 15-16. Cancellation.
        if mo.nonce < macc.cancel_floor or mst.cancelled:
            break
        if to.nonce < tacc.cancel_floor or tst.cancelled:
            break
        # 17-18. Tick; 19-21. lot.
        if mo.price == 0 or mo.price % m.tick_size != 0 or to.price == 0 or to.price % m.tick_size != 0:
            break
        if mo.size == 0 or mo.size % m.lot_size != 0 or to.size == 0 or to.size % m.lot_size != 0:
            break
        if q == 0 or q % m.lot_size != 0:
            break
        # 22-23. Remaining size (in uint256: filled + q may pass 2^64).
        if convert(mst.filled, uint256) + convert(q, uint256) > convert(mo.size, uint256):
            break
        if convert(tst.filled, uint256) + convert(q, uint256) > convert(to.size, uint256):
            break
        # 24. The taker's limit crosses the maker's price, the fill price.
        price: uint64 = mo.price
        if to.side == _BUY:
            if price > to.price:
                break
        elif price < to.price:
            break
        # 25-26. Fee caps.
        if m.maker_fee_ppm > mo.fee_cap_ppm or m.taker_fee_ppm > to.fee_cap_ppm:
            break

        # Settle funding on both accounts, reading the market of every
        # position (maker's first, in list order) not read yet.
        markets: DynArray[margin.MarketRef, margin.MAX_MARKETS] = [margin.market_ref(mo.market, m)]
        ids: DynArray[uint32, 2 * leaves.MAX_POSITIONS] = []
        for p: leaves.Position in macc.positions:
            ids.append(p.market)
        for p: leaves.Position in tacc.positions:
            ids.append(p.market)
        for id: uint32 in ids:
            i = rule.find(keys, leaves.market_key(id))
            if used & (1 << i) != 0:
                # Read before: the fill market, or a market already listed.
                continue
            used |= 1 << i
            assert len(values[i]) != 0, "fill: position in an unlisted market"
            markets.append(margin.market_ref(id, leaves.decode_market(convert(values[i], Bytes[leaves.LEAF_MAX]))))
        macc = margin.settle_funding(macc, markets)
        tacc = margin.settle_funding(tacc, markets)

        # Deltas: the taker buys q when sign = +1, the maker mirrors it.
        value: int256 = margin.notional(q, price)
        mfee: int256 = margin.fee(value, m.maker_fee_ppm)
        tfee: int256 = margin.fee(value, m.taker_fee_ppm)
        sign: int256 = 1
        if to.side != _BUY:
            sign = -1
        m_before: int256 = margin.position_size(macc, mo.market)
        t_before: int256 = margin.position_size(tacc, mo.market)
        m_after: int256 = m_before - sign * convert(q, int256)
        t_after: int256 = t_before + sign * convert(q, int256)
        # 27-28. Reduce-only.
        if mo.flags & _REDUCE_ONLY != 0 and not margin.reduces(m_before, m_after):
            break
        if to.flags & _REDUCE_ONLY != 0 and not margin.reduces(t_before, t_after):
            break
        # 29-30. At most MAX_POSITIONS positions after the trade (a size is
        # non-zero iff the account holds a position in that market).
        if self._count(macc, m_before, m_after) > leaves.MAX_POSITIONS:
            break
        if self._count(tacc, t_before, t_after) > leaves.MAX_POSITIONS:
            break
        m_new: leaves.Account = macc
        m_new.collateral = macc.collateral + sign * value - mfee
        m_new.positions = self._with_size(macc.positions, mo.market, m_after, m.funding_index)
        t_new: leaves.Account = tacc
        t_new.collateral = tacc.collateral - sign * value - tfee
        t_new.positions = self._with_size(tacc.positions, mo.market, t_after, m.funding_index)
        # 31-32. Ranges.
        if abs(m_new.collateral) > leaves.MAX_COLLATERAL or abs(m_after) > leaves.MAX_POSITION_SIZE:
            break
        if abs(t_new.collateral) > leaves.MAX_COLLATERAL or abs(t_after) > leaves.MAX_POSITION_SIZE:
            break

        # Read the system leaf; 33. the fee balance.
        i = rule.find(keys, leaves.SYSTEM_KEY)
        used |= 1 << i
        sys: leaves.System = leaves.decode_system(convert(values[i], Bytes[leaves.LEAF_MAX]))
        fees: uint256 = sys.fee_balance + convert(mfee + tfee, uint256)
        if fees > leaves.MAX_BALANCE:
            break
        # 34-35. The margin predicate, maker first.
        if not self._acceptable(macc, m_new, m_before, m_after, markets):
            break
        if not self._acceptable(tacc, t_new, t_before, t_after, markets):
            break

        # Write.
        write_keys.append(leaves.account_key(mo.account))
        write_values.append(leaves.encode_account(m_new))
        write_keys.append(leaves.account_key(to.account))
        write_values.append(leaves.encode_account(t_new))
        write_keys.append(mkey)
        write_values.append(leaves.encode_order(leaves.OrderState(filled=mst.filled + q, cancelled=False)))
        write_keys.append(tkey)
        write_values.append(leaves.encode_order(leaves.OrderState(filled=tst.filled + q, cancelled=False)))
        sys.fee_balance = fees
        write_keys.append(leaves.SYSTEM_KEY)
        write_values.append(leaves.encode_system(sys))
    return used, write_keys, write_values


@internal
@pure
def _order(transaction: Bytes[rule.MAX_TX_LEN], at: uint256) -> Order:
    """
    @notice Return the 62-byte order at offset `at` of `transaction`.
    @param transaction The FILL (263 bytes).
    @param at The order's offset (1 for the maker's, 128 for the taker's).
    @return The order.
    """
    return Order(
        account=convert(convert(slice(transaction, at, 20), bytes20), address),
        market=convert(slice(transaction, at + 20, 4), uint32),
        side=convert(slice(transaction, at + 24, 1), uint8),
        price=convert(slice(transaction, at + 25, 8), uint64),
        size=convert(slice(transaction, at + 33, 8), uint64),
        fee_cap_ppm=convert(slice(transaction, at + 41, 4), uint32),
        nonce=convert(slice(transaction, at + 45, 8), uint64),
        expiry=convert(slice(transaction, at + 53, 8), uint64),
        flags=convert(slice(transaction, at + 61, 1), uint8),
    )


@internal
@view
def _order_hash(o: Order) -> bytes32:
    """
    @notice Return the order hash: the EIP-712 digest of the `Order` struct
            (protocol §3.4), the value its trader signs.
    @param o The order.
    @return The order hash.
    """
    struct_hash: bytes32 = keccak256(
        abi_encode(
            eip712.ORDER_TYPEHASH,
            o.account,
            o.market,
            o.side,
            o.price,
            o.size,
            o.fee_cap_ppm,
            o.nonce,
            o.expiry,
            o.flags,
        )
    )
    return eip712.digest(SEPARATOR, struct_hash)


@internal
@pure
def _shape_ok(o: Order) -> bool:
    """
    @notice Return whether an order's shape is valid: side BUY or SELL, no
            unknown flag bit, not both POST_ONLY and IOC.
    @param o The order.
    @return True iff the shape is OK.
    """
    return o.side <= 1 and o.flags & _UNKNOWN_FLAGS == 0 and o.flags & (_POST_ONLY | _IOC) != _POST_ONLY | _IOC


@internal
@pure
def _count(acc: leaves.Account, before: int256, after: int256) -> uint256:
    """
    @notice Return how many positions `acc` holds after its size in the
            traded market goes from `before` to `after`.
    @param acc The account (settled).
    @param before Its size in the traded market (0: no position there).
    @param after The size after the trade (0: the position is removed).
    @return The length of the new position list.
    """
    n: uint256 = len(acc.positions)
    if before != 0:
        n -= 1
    if after != 0:
        n += 1
    return n


@internal
@pure
def _with_size(
    positions: DynArray[leaves.Position, leaves.MAX_POSITIONS], mid: uint32, size: int256, snapshot: int256
) -> DynArray[leaves.Position, leaves.MAX_POSITIONS]:
    """
    @notice Return `positions` with the position in market `mid` set to
            `size` at funding snapshot `snapshot` (removed if `size` is 0,
            inserted in market order if absent): `_with_size` of the
            reference.
    @dev The caller checked the result has at most MAX_POSITIONS entries
         (`_count`). `positions` is strictly increasing by market, and so is
         the result.
    @param positions The account's positions.
    @param mid The traded market.
    @param size The new size there.
    @param snapshot The market's funding index.
    @return The new position list.
    """
    out: DynArray[leaves.Position, leaves.MAX_POSITIONS] = []
    placed: bool = size == 0
    for p: leaves.Position in positions:
        if p.market == mid:
            continue
        if not placed and mid < p.market:
            out.append(leaves.Position(market=mid, size=size, funding_snapshot=snapshot))
            placed = True
        out.append(p)
    if not placed:
        out.append(leaves.Position(market=mid, size=size, funding_snapshot=snapshot))
    return out


@internal
@pure
def _acceptable(
    before: leaves.Account,
    after: leaves.Account,
    size_before: int256,
    size_after: int256,
    markets: DynArray[margin.MarketRef, margin.MAX_MARKETS],
) -> bool:
    """
    @notice Return FILL's margin predicate, `trade_acceptable` (protocol
            §6.2.6): the account meets its initial requirement after the
            trade, or the trade reduces its position in the traded market
            and does not grow its maintenance shortfall.
    @dev The risk before the trade is computed only when needed, as in the
         reference (the result would be the same either way).
    @param before The account after funding settlement, before the trade.
    @param after The account after the trade.
    @param size_before Its size in the traded market before.
    @param size_after And after.
    @param markets The markets of both accounts' positions.
    @return True iff the trade is acceptable.
    """
    a: margin.Risk = margin.risk(after, markets)
    if a.equity >= a.initial:
        return True
    if not margin.reduces(size_before, size_after):
        return False
    b: margin.Risk = margin.risk(before, markets)
    return a.maintenance - a.equity <= b.maintenance - b.equity
