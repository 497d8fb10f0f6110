"""Check the hand-computed EIP-712 digests against eth-account, and ``recover`` against the EVM.

Digests: for every signed type, ``Order.hash`` / ``message_hash`` must equal the digest eth-account
0.13 derives from the full typed-data message (``encode_typed_data(full_message=...)`` hashed by
``_hash_eip191_message``), and a signature made by either side must recover to the signer on the
other. The EIP-712 field lists below are restated independently of ``TYPE_STRINGS``.

Recovery: ``recover`` must return the signer for good signatures and the zero address, never an
exception, for anything the on-chain verifier rejects. The reference for "what the chain does" is
py-evm's ECRECOVER precompile plus the protocol's low-s rule (see ``LOW_S`` below).
"""

from __future__ import annotations

import dataclasses
import re
import types
from typing import Any

import coincurve
import pytest
from eth_account import Account
from eth_account.messages import SignableMessage, _hash_eip191_message, encode_typed_data
from hypothesis import event, given
from hypothesis import strategies as st

from optirollup.codec import eip712
from optirollup.codec.eip712 import (
    SECP256K1_HALF_N,
    SECP256K1_N,
    TYPE_STRINGS,
    ZERO_ADDRESS,
    Domain,
    domain_separator,
    recover,
)
from optirollup.codec.tx import (
    Cancel,
    CancelAll,
    FundingTick,
    Liquidate,
    ListMarket,
    OracleUpdate,
    Order,
    SetSettlement,
    Withdraw,
    message_hash,
)
from optirollup.testkit import DEFAULT_DOMAIN, Signer, Trader

# --------------------------------------------------------------------------- typed-data schema

EIP712_FIELDS: dict[str, list[tuple[str, str]]] = {
    "EIP712Domain": [
        ("string", "name"), ("string", "version"), ("uint256", "chainId"),
        ("address", "verifyingContract"),
    ],
    "Order": [
        ("address", "account"), ("uint32", "market"), ("uint8", "side"), ("uint64", "price"),
        ("uint64", "size"), ("uint32", "feeCapPpm"), ("uint64", "nonce"), ("uint64", "expiry"),
        ("uint8", "flags"),
    ],
    "Cancel": [("address", "account"), ("bytes32", "orderHash")],
    "CancelAll": [("address", "account"), ("uint64", "floor")],
    "Withdraw": [
        ("address", "account"), ("address", "recipient"), ("uint64", "amount"), ("uint64", "nonce"),
    ],
    "OracleUpdate": [
        ("uint32", "market"), ("uint64", "price"), ("uint64", "mark"), ("uint64", "time"),
    ],
    "FundingTick": [("uint32", "market"), ("int32", "ratePpm"), ("uint64", "time")],
    "ListMarket": [
        ("uint32", "market"), ("uint8", "kind"), ("bytes16", "symbol"), ("uint64", "strike"),
        ("uint64", "expiry"), ("uint64", "lotSize"), ("uint64", "tickSize"), ("uint32", "imPpm"),
        ("uint32", "mmPpm"), ("uint32", "makerFeePpm"), ("uint32", "takerFeePpm"),
        ("uint32", "maxFundingPpm"),
    ],
    "SetSettlement": [("uint32", "market"), ("uint64", "price"), ("uint64", "time")],
    "Liquidate": [
        ("address", "liquidator"), ("address", "account"), ("uint32", "market"),
        ("uint64", "size"), ("uint64", "expiry"),
    ],
}  # fmt: skip

CLASSES: dict[str, type] = {
    "Order": Order, "Cancel": Cancel, "CancelAll": CancelAll, "Withdraw": Withdraw,
    "OracleUpdate": OracleUpdate, "FundingTick": FundingTick, "ListMarket": ListMarket,
    "SetSettlement": SetSettlement, "Liquidate": Liquidate,
}  # fmt: skip
SIGNED_TYPES = list(CLASSES)


