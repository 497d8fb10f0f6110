"""The step runner (contracts/steps/StepRunner.vy) and its rules vs the reference STF, on anvil.

Every golden vector of every type is replayed through the runner; DEPOSIT is also fuzzed here
(the other types' properties are in ``test_steps_property.py`` and the rules' own tests); the
witness format and every way to break a witness are tested on a DEPOSIT and a FILL.

The reference is ``optirollup.stf.apply`` over a ``StateOverlay``; witnesses come from
``optirollup.dispute.witness`` (the one place they are built); deposit hashes come from real
``Vault.deposit`` calls, except where the real Vault refuses the queue entry a case needs (an
amount of 0), which a queue stand-in holds instead. Gas figures are printed (``pytest -s``).
"""

# ruff: noqa: E402  (conftest_steps is registered for assertion rewriting before it is imported)

from __future__ import annotations

import importlib.util
import json
import os
import random
import sys
from dataclasses import dataclass, replace
from typing import Any

import pytest

pytest.register_assert_rewrite("conftest_steps")

from conftest_steps import U64_MAX, VECTORS, StepChain, revert_message, trie_of
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, event, example, given, seed, settings
from hypothesis import strategies as st
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from optirollup.codec.batch import encode_tx_list
from optirollup.dispute import (
    BadWitness,
    batch_hash,
    build_step_witness,
    build_witness,
    decode_witness,
    encode_witness,
    step_inputs,
)
from optirollup.dispute.witness import MAX_NODE as WITNESS_MAX_NODE
from optirollup.dispute.witness import MAX_VALUE as WITNESS_MAX_VALUE
from optirollup.hashing import keccak
from optirollup.l1.contracts import load
from optirollup.l1.deploy import ALL_RULES, bind, deploy, devnet_params
from optirollup.state import mpt
from optirollup.state.keys import SYSTEM_KEY, account_key
from optirollup.state.leaves import Account, Position, System
from optirollup.state.overlay import StateOverlay, genesis_root
from optirollup.state.store import LayeredStore, MemoryStore
from optirollup.stf import BatchContext, Reason, apply
from optirollup.stf.batch import trace
from optirollup.testkit import (
    WORST_CASE_BATCH_TIME,
    Signer,
    Trader,
    deposit_tx,
    worst_case_steps,
)
from optirollup.units import MAX_COLLATERAL, MAX_FUNDING_INDEX, MAX_POSITION_SIZE, U32_MAX

pytest_plugins = ["conftest_steps"]

DEPOSIT_VECTORS: list[dict[str, Any]] = json.loads((VECTORS / "deposit.json").read_text())
ALL_VECTORS: list[dict[str, Any]] = [
    v for f in sorted(VECTORS.glob("*.json")) for v in json.loads(f.read_text())
]
ORACLE = Trader.of("oracle")
SEPARATOR = b"\x5e" * 32
T = 1_700_000_000
MPT_MAX_VALUE = WITNESS_MAX_VALUE  # contracts/lib/mpt.vy MAX_VALUE
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
ZERO = "0x" + "00" * 20


def h(text: str) -> bytes:
    """Decode a 0x-hex string of the vector files."""
    return bytes.fromhex(text.removeprefix("0x"))


def reference_root(store: Any, pre_root: bytes, tx: bytes, ctx: BatchContext) -> bytes:
    """Return the post-root the reference STF computes (``apply`` on a fresh overlay)."""
    overlay = StateOverlay(store, pre_root)
    apply(overlay, tx, ctx)
    return overlay.root()


# --------------------------------------------------------------------------- golden vectors


