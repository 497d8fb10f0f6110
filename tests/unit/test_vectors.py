"""Check the golden state-transition vectors in ``tests/vectors/*.json``.

* Each case is replayed from its file alone: the pre-state trie is rebuilt from the listed
  leaves (so the list is complete), the transaction is applied by the reference STF, and the
  reason, party, post-state root and changed leaves must be exactly the recorded ones. The MPT
  proofs must verify against the pre-state root, and must be enough on their own to execute the
  transaction and compute the post-state root (what an on-chain step verifier gets).
* ``tests/vectors/generate.py`` must reproduce every file byte for byte, so a rule change that
  is not followed by ``make vectors`` fails here.
* Every reason code, and every maker/taker variant of a FILL reason, appears in some vector
  (or is listed, with the reason why, in an explicit allow-list).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from optirollup.codec import eip712
from optirollup.codec.tx import TX_LENGTHS, TxType
from optirollup.state import mpt
from optirollup.state.keys import (
    SYSTEM_KEY,
    account_key,
    market_key,
    order_key,
    withdrawal_key,
)
from optirollup.state.leaves import Account, Market, OrderState, System, Withdrawal
from optirollup.state.overlay import StateOverlay
from optirollup.state.store import MemoryStore
from optirollup.stf import BatchContext, Party, Reason, apply

VECTOR_DIR = Path(__file__).resolve().parents[1] / "vectors"
EXPECTED_FILES = {
    "deposit.json", "withdraw.json", "oracle_update.json", "funding_tick.json", "fill.json",
    "cancel.json", "cancel_all.json", "list_market.json", "reserved.json", "malformed.json",
}  # fmt: skip

# Reason codes that no transaction of this protocol version can produce, so no vector shows
# them. Every entry needs a comment saying why; today every code is reachable.
REASONS_WITHOUT_VECTOR: dict[Reason, str] = {}

# The parties each FILL reason can name (transition.py, _fill): both orders are checked in turn
# for these, so each side needs its own vector.
FILL_PARTIES: dict[Reason, set[Party]] = {
    Reason.BAD_ORDER: {Party.MAKER, Party.TAKER},
    Reason.BAD_SIGNATURE: {Party.MAKER, Party.TAKER},
    Reason.IOC_MAKER: {Party.MAKER},
    Reason.POST_ONLY: {Party.TAKER},
    Reason.EXPIRED: {Party.MAKER, Party.TAKER},
    Reason.CANCELLED: {Party.MAKER, Party.TAKER},
    Reason.BAD_TICK: {Party.MAKER, Party.TAKER},
    Reason.BAD_LOT: {Party.MAKER, Party.TAKER, Party.NONE},
    Reason.OVERFILL: {Party.MAKER, Party.TAKER},
    Reason.FEE_CAP: {Party.MAKER, Party.TAKER},
    Reason.REDUCE_ONLY: {Party.MAKER, Party.TAKER},
    Reason.TOO_MANY_POSITIONS: {Party.MAKER, Party.TAKER},
    Reason.RANGE: {Party.MAKER, Party.TAKER, Party.NONE},
    Reason.INSUFFICIENT_MARGIN: {Party.MAKER, Party.TAKER},
    Reason.MARKET_MISMATCH: {Party.NONE},
    Reason.SAME_SIDE: {Party.NONE},
    Reason.SELF_TRADE: {Party.NONE},
    Reason.MARKET_NOT_FOUND: {Party.NONE},
    Reason.UNSUPPORTED: {Party.NONE},
    Reason.NO_PRICE: {Party.NONE},
    Reason.PRICE_NOT_CROSSING: {Party.NONE},
    Reason.OK: {Party.NONE},
}


def _b(h: str) -> bytes:
    assert h.startswith("0x"), h
    return bytes.fromhex(h[2:])


def _load() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in sorted(VECTOR_DIR.glob("*.json")):
        for case in json.loads(path.read_text()):
            cases.append((path.name, case))
    return cases


CASES = _load()


@cache
def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vector_generator", VECTOR_DIR / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def _trie(leaves: dict[bytes, bytes]) -> tuple[MemoryStore, bytes]:
    store = MemoryStore()
    return store, mpt.bulk_update(store, mpt.EMPTY_ROOT, leaves)


def _check_leaf(leaf: dict[str, Any]) -> None:
    """Check that a leaf's key, kind, value and decoded form agree with each other."""
    key, value, d = _b(leaf["key"]), _b(leaf["value"]), leaf["decoded"]
    kind = leaf["kind"]
    if kind == "account":
        a = Account.decode(value)
        assert key == account_key(_b(d["address"])) and a.address == _b(d["address"])
        assert (a.collateral, a.nonce, a.cancel_floor) == (
            d["collateral"], d["nonce"], d["cancel_floor"],
        )  # fmt: skip
        got = [{"market": p.market, "size": p.size, "funding_snapshot": p.funding_snapshot}
               for p in a.positions]  # fmt: skip
        assert got == d["positions"]
    elif kind == "order":
        o = OrderState.decode(value)
        assert key == order_key(_b(d["account"]), _b(d["order_hash"]))
        assert (o.filled, o.cancelled) == (d["filled"], d["cancelled"])
    elif kind == "market":
        m = Market.decode(value)
        assert key == market_key(d["market_id"])
        for f in Market.__dataclass_fields__:
            v = getattr(m, f)
            assert (("0x" + v.hex()) if isinstance(v, bytes) else v) == d[f], f
    elif kind == "system":
        s = System.decode(value)
        assert key == SYSTEM_KEY
        assert (s.oracle, s.next_deposit_index, s.next_withdrawal_id, s.fee_balance,
                s.insurance_balance) == (_b(d["oracle"]), d["next_deposit_index"],
                                         d["next_withdrawal_id"], d["fee_balance"],
                                         d["insurance_balance"])  # fmt: skip
    elif kind == "withdrawal":
        w = Withdrawal.decode(value)
        assert key == withdrawal_key(d["withdrawal_id"])
        assert (w.account, w.recipient, w.amount) == (
            _b(d["account"]), _b(d["recipient"]), d["amount"],
        )  # fmt: skip
    else:
        raise AssertionError(f"unknown leaf kind {kind}")


