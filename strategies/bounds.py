"""The bounds of what an owner sets on a strategy: how often it runs, how many orders a day.

Model fields carry them, so the admin, the API and the published schema apply the same rule.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.validators import MaxValueValidator, MinValueValidator

# A strategy's own interval: from 10 seconds (the scheduler's tick) to 30 days.
INTERVAL_SECONDS_MIN = 10
INTERVAL_SECONDS_MAX = int(timedelta(days=30).total_seconds())
interval_seconds_validators = [
    MinValueValidator(INTERVAL_SECONDS_MIN),
    MaxValueValidator(INTERVAL_SECONDS_MAX),
]

# Orders a strategy may place per day: a run every 10 s is 8,640.
MAX_ORDERS_PER_DAY = 10_000
orders_per_day_validators = [MaxValueValidator(MAX_ORDERS_PER_DAY)]