def _known_deposits() -> dict[bytes, tuple[bytes, int]]:
    """Map deposit hashes to their ``(account, amount)``: every DEPOSIT of the vector file and
    the queue of the vector generator (whose entries are only hashes in the file)."""
    spec = importlib.util.spec_from_file_location("_vectors_generate", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = generator  # dataclasses look their module up there
    spec.loader.exec_module(generator)
    txs = [*generator.QUEUE_TXS, *(h(v["tx"]) for v in DEPOSIT_VECTORS)]
    return {keccak(t): (t[9:29], int.from_bytes(t[29:37], "big")) for t in txs if len(t) == 37}


@pytest.fixture(scope="module")
def known_deposits() -> dict[bytes, tuple[bytes, int]]:
    return _known_deposits()


def _vault_queue(vector: dict[str, Any], known: dict[bytes, tuple[bytes, int]]) -> list[Any] | None:
    """Return the real deposits that reproduce the vector's queue, or None if the Vault can't."""
    entries = [known.get(h(x)) for x in vector["context"]["deposit_hashes"]]
    if all(e is not None and 1 <= e[1] <= U64_MAX for e in entries):
        return entries
    return None


def test_only_the_zero_amount_vector_needs_the_queue_stand_in(known_deposits: Any) -> None:
    needs_stub = {v["name"] for v in DEPOSIT_VECTORS if _vault_queue(v, known_deposits) is None}
    assert needs_stub == {"deposit_of_zero"}


def test_the_golden_vectors_cover_every_type_and_outcome() -> None:
    types = {h(v["tx"])[0] for v in ALL_VECTORS if v["tx"] != "0x"}
    assert set(range(1, 13)) <= types
    assert len(ALL_VECTORS) == 191


@pytest.mark.parametrize("vector", ALL_VECTORS, ids=[v["name"] for v in ALL_VECTORS])
def test_golden_vector_gives_the_same_post_root_on_chain(
    step_chain: StepChain, known_deposits: Any, vector: dict[str, Any]
) -> None:
    store, pre_root = trie_of({h(x["key"]): h(x["value"]) for x in vector["pre_state"]["leaves"]})
    assert pre_root == h(vector["pre_state"]["root"])
    tx = h(vector["tx"])
    context = vector["context"]
    hashes = [h(x) for x in context["deposit_hashes"]]
    ctx = BatchContext(context["batch_time"], h(context["separator"]), hashes)
    expected = h(vector["post_state"]["root"])

    built = build_step_witness(store, pre_root, tx, ctx)
    assert built.receipt.reason.name == vector["expected"]["reason"]
    assert built.post_root == expected == reference_root(store, pre_root, tx, ctx)
    for key, proof in zip(built.reads, built.proofs, strict=False):
        assert [n.hex() for n in proof] == [x[2:] for x in vector["proofs"]["0x" + key.hex()]]

    if not tx or not 1 <= tx[0] <= 8:
        # MALFORMED (an unknown type byte) or a reserved type: the DisputeGame decides these
        # itself (post-root = pre-root) and the runner has no rule for them.
        assert expected == pre_root and built.encode() == b"\x00"
        assert step_chain.reverts(step_chain.runner, pre_root, tx, 0, 0, b"\x00") == "step: no rule"
        return
    verifier = step_chain.runner
    if tx[0] == 0x01:
        entries = _vault_queue(vector, known_deposits)
        if entries is not None:
            assert step_chain.queue(entries) == hashes  # genuine hashes, from real deposits
        else:
            step_chain.stub_queue(hashes)
            verifier = step_chain.stub_runner
    post = step_chain.call(verifier, pre_root, tx, ctx.batch_time, len(hashes), built.encode())
    assert post == expected


# --------------------------------------------------------------------------- property


@dataclass
class Scenario:
    """A random pre-state, deposit queue and DEPOSIT transaction."""

    leaves: dict[bytes, bytes]
    queue: list[tuple[bytes, int]]
    tx: bytes
    deposit_count: int
    stub: bool


def _random_account(rng: random.Random, address: bytes) -> Account:
    """Return an account with random fields (positions trimmed to the MPT library's MAX_VALUE)."""
    markets = sorted(rng.sample(range(1, 40), rng.randrange(0, 9)))
    positions = tuple(
        Position(
            m,
            rng.choice([-1, 1]) * rng.randrange(1, MAX_POSITION_SIZE + 1),
            rng.randrange(-MAX_FUNDING_INDEX, MAX_FUNDING_INDEX + 1),
        )
        for m in markets
    )
    acc = Account(
        address,
        rng.choice(
            [0, rng.randrange(-(10**15), 10**15), rng.randrange(-MAX_COLLATERAL, MAX_COLLATERAL)]
        ),
        rng.randrange(0, 4),
        rng.randrange(0, 4),
        positions,
    )
    while len(acc.encode()) > MPT_MAX_VALUE:
        acc = replace(acc, positions=acc.positions[:-1])
    return acc


amounts = st.one_of(st.integers(1, 10**12), st.sampled_from([1, 2, U64_MAX, U64_MAX - 1]))
collaterals = st.one_of(
    st.integers(-MAX_COLLATERAL, MAX_COLLATERAL),
    st.integers(-(10**15), 10**15),
    st.integers(MAX_COLLATERAL - 2**40, MAX_COLLATERAL),  # near the top: check 4 fails or not
    st.sampled_from([0, -1, MAX_COLLATERAL, MAX_COLLATERAL - 1, -MAX_COLLATERAL]),
)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    rng = random.Random(draw(st.integers(0, 2**32)))
    n = draw(st.integers(1, 200))
    accounts = [_random_account(rng, rng.randbytes(20)) for _ in range(n)]
    # The credited account: an existing one (collateral drawn, edges included) or an absent one.
    if draw(st.booleans()):
        i = draw(st.integers(0, n - 1))
        accounts[i] = replace(accounts[i], collateral=draw(collaterals))
        target = accounts[i].address
    else:
        target = rng.randbytes(20)
    others = [a.address for a in accounts] + [rng.randbytes(20)]
    stub = draw(st.integers(0, 4)) == 0  # queue entries the Vault refuses (amount 0)
    length = draw(st.sampled_from([0, 1, 1, 2, 3, 4, 6]))
    queue = [
        (
            target if draw(st.integers(0, 3)) else rng.choice(others),
            draw(st.sampled_from([0, 1])) if stub and draw(st.booleans()) else draw(amounts),
        )
        for _ in range(length)
    ]
    if length and draw(st.integers(0, 5)):
        next_index = draw(st.integers(0, length - 1))  # the next entry is queued
    else:
        next_index = draw(st.one_of(st.integers(0, length + 1), st.integers(0, U64_MAX)))
    leaves = {account_key(a.address): a.encode() for a in accounts}
    leaves[SYSTEM_KEY] = System(
        rng.randbytes(20), next_index, rng.randrange(0, 10), rng.randrange(0, 10**9), 0
    ).encode()
    # The transaction: usually the next queue entry; else another entry (out of order), a
    # tampered entry, or an index the queue does not have.
    kind = draw(st.sampled_from(["next"] * 6 + ["entry", "tampered", "unknown"]))
    if queue and kind != "unknown":
        j = (
            next_index
            if kind == "next" and next_index < length
            else draw(st.integers(0, length - 1))
        )
        account, amount = queue[j]
        if kind == "tampered":
            if draw(st.booleans()):
                amount = (amount + draw(st.integers(1, 5))) % 2**64
            else:
                account = rng.randbytes(20)
        tx = deposit_tx(j, account, amount)
    else:
        tx = deposit_tx(draw(st.integers(0, length + 2)), target, draw(amounts))
    deposit_count = length if draw(st.integers(0, 5)) else draw(st.integers(0, length))
    return Scenario(leaves, queue, tx, deposit_count, stub)


def _fixed(reason: Reason) -> Scenario:
    """Return a scenario that ends in ``reason`` (every outcome runs in every profile)."""
    rng = random.Random(int(reason))
    accounts = [_random_account(rng, rng.randbytes(20)) for _ in range(30)]
    target = accounts[7].address
    accounts[7] = replace(accounts[7], collateral=MAX_COLLATERAL - 5)
    leaves = {account_key(a.address): a.encode() for a in accounts}
    leaves[SYSTEM_KEY] = System(ORACLE.address, 1).encode()
    queue = [(target, 3), (target, 0 if reason == Reason.BAD_AMOUNT else 5)]
    index = 0 if reason == Reason.DEPOSIT_OUT_OF_ORDER else 1
    amount = {Reason.RANGE: 6, Reason.OK: 5}.get(reason, queue[index][1])
    queue[index] = (target, amount)
    if reason == Reason.DEPOSIT_UNKNOWN:
        return Scenario(leaves, queue, deposit_tx(1, target, 4), 2, False)
    return Scenario(
        leaves, queue, deposit_tx(index, target, amount), 2, reason == Reason.BAD_AMOUNT
    )


@seed(20261124)
@settings(
    max_examples=1000 if LONG else 50,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    deadline=None,
)
@given(scenarios())
@example(_fixed(Reason.OK))
@example(_fixed(Reason.DEPOSIT_UNKNOWN))
@example(_fixed(Reason.DEPOSIT_OUT_OF_ORDER))
@example(_fixed(Reason.BAD_AMOUNT))
@example(_fixed(Reason.RANGE))
def test_on_chain_step_root_equals_python_apply_root(steps_chain: StepChain, s: Scenario) -> None:
    chain = steps_chain
    chain.reset()
    store, pre_root = trie_of(s.leaves)
    if s.stub:
        hashes = [keccak(deposit_tx(i, a, amount)) for i, (a, amount) in enumerate(s.queue)]
        chain.stub_queue(hashes)
        verifier = chain.stub_runner
    else:
        hashes = chain.queue(s.queue)
        verifier = chain.runner
    ctx = BatchContext(T, SEPARATOR, hashes[: s.deposit_count])
    expected = reference_root(store, pre_root, s.tx, ctx)
    built = build_step_witness(store, pre_root, s.tx, ctx)
    assert built.post_root == expected
    event(f"{built.receipt.reason.name}, {'stand-in' if s.stub else 'Vault'}")
    assert chain.call(verifier, pre_root, s.tx, T, s.deposit_count, built.encode()) == expected


# --------------------------------------------------------------------------- malformed witnesses


@dataclass
class Case:
    """A valid DEPOSIT step on a small state, to be broken."""

    chain: StepChain
    store: Any
    pre_root: bytes
    tx: bytes
    ctx: BatchContext
    keys: list[bytes]
    """The keys read: system, then the account."""
    proofs: list[list[bytes]]
    """Proofs of system and the account (reads), then of system after the account write."""
    other_key: bytes
    other_proof: list[bytes]
    """Another account's key and proof against the pre-state root."""

    def encode(
        self, keys: list[bytes] | None = None, proofs: list[list[bytes]] | None = None
    ) -> bytes:
        """Encode a witness (the case's own by default) without the builder's checks."""
        keys = self.keys if keys is None else keys
        proofs = self.proofs if proofs is None else proofs
        out = bytearray([len(keys)])
        for i, proof in enumerate(proofs):
            if i < len(keys):
                out += keys[i]
            out += bytes([len(proof)]) + b"".join(len(n).to_bytes(2, "big") + n for n in proof)
        return bytes(out)


@pytest.fixture
def case(step_chain: StepChain) -> Case:
    rng = random.Random(7)
    alice = Trader.of("alice").address
    accounts = [Account(rng.randbytes(20), rng.randrange(10**9)) for _ in range(40)]
    accounts.append(Account(alice, 5, 1, 0, (Position(3, -7, -11),)))
    leaves = {account_key(a.address): a.encode() for a in accounts}
    leaves[SYSTEM_KEY] = System(ORACLE.address, 2).encode()
    store, pre_root = trie_of(leaves)
    hashes = step_chain.queue([(alice, 1), (alice, 2), (alice, 3)])
    tx = deposit_tx(2, alice, 3)
    ctx = BatchContext(T, SEPARATOR, hashes)
    built = build_step_witness(store, pre_root, tx, ctx)
    assert built.receipt.reason == Reason.OK and len(built.proofs) == 3
    assert list(built.reads) == [SYSTEM_KEY, account_key(alice)]
    other = account_key(accounts[0].address)
    other_proof = mpt.get_proof(store, pre_root, other)
    case = Case(
        step_chain, store, pre_root, tx, ctx, list(built.reads), [list(p) for p in built.proofs],
        other, other_proof,
    )  # fmt: skip
    assert case.encode() == built.encode()
    return case


def _flip_last_byte(node: bytes) -> bytes:
    return node[:-1] + bytes([node[-1] ^ 1])


def _tamper(proof: list[bytes]) -> list[bytes]:
    return [*proof[:-1], _flip_last_byte(proof[-1])]


_NODE_OVER = (WITNESS_MAX_NODE + 1).to_bytes(2, "big") + b"\xc0" * (WITNESS_MAX_NODE + 1)

MUTATIONS: dict[str, tuple[Any, str]] = {
    # format
    "truncated by one byte": (lambda c: c.encode()[:-1], "step: malformed witness"),
    "cut inside a node's length": (
        lambda c: c.encode(proofs=c.proofs[:2]) + b"\x03\x00",
        "step: malformed witness",
    ),
    "cut inside a key": (lambda c: c.encode()[:20], "step: malformed witness"),
    "a trailing byte": (lambda c: c.encode() + b"\x00", "step: witness too long"),
    "an extra proof": (
        lambda c: c.encode(proofs=[*c.proofs, c.proofs[0]]),
        "step: witness too long",
    ),
    "the last proof missing": (lambda c: c.encode(proofs=c.proofs[:2]), "step: missing proof"),
    "empty": (lambda c: b"", "step: missing proof"),
    "more than 22 reads": (lambda c: b"\x17" + c.encode()[1:], "step: malformed witness"),
    "a node count over 65": (
        lambda c: c.encode()[:33] + b"\x42" + c.encode()[34:],
        "step: malformed witness",
    ),
    "a zero-length node": (
        lambda c: c.encode()[:33] + b"\x01\x00\x00" + c.encode()[33:],
        "step: malformed witness",
    ),
    "a node over MAX_NODE bytes": (
        lambda c: c.encode()[:33] + b"\x01" + _NODE_OVER + c.encode()[33:],
        "step: malformed witness",
    ),
    # reads the rule does not make, or lacks
    "a read the rule does not make": (
        lambda c: c.encode([*c.keys, c.other_key], [*c.proofs[:2], c.other_proof, c.proofs[2]]),
        "step: unused proof",
    ),
    "a read proven twice": (
        lambda c: c.encode([*c.keys, c.keys[0]], [*c.proofs[:2], c.proofs[0], c.proofs[2]]),
        "step: unused proof",
    ),
    "the account read missing": (
        lambda c: c.encode(c.keys[:1], [c.proofs[0], c.proofs[2]]),
        "rule: missing proof",
    ),
    # content
    "a tampered system leaf": (
        lambda c: c.encode(proofs=[_tamper(c.proofs[0]), *c.proofs[1:]]),
        "mpt: bad node hash",
    ),
    "a tampered account leaf": (
        lambda c: c.encode(proofs=[c.proofs[0], _tamper(c.proofs[1]), c.proofs[2]]),
        "mpt: bad node hash",
    ),
    "another account's proof": (
        lambda c: c.encode(proofs=[c.proofs[0], c.other_proof, c.proofs[2]]),
        "mpt: ",
    ),
    "a proof for another key": (
        lambda c: c.encode([c.keys[0], c.other_key], c.proofs),
        "mpt: ",
    ),
    "the proofs in the wrong order": (
        lambda c: c.encode(proofs=[c.proofs[1], c.proofs[0], c.proofs[2]]),
        "mpt: ",
    ),
    "a stale system proof for the write": (
        lambda c: c.encode(proofs=[*c.proofs[:2], c.proofs[0]]),
        "mpt: bad node hash",
    ),
    "the root node dropped": (
        lambda c: c.encode(proofs=[c.proofs[0][1:], *c.proofs[1:]]),
        "mpt: bad node hash",
    ),
    "an extra node in a proof": (
        lambda c: c.encode(proofs=[[*c.proofs[0], c.proofs[0][-1]], *c.proofs[1:]]),
        "mpt: extra proof nodes",
    ),
}


def test_the_valid_witness_of_the_malformed_cases_is_accepted(case: Case) -> None:
    root = case.chain.call(case.chain.runner, case.pre_root, case.tx, T, 3, case.encode())
    assert root == reference_root(case.store, case.pre_root, case.tx, case.ctx) != case.pre_root


@pytest.mark.parametrize("name", list(MUTATIONS), ids=list(MUTATIONS))
def test_a_malformed_witness_reverts_with_a_message(case: Case, name: str) -> None:
    mutate, expected = MUTATIONS[name]
    message = case.chain.reverts(case.chain.runner, case.pre_root, case.tx, T, 3, mutate(case))
    assert message.startswith(expected), message


@pytest.mark.parametrize(
    ("tx", "count", "expected"),
    [
        (deposit_tx(3, b"\x01" * 20, 5), 3, "step: unused proof"),
        (deposit_tx(2, b"\x01" * 20, 5)[:-1], 3, "step: unused proof"),
        (b"\x09" + bytes(85), 3, "step: no rule"),
        (b"", 3, "step: no rule"),
    ],
    ids=[
        "a read for an unknown deposit",
        "a read for a short DEPOSIT",
        "a reserved type",
        "an empty transaction",
    ],
)
def test_a_read_where_none_is_made_or_a_type_without_a_rule_reverts(
    case: Case, tx: bytes, count: int, expected: str
) -> None:
    witness = case.encode(case.keys[:1], case.proofs[:1])
    assert case.chain.reverts(case.chain.runner, case.pre_root, tx, T, count, witness) == expected


@pytest.fixture(scope="module")
def fill_case() -> tuple[Any, bytes, bytes, BatchContext, Any]:
    """The applied worst-case FILL (20 reads, 5 writes) on a small state, to be broken."""
    case = worst_case_steps(200, Signer())
    store, root = trie_of(case.leaves)
    ctx = BatchContext(WORST_CASE_BATCH_TIME, Signer().separator, [keccak(case.steps[0][1])])
    for what, tx in case.steps:
        built = build_step_witness(store, root, tx, ctx)
        if what.startswith("FILL, applied"):
            assert len(built.reads) == 20 and len(built.writes) == 5
            return store, root, tx, ctx, built
        overlay = StateOverlay(store, root)
        apply(overlay, tx, ctx)
        root = overlay.root()
        store.update(overlay.pending_nodes())
    raise AssertionError("no applied FILL among the worst cases")


def _fill_mutations(built: Any) -> dict[str, tuple[bytes, str]]:
    reads, proofs = list(built.reads), [list(p) for p in built.proofs]
    swapped = [reads[1], reads[0], *reads[2:]]
    # The maker order's write proof replaced by the taker account's proof at the pre-root.
    stale = [*proofs[:21], proofs[2], *proofs[22:]]
    return {
        "two read keys swapped": (encode_witness(swapped, proofs), "mpt: "),
        "a market read missing": (
            encode_witness(reads[:-2] + reads[-1:], proofs[:18] + proofs[19:]),
            "rule: missing proof",
        ),
        "the last write proof missing": (encode_witness(reads, proofs[:-1]), "step: missing proof"),
        "a stale proof for a write": (encode_witness(reads, stale), "mpt: bad node hash"),
        "truncated inside the last proof": (built.encode()[:-5], "step: malformed witness"),
        "a proof appended": (encode_witness(reads, [*proofs, proofs[0]]), "step: witness too long"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "two read keys swapped",
        "a market read missing",
        "the last write proof missing",
        "a stale proof for a write",
        "truncated inside the last proof",
        "a proof appended",
    ],
)
def test_a_broken_fill_witness_reverts_with_a_message(
    step_chain: StepChain, fill_case: Any, name: str
) -> None:
    store, root, tx, ctx, built = fill_case
    assert step_chain.call(step_chain.runner, root, tx, ctx.batch_time, 1, built.encode()) == (
        built.post_root
    )
    witness, expected = _fill_mutations(built)[name]
    message = step_chain.reverts(step_chain.runner, root, tx, ctx.batch_time, 1, witness)
    assert message.startswith(expected), message


def test_the_longest_account_leaf_fits_the_mpt_value_limit() -> None:
    """The protocol's longest account leaf (8 positions, extreme values) is 662 bytes."""
    big = Account(
        Trader.of("big").address,
        -1,
        U64_MAX,
        U64_MAX,
        tuple(Position(U32_MAX - 8 + i, -1, -1) for i in range(8)),
    )
    assert len(big.encode()) == 662 <= WITNESS_MAX_VALUE
    store, pre_root = trie_of(
        {account_key(big.address): big.encode(), SYSTEM_KEY: System(ORACLE.address).encode()}
    )
    tx = deposit_tx(0, big.address, 1)
    assert build_witness(store, pre_root, tx, BatchContext(T, SEPARATOR, [keccak(tx)]))


def _raw_witness(proofs: list[list[bytes]]) -> bytes:
    """Encode proofs without the builder's size checks (to show what the verifier does)."""
    return b"".join(
        bytes([len(p)]) + b"".join(len(n).to_bytes(2, "big") + n for n in p) for p in proofs
    )


def test_a_deposit_to_an_account_with_eight_short_positions_is_provable(
    step_chain: StepChain,
) -> None:
    acc = Account(
        Trader.of("crowded").address,
        10**10,
        5,
        5,
        tuple(Position(i + 1, -(10**8), -999_041_111_181) for i in range(8)),
    )
    assert len(acc.encode()) == 587  # eight shorts with a negative funding index
    store, pre_root = trie_of(
        {account_key(acc.address): acc.encode(), SYSTEM_KEY: System(ORACLE.address).encode()}
    )
    hashes = step_chain.queue([(acc.address, 1)])
    tx = deposit_tx(0, acc.address, 1)
    ctx = BatchContext(T, SEPARATOR, hashes)
    expected = reference_root(store, pre_root, tx, ctx)
    witness = build_witness(store, pre_root, tx, ctx)
    try:
        root = step_chain.call(step_chain.runner, pre_root, tx, T, 1, witness)
    except ContractLogicError as err:
        pytest.fail(f"reverted: {revert_message(err)}")
    assert root == expected


# --------------------------------------------------------------------------- witness codec


@given(
    st.lists(st.binary(min_size=32, max_size=32), max_size=4),
    st.lists(
        st.lists(st.binary(min_size=1, max_size=WITNESS_MAX_NODE), max_size=5),
        max_size=4,
    ),
)
def test_witness_encoding_round_trips(keys: list[bytes], writes: list[list[bytes]]) -> None:
    proofs = [[b"\x80"]] * len(keys) + writes
    assert decode_witness(encode_witness(keys, proofs)) == (keys, proofs)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x17",
        b"\x01" + b"\x00" * 31,
        b"\x01" + b"\x00" * 32,
        b"\x00\x01",
        b"\x00\x01\x00",
        b"\x00\x01\x00\x00",
        b"\x00\x01" + (WITNESS_MAX_NODE + 1).to_bytes(2, "big") + b"\x00" * (WITNESS_MAX_NODE + 1),
        b"\x00\x42",
        b"\x00\x01\x00\x05abcd",
    ],
    ids=[
        "empty",
        "23 reads",
        "key cut short",
        "key without a proof",
        "no length",
        "half a length",
        "zero length",
        "node over MAX_NODE",
        "66 nodes",
        "node past the end",
    ],
)
def test_witness_decoding_rejects_what_the_runner_rejects(data: bytes) -> None:
    with pytest.raises(BadWitness):
        decode_witness(data)


