"""Canonical encodings: transactions, EIP-712 messages, batches and their commitment."""
