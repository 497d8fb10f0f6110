"""The oracle's prices and its signed market transactions (pure: no I/O, no clock).

* :class:`PriceSource` is the port the node's oracle signer reads index prices from: any object
  with ``price(market, time)``. A real feed replaces the devnet's walk without touching the rest.
* :class:`RandomWalk` is the devnet's source: a seeded random walk per market, in whole ticks,
  with bounded steps, never below a positive floor. The walk at a step depends only on the seed,
  the market and the step (each increment comes from a keccak), so any replay, in any order of
  queries, yields the same prices.
* :class:`StaticPrices` is a fixed table of prices, and :func:`parse_price_file` reads the
  operator's price file into one (``{"<market id>": <price>, ...}``; the node reads the file
  again at every oracle round, so whatever writes it is the feed).
* :func:`funding_rate_ppm` turns a mark and an index price into a funding rate: the premium
  ``(mark − index) / index`` in ppm, rounded toward zero, clamped to the market's cap.
* :class:`OracleFeed` (and :func:`oracle_update_tx`, :func:`funding_tick_tx`) builds the signed
  ORACLE_UPDATE and FUNDING_TICK transactions the oracle key posts (``docs/protocol.md`` §6.5,
  §6.6). Whether one applies still depends on the state: ``time`` must be later than the market's
  last oracle (or funding) time and not after the batch time.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from optirollup.codec import eip712
from optirollup.codec.tx import FundingTick, OracleUpdate, SignedMessage, encode_tx, message_hash
from optirollup.errors import OptiRollupError
from optirollup.hashing import keccak
from optirollup.units import I32_MAX, PPM, U32_MAX, U64_MAX, div_floor

__all__ = [
    "MAX_WALK_STEPS",
    "BadFeedParams",
    "BadPriceFile",
    "OracleFeed",
    "PriceSource",
    "RandomWalk",
    "StaticPrices",
    "funding_rate_ppm",
    "funding_tick_tx",
    "oracle_update_tx",
    "parse_price_file",
    "sign_message",
]

MAX_WALK_STEPS = 10_000_000
"""Most steps a :class:`RandomWalk` computes for one market (about 116 days at 1 s per step)."""

M = TypeVar("M", bound=SignedMessage)


class BadFeedParams(OptiRollupError):
    """Price-feed parameters or inputs outside what the feed can produce."""


class BadPriceFile(BadFeedParams):
    """The operator's price file is missing, is not JSON, or holds something other than prices."""


class PriceSource(Protocol):
    """Where the oracle signer reads index prices."""

    def price(self, market: int, time: int) -> int:
        """Return the index price of ``market`` at unix time ``time``.

        In quote units per whole unit of the underlying; never 0 (ORACLE_UPDATE rejects a zero
        price) and at most ``2^64 − 1``.
        """
        ...


