"""Retries of temporary exchange failures, with backoff and jitter, and how failures are logged."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from django.conf import settings

from marketdata.exchanges.errors import (
    BadExchangeData,
    ExchangeError,
    TemporaryExchangeError,
    describe,
    last_response,
    translate,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")


def retry_delay(attempt: int, error: TemporaryExchangeError) -> float | None:
    """Seconds before retry `attempt` (0-based), or None when the retries are used up or the
    exchange asks for a longer pause than a worker should sleep."""
    if attempt + 1 >= settings.EXCHANGE_RETRY_ATTEMPTS:
        return None
    cap = settings.EXCHANGE_RETRY_MAX_DELAY
    backoff = random.uniform(0, min(cap, settings.EXCHANGE_RETRY_BASE_DELAY * 2**attempt))  # noqa: S311
    if error.retry_after is not None:
        if error.retry_after > cap:
            return None
        return max(backoff, error.retry_after)
    return backoff


def _next_delay(what: str, attempt: int, raw: Exception) -> float:
    """The pause before the next attempt; raises our error when there is none."""
    error = translate(raw)
    delay = retry_delay(attempt, error) if isinstance(error, TemporaryExchangeError) else None
    if delay is None:
        log_failure(what, error)
        raise error from raw
    logger.info("%s: %s; retrying in %.2fs", what, describe(error), delay)
    return delay


def call_with_retry(what: str, call: Callable[[], T]) -> T:
    for attempt in range(settings.EXCHANGE_RETRY_ATTEMPTS):
        last_response.set(None)
        try:
            return call()
        except Exception as raw:
            time.sleep(_next_delay(what, attempt, raw))
    raise AssertionError("unreachable: the last attempt returns or raises")


async def call_with_retry_async(what: str, call: Callable[[], Awaitable[T]]) -> T:
    for attempt in range(settings.EXCHANGE_RETRY_ATTEMPTS):
        last_response.set(None)
        try:
            return await call()
        except Exception as raw:
            await asyncio.sleep(_next_delay(what, attempt, raw))
    raise AssertionError("unreachable: the last attempt returns or raises")


def log_failure(what: str, error: ExchangeError) -> None:
    if isinstance(error, BadExchangeData):
        logger.warning("%s: rejected the exchange's answer, nothing stored: %s", what, error)
    else:
        logger.warning("%s failed: %s", what, describe(error))
