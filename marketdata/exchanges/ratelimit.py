"""The request spacing every process keeps towards one exchange, shared through Redis."""

from __future__ import annotations

import logging
from functools import cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# Reserves the next free slot for one exchange atomically, on Redis's clock: every process
# sleeps until its own slot, so all of them together keep the exchange's spacing.
RESERVE_SLOT = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local next_us = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(next_us, now_us)
redis.call('SET', KEYS[1], tostring(start + tonumber(ARGV[1])), 'PX', ARGV[2])
return start - now_us
"""


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def rate_limit_interval_ms(exchange_name: str, ccxt_default: float) -> float:
    """Milliseconds between requests: EXCHANGE_RATE_LIMITS[name], else ccxt's `rateLimit`."""
    return float(settings.EXCHANGE_RATE_LIMITS.get(exchange_name, ccxt_default))


def reserve_request_slot(exchange_name: str, interval_ms: float, cost: float = 1) -> float:
    """Seconds to wait before this process may send its next request to the exchange."""
    interval_us = int(interval_ms * 1000 * (cost or 1))
    if interval_us <= 0:
        return 0.0
    try:
        wait_us = _redis().eval(
            RESERVE_SLOT, 1, f"tickwork:ratelimit:{exchange_name}", interval_us, 60_000
        )
    except redis.RedisError as error:
        # Without Redis, keep this process's own spacing rather than stop collecting.
        logger.warning("Shared rate limit unavailable (%s); spacing locally", error)
        return interval_us / 1_000_000
    return int(wait_us) / 1_000_000
