"""labvault: a lab data server with a plugin system.

Plugin authors import from :mod:`labvault.plugin`; deployers use the ``labvault`` command
and ``labvault.wsgi:app``.
"""

__version__ = "0.1.0"
#: Version of the REST API; bumped on breaking changes to routes or schemas.
API_VERSION = "1"
