"""Exception tree of the optirollup package.

Every error raised on purpose by optirollup derives from :class:`OptiRollupError`; the CLI and
the HTTP API turn it into a user-facing error in exactly one place each. Bad transactions inside
a batch are *not* errors: the state transition turns them into failure receipts (see
``optirollup.stf``).
"""


class OptiRollupError(Exception):
    """Base class of every deliberate optirollup error."""


class CodecError(OptiRollupError):
    """Bytes that do not decode to the expected record."""


class MalformedTransaction(CodecError):
    """A transaction whose bytes do not match any transaction layout."""


class MalformedLeaf(CodecError):
    """A state leaf whose bytes do not decode to its typed record."""


class MalformedBatch(CodecError):
    """A batch whose framing or header does not decode."""


class BadSignature(OptiRollupError):
    """A signature that is malformed or does not recover to the expected signer."""


class RangeError(OptiRollupError):
    """A value outside the range the protocol allows for its field."""
