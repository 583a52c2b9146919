"""WSGI entry point for deployers running gunicorn themselves::

    gunicorn -w 4 -b 127.0.0.1:8000 'labvault.wsgi:app'

Settings come from config.py (LABVAULT_CONFIG, else $LABVAULT_HOME/config.py, else
./config.py), its folder's .env and LABVAULT_* variables, as for the CLI.
"""

from labvault.app import create_app

app = create_app()
