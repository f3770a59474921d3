"""A sweep's parameter space: per parameter a set or a range, and the parameter sets drawn from it.

Every value is checked by the kind's own schema (`Param.clean`) and every combination by its
cross-field rules (`BaseStrategy.clean_parameters`): a set the strategy would refuse live is
never swept. Pure: no database.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from strategies.engine import BaseStrategy, Param, ParamType
from strategies.engine.base import parameters_to_json
from strategies.errors import InvalidParameters

MAX_SETS = 20_000  # one sweep's ceiling: more rows than that belongs in an optimiser


class SpaceError(ValueError):
    """A space the kind's schema refuses; `errors` maps each parameter to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


@dataclass(frozen=True)
class Axis:
    """One swept parameter: either `values`, or `low`..`high` (with `step` for a grid)."""

    name: str
    param: Param
    values: tuple[Any, ...] = ()
    low: Any = None
    high: Any = None
    step: Any = None

    @property
    def is_range(self) -> bool:
        return not self.values

    def grid(self) -> tuple[Any, ...]:
        """Every value of the axis: its set, or its range walked by `step`, ends included."""
        if self.values:
            return self.values
        if self.step is None:
            raise SpaceError({self.name: "a range in a grid needs a step"})
        count = int((self.high - self.low) / self.step) + 1
        return tuple(self.param.clean(self.low + self.step * i) for i in range(count))

    def draw(self, rng: random.Random) -> Any:
        """One value at random: from the set, a step of the range, or anywhere in it."""
        if self.values:
            return rng.choice(self.values)
        if self.step is not None:
            return rng.choice(self.grid())
        if self.param.type is ParamType.INTEGER:
            return rng.randint(self.low, self.high)
        fraction = Decimal(rng.randrange(10**6)) / Decimal(10**6)
        return self.param.clean(self.low + (self.high - self.low) * fraction)


def space_parse(kind: type[BaseStrategy], raw: Any) -> list[Axis]:
    """The axes of `raw` ({name: {"values": [...]} or {"min", "max", "step"?}}), each value
    cleaned by the kind's schema; raises SpaceError naming every bad parameter."""
    if not isinstance(raw, Mapping) or not raw:
        raise SpaceError({"__all__": "give at least one parameter to sweep"})
    errors: dict[str, str] = {}
    axes = []
    for name, spec in raw.items():
        param = kind.parameters.get(name)
        if param is None:
            errors[name] = f"unknown parameter (known: {', '.join(sorted(kind.parameters))})"
            continue
        try:
            axes.append(_axis(name, param, spec))
        except ValueError as error:
            errors[name] = str(error)
    if errors:
        raise SpaceError(errors)
    return axes


def _axis(name: str, param: Param, spec: Any) -> Axis:
    if not isinstance(spec, Mapping):
        raise ValueError('give {"values": [...]} or {"min": .., "max": .., "step": ..}')
    if "values" in spec:
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise ValueError("values must be a non-empty list")
        cleaned = tuple(dict.fromkeys(param.clean(value) for value in values))
        return Axis(name, param, values=cleaned)
    if param.type not in (ParamType.INTEGER, ParamType.DECIMAL):
        raise ValueError("only a number can be a range: give values")
    if "min" not in spec or "max" not in spec:
        raise ValueError("a range needs min and max")
    low, high = param.clean(spec["min"]), param.clean(spec["max"])
    if low > high:
        raise ValueError("min must not be above max")
    step = spec.get("step")
    if step is not None:
        step = Param(param.type, default=step, minimum=0).clean(step)
        if not step > 0:
            raise ValueError("step must be above 0")
    return Axis(name, param, low=low, high=high, step=step)


def grid_sets(kind: type[BaseStrategy], axes: list[Axis]) -> Iterator[dict[str, Any]]:
    """Every combination the kind accepts, in grid order; refused ones are left out."""
    size = 1
    for axis in axes:
        size *= len(axis.grid())
    if size > MAX_SETS:
        raise SpaceError({"__all__": f"the grid has {size:,} sets; at most {MAX_SETS:,}"})
    for values in itertools.product(*(axis.grid() for axis in axes)):
        cleaned = _accepted(kind, {a.name: v for a, v in zip(axes, values, strict=True)})
        if cleaned is not None:
            yield cleaned


def random_sets(
    kind: type[BaseStrategy], axes: list[Axis], *, size: int, seed: int
) -> list[dict[str, Any]]:
    """Up to `size` distinct accepted sets drawn with `seed` (the same seed, the same sets)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible draws, not secrets
    found: dict[str, dict[str, Any]] = {}
    for _ in range(size * 20):
        if len(found) == size:
            break
        cleaned = _accepted(kind, {axis.name: axis.draw(rng) for axis in axes})
        if cleaned is not None:
            found.setdefault(set_hash(cleaned), cleaned)
    return list(found.values())


def _accepted(kind: type[BaseStrategy], values: dict[str, Any]) -> dict[str, Any] | None:
    """The set as the kind cleans it, or None when its cross-field rules refuse it."""
    try:
        return kind.clean_parameters(values)
    except InvalidParameters:
        return None


def set_hash(parameters: Mapping[str, Any]) -> str:
    """The identity of a cleaned parameter set: sha256 of its canonical JSON."""
    text = json.dumps(parameters_to_json(parameters), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
