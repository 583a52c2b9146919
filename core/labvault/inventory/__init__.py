"""Inventory imports: an importer's records become starting materials, again and again."""
