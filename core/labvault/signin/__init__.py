"""Signing in through providers: identities, registration rules, login flows."""
