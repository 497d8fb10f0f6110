# pragma version ~=0.4.3
"""
@title ORACLE_UPDATE, FUNDING_TICK and LIST_MARKET rule
@license MIT
@notice Re-executes one oracle-signed market transaction (protocol §6.5,
        §6.6, §6.8) on leaves the step runner already proved, and returns
        the leaves to write (docs/l1.md, "Step verifiers"). The twin of
        `_oracle_update`, `_funding_tick`, `_list_market` and
        `market_params_valid` in optirollup/stf/transition.py. Registered
        for the types 0x03, 0x04 and 0x08.
@dev Entry point and conventions: contracts/lib/rule.vy. Every type reads
     the system leaf first (its oracle key is the expected signer of check
     1), then, if the signature is valid, the market leaf of the
     transaction's `market`; a valid transaction writes that market leaf
     (and nothing else). Results:
       - wrong length (MALFORMED, protocol §4.4): nothing read or written;
       - a failing check: the leaves read so far, no writes (a no-op);
       - applied: both leaves read, the market written.
     A witness without the system leaf, an absent system leaf or a leaf
     that does not decode reverts: no state reachable from genesis has
     them, so they are a corrupt witness, never a root.
"""

from ..lib import eip712
from ..lib import leaves
from ..lib import rule

# Type bytes and exact lengths (protocol §4.2).
_ORACLE_UPDATE: constant(uint256) = 3
_FUNDING_TICK: constant(uint256) = 4
_LIST_MARKET: constant(uint256) = 8
_ORACLE_UPDATE_LEN: constant(uint256) = 94
_FUNDING_TICK_LEN: constant(uint256) = 82
_LIST_MARKET_LEN: constant(uint256) = 139
# Every signed transaction ends with its 65-byte signature r ‖ s ‖ v.
_SIG_LEN: constant(uint256) = 65

# Market kind 0: a perpetual (the only kind LIST_MARKET writes in v1).
_PERP: constant(uint8) = 0
# Protocol constants (protocol §1.3).
_SIZE_SCALE: constant(uint256) = 10**8
_PPM: constant(uint32) = 10**6
_MAX_FEE_PPM: constant(uint32) = 100_000
_MAX_FUNDING_PPM: constant(uint32) = 100_000
# 2^31 and 2^32: to read a big-endian int32 (two's complement).
_I32_SIGN: constant(int256) = 2**31
_U32_RANGE: constant(int256) = 2**32

# The EIP-712 domain separator of the deployment (protocol §3.1).
SEPARATOR: public(immutable(bytes32))


