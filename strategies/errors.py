"""The strategies app's errors: one small hierarchy under StrategyError, and how a failed run
records one."""

from __future__ import annotations


class StrategyError(Exception):
    """Something about a strategy that a user can act on; the message says what."""


class UnknownStrategy(StrategyError):
    """The strategy's kind is not a registered strategy class."""


class InvalidParameters(StrategyError):
    """Parameters that do not fit the strategy's schema; `errors` maps each field to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in self.errors.items()))


class StrategyCodeFailed(StrategyError):
    """The strategy's own code raised or returned something that is not a signal."""

    def __init__(self, error_class: str, message: str) -> None:
        self.error_class = error_class
        self.message = message
        super().__init__(f"{error_class}: {message}")


class OrderNotSent(StrategyError):
    """The order certainly did not reach the exchange: it is rejected and never retried."""


class OrderUnconfirmed(StrategyError):
    """A live order whose fate the exchange would not tell: it stays `new`, never resent blind."""


class RunInProgress(Exception):
    """Another run of the strategy is in progress: this tick waits for it (ticks run one at a
    time, in order). Not a StrategyError: nothing is wrong, and nothing is recorded."""


def error_fields(error: Exception) -> dict[str, str]:
    """How a failed run records `error` (`error_class`, `error_message`): a user strategy's
    own exception by its class and message, any other by its type and text."""
    if isinstance(error, StrategyCodeFailed):
        return {"error_class": error.error_class, "error_message": error.message}
    return {"error_class": type(error).__name__, "error_message": str(error)}
