"""What counts as the broker being unreachable, for the beat and for run-now alike."""

from __future__ import annotations

from kombu.exceptions import BatchPublishError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# kombu wraps most connection failures in its OperationalError, and a batch whose pipeline
# failed in its BatchPublishError; a connection that drops midway can surface redis-py's own
# errors or the socket's OSError.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    BatchPublishError,
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)


def broker_unavailable(error: BaseException) -> str:
    """The reason a user reads: the error's class and message ("Error 111 connecting to
    localhost:6379. Connection refused."); redis-py and kombu never put the password in it."""
    detail = str(error)[:160]
    kind = type(error).__name__
    return f"broker unavailable ({kind}: {detail})" if detail else f"broker unavailable ({kind})"
