"""Exports of items to interchange formats (:class:`labvault.plugin.InterchangeFormat`):
what is exported and what the format is handed (:mod:`labvault.interchange.exports`)."""
