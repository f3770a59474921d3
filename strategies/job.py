"""The strategy job's rules: its name, the strategy a job name is of, and when it fires.

Each rule is written once here, in Python and as a database expression or SQL parameter
built from the same constants, so the ORM, raw SQL and the services cannot drift apart. The
crontab's split into five fields is the scheduling interface's (`project.kernel.scheduling`); this
module gives it to SQL.
"""

from __future__ import annotations

import re

from django.contrib.postgres.fields import ArrayField
from django.db.models import BigIntegerField, Case, F, Func, IntegerField, TextField, Value, When
from django.db.models.functions import Cast, Coalesce, Concat, NullIf

from marketdata.models import TIMEFRAME_DURATIONS
from project.kernel.crontab import CRONTAB_BLANKS, CRONTAB_SEPARATOR
from project.kernel.scheduling import CrontabTrigger, IntervalTrigger, Trigger

JOB_PREFIX = "strategy_"
# A strategy job's name with its strategy id captured. The same text is a Python and a
# PostgreSQL regular expression: SQL gets it as a parameter (`substring(name, %s)::bigint`
# is the strategy id, NULL for any other job; `name ~ %s` tells strategy jobs apart).
JOB_NAME_PATTERN = f"^{re.escape(JOB_PREFIX)}([0-9]+)$"
_JOB_NAME = re.compile(JOB_NAME_PATTERN)


def job_id(strategy_id: int) -> str:
    """The name of the one scheduler job of a strategy: `strategy_42`."""
    return f"{JOB_PREFIX}{strategy_id}"


def strategy_id_of(job_name: str) -> int | None:
    """The strategy whose job this is, None for a system job or any other name."""
    found = _JOB_NAME.fullmatch(job_name)
    return int(found.group(1)) if found else None


def is_strategy_job(job_name: str) -> bool:
    return strategy_id_of(job_name) is not None


def every_seconds(*, interval_seconds: int | None, timeframe: str) -> int:
    """How often an interval job fires: `interval_seconds`, else once per timeframe.

    Zero counts as unset, as in the database expression below.
    """
    if interval_seconds:
        return interval_seconds
    return int(TIMEFRAME_DURATIONS[timeframe].total_seconds())


def job_trigger(
    *, crontab: str, crontab_timezone: str, interval_seconds: int | None, timeframe: str
) -> Trigger:
    """When the job fires: the crontab if one is set, else the interval on the epoch grid."""
    if crontab:
        return CrontabTrigger.parse(crontab, crontab_timezone)
    return IntervalTrigger(every_seconds(interval_seconds=interval_seconds, timeframe=timeframe))


def timeframe_seconds() -> tuple[list[str], list[int]]:
    """Timeframes and their length in seconds, side by side: SQL parameters for `unnest`."""
    names = list(TIMEFRAME_DURATIONS)
    return names, [int(TIMEFRAME_DURATIONS[name].total_seconds()) for name in names]


# Database expressions over Strategy rows, for querysets and for SQL compiled from them.


def job_name_expression() -> Concat:
    """`job_id()` of the row's strategy."""
    return Concat(Value(JOB_PREFIX), Cast(F("id"), TextField()), output_field=TextField())


def strategy_id_expression(field: str) -> Cast:
    """The strategy id in the job name held by `field`, NULL when it names no strategy job."""
    found = Func(F(field), Value(JOB_NAME_PATTERN), function="substring", output_field=TextField())
    return Cast(found, BigIntegerField())


def every_seconds_expression() -> Coalesce:
    """`every_seconds()` of the row: `interval_seconds`, else its timeframe's length."""
    names, seconds = timeframe_seconds()
    per_timeframe = Case(
        *(When(timeframe=name, then=Value(n)) for name, n in zip(names, seconds, strict=True)),
        output_field=IntegerField(),
    )
    return Coalesce(NullIf(F("interval_seconds"), Value(0)), per_timeframe)


def crontab_fields_expression() -> Func:
    """The row's crontab split as `crontab_split()` splits it: a text array."""
    trimmed = Func(F("crontab"), Value(CRONTAB_BLANKS), function="btrim")
    return Func(
        trimmed,
        Value(CRONTAB_SEPARATOR),
        function="regexp_split_to_array",
        output_field=ArrayField(TextField()),
    )


def crontab_text_expression() -> Func:
    """The row's crontab as `crontab_join()` writes it: the fields, one space between them."""
    return Func(
        crontab_fields_expression(),
        Value(" "),
        function="array_to_string",
        output_field=TextField(),
    )