def message_fields(cls: type) -> list[str]:
    """Return the record's fields that are signed (all but the signature), in order."""
    return [f.name for f in dataclasses.fields(cls) if f.name != "signature"]


def camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def full_message(domain: Domain, primary: str, message: dict[str, Any]) -> dict[str, Any]:
    return {
        "types": {
            name: [{"name": n, "type": t} for t, n in EIP712_FIELDS[name]]
            for name in ("EIP712Domain", primary)
        },
        "primaryType": primary,
        "domain": domain.as_eip712(),
        "message": message,
    }


def eth_account_signable(domain: Domain, msg: Any) -> SignableMessage:
    primary = type(msg).__name__
    return encode_typed_data(full_message=full_message(domain, primary, msg.eip712_message()))


def our_digest(domain: Domain, msg: Any) -> bytes:
    if isinstance(msg, Order):
        return msg.hash(domain.separator)
    return message_hash(msg, domain.separator)


def our_struct_hash(msg: Any) -> bytes:
    if isinstance(msg, Order):
        return msg.struct_hash()
    return eip712.struct_hash(msg.EIP712_TYPE, msg.struct_words())


# ---- values of each Solidity type, by position: record fields map 1:1 onto EIP-712 fields


def value_strategy(sol_type: str) -> st.SearchStrategy[Any]:
    if sol_type == "address":
        return st.binary(min_size=20, max_size=20)
    if m := re.fullmatch(r"bytes(\d+)", sol_type):
        return st.binary(min_size=int(m[1]), max_size=int(m[1]))
    if m := re.fullmatch(r"uint(\d+)", sol_type):
        return st.integers(0, 2 ** int(m[1]) - 1)
    m = re.fullmatch(r"int(\d+)", sol_type)
    assert m, sol_type
    return st.integers(-(2 ** (int(m[1]) - 1)), 2 ** (int(m[1]) - 1) - 1)


def message_strategy(name: str) -> st.SearchStrategy[Any]:
    fields = [value_strategy(t) for t, _ in EIP712_FIELDS[name]]
    return st.tuples(*fields).map(lambda values: CLASSES[name](*values))


def extreme_value(sol_type: str, high: bool) -> Any:
    if sol_type == "address":
        return (b"\xff" if high else b"\x00") * 20
    if m := re.fullmatch(r"bytes(\d+)", sol_type):
        return (b"\xff" if high else b"\x00") * int(m[1])
    bits = int(re.sub(r"\D", "", sol_type))
    if sol_type.startswith("uint"):
        return 2**bits - 1 if high else 0
    return 2 ** (bits - 1) - 1 if high else -(2 ** (bits - 1))


def extreme_message(name: str, high: bool) -> Any:
    return CLASSES[name](*(extreme_value(t, high) for t, _ in EIP712_FIELDS[name]))


domains = st.builds(
    Domain, st.integers(0, 2**256 - 1), st.binary(min_size=20, max_size=20)
) | st.just(DEFAULT_DOMAIN)
any_message = st.sampled_from(SIGNED_TYPES).flatmap(message_strategy)

ALICE = Trader.of("alice")

# --------------------------------------------------------------------------- schema


@pytest.mark.parametrize("name", list(EIP712_FIELDS), ids=str)
def test_type_string_is_the_encode_type_of_the_documented_fields(name: str) -> None:
    fields = ",".join(f"{t} {n}" for t, n in EIP712_FIELDS[name])
    assert TYPE_STRINGS[name] == f"{name}({fields})"


def test_every_signed_type_has_a_type_string() -> None:
    assert set(TYPE_STRINGS) == {"EIP712Domain", *SIGNED_TYPES}


@pytest.mark.parametrize("name", SIGNED_TYPES, ids=str)
def test_record_fields_map_one_to_one_onto_the_eip712_fields(name: str) -> None:
    cls = CLASSES[name]
    assert [camel(f) for f in message_fields(cls)] == [n for _, n in EIP712_FIELDS[name]]
    assert list(extreme_message(name, True).eip712_message()) == [n for _, n in EIP712_FIELDS[name]]
    if cls is not Order:
        assert name == cls.EIP712_TYPE


