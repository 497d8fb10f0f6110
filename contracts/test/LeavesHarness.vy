# pragma version ~=0.4.3
"""
@title Test harness for the state-leaf library
@license MIT
@notice Exposes `lib/leaves.vy` (keys and every leaf kind) to tests
        (fuzzed against optirollup/state/leaves.py); deployed nowhere else.
        Pure: no state, no external calls.
"""

from ..lib import leaves


@external
@pure
def decode_account(data: Bytes[leaves.LEAF_MAX]) -> leaves.Account:
    """
    @notice Decode and validate an account leaf.
    @param data The leaf's bytes.
    @return The account.
    """
    return leaves.decode_account(data)


@external
@pure
def encode_account(a: leaves.Account) -> Bytes[leaves.ACCOUNT_MAX]:
    """
    @notice Encode an account leaf.
    @param a The account.
    @return Its RLP encoding.
    """
    return leaves.encode_account(a)


@external
@pure
def decode_system(data: Bytes[leaves.LEAF_MAX]) -> leaves.System:
    """
    @notice Decode and validate the system leaf.
    @param data The leaf's bytes.
    @return The system leaf.
    """
    return leaves.decode_system(data)


@external
@pure
def encode_system(s: leaves.System) -> Bytes[leaves.SYSTEM_MAX]:
    """
    @notice Encode the system leaf.
    @param s The system leaf.
    @return Its RLP encoding.
    """
    return leaves.encode_system(s)


@external
@pure
def keys(addr: address, order_hash: bytes32, market: uint32, withdrawal_id: uint64) -> bytes32[5]:
    """
    @notice Return the account, order, market, withdrawal and system keys.
    @param addr An account address (also the order's owner).
    @param order_hash An order hash.
    @param market A market id.
    @param withdrawal_id A withdrawal id.
    @return The five keys, in that order.
    """
    return [
        leaves.account_key(addr),
        leaves.order_key(addr, order_hash),
        leaves.market_key(market),
        leaves.withdrawal_key(withdrawal_id),
        leaves.SYSTEM_KEY,
    ]


@external
@pure
def decode_market(data: Bytes[leaves.LEAF_MAX]) -> leaves.Market:
    """
    @notice Decode and validate a market leaf.
    @param data The leaf's bytes.
    @return The market.
    """
    return leaves.decode_market(data)


@external
@pure
def encode_market(m: leaves.Market) -> Bytes[leaves.MARKET_MAX]:
    """
    @notice Encode a market leaf.
    @param m The market.
    @return Its RLP encoding.
    """
    return leaves.encode_market(m)


@external
@pure
def decode_order(data: Bytes[leaves.LEAF_MAX]) -> leaves.OrderState:
    """
    @notice Decode and validate an order leaf.
    @param data The leaf's bytes.
    @return The order state.
    """
    return leaves.decode_order(data)


@external
@pure
def encode_order(o: leaves.OrderState) -> Bytes[leaves.ORDER_MAX]:
    """
    @notice Encode an order leaf.
    @param o The order state.
    @return Its RLP encoding.
    """
    return leaves.encode_order(o)


@external
@pure
def decode_withdrawal(data: Bytes[leaves.LEAF_MAX]) -> leaves.Withdrawal:
    """
    @notice Decode and validate a withdrawal leaf.
    @param data The leaf's bytes.
    @return The withdrawal.
    """
    return leaves.decode_withdrawal(data)


@external
@pure
def encode_withdrawal(w: leaves.Withdrawal) -> Bytes[leaves.WITHDRAWAL_MAX]:
    """
    @notice Encode a withdrawal leaf.
    @param w The withdrawal.
    @return Its RLP encoding.
    """
    return leaves.encode_withdrawal(w)
