"""Rate limits shared by every worker: a token bucket per key, kept in the database.

A key (an address, a client IP, prefixed by what it limits) may be used ``limit`` times;
each use takes a token, and tokens come back evenly over ``period``. The bucket's row is
locked while it is read and written, so workers never both take the last token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import time

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labvault.auth.models import RateLimit
from labvault.db import begin_write, insert_missing


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def take(session: Session, key: str, limit: int, period: dt.timedelta) -> float:
    """Use one attempt of ``key``. Returns 0 when allowed (and commits), otherwise the
    seconds until the next attempt is allowed (nothing is written)."""
    if limit < 1:
        raise ValueError("a rate limit allows at least one attempt")
    seconds = period.total_seconds()
    rate = limit / seconds
    now = time.time()
    key_hash = _key_hash(key)
    begin_write(session)
    full = {"key_hash": key_hash, "tokens": float(limit), "updated": now, "full_at": now}
    insert_missing(session, RateLimit, full)
    bucket = session.get(RateLimit, key_hash, with_for_update=True, populate_existing=True)
    assert bucket is not None
    tokens = min(float(limit), bucket.tokens + max(0.0, now - bucket.updated) * rate)
    if tokens < 1:
        session.rollback()
        return max(1.0, math.ceil((1 - tokens) / rate))
    bucket.tokens, bucket.updated = tokens - 1, now
    bucket.full_at = now + (limit - bucket.tokens) / rate
    session.execute(sa.delete(RateLimit).where(RateLimit.full_at < now))
    session.commit()
    return 0.0
