"""The strategy base class, its parameter schema, the candles it reads and the signal it returns."""

from __future__ import annotations

import abc
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from project.kernel.decimals import fixed
from strategies.errors import InvalidParameters

# A decimal written as text: plain digits, no exponent (so no 1e400).
DECIMAL_TEXT = r"^-?\d{1,18}(\.\d{1,12})?$"
DECIMAL_LIMIT = Decimal(10) ** 18


class ParamType(enum.StrEnum):
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    STRING = "string"


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default and inclusive bounds (numbers only)."""

    type: ParamType
    default: Any
    minimum: Decimal | int | None = None
    maximum: Decimal | int | None = None
    help: str = ""

    def clean(self, value: Any) -> Any:
        """The value as its Python type; raises ValueError with a message for the user."""
        if self.type is ParamType.BOOLEAN:
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
            return value
        if self.type is ParamType.STRING:
            if not isinstance(value, str):
                raise ValueError("must be text")
            return value
        if self.type is ParamType.INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("must be a whole number")
            number: int | Decimal = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
                raise ValueError("must be a number")
            if isinstance(value, str) and not re.fullmatch(DECIMAL_TEXT, value):
                raise ValueError("must be a number")  # in plain digits: no 1e400
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                raise ValueError("must be a number") from None
            if not number.is_finite():
                raise ValueError("must be a finite number")
            if abs(number) >= DECIMAL_LIMIT:
                # A JSON number skips DECIMAL_TEXT's check: the same bound, for every input.
                raise ValueError("must have at most 18 digits before the decimal point")
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"must be at least {fixed(self.minimum)}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"must be at most {fixed(self.maximum)}")
        return number

    def json_schema(self, direction: str = "request") -> dict[str, Any]:
        """The parameter as a JSON schema (OpenAPI 3.0). A decimal is sent as a number or as
        text, and comes back as text (see parameters_to_json): nothing is rounded."""
        types = {"integer": "integer", "decimal": "number", "boolean": "boolean"}
        schema: dict[str, Any] = {"type": types.get(self.type.value, "string")}
        if self.type is ParamType.DECIMAL:
            text = {"type": "string", "format": "decimal", "pattern": DECIMAL_TEXT}
            if direction == "response":
                return text
        for key in ("minimum", "maximum"):
            bound = getattr(self, key)
            if bound is not None and self.type in (ParamType.INTEGER, ParamType.DECIMAL):
                schema[key] = int(bound) if self.type is ParamType.INTEGER else float(bound)
        if self.type is ParamType.DECIMAL:
            return {"oneOf": [schema, text]}
        return schema

    def describe(self) -> dict[str, Any]:
        """The schema entry as JSON values, for forms and the API."""
        return {
            "type": self.type.value,
            "default": _jsonable(self.default),
            "minimum": _jsonable(self.minimum),
            "maximum": _jsonable(self.maximum),
            "help": self.help,
        }


class Action(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"


@dataclass(frozen=True)
class Signal:
    """What a strategy wants this tick.

    A buy or sell may say how much: `amount` in the base asset, or (buys only) `quote_amount`
    to spend. A sell with neither closes the whole position; a buy must say one of them.
    """

    action: Action
    amount: Decimal | None = None
    quote_amount: Decimal | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.action, Action):
            raise ValueError(f"unknown action {self.action!r}: use buy, sell or hold")
        if self.amount is not None and self.quote_amount is not None:
            raise ValueError("give amount or quote_amount, not both")
        for name in ("amount", "quote_amount"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, Decimal) or not value > 0):
                raise ValueError(f"{name} must be a positive Decimal, got {value!r}")
        if self.action is Action.HOLD and (self.amount or self.quote_amount):
            raise ValueError("a hold carries no amount")
        if self.action is Action.SELL and self.quote_amount is not None:
            raise ValueError("a sell gives its amount in the base asset")
        if self.action is Action.BUY and self.amount is None and self.quote_amount is None:
            raise ValueError("a buy must give amount or quote_amount")

    @classmethod
    def hold(cls) -> Signal:
        return cls(Action.HOLD)


@dataclass(frozen=True)
class Bar:
    """One closed candle, as strategies see it (prices as Decimal)."""

    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class BaseStrategy(abc.ABC):
    """A trading strategy: from the latest closed candles to one signal per tick.

    Subclass it, set the class attributes, implement `decide`, and decorate the class with
    `@register`; the strategy's `key` is what `Strategy.kind` stores. The engine validates the
    parameters against `parameters` before it builds the instance (`self.params` holds every
    parameter, defaults filled in, as its Python type), hands `decide` at least
    `candles_required()` closed candles, oldest first, and turns any exception raised here into
    a failed run. `decide` must not touch the database or the network: the engine places orders.
    """

    key: ClassVar[str]
    display_name: ClassVar[str]
    parameters: ClassVar[Mapping[str, Param]] = {}

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params: dict[str, Any] = dict(params)

    @classmethod
    def clean_parameters(cls, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Every parameter as its Python type; raises InvalidParameters naming each bad field."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise InvalidParameters({"__all__": "parameters must be a JSON object"})
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name in raw:
            if name not in cls.parameters:
                known = ", ".join(sorted(cls.parameters)) or "none"
                errors[name] = f"unknown parameter (known: {known})"
        for name, param in cls.parameters.items():
            try:
                values[name] = param.clean(raw.get(name, param.default))
            except ValueError as error:
                errors[name] = str(error)
        if not errors:
            errors = cls.check(values)
        if errors:
            raise InvalidParameters(errors)
        return values

    @classmethod
    def check(cls, values: dict[str, Any]) -> dict[str, str]:
        """Rules across parameters (each value already valid alone); field name -> message."""
        return {}

    @classmethod
    def schema(cls) -> dict[str, dict[str, Any]]:
        return {name: param.describe() for name, param in cls.parameters.items()}

    def candles_required(self) -> int:
        """How many closed candles `decide` needs (one unless overridden); may depend on the
        parameters."""
        return 1

    @abc.abstractmethod
    def decide(self, candles: Sequence[Bar]) -> Signal:
        """The signal for this tick from the newest closed candles (oldest first)."""


def parameters_to_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """Cleaned parameters as JSON values (decimals as strings, so nothing is rounded)."""
    return {name: _jsonable(value) for name, value in values.items()}


def _jsonable(value: Any) -> Any:
    return fixed(value) if isinstance(value, Decimal) else value
