"""EIP-712 typed data for every signed message of the protocol.

The digests are computed here by hand (a few keccaks over fixed-width words) because this is the
hot path of the state transition; ``tests/unit/test_eip712.py`` proves them equal to
eth-account's ``encode_typed_data`` for every type. Signatures are 65 bytes ``r ‖ s ‖ v``.

Signature validity is defined so that the EVM's ``ecrecover`` and this module agree exactly:
``v`` is 27 or 28, ``0 < r < n``, ``0 < s <= n/2`` (low-s only), the recovery succeeds, and the
recovered address is not zero.

:func:`recover` runs once per order the node receives: it calls libsecp256k1 through coincurve's
own cffi binding (``coincurve._libsecp256k1``, the library coincurve's classes wrap) instead of
``PublicKey.from_signature_and_message``, which took about 4 µs of Python around the 47 µs of the
recovery itself, and checks ``r`` and ``s`` as 32-byte big-endian strings (compared as bytes,
the same order as the integers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from coincurve._libsecp256k1 import ffi as _ffi
from coincurve._libsecp256k1 import lib as _lib
from coincurve.context import GLOBAL_CONTEXT
from eth_account import Account

from optirollup.hashing import keccak

DOMAIN_NAME = "optirollup"
DOMAIN_VERSION = "1"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2
ZERO_ADDRESS = b"\x00" * 20
_ZERO_WORD = b"\x00" * 32
_N_WORD = SECP256K1_N.to_bytes(32, "big")
_HALF_N_WORD = SECP256K1_HALF_N.to_bytes(32, "big")
_CTX = GLOBAL_CONTEXT.ctx
_UNCOMPRESSED = _lib.SECP256K1_EC_UNCOMPRESSED

# The type strings are normative (docs/protocol.md, "Signed messages").
TYPE_STRINGS: dict[str, str] = {
    "EIP712Domain": (
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    ),
    "Order": (
        "Order(address account,uint32 market,uint8 side,uint64 price,uint64 size,"
        "uint32 feeCapPpm,uint64 nonce,uint64 expiry,uint8 flags)"
    ),
    "Cancel": "Cancel(address account,bytes32 orderHash)",
    "CancelAll": "CancelAll(address account,uint64 floor)",
    "Withdraw": "Withdraw(address account,address recipient,uint64 amount,uint64 nonce)",
    "OracleUpdate": "OracleUpdate(uint32 market,uint64 price,uint64 mark,uint64 time)",
    "FundingTick": "FundingTick(uint32 market,int32 ratePpm,uint64 time)",
    "ListMarket": (
        "ListMarket(uint32 market,uint8 kind,bytes16 symbol,uint64 strike,uint64 expiry,"
        "uint64 lotSize,uint64 tickSize,uint32 imPpm,uint32 mmPpm,uint32 makerFeePpm,"
        "uint32 takerFeePpm,uint32 maxFundingPpm)"
    ),
    "SetSettlement": "SetSettlement(uint32 market,uint64 price,uint64 time)",
    "Liquidate": (
        "Liquidate(address liquidator,address account,uint32 market,uint64 size,uint64 expiry)"
    ),
}
TYPEHASHES: dict[str, bytes] = {name: keccak(s.encode()) for name, s in TYPE_STRINGS.items()}


def _word(x: int) -> bytes:
    """Encode a signed or unsigned integer as one 32-byte EIP-712 word (two's complement)."""
    return (x % 2**256).to_bytes(32, "big")


def _addr_word(a: bytes) -> bytes:
    return b"\x00" * 12 + a


def struct_hash(type_name: str, words: Sequence[bytes]) -> bytes:
    """Hash a struct given its already-encoded 32-byte field words."""
    return keccak(TYPEHASHES[type_name] + b"".join(words))


@dataclass(frozen=True, slots=True)
class Domain:
    """The EIP-712 domain every signature of one deployment is bound to."""

    chain_id: int
    verifying_contract: bytes  # 20 bytes: the Vault's address

    @property
    def separator(self) -> bytes:
        """Return the 32-byte domain separator."""
        return domain_separator(self.chain_id, self.verifying_contract)

    def as_eip712(self) -> dict[str, Any]:
        """Return the domain as eth-account's ``encode_typed_data`` expects it."""
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": "0x" + self.verifying_contract.hex(),
        }


def domain_separator(chain_id: int, verifying_contract: bytes) -> bytes:
    """Return the EIP-712 domain separator of a deployment."""
    if len(verifying_contract) != 20:
        raise ValueError("verifying_contract must be 20 bytes")
    return keccak(
        TYPEHASHES["EIP712Domain"]
        + keccak(DOMAIN_NAME.encode())
        + keccak(DOMAIN_VERSION.encode())
        + _word(chain_id)
        + _addr_word(verifying_contract)
    )


def digest(separator: bytes, struct_hash_: bytes) -> bytes:
    """Return the EIP-712 signing digest ``keccak(0x1901 ‖ separator ‖ structHash)``."""
    return keccak(b"\x19\x01" + separator + struct_hash_)


def recover(digest_: bytes, signature: bytes) -> bytes:
    """Return the address that signed ``digest_``, or the zero address if the signature is invalid.

    Mirrors the EVM's ``ecrecover`` plus the protocol's low-s rule: any signature the on-chain
    verifier would reject yields the zero address here, never an exception.
    """
    if len(signature) != 65 or len(digest_) != 32:
        return ZERO_ADDRESS
    if type(signature) is not bytes or type(digest_) is not bytes:  # cffi and < take bytes
        signature, digest_ = bytes(signature), bytes(digest_)
    v = signature[64]
    if v != 27 and v != 28:
        return ZERO_ADDRESS
    r, s = signature[0:32], signature[32:64]  # big-endian: bytes order is integer order
    if not (_ZERO_WORD < r < _N_WORD and _ZERO_WORD < s <= _HALF_N_WORD):
        return ZERO_ADDRESS
    sig = _ffi.new("secp256k1_ecdsa_recoverable_signature *")
    pub = _ffi.new("secp256k1_pubkey *")
    # libsecp256k1 refuses an r that is not an x-coordinate (and anything else it cannot use)
    # by returning 0; the range checks above already hold, so it never sees an overflow.
    if not _lib.secp256k1_ecdsa_recoverable_signature_parse_compact(_CTX, sig, signature, v - 27):
        return ZERO_ADDRESS
    if not _lib.secp256k1_ecdsa_recover(_CTX, pub, sig, digest_):
        return ZERO_ADDRESS
    out = _ffi.new("unsigned char[65]")
    _lib.secp256k1_ec_pubkey_serialize(_CTX, out, _ffi.new("size_t *", 65), pub, _UNCOMPRESSED)
    return keccak(_ffi.buffer(out, 65)[1:])[12:]  # 0x04 ‖ x ‖ y: the address hashes x ‖ y


def sign(digest_: bytes, private_key: bytes) -> bytes:
    """Sign a digest with eth-account and return ``r ‖ s ‖ v`` (65 bytes, low-s, v in 27/28)."""
    signed = Account.unsafe_sign_hash(digest_, private_key)
    return bytes(signed.signature)


def address_of(private_key: bytes) -> bytes:
    """Return the 20-byte address of a private key."""
    return bytes.fromhex(Account.from_key(private_key).address[2:])