class RandomWalk:
    """A deterministic random walk of prices per market: the devnet's :class:`PriceSource`.

    Every market starts at ``start`` at time ``origin`` and takes one step every ``interval``
    seconds (times before ``origin`` read the start price). A step moves the price by a whole
    number of ticks in ``−max_step_ticks..max_step_ticks``, drawn from
    ``keccak("optirollup-walk" ‖ seed ‖ market ‖ step)``, then clamps it to ``floor..ceiling``
    (defaults: one tick, and the largest multiple of the tick that fits a u64). Every price is
    therefore a multiple of ``tick``, positive, and within ``max_step_ticks · tick`` of the
    previous one. The walk of each market is computed once and kept (8 bytes per step).
    """

    def __init__(
        self,
        *,
        seed: int,
        start: int,
        tick: int,
        max_step_ticks: int = 10,
        interval: int = 1,
        origin: int = 0,
        floor: int | None = None,
        ceiling: int | None = None,
    ) -> None:
        """Check the parameters and set up an empty walk (see the class notes)."""
        if not 0 <= seed < 2**256:
            raise BadFeedParams(f"seed {seed} outside 0..2^256-1")
        if not 1 <= tick <= U64_MAX:
            raise BadFeedParams(f"tick {tick} outside 1..2^64-1")
        floor = tick if floor is None else floor
        ceiling = U64_MAX - U64_MAX % tick if ceiling is None else ceiling
        for name, value in (("start", start), ("floor", floor), ("ceiling", ceiling)):
            if value % tick:
                raise BadFeedParams(f"{name} {value} is not a multiple of the tick {tick}")
        if not 0 < floor <= start <= ceiling <= U64_MAX:
            raise BadFeedParams(
                f"need 0 < floor ({floor}) <= start ({start}) <= ceiling ({ceiling}) <= 2^64-1"
            )
        if not 0 <= max_step_ticks <= 2**32:
            raise BadFeedParams(f"max_step_ticks {max_step_ticks} outside 0..2^32")
        if interval < 1:
            raise BadFeedParams(f"interval {interval} must be at least 1 second")
        if origin < 0:
            raise BadFeedParams(f"origin {origin} must not be negative")
        self.seed = seed
        self.start = start
        self.tick = tick
        self.max_step_ticks = max_step_ticks
        self.interval = interval
        self.origin = origin
        self.floor = floor
        self.ceiling = ceiling
        self._paths: dict[int, array[int]] = {}

    def step_at(self, time: int) -> int:
        """Return the step of the walk at unix time ``time`` (0 before ``origin``)."""
        return 0 if time < self.origin else (time - self.origin) // self.interval

    def _increment(self, market: int, step: int) -> int:
        width = 2 * self.max_step_ticks + 1
        h = keccak(
            b"optirollup-walk"
            + self.seed.to_bytes(32, "big")
            + market.to_bytes(4, "big")
            + step.to_bytes(8, "big")
        )
        return (int.from_bytes(h, "big") % width - self.max_step_ticks) * self.tick

    def at_step(self, market: int, step: int) -> int:
        """Return the price of ``market`` after ``step`` steps."""
        if not 0 <= market <= U32_MAX:
            raise BadFeedParams(f"market {market} outside 0..2^32-1")
        if not 0 <= step < MAX_WALK_STEPS:
            raise BadFeedParams(
                f"step {step} outside 0..{MAX_WALK_STEPS - 1}; start the walk nearer the times "
                f"it is asked for (origin={self.origin}, interval={self.interval} s)"
            )
        path = self._paths.setdefault(market, array("Q", [self.start]))
        price = path[-1]
        for n in range(len(path), step + 1):
            price = min(max(price + self._increment(market, n), self.floor), self.ceiling)
            path.append(price)
        return path[step]

    def price(self, market: int, time: int) -> int:
        """Return the price of ``market`` at unix time ``time`` (the :class:`PriceSource` port)."""
        return self.at_step(market, self.step_at(time))

    def path(self, market: int, steps: int) -> list[int]:
        """Return the prices of ``market`` at steps ``0 .. steps − 1``."""
        if steps <= 0:
            return []
        self.at_step(market, steps - 1)
        return list(self._paths[market][:steps])


class StaticPrices:
    """A :class:`PriceSource` that answers a fixed price per market, whatever the time."""

    def __init__(self, prices: Mapping[int, int], origin: str = "the price table") -> None:
        """Hold ``prices`` (market id → quote units per whole unit); ``origin`` names them in
        errors (e.g. the file they were read from)."""
        for market, price in prices.items():
            if not 0 <= market <= U32_MAX:
                raise BadFeedParams(f"{origin}: market {market} outside 0..2^32-1")
            if not 0 < price <= U64_MAX:
                raise BadFeedParams(f"{origin}: market {market}: price {price} outside 1..2^64-1")
        self.prices = dict(prices)
        self.origin = origin

    def price(self, market: int, time: int) -> int:
        """Return ``market``'s price; raise :class:`BadFeedParams` if the table has none."""
        try:
            return self.prices[market]
        except KeyError:
            raise BadFeedParams(
                f'{self.origin} has no price for market {market}; add "{market}": <price>'
            ) from None


def parse_price_file(text: str, origin: str = "the price file") -> dict[int, int]:
    """Return the prices of a price file: a JSON object ``{"<market id>": <price>, ...}``.

    A price is quote units (1e-6) per whole unit of the underlying: a JSON integer or a string
    of decimal digits, in ``1..2^64-1``. Raise :class:`BadPriceFile` naming ``origin`` and the
    first thing wrong (not JSON, not an object, a key that is not a market id, a price that is
    not a positive integer).
    """
    hint = 'write a JSON object {"<market id>": <price in quote units>, ...}'
    try:
        data = json.loads(text)
    except ValueError as err:
        raise BadPriceFile(f"{origin} is not JSON ({err}); {hint}") from err
    if not isinstance(data, dict):
        raise BadPriceFile(f"{origin} holds a JSON {type(data).__name__}, not an object; {hint}")
    out: dict[int, int] = {}
    for key, value in data.items():
        if not (key.isascii() and key.isdigit()) or not 0 <= int(key) <= U32_MAX:
            raise BadPriceFile(f"{origin}: key {key!r} is not a market id (0..2^32-1); {hint}")
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= U64_MAX:
            raise BadPriceFile(
                f"{origin}: market {key}: price {value!r} is not an integer in 1..2^64-1 (quote "
                "units, 1e-6, per whole unit: 3000 USD is 3000000000)"
            )
        out[int(key)] = value
    return out


