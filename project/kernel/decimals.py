"""Decimal places and steps: the grids of ccxt's precision modes, stored places, fixed-point text.

One home for every decimal rule: ccxt's precision modes as grids (`Step`,
`SignificantDigits`), the places the database keeps, and numbers as people write them
("0.00000001", never "1E-8"). Pure Python: no Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import IntEnum
from typing import Any

# The places every money and amount column keeps (DecimalField(max_digits=30,
# decimal_places=12)): storage, not a rule for computing. Orders follow their market's rules.
STORED_PLACES = 12
STORED_DIGITS = 30
STORED_STEP = Decimal(1).scaleb(-STORED_PLACES)


class PrecisionMode(IntEnum):
    """ccxt's counting modes (ccxt.base.decimal_to_precision); each exchange has one."""

    DECIMAL_PLACES = 2
    SIGNIFICANT_DIGITS = 3
    TICK_SIZE = 4


@dataclass(frozen=True, slots=True)
class Step:
    """A precision that is a grid: ccxt's tick size, or N decimal places as the tick 10**-N."""

    size: Decimal
    decade: bool  # a power of ten: quantize, no division
    # The decimal places a number on this grid needs (0 for a step of 1 or more): counted once
    # here, not for every number shown.
    places: int = field(compare=False, repr=False)

    # The rounding mode is passed by position: C's argument parsing of a keyword costs as
    # much as the quantize itself, and every order (live, paper, backtest) rounds five times.

    @classmethod
    def of(cls, size: Decimal) -> Step:
        if not size > 0:
            raise ValueError(f"a precision step must be positive, got {size}")
        power = Decimal(1).scaleb(size.adjusted())
        places = max(0, -size.normalize().as_tuple().exponent)
        return cls(power, True, places) if size == power else cls(size, False, places)

    def truncate(self, value: Decimal) -> Decimal:
        """Down to the grid, towards zero (ccxt TRUNCATE)."""
        if self.decade:
            return value.quantize(self.size, ROUND_DOWN)
        return (value / self.size).to_integral_value(ROUND_DOWN) * self.size

    def round(self, value: Decimal) -> Decimal:
        """To the nearest point of the grid, a tie away from zero (ccxt ROUND)."""
        if self.decade:
            return value.quantize(self.size, ROUND_HALF_UP)
        return (value / self.size).to_integral_value(ROUND_HALF_UP) * self.size

    def __str__(self) -> str:
        return fixed_trimmed(self.size)


@dataclass(frozen=True, slots=True)
class SignificantDigits:
    """ccxt's SIGNIFICANT_DIGITS mode: so many significant digits, whatever the magnitude."""

    digits: int

    def truncate(self, value: Decimal) -> Decimal:
        return value.quantize(self._unit(value), ROUND_DOWN) if value else value

    def round(self, value: Decimal) -> Decimal:
        return value.quantize(self._unit(value), ROUND_HALF_UP) if value else value

    def _unit(self, value: Decimal) -> Decimal:
        return Decimal(1).scaleb(value.adjusted() - self.digits + 1)

    def __str__(self) -> str:
        return f"{self.digits} significant digits"


Precision = Step | SignificantDigits


def precision_of(stated: Any, mode: int) -> Precision:
    """A precision as ccxt states it in a market (`precision["amount"]` etc.) in `mode`.

    None (not stated) is the stored places: nothing is cut that the database would keep.
    """
    if stated is None:
        return Step.of(STORED_STEP)
    if PrecisionMode(mode) is PrecisionMode.TICK_SIZE:
        return Step.of(Decimal(str(stated)))
    places = int(Decimal(str(stated)))
    if mode == PrecisionMode.DECIMAL_PLACES:
        return Step.of(Decimal(1).scaleb(-places))
    return SignificantDigits(places)


def fixed(value: Decimal | int | float | str) -> str:
    """A number as fixed-point text with the places it carries: 0.00000001 (never 1E-8), 0.50."""
    return format(value if isinstance(value, Decimal) else Decimal(str(value)), "f")


def fixed_trimmed(value: Decimal | int | float | str) -> str:
    """Fixed-point text without trailing zeros: 57527.66, 0.00000001, 100."""
    text = fixed(value)
    return text.rstrip("0").rstrip(".") if "." in text else text


def fixed_to(value: Decimal, precision: Precision) -> str:
    """A decimal as fixed-point text with the places of `precision`: 0.10 USD, 59755.40.

    Without a stated precision (the stored places) it is trimmed: 200, not 200.000000000000.
    """
    if isinstance(precision, Step) and precision.places < STORED_PLACES:
        return format(precision.round(value), f".{precision.places}f")
    return fixed_trimmed(precision.round(value))
