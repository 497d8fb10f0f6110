# pragma version ~=0.4.3
"""
@title optirollup DisputeGame: k-ary bisection with chess clocks
@license MIT
@notice One game = one challenger against the proposer's (the asserter's)
        per-transaction trace of one batch (protocol §5.5). Any number of
        games run in parallel on a batch; none can interfere with another.
        The asserter posts the roots at the k-1 inner split points of the
        disputed interval (`bisect`), the challenger picks the sub-interval
        whose start it agrees with and whose end it disputes (`choose`),
        until one transaction remains; then anyone runs it on-chain (`step`)
        from the agreed root and the result decides the game. A side whose
        clock runs out loses (`timeout`). A challenger win deletes the batch
        and every later one and slashes the proposer; a game whose batch is
        gone is void and refunds the challenger (`close_void`).
        Normative: docs/l1.md ("DisputeGame").
@dev Reverts are "dispute: <reason>". Payouts are pull payments
     (`credits`, `claim`): no ETH goes to an arbitrary address inside a move.
     Invariant: the challenger agrees with `root_lo = R_lo` and disputes
     `root_hi = R_hi`.
     Clocks: the side to move is the asserter in BISECT, the challenger in
     CHOOSE and STEP. A move charges its side `now - last_move_at` and reverts
     "dispute: clock expired" if that exceeds the side's clock; the side whose
     turn begins (the challenger's step after its last choice included) is
     topped up to CLOCK_EXTENSION. `timeout` needs the clock strictly
     exceeded, so at every second exactly one of "move" and "timeout" works.
     `step` decides MALFORMED and reserved transactions itself (post-root =
     `root_lo`); every other type goes to the step verifier registered for
     its type byte, so adding a type's rule is one `set_verifier` call.
     Trust: the Rollup (fixed at deployment) and the registered verifiers
     (set by the owner before `freeze`) are trusted code; players are not.
"""

interface Rollup:
    def batch(index: uint256) -> Batch: view
    def batch_count() -> uint256: view
    def final_count() -> uint256: view
    def is_pending(index: uint256, nonce: uint64) -> bool: view
    def proposer() -> address: view
    def CHALLENGE_WINDOW() -> uint256: view
    def delete_from(index: uint256) -> uint256: nonpayable

interface StepVerifier:
    def step(
        pre_root: bytes32, transaction: Bytes[MAX_TX_LEN], batch_time: uint64, deposit_count: uint64, witness: Bytes[MAX_WITNESS]
    ) -> bytes32: view

from .lib import txroot


# Same layout as Rollup.Batch (ABI-compatible).
struct Batch:
    prev_root: bytes32
    new_root: bytes32
    tx_root: bytes32
    tx_count: uint32
    batch_time: uint64
    proposed_at: uint64
    deposit_count: uint64
    nonce: uint64


struct Game:
    batch_index: uint256
    batch_nonce: uint64
    asserter: address
    challenger: address
    lo: uint256
    hi: uint256
    root_lo: bytes32
    root_hi: bytes32
    phase: uint8
    status: uint8
    clock_asserter: uint64
    clock_challenger: uint64
    last_move_at: uint64


event GameOpened:
    game_id: indexed(uint256)
    batch_index: indexed(uint256)
    batch_nonce: uint64
    challenger: indexed(address)
    asserter: address


event GameBisected:
    game_id: indexed(uint256)
    lo: uint256
    hi: uint256
    roots: DynArray[bytes32, MAX_K - 1]


event GameChosen:
    game_id: indexed(uint256)
    choice: uint256
    lo: uint256
    hi: uint256


event GameStepped:
    game_id: indexed(uint256)
    tx_index: uint256
    post_root: bytes32


event GameTimedOut:
    game_id: indexed(uint256)
    loser: address


event GameResolved:
    game_id: indexed(uint256)
    winner: address


event GameVoided:
    game_id: indexed(uint256)


event Claimed:
    account: indexed(address)
    amount: uint256


event VerifierSet:
    tx_type: indexed(uint8)
    verifier: address


event Frozen:
    pass


# Largest bisection arity.
MAX_K: constant(uint256) = 16
# Longest transaction (MAX_FRAMED_TX_LEN).
MAX_TX_LEN: constant(uint256) = txroot.MAX_TX_LEN
# Longest witness `step` forwards to a verifier: the step runner's
# (`steps/StepRunner.vy`), whose FILL witnesses reach about 90 KB at 10^6
# leaves. Vyper copies the argument into memory sized to this declared
# maximum, so every step pays for it (about 100k gas over 32 KiB), and a
# step transaction must stay under the 128 KiB transaction-pool limit.
MAX_WITNESS: constant(uint256) = 114688

