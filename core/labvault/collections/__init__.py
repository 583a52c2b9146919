"""Collections: named groups of items, shared with other people."""
