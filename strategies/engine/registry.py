"""The registry of strategy classes, filled by the `@register` decorator."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from project.kernel.decimals import fixed_trimmed, stored
from strategies.engine.base import BaseStrategy, ParamType
from strategies.errors import InvalidParameters, UnknownStrategy

_registry: dict[str, type[BaseStrategy]] = {}
S = TypeVar("S", bound=type[BaseStrategy])


def register(cls: S) -> S:
    """Make `cls` available as `Strategy.kind == cls.key`; its defaults must be valid."""
    if not (isinstance(cls, type) and issubclass(cls, BaseStrategy)):
        raise TypeError(f"{cls!r} is not a BaseStrategy subclass")
    key = getattr(cls, "key", "")
    if not key or not isinstance(key, str) or len(key) > 50:
        raise TypeError(f"{cls.__name__} needs a key of 1 to 50 characters")
    if not getattr(cls, "display_name", ""):
        raise TypeError(f"{cls.__name__} needs a display_name")
    existing = _registry.get(key)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise TypeError(f"key {key!r} is taken by {existing.__module__}.{existing.__qualname__}")
    try:
        cls.clean_parameters({})
    except InvalidParameters as error:
        raise TypeError(f"{cls.__name__}'s defaults are invalid: {error}") from None
    _registry[key] = cls
    return cls


def get_strategy_class(key: str) -> type[BaseStrategy]:
    try:
        return _registry[key]
    except KeyError:
        raise UnknownStrategy(f"no strategy is registered as {key!r}") from None


def parameter_errors(kind: str, parameters: Any) -> dict[str, str]:
    """The schema's one verdict on `parameters` for the strategy registered as `kind`: messages
    by parameter name (`__all__` for the whole object), empty when they fit. An unregistered
    kind gives none here: the kind's own field reports it."""
    try:
        get_strategy_class(kind).clean_parameters(parameters)
    except UnknownStrategy:
        return {}
    except InvalidParameters as error:
        return error.errors
    return {}


def parameters_as_answered(kind: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Stored parameters as the API answers them: each known decimal parameter as plain text
    of at most the stored places (the published response schema), whether it came as text or number;
    anything else as stored."""
    try:
        declared = get_strategy_class(kind).parameters
    except UnknownStrategy:
        return dict(raw)
    answered = dict(raw)
    for name, value in raw.items():
        param = declared.get(name)
        if param is None or param.type is not ParamType.DECIMAL or isinstance(value, bool):
            continue
        with contextlib.suppress(InvalidOperation, ValueError):
            answered[name] = fixed_trimmed(stored(Decimal(str(value))))
    return answered


def strategy_choices() -> list[tuple[str, str]]:
    """(key, display name) of every registered strategy, for `Strategy.kind`'s choices."""
    return sorted((key, cls.display_name) for key, cls in _registry.items())
