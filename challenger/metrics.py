"""The challenger's Prometheus metrics, in a registry of its own, served over HTTP.

Shell layer. Names (all prefixed ``challenger_``):

=====================================  =============================================================
``batches_checked_total{verdict}``     batches given a verdict (ok, wrong, unreadable), counted once
                                       per ``(index, nonce)`` and process
``replayed_txs_total``                 transactions re-executed to check batches (post-roots
                                       found in the store are not counted)
``replay_seconds_total``               time spent checking them (rate = the two divided)
``traced_txs_total``                   transactions re-executed to trace a batch it plays (a root
                                       after each; stored traces are not counted)
``trace_seconds_total``                time spent tracing them
``l1_head_block``                      the latest L1 block seen
``l1_lag_blocks``                      L1 blocks not yet fully checked: the head minus the newest
                                       block up to which every pending batch has a verdict
``l1_lag_seconds``                     L1 time between the head and the oldest pending batch
                                       without a verdict (not replayed yet, unreadable or
                                       unverifiable: :func:`challenger.core.first_unjudged`);
                                       0 when every one has one
``games{state}``                       own games by state: open, won, lost, void
``bonds_at_risk_wei``                  the challenger bond of every own game still open
``game_clock_seconds{game_id}``        own clock left in each open game (at the latest block)
``moves_total{action}``                game transactions sent (open, bisect, choose, step, timeout,
                                       close_void, claim)
``claimed_wei_total``                  wei claimed from the DisputeGame (bonds back and winnings)
``reorgs_total``                       L1 reorgs detected and undone
``rpc_errors_total``                   failed L1 calls (each retry counts)
=====================================  =============================================================
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

__all__ = ["Metrics"]


class Metrics:
    """Every metric of the challenger, registered in its own :class:`CollectorRegistry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Register the metrics in ``registry`` (a new one by default, never the global one)."""
        r = self.registry = registry or CollectorRegistry()
        p = "challenger_"
        self.batches_checked = Counter(
            p + "batches_checked", "Batches given a verdict", ["verdict"], registry=r
        )
        self.replayed_txs = Counter(p + "replayed_txs", "Transactions re-executed", registry=r)
        self.replay_seconds = Counter(
            p + "replay_seconds", "Seconds spent re-executing transactions", registry=r
        )
        self.traced_txs = Counter(
            p + "traced_txs", "Transactions re-executed to trace a disputed batch", registry=r
        )
        self.trace_seconds = Counter(
            p + "trace_seconds", "Seconds spent tracing disputed batches", registry=r
        )
        self.head = Gauge(p + "l1_head_block", "Latest L1 block seen", registry=r)
        self.lag_blocks = Gauge(
            p + "l1_lag_blocks", "L1 blocks whose batches are not all checked yet", registry=r
        )
        self.lag_seconds = Gauge(
            p + "l1_lag_seconds", "L1 seconds since the oldest batch without a verdict", registry=r
        )
        self.games = Gauge(p + "games", "Own dispute games by state", ["state"], registry=r)
        for state in ("open", "won", "lost", "void"):
            self.games.labels(state).set(0)
        self.bonds_at_risk = Gauge(
            p + "bonds_at_risk_wei", "Challenger bonds in own open games (wei)", registry=r
        )
        self.clock_left = Gauge(
            p + "game_clock_seconds", "Own clock left per open game", ["game_id"], registry=r
        )
        self.moves = Counter(p + "moves", "Game transactions sent", ["action"], registry=r)
        self.claimed = Counter(p + "claimed_wei", "Wei claimed from the DisputeGame", registry=r)
        self.reorgs = Counter(p + "reorgs", "L1 reorgs detected and undone", registry=r)
        self.rpc_errors = Counter(p + "rpc_errors", "Failed L1 calls (retries too)", registry=r)
        self._clock_games: set[str] = set()

    def set_clocks(self, clocks: dict[int, int]) -> None:
        """Set the clock gauge of each open game of ``clocks``; drop the games no longer open."""
        labels = {str(g) for g in clocks}
        for gone in self._clock_games - labels:
            self.clock_left.remove(gone)
        for game_id, seconds in clocks.items():
            self.clock_left.labels(str(game_id)).set(seconds)
        self._clock_games = labels

    def serve(self, host: str, port: int) -> tuple[Any, int]:
        """Serve ``/metrics`` on ``host:port`` (0 picks a free port); return the server and port."""
        server, _thread = start_http_server(port, host, registry=self.registry)
        return server, int(server.server_port)
