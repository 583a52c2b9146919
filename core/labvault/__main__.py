"""``python -m labvault``: the same as the ``labvault`` command."""

from labvault.cli import main

if __name__ == "__main__":
    main()
