"""The core's own types (block types, a local file source and backup target), provided
through the same hooks as any plugin's."""
