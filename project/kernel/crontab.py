"""A crontab's five fields split and joined, by one rule that Python and PostgreSQL share."""

from __future__ import annotations

import re
from collections.abc import Sequence

# A crontab's five fields, in order, and what separates them: the same text is a Python and a
# PostgreSQL regular expression (and trim set), so SQL splits a crontab as `crontab_split` does.
CRONTAB_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
CRONTAB_BLANKS = " \t\n\r\f\v"
CRONTAB_SEPARATOR = r"[ \t\n\r\f\v]+"


def crontab_split(expression: str) -> list[str]:
    """The fields of a crontab expression, blanks around and between them dropped."""
    trimmed = expression.strip(CRONTAB_BLANKS)
    return re.split(CRONTAB_SEPARATOR, trimmed) if trimmed else []


def crontab_join(fields: Sequence[str]) -> str:
    """A crontab expression from its fields, one space between them."""
    return " ".join(fields)