def test_witness_order_follows_the_reference_reads_and_writes() -> None:
    alice = Trader.of("alice").address
    store, pre_root = trie_of({SYSTEM_KEY: System(ORACLE.address, 1).encode()})
    tx = deposit_tx(1, alice, 9)
    ctx = BatchContext(T, SEPARATOR, [keccak(deposit_tx(0, alice, 9)), keccak(tx)])
    built = build_step_witness(store, pre_root, tx, ctx)
    assert built.reads == (SYSTEM_KEY, account_key(alice))
    assert [k for k, _ in built.writes] == [account_key(alice), SYSTEM_KEY]
    # Proofs: system and account against the pre-state root; the account write reuses the
    # account read's proof; then system against the root after the account write.
    scratch = LayeredStore(store)
    after_account = mpt.bulk_update(scratch, pre_root, dict(built.writes[:1]))
    assert built.proofs == (
        tuple(mpt.get_proof(store, pre_root, SYSTEM_KEY)),
        tuple(mpt.get_proof(store, pre_root, account_key(alice))),
        tuple(mpt.get_proof(scratch, after_account, SYSTEM_KEY)),
    )
    out_of_order = build_step_witness(store, pre_root, deposit_tx(0, alice, 9), ctx)
    assert out_of_order.reads == (SYSTEM_KEY,) and len(out_of_order.proofs) == 1
    assert build_witness(store, pre_root, deposit_tx(5, alice, 9), ctx) == b"\x00"


