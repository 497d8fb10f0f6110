"""optirollup: an optimistic rollup for derivatives trading."""

__version__ = "0.1.0"