# Phases.
BISECT: constant(uint8) = 1
CHOOSE: constant(uint8) = 2
STEP: constant(uint8) = 3
# Statuses.
ACTIVE: constant(uint8) = 1
ASSERTER_WON: constant(uint8) = 2
CHALLENGER_WON: constant(uint8) = 3
VOID: constant(uint8) = 4

ROLLUP: public(immutable(address))
VAULT: public(immutable(address))
K: public(immutable(uint256))
CHALLENGER_BOND: public(immutable(uint256))
GAME_CLOCK: public(immutable(uint64))
CLOCK_EXTENSION: public(immutable(uint64))

owner: public(address)
frozen: public(bool)
verifiers: public(HashMap[uint8, address])

games: public(HashMap[uint256, Game])
game_count: public(uint256)
# The asserted roots of the last `bisect`: slots 0 .. parts - 2 are valid in
# phase CHOOSE (later slots may hold roots of an earlier, wider round).
points: public(HashMap[uint256, bytes32[MAX_K - 1]])
# Unresolved games per (batch index, batch nonce).
_open: HashMap[uint256, HashMap[uint64, uint256]]

credits: public(HashMap[address, uint256])
burned: public(uint256)


@deploy
def __init__(
    rollup: address, vault: address, k: uint256, challenger_bond: uint256, game_clock: uint64, clock_extension: uint64
):
    """
    @notice Deploy the DisputeGame; the deployer becomes the owner.
    @param rollup The Rollup whose batches are disputed.
    @param vault The Vault (for step verifiers that read the deposit queue).
    @param k Bisection arity, 2..16.
    @param challenger_bond Wei a challenger pays to open a game.
    @param game_clock Seconds of thinking time per side per game.
    @param clock_extension A side whose clock is below this when its turn
           begins is topped up to it.
    """
    assert rollup != empty(address) and vault != empty(address), "dispute: zero address"
    assert k >= 2 and k <= MAX_K, "dispute: bad k"
    ROLLUP = rollup
    VAULT = vault
    K = k
    CHALLENGER_BOND = challenger_bond
    GAME_CLOCK = game_clock
    CLOCK_EXTENSION = clock_extension
    self.owner = msg.sender


@external
@payable
def __default__():
    """
    @notice Receive the proposer's slashed stake from the Rollup (only).
    """
    assert msg.sender == ROLLUP, "dispute: unexpected ether"


@external
def set_verifier(tx_type: uint8, verifier: address):
    """
    @notice Register the step verifier of transaction type `tx_type` (owner,
            before `freeze`).
    @dev Only types that have a rule in protocol v1 (0x01..0x08); MALFORMED
         and reserved transactions are decided by `step` itself.
    @param tx_type The type byte.
    @param verifier The verifier contract (the zero address unregisters).
    """
    assert msg.sender == self.owner, "dispute: not owner"
    assert not self.frozen, "dispute: frozen"
    assert tx_type >= 1 and tx_type <= 8, "dispute: bad tx type"
    self.verifiers[tx_type] = verifier
    log VerifierSet(tx_type=tx_type, verifier=verifier)


@external
def freeze():
    """
    @notice Make the verifier table final (owner).
    """
    assert msg.sender == self.owner, "dispute: not owner"
    self.frozen = True
    log Frozen()