# --------------------------------------------------------------------------- gas


def _accounts_trie(n: int, rng: random.Random) -> tuple[dict[bytes, bytes], list[bytes]]:
    addresses = [rng.randbytes(20) for _ in range(n)]
    leaves = {
        account_key(a): Account(a, rng.randrange(-(10**12), 10**12), rng.randrange(5)).encode()
        for a in addresses
    }
    leaves[SYSTEM_KEY] = System(ORACLE.address, 0).encode()
    return leaves, addresses


def _calldata_gas(verifier: Any, args: tuple[Any, ...]) -> tuple[int, int]:
    data = bytes.fromhex(verifier.encode_abi("step", list(args))[2:])
    zeros = data.count(0)
    return len(data), 4 * zeros + 16 * (len(data) - zeros)


@pytest.mark.parametrize("n", [10, 100_000], ids=["10 accounts", "100,000 accounts"])
def test_gas_of_one_deposit_step(step_chain: StepChain, n: int) -> None:
    rng = random.Random(n)
    leaves, addresses = _accounts_trie(n, rng)
    store, root = trie_of(leaves)
    newcomer = rng.randbytes(20)
    hashes = step_chain.queue([(addresses[0], 10**6), (newcomer, 10**6)])
    ctx = BatchContext(T, SEPARATOR, hashes)
    print()
    for index, who, what in ((0, addresses[0], "existing account"), (1, newcomer, "new account")):
        tx = deposit_tx(index, who, 10**6)
        built = build_step_witness(store, root, tx, ctx)
        assert built.receipt.reason == Reason.OK
        witness = built.encode()
        args = (root, tx, T, 2, witness)
        assert step_chain.call(step_chain.runner, *args) == built.post_root
        gas = step_chain.gas(step_chain.runner, *args)
        size, calldata = _calldata_gas(step_chain.runner, args)
        nodes = sum(len(p) for p in built.proofs)
        print(
            f"DEPOSIT step, {n:,} accounts, {what}: {gas:,} gas (a transaction to the verifier: "
            f"21,000 + calldata {calldata:,} for {size:,} bytes + execution "
            f"{gas - 21_000 - calldata:,}); witness {len(witness):,} bytes, "
            f"{len(built.proofs)} proofs, {nodes} nodes"
        )
        overlay = StateOverlay(store, root)
        apply(overlay, tx, ctx)
        root = overlay.root()
        store.update(overlay.pending_nodes())


