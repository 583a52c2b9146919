"""People: accounts, roles and status."""