@external
@payable
def open(batch_index: uint256, batch_hash: bytes32) -> uint256:
    """
    @notice Open a game against pending batch `batch_index`, paying exactly
            CHALLENGER_BOND. The caller is the challenger, the proposer the
            asserter.
    @dev `batch_hash` commits the challenger to the very batch it judged: a
         batch deleted and re-proposed at that index, or replaced by an L1
         reorg (even with the same nonce), between the challenger's read and
         this call reverts "dispute: batch changed" instead of disputing a
         batch the challenger never judged. Checks in order: "dispute: wrong
         bond", "dispute: no batch", "dispute: batch changed", "dispute:
         window closed".
    @param batch_index A pending batch whose challenge window is open.
    @param batch_hash keccak256(abi_encode(Rollup.batch(batch_index))): all
           eight fields of the record, nonce and proposed_at included.
    @return The game id.
    """
    assert msg.value == CHALLENGER_BOND, "dispute: wrong bond"
    # Extcalls to the Rollup (trusted, fixed at deployment; views, so static
    # calls that cannot reenter).
    assert (
        staticcall Rollup(ROLLUP).final_count() <= batch_index
        and batch_index < staticcall Rollup(ROLLUP).batch_count()
    ), "dispute: no batch"
    b: Batch = staticcall Rollup(ROLLUP).batch(batch_index)
    assert keccak256(abi_encode(b)) == batch_hash, "dispute: batch changed"
    assert block.timestamp < convert(b.proposed_at, uint256) + staticcall Rollup(ROLLUP).CHALLENGE_WINDOW(), "dispute: window closed"
    asserter: address = staticcall Rollup(ROLLUP).proposer()

    game_id: uint256 = self.game_count
    self.game_count = game_id + 1
    phase: uint8 = BISECT
    if b.tx_count == 1:
        phase = STEP
    clock_a: uint64 = GAME_CLOCK
    clock_c: uint64 = GAME_CLOCK
    if phase == BISECT:
        clock_a = max(clock_a, CLOCK_EXTENSION)
    else:
        clock_c = max(clock_c, CLOCK_EXTENSION)
    self.games[game_id] = Game(
        batch_index=batch_index,
        batch_nonce=b.nonce,
        asserter=asserter,
        challenger=msg.sender,
        lo=0,
        hi=convert(b.tx_count, uint256),
        root_lo=b.prev_root,
        root_hi=b.new_root,
        phase=phase,
        status=ACTIVE,
        clock_asserter=clock_a,
        clock_challenger=clock_c,
        last_move_at=convert(block.timestamp, uint64),
    )
    self._open[batch_index][b.nonce] += 1
    log GameOpened(game_id=game_id, batch_index=batch_index, batch_nonce=b.nonce, challenger=msg.sender, asserter=asserter)
    return game_id


@external
def bisect(game_id: uint256, roots: DynArray[bytes32, MAX_K - 1]):
    """
    @notice Post the asserted roots R_{p_1} .. R_{p_{parts-1}} at the inner
            split points of the disputed interval (asserter, phase BISECT).
    @dev Split points of [lo, hi] with parts = min(K, hi - lo):
         p_j = lo + (hi - lo) * j // parts for j = 0..parts.
    @param game_id The game.
    @param roots Exactly parts - 1 roots.
    """
    self._check_live(game_id)
    assert self.games[game_id].phase == BISECT, "dispute: wrong phase"
    assert msg.sender == self.games[game_id].asserter, "dispute: not asserter"
    lo: uint256 = self.games[game_id].lo
    hi: uint256 = self.games[game_id].hi
    assert len(roots) == min(K, hi - lo) - 1, "dispute: wrong number of roots"
    self._charge(game_id, True)
    # Only the first parts - 1 slots are written (and ever read by `choose`).
    for j: uint256 in range(len(roots), bound=MAX_K - 1):
        self.points[game_id][j] = roots[j]
    self._hand_over(game_id, CHOOSE, False)
    log GameBisected(game_id=game_id, lo=lo, hi=hi, roots=roots)


@external
def choose(game_id: uint256, j: uint256):
    """
    @notice Pick sub-interval [p_j, p_{j+1}]: the challenger agrees with
            R_{p_j} and disputes R_{p_{j+1}} (challenger, phase CHOOSE).
    @param game_id The game.
    @param j The sub-interval, below parts = min(K, hi - lo).
    """
    self._check_live(game_id)
    assert self.games[game_id].phase == CHOOSE, "dispute: wrong phase"
    assert msg.sender == self.games[game_id].challenger, "dispute: not challenger"
    lo: uint256 = self.games[game_id].lo
    hi: uint256 = self.games[game_id].hi
    parts: uint256 = min(K, hi - lo)
    assert j < parts, "dispute: bad choice"
    self._charge(game_id, False)
    new_lo: uint256 = lo + (hi - lo) * j // parts
    new_hi: uint256 = lo + (hi - lo) * (j + 1) // parts
    if j > 0:
        self.games[game_id].root_lo = self.points[game_id][j - 1]
    if j < parts - 1:
        self.games[game_id].root_hi = self.points[game_id][j]
    self.games[game_id].lo = new_lo
    self.games[game_id].hi = new_hi
    if new_hi - new_lo == 1:
        # The challenger's next move, the step (anyone may send it), is a new turn.
        self._hand_over(game_id, STEP, False)
    else:
        self._hand_over(game_id, BISECT, True)
    log GameChosen(game_id=game_id, choice=j, lo=new_lo, hi=new_hi)