def _context(case: dict[str, Any]) -> BatchContext:
    c = case["context"]
    separator = _b(c["separator"])
    assert separator == eip712.domain_separator(c["chain_id"], _b(c["verifying_contract"]))
    return BatchContext(c["batch_time"], separator, [_b(h) for h in c["deposit_hashes"]])


# --------------------------------------------------------------------------- (a) each case


def test_every_transaction_type_has_its_vector_file() -> None:
    assert {p.name for p in VECTOR_DIR.glob("*.json")} == EXPECTED_FILES


@pytest.mark.parametrize(
    "case", [c for _, c in CASES], ids=[f"{f[:-5]}:{c['name']}" for f, c in CASES]
)
def test_vector_replays_from_its_file_alone(case: dict[str, Any]) -> None:
    pre_leaves = {_b(leaf["key"]): _b(leaf["value"]) for leaf in case["pre_state"]["leaves"]}
    for leaf in case["pre_state"]["leaves"]:
        _check_leaf(leaf)
    store, pre_root = _trie(pre_leaves)
    assert "0x" + pre_root.hex() == case["pre_state"]["root"], "pre-state leaves are incomplete"

    state = StateOverlay(store, pre_root)
    receipt = apply(state, _b(case["tx"]), _context(case))
    expected = case["expected"]
    assert (receipt.reason.name, int(receipt.reason), receipt.party.name) == (
        expected["reason"], expected["reason_code"], expected["party"],
    )  # fmt: skip
    post_root = state.root()
    assert "0x" + post_root.hex() == case["post_state"]["root"]

    changed = {_b(leaf["key"]): _b(leaf["value"]) for leaf in case["post_state"]["changed_leaves"]}
    for leaf in case["post_state"]["changed_leaves"]:
        _check_leaf(leaf)
    if not receipt.ok:
        assert post_root == pre_root and not changed
    # the pre-state with the changed leaves applied is exactly the post-state
    assert _trie({**pre_leaves, **changed})[1] == post_root
    assert all(pre_leaves.get(k) != v for k, v in changed.items()), "an unchanged leaf is listed"

    # every proof verifies, and the proofs alone let a verifier execute the transaction
    proofs = {_b(k): [_b(n) for n in nodes] for k, nodes in case["proofs"].items()}
    assert set(changed) <= set(proofs), "a written leaf has no pre-state proof"
    witness = MemoryStore()
    for key, nodes in proofs.items():
        assert mpt.verify_proof(pre_root, key, nodes) == pre_leaves.get(key, b"")
        for node in nodes:
            witness[mpt.keccak(node)] = node
    on_chain = StateOverlay(witness, pre_root)
    assert apply(on_chain, _b(case["tx"]), _context(case)) == receipt
    assert on_chain.root() == post_root


# --------------------------------------------------------------------------- (b) regeneration


def test_the_generator_reproduces_every_vector_file_byte_for_byte() -> None:
    files = _generator().build_all()
    assert set(files) == EXPECTED_FILES
    for name, text in sorted(files.items()):
        committed = (VECTOR_DIR / name).read_text()
        assert text == committed, f"{name} is stale: run `make vectors` and commit the result"


# --------------------------------------------------------------------------- (c) coverage


def test_every_reason_code_appears_in_some_vector() -> None:
    seen = {Reason[c["expected"]["reason"]] for _, c in CASES}
    missing = set(Reason) - {Reason.OK} - seen - set(REASONS_WITHOUT_VECTOR)
    assert not missing, f"no vector produces {sorted(r.name for r in missing)}"
    assert not seen & set(REASONS_WITHOUT_VECTOR), "an allow-listed reason has a vector now"


def test_every_fill_reason_has_a_vector_for_each_party_it_can_name() -> None:
    seen: dict[Reason, set[Party]] = {}
    for file, c in CASES:
        if file == "fill.json" and len(c["tx"]) == 2 + 2 * TX_LENGTHS[TxType.FILL]:
            seen.setdefault(Reason[c["expected"]["reason"]], set()).add(
                Party[c["expected"]["party"]]
            )
    for reason, parties in FILL_PARTIES.items():
        assert seen.get(reason, set()) == parties, reason.name
    assert set(seen) <= set(FILL_PARTIES), "a FILL reason is missing from FILL_PARTIES"


@pytest.mark.parametrize("file", sorted(EXPECTED_FILES - {"malformed.json", "reserved.json"}))
def test_every_transaction_type_has_valid_and_malformed_vectors(file: str) -> None:
    reasons = {c["expected"]["reason"] for f, c in CASES if f == file}
    assert {"OK", "MALFORMED"} <= reasons