# --------------------------------------------------------------------------- domain


@pytest.mark.parametrize(
    "domain",
    [
        DEFAULT_DOMAIN,
        Domain(1, bytes.fromhex("00000000000000000000000000000000000000aa")),
        Domain(0, b"\x00" * 20),
        Domain(2**256 - 1, b"\xff" * 20),
    ],
    ids=["devnet", "mainnet", "all-zero", "all-max"],
)
def test_domain_separator_equals_eth_accounts(domain: Domain) -> None:
    signable = eth_account_signable(domain, extreme_message("CancelAll", False))
    assert domain.separator == domain_separator(domain.chain_id, domain.verifying_contract)
    assert domain.separator == signable.header


@given(domains)
def test_any_domain_separator_equals_eth_accounts(domain: Domain) -> None:
    assert domain.separator == eth_account_signable(domain, extreme_message("Cancel", True)).header


@pytest.mark.parametrize("length", [0, 19, 21, 32], ids=lambda n: f"{n}-bytes")
def test_domain_separator_rejects_a_verifying_contract_that_is_not_20_bytes(length: int) -> None:
    with pytest.raises(ValueError, match="20 bytes"):
        domain_separator(1, b"\x01" * length)


# --------------------------------------------------------------------------- digests

NON_ASCII_SYMBOL = "Ω-PERP".encode().ljust(16, b"\x00")
assert len(NON_ASCII_SYMBOL) == 16 and not NON_ASCII_SYMBOL.isascii()

EDGE_MESSAGES = [
    *(
        pytest.param(extreme_message(n, high), id=f"{n}-{'max' if high else 'min'}")
        for n in SIGNED_TYPES
        for high in (False, True)
    ),
    pytest.param(FundingTick(market=3, rate_ppm=-1, time=1_700_000_000), id="funding-rate-minus-1"),
    pytest.param(FundingTick(market=3, rate_ppm=-250, time=1), id="funding-rate-negative"),
    pytest.param(
        ListMarket(
            market=2,
            kind=1,
            symbol=NON_ASCII_SYMBOL,
            strike=3_000_000_000,
            expiry=1_800_000_000,
            lot_size=1_000_000,
            tick_size=10_000,
            im_ppm=100_000,
            mm_ppm=50_000,
            maker_fee_ppm=200,
            taker_fee_ppm=500,
            max_funding_ppm=1_000,
        ),
        id="list-market-non-ascii-symbol",
    ),
    pytest.param(
        ListMarket(7, 0, b"\x80" * 15 + b"\x01", 0, 0, 1, 1, 1, 1, 0, 0, 0),
        id="list-market-high-bit-symbol",
    ),
    pytest.param(
        Order(ALICE.address, 1, 1, 2_500_000_000, 10**8, 1_000, 42, 1_900_000_000, 5),
        id="order-typical",
    ),
]


@pytest.mark.parametrize("msg", EDGE_MESSAGES)
def test_digest_of_an_edge_message_equals_eth_accounts(msg: Any) -> None:
    signable = eth_account_signable(DEFAULT_DOMAIN, msg)
    assert signable.header == DEFAULT_DOMAIN.separator
    assert our_struct_hash(msg) == signable.body
    assert our_digest(DEFAULT_DOMAIN, msg) == _hash_eip191_message(signable)


@given(domains, any_message)
def test_digest_of_any_signed_message_equals_eth_accounts(domain: Domain, msg: Any) -> None:
    assert our_digest(domain, msg) == _hash_eip191_message(eth_account_signable(domain, msg))


def test_the_signature_field_is_not_part_of_the_digest() -> None:
    msg = extreme_message("Withdraw", True)
    signed = dataclasses.replace(msg, signature=b"\x07" * 65)
    assert message_hash(signed, DEFAULT_DOMAIN.separator) == message_hash(
        msg, DEFAULT_DOMAIN.separator
    )


