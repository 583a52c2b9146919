"""What the tests of the S3 file store share (a module of its own: every plugin's tests
have a conftest.py, so that name cannot be imported)."""

from __future__ import annotations

from typing import Any

BUCKET = "lab-files"
#: S3's smallest part: the contract's large contents go up in several.
PART = 5 << 20


def store_options(endpoint: str, **overrides: Any) -> dict[str, Any]:
    """A deployer's options for a store in the test bucket of the moto server."""
    return {
        "bucket": BUCKET,
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "multipart_chunksize": PART,
        **overrides,
    }
