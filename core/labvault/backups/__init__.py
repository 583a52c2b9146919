"""Backups: snapshots of the database and the file store, kept by strategies.

``dump`` writes and loads tables in a database-independent form; ``codec`` compresses
and seals objects; ``repository`` keeps a strategy's snapshots on its target, contents
once; ``archive`` is the self-contained ``.tar.gz`` form; ``snapshot`` takes one;
``restore`` verifies and restores; ``service`` runs strategies with their lock and
retention.
"""