def funding_rate_ppm(mark: int, index: int, max_funding_ppm: int) -> int:
    """Return the funding rate of one tick: the premium of ``mark`` over ``index`` in ppm.

    ``(mark − index) · PPM / index``, rounded toward zero (so a premium and the matching discount
    give opposite rates), then clamped to ``±max_funding_ppm`` (FUNDING_TICK's check 5). Positive
    means longs pay shorts.
    """
    if index <= 0:
        raise BadFeedParams(f"index price {index} must be positive")
    if mark < 0:
        raise BadFeedParams(f"mark price {mark} must not be negative")
    if not 0 <= max_funding_ppm <= I32_MAX:
        raise BadFeedParams(f"max_funding_ppm {max_funding_ppm} outside 0..2^31-1")
    diff = mark - index
    premium = div_floor(abs(diff) * PPM, index)
    rate = premium if diff >= 0 else -premium
    return max(-max_funding_ppm, min(max_funding_ppm, rate))


def sign_message(msg: M, key: bytes, separator: bytes) -> bytes:
    """Return the encoded transaction of ``msg`` signed by ``key`` for the domain ``separator``."""
    if len(key) != 32:
        raise BadFeedParams(f"a private key is 32 bytes, got {len(key)}")
    if len(separator) != 32:
        raise BadFeedParams(f"a domain separator is 32 bytes, got {len(separator)}")
    signature = eip712.sign(message_hash(msg, separator), key)
    return encode_tx(replace(msg, signature=signature))


def oracle_update_tx(
    key: bytes, separator: bytes, market: int, price: int, time: int, mark: int = 0
) -> bytes:
    """Return a signed ORACLE_UPDATE setting ``market``'s index price (``mark`` 0 for perps)."""
    if price == 0:
        raise BadFeedParams(f"market {market}: an oracle price of 0 is never accepted")
    return sign_message(OracleUpdate(market, price, mark, time), key, separator)


def funding_tick_tx(key: bytes, separator: bytes, market: int, rate_ppm: int, time: int) -> bytes:
    """Return a signed FUNDING_TICK applying ``rate_ppm`` to ``market`` at ``time``."""
    return sign_message(FundingTick(market, rate_ppm, time), key, separator)


@dataclass(frozen=True)
class OracleFeed:
    """Build the oracle key's signed transactions from a :class:`PriceSource`.

    ``key`` is the oracle's private key (the genesis ``system.oracle``), ``separator`` the
    deployment's EIP-712 domain separator. The same inputs always give the same bytes.
    """

    key: bytes
    separator: bytes
    source: PriceSource

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise BadFeedParams(f"the oracle key is 32 bytes, got {len(self.key)}")
        if len(self.separator) != 32:
            raise BadFeedParams(f"a domain separator is 32 bytes, got {len(self.separator)}")

    @property
    def address(self) -> bytes:
        """Return the oracle's 20-byte address (what the genesis state must name)."""
        return eip712.address_of(self.key)

    def oracle_update(self, market: int, time: int) -> bytes:
        """Return the ORACLE_UPDATE of perpetual ``market`` at ``time`` at the source's price."""
        return oracle_update_tx(
            self.key, self.separator, market, self.source.price(market, time), time
        )

    def funding_rate(self, market: int, time: int, *, mark: int, max_funding_ppm: int) -> int:
        """Return the rate :meth:`funding_tick` would apply (premium of ``mark`` over the index)."""
        return funding_rate_ppm(mark, self.source.price(market, time), max_funding_ppm)

    def funding_tick(self, market: int, time: int, *, mark: int, max_funding_ppm: int) -> bytes:
        """Return the FUNDING_TICK of ``market`` at ``time``.

        The rate is the premium of ``mark`` (the traded price, e.g. the book's mid) over the
        source's index price at ``time``, clamped to ``max_funding_ppm`` (the market's cap).
        """
        rate = self.funding_rate(market, time, mark=mark, max_funding_ppm=max_funding_ppm)
        return funding_tick_tx(self.key, self.separator, market, rate, time)