@deploy
def __init__(vault: address):
    """
    @notice Deploy the rule for the deployment whose Vault is `vault`.
    @param vault The Vault (the EIP-712 verifying contract).
    """
    assert vault.is_contract, "market: vault not a contract"
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
    @notice Apply one ORACLE_UPDATE, FUNDING_TICK or LIST_MARKET to the
            proven leaves `keys`/`values` and return the leaves it writes.
    @dev Checks, in the order of the reference (a failing one returns the
         read mask and no writes). Every type: wrong length (MALFORMED, no
         read); read system; 1. the signature is valid for the message's
         digest and `system.oracle` (protocol §3.5); read market(`market`).
         ORACLE_UPDATE: 2. the market exists; 3. `oracleTime < time <=
         batch_time`; 4. `price != 0`, `mark == 0` for a perpetual and
         `mark != 0` otherwise. Writes oraclePrice, optionMark, oracleTime.
         FUNDING_TICK: 2. the market exists; 3. it is a perpetual; 4.
         `fundingTime < time <= batch_time`; 5. `|ratePpm| <=
         maxFundingPpm` (ratePpm widened first: |-2^31| = 2^31); 6.
         `oraclePrice != 0`; 7. `|fundingIndex + ratePpm * oraclePrice| <=
         MAX_FUNDING_INDEX`. Writes fundingIndex, fundingTime.
         LIST_MARKET: 2. the market does not exist; 3. `kind == 0`; 4. the
         parameters are valid (protocol §6.7, `_params_valid`). Inserts
         the market with its oracle and funding fields zero.
         Reverts "market: not a market transaction" for another type byte.
    @param transaction The transaction bytes (protocol §4.3).
    @param batch_time The batch's time.
    @param deposit_count The batch's deposit count (unused).
    @param keys The keys the runner proved.
    @param values Their values (empty: absent).
    @return The read mask, the written keys and their new values.
    """
    tx_type: uint256 = 0
    if len(transaction) > 0:
        tx_type = convert(slice(transaction, 0, 1), uint256)
    tx_len: uint256 = 0
    if tx_type == _ORACLE_UPDATE:
        tx_len = _ORACLE_UPDATE_LEN
    elif tx_type == _FUNDING_TICK:
        tx_len = _FUNDING_TICK_LEN
    elif tx_type == _LIST_MARKET:
        tx_len = _LIST_MARKET_LEN
    else:
        raise "market: not a market transaction"
    if len(transaction) != tx_len:
        # MALFORMED (protocol §4.4): decided before any leaf is read.
        return 0, [], []

    market: uint32 = convert(slice(transaction, 1, 4), uint32)
    # ORACLE_UPDATE's fields.
    price: uint64 = 0
    mark: uint64 = 0
    # FUNDING_TICK's rate, widened to int256 (checks 5 and 7 need it so).
    rate: int256 = 0
    # ORACLE_UPDATE's and FUNDING_TICK's time.
    time: uint64 = 0
    # LIST_MARKET's new market: fields 0-10 from the transaction, the rest 0.
    listed: leaves.Market = empty(leaves.Market)
    struct_hash: bytes32 = empty(bytes32)
    if tx_type == _ORACLE_UPDATE:
        price = convert(slice(transaction, 5, 8), uint64)
        mark = convert(slice(transaction, 13, 8), uint64)
        time = convert(slice(transaction, 21, 8), uint64)
        struct_hash = keccak256(abi_encode(eip712.ORACLE_UPDATE_TYPEHASH, market, price, mark, time))
    elif tx_type == _FUNDING_TICK:
        rate = convert(convert(slice(transaction, 5, 4), uint32), int256)
        if rate >= _I32_SIGN:
            rate -= _U32_RANGE
        time = convert(slice(transaction, 9, 8), uint64)
        # The int32 word is the rate sign-extended to 256 bits (protocol §3.3).
        struct_hash = keccak256(abi_encode(eip712.FUNDING_TICK_TYPEHASH, market, convert(rate, int32), time))
    else:
        listed.kind = convert(slice(transaction, 5, 1), uint8)
        listed.symbol = convert(slice(transaction, 6, 16), bytes16)
        listed.strike = convert(slice(transaction, 22, 8), uint64)
        listed.expiry = convert(slice(transaction, 30, 8), uint64)
        listed.lot_size = convert(slice(transaction, 38, 8), uint64)
        listed.tick_size = convert(slice(transaction, 46, 8), uint64)
        listed.im_ppm = convert(slice(transaction, 54, 4), uint32)
        listed.mm_ppm = convert(slice(transaction, 58, 4), uint32)
        listed.maker_fee_ppm = convert(slice(transaction, 62, 4), uint32)
        listed.taker_fee_ppm = convert(slice(transaction, 66, 4), uint32)
        listed.max_funding_ppm = convert(slice(transaction, 70, 4), uint32)
        struct_hash = keccak256(
            abi_encode(
                eip712.LIST_MARKET_TYPEHASH,
                market,
                listed.kind,
                listed.symbol,
                listed.strike,
                listed.expiry,
                listed.lot_size,
                listed.tick_size,
                listed.im_ppm,
                listed.mm_ppm,
                listed.maker_fee_ppm,
                listed.taker_fee_ppm,
                listed.max_funding_ppm,
            )
        )

    # Read system; check 1.
    i: uint256 = rule.find(keys, leaves.SYSTEM_KEY)
    used: uint256 = 1 << i
    assert len(values[i]) > 0, "market: no system leaf"
    oracle: address = leaves.decode_system(convert(values[i], Bytes[leaves.LEAF_MAX])).oracle
    sig: Bytes[_SIG_LEN] = slice(transaction, tx_len - _SIG_LEN, _SIG_LEN)
    if not eip712.signed_by(eip712.digest(SEPARATOR, struct_hash), sig, oracle):
        return used, [], []

    # Read market(market).
    key: bytes32 = leaves.market_key(market)
    i = rule.find(keys, key)
    used |= 1 << i
    exists: bool = len(values[i]) > 0
    m: leaves.Market = empty(leaves.Market)
    if exists:
        m = leaves.decode_market(convert(values[i], Bytes[leaves.LEAF_MAX]))

    if tx_type == _LIST_MARKET:
        # Checks 2-4; insert the market.
        if exists or listed.kind != _PERP or not self._params_valid(listed):
            return used, [], []
        return used, [key], [leaves.encode_market(listed)]

    # Check 2 (ORACLE_UPDATE and FUNDING_TICK).
    if not exists:
        return used, [], []
    if tx_type == _ORACLE_UPDATE:
        # Checks 3 and 4.
        if m.oracle_time >= time or time > batch_time:
            return used, [], []
        if price == 0 or (mark != 0 if m.kind == _PERP else mark == 0):
            return used, [], []
        m.oracle_price = price
        m.option_mark = mark
        m.oracle_time = time
    else:
        # Checks 3-7. |rate| < 2^32 and oraclePrice < 2^64: the product and
        # the new index stay far inside int256 (protocol §6.13).
        if m.kind != _PERP:
            return used, [], []
        if m.funding_time >= time or time > batch_time:
            return used, [], []
        if abs(rate) > convert(m.max_funding_ppm, int256):
            return used, [], []
        if m.oracle_price == 0:
            return used, [], []
        index: int256 = m.funding_index + rate * convert(m.oracle_price, int256)
        if abs(index) > leaves.MAX_FUNDING_INDEX:
            return used, [], []
        m.funding_index = index
        m.funding_time = time
    return used, [key], [leaves.encode_market(m)]


@internal
@pure
def _params_valid(m: leaves.Market) -> bool:
    """
    @notice Return whether a perpetual market's parameters are in range:
            `market_params_valid` (protocol §6.7).
    @dev `lotSize * tickSize` is taken in uint256 (two u64: below 2^128).
    @param m The market as LIST_MARKET would write it.
    @return strike = 0, expiry = 0, lotSize >= 1, tickSize >= 1,
            lotSize * tickSize = 0 mod 10^8, 0 < mmPpm < imPpm <= 10^6,
            both fees <= 100,000 and 1 <= maxFundingPpm <= 100,000.
    """
    return (
        m.strike == 0
        and m.expiry == 0
        and m.lot_size >= 1
        and m.tick_size >= 1
        and (convert(m.lot_size, uint256) * convert(m.tick_size, uint256)) % _SIZE_SCALE == 0
        and 0 < m.mm_ppm
        and m.mm_ppm < m.im_ppm
        and m.im_ppm <= _PPM
        and m.maker_fee_ppm <= _MAX_FEE_PPM
        and m.taker_fee_ppm <= _MAX_FEE_PPM
        and 1 <= m.max_funding_ppm
        and m.max_funding_ppm <= _MAX_FUNDING_PPM
    )
