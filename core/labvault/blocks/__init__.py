"""Blocks: analysis and notes attached to an item, computed by block types."""
