"""Configure structlog for the command line: console lines for people, JSON for operators."""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure"]


def configure(fmt: str = "console", level: int = logging.INFO) -> None:
    """Send structlog events to stderr as console lines (``fmt="console"``) or JSON lines."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