@external
@nonreentrant
def step(game_id: uint256, transaction: Bytes[MAX_TX_LEN], tx_proof: bytes32[txroot.TREE_DEPTH], witness: Bytes[MAX_WITNESS]) -> bytes32:
    """
    @notice Run transaction `lo` of the batch from the agreed root `root_lo`
            and end the game (anyone, phase STEP; charged to the challenger's
            clock): the asserter wins if the post-root equals `root_hi`, the
            challenger otherwise.
    @dev MALFORMED transactions (unknown type byte, or a wrong length for
         the type) and reserved types 0x09..0x0C are no-ops: post-root =
         `root_lo`. Any other transaction is run by the verifier registered
         for its type byte ("dispute: no verifier" if none is).
    @param game_id The game.
    @param transaction The transaction bytes (without the frame prefix).
    @param tx_proof Its 16 sibling hashes against the batch's tx_root (§5.3).
    @param witness The verifier's witness (leaves and MPT proofs).
    @return The computed post-root.
    """
    self._check_live(game_id)
    assert self.games[game_id].phase == STEP, "dispute: wrong phase"
    self._charge(game_id, False)
    index: uint256 = self.games[game_id].batch_index
    lo: uint256 = self.games[game_id].lo
    root_lo: bytes32 = self.games[game_id].root_lo
    # Extcall to the Rollup (trusted; a view, so a static call).
    b: Batch = staticcall Rollup(ROLLUP).batch(index)
    assert lo < convert(b.tx_count, uint256) and txroot.verify(b.tx_root, lo, keccak256(transaction), tx_proof), "dispute: tx not in batch"
    post: bytes32 = root_lo
    tx_type: uint8 = self._rule_type(transaction)
    if tx_type != 0:
        verifier: address = self.verifiers[tx_type]
        assert verifier != empty(address), "dispute: no verifier"
        # Extcall to a step verifier (trusted: registered by the owner before
        # `freeze`; a view, so a static call that cannot reenter). A witness
        # that does not prove what it claims makes it revert.
        post = staticcall StepVerifier(verifier).step(root_lo, transaction, b.batch_time, b.deposit_count, witness)
    log GameStepped(game_id=game_id, tx_index=lo, post_root=post)
    self._resolve(game_id, post != self.games[game_id].root_hi)
    return post


@external
@nonreentrant
def timeout(game_id: uint256):
    """
    @notice End a game whose side to move has used up its clock: the other
            side wins (anyone).
    @param game_id The game.
    """
    self._check_live(game_id)
    asserter_to_move: bool = self.games[game_id].phase == BISECT
    clock: uint64 = self.games[game_id].clock_challenger
    loser: address = self.games[game_id].challenger
    if asserter_to_move:
        clock = self.games[game_id].clock_asserter
        loser = self.games[game_id].asserter
    assert block.timestamp - convert(self.games[game_id].last_move_at, uint256) > convert(clock, uint256), "dispute: clock not expired"
    log GameTimedOut(game_id=game_id, loser=loser)
    self._resolve(game_id, asserter_to_move)


@external
def close_void(game_id: uint256):
    """
    @notice Close a game whose batch was deleted by another game or replaced
            (nonce differs), refunding the challenger's bond (anyone).
    @param game_id The game.
    """
    assert game_id < self.game_count, "dispute: no game"
    assert self.games[game_id].status == ACTIVE, "dispute: game over"
    index: uint256 = self.games[game_id].batch_index
    nonce: uint64 = self.games[game_id].batch_nonce
    # Extcall to the Rollup (trusted; a view, so a static call).
    assert not staticcall Rollup(ROLLUP).is_pending(index, nonce), "dispute: game not void"
    self.games[game_id].status = VOID
    self._open[index][nonce] -= 1
    self.credits[self.games[game_id].challenger] += CHALLENGER_BOND
    log GameVoided(game_id=game_id)


@external
@nonreentrant
def claim():
    """
    @notice Pay the caller everything credited to it (bonds won, refunds).
    """
    amount: uint256 = self.credits[msg.sender]
    assert amount > 0, "dispute: nothing to claim"
    self.credits[msg.sender] = 0
    log Claimed(account=msg.sender, amount=amount)
    # Extcall to the caller (untrusted): the credit is cleared first and the
    # function is @nonreentrant.
    ok: bool = raw_call(msg.sender, b"", value=amount, revert_on_failure=False)
    assert ok, "dispute: transfer failed"


@view
@external
def open_games(batch_index: uint256, batch_nonce: uint64) -> uint256:
    """
    @notice Count the unresolved games on batch (`batch_index`, `batch_nonce`).
    @param batch_index The batch index.
    @param batch_nonce The batch's nonce.
    @return The number of games neither resolved nor closed as void.
    """
    return self._open[batch_index][batch_nonce]


