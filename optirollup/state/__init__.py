"""Store the L2 state: a hexary Merkle-Patricia trie over content-addressed node stores."""
