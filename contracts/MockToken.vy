# pragma version ~=0.4.3
"""
@title Mock USD: the devnet and test collateral token
@license MIT
@notice A plain ERC-20 with 6 decimals (one base unit = one quote unit of
        the protocol). FOR TESTS AND DEVNETS ONLY: `mint` is public, so
        anyone can create any amount of it. Never use it as real collateral.
@dev `transfer` and `transferFrom` return True or revert; an allowance of
     `max_value(uint256)` is never decreased. Reverts are "token: <reason>".
"""

from ethereum.ercs import IERC20

implements: IERC20

name: public(constant(String[8])) = "Mock USD"
symbol: public(constant(String[4])) = "mUSD"
decimals: public(constant(uint8)) = 6

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256


event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


@external
def mint(to: address, amount: uint256):
    """
    @notice Create `amount` base units for `to`. Anyone may call it: this
            token exists only for tests and devnets.
    @param to The receiver (not the zero address).
    @param amount Base units (10^-6 token) to create.
    """
    assert to != empty(address), "token: zero address"
    self.totalSupply += amount
    self.balanceOf[to] += amount
    log Transfer(sender=empty(address), receiver=to, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` base units from the caller to `receiver`.
    @param receiver The receiver (not the zero address).
    @param amount Base units to move.
    @return True (reverts on failure).
    """
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Move `amount` base units from `sender` to `receiver` using the
            caller's allowance.
    @param sender The owner of the tokens.
    @param receiver The receiver (not the zero address).
    @param amount Base units to move.
    @return True (reverts on failure).
    """
    allowed: uint256 = self.allowance[sender][msg.sender]
    if allowed != max_value(uint256):
        assert allowed >= amount, "token: allowance too low"
        self.allowance[sender][msg.sender] = allowed - amount
    self._transfer(sender, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Let `spender` move up to `amount` of the caller's base units.
    @param spender The spender.
    @param amount The new allowance (max_value(uint256) = unlimited).
    @return True.
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "token: zero address"
    balance: uint256 = self.balanceOf[sender]
    assert balance >= amount, "token: balance too low"
    self.balanceOf[sender] = balance - amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)
