# pragma version ~=0.4.3
"""
@title Deposit queue stand-in for step-verifier tests
@license MIT
@notice Holds arbitrary deposit hashes under the Vault's getter
        `deposit_hashes(index)`, for test cases the real Vault refuses to
        queue (an amount of 0: protocol §6.3 check 3 is unreachable with the
        real Vault). Every other test uses the real Vault. Deployed nowhere
        else.
"""

deposit_hashes: public(HashMap[uint64, bytes32])


@external
def set_hashes(first: uint64, hashes: DynArray[bytes32, 64]):
    """
    @notice Set entries `first .. first + len(hashes) - 1` (anyone: test only).
    @param first The index of the first entry.
    @param hashes The hashes to store.
    """
    for i: uint256 in range(len(hashes), bound=64):
        self.deposit_hashes[first + convert(i, uint64)] = hashes[i]