@view
@external
def split_points(game_id: uint256) -> DynArray[uint256, MAX_K + 1]:
    """
    @notice Return p_0 .. p_parts of the game's current interval.
    @param game_id The game.
    @return lo = p_0 < p_1 < ... < p_parts = hi.
    """
    assert game_id < self.game_count, "dispute: no game"
    lo: uint256 = self.games[game_id].lo
    hi: uint256 = self.games[game_id].hi
    parts: uint256 = min(K, hi - lo)
    out: DynArray[uint256, MAX_K + 1] = []
    for j: uint256 in range(parts + 1, bound=MAX_K + 1):
        out.append(lo + (hi - lo) * j // parts)
    return out


@view
@external
def to_move(game_id: uint256) -> address:
    """
    @notice Return the side whose clock is running: the asserter in BISECT,
            the challenger in CHOOSE and STEP (empty once the game is over).
    @param game_id The game.
    @return The asserter's or the challenger's address.
    """
    if self.games[game_id].status != ACTIVE:
        return empty(address)
    if self.games[game_id].phase == BISECT:
        return self.games[game_id].asserter
    return self.games[game_id].challenger


@view
@internal
def _check_live(game_id: uint256):
    assert game_id < self.game_count, "dispute: no game"
    assert self.games[game_id].status == ACTIVE, "dispute: game over"
    # Extcall to the Rollup (trusted; a view, so a static call).
    assert staticcall Rollup(ROLLUP).is_pending(self.games[game_id].batch_index, self.games[game_id].batch_nonce), "dispute: game void"


@internal
def _charge(game_id: uint256, asserter: bool):
    # Charge the mover the time since the last move.
    elapsed: uint256 = block.timestamp - convert(self.games[game_id].last_move_at, uint256)
    if asserter:
        clock: uint256 = convert(self.games[game_id].clock_asserter, uint256)
        assert elapsed <= clock, "dispute: clock expired"
        self.games[game_id].clock_asserter = convert(clock - elapsed, uint64)
    else:
        clock: uint256 = convert(self.games[game_id].clock_challenger, uint256)
        assert elapsed <= clock, "dispute: clock expired"
        self.games[game_id].clock_challenger = convert(clock - elapsed, uint64)


@internal
def _hand_over(game_id: uint256, phase: uint8, to_asserter: bool):
    # Start the other side's turn, topping its clock up to CLOCK_EXTENSION.
    self.games[game_id].phase = phase
    self.games[game_id].last_move_at = convert(block.timestamp, uint64)
    if to_asserter:
        if self.games[game_id].clock_asserter < CLOCK_EXTENSION:
            self.games[game_id].clock_asserter = CLOCK_EXTENSION
    elif self.games[game_id].clock_challenger < CLOCK_EXTENSION:
        self.games[game_id].clock_challenger = CLOCK_EXTENSION


@internal
def _resolve(game_id: uint256, challenger_wins: bool):
    index: uint256 = self.games[game_id].batch_index
    self._open[index][self.games[game_id].batch_nonce] -= 1
    winner: address = self.games[game_id].asserter
    if challenger_wins:
        winner = self.games[game_id].challenger
        self.games[game_id].status = CHALLENGER_WON
        # Extcall to the Rollup (trusted, fixed at deployment): it deletes the
        # batch and its descendants and sends the slashed stake to
        # `__default__`, which only accepts it. This game is already marked
        # over; `step` and `timeout` are @nonreentrant.
        slashed: uint256 = extcall Rollup(ROLLUP).delete_from(index)
        half: uint256 = slashed // 2
        self.credits[winner] += CHALLENGER_BOND + half
        self.burned += slashed - half
    else:
        self.games[game_id].status = ASSERTER_WON
        self.credits[winner] += CHALLENGER_BOND
    log GameResolved(game_id=game_id, winner=winner)


@pure
@internal
def _rule_type(transaction: Bytes[MAX_TX_LEN]) -> uint8:
    # The type byte if the transaction has a rule in protocol v1 and the
    # exact length of its type (protocol §4.2), else 0 (a no-op: MALFORMED or
    # reserved, decided without reading any leaf).
    n: uint256 = len(transaction)
    if n == 0:
        return 0
    t: uint256 = convert(slice(transaction, 0, 1), uint256)
    if t == 1 and n == 37:
        return 1
    if t == 2 and n == 122:
        return 2
    if t == 3 and n == 94:
        return 3
    if t == 4 and n == 82:
        return 4
    if t == 5 and n == 263:
        return 5
    if t == 6 and n == 118:
        return 6
    if t == 7 and n == 94:
        return 7
    if t == 8 and n == 139:
        return 8
    return 0
