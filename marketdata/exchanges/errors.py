"""Our exchange errors, and `translate()`: the one place a ccxt error becomes one of ours."""

from __future__ import annotations

import contextvars
import sys
from decimal import InvalidOperation
from types import ModuleType

ERROR_TEXT_LIMIT = 300


class ExchangeError(Exception):
    """An exchange call failed; permanent (do not retry) unless a subclass says otherwise."""


class TemporaryExchangeError(ExchangeError):
    """Network trouble, a timeout, maintenance, 429 or DDoS protection: worth retrying later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationFailed(ExchangeError):
    """The exchange refused the account's API key, secret or permissions."""


class InsufficientFunds(ExchangeError):
    """The account lacks the balance the order needs."""


class InvalidOrder(ExchangeError):
    """The exchange refused the order as given (size, price, duplicate client order id)."""


class OrderNotFound(ExchangeError):
    """The exchange knows no such order."""


class BadExchangeData(ExchangeError):
    """A response was malformed (not JSON, missing, non-finite or negative values, bad order)."""


def one_line(text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
    """`text` on one line, whitespace collapsed, cut to `limit` characters: exchanges answer
    errors with whole HTML pages, which must not flood a log line or `Exchange.last_error`."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe(error: BaseException) -> str:
    """The one-line text of an error as logs and `last_error` show it."""
    return one_line(f"{type(error).__name__}: {error}")


# Status and headers of the last answer in this context, set by the client hooks: ccxt's
# errors do not carry them, and `translate` needs the status to tell a bad request apart.
last_response: contextvars.ContextVar[tuple[int, dict[str, str]] | None] = contextvars.ContextVar(
    "tickwork_last_response", default=None
)


def translate(error: Exception) -> ExchangeError:
    """Our error for a ccxt (or parsing) error; the message never includes credentials."""
    if isinstance(error, ExchangeError):
        return error
    message = describe(error)
    # ccxt is loaded with the first client (see clients.py); before that no ccxt error exists.
    ccxt = sys.modules.get("ccxt")
    if ccxt is not None and isinstance(error, ccxt.BaseError):
        return _from_ccxt(ccxt, error, message)
    if isinstance(error, (TypeError, ValueError, KeyError, IndexError, InvalidOperation)):
        return BadExchangeData(message)
    raise error


def _from_ccxt(ccxt: ModuleType, error: Exception, message: str) -> ExchangeError:
    plain_translations = (
        (ccxt.AuthenticationError, AuthenticationFailed),
        (ccxt.InsufficientFunds, InsufficientFunds),
        (ccxt.OrderNotFound, OrderNotFound),
        (ccxt.InvalidOrder, InvalidOrder),
        (ccxt.BadResponse, BadExchangeData),
    )
    for theirs, ours in plain_translations:
        if isinstance(error, theirs):
            return ours(message)
    if isinstance(error, ccxt.NetworkError):
        status, headers = last_response.get() or (0, {})
        if status in (400, 404) and not isinstance(error, ccxt.RequestTimeout):
            # ccxt maps 400 and 404 to "not available"; a bad request does not heal by retrying.
            return ExchangeError(message)
        return TemporaryExchangeError(message, retry_after=_retry_after(headers))
    return ExchangeError(message)


def _retry_after(headers: dict[str, str]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None
