"""The strategy job's rules agree in Python and in PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection

from marketdata.models import TIMEFRAME_DURATIONS
from project.kernel.crontab import CRONTAB_BLANKS, CRONTAB_SEPARATOR, crontab_join, crontab_split
from project.kernel.scheduling import CrontabTrigger, IntervalTrigger
from strategies import job
from strategies.models import Strategy
from tests.factories import StrategyFactory

NAMES = [
    "strategy_1",
    "strategy_42",
    "strategy_",
    "strategy_4x",
    "strategy_-1",
    "strategy_1\n",
    "xstrategy_1",
    "strategy_1_2",
    "candles_sync",
    "",
]


def test_a_job_name_gives_back_its_strategy_id() -> None:
    assert job.job_id(42) == "strategy_42"
    assert job.strategy_id_of(job.job_id(42)) == 42
    assert job.is_strategy_job("strategy_7")


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("strategy_1", "strategy_42")])
def test_other_names_are_of_no_strategy(name: str) -> None:
    assert job.strategy_id_of(name) is None
    assert not job.is_strategy_job(name)


@pytest.mark.django_db
def test_sql_reads_the_strategy_id_of_a_name_as_python_does() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, substring(name, %s)::bigint FROM unnest(%s::text[]) AS name",
            [job.JOB_NAME_PATTERN, NAMES],
        )
        in_sql = dict(cursor.fetchall())
    assert in_sql == {name: job.strategy_id_of(name) for name in NAMES}
    assert in_sql["strategy_42"] == 42


def test_the_interval_falls_back_to_the_timeframe() -> None:
    assert job.every_seconds(interval_seconds=90, timeframe="1h") == 90
    assert job.every_seconds(interval_seconds=None, timeframe="1h") == 3600
    assert job.every_seconds(interval_seconds=0, timeframe="5m") == 300


def test_a_crontab_overrides_the_interval() -> None:
    cron = job.job_trigger(
        crontab="30 2 * * *", crontab_timezone="UTC", interval_seconds=60, timeframe="1m"
    )
    every = job.job_trigger(
        crontab="", crontab_timezone="UTC", interval_seconds=None, timeframe="15m"
    )
    assert cron == CrontabTrigger.parse("30 2 * * *", "UTC")
    assert every == IntervalTrigger(900)


@pytest.mark.django_db
def test_the_database_times_a_job_as_python_does() -> None:
    for timeframe in TIMEFRAME_DURATIONS:
        StrategyFactory(timeframe=timeframe, interval_seconds=None)
    StrategyFactory(timeframe="1h", interval_seconds=45)
    rows = Strategy.objects.annotate(
        every=job.every_seconds_expression(), job_name=job.job_name_expression()
    )
    for strategy in rows:
        expected = job.every_seconds(
            interval_seconds=strategy.interval_seconds, timeframe=strategy.timeframe
        )
        assert strategy.every == expected
        assert strategy.job_name == strategy.job_id


def test_a_crontab_splits_on_any_run_of_blanks_and_joins_with_one_space() -> None:
    fields = crontab_split("\t*/5  2 *\n* 1-5 ")
    assert fields == ["*/5", "2", "*", "*", "1-5"]
    assert crontab_join(fields) == "*/5 2 * * 1-5"
    assert crontab_split("  ") == []
    assert CrontabTrigger.parse(" 0\t0 * * * ").expression == "0 0 * * *"


@pytest.mark.django_db
def test_the_database_splits_a_crontab_as_python_does() -> None:
    crontabs = ["\t*/5  2 *\n* 1-5 ", "0 0 * * *", "0 0 * *", " 1  2 3 4 5 6 "]
    for crontab in crontabs:
        StrategyFactory(crontab=crontab)
    rows = Strategy.objects.annotate(
        fields=job.crontab_fields_expression(), text=job.crontab_text_expression()
    )
    for strategy in rows:
        assert strategy.fields == crontab_split(strategy.crontab)
        assert strategy.text == crontab_join(crontab_split(strategy.crontab))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT regexp_split_to_array(btrim(%s, %s), %s)",
            ["a\x0bb\x0cc", CRONTAB_BLANKS, CRONTAB_SEPARATOR],
        )
        assert cursor.fetchone()[0] == crontab_split("a\x0bb\x0cc") == ["a", "b", "c"]
