# pragma version ~=0.4.3
"""
@title Cross-margin arithmetic: rounding, funding settlement, equity and requirements
@license MIT
@notice The Vyper twin of optirollup/stf/margin.py (protocol §1.4, §6.2).
        Integers only; rounding always in the exchange's favour: funding
        credits and equity round down (`div_floor`), requirements and fees
        round up (`div_ceil`). Stateless, so a contract only `import`s it.
@dev Vyper's `//` on signed integers truncates toward zero (EVM `sdiv`), so
     every division of a possibly negative operand goes through `div_floor`
     or `div_ceil`. Every signed quantity is held in int256: the bounds of
     protocol §6.13 keep every intermediate below 2^192, so checked
     arithmetic never reverts on a state reachable from genesis.
     Markets are passed as a list of `MarketRef` (the fields margin needs,
     by market id), built by the rule from the market leaves it read; a
     position whose market is not in the list reverts "margin: market not
     read" (a witness that omits a leaf the rule needs).
"""

from . import leaves

# Size scale S (protocol §1.2) and parts per million P.
SIZE_SCALE: constant(int256) = 10**8
PPM: constant(int256) = 10**6
# Distinct markets a FILL can read: the fill market and those of both
# accounts' positions (1 + 2 * MAX_POSITIONS).
MAX_MARKETS: constant(uint256) = 1 + 2 * leaves.MAX_POSITIONS


struct MarketRef:
    id: uint32
    # Mark price: oraclePrice for perpetuals, optionMark otherwise.
    mark: int256
    im_ppm: int256
    mm_ppm: int256
    funding_index: int256


struct Risk:
    equity: int256
    initial: int256
    maintenance: int256


@internal
@pure
def div_floor(a: int256, b: int256) -> int256:
    """
    @notice Return floor(a / b) for b > 0 (protocol §1.4).
    @param a The dividend (any sign).
    @param b The divisor, positive.
    @return The quotient rounded toward negative infinity.
    """
    q: int256 = a // b
    if a < 0 and q * b != a:
        q -= 1
    return q


@internal
@pure
def div_ceil(a: int256, b: int256) -> int256:
    """
    @notice Return ceil(a / b) for b > 0 (protocol §1.4).
    @param a The dividend (any sign).
    @param b The divisor, positive.
    @return The quotient rounded toward positive infinity.
    """
    q: int256 = a // b
    if a > 0 and q * b != a:
        q += 1
    return q


@internal
@pure
def market_ref(id: uint32, m: leaves.Market) -> MarketRef:
    """
    @notice Return what margin needs of market `id` (leaf `m`).
    @param id The market id.
    @param m The market leaf.
    @return Its mark price, margin fractions and funding index.
    """
    mark: uint64 = m.oracle_price
    if m.kind != 0:
        mark = m.option_mark
    return MarketRef(
        id=id,
        mark=convert(mark, int256),
        im_ppm=convert(m.im_ppm, int256),
        mm_ppm=convert(m.mm_ppm, int256),
        funding_index=m.funding_index,
    )


@internal
@pure
def find(markets: DynArray[MarketRef, MAX_MARKETS], id: uint32) -> MarketRef:
    """
    @notice Return market `id` of `markets`.
    @dev Reverts "margin: market not read" if it is not there.
    @param markets The markets the rule read.
    @param id The market id.
    @return The market.
    """
    for m: MarketRef in markets:
        if m.id == id:
            return m
    raise "margin: market not read"


@internal
@pure
def funding_credit(size: int256, index: int256, snapshot: int256) -> int256:
    """
    @notice Return floor(-size * (index - snapshot) / (S * P)) (§6.2.1).
    @param size The position's signed size.
    @param index The market's funding index.
    @param snapshot The position's funding snapshot.
    @return The collateral change of settling funding.
    """
    return self.div_floor(-size * (index - snapshot), SIZE_SCALE * PPM)


@internal
@pure
def settle_funding(acc: leaves.Account, markets: DynArray[MarketRef, MAX_MARKETS]) -> leaves.Account:
    """
    @notice Return `acc` with funding settled on every position (§6.2.2):
            each credit added to collateral, each snapshot moved to its
            market's index. No range check (callers check the result).
    @param acc The account.
    @param markets The markets of its positions.
    @return The settled account.
    """
    out: leaves.Account = acc
    for i: uint256 in range(len(acc.positions), bound=leaves.MAX_POSITIONS):
        p: leaves.Position = acc.positions[i]
        index: int256 = self.find(markets, p.market).funding_index
        if index != p.funding_snapshot:
            out.collateral += self.funding_credit(p.size, index, p.funding_snapshot)
            out.positions[i].funding_snapshot = index
    return out


@internal
@pure
def notional(q: uint64, price: uint64) -> int256:
    """
    @notice Return q * price / S (§6.2.3; exact for a valid fill).
    @param q The fill size.
    @param price The fill price.
    @return The notional, in quote units.
    """
    return self.div_floor(convert(q, int256) * convert(price, int256), SIZE_SCALE)


@internal
@pure
def fee(notional_: int256, fee_ppm: uint32) -> int256:
    """
    @notice Return div_ceil(notional_ * fee_ppm, P) (§6.2.3).
    @param notional_ The notional (non-negative).
    @param fee_ppm The fee rate.
    @return The fee, rounded up.
    """
    return self.div_ceil(notional_ * convert(fee_ppm, int256), PPM)


@internal
@pure
def risk(acc: leaves.Account, markets: DynArray[MarketRef, MAX_MARKETS]) -> Risk:
    """
    @notice Return the equity and the initial and maintenance requirements
            of `acc` at mark prices (§6.2.4); each position's terms rounded
            separately, then summed.
    @param acc The account.
    @param markets The markets of its positions.
    @return Its risk.
    """
    r: Risk = Risk(equity=acc.collateral, initial=0, maintenance=0)
    for p: leaves.Position in acc.positions:
        m: MarketRef = self.find(markets, p.market)
        r.equity += self.div_floor(p.size * m.mark, SIZE_SCALE)
        exposure: int256 = abs(p.size) * m.mark
        r.initial += self.div_ceil(exposure * m.im_ppm, SIZE_SCALE * PPM)
        r.maintenance += self.div_ceil(exposure * m.mm_ppm, SIZE_SCALE * PPM)
    return r


@internal
@pure
def reduces(before: int256, after: int256) -> bool:
    """
    @notice Return whether a position change only shrinks it (§6.2.5): same
            sign or closed, and smaller.
    @param before The size before.
    @param after The size after.
    @return True iff the change reduces the position.
    """
    if before > 0:
        return after >= 0 and after < before
    if before < 0:
        return after <= 0 and after > before
    return False


@internal
@pure
def position_size(acc: leaves.Account, market: uint32) -> int256:
    """
    @notice Return the account's size in `market` (0 if it has none).
    @param acc The account.
    @param market The market id.
    @return The signed size.
    """
    for p: leaves.Position in acc.positions:
        if p.market == market:
            return p.size
    return 0
