"""Every table of the core, imported together so the metadata is complete."""

from labvault.auth.models import ApiKey, RefreshToken
from labvault.db import Base
from labvault.users.models import User

metadata = Base.metadata

__all__ = ["ApiKey", "Base", "RefreshToken", "User", "metadata"]
