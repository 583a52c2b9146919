"""An item's versions: every change to an item keeps a snapshot of it with its blocks and
files, which can be shown or restored.

This package sits above items, files and blocks, since it reads all of them; those
packages only note that an item changed (:mod:`labvault.items.history`).
"""