# --------------------------------------------------------------------------- through the game


@pytest.mark.parametrize("honest", [True, False], ids=["honest batch", "wrong root"])
def test_a_game_on_a_deposit_batch_is_decided_by_the_deposit_step(
    step_chain: StepChain, honest: bool
) -> None:
    w3 = step_chain.w3
    accts = w3.eth.accounts
    proposer, challenger, user = accts[2], accts[3], accts[4]
    params = devnet_params(
        ORACLE.address,
        proposer=proposer,
        verifiers={0x01: ALL_RULES[0x01]},
    )
    dep = deploy(w3, accts[0], params)
    token, vault = bind(w3, "MockToken", dep.token), bind(w3, "Vault", dep.vault)
    rollup, game = bind(w3, "Rollup", dep.rollup), bind(w3, "DisputeGame", dep.dispute_game)
    alice = Trader.of("alice").address
    stake = rollup.functions.stake().transact({"from": proposer, "value": params.proposer_bond})
    assert w3.eth.wait_for_transaction_receipt(stake)["status"] == 1
    step_chain.send(token.functions.mint(user, 10**9), user)
    step_chain.send(token.functions.approve(dep.vault, 10**9), user)
    step_chain.send(vault.functions.deposit(10**9, to_checksum_address(alice)), user, gas=300_000)
    hashes = [bytes(vault.functions.deposit_hashes(0).call())]

    store = MemoryStore()
    genesis = genesis_root(store, ORACLE.address)
    assert genesis == params.genesis_root
    txs = [deposit_tx(0, alice, 10**9)]
    batch_time = int(w3.eth.get_block("latest")["timestamp"])
    ctx = BatchContext(batch_time, SEPARATOR, hashes)
    overlay = StateOverlay(store, genesis)
    roots = trace(overlay, txs, ctx)
    asserted = roots[-1] if honest else keccak(b"wrong")
    step_chain.send(
        rollup.functions.propose(genesis, asserted, batch_time, encode_tx_list(txs)), proposer
    )

    opening = game.functions.open(0, batch_hash(rollup.functions.batch(0).call()))
    receipt = w3.eth.wait_for_transaction_receipt(
        opening.transact({"from": challenger, "value": params.challenger_bond})
    )
    game_id = game.events.GameOpened().process_receipt(receipt, errors=DISCARD)[0]["args"][
        "game_id"
    ]
    inputs = step_inputs(store, genesis, txs, 0, ctx)
    assert inputs.post_root == roots[-1]
    receipt = step_chain.send(
        game.functions.step(game_id, inputs.tx, list(inputs.tx_proof), inputs.witness),
        challenger,
        gas=16_000_000,
    )
    (stepped,) = game.events.GameStepped().process_receipt(receipt, errors=DISCARD)
    assert bytes(stepped["args"]["post_root"]) == roots[-1]
    (resolved,) = game.events.GameResolved().process_receipt(receipt, errors=DISCARD)
    assert resolved["args"]["winner"] == (proposer if honest else challenger)
    verifier = bind(w3, "steps/StepRunner", dep.verifiers[0x01])
    direct = step_chain.gas(verifier, genesis, inputs.tx, batch_time, 1, inputs.witness)
    print(
        f"\nDisputeGame.step of a DEPOSIT (genesis state, "
        f"{'asserter' if honest else 'challenger'} wins): {receipt['gasUsed']:,} gas; "
        f"the same step sent to the verifier directly: {direct:,} gas"
    )


# --------------------------------------------------------------------------- deployment


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("steps/StepRunner", "a rule table with an EOA", "step: rule not a contract"),
        ("steps/DepositRule", "an EOA as the Vault", "deposit: vault not a contract"),
        ("steps/FillRule", "an EOA as the Vault", "fill: vault not a contract"),
    ],
)
def test_a_rule_or_runner_over_an_address_without_code_cannot_be_deployed(
    step_chain: StepChain, name: str, args: str, expected: str
) -> None:
    eoa = step_chain.user
    art = load(name)
    factory = step_chain.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    ctor = (
        factory.constructor([eoa] + [ZERO] * 7)
        if name.endswith("Runner")
        else (factory.constructor(eoa))
    )
    with pytest.raises(ContractLogicError) as err:
        step_chain.w3.eth.call({"from": step_chain.deployer, "data": ctor.data_in_transaction})
    assert revert_message(err.value) == expected
