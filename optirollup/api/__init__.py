"""The node's HTTP API (FastAPI): signed orders, cancels and transactions in; markets, books,
accounts, batches and status out; Prometheus metrics.

:func:`create_app` builds the app over a :class:`~optirollup.executor.node.NodeCore`; the wire
format (hex bytes, 64-bit integers as decimal strings, ``{"error": {"code", "message"}}``) is in
:mod:`optirollup.api.models`, whose :func:`~optirollup.api.models.order_body` builds a
``POST /orders`` body for Python clients.
"""

from optirollup.api.app import Clock, create_app
from optirollup.api.models import OrderRequest, TxRequest, order_body

__all__ = ["Clock", "OrderRequest", "TxRequest", "create_app", "order_body"]
