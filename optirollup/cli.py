"""The ``optirollup`` command line. Domain errors become click errors here, and only here."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import click

from optirollup import __version__
from optirollup.codec.batch import decode_tx_list
from optirollup.codec.tx import Order, SignedOrder, TxType, decode_tx
from optirollup.errors import OptiRollupError


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Order | SignedOrder) or dataclasses.is_dataclass(value):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _hex_arg(text: str) -> bytes:
    t = text.strip()
    t = t[2:] if t.startswith(("0x", "0X")) else t
    try:
        return bytes.fromhex(t)
    except ValueError as err:
        raise click.BadParameter(f"not hex: {err}; pass the bytes as 0x-prefixed hex") from err


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="optirollup")
def main() -> None:
    """optirollup: an optimistic rollup for perpetuals and options trading.

    The node, devnet and trader commands arrive with their issues; today the protocol core
    (state transition, codecs, state trie) is in place. See README.md.
    """


@main.command()
def demo() -> None:
    """Run the end-to-end demo (devnet, node, challenger, a disputed batch)."""
    click.echo(
        "make demo: not yet. The demo needs the node and the challenger, which do not exist yet.\n"
        "What works today: `make test` (protocol core, vectors, contracts and dispute games),\n"
        "`make bench` (STF throughput) and `make gas-doc` (L1 gas figures)."
    )


@main.group()
def tx() -> None:
    """Inspect transactions and batches."""


@tx.command("decode")
@click.argument("hex_bytes")
@click.option("--batch", is_flag=True, help="Treat the input as a framed transaction list.")
def tx_decode(hex_bytes: str, batch: bool) -> None:
    """Decode a transaction (or, with --batch, a framed list) given as hex; print JSON.

    A transaction that does not decode is printed with its error: inside a batch it would be a
    no-op with reason MALFORMED.
    """
    data = _hex_arg(hex_bytes)
    try:
        items = decode_tx_list(data) if batch else [data]
    except OptiRollupError as err:
        raise click.ClickException(str(err)) from err
    out = []
    for raw in items:
        try:
            decoded = decode_tx(raw)
            out.append({"type": TxType(raw[0]).name, "fields": _jsonable(decoded)})
        except OptiRollupError as err:
            out.append({"type": None, "error": str(err), "bytes": "0x" + raw.hex()})
    json.dump(out if batch else out[0], sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":  # pragma: no cover
    main()
