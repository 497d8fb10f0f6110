# pragma version ~=0.4.3
"""
@title EIP-712 domain, digests and signature validity
@license MIT
@notice The Vyper twin of optirollup/codec/eip712.py (protocol §3): the
        domain separator of a deployment, the digest of a struct hash, and
        the protocol's signature validity rule (§3.5): `ecrecover` plus the
        low-s rule and a non-zero signer. Stateless, so a contract only
        `import`s it.
@dev Struct hashes are built by each rule with `abi_encode` of the type hash
     and the fields: ABI words are exactly EIP-712's (§3.3): unsigned
     integers and addresses left-padded, `int32` sign-extended, `bytes16`
     left-aligned.
"""

# keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
DOMAIN_TYPEHASH: constant(bytes32) = 0x8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f
# keccak256("optirollup") and keccak256("1").
_NAME_HASH: constant(bytes32) = keccak256("optirollup")
_VERSION_HASH: constant(bytes32) = keccak256("1")

# secp256k1's group order n, and n // 2: the largest `s` accepted (low-s).
SECP256K1_N: constant(uint256) = 115792089237316195423570985008687907852837564279074904382605163141518161494337
SECP256K1_HALF_N: constant(uint256) = 57896044618658097711785492504343953926418782139537452191302581570759080747168

# Type hashes of the signed messages (protocol §3.2).
ORDER_TYPEHASH: constant(bytes32) = 0xeab47a59054acbfb42343595b56c82dcf21d28c14313efa68e6c9dd1fb2e5a8d
CANCEL_TYPEHASH: constant(bytes32) = 0xeeab9e19dd9e7de0e97ddb4bae39b062fd255a2df56c1ad150ea8e66d5d9a68f
CANCEL_ALL_TYPEHASH: constant(bytes32) = 0x32fea472fa2f61d8dc926148244aa4a31b78ad179aeaa0f29cbff76347de84a2
WITHDRAW_TYPEHASH: constant(bytes32) = 0x58f1e967c149a1fc48fd1c0ec966e453a8ad32da75178613b1673979946f2c8f
ORACLE_UPDATE_TYPEHASH: constant(bytes32) = 0xdb08a33ccd9ce232bb9cc33320aec812e259bc51077d1e08b66dfccb735a0c7c
FUNDING_TICK_TYPEHASH: constant(bytes32) = 0x9c6475c23d84901dc4e02521740270228ff6e11ee78ad7496a4cf306a84c190d
LIST_MARKET_TYPEHASH: constant(bytes32) = 0x569d83e32167d2319dbee81d0b6cfb65f16a5d1bab64d6abd3c6cada16f0c8c8


@internal
@pure
def domain_separator(chain_id: uint256, vault: address) -> bytes32:
    """
    @notice Return the domain separator of the deployment whose Vault is
            `vault` on chain `chain_id` (protocol §3.1).
    @param chain_id The L1 chain id.
    @param vault The Vault's address (the verifying contract).
    @return keccak(DOMAIN_TYPEHASH ‖ keccak(name) ‖ keccak(version) ‖
            chainId ‖ vault).
    """
    return keccak256(abi_encode(DOMAIN_TYPEHASH, _NAME_HASH, _VERSION_HASH, chain_id, vault))


@internal
@pure
def digest(separator: bytes32, struct_hash: bytes32) -> bytes32:
    """
    @notice Return keccak(0x19 ‖ 0x01 ‖ separator ‖ struct_hash) (§3.4).
    @param separator The domain separator.
    @param struct_hash The message's struct hash.
    @return The digest a signer signs.
    """
    return keccak256(concat(b"\x19\x01", separator, struct_hash))


@internal
@pure
def signed_by(digest_: bytes32, sig: Bytes[65], expected: address) -> bool:
    """
    @notice Return whether `sig` (r ‖ s ‖ v) is a valid signature of
            `digest_` by `expected` (protocol §3.5).
    @dev `v` in {27, 28}, `0 < r < n`, `0 < s <= n/2` (checked here: the
         precompile accepts high s), recovery succeeds (the precompile
         returns no address otherwise, which Vyper reports as zero), and the
         signer is not the zero address and equals `expected`.
    @param digest_ The signed digest.
    @param sig The 65-byte signature (shorter bytes are invalid).
    @param expected The expected signer.
    @return True iff the signature is valid for `expected`.
    """
    if len(sig) != 65:
        return False
    r: uint256 = convert(slice(sig, 0, 32), uint256)
    s: uint256 = convert(slice(sig, 32, 32), uint256)
    v: uint256 = convert(slice(sig, 64, 1), uint256)
    if v != 27 and v != 28:
        return False
    if r == 0 or r >= SECP256K1_N or s == 0 or s > SECP256K1_HALF_N:
        return False
    signer: address = ecrecover(digest_, v, r, s)
    return signer != empty(address) and signer == expected