def test_the_digest_is_bound_to_the_domain() -> None:
    msg = extreme_message("Withdraw", True)
    other = Domain(DEFAULT_DOMAIN.chain_id + 1, DEFAULT_DOMAIN.verifying_contract)
    assert message_hash(msg, other.separator) != message_hash(msg, DEFAULT_DOMAIN.separator)


# --------------------------------------------------------------------------- signing both ways


@pytest.mark.parametrize("name", SIGNED_TYPES, ids=str)
def test_a_signature_by_eth_account_recovers_to_its_signer(name: str) -> None:
    msg = extreme_message(name, True)
    signed = Account.sign_message(eth_account_signable(DEFAULT_DOMAIN, msg), ALICE.key)
    assert recover(our_digest(DEFAULT_DOMAIN, msg), bytes(signed.signature)) == ALICE.address


@pytest.mark.parametrize("name", SIGNED_TYPES, ids=str)
def test_a_signature_by_the_testkit_recovers_in_eth_account(name: str) -> None:
    msg = extreme_message(name, False)
    signer = Signer(DEFAULT_DOMAIN)
    if isinstance(msg, Order):
        signature = signer.order(msg, ALICE.key).signature
    else:
        signature = signer.sign(msg, ALICE.key).signature
    recovered = Account.recover_message(
        eth_account_signable(DEFAULT_DOMAIN, msg), signature=signature
    )
    assert bytes.fromhex(recovered[2:]) == ALICE.address
    assert recover(our_digest(DEFAULT_DOMAIN, msg), signature) == ALICE.address


def test_address_of_matches_eth_account() -> None:
    assert "0x" + ALICE.address.hex() == Account.from_key(ALICE.key).address.lower()


# --------------------------------------------------------------------------- recover
#
# LOW_S. The EVM's ECRECOVER precompile (address 0x01) returns the signer for any v in {27, 28}
# and 0 < r < n, 0 < s < n; it does *not* require low s (EIP-2 restricts s <= n/2 for transaction
# signatures only). So (r, n - s, v ^ 1) -- the "high-s twin" -- recovers the same signer there, and
# the protocol's on-chain verifier must add the low-s check itself, exactly as OpenZeppelin's
# ECDSA.tryRecover does: s <= 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0.
# That constant is floor(n / 2); n is odd, so "s <= n/2" and "s <= floor(n/2)" accept the same s.
# Everything else the precompile refuses (r or s zero or >= n, v not 27/28, r not the
# x-coordinate of a curve point) gives empty return data, i.e. address(0) in Vyper/Solidity.
# ``evm_ecrecover`` runs py-evm's precompile; ``recover`` must equal it with high s zeroed.

OZ_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
SECP256K1_P = 2**256 - 2**32 - 977


def evm_ecrecover(digest: bytes, v: int, r: int, s: int) -> bytes:
    """Return what the EVM's ecrecover(digest, v, r, s) returns (20 bytes, zero on failure)."""
    precompile = pytest.importorskip("eth.precompiles.ecrecover")
    data = digest + v.to_bytes(32, "big") + r.to_bytes(32, "big") + s.to_bytes(32, "big")
    computation = types.SimpleNamespace(
        msg=types.SimpleNamespace(data_as_bytes=data),
        output=b"",
        consume_gas=lambda *args, **kwargs: None,
    )
    out = precompile.ecrecover(computation).output
    return bytes(out[12:]) if out else ZERO_ADDRESS


def protocol_ecrecover(digest: bytes, v: int, r: int, s: int) -> bytes:
    """Return the on-chain verifier's result: the EVM's ecrecover plus the low-s rule."""
    return evm_ecrecover(digest, v, r, s) if s <= OZ_HALF_N else ZERO_ADDRESS


def sig(r: int, s: int, v: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])


