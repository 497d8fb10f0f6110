"""The reference state transition function (pure: no I/O, no clock)."""

from optirollup.stf.context import BatchContext
from optirollup.stf.receipt import Party, Reason, Receipt
from optirollup.stf.transition import LeafState, apply

__all__ = ["BatchContext", "LeafState", "Party", "Reason", "Receipt", "apply"]
