"""Backups: snapshots of the database and the file store, kept by strategies.

``dump`` writes and loads tables in a database-independent form; ``codec`` compresses
and seals objects; ``repository`` keeps a strategy's snapshots on its target, contents
once; ``archive`` is the self-contained ``.tar.gz`` form; ``snapshot`` takes one;
``restore`` verifies and restores. ``strategies`` says what backing up a server takes
(:class:`~labvault.backups.strategies.Backups`), ``lock`` lets one run of a strategy
go at a time, ``runs`` runs strategies and applies their retention, ``reports`` tells
what strategies hold and verifies it.
"""
