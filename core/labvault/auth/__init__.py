"""Access: JWT access tokens, refresh-token sessions and personal API keys."""
