"""TPE sweeps on Optuna's storage in our PostgreSQL, driven by real backtest workers."""

from __future__ import annotations

import io
import signal

import optuna
import pytest
from django.core.management import call_command
from django.db import connection
from optuna.trial import TrialState

from strategies.sweeps.models import Sweep, SweepSet
from strategies.sweeps.optimise import SCHEMA, storage
from strategies.sweeps.services import sweep_create
from tests.factories import MarketFactory, UserFactory
from tests.processes import start_celery_worker, wait_for
from tests.sweeps.helpers import candles_add, closes_path, sweep_data, wait_sweep

pytestmark = pytest.mark.django_db(transaction=True)

SPACE = {"fast": {"min": 2, "max": 20}, "slow": {"min": 10, "max": 80}}


def completed(sweep: Sweep) -> dict[int, float]:
    study = optuna.load_study(study_name=sweep.study_name, storage=storage())
    return {t.number: t.value for t in study.get_trials(states=(TrialState.COMPLETE,))}


def test_the_migration_made_optunas_tables_in_their_own_schema_of_our_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [SCHEMA]
        )
        tables = {row[0] for row in cursor.fetchall()}

    assert {"studies", "trials", "trial_values", "trial_params", "alembic_version"} <= tables
    assert "postgresql" in storage().engine.url.drivername


@pytest.mark.integration
def test_a_study_stopped_with_every_process_resumes_with_no_completed_trial_lost() -> None:
    market = MarketFactory()
    candles_add(market, closes_path(1500))
    data = sweep_data(market, hours=1500, space=SPACE, search=Sweep.Search.TPE, size=24)
    worker = start_celery_worker(concurrency=2, queues="backtests")
    try:
        sweep = sweep_create(owner=UserFactory(), data=data)
        wait_for(lambda: len(completed(sweep)) >= 6, 240, "six completed trials")
        worker.kill(signal.SIGKILL)  # every worker process; the study is in PostgreSQL
        worker.process.wait(10)
        before = completed(sweep)
        worker = start_celery_worker(concurrency=2, queues="backtests")
        call_command("sweeps_resume", stdout=io.StringIO())
        wait_sweep(sweep.pk, timeout=400)
    finally:
        worker.stop()

    after = completed(sweep)
    assert len(before) < sweep.size
    assert {n: after.get(n) for n in before} == before  # trials_lost: 0
    study = optuna.load_study(study_name=sweep.study_name, storage=storage())
    trials = study.get_trials()
    assert sum(t.state.is_finished() for t in trials) >= sweep.size
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    rows = SweepSet.objects.filter(sweep=sweep)
    assert sorted(set(rows.values_list("evaluations", flat=True))) == [1]
    assert study.best_value == max(rows.filter(ranked=True).values_list("value", flat=True))