def is_x_coordinate(x: int) -> bool:
    """Return whether x^3 + 7 is a square mod p (Euler's criterion)."""
    rhs = (pow(x, 3, SECP256K1_P) + 7) % SECP256K1_P
    return rhs == 0 or pow(rhs, (SECP256K1_P - 1) // 2, SECP256K1_P) == 1


DIGEST = bytes(range(32))
GOOD = eip712.sign(DIGEST, ALICE.key)
R, S, V = int.from_bytes(GOOD[:32], "big"), int.from_bytes(GOOD[32:64], "big"), GOOD[64]
R_NOT_ON_CURVE = next(x for x in range(1, 1000) if not is_x_coordinate(x))


def test_half_n_is_the_openzeppelin_low_s_bound() -> None:
    assert SECP256K1_HALF_N == OZ_HALF_N == SECP256K1_N // 2
    assert SECP256K1_N % 2 == 1


def test_sign_produces_low_s_and_v_27_or_28_and_recover_returns_the_signer() -> None:
    assert len(GOOD) == 65 and V in (27, 28) and 0 < S <= SECP256K1_HALF_N
    assert recover(DIGEST, GOOD) == ALICE.address
    assert evm_ecrecover(DIGEST, V, R, S) == ALICE.address


def test_a_good_signature_over_another_digest_recovers_someone_else() -> None:
    other = recover(b"\x01" * 32, GOOD)
    assert other not in (ALICE.address, ZERO_ADDRESS)


def test_the_high_s_twin_is_valid_on_the_evm_but_rejected_by_the_protocol() -> None:
    twin_s, twin_v = SECP256K1_N - S, 55 - V  # 55 - 27 = 28, 55 - 28 = 27
    twin = sig(R, twin_s, twin_v)
    # Plain ECDSA (libsecp256k1 recovery and the EVM precompile) accepts the twin ...
    pub = coincurve.PublicKey.from_signature_and_message(
        twin[:64] + bytes([twin_v - 27]), DIGEST, hasher=None
    )
    assert pub.format(compressed=False) == coincurve.PrivateKey(ALICE.key).public_key.format(
        compressed=False
    )
    assert evm_ecrecover(DIGEST, twin_v, R, twin_s) == ALICE.address
    # ... so only the low-s rule stops the malleated copy.
    assert recover(DIGEST, twin) == ZERO_ADDRESS


def test_s_equal_to_half_n_is_accepted_and_one_more_is_rejected() -> None:
    at_bound = recover(DIGEST, sig(R, SECP256K1_HALF_N, V))
    assert at_bound != ZERO_ADDRESS
    assert at_bound == evm_ecrecover(DIGEST, V, R, SECP256K1_HALF_N)
    assert recover(DIGEST, sig(R, SECP256K1_HALF_N + 1, V)) == ZERO_ADDRESS


INVALID_SIGNATURES = [
    pytest.param(b"", id="empty"),
    pytest.param(GOOD[:64], id="64-bytes"),
    pytest.param(GOOD + b"\x00", id="66-bytes"),
    pytest.param(GOOD[:64] + b"\x00", id="v-0"),
    pytest.param(GOOD[:64] + b"\x01", id="v-1"),
    pytest.param(GOOD[:64] + b"\x1a", id="v-26"),
    pytest.param(GOOD[:64] + b"\x1d", id="v-29"),
    pytest.param(GOOD[:64] + b"\xff", id="v-255"),
    pytest.param(sig(0, S, V), id="r-zero"),
    pytest.param(sig(SECP256K1_N, S, V), id="r-equal-n"),
    pytest.param(sig(2**256 - 1, S, V), id="r-max"),
    pytest.param(sig(R, 0, V), id="s-zero"),
    pytest.param(sig(R, SECP256K1_N, V), id="s-equal-n"),
    pytest.param(sig(R, SECP256K1_N - S, 55 - V), id="s-high-twin"),
    pytest.param(sig(R, SECP256K1_HALF_N + 1, V), id="s-half-n-plus-1"),
    pytest.param(sig(R, 2**256 - 1, V), id="s-max"),
    pytest.param(sig(R_NOT_ON_CURVE, S, V), id="r-not-a-curve-point"),
    pytest.param(sig(R_NOT_ON_CURVE, S, 55 - V), id="r-not-a-curve-point-other-v"),
    pytest.param(b"\x00" * 65, id="all-zero"),
    pytest.param(b"\xff" * 65, id="all-ff"),
]  # fmt: skip


@pytest.mark.parametrize("signature", INVALID_SIGNATURES)
def test_recover_returns_the_zero_address_for_an_invalid_signature(signature: bytes) -> None:
    assert recover(DIGEST, signature) == ZERO_ADDRESS


def test_the_off_curve_r_really_is_off_curve_and_in_range() -> None:
    assert 0 < R_NOT_ON_CURVE < SECP256K1_N and not is_x_coordinate(R_NOT_ON_CURVE)
    assert evm_ecrecover(DIGEST, V, R_NOT_ON_CURVE, S) == ZERO_ADDRESS


@given(st.binary(min_size=65, max_size=65), st.binary(min_size=32, max_size=32))
def test_recover_never_raises_on_random_65_byte_strings(signature: bytes, digest: bytes) -> None:
    assert len(recover(digest, signature)) == 20


@given(st.binary(max_size=130))
def test_recover_never_raises_on_random_bytes_of_any_length(signature: bytes) -> None:
    got = recover(DIGEST, signature)
    assert len(got) == 20
    if len(signature) != 65:
        assert got == ZERO_ADDRESS


SPECIAL_SCALARS = [
    0, 1, 2, R, S, SECP256K1_N - S, R_NOT_ON_CURVE, SECP256K1_HALF_N, SECP256K1_HALF_N + 1,
    SECP256K1_N - 1, SECP256K1_N, SECP256K1_N + 1, SECP256K1_P - 1, 2**256 - 1,
]  # fmt: skip
scalars = st.sampled_from(SPECIAL_SCALARS) | st.integers(0, 2**256 - 1)
v_bytes = st.sampled_from([27, 28]) | st.integers(0, 255)


@given(st.just(DIGEST) | st.binary(min_size=32, max_size=32), v_bytes, scalars, scalars)
def test_recover_agrees_with_evm_ecrecover_plus_the_low_s_rule(
    digest: bytes, v: int, r: int, s: int
) -> None:
    expected = protocol_ecrecover(digest, v, r, s)
    event("recovers an address" if expected != ZERO_ADDRESS else "zero address")
    assert recover(digest, sig(r, s, v)) == expected


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_recover_returns_the_zero_address_for_a_digest_that_is_not_32_bytes(length: int) -> None:
    assert recover(DIGEST, GOOD) == ALICE.address
    digest = DIGEST[:length] if length <= 32 else DIGEST + b"\x01" * (length - 32)
    assert recover(digest, GOOD) == ZERO_ADDRESS


@given(st.binary(min_size=32, max_size=32), st.integers(1, 2**256 - 1))
def test_recover_matches_coincurves_public_key_recovery(digest: bytes, key: int) -> None:
    secret = (key % (SECP256K1_N - 1) + 1).to_bytes(32, "big")
    signature = eip712.sign(digest, secret)
    pub = coincurve.PublicKey.from_signature_and_message(
        signature[:64] + bytes([signature[64] - 27]), digest, hasher=None
    )
    assert recover(digest, signature) == eip712.keccak(pub.format(compressed=False)[1:])[12:]


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_recover_takes_any_bytes_like_signature_and_digest(kind: type) -> None:
    assert recover(kind(DIGEST), kind(GOOD)) == ALICE.address
    assert recover(kind(DIGEST), kind(GOOD[:64] + b"\x1d")) == ZERO_ADDRESS
