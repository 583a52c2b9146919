"""An item as a whole: its versions (snapshots of the item with its blocks and files),
restoring them, and collecting the files nothing refers to any more.

This package sits above items, files and blocks, since it reads all of them; those
packages only note that an item changed (:mod:`labvault.items.history`).
"""
